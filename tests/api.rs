//! The REST API as its OpenAPI document describes it, over HTTP to an in-process service on
//! the switch simulator (no campaign runs: one is created from the example script so that
//! routes naming a campaign resolve).
//!
//! The roles matrix takes its list of operations from the served document itself, so a
//! route nobody thought of is asked too: every operation with no credentials, a wrong key,
//! an unknown session, and each role's key. What the role may do (the operation's
//! `x-aicall-roles`) must get past the guard — its own answer, never 401 or 403 — and what
//! it may not must get 403; an agent acting on another agent's desk gets 403. Then the
//! audit trail must hold a line for every one of those attempts. Last, the new endpoints do
//! what they say: contacts paged with masked numbers, script validation, the DNC counts,
//! queues, reports per day, and a malformed body refused naming its field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/inproc.rs"]
mod inproc;

use std::collections::BTreeMap;

use aicall::app::control::Role;
use aicall::app::Service;
use aicall::sim::Scenarios;
use serde_json::{json, Value};

const CAMPAIGN: &str = "api";
/// The agent role's user: its own desk is `/api/v1/agents/agent-7/...`.
const AGENT: &str = "agent-7";
const NUMBERS: [&str; 2] = ["13800138000", "13912345678"];

/// An operation of the document.
#[derive(Debug, Clone)]
struct Op {
    method: String,
    path: String,
    /// `x-aicall-roles`: `public`, or the roles that may call it.
    roles: Value,
    /// The request body's media type, when it takes one.
    body_type: Option<String>,
}

impl Op {
    fn public(&self) -> bool {
        self.roles == "public"
    }

    /// Whether `role` may call it, acting on its own desk when the path names an agent.
    fn allows(&self, role: Role) -> bool {
        let Some(list) = self.roles.as_array() else {
            return true;
        };
        list.iter()
            .filter_map(Value::as_str)
            .any(|r| r == role.as_str() || (role == Role::Agent && r == "agent (itself)"))
    }

    fn on_an_agents_desk(&self) -> bool {
        self.roles
            .as_array()
            .is_some_and(|l| l.iter().any(|r| r == "agent (itself)"))
    }

    /// The path with a value for each parameter: the campaign, an agent's id, an action
    /// that changes nothing that matters here, ids that do not exist.
    fn url(&self, base: &str, agent: &str) -> String {
        let mut out = String::new();
        let mut rest = self.path.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').expect("a closed parameter") + open;
            let value = match &rest[open + 1..close] {
                "name" => CAMPAIGN,
                "id" if self.path.starts_with("/api/v1/agents/") => agent,
                "action" => "pause",
                "op" => "ready",
                "file" => "style.css",
                _ => "no-such-thing",
            };
            out.push_str(value);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        format!("{base}{out}")
    }
}

/// Every operation of the document, in path order.
fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            ops.push(Op {
                method: method.clone(),
                path: path.clone(),
                roles: op["x-aicall-roles"].clone(),
                body_type: op["requestBody"]["content"]
                    .as_object()
                    .and_then(|c| c.keys().next().cloned()),
            });
        }
    }
    ops
}

/// One request to an operation: a minimal body for those that take one (valid or not: what
/// matters here is who gets past the guard).
async fn ask(
    http: &reqwest::Client,
    op: &Op,
    url: &str,
    auth: Option<(&str, &str)>,
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap();
    let mut req = http.request(method, url);
    if let Some(t) = &op.body_type {
        req = req.header("content-type", t.as_str()).body("{}");
    }
    if let Some((header, value)) = auth {
        req = req.header(header, value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    // A feed stays open: its status is all that is needed.
    let streaming = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let body = if streaming {
        String::new()
    } else {
        resp.text().await.unwrap_or_default()
    };
    (status, body)
}

#[test]
fn every_operation_of_the_document_checks_every_role_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let models = inproc::models();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = inproc::sim(Scenarios::default()).await;
        let (store, admin) = inproc::store_with_admin(dir.path(), 9);
        let service = Service::start(store.clone(), models, inproc::config(&sim, 44_000, 50))
            .await
            .unwrap();
        let settings = inproc::example_settings();
        let script = settings.call.script_path.clone();
        service.create(CAMPAIGN, settings).await.unwrap();

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

        // One key per role, over the API.
        let mut keys: Vec<(Role, String, String)> = Vec::new();
        for &role in Role::ALL {
            let name = match role {
                Role::Agent => AGENT.to_owned(),
                r => format!("matrix-{r}"),
            };
            let r: Value = http
                .post(format!("{base}/api/v1/users"))
                .bearer_auth(&admin)
                .json(&json!({"name": name, "role": role.as_str()}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            keys.push((role, name, r["key"].as_str().expect("a key").to_owned()));
        }

        // The document, without a key, read by an independent OpenAPI 3.1 parser.
        let resp = http
            .get(format!("{base}/api/v1/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let text = resp.text().await.unwrap();
        let spec = oas3::from_json(&text).expect("the document is OpenAPI 3.1");
        assert_eq!(spec.validate_version().expect("a version").major, 3);
        let doc: Value = serde_json::from_str(&text).unwrap();
        let ops = operations(&doc);
        assert_eq!(
            ops.len(),
            aicall::app::api::POLICY.len(),
            "every operation is documented"
        );
        for op in &ops {
            assert!(
                op.public() || op.roles.is_array(),
                "{} {} says who may call it",
                op.method,
                op.path
            );
        }

        // The matrix.
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let mut unauthenticated = 0usize;
        // user → (allowed, denied) attempts, as the audit must show them.
        let mut expected: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for op in &ops {
            let url = op.url(&base, AGENT);
            let what = format!("{} {}", op.method, op.path);
            if op.public() {
                let (status, body) = ask(&http, op, &url, None).await;
                assert!(
                    ![401, 403, 405].contains(&status),
                    "{what} is public, got {status}: {body}"
                );
                continue;
            }
            let refused = [
                None,
                Some(("authorization", "Bearer aicall_0000")),
                Some(("cookie", "aicall_session=ffffffff")),
            ];
            for auth in refused {
                let (status, body) = ask(&http, op, &url, auth).await;
                assert_eq!(status, 401, "{what} with {auth:?}: {body}");
                let err: Value = serde_json::from_str(&body).expect("a JSON error");
                assert!(err["error"].is_string(), "{what}: {body}");
                unauthenticated += 1;
            }
            for (role, user, key) in &keys {
                let bearer = format!("Bearer {key}");
                let (status, body) =
                    ask(&http, op, &url, Some(("authorization", bearer.as_str()))).await;
                let tally = expected.entry(user.clone()).or_default();
                if op.allows(*role) {
                    // 405 would be a documented method the router does not serve.
                    assert!(
                        ![401, 403, 405].contains(&status),
                        "{what} as {role} is allowed, got {status}: {body}"
                    );
                    // A 404 comes from the handler (a JSON error), not from a missing route.
                    if status == 404 {
                        assert!(body.contains("\"error\""), "{what} as {role}: {body}");
                    }
                    // Allowed scrapes are not audited one by one (app::metrics says why).
                    if op.path != "/metrics" {
                        tally.0 += 1;
                    }
                } else {
                    assert_eq!(status, 403, "{what} as {role}: {body}");
                    tally.1 += 1;
                }
                if *role == Role::Agent && op.on_an_agents_desk() {
                    let other = op.url(&base, "agent-8");
                    let (status, body) =
                        ask(&http, op, &other, Some(("authorization", bearer.as_str()))).await;
                    assert_eq!(status, 403, "{what} on another agent's desk: {body}");
                    expected.entry(user.clone()).or_default().1 += 1;
                }
            }
        }

        // Every attempt is in the audit trail.
        let trail: Vec<Value> = http
            .get(format!("{base}/api/v1/audit?since_ms={since}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let count = |user: &str, result: &str| {
            trail
                .iter()
                .filter(|a| a["user"] == user && a["result"] == result)
                .count()
        };
        for (user, &(allowed, denied)) in &expected {
            assert_eq!(count(user, "allowed"), allowed, "{user}'s allowed attempts");
            assert_eq!(count(user, "denied"), denied, "{user}'s refusals");
        }
        let anonymous = trail
            .iter()
            .filter(|a| {
                a["user"] == "-"
                    && a["result"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("unauthenticated"))
            })
            .count();
        assert_eq!(anonymous, unauthenticated, "every refused credential");

        the_new_endpoints_work(&http, &base, &admin, &keys, &script).await;
        let trail = http
            .get(format!("{base}/api/v1/audit?since_ms={since}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(trail.contains("dnc add"), "the DNC request is audited");
        for n in NUMBERS {
            assert!(
                !trail.contains(&n[3..]),
                "a full number in the audit: {trail}"
            );
        }

        let _ = stop_http.send(());
        http_task.await.unwrap().unwrap();
        service.shutdown().await;
    });
}

async fn the_new_endpoints_work(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    keys: &[(Role, String, String)],
    script: &std::path::Path,
) {
    let key = |role: Role| {
        keys.iter()
            .find(|(r, _, _)| *r == role)
            .map(|(_, _, k)| k.clone())
            .unwrap()
    };
    let supervisor = key(Role::Supervisor);

    // Contacts: uploaded as CSV (the report per line), listed a page at a time, masked.
    let csv = format!(
        "phone,name,policy\n{},张三,保单 2024123456789\nnot-a-number,李四,x\n{},王五,y\n",
        NUMBERS[0], NUMBERS[1]
    );
    let report: Value = http
        .post(format!(
            "{base}/api/v1/campaigns/{CAMPAIGN}/contacts?file=list.csv"
        ))
        .bearer_auth(admin)
        .body(csv)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["rejected"][0]["line"], 3, "{report}");
    let page = |q: &'static str| {
        let url = format!("{base}/api/v1/campaigns/{CAMPAIGN}/contacts{q}");
        let k = supervisor.clone();
        async move {
            let r = http.get(url).bearer_auth(k).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = page("?limit=1").await;
    assert_eq!(status, 200, "{body}");
    let p: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (p["total"].as_u64(), p["limit"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(p["contacts"][0]["name"], "张三");
    assert_eq!(p["contacts"][0]["state"], "pending");
    for n in NUMBERS {
        assert!(!body.contains(&n[3..]), "a full number listed: {body}");
    }
    assert!(
        !body.contains("2024123456789"),
        "digit runs in fields are masked: {body}"
    );
    let (_, body) = page("?offset=1").await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["contacts"][0]["name"],
        "王五"
    );
    let (status, body) = page("?limit=0").await;
    assert!(status == 400 && body.contains("limit"), "{status} {body}");
    let (status, body) = page("?state=asleep").await;
    assert!(status == 400 && body.contains("state"), "{status} {body}");

    // Scripts: the example validates; a broken one is a list of errors with lines.
    let validate = |text: String| {
        let url = format!("{base}/api/v1/scripts/validate?path={}", script.display());
        let k = supervisor.clone();
        async move {
            let r = http
                .post(url)
                .bearer_auth(k)
                .body(text)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let good = validate(std::fs::read_to_string(script).unwrap()).await;
    assert_eq!(good["ok"], true, "{good}");
    assert!(good["nodes"].as_u64().is_some_and(|n| n > 3), "{good}");
    let broken = validate("[script]\nstart = \"nowhere\"\n".into()).await;
    assert_eq!(broken["ok"], false, "{broken}");
    let first = &broken["errors"][0];
    assert!(
        first["line"].as_u64().is_some() && first["message"].is_string(),
        "{broken}"
    );

    // DNC: the lists count numbers (they keep only hashes).
    let r = http
        .post(format!("{base}/api/v1/dnc/add"))
        .bearer_auth(&supervisor)
        .json(&json!({"number": NUMBERS[1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let lists: Value = http
        .get(format!("{base}/api/v1/dnc"))
        .bearer_auth(key(Role::Integration))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(lists, json!({"dnc": 1, "black": 0, "gray": 0}));

    // Queues: none without `[serve] agents`.
    let q: Value = http
        .get(format!("{base}/api/v1/queues"))
        .bearer_auth(key(Role::Viewer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(q, json!({"configured": false, "queues": []}));

    // Reports per day; a period that is not one is refused by name.
    let r: Value = http
        .get(format!("{base}/api/v1/campaigns/{CAMPAIGN}/report?by=day"))
        .bearer_auth(key(Role::Viewer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["by"], "day", "{r}");
    assert_eq!(r["funnel"]["converted"], 0);
    assert!(
        r["handle_time"].is_object() && r["sentiment"].is_object(),
        "{r}"
    );
    let r = http
        .get(format!("{base}/api/v1/campaigns/{CAMPAIGN}/report?by=week"))
        .bearer_auth(key(Role::Viewer))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("by"));

    // A malformed body is refused naming its field.
    let r = http
        .post(format!("{base}/api/v1/campaigns"))
        .bearer_auth(admin)
        .json(&json!({"settings": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("`name`"));
}
