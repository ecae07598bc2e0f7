//! Call flows: `originate` (loopback pairs and scenario callees), the dialplan applications a
//! leg runs, the loopback legs acting on each other, hangups and what follows them, and what
//! `sendmsg`, `uuid_transfer` and `uuid_bridge` ask of a channel. Each channel has one task —
//! its "session thread" — that fires its events in FreeSWITCH's order; other tasks only hang
//! it up or leave it an [`Interrupt`]. The orders follow the recordings in `data/esl-traces`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::channel::{
    epoch_us, AnswerState, App, BridgeRole, CallState, Channel, Cs, Interrupt, NewChannel, Peer,
    Profile,
};
use super::dialplan::{Behaviour, Extension, Route};
use super::log::{self as slog, Level, Text};
use super::media;
use super::scenario::{Outcome, ResolvedCallee};
use super::{lock, OriginateLog, Switch};
use crate::esl::server::{self, ApiReply};
use crate::esl::{HangupCause, Headers};
use crate::pii::Pii;

/// The ringback tone the vanilla catch-all plays as early media.
const RINGBACK: &str = "tone_stream://%(1000,0,440);loops=-1";

/// An `originate` argument string, parsed.
#[derive(Clone, Debug)]
pub(crate) struct OriginateRequest {
    pub uuid: String,
    /// The `{...}` variables in the order given.
    pub vars: Vec<(String, String)>,
    pub dial: String,
    /// `&app(arg)`, or `None` for an extension (`exten [dialplan] [context]`).
    pub app: Option<(String, String)>,
    pub exten: String,
    pub exten_context: String,
    pub timeout: Duration,
    pub cid_name: Option<String>,
    pub cid_num: Option<String>,
}

impl OriginateRequest {
    /// `{vars}[vars]dialstring &app(arg)|exten [dialplan] [context] [cid_name] [cid_num]
    /// [timeout]`
    pub fn parse(args: &str) -> Option<Self> {
        let mut rest = args.trim();
        let mut vars: Vec<(String, String)> = Vec::new();
        while let Some(open) = rest.chars().next().filter(|c| *c == '{' || *c == '[') {
            let close = if open == '{' { '}' } else { ']' };
            let end = rest.find(close)?;
            for pair in rest[1..end].split(',') {
                if let Some((k, v)) = pair.split_once('=') {
                    let (k, v) = (k.trim(), v.trim().trim_matches('\''));
                    vars.retain(|(n, _)| n != k);
                    vars.push((k.to_owned(), v.to_owned()));
                }
            }
            rest = &rest[end + 1..];
        }
        let (dial, after) = rest.split_once(char::is_whitespace)?;
        let after = after.trim_start();
        let (app, exten, tail) = if let Some(a) = after.strip_prefix('&') {
            let open = a.find('(')?;
            let close = a.rfind(')')?;
            if close < open {
                return None;
            }
            (
                Some((a[..open].to_owned(), a[open + 1..close].to_owned())),
                String::new(),
                &a[close + 1..],
            )
        } else {
            let (exten, tail) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            (None, exten.to_owned(), tail)
        };
        if dial.is_empty() {
            return None;
        }
        let tail: Vec<&str> = tail.split_whitespace().collect();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let timeout_s = get("originate_timeout")
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| tail.get(4).and_then(|t| t.parse().ok()))
            .unwrap_or(60);
        let uuid = get("origination_uuid").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let cid_name =
            get("origination_caller_id_name").or_else(|| tail.get(2).map(|s| s.to_string()));
        let cid_num =
            get("origination_caller_id_number").or_else(|| tail.get(3).map(|s| s.to_string()));
        let exten_context = tail.get(1).map_or("default", |c| c).to_owned();
        Some(Self {
            uuid,
            vars,
            dial: dial.to_owned(),
            app,
            exten,
            exten_context,
            timeout: Duration::from_secs(timeout_s),
            cid_name,
            cid_num,
        })
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The dialled number: the last segment of the dial string without `@domain`/`;params`.
    pub fn number(&self) -> String {
        let last = self.dial.rsplit('/').next().unwrap_or(&self.dial);
        last.split(['@', ';']).next().unwrap_or(last).to_owned()
    }
}

/// What the dial string reaches.
enum Endpoint {
    Loopback {
        exten: String,
        context: String,
    },
    /// `sofia/...`, `user/...`: the scenario callee of the dialled number.
    Callee,
    Unknown,
}

fn endpoint(dial: &str) -> Endpoint {
    let mut parts = dial.splitn(3, '/');
    match parts.next().unwrap_or("") {
        "loopback" => {
            let exten = parts.next().unwrap_or("").to_owned();
            let context = parts.next().unwrap_or("default").to_owned();
            Endpoint::Loopback { exten, context }
        }
        "sofia" | "user" | "freetdm" | "verto.rtc" => Endpoint::Callee,
        _ => Endpoint::Unknown,
    }
}

/// What an originated leg is, besides the request.
struct ALeg {
    name: String,
    number: String,
    source: &'static str,
    callee_number: String,
    context: String,
    callee: Option<ResolvedCallee>,
}

/// What an app left behind when it returned.
#[derive(Debug)]
pub(crate) enum AppEnd {
    Done,
    HungUp,
    Interrupted(Interrupt),
}

impl Switch {
    /// `originate <args>`: returns once the call is answered (or early), or has failed.
    pub(crate) async fn originate(self: &Arc<Self>, args: &str) -> ApiReply {
        let Some(req) = OriginateRequest::parse(args) else {
            return ApiReply::from(
                "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] \
                 [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"
                    .to_owned(),
            );
        };
        lock(&self.originates).push(OriginateLog {
            at: Instant::now(),
            uuid: req.uuid.clone(),
            dial: req.dial.clone(),
        });
        self.log_line(
            Level::Debug,
            Text::Console,
            slog::PARSING_GLOBALS,
            "",
            || "Parsing global variables".into(),
        );
        if self.channel(&req.uuid).is_some() {
            return ApiReply::from("-ERR DESTINATION_OUT_OF_ORDER\n".to_owned());
        }
        match endpoint(&req.dial) {
            Endpoint::Unknown => ApiReply::from("-ERR CHAN_NOT_IMPLEMENTED\n".to_owned()),
            Endpoint::Loopback { exten, context } => {
                self.originate_loopback(req, exten, context).await
            }
            Endpoint::Callee => self.originate_callee(req).await,
        }
    }

    fn is_callee(&self, number: &str, req_var: Option<&str>) -> bool {
        self.scenarios.knows(number, req_var)
    }

    /// The A leg of an originate: profile and variables as the switch sets them.
    fn a_leg(&self, req: &OriginateRequest, leg: ALeg) -> Arc<Channel> {
        let ALeg {
            name,
            number,
            source,
            callee_number,
            context,
            callee,
        } = leg;
        let cid_num = req.cid_num.clone().unwrap_or_else(|| "0000000000".into());
        let cid_name = req.cid_name.clone().unwrap_or_default();
        let profile = Profile {
            direction: "outbound",
            dialplan: "xml".into(),
            caller_id_name: cid_name.clone(),
            caller_id_number: cid_num.clone(),
            orig_caller_id_name: cid_name,
            orig_caller_id_number: cid_num.clone(),
            callee_id_name: "Outbound Call".into(),
            callee_id_number: callee_number.to_owned(),
            ani: cid_num,
            destination_number: number.clone(),
            source: source.to_owned(),
            context,
            ..Profile::default()
        };
        let rate = callee.as_ref().map_or(8000, |c| c.rate);
        let mut vars = vec![
            ("direction".to_owned(), "outbound".to_owned()),
            ("is_outbound".into(), "true".into()),
            ("session_id".into(), self.next_session_id().to_string()),
            ("read_codec".into(), "L16".into()),
            ("read_rate".into(), rate.to_string()),
            ("write_codec".into(), "L16".into()),
            ("write_rate".into(), rate.to_string()),
            ("channel_name".into(), name.clone()),
            ("uuid".into(), req.uuid.clone()),
            ("call_uuid".into(), req.uuid.clone()),
        ];
        vars.extend(req.vars.iter().cloned());
        let early_ok = !req
            .var("ignore_early_media")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        vars.push(("originate_early_media".into(), early_ok.to_string()));
        Channel::new(NewChannel {
            uuid: req.uuid.clone(),
            name,
            number,
            outbound: true,
            profile,
            vars,
            callee,
            rate,
            record_audio: self.record_audio,
            counts_as_call: true,
        })
    }

    /// `loopback/EXT/CONTEXT`: the A leg (the originated channel, `origination_uuid`) and a
    /// B leg that runs the extension with a copy of the `{...}` variables.
    async fn originate_loopback(
        self: &Arc<Self>,
        req: OriginateRequest,
        exten: String,
        context: String,
    ) -> ApiReply {
        let scenario = req.var("sim_scenario").map(str::to_owned);
        let is_callee = self.is_callee(&exten, scenario.as_deref());
        let route = self.dialplan.route(&context, &exten, is_callee);
        let callee = match &route {
            Route::Extension(Extension {
                behaviour: Behaviour::Callee,
                ..
            }) => Some(self.scenarios.resolve(&exten, scenario.as_deref())),
            _ => None,
        };
        if callee
            .as_ref()
            .is_some_and(|c| c.outcome == Outcome::GatewayDown)
        {
            return ApiReply::from("-ERR GATEWAY_DOWN\n".to_owned());
        }
        let callee_number = req.dial.rsplit('/').next().unwrap_or(&exten).to_owned();
        let a_name = format!("loopback/{exten}-a");
        let a = self.a_leg(
            &req,
            ALeg {
                name: a_name.clone(),
                number: exten.clone(),
                source: "mod_loopback",
                callee_number,
                context: context.clone(),
                callee,
            },
        );
        let b_uuid = uuid::Uuid::new_v4().to_string();
        a.update(|st| {
            st.set_var("originate_endpoint", "loopback");
            st.set_var("other_loopback_leg_uuid", &b_uuid);
            st.set_var("loopback_leg", "A");
            st.partner = Some(b_uuid.clone());
        });
        self.register(&a);
        let temp = uuid::Uuid::new_v4().to_string();
        let full = format!("loopback/{}-a", req.dial.trim_start_matches("loopback/"));
        self.log_line(
            Level::Notice,
            Text::Console,
            slog::NEW_CHANNEL,
            &temp,
            || format!("New Channel {full} [{temp}]"),
        );
        self.log_line(
            Level::Notice,
            Text::Console,
            slog::RENAME_CHANNEL,
            &temp,
            || format!("Rename Channel {full}->{a_name} [{temp}]"),
        );
        self.log_line(Level::Debug, Text::Console, slog::SET_UUID, &a.uuid, || {
            format!("{a_name} set UUID={}", a.uuid)
        });
        debug!(number = %Pii(&exten), uuid = %a.uuid, "originate (loopback)");
        self.fire(&a, "CHANNEL_CREATE", &[], &[]);

        // The B leg: inbound, a new uuid, the originate's variables.
        let a_profile = a.profile();
        let b_name = format!("loopback/{exten}-b");
        let mut b_vars = vec![
            ("direction".to_owned(), "inbound".to_owned()),
            ("uuid".into(), b_uuid.clone()),
            ("call_uuid".into(), b_uuid.clone()),
            ("session_id".into(), self.next_session_id().to_string()),
            ("channel_name".into(), b_name.clone()),
            ("read_codec".into(), "L16".into()),
            ("read_rate".into(), a.rate.to_string()),
            ("write_codec".into(), "L16".into()),
            ("write_rate".into(), a.rate.to_string()),
        ];
        b_vars.extend(req.vars.iter().cloned());
        b_vars.push(("other_loopback_leg_uuid".into(), a.uuid.clone()));
        b_vars.push(("loopback_leg".into(), "B".into()));
        let b = Channel::new(NewChannel {
            uuid: b_uuid,
            name: b_name.clone(),
            number: exten.clone(),
            outbound: false,
            profile: Profile {
                direction: "inbound",
                source: "mod_loopback".into(),
                ..a_profile
            },
            vars: b_vars,
            callee: None,
            rate: a.rate,
            record_audio: false,
            counts_as_call: false,
        });
        b.update(|st| st.partner = Some(a.uuid.clone()));
        self.register(&b);
        self.log_line(
            Level::Notice,
            Text::Console,
            slog::NEW_CHANNEL,
            &b.uuid,
            || format!("New Channel {b_name} [{}]", b.uuid),
        );
        a.update(|st| {
            st.running = Cs::ConsumeMedia;
            st.state = Cs::ConsumeMedia;
        });
        self.fire(&b, "CHANNEL_CREATE", &[], &[]);
        tokio::spawn(self.clone().b_leg(b, route, context, exten));
        self.await_originate(a, req).await
    }

    /// `sofia/...` and friends: one channel whose far end is the scenario callee.
    async fn originate_callee(self: &Arc<Self>, req: OriginateRequest) -> ApiReply {
        let number = req.number();
        let callee = self.scenarios.resolve(&number, req.var("sim_scenario"));
        if callee.outcome == Outcome::GatewayDown {
            return ApiReply::from("-ERR GATEWAY_DOWN\n".to_owned());
        }
        let name = if req.dial.contains('/') {
            req.dial.clone()
        } else {
            format!("sofia/sim/{}", req.dial)
        };
        let a = self.a_leg(
            &req,
            ALeg {
                name,
                number: number.clone(),
                source: "mod_sofia",
                callee_number: number.clone(),
                context: "default".into(),
                callee: Some(callee.clone()),
            },
        );
        a.update(|st| {
            st.set_var("dialed_user", &number);
            st.running = Cs::ConsumeMedia;
            st.state = Cs::ConsumeMedia;
        });
        self.register(&a);
        debug!(number = %Pii(&number), uuid = %a.uuid, outcome = ?callee.outcome, "originate");
        self.fire(&a, "CHANNEL_CREATE", &[], &[]);
        tokio::spawn(self.clone().far_end(a.clone(), callee));
        self.await_originate(a, req).await
    }

    /// Starts the A leg's task and waits for the originate's result.
    async fn await_originate(self: &Arc<Self>, a: Arc<Channel>, req: OriginateRequest) -> ApiReply {
        let (result_tx, result_rx) = oneshot::channel();
        let (delivered_tx, delivered_rx) = oneshot::channel::<()>();
        tokio::spawn(self.clone().a_leg_task(a, req, result_tx, delivered_rx));
        let body = result_rx
            .await
            .unwrap_or_else(|_| "-ERR NORMAL_TEMPORARY_FAILURE\n".to_owned());
        ApiReply {
            body,
            then: Some(Box::new(move || {
                let _ = delivered_tx.send(());
            })),
        }
    }

    /// The originated leg: waits for the far end, returns the originate's result, then runs
    /// its application once that result is out (as the real A leg does after the api
    /// thread returned).
    async fn a_leg_task(
        self: Arc<Self>,
        a: Arc<Channel>,
        req: OriginateRequest,
        result: oneshot::Sender<String>,
        delivered: oneshot::Receiver<()>,
    ) {
        let ignore_early = req
            .var("ignore_early_media")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let ready = |st: &super::channel::ChanState| {
            st.cause.is_some()
                || st.peer == Peer::Answered
                || (!ignore_early && st.peer == Peer::Early)
        };
        let timed_out = tokio::select! {
            _ = a.wait_until(ready) => false,
            _ = tokio::time::sleep(req.timeout) => true,
        };
        if timed_out && a.with(|st| st.cause.is_none()) {
            self.hangup(&a, HangupCause::NoAnswer);
            let _ = result.send(format!("-ERR {}\n", HangupCause::NoAnswer.name()));
            let _ = delivered.await;
            self.teardown(&a, None).await;
            return;
        }
        if let Some(cause) = a.with(|st| st.cause) {
            // The far end hung up (or the leg was killed) before an answer: the result
            // goes out once this leg's hangup is complete, its DESTROY only after.
            let cause = if cause == HangupCause::NormalClearing && a.with(|st| st.partner.is_none())
            {
                HangupCause::OriginatorCancel
            } else {
                cause
            };
            let (tx, rx) = oneshot::channel::<()>();
            let me = self.clone();
            let a2 = a.clone();
            let mut done = a.hangup_done.subscribe();
            let teardown = tokio::spawn(async move { me.teardown(&a2, Some(rx)).await });
            let _ = done.wait_for(|&d| d).await;
            let _ = result.send(format!("-ERR {}\n", cause.name()));
            let _ = delivered.await;
            let _ = tx.send(());
            let _ = teardown.await;
            return;
        }
        // Answered, or early media: the originate's loop notices it on its next pass.
        tokio::time::sleep(super::FRAME).await;
        let early = a.with(|st| st.peer == Peer::Early);
        let name = a.name();
        self.log_line(
            Level::Debug,
            Text::Console,
            slog::ORIGINATE_SUCCESS,
            "",
            || {
                format!(
                    "Originate Resulted in Success: [{name}] Peer UUID: {}",
                    a.uuid
                )
            },
        );
        let _ = result.send(format!("+OK {}\n", a.uuid));
        let _ = delivered.await;
        if a.ended() {
            self.teardown(&a, None).await;
            return;
        }
        // The originating profile flips to the far end's caller id.
        let (old_name, old_num, new_name, new_num) = a.update(|st| {
            let p = &mut st.profile;
            let old = (p.caller_id_name.clone(), p.caller_id_number.clone());
            let new = (p.callee_id_name.clone(), p.callee_id_number.clone());
            p.caller_id_name = new.0.clone();
            p.caller_id_number = new.1.clone();
            p.callee_id_name = old.0.clone();
            p.callee_id_number = old.1.clone();
            st.set_var(
                "endpoint_disposition",
                if early { "EARLY MEDIA" } else { "ANSWER" },
            );
            st.set_var("pre_transfer_caller_id_number", &old.1);
            st.set_var("channel_cid_flipped", "yes");
            st.hit_dialplan = true;
            st.running = Cs::Execute;
            st.state = Cs::Execute;
            (old.0, old.1, new.0, new.1)
        });
        self.log_line(Level::Info, Text::Console, slog::FLIP_CID, &a.uuid, || {
            format!(
                "{name} Flipping CID from \"{old_name}\" <{old_num}> to \"{new_name}\" <{new_num}>"
            )
        });
        match req.app.clone() {
            Some((app, arg)) => {
                let mut end = self.run_app_chain(&a, vec![(app, arg)]).await;
                while let AppEnd::Interrupted(i) = end {
                    end = self.carry_out(&a, i).await;
                }
                if !matches!(end, AppEnd::HungUp) && !a.ended() {
                    self.hangup(&a, HangupCause::NormalClearing);
                }
            }
            None => {
                let route = self.dialplan.route(
                    &req.exten_context,
                    &req.exten,
                    self.is_callee(&req.exten, None),
                );
                self.run_route(&a, route).await;
            }
        }
        self.teardown(&a, None).await;
    }

    /// The far end of a non-loopback call: rings, then answers or fails as the scenario says.
    async fn far_end(self: Arc<Self>, a: Arc<Channel>, callee: ResolvedCallee) {
        let ring = Duration::from_millis(callee.ring_ms);
        let fast_fail = matches!(callee.outcome, Outcome::Unallocated | Outcome::Rejected);
        let progress_after = Duration::from_millis(100).min(ring);
        if !fast_fail {
            if !a.sleep(progress_after).await {
                return;
            }
            self.progress(&a);
        }
        let remaining = ring.saturating_sub(if fast_fail {
            Duration::ZERO
        } else {
            progress_after
        });
        if !a.sleep(remaining).await {
            return;
        }
        if !callee.early.is_empty() {
            // A 183 with audio: a ringback tone, or the carrier's announcement, before the
            // outcome.
            self.progress_media(&a);
            if !media::play_steps(&self, &a, &callee.early, Instant::now()).await {
                return;
            }
        }
        match callee.outcome {
            Outcome::Answer | Outcome::Voicemail => self.answer_originated(&a),
            other => {
                let cause = other
                    .failure_cause()
                    .unwrap_or(HangupCause::NormalTemporaryFailure);
                self.hangup(&a, cause);
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // What a far end does to the originated leg
    // ------------------------------------------------------------------------------------

    /// Ringing at the far end: CHANNEL_PROGRESS on the originated leg.
    fn progress(&self, a: &Channel) {
        if a.ended() {
            return;
        }
        a.update(|st| st.profile.progress_us = epoch_us());
        self.fire(a, "CHANNEL_PROGRESS", &[], &[]);
        a.update(|st| {
            if st.call_state == CallState::Down {
                st.call_state = CallState::Ringing;
            }
            st.peer = st.peer.max(Peer::Progress);
        });
    }

    /// Early media from the far end.
    fn progress_media(&self, a: &Arc<Channel>) {
        if a.ended() {
            return;
        }
        a.update(|st| {
            st.profile.progress_media_us = epoch_us();
            st.call_state = CallState::Early;
            st.answer_state = AnswerState::Early;
            st.set_var("endpoint_disposition", "EARLY MEDIA");
        });
        self.fire(a, "CHANNEL_PROGRESS_MEDIA", &[], &[]);
        a.update(|st| st.peer = st.peer.max(Peer::Early));
        tokio::spawn(media::media_clock(a.clone()));
    }

    /// The far end answered: CHANNEL_ANSWER on the originated leg, its media clock and
    /// callee script start.
    fn answer_originated(self: &Arc<Self>, a: &Arc<Channel>) {
        if a.ended() || a.answered_at().is_some() {
            return;
        }
        a.update(|st| {
            st.answer_state = AnswerState::Answered;
            st.answered_at = Some(Instant::now());
            st.profile.answered_us = epoch_us();
        });
        self.fire(a, "CHANNEL_ANSWER", &[], &[]);
        let name = a.name();
        self.log_line(
            Level::Notice,
            Text::Log,
            slog::LOOPBACK_ANSWERED,
            &a.uuid,
            || format!("Channel [{name}] has been answered"),
        );
        a.update(|st| {
            st.call_state = CallState::Active;
            st.peer = Peer::Answered;
        });
        tokio::spawn(media::media_clock(a.clone()));
        if a.callee.is_some() {
            tokio::spawn(media::callee_script(self.clone(), a.clone()));
        }
    }

    /// The partner of a loopback leg, if it is still there.
    fn partner(&self, ch: &Channel) -> Option<Arc<Channel>> {
        ch.with(|st| st.partner.clone())
            .and_then(|p| self.channel(&p))
    }

    // ------------------------------------------------------------------------------------
    // Applications
    // ------------------------------------------------------------------------------------

    /// Runs applications one after the other; stops at a hangup or an interrupt.
    async fn run_app_chain(
        self: &Arc<Self>,
        ch: &Arc<Channel>,
        apps: Vec<(String, String)>,
    ) -> AppEnd {
        for (app, arg) in apps {
            match self.exec(ch, &app, &arg, None).await {
                AppEnd::Done => {}
                other => return other,
            }
        }
        AppEnd::Done
    }

    /// Runs one application with its CHANNEL_EXECUTE and CHANNEL_EXECUTE_COMPLETE.
    async fn exec(
        self: &Arc<Self>,
        ch: &Arc<Channel>,
        app: &str,
        data: &str,
        app_uuid: Option<String>,
    ) -> AppEnd {
        if ch.ended() {
            return AppEnd::HungUp;
        }
        let app_uuid = app_uuid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        ch.update(|st| {
            st.last_app = Some(app.to_owned());
            st.app = Some(App {
                name: app.to_owned(),
                data: data.to_owned(),
                uuid: app_uuid.clone(),
            });
            st.set_var("current_application_data", data);
            st.set_var("current_application", app);
            st.set_var("current_application_response", "");
        });
        let name = ch.name();
        self.log_line(Level::Info, Text::Session, slog::EXECUTE, &ch.uuid, || {
            format!("EXECUTE [depth=0] {name} {app}({data})")
        });
        let post = app_headers(app, data, &app_uuid, None);
        self.fire_owned(ch, "CHANNEL_EXECUTE", &post);
        let end = self.app_body(ch, app, data).await;
        if matches!(end, AppEnd::Interrupted(_)) {
            // An interrupted park completes in `park` itself.
            return end;
        }
        let response = ch
            .var("current_application_response")
            .unwrap_or_else(|| "_none_".into());
        let post = app_headers(app, data, &app_uuid, Some(&response));
        self.fire_owned(ch, "CHANNEL_EXECUTE_COMPLETE", &post);
        if ch.ended() {
            AppEnd::HungUp
        } else {
            end
        }
    }

    /// What each application does.
    async fn app_body(self: &Arc<Self>, ch: &Arc<Channel>, app: &str, data: &str) -> AppEnd {
        match app {
            "answer" => {
                self.answer(ch);
                AppEnd::Done
            }
            "pre_answer" => {
                self.pre_answer(ch);
                AppEnd::Done
            }
            "ring_ready" => {
                self.ring_ready(ch);
                AppEnd::Done
            }
            "acknowledge_call" | "log" | "info" | "export" => AppEnd::Done,
            "set" => {
                if let Some((k, v)) = data.split_once('=') {
                    ch.set_var(k, v);
                }
                AppEnd::Done
            }
            "sleep" => {
                let ms = data.trim().parse().unwrap_or(0);
                if ch.sleep(Duration::from_millis(ms)).await {
                    AppEnd::Done
                } else {
                    AppEnd::HungUp
                }
            }
            "playback" => self.playback(ch, data).await,
            "park" => self.park(ch).await,
            "hangup" => {
                let cause = HangupCause::from_name(if data.is_empty() {
                    "NORMAL_CLEARING"
                } else {
                    data
                });
                let cause = if cause == HangupCause::Unknown {
                    HangupCause::NormalClearing
                } else {
                    cause
                };
                self.hangup(ch, cause);
                AppEnd::HungUp
            }
            "socket" => self.socket_app(ch, data).await,
            "callcenter" => self.callcenter_member(ch, data).await,
            "eavesdrop" => self.eavesdrop(ch, data).await,
            _ => AppEnd::Done,
        }
    }

    /// The `answer` application: a loopback B leg answers its A leg first.
    fn answer(self: &Arc<Self>, ch: &Arc<Channel>) {
        if ch.answered_at().is_some() || ch.ended() {
            return;
        }
        if let Some(a) = self.partner(ch).filter(|_| !ch.with(|st| st.outbound)) {
            self.answer_originated(&a);
        }
        ch.update(|st| {
            st.answer_state = AnswerState::Answered;
            st.answered_at = Some(Instant::now());
            st.profile.answered_us = epoch_us();
        });
        self.fire(ch, "CHANNEL_ANSWER", &[], &[]);
        let name = ch.name();
        self.log_line(Level::Notice, Text::Log, slog::ANSWERED, &ch.uuid, || {
            format!("Channel [{name}] has been answered")
        });
        ch.update(|st| {
            st.call_state = CallState::Active;
            st.set_var("endpoint_disposition", "ANSWER");
        });
        if ch.callee.is_some() {
            // An inbound call's caller starts talking once answered.
            tokio::spawn(media::media_clock(ch.clone()));
            tokio::spawn(media::callee_script(self.clone(), ch.clone()));
        }
    }

    /// The task of an inbound call handed to an outbound socket.
    pub(crate) async fn inbound_task(self: Arc<Self>, ch: Arc<Channel>, socket: String) {
        ch.update(|st| st.call_state = CallState::Ringing);
        ch.update(|st| {
            st.running = Cs::Execute;
            st.state = Cs::Execute;
        });
        let end = self
            .exec(&ch, "socket", &format!("{socket} async full"), None)
            .await;
        if !matches!(end, AppEnd::HungUp) && !ch.ended() {
            self.hangup(&ch, HangupCause::NormalClearing);
        }
        self.teardown(&ch, None).await;
    }

    /// `ring_ready`: CHANNEL_PROGRESS on the A leg, then on this one.
    fn ring_ready(self: &Arc<Self>, ch: &Arc<Channel>) {
        if let Some(a) = self.partner(ch).filter(|_| !ch.with(|st| st.outbound)) {
            self.progress(&a);
        }
        ch.update(|st| st.profile.progress_us = epoch_us());
        self.fire(ch, "CHANNEL_PROGRESS", &[], &[]);
    }

    /// Early media: the B leg and its A leg go EARLY.
    fn pre_answer(self: &Arc<Self>, ch: &Arc<Channel>) {
        if ch.with(|st| st.answer_state != AnswerState::Ringing) {
            return;
        }
        ch.update(|st| {
            st.call_state = CallState::Early;
            st.answer_state = AnswerState::Early;
            st.profile.progress_media_us = epoch_us();
            st.set_var("endpoint_disposition", "EARLY MEDIA");
        });
        if let Some(a) = self.partner(ch).filter(|_| !ch.with(|st| st.outbound)) {
            self.progress_media(&a);
        }
        self.fire(ch, "CHANNEL_PROGRESS_MEDIA", &[], &[]);
    }

    /// `playback <file>`: a tone stream plays until hangup; a file for its length.
    async fn playback(self: &Arc<Self>, ch: &Arc<Channel>, path: &str) -> AppEnd {
        let far = self.partner(ch).filter(|_| !ch.with(|st| st.outbound));
        lock(&ch.recording).playbacks.push(path.to_owned());
        if path.starts_with("tone_stream://") {
            ch.wait_end().await;
            ch.set_var("current_application_response", "PLAYBACK ERROR");
            return AppEnd::HungUp;
        }
        let Some(samples) = media::load(ch, path) else {
            ch.set_var("current_application_response", "FILE NOT FOUND");
            return AppEnd::Done;
        };
        let n = samples.len();
        let start_pb = [("Playback-File-Path", path)];
        self.fire(ch, "PLAYBACK_START", &[], &start_pb);
        let completed = media::play(ch, far.as_deref(), samples).await;
        if ch.ended() {
            ch.set_var("current_application_response", "PLAYBACK ERROR");
            return AppEnd::HungUp;
        }
        self.fire(
            ch,
            "PLAYBACK_STOP",
            &[],
            &[
                ("Playback-File-Path", path),
                ("Playback-Status", if completed { "done" } else { "break" }),
            ],
        );
        let ms = (n as u64 * 1000) / u64::from(ch.rate.max(1));
        ch.update(|st| {
            st.set_var("playback_last_offset_pos", &n.to_string());
            st.set_var("playback_seconds", &(ms / 1000).to_string());
            st.set_var("playback_ms", &ms.to_string());
            st.set_var("playback_samples", &n.to_string());
            st.set_var("current_application_response", "FILE PLAYED");
        });
        AppEnd::Done
    }

    /// `park`: CHANNEL_PARK, then wait for a hangup or something asked of the channel;
    /// CHANNEL_UNPARK either way. An interrupted park completes here, before the interrupt
    /// is carried out.
    async fn park(self: &Arc<Self>, ch: &Arc<Channel>) -> AppEnd {
        // The application that parks (park, socket, ...) completes if the park is broken off;
        // apps a sendmsg runs meanwhile do not change that.
        let parked_app = ch.with(|st| st.app.clone());
        ch.update(|st| {
            st.parked = true;
            st.interrupt = None;
        });
        ch.allow_unicast();
        self.fire(ch, "CHANNEL_PARK", &[], &[]);
        ch.wait_until(|st| st.cause.is_some() || st.interrupt.is_some())
            .await;
        ch.update(|st| st.parked = false);
        self.fire(ch, "CHANNEL_UNPARK", &[], &[]);
        let interrupt = ch.update(|st| st.interrupt.take());
        match interrupt {
            Some(i) if !ch.ended() => {
                ch.stop_unicast();
                if let Some(app) = parked_app {
                    let post = app_headers(&app.name, &app.data, &app.uuid, Some("_none_"));
                    self.fire_owned(ch, "CHANNEL_EXECUTE_COMPLETE", &post);
                }
                AppEnd::Interrupted(i)
            }
            _ => AppEnd::Done,
        }
    }

    /// Runs a route (an extension or no route) on a channel that is (re)entering the
    /// dialplan; returns when its applications are over (the channel is then hung up).
    async fn run_route(self: &Arc<Self>, ch: &Arc<Channel>, route: Route) {
        let ext = match route {
            Route::NoRoute => {
                ch.update(|st| st.running = Cs::Routing);
                self.hangup(ch, HangupCause::NoRouteDestination);
                return;
            }
            Route::Extension(ext) => ext,
        };
        ch.update(|st| {
            st.running = Cs::Execute;
            st.state = Cs::Execute;
        });
        let mut end = self.run_behaviour(ch, &ext.behaviour).await;
        // Something asked of a parked channel: carry it out, maybe more than once.
        while let AppEnd::Interrupted(i) = end {
            end = self.carry_out(ch, i).await;
        }
        if !ch.ended() {
            // The dialplan ran out of applications.
            self.hangup(ch, HangupCause::NormalClearing);
        }
    }

    /// An extension's applications.
    async fn run_behaviour(self: &Arc<Self>, ch: &Arc<Channel>, b: &Behaviour) -> AppEnd {
        let apps: Vec<(String, String)> = match b {
            Behaviour::AnswerPlayPark => {
                let mut apps = vec![("answer".to_owned(), String::new())];
                if let Some(wav) = ch.var("sim_wav") {
                    apps.push(("playback".into(), wav));
                }
                if ch.var("sim_after").as_deref() == Some("park") {
                    apps.push(("park".into(), String::new()));
                } else {
                    apps.push(("hangup".into(), "NORMAL_CLEARING".into()));
                }
                apps
            }
            Behaviour::AnswerPark => vec![
                ("answer".to_owned(), String::new()),
                ("park".into(), String::new()),
            ],
            Behaviour::RingForever => vec![
                ("ring_ready".to_owned(), String::new()),
                ("sleep".into(), "3600000".into()),
            ],
            Behaviour::Hangup(cause) => vec![("hangup".to_owned(), cause.name().to_owned())],
            Behaviour::Socket { target } => {
                let target = self.expand(ch, target);
                vec![("socket".to_owned(), format!("{target} async full"))]
            }
            Behaviour::EarlyMedia => {
                let end = self
                    .run_app_chain(
                        ch,
                        vec![
                            ("acknowledge_call".to_owned(), String::new()),
                            ("ring_ready".into(), String::new()),
                        ],
                    )
                    .await;
                if !matches!(end, AppEnd::Done) {
                    return end;
                }
                self.pre_answer(ch);
                vec![("playback".to_owned(), RINGBACK.to_owned())]
            }
            Behaviour::Queue {
                prefix,
                export_vars,
            } => {
                let dest = ch.with(|st| st.profile.destination_number.clone());
                let queue = dest.strip_prefix(prefix.as_str()).unwrap_or(&dest);
                vec![
                    ("set".to_owned(), format!("cc_export_vars={export_vars}")),
                    ("callcenter".into(), format!("{queue}@default")),
                ]
            }
            Behaviour::Callee => return self.callee_leg(ch).await,
        };
        self.run_app_chain(ch, apps).await
    }

    /// `${var}` replaced by the channel's variable.
    fn expand(&self, ch: &Channel, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    out.push_str(&ch.var(&after[..end]).unwrap_or_default());
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// A loopback B leg acting as a scenario callee: it rings, then answers (and stays,
    /// parked, while the callee's audio flows on the A leg) or fails.
    async fn callee_leg(self: &Arc<Self>, b: &Arc<Channel>) -> AppEnd {
        let Some(a) = self.partner(b) else {
            return AppEnd::Done;
        };
        let Some(callee) = a.callee.clone() else {
            return AppEnd::Done;
        };
        let fast_fail = matches!(callee.outcome, Outcome::Unallocated | Outcome::Rejected);
        let mut apps = Vec::new();
        if !fast_fail {
            apps.push(("ring_ready".to_owned(), String::new()));
            apps.push(("sleep".into(), callee.ring_ms.to_string()));
        }
        match callee.outcome {
            Outcome::Answer | Outcome::Voicemail => {
                apps.push(("answer".into(), String::new()));
                apps.push(("park".into(), String::new()));
            }
            other => {
                let cause = other
                    .failure_cause()
                    .unwrap_or(HangupCause::NormalTemporaryFailure);
                apps.push(("hangup".into(), cause.name().to_owned()));
            }
        }
        self.run_app_chain(b, apps).await
    }

    /// The B leg's task: routes, runs the extension, tears down.
    async fn b_leg(self: Arc<Self>, b: Arc<Channel>, route: Route, context: String, exten: String) {
        b.update(|st| st.call_state = CallState::Ringing);
        if self.dialplan.is_empty() || self.dialplan.has_context(&context) {
            let cid = b.with(|st| {
                format!(
                    "{} <{}>",
                    st.profile.caller_id_name, st.profile.caller_id_number
                )
            });
            self.log_line(
                Level::Info,
                Text::Console,
                slog::PROCESSING,
                &b.uuid,
                || format!("Processing {cid}->{exten} in context {context}"),
            );
        }
        self.run_route(&b, route).await;
        self.teardown(&b, None).await;
    }

    /// Carries out what was asked of a parked channel; returns how the result ended.
    async fn carry_out(self: &Arc<Self>, ch: &Arc<Channel>, i: Interrupt) -> AppEnd {
        match i {
            Interrupt::Stop => AppEnd::Done,
            Interrupt::Transfer { dest, context } => match context {
                None => self.exec(ch, "park", "", None).await,
                Some(context) => {
                    ch.update(|st| {
                        st.running = Cs::Execute;
                        st.state = Cs::Execute;
                    });
                    let route = self.dialplan.route(&context, &dest, false);
                    match route {
                        Route::NoRoute => {
                            self.hangup(ch, HangupCause::NoRouteDestination);
                            AppEnd::HungUp
                        }
                        Route::Extension(ext) => self.run_behaviour(ch, &ext.behaviour).await,
                    }
                }
            },
            Interrupt::Bridge { other, role } => self.bridged(ch, &other, role).await,
        }
    }

    /// A leg joined to `other` by `uuid_bridge`, until one of them hangs up: CHANNEL_EXECUTE
    /// `uuid_bridge` (soft-executed, it never completes), CHANNEL_BRIDGE and, at the end,
    /// CHANNEL_UNBRIDGE on the A side only; the other leg is hung up with it.
    pub(crate) async fn bridged(
        self: &Arc<Self>,
        ch: &Arc<Channel>,
        other: &str,
        role: BridgeRole,
    ) -> AppEnd {
        ch.update(|st| {
            st.running = Cs::SoftExecute;
            st.state = Cs::SoftExecute;
            st.bridged_to = Some(other.to_owned());
            st.profile.bridged_us = epoch_us();
        });
        // The two far ends hear each other from now on.
        if let Some(o) = self.channel(other) {
            lock(&ch.media).peer = Some(Arc::downgrade(&o));
        }
        // Soft-executed: no Application-UUID, the channel's current application stays.
        self.fire(
            ch,
            "CHANNEL_EXECUTE",
            &[],
            &[("Application", "uuid_bridge"), ("Application-Data", other)],
        );
        let a = if role == BridgeRole::A {
            ch.uuid.clone()
        } else {
            other.to_owned()
        };
        let b = if role == BridgeRole::A {
            other.to_owned()
        } else {
            ch.uuid.clone()
        };
        if role == BridgeRole::A {
            self.fire(
                ch,
                "CHANNEL_BRIDGE",
                &[("Bridge-A-Unique-ID", &a), ("Bridge-B-Unique-ID", &b)],
                &[],
            );
        }
        ch.wait_end().await;
        lock(&ch.media).peer = None;
        if role == BridgeRole::A {
            self.fire(
                ch,
                "CHANNEL_UNBRIDGE",
                &[("Bridge-A-Unique-ID", &a), ("Bridge-B-Unique-ID", &b)],
                &[],
            );
        }
        if let Some(o) = self.channel(other) {
            self.hangup(&o, HangupCause::NormalClearing);
        }
        AppEnd::HungUp
    }

    /// What joining `a` (the A side) and `b` does to their profiles: each gets a new one
    /// (index + 1, `Transfer-Source` naming the other leg), each shows the other as its
    /// other leg, the A side takes B's callee id, and A's loopback partner shows B as its
    /// callee too.
    pub(crate) fn bridge_profiles(&self, a: &Channel, b: &Channel) {
        let now = epoch_us() / 1_000_000;
        let (pa, pb) = (a.profile(), b.profile());
        a.update(|st| {
            let p = &mut st.profile;
            p.profile_index += 1;
            p.transfer_source = format!("{now}:{}:uuid_br:{}", uuid::Uuid::new_v4(), b.uuid);
            p.callee_id_name = pb.callee_id_name.clone();
            p.callee_id_number = pb.callee_id_number.clone();
            p.logical_direction = "inbound";
            st.other = Some(("originatee", pb.clone()));
            if st.parked {
                st.state = Cs::Hibernate;
            }
        });
        b.update(|st| {
            let p = &mut st.profile;
            p.profile_index += 1;
            p.transfer_source = format!("{now}:{}:uuid_br:{}", uuid::Uuid::new_v4(), a.uuid);
            st.other = Some(("originator", pa));
            st.hit_dialplan = false;
            if st.parked {
                st.state = Cs::Hibernate;
            }
        });
        if let Some(p) = self.partner(a) {
            let (name, number) = (pb.callee_id_name, pb.callee_id_number);
            p.update(|st| {
                st.profile.callee_id_name = if name.is_empty() {
                    number.clone()
                } else {
                    name
                };
                st.profile.callee_id_number = number;
            });
        }
    }

    /// `socket host:port async full`: connects to the controller and runs the outbound
    /// socket's session, which holds the channel (no DESTROY) until it closes; parks until
    /// the hangup once the controller has sent `connect`.
    async fn socket_app(self: &Arc<Self>, ch: &Arc<Channel>, data: &str) -> AppEnd {
        let target = data.split_whitespace().next().unwrap_or("");
        let (host, port) = match target.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse::<u16>().unwrap_or(8084)),
            None => (target.to_owned(), 8084),
        };
        ch.set_var("socket_host", &host);
        let connect = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await;
        let stream = match connect {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                warn!(uuid = %ch.uuid, %target, error = %e, "socket application cannot connect");
                return AppEnd::Done;
            }
            Err(_) => {
                warn!(uuid = %ch.uuid, %target, "socket application timed out connecting");
                return AppEnd::Done;
            }
        };
        ch.hold();
        let (sw, uuid, control) = (self.clone(), ch.uuid.clone(), self.control.subscribe());
        tokio::spawn(async move {
            if let Err(e) = server::outbound_session(stream, sw, uuid, control).await {
                debug!(error = %e, "outbound socket session ended with an error");
            }
        });
        ch.wait_until(|st| st.socket_connected || st.socket_closed || st.cause.is_some())
            .await;
        if ch.ended() {
            return AppEnd::HungUp;
        }
        if ch.with(|st| st.socket_closed) {
            // The controller went away without `connect`: the dialplan goes on (and ends).
            return AppEnd::Done;
        }
        self.park(ch).await
    }

    /// `eavesdrop <uuid>`: the leg hears both directions of the target until either ends.
    async fn eavesdrop(self: &Arc<Self>, ch: &Arc<Channel>, target: &str) -> AppEnd {
        let Some(t) = self.channel(target.trim()) else {
            return AppEnd::Done;
        };
        // What the eavesdropper hears is written to its channel: a loopback leg's partner
        // reads it (and streams it, when unicast is armed there).
        let relay = self.partner(ch).map(|p| Arc::downgrade(&p));
        t.add_tap(ch.recording.clone(), relay);
        tokio::select! {
            _ = ch.wait_end() => {}
            _ = t.wait_end() => {}
        }
        t.remove_tap(&ch.recording);
        if ch.ended() {
            AppEnd::HungUp
        } else {
            AppEnd::Done
        }
    }

    // ------------------------------------------------------------------------------------
    // Hangup
    // ------------------------------------------------------------------------------------

    /// Hangs a channel up: CHANNEL_HANGUP now (from whichever task asks), the rest of its
    /// teardown in its own task. False if it was already hung up.
    pub(crate) fn hangup(&self, ch: &Channel, cause: HangupCause) -> bool {
        let first = ch
            .with(|st| st.bridged_to.clone())
            .and_then(|o| self.channel(&o))
            .is_some_and(|o| o.with(|os| os.cause.is_none() && os.partner.is_some()));
        if !ch.mark_hangup(cause, first) {
            return false;
        }
        ch.release_media();
        self.fire(ch, "CHANNEL_HANGUP", &[], &[]);
        ch.wake_hangup();
        true
    }

    /// The far end of `ch` hangs up: a loopback B leg, or the channel itself.
    pub(crate) fn far_end_hangup(&self, ch: &Channel, cause: HangupCause) {
        match self.partner(ch) {
            Some(b) => {
                self.hangup(&b, cause);
            }
            None => {
                self.hangup(ch, cause);
            }
        }
    }

    /// After a hangup: the loopback partner follows, then CHANNEL_STATE, HANGUP_COMPLETE,
    /// and — once `gate` opens and no outbound socket holds the channel — DESTROY.
    pub(crate) async fn teardown(&self, ch: &Arc<Channel>, gate: Option<oneshot::Receiver<()>>) {
        let cause = ch
            .with(|st| st.cause)
            .unwrap_or(HangupCause::NormalClearing);
        // A leg bridged (as the A side) to another loopback leg: mod_loopback lets its
        // partner leave the park first (recorded with uuid_bridge of two loopback calls; with
        // callcenter's null agent leg the partner is hung up at once, as usual).
        // Whether the other leg was still up is known from the hangup, not looked up now: on
        // a busy machine the other leg can be torn down and gone before this teardown runs,
        // and the partner was then hung up in its park instead of leaving it (a
        // CHANNEL_UNPARK with a Hangup-Cause the recording does not have).
        let bridged_a = ch.with(|st| {
            st.other.as_ref().is_some_and(|(t, _)| *t == "originatee") && st.left_bridge_first
        });
        if let (true, Some(p)) = (bridged_a, self.partner(ch)) {
            // mod_loopback lets a bridged A leg's partner leave its park; its dialplan then
            // ends (NORMAL_CLEARING).
            if !p.ended() && !self.interrupt(&p, Interrupt::Stop) {
                self.hangup(&p, cause);
            }
        } else if let Some(p) = self.partner(ch) {
            if !p.ended() {
                let (pname, prun) = p.with(|st| (st.name.clone(), st.running));
                self.log_line(
                    Level::Notice,
                    Text::Log,
                    slog::LOOPBACK_HANGUP,
                    &p.uuid,
                    || format!("Hangup {pname} [{}] [{}]", prun.name(), cause.name()),
                );
                self.hangup(&p, cause);
            }
        }
        ch.update(|st| st.running = Cs::Hangup);
        self.fire(ch, "CHANNEL_STATE", &[], &[]);
        ch.update(|st| {
            st.running = Cs::Reporting;
            st.state = Cs::Reporting;
            st.call_state = CallState::Hangup;
            st.set_var("hangup_cause", cause.name());
            st.set_var("hangup_cause_q850", &cause.code().to_string());
            st.set_cdr_vars();
        });
        self.fire(ch, "CHANNEL_STATE", &[], &[]);
        self.fire(
            ch,
            "CHANNEL_HANGUP_COMPLETE",
            &[("Hangup-Cause", cause.name())],
            &[],
        );
        ch.hangup_done.send_replace(true);
        if let Some(gate) = gate {
            let _ = gate.await;
        }
        if ch.with(|st| st.destroy_while_held) {
            ch.update(|st| st.state = Cs::Destroy);
        }
        let mut held = ch.held.subscribe();
        let _ = held.wait_for(|&h| h == 0).await;
        ch.update(|st| st.state = Cs::Destroy);
        self.fire(ch, "CHANNEL_DESTROY", &[], &[]);
        let name = ch.name();
        self.log_line(
            Level::Notice,
            Text::Log,
            slog::CLOSE_CHANNEL,
            &ch.uuid,
            || format!("Close Channel {name} [CS_DESTROY]"),
        );
        ch.update(|st| st.destroyed = true);
        self.unregister(ch);
    }

    // ------------------------------------------------------------------------------------
    // Requests from outside the channel's task
    // ------------------------------------------------------------------------------------

    /// `uuid_kill <uuid> [cause]`.
    pub(crate) fn kill(&self, ch: &Channel, cause: HangupCause) {
        let (name, running) = ch.with(|st| (st.name.clone(), st.running));
        self.log_line(Level::Notice, Text::Log, slog::KILL, &ch.uuid, || {
            format!("Hangup {name} [{}] [{}]", running.name(), cause.name())
        });
        self.hangup(ch, cause);
    }

    /// `uuid_transfer` into the dialplan: the channel gets a new profile at once (the
    /// destination, the context, the old destination as RDNIS, a `bl_xfer` transfer
    /// source), then leaves its park to run the extension.
    pub(crate) fn transfer(&self, ch: &Channel, dest: &str, context: &str) -> bool {
        if !ch.with(|st| st.parked && st.cause.is_none()) {
            return false;
        }
        ch.update(|st| {
            st.state = Cs::Routing;
            let p = &mut st.profile;
            p.transfer_source = format!(
                "{}:{}:bl_xfer:{dest}/{context}/XML",
                epoch_us() / 1_000_000,
                uuid::Uuid::new_v4()
            );
            p.logical_direction = "inbound";
            p.dialplan = "XML".into();
            p.rdnis = p.destination_number.clone();
            p.destination_number = dest.to_owned();
            p.context = context.to_owned();
            p.profile_index += 1;
            p.transfer_us = epoch_us();
        });
        self.interrupt(
            ch,
            Interrupt::Transfer {
                dest: dest.to_owned(),
                context: Some(context.to_owned()),
            },
        )
    }

    /// Leaves an interrupt for a parked channel; false when it is not parked.
    pub(crate) fn interrupt(&self, ch: &Channel, i: Interrupt) -> bool {
        ch.update(|st| {
            if st.parked && st.cause.is_none() {
                st.interrupt = Some(i);
                true
            } else {
                false
            }
        })
    }

    /// `uuid_bridge A B`: both legs leave their park and join.
    pub(crate) fn bridge(&self, a: &Channel, b: &Channel) -> bool {
        let parked = |c: &Channel| c.with(|st| st.parked && st.cause.is_none());
        if !parked(a) || !parked(b) {
            return false;
        }
        self.bridge_profiles(a, b);
        let ok_a = self.interrupt(
            a,
            Interrupt::Bridge {
                other: b.uuid.clone(),
                role: BridgeRole::A,
            },
        );
        let ok_b = self.interrupt(
            b,
            Interrupt::Bridge {
                other: a.uuid.clone(),
                role: BridgeRole::B,
            },
        );
        ok_a && ok_b
    }

    /// `sendmsg` on a channel; returns the reply text.
    pub(crate) fn sendmsg(self: &Arc<Self>, ch: &Arc<Channel>, headers: &Headers) -> String {
        match headers
            .get("call-command")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("execute") => {
                let Some(app) = headers.get("execute-app-name") else {
                    return "-ERR missing execute-app-name".into();
                };
                let arg = headers.get("execute-app-arg").unwrap_or("").to_owned();
                let ev_uuid = headers.get("Event-UUID").map(str::to_owned);
                let loops = headers
                    .get("loops")
                    .and_then(|l| l.parse::<u32>().ok())
                    .unwrap_or(1)
                    .max(1);
                let app = app.to_owned();
                self.queue_message(ch, move |sw, ch| {
                    Box::pin(async move {
                        for _ in 0..loops {
                            if let AppEnd::HungUp = sw.exec(&ch, &app, &arg, ev_uuid.clone()).await
                            {
                                break;
                            }
                        }
                    })
                });
                "+OK".into()
            }
            Some("hangup") => {
                let cause = headers.get("hangup-cause").map(HangupCause::from_name);
                let cause = match cause {
                    Some(HangupCause::Unknown) | None => HangupCause::NormalClearing,
                    Some(c) => c,
                };
                self.queue_message(ch, move |sw, ch| {
                    Box::pin(async move {
                        sw.hangup(&ch, cause);
                    })
                });
                "+OK".into()
            }
            Some("unicast") => {
                if media::start_unicast(ch, headers) {
                    // A leg with no far end of its own (a loopback B leg parked by its
                    // dialplan) gets its media clock now: unicast is paced by it.
                    tokio::spawn(media::media_clock(ch.clone()));
                    let mut post: Vec<(String, String)> = headers
                        .iter()
                        .map(|(n, v)| (n.to_owned(), v.to_owned()))
                        .collect();
                    post.retain(|(n, _)| !n.eq_ignore_ascii_case("Content-Length"));
                    self.fire_owned(ch, "PRIVATE_COMMAND", &post);
                }
                "+OK".into()
            }
            Some("nomedia") | Some("xferext") => "+OK".into(),
            Some(other) => format!("-ERR unsupported call-command {other}"),
            None => "-ERR missing call-command".into(),
        }
    }

    /// Runs a message's work on the channel after the ones queued before it, a packet time
    /// after `sendmsg` was answered, as FreeSWITCH's session thread picks messages up.
    fn queue_message(
        self: &Arc<Self>,
        ch: &Arc<Channel>,
        work: impl FnOnce(Arc<Switch>, Arc<Channel>) -> BoxFuture + Send + 'static,
    ) {
        let mut slot = lock(&ch.messages);
        let tx = slot.get_or_insert_with(|| {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
            let (sw, ch) = (self.clone(), ch.clone());
            tokio::spawn(async move {
                while let Some(work) = rx.recv().await {
                    tokio::time::sleep(super::FRAME).await;
                    work(sw.clone(), ch.clone()).await;
                }
            });
            tx
        });
        if tx.send(Box::new(work)).is_err() {
            warn!(uuid = %ch.uuid, "message for a finished channel dropped");
        }
    }
}

type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Work `sendmsg` leaves for a channel's session thread.
pub(crate) type Message = Box<dyn FnOnce(Arc<Switch>, Arc<Channel>) -> BoxFuture + Send>;

/// `Application`, `Application-Data` (when there is data), `Application-Response` (on
/// completion) and `Application-UUID`.
fn app_headers(app: &str, data: &str, uuid: &str, response: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![("Application".to_owned(), app.to_owned())];
    if !data.is_empty() {
        h.push(("Application-Data".into(), data.to_owned()));
    }
    if let Some(r) = response {
        h.push(("Application-Response".into(), r.to_owned()));
    }
    h.push(("Application-UUID".into(), uuid.to_owned()));
    h
}
