//! The text of what checks a database: `migrate`, `validate`, `anomalies`.

use std::io::{self, Write};

use super::{coverage_lines, percent, validated};
use crate::anomalies::ListedAnomaly;
use crate::migrate::MigrateReport;
use crate::validate::ValidationReport;

pub(in crate::report) fn migrate(out: &mut dyn Write, r: &MigrateReport) -> io::Result<()> {
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
    for table in &r.distributed {
        let dropped = match &table.dropped_keys[..] {
            [] => String::new(),
            keys => format!(" (dropped {}: Citus cannot hold them so)", keys.join(", ")),
        };
        writeln!(
            out,
            "distributed `{}` by {}{dropped}",
            table.table, table.column
        )?;
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

pub(in crate::report) fn validate(out: &mut dyn Write, r: &ValidationReport) -> io::Result<()> {
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

pub(in crate::report) fn anomalies(out: &mut dyn Write, rows: &[ListedAnomaly]) -> io::Result<()> {
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

pub(in crate::report) fn resolved(
    out: &mut dyn Write,
    r: &super::super::Resolved,
) -> io::Result<()> {
    writeln!(out, "resolved {} anomalies", r.resolved)
}
