//! SQLite's writes: no statement both updates and inserts, but the single writer keeps
//! the rows still between the journal's `INSERT … SELECT` and the update; NOT NULL is
//! never promoted (the triggers stay the guard).

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};

use super::Sqlite;
use crate::backend::writes::journal_of_target;
use crate::backend::{Changed, JournaledUpdate, Writes};

#[async_trait]
impl Writes for Sqlite {
    async fn journaled_update(
        &self,
        txn: &DatabaseTransaction,
        entry: JournaledUpdate<'_>,
    ) -> Result<Changed, DbErr> {
        let key = entry.identity.selected(self);
        let journal = journal_of_target(&entry, "json_object", "json_group_array", key)?;
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
