//! The `project_id` checks of the memory tables (SPEC §5.5.7): how far a table is from
//! "no NULL, and NULL ruled out", and validating it there. `validate` reads the state;
//! the project-id backfill validates after its fill, and `--validate-only` does only
//! that.

use anyhow::{Context, Result};
use migration::{
    PROJECT_ID_COLUMN, ProjectIdCheck, ensure_project_id_check, project_id_check_name,
    project_id_check_state,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::Serialize;

use crate::backend::{Backend, Db, query_flag};

/// `project_id` state of one table: NULLs left, and whether NULL is ruled out
/// (PostgreSQL: the check validated or the column NOT NULL; SQLite: both triggers).
#[derive(Debug, Clone, Serialize)]
pub struct TableState {
    pub null_count: i64,
    pub constraint_validated: bool,
}

impl TableState {
    /// No NULL left, and NULL ruled out from now on.
    pub fn passes(&self) -> bool {
        self.null_count == 0 && self.constraint_validated
    }

    /// The state a run that fills `filled` NULLs leaves (a dry run reports it): the
    /// NULLs it did not fill, which are the rows the database rejects, and the check
    /// validated when the run validates and no NULL is left.
    pub fn after_run(self, filled: u64, validates: bool) -> TableState {
        let null_count = Ord::max(self.null_count.saturating_sub_unsigned(filled), 0);
        TableState {
            null_count,
            constraint_validated: self.constraint_validated || (validates && null_count == 0),
        }
    }
}

pub async fn table_state(db: &Db, table: &'static str) -> Result<TableState> {
    let null_count = count_nulls(db, table).await?;
    let constraint_validated = match check_state(db, table).await? {
        ProjectIdCheck::Enforced => true,
        ProjectIdCheck::NotValidated => false,
        ProjectIdCheck::Missing => column_not_null(db, db.backend(), table).await?,
    };
    Ok(TableState {
        null_count,
        constraint_validated,
    })
}

pub(crate) async fn check_state(db: &impl ConnectionTrait, table: &str) -> Result<ProjectIdCheck> {
    project_id_check_state(db, table)
        .await
        .with_context(|| format!("could not read the project_id check of `{table}`"))
}

async fn count_nulls(db: &impl ConnectionTrait, table: &str) -> Result<i64> {
    let query = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new(PROJECT_ID_COLUMN)).is_null())
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

/// Whether the column itself is NOT NULL (after `--promote-not-null`).
pub(crate) async fn column_not_null(
    db: &impl ConnectionTrait,
    backend: &dyn Backend,
    table: &str,
) -> Result<bool> {
    match backend.not_null_query(table, PROJECT_ID_COLUMN) {
        Some(query) => Ok(query_flag(db, query).await?),
        None => Ok(false),
    }
}

/// SPEC §5.5.7 for one table, in its own transaction: a table with NULLs fails without
/// touching the check; otherwise a check an adopted schema lacks is added (NOT VALID on
/// PostgreSQL, the triggers on SQLite), then validated on PostgreSQL.
pub async fn validate_table(db: &Db, table: &'static str, promote: bool) -> Result<TableState> {
    let nulls = count_nulls(db, table).await?;
    if nulls > 0 {
        // Not a warning: the summary on stdout names the table and fails the run.
        tracing::info!(
            "{table}: {nulls} rows still have a NULL project_id; the check stays unvalidated"
        );
        return table_state(db, table).await;
    }
    let txn = db.begin().await?;
    if !column_not_null(&txn, db.backend(), table).await? {
        ensure_project_id_check(&txn, table)
            .await
            .with_context(|| format!("could not add the project_id check of `{table}`"))?;
    }
    let check = project_id_check_name(table);
    if check_state(&txn, table).await? == ProjectIdCheck::NotValidated {
        // SHARE UPDATE EXCLUSIVE: reads and writes go on while it scans.
        txn.execute_unprepared(&format!(
            "ALTER TABLE \"{table}\" VALIDATE CONSTRAINT \"{check}\""
        ))
        .await
        .with_context(|| format!("could not validate {check}"))?;
    }
    // Only a validated check is promoted. A backend whose check stays the guard
    // (SQLite's triggers) has nothing to promote it with.
    if promote && check_state(&txn, table).await? == ProjectIdCheck::Enforced {
        let backend = db.backend();
        let mut statements = backend.project_id_not_null(&txn, table, true).await?;
        statements.extend(backend.lift_project_id_guard(table));
        for statement in statements {
            txn.execute_unprepared(&statement)
                .await
                .with_context(|| format!("could not make `{table}`.project_id NOT NULL"))?;
        }
    }
    txn.commit()
        .await
        .with_context(|| format!("could not validate `{table}`"))?;
    table_state(db, table).await
}

/// Validates each of `tables` in turn (`--validate-only`, and the end of a run).
pub async fn validate_tables(
    db: &Db,
    tables: &[&'static str],
    promote: bool,
) -> Result<Vec<(&'static str, TableState)>> {
    let mut states = Vec::new();
    for table in tables {
        states.push((*table, validate_table(db, table, promote).await?));
    }
    Ok(states)
}
