//! `serve`, the web console: over HTTP, what it refuses (an action without the token,
//! with a wrong one, from another site, on a read-only console) and what it never shows
//! (a password, markup from user data); in a real browser, a live run watched and
//! steered (`browser`).

mod browser;
mod http;

use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A console serving `url`, stopped when dropped.
struct Console {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

/// The token the tests' consoles take.
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

impl Console {
    /// `serve` on a free local port of `url`, with `flags` (the token unless read-only),
    /// once it answers.
    fn start(url: &str, flags: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--addr", &addr];
        if !flags.contains(&"--read-only") {
            args.extend(["--token", TOKEN]);
        }
        args.extend(flags);
        let child = backfill_at(url, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start serve");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut console = Self {
            child,
            base: format!("http://{addr}"),
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while console.try_get("/").is_none() {
            assert!(
                console.child.try_wait().unwrap().is_none(),
                "serve ended at start"
            );
            assert!(Instant::now() < deadline, "serve does not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        console
    }

    fn try_get(&self, path: &str) -> Option<(u16, String)> {
        let mut response = self.agent.get(format!("{}{path}", self.base)).call().ok()?;
        let body = response.body_mut().read_to_string().ok()?;
        Some((response.status().as_u16(), body))
    }

    /// GET `path`: its status and page.
    fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path).expect("the console answers")
    }

    /// POSTs `form` to `path` with `headers`: the status and body.
    fn post(&self, path: &str, form: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send(form).expect("the console answers");
        let body = response.body_mut().read_to_string().unwrap_or_default();
        (response.status().as_u16(), body)
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cookie a browser holds once it opened the console's link.
fn with_token(token: &str) -> (&'static str, String) {
    ("Cookie", format!("backfill_token={token}"))
}
