//! `backfill-project-id`: every legacy row of the eleven memory tables belongs to `'io'`.
//! On the shared engine, each batch sets NULLs and legacy aliases to `'io'` in bulk
//! updates over a key range, journaling the old values; then the NOT VALID checks are
//! validated. Also here: the dry run, `--rollback` and `--promote-not-null`.

use anyhow::{Context, Result, bail};
use chrono::Utc;
use entity::backfill_journal;
use migration::{MEMORY_TABLES, ProjectIdCheck, ensure_project_id_check, project_id_check_state};
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, Func, FunctionCall, InsertStatement, Order,
    Query, WithClause,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, Statement, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use std::collections::{BTreeMap, BTreeSet};

use crate::anomalies::{Anomaly, AnomalyKind};
use crate::db;
use crate::engine::{
    Batch, BatchJob, BatchPlan, Key, KeyKind, KeysetWalker, Reads, Split, TableWalk, UnitReport,
    Written,
};
use crate::error::{Outcome, UsageError};
use crate::runs::{RunLedger, RunStatus};

pub const COMMAND: &str = "backfill-project-id";
const COLUMN: &str = "project_id";
const OWNER: &str = "io";
/// Values older writers used for the legacy owner; blank strings count too.
pub const LEGACY_ALIASES: [&str; 4] = ["io:", "I/O", "ethr", "default"];

/// The walk order of a memory table. On SQLite, `nodes` and `edges` (uuid keys in a
/// rowid table) are walked by `rowid`, their physical order: in uuid order a batch would
/// touch a different page for nearly every row. Rows are still named by their uuid.
/// (A `VACUUM` during a run may renumber rowids; a resumed run then leaves rows that
/// validation reports and a re-run fills.) Tables created `WITHOUT ROWID` keep uuid order.
async fn order_of(db: &DatabaseConnection, table: &'static str) -> TableWalk {
    let identity = walk_of(table);
    if identity.kind != KeyKind::Uuid || db.get_database_backend() != DatabaseBackend::Sqlite {
        return identity;
    }
    let probe = Query::select()
        .column(Alias::new("rowid"))
        .from(Alias::new(table))
        .limit(1)
        .to_owned();
    match db.query_one(&probe).await {
        Ok(_) => TableWalk {
            table,
            key: "rowid",
            kind: KeyKind::Integer,
        },
        Err(_) => identity,
    }
}

/// A memory table's primary key, which names its rows: `nodes` and `edges` by uuid.
pub fn walk_of(table: &'static str) -> TableWalk {
    let kind = if matches!(table, "nodes" | "edges") {
        KeyKind::Uuid
    } else {
        KeyKind::Integer
    };
    TableWalk {
        table,
        key: "id",
        kind,
    }
}

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

/// Rows whose `project_id` is a legacy alias of the owner: the aliases, or blank.
fn holds_alias() -> Expr {
    Expr::col(Alias::new(COLUMN))
        .is_in(LEGACY_ALIASES)
        .or(Expr::cust("TRIM(project_id) = ''"))
}

/// Rows the backfill sets to `'io'`: NULL or a legacy alias.
fn needs_owner() -> Expr {
    Expr::col(Alias::new(COLUMN)).is_null().or(holds_alias())
}

/// The key range of (part of) a batch, `after < key <= upto`, whose NULL and alias
/// `project_id`s become 'io'.
pub struct Fill {
    after: Option<Key>,
    upto: Key,
    /// The batch it belongs to, for the journal.
    batch: u64,
    /// Whether the range may hold NULLs, and aliases: the batch's read counted them.
    nulls: bool,
    aliases: bool,
}

impl Fill {
    fn rows(&self, walk: TableWalk, backend: DatabaseBackend) -> Expr {
        walk.range(backend, self.after.as_ref(), Some(&self.upto))
            .into_iter()
            .fold(Expr::value(true), |all, condition| all.and(condition))
    }
}

/// What an update of `project_id` reports: how many rows it changed, or which.
#[derive(Clone, Copy)]
enum Report {
    Count,
    Keys,
}

struct ProjectIdJob {
    /// The order batches are cut in (see `order_of`).
    walk: TableWalk,
    /// The primary key rows are named, journaled and updated by.
    identity: TableWalk,
    /// The run whose journal records the old values; none in a dry run.
    run_id: Option<i64>,
}

impl ProjectIdJob {
    /// Sets `project_id` to 'io' on the rows `target` selects, every one of which holds
    /// `old`, and journals their keys with `old` in the batch's transaction. PostgreSQL
    /// does both in one statement (`WITH changed AS (UPDATE … RETURNING key) INSERT
    /// INTO backfill_journal SELECT … FROM changed`), so the journal names exactly the
    /// rows the update changed. SQLite has no such statement, but its single writer
    /// keeps the rows still between the journal's `INSERT … SELECT` and the update.
    /// Nothing per row crosses the connection unless `report` asks for the keys.
    async fn set_owner(
        &self,
        txn: &DatabaseTransaction,
        target: Expr,
        old: Option<&str>,
        batch: u64,
        report: Report,
    ) -> Result<(u64, Vec<Key>), DbErr> {
        let backend = txn.get_database_backend();
        let key = self.identity.key_expr(backend);
        let mut update = Query::update()
            .table(Alias::new(self.walk.table))
            .value(Alias::new(COLUMN), OWNER)
            .and_where(target.clone())
            .to_owned();
        // What the statement returned: one COUNT(*) row, or the changed keys.
        let read = |rows: Vec<QueryResult>| -> Result<(u64, Vec<Key>), DbErr> {
            match (report, rows.first()) {
                (Report::Count, Some(row)) => {
                    Ok((row.try_get_by_index::<i64>(0)? as u64, Vec::new()))
                }
                (Report::Count, None) => Ok((0, Vec::new())),
                (Report::Keys, _) => {
                    let keys = rows
                        .iter()
                        .map(|row| self.identity.read_key(row))
                        .collect::<Result<Vec<Key>, DbErr>>()?;
                    Ok((keys.len() as u64, keys))
                }
            }
        };
        match (self.run_id, backend) {
            (Some(run_id), DatabaseBackend::Postgres) => {
                let changed = Alias::new("changed");
                let row_key = Alias::new("row_key");
                update.returning(Query::returning().expr(key));
                let entry = journal_entry(
                    run_id,
                    self.walk.table,
                    batch,
                    Func::cust("jsonb_build_object")
                        .arg("old")
                        .arg(old)
                        .arg("keys")
                        .arg(
                            Func::cust("to_jsonb")
                                .arg(Func::cust("array_agg").arg(Expr::col(row_key.clone()))),
                        ),
                    changed.clone(),
                    Expr::value(true),
                )?;
                let result = match report {
                    Report::Count => Expr::cust("COUNT(*)"),
                    Report::Keys => Expr::col(row_key.clone()),
                };
                let statement = WithClause::new()
                    .cte(
                        CommonTableExpression::new()
                            .table_name(changed.clone())
                            .column(row_key)
                            .query(update)
                            .to_owned(),
                    )
                    .cte(
                        CommonTableExpression::new()
                            .table_name(Alias::new("journaled"))
                            .query(entry)
                            .to_owned(),
                    )
                    .to_owned()
                    .query(Query::select().expr(result).from(changed).to_owned());
                read(txn.query_all(&statement).await?)
            }
            (run_id, _) => {
                if let Some(run_id) = run_id {
                    let entry = journal_entry(
                        run_id,
                        self.walk.table,
                        batch,
                        Func::cust("json_object")
                            .arg("old")
                            .arg(old)
                            .arg("keys")
                            .arg(Func::cust("json_group_array").arg(key.clone())),
                        Alias::new(self.walk.table),
                        target,
                    )?;
                    txn.execute(&entry).await?;
                }
                match report {
                    Report::Count => Ok((txn.execute(&update).await?.rows_affected(), Vec::new())),
                    Report::Keys => {
                        update.returning(Query::returning().expr(key));
                        read(txn.query_all(&update).await?)
                    }
                }
            }
        }
    }

    /// NULLs: one update over the key range.
    async fn fill_nulls(
        &self,
        txn: &DatabaseTransaction,
        fill: &Fill,
        written: &mut Written,
    ) -> Result<(), DbErr> {
        let backend = txn.get_database_backend();
        let target = fill
            .rows(self.walk, backend)
            .and(Expr::col(Alias::new(COLUMN)).is_null());
        let (count, _) = self
            .set_owner(txn, target, None, fill.batch, Report::Count)
            .await?;
        written.updated += count;
        Ok(())
    }

    /// Aliases (rare): read with their values, then updated per old value, which the
    /// WHERE re-checks, so the journal and the anomaly name what was really replaced.
    async fn fill_aliases(
        &self,
        txn: &DatabaseTransaction,
        fill: &Fill,
        written: &mut Written,
    ) -> Result<(), DbErr> {
        let backend = txn.get_database_backend();
        let found = Query::select()
            .expr(self.identity.key_expr(backend))
            .column(Alias::new(COLUMN))
            .from(Alias::new(self.walk.table))
            .and_where(fill.rows(self.walk, backend))
            .and_where(holds_alias())
            .to_owned();
        let mut by_old: BTreeMap<String, Vec<Key>> = BTreeMap::new();
        for row in txn.query_all(&found).await? {
            let old: String = row.try_get_by_index(1)?;
            by_old
                .entry(old)
                .or_default()
                .push(self.identity.read_key(&row)?);
        }
        for (old, keys) in by_old {
            for chunk in keys.chunks(db::MAX_BINDS) {
                let target = holding(self.identity, backend, chunk, &old);
                let (_, changed) = self
                    .set_owner(txn, target, Some(&old), fill.batch, Report::Keys)
                    .await?;
                for key in changed {
                    written.updated += 1;
                    written.normalized += 1;
                    written.anomalies.push(Anomaly {
                        table: self.walk.table,
                        row_id: key.to_string(),
                        kind: AnomalyKind::LegacyAlias,
                        description: format!(
                            "project_id was the legacy alias {old:?}; set to 'io'"
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The journal row of one write: `INSERT INTO backfill_journal … SELECT run, table,
/// batch, <changes>, now FROM source WHERE rows`, which inserts nothing when no row
/// matched.
fn journal_entry(
    run_id: i64,
    table: &str,
    batch: u64,
    changes: FunctionCall,
    source: Alias,
    rows: Expr,
) -> Result<InsertStatement, DbErr> {
    let select = Query::select()
        .expr(Expr::value(run_id))
        .expr(Expr::value(table))
        .expr(Expr::value(batch as i64))
        .expr(changes)
        .expr(Expr::value(Utc::now().fixed_offset()))
        .from(source)
        .and_where(rows)
        .and_having(Expr::cust("COUNT(*) > 0"))
        .to_owned();
    Ok(Query::insert()
        .into_table(backfill_journal::Entity)
        .columns([
            backfill_journal::Column::RunId,
            backfill_journal::Column::TableName,
            backfill_journal::Column::BatchNo,
            backfill_journal::Column::Changes,
            backfill_journal::Column::CreatedAt,
        ])
        .select_from(select)
        .map_err(|err| DbErr::Custom(err.to_string()))?
        .to_owned())
}

impl BatchJob for ProjectIdJob {
    type Row = ();
    type Write = Fill;

    /// Only the key range, with its counts of NULLs and of aliases: the database
    /// finds the rows itself, and a range without either is not written at all.
    fn reads(&self, _backend: DatabaseBackend) -> Reads {
        let counts = |rows: Expr| Expr::case(rows, 1).finally(0).into();
        Reads::Range(vec![
            counts(Expr::col(Alias::new(COLUMN)).is_null()),
            counts(holds_alias()),
        ])
    }

    fn decode(&self, _row: &QueryResult, _backend: DatabaseBackend) -> Result<(), DbErr> {
        Ok(())
    }

    async fn plan(
        &self,
        _txn: &DatabaseTransaction,
        batch: Batch<()>,
        _plan: &mut BatchPlan,
    ) -> Result<Vec<Fill>, DbErr> {
        let (nulls, aliases) = match batch.sums[..] {
            [nulls, aliases] => (nulls > 0, aliases > 0),
            _ => (true, true),
        };
        if !nulls && !aliases {
            return Ok(Vec::new());
        }
        Ok(vec![Fill {
            after: batch.after,
            upto: batch.upto,
            batch: batch.number,
            nulls,
            aliases,
        }])
    }

    async fn write(&self, txn: &DatabaseTransaction, fills: &[Fill]) -> Result<Written, DbErr> {
        let mut written = Written::default();
        for fill in fills {
            if fill.nulls {
                self.fill_nulls(txn, fill, &mut written).await?;
            }
            if fill.aliases {
                self.fill_aliases(txn, fill, &mut written).await?;
            }
        }
        Ok(written)
    }

    /// A rejected range splits at the middle of the rows it would change; a range with
    /// one such row names it.
    async fn split(&self, txn: &DatabaseTransaction, fill: Fill) -> Result<Split<Fill>, DbErr> {
        let backend = txn.get_database_backend();
        let keys = Query::select()
            .expr(self.walk.key_expr(backend))
            .expr(self.identity.key_expr(backend))
            .from(Alias::new(self.walk.table))
            .and_where(fill.rows(self.walk, backend))
            .and_where(needs_owner())
            .order_by(self.walk.order_column(), Order::Asc)
            .to_owned();
        let rows = txn.query_all(&keys).await?;
        if rows.len() < 2 {
            let row = match rows.first() {
                Some(row) => self.identity.read_key_at(row, 1)?.to_string(),
                None => format!(
                    "{}..={}",
                    fill.after
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    fill.upto
                ),
            };
            return Ok(Split::Row(self.walk.table, row));
        }
        let keys = rows
            .iter()
            .map(|row| self.walk.read_key(row))
            .collect::<Result<Vec<Key>, DbErr>>()?;
        let middle = keys[keys.len() / 2 - 1].clone();
        Ok(Split::Halves(
            Fill {
                after: fill.after,
                upto: middle.clone(),
                ..fill
            },
            Fill {
                after: Some(middle),
                ..fill
            },
        ))
    }
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

/// What a run did, for the report.
#[derive(Debug, Serialize)]
pub struct ProjectIdSummary {
    pub run_id: Option<i64>,
    pub dry_run: bool,
    pub tables: Vec<TableSummary>,
    pub passed: bool,
}

/// Resolved options of one run.
#[derive(Debug, Clone)]
pub struct ProjectIdOptions {
    pub tables: Vec<&'static str>,
    pub resume: bool,
    pub validate: bool,
    pub promote_not_null: bool,
}

/// Backfills `project_id` on the chosen tables, then validates.
pub async fn run(
    db: &DatabaseConnection,
    walker_settings: crate::engine::EngineSettings,
    options: &ProjectIdOptions,
    arguments: serde_json::Value,
) -> Result<(ProjectIdSummary, Outcome)> {
    let dry_run = walker_settings.dry_run;
    let mut ledger = match (dry_run, options.resume) {
        (true, _) => None,
        (false, true) => Some(RunLedger::resume(db, COMMAND).await?),
        (false, false) => Some(RunLedger::start(db, COMMAND, arguments).await?),
    };
    let run_id = ledger.as_ref().map(|l| l.id);
    // A resumed run finishes the tables it was started on, whatever --table says now.
    let tables = match ledger.as_ref().filter(|_| options.resume) {
        Some(ledger) => {
            let names: Vec<String> = serde_json::from_value(ledger.arguments["tables"].clone())
                .with_context(|| format!("run {} does not record its tables", ledger.id))?;
            select_tables(&names)?
        }
        None => options.tables.clone(),
    };
    let walked = walk_tables(db, walker_settings, ledger.as_mut(), &tables).await;
    let reports = match walked {
        Ok(reports) => reports,
        Err(err) => {
            if let Some(ledger) = &ledger {
                let status = if err.downcast_ref::<crate::error::Interrupted>().is_some() {
                    RunStatus::Interrupted
                } else {
                    RunStatus::Failed
                };
                // Best effort: the error that stopped the run is the one to report.
                let _ = ledger.finish(db, status, serde_json::json!({})).await;
            }
            return Err(err);
        }
    };
    let mut errors = crate::engine::Counters::default();
    for report in &reports {
        errors.add(&report.counters);
    }
    let mut summaries = Vec::new();
    let mut passed = !errors.too_many_errors();
    for (table, report) in tables.iter().copied().zip(reports) {
        let state = if dry_run {
            Some(
                table_state(db, table)
                    .await?
                    .after_run(&report.counters, options.validate),
            )
        } else if options.validate {
            let state = validate_table(db, table, options.promote_not_null).await?;
            passed &= state.null_count == 0 && state.constraint_validated;
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
    if let Some(ledger) = &ledger {
        ledger
            .finish(db, RunStatus::Completed, serde_json::to_value(&summaries)?)
            .await?;
    }
    let summary = ProjectIdSummary {
        run_id,
        dry_run,
        tables: summaries,
        passed,
    };
    Ok((summary, Outcome::from_passed(passed)))
}

async fn walk_tables(
    db: &DatabaseConnection,
    settings: crate::engine::EngineSettings,
    ledger: Option<&mut RunLedger>,
    tables: &[&'static str],
) -> Result<Vec<UnitReport>> {
    let run_id = ledger.as_ref().map(|l| l.id);
    let mut walker = KeysetWalker::new(db, settings, ledger);
    let mut reports = Vec::new();
    for table in tables {
        let walk = order_of(db, table).await;
        let job = ProjectIdJob {
            walk,
            identity: walk_of(table),
            run_id,
        };
        let report = walker.run(&job, walk, table).await?;
        tracing::info!(
            "{table}: {} scanned, {} set to 'io' ({} aliases), {} rejected in {} batches",
            report.counters.processed,
            report.counters.updated,
            report.counters.normalized,
            report.counters.rejected,
            report.counters.batches
        );
        reports.push(report);
    }
    Ok(reports)
}

/// `project_id` state of one table: NULLs left, and whether NULL is ruled out
/// (PostgreSQL: the check validated or the column NOT NULL; SQLite: both triggers).
#[derive(Debug, Clone, Serialize)]
pub struct TableState {
    pub null_count: i64,
    pub constraint_validated: bool,
}

impl TableState {
    /// The state a run that changes what `walked` counts leaves (a dry run reports it):
    /// the NULLs it did not fill, which are the rows the database rejects, and the check
    /// validated when the run validates and no NULL is left.
    fn after_run(self, walked: &crate::engine::Counters, validates: bool) -> TableState {
        let filled = walked.updated.saturating_sub(walked.normalized);
        let null_count = Ord::max(self.null_count.saturating_sub_unsigned(filled), 0);
        TableState {
            null_count,
            constraint_validated: self.constraint_validated || (validates && null_count == 0),
        }
    }
}

pub async fn table_state(db: &impl ConnectionTrait, table: &'static str) -> Result<TableState> {
    let null_count = count_nulls(db, table).await?;
    let constraint_validated = match check_state(db, table).await? {
        ProjectIdCheck::Enforced => true,
        ProjectIdCheck::NotValidated => false,
        ProjectIdCheck::Missing => pg_not_null(db, table).await?,
    };
    Ok(TableState {
        null_count,
        constraint_validated,
    })
}

async fn check_state(db: &impl ConnectionTrait, table: &str) -> Result<ProjectIdCheck> {
    project_id_check_state(db, table)
        .await
        .with_context(|| format!("could not read the project_id check of `{table}`"))
}

async fn count_nulls(db: &impl ConnectionTrait, table: &str) -> Result<i64> {
    let query = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new(COLUMN)).is_null())
        .to_owned();
    let row = db
        .query_one(&query)
        .await
        .with_context(|| format!("could not count NULL project_id in `{table}`"))?;
    Ok(row
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// Whether the column itself is NOT NULL (after `--promote-not-null`; PostgreSQL only).
async fn pg_not_null(db: &impl ConnectionTrait, table: &str) -> Result<bool> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT is_nullable = 'NO' FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
            [table.into(), COLUMN.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get_by_index::<bool>(0))
        .transpose()?
        .unwrap_or(false))
}

/// SPEC §5.5.7 for one table, in its own transaction: a table with NULLs fails without
/// touching the check; otherwise a check an adopted schema lacks is added (NOT VALID on
/// PostgreSQL, the triggers on SQLite), then validated on PostgreSQL.
pub async fn validate_table(
    db: &DatabaseConnection,
    table: &'static str,
    promote: bool,
) -> Result<TableState> {
    let nulls = count_nulls(db, table).await?;
    if nulls > 0 {
        // Not a warning: the summary on stdout names the table and fails the run.
        tracing::info!(
            "{table}: {nulls} rows still have a NULL project_id; the check stays unvalidated"
        );
        return table_state(db, table).await;
    }
    let txn = db.begin().await?;
    if !pg_not_null(&txn, table).await? {
        ensure_project_id_check(&txn, table)
            .await
            .with_context(|| format!("could not add the project_id check of `{table}`"))?;
    }
    let check = migration::project_id_check_name(table);
    if check_state(&txn, table).await? == ProjectIdCheck::NotValidated {
        // SHARE UPDATE EXCLUSIVE: reads and writes go on while it scans.
        txn.execute_unprepared(&format!(
            "ALTER TABLE \"{table}\" VALIDATE CONSTRAINT \"{check}\""
        ))
        .await
        .with_context(|| format!("could not validate {check}"))?;
    }
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    if promote && postgres && check_state(&txn, table).await? == ProjectIdCheck::Enforced {
        // PostgreSQL 12+ proves NOT NULL from the validated check without a scan.
        txn.execute_unprepared(&format!(
            "ALTER TABLE \"{table}\" ALTER COLUMN {COLUMN} SET NOT NULL"
        ))
        .await?;
        txn.execute_unprepared(&format!(
            "ALTER TABLE \"{table}\" DROP CONSTRAINT \"{check}\""
        ))
        .await?;
    }
    txn.commit()
        .await
        .with_context(|| format!("could not validate `{table}`"))?;
    table_state(db, table).await
}

/// `--validate-only`.
pub async fn validate_only(
    db: &DatabaseConnection,
    tables: &[&'static str],
    promote: bool,
) -> Result<(ProjectIdSummary, Outcome)> {
    let mut summary = ProjectIdSummary {
        run_id: None,
        dry_run: false,
        tables: Vec::new(),
        passed: true,
    };
    for table in tables {
        let state = validate_table(db, table, promote).await?;
        summary.passed &= state.null_count == 0 && state.constraint_validated;
        summary.tables.push(TableSummary {
            table,
            walk: None,
            state: Some(state),
        });
    }
    let outcome = Outcome::from_passed(summary.passed);
    Ok((summary, outcome))
}

/// What `--rollback` restored.
#[derive(Debug, Serialize)]
pub struct RollbackSummary {
    pub run_id: i64,
    pub restored: u64,
    pub left_alone: u64,
}

/// Restores the old values a run journaled, for rows that still hold the `'io'` it
/// wrote (rows the application changed since stay as they are). Refuses, changing
/// nothing, when an old value is NULL and a check or trigger forbids NULL.
pub async fn rollback(db: &DatabaseConnection, run: Option<i64>) -> Result<RollbackSummary> {
    let run_id = match run {
        Some(id) => {
            // A run rolled back already must not be rolled back again: its rows may
            // hold the 'io' of a later run by now, which is not this run's to undo.
            let found = entity::backfill_runs::Entity::find_by_id(id)
                .one(db)
                .await
                .context("could not read backfill_runs")?;
            match found {
                Some(r) if r.command != COMMAND => bail!(UsageError::new(format!(
                    "run {id} is a `{}` run, not a `{COMMAND}` run: nothing was changed",
                    r.command
                ))),
                Some(r) if r.status == RunStatus::RolledBack.as_str() => {
                    bail!(UsageError::new(format!(
                        "run {id} was already rolled back: nothing was changed"
                    )))
                }
                Some(_) => id,
                None => bail!(UsageError::new(format!(
                    "there is no run {id} in backfill_runs: nothing was changed"
                ))),
            }
        }
        None => entity::backfill_runs::Entity::find()
            .filter(entity::backfill_runs::Column::Command.eq(COMMAND))
            .filter(entity::backfill_runs::Column::Status.ne(RunStatus::RolledBack.as_str()))
            .order_by_desc(entity::backfill_runs::Column::Id)
            .one(db)
            .await?
            .map(|r| r.id)
            .ok_or_else(|| UsageError::new(format!("there is no `{COMMAND}` run to roll back")))?,
    };
    // First pass: refuse before anything changes (each table is checked once).
    let mut checked = BTreeSet::new();
    let entries = each_journal_entry(db, run_id, async |entry| {
        let table = known_table(&entry.table_name)?;
        let changes = decode_changes(&entry.changes, walk_of(table).kind)?;
        if changes.iter().any(|(old, _)| old.is_none())
            && checked.insert(table)
            && (check_state(db, table).await? != ProjectIdCheck::Missing
                || pg_not_null(db, table).await?)
        {
            bail!(UsageError::new(format!(
                "run {run_id} replaced NULLs in `{table}`, and NULL cannot be restored while {} forbids it: nothing was changed; `backfill migrate down` removes the check if you really need the NULLs back",
                migration::project_id_check_name(table)
            )));
        }
        Ok(())
    })
    .await?;
    if entries == 0 {
        bail!(UsageError::new(format!(
            "run {run_id} changed nothing that could be rolled back"
        )));
    }
    let mut summary = RollbackSummary {
        run_id,
        restored: 0,
        left_alone: 0,
    };
    each_journal_entry(db, run_id, async |entry| {
        let table = known_table(&entry.table_name)?;
        let walk = walk_of(table);
        let txn = db.begin().await?;
        let backend = txn.get_database_backend();
        for (old, keys) in decode_changes(&entry.changes, walk.kind)? {
            for chunk in keys.chunks(db::MAX_BINDS) {
                let update = Query::update()
                    .table(Alias::new(table))
                    .value(Alias::new(COLUMN), old.as_deref())
                    .and_where(holding(walk, backend, chunk, OWNER))
                    .to_owned();
                let done = txn.execute(&update).await?.rows_affected();
                summary.restored += done;
                summary.left_alone += chunk.len() as u64 - done;
            }
        }
        txn.commit().await?;
        Ok(())
    })
    .await?;
    entity::backfill_runs::Entity::update_many()
        .col_expr(
            entity::backfill_runs::Column::Status,
            Expr::value(RunStatus::RolledBack.as_str()),
        )
        .filter(entity::backfill_runs::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(summary)
}

/// Journal entries read per page.
const JOURNAL_PAGE: u64 = 100;

/// Calls `visit` on every journal entry of run `run_id`, newest first, reading the
/// journal in keyset pages (never a whole run at once); returns how many there were.
async fn each_journal_entry(
    db: &DatabaseConnection,
    run_id: i64,
    mut visit: impl AsyncFnMut(backfill_journal::Model) -> Result<()>,
) -> Result<u64> {
    let mut before = None;
    let mut seen = 0;
    loop {
        let mut page = backfill_journal::Entity::find()
            .filter(backfill_journal::Column::RunId.eq(run_id))
            .order_by_desc(backfill_journal::Column::Id)
            .limit(JOURNAL_PAGE);
        if let Some(before) = before {
            page = page.filter(backfill_journal::Column::Id.lt(before));
        }
        let page = page
            .all(db)
            .await
            .context("could not read backfill_journal")?;
        let Some(last) = page.last() else {
            return Ok(seen);
        };
        before = Some(last.id);
        seen += page.len() as u64;
        for entry in page {
            visit(entry).await?;
        }
    }
}

/// The rows `keys` (by primary key) whose `project_id` still holds `value`: a row
/// changed by someone else since is left as it is. The fill replaces an alias with
/// 'io' on these rows, and rollback puts the old value back.
fn holding(identity: TableWalk, backend: DatabaseBackend, keys: &[Key], value: &str) -> Expr {
    Expr::col(Alias::new(identity.key))
        .is_in(keys.iter().map(|k| k.to_value(identity.kind, backend)))
        .and(Expr::col(Alias::new(COLUMN)).eq(value))
}

fn known_table(name: &str) -> Result<&'static str> {
    MEMORY_TABLES
        .iter()
        .copied()
        .find(|t| *t == name)
        .ok_or_else(|| anyhow::anyhow!("the journal names `{name}`, which is not a memory table"))
}

/// A journal entry's `changes`: the rows one statement set to 'io', by primary key,
/// and the value they all held before; or, as journals written before this form
/// hold them, `[row, old]` pairs.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum JournaledChanges {
    Rows { old: Option<String>, keys: Vec<Key> },
    Pairs(Vec<(String, Option<String>)>),
}

/// An entry's rows grouped by the value they held.
fn decode_changes(
    json: &serde_json::Value,
    kind: KeyKind,
) -> Result<Vec<(Option<String>, Vec<Key>)>> {
    let changes = JournaledChanges::deserialize(json).context("a journal entry is unreadable")?;
    Ok(match changes {
        JournaledChanges::Rows { old, keys } => vec![(old, keys)],
        JournaledChanges::Pairs(pairs) => {
            let mut by_old: BTreeMap<Option<String>, Vec<Key>> = BTreeMap::new();
            for (key, old) in pairs {
                let key = match (kind, key.parse::<i64>()) {
                    (KeyKind::Integer, Ok(v)) => Key::Int(v),
                    _ => Key::Text(key),
                };
                by_old.entry(old).or_default().push(key);
            }
            by_old.into_iter().collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_journal_forms() {
        let rows = serde_json::json!({"old": null, "keys": [3, 5]});
        assert_eq!(
            decode_changes(&rows, KeyKind::Integer).unwrap(),
            vec![(None, vec![Key::Int(3), Key::Int(5)])]
        );
        let pairs = serde_json::json!([["7", null], ["8", "I/O"], ["9", null]]);
        assert_eq!(
            decode_changes(&pairs, KeyKind::Integer).unwrap(),
            vec![
                (None, vec![Key::Int(7), Key::Int(9)]),
                (Some("I/O".to_string()), vec![Key::Int(8)]),
            ]
        );
        let uuid = "0e6f1d2c-8a4b-4c3d-9e8f-7a6b5c4d3e2f";
        let pairs = serde_json::json!([[uuid, "default"]]);
        assert_eq!(
            decode_changes(&pairs, KeyKind::Uuid).unwrap(),
            vec![(Some("default".to_string()), vec![Key::Text(uuid.into())])]
        );
        assert!(decode_changes(&serde_json::json!({"keys": "x"}), KeyKind::Integer).is_err());
    }

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
