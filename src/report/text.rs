//! The text form of each summary: a few readable lines, one function per command.

use std::io::{self, Write};

use indicatif::HumanCount;

use super::{Throughput, Timed};
use crate::anomalies::ListedAnomaly;
use crate::demo::{DemoSummary, HELD_TABLE};
use crate::engine::{RangeTally, UnitReport};
use crate::jobs::features::FeaturesSummary;
use crate::jobs::project_id::{ProjectIdSummary, RollbackSummary};
use crate::migrate::MigrateReport;
use crate::runs::RunView;
use crate::seed::SeedSummary;
use crate::validate::{Coverage, ValidationReport};

const DRY_RUN_BANNER: &str = "DRY RUN: nothing was written; a real run would do this:";

pub(super) fn migrate(out: &mut dyn Write, r: &MigrateReport) -> io::Result<()> {
    if r.data_dropped {
        writeln!(
            out,
            "migrate {}: every table was dropped and its data is gone",
            r.action
        )?;
    }
    for step in &r.scratch_steps {
        writeln!(out, "scratch database: {step}")?;
    }
    for name in &r.applied {
        writeln!(out, "applied  {name}")?;
    }
    for name in &r.pending {
        writeln!(out, "pending  {name}")?;
    }
    for drift in &r.drift {
        writeln!(out, "DRIFT    {drift}")?;
    }
    if r.action == "check" {
        let verdict = if r.passed {
            "migrate check passed"
        } else {
            "migrate check FAILED"
        };
        writeln!(out, "{verdict}")?;
    }
    Ok(())
}

pub(super) fn seed(out: &mut dyn Write, t: &Timed<SeedSummary>) -> io::Result<()> {
    let s = t.summary;
    writeln!(
        out,
        "seeded {} tests, {} bugs and {} rows in each of the eleven memory tables (seed {})",
        HumanCount(s.tests),
        HumanCount(s.bugs),
        HumanCount(s.memory_rows_per_table),
        s.seed
    )?;
    done(out, &t.throughput)
}

pub(super) fn features(out: &mut dyn Write, t: &Timed<FeaturesSummary>) -> io::Result<()> {
    let s = t.summary;
    if s.dry_run {
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
    if let Some(coverage) = &s.validation {
        coverage_lines(out, coverage)?;
    }
    if let Some(run) = s.run_id {
        writeln!(out, "run {run}")?;
    }
    done(out, &t.throughput)
}

/// The table of a run (or of a dry run: what a run would do and leave, see
/// `TableState::after_run`), then what fails. A dry run reports no failure: the NULLs
/// a run would leave are the rows the database rejects, named as such.
pub(super) fn project_id(out: &mut dyn Write, t: &Timed<ProjectIdSummary>) -> io::Result<()> {
    let s = t.summary;
    if s.dry_run {
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
        if s.dry_run {
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
    if let Some(run) = s.run_id {
        writeln!(
            out,
            "run {run} (undo with: backfill backfill-project-id --rollback --run {run})"
        )?;
    }
    done(out, &t.throughput)
}

pub(super) fn rollback(out: &mut dyn Write, s: &RollbackSummary) -> io::Result<()> {
    writeln!(
        out,
        "run {}: restored {} rows; left {} rows alone because they changed after the run",
        s.run_id, s.restored, s.left_alone
    )
}

pub(super) fn validate(out: &mut dyn Write, r: &ValidationReport) -> io::Result<()> {
    coverage_lines(out, &r.coverage)?;
    for t in &r.tables {
        writeln!(
            out,
            "{:<20} NULL project_id: {:>8}  check: {}",
            t.table,
            t.state.null_count,
            validated(t.state.constraint_validated)
        )?;
    }
    for c in r.by_customer.iter().flatten().filter(|c| c.below_threshold) {
        writeln!(
            out,
            "customer {} below threshold: tests {}, bugs {}",
            c.customer_id,
            percent(c.test_coverage_rate),
            percent(c.bug_attribution_rate)
        )?;
    }
    let verdict = if r.passed {
        "validation passed"
    } else {
        "validation FAILED"
    };
    writeln!(out, "{verdict}")
}

pub(super) fn anomalies(out: &mut dyn Write, rows: &[ListedAnomaly]) -> io::Result<()> {
    if rows.is_empty() {
        writeln!(out, "no anomalies")?;
    }
    for a in rows {
        writeln!(
            out,
            "#{:<6} {:<18} {:<14} row {:<14} {}{}",
            a.id,
            a.kind,
            a.table,
            a.row_id.as_deref().unwrap_or("-"),
            a.issue,
            if a.resolved { " (resolved)" } else { "" }
        )?;
    }
    Ok(())
}

pub(super) fn resolved(out: &mut dyn Write, r: &super::Resolved) -> io::Result<()> {
    writeln!(out, "resolved {} anomalies", r.resolved)
}

/// The demo's account of what it planted, fixed, logged and proved, and where to go next.
pub(super) fn demo(out: &mut dyn Write, t: &Timed<DemoSummary>) -> io::Result<()> {
    let s = t.summary;
    let f = &s.features.features.counters;
    let b = &s.features.bugs.counters;
    writeln!(
        out,
        "backfill demo on {} (a SQLite file this demo owns and recreates)\n",
        s.database
    )?;
    writeln!(out, "1. The data, as a production cache might have it:")?;
    writeln!(
        out,
        "   {} tests whose JSON payloads list their features, {} bugs, and {} rows in each of the eleven memory tables.",
        s.seed.tests, s.seed.bugs, s.seed.memory_rows_per_table
    )?;
    let held = s.held_row.map(|r| r.to_string());
    writeln!(
        out,
        "   Planted problems: malformed JSON, features without ids, bugs naming missing or foreign features,\n   \
         NULL and legacy-alias project_ids, and a trigger that refuses to let {HELD_TABLE} row {} change.\n",
        held.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "2. What the backfills fixed:")?;
    writeln!(
        out,
        "   backfill-features: {} test_features rows inserted from {} tests; {} bugs attributed to their test feature.",
        f.inserted, f.processed, b.updated
    )?;
    let mut walked = crate::engine::Counters::default();
    for w in s.project_id.tables.iter().filter_map(|t| t.walk.as_ref()) {
        walked.add(&w.counters);
    }
    writeln!(
        out,
        "   backfill-project-id: {} rows set to 'io' ({} of them legacy aliases), every batch journaled for --rollback.\n",
        walked.updated, walked.normalized
    )?;
    writeln!(
        out,
        "3. Logged for review (`backfill anomalies`), never silently dropped:"
    )?;
    for (kind, count) in &s.anomalies_by_kind {
        writeln!(out, "   {count:>5}  {kind}")?;
    }
    writeln!(
        out,
        "   ({} row rejected by the database: the rest of its batch committed.)\n",
        walked.rejected
    )?;
    let c = &s.validation.coverage;
    writeln!(
        out,
        "4. Validation (threshold {}):",
        percent(Some(c.threshold))
    )?;
    for (name, rate) in [
        ("test_coverage_rate", c.test_coverage_rate),
        ("bug_attribution_rate", c.bug_attribution_rate),
        ("customer_id_coverage_rate", c.customer_id_coverage_rate),
    ] {
        writeln!(out, "   {name:<25} {}", percent(rate))?;
    }
    for t in s
        .validation
        .tables
        .iter()
        .filter(|t| t.state.null_count > 0)
    {
        writeln!(
            out,
            "   {}: {} NULL project_id left (the rejected row) - validation names it, as CI would",
            t.table, t.state.null_count
        )?;
    }
    let clean = s
        .validation
        .tables
        .iter()
        .filter(|t| t.state.null_count == 0)
        .count();
    writeln!(
        out,
        "   {clean} of 11 memory tables have no NULL project_id and their check validated.\n"
    )?;
    writeln!(out, "5. On your own database (try --dry-run first):")?;
    for command in [
        "export DATABASE_URL=postgres://user@host/db   # or sqlite://file.db",
        "backfill migrate check && backfill migrate up",
        "backfill backfill-features --dry-run",
        "backfill backfill-project-id --dry-run",
        "backfill validate --by-customer",
        "backfill anomalies",
    ] {
        writeln!(out, "   {command}")?;
    }
    writeln!(out)?;
    done(out, &t.throughput)
}

/// The last line of a timed summary: `done in 3.2 s, 61,204 rows/s`.
fn done(out: &mut dyn Write, t: &Throughput) -> io::Result<()> {
    writeln!(
        out,
        "done in {:.1} s, {} rows/s",
        t.elapsed_seconds,
        HumanCount(t.rows_per_second)
    )
}

fn validated(yes: bool) -> &'static str {
    if yes { "validated" } else { "not validated" }
}

fn unit_line(out: &mut dyn Write, name: &str, report: &UnitReport) -> io::Result<()> {
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
fn ranges_line(out: &mut dyn Write, name: &str, report: &UnitReport) -> io::Result<()> {
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
fn batch_sizes_line(out: &mut dyn Write, name: &str, report: &UnitReport) -> io::Result<()> {
    match report.batch_sizes {
        Some((smallest, largest)) => writeln!(
            out,
            "{name}: {} batches of {smallest} to {largest} rows (--batch-time)",
            report.counters.batches
        ),
        None => Ok(()),
    }
}

/// Runs, a block each: the run, then a line per table or phase.
pub(super) fn runs(out: &mut dyn Write, listed: &[RunView]) -> io::Result<()> {
    if listed.is_empty() {
        return writeln!(out, "no unfinished runs (--all lists every run)");
    }
    for run in listed {
        let finished = run
            .finished_at
            .map_or_else(|| "-".to_string(), |at| at.format("%F %T").to_string());
        writeln!(
            out,
            "run {}  {}  {}  started {}  finished {}  by {}",
            run.id,
            run.command,
            run.status,
            run.started_at.format("%F %T"),
            finished,
            run.worker
        )?;
        for unit in &run.units {
            let of = unit
                .estimate
                .map_or_else(|| "?".to_string(), |e| HumanCount(e).to_string());
            let rate = unit.rows_per_second.map_or_else(
                || "-".to_string(),
                |r| format!("{}/s", HumanCount(r as u64)),
            );
            let eta = unit
                .eta_seconds
                .map_or_else(|| "-".to_string(), |secs| format!("{secs}s"));
            let state = match (&unit.held, unit.done) {
                (_, true) => "done".to_string(),
                (Some(held), false) => format!("held: {held}"),
                (None, false) => format!(
                    "batch size {}",
                    unit.batch_size
                        .map_or_else(|| "-".into(), |b| b.to_string())
                ),
            };
            writeln!(
                out,
                "  {:<20} {} of {of} rows  {rate}  eta {eta}  {state}",
                unit.unit,
                HumanCount(unit.rows)
            )?;
            if unit.ranges.total() > 1 {
                let by = match unit.workers.as_slice() {
                    [] => String::new(),
                    workers => format!(" (by {})", workers.join(", ")),
                };
                writeln!(
                    out,
                    "  {:<20} ranges: {} done, {} in progress{by}, {} left",
                    "", unit.ranges.done, unit.ranges.in_progress, unit.ranges.left
                )?;
            }
        }
        for range in run.ranges.iter().flatten() {
            let state = match (&range.worker, range.done) {
                (_, true) => "done".to_string(),
                (Some(worker), false) => format!("in progress by {worker}"),
                (None, false) => "left".to_string(),
            };
            writeln!(
                out,
                "  range {:<6} {:<20} ({}, {}]  {} rows  {state}",
                range.id,
                range.unit,
                range.after.as_deref().unwrap_or("start"),
                range.upto.as_deref().unwrap_or("end"),
                HumanCount(range.checkpoint.counters.processed)
            )?;
        }
    }
    Ok(())
}

/// `work --run ID`: what the run's units stand at once no work is left.
pub(super) fn worked(out: &mut dyn Write, w: &super::Worked) -> io::Result<()> {
    writeln!(out, "run {}: no work left", w.run_id)?;
    for report in w.units {
        unit_line(out, &report.unit, report)?;
    }
    Ok(())
}

pub(super) fn controlled(out: &mut dyn Write, c: &super::Controlled) -> io::Result<()> {
    writeln!(
        out,
        "run {} is {}: its processes act on it after their batch in flight",
        c.run_id, c.status
    )
}

fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.2}%", r * 100.0))
        .unwrap_or_else(|| "n/a".into())
}

fn coverage_lines(out: &mut dyn Write, c: &Coverage) -> io::Result<()> {
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
