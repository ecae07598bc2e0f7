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
//! - [`share`]: the service's lines shared fairly between its running campaigns.
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
pub mod share;
pub mod zones;

use serde::{Deserialize, Serialize};

use crate::store::{CampaignRecord, CampaignState};

pub use compliance::{CallingWindow, Compliance, FrequencyCaps, Refusal, Rules, TimeRange};
pub use pacing::{
    AgentAvailability, AgentSnapshot, LinePool, PacingConfig, PredictiveConfig, SharedAgents,
};
pub use retry::RetryPolicy;

/// A campaign's settings (stored as JSON in its [`CampaignRecord`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// How the campaign's calls converse (the script and the turn settings).
    pub call: CallSettings,
}

/// How a campaign's calls converse, stored with the campaign so that `aicall serve` runs
/// each campaign as it was created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CallSettings {
    /// The call script (TOML) as it was validated when the campaign was created or edited;
    /// empty: a dialer-only campaign whose answered calls park.
    pub script: String,
    /// Where the script was read from: its recorded prompts are found relative to it.
    #[schema(value_type = String)]
    pub script_path: std::path::PathBuf,
    /// The callees' IANA time zone (callback times they name are resolved in it).
    pub tz: String,
    /// Where a transfer sends the call (`uuid_transfer` destination); `{queue}` becomes the
    /// queue the script names.
    pub transfer_to: String,
    /// Silence that ends the callee's turn (ms).
    pub end_silence_ms: u32,
    /// Silence before "no input", replacing the script's default (nodes that set their own
    /// keep it); none: the script's.
    pub no_input_ms: Option<u32>,
    /// Recognition language, `zh`, `en` or `auto`; none: the script's.
    pub language: Option<String>,
    /// Lead model directory (`aicall leads train`): scores, best hours, rescoring after
    /// every outcome.
    #[schema(value_type = Option<String>)]
    pub lead_model: Option<std::path::PathBuf>,
    /// The campaign's share of the service's lines and decode time against the other
    /// running campaigns (relative weight, at least 1).
    pub weight: u32,
    /// Where each call's outcome is POSTed as JSON (`app::hooks`); empty: no CRM hook.
    pub webhook_url: String,
    /// The HMAC-SHA256 key of the hook's `X-Aicall-Signature`. Given in clear, stored and
    /// shown sealed with the PII key (`sealed:v1:…`), which may be sent back as it is.
    pub webhook_secret: String,
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            script: String::new(),
            script_path: std::path::PathBuf::new(),
            tz: "Asia/Shanghai".into(),
            transfer_to: "aicall_queue_{queue} XML aicall".into(),
            end_silence_ms: 400,
            no_input_ms: None,
            language: None,
            lead_model: None,
            weight: 1,
            webhook_url: String::new(),
            webhook_secret: String::new(),
        }
    }
}

/// Shortest webhook secret accepted (the receiver's HMAC key).
pub const MIN_WEBHOOK_SECRET: usize = 16;

impl CallSettings {
    /// Checks the CRM hook's URL and secret. Messages never repeat the URL: it may carry
    /// credentials or a token, and refusals are logged and audited.
    pub fn validate_webhook(&self) -> Result<(), String> {
        let url = self.webhook_url.trim();
        if url.is_empty() {
            return Ok(());
        }
        if url.len() > 2048 {
            return Err("call.webhook_url: longer than 2048 characters".into());
        }
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("call.webhook_url: not an absolute URL ({e})"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "call.webhook_url: scheme `{}`; use http or https",
                parsed.scheme()
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err("call.webhook_url: no host".into());
        }
        if parsed.fragment().is_some() {
            return Err("call.webhook_url: a URL with a #fragment (never sent to a server)".into());
        }
        let secret = self.webhook_secret.trim();
        if secret.is_empty() {
            return Err(format!(
                "call.webhook_secret: required with call.webhook_url (the receiver checks \
                 X-Aicall-Signature with it); use at least {MIN_WEBHOOK_SECRET} characters"
            ));
        }
        if !secret.starts_with(crate::store::SEALED_PREFIX)
            && secret.chars().count() < MIN_WEBHOOK_SECRET
        {
            return Err(format!(
                "call.webhook_secret: {} characters; use at least {MIN_WEBHOOK_SECRET}",
                secret.chars().count()
            ));
        }
        Ok(())
    }

    /// The callees' time zone.
    pub fn time_zone(&self) -> Result<chrono_tz::Tz, String> {
        self.tz.parse().map_err(|_| {
            format!(
                "call.tz: `{}` is not an IANA time zone (e.g. Asia/Shanghai, Europe/London)",
                self.tz
            )
        })
    }
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
            call: CallSettings::default(),
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

    /// Checks every setting a dialer and its calls use, naming the first that is wrong
    /// (the script and the lead model are checked by whoever can load them).
    pub fn validate(&self) -> Result<(), String> {
        phone::region(&self.default_region).map_err(|e| format!("default_region: {e}"))?;
        Rules::new(&self.window, &self.caps, self.max_attempts)
            .map_err(|e| format!("window: {e}"))?;
        if self.max_attempts == 0 {
            return Err("max_attempts: must be at least 1".into());
        }
        let p = &self.pacing;
        if p.max_concurrent == 0 {
            return Err("pacing.max_concurrent: must be at least 1".into());
        }
        if !(p.calls_per_s > 0.0 && p.calls_per_s.is_finite()) {
            return Err(format!(
                "pacing.calls_per_s: {} is not a positive rate",
                p.calls_per_s
            ));
        }
        if p.pools.is_empty() {
            return Err("pacing.pools: a campaign needs at least one line pool".into());
        }
        for (i, pool) in p.pools.iter().enumerate() {
            if pool.capacity == 0 {
                return Err(format!("pacing.pools[{i}] ({}): capacity 0", pool.name));
            }
        }
        pacing::render_dial_string(&p.dial_template, |_| Some("x".into()))
            .map_err(|e| format!("pacing.dial_template: {e}"))?;
        if p.originate_timeout_s == 0 {
            return Err("pacing.originate_timeout_s: must be at least 1".into());
        }
        let c = &self.call;
        c.time_zone()?;
        if !c.transfer_to.contains(char::is_alphanumeric) {
            return Err("call.transfer_to: empty destination".into());
        }
        if !(100..=5000).contains(&c.end_silence_ms) {
            return Err(format!(
                "call.end_silence_ms: {} ms; use 100 to 5000 (400 is usual)",
                c.end_silence_ms
            ));
        }
        if let Some(ms) = c.no_input_ms {
            if !(500..=60_000).contains(&ms) {
                return Err(format!(
                    "call.no_input_ms: {ms} ms; use 500 to 60000 (5000 is usual)"
                ));
            }
        }
        if let Some(l) = &c.language {
            if !matches!(l.as_str(), "zh" | "en" | "auto") {
                return Err(format!("call.language: `{l}`; use zh, en or auto"));
            }
        }
        if c.weight == 0 {
            return Err("call.weight: must be at least 1".into());
        }
        c.validate_webhook()?;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_settings_are_checked_naming_the_key_and_never_the_url() {
        let with = |url: &str, secret: &str| {
            let mut s = CampaignSettings::default();
            s.call.webhook_url = url.into();
            s.call.webhook_secret = secret.into();
            s.validate()
        };
        assert_eq!(with("", ""), Ok(()), "no hook");
        assert_eq!(
            with("https://crm.example.com/hooks/aicall", "0123456789abcdef"),
            Ok(())
        );
        assert_eq!(
            with("http://10.0.0.5:8080/h?token=x", "0123456789abcdef"),
            Ok(())
        );
        assert_eq!(with("https://crm.example.com/h", "sealed:v1:00ff"), Ok(()));
        for (url, secret, key) in [
            (
                "crm.example.com/hooks",
                "0123456789abcdef",
                "call.webhook_url",
            ),
            (
                "ftp://crm.example.com/x",
                "0123456789abcdef",
                "call.webhook_url",
            ),
            (
                "https://crm.example.com/h#x",
                "0123456789abcdef",
                "call.webhook_url",
            ),
            ("https://crm.example.com/h", "", "call.webhook_secret"),
            ("https://crm.example.com/h", "short", "call.webhook_secret"),
        ] {
            let e = with(url, secret).expect_err(url);
            assert!(e.starts_with(key), "{url}: {e}");
            assert!(!e.contains("crm.example.com"), "the URL stays out: {e}");
        }
    }
}
