//! The text of `demo` and `seed`.

use std::io::{self, Write};

use indicatif::HumanCount;

use super::super::Timed;
use super::{done, percent};
use crate::demo::{DemoSummary, HELD_TABLE};
use crate::seed::SeedSummary;

/// The demo's account of what it planted, fixed, logged and proved, and where to go next.
pub(in crate::report) fn demo(out: &mut dyn Write, t: &Timed<DemoSummary>) -> io::Result<()> {
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

pub(in crate::report) fn seed(out: &mut dyn Write, t: &Timed<SeedSummary>) -> io::Result<()> {
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
