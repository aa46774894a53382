//! A run held by the database's health: sessions waiting on a lock in the walked
//! table, and only there (a standby or replica that lags is [`super::standby`]'s and
//! [`super::replica`]'s).

use std::time::Duration;

use sea_orm::ConnectionTrait;

use super::*;

/// An update of the first row of `table` that `filter` keeps, in a form both
/// PostgreSQL and MySQL take (MySQL reads the table it updates only in a derived one).
fn touch_first(table: &str, filter: &str) -> String {
    format!(
        "UPDATE {table} SET id = id WHERE id = \
         (SELECT id FROM (SELECT id FROM {table} WHERE {filter} ORDER BY id LIMIT 1) AS first)"
    )
}

/// An application session holding a row lock of `table` in an open transaction, and
/// another session waiting on it (until the holder commits).
async fn lock_wait_in(
    tdb: &TestDb,
    table: &str,
    filter: &str,
) -> (sea_orm::DatabaseConnection, tokio::task::JoinHandle<()>) {
    let holder = single_connection(&tdb.url).await;
    let waiter = single_connection(&tdb.url).await;
    let touch = touch_first(table, filter);
    exec(&holder, "BEGIN").await;
    exec(&holder, &touch).await;
    let waiting = tokio::spawn(async move {
        waiter
            .execute_unprepared(&touch)
            .await
            .expect("the waiter's update");
    });
    // Until the waiter's update is under way, there is nothing to wait on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    (holder, waiting)
}

scenario!(lock_waiters_hold_the_run on postgres, mysql);
/// An application session waits on another's row lock in the walked table: the run
/// holds (commits nothing, shows why) until the wait ends, then finishes.
async fn lock_waiters_hold_the_run(backend: Backend) {
    let (tdb, db) = seeded(backend, "waiters").await;
    let (holder, waiting) = lock_wait_in(&tdb, "nodes", "project_id IS NOT NULL").await;
    let mut child = tdb.spawn_json(&["backfill-project-id", "--table", "nodes", "--sleep", "0"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(child.try_wait().unwrap().is_none(), "the run holds");
    assert_eq!(batches_committed(&db).await, 0);
    let id = unfinished_run(&tdb);
    let shown = shown_run(&tdb, id);
    assert_eq!(shown["status"], "throttled", "{shown}");
    let held = shown["units"][0]["held"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(held.contains("lock waits"), "{shown}");

    exec(&holder, "COMMIT").await;
    waiting.await.unwrap();
    let finished = child.wait_with_output().unwrap();
    assert_eq!(code(&finished), 0, "{}", describe(&finished));
    assert_eq!(
        int(&db, "SELECT count(*) FROM nodes WHERE project_id IS NULL").await,
        0
    );
}

scenario!(lock_waiters_elsewhere_do_not_hold_the_run on postgres, mysql);
/// Sessions waiting on a lock in another table than the walked one are none of the
/// run's business: it finishes while they still wait.
async fn lock_waiters_elsewhere_do_not_hold_the_run(backend: Backend) {
    let (tdb, db) = seeded(backend, "waiters_elsewhere").await;
    let (holder, waiting) = lock_wait_in(&tdb, "tests", "id IS NOT NULL").await;
    assert_fills_nodes_while_they_wait(&tdb, &db, &waiting, "waiters on another table").await;
    exec(&holder, "COMMIT").await;
    waiting.await.unwrap();
}

/// Runs `backfill-project-id` on `nodes`, which must finish (within a minute) while
/// `waiting` still waits on its lock, rather than hold for it.
async fn assert_fills_nodes_while_they_wait(
    tdb: &TestDb,
    db: &Db,
    waiting: &tokio::task::JoinHandle<()>,
    waiters: &str,
) {
    let mut child = tdb.spawn_json(&["backfill-project-id", "--table", "nodes", "--sleep", "0"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("the run held for {waiters}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finished = child.wait_with_output().unwrap();
    assert_eq!(code(&finished), 0, "{}", describe(&finished));
    assert!(!waiting.is_finished(), "{waiters}: still waiting");
    assert_eq!(
        int(db, "SELECT count(*) FROM nodes WHERE project_id IS NULL").await,
        0
    );
}

scenario!(the_tools_own_waiting_sessions_do_not_hold_the_run on postgres);
/// A session of the tool's own (named `backfill`, as its connections are) waiting on
/// a lock in the walked table is no application waiting: the run finishes while it
/// still waits, as a second worker's batch waiting on the first's would.
async fn the_tools_own_waiting_sessions_do_not_hold_the_run(backend: Backend) {
    let (tdb, db) = seeded(backend, "own_waiters").await;
    let holder = single_connection(&tdb.url).await;
    let ours = single_connection(&format!("{}?application_name=backfill", tdb.url)).await;
    let touch = touch_first("nodes", "project_id = 'io'");
    exec(&holder, "BEGIN").await;
    exec(&holder, &touch).await;
    let waiting = tokio::spawn(async move {
        ours.execute_unprepared(&touch)
            .await
            .expect("the tool's own session's update");
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_fills_nodes_while_they_wait(&tdb, &db, &waiting, "the tool's own waiting session").await;
    exec(&holder, "COMMIT").await;
    waiting.await.unwrap();
}
