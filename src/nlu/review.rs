//! Learning from the floor: supervisor corrections and agent dispositions of an intent become
//! labelled examples, after a review. A corrections file is an intent TSV with a header
//! (`call`, `prompt`, `text`, `label`, `who`: the reply as transcribed, the label it should
//! have had, who said so). [`review`] says, line by line, what each correction would change
//! and which ones cannot be taken: a reply two people labelled differently, a reply that is
//! one of the fixed evaluation sets' (learning it would make their figures lie), a duplicate.
//! What is accepted is fine-tuned on (with replay, `train::fine_tune`) and the fixed test sets
//! are scored before and after, so forgetting shows before anything is written. Pure apart
//! from running the model; depends on the other `nlu` files.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::corpus::Example;
use super::eval;
use super::infer::IntentModel;
use super::tokenizer::normalize;
use super::Intent;

/// What review decided about one correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The model says `from` today; the correction teaches `label`.
    Change { from: Option<Intent> },
    /// The model already gives this label; kept as a reminder (it costs nothing).
    Agrees,
    /// Another correction gives the same reply in the same context another label.
    Conflict { other: Intent, who: String },
    /// The reply is one of a fixed evaluation set's: never trained on.
    InTestSet { set: String },
    /// The same reply, context and label again.
    Duplicate,
}

impl Verdict {
    pub fn accepted(&self) -> bool {
        matches!(self, Verdict::Change { .. } | Verdict::Agrees)
    }
}

/// One reviewed correction.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub example: Example,
    pub verdict: Verdict,
}

impl fmt::Display for Reviewed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.example;
        let by = if e.who.is_empty() { "?" } else { &e.who };
        let call = if e.call.is_empty() {
            String::new()
        } else {
            format!(" call {}", e.call)
        };
        let context = if e.prompt.is_empty() {
            String::new()
        } else {
            format!(" after {:?}", e.prompt)
        };
        write!(f, "{:?}{context}{call} (by {by}): ", e.text)?;
        match &self.verdict {
            Verdict::Change { from: Some(from) } => write!(f, "{from} -> {}", e.label),
            Verdict::Change { from: None } => write!(f, "(unclassifiable) -> {}", e.label),
            Verdict::Agrees => write!(f, "already {}", e.label),
            Verdict::Conflict { other, who } => write!(
                f,
                "REFUSED: {} here, but {who} says {other}; settle it and correct once",
                e.label
            ),
            Verdict::InTestSet { set } => write!(
                f,
                "REFUSED: this reply is in the fixed evaluation set {set}, which is never trained on"
            ),
            Verdict::Duplicate => write!(f, "duplicate of an earlier line, counted once"),
        }
    }
}

fn key(e: &Example) -> (String, String) {
    (normalize(&e.prompt), normalize(&e.text))
}

/// Reviews `corrections` against `model` and the fixed evaluation sets `protected`
/// (name, examples): every reply of a protected set is refused, with or without context.
pub fn review(
    model: &IntentModel,
    corrections: &[Example],
    protected: &[(String, Vec<Example>)],
) -> Vec<Reviewed> {
    let mut guarded: HashMap<String, &str> = HashMap::new();
    for (name, set) in protected {
        for e in set {
            guarded.entry(normalize(&e.text)).or_insert(name);
        }
    }
    // Labels given per (context, reply), to find disagreements wherever they are in the file.
    let mut labels: HashMap<(String, String), Vec<(Intent, &str)>> = HashMap::new();
    for c in corrections {
        labels
            .entry(key(c))
            .or_default()
            .push((c.label, c.who.as_str()));
    }
    let mut seen = HashSet::new();
    corrections
        .iter()
        .map(|c| {
            let k = key(c);
            let verdict = if let Some(set) = guarded.get(&k.1) {
                Verdict::InTestSet {
                    set: (*set).to_owned(),
                }
            } else if let Some(&(other, who)) = labels[&k].iter().find(|(l, _)| *l != c.label) {
                Verdict::Conflict {
                    other,
                    who: if who.is_empty() { "?" } else { who }.to_owned(),
                }
            } else if !seen.insert(k) {
                Verdict::Duplicate
            } else {
                match eval::predict(model, c, true) {
                    Some(p) if p == c.label => Verdict::Agrees,
                    from => Verdict::Change { from },
                }
            };
            Reviewed {
                example: c.clone(),
                verdict,
            }
        })
        .collect()
}

/// The corrections review accepted, as training examples (source `floor`).
pub fn accepted(reviewed: &[Reviewed]) -> Vec<Example> {
    reviewed
        .iter()
        .filter(|r| r.verdict.accepted())
        .map(|r| Example {
            source: "floor".into(),
            ..r.example.clone()
        })
        .collect()
}

/// Accuracy on one fixed set before and after a fine-tuning run.
#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    pub set: String,
    pub n: usize,
    pub before: f64,
    pub after: f64,
}

impl Guard {
    /// True when the set lost more than `max_drop` accuracy.
    pub fn forgot(&self, max_drop: f64) -> bool {
        self.after < self.before - max_drop
    }
}

/// Scores `before` and `after` on each protected set (with context).
pub fn guard(
    before: &IntentModel,
    after: &IntentModel,
    protected: &[(String, Vec<Example>)],
) -> Vec<Guard> {
    protected
        .iter()
        .map(|(name, set)| Guard {
            set: name.clone(),
            n: set.len(),
            before: eval::evaluate(before, set, true).accuracy(),
            after: eval::evaluate(after, set, true).accuracy(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_read_as_sentences() {
        let e = Example {
            prompt: "您考虑好了吗".into(),
            text: "还没".into(),
            label: Intent::Hesitate,
            who: "sup-2".into(),
            call: "c-19".into(),
            ..Default::default()
        };
        let r = Reviewed {
            example: e.clone(),
            verdict: Verdict::Change {
                from: Some(Intent::Deny),
            },
        };
        assert_eq!(
            r.to_string(),
            "\"还没\" after \"您考虑好了吗\" call c-19 (by sup-2): deny -> hesitate"
        );
        let r = Reviewed {
            example: e,
            verdict: Verdict::Conflict {
                other: Intent::Deny,
                who: "sup-5".into(),
            },
        };
        assert!(r.to_string().contains("REFUSED") && r.to_string().contains("sup-5"));
        assert!(!r.verdict.accepted());
    }

    #[test]
    fn forgetting_is_a_drop_beyond_the_margin() {
        let g = Guard {
            set: "test".into(),
            n: 100,
            before: 0.90,
            after: 0.885,
        };
        assert!(!g.forgot(0.02));
        assert!(g.forgot(0.01));
    }
}
