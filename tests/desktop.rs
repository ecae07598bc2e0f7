//! The agent desktop as an agent uses it, in a real headless Chromium (Debian's `chromium`,
//! driven over WebDriver by `chromedriver` — `scripts/setup` installs both).
//!
//! The service runs in-process against the switch simulator with aicall's own agent routing
//! (`[serve] agents`): one agent, `1001`, whose dial string `user/1001` the simulator answers
//! as a scenario callee (it talks a while and hangs up), and a campaign of one contact scored
//! by a lead model trained here.
//! The contact answers, asks about claims (the script's Q&A corpus knows the question) and
//! agrees, so the script transfers to the `sales` queue the desk routes. The agent logs in
//! through the page with its password, goes ready, gets the offer and sees the screen pop
//! (masked number, lead score with its reasons and segment, the AI conversation with intents,
//! the suggested answer), sees the call's live transcript once bridged (the agent answers the
//! claims question), talks until its leg hangs up, and files the disposition on the
//! form; the test then reads it back from the call's record and the router's figures. Over
//! plain HTTP: a disposition for a call the agent never had gets a clear 404, acting for
//! another agent a 403, filing twice a 409. The screen pop's screenshot is written to
//! `target/tmp/desktop.png` (and to `$AICALL_DESKTOP_PNG` when set: that is how
//! `docs/desktop.png` is made).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/inproc.rs"]
mod inproc;

#[path = "common/bank.rs"]
mod bank;
#[path = "common/browser.rs"]
mod browser;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aicall::app::{Service, ServiceConfig};
use aicall::call::CallRecord;
use aicall::outcome::Disposition;
use aicall::pii::Pii;
use aicall::profile::gbm::GbmParams;
use aicall::profile::{LeadModel, TrainOptions};
use aicall::routing::RoutingConfig;
use aicall::sim::Scenarios;
use aicall::store::ContactState;
use browser::{browser, eval, start_driver, until};
use fantoccini::{Client, Locator};
use inproc::root;
use serde_json::{json, Value};

const CAMPAIGN: &str = "desk";
const AGENT: &str = "1001";
const PASSWORD: &str = "坐席密码 desk-2024";
/// The contact: a CN mobile number, never to be seen in full.
const NUMBER: &str = "13900001001";

fn say(file: &str) -> String {
    let p = root().join(".setup/speech").join(file);
    assert!(p.is_file(), "{} missing: run scripts/setup", p.display());
    format!("{{ say = \"{}\" }}", p.display())
}

const WAIT: &str = "{ wait_bot_audio = 8000 }, { wait_bot_silence_ms = 700 }";

/// The contact, who asks about claims and agrees (a transfer to `sales`), and the agent's
/// phone (`user/1001`), which answers, talks a while and hangs up.
fn scenarios(dir: &Path) -> Scenarios {
    let contact = format!(
        "{WAIT}, {}, {WAIT}, {}, {WAIT}, {}, {{ silence_ms = 90000 }}",
        say("callee/affirm_start.wav"),
        say("callee/claim.wav"),
        say("callee/affirm_ok.wav")
    );
    // The agent answers the claims question: the desktop's live transcript shows it.
    let agent = format!(
        "{{ silence_ms = 1500 }}, {}, {{ silence_ms = 9000 }}, {{ hangup = \"NORMAL_CLEARING\" }}",
        say("prompts/qa_claim.wav")
    );
    let text = format!(
        "[[callee]]\nnumber = \"{NUMBER}\"\nrate = 8000\nring_ms = 300\nscript = [{contact}]\n\n\
         [[callee]]\nnumber = \"{AGENT}\"\nrate = 8000\nring_ms = 1500\nscript = [{agent}]\n"
    );
    Scenarios::parse(&text, dir).unwrap()
}

/// aicall's own agents: `1001` takes the sales queue; `1002` stays logged out.
const AGENTS: &str = r#"
strategy = "score"
skills = ["insurance"]
ring_timeout_s = 15
wrap_up_s = 600
max_no_answer = 2

[[agents]]
id = "1001"
name = "王芳"
dial = "user/1001"
skills = { insurance = 8 }
languages = ["zh"]

[[agents]]
id = "1002"
name = "李强"
dial = "user/1002"
skills = { insurance = 6 }
languages = ["zh"]

[[queues]]
name = "sales"
required = { insurance = 5 }
max_wait_s = 120
fallback = "callback"

[[queues]]
name = "service"
required = { insurance = 1 }
max_wait_s = 60
fallback = "bot"
"#;

/// A small lead model on generated bank-style contacts (the columns the contact carries).
fn lead_model(dir: &Path) -> Vec<(String, String)> {
    let table = bank::table(1_500, 11);
    let mut opts = TrainOptions::new("y");
    opts.exclude = vec!["duration".into()];
    opts.folds = 3;
    opts.grid = vec![GbmParams {
        learning_rate: 0.1,
        num_leaves: 7,
        min_data_in_leaf: 30,
        num_rounds: 60,
        early_stopping_rounds: 10,
        ..GbmParams::default()
    }];
    opts.segment_ks = vec![2, 3];
    opts.selection_rows = 800;
    let model = LeadModel::train(&table, &opts, &mut |_| {}).expect("the lead model trains");
    model.save(dir).expect("the lead model saves");
    // The contact: the first generated row, without the label and the after-call duration.
    table
        .headers
        .iter()
        .cloned()
        .zip(table.rows[0].iter().cloned())
        .filter(|(k, _)| k != "y" && k != "duration")
        .collect()
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// A POST with a cookie or a key: (status, the JSON answer).
async fn post(http: &reqwest::Client, url: &str, auth: (&str, &str), body: Value) -> (u16, Value) {
    let r = http
        .post(url)
        .header(auth.0, auth.1)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[test]
fn an_agent_takes_a_transfer_sees_the_screen_pop_and_files_the_disposition() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("lead-model");
    let fields = lead_model(&model_dir);
    let header: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    let row: Vec<&str> = fields.iter().map(|(_, v)| v.as_str()).collect();
    let contacts = format!(
        "phone,name,{}\n{NUMBER},张先生,{}\n",
        header.join(","),
        row.join(",")
    );
    let models = inproc::models();
    let routing: RoutingConfig = toml::from_str(AGENTS).unwrap();
    let driver = start_driver();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = inproc::sim(scenarios(dir.path())).await;
        let (store, admin) = inproc::store_with_admin(dir.path(), 7);
        let mut settings = inproc::example_settings();
        settings.call.lead_model = Some(model_dir.clone());
        settings.pacing.max_concurrent = 1;
        settings.pacing.calls_per_s = 1.0;
        let service = Service::start(
            store.clone(),
            models,
            ServiceConfig {
                    exit_when_done: true,
                    agents: Some(routing),
                ..inproc::config(&sim, 38_000, 100)
            },
        )
        .await
        .unwrap();
        service.create(CAMPAIGN, settings).await.unwrap();
        let import = service
            .import(CAMPAIGN, "contacts.csv", contacts.into_bytes(), None, None)
            .await
            .unwrap();
        assert_eq!(import.imported, 1);
        let scored = store.contacts(CAMPAIGN).unwrap()[0].score;
        assert!(scored.is_some(), "the lead model scored the contact");

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

        // The agents' users: the name is the agent id; a password for the page.
        let mut agent_key = String::new();
        for name in [AGENT, "1002"] {
            let r: Value = http
                .post(format!("{base}/api/v1/users"))
                .bearer_auth(&admin)
                .json(&json!({"name": name, "role": "agent", "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(r["role"], "agent", "{r}");
            if name == AGENT {
                agent_key = r["key"].as_str().unwrap().to_owned();
            }
        }
        let bearer = format!("Bearer {agent_key}");

        // The browser: one log-in page for everyone; an agent lands on the desktop.
        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path(), "1440,1100").await;
        c.goto(&format!("{base}/")).await.unwrap();
        c.find(Locator::Css("#login-user"))
            .await
            .unwrap()
            .send_keys(AGENT)
            .await
            .unwrap();
        c.find(Locator::Css("#login-password"))
            .await
            .unwrap()
            .send_keys(PASSWORD)
            .await
            .unwrap();
        click(&c, "#login-submit").await;
        until(
            &c,
            "the desktop and the agent's feed",
            Duration::from_secs(20),
            "location.pathname === '/agent' && \
             document.querySelector('#feed-status').textContent.includes('live') && \
             document.querySelector('#agent-state').textContent.includes('logged out')",
        )
        .await;
        assert_eq!(
            eval(&c, "document.querySelector('#me').textContent").await,
            "1001 (agent)"
        );

        // Ready: logged in to the desk and available.
        click(&c, "#btn-ready").await;
        until(
            &c,
            "the agent to be ready",
            Duration::from_secs(10),
            "document.querySelector('#agent-state').textContent === '就绪 ready'",
        )
        .await;

        // The campaign calls the contact, who ends up transferred to the agent.
        service.start_campaign(CAMPAIGN).await.unwrap();
        let pop = until(
            &c,
            "the screen pop with the AI conversation",
            Duration::from_secs(180),
            "!document.querySelector('#pop').hidden && \
             document.querySelector('#pop-conversation .line.callee .intent') && \
             document.querySelector('#pop-callee').textContent",
        )
        .await;
        // Stored in E.164: the country code and the last four digits show.
        let masked = Pii(&format!("+86{NUMBER}")).to_string();
        assert_eq!(masked, "+86*******1001");
        assert_eq!(pop, masked.as_str(), "the callee's number, masked");
        let lines = eval(
            &c,
            "[...document.querySelectorAll('#pop-conversation .line')].map(l => l.textContent)",
        )
        .await;
        eprintln!("the AI conversation on the screen pop: {lines}");
        let lines: Vec<String> = lines
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect();
        assert!(
            lines.iter().any(|l| l.starts_with("机器人 bot")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("客户 callee")),
            "{lines:?}"
        );
        let text = |css: &str| {
            let c = &c;
            let js = format!("document.querySelector('{css}').textContent");
            async move { eval(c, &js).await.as_str().unwrap().to_owned() }
        };
        assert_eq!(text("#pop-name").await, "张先生");
        assert_eq!(text("#pop-queue").await, "sales (insurance)");
        assert_eq!(text("#pop-node").await, "transfer_interested");
        assert!(text("#pop-score").await.ends_with('%'));
        assert!(
            text("#pop-segment").await.starts_with("分群 segment: "),
            "the lead model's segment"
        );
        let reasons = eval(
            &c,
            "[...document.querySelectorAll('#pop-reasons li .feature')].map(l => l.textContent)",
        )
        .await;
        assert!(
            !reasons.as_array().unwrap().is_empty(),
            "the lead score's top reasons: {reasons}"
        );
        let suggestion = text("#pop-suggestion").await;
        assert!(
            suggestion.contains("三个工作日"),
            "the Q&A corpus' answer about claims: {suggestion}"
        );

        // While they talk: the screenshot for the README.
        let talking = until(
            &c,
            "the agent and the callee talking",
            Duration::from_secs(30),
            "document.querySelector('#pop-phase').textContent.startsWith('通话中')",
        )
        .await;
        assert_eq!(talking, true);
        // The call after the bridge, transcribed live (a line of the call, both sides).
        let live = until(
            &c,
            "the agent's words in the live transcript",
            Duration::from_secs(40),
            "[...document.querySelectorAll('#live-lines li.bridged')].map((l) => l.textContent).join(' ').includes('理赔') \
             && document.querySelector('#live-empty').hidden",
        )
        .await;
        assert_eq!(live, true);
        let png = c.screenshot().await.unwrap();
        let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("desktop.png");
        std::fs::write(&shot, &png).unwrap();
        if let Some(p) = std::env::var_os("AICALL_DESKTOP_PNG") {
            std::fs::write(p, &png).unwrap();
        }
        eprintln!("screenshot: {} ({} bytes)", shot.display(), png.len());

        // Nowhere on the page, nor in what the page read, the number in full.
        let html = eval(&c, "document.documentElement.outerHTML").await;
        assert!(
            !html.as_str().unwrap().contains(NUMBER),
            "the number in full"
        );
        let screen = http
            .get(format!("{base}/api/v1/agents/{AGENT}/screen"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!screen.contains(NUMBER), "the number in full: {screen}");
        let screen: Value = serde_json::from_str(&screen).unwrap();
        let call = screen["screen"]["call"].as_str().unwrap().to_owned();
        assert_eq!(screen["screen"]["phase"], "talking");
        assert_eq!(screen["screen"]["suggestion"]["key"], "qa_claim");

        // The agent's feed carries the call on its screen, and no other call.
        let feed = |id: &str, call: &str| {
            http.get(format!("{base}/api/v1/agents/{id}/events?call={call}"))
                .header("authorization", &bearer)
                .send()
        };
        let mut own = feed(AGENT, &call).await.unwrap();
        assert_eq!(own.status().as_u16(), 200);
        let first = own.chunk().await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&first).contains("event: ready"));
        drop(own);
        let elsewhere = feed(AGENT, "another-call").await.unwrap();
        assert_eq!(elsewhere.status().as_u16(), 404);
        let theirs = feed("1002", &call).await.unwrap();
        assert_eq!(theirs.status().as_u16(), 403, "another agent's feed");

        // The agent's phone hangs up: the disposition form.
        until(
            &c,
            "the disposition form once the call ended",
            Duration::from_secs(60),
            "!document.querySelector('#dispo').hidden && \
             document.querySelectorAll('#dispo-outcome option').length",
        )
        .await;

        // Over HTTP: a call the agent never had, another agent, a bad outcome.
        let url = |id: &str| format!("{base}/api/v1/agents/{id}/disposition");
        let (status, never) = post(
            &http,
            &url(AGENT),
            ("authorization", &bearer),
            json!({"call": "no-such-call", "converted": true}),
        )
        .await;
        assert_eq!(status, 404, "{never}");
        assert_eq!(
            never["error"], "agent `1001` never had call `no-such-call`",
            "a clear message"
        );
        let (status, other) = post(
            &http,
            &url("1002"),
            ("authorization", &bearer),
            json!({"call": call, "converted": true}),
        )
        .await;
        assert_eq!(status, 403, "{other}");
        assert!(
            other["error"].as_str().unwrap().contains("only for itself"),
            "{other}"
        );
        let (status, _) = post(
            &http,
            &format!("{base}/api/v1/agents/1002/ready"),
            ("authorization", &bearer),
            json!({}),
        )
        .await;
        assert_eq!(status, 403, "an agent sets no other agent's state");
        let (status, bad) = post(
            &http,
            &url(AGENT),
            ("authorization", &bearer),
            json!({"call": call, "outcome": "sold"}),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert!(bad["error"]
            .as_str()
            .unwrap()
            .contains("unknown outcome `sold`"));

        // The page shows a refusal as text: a callback without its time (the browser's own
        // check, which would stop it first, taken off).
        let outcome = c.find(Locator::Css("#dispo-outcome")).await.unwrap();
        outcome.select_by_value("callback").await.unwrap();
        eval(
            &c,
            "(() => { const t = document.querySelector('#dispo-callback'); \
               t.value = ''; t.required = false; return true; })()",
        )
        .await;
        click(&c, "#dispo-submit").await;
        let refused = until(
            &c,
            "the refusal on the form",
            Duration::from_secs(10),
            "!document.querySelector('#dispo-error').hidden && \
             document.querySelector('#dispo-error').textContent",
        )
        .await;
        assert!(
            refused
                .as_str()
                .unwrap()
                .contains("a callback needs its time"),
            "{refused}"
        );

        // The form: a sale, with notes.
        c.find(Locator::Css("#dispo-outcome"))
            .await
            .unwrap()
            .select_by_value("sale")
            .await
            .unwrap();
        c.find(Locator::Css("#dispo-notes"))
            .await
            .unwrap()
            .send_keys("客户同意投保，下周寄合同")
            .await
            .unwrap();
        click(&c, "#dispo-submit").await;
        let filed = until(
            &c,
            "the disposition filed and the screen cleared",
            Duration::from_secs(20),
            "document.querySelector('#pop').hidden && \
             !document.querySelector('#filed').hidden && \
             document.querySelector('#filed').textContent",
        )
        .await;
        assert!(filed.as_str().unwrap().contains("成交 sale"), "{filed}");

        // It reached the call's record...
        let record = CallRecord::load(store.as_ref(), CAMPAIGN, &call)
            .unwrap()
            .expect("the call's record");
        assert_eq!(record.agent.as_deref(), Some(AGENT));
        assert_eq!(record.disposition, Some(Disposition::Transferred));
        let outcome = record.agent_outcome.expect("the agent's outcome");
        assert_eq!(outcome.agent, AGENT);
        assert!(outcome.converted);
        assert_eq!(outcome.outcome, Some(Disposition::Interested));
        assert_eq!(outcome.notes, "客户同意投保，下周寄合同");
        // ...and the router, which learns the agent's conversion from it.
        let desk: Value = http
            .get(format!("{base}/api/v1/agents"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(desk["counters"]["dispositions"], 1, "{desk}");
        assert_eq!(desk["counters"]["conversions"], 1, "{desk}");
        let me = desk["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == AGENT)
            .unwrap();
        assert_eq!(me["pending_dispositions"], 0, "{me}");
        // ...and the dialer: the call's attempt is a sale (once the callee's leg is gone too)
        // and the contact is done for good.
        let contact = record.contact_id.expect("the call's contact");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while store.attempt(&call).unwrap().disposition != Some(Disposition::Converted) {
            assert!(
                std::time::Instant::now() < deadline,
                "the attempt is still {:?}",
                store.attempt(&call).unwrap().disposition
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(store.contact(contact).unwrap().state, ContactState::Done);
        // The floor's outcome as a training label, with the README's command: the contact,
        // converted by the agent, its fields and not its number.
        let labels = dir.path().join("labels.csv");
        let args = [
            "campaign".to_owned(),
            "labels".to_owned(),
            CAMPAIGN.to_owned(),
            "--out".to_owned(),
            labels.display().to_string(),
            "--api".to_owned(),
            base.clone(),
        ];
        let key = admin.clone();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_aicall"))
                .current_dir(root())
                .args(args)
                .env("AICALL_API_KEY", key)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains("1 contacts with a final outcome (1 by agents"), "{said}");
        let text = std::fs::read_to_string(&labels).unwrap();
        assert!(!text.contains(&NUMBER[3..]), "the number in the labels: {text}");
        let table = aicall::profile::csv::read_path(&labels).unwrap();
        let cell = |name: &str| table.rows[0][table.column(name).unwrap()].clone();
        assert_eq!(table.rows.len(), 1, "{text}");
        assert_eq!(cell("converted"), "1");
        assert_eq!(cell("outcome_source"), "agent");
        assert_eq!(cell("contact_id"), contact.to_string());
        assert_eq!(cell("age"), fields[0].1, "the contact's fields: {text}");
        // Filing it again is a conflict, said plainly.
        let (status, twice) = post(
            &http,
            &url(AGENT),
            ("authorization", &bearer),
            json!({"call": call, "converted": false}),
        )
        .await;
        assert_eq!(status, 409, "{twice}");
        assert!(twice["error"]
            .as_str()
            .unwrap()
            .contains("already has a disposition"));
        // Every desk request is in the audit trail, refusals too.
        let trail = store.control_audit(0).unwrap();
        assert!(trail
            .iter()
            .any(|a| a.action.starts_with("agent 1002 disposition") && a.result == "denied"));
        assert!(trail
            .iter()
            .any(|a| a.action.starts_with("agent 1001 disposition") && a.result == "allowed"));

        // Back to ready from wrap-up.
        click(&c, "#btn-ready").await;
        until(
            &c,
            "the agent ready again",
            Duration::from_secs(10),
            "document.querySelector('#agent-state').textContent === '就绪 ready'",
        )
        .await;

        c.close().await.unwrap();
        tokio::time::timeout(Duration::from_secs(120), service.idle())
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
