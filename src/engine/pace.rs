//! Between two batches: what is asked of the run from any process (pause, cancel, a
//! change of its settings), its window, the database's health, and Ctrl-C. While
//! paused or held the walk holds no transaction and no lock; it re-checks with backoff,
//! never fails for it, and says why on the progress line, in the log and in the run
//! ledger (`runs`).

use std::time::{Duration, Instant};

use sea_orm::DbErr;

use super::Cancel;
use super::health::{HealthLimits, HealthWatch, Hold};
use super::progress::WalkDisplay;
use super::state::CheckpointStore;
use crate::backend::{Db, Observation, Replica, Standby, db_message};
use crate::ledger::Request;
use crate::metrics::Metrics;
use crate::settings::{Setting, Window, hh_mm};

/// How often the run's requests and the database's health are read while all is well:
/// often enough to stop within a moment, rarely enough to cost nothing per batch.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// A check that takes longer (a Citus cluster's lock waits are read on every node:
/// about 47 ms) waits this many times as long for the next, so that checking costs a
/// run at most a twentieth of its time; but never longer than `CHECK_AT_LEAST`.
const CHECK_SHARE: u32 = 20;
const CHECK_AT_LEAST: Duration = Duration::from_secs(2);
/// The waits of a hold: from the first, doubling up to the last.
const FIRST_WAIT: Duration = Duration::from_millis(250);
const LONGEST_WAIT: Duration = Duration::from_secs(5);
/// How often a paused run looks for `continue`.
const PAUSED_WAIT: Duration = Duration::from_millis(500);

/// What the walk does next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Gate {
    /// Go on; `waited` when it held or paused first (a read done ahead is stale).
    Go { waited: bool },
    /// Stop after the batch that just committed: cancelled or Ctrl-C.
    Stop,
}

/// The pacing of one walk between its batches.
pub(super) struct Pacer {
    watch: HealthWatch,
    replicas: Vec<Replica>,
    metrics: Metrics,
    window: Option<Window>,
    /// The id of the last change of the run's settings taken.
    seen: i64,
    /// Changes the walk itself takes (batch size and time, sleep), oldest first.
    changed: Vec<Setting>,
    checked: Option<Instant>,
    /// How long the last check took.
    check_took: Duration,
    /// The kind of hold the walk is in, if any.
    holding: Option<&'static str>,
}

impl Pacer {
    pub fn new(
        limits: HealthLimits,
        window: Option<Window>,
        replicas: Vec<Replica>,
        metrics: Metrics,
    ) -> Self {
        Self {
            watch: HealthWatch::new(limits),
            replicas,
            metrics,
            window,
            seen: 0,
            changed: Vec::new(),
            checked: None,
            check_took: Duration::ZERO,
            holding: None,
        }
    }

    /// The changes of the batch size, batch time and sleep taken since the last call.
    pub fn take_changed(&mut self) -> Vec<Setting> {
        std::mem::take(&mut self.changed)
    }

    /// Takes the changes of the run's settings recorded since the last look: the limits
    /// and the window at once, the rest for the walk.
    async fn take_changes(
        &mut self,
        store: &mut dyn CheckpointStore,
        unit: &str,
    ) -> Result<(), DbErr> {
        for (id, setting) in store.changes_after(self.seen).await? {
            self.seen = id;
            tracing::info!("{unit}: {setting} from the next batch on");
            match setting {
                Setting::MaxLag(lag) => self.watch.limits_mut().max_lag = lag,
                Setting::MaxLoad(threads) => self.watch.limits_mut().max_load = threads,
                Setting::Window(window) => self.window = window,
                walk => self.changed.push(walk),
            }
        }
        Ok(())
    }

    /// Waits until the walk of `table` (reported as `unit`) may run its next batch.
    pub async fn wait_turn(
        &mut self,
        db: &Db,
        mut store: Option<&mut dyn CheckpointStore>,
        cancel: &Cancel,
        table: &str,
        unit: &str,
        display: &WalkDisplay,
    ) -> Result<Gate, DbErr> {
        let mut waited = false;
        let mut wait = FIRST_WAIT;
        loop {
            if cancel.is_cancelled() {
                return Ok(Gate::Stop);
            }
            let every = (self.check_took * CHECK_SHARE).clamp(CHECK_EVERY, CHECK_AT_LEAST);
            if self.checked.is_some_and(|at| at.elapsed() < every) {
                return Ok(Gate::Go { waited });
            }
            let checking = Instant::now();
            self.checked = Some(checking);
            let request = match store.as_deref_mut() {
                Some(store) => {
                    self.take_changes(store, unit).await?;
                    store.requested().await?
                }
                None => Request::Go,
            };
            let (kind, reason, pause) = match request {
                Request::Cancel => {
                    tracing::warn!("{unit}: the run was cancelled; stopping after this batch");
                    return Ok(Gate::Stop);
                }
                Request::Pause => (
                    "paused",
                    "paused by `runs pause`; `runs continue` goes on".to_string(),
                    PAUSED_WAIT,
                ),
                Request::Go => match self.hold(db, table).await {
                    Some(hold) => (hold.kind(), hold.to_string(), wait),
                    None => {
                        self.check_took = checking.elapsed();
                        if self.holding.take().is_some() {
                            tracing::info!("{unit}: going on");
                            self.metrics.held(None);
                            display.held(None);
                            if let Some(store) = store.as_deref_mut() {
                                store.hold(None).await?;
                            }
                        }
                        return Ok(Gate::Go { waited });
                    }
                },
            };
            if self.holding != Some(kind) {
                tracing::warn!("{unit}: holding: {reason}");
                self.holding = Some(kind);
                self.metrics.held(Some(kind));
            }
            display.held(Some(&reason));
            if let Some(store) = store.as_deref_mut() {
                store.hold(Some(reason)).await?;
            }
            waited = true;
            self.checked = None;
            tokio::time::sleep(pause).await;
            wait = (wait * 2).min(LONGEST_WAIT);
        }
    }

    /// Why the next batch must wait, if it must: outside the window, or the database's
    /// health.
    async fn hold(&mut self, db: &Db, table: &str) -> Option<Hold> {
        if let Some(window) = &self.window {
            let now = chrono::Local::now().time();
            if !window.contains(now) {
                return Some(Hold::Window {
                    window: window.to_string(),
                    opens: hh_mm(window.next_opening(now)),
                });
            }
        }
        self.health(db, table).await
    }

    /// Why the database is too busy for the next batch, if it is. A health check that
    /// fails (a role that may not read the statistics, say) does not stop the run; a
    /// replica that cannot be read holds it, since its lag is then unknown.
    async fn health(&mut self, db: &Db, table: &str) -> Option<Hold> {
        let mut seen = match db.backend().observe_health(db, table).await {
            Ok(seen) => seen,
            Err(err) => {
                tracing::debug!(
                    "could not read the database's health ({}); going on",
                    db_message(&err)
                );
                Observation::default()
            }
        };
        for replica in &self.replicas {
            let read = db
                .backend()
                .observe_replica(db, &replica.db, &replica.name)
                .await;
            let stopped = |why: String| Standby {
                name: replica.name.clone(),
                stopped: Some(why),
                ..Standby::default()
            };
            seen.standbys.push(match read {
                Ok(Some(standby)) => standby,
                Ok(None) => stopped("it replicates from nowhere now".into()),
                Err(err) => stopped(format!("it cannot be read ({})", db_message(&err))),
            });
        }
        self.watch.judge(&seen, Instant::now())
    }
}
