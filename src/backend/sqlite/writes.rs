//! SQLite's writes: no statement both updates and inserts, but the single writer keeps
//! the rows still between the journal's `INSERT … SELECT` and the update; NOT NULL is
//! never promoted (the triggers stay the guard).

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, Func};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};

use super::Sqlite;
use crate::backend::writes::journal_insert;
use crate::backend::{Changed, JournaledUpdate, Writes};

#[async_trait]
impl Writes for Sqlite {
    async fn journaled_update(
        &self,
        txn: &DatabaseTransaction,
        entry: JournaledUpdate<'_>,
    ) -> Result<Changed, DbErr> {
        let changes = Func::cust("json_object")
            .arg("old")
            .arg(entry.old)
            .arg("keys")
            .arg(Func::cust("json_group_array").arg(entry.identity.selected(self)));
        let journal = journal_insert(
            &entry,
            changes,
            Alias::new(entry.identity.table),
            entry.target.clone(),
        )?;
        txn.execute(&journal).await?;
        self.run_update(
            txn,
            entry.identity,
            entry.target,
            entry.update,
            entry.return_keys,
        )
        .await
    }

    fn promotes_not_null(&self) -> bool {
        false
    }

    async fn project_id_not_null(
        &self,
        _txn: &DatabaseTransaction,
        table: &str,
        _not_null: bool,
    ) -> Result<Vec<String>, DbErr> {
        Err(DbErr::Custom(format!(
            "SQLite cannot change whether `{table}`.project_id is NOT NULL in place"
        )))
    }
}
