//! PostgreSQL's catalog: `information_schema` columns by `udt_name`, pgvector's
//! `vector` accepted for embeddings, Citus's layouts, scratch databases created beside
//! the given one.

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::sea_query::{ColumnType, PostgresQueryBuilder, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

use super::{Postgres, citus};
use crate::backend::sql::create_database_beside;
use crate::backend::{Catalog, Db, Distributed, Layout, SHARD_TABLE, ShardRows, TableKey};
use crate::error::UsageError;

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

    async fn shards(&self, db: &Db, key: TableKey) -> Result<Vec<i64>, DbErr> {
        if !citus::installed(db).await? {
            return Ok(Vec::new());
        }
        citus::shards_by(db, key.table, key.column).await
    }

    async fn read_on_shard(
        &self,
        db: &Db,
        shard: i64,
        read: SelectStatement,
        key_column: &str,
        sum_columns: &[String],
    ) -> Result<ShardRows, DbErr> {
        // An array of the keys rather than an object per row: a third of the time on
        // the node for 5,000 rows.
        let sums: Vec<String> = sum_columns
            .iter()
            .map(|column| format!("sum(\"{column}\")::bigint"))
            .collect();
        let aggregate = format!(
            "SELECT json_build_object('keys', coalesce(array_to_json(array_agg(\"{key_column}\")), '[]'), \
                                      'sums', json_build_array({}))::text \
             FROM ({}) AS r",
            sums.join(", "),
            read.to_string(PostgresQueryBuilder)
        );
        let found =
            citus::run_on_shard(db, shard, &aggregate, &format!("\"{SHARD_TABLE}\"")).await?;
        serde_json::from_str(&found).map_err(|err| {
            DbErr::Custom(format!(
                "shard {shard} returned what is not its keys: {err}"
            ))
        })
    }

    async fn require_cluster(&self, db: &Db) -> anyhow::Result<()> {
        if !citus::installed(db).await? {
            anyhow::bail!(UsageError::new(
                "--distribute spreads tables over a Citus cluster's shards, and the citus extension is not installed in this database"
            ));
        }
        Ok(())
    }

    async fn distribute(
        &self,
        db: &Db,
        tables: &[(&str, &str)],
    ) -> anyhow::Result<Vec<Distributed>> {
        self.require_cluster(db).await?;
        let mut distributed = Vec::new();
        for &(table, column) in tables {
            if self.layout(db, table).await? != Layout::Local {
                continue;
            }
            let keys = citus::keys_without(db, table, column)
                .await
                .with_context(|| format!("could not read the keys of `{table}`"))?;
            distributed.push(Distributed {
                table: table.to_string(),
                column: column.to_string(),
                dropped_keys: keys.iter().map(|(name, _)| name.clone()).collect(),
            });
            for (name, drop) in keys {
                db.execute_unprepared(&drop)
                    .await
                    .with_context(|| format!("could not drop `{name}` of `{table}`"))?;
            }
        }
        // Distributed once every key between them is gone: Citus refuses a table that
        // a key still ties to one of the coordinator's own.
        for table in &distributed {
            citus::distribute(db, &table.table, &table.column)
                .await
                .with_context(|| {
                    format!("could not distribute `{}` by {}", table.table, table.column)
                })?;
        }
        Ok(distributed)
    }

    async fn create_scratch(&self, db: &Db, name: &str) -> anyhow::Result<Db> {
        let scratch = create_database_beside(db, name, "the role needs CREATEDB").await?;
        if citus::installed(db).await?
            && let Err(err) = citus::spread_scratch(db, &scratch, name).await
        {
            scratch.close().await.ok();
            self.drop_scratch(db, name).await.ok();
            return Err(anyhow::Error::new(err).context(format!(
                "could not make the scratch database {name} on every node of the cluster"
            )));
        }
        Ok(scratch)
    }

    async fn drop_scratch(&self, db: &Db, name: &str) -> anyhow::Result<()> {
        db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .with_context(|| format!("could not drop the scratch database {name}"))?;
        if citus::installed(db).await? {
            citus::drop_scratch_on_workers(db, name)
                .await
                .with_context(|| {
                    format!("could not drop the scratch database {name} on the cluster's workers")
                })?;
        }
        Ok(())
    }
}
