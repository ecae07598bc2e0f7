//! aicall's configuration: one TOML file (`aicall.toml`; see the documented example at the
//! repository root) with environment overrides `AICALL__<SECTION>__<KEY>=value` (for
//! example `AICALL__ESL__PASSWORD=secret`). Unknown keys and bad values are errors that
//! name the key, where it came from and what is expected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::esl::{ClientConfig, EventFormat};
use crate::logging::LogFormat;

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub esl: EslConfig,
    #[serde(default)]
    pub sim: SimSection,
    #[serde(default)]
    pub asr: crate::asr::config::AsrConfig,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub serve: ServeSection,
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub media: crate::media::MediaConfig,
}

/// `[store]`: where the service keeps its state.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// The sled database folder (holds `pii.key` unless AICALL_PII_KEY is set).
    pub path: PathBuf,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/aicall-db"),
        }
    }
}

/// `[serve]`: the service (`aicall serve`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    /// The control interface (HTTP API), `ip:port`.
    pub api_listen: String,
    /// Where FreeSWITCH's outbound `socket` connects (`ip:port`); empty: off.
    pub outbound_listen: String,
    /// The script a handed-over call uses when its channel names none.
    pub outbound_script: Option<PathBuf>,
    /// Simultaneous calls for the whole service, shared fairly between campaigns.
    pub max_calls: u32,
    /// How long live calls may go on after SIGTERM before they are ended (seconds).
    pub grace_s: u64,
    /// The intent model's folder.
    pub intent_model: PathBuf,
    /// ASR decode threads; 0: one per core.
    pub asr_workers: usize,
    /// How often the switch's channel list is checked for calls that ended unseen (s).
    pub sweep_s: u64,
    /// The supervisor console (`fs_cli -H host -P port -p <API key>`), `ip:port`; empty: off.
    pub console_listen: String,
    /// aicall's own agent routing: a TOML file of agents and queues (see
    /// `examples/insurance/agents.toml`); transfers to its queues ring its agents. Unset:
    /// every transfer goes to the dialplan (`call.transfer_to`).
    pub agents: Option<PathBuf>,
}

impl Default for ServeSection {
    fn default() -> Self {
        Self {
            api_listen: "127.0.0.1:8080".into(),
            outbound_listen: "127.0.0.1:8084".into(),
            outbound_script: None,
            max_calls: 100,
            grace_s: 30,
            intent_model: PathBuf::from("models/intent"),
            asr_workers: 0,
            sweep_s: 30,
            console_listen: "127.0.0.1:8022".into(),
            agents: None,
        }
    }
}

/// `[api]`: how the CLI reaches a running service.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// The service's URL; empty: `http://` + `[serve] api_listen`.
    pub url: String,
    /// A file holding the API key; empty: `<[store] path>/admin.key`, which `aicall serve`
    /// writes on first start. `AICALL_API_KEY` overrides both.
    pub key_file: Option<PathBuf>,
}

impl Config {
    /// The agents and queues of `[serve] agents`, if set.
    pub fn routing(&self) -> Result<Option<crate::routing::RoutingConfig>, ConfigError> {
        let Some(path) = &self.serve.agents else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let cfg: crate::routing::RoutingConfig =
            toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?;
        cfg.validate().map_err(|e| ConfigError::Invalid {
            origin: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Some(cfg))
    }

    /// The service's URL as the CLI reaches it.
    pub fn api_url(&self) -> String {
        if self.api.url.is_empty() {
            format!("http://{}", self.serve.api_listen)
        } else {
            self.api.url.trim_end_matches('/').to_owned()
        }
    }

    /// Where the admin key lives.
    pub fn key_file(&self) -> PathBuf {
        self.api
            .key_file
            .clone()
            .unwrap_or_else(|| self.store.path.join("admin.key"))
    }
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default = "default_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

fn default_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: default_level(),
            format: LogFormat::default(),
        }
    }
}

/// `[esl]`: how aicall reaches FreeSWITCH.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EslConfig {
    /// `host:port` of FreeSWITCH's event socket. Empty: use the built-in simulator.
    #[serde(default)]
    pub addr: String,
    #[serde(default = "default_password")]
    pub password: String,
    #[serde(default = "default_command_timeout")]
    pub command_timeout_ms: u64,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    #[serde(default)]
    pub event_format: EventFormatName,
}

/// `plain` or `json`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EventFormatName {
    #[default]
    Plain,
    Json,
}

fn default_password() -> String {
    "ClueCon".into()
}
fn default_command_timeout() -> u64 {
    10_000
}
fn default_connect_timeout() -> u64 {
    5_000
}
fn default_reconnect_max() -> u64 {
    10_000
}

impl Default for EslConfig {
    fn default() -> Self {
        Self {
            addr: String::new(),
            password: default_password(),
            command_timeout_ms: default_command_timeout(),
            connect_timeout_ms: default_connect_timeout(),
            reconnect_max_ms: default_reconnect_max(),
            event_format: EventFormatName::default(),
        }
    }
}

impl EslConfig {
    /// The client settings for `addr` (the configured one unless overridden).
    pub fn client(&self, addr: &str) -> ClientConfig {
        ClientConfig {
            addr: addr.to_owned(),
            password: self.password.clone(),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            command_timeout: Duration::from_millis(self.command_timeout_ms),
            reconnect_initial: Duration::from_millis(200),
            reconnect_max: Duration::from_millis(self.reconnect_max_ms),
            format: match self.event_format {
                EventFormatName::Plain => EventFormat::Plain,
                EventFormatName::Json => EventFormat::Json,
            },
        }
    }
}

/// `[sim]`: the built-in switch simulator.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSection {
    #[serde(default = "default_sim_listen")]
    pub listen: String,
    #[serde(default)]
    pub scenarios: Option<PathBuf>,
}

fn default_sim_listen() -> String {
    "127.0.0.1:8021".into()
}

impl Default for SimSection {
    fn default() -> Self {
        Self {
            listen: default_sim_listen(),
            scenarios: None,
        }
    }
}

/// A configuration problem, located.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("config key {key} (from {origin}): {message}")]
    BadValue {
        key: String,
        origin: String,
        message: String,
    },
}

const ENV_PREFIX: &str = "AICALL__";

impl Config {
    /// Loads `path` (or `./aicall.toml` if it exists, else defaults) and applies the
    /// environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let default_path = Path::new("aicall.toml");
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?,
                p.display().to_string(),
            ),
            None if default_path.is_file() => (
                std::fs::read_to_string(default_path).map_err(|source| ConfigError::Read {
                    path: default_path.to_owned(),
                    source,
                })?,
                "aicall.toml".to_owned(),
            ),
            None => (String::new(), "defaults".to_owned()),
        };
        Self::from_sources(&text, &origin, std::env::vars())
    }

    /// Builds the configuration from TOML text and `(name, value)` environment pairs.
    pub fn from_sources(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        let mut from_env = Vec::new();
        for (name, value) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
            if keys.len() != 2 || keys.iter().any(String::is_empty) {
                return Err(ConfigError::BadValue {
                    key: name.clone(),
                    origin: "environment".into(),
                    message: "expected AICALL__<SECTION>__<KEY>".into(),
                });
            }
            // Numbers and booleans are written bare in the environment; anything else is a
            // string.
            let parsed = value
                .parse::<i64>()
                .map(toml::Value::Integer)
                .or_else(|_| value.parse::<bool>().map(toml::Value::Boolean))
                .unwrap_or_else(|_| toml::Value::String(value.clone()));
            let section = table
                .entry(keys[0].clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(section) = section.as_table_mut() else {
                return Err(ConfigError::BadValue {
                    key: keys[0].clone(),
                    origin: name.clone(),
                    message: "is not a section".into(),
                });
            };
            section.insert(keys[1].clone(), parsed);
            from_env.push((format!("{}.{}", keys[0], keys[1]), name));
        }
        let config: Config = Config::deserialize(toml::Value::Table(table)).map_err(|e| {
            let message = e.to_string();
            let env_origin = from_env.iter().find(|(k, _)| message.contains(k.as_str()));
            ConfigError::Invalid {
                origin: match env_origin {
                    Some((_, var)) => format!("environment variable {var}"),
                    None => origin.to_owned(),
                },
                message: message.trim().to_owned(),
            }
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::BadValue {
            key: key.into(),
            origin: origin.into(),
            message,
        };
        if !self.esl.addr.is_empty() && !self.esl.addr.contains(':') {
            return Err(bad(
                "esl.addr",
                format!("{:?} is not host:port", self.esl.addr),
            ));
        }
        if self.esl.command_timeout_ms == 0 {
            return Err(bad("esl.command_timeout_ms", "must be above 0".into()));
        }
        if self.sim.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad(
                "sim.listen",
                format!("{:?} is not ip:port", self.sim.listen),
            ));
        }
        if self
            .serve
            .api_listen
            .parse::<std::net::SocketAddr>()
            .is_err()
        {
            return Err(bad(
                "serve.api_listen",
                format!("{:?} is not ip:port", self.serve.api_listen),
            ));
        }
        if !self.serve.outbound_listen.is_empty()
            && self
                .serve
                .outbound_listen
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            return Err(bad(
                "serve.outbound_listen",
                format!(
                    "{:?} is not ip:port (or empty: off)",
                    self.serve.outbound_listen
                ),
            ));
        }
        if !self.serve.console_listen.is_empty()
            && self
                .serve
                .console_listen
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            return Err(bad(
                "serve.console_listen",
                format!(
                    "{:?} is not ip:port (or empty: off)",
                    self.serve.console_listen
                ),
            ));
        }
        if self.serve.max_calls == 0 {
            return Err(bad("serve.max_calls", "must be at least 1".into()));
        }
        if self.serve.sweep_s == 0 {
            return Err(bad("serve.sweep_s", "must be at least 1".into()));
        }
        if let Err(e) = self.media.vad.validate() {
            return Err(bad("media.vad", e.to_string()));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(bad(
                "log.level",
                format!("{:?} is not a log level", self.log.level),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../aicall.toml");
        let cfg = Config::from_sources(text, "aicall.toml", env(&[])).expect("example is valid");
        assert_eq!(cfg.esl.password, "ClueCon");
        // The example documents every key with its default: it must say what the code does.
        assert_eq!(cfg.store, StoreSection::default());
        assert_eq!(cfg.serve, ServeSection::default());
        assert_eq!(cfg.api, ApiSection::default());
        assert_eq!(cfg.media, crate::media::MediaConfig::default());
    }

    #[test]
    fn env_overrides_file() {
        let cfg = Config::from_sources(
            "[esl]\naddr = \"10.0.0.1:8021\"\n",
            "t.toml",
            env(&[
                ("AICALL__ESL__PASSWORD", "s3cret"),
                ("AICALL__ESL__COMMAND_TIMEOUT_MS", "500"),
            ]),
        )
        .expect("valid");
        assert_eq!(cfg.esl.password, "s3cret");
        assert_eq!(cfg.esl.command_timeout_ms, 500);
        assert_eq!(cfg.esl.addr, "10.0.0.1:8021");
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::from_sources("[esl]\npasword = \"x\"\n", "t.toml", env(&[]))
            .expect_err("unknown key");
        assert!(e.to_string().contains("pasword"), "{e}");
        let e = Config::from_sources(
            "",
            "t.toml",
            env(&[("AICALL__ESL__COMMAND_TIMEOUT_MS", "soon")]),
        )
        .expect_err("bad type");
        assert!(
            e.to_string().contains("AICALL__ESL__COMMAND_TIMEOUT_MS"),
            "{e}"
        );
        let e = Config::from_sources("[esl]\naddr = \"nohost\"\n", "t.toml", env(&[]))
            .expect_err("bad addr");
        assert!(e.to_string().contains("esl.addr"), "{e}");
        let e = Config::from_sources("[esl\n", "t.toml", env(&[])).expect_err("bad toml");
        assert!(e.to_string().contains("t.toml"), "{e}");
    }
}
