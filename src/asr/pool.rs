//! The decode pool shared by all calls: N blocking worker threads, each with its own
//! [`super::engine::AsrEngine`] over shared weights, fed by one bounded queue. Submitting
//! never blocks: when the queue is full it returns [`SubmitError::Overloaded`] so the async
//! media path can degrade (reprompt, hand over to an agent) instead of stalling.
//!
//! Decode time is shared fairly between tenants (the campaigns of one service): each tenant
//! has its own FIFO and the workers serve the tenants with work in turn, so a campaign with
//! many talkative callees cannot starve another one's calls. A segment whose caller has
//! stopped waiting (the call ended, or the callee went on and the segment was superseded by
//! a longer one) is skipped rather than decoded.
//!
//! Counters in [`PoolMetrics`] feed `/metrics`. Owns the worker threads; depends on the
//! configured engine and tokio's oneshot channel (to hand results back to async callers).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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
    /// Segments whose caller stopped waiting before a worker took them.
    skipped: AtomicU64,
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
    pub skipped: u64,
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
            skipped: self.skipped.load(Ordering::Relaxed),
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

/// The waiting segments: one FIFO per tenant, served in turn.
#[derive(Default)]
struct FairQueue {
    by_tenant: HashMap<String, VecDeque<Job>>,
    /// Tenants with waiting segments, in serving order.
    turn: VecDeque<String>,
    len: usize,
    closed: bool,
}

impl FairQueue {
    fn push(&mut self, tenant: &str, job: Job) {
        let q = self.by_tenant.entry(tenant.to_owned()).or_default();
        if q.is_empty() {
            self.turn.push_back(tenant.to_owned());
        }
        q.push_back(job);
        self.len += 1;
    }

    /// The oldest segment of the tenant whose turn it is.
    fn pop(&mut self) -> Option<Job> {
        let tenant = self.turn.pop_front()?;
        let q = self.by_tenant.get_mut(&tenant)?;
        let job = q.pop_front();
        if q.is_empty() {
            self.by_tenant.remove(&tenant);
        } else {
            self.turn.push_back(tenant);
        }
        if job.is_some() {
            self.len -= 1;
        }
        job
    }
}

impl std::fmt::Debug for FairQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FairQueue")
            .field("len", &self.len)
            .field("tenants", &self.turn.len())
            .field("closed", &self.closed)
            .finish()
    }
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<FairQueue>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, FairQueue> {
        // A worker that panicked while holding the lock poisons it; the queue itself is
        // still consistent (every change is a whole push or pop).
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next segment for a worker; `None` once the pool is shut down and drained.
    fn next(&self) -> Option<Job> {
        let mut q = self.lock();
        loop {
            if let Some(job) = q.pop() {
                return Some(job);
            }
            if q.closed {
                return None;
            }
            q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The shared decode pool.
#[derive(Debug)]
pub struct DecodePool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    metrics: Arc<PoolMetrics>,
    capacity: usize,
}

fn worker(model: &AsrModel, shared: &Shared, metrics: &PoolMetrics) {
    let mut engine = model.engine();
    while let Some(job) = shared.next() {
        metrics.queued.fetch_sub(1, Ordering::Relaxed);
        if job.reply.is_closed() {
            // Nobody waits for this one any more: the time goes to a segment someone needs.
            metrics.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
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
        let shared = Arc::new(Shared::default());
        let metrics = Arc::new(PoolMetrics::default());
        let mut workers = Vec::new();
        for i in 0..config.workers.max(1) {
            let (model, shared, metrics) =
                (model.clone(), Arc::clone(&shared), Arc::clone(&metrics));
            workers.push(
                std::thread::Builder::new()
                    .name(format!("asr-{i}"))
                    .spawn(move || worker(&model, &shared, &metrics))?,
            );
        }
        Ok(Self {
            shared,
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
        self.submit_for("", samples, options)
    }

    /// Queues a segment of `tenant` (a campaign) without blocking. Tenants with waiting
    /// segments are served in turn; `Overloaded` when the whole queue is full.
    pub fn submit_for(
        &self,
        tenant: &str,
        samples: Vec<f32>,
        options: RecognizeOptions,
    ) -> Result<Ticket, SubmitError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            samples,
            options,
            enqueued: Instant::now(),
            reply,
        };
        {
            let mut q = self.shared.lock();
            if q.closed {
                return Err(SubmitError::ShutDown);
            }
            if q.len >= self.capacity {
                let queued = q.len;
                drop(q);
                self.metrics.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(queued, "ASR pool overloaded; segment rejected");
                return Err(SubmitError::Overloaded {
                    queued,
                    capacity: self.capacity,
                });
            }
            q.push(tenant, job);
        }
        self.metrics.queued.fetch_add(1, Ordering::Relaxed);
        self.metrics.submitted.fetch_add(1, Ordering::Relaxed);
        self.shared.ready.notify_one();
        Ok(Ticket { rx })
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
        // Closing the queue lets each worker finish what is queued and exit.
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(tag: f32) -> (Job, oneshot::Receiver<Result<Hypothesis, AsrError>>) {
        let (reply, rx) = oneshot::channel();
        (
            Job {
                samples: vec![tag],
                options: RecognizeOptions::default(),
                enqueued: Instant::now(),
                reply,
            },
            rx,
        )
    }

    #[test]
    fn tenants_are_served_in_turn_each_in_order() {
        let mut q = FairQueue::default();
        let mut keep = Vec::new();
        // A busy campaign queues five segments before a quiet one queues two.
        for i in 0..5 {
            let (j, rx) = job(i as f32);
            keep.push(rx);
            q.push("busy", j);
        }
        for i in 10..12 {
            let (j, rx) = job(i as f32);
            keep.push(rx);
            q.push("quiet", j);
        }
        let order: Vec<f32> = std::iter::from_fn(|| q.pop())
            .map(|j| j.samples[0])
            .collect();
        assert_eq!(order, [0.0, 10.0, 1.0, 11.0, 2.0, 3.0, 4.0]);
        assert_eq!(q.len, 0);
        assert!(q.turn.is_empty() && q.by_tenant.is_empty());
    }
}
