//! Application traffic on PostgreSQL while both backfills run: the spec's latency
//! bound for the application's statements, and complete backfills.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use migration::MEMORY_TABLES;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value as DbValue};
use serde_json::Value;

use crate::support::*;

/// What one application session did and how long its statements took.
#[derive(Debug, Default)]
struct Traffic {
    statements: u64,
    failures: Vec<String>,
    slowest: Duration,
    /// Every statement's time, for the p99 the bench notes quote.
    times: Vec<Duration>,
}

/// One application session: inserts and updates in working_memory, nodes and tests on
/// its own connection until `stop`, timing every statement.
async fn application(
    url: String,
    task: u32,
    node_ids: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
) -> Traffic {
    let db = single_connection(&url).await;
    let mut traffic = Traffic::default();
    let mut n: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let pick = (n * 7919 + u64::from(task) * 104_729) as usize;
        let project = if n.is_multiple_of(3) { "aurora" } else { "io" };
        let statements: Vec<(&str, Vec<DbValue>)> = vec![
            (
                "INSERT INTO working_memory (content, project_id) VALUES ($1, $2)",
                vec![format!("app {task} note {n}").into(), project.into()],
            ),
            // Legacy NULL rows are left to the backfill: the NOT VALID check already
            // rejects an update that keeps project_id NULL.
            (
                "UPDATE working_memory SET content = $1 WHERE id = $2 AND project_id IS NOT NULL",
                vec![
                    format!("app {task} edit {n}").into(),
                    ((pick % 1000) as i64 + 1).into(),
                ],
            ),
            (
                "INSERT INTO nodes (label, name, project_id) VALUES ('app', $1, $2)",
                vec![format!("app-{task}-{n}").into(), project.into()],
            ),
            (
                "UPDATE nodes SET name = name WHERE id = CAST($1 AS uuid) AND project_id IS NOT NULL",
                vec![node_ids[pick % node_ids.len()].clone().into()],
            ),
            (
                "UPDATE tests SET title = $1, status = 'running' WHERE id = $2",
                vec![
                    format!("edited by app {task}").into(),
                    ((pick % 300) as i64 + 1).into(),
                ],
            ),
        ];
        for (sql, values) in statements {
            let started = Instant::now();
            let result = db
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    values,
                ))
                .await;
            traffic.slowest = traffic.slowest.max(started.elapsed());
            traffic.times.push(started.elapsed());
            traffic.statements += 1;
            if let Err(err) = result {
                traffic.failures.push(format!("{sql}: {err}"));
            }
        }
    }
    db.close().await.ok();
    traffic
}

scenario!(application_traffic_during_both_backfills on postgres; worker_threads = 4);
/// Three application sessions write while both backfills run: none of their statements
/// fails or waits past the lock timeout's bound, and both backfills complete.
async fn application_traffic_during_both_backfills(backend: Backend) {
    let tdb = TestDb::new(backend, "traffic").await;
    let db = tdb.migrated().await;
    tdb.seed("--tests 300 --memory-rows 1000 --null-project-id 0.5 --alias-project-id 0.05");
    let min_test = int(&db, "SELECT MIN(id) FROM tests").await;
    assert_eq!(min_test, 1, "the seeded tests are numbered from 1");
    let node_ids: Vec<String> = texts(&db, "SELECT CAST(id AS TEXT) FROM nodes")
        .await
        .into_iter()
        .flatten()
        .collect();
    let node_ids = Arc::new(node_ids);

    let stop = Arc::new(AtomicBool::new(false));
    let sessions: Vec<_> = (0..3)
        .map(|task| {
            tokio::spawn(application(
                tdb.url.clone(),
                task,
                node_ids.clone(),
                stop.clone(),
            ))
        })
        .collect();
    // Let the sessions get going first.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let lock_timeout = 0.5;
    let runs = [
        vec![
            "backfill-project-id",
            "--sleep",
            "0",
            "--batch-size",
            "50",
            "--lock-timeout",
            "0.5",
        ],
        vec!["backfill-features", "--batch-size", "20"],
    ];
    let mut outputs = Vec::new();
    for args in runs {
        let mut run = tdb.json_command(&args);
        let out = tokio::task::spawn_blocking(move || run.output().expect("run backfill"))
            .await
            .expect("join");
        outputs.push((args, out));
    }
    stop.store(true, Ordering::SeqCst);
    let mut total = Traffic::default();
    for session in sessions {
        let t = session.await.expect("session");
        total.statements += t.statements;
        total.failures.extend(t.failures);
        total.slowest = total.slowest.max(t.slowest);
        total.times.extend(t.times);
    }
    total.times.sort();
    let p99 = total.times.get(total.times.len() * 99 / 100).copied();
    // A figure, not an assertion: `cargo test --test it application_traffic -- --nocapture`.
    eprintln!(
        "application statements: {}, p99 {:?}, slowest {:?}",
        total.statements,
        p99.unwrap_or_default(),
        total.slowest
    );
    for (args, out) in &outputs {
        assert_eq!(code(out), 0, "{args:?}: {}", describe(out));
    }
    assert!(total.statements > 0);
    assert!(
        total.failures.is_empty(),
        "application statements failed: {:?}",
        total.failures
    );
    // The default lock timeout of the features run is 2 s; project-id ran with 0.5 s.
    let bound = Duration::from_secs_f64(2.0_f64.max(lock_timeout) + 2.0);
    assert!(
        total.slowest <= bound,
        "an application statement waited {:?} (bound {bound:?})",
        total.slowest
    );

    for table in MEMORY_TABLES {
        assert_eq!(
            int(
                &db,
                &format!("SELECT COUNT(*) FROM \"{table}\" WHERE project_id IS NULL")
            )
            .await,
            0,
            "{table} still holds NULLs"
        );
    }
    // Every feature each test lists is there, as its payload says.
    let features = snapshot(&db).await.features;
    let titles: BTreeMap<i64, String> =
        rows(&db, "SELECT CAST(id AS TEXT), title FROM test_features")
            .await
            .into_iter()
            .map(|r| {
                (
                    r[0].as_deref().unwrap().parse().unwrap(),
                    r[1].clone().unwrap(),
                )
            })
            .collect();
    let mut listed = 0;
    for row in rows(&db, "SELECT CAST(id AS TEXT), data FROM tests ORDER BY id").await {
        let test: i64 = row[0].as_deref().unwrap().parse().unwrap();
        let payload: Value = serde_json::from_str(row[1].as_deref().unwrap()).expect("JSON");
        let list = features_listed(&payload).cloned().unwrap_or_default();
        for feature in list {
            let Some(id) = feature["id"].as_i64() else {
                continue;
            };
            listed += 1;
            let (owner, _) = features
                .get(&id)
                .unwrap_or_else(|| panic!("feature {id} of test {test} is missing"));
            assert_eq!(*owner, test, "feature {id}");
            assert_eq!(
                titles[&id],
                feature["title"].as_str().unwrap_or_default(),
                "feature {id}"
            );
        }
    }
    assert!(listed > 0);
}
