//! The schema of `backfill`, as sea-orm-migration migrations, plus the names other
//! code must agree on (the eleven memory tables, the `project_id` checks and
//! triggers, the partial indexes of the bookkeeping tables).
//!
//! Every migration is idempotent against an existing schema: tables and indexes are
//! created `IF NOT EXISTS`, columns, constraints and triggers are probed before they
//! are added, so `up` adopts a database created elsewhere and leaves what it finds as
//! it is; `down` removes only what `up` created (see `ownership`). On PostgreSQL and
//! SQLite every migration runs in one transaction (their DDL is transactional), so a
//! failed `up` or `down` leaves the schema as it was. MySQL commits each DDL statement
//! as it runs: there a failed migration keeps the steps it made and is replayed from
//! its start, which is safe because every step is probed before it is made.
//!
//! What differs between the databases is [`dialect`]'s, one file per database; the
//! migrations, `ownership`, [`catalog`] and `project_id` ask it and never match on the
//! database themselves.

pub use sea_orm_migration::prelude::*;

pub mod catalog;
mod column;
pub mod dialect;
mod m20260101_000001_create_testio_tables;
mod m20260101_000002_create_memory_tables;
mod m20260101_000003_add_project_id;
mod m20260101_000004_create_bookkeeping_tables;
mod m20260101_000005_create_backfill_ranges;
mod m20260101_000006_create_backfill_settings;
mod m20260101_000007_create_backfill_samples;
mod m20260101_000008_index_backfill_anomalies;
mod object;
mod ownership;
mod project_id;

pub use dialect::SchemaDialect;
pub use object::SchemaObject;
use ownership::Owned;
pub use ownership::{MIGRATION_OBJECTS_TABLE, created_by};
pub use project_id::{ProjectIdCheck, ensure_project_id_check, project_id_check_state};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Owned(m20260101_000001_create_testio_tables::Migration)),
            Box::new(Owned(m20260101_000002_create_memory_tables::Migration)),
            Box::new(Owned(m20260101_000003_add_project_id::Migration)),
            Box::new(Owned(m20260101_000004_create_bookkeeping_tables::Migration)),
            Box::new(Owned(m20260101_000005_create_backfill_ranges::Migration)),
            Box::new(Owned(m20260101_000006_create_backfill_settings::Migration)),
            Box::new(Owned(m20260101_000007_create_backfill_samples::Migration)),
            Box::new(Owned(m20260101_000008_index_backfill_anomalies::Migration)),
        ]
    }
}

/// The eleven agent-memory tables that carry `project_id`, in the order
/// `backfill-project-id` walks them (SPEC §5.5). Parents come before the tables
/// that reference them, so the reverse order is safe for dropping.
pub const MEMORY_TABLES: [&str; 11] = [
    "l2_insights",
    "nodes",
    "edges",
    "working_memory",
    "episode_memory",
    "l0_raw",
    "ground_truth",
    "stale_memory",
    "smf_proposals",
    "ief_feedback",
    "l2_insight_history",
];

/// The column added to the memory tables by `m20260101_000003_add_project_id`.
pub const PROJECT_ID_COLUMN: &str = "project_id";

/// The owner of every legacy row, and the column's default.
pub const LEGACY_PROJECT_ID: &str = "io";

/// Partial unique index: one open anomaly per (`table_name`, `row_id`, `kind`).
pub const ANOMALIES_OPEN_INDEX: &str = "uq_backfill_anomalies_open";

/// Partial unique index: one `running` run per `command`.
pub const RUNS_RUNNING_INDEX: &str = "uq_backfill_runs_running";

/// `WHERE` clause of [`ANOMALIES_OPEN_INDEX`] on PostgreSQL. An upsert targeting
/// the index repeats it: `ON CONFLICT (table_name, row_id, kind) WHERE resolved = false`.
/// Any database's, MySQL's included: [`SchemaDialect::anomalies_open_predicate`].
pub const ANOMALIES_OPEN_PREDICATE_POSTGRES: &str = "resolved = false";

/// `WHERE` clause of [`ANOMALIES_OPEN_INDEX`] on SQLite. SQLite matches an upsert's
/// conflict target to a partial index by comparing the `WHERE` clauses term by term,
/// so an upsert must repeat exactly this text (`0`, not `false`).
pub const ANOMALIES_OPEN_PREDICATE_SQLITE: &str = "resolved = 0";

/// `WHERE` clause of [`RUNS_RUNNING_INDEX`], the same on every database.
pub const RUNS_RUNNING_PREDICATE: &str = "status = 'running'";

/// `url` with the password, if any, replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Name of the check that forbids a NULL `project_id` in `table`:
/// `check_<table>_project_id_not_null` (a `NOT VALID` check on PostgreSQL, the
/// prefix of the two enforcing triggers on SQLite).
pub fn project_id_check_name(table: &str) -> String {
    format!("check_{table}_project_id_not_null")
}

/// SQLite trigger rejecting an INSERT with a NULL `project_id` into `table`.
pub fn project_id_insert_trigger_name(table: &str) -> String {
    format!("{}_insert", project_id_check_name(table))
}

/// SQLite trigger rejecting an UPDATE that leaves `project_id` NULL in `table`.
pub fn project_id_update_trigger_name(table: &str) -> String {
    format!("{}_update", project_id_check_name(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        assert_eq!(
            project_id_check_name("l0_raw"),
            "check_l0_raw_project_id_not_null"
        );
        assert_eq!(
            project_id_insert_trigger_name("nodes"),
            "check_nodes_project_id_not_null_insert"
        );
        assert_eq!(
            project_id_update_trigger_name("nodes"),
            "check_nodes_project_id_not_null_update"
        );
        assert_eq!(
            redact_url("postgres://bob:s3cr@t@db:5432/x"),
            "postgres://bob:***@db:5432/x"
        );
        assert_eq!(
            redact_url("sqlite://a.db?mode=rwc"),
            "sqlite://a.db?mode=rwc"
        );
    }
}
