//! A run stopped mid-table (kill -9, Ctrl-C) and continued with `--resume`: whole
//! batches only, every row journaled once, and the resumed run keeps its tables.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::*;

/// `n` rows in working_memory: every even one NULL, every tenth+1 the alias 'ethr', the
/// rest 'io'. Returns (id, project_id) of all of them.
async fn many_legacy_rows(db: &Db, n: u32) -> Vec<(String, Option<String>)> {
    lift(db, "working_memory").await;
    let generate = match Backend::of(db) {
        Backend::Postgres => format!(
            "INSERT INTO working_memory (content, project_id) \
             SELECT 'note ' || i, CASE WHEN i % 2 = 0 THEN NULL WHEN i % 10 = 1 THEN 'ethr' ELSE 'io' END \
             FROM generate_series(1, {n}) AS s(i)"
        ),
        Backend::Sqlite => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
             INSERT INTO working_memory (content, project_id) \
             SELECT 'note ' || i, CASE WHEN i % 2 = 0 THEN NULL WHEN i % 10 = 1 THEN 'ethr' ELSE 'io' END FROM s"
        ),
        // MariaDB stops a recursive CTE after 1000 rows unless told otherwise.
        Backend::Mysql => format!(
            "SET STATEMENT max_recursive_iterations = {n} FOR \
             INSERT INTO working_memory (content, project_id) \
             WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
             SELECT CONCAT('note ', i), CASE WHEN i % 2 = 0 THEN NULL WHEN i % 10 = 1 THEN 'ethr' ELSE 'io' END FROM s"
        ),
    };
    exec(db, &generate).await;
    restore(db, "working_memory").await;
    let rows = project_ids(db, "working_memory").await;
    assert_eq!(rows.len(), n as usize);
    assert_eq!(nulls(&rows), n as usize / 2);
    assert_eq!(aliases(&rows), n as usize / 10);
    rows
}

/// Starts a slow backfill of working_memory in the background.
fn start_slow_backfill(tdb: &TestDb) -> Child {
    tdb.command(&[
        "backfill-project-id",
        "--batch-size",
        "50",
        "--sleep",
        "0.01",
        "--table",
        "working_memory",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start backfill")
}

/// `backfill-project-id --resume --sleep 0` with `flags`: its exit code and summary.
fn resume(tdb: &TestDb, flags: &[&str]) -> (i32, Value) {
    backfill_project_id(tdb, &[&["--resume", "--sleep", "0"][..], flags].concat())
}

/// Starts the slow backfill, waits for a committed checkpoint, then kills it (-9).
async fn kill_after_checkpoint(tdb: &TestDb, db: &Db) {
    let mut child = start_slow_backfill(tdb);
    wait_for_checkpoint(db, &mut child).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reap the killed process");
}

/// Waits until the running backfill has committed a checkpoint of working_memory.
async fn wait_for_checkpoint(db: &Db, child: &mut Child) {
    let mut polls = 0;
    loop {
        let checkpoints = texts(
            db,
            "SELECT CAST(checkpoint AS TEXT) FROM backfill_ranges WHERE unit = 'working_memory'",
        )
        .await;
        let committed = checkpoints.iter().flatten().any(|c| {
            let checkpoint: Value = serde_json::from_str(c).expect("checkpoint JSON");
            checkpoint["counters"]["batches"].as_u64().unwrap_or(0) > 0
        });
        if committed {
            return;
        }
        if let Some(status) = child.try_wait().expect("poll the child") {
            panic!("backfill ended before it was stopped: {status}");
        }
        polls += 1;
        assert!(polls < 3000, "no checkpoint appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

scenario!(after_kill_9 on sqlite, postgres, mysql);
/// kill -9 mid-table, then `--resume`: the interrupted run continues and its journal
/// lists every changed row once, with its old value.
async fn after_kill_9(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_resume").await;
    let db = tdb.migrated().await;
    let original = many_legacy_rows(&db, 20_000).await;

    kill_after_checkpoint(&tdb, &db).await;

    let run_id = int(&db, "SELECT id FROM backfill_runs").await;
    assert_eq!(
        texts(&db, "SELECT status FROM backfill_runs").await,
        vec![Some("running".to_string())],
        "killed mid-run"
    );
    let left = int(
        &db,
        "SELECT COUNT(*) FROM working_memory WHERE project_id IS NULL",
    )
    .await;
    assert!(
        left > 0 && left < 10_000,
        "killed mid-table: {left} NULLs left"
    );

    let (code, summary) = resume(&tdb, &["--batch-size", "50", "--table", "working_memory"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["run_id"], run_id, "the interrupted run continues");
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_runs").await, 1);
    assert_eq!(
        texts(&db, "SELECT status FROM backfill_runs").await,
        vec![Some("done".to_string())]
    );
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM working_memory WHERE project_id = 'io'"
        )
        .await,
        20_000
    );

    // The journal lists every originally NULL (or alias) row exactly once, with its old
    // value; the counters agree.
    let journaled = journal_of(&db, Some(run_id)).await;
    let mut seen = BTreeMap::new();
    for (id, old) in &journaled {
        assert!(
            seen.insert(id.clone(), old.clone()).is_none(),
            "row {id} journaled twice"
        );
    }
    let expected: BTreeMap<String, Option<String>> = original
        .iter()
        .filter(|(_, v)| v.as_deref() != Some("io"))
        .cloned()
        .collect();
    assert_eq!(seen, expected);
    let t = table_of(&summary, "working_memory");
    assert_eq!(num(t, "processed"), 20_000, "{t}");
    assert_eq!(num(t, "updated"), 12_000, "{t}");
    assert_eq!(num(t, "normalized"), 2_000, "{t}");
    assert_eq!(num(t, "updated") - num(t, "normalized"), 10_000, "{t}");
    assert_eq!(num(t, "batches"), 400, "{t}");
    assert_eq!(num(t, "null_count"), 0, "{t}");
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM backfill_anomalies WHERE kind = 'legacy_alias'"
        )
        .await,
        2_000
    );
}

scenario!(after_ctrl_c on sqlite, postgres, mysql);
/// Ctrl-C: the batch in flight finishes whole, the run ends with 130 as `interrupted`,
/// and `--resume` finishes it.
async fn after_ctrl_c(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_sigint").await;
    let db = tdb.migrated().await;
    let original = many_legacy_rows(&db, 10_000).await;

    let mut child = start_slow_backfill(&tdb);
    wait_for_checkpoint(&db, &mut child).await;
    send_signal(&child, "-INT");
    let out = child.wait_with_output().expect("wait for backfill");
    assert_exit(&out, 130, "a run stopped with Ctrl-C");
    assert!(
        stderr(&out).contains("--resume"),
        "says how to continue: {}",
        describe(&out)
    );
    assert_eq!(
        texts(&db, "SELECT status FROM backfill_runs").await,
        vec![Some("interrupted".to_string())]
    );
    // Whole batches only: the rows changed are exactly the journaled ones, and they are
    // a prefix of the table in key order.
    let journaled = journal_of(&db, None).await;
    let changed: BTreeSet<String> = journaled.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(changed.len(), journaled.len());
    let now = project_ids(&db, "working_memory").await;
    for ((id, old), (_, value)) in original.iter().zip(&now) {
        let expected = if changed.contains(id) {
            Some("io".to_string())
        } else {
            old.clone()
        };
        assert_eq!(value, &expected, "row {id}");
    }
    assert!(nulls(&now) > 0, "interrupted mid-table");

    let (code, summary) = resume(&tdb, &["--table", "working_memory"]);
    assert_eq!(code, 0, "{summary}");
    let t = table_of(&summary, "working_memory");
    assert_eq!(num(t, "processed"), 10_000, "{t}");
    assert_eq!(num(t, "updated"), 6_000, "{t}");
    assert_eq!(num(t, "null_count"), 0, "{t}");
    assert_eq!(journal_of(&db, None).await.len(), 6_000);
    assert_eq!(
        texts(&db, "SELECT status FROM backfill_runs").await,
        vec![Some("done".to_string())]
    );
}

scenario!(keeps_its_tables_and_takes_its_pace_from_the_new_command_line on sqlite, postgres, mysql);
/// A resumed run keeps what it was started on (its tables) and takes its pace and its
/// validation from the new command line (`--help` of `--resume` says so).
async fn keeps_its_tables_and_takes_its_pace_from_the_new_command_line(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_resume_settings").await;
    let db = tdb.migrated().await;
    many_legacy_rows(&db, 20_000).await;
    kill_after_checkpoint(&tdb, &db).await;
    let checkpoints = unit_checkpoints(&db, 1).await;
    let done = &checkpoints["working_memory"]["counters"];
    let (processed, batches) = (num(done, "processed"), num(done, "batches"));
    assert!(processed < 20_000, "killed mid-table");

    let (code, summary) = resume(
        &tdb,
        &["--batch-size", "1000", "--table", "nodes", "--no-validate"],
    );
    assert_eq!(code, 0, "{summary}");
    let tables: Vec<&str> = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert_eq!(
        tables,
        ["working_memory"],
        "the run's own tables, not --table"
    );
    let table = table_of(&summary, "working_memory");
    assert_eq!(
        num(table, "batches"),
        batches + (20_000 - processed + 999) / 1000,
        "the rest walked in batches of the new --batch-size"
    );
    assert!(
        table.get("null_count").is_none(),
        "--no-validate of the new command line"
    );
}
