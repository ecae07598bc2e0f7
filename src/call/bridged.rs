//! The live transcript of a call bridged to a human agent.
//!
//! Once the callee is bridged, the call's own `unicast` stream stops (FreeSWITCH streams only
//! from the park loop, ESL.md), and nothing would hear the rest of the call. aicall listens
//! the way a supervisor does, with core FreeSWITCH only: it originates a loopback call whose
//! first leg eavesdrops on the callee's leg, `[listen] loopback/aicall_listen/aicall
//! &eavesdrop(<call>)`. What the eavesdropper hears — both sides of the call, mixed — is
//! written to that leg, so its loopback partner reads it; the partner's extension
//! (`dialplans/aicall.xml`'s `aicall_listen`) answers and parks, and aicall arms `unicast` on
//! it like on any call. The speech found there is recognised on the campaign's share of the
//! decode pool and published as [`Speaker::Bridged`] lines of the call (the agent desktop's
//! live transcript, the console, the dashboard), and appended to the call record when the
//! call ends.
//!
//! The two sides arrive as one stream: eavesdrop mixes them, so a line is the call's, not
//! the agent's or the callee's. The listening legs end by themselves with the call
//! (eavesdrop stops when its target hangs up); the media's dead-stream watch ends the task.
//!
//! Depends on [`crate::esl`], [`crate::media`], [`crate::asr`] and [`super::record`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::driver::CallDeps;
use super::events::CallEvent;
use super::record::{CallRecord, Speaker, Turn};
use crate::esl::{ChannelRouter, Event};
use crate::media::{MediaEvent, OpenedMedia, VadEvent};

/// How long the listening leg may take to park after the originate.
const PARK_WAIT: Duration = Duration::from_secs(10);
/// The longest a bridged call is transcribed.
const MAX_LISTEN: Duration = Duration::from_secs(4 * 3600);
/// After the stream ends, how long the call's last words may take to come out of analysis
/// (flushed when the media ends; the channel closes after them).
const AFTER_END: Duration = Duration::from_secs(5);
/// The pause that ends a line of the transcript. Nobody waits on a bridged call's lines to
/// take a turn, so a line is a sentence, not a clause: a comma's pause (up to 500 ms in the
/// prompts heard here, 200 to 600 ms in people's speech) would cut a sentence in two, and
/// Whisper recognises the halves worse than the whole (a clause cut off before its end comes
/// back with a word it guessed to finish it).
const LINE_PAUSE_MS: u32 = 800;

/// How the service listens to bridged calls.
#[derive(Clone, Debug)]
pub struct Listen {
    /// The connection's channel router: the listening legs are nobody's calls, their
    /// events come unrouted.
    pub router: ChannelRouter,
    /// The dial string of the listening loopback call (`loopback/aicall_listen/aicall`).
    pub dial: String,
}

/// The call to transcribe.
#[derive(Clone, Debug)]
pub struct BridgedCall {
    /// The callee's leg: the call's UUID.
    pub uuid: String,
    pub agent: String,
    /// Call time (ms after answer) of the bridge.
    pub at_ms: u64,
}

/// Transcribes call `call` until it ends; the lines go to the call's events as they are
/// recognised and into its record at the end. Never fails the call: anything refused is
/// logged and the call goes on untranscribed.
pub async fn transcribe(deps: std::sync::Arc<CallDeps>, listen: Listen, call: BridgedCall) {
    let client = listen.router.client();
    let mut unrouted = listen.router.unrouted();
    let a = uuid::Uuid::new_v4().to_string();
    let originate = format!(
        "originate {} &eavesdrop({})",
        crate::campaign::pacing::with_channel_vars(
            &listen.dial,
            &format!(
                "origination_uuid={a},aicall_listen={},origination_caller_id_name=aicall,\
                 eavesdrop_enable_dtmf=false",
                call.uuid
            )
        ),
        call.uuid
    );
    let job = match client.bgapi(&originate).await {
        Ok(job) => job,
        Err(e) => {
            warn!(call = %call.uuid, error = %e, "cannot listen to the bridged call: no live transcript");
            return;
        }
    };
    let started = Instant::now();
    // A refused originate says why; a successful one is followed by the park.
    let refused = async {
        match job.wait(PARK_WAIT).await {
            Ok(r) if !r.ok => r.body,
            _ => std::future::pending().await,
        }
    };
    // The partner leg, once parked: the one whose other leg is ours.
    let parked = async {
        loop {
            match unrouted.recv().await {
                Ok(ev) if is_partner_parked(&ev, &a) => return Some(ev),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    debug!(missed = n, "listening leg: unrouted events lagged");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    let park = tokio::select! {
        p = tokio::time::timeout(PARK_WAIT, parked) => p.ok().flatten(),
        why = refused => {
            warn!(call = %call.uuid, dial = %listen.dial, %why, "the listening call was refused: no live transcript");
            return;
        }
    };
    let Some(park) = park else {
        warn!(call = %call.uuid, leg = %a, dial = %listen.dial, "the listening leg never parked (is dialplans/aicall.xml's aicall_listen installed?): no live transcript");
        let _ = client.hangup(&a, "NORMAL_CLEARING").await;
        return;
    };
    let b = park.unique_id().unwrap_or_default().to_owned();
    let rate = park
        .get("Channel-Read-Codec-Rate")
        .and_then(|r| r.parse().ok())
        .unwrap_or(8000);
    let opened = match deps.media.prepare().await {
        Ok(p) => {
            let end_ms = deps.end_silence_ms.unwrap_or(0).max(LINE_PAUSE_MS);
            deps.media.start_with(p, &b, rate, Some(end_ms))
        }
        Err(e) => Err(e),
    };
    let OpenedMedia {
        media,
        mut events,
        mut speech,
    } = match opened {
        Ok(m) => m,
        Err(e) => {
            warn!(call = %call.uuid, error = %e, "no media to listen to the bridged call");
            let _ = client.hangup(&a, "NORMAL_CLEARING").await;
            return;
        }
    };
    if let Err(e) = client
        .unicast(&b, media.switch_addr(), media.local_addr())
        .await
    {
        warn!(call = %call.uuid, error = %e, "FreeSWITCH refused unicast on the listening leg");
        let _ = client.hangup(&a, "NORMAL_CLEARING").await;
        media.close().await;
        return;
    }
    info!(call = %call.uuid, agent = %call.agent, "live transcript of the bridged call");
    let mut stream0: Option<Instant> = None;
    let mut lines: Vec<Turn> = Vec::new();
    let deadline = started + MAX_LISTEN;
    // When the stream ended. The last words are still on their way then: queued behind a
    // line being recognised, or flushed from analysis as the media ends. They are the call's
    // (the agent's goodbye, the callee's last answer), so listening goes on until the speech
    // channel closes behind them.
    let mut ended: Option<Instant> = None;
    loop {
        let until = ended.map_or(deadline, |at| (at + AFTER_END).min(deadline));
        // Biased, speech first: a line already heard is recognised before the end of the
        // stream or the wait after it is taken into account.
        tokio::select! {
            biased;
            s = speech.recv() => match s {
                Some(VadEvent::End(seg)) => {
                    // It reached its listener, whatever recognition makes of it (the media
                    // metrics account for every utterance heard).
                    deps.media
                        .metrics()
                        .utterances_delivered
                        .fetch_add(1, Ordering::Relaxed);
                    if seg.is_tone() {
                        debug!(call = %call.uuid, tone_ms = seg.tone_ms, "a tone on the bridged call, not a line");
                        continue;
                    }
                    let at_ms = call.at_ms
                        + stream0.map_or(0, |s0| s0.saturating_duration_since(started).as_millis() as u64)
                        + seg.speech_start_ms;
                    let samples: Vec<f32> =
                        seg.samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
                    let ticket = match deps.asr.submit_for(
                        &deps.campaign,
                        samples,
                        deps.asr_options.clone(),
                    ) {
                        Ok(t) => t,
                        Err(e) => {
                            warn!(call = %call.uuid, error = %e, "a line of the bridged call not recognised");
                            continue;
                        }
                    };
                    let asr_started = std::time::Instant::now();
                    let text = match ticket.wait().await {
                        Ok(h) => h.text.trim().to_owned(),
                        Err(e) => {
                            warn!(call = %call.uuid, error = %e, "a line of the bridged call not recognised");
                            continue;
                        }
                    };
                    if text.is_empty() {
                        continue;
                    }
                    let asr_ms = asr_started.elapsed().as_millis() as u64;
                    deps.events.send(CallEvent::Turn {
                        uuid: call.uuid.clone(),
                        campaign: deps.campaign.clone(),
                        speaker: Speaker::Bridged,
                        text: text.clone(),
                        node: format!("agent {}", call.agent),
                        intent: None,
                        confidence: None,
                        sentiment: None,
                        asr_ms: Some(asr_ms),
                    });
                    lines.push(Turn {
                        asr_ms: Some(asr_ms),
                        ..Turn::new(at_ms, Speaker::Bridged, text)
                    });
                }
                Some(VadEvent::Start(_)) => {}
                None => break,
            },
            ev = events.recv(), if ended.is_none() => match ev {
                Some(MediaEvent::StreamStarted { .. }) => stream0 = Some(Instant::now()),
                Some(MediaEvent::StreamDead { .. }) | None => ended = Some(Instant::now()),
                Some(_) => {}
            },
            _ = tokio::time::sleep_until(until) => break,
        }
    }
    // Speech that arrived after the listening ended.
    speech.close();
    while let Ok(s) = speech.try_recv() {
        if matches!(s, VadEvent::End(_)) {
            deps.media
                .metrics()
                .utterances_after_end
                .fetch_add(1, Ordering::Relaxed);
        }
    }
    media.close().await;
    // Gone with the call already, normally; never left behind.
    let _ = client.hangup(&a, "NORMAL_CLEARING").await;
    debug!(call = %call.uuid, lines = lines.len(), "bridged call transcribed");
    if lines.is_empty() {
        return;
    }
    if let Some(store) = &deps.store {
        let (campaign, uuid) = (deps.campaign.clone(), call.uuid.clone());
        let store = store.clone();
        let saved = tokio::task::spawn_blocking(move || {
            CallRecord::update(store.as_ref(), &campaign, &uuid, |r| {
                r.turns.extend(lines);
            })
        })
        .await;
        match saved {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                warn!(call = %call.uuid, "no record to add the bridged call's lines to")
            }
            Ok(Err(e)) => {
                warn!(call = %call.uuid, error = %e, "the bridged call's lines not saved")
            }
            Err(e) => warn!(call = %call.uuid, error = %e, "the bridged call's lines not saved"),
        }
    }
}

/// The CHANNEL_PARK of the loopback leg partnered with `a`.
fn is_partner_parked(ev: &Event, a: &str) -> bool {
    ev.name() == "CHANNEL_PARK" && ev.get("variable_other_loopback_leg_uuid") == Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partner_is_found_by_its_other_leg() {
        let mut park = Event::new("CHANNEL_PARK");
        park.headers.push("Unique-ID", "b-leg");
        park.headers
            .push("variable_other_loopback_leg_uuid", "a-leg");
        assert!(is_partner_parked(&park, "a-leg"));
        assert!(!is_partner_parked(&park, "another"));
        let mut answer = Event::new("CHANNEL_ANSWER");
        answer
            .headers
            .push("variable_other_loopback_leg_uuid", "a-leg");
        assert!(!is_partner_parked(&answer, "a-leg"));
    }
}
