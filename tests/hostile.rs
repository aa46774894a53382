//! Hostile input (SPEC §5.4.4, §5.5.1, §6): the payload parsers under arbitrary bytes
//! and arbitrary JSON, payloads built to hurt (huge, deep, not UTF-8, out of range,
//! mistyped) in real databases, and SQL injection through every flag that reaches SQL.
//! Bad input is an anomaly or one sentence with exit 2, never a panic or a lost table.

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

use backfill::anomalies::AnomalyKind;
use backfill::jobs::features::payload::{BugFeature, parse_bug_payload, parse_test_payload};
use proptest::prelude::*;
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------
// 7. The parsers never panic (proptest)
// ---------------------------------------------------------------------------------

const PAYLOAD_KINDS: [AnomalyKind; 3] = [
    AnomalyKind::InvalidJson,
    AnomalyKind::MissingId,
    AnomalyKind::InvalidField,
];

/// Object keys: mostly the ones the parsers look for, so generated values reach
/// every field rule, and some arbitrary ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "features",
            "exploratory_test",
            "test_feature",
            "id",
            "feature_id",
            "title",
            "description",
            "howtofind",
            "user_stories",
            "enable_default",
            "enable_content",
            "enable_visual",
        ])
        .prop_map(str::to_string),
        1 => "\\PC{0,12}",
    ]
}

/// Any JSON value, nested up to 8 levels: numbers in and out of i64, floats, strings
/// (unicode included), lists and objects.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 128, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A feature object whose fields are arbitrary values (or well-typed ones).
fn feature_like() -> impl Strategy<Value = Value> {
    let field = |typed: BoxedStrategy<Value>| {
        prop_oneof![2 => typed, 1 => json_value(), 1 => Just(Value::Null)].prop_map(Some)
    };
    let maybe = |typed: BoxedStrategy<Value>| prop_oneof![1 => Just(None), 4 => field(typed)];
    (
        maybe(any::<i64>().prop_map(Value::from).boxed()),
        maybe(any::<i64>().prop_map(Value::from).boxed()),
        maybe("\\PC{0,10}".prop_map(Value::String).boxed()),
        maybe(
            prop::collection::vec("\\PC{0,5}".prop_map(Value::String), 0..3)
                .prop_map(Value::Array)
                .boxed(),
        ),
        maybe(any::<bool>().prop_map(Value::Bool).boxed()),
    )
        .prop_map(|(id, feature_id, title, stories, flag)| {
            let mut object = Map::new();
            for (name, value) in [
                ("id", id),
                ("feature_id", feature_id),
                ("title", title),
                ("user_stories", stories),
                ("enable_visual", flag),
            ] {
                if let Some(value) = value {
                    object.insert(name.to_string(), value);
                }
            }
            Value::Object(object)
        })
}

/// Test payloads in both shapes with arbitrary listed items, and bug payloads.
fn payload_like() -> impl Strategy<Value = Value> {
    let item = prop_oneof![3 => feature_like(), 1 => json_value()];
    let list = prop::collection::vec(item, 0..6).prop_map(Value::Array);
    prop_oneof![
        list.clone().prop_map(|l| json!({ "features": l })),
        list.prop_map(|l| json!({ "exploratory_test": { "features": l } })),
        feature_like().prop_map(|f| json!({ "test_feature": f })),
        json_value(),
    ]
}

/// What both parsers make of `data`: never a panic, only typed values or a named
/// problem of one of the payload kinds.
fn check_parsers(data: &[u8]) {
    match parse_test_payload(data) {
        Ok(parsed) => {
            for (_, problem) in &parsed.problems {
                assert!(PAYLOAD_KINDS.contains(&problem.kind), "{problem:?}");
                assert!(!problem.message.is_empty());
            }
        }
        Err(problem) => {
            assert!(PAYLOAD_KINDS.contains(&problem.kind), "{problem:?}");
            assert!(!problem.message.is_empty());
        }
    }
    match parse_bug_payload(data) {
        Ok(BugFeature::None | BugFeature::Id(_)) => {}
        Err(problem) => {
            assert!(PAYLOAD_KINDS.contains(&problem.kind), "{problem:?}");
            assert!(!problem.message.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        check_parsers(&data);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        check_parsers(value.to_string().as_bytes());
    }

    /// Payload-shaped values reach the field rules: every listed item is either a
    /// feature or a problem at its own index, never lost, never both.
    #[test]
    fn payload_shapes_account_for_every_item(value in payload_like()) {
        let data = value.to_string();
        check_parsers(data.as_bytes());
        let list = value
            .get("features")
            .or_else(|| value.pointer("/exploratory_test/features"))
            .and_then(Value::as_array);
        if let (Some(list), Ok(parsed)) = (list, parse_test_payload(data.as_bytes())) {
            prop_assert_eq!(parsed.features.len() + parsed.problems.len(), list.len());
            let indexes: BTreeSet<usize> = parsed.problems.iter().map(|(i, _)| *i).collect();
            prop_assert_eq!(indexes.len(), parsed.problems.len());
            for (item, index) in list.iter().zip(0..) {
                let id = item.get("id").and_then(Value::as_i64);
                let feature_id = item.get("feature_id").and_then(Value::as_i64);
                if id.is_none() || feature_id.is_none() {
                    prop_assert!(indexes.contains(&index), "item {} has no usable ids", index);
                }
            }
            for feature in &parsed.features {
                prop_assert!(list.iter().any(|item| item.get("id").and_then(Value::as_i64) == Some(feature.id)));
            }
        }
        if let Some(feature) = value.get("test_feature") {
            match (feature.get("id").and_then(Value::as_i64), parse_bug_payload(data.as_bytes())) {
                (Some(id), Ok(BugFeature::Id(got))) => prop_assert_eq!(id, got),
                (Some(_), other) => prop_assert!(false, "a usable id was not read: {:?}", other),
                (None, Ok(BugFeature::Id(_))) => prop_assert!(false, "an id out of nothing"),
                (None, _) => {}
            }
        }
    }

    /// Valid JSON cut short or with a byte flipped.
    #[test]
    fn damaged_payloads_never_panic(value in payload_like(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
        let mut data = value.to_string().into_bytes();
        let at = cut.index(data.len() + 1);
        check_parsers(&data[..at]);
        if !data.is_empty() {
            let i = flip.0.index(data.len());
            data[i] ^= flip.1;
            check_parsers(&data);
        }
    }
}

/// A list where an object belongs is a wrong type, whichever path reads the payload
/// (serde's derived structs would also accept a struct written as a JSON list).
#[test]
fn lists_in_place_of_objects_are_problems() {
    for data in [&b"[null, null]"[..], b"[[], null]", b"[{\"id\":5}]"] {
        assert_eq!(
            parse_test_payload(data).unwrap_err().kind,
            AnomalyKind::InvalidJson,
            "{}",
            String::from_utf8_lossy(data)
        );
        assert_eq!(
            parse_bug_payload(data).unwrap_err().kind,
            AnomalyKind::InvalidJson,
            "{}",
            String::from_utf8_lossy(data)
        );
    }
    assert_eq!(
        parse_bug_payload(br#"{"test_feature":[5]}"#)
            .unwrap_err()
            .kind,
        AnomalyKind::InvalidField
    );
    let parsed =
        parse_test_payload(br#"{"features":[[1,2,"t",null,null,null,null,null,null]]}"#).unwrap();
    assert!(parsed.features.is_empty());
    assert_eq!(parsed.problems[0].1.kind, AnomalyKind::InvalidField);
    let parsed = parse_test_payload(br#"{"exploratory_test":[[]]}"#);
    assert_eq!(parsed.unwrap_err().kind, AnomalyKind::InvalidField);
}

#[test]
fn deep_and_huge_payloads_are_named_problems() {
    for depth in [127, 128, 129, 10_000, 100_000] {
        let deep_list = format!(
            "{{\"features\":{}{}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        check_parsers(deep_list.as_bytes());
        let deep_object = format!(
            "{}{}",
            "{\"test_feature\":".repeat(depth),
            "}".repeat(depth)
        );
        check_parsers(deep_object.as_bytes());
    }
    let huge = format!(
        "{{\"features\":[{{\"id\":\"{}\",\"feature_id\":1}}]}}",
        "x".repeat(10 << 20)
    );
    let parsed = parse_test_payload(huge.as_bytes()).expect("an object");
    assert_eq!(parsed.problems[0].1.kind, AnomalyKind::InvalidField);
    assert!(
        parsed.problems[0].1.message.len() < 200,
        "the message does not echo the 10 MB string"
    );
}

// ---------------------------------------------------------------------------------
// 8. Hostile payloads in the database
// ---------------------------------------------------------------------------------

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn describe(out: &Output) -> String {
    let err = stderr(out);
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out).chars().take(4000).collect::<String>(),
        err.chars().take(4000).collect::<String>()
    )
}

fn no_panic(out: &Output) {
    let err = stderr(out);
    for marker in ["panicked", "backtrace", "internal error"] {
        assert!(!err.contains(marker), "{marker}: {}", describe(out));
    }
}

async fn hostile_payloads(backend: Backend) {
    let tdb = TestDb::new(backend, "hostile_payloads").await;
    let db = tdb.migrated().await;
    let ten_mb = "x".repeat(10 << 20);
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));

    add_test(
        &db,
        1,
        1,
        json!({"features": [{"id": 101, "feature_id": 1, "title": "fine"}]}).to_string(),
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
        json!({"features": [{"id": 301, "feature_id": 3, "description": ten_mb}]}).to_string(),
    )
    .await;
    add_test(&db, 4, 1, format!("{{\"features\":{}}}", deep(10_000))).await;
    add_test(&db, 5, 1, r#"{"features":[{"id":99999999999999999999,"feature_id":1},{"id":502,"feature_id":-99999999999999999999}]}"#).await;
    add_test(&db, 6, 1, r#"{"features":[{"id":"601","feature_id":"6"}]}"#).await;
    add_test(
        &db,
        8,
        1,
        json!({"features": [{"id": 801, "feature_id": 8, "title": "after the storm"}]}).to_string(),
    )
    .await;

    add_bug(
        &db,
        1,
        1,
        1,
        json!({"test_feature": {"id": 101}}).to_string(),
    )
    .await;
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
    add_bug(
        &db,
        8,
        1,
        8,
        json!({"test_feature": {"id": 801}}).to_string(),
    )
    .await;

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

    let out = tdb.cli(&[
        "--format",
        "json",
        "--no-progress",
        "backfill-features",
        "--batch-size",
        "2",
    ]);
    no_panic(&out);
    // So many bad rows are more than 5% errored: the data falls short (exit 1), but the
    // run went through every row and printed its summary.
    assert_eq!(code(&out), 1, "{}", describe(&out));
    let summary: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
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
    let again = tdb.cli(&["--format", "json", "--no-progress", "backfill-features"]);
    no_panic(&again);
    assert_eq!(code(&again), 1, "{}", describe(&again));
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await,
        expected.len() as i64
    );
}

/// SQLite TEXT holding bytes that are not UTF-8 outside the payloads: in a memory
/// table's project_id and in an existing test_features row. Each is one row's problem,
/// never a batch that fails on every retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_stored_values_sqlite() {
    let tdb = TestDb::new(Backend::Sqlite, "non_utf8").await;
    let db = tdb.migrated().await;
    let seed = tdb.cli(&[
        "seed",
        "--tests",
        "5",
        "--memory-rows",
        "30",
        "--null-project-id",
        "0.5",
    ]);
    assert_eq!(code(&seed), 0, "{}", describe(&seed));
    exec(
        &db,
        "UPDATE working_memory SET project_id = CAST(x'ff6f' AS TEXT) WHERE id = 3",
    )
    .await;
    add_test(
        &db,
        100,
        1,
        json!({"features": [{"id": 9001, "feature_id": 1, "title": "clean"}]}).to_string(),
    )
    .await;
    add_test(
        &db,
        101,
        1,
        json!({"features": [{"id": 9002, "feature_id": 1, "title": "next"}]}).to_string(),
    )
    .await;
    exec(
        &db,
        "INSERT INTO test_features (id, customer_id, test_id, feature_id, title, user_stories, \
         enable_default, enable_content, enable_visual) \
         VALUES (9001, 1, 100, 1, CAST(x'fffe' AS TEXT), '[]', 0, 0, 0)",
    )
    .await;

    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--batch-size",
        "7",
    ]);
    no_panic(&out);
    assert_eq!(code(&out), 0, "{}", describe(&out));
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
    let summary: Value = serde_json::from_str(stdout(&out).trim()).expect("JSON summary");
    let table = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "working_memory")
        .unwrap();
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

    let out = tdb.cli(&["--format", "json", "backfill-features", "--batch-size", "1"]);
    no_panic(&out);
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

// ---------------------------------------------------------------------------------
// 9. SQL injection through every flag that reaches SQL
// ---------------------------------------------------------------------------------

/// Every table and its row count.
async fn table_counts(db: &DatabaseConnection) -> BTreeMap<String, i64> {
    let names =
        match backend_of(db) {
            Backend::Sqlite => texts(
                db,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .await,
            Backend::Postgres => {
                texts(
                    db,
                    "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
                )
                .await
            }
            Backend::Mysql => {
                texts(
                    db,
                    "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE()",
                )
                .await
            }
        };
    let mut counts = BTreeMap::new();
    for name in names.into_iter().flatten() {
        let n = int(db, &format!("SELECT COUNT(*) FROM \"{name}\"")).await;
        counts.insert(name, n);
    }
    counts
}

async fn sql_injection(backend: Backend) {
    let tdb = TestDb::new(backend, "injection").await;
    let db = tdb.migrated().await;
    let seed = tdb.cli(&[
        "seed",
        "--tests",
        "20",
        "--memory-rows",
        "20",
        "--null-project-id",
        "0.3",
        "--alias-project-id",
        "0.2",
        "--malformed-json",
        "0.1",
    ]);
    assert_eq!(code(&seed), 0, "{}", describe(&seed));
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
        no_panic(&out);
        assert!(
            allowed.contains(&code(&out)),
            "{args:?}: {}",
            describe(&out)
        );
        if code(&out) == 2 {
            assert!(!stderr(&out).trim().is_empty(), "{args:?} says why");
        }
        if args.contains(&"anomalies") && args.contains(&"json") && code(&out) == 0 {
            let listed: Value = serde_json::from_str(stdout(&out).trim()).expect("JSON list");
            assert_eq!(listed, json!([]), "{args:?} matches nothing");
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
    let out = Command::new(env!("CARGO_BIN_EXE_backfill"))
        .args(["--format", "json", "anomalies", "--table", "tests", "--all"])
        .env("DATABASE_URL", &tdb.url)
        .output()
        .expect("run backfill");
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let listed: Value = serde_json::from_str(stdout(&out).trim()).expect("JSON list");
    assert!(
        !listed.as_array().unwrap().is_empty(),
        "tests anomalies are listed"
    );
}

on_every_backend!(hostile_payloads, sql_injection);
