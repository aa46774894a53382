//! How a command ends other than "done": a usage or configuration problem (exit 2), a
//! database that is busy or unreachable (exit 75: try again unchanged later), an
//! interruption (exit 130), a batch stopped by its database (exit 2, after the last
//! committed batch), and, as an outcome rather than an error, data that falls short
//! (exit 1). The exit code follows from the error's type, in one place.

use std::process::ExitCode;

use sea_orm::DbErr;

/// A problem with the invocation, configuration, connection or schema. Its message is
/// one sentence written for the user; nothing has been written when it is raised.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// The database is busy or out of reach: another live run of the command holds it, or
/// the server refuses connections or does not answer in time. Nothing was written;
/// the same command may simply be run again later.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(String);

impl Unavailable {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Ctrl-C (or `cancel`) arrived; the batch in flight was committed or rolled back whole
/// and the checkpoint records where to resume.
#[derive(Debug, thiserror::Error)]
pub enum Interrupted {
    #[error(
        "interrupted: the batch in flight was finished whole and run {0} was checkpointed; continue it with --resume --run {0}"
    )]
    Checkpointed(i64),
    #[error("interrupted: nothing was written")]
    NothingWritten,
}

impl Interrupted {
    pub fn of_run(run_id: Option<i64>) -> Self {
        run_id.map_or(Self::NothingWritten, Self::Checkpointed)
    }
}

/// What stopped a walk: every batch before it committed whole, with its checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{table}: the database stayed busy")]
    Busy {
        table: &'static str,
        #[source]
        source: DbErr,
    },
    #[error(
        "{table}: lost the connection to the database; every committed batch is checkpointed, continue with --resume"
    )]
    ConnectionLost {
        table: &'static str,
        #[source]
        source: DbErr,
    },
    #[error(
        "{table}: the database is out of space; every committed batch is checkpointed: free some space, then continue with --resume"
    )]
    DiskFull {
        table: &'static str,
        #[source]
        source: DbErr,
    },
    #[error("{table}: the database refused to write (it is read-only now)")]
    ReadOnly {
        table: &'static str,
        #[source]
        source: DbErr,
    },
    #[error("{table}: a batch failed and was rolled back")]
    Failed {
        table: &'static str,
        #[source]
        source: DbErr,
    },
    /// The worker's lease on its range ran out and another worker claimed it: its
    /// batch in flight rolled back, and the range is the other worker's to finish.
    #[error("{table}: another worker took this range over after the lease ran out")]
    LeaseLost { table: &'static str },
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// How a command that reported its summary ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, and every check passed.
    Passed,
    /// Done, but the data falls short (validation failed or too many errors).
    ShortOfData,
    /// Stopped between batches (Ctrl-C, SIGTERM, SIGHUP, `runs cancel`), the run (if it
    /// was recorded) checkpointed; its summary says what it did and how to continue.
    Interrupted(Option<i64>),
}

impl Outcome {
    pub fn from_passed(passed: bool) -> Self {
        if passed {
            Self::Passed
        } else {
            Self::ShortOfData
        }
    }

    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self.code())
    }

    /// The process's exit code (SPEC §5).
    pub fn code(self) -> u8 {
        match self {
            Self::Passed => 0,
            Self::ShortOfData => 1,
            Self::Interrupted(_) => 130,
        }
    }

    /// The sentence stderr ends with, for an outcome that needs one: how to continue a
    /// stopped run.
    pub fn sentence(self) -> Option<String> {
        match self {
            Self::Interrupted(run) => Some(Interrupted::of_run(run).to_string()),
            Self::Passed | Self::ShortOfData => None,
        }
    }
}

/// Whether `err` is an interruption (exit 130).
pub fn is_interruption(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Interrupted>().is_some()
        || matches!(
            err.downcast_ref::<BatchError>(),
            Some(BatchError::Interrupted(_))
        )
}

/// The exit code for an error that ended a command: 130 interrupted, 75 busy or
/// unreachable, 2 anything else.
pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    if is_interruption(err) {
        130
    } else if err.downcast_ref::<Unavailable>().is_some() {
        75
    } else {
        2
    }
}
