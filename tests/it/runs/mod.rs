//! A run while it works, steered and watched from outside: paused, continued and
//! cancelled from another process (`backfill runs`), held by lock waiters, by a
//! lagging PostgreSQL standby and by a MariaDB replica whose SQL thread stopped, its
//! batches sized to `--batch-time`, its metrics scraped.

mod batch_time;
mod control;
mod holds;
mod metrics;
mod replica;
mod standby;

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

/// A run slow enough (about five seconds) to be paused while it works.
const PAUSABLE: &[&str] = &[
    "backfill-project-id",
    "--batch-size",
    "25",
    "--sleep",
    "0.05",
];
