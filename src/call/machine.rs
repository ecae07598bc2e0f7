//! The call state machine: pure, on simulated time. It takes what happened on the call (an
//! [`Input`] with the call-relative time in ms) and answers with what to do ([`Directive`]s):
//! play, stop, transfer, hang up with a disposition, add the number to the DNC list, schedule
//! a callback, tag the contact. It holds the script position, retries, slots (callback time,
//! amount) across turns and its own timers ([`CallMachine::poll_timeout`]), and records every
//! decision.
//!
//! ```text
//!  answered ─► enter(start) ─► say prompts ─► (action | next | listen)
//!                 ▲               │ speech during a prompt: barge-in policy of the node
//!                 │               ▼
//!                 └──── branch ◄─ heard reply: node `when` → node `on` → handlers
//!                                 → Q&A → no-match retry;  silence: no-input retry
//! ```
//!
//! Barge-in: with mode `speech` the media engine stops the prompt on speech and reports it
//! ([`Input::BargedIn`]); when the transcript turns out to be a backchannel, noise or echo the
//! prompt resumes where it stopped (from the start when under a second had played). With mode
//! `intent` the prompt keeps playing until a real reply is transcribed, then the machine stops
//! it. With `off` (and always for disclosures) speech is held and handled once the prompts end.

use std::sync::Arc;

use serde::Serialize;

use super::policy::{self, Interruption};
use super::script::{Action, BargeMode, Disposition, Script, SlotName, Target, VoicemailPolicy};
use crate::nlu::announcement::{self, Announcement};
use crate::nlu::context;
use crate::nlu::sentiment::Polarity;
use crate::nlu::{Intent, Understanding};

/// What the callee said, understood.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub text: String,
    pub intent: Intent,
    pub confidence: f32,
    /// Sentiment score in [-1, 1].
    pub sentiment: f32,
    pub polarity: Polarity,
    /// Callback time the callee named (unix seconds).
    pub callback_at: Option<i64>,
    pub amount: Option<f64>,
    pub keywords: Vec<String>,
    /// Speech the VAD found in the reply, when known.
    pub voiced_ms: Option<u32>,
    /// The intent model's calibrated probabilities, when known: a node's `expects` re-weights
    /// them.
    pub probs: Option<[f32; 15]>,
}

impl Reply {
    pub fn new(text: &str, u: &Understanding) -> Self {
        Reply {
            text: text.to_owned(),
            intent: u.label,
            confidence: u.confidence,
            sentiment: u.sentiment.score,
            polarity: u.sentiment.polarity,
            callback_at: u.slots.callback.as_ref().map(|c| c.at.timestamp()),
            amount: u.slots.amounts.first().map(|a| a.value),
            keywords: u.keywords.iter().map(|k| (*k).to_owned()).collect(),
            voiced_ms: None,
            probs: Some(u.probs),
        }
    }

    /// A reply with only an intent (tests, DTMF-free simulations).
    pub fn intent(text: &str, intent: Intent, confidence: f32) -> Self {
        Reply {
            text: text.to_owned(),
            intent,
            confidence,
            sentiment: 0.0,
            polarity: Polarity::Neutral,
            callback_at: None,
            amount: None,
            keywords: Vec::new(),
            voiced_ms: None,
            probs: None,
        }
    }
}

/// Something that happened on the call.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Answered,
    PromptStarted {
        id: u64,
    },
    PromptFinished {
        id: u64,
    },
    /// The media engine stopped a prompt because the callee spoke (barge-in mode `speech`).
    BargedIn {
        id: u64,
        played_ms: u32,
    },
    SpeechStarted,
    Heard(Reply),
    /// Speech that produced no text (noise, a cough, a suppressed hallucination).
    Unintelligible,
    /// The recogniser or the intent model failed on a reply, or a prompt could not be
    /// played.
    Failed(Failure),
    Dtmf(char),
    /// The time given by [`CallMachine::poll_timeout`] has come.
    Timeout,
    CalleeHungUp,
}

/// What went wrong on aicall's side of a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The decode pool had no room for the reply.
    Overloaded,
    /// The recogniser failed on the reply.
    Recogniser,
    /// The intent model failed on the transcript.
    Understanding,
    /// A prompt's audio could not be produced.
    PromptAudio,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Failure::Overloaded => "recogniser overloaded",
            Failure::Recogniser => "recogniser failed",
            Failure::Understanding => "intent model failed",
            Failure::PromptAudio => "prompt audio unavailable",
        })
    }
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Directive {
    /// Queue prompt `prompt` from `from_ms`; `barge_in` lets speech stop it in the media engine.
    Play {
        id: u64,
        prompt: usize,
        from_ms: u32,
        barge_in: bool,
    },
    /// Stop the playing prompt and drop the queued ones.
    Stop,
    Transfer {
        queue: String,
        skills: Vec<String>,
    },
    Hangup {
        disposition: Disposition,
    },
    AddDnc,
    /// Call back at this unix time (the callee's), or in two hours when `None`.
    ScheduleCallback {
        at: Option<i64>,
    },
    Tag(String),
}

/// One recorded decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub at_ms: u64,
    pub node: String,
    pub what: String,
}

/// A barge-in as the call saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BargeRecord {
    pub at_ms: u64,
    pub prompt: String,
    pub played_ms: u32,
    /// What the speech turned out to be.
    pub verdict: Interruption,
    /// `speech` (stopped by the media engine) or `intent` (stopped after the transcript).
    pub mode: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Ringing,
    Speaking,
    /// A prompt was stopped by speech; waiting for the transcript.
    Interrupted,
    Listening,
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// The node's continuation: action, next or listen.
    Node,
    Listen,
}

#[derive(Clone, Copy, Debug)]
struct Queued {
    id: u64,
    prompt: usize,
    from_ms: u32,
}

/// One call's conversation state.
#[derive(Debug)]
pub struct CallMachine {
    script: Arc<Script>,
    now: u64,
    phase: Phase,
    node: usize,
    resume_to: Option<usize>,
    next_id: u64,
    /// Prompts queued in the media engine, in order (the first one is playing or next).
    queue: Vec<Queued>,
    mode: BargeMode,
    then: Then,
    /// The prompts stopped by barge-in, to resume after a false interruption.
    stopped: Vec<Queued>,
    stopped_played_ms: u32,
    deferred: Option<Reply>,
    last_prompt: Option<usize>,
    no_input: u32,
    no_match: u32,
    errors: u32,
    /// When the callee's silence counts as no input (while listening).
    no_input_at: Option<u64>,
    /// When the call reaches the script's maximum length.
    max_call_at: Option<u64>,
    /// When the call was answered.
    answered_at: Option<u64>,
    /// What was heard in the announcement window, in order: an announcement's opening and
    /// its status often fall in two utterances (您拨打的用户 … 正忙).
    early_heard: String,
    disposition: Option<Disposition>,
    callback_at: Option<i64>,
    amount: Option<f64>,
    decisions: Vec<Decision>,
    path: Vec<String>,
    barge_ins: Vec<BargeRecord>,
    out: Vec<Directive>,
}

/// Played less than this, a falsely interrupted prompt restarts rather than resumes.
const RESUME_MIN_MS: u32 = 1000;
/// How long after the answer a carrier announcement or a voicemail greeting is looked for:
/// both speak first, and a false answer's announcement repeats for 15–30 s before the
/// carrier clears the call. Early media before the answer is listened to as long.
pub const ANNOUNCEMENT_WINDOW_MS: u64 = 20_000;
/// A resumed prompt backs up this much, to restart at about a word boundary.
const RESUME_BACKUP_MS: u32 = 400;

impl CallMachine {
    pub fn new(script: Arc<Script>) -> Self {
        let node = script.start;
        CallMachine {
            script,
            now: 0,
            answered_at: None,
            early_heard: String::new(),
            phase: Phase::Ringing,
            node,
            resume_to: None,
            next_id: 1,
            queue: Vec::new(),
            mode: BargeMode::Speech,
            then: Then::Node,
            stopped: Vec::new(),
            stopped_played_ms: 0,
            deferred: None,
            last_prompt: None,
            no_input: 0,
            no_match: 0,
            errors: 0,
            no_input_at: None,
            max_call_at: None,
            disposition: None,
            callback_at: None,
            amount: None,
            decisions: Vec::new(),
            path: Vec::new(),
            barge_ins: Vec::new(),
            out: Vec::new(),
        }
    }

    pub fn script(&self) -> &Arc<Script> {
        &self.script
    }

    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The outcome once decided.
    pub fn disposition(&self) -> Option<Disposition> {
        self.disposition
    }

    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// Nodes entered, in order.
    pub fn path(&self) -> &[String] {
        &self.path
    }

    pub fn barge_ins(&self) -> &[BargeRecord] {
        &self.barge_ins
    }

    pub fn callback_at(&self) -> Option<i64> {
        self.callback_at
    }

    pub fn amount(&self) -> Option<f64> {
        self.amount
    }

    pub fn current_node(&self) -> &str {
        &self.script.nodes[self.node].name
    }

    /// Text of the prompt playing now, if it has one.
    pub fn playing_text(&self) -> Option<&str> {
        let q = self.queue.first()?;
        self.script.prompts[q.prompt].text.as_deref()
    }

    /// Text of the last prompt said (the context the intent model reads a reply in).
    pub fn last_prompt_text(&self) -> Option<&str> {
        self.script.prompts[self.last_prompt?].text.as_deref()
    }

    fn log(&mut self, what: String) {
        self.decisions.push(Decision {
            at_ms: self.now,
            node: self.script.nodes[self.node].name.clone(),
            what,
        });
    }

    /// Feeds one input at call time `now_ms`; returns what to do.
    pub fn step(&mut self, now_ms: u64, input: Input) -> Vec<Directive> {
        self.now = now_ms.max(self.now);
        if self.phase == Phase::Ended {
            if input == Input::CalleeHungUp {
                self.log("callee hung up after the end".into());
            }
            return Vec::new();
        }
        match input {
            Input::Answered => self.on_answered(),
            Input::PromptStarted { id } => {
                if let Some(q) = self.queue.iter().find(|q| q.id == id) {
                    self.last_prompt = Some(q.prompt);
                }
            }
            Input::PromptFinished { id } => self.on_finished(id),
            Input::BargedIn { id, played_ms } => self.on_barged_in(id, played_ms),
            Input::SpeechStarted => {
                if self.phase == Phase::Listening {
                    // No input no longer applies: the callee is talking. If the speech
                    // comes to nothing, listening starts again with a fresh deadline.
                    self.no_input_at = None;
                }
            }
            Input::Heard(reply) => self.on_heard(reply),
            Input::Unintelligible => self.on_unintelligible(),
            Input::Failed(why) => self.on_failed(why),
            Input::Dtmf(d) => self.on_dtmf(d),
            Input::Timeout => self.on_timeout(),
            Input::CalleeHungUp if self.phase == Phase::Ringing => {
                // Never answered: the hangup cause says what became of the call.
                self.log("ended before the answer".into());
                self.phase = Phase::Ended;
            }
            Input::CalleeHungUp => {
                let d = *self.disposition.get_or_insert(if self.path.len() <= 1 {
                    Disposition::NoResponse
                } else {
                    Disposition::CalleeHangup
                });
                self.log(format!("callee hung up: {d}"));
                self.phase = Phase::Ended;
            }
        }
        std::mem::take(&mut self.out)
    }

    fn on_answered(&mut self) {
        if self.phase != Phase::Ringing {
            return;
        }
        self.max_call_at = Some(self.now + self.script.max_call_ms);
        self.answered_at = Some(self.now);
        self.log("answered".into());
        self.enter(self.script.start);
    }

    fn enter(&mut self, i: usize) {
        let node = &self.script.nodes[i];
        if node.next == Some(Target::Resume)
            && self.script.nodes[self.node].next != Some(Target::Resume)
        {
            self.resume_to = Some(self.node);
        }
        if i != self.node {
            self.no_input = 0;
            self.no_match = 0;
        }
        self.node = i;
        let node = &self.script.nodes[i];
        self.path.push(node.name.clone());
        for t in &node.tags {
            self.out.push(Directive::Tag(t.clone()));
        }
        let say = node.say.clone();
        let mode = node.barge_in;
        self.say(&say, mode, Then::Node);
    }

    fn say(&mut self, prompts: &[usize], mode: BargeMode, then: Then) {
        self.then = then;
        self.mode = mode;
        self.stopped.clear();
        if prompts.is_empty() {
            self.phase = Phase::Speaking;
            self.said();
            return;
        }
        self.phase = Phase::Speaking;
        for &p in prompts {
            let id = self.next_id;
            self.next_id += 1;
            self.queue.push(Queued {
                id,
                prompt: p,
                from_ms: 0,
            });
            self.out.push(Directive::Play {
                id,
                prompt: p,
                from_ms: 0,
                barge_in: mode == BargeMode::Speech,
            });
        }
    }

    fn on_finished(&mut self, id: u64) {
        let Some(pos) = self.queue.iter().position(|q| q.id == id) else {
            return;
        };
        self.last_prompt = Some(self.queue[pos].prompt);
        self.queue.drain(..=pos);
        if self.queue.is_empty() && self.phase == Phase::Speaking {
            self.said();
        }
    }

    /// Every prompt of the current say has played.
    fn said(&mut self) {
        let deferred = self.deferred.take();
        // Slots in a reply held over the prompt still count (明天下午三点 said after the
        // callback confirmation began).
        if let Some(r) = &deferred {
            if let Some(at) = r.callback_at {
                self.callback_at = Some(at);
            }
            if let Some(a) = r.amount {
                self.amount = Some(a);
            }
        }
        let script = self.script.clone();
        let node = &script.nodes[self.node];
        match self.then {
            Then::Listen => match deferred {
                Some(r) => self.handle(r),
                None => self.listen(),
            },
            Then::Node => {
                if let Some(action) = node.action.clone() {
                    // A voicemail greeting heard over the closing prompt: nobody is listening;
                    // the voicemail policy decides, not this node.
                    if let Some(r) = deferred.as_ref().filter(|r| r.intent == Intent::Voicemail) {
                        let r = r.clone();
                        self.log(format!("held reply {:?} is a voicemail greeting", r.text));
                        return self.handle(r);
                    }
                    if let Some(r) = deferred.filter(|r| r.intent == Intent::DncRequest) {
                        self.log(format!("held reply {:?} asks for DNC", r.text));
                        self.out.push(Directive::AddDnc);
                    }
                    self.act(action);
                } else if let Some(next) = node.next {
                    // A reply held over a prompt that leads on is acted on only when a global
                    // handler wants it (a DNC request, a human); otherwise the script goes on.
                    match deferred {
                        Some(r) if self.script.handlers.intents.contains_key(&r.intent) => {
                            self.handle(r)
                        }
                        Some(r) => {
                            self.log(format!(
                                "held reply {:?} dropped: the script goes on",
                                r.text
                            ));
                            self.go(next)
                        }
                        None => self.go(next),
                    }
                } else {
                    match deferred {
                        Some(r) => self.handle(r),
                        None => self.listen(),
                    }
                }
            }
        }
    }

    fn listen(&mut self) {
        self.phase = Phase::Listening;
        self.no_input_at = Some(self.now + self.script.nodes[self.node].no_input_ms);
    }

    fn on_barged_in(&mut self, id: u64, played_ms: u32) {
        if self.phase != Phase::Speaking {
            return;
        }
        let Some(pos) = self.queue.iter().position(|q| q.id == id) else {
            return;
        };
        // The media engine dropped the playing prompt and the queue behind it.
        self.stopped = self.queue.split_off(pos);
        self.queue.clear();
        self.stopped_played_ms = self.stopped[0].from_ms + played_ms;
        self.phase = Phase::Interrupted;
        let key = self.script.prompts[self.stopped[0].prompt].key.clone();
        self.log(format!("barge-in on `{key}` after {played_ms} ms"));
    }

    fn record_barge(&mut self, verdict: Interruption, mode: &'static str) {
        let (prompt, played_ms) = match self.stopped.first() {
            Some(q) => (q.prompt, self.stopped_played_ms),
            None => match self.queue.first() {
                Some(q) => (q.prompt, 0),
                None => return,
            },
        };
        self.barge_ins.push(BargeRecord {
            at_ms: self.now,
            prompt: self.script.prompts[prompt].key.clone(),
            played_ms,
            verdict,
            mode,
        });
    }

    /// After a false interruption: the stopped prompt again (from about where it stopped),
    /// then the rest.
    fn resume_stopped(&mut self, why: Interruption) {
        self.record_barge(why, "speech");
        let mut stopped = std::mem::take(&mut self.stopped);
        if stopped.is_empty() {
            self.said();
            return;
        }
        let played = self.stopped_played_ms;
        stopped[0].from_ms = if played < RESUME_MIN_MS {
            0
        } else {
            played.saturating_sub(RESUME_BACKUP_MS)
        };
        self.log(format!(
            "false interruption ({why:?}): resuming `{}` at {} ms",
            self.script.prompts[stopped[0].prompt].key, stopped[0].from_ms
        ));
        self.phase = Phase::Speaking;
        for q in stopped {
            let id = self.next_id;
            self.next_id += 1;
            self.queue.push(Queued { id, ..q });
            self.out.push(Directive::Play {
                id,
                prompt: q.prompt,
                from_ms: q.from_ms,
                barge_in: self.mode == BargeMode::Speech,
            });
        }
    }

    fn on_heard(&mut self, mut reply: Reply) {
        // A carrier announcement or a voicemail system answered instead of a person: it
        // speaks first, so only the call's first seconds are searched. Before the answer
        // the far end's early media is all there is to hear: a carrier plays its
        // announcement there (and clears the call with a cause that says nothing), or a
        // ringback tone, whose words act on nothing.
        let ringing = self.phase == Phase::Ringing;
        let early = ringing
            || self
                .answered_at
                .is_some_and(|at| self.now.saturating_sub(at) <= ANNOUNCEMENT_WINDOW_MS);
        if early {
            self.early_heard.push_str(&reply.text);
            self.early_heard.push('\n');
        }
        if let Some(a) = early
            .then(|| announcement::classify(&self.early_heard))
            .flatten()
        {
            if a == Announcement::Voicemail {
                if ringing {
                    // A mailbox answers to greet: before the answer, it is a ringback
                    // tone's words.
                    return;
                }
                if reply.intent != Intent::Voicemail {
                    self.log(format!("{:?} is a voicemail greeting", reply.text));
                    reply.intent = Intent::Voicemail;
                }
            } else {
                self.log(format!(
                    "{:?} is a carrier announcement ({}){}",
                    reply.text,
                    a.as_str(),
                    if ringing { ", in early media" } else { "" }
                ));
                if self.phase == Phase::Speaking {
                    self.out.push(Directive::Stop);
                }
                return self.act(Action::Hangup {
                    disposition: a.disposition(),
                    dnc: false,
                    callback: false,
                });
            }
        }
        let playing = self.playing_text().map(str::to_owned);
        match self.phase {
            Phase::Ringing | Phase::Ended => {}
            Phase::Interrupted => {
                let stopped_text = self
                    .stopped
                    .first()
                    .and_then(|q| self.script.prompts[q.prompt].text.clone());
                match policy::interruption(&reply.text, stopped_text.as_deref(), reply.voiced_ms) {
                    Interruption::Real => {
                        self.record_barge(Interruption::Real, "speech");
                        self.stopped.clear();
                        self.handle(reply);
                    }
                    other => {
                        self.log(format!(
                            "heard {:?} during the prompt: {other:?}",
                            reply.text
                        ));
                        self.resume_stopped(other);
                    }
                }
            }
            Phase::Speaking => {
                let verdict =
                    policy::interruption(&reply.text, playing.as_deref(), reply.voiced_ms);
                if verdict != Interruption::Real {
                    self.log(format!(
                        "heard {:?} over the prompt: {verdict:?}, prompt goes on",
                        reply.text
                    ));
                    return;
                }
                if self.mode == BargeMode::Off {
                    self.log(format!(
                        "heard {:?} over a non-interruptible prompt: held until it ends",
                        reply.text
                    ));
                    self.deferred = Some(reply);
                    return;
                }
                // `intent` mode (or `speech` when the media engine did not stop it: quiet
                // speech): a real reply takes the turn now.
                self.record_barge(Interruption::Real, "intent");
                self.out.push(Directive::Stop);
                self.queue.clear();
                self.handle(reply);
            }
            Phase::Listening => {
                if policy::normalize(&reply.text).is_empty() {
                    self.on_unintelligible();
                } else {
                    self.handle(reply);
                }
            }
        }
    }

    fn on_unintelligible(&mut self) {
        match self.phase {
            Phase::Interrupted => self.resume_stopped(Interruption::Noise),
            Phase::Listening => {
                self.log("unintelligible speech: still listening".into());
                self.listen();
            }
            _ => {}
        }
    }

    fn on_failed(&mut self, why: Failure) {
        if self.phase == Phase::Ringing {
            // Early media not understood: there is no conversation to fail yet.
            return;
        }
        self.errors += 1;
        self.log(format!("recogniser failure #{}: {why}", self.errors));
        if self.phase == Phase::Interrupted {
            self.stopped.clear();
        }
        if !matches!(self.phase, Phase::Listening | Phase::Interrupted) {
            return;
        }
        if self.errors >= 2 {
            let t = self.script.on_error;
            self.go(t);
        } else {
            self.no_match_retry("failure");
        }
    }

    fn on_dtmf(&mut self, d: char) {
        if self.phase == Phase::Ringing {
            self.log(format!("DTMF {d} ignored: not answered"));
            return;
        }
        match self.script.dtmf.get(&d).copied() {
            Some(t) => {
                self.log(format!("DTMF {d}"));
                if matches!(self.phase, Phase::Speaking) {
                    self.out.push(Directive::Stop);
                    self.queue.clear();
                }
                self.go(t);
            }
            None => self.log(format!("DTMF {d} ignored: not bound")),
        }
    }

    /// When the machine next needs [`Input::Timeout`] (call time, ms), if ever. The driver
    /// sleeps until then; the machine owns its timers, so none can go stale in a driver.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.phase == Phase::Ended {
            return None;
        }
        let no_input = self.no_input_at.filter(|_| self.phase == Phase::Listening);
        match (no_input, self.max_call_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timeout(&mut self) {
        if self.max_call_at.is_some_and(|at| at <= self.now) {
            self.max_call_at = None;
            return self.on_max_call();
        }
        if self.phase == Phase::Listening && self.no_input_at.is_some_and(|at| at <= self.now) {
            self.no_input_at = None;
            self.on_no_input();
        }
    }

    fn on_no_input(&mut self) {
        self.no_input += 1;
        let script = self.script.clone();
        let node = &script.nodes[self.node];
        if self.no_input <= node.retries {
            self.log(format!("no input #{}: asking again", self.no_input));
            let mut prompts: Vec<usize> = self.script.no_input_prompt.into_iter().collect();
            prompts.extend(self.last_prompt.or(node.say.last().copied()));
            let mode = node.barge_in;
            self.say(&prompts, mode, Then::Listen);
        } else {
            self.log(format!("no input {} times", self.no_input));
            let t = node.no_input;
            self.go(t);
        }
    }

    fn on_max_call(&mut self) {
        self.log("maximum call length".into());
        if matches!(self.phase, Phase::Speaking) {
            self.out.push(Directive::Stop);
            self.queue.clear();
        }
        match self.script.on_timeout {
            Some(t) => self.go(t),
            None => self.act(Action::Hangup {
                disposition: Disposition::Failed,
                dnc: false,
                callback: false,
            }),
        }
    }

    fn no_match_retry(&mut self, why: &str) {
        self.no_match += 1;
        let script = self.script.clone();
        let node = &script.nodes[self.node];
        if self.no_match <= node.retries {
            self.log(format!("no match ({why}) #{}: asking again", self.no_match));
            let prompts: Vec<usize> = match self.script.no_match_prompt {
                Some(p) => vec![p],
                None => self.last_prompt.into_iter().collect(),
            };
            let mode = node.barge_in;
            self.say(&prompts, mode, Then::Listen);
        } else {
            self.log(format!("no match {} times", self.no_match));
            let t = node.no_match;
            self.go(t);
        }
    }

    /// Decides where a reply leads from the current node.
    fn handle(&mut self, mut reply: Reply) {
        self.phase = Phase::Listening;
        self.no_input_at = None;
        if let Some(at) = reply.callback_at {
            self.callback_at = Some(at);
        }
        if let Some(a) = reply.amount {
            self.amount = Some(a);
        }
        let script = self.script.clone();
        let node = &script.nodes[self.node];
        let meant = context::resolve(reply.intent, reply.probs.as_ref(), &node.meaning);
        if meant != reply.intent {
            self.log(format!(
                "{:?} is {} here, not {} (the node says what it asks)",
                reply.text, meant, reply.intent
            ));
            reply.intent = meant;
        }
        let text = policy::normalize(&reply.text);
        let rule = node.when.iter().find(|w| {
            (w.intents.is_empty() || w.intents.contains(&reply.intent))
                && (w.keywords.is_empty()
                    || w.keywords
                        .iter()
                        .any(|k| text.contains(&policy::normalize(k))))
                && match w.slot {
                    None => true,
                    Some(SlotName::Callback) => reply.callback_at.is_some(),
                    Some(SlotName::Amount) => reply.amount.is_some(),
                }
                && w.sentiment.is_none_or(|s| s == reply.polarity)
        });
        let summary = format!(
            "heard {:?} → {} ({:.2})",
            reply.text, reply.intent, reply.confidence
        );
        if let Some(rule) = rule {
            let goto = rule.goto;
            self.log(format!("{summary}: `when` rule"));
            return self.go(goto);
        }
        if reply.intent == Intent::Voicemail && self.script.voicemail == VoicemailPolicy::HangUp {
            self.log(format!("{summary}: voicemail, campaign hangs up"));
            return self.act(Action::Hangup {
                disposition: Disposition::Voicemail,
                dnc: false,
                callback: false,
            });
        }
        if let Some(&t) = node.on.get(&reply.intent) {
            self.log(format!("{summary}: node branch"));
            return self.go(t);
        }
        if let Some(t) = self.script.handlers.negative_sentiment {
            if reply.sentiment <= self.script.negative_sentiment {
                self.log(format!(
                    "{summary}: negative sentiment {:.2}",
                    reply.sentiment
                ));
                return self.go(t);
            }
        }
        if let Some(&t) = self.script.handlers.intents.get(&reply.intent) {
            self.log(format!("{summary}: global handler"));
            return self.go(t);
        }
        let qa = policy::best_answer(
            &reply.text,
            self.script.qa.iter().map(|q| q.questions.as_slice()),
        );
        if let Some((i, score)) = qa.filter(|&(_, s)| s >= self.script.qa_threshold) {
            let answer = self.script.qa[i].answer;
            self.log(format!(
                "{summary}: Q&A `{}` ({score:.2})",
                self.script.prompts[answer].key
            ));
            let mut prompts = vec![answer];
            prompts.extend(self.last_prompt.or(node.say.last().copied()));
            let mode = node.barge_in;
            self.say(&prompts, mode, Then::Listen);
            return;
        }
        self.log(summary);
        self.no_match_retry("no branch");
    }

    fn go(&mut self, t: Target) {
        match t {
            Target::Node(i) => self.enter(i),
            Target::Repeat => {
                let script = self.script.clone();
                let node = &script.nodes[self.node];
                let mut prompts: Vec<usize> = self.script.repeat_prompt.into_iter().collect();
                prompts.extend(node.say.iter().copied());
                let mode = node.barge_in;
                self.log("repeating".into());
                self.say(&prompts, mode, Then::Listen);
            }
            Target::Resume => {
                let back = self.resume_to.take().unwrap_or(self.node);
                self.node = back;
                let script = self.script.clone();
                let node = &script.nodes[back];
                let prompts: Vec<usize> = node.say.last().copied().into_iter().collect();
                let mode = node.barge_in;
                self.log(format!("resuming `{}`", node.name));
                self.path.push(node.name.clone());
                self.say(&prompts, mode, Then::Node);
            }
        }
    }

    fn act(&mut self, action: Action) {
        self.phase = Phase::Ended;
        self.no_input_at = None;
        match action {
            Action::Hangup {
                disposition,
                dnc,
                callback,
            } => {
                if dnc {
                    self.out.push(Directive::AddDnc);
                }
                if callback {
                    self.out.push(Directive::ScheduleCallback {
                        at: self.callback_at,
                    });
                }
                self.disposition = Some(disposition);
                self.log(format!("hang up: {disposition}"));
                self.out.push(Directive::Hangup { disposition });
            }
            Action::Transfer { queue, skills } => {
                self.disposition = Some(Disposition::Transferred);
                self.log(format!("transfer to {queue}"));
                self.out.push(Directive::Transfer { queue, skills });
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The example campaign's graph with text-only prompts (no audio files needed).
    const SCRIPT: &str = r#"
[script]
name = "test"
language = "zh"
start = "greeting"
retries = 1
no_input_ms = 5000
max_call_s = 120
no_input_prompt = "no_input"
no_match_prompt = "no_match"
repeat_prompt = "repeat"
on_no_input = "bye_silent"
on_no_match = "bye"
on_error = "error_bye"
on_timeout = "bye"

[prompts]
greeting = { text = "您好，我是安心保险的客服小李，耽误您一分钟时间可以吗？" }
disclosure = { text = "本次通话可能会被录音。" }
intro = { text = "我们最近推出了一款百万医疗险，住院费用最高可以报销一百万，您有兴趣了解一下吗？" }
price = { text = "每个月只要三十九元，您看可以吗？" }
identity = { text = "我是安心保险的客服小李。" }
transfer = { text = "正在为您转接。" }
callback = { text = "好的，到时候再打给您，再见。" }
dnc = { text = "抱歉打扰，再见。" }
bye = { text = "再见。" }
error = { text = "系统出了点问题，再见。" }
vm = { text = "请回电，谢谢。" }
no_input = { text = "喂，能听到吗？" }
no_match = { text = "没听明白，请再说一下。" }
repeat = { text = "我再说一遍。" }
qa_claim = { text = "理赔很方便，三个工作日到账。" }
wrong = { text = "打错了，再见。" }

[handlers]
dnc_request = "dnc"
request_human = "transfer"
complaint = "transfer"
negative_sentiment = "transfer"
repeat = "@repeat"
ask_identity = "identity"
voicemail = "voicemail"
busy_callback = "callback"
wrong_person = "wrong"

[dtmf]
"0" = "transfer"

[nodes.greeting]
say = ["greeting"]
barge_in = "speech"
on = { affirm = "disclosure", ask_price = "price", deny = "bye" }

[nodes.disclosure]
say = ["disclosure"]
disclosure = true
next = "intro"

[nodes.intro]
say = ["intro"]
barge_in = "intent"
on = { affirm = "interested", ask_price = "price", deny = "bye" }

[nodes.price]
say = ["price"]
on = { affirm = "interested", deny = "bye" }

[nodes.identity]
say = ["identity"]
next = "@resume"

[nodes.interested]
say = ["transfer"]
tags = ["interested"]
action = { transfer = "sales", skills = ["insurance"] }

[nodes.transfer]
say = ["transfer"]
action = { transfer = "service" }

[nodes.callback]
say = ["callback"]
action = { hangup = "callback", callback = true }

[nodes.dnc]
say = ["dnc"]
action = { hangup = "dnc", dnc = true }

[nodes.voicemail]
say = ["vm"]
action = { hangup = "voicemail" }

[nodes.wrong]
say = ["wrong"]
action = { hangup = "wrong_number" }

[nodes.bye]
say = ["bye"]
action = { hangup = "not_interested" }

[nodes.bye_silent]
say = ["bye"]
action = { hangup = "no_response" }

[nodes.error_bye]
say = ["error"]
action = { hangup = "failed" }

[[qa]]
questions = ["理赔麻烦吗", "怎么理赔"]
answer = "qa_claim"
"#;

    fn script(text: &str) -> Arc<Script> {
        Arc::new(Script::parse(text, Path::new("test.toml"), Path::new(".")).unwrap())
    }

    struct Call {
        m: CallMachine,
        t: u64,
        /// Every directive so far.
        log: Vec<Directive>,
        /// Prompt keys played, in order.
        played: Vec<String>,
        /// Plays queued and not yet finished: (id, prompt).
        pending: Vec<(u64, usize)>,
    }

    impl Call {
        fn new(text: &str) -> Call {
            let mut c = Call::ringing(text);
            c.send(Input::Answered);
            c
        }

        /// Not answered yet: early media.
        fn ringing(text: &str) -> Call {
            Call {
                m: CallMachine::new(script(text)),
                t: 0,
                log: Vec::new(),
                played: Vec::new(),
                pending: Vec::new(),
            }
        }

        fn send(&mut self, input: Input) -> Vec<Directive> {
            self.t += 100;
            let out = self.m.step(self.t, input);
            for d in &out {
                match d {
                    Directive::Play { id, prompt, .. } => {
                        self.played
                            .push(self.m.script().prompts[*prompt].key.clone());
                        self.pending.push((*id, *prompt));
                    }
                    Directive::Stop => self.pending.clear(),
                    _ => {}
                }
            }
            self.log.extend(out.iter().cloned());
            out
        }

        /// Plays every queued prompt to its end (and what that queues, and so on).
        fn finish_prompts(&mut self) {
            while let Some((id, _)) = self.pending.first().copied() {
                self.pending.remove(0);
                self.send(Input::PromptStarted { id });
                self.t += 2000;
                self.send(Input::PromptFinished { id });
            }
        }

        fn hear(&mut self, text: &str, intent: Intent) -> Vec<Directive> {
            self.send(Input::Heard(Reply::intent(text, intent, 0.9)))
        }

        fn playing_id(&self) -> u64 {
            self.pending.first().unwrap().0
        }

        fn ended_with(&self) -> Option<Disposition> {
            self.log.iter().find_map(|d| match d {
                Directive::Hangup { disposition } => Some(*disposition),
                Directive::Transfer { .. } => Some(Disposition::Transferred),
                _ => None,
            })
        }

        /// Moves the clock to the machine's next timeout and delivers it.
        fn expire(&mut self) -> Vec<Directive> {
            let at = self.m.poll_timeout().expect("a timer is armed");
            self.t = at.saturating_sub(100).max(self.t);
            self.send(Input::Timeout)
        }
    }

    #[test]
    fn interested_callee_is_transferred_after_the_disclosure() {
        let mut c = Call::new(SCRIPT);
        assert_eq!(c.played, ["greeting"]);
        // Speaking: only the maximum call length is armed.
        assert_eq!(c.m.poll_timeout(), Some(120_100));
        c.finish_prompts();
        c.hear("可以啊，你说吧", Intent::Affirm);
        // The disclosure never allows barge-in in the media engine.
        assert!(c.log.iter().any(|d| matches!(
            d,
            Directive::Play {
                barge_in: false,
                ..
            }
        )));
        c.finish_prompts();
        assert_eq!(c.played, ["greeting", "disclosure", "intro"]);
        c.hear("好的，我想了解一下", Intent::Affirm);
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::Transferred));
        assert!(c.log.contains(&Directive::Tag("interested".into())));
        assert!(c.log.contains(&Directive::Transfer {
            queue: "sales".into(),
            skills: vec!["insurance".into()]
        }));
        assert!(c.m.is_ended());
        assert_eq!(
            c.m.path(),
            ["greeting", "disclosure", "intro", "interested"]
        );
    }

    #[test]
    fn price_question_gets_the_answer_then_affirm_transfers() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("一个月要交多少钱", Intent::AskPrice);
        c.finish_prompts();
        assert_eq!(c.played.last().unwrap(), "price");
        c.hear("可以，没问题", Intent::Affirm);
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::Transferred));
    }

    #[test]
    fn busy_callee_gets_a_callback_at_the_time_named() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        let mut r = Reply::intent("明天下午三点再打吧", Intent::BusyCallback, 0.9);
        r.callback_at = Some(1_795_500_000);
        c.send(Input::Heard(r));
        c.finish_prompts();
        assert!(c.log.contains(&Directive::ScheduleCallback {
            at: Some(1_795_500_000)
        }));
        assert_eq!(c.ended_with(), Some(Disposition::Callback));
        assert_eq!(c.m.callback_at(), Some(1_795_500_000));
    }

    #[test]
    fn dnc_request_records_the_number_and_hangs_up_after_the_apology() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("以后不要再给我打电话了", Intent::DncRequest);
        assert!(
            !c.log.contains(&Directive::AddDnc),
            "only after the apology"
        );
        c.finish_prompts();
        assert!(c.log.contains(&Directive::AddDnc));
        assert_eq!(c.ended_with(), Some(Disposition::Dnc));
        assert_eq!(c.played.last().unwrap(), "dnc");
    }

    #[test]
    fn barge_in_on_the_greeting_answers_then_resumes() {
        let mut c = Call::new(SCRIPT);
        let id = c.playing_id();
        c.send(Input::PromptStarted { id });
        c.send(Input::SpeechStarted);
        c.pending.clear(); // the media engine stopped it
        c.send(Input::BargedIn {
            id,
            played_ms: 1200,
        });
        c.hear("你是哪位", Intent::AskIdentity);
        c.finish_prompts();
        // Identity answer, then the greeting's question again, then listening.
        assert_eq!(c.played, ["greeting", "identity", "greeting"]);
        let b = &c.m.barge_ins()[0];
        assert_eq!((b.verdict, b.played_ms), (Interruption::Real, 1200));
        c.hear("不需要，谢谢", Intent::Deny);
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::NotInterested));
    }

    #[test]
    fn false_interruptions_resume_the_prompt() {
        // Noise after 500 ms: the prompt restarts.
        let mut c = Call::new(SCRIPT);
        let id = c.playing_id();
        c.send(Input::PromptStarted { id });
        c.pending.clear();
        c.send(Input::BargedIn { id, played_ms: 500 });
        let out = c.send(Input::Unintelligible);
        assert!(
            matches!(out[..], [Directive::Play { from_ms: 0, .. }]),
            "{out:?}"
        );
        assert_eq!(c.m.barge_ins()[0].verdict, Interruption::Noise);
        // A backchannel 2 s in: resume 400 ms before the cut.
        let id = c.playing_id();
        c.pending.clear();
        c.send(Input::BargedIn {
            id,
            played_ms: 2000,
        });
        let out = c.hear("嗯。", Intent::Affirm);
        assert!(
            matches!(
                out[..],
                [Directive::Play {
                    from_ms: 1600,
                    barge_in: true,
                    ..
                }]
            ),
            "{out:?}"
        );
        assert_eq!(c.m.barge_ins()[1].verdict, Interruption::Backchannel);
        // Our own prompt heard back: an echo, resumed from where the resumed prompt stopped.
        let id = c.playing_id();
        c.pending.clear();
        c.send(Input::BargedIn { id, played_ms: 500 });
        let out = c.hear("我是安心保险的客服小李", Intent::AskIdentity);
        assert!(
            matches!(out[..], [Directive::Play { from_ms: 1700, .. }]),
            "{out:?}"
        );
        assert_eq!(c.m.barge_ins()[2].verdict, Interruption::Echo);
        c.finish_prompts();
        assert_eq!(c.played, ["greeting", "greeting", "greeting", "greeting"]);
        assert!(!c.m.is_ended());
    }

    #[test]
    fn intent_mode_ignores_backchannels_and_stops_for_a_real_reply() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("可以", Intent::Affirm);
        // Only the disclosure plays out; then the offer (intent mode) is queued.
        let (id, _) = c.pending.remove(0);
        c.send(Input::PromptStarted { id });
        c.send(Input::PromptFinished { id });
        let (id, barge_in) = c
            .log
            .iter()
            .rev()
            .find_map(|d| match d {
                Directive::Play { id, barge_in, .. } => Some((*id, *barge_in)),
                _ => None,
            })
            .unwrap();
        assert_eq!(c.played.last().unwrap(), "intro");
        assert!(!barge_in, "intent mode: the media engine must not stop it");
        c.send(Input::PromptStarted { id });
        let out = c.hear("嗯嗯", Intent::Affirm);
        assert!(out.is_empty(), "{out:?}");
        let out = c.hear("多少钱", Intent::AskPrice);
        assert_eq!(out[0], Directive::Stop);
        assert_eq!(c.m.barge_ins()[0].mode, "intent");
        c.finish_prompts();
        assert_eq!(c.played.last().unwrap(), "price");
    }

    #[test]
    fn speech_over_a_disclosure_is_held_until_it_ends() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("可以", Intent::Affirm);
        let id = c.playing_id();
        c.send(Input::PromptStarted { id });
        let out = c.hear("别再给我打电话了", Intent::DncRequest);
        assert!(out.is_empty(), "the disclosure keeps playing: {out:?}");
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::Dnc));
        assert!(c.log.contains(&Directive::AddDnc));
        assert!(!c.played.contains(&"intro".to_string()));
    }

    #[test]
    fn no_input_retries_then_ends_politely() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.expire();
        c.finish_prompts();
        assert_eq!(c.played, ["greeting", "no_input", "greeting"]);
        c.expire();
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::NoResponse));
        assert_eq!(c.played.last().unwrap(), "bye");
    }

    #[test]
    fn stale_no_input_timers_are_ignored() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        let t = c.m.poll_timeout().unwrap();
        assert!(t < 120_000, "listening: the no-input deadline comes first");
        c.send(Input::SpeechStarted);
        // The callee is talking: no input no longer applies, a timeout at the old deadline
        // does nothing.
        assert_eq!(c.m.poll_timeout(), Some(120_100));
        c.t = t;
        assert!(c.send(Input::Timeout).is_empty());
        // Speech that came to nothing: listening again with a fresh deadline.
        c.send(Input::Unintelligible);
        assert!(c.m.poll_timeout().unwrap() > t);
    }

    #[test]
    fn no_match_retries_then_goes_to_the_no_match_target() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("你吃饭了吗", Intent::Other);
        c.finish_prompts();
        assert_eq!(c.played.last().unwrap(), "no_match");
        assert!(!c.m.is_ended());
        c.hear("今天天气挺好", Intent::Other);
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::NotInterested));
    }

    #[test]
    fn off_script_questions_are_answered_from_the_qa_corpus() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("理赔麻烦吗", Intent::Other);
        c.finish_prompts();
        assert_eq!(c.played, ["greeting", "qa_claim", "greeting"]);
        assert!(!c.m.is_ended());
        c.hear("好的可以", Intent::Affirm);
        c.finish_prompts();
        assert_eq!(c.played.last().unwrap(), "intro");
    }

    #[test]
    fn repeat_replays_the_node() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("你说什么", Intent::Repeat);
        c.finish_prompts();
        assert_eq!(c.played, ["greeting", "repeat", "greeting"]);
    }

    #[test]
    fn a_carrier_announcement_ends_the_call_with_its_disposition() {
        // A false answer: the announcement plays over the greeting; the model calls it
        // something else, the announcement grammar knows it.
        let mut c = Call::new(SCRIPT);
        let out = c.hear("您拨打的电话已关机，请稍后再拨。", Intent::Other);
        assert!(out.contains(&Directive::Stop), "{out:?}");
        assert_eq!(c.ended_with(), Some(Disposition::PoweredOff));
        assert_eq!(c.played, ["greeting"]);
        // Once the call is well under way, the same words are the callee's own.
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.t += ANNOUNCEMENT_WINDOW_MS;
        c.hear("您拨打的电话已关机", Intent::Other);
        assert_eq!(c.ended_with(), None);
        // A voicemail system's greeting follows the voicemail policy.
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear(
            "您好，机主暂时无法接听您的来电，请在提示音后留言。",
            Intent::Other,
        );
        c.finish_prompts();
        assert_eq!(c.played.last().unwrap(), "vm");
        assert_eq!(c.ended_with(), Some(Disposition::Voicemail));
    }

    #[test]
    fn early_media_is_heard_before_the_answer() {
        let ringing = || Call::ringing(SCRIPT);
        // The carrier plays its announcement as early media: the call ends with its
        // disposition before any answer, and nothing was said.
        let mut c = ringing();
        c.hear("您拨打的用户", Intent::Other);
        assert_eq!(c.ended_with(), None);
        c.hear("正忙，请稍后再拨", Intent::Other);
        assert_eq!(c.ended_with(), Some(Disposition::Busy));
        assert!(c.played.is_empty(), "{:?}", c.played);
        // A ringback tone's words, a mailbox-like line, DTMF or a failed decode before the
        // answer act on nothing; the answer then starts the script as usual.
        let mut c = ringing();
        c.hear("欢迎致电，机主请您在提示音后留言", Intent::Voicemail);
        c.hear("好的好的", Intent::Affirm);
        c.send(Input::Failed(Failure::Overloaded));
        c.send(Input::Dtmf('0'));
        assert!(c.log.is_empty(), "{:?}", c.log);
        assert_eq!(c.m.poll_timeout(), None);
        c.send(Input::Answered);
        assert_eq!(c.played, ["greeting"]);
        // Hung up unanswered: no disposition of the conversation's, the cause decides.
        let mut c = ringing();
        c.send(Input::CalleeHungUp);
        assert!(c.m.is_ended());
        assert_eq!(c.m.disposition(), None);
    }

    #[test]
    fn voicemail_leaves_a_message_or_hangs_up_by_setting() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("请在提示音后留言", Intent::Voicemail);
        c.finish_prompts();
        assert_eq!(c.played.last().unwrap(), "vm");
        assert_eq!(c.ended_with(), Some(Disposition::Voicemail));

        let hang_up = SCRIPT.replace(
            "on_timeout = \"bye\"",
            "on_timeout = \"bye\"\nvoicemail = \"hang_up\"",
        );
        let mut c = Call::new(&hang_up);
        c.finish_prompts();
        c.hear("请在提示音后留言", Intent::Voicemail);
        assert_eq!(c.ended_with(), Some(Disposition::Voicemail));
        assert_eq!(c.played, ["greeting"]);
    }

    #[test]
    fn a_voicemail_greeting_heard_over_a_closing_prompt_wins() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("我现在不方便接听", Intent::BusyCallback);
        let id = c.playing_id();
        c.send(Input::PromptStarted { id });
        c.hear("请在提示音后留言", Intent::Voicemail);
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::Voicemail));
        assert_eq!(c.played, ["greeting", "callback", "vm"]);
    }

    #[test]
    fn recogniser_failures_reprompt_once_then_end_politely() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.send(Input::Failed(Failure::Overloaded));
        c.finish_prompts();
        assert_eq!(c.played.last().unwrap(), "no_match");
        c.send(Input::Failed(Failure::Overloaded));
        c.finish_prompts();
        assert_eq!(c.played.last().unwrap(), "error");
        assert_eq!(c.ended_with(), Some(Disposition::Failed));
    }

    #[test]
    fn maximum_call_length_ends_the_call() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.t = 120_100;
        c.send(Input::Timeout);
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::NotInterested));
    }

    #[test]
    fn dtmf_zero_transfers_and_other_keys_are_ignored() {
        let mut c = Call::new(SCRIPT);
        assert!(c.send(Input::Dtmf('5')).is_empty());
        let out = c.send(Input::Dtmf('0'));
        assert_eq!(out[0], Directive::Stop);
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::Transferred));
    }

    #[test]
    fn negative_sentiment_and_complaints_go_to_a_human() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        let mut r = Reply::intent("你们这服务太差了", Intent::Other, 0.5);
        r.sentiment = -0.9;
        c.send(Input::Heard(r));
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::Transferred));

        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("我要投诉你们", Intent::Complaint);
        c.finish_prompts();
        assert!(c.log.contains(&Directive::Transfer {
            queue: "service".into(),
            skills: vec![]
        }));
    }

    #[test]
    fn wrong_person_and_callee_hangup_dispositions() {
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("你打错了", Intent::WrongPerson);
        c.finish_prompts();
        assert_eq!(c.ended_with(), Some(Disposition::WrongNumber));

        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("可以", Intent::Affirm);
        c.send(Input::CalleeHungUp);
        assert_eq!(c.m.disposition(), Some(Disposition::CalleeHangup));
        assert!(c.m.is_ended());
        assert_eq!(c.m.poll_timeout(), None);
        assert!(c.send(Input::Timeout).is_empty());
    }

    #[test]
    fn a_node_that_confirms_turns_yes_into_what_it_confirms() {
        // The greeting becomes "您的意思是以后不要再打了，是吗？": a bare yes is a DNC request.
        let text = SCRIPT.replace(
            "[nodes.greeting]\nsay = [\"greeting\"]\n",
            "[nodes.greeting]\nsay = [\"greeting\"]\nconfirms = \"dnc_request\"\n",
        );
        let mut c = Call::new(&text);
        c.finish_prompts();
        c.hear("是的", Intent::Affirm);
        c.finish_prompts();
        assert!(c.log.contains(&Directive::AddDnc));
        assert_eq!(c.ended_with(), Some(Disposition::Dnc));
        assert!(c
            .m
            .decisions()
            .iter()
            .any(|d| d.what.contains("is dnc_request here")));
        // Without the declaration the same yes goes on to the disclosure.
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.hear("是的", Intent::Affirm);
        assert_eq!(c.m.current_node(), "disclosure");
    }

    #[test]
    fn a_node_s_expected_intents_settle_a_close_call() {
        let text = SCRIPT.replace(
            "on = { affirm = \"disclosure\", ask_price = \"price\", deny = \"bye\" }",
            "on = { affirm = \"disclosure\", ask_price = \"price\", deny = \"bye\" }\n\
             expects = [\"ask_price\"]",
        );
        let mut probs = [0.0; 15];
        probs[Intent::BusyCallback.index()] = 0.45;
        probs[Intent::AskPrice.index()] = 0.4;
        let mut r = Reply::intent("那个钱的事", Intent::BusyCallback, 0.45);
        r.probs = Some(probs);
        let mut c = Call::new(&text);
        c.finish_prompts();
        c.send(Input::Heard(r.clone()));
        assert_eq!(c.m.current_node(), "price");
        // The same answer where nothing is expected: the callback handler.
        let mut c = Call::new(SCRIPT);
        c.finish_prompts();
        c.send(Input::Heard(r));
        assert_eq!(c.m.current_node(), "callback");
    }
}
