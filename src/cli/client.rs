//! The CLI's side of the service's control interface: an HTTP client that finds the running
//! `aicall serve` (`[api] url`, else `[serve] api_listen`) and its key (`AICALL_API_KEY`,
//! `--api-key`, else the key file `aicall serve` writes on first start), and turns the
//! service's JSON errors into messages.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use serde::de::DeserializeOwned;
use serde::Serialize;

use aicall::app::http::ErrorBody;
use aicall::config::Config;

/// How to reach the service.
#[derive(Debug, Args, Clone, Default)]
pub struct ApiArgs {
    /// The service's URL [default: [api] url, else http:// + [serve] api_listen].
    #[arg(long, global = true)]
    pub api: Option<String>,
    /// API key [default: AICALL_API_KEY, else the key file [api] key_file or
    /// <[store] path>/admin.key].
    #[arg(long, global = true, env = "AICALL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// A connection to the running service.
#[derive(Debug)]
pub struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
    pub runtime: tokio::runtime::Runtime,
}

impl Api {
    pub fn new(config: &Config, args: &ApiArgs) -> anyhow::Result<Api> {
        let base = args
            .api
            .clone()
            .unwrap_or_else(|| config.api_url())
            .trim_end_matches('/')
            .to_owned();
        let key = match &args.api_key {
            Some(k) => k.clone(),
            None => {
                let file: PathBuf = config.key_file();
                std::fs::read_to_string(&file)
                    .with_context(|| {
                        format!(
                            "no API key: set AICALL_API_KEY or pass --api-key (the admin key is in \
                             {} once `aicall serve` has started on this database)",
                            file.display()
                        )
                    })?
                    .trim()
                    .to_owned()
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Api {
            base,
            key,
            http: reqwest::Client::new(),
            runtime,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{}", self.base, path.trim_start_matches('/'))
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> anyhow::Result<T> {
        let resp = req.bearer_auth(&self.key).send().await.map_err(|e| {
            if e.is_connect() {
                anyhow!(
                    "aicall serve is not running at {} (start it with `aicall serve`, or point \
                     --api / [api] url at it)",
                    self.base
                )
            } else {
                anyhow!("request to {} failed: {e}", self.base)
            }
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            bail!("{msg}");
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("unexpected answer from {} ({status})", self.base))
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.runtime
            .block_on(self.send(self.http.get(self.url(path))))
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.runtime
            .block_on(self.send(self.http.post(self.url(path)).json(body)))
    }

    pub fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.runtime
            .block_on(self.send(self.http.put(self.url(path)).json(body)))
    }

    /// Posts raw bytes (a file) with query parameters.
    pub fn upload<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        bytes: Vec<u8>,
    ) -> anyhow::Result<T> {
        self.runtime.block_on(
            self.send(
                self.http
                    .post(self.url(path))
                    .query(query)
                    .header("content-type", "application/octet-stream")
                    .body(bytes),
            ),
        )
    }
}
