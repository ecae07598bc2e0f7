//! Histogram gradient-boosted decision trees for binary log loss (LightGBM-style). Owns the
//! training algorithm, the tree format stored in models, prediction and gain importance.
//! Depends on [`super::encode::Dataset`] and rayon.
//!
//! Training: each feature is cut into at most `max_bins` quantile bins plus bin 0 for missing
//! values (categorical codes get one bin each). Trees grow leaf-wise: the leaf whose best split
//! gains most is split next, until `num_leaves` or `max_depth` is reached. A leaf's histogram
//! of gradient and hessian sums is built for the smaller child only; the larger child's is the
//! parent's minus it. Numeric splits try sending missing values left and right; categorical
//! splits sort the categories of a leaf by gradient/hessian ratio and take the best prefix
//! (LightGBM's many-vs-many split), or one-vs-rest when a feature has few categories.
//! Histograms are built in parallel over features and each feature's sums are accumulated in a
//! fixed row order, so a model is bit-identical for any thread count given the same seed.
//!
//! Trees keep raw thresholds and category sets, so prediction needs no bins, and every node
//! keeps its cover (training rows that reached it) for TreeSHAP.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::encode::Dataset;
use super::metrics::{logloss, sigmoid};
use super::{ProfileError, Result};
use rand::{Rng, SeedableRng};

/// Hyper-parameters (names and meaning follow LightGBM where they overlap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbmParams {
    pub learning_rate: f64,
    pub num_leaves: usize,
    /// 0 = unlimited.
    pub max_depth: usize,
    pub min_data_in_leaf: usize,
    pub min_sum_hessian: f64,
    pub lambda_l2: f64,
    pub min_gain: f64,
    pub max_bins: usize,
    pub num_rounds: usize,
    /// Stop when the validation loss has not improved for this many rounds (0 = never).
    pub early_stopping_rounds: usize,
    pub bagging_fraction: f64,
    pub feature_fraction: f64,
    pub cat_smooth: f64,
    pub cat_l2: f64,
    pub min_data_per_group: usize,
    pub max_cat_threshold: usize,
    pub max_cat_to_onehot: usize,
    pub seed: u64,
}

impl Default for GbmParams {
    fn default() -> Self {
        GbmParams {
            learning_rate: 0.05,
            num_leaves: 31,
            max_depth: 0,
            min_data_in_leaf: 20,
            min_sum_hessian: 1e-3,
            lambda_l2: 0.0,
            min_gain: 0.0,
            max_bins: 255,
            num_rounds: 500,
            early_stopping_rounds: 50,
            bagging_fraction: 1.0,
            feature_fraction: 1.0,
            cat_smooth: 10.0,
            cat_l2: 10.0,
            min_data_per_group: 50,
            max_cat_threshold: 32,
            max_cat_to_onehot: 4,
            seed: 42,
        }
    }
}

impl GbmParams {
    fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(ProfileError::BadParameter(m.to_string()));
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("learning_rate must be in (0, 1]");
        }
        if self.num_leaves < 2 {
            return bad("num_leaves must be at least 2");
        }
        if !(2..=65_000).contains(&self.max_bins) {
            return bad("max_bins must be in 2..=65000");
        }
        if !(self.bagging_fraction > 0.0 && self.bagging_fraction <= 1.0) {
            return bad("bagging_fraction must be in (0, 1]");
        }
        if !(self.feature_fraction > 0.0 && self.feature_fraction <= 1.0) {
            return bad("feature_fraction must be in (0, 1]");
        }
        if self.num_rounds == 0 {
            return bad("num_rounds must be positive");
        }
        Ok(())
    }
}

/// How a split routes a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Rule {
    /// `value <= threshold` goes left; `bin` is the same cut in training bins.
    Le {
        threshold: f64,
        bin: u16,
        missing_left: bool,
    },
    /// Category codes in `codes` (sorted) go left; others, unseen and missing go right.
    In { codes: Vec<u32> },
}

impl Rule {
    /// Whether a raw feature value goes left.
    pub fn goes_left(&self, value: f64) -> bool {
        match self {
            Rule::Le {
                threshold,
                missing_left,
                ..
            } => {
                if value.is_nan() {
                    *missing_left
                } else {
                    value <= *threshold
                }
            }
            Rule::In { codes } => {
                !value.is_nan()
                    && value >= 0.0
                    && value <= u32::MAX as f64
                    && codes.binary_search(&(value as u32)).is_ok()
            }
        }
    }

    fn bin_goes_left(&self, bin: u16) -> bool {
        match self {
            Rule::Le {
                bin: cut,
                missing_left,
                ..
            } => {
                if bin == 0 {
                    *missing_left
                } else {
                    bin <= *cut
                }
            }
            Rule::In { codes } => bin > 0 && codes.binary_search(&(bin as u32 - 1)).is_ok(),
        }
    }
}

/// A tree node; children are indices into [`Tree::nodes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    Leaf {
        value: f64,
        cover: f64,
    },
    Split {
        feature: usize,
        rule: Rule,
        left: usize,
        right: usize,
        gain: f64,
        cover: f64,
    },
}

impl Node {
    pub fn cover(&self) -> f64 {
        match self {
            Node::Leaf { cover, .. } | Node::Split { cover, .. } => *cover,
        }
    }
}

/// One regression tree; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Output for a row of raw feature values.
    pub fn predict(&self, row: &[f64]) -> f64 {
        let mut i = 0;
        // Bounded by the node count so that a corrupt model cannot loop forever.
        for _ in 0..=self.nodes.len() {
            match self.nodes.get(i) {
                Some(Node::Leaf { value, .. }) => return *value,
                Some(Node::Split {
                    feature,
                    rule,
                    left,
                    right,
                    ..
                }) => {
                    let v = row.get(*feature).copied().unwrap_or(f64::NAN);
                    i = if rule.goes_left(v) { *left } else { *right };
                }
                None => return 0.0,
            }
        }
        0.0
    }

    fn predict_binned(&self, row: &[u16]) -> f64 {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                Node::Leaf { value, .. } => return *value,
                Node::Split {
                    feature,
                    rule,
                    left,
                    right,
                    ..
                } => {
                    i = if rule.bin_goes_left(row[*feature]) {
                        *left
                    } else {
                        *right
                    };
                }
            }
        }
    }

    /// Checks child indices (loaded models): every child index after its parent, in range.
    pub fn validate(&self, n_features: usize) -> std::result::Result<(), String> {
        if self.nodes.is_empty() {
            return Err("empty tree".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Node::Split {
                feature,
                left,
                right,
                ..
            } = n
            {
                if *feature >= n_features {
                    return Err(format!("node {i} uses feature {feature} of {n_features}"));
                }
                if *left <= i
                    || *right <= i
                    || *left >= self.nodes.len()
                    || *right >= self.nodes.len()
                {
                    return Err(format!("node {i} has bad children"));
                }
            }
        }
        Ok(())
    }
}

/// A trained booster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbm {
    pub init_score: f64,
    pub trees: Vec<Tree>,
    pub n_features: usize,
    pub params: GbmParams,
}

/// What happened during a fit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FitLog {
    /// Validation log loss after each round (empty without validation data).
    pub valid_loss: Vec<f64>,
    /// Number of trees kept (best round + 1 with early stopping).
    pub best_rounds: usize,
}

#[derive(Debug, Clone)]
struct BinnedFeature {
    /// Column of bins while binning; moved into the row-major matrix before growing.
    bins: Vec<u16>,
    /// Number of bins including the missing bin 0.
    n_bins: usize,
    /// Numeric: upper bound of bins 1..n_bins (last is +inf). Empty for categorical.
    upper: Vec<f64>,
    categorical: bool,
    /// Where this feature's bins start in a [`Hist`].
    offset: usize,
}

fn bin_numeric(column: &[f64], max_bins: usize) -> BinnedFeature {
    let mut values: Vec<f64> = column.iter().copied().filter(|v| !v.is_nan()).collect();
    values.sort_by(f64::total_cmp);
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for v in values.iter().copied() {
        match distinct.last_mut() {
            Some(last) if last.0 == v => last.1 += 1,
            _ => distinct.push((v, 1)),
        }
    }
    let mut upper = Vec::new();
    if distinct.len() <= max_bins {
        for w in distinct.windows(2) {
            upper.push((w[0].0 + w[1].0) / 2.0);
        }
    } else {
        let per_bin = values.len() as f64 / max_bins as f64;
        let mut acc = 0usize;
        let mut next_cut = per_bin;
        for (i, w) in distinct.windows(2).enumerate() {
            acc += w[0].1;
            // A value heavier than a bin gets a bin of its own; otherwise cut at the quantile.
            let heavy_next = distinct[i + 1].1 as f64 >= per_bin;
            if (acc as f64 >= next_cut || heavy_next || w[0].1 as f64 >= per_bin)
                && upper.len() + 2 < max_bins
            {
                upper.push((w[0].0 + w[1].0) / 2.0);
                while next_cut <= acc as f64 {
                    next_cut += per_bin;
                }
            }
        }
    }
    upper.push(f64::INFINITY);
    let bins = column
        .iter()
        .map(|&v| {
            if v.is_nan() {
                0
            } else {
                (upper.partition_point(|&u| u < v) + 1) as u16
            }
        })
        .collect();
    BinnedFeature {
        bins,
        n_bins: upper.len() + 1,
        upper,
        categorical: false,
        offset: 0,
    }
}

fn bin_categorical(column: &[f64]) -> BinnedFeature {
    let max_code = column
        .iter()
        .filter(|v| !v.is_nan())
        .fold(0.0f64, |m, &v| m.max(v)) as usize;
    let cap = (u16::MAX - 1) as usize;
    let bins = column
        .iter()
        .map(|&v| {
            if v.is_nan() || v < 0.0 || v as usize >= cap {
                0
            } else {
                v as u16 + 1
            }
        })
        .collect();
    BinnedFeature {
        bins,
        n_bins: max_code.min(cap - 1) + 2,
        upper: Vec::new(),
        categorical: true,
        offset: 0,
    }
}

/// Gradient, hessian and row-count sums per bin, all features in one flat array each
/// (feature f's bins start at `BinnedFeature::offset`).
#[derive(Debug, Clone, Default)]
struct Hist {
    /// [gradient sum, hessian sum] per bin, side by side so an update touches one line.
    gh: Vec<[f64; 2]>,
    n: Vec<u32>,
}

impl Hist {
    fn zeroed(n: usize) -> Hist {
        Hist {
            gh: vec![[0.0; 2]; n],
            n: vec![0; n],
        }
    }

    fn add(&mut self, other: &Hist) {
        for b in 0..self.n.len() {
            self.gh[b][0] += other.gh[b][0];
            self.gh[b][1] += other.gh[b][1];
            self.n[b] += other.n[b];
        }
    }

    fn subtract(&mut self, other: &Hist) {
        for b in 0..self.n.len() {
            self.gh[b][0] -= other.gh[b][0];
            self.gh[b][1] -= other.gh[b][1];
            self.n[b] -= other.n[b];
        }
    }

    fn view(&self, bf: &BinnedFeature) -> HistView<'_> {
        let r = bf.offset..bf.offset + bf.n_bins;
        HistView {
            gh: &self.gh[r.clone()],
            n: &self.n[r],
        }
    }
}

/// One feature's part of a [`Hist`].
#[derive(Debug, Clone, Copy)]
struct HistView<'a> {
    gh: &'a [[f64; 2]],
    n: &'a [u32],
}

#[derive(Debug, Clone)]
struct Candidate {
    gain: f64,
    feature: usize,
    rule: Rule,
    /// Gradient and hessian sums of the rows the split sends left.
    left_g: f64,
    left_h: f64,
}

#[derive(Debug)]
struct LeafState {
    node: usize,
    start: usize,
    len: usize,
    depth: usize,
    g: f64,
    h: f64,
    hist: Hist,
    best: Option<Candidate>,
}

struct Grower<'a> {
    bins: &'a [BinnedFeature],
    /// `row_bins[r * n_features + f]`: the bins of row r, row by row.
    row_bins: &'a [u16],
    total_bins: usize,
    /// [gradient, hessian] of each row.
    gh: &'a [[f64; 2]],
    active: &'a [usize],
    p: &'a GbmParams,
}

/// Leaves smaller than this search their splits on one thread: rayon's overhead would dominate.
const PARALLEL_MIN_ROWS: usize = 4096;
/// Rows per parallel histogram chunk (fixed, for thread-independent sums).
const HIST_CHUNK: usize = 4096;

impl Grower<'_> {
    /// One pass over `rows` (row-major bins, so each row's bins share a cache line).
    fn fill_hist(&self, rows: &[u32]) -> Hist {
        let nf = self.bins.len();
        let mut hist = Hist::zeroed(self.total_bins);
        for &r in rows {
            let r = r as usize;
            let [g, h] = self.gh[r];
            let row = &self.row_bins[r * nf..(r + 1) * nf];
            for &f in self.active {
                let i = self.bins[f].offset + row[f] as usize;
                let bin = &mut hist.gh[i];
                bin[0] += g;
                bin[1] += h;
                hist.n[i] += 1;
            }
        }
        hist
    }

    /// Histograms of a leaf. Large leaves are cut into fixed chunks filled in parallel and
    /// summed in chunk order, so the sums do not depend on the number of threads.
    fn build_hist(&self, rows: &[u32]) -> Hist {
        if rows.len() < 2 * HIST_CHUNK {
            return self.fill_hist(rows);
        }
        let parts: Vec<Hist> = rows
            .par_chunks(HIST_CHUNK)
            .map(|c| self.fill_hist(c))
            .collect();
        let mut parts = parts.into_iter();
        let mut acc = parts
            .next()
            .unwrap_or_else(|| Hist::zeroed(self.total_bins));
        for part in parts {
            acc.add(&part);
        }
        acc
    }

    fn score(g: f64, h: f64, l2: f64) -> f64 {
        g * g / (h + l2)
    }

    fn best_numeric(
        &self,
        f: usize,
        hist: HistView<'_>,
        g: f64,
        h: f64,
        n: u32,
    ) -> Option<Candidate> {
        let p = self.p;
        let bf = &self.bins[f];
        let parent = Self::score(g, h, p.lambda_l2);
        let mut best: Option<Candidate> = None;
        let missing_options: &[bool] = if hist.n[0] > 0 {
            &[false, true]
        } else {
            &[false]
        };
        for &missing_left in missing_options {
            let (mut gl, mut hl, mut nl) = if missing_left {
                (hist.gh[0][0], hist.gh[0][1], hist.n[0])
            } else {
                (0.0, 0.0, 0)
            };
            for b in 1..bf.n_bins.saturating_sub(1) {
                gl += hist.gh[b][0];
                hl += hist.gh[b][1];
                nl += hist.n[b];
                if hist.n[b] == 0 {
                    continue;
                }
                let nr = n - nl;
                if (nl as usize) < p.min_data_in_leaf || hl < p.min_sum_hessian {
                    continue;
                }
                if (nr as usize) < p.min_data_in_leaf {
                    break;
                }
                let (gr, hr) = (g - gl, h - hl);
                if hr < p.min_sum_hessian {
                    break;
                }
                let gain =
                    Self::score(gl, hl, p.lambda_l2) + Self::score(gr, hr, p.lambda_l2) - parent;
                if gain > p.min_gain && best.as_ref().is_none_or(|c| gain > c.gain) {
                    // Without missing values in training, send future missing values to the
                    // bigger side.
                    let missing_left = if hist.n[0] > 0 {
                        missing_left
                    } else {
                        nl >= nr
                    };
                    best = Some(Candidate {
                        gain,
                        feature: f,
                        rule: Rule::Le {
                            threshold: bf.upper[b - 1],
                            bin: b as u16,
                            missing_left,
                        },
                        left_g: gl,
                        left_h: hl,
                    });
                }
            }
        }
        best
    }

    fn best_categorical(
        &self,
        f: usize,
        hist: HistView<'_>,
        g: f64,
        h: f64,
        n: u32,
    ) -> Option<Candidate> {
        let p = self.p;
        let present: Vec<usize> = (1..hist.n.len()).filter(|&b| hist.n[b] > 0).collect();
        let mut best: Option<Candidate> = None;
        let consider = |left: &[usize], l2: f64, best: &mut Option<Candidate>| {
            let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0u32);
            for &b in left {
                gl += hist.gh[b][0];
                hl += hist.gh[b][1];
                nl += hist.n[b];
            }
            let nr = n - nl;
            let (gr, hr) = (g - gl, h - hl);
            if (nl as usize) < p.min_data_in_leaf
                || (nr as usize) < p.min_data_in_leaf
                || hl < p.min_sum_hessian
                || hr < p.min_sum_hessian
            {
                return;
            }
            let gain = Self::score(gl, hl, l2) + Self::score(gr, hr, l2) - Self::score(g, h, l2);
            if gain > p.min_gain && best.as_ref().is_none_or(|c| gain > c.gain) {
                let mut codes: Vec<u32> = left.iter().map(|&b| b as u32 - 1).collect();
                codes.sort_unstable();
                *best = Some(Candidate {
                    gain,
                    feature: f,
                    rule: Rule::In { codes },
                    left_g: gl,
                    left_h: hl,
                });
            }
        };
        if present.len() <= p.max_cat_to_onehot {
            for &b in &present {
                consider(&[b], p.lambda_l2, &mut best);
            }
            return best;
        }
        let mut used: Vec<usize> = present
            .into_iter()
            .filter(|&b| hist.n[b] as usize >= p.min_data_per_group)
            .collect();
        used.sort_by(|&a, &b| {
            let ra = hist.gh[a][0] / (hist.gh[a][1] + p.cat_smooth);
            let rb = hist.gh[b][0] / (hist.gh[b][1] + p.cat_smooth);
            ra.total_cmp(&rb).then(a.cmp(&b))
        });
        let max_k = p.max_cat_threshold.min(used.len().div_ceil(2)).max(1);
        let l2 = p.lambda_l2 + p.cat_l2;
        for k in 1..=max_k.min(used.len()) {
            consider(&used[..k], l2, &mut best);
            consider(&used[used.len() - k..], l2, &mut best);
        }
        best
    }

    fn find_best(&self, leaf: &LeafState) -> Option<Candidate> {
        let p = self.p;
        if leaf.len < 2 * p.min_data_in_leaf.max(1)
            || (p.max_depth > 0 && leaf.depth >= p.max_depth)
        {
            return None;
        }
        let n = leaf.len as u32;
        let per_feature = |&f: &usize| -> Option<Candidate> {
            let hist = leaf.hist.view(&self.bins[f]);
            if self.bins[f].categorical {
                self.best_categorical(f, hist, leaf.g, leaf.h, n)
            } else {
                self.best_numeric(f, hist, leaf.g, leaf.h, n)
            }
        };
        let cands: Vec<Option<Candidate>> = if leaf.len >= PARALLEL_MIN_ROWS {
            self.active.par_iter().map(per_feature).collect()
        } else {
            self.active.iter().map(per_feature).collect()
        };
        // Ties go to the lower feature index, which keeps the result independent of threads.
        cands
            .into_iter()
            .flatten()
            .fold(None, |best: Option<Candidate>, c| match best {
                Some(b) if b.gain >= c.gain => Some(b),
                _ => Some(c),
            })
    }

    /// Grows one tree over `rows` (reordered so that each leaf's rows are contiguous) and
    /// returns it with each leaf's row range and value.
    fn grow(&self, rows: &mut [u32], scratch: &mut Vec<u32>) -> (Tree, Vec<(usize, usize, f64)>) {
        let p = self.p;
        let leaf_value = |g: f64, h: f64| -g / (h + p.lambda_l2) * p.learning_rate;
        let (g0, h0) = rows.iter().fold((0.0, 0.0), |(g, h), &r| {
            let [gr, hr] = self.gh[r as usize];
            (g + gr, h + hr)
        });
        let mut nodes = vec![Node::Leaf {
            value: leaf_value(g0, h0),
            cover: rows.len() as f64,
        }];
        let mut root = LeafState {
            node: 0,
            start: 0,
            len: rows.len(),
            depth: 0,
            g: g0,
            h: h0,
            hist: self.build_hist(rows),
            best: None,
        };
        root.best = self.find_best(&root);
        let mut leaves = vec![root];
        let mut n_leaves = 1;
        while n_leaves < p.num_leaves {
            let pick = leaves
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.best.as_ref().map(|c| (i, c.gain)))
                .fold(None, |best: Option<(usize, f64)>, (i, gain)| match best {
                    Some((_, bg)) if bg >= gain => best,
                    _ => Some((i, gain)),
                });
            let Some((li, _)) = pick else { break };
            let mut parent = leaves.swap_remove(li);
            let Some(cand) = parent.best.take() else {
                break;
            };
            // Stable partition of the parent's rows into left then right.
            let slice = &mut rows[parent.start..parent.start + parent.len];
            scratch.clear();
            let mut n_left = 0;
            let nf = self.bins.len();
            for i in 0..slice.len() {
                let r = slice[i];
                if cand
                    .rule
                    .bin_goes_left(self.row_bins[r as usize * nf + cand.feature])
                {
                    slice[n_left] = r;
                    n_left += 1;
                } else {
                    scratch.push(r);
                }
            }
            slice[n_left..].copy_from_slice(scratch);
            let (left_rows, right_rows) = slice.split_at(n_left);
            // The children's sums come from the histogram scan that chose the split.
            let (gl, hl) = (cand.left_g, cand.left_h);
            let (gr, hr) = (parent.g - gl, parent.h - hl);
            let small_is_left = left_rows.len() <= right_rows.len();
            let small_hist = self.build_hist(if small_is_left { left_rows } else { right_rows });
            let mut large_hist = std::mem::take(&mut parent.hist);
            large_hist.subtract(&small_hist);
            let (hist_l, hist_r) = if small_is_left {
                (small_hist, large_hist)
            } else {
                (large_hist, small_hist)
            };
            let left_node = nodes.len();
            let right_node = left_node + 1;
            nodes.push(Node::Leaf {
                value: leaf_value(gl, hl),
                cover: left_rows.len() as f64,
            });
            nodes.push(Node::Leaf {
                value: leaf_value(gr, hr),
                cover: right_rows.len() as f64,
            });
            nodes[parent.node] = Node::Split {
                feature: cand.feature,
                rule: cand.rule,
                left: left_node,
                right: right_node,
                gain: cand.gain,
                cover: parent.len as f64,
            };
            let mut left = LeafState {
                node: left_node,
                start: parent.start,
                len: n_left,
                depth: parent.depth + 1,
                g: gl,
                h: hl,
                hist: hist_l,
                best: None,
            };
            let mut right = LeafState {
                node: right_node,
                start: parent.start + n_left,
                len: parent.len - n_left,
                depth: parent.depth + 1,
                g: gr,
                h: hr,
                hist: hist_r,
                best: None,
            };
            n_leaves += 1;
            if n_leaves < p.num_leaves {
                left.best = self.find_best(&left);
                right.best = self.find_best(&right);
            }
            leaves.push(left);
            leaves.push(right);
        }
        let ranges = leaves
            .iter()
            .map(|l| {
                let value = match nodes[l.node] {
                    Node::Leaf { value, .. } => value,
                    Node::Split { .. } => 0.0,
                };
                (l.start, l.len, value)
            })
            .collect();
        (Tree { nodes }, ranges)
    }
}

fn check_data(data: &Dataset, y: &[f64]) -> Result<()> {
    if data.n_rows != y.len() {
        return Err(ProfileError::BadParameter(format!(
            "{} rows but {} labels",
            data.n_rows,
            y.len()
        )));
    }
    if data.n_features() == 0 {
        return Err(ProfileError::NoFeatures {
            detail: "the data set has no columns".into(),
        });
    }
    let pos = y.iter().filter(|&&v| v > 0.5).count();
    if pos == 0 || pos == y.len() {
        return Err(ProfileError::OneClassTarget {
            name: "target".into(),
            class: if pos == 0 { "no" } else { "yes" }.into(),
        });
    }
    Ok(())
}

/// Runs `work` on a rayon pool of `threads` threads (0 = one per core).
pub fn with_threads<T: Send>(threads: usize, work: impl FnOnce() -> T + Send) -> Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| ProfileError::Threads(e.to_string()))?;
    Ok(pool.install(work))
}

impl Gbm {
    /// Trains on `train`/`y`; with `valid`, stops early when its log loss stops improving.
    pub fn fit(
        train: &Dataset,
        y: &[f64],
        valid: Option<(&Dataset, &[f64])>,
        params: &GbmParams,
    ) -> Result<(Gbm, FitLog)> {
        params.check()?;
        check_data(train, y)?;
        if let Some((v, vy)) = valid {
            if v.n_features() != train.n_features() || v.n_rows != vy.len() {
                return Err(ProfileError::BadParameter(
                    "validation data does not match the training columns".into(),
                ));
            }
        }
        let n = train.n_rows;
        let mut bins: Vec<BinnedFeature> = train
            .columns
            .par_iter()
            .zip(&train.categorical)
            .map(|(col, &cat)| {
                if cat {
                    bin_categorical(col)
                } else {
                    bin_numeric(col, params.max_bins)
                }
            })
            .collect();
        let n_feat = train.n_features();
        let mut row_bins = vec![0u16; n * n_feat];
        let mut total_bins = 0;
        for (f, bf) in bins.iter_mut().enumerate() {
            bf.offset = total_bins;
            total_bins += bf.n_bins;
            for (r, &b) in bf.bins.iter().enumerate() {
                row_bins[r * n_feat + f] = b;
            }
            bf.bins = Vec::new();
        }
        let mean = y.iter().sum::<f64>() / n as f64;
        let init_score = (mean / (1.0 - mean)).ln();
        let mut raw = vec![init_score; n];
        let mut gh = vec![[0.0f64; 2]; n];
        let mut valid_raw = valid.map(|(v, _)| vec![init_score; v.n_rows]);
        let valid_rows: Option<Vec<Vec<f64>>> =
            valid.map(|(v, _)| (0..v.n_rows).map(|r| v.row(r)).collect());
        let mut rng = rand::rngs::StdRng::seed_from_u64(params.seed);
        let mut trees = Vec::new();
        let mut log = FitLog::default();
        let (mut best_loss, mut best_round) = (f64::INFINITY, 0usize);
        let mut rows: Vec<u32> = Vec::with_capacity(n);
        let mut scratch = Vec::with_capacity(n);
        for round in 0..params.num_rounds {
            gh.par_iter_mut()
                .zip(raw.par_iter().zip(y.par_iter()))
                .for_each(|(d, (&f, &t))| {
                    let p = sigmoid(f);
                    *d = [p - t, (p * (1.0 - p)).max(1e-16)];
                });
            rows.clear();
            if params.bagging_fraction < 1.0 {
                for r in 0..n {
                    if rng.random::<f64>() < params.bagging_fraction {
                        rows.push(r as u32);
                    }
                }
            } else {
                rows.extend(0..n as u32);
            }
            let mut active: Vec<usize> = (0..n_feat).collect();
            if params.feature_fraction < 1.0 {
                let k = ((n_feat as f64 * params.feature_fraction).round() as usize).max(1);
                active = rand::seq::index::sample(&mut rng, n_feat, k).into_vec();
                active.sort_unstable();
            }
            let grower = Grower {
                bins: &bins,
                row_bins: &row_bins,
                total_bins,
                gh: &gh,
                active: &active,
                p: params,
            };
            let (tree, ranges) = grower.grow(&mut rows, &mut scratch);
            if rows.len() == n {
                // Every row is in some leaf's range: add the leaf values directly.
                for (start, len, value) in ranges {
                    for &r in &rows[start..start + len] {
                        raw[r as usize] += value;
                    }
                }
            } else {
                raw.par_iter_mut()
                    .zip(row_bins.par_chunks(n_feat))
                    .for_each(|(f, row)| *f += tree.predict_binned(row));
            }
            if let (Some(vr), Some(rows_v), Some((_, vy))) =
                (valid_raw.as_mut(), valid_rows.as_ref(), valid)
            {
                vr.par_iter_mut()
                    .zip(rows_v.par_iter())
                    .for_each(|(f, row)| *f += tree.predict(row));
                let probs: Vec<f64> = vr.iter().map(|&f| sigmoid(f)).collect();
                let loss = logloss(vy, &probs);
                log.valid_loss.push(loss);
                if loss < best_loss - 1e-12 {
                    best_loss = loss;
                    best_round = round;
                }
            }
            trees.push(tree);
            if valid.is_some()
                && params.early_stopping_rounds > 0
                && round - best_round >= params.early_stopping_rounds
            {
                break;
            }
        }
        if valid.is_some() {
            trees.truncate(best_round + 1);
        }
        log.best_rounds = trees.len();
        Ok((
            Gbm {
                init_score,
                trees,
                n_features: n_feat,
                params: params.clone(),
            },
            log,
        ))
    }

    /// Raw score (log odds) of one row of raw feature values.
    pub fn predict_raw_row(&self, row: &[f64]) -> f64 {
        self.init_score + self.trees.iter().map(|t| t.predict(row)).sum::<f64>()
    }

    /// Probabilities for every row of `data` (parallel over rows).
    pub fn predict_proba(&self, data: &Dataset) -> Vec<f64> {
        let mut out = vec![0.0; data.n_rows];
        // Chunks of rows, each reusing one row buffer instead of allocating per row.
        out.par_chunks_mut(1024).enumerate().for_each(|(c, chunk)| {
            let mut row = vec![0.0; data.n_features()];
            for (i, p) in chunk.iter_mut().enumerate() {
                let r = c * 1024 + i;
                for (v, col) in row.iter_mut().zip(&data.columns) {
                    *v = col[r];
                }
                *p = sigmoid(self.predict_raw_row(&row));
            }
        });
        out
    }

    /// Total split gain per feature, normalised to sum to 1.
    pub fn gain_importance(&self) -> Vec<f64> {
        let mut imp = vec![0.0; self.n_features];
        for t in &self.trees {
            for n in &t.nodes {
                if let Node::Split { feature, gain, .. } = n {
                    if let Some(slot) = imp.get_mut(*feature) {
                        *slot += gain;
                    }
                }
            }
        }
        let total: f64 = imp.iter().sum();
        if total > 0.0 {
            imp.iter_mut().for_each(|v| *v /= total);
        }
        imp
    }

    /// Checks the structure of a loaded model.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (i, t) in self.trees.iter().enumerate() {
            t.validate(self.n_features)
                .map_err(|e| format!("tree {i}: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::metrics::auc;

    fn synthetic(n: usize, seed: u64) -> (Dataset, Vec<f64>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut x0 = Vec::new();
        let mut x1 = Vec::new();
        let mut c = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let a: f64 = rng.random_range(-2.0..2.0);
            let b: f64 = rng.random_range(-2.0..2.0);
            let cat = rng.random_range(0..6u32);
            let logit = 2.0 * a - b * b + if cat % 2 == 0 { 1.5 } else { -1.5 };
            y.push(if rng.random::<f64>() < sigmoid(logit) {
                1.0
            } else {
                0.0
            });
            x0.push(if rng.random::<f64>() < 0.05 {
                f64::NAN
            } else {
                a
            });
            x1.push(b);
            c.push(cat as f64);
        }
        (
            Dataset {
                n_rows: n,
                names: vec!["a".into(), "b".into(), "c".into()],
                categorical: vec![false, false, true],
                columns: vec![x0, x1, c],
            },
            y,
        )
    }

    #[test]
    fn binning_respects_thresholds() {
        let col: Vec<f64> = (0..1000).map(|i| (i % 300) as f64).collect();
        let bf = bin_numeric(&col, 16);
        assert!(bf.n_bins <= 17);
        for (i, &v) in col.iter().enumerate() {
            let b = bf.bins[i] as usize;
            assert!(v <= bf.upper[b - 1]);
            if b >= 2 {
                assert!(v > bf.upper[b - 2]);
            }
        }
    }

    #[test]
    fn fits_a_known_function_and_is_thread_independent() {
        let (train, y) = synthetic(4000, 1);
        let (test, ty) = synthetic(2000, 2);
        let params = GbmParams {
            num_rounds: 120,
            learning_rate: 0.1,
            num_leaves: 8,
            min_data_per_group: 10,
            ..GbmParams::default()
        };
        let (m1, _) = with_threads(1, || Gbm::fit(&train, &y, None, &params))
            .and_then(|r| r)
            .expect("fits");
        let (m2, _) = with_threads(2, || Gbm::fit(&train, &y, None, &params))
            .and_then(|r| r)
            .expect("fits");
        assert_eq!(m1, m2, "thread count changed the model");
        // The Bayes-optimal AUC of this generator is about 0.86.
        let a = auc(&ty, &m1.predict_proba(&test));
        assert!(a > 0.82, "auc {a}");
        assert!(
            m1.gain_importance()[2] > 0.1,
            "categorical effect not found"
        );
    }

    #[test]
    fn early_stopping_truncates() {
        let (train, y) = synthetic(2000, 3);
        let (valid, vy) = synthetic(1000, 4);
        let params = GbmParams {
            num_rounds: 2000,
            learning_rate: 0.3,
            early_stopping_rounds: 10,
            ..GbmParams::default()
        };
        let (m, log) = Gbm::fit(&train, &y, Some((&valid, &vy)), &params).expect("fits");
        assert!(m.trees.len() < 2000);
        assert_eq!(log.best_rounds, m.trees.len());
        let best = log.valid_loss.iter().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(log.valid_loss[m.trees.len() - 1], best);
    }

    #[test]
    fn one_class_is_an_error() {
        let (train, _) = synthetic(100, 5);
        let y = vec![0.0; 100];
        assert!(matches!(
            Gbm::fit(&train, &y, None, &GbmParams::default()),
            Err(ProfileError::OneClassTarget { .. })
        ));
    }
}
