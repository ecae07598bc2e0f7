//! Intent latency: one reply through the committed model (tokenise, forward, calibrated
//! softmax, sentiment, slots, keywords), as the call driver does per callee turn.
//! Run on one core: `RAYON_NUM_THREADS=1 taskset -c 0 cargo bench --bench nlu`.
//! Besides criterion's estimates, prints p50/p99 over 2,000 calls (criterion reports means and
//! medians of batches, not per-call tail latency).

use std::time::Instant;

use aicall::nlu::{IntentModel, Utterance};
use chrono::TimeZone;
use criterion::{criterion_group, criterion_main, Criterion};

const REPLIES: [(&str, Option<&str>); 6] = [
    ("不是", Some("您好请问是王先生吗")),
    ("嗯那个我现在在开会你明天下午三点再打吧", None),
    ("这个保险一年多少钱啊", Some("我们最近有个重疾险优惠活动")),
    ("sorry i'm driving can you call me back later", None),
    ("你们天天打电话烦不烦啊我要投诉", None),
    ("您拨打的电话暂时无法接通请稍后再拨", None),
];

fn model() -> IntentModel {
    // The committed model is part of the repository; without it there is nothing to measure.
    IntentModel::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/intent"))
        .expect("committed model in models/intent")
}

fn percentiles(m: &IntentModel) {
    let now = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single();
    // `cargo test --all-targets` runs this once in a debug build: a few calls show it works.
    let calls = if cfg!(debug_assertions) { 40 } else { 2000 };
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls {
        let (text, prompt) = REPLIES[i % REPLIES.len()];
        let t = Instant::now();
        let r = m.classify(&Utterance {
            text,
            prompt,
            hour: None,
            now,
        });
        times.push(t.elapsed());
        std::hint::black_box(r.ok());
    }
    times.sort();
    eprintln!(
        "intent classify over {} calls: p50 {:?} p99 {:?}",
        times.len(),
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
}

fn bench(c: &mut Criterion) {
    let m = model();
    percentiles(&m);
    let now = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single();
    c.bench_function("intent_classify_short_with_prompt", |b| {
        b.iter(|| {
            m.classify(&Utterance {
                text: "不是",
                prompt: Some("您好请问是王先生吗"),
                hour: None,
                now,
            })
        })
    });
    c.bench_function("intent_classify_long_zh", |b| {
        b.iter(|| {
            m.classify(&Utterance {
                text: "嗯那个我现在在开会你明天下午三点再打吧",
                prompt: None,
                hour: None,
                now,
            })
        })
    });
    c.bench_function("intent_classify_en", |b| {
        b.iter(|| {
            m.classify(&Utterance {
                text: "sorry i'm driving can you call me back later",
                prompt: None,
                hour: None,
                now,
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
