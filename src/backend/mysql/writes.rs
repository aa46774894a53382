//! MySQL's writes, without `UPDATE … RETURNING` or `UPDATE … FROM`: keys read under
//! the row locks the update then takes, the journal's `INSERT … SELECT … FOR UPDATE`
//! joined by the update, pairs bound as one JSON array, the tenant guard per column,
//! and NOT NULL made in place with the column's own type.

use async_trait::async_trait;
use sea_orm::sea_query::{
    Alias, Expr, LockType, MysqlQueryBuilder, OnConflict, Query, UpdateStatement,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, Statement};

use super::Mysql;
use crate::backend::writes::journal_of_target;
use crate::backend::{Changed, JournaledUpdate, KeyKind, TableKey, Writes};

#[async_trait]
impl Writes for Mysql {
    async fn run_update(
        &self,
        txn: &DatabaseTransaction,
        identity: TableKey,
        target: Expr,
        update: UpdateStatement,
        return_keys: bool,
    ) -> Result<Changed, DbErr> {
        // No `UPDATE … RETURNING`: the keys are read under the row locks the update
        // then takes over, so they are the rows it changes.
        let keys = if return_keys {
            let locked = Query::select()
                .expr(identity.selected(self))
                .from(Alias::new(identity.table))
                .and_where(target)
                .lock(LockType::Update)
                .to_owned();
            Some(txn.query_all(&locked).await?)
        } else {
            None
        };
        let count = txn.execute(&update).await?.rows_affected();
        Ok(match keys {
            Some(keys) => Changed::Keys(keys),
            None => Changed::Count(count),
        })
    }

    async fn set_by_key(
        &self,
        txn: &DatabaseTransaction,
        table: &'static str,
        key: &'static str,
        column: &'static str,
        pairs: &[(i64, i64)],
    ) -> Result<(), DbErr> {
        // No `UPDATE … FROM (VALUES …)`: the pairs are bound as one JSON array under
        // JSON_TABLE, so every batch uses the one prepared statement.
        update_from_json(txn, table, key, column, pairs, false).await?;
        Ok(())
    }

    async fn reset_by_key(
        &self,
        txn: &DatabaseTransaction,
        table: &'static str,
        key: &'static str,
        column: &'static str,
        rows: &[(i64, Option<i64>, i64)],
    ) -> Result<u64, DbErr> {
        update_from_json(txn, table, key, column, rows, true).await
    }

    fn guarded_upsert(
        &self,
        table: &'static str,
        key: &'static str,
        columns: &[&'static str],
        guard: &'static str,
    ) -> OnConflict {
        // `ON DUPLICATE KEY UPDATE` has no `WHERE`: each column keeps its stored value
        // unless the guard matches. The guard itself is never assigned, since the
        // assignments run left to right and a later one would compare the new value.
        let mut upsert = OnConflict::column(Alias::new(key));
        upsert.values(columns.iter().map(|column| {
            (
                Alias::new(*column),
                Expr::cust(format!(
                    "IF(\"{table}\".\"{guard}\" = VALUES(\"{guard}\"), VALUES(\"{column}\"), \"{table}\".\"{column}\")"
                )),
            )
        }));
        upsert
    }

    async fn journaled_update(
        &self,
        txn: &DatabaseTransaction,
        entry: JournaledUpdate<'_>,
    ) -> Result<Changed, DbErr> {
        // No `UPDATE … RETURNING`, so two statements: the journal row is inserted from
        // the target rows, read `FOR UPDATE` (nobody changes them before the update),
        // then the update joins the keys that row journaled, so a row inserted into the
        // range in between is neither journaled nor changed.
        let key = entry.identity.selected(self);
        let journal = journal_of_target(&entry, "JSON_OBJECT", "JSON_ARRAYAGG", key)?;
        let (sql, values) = journal.build(MysqlQueryBuilder);
        let locked = format!("{sql} FOR UPDATE");
        let journaled = txn
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
                locked,
                values,
            ))
            .await?
            .rows_affected();
        if journaled == 0 {
            return Ok(Changed::nothing(entry.return_keys));
        }
        let (row_key, matches) = match entry.identity.kind {
            KeyKind::Integer => ("BIGINT", "journaled.row_key"),
            KeyKind::Uuid => ("CHAR(36)", "UNHEX(REPLACE(journaled.row_key, '-', ''))"),
        };
        let keys = format!(
            "SELECT k.row_key FROM backfill_journal j, \
             JSON_TABLE(j.changes, '$.keys[*]' COLUMNS (row_key {row_key} PATH '$')) AS k \
             WHERE j.id = LAST_INSERT_ID()"
        );
        let (sql, values) = entry.update.build(MysqlQueryBuilder);
        let table = entry.identity.table;
        let prefix = format!("UPDATE `{table}` ");
        let Some(rest) = sql.strip_prefix(&prefix) else {
            return Err(DbErr::Custom(format!(
                "BUG: an update of `{table}` rendered as {sql}"
            )));
        };
        let joined = format!(
            "{prefix}JOIN ({keys}) AS journaled ON `{table}`.`{}` = {matches} {rest}",
            entry.identity.column
        );
        let changed = txn
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
                joined,
                values,
            ))
            .await?
            .rows_affected();
        if !entry.return_keys {
            return Ok(Changed::Count(changed));
        }
        // The journaled keys, as `selected` reads them (a uuid as its text).
        let keys = txn
            .query_all_raw(Statement::from_string(DatabaseBackend::MySql, keys))
            .await?;
        Ok(Changed::Keys(keys))
    }

    fn hold_while_lifted(&self, table: &str) -> Option<(String, String)> {
        // DDL commits the transaction it is in, and dropping the triggers is DDL: the
        // table is write-locked (other sessions wait, bounded by their own lock
        // timeout) until the triggers are back. Every table the session reads while it
        // holds the lock must be named.
        Some((
            format!("LOCK TABLES \"{table}\" WRITE, \"backfill_journal\" READ"),
            "UNLOCK TABLES".to_string(),
        ))
    }

    async fn project_id_not_null(
        &self,
        txn: &DatabaseTransaction,
        table: &str,
        not_null: bool,
    ) -> Result<Vec<String>, DbErr> {
        // MODIFY restates the whole column: its own type, character set and collation
        // (an adopted column may differ from the migration's), its nullability and the
        // spec's default. In place, without a table copy and without blocking writes.
        let column = migration::PROJECT_ID_COLUMN;
        let found = txn
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
                "SELECT CAST(column_type AS CHAR), CAST(character_set_name AS CHAR), \
                 CAST(collation_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
                [table.into(), column.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::Custom(format!("`{table}` has no column `{column}`")))?;
        let column_type: String = found.try_get_by_index(0)?;
        let charset = match (
            found.try_get_by_index::<Option<String>>(1)?,
            found.try_get_by_index::<Option<String>>(2)?,
        ) {
            (Some(set), Some(collation)) => format!(" CHARACTER SET {set} COLLATE {collation}"),
            _ => String::new(),
        };
        let nullability = if not_null { "NOT NULL" } else { "NULL" };
        Ok(vec![format!(
            "ALTER TABLE \"{table}\" MODIFY \"{column}\" {column_type}{charset} {nullability} \
             DEFAULT '{owner}', ALGORITHM=INPLACE, LOCK=NONE",
            owner = migration::LEGACY_PROJECT_ID,
        )])
    }
}

/// `UPDATE table JOIN JSON_TABLE(rows) … SET column = the second of each row WHERE key
/// = the first`, and with `guarded` `AND column = the third`: the rows bound as one
/// JSON array (a JSON null reads as NULL). Returns how many rows it changed.
async fn update_from_json(
    txn: &DatabaseTransaction,
    table: &str,
    key: &str,
    column: &str,
    rows: &(impl serde::Serialize + ?Sized),
    guarded: bool,
) -> Result<u64, DbErr> {
    let list = serde_json::to_string(rows).map_err(|err| DbErr::Custom(err.to_string()))?;
    let guard = match guarded {
        true => format!(" WHERE \"{table}\".\"{column}\" = list.expected"),
        false => String::new(),
    };
    let sql = format!(
        "UPDATE \"{table}\" JOIN JSON_TABLE(?, '$[*]' COLUMNS \
         (row_key BIGINT PATH '$[0]', row_value BIGINT PATH '$[1]', expected BIGINT PATH '$[2]')) AS list \
         ON \"{table}\".\"{key}\" = list.row_key SET \"{table}\".\"{column}\" = list.row_value{guard}"
    );
    Ok(txn
        .execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            sql,
            [list.into()],
        ))
        .await?
        .rows_affected())
}
