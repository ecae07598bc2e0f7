//! The `aicall` binary against the switch simulator: `aicall esl api` behaves like
//! `fs_cli -x` (body on stdout, non-zero exit on -ERR or connection failure), `aicall esl
//! events` prints events, `aicall sim-switch` never logs a full phone number, and
//! `aicall transcribe` reads its engine settings from the `[asr]` section, and `aicall leads`
//! reads a Chinese spreadsheet export.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_aicall");

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn aicall(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("AICALL_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("aicall runs")
}

/// Starts `aicall sim-switch` and waits until it accepts connections.
fn start_sim(port: u16) -> std::process::Child {
    let child = Command::new(BIN)
        .args(["sim-switch", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "aicall=debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("simulator starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "simulator did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn esl_api_events_and_masked_logs() {
    let port = free_port();
    let mut sim = start_sim(port);
    let addr = format!("127.0.0.1:{port}");

    let ok = aicall(&["esl", "--addr", &addr, "api", "status"]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("is ready"));

    let bad = aicall(&["esl", "--addr", &addr, "api", "no_such_command"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).starts_with("-ERR no_such_command"));

    let wrong = aicall(&[
        "esl",
        "--addr",
        &addr,
        "--password",
        "nope",
        "api",
        "status",
    ]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("password"),
        "{wrong:?}"
    );

    // Watch events in one process while another originates a call.
    let mut watcher = Command::new(BIN)
        .args([
            "esl",
            "--addr",
            &addr,
            "events",
            "--count",
            "2",
            "CHANNEL_ANSWER",
            "CHANNEL_PARK",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watcher starts");
    // It says when it is subscribed (a loaded machine can take seconds to start it).
    let mut said = String::new();
    BufReader::new(watcher.stderr.take().expect("stderr"))
        .read_line(&mut said)
        .expect("watcher's stderr");
    assert_eq!(said.trim(), "listening for CHANNEL_ANSWER CHANNEL_PARK");
    let call = aicall(&[
        "esl",
        "--addr",
        &addr,
        "api",
        "originate",
        "{origination_uuid=cli-test-1}sofia/gateway/gw1/13912345678",
        "&park()",
    ]);
    assert!(call.status.success(), "{call:?}");
    assert_eq!(
        String::from_utf8_lossy(&call.stdout).trim(),
        "+OK cli-test-1"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = watcher.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "watcher got no events");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let mut out = String::new();
    watcher
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut out)
        .expect("read");
    assert!(out.contains("Event-Name: CHANNEL_ANSWER"), "{out}");
    assert!(out.contains("Event-Name: CHANNEL_PARK"), "{out}");
    assert!(out.contains("Unique-ID: cli-test-1"), "{out}");

    let kill = aicall(&["esl", "--addr", &addr, "api", "uuid_kill", "cli-test-1"]);
    assert!(kill.status.success());
    std::thread::sleep(Duration::from_millis(200));
    sim.kill().expect("stop simulator");
    sim.wait().expect("simulator exits");
    let mut logs = String::new();
    sim.stderr
        .take()
        .expect("piped")
        .read_to_string(&mut logs)
        .expect("read logs");
    assert!(
        logs.contains("*******5678"),
        "the number should appear masked in debug logs:\n{logs}"
    );
    assert!(
        !logs.contains("13912345678"),
        "a full phone number was logged:\n{logs}"
    );
}

#[test]
fn unreachable_switch_fails_with_the_address() {
    let port = free_port();
    let out = aicall(&[
        "esl",
        "--addr",
        &format!("127.0.0.1:{port}"),
        "api",
        "status",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn bad_config_names_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("aicall.toml");
    std::fs::write(&path, "[esl]\ncommand_timeout_ms = \"soon\"\n").expect("write");
    let out = aicall(&[
        "--config",
        path.to_str().expect("utf-8"),
        "esl",
        "api",
        "status",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("command_timeout_ms"), "{err}");
}

/// `aicall transcribe` on a prompt the set-up rendered: the `[asr]` section of the
/// configuration supplies the engine settings and hot words, flags override it, and errors
/// name what to fix.
#[test]
fn transcribe_takes_the_asr_section_and_flags() {
    let root = env!("CARGO_MANIFEST_DIR");
    let rendered = common::rendered_clip("speech", "prompts/identity_answer.wav");
    let clip = rendered.path.to_str().expect("utf-8 path").to_owned();
    let model = format!("{root}/models/whisper-base");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("aicall.toml");
    std::fs::write(
        &cfg,
        format!("[asr]\nmodel_dir = {model:?}\nwindow = \"full\"\nhot_words = [\"客服\"]\n"),
    )
    .expect("config written");
    let cfg = cfg.to_str().expect("utf-8 path");

    let out = aicall(&[
        "--config",
        cfg,
        "transcribe",
        &clip,
        "--lang",
        "zh",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let text = json["text"].as_str().expect("text");
    let cer = aicall::asr::eval::ErrorCount::cer(&rendered.text, text).rate();
    assert!(cer <= 15.0, "CER {cer:.1}%: {text}");
    assert!(json["audio_ms"].as_u64().expect("audio_ms") > 4000);
    assert!(json["segments"].as_array().is_some_and(|s| !s.is_empty()));

    // A flag overrides the section: a model directory that does not exist is named.
    let out = aicall(&[
        "--config",
        cfg,
        "transcribe",
        &clip,
        "--model-dir",
        "/nonexistent",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent"), "{err}");

    // The streaming engine on a directory without a model: what a sherpa-onnx model
    // directory holds is spelled out.
    let out = aicall(&[
        "--config",
        cfg,
        "transcribe",
        &clip,
        "--engine",
        "sherpa",
        "--model-dir",
        &model,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tokens.txt is missing"), "{err}");

    // A bad value in the section is an error naming the key.
    std::fs::write(cfg, "[asr]\nwindow = \"half\"\n").expect("config written");
    let out = aicall(&["--config", cfg, "transcribe", &clip]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("window"), "{err}");
}

/// A contact list as Excel on a Chinese Windows saves it: GBK, Chinese headers and outcome
/// words, one broken record and one row without an outcome. `leads train` names the encoding,
/// the broken line and the unlabelled line, drops the id column, learns with `--positive`;
/// `eval` reads the labels the same way from the manifest; `score` numbers rows by file line.
#[test]
fn leads_commands_take_a_chinese_excel_export() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut text = String::from("客户编号,年龄,城市,结果\r\n");
    let mut state = 7u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let (broken_line, unlabelled_line) = (50, 120);
    let mut labelled = 0;
    for i in 0..400 {
        let line = i + 2;
        if line == broken_line {
            text.push_str("K0048,41\r\n");
            continue;
        }
        let age = 20 + (next() * 50.0) as u32;
        let city = ["北京", "上海", "广州"][(next() * 3.0) as usize % 3];
        let p = if age > 50 { 0.6 } else { 0.08 } + if city == "北京" { 0.2 } else { 0.0 };
        let outcome = if line == unlabelled_line {
            ""
        } else if next() < p {
            "意向"
        } else {
            ["拒绝", "无人接听"][(next() * 2.0) as usize % 2]
        };
        labelled += usize::from(!outcome.is_empty());
        text.push_str(&format!("K{i:04},{age},{city},{outcome}\r\n"));
    }
    let file = dir.path().join("名单.csv");
    std::fs::write(&file, encoding_rs::GBK.encode(&text).0).expect("write list");
    let model = dir.path().join("model");
    let (f, m) = (
        file.to_str().expect("utf-8 path"),
        model.to_str().expect("path"),
    );

    let out = aicall(&[
        "leads",
        "train",
        f,
        "--target",
        "结果",
        "--positive",
        "意向",
        "--folds",
        "3",
        "--out",
        m,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("read as GB18030/GBK"), "{err}");
    assert!(
        err.contains(&format!(
            "line {broken_line}: 2 fields, but the header has 4"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("empty `结果` left out:\n  line {unlabelled_line}")),
        "{err}"
    );
    assert!(
        err.contains("dropped column 客户编号: an identifier"),
        "{err}"
    );

    let out = aicall(&["leads", "eval", m, f]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("a summary line");
    let auc: f64 = last
        .strip_prefix("auc=")
        .and_then(|r| r.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("summary line: {last}"));
    assert!(auc > 0.75, "age and city carry the outcome: {last}");
    assert!(last.ends_with(&format!(" n={labelled}")), "{last}");

    let out = aicall(&["leads", "score", m, f]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<usize> = stdout
        .lines()
        .skip(1)
        .map(|l| {
            l.split(';')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("line number")
        })
        .collect();
    assert_eq!(
        lines.len(),
        399,
        "every record but the broken one is scored"
    );
    assert!(!lines.contains(&broken_line) && lines.contains(&unlabelled_line));
}

/// `aicall bench amd` on one rendered announcement of every kind and six people answering:
/// through the telephone band, the VAD, Whisper and the announcement grammar, the carriers are
/// placed and no person is taken for one. (The full rendered set, and the blind one, are the
/// bench's; this keeps the command and the pipeline honest on a few clips.)
#[test]
fn bench_amd_places_announcements_and_spares_people() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut index = String::from("file\tvoice\tspeed\ttext\tseconds\tkey\n");
    let picks = [
        "amd/powered_off/1_gongitsune.wav",
        "amd/vacant/1_kumo.wav",
        "amd/busy/1_kumo.wav",
        "amd/unreachable/1_nezumi.wav",
        "amd/suspended/1_tebukuro.wav",
        "amd/voicemail/3_nezumi.wav",
        "amd/person/1_",
        "amd/person/3_",
        "amd/person/5_",
        "amd/person/8_",
        "amd/person/10_",
        "amd/person/12_",
    ];
    for pick in picks {
        let clip = common::rendered_clips("test-speech", pick)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{pick}: not rendered (run scripts/setup)"));
        let name = clip.path.file_name().expect("file name").to_owned();
        let kind = pick.split('/').nth(1).expect("kind");
        let to = dir.path().join("amd").join(kind);
        std::fs::create_dir_all(&to).expect("dir");
        std::fs::copy(&clip.path, to.join(&name)).expect("copy");
        index.push_str(&format!(
            "amd/{kind}/{}\tv\t1\t{}\t0\t0\n",
            name.to_string_lossy(),
            clip.text
        ));
    }
    std::fs::write(dir.path().join("index.tsv"), index).expect("index");
    let speech = dir.path().to_str().expect("utf-8 path");
    let out = aicall(&["bench", "amd", "--speech-dir", speech]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a summary line");
    let field = |key: &str| -> f64 {
        last.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} missing: {last}"))
            .parse()
            .expect("a number")
    };
    assert!(field("detected") >= 5.0 / 6.0, "{stdout}");
    assert_eq!(field("false_detections"), 0.0, "{stdout}");
    assert_eq!(field("person_clips"), 6.0, "{stdout}");
    assert_eq!(field("clips"), 12.0, "{stdout}");
}
