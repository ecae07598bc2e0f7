//! The encoder head: a small network over the pretrained sentence encoder's vectors of the
//! reply and of the bot's prompt (`nlu::encoder`), trained on the intent corpus. It carries
//! what the encoder learnt from the web — words and phrasings no corpus here has — and the
//! intent model mixes its probabilities with the transformer's (`IntentModel::probabilities`)
//! at the weight fitted on the development sets.
//!
//! Features: the reply's vector, the prompt's vector (zeros without one), their elementwise
//! product (what the reply answers *to*: 是的 after a do-not-call read-back), and "has a
//! prompt", standardised; one hidden GELU layer. Saved next to the transformer as
//! `encoder-head.safetensors`. Pure candle; the caller embeds.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor, Var, D};
use candle_nn::{linear, AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::NluError;

pub const HEAD_FILE: &str = "encoder-head.safetensors";
/// Width of the hidden layer.
const HIDDEN: usize = 256;

/// The head's input for one reply: `[r, p, r ⊙ p, has_prompt]`.
pub fn features(reply: &[f32], prompt: Option<&[f32]>) -> Vec<f32> {
    let d = reply.len();
    let mut x = Vec::with_capacity(3 * d + 1);
    x.extend_from_slice(reply);
    match prompt {
        Some(p) => {
            x.extend_from_slice(p);
            x.extend(reply.iter().zip(p).map(|(a, b)| a * b));
        }
        None => x.extend(std::iter::repeat_n(0.0, 2 * d)),
    }
    x.push(f32::from(u8::from(prompt.is_some())));
    x
}

/// Training settings.
#[derive(Debug, Clone)]
pub struct HeadOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            epochs: 12,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 1e-2,
            seed: 20261205,
        }
    }
}

/// The trained head.
pub struct EncoderHead {
    mean: Tensor,
    scale: Tensor,
    hidden: Linear,
    out: Linear,
    /// Share of the head in the mixed log-probabilities (0 = transformer alone).
    pub weight: f32,
    tensors: HashMap<String, Tensor>,
}

impl std::fmt::Debug for EncoderHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderHead")
            .field("weight", &self.weight)
            .finish()
    }
}

impl EncoderHead {
    /// Fits the head on feature rows and their label indices.
    pub fn fit(
        x: &[Vec<f32>],
        y: &[usize],
        n_labels: usize,
        opts: &HeadOptions,
    ) -> Result<Self, NluError> {
        let dev = Device::Cpu;
        let (n, f) = (x.len(), x.first().map_or(0, Vec::len));
        if n == 0 || f == 0 || y.len() != n {
            return Err(NluError::NoData {
                context: "encoder head (no feature rows)".into(),
            });
        }
        let all = matrix(x)?;
        let mean = all.mean(0)?;
        let scale = (all.broadcast_sub(&mean)?.sqr()?.mean(0)?.sqrt()? + 1e-4)?.recip()?;
        let all = all.broadcast_sub(&mean)?.broadcast_mul(&scale)?;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let hidden = linear(f, HIDDEN, vb.pp("hidden"))?;
        let out = linear(HIDDEN, n_labels, vb.pp("out"))?;
        train_loop(&hidden, &out, vm.all_vars(), &all, y, opts)?;
        let mut tensors: HashMap<String, Tensor> = vm
            .data()
            .lock()
            .map_err(|_| NluError::NoData {
                context: "encoder head (poisoned weights)".into(),
            })?
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
            .collect::<Result<_, candle_core::Error>>()?;
        tensors.insert("mean".into(), mean);
        tensors.insert("scale".into(), scale);
        tensors.insert("weight".into(), Tensor::new(&[0.5f32], &dev)?);
        Self::from_tensors(tensors)
    }

    /// Continues training from these weights on new rows (with replayed ones, chosen by the
    /// caller); the standardisation and the mixing weight stay.
    pub fn fine_tune(
        &self,
        x: &[Vec<f32>],
        y: &[usize],
        opts: &HeadOptions,
    ) -> Result<Self, NluError> {
        if x.is_empty() || y.len() != x.len() {
            return Err(NluError::NoData {
                context: "encoder head fine-tuning (no feature rows)".into(),
            });
        }
        let all = self.standardised(x)?;
        let names = ["hidden.weight", "hidden.bias", "out.weight", "out.bias"];
        let vars = names
            .iter()
            .map(|k| {
                let t = self.tensors.get(*k).ok_or_else(|| NluError::NoData {
                    context: format!("encoder head: no tensor {k}"),
                })?;
                Ok(Var::from_tensor(t)?)
            })
            .collect::<Result<Vec<Var>, NluError>>()?;
        let hidden = Linear::new(
            vars[0].as_tensor().clone(),
            Some(vars[1].as_tensor().clone()),
        );
        let out = Linear::new(
            vars[2].as_tensor().clone(),
            Some(vars[3].as_tensor().clone()),
        );
        train_loop(&hidden, &out, vars.clone(), &all, y, opts)?;
        let mut tensors = self.tensors.clone();
        for (k, v) in names.iter().zip(&vars) {
            tensors.insert(k.to_string(), v.as_tensor().copy()?);
        }
        let mut tuned = Self::from_tensors(tensors)?;
        tuned.weight = self.weight;
        Ok(tuned)
    }

    fn from_tensors(tensors: HashMap<String, Tensor>) -> Result<Self, NluError> {
        let get = |k: &str| {
            tensors.get(k).cloned().ok_or_else(|| NluError::NoData {
                context: format!("encoder head: no tensor {k}"),
            })
        };
        let weight = get("weight")?
            .to_vec1::<f32>()?
            .first()
            .copied()
            .unwrap_or(0.0);
        Ok(EncoderHead {
            mean: get("mean")?,
            scale: get("scale")?,
            hidden: Linear::new(get("hidden.weight")?, Some(get("hidden.bias")?)),
            out: Linear::new(get("out.weight")?, Some(get("out.bias")?)),
            weight,
            tensors,
        })
    }

    /// Loads `dir/encoder-head.safetensors`; `None` when the model has no head.
    pub fn load(dir: &Path) -> Result<Option<Self>, NluError> {
        let path = dir.join(HEAD_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| {
            NluError::ModelCorrupt {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?;
        Self::from_tensors(tensors).map(Some)
    }

    /// Writes `dir/encoder-head.safetensors`.
    pub fn save(&self, dir: &Path) -> Result<(), NluError> {
        let mut t = self.tensors.clone();
        t.insert("weight".into(), Tensor::new(&[self.weight], &Device::Cpu)?);
        let path = dir.join(HEAD_FILE);
        let tmp = dir.join(format!("{HEAD_FILE}.tmp"));
        candle_core::safetensors::save(&t, &tmp)?;
        std::fs::rename(&tmp, &path).map_err(|source| NluError::Io { path, source })
    }

    /// Feature rows as the network reads them: centred and scaled as the training rows were.
    fn standardised(&self, x: &[Vec<f32>]) -> Result<Tensor, NluError> {
        Ok(matrix(x)?
            .broadcast_sub(&self.mean)?
            .broadcast_mul(&self.scale)?)
    }

    /// Label log-probabilities for feature rows.
    pub fn log_probs(&self, x: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, NluError> {
        if x.is_empty() {
            return Ok(Vec::new());
        }
        let xs = self.standardised(x)?;
        let logits = self.out.forward(&self.hidden.forward(&xs)?.gelu_erf()?)?;
        Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2()?)
    }
}

/// Feature rows as one [rows, features] tensor (ragged rows are an error).
fn matrix(x: &[Vec<f32>]) -> Result<Tensor, NluError> {
    let f = x.first().map_or(0, Vec::len);
    let flat: Vec<f32> = x.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, (x.len(), f), &Device::Cpu)?)
}

/// Mini-batch AdamW on cross-entropy over standardised rows `all`.
fn train_loop(
    hidden: &Linear,
    out: &Linear,
    vars: Vec<Var>,
    all: &Tensor,
    y: &[usize],
    opts: &HeadOptions,
) -> Result<(), NluError> {
    let dev = Device::Cpu;
    let labels = Tensor::from_vec(
        y.iter().map(|&l| l as u32).collect::<Vec<_>>(),
        y.len(),
        &dev,
    )?;
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: opts.learning_rate,
            weight_decay: opts.weight_decay,
            ..Default::default()
        },
    )?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let mut order: Vec<u32> = (0..y.len() as u32).collect();
    for _ in 0..opts.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(opts.batch_size.max(1)) {
            let idx = Tensor::from_slice(chunk, chunk.len(), &dev)?;
            let xb = all.index_select(&idx, 0)?;
            let yb = labels.index_select(&idx, 0)?;
            let h = candle_nn::ops::dropout(&hidden.forward(&xb)?.gelu_erf()?, 0.2)?;
            let loss = candle_nn::loss::cross_entropy(&out.forward(&h)?, &yb)?;
            opt.backward_step(&loss)?;
        }
    }
    Ok(())
}

/// Mixes two label distributions in the log domain: `(1 - w) log p + w log q`, renormalised.
pub fn mix(p: &[f32], log_q: &[f32], w: f32) -> Vec<f32> {
    let logs: Vec<f32> = p
        .iter()
        .zip(log_q)
        .map(|(&a, &b)| (1.0 - w) * a.max(1e-9).ln() + w * b)
        .collect();
    let max = logs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logs.iter().map(|l| (l - max).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mixing_weights_the_two_views() {
        let p = [0.7, 0.2, 0.1];
        let q: Vec<f32> = [0.1f32, 0.8, 0.1].iter().map(|v| v.ln()).collect();
        let alone = mix(&p, &q, 0.0);
        assert!((alone[0] - 0.7).abs() < 1e-5);
        let head = mix(&p, &q, 1.0);
        assert!((head[1] - 0.8).abs() < 1e-5);
        let half = mix(&p, &q, 0.5);
        assert!(half[1] > half[0] && (half.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn fits_separable_rows_and_round_trips() {
        // Two labels told apart by the reply's first coordinate, with and without a prompt.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let label = i % 2;
            let r = vec![if label == 0 { 1.0 } else { -1.0 }, (i % 7) as f32 / 7.0];
            let p = [0.5, 0.5];
            x.push(features(&r, (i % 3 != 0).then_some(&p[..])));
            y.push(label);
        }
        let opts = HeadOptions {
            epochs: 20,
            ..HeadOptions::default()
        };
        let head = EncoderHead::fit(&x, &y, 2, &opts).unwrap();
        let lp = head.log_probs(&x).unwrap();
        let right = lp
            .iter()
            .zip(&y)
            .filter(|(l, &t)| (l[1] > l[0]) == (t == 1))
            .count();
        assert_eq!(right, x.len());
        let dir = tempfile::tempdir().unwrap();
        head.save(dir.path()).unwrap();
        let back = EncoderHead::load(dir.path()).unwrap().unwrap();
        assert_eq!(
            back.log_probs(&x[..3]).unwrap(),
            head.log_probs(&x[..3]).unwrap()
        );
        assert!(EncoderHead::load(&dir.path().join("none"))
            .unwrap()
            .is_none());
    }
}
