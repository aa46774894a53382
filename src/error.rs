//! The three ways a command ends other than "done": a usage or configuration problem
//! (exit 2), an interruption (exit 130), and, as an outcome rather than an error, data
//! that falls short (exit 1). Everything else is reported as exit 2 with its context.

use std::fmt;
use std::process::ExitCode;

/// A problem with the invocation, configuration, connection or schema. Its message is
/// one sentence written for the user; nothing has been written when it is raised.
#[derive(Debug)]
pub struct UsageError(String);

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Ctrl-C arrived; the batch in flight was committed or rolled back whole and the
/// checkpoint records where to resume.
#[derive(Debug)]
pub struct Interrupted {
    pub run_id: Option<i64>,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.run_id {
            Some(id) => write!(
                f,
                "interrupted: the batch in flight was finished whole and run {id} was checkpointed; continue it with --resume"
            ),
            None => write!(f, "interrupted: nothing was written"),
        }
    }
}

impl std::error::Error for Interrupted {}

/// How a finished command ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, and every check passed.
    Passed,
    /// Done, but the data falls short (validation failed or too many errors).
    ShortOfData,
}

impl Outcome {
    pub fn from_passed(passed: bool) -> Self {
        if passed {
            Self::Passed
        } else {
            Self::ShortOfData
        }
    }

    pub fn and(self, other: Outcome) -> Outcome {
        Self::from_passed(self == Self::Passed && other == Self::Passed)
    }

    pub fn exit_code(self) -> ExitCode {
        match self {
            Self::Passed => ExitCode::SUCCESS,
            Self::ShortOfData => ExitCode::from(1),
        }
    }
}

/// The exit code for an error that ended a command.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    if err.downcast_ref::<Interrupted>().is_some() {
        ExitCode::from(130)
    } else {
        ExitCode::from(2)
    }
}
