//! Accuracy and latency measurement for the recogniser: character and word error rates,
//! percentiles, the speech fixture sets in `../shared/data/speech/` (recorded human speech and
//! synthesised callee replies, 16 kHz and telephone band), and the `aicall asr-bench` run whose
//! last line is `rtf=X p50_ms_2s=X p95_ms_2s=X concurrent=N`. Depends on the rest of `asr`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::bias::PhraseBias;
use super::engine::AsrModel;
use super::normalize::to_simplified;
use super::pool::{DecodePool, PoolConfig};
use super::recognizer::{Language, RecognizeOptions, Recognizer};
use super::wav::{read_wav_16k, AudioError};
use super::whisper::AsrError;

/// Why a measurement run failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Asr(#[from] AsrError),
    #[error("decode pool: {0}")]
    Pool(String),
    #[error("no clips found under {0}")]
    NoClips(PathBuf),
    #[error("{0}")]
    Format(String),
}

/// Levenshtein distance between two sequences.
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(x != y);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Characters that count for CER: simplified, lower-cased letters and digits, no punctuation
/// or spaces.
pub fn cer_units(text: &str) -> Vec<char> {
    to_simplified(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Words that count for WER: lower-cased, punctuation other than apostrophes removed.
pub fn wer_units(text: &str) -> Vec<String> {
    text.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Errors and reference length for one clip, summed over a set to get a rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCount {
    pub errors: usize,
    pub reference: usize,
}

impl ErrorCount {
    pub fn cer(reference: &str, hypothesis: &str) -> Self {
        let r = cer_units(reference);
        Self {
            errors: edit_distance(&r, &cer_units(hypothesis)),
            reference: r.len(),
        }
    }

    pub fn wer(reference: &str, hypothesis: &str) -> Self {
        let r = wer_units(reference);
        Self {
            errors: edit_distance(&r, &wer_units(hypothesis)),
            reference: r.len(),
        }
    }

    pub fn add(&mut self, other: Self) {
        self.errors += other.errors;
        self.reference += other.reference;
    }

    /// Error rate in percent.
    pub fn rate(&self) -> f64 {
        100.0 * self.errors as f64 / self.reference.max(1) as f64
    }
}

/// Nearest-rank percentile of `values` (unsorted); 0 for an empty slice.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// One fixture clip with its reference text.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub path: PathBuf,
    pub text: String,
    pub language: Language,
    /// Intent label for callee replies (`backchannel` = 嗯/对-style clips).
    pub label: String,
}

fn read_tsv(path: &Path) -> Result<Vec<Vec<String>>, EvalError> {
    let body = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(body
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect())
}

/// The recorded human speech: `recorded/transcripts.tsv`, audio from `recorded/16k` or `8k`.
pub fn recorded_clips(speech_dir: &Path, telephone: bool) -> Result<Vec<Clip>, EvalError> {
    let base = speech_dir.join("recorded");
    let audio = base.join(if telephone { "8k" } else { "16k" });
    let rows = read_tsv(&base.join("transcripts.tsv"))?;
    let clips: Vec<Clip> = rows
        .into_iter()
        .filter(|r| r.len() >= 2)
        .map(|r| Clip {
            path: audio.join(&r[0]),
            language: if r[0].starts_with("en") {
                Language::En
            } else {
                Language::Zh
            },
            text: r[1].clone(),
            label: "recorded".into(),
        })
        .collect();
    if clips.is_empty() {
        return Err(EvalError::NoClips(base));
    }
    Ok(clips)
}

/// The synthesised callee replies (`callee/index.tsv`), 16 kHz or the `8k/` copies.
pub fn callee_clips(speech_dir: &Path, telephone: bool) -> Result<Vec<Clip>, EvalError> {
    let base = speech_dir.join("callee");
    let audio = if telephone {
        base.join("8k")
    } else {
        base.clone()
    };
    let rows = read_tsv(&base.join("index.tsv"))?;
    let clips: Vec<Clip> = rows
        .into_iter()
        .filter(|r| r.len() >= 4)
        .map(|r| Clip {
            path: audio.join(&r[0]),
            // A few replies of every label are English: scored as English (WER), decoded
            // as English, as a campaign in English would.
            language: if r[3].chars().any(is_han) {
                Language::Zh
            } else {
                Language::En
            },
            text: r[3].clone(),
            label: r[2].clone(),
        })
        .collect();
    if clips.is_empty() {
        return Err(EvalError::NoClips(base));
    }
    Ok(clips)
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

/// Every `step`-th element, so a limited run still covers all labels and voices.
pub fn spread<T: Clone>(items: &[T], limit: usize) -> Vec<T> {
    if limit == 0 || items.len() <= limit {
        return items.to_vec();
    }
    (0..limit)
        .map(|i| items[i * items.len() / limit].clone())
        .collect()
}

/// Accuracy over one clip set.
#[derive(Debug, Clone, Default)]
pub struct SetScore {
    pub name: String,
    pub errors: ErrorCount,
    pub clips: usize,
    pub audio_s: f64,
    pub decode_s: f64,
    /// Clips whose hypothesis was empty although the reference is not.
    pub empty: usize,
    /// Labelled clips (callee replies) whose transcript the intent judge classified, and how
    /// many of them right.
    pub intent_n: usize,
    pub intent_right: usize,
}

impl SetScore {
    /// Scores one clip's transcript: CER for Mandarin, WER for English; spoken intent for a
    /// labelled reply when there is a judge.
    fn add(
        &mut self,
        clip: &Clip,
        text: &str,
        audio_s: f64,
        decode_s: f64,
        judge: Option<&IntentJudge>,
    ) {
        self.errors.add(match clip.language {
            Language::En => ErrorCount::wer(&clip.text, text),
            _ => ErrorCount::cer(&clip.text, text),
        });
        self.clips += 1;
        self.audio_s += audio_s;
        self.decode_s += decode_s;
        self.empty += usize::from(text.is_empty());
        if let Some(judge) =
            judge.filter(|_| !matches!(clip.label.as_str(), "recorded" | "backchannel"))
        {
            self.intent_n += 1;
            self.intent_right +=
                usize::from((judge.0)(text).as_deref() == Some(clip.label.as_str()));
        }
    }
}

fn verbose_line(clip: &Clip, text: &str, decode_ms: u64) -> String {
    let e = match clip.language {
        Language::En => ErrorCount::wer(&clip.text, text),
        _ => ErrorCount::cer(&clip.text, text),
    };
    format!(
        "{}\t{:.0}%\t{decode_ms}ms\t{} | {text}",
        clip.path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into()),
        100.0 * e.errors as f64 / e.reference.max(1) as f64,
        clip.text,
    )
}

/// Another recogniser's transcripts of the same clips (`scripts/asr-reference-faster-whisper.py
/// --write FILE`), scored beside aicall's: a TSV of `clip` (its path under the speech folder),
/// `decode_ms` and `text`.
#[derive(Debug, Clone, Default)]
pub struct Reference {
    /// What produced them, for the rows' names (the file's `# engine: …` line).
    pub engine: String,
    by_clip: HashMap<PathBuf, (u64, String)>,
}

impl Reference {
    /// Reads a reference file; a line without three columns is an error naming it.
    pub fn read(path: &Path) -> Result<Reference, EvalError> {
        let body = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut r = Reference {
            engine: "reference".into(),
            ..Default::default()
        };
        for (n, line) in body.lines().enumerate() {
            if let Some(engine) = line.strip_prefix("# engine:") {
                r.engine = engine.trim().to_string();
                continue;
            }
            if line.trim().is_empty() || line.starts_with('#') || line.starts_with("clip\t") {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let (Some(clip), Some(ms), Some(text)) = (cols.first(), cols.get(1), cols.get(2))
            else {
                return Err(EvalError::Format(format!(
                    "{}:{}: expected clip<TAB>decode_ms<TAB>text",
                    path.display(),
                    n + 1
                )));
            };
            let ms = ms.trim().parse().map_err(|_| {
                EvalError::Format(format!(
                    "{}:{}: decode_ms {ms:?} is not a number of milliseconds",
                    path.display(),
                    n + 1
                ))
            })?;
            r.by_clip
                .insert(PathBuf::from(clip.trim()), (ms, text.trim().to_string()));
        }
        Ok(r)
    }

    /// Scores the reference's transcripts of `clips` (paths under `speech_dir`); `None` when
    /// it lacks one of them, since a partial set would not compare.
    pub fn score(
        &self,
        speech_dir: &Path,
        name: &str,
        clips: &[Clip],
        judge: Option<&IntentJudge>,
    ) -> Option<SetScore> {
        let mut score = SetScore {
            name: name.to_string(),
            ..Default::default()
        };
        for clip in clips {
            let rel = clip.path.strip_prefix(speech_dir).unwrap_or(&clip.path);
            let (ms, text) = self.by_clip.get(rel)?;
            let audio_s = read_wav_16k(&clip.path).map_or(0.0, |a| a.len() as f64 / 16_000.0);
            score.add(clip, text, audio_s, *ms as f64 / 1000.0, judge);
        }
        Some(score)
    }
}

/// What a transcript means, for spoken-intent accuracy: the intent model, passed in by the
/// caller (the recogniser knows nothing of intents).
#[derive(Clone)]
pub struct IntentJudge(pub std::sync::Arc<JudgeFn>);

/// Transcript → intent label, `None` when it cannot tell.
pub type JudgeFn = dyn Fn(&str) -> Option<String> + Send + Sync;

impl std::fmt::Debug for IntentJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntentJudge")
    }
}

/// Recognises `clips` one by one and scores them (CER for Mandarin, WER for English).
pub fn score_set(
    engine: &mut impl Recognizer<Error = AsrError>,
    name: &str,
    clips: &[Clip],
    verbose: bool,
    bias: Option<&PhraseBias>,
    judge: Option<&IntentJudge>,
) -> Result<SetScore, EvalError> {
    let mut score = SetScore {
        name: name.to_string(),
        ..Default::default()
    };
    for clip in clips {
        let samples = read_wav_16k(&clip.path)?;
        let mut options = RecognizeOptions::for_language(clip.language);
        if clip.language == Language::Zh {
            options.bias = bias.cloned();
        }
        let h = engine.recognize(&samples, &options)?;
        if verbose {
            eprintln!("{name}\t{}", verbose_line(clip, &h.text, h.decode_ms));
        }
        score.add(
            clip,
            &h.text,
            samples.len() as f64 / 16_000.0,
            h.decode_ms as f64 / 1000.0,
            judge,
        );
    }
    Ok(score)
}

/// One set's row of the report.
fn write_row(out: &mut String, s: &SetScore) {
    let intent = if s.intent_n > 0 {
        format!(
            ", spoken intent {:.1}% ({} of {})",
            100.0 * s.intent_right as f64 / s.intent_n as f64,
            s.intent_right,
            s.intent_n
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{:<46} {:>6.1}%  ({} errors / {} units, {} clips, {} empty, {:.1} s audio, {:.1} s decode{intent})",
        s.name,
        s.errors.rate(),
        s.errors.errors,
        s.errors.reference,
        s.clips,
        s.empty,
        s.audio_s,
        s.decode_s
    );
}

/// Real speech of exactly `seconds`, built by concatenating recorded Mandarin clips.
pub fn speech_of_length(pool: &[Vec<f32>], seconds: f64, offset: usize) -> Vec<f32> {
    let want = (seconds * 16_000.0) as usize;
    let mut out = Vec::with_capacity(want);
    let mut i = offset;
    while out.len() < want && !pool.is_empty() {
        let clip = &pool[i % pool.len()];
        out.extend_from_slice(&clip[..clip.len().min(want - out.len())]);
        i += 1;
    }
    out
}

/// Options of a bench run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub speech_dir: PathBuf,
    /// Callee clips per rate (0 = all 283).
    pub callee_limit: usize,
    /// Latency repetitions per utterance length.
    pub latency_runs: usize,
    /// Accuracy only: skip the latency and concurrency runs (their figures print as 0).
    pub accuracy_only: bool,
    /// Latency only: skip the accuracy sets (the rtf then covers the latency runs).
    pub latency_only: bool,
    pub verbose: bool,
    /// Domain phrases: each accuracy set is scored without, then with them (`+bias` rows).
    pub bias: Option<PhraseBias>,
    /// Spoken intent: callee replies' transcripts classified and checked against their label.
    pub judge: Option<IntentJudge>,
    /// Another recogniser's transcripts of the same clips, scored after each set's rows.
    pub reference: Option<Reference>,
}

/// Runs the accuracy and latency measurements; returns the report, whose last line is the
/// machine-readable summary.
pub fn bench(model: &AsrModel, opts: &BenchOptions) -> Result<String, EvalError> {
    let mut engine = model.engine();
    let mut out = String::new();
    match model.whisper() {
        Some(whisper) => {
            let cfg = whisper.config();
            let _ = writeln!(
                out,
                "engine: whisper-base on candle, precision={} trim={} pad_ms={} recheck_below={} \
                 beam={} kernel_threads={}",
                cfg.precision,
                cfg.trim,
                cfg.pad_ms,
                if cfg.recheck_below.is_finite() {
                    cfg.recheck_below.to_string()
                } else {
                    "off".into()
                },
                cfg.beam,
                super::whisper::kernel_threads()
            );
        }
        None => {
            let _ = writeln!(out, "engine: {} (streaming)", model.name());
        }
    }
    let mut total_audio = 0.0;
    let mut total_decode = 0.0;
    let mut sets = Vec::new();
    for telephone in [false, true] {
        let band = if telephone { "8k" } else { "16k" };
        let recorded = recorded_clips(&opts.speech_dir, telephone)?;
        let (zh, en): (Vec<Clip>, Vec<Clip>) = recorded
            .into_iter()
            .partition(|c| c.language == Language::Zh);
        sets.push((format!("recorded zh {band} CER"), zh));
        sets.push((format!("recorded en {band} WER"), en));
        let callee = callee_clips(&opts.speech_dir, telephone)?;
        let (back, replies): (Vec<Clip>, Vec<Clip>) =
            callee.into_iter().partition(|c| c.label == "backchannel");
        let (replies, english): (Vec<Clip>, Vec<Clip>) = replies
            .into_iter()
            .partition(|c| c.language == Language::Zh);
        sets.push((
            format!("callee replies {band} CER"),
            spread(&replies, opts.callee_limit),
        ));
        sets.push((format!("callee replies en {band} WER"), english));
        sets.push((format!("callee backchannels {band} CER"), back));
    }
    if opts.latency_only {
        sets.clear();
    }
    for (name, clips) in &sets {
        let biased = opts
            .bias
            .as_ref()
            // Biasing is for Mandarin: an English set would only be scored twice the same.
            .filter(|_| clips.iter().any(|c| c.language != Language::En))
            .map(|b| (format!("{name} +bias"), b));
        let runs = std::iter::once((name.clone(), None)).chain(biased.map(|(n, b)| (n, Some(b))));
        let reference = opts.reference.as_ref().map(|r| {
            let row = format!("{name} {}", r.engine);
            match r.score(&opts.speech_dir, &row, clips, opts.judge.as_ref()) {
                Some(s) => Ok(s),
                None => Err(row),
            }
        });
        for (name, bias) in runs {
            let s = score_set(
                &mut engine,
                &name,
                clips,
                opts.verbose,
                bias,
                opts.judge.as_ref(),
            )?;
            if bias.is_none() {
                total_audio += s.audio_s;
                total_decode += s.decode_s;
            }
            write_row(&mut out, &s);
        }
        match reference {
            Some(Ok(s)) => write_row(&mut out, &s),
            Some(Err(row)) => {
                let _ = writeln!(out, "{row:<46}   (its file lacks some of these clips)");
            }
            None => {}
        }
    }

    let mut rtf = total_decode / total_audio.max(1e-9);
    if opts.accuracy_only {
        let _ = write!(out, "rtf={rtf:.3} p50_ms_2s=0 p95_ms_2s=0 concurrent=0");
        return Ok(out);
    }

    // Latency on real Mandarin speech cut to fixed lengths.
    let zh16: Vec<Vec<f32>> = recorded_clips(&opts.speech_dir, false)?
        .iter()
        .filter(|c| c.language == Language::Zh)
        .map(|c| read_wav_16k(&c.path))
        .collect::<Result<_, _>>()?;
    let options = RecognizeOptions::for_language(Language::Zh);
    let mut p50_2s = 0.0;
    let mut p95_2s = 0.0;
    let mut speech_2s = Vec::new();
    for secs in [1.0, 2.0, 3.0, 8.0] {
        let mut ms = Vec::new();
        for run in 0..opts.latency_runs {
            let audio = speech_of_length(&zh16, secs, run);
            let started = Instant::now();
            engine.recognize(&audio, &options)?;
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
            if opts.latency_only {
                total_audio += secs;
                total_decode += started.elapsed().as_secs_f64();
            }
            if secs == 2.0 {
                speech_2s.push(audio);
            }
        }
        let (p50, p95) = (percentile(&ms, 50.0), percentile(&ms, 95.0));
        let _ = writeln!(
            out,
            "latency {secs:.0} s utterance: p50 {p50:.0} ms, p95 {p95:.0} ms ({} runs, 1 thread)",
            ms.len()
        );
        if secs == 2.0 {
            (p50_2s, p95_2s) = (p50, p95);
        }
    }

    if opts.latency_only {
        rtf = total_decode / total_audio.max(1e-9);
    }

    // Concurrency: K callees finish a 2 s reply at the same instant; the largest K whose p95
    // latency (queue wait included) stays under 1 s on the shared pool.
    let pool = DecodePool::new(model, PoolConfig::default())
        .map_err(|e| EvalError::Pool(e.to_string()))?;
    let mut sustained = 0;
    for k in 1..=16usize {
        let mut lat = Vec::new();
        for round in 0..3 {
            let started = Instant::now();
            let tickets: Vec<_> = (0..k)
                .map(|i| {
                    let audio = speech_2s[(round * k + i) % speech_2s.len().max(1)].clone();
                    pool.try_submit(audio, options.clone())
                })
                .collect();
            for t in tickets {
                match t {
                    Ok(t) => {
                        t.wait_blocking()
                            .map_err(|e| EvalError::Pool(e.to_string()))?;
                        lat.push(started.elapsed().as_secs_f64() * 1000.0);
                    }
                    // A rejected segment counts as a miss.
                    Err(_) => lat.push(f64::INFINITY),
                }
            }
        }
        let p95 = percentile(&lat, 95.0);
        let _ = writeln!(
            out,
            "concurrency {k} callees: p95 {p95:.0} ms ({} workers)",
            pool.workers()
        );
        if p95 < 1000.0 {
            sustained = k;
        } else {
            break;
        }
    }
    let _ = write!(
        out,
        "rtf={rtf:.3} p50_ms_2s={p50_2s:.0} p95_ms_2s={p95_2s:.0} concurrent={sustained}"
    );
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_file_is_scored_on_the_same_clips_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ref.tsv");
        std::fs::write(
            &file,
            "# engine: faster-whisper int8\nclip\tdecode_ms\ttext\n\
             callee/a.wav\t120\t多少钱\ncallee/b.wav\t80\t\n",
        )
        .unwrap();
        let r = Reference::read(&file).unwrap();
        assert_eq!(r.engine, "faster-whisper int8");
        let clip = |name: &str, text: &str| Clip {
            path: dir.path().join("callee").join(name),
            text: text.into(),
            language: Language::Zh,
            label: "ask_price".into(),
        };
        let judge = IntentJudge(std::sync::Arc::new(|t: &str| {
            Some(
                if t.contains("钱") {
                    "ask_price"
                } else {
                    "other"
                }
                .to_string(),
            )
        }));
        let clips = [clip("a.wav", "多少钱啊"), clip("b.wav", "不用了")];
        let s = r.score(dir.path(), "set", &clips, Some(&judge)).unwrap();
        assert_eq!(
            (s.clips, s.empty, s.errors.errors, s.errors.reference),
            (2, 1, 4, 7)
        );
        assert_eq!((s.intent_right, s.intent_n), (1, 2));
        assert!((s.decode_s - 0.2).abs() < 1e-9);
        // A clip the file lacks: no partial score.
        assert!(r
            .score(dir.path(), "set", &[clip("c.wav", "喂")], None)
            .is_none());
        // A line without its three columns names its line.
        std::fs::write(&file, "clip\tdecode_ms\ttext\ncallee/a.wav\t12\n").unwrap();
        let err = Reference::read(&file).unwrap_err().to_string();
        assert!(err.contains("ref.tsv:2"), "{err}");
        std::fs::write(&file, "callee/a.wav\tfast\t好\n").unwrap();
        assert!(Reference::read(&file).is_err());
    }

    #[test]
    fn error_rates() {
        assert_eq!(edit_distance(&[1, 2, 3], &[1, 3]), 1);
        assert_eq!(edit_distance::<u8>(&[], &[1, 2]), 2);
        let e = ErrorCount::cer("欢迎大家来体验", "歡迎大家體驗。");
        assert_eq!((e.errors, e.reference), (1, 7));
        let w = ErrorCount::wer("And so, my fellow Americans", "and so my fellow american");
        assert_eq!((w.errors, w.reference), (1, 5));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 95.0), 5.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn spread_covers_the_whole_list() {
        let v: Vec<u32> = (0..10).collect();
        assert_eq!(spread(&v, 5), vec![0, 2, 4, 6, 8]);
        assert_eq!(spread(&v, 0).len(), 10);
    }
}
