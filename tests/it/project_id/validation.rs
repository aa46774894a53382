//! The NULL count and the checks after a fill: `--validate-only` (which also adds a
//! check an adopted table lacks), `--promote-not-null`, and `--no-validate`.

use migration::{MEMORY_TABLES, ProjectIdCheck, project_id_check_state};

use super::*;

scenario!(validate_only_checks_and_adopts on sqlite, postgres, mysql);
/// NULLs left fail, naming the table and its count, with no data written; a table
/// without its check gets it (validated on PostgreSQL); after the fill every table
/// passes.
async fn validate_only_checks_and_adopts(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_validate").await;
    let db = tdb.migrated().await;
    let rows = insert_legacy(
        &db,
        "working_memory",
        &[None, Some("io"), None, Some("ethr")],
    )
    .await;
    let snapshot = dump(&db).await;

    // NULLs left: exit 1, naming the table and its count; nothing written.
    let out = tdb.cli(&["backfill-project-id", "--validate-only"]);
    assert_exit(&out, 1, "--validate-only over NULLs");
    let printed = stdout(&out);
    assert!(
        printed
            .lines()
            .any(|l| l.contains("FAILED") && l.contains("working_memory") && l.contains(" 2 ")),
        "names the table and its NULLs: {printed}"
    );
    let (code, summary) = backfill_project_id(&tdb, &["--validate-only"]);
    assert_eq!(code, 1, "{summary}");
    assert_eq!(summary["passed"], false);
    let wm = table_of(&summary, "working_memory");
    assert_eq!(num(wm, "null_count"), 2);
    assert_eq!(
        wm["constraint_validated"],
        backend != Backend::Postgres,
        "{wm}"
    );
    assert_eq!(table_of(&summary, "nodes")["constraint_validated"], true);
    let data = |dump: Vec<String>| -> Vec<String> {
        dump.into_iter()
            .filter(|l| !l.contains(" check "))
            .collect()
    };
    assert_eq!(
        data(dump(&db).await),
        data(snapshot),
        "--validate-only writes no data"
    );
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_runs").await, 0);
    assert_eq!(rows.len(), 4);

    // An adopted table without its check (clean data): the check is added, and
    // validated on PostgreSQL.
    lift(&db, "nodes").await;
    insert(&db, "nodes", "adopted", &[Some("io"), Some("aurora")]).await;
    assert_eq!(
        project_id_check_state(&db, "nodes").await.unwrap(),
        ProjectIdCheck::Missing
    );
    let (code, summary) = backfill_project_id(&tdb, &["--validate-only", "--table", "nodes"]);
    assert_eq!(code, 0, "{summary}");
    let nodes = table_of(&summary, "nodes");
    assert_eq!(nodes["constraint_validated"], true, "{nodes}");
    assert_eq!(
        project_id_check_state(&db, "nodes").await.unwrap(),
        ProjectIdCheck::Enforced
    );
    if backend == Backend::Postgres {
        assert_eq!(
            int(
                &db,
                "SELECT COUNT(*) FROM pg_constraint WHERE conname = 'check_nodes_project_id_not_null' \
                 AND convalidated"
            )
            .await,
            1
        );
    }
    // The check bites again.
    let attempt = db
        .execute_unprepared(&format!(
            "INSERT INTO nodes (id, label, name, project_id) VALUES ('{}', 'concept', 'null-again', NULL)",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert!(
        attempt.is_err(),
        "a NULL project_id is refused once the check is back"
    );

    // After the backfill every table validates; --validate-only then passes.
    let out = tdb.cli(&["backfill-project-id", "--sleep", "0", "--no-validate"]);
    assert_exit(&out, 0, "the fill");
    let (code, summary) = backfill_project_id(&tdb, &["--validate-only"]);
    assert_eq!(code, 0, "{summary}");
    for table in MEMORY_TABLES {
        let t = table_of(&summary, table);
        assert_eq!(num(t, "null_count"), 0, "{t}");
        assert_eq!(t["constraint_validated"], true, "{t}");
    }
}

/// Rows with NULLs and aliases in working_memory, filled by a run with
/// `--promote-not-null`: the column is NOT NULL after it.
async fn fill_and_promote(tdb: &TestDb, db: &Db) -> Value {
    insert_legacy(db, "working_memory", &[None, Some("io"), Some("default")]).await;
    let (code, summary) = backfill_project_id(
        tdb,
        &[
            "--sleep",
            "0",
            "--table",
            "working_memory",
            "--promote-not-null",
        ],
    );
    assert_eq!(code, 0, "{summary}");
    let t = table_of(&summary, "working_memory");
    assert_eq!(t["constraint_validated"], true, "{t}");
    summary
}

/// Asserts `working_memory.project_id` takes no NULL any more.
async fn assert_not_null(db: &Db) {
    let refused = db
        .execute_unprepared("INSERT INTO working_memory (content, project_id) VALUES ('x', NULL)")
        .await;
    assert!(refused.is_err(), "the column is NOT NULL");
}

scenario!(promote_not_null_replaces_the_check on postgres);
/// PostgreSQL: `SET NOT NULL` on the validated check, which is dropped then; the other
/// tables keep theirs, and a second run does not add it back.
async fn promote_not_null_replaces_the_check(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_promote").await;
    let db = tdb.migrated().await;
    let summary = fill_and_promote(&tdb, &db).await;
    let t = table_of(&summary, "working_memory");
    assert_eq!(num(t, "null_count"), 0, "{t}");
    let not_null = texts(
        &db,
        "SELECT is_nullable FROM information_schema.columns \
         WHERE table_name = 'working_memory' AND column_name = 'project_id'",
    )
    .await;
    assert_eq!(not_null, vec![Some("NO".to_string())]);
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM pg_constraint WHERE conname = 'check_working_memory_project_id_not_null'").await,
        0,
        "the check is dropped once the column is NOT NULL"
    );
    // Other tables keep their checks.
    assert_eq!(
        project_id_check_state(&db, "nodes").await.unwrap(),
        ProjectIdCheck::NotValidated
    );

    // --validate-only --promote-not-null on an already promoted table is a no-op pass,
    // and a second run of the whole job still passes (the check is not re-added).
    let (code, summary) = backfill_project_id(
        &tdb,
        &[
            "--validate-only",
            "--promote-not-null",
            "--table",
            "working_memory",
        ],
    );
    assert_eq!(code, 0, "{summary}");
    assert_eq!(
        table_of(&summary, "working_memory")["constraint_validated"],
        true
    );
    let (code, summary) = backfill_project_id(&tdb, &["--sleep", "0"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM pg_constraint WHERE conname = 'check_working_memory_project_id_not_null'").await,
        0
    );
    assert_not_null(&db).await;
}

scenario!(promote_not_null_keeps_the_column_type on mysql);
/// MySQL: `MODIFY … NOT NULL` in place, keeping the column's own type and collation (an
/// adopted `project_id` may be wider than the migration's), then the triggers go.
async fn promote_not_null_keeps_the_column_type(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_promote").await;
    let db = tdb.migrated().await;
    exec(
        &db,
        "ALTER TABLE working_memory MODIFY project_id VARCHAR(80) COLLATE utf8mb4_bin DEFAULT 'io'",
    )
    .await;
    fill_and_promote(&tdb, &db).await;
    assert_eq!(
        texts(
            &db,
            "SELECT CAST(CONCAT(column_type, ' ', collation_name, ' ', is_nullable) AS CHAR) \
             FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name = 'working_memory' AND column_name = 'project_id'",
        )
        .await,
        vec![Some("varchar(80) utf8mb4_bin NO".to_string())]
    );
    assert_eq!(
        project_id_check_state(&db, "working_memory").await.unwrap(),
        ProjectIdCheck::Missing,
        "the triggers are dropped once the column is NOT NULL"
    );
    assert_eq!(
        project_id_check_state(&db, "nodes").await.unwrap(),
        ProjectIdCheck::Enforced,
        "other tables keep theirs"
    );
    let (code, summary) = backfill_project_id(&tdb, &["--sleep", "0"]);
    assert_eq!(code, 0, "a second run passes: {summary}");
    assert_not_null(&db).await;
}

scenario!(no_validate_skips_the_count on sqlite, postgres, mysql);
/// `--no-validate`: the run fills and journals as usual, but counts no NULLs (a scan
/// per table) and says so; a table already filled is walked without a single write.
async fn no_validate_skips_the_count(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_novalidate").await;
    let db = tdb.migrated().await;
    let before = scattered_legacy(&db).await;
    let flags = ["--sleep", "0", "--batch-size", "5", "--no-validate"];
    let (code, summary) = backfill_project_id(&tdb, &flags);
    assert_eq!(code, 0, "{summary}");
    let journaled = journal_of(&db, None).await;
    for (table, rows) in &before {
        let t = table_of(&summary, table);
        assert!(t.get("null_count").is_none(), "{table}: not counted: {t}");
        assert!(t.get("constraint_validated").is_none(), "{t}");
        let changed = (nulls(rows) + aliases(rows)) as i64;
        assert_eq!(num(t, "updated"), changed, "{table}: {t}");
        assert_eq!(
            int(
                &db,
                &format!("SELECT COUNT(*) FROM {table} WHERE project_id IS NULL")
            )
            .await,
            0,
            "{table}"
        );
    }
    let expected: usize = before.values().map(|r| nulls(r) + aliases(r)).sum();
    assert_eq!(journaled.len(), expected, "one journaled change per row");
    let text = stdout(&tdb.cli(&[&["backfill-project-id"][..], &flags].concat()));
    assert!(text.contains("not checked (--no-validate)"), "{text}");

    // Nothing left to do: every batch reads its range's counts and writes nothing.
    let entries = int(&db, "SELECT COUNT(*) FROM backfill_journal").await;
    let (code, again) = backfill_project_id(&tdb, &flags);
    assert_eq!(code, 0, "{again}");
    for table in before.keys() {
        let t = table_of(&again, table);
        assert_eq!(num(t, "updated"), 0, "{table}: {t}");
        assert!(num(t, "batches") > 0, "{table}: walked: {t}");
    }
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_journal").await,
        entries,
        "a run with nothing to change journals nothing"
    );
}
