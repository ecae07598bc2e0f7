//! Per-prediction explanations: exact TreeSHAP (Lundberg, Erion & Lee 2018, algorithm 2, the
//! path-dependent form) over the trees of [`super::gbm::Gbm`]. Owns nothing but the algorithm;
//! depends on the gbm tree format.
//!
//! For a row x the contributions φ satisfy `bias + Σ φ_f = raw score of x` (log odds), where
//! `bias` is the score expected over the training rows (each tree's leaf values weighted by
//! node covers). That identity is what the tests check and what lets a supervisor read
//! "pdays = 6 added +1.2 to the log odds" as an exact share of the score.

use super::gbm::{Gbm, Node, Tree};

#[derive(Debug, Clone, Copy, Default)]
struct PathElem {
    feature: Option<usize>,
    zero: f64,
    one: f64,
    weight: f64,
}

fn extend(path: &mut [PathElem], depth: usize, zero: f64, one: f64, feature: Option<usize>) {
    path[depth] = PathElem {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let d1 = (depth + 1) as f64;
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / d1;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / d1;
    }
}

fn unwind(path: &mut [PathElem], depth: usize, index: usize) {
    let one = path[index].one;
    let zero = path[index].zero;
    let d1 = (depth + 1) as f64;
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * d1 / ((i + 1) as f64 * one);
            next = tmp - path[i].weight * zero * (depth - i) as f64 / d1;
        } else {
            path[i].weight = path[i].weight * d1 / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

fn unwound_sum(path: &[PathElem], depth: usize, index: usize) -> f64 {
    let one = path[index].one;
    let zero = path[index].zero;
    let d1 = (depth + 1) as f64;
    let mut next = path[depth].weight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = next * d1 / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (depth - i) as f64 / d1;
        } else if zero != 0.0 {
            total += path[i].weight / zero / ((depth - i) as f64 / d1);
        }
    }
    total
}

struct Walk<'a> {
    tree: &'a Tree,
    row: &'a [f64],
    phi: &'a mut [f64],
}

impl Walk<'_> {
    fn recurse(
        &mut self,
        node: usize,
        parent: &[PathElem],
        depth: usize,
        zero: f64,
        one: f64,
        feature: Option<usize>,
    ) {
        let mut path = parent.to_vec();
        path.resize(depth + 1, PathElem::default());
        extend(&mut path, depth, zero, one, feature);
        match &self.tree.nodes[node] {
            Node::Leaf { value, .. } => {
                for i in 1..=depth {
                    let w = unwound_sum(&path, depth, i);
                    if let Some(f) = path[i].feature {
                        if let Some(slot) = self.phi.get_mut(f) {
                            *slot += w * (path[i].one - path[i].zero) * value;
                        }
                    }
                }
            }
            Node::Split {
                feature: f,
                rule,
                left,
                right,
                cover,
                ..
            } => {
                let v = self.row.get(*f).copied().unwrap_or(f64::NAN);
                let (hot, cold) = if rule.goes_left(v) {
                    (*left, *right)
                } else {
                    (*right, *left)
                };
                let mut depth = depth;
                let (mut in_zero, mut in_one) = (1.0, 1.0);
                if let Some(k) = (1..=depth).find(|&k| path[k].feature == Some(*f)) {
                    in_zero = path[k].zero;
                    in_one = path[k].one;
                    unwind(&mut path, depth, k);
                    depth -= 1;
                }
                let cover = if *cover > 0.0 { *cover } else { 1.0 };
                let hot_frac = self.tree.nodes[hot].cover() / cover;
                let cold_frac = self.tree.nodes[cold].cover() / cover;
                path.truncate(depth + 1);
                self.recurse(hot, &path, depth + 1, in_zero * hot_frac, in_one, Some(*f));
                self.recurse(cold, &path, depth + 1, in_zero * cold_frac, 0.0, Some(*f));
            }
        }
    }
}

/// Expected output of one tree over its training rows.
pub fn tree_expectation(tree: &Tree) -> f64 {
    let root = tree.nodes.first().map(Node::cover).unwrap_or(0.0);
    if root <= 0.0 {
        return 0.0;
    }
    tree.nodes
        .iter()
        .map(|n| match n {
            Node::Leaf { value, cover } => value * cover / root,
            Node::Split { .. } => 0.0,
        })
        .sum()
}

/// The model's expected raw score (the SHAP bias).
pub fn bias(model: &Gbm) -> f64 {
    model.init_score + model.trees.iter().map(tree_expectation).sum::<f64>()
}

/// SHAP contributions of each feature to the raw score of `row`.
pub fn contributions(model: &Gbm, row: &[f64]) -> Vec<f64> {
    let mut phi = vec![0.0; model.n_features];
    for tree in &model.trees {
        if tree.nodes.is_empty() {
            continue;
        }
        let mut walk = Walk {
            tree,
            row,
            phi: &mut phi,
        };
        walk.recurse(0, &[], 0, 1.0, 1.0, None);
    }
    phi
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::gbm::Rule;

    /// x0 <= 0.5 ? (x1 in {1} ? 3 : 1) : -2, covers 10 = 6 (4 + 2) + 4.
    fn tree() -> Tree {
        Tree {
            nodes: vec![
                Node::Split {
                    feature: 0,
                    rule: Rule::Le {
                        threshold: 0.5,
                        bin: 1,
                        missing_left: true,
                    },
                    left: 1,
                    right: 2,
                    gain: 1.0,
                    cover: 10.0,
                },
                Node::Split {
                    feature: 1,
                    rule: Rule::In { codes: vec![1] },
                    left: 3,
                    right: 4,
                    gain: 1.0,
                    cover: 6.0,
                },
                Node::Leaf {
                    value: -2.0,
                    cover: 4.0,
                },
                Node::Leaf {
                    value: 3.0,
                    cover: 4.0,
                },
                Node::Leaf {
                    value: 1.0,
                    cover: 2.0,
                },
            ],
        }
    }

    #[test]
    fn contributions_sum_to_prediction() {
        let model = Gbm {
            init_score: 0.25,
            trees: vec![tree(), tree()],
            n_features: 2,
            params: Default::default(),
        };
        for row in [[0.0, 1.0], [0.0, 0.0], [1.0, 1.0], [f64::NAN, 5.0]] {
            let phi = contributions(&model, &row);
            let total = bias(&model) + phi.iter().sum::<f64>();
            assert!(
                (total - model.predict_raw_row(&row)).abs() < 1e-9,
                "{row:?}"
            );
        }
    }

    #[test]
    fn single_split_is_attributed_to_its_feature() {
        // For a stump, φ = f(x) − E f.
        let stump = Tree {
            nodes: vec![
                Node::Split {
                    feature: 1,
                    rule: Rule::Le {
                        threshold: 0.0,
                        bin: 1,
                        missing_left: false,
                    },
                    left: 1,
                    right: 2,
                    gain: 1.0,
                    cover: 4.0,
                },
                Node::Leaf {
                    value: 1.0,
                    cover: 1.0,
                },
                Node::Leaf {
                    value: -1.0,
                    cover: 3.0,
                },
            ],
        };
        let model = Gbm {
            init_score: 0.0,
            trees: vec![stump],
            n_features: 2,
            params: Default::default(),
        };
        let phi = contributions(&model, &[9.0, -1.0]);
        assert_eq!(phi[0], 0.0);
        assert!((phi[1] - 1.5).abs() < 1e-12);
    }
}
