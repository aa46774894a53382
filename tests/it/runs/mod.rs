//! A run while it works, steered and watched from outside: paused, continued and
//! cancelled from another process (`backfill runs`), held by lock waiters, by a
//! lagging PostgreSQL standby and by a MariaDB replica whose SQL thread stopped, its
//! batches sized to `--batch-time`, its metrics scraped.

mod batch_time;
mod control;
mod holds;
mod metrics;
mod notify;
mod replica;
mod settings;
mod standby;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use migration::MEMORY_TABLES;
use serde_json::Value;

use crate::support::*;

/// The id of the newest unfinished run, as `runs` lists it.
fn unfinished_run(tdb: &TestDb) -> i64 {
    let (code, listed) = tdb.run_json(&["runs"]);
    assert_eq!(code, 0, "runs: {listed}");
    listed["runs"][0]["id"].as_i64().expect("an unfinished run")
}

/// Run `id` as `runs --run ID` shows it.
fn shown_run(tdb: &TestDb, id: i64) -> Value {
    let (code, shown) = tdb.run_json(&["runs", "--run", &id.to_string()]);
    assert_eq!(code, 0, "runs --run: {shown}");
    shown["runs"][0].clone()
}

/// Migrates the database at `url` and seeds it small: 50 tests, 200 rows in each memory
/// table, half of their `project_id`s NULL.
fn migrate_and_seed(url: &str) {
    let seed = [
        "seed",
        "--tests",
        "50",
        "--memory-rows",
        "200",
        "--null-project-id",
        "0.5",
    ];
    for args in [&["migrate", "up"][..], &seed] {
        let out = backfill_json_at(url, args).output().expect("run backfill");
        assert_exit(&out, 0, &format!("{args:?}"));
    }
}

/// Starts `backfill-project-id` on `url` in batches of 25 that hold over 1 s of lag,
/// with `flags` besides, its streams piped.
pub(crate) fn spawn_lag_watching_fill(url: &str, flags: &[&str]) -> Child {
    let args: Vec<&str> = [
        "backfill-project-id",
        "--batch-size",
        "25",
        "--max-lag",
        "1s",
    ]
    .into_iter()
    .chain(flags.iter().copied())
    .collect();
    backfill_json_at(url, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start backfill")
}

/// Waits (up to a minute, for a loaded machine) until the newest run on `url` is
/// `throttled`, a unit of it held for a reason that says `reason`; the run in `child`
/// must hold, not end.
pub(crate) async fn wait_until_held(url: &str, reason: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run holds, it does not end"
        );
        let out = backfill_json_at(url, &["runs"])
            .output()
            .expect("run backfill");
        assert_exit(&out, 0, "runs");
        let listed = json(&out)["runs"][0].clone();
        let held = listed["status"] == "throttled"
            && listed["units"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|unit| unit["held"].as_str())
                .any(|held| held.contains(reason));
        if held {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not held for {reason:?}: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for a held `backfill-project-id` to go on and finish: exit 0, no NULL left.
pub(crate) async fn assert_goes_on_and_fills(child: Child, db: &Db, what: &str) {
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run goes on once {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_exit(&child.wait_with_output().unwrap(), 0, "the held run");
    for table in MEMORY_TABLES {
        let nulls = int(
            db,
            &format!("SELECT count(*) FROM {table} WHERE project_id IS NULL"),
        )
        .await;
        assert_eq!(nulls, 0, "{table}");
    }
}

/// A run slow enough (about five seconds) to be paused while it works.
const PAUSABLE: &[&str] = &[
    "backfill-project-id",
    "--batch-size",
    "25",
    "--sleep",
    "0.05",
];

/// `backfill-project-id` with `flag value` on a database never reached: refused before
/// anything runs, exit 2, with a sentence that says `says`.
fn assert_flag_refused(flag: &str, value: &str, says: &str) {
    let out = backfill_json_at("sqlite::memory:", &["backfill-project-id", flag, value])
        .output()
        .expect("run backfill");
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(stderr(&out).contains(says), "{}", describe(&out));
}
