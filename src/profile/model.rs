//! The lead model the dialer calls: training (selection, CV grid, final fit, segments, hour
//! priors), the scoring API [`LeadModel::score`], and the versioned on-disk format (a
//! directory with `manifest.json` and `model.json`). Depends on every other part of the
//! profile module.
//!
//! Model choice: stratified K-fold CV over a small grid; in each fold the booster stops early
//! on a stratified 15 % validation split of that fold's training rows, and is scored on the
//! fold's test rows, which it never saw. The grid is run on the features the selection report
//! proposes and, for the best setting, on all features; the better CV AUC decides which set is
//! used, and the manifest records it. The final model is fitted on all rows with the mean
//! early-stopped round count of the winning setting, scaled by 1.1 for the larger sample.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::besttime::{self, best_hours, ContactHours, HourPrior, HourScore};
use super::csv::Table;
use super::cv::{stratified_holdout, stratified_kfold};
use super::encode::{parse_labels, Dataset, Encoder, Unseen};
use super::gbm::{Gbm, GbmParams};
use super::kmeans::{self, KChoice, KMeans};
use super::metrics::{auc, logloss, sigmoid};
use super::select::{select, SelectionReport};
use super::{shap, ProfileError, Result};

/// Name written in every manifest.
pub const FORMAT_NAME: &str = "aicall-leads";
/// Bumped whenever `model.json` changes shape or meaning.
pub const FORMAT_VERSION: u32 = 1;

/// What `train` needs besides the data.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub target: String,
    /// Target values that mean "converted" (empty: the built-in yes/no vocabulary).
    pub positive: Vec<String>,
    pub exclude: Vec<String>,
    pub folds: usize,
    pub seed: u64,
    pub grid: Vec<GbmParams>,
    /// Columns to cluster on (default: the model's features).
    pub segment_features: Option<Vec<String>>,
    pub segment_ks: Vec<usize>,
    /// Row cap of the selection report's linear fits.
    pub selection_rows: usize,
}

impl TrainOptions {
    pub fn new(target: &str) -> TrainOptions {
        TrainOptions {
            target: target.to_string(),
            positive: Vec::new(),
            exclude: Vec::new(),
            folds: 5,
            seed: 2024,
            grid: default_grid(2024),
            segment_features: None,
            segment_ks: vec![2, 3, 4, 5, 6],
            selection_rows: super::select::DEFAULT_MAX_ROWS,
        }
    }
}

/// The small grid searched by default: tree size and regularisation; the learning rate is
/// fixed and early stopping picks the number of rounds.
pub fn default_grid(seed: u64) -> Vec<GbmParams> {
    let base = GbmParams {
        learning_rate: 0.05,
        num_rounds: 1500,
        early_stopping_rounds: 60,
        feature_fraction: 0.8,
        seed,
        ..GbmParams::default()
    };
    vec![
        GbmParams {
            num_leaves: 7,
            min_data_in_leaf: 50,
            ..base.clone()
        },
        GbmParams {
            num_leaves: 15,
            min_data_in_leaf: 50,
            ..base.clone()
        },
        GbmParams {
            num_leaves: 31,
            min_data_in_leaf: 100,
            ..base.clone()
        },
        GbmParams {
            num_leaves: 15,
            min_data_in_leaf: 100,
            lambda_l2: 5.0,
            bagging_fraction: 0.8,
            feature_fraction: 0.6,
            ..base
        },
    ]
}

/// One line of the CV table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvRow {
    pub setting: String,
    pub features: String,
    pub auc_mean: f64,
    pub auc_std: f64,
    pub logloss_mean: f64,
    pub rounds_mean: f64,
    #[serde(skip)]
    pub params: Option<GbmParams>,
}

/// Short description of a grid point.
pub fn describe_params(p: &GbmParams) -> String {
    format!(
        "lr={} leaves={} min_leaf={} l2={} bag={} ff={}",
        p.learning_rate,
        p.num_leaves,
        p.min_data_in_leaf,
        p.lambda_l2,
        p.bagging_fraction,
        p.feature_fraction
    )
}

/// The rows of one CV fold (or of a hold-out): `fit` trains, `val` decides early stopping,
/// `test` is scored and was seen by neither.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitRows {
    pub fit: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// Fit / validation / test rows of a stratified hold-out of `fraction`: the validation rows
/// are a stratified 15 % of the remaining rows (seed + `inner_seed_offset`).
pub fn holdout_split(y: &[f64], fraction: f64, seed: u64, inner_seed_offset: u64) -> SplitRows {
    let outer = stratified_holdout(y, fraction, seed);
    inner_split(
        y,
        &outer.train,
        outer.test,
        seed.wrapping_add(inner_seed_offset),
    )
}

fn inner_split(y: &[f64], train: &[usize], test: Vec<usize>, seed: u64) -> SplitRows {
    let y_train: Vec<f64> = train.iter().map(|&r| y[r]).collect();
    let inner = stratified_holdout(&y_train, 0.15, seed);
    SplitRows {
        fit: inner.train.iter().map(|&j| train[j]).collect(),
        val: inner.test.iter().map(|&j| train[j]).collect(),
        test,
    }
}

/// The splits [`cross_validate`] uses: stratified K folds (seed), and in each fold a
/// stratified 15 % of its training rows for early stopping (seed + fold index).
pub fn cv_splits(y: &[f64], folds: usize, seed: u64) -> Vec<SplitRows> {
    stratified_kfold(y, folds, seed)
        .into_iter()
        .enumerate()
        .map(|(i, fold)| inner_split(y, &fold.train, fold.test, seed.wrapping_add(i as u64)))
        .collect()
}

/// Fits on `split.fit` (early stopping on `split.val`) and scores `split.test`: (AUC, log
/// loss, rounds kept, test probabilities).
pub fn fit_and_score(
    data: &Dataset,
    y: &[f64],
    params: &GbmParams,
    split: &SplitRows,
) -> Result<(f64, f64, usize, Vec<f64>)> {
    let pick = |rows: &[usize]| -> Vec<f64> { rows.iter().map(|&r| y[r]).collect() };
    let (y_fit, y_val, y_test) = (pick(&split.fit), pick(&split.val), pick(&split.test));
    let (model, log) = Gbm::fit(
        &data.subset(&split.fit),
        &y_fit,
        Some((&data.subset(&split.val), &y_val)),
        params,
    )?;
    let probs = model.predict_proba(&data.subset(&split.test));
    Ok((
        auc(&y_test, &probs),
        logloss(&y_test, &probs),
        log.best_rounds,
        probs,
    ))
}

/// Stratified K-fold CV of one setting (early stopping inside each fold's training rows).
pub fn cross_validate(
    data: &Dataset,
    y: &[f64],
    params: &GbmParams,
    folds: usize,
    seed: u64,
) -> Result<CvRow> {
    cross_validate_on(data, y, params, &cv_splits(y, folds, seed))
}

/// CV of one setting over given splits.
pub fn cross_validate_on(
    data: &Dataset,
    y: &[f64],
    params: &GbmParams,
    splits: &[SplitRows],
) -> Result<CvRow> {
    let mut aucs = Vec::new();
    let mut losses = Vec::new();
    let mut rounds = Vec::new();
    for split in splits {
        let (a, l, r, _) = fit_and_score(data, y, params, split)?;
        aucs.push(a);
        losses.push(l);
        rounds.push(r as f64);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let m = mean(&aucs);
    let sd = (aucs.iter().map(|a| (a - m).powi(2)).sum::<f64>() / aucs.len().max(1) as f64).sqrt();
    Ok(CvRow {
        setting: describe_params(params),
        features: String::new(),
        auc_mean: m,
        auc_std: sd,
        logloss_mean: mean(&losses),
        rounds_mean: mean(&rounds),
        params: Some(params.clone()),
    })
}

/// The manifest: what a person or a loader checks before using the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub aicall_version: String,
    pub created_unix: u64,
    pub target: String,
    /// The target values trained as "converted" (empty: the yes/no vocabulary); `eval` reads
    /// labels the same way. Absent from models written before it existed.
    #[serde(default)]
    pub positive: Vec<String>,
    pub excluded: Vec<String>,
    pub features: Vec<String>,
    pub rows: usize,
    pub positives: usize,
    pub selection_applied: bool,
    pub params: GbmParams,
    pub trees: usize,
    pub cv: Vec<CvRow>,
    pub segments: usize,
}

/// A segment with its words, size and hour prior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub id: usize,
    pub description: String,
    pub size: usize,
    pub conversion_rate: f64,
    pub prior: HourPrior,
}

/// Why a lead scores as it does: one feature's exact share of the log odds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub feature: String,
    pub value: String,
    pub contribution: f64,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.value.is_empty() {
            "missing"
        } else {
            &self.value
        };
        write!(f, "{}={} ({:+.2})", self.feature, shown, self.contribution)
    }
}

/// What the dialer gets for one contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadScore {
    pub probability: f64,
    pub segment: usize,
    pub segment_description: String,
    pub best_hours: Vec<HourScore>,
    pub top_reasons: Vec<Reason>,
    /// Fields whose value the model never saw (scored as missing).
    pub unseen: Vec<String>,
}

/// The trained model (everything in `model.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadModel {
    #[serde(skip)]
    pub manifest: Option<Manifest>,
    pub encoder: Encoder,
    /// Encoder feature indices the booster uses, in booster column order.
    pub used: Vec<usize>,
    pub gbm: Gbm,
    pub bias: f64,
    pub importance: Vec<(String, f64)>,
    pub selection: SelectionReport,
    pub segment_features: Vec<usize>,
    pub kmeans: KMeans,
    pub k_table: Vec<KChoice>,
    pub segments: Vec<Segment>,
    pub allowed_hours: Vec<usize>,
}

impl LeadModel {
    /// Trains on a table; `progress` receives one line per step.
    pub fn train(
        table: &Table,
        opts: &TrainOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<LeadModel> {
        if opts.folds < 2 {
            return Err(ProfileError::BadParameter(format!(
                "folds must be at least 2 (got {}): cross-validation needs a held-out fold",
                opts.folds
            )));
        }
        let y = parse_labels(table, &opts.target, &opts.positive)?;
        let positives = y.iter().filter(|&&v| v > 0.5).count();
        if positives < opts.folds || y.len() - positives < opts.folds {
            return Err(ProfileError::TooFewRows {
                detail: format!(
                    "{positives} positive and {} negative rows cannot fill {} folds",
                    y.len() - positives,
                    opts.folds
                ),
            });
        }
        let encoder = Encoder::fit(table, Some(&opts.target), &opts.exclude)?;
        for d in &encoder.dropped {
            progress(&format!("dropped column {}: {}", d.name, d.reason));
        }
        let (data, _) = encoder.transform(table)?;
        progress(&format!(
            "{} rows, {} positive ({:.1} %), {} features",
            y.len(),
            positives,
            100.0 * positives as f64 / y.len() as f64,
            data.n_features()
        ));
        progress("feature selection: chi2, RFE, Lasso ...");
        let selection = select(&encoder, &data, &y, opts.selection_rows);
        let proposed = selection.proposed.clone();
        let sel_data = data.select(&proposed);
        let mut cv = Vec::new();
        for (i, params) in opts.grid.iter().enumerate() {
            let mut row = cross_validate(&sel_data, &y, params, opts.folds, opts.seed)?;
            row.features = format!("selected ({})", proposed.len());
            progress(&format!(
                "cv {}/{}: {}  auc={:.4}±{:.4} logloss={:.4} rounds={:.0}",
                i + 1,
                opts.grid.len(),
                row.setting,
                row.auc_mean,
                row.auc_std,
                row.logloss_mean,
                row.rounds_mean
            ));
            cv.push(row);
        }
        let best = cv
            .iter()
            .cloned()
            .fold(None, |b: Option<CvRow>, r| match b {
                Some(b) if b.auc_mean >= r.auc_mean => Some(b),
                _ => Some(r),
            })
            .ok_or_else(|| ProfileError::BadParameter("the CV grid is empty".into()))?;
        // Invariant: every row built by `cross_validate` carries its parameters.
        let mut best_params = best.params.clone().unwrap_or_default();
        let mut used = proposed.clone();
        let mut rounds = best.rounds_mean;
        let mut selection_applied = true;
        if proposed.len() < data.n_features() {
            let mut row = cross_validate(&data, &y, &best_params, opts.folds, opts.seed)?;
            row.features = format!("all ({})", data.n_features());
            progress(&format!(
                "cv all features: {}  auc={:.4}±{:.4} logloss={:.4}",
                row.setting, row.auc_mean, row.auc_std, row.logloss_mean
            ));
            if row.auc_mean > best.auc_mean {
                used = (0..data.n_features()).collect();
                rounds = row.rounds_mean;
                selection_applied = false;
            }
            cv.push(row);
        }
        best_params.num_rounds = ((rounds * 1.1).round() as usize).max(1);
        best_params.early_stopping_rounds = 0;
        progress(&format!(
            "final fit on all rows: {} rounds, {}",
            best_params.num_rounds,
            describe_params(&best_params)
        ));
        let final_data = data.select(&used);
        let (gbm, _) = Gbm::fit(&final_data, &y, None, &best_params)?;
        let importance = final_data
            .names
            .iter()
            .cloned()
            .zip(gbm.gain_importance())
            .collect();

        // Segments.
        let segment_features: Vec<usize> = match &opts.segment_features {
            Some(names) => names
                .iter()
                .map(|n| {
                    encoder
                        .features
                        .iter()
                        .position(|f| &f.name == n)
                        .ok_or_else(|| ProfileError::MissingColumn { name: n.clone() })
                })
                .collect::<Result<_>>()?,
            None => used.clone(),
        };
        progress("segments: k-means, k by silhouette ...");
        let design = encoder.design(&data, &segment_features);
        let (kmeans, k_table) = kmeans::choose_k(&design, &opts.segment_ks, opts.seed);
        let dim = design.first().map_or(0, Vec::len);
        let mut overall = vec![0.0; dim];
        for r in &design {
            for (o, v) in overall.iter_mut().zip(r) {
                *o += v / design.len() as f64;
            }
        }
        let labels: Vec<usize> = design.iter().map(|r| kmeans.assign(r)).collect();
        let allowed_hours = besttime::business_hours();
        let global_rate = positives as f64 / y.len() as f64;
        let global = HourPrior::flat(global_rate, 4.0);
        // The bank file knows the weekday of each call but not the hour.
        let weekday_col = table.column("day_of_week");
        let mut segments = Vec::new();
        for (id, centroid) in kmeans.centroids.iter().enumerate() {
            let members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == id).collect();
            let conv = members.iter().map(|&i| y[i]).sum::<f64>() / members.len().max(1) as f64;
            let (mut tries, mut wins) = ([0.0; 7], [0.0; 7]);
            if let Some(c) = weekday_col {
                for &i in &members {
                    if let Some(d) = besttime::weekday_index(&table.rows[i][c]) {
                        tries[d] += 1.0;
                        wins[d] += y[i];
                    }
                }
            }
            segments.push(Segment {
                id,
                description: kmeans::describe(&encoder, &segment_features, centroid, &overall),
                size: members.len(),
                conversion_rate: conv,
                prior: HourPrior::fit_by_day(&tries, &wins, &allowed_hours, &global),
            });
        }
        let bias = shap::bias(&gbm);
        let manifest = Manifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            aicall_version: env!("CARGO_PKG_VERSION").into(),
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            target: opts.target.clone(),
            positive: opts.positive.clone(),
            excluded: opts.exclude.clone(),
            features: final_data.names.clone(),
            rows: y.len(),
            positives,
            selection_applied,
            params: best_params,
            trees: gbm.trees.len(),
            cv,
            segments: segments.len(),
        };
        Ok(LeadModel {
            manifest: Some(manifest),
            encoder,
            used,
            gbm,
            bias,
            importance,
            selection,
            segment_features,
            kmeans,
            k_table,
            segments,
            allowed_hours,
        })
    }

    /// Probabilities for every row of a table (which must have the model's columns).
    pub fn predict_table(&self, table: &Table) -> Result<(Vec<f64>, Unseen)> {
        let (data, unseen) = self.encoder.transform(table)?;
        Ok((self.gbm.predict_proba(&data.select(&self.used)), unseen))
    }

    /// Scores one contact (see [`LeadModel::score_with_history`]).
    pub fn score(&self, fields: &HashMap<String, String>) -> LeadScore {
        self.score_with_history(fields, None)
    }

    /// Scores one contact given as field name → cell text, with its attempt history when the
    /// caller has one. Absent fields and unseen categories count as missing and are listed in
    /// `unseen`; scoring itself cannot fail.
    pub fn score_with_history(
        &self,
        fields: &HashMap<String, String>,
        history: Option<&ContactHours>,
    ) -> LeadScore {
        let (values, unseen) = self.encoder.encode_record(fields);
        let row: Vec<f64> = self.used.iter().map(|&f| values[f]).collect();
        let raw = self.gbm.predict_raw_row(&row);
        let phi = shap::contributions(&self.gbm, &row);
        let mut reasons: Vec<Reason> = phi
            .iter()
            .enumerate()
            .map(|(j, &c)| Reason {
                feature: self.encoder.features[self.used[j]].name.clone(),
                value: self.encoder.decode_value(self.used[j], row[j]),
                contribution: c,
            })
            .collect();
        reasons.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        reasons.truncate(3);
        let mut design = Vec::new();
        self.encoder
            .design_row(&self.segment_features, &values, &mut design);
        let segment = self.kmeans.assign(&design);
        let (description, hours) = match self.segments.get(segment) {
            Some(s) => (
                s.description.clone(),
                best_hours(&s.prior, history, &self.allowed_hours, 3),
            ),
            None => (String::new(), Vec::new()),
        };
        LeadScore {
            probability: sigmoid(raw),
            segment,
            segment_description: description,
            best_hours: hours,
            top_reasons: reasons,
            unseen: unseen.by_column.into_iter().map(|u| u.0).collect(),
        }
    }

    /// Whether the best hour of the day is known for a contact of `segment` (see
    /// [`besttime::hour_identified`]): false on a model fitted from weekday-only outcomes
    /// until live attempts with an hour come in.
    pub fn hour_identified(&self, segment: usize, history: Option<&ContactHours>) -> bool {
        self.segments
            .get(segment)
            .is_some_and(|s| besttime::hour_identified(&s.prior, history))
    }

    /// Feeds one call outcome into the contact's segment prior (the contact's own counts live
    /// with the caller in a [`ContactHours`]).
    pub fn record_attempt(&mut self, segment: usize, attempt: besttime::Attempt) {
        if let Some(s) = self.segments.get_mut(segment) {
            s.prior.update(attempt);
        }
    }

    /// Writes `manifest.json` and `model.json` into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let err = |m: String| ProfileError::Save {
            path: dir.display().to_string(),
            message: m,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let manifest = self
            .manifest
            .as_ref()
            .ok_or_else(|| err("the model has no manifest".into()))?;
        let m = serde_json::to_string_pretty(manifest).map_err(|e| err(e.to_string()))?;
        let body = serde_json::to_string(self).map_err(|e| err(e.to_string()))?;
        std::fs::write(dir.join("model.json"), body).map_err(|e| err(e.to_string()))?;
        std::fs::write(dir.join("manifest.json"), m).map_err(|e| err(e.to_string()))?;
        Ok(())
    }

    /// Loads a model directory, refusing other formats and versions with a clear error.
    pub fn load(dir: &Path) -> Result<LeadModel> {
        let path = dir.display().to_string();
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|source| ProfileError::Io {
                path: dir.join(name).display().to_string(),
                source,
            })
        };
        let bad = |message: String| ProfileError::BadModel {
            path: path.clone(),
            message,
        };
        let manifest_text = read("manifest.json")?;
        let raw: serde_json::Value =
            serde_json::from_str(&manifest_text).map_err(|e| bad(format!("manifest: {e}")))?;
        if raw.get("format").and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
            return Err(bad(format!("manifest format is not `{FORMAT_NAME}`")));
        }
        let version = raw.get("format_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(ProfileError::VersionMismatch {
                path,
                found: version.map_or("unknown".into(), |v| v.to_string()),
                expected: FORMAT_VERSION.to_string(),
            });
        }
        let manifest: Manifest =
            serde_json::from_value(raw).map_err(|e| bad(format!("manifest: {e}")))?;
        let mut model: LeadModel = serde_json::from_str(&read("model.json")?)
            .map_err(|e| bad(format!("model.json: {e}")))?;
        model.gbm.validate().map_err(&bad)?;
        let n_enc = model.encoder.features.len();
        if model.used.len() != model.gbm.n_features
            || model
                .used
                .iter()
                .chain(&model.segment_features)
                .any(|&f| f >= n_enc)
            || model.segments.iter().any(|s| !s.prior.is_valid())
        {
            return Err(bad("feature indices or priors are inconsistent".into()));
        }
        model.manifest = Some(manifest);
        Ok(model)
    }
}
