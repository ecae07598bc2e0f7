//! mod_callcenter as the traces recorded it: a call that runs `callcenter <queue>` joins the
//! queue as a member (`member-queue-start`, `members-count`); an Available agent is offered
//! it (`agent-state-change` Receiving, `agent-offering`), callcenter originates the agent's
//! `null/` leg, which answers after its delay, and bridges the two (`bridge-agent-start`,
//! `uuid_bridge` on both legs, CHANNEL_BRIDGE on the member, `agent-state-change` In a queue
//! call); when the call ends, `bridge-agent-end` and `member-queue-end` (Terminated) follow
//! both legs' CHANNEL_HANGUP_COMPLETE and precede their CHANNEL_DESTROY. With no agent the
//! member leaves after the queue's timeout (`member-queue-end`, Cancel, NO_AGENT_TIMEOUT) and
//! the dialplan ends. `callcenter_config` answers `agent get|set status` and `queue list
//! members|agents` in FreeSWITCH's formats.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::call::AppEnd;
use super::channel::{
    epoch_us, BridgeRole, CallState, Channel, Cs, Interrupt, NewChannel, Profile,
};
use super::dialplan::{AgentConfig, QueueConfig};
use super::{lock, Switch};
use crate::esl::HangupCause;

/// A member of a queue.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub queue: String,
    pub uuid: String,
    /// The member's channel; emptied once it left.
    pub session_uuid: String,
    pub cid_number: String,
    pub cid_name: String,
    pub joined_epoch: u64,
    pub bridge_epoch: u64,
    pub abandoned_epoch: u64,
    pub serving_agent: String,
    pub state: &'static str,
}

/// An agent.
#[derive(Clone, Debug)]
pub(crate) struct Agent {
    pub cfg: AgentConfig,
    pub status: String,
    pub state: &'static str,
    /// The agent leg of the last call.
    pub uuid: String,
    pub last_bridge_start: u64,
    pub last_bridge_end: u64,
    pub last_offered_call: u64,
    pub last_status_change: u64,
    pub calls_answered: u64,
}

/// The call centre's state.
#[derive(Debug, Default)]
pub(crate) struct CallCenter {
    pub queues: Vec<QueueConfig>,
    pub agents: Vec<Agent>,
    pub members: Vec<Member>,
}

fn now_s() -> u64 {
    (epoch_us() / 1_000_000) as u64
}

impl CallCenter {
    pub(crate) fn new(queues: Vec<QueueConfig>, agents: Vec<AgentConfig>) -> Self {
        Self {
            queues,
            agents: agents
                .into_iter()
                .map(|cfg| Agent {
                    status: cfg.status.clone(),
                    cfg,
                    state: "Waiting",
                    uuid: String::new(),
                    last_bridge_start: 0,
                    last_bridge_end: 0,
                    last_offered_call: 0,
                    last_status_change: now_s(),
                    calls_answered: 0,
                })
                .collect(),
            members: Vec::new(),
        }
    }

    fn waiting(&self, queue: &str) -> usize {
        self.members
            .iter()
            .filter(|m| m.queue == queue && !m.session_uuid.is_empty())
            .count()
    }

    /// An Available agent in state Waiting that serves `queue`.
    fn free_agent(&self, queue: &str) -> Option<usize> {
        self.agents.iter().position(|a| {
            a.status == "Available"
                && a.state == "Waiting"
                && a.cfg.queues.iter().any(|q| q == queue)
        })
    }
}

impl Switch {
    /// A `callcenter::info` CUSTOM event without channel data.
    fn cc_event(&self, headers: &[(&str, &str)]) {
        let mut ev = self.stamp("CUSTOM");
        ev.headers.set("Event-Calling-File", "mod_callcenter.c");
        let mut out = crate::esl::Event::default();
        out.headers.push("Event-Subclass", "callcenter::info");
        for (n, v) in ev.headers.iter() {
            out.headers.push(n, v);
        }
        for (n, v) in headers {
            out.headers.push(n, v);
        }
        self.hub.publish(out);
    }

    /// A `callcenter::info` CUSTOM event with a channel's data.
    fn cc_channel_event(&self, ch: &Channel, headers: &[(&str, &str)]) {
        let mut base = crate::esl::Event::default();
        base.headers.push("Event-Subclass", "callcenter::info");
        for (n, v) in self.stamp("CUSTOM").headers.iter() {
            base.headers.push(n, v);
        }
        if self.live(ch) {
            self.hub.publish(ch.event(base, &[], headers));
        }
    }

    fn members_count(&self, queue: &str) {
        let count = lock(&self.callcenter).waiting(queue).to_string();
        self.cc_event(&[
            ("CC-Queue", queue),
            ("CC-Action", "members-count"),
            ("CC-Count", &count),
            ("CC-Selection", "Single-Queue"),
        ]);
    }

    fn agent_state(&self, agent: &str, state: &'static str) {
        if let Some(a) = lock(&self.callcenter)
            .agents
            .iter_mut()
            .find(|a| a.cfg.name == agent)
        {
            a.state = state;
        }
        self.cc_event(&[
            ("CC-Agent", agent),
            ("CC-Action", "agent-state-change"),
            ("CC-Agent-State", state),
        ]);
    }

    /// The `callcenter` application: the channel waits in the queue until an agent takes
    /// it (then it is bridged to the agent until the call ends) or the queue gives up.
    pub(crate) async fn callcenter_member(
        self: &Arc<Self>,
        ch: &Arc<Channel>,
        queue: &str,
    ) -> AppEnd {
        let Some(cfg) = lock(&self.callcenter)
            .queues
            .iter()
            .find(|q| q.name == queue)
            .cloned()
        else {
            return AppEnd::Done;
        };
        let member_uuid = uuid::Uuid::new_v4().to_string();
        let joined = now_s();
        let (cid_name, cid_number, dnis) = ch.with(|st| {
            let p = &st.profile;
            let dnis = if p.rdnis.is_empty() {
                p.destination_number.clone()
            } else {
                p.rdnis.clone()
            };
            (p.caller_id_name.clone(), p.caller_id_number.clone(), dnis)
        });
        ch.update(|st| {
            st.set_var("cc_side", "member");
            st.set_var("cc_member_uuid", &member_uuid);
            st.set_var("cc_queue_joined_epoch", &joined.to_string());
            st.set_var("cc_queue", queue);
        });
        lock(&self.callcenter).members.push(Member {
            queue: queue.to_owned(),
            uuid: member_uuid.clone(),
            session_uuid: ch.uuid.clone(),
            cid_number: cid_number.clone(),
            cid_name: cid_name.clone(),
            joined_epoch: joined,
            bridge_epoch: 0,
            abandoned_epoch: 0,
            serving_agent: String::new(),
            state: "Waiting",
        });
        self.cc_channel_event(
            ch,
            &[
                ("CC-Queue", queue),
                ("CC-Action", "member-queue-start"),
                ("CC-Member-UUID", &member_uuid),
                ("CC-Member-Session-UUID", &ch.uuid),
                ("CC-Member-CID-Name", &cid_name),
                ("CC-Member-CID-Number", &cid_number),
            ],
        );
        self.members_count(queue);
        // The member's end-of-call events come after its HANGUP_COMPLETE; callcenter's member
        // thread holds the session past its CS_DESTROY.
        ch.hold();
        ch.update(|st| st.destroy_while_held = true);
        let member = MemberCall {
            queue: queue.to_owned(),
            member_uuid,
            cid_name,
            cid_number,
            dnis,
            joined,
        };
        let coordinator = tokio::spawn(self.clone().coordinate(ch.clone(), cfg, member));
        ch.wait_until(|st| st.cause.is_some() || st.interrupt.is_some() || st.queue_left)
            .await;
        if ch.with(|st| st.queue_left) {
            let _ = coordinator.await;
            return AppEnd::Done;
        }
        match ch.update(|st| st.interrupt.take()) {
            Some(Interrupt::Bridge { other, role }) if !ch.ended() => {
                self.bridged(ch, &other, role).await
            }
            _ => AppEnd::HungUp,
        }
    }

    /// The queue's side of one member: offers it to an agent, or lets it go at the timeout.
    async fn coordinate(self: Arc<Self>, member_ch: Arc<Channel>, cfg: QueueConfig, m: MemberCall) {
        let started = Instant::now();
        loop {
            if member_ch.ended() {
                // Gone before an agent took it.
                self.member_left(&member_ch, &m, "Cancel", Some("BREAK_OUT"), None);
                member_ch.release();
                return;
            }
            let agent = {
                let cc = lock(&self.callcenter);
                cc.free_agent(&m.queue).map(|i| cc.agents[i].cfg.clone())
            };
            if let Some(agent) = agent {
                self.serve_member(&member_ch, agent, &m).await;
                return;
            }
            if started.elapsed() >= cfg.no_agent_timeout {
                self.member_left(&member_ch, &m, "Cancel", Some("NO_AGENT_TIMEOUT"), None);
                member_ch.update(|st| {
                    st.set_var("cc_cause", "cancel");
                    st.set_var("cc_cancel_reason", "NO_AGENT_TIMEOUT");
                    st.set_var("cc_queue_canceled_epoch", &now_s().to_string());
                });
                member_ch.release();
                member_ch.update(|st| st.queue_left = true);
                return;
            }
            let nap = Duration::from_millis(100);
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = member_ch.wait_end() => {}
            }
        }
    }

    /// `member-queue-end` (and the count), the member row updated.
    fn member_left(
        &self,
        ch: &Channel,
        m: &MemberCall,
        cause: &str,
        reason: Option<&str>,
        agent: Option<&AgentCall>,
    ) {
        let leaving = now_s();
        {
            let mut cc = lock(&self.callcenter);
            if let Some(row) = cc.members.iter_mut().find(|r| r.uuid == m.member_uuid) {
                row.session_uuid.clear();
                if agent.is_none() {
                    row.abandoned_epoch = leaving;
                    row.state = "Abandoned";
                }
            }
            if agent.is_some() {
                cc.members.retain(|r| r.uuid != m.member_uuid);
            }
        }
        let leaving_s = leaving.to_string();
        let joined_s = m.joined.to_string();
        let mut h: Vec<(&str, &str)> =
            vec![("CC-Queue", &m.queue), ("CC-Action", "member-queue-end")];
        if let Some(a) = agent {
            h.push(("CC-Hangup-Cause", "SUCCESS"));
            h.push(("CC-Cause", cause));
            h.push(("CC-Agent", &a.name));
            h.push(("CC-Agent-System", "single_box"));
            h.push(("CC-Agent-UUID", &a.uuid));
            h.push(("CC-Agent-Called-Time", &a.called_s));
            h.push(("CC-Agent-Answered-Time", &a.answered_s));
            h.push(("CC-Member-Leaving-Time", &leaving_s));
            h.push(("CC-Member-Joined-Time", &joined_s));
        } else {
            h.push(("CC-Member-Leaving-Time", &leaving_s));
            h.push(("CC-Member-Joined-Time", &joined_s));
            h.push(("CC-Cause", cause));
            if let Some(r) = reason {
                h.push(("CC-Cancel-Reason", r));
            }
        }
        h.push(("CC-Member-UUID", &m.member_uuid));
        h.push(("CC-Member-Session-UUID", &ch.uuid));
        h.push(("CC-Member-CID-Name", &m.cid_name));
        h.push(("CC-Member-CID-Number", &m.cid_number));
        self.cc_channel_event(ch, &h);
        if agent.is_none() {
            self.members_count(&m.queue);
        }
    }

    /// Offers the member to `agent`: the agent's `null/` leg, its answer, the bridge, and the
    /// end-of-call events once both legs have hung up.
    async fn serve_member(
        self: &Arc<Self>,
        member_ch: &Arc<Channel>,
        agent: AgentConfig,
        m: &MemberCall,
    ) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.agent_state(&agent.name, "Receiving");
        let called = now_s();
        if let Some(a) = lock(&self.callcenter)
            .agents
            .iter_mut()
            .find(|a| a.cfg.name == agent.name)
        {
            a.last_offered_call = called;
        }
        self.cc_event(&[
            ("CC-Queue", &m.queue),
            ("CC-Action", "agent-offering"),
            ("CC-Agent", &agent.name),
            ("CC-Agent-Type", "callback"),
            ("CC-Agent-System", "single_box"),
            ("CC-Member-UUID", &m.member_uuid),
            ("CC-Member-Session-UUID", &member_ch.uuid),
            ("CC-Member-CID-Name", &m.cid_name),
            ("CC-Member-CID-Number", &m.cid_number),
            ("CC-Member-DNIS", &m.dnis),
        ]);
        let leg = self.agent_leg(&agent, member_ch, m);
        if let Some(a) = lock(&self.callcenter)
            .agents
            .iter_mut()
            .find(|a| a.cfg.name == agent.name)
        {
            a.uuid = leg.uuid.clone();
        }
        // The null endpoint answers after its delay.
        let answered = leg.sleep(agent.answer_delay).await && !member_ch.ended();
        if !answered {
            self.hangup(&leg, HangupCause::OriginatorCancel);
            self.agent_state(&agent.name, "Waiting");
            self.member_left(member_ch, m, "Cancel", Some("BREAK_OUT"), None);
            member_ch.release();
            leg.release();
            return;
        }
        leg.update(|st| {
            st.answer_state = super::channel::AnswerState::Answered;
            st.answered_at = Some(Instant::now());
            st.profile.answered_us = epoch_us();
        });
        self.fire(&leg, "CHANNEL_ANSWER", &[], &[]);
        leg.update(|st| {
            st.call_state = CallState::Active;
            st.set_var("endpoint_disposition", "ANSWER");
        });
        let answered_s = now_s();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let ac = AgentCall {
            name: agent.name.clone(),
            uuid: leg.uuid.clone(),
            called_s: called.to_string(),
            answered_s: answered_s.to_string(),
        };
        {
            let mut cc = lock(&self.callcenter);
            if let Some(row) = cc.members.iter_mut().find(|r| r.uuid == m.member_uuid) {
                row.bridge_epoch = answered_s;
                row.serving_agent = agent.name.clone();
                row.state = "Answered";
            }
            if let Some(a) = cc.agents.iter_mut().find(|a| a.cfg.name == agent.name) {
                a.last_bridge_start = answered_s;
            }
        }
        let joined_s = m.joined.to_string();
        leg.set_var("cc_member_pre_answer_uuid", "");
        self.cc_channel_event(
            &leg,
            &[
                ("CC-Queue", &m.queue),
                ("CC-Action", "bridge-agent-start"),
                ("CC-Agent", &agent.name),
                ("CC-Agent-System", "single_box"),
                ("CC-Agent-UUID", &leg.uuid),
                ("CC-Agent-Called-Time", &ac.called_s),
                ("CC-Agent-Answered-Time", &ac.answered_s),
                ("CC-Member-Joined-Time", &joined_s),
                ("CC-Member-UUID", &m.member_uuid),
                ("CC-Member-Session-UUID", &member_ch.uuid),
                ("CC-Member-CID-Name", &m.cid_name),
                ("CC-Member-CID-Number", &m.cid_number),
                ("CC-Member-DNIS", &m.dnis),
            ],
        );
        self.members_count(&m.queue);
        member_ch.update(|st| {
            st.set_var("cc_agent_uuid", &leg.uuid);
            st.set_var("cc_cause", "answered");
            st.set_var("cc_queue_answered_epoch", &answered_s.to_string());
        });
        self.bridge_profiles(member_ch, &leg);
        member_ch.update(|st| {
            st.interrupt = Some(Interrupt::Bridge {
                other: leg.uuid.clone(),
                role: BridgeRole::A,
            });
        });
        leg.update(|st| {
            st.interrupt = Some(Interrupt::Bridge {
                other: member_ch.uuid.clone(),
                role: BridgeRole::B,
            });
        });
        // The member's CHANNEL_BRIDGE, then the agent is in the call.
        member_ch
            .wait_until(|st| st.running == Cs::SoftExecute || st.cause.is_some())
            .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        member_ch.update(|st| {
            st.set_var("cc_agent_bridged", "true");
            st.set_var("cc_agent", &agent.name);
        });
        leg.set_var("cc_agent_bridged", "true");
        self.agent_state(&agent.name, "In a queue call");
        // Both legs' HANGUP_COMPLETE, then the end of the bridge and of the membership.
        let mut m_done = member_ch.hangup_done.subscribe();
        let mut l_done = leg.hangup_done.subscribe();
        let _ = m_done.wait_for(|&d| d).await;
        let _ = l_done.wait_for(|&d| d).await;
        let terminated = now_s().to_string();
        self.cc_channel_event(
            &leg,
            &[
                ("CC-Queue", &m.queue),
                ("CC-Action", "bridge-agent-end"),
                ("CC-Hangup-Cause", "SUCCESS"),
                ("CC-Agent", &agent.name),
                ("CC-Agent-System", "single_box"),
                ("CC-Agent-UUID", &leg.uuid),
                ("CC-Agent-Bridged", "true"),
                ("CC-Agent-Called-Time", &ac.called_s),
                ("CC-Agent-Answered-Time", &ac.answered_s),
                ("CC-Member-Joined-Time", &joined_s),
                ("CC-Bridge-Terminated-Time", &terminated),
                ("CC-Member-UUID", &m.member_uuid),
                ("CC-Member-Session-UUID", &member_ch.uuid),
                ("CC-Member-CID-Name", &m.cid_name),
                ("CC-Member-CID-Number", &m.cid_number),
            ],
        );
        member_ch.set_var("cc_queue_terminated_epoch", &terminated);
        self.member_left(member_ch, m, "Terminated", None, Some(&ac));
        if let Some(a) = lock(&self.callcenter)
            .agents
            .iter_mut()
            .find(|a| a.cfg.name == agent.name)
        {
            a.last_bridge_end = now_s();
            a.calls_answered += 1;
        }
        self.agent_state(&agent.name, "Waiting");
        leg.release();
        member_ch.release();
    }

    /// The agent's leg, originated by callcenter to the agent's contact.
    fn agent_leg(
        self: &Arc<Self>,
        agent: &AgentConfig,
        member: &Channel,
        m: &MemberCall,
    ) -> Arc<Channel> {
        let (vars_part, dial) = match agent.contact.strip_prefix('[') {
            Some(rest) => rest.split_once(']').unwrap_or(("", rest)),
            None => ("", agent.contact.as_str()),
        };
        let name = dial.to_owned();
        let user = dial.rsplit('/').next().unwrap_or(dial).to_owned();
        let uuid = uuid::Uuid::new_v4().to_string();
        let mut vars = vec![
            ("direction".to_owned(), "outbound".to_owned()),
            ("is_outbound".into(), "true".into()),
            ("uuid".into(), uuid.clone()),
            ("call_uuid".into(), uuid.clone()),
            ("session_id".into(), self.next_session_id().to_string()),
            ("read_codec".into(), "L16".into()),
            ("read_rate".into(), member.rate.to_string()),
            ("write_codec".into(), "L16".into()),
            ("write_rate".into(), member.rate.to_string()),
            ("channel_name".into(), name.clone()),
        ];
        for pair in vars_part.split(',').filter(|p| !p.is_empty()) {
            if let Some((k, v)) = pair.split_once('=') {
                vars.push((k.to_owned(), v.to_owned()));
            }
        }
        let export = member.var("cc_export_vars").unwrap_or_default();
        vars.extend([
            ("cc_queue".to_owned(), m.queue.clone()),
            ("cc_queue_joined_epoch".into(), m.joined.to_string()),
            ("cc_member_uuid".into(), m.member_uuid.clone()),
            ("cc_member_session_uuid".into(), member.uuid.clone()),
            ("cc_member_pre_answer_uuid".into(), m.member_uuid.clone()),
            ("cc_agent".into(), agent.name.clone()),
            ("cc_agent_type".into(), "callback".into()),
            ("cc_side".into(), "agent".into()),
            ("loopback_bowout".into(), "false".into()),
            ("loopback_bowout_on_execute".into(), "false".into()),
            ("ignore_early_media".into(), "true".into()),
            ("cc_export_vars".into(), export.clone()),
        ]);
        for v in export.split(',').filter(|v| !v.is_empty()) {
            if let Some(val) = member.var(v) {
                vars.push((v.to_owned(), val));
            }
        }
        vars.extend([
            ("origination_caller_id_name".to_owned(), m.cid_name.clone()),
            ("origination_caller_id_number".into(), m.cid_number.clone()),
            ("originate_early_media".into(), "false".into()),
            ("originate_endpoint".into(), "null".into()),
        ]);
        let leg = Channel::new(NewChannel {
            uuid,
            name,
            number: user.clone(),
            outbound: true,
            profile: Profile {
                direction: "outbound",
                caller_id_name: m.cid_name.clone(),
                caller_id_number: m.cid_number.clone(),
                orig_caller_id_name: m.cid_name.clone(),
                orig_caller_id_number: m.cid_number.clone(),
                callee_id_name: "Outbound Call".into(),
                callee_id_number: user.clone(),
                ani: m.cid_number.clone(),
                destination_number: user,
                // callcenter originates from the member's session, a loopback leg.
                source: "mod_loopback".into(),
                context: "default".into(),
                ..Profile::default()
            },
            vars,
            callee: None,
            rate: member.rate,
            record_audio: false,
            counts_as_call: false,
        });
        leg.hold();
        leg.update(|st| st.destroy_while_held = true);
        self.register(&leg);
        self.fire(&leg, "CHANNEL_CREATE", &[], &[]);
        leg.update(|st| {
            st.running = Cs::ConsumeMedia;
            st.state = Cs::ConsumeMedia;
        });
        tokio::spawn(self.clone().agent_leg_task(leg.clone()));
        leg
    }

    /// The agent leg's own task: waits to be bridged (or hung up), then tears down.
    async fn agent_leg_task(self: Arc<Self>, leg: Arc<Channel>) {
        leg.wait_until(|st| st.cause.is_some() || st.interrupt.is_some())
            .await;
        if let Some(Interrupt::Bridge { other, role }) = leg.update(|st| st.interrupt.take()) {
            if !leg.ended() {
                self.bridged(&leg, &other, role).await;
            }
        }
        self.teardown(&leg, None).await;
    }

    /// `callcenter_config ...`.
    pub(crate) fn callcenter_config(&self, args: &str) -> String {
        let words = split_quoted(args);
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["agent", "get", "status", agent] => {
                let status = lock(&self.callcenter)
                    .agents
                    .iter()
                    .find(|a| a.cfg.name == *agent)
                    .map(|a| a.status.clone());
                match status {
                    Some(s) => {
                        self.cc_event(&[
                            ("CC-Agent", agent),
                            ("CC-Action", "agent-status-get"),
                            ("CC-Agent-Status", &s),
                        ]);
                        s
                    }
                    None => "-ERR Invalid Agent Not Found!\n".into(),
                }
            }
            ["agent", "set", "status", agent, status] => {
                let found = {
                    let mut cc = lock(&self.callcenter);
                    match cc.agents.iter_mut().find(|a| a.cfg.name == *agent) {
                        Some(a) => {
                            a.status = (*status).to_owned();
                            a.last_status_change = now_s();
                            true
                        }
                        None => false,
                    }
                };
                if !found {
                    return "-ERR Invalid Agent!\n".into();
                }
                self.cc_event(&[
                    ("CC-Agent", agent),
                    ("CC-Action", "agent-status-change"),
                    ("CC-Agent-Status", status),
                ]);
                "+OK\n".into()
            }
            ["queue", "list", "members", queue] => {
                let mut out = String::from(
                    "queue|instance_id|uuid|session_uuid|cid_number|cid_name|system_epoch|\
                     joined_epoch|rejoined_epoch|bridge_epoch|abandoned_epoch|base_score|\
                     skill_score|serving_agent|serving_system|state|score\n",
                );
                let now = now_s();
                for m in lock(&self.callcenter)
                    .members
                    .iter()
                    .filter(|m| m.queue == *queue)
                {
                    let serving_system = if m.serving_agent.is_empty() {
                        ""
                    } else {
                        "single_box"
                    };
                    out.push_str(&format!(
                        "{}|single_box|{}|{}|{}|{}|{}|{}|0|{}|{}|0|0|{}|{}|{}|{}\n",
                        m.queue,
                        m.uuid,
                        m.session_uuid,
                        m.cid_number,
                        m.cid_name,
                        m.joined_epoch,
                        m.joined_epoch,
                        m.bridge_epoch,
                        m.abandoned_epoch,
                        m.serving_agent,
                        serving_system,
                        m.state,
                        now.saturating_sub(m.joined_epoch),
                    ));
                }
                out.push_str("+OK\n");
                out
            }
            ["queue", "list", "agents", queue] => {
                let mut out = String::from(
                    "name|instance_id|uuid|type|contact|status|state|max_no_answer|\
                     wrap_up_time|reject_delay_time|busy_delay_time|no_answer_delay_time|\
                     last_bridge_start|last_bridge_end|last_offered_call|last_status_change|\
                     no_answer_count|calls_answered|talk_time|ready_time|external_calls_count\n",
                );
                for a in lock(&self.callcenter)
                    .agents
                    .iter()
                    .filter(|a| a.cfg.queues.iter().any(|q| q == queue))
                {
                    out.push_str(&format!(
                        "{}|single_box|{}|callback|{}|{}|{}|3|2|2|2|0|{}|{}|{}|{}|0|{}|0|0|0\n",
                        a.cfg.name,
                        a.uuid,
                        a.cfg.contact,
                        a.status,
                        a.state,
                        a.last_bridge_start,
                        a.last_bridge_end,
                        a.last_offered_call,
                        a.last_status_change,
                        a.calls_answered,
                    ));
                }
                out.push_str("+OK\n");
                out
            }
            _ => "-ERR Usage: callcenter_config agent|tier|queue ...\n".into(),
        }
    }
}

/// What the coordinator knows of a member.
#[derive(Clone, Debug)]
struct MemberCall {
    queue: String,
    member_uuid: String,
    cid_name: String,
    cid_number: String,
    dnis: String,
    joined: u64,
}

/// What the end events say of the agent's leg.
struct AgentCall {
    name: String,
    uuid: String,
    called_s: String,
    answered_s: String,
}

/// Words, with `'...'` keeping spaces (`agent set status a@b 'Logged Out'`).
fn split_quoted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_words() {
        assert_eq!(
            split_quoted("agent set status test-agent@default 'Logged Out'"),
            ["agent", "set", "status", "test-agent@default", "Logged Out"]
        );
        assert_eq!(split_quoted("  a  b "), ["a", "b"]);
    }
}
