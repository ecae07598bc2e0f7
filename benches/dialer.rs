//! Criterion benches of the dialer's hot decisions: the next-batch decision over a large
//! queue, one compliance check, phone-number normalisation (the import's inner loop), and the
//! store's write of one import batch (20,000 new contacts packed in blocks, sealed).
//! `aicall campaign bench` measures the end-to-end figures (1M-row import, originate rate).

use aicall::campaign::compliance::{CallingWindow, FrequencyCaps, Rules};
use aicall::campaign::phone::{normalise, region};
use aicall::campaign::queue::{Queue, QueueEntry};
use aicall::campaign::Compliance;
use aicall::store::{
    Contact, ContactPii, ContactState, LineType, ListFlags, ListKind, PhoneKey, PiiCipher,
    SledStore, Store,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

const BEIJING: &[chrono_tz::Tz] = &[chrono_tz::Asia::Shanghai];
const LONDON: &[chrono_tz::Tz] = &[chrono_tz::Europe::London];
/// A US number whose area code straddles two zones: both are checked.
const FLORIDA_850: &[chrono_tz::Tz] = &[chrono_tz::America::New_York, chrono_tz::America::Chicago];

// Tuesday 2026-11-24 10:00 in Beijing.
const NOW: i64 = 1_795_392_000 + 86_400 + 2 * 3600;

fn queue(n: u64) -> (Queue, Compliance) {
    let mut q = Queue::new();
    let mut c = Compliance::new();
    for i in 0..n {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&i.to_le_bytes());
        if i % 50 == 0 {
            c.set_listed(PhoneKey(k), ListKind::Dnc, true);
        }
        q.push(QueueEntry {
            id: i,
            phone_key: PhoneKey(k),
            utc_offset_min: if i % 5 == 0 { 0 } else { 480 },
            zones: if i % 5 == 0 { LONDON } else { BEIJING },
            attempts: (i % 3) as u32,
            seq: i,
            score: (i % 3 == 0).then_some((i % 1000) as f32 / 1000.0),
            best_hour: (i % 7 == 0).then_some((i % 24) as u8),
            next_at: NOW - 60,
        });
    }
    (q, c)
}

fn benches(crit: &mut Criterion) {
    let rules = Rules::new(&CallingWindow::default(), &FrequencyCaps::default(), 3)
        .expect("default rules are valid");
    let (mut q, c) = queue(100_000);
    q.next_batch(NOW, 1, &rules, &c);
    crit.bench_function("next_batch_100_of_100k", |b| {
        b.iter_batched(
            || (),
            |()| {
                let batch = q.next_batch(NOW, 100, &rules, &c);
                for e in batch.dial {
                    q.push(QueueEntry {
                        next_at: NOW - 1,
                        ..e
                    });
                }
            },
            BatchSize::SmallInput,
        )
    });
    let history = [NOW - 90_000, NOW - 200_000];
    crit.bench_function("compliance_check", |b| {
        b.iter(|| rules.check(ListFlags::default(), 1, BEIJING, &history, NOW))
    });
    crit.bench_function("compliance_check_two_zones_closed", |b| {
        b.iter(|| rules.check(ListFlags::default(), 1, FLORIDA_850, &history, NOW))
    });
    let cn = region("CN").expect("CN");
    crit.bench_function("normalise_cn_mobile", |b| {
        b.iter(|| normalise("138 0013 8000", cn))
    });
}

/// One import batch into a fresh store: block encoding, sealing and the sled writes.
fn store_benches(crit: &mut Criterion) {
    let mut group = crit.benchmark_group("store");
    group.sample_size(10);
    group.bench_function("put_contacts_20k_new", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let store =
                    SledStore::open_with(dir.path(), PiiCipher::new([5u8; 32])).expect("store");
                let first = store.reserve_ids(20_000).expect("ids");
                let contacts: Vec<Contact> = (0..20_000u64)
                    .map(|i| {
                        let phone = format!("+86139{:08}", i);
                        Contact {
                            id: first + i,
                            campaign: "bench".into(),
                            phone_key: store.phone_key(&phone),
                            pii: ContactPii {
                                phone,
                                name: Some(format!("客户{i}")),
                                fields: [
                                    ("城市".to_string(), "北京".to_string()),
                                    ("备注".to_string(), format!("批次{}", i / 1000)),
                                ]
                                .into(),
                            },
                            line_type: LineType::Mobile,
                            region: "CN".into(),
                            utc_offset_min: 480,
                            seq: first + i,
                            score: None,
                            best_hour: None,
                            state: ContactState::Pending,
                            attempts: 0,
                            next_at: 0,
                            note: String::new(),
                        }
                    })
                    .collect();
                (dir, store, contacts)
            },
            |(dir, store, contacts)| {
                store.put_contacts(&contacts).expect("written");
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(dialer, benches, store_benches);
criterion_main!(dialer);
