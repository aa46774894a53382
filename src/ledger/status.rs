//! A run's status as `backfill_runs.status` spells it, and what someone asked of a
//! run from any process.

use std::str::FromStr;

use crate::error::UsageError;

/// Where a run stands, as `backfill_runs.status` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    /// Asked to wait by `runs pause`.
    Paused,
    /// Holding while the database is unhealthy.
    Throttled,
    Interrupted,
    /// Stopped by `runs cancel`; resumable.
    Cancelled,
    Failed,
    Done,
    RolledBack,
    /// Given up by `runs abandon`: never resumed, its journal kept for `--rollback`.
    Abandoned,
}

impl RunStatus {
    pub const ALL: [RunStatus; 9] = [
        Self::Running,
        Self::Paused,
        Self::Throttled,
        Self::Interrupted,
        Self::Cancelled,
        Self::Failed,
        Self::Done,
        Self::RolledBack,
        Self::Abandoned,
    ];

    /// The states of a run whose process is at work (or waiting at a batch's end).
    pub const LIVE: [&'static str; 3] = ["running", "paused", "throttled"];

    /// The states of a run that has nothing left to do (`completed`: `done` as runs
    /// recorded before it spelled it).
    pub const FINISHED: [&'static str; 4] = ["done", "completed", "rolled_back", "abandoned"];

    /// The states of a run that stopped early and may be continued with `--resume`.
    pub const RESUMABLE: [&'static str; 3] = ["interrupted", "cancelled", "failed"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Throttled => "throttled",
            Self::Interrupted => "interrupted",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Done => "done",
            Self::RolledBack => "rolled_back",
            Self::Abandoned => "abandoned",
        }
    }

    /// Whether a run in this state can be continued with `--resume`.
    pub fn is_resumable(self) -> bool {
        matches!(self, Self::Interrupted | Self::Cancelled | Self::Failed)
    }
}

impl FromStr for RunStatus {
    type Err = UsageError;

    fn from_str(text: &str) -> Result<Self, UsageError> {
        // Runs recorded before `done` was the word for it.
        if text == "completed" {
            return Ok(Self::Done);
        }
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| UsageError::new(format!("`{text}` is not a run status")))
    }
}

/// Which stopped run `--resume` continues: the latest of the command, or the one named
/// with `--run ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    Latest,
    Run(i64),
}

/// What someone asked of a run, from any process (`runs pause|continue|cancel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Go,
    Pause,
    Cancel,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), status);
        }
        assert!("finished".parse::<RunStatus>().is_err());
        assert!(RunStatus::Interrupted.is_resumable());
        assert!(!RunStatus::Done.is_resumable());
        assert!(RunStatus::Cancelled.is_resumable());
        assert_eq!("completed".parse::<RunStatus>().unwrap(), RunStatus::Done);
    }
}
