//! What the tool reads of a database's schema (columns, their types, NOT NULL), how it
//! judges a column against the entities, and the throwaway databases of `migrate check`.

use anyhow::Result;
use async_trait::async_trait;
use sea_orm::Statement;
use sea_orm::sea_query::ColumnType;

use super::Db;

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

    /// A throwaway database named `name` beside the one `db` is connected to
    /// (`migrate check`).
    async fn create_scratch(&self, db: &Db, name: &str) -> Result<Db>;

    /// Removes the scratch database `name`.
    async fn drop_scratch(&self, db: &Db, name: &str) -> Result<()>;
}
