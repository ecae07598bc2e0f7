//! Logging set-up: `tracing` with pretty or JSON output, filtered by `RUST_LOG` or the
//! configured level. Phone numbers reach logs only through [`crate::pii::Pii`].

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Where log lines also go: (level 0–7 as FreeSWITCH numbers them, file, line, target,
/// message). The supervisor console sets one, so `/log` streams aicall's log to `fs_cli`.
pub type Sink = Box<dyn Fn(u8, &str, u32, &str, String) + Send + Sync>;

/// Whether the sink wants lines of a level now (nobody listening: nothing is formatted).
pub type Wants = Box<dyn Fn(u8) -> bool + Send + Sync>;

static SINK: OnceLock<(Wants, Sink)> = OnceLock::new();

thread_local! {
    /// Set while a line is being handed to the sink: a line the sink itself logs is not
    /// handed back to it.
    static IN_SINK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sends aicall's own log lines to `sink` too, at every level `wants` asks for whatever the
/// stderr log's level is (once per process; later calls are ignored).
pub fn set_sink(wants: Wants, sink: Sink) {
    let _ = SINK.set((wants, sink));
}

/// FreeSWITCH's number for a level: 3 err, 4 warning, 6 info, 7 debug.
fn switch_level(level: &tracing::Level) -> u8 {
    match *level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

/// True when the sink wants an event of this callsite now.
fn sink_wants(meta: &tracing::Metadata<'_>) -> bool {
    // aicall's own lines only (records of the `log` crate come through as target `log`).
    meta.target().starts_with("aicall")
        && SINK
            .get()
            .is_some_and(|(wants, _)| wants(switch_level(meta.level())))
        && !IN_SINK.with(std::cell::Cell::get)
}

/// The layer that hands events to the sink.
struct SinkLayer;

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for SinkLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let Some((_, sink)) = SINK.get() else { return };
        let meta = event.metadata();
        let level = switch_level(meta.level());
        let mut msg = Message(String::new());
        event.record(&mut msg);
        let file = meta
            .file()
            .and_then(|f| f.rsplit('/').next())
            .unwrap_or("aicall");
        IN_SINK.with(|f| f.set(true));
        sink(level, file, meta.line().unwrap_or(0), meta.target(), msg.0);
        IN_SINK.with(|f| f.set(false));
    }
}

/// Output format of the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// Installs the global subscriber (once; later calls are ignored). Logs go to stderr so that
/// command output on stdout stays machine-readable.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    use std::io::IsTerminal;
    // Colours only for a person at a terminal: a log file or a collector gets plain text.
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // stderr gets what RUST_LOG (or the configured level) asks for; the sink (the console's
    // `/log`) what its listeners ask for, whatever that is.
    // Dynamic: whether anyone listens changes at run time, so no callsite is cached either way.
    // Only aicall's own callsites are ever asked (`never` for every dependency's).
    let sink = SinkLayer.with_filter(
        tracing_subscriber::filter::dynamic_filter_fn(|meta, _| sink_wants(meta))
            .with_callsite_filter(|meta| {
                if meta.target().starts_with("aicall") {
                    tracing::subscriber::Interest::sometimes()
                } else {
                    tracing::subscriber::Interest::never()
                }
            }),
    );
    let registry = tracing_subscriber::registry().with(sink);
    let _ = match format {
        LogFormat::Pretty => registry.with(fmt.compact().with_filter(filter)).try_init(),
        LogFormat::Json => registry.with(fmt.json().with_filter(filter)).try_init(),
    };
}
