//! `aicall serve` as a user runs it: the real binary against the switch simulator, driven by
//! the real CLI (`campaign create/import/start/pause`, a thin client of the service's API).
//! Conversations use the real models on the demo's rendered speech.
//!
//! - a campaign created, imported and started over the CLI converses with its callees, and
//!   once a pause is acknowledged no originate reaches the switch;
//! - `serve` killed with SIGKILL 20 times at random moments of a running AI campaign: no
//!   channel dialled twice, no contact lost, every attempt resolved; SIGTERM then drains.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aicall::campaign::retry::Next;
use aicall::campaign::CampaignSettings;
use aicall::esl::{ClientConfig, EslClient};
use aicall::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch};
use aicall::store::{ContactState, PiiCipher, SledStore, Store};
use common::serve::*;

fn failing(n: &str, outcome: Outcome) -> Callee {
    Callee {
        number: Some(n.into()),
        name: None,
        outcome: Some(outcome),
        ring_ms: Some(200),
        rate: Some(8000),
        script: vec![],
        max_call_ms: None,
        early: Vec::new(),
    }
}

/// Every UUID the switch saw was dialled once and has an attempt; every contact is terminal
/// within its attempts, every attempt resolved, and the recorded dispositions replayed
/// through the retry policy end where the contact is.
fn assert_exactly_once(db: &Path, sim: &SimSwitch, name: &str, max_attempts: u32) -> usize {
    let store = SledStore::open_with(db, PiiCipher::new(KEY)).expect("store opens");
    let cdrs = sim.cdrs();
    let mut dialled: HashMap<String, usize> = HashMap::new();
    for c in &cdrs {
        *dialled.entry(c.uuid.clone()).or_default() += 1;
    }
    assert!(
        dialled.values().all(|n| *n == 1),
        "a channel UUID was dialled twice"
    );
    let settings = CampaignSettings::of(&store.campaign(name).unwrap()).unwrap();
    let mut known = HashSet::new();
    let contacts = store.contacts(name).unwrap();
    for c in &contacts {
        assert!(
            c.state.is_terminal(),
            "contact {} left {:?}: {}",
            c.id,
            c.state,
            c.note
        );
        let attempts = store.attempts_of(c.id).unwrap();
        assert_eq!(attempts.len() as u32, c.attempts, "contact {}", c.id);
        assert!(
            c.attempts >= 1 && c.attempts <= max_attempts,
            "contact {}",
            c.id
        );
        let mut state = ContactState::Pending;
        for a in &attempts {
            let d = a.disposition.expect("every attempt resolved");
            state = match settings
                .retry
                .next(d, a.callback_at, a.number, max_attempts, 0, 0)
            {
                Next::Stop(s) => s,
                Next::RetryAt(_) => ContactState::Pending,
            };
            known.insert(a.uuid.clone());
        }
        assert_eq!(state, c.state, "contact {} ends as the policy says", c.id);
    }
    for uuid in dialled.keys() {
        assert!(known.contains(uuid), "dial {uuid} has no attempt record");
    }
    assert!(store.open_attempts(name).unwrap().is_empty());
    contacts.len()
}

/// The service converses with a campaign created, imported and started over the CLI; once
/// `campaign pause` is acknowledged, no originate reaches the switch (the switch's own
/// channel list is read before and after).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_created_over_the_cli_converses_and_a_pause_stops_originates() {
    let dir = tempfile::tempdir().unwrap();
    let n = 12;
    let callees = (0..n).map(|i| decliner(&number(i), 300)).collect();
    let sim = sim_with(callees).await;
    let db = dir.path().join("db");
    let mut serve = start_serve(&db, &sim.addr().to_string(), 41_000);
    let settings = settings_file(dir.path(), 3, 1);
    let contacts = contacts_file(dir.path(), n);
    let script = root().join("examples/insurance/script.toml");
    cli(
        &serve,
        &db,
        &[
            "campaign",
            "create",
            "spring",
            "--settings",
            settings.to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
            "--tz",
            "Asia/Shanghai",
        ],
    );
    // Bad settings are refused, naming the setting.
    let bad = Command::new(env!("CARGO_BIN_EXE_aicall"))
        .args([
            "campaign",
            "create",
            "bad",
            "--no-input-ms",
            "10",
            "--api",
            &serve.api,
        ])
        .env(
            "AICALL_API_KEY",
            std::fs::read_to_string(db.join("admin.key"))
                .unwrap()
                .trim(),
        )
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("call.no_input_ms"));
    let imported = cli(
        &serve,
        &db,
        &["import", contacts.to_str().unwrap(), "--campaign", "spring"],
    );
    assert!(imported.contains("12 imported"), "{imported}");
    cli(&serve, &db, &["campaign", "start", "spring"]);
    // Let a few calls converse, then pause.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.cdrs().len() < 3 {
        assert!(Instant::now() < deadline, "no call ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (esl, _events) = EslClient::connect(ClientConfig {
        addr: sim.addr().to_string(),
        ..ClientConfig::default()
    })
    .await
    .unwrap();
    let paused = cli(&serve, &db, &["campaign", "pause", "spring"]);
    assert!(paused.contains("paused"), "{paused}");
    let seen_at_pause = seen_channels(&esl, &sim).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let seen_later = seen_channels(&esl, &sim).await;
    let new: Vec<_> = seen_later.difference(&seen_at_pause).collect();
    assert!(new.is_empty(), "originated after the pause: {new:?}");
    let s = status(&serve, &db, "spring");
    assert_eq!(s["state"], "paused");
    // Resume to the end: every callee conversed with, counted as calls.
    cli(&serve, &db, &["campaign", "resume", "spring"]);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let s = status(&serve, &db, "spring");
        let open = s["status"]["by_state"]["pending"].as_u64().unwrap_or(0)
            + s["status"]["by_state"]["inflight"].as_u64().unwrap_or(0);
        if open == 0 && s["status"]["up"] == 0 {
            assert_eq!(s["status"]["dialled"], n as u64, "{s}");
            assert_eq!(s["status"]["answered"], n as u64, "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "campaign did not finish: {s}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(sigterm(&mut serve.child).success());
    let store = SledStore::open_with(&db, PiiCipher::new(KEY)).unwrap();
    let records = aicall::call::CallRecord::all(&store, "spring").unwrap();
    assert_eq!(records.len(), n, "a call record per callee");
    for r in &records {
        assert!(
            r.turns
                .iter()
                .any(|t| t.speaker == aicall::call::record::Speaker::Callee),
            "the callee was heard: {:?}",
            r.turns
        );
        assert!(r.disposition.is_some_and(|d| d.is_conversation()), "{r:?}");
    }
    drop(store);
    assert_exactly_once(&db, &sim, "spring", 1);
    sim.stop().await;
}

/// Channel UUIDs the switch has had: the live ones as its own `show channels` lists them,
/// and the ended ones.
async fn seen_channels(esl: &EslClient, sim: &SimSwitch) -> HashSet<String> {
    // The live ones first: a channel writes its CDR before it leaves the list, so one that
    // ends between the two reads is in the second.
    let mut s: HashSet<String> = esl
        .channels()
        .await
        .expect("show channels")
        .into_iter()
        .map(|c| c.uuid)
        .collect();
    s.extend(sim.cdrs().into_iter().map(|c| c.uuid));
    s
}

/// `aicall serve` killed with SIGKILL 20 times at random moments of a running AI campaign
/// (calls ringing, in conversation, ending); each restart reconciles. Then the campaign is
/// run to its end and SIGTERM drains the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_twenty_times_dials_each_attempt_once_and_loses_no_contact() {
    let dir = tempfile::tempdir().unwrap();
    let n = 24;
    let callees: Vec<Callee> = (0..n)
        .map(|i| match i % 6 {
            3 => failing(&number(i), Outcome::Busy),
            5 => failing(&number(i), Outcome::NoAnswer),
            _ => decliner(&number(i), 250),
        })
        .collect();
    let sim = sim_with(callees.clone()).await;
    let db = dir.path().join("db");
    let max_attempts = 3;
    let esl = sim.addr().to_string();
    let mut serve = start_serve(&db, &esl, 42_000);
    create_campaign(&serve, &db, dir.path(), "crash", 6, max_attempts, n);
    cli(&serve, &db, &["campaign", "start", "crash"]);
    let mut rng = 0x5eed_cafe_f00d_1234u64;
    let mut next = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    let mut up_at_kill = 0;
    for kill in 1..=20 {
        tokio::time::sleep(Duration::from_millis(next(200, 2500))).await;
        serve.child.kill().expect("SIGKILL");
        serve.child.wait().expect("reaped");
        let live = sim.live_channels();
        up_at_kill += live;
        eprintln!(
            "kill {kill}: {} calls ended, {live} up at the kill",
            sim.cdrs().len()
        );
        // The restart resumes the running campaign by itself and reconciles.
        serve = start_serve(&db, &esl, 42_000 + (kill % 2) * 500);
    }
    assert!(up_at_kill > 0, "no kill happened while calls were up");
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let s = status(&serve, &db, "crash");
        let open = s["status"]["by_state"]["pending"].as_u64().unwrap_or(0)
            + s["status"]["by_state"]["inflight"].as_u64().unwrap_or(0);
        if open == 0 && s["status"]["up"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "campaign did not finish: {s}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(sigterm(&mut serve.child).success(), "SIGTERM exits cleanly");
    let contacts = assert_exactly_once(&db, &sim, "crash", max_attempts);
    assert_eq!(contacts, n);
    assert_eq!(sim.live_channels(), 0);
    eprintln!(
        "crash test: 20 kills, {up_at_kill} calls up at the kills, {} calls placed, 0 dialled \
         twice, 0 contacts lost",
        sim.cdrs().len()
    );
    sim.stop().await;
}

/// FreeSWITCH restarts 8 s into a running campaign (its calls die with it, no event says
/// so): the service keeps reconnecting, records the calls the restart killed, and goes on
/// dialling when the switch is back; the campaign ends with every contact resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_rides_through_a_switch_restart() {
    let dir = tempfile::tempdir().unwrap();
    let n = 10;
    let callees: Vec<Callee> = (0..n).map(|i| decliner(&number(i), 300)).collect();
    let first = sim_with(callees.clone()).await;
    let addr = first.addr();
    let db = dir.path().join("db");
    let max_attempts = 3;
    let mut serve = start_serve(&db, &addr.to_string(), 43_000);
    let settings = settings_file(dir.path(), 4, max_attempts);
    let contacts = contacts_file(dir.path(), n);
    let script = root().join("examples/insurance/script.toml");
    cli(
        &serve,
        &db,
        &[
            "campaign",
            "create",
            "restart",
            "--settings",
            settings.to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
        ],
    );
    cli(
        &serve,
        &db,
        &[
            "import",
            contacts.to_str().unwrap(),
            "--campaign",
            "restart",
        ],
    );
    cli(&serve, &db, &["campaign", "start", "restart"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while first.live_channels() < 4 {
        assert!(Instant::now() < deadline, "calls did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let killed = first.live_channels();
    assert!(killed > 0);
    let before: Vec<String> = first.cdrs().into_iter().map(|c| c.uuid).collect();
    // The switch goes away with its calls, and comes back 3 s later on the same address.
    first.stop().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut scenarios = Scenarios::default();
    for c in callees {
        scenarios.insert(c);
    }
    let second = SimSwitch::start(SimConfig {
        listen: addr,
        scenarios,
        record_audio: false,
        ..SimConfig::default()
    })
    .await
    .expect("the switch comes back on its address");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let s = status(&serve, &db, "restart");
        let open = s["status"]["by_state"]["pending"].as_u64().unwrap_or(0)
            + s["status"]["by_state"]["inflight"].as_u64().unwrap_or(0);
        if open == 0 && s["status"]["up"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "campaign did not finish: {s}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        second.cdrs().len() >= killed,
        "dialling went on after the restart"
    );
    assert!(sigterm(&mut serve.child).success());
    let store = SledStore::open_with(&db, PiiCipher::new(KEY)).unwrap();
    let mut resolved = 0;
    for c in store.contacts("restart").unwrap() {
        assert!(c.state.is_terminal(), "contact {} left {:?}", c.id, c.state);
        for a in store.attempts_of(c.id).unwrap() {
            let d = a.disposition.expect("every attempt resolved");
            // A call the restart killed (not among those that ended before it) is recorded.
            if !before.contains(&a.uuid) && !second.cdrs().iter().any(|x| x.uuid == a.uuid) {
                resolved += 1;
                eprintln!("killed by the restart: {} -> {d}", a.uuid);
            }
        }
    }
    assert!(
        resolved >= killed,
        "{resolved} of {killed} killed calls recorded"
    );
    second.stop().await;
}

/// Many centres originate through `loopback/` to reach their dialplan: FreeSWITCH then
/// creates a second leg that carries aicall's variables and parks too. The service drives
/// only the leg it originated (one conversation per call, the greeting heard once), and its
/// counters count calls, not legs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_calls_second_leg_is_never_driven() {
    let dir = tempfile::tempdir().unwrap();
    let n = 4;
    let callees = (0..n).map(|i| decliner(&number(i), 300)).collect();
    let sim = sim_with(callees).await;
    let db = dir.path().join("db");
    let mut serve = start_serve(&db, &sim.addr().to_string(), 44_000);
    let settings = settings_with_dial(dir.path(), 2, 1, "loopback/${phone}/default");
    let contacts = contacts_file(dir.path(), n);
    let script = root().join("examples/insurance/script.toml");
    cli(
        &serve,
        &db,
        &[
            "campaign",
            "create",
            "lb",
            "--settings",
            settings.to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
        ],
    );
    cli(
        &serve,
        &db,
        &["import", contacts.to_str().unwrap(), "--campaign", "lb"],
    );
    cli(&serve, &db, &["campaign", "start", "lb"]);
    // Each call has two legs on the switch while it is up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut max_live = 0;
    loop {
        max_live = max_live.max(sim.live_channels());
        let s = status(&serve, &db, "lb");
        let open = s["status"]["by_state"]["pending"].as_u64().unwrap_or(0)
            + s["status"]["by_state"]["inflight"].as_u64().unwrap_or(0);
        if open == 0 && s["status"]["up"] == 0 {
            assert_eq!(s["status"]["dialled"], n as u64, "{s}");
            assert_eq!(s["status"]["answered"], n as u64, "calls, not legs: {s}");
            break;
        }
        assert!(Instant::now() < deadline, "campaign did not finish: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        max_live > 2,
        "loopback calls had their second legs ({max_live} channels at most)"
    );
    assert!(sigterm(&mut serve.child).success());
    let store = SledStore::open_with(&db, PiiCipher::new(KEY)).unwrap();
    let records = aicall::call::CallRecord::all(&store, "lb").unwrap();
    assert_eq!(
        records.len(),
        n,
        "one conversation per call, none on a B leg"
    );
    let originated: HashSet<String> = sim.originates().into_iter().map(|o| o.uuid).collect();
    for r in &records {
        assert!(
            originated.contains(&r.uuid),
            "conversed on a leg aicall did not originate: {}",
            r.uuid
        );
        let greetings = r
            .turns
            .iter()
            .filter(|t| t.prompt.as_deref() == Some("greeting"))
            .count();
        assert_eq!(greetings, 1, "the greeting once: {:?}", r.turns);
        assert!(r
            .turns
            .iter()
            .any(|t| t.speaker == aicall::call::record::Speaker::Callee));
    }
    sim.stop().await;
}

/// A dialplan hands a call to aicall's outbound socket (`socket 127.0.0.1:8084 async full`
/// with `aicall_script` set): aicall answers it and holds the same conversation as on a
/// call it dialled — the caller hears the greeting, is heard, and the call ends with a
/// stored record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_handed_over_by_the_dialplan_converses_on_the_outbound_socket() {
    use aicall::sim::InboundCall;
    let dir = tempfile::tempdir().unwrap();
    // Recording what the caller hears.
    let sim = SimSwitch::start(SimConfig::default()).await.unwrap();
    let db = dir.path().join("db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aicall"))
        .current_dir(root())
        .args([
            "serve",
            "--esl",
            &sim.addr().to_string(),
            "--api-listen",
            "127.0.0.1:0",
        ])
        .args(["--outbound-listen", "127.0.0.1:0", "--media-port", "45000"])
        .args(["--console-listen", "off"])
        .arg("--db")
        .arg(&db)
        .env("AICALL_PII_KEY", "07".repeat(32))
        .env(
            "RUST_LOG",
            std::env::var("AICALL_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let (mut api, mut socket) = (None, None);
    while api.is_none() || socket.is_none() {
        let line = lines.next().expect("serve prints its addresses").unwrap();
        if let Some(u) = line.strip_prefix("aicall serve: API on ") {
            api = Some(u.trim().to_owned());
        }
        if let Some(a) = line.strip_prefix("aicall serve: outbound socket on ") {
            socket = Some(a.trim().parse::<std::net::SocketAddr>().unwrap());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let mut serve = Serve {
        child,
        api: api.unwrap(),
        console: String::new(),
    };
    let mut caller = decliner("13911112222", 0);
    caller.number = None;
    let script = root().join("examples/insurance/script.toml");
    let uuid = sim.inbound_call(InboundCall {
        caller,
        caller_id: "13911112222".into(),
        destination: "4008001000".into(),
        socket: socket.unwrap(),
        vars: vec![("aicall_script".into(), script.display().to_string())],
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    while !sim.cdrs().iter().any(|c| c.uuid == uuid) {
        assert!(
            Instant::now() < deadline,
            "the handed-over call did not end"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let heard = sim.recording(&uuid).expect("the caller's recording");
    assert!(
        heard.heard.iter().filter(|&&s| s != 0).count() > 8000 * 2,
        "the caller heard the bot (the greeting at least)"
    );
    assert!(sigterm(&mut serve.child).success());
    let store = SledStore::open_with(&db, PiiCipher::new(KEY)).unwrap();
    let record = aicall::call::CallRecord::load(&store, "inbound", &uuid)
        .unwrap()
        .expect("the conversation's record");
    assert!(
        record
            .turns
            .iter()
            .any(|t| t.speaker == aicall::call::record::Speaker::Callee),
        "the caller was heard: {:?}",
        record.turns
    );
    assert!(
        record.disposition.is_some_and(|d| d.is_conversation()),
        "{record:?}"
    );
    sim.stop().await;
}
