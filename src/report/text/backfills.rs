//! The text of the two backfills' summaries, of `--rollback`, and of `work`.

use std::io::{self, Write};

use super::super::Timed;
use super::{
    DRY_RUN_BANNER, batch_sizes_line, coverage_lines, done, run_end, unit_line, validated,
};
use crate::engine::RangeTally;
use crate::jobs::features::FeaturesSummary;
use crate::jobs::project_id::ProjectIdSummary;
use crate::jobs::run::RunEnd;
use crate::jobs::undo::RollbackSummary;

pub(in crate::report) fn features(
    out: &mut dyn Write,
    t: &Timed<FeaturesSummary>,
) -> io::Result<()> {
    let s = t.summary;
    if s.end.dry_run {
        writeln!(out, "{DRY_RUN_BANNER}")?;
    }
    unit_line(out, "test_features", &s.features)?;
    unit_line(out, "bugs", &s.bugs)?;
    if s.too_many_errors {
        writeln!(
            out,
            "FAILED: more than 5% of processed records errored (see `backfill anomalies`)"
        )?;
    }
    match &s.validation {
        Some(coverage) => coverage_lines(out, coverage)?,
        None if s.end.stopped() || s.end.dry_run => {}
        None => writeln!(out, "coverage not checked (--no-validate)")?,
    }
    run_end(out, &s.end)?;
    done(out, &t.throughput)
}

/// The table of a run (or of a dry run: what a run would do and leave, see
/// `TableState::after_run`), then what fails. A dry run reports no failure: the NULLs
/// a run would leave are the rows the database rejects, named as such.
pub(in crate::report) fn project_id(
    out: &mut dyn Write,
    t: &Timed<ProjectIdSummary>,
) -> io::Result<()> {
    let s = t.summary;
    let dry_run = s.end.as_ref().is_some_and(|end| end.dry_run);
    if dry_run {
        writeln!(out, "{DRY_RUN_BANNER}")?;
    }
    writeln!(
        out,
        "{:<20} {:>9} {:>9} {:>10} {:>8} {:>7} {:>6}  check",
        "table", "scanned", "set 'io'", "normalized", "rejected", "batches", "NULLs"
    )?;
    for table in &s.tables {
        let c = table.walk.as_ref().map(|w| w.counters).unwrap_or_default();
        let (nulls, check) = match &table.state {
            Some(state) => (
                state.null_count.to_string(),
                validated(state.constraint_validated),
            ),
            None if s.end.as_ref().is_some_and(RunEnd::stopped) => {
                ("-".to_string(), "not checked (stopped)")
            }
            None => ("-".to_string(), "not checked (--no-validate)"),
        };
        writeln!(
            out,
            "{:<20} {:>9} {:>9} {:>10} {:>8} {:>7} {:>6}  {check}",
            table.table, c.processed, c.updated, c.normalized, c.rejected, c.batches, nulls,
        )?;
    }
    for table in &s.tables {
        if let Some(walk) = &table.walk {
            batch_sizes_line(out, table.table, walk)?;
        }
    }
    let mut ranges = RangeTally::default();
    for report in s.tables.iter().filter_map(|table| table.walk.as_ref()) {
        if let Some(tally) = &report.ranges {
            ranges.add(tally);
        }
    }
    if ranges.total() > s.tables.len() as u64 {
        writeln!(
            out,
            "ranges of the {} tables: {} done, {} in progress, {} left",
            s.tables.len(),
            ranges.done,
            ranges.in_progress,
            ranges.left
        )?;
    }
    for table in &s.tables {
        let Some(state) = table.state.as_ref().filter(|state| state.null_count > 0) else {
            continue;
        };
        if dry_run {
            writeln!(
                out,
                "a run would leave {} rows with a NULL project_id in `{}`: the database rejects them",
                state.null_count, table.table
            )?;
        } else {
            writeln!(
                out,
                "FAILED: `{}` still has {} rows with a NULL project_id",
                table.table, state.null_count
            )?;
        }
    }
    if s.too_many_errors {
        writeln!(
            out,
            "FAILED: more than 5% of scanned rows errored (see `backfill anomalies`)"
        )?;
    }
    if let Some(end) = &s.end {
        run_end(out, end)?;
    }
    done(out, &t.throughput)
}

/// What a rollback restored (or would), table by table, with the guard it put back.
pub(in crate::report) fn rollback(out: &mut dyn Write, s: &RollbackSummary) -> io::Result<()> {
    let (verb, restored) = match s.dry_run {
        true => ("would restore", "a rollback would restore"),
        false => ("restored", "restored"),
    };
    if s.dry_run {
        writeln!(
            out,
            "DRY RUN: nothing was changed; rolling back run {} would do this:",
            s.run_id
        )?;
    }
    for table in &s.tables {
        write!(
            out,
            "{:<20} {verb} {}, left alone {}",
            table.table, table.restored, table.left_alone
        )?;
        match &table.guard {
            Some(guard) => writeln!(out, "; check {} -> {}", guard.found, guard.put_back)?,
            None => writeln!(out)?,
        }
    }
    writeln!(
        out,
        "run {}: {restored} {} rows; left {} rows alone because they changed after the run",
        s.run_id, s.restored, s.left_alone
    )
}

/// `work --run ID`: what the run's units stand at once no work is left.
pub(in crate::report) fn worked(out: &mut dyn Write, w: &super::super::Worked) -> io::Result<()> {
    writeln!(out, "run {}: no work left", w.run_id)?;
    for report in w.units {
        unit_line(out, &report.unit, report)?;
    }
    Ok(())
}
