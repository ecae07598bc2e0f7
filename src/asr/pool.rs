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
//! Early media (a ringback or a carrier announcement heard before any answer) is decoded in
//! the background ([`DecodePool::submit_background`]): only when no answered call's segment
//! waits, by at most all workers but one at once, and given up to make room for one when the
//! queue is full — listening before the answer never delays a callee's reply.
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
    /// A background segment (early media) made room for a reply when the queue was full.
    #[error("ASR gave this background segment's place to a reply")]
    GaveWay,
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
    /// Segments whose caller stopped waiting before a worker took them, and background
    /// segments that made room for a reply.
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
    reply: oneshot::Sender<Result<Hypothesis, PoolError>>,
}

/// A pending result.
#[derive(Debug)]
pub struct Ticket {
    rx: oneshot::Receiver<Result<Hypothesis, PoolError>>,
}

impl Ticket {
    /// Awaits the hypothesis from async code (the call driver).
    pub async fn wait(self) -> Result<Hypothesis, PoolError> {
        self.rx.await.map_err(|_| PoolError::WorkerGone)?
    }

    /// Blocks for the hypothesis (CLI, benches; never on the reactor).
    pub fn wait_blocking(self) -> Result<Hypothesis, PoolError> {
        self.rx.blocking_recv().map_err(|_| PoolError::WorkerGone)?
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

/// The waiting segments: one FIFO per tenant, served in turn, and the background's.
#[derive(Default)]
struct FairQueue {
    by_tenant: HashMap<String, VecDeque<Job>>,
    /// Tenants with waiting segments, in serving order.
    turn: VecDeque<String>,
    /// Segments waiting, background ones included.
    len: usize,
    closed: bool,
    /// Background segments (early media), oldest first.
    background: VecDeque<Job>,
    /// Background segments being decoded now, and how many may be at once.
    background_running: usize,
    background_workers: usize,
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

    /// Queues a background segment.
    fn push_background(&mut self, job: Job) {
        self.background.push_back(job);
        self.len += 1;
    }

    /// Makes room for a reply in a full queue: the oldest background segment gives way.
    /// False when there is none.
    fn evict_background(&mut self) -> bool {
        let Some(job) = self.background.pop_front() else {
            return false;
        };
        self.len -= 1;
        // Its listener may be gone already; then there is nobody to tell.
        let _ = job.reply.send(Err(PoolError::GaveWay));
        true
    }

    /// The next segment to decode and whether it is a background one: the oldest of the
    /// tenant whose turn it is; a background segment only when no reply waits and fewer
    /// than `background_workers` are being decoded.
    fn pop(&mut self) -> Option<(Job, bool)> {
        if let Some(tenant) = self.turn.pop_front() {
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
            return job.map(|j| (j, false));
        }
        if self.background_running >= self.background_workers.max(1) {
            return None;
        }
        let job = self.background.pop_front()?;
        self.len -= 1;
        self.background_running += 1;
        Some((job, true))
    }
}

impl std::fmt::Debug for FairQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FairQueue")
            .field("len", &self.len)
            .field("tenants", &self.turn.len())
            .field("background", &self.background.len())
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

    /// The next segment for a worker (and whether it is a background one); `None` once the
    /// pool is shut down and drained.
    fn next(&self) -> Option<(Job, bool)> {
        let mut q = self.lock();
        loop {
            if let Some(next) = q.pop() {
                return Some(next);
            }
            if q.closed && q.len == 0 {
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
    while let Some((job, background)) = shared.next() {
        metrics.queued.fetch_sub(1, Ordering::Relaxed);
        // A background segment's worker is free for the next one once this one is done.
        let _done = background.then(|| BackgroundDone(shared));
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
        let _ = job.reply.send(result.map_err(PoolError::from));
    }
}

/// Frees a background decoding slot when dropped (after the decode, or when it was skipped).
struct BackgroundDone<'a>(&'a Shared);

impl Drop for BackgroundDone<'_> {
    fn drop(&mut self) {
        self.0.lock().background_running -= 1;
        self.0.ready.notify_one();
    }
}

impl DecodePool {
    /// Starts `config.workers` threads over `model`.
    pub fn new(model: &AsrModel, config: PoolConfig) -> std::io::Result<Self> {
        let capacity = config.queue_capacity.max(1);
        let shared = Arc::new(Shared::default());
        // One worker always left for replies (when there are two or more).
        shared.lock().background_workers = config.workers.max(2) - 1;
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
        self.submit(Some(tenant), samples, options)
    }

    /// Queues a background segment (early media: nobody has answered yet) without blocking.
    /// It is decoded only when no reply waits, and gives way to one when the queue is full
    /// (its ticket then answers [`PoolError::GaveWay`]); `Overloaded` when the queue is full.
    pub fn submit_background(
        &self,
        samples: Vec<f32>,
        options: RecognizeOptions,
    ) -> Result<Ticket, SubmitError> {
        self.submit(None, samples, options)
    }

    /// Queues a reply of `tenant`, or a background segment (`None`).
    fn submit(
        &self,
        tenant: Option<&str>,
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
            let mut room = q.len < self.capacity;
            if !room && tenant.is_some() && q.evict_background() {
                // The oldest early-media segment gave its place to this reply.
                self.metrics.queued.fetch_sub(1, Ordering::Relaxed);
                self.metrics.skipped.fetch_add(1, Ordering::Relaxed);
                room = true;
            }
            if !room {
                let queued = q.len;
                drop(q);
                self.metrics.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(queued, "ASR pool overloaded; segment rejected");
                return Err(SubmitError::Overloaded {
                    queued,
                    capacity: self.capacity,
                });
            }
            match tenant {
                Some(t) => q.push(t, job),
                None => q.push_background(job),
            }
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

    fn job(tag: f32) -> (Job, oneshot::Receiver<Result<Hypothesis, PoolError>>) {
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
            .map(|(j, _)| j.samples[0])
            .collect();
        assert_eq!(order, [0.0, 10.0, 1.0, 11.0, 2.0, 3.0, 4.0]);
        assert_eq!(q.len, 0);
        assert!(q.turn.is_empty() && q.by_tenant.is_empty());
    }

    #[test]
    fn early_media_waits_for_replies_and_leaves_a_worker_free() {
        let mut q = FairQueue {
            background_workers: 1,
            ..FairQueue::default()
        };
        let mut keep = Vec::new();
        for i in 0..2 {
            let (j, rx) = job(100.0 + i as f32);
            keep.push(rx);
            q.push_background(j);
        }
        let (j, rx) = job(1.0);
        keep.push(rx);
        q.push("spring", j);
        // The reply first, though it came last.
        let (first, background) = q.pop().expect("the reply");
        assert_eq!((first.samples[0], background), (1.0, false));
        // One background segment at a time: the other worker stays free for replies.
        let (second, background) = q.pop().expect("a background segment");
        assert_eq!((second.samples[0], background), (100.0, true));
        assert!(q.pop().is_none(), "a second background decode at once");
        assert_eq!(q.len, 1);
        q.background_running -= 1;
        assert_eq!(q.pop().map(|(j, b)| (j.samples[0], b)), Some((101.0, true)));
        assert_eq!(q.len, 0);
    }

    #[test]
    fn a_full_queue_makes_room_for_a_reply_by_dropping_early_media() {
        let mut q = FairQueue::default();
        let (j, mut gave_way) = job(100.0);
        q.push_background(j);
        assert!(q.evict_background());
        assert_eq!(q.len, 0);
        assert!(matches!(gave_way.try_recv(), Ok(Err(PoolError::GaveWay))));
        assert!(!q.evict_background(), "nothing left to give way");
    }
}
