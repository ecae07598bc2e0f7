//! `aicall bench console`: the supervisor console under watchers. The same simulated
//! campaign runs twice on the same service code — once with nobody watching, once with N
//! `fs_cli`-style subscribers on the console (each logs in, asks `switchname`/`hostname`,
//! `log ` (debug, as fs_cli does at start) and `event plain CUSTOM aicall::call aicall::agent
//! aicall::campaign aicall::alert`, and reads everything) plus one that stops reading. It
//! prints the turn latency of both runs, what each subscriber received (every CUSTOM event
//! carries `Event-Sequence`, so a gap is an event lost), and when the stalled one was cut
//! off: nobody may fall behind silently.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::BytesMut;
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use aicall::app::console::Console;
use aicall::app::control::{Access, Role};
use aicall::app::Service;
use aicall::call::summary::percentile;
use aicall::config::Config;
use aicall::esl::{Event, FrameDecoder, Peer};

use crate::cli::demo::{load_models, run_demo_with, DemoArgs};

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub demo: DemoArgs,
    /// `fs_cli`-style subscribers reading everything.
    #[arg(long, default_value_t = 50)]
    pub subscribers: usize,
    /// Calls in the campaign (copies of the example's callees).
    #[arg(long, default_value_t = 500)]
    pub calls: u32,
    /// Calls at once.
    #[arg(long, default_value_t = 40)]
    pub at_once: u32,
}

/// What one subscriber saw.
#[derive(Debug, Default, Clone)]
struct Seen {
    events: u64,
    log_lines: u64,
    /// Log lines by where they were logged (`Log-Func`, the module).
    log_by: std::collections::HashMap<String, u64>,
    bytes: u64,
    /// Event-Sequence numbers received.
    seqs: BTreeSet<u64>,
    /// The console closed the connection (cut off, or the service stopped).
    closed_at: Option<Instant>,
    error: Option<String>,
}

type Board = Arc<Mutex<Vec<Seen>>>;

/// The run is over: the stalled subscriber reads what it was sent.
static DRAIN: AtomicBool = AtomicBool::new(false);
/// ... and has read it.
static DRAINED: AtomicBool = AtomicBool::new(false);
/// When the console dropped a subscriber during the run (after the subscriptions), and how
/// many events a reader had received by then.
static CUT: Mutex<Option<(Duration, u64)>> = Mutex::new(None);

pub fn run(config: Option<&std::path::Path>, args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    aicall::asr::whisper::set_kernel_threads(1);
    aicall::logging::init("warn", aicall::logging::LogFormat::default());
    let cfg = Config::load(config)?;
    let models = load_models(&args.demo, &cfg)?;
    let demo = DemoArgs {
        concurrent: args.at_once,
        repeat: args.calls.div_ceil(15).max(1),
        verbose: false,
        db: None,
        ..args.demo.clone()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let tmp = |what: &str| {
        std::env::temp_dir().join(format!(
            "aicall-bench-console-{what}-{}",
            std::process::id()
        ))
    };

    // Nobody watching.
    let dir = tmp("alone");
    let alone = rt.block_on(run_demo_with(&demo, &cfg, models.clone(), &dir, |_| {}));
    let _ = std::fs::remove_dir_all(&dir);
    let alone = alone?;

    // N subscribers and one that stops reading.
    let board: Board = Arc::new(Mutex::new(vec![Seen::default(); args.subscribers + 1]));
    let started = Arc::new(Mutex::new(None::<String>));
    let dir = tmp("watched");
    let watched = rt.block_on(run_demo_with(&demo, &cfg, models, &dir, |service| {
        if let Err(e) = watch(service, args.subscribers, &board) {
            *started.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{e:#}"));
        }
    }));
    let _ = std::fs::remove_dir_all(&dir);
    let watched = watched?;
    if let Some(e) = started.lock().unwrap_or_else(|p| p.into_inner()).take() {
        anyhow::bail!("console watchers did not start: {e}");
    }
    // Let the readers take what is still in flight, then the stalled one read its queue.
    rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        DRAIN.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !DRAINED.load(Ordering::Relaxed) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    let (a, w) = (&alone.summary, &watched.summary);
    println!(
        "alone:   {} calls, {} answered in {:.1} s; turn latency p50 {} ms p95 {} ms ({} turns)",
        a.calls,
        a.answered,
        alone.elapsed.as_secs_f64(),
        percentile(&a.turn_ms, 0.5),
        percentile(&a.turn_ms, 0.95),
        a.turn_ms.len()
    );
    println!(
        "watched: {} calls, {} answered in {:.1} s; turn latency p50 {} ms p95 {} ms ({} turns), \
         {} subscribers + 1 stalled",
        w.calls,
        w.answered,
        watched.elapsed.as_secs_f64(),
        percentile(&w.turn_ms, 0.5),
        percentile(&w.turn_ms, 0.95),
        w.turn_ms.len(),
        args.subscribers
    );
    let seen = board.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (readers, stalled) = seen.split_at(args.subscribers);
    let published = readers
        .iter()
        .flat_map(|s| s.seqs.iter().copied())
        .collect::<BTreeSet<u64>>();
    let mut behind = 0;
    let mut errors = 0;
    for (i, s) in readers.iter().enumerate() {
        // Events before its subscription took effect are not its to miss.
        let first = s.seqs.first().copied().unwrap_or(u64::MAX);
        let missing = published.range(first..).count() - s.seqs.len();
        if missing > 0 || s.error.is_some() {
            println!(
                "  subscriber {i}: {} events, {missing} missing, {:?}",
                s.events, s.error
            );
        }
        behind += usize::from(missing > 0);
        errors += usize::from(s.error.is_some());
    }
    let events: Vec<u64> = readers.iter().map(|s| s.events).collect();
    let bytes: u64 = readers.iter().map(|s| s.bytes).sum();
    let logs: u64 = readers.iter().map(|s| s.log_lines).sum();
    println!(
        "subscribers: {} events each (min {}, max {}), {} log lines in all, {:.1} MB in all; \
         {behind} missed an event, {errors} errors",
        published.len(),
        events.iter().min().copied().unwrap_or(0),
        events.iter().max().copied().unwrap_or(0),
        logs,
        bytes as f64 / 1e6
    );
    if let Some(first) = readers.first() {
        let mut by: Vec<_> = first.log_by.iter().collect();
        by.sort_by(|a, b| b.1.cmp(a.1));
        let top: Vec<String> = by.iter().take(4).map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "  log lines of one subscriber by module: {}",
            top.join(", ")
        );
    }
    let stalled = &stalled[0];
    let cut = stalled.closed_at.is_some();
    let when = match *CUT.lock().unwrap_or_else(|p| p.into_inner()) {
        Some((after, events)) => format!(
            ", {:.0} s into the run, when a reader had {events} events",
            after.as_secs_f64()
        ),
        None => String::new(),
    };
    println!(
        "stalled subscriber: {}{when} (queue {} events, then {} lost in a row; the console \
         logs `killed listener because of lost events`){}",
        if cut {
            "cut off by the console"
        } else {
            "NOT cut off"
        },
        aicall::app::console::CONSOLE_QUEUE,
        aicall::esl::server::MAX_MISSED,
        stalled
            .error
            .as_deref()
            .map(|e| format!("; its connection: {e}"))
            .unwrap_or_default()
    );
    let p50 = |v: &[u32]| percentile(v, 0.5);
    let p95 = |v: &[u32]| percentile(v, 0.95);
    println!(
        "subscribers={} calls={} turn_p50_ms_alone={} turn_p95_ms_alone={} turn_p50_ms_watched={} \
         turn_p95_ms_watched={} events={} subscribers_behind={behind} stalled_cut_off={cut}",
        args.subscribers,
        w.calls,
        p50(&a.turn_ms),
        p95(&a.turn_ms),
        p50(&w.turn_ms),
        p95(&w.turn_ms),
        published.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Starts the console on a free port and connects the subscribers.
fn watch(service: &Arc<Service>, n: usize, board: &Board) -> anyhow::Result<()> {
    let key = Access::new(service.store().clone())
        .add_user("bench-supervisor", Role::Supervisor)
        .context("a supervisor for the console")?;
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let console = Console::new(service.clone());
    console.start();
    // When the console lets go of a connection while the run goes on: the stalled one cut.
    {
        let console = console.clone();
        let board = board.clone();
        tokio::spawn(async move {
            use aicall::esl::server::SwitchCore;
            while console.hub().connections() < n + 1 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let since = Instant::now();
            while !DRAIN.load(Ordering::Relaxed) {
                if console.hub().connections() < n + 1 {
                    let events = board
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .map(|s| s.events)
                        .max()
                        .unwrap_or(0);
                    *CUT.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((since.elapsed(), events));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    tokio::spawn(async move {
        let (_keep, control) = tokio::sync::watch::channel(aicall::esl::server::Control::default());
        let _ = aicall::esl::server::serve(listener, String::new(), console, control).await;
    });
    for i in 0..=n {
        let board = board.clone();
        let key = key.clone();
        let stalled = i == n;
        tokio::spawn(async move {
            let r = subscriber(addr, &key, i, stalled, &board).await;
            let mut b = board.lock().unwrap_or_else(|p| p.into_inner());
            if !stalled {
                b[i].closed_at.get_or_insert_with(Instant::now);
            }
            if let Err(e) = r {
                b[i].error = Some(format!("{e:#}"));
            }
            if stalled {
                DRAINED.store(true, Ordering::Relaxed);
            }
        });
    }
    Ok(())
}

/// One subscriber: fs_cli's start-up, then the CUSTOM events; reads until the console
/// closes. A stalled one stops reading after its subscription.
async fn subscriber(
    addr: std::net::SocketAddr,
    key: &str,
    i: usize,
    stalled: bool,
    board: &Board,
) -> anyhow::Result<()> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    if stalled {
        // A slow link: the kernel buffers little of what it is sent.
        socket.set_recv_buffer_size(32 * 1024)?;
    }
    let mut stream = socket.connect(addr).await?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut dec = FrameDecoder::new(Peer::Server);
    for command in [
        format!("auth {key}"),
        "api switchname".to_owned(),
        "api hostname".to_owned(),
        "log ".to_owned(),
        "event plain CUSTOM aicall::call aicall::agent aicall::campaign aicall::alert".to_owned(),
    ] {
        stream
            .write_all(format!("{command}\n\n").as_bytes())
            .await?;
    }
    if stalled {
        // Reads nothing until the run is over; then what the console sent ends in a close
        // if it cut the connection off.
        while !DRAIN.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut chunk)).await {
                Ok(Ok(0)) => {
                    board.lock().unwrap_or_else(|p| p.into_inner())[i].closed_at =
                        Some(Instant::now());
                    return Ok(());
                }
                Ok(Ok(n)) => board.lock().unwrap_or_else(|p| p.into_inner())[i].bytes += n as u64,
                // Closed long ago with unsent data: the kernel gave up on it with a reset.
                Ok(Err(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::BrokenPipe
                    ) =>
                {
                    board.lock().unwrap_or_else(|p| p.into_inner())[i].closed_at =
                        Some(Instant::now());
                    return Ok(());
                }
                Ok(Err(e)) => return Err(e.into()),
                // Still open, nothing more: never cut off.
                Err(_) => {
                    DRAINED.store(true, Ordering::Relaxed);
                    return Ok(());
                }
            }
        }
    }
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut b = board.lock().unwrap_or_else(|p| p.into_inner());
        let seen = &mut b[i];
        seen.bytes += n as u64;
        while let Some(f) = dec.decode(&mut buf).context("a frame from the console")? {
            match f.content_type() {
                Some("text/event-plain") => {
                    seen.events += 1;
                    if let Some(seq) = f
                        .body
                        .as_deref()
                        .and_then(|b| Event::from_plain(b).ok())
                        .and_then(|e| e.get("Event-Sequence").and_then(|s| s.parse().ok()))
                    {
                        seen.seqs.insert(seq);
                    }
                }
                Some("log/data") => {
                    seen.log_lines += 1;
                    let func = f.headers.get("Log-Func").unwrap_or("-").to_owned();
                    *seen.log_by.entry(func).or_default() += 1;
                }
                Some("command/reply") => {
                    let text = f.reply_text().unwrap_or_default();
                    anyhow::ensure!(text.starts_with("+OK"), "console refused: {text}");
                }
                _ => {}
            }
        }
    }
}
