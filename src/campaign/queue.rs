//! The in-memory schedule of a running campaign and the next-batch decision. Pure.
//!
//! Contacts wait in a timed set until `next_at`, then in a "due" set ordered by lead score
//! (higher first) and import order (FIFO). Due contacts are bucketed by the UTC hour in which
//! their best local hour falls, so the contacts at their best hour right now come first without
//! scanning: a batch takes from the current hour's bucket, then merges the others by priority.
//! A contact refused for a temporary reason (window closed, cap) is parked until the moment the
//! refusal names, so a batch never re-examines it — the decision stays O(batch · log n).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use super::compliance::{Compliance, Refusal, Rules};
use super::zones::{zones_of, Zones};
use crate::store::{Contact, ContactState, PhoneKey};

const NO_BEST_HOUR: usize = 24;
/// A batch examines at most this many refused contacts, to bound its latency.
const MAX_REFUSALS_PER_BATCH: usize = 4096;

/// What the queue keeps per contact.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueEntry {
    pub id: u64,
    pub phone_key: PhoneKey,
    /// Standard UTC offset, for the best-hour ordering only.
    pub utc_offset_min: i32,
    /// The callee's time zones (from the number), for the calling window.
    pub zones: Zones,
    pub attempts: u32,
    pub seq: u64,
    pub score: Option<f32>,
    pub best_hour: Option<u8>,
    pub next_at: i64,
}

impl QueueEntry {
    pub fn of(c: &Contact) -> Self {
        Self {
            id: c.id,
            phone_key: c.phone_key,
            utc_offset_min: c.utc_offset_min,
            zones: zones_of(&c.region, &c.pii.phone),
            attempts: c.attempts,
            seq: c.seq,
            score: c.score,
            best_hour: c.best_hour,
            next_at: c.next_at,
        }
    }

    fn priority(&self) -> DueKey {
        // Scores are probabilities in [0, 1]; for non-negative floats the bit pattern orders
        // like the value. No score sorts after every score.
        let score = self
            .score
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| s.to_bits() + 1)
            .unwrap_or(0);
        (Reverse(score), self.seq, self.id)
    }

    fn bucket(&self) -> usize {
        match self.best_hour {
            Some(h) if h < 24 => {
                let utc_min = (i32::from(h) * 60 - self.utc_offset_min).rem_euclid(1440);
                (utc_min / 60) as usize
            }
            _ => NO_BEST_HOUR,
        }
    }
}

type DueKey = (Reverse<u32>, u64, u64);

/// Takes the profile model's verdict into a contact: its conversion probability orders the
/// queue, and its best hour (hour of week, callee's local time) becomes the hour of day at
/// which it is preferred.
pub fn apply_lead_score(contact: &mut Contact, score: &crate::profile::model::LeadScore) {
    if score.probability.is_finite() {
        contact.score = Some(score.probability.clamp(0.0, 1.0) as f32);
    }
    contact.best_hour = score.best_hours.first().map(|h| (h.hour % 24) as u8);
}

/// A decision for one batch.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    /// Contacts to dial now, best first (removed from the queue).
    pub dial: Vec<QueueEntry>,
    /// Contacts refused for good (removed from the queue).
    pub dropped: Vec<(QueueEntry, Refusal)>,
    /// Contacts refused for now, parked until the refusal's time.
    pub parked: Vec<(u64, Refusal)>,
}

/// The schedule.
#[derive(Debug)]
pub struct Queue {
    entries: HashMap<u64, QueueEntry>,
    timed: BTreeSet<(i64, u64)>,
    due: Vec<BTreeSet<DueKey>>,
}

impl Default for Queue {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            timed: BTreeSet::new(),
            due: vec![BTreeSet::new(); NO_BEST_HOUR + 1],
        }
    }
}

impl Queue {
    pub fn new() -> Self {
        Self::default()
    }

    /// The queue of a campaign's pending contacts.
    pub fn from_contacts<'a>(contacts: impl IntoIterator<Item = &'a Contact>) -> Self {
        let mut q = Self::new();
        for c in contacts {
            if c.state == ContactState::Pending {
                q.push(QueueEntry::of(c));
            }
        }
        q
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds (or re-schedules) a contact.
    pub fn push(&mut self, entry: QueueEntry) {
        self.remove(entry.id);
        self.timed.insert((entry.next_at, entry.id));
        self.entries.insert(entry.id, entry);
    }

    /// Removes a contact wherever it is.
    pub fn remove(&mut self, id: u64) -> Option<QueueEntry> {
        let e = self.entries.remove(&id)?;
        if !self.timed.remove(&(e.next_at, id)) {
            self.due[e.bucket()].remove(&e.priority());
        }
        Some(e)
    }

    /// The earliest `next_at` among waiting contacts (for the driver's sleep).
    pub fn next_due(&self) -> Option<i64> {
        if self.due.iter().any(|d| !d.is_empty()) {
            return Some(i64::MIN);
        }
        self.timed.first().map(|&(t, _)| t)
    }

    fn promote(&mut self, now: i64) {
        while let Some(&(t, id)) = self.timed.first() {
            if t > now {
                break;
            }
            self.timed.pop_first();
            if let Some(e) = self.entries.get(&id) {
                self.due[e.bucket()].insert(e.priority());
            }
        }
    }

    /// Picks up to `max` contacts to dial now, checking each against the rules; refused ones
    /// are parked or dropped as their refusal says.
    pub fn next_batch(
        &mut self,
        now: i64,
        max: usize,
        rules: &Rules,
        compliance: &Compliance,
    ) -> Batch {
        self.promote(now);
        let mut batch = Batch::default();
        if max == 0 {
            return batch;
        }
        let hot = (now.rem_euclid(86_400) / 3600) as usize;
        let mut refusals = 0;
        while batch.dial.len() < max && refusals < MAX_REFUSALS_PER_BATCH {
            let Some((bucket, key)) = self.best_due(hot) else {
                break;
            };
            self.due[bucket].remove(&key);
            let id = key.2;
            let Some(entry) = self.entries.get(&id) else {
                continue;
            };
            match compliance.check(rules, &entry.phone_key, entry.attempts, entry.zones, now) {
                Ok(()) => {
                    if let Some(e) = self.entries.remove(&id) {
                        batch.dial.push(e);
                    }
                }
                Err(refusal) => {
                    refusals += 1;
                    match refusal.retry_at() {
                        Some(at) => {
                            if let Some(e) = self.entries.get_mut(&id) {
                                e.next_at = at.max(now + 1);
                                self.timed.insert((e.next_at, id));
                            }
                            batch.parked.push((id, refusal));
                        }
                        None => {
                            if let Some(e) = self.entries.remove(&id) {
                                batch.dropped.push((e, refusal));
                            }
                        }
                    }
                }
            }
        }
        batch
    }

    /// The best due contact: from the bucket of contacts whose best hour is now, else the
    /// highest priority across the other buckets.
    fn best_due(&self, hot: usize) -> Option<(usize, DueKey)> {
        if let Some(k) = self.due[hot].first() {
            return Some((hot, *k));
        }
        self.due
            .iter()
            .enumerate()
            .filter_map(|(b, set)| set.first().map(|k| (b, *k)))
            .min_by_key(|(_, k)| *k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::compliance::{CallingWindow, FrequencyCaps, TimeRange};
    use crate::store::ListKind;

    fn entry(id: u64, score: Option<f32>, best: Option<u8>) -> QueueEntry {
        QueueEntry {
            id,
            phone_key: PhoneKey([id as u8; 32]),
            utc_offset_min: 0,
            zones: &[chrono_tz::UTC],
            attempts: 0,
            seq: id,
            score,
            best_hour: best,
            next_at: 0,
        }
    }

    fn always() -> Rules {
        Rules::new(
            &CallingWindow {
                days: vec![1, 2, 3, 4, 5, 6, 7],
                ranges: vec![TimeRange {
                    start: "00:00".into(),
                    end: "24:00".into(),
                }],
                holidays: vec![],
            },
            &FrequencyCaps {
                per_day: None,
                per_week: None,
                gray_per_week: 1,
            },
            3,
        )
        .expect("rules")
    }

    #[test]
    fn fifo_without_scores_score_order_with_them_best_hour_first() {
        let rules = always();
        let c = Compliance::new();
        let mut q = Queue::new();
        for id in [3, 1, 2] {
            q.push(entry(id, None, None));
        }
        let ids: Vec<u64> = q
            .next_batch(10, 10, &rules, &c)
            .dial
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, vec![1, 2, 3]);

        let mut q = Queue::new();
        q.push(entry(1, Some(0.2), None));
        q.push(entry(2, Some(0.9), None));
        q.push(entry(3, None, None));
        // Best hour 05 UTC: at 05:10 it comes first despite the lower score.
        q.push(entry(4, Some(0.1), Some(5)));
        let now = 5 * 3600 + 600;
        let ids: Vec<u64> = q
            .next_batch(now, 10, &rules, &c)
            .dial
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, vec![4, 2, 1, 3]);
    }

    #[test]
    fn lead_scores_become_priority_and_best_hour() {
        let mut c = Contact {
            id: 1,
            campaign: "c".into(),
            phone_key: PhoneKey([0; 32]),
            pii: Default::default(),
            line_type: crate::store::LineType::Mobile,
            region: "CN".into(),
            utc_offset_min: 480,
            seq: 1,
            score: None,
            best_hour: None,
            state: ContactState::Pending,
            attempts: 0,
            next_at: 0,
            note: String::new(),
        };
        let score = crate::profile::LeadScore {
            probability: 0.73,
            segment: 0,
            segment_description: String::new(),
            // Tuesday 10:00 local.
            best_hours: vec![crate::profile::besttime::HourScore {
                hour: 34,
                probability: 0.4,
            }],
            top_reasons: vec![],
            unseen: vec![],
        };
        apply_lead_score(&mut c, &score);
        assert_eq!((c.score, c.best_hour), (Some(0.73), Some(10)));
        // 10:00 in Beijing is 02:00 UTC: that is the contact's bucket.
        assert_eq!(QueueEntry::of(&c).bucket(), 2);
    }

    /// The queue takes each callee's zone from their number: at 10:00 in Beijing a Chinese
    /// number is dialled and a New York one (21:00 there) waits for 09:00 New York time; a
    /// number of a region without a known zone is dropped with that reason.
    #[test]
    fn each_contact_is_checked_in_the_zone_of_its_number() {
        let contact = |id: u64, region: &str, phone: &str| Contact {
            id,
            campaign: "c".into(),
            phone_key: PhoneKey([id as u8; 32]),
            pii: crate::store::ContactPii {
                phone: phone.into(),
                ..Default::default()
            },
            line_type: crate::store::LineType::Mobile,
            region: region.into(),
            utc_offset_min: 0,
            seq: id,
            score: None,
            best_hour: None,
            state: ContactState::Pending,
            attempts: 0,
            next_at: 0,
            note: String::new(),
        };
        let contacts = [
            contact(1, "CN", "+8613800138000"),
            contact(2, "US", "+12125550123"),
            contact(3, "", "+80012345678"),
        ];
        let mut q = Queue::from_contacts(&contacts);
        let rules =
            Rules::new(&CallingWindow::default(), &FrequencyCaps::default(), 3).expect("rules");
        // Tuesday 2026-11-24 02:00 UTC.
        let now = 1_795_392_000 + 86_400 + 2 * 3600;
        let b = q.next_batch(now, 10, &rules, &Compliance::new());
        assert_eq!(b.dial.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1]);
        // 09:00 EST is 14:00 UTC.
        assert_eq!(
            b.parked,
            vec![(
                2,
                Refusal::OutsideWindow {
                    opens_at: Some(now + 12 * 3600)
                }
            )]
        );
        assert_eq!(b.dropped.len(), 1);
        assert_eq!(
            (b.dropped[0].0.id, b.dropped[0].1),
            (3, Refusal::NoTimeZone)
        );
    }

    #[test]
    fn refused_contacts_are_parked_or_dropped_not_dialled() {
        let rules = always();
        let mut c = Compliance::new();
        let mut q = Queue::new();
        q.push(entry(1, None, None));
        q.push(entry(2, None, None));
        q.push(entry(3, None, None));
        c.set_listed(PhoneKey([1; 32]), ListKind::Dnc, true);
        let mut e3 = entry(3, None, None);
        e3.attempts = 3;
        q.push(e3);
        let b = q.next_batch(100, 10, &rules, &c);
        assert_eq!(b.dial.iter().map(|e| e.id).collect::<Vec<_>>(), vec![2]);
        assert_eq!(b.dropped.len(), 2);
        assert!(q.is_empty());
        // Not yet due.
        let mut later = entry(5, None, None);
        later.next_at = 500;
        q.push(later);
        assert!(q.next_batch(100, 10, &rules, &c).dial.is_empty());
        assert_eq!(q.next_batch(500, 10, &rules, &c).dial.len(), 1);
    }
}
