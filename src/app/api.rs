//! The service's OpenAPI 3.1 document, generated from the code, and who may use each route.
//!
//! Every route of the service ([`super::http`], [`super::hooks`], [`super::metrics`],
//! [`super::web`] and its agent desktop) is registered from its handler's `#[utoipa::path]`
//! through `utoipa-axum`, so the routers and this document are built from the same list: a
//! handler cannot be served without being described (its method, path, parameters, body and
//! answers). [`openapi`] collects the routers' halves and adds what the handlers do not say
//! themselves, from one table, [`POLICY`]: each operation's credentials (an API key as a
//! bearer token, or the dashboard's session cookie), its 401/403 answers, and the roles that
//! may call it (`x-aicall-roles`, and a line of its description). The unit tests check that
//! the table and the document name the same operations, and `tests/api.rs` asks every
//! operation as every role and checks the answer against the document.
//!
//! `GET /api/v1/openapi.json` serves the document without a key: it describes the interface
//! and holds no data, and code generators and monitors need it before they have a key.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Components, Content, InfoBuilder, OpenApi, Ref, RefOr, Response as DocResponse,
    SecurityRequirement,
};

use super::control::{Action, Role};
use super::web::SESSION_COOKIE;

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, without credentials (health, the pages, log-in, this document).
    Public,
    /// Any user with a key or a session.
    AnyUser,
    /// A role that may do all of these ([`Action::allowed`]).
    All(&'static [Action]),
    /// An agent for itself (the path's `{id}` is its user name), or a role that may do all
    /// of these.
    AgentOr(&'static [Action]),
}

impl Rule {
    /// Whether `role` may call the operation; `itself`: the path names the caller (an
    /// agent's own desk).
    pub fn allows(self, role: Role, itself: bool) -> bool {
        match self {
            Rule::Public | Rule::AnyUser => true,
            Rule::All(actions) => actions.iter().all(|a| a.allowed(role)),
            Rule::AgentOr(actions) => {
                if role == Role::Agent {
                    itself
                } else {
                    actions.iter().all(|a| a.allowed(role))
                }
            }
        }
    }

    /// The roles that may call it, as the document lists them (`agent (itself)` for an
    /// agent's own desk).
    pub fn roles(self) -> Vec<String> {
        Role::ALL
            .iter()
            .filter_map(|&r| match self {
                Rule::AgentOr(_) if r == Role::Agent => Some("agent (itself)".to_owned()),
                _ => self.allows(r, false).then(|| r.as_str().to_owned()),
            })
            .collect()
    }
}

/// Each operation of the service: method, path (as the document writes it), who may call it.
pub const POLICY: &[(&str, &str, Rule)] = {
    use Action as A;
    use Rule::*;
    &[
        // Service and pages.
        ("get", "/api/v1/health", Public),
        ("get", "/api/v1/openapi.json", Public),
        ("get", "/", Public),
        ("get", "/dashboard", Public),
        ("get", "/agent", Public),
        ("get", "/assets/{file}", Public),
        ("post", "/api/v1/login", Public),
        ("post", "/api/v1/logout", Public),
        ("get", "/api/v1/me", AnyUser),
        ("get", "/metrics", All(&[A::ReadMetrics])),
        // Campaigns, contacts, scripts.
        ("get", "/api/v1/campaigns", All(&[A::ReadCampaigns])),
        ("post", "/api/v1/campaigns", All(&[A::CreateCampaign])),
        ("get", "/api/v1/campaigns/{name}", All(&[A::ReadCampaigns])),
        ("put", "/api/v1/campaigns/{name}", All(&[A::EditCampaign])),
        (
            "post",
            "/api/v1/campaigns/{name}/{action}",
            All(&[A::ControlCampaign]),
        ),
        (
            "put",
            "/api/v1/campaigns/{name}/script",
            All(&[A::EditCampaign]),
        ),
        ("post", "/api/v1/scripts/validate", All(&[A::EditCampaign])),
        (
            "post",
            "/api/v1/campaigns/{name}/contacts",
            All(&[A::ImportContacts]),
        ),
        (
            "post",
            "/api/v1/campaigns/{name}/contacts/json",
            All(&[A::ImportContacts]),
        ),
        (
            "get",
            "/api/v1/campaigns/{name}/contacts",
            All(&[A::ReadCalls]),
        ),
        (
            "get",
            "/api/v1/campaigns/{name}/labels",
            All(&[A::ReadCalls]),
        ),
        // Lists.
        ("get", "/api/v1/dnc", All(&[A::DncCheck])),
        ("post", "/api/v1/dnc/add", All(&[A::DncAdd])),
        ("post", "/api/v1/dnc/remove", All(&[A::DncRemove])),
        ("post", "/api/v1/dnc/check", All(&[A::DncCheck])),
        // Calls and reports.
        (
            "get",
            "/api/v1/campaigns/{name}/report",
            All(&[A::ReadCampaigns]),
        ),
        (
            "get",
            "/api/v1/campaigns/{name}/calls",
            All(&[A::ReadCalls]),
        ),
        (
            "get",
            "/api/v1/campaigns/{name}/calls/{uuid}",
            All(&[A::ReadCalls]),
        ),
        // Live.
        ("get", "/api/v1/events", All(&[A::Watch])),
        ("get", "/api/v1/live/campaigns", All(&[A::ReadCampaigns])),
        ("get", "/api/v1/live/calls", All(&[A::Watch])),
        ("get", "/api/v1/live/calls/{id}", All(&[A::ReadCalls])),
        ("get", "/api/v1/live/agents", All(&[A::Watch])),
        // Agents and queues.
        ("get", "/api/v1/queues", All(&[A::ReadAgents])),
        ("get", "/api/v1/agents", All(&[A::ReadAgents])),
        (
            "get",
            "/api/v1/agents/{id}/screen",
            AgentOr(&[A::ReadAgents, A::ReadCalls]),
        ),
        (
            "get",
            "/api/v1/agents/{id}/events",
            AgentOr(&[A::ReadAgents, A::ReadCalls]),
        ),
        (
            "post",
            "/api/v1/agents/{id}/disposition",
            AgentOr(&[A::AgentDisposition]),
        ),
        (
            "post",
            "/api/v1/agents/{id}/{op}",
            AgentOr(&[A::ControlAgent]),
        ),
        // CRM hooks.
        ("get", "/api/v1/hooks/dead", All(&[A::ReadHooks])),
        (
            "post",
            "/api/v1/hooks/dead/{id}/retry",
            All(&[A::RetryHooks]),
        ),
        // Users and the audit trail.
        ("post", "/api/v1/users", All(&[A::ManageUsers])),
        ("get", "/api/v1/audit", All(&[A::ReadAudit])),
    ]
};

/// Who may call `method path` (lower-case method, the document's path).
pub fn rule(method: &str, path: &str) -> Option<Rule> {
    POLICY
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|&(_, _, r)| r)
}

/// The security schemes' names in the document.
const BEARER: &str = "api_key";
const SESSION: &str = "session";

/// The document: every route's half from the routers, the security schemes, and each
/// operation's credentials and roles from [`POLICY`].
pub fn openapi() -> OpenApi {
    let (_, mut doc) = super::http::routes().split_for_parts();
    let (_, web) = super::web::routes().split_for_parts();
    doc.merge(web);
    doc.info = InfoBuilder::new()
        .title("aicall")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The control API of aicall, the AI outbound-calling engine for FreeSWITCH: \
             campaigns, contacts, DNC lists, scripts, call records, reports, agents, queues, \
             users and the audit trail. Authenticate with a user's API key \
             (`Authorization: Bearer <key>`) or the dashboard's session cookie; each \
             operation names the roles that may call it (`x-aicall-roles`). Errors are \
             `{\"error\": \"...\"}` with 400 bad request, 401 no or unknown credentials, \
             403 role, 404 not found, 409 state or name conflict.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Components::new);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("A user's API key (`aicall users add` shows it once)"))
                .build(),
        ),
    );
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE,
            "The dashboard's session (`POST /api/v1/login`)",
        ))),
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            match rule(method, path) {
                Some(r) => apply(op, r),
                // The unit tests fail on it; at run time the operation is left as documented.
                None => tracing::warn!(method, path, "an operation without a rule in POLICY"),
            }
        }
    }
    doc
}

/// The operations of a path item, with their lower-case methods.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
        ("head", &mut item.head),
        ("options", &mut item.options),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
}

/// The error body's answer.
fn error_response(description: &str) -> DocResponse {
    let mut r = DocResponse::new(description);
    r.content.insert(
        "application/json".to_owned(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("ErrorBody")))),
    );
    r
}

/// An operation's credentials, its refusals and its roles.
fn apply(op: &mut Operation, rule: Rule) {
    let roles = match rule {
        Rule::Public => {
            // One empty requirement: no credentials needed.
            op.security = Some(vec![SecurityRequirement::default()]);
            op.extensions
                .get_or_insert_with(Default::default)
                .insert("x-aicall-roles".into(), json!("public"));
            return;
        }
        Rule::AnyUser => {
            op.responses.responses.insert(
                "401".into(),
                RefOr::T(error_response("No, an unknown or an expired credential")),
            );
            "any user".to_owned()
        }
        _ => {
            op.responses.responses.insert(
                "401".into(),
                RefOr::T(error_response("No, an unknown or an expired credential")),
            );
            op.responses.responses.insert(
                "403".into(),
                RefOr::T(error_response("The caller's role may not do this")),
            );
            rule.roles().join(", ")
        }
    };
    op.security = Some(vec![
        SecurityRequirement::new(BEARER, Vec::<String>::new()),
        SecurityRequirement::new(SESSION, Vec::<String>::new()),
    ]);
    let listed = match rule {
        Rule::AnyUser => json!(Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
        _ => json!(rule.roles()),
    };
    op.extensions
        .get_or_insert_with(Default::default)
        .insert("x-aicall-roles".into(), listed);
    let line = format!("Roles: {roles}.");
    op.description = Some(match op.description.take() {
        Some(d) if !d.is_empty() => format!("{d}\n\n{line}"),
        _ => line,
    });
}

/// The document as served, made once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        // Plain data: serialising it cannot fail; if it ever did, say so in the document.
        openapi()
            .to_json()
            .unwrap_or_else(|e| json!({ "error": e.to_string() }).to_string())
    })
}

/// This document.
///
/// The OpenAPI 3.1 description of every route of the service, generated from the code.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI document", body = Object,
        content_type = "application/json")))]
pub(super) async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn documented() -> BTreeSet<(String, String)> {
        let mut doc = openapi();
        let mut out = BTreeSet::new();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, _) in operations(item) {
                out.insert((method.to_owned(), path.clone()));
            }
        }
        out
    }

    /// The table and the document name the same operations: a route added without a rule,
    /// or a rule left for a route that is gone, fails here.
    #[test]
    fn every_documented_operation_has_a_rule_and_every_rule_a_route() {
        let documented = documented();
        let table: BTreeSet<(String, String)> = POLICY
            .iter()
            .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(table.len(), POLICY.len(), "an operation twice in POLICY");
        let undocumented: Vec<_> = table.difference(&documented).collect();
        let unruled: Vec<_> = documented.difference(&table).collect();
        assert!(
            undocumented.is_empty() && unruled.is_empty(),
            "in POLICY but not served: {undocumented:?}; served without a rule: {unruled:?}"
        );
    }

    /// Every route is registered through `routes!` (so it is documented): a plain
    /// `.route(...)` in the service's routers would be served without a description.
    #[test]
    fn routes_are_registered_only_from_documented_handlers() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/app");
        let mut files = vec![dir.clone()];
        let mut offenders = Vec::new();
        while let Some(p) = files.pop() {
            if p.is_dir() {
                for e in std::fs::read_dir(&p).expect("src/app is readable") {
                    files.push(e.expect("a directory entry").path());
                }
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("a source file");
            // Unit tests build their own little routers.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (i, line) in code.lines().enumerate() {
                let l = line.trim_start();
                let raw = [".route(", ".route_service(", ".nest(", ".nest_service("];
                if !l.starts_with("//") && raw.iter().any(|r| l.contains(r)) {
                    offenders.push(format!("{}:{}: {}", p.display(), i + 1, l));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "register routes with `.routes(routes!(handler))` so they are documented:\n{}",
            offenders.join("\n")
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_with_both_credentials() {
        let v: serde_json::Value = serde_json::from_str(document()).expect("JSON");
        assert_eq!(v["openapi"], "3.1.0");
        assert_eq!(v["info"]["title"], "aicall");
        let schemes = &v["components"]["securitySchemes"];
        assert_eq!(schemes[BEARER]["scheme"], "bearer");
        assert_eq!(schemes[SESSION]["in"], "cookie");
        assert_eq!(schemes[SESSION]["name"], SESSION_COOKIE);
        let op = &v["paths"]["/api/v1/campaigns/{name}"]["put"];
        assert_eq!(op["x-aicall-roles"], json!(["admin", "supervisor"]));
        for status in ["400", "401", "403", "404", "409"] {
            assert_eq!(
                op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{status}"
            );
        }
        assert!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .is_some_and(|r| r.ends_with("/EditCampaign"))
        );
        let health = &v["paths"]["/api/v1/health"]["get"];
        assert_eq!(health["security"], json!([{}]));
        assert!(health["responses"].get("401").is_none());
        // An agent acts on its own desk only.
        assert_eq!(
            v["paths"]["/api/v1/agents/{id}/{op}"]["post"]["x-aicall-roles"],
            json!(["admin", "supervisor", "agent (itself)"])
        );
        // Every schema a `$ref` names is in the document.
        let text = document();
        let schemas = v["components"]["schemas"].as_object().expect("schemas");
        for name in text
            .split("\"#/components/schemas/")
            .skip(1)
            .filter_map(|s| s.split('"').next())
        {
            assert!(
                schemas.contains_key(name),
                "{name} is referenced, not defined"
            );
        }
    }

    #[test]
    fn rules_list_their_roles() {
        assert_eq!(Rule::AnyUser.roles().len(), Role::ALL.len());
        assert_eq!(Rule::All(&[Action::ManageUsers]).roles(), ["admin"]);
        let desk = Rule::AgentOr(&[Action::ReadAgents, Action::ReadCalls]);
        assert!(desk.allows(Role::Agent, true));
        assert!(!desk.allows(Role::Agent, false));
        assert!(!desk.allows(Role::Viewer, false), "viewers read no screens");
        assert!(
            !desk.allows(Role::Integration, false),
            "nor do integrations"
        );
        assert!(desk.allows(Role::Supervisor, false));
    }
}
