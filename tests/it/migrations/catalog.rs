//! The schema as each database's catalog describes it, read independently of the
//! migration crate: tables, indexes, unique keys, checks, triggers, applied migrations;
//! and the two states the whole schema is asserted in (all there, all gone).

use std::collections::{BTreeMap, BTreeSet};

use crate::support::Db;
use migration::{
    MEMORY_TABLES, project_id_check_name, project_id_insert_trigger_name,
    project_id_update_trigger_name,
};

use super::{NAMED_INDEXES, UNIQUE_KEYS, all_tables};
use crate::support::*;

pub(super) async fn table_names(db: &Db) -> BTreeSet<String> {
    let sql = match Backend::of(db) {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
        Backend::Mysql => {
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
        }
    };
    texts(db, sql).await.into_iter().flatten().collect()
}

pub(super) async fn index_names(db: &Db) -> BTreeSet<String> {
    let sql = match Backend::of(db) {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema()"
        }
        // Named after the table, as PostgreSQL's primary keys are.
        Backend::Mysql => {
            "SELECT DISTINCT CAST(IF(index_name = 'PRIMARY', CONCAT(table_name, '_pkey'), index_name) AS CHAR) \
             FROM information_schema.statistics WHERE table_schema = DATABASE()"
        }
    };
    texts(db, sql).await.into_iter().flatten().collect()
}

/// SQLite: the column lists of the unique indexes of `table` (autoindexes included).
pub(super) async fn sqlite_unique_keys(db: &Db, table: &str) -> Vec<Vec<String>> {
    let names = texts(
        db,
        &format!(
            "SELECT name FROM pragma_index_list('{table}') WHERE \"unique\" = 1 AND origin <> 'pk'"
        ),
    )
    .await;
    let mut keys = Vec::new();
    for name in names.into_iter().flatten() {
        let columns = texts(
            db,
            &format!("SELECT name FROM pragma_index_info('{name}') ORDER BY seqno"),
        )
        .await;
        keys.push(columns.into_iter().flatten().collect());
    }
    keys
}

/// SQLite and MySQL: the names of the database's triggers.
pub(super) async fn triggers(db: &Db) -> BTreeSet<String> {
    let sql = match Backend::of(db) {
        Backend::Mysql => {
            "SELECT CAST(trigger_name AS CHAR) FROM information_schema.triggers \
             WHERE trigger_schema = DATABASE()"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'trigger'",
    };
    texts(db, sql).await.into_iter().flatten().collect()
}

/// PostgreSQL: (name, validated) of the check constraints of `table`.
pub(super) async fn pg_checks(db: &Db, table: &str) -> BTreeMap<String, bool> {
    let names = texts(
        db,
        &format!(
            "SELECT conname::text FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid \
             JOIN pg_namespace n ON n.oid = r.relnamespace \
             WHERE n.nspname = current_schema() AND r.relname = '{table}' AND c.contype = 'c' ORDER BY 1"
        ),
    )
    .await;
    let validated = texts(
        db,
        &format!(
            "SELECT c.convalidated::text FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid \
             JOIN pg_namespace n ON n.oid = r.relnamespace \
             WHERE n.nspname = current_schema() AND r.relname = '{table}' AND c.contype = 'c' ORDER BY c.conname"
        ),
    )
    .await;
    names
        .into_iter()
        .flatten()
        .zip(validated.into_iter().flatten().map(|v| v == "true"))
        .collect()
}

pub(super) async fn applied_migrations(db: &Db) -> Vec<String> {
    texts(db, "SELECT version FROM seaql_migrations ORDER BY version")
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Every table, index, check and trigger of the full schema is there.
pub(super) async fn assert_full_schema(db: &Db) {
    let backend = Backend::of(db);
    let tables = table_names(db).await;
    for table in all_tables() {
        assert!(
            tables.contains(table),
            "{backend:?}: table {table} missing: {tables:?}"
        );
    }
    let indexes = index_names(db).await;
    for index in NAMED_INDEXES {
        assert!(
            indexes.contains(index),
            "{backend:?}: index {index} missing: {indexes:?}"
        );
    }
    for (name, table, columns) in UNIQUE_KEYS {
        match backend {
            Backend::Postgres => {
                // Any name: an adopted table keeps its own (`nodes_label_name_key`).
                let definitions = texts(
                    db,
                    &format!(
                        "SELECT indexdef::text FROM pg_indexes WHERE schemaname = current_schema() AND tablename = '{table}'"
                    ),
                )
                .await;
                let key = format!("({})", columns.join(", "));
                assert!(
                    definitions
                        .iter()
                        .flatten()
                        .any(|d| d.contains("UNIQUE") && d.ends_with(&key)),
                    "{table}: no unique index {key} ({name}): {definitions:?}"
                );
            }
            Backend::Sqlite => {
                let keys = sqlite_unique_keys(db, table).await;
                let wanted: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
                assert!(
                    keys.contains(&wanted),
                    "{table}: no unique key on {wanted:?}: {keys:?}"
                );
            }
            Backend::Mysql => {
                let keys = migration::catalog::indexes(db, table).await.unwrap();
                let wanted: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
                assert!(
                    keys.iter().any(|k| k.unique && k.columns == wanted),
                    "{table}: no unique key on {wanted:?}: {keys:?}"
                );
            }
        }
    }
    match backend {
        Backend::Postgres => {
            for table in MEMORY_TABLES {
                let checks = pg_checks(db, table).await;
                assert_eq!(
                    checks.get(&project_id_check_name(table)),
                    Some(&false),
                    "{table}: the project_id check must exist NOT VALID after migrating: {checks:?}"
                );
            }
        }
        Backend::Sqlite | Backend::Mysql => {
            let triggers = triggers(db).await;
            for table in MEMORY_TABLES {
                for trigger in [
                    project_id_insert_trigger_name(table),
                    project_id_update_trigger_name(table),
                ] {
                    assert!(
                        triggers.contains(&trigger),
                        "trigger {trigger} missing: {triggers:?}"
                    );
                }
            }
        }
    }
    for table in MEMORY_TABLES {
        assert!(
            column_names(db, table)
                .await
                .contains(&"project_id".to_string()),
            "{table}.project_id missing"
        );
    }
}

/// Nothing of the schema is left but `seaql_migrations`.
pub(super) async fn assert_empty_schema(db: &Db) {
    let tables = table_names(db).await;
    assert_eq!(tables, BTreeSet::from(["seaql_migrations".to_string()]));
    match Backend::of(db) {
        Backend::Sqlite => {
            let left = texts(
                db,
                "SELECT type || ' ' || name FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> 'seaql_migrations'",
            )
            .await;
            assert!(left.is_empty(), "left after down: {left:?}");
        }
        Backend::Postgres => {
            for (what, sql) in [
                // Tables, indexes, sequences, views…
                (
                    "relations",
                    "SELECT c.relkind::text || ' ' || c.relname::text FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relname NOT IN ('seaql_migrations', 'seaql_migrations_pkey')",
                ),
                (
                    "constraints",
                    "SELECT c.conname::text FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
                     WHERE n.nspname = current_schema() AND c.conname <> 'seaql_migrations_pkey'",
                ),
                (
                    "types",
                    "SELECT t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                     WHERE n.nspname = current_schema() AND t.typname NOT IN ('seaql_migrations', '_seaql_migrations')",
                ),
            ] {
                let left = texts(db, sql).await;
                assert!(left.is_empty(), "{what} left after down: {left:?}");
            }
        }
        Backend::Mysql => {
            let indexes = index_names(db).await;
            assert_eq!(
                indexes,
                BTreeSet::from(["seaql_migrations_pkey".to_string()]),
                "indexes left after down"
            );
            let triggers = triggers(db).await;
            assert!(
                triggers.is_empty(),
                "triggers left after down: {triggers:?}"
            );
        }
    }
}
