//! Customer features from aicall's own interaction history: recency / frequency / monetary
//! style aggregates, response patterns and interest signals per contact, computed from the
//! call records the call layer keeps (one [`Interaction`] per attempt). Owns the aggregation
//! and the join onto a contact table; depends on [`super::besttime`] and [`super::csv`].
//!
//! The aggregates are plain contact fields (`hist_*` names), so the encoder, the booster,
//! the segments and the scoring API treat them like any imported column, and a contact with
//! no history simply has them missing. `now` is an argument: nothing here reads a clock.

use std::collections::HashMap;

use super::besttime::{Attempt, ContactHours, HOURS_PER_WEEK};
use super::csv::Table;
use super::{ProfileError, Result};

/// One call attempt as the call layer records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    pub contact_id: String,
    /// Start of the attempt, seconds since the Unix epoch.
    pub at_unix: i64,
    /// Hour of week in the callee's local time (0 = Monday 00h).
    pub hour_of_week: usize,
    pub answered: bool,
    /// Talk time in seconds (0 when not answered).
    pub talk_seconds: f64,
    /// Final disposition, e.g. `converted`, `callback`, `not_interested`, `no_answer`.
    pub disposition: String,
    /// Main intent the NLU heard, if any (e.g. `price_question`).
    pub intent: Option<String>,
}

/// Dispositions that count as a conversion.
const CONVERTED: [&str; 3] = ["converted", "sale", "subscribed"];

/// Names of the fields [`aggregate`] produces, in column order.
pub const FIELDS: [&str; 9] = [
    "hist_attempts",
    "hist_answer_rate",
    "hist_days_since_last",
    "hist_talk_seconds",
    "hist_converted_before",
    "hist_last_disposition",
    "hist_top_intent",
    "hist_best_hour",
    "hist_mean_talk_seconds",
];

/// A contact's aggregates plus its answer counts by hour (for [`super::besttime`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactHistory {
    pub fields: HashMap<String, String>,
    pub hours: ContactHours,
}

/// Aggregates interactions per contact as of `now_unix`.
pub fn aggregate(interactions: &[Interaction], now_unix: i64) -> HashMap<String, ContactHistory> {
    let mut by_contact: HashMap<&str, Vec<&Interaction>> = HashMap::new();
    for i in interactions {
        by_contact.entry(i.contact_id.as_str()).or_default().push(i);
    }
    let mut out = HashMap::new();
    for (id, mut list) in by_contact {
        list.sort_by_key(|i| i.at_unix);
        let attempts = list.len();
        let answered = list.iter().filter(|i| i.answered).count();
        let talk: f64 = list.iter().map(|i| i.talk_seconds.max(0.0)).sum();
        let mut hours = ContactHours::default();
        for i in &list {
            hours.record(Attempt {
                hour: i.hour_of_week % HOURS_PER_WEEK,
                success: i.answered,
            });
        }
        let mut intents: HashMap<&str, usize> = HashMap::new();
        for i in &list {
            if let Some(intent) = &i.intent {
                *intents.entry(intent.as_str()).or_default() += 1;
            }
        }
        let top_intent = intents
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(k, _)| k.to_string())
            .unwrap_or_default();
        let best_hour = (0..HOURS_PER_WEEK)
            .filter(|&h| hours.wins[h] > 0)
            .max_by(|&a, &b| hours.wins[a].cmp(&hours.wins[b]).then(b.cmp(&a)))
            .map(|h| h.to_string())
            .unwrap_or_default();
        let last = list[list.len() - 1];
        let converted = list.iter().any(|i| {
            CONVERTED
                .iter()
                .any(|c| i.disposition.eq_ignore_ascii_case(c))
        });
        let mut fields = HashMap::new();
        fields.insert("hist_attempts".into(), attempts.to_string());
        fields.insert(
            "hist_answer_rate".into(),
            format!("{:.4}", answered as f64 / attempts as f64),
        );
        fields.insert(
            "hist_days_since_last".into(),
            format!("{:.2}", (now_unix - last.at_unix).max(0) as f64 / 86_400.0),
        );
        fields.insert("hist_talk_seconds".into(), format!("{talk:.0}"));
        fields.insert(
            "hist_converted_before".into(),
            if converted { "yes" } else { "no" }.into(),
        );
        fields.insert("hist_last_disposition".into(), last.disposition.clone());
        fields.insert("hist_top_intent".into(), top_intent);
        fields.insert("hist_best_hour".into(), best_hour);
        fields.insert(
            "hist_mean_talk_seconds".into(),
            if answered > 0 {
                format!("{:.1}", talk / answered as f64)
            } else {
                String::new()
            },
        );
        out.insert(id.to_string(), ContactHistory { fields, hours });
    }
    out
}

/// Reads interactions from a table with columns `contact_id`, `at_unix`, `hour_of_week`,
/// `answered` (yes/no), `talk_seconds`, `disposition` and optionally `intent`.
pub fn from_table(table: &Table) -> Result<Vec<Interaction>> {
    let col = |name: &str| {
        table
            .column(name)
            .ok_or_else(|| ProfileError::MissingColumn {
                name: name.to_string(),
            })
    };
    let (id, at, how, ans, talk, disp) = (
        col("contact_id")?,
        col("at_unix")?,
        col("hour_of_week")?,
        col("answered")?,
        col("talk_seconds")?,
        col("disposition")?,
    );
    let intent = table.column("intent");
    let bad = |row: usize, what: &str, v: &str| ProfileError::Csv {
        line: table.lines.get(row).copied().unwrap_or(row + 2),
        message: format!("{what}: `{v}` is not valid"),
    };
    table
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(Interaction {
                contact_id: r[id].trim().to_string(),
                at_unix: r[at]
                    .trim()
                    .parse()
                    .map_err(|_| bad(i, "at_unix", &r[at]))?,
                hour_of_week: r[how]
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&h| h < HOURS_PER_WEEK)
                    .ok_or_else(|| bad(i, "hour_of_week (0..167)", &r[how]))?,
                answered: matches!(
                    r[ans].trim().to_ascii_lowercase().as_str(),
                    "yes" | "y" | "true" | "1"
                ),
                talk_seconds: r[talk].trim().parse().unwrap_or(0.0),
                disposition: r[disp].trim().to_string(),
                intent: intent
                    .map(|c| r[c].trim().to_string())
                    .filter(|s| !s.is_empty()),
            })
        })
        .collect()
}

/// Adds the `hist_*` columns to a contact table, joined on `id_column` (empty cells for
/// contacts without history).
pub fn join(
    table: &Table,
    id_column: &str,
    history: &HashMap<String, ContactHistory>,
) -> Result<Table> {
    let id = table
        .column(id_column)
        .ok_or_else(|| ProfileError::MissingColumn {
            name: id_column.to_string(),
        })?;
    let mut out = table.clone();
    out.headers.extend(FIELDS.iter().map(|f| f.to_string()));
    for row in &mut out.rows {
        let h = history.get(row[id].trim());
        for f in FIELDS {
            row.push(h.and_then(|h| h.fields.get(f)).cloned().unwrap_or_default());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::besttime::hour_of_week;

    fn call(id: &str, day: i64, hour: usize, answered: bool, disp: &str) -> Interaction {
        Interaction {
            contact_id: id.into(),
            at_unix: day * 86_400,
            hour_of_week: hour,
            answered,
            talk_seconds: if answered { 60.0 } else { 0.0 },
            disposition: disp.into(),
            intent: answered.then(|| "price_question".to_string()),
        }
    }

    #[test]
    fn aggregates_recency_frequency_and_response() {
        let tue10 = hour_of_week(1, 10);
        let thu17 = hour_of_week(3, 17);
        let calls = vec![
            call("a", 1, tue10, false, "no_answer"),
            call("a", 3, thu17, true, "callback"),
            call("a", 5, thu17, true, "converted"),
            call("b", 2, tue10, false, "no_answer"),
        ];
        let agg = aggregate(&calls, 10 * 86_400);
        let a = &agg["a"].fields;
        assert_eq!(a["hist_attempts"], "3");
        assert_eq!(a["hist_answer_rate"], "0.6667");
        assert_eq!(a["hist_days_since_last"], "5.00");
        assert_eq!(a["hist_converted_before"], "yes");
        assert_eq!(a["hist_last_disposition"], "converted");
        assert_eq!(a["hist_top_intent"], "price_question");
        assert_eq!(a["hist_best_hour"], thu17.to_string());
        assert_eq!(agg["a"].hours.wins[thu17], 2);
        assert_eq!(agg["b"].fields["hist_mean_talk_seconds"], "");

        let contacts = crate::profile::csv::parse("id;age\na;30\nc;40\n").expect("valid CSV");
        let joined = join(&contacts, "id", &agg).expect("joins");
        assert_eq!(joined.headers.len(), 2 + FIELDS.len());
        assert_eq!(joined.rows[0][2], "3");
        assert_eq!(joined.rows[1][2], "");
    }

    #[test]
    fn reads_interactions_and_rejects_bad_hours() {
        let t = crate::profile::csv::parse(
            "contact_id,at_unix,hour_of_week,answered,talk_seconds,disposition\n\
             a,100,34,yes,12,callback\n",
        )
        .expect("valid CSV");
        let calls = from_table(&t).expect("reads");
        assert!(calls[0].answered && calls[0].hour_of_week == 34);
        let bad = crate::profile::csv::parse(
            "contact_id,at_unix,hour_of_week,answered,talk_seconds,disposition\n\
             a,100,200,yes,12,callback\n",
        )
        .expect("valid CSV");
        assert!(matches!(
            from_table(&bad),
            Err(ProfileError::Csv { line: 2, .. })
        ));
    }
}
