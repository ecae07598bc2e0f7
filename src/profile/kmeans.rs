//! Customer segments: k-means (k-means++ seeding, Lloyd iterations) over the standardised
//! one-hot design, k chosen by the mean silhouette, each segment described in plain words from
//! its centroid. Owns [`Segments`]; depends on the encoder for names and scales.

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::encode::{ColumnKind, Encoder};

/// Rows used to compute a silhouette (it is quadratic in rows).
const SILHOUETTE_ROWS: usize = 1000;

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Fitted centroids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    pub centroids: Vec<Vec<f64>>,
}

impl KMeans {
    /// Index of the nearest centroid.
    pub fn assign(&self, row: &[f64]) -> usize {
        let mut best = (0, f64::INFINITY);
        for (i, c) in self.centroids.iter().enumerate() {
            let d = dist2(row, c);
            if d < best.1 {
                best = (i, d);
            }
        }
        best.0
    }

    /// Fits `k` clusters; returns the model and its inertia (sum of squared distances).
    pub fn fit(x: &[Vec<f64>], k: usize, seed: u64, iterations: usize) -> (KMeans, f64) {
        let k = k.clamp(1, x.len().max(1));
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        if x.is_empty() {
            return (KMeans { centroids: vec![] }, 0.0);
        }
        // k-means++: each new centre drawn with probability ∝ squared distance.
        let mut centroids = vec![x[rng.random_range(0..x.len())].clone()];
        let mut d: Vec<f64> = x.iter().map(|r| dist2(r, &centroids[0])).collect();
        while centroids.len() < k {
            let total: f64 = d.iter().sum();
            let next = if total <= 0.0 {
                rng.random_range(0..x.len())
            } else {
                let mut target = rng.random::<f64>() * total;
                let mut pick = x.len() - 1;
                for (i, &di) in d.iter().enumerate() {
                    target -= di;
                    if target <= 0.0 {
                        pick = i;
                        break;
                    }
                }
                pick
            };
            centroids.push(x[next].clone());
            for (di, r) in d.iter_mut().zip(x) {
                *di = di.min(dist2(r, &centroids[centroids.len() - 1]));
            }
        }
        let mut model = KMeans { centroids };
        let mut labels = vec![usize::MAX; x.len()];
        for _ in 0..iterations {
            let mut changed = false;
            for (l, r) in labels.iter_mut().zip(x) {
                let a = model.assign(r);
                if a != *l {
                    *l = a;
                    changed = true;
                }
            }
            let dim = x[0].len();
            let mut sums = vec![vec![0.0; dim]; k];
            let mut counts = vec![0usize; k];
            for (&l, r) in labels.iter().zip(x) {
                counts[l] += 1;
                for (s, v) in sums[l].iter_mut().zip(r) {
                    *s += v;
                }
            }
            for c in 0..k {
                if counts[c] > 0 {
                    model.centroids[c] = sums[c].iter().map(|s| s / counts[c] as f64).collect();
                }
            }
            if !changed {
                break;
            }
        }
        let inertia = x
            .iter()
            .map(|r| dist2(r, &model.centroids[model.assign(r)]))
            .sum();
        (model, inertia)
    }
}

/// Mean silhouette of a labelling (rows with a singleton cluster count 0).
pub fn silhouette(x: &[Vec<f64>], labels: &[usize], k: usize) -> f64 {
    let n = x.len();
    if n < 2 || k < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    for i in 0..n {
        let mut sum = vec![0.0; k];
        let mut cnt = vec![0usize; k];
        for j in 0..n {
            if i != j {
                sum[labels[j]] += dist2(&x[i], &x[j]).sqrt();
                cnt[labels[j]] += 1;
            }
        }
        let own = labels[i];
        if cnt[own] == 0 {
            continue;
        }
        let a = sum[own] / cnt[own] as f64;
        let b = (0..k)
            .filter(|&c| c != own && cnt[c] > 0)
            .map(|c| sum[c] / cnt[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() {
            total += (b - a) / a.max(b).max(1e-12);
        }
    }
    total / n as f64
}

/// One row of the k-selection table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KChoice {
    pub k: usize,
    pub silhouette: f64,
    pub inertia: f64,
}

/// Tries each k in `ks` and keeps the one with the best silhouette on a sample.
pub fn choose_k(x: &[Vec<f64>], ks: &[usize], seed: u64) -> (KMeans, Vec<KChoice>) {
    let stride = x.len().div_ceil(SILHOUETTE_ROWS).max(1);
    let sample: Vec<Vec<f64>> = x.iter().step_by(stride).cloned().collect();
    let mut table = Vec::new();
    let mut best: Option<(KMeans, f64)> = None;
    for &k in ks {
        let (m, inertia) = KMeans::fit(x, k, seed, 100);
        let labels: Vec<usize> = sample.iter().map(|r| m.assign(r)).collect();
        let s = silhouette(&sample, &labels, k);
        table.push(KChoice {
            k,
            silhouette: s,
            inertia,
        });
        if best.as_ref().is_none_or(|b| s > b.1) {
            best = Some((m, s));
        }
    }
    let model = best.map(|b| b.0).unwrap_or(KMeans { centroids: vec![] });
    (model, table)
}

/// Plain-words description of a centroid in the design of `features` (encoder indices):
/// the three traits that set it most apart from the overall mean `overall` (same design).
pub fn describe(
    encoder: &Encoder,
    features: &[usize],
    centroid: &[f64],
    overall: &[f64],
) -> String {
    let mut traits: Vec<(f64, String)> = Vec::new();
    let mut col = 0;
    for &f in features {
        let feat = &encoder.features[f];
        match &feat.kind {
            ColumnKind::Numeric { mean, std, .. } => {
                let z = centroid[col] - overall[col];
                let value = centroid[col] * std + mean;
                let word = if z > 0.0 { "high" } else { "low" };
                traits.push((
                    z.abs(),
                    format!("{word} {} (≈{})", feat.name, round_sig(value)),
                ));
                col += 1;
            }
            ColumnKind::Categorical { levels } => {
                for (i, level) in levels.iter().enumerate() {
                    let share = centroid[col + i];
                    let base = overall[col + i];
                    if share >= 0.4 && share > base * 1.3 {
                        // Scale the lift like a z-score: a level at 2× its base share ≈ 1.
                        let lift = (share - base) / base.max(0.05).sqrt();
                        traits.push((
                            lift,
                            format!("{}={level} ({:.0}%)", feat.name, share * 100.0),
                        ));
                    }
                }
                col += levels.len();
            }
        }
    }
    traits.sort_by(|a, b| b.0.total_cmp(&a.0));
    let words: Vec<String> = traits.into_iter().take(3).map(|t| t.1).collect();
    if words.is_empty() {
        "typical contacts".to_string()
    } else {
        words.join(", ")
    }
}

fn round_sig(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_blobs_are_found_with_the_right_k() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let centres = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)];
        let mut x = Vec::new();
        let mut truth = Vec::new();
        for (c, &(cx, cy)) in centres.iter().enumerate() {
            for _ in 0..100 {
                x.push(vec![
                    cx + rng.random_range(-1.0..1.0),
                    cy + rng.random_range(-1.0..1.0),
                ]);
                truth.push(c);
            }
        }
        let (m, table) = choose_k(&x, &[2, 3, 4, 5], 1);
        assert_eq!(m.centroids.len(), 3, "{table:?}");
        // Every true blob maps to a single cluster, and different blobs to different ones.
        let mut map = [usize::MAX; 3];
        for (r, &t) in x.iter().zip(&truth) {
            let a = m.assign(r);
            if map[t] == usize::MAX {
                map[t] = a;
            }
            assert_eq!(map[t], a);
        }
        assert!(map[0] != map[1] && map[1] != map[2] && map[0] != map[2]);
    }
}
