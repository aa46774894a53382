//! The console in a real browser: headless Chromium (Debian's `chromium`), driven
//! through its WebDriver (`chromedriver`, W3C protocol, plain HTTP and JSON), watches a
//! live PostgreSQL run move, pauses it with a click and continues it, and leaves a
//! screenshot of each page in `target/console-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::*;

/// A headless Chromium under its own chromedriver, both stopped when dropped.
struct Browser {
    driver: Child,
    session: String,
    agent: ureq::Agent,
}

impl Browser {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/ensure-chromium.sh installs it)");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver does not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1100"]
            }
        }}});
        let created = send(
            &agent,
            "POST",
            &format!("{base}/session"),
            Some(capabilities),
        );
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_string();
        let browser = Self {
            driver,
            session: format!("{base}/session/{session}"),
            agent,
        };
        // An element looked for while a page loads (after a click's post) is waited for.
        browser.call("POST", "/timeouts", Some(json!({"implicit": 10_000})));
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = send(
            &self.agent,
            method,
            &format!("{}{path}", self.session),
            body,
        );
        assert!(
            answer["value"]["error"].is_null(),
            "{method} {path}: {answer}"
        );
        answer["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    /// The text of the element `css` selects. The page's script may swap the element
    /// between finding and reading it: then it is found again.
    fn text(&self, css: &str) -> String {
        for _ in 0..10 {
            let id = self.find(css);
            let url = format!("{}/element/{id}/text", self.session);
            let answer = send(&self.agent, "GET", &url, None);
            match answer["value"]["error"].as_str() {
                None => return answer["value"].as_str().unwrap_or_default().to_string(),
                Some("stale element reference") => continue,
                Some(_) => panic!("GET {url}: {answer}"),
            }
        }
        panic!("{css} keeps being replaced")
    }

    fn find(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        // An element reference is an object of one field, named by the W3C protocol.
        let reference = found.as_object().and_then(|fields| fields.values().next());
        reference
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Saves what the browser shows as `name`.png among the test run's artifacts.
    fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a PNG in base64"))
            .expect("base64");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).expect("the screenshots' folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("the screenshot");
        path
    }

    /// Waits (a minute at most) until the text `css` selects satisfies `wanted`.
    async fn wait_for(&self, css: &str, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.text(css);
            if wanted(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "{what}: still {text:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.session).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn send(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Value {
    let response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, body) => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.unwrap_or(json!({})).to_string()),
    };
    let mut response = response.unwrap_or_else(|err| panic!("{method} {url}: {err}"));
    let text = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|err| panic!("{method} {url}: {err}"));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{method} {url}: {err}: {text}"))
}

/// The rows done, as the run page's facts line and units table say (`Processed N`).
fn processed(units: &str) -> u64 {
    units
        .split("Processed ")
        .skip(1)
        .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
        .sum()
}

scenario!(a_live_run_watched_and_steered_in_a_browser on postgres);
/// A live run's page moves on its own; Pause stops its batches, Continue lets them go
/// on; the runs list, the run page and the anomalies page are saved as screenshots.
async fn a_live_run_watched_and_steered_in_a_browser(backend: Backend) {
    let (tdb, db) = seeded(backend, "browser").await;
    let mut child = tdb.spawn_json(&[
        "backfill-project-id",
        "--batch-size",
        "10",
        "--sleep",
        "0.1",
    ]);
    wait_for_batches(&db, &mut child, 3).await;
    let id = int(&db, "SELECT max(id) FROM backfill_runs").await;
    let console = Console::start(&tdb.url, &[]);
    let browser = Browser::start();

    // The link `serve` prints: the token becomes a cookie and leaves the URL.
    browser.open(&format!("{}/?token={TOKEN}", console.base));
    let listed = browser.text("#live");
    assert!(listed.contains("backfill-project-id"), "{listed}");
    browser.screenshot("runs");

    browser.open(&format!("{}/runs/{id}", console.base));
    let first = processed(&browser.text("table.units"));
    // No reload: the page's script swaps its live part.
    browser
        .wait_for("table.units", "the page shows progress", |units| {
            processed(units) > first
        })
        .await;
    browser.screenshot("run");

    browser.click("#pause");
    browser
        .wait_for(".facts .status", "the run pauses", |status| {
            status == "paused"
        })
        .await;
    // The batch in flight may still commit; after that, none does.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let paused_at = batches_committed(&db).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        batches_committed(&db).await,
        paused_at,
        "a paused run commits nothing"
    );
    browser.screenshot("run-paused");

    browser.click("#continue");
    let deadline = Instant::now() + Duration::from_secs(60);
    while batches_committed(&db).await <= paused_at {
        assert!(Instant::now() < deadline, "the run goes on after Continue");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(code(&child.wait_with_output().unwrap()), 0);

    browser.open(&format!("{}/anomalies", console.base));
    browser.screenshot("anomalies");
}
