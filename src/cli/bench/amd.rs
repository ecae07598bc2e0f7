//! `aicall bench amd`: carrier announcements, voicemail systems and people answering, through
//! what a call runs on the callee's audio: a telephone band (8 kHz), the media engine's VAD
//! and segmenter, aicall's recogniser, then the announcement grammar on each utterance of the
//! first 20 s. Prints per kind the share placed right, false detections on people, and the
//! time to decision (end of the deciding utterance plus its decode) from the start of the
//! audio. Last line: `detected=X false_detections=X person_clips=N decision_p50_ms=X
//! decision_p95_ms=X clips=N`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use aicall::asr::eval::{percentile, recorded_clips};
use aicall::asr::wav::{read_wav_16k, resample};
use aicall::asr::{Language, RecognizeOptions, Recognizer};
use aicall::media::vad::{Segmenter, WebRtcDetector};
use aicall::media::{VadConfig, VadEvent};
use aicall::nlu::announcement::{self, Announcement};

/// How long after the answer a call looks for an announcement (the call machine's window).
const WINDOW_MS: u64 = 20_000;

#[derive(Debug, Args)]
pub struct AmdArgs {
    /// The rendered clips: `amd/<kind>/*.wav` listed in `index.tsv` (scripts/setup renders
    /// tests/fixtures/speech.tsv there; scripts/render-amd-sets renders the other authors'
    /// sets into `.setup/amd-NAME`).
    #[arg(long, default_value = ".setup/test-speech")]
    pub speech_dir: PathBuf,
    /// Real people's recordings too (`recorded/transcripts.tsv` with `16k/`, as in the
    /// project's shared speech set): every one of them is a person, so any detection there is
    /// a false one.
    #[arg(long)]
    pub recorded: Option<PathBuf>,
    /// Print every clip's utterances and what they were taken for.
    #[arg(long, short)]
    pub verbose: bool,
    /// Decode without domain biasing (a call biases towards `[asr] bias_phrases`, and in its
    /// first seconds towards the carriers' and mailboxes' wordings too).
    #[arg(long)]
    pub no_bias: bool,
    /// Bias towards `[asr] bias_phrases` only, not the carriers' and mailboxes' wordings
    /// (what the first seconds of a call decoded with before them).
    #[arg(long, conflicts_with = "no_bias")]
    pub no_announcement_bias: bool,
    #[command(flatten)]
    pub engine: crate::cli::asr::EngineArgs,
}

/// What a clip is: an announcement of a kind, or a person.
type Truth = Option<Announcement>;

fn kind_of(dir: &str) -> Option<Truth> {
    Some(match dir {
        "powered_off" => Some(Announcement::PoweredOff),
        "vacant" => Some(Announcement::Vacant),
        "busy" => Some(Announcement::Busy),
        "unreachable" => Some(Announcement::Unreachable),
        "suspended" => Some(Announcement::Suspended),
        "voicemail" => Some(Announcement::Voicemail),
        "person" => None,
        _ => return None,
    })
}

pub fn run(config: Option<&Path>, args: AmdArgs) -> anyhow::Result<ExitCode> {
    let index = args.speech_dir.join("index.tsv");
    let body = std::fs::read_to_string(&index).with_context(|| {
        format!(
            "reading {}: run scripts/setup, which renders the set-up's clips \
             (.setup/test-speech), or scripts/render-amd-sets for the other authors' sets \
             (.setup/amd-NAME from tests/fixtures/amd-NAME.tsv)",
            index.display()
        )
    })?;
    let mut clips: Vec<(PathBuf, Truth, String)> = Vec::new();
    for line in body.lines().skip(1) {
        let file = line.split('\t').next().unwrap_or("");
        let mut parts = file.split('/');
        if parts.next() != Some("amd") {
            continue;
        }
        let Some(truth) = parts.next().and_then(kind_of) else {
            anyhow::bail!("{}: {file}: unknown kind (amd/<kind>/...)", index.display());
        };
        let label = truth.map_or("person", Announcement::as_str).to_string();
        clips.push((args.speech_dir.join(file), truth, label));
    }
    if clips.is_empty() {
        anyhow::bail!(
            "{}: no amd/ clips: run scripts/setup, which renders them",
            index.display()
        );
    }
    if let Some(dir) = &args.recorded {
        for c in recorded_clips(dir, false)? {
            clips.push((c.path, None, "person (recorded)".into()));
        }
    }
    let asr = args.engine.resolve(config)?;
    let model = asr.load()?;
    let mut engine = model.engine();
    // What a call decodes with.
    let mut options = RecognizeOptions::for_language(Language::Zh);
    if !args.no_bias {
        options.bias = asr.bias()?;
        if !args.no_announcement_bias {
            options.bias = options.bias.map(|b| b.with(announcement::BIAS_PHRASES));
        }
    }
    let vad = VadConfig::default();
    // kind -> (clips, placed right)
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut decisions_ms = Vec::new();
    let (mut person_clips, mut false_detections) = (0usize, 0usize);
    let (mut announcement_clips, mut detected) = (0usize, 0usize);
    for (path, truth, label) in &clips {
        let audio = read_wav_16k(path).with_context(|| format!("reading {}", path.display()))?;
        // The telephone band, then the media engine's 16 kHz analysis rate.
        let phone = resample(&resample(&audio, 16_000, 8_000), 8_000, 16_000);
        let mut pcm: Vec<i16> = phone
            .iter()
            .map(|s| (s * 32767.0).clamp(-32768.0, 32767.0) as i16)
            .collect();
        // A second of line silence after it, so that its last utterance ends.
        pcm.resize(pcm.len() + 16_000, 0);
        let mut detector = WebRtcDetector::new(&vad);
        let mut segmenter = Segmenter::new(&vad);
        let mut segments = Vec::new();
        detector.push(&pcm, |frame, voiced| {
            if let Some(VadEvent::End(seg)) = segmenter.push(frame, voiced) {
                segments.push(seg);
            }
        });
        segments.extend(segmenter.flush());
        let mut found = None;
        // As a call does: everything heard in the window so far, utterance by utterance.
        let mut heard = String::new();
        for seg in segments.iter().filter(|s| s.start_ms <= WINDOW_MS) {
            let samples: Vec<f32> = seg
                .samples
                .iter()
                .map(|&s| f32::from(s) / 32768.0)
                .collect();
            let h = engine
                .recognize(&samples, &options)
                .with_context(|| format!("recognising {}", path.display()))?;
            heard.push_str(&h.text);
            heard.push('\n');
            let placed = announcement::classify(&heard);
            if args.verbose {
                eprintln!(
                    "{label:<18} {} {:?} -> {}{}",
                    path.file_name().unwrap_or_default().to_string_lossy(),
                    h.text,
                    placed.map_or("-", Announcement::as_str),
                    h.suppressed
                        .map(|s| format!(" (suppressed: {s:?})"))
                        .unwrap_or_default()
                );
            }
            if let Some(a) = placed {
                found = Some((a, seg.end_ms + h.decode_ms));
                break;
            }
        }
        let e = tally.entry(label.clone()).or_default();
        e.0 += 1;
        match truth {
            Some(t) => {
                announcement_clips += 1;
                if let Some((a, ms)) = found {
                    decisions_ms.push(ms as f64);
                    if a == *t {
                        e.1 += 1;
                        detected += 1;
                    }
                }
            }
            None => {
                person_clips += 1;
                if found.is_some() {
                    false_detections += 1;
                } else {
                    e.1 += 1;
                }
            }
        }
    }
    println!("kind                 clips  placed right");
    for (label, (n, right)) in &tally {
        println!(
            "{label:<20} {n:>5}  {right:>5} ({:.1}%)",
            100.0 * *right as f64 / *n as f64
        );
    }
    // A people-only set (`amd-people`) has no announcement to detect or time: "n/a".
    let share = |a: usize, n: usize| {
        if n == 0 {
            "n/a".to_string()
        } else {
            format!("{:.4}", a as f64 / n as f64)
        }
    };
    let ms = |p: f64| {
        if decisions_ms.is_empty() {
            "n/a".to_string()
        } else {
            format!("{:.0}", percentile(&decisions_ms, p))
        }
    };
    println!(
        "detected={} false_detections={} person_clips={person_clips} decision_p50_ms={} \
         decision_p95_ms={} clips={} bias={}",
        share(detected, announcement_clips),
        share(false_detections, person_clips),
        ms(50.0),
        ms(95.0),
        clips.len(),
        if options.bias.is_some() { "on" } else { "off" }
    );
    Ok(ExitCode::SUCCESS)
}
