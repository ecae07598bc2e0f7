//! Call scripts: the graph a conversation walks, read from a TOML file (one file per script;
//! `examples/insurance/script.toml` is the documented full example).
//!
//! A script has prompts (a recorded WAV and/or a text template with `{placeholders}`), nodes
//! that say prompts and then listen, branch or act, global handlers that apply on every node
//! unless the node handles the intent itself, DTMF bindings and a fallback Q&A corpus.
//! [`Script::load`] parses and resolves a file and refuses it — with every problem, each with
//! its file and line — when a branch dangles, a node is unreachable, a placeholder is unknown,
//! an audio file is missing or an intent is not in the label set. Pure apart from reading the
//! file and checking that audio files exist; depends on [`crate::nlu`] for the label set.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::asr::Language;
use crate::nlu::context::NodeMeaning;
use crate::nlu::question;
use crate::nlu::sentiment::Polarity;
use crate::nlu::Intent;
pub use crate::outcome::Disposition;

/// When the callee's speech may stop a prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BargeMode {
    /// Never: the prompt always plays to its end (speech is handled afterwards).
    Off,
    /// As soon as the media engine detects speech (after the VAD's start run).
    Speech,
    /// Only once the reply is transcribed and is not a backchannel, noise or our own echo.
    Intent,
}

impl BargeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BargeMode::Off => "off",
            BargeMode::Speech => "speech",
            BargeMode::Intent => "intent",
        }
    }
}

/// What the script does when the callee reaches voicemail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VoicemailPolicy {
    /// Go to the `voicemail` handler node (which says the message and hangs up).
    #[default]
    LeaveMessage,
    /// Hang up at once with disposition `voicemail`.
    HangUp,
}

/// Slots a `when` rule can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotName {
    Callback,
    Amount,
}

// ---------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    script: HeaderDef,
    #[serde(default)]
    prompts: BTreeMap<String, PromptDef>,
    #[serde(default)]
    handlers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    dtmf: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    nodes: BTreeMap<String, NodeDef>,
    #[serde(default)]
    qa: Vec<QaDef>,
}

fn default_no_input_ms() -> u64 {
    6000
}
fn default_retries() -> u32 {
    2
}
fn default_max_call_s() -> u64 {
    300
}
fn default_negative() -> f32 {
    -0.6
}
fn default_qa_threshold() -> f32 {
    0.45
}
fn default_barge() -> BargeMode {
    BargeMode::Speech
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderDef {
    name: String,
    #[serde(default)]
    language: Language,
    start: Spanned<String>,
    /// Folder of the prompts' audio files, relative to the script file.
    #[serde(default)]
    prompts_dir: Option<String>,
    /// Contact fields the templates may use (besides the built-in placeholders).
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    voicemail: VoicemailPolicy,
    #[serde(default = "default_barge")]
    barge_in: BargeMode,
    #[serde(default = "default_no_input_ms")]
    no_input_ms: u64,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default = "default_max_call_s")]
    max_call_s: u64,
    /// Sentiment score at or below which the `negative_sentiment` handler applies.
    #[serde(default = "default_negative")]
    negative_sentiment: f32,
    /// Q&A retrieval score (0..1) a question must reach to be answered.
    #[serde(default = "default_qa_threshold")]
    qa_threshold: f32,
    /// Prompt played before re-asking when the callee said nothing.
    #[serde(default)]
    no_input_prompt: Option<Spanned<String>>,
    /// Prompt played when a reply was not understood.
    #[serde(default)]
    no_match_prompt: Option<Spanned<String>>,
    /// Prompt played before repeating (the `repeat` intent).
    #[serde(default)]
    repeat_prompt: Option<Spanned<String>>,
    /// Where to go when no-input / no-match retries run out, on a recogniser failure, and at
    /// the maximum call length.
    on_no_input: Spanned<String>,
    on_no_match: Spanned<String>,
    on_error: Spanned<String>,
    #[serde(default)]
    on_timeout: Option<Spanned<String>>,
    /// Hot words for the recogniser (product names).
    #[serde(default)]
    hot_words: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromptDef {
    #[serde(default)]
    audio: Option<Spanned<String>>,
    #[serde(default)]
    text: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NodeDef {
    #[serde(default)]
    say: Vec<Spanned<String>>,
    #[serde(default)]
    barge_in: Option<BargeMode>,
    /// A legally required disclosure: never interrupted, whatever `barge_in` says.
    #[serde(default)]
    disclosure: bool,
    #[serde(default)]
    listen: Option<bool>,
    #[serde(default)]
    on: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    when: Vec<WhenDef>,
    /// What a "yes" to this node's question means (`confirms = "dnc_request"`).
    #[serde(default)]
    confirms: Option<Spanned<String>>,
    /// What a "no" to it means (`denies = "repeat"` after "did you hear me").
    #[serde(default)]
    denies: Option<Spanned<String>>,
    /// The intents its question expects: a prior for close calls of the intent model.
    #[serde(default)]
    expects: Vec<Spanned<String>>,
    #[serde(default)]
    next: Option<Spanned<String>>,
    #[serde(default)]
    no_input: Option<Spanned<String>>,
    #[serde(default)]
    no_match: Option<Spanned<String>>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    no_input_ms: Option<u64>,
    #[serde(default)]
    action: Option<ActionDef>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenDef {
    #[serde(default)]
    intent: Vec<Spanned<String>>,
    #[serde(default)]
    keyword: Vec<String>,
    #[serde(default)]
    slot: Option<SlotName>,
    #[serde(default)]
    sentiment: Option<String>,
    goto: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionDef {
    #[serde(default)]
    hangup: Option<Disposition>,
    #[serde(default)]
    transfer: Option<String>,
    #[serde(default)]
    skills: Vec<String>,
    /// Put the number on the do-not-call list.
    #[serde(default)]
    dnc: bool,
    /// Schedule a callback at the time the callee gave (or in two hours).
    #[serde(default)]
    callback: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QaDef {
    questions: Vec<String>,
    answer: Spanned<String>,
}

// ---------------------------------------------------------------------------------------
// The resolved script.

/// Where a branch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Node(usize),
    /// Say the `repeat` prompt and the current node's prompts again, then listen.
    Repeat,
    /// Back to the node a handler interrupted: its last prompt again, then listen.
    Resume,
}

/// A prompt: recorded audio, a text template, or both (the text is then what the transcript
/// shows, and TTS renders it only when the audio is missing).
#[derive(Clone, Debug, PartialEq)]
pub struct PromptSpec {
    pub key: String,
    pub audio: Option<PathBuf>,
    pub text: Option<String>,
    /// `{placeholders}` in the text.
    pub placeholders: Vec<String>,
}

/// A `when` rule: every condition given must hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub intents: Vec<Intent>,
    pub keywords: Vec<String>,
    pub slot: Option<SlotName>,
    pub sentiment: Option<Polarity>,
    pub goto: Target,
}

/// What a node does after its prompts when it does not listen.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Hangup {
        disposition: Disposition,
        dnc: bool,
        callback: bool,
    },
    Transfer {
        queue: String,
        skills: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub line: usize,
    /// Indexes into [`Script::prompts`].
    pub say: Vec<usize>,
    pub barge_in: BargeMode,
    pub disclosure: bool,
    pub listen: bool,
    pub on: HashMap<Intent, Target>,
    pub when: Vec<Rule>,
    /// What a yes or no means here and which intents the question expects.
    pub meaning: NodeMeaning,
    pub next: Option<Target>,
    pub no_input: Target,
    pub no_match: Target,
    pub retries: u32,
    pub no_input_ms: u64,
    pub action: Option<Action>,
    pub tags: Vec<String>,
}

/// An entry of the fallback Q&A corpus.
#[derive(Clone, Debug, PartialEq)]
pub struct Qa {
    pub questions: Vec<String>,
    pub answer: usize,
}

/// Global handlers (apply on every node that does not handle the intent itself).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Handlers {
    pub intents: HashMap<Intent, Target>,
    pub negative_sentiment: Option<Target>,
}

/// A validated, resolved script.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub name: String,
    pub path: PathBuf,
    pub language: Language,
    /// The script's default silence before no input (`[script] no_input_ms`); nodes that
    /// set none use it.
    pub no_input_ms: u64,
    pub start: usize,
    pub nodes: Vec<Node>,
    pub prompts: Vec<PromptSpec>,
    pub handlers: Handlers,
    pub dtmf: HashMap<char, Target>,
    pub qa: Vec<Qa>,
    pub voicemail: VoicemailPolicy,
    pub max_call_ms: u64,
    pub negative_sentiment: f32,
    pub qa_threshold: f32,
    pub no_input_prompt: Option<usize>,
    pub no_match_prompt: Option<usize>,
    pub repeat_prompt: Option<usize>,
    pub on_error: Target,
    pub on_timeout: Option<Target>,
    pub fields: Vec<String>,
    pub hot_words: Vec<String>,
}

/// Placeholders every template may use besides the script's `fields`.
pub const BUILTIN_PLACEHOLDERS: &[&str] = &["callback_time", "amount", "agent_queue", "campaign"];

/// How bad a finding is: errors refuse the script, warnings are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding of validation, located in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub line: usize,
    pub message: String,
}

/// A script file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot read script {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_findings(path, findings))]
    Invalid {
        path: PathBuf,
        findings: Vec<Finding>,
    },
}

fn render_findings(path: &Path, findings: &[Finding]) -> String {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let mut s = format!(
        "script {} has {errors} error{}:",
        path.display(),
        if errors == 1 { "" } else { "s" }
    );
    for f in findings {
        let _ = write!(
            s,
            "\n  {}:{}: {}: {}",
            path.display(),
            f.line,
            match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            f.message
        );
    }
    s
}

/// Line (1-based) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Line of a table header such as `[nodes.greeting]` (or of `greeting` under `[nodes]`).
fn header_line(text: &str, table: &str, key: &str) -> usize {
    let forms = [
        format!("[{table}.{key}]"),
        format!("[{table}.\"{key}\"]"),
        format!("[[{table}.{key}"),
    ];
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if forms.iter().any(|f| t.starts_with(f.as_str())) {
            return i + 1;
        }
    }
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with(key) && t[key.len()..].trim_start().starts_with('=') {
            return i + 1;
        }
    }
    1
}

/// `{name}` placeholders of a template.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = after[..close].trim();
                if !name.is_empty() && !out.iter().any(|n| n == name) {
                    out.push(name.to_owned());
                }
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

/// Fills `{placeholders}` from `values`; unknown ones are left as they are.
pub fn render_template(text: &str, values: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = after[..close].trim();
                match values.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(&after[..=close]);
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

struct Resolver<'a> {
    text: &'a str,
    findings: Vec<Finding>,
    node_index: HashMap<&'a str, usize>,
    prompt_index: HashMap<&'a str, usize>,
}

impl<'a> Resolver<'a> {
    fn error(&mut self, line: usize, message: String) {
        self.findings.push(Finding {
            severity: Severity::Error,
            line,
            message,
        });
    }

    fn warn(&mut self, line: usize, message: String) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            line,
            message,
        });
    }

    fn line(&self, s: &Spanned<String>) -> usize {
        line_of(self.text, s.span().start)
    }

    fn target(&mut self, s: &Spanned<String>, what: &str) -> Option<Target> {
        let name = s.get_ref().trim();
        match name {
            "@repeat" => Some(Target::Repeat),
            "@resume" => Some(Target::Resume),
            _ => match self.node_index.get(name) {
                Some(&i) => Some(Target::Node(i)),
                None => {
                    let line = self.line(s);
                    let hint = closest(name, self.node_index.keys().copied())
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default();
                    self.error(
                        line,
                        format!(
                            "{what} goes to `{name}`, which is not a node{hint}; define \
                             [nodes.{name}] or use @repeat / @resume"
                        ),
                    );
                    None
                }
            },
        }
    }

    fn prompt(&mut self, s: &Spanned<String>, what: &str) -> Option<usize> {
        let name = s.get_ref().trim();
        match self.prompt_index.get(name) {
            Some(&i) => Some(i),
            None => {
                let line = self.line(s);
                self.error(
                    line,
                    format!("{what} uses prompt `{name}`, which is not in [prompts]"),
                );
                None
            }
        }
    }

    fn intent(&mut self, name: &str, line: usize, what: &str) -> Option<Intent> {
        match name.parse::<Intent>() {
            Ok(i) => Some(i),
            Err(_) => {
                let labels: Vec<&str> = Intent::ALL.iter().map(|i| i.as_str()).collect();
                let hint = closest(name, labels.iter().copied())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                self.error(
                    line,
                    format!(
                        "{what}: `{name}` is not an intent label{hint}; labels are {}",
                        labels.join(", ")
                    ),
                );
                None
            }
        }
    }
}

/// The closest name by edit distance, when close enough to be a typo.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let sub = prev[j] + usize::from(ca != *cb);
                cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    candidates
        .map(|c| (dist(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.chars().count() / 4))
        .min()
        .map(|(_, c)| c)
}

impl Script {
    /// Reads, resolves and validates a script file; audio paths are relative to its folder.
    pub fn load(path: &Path) -> Result<Script, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Script::parse(&text, path, base)
    }

    /// [`Script::load`] on text (warnings are kept in [`Script::check`]).
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Script, ScriptError> {
        let (script, findings) = Script::check(text, path, base);
        match script {
            Some(s) if !findings.iter().any(|f| f.severity == Severity::Error) => Ok(s),
            _ => Err(ScriptError::Invalid {
                path: path.to_owned(),
                findings,
            }),
        }
    }

    /// Resolves a script and returns every finding; `None` when errors prevent resolving.
    pub fn check(text: &str, path: &Path, base: &Path) -> (Option<Script>, Vec<Finding>) {
        let def: FileDef = match toml::from_str(text) {
            Ok(d) => d,
            Err(e) => {
                let line = e.span().map_or(1, |s| line_of(text, s.start));
                return (
                    None,
                    vec![Finding {
                        severity: Severity::Error,
                        line,
                        message: e.message().to_owned(),
                    }],
                );
            }
        };
        let mut r = Resolver {
            text,
            findings: Vec::new(),
            node_index: def
                .nodes
                .keys()
                .enumerate()
                .map(|(i, k)| (k.as_str(), i))
                .collect(),
            prompt_index: def
                .prompts
                .keys()
                .enumerate()
                .map(|(i, k)| (k.as_str(), i))
                .collect(),
        };
        let h = &def.script;
        let prompts_dir = base.join(h.prompts_dir.as_deref().unwrap_or("."));
        let known: BTreeSet<&str> = h
            .fields
            .iter()
            .map(String::as_str)
            .chain(BUILTIN_PLACEHOLDERS.iter().copied())
            .collect();

        // Prompts.
        let mut prompts = Vec::new();
        for (key, p) in &def.prompts {
            let line = header_line(text, "prompts", key);
            if p.audio.is_none() && p.text.is_none() {
                r.error(
                    line,
                    format!("prompt `{key}` has neither `audio` nor `text`"),
                );
            }
            let audio = p.audio.as_ref().map(|a| {
                let path = prompts_dir.join(a.get_ref());
                if !path.is_file() {
                    let l = r.line(a);
                    r.error(
                        l,
                        format!(
                            "prompt `{key}`: audio file {} does not exist (paths are relative \
                             to the script's prompts_dir)",
                            path.display()
                        ),
                    );
                }
                path
            });
            let placeholders = p.text.as_ref().map_or_else(Vec::new, |t| {
                let names = placeholders(t.get_ref());
                for n in &names {
                    if !known.contains(n.as_str()) {
                        let l = r.line(t);
                        r.error(
                            l,
                            format!(
                                "prompt `{key}`: unknown placeholder {{{n}}}; declare it in \
                                 [script] fields or use one of {}",
                                BUILTIN_PLACEHOLDERS.join(", ")
                            ),
                        );
                    }
                }
                names
            });
            if audio.is_none() && !placeholders.is_empty() {
                // Fine: rendered by TTS per call.
            }
            prompts.push(PromptSpec {
                key: key.clone(),
                audio,
                text: p.text.as_ref().map(|t| t.get_ref().clone()),
                placeholders,
            });
        }
        let opt_prompt = |r: &mut Resolver, p: &Option<Spanned<String>>, what: &str| {
            p.as_ref().and_then(|p| r.prompt(p, what))
        };
        let no_input_prompt = opt_prompt(&mut r, &h.no_input_prompt, "[script] no_input_prompt");
        let no_match_prompt = opt_prompt(&mut r, &h.no_match_prompt, "[script] no_match_prompt");
        let repeat_prompt = opt_prompt(&mut r, &h.repeat_prompt, "[script] repeat_prompt");
        let start = r.target(&h.start, "[script] start");
        let on_no_input = r.target(&h.on_no_input, "[script] on_no_input");
        let on_no_match = r.target(&h.on_no_match, "[script] on_no_match");
        let on_error = r.target(&h.on_error, "[script] on_error");
        let on_timeout = h
            .on_timeout
            .as_ref()
            .and_then(|t| r.target(t, "[script] on_timeout"));
        if matches!(start, Some(Target::Repeat | Target::Resume)) {
            let l = r.line(&h.start);
            r.error(l, "[script] start must be a node".into());
        }

        // Handlers.
        let mut handlers = Handlers::default();
        for (name, target) in &def.handlers {
            let line = r.line(target);
            let what = format!("handler `{name}`");
            let t = r.target(target, &what);
            if name == "negative_sentiment" {
                handlers.negative_sentiment = t;
                continue;
            }
            if let (Some(intent), Some(t)) = (r.intent(name, line, "[handlers]"), t) {
                handlers.intents.insert(intent, t);
            }
        }
        let mut dtmf = HashMap::new();
        for (digit, target) in &def.dtmf {
            let line = r.line(target);
            let mut chars = digit.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') => {
                    if let Some(t) = r.target(target, &format!("dtmf `{digit}`")) {
                        dtmf.insert(c, t);
                    }
                }
                _ => r.error(
                    line,
                    format!("[dtmf] key `{digit}` is not one DTMF digit (0-9, *, #, A-D)"),
                ),
            }
        }

        // Nodes.
        let mut nodes = Vec::new();
        for (name, n) in &def.nodes {
            let line = header_line(text, "nodes", name);
            let what = format!("node `{name}`");
            let say: Vec<usize> = n.say.iter().filter_map(|p| r.prompt(p, &what)).collect();
            let mut on = HashMap::new();
            for (intent, target) in &n.on {
                let l = r.line(target);
                let i = r.intent(intent, l, &format!("{what} `on`"));
                let t = r.target(target, &format!("{what} on `{intent}`"));
                if let (Some(i), Some(t)) = (i, t) {
                    on.insert(i, t);
                }
            }
            let mut when = Vec::new();
            for w in &n.when {
                let l = r.line(&w.goto);
                let intents: Vec<Intent> = w
                    .intent
                    .iter()
                    .filter_map(|i| {
                        let l = r.line(i);
                        r.intent(i.get_ref(), l, &format!("{what} `when`"))
                    })
                    .collect();
                let sentiment = match w.sentiment.as_deref() {
                    None => None,
                    Some("negative") => Some(Polarity::Negative),
                    Some("neutral") => Some(Polarity::Neutral),
                    Some("positive") => Some(Polarity::Positive),
                    Some(other) => {
                        r.error(
                            l,
                            format!(
                                "{what}: sentiment `{other}` must be negative, neutral or positive"
                            ),
                        );
                        None
                    }
                };
                if w.intent.is_empty()
                    && w.keyword.is_empty()
                    && w.slot.is_none()
                    && w.sentiment.is_none()
                {
                    r.error(
                        l,
                        format!("{what}: a `when` rule needs intent, keyword, slot or sentiment"),
                    );
                }
                if let Some(goto) = r.target(&w.goto, &format!("{what} `when`")) {
                    when.push(Rule {
                        intents,
                        keywords: w.keyword.clone(),
                        slot: w.slot,
                        sentiment,
                        goto,
                    });
                }
            }
            let mut meaning_of = |d: &Option<Spanned<String>>, key: &str| {
                d.as_ref().and_then(|i| {
                    let l = r.line(i);
                    r.intent(i.get_ref().trim(), l, &format!("{what} `{key}`"))
                })
            };
            let meaning = NodeMeaning {
                affirm: meaning_of(&n.confirms, "confirms"),
                deny: meaning_of(&n.denies, "denies"),
                expects: n
                    .expects
                    .iter()
                    .filter_map(|i| {
                        let l = r.line(i);
                        r.intent(i.get_ref().trim(), l, &format!("{what} `expects`"))
                    })
                    .collect(),
            };
            let next = n
                .next
                .as_ref()
                .and_then(|t| r.target(t, &format!("{what} next")));
            let no_input = match &n.no_input {
                Some(t) => r.target(t, &format!("{what} no_input")),
                None => on_no_input,
            };
            let no_match = match &n.no_match {
                Some(t) => r.target(t, &format!("{what} no_match")),
                None => on_no_match,
            };
            let action = n.action.as_ref().and_then(|a| match (&a.hangup, &a.transfer) {
                (Some(d), None) if !d.is_conversation() => {
                    let names: Vec<&str> = Disposition::ALL
                        .iter()
                        .filter(|d| d.is_conversation())
                        .map(|d| d.as_str())
                        .collect();
                    r.error(
                        line,
                        format!(
                            "{what}: `{d}` is decided by the network or the dialer, not by a                              script; a script ends a call with one of: {}",
                            names.join(", ")
                        ),
                    );
                    None
                }
                (Some(d), None) => Some(Action::Hangup {
                    disposition: *d,
                    dnc: a.dnc,
                    callback: a.callback,
                }),
                (None, Some(q)) => Some(Action::Transfer {
                    queue: q.clone(),
                    skills: a.skills.clone(),
                }),
                (Some(_), Some(_)) => {
                    r.error(
                        line,
                        format!("{what}: an action either hangs up or transfers, not both"),
                    );
                    None
                }
                (None, None) => {
                    r.error(
                        line,
                        format!("{what}: `action` needs `hangup = \"<disposition>\"` or `transfer = \"<queue>\"`"),
                    );
                    None
                }
            });
            let listen = n.listen.unwrap_or(action.is_none() && next.is_none());
            if action.is_some() && (listen || next.is_some()) {
                r.error(
                    line,
                    format!("{what}: a node with an action ends the call; drop `listen`/`next`"),
                );
            }
            if action.is_none() && !listen && next.is_none() {
                r.error(
                    line,
                    format!(
                        "{what} says its prompts and then has nowhere to go: give it `next`, \
                         `listen = true` or an `action`"
                    ),
                );
            }
            if say.is_empty() && n.say.is_empty() && action.is_none() && next.is_some() {
                r.warn(line, format!("{what} says nothing and only jumps"));
            }
            // What the node leaves unsaid is read from its question (the last prompt it says).
            let meaning = match say.last().and_then(|&i| prompts[i].text.as_deref()) {
                Some(question) if listen => meaning.or(question::meaning(question)),
                _ => meaning,
            };
            if !listen && !meaning.is_empty() {
                r.warn(
                    line,
                    format!(
                        "{what} does not listen: its `confirms`, `denies` and `expects` never \
                         apply"
                    ),
                );
            }
            if listen && on.is_empty() && when.is_empty() {
                r.warn(
                    line,
                    format!(
                        "{what} listens but has no branches: only global handlers and Q&A apply"
                    ),
                );
            }
            let barge_in = if n.disclosure {
                if matches!(n.barge_in, Some(BargeMode::Speech | BargeMode::Intent)) {
                    r.warn(
                        line,
                        format!("{what} is a disclosure: barge-in is forced off"),
                    );
                }
                BargeMode::Off
            } else {
                n.barge_in.unwrap_or(h.barge_in)
            };
            nodes.push(Node {
                name: name.clone(),
                line,
                say,
                barge_in,
                disclosure: n.disclosure,
                listen,
                on,
                when,
                meaning,
                next,
                no_input: no_input.unwrap_or(Target::Repeat),
                no_match: no_match.unwrap_or(Target::Repeat),
                retries: n.retries.unwrap_or(h.retries),
                no_input_ms: n.no_input_ms.unwrap_or(h.no_input_ms),
                action,
                tags: n.tags.clone(),
            });
        }
        let mut qa = Vec::new();
        for q in &def.qa {
            let l = r.line(&q.answer);
            if q.questions.iter().all(|s| s.trim().is_empty()) {
                r.error(l, "[[qa]] entry without questions".into());
            }
            if let Some(answer) = r.prompt(&q.answer, "[[qa]] answer") {
                qa.push(Qa {
                    questions: q.questions.clone(),
                    answer,
                });
            }
        }
        if !(0.0..=1.0).contains(&h.qa_threshold) {
            r.error(1, "[script] qa_threshold must be between 0 and 1".into());
        }
        if h.no_input_ms < 500 {
            r.error(
                1,
                format!(
                    "[script] no_input_ms = {} is too short to answer; use at least 500",
                    h.no_input_ms
                ),
            );
        }

        // Reachability from the start, the handlers, DTMF and the script-level targets.
        let Some(Target::Node(start)) = start else {
            return (None, r.findings);
        };
        let mut roots = vec![start];
        let mut push = |t: Option<Target>| {
            if let Some(Target::Node(i)) = t {
                roots.push(i);
            }
        };
        for t in handlers.intents.values() {
            push(Some(*t));
        }
        push(handlers.negative_sentiment);
        for t in dtmf.values() {
            push(Some(*t));
        }
        push(on_no_input);
        push(on_no_match);
        push(on_error);
        push(on_timeout);
        let mut seen = vec![false; nodes.len()];
        while let Some(i) = roots.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let n = &nodes[i];
            let mut targets: Vec<Target> = n.on.values().copied().collect();
            targets.extend(n.when.iter().map(|w| w.goto));
            targets.extend(n.next);
            targets.push(n.no_input);
            targets.push(n.no_match);
            for t in targets {
                if let Target::Node(j) = t {
                    roots.push(j);
                }
            }
        }
        for (i, n) in nodes.iter().enumerate() {
            if !seen[i] {
                let line = n.line;
                r.error(
                    line,
                    format!(
                        "node `{}` is unreachable: no branch, handler or DTMF key leads to it",
                        n.name
                    ),
                );
            }
        }
        // Nodes that say nothing and jump on would loop forever if their jumps form a cycle.
        for (i, n) in nodes.iter().enumerate() {
            let mut seen = vec![i];
            let mut at = n;
            while let (true, Some(Target::Node(j))) = (at.say.is_empty(), at.next) {
                if seen.contains(&j) {
                    r.error(
                        n.line,
                        format!(
                            "node `{}` jumps in a loop through nodes that say nothing; give one \
                             of them a prompt or a `listen`",
                            n.name
                        ),
                    );
                    break;
                }
                seen.push(j);
                at = &nodes[j];
            }
        }
        for (i, p) in prompts.iter().enumerate() {
            let used = nodes.iter().any(|n| n.say.contains(&i))
                || qa.iter().any(|q| q.answer == i)
                || [no_input_prompt, no_match_prompt, repeat_prompt].contains(&Some(i));
            if !used {
                let line = header_line(text, "prompts", &p.key);
                r.warn(line, format!("prompt `{}` is never used", p.key));
            }
        }
        if !handlers.intents.contains_key(&Intent::DncRequest) {
            r.warn(
                1,
                "no [handlers] dnc_request: a callee who asks not to be called is only honoured \
                 where a node handles it"
                    .into(),
            );
        }
        let script = Script {
            name: h.name.clone(),
            path: path.to_owned(),
            language: h.language,
            no_input_ms: h.no_input_ms,
            start,
            nodes,
            prompts,
            handlers,
            dtmf,
            qa,
            voicemail: h.voicemail,
            max_call_ms: h.max_call_s.saturating_mul(1000),
            negative_sentiment: h.negative_sentiment,
            qa_threshold: h.qa_threshold,
            no_input_prompt,
            no_match_prompt,
            repeat_prompt,
            on_error: on_error.unwrap_or(Target::Repeat),
            on_timeout,
            fields: h.fields.clone(),
            hot_words: h.hot_words.clone(),
        };
        let mut findings = r.findings;
        findings.sort_by_key(|f| f.line);
        (Some(script), findings)
    }

    /// The script with another default no-input silence (a campaign's turn setting): nodes
    /// that set their own keep it.
    pub fn with_no_input_ms(mut self, ms: u64) -> Script {
        let old = self.no_input_ms;
        for n in &mut self.nodes {
            if n.no_input_ms == old {
                n.no_input_ms = ms;
            }
        }
        self.no_input_ms = ms;
        self
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    pub fn node_named(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    pub fn prompt(&self, i: usize) -> &PromptSpec {
        &self.prompts[i]
    }

    fn target_name(&self, t: Target) -> &str {
        match t {
            Target::Node(i) => &self.nodes[i].name,
            Target::Repeat => "@repeat",
            Target::Resume => "@resume",
        }
    }

    /// Every edge of the graph: (from, label, to). Handlers come from `*`.
    pub fn edges(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for n in &self.nodes {
            let mut on: Vec<_> = n.on.iter().collect();
            on.sort_by_key(|(i, _)| i.index());
            for (i, t) in on {
                out.push((
                    n.name.clone(),
                    i.as_str().into(),
                    self.target_name(*t).into(),
                ));
            }
            for w in &n.when {
                let mut label = Vec::new();
                if !w.intents.is_empty() {
                    label.push(
                        w.intents
                            .iter()
                            .map(|i| i.as_str())
                            .collect::<Vec<_>>()
                            .join("|"),
                    );
                }
                if !w.keywords.is_empty() {
                    label.push(format!("keyword {}", w.keywords.join("|")));
                }
                if let Some(s) = w.slot {
                    label.push(format!("slot {s:?}").to_lowercase());
                }
                if let Some(s) = w.sentiment {
                    label.push(format!("sentiment {}", s.as_str()));
                }
                out.push((
                    n.name.clone(),
                    label.join(" & "),
                    self.target_name(w.goto).into(),
                ));
            }
            if let Some(t) = n.next {
                out.push((n.name.clone(), "next".into(), self.target_name(t).into()));
            }
            if n.listen {
                out.push((
                    n.name.clone(),
                    "no_input".into(),
                    self.target_name(n.no_input).into(),
                ));
                out.push((
                    n.name.clone(),
                    "no_match".into(),
                    self.target_name(n.no_match).into(),
                ));
            }
        }
        let mut handlers: Vec<_> = self.handlers.intents.iter().collect();
        handlers.sort_by_key(|(i, _)| i.index());
        for (i, t) in handlers {
            out.push(("*".into(), i.as_str().into(), self.target_name(*t).into()));
        }
        if let Some(t) = self.handlers.negative_sentiment {
            out.push((
                "*".into(),
                "negative_sentiment".into(),
                self.target_name(t).into(),
            ));
        }
        let mut dtmf: Vec<_> = self.dtmf.iter().collect();
        dtmf.sort();
        for (d, t) in dtmf {
            out.push(("*".into(), format!("dtmf {d}"), self.target_name(*t).into()));
        }
        out
    }

    /// The graph as indented text: each node, what it says, and where it goes.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "script {:?} ({} nodes, {} prompts, {} Q&A entries), start: {}\n",
            self.name,
            self.nodes.len(),
            self.prompts.len(),
            self.qa.len(),
            self.nodes[self.start].name
        );
        let edges = self.edges();
        for n in &self.nodes {
            let says: Vec<&str> = n
                .say
                .iter()
                .map(|&p| self.prompts[p].key.as_str())
                .collect();
            let _ = write!(s, "\n[{}] says {}", n.name, says.join(" + "));
            let _ = write!(s, "; barge-in {}", n.barge_in.as_str());
            if n.disclosure {
                s.push_str(" (disclosure)");
            }
            match &n.action {
                Some(Action::Hangup {
                    disposition,
                    dnc,
                    callback,
                }) => {
                    let _ = write!(s, "; hang up: {disposition}");
                    if *dnc {
                        s.push_str(" + DNC");
                    }
                    if *callback {
                        s.push_str(" + callback");
                    }
                }
                Some(Action::Transfer { queue, skills }) => {
                    let _ = write!(s, "; transfer to {queue}");
                    if !skills.is_empty() {
                        let _ = write!(s, " [{}]", skills.join(", "));
                    }
                }
                None if n.listen => s.push_str("; listens"),
                None => {}
            }
            s.push('\n');
            for (from, label, to) in edges.iter().filter(|e| e.0 == n.name) {
                let _ = from;
                let _ = writeln!(s, "    {label:<22} -> {to}");
            }
        }
        s.push_str("\n[* every node]\n");
        for (_, label, to) in edges.iter().filter(|e| e.0 == "*") {
            let _ = writeln!(s, "    {label:<22} -> {to}");
        }
        s
    }

    /// The graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
        let mut s = format!("digraph \"{}\" {{\n  rankdir=LR;\n", esc(&self.name));
        for n in &self.nodes {
            let shape = match n.action {
                Some(_) => "doubleoctagon",
                None if n.listen => "box",
                None => "ellipse",
            };
            let _ = writeln!(s, "  \"{}\" [shape={shape}];", esc(&n.name));
        }
        let _ = writeln!(s, "  \"*\" [shape=plaintext, label=\"every node\"];");
        for (from, label, to) in self.edges() {
            let to = if to.starts_with('@') {
                format!("{from}{to}")
            } else {
                to
            };
            let _ = writeln!(
                s,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                esc(&from),
                esc(&to),
                esc(&label)
            );
        }
        s.push_str("}\n");
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OK: &str = r#"
[script]
name = "t"
start = "a"
fields = ["name"]
on_no_input = "bye"
on_no_match = "bye"
on_error = "bye"

[prompts]
hello = { text = "{name}您好，可以吗？" }
bye = { text = "再见。" }

[handlers]
dnc_request = "bye"

[nodes.a]
say = ["hello"]
on = { affirm = "bye", deny = "bye" }

[nodes.bye]
say = ["bye"]
action = { hangup = "not_interested" }
"#;

    fn check(text: &str) -> (Option<Script>, Vec<Finding>) {
        Script::check(text, Path::new("s.toml"), Path::new("/nonexistent"))
    }

    fn errors(text: &str) -> Vec<(usize, String)> {
        check(text)
            .1
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (f.line, f.message))
            .collect()
    }

    #[test]
    fn a_valid_script_resolves() {
        let (s, findings) = check(OK);
        let s = s.unwrap();
        assert!(findings.iter().all(|f| f.severity == Severity::Warning));
        assert_eq!(s.nodes[s.start].name, "a");
        let a = &s.nodes[s.start];
        assert!(a.listen);
        assert_eq!(
            a.on.get(&Intent::Affirm),
            Some(&Target::Node(s.node_named("bye").unwrap()))
        );
        let hello = s.prompts.iter().find(|p| p.key == "hello").unwrap();
        assert_eq!(hello.placeholders, ["name"]);
    }

    #[test]
    fn a_node_declares_what_yes_and_no_mean_and_what_it_expects() {
        let text = OK.replace(
            "on = { affirm = \"bye\", deny = \"bye\" }",
            "on = { affirm = \"bye\", deny = \"bye\" }\nconfirms = \"dnc_request\"\n\
             denies = \"repeat\"\nexpects = [\"hesitate\", \"busy_callback\"]",
        );
        let (s, _) = check(&text);
        let s = s.unwrap();
        let a = &s.nodes[s.start];
        assert_eq!(a.meaning.affirm, Some(Intent::DncRequest));
        assert_eq!(a.meaning.deny, Some(Intent::Repeat));
        assert_eq!(a.meaning.expects, [Intent::Hesitate, Intent::BusyCallback]);
        let bad = text.replace("confirms = \"dnc_request\"", "confirms = \"dnc\"");
        let e = errors(&bad);
        let line = bad.lines().position(|l| l.contains("confirms")).unwrap() + 1;
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, line);
        assert!(
            e[0].1.contains("`dnc` is not an intent label"),
            "{}",
            e[0].1
        );
    }

    #[test]
    fn dangling_branches_are_located() {
        let bad = OK.replace("deny = \"bye\"", "deny = \"goodby\"");
        let e = errors(&bad);
        assert_eq!(e.len(), 1, "{e:?}");
        let line = bad.lines().position(|l| l.contains("goodby")).unwrap() + 1;
        assert_eq!(e[0].0, line);
        assert!(
            e[0].1.contains("`goodby`, which is not a node"),
            "{}",
            e[0].1
        );
    }

    #[test]
    fn unreachable_nodes_unknown_intents_placeholders_and_prompts() {
        let bad =
            format!("{OK}\n[nodes.orphan]\nsay = [\"bye\"]\naction = {{ hangup = \"failed\" }}\n")
                .replace("affirm = \"bye\"", "afirm = \"bye\"")
                .replace("{name}您好", "{surname}您好")
                .replace("say = [\"hello\"]", "say = [\"helo\"]");
        let e = errors(&bad);
        let text: Vec<&str> = e.iter().map(|x| x.1.as_str()).collect();
        assert!(
            text.iter().any(|m| m.contains("`orphan` is unreachable")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|m| m.contains("`afirm` is not an intent label (did you mean `affirm`?)")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|m| m.contains("unknown placeholder {surname}")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|m| m.contains("prompt `helo`, which is not in [prompts]")),
            "{text:?}"
        );
        let orphan_line = bad.lines().position(|l| l == "[nodes.orphan]").unwrap() + 1;
        assert!(e
            .iter()
            .any(|(l, m)| *l == orphan_line && m.contains("orphan")));
    }

    #[test]
    fn missing_audio_and_dead_ends_are_errors() {
        let bad = OK
            .replace(
                "bye = { text = \"再见。\" }",
                "bye = { audio = \"bye.wav\", text = \"再见。\" }",
            )
            .replace("action = { hangup = \"not_interested\" }", "listen = false");
        let e = errors(&bad);
        assert!(
            e.iter().any(|(_, m)| m.contains("bye.wav does not exist")),
            "{e:?}"
        );
        assert!(e.iter().any(|(_, m)| m.contains("nowhere to go")), "{e:?}");
    }

    #[test]
    fn silent_jump_loops_are_errors() {
        let bad = format!("{OK}\n[nodes.x]\nnext = \"y\"\n\n[nodes.y]\nnext = \"x\"\n")
            .replace("deny = \"bye\"", "deny = \"x\"");
        let e = errors(&bad);
        assert!(
            e.iter().any(|(_, m)| m.contains("jumps in a loop")),
            "{e:?}"
        );
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let bad = OK.replace("start = \"a\"", "start = a");
        let e = errors(&bad);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 4);
        let err = Script::parse(&bad, Path::new("s.toml"), Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("s.toml:4: error"), "{err}");
    }

    #[test]
    fn templates_fill_known_placeholders() {
        let mut v = HashMap::new();
        v.insert("name".to_string(), "王先生".to_string());
        assert_eq!(render_template("{name}您好{x}", &v), "王先生您好{x}");
        assert_eq!(placeholders("{a}{ b }{a}"), ["a", "b"]);
    }

    #[test]
    fn the_example_campaign_script_is_valid_and_drawn() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/insurance/script.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        // Audio is rendered by set-up; check the graph without it.
        let (s, findings) = Script::check(&text, &path, Path::new("/nonexistent"));
        let s = s.unwrap();
        let graph_errors: Vec<_> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error && !f.message.contains("does not exist"))
            .collect();
        assert!(graph_errors.is_empty(), "{graph_errors:?}");
        let dot = s.to_dot();
        assert!(
            dot.contains("\"greeting\" -> \"disclosure\" [label=\"affirm\"]"),
            "{dot}"
        );
        assert!(s
            .to_text()
            .contains("[disclosure] says disclosure; barge-in off (disclosure)"));
    }
}
