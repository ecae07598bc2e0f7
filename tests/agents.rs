//! Transfers to aicall's own agents, end to end over the switch simulator (which answers agent
//! dial strings like `user/2001` as simulated agents and joins `uuid_bridge`d legs' audio as
//! a real bridge does): the callee asks for a person, the desk rings the agent with the best
//! match score, moves on to the next agent when that one does not answer (and puts the first
//! on break), bridges the callee to the agent who answers — the test hears the agent's voice
//! on the callee's leg — and releases an agent whose caller hung up while held. The service
//! runs in-process with the real models on the demo's rendered speech.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/inproc.rs"]
mod inproc;

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aicall::app::{Service, ServiceConfig};
use aicall::esl::ClientConfig;
use aicall::media::MediaConfig;
use aicall::routing::{AgentId, AgentState, CallId, Disposition, Input, RoutingConfig};
use aicall::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch, Step};
use aicall::store::{PiiCipher, SledStore, Store};
use inproc::root;

const AGENTS: &str = r#"
strategy = "score"
skills = ["complaints", "insurance"]
ring_timeout_s = 6
wrap_up_s = 2
max_no_answer = 1

[[agents]]
id = "2001"
name = "王芳"
dial = "user/2001"
languages = ["zh"]
skills = { complaints = 9, insurance = 5 }

[[agents]]
id = "2002"
name = "李强"
dial = "user/2002"
languages = ["zh"]
skills = { complaints = 5, insurance = 5 }

[[agents]]
id = "2003"
name = "赵敏"
dial = "user/2003"
languages = ["zh"]
skills = { insurance = 8 }

[[queues]]
name = "service"
required = { complaints = 3 }
max_wait_s = 60
fallback = "bot"

[[queues]]
name = "sales"
required = { insurance = 5 }
max_wait_s = 60
fallback = "bot"
"#;

/// The agent's voice: a steady 1 kHz tone, nothing the bot or the hold music plays.
const AGENT_HZ: f32 = 1000.0;

fn tone(dir: &Path) -> PathBuf {
    let path = dir.join("agent.wav");
    common::write_sine(&path, AGENT_HZ, 10_000.0);
    path
}

/// Power at `hz` against the frame's whole power (Goertzel), in [0, 1].
fn tone_share(frame: &[i16], hz: f32, rate: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * hz / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    let mut energy = 0.0f32;
    for &x in frame {
        let x = x as f32;
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if energy < 1e3 {
        return 0.0;
    }
    (2.0 * power / (frame.len() as f32 * energy)).min(1.0)
}

/// Seconds of the agent's tone in what a leg heard.
fn agent_voice_s(heard: &[i16]) -> f32 {
    heard
        .chunks_exact(160)
        .filter(|f| tone_share(f, AGENT_HZ, 8000.0) > 0.6)
        .count() as f32
        * 0.02
}

fn callee(number: &str, script: Vec<Step>) -> Callee {
    Callee {
        number: Some(number.into()),
        name: None,
        outcome: Some(Outcome::Answer),
        ring_ms: Some(200),
        rate: Some(8000),
        script,
        max_call_ms: Some(90_000),
        early: Vec::new(),
    }
}

fn agent(number: &str, outcome: Outcome, ring_ms: u64, script: Vec<Step>) -> Callee {
    Callee {
        number: Some(number.into()),
        name: None,
        outcome: Some(outcome),
        ring_ms: Some(ring_ms),
        rate: Some(8000),
        script,
        max_call_ms: Some(90_000),
        early: Vec::new(),
    }
}

struct Run {
    service: Arc<Service>,
    sim: SimSwitch,
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
}

/// The service over a simulator with `scenarios`, the example script, agents logged in and
/// ready, and a campaign calling `numbers`.
async fn run(scenarios: Scenarios, numbers: &[&str], media_port: u16) -> Run {
    if let Ok(level) = std::env::var("AICALL_TEST_LOG") {
        aicall::logging::init(&level, aicall::logging::LogFormat::Pretty);
    }
    let dir = tempfile::tempdir().unwrap();
    let models = inproc::models();
    let sim = SimSwitch::start(SimConfig {
        scenarios,
        record_audio: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open_with(&dir.path().join("db"), PiiCipher::new([7; 32])).unwrap());
    let agents: RoutingConfig = toml::from_str(AGENTS).unwrap();
    let service = Service::start(
        store.clone(),
        models,
        ServiceConfig {
            esl: ClientConfig {
                addr: sim.addr().to_string(),
                ..ClientConfig::default()
            },
            media: MediaConfig {
                port_first: media_port,
                port_count: 50,
                switch_port_first: media_port + 100,
                ..MediaConfig::default()
            },
            agents: Some(agents),
            ..ServiceConfig::default()
        },
    )
    .await
    .unwrap();
    let desk = service
        .desk()
        .expect("the desk runs with agents configured");
    for id in ["2001", "2002", "2003"] {
        desk.input(Input::Login {
            agent: AgentId::new(id),
        })
        .await
        .unwrap();
        desk.input(Input::Ready {
            agent: AgentId::new(id),
        })
        .await
        .unwrap();
    }
    let mut settings = inproc::example_settings();
    settings.pacing.max_concurrent = 2;
    service.create("agents", settings).await.unwrap();
    let csv = std::iter::once("phone,name".to_owned())
        .chain(numbers.iter().map(|n| format!("{n},客户")))
        .collect::<Vec<_>>()
        .join("\n");
    service
        .import("agents", "contacts.csv", csv.into_bytes(), None, None)
        .await
        .unwrap();
    service.start_campaign("agents").await.unwrap();
    Run {
        service,
        sim,
        _dir: dir,
        store,
    }
}

fn state_of(service: &Service, id: &str) -> AgentState {
    let view = service.desk().unwrap().view();
    view.agents
        .iter()
        .find(|a| a.id.as_str() == id)
        .map(|a| a.state.clone())
        .unwrap()
}

async fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A callee asks for a person: the best agent for a complaint (2001) is rung first and does
/// not answer, so it goes on break and the next (2002) is rung; 2002 answers and the callee
/// hears the agent's voice over the bridge; when the agent hangs up the agent wraps up, files
/// a disposition, and a disposition for a call the agent never had is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_moves_past_an_unanswered_agent_and_bridges_the_callee_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let voice = tone(dir.path());
    let mut scenarios = Scenarios::default();
    let callee_no = "13900000001";
    scenarios.insert(callee(
        callee_no,
        vec![
            Step::WaitBotAudio(8000),
            Step::SilenceMs(600),
            Step::Say(common::rendered("speech/callee/human.wav")),
            Step::SilenceMs(60_000),
        ],
    ));
    scenarios.insert(agent("2001", Outcome::NoAnswer, 1500, vec![]));
    let mut says = vec![Step::SilenceMs(300)];
    says.extend(std::iter::repeat_n(Step::Say(voice.clone()), 4));
    // Then the agent speaks: what the live transcript must show.
    says.push(Step::SilenceMs(800));
    says.push(Step::Say(common::rendered("speech/prompts/qa_claim.wav")));
    says.push(Step::SilenceMs(2000));
    says.push(Step::Hangup("NORMAL_CLEARING".into()));
    scenarios.insert(agent("2002", Outcome::Answer, 800, says));
    let r = run(scenarios, &[callee_no], 48_000).await;
    // The call's lines after the bridge, as the agent's desktop receives them.
    let bridged_lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let mut feed = r.service.bus().subscribe();
        let lines = bridged_lines.clone();
        tokio::spawn(async move {
            while let Ok(ev) = feed.recv().await {
                if let aicall::app::events::ServiceEvent::Call(
                    aicall::call::events::CallEvent::Turn {
                        speaker: aicall::call::record::Speaker::Bridged,
                        text,
                        ..
                    },
                ) = ev
                {
                    lines.lock().unwrap().push(text);
                }
            }
        });
    }

    // The first offer goes to 2001, the second to 2002.
    until("the second agent to be rung", 90, || {
        r.sim
            .originates()
            .iter()
            .any(|o| o.dial.ends_with("user/2002"))
    })
    .await;
    let dials: Vec<String> = r
        .sim
        .originates()
        .into_iter()
        .map(|o| o.dial)
        .filter(|d| d.starts_with("user/"))
        .collect();
    assert_eq!(dials, ["user/2001", "user/2002"], "offers in score order");
    assert_eq!(
        state_of(&r.service, "2001"),
        AgentState::Break {
            reason: "no_answer".into()
        },
        "an agent who let the offer ring out goes on break"
    );

    // Bridged: the callee hears the agent.
    until("the call to end", 60, || {
        r.sim.cdrs().iter().any(|c| c.number.ends_with(callee_no))
    })
    .await;
    let cdr = r
        .sim
        .cdrs()
        .into_iter()
        .find(|c| c.number.ends_with(callee_no))
        .unwrap();
    let heard = r.sim.recording(&cdr.uuid).unwrap().heard;
    let agent_s = agent_voice_s(&heard);
    assert!(
        agent_s > 2.0,
        "the callee heard the agent for {agent_s:.2} s over the bridge"
    );
    // The bridged call is transcribed live (through a leg that eavesdrops on it): the
    // agent's words reach the feed, recognised as they were said.
    const AGENT_SAID: &str = "理赔很方便，在手机上提交材料，一般三个工作日就能到账。";
    let cer = || {
        let heard: String = bridged_lines.lock().unwrap().concat();
        aicall::asr::eval::ErrorCount::cer(AGENT_SAID, &heard).rate()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while cer() > 20.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // (Measured before the message takes the lock: `cer` takes it too.)
    let final_cer = cer();
    let lines = bridged_lines.lock().unwrap().clone();
    assert!(
        final_cer <= 20.0,
        "the agent's words in the live transcript: {lines:?} (CER {final_cer:.0}%)"
    );
    // One sentence, one line (its commas do not cut it); the agent's tone before it is no
    // line at all (a held tone is not speech).
    assert_eq!(lines.len(), 1, "{lines:?}");
    // The bot never played the agent's tone before the bridge: the tone is the agent's.
    let view = r.service.desk().unwrap().view();
    let counters = view.counters.unwrap();
    assert_eq!(counters.offers, 2, "{counters:?}");
    assert_eq!(counters.no_answers, 1, "{counters:?}");
    assert_eq!(counters.answered, 1, "{counters:?}");
    let q = view.queues.iter().find(|q| q.name == "service").unwrap();
    assert_eq!(
        (q.answered, q.answered_in_time, q.waiting),
        (1, 1, 0),
        "{q:?}"
    );
    assert_eq!(q.service_level, Some(1.0), "answered within its 20 s");
    assert!(
        view.screens.contains_key("2002"),
        "the agent's screen keeps the call until the disposition"
    );
    let pop = &view.screens["2002"];
    assert_eq!(pop.call, cdr.uuid);
    assert!(
        !pop.callee.contains(callee_no),
        "the screen pop masks the number"
    );
    assert!(
        pop.conversation
            .iter()
            .any(|t| t.speaker == aicall::call::record::Speaker::Callee),
        "the screen pop has the conversation so far"
    );

    // The agent's call ended: wrap-up, then available again.
    until("agent 2002 to leave the call", 30, || {
        matches!(
            state_of(&r.service, "2002"),
            AgentState::WrapUp | AgentState::Available
        )
    })
    .await;
    let desk = r.service.desk().unwrap();
    let never = desk
        .input(Input::Disposition(Disposition {
            agent: AgentId::new("2002"),
            call: CallId::new("not-a-call-of-this-agent"),
            converted: false,
            handle_s: None,
            quality: None,
        }))
        .await
        .unwrap_err();
    assert!(never.to_string().contains("never had"), "{never}");
    desk.input(Input::Disposition(Disposition {
        agent: AgentId::new("2002"),
        call: CallId::new(&cdr.uuid),
        converted: true,
        handle_s: None,
        quality: Some(0.9),
    }))
    .await
    .unwrap();
    let view = desk.view();
    assert_eq!(view.counters.unwrap().conversions, 1);
    assert!(
        !view.screens.contains_key("2002"),
        "the disposition clears the screen"
    );

    // The call record says the call went to an agent.
    until("the call record", 30, || {
        aicall::call::CallRecord::all(r.store.as_ref(), "agents")
            .map(|v| v.iter().any(|c| c.disposition.is_some()))
            .unwrap_or(false)
    })
    .await;
    let records = aicall::call::CallRecord::all(r.store.as_ref(), "agents").unwrap();
    assert_eq!(
        records[0].disposition,
        Some(aicall::outcome::Disposition::Transferred),
        "{:?}",
        records[0]
    );
    // ... and, once the call is over, keeps what was said after the bridge.
    until("the bridged lines in the call record", 30, || {
        aicall::call::CallRecord::load(r.store.as_ref(), "agents", &cdr.uuid)
            .ok()
            .flatten()
            .is_some_and(|c| {
                c.turns
                    .iter()
                    .any(|t| t.speaker == aicall::call::record::Speaker::Bridged)
            })
    })
    .await;
    // No agent is left offered or on a call once the calls are gone.
    until("every agent free of the call", 30, || {
        ["2001", "2002", "2003"].iter().all(|a| {
            !matches!(
                state_of(&r.service, a),
                AgentState::Offered | AgentState::OnCall
            )
        })
    })
    .await;
    r.sim.stop().await;
}

/// The callee hangs up while the agent's phone is still ringing: the offer is withdrawn, the
/// agent's leg hung up, the agent available again, and the call counted abandoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callee_who_hangs_up_while_held_releases_the_agent() {
    let mut scenarios = Scenarios::default();
    let callee_no = "13900000002";
    scenarios.insert(callee(
        callee_no,
        vec![
            Step::WaitBotAudio(8000),
            Step::SilenceMs(600),
            Step::Say(common::rendered("speech/callee/human.wav")),
            // Hears the transfer notice (the desk rings an agent as it ends) and the first
            // notes of the hold tone, then gives up: a few seconds into the agent's ring, well
            // inside its 6 s ring timeout however long the recogniser took to hear the request.
            Step::WaitBotSilenceMs(1500),
            Step::WaitBotAudio(60_000),
            Step::WaitBotSilenceMs(1000),
            Step::SilenceMs(1000),
            Step::Hangup("NORMAL_CLEARING".into()),
        ],
    ));
    // Both agents who can take a complaint ring for longer than the callee waits.
    scenarios.insert(agent("2001", Outcome::Answer, 30_000, vec![]));
    scenarios.insert(agent("2002", Outcome::Answer, 30_000, vec![]));
    let r = run(scenarios, &[callee_no], 48_200).await;
    until("an agent to be rung", 90, || {
        r.sim
            .originates()
            .iter()
            .any(|o| o.dial.starts_with("user/"))
    })
    .await;
    let rung = r
        .sim
        .originates()
        .into_iter()
        .find(|o| o.dial.starts_with("user/"))
        .unwrap();
    let id = rung.dial.trim_start_matches("user/").to_owned();
    assert_eq!(state_of(&r.service, &id), AgentState::Offered);
    until("the callee to hang up", 60, || {
        r.sim.cdrs().iter().any(|c| c.number.ends_with(callee_no))
    })
    .await;
    until("the agent to be available again", 20, || {
        state_of(&r.service, &id) == AgentState::Available
    })
    .await;
    until("the agent's leg to be hung up", 20, || {
        r.sim.live_channels() == 0
    })
    .await;
    let counters = r.service.desk().unwrap().view().counters.unwrap();
    assert_eq!(counters.abandoned, 1, "{counters:?}");
    assert_eq!(counters.answered, 0, "{counters:?}");
    let view = r.service.desk().unwrap().view();
    let q = view.queues.iter().find(|q| q.name == "service").unwrap();
    assert_eq!((q.answered, q.abandoned, q.waiting), (0, 1, 0), "{q:?}");
    assert_eq!(q.service_level, Some(0.0));
    r.sim.stop().await;
}

/// The demo's agents file (`aicall demo --agents`, `[serve] agents`) loads and validates, and
/// every agent it dials is a simulated agent of the demo's scenario file.
#[test]
fn the_example_agents_file_loads_and_its_agents_are_simulated() {
    let text = std::fs::read_to_string(root().join("examples/insurance/agents.toml")).unwrap();
    let cfg: RoutingConfig = toml::from_str(&text).unwrap();
    cfg.validate().unwrap();
    let scenarios = Scenarios::load(&root().join("examples/insurance/callees.toml")).unwrap();
    for a in &cfg.agents {
        let number = a.dial.rsplit('/').next().unwrap();
        assert!(
            scenarios.knows(number, None),
            "agent {} ({}) has no simulated phone in callees.toml",
            a.id,
            a.dial
        );
    }
}
