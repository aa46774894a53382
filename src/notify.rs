//! `--notify URL`: one JSON object POSTed to each URL per change of a run's status
//! (started, held and why, resumed, paused, cancelled, interrupted, failed, done, rolled
//! back, abandoned), with the run's id, command, rows done, where and when, and its page
//! on the console (`--console-url`). The URLs are the run's (recorded when it starts,
//! added to by a resume), so whichever process changes the
//! status (a worker, `runs pause` elsewhere, a rollback) tells them. One thread per
//! process delivers the notices in order; a receiver that fails is retried a few
//! times and then skipped with a warning. A notice never fails nor slows a run.

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::backfill_runs;
use serde::{Deserialize, Serialize};

use crate::backend::Db;
use crate::ledger::{host_name, rows_done};

/// The key under which a run records its [`Targets`] (`backfill_runs.arguments`).
pub const RECORDED_AS: &str = "notify";

/// Tries per notice and receiver, and the wait after each failed one.
const RETRY_WAITS: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];
/// How long one POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a process that is about to end waits for its notices to be delivered.
const FLUSH_WITHIN: Duration = Duration::from_secs(15);

/// Where a run's status changes are told: the `--notify` URLs, and the console its
/// notices link to (`--console-url`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub console: Option<String>,
}

impl Targets {
    /// The targets a run recorded (`backfill_runs.arguments`); none in a run recorded
    /// before notices existed.
    pub fn recorded(arguments: &serde_json::Value) -> Self {
        serde_json::from_value(arguments[RECORDED_AS].clone()).unwrap_or_default()
    }

    /// These and `more`: its URLs added, its console instead where it names one.
    pub fn and(mut self, more: &Targets) -> Self {
        for url in &more.urls {
            if !self.urls.contains(url) {
                self.urls.push(url.clone());
            }
        }
        self.console = more.console.clone().or(self.console);
        self
    }
}

/// A change of a run's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started,
    /// Holding, and why.
    Held(String),
    /// Going on after a hold, a pause, or a stop (`--resume`).
    Resumed,
    Paused,
    Cancelled,
    Interrupted,
    Failed,
    Done,
    RolledBack,
    Abandoned,
}

impl Event {
    fn name(&self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Held(_) => "held",
            Self::Resumed => "resumed",
            Self::Paused => "paused",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
            Self::Failed => "failed",
            Self::Done => "done",
            Self::RolledBack => "rolled_back",
            Self::Abandoned => "abandoned",
        }
    }
}

/// The JSON object POSTed.
#[derive(Debug, Serialize)]
struct Notice<'a> {
    event: &'static str,
    run_id: i64,
    command: &'a str,
    /// Why the run holds (`held` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    /// Rows its workers have gone through so far.
    rows: Option<u64>,
    at: String,
    /// The process that saw the change, as `pid@host`.
    by: String,
    /// The run's page on the console, when the run names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    console: Option<&'a str>,
}

/// Where a run's status changes are told; none when it has no `--notify` URL.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    run_id: i64,
    command: String,
    console: Option<String>,
    /// The delivery thread's queue (a `Sender` is shared between workers as it is).
    queue: Sender<Vec<u8>>,
    /// Notices not yet delivered (or given up on).
    pending: Arc<(Mutex<usize>, Condvar)>,
}

impl Notifier {
    /// Tells `targets` of run `id` of `command`.
    pub fn new(targets: Targets, id: i64, command: &str) -> Self {
        let Targets { urls, console } = targets;
        if urls.is_empty() {
            return Self::default();
        }
        let (queue, notices) = mpsc::channel::<Vec<u8>>();
        let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
        let delivered = Arc::clone(&pending);
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(POST_TIMEOUT))
                .build()
                .into();
            for notice in notices {
                for url in &urls {
                    deliver(&agent, url, &notice);
                }
                let (count, changed) = &*delivered;
                *count
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) -= 1;
                changed.notify_all();
            }
        });
        Self {
            inner: Some(Arc::new(Inner {
                run_id: id,
                command: command.to_string(),
                console: console
                    .map(|console| format!("{}/runs/{id}", console.trim_end_matches('/'))),
                queue,
                pending,
            })),
        }
    }

    /// The notifier of run `id` of `command` whose record is `arguments`.
    pub fn of_run(arguments: &serde_json::Value, id: i64, command: &str) -> Self {
        Self::new(Targets::recorded(arguments), id, command)
    }

    /// Queues the notice of `event`, with the rows the run has done as `db` says.
    pub async fn tell(&self, db: &Db, event: Event) {
        let Some(inner) = &self.inner else { return };
        let rows = rows_done(db, inner.run_id).await.ok();
        let notice = Notice {
            event: event.name(),
            run_id: inner.run_id,
            command: &inner.command,
            reason: match &event {
                Event::Held(reason) => Some(reason),
                _ => None,
            },
            rows,
            at: Utc::now().to_rfc3339(),
            by: format!("{}@{}", std::process::id(), host_name()),
            console: inner.console.as_deref(),
        };
        let Ok(body) = serde_json::to_vec(&notice) else {
            return;
        };
        let (count, _) = &*inner.pending;
        *count
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) += 1;
        if inner.queue.send(body).is_err() {
            *count
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) -= 1;
        }
    }

    /// Waits (a while at most) until every notice queued is delivered or given up on:
    /// before the process ends.
    pub fn flush(&self) {
        let Some(inner) = &self.inner else { return };
        let deadline = Instant::now() + FLUSH_WITHIN;
        let (count, changed) = &*inner.pending;
        let mut pending = count
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while *pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!("{} status notices were not delivered in time", *pending);
                return;
            }
            pending = changed
                .wait_timeout(pending, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}

/// Tells the `--notify` URLs recorded by `run` of `event`, and waits for it to be
/// delivered: for a command that changes a run's status from outside it.
pub async fn tell_once(db: &Db, run: &backfill_runs::Model, event: Event) {
    let notifier = Notifier::of_run(&run.arguments, run.id, &run.command);
    notifier.tell(db, event).await;
    notifier.flush();
}

/// POSTs `notice` to `url`, trying again after each wait of `RETRY_WAITS`.
fn deliver(agent: &ureq::Agent, url: &str, notice: &[u8]) {
    let mut waits = RETRY_WAITS.iter();
    loop {
        let posted = agent
            .post(url)
            .header("content-type", "application/json")
            .send(notice);
        let err = match posted {
            Ok(_) => return,
            Err(err) => err,
        };
        match waits.next() {
            Some(wait) => std::thread::sleep(*wait),
            None => {
                // The URL may carry a secret (a webhook's token): only its host is named.
                let host = url::Url::parse(url)
                    .ok()
                    .and_then(|url| url.host_str().map(str::to_string))
                    .unwrap_or_default();
                tracing::warn!("a status notice to {host} was given up on: {err}");
                return;
            }
        }
    }
}
