//! `aicall intent`, `aicall train intent` and `aicall eval intent`: thin wrappers over
//! [`aicall::nlu`] that read files and flags, print reports and turn errors into messages.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::{Args, Subcommand};

use aicall::nlu::{corpus, eval, train, Intent, IntentModel, Utterance};

/// Where the committed model lives, relative to the repository root.
pub const DEFAULT_MODEL_DIR: &str = "models/intent";
pub const DEFAULT_CORPUS: &str = "models/corpus/train.tsv";
pub const DEFAULT_HELDOUT: &str = "models/corpus/heldout.tsv";
/// The hand-written evaluation sets, never trained on.
pub const DEFAULT_EVAL_DIR: &str = "models/corpus/eval";
/// Where accepted floor corrections are kept for the next retraining.
pub const DEFAULT_FLOOR: &str = "models/corpus/floor.tsv";

#[derive(Debug, Args)]
pub struct IntentArgs {
    /// The callee's reply (an ASR transcript).
    pub text: String,
    /// The bot's last prompt, which decides what short replies mean.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Local hour of the call (0-23); defaults to the hour of --now.
    #[arg(long)]
    pub hour: Option<u8>,
    /// Call time (RFC 3339) to resolve callback times against; defaults to the clock.
    #[arg(long)]
    pub now: Option<String>,
    /// The callee's time zone (IANA name).
    #[arg(long, default_value = "Asia/Shanghai")]
    pub tz: String,
    #[command(flatten)]
    pub model: ModelDir,
}

#[derive(Debug, Args)]
pub struct ModelDir {
    /// Directory with manifest.json and model.safetensors.
    #[arg(long = "model", env = "AICALL_INTENT_MODEL", default_value = DEFAULT_MODEL_DIR)]
    pub dir: PathBuf,
}

/// What `aicall train` can train. Other models (lead scoring) are meant to join this enum.
#[derive(Debug, Subcommand)]
pub enum TrainTarget {
    /// Train the intent model from the corpus, or fine-tune it on new labelled replies.
    Intent(TrainIntentArgs),
}

#[derive(Debug, Args)]
pub struct TrainIntentArgs {
    /// Training corpus (TSV: prompt, text, label).
    #[arg(long, default_value = DEFAULT_CORPUS)]
    pub corpus: PathBuf,
    /// Held-out file evaluated (never trained on) for the report; skipped when missing.
    #[arg(long, default_value = DEFAULT_HELDOUT)]
    pub heldout: PathBuf,
    /// Fine-tune the model in --out on these newly labelled replies instead of training anew.
    #[arg(long)]
    pub incremental: Option<PathBuf>,
    /// Model directory written (and, with --incremental and no --base, the model fine-tuned).
    #[arg(long, default_value = DEFAULT_MODEL_DIR)]
    pub out: PathBuf,
    /// With --incremental or --review: the model to start from, when it is not the one in
    /// --out.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Review supervisor corrections (TSV with a header: call, prompt, text, label, who):
    /// prints what each would change, fine-tunes on the accepted ones and prints accuracy on
    /// the fixed evaluation sets before and after. Writes nothing without --accept.
    #[arg(long, conflicts_with = "incremental")]
    pub review: Option<PathBuf>,
    /// With --review: write the fine-tuned model to --out and keep the accepted corrections
    /// in --floor, unless a fixed set lost more than --max-drop.
    #[arg(long, requires = "review")]
    pub accept: bool,
    /// With --review: the largest accuracy drop on any fixed evaluation set that --accept
    /// tolerates.
    #[arg(long, default_value_t = 0.01)]
    pub max_drop: f64,
    /// With --review --accept: the file accepted corrections are appended to (the corpus
    /// generator includes it in the next retraining).
    #[arg(long, default_value = DEFAULT_FLOOR)]
    pub floor: PathBuf,
    /// Folder of the fixed evaluation sets (*.tsv) --review guards.
    #[arg(long, default_value = DEFAULT_EVAL_DIR)]
    pub eval_dir: PathBuf,
    #[arg(long, default_value_t = 20261123)]
    pub seed: u64,
    #[arg(long)]
    pub max_epochs: Option<usize>,
    /// Width of the model (default 64).
    #[arg(long)]
    pub d_model: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Only (re)fit the encoder head of the model in --out: embed the corpus with the
    /// pretrained sentence encoder, train the head, pick its mixing weight on the development
    /// sets (--eval-dir/dev-*.tsv). A full training run does this too when the encoder is
    /// there (scripts/setup fetches it).
    #[arg(long, conflicts_with_all = ["incremental", "review"])]
    pub head_only: bool,
    /// Train the transformer without an encoder head.
    #[arg(long, conflicts_with = "head_only")]
    pub no_head: bool,
}

/// What `aicall eval` can evaluate.
#[derive(Debug, Subcommand)]
pub enum EvalTarget {
    /// Score the intent model on a labelled TSV file.
    Intent(EvalIntentArgs),
}

#[derive(Debug, Args)]
pub struct EvalIntentArgs {
    /// `text<TAB>label` or `prompt<TAB>text<TAB>label` lines, or a header naming the columns
    /// (source, prompt, text, label, hour, audio, confirms, denies): figures are then given
    /// per source too.
    pub file: PathBuf,
    /// Ignore the prompts and declarations (measures the model without context).
    #[arg(long)]
    pub no_context: bool,
    /// Ignore the `confirms`/`denies` columns (what a script node declares a yes or a no to
    /// its prompt means): the prompt alone decides, read by the model and by aicall's reading
    /// of the question.
    #[arg(long)]
    pub no_declared: bool,
    /// Do not read what the prompt's question asks (what a yes or a no means there): the model
    /// and the declarations alone decide, as before aicall read questions.
    #[arg(long)]
    pub no_question: bool,
    /// The transformer alone: without the encoder head's probabilities (measures its share).
    #[arg(long)]
    pub no_head: bool,
    /// Also list every misclassified line (before the report).
    #[arg(long)]
    pub errors: bool,
    /// Spoken evaluation: recognise each line's `audio` (a WAV, relative to FILE) with
    /// aicall's recogniser (the `[asr]` section of ./aicall.toml, else the defaults) and
    /// classify the transcript instead of the text; also prints the character error rate.
    #[arg(long)]
    pub transcribe: bool,
    /// With --transcribe: language of the speech (zh, en or auto).
    #[arg(long, default_value = "zh")]
    pub lang: aicall::asr::Language,
    /// With --transcribe: write the transcripts as labelled rows (source asr) to this file.
    #[arg(long, requires = "transcribe")]
    pub write_transcripts: Option<PathBuf>,
    /// With --write-transcripts: keep only clips whose own character error rate is below
    /// this (0.6 keeps homophones and dropped particles, not clips heard as other words).
    #[arg(long, default_value_t = 0.6, requires = "write_transcripts")]
    pub max_cer: f64,
    #[command(flatten)]
    pub model: ModelDir,
}

fn load_model(dir: &Path) -> anyhow::Result<IntentModel> {
    IntentModel::load(dir)
        .with_context(|| format!("loading the intent model from {}", dir.display()))
}

pub fn intent(args: IntentArgs) -> anyhow::Result<ExitCode> {
    let tz: Tz = args
        .tz
        .parse()
        .map_err(|e| anyhow::anyhow!("--tz {:?} is not an IANA time zone: {e}", args.tz))?;
    let now = match &args.now {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| {
                format!("--now {s:?} is not an RFC 3339 time (2026-11-23T10:15:00+08:00)")
            })?
            .with_timezone(&tz),
        None => Utc::now().with_timezone(&tz),
    };
    if args.hour.is_some_and(|h| h > 23) {
        bail!("--hour must be 0..=23");
    }
    let model = load_model(&args.model.dir)?;
    let u = Utterance {
        text: &args.text,
        prompt: args.prompt.as_deref(),
        hour: args.hour,
        now: Some(now),
    };
    let r = model.classify(&u).context("understanding the reply")?;
    if r.truncated {
        eprintln!(
            "note: the reply is longer than the model reads; only its first {} tokens were used",
            model.manifest().config.max_len
        );
    }
    println!("label: {}", r.label);
    println!("confidence: {:.4}", r.confidence);
    if r.abstained {
        println!(
            "abstained: best guess {} is below the threshold {:.2}",
            r.top,
            model.manifest().abstain_below
        );
    }
    println!(
        "sentiment: {} ({:+.2})",
        r.sentiment.polarity.as_str(),
        r.sentiment.score
    );
    match &r.slots.callback {
        Some(c) => println!(
            "callback: {}{}",
            c.at.format("%Y-%m-%d %H:%M %Z"),
            if c.precise { "" } else { " (approximate)" }
        ),
        None => println!("callback: none"),
    }
    let amounts: Vec<String> = r
        .slots
        .amounts
        .iter()
        .map(|a| format!("{} ({})", a.value, a.text))
        .collect();
    println!(
        "amounts: {}",
        if amounts.is_empty() {
            "none".into()
        } else {
            amounts.join(", ")
        }
    );
    println!(
        "keywords: {}",
        if r.keywords.is_empty() {
            "none".into()
        } else {
            r.keywords.join(", ")
        }
    );
    let mut ranked: Vec<(Intent, f32)> = Intent::ALL.iter().copied().zip(r.probs).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<String> = ranked
        .iter()
        .take(3)
        .map(|(l, p)| format!("{l} {p:.3}"))
        .collect();
    println!("top: {}", top.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// Options of a fine-tuning run (--incremental, --review) from a base model.
fn fine_tune_options(args: &TrainIntentArgs, base: &IntentModel) -> train::TrainOptions {
    train::TrainOptions {
        learning_rate: 5e-4,
        max_epochs: args.max_epochs.unwrap_or(8),
        patience: 3,
        progress: !args.quiet,
        d_model: args.d_model,
        seed: base
            .manifest()
            .metrics
            .get("seed")
            .and_then(|s| s.as_u64())
            .unwrap_or(args.seed),
        ..Default::default()
    }
}

/// The fixed evaluation sets: the held-out file and every TSV of the evaluation folder.
fn fixed_sets(args: &TrainIntentArgs) -> anyhow::Result<Vec<(String, Vec<corpus::Example>)>> {
    let mut paths = vec![args.heldout.clone()];
    if let Ok(dir) = std::fs::read_dir(&args.eval_dir) {
        let mut found: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tsv"))
            .collect();
        found.sort();
        paths.extend(found);
    }
    let mut sets = Vec::new();
    for p in paths.into_iter().filter(|p| p.is_file()) {
        let name = p
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let set = corpus::load(&p).with_context(|| format!("reading {}", p.display()))?;
        sets.push((name, set));
    }
    Ok(sets)
}

fn review_cmd(args: &TrainIntentArgs, file: &Path) -> anyhow::Result<ExitCode> {
    use aicall::nlu::review;

    let corrections = corpus::load(file).context("reading the corrections")?;
    if corrections.is_empty() {
        bail!("{} has no corrections", file.display());
    }
    let base = load_model(args.base.as_deref().unwrap_or(&args.out))?;
    let fixed = fixed_sets(args)?;
    let reviewed = review::review(&base, &corrections, &fixed);
    for r in &reviewed {
        println!("{r}");
    }
    let accepted = review::accepted(&reviewed);
    let changes = reviewed
        .iter()
        .filter(|r| matches!(r.verdict, review::Verdict::Change { .. }))
        .count();
    println!(
        "{} corrections: {} accepted ({changes} change the model's answer), {} refused",
        reviewed.len(),
        accepted.len(),
        reviewed
            .iter()
            .filter(|r| !r.verdict.accepted() && r.verdict != review::Verdict::Duplicate)
            .count()
    );
    if changes == 0 {
        println!("nothing to learn: the model already gives every accepted label");
        return Ok(ExitCode::SUCCESS);
    }
    let examples = corpus::load(&args.corpus).context("reading the training corpus")?;
    let opts = fine_tune_options(args, &base);
    let (tuned, report) = train::fine_tune(&base, &examples, &accepted, &opts)?;
    println!("{report}");
    let guards = review::guard(&base, &tuned, &fixed);
    println!("fixed evaluation sets, accuracy before -> after:");
    let mut forgot = false;
    for g in &guards {
        let flag = if g.forgot(args.max_drop) {
            forgot = true;
            "  FORGETS"
        } else {
            ""
        };
        println!(
            "  {:<22} n={:<4} {:.4} -> {:.4}{flag}",
            g.set, g.n, g.before, g.after
        );
    }
    if !args.accept {
        println!(
            "nothing written; rerun with --accept to write model v{} to {} and keep the {} \
             accepted corrections in {}",
            tuned.manifest().version,
            args.out.display(),
            accepted.len(),
            args.floor.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if forgot {
        bail!(
            "not accepted: a fixed evaluation set lost more than {:.3} (--max-drop); review the \
             corrections marked above, or raise --max-drop knowingly",
            args.max_drop
        );
    }
    let mut tuned = tuned;
    let mut metrics = base.manifest().metrics.clone();
    if let Some(m) = metrics.as_object_mut() {
        m.insert(
            format!("floor_v{}", tuned.manifest().version),
            serde_json::json!({
                "file": file.display().to_string(),
                "accepted": accepted.len(),
                "fixed_sets": guards.iter().map(|g| serde_json::json!({
                    "set": g.set, "before": round4(g.before), "after": round4(g.after),
                })).collect::<Vec<_>>(),
            }),
        );
    }
    tuned.set_metrics(metrics);
    tuned
        .save(&args.out)
        .with_context(|| format!("writing the model to {}", args.out.display()))?;
    let mut kept = if args.floor.is_file() {
        corpus::load(&args.floor).context("reading the floor file")?
    } else {
        Vec::new()
    };
    kept.extend(accepted.iter().cloned());
    std::fs::write(&args.floor, corpus::to_tsv(&kept))
        .with_context(|| format!("writing {}", args.floor.display()))?;
    println!(
        "model v{} written to {}; {} corrections kept in {}",
        tuned.manifest().version,
        args.out.display(),
        accepted.len(),
        args.floor.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Fits the encoder head of `model` on `examples`, its weight on the development sets.
fn fit_head(
    args: &TrainIntentArgs,
    model: &mut IntentModel,
    examples: &[corpus::Example],
) -> anyhow::Result<()> {
    let path = aicall::nlu::infer::encoder_file(&args.out);
    let encoder = std::sync::Arc::new(
        aicall::nlu::encoder::SentenceEncoder::load(&path)
            .context("loading the sentence encoder")?,
    );
    let mut dev = Vec::new();
    let entries = match std::fs::read_dir(&args.eval_dir) {
        Ok(entries) => entries.collect::<Result<Vec<_>, _>>()?,
        Err(e) => {
            eprintln!(
                "encoder head: no development sets ({}: {e}); the head gets an even share",
                args.eval_dir.display()
            );
            Vec::new()
        }
    };
    for entry in entries {
        let path = entry.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("dev-") && name.ends_with(".tsv") {
            dev.extend(corpus::load(&path).with_context(|| format!("reading {}", path.display()))?);
        }
    }
    eprintln!(
        "encoder head: embedding {} examples and {} development rows with {}",
        examples.len(),
        dev.len(),
        path.display()
    );
    let report = train::train_head(
        model,
        encoder,
        examples,
        &dev,
        &aicall::nlu::head::HeadOptions {
            seed: args.seed,
            ..Default::default()
        },
    )?;
    println!("{report}");
    Ok(())
}

pub fn train_cmd(target: TrainTarget) -> anyhow::Result<ExitCode> {
    let TrainTarget::Intent(args) = target;
    if let Some(file) = &args.review {
        return review_cmd(&args, file);
    }
    let examples = corpus::load(&args.corpus).context("reading the training corpus")?;
    if args.head_only {
        let mut model = load_model(&args.out)?;
        fit_head(&args, &mut model, &examples)?;
        model
            .save(&args.out)
            .with_context(|| format!("writing the model to {}", args.out.display()))?;
        println!("encoder head written to {}", args.out.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut opts = train::TrainOptions {
        seed: args.seed,
        progress: !args.quiet,
        d_model: args.d_model,
        ..Default::default()
    };
    if let Some(e) = args.max_epochs {
        opts.max_epochs = e;
    }
    let heldout = if args.heldout.is_file() {
        Some(corpus::load(&args.heldout).context("reading the held-out file")?)
    } else {
        None
    };
    let model = match &args.incremental {
        None => {
            eprintln!(
                "training on {} ({} examples)",
                args.corpus.display(),
                examples.len()
            );
            let (model, report) = train::train(&examples, &opts)?;
            println!("{report}");
            let mut metrics = serde_json::json!({
                "corpus": args.corpus.display().to_string(),
                "seed": args.seed,
                "train_examples": report.train_examples,
                "val_examples": report.val_examples,
                "parameters": report.parameters,
                "epochs_run": report.epochs_run,
                "best_epoch": report.best_epoch,
                "train_seconds": (report.seconds * 10.0).round() / 10.0,
                "val_accuracy": round4(report.val.accuracy()),
                "val_macro_f1": round4(report.val.macro_f1()),
                "ece_before": round4(report.ece_before),
                "ece_after": round4(report.ece_after),
            });
            if let Some(h) = &heldout {
                add_heldout(&model, h, &mut metrics);
            }
            let mut model = model;
            model.set_metrics(metrics);
            let encoder = aicall::nlu::infer::encoder_file(&args.out);
            if args.no_head {
                eprintln!("no encoder head (--no-head)");
            } else if encoder.is_file() {
                fit_head(&args, &mut model, &examples)?;
            } else {
                eprintln!(
                    "no encoder head: {} is absent (scripts/setup fetches it)",
                    encoder.display()
                );
            }
            model
        }
        Some(new_path) => {
            let new = corpus::load(new_path).context("reading the new labelled replies")?;
            let base = load_model(args.base.as_deref().unwrap_or(&args.out))?;
            opts = fine_tune_options(&args, &base);
            eprintln!(
                "fine-tuning model v{} on {} ({} replies)",
                base.manifest().version,
                new_path.display(),
                new.len()
            );
            let (model, report) = train::fine_tune(&base, &examples, &new, &opts)?;
            println!("{report}");
            let mut metrics = base.manifest().metrics.clone();
            if let Some(m) = metrics.as_object_mut() {
                m.insert(
                    format!("incremental_v{}", model.manifest().version),
                    serde_json::json!({
                        "file": new_path.display().to_string(),
                        "new_examples": report.new_examples,
                        "base_val_before": round4(report.base_val_before),
                        "base_val_after": round4(report.base_val_after),
                        "new_before": round4(report.new_before),
                        "new_after": round4(report.new_after),
                    }),
                );
            }
            if let Some(h) = &heldout {
                add_heldout(&model, h, &mut metrics);
            }
            let mut model = model;
            model.set_metrics(metrics);
            model
        }
    };
    model
        .save(&args.out)
        .with_context(|| format!("writing the model to {}", args.out.display()))?;
    println!(
        "model v{} written to {}",
        model.manifest().version,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn add_heldout(model: &IntentModel, heldout: &[corpus::Example], metrics: &mut serde_json::Value) {
    let with = eval::evaluate(model, heldout, true);
    let without = eval::evaluate(model, heldout, false);
    println!("held-out with context:    {}", with.summary_line());
    println!("held-out without context: {}", without.summary_line());
    if let Some(m) = metrics.as_object_mut() {
        m.insert("heldout_accuracy".into(), round4(with.accuracy()).into());
        m.insert("heldout_macro_f1".into(), round4(with.macro_f1()).into());
        m.insert(
            "heldout_accuracy_no_context".into(),
            round4(without.accuracy()).into(),
        );
        m.insert("heldout_n".into(), with.n().into());
    }
}

pub fn eval_cmd(target: EvalTarget) -> anyhow::Result<ExitCode> {
    let EvalTarget::Intent(args) = target;
    let mut examples = corpus::load(&args.file).context("reading the evaluation file")?;
    if examples.is_empty() {
        bail!("{} has no labelled lines", args.file.display());
    }
    let mut model = load_model(&args.model.dir)?;
    if args.no_head {
        model.drop_head();
    }
    if args.no_declared {
        for e in &mut examples {
            e.meaning = Default::default();
        }
    }
    if args.transcribe {
        examples = transcribe_all(&args, examples)?;
    }
    let context = !args.no_context;
    let started = std::time::Instant::now();
    let predicted: Vec<Option<Intent>> = examples
        .iter()
        .map(|e| eval::predict_reading(&model, e, context, !args.no_question))
        .collect();
    let per_reply_us = started.elapsed().as_secs_f64() * 1e6 / examples.len() as f64;
    if args.errors {
        for (e, p) in examples.iter().zip(&predicted) {
            match p {
                Some(p) if *p != e.label => println!(
                    "error: [{}] {:?} after {:?}: expected {}, got {p}",
                    e.source, e.text, e.prompt, e.label
                ),
                Some(_) => {}
                None => println!("error: {:?}: nothing to classify", e.text),
            }
        }
    }
    let (per, report) = eval::by_source(examples.iter().zip(predicted));
    eprintln!("{per_reply_us:.0} µs per reply (mean, one thread)");
    println!("{report}");
    if per.iter().any(|(s, _)| s != eval::NO_SOURCE) {
        print!("{}", eval::source_lines(&per));
        println!("{}", report.summary_line());
    }
    Ok(ExitCode::SUCCESS)
}

/// Replaces each example's text by what the recogniser makes of its `audio`; prints the
/// character error rate against the written text, and writes the transcripts when asked.
fn transcribe_all(
    args: &EvalIntentArgs,
    examples: Vec<corpus::Example>,
) -> anyhow::Result<Vec<corpus::Example>> {
    use aicall::asr::eval::ErrorCount;
    use aicall::asr::{RecognizeOptions, Recognizer};

    let asr = aicall::config::Config::load(None)?.asr;
    let recogniser = asr.load().context("loading the recogniser")?;
    let mut engine = recogniser.engine();
    let hot: Vec<&str> = asr.hot_words.iter().map(String::as_str).collect();
    let mut options = RecognizeOptions::for_language(args.lang).with_hot_words(&hot);
    if args.lang != aicall::asr::Language::En {
        options.bias = asr.bias()?;
    }
    let base = args.file.parent().unwrap_or(Path::new("."));
    let (mut errors, mut out, mut empty) = (ErrorCount::default(), Vec::new(), 0usize);
    let total = examples.len();
    for (i, e) in examples.into_iter().enumerate() {
        if e.audio.is_empty() {
            bail!(
                "{}: the line for {:?} has no audio column; --transcribe needs one per line",
                args.file.display(),
                e.text
            );
        }
        let path = base.join(&e.audio);
        let samples = aicall::asr::wav::read_wav_16k(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let h = engine
            .recognize(&samples, &options)
            .with_context(|| format!("transcribing {}", path.display()))?;
        let clip = ErrorCount::cer(&e.text, &h.text);
        errors.add(clip);
        let clip_cer = clip.errors as f64 / clip.reference.max(1) as f64;
        if (i + 1) % 100 == 0 {
            eprintln!("transcribed {}/{total}", i + 1);
        }
        let text = h.text.trim().to_owned();
        if text.is_empty() {
            empty += 1;
        }
        out.push((corpus::Example { text, ..e }, clip_cer));
    }
    println!(
        "character error rate {:.1}% over {} clips ({} transcripts empty)",
        errors.rate(),
        out.len(),
        empty
    );
    // An empty transcript cannot be classified: it is counted as an error, as on a call the
    // turn would be lost. Kept out of the training rows.
    let (heard, silent): (Vec<_>, Vec<_>) = out.into_iter().partition(|(e, _)| !e.text.is_empty());
    if let Some(path) = &args.write_transcripts {
        let rows: Vec<corpus::Example> = heard
            .iter()
            .filter(|(_, cer)| *cer < args.max_cer)
            .map(|(e, _)| corpus::Example {
                source: "asr".into(),
                audio: String::new(),
                hour: None,
                ..e.clone()
            })
            .collect();
        std::fs::write(path, corpus::to_tsv(&rows))
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "{} transcripts (clip CER below {}) written to {}",
            rows.len(),
            args.max_cer,
            path.display()
        );
    }
    let mut all: Vec<corpus::Example> = heard.into_iter().map(|(e, _)| e).collect();
    all.extend(silent.into_iter().map(|(e, _)| corpus::Example {
        text: "\u{2205}".into(),
        ..e
    }));
    Ok(all)
}
