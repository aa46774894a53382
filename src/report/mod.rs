//! Summaries on stdout: one JSON object with `--format json`, JUnit XML with `--format
//! junit` (`validate`, `migrate check`), otherwise a few readable lines. The reporter
//! writes to the `io::Write` it is given (stdout in the binary, a buffer in the
//! snapshot tests); JSON is one function for every summary (`json`), JUnit one per
//! check command (`junit`), and each command's text a function of `text`. The work
//! modules only return data.

pub mod json;
mod junit;
#[cfg(test)]
mod tests;
mod text;

pub use json::SCHEMA_VERSION;

use std::io::{self, Write};
use std::time::Duration;

use entity::backfill_settings;
use serde::Serialize;

use crate::anomalies::ListedAnomaly;
use crate::demo::DemoSummary;
use crate::engine::UnitReport;
use crate::error::UsageError;
use crate::jobs::features::FeaturesSummary;
use crate::jobs::project_id::ProjectIdSummary;
use crate::jobs::undo::RollbackSummary;
use crate::ledger::RunStatus;
use crate::migrate::MigrateReport;
use crate::runs::RunView;
use crate::seed::SeedSummary;
use crate::validate::ValidationReport;

/// How summaries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    /// JUnit XML, one test case per check: for `validate` and `migrate check`.
    Junit,
}

impl std::str::FromStr for Format {
    type Err = UsageError;

    fn from_str(text: &str) -> Result<Self, UsageError> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            "junit" => Ok(Self::Junit),
            _ => Err(UsageError::new(format!(
                "`{text}` is not a summary format (text, json, or junit for validate and migrate check)"
            ))),
        }
    }
}

/// Standard output as summaries are written to it: a reader that went away (`| head`)
/// ends the writing quietly, as if it had all been read, so the command still ends
/// with its own exit code rather than an error about a pipe.
#[derive(Debug, Default)]
pub struct Stdout {
    closed: bool,
}

impl Write for Stdout {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(bytes.len());
        }
        match io::stdout().write(bytes) {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(bytes.len())
            }
            written => written,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match io::stdout().flush() {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            flushed => flushed,
        }
    }
}

pub struct Reporter<W> {
    format: Format,
    out: W,
}

/// How long a command took and how many rows it went through per second; the last
/// line of its text, `elapsed_seconds` and `rows_per_second` in its JSON.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Throughput {
    pub elapsed_seconds: f64,
    pub rows_per_second: u64,
}

impl Throughput {
    pub fn new(rows: u64, elapsed: Duration) -> Self {
        let seconds = elapsed.as_secs_f64();
        let rows_per_second = if seconds > 0.0 {
            (rows as f64 / seconds).round() as u64
        } else {
            0
        };
        Self {
            // Milliseconds are all a reader of the JSON can use.
            elapsed_seconds: (seconds * 1000.0).round() / 1000.0,
            rows_per_second,
        }
    }
}

/// A summary with its throughput, flattened into one JSON object.
#[derive(Serialize)]
pub(crate) struct Timed<'a, T> {
    #[serde(flatten)]
    summary: &'a T,
    #[serde(flatten)]
    throughput: Throughput,
}

impl<W: Write> Reporter<W> {
    pub fn new(format: Format, out: W) -> Self {
        Self { format, out }
    }

    /// The writer back (the tests read what was written).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes `value` as JSON, or as `text` says; JUnit is for the checks alone (the
    /// command refused the flag before it did anything).
    fn emit<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        text: impl FnOnce(&mut dyn Write, &T) -> io::Result<()>,
    ) -> io::Result<()> {
        match self.format {
            Format::Json => json::write(&mut self.out, value),
            Format::Text | Format::Junit => text(&mut self.out, value),
        }?;
        self.out.flush()
    }

    /// Writes `value` as JUnit with `junit`, else as `emit` does.
    fn emit_check<T: Serialize>(
        &mut self,
        value: &T,
        junit: impl FnOnce(&mut dyn Write, &T) -> io::Result<()>,
        text: impl FnOnce(&mut dyn Write, &T) -> io::Result<()>,
    ) -> io::Result<()> {
        match self.format {
            Format::Junit => {
                junit(&mut self.out, value)?;
                self.out.flush()
            }
            Format::Json | Format::Text => self.emit(value, text),
        }
    }

    /// The one sentence of a command that failed with `exit_code`: under `--format
    /// json` the object `{"error", "exit_code"}` on stdout; the text is stderr's.
    pub fn failure(&mut self, sentence: &str, exit_code: u8) -> io::Result<()> {
        match self.format {
            Format::Json => {
                json::error(&mut self.out, sentence, exit_code)?;
                self.out.flush()
            }
            Format::Text | Format::Junit => Ok(()),
        }
    }

    fn emit_timed<T: Serialize>(
        &mut self,
        summary: &T,
        rows: u64,
        elapsed: Duration,
        text: impl FnOnce(&mut dyn Write, &Timed<T>) -> io::Result<()>,
    ) -> io::Result<()> {
        let timed = Timed {
            summary,
            throughput: Throughput::new(rows, elapsed),
        };
        self.emit(&timed, text)
    }

    pub fn migrate(&mut self, report: &MigrateReport) -> io::Result<()> {
        self.emit_check(report, junit::migrate, text::migrate)
    }

    pub fn seed(&mut self, summary: &SeedSummary, elapsed: Duration) -> io::Result<()> {
        self.emit_timed(summary, seeded_rows(summary), elapsed, text::seed)
    }

    pub fn features(&mut self, summary: &FeaturesSummary, elapsed: Duration) -> io::Result<()> {
        self.emit_timed(summary, features_rows(summary), elapsed, text::features)
    }

    pub fn project_id(&mut self, summary: &ProjectIdSummary, elapsed: Duration) -> io::Result<()> {
        self.emit_timed(summary, project_id_rows(summary), elapsed, text::project_id)
    }

    pub fn rollback(&mut self, summary: &RollbackSummary) -> io::Result<()> {
        self.emit(summary, text::rollback)
    }

    pub fn validate(&mut self, report: &ValidationReport) -> io::Result<()> {
        self.emit_check(report, junit::validate, text::validate)
    }

    pub fn anomalies(&mut self, listed: &[ListedAnomaly]) -> io::Result<()> {
        self.emit(&Listed { anomalies: listed }, |out, listed| {
            text::anomalies(out, listed.anomalies)
        })
    }

    /// The demo's account: every row it seeded and every row its backfills walked,
    /// over the whole demo's time.
    pub fn demo(&mut self, summary: &DemoSummary, elapsed: Duration) -> io::Result<()> {
        let rows = seeded_rows(&summary.seed)
            + features_rows(&summary.features)
            + project_id_rows(&summary.project_id);
        self.emit_timed(summary, rows, elapsed, text::demo)
    }

    pub fn resolved(&mut self, count: u64) -> io::Result<()> {
        self.emit(&Resolved { resolved: count }, text::resolved)
    }

    pub fn runs(&mut self, listed: &[RunView]) -> io::Result<()> {
        self.emit(&RunList { runs: listed }, |out, listed| {
            text::runs(out, listed.runs)
        })
    }

    /// What `work --run ID` leaves the run's units at.
    pub fn worked(&mut self, run_id: i64, units: &[UnitReport]) -> io::Result<()> {
        self.emit(&Worked { run_id, units }, text::worked)
    }

    /// A run put in `status` by `runs pause|continue|cancel`.
    pub fn controlled(&mut self, id: i64, status: RunStatus) -> io::Result<()> {
        let controlled = Controlled {
            run_id: id,
            status: status.as_str(),
        };
        self.emit(&controlled, text::controlled)
    }

    /// The settings `runs set` changed on run `id`.
    pub fn settings_changed(
        &mut self,
        id: i64,
        changes: &[backfill_settings::Model],
    ) -> io::Result<()> {
        let changed = SettingsChanged {
            run_id: id,
            changes,
        };
        self.emit(&changed, text::settings_changed)
    }
}

/// The anomalies listed, as a field of the one object.
#[derive(Serialize)]
struct Listed<'a> {
    anomalies: &'a [ListedAnomaly],
}

/// The runs listed, as a field of the one object.
#[derive(Serialize)]
struct RunList<'a> {
    runs: &'a [RunView],
}

#[derive(Serialize)]
struct Resolved {
    resolved: u64,
}

#[derive(Serialize)]
struct Worked<'a> {
    run_id: i64,
    units: &'a [UnitReport],
}

#[derive(Serialize)]
struct Controlled {
    run_id: i64,
    status: &'static str,
}

#[derive(Serialize)]
struct SettingsChanged<'a> {
    run_id: i64,
    changes: &'a [backfill_settings::Model],
}

/// Rows `seed` wrote: tests, bugs and the rows of the eleven memory tables.
fn seeded_rows(s: &SeedSummary) -> u64 {
    s.tests + s.bugs + s.memory_rows_per_table * migration::MEMORY_TABLES.len() as u64
}

/// Records this process of `backfill-features` processed: tests in phase 1, bugs in
/// phase 2 (a resumed run's earlier rows are not this process's).
fn features_rows(s: &FeaturesSummary) -> u64 {
    s.features.processed_here + s.bugs.processed_here
}

/// Rows this process of `backfill-project-id` scanned over all its tables.
fn project_id_rows(s: &ProjectIdSummary) -> u64 {
    s.tables
        .iter()
        .filter_map(|t| t.walk.as_ref())
        .map(|w| w.processed_here)
        .sum()
}
