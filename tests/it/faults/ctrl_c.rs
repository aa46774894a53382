//! Ctrl-C, SIGTERM or SIGHUP mid-run: whole batches only, what it did printed, then
//! `--resume`.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::Db;
use migration::MEMORY_TABLES;
use serde_json::Value;

use crate::support::*;

/// Whether `id` is at or before `after` in the walk's key order (integers numerically,
/// uuids as their hyphenated text).
fn at_or_before(id: &str, after: &Value) -> bool {
    match after {
        Value::Number(n) => id.parse::<i64>().expect("integer key") <= n.as_i64().unwrap(),
        Value::String(s) => id <= s.as_str(),
        _ => false,
    }
}

/// Each row's place in the walk order, by row id: the id itself, except for uuid
/// tables on SQLite, which are walked by rowid.
async fn walk_positions(db: &Db, table: &str) -> BTreeMap<String, String> {
    let sql = match (Backend::of(db), table) {
        (Backend::Sqlite, "nodes" | "edges") => {
            format!("SELECT id, CAST(rowid AS TEXT) FROM {table}")
        }
        _ => format!("SELECT CAST(id AS TEXT), CAST(id AS TEXT) FROM {table}"),
    };
    pairs(db, &sql)
        .await
        .into_iter()
        .map(|(id, position)| (id, position.expect("position")))
        .collect()
}

fn checkpoint_after<'a>(checkpoints: &'a Value, unit: &str) -> Option<&'a Value> {
    checkpoints
        .get(unit)
        .map(|c| &c["after"])
        .filter(|a| !a.is_null())
}

/// `signal` (Ctrl-C's SIGINT, or the SIGTERM of `kill`, systemd, Kubernetes and CI
/// runners, or SIGHUP) after 12 batches of `job`: exit 130, the summary of what it did
/// saying it stopped and how to continue, one sentence naming `--resume`, the run
/// `interrupted` after whole batches (every row up to a checkpoint as the full run
/// leaves it, every row after as it was), and the resumed run ends as the full one.
async fn stopped_by(backend: Backend, job: Job, signal: &str) {
    let want = baseline(backend, job).await;
    let (tdb, db) = seeded(backend, "sigint").await;
    let before = snapshot(&db).await;
    let mut child = tdb.spawn_json(&job.slow_args());
    wait_for_batches(&db, &mut child, 12).await;
    send_signal(&child, signal);
    let out = child.wait_with_output().expect("wait for the run");
    let context = format!("{job:?} on {backend:?} after {signal}");
    assert_eq!(code(&out), 130, "{context}: {}", describe(&out));
    let sentence = one_sentence(&out);
    assert!(
        sentence.contains("--resume --run 1"),
        "{context}: {sentence}"
    );
    let summary = json(&out);
    assert_eq!(summary["status"], "interrupted", "{context}: {summary}");
    assert_eq!(
        summary["resume"],
        format!("backfill {} --resume --run 1", job.command()),
        "{context}: {summary}"
    );
    assert!(summary["passed"].is_null(), "nothing validated: {summary}");
    let runs = runs_of(&db, job).await;
    assert_eq!(runs.len(), 1, "{context}");
    assert_eq!(runs[0].0, "interrupted", "{context}");
    let checkpoints = &runs[0].1;

    // Whole batches only: every row up to a table's checkpoint holds what the full run
    // writes, every row after it what it held before.
    let now = snapshot(&db).await;
    match job {
        Job::ProjectId => {
            let mut changed = BTreeSet::new();
            for table in MEMORY_TABLES {
                let after = checkpoint_after(checkpoints, table);
                let positions = walk_positions(&db, table).await;
                for ((id, value), ((_, old), (_, full))) in now.memory[table]
                    .iter()
                    .zip(before.memory[table].iter().zip(&want.data.memory[table]))
                {
                    let expected = match after {
                        Some(after) if at_or_before(&positions[id], after) => full,
                        _ => old,
                    };
                    assert_eq!(value, expected, "{context}: {table} {id}");
                    if value != old {
                        changed.insert((table.to_string(), id.clone()));
                    }
                }
            }
            // The journal lists exactly the rows that changed.
            let journaled: BTreeSet<(String, String)> = journal(&db)
                .await
                .into_iter()
                .map(|(t, r, _)| (t, r))
                .collect();
            assert_eq!(journaled, changed, "{context}: journal and data agree");
            assert!(!changed.is_empty(), "{context}: stopped after some batches");
            assert!(
                now.memory.values().flatten().any(|(_, v)| v.is_none()),
                "{context}: stopped before the end"
            );
        }
        Job::Features => {
            let tests_after =
                checkpoint_after(checkpoints, "test_features").expect("a test_features checkpoint");
            for (id, (test, row)) in &want.data.features {
                if at_or_before(&test.to_string(), tests_after) {
                    assert_eq!(
                        now.features.get(id),
                        Some(&(*test, row.clone())),
                        "{context}: test_features {id}"
                    );
                }
            }
            for (id, (test, _)) in &now.features {
                assert!(
                    at_or_before(&test.to_string(), tests_after),
                    "{context}: test_features {id} of test {test} is past the checkpoint"
                );
            }
            let bugs_after = checkpoint_after(checkpoints, "bugs");
            for (id, value) in &now.bugs {
                let expected = match bugs_after {
                    Some(after) if at_or_before(&id.to_string(), after) => &want.data.bugs[id],
                    _ => &before.bugs[id],
                };
                assert_eq!(value, expected, "{context}: bugs {id}");
            }
        }
    }
    let anomalies = open_anomalies(&db).await;
    assert!(
        anomalies.is_subset(&want.anomalies),
        "{context}: anomalies a full run would not log"
    );

    let out = tdb.cli_json(&job.fast_args(true));
    let got = outcome(&db, code(&out)).await;
    assert_outcome(&got, &want, &format!("{context}, resumed"));
    assert_eq!(runs_of(&db, job).await[0].0, "done");
}

scenario!(project_id on sqlite, postgres, mysql);
async fn project_id(backend: Backend) {
    stopped_by(backend, Job::ProjectId, "-INT").await;
}

scenario!(features on sqlite, postgres, mysql);
async fn features(backend: Backend) {
    stopped_by(backend, Job::Features, "-INT").await;
}

scenario!(project_id_sigterm on sqlite, postgres, mysql);
async fn project_id_sigterm(backend: Backend) {
    stopped_by(backend, Job::ProjectId, "-TERM").await;
}

scenario!(features_sigterm on sqlite, postgres, mysql);
async fn features_sigterm(backend: Backend) {
    stopped_by(backend, Job::Features, "-TERM").await;
}

scenario!(project_id_sighup on postgres);
async fn project_id_sighup(backend: Backend) {
    stopped_by(backend, Job::ProjectId, "-HUP").await;
}
