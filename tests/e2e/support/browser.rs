//! A real browser for the tests: Debian's headless Chromium driven through ChromeDriver's
//! WebDriver protocol (W3C) over loopback. Every wait is bounded; the browser may reach
//! loopback only (its host resolver maps every other name to nothing).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::client::Http;

/// `/usr/bin/chromium` unless `BOSUN_TEST_CHROMIUM` names another.
fn chromium_bin() -> String {
    std::env::var("BOSUN_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// `/usr/bin/chromedriver` unless `BOSUN_TEST_CHROMEDRIVER` names another.
fn chromedriver_bin() -> String {
    std::env::var("BOSUN_TEST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

/// ChromeDriver's key for "an element" in a reply.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: Http,
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

/// An element found on the page.
pub struct Element(String);

impl Browser {
    /// Starts ChromeDriver on a free loopback port and a headless Chromium session whose
    /// window is `width` × `height` CSS pixels. Panics (the test fails) when either binary is
    /// missing: `.ci/run` installs them.
    pub async fn start(width: u32, height: u32) -> Browser {
        for bin in [chromium_bin(), chromedriver_bin()] {
            assert!(
                Path::new(&bin).exists(),
                "{bin} is missing: install Debian's chromium and chromium-driver (as .ci/run does)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(chromedriver_bin())
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = Http::default();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http
                .send(Method::GET, &format!("{base}/status"), &[], Bytes::new())
                .await
                && r.status == StatusCode::OK
                && r.json()["value"]["ready"] == json!(true)
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("a profile dir");
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium_bin(),
                    "args": [
                        "--headless=new",
                        // The tests run as root in CI, where Chromium's own sandbox cannot start.
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--disable-default-apps",
                        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
                        format!("--user-data-dir={}", profile.path().display()),
                        format!("--window-size={width},{height}"),
                    ],
                },
            }}
        });
        let mut browser = Browser {
            http,
            driver,
            base,
            session: String::new(),
            _profile: profile,
        };
        let v = browser.call(Method::POST, "/session", caps).await;
        browser.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {v}"))
            .to_owned();
        browser.set_viewport(width, height).await;
        browser
    }

    /// One WebDriver command; its `value`. A WebDriver error fails the test with its message.
    async fn call(&self, method: Method, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let body = if method == Method::GET || method == Method::DELETE {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        let reply = self
            .http
            .send(
                method.clone(),
                &url,
                &[("content-type", "application/json".to_owned())],
                body,
            )
            .await
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let v = reply.json();
        assert!(
            reply.status.is_success(),
            "webdriver {method} {path}: {} {}",
            reply.status,
            v["value"]
        );
        v["value"].clone()
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Sets the viewport to `width` × `height` CSS pixels (a window is at least 500 px wide;
    /// the DevTools protocol sets the viewport exactly, a phone's width too).
    pub async fn set_viewport(&self, width: u32, height: u32) {
        self.call(
            Method::POST,
            &self.at("/goog/cdp/execute"),
            json!({
                "cmd": "Emulation.setDeviceMetricsOverride",
                "params": {
                    "width": width,
                    "height": height,
                    "deviceScaleFactor": 1,
                    "mobile": false,
                },
            }),
        )
        .await;
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.call(Method::POST, &self.at("/url"), json!({ "url": url }))
            .await;
    }

    /// The page's address now (after any redirects).
    pub async fn url(&self) -> String {
        self.call(Method::GET, &self.at("/url"), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` in the page (its `arguments` are `args`); what it returns.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            Method::POST,
            &self.at("/execute/sync"),
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// The visible text of the whole page.
    pub async fn text(&self) -> String {
        self.script(
            "return document.body ? document.body.innerText : ''",
            json!([]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The first element matching `css`, if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let url = format!("{}{}", self.base, self.at("/elements"));
        let body = json!({ "using": "css selector", "value": css }).to_string();
        let reply = self
            .http
            .send(
                Method::POST,
                &url,
                &[("content-type", "application/json".to_owned())],
                Bytes::from(body),
            )
            .await
            .expect("webdriver elements");
        let v = reply.json();
        assert!(
            reply.status.is_success(),
            "webdriver elements `{css}`: {} {}",
            reply.status,
            v["value"]
        );
        v["value"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|e| e[ELEMENT].as_str())
            .map(|id| Element(id.to_owned()))
    }

    /// Waits (at most `within`) for an element matching `css`.
    pub async fn wait_for(&self, css: &str, within: Duration) -> Element {
        let deadline = Instant::now() + within;
        loop {
            if let Some(e) = self.find(css).await {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element `{css}` within {within:?}; the page says:\n{}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (at most `within`) until the page's text contains `needle`; the text then.
    pub async fn wait_for_text(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{needle}` not on the page within {within:?}; it says:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks an element.
    pub async fn click(&self, e: &Element) {
        self.call(
            Method::POST,
            &self.at(&format!("/element/{}/click", e.0)),
            json!({}),
        )
        .await;
    }

    /// Types `text` into an element.
    pub async fn type_into(&self, e: &Element, text: &str) {
        self.call(
            Method::POST,
            &self.at(&format!("/element/{}/value", e.0)),
            json!({ "text": text }),
        )
        .await;
    }

    /// A PNG of the viewport, written to `path` (its folder made); the path.
    pub async fn screenshot(&self, path: &Path) -> PathBuf {
        let b64 = self
            .call(Method::GET, &self.at("/screenshot"), Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot folder");
        }
        std::fs::write(path, png).expect("writing the screenshot");
        path.to_owned()
    }

    /// Sets a cookie for the current page's origin.
    pub async fn add_cookie(&self, name: &str, value: &str) {
        self.call(
            Method::POST,
            &self.at("/cookie"),
            json!({ "cookie": { "name": name, "value": value, "path": "/" } }),
        )
        .await;
    }

    /// Ends the session and ChromeDriver.
    pub async fn quit(mut self) {
        let path = format!("/session/{}", self.session);
        let _ = self
            .http
            .send(
                Method::DELETE,
                &format!("{}{path}", self.base),
                &[],
                Bytes::new(),
            )
            .await;
        let _ = self.driver.kill().await;
    }
}
