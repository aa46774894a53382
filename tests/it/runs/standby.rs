//! Replication lag holds a run (SPEC §5.10), against a real standby: the test makes a
//! throwaway primary and standby of its own (`initdb` as the `postgres` user into a
//! temporary directory, free ports, `pg_basebackup -R`), and stops and removes both
//! afterwards, so the machine's own server is never touched. With the standby's replay
//! paused, its `replay_lag` stays at the last small value: the run must still hold.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use migration::MEMORY_TABLES;

use crate::support::*;

/// PostgreSQL's server programs, of the one major version installed.
fn pg_bin(program: &str) -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let version = std::fs::read_dir(root)
        .expect(
            "PostgreSQL's server programs in /usr/lib/postgresql (scripts/test.sh installs them)",
        )
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .max()
        .expect("a PostgreSQL version in /usr/lib/postgresql");
    version.join("bin").join(program)
}

/// Runs a PostgreSQL program as the `postgres` user (initdb refuses root).
fn as_postgres(program: &str, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(pg_bin(program))
        .args(args)
        .output()
        .expect("runuser");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A primary and its streaming standby in a temporary directory, stopped and removed
/// on drop.
struct Cluster {
    dir: tempfile::TempDir,
    primary_port: u16,
    standby_port: u16,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let postgres = Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .expect("id");
        let uid: u32 = String::from_utf8_lossy(&postgres.stdout)
            .trim()
            .parse()
            .expect("the postgres user");
        chown(dir.path(), Some(uid), None).expect("give the directory to postgres");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let cluster = Self {
            dir,
            primary_port: free_port(),
            standby_port: free_port(),
        };
        let primary = cluster.data("primary");
        as_postgres("initdb", &["-D", &primary, "-A", "trust", "-U", "postgres"]);
        cluster.configure(&primary, cluster.primary_port);
        cluster.pg_ctl(&primary, "start");
        let standby = cluster.data("standby");
        as_postgres(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &cluster.primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &standby,
                "-R",
                "-X",
                "stream",
            ],
        );
        cluster.configure(&standby, cluster.standby_port);
        cluster.pg_ctl(&standby, "start");
        cluster
    }

    fn data(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn configure(&self, data: &str, port: u16) {
        let settings = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nwal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n",
            self.dir.path().display()
        );
        let conf = Path::new(data).join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("write postgresql.conf");
    }

    fn pg_ctl(&self, data: &str, action: &str) {
        let log = format!("{data}.log");
        as_postgres(
            "pg_ctl",
            &["-D", data, "-l", &log, "-w", "-m", "immediate", action],
        );
    }

    fn url(port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for name in ["standby", "primary"] {
            let data = self.data(name);
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(pg_bin("pg_ctl"))
                .args(["-D", &data, "-m", "immediate", "stop"])
                .output();
        }
    }
}

/// Runs the binary in JSON with `args` against `url`, which must succeed.
fn succeeds(url: &str, args: &[&str]) -> Output {
    let out = backfill_json_at(url, args).output().expect("run backfill");
    assert_exit(&out, 0, &format!("{args:?}"));
    out
}

/// Batches committed by the run, from its ranges' checkpoints.
async fn batches(db: &Db) -> i64 {
    int(
        db,
        "SELECT coalesce(sum((checkpoint->'counters'->>'batches')::bigint), 0)::bigint \
         FROM backfill_ranges",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_standby_holds_the_run_until_it_replays() {
    let cluster = Cluster::start();
    let primary = Cluster::url(cluster.primary_port);
    succeeds(&primary, &["migrate", "up"]);
    succeeds(
        &primary,
        &[
            "seed",
            "--tests",
            "50",
            "--memory-rows",
            "200",
            "--null-project-id",
            "0.5",
        ],
    );
    let db = connect(&primary).await;
    let standby = sea_orm::Database::connect(Cluster::url(cluster.standby_port))
        .await
        .expect("the standby");
    exec(&standby, "SELECT pg_wal_replay_pause()").await;

    let mut child = backfill_json_at(
        &primary,
        &[
            "backfill-project-id",
            "--batch-size",
            "25",
            "--sleep",
            "0.02",
            "--max-lag",
            "1s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start backfill");
    // The first batches commit, the standby does not replay them, and after --max-lag
    // the run holds: its checkpoint stands still.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let held_at = batches(&db).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        batches(&db).await,
        held_at,
        "no batch commits while the standby lags"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run holds, it does not fail"
    );
    let listed = json(&succeeds(&primary, &["runs"]))["runs"].clone();
    assert_eq!(listed[0]["status"], "throttled", "{listed}");
    let held: Vec<String> = listed[0]["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|unit| unit["held"].as_str().map(str::to_string))
        .collect();
    assert!(
        held.iter().any(|h| h.contains("replication lag")),
        "{listed}"
    );

    exec(&standby, "SELECT pg_wal_replay_resume()").await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the run goes on once the standby replays"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finished = child.wait_with_output().unwrap();
    assert_exit(&finished, 0, "the held run");
    for table in MEMORY_TABLES {
        let nulls = int(
            &db,
            &format!("SELECT count(*) FROM {table} WHERE project_id IS NULL"),
        )
        .await;
        assert_eq!(nulls, 0, "{table}");
    }
    standby.close().await.ok();
    db.close().await.ok();
    drop(cluster);
}
