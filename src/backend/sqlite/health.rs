//! SQLite's view of itself: an embedded file has no standbys, its lock waits are the
//! busy timeout's, and its row estimate is the largest rowid.

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

use super::Sqlite;
use crate::backend::{Health, Observation};

#[async_trait]
impl Health for Sqlite {
    async fn row_estimate(&self, db: &DatabaseConnection, table: &str) -> Option<u64> {
        // The largest rowid: one step down the table's b-tree, close to the row count
        // of a table that is appended to.
        let query = format!("SELECT max(rowid) FROM \"{table}\"");
        let row = db
            .query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, query))
            .await
            .ok()??;
        row.try_get_by_index::<Option<i64>>(0)
            .ok()?
            .map(|rows| u64::try_from(rows).unwrap_or(0))
    }

    async fn observe_health(
        &self,
        _db: &DatabaseConnection,
        _table: &str,
    ) -> Result<Observation, DbErr> {
        Ok(Observation::default())
    }
}
