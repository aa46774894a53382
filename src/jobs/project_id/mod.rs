//! `backfill-project-id`: every legacy row of the eleven memory tables belongs to `'io'`.
//! `fill` is the job on the shared engine (NULLs and legacy aliases become `'io'`,
//! journaled); the checks are validated afterwards (`crate::validate::project_id`);
//! `rollback` restores what one run changed. This module picks the tables and their
//! walk order and runs them through the run skeleton (`super::run`).

mod fill;
mod guard;
mod rollback;

use anyhow::{Result, bail};
use migration::{MEMORY_TABLES, PROJECT_ID_COLUMN};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde::{Deserialize, Serialize};

pub use rollback::rollback;

use std::collections::BTreeMap;

use super::run::{Run, RunEnd};
use crate::backend::{Backend, Db, Key, KeyKind, Schema, TableKey};
use crate::engine::{
    Cancel, Counters, EngineSettings, KeysetWalker, Unit, UnitReport, WalkedRange, WorkPlan, Worked,
};
use crate::error::{BatchError, Outcome, UsageError};
use crate::ledger::Resume;
use crate::validate::project_id::{self as checks, TableState, table_state};
use fill::ProjectIdJob;
use guard::Guard;

pub const COMMAND: &str = "backfill-project-id";

/// Values older writers used for the legacy owner; blank strings count too.
pub const LEGACY_ALIASES: [&str; 4] = ["io:", "I/O", "ethr", "default"];

/// Checks `names` against the eleven tables (nothing a user types reaches SQL), in the
/// spec's order; no names means all eleven.
pub fn select_tables(names: &[String]) -> Result<Vec<&'static str>> {
    for name in names {
        if !MEMORY_TABLES.contains(&name.as_str()) {
            bail!(UsageError::new(format!(
                "`{name}` is not one of the eleven memory tables ({}): nothing was written",
                MEMORY_TABLES.join(", ")
            )));
        }
    }
    Ok(MEMORY_TABLES
        .iter()
        .copied()
        .filter(|t| names.is_empty() || names.iter().any(|n| n == t))
        .collect())
}

/// What the job reads and writes of the database: each of `tables` with its
/// `project_id`.
pub fn schema(tables: &[&'static str]) -> Schema {
    const PROJECT_ID: &[&str] = &[PROJECT_ID_COLUMN];
    tables.iter().map(|table| (*table, PROJECT_ID)).collect()
}

/// A memory table's primary key, which names its rows: `nodes` and `edges` by uuid.
fn identity_of(table: &'static str) -> TableKey {
    let kind = if matches!(table, "nodes" | "edges") {
        KeyKind::Uuid
    } else {
        KeyKind::Integer
    };
    TableKey {
        table,
        column: "id",
        kind,
    }
}

/// The walk order of a memory table: its primary key, or, where the backend walks
/// uuid tables by `rowid` and the table has one, `rowid`. Rows are still named by their
/// uuid. (A `VACUUM` during a run may renumber rowids; a resumed run then leaves rows
/// that validation reports and a re-run fills.) Tables created `WITHOUT ROWID` keep
/// uuid order.
async fn order_of(db: &Db, table: &'static str) -> TableKey {
    let identity = identity_of(table);
    if identity.kind != KeyKind::Uuid || !db.backend().walks_uuid_tables_by_rowid() {
        return identity;
    }
    let probe = Query::select()
        .column(Alias::new("rowid"))
        .from(Alias::new(table))
        .limit(1)
        .to_owned();
    match db.query_one(&probe).await {
        Ok(_) => TableKey {
            table,
            column: "rowid",
            kind: KeyKind::Integer,
        },
        Err(_) => identity,
    }
}

/// The rows `keys` (by primary key) whose `project_id` still holds `value`: a row
/// changed by someone else since is left as it is. The fill replaces an alias with
/// 'io' on these rows, and rollback puts the old value back.
fn holding(identity: TableKey, backend: &dyn Backend, keys: &[Key], value: &str) -> Expr {
    Expr::col(Alias::new(identity.column))
        .is_in(keys.iter().map(|k| k.to_value(identity.kind, backend)))
        .and(Expr::col(Alias::new(PROJECT_ID_COLUMN)).eq(value))
}

/// A run's settings, resolved from the flags.
#[derive(Debug, Clone)]
pub struct ProjectIdSettings {
    pub engine: EngineSettings,
    /// The tables to fill, in the spec's order (checked by `select_tables`).
    pub tables: Vec<&'static str>,
    /// Continue a stopped run: its tables and checkpoints are its own; the pace (batch
    /// size, sleep, lock timeout) and the validation come from these settings.
    pub resume: Option<Resume>,
    /// Validate the checks afterwards (never in a dry run).
    pub validate: bool,
    /// After validation, make the column NOT NULL where the backend can.
    pub promote_not_null: bool,
}

/// What the ledger records of a run's settings; a resumed run keeps its `tables`, and
/// `--rollback` puts back the `guards` it found (none in a run recorded before they
/// were).
#[derive(Debug, Serialize, Deserialize)]
struct ProjectIdRecord {
    batch_size: u64,
    tables: Vec<String>,
    #[serde(default)]
    guards: BTreeMap<String, Guard>,
}

/// The per-table summary of a run.
#[derive(Debug, Serialize)]
pub struct TableSummary {
    pub table: &'static str,
    #[serde(flatten)]
    pub walk: Option<UnitReport>,
    /// None with `--no-validate`: counting NULLs is a scan of the table.
    #[serde(flatten)]
    pub state: Option<TableState>,
}

/// What a run did (or `--validate-only` found), for the report.
#[derive(Debug, Serialize)]
pub struct ProjectIdSummary {
    /// How the run ended; none for `--validate-only`, which is no run.
    #[serde(flatten)]
    pub end: Option<RunEnd>,
    pub tables: Vec<TableSummary>,
    pub too_many_errors: bool,
    /// Whether every table passed validation; `null` when nothing was validated
    /// (`--no-validate`, a dry run, a stopped run).
    pub passed: Option<bool>,
}

impl ProjectIdSummary {
    /// The summary of `--validate-only`: each table's state after validation.
    pub fn validated(states: Vec<(&'static str, TableState)>) -> Self {
        let passed = states.iter().all(|(_, state)| state.passes());
        Self {
            end: None,
            too_many_errors: false,
            passed: Some(passed),
            tables: states
                .into_iter()
                .map(|(table, state)| TableSummary {
                    table,
                    walk: None,
                    state: Some(state),
                })
                .collect(),
        }
    }

    /// How the command ends: interrupted, or as validation and errors say.
    pub fn outcome(&self) -> Outcome {
        let passed = !self.too_many_errors && self.passed != Some(false);
        match &self.end {
            Some(end) => end.outcome(passed),
            None => Outcome::from_passed(passed),
        }
    }
}

/// Backfills `project_id` on the chosen tables, then validates.
pub async fn run(
    db: &Db,
    settings: ProjectIdSettings,
    cancel: Cancel,
) -> Result<(ProjectIdSummary, Outcome)> {
    let dry_run = settings.engine.dry_run;
    let mut guards = BTreeMap::new();
    for &table in &settings.tables {
        guards.insert(
            table.to_string(),
            guard::guard_of(db, db.connection(), table).await?,
        );
    }
    let record = ProjectIdRecord {
        batch_size: settings.engine.batch_size,
        tables: settings.tables.iter().map(ToString::to_string).collect(),
        guards,
    };
    let run = Run::open(db, COMMAND, &record, &settings.engine, settings.resume).await?;
    // A resumed run finishes the tables it was started on, whatever --table says now.
    let tables = match run.recorded::<ProjectIdRecord>()? {
        Some(record) if settings.resume.is_some() => select_tables(&record.tables)?,
        _ => settings.tables.clone(),
    };
    let fills = TableFills::of(db, &tables, run.id()).await;
    let worked = run.work(db, &settings.engine, &fills, &cancel).await?;
    let end = run.end(db, worked.stopped.is_some()).await?;
    let reports = worked.reports;
    for report in &reports {
        tracing::info!(
            "{}: {} scanned, {} set to 'io' ({} aliases), {} rejected in {} batches",
            report.unit,
            report.counters.processed,
            report.counters.updated,
            report.counters.normalized,
            report.counters.rejected,
            report.counters.batches
        );
    }
    let mut errors = Counters::default();
    for report in &reports {
        errors.add(&report.counters);
    }
    let validates = settings.validate && !dry_run && !end.stopped();
    let mut summaries = Vec::new();
    let mut passed = true;
    for (table, report) in tables.iter().copied().zip(reports) {
        let state = if dry_run {
            let found = table_state(db, table).await?;
            let filled = report
                .counters
                .updated
                .saturating_sub(report.counters.normalized);
            Some(found.after_run(filled, settings.validate))
        } else if validates {
            let state = checks::validate_table(db, table, settings.promote_not_null).await?;
            passed &= state.passes();
            Some(state)
        } else {
            None
        };
        summaries.push(TableSummary {
            table,
            walk: Some(report),
            state,
        });
    }
    let summary = ProjectIdSummary {
        end: Some(end),
        tables: summaries,
        too_many_errors: errors.too_many_errors(),
        passed: validates.then_some(passed),
    };
    if let Some(end) = &summary.end {
        run.finish(db, end, &summary.tables).await?;
    }
    let outcome = summary.outcome();
    Ok((summary, outcome))
}

/// The fill of each table, as the run's units: all of one phase, so the workers
/// may take ranges of any table.
struct TableFills {
    backend: &'static dyn Backend,
    units: Vec<Unit>,
    run_id: Option<i64>,
}

impl TableFills {
    async fn of(db: &Db, tables: &[&'static str], run_id: Option<i64>) -> Self {
        let mut units = Vec::new();
        for &table in tables {
            units.push(Unit {
                name: table,
                key: order_of(db, table).await,
                phase: 1,
            });
        }
        Self {
            backend: db.backend(),
            units,
            run_id,
        }
    }
}

impl WorkPlan for TableFills {
    fn units(&self) -> &[Unit] {
        &self.units
    }

    async fn walk(
        &self,
        walker: &mut KeysetWalker<'_>,
        unit: &Unit,
    ) -> Result<WalkedRange, BatchError> {
        let job = ProjectIdJob {
            backend: self.backend,
            order: unit.key,
            identity: identity_of(unit.key.table),
            run_id: self.run_id,
        };
        walker.run(&job, unit.key, unit.name).await
    }
}

/// Works on `run` of `backfill-project-id`, joined from another process, until no
/// range is left. Returns each table's report (the run's totals).
pub async fn join(
    db: &Db,
    run: &Run,
    mut engine: EngineSettings,
    cancel: Cancel,
) -> Result<Worked> {
    let Some(record) = run.recorded::<ProjectIdRecord>()? else {
        anyhow::bail!("BUG: a joined run records its settings");
    };
    engine.batch_size = record.batch_size;
    let tables = select_tables(&record.tables)?;
    let fills = TableFills::of(db, &tables, run.id()).await;
    run.work(db, &engine, &fills, &cancel).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unknown_tables() {
        assert!(select_tables(&["nodes; DROP TABLE edges".into()]).is_err());
        assert_eq!(
            select_tables(&["edges".into(), "nodes".into()]).unwrap(),
            vec!["nodes", "edges"]
        );
        assert_eq!(select_tables(&[]).unwrap().len(), 11);
    }
}
