//! `validate`, `anomalies` and `demo`: the CI gate's rates at and around the threshold
//! on crafted data, the per-customer breakdown, the JSON contract, and the newcomer's
//! first run end to end.

mod common;

use common::*;
use sea_orm::DatabaseConnection;
use serde_json::Value;

/// `n` tests of `customer`, the first `covered` of them with one feature; one bug per
/// test, the first `attributed` of them attributed.
async fn craft(
    db: &DatabaseConnection,
    first_id: i64,
    customer: i64,
    n: i64,
    covered: i64,
    attributed: i64,
) {
    for i in 0..n {
        let id = first_id + i;
        exec(
            db,
            &format!(
                "INSERT INTO tests (id, customer_id, product_id, data, status) VALUES ({id}, {customer}, 1, '{{\"features\":[{{\"id\":{id},\"feature_id\":1}}]}}', 'archived')"
            ),
        )
        .await;
        if i < covered {
            exec(
                db,
                &format!(
                    "INSERT INTO test_features (id, customer_id, test_id, feature_id, title, user_stories, enable_default, enable_content, enable_visual) \
                     VALUES ({id}, {customer}, {id}, 1, 't', '[]', false, false, false)"
                ),
            )
            .await;
        }
        let feature = if i < attributed && i < covered {
            id.to_string()
        } else {
            "NULL".into()
        };
        exec(
            db,
            &format!(
                "INSERT INTO bugs (id, customer_id, test_id, title, known, raw_data, test_feature_id) \
                 VALUES ({id}, {customer}, {id}, 'b', false, '{{\"test_feature\":{{\"id\":{id}}}}}', {feature})"
            ),
        )
        .await;
    }
}

fn validate(db: &TestDb, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--format", "json", "validate"];
    all.extend_from_slice(args);
    let output = db.cli(&all);
    let json = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", stderr(&output)));
    (output.status.code().unwrap_or(-1), json)
}

async fn rates_around_the_threshold(backend: Backend) {
    let tdb = TestDb::new(backend, "threshold").await;
    let db = tdb.migrated().await;
    craft(&db, 1, 1, 20, 19, 19).await;
    // Exactly at 0.95: passes.
    let (code, json) = validate(&tdb, &["--threshold", "0.95"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["test_coverage_rate"].as_f64(), Some(0.95));
    assert_eq!(json["bug_attribution_rate"].as_f64(), Some(0.95));
    assert_eq!(json["customer_id_coverage_rate"].as_f64(), Some(1.0));
    // Just above the rate: fails, and the text says by how much.
    let (code, json) = validate(&tdb, &["--threshold", "0.951"]);
    assert_eq!(code, 1);
    assert_eq!(json["passed"], false);
    let text = stdout(&tdb.cli(&["validate", "--threshold", "0.951"]));
    assert!(text.contains("BELOW 95.10% by 0.10 points"), "{text}");
    // Just below the rate: passes.
    assert_eq!(validate(&tdb, &["--threshold", "0.949"]).0, 0);
    // One more uncovered test drops coverage below 0.95.
    craft(&db, 100, 1, 1, 0, 0).await;
    let (code, json) = validate(&tdb, &[]);
    assert_eq!(code, 1);
    assert!(json["test_coverage_rate"].as_f64().unwrap_or(1.0) < 0.95);
}

async fn empty_tables_are_not_applicable(backend: Backend) {
    let tdb = TestDb::new(backend, "empty").await;
    tdb.migrated().await;
    let (code, json) = validate(&tdb, &[]);
    assert_eq!(code, 0, "{json}");
    for key in [
        "test_coverage_rate",
        "bug_attribution_rate",
        "customer_id_coverage_rate",
    ] {
        assert!(json[key].is_null(), "{key}: {json}");
    }
    assert_eq!(json["threshold"].as_f64(), Some(0.95));
    assert_eq!(json["passed"], true);
    let tables = json["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 11);
    for table in tables {
        assert!(table["table"].is_string());
        assert!(table["null_count"].is_i64());
        assert!(table["constraint_validated"].is_boolean());
    }
}

async fn per_customer_breakdown(backend: Backend) {
    let tdb = TestDb::new(backend, "customers").await;
    let db = tdb.migrated().await;
    craft(&db, 1, 1, 40, 40, 40).await;
    craft(&db, 1000, 2, 10, 5, 5).await;
    let (code, json) = validate(&tdb, &["--by-customer"]);
    assert_eq!(code, 1, "45 of 50 tests covered overall: {json}");
    let customers = json["by_customer"].as_array().expect("by_customer");
    assert_eq!(customers.len(), 2);
    assert_eq!(customers[0]["customer_id"], 1);
    assert_eq!(customers[0]["below_threshold"], false);
    assert_eq!(customers[1]["customer_id"], 2);
    assert_eq!(customers[1]["test_coverage_rate"].as_f64(), Some(0.5));
    assert_eq!(customers[1]["below_threshold"], true);
    let text = stdout(&tdb.cli(&["validate", "--by-customer"]));
    assert!(text.contains("customer 2 below threshold"), "{text}");
    assert!(!text.contains("customer 1 below"), "{text}");
}

async fn nulls_fail_until_backfilled(backend: Backend) {
    let tdb = TestDb::new(backend, "nulls").await;
    tdb.migrated().await;
    let seeded = tdb.cli(&[
        "seed",
        "--tests",
        "0",
        "--memory-rows",
        "50",
        "--null-project-id",
        "0.2",
    ]);
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    let (code, json) = validate(&tdb, &[]);
    assert_eq!(code, 1);
    assert_eq!(json["tables"][0]["null_count"], 10, "{json}");
    let run = tdb.cli(&["backfill-project-id", "--sleep", "0"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let (code, json) = validate(&tdb, &[]);
    assert_eq!(code, 0, "{json}");
    assert!(
        json["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .all(|t| t["constraint_validated"] == true)
    );
}

async fn threshold_out_of_range_is_usage(backend: Backend) {
    let tdb = TestDb::new(backend, "usage").await;
    tdb.migrated().await;
    let output = tdb.cli(&["validate", "--threshold", "1.5"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--threshold"));
    assert!(stdout(&output).is_empty());
}

async fn anomalies_list_and_resolve(backend: Backend) {
    let tdb = TestDb::new(backend, "anomalies").await;
    let db = tdb.migrated().await;
    exec(&db, "INSERT INTO tests (id, customer_id, product_id, data, status) VALUES (1, 1, 1, 'oops', 'archived')").await;
    exec(&db, "INSERT INTO tests (id, customer_id, product_id, data, status) VALUES (2, 1, 1, '{\"features\":[{\"feature_id\":1}]}', 'archived')").await;
    tdb.cli(&["backfill-features"]);
    let listed = tdb.cli(&["--format", "json", "anomalies"]);
    let rows: Value = serde_json::from_str(&stdout(&listed)).expect("json list");
    assert_eq!(rows.as_array().map(Vec::len), Some(2));
    let filtered: Value = serde_json::from_str(&stdout(&tdb.cli(&[
        "--format",
        "json",
        "anomalies",
        "--kind",
        "invalid_json",
    ])))
    .expect("json");
    assert_eq!(filtered.as_array().map(Vec::len), Some(1));
    let id = filtered[0]["id"].as_i64().expect("id").to_string();
    // An unknown id is refused and nothing changes.
    let refused = tdb.cli(&["anomalies", "resolve", &id, "999999"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("999999"));
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM backfill_anomalies WHERE resolved = true"
        )
        .await,
        0
    );
    let resolved = tdb.cli(&["anomalies", "resolve", &id]);
    assert!(resolved.status.success());
    let open: Value =
        serde_json::from_str(&stdout(&tdb.cli(&["--format", "json", "anomalies"]))).expect("json");
    assert_eq!(open.as_array().map(Vec::len), Some(1));
    let all: Value = serde_json::from_str(&stdout(&tdb.cli(&[
        "--format",
        "json",
        "anomalies",
        "--all",
    ])))
    .expect("json");
    assert_eq!(all.as_array().map(Vec::len), Some(2));
}

on_every_backend!(
    rates_around_the_threshold,
    empty_tables_are_not_applicable,
    per_customer_breakdown,
    nulls_fail_until_backfilled,
    threshold_out_of_range_is_usage,
    anomalies_list_and_resolve,
);

#[test]
fn demo_end_to_end_and_refusal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_backfill"))
            .arg("demo")
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .output()
            .expect("run demo")
    };
    let output = demo();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).is_empty(),
        "default flags log nothing: {}",
        stderr(&output)
    );
    let text = stdout(&output);
    let last = text.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("done in ") && last.ends_with(" rows/s"),
        "{text}"
    );
    for line in [
        "test_features rows inserted",
        "rows set to 'io'",
        "row_rejected",
        "cross_tenant",
        "dangling_reference",
        "legacy_alias",
        "test_coverage_rate",
        "backfill backfill-features --dry-run",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    assert!(dir.path().join("demo.db").exists());
    // It owns demo.db: a second run recreates it.
    assert_eq!(demo().status.code(), Some(0));

    // A file it did not create is refused and left as it was.
    let foreign = dir.path().join("demo.db");
    std::fs::remove_file(&foreign).expect("remove");
    std::fs::write(&foreign, b"somebody else's data").expect("write");
    let before = std::fs::read(&foreign).expect("read");
    let refused = demo();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("was not created by `backfill demo`"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(&foreign).expect("read"), before);
}

/// The demo runs only on its own file: a database URL, as a flag or in DATABASE_URL,
/// is refused in one sentence (exit 2), and neither it nor demo.db is created.
#[test]
fn demo_refuses_a_database_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dir.path().join("other.db");
    let url = format!("sqlite://{}?mode=rwc", other.display());
    let flag = ["demo", "--database-url", url.as_str()];
    let runs = [
        std::process::Command::new(env!("CARGO_BIN_EXE_backfill"))
            .args(flag)
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .output()
            .expect("run demo"),
        std::process::Command::new(env!("CARGO_BIN_EXE_backfill"))
            .args(["demo", "--file", "mine.db"])
            .current_dir(dir.path())
            .env("DATABASE_URL", &url)
            .output()
            .expect("run demo"),
    ];
    for output in runs {
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let err = stderr(&output);
        assert_eq!(err.trim_end().lines().count(), 1, "one sentence: {err}");
        assert!(
            err.contains("the demo works only on its own SQLite file (--file"),
            "{err}"
        );
        assert!(stdout(&output).is_empty());
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "nothing was created: {left:?}");
}
