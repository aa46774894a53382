//! PostgreSQL connections of a run terminated under it (`pg_terminate_backend`).

use sea_orm::ConnectionTrait;

use crate::support::*;

/// Terminates every other session of the test's database; how many there were.
async fn terminate_others(db: &impl ConnectionTrait) -> i64 {
    let killed = ints(
        db,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
    )
    .await;
    killed[0]
}

scenario!(terminated_mid_run on postgres);
/// Every connection of the run terminated at three committed checkpoints: it ends with
/// a sentence saying so (or finishes), and a recovery ends where an uninterrupted run
/// does.
async fn terminated_mid_run(backend: Backend) {
    for job in [Job::ProjectId, Job::Features] {
        let want = baseline(backend, job).await;
        let (tdb, pool) = seeded(backend, "terminated").await;
        pool.close().await.ok();
        let db = single_connection(&tdb.url).await;
        let mut child = tdb.spawn_json(&[&["-q"], &job.slow_args()[..]].concat());
        // Three rounds of terminations at committed checkpoints: whatever the run was
        // doing (a batch in flight, a sleep, the ledger), its connections vanish.
        for n in [5, 15, 30] {
            wait_for_batches(&db, &mut child, n).await;
            terminate_others(&db).await;
        }
        let out = child.wait_with_output().expect("wait for the run");
        let context = format!("{job:?} with its connections terminated");
        match code(&out) {
            0 | 1 => {}
            2 => {
                let sentence = one_sentence(&out);
                assert_eq!(
                    stderr(&out).trim().lines().count(),
                    1,
                    "{context}: -q leaves only the sentence: {}",
                    describe(&out)
                );
                assert!(
                    sentence.contains("connection") || sentence.contains("terminat"),
                    "{context}: says the connection was lost: {sentence}"
                );
            }
            other => panic!("{context}: exit {other}: {}", describe(&out)),
        }
        let (out, _) = recover(&tdb, &db, job).await;
        assert!(matches!(code(&out), 0 | 1), "{context}: {}", describe(&out));
        let got = outcome(&db, code(&out)).await;
        assert_outcome(&got, &want, &context);
        db.close().await.ok();
    }
}
