//! The control interface over HTTP (axum): JSON in and out, every request authenticated by
//! an API key (`Authorization: Bearer <key>`), checked against the caller's role and
//! audited ([`super::control`]). The CLI's `campaign`, `import` and `dnc` commands are thin
//! clients of it; dashboards and CRMs use the same endpoints.
//!
//! Errors are JSON `{"error": "..."}` with a status that says whose fault it is: 400 bad
//! request, 401 no or unknown key, 403 role, 404 no such campaign, 409 state or name
//! conflict, 503 shutting down. Phone numbers travel in bodies, never in URLs (which proxies
//! log).
//!
//! The dashboard's and the agent desktop's routes ([`super::web`], agents under
//! `/api/v1/agents`) are merged in; they take the same keys or a log-in's session cookie.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::control::{Access, AccessError, Action, Principal, Role};
use super::{Service, ServiceError};
use crate::campaign::CampaignSettings;
use crate::store::{CampaignState, ListKind};

/// Largest contact list one upload may carry.
const MAX_UPLOAD: usize = 512 * 1024 * 1024;

#[derive(Clone)]
pub(super) struct Ctx {
    pub(super) service: Arc<Service>,
    pub(super) access: Access,
}

/// An error as the API answers it.
#[derive(Debug)]
pub(super) struct ApiError(pub(super) StatusCode, pub(super) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

/// The body of every error.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match &e {
            ServiceError::NoCampaign(_) => StatusCode::NOT_FOUND,
            ServiceError::Exists(_) | ServiceError::State { .. } => StatusCode::CONFLICT,
            ServiceError::Invalid { .. }
            | ServiceError::BadRequest(_)
            | ServiceError::Import(_) => StatusCode::BAD_REQUEST,
            ServiceError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Store(_) | ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        let status = match &e {
            AccessError::Missing | AccessError::Unknown => StatusCode::UNAUTHORIZED,
            AccessError::Denied { .. } => StatusCode::FORBIDDEN,
            AccessError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

pub(super) type ApiResult<T> = Result<Json<T>, ApiError>;

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
}

impl Ctx {
    pub(super) fn allow(
        &self,
        headers: &HeaderMap,
        action: Action,
        what: &str,
    ) -> Result<Principal, ApiError> {
        Ok(self.access.allow("http", bearer(headers), action, what)?)
    }

    /// Audits how an allowed request ended and passes its result on.
    pub(super) fn done<T>(
        &self,
        who: &Principal,
        what: &str,
        r: Result<T, ServiceError>,
    ) -> Result<T, ApiError> {
        let result = match &r {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("error: {e}"),
        };
        self.access.done("http", who, what, &result);
        Ok(r?)
    }
}

/// The routes, over a running service.
pub fn router(service: Arc<Service>) -> Router {
    let access = Access::new(service.store().clone());
    let ctx = Ctx { service, access };
    Router::new()
        .route("/api/v1/health", get(health))
        .route(
            "/api/v1/campaigns",
            get(list_campaigns).post(create_campaign),
        )
        .route("/api/v1/campaigns/{name}", get(campaign).put(edit_campaign))
        .route("/api/v1/campaigns/{name}/{action}", post(campaign_action))
        .route(
            "/api/v1/campaigns/{name}/contacts",
            post(import_contacts).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/api/v1/dnc/{op}", post(dnc))
        .route("/api/v1/users", post(add_user))
        .route("/api/v1/audit", get(audit))
        .merge(super::hooks::routes())
        .merge(super::metrics::routes())
        .with_state(ctx.clone())
        .merge(super::web::router(ctx.service))
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(service))
        .with_graceful_shutdown(shutdown)
        .await
}

/// `GET /api/v1/health` (no key needed): whether the service is up and has its switch.
#[derive(Debug, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    pub switch_connected: bool,
    pub stopping: bool,
    pub calls_up: usize,
}

async fn health(State(ctx): State<Ctx>) -> Json<Health> {
    Json(Health {
        ok: true,
        switch_connected: ctx.service.router().client().is_connected(),
        stopping: ctx.service.is_stopping(),
        calls_up: ctx.service.live_calls().len(),
    })
}

async fn list_campaigns(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
) -> ApiResult<Vec<super::CampaignView>> {
    let who = ctx.allow(&headers, Action::ReadCampaigns, "campaigns")?;
    let r = ctx.service.campaigns().await;
    Ok(Json(ctx.done(&who, "campaigns", r)?))
}

/// `POST /api/v1/campaigns`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateCampaign {
    pub name: String,
    #[serde(default)]
    pub settings: CampaignSettings,
}

async fn create_campaign(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: Result<Json<CreateCampaign>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<super::CampaignView> {
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let what = format!("campaign create {}", body.name);
    let who = ctx.allow(&headers, Action::CreateCampaign, &what)?;
    let r = ctx.service.create(&body.name, body.settings).await;
    ctx.done(&who, &what, r)?;
    Ok(Json(ctx.service.campaign(&body.name).await?))
}

async fn campaign(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<super::CampaignView> {
    let what = format!("campaign status {name}");
    let who = ctx.allow(&headers, Action::ReadCampaigns, &what)?;
    let r = ctx.service.campaign(&name).await;
    Ok(Json(ctx.done(&who, &what, r)?))
}

/// `PUT /api/v1/campaigns/{name}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct EditCampaign {
    pub settings: CampaignSettings,
}

async fn edit_campaign(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<EditCampaign>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<super::CampaignView> {
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let what = format!("campaign edit {name}");
    let who = ctx.allow(&headers, Action::EditCampaign, &what)?;
    let r = ctx.service.edit(&name, body.settings).await;
    ctx.done(&who, &what, r)?;
    Ok(Json(ctx.service.campaign(&name).await?))
}

/// The answer to start, pause, resume and stop: the state once it took effect.
#[derive(Debug, Serialize, Deserialize)]
pub struct StateReply {
    pub campaign: String,
    pub state: CampaignState,
}

async fn campaign_action(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
) -> ApiResult<StateReply> {
    let what = format!("campaign {action} {name}");
    let who = ctx.allow(&headers, Action::ControlCampaign, &what)?;
    let r = match action.as_str() {
        "start" | "resume" => ctx.service.start_campaign(&name).await,
        "pause" => ctx.service.pause(&name).await,
        "stop" => ctx.service.stop(&name).await,
        other => Err(ServiceError::BadRequest(format!(
            "unknown campaign action `{other}`: use start, pause, resume or stop"
        ))),
    };
    let state = ctx.done(&who, &what, r)?;
    Ok(Json(StateReply {
        campaign: name,
        state,
    }))
}

/// Query of `POST /api/v1/campaigns/{name}/contacts` (the body is the file's bytes).
#[derive(Debug, Deserialize)]
struct ImportQuery {
    /// The file's name (`.xlsx` is read as a workbook, anything else as CSV).
    file: Option<String>,
    /// Column mapping, e.g. `phone=手机号,name=姓名`.
    map: Option<String>,
    region: Option<String>,
}

async fn import_contacts(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<ImportQuery>,
    body: axum::body::Bytes,
) -> ApiResult<crate::campaign::import::ImportReport> {
    let file = q.file.unwrap_or_else(|| "upload.csv".into());
    let what = format!("import {file} into {name}");
    let who = ctx.allow(&headers, Action::ImportContacts, &what)?;
    let r = ctx
        .service
        .import(
            &name,
            &file,
            body.to_vec(),
            q.map.as_deref(),
            q.region.as_deref(),
        )
        .await;
    Ok(Json(ctx.done(&who, &what, r)?))
}

/// Body of `POST /api/v1/dnc/{add|remove|check}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct DncRequest {
    pub number: String,
    /// `dnc` (default), `black` or `gray`.
    #[serde(default)]
    pub list: Option<String>,
    /// Region of a number written without its country code (default `CN`).
    #[serde(default)]
    pub region: Option<String>,
}

/// What a DNC request did.
#[derive(Debug, Serialize, Deserialize)]
pub struct DncReply {
    /// The number, masked.
    pub number: String,
    pub dnc: bool,
    pub black: bool,
    pub gray: bool,
    /// For `remove`: whether it was on the list.
    pub changed: bool,
}

fn list_kind(s: Option<&str>) -> Result<ListKind, ServiceError> {
    Ok(match s.unwrap_or("dnc").to_ascii_lowercase().as_str() {
        "dnc" => ListKind::Dnc,
        "black" | "blacklist" => ListKind::Black,
        "gray" | "grey" | "graylist" => ListKind::Gray,
        other => {
            return Err(ServiceError::BadRequest(format!(
                "unknown list `{other}`: use dnc, black or gray"
            )))
        }
    })
}

async fn dnc(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(op): Path<String>,
    body: Result<Json<DncRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<DncReply> {
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let action = match op.as_str() {
        "add" => Action::DncAdd,
        "remove" => Action::DncRemove,
        "check" => Action::DncCheck,
        other => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("unknown DNC operation `{other}`: use add, remove or check"),
            ))
        }
    };
    let masked = crate::pii::Pii(&body.number).to_string();
    let what = format!("dnc {op} {masked}");
    let who = ctx.allow(&headers, action, &what)?;
    let region = body.region.as_deref().unwrap_or("CN");
    let r = (|| {
        let list = list_kind(body.list.as_deref())?;
        let changed = match op.as_str() {
            "add" => {
                ctx.service.list_add(
                    &body.number,
                    list,
                    region,
                    &format!("api user {}", who.user),
                )?;
                true
            }
            "remove" => ctx.service.list_remove(&body.number, list, region)?,
            _ => false,
        };
        let flags = ctx.service.list_check(&body.number, region)?;
        Ok(DncReply {
            number: masked.clone(),
            dnc: flags.dnc,
            black: flags.black,
            gray: flags.gray,
            changed,
        })
    })();
    Ok(Json(ctx.done(&who, &what, r)?))
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddUser {
    pub name: String,
    pub role: String,
    /// A password for the dashboard's log-in (stored as an Argon2id hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// A new user's key, shown once.
#[derive(Debug, Serialize, Deserialize)]
pub struct NewKey {
    pub name: String,
    pub role: String,
    pub key: String,
}

async fn add_user(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: Result<Json<AddUser>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<NewKey> {
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let what = format!("user add {} ({})", body.name, body.role);
    let who = ctx.allow(&headers, Action::ManageUsers, &what)?;
    let role = Role::from_name(&body.role).ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown role `{}`: use admin, supervisor, agent, viewer or integration",
                body.role
            ),
        )
    })?;
    if body.name.trim().is_empty() || body.name.len() > 64 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "a user name is 1 to 64 characters".into(),
        ));
    }
    let password_hash = match body.password {
        Some(p) => Some(
            tokio::task::spawn_blocking(move || super::web::hash_password(&p))
                .await
                .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?,
        ),
        None => None,
    };
    let key = ctx
        .access
        .add_user_with(body.name.trim(), role, password_hash)?;
    ctx.access.done("http", &who, &what, "ok");
    Ok(Json(NewKey {
        name: body.name,
        role: role.as_str().into(),
        key,
    }))
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    since_ms: Option<i64>,
}

async fn audit(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Vec<crate::store::ControlAudit>> {
    let who = ctx.allow(&headers, Action::ReadAudit, "audit")?;
    let r = ctx
        .service
        .store()
        .control_audit(q.since_ms.unwrap_or(0))
        .map_err(ServiceError::from);
    Ok(Json(ctx.done(&who, "audit", r)?))
}
