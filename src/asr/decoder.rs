//! Whisper's text decoder with a key/value cache, on candle.
//!
//! `candle_transformers`' Whisper decoder recomputes self-attention over the whole token
//! sequence at every step (it caches only the cross-attention), which makes a 20-token reply
//! with a 12-token prompt cost ~30× the necessary work. This decoder keeps the weights
//! immutable and shareable (one copy for every pool worker) and puts the per-utterance caches
//! in a [`DecoderState`]: cross-attention keys/values computed once from the encoder output,
//! self-attention keys/values appended one token at a time. Matrices are f32 or q8_0
//! (quantised at load from the f32 checkpoint). Depends on candle only.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

/// A linear layer whose matrix is f32 or q8_0.
#[derive(Debug, Clone)]
struct Linear {
    w: QMatMul,
    b: Option<Tensor>,
}

impl Linear {
    fn load(
        vb: &VarBuilder,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
        q8: bool,
    ) -> candle_core::Result<Self> {
        let w = vb.get((out_dim, in_dim), "weight")?;
        let w = if q8 && in_dim.is_multiple_of(32) {
            QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0)?)?
        } else {
            QMatMul::Tensor(w)
        };
        let b = if bias {
            Some(vb.get(out_dim, "bias")?)
        } else {
            None
        };
        Ok(Self { w, b })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = self.w.forward(x)?;
        match &self.b {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

fn layer_norm(vb: &VarBuilder, d: usize) -> candle_core::Result<LayerNorm> {
    Ok(LayerNorm::new(
        vb.get(d, "weight")?,
        vb.get(d, "bias")?,
        1e-5,
    ))
}

#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
}

impl Attention {
    fn load(vb: &VarBuilder, d: usize, q8: bool) -> candle_core::Result<Self> {
        Ok(Self {
            q: Linear::load(&vb.pp("q_proj"), d, d, true, q8)?,
            k: Linear::load(&vb.pp("k_proj"), d, d, false, q8)?,
            v: Linear::load(&vb.pp("v_proj"), d, d, true, q8)?,
            out: Linear::load(&vb.pp("out_proj"), d, d, true, q8)?,
        })
    }
}

#[derive(Debug, Clone)]
struct Layer {
    self_attn: Attention,
    self_ln: LayerNorm,
    cross_attn: Attention,
    cross_ln: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    mlp_ln: LayerNorm,
}

/// The decoder's weights; immutable, shared by all workers.
#[derive(Debug, Clone)]
pub struct TextDecoder {
    embed: Tensor,
    /// The output projection (the token embedding, tied): f32, or q8_0 with the vocabulary
    /// padded to a multiple of 16 rows so candle's repacked x86 GEMV kernels take it.
    logits_w: QMatMul,
    vocab: usize,
    positions: Tensor,
    layers: Vec<Layer>,
    ln: LayerNorm,
    n_head: usize,
    d_model: usize,
}

/// Per-utterance caches.
#[derive(Debug, Clone)]
pub struct DecoderState {
    cross_kv: Vec<(Tensor, Tensor)>,
    self_kv: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl DecoderState {
    /// Tokens consumed so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl TextDecoder {
    /// Loads `model.decoder.*` (Hugging Face names) from `vb`.
    pub fn load(
        vb: &VarBuilder,
        d_model: usize,
        n_head: usize,
        n_layers: usize,
        vocab: usize,
        n_ctx: usize,
        q8: bool,
    ) -> candle_core::Result<Self> {
        let vb = vb.pp("model.decoder");
        let layers = (0..n_layers)
            .map(|i| {
                let l = vb.pp(format!("layers.{i}"));
                Ok(Layer {
                    self_attn: Attention::load(&l.pp("self_attn"), d_model, q8)?,
                    self_ln: layer_norm(&l.pp("self_attn_layer_norm"), d_model)?,
                    cross_attn: Attention::load(&l.pp("encoder_attn"), d_model, q8)?,
                    cross_ln: layer_norm(&l.pp("encoder_attn_layer_norm"), d_model)?,
                    fc1: Linear::load(&l.pp("fc1"), d_model, 4 * d_model, true, q8)?,
                    fc2: Linear::load(&l.pp("fc2"), 4 * d_model, d_model, true, q8)?,
                    mlp_ln: layer_norm(&l.pp("final_layer_norm"), d_model)?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let embed = vb.get((vocab, d_model), "embed_tokens.weight")?;
        let logits_w = if q8 && d_model.is_multiple_of(32) {
            let padded = vocab.next_multiple_of(16);
            let w = if padded > vocab {
                let zeros =
                    Tensor::zeros((padded - vocab, d_model), embed.dtype(), embed.device())?;
                Tensor::cat(&[&embed, &zeros], 0)?
            } else {
                embed.clone()
            };
            QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0)?)?
        } else {
            QMatMul::Tensor(embed.clone())
        };
        Ok(Self {
            embed,
            logits_w,
            vocab,
            positions: vb.get((n_ctx, d_model), "embed_positions.weight")?,
            layers,
            ln: layer_norm(&vb.pp("layer_norm"), d_model)?,
            n_head,
            d_model,
        })
    }

    /// Maximum tokens (prompt + output) the position table allows.
    pub fn max_tokens(&self) -> usize {
        self.positions.dims().first().copied().unwrap_or(0)
    }

    fn heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, n, _) = x.dims3()?;
        x.reshape((b, n, self.n_head, self.d_model / self.n_head))?
            .transpose(1, 2)?
            .contiguous()
    }

    fn merge(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, _, n, _) = x.dims4()?;
        x.transpose(1, 2)?.reshape((b, n, self.d_model))
    }

    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let scale = 1.0 / ((self.d_model / self.n_head) as f64).sqrt();
        let mut w = (q.matmul(&k.t()?)? * scale)?;
        if let Some(m) = mask {
            w = w.broadcast_add(m)?;
        }
        let w = candle_nn::ops::softmax_last_dim(&w)?;
        self.merge(&w.matmul(v)?)
    }

    /// Caches for a new utterance: cross-attention keys/values from the encoder output.
    pub fn start(&self, xa: &Tensor) -> candle_core::Result<DecoderState> {
        let cross_kv = self
            .layers
            .iter()
            .map(|l| {
                let k = self.heads(&l.cross_attn.k.forward(xa)?)?;
                let v = self.heads(&l.cross_attn.v.forward(xa)?)?;
                Ok((k, v))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(DecoderState {
            self_kv: vec![None; self.layers.len()],
            cross_kv,
            len: 0,
        })
    }

    /// Feeds `tokens` after those already in `state`; returns the final-norm hidden states
    /// `(1, tokens.len(), d_model)`.
    pub fn step(&self, state: &mut DecoderState, tokens: &[u32]) -> candle_core::Result<Tensor> {
        let n = tokens.len();
        let offset = state.len;
        if offset + n > self.max_tokens() {
            candle_core::bail!(
                "decoder context full: {} + {n} tokens > {}",
                offset,
                self.max_tokens()
            );
        }
        let dev = self.embed.device();
        let ids = Tensor::new(tokens, dev)?;
        let mut x = self
            .embed
            .index_select(&ids, 0)?
            .broadcast_add(&self.positions.narrow(0, offset, n)?)?
            .unsqueeze(0)?;
        // Causal mask over (new tokens) × (all tokens); a single new token sees everything.
        let mask = if n > 1 {
            let total = offset + n;
            let m: Vec<f32> = (0..n)
                .flat_map(|i| {
                    (0..total).map(move |j| {
                        if j > offset + i {
                            f32::NEG_INFINITY
                        } else {
                            0.0
                        }
                    })
                })
                .collect();
            Some(Tensor::from_vec(m, (n, total), dev)?)
        } else {
            None
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.self_ln.forward(&x)?;
            let q = self.heads(&layer.self_attn.q.forward(&h)?)?;
            let k = self.heads(&layer.self_attn.k.forward(&h)?)?;
            let v = self.heads(&layer.self_attn.v.forward(&h)?)?;
            let (k, v) = match state.self_kv[i].take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            let a = self.attend(&q, &k, &v, mask.as_ref())?;
            state.self_kv[i] = Some((k, v));
            x = (x + layer.self_attn.out.forward(&a)?)?;

            let h = layer.cross_ln.forward(&x)?;
            let q = self.heads(&layer.cross_attn.q.forward(&h)?)?;
            let (ck, cv) = &state.cross_kv[i];
            let a = self.attend(&q, ck, cv, None)?;
            x = (x + layer.cross_attn.out.forward(&a)?)?;

            let h = layer.mlp_ln.forward(&x)?;
            let h = layer.fc2.forward(&layer.fc1.forward(&h)?.gelu()?)?;
            x = (x + h)?;
        }
        state.len += n;
        self.ln.forward(&x)
    }

    /// Turns a single-sequence state (after the prompt) into `beams` identical rows for
    /// [`Self::step_beams`].
    pub fn expand(&self, state: &DecoderState, beams: usize) -> candle_core::Result<DecoderState> {
        let rep = |t: &Tensor| -> candle_core::Result<Tensor> {
            let mut dims = t.dims().to_vec();
            dims[0] = beams;
            t.broadcast_as(dims)?.contiguous()
        };
        Ok(DecoderState {
            cross_kv: state
                .cross_kv
                .iter()
                .map(|(k, v)| Ok((rep(k)?, rep(v)?)))
                .collect::<candle_core::Result<Vec<_>>>()?,
            self_kv: state
                .self_kv
                .iter()
                .map(|kv| match kv {
                    Some((k, v)) => Ok(Some((rep(k)?, rep(v)?))),
                    None => Ok(None),
                })
                .collect::<candle_core::Result<Vec<_>>>()?,
            len: state.len,
        })
    }

    /// Keeps the self-attention caches of the rows in `order` (row `i` of the new state is
    /// row `order[i]` of the old): the beams that survived a step, in their new order; a row
    /// may be kept more than once.
    pub fn reorder(&self, state: &mut DecoderState, order: &[u32]) -> candle_core::Result<()> {
        let idx = Tensor::new(order, self.embed.device())?;
        for kv in &mut state.self_kv {
            if let Some((k, v)) = kv.take() {
                *kv = Some((k.index_select(&idx, 0)?, v.index_select(&idx, 0)?));
            }
        }
        for (k, v) in &mut state.cross_kv {
            *k = copies(k, order.len())?;
            *v = copies(v, order.len())?;
        }
        Ok(())
    }

    /// Feeds one token per beam (row `i` of the state gets `tokens[i]`); returns hidden
    /// states `(beams, 1, d_model)`. The weights are read once for all beams.
    pub fn step_beams(
        &self,
        state: &mut DecoderState,
        tokens: &[u32],
    ) -> candle_core::Result<Tensor> {
        let offset = state.len;
        if offset + 1 > self.max_tokens() {
            candle_core::bail!(
                "decoder context full: {offset} + 1 tokens > {}",
                self.max_tokens()
            );
        }
        let dev = self.embed.device();
        let ids = Tensor::new(tokens, dev)?;
        let mut x = self
            .embed
            .index_select(&ids, 0)?
            .broadcast_add(&self.positions.narrow(0, offset, 1)?)?
            .unsqueeze(1)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.self_ln.forward(&x)?;
            let q = self.heads(&layer.self_attn.q.forward(&h)?)?;
            let k = self.heads(&layer.self_attn.k.forward(&h)?)?;
            let v = self.heads(&layer.self_attn.v.forward(&h)?)?;
            let (k, v) = match state.self_kv[i].take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            let a = self.attend(&q, &k, &v, None)?;
            state.self_kv[i] = Some((k, v));
            x = (x + layer.self_attn.out.forward(&a)?)?;

            let h = layer.cross_ln.forward(&x)?;
            let q = self.heads(&layer.cross_attn.q.forward(&h)?)?;
            let (ck, cv) = &state.cross_kv[i];
            let a = self.attend(&q, ck, cv, None)?;
            x = (x + layer.cross_attn.out.forward(&a)?)?;

            let h = layer.mlp_ln.forward(&x)?;
            let h = layer.fc2.forward(&layer.fc1.forward(&h)?.gelu()?)?;
            x = (x + h)?;
        }
        state.len += 1;
        self.ln.forward(&x)
    }

    /// Vocabulary logits of every row of `(rows, 1, d_model)` hidden states.
    pub fn logits_rows(&self, hidden: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
        let rows = self
            .logits_w
            .forward(&hidden.contiguous()?)?
            .squeeze(1)?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?;
        Ok(rows
            .into_iter()
            .map(|mut r| {
                r.truncate(self.vocab);
                r
            })
            .collect())
    }

    /// Vocabulary logits for position `pos` of hidden states from [`Self::step`].
    pub fn logits(&self, hidden: &Tensor, pos: usize) -> candle_core::Result<Vec<f32>> {
        let h = hidden.narrow(1, pos, 1)?.contiguous()?;
        let mut v = self
            .logits_w
            .forward(&h)?
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?;
        v.truncate(self.vocab);
        Ok(v)
    }
}

/// `rows` rows of a cache whose rows are identical copies (the cross-attention keys and
/// values of one utterance): fewer beams use fewer of them, more beams get more copies of
/// the first.
fn copies(t: &Tensor, rows: usize) -> candle_core::Result<Tensor> {
    match t.dim(0)? {
        n if n > rows => t.narrow(0, 0, rows),
        n if n < rows => {
            let mut dims = t.dims().to_vec();
            dims[0] = rows;
            t.narrow(0, 0, 1)?.broadcast_as(dims)?.contiguous()
        }
        _ => Ok(t.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_rows_narrow_and_grow_to_the_beams_kept() -> candle_core::Result<()> {
        let row = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let two = Tensor::new(&[row, row], &candle_core::Device::Cpu)?.reshape((2, 1, 2, 3))?;
        let one = copies(&two, 1)?;
        assert_eq!(one.dims(), &[1, 1, 2, 3]);
        let five = copies(&two, 5)?;
        assert_eq!(five.dims(), &[5, 1, 2, 3]);
        for r in 0..5 {
            assert_eq!(five.get(r)?.flatten_all()?.to_vec1::<f32>()?, row);
        }
        assert_eq!(copies(&two, 2)?.dims(), two.dims());
        Ok(())
    }
}
