//! The intent network: a small pre-norm transformer encoder over the reply's tokens whose
//! attention is steered by the conversation context.
//!
//! Context (the bot's last prompt as a bag of token embeddings, the hour of the call as a point
//! on the clock, and whether there was a prompt at all) is projected to a context vector `c`.
//! `c` enters every layer twice, as learned weights rather than as extra text:
//! - a **context-conditioned attention bias**: per head, a query derived from `c` scores every
//!   key token, and that score is added to all queries' attention logits, so the prompt decides
//!   which reply tokens matter ("不是" after "是王先生吗" vs after "感兴趣吗");
//! - a **context gate** `sigmoid(W c)` scaling each channel of the attention output.
//!
//! The pooled representation is attention pooling with a context query, mean pooling and `c`.
//! Owns the architecture and batching; depends on candle only.

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{linear, Embedding, Linear, VarBuilder};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Time features per example: sin and cos of the hour on a 24 h circle, and "hour known".
pub const TIME_FEATURES: usize = 3;

/// Shape of the network; saved in the manifest so a model file is checked against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_heads: usize,
    pub n_layers: usize,
    pub d_ff: usize,
    /// Longest reply in tokens; longer replies are truncated (and the caller told).
    pub max_len: usize,
    /// Longest prompt in tokens; the prompt's tail is kept.
    pub prompt_len: usize,
    pub n_labels: usize,
}

impl ModelConfig {
    /// The shipped size: small enough for ≤ 2 ms per reply on one core.
    pub fn small(vocab_size: usize, n_labels: usize) -> Self {
        ModelConfig {
            vocab_size,
            d_model: 64,
            n_heads: 4,
            n_layers: 2,
            d_ff: 128,
            max_len: 48,
            prompt_len: 32,
            n_labels,
        }
    }
}

/// A padded batch of encoded examples.
#[derive(Debug)]
pub struct Batch {
    tokens: Tensor,
    mask: Tensor,
    prompt: Tensor,
    prompt_mask: Tensor,
    time: Tensor,
}

/// Sin/cos of the hour and a "known" flag; all zero when the hour is unknown.
pub fn time_features(hour: Option<u8>) -> [f32; TIME_FEATURES] {
    match hour {
        Some(h) => {
            let a = (h % 24) as f32 / 24.0 * std::f32::consts::TAU;
            [a.sin(), a.cos(), 1.0]
        }
        None => [0.0; TIME_FEATURES],
    }
}

fn pad(rows: &[&[u32]], device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    // At least one column so an empty prompt still makes a well-formed (all masked) tensor.
    let width = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
    let mut ids = vec![0u32; rows.len() * width];
    let mut mask = vec![0f32; rows.len() * width];
    for (r, row) in rows.iter().enumerate() {
        for (c, &id) in row.iter().enumerate() {
            ids[r * width + c] = id;
            mask[r * width + c] = 1.0;
        }
    }
    Ok((
        Tensor::from_vec(ids, (rows.len(), width), device)?,
        Tensor::from_vec(mask, (rows.len(), width), device)?,
    ))
}

impl Batch {
    /// Pads replies and prompts to the longest in the batch. Replies must be non-empty.
    pub fn new(
        replies: &[&[u32]],
        prompts: &[&[u32]],
        hours: &[Option<u8>],
        device: &Device,
    ) -> candle_core::Result<Batch> {
        if replies.is_empty() || replies.len() != prompts.len() || replies.len() != hours.len() {
            candle_core::bail!(
                "batch needs as many prompts ({}) and hours ({}) as replies ({}), at least one",
                prompts.len(),
                hours.len(),
                replies.len()
            );
        }
        let (tokens, mask) = pad(replies, device)?;
        let (prompt, prompt_mask) = pad(prompts, device)?;
        let time: Vec<f32> = hours.iter().flat_map(|&h| time_features(h)).collect();
        let time = Tensor::from_vec(time, (hours.len(), TIME_FEATURES), device)?;
        Ok(Batch {
            tokens,
            mask,
            prompt,
            prompt_mask,
            time,
        })
    }

    pub fn len(&self) -> usize {
        self.tokens.dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Layer normalisation that can be trained: candle's fused `layer_norm` and
/// `softmax_last_dim` have no backward pass (gradients stop there), so training uses the
/// composed versions and inference the fused, faster ones.
#[derive(Debug)]
struct Norm {
    weight: Tensor,
    bias: Tensor,
}

impl Norm {
    fn new(d: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Norm {
            weight: vb.get_with_hints(d, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(d, "bias", candle_nn::Init::Const(0.0))?,
        })
    }

    fn forward(&self, x: &Tensor, training: bool) -> candle_core::Result<Tensor> {
        if training {
            candle_nn::ops::layer_norm_slow(x, &self.weight, &self.bias, 1e-5)
        } else {
            candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, &self.bias, 1e-5)
        }
    }
}

fn softmax(x: &Tensor, training: bool) -> candle_core::Result<Tensor> {
    if training {
        candle_nn::ops::softmax(x, D::Minus1)
    } else {
        candle_nn::ops::softmax_last_dim(x)
    }
}

/// Inverted dropout with a seeded generator, so training runs are reproducible (candle's own
/// dropout draws from an unseeded source).
fn dropout(x: &Tensor, p: f32, rng: &mut rand::rngs::StdRng) -> candle_core::Result<Tensor> {
    let keep: Vec<f32> = (0..x.elem_count())
        .map(|_| {
            if rng.random::<f32>() < p {
                0.0
            } else {
                1.0 / (1.0 - p)
            }
        })
        .collect();
    x.mul(&Tensor::from_vec(keep, x.shape(), x.device())?)
}

/// Training-time behaviour of a forward pass: dropout rate and its generator.
#[derive(Debug)]
pub struct Train {
    pub dropout: f32,
    pub rng: rand::rngs::StdRng,
}

impl Train {
    pub fn new(dropout: f32, seed: u64) -> Self {
        Train {
            dropout,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        }
    }
}

#[derive(Debug)]
struct Layer {
    ln1: Norm,
    qkv: Linear,
    out: Linear,
    ctx_query: Linear,
    ctx_gate: Linear,
    ln2: Norm,
    ff1: Linear,
    ff2: Linear,
    n_heads: usize,
}

impl Layer {
    fn new(cfg: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        Ok(Layer {
            ln1: Norm::new(d, vb.pp("ln1"))?,
            qkv: linear(d, 3 * d, vb.pp("qkv"))?,
            out: linear(d, d, vb.pp("out"))?,
            ctx_query: linear(d, d, vb.pp("ctx_query"))?,
            ctx_gate: linear(d, d, vb.pp("ctx_gate"))?,
            ln2: Norm::new(d, vb.pp("ln2"))?,
            ff1: linear(d, cfg.d_ff, vb.pp("ff1"))?,
            ff2: linear(cfg.d_ff, d, vb.pp("ff2"))?,
            n_heads: cfg.n_heads,
        })
    }

    /// `x`: [B, L, D]; `c`: [B, D]; `mask_bias`: [B, 1, 1, L] (0 or -1e4).
    fn forward(
        &self,
        x: &Tensor,
        c: &Tensor,
        mask_bias: &Tensor,
        train: &mut Option<&mut Train>,
    ) -> candle_core::Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        let training = train.is_some();
        let h = self.n_heads;
        let dh = d / h;
        let scale = 1.0 / (dh as f64).sqrt();
        let qkv = self
            .qkv
            .forward(&self.ln1.forward(x, training)?)?
            .reshape((b, l, 3, h, dh))?
            .permute((2, 0, 3, 1, 4))?;
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let kt = k.t()?.contiguous()?;
        let scores = (q.matmul(&kt)? * scale)?;
        // The context's own query scores each key token once; broadcasting it over all queries
        // re-weights which reply tokens every position attends to.
        let cq = self.ctx_query.forward(c)?.reshape((b, h, 1, dh))?;
        let ctx_bias = (cq.matmul(&kt)? * scale)?;
        let scores = scores.broadcast_add(&ctx_bias)?.broadcast_add(mask_bias)?;
        let attn = softmax(&scores, training)?.matmul(&v)?;
        let attn = attn.transpose(1, 2)?.reshape((b, l, d))?;
        let mut attn = self.out.forward(&attn)?;
        if let Some(t) = train.as_deref_mut() {
            attn = dropout(&attn, t.dropout, &mut t.rng)?;
        }
        let gate = candle_nn::ops::sigmoid(&self.ctx_gate.forward(c)?)?.unsqueeze(1)?;
        let x = (x + attn.broadcast_mul(&gate)?)?;
        let ff = self
            .ff2
            .forward(&self.ff1.forward(&self.ln2.forward(&x, training)?)?.gelu()?)?;
        x + ff
    }
}

/// The encoder and its classification head.
#[derive(Debug)]
pub struct IntentNet {
    cfg: ModelConfig,
    embed: Embedding,
    pos: Tensor,
    prompt_score: Linear,
    ctx_proj: Linear,
    layers: Vec<Layer>,
    ln_f: Norm,
    pool_query: Linear,
    head: Linear,
}

impl IntentNet {
    /// Builds the network from `vb`: fresh variables for training (a `VarMap` builder) or
    /// loaded tensors; a missing or mis-shaped tensor is an error.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        if cfg.d_model == 0 || !cfg.d_model.is_multiple_of(cfg.n_heads) {
            candle_core::bail!(
                "d_model {} is not a multiple of n_heads {}",
                cfg.d_model,
                cfg.n_heads
            );
        }
        let d = cfg.d_model;
        let embed = candle_nn::embedding(cfg.vocab_size, d, vb.pp("embed"))?;
        let pos = vb.get_with_hints(
            (cfg.max_len, d),
            "pos",
            candle_nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        )?;
        let layers = (0..cfg.n_layers)
            .map(|i| Layer::new(cfg, vb.pp(format!("layer{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(IntentNet {
            cfg: cfg.clone(),
            embed,
            pos,
            prompt_score: linear(d, 1, vb.pp("prompt_score"))?,
            ctx_proj: linear(2 * d + TIME_FEATURES + 1, d, vb.pp("ctx_proj"))?,
            layers,
            ln_f: Norm::new(d, vb.pp("ln_f"))?,
            pool_query: linear(d, d, vb.pp("pool_query"))?,
            head: linear(3 * d, cfg.n_labels, vb.pp("head"))?,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Logits [B, n_labels]. `train` enables dropout.
    pub fn forward(
        &self,
        batch: &Batch,
        mut train: Option<&mut Train>,
    ) -> candle_core::Result<Tensor> {
        let (b, l) = batch.tokens.dims2()?;
        if l > self.cfg.max_len {
            candle_core::bail!("reply of {l} tokens exceeds max_len {}", self.cfg.max_len);
        }
        let d = self.cfg.d_model;
        let mut x = self
            .embed
            .forward(&batch.tokens)?
            .broadcast_add(&self.pos.narrow(0, 0, l)?.unsqueeze(0)?)?;
        if let Some(t) = train.as_deref_mut() {
            x = dropout(&x, t.dropout, &mut t.rng)?;
        }
        // Context vector from the prompt: the mean of its token embeddings, plus an attention
        // pooling that learns which prompt words carry the question (a name in "is this david"
        // versus "a good time" in "is this a good time"), the time features and "has a prompt".
        let p_len = batch.prompt.dims2()?.1.min(self.cfg.max_len);
        let pm = batch.prompt_mask.unsqueeze(2)?;
        let p_count = batch.prompt_mask.sum_keepdim(1)?;
        let pe = self.embed.forward(&batch.prompt.narrow(1, 0, p_len)?)?;
        let bag = pe
            .broadcast_mul(&pm.narrow(1, 0, p_len)?)?
            .sum(1)?
            .broadcast_div(&(&p_count + 1e-6)?)?;
        let pe_pos = pe.broadcast_add(&self.pos.narrow(0, 0, p_len)?.unsqueeze(0)?)?;
        let p_scores = self
            .prompt_score
            .forward(&pe_pos.tanh()?)?
            .squeeze(2)?
            .broadcast_add(&batch.prompt_mask.narrow(1, 0, p_len)?.affine(1e4, -1e4)?)?;
        let has_prompt = batch.prompt_mask.max_keepdim(1)?;
        let p_weights = softmax(&p_scores, train.is_some())?.unsqueeze(1)?;
        // With no prompt every position is masked; the pooled vector is zeroed, not averaged pads.
        let attended = p_weights
            .matmul(&pe)?
            .squeeze(1)?
            .broadcast_mul(&has_prompt)?;
        let c = self
            .ctx_proj
            .forward(&Tensor::cat(
                &[&bag, &attended, &batch.time, &has_prompt],
                1,
            )?)?
            .tanh()?;
        let mask_bias = batch.mask.affine(1e4, -1e4)?.reshape((b, 1, 1, l))?;
        for layer in &self.layers {
            x = layer.forward(&x, &c, &mask_bias, &mut train)?;
        }
        let training = train.is_some();
        let x = self.ln_f.forward(&x, training)?;
        // Attention pooling with a context query, plus mean pooling.
        let pq = self.pool_query.forward(&c)?.unsqueeze(2)?;
        let pool_scores = (x.matmul(&pq)?.squeeze(2)? * (1.0 / (d as f64).sqrt()))?
            .broadcast_add(&batch.mask.affine(1e4, -1e4)?)?;
        let w = softmax(&pool_scores, training)?.unsqueeze(1)?;
        let attn_pool = w.matmul(&x)?.squeeze(1)?;
        let m = batch.mask.unsqueeze(2)?;
        let mean_pool = x
            .broadcast_mul(&m)?
            .sum(1)?
            .broadcast_div(&batch.mask.sum_keepdim(1)?)?;
        let mut feat = Tensor::cat(&[&attn_pool, &mean_pool, &c], D::Minus1)?;
        if let Some(t) = train {
            feat = dropout(&feat, t.dropout, &mut t.rng)?;
        }
        self.head.forward(&feat)?.to_dtype(DType::F32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    fn net(cfg: &ModelConfig) -> (VarMap, IntentNet) {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let n = IntentNet::new(cfg, vb).expect("fresh variables of a valid config");
        (vm, n)
    }

    #[test]
    fn forward_shapes_for_ragged_batches_with_and_without_prompt() {
        let cfg = ModelConfig::small(50, 15);
        let (_vm, n) = net(&cfg);
        let replies: [&[u32]; 3] = [&[5, 6, 7], &[8], &[9, 10, 11, 12, 13]];
        let prompts: [&[u32]; 3] = [&[], &[20, 21], &[]];
        let b = Batch::new(&replies, &prompts, &[None, Some(9), Some(23)], &Device::Cpu)
            .expect("valid batch");
        let logits = n.forward(&b, None).expect("forward");
        assert_eq!(logits.dims(), &[3, 15]);
        let mut t = Train::new(0.1, 1);
        assert_eq!(
            n.forward(&b, Some(&mut t)).expect("train forward").dims(),
            &[3, 15]
        );
    }

    #[test]
    fn padding_does_not_change_a_reply_s_logits() {
        let cfg = ModelConfig::small(50, 15);
        let (_vm, n) = net(&cfg);
        let alone = Batch::new(&[&[5, 6]], &[&[7]], &[Some(10)], &Device::Cpu).expect("batch");
        let padded = Batch::new(
            &[&[5, 6], &[1, 2, 3, 4, 5, 6]],
            &[&[7], &[]],
            &[Some(10), None],
            &Device::Cpu,
        )
        .expect("batch");
        let a: Vec<f32> = n
            .forward(&alone, None)
            .and_then(|t| t.get(0)?.to_vec1())
            .expect("a");
        let p: Vec<f32> = n
            .forward(&padded, None)
            .and_then(|t| t.get(0)?.to_vec1())
            .expect("p");
        for (x, y) in a.iter().zip(&p) {
            assert!((x - y).abs() < 1e-4, "{a:?} vs {p:?}");
        }
    }

    #[test]
    fn the_prompt_changes_the_output() {
        let cfg = ModelConfig::small(50, 15);
        let (_vm, n) = net(&cfg);
        let b = Batch::new(
            &[&[5, 6], &[5, 6]],
            &[&[30, 31], &[40]],
            &[None, None],
            &Device::Cpu,
        )
        .expect("batch");
        let l = n.forward(&b, None).expect("forward");
        let diff = (l.get(0).expect("row") - l.get(1).expect("row"))
            .and_then(|t| t.abs()?.sum_all()?.to_scalar::<f32>())
            .expect("diff");
        assert!(diff > 1e-4, "context must reach the logits, diff {diff}");
    }

    #[test]
    fn bad_batches_and_configs_are_errors() {
        assert!(Batch::new(&[], &[], &[], &Device::Cpu).is_err());
        let mut cfg = ModelConfig::small(50, 15);
        cfg.n_heads = 5;
        let vm = VarMap::new();
        assert!(
            IntentNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).is_err()
        );
    }
}
