//! Prometheus `/metrics` (prometheus-client, the Prometheus project's own Rust client; the
//! OpenMetrics text format, which Prometheus reads).
//!
//! Two kinds of figures:
//!
//! - counted from the bus ([`super::events`]) as they happen: calls started (originates),
//!   answered, ended by disposition, abandoned, transferred; turn latency, barge-in latency
//!   and recognition time histograms; alerts raised; ESL disconnects and reconnects (from
//!   the router's link state); agent states (folded from agent changes);
//! - read at scrape time from their owners: calls up by state (the live view), campaigns by
//!   state (the store), each running campaign's figures (answer and abandon ratios, calls
//!   up, pending contacts), the ASR pool (queue depth, busy workers, decodes, decode time),
//!   the media engine (frames in, out, lost; utterances heard and delivered), the link, the
//!   CRM hooks (outbox, delivered, retried, dead-lettered).
//!
//! Counters read from their owners' own monotonic counters are brought up to them at each
//! scrape (one scrape at a time), so they stay counters for `rate()`.
//!
//! `GET /metrics` needs an API key whose role may read metrics (`viewer` and up); a scrape
//! job sends it as a bearer token:
//!
//! ```yaml
//! scrape_configs:
//!   - job_name: aicall
//!     authorization: { type: Bearer, credentials_file: /etc/prometheus/aicall.key }
//!     static_configs: [{ targets: ["aicall-host:8080"] }]
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::{broadcast, watch};
use tracing::warn;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::control::Action;
use super::events::{AlertKind, ServiceEvent};
use super::http::{ApiError, Ctx};
use super::Service;
use crate::call::events::CallEvent;
use crate::outcome::Disposition;
use crate::store::CampaignState;

/// The OpenMetrics text format's content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Agent states always listed (zero until agents report).
const AGENT_STATES: &[&str] = &[
    "logged_out",
    "available",
    "offered",
    "on_call",
    "wrap_up",
    "break",
];
/// Call states always listed.
const CALL_STATES: &[&str] = &["ringing", "talking", "transferred"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CampaignLabel {
    campaign: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    campaign: String,
    disposition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    kind: &'static str,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Figures counted from the bus.
#[derive(Debug, Clone, Default)]
struct Counted {
    started: Family<CampaignLabel, Counter>,
    answered: Family<CampaignLabel, Counter>,
    ended: Family<EndLabels, Counter>,
    abandoned: Family<CampaignLabel, Counter>,
    transfers: Family<CampaignLabel, Counter>,
    alerts: Family<AlertLabels, Counter>,
    events_missed: Counter,
    esl_disconnects: Counter,
    esl_reconnects: Counter,
}

/// Figures read at scrape time.
#[derive(Debug, Clone, Default)]
struct Read {
    calls: Family<StateLabel, Gauge>,
    campaigns: Family<StateLabel, Gauge>,
    agents: Family<StateLabel, Gauge>,
    campaign_up: Family<CampaignLabel, Gauge>,
    campaign_pending: Family<CampaignLabel, Gauge>,
    campaign_answer_ratio: Family<CampaignLabel, FloatGauge>,
    campaign_abandon_ratio: Family<CampaignLabel, FloatGauge>,
    campaign_abandon_cap: Family<CampaignLabel, FloatGauge>,
    esl_connected: Gauge,
    asr_workers: Gauge,
    asr_queue: Gauge,
    asr_busy: Gauge,
    asr_submitted: Counter,
    asr_decoded: Counter,
    asr_rejected: Counter,
    asr_failed: Counter,
    asr_skipped: Counter,
    asr_decode_ms: Counter,
    asr_wait_max: FloatGauge,
    media_calls: Gauge,
    frames_in: Counter,
    frames_out: Counter,
    frames_lost: Counter,
    analysis_dropped: Counter,
    utterances_heard: Counter,
    utterances_delivered: Counter,
    utterances_after_end: Counter,
    hook_pending: Gauge,
    hook_enqueued: Counter,
    hook_delivered: Counter,
    hook_retried: Counter,
    hook_dead: Counter,
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    counted: Counted,
    read: Read,
    turn_latency: Histogram,
    barge_in_latency: Histogram,
    recognition: Histogram,
    /// Agent → its last state.
    agents: Mutex<HashMap<String, String>>,
    /// One scrape at a time (counters are brought up to their owners' values).
    scrape: tokio::sync::Mutex<()>,
    alive: watch::Sender<bool>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("aicall");
        let c = Counted::default();
        let x = Read::default();
        // Turn latency: 50 ms … ~13 s; barge-in: 5 ms … ~1.3 s; recognition: 25 ms … ~13 s.
        let turn_latency = Histogram::new(exponential_buckets(0.05, 2.0, 9));
        let barge_in_latency = Histogram::new(exponential_buckets(0.005, 2.0, 9));
        let recognition = Histogram::new(exponential_buckets(0.025, 2.0, 10));

        r.register(
            "calls_started",
            "Calls started: originates sent, and calls a dialplan handed over",
            c.started.clone(),
        );
        r.register("calls_answered", "Calls answered", c.answered.clone());
        r.register(
            "calls_ended",
            "Calls ended, by disposition",
            c.ended.clone(),
        );
        r.register(
            "calls_abandoned",
            "Answered calls no agent was free to take (predictive pacing)",
            c.abandoned.clone(),
        );
        r.register(
            "calls_transferred",
            "Calls handed to a queue of human agents",
            c.transfers.clone(),
        );
        r.register("alerts", "Alerts raised", c.alerts.clone());
        r.register(
            "metrics_events_missed",
            "Bus events the metrics missed by falling behind",
            c.events_missed.clone(),
        );
        r.register(
            "esl_disconnects",
            "Times the FreeSWITCH connection was lost",
            c.esl_disconnects.clone(),
        );
        r.register(
            "esl_reconnects",
            "Times the FreeSWITCH connection came back",
            c.esl_reconnects.clone(),
        );
        r.register_with_unit(
            "turn_latency",
            "End of the callee's speech to the first frame of the bot's answer",
            Unit::Seconds,
            turn_latency.clone(),
        );
        r.register_with_unit(
            "barge_in_latency",
            "Callee speech onset to the prompt stopped",
            Unit::Seconds,
            barge_in_latency.clone(),
        );
        r.register_with_unit(
            "asr_recognition",
            "Recognition time of a callee line (queue wait and decode)",
            Unit::Seconds,
            recognition.clone(),
        );

        r.register("calls", "Calls up, by state", x.calls.clone());
        r.register(
            "campaigns",
            "Campaigns, by stored state",
            x.campaigns.clone(),
        );
        r.register("agents", "Human agents, by state", x.agents.clone());
        r.register(
            "campaign_calls_up",
            "Calls up of a running campaign",
            x.campaign_up.clone(),
        );
        r.register(
            "campaign_pending_contacts",
            "Contacts of a running campaign waiting for an attempt",
            x.campaign_pending.clone(),
        );
        r.register(
            "campaign_answer_ratio",
            "Answered / dialled since the campaign's run started",
            x.campaign_answer_ratio.clone(),
        );
        r.register(
            "campaign_abandon_ratio",
            "Abandoned / answered since the campaign's run started",
            x.campaign_abandon_ratio.clone(),
        );
        r.register(
            "campaign_abandon_cap_ratio",
            "The campaign's cap on its abandon ratio (predictive pacing)",
            x.campaign_abandon_cap.clone(),
        );
        r.register(
            "esl_connected",
            "1 while the FreeSWITCH connection is up",
            x.esl_connected.clone(),
        );
        r.register("asr_workers", "ASR decode threads", x.asr_workers.clone());
        r.register(
            "asr_queue_depth",
            "Speech segments waiting for a decode thread",
            x.asr_queue.clone(),
        );
        r.register(
            "asr_busy_workers",
            "ASR decode threads decoding now",
            x.asr_busy.clone(),
        );
        r.register(
            "asr_segments_submitted",
            "Speech segments submitted for recognition",
            x.asr_submitted.clone(),
        );
        r.register(
            "asr_segments_decoded",
            "Speech segments decoded",
            x.asr_decoded.clone(),
        );
        r.register(
            "asr_segments_rejected",
            "Speech segments refused: the queue was full",
            x.asr_rejected.clone(),
        );
        r.register(
            "asr_segments_failed",
            "Speech segments whose decode failed",
            x.asr_failed.clone(),
        );
        r.register(
            "asr_segments_skipped",
            "Speech segments nobody waited for any more",
            x.asr_skipped.clone(),
        );
        r.register(
            "asr_decode_milliseconds",
            "Time spent decoding (divide by asr_segments_decoded for the mean)",
            x.asr_decode_ms.clone(),
        );
        r.register_with_unit(
            "asr_queue_wait_max",
            "Longest wait of a segment in the queue so far",
            Unit::Seconds,
            x.asr_wait_max.clone(),
        );
        r.register(
            "media_calls",
            "Calls with a media stream now",
            x.media_calls.clone(),
        );
        r.register(
            "media_frames_in",
            "Callee audio frames received",
            x.frames_in.clone(),
        );
        r.register(
            "media_frames_out",
            "Prompt audio frames sent",
            x.frames_out.clone(),
        );
        r.register(
            "media_frames_lost",
            "Callee audio frames that never arrived",
            x.frames_lost.clone(),
        );
        r.register(
            "media_analysis_dropped",
            "Frames the analysis pool had no room for",
            x.analysis_dropped.clone(),
        );
        r.register(
            "media_utterances_heard",
            "Utterances handed to a live call",
            x.utterances_heard.clone(),
        );
        r.register(
            "media_utterances_delivered",
            "Utterances whose recognition reached the conversation",
            x.utterances_delivered.clone(),
        );
        r.register(
            "media_utterances_after_end",
            "Utterances heard after their conversation had ended",
            x.utterances_after_end.clone(),
        );
        r.register(
            "hook_outbox",
            "CRM hook deliveries waiting",
            x.hook_pending.clone(),
        );
        r.register(
            "hook_enqueued",
            "CRM hook deliveries enqueued",
            x.hook_enqueued.clone(),
        );
        r.register(
            "hook_delivered",
            "CRM hook deliveries the receiver accepted",
            x.hook_delivered.clone(),
        );
        r.register(
            "hook_retried",
            "CRM hook tries that failed and were scheduled again",
            x.hook_retried.clone(),
        );
        r.register(
            "hook_dead_lettered",
            "CRM hook deliveries moved to the dead letters",
            x.hook_dead.clone(),
        );
        // Listed at zero from the start, so a dashboard shows the series before any call.
        for s in CALL_STATES {
            x.calls.get_or_create(&state(s)).set(0);
        }
        for s in AGENT_STATES {
            x.agents.get_or_create(&state(s)).set(0);
        }
        Self {
            registry: r,
            counted: c,
            read: x,
            turn_latency,
            barge_in_latency,
            recognition,
            agents: Mutex::default(),
            scrape: tokio::sync::Mutex::new(()),
            alive: watch::Sender::new(true),
        }
    }

    /// Counts one bus event.
    pub fn on_event(&self, ev: &ServiceEvent) {
        let c = &self.counted;
        match ev {
            ServiceEvent::Call(call) => {
                let campaign = || CampaignLabel {
                    campaign: call.campaign().to_owned(),
                };
                match call {
                    CallEvent::Started { .. } => {
                        c.started.get_or_create(&campaign()).inc();
                    }
                    CallEvent::Answered { .. } => {
                        c.answered.get_or_create(&campaign()).inc();
                    }
                    CallEvent::Turn { asr_ms, .. } => {
                        if let Some(ms) = asr_ms {
                            self.recognition.observe(*ms as f64 / 1000.0);
                        }
                    }
                    CallEvent::BargeIn { latency_ms, .. } => {
                        self.barge_in_latency
                            .observe(f64::from(*latency_ms) / 1000.0);
                    }
                    CallEvent::TurnLatency { ms, .. } => {
                        self.turn_latency.observe(f64::from(*ms) / 1000.0);
                    }
                    CallEvent::Transfer { .. } => {
                        c.transfers.get_or_create(&campaign()).inc();
                    }
                    CallEvent::Ended { disposition, .. } => {
                        c.ended
                            .get_or_create(&EndLabels {
                                campaign: call.campaign().to_owned(),
                                disposition: disposition.as_str().to_owned(),
                            })
                            .inc();
                        if *disposition == Disposition::Abandoned {
                            c.abandoned.get_or_create(&campaign()).inc();
                        }
                    }
                }
            }
            ServiceEvent::Agent(a) => {
                // `break` carries its reason in the dashboard's wording; one series.
                let s = if a.state.starts_with("break") {
                    "break"
                } else {
                    a.state.as_str()
                };
                lock(&self.agents).insert(a.agent.clone(), s.to_owned());
            }
            ServiceEvent::Alert(a) if !a.cleared => {
                let kind = match a.kind {
                    AlertKind::AbandonRate => "abandon_rate",
                    AlertKind::AsrLatency => "asr_latency",
                    AlertKind::NegativeSentiment => "negative_sentiment",
                    AlertKind::SwitchLost => "switch_lost",
                };
                c.alerts.get_or_create(&AlertLabels { kind }).inc();
            }
            ServiceEvent::Alert(_) | ServiceEvent::Campaign(_) => {}
        }
    }

    /// A change of the switch link (`up`), after the first state.
    pub fn on_link(&self, up: bool) {
        if up {
            self.counted.esl_reconnects.inc();
        } else {
            self.counted.esl_disconnects.inc();
        }
    }

    /// Stops the collector tasks.
    pub fn stop(&self) {
        self.alive.send_replace(false);
    }

    /// The text a scrape answers: the counted figures plus the service's figures now.
    pub async fn render(&self, service: &Service) -> String {
        let _one = self.scrape.lock().await;
        let figures = service.figures().await;
        let store = service.store.clone();
        let campaigns = tokio::task::spawn_blocking(move || store.campaigns())
            .await
            .ok()
            .and_then(|r| {
                r.map_err(|e| warn!(error = %e, "metrics: cannot read the campaigns"))
                    .ok()
            });
        let x = &self.read;

        for s in CALL_STATES {
            x.calls.get_or_create(&state(s)).set(0);
        }
        for call in service.bus.calls(None) {
            let s = if call.state.starts_with("transferred") {
                "transferred"
            } else {
                call.state.as_str()
            };
            x.calls.get_or_create(&state(s)).inc();
        }

        if let Some(campaigns) = campaigns {
            for s in [
                CampaignState::Created,
                CampaignState::Running,
                CampaignState::Paused,
                CampaignState::Stopped,
            ] {
                let n = campaigns.iter().filter(|c| c.state == s).count();
                x.campaigns
                    .get_or_create(&state(&format!("{s:?}").to_lowercase()))
                    .set(n as i64);
            }
        }

        // Only the campaigns running now: a finished run's series ends with it.
        x.campaign_up.clear();
        x.campaign_pending.clear();
        x.campaign_answer_ratio.clear();
        x.campaign_abandon_ratio.clear();
        x.campaign_abandon_cap.clear();
        for f in &figures {
            let l = CampaignLabel {
                campaign: f.campaign.clone(),
            };
            x.campaign_up.get_or_create(&l).set(i64::from(f.up));
            x.campaign_pending.get_or_create(&l).set(f.pending as i64);
            let answer = if f.dialled > 0 {
                f.answered as f64 / f.dialled as f64
            } else {
                0.0
            };
            x.campaign_answer_ratio.get_or_create(&l).set(answer);
            x.campaign_abandon_ratio
                .get_or_create(&l)
                .set(f.abandon_rate);
            if let Some(cap) = f.abandon_cap {
                x.campaign_abandon_cap.get_or_create(&l).set(cap);
            }
        }

        {
            let agents = lock(&self.agents);
            for s in AGENT_STATES {
                x.agents.get_or_create(&state(s)).set(0);
            }
            for s in agents.values() {
                x.agents.get_or_create(&state(s)).inc();
            }
        }

        x.esl_connected
            .set(i64::from(service.router.client().is_connected()));

        let asr = service.models.asr.metrics();
        x.asr_workers.set(service.models.asr.workers() as i64);
        x.asr_queue.set(asr.queued as i64);
        x.asr_busy.set(asr.busy as i64);
        catch_up(&x.asr_submitted, asr.submitted);
        catch_up(&x.asr_decoded, asr.completed);
        catch_up(&x.asr_rejected, asr.rejected);
        catch_up(&x.asr_failed, asr.failed);
        catch_up(&x.asr_skipped, asr.skipped);
        catch_up(&x.asr_decode_ms, asr.decode_ms_total);
        x.asr_wait_max.set(asr.queue_wait_ms_max as f64 / 1000.0);

        let m = service.media.metrics().snapshot();
        x.media_calls
            .set(m.calls_started.saturating_sub(m.calls_ended) as i64);
        catch_up(&x.frames_in, m.frames_in);
        catch_up(&x.frames_out, m.frames_out);
        catch_up(&x.frames_lost, m.frames_lost);
        catch_up(&x.analysis_dropped, m.analysis_dropped);
        catch_up(&x.utterances_heard, m.utterances_heard);
        catch_up(&x.utterances_delivered, m.utterances_delivered);
        catch_up(&x.utterances_after_end, m.utterances_after_end);

        let h = service.hooks.stats();
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        x.hook_pending
            .set(h.pending.load(std::sync::atomic::Ordering::Relaxed));
        catch_up(&x.hook_enqueued, get(&h.enqueued));
        catch_up(&x.hook_delivered, get(&h.delivered));
        catch_up(&x.hook_retried, get(&h.retried));
        catch_up(&x.hook_dead, get(&h.dead));

        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            // Writing to a String fails only if a metric's own encoding does.
            warn!(error = %e, "metrics: encoding failed");
        }
        out
    }
}

fn state(s: &str) -> StateLabel {
    StateLabel {
        state: s.to_owned(),
    }
}

/// Brings a counter up to its owner's monotonic count.
fn catch_up(c: &Counter, to: u64) {
    let now = c.get();
    if to > now {
        c.inc_by(to - now);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A map of agent states is valid after any partial update.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts counting a service's bus events and link changes.
pub fn start(service: &Arc<Service>) {
    let mut rx = service.bus.subscribe();
    let weak = Arc::downgrade(service);
    let mut alive = service.metrics.alive.subscribe();
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = alive.wait_for(|a| !*a) => return,
                ev = rx.recv() => ev,
            };
            let Some(service) = weak.upgrade() else {
                return;
            };
            match ev {
                Ok(ev) => service.metrics.on_event(&ev),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    service.metrics.counted.events_missed.inc_by(n);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let mut link = service.router.link();
    let weak = Arc::downgrade(service);
    let mut alive = service.metrics.alive.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = alive.wait_for(|a| !*a) => return,
                changed = link.changed() => if changed.is_err() { return },
            }
            let up = *link.borrow_and_update();
            let Some(service) = weak.upgrade() else {
                return;
            };
            service.metrics.on_link(up);
        }
    });
}

impl Service {
    /// The service's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// The metrics route.
pub(super) fn routes() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new().routes(routes!(scrape))
}

/// Prometheus metrics.
///
/// The text exposition format. Allowed scrapes are not audited one by one (one every 15 s
/// would bury the trail); refusals are.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "The metrics", body = String,
        content_type = "application/openmetrics-text")))]
async fn scrape(State(ctx): State<Ctx>, headers: HeaderMap) -> Result<Response, ApiError> {
    // Allowed scrapes are not audited one by one (one every 15 s would bury the trail);
    // refusals are, by `allow`.
    let allowed = ctx
        .access
        .identify(super::http::bearer(&headers))
        .is_ok_and(|p| Action::ReadMetrics.allowed(p.role));
    if !allowed {
        ctx.allow(&headers, Action::ReadMetrics, "metrics")?;
    }
    let text = ctx.service.metrics.render(&ctx.service).await;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::events::{AgentChange, Alert};

    fn ended(d: Disposition) -> ServiceEvent {
        ServiceEvent::Call(CallEvent::Ended {
            uuid: "u".into(),
            campaign: "c".into(),
            contact_id: None,
            disposition: d,
            cause: None,
            answered: true,
            billsec: 1,
            callback_at: None,
        })
    }

    #[test]
    fn events_are_counted_into_the_text_format() {
        let m = Metrics::new();
        m.on_event(&ServiceEvent::Call(CallEvent::Started {
            uuid: "u".into(),
            campaign: "c".into(),
            contact_id: None,
            callee: "+86*******0001".into(),
        }));
        m.on_event(&ServiceEvent::Call(CallEvent::TurnLatency {
            uuid: "u".into(),
            campaign: "c".into(),
            ms: 700,
        }));
        m.on_event(&ended(Disposition::Abandoned));
        m.on_event(&ended(Disposition::Interested));
        m.on_event(&ServiceEvent::Agent(AgentChange {
            agent: "a1".into(),
            state: "available".into(),
            reason: None,
        }));
        m.on_event(&ServiceEvent::Alert(Alert {
            kind: AlertKind::SwitchLost,
            campaign: None,
            message: "lost".into(),
            cleared: false,
        }));
        m.on_link(false);
        m.on_link(true);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).expect("encodes");
        for line in [
            "aicall_calls_started_total{campaign=\"c\"} 1",
            "aicall_calls_ended_total{campaign=\"c\",disposition=\"abandoned\"} 1",
            "aicall_calls_ended_total{campaign=\"c\",disposition=\"interested\"} 1",
            "aicall_calls_abandoned_total{campaign=\"c\"} 1",
            "aicall_turn_latency_seconds_count 1",
            "aicall_turn_latency_seconds_bucket{le=\"0.8\"} 1",
            "aicall_turn_latency_seconds_bucket{le=\"0.4\"} 0",
            "aicall_alerts_total{kind=\"switch_lost\"} 1",
            "aicall_esl_reconnects_total 1",
            "aicall_esl_disconnects_total 1",
            "aicall_calls{state=\"ringing\"} 0",
        ] {
            assert!(out.lines().any(|l| l == line), "no `{line}` in\n{out}");
        }
        assert_eq!(
            lock(&m.agents).get("a1").map(String::as_str),
            Some("available")
        );
        assert!(out.ends_with("# EOF\n"));
    }

    #[test]
    fn counters_catch_up_with_their_owner_and_never_go_back() {
        let c = Counter::default();
        catch_up(&c, 5);
        catch_up(&c, 5);
        assert_eq!(c.get(), 5);
        catch_up(&c, 3);
        assert_eq!(c.get(), 5, "a counter never decreases");
        catch_up(&c, 9);
        assert_eq!(c.get(), 9);
    }
}
