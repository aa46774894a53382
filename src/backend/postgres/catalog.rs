//! PostgreSQL's catalog: `information_schema` columns by `udt_name`, pgvector's
//! `vector` accepted for embeddings, Citus's layouts, scratch databases created beside
//! the given one.

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::sea_query::ColumnType;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use super::{Postgres, citus};
use crate::backend::sql::create_database_beside;
use crate::backend::{Catalog, Db, Layout};

#[async_trait]
impl Catalog for Postgres {
    fn columns_query(&self, table: &str) -> Statement {
        Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT column_name::text, lower(udt_name::text), is_nullable = 'YES' FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            [table.into()],
        )
    }

    /// `actual` is the `udt_name` (`int8`, `_float4`, `jsonb`…).
    fn holds_type(&self, expected: &ColumnType, actual: &str) -> bool {
        match expected {
            ColumnType::BigInteger => actual == "int8",
            ColumnType::Integer => matches!(actual, "int4" | "int8"),
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => {
                matches!(actual, "varchar" | "text" | "bpchar")
            }
            ColumnType::Boolean => actual == "bool",
            ColumnType::Float | ColumnType::Double => {
                matches!(actual, "float4" | "float8" | "numeric")
            }
            ColumnType::Json | ColumnType::JsonBinary => matches!(actual, "json" | "jsonb"),
            ColumnType::Uuid => actual == "uuid",
            ColumnType::TimestampWithTimeZone | ColumnType::DateTime | ColumnType::Timestamp => {
                matches!(actual, "timestamptz" | "timestamp")
            }
            ColumnType::Array(inner) => actual
                .strip_prefix('_')
                .is_some_and(|element| self.holds_type(inner, element)),
            _ => true,
        }
    }

    fn stands_for_embedding(&self, column: &str, actual: &str) -> bool {
        // pgvector's `vector(n)`, the type the source system gives its embeddings.
        column == "embedding" && actual == "vector"
    }

    fn tables_query(&self) -> Statement {
        Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
        )
    }

    fn not_null_query(&self, table: &str, column: &str) -> Option<Statement> {
        Some(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT is_nullable = 'NO' FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
            [table.into(), column.into()],
        ))
    }

    async fn layout(&self, db: &Db, table: &str) -> anyhow::Result<Layout> {
        if !citus::installed(db).await? {
            return Ok(Layout::Local);
        }
        citus::layout(db, table)
            .await
            .with_context(|| format!("could not read how Citus lays out `{table}`"))
    }

    async fn create_scratch(&self, db: &Db, name: &str) -> anyhow::Result<Db> {
        create_database_beside(db, name, "the role needs CREATEDB").await
    }

    async fn drop_scratch(&self, db: &Db, name: &str) -> anyhow::Result<()> {
        db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .with_context(|| format!("could not drop the scratch database {name}"))?;
        Ok(())
    }
}
