//! Outbound campaigns: who to call, when, how fast — within the law, and without ever losing
//! or double-dialling a contact.
//!
//! One file per concern. The deciding parts are pure (they take `now` and return decisions;
//! no sockets, clocks, tasks or database):
//!
//! - [`phone`]: numbers to E.164 with line type, region and UTC offset.
//! - [`zones`]: the callee's IANA time zone(s) from the number (region, NANP area code…).
//! - [`compliance`]: DNC / black / gray lists, frequency caps, calling windows in the callee's
//!   local time, max attempts; every refusal has a reason and a "try again at".
//! - [`retry`]: what happens after each outcome (by hangup cause / disposition), with jitter.
//! - [`queue`]: the in-memory schedule: ordering by lead score and best hour, else FIFO, and
//!   the next-batch decision.
//! - [`pacing`]: concurrency, calls per second, line pools with caller-ID rotation, the dial
//!   string template, predictive pacing with an abandon-rate cap (agents read through
//!   [`AgentAvailability`], which the routing side implements).
//!
//! At the edges: [`import`] (CSV / XLSX files into the store, with a rejects report) and
//! [`driver`] (the tokio task that carries decisions out over ESL and keeps the store
//! crash-consistent). The `aicall bench dialer` measurements live in the binary.
//!
//! May depend on `store`, `esl`, `profile` (lead scores), `pii`; never on `sim`.

pub mod compliance;
pub mod driver;
pub mod import;
pub mod pacing;
pub mod phone;
pub mod queue;
pub mod retry;
pub mod zones;

use serde::{Deserialize, Serialize};

use crate::store::{CampaignRecord, CampaignState};

pub use compliance::{CallingWindow, Compliance, FrequencyCaps, Refusal, Rules, TimeRange};
pub use pacing::{
    AgentAvailability, AgentSnapshot, LinePool, PacingConfig, PredictiveConfig, SharedAgents,
};
pub use retry::RetryPolicy;

/// A campaign's settings (stored as JSON in its [`CampaignRecord`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignSettings {
    /// Region used for numbers written without a country code (ISO 3166, e.g. `CN`).
    pub default_region: String,
    pub window: CallingWindow,
    pub caps: FrequencyCaps,
    /// Counted attempts per contact, retries included.
    pub max_attempts: u32,
    pub retry: RetryPolicy,
    pub pacing: PacingConfig,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            default_region: "CN".into(),
            window: CallingWindow::default(),
            caps: FrequencyCaps::default(),
            max_attempts: 3,
            retry: RetryPolicy::default(),
            pacing: PacingConfig::default(),
        }
    }
}

/// Errors about a campaign's settings.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("campaign settings of `{campaign}` are invalid: {reason}")]
    Invalid { campaign: String, reason: String },
    #[error("settings file {path}: {reason}")]
    File { path: String, reason: String },
}

impl CampaignSettings {
    /// The settings stored in a campaign record.
    pub fn of(record: &CampaignRecord) -> Result<Self, SettingsError> {
        serde_json::from_value(record.settings.clone()).map_err(|e| SettingsError::Invalid {
            campaign: record.name.clone(),
            reason: e.to_string(),
        })
    }

    /// A new campaign record with these settings.
    pub fn record(&self, name: &str, now: i64) -> CampaignRecord {
        CampaignRecord {
            name: name.to_owned(),
            state: CampaignState::Created,
            created_at: now,
            // A struct of strings, numbers and vectors always converts to a JSON value.
            settings: serde_json::to_value(self).expect("settings serialise to JSON"),
        }
    }

    /// Reads settings from a TOML file (any field may be left out).
    pub fn load(path: &std::path::Path) -> Result<Self, SettingsError> {
        let err = |reason: String| SettingsError::File {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        toml::from_str(&text).map_err(|e| err(e.to_string()))
    }
}
