//! `aicall serve` as a user runs it, for the tests that drive the real binary: the switch
//! simulator's callees, a campaign's files, the service started with every listener on a free
//! port, and its CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aicall::campaign::CampaignSettings;
use aicall::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch, Step};

/// The PII key the tests give `serve` (`AICALL_PII_KEY`).
pub const KEY: [u8; 32] = [7; 32];

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn say(file: &str) -> Step {
    let p = root().join(".setup/speech/callee").join(file);
    assert!(p.is_file(), "{} missing: run scripts/setup", p.display());
    Step::Say(p)
}

pub fn number(i: usize) -> String {
    format!("1390000{i:04}")
}

/// A callee who answers, hears the greeting start, declines, and waits for the goodbye.
pub fn decliner(n: &str, ring_ms: u64) -> Callee {
    Callee {
        number: Some(n.into()),
        name: None,
        outcome: Some(Outcome::Answer),
        ring_ms: Some(ring_ms),
        rate: Some(8000),
        script: vec![
            Step::WaitBotAudio(8000),
            Step::SilenceMs(800),
            say("deny.wav"),
            Step::SilenceMs(20_000),
        ],
        max_call_ms: Some(40_000),
        early: Vec::new(),
    }
}

pub async fn sim_with(callees: Vec<Callee>) -> SimSwitch {
    let mut scenarios = Scenarios::default();
    for c in callees {
        scenarios.insert(c);
    }
    SimSwitch::start(SimConfig {
        scenarios,
        record_audio: false,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Settings for a test campaign: all day, fast retries, the example's script.
pub fn settings_file(dir: &Path, concurrent: u32, max_attempts: u32) -> PathBuf {
    settings_with_dial(
        dir,
        concurrent,
        max_attempts,
        "sofia/gateway/${gateway}/${phone}",
    )
}

pub fn settings_with_dial(dir: &Path, concurrent: u32, max_attempts: u32, dial: &str) -> PathBuf {
    let text = format!(
        r#"
default_region = "CN"
max_attempts = {max_attempts}
[window]
days = [1, 2, 3, 4, 5, 6, 7]
ranges = [{{ start = "00:00", end = "24:00" }}]
[caps]
gray_per_week = 1
[retry]
busy_s = 0
no_answer_s = 0
network_failure_s = 0
cancelled_s = 0
unknown_s = 0
abandoned_s = 0
jitter_pct = 0
[pacing]
max_concurrent = {concurrent}
calls_per_s = 20.0
originate_timeout_s = 5
dial_template = "{dial}"
[[pacing.pools]]
name = "sim"
gateway = "sim"
capacity = 50
[call]
end_silence_ms = 400
"#
    );
    // The file must parse as the service will read it.
    toml::from_str::<CampaignSettings>(&text).expect("settings parse");
    let p = dir.join("campaign.toml");
    std::fs::write(&p, text).unwrap();
    p
}

pub fn contacts_file(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::from("phone,name\n");
    for i in 0..n {
        text.push_str(&format!("{},客户{i}\n", number(i)));
    }
    let p = dir.join("contacts.csv");
    std::fs::write(&p, text).unwrap();
    p
}

/// A running `aicall serve`, its API address read from its first lines. Killed when
/// dropped, so a failing test leaves no service behind.
pub struct Serve {
    pub child: Child,
    pub api: String,
    /// The supervisor console's `ip:port`.
    pub console: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_serve(db: &Path, esl: &str, media_port: u16) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aicall"))
        // Reconnect within a second of the switch coming back.
        .env("AICALL__ESL__RECONNECT_MAX_MS", "1000")
        .current_dir(root())
        .args(["serve", "--esl", esl, "--api-listen", "127.0.0.1:0"])
        .args(["--outbound-listen", "off", "--grace-s", "20"])
        .args(["--console-listen", "127.0.0.1:0"])
        .args(["--media-port", &media_port.to_string()])
        .arg("--db")
        .arg(db)
        .env("AICALL_PII_KEY", "07".repeat(32))
        .env(
            "RUST_LOG",
            std::env::var("AICALL_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("aicall serve starts");
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let (mut api, mut console) = (None, None);
    while api.is_none() || console.is_none() {
        let line = lines
            .next()
            .expect("serve printed its API and console addresses before exiting")
            .unwrap();
        if let Some(url) = line.strip_prefix("aicall serve: API on ") {
            api = Some(url.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("aicall serve: console on ") {
            console = rest.split_whitespace().next().map(str::to_owned);
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Serve {
        child,
        api: api.unwrap(),
        console: console.unwrap(),
    }
}

/// The admin key `serve` wrote on its first start.
pub fn admin_key(db: &Path) -> String {
    std::fs::read_to_string(db.join("admin.key"))
        .expect("admin key written")
        .trim()
        .to_owned()
}

pub fn cli(serve: &Serve, db: &Path, args: &[&str]) -> String {
    let key = std::fs::read_to_string(db.join("admin.key")).expect("admin key written");
    let out = Command::new(env!("CARGO_BIN_EXE_aicall"))
        .current_dir(root())
        .args(args)
        .args(["--api", &serve.api])
        .env("AICALL_API_KEY", key.trim())
        .output()
        .expect("aicall runs");
    assert!(
        out.status.success(),
        "aicall {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn status(serve: &Serve, db: &Path, name: &str) -> serde_json::Value {
    let text = cli(serve, db, &["campaign", "status", name, "--json"]);
    serde_json::from_str(&text).expect("status JSON")
}

pub fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let ok = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "SIGTERM sent");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `campaign create NAME` over the CLI with [`settings_file`]'s settings and the example
/// script, then `import` of [`contacts_file`]'s `n` contacts; returns the import's report.
pub fn create_campaign(
    serve: &Serve,
    db: &Path,
    dir: &Path,
    name: &str,
    concurrent: u32,
    max_attempts: u32,
    n: usize,
) -> String {
    let settings = settings_file(dir, concurrent, max_attempts);
    let contacts = contacts_file(dir, n);
    let script = root().join("examples/insurance/script.toml");
    cli(
        serve,
        db,
        &[
            "campaign",
            "create",
            name,
            "--settings",
            settings.to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
        ],
    );
    cli(
        serve,
        db,
        &["import", contacts.to_str().unwrap(), "--campaign", name],
    )
}
