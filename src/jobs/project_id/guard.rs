//! What keeps `project_id` of a memory table from NULL, as a run found it and as its
//! rollback must leave it: the check (a constraint, `NOT VALID` or validated, or the
//! two triggers) and whether the column itself is NOT NULL. A run records each
//! table's guard before it writes; `--rollback` lifts the guard the run left, restores
//! the rows, and puts the recorded guard back, in one transaction per table (on MySQL,
//! whose DDL commits at once, under a write lock on the table, so that no application
//! write slips past while it is lifted).

use anyhow::{Context, Result};
use migration::{ProjectIdCheck, ensure_project_id_check, project_id_check_name};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde::{Deserialize, Serialize};

use crate::backend::Db;
use crate::validate::project_id::{check_state, column_not_null};

/// The check on `project_id`, as a run records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Missing,
    /// PostgreSQL's constraint, added `NOT VALID`.
    NotValid,
    /// PostgreSQL's constraint validated; SQLite's and MySQL's two triggers.
    Enforced,
}

/// What keeps `project_id` of one table from NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guard {
    pub check: Check,
    pub not_null: bool,
}

impl Guard {
    /// The guard the migrations leave: what a run recorded before guards were
    /// recorded is taken to have found.
    pub const MIGRATED: Guard = Guard {
        check: Check::NotValid,
        not_null: false,
    };

    /// The guard in a few words: `NOT NULL`, `NOT VALID`, `enforced`, `none`.
    pub fn describe(self) -> &'static str {
        match (self.not_null, self.check) {
            (true, _) => "NOT NULL",
            (false, Check::NotValid) => "NOT VALID",
            (false, Check::Enforced) => "enforced",
            (false, Check::Missing) => "none",
        }
    }

    /// Whether it refuses a NULL `project_id`.
    pub fn forbids_null(self) -> bool {
        self.not_null || self.check != Check::Missing
    }
}

/// The guard of `table` now.
pub async fn guard_of(db: &Db, conn: &impl ConnectionTrait, table: &str) -> Result<Guard> {
    let check = match check_state(conn, table).await? {
        ProjectIdCheck::Missing => Check::Missing,
        ProjectIdCheck::NotValidated => Check::NotValid,
        ProjectIdCheck::Enforced => Check::Enforced,
    };
    Ok(Guard {
        check,
        not_null: column_not_null(conn, db.backend(), table).await?,
    })
}

/// Lifts `now`, the guard of `table`, in `txn`: the column nullable again, the check
/// dropped.
pub async fn lift(db: &Db, txn: &DatabaseTransaction, table: &str, now: Guard) -> Result<()> {
    let backend = db.backend();
    let mut statements = Vec::new();
    if now.not_null {
        statements.extend(backend.project_id_not_null(txn, table, false).await?);
    }
    if now.check != Check::Missing {
        statements.extend(backend.lift_project_id_guard(table));
    }
    for statement in statements {
        txn.execute_unprepared(&statement)
            .await
            .with_context(|| format!("could not lift the project_id check of `{table}`"))?;
    }
    Ok(())
}

/// Puts `before`, the guard a run found on `table`, back in `txn` (the guard it has
/// now lifted): the check as it was (`NOT VALID` where it was not validated), the
/// column NOT NULL where it was.
pub async fn put_back(
    db: &Db,
    txn: &DatabaseTransaction,
    table: &str,
    before: Guard,
) -> Result<()> {
    let context = || format!("could not put the project_id check of `{table}` back");
    if before.check != Check::Missing {
        ensure_project_id_check(txn, table)
            .await
            .with_context(context)?;
    }
    if before.check == Check::Enforced
        && check_state(txn, table).await? == ProjectIdCheck::NotValidated
    {
        let check = project_id_check_name(table);
        txn.execute_unprepared(&format!(
            "ALTER TABLE \"{table}\" VALIDATE CONSTRAINT \"{check}\""
        ))
        .await
        .with_context(context)?;
    }
    if before.not_null {
        for statement in db.backend().project_id_not_null(txn, table, true).await? {
            txn.execute_unprepared(&statement)
                .await
                .with_context(context)?;
        }
    }
    Ok(())
}
