//! The service in-process, for the tests that drive it through its API, pages and desk
//! (`tests/api.rs`, `tests/web.rs`, `tests/desktop.rs`, `tests/agents.rs`): the real models,
//! a sealed store with its first admin key, the switch simulator, the example campaign's
//! settings and the service's configuration over the simulator.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aicall::app::control::Access;
use aicall::app::{Models, ServiceConfig};
use aicall::asr::config::AsrConfig;
use aicall::campaign::CampaignSettings;
use aicall::esl::ClientConfig;
use aicall::media::MediaConfig;
use aicall::sim::{Scenarios, SimConfig, SimSwitch};
use aicall::store::{PiiCipher, SledStore, Store};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whisper base and the committed intent model, one decode worker per core.
pub fn models() -> Models {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let asr = AsrConfig {
        model_dir: root().join("models/whisper-base"),
        ..AsrConfig::default()
    };
    Models::load(&asr, &root().join("models/intent"), workers).unwrap()
}

/// The simulator with `scenarios`, recording no audio.
pub async fn sim(scenarios: Scenarios) -> SimSwitch {
    SimSwitch::start(SimConfig {
        scenarios,
        record_audio: false,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// A sled store in `dir/db` sealed with a key of `key` bytes, and the admin key its first
/// start writes (`dir/admin.key`).
pub fn store_with_admin(dir: &Path, key: u8) -> (Arc<dyn Store>, String) {
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open_with(&dir.join("db"), PiiCipher::new([key; 32])).unwrap());
    let key_file = dir.join("admin.key");
    assert!(Access::new(store.clone()).bootstrap(&key_file).unwrap());
    let admin = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_owned();
    (store, admin)
}

/// The example campaign's settings (`examples/insurance/`) with its script read in.
pub fn example_settings() -> CampaignSettings {
    let mut settings =
        CampaignSettings::load(&root().join("examples/insurance/campaign.toml")).unwrap();
    let script = root().join("examples/insurance/script.toml");
    settings.call.script = std::fs::read_to_string(&script).unwrap();
    settings.call.script_path = script;
    settings
}

/// The service over `sim`, its media on `ports` ports from `port_first` (the switch's side
/// 200 above).
pub fn config(sim: &SimSwitch, port_first: u16, ports: u16) -> ServiceConfig {
    ServiceConfig {
        esl: ClientConfig {
            addr: sim.addr().to_string(),
            ..ClientConfig::default()
        },
        media: MediaConfig {
            port_first,
            port_count: ports,
            switch_port_first: port_first + 200,
            ..MediaConfig::default()
        },
        ..ServiceConfig::default()
    }
}
