//! Whole runs on many rows: a second run writes nothing, the rows equal an independent
//! computation from the payloads, and a batch wider than a statement's bind limit.

use std::collections::BTreeMap;

use super::*;
use entity::tests;

scenario!(second_run_writes_nothing on sqlite, postgres, mysql);
/// After a run, a second one finds every row as it left it and writes none: no row
/// version moves (PostgreSQL), no write trigger fires (SQLite, MySQL).
async fn second_run_writes_nothing(backend: Backend) {
    let tdb = TestDb::new(backend, "rerun").await;
    let db = tdb.migrated().await;
    for id in 1..=40 {
        let data = json!({ "features": [feature(id * 10, 1), feature(id * 10 + 1, 2)] });
        add_test(&db, id, id % 3, data).await;
        add_bug(
            &db,
            id,
            id % 3,
            id,
            json!({ "test_feature": { "id": id * 10 } }),
        )
        .await;
    }
    let (code, first) = backfill_features(&tdb, &["--batch-size", "7"]);
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["features"]["inserted"], 80);
    assert_eq!(first["bugs"]["updated"], 40);
    // Count row writes from here on.
    let versions = |db: &Db| {
        let db = db.clone();
        async move {
            match Backend::of(&db) {
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
    let (code, second) = backfill_features(&tdb, &["--batch-size", "7"]);
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

scenario!(matches_an_independent_computation on sqlite, postgres, mysql);
/// 10,000 seeded tests: the rows equal an independent computation from the payloads.
async fn matches_an_independent_computation(backend: Backend) {
    let tdb = TestDb::new(backend, "oracle").await;
    let db = tdb.migrated().await;
    tdb.seed(
        "--tests 10000 --memory-rows 0 --malformed-json 0.01 --features-without-id 0.01 \
         --bugs-foreign-feature 0.01",
    );
    let (code, _) = backfill_features(&tdb, &["--no-validate"]);
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
        let list = features_listed(&payload).cloned().unwrap_or_default();
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
    let (_, second) = backfill_features(&tdb, &["--no-validate"]);
    assert_eq!(second["features"]["inserted"], 0);
    assert_eq!(second["features"]["updated"], 0);
}

scenario!(a_batch_larger_than_the_bind_limit on sqlite, postgres, mysql);
/// One batch whose lookups name more ids than a statement may bind values (SQLite
/// 32766, PostgreSQL 65535): 22,000 tests list 66,000 features and 66,000 bugs name one
/// each, all in one batch per phase. A dry run counts what the run then does; the run
/// inserts and attributes them all; a second run finds every row as it left it.
async fn a_batch_larger_than_the_bind_limit(backend: Backend) {
    let tdb = TestDb::new(backend, "wide").await;
    let db = tdb.migrated().await;
    tdb.seed("--tests 22000 --memory-rows 0");
    let one_batch = ["--batch-size", "70000", "--no-validate"];
    let (code, dry) = backfill_features(&tdb, &[&["--dry-run"][..], &one_batch].concat());
    assert_eq!(code, 0, "{dry}");
    let (code, first) = backfill_features(&tdb, &one_batch);
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
    let (code, second) = backfill_features(&tdb, &one_batch);
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
