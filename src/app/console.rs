//! The supervisor console: aicall speaks FreeSWITCH's event socket, so FreeSWITCH's own
//! `fs_cli` connects to it unchanged — `fs_cli -H 127.0.0.1 -P 8022 -p <API key>` (or
//! `userauth name:<key>` for a named login) — and supervisors watch and steer the service
//! from it:
//!
//! ```text
//! api aicall status | campaigns | calls [CAMPAIGN] | call ID | agents | queues | help
//! api aicall campaign start|pause|resume|stop NAME
//! api aicall campaign pace NAME [concurrent=N] [cps=X] [ratio=R]
//! api aicall agent ID login|ready|break REASON|logout
//! api aicall dnc add NUMBER [REGION]
//! api aicall listen|whisper|barge CALL DIAL-STRING
//! /event plain CUSTOM aicall::call aicall::agent aicall::campaign aicall::alert
//! /log info
//! ```
//!
//! The protocol itself (greeting, `+OK accepted`, `api/response`, `log/data`, tab completion,
//! slow listeners cut off) is [`crate::esl::server`]'s, shared with the switch simulator;
//! this module is the switch behind it: the commands, the events (the service's bus as
//! `CUSTOM aicall::*` events, a header per field and the JSON as the body), and aicall's own
//! log lines for `/log`. Logins are the service's users (their API keys); the console is for
//! supervisors and admins. Every command is checked against the user's role and audited.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::broadcast;
use tracing::{info, warn};

use super::control::{Access, Action, Principal, Role};
use super::events::ServiceEvent;
use super::Service;
use crate::campaign::driver::Pace;
use crate::esl::server::{ApiReply, Hub, LogLine, SwitchCore};
use crate::esl::{Event, Headers};
use crate::pii::Pii;
use crate::store::ListKind;

/// What `api aicall help` prints.
pub const USAGE: &str = "\
aicall status                                   the service: campaigns, calls up, switch
aicall campaigns                                every campaign with its figures
aicall campaign start|pause|resume|stop NAME    control a campaign
aicall campaign pace NAME [concurrent=N] [cps=X] [ratio=R]
aicall calls [CAMPAIGN]                         the calls up
aicall call ID                                  a call's conversation so far (ID may be a prefix)
aicall agents                                   agents and their states
aicall agent ID login|ready|break REASON|logout
aicall queues                                   calls waiting for agents
aicall dnc add NUMBER [REGION]                  never call NUMBER again (every campaign)
aicall listen|whisper|barge CALL DIAL-STRING    ring a supervisor into a call
";

/// Events queued per console connection. FreeSWITCH queues 100,000; a supervisor's console
/// needs far fewer, and one that stopped reading is cut off sooner (its memory with it).
pub const CONSOLE_QUEUE: usize = 1_000;

/// The console behind the event-socket protocol.
#[derive(Debug)]
pub struct Console {
    service: Arc<Service>,
    access: Access,
    hub: Hub,
    core_uuid: String,
    hostname: String,
    started: Instant,
    seq: AtomicU64,
}

impl Console {
    /// The console of `service`; its events and log lines flow once [`Console::start`] runs.
    pub fn new(service: Arc<Service>) -> Arc<Console> {
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "aicall".into());
        Arc::new(Console {
            access: Access::new(service.store().clone()),
            service,
            hub: Hub::with_queue(CONSOLE_QUEUE),
            core_uuid: uuid::Uuid::new_v4().to_string(),
            hostname,
            started: Instant::now(),
            seq: AtomicU64::new(1),
        })
    }

    /// Forwards the service's events (and aicall's log) to the console's listeners.
    pub fn start(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let mut rx = self.service.bus().subscribe();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        let Some(console) = weak.upgrade() else {
                            return;
                        };
                        console.hub.publish(console.custom_event(&ev));
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(lost = n, "console: events lost while the bus was faster");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        // aicall's log to `/log` listeners (one console per process: the first one started).
        let weak = Arc::downgrade(self);
        let wants = Arc::downgrade(self);
        let wants = Box::new(move |level| wants.upgrade().is_some_and(|c| c.hub.wants_log(level)));
        crate::logging::set_sink(
            wants,
            Box::new(move |level, file, line, target, text| {
                let Some(console) = weak.upgrade() else {
                    return;
                };
                let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.6f");
                let name = [
                    "CONSOLE", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG",
                ][usize::from(level.min(7))];
                console.hub.log(LogLine {
                    level,
                    text_channel: 3,
                    file: file.to_owned(),
                    func: target.to_owned(),
                    line,
                    user_data: String::new(),
                    body: format!("{now} [{name}] {target}: {text}\n"),
                });
            }),
        );
    }

    /// A service event as FreeSWITCH fires a CUSTOM event: `Event-Subclass: aicall::call`,
    /// `Aicall-Event: turn`, a header per field, the JSON as the body.
    fn custom_event(&self, ev: &ServiceEvent) -> Event {
        let mut e = self.base_event("CUSTOM");
        e.headers.set("Event-Subclass", ev.subclass());
        let json = serde_json::to_value(ev).unwrap_or_default();
        let data = json.get("data").cloned().unwrap_or_default();
        if let Some(action) = data.get("event").and_then(|v| v.as_str()) {
            e.headers.push("Aicall-Event", action);
        } else if let Some(kind) = json.get("type").and_then(|v| v.as_str()) {
            e.headers.push("Aicall-Event", kind);
        }
        if let Some(obj) = data.as_object() {
            for (k, v) in obj {
                if k == "event" {
                    continue;
                }
                let value = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                e.headers.push(&header_name(k), &value);
            }
        }
        e.body = Some(data.to_string());
        e
    }

    fn principal(&self, who: Option<&str>) -> Option<Principal> {
        let who = who?;
        let user = self
            .service
            .store()
            .users()
            .ok()?
            .into_iter()
            .find(|u| u.name == who)?;
        Some(Principal {
            user: user.name,
            role: Role::from_name(&user.role)?,
        })
    }

    /// Runs one console command line for `who`: every command is audited (who, what, the
    /// result) and logged.
    async fn command(&self, who: Option<&str>, line: &str) -> String {
        let who = self.principal(who);
        let (what, reply) = self.dispatch(who.as_ref(), line).await;
        let result = if reply.starts_with("-ERR") || reply.starts_with("-USAGE") {
            format!("error: {}", reply.lines().next().unwrap_or(""))
        } else {
            "ok".to_owned()
        };
        if let Some(p) = &who {
            self.access.done("console", p, &what, &result);
        }
        info!(
            user = who.as_ref().map_or("-", |p| p.user.as_str()),
            command = %what,
            %result,
            "console command"
        );
        reply
    }

    /// The reply to a command line, and the line as the audit trail keeps it.
    async fn dispatch(&self, who: Option<&Principal>, line: &str) -> (String, String) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&first, rest)) = words.split_first() else {
            return (String::new(), "-ERR no command\n".into());
        };
        let plain = |reply: String| (line.to_owned(), reply);
        match first {
            "switchname" => return plain("aicall".into()),
            "hostname" => return plain(self.hostname.clone()),
            "version" => {
                return plain(format!(
                    "aicall {} (event-socket console)\n",
                    env!("CARGO_PKG_VERSION")
                ))
            }
            "status" => return plain(self.status().await),
            "show" => {
                return plain(match rest {
                    ["calls"] | ["channels"] => self.calls(None),
                    ["calls", "count"] | ["channels", "count"] => {
                        format!("\n{} total.\n", self.service.bus().calls(None).len())
                    }
                    _ => "-USAGE: show calls|channels [count]\n".into(),
                })
            }
            "aicall" => {}
            "help" => return plain(USAGE.into()),
            other => return plain(format!("-ERR {other} Command not found!\n")),
        }
        let Some(who) = who else {
            return plain("-ERR not logged in as a user of aicall\n".into());
        };
        let (action, what) = match rest.first().copied() {
            None | Some("help") => return plain(USAGE.into()),
            Some("status" | "campaigns" | "calls") => (Action::ReadCampaigns, line.to_owned()),
            Some("call") => (Action::ReadCalls, line.to_owned()),
            Some("campaign") => (Action::ControlCampaign, line.to_owned()),
            Some("agents" | "queues") => (Action::ReadAgents, line.to_owned()),
            Some("agent") => (Action::ControlAgent, line.to_owned()),
            Some("dnc") => (
                Action::DncAdd,
                // Never a full number in the audit trail.
                format!(
                    "aicall dnc add {}",
                    rest.get(2).map_or(String::new(), |n| Pii(n).to_string())
                ),
            ),
            Some("listen" | "whisper" | "barge") => (Action::ControlCampaign, line.to_owned()),
            Some(other) => {
                return plain(format!("-ERR unknown aicall command `{other}`\n{USAGE}"));
            }
        };
        if !action.allowed(who.role) {
            let reply = format!(
                "-ERR denied: `{}` ({}) may not {what}\n",
                who.user, who.role
            );
            return (what, reply);
        }
        let reply = self.run(who, rest).await;
        (what, reply)
    }

    async fn run(&self, who: &Principal, words: &[&str]) -> String {
        let s = &self.service;
        match words {
            ["status"] => self.status().await,
            ["campaigns"] => match s.campaigns().await {
                Ok(all) => {
                    let mut out = String::from(
                        "name,state,contacts,up,dialled,answered,transferred,abandoned,eta_s\n",
                    );
                    for v in &all {
                        let st = &v.status;
                        let _ = writeln!(
                            out,
                            "{},{},{},{},{},{},{},{},{}",
                            v.name,
                            format!("{:?}", v.state).to_lowercase(),
                            st.contacts,
                            st.up,
                            st.dialled,
                            st.answered,
                            st.transferred,
                            st.abandoned,
                            st.eta_s.map_or("-".into(), |e| e.to_string())
                        );
                    }
                    let _ = writeln!(out, "\n{} total.", all.len());
                    out
                }
                Err(e) => format!("-ERR {e}\n"),
            },
            ["campaign", op @ ("start" | "pause" | "resume" | "stop"), name] => {
                let r = match *op {
                    "start" | "resume" => s.start_campaign(name).await,
                    "pause" => s.pause(name).await,
                    _ => s.stop(name).await,
                };
                match r {
                    Ok(state) => format!("+OK campaign {name} {}\n", format!("{state:?}").to_lowercase()),
                    Err(e) => format!("-ERR {e}\n"),
                }
            }
            ["campaign", "pace", name, settings @ ..] if !settings.is_empty() => {
                let mut pace = Pace::default();
                for kv in settings.iter() {
                    let parsed = kv.split_once('=').and_then(|(k, v)| match k {
                        "concurrent" => v.parse().ok().map(|n| pace.concurrent = Some(n)),
                        "cps" => v.parse().ok().map(|x| pace.cps = Some(x)),
                        "ratio" => v.parse().ok().map(|x| pace.ratio = Some(x)),
                        _ => None,
                    });
                    if parsed.is_none() {
                        return format!(
                            "-USAGE: aicall campaign pace NAME [concurrent=N] [cps=X] [ratio=R] (not `{kv}`)\n"
                        );
                    }
                }
                match s.pace(name, pace).await {
                    Ok(()) => format!("+OK campaign {name} paced\n"),
                    Err(e) => format!("-ERR {e}\n"),
                }
            }
            ["campaign", ..] => {
                "-USAGE: aicall campaign start|pause|resume|stop NAME | pace NAME [concurrent=N] [cps=X] [ratio=R]\n".into()
            }
            ["calls"] => self.calls(None),
            ["calls", campaign] => self.calls(Some(campaign)),
            ["call", id] => match s.bus().call(id) {
                Some(c) => {
                    let mut out = format!(
                        "call {} campaign {} callee {} state {} node {} intent {} sentiment {}\n",
                        c.uuid,
                        c.campaign,
                        c.callee,
                        c.state,
                        c.node,
                        c.last_intent.as_deref().unwrap_or("-"),
                        c.sentiment.map_or("-".into(), |x| format!("{x:.2}"))
                    );
                    for l in &c.lines {
                        let who = format!("{:<6}", l.speaker.as_str());
                        let _ = writeln!(
                            out,
                            "  {:>6.1}s {who} {}{}",
                            (l.at_ms - c.started_ms) as f64 / 1000.0,
                            l.text,
                            l.intent.as_deref().map(|i| format!("  → {i}")).unwrap_or_default()
                        );
                    }
                    out
                }
                None => format!("-ERR no call {id} (live or just ended)\n"),
            },
            ["agents"] => match s.desk() {
                Some(d) => {
                    let view = d.view();
                    let mut out = String::from("id,name,team,state,calls_today,occupancy,no_answers\n");
                    for a in &view.agents {
                        let _ = writeln!(
                            out,
                            "{},{},{},{},{},{:.2},{}",
                            a.id,
                            a.name,
                            a.team,
                            format!("{:?}", a.state).to_lowercase(),
                            a.calls_today,
                            a.occupancy,
                            a.no_answers
                        );
                    }
                    let _ = writeln!(out, "\n{} total.", view.agents.len());
                    out
                }
                None => "-ERR no agents are configured ([serve] agents)\n".into(),
            },
            ["agent", id, op, reason @ ..] => {
                let Some(d) = s.desk() else {
                    return "-ERR no agents are configured ([serve] agents)\n".into();
                };
                if who.role == Role::Agent && who.user != *id {
                    return format!("-ERR `{}` may act only for itself\n", who.user);
                }
                let agent = crate::routing::AgentId::new(id);
                let input = match *op {
                    "login" => crate::routing::Input::Login { agent },
                    "ready" => crate::routing::Input::Ready { agent },
                    "logout" => crate::routing::Input::Logout { agent },
                    "break" => crate::routing::Input::Break {
                        agent,
                        reason: if reason.is_empty() { "break".into() } else { reason.join(" ") },
                    },
                    _ => return "-USAGE: aicall agent ID login|ready|break REASON|logout\n".into(),
                };
                match d.input(input).await {
                    Ok(()) => format!("+OK agent {id} {op}\n"),
                    Err(e) => format!("-ERR {e}\n"),
                }
            }
            ["queues"] => match s.desk() {
                Some(d) => {
                    let view = d.view();
                    let mut out = String::from(
                        "queue,waiting,longest_wait_s,answered,answered_in_time,abandoned,service_level,target\n",
                    );
                    for q in &view.queues {
                        let _ = writeln!(
                            out,
                            "{},{},{},{},{},{},{},{:.0}% in {} s",
                            q.name,
                            q.waiting,
                            q.longest_wait_s,
                            q.answered,
                            q.answered_in_time,
                            q.abandoned,
                            q.service_level.map_or("-".into(), |x| format!("{:.1}%", 100.0 * x)),
                            100.0 * q.target,
                            q.target_s
                        );
                    }
                    let _ = writeln!(out, "\n{} total.", view.queues.len());
                    out
                }
                None => "-ERR no agents are configured ([serve] agents)\n".into(),
            },
            ["dnc", "add", number, region @ ..] => {
                let region = region.first().copied().unwrap_or("CN");
                match s.list_add(number, ListKind::Dnc, region, &format!("console user {}", who.user)) {
                    Ok(masked) => format!("+OK {masked} is on the DNC list\n"),
                    Err(e) => format!("-ERR {e}\n"),
                }
            }
            [mode @ ("listen" | "whisper" | "barge"), call, dial @ ..] if !dial.is_empty() => {
                self.supervise(mode, call, &dial.join(" ")).await
            }
            _ => format!("-ERR usage:\n{USAGE}"),
        }
    }

    /// Rings the supervisor at `dial` into call `id`: `listen` hears both sides, `whisper`
    /// speaks to the agent only, `barge` speaks to both.
    async fn supervise(&self, mode: &str, id: &str, dial: &str) -> String {
        let Some(call) = self.service.bus().call(id).filter(|c| !c.state.is_empty()) else {
            return format!("-ERR no live call {id}\n");
        };
        let agent_leg = self
            .service
            .desk()
            .and_then(|d| d.view().agent_legs.get(&call.uuid).cloned());
        // Whispering goes to the agent: eavesdrop on the agent's leg and speak to it. Listening
        // and barging-in eavesdrop on the callee's leg (the AI's, or the bridged call's).
        let (target, vars) = match (mode, &agent_leg) {
            ("whisper", Some(leg)) => (leg.clone(), "eavesdrop_whisper_aleg=true"),
            ("whisper", None) => {
                return "-ERR whisper speaks to the agent of a transferred call; this call has none (listen or barge)\n".into()
            }
            ("barge", _) => (call.uuid.clone(), "eavesdrop_bridge_aleg=true,eavesdrop_bridge_bleg=true"),
            _ => (call.uuid.clone(), "eavesdrop_enable_dtmf=false"),
        };
        let leg = uuid::Uuid::new_v4().to_string();
        let originate = format!(
            "originate {} &eavesdrop({target})",
            crate::campaign::pacing::with_channel_vars(
                dial,
                &format!("origination_uuid={leg},aicall_supervise={mode},{vars}")
            )
        );
        match self.service.router().client().bgapi(&originate).await {
            Ok(_) => {
                info!(call = %call.uuid, %mode, "supervisor rung into the call");
                format!("+OK {mode} {} via {leg}\n", call.uuid)
            }
            Err(e) => format!("-ERR cannot ring the supervisor: {e}\n"),
        }
    }

    /// `status` in FreeSWITCH's layout (its first two lines are what tools parse), then
    /// aicall's own figures.
    async fn status(&self) -> String {
        let s = &self.service;
        let up = self.started.elapsed();
        let secs = up.as_secs();
        let running = s.figures().await;
        let calls = s.bus().calls(None).len();
        let pool = s.models().asr.metrics();
        format!(
            "UP {} years, {} days, {} hours, {} minutes, {} seconds, {} milliseconds, {} microseconds\n\
             aicall (Version {}) is {}\n\
             FreeSWITCH {}\n\
             {} campaign(s) running, {} call(s) up\n\
             {} console connection(s)\n\
             recogniser: {} waiting, {} decoding, {} done\n",
            secs / (365 * 86_400),
            secs / 86_400 % 365,
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
            up.subsec_millis(),
            up.subsec_micros() % 1000,
            env!("CARGO_PKG_VERSION"),
            if s.is_stopping() { "stopping" } else { "ready" },
            if s.router().client().is_connected() {
                "connected"
            } else {
                "not connected (reconnecting)"
            },
            running.len(),
            calls,
            self.hub.connections(),
            pool.queued,
            pool.busy,
            pool.completed
        )
    }

    fn calls(&self, campaign: Option<&str>) -> String {
        let calls = self.service.bus().calls(campaign);
        let now = unix_ms();
        // As FreeSWITCH's `show`: the header only above rows.
        let mut out = if calls.is_empty() {
            String::new()
        } else {
            String::from("uuid,campaign,callee,state,node,last_line,intent,sentiment,duration_s\n")
        };
        for c in &calls {
            let last = c
                .lines
                .back()
                .map(|l| l.text.replace(',', "，"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{}",
                c.uuid,
                c.campaign,
                c.callee,
                c.state,
                c.node,
                last,
                c.last_intent.as_deref().unwrap_or(""),
                c.sentiment.map_or(String::new(), |x| format!("{x:.2}")),
                (now - c.started_ms).max(0) / 1000
            );
        }
        let _ = writeln!(out, "\n{} total.", calls.len());
        out
    }
}

/// `callback_at` → `Aicall-Callback-At`.
fn header_name(key: &str) -> String {
    let mut out = String::from("Aicall");
    for part in key.split('_') {
        out.push('-');
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl SwitchCore for Console {
    fn api(self: Arc<Self>, command: String) -> impl std::future::Future<Output = ApiReply> + Send {
        self.api_as(None, command)
    }

    async fn api_as(self: Arc<Self>, who: Option<String>, command: String) -> ApiReply {
        ApiReply::from(self.command(who.as_deref(), &command).await)
    }

    fn authenticate(&self, user: Option<&str>, secret: &str) -> Option<String> {
        let what = match user {
            Some(u) => format!("console login {u}"),
            None => "console login".to_owned(),
        };
        match self.access.identify(Some(secret)) {
            Ok(p) if user.is_none_or(|u| u == p.user) => {
                if matches!(p.role, Role::Admin | Role::Supervisor) {
                    self.access.done("console", &p, &what, "ok");
                    Some(p.user)
                } else {
                    // The console carries every transcript: supervisors and admins only.
                    self.access
                        .done("console", &p, &what, "denied: console is for supervisors");
                    None
                }
            }
            _ => {
                self.access
                    .refused("console", user.unwrap_or("-"), &what, "unknown key");
                None
            }
        }
    }

    async fn sendmsg(
        self: Arc<Self>,
        uuid: String,
        _headers: Headers,
        _body: Option<bytes::Bytes>,
    ) -> String {
        format!("-ERR invalid session id [{uuid}]")
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }

    fn base_event(&self, name: &str) -> Event {
        let mut ev = Event::new(name);
        let now = chrono::Local::now();
        let utc = chrono::Utc::now();
        ev.headers.push("Core-UUID", &self.core_uuid);
        ev.headers.push("FreeSWITCH-Hostname", &self.hostname);
        ev.headers.push("FreeSWITCH-Switchname", "aicall");
        ev.headers.push(
            "Event-Date-Local",
            &now.format("%Y-%m-%d %H:%M:%S").to_string(),
        );
        ev.headers.push(
            "Event-Date-GMT",
            &utc.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        );
        ev.headers
            .push("Event-Date-Timestamp", &(unix_ms() * 1000).to_string());
        ev.headers.push("Event-Calling-File", "console.rs");
        ev.headers.push("Event-Calling-Function", "aicall");
        ev.headers.push("Event-Calling-Line-Number", "0");
        ev.headers.push(
            "Event-Sequence",
            &self.seq.fetch_add(1, Ordering::Relaxed).to_string(),
        );
        ev
    }

    fn completions(&self, words: &[&str]) -> Vec<String> {
        let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let campaigns = || -> Vec<String> {
            self.service
                .store()
                .campaigns()
                .map(|c| c.into_iter().map(|r| r.name).collect())
                .unwrap_or_default()
        };
        let calls = || -> Vec<String> {
            self.service
                .bus()
                .calls(None)
                .into_iter()
                .map(|c| c.uuid)
                .collect()
        };
        let agents = || -> Vec<String> {
            self.service
                .desk()
                .map(|d| {
                    d.view()
                        .agents
                        .into_iter()
                        .map(|a| a.id.to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        match words {
            [] => list(&["aicall", "help", "show", "status", "version"]),
            ["show"] => list(&["calls", "channels"]),
            ["aicall"] => list(&[
                "agent",
                "agents",
                "barge",
                "call",
                "calls",
                "campaign",
                "campaigns",
                "dnc",
                "help",
                "listen",
                "queues",
                "status",
                "whisper",
            ]),
            ["aicall", "campaign"] => list(&["pace", "pause", "resume", "start", "stop"]),
            ["aicall", "campaign", _] | ["aicall", "calls"] => campaigns(),
            ["aicall", "call"] | ["aicall", "listen" | "whisper" | "barge"] => calls(),
            ["aicall", "agent"] => agents(),
            ["aicall", "agent", _] => list(&["break", "login", "logout", "ready"]),
            ["aicall", "dnc"] => list(&["add"]),
            _ => Vec::new(),
        }
    }
}
