//! MySQL's catalog: `information_schema` columns by `data_type` (MariaDB's JSON is
//! LONGTEXT), and scratch databases created beside the given one.

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::sea_query::ColumnType;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use super::Mysql;
use crate::backend::sql::create_database_beside;
use crate::backend::{Catalog, Db};

#[async_trait]
impl Catalog for Mysql {
    fn columns_query(&self, table: &str) -> Statement {
        Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            "SELECT CAST(column_name AS CHAR), CAST(LOWER(data_type) AS CHAR), is_nullable = 'YES' \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
            [table.into()],
        )
    }

    /// `actual` is the `data_type` (`bigint`, `varchar`, `longtext`…).
    fn holds_type(&self, expected: &ColumnType, actual: &str) -> bool {
        let text = matches!(
            actual,
            "varchar" | "char" | "text" | "mediumtext" | "longtext" | "tinytext"
        );
        match expected {
            ColumnType::BigInteger => actual == "bigint",
            ColumnType::Integer => matches!(actual, "int" | "bigint"),
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => text,
            ColumnType::Boolean => matches!(actual, "tinyint" | "bit"),
            ColumnType::Float | ColumnType::Double => {
                matches!(actual, "float" | "double" | "decimal")
            }
            // MariaDB's JSON is LONGTEXT with a json_valid check.
            ColumnType::Json | ColumnType::JsonBinary | ColumnType::Array(_) => {
                actual == "json" || actual == "longtext"
            }
            ColumnType::Uuid => matches!(actual, "binary" | "uuid"),
            ColumnType::TimestampWithTimeZone | ColumnType::DateTime | ColumnType::Timestamp => {
                matches!(actual, "timestamp" | "datetime")
            }
            _ => true,
        }
    }

    fn tables_query(&self) -> Statement {
        Statement::from_string(
            DatabaseBackend::MySql,
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
        )
    }

    fn not_null_query(&self, table: &str, column: &str) -> Option<Statement> {
        Some(Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            "SELECT is_nullable = 'NO' FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
            [table.into(), column.into()],
        ))
    }

    async fn create_scratch(&self, db: &Db, name: &str) -> anyhow::Result<Db> {
        create_database_beside(db, name, "the user needs CREATE").await
    }

    async fn drop_scratch(&self, db: &Db, name: &str) -> anyhow::Result<()> {
        db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .await
            .with_context(|| format!("could not drop the scratch database {name}"))?;
        Ok(())
    }
}
