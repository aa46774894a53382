//! A real database per test: a SQLite file in a temporary directory, or a database
//! created on the local PostgreSQL or MariaDB server, named after the test and dropped
//! afterwards (kept, and named on stderr, when the test failed).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::support::Db;
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseBackend};

use super::library;

/// The PostgreSQL server tests use; `scripts/test.sh` makes sure it is up.
fn pg_admin_url() -> String {
    std::env::var("BACKFILL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into())
}

/// The MariaDB (or MySQL) server tests use; `scripts/test.sh` makes sure it is up.
fn mysql_admin_url() -> String {
    std::env::var("BACKFILL_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// Tells apart the server databases of one test process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The database a scenario runs on (see [`scenario!`](crate::support::scenario)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    /// The backend of a connection.
    pub fn of(db: &impl ConnectionTrait) -> Self {
        match db.get_database_backend() {
            DatabaseBackend::Sqlite => Backend::Sqlite,
            DatabaseBackend::MySql => Backend::Mysql,
            _ => Backend::Postgres,
        }
    }

    /// The URL of the server's administrative database, where test databases are
    /// created and dropped (none for SQLite).
    fn admin_url(self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(pg_admin_url()),
            Backend::Mysql => Some(mysql_admin_url()),
        }
    }

    /// `CREATE DATABASE` of `name`.
    fn create_database(self, name: &str) -> String {
        match self {
            Backend::Postgres => format!("CREATE DATABASE \"{name}\""),
            _ => format!("CREATE DATABASE `{name}`"),
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
    /// The SQLite file (none on a server).
    pub path: Option<PathBuf>,
}

impl TestDb {
    /// A fresh, empty database on `backend`; `name` (the scenario's) names it on a server.
    pub async fn new(backend: Backend, name: &str) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres | Backend::Mysql => Self::on_server(backend, name).await,
        }
    }

    fn sqlite() -> Self {
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
        admin
            .execute_unprepared(&backend.create_database(&unique))
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

    /// A database of a throwaway server of the test's own (a Citus cluster's), which
    /// goes with its server.
    pub fn on_scratch_server(url: String) -> Self {
        Self {
            url,
            backend: Backend::Postgres,
            server_name: None,
            _dir: None,
            path: None,
        }
    }

    /// The name of the database on its server (none for SQLite).
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Connected as the binary connects.
    pub async fn connect(&self) -> Db {
        library::connect(&self.url).await
    }

    /// Connected and migrated.
    pub async fn migrated(&self) -> Db {
        use migration::MigratorTrait;
        let db = self.connect().await;
        migration::Migrator::up(db.connection(), None)
            .await
            .expect("migrate up");
        db
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

/// A TCP port nothing listens on now, for a throwaway server of a test's own.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A pool of one connection to `url`, held open: a session of its own (an
/// application's, or the test's while it terminates every other backend).
pub async fn single_connection(url: &str) -> sea_orm::DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    sea_orm::Database::connect(options)
        .await
        .expect("connect the test's own connection")
}
