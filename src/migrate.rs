//! `migrate`: the migration crate's commands from the main binary, and `migrate check`,
//! the CI gate: up → down → up on a scratch database of the same backend with the
//! schema compared to the entities, plus a read-only look at the given database. The
//! commands that drop tables (`down`, `fresh`, `refresh`, `reset`) first say what data
//! they would drop (`data_dropped_by`), and the caller asks before any of it goes.

use anyhow::{Context, Result};
use migration::{MEMORY_TABLES, Migrator, MigratorTrait, SchemaObject};
use sea_orm::{ConnectionTrait, TransactionTrait};
use sea_orm_migration::{MigrationStatus, SchemaManager};
use serde::Serialize;

use crate::backend::{Db, Distributed, Layout, db_message};
use crate::error::Outcome;
use crate::schema;

/// What a migrate command did or found, for the report.
#[derive(Debug, Default, Serialize)]
pub struct MigrateReport {
    pub action: String,
    pub applied: Vec<String>,
    pub pending: Vec<String>,
    /// Steps of `check` on the scratch database, each with its result.
    pub scratch_steps: Vec<String>,
    /// Differences between entities and schema (scratch and given database).
    pub drift: Vec<String>,
    /// The tables `up --distribute` distributed, each with the keys it dropped first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub distributed: Vec<Distributed>,
    pub data_dropped: bool,
    pub passed: bool,
}

/// Data a migrate command would drop: a table holding rows, or a column of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedData {
    pub table: String,
    /// The column dropped from a table that stays; none when the table goes.
    pub column: Option<String>,
    /// Rows of the table, the database's estimate where it keeps one.
    pub rows: u64,
}

impl std::fmt::Display for DroppedData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows = indicatif::HumanCount(self.rows);
        match &self.column {
            Some(column) => write!(f, "`{}`.{column} of {rows} rows", self.table),
            None => write!(f, "`{}` ({rows} rows)", self.table),
        }
    }
}

/// What `migrate` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Apply pending migrations: all, or the next N; then, on a cluster, distribute the
    /// memory tables.
    Up {
        num: Option<u32>,
        distribute: bool,
    },
    /// Roll back the last N applied migrations.
    Down(u32),
    Status,
    Fresh,
    Refresh,
    Reset,
    Check,
}

impl Action {
    /// Whether it drops tables (and their data).
    pub fn drops_data(self) -> bool {
        matches!(
            self,
            Self::Down(_) | Self::Fresh | Self::Refresh | Self::Reset
        )
    }

    /// The subcommand's name, as typed.
    pub fn name(self) -> &'static str {
        match self {
            Self::Up { .. } => "up",
            Self::Down(_) => "down",
            Self::Status => "status",
            Self::Fresh => "fresh",
            Self::Refresh => "refresh",
            Self::Reset => "reset",
            Self::Check => "check",
        }
    }
}

pub async fn run(db: &Db, action: Action) -> Result<(MigrateReport, Outcome)> {
    let mut report = MigrateReport {
        action: action.name().to_string(),
        passed: true,
        ..Default::default()
    };
    match action {
        Action::Up { num, distribute } => {
            if distribute {
                // Refused before anything is migrated.
                db.backend().require_cluster(db).await?;
            }
            db.backend().prepare_new_database(db).await?;
            Migrator::up(db.connection(), num)
                .await
                .context("migrate up failed")?;
            if distribute {
                let by_id = MEMORY_TABLES.map(|table| (table, "id"));
                report.distributed = db.backend().distribute(db, &by_id).await?;
            }
        }
        Action::Down(num) => Migrator::down(db.connection(), Some(num))
            .await
            .context("migrate down failed")?,
        Action::Status => {}
        Action::Fresh => {
            fresh(db).await.context("migrate fresh failed")?;
            report.data_dropped = true;
        }
        Action::Refresh => {
            Migrator::refresh(db.connection())
                .await
                .context("migrate refresh failed")?;
            report.data_dropped = true;
        }
        Action::Reset => {
            Migrator::reset(db.connection())
                .await
                .context("migrate reset failed")?;
            report.data_dropped = true;
        }
        Action::Check => return check(db).await,
    }
    list_status(db, &mut report).await?;
    Ok((report, Outcome::Passed))
}

/// Drops every table and applies every migration. Where foreign keys are checked table
/// by table (SQLite), the drops run in one transaction that checks them at its end,
/// when every table is gone, so that the order they go in does not matter.
async fn fresh(db: &Db) -> Result<()> {
    match db.backend().defer_foreign_keys() {
        Some(defer) => {
            let txn = db.begin().await?;
            txn.execute_unprepared(defer).await?;
            Migrator::fresh(&txn).await?;
            txn.commit().await?;
        }
        None => Migrator::fresh(db.connection()).await?,
    }
    Ok(())
}

/// The data `action` would drop: every table holding rows that it drops, and every
/// column it drops from a table that stays and holds rows. Rows are counted only as
/// far as deciding there are some; the number shown is the database's estimate where
/// it keeps one.
pub async fn data_dropped_by(db: &Db, action: Action) -> Result<Vec<DroppedData>> {
    let mut dropped = Vec::new();
    let objects = match action {
        Action::Fresh => {
            let rows = db
                .query_all_raw(db.backend().tables_query())
                .await
                .context("could not list the tables")?;
            rows.iter()
                .map(|row| Ok(SchemaObject::Table(row.try_get_by_index(0)?)))
                .collect::<Result<Vec<_>, sea_orm::DbErr>>()?
        }
        Action::Down(_) | Action::Refresh | Action::Reset => {
            let mut applied: Vec<String> = Migrator::get_applied_migrations(db.connection())
                .await
                .context("could not read the migration status")?
                .iter()
                .map(|migration| migration.name().to_string())
                .collect();
            applied.reverse();
            if let Action::Down(n) = action {
                applied.truncate(n as usize);
            }
            let mut objects = Vec::new();
            for migration in &applied {
                objects.extend(migration::created_by(db, migration).await?);
            }
            objects
        }
        Action::Up { .. } | Action::Status | Action::Check => Vec::new(),
    };
    let tables: Vec<&String> = objects
        .iter()
        .filter_map(|object| match object {
            SchemaObject::Table(table) => Some(table),
            _ => None,
        })
        .collect();
    for object in &objects {
        let (table, column) = match object {
            SchemaObject::Table(table) => (table, None),
            // A column of a table that goes too is named with its table.
            SchemaObject::Column { table, .. } if tables.contains(&table) => continue,
            SchemaObject::Column { table, column } => (table, Some(column.clone())),
            SchemaObject::Index { .. }
            | SchemaObject::Constraint { .. }
            | SchemaObject::Trigger { .. } => continue,
        };
        if let Some(rows) = rows_in(db, table).await? {
            dropped.push(DroppedData {
                table: table.clone(),
                column,
                rows,
            });
        }
    }
    Ok(dropped)
}

/// How many rows `table` holds, `None` when it holds none: one row looked up, then
/// the database's estimate, or a count where it keeps none.
async fn rows_in(db: &Db, table: &str) -> Result<Option<u64>> {
    let quoted = format!("\"{}\"", table.replace('"', "\"\""));
    let any = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT 1 FROM {quoted} LIMIT 1"),
        ))
        .await
        .with_context(|| format!("could not read `{table}`"))?;
    if any.is_none() {
        return Ok(None);
    }
    if let Some(estimate) = db
        .backend()
        .row_estimate(db, table)
        .await
        .filter(|n| *n > 0)
    {
        return Ok(Some(estimate));
    }
    let counted = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) FROM {quoted}"),
        ))
        .await
        .with_context(|| format!("could not count `{table}`"))?;
    let rows = counted.map_or(Ok(0), |row| row.try_get_by_index::<i64>(0))?;
    Ok(Some(u64::try_from(rows).unwrap_or(0)))
}

async fn list_status(db: &Db, report: &mut MigrateReport) -> Result<()> {
    let migrations = Migrator::get_migration_with_status_read_only(db.connection())
        .await
        .context("could not read the migration status")?;
    for migration in migrations {
        match migration.status() {
            MigrationStatus::Applied => report.applied.push(migration.name().to_string()),
            MigrationStatus::Pending => report.pending.push(migration.name().to_string()),
        }
    }
    Ok(())
}

/// `migrate check`.
async fn check(db: &Db) -> Result<(MigrateReport, Outcome)> {
    let mut report = MigrateReport {
        action: "check".into(),
        ..Default::default()
    };
    let scratch = Scratch::create(db).await?;
    // The scratch database, once migrated (and laid out as this one), is the reference
    // for keys and indexes.
    let result = match exercise(&scratch.conn, &mut report).await {
        Ok(()) => match lay_out_as(db, &scratch.conn, &mut report).await {
            Ok(()) => schema::missing_keys(&scratch.conn, db).await,
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    scratch.drop(db).await?;
    let missing_keys = result?;

    list_status(db, &mut report).await?;
    // Pending migrations fail the gate, and do not excuse drift in what is applied.
    for drift in schema::drift(db).await?.into_iter().chain(missing_keys) {
        report.drift.push(format!("this database: {drift}"));
    }
    report.passed = report.pending.is_empty()
        && report.drift.is_empty()
        && report.scratch_steps.iter().all(|s| s.ends_with(": ok"));
    let outcome = Outcome::from_passed(report.passed);
    Ok((report, outcome))
}

/// up → down → up on the scratch database, the schema compared after each up.
async fn exercise(scratch: &Db, report: &mut MigrateReport) -> Result<()> {
    for step in ["up", "down", "up"] {
        let result = match step {
            "up" => Migrator::up(scratch.connection(), None).await,
            _ => Migrator::down(scratch.connection(), None).await,
        };
        match result {
            Ok(()) => report.scratch_steps.push(format!("{step}: ok")),
            Err(err) => {
                report
                    .scratch_steps
                    .push(format!("{step}: failed: {}", db_message(&err)));
                return Ok(());
            }
        }
        if step == "up" {
            for drift in schema::drift(scratch).await? {
                report.drift.push(format!("after {step}: {drift}"));
            }
        } else {
            for (table, _) in schema::expected_schema() {
                if SchemaManager::new(scratch.connection())
                    .has_table(&table)
                    .await?
                {
                    report
                        .drift
                        .push(format!("after down: table `{table}` is still there"));
                }
            }
        }
    }
    Ok(())
}

/// On a cluster, distributes the scratch database's tables as `db`'s are (by the same
/// columns), then compares its schema again: the layout a team chose is checked too.
async fn lay_out_as(db: &Db, scratch: &Db, report: &mut MigrateReport) -> Result<()> {
    if !report.scratch_steps.iter().all(|s| s.ends_with(": ok")) {
        return Ok(());
    }
    let mut distributed = Vec::new();
    for (table, _) in schema::expected_schema() {
        if let Layout::Distributed { column } = db.backend().layout(db, &table).await? {
            distributed.push((table, column));
        }
    }
    if distributed.is_empty() {
        return Ok(());
    }
    let pairs: Vec<(&str, &str)> = distributed
        .iter()
        .map(|(table, column)| (table.as_str(), column.as_str()))
        .collect();
    match db.backend().distribute(scratch, &pairs).await {
        Ok(_) => report
            .scratch_steps
            .push("distribute as this database: ok".into()),
        Err(err) => {
            report
                .scratch_steps
                .push(format!("distribute as this database: failed: {err:#}"));
            return Ok(());
        }
    }
    for drift in schema::drift(scratch).await? {
        report.drift.push(format!("after distribute: {drift}"));
    }
    Ok(())
}

/// A throwaway database of the same backend as the one checked.
struct Scratch {
    conn: Db,
    name: String,
}

impl Scratch {
    async fn create(db: &Db) -> Result<Self> {
        let name = format!(
            "backfill_check_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default()
        );
        let conn = db.backend().create_scratch(db, &name).await?;
        Ok(Self { conn, name })
    }

    async fn drop(self, db: &Db) -> Result<()> {
        self.conn.close().await.ok();
        db.backend().drop_scratch(db, &self.name).await
    }
}
