//! Training labels for the lead model from what the floor learned: one row per contact whose
//! outcome is final, with its imported fields, whether it bought (`converted`, 1 or 0) and
//! who said so (`outcome_source`: the `agent` who took the call and filed its disposition,
//! else the `bot`'s conversation). `GET /api/v1/campaigns/{name}/labels`; the CLI's
//! `aicall campaign labels NAME --out FILE.csv` writes it as a file that trains as it is:
//! `aicall leads train FILE.csv --target converted` (the trainer never learns from
//! `contact_id` or `outcome_*` columns, which name an identifier and how the call went).
//!
//! A contact's outcome is final once the dialer will not call it again because of what was
//! said: it is done or blocked after a sale, `interested`, `not_interested` or a DNC request
//! (the agent's disposition of its last call when an agent had it, else what the
//! conversation decided). Contacts still to be called, never reached, or whose last call
//! went to an agent who has not filed yet are left out: their label is not known.
//!
//! Personal data: the imported fields leave the service decrypted, so the route takes the
//! role that reads contacts and calls ([`crate::app::control::Action::ReadCalls`]). The phone number is never in
//! the table, nor the name, nor any field whose name says it holds an identifier or a
//! number ([`identifier_name`]: the lead model would never learn from those either).

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{blocking, check_campaign, Ctx, Endpoint, WebResult};
use crate::app::http::ErrorBody;
use crate::call::record::{AgentOutcome, CallRecord};
use crate::outcome::Disposition;
use crate::profile::csv::Table;
use crate::profile::encode::identifier_name;
use crate::store::{Attempt, AttemptState, Contact, ContactState, Store, StoreError};

/// The columns the export writes itself, besides the contact's fields.
pub const CONTACT_ID: &str = "contact_id";
pub const CONVERTED: &str = "converted";
pub const OUTCOME_SOURCE: &str = "outcome_source";

/// Who decided a contact's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeSource {
    /// The agent who took the call, by its disposition.
    Agent,
    /// The AI conversation, by its disposition.
    Bot,
}

impl OutcomeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeSource::Agent => "agent",
            OutcomeSource::Bot => "bot",
        }
    }
}

/// A contact's final outcome, as the lead model learns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    pub converted: bool,
    pub source: OutcomeSource,
}

/// The label of a contact in `state` whose last attempt is `last`, with the disposition an
/// agent filed for that call, if one did; none while the outcome is not final or not known.
pub fn label_of(
    state: ContactState,
    last: Option<&Attempt>,
    agent: Option<&AgentOutcome>,
) -> Option<Label> {
    if !matches!(state, ContactState::Done | ContactState::Blocked) {
        return None;
    }
    let last = last.filter(|a| a.state == AttemptState::Ended)?;
    if let Some(o) = agent {
        return Some(Label {
            converted: o.converted || o.outcome == Some(Disposition::Converted),
            source: OutcomeSource::Agent,
        });
    }
    let converted = match last.disposition? {
        Disposition::Converted => true,
        Disposition::Interested | Disposition::NotInterested | Disposition::Dnc => false,
        // Handed to an agent who has not filed, or nothing was decided: not known.
        _ => return None,
    };
    Some(Label {
        converted,
        source: OutcomeSource::Bot,
    })
}

/// `GET /api/v1/campaigns/{name}/labels`: a table, one row per contact with a final outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Labels {
    pub campaign: String,
    /// `contact_id`, the contact's imported fields (by name), `converted` (`1` or `0`),
    /// `outcome_source` (`agent` or `bot`).
    pub columns: Vec<String>,
    /// One per contact, in import order; a field the contact does not have is empty.
    pub rows: Vec<Vec<String>>,
    /// Rows labelled by an agent's disposition, and by the conversation.
    pub from_agents: usize,
    pub from_bot: usize,
    /// Imported fields left out: their names say they hold an identifier or a number, or
    /// they clash with the export's own columns.
    pub left_out: Vec<String>,
}

impl Labels {
    /// The table of `contacts` (each with its attempts and, by call, the outcomes agents
    /// filed). Pure.
    pub fn of(
        campaign: &str,
        contacts: &[Contact],
        attempts: &HashMap<u64, Vec<Attempt>>,
        agents: &HashMap<String, AgentOutcome>,
    ) -> Labels {
        let mut labelled: Vec<(&Contact, Label)> = contacts
            .iter()
            .filter_map(|c| {
                let last = attempts.get(&c.id).and_then(|a| {
                    a.iter()
                        .filter(|a| a.state == AttemptState::Ended)
                        .max_by_key(|a| (a.number, a.started_at))
                });
                let agent = last.and_then(|a| agents.get(&a.uuid));
                Some((c, label_of(c.state, last, agent)?))
            })
            .collect();
        labelled.sort_by_key(|(c, _)| (c.seq, c.id));
        let own = [CONTACT_ID, CONVERTED, OUTCOME_SOURCE];
        let mut fields = BTreeSet::new();
        let mut left_out = BTreeSet::new();
        for (c, _) in &labelled {
            for name in c.pii.fields.keys() {
                if identifier_name(name) || own.contains(&name.as_str()) {
                    left_out.insert(name.clone());
                } else {
                    fields.insert(name.clone());
                }
            }
        }
        let mut columns = vec![CONTACT_ID.to_owned()];
        columns.extend(fields.iter().cloned());
        columns.extend([CONVERTED.to_owned(), OUTCOME_SOURCE.to_owned()]);
        let rows = labelled
            .iter()
            .map(|(c, label)| {
                let mut row = Vec::with_capacity(columns.len());
                row.push(c.id.to_string());
                row.extend(
                    fields
                        .iter()
                        .map(|f| c.pii.fields.get(f).cloned().unwrap_or_default()),
                );
                row.push(if label.converted { "1" } else { "0" }.to_owned());
                row.push(label.source.as_str().to_owned());
                row
            })
            .collect();
        let from_agents = labelled
            .iter()
            .filter(|(_, l)| l.source == OutcomeSource::Agent)
            .count();
        Labels {
            campaign: campaign.to_owned(),
            columns,
            rows,
            from_agents,
            from_bot: labelled.len() - from_agents,
            left_out: left_out.into_iter().collect(),
        }
    }

    /// A campaign's table, from its stored contacts, attempts and call records. Blocking.
    pub fn read(store: &dyn Store, campaign: &str) -> Result<Labels, StoreError> {
        let contacts = store.contacts(campaign)?;
        let mut attempts = HashMap::new();
        for c in contacts.iter().filter(|c| c.state.is_terminal()) {
            attempts.insert(c.id, store.attempts_of(c.id)?);
        }
        let agents = CallRecord::all(store, campaign)?
            .into_iter()
            .filter_map(|r| Some((r.uuid, r.agent_outcome?)))
            .collect();
        Ok(Labels::of(campaign, &contacts, &attempts, &agents))
    }

    /// The table as the lead model's trainer reads it.
    pub fn table(&self) -> Table {
        Table::new(self.columns.clone(), self.rows.clone())
    }
}

pub(super) fn routes() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new().routes(routes!(labels))
}

/// A campaign's outcomes as training labels for its lead model.
///
/// One row per contact whose outcome is final: its imported fields (decrypted: personal
/// data), `converted` (1 or 0) from the agent's disposition when an agent had the last call,
/// else from the conversation's, and `outcome_source` (`agent` or `bot`). Never the phone
/// number or the name, nor fields named as identifiers or numbers. As a CSV
/// (`aicall campaign labels NAME --out FILE.csv`) it trains as it is:
/// `aicall leads train FILE.csv --target converted`.
#[utoipa::path(get, path = "/api/v1/campaigns/{name}/labels", tag = "contacts",
    params(("name" = String, Path, description = "The campaign")),
    responses(
        (status = 200, description = "The labelled contacts", body = Labels),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
async fn labels(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> WebResult<Labels> {
    let what = format!("labels of {name}");
    let who = ctx.allow(&headers, Endpoint::Labels, &what)?;
    let store = ctx.store.clone();
    let r = blocking(move || {
        check_campaign(store.as_ref(), &name)?;
        Ok(Labels::read(store.as_ref(), &name)?)
    })
    .await;
    Ok(Json(ctx.done(&who, &what, r)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ContactPii, LineType, PhoneKey};
    use std::collections::BTreeMap;

    fn contact(id: u64, state: ContactState, fields: &[(&str, &str)]) -> Contact {
        Contact {
            id,
            campaign: "c".into(),
            phone_key: PhoneKey([0; 32]),
            pii: ContactPii {
                phone: format!("+8613800{id:06}"),
                name: Some(format!("客户{id}")),
                fields: fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            },
            line_type: LineType::Mobile,
            region: "CN".into(),
            utc_offset_min: 480,
            seq: 100 - id,
            score: None,
            best_hour: None,
            state,
            attempts: 1,
            next_at: 0,
            note: String::new(),
        }
    }

    fn ended(contact: u64, number: u32, d: Disposition) -> Attempt {
        Attempt {
            uuid: format!("u{contact}-{number}"),
            contact_id: contact,
            campaign: "c".into(),
            number,
            state: AttemptState::Ended,
            started_at: 1000 * i64::from(number),
            ended_at: Some(1000 * i64::from(number) + 60),
            cause: Some("NORMAL_CLEARING".into()),
            disposition: Some(d),
            callback_at: None,
            gateway: "gw".into(),
            caller_id: "4000".into(),
        }
    }

    fn agent(converted: bool, outcome: Disposition) -> AgentOutcome {
        AgentOutcome {
            agent: "1001".into(),
            outcome: Some(outcome),
            converted,
            notes: String::new(),
            callback_at: None,
            at: 5000,
        }
    }

    /// Agents' dispositions label the calls they had, the conversation the rest; what is
    /// not final or not known is left out; no number, name or identifier field leaves.
    #[test]
    fn agents_and_the_bot_label_final_outcomes_and_nothing_else() {
        use ContactState as S;
        fn fields(age: &str) -> Vec<(&str, &str)> {
            vec![("age", age), ("job", "admin."), ("身份证", "110101")]
        }
        let contacts = vec![
            contact(1, S::Done, &fields("30")),      // agent: a sale
            contact(2, S::Done, &fields("41")),      // agent: not interested
            contact(3, S::Done, &fields("52")),      // bot: not interested
            contact(4, S::Pending, &fields("23")),   // agent: a callback, to be made
            contact(5, S::Done, &fields("35")),      // transferred, nothing filed yet
            contact(6, S::Exhausted, &fields("61")), // never reached
            contact(7, S::Blocked, &[("age", "44"), ("converted", "yes")]), // bot: DNC
        ];
        let attempts: HashMap<u64, Vec<Attempt>> = [
            (1, vec![ended(1, 1, Disposition::Converted)]),
            (2, vec![ended(2, 1, Disposition::NotInterested)]),
            (
                3,
                vec![
                    ended(3, 1, Disposition::NoAnswer),
                    ended(3, 2, Disposition::NotInterested),
                ],
            ),
            (4, vec![ended(4, 1, Disposition::Callback)]),
            (5, vec![ended(5, 1, Disposition::Transferred)]),
            (6, vec![ended(6, 1, Disposition::NoAnswer)]),
            (7, vec![ended(7, 1, Disposition::Dnc)]),
        ]
        .into_iter()
        .collect();
        let agents: HashMap<String, AgentOutcome> = [
            ("u1-1".to_owned(), agent(true, Disposition::Interested)),
            ("u2-1".to_owned(), agent(false, Disposition::NotInterested)),
            ("u4-1".to_owned(), agent(false, Disposition::Callback)),
        ]
        .into_iter()
        .collect();
        let l = Labels::of("c", &contacts, &attempts, &agents);
        assert_eq!(
            l.columns,
            ["contact_id", "age", "job", "converted", "outcome_source"]
        );
        // Import order (seq), not id order.
        assert_eq!(
            l.rows,
            vec![
                vec!["7", "44", "", "0", "bot"],
                vec!["3", "52", "admin.", "0", "bot"],
                vec!["2", "41", "admin.", "0", "agent"],
                vec!["1", "30", "admin.", "1", "agent"],
            ]
        );
        assert_eq!((l.from_agents, l.from_bot), (2, 2));
        assert_eq!(l.left_out, ["converted", "身份证"]);
        let csv = l.table().to_csv(',');
        assert!(!csv.contains("13800"), "no number: {csv}");
        assert!(!csv.contains("客户"), "no name: {csv}");
    }
}
