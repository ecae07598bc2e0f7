//! `aicall transcribe`, `aicall models import-whisper-ct2` and `aicall asr-bench`: thin
//! wrappers over [`aicall::asr`] that parse arguments, print results and turn errors into
//! messages naming the fix.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use aicall::asr::bias::PhraseBias;
use aicall::asr::config::{AsrConfig, EngineKind, Window};
use aicall::asr::eval::{bench, BenchOptions, IntentJudge};
use aicall::asr::wav::read_wav_16k;
use aicall::asr::whisper::DEFAULT_MODEL_DIR;
use aicall::asr::{ct2, Language, Precision, RecognizeOptions, Recognizer};
use aicall::config::Config;

/// Engine selection shared by `transcribe` and `bench asr`. Each flag overrides the `[asr]`
/// section of the configuration, which supplies everything not given.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Recogniser: whisper, or sherpa (a sherpa-onnx streaming model directory; needs the
    /// `sherpa` build feature) [default: [asr] engine, else whisper].
    #[arg(long, value_enum)]
    pub engine: Option<EngineKind>,
    /// Model directory: converted Whisper, or a sherpa-onnx streaming model
    /// [default: [asr] model_dir, else models/whisper-base].
    #[arg(long, env = "AICALL_WHISPER_DIR")]
    pub model_dir: Option<PathBuf>,
    /// Weight precision: f32, q8 (8-bit decoder) or q8-all (8-bit encoder too)
    /// [default: [asr] precision, else q8].
    #[arg(long)]
    pub precision: Option<Precision>,
    /// Feed the encoder a full 30 s window instead of the audio's length (slower; the same as
    /// [asr] window = "full").
    #[arg(long)]
    pub no_trim: bool,
    /// Silence appended after the audio when trimming, in ms [default: [asr] pad_ms, else 500].
    #[arg(long)]
    pub pad_ms: Option<u32>,
    /// Decode again on the full 30 s window when a reply-window transcript's average
    /// log-probability per token is below this (e.g. -0.4) [default: [asr] recheck_below,
    /// else never].
    #[arg(long, allow_hyphen_values = true)]
    pub recheck_below: Option<f32>,
    /// Beam width (1 = greedy); all beams share one batched decoder step
    /// [default: [asr] beam, else 1].
    #[arg(long)]
    pub beam: Option<usize>,
    /// Threads each decode's kernels may use (candle's pool). 1 = one decode per core, no
    /// spinning between threads; the decode pool runs one worker per core either way.
    /// An explicit CANDLE_NUM_THREADS in the environment wins [default: [asr] threads, else 1].
    #[arg(long)]
    pub threads: Option<usize>,
}

impl EngineArgs {
    /// The `[asr]` section with this command line's overrides applied.
    pub fn resolve(&self, config: Option<&Path>) -> anyhow::Result<AsrConfig> {
        let mut asr = Config::load(config)?.asr;
        if let Some(engine) = self.engine {
            asr.engine = engine;
        }
        if let Some(dir) = &self.model_dir {
            asr.model_dir = dir.clone();
        }
        if let Some(p) = self.precision {
            asr.precision = p.to_string();
        }
        if self.no_trim {
            asr.window = Window::Full;
        }
        if let Some(ms) = self.pad_ms {
            asr.pad_ms = ms;
        }
        if let Some(lp) = self.recheck_below {
            asr.recheck_below = Some(lp);
        }
        if let Some(beam) = self.beam {
            asr.beam = beam;
        }
        if let Some(threads) = self.threads {
            asr.threads = threads;
        }
        Ok(asr)
    }
}

/// `aicall transcribe FILE.wav [--lang zh|en|auto] [--json]`.
#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// WAV file (any rate, mono or stereo, 8–32-bit PCM or float).
    pub file: PathBuf,
    /// Language: zh, en or auto.
    #[arg(long, default_value = "auto")]
    pub lang: Language,
    /// Print JSON (text, language, segments, decode_ms, audio_ms, ...).
    #[arg(long)]
    pub json: bool,
    /// Initial prompt (default for zh: 以下是普通话的句子。).
    #[arg(long)]
    pub prompt: Option<String>,
    /// Hot words appended to the prompt (repeatable): product names, domain terms.
    #[arg(long = "hot-word")]
    pub hot_words: Vec<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn transcribe(config: Option<&Path>, args: &TranscribeArgs) -> anyhow::Result<ExitCode> {
    let samples = read_wav_16k(&args.file)?;
    let asr = args.engine.resolve(config)?;
    let model = asr.load()?;
    let mut engine = model.engine();
    let mut options = RecognizeOptions::for_language(args.lang);
    if let Some(p) = &args.prompt {
        options.initial_prompt = Some(p.clone());
    }
    // The campaign's hot words (from [asr]) and the command line's.
    let words: Vec<&str> = asr
        .hot_words
        .iter()
        .chain(&args.hot_words)
        .map(String::as_str)
        .collect();
    let mut options = options.with_hot_words(&words);
    if args.lang != Language::En {
        options.bias = asr.bias()?;
    }
    let h = engine
        .recognize(&samples, &options)
        .with_context(|| format!("transcribing {}", args.file.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&h)?);
    } else {
        println!("{}", h.text);
        eprintln!(
            "language={} audio_ms={} decode_ms={} confidence={:.2}{}",
            h.language.code().unwrap_or("auto"),
            h.audio_ms,
            h.decode_ms,
            h.confidence,
            h.suppressed
                .map(|s| format!(" suppressed={s:?}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `aicall models ...`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Convert a CTranslate2 Whisper checkpoint (config.json, model.bin or model.bin.part1 +
    /// part2, tokenizer.json) into the safetensors/GGUF directory aicall loads.
    ImportWhisperCt2 {
        /// Directory holding the CTranslate2 files.
        dir: PathBuf,
        /// Output directory.
        #[arg(long, default_value = DEFAULT_MODEL_DIR)]
        out: PathBuf,
    },
}

pub fn models(cmd: &ModelsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ModelsCommand::ImportWhisperCt2 { dir, out } => {
            let report = ct2::import(dir, out)?;
            println!(
                "wrote {} ({} tensors; {} encoder + {} decoder layers, d_model {}, vocab {})",
                report.out_dir.display(),
                report.tensors,
                report.dims.encoder_layers,
                report.dims.decoder_layers,
                report.dims.d_model,
                report.dims.vocab_size
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `aicall asr-bench`: accuracy and latency; the last line is
/// `rtf=X p50_ms_2s=X p95_ms_2s=X concurrent=N`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The speech sets to score: `recorded/` (real recordings: transcripts.tsv, 16k/, 8k/)
    /// and `callee/` (replies: index.tsv of file, voice, label, text; 8k/). The README's
    /// figures are for the project's shared speech set.
    #[arg(long)]
    pub speech_dir: PathBuf,
    /// Callee replies scored per rate (0 = all).
    #[arg(long, default_value_t = 60)]
    pub callee_limit: usize,
    /// Repetitions per utterance length for latency percentiles.
    #[arg(long, default_value_t = 10)]
    pub latency_runs: usize,
    /// Accuracy only: skip latency and concurrency (their figures print as 0).
    #[arg(long)]
    pub accuracy_only: bool,
    /// Latency only: skip the accuracy sets (the rtf then covers the latency runs).
    #[arg(long, conflicts_with = "accuracy_only")]
    pub latency_only: bool,
    /// Print every clip's reference and hypothesis to stderr.
    #[arg(long, short)]
    pub verbose: bool,
    /// Domain phrases (one a line, or the `text` column of a TSV with a header) instead of
    /// `[asr] bias_phrases` (the intent corpus by default): the Mandarin sets are scored
    /// without, then with them (`+bias` rows).
    #[arg(long)]
    pub bias: Option<PathBuf>,
    /// Logit bonus for a token that continues a begun phrase, with --bias.
    #[arg(long, default_value_t = 1.5)]
    pub bias_bonus: f32,
    /// Intent model to classify the callee replies' transcripts with (spoken-intent
    /// accuracy against their labels); `none` to skip.
    #[arg(long, default_value = "models/intent")]
    pub intent_model: PathBuf,
    /// Judge each reply as a call's first reply: the carrier-announcement grammar first (an
    /// announcement or a voicemail greeting is `voicemail`, as the call machine takes it in
    /// the answer's first 20 s), then the intent model.
    #[arg(long)]
    pub as_first_reply: bool,
    /// Another recogniser's transcripts of the same clips (TSV: clip, decode_ms, text; written
    /// by `scripts/asr-reference-faster-whisper.py CT2_DIR SPEECH_DIR --write FILE`), scored
    /// with the same CER and intent model after each set's rows.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn asr_bench(config: Option<&Path>, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let asr = args.engine.resolve(config)?;
    let model = asr.load()?;
    let report = bench(
        &model,
        &BenchOptions {
            speech_dir: args.speech_dir.clone(),
            callee_limit: args.callee_limit,
            latency_runs: args.latency_runs.max(1),
            accuracy_only: args.accuracy_only,
            latency_only: args.latency_only,
            verbose: args.verbose,
            bias: match &args.bias {
                Some(path) => Some(PhraseBias::new(
                    aicall::asr::bias::read_phrases(path)
                        .with_context(|| format!("reading phrases from {}", path.display()))?,
                    args.bias_bonus,
                )),
                // The [asr] section's phrases (the intent corpus by default).
                None => asr.bias()?,
            },
            judge: if args.intent_model.as_os_str() == "none" {
                None
            } else {
                let model = aicall::nlu::infer::IntentModel::load(&args.intent_model)
                    .with_context(|| {
                        format!(
                            "loading the intent model from {} (--intent-model none to skip)",
                            args.intent_model.display()
                        )
                    })?;
                let as_first_reply = args.as_first_reply;
                Some(IntentJudge(std::sync::Arc::new(move |text: &str| {
                    if as_first_reply && aicall::nlu::announcement::classify(text).is_some() {
                        return Some(aicall::nlu::Intent::Voicemail.as_str().to_string());
                    }
                    let u = aicall::nlu::infer::Utterance {
                        text,
                        prompt: None,
                        hour: None,
                        now: None,
                    };
                    model
                        .classify(&u)
                        .ok()
                        .map(|r| r.label.as_str().to_string())
                })))
            },
            reference: args
                .reference
                .as_deref()
                .map(aicall::asr::eval::Reference::read)
                .transpose()?,
        },
    )?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
