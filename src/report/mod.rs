//! Summaries on stdout: one JSON object with `--format json`, otherwise a few readable
//! lines. The reporter writes to the `io::Write` it is given (stdout in the binary, a
//! buffer in the snapshot tests); JSON is one function for every summary, and each
//! command's text is a function of `text`. The work modules only return data.

#[cfg(test)]
mod tests;
mod text;

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use crate::anomalies::ListedAnomaly;
use crate::demo::DemoSummary;
use crate::engine::UnitReport;
use crate::error::UsageError;
use crate::jobs::features::FeaturesSummary;
use crate::jobs::project_id::{ProjectIdSummary, RollbackSummary};
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
}

impl std::str::FromStr for Format {
    type Err = UsageError;

    fn from_str(text: &str) -> Result<Self, UsageError> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(UsageError::new(format!(
                "`{text}` is not a summary format (text or json)"
            ))),
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

    fn emit<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        text: impl FnOnce(&mut dyn Write, &T) -> io::Result<()>,
    ) -> io::Result<()> {
        match self.format {
            Format::Json => json(&mut self.out, value),
            Format::Text => text(&mut self.out, value),
        }?;
        self.out.flush()
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
        self.emit(report, text::migrate)
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
        self.emit(report, text::validate)
    }

    pub fn anomalies(&mut self, listed: &[ListedAnomaly]) -> io::Result<()> {
        self.emit(listed, text::anomalies)
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
        self.emit(listed, text::runs)
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

/// Exactly one JSON object (or list) on one line.
fn json<T: Serialize + ?Sized>(out: &mut impl Write, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

/// Rows `seed` wrote: tests, bugs and the rows of the eleven memory tables.
fn seeded_rows(s: &SeedSummary) -> u64 {
    s.tests + s.bugs + s.memory_rows_per_table * migration::MEMORY_TABLES.len() as u64
}

/// Records `backfill-features` processed: tests in phase 1, bugs in phase 2.
fn features_rows(s: &FeaturesSummary) -> u64 {
    s.features.counters.processed + s.bugs.counters.processed
}

/// Rows `backfill-project-id` scanned over all its tables.
fn project_id_rows(s: &ProjectIdSummary) -> u64 {
    s.tables
        .iter()
        .filter_map(|t| t.walk.as_ref())
        .map(|w| w.counters.processed)
        .sum()
}
