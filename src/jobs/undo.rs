//! What the two rollbacks share: the run to undo (never one rolled back already, nor
//! one whose process is still at work), its journal read in keyset pages, and the run
//! marked rolled back once every table is restored. A rollback that stops half-way
//! leaves the run as it was: running it again finishes it, since each row is restored
//! only while it still holds what the run wrote.

use anyhow::{Context, Result, bail};
use entity::{backfill_journal, backfill_runs};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::backend::Db;
use crate::error::{Unavailable, UsageError};
use crate::ledger::{self, RunStatus};
use crate::notify::{self, Event};

/// Journal entries read per page.
const JOURNAL_PAGE: u64 = 100;

/// What `--rollback` restored (or, with `--dry-run`, would restore), per table.
#[derive(Debug, Serialize)]
pub struct RollbackSummary {
    pub run_id: i64,
    pub dry_run: bool,
    pub tables: Vec<TableRestore>,
    pub restored: u64,
    pub left_alone: u64,
}

impl RollbackSummary {
    pub fn new(run_id: i64, dry_run: bool) -> Self {
        Self {
            run_id,
            dry_run,
            tables: Vec::new(),
            restored: 0,
            left_alone: 0,
        }
    }

    /// Adds one table's part.
    pub fn add(&mut self, table: TableRestore) {
        self.restored += table.restored;
        self.left_alone += table.left_alone;
        self.tables.push(table);
    }
}

/// One table's part of a rollback.
#[derive(Debug, Serialize)]
pub struct TableRestore {
    pub table: &'static str,
    /// Rows given back what they held before the run (removed, where the run inserted
    /// them).
    pub restored: u64,
    /// Rows the run wrote that hold something else by now, or that another row now
    /// refers to: left as they are.
    pub left_alone: u64,
    /// The guard on `project_id` the rollback found and the one it put back, when
    /// they differ (`backfill-project-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<GuardRestore>,
}

impl TableRestore {
    pub fn new(table: &'static str) -> Self {
        Self {
            table,
            restored: 0,
            left_alone: 0,
            guard: None,
        }
    }
}

/// A guard replaced by a rollback, each in a few words (`NOT VALID`, `NOT NULL`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardRestore {
    pub found: &'static str,
    pub put_back: &'static str,
}

/// The run of `command` that `--rollback` undoes: `run`, or the latest not rolled
/// back. Refused when it is rolled back already (its rows may hold a later run's
/// values by now, which are not this run's to undo) or still at work.
pub async fn run_to_undo(db: &Db, command: &str, run: Option<i64>) -> Result<backfill_runs::Model> {
    let found = match run {
        Some(id) => ledger::find(db, id).await?,
        None => backfill_runs::Entity::find()
            .filter(backfill_runs::Column::Command.eq(command))
            .filter(backfill_runs::Column::Status.ne(RunStatus::RolledBack.as_str()))
            .order_by_desc(backfill_runs::Column::Id)
            .one(db)
            .await
            .context("could not read backfill_runs")?
            .ok_or_else(|| UsageError::new(format!("there is no `{command}` run to roll back")))?,
    };
    let id = found.id;
    if found.command != command {
        bail!(UsageError::new(format!(
            "run {id} is a `{}` run, not a `{command}` run: nothing was changed",
            found.command
        )));
    }
    if found.status == RunStatus::RolledBack.as_str() {
        bail!(UsageError::new(format!(
            "run {id} was already rolled back: nothing was changed"
        )));
    }
    if RunStatus::LIVE.contains(&found.status.as_str())
        && ledger::is_alive(&found.host, found.pid, found.heartbeat_at)
    {
        bail!(Unavailable::new(format!(
            "run {id} is still {} (pid {} on {}): stop it with `backfill runs cancel {id}`, then roll it back",
            found.status, found.pid, found.host
        )));
    }
    Ok(found)
}

/// Records that run `id` is rolled back: never resumed, never rolled back again.
pub async fn mark_rolled_back(db: &Db, id: i64) -> Result<()> {
    backfill_runs::Entity::update_many()
        .col_expr(
            backfill_runs::Column::Status,
            Expr::value(RunStatus::RolledBack.as_str()),
        )
        .filter(backfill_runs::Column::Id.eq(id))
        .exec(db)
        .await
        .context("could not record the rollback in backfill_runs")?;
    notify::tell_once(db, &ledger::find(db, id).await?, Event::RolledBack).await;
    Ok(())
}

/// Calls `visit` on every journal entry of run `run_id` for `table`, newest first,
/// reading the journal in keyset pages (never a whole run at once); returns how many
/// there were.
pub async fn each_journal_entry(
    db: &impl ConnectionTrait,
    run_id: i64,
    table: &str,
    mut visit: impl AsyncFnMut(backfill_journal::Model) -> Result<()>,
) -> Result<u64> {
    let mut before = None;
    let mut seen = 0;
    loop {
        let mut page = backfill_journal::Entity::find()
            .filter(backfill_journal::Column::RunId.eq(run_id))
            .filter(backfill_journal::Column::TableName.eq(table))
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
