//! Connecting, and the few facts about a database that differ between backends: how a
//! URL is accepted, how values are stored (uuids and arrays are text on SQLite), which
//! errors are worth retrying, and whether the tables a command needs exist.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, IntoColumnRef, PgFunc, Query, Value};
use sea_orm::sqlx;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    RuntimeErr, Statement,
};

use crate::error::UsageError;

/// Connects to `url`, refusing unsupported schemes and unreachable servers in one
/// sentence (exit 2). SQLite connections enforce foreign keys (sqlx turns them on).
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" | "postgres" | "postgresql" => {}
        "mysql" | "mariadb" => {
            return Err(UsageError::new(format!(
                "MySQL/MariaDB support is planned but not built in yet; use a sqlite:// or postgres:// URL (got `{}`)",
                redact(url)
            ))
            .into());
        }
        _ => {
            return Err(UsageError::new(format!(
                "unsupported database URL `{}`: use sqlite://FILE?mode=rwc or postgres://USER@HOST/DB",
                redact(url)
            ))
            .into());
        }
    }
    if scheme != "sqlite" {
        probe_server(url).await?;
    }
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(std::env::var_os("BACKFILL_SQL_LOG").is_some())
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(Duration::from_secs(30));
    if scheme == "sqlite" {
        // Two: a batch writes on one while the next batch is read on the other. An
        // SQLite connection lives in this process and cannot drop, so it is not pinged
        // (a round trip to its worker thread) each time it is taken from the pool.
        options
            .max_connections(2)
            .test_before_acquire(false)
            .map_sqlx_sqlite_opts(|sqlite| sqlite.row_buffer_size(ROW_BUFFER))
            .map_sqlx_sqlite_pool_opts(|pool| {
                pool.after_connect(|conn, _| tune_sqlite_connection(conn))
            });
    } else {
        options.max_connections(4);
    }
    let db = Database::connect(options).await.map_err(|err| {
        anyhow::Error::from(UsageError::new(format!(
            "cannot connect to `{}`: {}",
            redact(url),
            db_message(&err)
        )))
    })?;
    Ok(db)
}

/// Run on every new SQLite connection. Statement and savepoint journals stay in
/// memory (`temp_store`), where every multi-row statement (and each savepoint of a
/// batch written again to isolate a rejected row) would otherwise create, write and
/// delete a temporary file. A 32 MiB page cache (SQLite's default is 2 MiB) keeps
/// the index pages a batch's inserts land on. In WAL mode `synchronous = NORMAL` cannot
/// corrupt the file; a power cut can only lose the last commits, and each batch's
/// checkpoint is in its own commit, so a resumed run redoes exactly those. It saves an
/// fsync per batch. The WAL is copied back into the file every 10,000 pages (40 MiB)
/// rather than every 1,000: short batches would otherwise copy the same index pages
/// over and over. Under a rollback journal `synchronous` stays FULL.
fn tune_sqlite_connection(
    conn: &mut sqlx::SqliteConnection,
) -> std::pin::Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let mut pragmas = vec!["PRAGMA temp_store = MEMORY", "PRAGMA cache_size = -32768"];
        if mode == "wal" {
            pragmas.extend([
                "PRAGMA synchronous = NORMAL",
                "PRAGMA wal_autocheckpoint = 10000",
            ]);
        }
        for pragma in pragmas {
            sqlx::query(pragma).execute(&mut *conn).await?;
        }
        Ok(())
    })
}

/// Puts a new SQLite database (one without tables yet) in WAL mode, what a live
/// database with readers beside a writer wants. An existing database keeps its mode.
pub async fn prefer_wal_for_new_sqlite(db: &DatabaseConnection) -> Result<()> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(());
    }
    let tables = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT COUNT(*) FROM sqlite_master",
        ))
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    if tables == 0 {
        // The connections opened before this one keep FULL, which is only slower.
        db.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
            .await?;
    }
    Ok(())
}

/// Bound values per statement, under SQLite's 32766 and PostgreSQL's 65535.
pub const MAX_BINDS: usize = 30_000;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows an SQLite connection's worker thread may send ahead of the task reading them
/// (sqlx's default is 50): a default batch in one go.
const ROW_BUFFER: usize = 1024;

/// One plain connection to the server before the pool is built: a pool retries a refused
/// or unreachable server until its acquire timeout and then only says "pool timed out",
/// where this says why at once ("Connection refused").
async fn probe_server(url: &str) -> Result<()> {
    use sqlx::Connection;
    let message =
        match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect(url)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                return Ok(());
            }
            Ok(Err(sqlx::Error::Database(db))) => db.message().to_string(),
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no answer within {} seconds", CONNECT_TIMEOUT.as_secs()),
        };
    Err(UsageError::new(format!("cannot connect to `{}`: {message}", redact(url))).into())
}

/// `column IN (ids)` with the whole list bound as one value: a JSON array expanded by
/// `json_each` on SQLite, a `bigint[]` under `= ANY` on PostgreSQL. One bound value per
/// id would cost binding work per id on every batch, and a statement text (prepared
/// anew) per list length; a single value keeps one prepared statement whatever the
/// batch holds, and never meets the bind limits.
pub fn in_id_list(backend: DatabaseBackend, column: impl IntoColumnRef, ids: &[i64]) -> Expr {
    match backend {
        DatabaseBackend::Postgres => Expr::col(column).eq(PgFunc::any(Expr::val(ids.to_vec()))),
        _ => {
            let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
            let each = Query::select()
                .column(Alias::new("value"))
                .from_function(
                    Func::cust(Alias::new("json_each")).arg(list),
                    Alias::new("ids"),
                )
                .to_owned();
            Expr::col(column).in_subquery(each)
        }
    }
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let creds = &url[start + 3..at];
            match creds.find(':') {
                Some(colon) => {
                    format!("{}{}:***{}", &url[..start + 3], &creds[..colon], &url[at..])
                }
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The database's own message for an error, without SeaORM's wrapping.
pub fn db_message(err: &DbErr) -> String {
    match sqlx_error(err) {
        Some(sqlx::Error::Database(db)) => db.message().to_string(),
        Some(other) => other.to_string(),
        None => err.to_string(),
    }
}

fn sqlx_error(err: &DbErr) -> Option<&sqlx::Error> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e.as_ref()),
        _ => None,
    }
}

/// Errors that say "not now" rather than "not this row": a lock wait that hit
/// `lock_timeout`, a deadlock or serialization failure, or a busy SQLite file. The
/// batch is rolled back whole and tried again; bisecting would blame innocent rows.
pub fn is_transient(err: &DbErr) -> bool {
    match sqlx_error(err) {
        Some(sqlx::Error::Database(db)) => matches!(
            db.code().as_deref(),
            // 55P03 lock_not_available, 40001 serialization_failure, 40P01 deadlock,
            // SQLite 5/6 (and extended 261, 517, …) busy / locked.
            Some("55P03" | "40001" | "40P01" | "5" | "6" | "261" | "262" | "517")
        ),
        Some(sqlx::Error::PoolTimedOut) => true,
        _ => false,
    }
}

/// Errors after which the connection itself is gone: the batch is not the problem.
pub fn is_connection_lost(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        _ => match sqlx_error(err) {
            Some(sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Protocol(_)) => true,
            // 57P01 admin_shutdown (pg_terminate_backend), 08xxx connection exceptions.
            Some(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|code| code == "57P01" || code.starts_with("08")),
            _ => false,
        },
    }
}

/// A value as this backend stores it: SQLite has no uuid or array types, so uuids
/// become their hyphenated text and arrays JSON text (SPEC §6); PostgreSQL keeps both.
pub fn stored_value(backend: DatabaseBackend, value: Value) -> Value {
    if backend != DatabaseBackend::Sqlite {
        return value;
    }
    match value {
        Value::Uuid(uuid) => Value::String(uuid.map(|u| u.hyphenated().to_string())),
        Value::Array(_, Some(items)) => {
            let json: Vec<serde_json::Value> = items.into_iter().map(value_to_json).collect();
            Value::String(Some(serde_json::Value::Array(json).to_string()))
        }
        Value::Array(_, None) => Value::String(None),
        other => other,
    }
}

fn value_to_json(value: Value) -> serde_json::Value {
    match value {
        Value::Uuid(Some(u)) => serde_json::Value::String(u.hyphenated().to_string()),
        Value::Int(Some(v)) => v.into(),
        Value::BigInt(Some(v)) => v.into(),
        Value::Float(Some(v)) => v.into(),
        Value::Double(Some(v)) => v.into(),
        Value::String(Some(v)) => v.into(),
        Value::Bool(Some(v)) => v.into(),
        _ => serde_json::Value::Null,
    }
}

/// Fails with exit 2 and the fix when one of `tables` is missing.
pub async fn require_tables(db: &DatabaseConnection, tables: &[&str]) -> Result<()> {
    for table in tables {
        if !table_exists(db, table).await? {
            bail!(UsageError::new(format!(
                "table `{table}` does not exist in this database: run `backfill migrate up` first"
            )));
        }
    }
    Ok(())
}

/// Whether `table` exists (in the current schema on PostgreSQL).
pub async fn table_exists(db: &impl ConnectionTrait, table: &str) -> Result<bool> {
    let backend = db.get_database_backend();
    let stmt = match backend {
        DatabaseBackend::Sqlite => Query::select()
            .expr(Expr::col(Alias::new("name")).count())
            .from(Alias::new("sqlite_master"))
            .and_where(Expr::col(Alias::new("type")).eq("table"))
            .and_where(Expr::col(Alias::new("name")).eq(table))
            .to_owned(),
        _ => Query::select()
            .expr(Expr::col(Alias::new("table_name")).count())
            .from((Alias::new("information_schema"), Alias::new("tables")))
            .and_where(Expr::col(Alias::new("table_schema")).eq(Expr::cust("current_schema()")))
            .and_where(Expr::col(Alias::new("table_name")).eq(table))
            .to_owned(),
    };
    let row = db
        .query_one(&stmt)
        .await
        .with_context(|| format!("could not look up table `{table}`"))?;
    Ok(row
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0)
        > 0)
}

/// Refuses to write to a database that only allows reading, before anything is written.
pub async fn require_writable(db: &DatabaseConnection) -> Result<()> {
    let read_only = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let row = db
                .query_one_raw(Statement::from_string(
                    DatabaseBackend::Postgres,
                    "SHOW transaction_read_only",
                ))
                .await?;
            row.map(|r| r.try_get_by_index::<String>(0))
                .transpose()?
                .is_some_and(|v| v == "on")
        }
        _ => {
            // SQLite reports read-only-ness only when a write is tried: create a table
            // in a transaction that is always rolled back. A busy file is not read-only.
            let probe = db
                .execute_unprepared(
                    "BEGIN; CREATE TABLE main.backfill_write_probe (x INTEGER); ROLLBACK;",
                )
                .await;
            if probe.is_err() {
                let _ = db.execute_unprepared("ROLLBACK").await;
            }
            probe.is_err_and(|err| {
                let message = db_message(&err).to_lowercase();
                message.contains("readonly")
                    || message.contains("read-only")
                    || message.contains("query_only")
            })
        }
    };
    if read_only {
        bail!(UsageError::new(
            "the database is read-only (a read-only file or a read-only transaction mode): nothing was written"
        ));
    }
    Ok(())
}
