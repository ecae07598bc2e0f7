//! The figures of a campaign's calls: answer rate, intents, dispositions, turn and barge-in
//! latency percentiles, over its call records (the demo and `aicall bench calls` print them).

use std::collections::BTreeMap;

use super::record::CallRecord;

/// Nearest-rank percentile of `v` (0 when empty).
pub fn percentile(v: &[u32], q: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

/// The campaign's figures over its call records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub calls: usize,
    pub answered: usize,
    pub intents: BTreeMap<String, usize>,
    pub dispositions: BTreeMap<String, usize>,
    pub turn_ms: Vec<u32>,
    pub barge_in_ms: Vec<u32>,
    pub barge_ins: usize,
    pub false_barge_ins: usize,
}

impl Summary {
    /// `calls` dialled; `records`: those that have one (answered, or decided on early media
    /// — a carrier announcement before any answer — which count in the dispositions only).
    pub fn of(calls: usize, records: &[CallRecord]) -> Summary {
        let mut s = Summary {
            calls,
            answered: records.iter().filter(|r| r.answered).count(),
            ..Summary::default()
        };
        for r in records {
            let d = r.disposition.map_or("none", |d| d.as_str());
            *s.dispositions.entry(d.to_owned()).or_default() += 1;
            if !r.answered {
                continue;
            }
            for t in r.turns.iter().filter(|t| t.is_reply()) {
                if let Some(i) = &t.intent {
                    *s.intents.entry(i.clone()).or_default() += 1;
                }
            }
            s.turn_ms.extend(&r.turn_latency_ms);
            s.barge_in_ms.extend(&r.barge_in_latency_ms);
            s.barge_ins += r.barge_ins.len();
            s.false_barge_ins += r.barge_ins.iter().filter(|b| b.verdict != "real").count();
        }
        s
    }

    /// The summary's last line (the demo and `aicall bench calls` end with it).
    pub fn last_line(&self) -> String {
        format!(
            "calls={} answered={} turn_p50_ms={} turn_p95_ms={} bargein_p95_ms={}",
            self.calls,
            self.answered,
            percentile(&self.turn_ms, 0.5),
            percentile(&self.turn_ms, 0.95),
            percentile(&self.barge_in_ms, 0.95)
        )
    }
}
