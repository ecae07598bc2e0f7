//! Data splitting for honest model choice: stratified K-fold and stratified hold-out, both from
//! a seed. Owns no data; returns row indices. Depends on `rand` only.
//!
//! Stratification shuffles positives and negatives separately and deals them round-robin, so
//! every fold gets the class ratio of the whole within one row, and every row lands in exactly
//! one test fold (no leakage between a fold's training and test rows).

use rand::seq::SliceRandom;
use rand::SeedableRng;

/// One fold: training rows and test rows (disjoint, together all rows).
#[derive(Debug, Clone, PartialEq)]
pub struct Fold {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Stratified K-fold split of 0/1 `labels`.
pub fn stratified_kfold(labels: &[f64], k: usize, seed: u64) -> Vec<Fold> {
    let k = k.max(2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut pos: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] > 0.5).collect();
    let mut neg: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] <= 0.5).collect();
    pos.shuffle(&mut rng);
    neg.shuffle(&mut rng);
    let mut fold_of = vec![0usize; labels.len()];
    for (j, &i) in pos.iter().chain(neg.iter()).enumerate() {
        fold_of[i] = j % k;
    }
    (0..k)
        .map(|f| Fold {
            train: (0..labels.len()).filter(|&i| fold_of[i] != f).collect(),
            test: (0..labels.len()).filter(|&i| fold_of[i] == f).collect(),
        })
        .collect()
}

/// Stratified hold-out: about `fraction` of each class goes to `test`.
pub fn stratified_holdout(labels: &[f64], fraction: f64, seed: u64) -> Fold {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut test = Vec::new();
    let mut train = Vec::new();
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..labels.len())
            .filter(|&i| (labels[i] > 0.5) == class)
            .collect();
        idx.shuffle(&mut rng);
        let n_test = (idx.len() as f64 * fraction).round() as usize;
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    test.sort_unstable();
    train.sort_unstable();
    Fold { train, test }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_partition_rows_and_keep_ratio() {
        let labels: Vec<f64> = (0..103)
            .map(|i| if i % 10 == 0 { 1.0 } else { 0.0 })
            .collect();
        let folds = stratified_kfold(&labels, 5, 7);
        let mut seen = vec![0; labels.len()];
        for f in &folds {
            for &i in &f.test {
                seen[i] += 1;
                assert!(!f.train.contains(&i), "row {i} in train and test");
            }
            assert_eq!(f.train.len() + f.test.len(), labels.len());
            let pos = f.test.iter().filter(|&&i| labels[i] > 0.5).count();
            assert!((2..=3).contains(&pos), "fold has {pos} positives");
        }
        assert!(seen.iter().all(|&s| s == 1));
    }

    #[test]
    fn holdout_is_stratified_and_seeded() {
        let labels: Vec<f64> = (0..1000)
            .map(|i| if i % 8 == 0 { 1.0 } else { 0.0 })
            .collect();
        let a = stratified_holdout(&labels, 0.2, 1);
        let b = stratified_holdout(&labels, 0.2, 1);
        assert_eq!(a, b);
        assert_eq!(a.test.iter().filter(|&&i| labels[i] > 0.5).count(), 25);
        assert_eq!(a.test.len(), 200);
    }
}
