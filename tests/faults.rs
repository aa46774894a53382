//! Fault injection (SPEC §5 exit codes, §5.4, §5.5, §6): the real binary killed with
//! SIGKILL at seeded points, its PostgreSQL connections terminated under it, stopped with
//! Ctrl-C, pointed at read-only databases, started twice at once, and run beside live
//! application traffic. After each fault the database must end exactly where an
//! uninterrupted run on an identical copy ends, with no anomaly or journal row twice.
//! Outcomes only: no assertion on how long anything took (bar the latency bound the
//! spec promises application traffic).

mod common;
use common::runs::*;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use migration::MEMORY_TABLES;
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value as DbValue,
};
use serde_json::Value;

// ---------------------------------------------------------------------------------
// 1. kill -9 at seeded points
// ---------------------------------------------------------------------------------

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
        let mut child = spawn(&tdb, &job.slow_args());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_project_id_sqlite() {
    // 88 batches in all; kill within the first 70 so the run is surely still going.
    let points = kill_points(0x5EED_0001, 10, 70);
    kill_9_at(Backend::Sqlite, Job::ProjectId, &points).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_features_sqlite() {
    // 20 batches of tests, then 60 of bugs.
    let points = kill_points(0x5EED_0002, 10, 65);
    kill_9_at(Backend::Sqlite, Job::Features, &points).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_project_id_postgres() {
    let points = kill_points(0x5EED_0003, 3, 70);
    kill_9_at(Backend::Postgres, Job::ProjectId, &points).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_features_postgres() {
    let points = kill_points(0x5EED_0004, 3, 65);
    kill_9_at(Backend::Postgres, Job::Features, &points).await;
}

// ---------------------------------------------------------------------------------
// 2. PostgreSQL connections terminated mid-run
// ---------------------------------------------------------------------------------

async fn terminate_others(db: &DatabaseConnection) -> i64 {
    let killed = ints(
        db,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
    )
    .await;
    killed[0]
}

/// One connection of its own, so terminating "every other backend" spares the test.
async fn single_connection(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    sea_orm::Database::connect(options)
        .await
        .expect("connect the test's own connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_terminated_mid_run() {
    for job in [Job::ProjectId, Job::Features] {
        let want = baseline(Backend::Postgres, job).await;
        let (tdb, pool) = seeded(Backend::Postgres, "terminated").await;
        pool.close().await.ok();
        let db = single_connection(&tdb.url).await;
        let mut child = spawn(&tdb, &[&["-q"], &job.slow_args()[..]].concat());
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

// ---------------------------------------------------------------------------------
// 3. Ctrl-C mid-run
// ---------------------------------------------------------------------------------

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
async fn walk_positions(db: &DatabaseConnection, table: &str) -> BTreeMap<String, String> {
    let sql = match (backend_of(db), table) {
        (Backend::Sqlite, "nodes" | "edges") => {
            format!("SELECT id, CAST(rowid AS TEXT) FROM {table}")
        }
        _ => format!("SELECT CAST(id AS TEXT), CAST(id AS TEXT) FROM {table}"),
    };
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            common::dialect(db, &sql),
        ))
        .await
        .expect("walk positions");
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index(0).expect("id"),
                r.try_get_by_index(1).expect("position"),
            )
        })
        .collect()
}

fn checkpoint_after<'a>(checkpoints: &'a Value, unit: &str) -> Option<&'a Value> {
    checkpoints
        .get(unit)
        .map(|c| &c["after"])
        .filter(|a| !a.is_null())
}

async fn ctrl_c(backend: Backend, job: Job) {
    let want = baseline(backend, job).await;
    let (tdb, db) = seeded(backend, "sigint").await;
    let before = snapshot(&db).await;
    let mut child = spawn(&tdb, &job.slow_args());
    wait_for_batches(&db, &mut child, 12).await;
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let out = child.wait_with_output().expect("wait for the run");
    let context = format!("{job:?} on {backend:?} after Ctrl-C");
    assert_eq!(code(&out), 130, "{context}: {}", describe(&out));
    let sentence = one_sentence(&out);
    assert!(sentence.contains("--resume"), "{context}: {sentence}");
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

    let out = run(&tdb, &job.fast_args(true));
    let got = outcome(&db, code(&out)).await;
    assert_outcome(&got, &want, &format!("{context}, resumed"));
    assert_eq!(runs_of(&db, job).await[0].0, "done");
}

async fn ctrl_c_project_id(backend: Backend) {
    ctrl_c(backend, Job::ProjectId).await;
}

async fn ctrl_c_features(backend: Backend) {
    ctrl_c(backend, Job::Features).await;
}

// ---------------------------------------------------------------------------------
// 4. Read-only databases
// ---------------------------------------------------------------------------------

/// Everything a command could write, counted and dumped.
async fn everything(db: &DatabaseConnection) -> (Snapshot, Vec<i64>) {
    let mut counts = Vec::new();
    for table in [
        "tests",
        "bugs",
        "test_features",
        "backfill_runs",
        "backfill_anomalies",
        "backfill_journal",
    ] {
        counts.push(int(db, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    (snapshot(db).await, counts)
}

async fn read_only_refused(backend: Backend) {
    let (tdb, db) = seeded(backend, "read_only").await;
    let before = everything(&db).await;
    let read_only_url = match backend {
        Backend::Sqlite => {
            db.close().await.ok();
            format!(
                "sqlite://{}?mode=ro",
                tdb.path.as_ref().expect("a file").display()
            )
        }
        Backend::Postgres => {
            let name = url::Url::parse(&tdb.url).unwrap().path()[1..].to_string();
            exec(
                &db,
                &format!("ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"),
            )
            .await;
            db.close().await.ok();
            tdb.url.clone()
        }
        Backend::Mysql => {
            // A user granted only SELECT (root ignores the server's read_only).
            let name = url::Url::parse(&tdb.url).unwrap().path()[1..].to_string();
            let user = format!("ro_{}", &name[name.len().saturating_sub(20)..]);
            exec(&db, &format!("DROP USER IF EXISTS '{user}'@'%'")).await;
            exec(&db, &format!("CREATE USER '{user}'@'%'")).await;
            exec(&db, &format!("GRANT SELECT ON `{name}`.* TO '{user}'@'%'")).await;
            let mut url = url::Url::parse(&tdb.url).unwrap();
            url.set_username(&user).unwrap();
            url.to_string()
        }
    };
    for args in [
        vec!["backfill-features"],
        vec!["backfill-project-id", "--sleep", "0"],
        SEED.to_vec(),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_backfill"))
            .args(&args)
            .env("DATABASE_URL", &read_only_url)
            .env_remove("BACKFILL_LOG")
            .output()
            .expect("run backfill");
        assert_eq!(code(&out), 2, "{args:?} on {backend:?}: {}", describe(&out));
        let sentence = one_sentence(&out);
        assert!(sentence.contains("read-only"), "{args:?}: {sentence}");
    }
    let db = tdb.connect().await;
    assert_eq!(everything(&db).await, before, "nothing was written");
    if backend == Backend::Mysql {
        let user = url::Url::parse(&read_only_url)
            .unwrap()
            .username()
            .to_string();
        exec(&db, &format!("DROP USER '{user}'@'%'")).await;
    }
    // (The database is dropped read-only as it is: DROP DATABASE runs from elsewhere.)
}

// ---------------------------------------------------------------------------------
// 5. Two processes at once
// ---------------------------------------------------------------------------------

async fn two_processes_at_once(backend: Backend) {
    let want = baseline(backend, Job::ProjectId).await;
    let (tdb, db) = seeded(backend, "two_at_once").await;
    let args = Job::ProjectId.fast_args(false);
    let a = spawn(&tdb, &args);
    let b = spawn(&tdb, &args);
    let outs = [
        a.wait_with_output().expect("first"),
        b.wait_with_output().expect("second"),
    ];
    let mut codes: Vec<i32> = outs.iter().map(code).collect();
    codes.sort();
    match codes[..] {
        [0, 0] => {}
        [0, 2] => {
            let refused = outs.iter().find(|o| code(o) == 2).unwrap();
            let sentence = one_sentence(refused);
            assert!(
                sentence.contains("in progress") || sentence.contains("same moment"),
                "names the other run: {sentence}"
            );
        }
        _ => panic!("{codes:?}:\n{}\n{}", describe(&outs[0]), describe(&outs[1])),
    }
    let got = outcome(&db, 0).await;
    assert_outcome(&got, &want, &format!("two runs at once on {backend:?}"));
    let statuses: Vec<String> = runs_of(&db, Job::ProjectId)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert!(statuses.iter().all(|s| s == "done"), "{statuses:?}");
}

/// Two `--resume` of the same interrupted run at once: exactly one continues it, the
/// other is refused (while it runs, or finding nothing left to resume).
async fn two_resumes_at_once(backend: Backend) {
    let want = baseline(backend, Job::ProjectId).await;
    let (tdb, db) = seeded(backend, "two_resumes").await;
    let mut child = spawn(&tdb, &Job::ProjectId.slow_args());
    wait_for_batches(&db, &mut child, 5).await;
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 130, "{}", describe(&out));

    let mut args = Job::ProjectId.slow_args();
    args.push("--resume");
    let a = spawn(&tdb, &args);
    let b = spawn(&tdb, &args);
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut codes: Vec<i32> = outs.iter().map(code).collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![0, 2],
        "one resumes, one is refused:\n{}\n{}",
        describe(&outs[0]),
        describe(&outs[1])
    );
    one_sentence(outs.iter().find(|o| code(o) == 2).unwrap());
    let got = outcome(&db, 0).await;
    assert_outcome(&got, &want, &format!("two resumes on {backend:?}"));
    assert_eq!(runs_of(&db, Job::ProjectId).await.len(), 1);
}

on_every_backend!(
    two_resumes_at_once,
    ctrl_c_project_id,
    ctrl_c_features,
    read_only_refused,
    two_processes_at_once
);

// ---------------------------------------------------------------------------------
// 6. Application traffic during both backfills (PostgreSQL)
// ---------------------------------------------------------------------------------

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn application_traffic_during_both_backfills() {
    let tdb = TestDb::new(Backend::Postgres, "traffic").await;
    let db = tdb.migrated().await;
    let out = run(
        &tdb,
        &[
            "seed",
            "--tests",
            "300",
            "--memory-rows",
            "1000",
            "--null-project-id",
            "0.5",
            "--alias-project-id",
            "0.05",
        ],
    );
    assert_eq!(code(&out), 0, "{}", describe(&out));
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
        let cmd = binary(&tdb, &args);
        let out = tokio::task::spawn_blocking(move || {
            let mut cmd = cmd;
            cmd.output().expect("run backfill")
        })
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
    // A figure, not an assertion: `cargo test --test faults application -- --nocapture`.
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
        let list = payload
            .get("features")
            .or_else(|| payload.pointer("/exploratory_test/features"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
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

// ---------------------------------------------------------------------------------
// 7. Runs paused, continued and cancelled from another process; health holds;
//    batch sizes adapted to --batch-time
// ---------------------------------------------------------------------------------

/// The id of the newest unfinished run, as `runs` lists it.
fn unfinished_run(tdb: &TestDb) -> i64 {
    let out = run(tdb, &["runs"]);
    assert_eq!(code(&out), 0, "runs: {}", describe(&out));
    let listed: Value = serde_json::from_str(&stdout(&out)).expect("runs prints JSON");
    listed[0]["id"].as_i64().expect("an unfinished run")
}

/// Run `id` as `runs --run ID` shows it.
fn shown_run(tdb: &TestDb, id: i64) -> Value {
    let out = run(tdb, &["runs", "--run", &id.to_string()]);
    assert_eq!(code(&out), 0, "runs --run: {}", describe(&out));
    serde_json::from_str::<Value>(&stdout(&out)).expect("runs prints JSON")[0].clone()
}

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

/// A run slow enough (about five seconds) to be paused while it works.
const PAUSABLE: &[&str] = &[
    "backfill-project-id",
    "--batch-size",
    "25",
    "--sleep",
    "0.05",
];

async fn pause_continue_and_cancel(backend: Backend) {
    let (tdb, db) = seeded(backend, "pause").await;
    let mut child = spawn(&tdb, PAUSABLE);
    wait_for_batches(&db, &mut child, 3).await;
    let id = unfinished_run(&tdb);
    let out = run(&tdb, &["runs", "pause", &id.to_string()]);
    assert_eq!(code(&out), 0, "pause: {}", describe(&out));
    // The batch in flight may still commit; after that, nothing does.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let paused_at = batches_committed(&db).await;
    lock_every_table(&tdb).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(batches_committed(&db).await, paused_at);
    assert_eq!(shown_run(&tdb, id)["status"], "paused");
    assert!(child.try_wait().unwrap().is_none(), "a paused run waits");

    let out = run(&tdb, &["runs", "continue", &id.to_string()]);
    assert_eq!(code(&out), 0, "continue: {}", describe(&out));
    let finished = child.wait_with_output().unwrap();
    assert_eq!(code(&finished), 0, "{}", describe(&finished));
    assert_eq!(shown_run(&tdb, id)["status"], "done");
    // Neither pause nor continue works on a finished run.
    let refused = run(&tdb, &["runs", "pause", &id.to_string()]);
    assert_eq!(code(&refused), 2);
    assert!(
        one_sentence(&refused).contains("is done"),
        "{}",
        describe(&refused)
    );

    let mut child = spawn(&tdb, PAUSABLE);
    let before = batches_committed(&db).await;
    wait_for_batches(&db, &mut child, before + 3).await;
    let second = unfinished_run(&tdb);
    assert_ne!(second, id);
    let out = run(&tdb, &["runs", "cancel", &second.to_string()]);
    assert_eq!(code(&out), 0, "cancel: {}", describe(&out));
    let cancelled = child.wait_with_output().unwrap();
    assert_eq!(code(&cancelled), 130, "{}", describe(&cancelled));
    assert_eq!(shown_run(&tdb, second)["status"], "cancelled");
    assert_eq!(
        unfinished_run(&tdb),
        second,
        "a cancelled run is listed as unfinished"
    );
    let resumed = run(&tdb, &Job::ProjectId.fast_args(true));
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

/// A fast table: from `--batch-size 100` the batches grow, so 330,000 rows take far
/// fewer than the 3,300 batches of the fixed size.
async fn batch_time_grows_batches(backend: Backend) {
    let tdb = TestDb::new(backend, "growth").await;
    let db = tdb.migrated().await;
    let seeded = run(
        &tdb,
        &[
            "seed",
            "--tests",
            "10",
            "--memory-rows",
            "30000",
            "--null-project-id",
            "0.5",
        ],
    );
    assert_eq!(code(&seeded), 0, "{}", describe(&seeded));
    let out = run(
        &tdb,
        &[
            "backfill-project-id",
            "--batch-size",
            "100",
            "--batch-time",
            "500ms",
            "--sleep",
            "0",
        ],
    );
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let tables = summary["tables"].as_array().unwrap();
    let batches: u64 = tables.iter().map(|t| t["batches"].as_u64().unwrap()).sum();
    assert!(batches < 1000, "{batches} batches");
    for table in tables {
        let sizes = &table["batch_sizes"];
        assert_eq!(sizes[0], 100, "{table}");
        assert!(sizes[1].as_u64().unwrap() > 1000, "{table}");
    }
    assert_eq!(
        int(&db, "SELECT count(*) FROM nodes WHERE project_id IS NULL").await,
        0
    );
}

on_every_backend!(pause_continue_and_cancel, batch_time_grows_batches);

/// A table where a trigger makes every written row slow: the batches shrink.
#[tokio::test(flavor = "multi_thread")]
async fn batch_time_shrinks_slow_batches() {
    let (tdb, db) = seeded(Backend::Postgres, "shrink").await;
    exec(
        &db,
        "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$; \
         CREATE TRIGGER slow_row BEFORE UPDATE ON nodes FOR EACH ROW EXECUTE FUNCTION slow_row();",
    )
    .await;
    let out = run(
        &tdb,
        &[
            "backfill-project-id",
            "--table",
            "nodes",
            "--batch-size",
            "200",
            "--batch-time",
            "50ms",
            "--sleep",
            "0",
        ],
    );
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let sizes = &summary["tables"][0]["batch_sizes"];
    assert!(sizes[0].as_u64().unwrap() < 200, "{sizes}");
    assert_eq!(
        int(&db, "SELECT count(*) FROM nodes WHERE project_id IS NULL").await,
        0
    );
}

/// An application session waits on another's row lock in the walked table: the run
/// holds (commits nothing, shows why) until the wait ends, then finishes.
#[tokio::test(flavor = "multi_thread")]
async fn lock_waiters_hold_the_run() {
    let (tdb, db) = seeded(Backend::Postgres, "waiters").await;
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
    let mut child = spawn(
        &tdb,
        &["backfill-project-id", "--table", "nodes", "--sleep", "0"],
    );
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

/// What the metrics endpoint at `addr` answers, once it answers.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            let request =
                format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            stream
                .write_all(request.as_bytes())
                .expect("send the scrape");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).expect("read the scrape");
            return answer;
        }
        assert!(Instant::now() < deadline, "no metrics at {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rows walked so far, summed over the tables, as the metrics say.
fn rows_in(scraped: &str) -> u64 {
    scraped
        .lines()
        .filter(|line| line.starts_with("backfill_rows_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The metrics endpoint answers while a run works, with counters that grow.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_grow_while_a_run_works() {
    let (tdb, db) = seeded(Backend::Sqlite, "metrics").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut args = PAUSABLE.to_vec();
    args.extend(["--metrics-addr", &addr]);
    let mut child = spawn(&tdb, &args);
    wait_for_batches(&db, &mut child, 2).await;
    let first = scrape(&addr);
    assert!(first.contains("200 OK"), "{first}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let second = scrape(&addr);
    assert!(rows_in(&second) > rows_in(&first), "{first}\n---\n{second}");
    for metric in [
        "backfill_batches_total",
        "backfill_batch_duration_seconds_bucket",
        "backfill_batch_size",
        "backfill_held{reason=\"lock_waiters\"} 0",
    ] {
        assert!(second.contains(metric), "{metric}: {second}");
    }
    let finished = child.wait_with_output().unwrap();
    assert_eq!(code(&finished), 0, "{}", describe(&finished));
}
