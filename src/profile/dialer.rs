//! Hand-off to the dialer: the small API `campaign` calls to score stored contacts and to feed
//! call outcomes back into the best-hour model. Owns [`LeadScorer`] (a loaded model directory
//! plus the live best-hour updates written beside it in `hours.json`). Depends on the rest of
//! the profile module and, for the contact and attempt records only, on [`crate::store`].
//!
//! When it runs:
//! - **On import** (`aicall import ... --lead-model DIR`, [`LeadScorer::rescore_campaign`]):
//!   every pending contact of the campaign gets its probability and best hour of day
//!   ([`Contact::score`], [`Contact::best_hour`]), which the queue orders by. The same pass is
//!   `aicall campaign score NAME --model DIR` for a model trained after the import.
//! - **After each call outcome** (the driver, [`after_outcome`]): the attempt's local hour of
//!   week and whether it was answered update the contact's segment prior (Beta-Binomial,
//!   conjugate) and the contact's own counts (rebuilt from its stored attempts, so nothing new
//!   is stored per contact); the contact is rescored with that history and its best hour
//!   recomputed. The segment updates are saved to `DIR/hours.json` every
//!   [`SAVE_EVERY`] outcomes and when the scorer is dropped, tagged with the model's creation
//!   time so that a retrained model never picks up another model's counts.
//!
//! Contact fields map to model columns by name: every imported column (`Contact::pii.fields`)
//! plus `name`. Absent columns and unseen categories are scored as missing (see
//! [`LeadModel::score_with_history`]); scoring never fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::besttime::{self, ContactHours, HourPrior};
use super::model::{LeadModel, LeadScore, FORMAT_NAME};
use super::{ProfileError, Result};
use crate::store::{Attempt, AttemptState, Contact, ContactState, Disposition, Store};

/// File of live best-hour updates inside a model directory.
pub const HOURS_FILE: &str = "hours.json";
/// Live outcomes between two writes of [`HOURS_FILE`].
pub const SAVE_EVERY: u64 = 200;
/// Format version of [`HOURS_FILE`].
const HOURS_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct HoursFile {
    format: String,
    hours_version: u32,
    /// `Manifest::created_unix` of the model these priors belong to.
    model_created_unix: u64,
    priors: Vec<HourPrior>,
}

/// A lead model loaded for the dialer, with its live best-hour updates.
#[derive(Debug)]
pub struct LeadScorer {
    dir: PathBuf,
    model: LeadModel,
    /// Outcomes recorded since the last write of [`HOURS_FILE`].
    unsaved: u64,
}

/// What [`LeadScorer::rescore_campaign`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RescoreReport {
    pub scored: usize,
    /// Contacts whose best hour of day is known (else `best_hour` is left empty).
    pub with_hour: usize,
    /// Columns the model needs that no scored contact had (scored as missing).
    pub missing_columns: Vec<String>,
}

/// The model's input fields of a stored contact: every imported column plus `name`.
pub fn contact_fields(contact: &Contact) -> HashMap<String, String> {
    let mut fields: HashMap<String, String> = contact
        .pii
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(n) = &contact.pii.name {
        fields.entry("name".into()).or_insert_with(|| n.clone());
    }
    fields
}

/// Whether a finished attempt reached a person (what "success" means for best hours).
pub fn answered(disposition: Disposition) -> bool {
    disposition.reached() && disposition != Disposition::Voicemail
}

/// A contact's answer counts by local hour of week from its stored attempts (ended ones with
/// a disposition; calls that never left — gateway down — do not count).
pub fn contact_hours(contact: &Contact, attempts: &[Attempt]) -> ContactHours {
    let mut hours = ContactHours::default();
    for a in attempts {
        match (a.state, a.disposition) {
            (AttemptState::Ended, Some(d)) if d != Disposition::GatewayDown => {
                hours.record(besttime::Attempt {
                    hour: besttime::local_hour_of_week(a.started_at, contact.utc_offset_min),
                    success: answered(d),
                });
            }
            _ => {}
        }
    }
    hours
}

impl LeadScorer {
    /// Best hours to call are chosen among these hours of the week (the campaign's calling
    /// window, from [`crate::campaign::Rules::hours_of_week`]) instead of the model's
    /// default, Monday–Friday 09h–19h. An empty set leaves the default.
    pub fn restrict_hours(&mut self, hours: Vec<usize>) {
        if !hours.is_empty() {
            self.model.allowed_hours = hours;
        }
    }

    /// Loads a model directory (see [`LeadModel::load`]) and its live updates, if any.
    pub fn load(dir: &Path) -> Result<LeadScorer> {
        let mut model = LeadModel::load(dir)?;
        let path = dir.join(HOURS_FILE);
        if path.exists() {
            let bad = |message: String| ProfileError::BadModel {
                path: path.display().to_string(),
                message,
            };
            let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Io {
                path: path.display().to_string(),
                source,
            })?;
            let file: HoursFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
            let created = model.manifest.as_ref().map_or(0, |m| m.created_unix);
            if file.format != FORMAT_NAME || file.hours_version != HOURS_VERSION {
                return Err(bad(format!(
                    "not an aicall hours file of version {HOURS_VERSION}"
                )));
            }
            if file.model_created_unix != created || file.priors.len() != model.segments.len() {
                // Counts of an earlier model in a reused directory: start from the new priors.
                tracing::warn!(
                    path = %path.display(),
                    "live best-hour counts belong to another model; ignored"
                );
            } else if file.priors.iter().any(|p| !p.is_valid()) {
                return Err(bad("invalid prior".into()));
            } else {
                for (s, p) in model.segments.iter_mut().zip(file.priors) {
                    s.prior = p;
                }
            }
        }
        Ok(LeadScorer {
            dir: dir.to_path_buf(),
            model,
            unsaved: 0,
        })
    }

    pub fn model(&self) -> &LeadModel {
        &self.model
    }

    /// Model directory this scorer was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Scores one stored contact (probability, segment, best hours, top reasons).
    pub fn score(&self, contact: &Contact, history: Option<&ContactHours>) -> LeadScore {
        self.model
            .score_with_history(&contact_fields(contact), history)
    }

    /// Writes a score into the contact: probability, and the best local hour of day when the
    /// data identifies one (a weekday-only model leaves it empty until attempts show hours).
    pub fn apply(&self, contact: &mut Contact, score: &LeadScore, history: Option<&ContactHours>) {
        if score.probability.is_finite() {
            contact.score = Some(score.probability.clamp(0.0, 1.0) as f32);
        }
        contact.best_hour = if self.model.hour_identified(score.segment, history) {
            score.best_hours.first().map(|h| (h.hour % 24) as u8)
        } else {
            None
        };
    }

    /// Scores a batch of contacts in parallel, writing each score into its contact.
    pub fn score_batch(&self, contacts: &mut [Contact]) -> Vec<LeadScore> {
        contacts
            .par_iter_mut()
            .map(|c| {
                let s = self.score(c, None);
                self.apply(c, &s, None);
                s
            })
            .collect()
    }

    /// Rescores every pending contact of a campaign (after an import, or for a new model),
    /// with each contact's own attempt history when it has one, and writes them back.
    pub fn rescore_campaign(&self, store: &dyn Store, campaign: &str) -> Result<RescoreReport> {
        let mut contacts: Vec<Contact> = store
            .contacts(campaign)?
            .into_iter()
            .filter(|c| c.state == ContactState::Pending)
            .collect();
        let mut histories: HashMap<u64, ContactHours> = HashMap::new();
        for c in contacts.iter().filter(|c| c.attempts > 0) {
            histories.insert(c.id, contact_hours(c, &store.attempts_of(c.id)?));
        }
        let with_hour = contacts
            .par_iter_mut()
            .map(|c| {
                let h = histories.get(&c.id);
                let s = self.score(c, h);
                self.apply(c, &s, h);
                usize::from(c.best_hour.is_some())
            })
            .sum();
        for chunk in contacts.chunks(10_000) {
            store.put_contacts(chunk)?;
        }
        let missing_columns = self
            .model
            .used
            .iter()
            .map(|&f| &self.model.encoder.features[f].name)
            .filter(|name| {
                !contacts.is_empty()
                    && !contacts.iter().any(|c| {
                        c.pii.fields.contains_key(name.as_str())
                            || (name.as_str() == "name" && c.pii.name.is_some())
                    })
            })
            .cloned()
            .collect();
        Ok(RescoreReport {
            scored: contacts.len(),
            with_hour,
            missing_columns,
        })
    }

    /// Feeds one finished attempt back: the segment prior and the contact's own counts get
    /// the attempt's local hour and whether it was answered; the contact is rescored and its
    /// best hour recomputed. `attempt` is the attempt just finished (not yet stored as ended);
    /// the contact's earlier attempts are read from the store. Calls that never left
    /// (gateway down) change nothing and return `None`.
    pub fn record_outcome(
        &mut self,
        store: &dyn Store,
        contact: &mut Contact,
        attempt: &Attempt,
        disposition: Disposition,
    ) -> Result<Option<LeadScore>> {
        if disposition == Disposition::GatewayDown {
            return Ok(None);
        }
        let earlier: Vec<Attempt> = store
            .attempts_of(contact.id)?
            .into_iter()
            .filter(|a| a.uuid != attempt.uuid)
            .collect();
        let mut hours = contact_hours(contact, &earlier);
        let this = besttime::Attempt {
            hour: besttime::local_hour_of_week(attempt.started_at, contact.utc_offset_min),
            success: answered(disposition),
        };
        hours.record(this);
        let fields = contact_fields(contact);
        let segment = self.model.score(&fields).segment;
        self.model.record_attempt(segment, this);
        let score = self.model.score_with_history(&fields, Some(&hours));
        self.apply(contact, &score, Some(&hours));
        self.unsaved += 1;
        if self.unsaved >= SAVE_EVERY {
            if let Err(e) = self.save_hours() {
                // Try again after the next SAVE_EVERY outcomes, not after every call.
                self.unsaved = 0;
                return Err(e);
            }
        }
        Ok(Some(score))
    }

    /// Writes the live segment priors to `DIR/hours.json` (atomically: temp file + rename).
    pub fn save_hours(&mut self) -> Result<()> {
        let err = |m: String| ProfileError::Save {
            path: self.dir.join(HOURS_FILE).display().to_string(),
            message: m,
        };
        let file = HoursFile {
            format: FORMAT_NAME.into(),
            hours_version: HOURS_VERSION,
            model_created_unix: self.model.manifest.as_ref().map_or(0, |m| m.created_unix),
            priors: self
                .model
                .segments
                .iter()
                .map(|s| s.prior.clone())
                .collect(),
        };
        let text = serde_json::to_string(&file).map_err(|e| err(e.to_string()))?;
        let tmp = self.dir.join(format!("{HOURS_FILE}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, self.dir.join(HOURS_FILE)).map_err(|e| err(e.to_string()))?;
        self.unsaved = 0;
        Ok(())
    }
}

impl Drop for LeadScorer {
    fn drop(&mut self) {
        if self.unsaved > 0 {
            if let Err(e) = self.save_hours() {
                tracing::warn!(error = %e, "live best-hour counts not saved");
            }
        }
    }
}

/// The driver's hook after every call outcome: [`LeadScorer::record_outcome`] under the
/// scorer's lock. A failure is logged and never stops the dialer (the contact keeps its
/// previous score).
pub fn after_outcome(
    scorer: &Mutex<LeadScorer>,
    store: &dyn Store,
    contact: &mut Contact,
    attempt: &Attempt,
    disposition: Disposition,
) {
    let mut guard = match scorer.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Err(e) = guard.record_outcome(store, contact, attempt, disposition) {
        tracing::warn!(contact = contact.id, error = %e, "lead rescoring after the call failed");
    }
}
