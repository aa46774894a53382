//! The text form of each summary: a few readable lines, one function per command, in
//! a file per topic (`backfills`, `checks`, `runs`, `demo`); the lines they share are
//! here.

mod backfills;
mod checks;
mod demo;
mod runs;

use std::io::{self, Write};

use indicatif::HumanCount;

use super::Throughput;
use crate::engine::UnitReport;
use crate::jobs::run::RunEnd;
use crate::validate::Coverage;

pub(super) use backfills::{features, project_id, rollback, worked};
pub(super) use checks::{anomalies, migrate, resolved, validate};
pub(super) use demo::{demo, seed};
pub(super) use runs::{controlled, runs, settings_changed};

pub(super) const DRY_RUN_BANNER: &str = "DRY RUN: nothing was written; a real run would do this:";

/// The last line of a timed summary: `done in 3.2 s, 61,204 rows/s`.
pub(super) fn done(out: &mut dyn Write, t: &Throughput) -> io::Result<()> {
    writeln!(
        out,
        "done in {:.1} s, {} rows/s",
        t.elapsed_seconds,
        HumanCount(t.rows_per_second)
    )
}

pub(super) fn validated(yes: bool) -> &'static str {
    if yes { "validated" } else { "not validated" }
}

pub(super) fn unit_line(out: &mut dyn Write, name: &str, report: &UnitReport) -> io::Result<()> {
    let c = &report.counters;
    writeln!(
        out,
        "{name:<14} processed {}, inserted {}, updated {}, unchanged {}, skipped {}, errors {}, anomalies {}",
        c.processed, c.inserted, c.updated, c.unchanged, c.skipped, c.errors, c.anomalies
    )?;
    batch_sizes_line(out, name, report)?;
    ranges_line(out, name, report)
}

/// How many of a unit's ranges are done, in progress and left, for a run cut in many.
pub(super) fn ranges_line(out: &mut dyn Write, name: &str, report: &UnitReport) -> io::Result<()> {
    match &report.ranges {
        Some(r) if r.total() > 1 => writeln!(
            out,
            "{name}: ranges {} done, {} in progress, {} left",
            r.done, r.in_progress, r.left
        ),
        _ => Ok(()),
    }
}

/// The batch sizes a walk adapted between (`--batch-time`), when it did.
pub(super) fn batch_sizes_line(
    out: &mut dyn Write,
    name: &str,
    report: &UnitReport,
) -> io::Result<()> {
    match report.batch_sizes {
        Some((smallest, largest)) => writeln!(
            out,
            "{name}: {} batches of {smallest} to {largest} rows (--batch-time)",
            report.counters.batches
        ),
        None => Ok(()),
    }
}

pub(super) fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.2}%", r * 100.0))
        .unwrap_or_else(|| "n/a".into())
}

pub(super) fn coverage_lines(out: &mut dyn Write, c: &Coverage) -> io::Result<()> {
    let rates = [
        (
            "test_coverage_rate",
            c.test_coverage_rate,
            format!(
                "{} of {} tests; {} list no feature in their payload",
                c.tests_with_features, c.tests, c.tests_listing_no_feature
            ),
        ),
        (
            "bug_attribution_rate",
            c.bug_attribution_rate,
            format!(
                "{} of {} bugs; {} name no test feature",
                c.bugs_attributed, c.bugs, c.bugs_naming_no_feature
            ),
        ),
        (
            "customer_id_coverage_rate",
            c.customer_id_coverage_rate,
            format!(
                "{} of {} test_features",
                c.test_features_with_customer, c.test_features
            ),
        ),
    ];
    for (name, rate, detail) in rates {
        let verdict = if rate.is_none_or(|r| r >= c.threshold) {
            "ok".to_string()
        } else {
            let short = (c.threshold - rate.unwrap_or(0.0)) * 100.0;
            format!("BELOW {} by {short:.2} points", percent(Some(c.threshold)))
        };
        writeln!(
            out,
            "{name:<26} {:>8}  {verdict}  ({detail})",
            percent(rate)
        )?;
    }
    Ok(())
}

/// How a run ended: its id, and the commands that continue or undo it.
pub(super) fn run_end(out: &mut dyn Write, end: &RunEnd) -> io::Result<()> {
    let Some(run) = end.run_id else {
        return Ok(());
    };
    match &end.resume {
        Some(resume) => writeln!(
            out,
            "run {run} INTERRUPTED after its batch in flight (committed whole); continue it with: {resume}"
        )?,
        None => writeln!(out, "run {run} done")?,
    }
    if let Some(undo) = &end.undo {
        writeln!(out, "undo it with: {undo}")?;
    }
    Ok(())
}
