//! Calls a dialplan hands to aicall: FreeSWITCH's outbound event socket.
//!
//! A telephony engineer routes any call to aicall with
//! `<action application="socket" data="127.0.0.1:8084 async full"/>` (see `dialplans/`):
//! inbound AI reception, or calls another system originated. FreeSWITCH connects here, one
//! connection per call; aicall takes the channel over (`connect`, `myevents`, `linger`),
//! answers it, and holds the same conversation as on a call it dialled — media, recognition,
//! script, record — over that connection.
//!
//! Which conversation: the channel variable `aicall_campaign` names a campaign (its script
//! and turn settings; `aicall_contact` optionally names the contact, for the prompts'
//! fields), or `aicall_script` names a script file on this host, or the service's default
//! script (`[serve] outbound_script`). A call with none of them is refused (hung up) with
//! a log line saying which variable to set.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::placer::LiveCall;
use super::Service;
use crate::call::driver::{self as conversation, CallDeps, CallStart, ChannelInput, Leg};
use crate::call::events::CallEvent;
use crate::campaign::{CallSettings, CampaignSettings};
use crate::esl::{ClientConfig, ClientEvent, EslClient, Event, EventKind, EventStream};
use crate::pii::Pii;

/// Accepts FreeSWITCH's outbound connections until the listener's task is dropped;
/// `default_script` is used when a call names neither campaign nor script.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    esl: ClientConfig,
    default_script: Option<PathBuf>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "outbound socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if service.is_stopping() {
            // No new conversations during a shutdown: FreeSWITCH's dialplan goes on.
            drop(stream);
            continue;
        }
        debug!(%peer, "FreeSWITCH connected to the outbound socket");
        let (service, esl, default_script) = (service.clone(), esl.clone(), default_script.clone());
        tokio::spawn(async move {
            if let Err(e) = handle(stream, service, esl, default_script).await {
                warn!(%peer, error = %e, "outbound call not handled");
            }
        });
    }
}

async fn handle(
    stream: TcpStream,
    service: Arc<Service>,
    esl: ClientConfig,
    default_script: Option<PathBuf>,
) -> anyhow::Result<()> {
    let (client, data, mut events) = EslClient::outbound(stream, esl).await?;
    let uuid = data.unique_id().unwrap_or_default().to_owned();
    let caller = data.get("Caller-Caller-ID-Number").unwrap_or("").to_owned();
    let deps = match conversation_for(&service, &data, default_script.as_deref()).await {
        Ok(d) => d,
        Err(e) => {
            warn!(%uuid, error = %e, "no conversation for the call: hanging up");
            let _ = client.hangup(&uuid, "SERVICE_UNAVAILABLE").await;
            client.close().await;
            return Ok(());
        }
    };
    info!(%uuid, caller = %Pii(&caller), campaign = %deps.campaign, "call handed over by the dialplan");
    let answered = data.get("Answer-State") == Some("answered");
    if !answered {
        client.execute(&uuid, "answer", "").await?;
        if !wait_answer(&mut events).await {
            client.close().await;
            return Ok(());
        }
    }
    let contact_id: Option<u64> = data.variable("aicall_contact").and_then(|c| c.parse().ok());
    let mut values = HashMap::new();
    values.insert("campaign".to_owned(), deps.campaign.clone());
    let mut phone_key = None;
    if let Some(id) = contact_id {
        if let Ok(c) = service.store().contact(id) {
            phone_key = Some(c.phone_key);
            if let Some(n) = &c.pii.name {
                values.insert("name".into(), n.clone());
            }
            values.extend(c.pii.fields.clone());
        }
    }
    let rate = data
        .get("Channel-Read-Codec-Rate")
        .and_then(|r| r.parse().ok())
        .unwrap_or(8000);
    let (tx, rx) = mpsc::channel(16);
    let start = CallStart {
        leg: Leg {
            esl: client.clone(),
            uuid: uuid.clone(),
        },
        answered: true,
        rate,
        contact_id,
        phone_key,
        values,
    };
    service
        .bus()
        .publish(super::events::ServiceEvent::Call(CallEvent::Started {
            uuid: uuid.clone(),
            campaign: deps.campaign.clone(),
            contact_id,
            callee: Pii(&caller).to_string(),
        }));
    service.live_calls().insert(LiveCall {
        uuid: uuid.clone(),
        campaign: deps.campaign.clone(),
        contact_id,
        inbox: tx.clone(),
    });
    let mut talk = tokio::spawn(conversation::run(deps, start, rx));
    // The channel's own events (myevents) drive the conversation until it ends.
    let record = loop {
        tokio::select! {
            r = &mut talk => break r.ok(),
            ev = events.recv() => match ev {
                Some(ClientEvent::Event(ev)) => match ev.kind() {
                    EventKind::Dtmf { digit, .. } => {
                        let _ = tx.send(ChannelInput::Dtmf(digit)).await;
                    }
                    EventKind::ChannelHangupComplete { cause, .. } => {
                        let _ = tx.send(ChannelInput::Hangup { cause: cause.name().to_owned() }).await;
                    }
                    _ => {}
                },
                // FreeSWITCH closed the socket: the call is over for us.
                Some(ClientEvent::Disconnected { .. }) | None => {
                    let _ = tx.send(ChannelInput::Vanished).await;
                    break (&mut talk).await.ok();
                }
                Some(ClientEvent::Reconnected { .. }) => {}
            },
        }
    };
    service.live_calls().remove(&uuid);
    if let Some(r) = record {
        info!(%uuid, disposition = ?r.disposition, "outbound-socket call ended");
        service
            .bus()
            .publish(super::events::ServiceEvent::Call(CallEvent::Ended {
                uuid: uuid.clone(),
                campaign: r.campaign.clone(),
                contact_id: r.contact_id,
                disposition: r
                    .disposition
                    .unwrap_or(crate::outcome::Disposition::CalleeHangup),
                cause: r.hangup_cause.clone(),
                answered: true,
                billsec: ((r.ended_at - r.answered_at).max(0) / 1000) as u64,
                callback_at: r.callback_at,
            }));
    }
    // Lingering: FreeSWITCH keeps the channel until we say goodbye.
    client.close().await;
    Ok(())
}

/// Waits for the channel's answer; false if it hung up or the socket closed first.
async fn wait_answer(events: &mut EventStream) -> bool {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await;
        match ev {
            Ok(Some(ClientEvent::Event(ev))) => match ev.kind() {
                EventKind::ChannelAnswer => return true,
                EventKind::ChannelHangup { .. } | EventKind::ChannelHangupComplete { .. } => {
                    return false
                }
                _ => {}
            },
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
    }
}

/// The conversation a handed-over call holds, from its variables.
async fn conversation_for(
    service: &Service,
    data: &Event,
    default_script: Option<&std::path::Path>,
) -> anyhow::Result<Arc<CallDeps>> {
    if let Some(name) = data.variable("aicall_campaign").filter(|n| !n.is_empty()) {
        let record = service
            .store()
            .campaign(name)
            .map_err(|_| anyhow::anyhow!("aicall_campaign names `{name}`, which does not exist"))?;
        let settings = CampaignSettings::of(&record)?;
        return service
            .call_deps(name, &settings)
            .await?
            .ok_or_else(|| anyhow::anyhow!("campaign `{name}` has no script"));
    }
    let path = data
        .variable("aicall_script")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| default_script.map(std::path::Path::to_path_buf))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the channel names no conversation: set aicall_campaign (a campaign) or \
                 aicall_script (a script file) in the dialplan, or [serve] outbound_script"
            )
        })?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("aicall_script {}: {e}", path.display()))?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let settings = CampaignSettings {
        call: CallSettings {
            script: text,
            script_path: path,
            ..CallSettings::default()
        },
        ..CampaignSettings::default()
    };
    service
        .call_deps("inbound", &settings)
        .await?
        .ok_or_else(|| anyhow::anyhow!("empty script"))
}
