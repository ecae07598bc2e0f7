//! The agent desktop: the page a human agent of aicall's desk works from (`GET /agent`), and
//! the routes behind it — the desk ([`crate::app::desk`]) as one agent sees it.
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /agent`, `/assets/agent.js` | anyone | the page (it holds no data) |
//! | `GET /api/v1/agents` | `ReadAgents` | agents, screens, queues (an agent: itself only) |
//! | `GET /api/v1/agents/{id}/screen` | the agent, or `ReadCalls` | its state and screen pop |
//! | `GET /api/v1/agents/{id}/events[?call=]` | the agent, or `ReadCalls` | its feed (SSE) |
//! | `POST /api/v1/agents/{id}/{login\|ready\|break\|logout}` | the agent, or `ControlAgent` | state |
//! | `POST /api/v1/agents/{id}/disposition` | the agent, or `AgentDisposition` | the outcome |
//!
//! An agent (role `agent`, user name = agent id) acts for itself only; supervisors and
//! admins for anyone. Like every route of [`super`], each accepts the session cookie or an
//! API key and is audited, allowed or not.
//!
//! The screen pop is the desk's transfer request ([`TransferRequest`]) made fit to show: the
//! callee's number masked, any long digit run in fields and lines masked too, the lead
//! score's top reasons and segment from the campaign's lead model (TreeSHAP, computed once
//! per call), and the script's suggested answer. A filed disposition goes to the desk (the
//! router learns the agent's conversion and handle time from it), into the call's record
//! (outcome, notes, callback time), and a `dnc` outcome puts the number on the DNC list. The
//! dialer then acts on it ([`crate::app::Service::refile`]): the attempt's `transferred`
//! becomes the agent's outcome (`converted` for a sale) and the contact is scheduled by the
//! campaign's retry policy — called back at the agreed time, or never again after a sale, a
//! refusal or a DNC request. The calling window, caps and lists apply when the callback is
//! dialled, as to any call.
//!
//! The feed carries the agent's own state changes and, with `?call=` naming the call on its
//! screen, that call's events: the page's live transcript. Anything else on the bus stays
//! off it.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use axum::Json;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tracing::warn;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{blocking, feed_of, lock, page, sse_event, unix_ms, Caller, Ctx, WebError, WebResult};
use crate::app::control::{Action, Principal, Role};
use crate::app::desk::{Desk, DeskView};
use crate::app::events::ServiceEvent;
use crate::app::http::ErrorBody;
use crate::call::events::CallEvent;
use crate::call::record::{AgentOutcome, CallRecord, Turn};
use crate::call::transfer::{Suggestion, TransferRequest};
use crate::campaign::compliance::CallbackRefusal;
use crate::campaign::driver::{AgentFiled, Refiled};
use crate::campaign::zones::zones_of;
use crate::campaign::{CallingWindow, CampaignSettings, Rules};
use crate::outcome::Disposition;
use crate::pii::Pii;
use crate::profile::dialer::{contact_hours, LeadScorer};
use crate::routing::{self, AgentId, AgentState, AgentStatus, RoutingError};
use crate::store::{ContactState, ListEntry, ListKind, Store, StoreError};

/// The outcomes an agent files, in the order the form offers them.
pub const AGENT_OUTCOMES: &[Disposition] = &[
    Disposition::Interested,
    Disposition::Callback,
    Disposition::NotInterested,
    Disposition::Dnc,
    Disposition::WrongNumber,
];
/// Longest notes a disposition may carry (characters).
const NOTES_MAX: usize = 2000;
/// Longest break reason (characters).
const REASON_MAX: usize = 32;
/// Digit runs this long or longer are phone numbers as far as the screen goes.
const NUMBER_DIGITS: usize = 7;
/// Lead explanations kept (one per call on a screen); the table is dropped whole past it.
const EXPLANATIONS_CAP: usize = 512;

/// The desktop's caches: lead explanations by call (a screen is asked for again and again
/// while its call lasts) and the lead models loaded, by directory.
#[derive(Debug, Default)]
pub struct Cache {
    explanations: Mutex<HashMap<String, Option<LeadExplanation>>>,
    scorers: Mutex<HashMap<PathBuf, Loaded>>,
}

/// A lead model directory's scorer, with its `model.json`'s modification time: a model
/// retrained in place is loaded again.
#[derive(Debug)]
struct Loaded {
    modified: Option<std::time::SystemTime>,
    scorer: Arc<LeadScorer>,
}

pub(super) fn routes() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(agent_page))
        .routes(routes!(agents))
        .routes(routes!(screen))
        .routes(routes!(events))
        .routes(routes!(disposition))
        .routes(routes!(agent_op))
}

/// The agent desktop page.
#[utoipa::path(get, path = "/agent", tag = "pages",
    responses((status = 200, description = "The page (it holds no data)", body = String,
        content_type = "text/html")))]
async fn agent_page() -> Response {
    page("text/html; charset=utf-8", super::AGENT_HTML)
}

/// The HTTP status of a refusal by the desk: whose fault it is.
pub fn desk_status(e: &RoutingError) -> StatusCode {
    use RoutingError as E;
    match e {
        E::UnknownAgent { .. } | E::UnknownCall { .. } | E::NeverHad { .. } => {
            StatusCode::NOT_FOUND
        }
        E::NotOffered { .. }
        | E::AlreadyDisposed { .. }
        | E::LoggedOut { .. }
        | E::Removed { .. }
        | E::DuplicateCall { .. }
        | E::QueueRemoved { .. } => StatusCode::CONFLICT,
        E::UnknownSkill { .. }
        | E::UnknownIntent { .. }
        | E::LevelOutOfRange { .. }
        | E::Duplicate { .. }
        | E::Invalid { .. }
        | E::Unservable { .. }
        | E::TooManyLanguages { .. }
        | E::UnknownQueue { .. } => StatusCode::BAD_REQUEST,
    }
}

/// What a request does to agent `id`'s desk, for the permission check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// Reading its screen and feed: what its calls said.
    Read,
    Control,
    Dispose,
}

/// Whether `p` may do `need` for agent `id`: an agent for itself; anyone else as its role
/// allows (reading a screen shows what the call said, so it takes [`Action::ReadCalls`]).
fn may(p: &Principal, need: Need, id: &str) -> Result<(), String> {
    let action = match need {
        Need::Read => Action::ReadAgents,
        Need::Control => Action::ControlAgent,
        Need::Dispose => Action::AgentDisposition,
    };
    if p.role == Role::Agent {
        return match p.user == id {
            true => Ok(()),
            false => Err(format!(
                "act for agent `{id}`: an agent acts only for itself"
            )),
        };
    }
    let reads = need != Need::Read || Action::ReadCalls.allowed(p.role);
    let verb = match need {
        Need::Read => "read the screen of",
        Need::Control => "control",
        Need::Dispose => "file dispositions for",
    };
    match action.allowed(p.role) && reads {
        true => Ok(()),
        false => Err(format!("{verb} agent `{id}`")),
    }
}

impl Ctx {
    fn allow_agent(
        &self,
        headers: &HeaderMap,
        need: Need,
        id: &str,
        what: &str,
    ) -> Result<Caller, WebError> {
        self.guard
            .allow_when(headers, what, unix_ms(), |p| may(p, need, id))
    }

    fn desk(&self) -> Result<Desk, WebError> {
        self.service()?.desk().cloned().ok_or_else(|| {
            WebError::NotFound(
                "no agents are configured: set [serve] agents to a file of agents and queues"
                    .into(),
            )
        })
    }
}

/// The agent desk: agents, screens, queues.
///
/// An agent sees itself and its own screen; a role that may not read calls sees no
/// screens (they hold the conversations). Numbers on screens are masked.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses(
        (status = 200, description = "The desk", body = DeskView),
        (status = 404, description = "No agents are configured (`[serve] agents`)", body = ErrorBody),
    ))]
async fn agents(State(ctx): State<Ctx>, headers: HeaderMap) -> WebResult<DeskView> {
    let who = ctx
        .guard
        .allow_when(
            &headers,
            "agents",
            unix_ms(),
            |p| match Action::ReadAgents.allowed(p.role) {
                true => Ok(()),
                false => Err("agents".to_owned()),
            },
        )?;
    let desk = ctx.done(&who, "agents", ctx.desk())?;
    let mut view = desk.view();
    let p = &who.principal;
    if p.role == Role::Agent {
        view.agents.retain(|a| a.id.as_str() == p.user);
        view.screens.retain(|k, _| *k == p.user);
        view.agent_legs.clear();
    } else if !who.reads_calls() {
        view.screens.clear();
    }
    for req in view.screens.values_mut() {
        mask_request(req);
    }
    Ok(Json(view))
}

/// A transfer request as a screen may show it: long digit runs masked wherever they are (the
/// dialer masked the callee's number already; anything that came in full is caught here).
fn mask_request(req: &mut TransferRequest) {
    req.callee = mask_numbers(&req.callee);
    for v in req.fields.values_mut() {
        *v = mask_numbers(v);
    }
    for t in &mut req.conversation {
        t.text = mask_numbers(&t.text);
    }
    if let Some(s) = &mut req.suggestion {
        s.question = mask_numbers(&s.question);
    }
}

/// Where the call on an agent's screen is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The agent's phone rings.
    Offered,
    /// Bridged: the agent and the callee are talking.
    Talking,
    /// Over: the form for its disposition.
    Ended,
}

/// One of the lead score's top reasons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadReason {
    pub feature: String,
    pub value: String,
    /// Its share of the log odds (positive: raises the score).
    pub contribution: f64,
}

/// Why the lead model scores the callee as it does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadExplanation {
    pub probability: f64,
    /// The customer segment, in words.
    pub segment: String,
    pub reasons: Vec<LeadReason>,
}

/// The screen pop: what the agent sees of the call offered to it or taken.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ScreenPop {
    /// The callee's channel UUID: what the disposition names.
    pub call: String,
    pub phase: Phase,
    pub campaign: String,
    pub queue: String,
    pub skills: Vec<String>,
    /// The callee's last intent, and the script node that transferred.
    pub intent: String,
    pub node: String,
    /// Masked.
    pub callee: String,
    pub name: Option<String>,
    /// The contact's other fields (long digit runs masked).
    pub fields: BTreeMap<String, String>,
    pub lead_score: Option<f32>,
    pub lead: Option<LeadExplanation>,
    /// Slots the conversation captured: a callback time (unix s), an amount.
    pub callback_at: Option<i64>,
    pub amount: Option<f64>,
    /// The AI conversation up to the transfer, each line with its intent.
    pub conversation: Vec<Turn>,
    pub language: Option<String>,
    pub suggestion: Option<Suggestion>,
}

/// `GET /api/v1/agents/{id}/screen`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AgentScreen {
    /// The agent: id, state, skills, figures (the router's `AgentStatus`).
    #[schema(value_type = Object)]
    pub agent: AgentStatus,
    pub screen: Option<ScreenPop>,
    /// Calls waiting for an agent, all queues.
    pub waiting: usize,
    /// The outcomes the disposition form offers.
    pub outcomes: Vec<Disposition>,
}

/// `text` with every run of [`NUMBER_DIGITS`] or more ASCII digits masked.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= NUMBER_DIGITS {
            out.push_str(&Pii(run).to_string());
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn phase_of(state: &AgentState) -> Phase {
    match state {
        AgentState::Offered => Phase::Offered,
        AgentState::OnCall => Phase::Talking,
        _ => Phase::Ended,
    }
}

/// Fields the pop shows elsewhere, or that are the service's own.
const SHOWN_APART: &[&str] = &["callee", "campaign", "lead_score", "name"];

fn pop_of(req: &TransferRequest, phase: Phase, lead: Option<LeadExplanation>) -> ScreenPop {
    let mut req = req.clone();
    mask_request(&mut req);
    ScreenPop {
        call: req.call,
        phase,
        campaign: req.campaign,
        queue: req.queue,
        skills: req.skills,
        intent: req.intent.as_str().to_owned(),
        node: req.node,
        callee: req.callee,
        name: req.name,
        fields: req
            .fields
            .into_iter()
            .filter(|(k, _)| !SHOWN_APART.contains(&k.as_str()))
            .collect(),
        lead_score: req.lead_score,
        lead,
        callback_at: req.callback_at,
        amount: req.amount,
        conversation: req.conversation,
        language: req.language,
        suggestion: req.suggestion.map(|s| *s),
    }
}

impl Cache {
    fn scorer(&self, dir: &std::path::Path) -> Result<Arc<LeadScorer>, String> {
        let stamp = std::fs::metadata(dir.join("model.json"))
            .and_then(|m| m.modified())
            .ok();
        if let Some(l) = lock(&self.scorers).get(dir).filter(|l| l.modified == stamp) {
            return Ok(l.scorer.clone());
        }
        let scorer = Arc::new(LeadScorer::load(dir).map_err(|e| e.to_string())?);
        lock(&self.scorers).insert(
            dir.to_owned(),
            Loaded {
                modified: stamp,
                scorer: scorer.clone(),
            },
        );
        Ok(scorer)
    }

    /// Why the campaign's lead model scores the contact as it does, or none when the
    /// campaign has no model (or the contact is gone). Blocking: store reads, a model load.
    fn explain(
        &self,
        store: &dyn Store,
        campaign: &str,
        contact_id: u64,
    ) -> Result<Option<LeadExplanation>, String> {
        let record = store.campaign(campaign).map_err(|e| e.to_string())?;
        let settings = CampaignSettings::of(&record).map_err(|e| e.to_string())?;
        let Some(dir) = settings.call.lead_model else {
            return Ok(None);
        };
        let scorer = self.scorer(&dir)?;
        let contact = store.contact(contact_id).map_err(|e| e.to_string())?;
        let attempts = store.attempts_of(contact_id).map_err(|e| e.to_string())?;
        let score = scorer.score(&contact, Some(&contact_hours(&contact, &attempts)));
        Ok(Some(LeadExplanation {
            probability: score.probability,
            segment: score.segment_description,
            reasons: score
                .top_reasons
                .into_iter()
                .map(|r| LeadReason {
                    feature: r.feature,
                    value: mask_numbers(&r.value),
                    contribution: r.contribution,
                })
                .collect(),
        }))
    }
}

/// The lead explanation of the call on a screen: computed once per call.
async fn explanation(ctx: &Ctx, req: &TransferRequest) -> Option<LeadExplanation> {
    if let Some(known) = lock(&ctx.desktop.explanations).get(&req.call) {
        return known.clone();
    }
    let contact_id = req.contact_id?;
    let (cache, store, campaign) = (ctx.desktop.clone(), ctx.store.clone(), req.campaign.clone());
    let found = blocking(move || {
        Ok(cache
            .explain(store.as_ref(), &campaign, contact_id)
            .unwrap_or_else(|e| {
                // The pop is still worth showing without the reasons.
                warn!(campaign = %campaign, error = %e, "cannot explain the lead score");
                None
            }))
    })
    .await
    .ok()
    .flatten();
    let mut known = lock(&ctx.desktop.explanations);
    if known.len() >= EXPLANATIONS_CAP {
        known.clear();
    }
    known.insert(req.call.clone(), found.clone());
    found
}

/// An agent's state and screen pop.
///
/// The call offered to or taken by the agent: the conversation so far, the contact's
/// fields (numbers masked), the lead score's reasons, the suggested answer.
#[utoipa::path(get, path = "/api/v1/agents/{id}/screen", tag = "agents",
    params(("id" = String, Path, description = "The agent (its user name)")),
    responses(
        (status = 200, description = "The agent's screen", body = AgentScreen),
        (status = 404, description = "No such agent, or no agents configured", body = ErrorBody),
    ))]
async fn screen(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult<AgentScreen> {
    let what = format!("agent {id} screen");
    let who = ctx.allow_agent(&headers, Need::Read, &id, &what)?;
    let r = async {
        let view = ctx.desk()?.view();
        let agent = view
            .agents
            .iter()
            .find(|a| a.id.as_str() == id)
            .cloned()
            .ok_or_else(|| {
                WebError::NotFound(format!(
                    "no agent `{id}` in the agents file ([serve] agents)"
                ))
            })?;
        let screen = match view.screens.get(&id) {
            Some(req) => Some(pop_of(
                req,
                phase_of(&agent.state),
                explanation(&ctx, req).await,
            )),
            None => None,
        };
        Ok(AgentScreen {
            agent,
            screen,
            waiting: view.waiting,
            outcomes: AGENT_OUTCOMES.to_vec(),
        })
    }
    .await;
    Ok(Json(ctx.done(&who, &what, r)?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FeedQuery {
    /// The call on the agent's screen, whose events the feed then carries.
    call: Option<String>,
}

/// The agent's feed: its own state changes, and the events of `call` (masked).
fn agent_event(ev: ServiceEvent, agent: &str, call: Option<&str>) -> Option<ServiceEvent> {
    match ev {
        ServiceEvent::Agent(a) if a.agent == agent => Some(ServiceEvent::Agent(a)),
        ServiceEvent::Call(CallEvent::Turn {
            uuid,
            campaign,
            speaker,
            text,
            node,
            intent,
            confidence,
            sentiment,
            asr_ms,
        }) if call == Some(uuid.as_str()) => Some(ServiceEvent::Call(CallEvent::Turn {
            uuid,
            campaign,
            speaker,
            text: mask_numbers(&text),
            node,
            intent,
            confidence,
            sentiment,
            asr_ms,
        })),
        ServiceEvent::Call(c) if call == Some(c.uuid()) => Some(ServiceEvent::Call(c)),
        _ => None,
    }
}

/// An agent's feed (Server-Sent Events).
///
/// Its own state changes and, with `?call=` naming the call on its screen, that call's
/// events (the live transcript, numbers masked).
#[utoipa::path(get, path = "/api/v1/agents/{id}/events", tag = "agents",
    params(("id" = String, Path, description = "The agent (its user name)"), FeedQuery),
    responses(
        (status = 200, description = "The event stream", body = String,
            content_type = "text/event-stream"),
        (status = 404, description = "Not the call on the agent's screen, or no agents configured", body = ErrorBody),
    ))]
async fn events(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<FeedQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let what = match &q.call {
        Some(c) => format!("agent {id} events of call {c}"),
        None => format!("agent {id} events"),
    };
    let who = ctx.allow_agent(&headers, Need::Read, &id, &what)?;
    let checked = (|| {
        let desk = ctx.desk()?;
        if let Some(call) = &q.call {
            // Only the call on the agent's own screen: the feed is no window on others.
            if desk.view().screens.get(&id).is_none_or(|s| s.call != *call) {
                return Err(WebError::NotFound(format!(
                    "call `{call}` is not on the screen of agent `{id}`"
                )));
            }
        }
        ctx.service()
    })();
    let service = ctx.done(&who, &what, checked)?;
    let rx = service.bus().subscribe();
    let weak = Arc::downgrade(&service);
    drop(service);
    let stopping = move || weak.upgrade().is_none_or(|s| s.is_stopping());
    let call = q.call;
    let items = feed_of(
        rx,
        move |ev| agent_event(ev, &id, call.as_deref()),
        stopping,
    );
    let stream = futures_util::StreamExt::map(items, |i| Ok(sse_event(i)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Body of `POST /api/v1/agents/{id}/{login|ready|break|logout}`.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentOp {
    /// The break's reason code (`lunch`, `training`, ...).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The answer to an agent request.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentReply {
    pub agent: String,
    pub done: String,
}

fn break_reason(reason: Option<String>) -> Result<String, WebError> {
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "break".into());
    if reason.chars().count() > REASON_MAX || reason.chars().any(char::is_control) {
        return Err(WebError::BadRequest(format!(
            "a break reason is 1 to {REASON_MAX} printable characters (`lunch`, `training`)"
        )));
    }
    Ok(reason)
}

/// Log an agent in, make it ready, put it on a break, log it out.
#[utoipa::path(post, path = "/api/v1/agents/{id}/{op}", tag = "agents",
    params(
        ("id" = String, Path, description = "The agent (its user name)"),
        ("op" = String, Path, description = "`login`, `ready`, `break` or `logout`"),
    ),
    request_body(content = Option<AgentOp>, description = "For `break`: its reason"),
    responses(
        (status = 200, description = "Done", body = AgentReply),
        (status = 400, description = "A bad break reason", body = ErrorBody),
        (status = 404, description = "Unknown request or agent, or no agents configured", body = ErrorBody),
        (status = 409, description = "The agent's state does not allow it", body = ErrorBody),
    ))]
async fn agent_op(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((id, op)): Path<(String, String)>,
    body: Option<Json<AgentOp>>,
) -> WebResult<AgentReply> {
    let what = format!("agent {id} {op}");
    let who = ctx.allow_agent(&headers, Need::Control, &id, &what)?;
    let r = async {
        let agent = AgentId::new(&id);
        let input = match op.as_str() {
            "login" => routing::Input::Login { agent },
            "ready" => routing::Input::Ready { agent },
            "logout" => routing::Input::Logout { agent },
            "break" => routing::Input::Break {
                agent,
                reason: break_reason(body.and_then(|Json(b)| b.reason))?,
            },
            other => {
                return Err(WebError::NotFound(format!(
                    "unknown agent request `{other}`: use login, ready, break, logout or \
                     disposition"
                )))
            }
        };
        Ok(ctx.desk()?.input(input).await?)
    }
    .await;
    ctx.done(&who, &what, r)?;
    Ok(Json(AgentReply {
        agent: id,
        done: op,
    }))
}

/// Body of `POST /api/v1/agents/{id}/disposition`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentDispositionBody {
    /// The call (the callee's channel UUID, as the screen pop shows it).
    pub call: String,
    /// How the call ended, as the agent judges it: one of [`AGENT_OUTCOMES`].
    #[serde(default)]
    pub outcome: Option<String>,
    /// A sale (what the router learns the agent's conversion rate from): with `interested`
    /// or no outcome; the dialer files the call's attempt as `converted`.
    #[serde(default)]
    pub converted: bool,
    #[serde(default)]
    pub notes: String,
    /// A callback agreed with the callee (unix seconds); required with `callback`, and then
    /// within the campaign's calling window in the callee's time zone, not in the past.
    #[serde(default)]
    pub callback_at: Option<i64>,
    /// Handle time the desktop measured (s).
    #[serde(default)]
    pub handle_s: Option<f32>,
    /// A quality score in 0..=1.
    #[serde(default)]
    pub quality: Option<f32>,
}

/// What a disposition did.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DispositionReply {
    pub agent: String,
    pub call: String,
    /// The call's record now carries it (false: no stored record of the call was found).
    pub recorded: bool,
    /// The number went on the DNC list.
    pub dnc: bool,
    /// The contact's state once the dialer took the outcome (`pending`, `done`, `blocked`,
    /// `exhausted`, `invalid`); none while the call is still up, or when nothing changed.
    #[serde(default)]
    pub contact_state: Option<String>,
    /// When a pending contact is called again (unix seconds).
    #[serde(default)]
    pub next_attempt_at: Option<i64>,
    /// What the dialer does with the contact now, in words (`called back from 2025-03-04
    /// 10:00 (Asia/Shanghai)`, `no more calls`, ...).
    #[serde(default)]
    pub next: Option<String>,
}

/// The body's outcome, checked.
fn agent_outcome(body: &AgentDispositionBody) -> Result<Option<Disposition>, WebError> {
    let names = || {
        AGENT_OUTCOMES
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if body.call.trim().is_empty() {
        return Err(WebError::BadRequest(
            "`call` is missing: the call's id, as the screen pop shows it".into(),
        ));
    }
    if body.notes.chars().count() > NOTES_MAX {
        return Err(WebError::BadRequest(format!(
            "notes are at most {NOTES_MAX} characters"
        )));
    }
    let outcome = match body.outcome.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Some(
            Disposition::from_name(name)
                .filter(|d| AGENT_OUTCOMES.contains(d))
                .ok_or_else(|| {
                    WebError::BadRequest(format!("unknown outcome `{name}`: use {}", names()))
                })?,
        ),
    };
    if let Some(d) = outcome.filter(|d| body.converted && *d != Disposition::Interested) {
        return Err(WebError::BadRequest(format!(
            "a sale (`converted`) is final and cannot also be `{d}`: file `interested` with \
             `converted`, or `{d}` without it"
        )));
    }
    if outcome == Some(Disposition::Callback) && body.callback_at.is_none() {
        return Err(WebError::BadRequest(
            "a callback needs its time (`callback_at`, unix seconds)".into(),
        ));
    }
    if body.callback_at.is_some_and(|t| t <= 0) {
        return Err(WebError::BadRequest(
            "`callback_at` is a unix time in seconds".into(),
        ));
    }
    Ok(outcome)
}

/// What the dialer makes of a disposition: a sale is `converted` whatever the outcome says
/// (only `interested` may go with it); no outcome and no sale change nothing.
fn for_dialer(outcome: Option<Disposition>, converted: bool) -> Option<Disposition> {
    match converted {
        true => Some(Disposition::Converted),
        false => outcome,
    }
}

/// A call's record, searched in `campaign` first, then in every campaign. Blocking.
fn find_record(
    store: &dyn Store,
    campaign: Option<&str>,
    call: &str,
) -> Result<Option<CallRecord>, StoreError> {
    if let Some(r) = campaign
        .map(|c| CallRecord::load(store, c, call))
        .transpose()?
        .flatten()
    {
        return Ok(Some(r));
    }
    for c in store.campaigns()? {
        if let Some(r) = CallRecord::load(store, &c.name, call)? {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// `t` as the callee's clock shows it, with the zone's name.
fn local_time(t: i64, tz: chrono_tz::Tz) -> String {
    match chrono::DateTime::from_timestamp(t, 0) {
        Some(d) => format!("{} ({tz})", d.with_timezone(&tz).format("%Y-%m-%d %H:%M")),
        None => t.to_string(),
    }
}

/// A calling window in words: `Mon Tue Wed 09:00–12:00, 14:00–20:00`.
fn window_words(w: &CallingWindow) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let days: Vec<&str> = w
        .days
        .iter()
        .filter_map(|&d| DAYS.get(usize::from(d).checked_sub(1)?).copied())
        .collect();
    let hours: Vec<String> = w
        .ranges
        .iter()
        .map(|r| format!("{}–{}", r.start, r.end))
        .collect();
    format!("{} {}", days.join(" "), hours.join(", "))
}

/// Checks that the dialer can keep a callback at `at` for the contact of `call` (the
/// contact from the screen, else from the call's record): not in the past, inside the
/// campaign's calling window in the callee's time zone. The refusal says what to do, so the
/// agent can pick another time and file again (nothing was filed yet). Returns the callee's
/// zone, to say the time in; none when no stored call names a contact (no callback can be
/// scheduled then, and the reply says so). Blocking.
fn check_callback(
    store: &dyn Store,
    screen: Option<(String, Option<u64>)>,
    call: &str,
    at: i64,
    now: i64,
) -> Result<Option<chrono_tz::Tz>, WebError> {
    let (campaign, contact) = match screen {
        Some((campaign, Some(contact))) => (campaign, contact),
        other => match find_record(store, other.as_ref().map(|s| s.0.as_str()), call)? {
            Some(CallRecord {
                campaign,
                contact_id: Some(contact),
                ..
            }) => (campaign, contact),
            _ => return Ok(None),
        },
    };
    let settings = CampaignSettings::of(&store.campaign(&campaign)?)
        .map_err(|e| WebError::Internal(format!("campaign `{campaign}`: {e}")))?;
    let rules = Rules::new(&settings.window, &settings.caps, settings.max_attempts)
        .map_err(|e| WebError::Internal(format!("calling window of `{campaign}`: {e}")))?;
    let contact = store.contact(contact)?;
    let zones = zones_of(&contact.region, &contact.pii.phone);
    let Err(refusal) = rules.check_callback(at, zones, now) else {
        return Ok(zones.first().copied());
    };
    let tz = zones
        .first()
        .copied()
        .or_else(|| settings.call.time_zone().ok())
        .unwrap_or(chrono_tz::UTC);
    let when = local_time(at, tz);
    Err(WebError::BadRequest(match refusal {
        CallbackRefusal::Past => {
            format!("the callback time {when} is in the past: pick a later time")
        }
        CallbackRefusal::OutsideWindow {
            opens_at: Some(open),
        } => format!(
            "the callback time {when} is outside campaign `{campaign}`'s calling window ({}): \
             the callee cannot be called then; pick a time inside it — the next opening is {}",
            window_words(&settings.window),
            local_time(open, tz)
        ),
        CallbackRefusal::OutsideWindow { opens_at: None } => format!(
            "campaign `{campaign}`'s calling window never opens for this callee: no callback \
             can be scheduled; file another outcome"
        ),
        CallbackRefusal::NoTimeZone => "the callee's time zone is not known, so no callback \
             time can be checked against the calling window: file another outcome"
            .to_owned(),
    }))
}

/// What the dialer does with the contact now, in words; `tz` says a callback's time.
fn next_words(r: &Refiled, dnc: bool, tz: Option<chrono_tz::Tz>) -> String {
    let Refiled::Now { state, next_at, .. } = *r else {
        return "taken when the call ends".to_owned();
    };
    match state {
        ContactState::Pending => format!(
            "called back from {} (the calling window, caps and DNC list apply then)",
            local_time(next_at, tz.unwrap_or(chrono_tz::UTC))
        ),
        ContactState::Exhausted => {
            "not called back: the contact has used all its attempts".to_owned()
        }
        ContactState::Blocked if dnc => "no more calls: the number is on the DNC list".to_owned(),
        ContactState::Invalid => "no more calls: a wrong number".to_owned(),
        _ => "no more calls to this contact".to_owned(),
    }
}

/// What [`file_outcome`] found and did.
struct Recorded {
    campaign: String,
    contact: Option<u64>,
    dnc: bool,
}

/// Writes what the agent filed into the call's record (searched in `campaign` first, then
/// in every campaign) and, for `dnc`, the number onto the DNC list; none when no record of
/// the call is stored. Blocking.
fn file_outcome(
    store: &dyn Store,
    campaign: Option<&str>,
    call: &str,
    outcome: AgentOutcome,
) -> Result<Option<Recorded>, WebError> {
    let Some(record) = find_record(store, campaign, call)? else {
        return Ok(None);
    };
    let mut dnc = false;
    if outcome.outcome == Some(Disposition::Dnc) {
        if let Some(id) = record.contact_id {
            let contact = store.contact(id)?;
            store.list_add(
                &contact.phone_key,
                &ListEntry {
                    kind: ListKind::Dnc,
                    added_at: unix_ms() / 1000,
                    source: format!("agent {}: call {call}", outcome.agent),
                },
            )?;
            dnc = true;
        }
    }
    // Under the record's lock: the bridged call's transcript may be landing in it too.
    CallRecord::update(store, &record.campaign, &record.uuid, |r| {
        r.agent_outcome = Some(outcome);
    })?;
    Ok(Some(Recorded {
        campaign: record.campaign,
        contact: record.contact_id,
        dnc,
    }))
}

/// File the outcome of a call an agent had.
///
/// Into the call's record (outcome, conversion, notes, callback time); the router learns
/// the agent's conversion and handle time from it; `dnc` puts the number on the DNC list.
/// The dialer acts on it: the call's attempt takes the outcome (`converted` for a sale) and
/// the contact is scheduled — a `callback` is dialled again from `callback_at` (while the
/// contact has attempts left), a sale, `interested`, `not_interested`, `dnc` or
/// `wrong_number` ends it; the answer says what it did. A callback time in the past (by more
/// than five minutes) or outside the campaign's calling window in the callee's time zone is
/// refused (400) with the window and its next opening, before anything is filed: the agent
/// picks another time and files again. It is not moved silently: the callee agreed to that
/// time. Caps and lists are checked when the callback is dialled.
#[utoipa::path(post, path = "/api/v1/agents/{id}/disposition", tag = "agents",
    params(("id" = String, Path, description = "The agent (its user name)")),
    request_body = AgentDispositionBody,
    responses(
        (status = 200, description = "Filed", body = DispositionReply),
        (status = 400, description = "A bad outcome or notes, or a callback time in the past or outside the calling window", body = ErrorBody),
        (status = 404, description = "The agent never had the call, or no agents configured", body = ErrorBody),
        (status = 409, description = "Already filed", body = ErrorBody),
    ))]
async fn disposition(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<AgentDispositionBody>, axum::extract::rejection::JsonRejection>,
) -> WebResult<DispositionReply> {
    let what = match &body {
        Ok(Json(b)) => format!("agent {id} disposition {}", b.call),
        Err(_) => format!("agent {id} disposition"),
    };
    let who = ctx.allow_agent(&headers, Need::Dispose, &id, &what)?;
    let Json(body) = ctx.done(
        &who,
        &what,
        body.map_err(|e| WebError::BadRequest(format!("request body: {}", e.body_text()))),
    )?;
    let r = async {
        let outcome = agent_outcome(&body)?;
        let dialer = for_dialer(outcome, body.converted);
        let callback_at = body
            .callback_at
            .filter(|_| dialer == Some(Disposition::Callback));
        let desk = ctx.desk()?;
        // The call's campaign and contact, while its screen is still up (filing takes it
        // down).
        let screen = desk
            .view()
            .screens
            .get(&id)
            .filter(|s| s.call == body.call)
            .map(|s| (s.campaign.clone(), s.contact_id));
        let campaign = screen.as_ref().map(|s| s.0.clone());
        // A callback the dialer cannot keep is refused while the agent can still correct it.
        let mut callee_tz = None;
        if let Some(at) = callback_at {
            let (store, call) = (ctx.store.clone(), body.call.clone());
            let now = unix_ms() / 1000;
            callee_tz =
                blocking(move || check_callback(store.as_ref(), screen, &call, at, now)).await?;
        }
        // The desk checks the agent had the call; nothing is written before it agrees.
        desk.input(routing::Input::Disposition(routing::Disposition {
            agent: AgentId::new(&id),
            call: routing::CallId::new(&body.call),
            converted: body.converted,
            handle_s: body.handle_s,
            quality: body.quality,
        }))
        .await?;
        let filed = AgentOutcome {
            agent: id.clone(),
            outcome,
            converted: body.converted,
            notes: body.notes.trim().to_owned(),
            callback_at: body.callback_at,
            at: unix_ms() / 1000,
        };
        let store = ctx.store.clone();
        let call = body.call.clone();
        let recorded =
            blocking(move || file_outcome(store.as_ref(), campaign.as_deref(), &call, filed))
                .await?;
        let mut reply = DispositionReply {
            agent: id.clone(),
            call: body.call.clone(),
            recorded: recorded.is_some(),
            dnc: recorded.as_ref().is_some_and(|r| r.dnc),
            contact_state: None,
            next_attempt_at: None,
            next: None,
        };
        let Some(recorded) = recorded else {
            warn!(agent = %id, call = %body.call, "no stored record of the call for the agent's disposition");
            reply.next = dialer.map(|_| "no stored record of the call: the dialer was not told".into());
            return Ok(reply);
        };
        let (Some(disposition), Some(_)) = (dialer, recorded.contact) else {
            return Ok(reply);
        };
        let filed = AgentFiled {
            uuid: body.call.clone(),
            agent: id.clone(),
            disposition,
            callback_at,
        };
        // The disposition is filed whatever the dialer says: a refusal here (a later attempt
        // already made) is reported, not an error the agent could fix by filing again.
        match ctx.service()?.refile(&recorded.campaign, filed).await {
            Ok(r) => {
                if let Refiled::Now { state, next_at, .. } = r {
                    reply.contact_state = Some(format!("{state:?}").to_lowercase());
                    reply.next_attempt_at = (state == ContactState::Pending).then_some(next_at);
                }
                reply.next = Some(next_words(&r, recorded.dnc, callee_tz));
            }
            Err(e) => {
                warn!(agent = %id, call = %body.call, error = %e, "the dialer did not take the agent's outcome");
                reply.next = Some(format!("the dialer did not take it: {e}"));
            }
        }
        Ok(reply)
    }
    .await;
    Ok(Json(ctx.done(&who, &what, r)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(user: &str, role: Role) -> Principal {
        Principal {
            user: user.into(),
            role,
        }
    }

    #[test]
    fn an_agent_acts_for_itself_and_supervisors_for_anyone() {
        let me = principal("1001", Role::Agent);
        for need in [Need::Read, Need::Control, Need::Dispose] {
            assert!(may(&me, need, "1001").is_ok());
            let other = may(&me, need, "1002").expect_err("another agent");
            assert!(other.contains("only for itself"), "{other}");
            assert!(may(&principal("boss", Role::Supervisor), need, "1002").is_ok());
            assert!(may(&principal("root", Role::Admin), need, "1002").is_ok());
            assert!(may(&principal("crm", Role::Integration), need, "1001").is_err());
        }
        // A viewer sees the desk's figures, not what a call on a screen said.
        let viewer = principal("wall", Role::Viewer);
        assert!(may(&viewer, Need::Read, "1001").is_err());
        assert!(may(&viewer, Need::Control, "1001").is_err());
    }

    #[test]
    fn long_digit_runs_are_masked_and_short_ones_kept() {
        assert_eq!(mask_numbers("13800138000"), "*******8000");
        assert_eq!(
            mask_numbers("我的电话是13800138000，35岁"),
            "我的电话是*******8000，35岁"
        );
        assert_eq!(mask_numbers("*******8000"), "*******8000", "masked stays");
        assert_eq!(mask_numbers("+86*******8000"), "+86*******8000");
        assert_eq!(mask_numbers("保单 A123456"), "保单 A123456");
        assert_eq!(mask_numbers(""), "");
    }

    fn body(outcome: Option<&str>, callback_at: Option<i64>) -> AgentDispositionBody {
        AgentDispositionBody {
            call: "c1".into(),
            outcome: outcome.map(Into::into),
            converted: false,
            notes: String::new(),
            callback_at,
            handle_s: None,
            quality: None,
        }
    }

    #[test]
    fn a_disposition_is_checked_before_the_desk_sees_it() {
        assert_eq!(agent_outcome(&body(None, None)).ok(), Some(None));
        assert_eq!(
            agent_outcome(&body(Some("dnc"), None)).ok(),
            Some(Some(Disposition::Dnc))
        );
        let unknown = agent_outcome(&body(Some("sold"), None)).expect_err("unknown");
        assert!(unknown.to_string().contains("use interested"), "{unknown}");
        assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
        // Outcomes of the network are not the agent's to file.
        assert!(agent_outcome(&body(Some("busy"), None)).is_err());
        let no_time = agent_outcome(&body(Some("callback"), None)).expect_err("no time");
        assert!(no_time.to_string().contains("callback_at"), "{no_time}");
        assert!(agent_outcome(&body(Some("callback"), Some(1_900_000_000))).is_ok());
        let mut empty = body(None, None);
        empty.call = " ".into();
        assert!(agent_outcome(&empty).is_err());
        let mut long = body(None, None);
        long.notes = "字".repeat(NOTES_MAX + 1);
        assert!(agent_outcome(&long).is_err());
        // A sale goes with `interested` or nothing, and is `converted` to the dialer.
        let mut sale = body(Some("interested"), None);
        sale.converted = true;
        let filed = agent_outcome(&sale).expect("a sale");
        assert_eq!(for_dialer(filed, true), Some(Disposition::Converted));
        sale.outcome = None;
        assert_eq!(
            for_dialer(agent_outcome(&sale).expect("a sale"), true),
            Some(Disposition::Converted)
        );
        for other in ["not_interested", "dnc", "callback", "wrong_number"] {
            let mut both = body(Some(other), Some(1_900_000_000));
            both.converted = true;
            let err = agent_outcome(&both).expect_err("a sale is final");
            assert!(err.to_string().contains("cannot also be"), "{err}");
        }
        assert_eq!(
            for_dialer(Some(Disposition::Callback), false),
            Some(Disposition::Callback)
        );
        assert_eq!(for_dialer(None, false), None, "notes alone change nothing");
    }

    // 2026-11-23 is a Monday; 00:00 UTC is 08:00 in Beijing.
    const MONDAY: i64 = 1_795_392_000;

    /// The store of one campaign (the default window: Monday to Saturday, 09:00–12:00 and
    /// 14:00–20:00) and one contact in Beijing.
    fn campaign_with_contact() -> (tempfile::TempDir, Arc<dyn Store>, u64) {
        use crate::store::{Contact, ContactPii, LineType, PiiCipher, SledStore};
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(
            SledStore::open_with(dir.path(), PiiCipher::new([7; 32])).expect("store opens"),
        );
        store
            .create_campaign(&CampaignSettings::default().record("c", 0))
            .expect("campaign");
        let phone = "+8613800138000";
        store
            .put_contact(&Contact {
                id: 1,
                campaign: "c".into(),
                phone_key: store.phone_key(phone),
                pii: ContactPii {
                    phone: phone.into(),
                    ..ContactPii::default()
                },
                line_type: LineType::Mobile,
                region: "CN".into(),
                utc_offset_min: 480,
                seq: 0,
                score: None,
                best_hour: None,
                state: ContactState::Done,
                attempts: 1,
                next_at: 0,
                note: String::new(),
            })
            .expect("contact");
        (dir, store, 1)
    }

    /// A callback time the dialer can keep passes, with the callee's zone; one in the past or
    /// outside the window is refused with what to do, in the callee's local time.
    #[test]
    fn a_callback_time_is_checked_against_the_callees_window() {
        let (_dir, store, id) = campaign_with_contact();
        let screen = || Some(("c".to_owned(), Some(id)));
        let ten = MONDAY + 2 * 3600;
        assert_eq!(
            check_callback(store.as_ref(), screen(), "u1", ten, MONDAY).expect("kept"),
            Some(chrono_tz::Asia::Shanghai)
        );
        let past = check_callback(store.as_ref(), screen(), "u1", MONDAY - 3600, MONDAY)
            .expect_err("in the past");
        assert_eq!(past.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            past.to_string(),
            "the callback time 2026-11-23 07:00 (Asia/Shanghai) is in the past: pick a later time"
        );
        let late = check_callback(store.as_ref(), screen(), "u1", MONDAY + 14 * 3600, MONDAY)
            .expect_err("22:00 in Beijing");
        assert_eq!(late.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            late.to_string(),
            "the callback time 2026-11-23 22:00 (Asia/Shanghai) is outside campaign `c`'s \
             calling window (Mon Tue Wed Thu Fri Sat 09:00–12:00, 14:00–20:00): the callee \
             cannot be called then; pick a time inside it — the next opening is 2026-11-24 \
             09:00 (Asia/Shanghai)"
        );
        // No screen and no stored call: nothing to check against, and nothing scheduled.
        assert_eq!(
            check_callback(store.as_ref(), None, "no-such-call", ten, MONDAY).expect("unknown"),
            None
        );
    }

    #[test]
    fn the_reply_says_what_the_dialer_does_next() {
        let now = |state| Refiled::Now {
            contact: 1,
            state,
            next_at: MONDAY + 2 * 3600,
        };
        assert_eq!(
            next_words(
                &now(ContactState::Pending),
                false,
                Some(chrono_tz::Asia::Shanghai)
            ),
            "called back from 2026-11-23 10:00 (Asia/Shanghai) (the calling window, caps and \
             DNC list apply then)"
        );
        assert!(next_words(&now(ContactState::Exhausted), false, None).contains("all its"));
        assert!(next_words(&now(ContactState::Blocked), true, None).contains("DNC"));
        assert_eq!(
            next_words(&now(ContactState::Done), false, None),
            "no more calls to this contact"
        );
        assert!(next_words(&Refiled::AtCallEnd, false, None).contains("when the call ends"));
    }

    #[test]
    fn the_desks_refusals_say_whose_fault_it_is() {
        let never = RoutingError::NeverHad {
            agent: AgentId::new("1001"),
            call: routing::CallId::new("x"),
        };
        assert_eq!(desk_status(&never), StatusCode::NOT_FOUND);
        assert_eq!(
            WebError::from(never).to_string(),
            "agent `1001` never had call `x`"
        );
        let twice = RoutingError::AlreadyDisposed {
            agent: AgentId::new("1001"),
            call: routing::CallId::new("x"),
        };
        assert_eq!(desk_status(&twice), StatusCode::CONFLICT);
        assert!(break_reason(Some("午餐".into())).is_ok());
        assert_eq!(break_reason(None).ok().as_deref(), Some("break"));
        assert!(break_reason(Some("x".repeat(REASON_MAX + 1))).is_err());
        assert!(break_reason(Some("a\nb".into())).is_err());
    }

    #[test]
    fn the_feed_carries_the_agents_own_changes_and_its_calls_lines_masked() {
        use crate::app::events::AgentChange;
        use crate::call::record::Speaker;
        let change = |agent: &str| {
            ServiceEvent::Agent(AgentChange {
                agent: agent.into(),
                state: "offered".into(),
                reason: None,
            })
        };
        let turn = |uuid: &str, text: &str| {
            ServiceEvent::Call(CallEvent::Turn {
                uuid: uuid.into(),
                campaign: "c".into(),
                speaker: Speaker::Callee,
                text: text.into(),
                node: "intro".into(),
                intent: Some("affirm".into()),
                confidence: None,
                sentiment: None,
                asr_ms: None,
            })
        };
        assert_eq!(
            agent_event(change("1001"), "1001", None),
            Some(change("1001"))
        );
        assert_eq!(agent_event(change("1002"), "1001", None), None);
        assert_eq!(agent_event(turn("u1", "好"), "1001", None), None);
        assert_eq!(agent_event(turn("u2", "好"), "1001", Some("u1")), None);
        assert_eq!(
            agent_event(turn("u1", "打13800138000"), "1001", Some("u1")),
            Some(turn("u1", "打*******8000"))
        );
    }
}
