//! Logistic regression with L1 and L2 penalties, fitted by accelerated proximal gradient
//! (FISTA). Used by feature selection (Lasso path and recursive elimination); owns nothing
//! else. Expects standardised inputs (see [`super::encode::Encoder::design`]).

use super::metrics::sigmoid;

/// A fitted logistic model: `p = σ(b + w·x)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    pub weights: Vec<f64>,
    pub bias: f64,
}

impl Logistic {
    pub fn predict(&self, x: &[f64]) -> f64 {
        sigmoid(self.bias + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>())
    }
}

/// Minimises mean log loss + `l1`·|w|₁ + `l2`/2·|w|² (the bias is not penalised).
pub fn fit(x: &[Vec<f64>], y: &[f64], l1: f64, l2: f64, iterations: usize) -> Logistic {
    let n = x.len().max(1) as f64;
    let d = x.first().map_or(0, Vec::len);
    // Lipschitz bound of the loss gradient: 0.25·mean‖x‖² (+ l2), so the step is safe.
    let mean_sq = x
        .iter()
        .map(|r| r.iter().map(|v| v * v).sum::<f64>())
        .sum::<f64>()
        / n;
    let step = 1.0 / (0.25 * (mean_sq + 1.0) + l2);
    let mut w = vec![0.0; d];
    let mut b = {
        let p = (y.iter().sum::<f64>() / n).clamp(1e-6, 1.0 - 1e-6);
        (p / (1.0 - p)).ln()
    };
    let (mut zw, mut zb) = (w.clone(), b);
    let mut t = 1.0f64;
    let mut grad = vec![0.0; d];
    for _ in 0..iterations {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut gb = 0.0;
        for (row, &yi) in x.iter().zip(y) {
            let z = zb + zw.iter().zip(row).map(|(a, v)| a * v).sum::<f64>();
            let r = sigmoid(z) - yi;
            gb += r;
            for (g, v) in grad.iter_mut().zip(row) {
                *g += r * v;
            }
        }
        let prev_w = w.clone();
        let prev_b = b;
        for j in 0..d {
            let v = zw[j] - step * (grad[j] / n + l2 * zw[j]);
            // Soft threshold: the proximal step of the L1 penalty.
            w[j] = v.signum() * (v.abs() - step * l1).max(0.0);
        }
        b = zb - step * gb / n;
        let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
        let momentum = (t - 1.0) / t_next;
        for j in 0..d {
            zw[j] = w[j] + momentum * (w[j] - prev_w[j]);
        }
        zb = b + momentum * (b - prev_b);
        t = t_next;
    }
    Logistic {
        weights: w,
        bias: b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lasso_zeroes_the_noise_feature() {
        // y depends on x0 only; x1 is noise uncorrelated with it.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..400 {
            let a = (i % 20) as f64 / 10.0 - 1.0;
            let b = ((i * 7919) % 13) as f64 / 6.0 - 1.0;
            x.push(vec![a, b]);
            y.push(if a + 0.3 * ((i * 31) % 5) as f64 / 5.0 > 0.1 {
                1.0
            } else {
                0.0
            });
        }
        let m = fit(&x, &y, 0.05, 0.0, 300);
        assert!(m.weights[0] > 0.5, "{:?}", m.weights);
        assert!(m.weights[1].abs() < 1e-3, "{:?}", m.weights);
    }
}
