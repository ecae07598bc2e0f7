//! What happens in the service, as events, for everyone who watches it: every call's life
//! ([`CallEvent`]), each campaign's figures every second, agent state changes, and alerts
//! (abandon rate near its cap, recognition slower than its budget, a burst of negative
//! sentiment, the switch lost). One broadcast [`Bus`]; the ESL console turns the events into
//! `CUSTOM aicall::*` events, the dashboard streams them, the metrics count them, the CRM
//! hooks deliver call outcomes. A watcher that falls behind loses the oldest events (and is
//! told how many), never slows a call.
//!
//! [`LiveView`] keeps the state the watchers ask about — the calls up, with their node, last
//! lines, intent and sentiment — folded from the same events ([`LiveView::apply`] is pure).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::call::events::{CallEvent, CallEvents};
use crate::call::record::Speaker;
use crate::campaign::driver::AttemptOutcome;

/// Events kept for a watcher that is behind, before it loses the oldest.
const BUS_QUEUE: usize = 16_384;
/// Lines of conversation kept per live call.
const LINES_KEPT: usize = 50;

/// A campaign's figures at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CampaignFigures {
    pub campaign: String,
    pub state: String,
    pub up: u32,
    pub dialled: u64,
    pub answered: u64,
    pub transferred: u64,
    pub abandoned: u64,
    pub pending: u64,
    /// Abandoned / answered since the service started the campaign.
    pub abandon_rate: f64,
    /// The campaign's cap on it (predictive pacing), when it has one.
    pub abandon_cap: Option<f64>,
    pub ended_per_min: f64,
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A campaign's abandon rate reached 80% of its cap.
    AbandonRate,
    /// Recognition took longer than its budget on several replies in a row.
    AsrLatency,
    /// Several negative replies in a short time on a campaign.
    NegativeSentiment,
    /// The connection to FreeSWITCH is lost (or back: `cleared`).
    SwitchLost,
}

/// An alert for supervisors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub campaign: Option<String>,
    pub message: String,
    /// The condition has ended.
    pub cleared: bool,
}

/// An agent's state changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentChange {
    pub agent: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Everything the service publishes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServiceEvent {
    Call(CallEvent),
    Campaign(CampaignFigures),
    Agent(AgentChange),
    Alert(Alert),
}

impl ServiceEvent {
    /// The ESL subclass the console publishes it under.
    pub fn subclass(&self) -> &'static str {
        match self {
            ServiceEvent::Call(_) => "aicall::call",
            ServiceEvent::Campaign(_) => "aicall::campaign",
            ServiceEvent::Agent(_) => "aicall::agent",
            ServiceEvent::Alert(_) => "aicall::alert",
        }
    }
}

/// The service's event bus. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Bus {
    tx: broadcast::Sender<ServiceEvent>,
    live: Arc<Mutex<LiveView>>,
}

impl Default for Bus {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(BUS_QUEUE);
        Self {
            tx,
            live: Arc::new(Mutex::new(LiveView::default())),
        }
    }
}

impl Bus {
    /// Publishes an event (and folds it into the live view). Never blocks.
    pub fn publish(&self, ev: ServiceEvent) {
        if let ServiceEvent::Call(c) = &ev {
            self.live
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .apply(c, unix_ms());
        }
        let _ = self.tx.send(ev);
    }

    /// A new watcher's receiver.
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.tx.subscribe()
    }

    /// The sink a call's driver and placer send to.
    pub fn call_sink(&self) -> CallEvents {
        let bus = self.clone();
        CallEvents::new(move |ev| bus.publish(ServiceEvent::Call(ev)))
    }

    /// Publishes a stored attempt outcome as the call's end.
    pub fn outcome(&self, o: &AttemptOutcome) {
        self.publish(ServiceEvent::Call(CallEvent::Ended {
            uuid: o.uuid.clone(),
            campaign: o.campaign.clone(),
            contact_id: Some(o.contact_id),
            disposition: o.disposition,
            cause: Some(o.cause.clone()),
            answered: o.answered,
            billsec: o.billsec,
            callback_at: o.callback_at,
        }));
    }

    /// The calls up now (of `campaign`, or all).
    pub fn calls(&self, campaign: Option<&str>) -> Vec<LiveCallView> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.calls
            .values()
            .filter(|c| campaign.is_none_or(|n| c.campaign == n))
            .cloned()
            .collect()
    }

    /// One call up (or ended a moment ago), with its lines so far; `id` may be a prefix of
    /// the UUID.
    pub fn call(&self, id: &str) -> Option<LiveCallView> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.find(id).cloned()
    }

    /// Subscribers now.
    pub fn watchers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// A line of a live call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineView {
    pub at_ms: i64,
    pub speaker: Speaker,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
}

/// A call as a supervisor sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LiveCallView {
    pub uuid: String,
    pub campaign: String,
    /// Masked.
    pub callee: String,
    /// `ringing`, `talking`, `transferred`, or the disposition once it ended.
    pub state: String,
    pub node: String,
    pub started_ms: i64,
    pub answered_ms: Option<i64>,
    pub last_intent: Option<String>,
    pub sentiment: Option<f32>,
    #[schema(value_type = Vec<LineView>)]
    pub lines: VecDeque<LineView>,
}

/// The calls up, folded from call events.
#[derive(Debug, Default)]
pub struct LiveView {
    calls: HashMap<String, LiveCallView>,
    /// Calls that ended, for a last look (`call ID` right after the hangup), oldest first.
    ended: VecDeque<LiveCallView>,
}

impl LiveView {
    fn find(&self, id: &str) -> Option<&LiveCallView> {
        self.calls
            .get(id)
            .or_else(|| self.calls.values().find(|c| c.uuid.starts_with(id)))
            .or_else(|| self.ended.iter().rev().find(|c| c.uuid.starts_with(id)))
    }

    /// Folds one event in, at `now_ms` (unix ms).
    pub fn apply(&mut self, ev: &CallEvent, now_ms: i64) {
        let entry = |calls: &mut HashMap<String, LiveCallView>, uuid: &str, campaign: &str| {
            calls
                .entry(uuid.to_owned())
                .or_insert_with(|| LiveCallView {
                    uuid: uuid.to_owned(),
                    campaign: campaign.to_owned(),
                    callee: String::new(),
                    state: "ringing".into(),
                    node: String::new(),
                    started_ms: now_ms,
                    answered_ms: None,
                    last_intent: None,
                    sentiment: None,
                    lines: VecDeque::new(),
                })
                .uuid
                .clone()
        };
        match ev {
            CallEvent::Started {
                uuid,
                campaign,
                callee,
                ..
            } => {
                entry(&mut self.calls, uuid, campaign);
                if let Some(c) = self.calls.get_mut(uuid) {
                    c.callee = callee.clone();
                }
            }
            CallEvent::Answered { uuid, campaign } => {
                entry(&mut self.calls, uuid, campaign);
                if let Some(c) = self.calls.get_mut(uuid) {
                    c.state = "talking".into();
                    c.answered_ms = Some(now_ms);
                }
            }
            CallEvent::Turn {
                uuid,
                campaign,
                speaker,
                text,
                node,
                intent,
                sentiment,
                ..
            } => {
                // A line recognised after the call ended (a bridged call's last words) joins
                // the ended call; it does not bring the call back to life.
                let late =
                    !self.calls.contains_key(uuid) && self.ended.iter().any(|c| c.uuid == *uuid);
                if !late {
                    entry(&mut self.calls, uuid, campaign);
                }
                let call = match self.calls.get_mut(uuid) {
                    Some(c) => Some(c),
                    None => self.ended.iter_mut().rev().find(|c| c.uuid == *uuid),
                };
                if let Some(c) = call {
                    c.node = node.clone();
                    if intent.is_some() {
                        c.last_intent = intent.clone();
                    }
                    if sentiment.is_some() {
                        c.sentiment = *sentiment;
                    }
                    c.lines.push_back(LineView {
                        at_ms: now_ms,
                        speaker: *speaker,
                        text: text.clone(),
                        intent: intent.clone(),
                    });
                    while c.lines.len() > LINES_KEPT {
                        c.lines.pop_front();
                    }
                }
            }
            CallEvent::Transfer {
                uuid,
                campaign,
                queue,
            } => {
                entry(&mut self.calls, uuid, campaign);
                if let Some(c) = self.calls.get_mut(uuid) {
                    c.state = format!("transferred to {queue}");
                }
            }
            CallEvent::Ended {
                uuid, disposition, ..
            } => {
                if let Some(mut c) = self.calls.remove(uuid) {
                    c.state = disposition.as_str().to_owned();
                    self.ended.push_back(c);
                    while self.ended.len() > 200 {
                        self.ended.pop_front();
                    }
                }
            }
            CallEvent::BargeIn { .. } | CallEvent::TurnLatency { .. } => {}
        }
    }
}

/// Watches the events for conditions supervisors must hear about. Pure: feed it events
/// with their time, it answers with the alerts to raise.
#[derive(Debug)]
pub struct AlertWatch {
    /// Recognition budget per reply (ms) and how many replies in a row over it alert.
    pub asr_budget_ms: u64,
    pub asr_run: u32,
    /// Negative replies (sentiment below this) within the window that alert.
    pub negative_below: f32,
    pub negative_count: usize,
    pub negative_window_ms: i64,
    slow_run: u32,
    asr_alerting: bool,
    negative: BTreeMap<String, VecDeque<i64>>,
    abandon_alerting: BTreeMap<String, bool>,
}

impl Default for AlertWatch {
    fn default() -> Self {
        Self {
            asr_budget_ms: 1500,
            asr_run: 5,
            negative_below: -0.5,
            negative_count: 3,
            negative_window_ms: 60_000,
            slow_run: 0,
            asr_alerting: false,
            negative: BTreeMap::new(),
            abandon_alerting: BTreeMap::new(),
        }
    }
}

impl AlertWatch {
    /// The alerts `ev` (at unix ms `now_ms`) raises or clears.
    pub fn on_event(&mut self, ev: &ServiceEvent, now_ms: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        match ev {
            ServiceEvent::Call(CallEvent::Turn {
                campaign,
                asr_ms: Some(ms),
                sentiment,
                ..
            }) => {
                if *ms > self.asr_budget_ms {
                    self.slow_run += 1;
                    if self.slow_run >= self.asr_run && !self.asr_alerting {
                        self.asr_alerting = true;
                        out.push(Alert {
                            kind: AlertKind::AsrLatency,
                            campaign: None,
                            message: format!(
                                "{} replies in a row took over {} ms to recognise (last {ms} ms): \
                                 the decode pool is saturated",
                                self.slow_run, self.asr_budget_ms
                            ),
                            cleared: false,
                        });
                    }
                } else {
                    self.slow_run = 0;
                    if self.asr_alerting {
                        self.asr_alerting = false;
                        out.push(Alert {
                            kind: AlertKind::AsrLatency,
                            campaign: None,
                            message: format!("recognition back within {} ms", self.asr_budget_ms),
                            cleared: true,
                        });
                    }
                }
                if sentiment.is_some_and(|s| s < self.negative_below) {
                    let q = self.negative.entry(campaign.clone()).or_default();
                    q.push_back(now_ms);
                    while q
                        .front()
                        .is_some_and(|&t| now_ms - t > self.negative_window_ms)
                    {
                        q.pop_front();
                    }
                    if q.len() >= self.negative_count {
                        out.push(Alert {
                            kind: AlertKind::NegativeSentiment,
                            campaign: Some(campaign.clone()),
                            message: format!(
                                "{} negative replies in the last {} s on {campaign}",
                                q.len(),
                                self.negative_window_ms / 1000
                            ),
                            cleared: false,
                        });
                        q.clear();
                    }
                }
            }
            ServiceEvent::Campaign(f) => {
                if let Some(cap) = f.abandon_cap.filter(|c| *c > 0.0) {
                    let near = f.answered >= 20 && f.abandon_rate >= 0.8 * cap;
                    let was = self.abandon_alerting.entry(f.campaign.clone()).or_default();
                    if near != *was {
                        *was = near;
                        out.push(Alert {
                            kind: AlertKind::AbandonRate,
                            campaign: Some(f.campaign.clone()),
                            message: format!(
                                "abandon rate {:.1}% on {} (cap {:.1}%)",
                                100.0 * f.abandon_rate,
                                f.campaign,
                                100.0 * cap
                            ),
                            cleared: !near,
                        });
                    }
                }
            }
            _ => {}
        }
        out
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Disposition;

    fn turn(
        uuid: &str,
        speaker: Speaker,
        text: &str,
        asr_ms: Option<u64>,
        s: Option<f32>,
    ) -> CallEvent {
        CallEvent::Turn {
            uuid: uuid.into(),
            campaign: "c".into(),
            speaker,
            text: text.into(),
            node: "intro".into(),
            intent: asr_ms.map(|_| "deny".into()),
            confidence: None,
            sentiment: s,
            asr_ms,
        }
    }

    #[test]
    fn the_live_view_follows_a_call_from_start_to_end() {
        let mut v = LiveView::default();
        v.apply(
            &CallEvent::Started {
                uuid: "u1".into(),
                campaign: "c".into(),
                contact_id: Some(1),
                callee: "+86*******0001".into(),
            },
            1000,
        );
        v.apply(
            &CallEvent::Answered {
                uuid: "u1".into(),
                campaign: "c".into(),
            },
            2000,
        );
        v.apply(&turn("u1", Speaker::Bot, "您好", None, None), 2100);
        v.apply(
            &turn("u1", Speaker::Callee, "不需要", Some(300), Some(-0.2)),
            4000,
        );
        let c = v.find("u1").expect("live");
        assert_eq!(c.state, "talking");
        assert_eq!(c.lines.len(), 2);
        assert_eq!(c.last_intent.as_deref(), Some("deny"));
        assert_eq!(c.callee, "+86*******0001");
        v.apply(
            &CallEvent::Ended {
                uuid: "u1".into(),
                campaign: "c".into(),
                contact_id: Some(1),
                disposition: Disposition::NotInterested,
                cause: Some("NORMAL_CLEARING".into()),
                answered: true,
                billsec: 9,
                callback_at: None,
            },
            9000,
        );
        assert!(v.calls.is_empty());
        assert_eq!(
            v.find("u").expect("kept for a last look").state,
            "not_interested"
        );
        // A line recognised after the end joins the ended call, not a new live one.
        v.apply(&turn("u1", Speaker::Bridged, "好的再见", None, None), 9500);
        assert!(v.calls.is_empty(), "no live call comes back");
        assert_eq!(v.find("u1").expect("ended").lines.len(), 3);
    }

    #[test]
    fn alerts_on_slow_recognition_and_negative_bursts_and_abandons() {
        let mut w = AlertWatch::default();
        let mut raised = Vec::new();
        for i in 0..5 {
            raised.extend(w.on_event(
                &ServiceEvent::Call(turn("u", Speaker::Callee, "x", Some(2000), Some(-0.9))),
                i * 1000,
            ));
        }
        assert!(raised
            .iter()
            .any(|a| a.kind == AlertKind::AsrLatency && !a.cleared));
        assert!(raised
            .iter()
            .any(|a| a.kind == AlertKind::NegativeSentiment));
        let back = w.on_event(
            &ServiceEvent::Call(turn("u", Speaker::Callee, "x", Some(100), None)),
            9000,
        );
        assert!(back
            .iter()
            .any(|a| a.kind == AlertKind::AsrLatency && a.cleared));
        let figures = |rate: f64| {
            ServiceEvent::Campaign(CampaignFigures {
                campaign: "c".into(),
                answered: 100,
                abandon_rate: rate,
                abandon_cap: Some(0.03),
                ..CampaignFigures::default()
            })
        };
        assert!(w.on_event(&figures(0.01), 0).is_empty());
        let a = w.on_event(&figures(0.025), 0);
        assert_eq!(a.len(), 1);
        assert!(!a[0].cleared);
        assert!(w.on_event(&figures(0.026), 0).is_empty(), "raised once");
        assert!(w.on_event(&figures(0.01), 0)[0].cleared);
    }
}
