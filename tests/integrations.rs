//! The service's integrations with the outside: CRM hooks and Prometheus `/metrics`.
//!
//! - The hook outbox against a real HTTP receiver that is down (connections refused), then
//!   fails (HTTP 500), then accepts, with the store closed and reopened mid-retry: every
//!   outcome is accepted exactly once per delivery id, every request is signed.
//! - A campaign over the switch simulator with its CRM down at first: every outcome
//!   reaches the CRM once it is back; a CRM that refuses (HTTP 400) leaves dead letters,
//!   listed and retried over the API; a bad URL is refused at create; contacts pushed in as
//!   JSON with a per-element report; the secret never shown in clear; roles checked.
//! - `/metrics` scraped while a campaign converses (real Whisper on the demo's rendered
//!   speech): the output parses, counters move, histograms have samples.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aicall::app::control::{Access, Role};
use aicall::app::hooks::{self, EndedCall, HookConfig, Hooks};
use aicall::app::{Models, Service, ServiceConfig};
use aicall::asr::config::AsrConfig;
use aicall::campaign::CampaignSettings;
use aicall::esl::ClientConfig;
use aicall::media::MediaConfig;
use aicall::outcome::Disposition;
use aicall::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch, Step};
use aicall::store::{PiiCipher, SledStore, Store};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

const KEY: [u8; 32] = [9; 32];
const SECRET: &str = "s3cret-for-the-crm-0123";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- a CRM receiver

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Fail,
    Accept,
    Refuse,
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    id: String,
    attempt: u32,
    status: u16,
    signed: bool,
    body: Value,
}

#[derive(Clone, Default)]
struct Receiver {
    modes: Arc<Mutex<HashMap<String, Mode>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    fn set(&self, path: &str, mode: Mode) {
        self.modes.lock().unwrap().insert(path.into(), mode);
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Delivery id → how many times it was accepted, on `path`.
    fn accepted(&self, path: &str) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for s in self.seen() {
            if s.path == path && s.status == 200 {
                *out.entry(s.id).or_default() += 1;
            }
        }
        out
    }

    /// Serves on `port` (which was free) until the test ends.
    async fn serve(&self, port: u16) {
        let app = axum::Router::new()
            .route("/hook/{path}", axum::routing::post(receive))
            .with_state(self.clone());
        let listener = {
            let mut tries = 0;
            loop {
                match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                    Ok(l) => break l,
                    Err(e) if tries < 50 => {
                        tries += 1;
                        eprintln!("receiver port {port}: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("receiver port {port}: {e}"),
                }
            }
        };
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
}

async fn receive(
    State(r): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mode = r
        .modes
        .lock()
        .unwrap()
        .get(&path)
        .copied()
        .unwrap_or(Mode::Fail);
    let status = match mode {
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Accept => StatusCode::OK,
        Mode::Refuse => StatusCode::BAD_REQUEST,
    };
    r.seen.lock().unwrap().push(Seen {
        path,
        id: h("x-aicall-delivery"),
        attempt: h("x-aicall-attempt").parse().unwrap_or(0),
        status: status.as_u16(),
        signed: hooks::verify(SECRET.as_bytes(), &body, &h("x-aicall-signature")),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    status
}

/// A port with nothing listening on it (connections are refused until a receiver binds).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn fast_hooks() -> HookConfig {
    HookConfig {
        timeout: Duration::from_secs(2),
        first_retry: Duration::from_millis(100),
        max_retry: Duration::from_millis(400),
        max_tries: 10_000,
        max_age: Duration::from_secs(600),
        ..HookConfig::default()
    }
}

async fn open_store(db: &std::path::Path) -> Arc<dyn Store> {
    // The previous handle's last clones may take a moment to go (sled locks its files).
    for _ in 0..100 {
        match SledStore::open_with(db, PiiCipher::new(KEY)) {
            Ok(s) => return Arc::new(s),
            Err(e) => {
                eprintln!("reopening the store: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    panic!("the store did not reopen");
}

async fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The outbox alone: outcomes enqueued while the receiver is down, tried (refused), the
/// store closed and reopened mid-retry, the receiver failing then accepting: each outcome
/// accepted once, with the same delivery id on every try, every request signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_delivers_every_outcome_once_through_an_outage_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let port = free_port();
    let store = open_store(&db).await;
    let mut settings = CampaignSettings::default();
    settings.call.webhook_url = format!("http://127.0.0.1:{port}/hook/crm");
    settings.call.webhook_secret = SECRET.into();
    let settings = hooks::sealed_settings(store.as_ref(), "crm", settings).unwrap();
    assert!(!settings.call.webhook_secret.contains(SECRET));
    store.create_campaign(&settings.record("crm", 0)).unwrap();

    let n = 25;
    let end = |i: usize| EndedCall {
        uuid: format!("call-{i:03}"),
        campaign: "crm".into(),
        contact_id: None,
        disposition: [
            Disposition::Busy,
            Disposition::NoAnswer,
            Disposition::Completed,
        ][i % 3],
        cause: Some("USER_BUSY".into()),
        answered: false,
        billsec: 0,
        callback_at: None,
        ended_at: 1_700_000_000,
    };
    let hooks = Hooks::new(fast_hooks());
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    for i in 0..n {
        assert!(hooks
            .enqueue(store.as_ref(), &end(i), now())
            .unwrap()
            .is_some());
    }
    assert!(
        hooks
            .enqueue(store.as_ref(), &end(0), now())
            .unwrap()
            .is_none(),
        "an outcome seen twice is enqueued once"
    );
    let deliverer = hooks.deliver(store.clone()).unwrap();
    wait_for("refused tries", 20, || {
        store.hook_outbox().unwrap().iter().all(|d| d.tries >= 2)
    })
    .await;
    let outbox = store.hook_outbox().unwrap();
    assert_eq!(outbox.len(), n);
    assert!(
        outbox[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("connect")),
        "{:?}",
        outbox[0].last_error
    );

    // The process goes away mid-retry: the deliverer stops, the store closes.
    hooks.stop();
    deliverer.await.unwrap();
    drop(hooks);
    drop(store);
    let store = open_store(&db).await;
    assert_eq!(store.hook_outbox().unwrap().len(), n, "nothing lost");
    let hooks = Hooks::new(fast_hooks());
    let _deliverer = hooks.deliver(store.clone()).unwrap();

    // The receiver comes back failing, then accepts.
    let receiver = Receiver::default();
    receiver.serve(port).await;
    wait_for("failed tries", 20, || {
        receiver.seen().iter().filter(|s| s.status == 500).count() >= n
    })
    .await;
    receiver.set("crm", Mode::Accept);
    wait_for("every delivery", 30, || receiver.accepted("crm").len() == n).await;
    // The receiver counts a delivery before it answers; the deliverer clears its row after.
    wait_for("the outbox to drain", 30, || {
        store.hook_outbox().unwrap().is_empty()
    })
    .await;
    // Nothing more arrives once it has (no second delivery of anything).
    tokio::time::sleep(Duration::from_millis(500)).await;

    let accepted = receiver.accepted("crm");
    let want: HashSet<String> = (0..n).map(|i| end(i).uuid).collect();
    assert_eq!(accepted.keys().cloned().collect::<HashSet<_>>(), want);
    assert!(accepted.values().all(|&c| c == 1), "{accepted:?}");
    let seen = receiver.seen();
    assert!(seen.iter().all(|s| s.signed), "every request is signed");
    for s in &seen {
        assert_eq!(s.body["delivery_id"], s.id.as_str());
        assert_eq!(s.body["call_uuid"], s.id.as_str());
        assert!(s.attempt >= 3, "tried before the restart and after: {s:?}");
    }
    let i = 4;
    let body = &seen.iter().find(|s| s.id == end(i).uuid).unwrap().body;
    assert_eq!(body["disposition"], end(i).disposition.as_str());
    assert_eq!(body["event"], "call.ended");
    assert!(store.hook_outbox().unwrap().is_empty());
    assert!(store.hook_dead_letters().unwrap().is_empty());
    assert!(hooks
        .enqueue(store.as_ref(), &end(1), now())
        .unwrap()
        .is_none());
    hooks.stop();
}

/// Outcomes stored while nobody watched (a crash between an outcome and its hook, a
/// watcher that fell behind) are found again from the stored CDRs, once, and only for
/// campaigns with a hook.
#[tokio::test]
async fn outcomes_nobody_saw_are_found_again_from_the_stored_cdrs() {
    use aicall::store::{
        Attempt, AttemptState, CdrRecord, Contact, ContactPii, ContactState, LineType,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir.path().join("db")).await;
    for (name, url) in [("crm", "http://127.0.0.1:9/hook/crm"), ("plain", "")] {
        let mut s = CampaignSettings::default();
        s.call.webhook_url = url.into();
        s.call.webhook_secret = if url.is_empty() { "" } else { SECRET }.into();
        let s = hooks::sealed_settings(store.as_ref(), name, s).unwrap();
        store.create_campaign(&s.record(name, 0)).unwrap();
    }
    let now = 1_800_000_000i64;
    let first = store.reserve_ids(5).unwrap();
    // (campaign, ended at): the last one ended before the reconciliation's start.
    let calls = [
        ("crm", now),
        ("crm", now - 10),
        ("crm", now - 30),
        ("plain", now),
        ("crm", now - 600),
    ];
    let mut uuids = Vec::new();
    for (i, (campaign, ended_at)) in calls.iter().enumerate() {
        let phone = format!("+86139000{i:05}");
        let mut contact = Contact {
            id: first + i as u64,
            campaign: (*campaign).into(),
            phone_key: store.phone_key(&phone),
            pii: ContactPii {
                phone,
                name: None,
                fields: Default::default(),
            },
            line_type: LineType::Mobile,
            region: "CN".into(),
            utc_offset_min: 480,
            seq: i as u64,
            score: Some(0.25),
            best_hour: None,
            state: ContactState::Pending,
            attempts: 0,
            next_at: 0,
            note: String::new(),
        };
        store.put_contacts(std::slice::from_ref(&contact)).unwrap();
        let mut attempt = Attempt {
            uuid: format!("00000000-0000-0000-0000-00000000000{i}"),
            contact_id: contact.id,
            campaign: (*campaign).into(),
            number: 1,
            state: AttemptState::Dialing,
            started_at: ended_at - 20,
            ended_at: None,
            cause: None,
            disposition: None,
            callback_at: None,
            gateway: "sim".into(),
            caller_id: "4008001000".into(),
        };
        store.begin_attempt(&attempt).unwrap();
        attempt.state = AttemptState::Ended;
        attempt.ended_at = Some(*ended_at);
        attempt.cause = Some("USER_BUSY".into());
        attempt.disposition = Some(Disposition::Busy);
        contact.state = ContactState::Exhausted;
        contact.attempts = 1;
        let cdr = CdrRecord {
            uuid: attempt.uuid.clone(),
            contact_id: contact.id,
            campaign: (*campaign).into(),
            cause: "USER_BUSY".into(),
            answered: false,
            billsec: 0,
            started_at: ended_at - 20,
            ended_at: *ended_at,
        };
        store.finish_attempt(&attempt, &cdr, &contact).unwrap();
        uuids.push(attempt.uuid);
    }
    let hooks = Hooks::new(fast_hooks());
    assert_eq!(hooks.reconcile(store.as_ref(), now - 60, 0).unwrap(), 3);
    assert_eq!(
        hooks.reconcile(store.as_ref(), now - 60, 0).unwrap(),
        0,
        "found once"
    );
    let outbox = store.hook_outbox().unwrap();
    let ids: HashSet<&str> = outbox.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, uuids[..3].iter().map(String::as_str).collect());
    let body: Value = serde_json::from_str(&outbox[0].body).unwrap();
    assert_eq!(body["disposition"], "busy");
    assert_eq!(body["cause"], "USER_BUSY");
    assert_eq!(body["lead_score"], 0.25);
    assert!(body["contact"]["phone"]
        .as_str()
        .unwrap()
        .starts_with("+86139"));
}

// ---------------------------------------------------------------- the service

fn number(i: usize) -> String {
    format!("1390000{i:04}")
}

fn callee(n: &str, outcome: Outcome, script: Vec<Step>, max_call_ms: u64) -> Callee {
    Callee {
        number: Some(n.into()),
        name: None,
        outcome: Some(outcome),
        ring_ms: Some(200),
        rate: Some(8000),
        script,
        max_call_ms: Some(max_call_ms),
        early: Vec::new(),
    }
}

async fn sim_with(callees: Vec<Callee>) -> SimSwitch {
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

/// Dialler settings for a test campaign: all day, one attempt, no retry wait.
fn settings(url: &str) -> Value {
    let text = r#"
default_region = "CN"
max_attempts = 1
[window]
days = [1, 2, 3, 4, 5, 6, 7]
ranges = [{ start = "00:00", end = "24:00" }]
[pacing]
max_concurrent = 4
calls_per_s = 20.0
originate_timeout_s = 5
dial_template = "sofia/gateway/${gateway}/${phone}"
[[pacing.pools]]
name = "sim"
gateway = "sim"
capacity = 50
"#;
    let mut s: CampaignSettings = toml::from_str(text).unwrap();
    s.call.webhook_url = url.into();
    s.call.webhook_secret = SECRET.into();
    serde_json::to_value(s).unwrap()
}

fn models() -> Models {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let asr = AsrConfig {
        model_dir: root().join("models/whisper-base"),
        ..AsrConfig::default()
    };
    Models::load(&asr, &root().join("models/intent"), workers).unwrap()
}

/// The service with its API on an ephemeral port; an admin and a viewer key.
struct Api {
    url: String,
    admin: String,
    viewer: String,
    http: reqwest::Client,
}

impl Api {
    async fn start(service: &Arc<Service>) -> Api {
        let access = Access::new(service.store().clone());
        let admin = access.add_user("admin", Role::Admin).unwrap();
        let viewer = access.add_user("wall", Role::Viewer).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let s = service.clone();
        tokio::spawn(async move {
            aicall::app::http::serve(listener, s, std::future::pending())
                .await
                .unwrap()
        });
        Api {
            url,
            admin,
            viewer,
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let mut req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        };
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(&self.admin), Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, Some(&self.admin), None).await
    }

    async fn metrics(&self) -> String {
        let resp = self
            .http
            .get(format!("{}/metrics", self.url))
            .bearer_auth(&self.viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/openmetrics-text")));
        resp.text().await.unwrap()
    }
}

/// A campaign whose CRM is down when its calls end: every outcome reaches the CRM once it
/// is back, once per delivery id; a second campaign's CRM refuses (HTTP 400), its
/// deliveries are dead letters, listed and retried over the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_s_outcomes_reach_its_crm_after_an_outage_and_dead_letters_retry() {
    let dir = tempfile::tempdir().unwrap();
    // crm: 8 contacts (answered and hung up, busy, no answer); refusing: 2 busy.
    let mut callees = Vec::new();
    for i in 0..8 {
        callees.push(match i % 4 {
            1 => callee(&number(i), Outcome::Busy, vec![], 1000),
            2 => callee(&number(i), Outcome::NoAnswer, vec![], 1000),
            _ => callee(&number(i), Outcome::Answer, vec![], 800),
        });
    }
    for i in 100..102 {
        callees.push(callee(&number(i), Outcome::Busy, vec![], 1000));
    }
    let sim = sim_with(callees).await;
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open_with(&dir.path().join("db"), PiiCipher::new(KEY)).unwrap());
    let service = Service::start(
        store.clone(),
        models(),
        ServiceConfig {
            esl: ClientConfig {
                addr: sim.addr().to_string(),
                ..ClientConfig::default()
            },
            media: MediaConfig {
                port_first: 52_000,
                switch_port_first: 54_000,
                ..MediaConfig::default()
            },
            hooks: fast_hooks(),
            ..ServiceConfig::default()
        },
    )
    .await
    .unwrap();
    let api = Api::start(&service).await;
    let port = free_port();
    let hook = |path: &str| format!("http://127.0.0.1:{port}/hook/{path}");

    // A bad URL is refused at create, naming the setting.
    let (status, body) = api
        .post(
            "/api/v1/campaigns",
            json!({"name": "bad", "settings": settings("crm.example.com/hooks")}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("call.webhook_url"),
        "{body}"
    );

    for (name, path) in [("crm", "crm"), ("refusing", "refuse")] {
        let (status, body) = api
            .post(
                "/api/v1/campaigns",
                json!({"name": name, "settings": settings(&hook(path))}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let shown = body["settings"]["call"]["webhook_secret"].as_str().unwrap();
        assert!(
            shown.starts_with("sealed:v1:") && !shown.contains(SECRET),
            "{shown}"
        );
    }
    // The sealed secret comes back on an edit as it was shown.
    let (_, view) = api.get("/api/v1/campaigns/crm").await;
    let resp = api
        .http
        .put(format!("{}/api/v1/campaigns/crm", api.url))
        .bearer_auth(&api.admin)
        .json(&json!({"settings": view["settings"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    // Contacts pushed in as JSON: the same import path, a report per element.
    let mut contacts: Vec<Value> = (0..8)
        .map(|i| json!({"phone": number(i), "name": format!("客户{i}"), "fields": {"crm_id": i}}))
        .collect();
    contacts.push(json!({"name": "no phone"}));
    contacts.push(json!({"phone": "12"}));
    contacts.push(json!({"phone": number(1), "fields": {"nested": {"x": 1}}}));
    let (status, report) = api
        .post(
            "/api/v1/campaigns/crm/contacts/json",
            Value::Array(contacts),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 8, "{report}");
    let rejected: Vec<&str> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["location"].as_str().unwrap())
        .collect();
    assert_eq!(
        rejected,
        ["contact 9", "contact 10", "contact 11"],
        "{report}"
    );
    let (status, _) = api
        .post("/api/v1/campaigns/crm/contacts/json", json!({"phone": "1"}))
        .await;
    assert_eq!(status, 400, "not an array");
    let (status, _) = api
        .post(
            "/api/v1/campaigns/refusing/contacts/json",
            json!([{"phone": number(100)}, {"phone": number(101)}]),
        )
        .await;
    assert_eq!(status, 200);

    // The CRM is down while the calls end.
    let receiver = Receiver::default();
    receiver.set("refuse", Mode::Refuse);
    for name in ["crm", "refusing"] {
        let (status, body) = api
            .post(&format!("/api/v1/campaigns/{name}/start"), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let attempts = |name: &str| -> Vec<aicall::store::Attempt> {
        store
            .contacts(name)
            .unwrap()
            .iter()
            .flat_map(|c| store.attempts_of(c.id).unwrap())
            .filter(|a| a.disposition.is_some())
            .collect()
    };
    wait_for("the calls to end", 60, || {
        attempts("crm").len() == 8 && attempts("refusing").len() == 2
    })
    .await;
    wait_for("refused tries", 20, || {
        store.hook_outbox().unwrap().iter().any(|d| d.tries >= 2)
    })
    .await;
    assert!(receiver.seen().is_empty());

    // Back, failing at first, then accepting.
    receiver.serve(port).await;
    wait_for("failed tries", 20, || {
        receiver
            .seen()
            .iter()
            .any(|s| s.path == "crm" && s.status == 500)
    })
    .await;
    receiver.set("crm", Mode::Accept);
    wait_for("every outcome", 30, || receiver.accepted("crm").len() == 8).await;
    wait_for("the refusals dead-lettered", 20, || {
        store.hook_dead_letters().unwrap().len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let accepted = receiver.accepted("crm");
    assert!(accepted.values().all(|&c| c == 1), "{accepted:?}");
    let stored = attempts("crm");
    let want: HashSet<String> = stored.iter().map(|a| a.uuid.clone()).collect();
    assert_eq!(accepted.keys().cloned().collect::<HashSet<_>>(), want);
    let seen = receiver.seen();
    assert!(seen.iter().all(|s| s.signed), "every request is signed");
    for a in &stored {
        let s = seen
            .iter()
            .find(|s| s.id == a.uuid && s.status == 200)
            .unwrap();
        assert_eq!(
            s.body["disposition"],
            a.disposition.unwrap().as_str(),
            "{}",
            s.body
        );
        assert_eq!(s.body["campaign"], "crm");
        let contact = &s.body["contact"];
        assert_eq!(contact["id"], a.contact_id);
        assert!(contact["phone"].as_str().unwrap().starts_with("+86139"));
        assert!(contact["fields"]["crm_id"].is_string(), "{contact}");
    }
    let answered = stored
        .iter()
        .filter(|a| a.disposition == Some(Disposition::Completed))
        .count();
    assert_eq!(answered, 4, "{stored:?}");

    // Dead letters: listed (roles checked), retried once the CRM takes them.
    let (status, _) = api
        .call("GET", "/api/v1/hooks/dead", Some(&api.viewer), None)
        .await;
    assert_eq!(status, 403, "a viewer does not read dead letters");
    let (status, dead) = api.get("/api/v1/hooks/dead").await;
    assert_eq!(status, 200);
    let dead = dead.as_array().unwrap().clone();
    assert_eq!(dead.len(), 2, "{dead:?}");
    for d in &dead {
        assert_eq!(d["campaign"], "refusing");
        let asked = receiver
            .seen()
            .iter()
            .filter(|s| s.path == "refuse" && s.id == d["id"].as_str().unwrap())
            .count();
        assert_eq!(asked, 1, "a 400 is not retried: {d}");
        assert!(
            d["last_error"].as_str().unwrap().contains("HTTP 400"),
            "{d}"
        );
        assert_eq!(d["disposition"], "busy");
    }
    receiver.set("refuse", Mode::Accept);
    for d in &dead {
        let id = d["id"].as_str().unwrap();
        let (status, body) = api
            .post(&format!("/api/v1/hooks/dead/{id}/retry"), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = api.post("/api/v1/hooks/dead/nope/retry", json!({})).await;
    assert_eq!(status, 404);
    wait_for("the retried dead letters", 20, || {
        receiver.accepted("refuse").len() == 2
    })
    .await;
    let (_, dead) = api.get("/api/v1/hooks/dead").await;
    assert_eq!(dead, json!([]));
    let trail = store.control_audit(0).unwrap();
    assert!(trail.iter().any(|a| a.action.starts_with("hooks retry")));

    // The hooks' figures in /metrics.
    let (status, _) = api.call("GET", "/metrics", None, None).await;
    assert_eq!(status, 401, "metrics need a key");
    // The deliverer counts a delivery once its row is settled, a moment after the receiver
    // saw it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let scrape = loop {
        let scrape = parse(&api.metrics().await);
        let settled = value(&scrape, "aicall_hook_delivered_total", &[]) == 10.0
            && value(&scrape, "aicall_hook_outbox", &[]) == 0.0;
        if settled || Instant::now() >= deadline {
            break scrape;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(value(&scrape, "aicall_hook_delivered_total", &[]), 10.0);
    assert_eq!(value(&scrape, "aicall_hook_dead_lettered_total", &[]), 2.0);
    assert!(value(&scrape, "aicall_hook_retried_total", &[]) >= 8.0);
    assert_eq!(value(&scrape, "aicall_hook_outbox", &[]), 0.0);
    assert_eq!(
        value(&scrape, "aicall_calls_ended_total", &[("campaign", "crm")]),
        8.0
    );
    // Scrapes are not audited one by one; refusals are.
    let trail = store.control_audit(0).unwrap();
    let scrapes: Vec<_> = trail.iter().filter(|a| a.action == "metrics").collect();
    assert_eq!(scrapes.len(), 1, "{scrapes:?}");
    assert!(scrapes[0].result.starts_with("unauthenticated"));

    service.shutdown().await;
    sim.stop().await;
}

// ---------------------------------------------------------------- metrics

/// The text format parsed by an independent parser, every line accounted for.
fn parse(text: &str) -> prometheus_parse::Scrape {
    use prometheus_parse::LineInfo;
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    for line in text.lines() {
        let ok = match LineInfo::parse(line) {
            LineInfo::Ignored => line.starts_with("# UNIT ") || line == "# EOF",
            LineInfo::Sample { value, .. } => {
                value.parse::<f64>().is_ok() || matches!(value, "+Inf" | "-Inf" | "NaN")
            }
            _ => true,
        };
        assert!(ok, "unparsable line `{line}`");
    }
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The sum of a metric's samples whose labels include `labels`.
fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value as V;
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match &x.value {
            V::Counter(v) | V::Gauge(v) | V::Untyped(v) => *v,
            V::Histogram(_) | V::Summary(_) => f64::NAN,
        })
        .sum()
}

/// A histogram's buckets (upper bound, cumulative count).
fn histogram(s: &prometheus_parse::Scrape, name: &str) -> Vec<(f64, f64)> {
    let x = s
        .samples
        .iter()
        .find(|x| x.metric == name)
        .unwrap_or_else(|| panic!("no histogram {name}"));
    match &x.value {
        prometheus_parse::Value::Histogram(b) => b.iter().map(|b| (b.less_than, b.count)).collect(),
        other => panic!("{name} is {other:?}"),
    }
}

fn say(file: &str) -> Step {
    let p = root().join(".setup/speech/callee").join(file);
    assert!(p.is_file(), "{} missing: run scripts/setup", p.display());
    Step::Say(p)
}

/// `/metrics` scraped while an AI campaign converses and after: the output parses, the
/// counters move and never go back, the latency histograms have samples.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scraped_while_a_campaign_converses() {
    let dir = tempfile::tempdir().unwrap();
    let mut callees = Vec::new();
    for i in 0..4 {
        callees.push(callee(
            &number(200 + i),
            Outcome::Answer,
            vec![
                Step::WaitBotAudio(8000),
                Step::SilenceMs(800),
                say("deny.wav"),
                Step::SilenceMs(20_000),
            ],
            40_000,
        ));
    }
    for i in 4..6 {
        callees.push(callee(&number(200 + i), Outcome::Busy, vec![], 1000));
    }
    let sim = sim_with(callees).await;
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open_with(&dir.path().join("db"), PiiCipher::new(KEY)).unwrap());
    let service = Service::start(
        store.clone(),
        models(),
        ServiceConfig {
            esl: ClientConfig {
                addr: sim.addr().to_string(),
                ..ClientConfig::default()
            },
            media: MediaConfig {
                port_first: 56_000,
                switch_port_first: 58_000,
                ..MediaConfig::default()
            },
            ..ServiceConfig::default()
        },
    )
    .await
    .unwrap();
    let api = Api::start(&service).await;
    let before = parse(&api.metrics().await);
    assert_eq!(value(&before, "aicall_calls", &[("state", "talking")]), 0.0);
    assert_eq!(
        value(&before, "aicall_agents", &[("state", "available")]),
        0.0
    );
    assert_eq!(value(&before, "aicall_esl_connected", &[]), 1.0);

    let mut s: CampaignSettings = serde_json::from_value(settings("")).unwrap();
    s.call.webhook_secret.clear();
    let script = root().join("examples/insurance/script.toml");
    s.call.script = std::fs::read_to_string(&script).unwrap();
    s.call.script_path = script;
    service.create("talk", s).await.unwrap();
    let contacts: Vec<Value> = (0..6).map(|i| json!({"phone": number(200 + i)})).collect();
    service.import_json("talk", contacts, None).await.unwrap();
    service.start_campaign("talk").await.unwrap();

    // While calls are up.
    wait_for("a call in conversation", 60, || {
        service
            .bus()
            .calls(None)
            .iter()
            .any(|c| c.state == "talking")
    })
    .await;
    let during = parse(&api.metrics().await);
    assert!(value(&during, "aicall_calls", &[("state", "talking")]) >= 1.0);
    assert!(
        value(
            &during,
            "aicall_calls_started_total",
            &[("campaign", "talk")]
        ) >= 1.0
    );
    assert!(value(&during, "aicall_campaign_calls_up", &[("campaign", "talk")]) >= 1.0);
    assert_eq!(
        value(&during, "aicall_campaigns", &[("state", "running")]),
        1.0
    );

    let attempts_done = || {
        store
            .contacts("talk")
            .unwrap()
            .iter()
            .filter(|c| c.state.is_terminal())
            .count()
    };
    wait_for("the campaign to finish", 180, || attempts_done() == 6).await;
    wait_for("the calls to go", 30, || {
        service.bus().calls(None).is_empty()
    })
    .await;
    // The ended-calls counter is kept by its own subscriber of the bus.
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let after = parse(&api.metrics().await);
        if value(&after, "aicall_calls_ended_total", &[]) == 6.0 || Instant::now() >= deadline {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Counters moved and never went back.
    for name in [
        "aicall_calls_started_total",
        "aicall_calls_answered_total",
        "aicall_calls_ended_total",
        "aicall_asr_segments_decoded_total",
        "aicall_media_frames_in_total",
        "aicall_media_frames_out_total",
        "aicall_media_utterances_heard_total",
    ] {
        let (a, b) = (value(&during, name, &[]), value(&after, name, &[]));
        assert!(b >= a && b > 0.0, "{name}: {a} then {b}");
    }
    assert_eq!(value(&after, "aicall_calls_started_total", &[]), 6.0);
    assert_eq!(value(&after, "aicall_calls_answered_total", &[]), 4.0);
    assert_eq!(
        value(
            &after,
            "aicall_calls_ended_total",
            &[("disposition", "busy")]
        ),
        2.0
    );
    assert_eq!(value(&after, "aicall_calls_ended_total", &[]), 6.0);
    assert_eq!(value(&after, "aicall_calls", &[("state", "talking")]), 0.0);
    assert!(value(&after, "aicall_asr_decode_milliseconds_total", &[]) > 0.0);
    assert_eq!(value(&after, "aicall_asr_queue_depth", &[]), 0.0);

    // Histograms: samples, cumulative buckets ending at +Inf = count.
    for name in [
        "aicall_turn_latency_seconds",
        "aicall_asr_recognition_seconds",
    ] {
        let buckets = histogram(&after, name);
        let count = value(&after, &format!("{name}_count"), &[]);
        assert!(count >= 4.0, "{name}: {count} samples");
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{buckets:?}"
        );
        let last = buckets.last().unwrap();
        assert!(
            last.0.is_infinite() && last.1 == count,
            "{name}: {buckets:?}"
        );
        let sum = value(&after, &format!("{name}_sum"), &[]);
        assert!(
            sum > 0.0 && sum / count < 30.0,
            "{name}: mean {}",
            sum / count
        );
    }
    eprintln!(
        "metrics: {} turns, mean turn latency {:.0} ms, mean recognition {:.0} ms",
        value(&after, "aicall_turn_latency_seconds_count", &[]),
        1000.0 * value(&after, "aicall_turn_latency_seconds_sum", &[])
            / value(&after, "aicall_turn_latency_seconds_count", &[]),
        1000.0 * value(&after, "aicall_asr_recognition_seconds_sum", &[])
            / value(&after, "aicall_asr_recognition_seconds_count", &[]),
    );
    service.shutdown().await;
    sim.stop().await;
}
