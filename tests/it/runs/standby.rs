//! Replication lag holds a run (SPEC §5.10), against a real standby: the test makes a
//! throwaway primary and standby of its own (`initdb` as the `postgres` user into a
//! temporary directory, free ports, `pg_basebackup -R`), and stops and removes both
//! afterwards, so the machine's own server is never touched. With the standby's replay
//! paused, its `replay_lag` stays at the last small value: the run must still hold.

use std::time::Duration;

use super::*;

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
    let mut servers = ScratchServers::new();
    let primary_port = servers.init("primary", "");
    let standby_port = servers.standby_of("standby", primary_port);
    let primary = ScratchServers::url(primary_port, "postgres");
    migrate_and_seed(&primary);
    let db = connect(&primary).await;
    let standby = sea_orm::Database::connect(ScratchServers::url(standby_port, "postgres"))
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
    drop(servers);
}
