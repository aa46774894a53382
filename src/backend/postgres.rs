//! PostgreSQL: bounded lock waits per batch, native uuid and array types, ids bound as
//! one `bigint[]`, and a journal written by the update's own statement.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::sea_query::{
    Alias, ColumnRef, ColumnType, CommonTableExpression, Expr, ExprTrait, Func, PgFunc, Query,
    Value, WithClause,
};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, Statement, sqlx,
};

use super::connect::CONNECT_TIMEOUT;
use super::sqlite::quoted_list;
use crate::engine::{Observation, Standby};

use super::{
    Backend, BulkBody, BulkRows, Changed, Failure, JournaledUpdate, shared::create_database_beside,
    shared::journal_insert,
};

pub struct Postgres;

#[async_trait]
impl Backend for Postgres {
    fn configure(&self, options: &mut ConnectOptions) {
        // A batch writing, the next one read ahead, and room for the ledger.
        options.max_connections(4);
    }

    async fn probe(&self, url: &str) -> std::result::Result<(), String> {
        use sqlx::Connection;
        match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect(url)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                Ok(())
            }
            Ok(Err(sqlx::Error::Database(db))) => Err(db.message().to_string()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!(
                "no answer within {} seconds",
                CONNECT_TIMEOUT.as_secs()
            )),
        }
    }

    async fn row_estimate(&self, db: &DatabaseConnection, table: &str) -> Option<u64> {
        // The planner's estimate; -1 for a table never vacuumed or analyzed.
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)",
                [table.into()],
            ))
            .await
            .ok()??;
        let estimate = row.try_get_by_index::<i64>(0).ok()?;
        (estimate >= 0).then_some(estimate as u64)
    }

    async fn observe_health(
        &self,
        db: &DatabaseConnection,
        table: &str,
    ) -> Result<Observation, DbErr> {
        // Replay position and distance, not only `replay_lag`: that is refreshed only
        // when replay moves, so a stopped replay keeps showing its last small lag. A
        // role without `pg_monitor` sees no positions of other roles' standbys: those
        // (and standbys still starting) are left out rather than taken for stopped.
        let standbys = db
            .query_all_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT coalesce(application_name, '') || '@' || coalesce(host(client_addr), 'local'), \
                        extract(epoch FROM replay_lag)::float8, \
                        pg_wal_lsn_diff(replay_lsn, '0/0')::bigint, \
                        pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint \
                 FROM pg_stat_replication WHERE replay_lsn IS NOT NULL",
            ))
            .await?
            .iter()
            .map(|row| {
                Ok(Standby {
                    name: row.try_get_by_index(0)?,
                    lag: row
                        .try_get_by_index::<Option<f64>>(1)?
                        .map(|secs| Duration::from_secs_f64(secs.max(0.0))),
                    replayed: u64::try_from(row.try_get_by_index::<i64>(2)?).unwrap_or(0),
                    behind: u64::try_from(row.try_get_by_index::<i64>(3)?).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        // A session blocked on a row lock waits on a transaction id, which names no
        // table: it is tied to the table by the locks it holds there, or by the locks
        // its blockers hold there.
        let waiters = db
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT count(*) FROM pg_stat_activity a \
                 WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid() \
                   AND EXISTS (SELECT 1 FROM pg_locks l \
                               WHERE l.relation = to_regclass($1) \
                                 AND (l.pid = a.pid OR l.pid = ANY (pg_blocking_pids(a.pid))))",
                [table.into()],
            ))
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        Ok(Observation {
            standbys,
            lock_waiters: u64::try_from(waiters).unwrap_or(0),
            threads_running: None,
        })
    }

    async fn is_read_only(&self, db: &DatabaseConnection) -> Result<bool, DbErr> {
        let row = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SHOW transaction_read_only",
            ))
            .await?;
        Ok(row
            .map(|r| r.try_get_by_index::<String>(0))
            .transpose()?
            .is_some_and(|v| v == "on"))
    }

    async fn prepare_new_database(&self, _db: &DatabaseConnection) -> Result<(), DbErr> {
        Ok(())
    }

    fn batch_setup(&self, lock_timeout: Duration) -> Option<String> {
        // Bounded lock waits keep application traffic moving: a batch that would
        // queue behind (and in front of) application locks gives up and retries.
        // A batch's commit need not wait for its WAL flush: the batch, its journal and
        // its checkpoint commit together, so a server crash can only lose the last few
        // batches whole, and --resume redoes them. The run's final status commits
        // synchronously, which flushes every batch before it.
        let ms = lock_timeout.as_millis();
        Some(format!(
            "SET LOCAL lock_timeout = '{ms}ms'; SET LOCAL synchronous_commit = off"
        ))
    }

    fn reads_in_transaction(&self) -> bool {
        true
    }

    fn classify_error(&self, err: &dyn sqlx::error::DatabaseError) -> Option<Failure> {
        Some(match err.code()?.as_ref() {
            // lock_not_available, serialization_failure, deadlock_detected
            "55P03" | "40001" | "40P01" => Failure::Transient,
            // admin_shutdown (pg_terminate_backend) and the connection exceptions
            "57P01" => Failure::ConnectionLost,
            code if code.starts_with("08") => Failure::ConnectionLost,
            // disk_full, insufficient_resources
            "53100" | "53000" => Failure::DiskFull,
            // read_only_sql_transaction
            "25006" => Failure::ReadOnly,
            _ => Failure::Rejected,
        })
    }

    fn uuid_as_text(&self, column: Expr) -> Expr {
        column.cast_as(Alias::new("TEXT"))
    }

    fn max_uuid_text(&self, column: Expr) -> Expr {
        // No max(uuid); the text of a uuid compares bytewise, as the uuid itself does,
        // under the "C" collation.
        Expr::cust_with_expr("MAX($1 COLLATE \"C\")", column)
    }

    fn stored_value(&self, value: Value) -> Value {
        value
    }

    fn in_id_list(&self, column: ColumnRef, ids: &[i64]) -> Expr {
        Expr::col(column).eq(PgFunc::any(Expr::val(ids.to_vec())))
    }

    // Text that is not JSON cannot be cast without failing the query: match the text.
    fn lists_features(&self) -> &'static str {
        r#"(t.data ~ '"features"\s*:\s*\[\s*[^]\s]')"#
    }

    fn names_test_feature(&self) -> &'static str {
        r#"(b.raw_data ~ '"test_feature"\s*:\s*\{')"#
    }

    fn not_null_query(&self, table: &str, column: &str) -> Option<Statement> {
        Some(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT is_nullable = 'NO' FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
            [table.into(), column.into()],
        ))
    }

    async fn promote_not_null(
        &self,
        _txn: &DatabaseTransaction,
        table: &str,
    ) -> Result<Vec<String>, DbErr> {
        // PostgreSQL 12+ proves NOT NULL from the validated check without a scan.
        Ok(vec![
            format!(
                "ALTER TABLE \"{table}\" ALTER COLUMN \"{}\" SET NOT NULL",
                migration::PROJECT_ID_COLUMN
            ),
            format!(
                "ALTER TABLE \"{table}\" DROP CONSTRAINT \"{}\"",
                migration::project_id_check_name(table)
            ),
        ])
    }

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

    fn missing_foreign_key_hint(&self) -> &'static str {
        ""
    }

    async fn create_scratch(
        &self,
        db: &DatabaseConnection,
        url: &str,
        name: &str,
    ) -> anyhow::Result<DatabaseConnection> {
        create_database_beside(db, url, name, "the role needs CREATEDB").await
    }

    async fn drop_scratch(&self, db: &DatabaseConnection, name: &str) -> anyhow::Result<()> {
        db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .with_context(|| format!("could not drop the scratch database {name}"))?;
        Ok(())
    }

    fn walks_uuid_tables_by_rowid(&self) -> bool {
        false
    }

    fn open_anomaly_predicate(&self) -> &'static str {
        migration::ANOMALIES_OPEN_PREDICATE_POSTGRES
    }

    async fn journaled_update(
        &self,
        txn: &DatabaseTransaction,
        entry: JournaledUpdate<'_>,
    ) -> Result<Changed, DbErr> {
        // One statement, `WITH changed AS (UPDATE … RETURNING key) INSERT INTO
        // backfill_journal SELECT … FROM changed`: the journal names exactly the rows
        // the update changed.
        let changed = Alias::new("changed");
        let row_key = Alias::new("row_key");
        let mut update = entry.update.clone();
        update.returning(Query::returning().expr(entry.identity.key_expr(self)));
        let changes = Func::cust("jsonb_build_object")
            .arg("old")
            .arg(entry.old)
            .arg("keys")
            .arg(
                Func::cust("to_jsonb").arg(Func::cust("array_agg").arg(Expr::col(row_key.clone()))),
            );
        let journal = journal_insert(&entry, changes, changed.clone(), Expr::value(true))?;
        let result = if entry.return_keys {
            Expr::col(row_key.clone())
        } else {
            Expr::cust("COUNT(*)")
        };
        let statement = WithClause::new()
            .cte(
                CommonTableExpression::new()
                    .table_name(changed.clone())
                    .column(row_key)
                    .query(update)
                    .to_owned(),
            )
            .cte(
                CommonTableExpression::new()
                    .table_name(Alias::new("journaled"))
                    .query(journal)
                    .to_owned(),
            )
            .to_owned()
            .query(Query::select().expr(result).from(changed).to_owned());
        let rows = txn.query_all(&statement).await?;
        if entry.return_keys {
            return Ok(Changed::Keys(rows));
        }
        let count = match rows.first() {
            Some(row) => row.try_get_by_index::<i64>(0)? as u64,
            None => 0,
        };
        Ok(Changed::Count(count))
    }

    fn encode_bulk(
        &self,
        table: &str,
        columns: &[&str],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> anyhow::Result<BulkRows> {
        let mut csv = String::new();
        for row in rows {
            for (index, value) in row.into_iter().enumerate() {
                if index > 0 {
                    csv.push(',');
                }
                push_csv_field(&mut csv, value)?;
            }
            csv.push('\n');
        }
        let statement = format!(
            "COPY \"{table}\" ({}) FROM STDIN (FORMAT csv)",
            quoted_list(columns)
        );
        Ok(BulkRows {
            table: table.to_string(),
            body: BulkBody::Copy { statement, csv },
        })
    }

    /// A chunk commits without waiting for its WAL flush: a seed that dies is started
    /// again on an empty database anyway, and `after_seed` ends with a synchronous
    /// commit, which flushes all of them.
    async fn load_bulk(&self, db: &DatabaseConnection, rows: BulkRows) -> anyhow::Result<()> {
        let context = || format!("could not write the seeded rows of `{}`", rows.table);
        let BulkBody::Copy { statement, csv } = rows.body else {
            anyhow::bail!("BUG: PostgreSQL was given rows encoded for another backend");
        };
        let mut txn = db
            .get_postgres_connection_pool()
            .begin()
            .await
            .with_context(context)?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *txn)
            .await
            .with_context(context)?;
        let mut copy = txn.copy_in_raw(&statement).await.with_context(context)?;
        copy.send(csv.into_bytes()).await.with_context(context)?;
        copy.finish().await.with_context(context)?;
        txn.commit().await.with_context(context)?;
        Ok(())
    }

    fn clock_millis(&self) -> Expr {
        // `clock_timestamp()`, not `now()`: that is the transaction's start, and a
        // lease checked at a batch's commit must be checked against the time then.
        Expr::cust("CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")
    }

    async fn key_histogram(
        &self,
        db: &DatabaseConnection,
        table: &str,
        column: &str,
    ) -> Option<Vec<i64>> {
        // `histogram_bounds` cuts the column's values (those not among the most common
        // ones, which a key has none of) into buckets of equal counts, from ANALYZE.
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT histogram_bounds::text FROM pg_stats \
                 WHERE schemaname = current_schema() AND tablename = $1 AND attname = $2",
                [table.into(), column.into()],
            ))
            .await
            .ok()??;
        let bounds: String = row.try_get_by_index(0).ok()?;
        bounds
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .map(|bound| bound.trim().parse::<i64>().ok())
            .collect()
    }

    fn writes_in_parallel(&self) -> bool {
        true
    }

    fn lift_project_id_guard(&self, table: &str) -> Vec<String> {
        vec![format!(
            "ALTER TABLE \"{table}\" DROP CONSTRAINT IF EXISTS \"{}\"",
            migration::project_id_check_name(table)
        )]
    }

    fn after_seed(&self, serial_tables: &[&str]) -> Vec<String> {
        // Explicit ids do not move a SERIAL's sequence; the application's next insert
        // must not collide with them. The last statement commits synchronously, which
        // flushes the WAL of every chunk before it.
        let mut statements: Vec<String> = serial_tables
            .iter()
            .map(|table| {
                format!(
                    "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT MAX(id) FROM \"{table}\"))"
                )
            })
            .collect();
        statements.push("SELECT txid_current()".to_string());
        statements
    }
}

/// Appends one value as a PostgreSQL CSV field: NULL is an empty unquoted field, text
/// is always quoted (so an empty string stays a string), arrays use PostgreSQL's literal.
fn push_csv_field(csv: &mut String, value: sea_orm::Value) -> anyhow::Result<()> {
    use sea_orm::Value as V;
    use std::fmt::Write;
    let quoted = |csv: &mut String, text: &str| {
        csv.push('"');
        csv.push_str(&text.replace('"', "\"\""));
        csv.push('"');
    };
    match value {
        V::Bool(None)
        | V::Int(None)
        | V::BigInt(None)
        | V::Float(None)
        | V::Double(None)
        | V::String(None)
        | V::Json(None)
        | V::Uuid(None)
        | V::ChronoDateTimeWithTimeZone(None)
        | V::Array(_, None) => {}
        V::Bool(Some(v)) => csv.push_str(if v { "true" } else { "false" }),
        V::Int(Some(v)) => write!(csv, "{v}")?,
        V::BigInt(Some(v)) => write!(csv, "{v}")?,
        V::Float(Some(v)) => write!(csv, "{v}")?,
        V::Double(Some(v)) => write!(csv, "{v}")?,
        V::String(Some(v)) => quoted(csv, &v),
        V::Json(Some(v)) => quoted(csv, &v.to_string()),
        V::Uuid(Some(v)) => write!(csv, "{}", v.hyphenated())?,
        V::ChronoDateTimeWithTimeZone(Some(v)) => csv.push_str(&v.to_rfc3339()),
        V::Array(_, Some(items)) => {
            let mut literal = String::from("{");
            for (index, item) in items.into_iter().enumerate() {
                if index > 0 {
                    literal.push(',');
                }
                push_csv_field(&mut literal, item)?;
            }
            literal.push('}');
            quoted(csv, &literal);
        }
        other => anyhow::bail!("BUG: seed cannot COPY a value like {other:?}"),
    }
    Ok(())
}
