//! Training the intent model from a corpus, and fine-tuning a trained model incrementally on
//! newly labelled replies (supervisor corrections) with replay of a sample of the base corpus
//! so it does not forget. Also owns calibration (temperature scaling on the validation split)
//! and writing a model directory. Deterministic for a given corpus and seed. Depends on the
//! other `nlu` files, candle and indicatif (progress on a terminal only).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::corpus::{self, Example};
use super::eval::{self, EvalReport};
use super::infer::{IntentModel, Manifest, FORMAT};
use super::model::{Batch, IntentNet, ModelConfig, Train};
use super::tokenizer::Tokenizer;
use super::{Intent, NluError};

/// Knobs of a training run. `Default` is what `aicall train intent` uses.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub max_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Epochs without a better validation score before stopping.
    pub patience: usize,
    pub val_fraction: f64,
    pub seed: u64,
    pub dropout: f32,
    /// Fraction of examples shown without their prompt, so the model also works without one.
    pub prompt_dropout: f64,
    /// Fraction of reply tokens replaced by the unknown token, so no single character decides.
    pub token_dropout: f64,
    pub abstain_below: f32,
    /// Architecture; `None` is [`ModelConfig::small`].
    pub d_model: Option<usize>,
    pub progress: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            max_epochs: 40,
            batch_size: 32,
            learning_rate: 2e-3,
            patience: 5,
            val_fraction: 0.1,
            seed: 20261123,
            dropout: 0.1,
            prompt_dropout: 0.1,
            token_dropout: 0.1,
            abstain_below: 0.4,
            d_model: None,
            progress: true,
        }
    }
}

/// An example turned into ids.
#[derive(Debug, Clone)]
struct Encoded {
    reply: Vec<u32>,
    prompt: Vec<u32>,
    hour: Option<u8>,
    label: u32,
}

fn encode_all(tok: &Tokenizer, cfg: &ModelConfig, ex: &[Example]) -> Vec<Encoded> {
    ex.iter()
        .filter_map(|e| {
            let reply = tok.encode(&e.text, cfg.max_len, false).ids;
            // A reply of only punctuation or symbols has no tokens: nothing to learn from.
            (!reply.is_empty()).then(|| Encoded {
                reply,
                prompt: tok.encode(&e.prompt, cfg.prompt_len, true).ids,
                hour: e.hour,
                label: e.label.index() as u32,
            })
        })
        .collect()
}

fn batch_of(items: &[&Encoded], drop_prompt: &[bool]) -> candle_core::Result<(Batch, Tensor)> {
    let replies: Vec<&[u32]> = items.iter().map(|e| e.reply.as_slice()).collect();
    let prompts: Vec<&[u32]> = items
        .iter()
        .zip(drop_prompt)
        .map(|(e, &d)| if d { &[][..] } else { e.prompt.as_slice() })
        .collect();
    let hours: Vec<Option<u8>> = items.iter().map(|e| e.hour).collect();
    let labels: Vec<u32> = items.iter().map(|e| e.label).collect();
    let n = labels.len();
    Ok((
        Batch::new(&replies, &prompts, &hours, &Device::Cpu)?,
        Tensor::from_vec(labels, n, &Device::Cpu)?,
    ))
}

/// Raw (uncalibrated) logits for every example, in batches.
fn all_logits(net: &IntentNet, data: &[Encoded]) -> candle_core::Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(128) {
        let items: Vec<&Encoded> = chunk.iter().collect();
        let (b, _) = batch_of(&items, &vec![false; items.len()])?;
        out.extend(net.forward(&b, None)?.to_vec2::<f32>()?);
    }
    Ok(out)
}

fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f32> = logits
        .iter()
        .map(|&l| ((l - m) / temperature).exp())
        .collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

fn accuracy(logits: &[Vec<f32>], data: &[Encoded]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let hits = logits
        .iter()
        .zip(data)
        .filter(|(l, e)| argmax(l) as u32 == e.label)
        .count();
    hits as f64 / data.len() as f64
}

fn nll(logits: &[Vec<f32>], data: &[Encoded], t: f32) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(data)
        .map(|(l, e)| -(softmax(l, t)[e.label as usize].max(1e-12) as f64).ln())
        .sum();
    total / data.len().max(1) as f64
}

/// Expected calibration error over 10 equal-width confidence bins.
pub fn expected_calibration_error(confidences: &[f32], correct: &[bool]) -> f64 {
    let mut bins = [(0usize, 0f64, 0f64); 10];
    for (&c, &ok) in confidences.iter().zip(correct) {
        let b = ((c * 10.0) as usize).min(9);
        bins[b].0 += 1;
        bins[b].1 += c as f64;
        bins[b].2 += ok as u8 as f64;
    }
    let n = confidences.len().max(1) as f64;
    bins.iter()
        .filter(|b| b.0 > 0)
        .map(|&(k, conf, acc)| (k as f64 / n) * ((conf - acc) / k as f64).abs())
        .sum()
}

fn ece_at(logits: &[Vec<f32>], data: &[Encoded], t: f32) -> f64 {
    let (conf, ok): (Vec<f32>, Vec<bool>) = logits
        .iter()
        .zip(data)
        .map(|(l, e)| {
            let p = softmax(l, t);
            let b = argmax(&p);
            (p[b], b as u32 == e.label)
        })
        .unzip();
    expected_calibration_error(&conf, &ok)
}

/// Temperature minimising the validation negative log-likelihood (grid search: one scalar,
/// cheap, and no risk of a diverging optimiser).
pub fn fit_temperature(logits: &[Vec<f32>], labels: &[u32]) -> f32 {
    let data: Vec<Encoded> = labels
        .iter()
        .map(|&label| Encoded {
            reply: vec![],
            prompt: vec![],
            hour: None,
            label,
        })
        .collect();
    (0..=235)
        .map(|i| 0.3 + i as f32 * 0.02)
        .min_by(|&a, &b| nll(logits, &data, a).total_cmp(&nll(logits, &data, b)))
        .unwrap_or(1.0)
}

/// Half-width of the uniform distribution that replaces a variable's initial values: the
/// spread candle's initialiser for that variable has, from its name and shape alone (not from
/// the values drawn, which differ between processes): Kaiming-normal linear weights
/// (std √2/√fan_in), linear biases (±1/√fan_in), token embeddings (std 1) and positions
/// (std 0.02). `None` for a variable this model does not create.
fn init_spread(name: &str, dims: &[usize], all: &HashMap<String, Vec<usize>>) -> Option<f32> {
    let sqrt3 = 3f32.sqrt();
    if name == "pos" {
        return Some(0.02 * sqrt3);
    }
    if name == "embed.weight" {
        return Some(sqrt3);
    }
    if let Some(layer) = name.strip_suffix(".bias") {
        let fan_in = *all.get(&format!("{layer}.weight"))?.get(1)?;
        return Some(1.0 / (fan_in as f32).sqrt());
    }
    if name.ends_with(".weight") && dims.len() == 2 {
        return Some(2f32.sqrt() / (dims[1] as f32).sqrt() * sqrt3);
    }
    None
}

/// Replaces candle's unseeded initial values by seeded ones of the same spread, so a training
/// run is reproducible from its seed (`TrainOptions::seed`). Constant initialisers (layer-norm
/// gains and offsets) are deterministic already and kept.
fn seed_variables(vm: &VarMap, seed: u64) -> candle_core::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let data = vm
        .data()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let shapes: HashMap<String, Vec<usize>> = data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().dims().to_vec()))
        .collect();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let values = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        if values.windows(2).all(|w| w[0] == w[1]) {
            continue;
        }
        let Some(a) = init_spread(name, var.as_tensor().dims(), &shapes) else {
            return Err(candle_core::Error::Msg(format!(
                "no seeded initialiser for model variable {name}"
            )));
        };
        let fresh: Vec<f32> = (0..values.len()).map(|_| rng.random_range(-a..a)).collect();
        var.set(&Tensor::from_vec(
            fresh,
            var.as_tensor().shape(),
            &Device::Cpu,
        )?)?;
    }
    Ok(())
}

fn snapshot(vm: &VarMap) -> candle_core::Result<HashMap<String, Tensor>> {
    let data = vm
        .data()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    data.iter()
        .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
        .collect()
}

fn restore(vm: &VarMap, tensors: &HashMap<String, Tensor>) -> candle_core::Result<()> {
    let data = vm
        .data()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (k, var) in data.iter() {
        match tensors.get(k) {
            Some(t) => var.set(t)?,
            None => candle_core::bail!("no saved value for variable {k}"),
        }
    }
    Ok(())
}

fn progress_bar(total: u64, show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Runs epochs of mini-batch AdamW over `train` (mixed with `replay`), stopping early when
/// `score` (higher is better, measured after each epoch) stops improving, and leaves the best
/// weights in `vm`. Returns (epochs run, best epoch, best score).
#[allow(clippy::too_many_arguments)]
fn fit(
    net: &IntentNet,
    vm: &VarMap,
    train: &[Encoded],
    replay: &[Encoded],
    score: &dyn Fn(&IntentNet) -> candle_core::Result<f64>,
    opts: &TrainOptions,
    epochs: usize,
    patience: usize,
) -> Result<(usize, usize, f64), NluError> {
    let mut opt = AdamW::new(
        vm.all_vars(),
        ParamsAdamW {
            lr: opts.learning_rate,
            weight_decay: 0.01,
            ..Default::default()
        },
    )?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed ^ 0x5eed);
    let mut dropout = Train::new(opts.dropout, opts.seed ^ 0xd0);
    // With replay, each micro-batch is a quarter new data and three quarters base sample.
    let new_per_batch = if replay.is_empty() {
        opts.batch_size
    } else {
        (opts.batch_size / 4).max(1)
    };
    let steps = train.len().div_ceil(new_per_batch);
    let bar = progress_bar((steps * epochs) as u64, opts.progress);
    let mut best = (f64::NEG_INFINITY, 0usize, snapshot(vm)?);
    let mut since_best = 0;
    let mut run = 0;
    for epoch in 1..=epochs {
        run = epoch;
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let mut loss_sum = 0f64;
        for chunk in order.chunks(new_per_batch) {
            let mut items: Vec<&Encoded> = chunk.iter().map(|&i| &train[i]).collect();
            if !replay.is_empty() {
                for _ in 0..(opts.batch_size - items.len()) {
                    items.push(&replay[rng.random_range(0..replay.len())]);
                }
            }
            let drop: Vec<bool> = items
                .iter()
                .map(|_| rng.random_bool(opts.prompt_dropout))
                .collect();
            let noisy: Vec<Encoded> = items
                .iter()
                .map(|e| {
                    let mut e = (*e).clone();
                    for id in e.reply.iter_mut() {
                        if rng.random_bool(opts.token_dropout) {
                            *id = super::tokenizer::UNK;
                        }
                    }
                    e
                })
                .collect();
            let items: Vec<&Encoded> = noisy.iter().collect();
            let (batch, labels) = batch_of(&items, &drop)?;
            let logits = net.forward(&batch, Some(&mut dropout))?;
            let loss = candle_nn::loss::cross_entropy(&logits, &labels)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            bar.inc(1);
        }
        let acc = score(net)?;
        let line = format!(
            "epoch {epoch:>2} loss {:.4} score {acc:.4}",
            loss_sum / steps.max(1) as f64
        );
        if bar.is_hidden() {
            // No terminal (a log file, --quiet): the epochs still show how training goes.
            eprintln!("{line}");
        } else {
            bar.println(&line);
        }
        bar.set_message(line);
        if acc > best.0 {
            best = (acc, epoch, snapshot(vm)?);
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= patience {
                break;
            }
        }
    }
    bar.finish_and_clear();
    restore(vm, &best.2)?;
    Ok((run, best.1, best.0))
}

/// Figures from a training run, printed by `aicall train intent`.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub train_examples: usize,
    pub val_examples: usize,
    pub vocab_size: usize,
    pub parameters: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub val: EvalReport,
    pub temperature: f32,
    pub ece_before: f64,
    pub ece_after: f64,
    pub seconds: f64,
}

impl fmt::Display for TrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "trained on {} examples ({} validation), vocabulary {} tokens, {} parameters",
            self.train_examples, self.val_examples, self.vocab_size, self.parameters
        )?;
        writeln!(
            f,
            "epochs run {} (best {}), {:.1} s",
            self.epochs_run, self.best_epoch, self.seconds
        )?;
        writeln!(
            f,
            "validation accuracy {:.4} macro_f1 {:.4}",
            self.val.accuracy(),
            self.val.macro_f1()
        )?;
        write!(
            f,
            "calibration: temperature {:.2}, ECE {:.4} -> {:.4}",
            self.temperature, self.ece_before, self.ece_after
        )
    }
}

fn parameter_count(vm: &VarMap) -> usize {
    vm.all_vars().iter().map(|v: &Var| v.elem_count()).sum()
}

fn calibrate(net: &IntentNet, val: &[Encoded]) -> Result<(f32, f64, f64), NluError> {
    let logits = all_logits(net, val)?;
    let labels: Vec<u32> = val.iter().map(|e| e.label).collect();
    let t = fit_temperature(&logits, &labels);
    Ok((t, ece_at(&logits, val, 1.0), ece_at(&logits, val, t)))
}

/// Trains a model from scratch on `examples` (the validation split is carved out of them).
pub fn train(
    examples: &[Example],
    opts: &TrainOptions,
) -> Result<(IntentModel, TrainReport), NluError> {
    let started = Instant::now();
    let (train_ex, val_ex) = corpus::split(examples.to_vec(), opts.val_fraction, opts.seed);
    if train_ex.is_empty() || val_ex.is_empty() {
        return Err(NluError::NoData {
            context: "training corpus (needs train and validation)".into(),
        });
    }
    let texts = train_ex
        .iter()
        .flat_map(|e| [e.text.as_str(), e.prompt.as_str()]);
    let tokenizer = Tokenizer::build(texts, 2);
    let mut cfg = ModelConfig::small(tokenizer.vocab_size(), Intent::ALL.len());
    if let Some(d) = opts.d_model {
        cfg.d_model = d;
        cfg.d_ff = 2 * d;
    }
    let train_enc = encode_all(&tokenizer, &cfg, &train_ex);
    let val_enc = encode_all(&tokenizer, &cfg, &val_ex);
    let vm = VarMap::new();
    let net = IntentNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))?;
    seed_variables(&vm, opts.seed)?;
    let val_accuracy = |n: &IntentNet| Ok(accuracy(&all_logits(n, &val_enc)?, &val_enc));
    let (epochs_run, best_epoch, _) = fit(
        &net,
        &vm,
        &train_enc,
        &[],
        &val_accuracy,
        opts,
        opts.max_epochs,
        opts.patience,
    )?;
    let (temperature, ece_before, ece_after) = calibrate(&net, &val_enc)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: 1,
        labels: Intent::ALL.iter().map(|i| i.as_str().to_owned()).collect(),
        vocab: tokenizer.tokens().to_vec(),
        config: cfg,
        temperature,
        abstain_below: opts.abstain_below,
        metrics: serde_json::Value::Null,
    };
    let parameters = parameter_count(&vm);
    let model = IntentModel::from_tensors(snapshot(&vm)?, manifest, Path::new("(memory)"))?;
    let val = eval::evaluate(&model, &val_ex, true);
    let report = TrainReport {
        train_examples: train_enc.len(),
        val_examples: val_enc.len(),
        vocab_size: tokenizer.vocab_size(),
        parameters,
        epochs_run,
        best_epoch,
        val,
        temperature,
        ece_before,
        ece_after,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((model, report))
}

/// Accuracy before and after an incremental fine-tuning run.
#[derive(Debug, Clone)]
pub struct IncrementalReport {
    pub new_examples: usize,
    pub replayed_from: usize,
    /// New-data replies containing characters the frozen vocabulary does not know.
    pub unknown_token_replies: usize,
    pub base_val_before: f64,
    pub base_val_after: f64,
    pub new_before: f64,
    pub new_after: f64,
    pub epochs_run: usize,
    pub temperature: f32,
    pub seconds: f64,
}

impl fmt::Display for IncrementalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fine-tuned on {} new replies with replay from {} base examples, {} epochs, {:.1} s",
            self.new_examples, self.replayed_from, self.epochs_run, self.seconds
        )?;
        if self.unknown_token_replies > 0 {
            writeln!(
                f,
                "note: {} new replies contain characters outside the vocabulary (read as \
                 unknown); retrain from the corpus to extend it",
                self.unknown_token_replies
            )?;
        }
        writeln!(
            f,
            "base validation accuracy {:.4} -> {:.4}",
            self.base_val_before, self.base_val_after
        )?;
        write!(
            f,
            "new data accuracy        {:.4} -> {:.4}",
            self.new_before, self.new_after
        )
    }
}

/// Fine-tunes `base` on `new` examples, mixing every micro-batch with replayed base-corpus
/// examples. `base_corpus` must be the corpus the base was trained on, so that the validation
/// split (same seed) is the one the base never trained on.
pub fn fine_tune(
    base: &IntentModel,
    base_corpus: &[Example],
    new: &[Example],
    opts: &TrainOptions,
) -> Result<(IntentModel, IncrementalReport), NluError> {
    let started = Instant::now();
    let manifest = base.manifest().clone();
    let cfg = manifest.config.clone();
    let tok = base.tokenizer();
    let (base_train, base_val) = corpus::split(base_corpus.to_vec(), opts.val_fraction, opts.seed);
    let new_enc = encode_all(tok, &cfg, new);
    if new_enc.is_empty() {
        return Err(NluError::NoData {
            context: "incremental training file".into(),
        });
    }
    let unknown_token_replies = new
        .iter()
        .filter(|e| {
            tok.encode(&e.text, cfg.max_len, false)
                .ids
                .contains(&super::tokenizer::UNK)
        })
        .count();
    let mut replay = encode_all(tok, &cfg, &base_train);
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed ^ 0x7e91);
    replay.shuffle(&mut rng);
    replay.truncate((new_enc.len() * 20).clamp(512, 4096));
    let val_enc = encode_all(tok, &cfg, &base_val);

    let vm = VarMap::new();
    let net = IntentNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))?;
    restore(&vm, base.weights())?;
    let base_val_before = accuracy(&all_logits(&net, &val_enc)?, &val_enc);
    let new_before = accuracy(&all_logits(&net, &new_enc)?, &new_enc);
    // The epoch kept is the one that learnt the new data best among those that kept the base
    // validation accuracy within one point; a larger drop is penalised hard.
    let guarded = |n: &IntentNet| {
        let base = accuracy(&all_logits(n, &val_enc)?, &val_enc);
        let fresh = accuracy(&all_logits(n, &new_enc)?, &new_enc);
        Ok(fresh + base - 10.0 * (base_val_before - 0.01 - base).max(0.0))
    };
    let (epochs_run, _, _) = fit(
        &net,
        &vm,
        &new_enc,
        &replay,
        &guarded,
        opts,
        opts.max_epochs,
        opts.patience,
    )?;
    let base_val_after = accuracy(&all_logits(&net, &val_enc)?, &val_enc);
    let new_after = accuracy(&all_logits(&net, &new_enc)?, &new_enc);
    let (temperature, _, _) = calibrate(&net, &val_enc)?;
    let mut manifest = manifest;
    manifest.version += 1;
    manifest.temperature = temperature;
    let report = IncrementalReport {
        new_examples: new_enc.len(),
        replayed_from: replay.len(),
        unknown_token_replies,
        base_val_before,
        base_val_after,
        new_before,
        new_after,
        epochs_run,
        temperature,
        seconds: started.elapsed().as_secs_f64(),
    };
    let mut model = IntentModel::from_tensors(snapshot(&vm)?, manifest, Path::new("(memory)"))?;
    // The encoder head learns the new replies too, or its share would outvote the lesson.
    if let Some((encoder, head)) = base.encoder_parts() {
        let tuned = fine_tune_head(&encoder, head, base_corpus, new, opts.seed)?;
        model.set_head(encoder, tuned);
    }
    Ok((model, report))
}

/// The head on the new replies (five times each) and a seeded sample of the base corpus.
fn fine_tune_head(
    encoder: &super::encoder::SentenceEncoder,
    head: &super::head::EncoderHead,
    base_corpus: &[Example],
    new: &[Example],
    seed: u64,
) -> Result<super::head::EncoderHead, NluError> {
    use rayon::prelude::*;
    let mut replay: Vec<&Example> = base_corpus.iter().collect();
    replay.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    replay.truncate((20 * new.len()).clamp(500, 2000));
    let rows: Vec<&Example> = replay
        .into_iter()
        .chain(new.iter().cycle().take(5 * new.len()))
        .collect();
    let x = rows
        .par_iter()
        .map(|e| {
            let prompt = Some(e.prompt.as_str()).filter(|p| !p.trim().is_empty());
            IntentModel::encoder_features(encoder, &e.text, prompt)
        })
        .collect::<Result<Vec<_>, NluError>>()?;
    let y: Vec<usize> = rows.iter().map(|e| e.label.index()).collect();
    head.fine_tune(
        &x,
        &y,
        &super::head::HeadOptions {
            epochs: 3,
            learning_rate: 5e-4,
            seed,
            ..Default::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_scaling_softens_overconfident_logits() {
        // Confident logits that are wrong a third of the time: the fitted temperature is > 1.
        let logits: Vec<Vec<f32>> = (0..30).map(|_| vec![6.0, 0.0, 0.0]).collect();
        let labels: Vec<u32> = (0..30).map(|i| if i % 3 == 0 { 1 } else { 0 }).collect();
        let t = fit_temperature(&logits, &labels);
        assert!(t > 1.5, "t = {t}");
        let p = softmax(&logits[0], t)[0];
        assert!((p - 2.0 / 3.0).abs() < 0.1, "calibrated confidence {p}");
    }

    #[test]
    fn ece_is_zero_when_confidence_matches_accuracy() {
        assert!(expected_calibration_error(&[1.0, 1.0], &[true, true]) < 1e-9);
        assert!((expected_calibration_error(&[0.95, 0.95], &[false, false]) - 0.95).abs() < 1e-6);
    }
}

/// What fitting an encoder head found.
#[derive(Debug, Clone)]
pub struct HeadReport {
    pub examples: usize,
    pub embed_seconds: f64,
    pub fit_seconds: f64,
    /// Accuracy of the head alone on the corpus's validation split.
    pub val_accuracy: f64,
    /// (weight, accuracy on the development rows) for every weight tried.
    pub weights: Vec<(f32, f64)>,
    pub weight: f32,
    pub dev_examples: usize,
}

impl std::fmt::Display for HeadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "encoder head: {} examples embedded in {:.0} s, fitted in {:.0} s; validation \
             accuracy (head alone) {:.4}",
            self.examples, self.embed_seconds, self.fit_seconds, self.val_accuracy
        )?;
        for (w, acc) in &self.weights {
            writeln!(f, "  head weight {w:.1}: development accuracy {acc:.4}")?;
        }
        write!(
            f,
            "head weight {:.1} (best on {} development rows)",
            self.weight, self.dev_examples
        )
    }
}

/// Fits an encoder head for `model` (the transformer, trained on the same corpus): embeds
/// every reply and prompt with `encoder` (in parallel), trains the head on the corpus minus a
/// validation split, then picks the mixing weight that reads `dev` best — development rows
/// written apart from the corpus — and attaches the head to the model.
pub fn train_head(
    model: &mut IntentModel,
    encoder: std::sync::Arc<super::encoder::SentenceEncoder>,
    examples: &[Example],
    dev: &[Example],
    opts: &super::head::HeadOptions,
) -> Result<HeadReport, NluError> {
    use rayon::prelude::*;

    let started = Instant::now();
    let mut texts: Vec<&str> = examples
        .iter()
        .chain(dev)
        .flat_map(|e| [e.text.as_str(), e.prompt.as_str()])
        .filter(|t| !t.trim().is_empty())
        .collect();
    texts.sort_unstable();
    texts.dedup();
    let vectors: HashMap<&str, Vec<f32>> = texts
        .par_iter()
        .map(|t| Ok((*t, encoder.embed(t)?)))
        .collect::<Result<_, NluError>>()?;
    let feats = |e: &Example| {
        // As `IntentModel::probabilities` reads it: the prompt as given, unless blank.
        let p = Some(e.prompt.as_str())
            .filter(|p| !p.trim().is_empty())
            .and_then(|p| vectors.get(p).map(Vec::as_slice));
        let r = vectors.get(e.text.as_str()).map_or(&[][..], Vec::as_slice);
        super::head::features(r, p)
    };
    let embed_seconds = started.elapsed().as_secs_f64();
    let (train_ex, val_ex) = corpus::split(examples.to_vec(), 0.1, opts.seed);
    let usable = |ex: &[Example]| -> (Vec<Vec<f32>>, Vec<usize>) {
        ex.iter()
            .filter(|e| vectors.contains_key(e.text.as_str()))
            .map(|e| (feats(e), e.label.index()))
            .unzip()
    };
    let (x, y) = usable(&train_ex);
    let fit_started = Instant::now();
    let mut head = super::head::EncoderHead::fit(&x, &y, Intent::ALL.len(), opts)?;
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let (vx, vy) = usable(&val_ex);
    let right = head
        .log_probs(&vx)?
        .iter()
        .zip(&vy)
        .filter(|(lp, &t)| argmax(lp) == t)
        .count();
    let val_accuracy = right as f64 / vy.len().max(1) as f64;
    // The mixing weight, on rows written apart from the corpus.
    model.drop_head();
    let (dx, dy) = usable(dev);
    let head_lp = head.log_probs(&dx)?;
    let mut base = Vec::with_capacity(dy.len());
    for e in dev.iter().filter(|e| vectors.contains_key(e.text.as_str())) {
        let prompt = Some(e.prompt.as_str()).filter(|p| !p.trim().is_empty());
        base.push(model.probabilities(&e.text, prompt, e.hour)?.0);
    }
    let weights: Vec<(f32, f64)> = (0..=10)
        .map(|i| {
            let w = i as f32 / 10.0;
            let right = base
                .iter()
                .zip(&head_lp)
                .zip(&dy)
                .filter(|((p, lp), &t)| argmax(&super::head::mix(&p[..], lp, w)) == t)
                .count();
            (w, right as f64 / dy.len().max(1) as f64)
        })
        .collect();
    // Without development rows there is nothing to choose by: an even mix.
    let best = if dy.is_empty() {
        (0.5, 0.0)
    } else {
        weights.iter().fold(
            (0.0f32, -1.0f64),
            |b, &(w, a)| if a > b.1 { (w, a) } else { b },
        )
    };
    head.weight = best.0;
    model.set_head(encoder, head);
    Ok(HeadReport {
        examples: x.len(),
        embed_seconds,
        fit_seconds,
        val_accuracy,
        weights,
        weight: best.0,
        dev_examples: dy.len(),
    })
}
