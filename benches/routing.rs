//! Criterion benches of the agent router's decisions in a large centre: 1,000 agents over 8
//! skills and 2 languages, with records learned from 5,000 dispositions.
//!
//! - `agent_freed_1000_agents_500_waiting`: every agent is on a call and 500 calls wait; an
//!   agent's call ends and the router picks the best waiting call it can serve (the
//!   issue's p99 ≤ 100 µs figure; `aicall bench routing` prints its percentiles).
//! - `call_arrives_1000_agents_free`: every agent is free; a call arrives and the router
//!   scores the eligible agents.
//!
//! The set-up repeats `aicall bench routing`'s (the binary's harness is not a library).

use std::time::{Duration, Instant};

use aicall::nlu::Intent;
use aicall::routing::{
    AgentConfig, AgentId, CallId, CallRequest, Disposition, Input, Output, QueueConfig, Router,
    RoutingConfig, WidenStage,
};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const AGENTS: usize = 1000;
const WAITING: usize = 500;
const SKILLS: usize = 8;

fn config(rng: &mut StdRng) -> RoutingConfig {
    let skills: Vec<String> = (0..SKILLS).map(|i| format!("s{i}")).collect();
    let agents = (0..AGENTS)
        .map(|i| {
            let first = i % SKILLS;
            let mut levels = vec![(skills[first].as_str(), rng.random_range(3..=10u8))];
            for _ in 0..2 {
                let s = rng.random_range(0..SKILLS);
                if !levels.iter().any(|(n, _)| *n == skills[s]) {
                    levels.push((skills[s].as_str(), rng.random_range(1..=10u8)));
                }
            }
            let mut a = AgentConfig::new(&format!("a{i}"), &format!("user/{i}"), &levels);
            a.languages = if rng.random_bool(0.3) {
                vec!["zh".into(), "en".into()]
            } else {
                vec!["zh".into()]
            };
            a.team = format!("team{}", i % 10);
            a
        })
        .collect();
    let queues = skills
        .iter()
        .map(|s| {
            let mut q = QueueConfig::new(s, &[(s, 3)]);
            q.widen = vec![WidenStage {
                after_s: 30,
                required: [(s.clone(), 1)].into(),
                any_language: false,
            }];
            q
        })
        .collect();
    RoutingConfig {
        skills,
        agents,
        queues,
        wrap_up_s: 0,
        ..RoutingConfig::default()
    }
}

fn request(rng: &mut StdRng, n: &mut usize) -> CallRequest {
    *n += 1;
    let q = format!("s{}", rng.random_range(0..SKILLS));
    CallRequest {
        language: Some(if rng.random_bool(0.2) { "en" } else { "zh" }.into()),
        lead_score: Some(rng.random()),
        ..CallRequest::new(&format!("c{n}"), &q, Intent::AskPrice)
    }
}

fn take_offer(r: &mut Router) -> Option<(CallId, AgentId)> {
    let mut offer = None;
    while let Some(o) = r.poll_output() {
        if let Output::Offer { call, agent, .. } = o {
            offer = Some((call, agent));
        }
    }
    offer
}

/// Answers the offer in the outputs, if any; returns the connected call.
fn answer(r: &mut Router, now: u64) -> Option<CallId> {
    let (call, agent) = take_offer(r)?;
    r.handle(
        now,
        Input::OfferAnswered {
            call: call.clone(),
            agent,
        },
    )
    .expect("the offered agent answers");
    take_offer(r);
    Some(call)
}

/// Every agent logged in, with records from 5,000 handled calls.
fn trained(rng: &mut StdRng, n: &mut usize, now: u64) -> Router {
    let cfg = config(rng);
    let mut r = Router::new(&cfg).expect("valid configuration");
    for a in &cfg.agents {
        r.handle(
            now,
            Input::Login {
                agent: AgentId::new(&a.id),
            },
        )
        .expect("known agent");
    }
    take_offer(&mut r);
    for _ in 0..5000 {
        let req = request(rng, n);
        r.handle(now, Input::CallWaiting(req))
            .expect("a valid call");
        let Some((call, agent)) = take_offer(&mut r) else {
            continue;
        };
        for input in [
            Input::OfferAnswered {
                call: call.clone(),
                agent: agent.clone(),
            },
            Input::CallEnded { call: call.clone() },
            Input::Disposition(Disposition {
                agent,
                call,
                converted: rng.random_bool(0.2),
                handle_s: Some(rng.random_range(30.0..200.0)),
                quality: None,
            }),
        ] {
            r.handle(now, input).expect("the call goes through");
        }
        take_offer(&mut r);
    }
    r
}

fn benches(crit: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut n = 0;
    let now = 1_000;

    let mut free = trained(&mut rng, &mut n, now);
    crit.bench_function("call_arrives_1000_agents_free", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let req = request(&mut rng, &mut n);
                let call = req.call.clone();
                let t0 = Instant::now();
                free.handle(now, Input::CallWaiting(req))
                    .expect("a valid call");
                spent += t0.elapsed();
                free.handle(now, Input::CalleeHungUp { call })
                    .expect("the call is known");
                take_offer(&mut free);
            }
            spent
        })
    });

    // Every agent on a call, then 500 waiting.
    let mut r = trained(&mut rng, &mut n, now);
    let mut talking = Vec::new();
    while r.waiting() < WAITING {
        let req = request(&mut rng, &mut n);
        r.handle(now, Input::CallWaiting(req))
            .expect("a valid call");
        talking.extend(answer(&mut r, now));
    }
    crit.bench_function("agent_freed_1000_agents_500_waiting", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let k = rng.random_range(0..talking.len());
                let call = talking.swap_remove(k);
                let t0 = Instant::now();
                r.handle(now, Input::CallEnded { call })
                    .expect("a connected call");
                spent += t0.elapsed();
                talking.extend(answer(&mut r, now));
                while r.waiting() < WAITING {
                    let req = request(&mut rng, &mut n);
                    r.handle(now, Input::CallWaiting(req))
                        .expect("a valid call");
                    talking.extend(answer(&mut r, now));
                }
            }
            spent
        })
    });
}

criterion_group!(routing, benches);
criterion_main!(routing);
