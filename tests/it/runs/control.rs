//! `runs pause`, `runs continue` and `runs cancel` from another process.

use std::time::Duration;

use migration::MEMORY_TABLES;
use sea_orm::ConnectionTrait;

use super::*;

/// Proves no session of the run holds a lock: every walked table is locked
/// exclusively by another session within a few seconds.
async fn lock_every_table(tdb: &TestDb) {
    let db = single_connection(&tdb.url).await;
    let sql = match tdb.backend {
        Backend::Sqlite => "BEGIN IMMEDIATE; ROLLBACK;".to_string(),
        Backend::Postgres => format!(
            "BEGIN; SET LOCAL lock_timeout = '5s'; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE; ROLLBACK;",
            MEMORY_TABLES.join(", ")
        ),
        Backend::Mysql => format!(
            "SET SESSION lock_wait_timeout = 5; LOCK TABLES {}; UNLOCK TABLES;",
            MEMORY_TABLES.map(|t| format!("{t} WRITE")).join(", ")
        ),
    };
    db.execute_unprepared(&sql)
        .await
        .expect("a paused run holds no lock");
    db.close().await.ok();
}

scenario!(pause_continue_and_cancel on sqlite, postgres, mysql);
/// `runs pause` stops a run after its batch in flight, holding no lock; `runs continue`
/// lets it finish; neither works on a finished run. `runs cancel` ends a run with 130,
/// listed as unfinished, and `--resume` finishes it.
async fn pause_continue_and_cancel(backend: Backend) {
    let (tdb, db) = seeded(backend, "pause").await;
    let mut child = tdb.spawn_json(PAUSABLE);
    wait_for_batches(&db, &mut child, 3).await;
    let id = unfinished_run(&tdb);
    let out = tdb.cli_json(&["runs", "pause", &id.to_string()]);
    assert_eq!(code(&out), 0, "pause: {}", describe(&out));
    // The batch in flight may still commit; after that, nothing does.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let paused_at = batches_committed(&db).await;
    lock_every_table(&tdb).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(batches_committed(&db).await, paused_at);
    assert_eq!(shown_run(&tdb, id)["status"], "paused");
    assert!(child.try_wait().unwrap().is_none(), "a paused run waits");

    let out = tdb.cli_json(&["runs", "continue", &id.to_string()]);
    assert_eq!(code(&out), 0, "continue: {}", describe(&out));
    let finished = child.wait_with_output().unwrap();
    assert_eq!(code(&finished), 0, "{}", describe(&finished));
    assert_eq!(shown_run(&tdb, id)["status"], "done");
    // Neither pause nor continue works on a finished run.
    let refused = tdb.cli_json(&["runs", "pause", &id.to_string()]);
    assert_eq!(code(&refused), 2);
    assert!(
        one_sentence(&refused).contains("is done"),
        "{}",
        describe(&refused)
    );

    let mut child = tdb.spawn_json(PAUSABLE);
    let before = batches_committed(&db).await;
    wait_for_batches(&db, &mut child, before + 3).await;
    let second = unfinished_run(&tdb);
    assert_ne!(second, id);
    let out = tdb.cli_json(&["runs", "cancel", &second.to_string()]);
    assert_eq!(code(&out), 0, "cancel: {}", describe(&out));
    let cancelled = child.wait_with_output().unwrap();
    assert_eq!(code(&cancelled), 130, "{}", describe(&cancelled));
    assert_eq!(shown_run(&tdb, second)["status"], "cancelled");
    assert_eq!(
        unfinished_run(&tdb),
        second,
        "a cancelled run is listed as unfinished"
    );
    let resumed = tdb.cli_json(&Job::ProjectId.fast_args(true));
    assert_eq!(code(&resumed), 0, "{}", describe(&resumed));
    assert_eq!(shown_run(&tdb, second)["status"], "done");
    assert_eq!(
        int(
            &db,
            "SELECT count(*) FROM working_memory WHERE project_id IS NULL"
        )
        .await,
        0
    );
}
