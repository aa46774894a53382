//! The fill itself: NULLs and aliases set to `io` row for row, another project's rows
//! left alone, rows the database rejects isolated and logged, and row locks of the
//! application waited out.

use std::collections::BTreeSet;
use std::time::Duration;

use migration::MEMORY_TABLES;
use sea_orm::TransactionTrait;

use super::*;

scenario!(fills_nulls_and_aliases_exactly on sqlite, postgres, mysql);
/// NULLs and aliases scattered over tables with holes: each becomes `io`, each alias
/// is logged once, and a second run changes nothing.
async fn fills_nulls_and_aliases_exactly(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_scattered").await;
    let db = tdb.migrated().await;
    let before = scattered_legacy(&db).await;

    let (code, summary) = backfill_project_id(&tdb, &["--sleep", "0", "--batch-size", "7"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["passed"], true, "{summary}");
    assert_eq!(summary["tables"].as_array().unwrap().len(), 11);

    for (table, rows) in &before {
        let t = table_of(&summary, table);
        let expected_updates = nulls(rows) + aliases(rows);
        assert!(
            nulls(rows) > 0 && aliases(rows) >= ALIASES.len(),
            "{table}: test data"
        );
        assert_eq!(num(t, "processed"), rows.len() as i64, "{table}: {t}");
        assert_eq!(num(t, "updated"), expected_updates as i64, "{table}: {t}");
        assert_eq!(num(t, "normalized"), aliases(rows) as i64, "{table}: {t}");
        assert_eq!(num(t, "rejected"), 0, "{table}: {t}");
        assert_eq!(
            num(t, "batches"),
            rows.len().div_ceil(7) as i64,
            "{table}: {t}"
        );
        assert_eq!(num(t, "null_count"), 0, "{table}: {t}");
        assert_eq!(t["constraint_validated"], true, "{table}: {t}");

        // Every NULL and alias is 'io' now; 'aurora' and 'io' rows are as they were.
        let after = by_id(&project_ids(&db, table).await);
        assert_eq!(
            after.len(),
            rows.len(),
            "{table}: no row appeared or vanished"
        );
        for (id, old) in rows {
            let expected = match old.as_deref() {
                Some("aurora") => Some("aurora"),
                _ => Some("io"),
            };
            assert_eq!(
                after[id].as_deref(),
                expected,
                "{table} row {id} (was {old:?})"
            );
        }

        // One legacy_alias anomaly per alias row, naming the old value.
        let logged = anomalies_of(&db, table, "legacy_alias").await;
        let expected_ids: BTreeSet<&String> = rows
            .iter()
            .filter(|(_, v)| v.as_deref().is_some_and(|v| ALIASES.contains(&v)))
            .map(|(id, _)| id)
            .collect();
        let logged_ids: BTreeSet<&String> = logged.iter().map(|(id, _)| id).collect();
        assert_eq!(logged_ids, expected_ids, "{table}: legacy_alias anomalies");
        assert_eq!(logged.len(), expected_ids.len(), "{table}: no twins");
        let old_of = by_id(rows);
        for (id, description) in &logged {
            let alias = old_of[id].clone().expect("an alias");
            let description = description.clone().unwrap_or_default();
            assert!(
                description.contains(&format!("{alias:?}")),
                "{table} row {id}: {description:?} should name {alias:?}"
            );
        }
    }
    for table in MEMORY_TABLES.iter().filter(|t| !before.contains_key(*t)) {
        let t = table_of(&summary, table);
        assert_eq!(num(t, "processed"), 0, "{t}");
        assert_eq!(num(t, "null_count"), 0, "{t}");
        assert_eq!(t["constraint_validated"], true, "{t}");
    }
    let anomaly_count = int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await;
    assert_eq!(
        anomaly_count as usize,
        before.values().map(|rows| aliases(rows)).sum::<usize>(),
        "only legacy_alias anomalies"
    );

    // A second run changes nothing and logs nothing new.
    let snapshot = dump(&db).await;
    let (code, second) = backfill_project_id(&tdb, &["--sleep", "0", "--batch-size", "7"]);
    assert_eq!(code, 0, "{second}");
    for table in MEMORY_TABLES {
        let t = table_of(&second, table);
        assert_eq!(num(t, "updated"), 0, "{table}: {t}");
        assert_eq!(num(t, "normalized"), 0, "{table}: {t}");
    }
    for table in before.keys() {
        assert_eq!(
            num(table_of(&second, table), "processed"),
            before[table].len() as i64
        );
    }
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await,
        anomaly_count
    );
    let mut data_after: Vec<String> = dump(&db).await;
    let mut data_before = snapshot;
    // Only the ledger gains a run; the data and the anomalies stay as they were.
    data_after.retain(|l| !l.starts_with("run "));
    data_before.retain(|l| !l.starts_with("run "));
    assert_eq!(data_after, data_before);

    // An alias that comes back is normalized again; its open anomaly is refreshed, not
    // twinned.
    let (id, _) = before["working_memory"]
        .iter()
        .find(|(_, v)| v.as_deref() == Some("ethr"))
        .expect("an 'ethr' row")
        .clone();
    exec(
        &db,
        &format!("UPDATE working_memory SET project_id = 'ethr' WHERE id = {id}"),
    )
    .await;
    let (code, third) = backfill_project_id(&tdb, &["--sleep", "0", "--table", "working_memory"]);
    assert_eq!(code, 0, "{third}");
    let t = table_of(&third, "working_memory");
    assert_eq!(num(t, "updated"), 1, "{t}");
    assert_eq!(num(t, "normalized"), 1, "{t}");
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await,
        anomaly_count
    );
    assert_eq!(
        int(
            &db,
            &format!(
                "SELECT COUNT(*) FROM backfill_anomalies WHERE table_name = 'working_memory' \
                 AND row_id = '{id}' AND kind = 'legacy_alias'"
            )
        )
        .await,
        1
    );
}

scenario!(rejected_rows_are_isolated_and_logged on sqlite, postgres, mysql);
/// Rows the database rejects: each is found by bisecting its batch, keeps its NULL and
/// is logged with the database's message, and validation fails on them.
async fn rejected_rows_are_isolated_and_logged(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_rejected").await;
    let db = tdb.migrated().await;
    // 100 rows: mostly NULL, some aliases, some already 'io' or 'aurora'.
    let values: Vec<Option<&str>> = (0..100)
        .map(|i| match i % 10 {
            1 => Some("ethr"),
            5 => Some("io"),
            7 => Some("aurora"),
            _ => None,
        })
        .collect();
    let rows = insert_legacy(&db, "working_memory", &values).await;
    // Three NULL rows, two of them neighbours (bisection must split between them).
    let held: Vec<String> = [22usize, 23, 68]
        .iter()
        .map(|&i| {
            assert!(rows[i].1.is_none());
            rows[i].0.clone()
        })
        .collect();
    hold_rows(&db, &held).await;

    let (code, summary) = backfill_project_id(
        &tdb,
        &[
            "--sleep",
            "0",
            "--batch-size",
            "7",
            "--table",
            "working_memory",
        ],
    );
    assert_eq!(code, 1, "validation fails: {summary}");
    assert_eq!(summary["passed"], false);
    let t = table_of(&summary, "working_memory");
    assert_eq!(num(t, "processed"), 100, "{t}");
    assert_eq!(num(t, "rejected"), 3, "{t}");
    assert_eq!(
        num(t, "updated"),
        (nulls(&rows) + aliases(&rows) - 3) as i64,
        "{t}"
    );
    assert_eq!(num(t, "normalized"), aliases(&rows) as i64, "{t}");
    assert_eq!(num(t, "null_count"), 3, "{t}");
    // PostgreSQL: the NOT VALID check cannot be validated over NULLs. SQLite and MySQL
    // report whether the triggers enforce it (SPEC §5.6), which they still do.
    assert_eq!(
        t["constraint_validated"],
        backend != Backend::Postgres,
        "{t}"
    );

    let after = by_id(&project_ids(&db, "working_memory").await);
    for (id, old) in &rows {
        let expected = if held.contains(id) {
            None
        } else if old.as_deref() == Some("aurora") {
            Some("aurora")
        } else {
            Some("io")
        };
        assert_eq!(after[id].as_deref(), expected, "row {id} (was {old:?})");
    }
    let rejected = anomalies_of(&db, "working_memory", "row_rejected").await;
    let rejected_ids: BTreeSet<&String> = rejected.iter().map(|(id, _)| id).collect();
    assert_eq!(rejected_ids, held.iter().collect::<BTreeSet<_>>());
    assert_eq!(rejected.len(), 3);
    for (id, description) in &rejected {
        assert!(
            description
                .as_deref()
                .unwrap_or_default()
                .contains("held by legal"),
            "row {id}: the database's message, got {description:?}"
        );
    }

    // Text output names the table and its NULL count; a re-run refreshes the same
    // anomalies instead of adding twins.
    let anomaly_count = int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await;
    let text = tdb.cli(&[
        "backfill-project-id",
        "--sleep",
        "0",
        "--table",
        "working_memory",
    ]);
    assert_exit(&text, 1, "a text run");
    let printed = stdout(&text);
    assert!(
        printed
            .lines()
            .any(|l| l.contains("working_memory") && l.contains(" 3 ") && l.contains("NULL")),
        "the table and its NULL count: {printed}"
    );
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await,
        anomaly_count
    );
}

scenario!(waits_out_a_row_lock on postgres, mysql);
/// Row locks held by the application: the batch that meets one times out, is rolled
/// back and retried until the lock is gone. MySQL's lock wait timeout is whole seconds
/// (0.2 s becomes 1 s), and a timed-out statement (1205) leaves its transaction open.
async fn waits_out_a_row_lock(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_lock").await;
    let db = tdb.migrated().await;
    let values: Vec<Option<&str>> = (0..60)
        .map(|i| if i % 3 == 0 { Some("io") } else { None })
        .collect();
    let rows = insert_legacy(&db, "working_memory", &values).await;
    let locked = rows[31].0.clone();
    assert!(rows[31].1.is_none());

    // The application: another connection holds a row lock on a NULL row.
    let app = sea_orm::Database::connect(&tdb.url)
        .await
        .expect("second connection");
    let txn = app.begin().await.expect("begin");
    let held = ints(
        &txn,
        &format!("SELECT CAST(id AS BIGINT) FROM working_memory WHERE id = {locked} FOR UPDATE"),
    )
    .await;
    assert_eq!(held.len(), 1);
    // Held past at least one lock timeout of the run.
    let hold = match backend {
        Backend::Mysql => Duration::from_millis(2500),
        _ => Duration::from_millis(1500),
    };
    let release = tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        txn.commit().await.expect("release the lock");
    });

    let mut run = tdb.json_command(&[
        "-v",
        "backfill-project-id",
        "--lock-timeout",
        "0.2",
        "--sleep",
        "0",
        "--batch-size",
        "10",
        "--table",
        "working_memory",
    ]);
    let out = tokio::task::spawn_blocking(move || run.output().expect("run backfill"))
        .await
        .expect("the CLI thread");
    release.await.expect("the lock holder");

    assert_exit(&out, 0, "a run meeting a row lock");
    assert!(
        stderr(&out).contains("waited too long for locks"),
        "the batch timed out and was retried: {}",
        describe(&out)
    );
    let summary = json(&out);
    let t = table_of(&summary, "working_memory");
    assert_eq!(num(t, "updated"), nulls(&rows) as i64, "{t}");
    assert_eq!(num(t, "null_count"), 0, "{t}");
    assert_eq!(num(t, "processed"), 60, "{t}");
    assert_eq!(t["constraint_validated"], true, "{t}");
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM working_memory WHERE project_id IS NULL"
        )
        .await,
        0
    );
    assert_eq!(
        texts(
            &db,
            &format!("SELECT project_id FROM working_memory WHERE id = {locked}")
        )
        .await,
        vec![Some("io".to_string())]
    );
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM backfill_anomalies WHERE kind = 'lock_timeout'"
        )
        .await,
        0
    );
    // Every changed row is journaled exactly once, retries notwithstanding.
    let journaled = journal_of(&db, None).await;
    assert_eq!(journaled.len(), nulls(&rows));
}
