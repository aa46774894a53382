//! `validate` and `anomalies`, what an operator reads after a run: the CI gate's rates
//! at and around the threshold on crafted data, the per-customer breakdown, the JSON
//! contract; the anomalies listed, filtered and resolved.

use crate::support::Db;
use serde_json::Value;

use crate::support::*;

/// `n` tests of `customer`, the first `covered` of them with one feature; one bug per
/// test, the first `attributed` of them attributed.
async fn craft(db: &Db, first_id: i64, customer: i64, n: i64, covered: i64, attributed: i64) {
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

/// `validate` with `flags`, in JSON: its exit code and report.
fn validate(tdb: &TestDb, flags: &[&str]) -> (i32, Value) {
    tdb.run_json(&[&["validate"][..], flags].concat())
}

/// `anomalies` with `flags`, in JSON: the anomalies it lists.
fn anomalies(tdb: &TestDb, flags: &[&str]) -> Value {
    let (code, listed) = tdb.run_json(&[&["anomalies"][..], flags].concat());
    assert_eq!(code, 0, "{listed}");
    listed["anomalies"].clone()
}

scenario!(rates_around_the_threshold on sqlite, postgres, mysql);
/// A rate exactly at the threshold passes, just below it fails by a margin the text
/// names, and one more uncovered test drops coverage below it.
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

scenario!(empty_tables_are_not_applicable on sqlite, postgres, mysql);
/// On empty tables the rates are null and the gate passes; the JSON still lists every
/// memory table.
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

scenario!(per_customer_breakdown on sqlite, postgres, mysql);
/// `--by-customer` names the customer below the threshold, and only that one.
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

scenario!(nulls_fail_until_backfilled on sqlite, postgres, mysql);
/// NULL project_ids fail the gate until `backfill-project-id` has run.
async fn nulls_fail_until_backfilled(backend: Backend) {
    let tdb = TestDb::new(backend, "nulls").await;
    tdb.migrated().await;
    tdb.seed("--tests 0 --memory-rows 50 --null-project-id 0.2");
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

scenario!(threshold_out_of_range_is_usage on sqlite, postgres, mysql);
/// A threshold above 1 is refused (exit 2), naming the flag.
async fn threshold_out_of_range_is_usage(backend: Backend) {
    let tdb = TestDb::new(backend, "usage").await;
    tdb.migrated().await;
    let output = tdb.cli(&["validate", "--threshold", "1.5"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--threshold"));
    assert!(stdout(&output).is_empty());
}

scenario!(anomalies_list_and_resolve on sqlite, postgres, mysql);
/// `anomalies` lists the open anomalies (`--kind` filters, `--all` adds the resolved),
/// and `anomalies resolve` closes them, refusing an id that does not exist.
async fn anomalies_list_and_resolve(backend: Backend) {
    let tdb = TestDb::new(backend, "anomalies").await;
    let db = tdb.migrated().await;
    exec(&db, "INSERT INTO tests (id, customer_id, product_id, data, status) VALUES (1, 1, 1, 'oops', 'archived')").await;
    exec(&db, "INSERT INTO tests (id, customer_id, product_id, data, status) VALUES (2, 1, 1, '{\"features\":[{\"feature_id\":1}]}', 'archived')").await;
    tdb.cli(&["backfill-features"]);
    let rows = anomalies(&tdb, &[]);
    assert_eq!(rows.as_array().map(Vec::len), Some(2));
    let filtered = anomalies(&tdb, &["--kind", "invalid_json"]);
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
    let open = anomalies(&tdb, &[]);
    assert_eq!(open.as_array().map(Vec::len), Some(1));
    let all = anomalies(&tdb, &["--all"]);
    assert_eq!(all.as_array().map(Vec::len), Some(2));
}
