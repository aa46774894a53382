//! `--dry-run`: what a run would do, counted as the run counts it, with nothing
//! written and no failure reported.

use migration::MEMORY_TABLES;

use super::*;

scenario!(reports_what_a_run_does on sqlite, postgres, mysql);
/// Every count of the dry run equals the real run's, a row the database refuses
/// included; the dry run writes nothing, not even a run row.
async fn reports_what_a_run_does(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_dry").await;
    let db = tdb.migrated().await;
    let before = scattered_legacy(&db).await;
    // One row the database refuses: the dry run must count it as the real run will.
    let (held, old) = before["working_memory"]
        .iter()
        .find(|(_, v)| v.is_none())
        .cloned()
        .unwrap();
    assert!(old.is_none());
    hold_rows(&db, std::slice::from_ref(&held)).await;
    let snapshot = dump(&db).await;

    let flags = ["--sleep", "0", "--batch-size", "7"];
    let (code, planned) = backfill_project_id(&tdb, &[&flags[..], &["--dry-run"]].concat());
    assert_eq!(code, 0, "{planned}");
    assert_eq!(planned["dry_run"], true);
    assert!(planned["run_id"].is_null(), "{planned}");
    assert_eq!(dump(&db).await, snapshot, "a dry run writes nothing");
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_runs").await, 0);
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await, 0);
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_journal").await, 0);
    assert!(
        planned["passed"].is_null(),
        "a dry run validates nothing, so it reports no verdict: {planned}"
    );
    assert_eq!(planned["too_many_errors"], false, "{planned}");

    let (code, done) = backfill_project_id(&tdb, &flags);
    assert_eq!(code, 1, "the held NULL fails validation: {done}");
    // The state a run leaves is what its dry run reported: the held NULL stays.
    let keys = [
        "processed",
        "updated",
        "normalized",
        "rejected",
        "batches",
        "unchanged",
        "errors",
        "anomalies",
        "null_count",
    ];
    for table in MEMORY_TABLES {
        let (p, d) = (table_of(&planned, table), table_of(&done, table));
        for key in keys {
            assert_eq!(
                num(p, key),
                num(d, key),
                "{table}.{key}: dry {p} vs real {d}"
            );
        }
    }
    for table in MEMORY_TABLES {
        let (p, d) = (table_of(&planned, table), table_of(&done, table));
        assert_eq!(
            p["constraint_validated"], d["constraint_validated"],
            "{table}: dry {p} vs real {d}"
        );
    }
    let wm = table_of(&done, "working_memory");
    assert_eq!(num(wm, "rejected"), 1, "{wm}");
    assert_eq!(num(wm, "null_count"), 1, "{wm}");
    assert_eq!(num(table_of(&done, "nodes"), "null_count"), 0);
    assert!(nulls(&before["nodes"]) > 0 && nulls(&before["working_memory"]) > 1);
}

scenario!(prints_no_failure on sqlite, postgres, mysql);
/// A dry run's text names no failure and it exits 0 on data with NULLs, also when a
/// run would leave the NULL of a row the database rejects (SPEC §5.5.8). A run with
/// default flags on the same data (no row rejected) says nothing on stderr; `-v`
/// gives its per-table lines.
async fn prints_no_failure(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_dry_text").await;
    let db = tdb.migrated().await;
    let before = scattered_legacy(&db).await;
    let dry = ["backfill-project-id", "--sleep", "0", "--dry-run"];
    let out = tdb.cli(&dry);
    assert_exit(&out, 0, "a dry run");
    let text = stdout(&out);
    assert!(text.starts_with("DRY RUN"), "{text}");
    assert!(!text.contains("FAILED"), "{text}");
    assert!(
        !text.contains("would leave"),
        "every NULL would be filled: {text}"
    );
    assert!(stderr(&out).is_empty(), "{}", describe(&out));

    let (held, _) = before["working_memory"]
        .iter()
        .find(|(_, v)| v.is_none())
        .cloned()
        .unwrap();
    hold_rows(&db, std::slice::from_ref(&held)).await;
    let out = tdb.cli(&dry);
    assert_exit(&out, 0, "a dry run meeting a held row");
    let text = stdout(&out);
    assert!(!text.contains("FAILED"), "{text}");
    assert!(
        text.contains("a run would leave 1 rows with a NULL project_id in `working_memory`"),
        "{text}"
    );
    let line = |table: &str| {
        text.lines()
            .find(|l| l.starts_with(table))
            .unwrap_or_else(|| panic!("no `{table}` line in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // table, scanned, set 'io', normalized, rejected, batches, NULLs, check…
    assert_eq!(line("working_memory")[4], "1", "{text}");
    assert_eq!(
        line("working_memory")[6],
        "1",
        "the held NULL stays: {text}"
    );
    assert_eq!(line("nodes")[6], "0", "{text}");
    assert!(
        text.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("done in "),
        "{text}"
    );

    let release = match backend {
        Backend::Postgres => "DROP TRIGGER hold_rows ON working_memory",
        Backend::Sqlite | Backend::Mysql => "DROP TRIGGER hold_rows",
    };
    exec(&db, release).await;
    let out = tdb.cli(&["-v", "backfill-project-id", "--sleep", "0", "--dry-run"]);
    assert!(
        stderr(&out).contains("working_memory:") && stderr(&out).contains("scanned"),
        "-v logs the per-table lines: {}",
        describe(&out)
    );
    let out = tdb.cli(&["backfill-project-id", "--sleep", "0"]);
    assert_exit(&out, 0, "a run with default flags");
    assert!(stderr(&out).is_empty(), "{}", describe(&out));
}
