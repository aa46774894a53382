//! The schema the migration crate owns, on real SQLite files and real PostgreSQL and
//! MariaDB servers: up → down → up, the schema against the entities, adoption of tables
//! created elsewhere, the `project_id` checks, `seed`, `migrate check`, bad URLs, and a
//! migration that fails half-way.

mod adoption;
mod bad_urls;
mod catalog;
mod check;
mod external_schema;
mod schema;
mod seed;
mod up_down;

use migration::MEMORY_TABLES;

/// Every migration, oldest first.
const MIGRATIONS: [&str; 8] = [
    "m20260101_000001_create_testio_tables",
    "m20260101_000002_create_memory_tables",
    "m20260101_000003_add_project_id",
    "m20260101_000004_create_bookkeeping_tables",
    "m20260101_000005_create_backfill_ranges",
    "m20260101_000006_create_backfill_settings",
    "m20260101_000007_create_backfill_samples",
    "m20260101_000008_index_backfill_anomalies",
];

/// The tables the analytics data lives in, and those of the backfills' own records.
const ANALYTICS_TABLES: [&str; 3] = ["tests", "bugs", "test_features"];
const BOOKKEEPING_TABLES: [&str; 6] = [
    "backfill_anomalies",
    "backfill_runs",
    "backfill_journal",
    "backfill_ranges",
    "backfill_settings",
    "backfill_samples",
];

/// Named indexes the migrations create (on both backends).
const NAMED_INDEXES: [&str; 17] = [
    "idx_tests_customer_id",
    "idx_tests_product_id",
    "idx_test_features_customer_id",
    "idx_test_features_test_id",
    "idx_test_features_feature_id",
    "idx_bugs_customer_id",
    "idx_bugs_test_id",
    "idx_bugs_test_feature_id",
    "uq_backfill_anomalies_open",
    "uq_backfill_runs_running",
    "idx_backfill_anomalies_kind",
    "idx_backfill_journal_run_id_table_name",
    "idx_backfill_ranges_run_id_done",
    "idx_backfill_settings_run_id",
    "idx_backfill_samples_run_id_at_ms",
    "idx_backfill_anomalies_last_seen_at_id",
    "idx_backfill_anomalies_run_id",
];

/// Unique keys of the memory tables: (constraint name on PostgreSQL, table, columns).
const UNIQUE_KEYS: [(&str, &str, &[&str]); 2] = [
    ("uq_nodes_label_name", "nodes", &["label", "name"]),
    (
        "uq_edges_source_id_target_id_relation",
        "edges",
        &["source_id", "target_id", "relation"],
    ),
];

/// Every table the migrations create.
fn all_tables() -> Vec<&'static str> {
    let mut tables: Vec<&str> = ANALYTICS_TABLES.to_vec();
    tables.extend(MEMORY_TABLES);
    tables.extend(BOOKKEEPING_TABLES);
    tables
}

// ---------------------------------------------------------------------------------
