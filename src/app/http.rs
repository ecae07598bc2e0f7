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
//!
//! Every route is registered from its documented handler (`utoipa-axum`'s `routes!`), so the
//! OpenAPI document ([`super::api`], served at `/api/v1/openapi.json`) lists exactly what is
//! served. A request is authenticated before its body is read: a caller without a valid key
//! hears 401 whatever it sent, and a malformed body is refused (400, naming the field) and
//! audited as the caller's.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::control::{Access, AccessError, Action, Principal, Role};
use super::desk::QueueView;
use super::{Service, ServiceError};
use crate::call::script::{Script, Severity};
use crate::campaign::CampaignSettings;
use crate::pii::Pii;
use crate::store::{CampaignState, ListKind};

/// Largest contact list one upload may carry.
const MAX_UPLOAD: usize = 512 * 1024 * 1024;
/// Contacts one page lists at most (and by default).
const CONTACTS_PAGE_MAX: usize = 1000;
const CONTACTS_PAGE: usize = 100;

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
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, naming the field or the value at fault.
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

/// A JSON body's rejection as a 400 that names what is wrong (axum's message names the field).
fn bad_json(e: JsonRejection) -> ServiceError {
    ServiceError::BadRequest(format!("request body: {}", e.body_text()))
}

fn bad_query(e: QueryRejection) -> ServiceError {
    ServiceError::BadRequest(format!("query: {}", e.body_text()))
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

/// The control API's routes (with the CRM hooks' and `/metrics`), each registered from its
/// documented handler: the router and the OpenAPI document come from the same list.
pub(super) fn routes() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(super::api::openapi_json))
        .routes(routes!(list_campaigns, create_campaign))
        .routes(routes!(campaign, edit_campaign))
        .routes(routes!(campaign_action))
        .routes(routes!(upload_script))
        .routes(routes!(import_contacts).layer(DefaultBodyLimit::max(MAX_UPLOAD)))
        .routes(routes!(list_contacts))
        .routes(routes!(dnc_lists))
        .routes(routes!(dnc_add))
        .routes(routes!(dnc_remove))
        .routes(routes!(dnc_check))
        .routes(routes!(validate_script))
        .routes(routes!(queues))
        .routes(routes!(add_user))
        .routes(routes!(audit))
        .merge(super::hooks::routes())
        .merge(super::metrics::routes())
}

/// The routes, over a running service.
pub fn router(service: Arc<Service>) -> Router {
    let access = Access::new(service.store().clone());
    let ctx = Ctx {
        service: service.clone(),
        access,
    };
    let (api, _) = routes().split_for_parts();
    api.with_state(ctx).merge(super::web::router(service))
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub ok: bool,
    pub switch_connected: bool,
    pub stopping: bool,
    pub calls_up: usize,
}

/// The service's health.
///
/// Whether the service is up, connected to FreeSWITCH, stopping, and how many calls are up.
/// Needs no key (load balancers and monitors ask it).
#[utoipa::path(get, path = "/api/v1/health", tag = "service",
    responses((status = 200, description = "The service answers", body = Health)))]
async fn health(State(ctx): State<Ctx>) -> Json<Health> {
    Json(Health {
        ok: true,
        switch_connected: ctx.service.router().client().is_connected(),
        stopping: ctx.service.is_stopping(),
        calls_up: ctx.service.live_calls().len(),
    })
}

/// Every campaign.
///
/// Each campaign's state, figures and settings.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns",
    responses((status = 200, description = "The campaigns", body = Vec<super::CampaignView>)))]
async fn list_campaigns(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
) -> ApiResult<Vec<super::CampaignView>> {
    let who = ctx.allow(&headers, Action::ReadCampaigns, "campaigns")?;
    let r = ctx.service.campaigns().await;
    Ok(Json(ctx.done(&who, "campaigns", r)?))
}

/// `POST /api/v1/campaigns`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateCampaign {
    /// 1 to 64 letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// Every setting, validated (missing ones take their defaults).
    #[serde(default)]
    pub settings: CampaignSettings,
}

/// Create a campaign.
///
/// The campaign starts in state `created`; every setting (script, window, pacing, lead
/// model, CRM hook) is checked first.
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns",
    request_body = CreateCampaign,
    responses(
        (status = 200, description = "Created", body = super::CampaignView),
        (status = 400, description = "A setting or the body is invalid", body = ErrorBody),
        (status = 409, description = "A campaign of that name exists", body = ErrorBody),
    ))]
async fn create_campaign(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: Result<Json<CreateCampaign>, JsonRejection>,
) -> ApiResult<super::CampaignView> {
    let what = match &body {
        Ok(Json(b)) => format!("campaign create {}", b.name),
        Err(_) => "campaign create".to_owned(),
    };
    let who = ctx.allow(&headers, Action::CreateCampaign, &what)?;
    let Json(body) = ctx.done(&who, &what, body.map_err(bad_json))?;
    let r = ctx.service.create(&body.name, body.settings).await;
    ctx.done(&who, &what, r)?;
    Ok(Json(ctx.service.campaign(&body.name).await?))
}

/// One campaign.
#[utoipa::path(get, path = "/api/v1/campaigns/{name}", tag = "campaigns",
    params(("name" = String, Path, description = "The campaign")),
    responses(
        (status = 200, description = "The campaign", body = super::CampaignView),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EditCampaign {
    pub settings: CampaignSettings,
}

/// Edit a campaign.
///
/// Replaces the settings of a created, paused or stopped campaign (a running one must be
/// paused first); a paused campaign's run picks them up.
#[utoipa::path(put, path = "/api/v1/campaigns/{name}", tag = "campaigns",
    params(("name" = String, Path, description = "The campaign")),
    request_body = EditCampaign,
    responses(
        (status = 200, description = "The campaign with its new settings", body = super::CampaignView),
        (status = 400, description = "A setting or the body is invalid", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "The campaign is running", body = ErrorBody),
    ))]
async fn edit_campaign(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<EditCampaign>, JsonRejection>,
) -> ApiResult<super::CampaignView> {
    let what = format!("campaign edit {name}");
    let who = ctx.allow(&headers, Action::EditCampaign, &what)?;
    let Json(body) = ctx.done(&who, &what, body.map_err(bad_json))?;
    let r = ctx.service.edit(&name, body.settings).await;
    ctx.done(&who, &what, r)?;
    Ok(Json(ctx.service.campaign(&name).await?))
}

/// Query of `PUT /api/v1/campaigns/{name}/script`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScriptQuery {
    /// Where the script's file is on the service's machine: its recorded prompts are found
    /// relative to it (`prompts_dir`). Default: the campaign's current script path, or the
    /// service's working directory.
    pub path: Option<String>,
}

/// Upload a campaign's call script.
///
/// The body is the script's TOML. It replaces the campaign's script once it validates (with
/// its prompts playable); the campaign must not be running.
#[utoipa::path(put, path = "/api/v1/campaigns/{name}/script", tag = "scripts",
    params(("name" = String, Path, description = "The campaign"), ScriptQuery),
    request_body(content = String, content_type = "application/toml",
        description = "The script (TOML)"),
    responses(
        (status = 200, description = "The campaign with its new script", body = super::CampaignView),
        (status = 400, description = "The script is invalid: every finding with its line", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "The campaign is running", body = ErrorBody),
    ))]
async fn upload_script(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    query: Result<Query<ScriptQuery>, QueryRejection>,
    body: axum::body::Bytes,
) -> ApiResult<super::CampaignView> {
    let what = format!("campaign script {name}");
    let who = ctx.allow(&headers, Action::EditCampaign, &what)?;
    let r = async {
        let Query(q) = query.map_err(bad_query)?;
        let text = script_text(&body)?;
        let mut settings = ctx.service.campaign(&name).await?.settings;
        settings.call.script = text;
        if let Some(path) = q.path.filter(|p| !p.trim().is_empty()) {
            settings.call.script_path = path.into();
        }
        ctx.service.edit(&name, settings).await
    }
    .await;
    ctx.done(&who, &what, r)?;
    Ok(Json(ctx.service.campaign(&name).await?))
}

/// What a campaign action asks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignAction {
    /// Start dialling (or resume).
    Start,
    Pause,
    Resume,
    /// No more originates; the run ends once its calls have.
    Stop,
}

/// The answer to start, pause, resume and stop: the state once it took effect.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StateReply {
    pub campaign: String,
    pub state: CampaignState,
}

/// Start, pause, resume or stop a campaign.
///
/// Answers once the campaign's run acknowledged: after a pause, no originate leaves for it.
#[utoipa::path(post, path = "/api/v1/campaigns/{name}/{action}", tag = "campaigns",
    params(
        ("name" = String, Path, description = "The campaign"),
        ("action" = inline(CampaignAction), Path, description = "start, pause, resume or stop"),
    ),
    responses(
        (status = 200, description = "The campaign's state now", body = StateReply),
        (status = 400, description = "Unknown action, or the campaign cannot run", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
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
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The file's name (`.xlsx` is read as a workbook, anything else as CSV).
    pub file: Option<String>,
    /// Column mapping, e.g. `phone=手机号,name=姓名`.
    pub map: Option<String>,
    /// Region of numbers written without a country code (ISO 3166; default: the campaign's).
    pub region: Option<String>,
}

/// Upload a contact list (CSV or XLSX).
///
/// The body is the file. CSV in any encoding (UTF-8, UTF-16 with BOM, GBK) or an XLSX
/// workbook; numbers go to E.164, duplicates merge, other columns become contact fields. The
/// answer is the import's report, every rejected line with its reason.
#[utoipa::path(post, path = "/api/v1/campaigns/{name}/contacts", tag = "contacts",
    params(("name" = String, Path, description = "The campaign"), ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The CSV or XLSX file"),
    responses(
        (status = 200, description = "The import's report, per line", body = crate::campaign::import::ImportReport),
        (status = 400, description = "The file cannot be read at all, or a bad mapping or region", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
async fn import_contacts(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    query: Result<Query<ImportQuery>, QueryRejection>,
    body: axum::body::Bytes,
) -> ApiResult<crate::campaign::import::ImportReport> {
    let file = query
        .as_ref()
        .ok()
        .and_then(|Query(q)| q.file.clone())
        .unwrap_or_else(|| "upload.csv".into());
    let what = format!("import {file} into {name}");
    let who = ctx.allow(&headers, Action::ImportContacts, &what)?;
    let r = async {
        let Query(q) = query.map_err(bad_query)?;
        ctx.service
            .import(
                &name,
                &file,
                body.to_vec(),
                q.map.as_deref(),
                q.region.as_deref(),
            )
            .await
    }
    .await;
    Ok(Json(ctx.done(&who, &what, r)?))
}

/// Query of `GET /api/v1/campaigns/{name}/contacts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactsQuery {
    /// Contacts to skip (in import order).
    pub offset: Option<usize>,
    /// Contacts to list, 1 to 1000 (default 100).
    pub limit: Option<usize>,
    /// Only contacts in this state: `pending`, `inflight`, `done`, `exhausted`, `invalid`,
    /// `blocked`.
    pub state: Option<String>,
}

/// A contact as the API lists it: the number masked, long digit runs in fields masked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactRow {
    pub id: u64,
    /// Masked (`+86138****8000`): full numbers never leave the service.
    pub phone: String,
    pub name: Option<String>,
    /// The other imported columns (digit runs of 7 or more masked).
    pub fields: std::collections::BTreeMap<String, String>,
    /// ISO 3166 region of the number.
    pub region: String,
    /// `mobile`, `landline` or `other`.
    pub line_type: String,
    /// `pending`, `inflight`, `done`, `exhausted`, `invalid` or `blocked`.
    pub state: String,
    pub attempts: u32,
    /// Earliest next attempt (unix seconds).
    pub next_at: i64,
    pub score: Option<f32>,
    pub best_hour: Option<u8>,
    /// Why the contact is where it is.
    pub note: String,
}

/// A page of contacts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactPage {
    pub campaign: String,
    /// Contacts matching the filter, all pages.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub contacts: Vec<ContactRow>,
}

fn contact_row(c: crate::store::Contact) -> ContactRow {
    use super::web::desktop::mask_numbers;
    ContactRow {
        id: c.id,
        phone: Pii(&c.pii.phone).to_string(),
        name: c.pii.name,
        fields: c
            .pii
            .fields
            .into_iter()
            .map(|(k, v)| (k, mask_numbers(&v)))
            .collect(),
        region: c.region,
        line_type: format!("{:?}", c.line_type).to_lowercase(),
        state: format!("{:?}", c.state).to_lowercase(),
        attempts: c.attempts,
        next_at: c.next_at,
        score: c.score,
        best_hour: c.best_hour,
        note: mask_numbers(&c.note),
    }
}

/// A campaign's contacts, a page at a time.
///
/// In import order. Numbers are always masked: no role reads full numbers over the API
/// (they are stored encrypted and are only dialled); the name and fields are personal data,
/// so the role must be one that reads calls.
#[utoipa::path(get, path = "/api/v1/campaigns/{name}/contacts", tag = "contacts",
    params(("name" = String, Path, description = "The campaign"), ContactsQuery),
    responses(
        (status = 200, description = "One page of contacts", body = ContactPage),
        (status = 400, description = "A bad limit, offset or state", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
async fn list_contacts(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    query: Result<Query<ContactsQuery>, QueryRejection>,
) -> ApiResult<ContactPage> {
    let what = format!("contacts of {name}");
    let who = ctx.allow(&headers, Action::ReadCalls, &what)?;
    let r = async {
        let Query(q) = query.map_err(bad_query)?;
        let limit = q.limit.unwrap_or(CONTACTS_PAGE);
        if limit == 0 || limit > CONTACTS_PAGE_MAX {
            return Err(ServiceError::BadRequest(format!(
                "limit: {limit}; list 1 to {CONTACTS_PAGE_MAX} contacts a page"
            )));
        }
        let states = [
            "pending",
            "inflight",
            "done",
            "exhausted",
            "invalid",
            "blocked",
        ];
        let state = q.state.map(|s| s.trim().to_ascii_lowercase());
        if let Some(s) = state.as_deref().filter(|s| !states.contains(s)) {
            return Err(ServiceError::BadRequest(format!(
                "state: `{s}`; use one of {}",
                states.join(", ")
            )));
        }
        ctx.service.campaign(&name).await?;
        let offset = q.offset.unwrap_or(0);
        let store = ctx.service.store().clone();
        let campaign = name.clone();
        tokio::task::spawn_blocking(move || {
            let mut all = store.contacts(&campaign)?;
            all.sort_by_key(|c| (c.seq, c.id));
            let matching: Vec<_> = all
                .into_iter()
                .filter(|c| {
                    state
                        .as_deref()
                        .is_none_or(|s| format!("{:?}", c.state).to_lowercase() == s)
                })
                .collect();
            let total = matching.len();
            let contacts = matching
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(contact_row)
                .collect();
            Ok(ContactPage {
                campaign,
                total,
                offset,
                limit,
                contacts,
            })
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("contacts task: {e}")))?
    }
    .await;
    Ok(Json(ctx.done(&who, &what, r)?))
}

/// Body of `POST /api/v1/dnc/{add|remove|check}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DncRequest {
    /// The number, with or without its country code.
    pub number: String,
    /// `dnc` (default), `black` or `gray`.
    #[serde(default)]
    pub list: Option<String>,
    /// Region of a number written without its country code (default `CN`).
    #[serde(default)]
    pub region: Option<String>,
}

/// What a DNC request did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
                "list: unknown list `{other}`; use dnc, black or gray"
            )))
        }
    })
}

/// The numbers on each list, as `GET /api/v1/dnc` answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DncLists {
    pub dnc: u64,
    pub black: u64,
    pub gray: u64,
}

/// How many numbers each list holds.
///
/// The lists keep keyed hashes of the numbers, never the numbers: they can be counted and
/// checked (`POST /api/v1/dnc/check`), not listed.
#[utoipa::path(get, path = "/api/v1/dnc", tag = "dnc",
    responses((status = 200, description = "Numbers per list", body = DncLists)))]
async fn dnc_lists(State(ctx): State<Ctx>, headers: HeaderMap) -> ApiResult<DncLists> {
    let who = ctx.allow(&headers, Action::DncCheck, "dnc lists")?;
    let store = ctx.service.store().clone();
    let r = tokio::task::spawn_blocking(move || store.list_all())
        .await
        .map_err(|e| ServiceError::Internal(format!("lists task: {e}")))
        .and_then(|r| r.map_err(ServiceError::from))
        .map(|all| {
            let count = |k: ListKind| all.iter().filter(|(_, kind)| *kind == k).count() as u64;
            DncLists {
                dnc: count(ListKind::Dnc),
                black: count(ListKind::Black),
                gray: count(ListKind::Gray),
            }
        });
    Ok(Json(ctx.done(&who, "dnc lists", r)?))
}

/// What a DNC request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DncOp {
    Add,
    Remove,
    Check,
}

/// Put a number on a list.
///
/// For every campaign, at once.
#[utoipa::path(post, path = "/api/v1/dnc/add", tag = "dnc",
    request_body = DncRequest,
    responses(
        (status = 200, description = "On the list", body = DncReply),
        (status = 400, description = "A bad number, list or region", body = ErrorBody),
    ))]
async fn dnc_add(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: Result<Json<DncRequest>, JsonRejection>,
) -> ApiResult<DncReply> {
    dnc(ctx, headers, DncOp::Add, body).await
}

/// Take a number off a list.
#[utoipa::path(post, path = "/api/v1/dnc/remove", tag = "dnc",
    request_body = DncRequest,
    responses(
        (status = 200, description = "Off the list (`changed`: it was on it)", body = DncReply),
        (status = 400, description = "A bad number, list or region", body = ErrorBody),
    ))]
async fn dnc_remove(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: Result<Json<DncRequest>, JsonRejection>,
) -> ApiResult<DncReply> {
    dnc(ctx, headers, DncOp::Remove, body).await
}

/// Which lists a number is on.
#[utoipa::path(post, path = "/api/v1/dnc/check", tag = "dnc",
    request_body = DncRequest,
    responses(
        (status = 200, description = "The lists the number is on", body = DncReply),
        (status = 400, description = "A bad number or region", body = ErrorBody),
    ))]
async fn dnc_check(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: Result<Json<DncRequest>, JsonRejection>,
) -> ApiResult<DncReply> {
    dnc(ctx, headers, DncOp::Check, body).await
}

async fn dnc(
    ctx: Ctx,
    headers: HeaderMap,
    op: DncOp,
    body: Result<Json<DncRequest>, JsonRejection>,
) -> ApiResult<DncReply> {
    let (action, verb) = match op {
        DncOp::Add => (Action::DncAdd, "add"),
        DncOp::Remove => (Action::DncRemove, "remove"),
        DncOp::Check => (Action::DncCheck, "check"),
    };
    let masked = body.as_ref().ok().map(|Json(b)| Pii(&b.number).to_string());
    let what = match &masked {
        Some(m) => format!("dnc {verb} {m}"),
        None => format!("dnc {verb}"),
    };
    let who = ctx.allow(&headers, action, &what)?;
    let Json(body) = ctx.done(&who, &what, body.map_err(bad_json))?;
    let masked = masked.unwrap_or_default();
    let region = body.region.as_deref().unwrap_or("CN");
    let r = (|| {
        let list = list_kind(body.list.as_deref())?;
        let changed = match op {
            DncOp::Add => {
                ctx.service.list_add(
                    &body.number,
                    list,
                    region,
                    &format!("api user {}", who.user),
                )?;
                true
            }
            DncOp::Remove => ctx.service.list_remove(&body.number, list, region)?,
            DncOp::Check => false,
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

/// A finding of script validation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScriptFinding {
    /// 1-based line of the script.
    pub line: usize,
    pub message: String,
}

/// What `POST /api/v1/scripts/validate` found.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScriptCheck {
    /// No error: the script can be used.
    pub ok: bool,
    pub errors: Vec<ScriptFinding>,
    pub warnings: Vec<ScriptFinding>,
    /// The script's nodes and prompts, when it resolved.
    pub nodes: Option<usize>,
    pub prompts: Option<usize>,
}

/// The body as a script's text.
fn script_text(body: &[u8]) -> Result<String, ServiceError> {
    String::from_utf8(body.to_vec()).map_err(|e| {
        ServiceError::BadRequest(format!(
            "request body: not UTF-8 text at byte {}; send the script's TOML",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Validate a call script.
///
/// The body is the script's TOML; the answer lists every finding with its line, as `aicall
/// script validate` prints them: dangling branches, unreachable nodes, unknown
/// placeholders, missing audio, intents outside the label set. A script with errors is
/// still a 200 with `ok: false`.
#[utoipa::path(post, path = "/api/v1/scripts/validate", tag = "scripts",
    params(ScriptQuery),
    request_body(content = String, content_type = "application/toml",
        description = "The script (TOML)"),
    responses(
        (status = 200, description = "The findings", body = ScriptCheck),
        (status = 400, description = "The body is not text", body = ErrorBody),
    ))]
async fn validate_script(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    query: Result<Query<ScriptQuery>, QueryRejection>,
    body: axum::body::Bytes,
) -> ApiResult<ScriptCheck> {
    let what = "script validate";
    let who = ctx.allow(&headers, Action::EditCampaign, what)?;
    let r = async {
        let Query(q) = query.map_err(bad_query)?;
        let text = script_text(&body)?;
        let path = std::path::PathBuf::from(q.path.unwrap_or_else(|| "script.toml".into()));
        // Resolving checks that recorded prompts exist: file-system work.
        tokio::task::spawn_blocking(move || {
            let base = path
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            let (script, findings) = Script::check(&text, &path, &base);
            let (errors, warnings): (Vec<_>, Vec<_>) = findings
                .into_iter()
                .partition(|f| f.severity == Severity::Error);
            let finding = |f: crate::call::script::Finding| ScriptFinding {
                line: f.line,
                message: f.message,
            };
            ScriptCheck {
                ok: errors.is_empty() && script.is_some(),
                errors: errors.into_iter().map(finding).collect(),
                warnings: warnings.into_iter().map(finding).collect(),
                nodes: script.as_ref().map(|s| s.nodes.len()),
                prompts: script.as_ref().map(|s| s.prompts.len()),
            }
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("script check task: {e}")))
    }
    .await;
    Ok(Json(ctx.done(&who, what, r)?))
}

/// `GET /api/v1/queues`.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuesView {
    /// Whether aicall routes to its own agents (`[serve] agents`); without it transfers go
    /// to the switch's queues, which aicall does not see.
    pub configured: bool,
    pub queues: Vec<QueueView>,
}

/// The agent desk's queues.
///
/// Each queue's line (waiting, longest wait) and service level against its target.
#[utoipa::path(get, path = "/api/v1/queues", tag = "agents",
    responses((status = 200, description = "The queues", body = QueuesView)))]
async fn queues(State(ctx): State<Ctx>, headers: HeaderMap) -> ApiResult<QueuesView> {
    let who = ctx.allow(&headers, Action::ReadAgents, "queues")?;
    ctx.access.done("http", &who, "queues", "ok");
    Ok(Json(match ctx.service.desk() {
        Some(desk) => QueuesView {
            configured: true,
            queues: desk.view().queues,
        },
        None => QueuesView {
            configured: false,
            queues: Vec::new(),
        },
    }))
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddUser {
    /// 1 to 64 characters; an agent's user name is its agent id.
    pub name: String,
    /// `admin`, `supervisor`, `agent`, `viewer` or `integration`.
    pub role: String,
    /// A password for the dashboard's log-in (stored as an Argon2id hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// A new user's key, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewKey {
    pub name: String,
    pub role: String,
    /// The API key: shown this once, stored only as its hash.
    pub key: String,
}

/// Add a user.
///
/// Answers the user's new API key, shown once (the store keeps its BLAKE3 hash), and sets
/// the dashboard password when one is given (stored as an Argon2id hash).
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = AddUser,
    responses(
        (status = 200, description = "The user and its key", body = NewKey),
        (status = 400, description = "A bad name, role or password", body = ErrorBody),
    ))]
async fn add_user(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    body: Result<Json<AddUser>, JsonRejection>,
) -> ApiResult<NewKey> {
    let what = match &body {
        Ok(Json(b)) => format!("user add {} ({})", b.name, b.role),
        Err(_) => "user add".to_owned(),
    };
    let who = ctx.allow(&headers, Action::ManageUsers, &what)?;
    let Json(body) = ctx.done(&who, &what, body.map_err(bad_json))?;
    let checked = (|| {
        let role = Role::from_name(&body.role).ok_or_else(|| {
            ServiceError::BadRequest(format!(
                "role: unknown role `{}`; use admin, supervisor, agent, viewer or integration",
                body.role
            ))
        })?;
        if body.name.trim().is_empty() || body.name.len() > 64 {
            return Err(ServiceError::BadRequest(
                "name: a user name is 1 to 64 characters".into(),
            ));
        }
        Ok(role)
    })();
    let role = ctx.done(&who, &what, checked)?;
    let password_hash = match body.password {
        Some(p) => {
            let hashed = tokio::task::spawn_blocking(move || super::web::hash_password(&p))
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))
                .and_then(|r| r.map_err(|e| ServiceError::BadRequest(format!("password: {e}"))));
            Some(ctx.done(&who, &what, hashed)?)
        }
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

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries at or after this unix time in ms (default: all).
    pub since_ms: Option<i64>,
}

/// The control audit trail.
///
/// Every request to the API, the dashboard and the console, allowed or not: who, when,
/// what, how it went (numbers masked). Oldest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "users",
    params(AuditQuery),
    responses(
        (status = 200, description = "The trail", body = Vec<crate::store::ControlAudit>),
        (status = 400, description = "A bad `since_ms`", body = ErrorBody),
    ))]
async fn audit(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Vec<crate::store::ControlAudit>> {
    let who = ctx.allow(&headers, Action::ReadAudit, "audit")?;
    let r = query.map_err(bad_query).and_then(|Query(q)| {
        ctx.service
            .store()
            .control_audit(q.since_ms.unwrap_or(0))
            .map_err(ServiceError::from)
    });
    Ok(Json(ctx.done(&who, "audit", r)?))
}
