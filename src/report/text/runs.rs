//! The text of `runs`, of `runs pause|continue|cancel|abandon` and of `runs set`.

use std::io::{self, Write};

use indicatif::HumanCount;

use entity::backfill_settings;

use crate::ledger::RunStatus;
use crate::runs::RunView;

/// Runs, a block each: the run, then a line per table or phase.
pub(in crate::report) fn runs(out: &mut dyn Write, listed: &[RunView]) -> io::Result<()> {
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
            let shard = range
                .checkpoint
                .shard
                .map(|shard| format!(" of shard {shard}"))
                .unwrap_or_default();
            writeln!(
                out,
                "  range {:<6} {:<20} ({}, {}]{shard}  {} rows  {state}",
                range.id,
                range.unit,
                range.after.as_deref().unwrap_or("start"),
                range.upto.as_deref().unwrap_or("end"),
                HumanCount(range.checkpoint.counters.processed)
            )?;
        }
        for change in run.changes.iter().flatten() {
            writeln!(out, "  {}", change_line(change))?;
        }
    }
    Ok(())
}

/// One change of a run's settings: `batch-size 5000 -> 1000 by ann@db1 at 2026-12-07 16:01:22`.
fn change_line(change: &backfill_settings::Model) -> String {
    format!(
        "set {} {} -> {} by {} at {}",
        change.setting,
        change.old_value.as_deref().unwrap_or("?"),
        change.new_value,
        change.changed_by,
        change.changed_at.format("%F %T")
    )
}

pub(in crate::report) fn settings_changed(
    out: &mut dyn Write,
    c: &super::super::SettingsChanged,
) -> io::Result<()> {
    writeln!(
        out,
        "run {}: its processes take these before their next batch",
        c.run_id
    )?;
    for change in c.changes {
        writeln!(out, "  {}", change_line(change))?;
    }
    Ok(())
}

pub(in crate::report) fn controlled(
    out: &mut dyn Write,
    c: &super::super::Controlled,
) -> io::Result<()> {
    let (id, status) = (c.run_id, c.status);
    if status == RunStatus::Abandoned.as_str() {
        return writeln!(
            out,
            "run {id} is abandoned: it is never resumed, and its journal stays, so `--rollback --run {id}` still undoes it"
        );
    }
    writeln!(
        out,
        "run {id} is {status}: its processes act on it after their batch in flight"
    )
}
