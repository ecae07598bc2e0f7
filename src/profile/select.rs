//! Feature selection with a report: χ² test of independence, recursive feature elimination
//! (RFE) with L2 logistic regression, and L1 (Lasso) logistic regression. Owns the
//! [`SelectionReport`]; depends on the encoder and [`super::linear`].
//!
//! χ² runs on the category levels of a categorical feature and on the distinct values (up to
//! 20) or decile bins of a numeric one (missing cells are a level of their own). RFE drops, one at a time, the feature whose
//! coefficients (all levels together) have the smallest norm on standardised inputs. Lasso is
//! fitted at a fixed penalty λ = [`LASSO_PENALTY`] on the same design. A feature is proposed
//! for removal when at least two of the three methods reject it: χ² p ≥ 0.01, every Lasso
//! coefficient zero, RFE rank in the last quarter. Whether the proposal is applied is decided
//! by cross-validation in [`super::model`], and the report says so.

use serde::{Deserialize, Serialize};

use super::encode::{quantile, ColumnKind, Dataset, Encoder};
use super::linear;

/// Penalty of the Lasso fit (mean log loss scale, standardised inputs).
pub const LASSO_PENALTY: f64 = 0.004;
/// Default cap on the rows that go into the selection fits (sampled evenly), to bound time.
pub const DEFAULT_MAX_ROWS: usize = 8000;

/// The verdict on one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureVerdict {
    pub name: String,
    pub chi2: f64,
    pub dof: usize,
    pub p_value: f64,
    /// Largest absolute Lasso coefficient over the feature's columns.
    pub lasso_weight: f64,
    /// 1 = eliminated last (most useful).
    pub rfe_rank: usize,
    pub keep: bool,
    pub why: String,
}

/// The full selection report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionReport {
    pub verdicts: Vec<FeatureVerdict>,
    /// Indices (into the encoder's features) proposed to keep.
    pub proposed: Vec<usize>,
}

impl SelectionReport {
    /// Human-readable table.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{:<16} {:>10} {:>4} {:>9} {:>8} {:>4}  verdict\n",
            "feature", "chi2", "dof", "p", "lasso", "rfe"
        );
        for v in &self.verdicts {
            out.push_str(&format!(
                "{:<16} {:>10.1} {:>4} {:>9.2e} {:>8.4} {:>4}  {} — {}\n",
                v.name,
                v.chi2,
                v.dof,
                v.p_value,
                v.lasso_weight,
                v.rfe_rank,
                if v.keep { "keep" } else { "drop" },
                v.why
            ));
        }
        out
    }
}

/// ln Γ(x) by the Lanczos approximation (x > 0).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.001_208_650_973_866_179,
        -0.000_005_395_239_384_953,
    ];
    let mut y = x;
    let tmp = x + 5.5;
    let tmp = tmp - (x + 0.5) * tmp.ln();
    let mut ser = 1.000_000_000_190_015;
    for c in C {
        y += 1.0;
        ser += c / y;
    }
    -tmp + (2.506_628_274_631_000_5 * ser / x).ln()
}

/// Upper regularised incomplete gamma Q(a, x): the χ² survival function is Q(dof/2, χ²/2).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let gln = ln_gamma(a);
    if x < a + 1.0 {
        let mut sum = 1.0 / a;
        let mut del = sum;
        let mut ap = a;
        for _ in 0..500 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-14 {
                break;
            }
        }
        1.0 - sum * (-x + a * x.ln() - gln).exp()
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..500 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-14 {
                break;
            }
        }
        (-x + a * x.ln() - gln).exp() * h
    }
}

/// χ² statistic, degrees of freedom and p-value of a level-by-class table.
pub fn chi2_test(levels: &[usize], y: &[f64]) -> (f64, usize, f64) {
    let k = levels.iter().copied().max().map_or(0, |m| m + 1);
    let mut table = vec![[0.0f64; 2]; k];
    for (&l, &t) in levels.iter().zip(y) {
        table[l][usize::from(t > 0.5)] += 1.0;
    }
    let table: Vec<[f64; 2]> = table.into_iter().filter(|r| r[0] + r[1] > 0.0).collect();
    let n: f64 = table.iter().map(|r| r[0] + r[1]).sum();
    let col = [
        table.iter().map(|r| r[0]).sum::<f64>(),
        table.iter().map(|r| r[1]).sum::<f64>(),
    ];
    if table.len() < 2 || col[0] == 0.0 || col[1] == 0.0 {
        return (0.0, 0, 1.0);
    }
    let mut chi2 = 0.0;
    for r in &table {
        let row = r[0] + r[1];
        for c in 0..2 {
            let e = row * col[c] / n;
            chi2 += (r[c] - e).powi(2) / e;
        }
    }
    let dof = table.len() - 1;
    (chi2, dof, gamma_q(dof as f64 / 2.0, chi2 / 2.0))
}

/// Discrete levels of feature `f` for the χ² test (level 0 = missing).
fn levels_of(encoder: &Encoder, data: &Dataset, f: usize) -> Vec<usize> {
    let col = &data.columns[f];
    match &encoder.features[f].kind {
        ColumnKind::Categorical { .. } => col
            .iter()
            .map(|&v| if v.is_nan() { 0 } else { v as usize + 1 })
            .collect(),
        ColumnKind::Numeric { .. } => {
            let mut sorted: Vec<f64> = col.iter().copied().filter(|v| !v.is_nan()).collect();
            sorted.sort_by(f64::total_cmp);
            if sorted.is_empty() {
                return vec![0; col.len()];
            }
            let mut distinct = sorted.clone();
            distinct.dedup();
            // Few distinct values (counts, sentinels like pdays = 999): one level each;
            // otherwise deciles.
            let mut cuts: Vec<f64> = if distinct.len() <= 20 {
                distinct.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect()
            } else {
                (1..10)
                    .map(|q| quantile(&sorted, q as f64 / 10.0))
                    .collect()
            };
            cuts.dedup();
            col.iter()
                .map(|&v| {
                    if v.is_nan() {
                        0
                    } else {
                        cuts.partition_point(|&c| c < v) + 1
                    }
                })
                .collect()
        }
    }
}

/// Runs the three methods over every feature of `data` and proposes a set; the linear fits
/// see at most `max_rows` rows (an even sample).
pub fn select(encoder: &Encoder, data: &Dataset, y: &[f64], max_rows: usize) -> SelectionReport {
    let n_feat = encoder.features.len();
    let stride = data.n_rows.div_ceil(max_rows.max(100)).max(1);
    let rows: Vec<usize> = (0..data.n_rows).step_by(stride).collect();
    let sample = data.subset(&rows);
    let ys: Vec<f64> = rows.iter().map(|&r| y[r]).collect();

    let chi: Vec<(f64, usize, f64)> = (0..n_feat)
        .map(|f| chi2_test(&levels_of(encoder, data, f), y))
        .collect();

    let all: Vec<usize> = (0..n_feat).collect();
    let names = encoder.design_names(&all);
    let x = encoder.design(&sample, &all);
    let lasso = linear::fit(&x, &ys, LASSO_PENALTY, 0.0, 300);
    let mut lasso_weight = vec![0.0f64; n_feat];
    for ((f, _), w) in names.iter().zip(&lasso.weights) {
        lasso_weight[*f] = lasso_weight[*f].max(w.abs());
    }

    // RFE: rank 1 = the last feature standing.
    let mut remaining = all.clone();
    let mut rfe_rank = vec![0usize; n_feat];
    while !remaining.is_empty() {
        if remaining.len() == 1 {
            rfe_rank[remaining[0]] = 1;
            break;
        }
        let names = encoder.design_names(&remaining);
        let x = encoder.design(&sample, &remaining);
        let m = linear::fit(&x, &ys, 0.0, 1e-3, 150);
        let mut norms = vec![0.0f64; n_feat];
        for ((f, _), w) in names.iter().zip(&m.weights) {
            norms[*f] += w * w;
        }
        let (pos, _) = remaining
            .iter()
            .enumerate()
            .map(|(i, &f)| (i, norms[f]))
            .fold((0, f64::INFINITY), |b, c| if c.1 < b.1 { c } else { b });
        rfe_rank[remaining[pos]] = remaining.len();
        remaining.remove(pos);
    }

    let mut verdicts = Vec::new();
    let mut proposed = Vec::new();
    let last_quarter = n_feat - n_feat / 4;
    for f in 0..n_feat {
        let (chi2, dof, p) = chi[f];
        let mut against = Vec::new();
        if p >= 0.01 {
            against.push(format!("χ² p={p:.2}"));
        }
        if lasso_weight[f] == 0.0 {
            against.push("Lasso zeroed it".to_string());
        }
        if rfe_rank[f] > last_quarter {
            against.push(format!("RFE rank {} of {n_feat}", rfe_rank[f]));
        }
        let keep = against.len() < 2;
        let why = if keep {
            let mut pro = Vec::new();
            if p < 0.01 {
                pro.push("χ² significant");
            }
            if lasso_weight[f] > 0.0 {
                pro.push("Lasso keeps it");
            }
            if rfe_rank[f] <= last_quarter {
                pro.push("RFE keeps it");
            }
            pro.join(", ")
        } else {
            against.join(", ")
        };
        if keep {
            proposed.push(f);
        }
        verdicts.push(FeatureVerdict {
            name: encoder.features[f].name.clone(),
            chi2,
            dof,
            p_value: p,
            lasso_weight: lasso_weight[f],
            rfe_rank: rfe_rank[f],
            keep,
            why,
        });
    }
    if proposed.is_empty() {
        proposed = all;
    }
    SelectionReport { verdicts, proposed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi2_survival_matches_tables() {
        // χ²(1) = 3.841 → p = 0.05; χ²(4) = 9.488 → p = 0.05.
        assert!((gamma_q(0.5, 3.841 / 2.0) - 0.05).abs() < 1e-3);
        assert!((gamma_q(2.0, 9.488 / 2.0) - 0.05).abs() < 1e-3);
    }

    #[test]
    fn chi2_detects_dependence() {
        let levels: Vec<usize> = (0..200).map(|i| i % 2).collect();
        let y_dep: Vec<f64> = levels.iter().map(|&l| l as f64).collect();
        let y_ind: Vec<f64> = (0..200).map(|i| ((i / 2) % 2) as f64).collect();
        assert!(chi2_test(&levels, &y_dep).2 < 1e-10);
        assert!(chi2_test(&levels, &y_ind).2 > 0.5);
    }
}
