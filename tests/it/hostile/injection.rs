//! SQL injection through every flag that reaches SQL, and through the database URL:
//! refused in one sentence, or taken as a plain value matching nothing; never a table
//! lost or a row changed.

use std::collections::BTreeMap;

use crate::support::Db;
use serde_json::json;

use crate::support::*;

/// Every table and its row count.
async fn table_counts(db: &Db) -> BTreeMap<String, i64> {
    let sql = match Backend::of(db) {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
        Backend::Mysql => {
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE()"
        }
    };
    let names = texts(db, sql).await;
    let mut counts = BTreeMap::new();
    for name in names.into_iter().flatten() {
        let n = int(db, &format!("SELECT COUNT(*) FROM \"{name}\"")).await;
        counts.insert(name, n);
    }
    counts
}

scenario!(sql_injection on sqlite, postgres, mysql);
/// Each hostile value is refused (exit 2, saying why) or matches nothing; every table
/// keeps every row, and no file named after a quoted URL appears.
async fn sql_injection(backend: Backend) {
    let tdb = TestDb::new(backend, "injection").await;
    let db = tdb.migrated().await;
    tdb.seed(
        "--tests 20 --memory-rows 20 --null-project-id 0.3 --alias-project-id 0.2 \
         --malformed-json 0.1",
    );
    // Real runs first, so every bookkeeping table has rows to lose.
    for args in [
        vec!["backfill-project-id", "--sleep", "0"],
        vec!["backfill-features"],
    ] {
        let out = tdb.cli(&args);
        assert!(matches!(code(&out), 0 | 1), "{args:?}: {}", describe(&out));
    }
    let before = table_counts(&db).await;
    for table in [
        "edges",
        "nodes",
        "tests",
        "backfill_runs",
        "backfill_anomalies",
        "backfill_journal",
    ] {
        assert!(before[table] > 0, "{table} has rows to lose");
    }

    let quoted_url = match backend {
        Backend::Sqlite => {
            let dir = tdb.path.as_ref().unwrap().parent().unwrap();
            format!("sqlite://{}/x'; DROP TABLE tests; --.db", dir.display())
        }
        Backend::Postgres | Backend::Mysql => format!("{}'; DROP TABLE tests; --", tdb.url),
    };
    let quoted_url_in_query = format!("{}&x='; DROP TABLE tests; --", tdb.url);
    let cases: Vec<(Vec<&str>, &[i32])> = vec![
        (
            vec!["backfill-project-id", "--table", "nodes; DROP TABLE edges"],
            &[2],
        ),
        (
            vec!["backfill-project-id", "--table", "nodes' OR '1'='1"],
            &[2],
        ),
        (
            vec![
                "backfill-project-id",
                "--table",
                "nodes\"; DROP TABLE nodes; --",
            ],
            &[2],
        ),
        (
            vec![
                "backfill-project-id",
                "--dry-run",
                "--table",
                "nodes",
                "--table",
                "edges; DROP TABLE edges",
            ],
            &[2],
        ),
        (
            vec![
                "backfill-project-id",
                "--validate-only",
                "--table",
                "nodes' OR '1'='1",
            ],
            &[2],
        ),
        (
            vec![
                "backfill-project-id",
                "--rollback",
                "--run",
                "1; DROP TABLE backfill_runs",
            ],
            &[2],
        ),
        (
            vec!["backfill-project-id", "--sleep", "0; DROP TABLE tests"],
            &[2],
        ),
        (
            vec![
                "backfill-project-id",
                "--lock-timeout",
                "1'; DROP TABLE tests; --",
            ],
            &[2],
        ),
        (
            vec!["--format", "json", "anomalies", "--table", "x' OR 1=1 --"],
            &[0],
        ),
        (
            vec![
                "--format",
                "json",
                "anomalies",
                "--kind",
                "'; DELETE FROM backfill_anomalies; --",
            ],
            // Not a kind: refused before any query.
            &[2],
        ),
        (
            vec![
                "--format",
                "json",
                "anomalies",
                "--table",
                "nodes\"; DROP TABLE nodes; --",
                "--all",
            ],
            &[0],
        ),
        (
            vec!["anomalies", "resolve", "1; DELETE FROM backfill_anomalies"],
            &[2],
        ),
        (vec!["anomalies", "--limit", "1; DROP TABLE tests"], &[2]),
        (vec!["validate", "--threshold", "0.9; DROP"], &[2]),
        (vec!["backfill-features", "--batch-size", "5; DROP"], &[2]),
        (vec!["--database-url", &quoted_url, "validate"], &[2]),
        (
            vec!["--database-url", &quoted_url_in_query, "validate"],
            &[0, 1, 2],
        ),
        (vec!["--format", "x'; DROP TABLE tests", "validate"], &[2]),
    ];
    for (args, allowed) in &cases {
        let out = tdb.cli(args);
        assert_no_panic(&out);
        assert!(
            allowed.contains(&code(&out)),
            "{args:?}: {}",
            describe(&out)
        );
        if code(&out) == 2 {
            assert!(!stderr(&out).trim().is_empty(), "{args:?} says why");
        }
        if args.contains(&"anomalies") && args.contains(&"json") && code(&out) == 0 {
            let listed = json(&out);
            assert_eq!(listed["anomalies"], json!([]), "{args:?} matches nothing");
        }
        assert_eq!(table_counts(&db).await, before, "after {args:?}");
    }
    // The quoted file name was not created on the side either.
    if backend == Backend::Sqlite {
        let dir = tdb.path.as_ref().unwrap().parent().unwrap();
        let files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.contains("DROP"))
            .collect();
        assert!(files.is_empty(), "{files:?}");
    }
    // The names really are taken as plain values: the real table still works.
    let (code, listed) = tdb.run_json(&["anomalies", "--table", "tests", "--all"]);
    assert_eq!(code, 0, "{listed}");
    assert!(
        !listed["anomalies"].as_array().unwrap().is_empty(),
        "tests anomalies are listed"
    );
}
