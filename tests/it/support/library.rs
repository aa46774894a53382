//! Every call the tests make into the `backfill` library itself (the rest goes through
//! the binary), gathered here so that a change of its API is met in one place.

pub use backfill::anomalies::AnomalyKind;
pub use backfill::backend::Db;
pub use backfill::jobs::features::payload::{BugFeature, parse_bug_payload, parse_test_payload};
pub use backfill::report::json as json_contract;
pub use backfill::seed::SeedSettings;

use super::exec;

/// Connects to `url` as the binary does.
pub async fn connect(url: &str) -> Db {
    let url = backfill::backend::DatabaseUrl::new(url);
    backfill::backend::connect(&url, &Default::default())
        .await
        .expect("connect to the test database")
}

/// Drops the check (PostgreSQL) or the triggers (SQLite, MySQL) that keep NULL out of
/// `table`'s project_id, with the statements the backend itself uses.
pub async fn lift_project_id_guard(db: &Db, table: &str) {
    for statement in db.backend().lift_project_id_guard(table) {
        exec(db, &statement).await;
    }
}

/// Asserts the schema of `db` is the entities' (`what` names the schema in the message).
pub async fn assert_no_drift(db: &Db, what: &str) {
    let drift = backfill::schema::drift(db).await.unwrap();
    assert!(drift.is_empty(), "{what} drifts: {drift:#?}");
}

/// The columns of `table`, in order, as the schema check reads them.
pub async fn column_names(db: &Db, table: &str) -> Vec<String> {
    backfill::schema::actual_columns(db, table)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// An imperfect dataset of `tests` tests (three features and two bugs each) and
/// `memory_rows` rows per memory table, from `seed`.
pub fn seed_settings(seed: u64, tests: u64, memory_rows: u64) -> SeedSettings {
    SeedSettings {
        seed,
        tests,
        features_per_test: 3,
        bugs_per_test: 2,
        customers: 20,
        memory_rows,
        malformed_json: 0.10,
        features_without_id: 0.05,
        bugs_without_feature: 0.10,
        bugs_missing_feature: 0.05,
        bugs_foreign_feature: 0.04,
        null_project_id: 0.05,
        alias_project_id: 0.08,
        chunk: 2_000,
    }
}

/// Seeds `db` in-process, as `backfill seed` does.
pub async fn seed_in_process(db: &Db, settings: &SeedSettings) {
    backfill::seed::run(db, settings).await.expect("seed");
}

/// The database's row estimate of `table`, as `runs` shows it.
pub async fn row_estimate(db: &Db, table: &str) -> Option<u64> {
    db.backend().row_estimate(db, table).await
}

/// The sessions waiting on locks that involve `table`, as a run's health check counts
/// them between batches.
pub async fn lock_waiters(db: &Db, table: &str) -> u64 {
    db.backend()
        .observe_health(db, table)
        .await
        .expect("the health check")
        .lock_waiters
}
