//! A MySQL/MariaDB replica watched with `--replica-url` holds a run (SPEC §5.10),
//! against a real one: the test makes a throwaway primary and replica of its own
//! (`mariadb-install-db` into a temporary directory, two `mariadbd` on free ports with
//! their own `server-id`, the binary log on the primary, replication started) and kills
//! and removes both afterwards, so the machine's own server is never touched.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;

use super::*;

/// A primary with its binary log and a replica of it, in a temporary directory.
struct Replication {
    dir: tempfile::TempDir,
    servers: Vec<Child>,
    primary_port: u16,
    replica_port: u16,
}

impl Replication {
    async fn start() -> Self {
        let mut pair = Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
            servers: Vec::new(),
            primary_port: free_port(),
            replica_port: free_port(),
        };
        pair.server("primary", pair.primary_port, 1, &["--log-bin=primary-bin"]);
        pair.server("replica", pair.replica_port, 2, &[]);
        let replica = pair.admin(pair.replica_port).await;
        exec(
            &replica,
            &format!(
                "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, \
                 MASTER_USER = 'root', MASTER_PASSWORD = ''",
                pair.primary_port
            ),
        )
        .await;
        exec(&replica, "START REPLICA").await;
        pair
    }

    /// Installs a data directory `name` and starts a server on it.
    fn server(&mut self, name: &str, port: u16, server_id: u32, extra: &[&str]) {
        let data = self.dir.path().join(name);
        let install = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--user=root",
                "--skip-test-db",
            ])
            .output()
            .expect("mariadb-install-db (scripts/test.sh installs MariaDB's server)");
        assert!(
            install.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        let file = |suffix: &str| self.dir.path().join(format!("{name}.{suffix}"));
        let log = std::fs::File::create(file("log")).expect("the server's log");
        let server = Command::new(Path::new("/usr/sbin/mariadbd"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", file("sock").display()))
            .arg(format!("--pid-file={}", file("pid").display()))
            .arg(format!("--port={port}"))
            .arg(format!("--server-id={server_id}"))
            .args([
                "--user=root",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
            ])
            .args(extra)
            .current_dir(&data)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mariadbd");
        self.servers.push(server);
    }

    /// A connection to the server on `port`, once it answers.
    async fn admin(&self, port: u16) -> DatabaseConnection {
        let url = Self::url(port, "mysql");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match sea_orm::Database::connect(&url).await {
                Ok(db) => return db,
                Err(err) => {
                    assert!(Instant::now() < deadline, "{url} does not answer: {err}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    fn url(port: u16, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{port}/{database}")
    }
}

impl Drop for Replication {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Runs the binary in JSON with `args` against `url`: its exit code and output.
fn run_at(url: &str, args: &[&str]) -> std::process::Output {
    backfill_json_at(url, args).output().expect("run backfill")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_sql_thread_stopped_holds_the_run_until_it_replays() {
    let pair = Replication::start().await;
    let primary_admin = pair.admin(pair.primary_port).await;
    exec(&primary_admin, "CREATE DATABASE bf").await;
    let primary = Replication::url(pair.primary_port, "bf");
    let replica_url = Replication::url(pair.replica_port, "bf");
    migrate_and_seed(&primary);

    // What is not a replica is refused before anything is written.
    let refused = run_at(
        &primary,
        &["backfill-project-id", "--replica-url", &primary],
    );
    assert_exit(&refused, 2, "the primary given as its own replica");
    assert!(
        one_sentence(&refused).contains("is no replica"),
        "{}",
        describe(&refused)
    );
    let closed = Replication::url(free_port(), "bf");
    assert_exit(
        &run_at(&primary, &["backfill-project-id", "--replica-url", &closed]),
        75,
        "a replica that does not answer",
    );

    let replica = pair.admin(pair.replica_port).await;
    exec(&replica, "STOP REPLICA SQL_THREAD").await;
    let mut child =
        spawn_lag_watching_fill(&primary, &["--replica-url", &replica_url, "--sleep", "0"]);
    let db = connect(&primary).await;
    wait_until_held(&primary, "SQL thread is stopped", &mut child).await;
    assert_eq!(
        batches_committed(&db).await,
        0,
        "no batch commits while the replica does not replay"
    );

    exec(&replica, "START REPLICA SQL_THREAD").await;
    assert_goes_on_and_fills(child, &db, "the replica replays").await;
    db.close().await.ok();
}
