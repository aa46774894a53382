//! `--notify URL`: a local receiver gets one JSON object per change of the run's
//! status, in order, whichever process made the change; a receiver that fails is
//! retried, and one that is down fails nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// A webhook on a free local port that answers the first POST with 500 (to be
/// retried) and keeps the body of every POST it accepts.
pub(super) struct Receiver {
    pub url: String,
    notices: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let url = format!(
            "http://{}/hook?token=s3cret",
            listener.local_addr().unwrap()
        );
        let notices = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&notices);
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let body = read_post(&mut stream);
                let status = match n {
                    0 => "500 Internal Server Error",
                    _ => {
                        kept.lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).expect("JSON"));
                        "200 OK"
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self { url, notices }
    }

    /// The `event` of each notice kept, once the last is `last` (within a minute).
    pub async fn notices_until(&self, last: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let notices = self.notices.lock().unwrap().clone();
            if notices.last().is_some_and(|notice| notice["event"] == last) {
                return notices;
            }
            assert!(Instant::now() < deadline, "no `{last}` notice: {notices:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The `event` of each notice.
pub(super) fn events(notices: &[Value]) -> Vec<&str> {
    notices
        .iter()
        .map(|notice| notice["event"].as_str().expect("an event"))
        .collect()
}

/// The body of the HTTP request on `stream`.
fn read_post(stream: &mut std::net::TcpStream) -> Vec<u8> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a request line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("the body");
    body
}

/// A URL nothing listens on.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    format!("http://{}/down", listener.local_addr().unwrap())
}

scenario!(a_receiver_hears_each_status_change_in_order on sqlite, postgres, mysql);
/// A run started with `--notify`, paused and continued from other processes, done,
/// then rolled back: the receiver hears started, paused, resumed, done, rolled_back, in
/// that order, each naming the run; a second receiver that is down fails nothing.
async fn a_receiver_hears_each_status_change_in_order(backend: Backend) {
    let (tdb, db) = seeded(backend, "notify").await;
    let receiver = Receiver::start();
    let dead = dead_url();
    let mut args = PAUSABLE.to_vec();
    args.extend(["--notify", &receiver.url, "--notify", &dead]);
    args.extend(["--console-url", "http://localhost:8080/"]);
    let mut child = tdb.spawn_json(&args);
    wait_for_batches(&db, &mut child, 3).await;
    // Its first POST failed: heard on the retry. (A notice retried in one process may
    // arrive after a later one of another process; each carries `at` for that.)
    receiver.notices_until("started").await;
    let id = unfinished_run(&tdb).to_string();
    for action in ["pause", "continue"] {
        let out = tdb.cli_json(&["runs", action, &id]);
        assert_eq!(code(&out), 0, "{action}: {}", describe(&out));
    }
    let finished = child.wait_with_output().unwrap();
    assert_eq!(code(&finished), 0, "{}", describe(&finished));
    assert!(
        !stderr(&finished).contains("s3cret"),
        "a webhook's token is never logged: {}",
        describe(&finished)
    );
    let undone = tdb.cli_json(&["backfill-project-id", "--rollback", "--run", &id]);
    assert_eq!(code(&undone), 0, "{}", describe(&undone));

    let notices = receiver.notices_until("rolled_back").await;
    let events = events(&notices);
    assert_eq!(
        events,
        ["started", "paused", "resumed", "done", "rolled_back"],
        "{notices:?}"
    );
    for notice in &notices {
        assert_eq!(notice["run_id"].to_string(), id, "{notice}");
        assert_eq!(notice["command"], "backfill-project-id", "{notice}");
        assert_eq!(
            notice["console"],
            format!("http://localhost:8080/runs/{id}"),
            "{notice}"
        );
    }
    assert!(notices[3]["rows"].as_u64().unwrap() > 0, "{:?}", notices[3]);
}

#[test]
fn a_notify_url_that_is_not_http_is_refused_before_anything_runs() {
    assert_flag_refused("--notify", "ftp://example.com/x", "is not an http(s) URL");
}
