//! `migrate up` and `migrate down` over the whole schema and step by step, and a
//! migration that fails half-way: rolled back where DDL is transactional, replayed
//! where it is not.

use migration::{project_id_insert_trigger_name, project_id_update_trigger_name};

use super::catalog::*;
use super::*;
use crate::support::*;

// 0. Commands that drop data ask first
// ---------------------------------------------------------------------------------

scenario!(dropping_data_asks_first on sqlite, postgres, mysql);
/// `down`, `fresh`, `refresh` and `reset` on a database holding rows, without `--yes`
/// and without a terminal: exit 2, one sentence naming the database (no password) and
/// each table with its rows, and nothing dropped. With `--yes` they go on; `fresh`
/// then leaves an empty, migrated database, every time (SQLite's foreign keys do not
/// stop it half-way).
async fn dropping_data_asks_first(backend: Backend) {
    let t = TestDb::new(backend, "asks_first").await;
    assert_exit(&t.cli(&["migrate", "up"]), 0, "migrate up");
    t.seed("--tests 20 --memory-rows 10");
    let db = t.connect().await;
    let tests_before = int(&db, "SELECT COUNT(*) FROM tests").await;
    for args in [
        &["migrate", "fresh"][..],
        &["migrate", "refresh"],
        &["migrate", "reset"],
        &["migrate", "down", "-n", "7"],
    ] {
        let out = t.cli(args);
        assert_exit(&out, 2, &format!("{args:?} without --yes"));
        let sentence = one_sentence(&out);
        assert!(sentence.contains("nothing was dropped"), "{sentence}");
        assert!(sentence.contains("--yes"), "{sentence}");
        assert!(
            sentence.contains("`nodes` (10 rows)"),
            "names the tables: {sentence}"
        );
        let shown = url::Url::parse(&t.url).expect("the test's URL");
        let database = shown.path().trim_start_matches('/').to_string();
        assert!(
            sentence.contains(&database),
            "names the database: {sentence}"
        );
        assert!(stdout(&out).is_empty(), "{}", describe(&out));
        assert_eq!(
            int(&db, "SELECT COUNT(*) FROM tests").await,
            tests_before,
            "{args:?}"
        );
        assert_eq!(applied_migrations(&db).await, MIGRATIONS, "{args:?}");
    }
    // In JSON the refusal is one object.
    let (code, refused) = t.run_json(&["migrate", "fresh"]);
    assert_eq!(code, 2, "{refused}");
    assert_eq!(refused["exit_code"], 2, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("`tests` ("),
        "{refused}"
    );
    // With --yes, again and again on a database full of rows.
    for round in 0..3 {
        let out = t.cli(&["migrate", "fresh", "--yes"]);
        assert_exit(&out, 0, &format!("migrate fresh --yes, round {round}"));
        assert_full_schema(&db).await;
        assert_eq!(int(&db, "SELECT COUNT(*) FROM tests").await, 0);
        t.seed("--tests 20 --memory-rows 10");
    }
    // Nothing to drop: nothing to ask.
    let out = t.cli(&["migrate", "down", "-n", "1"]);
    assert_exit(&out, 0, "migrate down of an index");
}

// 1. up → down → up → status
// ---------------------------------------------------------------------------------

scenario!(up_down_up_status on sqlite, postgres, mysql);
/// The whole schema up, all of it down, up again, `status`; then down a step at a time,
/// newest first.
async fn up_down_up_status(backend: Backend) {
    let t = TestDb::new(backend, "up_down_up").await;

    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "migrate up");
    for name in MIGRATIONS {
        assert_printed(&out, &format!("applied  {name}"));
    }
    let db = t.connect().await;
    assert_full_schema(&db).await;
    assert_eq!(applied_migrations(&db).await, MIGRATIONS);

    let out = t.cli(&["migrate", "down", "-n", "8"]);
    assert_exit(&out, 0, "migrate down -n 8");
    for name in MIGRATIONS {
        assert_printed(&out, &format!("pending  {name}"));
    }
    assert_not_printed(&out, "applied  ");
    assert_empty_schema(&db).await;
    assert!(applied_migrations(&db).await.is_empty());

    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "second migrate up");
    assert_full_schema(&db).await;
    assert_eq!(applied_migrations(&db).await, MIGRATIONS);

    let out = t.cli(&["migrate", "status"]);
    assert_exit(&out, 0, "migrate status");
    for name in MIGRATIONS {
        assert_printed(&out, &format!("applied  {name}"));
    }
    assert_not_printed(&out, "pending");

    // Down a step at a time also works, newest first.
    let out = t.cli(&["migrate", "down"]);
    assert_exit(&out, 0, "migrate down");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..7]);
    assert!(
        !index_names(&db)
            .await
            .contains("idx_backfill_anomalies_last_seen_at_id")
    );
    let out = t.cli(&["migrate", "down"]);
    assert_exit(&out, 0, "migrate down");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..6]);
    assert!(!table_names(&db).await.contains("backfill_samples"));
    let out = t.cli(&["migrate", "down"]);
    assert_exit(&out, 0, "migrate down");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..5]);
    assert!(!table_names(&db).await.contains("backfill_settings"));
    let out = t.cli(&["migrate", "down"]);
    assert_exit(&out, 0, "migrate down");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..4]);
    assert!(!table_names(&db).await.contains("backfill_ranges"));
    let out = t.cli(&["migrate", "down"]);
    assert_exit(&out, 0, "migrate down");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..3]);
    let tables = table_names(&db).await;
    for table in BOOKKEEPING_TABLES {
        assert!(
            !tables.contains(table),
            "{table} survived its migration's down"
        );
    }
    assert!(tables.contains("nodes"));
    if backend == Backend::Postgres {
        let indexes = index_names(&db).await;
        for (name, _, _) in UNIQUE_KEYS {
            assert!(indexes.contains(name), "{name} missing: {indexes:?}");
        }
    }
    db.close().await.ok();
}

// 8. A migration that fails half-way changes nothing
// ---------------------------------------------------------------------------------

scenario!(failed_migration_rolls_back on sqlite, postgres);
/// Where DDL is transactional, a migration that fails half-way leaves nothing of itself
/// and is not recorded; with the obstacle gone, the same command completes.
async fn failed_migration_rolls_back(backend: Backend) {
    let t = TestDb::new(backend, "failed_migration").await;
    let out = t.cli(&["migrate", "up", "-n", "1"]);
    assert_exit(&out, 0, "migrate up -n 1");
    let db = t.connect().await;
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..1]);

    // An obstacle that makes migration 2 fail after it has created l2_insights.
    let (obstacle, removal) = match backend {
        // A legacy `nodes` with integer ids: `edges` cannot reference it as uuid.
        Backend::Postgres => (
            "CREATE TABLE nodes (id INTEGER PRIMARY KEY, label TEXT NOT NULL, name TEXT NOT NULL); \
             INSERT INTO nodes VALUES (1, 'person', 'ada')",
            "DROP TABLE nodes",
        ),
        // An index named like a table migration 2 creates later.
        Backend::Sqlite => (
            "CREATE TABLE legacy (x INTEGER); CREATE INDEX working_memory ON legacy (x); \
             INSERT INTO legacy VALUES (1)",
            "DROP INDEX working_memory",
        ),
        Backend::Mysql => unreachable!("MySQL DDL is not transactional"),
    };
    exec(&db, obstacle).await;
    let tables_before = table_names(&db).await;
    let indexes_before = index_names(&db).await;

    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 2, "migrate up with an obstacle");
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("m20260101_000002") || stderr(&out).contains("migrate up failed"),
        "{}",
        stderr(&out)
    );

    assert_eq!(
        applied_migrations(&db).await,
        MIGRATIONS[..1],
        "only migration 1 is recorded"
    );
    let tables_after = table_names(&db).await;
    assert_eq!(
        tables_after, tables_before,
        "migration 2 left tables behind"
    );
    for table in ["l2_insights", "edges", "working_memory"] {
        assert!(
            !tables_after.contains(table),
            "{table} survived the failed migration"
        );
    }
    assert_eq!(index_names(&db).await, indexes_before);
    match backend {
        Backend::Postgres => {
            assert_eq!(
                texts(&db, "SELECT name FROM nodes").await,
                vec![Some("ada".to_string())]
            );
            // No sequence or type of l2_insights survived either.
            let left = texts(
                &db,
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relname LIKE 'l2_insights%'",
            )
            .await;
            assert!(left.is_empty(), "{left:?}");
        }
        Backend::Sqlite => assert_eq!(int(&db, "SELECT COUNT(*) FROM legacy").await, 1),
        Backend::Mysql => unreachable!("MySQL DDL is not transactional"),
    }

    // With the obstacle gone, the same command completes.
    exec(&db, removal).await;
    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "migrate up after removing the obstacle");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS);
    assert_full_schema(&db).await;
    db.close().await.ok();
}
scenario!(failed_migration_is_replayed on mysql);
/// MySQL commits each DDL statement as it runs, so a migration that fails half-way
/// keeps what it made: run again, it finds those steps made and completes, and its
/// `down` still removes everything it made (the steps of the failed run included).
async fn failed_migration_is_replayed(backend: Backend) {
    let t = TestDb::new(backend, "failed_replayed").await;
    let out = t.cli(&["migrate", "up", "-n", "2"]);
    assert_exit(&out, 0, "migrate up -n 2");
    let db = t.connect().await;
    // Trigger names are per database: one named like the second trigger of `nodes`,
    // on another table, fails migration 3 after its first steps.
    let taken = project_id_update_trigger_name("nodes");
    exec(
        &db,
        &format!("CREATE TRIGGER \"{taken}\" BEFORE UPDATE ON tests FOR EACH ROW SET NEW.title = NEW.title"),
    )
    .await;
    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 2, "migrate up with a trigger name taken");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..2]);
    assert!(
        column_names(&db, "nodes")
            .await
            .contains(&"project_id".to_string()),
        "the steps before the failure stay"
    );
    assert!(
        triggers(&db)
            .await
            .contains(&project_id_insert_trigger_name("nodes"))
    );

    exec(&db, &format!("DROP TRIGGER \"{taken}\"")).await;
    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "migrate up replayed");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS);
    assert_full_schema(&db).await;

    let out = t.cli(&["migrate", "down", "-n", "8"]);
    assert_exit(&out, 0, "migrate down -n 8");
    assert_empty_schema(&db).await;
    db.close().await.ok();
}
