//! The decode pool shared by all calls: N blocking worker threads, each with its own
//! [`super::engine::AsrEngine`] over shared weights, fed by one bounded queue. `try_submit`
//! never blocks: when the queue is full it returns [`SubmitError::Overloaded`] so the async
//! media path can degrade (reprompt, hand over to an agent) instead of stalling. Counters in
//! [`PoolMetrics`] feed `/metrics`. Owns the worker threads; depends on the configured engine and tokio's
//! oneshot channel (to hand results back to async callers).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use super::engine::AsrModel;
use super::recognizer::{Hypothesis, RecognizeOptions, Recognizer};
use super::whisper::AsrError;

/// Why a segment was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("ASR overloaded: {queued} segments already waiting (queue capacity {capacity})")]
    Overloaded { queued: usize, capacity: usize },
    #[error("ASR pool is shut down")]
    ShutDown,
}

/// Why a submitted segment produced no hypothesis.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(transparent)]
    Asr(#[from] AsrError),
    #[error("ASR worker stopped before answering")]
    WorkerGone,
}

/// Pool counters; read with [`PoolMetrics::snapshot`].
#[derive(Debug, Default)]
pub struct PoolMetrics {
    submitted: AtomicU64,
    rejected: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    queued: AtomicUsize,
    busy: AtomicUsize,
    decode_ms_total: AtomicU64,
    queue_wait_ms_max: AtomicU64,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MetricsSnapshot {
    pub submitted: u64,
    pub rejected: u64,
    pub completed: u64,
    pub failed: u64,
    pub queued: usize,
    pub busy: usize,
    pub decode_ms_total: u64,
    pub queue_wait_ms_max: u64,
}

impl PoolMetrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            submitted: self.submitted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            busy: self.busy.load(Ordering::Relaxed),
            decode_ms_total: self.decode_ms_total.load(Ordering::Relaxed),
            queue_wait_ms_max: self.queue_wait_ms_max.load(Ordering::Relaxed),
        }
    }
}

struct Job {
    samples: Vec<f32>,
    options: RecognizeOptions,
    enqueued: Instant,
    reply: oneshot::Sender<Result<Hypothesis, AsrError>>,
}

/// A pending result.
#[derive(Debug)]
pub struct Ticket {
    rx: oneshot::Receiver<Result<Hypothesis, AsrError>>,
}

impl Ticket {
    /// Awaits the hypothesis from async code (the call driver).
    pub async fn wait(self) -> Result<Hypothesis, PoolError> {
        self.rx
            .await
            .map_err(|_| PoolError::WorkerGone)?
            .map_err(PoolError::from)
    }

    /// Blocks for the hypothesis (CLI, benches; never on the reactor).
    pub fn wait_blocking(self) -> Result<Hypothesis, PoolError> {
        self.rx
            .blocking_recv()
            .map_err(|_| PoolError::WorkerGone)?
            .map_err(PoolError::from)
    }
}

/// Pool sizing. Each worker decodes on its own thread; give candle's kernels one thread per
/// decode ([`super::whisper::set_kernel_threads`]`(1)` at process start, or `[asr] threads = 1`
/// through [`super::config::AsrConfig::load`]) so two workers on two cores do not contend
/// for candle's spinning kernel pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    pub workers: usize,
    /// Segments allowed to wait; beyond this `try_submit` answers `Overloaded`.
    pub queue_capacity: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            workers: cores,
            queue_capacity: cores * 2,
        }
    }
}

/// The shared decode pool.
#[derive(Debug)]
pub struct DecodePool {
    tx: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    metrics: Arc<PoolMetrics>,
    capacity: usize,
}

fn worker(model: &AsrModel, rx: &Mutex<Receiver<Job>>, metrics: &PoolMetrics) {
    let mut engine = model.engine();
    loop {
        let job = {
            // A worker that panicked while holding the lock poisons it; the others carry on
            // with the receiver, which is still consistent (recv is atomic).
            let guard = rx.lock().unwrap_or_else(|e| e.into_inner());
            guard.recv()
        };
        let Ok(job) = job else { return };
        metrics.queued.fetch_sub(1, Ordering::Relaxed);
        metrics.busy.fetch_add(1, Ordering::Relaxed);
        let waited = job.enqueued.elapsed().as_millis() as u64;
        metrics
            .queue_wait_ms_max
            .fetch_max(waited, Ordering::Relaxed);
        let result = engine.recognize(&job.samples, &job.options);
        metrics.busy.fetch_sub(1, Ordering::Relaxed);
        match &result {
            Ok(h) => {
                metrics.completed.fetch_add(1, Ordering::Relaxed);
                metrics
                    .decode_ms_total
                    .fetch_add(h.decode_ms, Ordering::Relaxed);
            }
            Err(e) => {
                metrics.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "ASR decode failed");
            }
        }
        // The caller may have hung up; its result is then simply dropped.
        let _ = job.reply.send(result);
    }
}

impl DecodePool {
    /// Starts `config.workers` threads over `model`.
    pub fn new(model: &AsrModel, config: PoolConfig) -> std::io::Result<Self> {
        let capacity = config.queue_capacity.max(1);
        let (tx, rx) = mpsc::sync_channel::<Job>(capacity);
        let rx = Arc::new(Mutex::new(rx));
        let metrics = Arc::new(PoolMetrics::default());
        let mut workers = Vec::new();
        for i in 0..config.workers.max(1) {
            let (model, rx, metrics) = (model.clone(), Arc::clone(&rx), Arc::clone(&metrics));
            workers.push(
                std::thread::Builder::new()
                    .name(format!("asr-{i}"))
                    .spawn(move || worker(&model, &rx, &metrics))?,
            );
        }
        Ok(Self {
            tx: Some(tx),
            workers,
            metrics,
            capacity,
        })
    }

    /// Queues a segment without blocking; `Overloaded` when the queue is full.
    pub fn try_submit(
        &self,
        samples: Vec<f32>,
        options: RecognizeOptions,
    ) -> Result<Ticket, SubmitError> {
        let tx = self.tx.as_ref().ok_or(SubmitError::ShutDown)?;
        let (reply, rx) = oneshot::channel();
        self.metrics.queued.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            samples,
            options,
            enqueued: Instant::now(),
            reply,
        };
        match tx.try_send(job) {
            Ok(()) => {
                self.metrics.submitted.fetch_add(1, Ordering::Relaxed);
                Ok(Ticket { rx })
            }
            Err(e) => {
                let queued = self.metrics.queued.fetch_sub(1, Ordering::Relaxed) - 1;
                match e {
                    TrySendError::Full(_) => {
                        self.metrics.rejected.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(queued, "ASR pool overloaded; segment rejected");
                        Err(SubmitError::Overloaded {
                            queued,
                            capacity: self.capacity,
                        })
                    }
                    TrySendError::Disconnected(_) => Err(SubmitError::ShutDown),
                }
            }
        }
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    pub fn workers(&self) -> usize {
        self.workers.len()
    }
}

impl Drop for DecodePool {
    fn drop(&mut self) {
        // Closing the queue lets each worker finish its current job and exit.
        self.tx.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
