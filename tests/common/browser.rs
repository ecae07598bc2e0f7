//! Headless Chromium for the web tests (`tests/web.rs`, `tests/desktop.rs`): Debian's
//! `chromium` and `chromium-driver` (installed by `scripts/setup.d/05-system.sh`) over
//! WebDriver with fantoccini.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `chromedriver`, killed when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's chromedriver on a free port, once it listens.
pub fn start_driver() -> Driver {
    for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: run scripts/setup (scripts/setup.d/05-system.sh installs \
             Debian's chromium and chromium-driver)"
        );
    }
    let port = free_port();
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    driver
}

/// A headless Chromium session with its own profile folder and a `width,height` window.
pub async fn browser(driver: &Driver, profile: &Path, window: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                format!("--window-size={window}"), "--lang=zh-CN",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Evaluates `script` (a JS expression) in the page.
pub async fn eval(c: &Client, script: &str) -> Value {
    c.execute(&format!("return ({script});"), vec![])
        .await
        .expect("script runs")
}

/// Waits until `script` evaluates to something truthy (not null/false/0/""), and returns it.
pub async fn until(c: &Client, what: &str, timeout: Duration, script: &str) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let v = eval(c, script).await;
        let truthy = match &v {
            Value::Null | Value::Bool(false) => false,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(_) => true,
            Value::Bool(true) => true,
        };
        if truthy {
            return v;
        }
        if Instant::now() > deadline {
            let body = eval(c, "document.body.innerText").await;
            panic!("waited {timeout:?} for {what}; the page says:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Clicks the element `css` selects in a table the page redraws live (a call row): when it was
/// redrawn between being found and being clicked, it is found again (a few times at most).
pub async fn click_live(c: &Client, css: &str) {
    for _ in 0..5 {
        let element = c
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        match element.click().await {
            Ok(()) => return,
            Err(e) if e.is_stale_element_reference() => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("clicking {css}: {e}"),
        }
    }
    panic!("{css} was redrawn each time it was clicked");
}
