//! Lead scoring timings on the bank-marketing file: booster fit (1 and 2 threads), batch
//! scoring throughput, and one call of the dialer's scoring API (with TreeSHAP reasons).
//! `aicall leads bench` prints the same figures beside LightGBM.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;

use aicall::profile::cv::stratified_holdout;
use aicall::profile::encode::{parse_target, Encoder};
use aicall::profile::gbm::{with_threads, Gbm, GbmParams};
use aicall::profile::{csv, LeadModel, TrainOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BANK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/bank-marketing/train.csv"
);

fn leads(c: &mut Criterion) {
    // A missing data file is a set-up error of the bench itself, not input to handle.
    let table = csv::read_path(Path::new(BANK)).expect("bank file in ../shared/data");
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
