//! The rules of a feature and of a bug's attribution (SPEC §5.4), one scenario each:
//! both payload shapes and the field defaults, tenants kept apart, a feature listed
//! twice, payloads that are anomalies, rows the database rejects, tables not migrated.

use super::*;

scenario!(both_shapes_and_field_rules on sqlite, postgres, mysql);
/// The flat and the `exploratory_test` payload, each field's default, the customer
/// taken from the row; an update rewrites what the payload says and keeps a flag it no
/// longer mentions.
async fn both_shapes_and_field_rules(backend: Backend) {
    let tdb = TestDb::new(backend, "shapes").await;
    let db = tdb.migrated().await;
    let flat = json!({ "customer_id": 999, "features": [
        { "id": 10, "feature_id": 1, "title": "Login", "description": "d", "howtofind": "menu",
          "user_stories": ["a", "b"], "enable_default": true, "enable_content": null },
        { "id": 11, "feature_id": 2, "user_stories": null }
    ]});
    let envelope = json!({ "exploratory_test": { "features": [ { "id": 20, "feature_id": 3, "title": "Cart", "enable_visual": true } ] } });
    add_test(&db, 1, 7, flat).await;
    add_test(&db, 2, 8, envelope).await;
    let (code, summary) = backfill_features(&tdb, &[]);
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
    let (code, summary) = backfill_features(&tdb, &[]);
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

scenario!(tenants_never_mix on sqlite, postgres, mysql);
/// A feature id another customer already holds, and a bug naming another customer's
/// feature: neither is written, both are `cross_tenant` anomalies.
async fn tenants_never_mix(backend: Backend) {
    let tdb = TestDb::new(backend, "tenants").await;
    let db = tdb.migrated().await;
    add_test(&db, 1, 1, json!({ "features": [feature(100, 1)] })).await;
    add_test(
        &db,
        2,
        2,
        json!({ "features": [feature(200, 1), feature(100, 9)] }),
    )
    .await;
    // Customer 1's bug names customer 2's feature.
    let names_200 = json!({ "test_feature": { "id": 200 } });
    add_bug(&db, 1, 1, 1, &names_200).await;
    add_bug(&db, 2, 2, 2, &names_200).await;
    let (_, summary) = backfill_features(&tdb, &["--no-validate"]);
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

scenario!(duplicates_written_once on sqlite, postgres, mysql);
/// A feature listed twice by one test and again by another: the first listing wins,
/// whatever the batch size, and one `duplicate_id` anomaly stays open.
async fn duplicates_written_once(backend: Backend) {
    let tdb = TestDb::new(backend, "dups").await;
    let db = tdb.migrated().await;
    let titled = |title: &str| {
        let mut listed = feature(5, 1);
        listed["title"] = json!(title);
        listed
    };
    add_test(
        &db,
        1,
        1,
        json!({ "features": [titled("first"), titled("second")] }),
    )
    .await;
    add_test(&db, 2, 1, json!({ "features": [titled("third")] })).await;
    for batch in ["1", "500"] {
        let (_, summary) = backfill_features(&tdb, &["--batch-size", batch, "--no-validate"]);
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

scenario!(bad_payloads_become_anomalies on sqlite, postgres, mysql);
/// Malformed JSON, missing and mistyped ids and fields, dangling references: each an
/// anomaly of its row (or item), the good rows written around them, no twins on a
/// re-run.
async fn bad_payloads_become_anomalies(backend: Backend) {
    let tdb = TestDb::new(backend, "badinput").await;
    let db = tdb.migrated().await;
    add_test(&db, 1, 1, "{\"features\": [").await;
    add_test(
        &db,
        2,
        1,
        json!({ "features": [{ "feature_id": 1 }, feature(21, 1)] }),
    )
    .await;
    add_test(&db, 3, 1, json!({ "features": [{ "id": "31", "feature_id": 1 }, { "id": 32, "feature_id": 1, "enable_visual": "yes" }] })).await;
    add_test(
        &db,
        4,
        1,
        json!({ "features": [{ "id": 1e30, "feature_id": 1 }] }),
    )
    .await;
    add_test(&db, 5, 1, json!({ "title": "no features listed" })).await;
    let bugs = [
        "not json".to_string(),
        json!({ "test_feature": { "id": 777 } }).to_string(),
        json!({ "test_feature": { "name": "x" } }).to_string(),
        json!({ "title": "no feature" }).to_string(),
        json!({ "test_feature": { "id": 21 } }).to_string(),
    ];
    for (id, raw) in (1..).zip(bugs) {
        add_bug(&db, id, 1, 2, raw).await;
    }
    let (code, summary) = backfill_features(&tdb, &[]);
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
    backfill_features(&tdb, &[]);
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await,
        expected.len() as i64
    );
}

scenario!(rejected_rows_do_not_sink_their_batch on sqlite, postgres, mysql);
/// Rows the database rejects on insert: each is a `row_rejected` anomaly with the
/// database's message, and the rest of its batch is written.
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
            json!({ "features": [feature(id, 1), feature(id + 100, 1)] }),
        )
        .await;
    }
    let (_, summary) = backfill_features(&tdb, &["--batch-size", "20", "--no-validate"]);
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

scenario!(missing_tables_are_a_usage_error on sqlite, postgres, mysql);
/// On a database not migrated: one sentence naming the fix, exit 2.
async fn missing_tables_are_a_usage_error(backend: Backend) {
    let tdb = TestDb::new(backend, "notables").await;
    let output = tdb.cli(&["backfill-features"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("migrate up"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
