//! Test harness: a real database per test (a SQLite file in a temporary directory, or a
//! database created on the local PostgreSQL or MariaDB server and dropped afterwards),
//! and a way to run the real `backfill` binary against it.

#![allow(dead_code)]

pub mod runs;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use entity::{bugs, tests};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Statement,
};

/// The PostgreSQL server tests use; `scripts/test.sh` makes sure it is up.
pub fn pg_admin_url() -> String {
    std::env::var("BACKFILL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into())
}

/// The MariaDB (or MySQL) server tests use; `scripts/test.sh` makes sure it is up.
pub fn mysql_admin_url() -> String {
    std::env::var("BACKFILL_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    /// The URL of the server's administrative database, where test databases are
    /// created and dropped (none for SQLite).
    fn admin_url(self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(pg_admin_url()),
            Backend::Mysql => Some(mysql_admin_url()),
        }
    }

    /// `DROP DATABASE` of `name`, even while connections to it are open.
    fn drop_database(self, name: &str) -> String {
        match self {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS `{name}`"),
        }
    }
}

/// A database owned by one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    /// The server database this test created, dropped with it.
    server_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
    pub path: Option<std::path::PathBuf>,
}

impl TestDb {
    pub async fn new(backend: Backend, name: &str) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres | Backend::Mysql => Self::on_server(backend, name).await,
        }
    }

    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("test.db");
        Self {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            backend: Backend::Sqlite,
            server_name: None,
            _dir: Some(dir),
            path: Some(path),
        }
    }

    pub async fn postgres(name: &str) -> Self {
        Self::on_server(Backend::Postgres, name).await
    }

    pub async fn mysql(name: &str) -> Self {
        Self::on_server(Backend::Mysql, name).await
    }

    /// A fresh database named after the test on `backend`'s local server.
    async fn on_server(backend: Backend, name: &str) -> Self {
        let unique = format!(
            "bf_{}_{}_{}",
            name.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(30)
                .collect::<String>(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        )
        .to_lowercase();
        let admin_url = backend.admin_url().expect("a server backend");
        let admin = sea_orm::Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("{backend:?} must be reachable (run the tests through scripts/test.sh): {e}")
            });
        admin
            .execute_unprepared(&backend.drop_database(&unique))
            .await
            .expect("drop old test database");
        let create = match backend {
            Backend::Postgres => format!("CREATE DATABASE \"{unique}\""),
            _ => format!("CREATE DATABASE `{unique}`"),
        };
        admin
            .execute_unprepared(&create)
            .await
            .expect("create test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("admin url");
        url.set_path(&format!("/{unique}"));
        Self {
            url: url.to_string(),
            backend,
            server_name: Some(unique),
            _dir: None,
            path: None,
        }
    }

    pub async fn connect(&self) -> backfill::backend::Db {
        let url = backfill::backend::DatabaseUrl::new(self.url.as_str());
        backfill::backend::connect(&url, &Default::default())
            .await
            .expect("connect to the test database")
    }

    /// Connected and migrated.
    pub async fn migrated(&self) -> backfill::backend::Db {
        use migration::MigratorTrait;
        let db = self.connect().await;
        migration::Migrator::up(db.connection(), None)
            .await
            .expect("migrate up");
        db
    }

    /// Runs the real binary with `args` against this database.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_backfill"))
            .args(args)
            .env("DATABASE_URL", &self.url)
            .env_remove("BACKFILL_LOG")
            .output()
            .expect("run backfill")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.server_name.take() else {
            return;
        };
        let backend = self.backend;
        if std::thread::panicking() {
            eprintln!("keeping {backend:?} database {name} of a failed test");
            return;
        }
        // Drop runs outside any async context: a small runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = sea_orm::Database::connect(backend.admin_url()?)
                    .await
                    .ok()?;
                admin
                    .execute_unprepared(&backend.drop_database(&name))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// Writes one test per backend for a scenario `async fn(Backend)`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    super::$name($crate::common::Backend::Mysql).await;
                }
            }
        )*
    };
}

/// `sql`, written for SQLite and PostgreSQL, as MySQL spells it: `CAST(column AS
/// TEXT)` is `CAST(column AS CHAR)` (and `BIGINT` is `SIGNED`), a `BINARY(16)` uuid as its hyphenated text (told
/// apart from numbers and times, which MySQL also calls binary, by its unprintable bytes).
pub fn dialect(db: &impl ConnectionTrait, sql: &str) -> String {
    if db.get_database_backend() != DatabaseBackend::MySql {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find("CAST(") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 5..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(after.len());
        let (name, tail) = after.split_at(name_len);
        match tail.strip_prefix(" AS TEXT)") {
            Some(tail) if !name.is_empty() => {
                out.push_str(&format!(
                    "IF(LENGTH({name}) = 16 AND {name} NOT REGEXP '^[ -~]*$', LOWER(INSERT(INSERT(INSERT(INSERT(HEX({name}), \
                     9, 0, '-'), 14, 0, '-'), 19, 0, '-'), 24, 0, '-')), CAST({name} AS CHAR))"
                ));
                rest = tail;
            }
            _ => {
                out.push_str("CAST(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace(" AS TEXT)", " AS CHAR)")
        .replace(" AS BIGINT)", " AS SIGNED)")
}

/// Runs `sql` and returns the first column of every row as i64.
pub async fn ints(db: &impl ConnectionTrait, sql: &str) -> Vec<i64> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            dialect(db, sql),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| r.try_get_by_index::<i64>(0).expect("an integer"))
        .collect()
}

/// The single integer `sql` returns.
pub async fn int(db: &impl ConnectionTrait, sql: &str) -> i64 {
    ints(db, sql)
        .await
        .first()
        .copied()
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

/// Runs `sql` and returns the first column of every row as text (NULL as None).
pub async fn texts(db: &impl ConnectionTrait, sql: &str) -> Vec<Option<String>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            dialect(db, sql),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| r.try_get_by_index::<Option<String>>(0).expect("text"))
        .collect()
}

pub async fn exec(db: &impl ConnectionTrait, sql: &str) {
    db.execute_unprepared(&dialect(db, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub fn backend_of(db: &DatabaseConnection) -> Backend {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => Backend::Sqlite,
        DatabaseBackend::MySql => Backend::Mysql,
        _ => Backend::Postgres,
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Inserts a `tests` row with payload `data`.
pub async fn add_test(db: &DatabaseConnection, id: i64, customer: i64, data: impl Into<String>) {
    tests::Entity::insert(tests::ActiveModel {
        id: Set(id),
        customer_id: Set(customer),
        product_id: Set(1),
        data: Set(data.into()),
        status: Set("archived".into()),
        title: Set(None),
        testing_type: Set(None),
        start_at: Set(None),
        end_at: Set(None),
        synced_at: Set(None),
    })
    .exec_without_returning(db)
    .await
    .expect("insert test");
}

/// Inserts a `bugs` row of `test` with payload `raw`, not yet attributed.
pub async fn add_bug(
    db: &DatabaseConnection,
    id: i64,
    customer: i64,
    test: i64,
    raw: impl Into<String>,
) {
    bugs::Entity::insert(bugs::ActiveModel {
        id: Set(id),
        customer_id: Set(customer),
        test_id: Set(test),
        title: Set(format!("bug {id}")),
        severity: Set(None),
        status: Set(None),
        known: Set(false),
        reported_at: Set(None),
        raw_data: Set(raw.into()),
        synced_at: Set(None),
        test_feature_id: Set(None),
    })
    .exec_without_returning(db)
    .await
    .expect("insert bug");
}

/// The (row id, old value) pairs a journal entry's `changes` text records: the
/// entry is `{"old": value, "keys": [row ids]}`.
pub fn journal_pairs(changes: &str) -> Vec<(String, Option<String>)> {
    let entry: serde_json::Value = serde_json::from_str(changes).expect("changes are JSON");
    let old = entry["old"].as_str().map(str::to_string);
    entry["keys"]
        .as_array()
        .expect("{\"old\": …, \"keys\": […]}")
        .iter()
        .map(|key| match key {
            serde_json::Value::String(text) => (text.clone(), old.clone()),
            other => (other.to_string(), old.clone()),
        })
        .collect()
}

/// The checkpoint of each unit (table or phase) of run `run_id`, from its ranges, as
/// one JSON object by unit. A run of one worker has one range per unit; of a unit cut
/// in many, the last range's checkpoint is kept.
pub async fn unit_checkpoints(db: &impl ConnectionTrait, run_id: i64) -> serde_json::Value {
    let sql = dialect(
        db,
        &format!(
            "SELECT unit, CAST(checkpoint AS TEXT) FROM backfill_ranges \
             WHERE run_id = {run_id} ORDER BY id"
        ),
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("read backfill_ranges");
    let mut units = serde_json::Map::new();
    for row in rows {
        let unit: String = row.try_get_by_index(0).expect("unit");
        let checkpoint: String = row.try_get_by_index(1).expect("checkpoint");
        units.insert(
            unit,
            serde_json::from_str(&checkpoint).expect("checkpoint JSON"),
        );
    }
    serde_json::Value::Object(units)
}

/// Batches committed by every run in the database, over all their ranges.
pub async fn batches_committed(db: &impl ConnectionTrait) -> u64 {
    let sql = dialect(db, "SELECT CAST(checkpoint AS TEXT) FROM backfill_ranges");
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("read backfill_ranges");
    rows.iter()
        .map(|row| {
            let checkpoint: String = row.try_get_by_index(0).expect("checkpoint");
            let checkpoint: serde_json::Value =
                serde_json::from_str(&checkpoint).expect("checkpoint JSON");
            checkpoint["counters"]["batches"].as_u64().unwrap_or(0)
        })
        .sum()
}
