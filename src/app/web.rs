//! The live web dashboard: a wallboard served by the service itself, its pages embedded in
//! the binary (`web/`) with the chart library vendored from npm at set-up (`uPlot`, copied
//! from `.setup/web` by `build.rs`; without it the page works and says charts need
//! `scripts/setup`).
//!
//! Routes (merged into [`super::http::router`]):
//!
//! | route | who (role by [`Action`]) | what |
//! | --- | --- | --- |
//! | `GET /`, `GET /dashboard`, `/assets/*` | anyone | the pages (they hold no data) |
//! | `POST /api/v1/login`, `POST /api/v1/logout` | a user with a password | the session cookie |
//! | `GET /api/v1/me` | any user | who is logged in, what the role may see |
//! | `GET /api/v1/events[?campaign=]` | `Watch` | the bus's events as Server-Sent Events |
//! | `GET /api/v1/live/campaigns` | `ReadCampaigns` | every campaign's state and totals |
//! | `GET /api/v1/live/calls[?campaign=]` | `Watch` | the calls up |
//! | `GET /api/v1/live/calls/{id}` | `ReadCalls` | one call up, its lines so far |
//! | `GET /api/v1/live/agents` | `Watch` | agents by state, queues |
//! | `GET /api/v1/campaigns/{name}/report[?by=day\|hour]` | `ReadCampaigns` | funnel, hours, intents, latency, per day or hour |
//! | `GET /api/v1/campaigns/{name}/calls` | `ReadCalls` | the stored calls, newest first |
//! | `GET /api/v1/campaigns/{name}/calls/{uuid}` | `ReadCalls` | transcript, intents, barge-ins |
//! | `GET /api/v1/campaigns/{name}/labels` | `ReadCalls` | final outcomes as lead-model labels ([`labels`]) |
//!
//! The agent desktop (`GET /agent`) and its routes under `/api/v1/agents` are in [`desktop`].
//! One log-in serves both pages: an agent lands on the desktop, everyone else on the
//! dashboard.
//!
//! Every data route accepts the session cookie (`aicall_session`, HttpOnly, SameSite=Strict)
//! or the API key (`Authorization: Bearer`), checks the role with the one policy table
//! ([`Action::allowed`]) and writes an audit line, allowed or not. A role that may watch but
//! not read calls (viewer) gets the events and calls up without their words.
//!
//! The event feed never slows the service: each watcher reads its own broadcast receiver, and
//! one that falls behind by the bus's whole queue is cut off with a last `lagged` event (the
//! browser reconnects and reloads what it shows). Feeds end when the service stops, so a
//! dashboard left open does not hold up a shutdown.

pub mod desktop;
pub mod labels;
pub mod report;
pub mod session;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Semaphore};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::control::{Access, Action, Principal, Role};
use super::events::{LiveCallView, ServiceEvent};
use super::http::ErrorBody;
use super::{Service, ServiceError};
use crate::call::events::CallEvent;
use crate::call::record::CallRecord;
use crate::store::{AttemptState, Store, StoreError};
use report::{AttemptFact, Period, Report};
use session::{Sessions, Throttle};

pub use session::{hash_password, PasswordError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "aicall_session";
/// A session ends after this long without a request (a wallboard polls far more often)...
const SESSION_IDLE_MS: i64 = 2 * 3600 * 1000;
/// ...and this long after its log-in whatever happens.
const SESSION_MAX_MS: i64 = 24 * 3600 * 1000;
const SESSIONS_CAP: usize = 10_000;
/// Failed log-ins per user name within the window before it must wait.
const LOGIN_FAILURES: usize = 5;
const LOGIN_WINDOW_MS: i64 = 5 * 60 * 1000;
/// Password checks at once: each costs tens of ms and 19 MiB, so a flood of log-ins queues
/// here instead of taking every core from the calls.
const VERIFY_AT_ONCE: usize = 2;
/// Stored calls listed at most.
const CALLS_LIMIT_MAX: usize = 1000;
/// A report this recent is served again rather than computed.
const REPORT_FRESH_MS: i64 = 3000;
/// How often a feed checks that the service is still running.
const FEED_TICK: Duration = Duration::from_secs(1);

// The pages, embedded. The chart library is copied into OUT_DIR by build.rs from the npm
// package scripts/setup.d/40-web.sh fetches; empty when the set-up has not run.
const LOGIN_HTML: &str = include_str!("../../web/index.html");
const DASHBOARD_HTML: &str = include_str!("../../web/dashboard.html");
const STYLE_CSS: &str = include_str!("../../web/style.css");
const LOGIN_JS: &str = include_str!("../../web/login.js");
const DASHBOARD_JS: &str = include_str!("../../web/dashboard.js");
const COMMON_JS: &str = include_str!("../../web/common.js");
const AGENT_HTML: &str = include_str!("../../web/agent.html");
const AGENT_JS: &str = include_str!("../../web/agent.js");
const UPLOT_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/web/uPlot.iife.min.js"));
const UPLOT_CSS: &str = include_str!(concat!(env!("OUT_DIR"), "/web/uPlot.min.css"));

/// Errors of the dashboard's routes: each says whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not logged in: {0}")]
    Unauthenticated(String),
    #[error("`{user}` ({role}) may not {what}")]
    Denied {
        user: String,
        role: Role,
        what: String,
    },
    #[error("wrong user name or password")]
    BadLogin,
    #[error("too many failed log-ins for `{user}`: try again in {wait_s} s")]
    Throttled { user: String, wait_s: i64 },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The agent desk refused the request (an unknown agent, a call it never had, ...).
    #[error(transparent)]
    Desk(#[from] crate::routing::RoutingError),
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Unauthenticated(_) | WebError::BadLogin => StatusCode::UNAUTHORIZED,
            WebError::Denied { .. } => StatusCode::FORBIDDEN,
            WebError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::NotFound(_) | WebError::Service(ServiceError::NoCampaign(_)) => {
                StatusCode::NOT_FOUND
            }
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Desk(e) => desktop::desk_status(e),
            WebError::Service(ServiceError::ShuttingDown) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Service(ServiceError::BadRequest(_)) => StatusCode::BAD_REQUEST,
            WebError::Service(_) | WebError::Store(_) | WebError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut resp = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        if let WebError::Throttled { wait_s, .. } = &self {
            if let Ok(v) = HeaderValue::from_str(&wait_s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

type WebResult<T> = Result<Json<T>, WebError>;

/// The dashboard's data routes, each with the permission it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Me,
    Events,
    LiveCampaigns,
    LiveCalls,
    LiveCall,
    Agents,
    Report,
    Calls,
    Call,
    Labels,
}

impl Endpoint {
    pub const ALL: &'static [Endpoint] = &[
        Endpoint::Me,
        Endpoint::Events,
        Endpoint::LiveCampaigns,
        Endpoint::LiveCalls,
        Endpoint::LiveCall,
        Endpoint::Agents,
        Endpoint::Report,
        Endpoint::Calls,
        Endpoint::Call,
        Endpoint::Labels,
    ];

    /// What the caller's role must allow; none: any user who is logged in.
    pub fn action(self) -> Option<Action> {
        match self {
            Endpoint::Me => None,
            Endpoint::Events | Endpoint::LiveCalls | Endpoint::Agents => Some(Action::Watch),
            Endpoint::LiveCampaigns | Endpoint::Report => Some(Action::ReadCampaigns),
            // Labels carry the contacts' fields in clear: personal data, like the calls.
            Endpoint::LiveCall | Endpoint::Calls | Endpoint::Call | Endpoint::Labels => {
                Some(Action::ReadCalls)
            }
        }
    }
}

/// A caller the guard let through, and how it identified itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    /// `http` (API key) or `web` (session cookie): the audit's surface.
    pub surface: &'static str,
}

impl Caller {
    /// Whether the caller may see what calls say (transcripts, lines of the calls up).
    pub fn reads_calls(&self) -> bool {
        Action::ReadCalls.allowed(self.principal.role)
    }
}

/// Identifies callers by session cookie or API key, checks their role, audits.
#[derive(Clone, Debug)]
pub struct Guard {
    access: Access,
    store: Arc<dyn Store>,
    sessions: Arc<Mutex<Sessions>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Poisoned only after a panic elsewhere; the tables stay usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
}

/// The session token from the request's cookies.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

impl Guard {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            access: Access::new(store.clone()),
            store,
            sessions: Arc::new(Mutex::new(Sessions::new(
                SESSION_IDLE_MS,
                SESSION_MAX_MS,
                SESSIONS_CAP,
            ))),
        }
    }

    /// Lets the request through when its caller may use `endpoint`; `what` describes it for
    /// the audit line, written whatever the answer.
    pub fn allow(
        &self,
        headers: &HeaderMap,
        endpoint: Endpoint,
        what: &str,
        now_ms: i64,
    ) -> Result<Caller, WebError> {
        self.allow_when(headers, what, now_ms, |p| {
            match endpoint.action().is_some_and(|a| !a.allowed(p.role)) {
                true => Err(what.to_owned()),
                false => Ok(()),
            }
        })
    }

    /// Lets the request through when `may` accepts its caller; a refusal names what the
    /// caller may not do. Audited like [`Guard::allow`].
    pub fn allow_when(
        &self,
        headers: &HeaderMap,
        what: &str,
        now_ms: i64,
        may: impl FnOnce(&Principal) -> Result<(), String>,
    ) -> Result<Caller, WebError> {
        let caller = match self.identify(headers, now_ms) {
            Ok(c) => c,
            Err((surface, reason)) => {
                self.access.refused(surface, "-", what, &reason);
                return Err(WebError::Unauthenticated(reason));
            }
        };
        let p = &caller.principal;
        if let Err(denied) = may(p) {
            self.access.done(caller.surface, p, what, "denied");
            return Err(WebError::Denied {
                user: p.user.clone(),
                role: p.role,
                what: denied,
            });
        }
        self.access.done(caller.surface, p, what, "allowed");
        Ok(caller)
    }

    fn identify(&self, headers: &HeaderMap, now_ms: i64) -> Result<Caller, (&'static str, String)> {
        if let Some(key) = bearer(headers) {
            return self
                .access
                .identify(Some(key))
                .map(|principal| Caller {
                    principal,
                    surface: "http",
                })
                .map_err(|e| ("http", e.to_string()));
        }
        let Some(token) = session_token(headers) else {
            return Err((
                "web",
                "log in, or send `Authorization: Bearer <key>`".to_owned(),
            ));
        };
        let user = lock(&self.sessions)
            .check(token, now_ms)
            .ok_or(("web", "the session has ended: log in again".to_owned()))?;
        // The role is read at every request, so a user removed or demoted loses access at
        // once rather than when the session expires.
        let record = self
            .store
            .users()
            .map_err(|e| ("web", e.to_string()))?
            .into_iter()
            .find(|u| u.name == user)
            .ok_or(("web", format!("user `{user}` no longer exists")))?;
        let role = Role::from_name(&record.role)
            .ok_or(("web", format!("user `{user}` has an unknown role")))?;
        Ok(Caller {
            principal: Principal { user, role },
            surface: "web",
        })
    }

    /// Opens a session for a user whose password was checked; returns its token.
    pub fn open_session(&self, user: &str, now_ms: i64) -> String {
        lock(&self.sessions).open(user, now_ms)
    }
}

#[derive(Clone)]
pub(super) struct Ctx {
    service: Weak<Service>,
    store: Arc<dyn Store>,
    guard: Guard,
    throttle: Arc<Mutex<Throttle>>,
    verify: Arc<Semaphore>,
    /// Reports computed in the last [`REPORT_FRESH_MS`], by campaign: every open wallboard
    /// asks every 10 s, and a report reads every contact's attempts.
    reports: Arc<Mutex<std::collections::HashMap<String, (i64, Report)>>>,
    /// The desktop's lead explanations and loaded lead models.
    desktop: Arc<desktop::Cache>,
}

impl Ctx {
    /// The service, unless it is gone (the router outlived it: only during shutdown).
    fn service(&self) -> Result<Arc<Service>, WebError> {
        self.service
            .upgrade()
            .ok_or(WebError::Service(ServiceError::ShuttingDown))
    }

    fn allow(
        &self,
        headers: &HeaderMap,
        endpoint: Endpoint,
        what: &str,
    ) -> Result<Caller, WebError> {
        self.guard.allow(headers, endpoint, what, unix_ms())
    }

    /// Audits a request that failed after it was allowed, and passes the result on.
    fn done<T>(&self, who: &Caller, what: &str, r: Result<T, WebError>) -> Result<T, WebError> {
        if let Err(e) = &r {
            self.guard
                .access
                .done(who.surface, &who.principal, what, &format!("error: {e}"));
        }
        r
    }
}

/// The dashboard's routes over a running service. The router holds the service weakly, so
/// it never keeps a stopped service alive.
pub fn router(service: Arc<Service>) -> Router {
    let store = service.store().clone();
    let ctx = Ctx {
        service: Arc::downgrade(&service),
        guard: Guard::new(store.clone()),
        store,
        throttle: Arc::new(Mutex::new(Throttle::new(LOGIN_FAILURES, LOGIN_WINDOW_MS))),
        verify: Arc::new(Semaphore::new(VERIFY_AT_ONCE)),
        reports: Arc::default(),
        desktop: Arc::default(),
    };
    let (routes, _) = routes().split_for_parts();
    routes.with_state(ctx)
}

/// The dashboard's and the desktop's routes, each registered from its documented handler.
pub(super) fn routes() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(login_page))
        .routes(routes!(dashboard_page))
        .merge(desktop::routes())
        .routes(routes!(asset))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(events))
        .routes(routes!(live_campaigns))
        .routes(routes!(live_calls))
        .routes(routes!(live_call))
        .routes(routes!(agents))
        .routes(routes!(campaign_report))
        .routes(routes!(calls))
        .routes(routes!(call))
        .merge(labels::routes())
}

// ---- pages ----

/// A static file with the headers every page gets: no framing by other sites, no content
/// sniffing, scripts and styles from this origin only (nothing from a CDN).
fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; connect-src 'self'; \
                 img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// The log-in page.
#[utoipa::path(get, path = "/", tag = "pages",
    responses((status = 200, description = "The page (it holds no data)", body = String,
        content_type = "text/html")))]
async fn login_page() -> Response {
    page("text/html; charset=utf-8", LOGIN_HTML)
}

/// The dashboard page.
#[utoipa::path(get, path = "/dashboard", tag = "pages",
    responses((status = 200, description = "The page (it holds no data)", body = String,
        content_type = "text/html")))]
async fn dashboard_page() -> Response {
    page("text/html; charset=utf-8", DASHBOARD_HTML)
}

/// A script or style of the pages.
#[utoipa::path(get, path = "/assets/{file}", tag = "pages",
    params(("file" = String, Path, description = "`style.css`, `login.js`, `common.js`, `dashboard.js`, `agent.js`, `uplot.js`, `uplot.css`")),
    responses(
        (status = 200, description = "The file", body = String, content_type = "text/javascript"),
        (status = 404, description = "No such asset", body = ErrorBody),
    ))]
async fn asset(Path(file): Path<String>) -> Response {
    let (kind, body) = match file.as_str() {
        "style.css" => ("text/css; charset=utf-8", STYLE_CSS),
        "login.js" => ("text/javascript; charset=utf-8", LOGIN_JS),
        "common.js" => ("text/javascript; charset=utf-8", COMMON_JS),
        "dashboard.js" => ("text/javascript; charset=utf-8", DASHBOARD_JS),
        "agent.js" => ("text/javascript; charset=utf-8", AGENT_JS),
        "uplot.js" => ("text/javascript; charset=utf-8", UPLOT_JS),
        "uplot.css" => ("text/css; charset=utf-8", UPLOT_CSS),
        _ => ("", ""),
    };
    if body.is_empty() {
        // Unknown, or the chart library the set-up has not fetched: the page says so.
        return WebError::NotFound(format!("no asset `{file}` (charts need scripts/setup)"))
            .into_response();
    }
    page(kind, body)
}

// ---- log-in ----

/// Body of `POST /api/v1/login`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// Who is logged in (`GET /api/v1/me`, and the answer to a log-in).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub user: String,
    pub role: Role,
    /// May watch the live feed and calls up.
    pub watch: bool,
    /// May read campaign figures and reports.
    pub read_campaigns: bool,
    /// May read what calls say (transcripts).
    pub read_calls: bool,
    /// The page to open after logging in: the agent desktop for an agent, else the dashboard.
    #[serde(default)]
    pub home: String,
}

impl Me {
    fn of(p: &Principal) -> Me {
        Me {
            user: p.user.clone(),
            role: p.role,
            watch: Action::Watch.allowed(p.role),
            read_campaigns: Action::ReadCampaigns.allowed(p.role),
            read_calls: Action::ReadCalls.allowed(p.role),
            home: match p.role {
                Role::Agent => "/agent",
                _ => "/dashboard",
            }
            .to_owned(),
        }
    }
}

fn session_cookie(token: &str, max_age_s: i64) -> Result<HeaderValue, WebError> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}"
    ))
    .map_err(|e| WebError::Internal(format!("session cookie: {e}")))
}

/// Log in to the dashboard or the agent desktop.
///
/// Sets the session cookie (HttpOnly, SameSite=Strict). Failed log-ins are throttled per user
/// name.
#[utoipa::path(post, path = "/api/v1/login", tag = "session",
    request_body = Login,
    responses(
        (status = 200, description = "Logged in; the `aicall_session` cookie is set", body = Me),
        (status = 400, description = "A bad body or user name", body = ErrorBody),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 429, description = "Too many failed log-ins: `Retry-After` says when", body = ErrorBody),
    ))]
async fn login(
    State(ctx): State<Ctx>,
    body: Result<Json<Login>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, WebError> {
    let Json(body) = body.map_err(|e| WebError::BadRequest(e.body_text()))?;
    let user = body.user.trim().to_owned();
    let what = "login";
    if user.is_empty() || user.len() > 64 {
        return Err(WebError::BadRequest(
            "a user name is 1 to 64 characters".into(),
        ));
    }
    let access = &ctx.guard.access;
    let now = unix_ms();
    if let Err(wait_ms) = lock(&ctx.throttle).may_try(&user, now) {
        access.refused("web", &user, what, "too many failed log-ins");
        return Err(WebError::Throttled {
            user,
            wait_s: (wait_ms + 999) / 1000,
        });
    }
    let record = ctx.store.users()?.into_iter().find(|u| u.name == user);
    let hash = record.as_ref().and_then(|u| u.password_hash.clone());
    let ok = {
        let _permit = ctx
            .verify
            .acquire()
            .await
            .map_err(|e| WebError::Internal(e.to_string()))?;
        let has_hash = hash.is_some();
        let password = body.password;
        // An unknown user or one without a password costs the same check as a wrong
        // password, so the answer's timing says nothing about who exists.
        let hash = hash.unwrap_or_else(|| session::decoy_hash().to_owned());
        tokio::task::spawn_blocking(move || session::verify_password(&hash, &password))
            .await
            .map_err(|e| WebError::Internal(format!("password check: {e}")))?
            && has_hash
    };
    let role = record.as_ref().and_then(|r| Role::from_name(&r.role));
    let (true, Some(role)) = (ok, role) else {
        lock(&ctx.throttle).failed(&user, unix_ms());
        access.refused("web", &user, what, "wrong user name or password");
        return Err(WebError::BadLogin);
    };
    lock(&ctx.throttle).succeeded(&user);
    let principal = Principal { user, role };
    let token = ctx.guard.open_session(&principal.user, unix_ms());
    access.done("web", &principal, what, "ok");
    let mut resp = Json(Me::of(&principal)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, SESSION_MAX_MS / 1000)?,
    );
    Ok(resp)
}

/// Log out.
///
/// Ends the session, if any, and clears the cookie.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session",
    responses((status = 200, description = "Logged out", body = Object)))]
async fn logout(State(ctx): State<Ctx>, headers: HeaderMap) -> Result<Response, WebError> {
    // Logging out needs no valid session (an expired one is simply cleared), but one that
    // was live is audited as its user's.
    let who = ctx.guard.identify(&headers, unix_ms()).ok();
    if let Some(token) = session_token(&headers) {
        lock(&ctx.guard.sessions).close(token);
    }
    if let Some(who) = who.filter(|c| c.surface == "web") {
        ctx.guard.access.done("web", &who.principal, "logout", "ok");
    }
    let mut resp = Json(serde_json::json!({ "ok": true })).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0)?);
    Ok(resp)
}

/// Who is calling.
///
/// The user, the role and what it may see.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses((status = 200, description = "The caller", body = Me)))]
async fn me(State(ctx): State<Ctx>, headers: HeaderMap) -> WebResult<Me> {
    let who = ctx.allow(&headers, Endpoint::Me, "me")?;
    Ok(Json(Me::of(&who.principal)))
}

// ---- the live feed ----

/// What a feed sends.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedItem {
    /// First: the feed is open.
    Ready,
    Event(ServiceEvent),
    /// Last: the watcher fell behind by `missed` events and is cut off.
    Lagged(u64),
    /// Last: the service is stopping.
    Bye,
}

/// Whether a feed filtered to `campaign` carries `ev` (events of no campaign always).
pub fn concerns(ev: &ServiceEvent, campaign: Option<&str>) -> bool {
    let Some(want) = campaign else {
        return true;
    };
    match ev {
        ServiceEvent::Call(c) => c.campaign() == want,
        ServiceEvent::Campaign(f) => f.campaign == want,
        ServiceEvent::Alert(a) => a.campaign.as_deref().is_none_or(|c| c == want),
        ServiceEvent::Agent(_) => true,
    }
}

/// The event as a watcher who may not read calls sees it: without the words said.
pub fn without_words(ev: ServiceEvent) -> ServiceEvent {
    match ev {
        ServiceEvent::Call(CallEvent::Turn {
            uuid,
            campaign,
            speaker,
            node,
            intent,
            confidence,
            sentiment,
            asr_ms,
            ..
        }) => ServiceEvent::Call(CallEvent::Turn {
            uuid,
            campaign,
            speaker,
            text: String::new(),
            node,
            intent,
            confidence,
            sentiment,
            asr_ms,
        }),
        other => other,
    }
}

struct Feed<K, F> {
    rx: broadcast::Receiver<ServiceEvent>,
    keep: K,
    stopping: F,
    tick: tokio::time::Interval,
    started: bool,
    ended: bool,
}

/// The dashboard's feed ([`feed_of`]): the events that concern `campaign`, without their
/// words unless `words`.
pub fn feed(
    rx: broadcast::Receiver<ServiceEvent>,
    campaign: Option<String>,
    words: bool,
    stopping: impl Fn() -> bool + Send + 'static,
) -> impl Stream<Item = FeedItem> + Send {
    let keep = move |ev: ServiceEvent| {
        concerns(&ev, campaign.as_deref()).then(|| if words { ev } else { without_words(ev) })
    };
    feed_of(rx, keep, stopping)
}

/// A watcher's feed of the bus: `Ready`, what `keep` makes of each event (none: skipped),
/// and a last `Lagged` or `Bye` — or nothing more once the bus is gone. `stopping` is asked
/// every second.
pub fn feed_of(
    rx: broadcast::Receiver<ServiceEvent>,
    keep: impl Fn(ServiceEvent) -> Option<ServiceEvent> + Send + 'static,
    stopping: impl Fn() -> bool + Send + 'static,
) -> impl Stream<Item = FeedItem> + Send {
    let mut tick = tokio::time::interval(FEED_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = Feed {
        rx,
        keep,
        stopping,
        tick,
        started: false,
        ended: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.ended {
            return None;
        }
        if !st.started {
            st.started = true;
            return Some((FeedItem::Ready, st));
        }
        loop {
            tokio::select! {
                r = st.rx.recv() => match r {
                    Ok(ev) => {
                        if let Some(ev) = (st.keep)(ev) {
                            return Some((FeedItem::Event(ev), st));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        st.ended = true;
                        return Some((FeedItem::Lagged(n), st));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = st.tick.tick() => {
                    if (st.stopping)() {
                        st.ended = true;
                        return Some((FeedItem::Bye, st));
                    }
                }
            }
        }
    })
}

fn sse_event(item: FeedItem) -> Event {
    match item {
        // The browser reconnects 2 s after a feed ends (cut off, or the service restarting).
        FeedItem::Ready => Event::default()
            .event("ready")
            .retry(Duration::from_secs(2))
            .data("{}"),
        FeedItem::Event(ev) => match serde_json::to_string(&ev) {
            Ok(json) => Event::default().data(json),
            // Plain data always serialises; say so rather than drop silently.
            Err(e) => Event::default().event("error").data(e.to_string()),
        },
        FeedItem::Lagged(n) => Event::default().event("lagged").data(
            serde_json::json!({
                "missed": n,
                "message": format!("this watcher fell {n} events behind and was cut off: reload"),
            })
            .to_string(),
        ),
        FeedItem::Bye => Event::default()
            .event("bye")
            .data(r#"{"message":"the service is stopping"}"#),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CampaignFilter {
    /// Only this campaign's (service-wide alerts always).
    campaign: Option<String>,
}

/// The live event feed (Server-Sent Events).
///
/// Call events (turns with intent and sentiment, barge-ins, ends), campaign figures every
/// second, alerts and agent changes, as `data:` lines of JSON. A role that may not read
/// calls gets the turns without their words. A watcher that falls behind is cut off with a
/// `lagged` event; the feed ends with `bye` when the service stops.
#[utoipa::path(get, path = "/api/v1/events", tag = "live",
    params(CampaignFilter),
    responses((status = 200, description = "The event stream", body = String,
        content_type = "text/event-stream")))]
async fn events(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Query(q): Query<CampaignFilter>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let what = match &q.campaign {
        Some(c) => format!("events of {c}"),
        None => "events".to_owned(),
    };
    let who = ctx.allow(&headers, Endpoint::Events, &what)?;
    let service = ctx.service()?;
    let rx = service.bus().subscribe();
    let weak = Arc::downgrade(&service);
    drop(service);
    let stopping = move || weak.upgrade().is_none_or(|s| s.is_stopping());
    let items = feed(rx, q.campaign, who.reads_calls(), stopping);
    let stream = futures_util::StreamExt::map(items, |i| Ok(sse_event(i)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

// ---- live state ----

/// A campaign on the wallboard.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignSummary {
    pub name: String,
    pub state: crate::store::CampaignState,
    pub running: bool,
    pub status: super::StatusView,
    /// The predictive pacing's abandon-rate cap, when it has one.
    pub abandon_cap: Option<f64>,
    pub tz: String,
}

/// Every campaign's state and totals, for the wallboard.
#[utoipa::path(get, path = "/api/v1/live/campaigns", tag = "live",
    responses((status = 200, description = "The campaigns", body = Vec<CampaignSummary>)))]
async fn live_campaigns(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
) -> WebResult<Vec<CampaignSummary>> {
    let who = ctx.allow(&headers, Endpoint::LiveCampaigns, "campaigns")?;
    let r: Result<Vec<CampaignSummary>, WebError> = async {
        let views = ctx.service()?.campaigns().await?;
        Ok(views
            .into_iter()
            .map(|v| CampaignSummary {
                abandon_cap: v.settings.pacing.predictive.as_ref().map(|p| p.abandon_cap),
                tz: v.settings.call.tz.clone(),
                name: v.name,
                state: v.state,
                running: v.running,
                status: v.status,
            })
            .collect())
    }
    .await;
    Ok(Json(ctx.done(&who, "campaigns", r)?))
}

fn shown(mut c: LiveCallView, words: bool) -> LiveCallView {
    if !words {
        c.lines.clear();
    }
    c
}

/// The calls up.
///
/// Without their lines unless the role may read calls.
#[utoipa::path(get, path = "/api/v1/live/calls", tag = "live",
    params(CampaignFilter),
    responses((status = 200, description = "The calls up, oldest first", body = Vec<LiveCallView>)))]
async fn live_calls(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Query(q): Query<CampaignFilter>,
) -> WebResult<Vec<LiveCallView>> {
    let who = ctx.allow(&headers, Endpoint::LiveCalls, "calls up")?;
    let service = ctx.done(&who, "calls up", ctx.service())?;
    let mut calls = service.bus().calls(q.campaign.as_deref());
    calls.sort_by(|a, b| {
        a.started_ms
            .cmp(&b.started_ms)
            .then_with(|| a.uuid.cmp(&b.uuid))
    });
    let words = who.reads_calls();
    Ok(Json(calls.into_iter().map(|c| shown(c, words)).collect()))
}

/// One call up (or just ended), with its lines so far.
#[utoipa::path(get, path = "/api/v1/live/calls/{id}", tag = "live",
    params(("id" = String, Path, description = "The call's UUID or its first characters")),
    responses(
        (status = 200, description = "The call", body = LiveCallView),
        (status = 404, description = "No call up or just ended matches", body = ErrorBody),
    ))]
async fn live_call(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult<LiveCallView> {
    let what = format!("call up {id}");
    let who = ctx.allow(&headers, Endpoint::LiveCall, &what)?;
    let r = ctx.service().and_then(|s| {
        s.bus()
            .call(&id)
            .ok_or_else(|| WebError::NotFound(format!("no call up or just ended matches `{id}`")))
    });
    Ok(Json(ctx.done(&who, &what, r)?))
}

/// An agent on the wallboard.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentRow {
    pub name: String,
    /// `available`, `on_call`, `wrap_up`, `away`, ...
    pub state: String,
    /// Unix ms the agent entered the state.
    pub since_ms: i64,
}

/// A queue of human agents on the wallboard.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueRow {
    pub name: String,
    pub waiting: u32,
    pub longest_wait_s: u64,
    /// Share of calls answered within the queue's target, when it has answered any.
    pub service_level: Option<f64>,
    pub target_s: u64,
}

/// `GET /api/v1/live/agents`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentsView {
    /// Whether the service routes to agents at all.
    pub configured: bool,
    pub agents: Vec<AgentRow>,
    /// Agents per state.
    pub by_state: BTreeMap<String, u64>,
    pub queues: Vec<QueueRow>,
}

/// Agents by state, and the queues, for the wallboard.
#[utoipa::path(get, path = "/api/v1/live/agents", tag = "live",
    responses((status = 200, description = "Agents and queues", body = AgentsView)))]
async fn agents(State(ctx): State<Ctx>, headers: HeaderMap) -> WebResult<AgentsView> {
    ctx.allow(&headers, Endpoint::Agents, "agents")?;
    // Without `[serve] agents` transfers go to the switch's queues, whose agents aicall does
    // not see.
    let service = ctx.service()?;
    let Some(desk) = service.desk() else {
        return Ok(Json(AgentsView {
            configured: false,
            agents: Vec::new(),
            by_state: BTreeMap::new(),
            queues: Vec::new(),
        }));
    };
    let view = desk.view();
    let mut by_state = BTreeMap::new();
    let agents = view
        .agents
        .iter()
        .map(|a| {
            let state = match &a.state {
                crate::routing::AgentState::Break { .. } => "break".to_owned(),
                other => format!("{other:?}").to_lowercase(),
            };
            *by_state.entry(state.clone()).or_insert(0) += 1;
            AgentRow {
                name: a.name.clone(),
                state,
                since_ms: 0,
            }
        })
        .collect();
    let queues = view
        .queues
        .iter()
        .map(|q| QueueRow {
            name: q.name.clone(),
            waiting: q.waiting as u32,
            longest_wait_s: q.longest_wait_s,
            service_level: q.service_level,
            target_s: u64::from(q.target_s),
        })
        .collect();
    Ok(Json(AgentsView {
        configured: true,
        agents,
        by_state,
        queues,
    }))
}

// ---- stored calls and reports ----

fn check_campaign(store: &dyn Store, name: &str) -> Result<(), WebError> {
    match store.campaign(name) {
        Ok(_) => Ok(()),
        Err(StoreError::NoCampaign(n)) => Err(WebError::Service(ServiceError::NoCampaign(n))),
        Err(e) => Err(e.into()),
    }
}

/// The masked number of a record's contact.
fn callee_of(store: &dyn Store, contact_id: Option<u64>) -> Option<String> {
    let c = store.contact(contact_id?).ok()?;
    Some(crate::pii::Pii(&c.pii.phone).to_string())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WebError> + Send + 'static,
) -> Result<T, WebError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WebError::Internal(format!("store task: {e}")))?
}

/// Facts of a campaign's attempts, for the report. One pass over its contacts.
fn attempt_facts(store: &dyn Store, campaign: &str) -> Result<Vec<AttemptFact>, StoreError> {
    let mut out = Vec::new();
    for c in store.contacts(campaign)? {
        for a in store.attempts_of(c.id)? {
            let answered = a.state == AttemptState::Answered
                || store.cdr(&a.uuid)?.is_some_and(|cdr| cdr.answered);
            out.push(AttemptFact {
                started_at: a.started_at,
                answered,
                disposition: a.disposition,
            });
        }
    }
    Ok(out)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// `day` or `hour`: the figures per day or per hour as well (the callees' local time).
    by: Option<String>,
}

/// A campaign's report.
///
/// From the stored attempts and call records: the funnel (dialled, answered,
/// conversations, interested, transferred, converted), answer rate by hour of the day,
/// abandon rate against the cap, handle time, turn and recognition latency (p50, p95),
/// intents, dispositions, barge-ins and sentiment; with `?by=day` or `?by=hour`, the same
/// figures per period.
#[utoipa::path(get, path = "/api/v1/campaigns/{name}/report", tag = "reports",
    params(("name" = String, Path, description = "The campaign"), ReportQuery),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "A bad `by`", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
async fn campaign_report(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> WebResult<Report> {
    let what = format!("report {name}");
    let who = ctx.allow(&headers, Endpoint::Report, &what)?;
    let by = ctx.done(
        &who,
        &what,
        query
            .map_err(|e| WebError::BadRequest(format!("query: {}", e.body_text())))
            .and_then(|Query(q)| match q.by.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(b) => Period::from_name(b)
                    .map(Some)
                    .ok_or_else(|| WebError::BadRequest(format!("by: `{b}`; use day or hour"))),
            }),
    )?;
    let key = match by {
        Some(p) => format!("{name}\n{p:?}"),
        None => name.clone(),
    };
    let cached = lock(&ctx.reports)
        .get(&key)
        .filter(|(at, _)| unix_ms() - at < REPORT_FRESH_MS)
        .map(|(_, r)| r.clone());
    if let Some(r) = cached {
        return Ok(Json(r));
    }
    let r: Result<Report, WebError> = async {
        let view = ctx.service()?.campaign(&name).await?;
        let tz = view
            .settings
            .call
            .time_zone()
            .map_err(|e| WebError::Internal(e.to_string()))?;
        let cap = view
            .settings
            .pacing
            .predictive
            .as_ref()
            .map(|p| p.abandon_cap);
        let store = ctx.store.clone();
        blocking(move || {
            let attempts = attempt_facts(store.as_ref(), &name)?;
            let records = CallRecord::all(store.as_ref(), &name)?;
            let mut report = Report::of(&name, &attempts, &records, tz, cap);
            if let Some(p) = by {
                report.by = Some(p);
                report.periods = Report::by_period(&attempts, &records, tz, p);
            }
            Ok(report)
        })
        .await
    }
    .await;
    let report = ctx.done(&who, &what, r)?;
    let mut cache = lock(&ctx.reports);
    // Campaigns are few; the cache is dropped whole rather than aged entry by entry.
    if cache.len() > 256 {
        cache.clear();
    }
    cache.insert(key, (unix_ms(), report.clone()));
    Ok(Json(report))
}

/// A stored call in the list.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallSummary {
    pub uuid: String,
    pub contact_id: Option<u64>,
    /// Masked.
    pub callee: Option<String>,
    /// When it was answered; for a call decided on early media (`answered` false), when
    /// the early media began.
    pub answered_at: i64,
    /// False: decided on early media (a carrier announcement), never answered.
    pub answered: bool,
    pub ended_at: i64,
    pub duration_s: i64,
    pub disposition: Option<String>,
    pub transferred_to: Option<String>,
    pub turns: usize,
    /// The callee's intents, in the order they came.
    pub intents: Vec<String>,
    pub barge_ins: usize,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CallsQuery {
    /// Calls to list, 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// A campaign's stored calls, newest first.
///
/// Each with its outcome, duration, intents and barge-ins; the callee's number masked.
#[utoipa::path(get, path = "/api/v1/campaigns/{name}/calls", tag = "calls",
    params(("name" = String, Path, description = "The campaign"), CallsQuery),
    responses(
        (status = 200, description = "The calls", body = Vec<CallSummary>),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
async fn calls(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<CallsQuery>,
) -> WebResult<Vec<CallSummary>> {
    let what = format!("calls of {name}");
    let who = ctx.allow(&headers, Endpoint::Calls, &what)?;
    let limit = q.limit.unwrap_or(100).clamp(1, CALLS_LIMIT_MAX);
    let store = ctx.store.clone();
    let r = blocking(move || {
        check_campaign(store.as_ref(), &name)?;
        let mut records = CallRecord::all(store.as_ref(), &name)?;
        records.sort_by_key(|r| std::cmp::Reverse(r.answered_at));
        records.truncate(limit);
        Ok(records
            .into_iter()
            .map(|r| CallSummary {
                callee: callee_of(store.as_ref(), r.contact_id),
                duration_s: (r.ended_at - r.answered_at).max(0) / 1000,
                disposition: r.disposition.map(|d| d.as_str().to_owned()),
                turns: r.turns.len(),
                intents: r.turns.iter().filter_map(|t| t.intent.clone()).collect(),
                barge_ins: r.barge_ins.len(),
                uuid: r.uuid,
                contact_id: r.contact_id,
                answered_at: r.answered_at,
                answered: r.answered,
                ended_at: r.ended_at,
                transferred_to: r.transferred_to,
            })
            .collect())
    })
    .await;
    Ok(Json(ctx.done(&who, &what, r)?))
}

/// `GET /api/v1/campaigns/{name}/calls/{uuid}`: the record and the masked callee.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallDetail {
    pub callee: Option<String>,
    pub record: CallRecord,
}

/// One stored call: transcript, decisions, intents, barge-ins.
///
/// The call's record: every line with its timing, intent and sentiment, the path through
/// the script and every decision, the latency figures, an agent's outcome; the callee's
/// number masked.
#[utoipa::path(get, path = "/api/v1/campaigns/{name}/calls/{uuid}", tag = "calls",
    params(
        ("name" = String, Path, description = "The campaign"),
        ("uuid" = String, Path, description = "The call's channel UUID"),
    ),
    responses(
        (status = 200, description = "The call", body = CallDetail),
        (status = 404, description = "No such campaign or call", body = ErrorBody),
    ))]
async fn call(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((name, uuid)): Path<(String, String)>,
) -> WebResult<CallDetail> {
    let what = format!("call {uuid} of {name}");
    let who = ctx.allow(&headers, Endpoint::Call, &what)?;
    let store = ctx.store.clone();
    let r = blocking(move || {
        check_campaign(store.as_ref(), &name)?;
        let record = CallRecord::load(store.as_ref(), &name, &uuid)?
            .ok_or_else(|| WebError::NotFound(format!("no stored call {uuid} in {name}")))?;
        Ok(CallDetail {
            callee: callee_of(store.as_ref(), record.contact_id),
            record,
        })
    })
    .await;
    Ok(Json(ctx.done(&who, &what, r)?))
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::events::{Alert, AlertKind, Bus, CampaignFigures};
    use crate::call::record::Speaker;
    use crate::store::{PiiCipher, SledStore, UserRecord};
    use futures_util::StreamExt;

    fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let s: Arc<dyn Store> =
            Arc::new(SledStore::open_with(dir.path(), PiiCipher::new([2; 32])).expect("store"));
        (dir, s)
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn the_session_token_is_found_among_other_cookies() {
        let h = headers(&[(header::COOKIE, "a=1; aicall_session=tok123 ; b=2")]);
        assert_eq!(session_token(&h), Some("tok123"));
        let h = headers(&[
            (header::COOKIE, "x=1"),
            (header::COOKIE, "aicall_session=t2"),
        ]);
        assert_eq!(session_token(&h), Some("t2"));
        assert_eq!(
            session_token(&headers(&[(header::COOKIE, "aicall_session=")])),
            None
        );
        assert_eq!(session_token(&HeaderMap::new()), None);
    }

    /// Every endpoint, asked with no credentials, a wrong key, a stale session, and as each
    /// role by key and by session: allowed exactly when the policy says, audited each time.
    #[test]
    fn every_endpoint_checks_the_role_by_key_and_by_session() {
        let (_dir, store) = store();
        let guard = Guard::new(store.clone());
        let access = Access::new(store.clone());
        let now = 1_000_000;
        let mut asked = 0;
        for &e in Endpoint::ALL {
            let what = format!("{e:?}");
            let none = guard.allow(&HeaderMap::new(), e, &what, now);
            assert!(matches!(none, Err(WebError::Unauthenticated(_))), "{e:?}");
            let wrong = headers(&[(header::AUTHORIZATION, "Bearer aicall_wrong")]);
            assert!(matches!(
                guard.allow(&wrong, e, &what, now),
                Err(WebError::Unauthenticated(_))
            ));
            let stale = headers(&[(header::COOKIE, "aicall_session=0123abcd")]);
            assert!(matches!(
                guard.allow(&stale, e, &what, now),
                Err(WebError::Unauthenticated(_))
            ));
            asked += 3;
        }
        for &role in Role::ALL {
            let name = format!("u-{role}");
            let key = access.add_user(&name, role).expect("user");
            let token = guard.open_session(&name, now);
            let by_key = headers(&[(header::AUTHORIZATION, &format!("Bearer {key}"))]);
            let by_cookie = headers(&[(header::COOKIE, &format!("{SESSION_COOKIE}={token}"))]);
            for &e in Endpoint::ALL {
                let expected = e.action().is_none_or(|a| a.allowed(role));
                for (h, surface) in [(&by_key, "http"), (&by_cookie, "web")] {
                    let r = guard.allow(h, e, "x", now);
                    asked += 1;
                    match r {
                        Ok(c) => {
                            assert!(expected, "{role} {e:?} by {surface} was let through");
                            assert_eq!(c.principal.role, role);
                            assert_eq!(c.surface, surface);
                        }
                        Err(WebError::Denied { role: r, .. }) => {
                            assert!(!expected, "{role} {e:?} by {surface} was refused");
                            assert_eq!(r, role);
                        }
                        Err(other) => panic!("{role} {e:?} by {surface}: {other}"),
                    }
                }
            }
        }
        // Viewers watch, do not read transcripts; agents see nothing here.
        assert!(Endpoint::Events
            .action()
            .is_some_and(|a| a.allowed(Role::Viewer)));
        assert!(!Endpoint::Call
            .action()
            .is_some_and(|a| a.allowed(Role::Viewer)));
        assert!(!Endpoint::LiveCalls
            .action()
            .is_some_and(|a| a.allowed(Role::Agent)));
        let trail = store.control_audit(0).expect("audit");
        assert_eq!(trail.len(), asked, "every request is audited");
        assert!(trail
            .iter()
            .any(|a| a.surface == "web" && a.result == "denied"));
        assert!(trail
            .iter()
            .any(|a| a.surface == "web" && a.result.starts_with("unauthenticated")));
    }

    #[test]
    fn a_removed_or_demoted_user_loses_its_session_at_once() {
        let (_dir, store) = store();
        let guard = Guard::new(store.clone());
        let access = Access::new(store.clone());
        access.add_user("sup", Role::Supervisor).expect("user");
        let token = guard.open_session("sup", 0);
        let h = headers(&[(header::COOKIE, &format!("{SESSION_COOKIE}={token}"))]);
        assert!(guard.allow(&h, Endpoint::Call, "x", 1).is_ok());
        let mut u: UserRecord = store
            .users()
            .expect("users")
            .into_iter()
            .find(|u| u.name == "sup")
            .expect("sup");
        u.role = "viewer".into();
        store.put_user(&u).expect("demote");
        assert!(matches!(
            guard.allow(&h, Endpoint::Call, "x", 2),
            Err(WebError::Denied { .. })
        ));
        store.remove_user("sup").expect("remove");
        assert!(matches!(
            guard.allow(&h, Endpoint::Me, "x", 3),
            Err(WebError::Unauthenticated(_))
        ));
        // An expired session is refused like a stale one.
        access.add_user("late", Role::Viewer).expect("user");
        let t = guard.open_session("late", 0);
        let h = headers(&[(header::COOKIE, &format!("{SESSION_COOKIE}={t}"))]);
        assert!(matches!(
            guard.allow(&h, Endpoint::Me, "x", SESSION_IDLE_MS + 1),
            Err(WebError::Unauthenticated(_))
        ));
    }

    fn turn(campaign: &str, text: &str) -> ServiceEvent {
        ServiceEvent::Call(CallEvent::Turn {
            uuid: "u1".into(),
            campaign: campaign.into(),
            speaker: Speaker::Callee,
            text: text.into(),
            node: "intro".into(),
            intent: Some("affirm".into()),
            confidence: Some(0.9),
            sentiment: Some(0.3),
            asr_ms: Some(400),
        })
    }

    fn figures(campaign: &str) -> ServiceEvent {
        ServiceEvent::Campaign(CampaignFigures {
            campaign: campaign.into(),
            ..CampaignFigures::default()
        })
    }

    #[test]
    fn a_feed_filters_by_campaign_and_hides_words_from_viewers() {
        let alert = |c: Option<&str>| {
            ServiceEvent::Alert(Alert {
                kind: AlertKind::SwitchLost,
                campaign: c.map(Into::into),
                message: "m".into(),
                cleared: false,
            })
        };
        assert!(concerns(&turn("a", "x"), Some("a")));
        assert!(!concerns(&turn("b", "x"), Some("a")));
        assert!(!concerns(&figures("b"), Some("a")));
        assert!(
            concerns(&alert(None), Some("a")),
            "service-wide alerts go to all"
        );
        assert!(!concerns(&alert(Some("b")), Some("a")));
        assert!(concerns(&turn("b", "x"), None));
        let ServiceEvent::Call(CallEvent::Turn { text, intent, .. }) =
            without_words(turn("a", "我是张三"))
        else {
            panic!("still a turn");
        };
        assert_eq!(text, "");
        assert_eq!(intent.as_deref(), Some("affirm"), "the figures stay");
    }

    #[tokio::test]
    async fn a_feed_carries_its_campaigns_events_and_says_goodbye_when_the_service_stops() {
        let bus = Bus::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let mut f = Box::pin(feed(bus.subscribe(), Some("a".into()), false, move || {
            s.load(std::sync::atomic::Ordering::SeqCst)
        }));
        assert_eq!(f.next().await, Some(FeedItem::Ready));
        bus.publish(figures("b"));
        bus.publish(figures("a"));
        bus.publish(turn("a", "秘密"));
        assert_eq!(f.next().await, Some(FeedItem::Event(figures("a"))));
        assert_eq!(f.next().await, Some(FeedItem::Event(turn("a", ""))));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let end = tokio::time::timeout(Duration::from_secs(5), f.next())
            .await
            .expect("the feed notices within its tick");
        assert_eq!(end, Some(FeedItem::Bye));
        assert_eq!(f.next().await, None);
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_cut_off_and_told() {
        let bus = Bus::default();
        let mut f = Box::pin(feed(bus.subscribe(), None, true, || false));
        assert_eq!(f.next().await, Some(FeedItem::Ready));
        // More than the bus keeps for a reader that does not read: publishing never waits.
        for _ in 0..20_000 {
            bus.publish(figures("a"));
        }
        match f.next().await {
            Some(FeedItem::Lagged(n)) => assert!(n > 0),
            other => panic!("expected the cut-off, got {other:?}"),
        }
        assert_eq!(f.next().await, None, "and the feed ends");
        // The bus goes on for everyone else.
        let mut g = Box::pin(feed(bus.subscribe(), None, true, || false));
        assert_eq!(g.next().await, Some(FeedItem::Ready));
        bus.publish(figures("z"));
        assert_eq!(g.next().await, Some(FeedItem::Event(figures("z"))));
    }

    #[test]
    fn errors_answer_with_the_right_status() {
        use crate::app::ServiceError as S;
        assert_eq!(WebError::BadLogin.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            WebError::Service(S::NoCampaign("x".into())).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            WebError::Throttled {
                user: "a".into(),
                wait_s: 3
            }
            .status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let resp = WebError::Throttled {
            user: "a".into(),
            wait_s: 3,
        }
        .into_response();
        assert_eq!(
            resp.headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"3"[..])
        );
    }
}
