//! `backfill-features` against real SQLite files and a real PostgreSQL server: one
//! scenario per rule of SPEC §5.4, each asserting the rows it leaves behind.

mod common;

use std::collections::BTreeMap;

use common::*;
use entity::{test_features, tests};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::{Value, json};

fn feature(id: i64, feature_id: i64) -> Value {
    json!({ "id": id, "feature_id": feature_id, "title": format!("F{id}"), "user_stories": ["story"] })
}

/// Runs `backfill-features` with `args` and returns (exit code, JSON summary).
fn run(db: &TestDb, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--format", "json", "--no-progress", "backfill-features"];
    all.extend_from_slice(args);
    let output = db.cli(&all);
    let code = output.status.code().unwrap_or(-1);
    let summary = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("no JSON summary ({e}); stderr: {}", stderr(&output)));
    (code, summary)
}

async fn all_features(db: &DatabaseConnection) -> Vec<test_features::Model> {
    test_features::Entity::find()
        .order_by_asc(test_features::Column::Id)
        .all(db)
        .await
        .expect("read test_features")
}

async fn anomaly_kinds(db: &DatabaseConnection) -> Vec<(String, String, String)> {
    let rows = texts(
        db,
        "SELECT table_name || '|' || row_id || '|' || kind FROM backfill_anomalies ORDER BY table_name, row_id, kind",
    )
    .await;
    rows.into_iter()
        .map(|r| {
            let r = r.expect("row");
            let parts: Vec<&str> = r.split('|').collect();
            (parts[0].into(), parts[1].into(), parts[2].into())
        })
        .collect()
}

async fn both_shapes_and_field_rules(backend: Backend) {
    let tdb = TestDb::new(backend, "shapes").await;
    let db = tdb.migrated().await;
    let flat = json!({ "customer_id": 999, "features": [
        { "id": 10, "feature_id": 1, "title": "Login", "description": "d", "howtofind": "menu",
          "user_stories": ["a", "b"], "enable_default": true, "enable_content": null },
        { "id": 11, "feature_id": 2, "user_stories": null }
    ]});
    let envelope = json!({ "exploratory_test": { "features": [ { "id": 20, "feature_id": 3, "title": "Cart", "enable_visual": true } ] } });
    add_test(&db, 1, 7, &flat.to_string()).await;
    add_test(&db, 2, 8, &envelope.to_string()).await;
    let (code, summary) = run(&tdb, &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["features"]["inserted"], 3);
    let rows = all_features(&db).await;
    assert_eq!(rows.len(), 3);
    let f10 = &rows[0];
    assert_eq!(
        (f10.customer_id, f10.test_id, f10.feature_id),
        (7, 1, 1),
        "customer from the row, not the payload"
    );
    assert_eq!(f10.title, "Login");
    assert_eq!(f10.user_stories, r#"["a","b"]"#);
    assert!(f10.enable_default && !f10.enable_content && !f10.enable_visual);
    assert_eq!(rows[1].title, "", "title defaults to empty");
    assert_eq!(rows[1].user_stories, "[]", "null user_stories become []");
    assert_eq!((rows[2].customer_id, rows[2].test_id), (8, 2));
    assert!(rows[2].enable_visual);

    // An update where the payload no longer says enable_default: the stored true stays;
    // a changed title is rewritten.
    let changed = json!({ "features": [ { "id": 10, "feature_id": 1, "title": "Log in", "user_stories": ["a", "b"] },
                                        { "id": 11, "feature_id": 2, "enable_content": false } ] });
    exec(
        &db,
        &format!("UPDATE tests SET data = '{}' WHERE id = 1", changed),
    )
    .await;
    let (code, summary) = run(&tdb, &[]);
    assert_eq!(code, 0);
    assert_eq!(summary["features"]["updated"], 1, "{summary}");
    assert_eq!(summary["features"]["unchanged"], 2, "{summary}");
    let rows = all_features(&db).await;
    assert_eq!(rows[0].title, "Log in");
    assert!(
        rows[0].enable_default,
        "a flag the payload does not mention keeps its stored value"
    );
}

async fn second_run_writes_nothing(backend: Backend) {
    let tdb = TestDb::new(backend, "rerun").await;
    let db = tdb.migrated().await;
    for id in 1..=40 {
        let data = json!({ "features": [feature(id * 10, 1), feature(id * 10 + 1, 2)] });
        add_test(&db, id, id % 3, &data.to_string()).await;
        add_bug(
            &db,
            id,
            id % 3,
            id,
            &json!({ "test_feature": { "id": id * 10 } }).to_string(),
        )
        .await;
    }
    let (code, first) = run(&tdb, &["--batch-size", "7"]);
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["features"]["inserted"], 80);
    assert_eq!(first["bugs"]["updated"], 40);
    // Count row writes from here on.
    let versions = |db: &DatabaseConnection| {
        let db = db.clone();
        async move {
            match backend_of(&db) {
                Backend::Postgres => texts(
                    &db,
                    "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM (SELECT id, xmin FROM test_features UNION ALL SELECT id, xmin FROM bugs) v",
                )
                .await,
                Backend::Sqlite => texts(&db, "SELECT CAST(total_changes() AS TEXT)").await,
                Backend::Mysql => Vec::new(),
            }
        }
    };
    if backend != Backend::Postgres {
        exec(&db, "CREATE TABLE writes (n INTEGER NOT NULL)").await;
        exec(&db, "INSERT INTO writes VALUES (0)").await;
        for table in ["test_features", "bugs"] {
            for (name, event) in [("count", "UPDATE"), ("count_ins", "INSERT")] {
                let body = match backend {
                    Backend::Mysql => "FOR EACH ROW UPDATE writes SET n = n + 1",
                    _ => "BEGIN UPDATE writes SET n = n + 1; END",
                };
                exec(
                    &db,
                    &format!("CREATE TRIGGER {name}_{table} AFTER {event} ON {table} {body}"),
                )
                .await;
            }
        }
    }
    let before = versions(&db).await;
    let (code, second) = run(&tdb, &["--batch-size", "7"]);
    assert_eq!(code, 0);
    for phase in ["features", "bugs"] {
        assert_eq!(second[phase]["inserted"], 0, "{second}");
        assert_eq!(second[phase]["updated"], 0, "{second}");
    }
    assert_eq!(second["features"]["unchanged"], 80);
    assert_eq!(second["bugs"]["unchanged"], 40);
    match backend {
        Backend::Postgres => assert_eq!(versions(&db).await, before, "no row version moved"),
        Backend::Sqlite | Backend::Mysql => assert_eq!(
            int(&db, "SELECT n FROM writes").await,
            0,
            "no row was written"
        ),
    }
}

async fn tenants_never_mix(backend: Backend) {
    let tdb = TestDb::new(backend, "tenants").await;
    let db = tdb.migrated().await;
    add_test(
        &db,
        1,
        1,
        &json!({ "features": [feature(100, 1)] }).to_string(),
    )
    .await;
    add_test(
        &db,
        2,
        2,
        &json!({ "features": [feature(200, 1), feature(100, 9)] }).to_string(),
    )
    .await;
    // Customer 1's bug names customer 2's feature.
    add_bug(
        &db,
        1,
        1,
        1,
        &json!({ "test_feature": { "id": 200 } }).to_string(),
    )
    .await;
    add_bug(
        &db,
        2,
        2,
        2,
        &json!({ "test_feature": { "id": 200 } }).to_string(),
    )
    .await;
    let (_, summary) = run(&tdb, &["--no-validate"]);
    let rows = all_features(&db).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].id, rows[0].customer_id, rows[0].feature_id),
        (100, 1, 1),
        "never overwritten by another customer"
    );
    assert_eq!(
        ints(
            &db,
            "SELECT COALESCE(test_feature_id, -1) FROM bugs ORDER BY id"
        )
        .await,
        vec![-1, 200]
    );
    let kinds = anomaly_kinds(&db).await;
    assert!(
        kinds.contains(&("test_features".into(), "100".into(), "cross_tenant".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("bugs".into(), "1".into(), "cross_tenant".into())),
        "{kinds:?}"
    );
    assert_eq!(summary["features"]["anomalies"], 1, "{summary}");
}

async fn duplicates_written_once(backend: Backend) {
    let tdb = TestDb::new(backend, "dups").await;
    let db = tdb.migrated().await;
    let mut first = feature(5, 1);
    first["title"] = json!("first");
    let mut again = feature(5, 1);
    again["title"] = json!("second");
    add_test(
        &db,
        1,
        1,
        &json!({ "features": [first, again] }).to_string(),
    )
    .await;
    let mut later = feature(5, 1);
    later["title"] = json!("third");
    add_test(&db, 2, 1, &json!({ "features": [later] }).to_string()).await;
    for batch in ["1", "500"] {
        let (_, summary) = run(&tdb, &["--batch-size", batch, "--no-validate"]);
        assert_eq!(summary["features"]["updated"], 0, "{summary}");
        let rows = all_features(&db).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].title.as_str(), rows[0].test_id),
            ("first", 1),
            "the first listing wins"
        );
    }
    let kinds = anomaly_kinds(&db).await;
    assert_eq!(
        kinds,
        vec![("test_features".into(), "5".into(), "duplicate_id".into())],
        "one open anomaly, not twins"
    );
}

async fn bad_payloads_become_anomalies(backend: Backend) {
    let tdb = TestDb::new(backend, "badinput").await;
    let db = tdb.migrated().await;
    add_test(&db, 1, 1, "{\"features\": [").await;
    add_test(
        &db,
        2,
        1,
        &json!({ "features": [{ "feature_id": 1 }, feature(21, 1)] }).to_string(),
    )
    .await;
    add_test(&db, 3, 1, &json!({ "features": [{ "id": "31", "feature_id": 1 }, { "id": 32, "feature_id": 1, "enable_visual": "yes" }] }).to_string()).await;
    add_test(
        &db,
        4,
        1,
        &json!({ "features": [{ "id": 1e30, "feature_id": 1 }] }).to_string(),
    )
    .await;
    add_test(
        &db,
        5,
        1,
        &json!({ "title": "no features listed" }).to_string(),
    )
    .await;
    add_bug(&db, 1, 1, 2, "not json").await;
    add_bug(
        &db,
        2,
        1,
        2,
        &json!({ "test_feature": { "id": 777 } }).to_string(),
    )
    .await;
    add_bug(
        &db,
        3,
        1,
        2,
        &json!({ "test_feature": { "name": "x" } }).to_string(),
    )
    .await;
    add_bug(&db, 4, 1, 2, &json!({ "title": "no feature" }).to_string()).await;
    add_bug(
        &db,
        5,
        1,
        2,
        &json!({ "test_feature": { "id": 21 } }).to_string(),
    )
    .await;
    let (code, summary) = run(&tdb, &[]);
    assert_eq!(code, 1, "more than 5% errored: {summary}");
    assert_eq!(
        all_features(&db)
            .await
            .iter()
            .map(|f| f.id)
            .collect::<Vec<_>>(),
        vec![21]
    );
    let kinds = anomaly_kinds(&db).await;
    let expected: Vec<(String, String, String)> = [
        ("bugs", "1", "invalid_json"),
        ("bugs", "2", "dangling_reference"),
        ("bugs", "3", "missing_id"),
        ("tests", "1", "invalid_json"),
        ("tests", "2#features[0]", "missing_id"),
        ("tests", "3#features[0]", "invalid_field"),
        ("tests", "3#features[1]", "invalid_field"),
        ("tests", "4#features[0]", "invalid_field"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(kinds, expected);
    assert_eq!(
        ints(
            &db,
            "SELECT COALESCE(test_feature_id, -1) FROM bugs ORDER BY id"
        )
        .await,
        vec![-1, -1, -1, -1, 21]
    );
    let message = texts(
        &db,
        "SELECT issue_description FROM backfill_anomalies WHERE row_id = '3#features[1]'",
    )
    .await;
    assert!(
        message[0]
            .as_deref()
            .unwrap_or_default()
            .contains("enable_visual"),
        "{message:?}"
    );
    // A re-run refreshes the open anomalies instead of adding twins.
    run(&tdb, &[]);
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await,
        expected.len() as i64
    );
}

async fn rejected_rows_do_not_sink_their_batch(backend: Backend) {
    let tdb = TestDb::new(backend, "rejected").await;
    let db = tdb.migrated().await;
    match backend {
        Backend::Sqlite => {
            exec(
                &db,
                "CREATE TRIGGER hold BEFORE INSERT ON test_features WHEN NEW.id IN (13, 113) \
             BEGIN SELECT RAISE(ABORT, 'feature is on hold'); END",
            )
            .await
        }
        Backend::Postgres => {
            exec(
                &db,
                "CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.id IN (13, 113) THEN RAISE EXCEPTION 'feature is on hold'; END IF; RETURN NEW; END $$",
            )
            .await;
            exec(&db, "CREATE TRIGGER hold BEFORE INSERT ON test_features FOR EACH ROW EXECUTE FUNCTION hold()").await;
        }
        Backend::Mysql => {
            exec(
                &db,
                "CREATE TRIGGER hold BEFORE INSERT ON test_features FOR EACH ROW \
                 BEGIN IF NEW.id IN (13, 113) THEN \
                 SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'feature is on hold'; END IF; END",
            )
            .await
        }
    }
    for id in 1..=20 {
        add_test(
            &db,
            id,
            1,
            &json!({ "features": [feature(id, 1), feature(id + 100, 1)] }).to_string(),
        )
        .await;
    }
    let (_, summary) = run(&tdb, &["--batch-size", "20", "--no-validate"]);
    assert_eq!(summary["features"]["inserted"], 38, "{summary}");
    assert_eq!(summary["features"]["rejected"], 2, "{summary}");
    assert_eq!(int(&db, "SELECT COUNT(*) FROM test_features").await, 38);
    let rejected = texts(
        &db,
        "SELECT row_id || ':' || issue_description FROM backfill_anomalies WHERE kind = 'row_rejected' ORDER BY row_id",
    )
    .await;
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    for (row, id) in rejected.iter().zip(["113:", "13:"]) {
        let row = row.as_deref().unwrap_or_default();
        assert!(
            row.starts_with(id) && row.contains("feature is on hold"),
            "{row}"
        );
    }
}

/// Every count of every phase of the dry run equals the real run's.
fn assert_same_counts(dry: &Value, real: &Value) {
    for phase in ["features", "bugs"] {
        for key in [
            "processed",
            "inserted",
            "updated",
            "unchanged",
            "skipped",
            "errors",
            "anomalies",
        ] {
            assert_eq!(
                dry[phase][key], real[phase][key],
                "{phase}.{key}: dry {dry} real {real}"
            );
        }
    }
}

async fn dry_run_counts_match_and_write_nothing(backend: Backend) {
    let tdb = TestDb::new(backend, "dryrun").await;
    let db = tdb.migrated().await;
    let seeded = tdb.cli(&[
        "seed",
        "--tests",
        "300",
        "--memory-rows",
        "0",
        "--malformed-json",
        "0.02",
        "--features-without-id",
        "0.02",
        "--bugs-without-feature",
        "0.05",
        "--bugs-missing-feature",
        "0.02",
        "--bugs-foreign-feature",
        "0.02",
    ]);
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    db.close().await.ok();
    let bytes = tdb
        .path
        .as_ref()
        .map(|p| std::fs::read(p).expect("read db file"));
    let (_, dry) = run(&tdb, &["--dry-run", "--batch-size", "40"]);
    if let (Some(path), Some(bytes)) = (&tdb.path, bytes) {
        assert!(
            std::fs::read(path).expect("read db file") == bytes,
            "the SQLite file is byte-identical"
        );
    }
    let db = tdb.connect().await;
    assert_eq!(int(&db, "SELECT COUNT(*) FROM test_features").await, 0);
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await, 0);
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_runs").await, 0);
    let (_, real) = run(&tdb, &["--batch-size", "40"]);
    assert_same_counts(&dry, &real);
}

/// The dry run sees what phase 1 would have written, not only the bug's own test: a bug
/// naming a feature another test lists is attributed, and a feature listed again by a
/// later batch is a duplicate, exactly as in the run.
async fn dry_run_sees_what_phase_one_would_write(backend: Backend) {
    let tdb = TestDb::new(backend, "dry_planned").await;
    let db = tdb.migrated().await;
    // (test, customer, the one feature it lists): test 3 lists feature 10 again, in a
    // later batch, a duplicate.
    for (test, customer, listed) in [(1, 1, 10), (2, 1, 20), (3, 1, 10), (4, 2, 40)] {
        let data = json!({ "features": [feature(listed, 1)] }).to_string();
        add_test(&db, test, customer, data).await;
    }
    let names = |feature: i64| json!({ "test_feature": { "id": feature } }).to_string();
    add_bug(&db, 1, 1, 2, names(10)).await; // another test's feature, same customer
    add_bug(&db, 2, 1, 1, names(10)).await; // its own test's feature
    add_bug(&db, 3, 1, 1, names(40)).await; // another customer's feature
    add_bug(&db, 4, 1, 1, names(99)).await; // a feature nobody lists
    let (_, dry) = run(&tdb, &["--dry-run", "--batch-size", "1"]);
    let (_, real) = run(&tdb, &["--batch-size", "1", "--no-validate"]);
    assert_eq!(real["bugs"]["updated"], 2, "{real}");
    assert_eq!(real["features"]["inserted"], 3, "{real}");
    assert_same_counts(&dry, &real);
    assert_eq!(dry["too_many_errors"], real["too_many_errors"]);
}

/// 10,000 seeded tests: the rows equal an independent computation from the payloads.
async fn matches_an_independent_computation(backend: Backend) {
    let tdb = TestDb::new(backend, "oracle").await;
    let db = tdb.migrated().await;
    let seeded = tdb.cli(&[
        "seed",
        "--tests",
        "10000",
        "--memory-rows",
        "0",
        "--malformed-json",
        "0.01",
        "--features-without-id",
        "0.01",
        "--bugs-foreign-feature",
        "0.01",
    ]);
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    let (code, _) = run(&tdb, &["--no-validate"]);
    assert_eq!(code, 0);
    let mut expected: BTreeMap<i64, (i64, i64, i64, String, String)> = BTreeMap::new();
    for test in tests::Entity::find()
        .order_by_asc(tests::Column::Id)
        .all(&db)
        .await
        .expect("tests")
    {
        let Ok(payload) = serde_json::from_str::<Value>(&test.data) else {
            continue;
        };
        let list = payload
            .get("features")
            .or_else(|| {
                payload
                    .get("exploratory_test")
                    .and_then(|e| e.get("features"))
            })
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for f in list {
            let (Some(id), Some(feature_id)) = (f["id"].as_i64(), f["feature_id"].as_i64()) else {
                continue;
            };
            let stories = f
                .get("user_stories")
                .filter(|s| !s.is_null())
                .cloned()
                .unwrap_or(json!([]));
            expected.entry(id).or_insert((
                test.customer_id,
                test.id,
                feature_id,
                f["title"].as_str().unwrap_or_default().to_string(),
                stories.to_string(),
            ));
        }
    }
    let actual: BTreeMap<i64, (i64, i64, i64, String, String)> = all_features(&db)
        .await
        .into_iter()
        .map(|f| {
            (
                f.id,
                (
                    f.customer_id,
                    f.test_id,
                    f.feature_id,
                    f.title,
                    f.user_stories,
                ),
            )
        })
        .collect();
    assert_eq!(actual.len(), expected.len());
    assert!(actual == expected, "test_features differ from the payloads");
    let (_, second) = run(&tdb, &["--no-validate"]);
    assert_eq!(second["features"]["inserted"], 0);
    assert_eq!(second["features"]["updated"], 0);
}

async fn missing_tables_are_a_usage_error(backend: Backend) {
    let tdb = TestDb::new(backend, "notables").await;
    let output = tdb.cli(&["backfill-features"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("migrate up"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// One batch whose lookups name more ids than a statement may bind values (SQLite
/// 32766, PostgreSQL 65535): 22,000 tests list 66,000 features and 66,000 bugs name one
/// each, all in one batch per phase. A dry run counts what the run then does; the run
/// inserts and attributes them all; a second run finds every row as it left it.
async fn a_batch_larger_than_the_bind_limit(backend: Backend) {
    let tdb = TestDb::new(backend, "wide").await;
    let db = tdb.migrated().await;
    let seeded = tdb.cli(&["seed", "--tests", "22000", "--memory-rows", "0"]);
    assert_eq!(seeded.status.code(), Some(0), "{}", stderr(&seeded));
    let one_batch = ["--batch-size", "70000", "--no-validate"];
    let (code, dry) = run(&tdb, &[&["--dry-run"][..], &one_batch].concat());
    assert_eq!(code, 0, "{dry}");
    let (code, first) = run(&tdb, &one_batch);
    assert_eq!(code, 0, "{first}");
    for phase in ["features", "bugs"] {
        assert_eq!(first[phase]["batches"], 1, "{first}");
        for count in ["inserted", "updated", "unchanged", "skipped", "anomalies"] {
            assert_eq!(
                dry[phase][count], first[phase][count],
                "{phase} {count}: {dry} {first}"
            );
        }
    }
    assert_eq!(first["features"]["inserted"], 66_000, "{first}");
    assert_eq!(first["bugs"]["updated"], 66_000, "{first}");
    let (code, second) = run(&tdb, &one_batch);
    assert_eq!(code, 0, "{second}");
    assert_eq!(second["features"]["unchanged"], 66_000, "{second}");
    assert_eq!(second["bugs"]["unchanged"], 66_000, "{second}");
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM bugs WHERE test_feature_id IS NOT NULL"
        )
        .await,
        66_000
    );
}

on_every_backend!(
    a_batch_larger_than_the_bind_limit,
    both_shapes_and_field_rules,
    second_run_writes_nothing,
    tenants_never_mix,
    duplicates_written_once,
    bad_payloads_become_anomalies,
    rejected_rows_do_not_sink_their_batch,
    dry_run_counts_match_and_write_nothing,
    dry_run_sees_what_phase_one_would_write,
    matches_an_independent_computation,
    missing_tables_are_a_usage_error,
);
