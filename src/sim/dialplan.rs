//! The simulator's dialplan: contexts of extensions, each with a behaviour the simulator
//! plays out with FreeSWITCH's applications and events, and the mod_callcenter queues and
//! agents those extensions may send calls to.
//!
//! [`Dialplan::esl_traces`] is the test configuration the real switch of `data/esl-traces`
//! was recorded with (its README): extensions 7000–7003, 7100 and 9999 and the vanilla
//! catch-all in context `default`, context `aicall` with `aicall_queue_<q>`, queue
//! `sales@default` and agent `test-agent@default`. [`Dialplan::default`] has no contexts: a
//! `loopback/NUMBER` call then reaches the [`super::Scenarios`] callee for NUMBER, and a
//! transfer into the dialplan is a simulated agent that talks for a while.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::esl::HangupCause;

/// The extension of `dialplans/aicall.xml` that answers and parks the loopback leg aicall
/// listens to a bridged call through (the other leg eavesdrops on the call).
pub const LISTEN_EXTENSION: &str = "aicall_listen";

/// What an extension does with a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// `answer`, `playback ${sim_wav}` when the call sets `sim_wav`, then `park` when it sets
    /// `sim_after=park`, else `hangup` (NORMAL_CLEARING). Extension 7000 of the traces.
    AnswerPlayPark,
    /// `answer`, `park` (9999).
    AnswerPark,
    /// `ring_ready`, `sleep 3600000`: rings until the caller gives up (7001).
    RingForever,
    /// `hangup <cause>` before any answer (7002 USER_BUSY, 7003 CALL_REJECTED).
    Hangup(HangupCause),
    /// `socket <target> async full` where `target` may name channel variables as
    /// `${var}` (7100: `${esl_target}`).
    Socket { target: String },
    /// The vanilla catch-all: `acknowledge_call`, `ring_ready`, `playback` of a ringback
    /// tone — early media that never answers.
    EarlyMedia,
    /// `set cc_export_vars=<vars>`, `callcenter <queue>@default` where the queue is the
    /// destination without `prefix` (`aicall_queue_sales` → `sales@default`).
    Queue { prefix: String, export_vars: String },
    /// The [`super::Scenarios`] callee for the dialled number.
    Callee,
}

/// Which destinations an extension takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    Exact(String),
    Prefix(String),
    /// Every destination (a catch-all, tried after the exact extensions and the scenario
    /// callees).
    Any,
}

impl Matcher {
    fn matches(&self, dest: &str) -> bool {
        match self {
            Matcher::Exact(e) => e == dest,
            Matcher::Prefix(p) => dest.starts_with(p.as_str()),
            Matcher::Any => true,
        }
    }
}

/// One extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    pub matcher: Matcher,
    pub behaviour: Behaviour,
}

/// A mod_callcenter queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// `sales@default`.
    pub name: String,
    /// How long a member waits with no agent available before it leaves with
    /// NO_AGENT_TIMEOUT (the recorded switch: `max-wait-time-with-no-agent` 5 s plus
    /// `max-wait-time-with-no-agent-time-reached` 5 s, checked every half second: 9.5 s).
    pub no_agent_timeout: Duration,
}

/// A mod_callcenter agent (type `callback`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// `test-agent@default`.
    pub name: String,
    /// The dial string callcenter originates to the agent.
    pub contact: String,
    /// `Logged Out`, `Available`, ...
    pub status: String,
    /// The queues the agent serves.
    pub queues: Vec<String>,
    /// A `null/` agent leg answers after this long (`null_auto_answer_delay`).
    pub answer_delay: Duration,
}

/// Contexts of extensions plus the call-centre configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dialplan {
    contexts: BTreeMap<String, Vec<Extension>>,
    pub queues: Vec<QueueConfig>,
    pub agents: Vec<AgentConfig>,
}

/// Where a call to `destination` in a context goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Extension(Extension),
    /// No such context, or nothing in it matches: NO_ROUTE_DESTINATION.
    NoRoute,
}

impl Dialplan {
    /// A dialplan with no contexts (every loopback destination is a scenario callee).
    pub fn new() -> Self {
        Self::default()
    }

    /// True when the dialplan has no contexts at all.
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }

    /// Adds an extension at the end of `context`.
    pub fn add(&mut self, context: &str, ext: Extension) -> &mut Self {
        self.contexts
            .entry(context.to_owned())
            .or_default()
            .push(ext);
        self
    }

    /// True when `context` exists.
    pub fn has_context(&self, context: &str) -> bool {
        self.contexts.contains_key(context)
    }

    /// Routes `destination` in `context`: an exact (or prefix) extension first, then a
    /// scenario callee when `is_callee`, then a catch-all. An empty dialplan sends
    /// everything to the callee.
    pub fn route(&self, context: &str, destination: &str, is_callee: bool) -> Route {
        let callee = || {
            Route::Extension(Extension {
                name: "scenario".into(),
                matcher: Matcher::Exact(destination.to_owned()),
                behaviour: Behaviour::Callee,
            })
        };
        if self.contexts.is_empty() {
            // aicall's own dialplan (dialplans/aicall.xml) is installed on every switch it
            // uses: its listening extension answers and parks.
            if context == "aicall" && destination == LISTEN_EXTENSION {
                return Route::Extension(Extension {
                    name: LISTEN_EXTENSION.into(),
                    matcher: Matcher::Exact(LISTEN_EXTENSION.into()),
                    behaviour: Behaviour::AnswerPark,
                });
            }
            return callee();
        }
        let Some(exts) = self.contexts.get(context) else {
            return Route::NoRoute;
        };
        if let Some(e) = exts
            .iter()
            .find(|e| e.matcher != Matcher::Any && e.matcher.matches(destination))
        {
            return Route::Extension(e.clone());
        }
        if is_callee {
            return callee();
        }
        match exts.iter().find(|e| e.matcher == Matcher::Any) {
            Some(e) => Route::Extension(e.clone()),
            None => Route::NoRoute,
        }
    }

    /// The test configuration of `data/esl-traces` (see the module header).
    pub fn esl_traces() -> Self {
        let mut d = Dialplan::new();
        let ext = |name: &str, m: Matcher, b: Behaviour| Extension {
            name: name.to_owned(),
            matcher: m,
            behaviour: b,
        };
        let exact = |n: &str| Matcher::Exact(n.to_owned());
        d.add(
            "default",
            ext("sim_callee", exact("7000"), Behaviour::AnswerPlayPark),
        )
        .add(
            "default",
            ext("sim_no_answer", exact("7001"), Behaviour::RingForever),
        )
        .add(
            "default",
            ext(
                "sim_busy",
                exact("7002"),
                Behaviour::Hangup(HangupCause::UserBusy),
            ),
        )
        .add(
            "default",
            ext(
                "sim_rejected",
                exact("7003"),
                Behaviour::Hangup(HangupCause::CallRejected),
            ),
        )
        .add(
            "default",
            ext(
                "sim_socket",
                exact("7100"),
                Behaviour::Socket {
                    target: "${esl_target}".into(),
                },
            ),
        )
        .add("default", ext("park", exact("9999"), Behaviour::AnswerPark))
        .add(
            "default",
            ext("acknowledge_call", Matcher::Any, Behaviour::EarlyMedia),
        )
        .add(
            "aicall",
            ext(
                LISTEN_EXTENSION,
                exact(LISTEN_EXTENSION),
                Behaviour::AnswerPark,
            ),
        )
        .add(
            "aicall",
            ext(
                "aicall_queue",
                Matcher::Prefix("aicall_queue_".into()),
                Behaviour::Queue {
                    prefix: "aicall_queue_".into(),
                    export_vars: "aicall_conversation,aicall_skills,aicall_contact".into(),
                },
            ),
        );
        d.queues.push(QueueConfig {
            name: "sales@default".into(),
            no_agent_timeout: Duration::from_millis(9500),
        });
        d.agents.push(AgentConfig {
            name: "test-agent@default".into(),
            contact: "[leg_timeout=10,null_auto_answer_delay=1000]null/test-agent".into(),
            status: "Logged Out".into(),
            queues: vec!["sales@default".into()],
            answer_delay: Duration::from_millis(1000),
        });
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_of_the_traces_dialplan() {
        let d = Dialplan::esl_traces();
        let behaviour = |ctx: &str, dest: &str, callee: bool| match d.route(ctx, dest, callee) {
            Route::Extension(e) => Some(e.behaviour),
            Route::NoRoute => None,
        };
        assert_eq!(
            behaviour("default", "7002", false),
            Some(Behaviour::Hangup(HangupCause::UserBusy))
        );
        assert_eq!(
            behaviour("default", "nosuchext", false),
            Some(Behaviour::EarlyMedia)
        );
        // A scenario callee wins over the catch-all, not over a real extension.
        assert_eq!(
            behaviour("default", "13800000001", true),
            Some(Behaviour::Callee)
        );
        assert_eq!(
            behaviour("default", "9999", true),
            Some(Behaviour::AnswerPark)
        );
        assert_eq!(behaviour("nosuchcontext", "7000", false), None);
        assert!(matches!(
            behaviour("aicall", "aicall_queue_sales", false),
            Some(Behaviour::Queue { .. })
        ));
        assert_eq!(behaviour("aicall", "other", false), None);
        assert!(matches!(
            Dialplan::default().route("any", "1000", false),
            Route::Extension(Extension {
                behaviour: Behaviour::Callee,
                ..
            })
        ));
    }
}
