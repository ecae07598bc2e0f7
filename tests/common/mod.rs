//! What the integration tests share. Each test binary includes this with `mod common;`.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

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
