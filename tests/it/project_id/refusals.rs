//! What `backfill-project-id` refuses before it writes anything: table names outside
//! the eleven, durations without a unit it knows, a table without its column. And
//! the durations it takes.

use super::*;

scenario!(unknown_tables_are_refused on sqlite, postgres, mysql);
/// A table name outside the eleven, in any mode, is one sentence naming it and exit 2,
/// with nothing written or dropped.
async fn unknown_tables_are_refused(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_refuse").await;
    let db = tdb.migrated().await;
    let _ = scattered_legacy(&db).await;
    let snapshot = dump(&db).await;
    let edges_before = int(&db, "SELECT COUNT(*) FROM edges").await;

    let attempts: [&[&str]; 6] = [
        &[
            "backfill-project-id",
            "--sleep",
            "0",
            "--table",
            "nodes; DROP TABLE edges",
        ],
        &["backfill-project-id", "--sleep", "0", "--table", "bogus"],
        &[
            "backfill-project-id",
            "--sleep",
            "0",
            "--table",
            "working_memory",
            "--table",
            "bogus",
        ],
        &[
            "backfill-project-id",
            "--dry-run",
            "--table",
            "nodes; DROP TABLE edges",
        ],
        &["backfill-project-id", "--validate-only", "--table", "bogus"],
        &[
            "backfill-project-id",
            "--rollback",
            "--table",
            "nodes\"; DROP TABLE edges; --",
        ],
    ];
    for args in attempts {
        let out = tdb.cli(args);
        assert_exit(&out, 2, &format!("{args:?}"));
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: one sentence, got {err:?}");
        let bad = args
            .iter()
            .find(|a| a.contains("DROP") || **a == "bogus")
            .unwrap();
        assert!(
            lines[0].contains(bad),
            "{args:?}: names the refused table: {err}"
        );
        assert!(
            stdout(&out).trim().is_empty(),
            "{args:?}: {}",
            describe(&out)
        );
        assert_eq!(dump(&db).await, snapshot, "{args:?}: nothing changed");
    }
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_runs").await, 0);
    assert_eq!(int(&db, "SELECT COUNT(*) FROM edges").await, edges_before);
}

scenario!(duration_flags_take_units on sqlite, postgres, mysql);
/// `--sleep` and `--lock-timeout` take seconds or a number with a unit; a value that
/// is neither is one sentence and exit 2, before anything is written.
async fn duration_flags_take_units(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_durations").await;
    tdb.migrated().await;
    for args in [
        [
            "backfill-project-id",
            "--lock-timeout",
            "2s",
            "--sleep",
            "100ms",
        ],
        [
            "backfill-project-id",
            "--lock-timeout",
            "0.5",
            "--sleep",
            "0",
        ],
        [
            "backfill-features",
            "--lock-timeout",
            "1m",
            "--sleep",
            "0.01",
        ],
    ] {
        assert_exit(&tdb.cli(&args), 0, &format!("{args:?}"));
    }
    for (flag, value) in [("--sleep", "5parsecs"), ("--lock-timeout", "2h")] {
        let out = tdb.cli(&["backfill-project-id", flag, value]);
        assert_exit(&out, 2, &format!("{flag} {value}"));
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(value) && err.contains(flag), "{err}");
        assert!(stdout(&out).is_empty(), "{}", describe(&out));
    }
}

scenario!(a_missing_column_is_refused_before_anything_is_written on sqlite, postgres, mysql);
/// A table without its `project_id` column (the column's migration rolled back
/// elsewhere) is found before anything is written, a run row included: exit 2 naming
/// the table, the column and the fix.
async fn a_missing_column_is_refused_before_anything_is_written(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_no_column").await;
    let db = tdb.migrated().await;
    if backend == Backend::Sqlite {
        for trigger in [
            project_id_insert_trigger_name("working_memory"),
            project_id_update_trigger_name("working_memory"),
        ] {
            exec(&db, &format!("DROP TRIGGER \"{trigger}\"")).await;
        }
    }
    exec(&db, "ALTER TABLE working_memory DROP COLUMN project_id").await;
    let out = tdb.cli(&[
        "backfill-project-id",
        "--sleep",
        "0",
        "--table",
        "working_memory",
    ]);
    assert_exit(&out, 2, "a run on a table without its column");
    let said = stderr(&out);
    assert_eq!(said.trim().lines().count(), 1, "one sentence: {said}");
    for named in ["working_memory", "project_id", "backfill migrate up"] {
        assert!(said.contains(named), "names {named}: {said}");
    }
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_runs").await,
        0,
        "no run row"
    );
}

scenario!(replica_urls_are_refused_where_standbys_are_read_on_the_primary on sqlite, postgres);
/// `--replica-url` watches MySQL/MariaDB replicas: elsewhere it is one sentence and exit
/// 2 before anything is written, the run ledger included.
async fn replica_urls_are_refused_where_standbys_are_read_on_the_primary(backend: Backend) {
    let (tdb, db) = seeded(backend, "replica_refused").await;
    let before = dump(&db).await;
    let out = tdb.cli(&[
        "backfill-project-id",
        "--replica-url",
        "mysql://root@127.0.0.1:3306/test",
    ]);
    assert_exit(&out, 2, "--replica-url off MySQL");
    assert!(
        one_sentence(&out).contains("--replica-url watches MySQL/MariaDB replicas"),
        "{}",
        describe(&out)
    );
    assert_eq!(dump(&db).await, before, "nothing was written");
    assert_eq!(int(&db, "SELECT count(*) FROM backfill_runs").await, 0);
}
