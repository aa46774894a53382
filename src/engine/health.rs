//! Whether the database is healthy enough for the next batch. The backend observes
//! (standbys, sessions waiting on locks in the walked table, running threads); this
//! module judges, with a memory of each standby's replay position, because a standby
//! whose replay has stopped still reports the lag it had when it last replayed.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::backend::{Observation, Standby};

/// The limits a run holds at (spec §5.10).
#[derive(Debug, Clone, Copy)]
pub struct HealthLimits {
    /// Replication lag of any standby, or how long its replay may stand still while
    /// behind.
    pub max_lag: Duration,
    /// Threads running on the server (MySQL/MariaDB).
    pub max_load: u64,
}

impl Default for HealthLimits {
    /// The spec's defaults: 10 s of lag, 25 running threads.
    fn default() -> Self {
        Self {
            max_lag: Duration::from_secs(10),
            max_load: 25,
        }
    }
}

/// Why a run holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    Lag {
        standby: String,
        lag: Duration,
    },
    ReplayStopped {
        standby: String,
        behind: u64,
        for_: Duration,
    },
    /// A standby that does not replay at all, and why.
    ReplicationStopped {
        standby: String,
        why: String,
    },
    LockWaiters {
        sessions: u64,
    },
    Load {
        threads: u64,
        max: u64,
    },
    /// Outside the run's `--window`, which opens next at `opens` (local time).
    Window {
        window: String,
        opens: String,
    },
}

impl Hold {
    /// A short name of the reason, the same for every hold of its kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Lag { .. } | Self::ReplayStopped { .. } | Self::ReplicationStopped { .. } => {
                "replication_lag"
            }
            Self::LockWaiters { .. } => "lock_waiters",
            Self::Load { .. } => "server_load",
            Self::Window { .. } => "window",
        }
    }
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lag { standby, lag } => {
                write!(f, "replication lag: standby {standby} is {lag:.1?} behind")
            }
            Self::ReplayStopped {
                standby,
                behind,
                for_,
            } => write!(
                f,
                "replication lag: standby {standby} has replayed nothing for {for_:.0?} while {behind} bytes behind"
            ),
            Self::ReplicationStopped { standby, why } => {
                write!(
                    f,
                    "replication lag: replica {standby} does not replay: {why}"
                )
            }
            Self::LockWaiters { sessions } => write!(
                f,
                "lock waits: {sessions} other session(s) wait on locks in this table"
            ),
            Self::Load { threads, max } => {
                write!(f, "server load: {threads} threads running (max {max})")
            }
            Self::Window { window, opens } => write!(
                f,
                "window: outside {window} (local time); goes on at {opens}"
            ),
        }
    }
}

/// Judges observations against the limits, remembering when each standby last replayed.
#[derive(Debug)]
pub struct HealthWatch {
    limits: HealthLimits,
    /// Per standby: its replay position and when it was first seen there while behind.
    replay: HashMap<String, (u64, Instant)>,
}

impl HealthWatch {
    pub fn new(limits: HealthLimits) -> Self {
        Self {
            limits,
            replay: HashMap::new(),
        }
    }

    /// The limits from now on (`runs set max-lag=… max-load=…`).
    pub fn limits_mut(&mut self) -> &mut HealthLimits {
        &mut self.limits
    }

    /// The first reason to hold in `seen` at `now`, if any.
    pub fn judge(&mut self, seen: &Observation, now: Instant) -> Option<Hold> {
        let mut hold = None;
        for standby in &seen.standbys {
            let stopped = self.replay_stopped_for(standby, now);
            if hold.is_some() {
                continue;
            }
            if let Some(why) = &standby.stopped {
                hold = Some(Hold::ReplicationStopped {
                    standby: standby.name.clone(),
                    why: why.clone(),
                });
            } else if let Some(lag) = standby.lag.filter(|lag| *lag > self.limits.max_lag) {
                hold = Some(Hold::Lag {
                    standby: standby.name.clone(),
                    lag,
                });
            } else if let Some(for_) = stopped.filter(|held| *held > self.limits.max_lag) {
                hold = Some(Hold::ReplayStopped {
                    standby: standby.name.clone(),
                    behind: standby.behind,
                    for_,
                });
            }
        }
        hold.or_else(|| {
            (seen.lock_waiters > 0).then_some(Hold::LockWaiters {
                sessions: seen.lock_waiters,
            })
        })
        .or_else(|| {
            seen.threads_running
                .filter(|threads| *threads > self.limits.max_load)
                .map(|threads| Hold::Load {
                    threads,
                    max: self.limits.max_load,
                })
        })
    }

    /// How long `standby` has been behind without replaying anything.
    fn replay_stopped_for(&mut self, standby: &Standby, now: Instant) -> Option<Duration> {
        if standby.behind == 0 {
            self.replay.remove(&standby.name);
            return None;
        }
        let entry = self
            .replay
            .entry(standby.name.clone())
            .or_insert((standby.replayed, now));
        if entry.0 != standby.replayed {
            *entry = (standby.replayed, now);
        }
        Some(now.duration_since(entry.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch() -> HealthWatch {
        HealthWatch::new(HealthLimits {
            max_lag: Duration::from_secs(1),
            max_load: 25,
        })
    }

    fn standby(lag_ms: u64, replayed: u64, behind: u64) -> Observation {
        Observation {
            standbys: vec![Standby {
                name: "replica".into(),
                lag: Some(Duration::from_millis(lag_ms)),
                replayed,
                behind,
                stopped: None,
            }],
            ..Observation::default()
        }
    }

    #[test]
    fn a_healthy_database_does_not_hold() {
        let mut watch = watch();
        assert_eq!(watch.judge(&Observation::default(), Instant::now()), None);
        assert_eq!(watch.judge(&standby(10, 5, 0), Instant::now()), None);
    }

    #[test]
    fn reported_lag_over_the_limit_holds() {
        let hold = watch().judge(&standby(1500, 5, 100), Instant::now());
        assert!(matches!(hold, Some(Hold::Lag { .. })), "{hold:?}");
    }

    #[test]
    fn a_stopped_replay_holds_although_its_reported_lag_is_stale() {
        let mut watch = watch();
        let start = Instant::now();
        assert_eq!(watch.judge(&standby(10, 5, 9_600_000), start), None);
        let later = start + Duration::from_secs(2);
        let hold = watch.judge(&standby(10, 5, 9_700_000), later);
        assert!(matches!(hold, Some(Hold::ReplayStopped { .. })), "{hold:?}");
        // Replay moves again: the clock starts over.
        assert_eq!(watch.judge(&standby(10, 6, 100), later), None);
    }

    #[test]
    fn a_replica_that_does_not_replay_holds_at_once_whatever_its_figures() {
        let mut stopped = standby(0, 5, 0);
        stopped.standbys[0].stopped = Some("its SQL thread is stopped".into());
        let hold = watch().judge(&stopped, Instant::now());
        assert_eq!(
            hold.as_ref().map(ToString::to_string).as_deref(),
            Some("replication lag: replica replica does not replay: its SQL thread is stopped")
        );
        assert_eq!(hold.map(|hold| hold.kind()), Some("replication_lag"));
    }

    #[test]
    fn lock_waiters_and_load_hold() {
        let mut watch = watch();
        let waiting = Observation {
            lock_waiters: 1,
            ..Observation::default()
        };
        assert_eq!(
            watch.judge(&waiting, Instant::now()),
            Some(Hold::LockWaiters { sessions: 1 })
        );
        let busy = Observation {
            threads_running: Some(40),
            ..Observation::default()
        };
        assert!(matches!(
            watch.judge(&busy, Instant::now()),
            Some(Hold::Load { threads: 40, .. })
        ));
    }
}
