//! SQLite's catalog: `pragma_table_info`, type affinities, no NOT NULL promotion, and
//! scratch databases as temporary files.

use async_trait::async_trait;
use sea_orm::sea_query::ColumnType;
use sea_orm::{DatabaseBackend, Statement};

use super::Sqlite;
use crate::backend::{Catalog, ConnectSettings, DatabaseUrl, Db, connect};

impl Sqlite {
    fn scratch_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("{name}.db"))
    }
}

#[async_trait]
impl Catalog for Sqlite {
    fn columns_query(&self, table: &str) -> Statement {
        Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT name, lower(type), \"notnull\" = 0 AND pk = 0 FROM pragma_table_info(?)",
            [table.into()],
        )
    }

    fn holds_type(&self, expected: &ColumnType, actual: &str) -> bool {
        // SQLite keeps any value in any column; what matters is the affinity its
        // declared type gives (https://www.sqlite.org/datatype3.html §3.1).
        let text = ["char", "clob", "text"].iter().any(|t| actual.contains(t));
        match expected {
            ColumnType::BigInteger | ColumnType::Integer => actual.contains("int"),
            ColumnType::Boolean => actual.contains("bool") || actual.contains("int"),
            ColumnType::Float | ColumnType::Double => {
                ["real", "floa", "doub"].iter().any(|t| actual.contains(t))
            }
            ColumnType::String(_)
            | ColumnType::Text
            | ColumnType::Char(_)
            | ColumnType::Json
            | ColumnType::JsonBinary
            | ColumnType::Uuid
            | ColumnType::Array(_) => text,
            ColumnType::TimestampWithTimeZone | ColumnType::DateTime | ColumnType::Timestamp => {
                text || actual.contains("time") || actual.contains("date")
            }
            _ => true,
        }
    }

    fn tables_query(&self) -> Statement {
        Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
    }

    fn defer_foreign_keys(&self) -> Option<&'static str> {
        Some("PRAGMA defer_foreign_keys = ON")
    }

    fn missing_foreign_key_hint(&self) -> &'static str {
        " (SQLite cannot add one to an existing table: rebuild the table to get it)"
    }

    fn not_null_query(&self, _table: &str, _column: &str) -> Option<Statement> {
        // SQLite cannot make a column NOT NULL in place; its triggers do the work.
        None
    }

    async fn create_scratch(&self, db: &Db, name: &str) -> anyhow::Result<Db> {
        let url = format!("sqlite://{}?mode=rwc", Self::scratch_path(name).display());
        // The scratch file is this command's own, created even by one that only reads
        // the given database.
        let settings = ConnectSettings {
            workers: 1,
            creates: true,
            ..db.settings()
        };
        connect(&DatabaseUrl::new(url), &settings).await
    }

    async fn drop_scratch(&self, _db: &Db, name: &str) -> anyhow::Result<()> {
        let path = Self::scratch_path(name);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        Ok(())
    }
}
