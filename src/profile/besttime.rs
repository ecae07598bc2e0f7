//! Best time to call: the probability that an attempt in a given hour of the week succeeds
//! (answered, for the dialer's own attempts), as a Beta-Binomial per hour. Each segment has a
//! prior fitted from the attempts of its members; each contact has its own counts that update
//! the segment prior after every attempt. Owns [`HourPrior`] and [`ContactHours`]; depends on
//! nothing. Hours are in the callee's local time; which hours are *allowed* is the dialer's
//! decision (calling windows), so [`best_hours`] takes the allowed set.
//!
//! Smoothing: segment counts are blended with their neighbouring hours (weight ½ each side)
//! before they form the prior, and the prior is shrunk toward the global rate with a fixed
//! pseudo-count, so one lucky answer at 3 a.m. does not make 3 a.m. the best hour.
//!
//! Day-only data: a file that knows the weekday of each call but not the hour (the bank
//! file's `day_of_week`) cannot rank the hours inside a day — every hour of a day gets the
//! same rate, and "Thu 09h, Thu 10h, Thu 11h" would only be the tie-break talking. Such a
//! prior is marked [`HourPrior::day_only`]: [`best_hours`] then ranks distinct days (one entry
//! per day, at its first allowed hour) and [`hour_identified`] says the hour of day is not
//! known, so the dialer does not pretend 09h is best. The first live attempt (which has an
//! hour) makes the hours of that prior — or of that contact — identified.

use serde::{Deserialize, Serialize};

/// Hours in a week; hour 0 is Monday 00:00–00:59.
pub const HOURS_PER_WEEK: usize = 168;
/// Pseudo-count of the global rate in every segment-hour prior.
const PRIOR_STRENGTH: f64 = 4.0;
/// Live attempts a day-only segment prior needs before its hours count as identified.
pub const MIN_LIVE_FOR_HOURS: u64 = 20;

/// Hour of week from a weekday (0 = Monday) and hour of day.
pub fn hour_of_week(weekday: usize, hour: usize) -> usize {
    (weekday % 7) * 24 + hour % 24
}

/// "Tue 10h" style label.
pub fn label(hour_of_week: usize) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let h = hour_of_week % HOURS_PER_WEEK;
    format!("{} {:02}h", DAYS[h / 24], h % 24)
}

/// Weekday index of a short English day name (`mon`..`sun`).
pub fn weekday_index(name: &str) -> Option<usize> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| name.trim().to_ascii_lowercase().starts_with(d))
}

/// One attempt: when, and whether it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub hour: usize,
    pub success: bool,
}

/// Beta(α, β) per hour of week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourPrior {
    pub alpha: Vec<f64>,
    pub beta: Vec<f64>,
    /// Fitted from weekday-only outcomes: hours inside a day are not identified.
    #[serde(default)]
    pub day_only: bool,
    /// Live attempts fed in with [`HourPrior::update`] since fitting.
    #[serde(default)]
    pub live_updates: u64,
}

impl HourPrior {
    /// The same Beta(rate·s, (1−rate)·s) at every hour.
    pub fn flat(rate: f64, strength: f64) -> HourPrior {
        let rate = rate.clamp(1e-3, 1.0 - 1e-3);
        HourPrior {
            alpha: vec![rate * strength; HOURS_PER_WEEK],
            beta: vec![(1.0 - rate) * strength; HOURS_PER_WEEK],
            day_only: false,
            live_updates: 0,
        }
    }

    /// A segment prior from its members' attempts, shrunk toward `global`'s means.
    pub fn fit(attempts: &[Attempt], global: &HourPrior) -> HourPrior {
        let mut tries = vec![0.0; HOURS_PER_WEEK];
        let mut wins = vec![0.0; HOURS_PER_WEEK];
        for a in attempts {
            let h = a.hour % HOURS_PER_WEEK;
            for (offset, w) in [(0usize, 1.0), (1, 0.5), (HOURS_PER_WEEK - 1, 0.5)] {
                let j = (h + offset) % HOURS_PER_WEEK;
                tries[j] += w;
                if a.success {
                    wins[j] += w;
                }
            }
        }
        let mut prior = HourPrior::flat(0.5, 0.0);
        for h in 0..HOURS_PER_WEEK {
            let m = global.mean(h);
            prior.alpha[h] = m * PRIOR_STRENGTH + wins[h];
            prior.beta[h] = (1.0 - m) * PRIOR_STRENGTH + tries[h] - wins[h];
        }
        prior
    }

    /// A segment prior from outcomes known only by weekday (like the bank file's
    /// `day_of_week`): each day's counts are spread evenly over that day's `allowed` hours.
    pub fn fit_by_day(
        tries: &[f64; 7],
        wins: &[f64; 7],
        allowed: &[usize],
        global: &HourPrior,
    ) -> HourPrior {
        let mut per_day = [0usize; 7];
        for &h in allowed {
            per_day[(h % HOURS_PER_WEEK) / 24] += 1;
        }
        let mut prior = HourPrior::flat(0.5, 0.0);
        for h in 0..HOURS_PER_WEEK {
            let m = global.mean(h);
            let d = h / 24;
            let allowed_here = allowed.iter().any(|&a| a % HOURS_PER_WEEK == h);
            let (t, w) = if allowed_here && per_day[d] > 0 {
                (tries[d] / per_day[d] as f64, wins[d] / per_day[d] as f64)
            } else {
                (0.0, 0.0)
            };
            prior.alpha[h] = m * PRIOR_STRENGTH + w;
            prior.beta[h] = (1.0 - m) * PRIOR_STRENGTH + t - w;
        }
        prior.day_only = true;
        prior
    }

    /// Posterior mean at hour `h`.
    pub fn mean(&self, h: usize) -> f64 {
        let h = h % HOURS_PER_WEEK;
        let (a, b) = (self.alpha[h], self.beta[h]);
        if a + b > 0.0 {
            a / (a + b)
        } else {
            0.5
        }
    }

    /// Bayesian update after one attempt (used for segment priors fed by live outcomes).
    pub fn update(&mut self, attempt: Attempt) {
        let h = attempt.hour % HOURS_PER_WEEK;
        if attempt.success {
            self.alpha[h] += 1.0;
        } else {
            self.beta[h] += 1.0;
        }
        self.live_updates += 1;
    }

    /// Whether the hour inside a day carries information (not a day-only prior, or one that
    /// [`MIN_LIVE_FOR_HOURS`] live attempts have filled).
    pub fn hours_identified(&self) -> bool {
        !self.day_only || self.live_updates >= MIN_LIVE_FOR_HOURS
    }

    pub fn is_valid(&self) -> bool {
        self.alpha.len() == HOURS_PER_WEEK
            && self.beta.len() == HOURS_PER_WEEK
            && self
                .alpha
                .iter()
                .chain(&self.beta)
                .all(|v| v.is_finite() && *v >= 0.0)
    }
}

/// A contact's own attempt history by hour (kept by the caller, e.g. the store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactHours {
    pub tries: Vec<u32>,
    pub wins: Vec<u32>,
}

impl Default for ContactHours {
    fn default() -> Self {
        ContactHours {
            tries: vec![0; HOURS_PER_WEEK],
            wins: vec![0; HOURS_PER_WEEK],
        }
    }
}

impl ContactHours {
    /// Records one attempt (call after every call outcome).
    pub fn record(&mut self, attempt: Attempt) {
        let h = attempt.hour % HOURS_PER_WEEK;
        if self.tries.len() != HOURS_PER_WEEK || self.wins.len() != HOURS_PER_WEEK {
            *self = ContactHours::default();
        }
        self.tries[h] += 1;
        if attempt.success {
            self.wins[h] += 1;
        }
    }

    /// Posterior mean at hour `h` given the segment prior.
    pub fn posterior_mean(&self, prior: &HourPrior, h: usize) -> f64 {
        let h = h % HOURS_PER_WEEK;
        let tries = self.tries.get(h).copied().unwrap_or(0) as f64;
        let wins = self.wins.get(h).copied().unwrap_or(0) as f64;
        let a = prior.alpha[h] + wins;
        let b = prior.beta[h] + tries - wins;
        if a + b > 0.0 {
            a / (a + b)
        } else {
            0.5
        }
    }
}

/// An hour with its success probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourScore {
    pub hour: usize,
    pub probability: f64,
}

/// The `n` allowed hours with the highest posterior success probability, best first (ties:
/// earlier in the week first).
pub fn best_hours(
    prior: &HourPrior,
    contact: Option<&ContactHours>,
    allowed: &[usize],
    n: usize,
) -> Vec<HourScore> {
    let mut scores: Vec<HourScore> = allowed
        .iter()
        .map(|&h| HourScore {
            hour: h % HOURS_PER_WEEK,
            probability: match contact {
                Some(c) => c.posterior_mean(prior, h),
                None => prior.mean(h),
            },
        })
        .collect();
    scores.sort_by(|a, b| {
        b.probability
            .total_cmp(&a.probability)
            .then(a.hour.cmp(&b.hour))
    });
    if !hour_identified(prior, contact) {
        // Every hour of a day ties: rank the days, one entry each (at its first allowed hour).
        let mut days = [false; 7];
        let mut firsts = [usize::MAX; 7];
        for s in &scores {
            let d = s.hour / 24;
            firsts[d] = firsts[d].min(s.hour);
        }
        scores.retain(|s| {
            let d = s.hour / 24;
            let keep = !days[d];
            days[d] = true;
            keep
        });
        for s in &mut scores {
            s.hour = firsts[s.hour / 24];
        }
    }
    scores.truncate(n);
    scores
}

/// Whether the best hour *of the day* is known for this prior and contact: false for a
/// day-only prior (no hour in the training data) until the segment has had
/// [`MIN_LIVE_FOR_HOURS`] live attempts or the contact itself has answered once.
pub fn hour_identified(prior: &HourPrior, contact: Option<&ContactHours>) -> bool {
    prior.hours_identified() || contact.is_some_and(|c| c.wins.iter().any(|&w| w > 0))
}

/// Hour of week (0 = Monday 00h) of a Unix time in a callee's local time.
pub fn local_hour_of_week(unix: i64, utc_offset_min: i32) -> usize {
    let local = unix + i64::from(utc_offset_min) * 60;
    let hours = local.div_euclid(3600);
    // 1970-01-01 was a Thursday (weekday 3 when Monday is 0).
    let weekday = (hours.div_euclid(24) + 3).rem_euclid(7) as usize;
    hour_of_week(weekday, hours.rem_euclid(24) as usize)
}

/// Default allowed hours: Monday to Friday, 09h to 19h (the last attempt starts 19:59).
pub fn business_hours() -> Vec<usize> {
    (0..5)
        .flat_map(|d| (9..20).map(move |h| hour_of_week(d, h)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_move_the_best_hour() {
        let global = HourPrior::flat(0.3, 2.0);
        let seg_attempts: Vec<Attempt> = (0..20)
            .map(|i| Attempt {
                hour: hour_of_week(1, 10),
                success: i % 2 == 0,
            })
            .collect();
        let prior = HourPrior::fit(&seg_attempts, &global);
        let allowed = business_hours();
        let best = best_hours(&prior, None, &allowed, 3);
        assert_eq!(best[0].hour, hour_of_week(1, 10));
        // Neighbours get half weight, so they follow.
        assert!(best[1].hour == hour_of_week(1, 9) || best[1].hour == hour_of_week(1, 11));

        // This contact never answers on Tuesday 10h but always on Thursday 17h.
        let mut contact = ContactHours::default();
        for _ in 0..6 {
            contact.record(Attempt {
                hour: hour_of_week(1, 10),
                success: false,
            });
            contact.record(Attempt {
                hour: hour_of_week(3, 17),
                success: true,
            });
        }
        let best = best_hours(&prior, Some(&contact), &allowed, 1);
        assert_eq!(best[0].hour, hour_of_week(3, 17));
        assert!(
            contact.posterior_mean(&prior, hour_of_week(1, 10)) < prior.mean(hour_of_week(1, 10))
        );
    }

    #[test]
    fn prior_update_is_conjugate() {
        let mut p = HourPrior::flat(0.5, 2.0);
        p.update(Attempt {
            hour: 5,
            success: true,
        });
        assert!((p.mean(5) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(label(hour_of_week(4, 9)), "Fri 09h");
        assert_eq!(weekday_index("thu"), Some(3));
    }

    #[test]
    fn day_only_priors_rank_days_until_an_hour_is_seen() {
        let global = HourPrior::flat(0.1, 4.0);
        let mut tries = [0.0; 7];
        let mut wins = [0.0; 7];
        // Thursday converts best, then Tuesday; Monday worst.
        for (d, rate) in [(0, 0.05), (1, 0.15), (2, 0.1), (3, 0.2), (4, 0.1)] {
            tries[d] = 100.0;
            wins[d] = 100.0 * rate;
        }
        let allowed = business_hours();
        let mut prior = HourPrior::fit_by_day(&tries, &wins, &allowed, &global);
        assert!(prior.day_only && !hour_identified(&prior, None));
        let best = best_hours(&prior, None, &allowed, 3);
        let days: Vec<usize> = best.iter().map(|h| h.hour / 24).collect();
        assert_eq!(days, vec![3, 1, 2], "one entry per day, best day first");
        assert_eq!(best[0].hour, hour_of_week(3, 9));
        // A contact answering Tuesdays at 15h identifies the hour for that contact.
        let mut contact = ContactHours::default();
        for _ in 0..3 {
            contact.record(Attempt {
                hour: hour_of_week(1, 15),
                success: true,
            });
        }
        assert!(hour_identified(&prior, Some(&contact)));
        assert_eq!(
            best_hours(&prior, Some(&contact), &allowed, 1)[0].hour,
            hour_of_week(1, 15)
        );
        // Live attempts identify the segment's hours once there are enough of them.
        for i in 0..MIN_LIVE_FOR_HOURS {
            assert!(!hour_identified(&prior, None));
            prior.update(Attempt {
                hour: hour_of_week(3, 11),
                success: i % 2 == 0,
            });
        }
        assert!(hour_identified(&prior, None));
        assert_eq!(
            best_hours(&prior, None, &allowed, 1)[0].hour,
            hour_of_week(3, 11)
        );
    }

    #[test]
    fn local_hour_of_week_from_unix_time() {
        // 2024-01-04 was a Thursday; 10:30 UTC is 18:30 in Beijing (UTC+8).
        let t = 1_704_364_200;
        assert_eq!(local_hour_of_week(t, 0), hour_of_week(3, 10));
        assert_eq!(local_hour_of_week(t, 480), hour_of_week(3, 18));
        // Before the epoch and across midnight backwards: Wednesday 22h in UTC-12.
        assert_eq!(local_hour_of_week(t, -720), hour_of_week(2, 22));
        assert_eq!(local_hour_of_week(-3600, 0), hour_of_week(2, 23));
    }
}
