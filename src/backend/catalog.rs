//! What the tool reads of a database's schema (columns, their types, NOT NULL, how a
//! table is spread over a cluster's nodes), how it judges a column against the
//! entities, and the throwaway databases of `migrate check`.

use anyhow::Result;
use async_trait::async_trait;
use sea_orm::sea_query::{ColumnType, SelectStatement};
use sea_orm::{DbErr, Statement};

use super::{Db, TableKey};
use crate::error::UsageError;

/// The name a read of one shard gives the table it reads (see
/// [`Catalog::read_on_shard`]): the database puts the shard's own table in its place.
pub const SHARD_TABLE: &str = "backfill_shard";

/// What a read on a shard's node found (see [`Catalog::read_on_shard`]): its keys, as
/// JSON values, and its sums (none where it read no row).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ShardRows {
    pub keys: Vec<serde_json::Value>,
    pub sums: Vec<Option<i64>>,
}

/// How a table is laid out over the nodes of a cluster (a Citus coordinator's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// All its rows on the server the tool is connected to.
    Local,
    /// A copy on every node.
    Reference,
    /// Its rows spread over shards by the hash of `column`.
    Distributed { column: String },
}

impl Layout {
    /// Whether the table can hold a unique key on `columns`: a distributed table only
    /// one that includes its distribution column, so that each shard can enforce it.
    pub fn can_hold_unique(&self, columns: &[String]) -> bool {
        match self {
            Layout::Distributed { column } => columns.contains(column),
            Layout::Local | Layout::Reference => true,
        }
    }

    /// Whether a table laid out so can hold a foreign key on `columns` to a table laid
    /// out as `referenced`: a reference table holds none to a distributed one; a
    /// distributed table one to another only on its distribution column (the
    /// co-located rows meet in one shard).
    pub fn can_hold_foreign_key(&self, columns: &[String], referenced: &Layout) -> bool {
        match (self, referenced) {
            (Layout::Distributed { column }, Layout::Distributed { .. }) => {
                columns.contains(column)
            }
            (Layout::Local | Layout::Reference, Layout::Distributed { .. }) => false,
            _ => true,
        }
    }
}

/// A table spread over a cluster's shards by `migrate up --distribute`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Distributed {
    pub table: String,
    pub column: String,
    /// The unique and foreign keys dropped first: the cluster cannot hold them on a
    /// table distributed so.
    pub dropped_keys: Vec<String>,
}

/// A database's catalog, as the tool reads it.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// The catalog query of `table`'s columns: name, type name (lower case), nullable.
    fn columns_query(&self, table: &str) -> Statement;

    /// Whether a column of type `actual` (as `columns_query` names it) holds the
    /// entity's `expected` type.
    fn holds_type(&self, expected: &ColumnType, actual: &str) -> bool;

    /// Whether a column stands for the entities' `embedding` float array in another
    /// type the tool accepts there (it never reads embeddings): pgvector's `vector`.
    fn stands_for_embedding(&self, _column: &str, _actual: &str) -> bool {
        false
    }

    /// What a missing foreign key report adds about fixing it ("" when `migrate up`
    /// adds it).
    fn missing_foreign_key_hint(&self) -> &'static str {
        ""
    }

    /// The names of every table of the database (the current schema's), one per row:
    /// what `migrate fresh` drops.
    fn tables_query(&self) -> Statement;

    /// A statement that lets dropping every table in one transaction ignore foreign
    /// keys until its end (`migrate fresh`): SQLite checks them table by table, where
    /// sea-orm's own switch is a no-op inside the transaction. None where the drops
    /// need no such thing.
    fn defer_foreign_keys(&self) -> Option<&'static str> {
        None
    }

    /// A query of one boolean row: is `table.column` declared NOT NULL? `None` where
    /// the tool never makes a column NOT NULL.
    fn not_null_query(&self, table: &str, column: &str) -> Option<Statement>;

    /// How `table` is laid out over the cluster's nodes: `Local` where the database is
    /// no cluster.
    async fn layout(&self, _db: &Db, _table: &str) -> Result<Layout> {
        Ok(Layout::Local)
    }

    /// The shards of `key`'s table where the cluster spreads it by the hash of its key
    /// column, so that a range of one shard's keys can be walked on its own: none where
    /// the table is whole on one server.
    async fn shards(&self, _db: &Db, _key: TableKey) -> Result<Vec<i64>, DbErr> {
        Ok(Vec::new())
    }

    /// Runs `read` (a read of [`SHARD_TABLE`]) on the node holding `shard`, and returns
    /// the values of its column `key_column` and the sum of each of `sum_columns`. Only
    /// a database whose `shards` names some is asked.
    async fn read_on_shard(
        &self,
        _db: &Db,
        _shard: i64,
        _read: SelectStatement,
        _key_column: &str,
        _sum_columns: &[String],
    ) -> Result<ShardRows, DbErr> {
        Err(DbErr::Custom("this database has no shards".into()))
    }

    /// Refuses, with one sentence, a database that cannot spread tables over shards.
    async fn require_cluster(&self, _db: &Db) -> Result<()> {
        anyhow::bail!(UsageError::new(
            "--distribute spreads tables over a Citus cluster's shards, and this database is no Citus coordinator"
        ))
    }

    /// Spreads each table over the cluster's shards by the hash of its column, dropping
    /// first the unique and foreign keys the cluster cannot hold on it so; a table
    /// already distributed is left as it is. Only a cluster is asked (see
    /// `require_cluster`).
    async fn distribute(&self, db: &Db, _tables: &[(&str, &str)]) -> Result<Vec<Distributed>> {
        self.require_cluster(db).await?;
        Ok(Vec::new())
    }

    /// A throwaway database named `name` beside the one `db` is connected to
    /// (`migrate check`).
    async fn create_scratch(&self, db: &Db, name: &str) -> Result<Db>;

    /// Removes the scratch database `name`.
    async fn drop_scratch(&self, db: &Db, name: &str) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn a_distributed_table_holds_only_keys_on_its_distribution_column() {
        let by_id = Layout::Distributed {
            column: "id".into(),
        };
        assert!(by_id.can_hold_unique(&columns(&["id"])));
        assert!(!by_id.can_hold_unique(&columns(&["label", "name"])));
        assert!(Layout::Reference.can_hold_unique(&columns(&["label", "name"])));

        assert!(!by_id.can_hold_foreign_key(&columns(&["source_id"]), &by_id));
        assert!(by_id.can_hold_foreign_key(&columns(&["id"]), &by_id));
        assert!(by_id.can_hold_foreign_key(&columns(&["test_id"]), &Layout::Reference));
        assert!(!Layout::Reference.can_hold_foreign_key(&columns(&["vector_id"]), &by_id));
        assert!(Layout::Local.can_hold_foreign_key(&columns(&["test_id"]), &Layout::Local));
    }
}
