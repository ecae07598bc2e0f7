//! What the integration tests share. Each test binary includes this with `mod common;`.

#![allow(dead_code)]

pub mod bank;
pub mod serve;

use std::io::Write;
use std::path::{Path, PathBuf};

/// `../shared/data/<rel>` beside the checkout, when it is there.
///
/// The shared data — real people's recordings, the bank-marketing file, the ESL traces
/// recorded from a real FreeSWITCH — is not part of the repository, so a user's clone has
/// none of it. A test that needs what can exist nowhere else calls this: without the data it
/// prints why it skips, adds its name to `target/tmp/shared-data-skips.txt` (which
/// `scripts/test` lists at the end), and returns `None`. Under `CI=true` the data must be
/// there, and its absence fails the test instead of hiding it.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    if path.exists() {
        return Some(path);
    }
    let ci = std::env::var("CI").is_ok_and(|v| matches!(v.as_str(), "true" | "1"));
    assert!(
        !ci,
        "{} is missing and CI=true: the shared data must be present in CI",
        path.display()
    );
    // libtest names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_owned();
    let reason = format!("needs ../shared/data/{rel}, which only the project's own machines have");
    eprintln!("SKIPPED {test}: {reason}");
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shared-data-skips.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        let _ = writeln!(f, "{}::{test}: {reason}", env!("CARGO_CRATE_NAME"));
    }
    None
}

/// `.setup/<rel>` in the checkout: speech `scripts/setup` rendered (the demo's prompts and
/// callee replies in `speech/`, the tests' own clips in `test-speech/`).
///
/// Unlike the shared data, every machine has these once the set-up has run (it renders them
/// offline from PyPI packages, and `scripts/test` runs it first), so their absence fails the
/// test with the command to run instead of skipping it.
pub fn rendered(rel: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".setup")
        .join(rel);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup (it renders the speech the tests use)",
        path.display()
    );
    path
}

/// A rendered clip and the text it says.
#[derive(Debug, Clone)]
pub struct RenderedClip {
    pub path: PathBuf,
    pub text: String,
}

/// The clips of a rendered set (`.setup/<set>`, e.g. `speech`) whose file names start with
/// `prefix` (e.g. `prompts/`), from the `index.tsv` `scripts/render_speech.py` writes
/// (`file, voice, speed, text, seconds, key`), in its order.
pub fn rendered_clips(set: &str, prefix: &str) -> Vec<RenderedClip> {
    let dir = rendered(set);
    let index = dir.join("index.tsv");
    let body = std::fs::read_to_string(&index)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", index.display()));
    let clips: Vec<RenderedClip> = body
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            match cols[..] {
                [file, _voice, _speed, text, ..] if file.starts_with(prefix) => {
                    Some(RenderedClip {
                        path: dir.join(file),
                        text: text.to_owned(),
                    })
                }
                _ => None,
            }
        })
        .collect();
    assert!(
        !clips.is_empty(),
        "{} lists no {prefix}* clips (run scripts/setup)",
        index.display()
    );
    clips
}

/// One rendered clip by its file name in the set's index (e.g. `prompts/greeting.wav`).
pub fn rendered_clip(set: &str, file: &str) -> RenderedClip {
    rendered_clips(set, file)
        .into_iter()
        .find(|c| c.path.ends_with(file))
        .unwrap_or_else(|| panic!("{file} is not in .setup/{set}/index.tsv (run scripts/setup)"))
}

/// Writes one second of a `hz` sine at 8 kHz, peak `amplitude`, as a 16-bit WAV: a tone the
/// simulator plays (an agent's voice stand-in, a ringback, the recorded trace's tone).
pub fn write_sine(path: &Path, hz: f32, amplitude: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create tone");
    for i in 0..8000 {
        let v = (2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0).sin() * amplitude;
        w.write_sample(v as i16).expect("write tone");
    }
    w.finalize().expect("finish tone");
}
