//! `aicall leads ...`: train, score, evaluate and inspect lead models, rank lookalikes, and
//! benchmark the booster against LightGBM. A thin layer over [`aicall::profile`].

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use aicall::profile::cv::stratified_holdout;
use aicall::profile::encode::{drop_unlabelled, parse_labels, Encoder, Unseen};
use aicall::profile::gbm::{with_threads, Gbm, GbmParams};
use aicall::profile::metrics::{auc, logloss};
use aicall::profile::model::describe_params;
use aicall::profile::{besttime, csv, history, pu, LeadModel, TrainOptions};

#[derive(Debug, Subcommand)]
pub enum LeadsCommand {
    /// Train a lead model: selection report, CV table, importance; writes a model directory.
    Train(Box<TrainArgs>),
    /// One probability per row plus the top reasons, segment and best hours (CSV on stdout).
    Score {
        /// Model directory written by `train`.
        model: PathBuf,
        file: PathBuf,
        #[command(flatten)]
        history: HistoryArgs,
    },
    /// Evaluate on a labelled file; the last line is `auc=… logloss=… n=…`.
    Eval {
        model: PathBuf,
        file: PathBuf,
        /// Target column (default: the one the model was trained on).
        #[arg(long)]
        target: Option<String>,
        /// Target values that mean "converted" (default: the ones the model was trained with).
        #[arg(long, value_delimiter = ',')]
        positive: Vec<String>,
        #[command(flatten)]
        history: HistoryArgs,
    },
    /// Describe the model's segments; with a file, count its rows per segment.
    Segments {
        model: PathBuf,
        file: Option<PathBuf>,
    },
    /// Rank a pool by likeness to converted customers (PU bagging), or evaluate that ranking
    /// by hiding positives of a labelled file.
    Lookalikes(LookalikeArgs),
    /// Fit time (1 and 2 threads), scoring rows/s and CV AUC/log loss, beside LightGBM.
    Bench(BenchArgs),
}

/// aicall's own call records, aggregated into `hist_*` contact features.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Interactions CSV: contact_id, at_unix, hour_of_week, answered, talk_seconds,
    /// disposition[, intent].
    #[arg(long, requires = "id_column")]
    history: Option<PathBuf>,
    /// Column of the contact file that holds the contact id.
    #[arg(long = "id-column")]
    id_column: Option<String>,
    /// "Now" for recency, seconds since the epoch (default: the current time).
    #[arg(long)]
    now: Option<i64>,
}

impl HistoryArgs {
    /// The contact table with the history columns joined on, when a history was given.
    fn apply(&self, table: csv::Table) -> anyhow::Result<csv::Table> {
        let (Some(path), Some(id)) = (&self.history, &self.id_column) else {
            return Ok(table);
        };
        let calls = history::from_table(&load(path, &["contact_id", "at_unix"])?)?;
        let now = self.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
        let agg = history::aggregate(&calls, now);
        eprintln!(
            "history: {} interactions of {} contacts joined on `{id}`",
            calls.len(),
            agg.len()
        );
        Ok(history::join(&table, id, &agg)?)
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    file: PathBuf,
    #[arg(long)]
    target: String,
    /// Target values that mean "converted", e.g. `--positive 成交,意向`; every other value is
    /// "not converted". Default: yes/no, true/false, 1/0, 是/否, 成交/未成交, 成功/失败.
    #[arg(long, value_delimiter = ',')]
    positive: Vec<String>,
    /// Columns to leave out (repeat or separate by commas), e.g. `duration`.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    #[arg(long, default_value = "models/leads")]
    out: PathBuf,
    #[arg(long, default_value_t = 5)]
    folds: usize,
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Hold out this stratified fraction (fixed seed) before training and write it to
    /// OUT/holdout.csv for an honest `eval`.
    #[arg(long)]
    holdout: Option<f64>,
    /// Columns to build segments from (default: the model's features).
    #[arg(long, value_delimiter = ',')]
    segment_features: Option<Vec<String>>,
    #[command(flatten)]
    history: HistoryArgs,
}

#[derive(Debug, Args)]
pub struct LookalikeArgs {
    /// Converted customers (the seed list).
    #[arg(long, requires = "pool")]
    seeds: Option<PathBuf>,
    /// Customers to rank.
    #[arg(long)]
    pool: Option<PathBuf>,
    /// Labelled file to evaluate on instead (hides part of its positives in the pool).
    #[arg(long, conflicts_with_all = ["seeds", "pool"])]
    evaluate: Option<PathBuf>,
    #[arg(long, default_value = "y")]
    target: String,
    /// Target values that mean "converted" (default: the yes/no vocabulary of `train`).
    #[arg(long, value_delimiter = ',')]
    positive: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Share of positives hidden in the pool when evaluating.
    #[arg(long, default_value_t = 0.3)]
    hide: f64,
    /// Rows of the ranking to print.
    #[arg(long, default_value_t = 20)]
    top: usize,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Training file: CSV or XLSX with the target column (the README's figures are for the
    /// bank-marketing file).
    file: PathBuf,
    #[arg(long, default_value = "y")]
    target: String,
    #[arg(long, value_delimiter = ',', default_value = "duration")]
    exclude: Vec<String>,
    /// Python with `lightgbm` and `numpy` (default: .setup/leads-venv, made by
    /// scripts/leads-lightgbm-venv.sh).
    #[arg(long, env = "AICALL_LIGHTGBM_PYTHON")]
    python: Option<PathBuf>,
    /// Boosting rounds for the timing runs.
    #[arg(long, default_value_t = 300)]
    rounds: usize,
    /// CV folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Seed of the folds and of the hold-out (the same as `leads train --holdout`'s default).
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Hold-out fraction: stratified, never used for any choice.
    #[arg(long, default_value_t = 0.2)]
    holdout: f64,
}

pub fn run(cmd: LeadsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LeadsCommand::Train(a) => train(*a),
        LeadsCommand::Score {
            model,
            file,
            history,
        } => score(&model, &file, &history),
        LeadsCommand::Eval {
            model,
            file,
            target,
            positive,
            history,
        } => eval(&model, &file, target, positive, &history),
        LeadsCommand::Segments { model, file } => segments(&model, file.as_deref()),
        LeadsCommand::Lookalikes(a) => lookalikes(a),
        LeadsCommand::Bench(a) => bench(a),
    }
}

fn report_unseen(unseen: &Unseen) {
    for (col, n, examples) in &unseen.by_column {
        eprintln!(
            "warning: {n} cell(s) of `{col}` not seen in training (scored as missing), e.g. {}",
            examples.join(", ")
        );
    }
}

/// Lines of a skipped-rows warning before "… and N more".
const SHOWN_SKIPPED: usize = 10;

/// Reads a CSV or a workbook's sheet with the `wanted` columns, telling the user about a
/// non-UTF-8 encoding or the sheet, and every record left out.
fn load(path: &Path, wanted: &[&str]) -> anyhow::Result<csv::Table> {
    let table = csv::read_path_with(path, wanted)?;
    if let Some(how) = table.read_as.as_deref().filter(|h| !h.starts_with("UTF-8")) {
        eprintln!("{}: read as {how}", path.display());
    }
    warn_lines(
        path,
        "malformed record(s) left out",
        table.skipped.iter().map(ToString::to_string),
    );
    Ok(table)
}

/// One warning naming up to [`SHOWN_SKIPPED`] lines.
fn warn_lines(path: &Path, what: &str, items: impl ExactSizeIterator<Item = String>) {
    let n = items.len();
    if n == 0 {
        return;
    }
    eprintln!("warning: {}: {n} {what}:", path.display());
    for item in items.take(SHOWN_SKIPPED) {
        eprintln!("  {item}");
    }
    if n > SHOWN_SKIPPED {
        eprintln!("  … and {} more", n - SHOWN_SKIPPED);
    }
}

/// Drops the rows without a target value, with a warning naming their lines.
fn labelled_only(path: &Path, table: &mut csv::Table, target: &str) {
    let dropped = drop_unlabelled(table, target);
    warn_lines(
        path,
        &format!("row(s) with an empty `{target}` left out"),
        dropped.into_iter().map(|l| format!("line {l}")),
    );
}

fn train(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut table = a.history.apply(load(&a.file, &[&a.target])?)?;
    labelled_only(&a.file, &mut table, &a.target);
    eprintln!(
        "read {} rows × {} columns from {}",
        table.rows.len(),
        table.headers.len(),
        a.file.display()
    );
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    if let Some(frac) = a.holdout {
        if !(0.0..0.9).contains(&frac) {
            bail!("--holdout must be in [0, 0.9)");
        }
        let y = parse_labels(&table, &a.target, &a.positive)?;
        let split = stratified_holdout(&y, frac, a.seed);
        let held = table.subset(&split.test);
        let path = a.out.join("holdout.csv");
        std::fs::write(&path, held.to_csv(';'))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "held out {} rows (stratified, seed {}) in {}",
            held.rows.len(),
            a.seed,
            path.display()
        );
        table = table.subset(&split.train);
    }
    let mut opts = TrainOptions::new(&a.target);
    opts.positive = a.positive.clone();
    opts.exclude = a.exclude.clone();
    opts.folds = a.folds;
    opts.seed = a.seed;
    opts.grid = aicall::profile::model::default_grid(a.seed);
    opts.segment_features = a.segment_features.clone();
    let model = with_threads(a.threads, || {
        LeadModel::train(&table, &opts, &mut |line| eprintln!("  {line}"))
    })??;
    println!("\nfeature selection (χ² / RFE / Lasso):");
    print!("{}", model.selection.render());
    if let Some(m) = &model.manifest {
        println!("\ncross-validation ({} folds, stratified):", a.folds);
        println!(
            "{:<58} {:<14} {:>8} {:>7} {:>8} {:>7}",
            "setting", "features", "auc", "±", "logloss", "rounds"
        );
        for r in &m.cv {
            println!(
                "{:<58} {:<14} {:>8.4} {:>7.4} {:>8.4} {:>7.0}",
                r.setting, r.features, r.auc_mean, r.auc_std, r.logloss_mean, r.rounds_mean
            );
        }
        println!(
            "\nchosen: {} on {} features ({}), {} trees",
            describe_params(&m.params),
            m.features.len(),
            if m.selection_applied {
                "selected set"
            } else {
                "all features: the selected set did not beat them in CV"
            },
            m.trees
        );
        println!("features: {}", m.features.join(", "));
    }
    println!("\ngain importance:");
    let mut imp = model.importance.clone();
    imp.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (name, v) in imp {
        println!("  {name:<16} {:>6.2} %", v * 100.0);
    }
    print_segments(&model);
    model.save(&a.out)?;
    println!(
        "\nmodel written to {} in {:.1} s",
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn print_segments(model: &LeadModel) {
    println!("\nsegments (k by silhouette):");
    for c in &model.k_table {
        println!(
            "  k={} silhouette={:.3} inertia={:.0}",
            c.k, c.silhouette, c.inertia
        );
    }
    for s in &model.segments {
        let known = besttime::hour_identified(&s.prior, None);
        let hours: Vec<String> = besttime::best_hours(&s.prior, None, &model.allowed_hours, 3)
            .iter()
            .map(|h| hour_label(h.hour, known))
            .collect();
        println!(
            "  #{} {:>6} rows, converts {:>5.1} %: {}; best hours {}",
            s.id,
            s.size,
            s.conversion_rate * 100.0,
            s.description,
            hours.join(", ")
        );
    }
}

/// "Tue 10h", or "Tue (any hour)" when the data identifies the day but not the hour.
fn hour_label(hour_of_week: usize, hour_known: bool) -> String {
    let l = besttime::label(hour_of_week);
    if hour_known {
        l
    } else {
        format!("{} (any hour)", &l[..3])
    }
}

fn record(table: &csv::Table, r: usize) -> HashMap<String, String> {
    table
        .headers
        .iter()
        .cloned()
        .zip(table.rows[r].iter().cloned())
        .collect()
}

/// The contact-file columns a model reads (its history columns are joined on later).
fn input_columns(model: &LeadModel) -> Vec<&str> {
    model
        .used
        .iter()
        .map(|&f| model.encoder.features[f].name.as_str())
        .filter(|n| !n.starts_with("hist_"))
        .collect()
}

fn score(model_dir: &Path, file: &Path, history: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let model = LeadModel::load(model_dir)?;
    let table = history.apply(load(file, &input_columns(&model))?)?;
    for f in &model.used {
        let name = &model.encoder.features[*f].name;
        if table.column(name).is_none() {
            bail!(
                "{} has no column `{name}`, which the model needs",
                file.display()
            );
        }
    }
    let mut unseen = Unseen::default();
    // Rows go through a buffered writer; a closed pipe (`| head`) ends the output quietly.
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_line = |line: String| -> anyhow::Result<bool> {
        match writeln!(out, "{line}") {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e.into()),
        }
    };
    // `line`: where the row is in FILE (records left out above keep the numbering honest).
    write_line("line;probability;segment;best_hours;top_reasons".into())?;
    for r in 0..table.rows.len() {
        let s = model.score(&record(&table, r));
        for col in &s.unseen {
            unseen.by_column.push((col.clone(), 1, vec![]));
        }
        let known = model.hour_identified(s.segment, None);
        let hours: Vec<String> = s
            .best_hours
            .iter()
            .map(|h| hour_label(h.hour, known))
            .collect();
        let reasons: Vec<String> = s.top_reasons.iter().map(|x| x.to_string()).collect();
        let line = format!(
            "{};{:.6};{};{};{}",
            table.lines[r],
            s.probability,
            s.segment,
            hours.join(" "),
            reasons.join(" | ")
        );
        if !write_line(line)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    if !unseen.is_empty() {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for (c, _, _) in unseen.by_column {
            *counts.entry(c).or_default() += 1;
        }
        for (c, n) in counts {
            eprintln!(
                "warning: {n} row(s) had a `{c}` value not seen in training (scored as missing)"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn eval(
    model_dir: &Path,
    file: &Path,
    target: Option<String>,
    positive: Vec<String>,
    history: &HistoryArgs,
) -> anyhow::Result<ExitCode> {
    let model = LeadModel::load(model_dir)?;
    let target = target
        .or_else(|| model.manifest.as_ref().map(|m| m.target.clone()))
        .unwrap_or_else(|| "y".into());
    let positive = if positive.is_empty() {
        model
            .manifest
            .as_ref()
            .map(|m| m.positive.clone())
            .unwrap_or_default()
    } else {
        positive
    };
    let mut table = history.apply(load(file, &[&target])?)?;
    labelled_only(file, &mut table, &target);
    let y = parse_labels(&table, &target, &positive)?;
    let t0 = Instant::now();
    let (probs, unseen) = model.predict_table(&table)?;
    let secs = t0.elapsed().as_secs_f64();
    report_unseen(&unseen);
    let positives = y.iter().filter(|&&v| v > 0.5).count();
    println!(
        "{} rows, {} positive; scored in {:.3} s ({:.0} rows/s)",
        y.len(),
        positives,
        secs,
        y.len() as f64 / secs.max(1e-9)
    );
    // Lift of the top decile: how much better than random the dialer's first calls are.
    let mut order: Vec<usize> = (0..y.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let top = (y.len() / 10).max(1);
    let hits = order[..top].iter().filter(|&&i| y[i] > 0.5).count();
    println!(
        "top 10 %: {} of {} converted ({:.1} % vs {:.1} % overall)",
        hits,
        top,
        100.0 * hits as f64 / top as f64,
        100.0 * positives as f64 / y.len() as f64
    );
    println!(
        "auc={:.4} logloss={:.4} n={}",
        auc(&y, &probs),
        logloss(&y, &probs),
        y.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn segments(model_dir: &Path, file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let model = LeadModel::load(model_dir)?;
    print_segments(&model);
    if let Some(file) = file {
        let table = load(file, &input_columns(&model))?;
        let mut counts = vec![0usize; model.segments.len()];
        let mut prob_sum = vec![0.0; model.segments.len()];
        for r in 0..table.rows.len() {
            let s = model.score(&record(&table, r));
            if let Some(c) = counts.get_mut(s.segment) {
                *c += 1;
                prob_sum[s.segment] += s.probability;
            }
        }
        println!("\n{}:", file.display());
        for (i, c) in counts.iter().enumerate() {
            println!(
                "  #{i}: {c} rows, mean score {:.3}",
                prob_sum[i] / (*c).max(1) as f64
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn lookalikes(a: LookalikeArgs) -> anyhow::Result<ExitCode> {
    let params = pu::PuParams::default();
    if let Some(file) = a.evaluate {
        let mut table = load(&file, &[&a.target])?;
        labelled_only(&file, &mut table, &a.target);
        let y = parse_labels(&table, &a.target, &a.positive)?;
        let enc = Encoder::fit(&table, Some(&a.target), &a.exclude)?;
        let (data, _) = enc.transform(&table)?;
        let t0 = Instant::now();
        let e = pu::evaluate(&data, &y, a.hide, &params)?;
        println!(
            "seeds={} hidden={} pool={} bags={} ({:.1} s)",
            e.seeds,
            e.hidden,
            e.pool,
            params.bags,
            t0.elapsed().as_secs_f64()
        );
        println!(
            "hidden positives vs pool negatives: auc={:.4} (chance 0.5), top-decile lift={:.2}",
            e.auc, e.lift_top_decile
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(seeds), Some(pool)) = (a.seeds, a.pool) else {
        bail!("give --seeds S.csv --pool P.csv, or --evaluate FILE.csv");
    };
    let seeds_t = load(&seeds, &[])?;
    let pool_t = load(&pool, &[])?;
    let mut both = pool_t.clone();
    for (r, &line) in seeds_t.rows.iter().zip(&seeds_t.lines) {
        let mut row = Vec::with_capacity(pool_t.headers.len());
        for h in &pool_t.headers {
            let c = seeds_t
                .column(h)
                .with_context(|| format!("{} has no column `{h}`", seeds.display()))?;
            row.push(r[c].clone());
        }
        both.rows.push(row);
        both.lines.push(line);
    }
    let enc = Encoder::fit(&both, None, &a.exclude)?;
    let (data, _) = enc.transform(&both)?;
    let n_pool = pool_t.rows.len();
    let unl: Vec<usize> = (0..n_pool).collect();
    let pos: Vec<usize> = (n_pool..both.rows.len()).collect();
    let scores = pu::rank(&data, &pos, &unl, &params)?;
    let mut order: Vec<usize> = (0..n_pool).collect();
    order.sort_by(|&x, &y| scores[y].total_cmp(&scores[x]));
    println!("rank;pool_row;likeness");
    for (k, &i) in order.iter().take(a.top).enumerate() {
        println!("{};{};{:.4}", k + 1, i + 1, scores[i]);
    }
    Ok(ExitCode::SUCCESS)
}

/// The LightGBM side of the bench (reference only; needs `lightgbm` and `numpy`).
const LIGHTGBM_SCRIPT: &str = include_str!("../../scripts/leads_lightgbm.py");

/// CPU seconds (user + system, every thread) this process has used, from `/proc/self/stat`
/// (clock ticks of 10 ms; NaN where that file does not exist).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // The command name may hold spaces: count fields after its closing parenthesis, where
    // utime and stime (fields 14 and 15 of the line) are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (tick(11) + tick(12)) / 100.0
}

/// One engine's line of the bench table.
struct EngineFigures {
    name: String,
    /// Best-of-3 wall seconds with 1 and 2 threads.
    fit: [f64; 2],
    /// CPU seconds (user + system, all threads) of those best runs.
    fit_cpu: [f64; 2],
    rows_per_s: f64,
    /// Per grid setting: (AUC mean, AUC sd, log loss mean, rounds mean).
    cv: Vec<(f64, f64, f64, f64)>,
    /// Setting chosen by CV, then hold-out (AUC, log loss, rounds).
    holdout: (usize, f64, f64, f64),
}

/// `aicall bench leads`: the booster against LightGBM on the same rows. CV: stratified K
/// folds of the file minus the hold-out, early stopping on a stratified 15 % of each fold's
/// training rows; the grid is `leads train`'s; each engine's best CV setting is then fitted on
/// the hold-out's training rows (early stopping on their 15 %) and scored once on the
/// hold-out, which no choice ever saw. Timings: best of 3 fits of all rows at the first grid
/// setting, fixed rounds, 1 and 2 threads.
fn bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    use aicall::profile::model::{cv_splits, default_grid, fit_and_score, holdout_split};
    let file = a.file;
    if !(0.05..0.5).contains(&a.holdout) {
        bail!("--holdout must be in [0.05, 0.5)");
    }
    if a.folds < 2 {
        bail!("--folds must be at least 2");
    }
    let mut table = load(&file, &[&a.target])?;
    labelled_only(&file, &mut table, &a.target);
    let y = parse_labels(&table, &a.target, &[])?;
    let enc = Encoder::fit(&table, Some(&a.target), &a.exclude)?;
    let (data, _) = enc.transform(&table)?;
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "bench leads: {} rows × {} features from {} (load average {})",
        data.n_rows,
        data.n_features(),
        file.display(),
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Hold-out first; the CV folds cover the remaining rows only.
    let holdout = holdout_split(&y, a.holdout, a.seed, 0);
    let rest: Vec<usize> = {
        let mut r = holdout.fit.clone();
        r.extend(&holdout.val);
        r.sort_unstable();
        r
    };
    let y_rest: Vec<f64> = rest.iter().map(|&r| y[r]).collect();
    let cv: Vec<aicall::profile::model::SplitRows> = cv_splits(&y_rest, a.folds, a.seed)
        .into_iter()
        .map(|s| aicall::profile::model::SplitRows {
            fit: s.fit.iter().map(|&i| rest[i]).collect(),
            val: s.val.iter().map(|&i| rest[i]).collect(),
            test: s.test.iter().map(|&i| rest[i]).collect(),
        })
        .collect();
    println!(
        "hold-out: {} rows (stratified {:.0} %, seed {}); CV: {} folds over the other {} rows",
        holdout.test.len(),
        a.holdout * 100.0,
        a.seed,
        a.folds,
        rest.len()
    );
    let grid = default_grid(a.seed);
    let timing = GbmParams {
        num_rounds: a.rounds,
        early_stopping_rounds: 0,
        ..grid[0].clone()
    };

    // aicall.
    let mut fit = [0.0; 2];
    let mut fit_cpu = [0.0; 2];
    let mut model = None;
    for (i, threads) in [1usize, 2].into_iter().enumerate() {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let (c0, t0) = (cpu_seconds(), Instant::now());
            let (m, _) = with_threads(threads, || Gbm::fit(&data, &y, None, &timing))??;
            let wall = t0.elapsed().as_secs_f64();
            if wall < best {
                best = wall;
                fit_cpu[i] = cpu_seconds() - c0;
            }
            model = Some(m);
        }
        fit[i] = best;
    }
    let model = model.context("no fit ran")?;
    // Batch scoring of every row with 2 threads, best of 3.
    let mut rows_per_s = 0.0f64;
    for _ in 0..3 {
        let t0 = Instant::now();
        let probs = with_threads(2, || model.predict_proba(&data))?;
        rows_per_s = rows_per_s.max(probs.len() as f64 / t0.elapsed().as_secs_f64());
    }
    let mut ours_cv = Vec::new();
    for (i, g) in grid.iter().enumerate() {
        let row = with_threads(2, || {
            aicall::profile::model::cross_validate_on(&data, &y, g, &cv)
        })??;
        eprintln!(
            "  aicall cv {}/{}: auc={:.4}±{:.4}",
            i + 1,
            grid.len(),
            row.auc_mean,
            row.auc_std
        );
        ours_cv.push((row.auc_mean, row.auc_std, row.logloss_mean, row.rounds_mean));
    }
    let best = (0..grid.len())
        .max_by(|&i, &j| ours_cv[i].0.total_cmp(&ours_cv[j].0))
        .context("empty grid")?;
    let (h_auc, h_loss, h_rounds, _) =
        with_threads(2, || fit_and_score(&data, &y, &grid[best], &holdout))??;
    let mut engines = vec![EngineFigures {
        name: "aicall".into(),
        fit,
        fit_cpu,
        rows_per_s,
        cv: ours_cv,
        holdout: (best, h_auc, h_loss, h_rounds as f64),
    }];

    // LightGBM on the same rows and settings.
    let python = a.python.unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.setup/leads-venv/bin/python"
        ))
    });
    let spec = serde_json::json!({
        "file": file,
        "target": a.target,
        "exclude": a.exclude,
        "rounds": a.rounds,
        "grid": grid,
        "cv": cv,
        "holdout": holdout,
    });
    let spec_path =
        std::env::temp_dir().join(format!("aicall-leads-bench-{}.json", std::process::id()));
    std::fs::write(&spec_path, spec.to_string())
        .with_context(|| format!("writing {}", spec_path.display()))?;
    eprintln!("  lightgbm: same folds and grid ...");
    let out = std::process::Command::new(&python)
        .arg("-W")
        .arg("ignore")
        .arg("-c")
        .arg(LIGHTGBM_SCRIPT)
        .arg(&spec_path)
        .output();
    let _ = std::fs::remove_file(&spec_path);
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value =
                serde_json::from_slice(&o.stdout).context("LightGBM script printed no JSON")?;
            let num =
                |x: Option<&serde_json::Value>| x.and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
            let cv = v
                .get("cv")
                .and_then(|c| c.as_array())
                .map(|rows| {
                    rows.iter()
                        .map(|r| {
                            (
                                num(r.get("auc_mean")),
                                num(r.get("auc_std")),
                                num(r.get("logloss_mean")),
                                num(r.get("rounds_mean")),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let h = v.get("holdout");
            engines.push(EngineFigures {
                name: format!(
                    "lightgbm {}",
                    v.get("version").and_then(|x| x.as_str()).unwrap_or("?")
                ),
                fit: [num(v.get("fit_1t")), num(v.get("fit_2t"))],
                fit_cpu: [num(v.get("cpu_1t")), num(v.get("cpu_2t"))],
                rows_per_s: num(v.get("rows_per_s")),
                cv,
                holdout: (
                    num(h.and_then(|h| h.get("setting"))) as usize,
                    num(h.and_then(|h| h.get("auc"))),
                    num(h.and_then(|h| h.get("logloss"))),
                    num(h.and_then(|h| h.get("rounds"))),
                ),
            });
        }
        Ok(o) => println!(
            "lightgbm: skipped — {} failed (scripts/leads-lightgbm-venv.sh installs it): {}",
            python.display(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => println!(
            "lightgbm: skipped — cannot run {} ({e}); run scripts/leads-lightgbm-venv.sh \
             or set AICALL_LIGHTGBM_PYTHON",
            python.display()
        ),
    }

    println!(
        "\ncross-validation AUC ± sd / log loss / rounds ({} folds, same rows):",
        a.folds
    );
    for (i, g) in grid.iter().enumerate() {
        println!("  setting {i}: {}", describe_params(g));
        for e in &engines {
            if let Some(c) = e.cv.get(i) {
                println!(
                    "    {:<16} auc={:.4}±{:.4} logloss={:.4} rounds={:.0}",
                    e.name, c.0, c.1, c.2, c.3
                );
            }
        }
    }
    println!(
        "\n{:<16} {:>15} {:>15} {:>12} {:>15} {:>8} {:>8} {:>8}",
        "engine",
        "fit 1t s (cpu)",
        "fit 2t s (cpu)",
        "score rows/s",
        "cv auc",
        "cv loss",
        "hold auc",
        "hold ll"
    );
    let nan4 = (f64::NAN, f64::NAN, f64::NAN, 0.0);
    for e in &engines {
        let c = e.cv.get(e.holdout.0).copied().unwrap_or(nan4);
        println!(
            "{:<16} {:>7.3} ({:>5.2}) {:>7.3} ({:>5.2}) {:>12.0} {:>8.4}±{:.4} {:>8.4} {:>8.4} \
             {:>8.4}",
            e.name,
            e.fit[0],
            e.fit_cpu[0],
            e.fit[1],
            e.fit_cpu[1],
            e.rows_per_s,
            c.0,
            c.1,
            c.2,
            e.holdout.1,
            e.holdout.2
        );
    }
    let load_now = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "timing: {} rounds at setting 0 on all {} rows, best of 3 (wall moves with the load, \
         now {}; cpu = user+system seconds of all threads); hold-out: each engine's best CV \
         setting (aicall {}, lightgbm {})",
        a.rounds,
        data.n_rows,
        load_now
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        engines[0].holdout.0,
        engines
            .get(1)
            .map_or("-".to_string(), |e| e.holdout.0.to_string())
    );
    let ours = &engines[0];
    let ours_cv = ours.cv[ours.holdout.0];
    let mut last = format!(
        "fit_1t_s={:.3} fit_2t_s={:.3} fit_1t_cpu_s={:.2} score_rows_per_s={:.0} cv_auc={:.4} \
         cv_auc_sd={:.4} holdout_auc={:.4} holdout_logloss={:.4}",
        ours.fit[0],
        ours.fit[1],
        ours.fit_cpu[0],
        ours.rows_per_s,
        ours_cv.0,
        ours_cv.1,
        ours.holdout.1,
        ours.holdout.2
    );
    if let Some(l) = engines.get(1) {
        let lcv = l.cv.get(l.holdout.0).copied().unwrap_or(nan4);
        last.push_str(&format!(
            " lgbm_fit_1t_s={:.3} lgbm_fit_2t_s={:.3} lgbm_fit_1t_cpu_s={:.2} lgbm_cv_auc={:.4} \
             lgbm_holdout_auc={:.4}",
            l.fit[0], l.fit[1], l.fit_cpu[0], lcv.0, l.holdout.1
        ));
    }
    println!("{last}");
    Ok(ExitCode::SUCCESS)
}
