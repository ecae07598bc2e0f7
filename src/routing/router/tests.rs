//! The router on simulated time: state machines, timers, strategies, fairness, learning,
//! live changes, bad input; and a property test over random input sequences.

use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_oneof, proptest};
use proptest::strategy::Strategy as Generator;
use proptest::test_runner::Config as ProptestConfig;

use super::super::config::WidenStage;
use super::super::score::Component;
use super::*;

const S: u64 = 1000;

fn agent(id: &str, skills: &[(&str, u8)], langs: &[&str]) -> AgentConfig {
    let mut a = AgentConfig::new(id, &format!("user/{id}"), skills);
    a.languages = langs.iter().map(|l| (*l).to_owned()).collect();
    a
}

/// Two skills and a queue for each one some agent can serve.
fn config(agents: Vec<AgentConfig>) -> RoutingConfig {
    let queues = ["health", "auto"]
        .iter()
        .filter(|s| {
            agents
                .iter()
                .any(|a| a.skills.get(**s).is_some_and(|&l| l >= 3))
        })
        .map(|s| QueueConfig::new(s, &[(s, 3)]))
        .collect();
    RoutingConfig {
        skills: vec!["health".into(), "auto".into()],
        agents,
        queues,
        ..RoutingConfig::default()
    }
}

fn router(cfg: &RoutingConfig) -> Router {
    Router::new(cfg).expect("valid config")
}

fn id(s: &str) -> AgentId {
    AgentId::new(s)
}

fn cid(s: &str) -> CallId {
    CallId::new(s)
}

fn step(r: &mut Router, at: u64, input: Input) -> Vec<Output> {
    r.handle(at, input).expect("accepted");
    r.drain_outputs().collect()
}

fn login(r: &mut Router, at: u64, ids: &[&str]) {
    for a in ids {
        step(r, at, Input::Login { agent: id(a) });
    }
}

fn call(r: &mut Router, at: u64, c: &str, queue: &str) -> Vec<Output> {
    step(
        r,
        at,
        Input::CallWaiting(CallRequest::new(c, queue, Intent::Affirm)),
    )
}

fn offers(out: &[Output]) -> Vec<(String, String)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Offer { call, agent, .. } => Some((call.to_string(), agent.to_string())),
            _ => None,
        })
        .collect()
}

fn offer_reasons(out: &[Output]) -> Reasons {
    out.iter()
        .find_map(|o| match o {
            Output::Offer { reasons, .. } => Some(reasons.clone()),
            _ => None,
        })
        .expect("an offer")
}

fn states(out: &[Output]) -> Vec<(String, AgentState)> {
    out.iter()
        .filter_map(|o| match o {
            Output::AgentState { agent, state } => Some((agent.to_string(), state.clone())),
            _ => None,
        })
        .collect()
}

/// Connects call `c` to `a` at `at` and ends it at `end`, with a disposition.
fn handled(r: &mut Router, at: u64, end: u64, c: &str, a: &str, converted: bool) {
    step(
        r,
        at,
        Input::OfferAnswered {
            call: cid(c),
            agent: id(a),
        },
    );
    step(r, end, Input::CallEnded { call: cid(c) });
    step(
        r,
        end,
        Input::Disposition(Disposition {
            agent: id(a),
            call: cid(c),
            converted,
            handle_s: None,
            quality: None,
        }),
    );
}

#[test]
fn an_agent_goes_through_offer_call_wrap_up_and_back() {
    let mut r = router(&config(vec![agent("1001", &[("health", 5)], &[])]));
    let out = step(&mut r, 0, Input::Login { agent: id("1001") });
    assert_eq!(states(&out), [("1001".into(), AgentState::Available)]);
    let out = call(&mut r, 5 * S, "c1", "health");
    assert_eq!(offers(&out), [("c1".into(), "1001".into())]);
    match &out[0] {
        Output::Offer { dial, queue, .. } => {
            assert_eq!(dial, "user/1001");
            assert_eq!(queue, "health");
        }
        o => panic!("expected the offer first, got {o:?}"),
    }
    assert_eq!(states(&out), [("1001".into(), AgentState::Offered)]);
    let out = step(
        &mut r,
        8 * S,
        Input::OfferAnswered {
            call: cid("c1"),
            agent: id("1001"),
        },
    );
    assert!(out.contains(&Output::Connected {
        call: cid("c1"),
        agent: id("1001"),
        waited_ms: 3 * S,
    }));
    assert_eq!(states(&out), [("1001".into(), AgentState::OnCall)]);
    let out = step(&mut r, 68 * S, Input::CallEnded { call: cid("c1") });
    assert!(out.contains(&Output::WrapUp {
        agent: id("1001"),
        until_ms: 78 * S
    }));
    assert_eq!(states(&out), [("1001".into(), AgentState::WrapUp)]);
    assert_eq!(r.next_timeout(), Some(78 * S));
    assert!(step(&mut r, 77 * S, Input::Tick).is_empty());
    let out = step(&mut r, 78 * S, Input::Tick);
    assert_eq!(states(&out), [("1001".into(), AgentState::Available)]);
    let st = r.agent_status("1001").expect("known");
    assert_eq!(st.calls_today, 1);
    // Offered at 5 s, free again at 78 s.
    assert_eq!(st.busy_ms, 73 * S);
    assert_eq!(st.staffed_ms, 78 * S);
    assert_eq!(st.pending_dispositions, 1);
    // Ready during a wrap-up ends it early.
    call(&mut r, 80 * S, "c2", "health");
    step(
        &mut r,
        81 * S,
        Input::OfferAnswered {
            call: cid("c2"),
            agent: id("1001"),
        },
    );
    step(&mut r, 90 * S, Input::CallEnded { call: cid("c2") });
    let out = step(&mut r, 91 * S, Input::Ready { agent: id("1001") });
    assert_eq!(states(&out), [("1001".into(), AgentState::Available)]);
    let out = step(&mut r, 100 * S, Input::Logout { agent: id("1001") });
    assert_eq!(states(&out), [("1001".into(), AgentState::LoggedOut)]);
}

#[test]
fn unanswered_offers_in_a_row_put_the_agent_on_break() {
    let mut cfg = config(vec![agent("1001", &[("health", 5)], &[])]);
    cfg.max_no_answer = 3;
    cfg.no_answer_delay_s = 5;
    cfg.ring_timeout_s = 20;
    let mut r = router(&cfg);
    login(&mut r, 0, &["1001"]);
    call(&mut r, 0, "c1", "health");
    // 1: the switch says no answer; the agent pauses 5 s and is offered the call again.
    let out = step(
        &mut r,
        15 * S,
        Input::OfferNotAnswered {
            call: cid("c1"),
            agent: id("1001"),
        },
    );
    assert!(out.contains(&Output::Withdraw {
        call: cid("c1"),
        agent: id("1001"),
        why: Withdrawn::NoAnswer
    }));
    assert!(offers(&out).is_empty(), "paused after a no-answer");
    assert_eq!(r.waiting(), 1);
    let out = step(&mut r, 20 * S, Input::Tick);
    assert_eq!(offers(&out), [("c1".into(), "1001".into())]);
    // 2: the router's own ring timeout (nobody reported anything).
    let out = step(&mut r, 40 * S, Input::Tick);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Withdraw {
            why: Withdrawn::NoAnswer,
            ..
        }
    )));
    assert_eq!(r.agent_status("1001").map(|s| s.no_answers), Some(2));
    // 3: a third no-answer: on break "no_answer", and no more offers.
    step(&mut r, 45 * S, Input::Tick);
    let out = step(
        &mut r,
        50 * S,
        Input::OfferNotAnswered {
            call: cid("c1"),
            agent: id("1001"),
        },
    );
    assert!(out.contains(&Output::AgentBreak {
        agent: id("1001"),
        reason: NO_ANSWER_REASON.into(),
        no_answers: 3
    }));
    assert_eq!(
        states(&out).last().map(|s| s.1.clone()),
        Some(AgentState::Break {
            reason: "no_answer".into()
        })
    );
    assert!(offers(&step(&mut r, 100 * S, Input::Tick)).is_empty());
    // Ready again: the count restarts and the call is offered.
    let out = step(&mut r, 110 * S, Input::Ready { agent: id("1001") });
    assert_eq!(offers(&out), [("c1".into(), "1001".into())]);
    assert_eq!(r.agent_status("1001").map(|s| s.no_answers), Some(0));
    assert_eq!(r.counters().no_answers, 3);
}

#[test]
fn a_rejected_call_goes_to_another_agent_and_the_rejecter_pauses() {
    let mut r = router(&config(vec![
        agent("a", &[("health", 5)], &[]),
        agent("b", &[("health", 5)], &[]),
    ]));
    r.handle(0, Input::SetStrategy(Strategy::TopDown))
        .expect("ok");
    login(&mut r, 0, &["a", "b"]);
    let out = call(&mut r, S, "c1", "health");
    assert_eq!(offers(&out), [("c1".into(), "a".into())]);
    // `b` cannot answer an offer made to `a`; nothing changes.
    assert_eq!(
        r.handle(
            S,
            Input::OfferAnswered {
                call: cid("c1"),
                agent: id("b")
            }
        ),
        Err(RoutingError::NotOffered {
            call: cid("c1"),
            agent: id("b")
        })
    );
    let out = step(
        &mut r,
        2 * S,
        Input::OfferRejected {
            call: cid("c1"),
            agent: id("a"),
        },
    );
    assert_eq!(offers(&out), [("c1".into(), "b".into())]);
    // `a` is paused for the reject delay (10 s): a new call goes nowhere until then.
    let out = call(&mut r, 3 * S, "c2", "health");
    assert!(offers(&out).is_empty());
    let out = step(&mut r, 12 * S, Input::Tick);
    assert_eq!(offers(&out), [("c2".into(), "a".into())]);
    assert_eq!(r.counters().rejected, 1);
}

#[test]
fn waiting_calls_widen_then_fall_back() {
    let mut cfg = config(vec![
        agent("junior", &[("health", 4)], &[]),
        agent("senior", &[("health", 9)], &[]),
    ]);
    cfg.queues[0].required = [("health".to_owned(), 8)].into();
    cfg.queues[0].max_wait_s = 90;
    cfg.queues[0].widen = vec![WidenStage {
        after_s: 30,
        required: [("health".to_owned(), 4)].into(),
        any_language: false,
    }];
    let mut r = router(&cfg);
    login(&mut r, 0, &["junior", "senior"]);
    // The senior takes the first call; the second waits though the junior is free.
    assert_eq!(
        offers(&call(&mut r, 0, "c1", "health")),
        [("c1".into(), "senior".into())]
    );
    step(
        &mut r,
        S,
        Input::OfferAnswered {
            call: cid("c1"),
            agent: id("senior"),
        },
    );
    assert!(offers(&call(&mut r, 2 * S, "c2", "health")).is_empty());
    let out = step(&mut r, 32 * S, Input::Tick);
    assert!(out.contains(&Output::Widened {
        call: cid("c2"),
        queue: "health".into(),
        stage: 1
    }));
    assert_eq!(offers(&out), [("c2".into(), "junior".into())]);
    step(
        &mut r,
        33 * S,
        Input::OfferAnswered {
            call: cid("c2"),
            agent: id("junior"),
        },
    );

    // Nobody free: a call with a callback time falls back to that callback at 90 s…
    let mut req = CallRequest::new("c3", "health", Intent::BusyCallback);
    req.callback_at = Some(1_800_000_000);
    step(&mut r, 40 * S, Input::CallWaiting(req));
    // … and one without goes back to the bot.
    call(&mut r, 41 * S, "c4", "health");
    let out = step(&mut r, 131 * S, Input::Tick);
    assert!(out.contains(&Output::Fallback {
        call: cid("c3"),
        queue: "health".into(),
        fallback: Fallback::Callback {
            at: Some(1_800_000_000)
        },
        waited_ms: 90 * S,
    }));
    assert!(out.contains(&Output::Fallback {
        call: cid("c4"),
        queue: "health".into(),
        fallback: Fallback::Bot,
        waited_ms: 90 * S,
    }));
    assert_eq!(r.waiting(), 0);
    assert_eq!(r.counters().fallbacks, 2);
}

#[test]
fn a_call_back_in_line_after_its_maximum_wait_changed_still_falls_back() {
    let mut cfg = config(vec![agent("a", &[("health", 5)], &[])]);
    cfg.ring_timeout_s = 60;
    let mut r = router(&cfg);
    let mut q = QueueConfig::new("health", &[("health", 3)]);
    q.max_wait_s = 20;
    step(&mut r, 0, Input::UpsertQueue(q.clone()));
    login(&mut r, 0, &["a"]);
    call(&mut r, 0, "c", "health");
    // Still ringing at 20 s, when its maximum wait was due; then the queue allows 25 s.
    q.max_wait_s = 25;
    step(&mut r, 21 * S, Input::UpsertQueue(q));
    // The agent leaves: back in line at 22 s with nobody to take it…
    step(&mut r, 22 * S, Input::Logout { agent: id("a") });
    assert_eq!(r.waiting(), 1);
    // … and it falls back at 25 s, not never.
    let out = step(&mut r, 25 * S, Input::Tick);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Fallback { waited_ms, .. } if *waited_ms == 25 * S)));
    assert_eq!(r.waiting(), 0);
}

#[test]
fn the_language_is_required_until_a_widening_step_lifts_it() {
    let mut cfg = config(vec![
        agent("en", &[("health", 5)], &["en"]),
        agent("zh", &[("health", 5)], &["zh"]),
    ]);
    cfg.queues[0].widen = vec![WidenStage {
        after_s: 20,
        required: Default::default(),
        any_language: true,
    }];
    let mut r = router(&cfg);
    login(&mut r, 0, &["en", "zh"]);
    let mut req = CallRequest::new("c1", "health", Intent::Affirm);
    req.language = Some("ZH".into());
    assert_eq!(
        offers(&step(&mut r, 0, Input::CallWaiting(req))),
        [("c1".into(), "zh".into())]
    );
    step(
        &mut r,
        S,
        Input::OfferAnswered {
            call: cid("c1"),
            agent: id("zh"),
        },
    );
    let mut req = CallRequest::new("c2", "health", Intent::Affirm);
    req.language = Some("zh".into());
    assert!(offers(&step(&mut r, S, Input::CallWaiting(req))).is_empty());
    // A language nobody speaks waits for the step as well.
    let mut req = CallRequest::new("c3", "health", Intent::Affirm);
    req.language = Some("fr".into());
    assert!(offers(&step(&mut r, 2 * S, Input::CallWaiting(req))).is_empty());
    let out = step(&mut r, 21 * S, Input::Tick);
    let r1 = offer_reasons(&out);
    assert_eq!(offers(&out), [("c2".into(), "en".into())]);
    assert_eq!(r1.term(Component::Language).value, 0.0);
    assert_eq!(r.waiting(), 1);
}

#[test]
fn the_previous_agent_gets_the_callee_back() {
    let mut r = router(&config(vec![
        agent("a", &[("health", 5)], &[]),
        agent("b", &[("health", 5)], &[]),
    ]));
    login(&mut r, 0, &["a", "b"]);
    let mut req = CallRequest::new("c1", "health", Intent::Affirm);
    req.previous_agent = Some(id("b"));
    let out = step(&mut r, S, Input::CallWaiting(req));
    assert_eq!(offers(&out), [("c1".into(), "b".into())]);
    let reasons = offer_reasons(&out);
    assert_eq!(reasons.term(Component::Continuity).value, 1.0);
    assert_eq!(reasons.rule, Rule::BestScore);
    assert_eq!(reasons.candidates, 2);
    // An unknown previous agent is no error: no continuity.
    let mut req = CallRequest::new("c2", "health", Intent::Affirm);
    req.previous_agent = Some(id("gone"));
    let out = step(&mut r, S, Input::CallWaiting(req));
    assert_eq!(offers(&out), [("c2".into(), "a".into())]);
}

/// Agent `a` converts 30 of 40 health calls, `b` 4 of 40: the router learns it.
fn trained() -> Router {
    let mut cfg = config(vec![
        agent("a", &[("health", 5)], &[]),
        agent("b", &[("health", 5)], &[]),
    ]);
    cfg.wrap_up_s = 0;
    cfg.max_idle_s = 0;
    let mut r = router(&cfg);
    r.handle(0, Input::SetStrategy(Strategy::TopDown))
        .expect("ok");
    login(&mut r, 0, &["a", "b"]);
    let mut t = 0;
    for i in 0..40 {
        for (who, converts) in [("a", i < 30), ("b", i < 4)] {
            t += S;
            let c = format!("{who}{i}");
            // Top-down: `a` first; `b` when `a` is busy.
            if who == "b" {
                call(&mut r, t, "hold", "health");
                step(
                    &mut r,
                    t,
                    Input::OfferAnswered {
                        call: cid("hold"),
                        agent: id("a"),
                    },
                );
            }
            let out = call(&mut r, t, &c, "health");
            assert_eq!(offers(&out), [(c.clone(), who.to_owned())]);
            handled(&mut r, t, t + 100, &c, who, converts);
            if who == "b" {
                step(&mut r, t + 100, Input::CallEnded { call: cid("hold") });
                step(
                    &mut r,
                    t + 100,
                    Input::Disposition(Disposition {
                        agent: id("a"),
                        call: cid("hold"),
                        converted: i < 30,
                        handle_s: None,
                        quality: None,
                    }),
                );
            }
        }
    }
    r
}

#[test]
fn conversion_is_learned_with_shrinkage_and_routes_the_calls() {
    let mut r = trained();
    let pa = r.conversion_estimate("a", "health").expect("known");
    let pb = r.conversion_estimate("b", "health").expect("known");
    // Raw: a 60/80 = 0.75, b 4/40 = 0.1; the shrunk estimates are pulled in, in order.
    assert!(pa < 0.75 && pb > 0.1 && pa > pb, "a {pa}, b {pb}");
    let m = r.prior_strength();
    assert!((2.0..500.0).contains(&m), "{m}");
    // Score: the converting agent, though both are free and `b` idled as long.
    r.handle(100 * S, Input::SetStrategy(Strategy::Score))
        .expect("ok");
    let out = call(&mut r, 100 * S, "next", "health");
    assert_eq!(offers(&out), [("next".into(), "a".into())]);
    let reasons = offer_reasons(&out);
    assert!(reasons.term(Component::Performance).value > 0.5);
    let json = serde_json::to_string(&reasons).expect("serialises");
    assert!(json.contains("performance"), "{json}");
    // A disposition for a call that agent never had: an error, nothing changes.
    let err = r
        .handle(
            101 * S,
            Input::Disposition(Disposition {
                agent: id("b"),
                call: cid("a3"),
                converted: true,
                handle_s: None,
                quality: None,
            }),
        )
        .expect_err("b never had a3");
    assert_eq!(
        err,
        RoutingError::NeverHad {
            agent: id("b"),
            call: cid("a3")
        }
    );
    assert_eq!(r.conversion_estimate("b", "health"), Some(pb));
    // Twice for the same call: refused too.
    let err = r
        .handle(
            101 * S,
            Input::Disposition(Disposition {
                agent: id("a"),
                call: cid("a39"),
                converted: true,
                handle_s: None,
                quality: None,
            }),
        )
        .expect_err("already disposed");
    assert!(matches!(err, RoutingError::AlreadyDisposed { .. }));
    // Nothing stuck: `b` still takes the next call.
    let out = call(&mut r, 102 * S, "after", "health");
    assert_eq!(offers(&out), [("after".into(), "b".into())]);
}

#[test]
fn a_strong_record_on_one_skill_raises_the_estimate_on_the_others() {
    let names: Vec<String> = (0..6).map(|i| format!("a{i}")).collect();
    let agents = names
        .iter()
        .map(|n| agent(n, &[("health", 5), ("auto", 5)], &[]))
        .collect();
    let mut r = router(&config(agents));
    // Health records: a0 converts 40 %, the others 10 %; nobody has auto calls yet.
    let records = names
        .iter()
        .enumerate()
        .map(|(i, n)| PerformanceRecord {
            agent: n.clone(),
            skill: "health".into(),
            calls: 200,
            converted: if i == 0 { 80 } else { 20 },
        })
        .collect();
    step(&mut r, 0, Input::Restore(records));
    let auto: Vec<f32> = names
        .iter()
        .map(|n| r.conversion_estimate(n, "auto").expect("known"))
        .collect();
    assert!(
        auto[0] > auto[1] * 1.2,
        "a0's lift carries to auto: {auto:?}"
    );
    assert!(auto[1..].windows(2).all(|w| (w[0] - w[1]).abs() < 1e-6));
    let m = r.prior_strength();
    assert!((2.0..=500.0).contains(&m), "{m}");
    // What was learned comes back out for the next start.
    let saved = r.performance();
    assert_eq!(saved.len(), 6);
    assert_eq!(saved[0].converted, 80);
    let mut fresh = router(&config(
        names
            .iter()
            .map(|n| agent(n, &[("health", 5), ("auto", 5)], &[]))
            .collect(),
    ));
    step(&mut fresh, 0, Input::Restore(saved));
    assert_eq!(
        fresh.conversion_estimate("a0", "health"),
        r.conversion_estimate("a0", "health")
    );
    // Bad records are refused whole.
    let bad = vec![
        PerformanceRecord {
            agent: "a1".into(),
            skill: "health".into(),
            calls: 10,
            converted: 1,
        },
        PerformanceRecord {
            agent: "a1".into(),
            skill: "health".into(),
            calls: 1,
            converted: 2,
        },
    ];
    let before = fresh.conversion_estimate("a1", "health");
    assert!(matches!(
        fresh.handle(0, Input::Restore(bad)),
        Err(RoutingError::Invalid { .. })
    ));
    assert_eq!(fresh.conversion_estimate("a1", "health"), before);
    assert!(matches!(
        fresh.handle(
            0,
            Input::Restore(vec![PerformanceRecord {
                agent: "zz".into(),
                skill: "health".into(),
                calls: 1,
                converted: 0
            }])
        ),
        Err(RoutingError::UnknownAgent { .. })
    ));
}

#[test]
fn an_agent_above_the_occupancy_cap_yields_to_one_below() {
    let mut cfg = config(vec![
        agent("busy", &[("health", 9)], &[]),
        agent("rested", &[("health", 3)], &[]),
    ]);
    cfg.occupancy_window_s = 60;
    cfg.max_occupancy = 0.8;
    cfg.wrap_up_s = 0;
    cfg.max_idle_s = 0;
    let mut r = router(&cfg);
    login(&mut r, 0, &["busy", "rested"]);
    call(&mut r, 0, "long", "health");
    step(
        &mut r,
        0,
        Input::OfferAnswered {
            call: cid("long"),
            agent: id("busy"),
        },
    );
    step(&mut r, 300 * S, Input::CallEnded { call: cid("long") });
    // `busy` scores higher (skill 9 against 3) but was busy 5 minutes of 5.
    let out = call(&mut r, 301 * S, "c", "health");
    assert_eq!(offers(&out), [("c".into(), "rested".into())]);
    assert_eq!(offer_reasons(&out).over_occupancy, 1);
    // Alone, it still gets calls: the cap never leaves a call waiting for nobody.
    step(
        &mut r,
        302 * S,
        Input::OfferAnswered {
            call: cid("c"),
            agent: id("rested"),
        },
    );
    let out = call(&mut r, 303 * S, "d", "health");
    assert_eq!(offers(&out), [("d".into(), "busy".into())]);
    assert_eq!(offer_reasons(&out).over_occupancy, 0);
}

#[test]
fn an_agent_idle_past_the_cap_is_not_starved() {
    let mut cfg = config(vec![
        agent("star", &[("health", 10)], &[]),
        agent("low", &[("health", 3)], &[]),
    ]);
    cfg.max_idle_s = 120;
    let mut r = router(&cfg);
    login(&mut r, 0, &["low"]);
    login(&mut r, 150 * S, &["star"]);
    // `low` idled 200 s > 120 s: it takes the call over the better-scoring `star`.
    let out = call(&mut r, 200 * S, "c1", "health");
    assert_eq!(offers(&out), [("c1".into(), "low".into())]);
    assert_eq!(offer_reasons(&out).rule, Rule::StarvedAgent);
    // Without the cap the score decides.
    let mut cfg = cfg.clone();
    cfg.max_idle_s = 0;
    let mut r = router(&cfg);
    login(&mut r, 0, &["low"]);
    login(&mut r, 150 * S, &["star"]);
    let out = call(&mut r, 200 * S, "c1", "health");
    assert_eq!(offers(&out), [("c1".into(), "star".into())]);
}

#[test]
fn the_baselines_pick_as_mod_callcenter_does() {
    let agents = vec![
        agent("first", &[("health", 4)], &[]),
        agent("skilled", &[("health", 9)], &[]),
        agent("idle", &[("health", 4)], &[]),
    ];
    for (strategy, expected) in [
        (Strategy::LongestIdle, "idle"),
        (Strategy::TopDown, "first"),
        (Strategy::SkillsOnly, "skilled"),
    ] {
        let mut cfg = config(agents.clone());
        cfg.strategy = strategy;
        let mut r = router(&cfg);
        login(&mut r, 0, &["idle"]);
        login(&mut r, 10 * S, &["first", "skilled"]);
        let out = call(&mut r, 20 * S, "c", "health");
        assert_eq!(offers(&out), [("c".into(), expected.into())], "{strategy}");
        assert_eq!(offer_reasons(&out).strategy, strategy);
    }
}

#[test]
fn a_free_agent_takes_the_highest_priority_call_then_the_first_in_line() {
    let mut cfg = config(vec![agent("a", &[("health", 5), ("auto", 5)], &[])]);
    cfg.queues[1].priority = 5;
    cfg.strategy = Strategy::LongestIdle;
    let mut r = router(&cfg);
    call(&mut r, 0, "h1", "health");
    call(&mut r, S, "h2", "health");
    call(&mut r, 2 * S, "a1", "auto");
    let out = step(&mut r, 3 * S, Input::Login { agent: id("a") });
    assert_eq!(offers(&out), [("a1".into(), "a".into())]);
    assert_eq!(offer_reasons(&out).rule, Rule::FirstInLine);
    step(
        &mut r,
        4 * S,
        Input::OfferRejected {
            call: cid("a1"),
            agent: id("a"),
        },
    );
    // Rejected: paused 10 s, then the auto call again (priority), then h1 before h2.
    let out = step(&mut r, 14 * S, Input::Tick);
    assert_eq!(offers(&out), [("a1".into(), "a".into())]);
    step(&mut r, 15 * S, Input::CalleeHungUp { call: cid("a1") });
    assert_eq!(r.counters().abandoned, 1);
    let log: Vec<_> = r.log().map(|e| e.output.clone()).collect();
    assert!(log
        .iter()
        .any(|o| matches!(o, Output::Offer { call, .. } if call.as_str() == "h1")));
}

#[test]
fn the_callee_hanging_up_while_the_agent_rings_frees_the_agent() {
    let mut r = router(&config(vec![agent("a", &[("health", 5)], &[])]));
    login(&mut r, 0, &["a"]);
    call(&mut r, 0, "c1", "health");
    call(&mut r, S, "c2", "health");
    let out = step(&mut r, 2 * S, Input::CalleeHungUp { call: cid("c1") });
    assert!(out.contains(&Output::Withdraw {
        call: cid("c1"),
        agent: id("a"),
        why: Withdrawn::CalleeGone
    }));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Abandoned { call, waited_ms, .. }
        if call.as_str() == "c1" && *waited_ms == 2 * S)));
    assert_eq!(offers(&out), [("c2".into(), "a".into())]);
    // The call is gone: its id is unknown now, a clear error.
    assert_eq!(
        r.handle(3 * S, Input::CallEnded { call: cid("c1") }),
        Err(RoutingError::UnknownCall { call: cid("c1") })
    );
}

#[test]
fn agents_and_queues_change_live() {
    let mut cfg = config(vec![
        agent("a", &[("health", 5)], &[]),
        agent("b", &[("health", 5), ("auto", 6)], &[]),
    ]);
    cfg.strategy = Strategy::TopDown;
    let mut r = router(&cfg);
    login(&mut r, 0, &["a"]);
    assert_eq!(
        offers(&call(&mut r, 0, "c1", "health")),
        [("c1".into(), "a".into())]
    );
    // Removed while ringing: the call goes to the next agent once it logs in.
    let out = step(&mut r, S, Input::RemoveAgent { agent: id("a") });
    assert!(out.contains(&Output::Withdraw {
        call: cid("c1"),
        agent: id("a"),
        why: Withdrawn::AgentLeft
    }));
    assert_eq!(r.waiting(), 1);
    assert_eq!(
        offers(&step(&mut r, 2 * S, Input::Login { agent: id("b") })),
        [("c1".into(), "b".into())]
    );
    assert_eq!(
        r.handle(3 * S, Input::Login { agent: id("a") }),
        Err(RoutingError::Removed { agent: id("a") })
    );
    step(
        &mut r,
        3 * S,
        Input::OfferAnswered {
            call: cid("c1"),
            agent: id("b"),
        },
    );
    // A queue that requires more than anyone has is refused…
    let mut q = QueueConfig::new("auto", &[("auto", 9)]);
    assert!(matches!(
        r.handle(4 * S, Input::UpsertQueue(q.clone())),
        Err(RoutingError::Unservable { .. })
    ));
    // … an agent with an unknown skill too…
    let mut c = agent("c", &[("claims", 5)], &[]);
    assert!(matches!(
        r.handle(4 * S, Input::UpsertAgent(c.clone())),
        Err(RoutingError::UnknownSkill { .. })
    ));
    // … until the skill exists; then the new agent serves the raised queue.
    step(&mut r, 4 * S, Input::AddSkills(vec!["claims".into()]));
    c.skills.insert("auto".into(), 9);
    step(&mut r, 4 * S, Input::UpsertAgent(c));
    step(&mut r, 4 * S, Input::UpsertQueue(q.clone()));
    call(&mut r, 5 * S, "c2", "auto");
    let out = step(&mut r, 6 * S, Input::Login { agent: id("c") });
    assert_eq!(offers(&out), [("c2".into(), "c".into())]);
    // Lowering a queue's requirement live lets waiting calls through at once.
    step(
        &mut r,
        7 * S,
        Input::OfferAnswered {
            call: cid("c2"),
            agent: id("c"),
        },
    );
    q.required = [("claims".to_owned(), 5)].into();
    step(&mut r, 7 * S, Input::UpsertQueue(q));
    step(&mut r, 8 * S, Input::CallEnded { call: cid("c1") });
    step(&mut r, 18 * S, Input::Tick);
    // Removing a queue: its waiting calls fall back; new calls are refused.
    let mut cfg_h = QueueConfig::new("health", &[("health", 3)]);
    cfg_h.max_wait_s = 600;
    step(&mut r, 19 * S, Input::UpsertQueue(cfg_h));
    step(&mut r, 19 * S, Input::Logout { agent: id("b") });
    call(&mut r, 20 * S, "c3", "health");
    let out = step(
        &mut r,
        21 * S,
        Input::RemoveQueue {
            queue: "health".into(),
        },
    );
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Fallback { call, .. } if call.as_str() == "c3")));
    assert_eq!(
        r.handle(
            22 * S,
            Input::CallWaiting(CallRequest::new("c4", "health", Intent::Affirm))
        ),
        Err(RoutingError::QueueRemoved {
            queue: "health".into()
        })
    );
}

#[test]
fn bad_input_is_a_clear_error_and_changes_nothing() {
    let mut r = router(&config(vec![agent("a", &[("health", 5)], &[])]));
    let before = format!("{:?}", r.counters());
    let cases: Vec<(Input, &str)> = vec![
        (
            Input::Login {
                agent: id("nobody"),
            },
            "unknown agent `nobody`",
        ),
        (Input::Ready { agent: id("a") }, "agent `a` is logged out"),
        (
            Input::Break {
                agent: id("a"),
                reason: "lunch".into(),
            },
            "agent `a` is logged out",
        ),
        (
            Input::CallWaiting(CallRequest::new("c", "nope", Intent::Affirm)),
            "unknown queue `nope`",
        ),
        (
            Input::CallWaiting(CallRequest {
                skills: vec!["helth".into()],
                ..CallRequest::new("c", "health", Intent::Affirm)
            }),
            "call `c`.skills: unknown skill `helth`",
        ),
        (
            Input::CallWaiting(CallRequest {
                lead_score: Some(f32::NAN),
                ..CallRequest::new("c", "health", Intent::Affirm)
            }),
            "call `c`.lead_score",
        ),
        (
            Input::OfferAnswered {
                call: cid("c"),
                agent: id("a"),
            },
            "unknown call `c`",
        ),
        (
            Input::Disposition(Disposition {
                agent: id("a"),
                call: cid("never"),
                converted: true,
                handle_s: None,
                quality: None,
            }),
            "agent `a` never had call `never`",
        ),
        (
            Input::Disposition(Disposition {
                agent: id("a"),
                call: cid("never"),
                converted: true,
                handle_s: None,
                quality: Some(7.0),
            }),
            "disposition of `never`.quality",
        ),
        (
            Input::UpsertAgent(agent("z", &[("helth", 5)], &[])),
            "agent `z`.skills.helth: unknown skill",
        ),
        (
            Input::UpsertQueue(QueueConfig::new("x", &[("auto", 10)])),
            "queue `x`: no agent meets its required skills (auto >= 10)",
        ),
        (
            Input::RemoveQueue {
                queue: "nope".into(),
            },
            "unknown queue `nope`",
        ),
    ];
    for (input, expected) in cases {
        let err = r.handle(0, input).expect_err(expected);
        assert!(
            err.to_string().starts_with(expected),
            "expected `{expected}`, got `{err}`"
        );
    }
    assert_eq!(format!("{:?}", r.counters()), before);
    assert!(r.drain_outputs().next().is_none());
    assert!(r.agent_status("z").is_none());
    step(&mut r, 0, Input::Login { agent: id("a") });
    step(
        &mut r,
        0,
        Input::CallWaiting(CallRequest::new("dup", "health", Intent::Affirm)),
    );
    assert_eq!(
        r.handle(
            0,
            Input::CallWaiting(CallRequest::new("dup", "health", Intent::Affirm))
        ),
        Err(RoutingError::DuplicateCall { call: cid("dup") })
    );
    assert_eq!(
        r.handle(
            0,
            Input::OfferAnswered {
                call: cid("dup"),
                agent: id("nobody")
            }
        ),
        Err(RoutingError::UnknownAgent {
            agent: id("nobody")
        })
    );
    // A queue no remaining agent can serve: its waiting calls fall back at once, new
    // ones are refused (the bot keeps the callee).
    let mut r = router(&config(vec![
        agent("a", &[("health", 5)], &[]),
        agent("b", &[("auto", 5)], &[]),
    ]));
    call(&mut r, 0, "waits", "auto");
    let out = step(&mut r, S, Input::RemoveAgent { agent: id("b") });
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Fallback { call, .. } if call.as_str() == "waits")));
    assert_eq!(
        r.handle(
            2 * S,
            Input::CallWaiting(CallRequest::new("x", "auto", Intent::Affirm))
        ),
        Err(RoutingError::Unservable {
            queue: "auto".into(),
            required: "auto >= 3".into()
        })
    );
}

#[test]
fn intent_and_topic_maps_decide_the_skill_fit() {
    let mut cfg = config(vec![
        agent("health", &[("health", 9), ("auto", 3)], &[]),
        agent("auto", &[("health", 3), ("auto", 9)], &[]),
    ]);
    cfg.queues.push(QueueConfig::new("any", &[]));
    cfg.intents
        .insert("ask_price".into(), [("auto".to_owned(), 1.0)].into());
    cfg.topics
        .insert("offer_health".into(), [("health".to_owned(), 2.0)].into());
    cfg.max_idle_s = 0;
    let mut r = router(&cfg);
    login(&mut r, 0, &["health", "auto"]);
    let out = step(
        &mut r,
        S,
        Input::CallWaiting(CallRequest::new("p", "any", Intent::AskPrice)),
    );
    assert_eq!(offers(&out), [("p".into(), "auto".into())]);
    let mut req = CallRequest::new("t", "any", Intent::AskPrice);
    req.node = Some("offer_health".into());
    let out = step(&mut r, S, Input::CallWaiting(req));
    assert_eq!(offers(&out), [("t".into(), "health".into())]);
}

#[test]
fn the_dialer_sees_free_soon_and_busy_agents() {
    let mut cfg = config(vec![
        agent("a", &[("health", 5)], &[]),
        agent("b", &[("health", 5)], &[]),
        agent("c", &[("health", 5)], &[]),
        agent("d", &[("auto", 5)], &[]),
    ]);
    cfg.wrap_up_s = 30;
    cfg.soon_horizon_s = 10;
    let mut r = router(&cfg);
    login(&mut r, 0, &["a", "b", "c", "d"]);
    let snap = r.agent_snapshot(0, None).expect("all");
    assert_eq!(
        snap,
        AgentSnapshot {
            free: 4,
            busy: 0,
            soon: 0
        }
    );
    for (i, c) in ["x", "y"].iter().enumerate() {
        call(&mut r, 0, c, "health");
        let who = r
            .log()
            .filter_map(|e| match &e.output {
                Output::Offer { call, agent, .. } if call.as_str() == *c => Some(agent.clone()),
                _ => None,
            })
            .last()
            .expect("offered");
        step(
            &mut r,
            i as u64,
            Input::OfferAnswered {
                call: cid(c),
                agent: who,
            },
        );
    }
    // Two talking (just started), two free.
    let snap = r.agent_snapshot(S, None).expect("all");
    assert_eq!(
        snap,
        AgentSnapshot {
            free: 2,
            busy: 2,
            soon: 0
        }
    );
    // One call ends: 30 s of wrap-up; at 25 s into it, it counts as soon free.
    step(&mut r, 60 * S, Input::CallEnded { call: cid("x") });
    assert_eq!(r.agent_snapshot(61 * S, None).expect("all").busy, 2);
    assert_eq!(r.agent_snapshot(85 * S, None).expect("all").soon, 1);
    // The health queue's view leaves out `d` (auto only).
    let snap = r.agent_snapshot(61 * S, Some("health")).expect("health");
    assert_eq!(
        snap,
        AgentSnapshot {
            free: 1,
            busy: 2,
            soon: 0
        }
    );
    assert!(r.agent_snapshot(0, Some("nope")).is_err());
    // Talk times of about 60 s learned: a 55 s-old call is expected to end soon.
    let mut t = 100 * S;
    for i in 0..30 {
        let c = format!("h{i}");
        step(&mut r, t, Input::Ready { agent: id("a") });
        step(&mut r, t, Input::Ready { agent: id("b") });
        call(&mut r, t, &c, "health");
        let who = r
            .log()
            .filter_map(|e| match &e.output {
                Output::Offer { call, agent, .. } if call.as_str() == c => Some(agent.clone()),
                _ => None,
            })
            .last()
            .expect("offered");
        step(
            &mut r,
            t,
            Input::OfferAnswered {
                call: cid(&c),
                agent: who,
            },
        );
        t += 60 * S;
        step(&mut r, t, Input::CallEnded { call: cid(&c) });
    }
    // `y` has been up far longer than any call seen: the memoryless guess.
    let fresh = AgentAvailability::snapshot(&r);
    assert_eq!(fresh.free + fresh.busy + fresh.soon, 4);
}

#[test]
fn the_decision_log_is_bounded() {
    let mut cfg = config(vec![agent("a", &[("health", 5)], &[])]);
    cfg.log_capacity = 3;
    let mut r = router(&cfg);
    login(&mut r, 0, &["a"]);
    for i in 0..10 {
        call(&mut r, i * S, &format!("c{i}"), "health");
        step(
            &mut r,
            i * S,
            Input::CalleeHungUp {
                call: cid(&format!("c{i}")),
            },
        );
    }
    let log: Vec<_> = r.log().collect();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|e| e.at_ms >= 8 * S));
    let json = serde_json::to_string(&log[0]).expect("serialises");
    assert!(json.contains("\"event\""), "{json}");
}

#[test]
fn a_new_day_restarts_the_calls_today() {
    let mut cfg = config(vec![agent("a", &[("health", 5)], &[])]);
    cfg.wrap_up_s = 0;
    let mut r = router(&cfg);
    login(&mut r, 0, &["a"]);
    call(&mut r, 0, "c", "health");
    handled(&mut r, S, 2 * S, "c", "a", true);
    assert_eq!(r.agent_status("a").map(|s| s.calls_today), Some(1));
    step(&mut r, 3 * S, Input::NewDay);
    assert_eq!(r.agent_status("a").map(|s| s.calls_today), Some(0));
    assert_eq!(r.counters().conversions, 1);
}

#[test]
fn an_early_disposition_counts_once() {
    let mut r = router(&config(vec![agent("a", &[("health", 5)], &[])]));
    login(&mut r, 0, &["a"]);
    call(&mut r, 0, "c", "health");
    step(
        &mut r,
        S,
        Input::OfferAnswered {
            call: cid("c"),
            agent: id("a"),
        },
    );
    let d = Disposition {
        agent: id("a"),
        call: cid("c"),
        converted: true,
        handle_s: Some(42.0),
        quality: Some(0.9),
    };
    step(&mut r, 30 * S, Input::Disposition(d.clone()));
    step(&mut r, 40 * S, Input::CallEnded { call: cid("c") });
    assert_eq!(r.agent_status("a").map(|s| s.pending_dispositions), Some(0));
    assert!(matches!(
        r.handle(41 * S, Input::Disposition(d)),
        Err(RoutingError::NeverHad { .. })
    ));
    assert_eq!(r.counters().dispositions, 1);
}

// ------------------------------------------------------------ holds, due agents, leads

/// A deterministic stream of uniform numbers in [0, 1).
fn uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn lead_call(r: &mut Router, at: u64, c: &str, queue: &str, lead: f32) -> Vec<Output> {
    let req = CallRequest {
        lead_score: Some(lead),
        ..CallRequest::new(c, queue, Intent::Affirm)
    };
    step(r, at, Input::CallWaiting(req))
}

fn held(out: &[Output]) -> Vec<(String, String, u64)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Held {
                call,
                agent,
                until_ms,
                ..
            } => Some((call.to_string(), agent.to_string(), *until_ms)),
            _ => None,
        })
        .collect()
}

/// What a morning of dispositions teaches: `good` converts 40 % of its health calls and
/// `poor` 5 %, and conversion grows with the lead score (as 0.5 + lead).
fn taught(cfg: &RoutingConfig) -> Router {
    let mut r = router(cfg);
    let record = |agent: &str, converted| PerformanceRecord {
        agent: agent.into(),
        skill: "health".into(),
        calls: 200,
        converted,
    };
    step(
        &mut r,
        0,
        Input::Restore(vec![record("good", 80), record("poor", 10)]),
    );
    // Restored records carry no leads: the curve learns from dispositions, as here (an
    // agent's calls of every lead).
    let mut u = uniform(7);
    let mut calls = stats::Counts::default();
    for i in 0..3000 {
        let lead = (i % 11) as f32 / 10.0;
        let before = calls.leads;
        calls.add(u() < 0.2 * (0.5 + lead), Some(lead));
        r.lead_curve.update(&before, &calls.leads);
    }
    r
}

/// `good` and `poor` logged in; `good` talks from 0 to 60 s, then wraps up until 70 s.
fn good_wrapping_up(cfg: &RoutingConfig) -> Router {
    let mut r = taught(cfg);
    login(&mut r, 0, &["good", "poor"]);
    let out = lead_call(&mut r, 0, "c0", "health", 0.5);
    assert_eq!(offers(&out), [("c0".into(), "good".into())]);
    step(
        &mut r,
        S,
        Input::OfferAnswered {
            call: cid("c0"),
            agent: id("good"),
        },
    );
    step(&mut r, 60 * S, Input::CallEnded { call: cid("c0") });
    r
}

fn hold_config() -> RoutingConfig {
    let mut cfg = config(vec![
        agent("good", &[("health", 5)], &[]),
        agent("poor", &[("health", 5)], &[]),
    ]);
    cfg.max_idle_s = 0;
    cfg
}

#[test]
fn a_valuable_call_waits_for_a_better_agent_finishing_its_wrap_up() {
    let mut r = good_wrapping_up(&hold_config());
    // `poor` is free, `good` free at 70 s: a promising callee waits 8 s for `good`.
    let out = lead_call(&mut r, 62 * S, "c1", "health", 0.9);
    assert_eq!(offers(&out), []);
    assert_eq!(held(&out), [("c1".into(), "good".into(), 70 * S)]);
    check(&r).expect("consistent while held");
    let out = step(&mut r, 70 * S, Input::Tick);
    assert_eq!(offers(&out), [("c1".into(), "good".into())]);
    assert_eq!(offer_reasons(&out).rule, Rule::HeldForAgent);
    check(&r).expect("consistent");

    // A callee worth less than average goes to the free agent at once.
    let mut r = good_wrapping_up(&hold_config());
    let out = lead_call(&mut r, 62 * S, "c1", "health", 0.2);
    assert_eq!(offers(&out), [("c1".into(), "poor".into())]);
    assert_eq!(held(&out), []);
}

#[test]
fn a_hold_ends_within_half_the_service_level_or_not_at_all() {
    // `good` is free 8 s after the call came; the queue holds 10 s at most…
    let mut cfg = hold_config();
    // … but half its 10-second service level is 5 s.
    cfg.queues[0].service_level.within_s = 10;
    let mut r = good_wrapping_up(&cfg);
    let out = lead_call(&mut r, 62 * S, "c1", "health", 0.9);
    assert_eq!(offers(&out), [("c1".into(), "poor".into())]);
    // A queue that never holds.
    let mut cfg = hold_config();
    cfg.queues[0].hold_s = 0;
    let mut r = good_wrapping_up(&cfg);
    let out = lead_call(&mut r, 62 * S, "c1", "health", 0.9);
    assert_eq!(offers(&out), [("c1".into(), "poor".into())]);
    // Other strategies never hold.
    let mut r = good_wrapping_up(&hold_config());
    step(&mut r, 61 * S, Input::SetStrategy(Strategy::LongestIdle));
    let out = lead_call(&mut r, 62 * S, "c1", "health", 0.9);
    assert_eq!(offers(&out), [("c1".into(), "poor".into())]);
}

#[test]
fn a_held_call_goes_elsewhere_when_its_agent_leaves() {
    let mut r = good_wrapping_up(&hold_config());
    let out = lead_call(&mut r, 62 * S, "c1", "health", 0.9);
    assert_eq!(held(&out).len(), 1);
    let out = step(
        &mut r,
        64 * S,
        Input::Break {
            agent: id("good"),
            reason: "lunch".into(),
        },
    );
    assert_eq!(offers(&out), [("c1".into(), "poor".into())]);
    check(&r).expect("consistent");
    // The hold's end finds nothing to do.
    let out = step(&mut r, 70 * S, Input::Tick);
    assert_eq!(offers(&out), []);
}

#[test]
fn a_held_call_is_not_taken_by_another_agent_and_an_agent_others_need_is_not_waited_for() {
    let mut cfg = hold_config();
    cfg.agents.push(agent("third", &[("health", 5)], &[]));
    let mut r = good_wrapping_up(&cfg);
    login(&mut r, 0, &["third"]);
    step(
        &mut r,
        0,
        Input::Break {
            agent: id("third"),
            reason: "late".into(),
        },
    );
    let out = lead_call(&mut r, 62 * S, "c1", "health", 0.9);
    assert_eq!(held(&out).len(), 1);
    // `third` comes back during the hold: the call still waits for `good`.
    let out = step(&mut r, 65 * S, Input::Ready { agent: id("third") });
    assert_eq!(offers(&out), []);
    check(&r).expect("consistent");
    let out = step(&mut r, 70 * S, Input::Tick);
    assert_eq!(offers(&out), [("c1".into(), "good".into())]);

    // `good` also serves auto, where a call waits for it: that call needs it more.
    let mut cfg = hold_config();
    cfg.agents[0] = agent("good", &[("health", 5), ("auto", 5)], &[]);
    cfg.queues = config(cfg.agents.clone()).queues;
    let mut r = good_wrapping_up(&cfg);
    let out = call(&mut r, 61 * S, "a1", "auto");
    assert_eq!(offers(&out), []);
    let out = lead_call(&mut r, 62 * S, "c1", "health", 0.9);
    assert_eq!(offers(&out), [("c1".into(), "poor".into())]);
    let out = step(&mut r, 70 * S, Input::Tick);
    assert_eq!(offers(&out), [("a1".into(), "good".into())]);
}

#[test]
fn an_agent_due_for_a_call_takes_one_worth_little() {
    let mut cfg = hold_config();
    cfg.max_idle_s = 300;
    // `poor` idles from 0, `good` from 100 s.
    let fresh = || {
        let mut r = taught(&cfg);
        login(&mut r, 0, &["poor"]);
        login(&mut r, 100 * S, &["good"]);
        r
    };
    // At 120 s `poor` is not due yet: the score decides, even for a weak lead.
    let out = lead_call(&mut fresh(), 120 * S, "c", "health", 0.05);
    assert_eq!(offers(&out), [("c".into(), "good".into())]);
    // At 200 s, past half the 300-second cap, it is: it takes the weak lead…
    let out = lead_call(&mut fresh(), 200 * S, "c", "health", 0.05);
    assert_eq!(offers(&out), [("c".into(), "poor".into())]);
    assert_eq!(offer_reasons(&out).rule, Rule::DueAgent);
    // … not a promising one, which the cap alone would give it at 300 s.
    let out = lead_call(&mut fresh(), 200 * S, "c", "health", 0.9);
    assert_eq!(offers(&out), [("c".into(), "good".into())]);
    let out = lead_call(&mut fresh(), 300 * S, "c", "health", 0.9);
    assert_eq!(offers(&out), [("c".into(), "poor".into())]);
    assert_eq!(offer_reasons(&out).rule, Rule::StarvedAgent);
}

#[test]
fn an_agent_given_the_best_leads_is_not_mistaken_for_a_better_one() {
    // `a` only ever gets promising callees, `b` weak ones, `c` all kinds; all three convert
    // 15 % of average calls, P = 0.15 · (0.5 + lead).
    let mut cfg = config(vec![
        agent("a", &[("health", 5), ("auto", 5)], &[]),
        agent("b", &[("health", 5), ("life", 5)], &[]),
        agent("c", &[("health", 9)], &[]),
    ]);
    cfg.skills.push("life".into());
    cfg.queues = vec![
        QueueConfig::new("qa", &[("auto", 3)]),
        QueueConfig::new("qb", &[("life", 3)]),
        QueueConfig::new("qc", &[("health", 9)]),
    ];
    cfg.wrap_up_s = 0;
    cfg.max_idle_s = 0;
    let mut r = router(&cfg);
    login(&mut r, 0, &["a", "b", "c"]);
    let mut u = uniform(11);
    let mut raw = [(0u32, 0u32); 2];
    let mut t = 0;
    for i in 0..600 {
        let c_lead = (i % 11) as f32 / 10.0;
        for (who, queue, lead) in [("a", "qa", 0.9), ("b", "qb", 0.1), ("c", "qc", c_lead)] {
            t += S;
            let c = format!("{who}{i}");
            let req = CallRequest {
                skills: vec!["health".into()],
                lead_score: Some(lead),
                ..CallRequest::new(&c, queue, Intent::Affirm)
            };
            let out = step(&mut r, t, Input::CallWaiting(req));
            assert_eq!(offers(&out), [(c.clone(), who.to_owned())]);
            let converted = u() < 0.15 * (0.5 + lead);
            handled(&mut r, t, t + 500, &c, who, converted);
            if let Some(k) = ["a", "b"].iter().position(|w| *w == who) {
                raw[k].0 += 1;
                raw[k].1 += u32::from(converted);
            }
        }
    }
    let rate = |k: usize| f64::from(raw[k].1) / f64::from(raw[k].0);
    assert!(rate(0) > 1.8 * rate(1), "raw {} vs {}", rate(0), rate(1));
    let est = |a: &str| r.conversion_estimate(a, "health").expect("known");
    let (ea, eb) = (est("a"), est("b"));
    assert!(ea < 1.35 * eb && eb < 1.35 * ea, "a {ea}, b {eb}");
    assert!((0.1..0.2).contains(&ea), "{ea}");
}

#[test]
fn the_strength_never_exceeds_the_configured_one() {
    let r = trained();
    // Two agents 30/40 apart: the estimate may be lower, never higher.
    assert!(r.prior_strength() <= RoutingConfig::default().prior_strength);
    // Agents that do not differ: the configured strength, not "every agent alike".
    let mut cfg = config(vec![
        agent("x", &[("health", 5)], &[]),
        agent("y", &[("health", 5)], &[]),
        agent("z", &[("health", 5)], &[]),
    ]);
    cfg.prior_strength = 12.0;
    let mut r = router(&cfg);
    let record = |agent: &str| PerformanceRecord {
        agent: agent.into(),
        skill: "health".into(),
        calls: 300,
        converted: 60,
    };
    step(
        &mut r,
        0,
        Input::Restore(vec![record("x"), record("y"), record("z")]),
    );
    assert_eq!(r.prior_strength(), 12.0);
}

// ------------------------------------------------------------ invariants, property test

/// Everything that must hold between inputs.
fn check(r: &Router) -> Result<(), String> {
    let mut offered_slots = std::collections::HashSet::new();
    let mut logged_in = 0;
    for (a, ag) in r.agents.iter().enumerate() {
        if ag.presence != Presence::LoggedOut {
            logged_in += 1;
        }
        if let Some(ci) = ag.offer {
            let c = r.calls[ci]
                .as_ref()
                .ok_or(format!("agent {a} offered a gone call"))?;
            if c.state != (CallState::Offered { agent: a }) {
                return Err(format!("agent {a} offered {} in state {:?}", c.id, c.state));
            }
            if !offered_slots.insert(ci) {
                return Err(format!("call {} offered to two agents", c.id));
            }
        }
        for &(ci, _) in &ag.talking {
            let c = r.calls[ci]
                .as_ref()
                .ok_or(format!("agent {a} talks to a gone call"))?;
            if !matches!(c.state, CallState::Connected { agent, .. } if agent == a) {
                return Err(format!("agent {a} talking to {} in {:?}", c.id, c.state));
            }
        }
        if ag.used() > ag.p.max_concurrent as usize {
            return Err(format!("agent {a} over its concurrency"));
        }
        if let Some(ci) = ag.reserved {
            let held_for = r.calls[ci].as_ref().and_then(|c| c.held).map(|(h, _)| h);
            if held_for != Some(a) {
                return Err(format!("agent {a} reserved a call not held for it"));
            }
        }
    }
    if logged_in != r.logged_in {
        return Err(format!("logged_in {} != {logged_in}", r.logged_in));
    }
    for (slot, c) in r.calls.iter().enumerate() {
        let Some(c) = c else { continue };
        if r.call_index.get(&c.id) != Some(&slot) {
            return Err(format!("call {} not indexed at its slot", c.id));
        }
        let in_line = r.waiting.iter().filter(|&&s| s == slot).count();
        match c.state {
            CallState::Waiting if in_line != 1 => {
                return Err(format!("waiting call {} in line {in_line} times", c.id))
            }
            CallState::Waiting => {
                if let Some((h, until)) = c.held {
                    // Held: for an agent not free yet, who knows, and not past the hold.
                    if r.agents[h].reserved != Some(slot) || r.agents[h].free(r.now) {
                        return Err(format!("call {} held for {h} who is free or unaware", c.id));
                    }
                    if until < r.now {
                        return Err(format!("call {} held past its hold", c.id));
                    }
                } else if let Some(a) = r
                    .agents
                    .iter()
                    .position(|ag| ag.free(r.now) && r.eligible(c, ag))
                {
                    return Err(format!("call {} waits while agent {a} is free", c.id));
                }
            }
            _ if in_line != 0 => return Err(format!("call {} in line while {:?}", c.id, c.state)),
            CallState::Offered { agent } if r.agents[agent].offer != Some(slot) => {
                return Err(format!(
                    "call {} offered to {agent} who does not know",
                    c.id
                ))
            }
            CallState::Connected { agent, .. }
                if !r.agents[agent].talking.iter().any(|&(s, _)| s == slot) =>
            {
                return Err(format!(
                    "call {} connected to {agent} who does not know",
                    c.id
                ))
            }
            _ => {}
        }
    }
    if r.call_index.len() != r.calls.iter().flatten().count() {
        return Err("index and slots disagree".into());
    }
    let keys: Vec<_> = r
        .waiting
        .iter()
        .map(|&s| r.calls[s].as_ref().map(|c| (c.arrived, c.gen)))
        .collect();
    if keys.windows(2).any(|w| w[0] > w[1]) {
        return Err("waiting line out of order".into());
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Op {
    Wait(u64),
    Login(usize),
    Ready(usize),
    Break(usize),
    Logout(usize),
    Call {
        c: usize,
        q: usize,
        lang: usize,
        lead: u8,
        prev: usize,
    },
    Answer(usize, usize),
    NoAnswer(usize, usize),
    Reject(usize, usize),
    Hangup(usize),
    End(usize),
    Dispose {
        a: usize,
        c: usize,
        converted: bool,
    },
    Remove(usize),
    Readd(usize),
    Strategy(usize),
    Requeue(usize, u8),
    /// The k-th call ringing an agent is answered (by that agent).
    AnswerOffered(usize),
    /// The k-th connected call ends.
    EndConnected(usize),
    /// The k-th disposition an agent still owes comes in.
    DisposePending(usize, bool),
}

const AGENTS: [&str; 4] = ["a0", "a1", "a2", "a3"];
const QUEUES: [&str; 3] = ["health", "auto", "both"];
const LANGS: [Option<&str>; 3] = [None, Some("en"), Some("fr")];

fn op() -> impl Generator<Value = Op> {
    prop_oneof![
        1 => (0u64..40_000).prop_map(Op::Wait),
        1 => (0..4usize).prop_map(Op::Login),
        1 => (0..4usize).prop_map(Op::Ready),
        1 => (0..4usize).prop_map(Op::Break),
        1 => (0..4usize).prop_map(Op::Logout),
        1 => (0..8usize, 0..3usize, 0..3usize, 0..=10u8, 0..5usize)
            .prop_map(|(c, q, lang, lead, prev)| Op::Call { c, q, lang, lead, prev }),
        1 => (0..8usize, 0..5usize).prop_map(|(c, a)| Op::Answer(c, a)),
        1 => (0..8usize, 0..5usize).prop_map(|(c, a)| Op::NoAnswer(c, a)),
        1 => (0..8usize, 0..5usize).prop_map(|(c, a)| Op::Reject(c, a)),
        1 => (0..8usize).prop_map(Op::Hangup),
        1 => (0..8usize).prop_map(Op::End),
        1 => (0..4usize, 0..8usize, any::<bool>())
            .prop_map(|(a, c, converted)| Op::Dispose { a, c, converted }),
        1 => (0..4usize).prop_map(Op::Remove),
        1 => (0..4usize).prop_map(Op::Readd),
        1 => (0..4usize).prop_map(Op::Strategy),
        1 => (0..3usize, 0..10u8).prop_map(|(q, l)| Op::Requeue(q, l)),
        3 => (0..8usize).prop_map(Op::AnswerOffered),
        2 => (0..8usize).prop_map(Op::EndConnected),
        2 => (0..8usize, any::<bool>()).prop_map(|(k, c)| Op::DisposePending(k, c)),
    ]
}

fn prop_config() -> RoutingConfig {
    let mut agents = vec![
        agent("a0", &[("health", 5)], &["en"]),
        agent("a1", &[("auto", 7)], &["en", "zh"]),
        agent("a2", &[("health", 8), ("auto", 3)], &["zh"]),
        agent("a3", &[("health", 2), ("auto", 2)], &[]),
    ];
    agents[3].max_concurrent = 2;
    agents[1].wrap_up_s = Some(0);
    let mut queues = vec![
        QueueConfig::new("health", &[("health", 4)]),
        QueueConfig::new("auto", &[("auto", 3)]),
        QueueConfig::new("both", &[("health", 2), ("auto", 2)]),
    ];
    queues[0].widen = vec![WidenStage {
        after_s: 15,
        required: [("health".to_owned(), 2)].into(),
        any_language: true,
    }];
    queues[0].max_wait_s = 60;
    queues[1].priority = 1;
    queues[2].fallback = FallbackPolicy::Callback;
    RoutingConfig {
        skills: vec!["health".into(), "auto".into()],
        agents,
        queues,
        max_no_answer: 2,
        max_idle_s: 30,
        ..RoutingConfig::default()
    }
}

fn agent_id(i: usize) -> AgentId {
    id(AGENTS.get(i).copied().unwrap_or("ghost"))
}

/// The agent call `c` is offered to, or a pick of the test's.
fn target(r: &Router, c: &CallId, fallback: usize) -> AgentId {
    match r.call_index.get(c).map(|&s| r.call(s).state) {
        Some(CallState::Offered { agent }) | Some(CallState::Connected { agent, .. })
            if fallback.is_multiple_of(2) =>
        {
            r.agents[agent].p.id.clone()
        }
        _ => agent_id(fallback),
    }
}

/// The k-th (cycling) call in a state, with its agent.
fn nth_call(r: &Router, k: usize, offered: bool) -> Option<(CallId, AgentId)> {
    let calls: Vec<_> = r
        .calls
        .iter()
        .flatten()
        .filter_map(|c| match c.state {
            CallState::Offered { agent } if offered => Some((c.id.clone(), agent)),
            CallState::Connected { agent, .. } if !offered => Some((c.id.clone(), agent)),
            _ => None,
        })
        .collect();
    let (call, a) = calls.get(k % calls.len().max(1))?.clone();
    Some((call, r.agents[a].p.id.clone()))
}

fn apply(r: &mut Router, now: &mut u64, op: Op) {
    let c = |i: usize| cid(&format!("call{i}"));
    let input = match op {
        Op::AnswerOffered(k) => match nth_call(r, k, true) {
            Some((call, agent)) => Input::OfferAnswered { call, agent },
            None => Input::Tick,
        },
        Op::EndConnected(k) => match nth_call(r, k, false) {
            Some((call, _)) => Input::CallEnded { call },
            None => Input::Tick,
        },
        Op::DisposePending(k, converted) => {
            let owed: Vec<_> = r
                .agents
                .iter()
                .flat_map(|ag| {
                    ag.pending
                        .iter()
                        .filter(|p| !p.disposed)
                        .map(|p| (ag.p.id.clone(), p.call.clone()))
                })
                .collect();
            match owed.get(k % owed.len().max(1)) {
                Some((agent, call)) => Input::Disposition(Disposition {
                    agent: agent.clone(),
                    call: call.clone(),
                    converted,
                    handle_s: Some(30.0),
                    quality: None,
                }),
                None => Input::Tick,
            }
        }
        Op::Wait(ms) => {
            *now += ms;
            Input::Tick
        }
        Op::Login(a) => Input::Login { agent: agent_id(a) },
        Op::Ready(a) => Input::Ready { agent: agent_id(a) },
        Op::Break(a) => Input::Break {
            agent: agent_id(a),
            reason: "lunch".into(),
        },
        Op::Logout(a) => Input::Logout { agent: agent_id(a) },
        Op::Call {
            c: i,
            q,
            lang,
            lead,
            prev,
        } => Input::CallWaiting(CallRequest {
            language: LANGS[lang].map(str::to_owned),
            lead_score: Some(f32::from(lead) / 10.0),
            previous_agent: Some(agent_id(prev)),
            ..CallRequest::new(&format!("call{i}"), QUEUES[q], Intent::AskPrice)
        }),
        Op::Answer(i, a) => Input::OfferAnswered {
            call: c(i),
            agent: target(r, &c(i), a),
        },
        Op::NoAnswer(i, a) => Input::OfferNotAnswered {
            call: c(i),
            agent: target(r, &c(i), a),
        },
        Op::Reject(i, a) => Input::OfferRejected {
            call: c(i),
            agent: target(r, &c(i), a),
        },
        Op::Hangup(i) => Input::CalleeHungUp { call: c(i) },
        Op::End(i) => Input::CallEnded { call: c(i) },
        Op::Dispose { a, c: i, converted } => Input::Disposition(Disposition {
            agent: agent_id(a),
            call: c(i),
            converted,
            handle_s: None,
            quality: Some(0.5),
        }),
        Op::Remove(a) => Input::RemoveAgent { agent: agent_id(a) },
        Op::Readd(a) => Input::UpsertAgent(prop_config().agents[a].clone()),
        Op::Strategy(s) => Input::SetStrategy(Strategy::ALL[s]),
        Op::Requeue(q, level) => {
            let mut cfg = prop_config().queues[q].clone();
            cfg.required.insert(QUEUES[q.min(1)].to_owned(), level);
            cfg.max_wait_s = 10 + u32::from(level) * 5;
            Input::UpsertQueue(cfg)
        }
    };
    let before = format!("{:?}", r.counters());
    if r.handle(*now, input).is_err() {
        assert_eq!(
            format!("{:?}", r.counters()),
            before,
            "a refused input changed counters"
        );
    }
    for o in r.drain_outputs() {
        // Every output serialises (the log and the desktop read them as JSON).
        serde_json::to_string(&o).expect("serialises");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_inputs_keep_the_router_consistent(ops in proptest::collection::vec(op(), 1..120)) {
        let mut r = router(&prop_config());
        let mut now = 0;
        for op in ops {
            apply(&mut r, &mut now, op.clone());
            if let Err(e) = check(&r) {
                prop_assert!(false, "after {:?}: {}", op, e);
            }
        }
        // Time passing alone drains every waiting call (fallback at the maximum wait):
        // nothing stays stuck.
        for a in 0..4 {
            let _ = r.handle(now, Input::Logout { agent: agent_id(a) });
        }
        now += 3_600_000;
        r.handle(now, Input::Tick).expect("tick");
        prop_assert_eq!(r.waiting(), 0);
        prop_assert!(check(&r).is_ok());
    }
}
