//! A run held by the database's health: sessions waiting on a lock in the walked
//! table (a standby that lags is [`super::standby`]'s).

use std::time::Duration;

use sea_orm::ConnectionTrait;

use super::*;

scenario!(lock_waiters_hold_the_run on postgres);
/// An application session waits on another's row lock in the walked table: the run
/// holds (commits nothing, shows why) until the wait ends, then finishes.
async fn lock_waiters_hold_the_run(backend: Backend) {
    let (tdb, db) = seeded(backend, "waiters").await;
    let holder = single_connection(&tdb.url).await;
    let waiter = single_connection(&tdb.url).await;
    let touch = "UPDATE nodes SET project_id = project_id \
                 WHERE id = (SELECT id FROM nodes WHERE project_id IS NOT NULL ORDER BY id LIMIT 1)";
    exec(&holder, &format!("BEGIN; {touch}")).await;
    let waiting = tokio::spawn(async move {
        waiter
            .execute_unprepared(touch)
            .await
            .expect("the waiter's update");
    });
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
