//! SIGKILL at seeded points of a run (before it is even recorded, mid-batch, between
//! batches), then `--resume` or a re-run: the end is an uninterrupted run's.

use std::time::Duration;

use crate::support::*;

/// Where to kill: after a seeded delay from the start, or once N batches committed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    Delay(u64),
    Batches(u64),
}

/// `n` kill points from a fixed seed (xorshift): one in four a delay of up to 300 ms
/// (which may land before the run is even recorded), the rest after 1..=max batches.
fn kill_points(seed: u64, n: usize, max_batches: u64) -> Vec<KillAt> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            if i % 4 == 0 {
                KillAt::Delay(next() % 300)
            } else {
                KillAt::Batches(1 + next() % max_batches)
            }
        })
        .collect()
}

async fn kill_9_at(backend: Backend, job: Job, points: &[KillAt]) {
    let want = baseline(backend, job).await;
    let mut resumed = 0;
    for (i, at) in points.iter().enumerate() {
        let context = format!("{job:?} on {backend:?}, kill point {i} {at:?}");
        let (tdb, db) = seeded(backend, "kill9").await;
        let mut child = tdb.spawn_json(&job.slow_args());
        match *at {
            KillAt::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            KillAt::Batches(n) => wait_for_batches(&db, &mut child, n).await,
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap the killed process");

        let (out, resume) = recover(&tdb, &db, job).await;
        assert!(matches!(code(&out), 0 | 1), "{context}: {}", describe(&out));
        if resume {
            resumed += 1;
            // The interrupted run continued: still one run in the ledger.
            assert_eq!(runs_of(&db, job).await.len(), 1, "{context}");
        }
        let got = outcome(&db, code(&out)).await;
        assert_outcome(&got, &want, &context);
        let statuses: Vec<String> = runs_of(&db, job).await.into_iter().map(|r| r.0).collect();
        assert!(
            statuses.iter().all(|s| s == "done"),
            "{context}: {statuses:?}"
        );
    }
    // Checkpoint-triggered kills land mid-run: the test really exercised --resume.
    let mid_run = points
        .iter()
        .filter(|p| matches!(p, KillAt::Batches(_)))
        .count();
    assert!(
        resumed >= mid_run,
        "only {resumed} of {} kills left a run to resume",
        points.len()
    );
}

/// The kill points of a run on `backend`, from the seed of that backend: ten on
/// SQLite, three on PostgreSQL, after at most `max_batches` batches.
fn kill_points_on(backend: Backend, seeds: [u64; 2], max_batches: u64) -> Vec<KillAt> {
    match backend {
        Backend::Sqlite => kill_points(seeds[0], 10, max_batches),
        _ => kill_points(seeds[1], 3, max_batches),
    }
}

scenario!(project_id on sqlite, postgres);
/// 88 batches in all; kill within the first 70 so the run is surely still going.
async fn project_id(backend: Backend) {
    let points = kill_points_on(backend, [0x5EED_0001, 0x5EED_0003], 70);
    kill_9_at(backend, Job::ProjectId, &points).await;
}

scenario!(features on sqlite, postgres);
/// 20 batches of tests, then 60 of bugs.
async fn features(backend: Backend) {
    let points = kill_points_on(backend, [0x5EED_0002, 0x5EED_0004], 65);
    kill_9_at(backend, Job::Features, &points).await;
}
