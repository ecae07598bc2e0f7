//! Durable state of the dialer: campaigns, contacts, attempts, CDRs, the DNC / black / gray
//! lists and the audit trail, behind the [`Store`] trait.
//!
//! [`SledStore`] (module `embedded`) is the embedded default. Personal data (phone numbers,
//! names, every imported field) is encrypted at rest with ChaCha20-Poly1305 ([`crypto`]); a
//! keyed BLAKE3 hash of the E.164 number ([`PhoneKey`]) is the lookup key for lists and
//! frequency history, so nothing in an index reveals a number.
//!
//! The operations that make dialling exactly-once are single transactions here:
//! [`Store::begin_attempt`] (contact → in flight, attempt written as `dialing`, dial recorded in
//! the per-number history, re-checking the DNC and blacklist in the same transaction) and
//! [`Store::finish_attempt`] (and [`Store::refile_attempt`], when an agent files the outcome of
//! an ended call). Depends only on [`crate::outcome`] (the one disposition type).
//!
//! The CRM hook outbox ([`HookDelivery`]) lives here too, so that an outcome enqueued for a
//! CRM survives a crash like the outcome itself.

pub mod crypto;
pub mod embedded;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

pub use crate::outcome::Disposition;
pub use crypto::{KeyError, PhoneKey, PiiCipher};
pub use embedded::SledStore;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sled::Error,
    },
    #[error("database: {0}")]
    Db(#[from] sled::Error),
    #[error("stored record {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("personal data could not be decrypted (wrong key file?) for {key}")]
    Decrypt { key: String },
    #[error("campaign `{0}` does not exist (create it with `aicall campaign create`)")]
    NoCampaign(String),
    #[error("campaign `{0}` already exists")]
    CampaignExists(String),
    #[error("contact {0} does not exist")]
    NoContact(u64),
    #[error("attempt {0} does not exist")]
    NoAttempt(String),
    #[error("contact {contact} cannot start attempt {attempt}: {reason}")]
    AttemptConflict {
        contact: u64,
        attempt: u32,
        reason: String,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// What a campaign is doing. Written in lower case (`running`); databases written before
/// that spelled the names capitalised, which still read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CampaignState {
    #[serde(alias = "Created")]
    Created,
    #[serde(alias = "Running")]
    Running,
    #[serde(alias = "Paused")]
    Paused,
    #[serde(alias = "Stopped")]
    Stopped,
}

/// A stored campaign: its state plus the settings (an opaque JSON document owned by
/// `campaign`, so the store does not depend on it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignRecord {
    pub name: String,
    pub state: CampaignState,
    pub created_at: i64,
    pub settings: serde_json::Value,
}

/// Kind of telephone line, from the number plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineType {
    Mobile,
    Landline,
    Other,
}

/// Where a contact is in its campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactState {
    /// Waiting for `next_at`.
    Pending,
    /// An attempt is in flight (written before the originate).
    InFlight,
    /// Reached and finished (answered, or callback handled): no more attempts.
    Done,
    /// Max attempts used without success.
    Exhausted,
    /// The number cannot be dialled (unallocated, invalid).
    Invalid,
    /// Refused for good: DNC, blacklist, or a window that never opens.
    Blocked,
}

impl ContactState {
    /// No further attempt will ever be made.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ContactState::Done
                | ContactState::Exhausted
                | ContactState::Invalid
                | ContactState::Blocked
        )
    }
}

/// Personal data of a contact: encrypted at rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPii {
    /// E.164, e.g. `+8613800138000`.
    pub phone: String,
    pub name: Option<String>,
    /// Every other imported column.
    pub fields: BTreeMap<String, String>,
}

/// A contact of one campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: u64,
    pub campaign: String,
    pub phone_key: PhoneKey,
    pub pii: ContactPii,
    pub line_type: LineType,
    /// ISO 3166 region of the number, e.g. `CN`.
    pub region: String,
    /// The callee's UTC offset in minutes (from the number's region).
    pub utc_offset_min: i32,
    /// Import order: FIFO when there is no score.
    pub seq: u64,
    /// Lead score (probability of conversion), when the profile model supplied one.
    pub score: Option<f32>,
    /// Best local hour of day (0–23) to reach this callee, when known.
    pub best_hour: Option<u8>,
    pub state: ContactState,
    /// Attempts that reached the network (a gateway that was down does not count).
    pub attempts: u32,
    /// Earliest next attempt, unix seconds.
    pub next_at: i64,
    /// Why the contact is where it is (last refusal or outcome), for `status` and audits.
    pub note: String,
}

/// Where an attempt is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptState {
    /// Written before the originate: the call may or may not exist yet.
    Dialing,
    /// FreeSWITCH answered the originate: the channel is up.
    Answered,
    Ended,
}

/// One dial attempt; its id is the channel UUID given to FreeSWITCH (`origination_uuid`), so
/// the attempt and the channel can always be matched after a crash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub uuid: String,
    pub contact_id: u64,
    pub campaign: String,
    /// 1-based number among the contact's counted attempts.
    pub number: u32,
    pub state: AttemptState,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub cause: Option<String>,
    pub disposition: Option<Disposition>,
    /// When the callee asked to be called back (unix seconds), for a `callback` outcome.
    #[serde(default)]
    pub callback_at: Option<i64>,
    pub gateway: String,
    pub caller_id: String,
}

/// A call detail record written when an attempt ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CdrRecord {
    pub uuid: String,
    pub contact_id: u64,
    pub campaign: String,
    pub cause: String,
    pub answered: bool,
    pub billsec: u64,
    pub started_at: i64,
    pub ended_at: i64,
}

/// The lists compliance consults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ListKind {
    /// Do not call (the callee asked, or a regulator's list).
    Dnc,
    /// Never call (fraud, complaints).
    Black,
    /// Call less often (the campaign's graylist cap applies).
    Gray,
}

impl ListKind {
    fn tag(self) -> u8 {
        match self {
            ListKind::Dnc => b'd',
            ListKind::Black => b'b',
            ListKind::Gray => b'g',
        }
    }
}

/// An entry of a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListEntry {
    pub kind: ListKind,
    pub added_at: i64,
    pub source: String,
}

/// Which lists a number is on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListFlags {
    pub dnc: bool,
    pub black: bool,
    pub gray: bool,
}

/// One line of the audit trail: why a number was or was not called at a moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: i64,
    pub campaign: String,
    pub contact_id: u64,
    /// `dial`, `refuse`, `outcome`, `list`.
    pub action: String,
    pub reason: String,
}

/// A user of the service's control surfaces (API, console, CLI, dashboard). The API key is
/// kept only as its BLAKE3 hash and the dashboard password as an Argon2id PHC string: a
/// stolen database does not give access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    /// `admin`, `supervisor`, `agent`, `viewer` or `integration`.
    pub role: String,
    /// Hex BLAKE3 of the user's API key.
    pub key_hash: String,
    pub created_at: i64,
    /// The dashboard log-in password (`$argon2id$...`); none: the user has only the key.
    /// Records written before passwords existed read as none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

/// One request to the service, allowed or refused: who, when, what, how it went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ControlAudit {
    /// Unix ms.
    pub at_ms: i64,
    /// The user, or `-` when nobody could be identified.
    pub user: String,
    pub role: String,
    /// `http`, `console`.
    pub surface: String,
    /// What was asked, e.g. `campaign pause spring` (never a full phone number).
    pub action: String,
    /// `ok`, `denied: ...`, `unauthenticated`, `error: ...`.
    pub result: String,
}

/// Counts of a campaign's contacts and attempts, for `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CampaignCounts {
    pub contacts: u64,
    pub by_state: BTreeMap<String, u64>,
    pub attempts: u64,
    pub answered: u64,
    pub abandoned: u64,
}

/// A CRM hook delivery (`app::hooks`): in the outbox until the receiver accepts it, then
/// remembered by id so that the same outcome is never enqueued twice; in the dead letters
/// after its last try, until someone retries it. Sealed at rest (the body carries the
/// transcript and the contact's data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookDelivery {
    /// The delivery id (`X-Aicall-Delivery`), the same on every try and retry.
    pub id: String,
    pub campaign: String,
    /// Unix ms it was enqueued.
    pub created_ms: i64,
    /// Tries so far.
    pub tries: u32,
    /// Unix ms of the next try.
    pub next_ms: i64,
    /// Why the last try failed.
    pub last_error: Option<String>,
    /// The JSON body, exactly as POSTed and signed.
    pub body: String,
}

/// Storage of everything the dialer must not lose. Implementations are crash-consistent per
/// call: after a crash every operation either happened or did not.
pub trait Store: Send + Sync + std::fmt::Debug {
    fn phone_key(&self, e164: &str) -> PhoneKey;

    fn create_campaign(&self, record: &CampaignRecord) -> Result<(), StoreError>;
    fn campaign(&self, name: &str) -> Result<CampaignRecord, StoreError>;
    fn put_campaign(&self, record: &CampaignRecord) -> Result<(), StoreError>;
    fn campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError>;

    /// Reserves `n` consecutive contact ids.
    fn reserve_ids(&self, n: u64) -> Result<u64, StoreError>;
    /// Inserts or replaces contacts (one batch, one write).
    fn put_contacts(&self, contacts: &[Contact]) -> Result<(), StoreError>;
    fn contact(&self, id: u64) -> Result<Contact, StoreError>;
    /// Phone key → contact id of every contact of a campaign (one scan; for merging an
    /// import into the contacts already there).
    fn phone_index(&self, campaign: &str) -> Result<HashMap<PhoneKey, u64>, StoreError>;
    /// Every contact of a campaign, decrypted.
    fn contacts(&self, campaign: &str) -> Result<Vec<Contact>, StoreError>;
    fn put_contact(&self, contact: &Contact) -> Result<(), StoreError>;

    /// In one transaction: checks the contact is pending with `attempt.number - 1` counted
    /// attempts and on no DNC/blacklist, marks it in flight, writes the attempt as `dialing`,
    /// and records the dial time in the number's history.
    fn begin_attempt(&self, attempt: &Attempt) -> Result<(), StoreError>;
    /// Marks an answered attempt.
    fn mark_answered(&self, uuid: &str) -> Result<(), StoreError>;
    /// In one transaction: ends the attempt, writes its CDR and the contact's new state.
    fn finish_attempt(
        &self,
        attempt: &Attempt,
        cdr: &CdrRecord,
        contact: &Contact,
    ) -> Result<(), StoreError>;
    /// In one transaction: rewrites an ended attempt's outcome (the disposition an agent
    /// filed for a call the desk took) and writes its contact's new state. Refused with
    /// [`StoreError::AttemptConflict`] unless the attempt has ended and is still the contact's
    /// latest, with nothing in flight.
    fn refile_attempt(&self, attempt: &Attempt, contact: &Contact) -> Result<(), StoreError>;
    fn attempt(&self, uuid: &str) -> Result<Attempt, StoreError>;
    /// Attempts of a campaign still `dialing` or `answered` (to reconcile after a crash).
    fn open_attempts(&self, campaign: &str) -> Result<Vec<Attempt>, StoreError>;
    fn attempts_of(&self, contact_id: u64) -> Result<Vec<Attempt>, StoreError>;
    fn cdr(&self, uuid: &str) -> Result<Option<CdrRecord>, StoreError>;

    /// Dial times (unix s) of a number across every campaign, at or after `since`.
    fn dial_history(&self, key: &PhoneKey, since: i64) -> Result<Vec<i64>, StoreError>;
    /// Every number's dial times at or after `since` (the dialer's in-memory cap state).
    fn all_dial_history(&self, since: i64) -> Result<Vec<(PhoneKey, i64)>, StoreError>;

    fn list_add(&self, key: &PhoneKey, entry: &ListEntry) -> Result<(), StoreError>;
    fn list_remove(&self, key: &PhoneKey, kind: ListKind) -> Result<bool, StoreError>;
    fn list_flags(&self, key: &PhoneKey) -> Result<ListFlags, StoreError>;
    /// Every listed number, for the dialer's in-memory compliance state.
    fn list_all(&self) -> Result<Vec<(PhoneKey, ListKind)>, StoreError>;

    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    fn audit_trail(&self, contact_id: u64) -> Result<Vec<AuditEntry>, StoreError>;

    fn counts(&self, campaign: &str) -> Result<CampaignCounts, StoreError>;

    /// Stores a call's record (CDR, transcript, path, decisions — personal data: sealed with
    /// the PII key), replacing an earlier one for the same channel.
    fn put_call_record(&self, campaign: &str, uuid: &str, record: &[u8]) -> Result<(), StoreError>;
    /// A call's record, opened.
    fn call_record(&self, campaign: &str, uuid: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every call record of a campaign, opened, in channel-UUID order.
    fn call_records(&self, campaign: &str) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Adds or replaces a user of the control surfaces.
    fn put_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// Every user, by name.
    fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Removes a user; false when there was none of that name.
    fn remove_user(&self, name: &str) -> Result<bool, StoreError>;
    /// Appends to the control audit trail.
    fn audit_control(&self, entry: &ControlAudit) -> Result<(), StoreError>;
    /// The control audit trail from `since_ms` (unix ms) on, oldest first.
    fn control_audit(&self, since_ms: i64) -> Result<Vec<ControlAudit>, StoreError>;

    /// Makes every write so far durable (fsync). Called before originates are sent.
    fn flush(&self) -> Result<(), StoreError>;

    /// Puts a CRM hook delivery in the outbox unless its id is already in the outbox, the
    /// dead letters or the delivered set (one transaction); false when it was.
    fn hook_enqueue(&self, d: &HookDelivery) -> Result<bool, StoreError>;
    /// Every delivery waiting in the outbox.
    fn hook_outbox(&self) -> Result<Vec<HookDelivery>, StoreError>;
    /// One delivery waiting in the outbox.
    fn hook_pending(&self, id: &str) -> Result<Option<HookDelivery>, StoreError>;
    /// Rewrites a delivery that is still in the outbox (after a failed try); false when it
    /// is not there any more.
    fn hook_reschedule(&self, d: &HookDelivery) -> Result<bool, StoreError>;
    /// Moves a delivery from the outbox to the delivered set, at unix ms `at_ms`.
    fn hook_delivered(&self, id: &str, at_ms: i64) -> Result<(), StoreError>;
    /// Moves a delivery from the outbox to the dead letters, as `d` (its last error).
    fn hook_bury(&self, d: &HookDelivery) -> Result<(), StoreError>;
    /// Every dead letter.
    fn hook_dead_letters(&self) -> Result<Vec<HookDelivery>, StoreError>;
    /// Moves a dead letter back to the outbox with its tries reset, due at `now_ms`; `None`
    /// when there is no dead letter of that id.
    fn hook_revive(&self, id: &str, now_ms: i64) -> Result<Option<HookDelivery>, StoreError>;
    /// Forgets the ids delivered before `before_ms`; how many.
    fn hook_forget_delivered(&self, before_ms: i64) -> Result<usize, StoreError>;
    /// Unix s up to which every ended call has been considered for a hook (`None`: never).
    fn hook_watermark(&self) -> Result<Option<i64>, StoreError>;
    fn set_hook_watermark(&self, at: i64) -> Result<(), StoreError>;
    /// The CDRs of calls that ended at or after `since` (unix s), in no particular order.
    fn cdrs_since(&self, since: i64) -> Result<Vec<CdrRecord>, StoreError>;
    /// Seals a secret setting (a webhook secret) with the PII key, as `sealed:v1:<hex>`.
    fn seal_secret(&self, clear: &str) -> String;
    /// Opens what [`Store::seal_secret`] sealed.
    fn open_secret(&self, sealed: &str) -> Result<String, StoreError>;
}

/// The prefix of a secret sealed by [`Store::seal_secret`].
pub const SEALED_PREFIX: &str = "sealed:v1:";
