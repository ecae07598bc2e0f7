//! The campaign dialer: compliance properties over random contacts, clocks, time zones,
//! windows and histories; the driver against the switch simulator (outcomes and retries per
//! cause, gateway down, slot release), and the crash test (driver aborted at random moments,
//! store reopened, restarted many times).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aicall::campaign::compliance::{CallingWindow, Compliance, FrequencyCaps, Rules, TimeRange};
use aicall::campaign::driver::{self, DriverConfig};
use aicall::campaign::pacing::{
    AgentSnapshot, LinePool, PacingConfig, PredictiveConfig, SharedAgents,
};
use aicall::campaign::queue::{Queue, QueueEntry};
use aicall::campaign::retry::RetryPolicy;
use aicall::campaign::CampaignSettings;
use aicall::esl::{ClientConfig, EslClient, HangupCause};
use aicall::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch, Step};
use aicall::store::{
    Contact, ContactPii, ContactState, Disposition, LineType, ListFlags, ListKind, PhoneKey,
    PiiCipher, SledStore, Store,
};
use chrono_tz::Tz;
use proptest::prelude::*;

const DAY: i64 = 86_400;

// ---------------------------------------------------------------- compliance properties

fn arb_rules() -> impl Strategy<Value = (CallingWindow, FrequencyCaps, u32)> {
    let range = (0u16..24 * 60, 1u16..12 * 60).prop_map(|(s, len)| {
        let e = (s + len).min(24 * 60);
        let fmt = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        TimeRange {
            start: fmt(s),
            end: fmt(e.max(s + 1)),
        }
    });
    (
        proptest::collection::btree_set(1u8..=7, 0..=7),
        proptest::collection::vec(range, 0..3),
        proptest::collection::vec(0i64..60, 0..4),
        proptest::option::of(1u32..4),
        proptest::option::of(1u32..8),
        1u32..3,
        1u32..5,
    )
        .prop_map(|(days, ranges, holidays, per_day, per_week, gray, max)| {
            let holidays = holidays
                .into_iter()
                .map(|d| {
                    let date =
                        time::Date::from_julian_day((2_461_000 + d) as i32).expect("date in range");
                    format!(
                        "{:04}-{:02}-{:02}",
                        date.year(),
                        u8::from(date.month()),
                        date.day()
                    )
                })
                .collect();
            (
                CallingWindow {
                    days: days.into_iter().collect(),
                    ranges,
                    holidays,
                },
                FrequencyCaps {
                    per_day,
                    per_week,
                    gray_per_week: gray,
                },
                max,
            )
        })
}

/// Callee zone sets: single zones with and without daylight saving (north and south, 30- and
/// 45-minute offsets, Lord Howe's 30-minute DST), and numbers that straddle zones.
const ZONES: [&[Tz]; 12] = [
    &[chrono_tz::Asia::Shanghai],
    &[chrono_tz::Europe::London],
    &[chrono_tz::America::New_York],
    &[chrono_tz::Asia::Kolkata],
    &[chrono_tz::Asia::Kathmandu],
    &[chrono_tz::Australia::Sydney],
    &[chrono_tz::Australia::Lord_Howe],
    &[chrono_tz::America::St_Johns],
    &[chrono_tz::America::Santiago],
    &[chrono_tz::Pacific::Auckland],
    &[chrono_tz::America::New_York, chrono_tz::America::Chicago],
    &[chrono_tz::Europe::Berlin, chrono_tz::Asia::Shanghai],
];

/// An independent reading of the rules: is `now` inside the window in every zone? (chrono's
/// calendar conversion of the instant, the window's strings read as written.)
fn window_allows(w: &CallingWindow, now: i64, zones: &[Tz]) -> bool {
    use chrono::{Datelike, TimeZone, Timelike};
    !zones.is_empty()
        && zones.iter().all(|tz| {
            let local = tz
                .timestamp_opt(now, 0)
                .single()
                .expect("an instant has one local time");
            let weekday = local.weekday().number_from_monday() as u8;
            let date = format!(
                "{:04}-{:02}-{:02}",
                local.year(),
                local.month(),
                local.day()
            );
            let minute = (local.hour() * 60 + local.minute()) as u16;
            let parse = |s: &str| {
                let (h, m) = s.split_once(':').expect("HH:MM");
                h.parse::<u16>().expect("hour") * 60 + m.parse::<u16>().expect("minute")
            };
            w.days.contains(&weekday)
                && !w.holidays.contains(&date)
                && w.ranges
                    .iter()
                    .any(|r| minute >= parse(&r.start) && minute < parse(&r.end))
        })
}

/// 2026 daylight-saving changes (UTC) of the zones above (checked against Python's zoneinfo).
const DST_CHANGES: [i64; 14] = [
    1_772_953_200, // 2026-03-08 07:00 New York spring
    1_793_512_800, // 2026-11-01 06:00 New York fall
    1_774_746_000, // 2026-03-29 01:00 EU spring
    1_792_890_000, // 2026-10-25 01:00 EU fall
    1_775_318_400, // 2026-04-04 16:00 Sydney fall
    1_791_043_200, // 2026-10-03 16:00 Sydney spring
    1_775_314_800, // 2026-04-04 15:00 Lord Howe fall (30 min)
    1_791_041_400, // 2026-10-03 15:30 Lord Howe spring
    1_775_358_000, // 2026-04-05 03:00 Santiago fall
    1_788_667_200, // 2026-09-06 04:00 Santiago spring
    1_775_311_200, // 2026-04-04 14:00 Auckland fall
    1_790_431_200, // 2026-09-26 14:00 Auckland spring
    1_772_947_800, // 2026-03-08 05:30 St John's spring
    1_793_507_400, // 2026-11-01 04:30 St John's fall
];

fn count_within(history: &[i64], now: i64, span: i64) -> usize {
    history
        .iter()
        .filter(|&&t| t > now - span && t <= now)
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// A single decision: allowed only if every rule holds; a temporary refusal names a
    /// moment that is really later, and a window opening is really inside the window.
    #[test]
    fn a_dial_is_allowed_only_when_every_rule_holds(
        (window, caps, max) in arb_rules(),
        now in 1_750_000_000i64..1_800_000_000,
        zones in proptest::sample::select(ZONES.to_vec()),
        back in proptest::collection::vec(0i64..10 * DAY, 0..8),
        flags in (any::<bool>(), any::<bool>(), any::<bool>()),
        attempts in 0u32..6,
    ) {
        let rules = Rules::new(&window, &caps, max).expect("generated rules are valid");
        let mut history: Vec<i64> = back.iter().map(|b| now - b).collect();
        history.sort_unstable();
        let lists = ListFlags { dnc: flags.0, black: flags.1, gray: flags.2 };
        prop_assert_eq!(rules.in_window(now, zones), window_allows(&window, now, zones));
        match rules.check(lists, attempts, zones, &history, now) {
            Ok(()) => {
                prop_assert!(!lists.dnc && !lists.black);
                prop_assert!(attempts < max);
                prop_assert!(window_allows(&window, now, zones));
                if let Some(d) = caps.per_day {
                    prop_assert!(count_within(&history, now, DAY) < d as usize);
                }
                if let Some(wk) = caps.per_week {
                    prop_assert!(count_within(&history, now, 7 * DAY) < wk as usize);
                }
                if lists.gray {
                    prop_assert!(count_within(&history, now, 7 * DAY) < caps.gray_per_week as usize);
                }
            }
            Err(refusal) => {
                if let Some(at) = refusal.retry_at() {
                    prop_assert!(at > now || window_allows(&window, at, zones));
                }
                if let aicall::campaign::Refusal::OutsideWindow { opens_at: Some(t) } = refusal {
                    prop_assert!(window_allows(&window, t, zones), "opens_at {t} is not open");
                }
            }
        }
    }

    /// A whole campaign on simulated time: random contacts in random time zones, some listed,
    /// with random earlier dials from other campaigns. Every dial the queue hands out is
    /// checked against an independent reading of the rules with the full history at that
    /// moment (including the dials made during the run).
    #[test]
    fn a_simulated_campaign_never_dials_against_the_rules(
        (window, caps, max) in arb_rules(),
        start in 1_750_000_000i64..1_800_000_000,
        contacts in proptest::collection::vec(
            (proptest::sample::select(ZONES.to_vec()), 0u8..10, proptest::collection::vec(0i64..8 * DAY, 0..3), proptest::option::of(0.0f32..1.0), proptest::option::of(0u8..24)),
            1..25),
        step in 600i64..4 * 3600,
    ) {
        let rules = Rules::new(&window, &caps, max).expect("valid rules");
        let mut compliance = Compliance::new();
        let mut queue = Queue::new();
        let mut attempts: HashMap<u64, u32> = HashMap::new();
        let mut offsets = HashMap::new();
        let mut listed = HashMap::new();
        for (i, (zones, list, back, score, best)) in contacts.iter().enumerate() {
            let id = i as u64 + 1;
            let key = PhoneKey([id as u8; 32]);
            let flags = ListFlags { dnc: *list == 0, black: *list == 1, gray: *list == 2 };
            for (kind, on) in [(ListKind::Dnc, flags.dnc), (ListKind::Black, flags.black), (ListKind::Gray, flags.gray)] {
                if on { compliance.set_listed(key, kind, true); }
            }
            for b in back { compliance.record_dial(key, start - b); }
            listed.insert(id, flags);
            offsets.insert(id, *zones);
            queue.push(QueueEntry {
                id, phone_key: key, utc_offset_min: 0, zones, attempts: 0, seq: id,
                score: *score, best_hour: *best, next_at: start,
            });
        }
        let mut now = start;
        for _ in 0..200 {
            let batch = queue.next_batch(now, 3, &rules, &compliance);
            for e in batch.dial {
                let flags = listed[&e.id];
                prop_assert!(!flags.dnc && !flags.black, "dialled a listed number");
                prop_assert!(window_allows(&window, now, offsets[&e.id]), "dialled outside the window");
                let made = attempts.entry(e.id).or_default();
                prop_assert!(*made < max, "over max attempts");
                let h = compliance.history(&e.phone_key);
                if let Some(d) = caps.per_day { prop_assert!(count_within(h, now, DAY) < d as usize); }
                if let Some(w) = caps.per_week { prop_assert!(count_within(h, now, 7 * DAY) < w as usize); }
                if flags.gray { prop_assert!(count_within(h, now, 7 * DAY) < caps.gray_per_week as usize); }
                *made += 1;
                compliance.record_dial(e.phone_key, now);
                // Every call fails (no answer): retry in an hour.
                let mut again = e.clone();
                again.attempts = *made;
                again.next_at = now + 3600;
                queue.push(again);
            }
            if queue.is_empty() { break; }
            now += step;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Clocks near daylight-saving changes (±2 days, any minute), random windows and zones:
    /// the window decision agrees with chrono's local time, and the next opening is inside
    /// the window, later than now, and never skips an instant that is open: every minute
    /// between now and the opening is closed.
    #[test]
    fn windows_around_daylight_saving_changes(
        (window, caps, max) in arb_rules(),
        change in proptest::sample::select(DST_CHANGES.to_vec()),
        delta_min in -2 * 1440i64..2 * 1440,
        zones in proptest::sample::select(ZONES.to_vec()),
    ) {
        let rules = Rules::new(&window, &caps, max).expect("valid rules");
        let now = change + delta_min * 60;
        let open = window_allows(&window, now, zones);
        prop_assert_eq!(rules.in_window(now, zones), open);
        match rules.next_open(now, zones) {
            Some(t) if open => prop_assert_eq!(t, now),
            Some(t) => {
                prop_assert!(t > now);
                prop_assert!(window_allows(&window, t, zones), "opening {t} is closed");
                // Minute steps from the next whole minute up to the opening (bounded: a
                // window may open weeks later when days and holidays say so).
                let mut m = now - now.rem_euclid(60) + 60;
                let mut steps = 0;
                while m < t && steps < 3 * 1440 {
                    prop_assert!(!window_allows(&window, m, zones), "open at {m}, before {t}");
                    m += 60;
                    steps += 1;
                }
            }
            None => {
                // Never opens: nothing in the next three days is open either.
                for k in 0..3 * 24 * 4 {
                    prop_assert!(!window_allows(&window, now + k * 900, zones));
                }
            }
        }
    }
}

// ---------------------------------------------------------------- predictive pacing

/// What one run of the simulated agent pool measured.
#[derive(Debug)]
struct PoolRun {
    placed: u64,
    answered: u64,
    abandoned: u64,
    /// Talking agent-seconds over available agent-seconds.
    utilisation: f64,
    /// The highest abandon rate the pacer's rolling window showed once 100 calls had answered.
    worst_window_rate: f64,
}

/// A simulated agent pool on a one-second clock, seeded. A placed call rings 3–12 s and is
/// answered with probability `answer_p` (else it rings out after 20 s); an answered call goes
/// to a free agent, who talks for an exponential time (mean `talk_mean_s`) then wraps up for
/// 5 s (reported as "soon free"), or is abandoned when no agent is free. `predictive` false is
/// progressive 1:1 dialling: one call per free agent not already covered by a ringing call.
fn run_pool(
    predictive: bool,
    seed: u64,
    agents: u32,
    answer_p: f64,
    talk_mean_s: f64,
    seconds: u32,
) -> PoolRun {
    use aicall::campaign::pacing::{AgentSnapshot, Predictive, PredictiveConfig};
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut p = Predictive::new(PredictiveConfig::default());
    // Ringing calls: (second the ringing ends, answers?).
    let mut ringing: Vec<(u32, bool)> = Vec::new();
    // Per agent: talking until, or wrapping up until; None = free.
    #[derive(Clone, Copy)]
    enum Agent {
        Free,
        Talking { until: u32, since: u32 },
        WrapUp { until: u32 },
    }
    let mut pool = vec![Agent::Free; agents as usize];
    let mut run = PoolRun {
        placed: 0,
        answered: 0,
        abandoned: 0,
        utilisation: 0.0,
        worst_window_rate: 0.0,
    };
    let mut talking_seconds = 0u64;
    for t in 0..seconds {
        // Agents finish talking / wrapping up.
        for a in pool.iter_mut() {
            match *a {
                Agent::Talking { until, since } if until <= t => {
                    p.record_talk_time(f64::from(until - since));
                    *a = Agent::WrapUp { until: t + 5 };
                }
                Agent::WrapUp { until } if until <= t => *a = Agent::Free,
                _ => {}
            }
        }
        // Calls whose ringing ends now.
        let (ended, still): (Vec<_>, Vec<_>) = ringing.iter().partition(|(end, _)| *end <= t);
        ringing = still;
        for (_, answers) in ended {
            p.record_dial(answers);
            if !answers {
                continue;
            }
            run.answered += 1;
            match pool.iter_mut().find(|a| matches!(a, Agent::Free)) {
                Some(agent) => {
                    let u: f64 = rng.random();
                    let talk = (-talk_mean_s * (1.0 - u).ln()).ceil().max(1.0) as u32;
                    *agent = Agent::Talking {
                        until: t + talk,
                        since: t,
                    };
                    p.record_answered(false);
                }
                None => {
                    run.abandoned += 1;
                    p.record_answered(true);
                }
            }
        }
        if run.answered >= 100 {
            run.worst_window_rate = run.worst_window_rate.max(p.abandon_rate());
        }
        let snapshot = AgentSnapshot {
            free: pool.iter().filter(|a| matches!(a, Agent::Free)).count() as u32,
            busy: pool
                .iter()
                .filter(|a| matches!(a, Agent::Talking { .. }))
                .count() as u32,
            soon: pool
                .iter()
                .filter(|a| matches!(a, Agent::WrapUp { .. }))
                .count() as u32,
        };
        talking_seconds += u64::from(snapshot.busy);
        let in_progress = ringing.len() as u32;
        let n = if predictive {
            p.calls_to_place(snapshot, in_progress)
        } else {
            snapshot.free.saturating_sub(in_progress)
        };
        for _ in 0..n {
            let answers = rng.random::<f64>() < answer_p;
            let ring = if answers {
                rng.random_range(3..=12)
            } else {
                20
            };
            ringing.push((t + ring, answers));
        }
        run.placed += u64::from(n);
    }
    run.utilisation = talking_seconds as f64 / (f64::from(agents) * f64::from(seconds));
    run
}

/// Predictive pacing on a simulated agent pool: the abandon rate stays under the 3% cap (over
/// the whole run and in the pacer's rolling window at every moment), and agents talk more of
/// their time than with progressive 1:1 dialling — for several seeds, pool sizes and answer
/// rates.
#[test]
fn predictive_pacing_keeps_abandons_under_the_cap_and_beats_progressive_dialling() {
    for (seed, agents, answer_p, talk) in [
        (1u64, 20u32, 0.3, 60.0),
        (2, 50, 0.25, 90.0),
        (3, 8, 0.5, 45.0),
        (4, 20, 0.15, 120.0),
    ] {
        let seconds = 8 * 3600;
        let pred = run_pool(true, seed, agents, answer_p, talk, seconds);
        let prog = run_pool(false, seed, agents, answer_p, talk, seconds);
        eprintln!(
            "agents {agents} answer {answer_p} talk {talk}s: predictive utilisation {:.3} \
             (abandon {:.4}, worst window {:.4}, placed {}), progressive {:.3} (abandon {:.4})",
            pred.utilisation,
            pred.abandoned as f64 / pred.answered as f64,
            pred.worst_window_rate,
            pred.placed,
            prog.utilisation,
            prog.abandoned as f64 / prog.answered.max(1) as f64,
        );
        assert!(pred.answered > 1000, "{pred:?}");
        let rate = pred.abandoned as f64 / pred.answered as f64;
        assert!(
            rate <= 0.03,
            "abandon rate {rate:.4} over the 3% cap: {pred:?}"
        );
        assert!(
            pred.worst_window_rate <= 0.03 + 1e-9,
            "rolling window reached {:.4}",
            pred.worst_window_rate
        );
        // Progressive dialling never abandons: one call per free agent.
        assert_eq!(prog.abandoned, 0);
        assert!(
            pred.utilisation > prog.utilisation * 1.1,
            "predictive {:.3} vs progressive {:.3}",
            pred.utilisation,
            prog.utilisation
        );
    }
}

// ---------------------------------------------------------------- driver against the simulator

fn fast_settings(max_attempts: u32, pools: Vec<LinePool>) -> CampaignSettings {
    CampaignSettings {
        default_region: "CN".into(),
        window: CallingWindow {
            days: vec![1, 2, 3, 4, 5, 6, 7],
            ranges: vec![TimeRange {
                start: "00:00".into(),
                end: "24:00".into(),
            }],
            holidays: vec![],
        },
        caps: FrequencyCaps {
            per_day: None,
            per_week: None,
            gray_per_week: 1,
        },
        max_attempts,
        retry: RetryPolicy {
            busy_s: 0,
            no_answer_s: 0,
            rejected_s: None,
            network_failure_s: 0,
            cancelled_s: 0,
            voicemail_s: Some(0),
            powered_off_s: 0,
            unreachable_s: 0,
            suspended_s: Some(0),
            unknown_s: 0,
            gateway_down_s: 0,
            abandoned_s: 0,
            jitter_pct: 0,
            max_delay_s: 10,
        },
        pacing: PacingConfig {
            max_concurrent: 8,
            calls_per_s: 200.0,
            pools,
            originate_timeout_s: 5,
            gateway_down_pause_s: 1,
            ..PacingConfig::default()
        },
        call: Default::default(),
    }
}

fn pool(name: &str, capacity: u32, backup: bool) -> LinePool {
    LinePool {
        name: name.into(),
        gateway: name.into(),
        capacity,
        caller_ids: vec!["4000".into(), "4001".into()],
        backup,
    }
}

fn callee(number: &str, outcome: Outcome, ring_ms: u64) -> Callee {
    Callee {
        number: Some(number.into()),
        name: None,
        outcome: Some(outcome),
        ring_ms: Some(ring_ms),
        rate: Some(8000),
        script: if outcome == Outcome::Answer {
            vec![Step::SilenceMs(150), Step::Hangup("NORMAL_CLEARING".into())]
        } else {
            vec![]
        },
        max_call_ms: None,
        early: Vec::new(),
    }
}

async fn sim_with(callees: &[Callee]) -> SimSwitch {
    let mut scenarios = Scenarios::default();
    for c in callees {
        scenarios.insert(c.clone());
    }
    SimSwitch::start(SimConfig {
        scenarios,
        record_audio: false,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn open_store(dir: &std::path::Path) -> Arc<SledStore> {
    Arc::new(SledStore::open_with(dir, PiiCipher::new([9u8; 32])).expect("store opens"))
}

fn seed_campaign(store: &SledStore, settings: &CampaignSettings, numbers: &[String]) {
    seed_campaign_with(store, settings, numbers, |_| BTreeMap::new());
}

fn seed_campaign_with(
    store: &SledStore,
    settings: &CampaignSettings,
    numbers: &[String],
    fields: impl Fn(usize) -> BTreeMap<String, String>,
) {
    store
        .create_campaign(&settings.record("c1", 0))
        .expect("campaign created");
    let first = store.reserve_ids(numbers.len() as u64).expect("ids");
    let contacts: Vec<Contact> = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| Contact {
            id: first + i as u64,
            campaign: "c1".into(),
            phone_key: store.phone_key(n),
            pii: ContactPii {
                phone: n.clone(),
                name: Some(format!("contact {i}")),
                fields: fields(i),
            },
            line_type: LineType::Mobile,
            region: "CN".into(),
            utc_offset_min: 480,
            seq: i as u64,
            score: None,
            best_hour: None,
            state: ContactState::Pending,
            attempts: 0,
            next_at: 0,
            note: String::new(),
        })
        .collect();
    store.put_contacts(&contacts).expect("contacts stored");
}

fn number(i: usize) -> String {
    format!("+86138{:08}", 10_000 + i)
}

async fn connect(sim: &SimSwitch) -> (EslClient, aicall::esl::EventStream) {
    EslClient::connect(ClientConfig {
        addr: sim.addr().to_string(),
        ..ClientConfig::default()
    })
    .await
    .expect("client connects")
}

/// The dialer alone (no conversation) on a fresh connection, with nobody steering it.
async fn run_driver(
    store: Arc<SledStore>,
    client: EslClient,
    events: aicall::esl::EventStream,
    cfg: DriverConfig,
) -> Result<driver::RunSummary, driver::DriverError> {
    let placer = aicall::app::placer::dialer_only(client, events)
        .await
        .expect("subscribes");
    let (_control, control) = tokio::sync::mpsc::channel(1);
    driver::run(store, placer, cfg, control).await
}

/// Runs the dialer alone until the campaign is done; its contacts by number.
async fn run_to_end(
    store: &Arc<SledStore>,
    sim: &SimSwitch,
    limit: Duration,
) -> HashMap<String, Contact> {
    let (client, events) = connect(sim).await;
    tokio::time::timeout(
        limit,
        run_driver(store.clone(), client.clone(), events, cfg()),
    )
    .await
    .expect("campaign finishes")
    .expect("driver runs");
    client.close().await;
    store
        .contacts("c1")
        .expect("contacts")
        .into_iter()
        .map(|c| (c.pii.phone.clone(), c))
        .collect()
}

fn cfg() -> DriverConfig {
    DriverConfig {
        tick: Duration::from_millis(20),
        exit_when_done: true,
        ..DriverConfig::new("c1")
    }
}

/// Outcomes and retries per cause, a DNC number refused with its reason, and slot release on
/// every hangup path (answer, busy, no answer, rejected, unallocated).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_per_cause_dnc_and_slot_release() {
    let outcomes = [
        Outcome::Answer,
        Outcome::Busy,
        Outcome::NoAnswer,
        Outcome::Rejected,
        Outcome::Unallocated,
        Outcome::Answer,
    ];
    let numbers: Vec<String> = (0..outcomes.len()).map(number).collect();
    let callees: Vec<Callee> = numbers
        .iter()
        .zip(outcomes)
        .map(|(n, o)| callee(n, o, 80))
        .collect();
    let sim = sim_with(&callees).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let settings = fast_settings(2, vec![pool("primary", 4, false), pool("backup", 4, true)]);
    seed_campaign(&store, &settings, &numbers);
    let dnc = number(99);
    seed_extra(&store, &dnc);
    store
        .list_add(
            &store.phone_key(&dnc),
            &aicall::store::ListEntry {
                kind: ListKind::Dnc,
                added_at: 0,
                source: "test".into(),
            },
        )
        .expect("dnc");
    let (client, events) = connect(&sim).await;
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        run_driver(store.clone(), client.clone(), events, cfg()),
    )
    .await
    .expect("campaign finishes")
    .expect("driver runs");
    client.close().await;
    let by_number: HashMap<String, Contact> = store
        .contacts("c1")
        .expect("contacts")
        .into_iter()
        .map(|c| (c.pii.phone.clone(), c))
        .collect();
    let expect = [
        (0, ContactState::Done, 1),
        (1, ContactState::Exhausted, 2),
        (2, ContactState::Exhausted, 2),
        (3, ContactState::Exhausted, 1),
        (4, ContactState::Invalid, 1),
        (5, ContactState::Done, 1),
    ];
    for (i, state, attempts) in expect {
        let c = &by_number[&number(i)];
        assert_eq!(
            (c.state, c.attempts),
            (state, attempts),
            "contact {i}: {}",
            c.note
        );
    }
    assert_eq!(by_number[&dnc].state, ContactState::Blocked);
    assert_eq!(by_number[&dnc].attempts, 0);
    assert!(summary.refused >= 1);
    // Every hangup path gave its slot back.
    assert_eq!(summary.slots_in_use, 0);
    let trail = store.audit_trail(by_number[&dnc].id).expect("audit");
    assert!(
        trail.iter().any(|a| a.reason.contains("do-not-call")),
        "{trail:?}"
    );
    // Every channel is gone (the driver ends a call on its HANGUP_COMPLETE; the DESTROY
    // follows in the channel's own task) and the driver's accounting matched: sim CDRs = our
    // attempts.
    until("every channel to be destroyed", || sim.live_channels() == 0).await;
    let cdrs = sim.cdrs();
    let attempts_total: u32 = expect.iter().map(|e| e.2).sum();
    assert_eq!(cdrs.len() as u32, attempts_total);
    let busy = store
        .attempts_of(by_number[&number(1)].id)
        .expect("attempts");
    assert!(busy.iter().all(
        |a| a.disposition == Some(Disposition::Busy) && a.cause.as_deref() == Some("USER_BUSY")
    ));
    sim.stop().await;
}

/// Early media: the originate completes on it (no `ignore_early_media`), so FreeSWITCH's
/// `originate_timeout` no longer runs. A far end that answers after its ringback is a call
/// like any other; one whose early media never ends is hung up by aicall as unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_media_that_never_answers_is_given_up() {
    let numbers: Vec<String> = (0..2).map(number).collect();
    let mut answers = callee(&numbers[0], Outcome::Answer, 80);
    answers.early = vec![Step::SilenceMs(600)];
    let mut rings_on = callee(&numbers[1], Outcome::Answer, 80);
    rings_on.early = vec![Step::SilenceMs(600_000)];
    let sim = sim_with(&[answers, rings_on]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let settings = fast_settings(1, vec![pool("primary", 4, false)]);
    seed_campaign(&store, &settings, &numbers);
    let started = std::time::Instant::now();
    let by_number = run_to_end(&store, &sim, Duration::from_secs(90)).await;
    let first = store
        .attempts_of(by_number[&numbers[0]].id)
        .expect("attempts");
    assert_eq!(
        first[0].disposition,
        Some(Disposition::Completed),
        "{first:?}"
    );
    let second = store
        .attempts_of(by_number[&numbers[1]].id)
        .expect("attempts");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].cause.as_deref(), Some("NO_ANSWER"), "{second:?}");
    assert_eq!(second[0].disposition, Some(Disposition::NoAnswer));
    // Given up once the originate's result would have been waited for (5 s + 15 s), not
    // after the ten minutes the far end would have rung.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    until("every channel to be destroyed", || sim.live_channels() == 0).await;
    sim.stop().await;
}

fn seed_extra(store: &SledStore, n: &str) {
    let id = store.reserve_ids(1).expect("id");
    store
        .put_contact(&Contact {
            id,
            campaign: "c1".into(),
            phone_key: store.phone_key(n),
            pii: ContactPii {
                phone: n.into(),
                name: None,
                fields: BTreeMap::new(),
            },
            line_type: LineType::Mobile,
            region: "CN".into(),
            utc_offset_min: 480,
            seq: 1000,
            score: None,
            best_hour: None,
            state: ContactState::Pending,
            attempts: 0,
            next_at: 0,
            note: String::new(),
        })
        .expect("contact");
}

/// GATEWAY_DOWN on the primary pool: the pool is paused, the attempts do not count, and the
/// backup pool reaches every contact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_gateway_pauses_its_pool_instead_of_burning_contacts() {
    let numbers: Vec<String> = (0..6).map(number).collect();
    let mut callees: Vec<Callee> = numbers
        .iter()
        .map(|n| callee(n, Outcome::Answer, 50))
        .collect();
    callees.push(Callee {
        number: None,
        name: Some("dead".into()),
        outcome: Some(Outcome::GatewayDown),
        ring_ms: Some(0),
        rate: None,
        script: vec![],
        max_call_ms: None,
        early: Vec::new(),
    });
    let sim = sim_with(&callees).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    // The gateway name doubles as the simulator scenario: "dead" is down, "live" answers.
    let mut settings = fast_settings(1, vec![pool("dead", 4, false), pool("live", 4, true)]);
    settings.pacing.gateway_down_pause_s = 3600;
    settings.pacing.dial_template =
        "{sim_scenario=${gateway}}sofia/gateway/${gateway}/${phone}".into();
    seed_campaign(&store, &settings, &numbers);
    let (client, events) = connect(&sim).await;
    let ran = tokio::time::timeout(
        Duration::from_secs(20),
        run_driver(store.clone(), client.clone(), events, cfg()),
    )
    .await;
    let states: Vec<_> = store
        .contacts("c1")
        .expect("contacts")
        .iter()
        .map(|c| (c.state, c.attempts, c.note.clone()))
        .collect();
    ran.unwrap_or_else(|_| panic!("campaign did not finish: {states:?}"))
        .expect("driver runs");
    client.close().await;
    for c in store.contacts("c1").expect("contacts") {
        // max_attempts = 1: a counted gateway failure would have exhausted the contact.
        assert_eq!((c.state, c.attempts), (ContactState::Done, 1), "{}", c.note);
        let attempts = store.attempts_of(c.id).expect("attempts");
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].gateway, "live");
    }
    sim.stop().await;
}

/// Predictive pacing wired into the driver: a predictive campaign without an agent source is
/// refused with a clear error; with no agent free nothing is dialled; with two free, no more
/// than two calls ring at once (no answers measured yet, so no over-dialling budget).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_predictive_campaign_dials_for_the_agents_it_reads() {
    let numbers: Vec<String> = (0..6).map(number).collect();
    let callees: Vec<Callee> = numbers
        .iter()
        .map(|n| callee(n, Outcome::NoAnswer, 300))
        .collect();
    let sim = sim_with(&callees).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let mut settings = fast_settings(1, vec![pool("gw", 8, false)]);
    settings.pacing.predictive = Some(PredictiveConfig::default());
    seed_campaign(&store, &settings, &numbers);

    let (client, events) = connect(&sim).await;
    let err = run_driver(store.clone(), client.clone(), events, cfg())
        .await
        .expect_err("no agent source");
    assert!(err.to_string().contains("agent source"), "{err}");
    client.close().await;
    assert!(sim.cdrs().is_empty());

    let agents = SharedAgents::new(AgentSnapshot::default());
    let (client, events) = connect(&sim).await;
    let run = tokio::spawn(run_driver(
        store.clone(),
        client.clone(),
        events,
        DriverConfig {
            agents: Some(Arc::new(agents.clone())),
            ..cfg()
        },
    ));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sim.live_channels(), 0, "dialled with no agent free");
    assert!(sim.cdrs().is_empty());
    agents.set(AgentSnapshot {
        free: 2,
        busy: 0,
        soon: 0,
    });
    let mut peak = 0;
    let watch = async {
        while !run.is_finished() {
            // Not hung up: a call that ended may still be torn down when the next is dialled.
            peak = peak.max(sim.channels_up());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), watch)
        .await
        .expect("campaign finishes");
    let summary = run.await.expect("driver task").expect("driver runs");
    client.close().await;
    assert!(
        (1..=2).contains(&peak),
        "peak of {peak} ringing calls for 2 agents"
    );
    assert_eq!(summary.originated, 6);
    assert_eq!(summary.slots_in_use, 0);
    // A call that never answered is destroyed after its originate's result went out, in the
    // channel's task: the driver may have finished first.
    until("every channel to be destroyed", || sim.live_channels() == 0).await;
    assert_eq!(sim.cdrs().len(), 6);
    for c in store.contacts("c1").expect("contacts") {
        assert_eq!(
            (c.state, c.attempts),
            (ContactState::Exhausted, 1),
            "{}",
            c.note
        );
    }
    sim.stop().await;
}

/// The crash test: the driver is aborted at random moments and the store closed and
/// reopened, many times, while calls are up in the simulator; afterwards every contact is
/// terminal with the attempts the policy allows, no attempt was dialled twice, every dial
/// was written before it was sent, and known outcomes match the switch's records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_restart_many_times_without_losing_or_double_dialling() {
    let mix = [
        (Outcome::Answer, 300),
        (Outcome::Busy, 60),
        (Outcome::NoAnswer, 250),
        (Outcome::Unallocated, 0),
        (Outcome::Answer, 120),
    ];
    let numbers: Vec<String> = (0..30).map(number).collect();
    let callees: Vec<Callee> = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| callee(n, mix[i % mix.len()].0, mix[i % mix.len()].1))
        .collect();
    let sim = sim_with(&callees).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let max_attempts = 3;
    {
        let store = open_store(dir.path());
        seed_campaign(
            &store,
            &fast_settings(max_attempts, vec![pool("gw", 6, false)]),
            &numbers,
        );
    }
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    let mut restarts = 0;
    let mut finished = false;
    while restarts < 12 {
        let store = open_store(dir.path());
        let (client, events) = connect(&sim).await;
        let handle = tokio::spawn(run_driver(store.clone(), client.clone(), events, cfg()));
        tokio::time::sleep(Duration::from_millis(next(30, 400))).await;
        if handle.is_finished() {
            let s = handle.await.expect("driver task").expect("driver run");
            assert_eq!(s.slots_in_use, 0);
            client.close().await;
            finished = true;
            break;
        }
        handle.abort();
        let _ = handle.await;
        client.close().await;
        drop(store);
        restarts += 1;
    }
    if !finished {
        let store = open_store(dir.path());
        let (client, events) = connect(&sim).await;
        let s = tokio::time::timeout(
            Duration::from_secs(90),
            run_driver(store.clone(), client.clone(), events, cfg()),
        )
        .await
        .expect("campaign finishes after the last restart")
        .expect("driver runs");
        assert_eq!(s.slots_in_use, 0);
        client.close().await;
    }
    assert!(
        restarts >= 3,
        "only {restarts} restarts: the campaign ended too soon"
    );
    until("every channel to be destroyed", || sim.live_channels() == 0).await;
    assert_exactly_once(dir.path(), &sim, max_attempts);
    sim.stop().await;
}

/// After a crash test: every contact is terminal with the attempts the policy allows, no
/// channel UUID was dialled twice, every dial the switch saw was recorded before it was sent,
/// and known outcomes agree with the switch's records.
fn assert_exactly_once(dir: &std::path::Path, sim: &SimSwitch, max_attempts: u32) {
    // Calls of killed runs that were still up were tracked to their end by the final run,
    // which only returns when none is open.
    let store = open_store(dir);
    let cdrs = sim.cdrs();
    let mut dialled: HashMap<String, usize> = HashMap::new();
    for c in &cdrs {
        *dialled.entry(c.uuid.clone()).or_default() += 1;
    }
    assert!(
        dialled.values().all(|n| *n == 1),
        "a channel UUID was dialled twice"
    );
    let mut known: HashSet<String> = HashSet::new();
    let retry = fast_settings(max_attempts, vec![]).retry;
    for c in store.contacts("c1").expect("contacts") {
        assert!(c.state.is_terminal(), "contact {} left {:?}", c.id, c.state);
        let attempts = store.attempts_of(c.id).expect("attempts");
        assert_eq!(attempts.len() as u32, c.attempts, "contact {}", c.id);
        assert!(c.attempts >= 1 && c.attempts <= max_attempts);
        // Replaying the recorded dispositions through the policy gives the same end.
        let mut state = ContactState::Pending;
        for (i, a) in attempts.iter().enumerate() {
            assert_eq!(a.number as usize, i + 1);
            let d = a.disposition.expect("every attempt resolved");
            state = match retry.next(d, a.callback_at, a.number, max_attempts, 0, 0) {
                aicall::campaign::retry::Next::Stop(s) => s,
                aicall::campaign::retry::Next::RetryAt(_) => ContactState::Pending,
            };
            if i + 1 < attempts.len() {
                assert_eq!(
                    state,
                    ContactState::Pending,
                    "attempt after a final outcome"
                );
            }
            known.insert(a.uuid.clone());
            // Known outcomes agree with the switch.
            if let Some(cdr) = cdrs.iter().find(|x| x.uuid == a.uuid) {
                if d != Disposition::Unknown {
                    let expected = if cdr.answered {
                        Disposition::Completed
                    } else {
                        aicall::campaign::retry::disposition_of(cdr.cause)
                    };
                    assert_eq!(d, expected, "attempt {} ({:?})", a.uuid, cdr.cause);
                }
            }
        }
        assert_eq!(state, c.state, "contact {} ends as the policy says", c.id);
    }
    // Every call the switch saw was recorded as an attempt before it was sent.
    for uuid in dialled.keys() {
        assert!(known.contains(uuid), "dial {uuid} has no attempt record");
    }
    assert_eq!(sim.live_channels(), 0);
    let _ = HangupCause::NormalClearing;
}

// The crash test with a real process (`aicall serve` killed with SIGKILL) is in
// tests/serve.rs.

// ---------------------------------------------------------------- import edge cases

mod import {
    use super::*;
    use aicall::campaign::import::{import_file, ImportError, ImportOptions};
    use aicall::campaign::phone::region;

    fn setup() -> (tempfile::TempDir, Arc<SledStore>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_store(&dir.path().join("db"));
        store
            .create_campaign(&CampaignSettings::default().record("c1", 0))
            .expect("campaign");
        (dir, store)
    }

    fn opts() -> ImportOptions {
        ImportOptions::new("c1", region("CN").expect("CN"))
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write fixture");
        p
    }

    #[test]
    fn csv_with_bom_semicolons_bad_rows_and_duplicates() {
        let (dir, store) = setup();
        let text = "\u{feff}姓名;手机号;城市\n\
                    张三;138 0013 8000;北京\n\
                    李四;;上海\n\
                    王五;12345;广州\n\
                    张三;+86 13800138000;\n\
                    赵六;13900139000;深圳;extra\n\
                    钱七;010-65529988;北京\n";
        let path = write(&dir, "list.csv", text.as_bytes());
        let report = import_file(store.as_ref(), &path, &opts()).expect("imports");
        assert_eq!(report.rows, 6);
        assert_eq!(report.imported, 2);
        assert_eq!(report.merged, 1);
        let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 6]);
        assert!(
            report.rejected[0].reason.contains("empty"),
            "{:?}",
            report.rejected
        );
        assert!(
            report.rejected[2].reason.contains("fields"),
            "{:?}",
            report.rejected
        );
        let file = std::fs::read_to_string(report.report_file.expect("report file")).expect("read");
        assert_eq!(file.lines().count(), 4);
        let contacts = store.contacts("c1").expect("contacts");
        let zs = contacts
            .iter()
            .find(|c| c.pii.phone == "+8613800138000")
            .expect("merged contact");
        assert_eq!(zs.pii.name.as_deref(), Some("张三"));
        assert_eq!(zs.pii.fields.get("城市").map(String::as_str), Some("北京"));
        let landline = contacts
            .iter()
            .find(|c| c.pii.phone == "+861065529988")
            .expect("landline");
        assert_eq!(landline.line_type, LineType::Landline);
        // Importing again merges into the existing contacts instead of duplicating them.
        let again = import_file(store.as_ref(), &path, &opts()).expect("re-import");
        assert_eq!((again.imported, again.merged), (0, 3));
        assert_eq!(store.contacts("c1").expect("contacts").len(), 2);
    }

    #[test]
    fn rejects_name_the_same_lines_whatever_the_line_endings() {
        let rows = [
            "手机号,姓名",
            "13800138000,张三",
            "12345,坏号",
            "",
            "13900139000,李四",
            "999,坏",
        ];
        for (name, ending) in [("lf.csv", "\n"), ("crlf.csv", "\r\n"), ("cr.csv", "\r")] {
            let (dir, store) = setup();
            let text = rows.join(ending) + ending;
            let path = write(&dir, name, text.as_bytes());
            let report = import_file(store.as_ref(), &path, &opts()).expect("imports");
            let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
            assert_eq!(lines, vec![3, 6], "{name}: {:?}", report.rejected);
            assert_eq!(report.imported, 2, "{name}");
        }
    }

    #[test]
    fn repeated_and_unnamed_columns_lose_no_cell() {
        let (dir, store) = setup();
        let text = "手机号,城市,城市,\n13800138000,北京,上海,VIP\n";
        let path = write(&dir, "cols.csv", text.as_bytes());
        let report = import_file(store.as_ref(), &path, &opts()).expect("imports");
        assert_eq!(report.imported, 1);
        assert_eq!(
            report.notes,
            vec!["column 3 repeats the name `城市`: its cells are kept as `城市 (3)`"]
        );
        let c = &store.contacts("c1").expect("contacts")[0];
        let field = |k: &str| c.pii.fields.get(k).map(String::as_str);
        assert_eq!(field("城市"), Some("北京"));
        assert_eq!(field("城市 (3)"), Some("上海"));
        assert_eq!(field("column4"), Some("VIP"));
    }

    #[test]
    fn gbk_tabs_and_column_mapping() {
        let (dir, store) = setup();
        let (gbk, _, _) =
            encoding_rs::GBK.encode("客户\t联系方式\t备注\n张三\t13800138000\t老客户\n");
        let path = write(&dir, "gbk.csv", &gbk);
        // Wrong column names: a clear error naming the columns that exist.
        let err = import_file(store.as_ref(), &path, &opts()).expect_err("no phone column");
        assert!(matches!(err, ImportError::NoPhoneColumn { .. }));
        assert!(err.to_string().contains("联系方式"), "{err}");
        let mut o = opts();
        o.map = ImportOptions::parse_map("phone=联系方式,name=客户").expect("map");
        let report = import_file(store.as_ref(), &path, &o).expect("imports with --map");
        assert_eq!(report.imported, 1);
        assert_eq!(report.notes, vec!["read as GB18030/GBK"]);
        let c = &store.contacts("c1").expect("contacts")[0];
        assert_eq!(c.pii.name.as_deref(), Some("张三"));
        assert_eq!(c.pii.fields.get("备注").map(String::as_str), Some("老客户"));
        o.map = ImportOptions::parse_map("phone=电话").expect("map");
        assert!(matches!(
            import_file(store.as_ref(), &path, &o),
            Err(ImportError::MappedColumnMissing { .. })
        ));
    }

    #[test]
    fn broken_quoting_empty_and_binary_files() {
        let (dir, store) = setup();
        let text = "phone,name\n13800138000,\"ok\"\n13900139000,\"unclosed\n13700137000,next\n";
        let path = write(&dir, "quotes.csv", text.as_bytes());
        let report = import_file(store.as_ref(), &path, &opts()).expect("imports the rest");
        assert_eq!(report.imported, 1);
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].line, 3);
        assert!(
            report.rejected[0].reason.contains("quot"),
            "{:?}",
            report.rejected
        );

        let empty = write(&dir, "empty.csv", b"");
        assert!(matches!(
            import_file(store.as_ref(), &empty, &opts()),
            Err(ImportError::Empty { .. })
        ));
        let binary = write(
            &dir,
            "a.csv",
            b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00garbage",
        );
        assert!(matches!(
            import_file(store.as_ref(), &binary, &opts()),
            Err(ImportError::Text {
                source: aicall::textfile::TextError::Binary { offset: 7 },
                ..
            })
        ));
        let fake_xlsx = write(&dir, "b.xlsx", b"PK\x03\x04 not really a zip");
        assert!(matches!(
            import_file(store.as_ref(), &fake_xlsx, &opts()),
            Err(ImportError::Xlsx { .. })
        ));
        let header_only = write(&dir, "h.csv", b"phone\n");
        let r = import_file(store.as_ref(), &header_only, &opts()).expect("nothing to import");
        assert_eq!((r.rows, r.imported), (0, 0));
    }

    #[test]
    fn xlsx_with_several_sheets_and_merged_cells() {
        let (dir, store) = setup();
        let path = dir.path().join("list.xlsx");
        let mut wb = rust_xlsxwriter::Workbook::new();
        {
            let ws = wb.add_worksheet();
            ws.set_name("客户").expect("name");
            for (c, h) in ["手机号", "姓名", "城市"].iter().enumerate() {
                ws.write_string(0, c as u16, *h).expect("header");
            }
            // Numbers typed as numbers, as Excel users do.
            ws.write_number(1, 0, 13800138000.0).expect("cell");
            ws.write_string(1, 1, "张三").expect("cell");
            ws.write_number(2, 0, 13900139000.0).expect("cell");
            ws.write_string(2, 1, "李四").expect("cell");
            // One city merged over both rows.
            ws.merge_range(1, 2, 2, 2, "北京", &rust_xlsxwriter::Format::new())
                .expect("merge");
            ws.write_string(3, 0, "not a number").expect("cell");
        }
        {
            let ws = wb.add_worksheet();
            ws.set_name("Notes").expect("name");
            ws.write_string(0, 0, "comment").expect("cell");
            ws.write_string(1, 0, "no phone column here").expect("cell");
        }
        {
            let ws = wb.add_worksheet();
            ws.set_name("More").expect("name");
            ws.write_string(0, 0, "phone").expect("cell");
            ws.write_string(1, 0, "+44 20 7946 0958").expect("cell");
            ws.write_string(2, 0, "13800138000").expect("cell");
        }
        wb.save(&path).expect("xlsx written");
        let report = import_file(store.as_ref(), &path, &opts()).expect("imports");
        assert_eq!(report.imported, 3);
        assert_eq!(report.merged, 1);
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].location, "客户 row 4");
        let contacts = store.contacts("c1").expect("contacts");
        for n in ["+8613800138000", "+8613900139000"] {
            let c = contacts.iter().find(|c| c.pii.phone == n).expect("contact");
            assert_eq!(
                c.pii.fields.get("城市").map(String::as_str),
                Some("北京"),
                "{n}"
            );
        }
        let uk = contacts
            .iter()
            .find(|c| c.pii.phone == "+442079460958")
            .expect("uk");
        assert_eq!((uk.region.as_str(), uk.utc_offset_min), ("GB", 0));
    }
}

/// An answered call that leaves mod_callcenter's queue without an agent is abandoned: the
/// driver reads the queue's member variables from the hangup event, files the attempt as
/// `Abandoned` with the CDR cause ABANDONED, and calls the callee again (here at once,
/// `abandoned_s = 0`) up to the attempt limit. A queued call an agent answered is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_abandoned_in_the_agent_queue_are_retried() {
    use aicall::esl::{ClientEvent, EventKind};
    let numbers: Vec<String> = (0..2).map(number).collect();
    let callees: Vec<Callee> = numbers
        .iter()
        .map(|n| Callee {
            script: vec![
                Step::SilenceMs(1500),
                Step::Hangup("NORMAL_CLEARING".into()),
            ],
            ..callee(n, Outcome::Answer, 50)
        })
        .collect();
    let sim = sim_with(&callees).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let settings = fast_settings(2, vec![pool("primary", 4, false)]);
    seed_campaign(&store, &settings, &numbers);

    // Stands in for the dialplan's `callcenter` application: on every answered channel it
    // sets what mod_callcenter leaves on a member channel — for the first number, queued and
    // never answered by an agent; for the second, queued and answered.
    let (queue, mut queue_events) = connect(&sim).await;
    queue
        .subscribe(&["CHANNEL_ANSWER"])
        .await
        .expect("subscribe");
    let abandoned_digits = numbers[0].trim_start_matches('+').to_string();
    let queued = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let queued_in_task = queued.clone();
    let agent_queue = tokio::spawn(async move {
        while let Some(ev) = queue_events.recv().await {
            let ClientEvent::Event(ev) = ev else { continue };
            if ev.kind() != EventKind::ChannelAnswer {
                continue;
            }
            let (Some(uuid), Some(dialed)) = (ev.unique_id(), ev.variable("dialed_user")) else {
                continue;
            };
            let mut vars = vec![("cc_queue_joined_epoch", "1795400000")];
            if dialed.ends_with(&abandoned_digits[2..]) {
                vars.extend([("cc_cause", "cancel"), ("cc_cancel_reason", "TIMEOUT")]);
            } else {
                vars.push(("cc_queue_answered_epoch", "1795400003"));
            }
            for (k, v) in vars {
                queue
                    .api_ok(&format!("uuid_setvar {uuid} {k} {v}"))
                    .await
                    .expect("setvar");
            }
            queued_in_task.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });

    let by_number = run_to_end(&store, &sim, Duration::from_secs(60)).await;
    let lost = &by_number[&numbers[0]];
    assert_eq!(
        (lost.state, lost.attempts),
        (ContactState::Exhausted, 2),
        "abandoned twice, then the attempt limit: {}",
        lost.note
    );
    let attempts = store.attempts_of(lost.id).expect("attempts");
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts
            .iter()
            .all(|a| a.disposition == Some(Disposition::Abandoned)),
        "{attempts:?}"
    );
    let served = &by_number[&numbers[1]];
    assert_eq!((served.state, served.attempts), (ContactState::Done, 1));
    assert_eq!(
        store.attempts_of(served.id).expect("attempts")[0].disposition,
        Some(Disposition::Completed)
    );
    assert_eq!(
        queued.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "three answered calls passed through the queue"
    );
    agent_queue.abort();
    sim.stop().await;
}

/// The lead model hand-off in a real driver run: every attempt that leaves the switch feeds
/// the scorer (the contact is rescored with its call history, its segment's hour-of-week
/// counts grow), and the counts are saved next to the model when the dialer lets go of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_outcome_rescores_the_contact_and_feeds_its_segments_hours() {
    use aicall::profile::csv::Table;
    use aicall::profile::dialer::LeadScorer;
    use aicall::profile::gbm::GbmParams;
    use aicall::profile::{LeadModel, TrainOptions};
    use std::sync::Mutex;

    // A small model on synthetic customers: older ones and retirees convert more often.
    let jobs = ["admin.", "retired", "student", "services"];
    let rows: Vec<Vec<String>> = (0..800usize)
        .map(|i| {
            let age = 20 + (i * 37) % 55;
            let job = jobs[(i * 7) % jobs.len()];
            let likely = age > 55 || job == "retired";
            let yes = likely ^ (i % 9 == 0);
            vec![
                age.to_string(),
                job.to_string(),
                if yes { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    let table = Table::new(vec!["age".into(), "job".into(), "y".into()], rows);
    let mut opts = TrainOptions::new("y");
    opts.folds = 3;
    opts.grid = vec![GbmParams {
        learning_rate: 0.1,
        num_leaves: 7,
        min_data_in_leaf: 20,
        num_rounds: 60,
        early_stopping_rounds: 10,
        ..GbmParams::default()
    }];
    opts.segment_ks = vec![2];
    let model = LeadModel::train(&table, &opts, &mut |_| {}).expect("lead model trains");
    let model_dir = tempfile::tempdir().expect("model dir");
    model.save(model_dir.path()).expect("model saved");
    let scorer = Arc::new(Mutex::new(
        LeadScorer::load(model_dir.path()).expect("scorer loads"),
    ));

    // One callee answers, one never does (retried to the limit), one is busy (retried too).
    let numbers: Vec<String> = (0..3).map(number).collect();
    let callees = vec![
        callee(&numbers[0], Outcome::Answer, 50),
        callee(&numbers[1], Outcome::NoAnswer, 200),
        callee(&numbers[2], Outcome::Busy, 50),
    ];
    let sim = sim_with(&callees).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let settings = fast_settings(2, vec![pool("primary", 4, false)]);
    seed_campaign_with(&store, &settings, &numbers, |i| {
        BTreeMap::from([
            ("age".to_string(), (30 + 15 * i).to_string()),
            ("job".to_string(), jobs[i].to_string()),
        ])
    });
    assert!(store
        .contacts("c1")
        .expect("contacts")
        .iter()
        .all(|c| c.score.is_none()));

    let (client, events) = connect(&sim).await;
    let config = DriverConfig {
        leads: Some(scorer.clone()),
        ..cfg()
    };
    tokio::time::timeout(
        Duration::from_secs(60),
        run_driver(store.clone(), client.clone(), events, config),
    )
    .await
    .expect("campaign finishes")
    .expect("driver runs");
    client.close().await;
    sim.stop().await;

    let contacts = store.contacts("c1").expect("contacts");
    let attempts: u32 = contacts.iter().map(|c| c.attempts).sum();
    assert_eq!(
        attempts,
        1 + 2 + 2,
        "answered once, the others to the limit"
    );
    let live = |s: &LeadScorer| -> u64 {
        s.model()
            .segments
            .iter()
            .map(|seg| seg.prior.live_updates)
            .sum()
    };
    {
        let s = scorer.lock().expect("scorer");
        assert_eq!(
            live(&s),
            u64::from(attempts),
            "one hour-count update per attempt"
        );
        for c in &contacts {
            // Rescored after its calls: the stored score is the model's, with the history.
            let score = c.score.expect("rescored after the call");
            let history = aicall::profile::dialer::contact_hours(
                c,
                &store.attempts_of(c.id).expect("attempts"),
            );
            let expected = s.score(c, Some(&history)).probability as f32;
            assert!((0.0..=1.0).contains(&score));
            assert!((score - expected).abs() < 1e-6, "{score} vs {expected}");
        }
    }
    // The counts outlive the process: saved with the model, read back on the next load.
    drop(scorer);
    let reloaded = LeadScorer::load(model_dir.path()).expect("reloads");
    assert_eq!(live(&reloaded), u64::from(attempts));
}

/// Stands in for the switch and aicall's desk: every call it places is answered and handed
/// to an agent, and stays up until the test hangs it up (then it ended `transferred`).
#[derive(Debug, Default)]
struct DeskPlacer {
    /// The calls up, by contact: sending hangs the call up.
    up: std::sync::Mutex<HashMap<u64, tokio::sync::oneshot::Sender<()>>>,
    /// Every call placed: contact, channel UUID, unix seconds.
    placed: std::sync::Mutex<Vec<(u64, String, i64)>>,
}

impl DeskPlacer {
    fn hang_up(&self, contact: u64) {
        let up = self
            .up
            .lock()
            .expect("the placer's tables")
            .remove(&contact);
        up.expect("the contact's call is up")
            .send(())
            .expect("the driver follows the call");
    }

    fn placed(&self) -> Vec<(u64, String, i64)> {
        self.placed.lock().expect("the placer's tables").clone()
    }
}

impl driver::Placer for DeskPlacer {
    fn place(&self, mut call: driver::Placement) -> driver::BoxFuture<driver::CallEnd> {
        let (hang_up, hung_up) = tokio::sync::oneshot::channel();
        self.up
            .lock()
            .expect("the placer's tables")
            .insert(call.contact_id, hang_up);
        self.placed.lock().expect("the placer's tables").push((
            call.contact_id,
            call.uuid.clone(),
            unix_now(),
        ));
        if let Some(sent) = call.sent.take() {
            let _ = sent.send(());
        }
        let _ = call.progress.send(driver::Progress::Answered {
            uuid: call.uuid.clone(),
        });
        Box::pin(async move {
            let _ = hung_up.await;
            driver::CallEnd {
                uuid: call.uuid,
                cause: Some(HangupCause::NormalClearing),
                decided: Some((Disposition::Transferred, None)),
                answered: true,
                billsec: 30,
                ..driver::CallEnd::default()
            }
        })
    }

    fn adopt(&self, call: driver::Placement, answered: bool) -> driver::BoxFuture<driver::CallEnd> {
        Box::pin(async move { driver::CallEnd::lost(call.uuid, answered) })
    }

    fn live_channels(&self) -> driver::BoxFuture<Result<HashSet<String>, aicall::esl::EslError>> {
        Box::pin(async { Ok(HashSet::new()) })
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What agents file after calls the desk took reaches the dialer: a callback filed while the
/// call is still up is kept for its end, then dialled no sooner than the agreed time; a sale
/// filed after the call ends the contact; the attempts carry the agents' outcomes; and an
/// outcome for a call a later attempt followed is refused without stopping the dialer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_callback_is_dialled_at_its_time_and_a_sale_ends_the_contact() {
    use driver::{AgentFiled, Control, Refiled};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let settings = fast_settings(3, vec![pool("primary", 4, false)]);
    let numbers: Vec<String> = (0..2).map(number).collect();
    seed_campaign(&store, &settings, &numbers);
    let ids: Vec<u64> = store
        .contacts("c1")
        .expect("contacts")
        .iter()
        .map(|c| c.id)
        .collect();
    let (callback, sale) = (ids[0], ids[1]);
    let desk = Arc::new(DeskPlacer::default());
    let (control, rx) = tokio::sync::mpsc::channel(4);
    let cfg = DriverConfig {
        exit_when_done: false,
        ..cfg()
    };
    let run = tokio::spawn(driver::run(store.clone(), desk.clone(), cfg, rx));
    let refile = |filed: AgentFiled| {
        let control = control.clone();
        async move {
            let (reply, answer) = tokio::sync::oneshot::channel();
            control
                .send(Control::Refile(filed, reply))
                .await
                .expect("the dialer runs");
            answer.await.expect("the dialer answers")
        }
    };
    until("both contacts are with agents", || desk.placed().len() == 2).await;
    let first = |contact: u64| {
        desk.placed()
            .into_iter()
            .find(|p| p.0 == contact)
            .expect("the contact was called")
            .1
    };
    let ended = |contact: u64| {
        let store = store.clone();
        move || store.contact(contact).expect("contact").state != ContactState::InFlight
    };

    // The sale: the call ends (transferred), then the agent files it.
    desk.hang_up(sale);
    until("the sale's call ends", ended(sale)).await;
    let done = refile(AgentFiled {
        uuid: first(sale),
        agent: "1001".into(),
        disposition: Disposition::Converted,
        callback_at: None,
    })
    .await
    .expect("filed");
    assert!(matches!(
        done,
        Refiled::Now {
            state: ContactState::Done,
            ..
        }
    ));
    let sold = store.attempt(&first(sale)).expect("attempt");
    assert_eq!(sold.disposition, Some(Disposition::Converted));
    let contact = store.contact(sale).expect("contact");
    assert_eq!(contact.state, ContactState::Done);
    assert!(contact.note.contains("agent 1001"), "{}", contact.note);

    // The callback, filed while the agent still talks: kept for the call's end. (Far enough
    // ahead that the call's end is recorded before it is due, on a loaded machine too.)
    let at = unix_now() + 6;
    let later = refile(AgentFiled {
        uuid: first(callback),
        agent: "1001".into(),
        disposition: Disposition::Callback,
        callback_at: Some(at),
    })
    .await
    .expect("filed");
    assert_eq!(later, Refiled::AtCallEnd);
    desk.hang_up(callback);
    until("the callback's call ends", ended(callback)).await;
    let agreed = store.attempt(&first(callback)).expect("attempt");
    assert_eq!(agreed.disposition, Some(Disposition::Callback));
    assert_eq!(agreed.callback_at, Some(at));
    let contact = store.contact(callback).expect("contact");
    assert_eq!(
        (contact.state, contact.next_at),
        (ContactState::Pending, at)
    );

    // Dialled again, not before the agreed time; the sale never again.
    until("the callback is dialled", || desk.placed().len() == 3).await;
    let (who, uuid, placed_at) = desk.placed()[2].clone();
    assert_eq!(who, callback);
    assert!(placed_at >= at, "dialled at {placed_at}, agreed {at}");
    assert!(store.attempt(&uuid).expect("attempt").started_at >= at);

    // The first call's outcome is history now: refused, and the dialer goes on.
    let err = refile(AgentFiled {
        uuid: first(callback),
        agent: "1001".into(),
        disposition: Disposition::Converted,
        callback_at: None,
    })
    .await
    .expect_err("a later attempt was made");
    assert!(err.to_string().contains("a later attempt"), "{err}");
    desk.hang_up(callback);
    until("the callback's call ends", ended(callback)).await;
    assert_eq!(store.attempts_of(sale).expect("attempts").len(), 1);
    assert_eq!(store.attempts_of(callback).expect("attempts").len(), 2);

    let (ack, stopped) = tokio::sync::oneshot::channel();
    control
        .send(Control::SetState(
            aicall::store::CampaignState::Stopped,
            ack,
        ))
        .await
        .expect("the dialer runs");
    stopped.await.expect("stopped");
    let summary = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends once stopped")
        .expect("the task ran")
        .expect("the dialer ran");
    assert_eq!(summary.originated, 3);
    assert_eq!(summary.slots_in_use, 0);
}
