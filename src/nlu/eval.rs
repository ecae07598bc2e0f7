//! Scoring a model on labelled replies: accuracy, per-label precision/recall/F1, macro-F1 and
//! the most frequent confusions, overall and per phrasing source, printed by
//! `aicall eval intent` with the summary line `accuracy=0.xxxx macro_f1=0.xxxx n=N` last.
//! Depends on the label set and the loaded model.

use std::collections::BTreeMap;
use std::fmt;

use super::corpus::Example;
use super::infer::{IntentModel, Utterance};
use super::Intent;
use super::{context, question};

const N: usize = Intent::ALL.len();

/// Confusion matrix and the figures derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// `confusion[truth][predicted]`.
    pub confusion: [[usize; N]; N],
    /// Replies that could not be classified (empty after normalisation); counted as wrong.
    pub failed: usize,
}

impl EvalReport {
    pub fn n(&self) -> usize {
        self.confusion.iter().flatten().sum::<usize>() + self.failed
    }

    pub fn accuracy(&self) -> f64 {
        let hits: usize = (0..N).map(|i| self.confusion[i][i]).sum();
        hits as f64 / self.n().max(1) as f64
    }

    /// (precision, recall, f1, support) of one label.
    pub fn per_label(&self, label: Intent) -> (f64, f64, f64, usize) {
        let i = label.index();
        let tp = self.confusion[i][i] as f64;
        let predicted: usize = (0..N).map(|t| self.confusion[t][i]).sum();
        let support: usize = self.confusion[i].iter().sum();
        let p = if predicted > 0 {
            tp / predicted as f64
        } else {
            0.0
        };
        let r = if support > 0 {
            tp / support as f64
        } else {
            0.0
        };
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        (p, r, f, support)
    }

    /// Mean F1 over the labels that occur in the data or in the predictions.
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<f64> = Intent::ALL
            .iter()
            .filter(|&&l| {
                let i = l.index();
                self.confusion[i].iter().sum::<usize>() > 0
                    || (0..N).any(|t| self.confusion[t][i] > 0)
            })
            .map(|&l| self.per_label(l).2)
            .collect();
        present.iter().sum::<f64>() / present.len().max(1) as f64
    }

    /// The `k` most frequent (truth, predicted, count) errors.
    pub fn top_confusions(&self, k: usize) -> Vec<(Intent, Intent, usize)> {
        let mut errs: Vec<(Intent, Intent, usize)> = (0..N)
            .flat_map(|t| (0..N).map(move |p| (t, p)))
            .filter(|&(t, p)| t != p && self.confusion[t][p] > 0)
            .map(|(t, p)| (Intent::ALL[t], Intent::ALL[p], self.confusion[t][p]))
            .collect();
        errs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        errs.truncate(k);
        errs
    }

    /// The summary line, exactly `accuracy=0.xxxx macro_f1=0.xxxx n=N`.
    pub fn summary_line(&self) -> String {
        format!(
            "accuracy={:.4} macro_f1={:.4} n={}",
            self.accuracy(),
            self.macro_f1(),
            self.n()
        )
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<14} {:>9} {:>9} {:>9} {:>8}",
            "label", "precision", "recall", "f1", "support"
        )?;
        for &l in &Intent::ALL {
            let (p, r, f1, s) = self.per_label(l);
            writeln!(f, "{:<14} {p:>9.4} {r:>9.4} {f1:>9.4} {s:>8}", l.as_str())?;
        }
        if self.failed > 0 {
            writeln!(
                f,
                "unclassifiable (empty after normalisation): {}",
                self.failed
            )?;
        }
        writeln!(f, "most frequent confusions (truth -> predicted: count):")?;
        let top = self.top_confusions(8);
        if top.is_empty() {
            writeln!(f, "  none")?;
        }
        for (t, p, c) in top {
            writeln!(f, "  {t} -> {p}: {c}")?;
        }
        write!(f, "{}", self.summary_line())
    }
}

impl EvalReport {
    fn empty() -> Self {
        EvalReport {
            confusion: [[0; N]; N],
            failed: 0,
        }
    }

    /// Counts one answer (`None`: the reply could not be classified).
    pub fn add(&mut self, truth: Intent, predicted: Option<Intent>) {
        match predicted {
            Some(p) => self.confusion[truth.index()][p.index()] += 1,
            None => self.failed += 1,
        }
    }
}

/// The label `model` gives `e` (with its prompt and what the prompt's node declares a yes or
/// a no means, as a call applies it, when `use_context`); `None` when it cannot classify the
/// text.
pub fn predict(model: &IntentModel, e: &Example, use_context: bool) -> Option<Intent> {
    predict_reading(model, e, use_context, true)
}

/// [`predict`], with the question's reading ([`question::meaning`]) applied or not: without
/// it, the model and the node's declarations alone decide (for measuring what the reading adds).
pub fn predict_reading(
    model: &IntentModel,
    e: &Example,
    use_context: bool,
    read_question: bool,
) -> Option<Intent> {
    let u = Utterance {
        text: &e.text,
        prompt: use_context
            .then_some(e.prompt.as_str())
            .filter(|p| !p.is_empty()),
        hour: e.hour,
        now: None,
    };
    let r = model.classify(&u).ok()?;
    Some(if use_context {
        // As a call applies it: what the node declares, the rest read from its question.
        let read = if read_question {
            question::meaning(&e.prompt)
        } else {
            Default::default()
        };
        let meaning = e.meaning.clone().or(read);
        context::resolve(r.label, Some(&r.probs), &meaning)
    } else {
        r.label
    })
}

/// Classifies every example (with its prompt when `use_context`) and tallies the results.
pub fn evaluate(model: &IntentModel, examples: &[Example], use_context: bool) -> EvalReport {
    let mut report = EvalReport::empty();
    for e in examples {
        report.add(e.label, predict(model, e, use_context));
    }
    report
}

/// The name a report uses for examples whose file gives no source.
pub const NO_SOURCE: &str = "-";

/// Tallies `(example, prediction)` pairs per source (sorted by name), and overall.
pub fn by_source<'a>(
    results: impl IntoIterator<Item = (&'a Example, Option<Intent>)>,
) -> (Vec<(String, EvalReport)>, EvalReport) {
    let mut per: BTreeMap<String, EvalReport> = BTreeMap::new();
    let mut all = EvalReport::empty();
    for (e, p) in results {
        let name = if e.source.is_empty() {
            NO_SOURCE
        } else {
            &e.source
        };
        per.entry(name.to_owned())
            .or_insert_with(EvalReport::empty)
            .add(e.label, p);
        all.add(e.label, p);
    }
    (per.into_iter().collect(), all)
}

/// [`evaluate`] per phrasing source and overall.
pub fn evaluate_by_source(
    model: &IntentModel,
    examples: &[Example],
    use_context: bool,
) -> (Vec<(String, EvalReport)>, EvalReport) {
    by_source(examples.iter().map(|e| (e, predict(model, e, use_context))))
}

/// One line per source: `source=NAME accuracy=… macro_f1=… n=…`.
pub fn source_lines(per: &[(String, EvalReport)]) -> String {
    per.iter()
        .map(|(s, r)| format!("source={s} {}\n", r.summary_line()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_tallied_per_source_and_overall() {
        let ex = |source: &str, label| Example {
            source: source.into(),
            text: "x".into(),
            label,
            ..Default::default()
        };
        let data = [
            ex("context", Intent::DncRequest),
            ex("context", Intent::Repeat),
            ex("english", Intent::Affirm),
            ex("", Intent::Deny),
        ];
        let predicted = [
            Some(Intent::DncRequest),
            Some(Intent::Affirm),
            Some(Intent::Affirm),
            None,
        ];
        let (per, all) = by_source(data.iter().zip(predicted));
        let names: Vec<&str> = per.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, ["-", "context", "english"]);
        assert_eq!((per[0].1.n(), per[0].1.failed), (1, 1));
        assert!((per[1].1.accuracy() - 0.5).abs() < 1e-9);
        assert!((all.accuracy() - 0.5).abs() < 1e-9);
        assert_eq!(all.n(), 4);
        assert!(source_lines(&per).starts_with("source=- accuracy=0.0000"));
    }

    #[test]
    fn figures_from_a_known_confusion_matrix() {
        let mut r = EvalReport {
            confusion: [[0; N]; N],
            failed: 0,
        };
        let (a, d) = (Intent::Affirm.index(), Intent::Deny.index());
        r.confusion[a][a] = 3;
        r.confusion[a][d] = 1;
        r.confusion[d][d] = 4;
        assert_eq!(r.n(), 8);
        assert!((r.accuracy() - 0.875).abs() < 1e-9);
        let (p, rec, _, s) = r.per_label(Intent::Deny);
        assert!((p - 0.8).abs() < 1e-9 && (rec - 1.0).abs() < 1e-9 && s == 4);
        // affirm f1 = 2*1*0.75/1.75, deny f1 = 2*0.8/1.8
        let expected = (1.5 / 1.75 + 1.6 / 1.8) / 2.0;
        assert!((r.macro_f1() - expected).abs() < 1e-9);
        assert_eq!(r.top_confusions(3), vec![(Intent::Affirm, Intent::Deny, 1)]);
        assert_eq!(
            r.summary_line(),
            format!("accuracy=0.8750 macro_f1={expected:.4} n=8")
        );
        assert!(r.to_string().ends_with(&r.summary_line()));
    }
}
