//! Who may do what on the service, and the record of every request.
//!
//! Every control surface (the HTTP API the CLI uses, and the supervisor console) identifies
//! its caller by an API key, maps the request to an [`Action`], asks [`Access::allow`] and
//! writes a [`ControlAudit`] line whatever the answer. Keys are random 256-bit tokens shown
//! once; the store keeps only their BLAKE3 hash (a salted slow hash buys nothing for keys
//! with this much entropy, and a lookup per request must be cheap).
//!
//! The roles: `admin` (everything, users included), `supervisor` (campaign control, DNC,
//! reading everything), `integration` (contacts in, DNC, reading calls, the live feed, the
//! CRM hooks' dead letters), `agent` (its own desktop), `viewer` (reading figures, watching
//! the dashboard, `/metrics`). One table, [`Action::allowed`], is the policy.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::{ControlAudit, Store, StoreError, UserRecord};

/// A role of the control surfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Supervisor,
    Agent,
    Viewer,
    Integration,
}

impl Role {
    pub const ALL: &'static [Role] = &[
        Role::Admin,
        Role::Supervisor,
        Role::Agent,
        Role::Viewer,
        Role::Integration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
            Role::Integration => "integration",
        }
    }

    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == s.trim())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request does, as far as permission goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Campaign list, one campaign, its figures; the service's status.
    ReadCampaigns,
    CreateCampaign,
    EditCampaign,
    ImportContacts,
    /// Start, pause, resume, stop.
    ControlCampaign,
    /// Call records and transcripts.
    ReadCalls,
    DncAdd,
    DncRemove,
    DncCheck,
    ManageUsers,
    ReadAudit,
    /// The agents and queues of aicall's desk.
    ReadAgents,
    /// Log in, ready, break, log out — an agent for itself, a supervisor for anyone.
    ControlAgent,
    /// File a call's disposition — the agent who had the call.
    AgentDisposition,
    /// The live dashboard: the event feed, the calls up (without their words unless the
    /// role may also [`Action::ReadCalls`]), agents and queues.
    Watch,
    /// The CRM hooks' dead letters.
    ReadHooks,
    /// Sending a dead letter again.
    RetryHooks,
    /// Prometheus `/metrics`.
    ReadMetrics,
}

impl Action {
    /// The policy: whether `role` may do this.
    pub fn allowed(self, role: Role) -> bool {
        use Action as A;
        use Role as R;
        match role {
            R::Admin => true,
            R::Supervisor => !matches!(self, A::ManageUsers),
            R::Integration => matches!(
                self,
                A::ReadCampaigns
                    | A::ImportContacts
                    | A::ReadCalls
                    | A::DncAdd
                    | A::DncCheck
                    | A::Watch
                    | A::ReadHooks
                    | A::RetryHooks
                    | A::ReadMetrics
            ),
            R::Viewer => matches!(
                self,
                A::ReadCampaigns | A::ReadAgents | A::Watch | A::ReadMetrics
            ),
            // An agent works its own desk (the handlers check it is its own); it reads
            // nothing of the campaigns.
            R::Agent => matches!(self, A::ReadAgents | A::ControlAgent | A::AgentDisposition),
        }
    }
}

/// Someone identified by their key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: Role,
}

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("no API key given: send `Authorization: Bearer <key>` (the admin key is in the file `aicall serve` names at start-up)")]
    Missing,
    #[error("unknown API key")]
    Unknown,
    #[error("`{user}` ({role}) may not {action}")]
    Denied {
        user: String,
        role: Role,
        action: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The BLAKE3 hash of a key, as stored.
pub fn key_hash(key: &str) -> String {
    blake3::hash(key.trim().as_bytes()).to_hex().to_string()
}

/// A new random API key.
pub fn new_key() -> String {
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("aicall_{hex}")
}

/// The users and the audit trail, over the store.
#[derive(Clone, Debug)]
pub struct Access {
    store: Arc<dyn Store>,
}

impl Access {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Who holds `key`.
    pub fn identify(&self, key: Option<&str>) -> Result<Principal, AccessError> {
        let key = key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(AccessError::Missing)?;
        let hash = key_hash(key);
        let user = self
            .store
            .users()?
            .into_iter()
            .find(|u| constant_time_eq(u.key_hash.as_bytes(), hash.as_bytes()))
            .ok_or(AccessError::Unknown)?;
        let role = Role::from_name(&user.role).ok_or(AccessError::Unknown)?;
        Ok(Principal {
            user: user.name,
            role,
        })
    }

    /// Identifies the caller and checks `action`; `what` describes the request for the
    /// audit line, which is written whatever the answer.
    pub fn allow(
        &self,
        surface: &str,
        key: Option<&str>,
        action: Action,
        what: &str,
    ) -> Result<Principal, AccessError> {
        let outcome = self.identify(key).and_then(|p| {
            if action.allowed(p.role) {
                Ok(p)
            } else {
                Err(AccessError::Denied {
                    user: p.user,
                    role: p.role,
                    action: what.to_owned(),
                })
            }
        });
        let (user, role, result) = match &outcome {
            Ok(p) => (
                p.user.clone(),
                p.role.as_str().to_owned(),
                "allowed".to_owned(),
            ),
            Err(AccessError::Denied { user, role, .. }) => {
                (user.clone(), role.as_str().to_owned(), "denied".to_owned())
            }
            Err(e) => ("-".into(), "-".into(), format!("unauthenticated: {e}")),
        };
        self.audit(surface, &user, &role, what, &result);
        outcome
    }

    /// Records how an allowed request went.
    pub fn done(&self, surface: &str, who: &Principal, what: &str, result: &str) {
        self.audit(surface, &who.user, who.role.as_str(), what, result);
    }

    /// Records a request refused before anyone was identified (a surface with its own
    /// credentials, e.g. the dashboard's session cookie): `user` is who it claimed to be.
    pub fn refused(&self, surface: &str, user: &str, what: &str, reason: &str) {
        self.audit(
            surface,
            user,
            "-",
            what,
            &format!("unauthenticated: {reason}"),
        );
    }

    fn audit(&self, surface: &str, user: &str, role: &str, what: &str, result: &str) {
        let entry = ControlAudit {
            at_ms: unix_ms(),
            user: user.to_owned(),
            role: role.to_owned(),
            surface: surface.to_owned(),
            action: what.to_owned(),
            result: result.to_owned(),
        };
        if let Err(e) = self.store.audit_control(&entry) {
            tracing::warn!(error = %e, "cannot write the control audit");
        }
    }

    /// Adds a user with a new key; returns the key (shown once, stored hashed).
    pub fn add_user(&self, name: &str, role: Role) -> Result<String, AccessError> {
        self.add_user_with(name, role, None)
    }

    /// Adds a user with a new key and, for the dashboard's log-in, a password already hashed
    /// (`app::web::hash_password`); returns the key (shown once, stored hashed).
    pub fn add_user_with(
        &self,
        name: &str,
        role: Role,
        password_hash: Option<String>,
    ) -> Result<String, AccessError> {
        let key = new_key();
        self.store.put_user(&UserRecord {
            name: name.to_owned(),
            role: role.as_str().to_owned(),
            key_hash: key_hash(&key),
            created_at: unix_ms() / 1000,
            password_hash,
        })?;
        self.store.flush()?;
        Ok(key)
    }

    /// On a store with no user: creates `admin` and writes its key to `key_file` (mode 0600),
    /// for the local CLI. Returns whether it did.
    pub fn bootstrap(&self, key_file: &Path) -> Result<bool, AccessError> {
        if !self.store.users()?.is_empty() {
            return Ok(false);
        }
        let key = self.add_user("admin", Role::Admin)?;
        write_private(key_file, &format!("{key}\n")).map_err(|e| {
            AccessError::Store(StoreError::Corrupt {
                key: key_file.display().to_string(),
                reason: format!("cannot write the admin key: {e}"),
            })
        })?;
        Ok(true)
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_table() {
        use Action as A;
        for a in [
            A::ReadCampaigns,
            A::CreateCampaign,
            A::EditCampaign,
            A::ImportContacts,
            A::ControlCampaign,
            A::ReadCalls,
            A::DncAdd,
            A::DncRemove,
            A::DncCheck,
            A::ManageUsers,
            A::ReadAudit,
            A::ReadAgents,
            A::ControlAgent,
            A::AgentDisposition,
            A::Watch,
            A::ReadHooks,
            A::RetryHooks,
            A::ReadMetrics,
        ] {
            assert!(a.allowed(Role::Admin), "{a:?}");
            assert_eq!(
                a.allowed(Role::Agent),
                matches!(a, A::ReadAgents | A::ControlAgent | A::AgentDisposition),
                "{a:?}"
            );
            assert_eq!(a.allowed(Role::Supervisor), a != A::ManageUsers, "{a:?}");
            assert_eq!(
                a.allowed(Role::Viewer),
                matches!(
                    a,
                    A::ReadCampaigns | A::ReadAgents | A::Watch | A::ReadMetrics
                ),
                "{a:?}"
            );
        }
        assert!(A::Watch.allowed(Role::Integration));
        assert!(A::RetryHooks.allowed(Role::Integration));
        assert!(A::ImportContacts.allowed(Role::Integration));
        assert!(!A::ControlCampaign.allowed(Role::Integration));
        assert!(!A::DncRemove.allowed(Role::Integration));
    }

    #[test]
    fn keys_are_stored_hashed_and_identify_their_user() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(
            crate::store::SledStore::open_with(dir.path(), crate::store::PiiCipher::new([1; 32]))
                .expect("store"),
        );
        let access = Access::new(store.clone());
        let key_file = dir.path().join("admin.key");
        assert!(access.bootstrap(&key_file).expect("bootstrap"));
        assert!(!access.bootstrap(&key_file).expect("second bootstrap"));
        let admin_key = std::fs::read_to_string(&key_file).expect("key file");
        let viewer_key = access.add_user("wall", Role::Viewer).expect("user");
        for u in store.users().expect("users") {
            assert!(!u.key_hash.contains(admin_key.trim()) && !u.key_hash.contains(&viewer_key));
        }
        let p = access
            .allow("http", Some(&admin_key), Action::ManageUsers, "users")
            .expect("admin");
        assert_eq!(p.role, Role::Admin);
        assert!(matches!(
            access.allow(
                "http",
                Some(&viewer_key),
                Action::ControlCampaign,
                "campaign pause x"
            ),
            Err(AccessError::Denied { .. })
        ));
        assert!(matches!(
            access.allow(
                "http",
                Some("aicall_nope"),
                Action::ReadCampaigns,
                "campaigns"
            ),
            Err(AccessError::Unknown)
        ));
        assert!(matches!(
            access.allow("http", None, Action::ReadCampaigns, "campaigns"),
            Err(AccessError::Missing)
        ));
        let trail = store.control_audit(0).expect("audit");
        assert_eq!(trail.len(), 4, "every attempt is audited: {trail:?}");
        assert_eq!(trail[1].result, "denied");
        assert!(trail[3].result.starts_with("unauthenticated"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_file)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the admin key file is private");
        }
    }
}
