//! The live dashboard as a supervisor uses it, in a real headless Chromium (Debian's
//! `chromium`, driven over WebDriver by `chromedriver` — `scripts/setup` installs both).
//!
//! The service runs in-process against the switch simulator with a campaign of conversing
//! callees (the real dialer, media engine, Whisper and intent model, the demo's rendered
//! speech, as in `tests/call.rs`). The test logs in through the page with a password set
//! over the API, watches the live figures move once the campaign starts, clicks a call up
//! and reads its transcript with intents, then opens a stored call; and over plain HTTP it
//! asks every dashboard route with no credentials, a wrong key and each role. The page's
//! screenshot is written to `target/tmp/dashboard.png` (and to `$AICALL_DASHBOARD_PNG` when
//! set: that is how `docs/dashboard.png` is made).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/inproc.rs"]
mod inproc;

#[path = "common/browser.rs"]
mod browser;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aicall::app::control::Role;
use aicall::app::web::Endpoint;
use aicall::app::{Service, ServiceConfig};
use aicall::sim::Scenarios;
use browser::{browser, click_live, eval, start_driver, until};
use fantoccini::Locator;
use inproc::root;
use serde_json::{json, Value};

const CAMPAIGN: &str = "web";
const PASSWORD: &str = "看板密码 wallboard-2024";

fn callee(number: &str, steps: &str) -> String {
    format!("[[callee]]\nnumber = \"{number}\"\nrate = 8000\nring_ms = 300\nscript = [{steps}]\n\n")
}

fn say(file: &str) -> String {
    let p = root().join(".setup/speech/callee").join(file);
    assert!(p.is_file(), "{} missing: run scripts/setup", p.display());
    format!("{{ say = \"{}\" }}", p.display())
}

const WAIT: &str = "{ wait_bot_audio = 8000 }, { wait_bot_silence_ms = 700 }";

/// Six callees, two at a time: interested ones (transferred), a price question, a decline,
/// a busy one (callback).
fn scenarios(dir: &Path) -> (Scenarios, Vec<String>) {
    let numbers: Vec<String> = (1..=6).map(|i| format!("1390000100{i}")).collect();
    let interested = format!(
        "{WAIT}, {}, {WAIT}, {}, {{ silence_ms = 15000 }}",
        say("affirm_start.wav"),
        say("affirm_ok.wav")
    );
    let price = format!(
        "{WAIT}, {}, {WAIT}, {}, {WAIT}, {}, {{ silence_ms = 15000 }}",
        say("affirm_start.wav"),
        say("ask_price.wav"),
        say("affirm_ok.wav")
    );
    let deny = format!("{WAIT}, {}, {{ silence_ms = 15000 }}", say("deny.wav"));
    let busy = format!("{WAIT}, {}, {{ silence_ms = 15000 }}", say("busy.wav"));
    let text = [
        callee(&numbers[0], &interested),
        callee(&numbers[1], &price),
        callee(&numbers[2], &deny),
        callee(&numbers[3], &interested),
        callee(&numbers[4], &busy),
        callee(&numbers[5], &deny),
    ]
    .concat();
    (Scenarios::parse(&text, dir).unwrap(), numbers)
}

fn kpi(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// A dashboard route, and the status its caller gets when the role may use it.
fn routes() -> Vec<(Endpoint, String, u16)> {
    let c = CAMPAIGN;
    vec![
        (Endpoint::Me, "/api/v1/me".into(), 200),
        (
            Endpoint::Events,
            format!("/api/v1/events?campaign={c}"),
            200,
        ),
        (
            Endpoint::LiveCampaigns,
            "/api/v1/live/campaigns".into(),
            200,
        ),
        (Endpoint::LiveCalls, "/api/v1/live/calls".into(), 200),
        (
            Endpoint::LiveCall,
            "/api/v1/live/calls/no-such-call".into(),
            404,
        ),
        (Endpoint::Agents, "/api/v1/live/agents".into(), 200),
        (
            Endpoint::Report,
            format!("/api/v1/campaigns/{c}/report"),
            200,
        ),
        (Endpoint::Calls, format!("/api/v1/campaigns/{c}/calls"), 200),
        (
            Endpoint::Call,
            format!("/api/v1/campaigns/{c}/calls/no-such-call"),
            404,
        ),
        (
            Endpoint::Labels,
            format!("/api/v1/campaigns/{c}/labels"),
            200,
        ),
    ]
}

/// Every route with no credentials, a wrong key, each role's key and a session cookie.
async fn check_roles(http: &reqwest::Client, base: &str, keys: &[(Role, String)], cookie: &str) {
    assert_eq!(
        routes().len(),
        Endpoint::ALL.len(),
        "every endpoint is asked"
    );
    for (endpoint, path, ok) in routes() {
        let url = format!("{base}{path}");
        let status = |r: reqwest::Response| r.status().as_u16();
        let none = http.get(&url).send().await.unwrap();
        assert_eq!(status(none), 401, "{path} without credentials");
        let wrong = http
            .get(&url)
            .bearer_auth("aicall_0000")
            .send()
            .await
            .unwrap();
        assert_eq!(status(wrong), 401, "{path} with a wrong key");
        let stale = http
            .get(&url)
            .header("cookie", "aicall_session=ffffffff")
            .send()
            .await
            .unwrap();
        assert_eq!(status(stale), 401, "{path} with an unknown session");
        for (role, key) in keys {
            let allowed = endpoint.action().is_none_or(|a| a.allowed(*role));
            let r = http.get(&url).bearer_auth(key).send().await.unwrap();
            let want = if allowed { ok } else { 403 };
            assert_eq!(status(r), want, "{path} as {role}");
        }
        let r = http
            .get(&url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(status(r), ok, "{path} as the supervisor's session");
    }
}

/// Reads a viewer's feed until a callee's line comes: it has the intent, not the words.
async fn viewer_sees_no_words(http: reqwest::Client, url: String, key: String) -> Value {
    let mut resp = http.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut buf = String::new();
    loop {
        let chunk = resp.chunk().await.unwrap().expect("the feed stays open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            for data in frame.lines().filter_map(|l| l.strip_prefix("data: ")) {
                let Ok(ev) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                let d = &ev["data"];
                if ev["type"] == "call" && d["event"] == "turn" && d["speaker"] == "callee" {
                    return ev;
                }
            }
        }
    }
}

/// The tests of this file load Whisper and hold calls: one at a time on 2 cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn a_supervisor_watches_a_live_campaign_and_drills_into_a_call() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (scenarios, numbers) = scenarios(dir.path());
    let contacts: String = std::iter::once("phone,name".to_owned())
        .chain(numbers.iter().map(|n| format!("{n},客户")))
        .collect::<Vec<_>>()
        .join("\n");
    let models = inproc::models();
    let driver = start_driver();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = inproc::sim(scenarios).await;
        let (store, admin) = inproc::store_with_admin(dir.path(), 7);
        let mut settings = inproc::example_settings();
        settings.pacing.max_concurrent = 2;
        settings.pacing.calls_per_s = 1.0;
        let service = Service::start(
            store.clone(),
            models,
            ServiceConfig {
                exit_when_done: true,
                ..inproc::config(&sim, 42_000, 100)
            },
        )
        .await
        .unwrap();
        service.create(CAMPAIGN, settings).await.unwrap();
        let import = service
            .import(CAMPAIGN, "contacts.csv", contacts.into_bytes(), None, None)
            .await
            .unwrap();
        assert_eq!(import.imported, 6);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let http_task = tokio::spawn(aicall::app::http::serve(
            listener,
            service.clone(),
            async move {
                let _ = http_stopped.await;
            },
        ));
        let http = reqwest::Client::new();

        // Users: a supervisor with a password (over the API, as `aicall users add
        // --password-stdin` does), and one key per role.
        let r: Value = http
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&admin)
            .json(&json!({"name": "张主管", "role": "supervisor", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["role"], "supervisor", "{r}");
        let short = http
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&admin)
            .json(&json!({"name": "x", "role": "viewer", "password": "short"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            short.status().as_u16(),
            400,
            "a too-short password is refused"
        );
        let stored = store.users().unwrap();
        let boss = stored.iter().find(|u| u.name == "张主管").unwrap();
        let hash = boss.password_hash.as_deref().expect("password stored");
        assert!(hash.starts_with("$argon2id$") && !hash.contains("wallboard"));
        assert!(
            !stored.iter().any(|u| u.name == "x"),
            "no user from a refused request"
        );
        let mut keys = Vec::new();
        for role in Role::ALL {
            let r: Value = http
                .post(format!("{base}/api/v1/users"))
                .bearer_auth(&admin)
                .json(&json!({"name": format!("key-{role}"), "role": role.as_str()}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            keys.push((*role, r["key"].as_str().unwrap().to_owned()));
        }

        // Log-in over HTTP: wrong password, then the session cookie.
        let login = |password: &'static str| {
            http.post(format!("{base}/api/v1/login"))
                .json(&json!({"user": "张主管", "password": password}))
                .send()
        };
        assert_eq!(
            login("nope nope nope").await.unwrap().status().as_u16(),
            401
        );
        let ok = login(PASSWORD).await.unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        let set_cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        check_roles(&http, &base, &keys, &cookie).await;
        let out = http
            .post(format!("{base}/api/v1/logout"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status().as_u16(), 200);
        let after = http
            .get(format!("{base}/api/v1/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(after.status().as_u16(), 401, "logged out");

        // The browser: log in through the page.
        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path(), "1440,1250").await;
        c.goto(&format!("{base}/")).await.unwrap();
        c.find(Locator::Css("#login-user"))
            .await
            .unwrap()
            .send_keys("张主管")
            .await
            .unwrap();
        c.find(Locator::Css("#login-password"))
            .await
            .unwrap()
            .send_keys(PASSWORD)
            .await
            .unwrap();
        c.find(Locator::Css("#login-submit"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(
            &c,
            "the dashboard and its live feed",
            Duration::from_secs(20),
            "location.pathname === '/dashboard' && \
             document.querySelector('#feed-status').textContent.includes('live') && \
             document.querySelector('#me').textContent",
        )
        .await;
        let me = eval(&c, "document.querySelector('#me').textContent").await;
        assert_eq!(me, "张主管 (supervisor)");
        assert_eq!(
            eval(&c, "!!window.uPlot").await,
            Value::Bool(true),
            "the chart library is embedded (scripts/setup fetched it)"
        );
        assert_eq!(
            eval(&c, "document.querySelector('#agents').textContent").await,
            "未配置坐席 · no agents configured"
        );
        let dialled_before =
            kpi(&eval(&c, "document.querySelector('#kpi-dialled').textContent").await);
        assert_eq!(dialled_before, 0, "nothing dialled before the start");

        // Start the campaign: the figures move live, without a reload.
        service.start_campaign(CAMPAIGN).await.unwrap();
        let viewer_key = keys
            .iter()
            .find(|(r, _)| *r == Role::Viewer)
            .unwrap()
            .1
            .clone();
        let viewer = tokio::spawn(viewer_sees_no_words(
            http.clone(),
            format!("{base}/api/v1/events?campaign={CAMPAIGN}"),
            viewer_key,
        ));
        let started = Instant::now();
        until(
            &c,
            "calls up and dialled counters to move",
            Duration::from_secs(60),
            "Number(document.querySelector('#kpi-up').textContent) > 0 && \
             Number(document.querySelector('#kpi-dialled').textContent) > 0",
        )
        .await;
        eprintln!("figures moved {:?} after the start", started.elapsed());

        // A call up with a callee's line and its intent; click it for the transcript.
        let uuid = until(
            &c,
            "a live call with the callee's intent",
            Duration::from_secs(120),
            "[...document.querySelectorAll('#live-calls tbody tr')]\
               .filter(tr => tr.cells[4].textContent)\
               .map(tr => tr.dataset.uuid)[0]",
        )
        .await;
        let uuid = uuid.as_str().unwrap().to_owned();
        click_live(&c, &format!("#live-calls tbody tr[data-uuid='{uuid}']")).await;
        let live_lines = until(
            &c,
            "the live transcript with intents",
            Duration::from_secs(20),
            "!document.querySelector('#transcript').hidden && \
             document.querySelector('#t-lines .line.callee .intent') && \
             [...document.querySelectorAll('#t-lines .line')].map(l => l.textContent)",
        )
        .await;
        eprintln!("live transcript of {uuid}: {live_lines}");
        let lines = live_lines.as_array().unwrap();
        assert!(lines
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("机器人 bot")));
        assert!(lines
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("客户 callee")));

        // The calls up as a viewer sees them: no lines; as a supervisor: the lines.
        let live = |key: String| {
            let http = http.clone();
            let url = format!("{base}/api/v1/live/calls?campaign={CAMPAIGN}");
            async move {
                let v: Value = http
                    .get(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v.as_array().unwrap().clone()
            }
        };
        let key_of = |role: Role| keys.iter().find(|(r, _)| *r == role).unwrap().1.clone();
        let seen_by_viewer = live(key_of(Role::Viewer)).await;
        assert!(seen_by_viewer
            .iter()
            .all(|c| c["lines"].as_array().unwrap().is_empty()));
        let seen_by_supervisor = live(key_of(Role::Supervisor)).await;
        assert!(
            seen_by_supervisor
                .iter()
                .any(|c| !c["lines"].as_array().unwrap().is_empty()),
            "{seen_by_supervisor:?}"
        );

        // The viewer's feed carried the same kind of line, without the words.
        let ev = tokio::time::timeout(Duration::from_secs(60), viewer)
            .await
            .expect("the viewer's feed carries a callee line")
            .unwrap();
        assert_eq!(ev["data"]["text"], "", "a viewer sees no words: {ev}");
        assert!(
            ev["data"]["intent"].is_string(),
            "but sees the intent: {ev}"
        );

        // Once calls have ended: the stored call, from the list of recent calls.
        c.find(Locator::Css("#t-close"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let stored = until(
            &c,
            "a stored call in the recent list with intents",
            Duration::from_secs(120),
            "[...document.querySelectorAll('#recent-calls tbody tr')]\
               .filter(tr => tr.cells[2].textContent)\
               .map(tr => tr.dataset.uuid)[0]",
        )
        .await;
        let stored = stored.as_str().unwrap().to_owned();
        click_live(&c, &format!("#recent-calls tbody tr[data-uuid='{stored}']")).await;
        let record = until(
            &c,
            "the stored transcript with intents and decisions",
            Duration::from_secs(20),
            "document.querySelector('#t-lines .line.callee .intent') && \
             document.querySelector('#t-decisions li') && \
             document.querySelector('#t-meta').textContent",
        )
        .await;
        eprintln!("stored call {stored}: {record}");
        assert!(record.as_str().unwrap().contains("路径 path"));
        // The report panels filled from the stored calls.
        until(
            &c,
            "the funnel and intents from stored calls",
            Duration::from_secs(30),
            "document.querySelectorAll('#funnel .bar').length === 5 && \
             document.querySelectorAll('#intents .bar').length > 0 && \
             document.querySelector('#lat-p50').textContent.endsWith('ms')",
        )
        .await;

        // The overview for the README: the drawer closed, the panels full.
        c.find(Locator::Css("#t-close"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(
            &c,
            "the drawer to close",
            Duration::from_secs(5),
            "document.querySelector('#transcript').hidden",
        )
        .await;

        // Nowhere on the page a full phone number.
        let text = eval(&c, "document.documentElement.outerHTML").await;
        for n in &numbers {
            assert!(
                !text.as_str().unwrap().contains(n.as_str()),
                "{n} shown in full"
            );
        }

        let png = c.screenshot().await.unwrap();
        let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
        std::fs::write(&shot, &png).unwrap();
        if let Some(p) = std::env::var_os("AICALL_DASHBOARD_PNG") {
            std::fs::write(p, &png).unwrap();
        }
        eprintln!("screenshot: {} ({} bytes)", shot.display(), png.len());

        c.close().await.unwrap();
        tokio::time::timeout(Duration::from_secs(180), service.idle())
            .await
            .expect("the campaign finishes");
        service.shutdown().await;
        let _ = stop_http.send(());
        tokio::time::timeout(Duration::from_secs(10), http_task)
            .await
            .expect("the API stops: no feed holds it open")
            .unwrap()
            .unwrap();
        sim.stop().await;
    });
    drop(driver);
}

/// The real binary: `aicall serve` (over its built-in simulator) serves the pages with the
/// chart library embedded, `aicall users add --password-stdin` gives a user a password the
/// log-in accepts, and SIGTERM stops the service while a dashboard's feed is open.
#[test]
fn the_binary_serves_the_pages_and_users_add_sets_a_password() {
    use std::io::{BufRead, BufReader, Write};
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_aicall"))
        .current_dir(root())
        .args([
            "serve",
            "--api-listen",
            "127.0.0.1:0",
            "--outbound-listen",
            "off",
            "--console-listen",
            "off",
        ])
        .args(["--grace-s", "5", "--media-port", "43000", "--db"])
        .arg(&db)
        .env("AICALL_PII_KEY", "07".repeat(32))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("aicall serve starts");
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("serve printed its API address")
            .unwrap();
        if let Some(url) = line.strip_prefix("aicall serve: API on ") {
            break url.trim().to_owned();
        }
    };
    let (out_tx, out_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = out_tx.send(l);
        }
    });
    let admin = std::fs::read_to_string(db.join("admin.key")).unwrap();

    let mut add = Command::new(env!("CARGO_BIN_EXE_aicall"))
        .current_dir(root())
        .args([
            "users",
            "add",
            "值班",
            "--role",
            "viewer",
            "--password-stdin",
            "--api",
            &base,
        ])
        .env("AICALL_API_KEY", admin.trim())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(
        added.status.success(),
        "{}{}",
        String::from_utf8_lossy(&added.stdout),
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(String::from_utf8_lossy(&added.stdout).contains("aicall_"));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let page = http.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        assert!(page.text().await.unwrap().contains("login-form"));
        let charts = http
            .get(format!("{base}/assets/uplot.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            charts.status().as_u16(),
            200,
            "uPlot embedded (scripts/setup fetched it)"
        );
        assert!(charts.text().await.unwrap().contains("uPlot"));
        let none = http
            .get(format!("{base}/assets/nope.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(none.status().as_u16(), 404);

        let login = http
            .post(format!("{base}/api/v1/login"))
            .json(&json!({"user": "值班", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status().as_u16(), 200);
        let cookie = login.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let me: Value = http
            .get(format!("{base}/api/v1/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["role"], "viewer");
        assert_eq!(me["read_calls"], false);

        // A dashboard's feed is open when the service is told to stop.
        let mut feed = http
            .get(format!("{base}/api/v1/events"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(feed.status().as_u16(), 200);
        let first = feed.chunk().await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&first).contains("event: ready"));
        let term = Command::new("kill")
            .args(["-TERM", &serve.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let mut rest = String::new();
        let ended = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(chunk)) = feed.chunk().await {
                rest.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        assert!(ended.is_ok(), "the feed ended with the service");
        assert!(rest.contains("event: bye"), "{rest}");
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = serve.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop with a feed open"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let said: Vec<String> = out_rx.try_iter().collect();
    assert!(said.iter().any(|l| l.contains("stopped")), "{said:?}");
}
