//! What differs between databases in the schema, in one place. Each database is one
//! file implementing [`SchemaDialect`] (SQLite, PostgreSQL, MySQL/MariaDB); the
//! migrations, `ownership`, `catalog` and `project_id` ask [`of`] for the dialect and
//! never match on the database themselves. The trait has no default methods, so a
//! fourth database does not compile until each of its pieces is written.
//!
//! The dialect only builds SQL and column types; running it is the caller's (probed
//! and recorded by `ownership`), as in sea-orm-migration's `migrator/queries.rs`.
//! Statements that name a table or column quote it; every name reaching them is one
//! of this schema's own.

mod mysql;
mod postgres;
mod sqlite;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::object::SchemaObject;
use crate::{
    ANOMALIES_OPEN_INDEX, PROJECT_ID_COLUMN, RUNS_RUNNING_INDEX, RUNS_RUNNING_PREDICATE,
    project_id_check_name, project_id_insert_trigger_name, project_id_update_trigger_name,
};

/// A schema object and the one statement that creates it, run on its own (MySQL
/// commits each DDL statement as it runs, so a repeated `up` finds the steps made
/// before a failure and skips them).
pub type Step = (SchemaObject, String);

/// Everything about the schema that is not the same on every database.
pub trait SchemaDialect: Send + Sync {
    // --- column types and defaults -------------------------------------------------

    /// Default of a NOT NULL UUID column whose value the database generates.
    fn uuid_default(&self) -> Expr;

    /// Type of an array column of `elem` (`elem[]`, or a JSON array where the database
    /// has no arrays).
    fn array_type(&self, elem: ColumnType) -> ColumnType;

    /// Type of a text column that a unique key covers.
    fn key_text_type(&self) -> ColumnType;

    /// Type of a text column that may hold megabytes (a payload, a description).
    fn long_text_type(&self) -> ColumnType;

    /// `'[]'` as the default of a column of [`Self::long_text_type`].
    fn empty_json_array_default(&self) -> Expr;

    /// Default of a NOT NULL timestamp column added to a table that has rows; the
    /// migration sets every row's value right after.
    fn added_timestamp_default(&self) -> Expr;

    // --- partial unique keys -------------------------------------------------------

    /// `WHERE` clause that selects the open anomalies, as [`ANOMALIES_OPEN_INDEX`]'s
    /// predicate and for queries that must match it.
    fn anomalies_open_predicate(&self) -> &'static str;

    /// The steps that make `key`, in order.
    fn partial_unique(&self, key: PartialUnique) -> Vec<Step>;

    // --- the project_id check (SPEC §4.3) ----------------------------------------

    /// The parts of the check that forbids a NULL `project_id` in `table` (one of
    /// [`crate::MEMORY_TABLES`]), each with the statement that creates it.
    fn project_id_check(&self, table: &str) -> Vec<Step>;

    /// Where the check is a constraint that may be `NOT VALID`: a query (its check
    /// name, then its table) whose one row, if any, has the boolean `convalidated`.
    /// `None` where the check is triggers, enforced once they all exist.
    fn project_id_validation_probe(&self) -> Option<&'static str>;

    // --- probes and drops of what a migration created -----------------------------

    /// A query (the constraint's name, then its table) that returns a row if the
    /// named constraint exists. `None` where a constraint cannot be added to an
    /// existing table, so the migrations never make one on its own.
    fn constraint_probe(&self) -> Option<&'static str>;

    /// A query (the trigger's name, then its table) that returns a row if the
    /// trigger exists.
    fn trigger_probe(&self) -> &'static str;

    /// Drops the index `name` of `table`.
    fn drop_index(&self, table: &str, name: &str) -> String;

    /// Drops the constraint `name` of `table`; `None` where [`Self::constraint_probe`]
    /// is, as there is none to drop.
    fn drop_constraint(&self, table: &str, name: &str) -> Option<String>;

    /// Drops the trigger `name` of `table`.
    fn drop_trigger(&self, table: &str, name: &str) -> String;

    // --- adoption and catalog ------------------------------------------------------

    /// The statements that add `key` to `table`, a table created elsewhere that lacks
    /// it. `None` where a foreign key cannot be added to an existing table (then
    /// `migrate check` reports it missing).
    fn add_foreign_key(&self, table: &str, key: &ForeignKeyCreateStatement) -> Option<Vec<String>>;

    /// The indexes of a table (its one parameter), primary key aside: one row each
    /// with `name`, `is_unique` and `columns` (comma-separated, in order).
    fn indexes_query(&self) -> String;

    /// The foreign keys of a table (its one parameter): one row each with `name`,
    /// `columns`, `referenced_table` and `referenced_columns` (comma-separated lists).
    fn foreign_keys_query(&self) -> String;
}

/// The dialect of `backend`: the one place the database kind is matched on.
pub fn of(backend: DbBackend) -> Result<&'static dyn SchemaDialect, DbErr> {
    match backend {
        DbBackend::Sqlite => Ok(&sqlite::Sqlite),
        DbBackend::Postgres => Ok(&postgres::Postgres),
        DbBackend::MySql => Ok(&mysql::MySql),
        // `DbBackend` is `#[non_exhaustive]`: a database sea-orm adds later has no
        // schema here until it has a dialect.
        other => Err(DbErr::BackendNotSupported {
            db: other.as_str(),
            ctx: "unsupported database: the backfill schema is written for SQLite, \
                  PostgreSQL and MySQL/MariaDB",
        }),
    }
}

/// A unique key over some rows of a table only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartialUnique {
    /// [`ANOMALIES_OPEN_INDEX`]: one open anomaly per (`table_name`, `row_id`, `kind`).
    OpenAnomaly,
    /// [`RUNS_RUNNING_INDEX`]: one `running` run per `command`.
    RunningRun,
}

impl PartialUnique {
    pub fn table(self) -> &'static str {
        match self {
            Self::OpenAnomaly => "backfill_anomalies",
            Self::RunningRun => "backfill_runs",
        }
    }

    pub fn index(self) -> &'static str {
        match self {
            Self::OpenAnomaly => ANOMALIES_OPEN_INDEX,
            Self::RunningRun => RUNS_RUNNING_INDEX,
        }
    }

    /// The partial unique index of the key, `WHERE` the dialect's predicate, as a
    /// database with partial indexes creates it.
    fn partial_index<B: SchemaBuilder>(self, dialect: &dyn SchemaDialect, builder: B) -> Step {
        let (columns, predicate): (&[&str], _) = match self {
            Self::OpenAnomaly => (
                &["table_name", "row_id", "kind"],
                dialect.anomalies_open_predicate(),
            ),
            Self::RunningRun => (&["command"], RUNS_RUNNING_PREDICATE),
        };
        let mut index = Index::create();
        index
            .if_not_exists()
            .name(self.index())
            .table(Alias::new(self.table()))
            .unique()
            .and_where(Expr::cust(predicate));
        for column in columns {
            index.col(Alias::new(*column));
        }
        (
            SchemaObject::index(self.table(), self.index()),
            index.to_string(builder),
        )
    }
}

/// `identifier` in double quotes (ANSI; MySQL sessions run with `ANSI_QUOTES`).
pub(crate) fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The two triggers that enforce the check of `table` where it cannot be a
/// constraint: they reject an INSERT or UPDATE that leaves `project_id` NULL, each
/// created by `create(name, event, message)`.
pub(crate) fn check_triggers(
    table: &str,
    create: impl Fn(&str, &str, &str) -> String,
) -> Vec<Step> {
    let message = format!(
        "{}: {PROJECT_ID_COLUMN} may not be NULL",
        project_id_check_name(table)
    );
    [
        (project_id_insert_trigger_name(table), "INSERT"),
        (project_id_update_trigger_name(table), "UPDATE"),
    ]
    .map(|(name, event)| {
        let sql = create(&name, event, &message);
        (SchemaObject::trigger(table, name), sql)
    })
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        project_id_check_name, project_id_insert_trigger_name, project_id_update_trigger_name,
    };

    /// Each dialect's steps make the objects the rest of the tool looks for by name,
    /// and what it can probe it can drop.
    #[test]
    fn steps_make_the_named_objects() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
            let dialect = of(backend).unwrap();
            for key in [PartialUnique::OpenAnomaly, PartialUnique::RunningRun] {
                let made = dialect.partial_unique(key).pop().map(|(object, _)| object);
                let index = SchemaObject::index(key.table(), key.index());
                assert_eq!(made, Some(index), "{backend:?}");
            }
            let parts: Vec<_> = (dialect.project_id_check("nodes").into_iter())
                .map(|(object, _)| object)
                .collect();
            let check = match dialect.project_id_validation_probe() {
                Some(_) => vec![SchemaObject::constraint(
                    "nodes",
                    project_id_check_name("nodes"),
                )],
                None => vec![
                    SchemaObject::trigger("nodes", project_id_insert_trigger_name("nodes")),
                    SchemaObject::trigger("nodes", project_id_update_trigger_name("nodes")),
                ],
            };
            assert_eq!(parts, check, "{backend:?}");
            assert_eq!(
                dialect.constraint_probe().is_some(),
                dialect.drop_constraint("t", "c").is_some(),
                "{backend:?}"
            );
        }
    }
}
