//! The call service: listens on its own ESL connection for answered channels of a campaign
//! entering the park loop (the dialer originates them with `aicall_campaign` / `aicall_contact` channel
//! variables and `&park()`), starts a call driver for each, and routes each channel's DTMF and
//! hangup events to its driver. Returns the call records when told to stop and every call has
//! ended. Also computes the campaign summary figures (answer rate, intents, dispositions,
//! latency percentiles).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::driver::{self, CallDeps, CallStart, ChannelInput};
use super::record::{CallRecord, Speaker};
use crate::esl::{ClientEvent, EventKind, EventStream};
use crate::pii::Pii;

/// Events the service needs on its connection.
pub const EVENTS: &[&str] = &["CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE", "DTMF"];

/// Runs calls for `deps.campaign` until `stop` turns true and no call is live.
pub async fn serve(
    deps: Arc<CallDeps>,
    mut events: EventStream,
    mut stop: watch::Receiver<bool>,
) -> Vec<CallRecord> {
    let mut calls: HashMap<String, mpsc::Sender<ChannelInput>> = HashMap::new();
    let mut tasks: JoinSet<CallRecord> = JoinSet::new();
    let mut records = Vec::new();
    let mut stopping = *stop.borrow();
    loop {
        if stopping && tasks.is_empty() {
            break;
        }
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ClientEvent::Event(ev)) => {
                    let Some(uuid) = ev.unique_id().map(str::to_owned) else { continue };
                    match ev.kind() {
                        // Media starts in the park loop (FreeSWITCH accepts `unicast` only
                        // there): the answered channel's `&park()`, not its answer.
                        EventKind::ChannelPark => {
                            if ev.variable("aicall_campaign") != Some(deps.campaign.as_str())
                                || calls.contains_key(&uuid)
                            {
                                continue;
                            }
                            let rate = ev
                                .get("Channel-Read-Codec-Rate")
                                .and_then(|r| r.parse().ok())
                                .unwrap_or(8000);
                            let contact_id: Option<u64> =
                                ev.variable("aicall_contact").and_then(|c| c.parse().ok());
                            let mut values = HashMap::new();
                            values.insert("campaign".to_owned(), deps.campaign.clone());
                            let mut phone_key = None;
                            if let (Some(store), Some(id)) = (&deps.store, contact_id) {
                                match store.contact(id) {
                                    Ok(c) => {
                                        phone_key = Some(c.phone_key);
                                        if let Some(n) = &c.pii.name {
                                            values.insert("name".into(), n.clone());
                                        }
                                        for (k, v) in &c.pii.fields {
                                            values.insert(k.clone(), v.clone());
                                        }
                                        info!(%uuid, phone = %Pii(&c.pii.phone), "call answered");
                                    }
                                    Err(e) => warn!(%uuid, error = %e, "answered contact not in the store"),
                                }
                            }
                            let (tx, rx) = mpsc::channel(16);
                            calls.insert(uuid.clone(), tx);
                            let start = CallStart { uuid, rate, contact_id, phone_key, values };
                            tasks.spawn(driver::run(deps.clone(), start, rx));
                        }
                        EventKind::ChannelHangupComplete { cause, .. } => {
                            if let Some(tx) = calls.remove(&uuid) {
                                let _ = tx.send(ChannelInput::Hangup { cause: cause.name().to_owned() }).await;
                            }
                        }
                        EventKind::Dtmf { digit, .. } => {
                            if let Some(tx) = calls.get(&uuid) {
                                let _ = tx.send(ChannelInput::Dtmf(digit)).await;
                            }
                        }
                        _ => {}
                    }
                }
                Some(ClientEvent::Disconnected { .. }) => warn!("call service lost ESL; calls continue on their media"),
                Some(ClientEvent::Reconnected { .. }) => debug!("call service reconnected"),
                None => {
                    warn!("call service: ESL event stream closed");
                    stopping = true;
                    if tasks.is_empty() {
                        break;
                    }
                }
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => match done {
                Ok(r) => {
                    calls.remove(&r.uuid);
                    records.push(r);
                }
                Err(e) => warn!(error = %e, "call task failed"),
            },
            changed = stop.changed(), if !stopping => {
                stopping = changed.is_err() || *stop.borrow();
            }
        }
    }
    records
}

/// Nearest-rank percentile of `v` (0 when empty).
pub fn percentile(v: &[u32], q: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

/// The campaign's figures over its call records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub calls: usize,
    pub answered: usize,
    pub intents: BTreeMap<String, usize>,
    pub dispositions: BTreeMap<String, usize>,
    pub turn_ms: Vec<u32>,
    pub barge_in_ms: Vec<u32>,
    pub barge_ins: usize,
    pub false_barge_ins: usize,
}

impl Summary {
    pub fn of(calls: usize, records: &[CallRecord]) -> Summary {
        let mut s = Summary {
            calls,
            answered: records.len(),
            ..Summary::default()
        };
        for r in records {
            for t in r.turns.iter().filter(|t| t.speaker == Speaker::Callee) {
                if let Some(i) = &t.intent {
                    *s.intents.entry(i.clone()).or_default() += 1;
                }
            }
            let d = r.disposition.map_or("none", |d| d.as_str());
            *s.dispositions.entry(d.to_owned()).or_default() += 1;
            s.turn_ms.extend(&r.turn_latency_ms);
            s.barge_in_ms.extend(&r.barge_in_latency_ms);
            s.barge_ins += r.barge_ins.len();
            s.false_barge_ins += r.barge_ins.iter().filter(|b| b.verdict != "real").count();
        }
        s
    }

    /// The summary's last line (the demo and `aicall bench calls` end with it).
    pub fn last_line(&self) -> String {
        format!(
            "calls={} answered={} turn_p50_ms={} turn_p95_ms={} bargein_p95_ms={}",
            self.calls,
            self.answered,
            percentile(&self.turn_ms, 0.5),
            percentile(&self.turn_ms, 0.95),
            percentile(&self.barge_in_ms, 0.95)
        )
    }
}
