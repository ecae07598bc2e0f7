//! The call driver: one tokio task per answered call (or per call with early media, which it
//! listens to for a carrier announcement until the answer). It turns what happens on the call —
//! channel events routed to it (DTMF, hangup), media events (prompt started/finished,
//! barge-in, a dead stream), the callee's speech, recogniser and intent results, the
//! machine's own timeouts — into inputs of the pure [`CallMachine`], and carries out its
//! directives: play and stop prompts through the media engine, arm `unicast`, transfer and
//! hang up over ESL, put the number on the DNC list, and write the call record to the store.
//!
//! The callee's speech arrives on its own lossless channel straight from the analysis
//! threads; every finished utterance is counted as delivered when its recognition reaches
//! the machine (or as after-the-end when the conversation was over), so a run can show that
//! none was lost. Recognition never blocks the task: each utterance goes to the shared decode
//! pool (under the campaign's share) and its result comes back on the task's own queue; a
//! pool that is full or fails is a [`Failure`] input, which the machine answers with a safe
//! re-prompt or a polite goodbye — the call never goes silent. Every path out (hangup,
//! transfer, dead stream, a stop from the service) ends the media and saves the record.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use chrono_tz::Tz;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::events::{CallEvent, CallEvents};
use super::machine::{CallMachine, Directive, Failure, Input, Reply, ANNOUNCEMENT_WINDOW_MS};
use super::prompts::{from_offset, PromptSet};
use super::record::{BargeLine, CallRecord, DecisionLine, Speaker, Turn, EARLY_MEDIA_NOTE};
use super::script::{Disposition, Script};
use super::transfer::{
    hold_tone, suggested_answer, Suggestion, TransferDesk, TransferRequest, TransferUpdate,
};
use crate::asr::pool::{DecodePool, PoolError, SubmitError};
use crate::asr::{Hypothesis, RecognizeOptions};
use crate::esl::EslClient;
use crate::media::{CallMedia, MediaEngine, MediaEvent, OpenedMedia, PromptId, VadEvent};
use crate::nlu::{IntentModel, Utterance};
use crate::store::{ListEntry, ListKind, PhoneKey, Store};

/// What every call of a campaign shares.
#[derive(Debug)]
pub struct CallDeps {
    pub campaign: String,
    pub script: Arc<Script>,
    pub prompts: PromptSet,
    pub media: Arc<MediaEngine>,
    pub asr: Arc<DecodePool>,
    pub asr_options: RecognizeOptions,
    /// What early media and the first seconds after the answer are decoded with, while a
    /// carrier or a mailbox may be the one speaking: `asr_options` biased towards their
    /// wordings too ([`crate::nlu::announcement::BIAS_PHRASES`]).
    pub early_asr_options: RecognizeOptions,
    pub nlu: Arc<IntentModel>,
    pub store: Option<Arc<dyn Store>>,
    /// `uuid_transfer` destination; `{queue}` is replaced by the node's queue.
    pub transfer_to: String,
    /// The callees' time zone (callback times are resolved in it).
    pub tz: Tz,
    /// Silence that ends the callee's turn; none: `[media] vad.end_ms`.
    pub end_silence_ms: Option<u32>,
    /// Where the conversation's events go (supervisors, dashboards, metrics).
    pub events: CallEvents,
    /// aicall's agent desk, for transfers to the queues it routes; none: every transfer
    /// goes to the dialplan (`transfer_to`).
    pub desk: Option<Arc<dyn TransferDesk>>,
    /// How a call bridged to an agent of the desk is listened to for its live transcript;
    /// none: not transcribed after the bridge.
    pub listen: Option<super::bridged::Listen>,
}

/// The channel a conversation runs on: its UUID and the client whose connection controls
/// it — the service's shared inbound connection for a call it originated, or the outbound
/// socket's own connection for a call a dialplan handed over.
#[derive(Clone, Debug)]
pub struct Leg {
    pub esl: EslClient,
    pub uuid: String,
}

/// An answered channel to converse on, or one with early media to listen to until it is.
#[derive(Clone, Debug)]
pub struct CallStart {
    pub leg: Leg,
    /// False: the channel has early media only (parked before the answer). Its first
    /// [`ANNOUNCEMENT_WINDOW_MS`] are recognised, so that a carrier announcement played
    /// there ends the call with its disposition; the conversation starts at
    /// [`ChannelInput::Answered`].
    pub answered: bool,
    /// `Channel-Read-Codec-Rate` of the channel.
    pub rate: u32,
    pub contact_id: Option<u64>,
    pub phone_key: Option<PhoneKey>,
    /// Values for the prompts' `{placeholders}` (contact fields).
    pub values: HashMap<String, String>,
}

/// What the owner of the channel tells its conversation.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelInput {
    /// The far end answered a call started on early media (its CHANNEL_ANSWER).
    Answered,
    Dtmf(char),
    /// The channel hung up (its CHANNEL_HANGUP_COMPLETE).
    Hangup {
        cause: String,
    },
    /// The service is stopping and the grace period is over: hang up now and record
    /// `disposition`.
    End {
        disposition: Disposition,
    },
    /// The channel is no longer on the switch and no hangup was seen (the switch restarted
    /// under it): the conversation is over, and the callee did not end it.
    Vanished,
}

/// A recognised (or failed) reply coming back from the decode pool.
struct HeardBack {
    generation: u64,
    speech_end: Instant,
    /// Utterances (VAD segments) the reply is made of.
    segments: u32,
    result: Result<(Hypothesis, Option<crate::nlu::Understanding>), Failure>,
    nlu_ms: u64,
}

/// The desk's next update, or never when the call is not waiting for an agent.
async fn recv_hold(
    h: &mut Option<mpsc::UnboundedReceiver<TransferUpdate>>,
) -> Option<TransferUpdate> {
    match h {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Call {
    deps: Arc<CallDeps>,
    start: CallStart,
    machine: CallMachine,
    media: Option<CallMedia>,
    t0: Instant,
    /// Wall time of the callee stream's first frame (stream ms 0).
    stream0: Option<Instant>,
    /// End of the callee's last reply, until the next prompt starts.
    reply_end: Option<Instant>,
    /// Prompt ids we stopped ourselves (their interruption is not a barge-in).
    stopping: Vec<PromptId>,
    prompt_of: HashMap<PromptId, usize>,
    record: CallRecord,
    heard_tx: mpsc::Sender<HeardBack>,
    ended: bool,
    /// A prompt was queued since the flag was cleared (turn latency bookkeeping).
    played: bool,
    /// The callee's current turn so far (16 kHz, converted once as it arrives): segments
    /// split by a pause are recognised together when the callee goes on before the bot has
    /// answered.
    utterance: Vec<f32>,
    utterance_voiced_ms: u32,
    /// Segments in `utterance` whose recognition has not reached the machine yet.
    utterance_segments: u32,
    /// Generation of the recognition in flight; results of older ones are dropped.
    generation: u64,
    awaiting: bool,
    /// Waiting for an agent of aicall's desk: its updates.
    holding: Option<mpsc::UnboundedReceiver<TransferUpdate>>,
    /// A closing prompt (after a desk fallback): hang up once it has played.
    closing: Option<PromptId>,
    /// Prompt ids of our own (hold tone, closing prompts), above the machine's.
    next_own_prompt: PromptId,
    /// The far end answered (false while on early media).
    answered: bool,
    /// When it answered (none: early media).
    answered_t: Option<Instant>,
}

/// Runs one call to its end and returns its record (also saved to the store when there is
/// one). `channel` carries what the channel's owner learns (DTMF, hangup, a stop).
pub async fn run(
    deps: Arc<CallDeps>,
    start: CallStart,
    mut channel: mpsc::Receiver<ChannelInput>,
) -> CallRecord {
    let (heard_tx, mut heard_rx) = mpsc::channel(8);
    let record = CallRecord {
        uuid: start.leg.uuid.clone(),
        campaign: deps.campaign.clone(),
        contact_id: start.contact_id,
        script: deps.script.name.clone(),
        answered_at: unix_ms(),
        answered: start.answered,
        ended_at: 0,
        disposition: None,
        hangup_cause: None,
        transferred_to: None,
        agent: None,
        agent_outcome: None,
        callback_at: None,
        tags: Vec::new(),
        path: Vec::new(),
        turns: Vec::new(),
        decisions: Vec::new(),
        barge_ins: Vec::new(),
        turn_latency_ms: Vec::new(),
        barge_in_latency_ms: Vec::new(),
        dtmf: String::new(),
    };
    let mut call = Call {
        machine: CallMachine::new(deps.script.clone()),
        deps,
        start,
        media: None,
        t0: Instant::now(),
        stream0: None,
        reply_end: None,
        stopping: Vec::new(),
        prompt_of: HashMap::new(),
        record,
        heard_tx,
        ended: false,
        played: false,
        utterance: Vec::new(),
        utterance_voiced_ms: 0,
        utterance_segments: 0,
        generation: 0,
        awaiting: false,
        holding: None,
        closing: None,
        next_own_prompt: 1 << 40,
        answered: false,
        answered_t: None,
    };
    let (mut media_rx, mut speech_rx) = match call.open_media().await {
        Some(rx) => rx,
        None => return call.finish().await,
    };
    if call.start.answered {
        call.on_answer().await;
    } else {
        debug!(uuid = %call.start.leg.uuid, "listening to early media");
    }
    let far = Instant::now() + Duration::from_secs(86_400);
    while !call.ended {
        let next_timeout = call
            .machine
            .poll_timeout()
            .map_or(far, |ms| call.t0 + Duration::from_millis(ms));
        tokio::select! {
            ev = media_rx.recv() => match ev {
                Some(ev) => call.on_media(ev).await,
                None => {
                    debug!(uuid = %call.start.leg.uuid, "media ended");
                    call.ended = true;
                }
            },
            Some(speech) = speech_rx.recv() => call.on_speech(speech).await,
            Some(h) = heard_rx.recv() => call.on_heard(h).await,
            Some(u) = recv_hold(&mut call.holding) => call.on_transfer(u).await,
            c = channel.recv() => match c {
                Some(ChannelInput::Answered) => call.on_answer().await,
                Some(ChannelInput::Dtmf(d)) => {
                    call.record.dtmf.push(d);
                    call.input(Input::Dtmf(d)).await;
                }
                Some(ChannelInput::Hangup { cause }) => {
                    call.record.hangup_cause = Some(cause);
                    if call.holding.take().is_some() {
                        // Hung up while waiting for an agent: the desk releases the agent.
                        if let Some(desk) = &call.deps.desk {
                            desk.callee_gone(&call.start.leg.uuid);
                        }
                        call.record.disposition = Some(Disposition::Abandoned);
                    }
                    call.input(Input::CalleeHungUp).await;
                    call.ended = true;
                }
                Some(ChannelInput::Vanished) => {
                    warn!(uuid = %call.start.leg.uuid, "the channel vanished from the switch");
                    call.record.disposition = Some(Disposition::Interrupted);
                    call.ended = true;
                }
                Some(ChannelInput::End { disposition }) => {
                    info!(uuid = %call.start.leg.uuid, %disposition, "ending the call: the service is stopping");
                    call.record.disposition = Some(disposition);
                    call.hang_up().await;
                    call.ended = true;
                }
                None => call.ended = true,
            },
            _ = tokio::time::sleep_until(next_timeout) => call.input(Input::Timeout).await,
        }
    }
    // Speech that arrived after the conversation: nothing left to deliver it to. Closing
    // first means nothing can slip in after the count.
    speech_rx.close();
    while let Ok(speech) = speech_rx.try_recv() {
        if matches!(speech, VadEvent::End(_)) {
            call.utterance_segments += 1;
        }
    }
    call.finish().await
}

impl Call {
    fn now_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    /// The far end answered: the conversation starts. Early media still being recognised
    /// is not the callee's reply: it is dropped (it reached the early listener).
    async fn on_answer(&mut self) {
        if self.answered {
            return;
        }
        self.answered = true;
        self.answered_t = Some(Instant::now());
        self.record.answered_at = unix_ms();
        self.record.answered = true;
        if self.utterance_segments > 0 {
            self.generation += 1;
            self.awaiting = false;
            self.utterance.clear();
            self.utterance_voiced_ms = 0;
            self.deps
                .media
                .metrics()
                .utterances_delivered
                .fetch_add(u64::from(self.utterance_segments), Ordering::Relaxed);
            self.utterance_segments = 0;
        }
        self.deps.events.send(CallEvent::Answered {
            uuid: self.start.leg.uuid.clone(),
            campaign: self.deps.campaign.clone(),
        });
        self.input(Input::Answered).await;
    }

    /// Opens the call's media and tells the switch to stream (`unicast`); on failure the
    /// call is hung up as failed and `None` is returned.
    async fn open_media(
        &mut self,
    ) -> Option<(
        mpsc::UnboundedReceiver<MediaEvent>,
        mpsc::UnboundedReceiver<VadEvent>,
    )> {
        let leg = self.start.leg.clone();
        let media = &self.deps.media;
        let opened = match media.prepare().await {
            Ok(p) => media.start_with(p, &leg.uuid, self.start.rate, self.deps.end_silence_ms),
            Err(e) => Err(e),
        };
        let OpenedMedia {
            media,
            events,
            speech,
        } = match opened {
            Ok(m) => m,
            Err(e) => {
                warn!(uuid = %leg.uuid, error = %e, "no media for the call: hanging up");
                self.record.disposition = Some(Disposition::Failed);
                let _ = leg.esl.hangup(&leg.uuid, "DESTINATION_OUT_OF_ORDER").await;
                return None;
            }
        };
        // FreeSWITCH streams from its `local` side to ours: the switch's port is the local
        // end of the command.
        if let Err(e) = leg
            .esl
            .unicast(&leg.uuid, media.switch_addr(), media.local_addr())
            .await
        {
            warn!(uuid = %leg.uuid, error = %e, "FreeSWITCH refused unicast: hanging up");
            self.record.disposition = Some(Disposition::Failed);
            let _ = leg.esl.hangup(&leg.uuid, "DESTINATION_OUT_OF_ORDER").await;
            media.close().await;
            return None;
        }
        self.media = Some(media);
        Some((events, speech))
    }

    async fn input(&mut self, input: Input) {
        let now = self.now_ms();
        let directives = self.machine.step(now, input);
        for d in directives {
            self.carry_out(d).await;
        }
    }

    async fn hang_up(&mut self) {
        let leg = &self.start.leg;
        if let Err(e) = leg.esl.hangup(&leg.uuid, "NORMAL_CLEARING").await {
            warn!(uuid = %leg.uuid, error = %e, "hangup failed");
        }
    }

    async fn carry_out(&mut self, d: Directive) {
        let uuid = self.start.leg.uuid.clone();
        match d {
            Directive::Play {
                id,
                prompt,
                from_ms,
                barge_in,
            } => {
                let deps = self.deps.clone();
                let (rate, values) = (self.start.rate, self.start.values.clone());
                let audio =
                    tokio::task::spawn_blocking(move || deps.prompts.audio(prompt, rate, &values))
                        .await;
                let audio = match audio {
                    Ok(Ok(a)) => from_offset(&a, from_ms),
                    Ok(Err(e)) => {
                        warn!(%uuid, error = %e, "prompt unavailable");
                        return Box::pin(self.input(Input::Failed(Failure::PromptAudio))).await;
                    }
                    Err(e) => {
                        warn!(%uuid, error = %e, "prompt task failed");
                        return Box::pin(self.input(Input::Failed(Failure::PromptAudio))).await;
                    }
                };
                self.prompt_of.insert(id, prompt);
                self.played = true;
                if let Some(m) = &self.media {
                    if let Err(e) = m.play(id, audio, barge_in).await {
                        warn!(%uuid, error = %e, "cannot queue the prompt");
                    }
                }
            }
            Directive::Stop => {
                if let Some(m) = &self.media {
                    self.stopping.extend(self.prompt_of.keys().copied());
                    let _ = m.stop(true).await;
                }
            }
            Directive::Tag(t) => {
                if !self.record.tags.contains(&t) {
                    self.record.tags.push(t);
                }
            }
            Directive::AddDnc => match (&self.deps.store, &self.start.phone_key) {
                (Some(store), Some(key)) => {
                    let entry = ListEntry {
                        kind: ListKind::Dnc,
                        added_at: unix_ms() / 1000,
                        source: format!("call {uuid}: callee asked"),
                    };
                    match store.list_add(key, &entry) {
                        Ok(()) => info!(%uuid, "number added to the DNC list"),
                        Err(e) => warn!(%uuid, error = %e, "cannot record the DNC request"),
                    }
                }
                _ => warn!(%uuid, "DNC requested but the call has no contact in the store"),
            },
            Directive::ScheduleCallback { at } => {
                let at = at.unwrap_or(unix_ms() / 1000 + 2 * 3600);
                self.record.callback_at = Some(at);
            }
            Directive::Transfer { queue, skills } => {
                if let Some(desk) = self.deps.desk.clone().filter(|d| d.routes(&queue)) {
                    return self.hold_for_agent(desk, queue, skills).await;
                }
                let dest = self.deps.transfer_to.replace("{queue}", &queue);
                self.record.transferred_to = Some(queue.clone());
                self.sync_record();
                let esl = self.start.leg.esl.clone();
                // What the agent's screen shows (mod_callcenter's cc_export_vars carries these
                // to the agent leg).
                let vars = [
                    ("aicall_queue", queue.clone()),
                    ("aicall_skills", skills.join(",")),
                    ("aicall_conversation", self.record.conversation()),
                ];
                for (k, v) in vars {
                    if let Err(e) = esl.setvar(&uuid, k, &v).await {
                        warn!(%uuid, var = k, error = %e, "cannot set the transfer variable");
                    }
                }
                match esl.transfer(&uuid, &dest).await {
                    Ok(()) => {
                        info!(%uuid, %queue, "transferred to an agent queue");
                        self.deps.events.send(CallEvent::Transfer {
                            uuid: uuid.clone(),
                            campaign: self.deps.campaign.clone(),
                            queue: queue.clone(),
                        });
                    }
                    Err(e) => {
                        warn!(%uuid, error = %e, "transfer failed: hanging up");
                        self.record.disposition = Some(Disposition::Failed);
                        self.hang_up().await;
                    }
                }
                self.ended = true;
            }
            Directive::Hangup { disposition } => {
                if disposition == Disposition::Callback && self.record.callback_at.is_none() {
                    self.record.callback_at = self
                        .machine
                        .callback_at()
                        .or(Some(unix_ms() / 1000 + 2 * 3600));
                }
                self.hang_up().await;
                self.ended = true;
            }
        }
    }

    /// Transfers to a queue of aicall's desk: the callee holds on our media while the desk
    /// rings agents.
    async fn hold_for_agent(
        &mut self,
        desk: Arc<dyn TransferDesk>,
        queue: String,
        skills: Vec<String>,
    ) {
        let uuid = self.start.leg.uuid.clone();
        self.record.transferred_to = Some(queue.clone());
        self.sync_record();
        let last_intent = self
            .record
            .turns
            .iter()
            .rev()
            .find_map(|t| t.intent.as_deref())
            .and_then(|i| i.parse().ok())
            .unwrap_or(crate::nlu::Intent::Other);
        let req = TransferRequest {
            call: uuid.clone(),
            campaign: self.deps.campaign.clone(),
            queue: queue.clone(),
            skills,
            intent: last_intent,
            node: self.machine.current_node().to_owned(),
            contact_id: self.start.contact_id,
            callee: self.start.values.get("callee").cloned().unwrap_or_default(),
            name: self.start.values.get("name").cloned(),
            fields: self.start.values.clone(),
            lead_score: self
                .start
                .values
                .get("lead_score")
                .and_then(|s| s.parse().ok()),
            callback_at: self.machine.callback_at(),
            amount: self.machine.amount(),
            suggestion: suggested_answer(&self.deps.script, &self.record.turns).map(
                |(question, answer, score)| {
                    Box::new(Suggestion {
                        question: question.to_owned(),
                        key: self.deps.script.prompt(answer).key.clone(),
                        answer: self.deps.prompts.text(answer, &self.start.values),
                        score,
                    })
                },
            ),
            conversation: self.record.turns.clone(),
            language: self.deps.asr_options.language.code().map(str::to_owned),
        };
        info!(%uuid, %queue, "waiting for an agent of aicall's desk");
        self.holding = Some(desk.request(req));
        self.deps.events.send(CallEvent::Transfer {
            uuid,
            campaign: self.deps.campaign.clone(),
            queue,
        });
        self.play_hold().await;
    }

    /// Queues the hold tone (the script's `hold` prompt when it has one).
    async fn play_hold(&mut self) {
        let rate = self.start.rate;
        let prompt = match self
            .deps
            .script
            .prompts
            .iter()
            .position(|p| p.key == "hold")
        {
            Some(i) => {
                let deps = self.deps.clone();
                let values = self.start.values.clone();
                match tokio::task::spawn_blocking(move || deps.prompts.audio(i, rate, &values))
                    .await
                {
                    Ok(Ok(p)) => p,
                    _ => crate::media::Prompt::from_pcm("hold", rate, hold_tone(rate, 8)),
                }
            }
            None => crate::media::Prompt::from_pcm("hold", rate, hold_tone(rate, 8)),
        };
        let id = self.own_prompt_id();
        if let Some(m) = &self.media {
            let _ = m.play(id, prompt, false).await;
        }
    }

    fn own_prompt_id(&mut self) -> PromptId {
        self.next_own_prompt += 1;
        self.next_own_prompt
    }

    /// The desk's answer to the waiting call.
    async fn on_transfer(&mut self, u: TransferUpdate) {
        let uuid = self.start.leg.uuid.clone();
        match u {
            TransferUpdate::Offered { agent } => debug!(%uuid, %agent, "ringing an agent"),
            TransferUpdate::Connected { agent } => {
                info!(%uuid, %agent, "bridged to the agent");
                if let Some(listen) = &self.deps.listen {
                    tokio::spawn(super::bridged::transcribe(
                        self.deps.clone(),
                        listen.clone(),
                        super::bridged::BridgedCall {
                            uuid: uuid.clone(),
                            agent: agent.clone(),
                            at_ms: self.now_ms(),
                        },
                    ));
                }
                self.holding = None;
                self.record.disposition = Some(Disposition::Transferred);
                self.record.agent = Some(agent);
                self.ended = true;
            }
            TransferUpdate::Callback { at } => {
                info!(%uuid, "no agent in time: a callback is booked");
                self.holding = None;
                self.record.disposition = Some(Disposition::Callback);
                self.record.callback_at = at
                    .or(self.record.callback_at)
                    .or(Some(unix_ms() / 1000 + 2 * 3600));
                self.close_with("callback_confirm").await;
            }
            TransferUpdate::BackToBot => {
                info!(%uuid, "no agent in time: back to the bot for a goodbye");
                self.holding = None;
                self.record.disposition = Some(Disposition::Abandoned);
                self.close_with("goodbye").await;
            }
        }
    }

    /// Stops the hold tone, says the script's prompt `key` (when it has one) and hangs up.
    async fn close_with(&mut self, key: &str) {
        if let Some(m) = &self.media {
            let _ = m.stop(true).await;
        }
        let Some(i) = self.deps.script.prompts.iter().position(|p| p.key == key) else {
            self.hang_up().await;
            self.ended = true;
            return;
        };
        let deps = self.deps.clone();
        let (rate, values) = (self.start.rate, self.start.values.clone());
        let audio = tokio::task::spawn_blocking(move || deps.prompts.audio(i, rate, &values)).await;
        let id = self.own_prompt_id();
        let queued = match (audio, &self.media) {
            (Ok(Ok(a)), Some(m)) => m.play(id, a, false).await.is_ok(),
            _ => false,
        };
        if queued {
            self.closing = Some(id);
        } else {
            self.hang_up().await;
            self.ended = true;
        }
    }

    async fn on_media(&mut self, ev: MediaEvent) {
        match ev {
            MediaEvent::StreamStarted { .. } => {
                self.stream0 = Some(Instant::now());
            }
            MediaEvent::PromptStarted { id } => {
                if let Some(end) = self.reply_end.take() {
                    let ms = Instant::now().saturating_duration_since(end).as_millis() as u32;
                    self.record.turn_latency_ms.push(ms);
                    self.deps.events.send(CallEvent::TurnLatency {
                        uuid: self.start.leg.uuid.clone(),
                        campaign: self.deps.campaign.clone(),
                        ms,
                    });
                }
                if let Some(&p) = self.prompt_of.get(&id) {
                    let text = self.deps.prompts.text(p, &self.start.values);
                    self.deps.events.send(CallEvent::Turn {
                        uuid: self.start.leg.uuid.clone(),
                        campaign: self.deps.campaign.clone(),
                        speaker: Speaker::Bot,
                        text: text.clone(),
                        node: self.machine.current_node().to_owned(),
                        intent: None,
                        confidence: None,
                        sentiment: None,
                        asr_ms: None,
                    });
                    self.record.turns.push(Turn {
                        prompt: Some(self.deps.script.prompt(p).key.clone()),
                        ..Turn::new(self.now_ms(), Speaker::Bot, text)
                    });
                }
                self.input(Input::PromptStarted { id }).await;
            }
            MediaEvent::PromptFinished { id, .. } => {
                self.prompt_of.remove(&id);
                if self.closing == Some(id) {
                    self.hang_up().await;
                    self.ended = true;
                    return;
                }
                if id >= 1 << 40 {
                    // Our own (the hold tone): the machine never queued it.
                    if self.holding.is_some() {
                        self.play_hold().await;
                    }
                    return;
                }
                self.input(Input::PromptFinished { id }).await;
            }
            MediaEvent::PromptInterrupted { id, played_ms, .. } => {
                self.prompt_of.remove(&id);
                if !self.stopping.contains(&id) {
                    self.note_cut(played_ms);
                }
                self.stopping.retain(|&s| s != id);
            }
            MediaEvent::BargeIn(b) => {
                self.record
                    .barge_in_latency_ms
                    .push(b.latency.as_millis() as u32);
                if let Some(&p) = self.prompt_of.get(&b.prompt) {
                    self.deps.events.send(CallEvent::BargeIn {
                        uuid: self.start.leg.uuid.clone(),
                        campaign: self.deps.campaign.clone(),
                        prompt: self.deps.script.prompt(p).key.clone(),
                        played_ms: b.played_ms,
                        latency_ms: b.latency.as_millis() as u32,
                    });
                }
                self.note_cut(b.played_ms);
                self.input(Input::BargedIn {
                    id: b.prompt,
                    played_ms: b.played_ms,
                })
                .await;
            }
            MediaEvent::StreamDead { silent_for } => {
                let leg = self.start.leg.clone();
                match leg.esl.exists(&leg.uuid).await {
                    Ok(true) => {
                        warn!(uuid = %leg.uuid, ?silent_for, "callee audio stopped on a live channel: ending the call");
                        self.record.disposition = Some(Disposition::Failed);
                        self.hang_up().await;
                    }
                    // Gone: a hangup we did not hear.
                    Ok(false) => self.input(Input::CalleeHungUp).await,
                    // The switch does not answer (it restarted, or the link is down): the
                    // callee did not end this call; it is called again.
                    Err(e) => {
                        warn!(uuid = %leg.uuid, error = %e, "callee audio stopped and the switch does not answer");
                        self.record.disposition = Some(Disposition::Interrupted);
                    }
                }
                self.ended = true;
            }
            MediaEvent::RateMismatch { bytes, announced } => {
                warn!(uuid = %self.start.leg.uuid, bytes, announced, "media frames do not match the channel rate");
            }
        }
    }

    async fn on_speech(&mut self, speech: VadEvent) {
        match speech {
            VadEvent::Start(_) => {
                if self.awaiting && self.answered {
                    // The callee goes on after a pause before we answered: the reply in
                    // flight is incomplete; it is recognised again with what follows.
                    self.generation += 1;
                    self.awaiting = false;
                }
                self.input(Input::SpeechStarted).await
            }
            VadEvent::End(seg) if seg.is_tone() => {
                // A beep, a ringback, in-band DTMF: nothing to recognise (Whisper would
                // write something for it). Answered, it ends the turn as speech without
                // text would; the callee's words before it are recognised without it.
                self.deps
                    .media
                    .metrics()
                    .utterances_delivered
                    .fetch_add(1, Ordering::Relaxed);
                debug!(uuid = %self.start.leg.uuid, tone_ms = seg.tone_ms, "a tone, not speech: not recognised");
                if !self.answered {
                    return;
                }
                if self.utterance.is_empty() {
                    self.input(Input::Unintelligible).await;
                } else {
                    let end = match self.stream0 {
                        Some(s0) => s0 + Duration::from_millis(seg.speech_start_ms),
                        None => Instant::now(),
                    };
                    self.generation += 1;
                    self.awaiting = true;
                    self.recognise(end, self.utterance_segments);
                }
            }
            VadEvent::End(seg) => {
                if !self.answered && self.now_ms() > ANNOUNCEMENT_WINDOW_MS {
                    // Early media past the window (a long ringback tone): not recognised,
                    // and nothing waits for it.
                    self.deps
                        .media
                        .metrics()
                        .utterances_delivered
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                }
                self.utterance_segments += 1;
                if !self.answered {
                    // Early media takes no turns (an announcement repeats with short
                    // pauses, a ringback tone never stops): each utterance is recognised on
                    // its own, as it comes, and every result is delivered.
                    self.utterance.clear();
                    self.utterance_voiced_ms = 0;
                }
                let end = match self.stream0 {
                    Some(s0) => s0 + Duration::from_millis(seg.speech_end_ms),
                    None => Instant::now(),
                };
                // Bound what a callee who never stops can pile up (30 s at 16 kHz).
                if self.utterance.len() + seg.samples.len() > 30 * 16_000 {
                    self.utterance.clear();
                    self.utterance_voiced_ms = 0;
                }
                self.utterance
                    .extend(seg.samples.iter().map(|&s| f32::from(s) / 32768.0));
                self.utterance_voiced_ms += seg.voiced_ms;
                if self.answered {
                    self.generation += 1;
                    self.awaiting = true;
                    self.recognise(end, self.utterance_segments);
                } else {
                    self.recognise(end, 1);
                }
            }
        }
    }

    /// Marks the last bot line as cut by the callee.
    fn note_cut(&mut self, played_ms: u32) {
        if let Some(t) = self
            .record
            .turns
            .iter_mut()
            .rev()
            .find(|t| t.speaker == Speaker::Bot)
        {
            t.note = Some(format!("cut after {played_ms} ms"));
        }
    }

    /// Sends the utterance so far to the decode pool (under the campaign's share; early
    /// media in the background, behind every answered call's reply); the result comes back
    /// on `heard_tx`. `segments`: the VAD segments it is made of.
    fn recognise(&mut self, speech_end: Instant, segments: u32) {
        let window = Duration::from_millis(ANNOUNCEMENT_WINDOW_MS);
        let options = match self.answered_t {
            Some(at) if at.elapsed() > window => self.deps.asr_options.clone(),
            _ => self.deps.early_asr_options.clone(),
        };
        let samples = self.utterance.clone();
        let ticket = if self.answered {
            self.deps
                .asr
                .submit_for(&self.deps.campaign, samples, options)
        } else {
            self.deps.asr.submit_background(samples, options)
        };
        let tx = self.heard_tx.clone();
        let deps = self.deps.clone();
        let prompt_text = self.machine.last_prompt_text().map(str::to_owned);
        let generation = self.generation;
        tokio::spawn(async move {
            let result = async {
                let h = match ticket {
                    Ok(t) => t.wait().await.map_err(|e| match e {
                        // Early media made room for a reply: as if it had not been queued.
                        PoolError::GaveWay => Failure::Overloaded,
                        e => {
                            warn!(error = %e, "recognition failed");
                            Failure::Recogniser
                        }
                    })?,
                    Err(SubmitError::Overloaded { .. }) => return Err(Failure::Overloaded),
                    Err(SubmitError::ShutDown) => return Err(Failure::Recogniser),
                };
                if h.text.trim().is_empty() {
                    return Ok((h, None, 0));
                }
                let nlu_started = std::time::Instant::now();
                let text = h.text.clone();
                let u = tokio::task::spawn_blocking(move || {
                    let now = Utc::now().with_timezone(&deps.tz);
                    deps.nlu.classify(&Utterance {
                        text: &text,
                        prompt: prompt_text.as_deref(),
                        hour: None,
                        now: Some(now),
                    })
                })
                .await
                .map_err(|_| Failure::Understanding)?
                .map_err(|e| {
                    warn!(error = %e, "intent model failed");
                    Failure::Understanding
                })?;
                Ok((h, Some(u), nlu_started.elapsed().as_millis() as u64))
            }
            .await;
            let (result, nlu_ms) = match result {
                Ok((h, u, nlu_ms)) => (Ok((h, u)), nlu_ms),
                Err(e) => (Err(e), 0),
            };
            // The call may have ended meanwhile; then nobody needs the result.
            let _ = tx
                .send(HeardBack {
                    generation,
                    speech_end,
                    segments,
                    result,
                    nlu_ms,
                })
                .await;
        });
    }

    async fn on_heard(&mut self, h: HeardBack) {
        if h.generation != self.generation {
            debug!(uuid = %self.start.leg.uuid, "partial reply superseded by the rest of the turn");
            return;
        }
        self.awaiting = false;
        self.utterance.clear();
        let voiced_ms = std::mem::take(&mut self.utterance_voiced_ms);
        // These segments reach the machine now, whatever the recognition made of them.
        self.utterance_segments = self.utterance_segments.saturating_sub(h.segments);
        let metrics = self.deps.media.metrics();
        if self.machine.is_ended() {
            metrics
                .utterances_after_end
                .fetch_add(u64::from(h.segments), Ordering::Relaxed);
            return;
        }
        metrics
            .utterances_delivered
            .fetch_add(u64::from(h.segments), Ordering::Relaxed);
        self.reply_end = Some(h.speech_end);
        let at_ms = h.speech_end.saturating_duration_since(self.t0).as_millis() as u64;
        match h.result {
            Err(e) => {
                let early = if self.answered { "" } else { " (early media)" };
                self.record.turns.push(Turn {
                    note: Some(format!("not understood{early}: {e}")),
                    ..Turn::new(at_ms, Speaker::Callee, "")
                });
                self.input(Input::Failed(e)).await;
            }
            Ok((hyp, None)) => {
                debug!(uuid = %self.start.leg.uuid, suppressed = ?hyp.suppressed, "speech without text");
                self.reply_end = None;
                self.input(Input::Unintelligible).await;
            }
            Ok((hyp, Some(u))) => {
                let mut reply = Reply::new(&hyp.text, &u);
                reply.voiced_ms = Some(voiced_ms);
                // Before the answer it is the far end's early media, not a turn anyone
                // watching the call should see; the record keeps it, marked.
                let early = (!self.answered).then(|| EARLY_MEDIA_NOTE.to_owned());
                if self.answered {
                    self.deps.events.send(CallEvent::Turn {
                        uuid: self.start.leg.uuid.clone(),
                        campaign: self.deps.campaign.clone(),
                        speaker: Speaker::Callee,
                        text: hyp.text.clone(),
                        node: self.machine.current_node().to_owned(),
                        intent: Some(u.label.as_str().to_owned()),
                        confidence: Some(u.confidence),
                        sentiment: Some(u.sentiment.score),
                        asr_ms: Some(hyp.decode_ms),
                    });
                }
                self.record.turns.push(Turn {
                    at_ms,
                    speaker: Speaker::Callee,
                    text: hyp.text.clone(),
                    prompt: None,
                    intent: Some(u.label.as_str().to_owned()),
                    confidence: Some(u.confidence),
                    asr_ms: Some(hyp.decode_ms),
                    nlu_ms: Some(h.nlu_ms),
                    sentiment: Some(u.sentiment.score),
                    note: early,
                });
                self.played = false;
                self.input(Input::Heard(reply)).await;
                if !self.played {
                    // Not a turn (a backchannel over a prompt, a held reply): no latency.
                    self.reply_end = None;
                }
            }
        }
    }

    fn sync_record(&mut self) {
        self.record.path = self.machine.path().to_vec();
        self.record.decisions = self
            .machine
            .decisions()
            .iter()
            .map(DecisionLine::from)
            .collect();
        self.record.barge_ins = self
            .machine
            .barge_ins()
            .iter()
            .map(BargeLine::from)
            .collect();
        if self.record.disposition.is_none() {
            self.record.disposition = self.machine.disposition();
        }
        if self.record.callback_at.is_none() {
            self.record.callback_at = self.machine.callback_at();
        }
    }

    async fn finish(mut self) -> CallRecord {
        if !self.machine.is_ended() {
            let now = self.now_ms();
            self.machine.step(now, Input::CalleeHungUp);
        }
        // Utterances still being recognised when the conversation ended.
        if self.utterance_segments > 0 {
            self.deps
                .media
                .metrics()
                .utterances_after_end
                .fetch_add(u64::from(self.utterance_segments), Ordering::Relaxed);
        }
        self.sync_record();
        self.record.ended_at = unix_ms();
        if let Some(m) = self.media.take() {
            m.close().await;
        }
        if !self.answered && self.record.disposition.is_none() {
            // Early media only, and nothing in it decided anything: no conversation took
            // place, and the hangup cause tells the dialer what became of the call. (Decided
            // there — a carrier announcement — the record covers the listening: its
            // `answered_at` is when early media began.)
            return self.record;
        }
        if let Some(store) = &self.deps.store {
            if let Err(e) = self.record.save(store.as_ref()) {
                warn!(uuid = %self.record.uuid, error = %e, "cannot save the call record");
            }
        }
        self.record
    }
}
