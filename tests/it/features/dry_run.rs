//! `backfill-features --dry-run`: the counts of the run it stands for, nothing written.

use super::*;

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

scenario!(counts_match_and_write_nothing on sqlite, postgres, mysql);
/// On seeded imperfect data the dry run counts what the run then does, and writes
/// nothing (the SQLite file stays byte for byte the same).
async fn counts_match_and_write_nothing(backend: Backend) {
    let tdb = TestDb::new(backend, "dryrun").await;
    let db = tdb.migrated().await;
    tdb.seed(
        "--tests 300 --memory-rows 0 --malformed-json 0.02 --features-without-id 0.02 \
         --bugs-without-feature 0.05 --bugs-missing-feature 0.02 --bugs-foreign-feature 0.02",
    );
    db.close().await.ok();
    let bytes = tdb
        .path
        .as_ref()
        .map(|p| std::fs::read(p).expect("read db file"));
    let (_, dry) = backfill_features(&tdb, &["--dry-run", "--batch-size", "40"]);
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
    let (_, real) = backfill_features(&tdb, &["--batch-size", "40"]);
    assert_same_counts(&dry, &real);
}

scenario!(sees_what_phase_one_would_write on sqlite, postgres, mysql);
/// The dry run sees what phase 1 would have written, not only the bug's own test: a bug
/// naming a feature another test lists is attributed, and a feature listed again by a
/// later batch is a duplicate, exactly as in the run.
async fn sees_what_phase_one_would_write(backend: Backend) {
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
    let (_, dry) = backfill_features(&tdb, &["--dry-run", "--batch-size", "1"]);
    let (_, real) = backfill_features(&tdb, &["--batch-size", "1", "--no-validate"]);
    assert_eq!(real["bugs"]["updated"], 2, "{real}");
    assert_eq!(real["features"]["inserted"], 3, "{real}");
    assert_same_counts(&dry, &real);
    assert_eq!(dry["too_many_errors"], real["too_many_errors"]);
}
