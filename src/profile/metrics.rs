//! Classification metrics used for model choice and reports: ROC AUC (ties averaged, the
//! Mann-Whitney form) and log loss. Pure functions; depends on nothing.

/// Area under the ROC curve of `scores` against 0/1 `labels`; 0.5 when a class is absent.
pub fn auc(labels: &[f64], scores: &[f64]) -> f64 {
    let n = labels.len().min(scores.len());
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let n_pos = idx.iter().filter(|&&i| labels[i] > 0.5).count() as f64;
    let n_neg = n as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return 0.5;
    }
    // Sum of positive ranks, with tied scores sharing their average rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] > 0.5 {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Mean binary cross-entropy of probabilities `probs` (clamped away from 0 and 1).
pub fn logloss(labels: &[f64], probs: &[f64]) -> f64 {
    let n = labels.len().min(probs.len());
    if n == 0 {
        return 0.0;
    }
    let eps = 1e-15;
    labels
        .iter()
        .zip(probs)
        .map(|(&y, &p)| {
            let p = p.clamp(eps, 1.0 - eps);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / n as f64
}

/// Logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_perfect_random_and_ties() {
        assert_eq!(auc(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.2, 0.8, 0.9]), 1.0);
        assert_eq!(auc(&[1.0, 1.0, 0.0, 0.0], &[0.1, 0.2, 0.8, 0.9]), 0.0);
        assert_eq!(auc(&[0.0, 1.0], &[0.5, 0.5]), 0.5);
        // One of the two positive/negative pairs ordered right, one tied: 0.75.
        assert!((auc(&[0.0, 1.0, 0.0, 1.0], &[0.1, 0.5, 0.5, 0.9]) - 0.875).abs() < 1e-12);
    }

    #[test]
    fn logloss_of_coin_flip() {
        let l = logloss(&[0.0, 1.0], &[0.5, 0.5]);
        assert!((l - std::f64::consts::LN_2).abs() < 1e-12);
    }
}
