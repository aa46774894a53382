//! Replication lag holds a run (SPEC §5.10), against a real standby: the test makes a
//! throwaway primary and standby of its own (`initdb` as the `postgres` user into a
//! temporary directory, free ports, `pg_basebackup -R`), and stops and removes both
//! afterwards, so the machine's own server is never touched. With the standby's replay
//! paused, its `replay_lag` stays at the last small value: the run must still hold.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::*;

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
    migrate_and_seed(&primary);
    let db = connect(&primary).await;
    let standby = sea_orm::Database::connect(Cluster::url(cluster.standby_port))
        .await
        .expect("the standby");
    exec(&standby, "SELECT pg_wal_replay_pause()").await;

    let mut child = spawn_lag_watching_fill(&primary, &["--sleep", "0.02"]);
    // The first batches commit, the standby does not replay them, and after --max-lag
    // the run holds: its checkpoint stands still.
    wait_until_held(&primary, "replication lag", &mut child).await;
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

    exec(&standby, "SELECT pg_wal_replay_resume()").await;
    assert_goes_on_and_fills(child, &db, "the standby replays").await;
    standby.close().await.ok();
    db.close().await.ok();
    drop(cluster);
}
