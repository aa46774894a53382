//! Payloads built to hurt, in real databases: 10 MB strings, lists 10,000 deep,
//! numbers out of range, ids of the wrong type, and (SQLite) text that is not UTF-8.
//! Each is one row's anomaly; the rows around it are written.

use std::collections::BTreeSet;

use serde_json::json;

use crate::support::*;

scenario!(hostile_payloads on sqlite, postgres, mysql);
/// Every bad payload is the anomaly of its row (or item), its description short, and a
/// second run records none twice.
async fn hostile_payloads(backend: Backend) {
    let tdb = TestDb::new(backend, "hostile_payloads").await;
    let db = tdb.migrated().await;
    let ten_mb = "x".repeat(10 << 20);
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));

    add_test(
        &db,
        1,
        1,
        json!({"features": [{"id": 101, "feature_id": 1, "title": "fine"}]}),
    )
    .await;
    // A 10 MB string where an id belongs: an invalid field, named without echoing it.
    add_test(
        &db,
        2,
        1,
        format!("{{\"features\":[{{\"id\":\"{ten_mb}\",\"feature_id\":2}}]}}"),
    )
    .await;
    // A 10 MB description is just a long text: written.
    add_test(
        &db,
        3,
        1,
        json!({"features": [{"id": 301, "feature_id": 3, "description": ten_mb}]}),
    )
    .await;
    add_test(&db, 4, 1, format!("{{\"features\":{}}}", deep(10_000))).await;
    add_test(&db, 5, 1, r#"{"features":[{"id":99999999999999999999,"feature_id":1},{"id":502,"feature_id":-99999999999999999999}]}"#).await;
    add_test(&db, 6, 1, r#"{"features":[{"id":"601","feature_id":"6"}]}"#).await;
    add_test(
        &db,
        8,
        1,
        json!({"features": [{"id": 801, "feature_id": 8, "title": "after the storm"}]}),
    )
    .await;

    add_bug(&db, 1, 1, 1, json!({"test_feature": {"id": 101}})).await;
    add_bug(&db, 2, 1, 1, deep(10_000)).await;
    add_bug(
        &db,
        3,
        1,
        1,
        r#"{"test_feature":{"id":99999999999999999999}}"#,
    )
    .await;
    add_bug(&db, 4, 1, 1, r#"{"test_feature":{"id":"101"}}"#).await;
    add_bug(&db, 5, 1, 1, ten_mb.clone()).await;
    add_bug(&db, 8, 1, 8, json!({"test_feature": {"id": 801}})).await;

    let mut expected: BTreeSet<(String, String, String)> = [
        ("tests", "2#features[0]", "invalid_field"),
        ("tests", "4", "invalid_json"),
        ("tests", "5#features[0]", "invalid_field"),
        ("tests", "5#features[1]", "invalid_field"),
        ("tests", "6#features[0]", "invalid_field"),
        ("bugs", "2", "invalid_json"),
        ("bugs", "3", "invalid_field"),
        ("bugs", "4", "invalid_field"),
        ("bugs", "5", "invalid_json"),
    ]
    .into_iter()
    .map(|(t, r, k)| (t.to_string(), r.to_string(), k.to_string()))
    .collect();

    if backend == Backend::Sqlite {
        // TEXT that is not UTF-8: `{"features":[` then 0xff 0xfe, and a bug likewise.
        exec(
            &db,
            "INSERT INTO tests (id, customer_id, product_id, data, status) \
             VALUES (7, 1, 1, CAST(x'7b226665617475726573223a5bfffe5d7d' AS TEXT), 'archived')",
        )
        .await;
        exec(
            &db,
            "INSERT INTO bugs (id, customer_id, test_id, title, known, raw_data) \
             VALUES (7, 1, 1, 'bug 7', false, CAST(x'7b22746573745f66656174757265223affc0' AS TEXT))",
        )
        .await;
        for (table, row) in [("tests", "7"), ("bugs", "7")] {
            expected.insert((table.into(), row.into(), "invalid_json".into()));
        }
    }

    let out = tdb.cli_json(&["backfill-features", "--batch-size", "2"]);
    assert_no_panic(&out);
    // So many bad rows are more than 5% errored: the data falls short (exit 1), but the
    // run went through every row and printed its summary.
    assert_exit(&out, 1, "a run over hostile payloads");
    let summary = json(&out);
    let test_rows = if backend == Backend::Sqlite { 8 } else { 7 };
    assert_eq!(summary["features"]["processed"], test_rows, "{summary}");
    assert_eq!(summary["bugs"]["processed"], test_rows - 1, "{summary}");

    let found: BTreeSet<(String, String, String)> = texts(
        &db,
        "SELECT table_name || '|' || row_id || '|' || kind FROM backfill_anomalies",
    )
    .await
    .into_iter()
    .map(|r| {
        let r = r.expect("row");
        let p: Vec<&str> = r.splitn(3, '|').collect();
        (p[0].to_string(), p[1].to_string(), p[2].to_string())
    })
    .collect();
    assert_eq!(found, expected);
    let longest = int(
        &db,
        "SELECT CAST(MAX(LENGTH(issue_description)) AS BIGINT) FROM backfill_anomalies",
    )
    .await;
    assert!(longest < 1000, "descriptions stay short ({longest} chars)");

    // Every usable row was written around the bad ones.
    assert_eq!(
        ints(&db, "SELECT id FROM test_features ORDER BY id").await,
        vec![101, 301, 801]
    );
    assert_eq!(
        int(
            &db,
            "SELECT CAST(LENGTH(description) AS BIGINT) FROM test_features WHERE id = 301"
        )
        .await,
        10 << 20
    );
    assert_eq!(
        ints(
            &db,
            "SELECT id FROM bugs WHERE test_feature_id IS NOT NULL ORDER BY id"
        )
        .await,
        vec![1, 8]
    );
    assert_eq!(
        ints(
            &db,
            "SELECT test_feature_id FROM bugs WHERE id IN (1, 8) ORDER BY id"
        )
        .await,
        vec![101, 801]
    );

    // A second run finds the same problems and records none twice.
    let again = tdb.cli_json(&["backfill-features"]);
    assert_no_panic(&again);
    assert_exit(&again, 1, "a second run");
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await,
        expected.len() as i64
    );
}

scenario!(non_utf8_stored_values on sqlite);
/// SQLite TEXT holding bytes that are not UTF-8 outside the payloads: in a memory
/// table's project_id and in an existing test_features row. Each is one row's problem,
/// never a batch that fails on every retry.
async fn non_utf8_stored_values(backend: Backend) {
    let tdb = TestDb::new(backend, "non_utf8").await;
    let db = tdb.migrated().await;
    tdb.seed("--tests 5 --memory-rows 30 --null-project-id 0.5");
    exec(
        &db,
        "UPDATE working_memory SET project_id = CAST(x'ff6f' AS TEXT) WHERE id = 3",
    )
    .await;
    add_test(
        &db,
        100,
        1,
        json!({"features": [{"id": 9001, "feature_id": 1, "title": "clean"}]}),
    )
    .await;
    add_test(
        &db,
        101,
        1,
        json!({"features": [{"id": 9002, "feature_id": 1, "title": "next"}]}),
    )
    .await;
    exec(
        &db,
        "INSERT INTO test_features (id, customer_id, test_id, feature_id, title, user_stories, \
         enable_default, enable_content, enable_visual) \
         VALUES (9001, 1, 100, 1, CAST(x'fffe' AS TEXT), '[]', 0, 0, 0)",
    )
    .await;

    let out = tdb.cli_json(&["backfill-project-id", "--sleep", "0", "--batch-size", "7"]);
    assert_no_panic(&out);
    assert_exit(&out, 0, "backfill-project-id");
    assert_eq!(
        texts(
            &db,
            "SELECT hex(project_id) FROM working_memory WHERE id = 3"
        )
        .await,
        vec![Some("FF6F".to_string())],
        "left unchanged"
    );
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM working_memory WHERE project_id IS NULL"
        )
        .await,
        0,
        "the rest of the table was filled"
    );
    // Neither NULL nor an alias: not the backfill's to change, but not another
    // project's name either: logged for review, and counted.
    let summary = json(&out);
    let table = table_of(&summary, "working_memory");
    assert_eq!(table["errors"], 1, "{table}");
    assert_eq!(table["null_count"], 0, "{table}");
    assert_eq!(
        texts(
            &db,
            "SELECT kind || ' ' || table_name || ' ' || row_id FROM backfill_anomalies"
        )
        .await,
        vec![Some("invalid_field working_memory 3".to_string())]
    );

    let out = tdb.cli_json(&["backfill-features", "--batch-size", "1"]);
    assert_no_panic(&out);
    assert!(matches!(code(&out), 0 | 1), "{}", describe(&out));
    assert_eq!(
        texts(
            &db,
            "SELECT title FROM test_features WHERE id IN (9001, 9002) ORDER BY id"
        )
        .await,
        vec![Some("clean".to_string()), Some("next".to_string())],
        "the stale row is rewritten from its payload and the run goes on"
    );
}
