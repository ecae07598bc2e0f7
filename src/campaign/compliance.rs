//! Compliance: may this number be dialled now? Pure — `now` is an argument; the lists and dial
//! history are an in-memory snapshot ([`Compliance`]) the driver loads from the store and keeps
//! up to date. The store re-checks the DNC and blacklist inside the transaction that starts an
//! attempt, so a number listed after the snapshot is still never dialled.
//!
//! Every refusal is a [`Refusal`] with its reason and, when it is temporary, the first moment
//! the number may be dialled again (window opening, cap expiry), so the queue can park the
//! contact instead of re-checking it on every batch.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

use super::zones::Zones;
use crate::store::{ListFlags, ListKind, PhoneKey};

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
/// Unix day 0 (1970-01-01) as a Julian day number.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// A local time range `[start, end)` as `HH:MM` strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimeRange {
    pub start: String,
    pub end: String,
}

/// When a campaign may call, in the callee's local time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CallingWindow {
    /// ISO weekdays allowed: 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    pub ranges: Vec<TimeRange>,
    /// Local dates (`YYYY-MM-DD`) with no calls.
    pub holidays: Vec<String>,
}

impl Default for CallingWindow {
    fn default() -> Self {
        let r = |s: &str, e: &str| TimeRange {
            start: s.into(),
            end: e.into(),
        };
        Self {
            days: vec![1, 2, 3, 4, 5, 6],
            ranges: vec![r("09:00", "12:00"), r("14:00", "20:00")],
            holidays: Vec::new(),
        }
    }
}

/// Limits on how often one number is called, across every campaign (rolling windows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FrequencyCaps {
    /// At most this many dials in any 24 hours.
    pub per_day: Option<u32>,
    /// At most this many dials in any 7 days.
    pub per_week: Option<u32>,
    /// For graylisted numbers: at most this many dials in any 7 days.
    pub gray_per_week: u32,
}

impl Default for FrequencyCaps {
    fn default() -> Self {
        Self {
            per_day: Some(3),
            per_week: Some(10),
            gray_per_week: 1,
        }
    }
}

/// Errors in a window definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("weekday {0} is not 1 (Monday) … 7 (Sunday)")]
    Weekday(u8),
    #[error("time `{0}` is not HH:MM between 00:00 and 24:00")]
    Time(String),
    #[error("time range {start}–{end} is empty or reversed")]
    EmptyRange { start: String, end: String },
    #[error("holiday `{0}` is not a YYYY-MM-DD date")]
    Holiday(String),
}

/// Why a dial is refused now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Dnc,
    Blacklisted,
    MaxAttempts {
        max: u32,
    },
    /// Outside the callee's calling window; `opens_at` is `None` when it never opens.
    OutsideWindow {
        opens_at: Option<i64>,
    },
    /// The number's time zone is not known: no window can be checked.
    NoTimeZone,
    DailyCap {
        until: i64,
    },
    WeeklyCap {
        until: i64,
    },
    GraylistCap {
        until: i64,
    },
}

impl Refusal {
    /// When the number may be tried again; `None` means never.
    pub fn retry_at(self) -> Option<i64> {
        match self {
            Refusal::Dnc
            | Refusal::Blacklisted
            | Refusal::MaxAttempts { .. }
            | Refusal::NoTimeZone => None,
            Refusal::OutsideWindow { opens_at } => opens_at,
            Refusal::DailyCap { until }
            | Refusal::WeeklyCap { until }
            | Refusal::GraylistCap { until } => Some(until),
        }
    }

    /// The reason as recorded in the audit trail.
    pub fn reason(self) -> String {
        match self {
            Refusal::Dnc => "on the do-not-call list".into(),
            Refusal::Blacklisted => "blacklisted".into(),
            Refusal::MaxAttempts { max } => format!("max attempts ({max}) reached"),
            Refusal::OutsideWindow { opens_at: Some(t) } => {
                format!("outside the callee's calling window; opens at {t}")
            }
            Refusal::OutsideWindow { opens_at: None } => {
                "the calling window never opens for this callee (check days, ranges, holidays)"
                    .into()
            }
            Refusal::NoTimeZone => {
                "the callee's time zone is not known (region not in the zone table): \
                 their calling window cannot be checked"
                    .into()
            }
            Refusal::DailyCap { until } => format!("daily call cap reached until {until}"),
            Refusal::WeeklyCap { until } => format!("weekly call cap reached until {until}"),
            Refusal::GraylistCap { until } => format!("graylist cap reached until {until}"),
        }
    }
}

/// A callback time this far in the past is taken as "now": a form picks whole minutes.
pub const CALLBACK_GRACE_S: i64 = 300;

/// Why a callback time agreed with a callee cannot be kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackRefusal {
    /// Before now (by more than [`CALLBACK_GRACE_S`]).
    Past,
    /// Outside the callee's calling window, which opens next at `opens_at` (`None`: never).
    OutsideWindow { opens_at: Option<i64> },
    /// The callee's time zone is not known: no window can be checked.
    NoTimeZone,
}

/// The compiled rules of a campaign.
#[derive(Clone, Debug)]
pub struct Rules {
    days_mask: u8,
    /// Sorted minute-of-day ranges `[start, end)`.
    ranges: Vec<(u16, u16)>,
    /// Sorted local unix-day numbers.
    holidays: Vec<i64>,
    pub caps: FrequencyCaps,
    pub max_attempts: u32,
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let d: u8 = it.next()?.parse().ok()?;
    let month = time::Month::try_from(m).ok()?;
    let date = time::Date::from_calendar_date(y, month, d).ok()?;
    Some(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

impl Rules {
    /// Compiles a window, caps and attempt limit.
    pub fn new(
        window: &CallingWindow,
        caps: &FrequencyCaps,
        max_attempts: u32,
    ) -> Result<Self, RulesError> {
        let mut days_mask = 0u8;
        for &d in &window.days {
            if !(1..=7).contains(&d) {
                return Err(RulesError::Weekday(d));
            }
            days_mask |= 1 << (d - 1);
        }
        let mut ranges = Vec::with_capacity(window.ranges.len());
        for r in &window.ranges {
            let s = parse_hhmm(&r.start).ok_or_else(|| RulesError::Time(r.start.clone()))?;
            let e = parse_hhmm(&r.end).ok_or_else(|| RulesError::Time(r.end.clone()))?;
            if e <= s {
                return Err(RulesError::EmptyRange {
                    start: r.start.clone(),
                    end: r.end.clone(),
                });
            }
            ranges.push((s, e));
        }
        ranges.sort_unstable();
        let mut holidays = window
            .holidays
            .iter()
            .map(|h| parse_date(h).ok_or_else(|| RulesError::Holiday(h.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        holidays.sort_unstable();
        Ok(Self {
            days_mask,
            ranges,
            holidays,
            caps: caps.clone(),
            max_attempts,
        })
    }

    /// The hours of the week (0 = Monday 00h … 167 = Sunday 23h, local time) that the window
    /// opens at least partly: where a lead's best hour to call may fall. Holidays are dates,
    /// not hours of a week, and are left out.
    pub fn hours_of_week(&self) -> Vec<usize> {
        let mut hours = Vec::new();
        for day in 0..7usize {
            if self.days_mask & (1 << day) == 0 {
                continue;
            }
            for h in 0..24u16 {
                let (from, to) = (h * 60, h * 60 + 60);
                if self.ranges.iter().any(|&(s, e)| s < to && e > from) {
                    hours.push(day * 24 + usize::from(h));
                }
            }
        }
        hours
    }

    /// True when `now` is inside the window in every one of the callee's zones (a number that
    /// does not pin one zone must be in its window wherever the callee is). No zone: false.
    pub fn in_window(&self, now: i64, zones: &[Tz]) -> bool {
        !zones.is_empty() && zones.iter().all(|tz| self.in_zone_window(now, *tz))
    }

    fn in_zone_window(&self, now: i64, tz: Tz) -> bool {
        let local = now + i64::from(offset_s(tz, now));
        let day = local.div_euclid(DAY);
        let minute = (local.rem_euclid(DAY) / 60) as u16;
        self.day_allowed(day) && self.ranges.iter().any(|&(s, e)| minute >= s && minute < e)
    }

    fn day_allowed(&self, day: i64) -> bool {
        // 1970-01-01 was a Thursday (ISO weekday 4).
        let weekday = (day + 3).rem_euclid(7) as u8; // 0 = Monday
        self.days_mask & (1 << weekday) != 0 && self.holidays.binary_search(&day).is_err()
    }

    /// The first moment at or after `now` inside the window (in every zone); `None` if there
    /// is none within the next 400 days (the window can never open: no days, no ranges, all
    /// holidays, zones too far apart) or there is no zone.
    ///
    /// The window can only open when some zone's local clock shows a range start, or when a
    /// zone's clock jumps (a daylight-saving change: into a range after a spring-forward gap,
    /// or back into one on a fall-back repeat). Those instants are the candidates — a range
    /// start is tried with each offset the zone has around that day — and each is checked
    /// with [`Rules::in_window`]: the earliest that passes is the answer, so it is really
    /// inside the window and no earlier open instant is skipped.
    pub fn next_open(&self, now: i64, zones: &[Tz]) -> Option<i64> {
        if zones.is_empty() || self.ranges.is_empty() || self.days_mask == 0 {
            return None;
        }
        if self.in_window(now, zones) {
            return Some(now);
        }
        let today = now.div_euclid(DAY);
        let mut best: Option<i64> = None;
        let consider = |t: i64, best: &mut Option<i64>| {
            if t > now && best.is_none_or(|b| t < b) && self.in_window(t, zones) {
                *best = Some(t);
            }
        };
        for day in today - 1..today + 401 {
            for &tz in zones {
                // A change of offset during this UTC day: its exact second, by bisection.
                let (mut lo, mut hi) = (day * DAY, (day + 1) * DAY);
                let before = offset_s(tz, lo);
                if offset_s(tz, hi) != before {
                    while hi - lo > 1 {
                        let mid = lo + (hi - lo) / 2;
                        if offset_s(tz, mid) == before {
                            lo = mid;
                        } else {
                            hi = mid;
                        }
                    }
                    consider(hi, &mut best);
                }
                if !self.day_allowed(day) {
                    continue;
                }
                for &(s, _) in &self.ranges {
                    let local = day * DAY + i64::from(s) * 60;
                    for probe in [local - DAY, local, local + DAY] {
                        consider(local - i64::from(offset_s(tz, probe)), &mut best);
                    }
                }
            }
            // Candidates of later local days are all after (day + 1) · DAY − 14 h > day · DAY.
            if best.is_some_and(|b| b <= day * DAY) {
                break;
            }
        }
        best
    }

    /// Whether a callback agreed for `at` can be kept as agreed: not in the past, and inside
    /// the window in every one of the callee's zones. Caps and lists are left to dial time,
    /// when they are checked as for any other call.
    pub fn check_callback(&self, at: i64, zones: &[Tz], now: i64) -> Result<(), CallbackRefusal> {
        if at < now - CALLBACK_GRACE_S {
            return Err(CallbackRefusal::Past);
        }
        if zones.is_empty() {
            return Err(CallbackRefusal::NoTimeZone);
        }
        let at = at.max(now);
        match self.in_window(at, zones) {
            true => Ok(()),
            false => Err(CallbackRefusal::OutsideWindow {
                opens_at: self.next_open(at, zones),
            }),
        }
    }

    /// The decision for one number. `history` holds the number's dial times across every
    /// campaign, ascending.
    pub fn check(
        &self,
        lists: ListFlags,
        attempts: u32,
        zones: &[Tz],
        history: &[i64],
        now: i64,
    ) -> Result<(), Refusal> {
        if lists.black {
            return Err(Refusal::Blacklisted);
        }
        if lists.dnc {
            return Err(Refusal::Dnc);
        }
        if attempts >= self.max_attempts {
            return Err(Refusal::MaxAttempts {
                max: self.max_attempts,
            });
        }
        if zones.is_empty() {
            return Err(Refusal::NoTimeZone);
        }
        if !self.in_window(now, zones) {
            return Err(Refusal::OutsideWindow {
                opens_at: self.next_open(now, zones),
            });
        }
        if let Some(limit) = self.caps.per_day {
            if let Some(until) = cap_until(history, now, DAY, limit) {
                return Err(Refusal::DailyCap { until });
            }
        }
        if let Some(limit) = self.caps.per_week {
            if let Some(until) = cap_until(history, now, WEEK, limit) {
                return Err(Refusal::WeeklyCap { until });
            }
        }
        if lists.gray {
            if let Some(until) = cap_until(history, now, WEEK, self.caps.gray_per_week) {
                return Err(Refusal::GraylistCap { until });
            }
        }
        Ok(())
    }
}

/// The UTC offset of `tz` at `at` (unix seconds), in seconds.
fn offset_s(tz: Tz, at: i64) -> i32 {
    match chrono::DateTime::from_timestamp(at, 0) {
        Some(dt) => tz
            .offset_from_utc_datetime(&dt.naive_utc())
            .fix()
            .local_minus_utc(),
        None => 0,
    }
}

/// When `limit` dials within any `span` seconds would be exceeded by one more dial at `now`:
/// the moment enough old dials have left the window, else `None`.
fn cap_until(history: &[i64], now: i64, span: i64, limit: u32) -> Option<i64> {
    // Dials in the rolling window (now - span, now] (and any "future" ones, from clock skew).
    let from = history.partition_point(|&t| t <= now - span);
    let in_window = &history[from..];
    let count = in_window.len();
    let limit = limit as usize;
    if count < limit {
        return None;
    }
    // After in_window[count - limit] leaves the window, count - 1 - (count - limit) = limit - 1
    // dials remain, so one more is allowed.
    Some(in_window[count - limit] + span)
}

/// The dialer's in-memory compliance state: which numbers are listed, and when each number
/// was dialled recently (from every campaign).
#[derive(Debug, Default, Clone)]
pub struct Compliance {
    lists: HashMap<PhoneKey, ListFlags>,
    history: HashMap<PhoneKey, Vec<i64>>,
}

impl Compliance {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_listed(&mut self, key: PhoneKey, kind: ListKind, listed: bool) {
        let flags = self.lists.entry(key).or_default();
        match kind {
            ListKind::Dnc => flags.dnc = listed,
            ListKind::Black => flags.black = listed,
            ListKind::Gray => flags.gray = listed,
        }
    }

    pub fn flags(&self, key: &PhoneKey) -> ListFlags {
        self.lists.get(key).copied().unwrap_or_default()
    }

    /// Records a dial (keeps the history sorted).
    pub fn record_dial(&mut self, key: PhoneKey, at: i64) {
        let h = self.history.entry(key).or_default();
        let pos = h.partition_point(|&t| t <= at);
        h.insert(pos, at);
    }

    /// Forgets a dial that never left (gateway down).
    pub fn forget_dial(&mut self, key: &PhoneKey, at: i64) {
        if let Some(h) = self.history.get_mut(key) {
            if let Some(pos) = h.iter().position(|&t| t == at) {
                h.remove(pos);
            }
        }
    }

    pub fn history(&self, key: &PhoneKey) -> &[i64] {
        self.history.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Drops history older than any cap can look at.
    pub fn prune(&mut self, now: i64) {
        self.history.retain(|_, h| {
            h.retain(|&t| t > now - WEEK);
            !h.is_empty()
        });
    }

    /// [`Rules::check`] with this state.
    pub fn check(
        &self,
        rules: &Rules,
        key: &PhoneKey,
        attempts: u32,
        zones: Zones,
        now: i64,
    ) -> Result<(), Refusal> {
        rules.check(self.flags(key), attempts, zones, self.history(key), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::new(
            &CallingWindow {
                days: vec![1, 2, 3, 4, 5],
                ranges: vec![
                    TimeRange {
                        start: "09:00".into(),
                        end: "12:00".into(),
                    },
                    TimeRange {
                        start: "14:00".into(),
                        end: "20:00".into(),
                    },
                ],
                holidays: vec!["2026-10-01".into()],
            },
            &FrequencyCaps {
                per_day: Some(1),
                per_week: Some(3),
                gray_per_week: 1,
            },
            3,
        )
        .expect("valid rules")
    }

    // 2026-11-23 is a Monday; 00:00 UTC.
    const MON: i64 = 1_795_392_000;
    const BJ: &[Tz] = &[chrono_tz::Asia::Shanghai];
    const LON: &[Tz] = &[chrono_tz::Europe::London];

    #[test]
    fn window_in_callee_local_time() {
        let r = rules();
        // 02:00 UTC = 10:00 in Beijing (UTC+8), 02:00 in London.
        let t = MON + 2 * 3600;
        assert!(r.in_window(t, BJ));
        assert!(!r.in_window(t, LON));
        // 12:30 Beijing is the lunch gap; next opening 14:00 Beijing = 06:00 UTC.
        let lunch = MON + 4 * 3600 + 1800;
        assert_eq!(r.next_open(lunch, BJ), Some(MON + 6 * 3600));
        // Friday 20:00 Beijing → Monday 09:00 Beijing.
        let fri_evening = MON + 4 * DAY + 12 * 3600;
        assert_eq!(r.next_open(fri_evening, BJ), Some(MON + 7 * DAY + 3600));
    }

    /// A callback agreed with a callee: kept when it falls inside their window; refused in
    /// the past (beyond the grace of a form's minutes), outside the window (with the next
    /// opening), or for a callee whose zone is unknown.
    #[test]
    fn a_callback_time_is_kept_only_inside_the_callees_window() {
        let r = rules();
        let now = MON; // Monday 08:00 Beijing.
        let ten = MON + 2 * 3600; // 10:00 Beijing.
        assert_eq!(r.check_callback(ten, BJ, now), Ok(()));
        assert_eq!(
            r.check_callback(now - CALLBACK_GRACE_S - 1, BJ, now + 2 * 3600),
            Err(CallbackRefusal::Past)
        );
        // A minute ago, inside the window: as good as now.
        assert_eq!(r.check_callback(ten - 60, BJ, ten), Ok(()));
        // 22:00 Beijing: the window opens next at Tuesday 09:00 Beijing (01:00 UTC).
        assert_eq!(
            r.check_callback(MON + 14 * 3600, BJ, now),
            Err(CallbackRefusal::OutsideWindow {
                opens_at: Some(MON + DAY + 3600)
            })
        );
        assert_eq!(
            r.check_callback(ten, &[], now),
            Err(CallbackRefusal::NoTimeZone)
        );
    }

    /// Daylight saving: the same UTC hour is inside a New York window after the spring change
    /// and outside it before; a window start inside the spring-forward gap opens right after
    /// the gap (never inside a closed window); two zones must both be open.
    #[test]
    fn windows_follow_daylight_saving_in_the_callee_zone() {
        const NY: &[Tz] = &[chrono_tz::America::New_York];
        let every_day = |start: &str, end: &str| {
            Rules::new(
                &CallingWindow {
                    days: vec![1, 2, 3, 4, 5, 6, 7],
                    ranges: vec![TimeRange {
                        start: start.into(),
                        end: end.into(),
                    }],
                    holidays: vec![],
                },
                &FrequencyCaps::default(),
                3,
            )
            .expect("rules")
        };
        let r = every_day("09:00", "12:00");
        // 2026-03-08 is the US spring change. 13:30 UTC: 08:30 EST on the 6th, 09:30 EDT on
        // the 9th.
        let mar6 = parse_date("2026-03-06").expect("date") * DAY;
        let mar9 = parse_date("2026-03-09").expect("date") * DAY;
        assert!(!r.in_window(mar6 + 13 * 3600 + 1800, NY));
        assert!(r.in_window(mar9 + 13 * 3600 + 1800, NY));
        assert_eq!(r.next_open(mar6 + 12 * 3600, NY), Some(mar6 + 14 * 3600));
        assert_eq!(r.next_open(mar9 + 12 * 3600, NY), Some(mar9 + 13 * 3600));
        // 02:30 does not exist on 2026-03-08 in New York (02:00 → 03:00 EDT = 07:00 UTC).
        let r = every_day("02:30", "05:00");
        let mar8 = parse_date("2026-03-08").expect("date") * DAY;
        let open = r.next_open(mar8 + 5 * 3600, NY).expect("opens");
        assert!(r.in_window(open, NY), "{open}");
        assert_eq!(open, mar8 + 7 * 3600, "opens right after the gap");
        // Beijing 10:00 is London 02:00: closed in one of the two zones means closed.
        let r = rules();
        let both: &[Tz] = &[chrono_tz::Asia::Shanghai, chrono_tz::Europe::London];
        assert!(!r.in_window(MON + 2 * 3600, both));
        let open = r.next_open(MON + 2 * 3600, both).expect("opens");
        assert!(r.in_window(open, BJ) && r.in_window(open, LON));
        // No zone: never dialled, with the reason.
        assert_eq!(
            r.check(ListFlags::default(), 0, &[], &[], MON + 2 * 3600),
            Err(Refusal::NoTimeZone)
        );
    }

    #[test]
    fn window_hours_of_the_week() {
        let window = CallingWindow {
            days: vec![1, 7],
            ranges: vec![
                TimeRange {
                    start: "09:30".into(),
                    end: "11:00".into(),
                },
                TimeRange {
                    start: "19:00".into(),
                    end: "20:15".into(),
                },
            ],
            holidays: vec![],
        };
        let rules = Rules::new(&window, &FrequencyCaps::default(), 3).expect("window compiles");
        // Monday 09h (from 09:30), 10h, 19h, 20h (to 20:15); the same on Sunday.
        assert_eq!(
            rules.hours_of_week(),
            vec![
                9,
                10,
                19,
                20,
                6 * 24 + 9,
                6 * 24 + 10,
                6 * 24 + 19,
                6 * 24 + 20
            ]
        );
    }

    #[test]
    fn holidays_close_the_whole_local_day() {
        let r = rules();
        // 2026-10-01 (Thursday) 10:00 Beijing = 02:00 UTC.
        let national_day = parse_date("2026-10-01").expect("date") * DAY + 2 * 3600;
        assert!(!r.in_window(national_day, BJ));
        assert!(r.in_window(national_day + DAY, BJ));
    }

    #[test]
    fn an_impossible_window_is_reported_as_never() {
        let r = Rules::new(
            &CallingWindow {
                days: vec![],
                ..CallingWindow::default()
            },
            &FrequencyCaps::default(),
            3,
        )
        .expect("rules");
        assert_eq!(
            r.check(ListFlags::default(), 0, BJ, &[], MON),
            Err(Refusal::OutsideWindow { opens_at: None })
        );
    }

    #[test]
    fn caps_and_lists() {
        let r = rules();
        let t = MON + 2 * 3600;
        let ok = ListFlags::default();
        assert_eq!(r.check(ok, 0, BJ, &[], t), Ok(()));
        assert_eq!(
            r.check(ok, 0, BJ, &[t - 3600], t),
            Err(Refusal::DailyCap {
                until: t - 3600 + DAY
            })
        );
        let week = [t - 5 * DAY, t - 4 * DAY, t - 2 * DAY];
        assert_eq!(
            r.check(ok, 0, BJ, &week, t),
            Err(Refusal::WeeklyCap {
                until: t - 5 * DAY + WEEK
            })
        );
        let gray = ListFlags { gray: true, ..ok };
        assert!(matches!(
            r.check(gray, 0, BJ, &[t - 2 * DAY], t),
            Err(Refusal::GraylistCap { .. })
        ));
        let dnc = ListFlags { dnc: true, ..ok };
        assert_eq!(r.check(dnc, 0, BJ, &[], t), Err(Refusal::Dnc));
        assert_eq!(
            r.check(ok, 3, BJ, &[], t),
            Err(Refusal::MaxAttempts { max: 3 })
        );
    }

    #[test]
    fn bad_windows_are_errors() {
        let w = CallingWindow {
            days: vec![8],
            ..CallingWindow::default()
        };
        assert_eq!(
            Rules::new(&w, &FrequencyCaps::default(), 1).err(),
            Some(RulesError::Weekday(8))
        );
        let mut w = CallingWindow::default();
        w.ranges[0].end = "08:00".into();
        assert!(matches!(
            Rules::new(&w, &FrequencyCaps::default(), 1),
            Err(RulesError::EmptyRange { .. })
        ));
        let w = CallingWindow {
            holidays: vec!["2026-02-30".into()],
            ..CallingWindow::default()
        };
        assert!(Rules::new(&w, &FrequencyCaps::default(), 1).is_err());
    }
}
