//! Lookalikes from positives only (PU learning, bagging PU of Mordelet & Vert 2014): given
//! the rows of converted customers (P) and an unlabeled pool (U), train many small boosted
//! models on P against random equal-size draws from U, and score each pool row by the mean
//! of the models that did not see it. Owns the ranking and its hidden-positive evaluation;
//! depends on [`super::gbm`].

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::encode::Dataset;
use super::gbm::{Gbm, GbmParams};
use super::metrics::auc;
use super::{ProfileError, Result};

/// Settings of the bagging.
#[derive(Debug, Clone, PartialEq)]
pub struct PuParams {
    pub bags: usize,
    pub gbm: GbmParams,
    pub seed: u64,
}

impl Default for PuParams {
    fn default() -> Self {
        PuParams {
            bags: 15,
            gbm: GbmParams {
                num_rounds: 60,
                learning_rate: 0.1,
                num_leaves: 15,
                min_data_in_leaf: 20,
                early_stopping_rounds: 0,
                ..GbmParams::default()
            },
            seed: 7,
        }
    }
}

/// Scores the `unlabeled` rows of `data` (same order) by similarity to the `positive` rows.
pub fn rank(
    data: &Dataset,
    positive: &[usize],
    unlabeled: &[usize],
    params: &PuParams,
) -> Result<Vec<f64>> {
    if positive.len() < 5 || unlabeled.len() < 5 {
        return Err(ProfileError::TooFewRows {
            detail: format!(
                "lookalikes need at least 5 seed and 5 pool rows (got {} and {})",
                positive.len(),
                unlabeled.len()
            ),
        });
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(params.seed);
    let k = positive.len().min(unlabeled.len());
    let mut sum = vec![0.0; unlabeled.len()];
    let mut count = vec![0usize; unlabeled.len()];
    let mut order: Vec<usize> = (0..unlabeled.len()).collect();
    for bag in 0..params.bags.max(1) {
        order.shuffle(&mut rng);
        let (drawn, rest) = order.split_at(k);
        let mut rows: Vec<usize> = positive.to_vec();
        rows.extend(drawn.iter().map(|&i| unlabeled[i]));
        let mut y = vec![1.0; positive.len()];
        y.extend(std::iter::repeat_n(0.0, k));
        let train = data.subset(&rows);
        let gbm = GbmParams {
            seed: params.seed.wrapping_add(bag as u64),
            ..params.gbm.clone()
        };
        let (model, _) = Gbm::fit(&train, &y, None, &gbm)?;
        let out_rows: Vec<usize> = rest.iter().map(|&i| unlabeled[i]).collect();
        let probs = model.predict_proba(&data.subset(&out_rows));
        for (&i, p) in rest.iter().zip(probs) {
            sum[i] += p;
            count[i] += 1;
        }
    }
    Ok(sum
        .iter()
        .zip(&count)
        .map(|(&s, &c)| if c > 0 { s / c as f64 } else { 0.5 })
        .collect())
}

/// Result of hiding positives in the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PuEvaluation {
    pub seeds: usize,
    pub hidden: usize,
    pub pool: usize,
    /// AUC of hidden positives against the pool's true negatives (0.5 = chance).
    pub auc: f64,
    /// Share of hidden positives among the top 10 % of the ranked pool, over their base share.
    pub lift_top_decile: f64,
}

/// Hides `hide_fraction` of the labelled positives in the pool, ranks it, and measures how
/// well the hidden positives come out on top.
pub fn evaluate(
    data: &Dataset,
    y: &[f64],
    hide_fraction: f64,
    params: &PuParams,
) -> Result<PuEvaluation> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(params.seed ^ 0x5eed);
    let mut pos: Vec<usize> = (0..y.len()).filter(|&i| y[i] > 0.5).collect();
    pos.shuffle(&mut rng);
    let n_hidden = ((pos.len() as f64) * hide_fraction.clamp(0.05, 0.95)).round() as usize;
    let (hidden, seeds) = pos.split_at(n_hidden);
    let mut pool: Vec<usize> = hidden.to_vec();
    pool.extend((0..y.len()).filter(|&i| y[i] <= 0.5));
    let scores = rank(data, seeds, &pool, params)?;
    let truth: Vec<f64> = pool.iter().map(|&i| y[i]).collect();
    let mut order: Vec<usize> = (0..pool.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let top = (pool.len() / 10).max(1);
    let hits = order[..top].iter().filter(|&&i| truth[i] > 0.5).count() as f64;
    let base = hidden.len() as f64 / pool.len() as f64;
    Ok(PuEvaluation {
        seeds: seeds.len(),
        hidden: hidden.len(),
        pool: pool.len(),
        auc: auc(&truth, &scores),
        lift_top_decile: if base > 0.0 {
            hits / top as f64 / base
        } else {
            0.0
        },
    })
}
