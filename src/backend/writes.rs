//! The writes whose SQL differs between databases: an update that journals the rows it
//! changes in the same transaction, setting a column from (key, value) pairs, the
//! tenant-guarded upsert, and the `project_id` guard's promotion and lifting.

use async_trait::async_trait;
use chrono::Utc;
use entity::backfill_journal;
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, FunctionCall, InsertStatement, IntoIden, OnConflict, Query,
    SelectStatement, TableRef, UpdateStatement, ValueTuple,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, QueryResult};

use super::{Dialect, MAX_BINDS, TableKey};

/// An update whose changed rows are journaled in `backfill_journal`, in the same
/// transaction, as `{"old": old, "keys": [key, …]}`.
pub struct JournaledUpdate<'a> {
    pub run_id: i64,
    /// The batch the update belongs to.
    pub batch: u64,
    /// The rows to change; every one of them holds `old`.
    pub target: Expr,
    /// The value every changed row held.
    pub old: Option<&'a str>,
    /// The update itself, its `WHERE` being `target`.
    pub update: UpdateStatement,
    /// The table's primary key, which names a changed row.
    pub identity: TableKey,
    /// Whether the changed keys are wanted back (else only their count).
    pub return_keys: bool,
}

/// What an update changed: how many rows, or which (one key per row, at index 0).
pub enum Changed {
    Count(u64),
    Keys(Vec<QueryResult>),
}

impl Changed {
    /// What an update that changed nothing returns.
    pub fn nothing(return_keys: bool) -> Self {
        match return_keys {
            true => Self::Keys(Vec::new()),
            false => Self::Count(0),
        }
    }
}

/// The writes whose statements differ between databases, in its dialect.
#[async_trait]
pub trait Writes: Dialect {
    /// Sets `column` to the second of each pair on the row of `table` whose `key` is
    /// the first: one `UPDATE … FROM (VALUES (key, value), …)`, a join on the primary
    /// key, per chunk of pairs.
    async fn set_by_key(
        &self,
        txn: &DatabaseTransaction,
        table: &'static str,
        key: &'static str,
        column: &'static str,
        pairs: &[(i64, i64)],
    ) -> Result<(), DbErr> {
        for chunk in pairs.chunks(MAX_BINDS / 2) {
            let values = chunk
                .iter()
                .map(|(key, value)| ValueTuple::Two((*key).into(), (*value).into()))
                .collect();
            txn.execute(&update_from_values(table, key, column, values, false))
                .await?;
        }
        Ok(())
    }

    /// The undo of [`Writes::set_by_key`]: of each `(key, old, new)`, sets `column`
    /// of the row of `table` whose `key` is the first back to `old`, where it still
    /// holds `new`. Returns how many rows it set back.
    async fn reset_by_key(
        &self,
        txn: &DatabaseTransaction,
        table: &'static str,
        key: &'static str,
        column: &'static str,
        rows: &[(i64, Option<i64>, i64)],
    ) -> Result<u64, DbErr> {
        let mut reset = 0;
        for chunk in rows.chunks(MAX_BINDS / 3) {
            let values = chunk
                .iter()
                .map(|(key, old, new)| {
                    ValueTuple::Three((*key).into(), (*old).into(), (*new).into())
                })
                .collect();
            reset += txn
                .execute(&update_from_values(table, key, column, values, true))
                .await?
                .rows_affected();
        }
        Ok(reset)
    }

    /// The `ON CONFLICT (key)` clause of an upsert into `table` that updates `columns`
    /// from the incoming row, except where the stored row's `guard` differs from the
    /// incoming one: such a row is left as it is.
    fn guarded_upsert(
        &self,
        table: &'static str,
        key: &'static str,
        columns: &[&'static str],
        guard: &'static str,
    ) -> OnConflict {
        OnConflict::column(Alias::new(key))
            .update_columns(columns.iter().map(|c| Alias::new(*c)))
            .action_and_where(
                Expr::col((Alias::new(table), Alias::new(guard)))
                    .equals((Alias::new("excluded"), Alias::new(guard))),
            )
            .to_owned()
    }

    /// Runs `update` (of `identity.table`, its `WHERE` being `target`), returning the
    /// changed keys (as `identity` selects them) when asked for.
    async fn run_update(
        &self,
        txn: &DatabaseTransaction,
        identity: TableKey,
        _target: Expr,
        mut update: UpdateStatement,
        return_keys: bool,
    ) -> Result<Changed, DbErr> {
        if return_keys {
            update.returning(Query::returning().expr(identity.selected(self)));
            Ok(Changed::Keys(txn.query_all(&update).await?))
        } else {
            Ok(Changed::Count(txn.execute(&update).await?.rows_affected()))
        }
    }

    /// Runs the update and journals exactly the rows it changed, in `txn`.
    async fn journaled_update(
        &self,
        txn: &DatabaseTransaction,
        update: JournaledUpdate<'_>,
    ) -> Result<Changed, DbErr>;

    /// Whether the database can make a column NOT NULL in place (`--promote-not-null`).
    fn promotes_not_null(&self) -> bool {
        true
    }

    /// Statements that make `table.project_id` NOT NULL (once its check holds for
    /// every row: `--promote-not-null`), or nullable again (`--rollback` of such a
    /// run), in place, without a table copy.
    async fn project_id_not_null(
        &self,
        txn: &DatabaseTransaction,
        table: &str,
        not_null: bool,
    ) -> Result<Vec<String>, DbErr>;

    /// Where DDL commits at once (MySQL), the statements that keep every other session
    /// from writing to `table` while its check is lifted (reading the journal, which
    /// the restore reads, stays allowed), and the one that lets go; none where the lift
    /// is part of the table's transaction and no one sees it before the commit.
    fn hold_while_lifted(&self, _table: &str) -> Option<(String, String)> {
        None
    }

    /// Statements that lift a memory table's check on `project_id` (seeding legacy
    /// rows, a promotion to NOT NULL, a rollback that restores NULLs);
    /// `migration::ensure_project_id_check` puts it back. Where the check is the two
    /// triggers, dropping them.
    fn lift_project_id_guard(&self, table: &str) -> Vec<String> {
        [
            migration::project_id_insert_trigger_name(table),
            migration::project_id_update_trigger_name(table),
        ]
        .map(|trigger| format!("DROP TRIGGER IF EXISTS \"{trigger}\""))
        .into()
    }
}

/// `UPDATE table SET column = list.column2 FROM (VALUES …) AS list WHERE table.key =
/// list.column1`, and with `guarded` `AND table.column = list.column3`.
fn update_from_values(
    table: &'static str,
    key: &'static str,
    column: &'static str,
    values: Vec<ValueTuple>,
    guarded: bool,
) -> UpdateStatement {
    let list = Alias::new("list");
    let listed = |n: &str| Expr::col((list.clone(), Alias::new(n)));
    let mut update = Query::update();
    update
        .table(Alias::new(table))
        .value(Alias::new(column), listed("column2"))
        .from(TableRef::ValuesList(values, list.clone().into_iden()))
        .and_where(
            Expr::col((Alias::new(table), Alias::new(key)))
                .equals((list.clone(), Alias::new("column1"))),
        );
    if guarded {
        update.and_where(
            Expr::col((Alias::new(table), Alias::new(column)))
                .equals((list.clone(), Alias::new("column3"))),
        );
    }
    update
}

/// The journal row of the rows `entry.target` selects in their own table, `{"old": …,
/// "keys": [key, …]}` built with the database's `json_object` and `json_array_agg`
/// functions (`key` as its identity selects it): for a database that journals before
/// it updates (SQLite, MySQL).
pub(super) fn journal_of_target(
    entry: &JournaledUpdate<'_>,
    json_object: &str,
    json_array_agg: &str,
    key: Expr,
) -> Result<InsertStatement, DbErr> {
    let changes = Func::cust(Alias::new(json_object))
        .arg("old")
        .arg(entry.old)
        .arg("keys")
        .arg(Func::cust(Alias::new(json_array_agg)).arg(key));
    journal_insert(
        entry,
        changes,
        Alias::new(entry.identity.table),
        entry.target.clone(),
    )
}

/// The journal row of one write: `INSERT INTO backfill_journal … SELECT run, table,
/// batch, <changes>, now FROM source WHERE rows`, which inserts nothing when no row
/// matched. Shared by the databases' [`Writes::journaled_update`].
pub(super) fn journal_insert(
    entry: &JournaledUpdate<'_>,
    changes: FunctionCall,
    source: Alias,
    rows: Expr,
) -> Result<InsertStatement, DbErr> {
    let select: SelectStatement = Query::select()
        .expr(Expr::value(entry.run_id))
        .expr(Expr::value(entry.identity.table))
        .expr(Expr::value(entry.batch as i64))
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
