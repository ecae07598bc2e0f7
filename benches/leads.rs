//! Lead scoring timings on the bank-marketing file: booster fit (1 and 2 threads), batch
//! scoring throughput, and one call of the dialer's scoring API (with TreeSHAP reasons).
//! `aicall bench leads` prints the same figures beside LightGBM. Where the file is absent (a
//! user's clone has no `../shared/data`), the same code is timed on a generated table of its
//! shape (`tests/common/bank.rs`), and stderr says so.

#[path = "../tests/common/bank.rs"]
mod bank;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;

use aicall::profile::csv::{self, Table};
use aicall::profile::cv::stratified_holdout;
use aicall::profile::encode::{parse_target, Encoder};
use aicall::profile::gbm::{with_threads, Gbm, GbmParams};
use aicall::profile::{LeadModel, TrainOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The bank file's rows.
const BANK_ROWS: usize = 32_950;

/// The bank file from `../shared/data`, or a generated table of its shape where it is absent.
/// Under `CI=true` (the project's CI has the shared data) its absence is a failure, as for the
/// tests (`tests/common::shared_data`), which benches cannot include.
fn bank_table() -> Table {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/bank-marketing/train.csv");
    if path.exists() {
        // A file that is there but unreadable is a broken set-up, not input to handle.
        return csv::read_path(&path).expect("the bank file reads");
    }
    let ci = std::env::var("CI").is_ok_and(|v| matches!(v.as_str(), "true" | "1"));
    assert!(
        !ci,
        "{} is missing and CI=true: the shared data must be present in CI",
        path.display()
    );
    eprintln!(
        "bench leads: {} is absent (only the project's own machines have it); timing a \
         generated table of its shape instead, whose figures are not the README's",
        path.display()
    );
    bank::table(BANK_ROWS, 1)
}

fn leads(c: &mut Criterion) {
    let table = bank_table();
    let y = parse_target(&table, "y").expect("bank labels");
    let enc = Encoder::fit(&table, Some("y"), &["duration".into()]).expect("encodes");
    let (data, _) = enc.transform(&table).expect("encodes");
    let params = GbmParams {
        learning_rate: 0.05,
        num_leaves: 15,
        min_data_in_leaf: 50,
        feature_fraction: 0.8,
        num_rounds: 100,
        early_stopping_rounds: 0,
        ..GbmParams::default()
    };

    let mut group = c.benchmark_group("leads_fit_33k_100_rounds");
    group.sample_size(10);
    for threads in [1usize, 2] {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| {
                with_threads(threads, || Gbm::fit(&data, &y, None, &params))
                    .and_then(|r| r)
                    .expect("fits")
            })
        });
    }
    group.finish();

    let (model, _) = Gbm::fit(&data, &y, None, &params).expect("fits");
    let mut group = c.benchmark_group("leads_score");
    group.sample_size(10);
    group.throughput(Throughput::Elements(data.n_rows as u64));
    group.bench_function("batch_33k_rows", |b| {
        b.iter(|| black_box(model.predict_proba(&data)))
    });
    group.finish();

    let sample = table.subset(&stratified_holdout(&y, 0.2, 1).test);
    let mut opts = TrainOptions::new("y");
    opts.exclude = vec!["duration".into()];
    opts.folds = 3;
    opts.grid.truncate(1);
    opts.segment_ks = vec![2, 3];
    let lead = LeadModel::train(&sample, &opts, &mut |_| {}).expect("trains");
    let fields: HashMap<String, String> = table
        .headers
        .iter()
        .cloned()
        .zip(table.rows[0].iter().cloned())
        .collect();
    let mut group = c.benchmark_group("leads_api");
    group.throughput(Throughput::Elements(1));
    group.bench_function("score_one_contact_with_reasons", |b| {
        b.iter(|| black_box(lead.score(black_box(&fields))))
    });
    group.finish();
}

criterion_group!(benches, leads);
criterion_main!(benches);
