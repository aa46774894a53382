//! MySQL and MariaDB: UUIDs as `BINARY(16)` (sea-query's mapping), arrays as `JSON`;
//! no partial indexes, so a unique index over a stored generated column stands in;
//! the `project_id` check is two triggers (`SIGNAL SQLSTATE '45000'`). Catalog queries
//! read `information_schema` in the current database. Every DDL statement commits as
//! it runs, which is why each step is probed and made on its own.

use sea_orm_migration::prelude::*;

use super::check_triggers;
use super::{PartialUnique, SchemaDialect, Step, quoted};
use crate::object::SchemaObject;
use crate::{PROJECT_ID_COLUMN, RUNS_RUNNING_PREDICATE};

pub(super) struct MySql;

impl SchemaDialect for MySql {
    /// A random uuid as MySQL 8.0.13+ and MariaDB 10.2+ take it for a `BINARY(16)`
    /// default (`UUID()` is version 1 on both: its bytes are still unique).
    fn uuid_default(&self) -> Expr {
        Expr::cust("(UNHEX(REPLACE(UUID(), '-', '')))")
    }

    fn array_type(&self, _elem: ColumnType) -> ColumnType {
        ColumnType::Json
    }

    /// A key on TEXT needs a prefix length (MySQL 8) or a hidden hash column
    /// (MariaDB, which then refuses every in-place ALTER of the table).
    fn key_text_type(&self) -> ColumnType {
        ColumnType::String(StringLen::N(255))
    }

    /// TEXT holds at most 64 KiB.
    fn long_text_type(&self) -> ColumnType {
        ColumnType::custom("LONGTEXT")
    }

    /// MySQL 8 takes a default on a TEXT column only as an expression in parentheses
    /// (MariaDB takes both).
    fn empty_json_array_default(&self) -> Expr {
        Expr::cust("('[]')")
    }

    fn added_timestamp_default(&self) -> Expr {
        Expr::current_timestamp()
    }

    /// There is no partial index to match; `BOOLEAN` is `TINYINT(1)`, false is 0.
    fn anomalies_open_predicate(&self) -> &'static str {
        "resolved = 0"
    }

    /// A stored generated column holds the key while the row is open (running) and
    /// NULL once it is not, and a unique index over it does what the partial index
    /// does elsewhere (NULLs never collide).
    fn partial_unique(&self, key: PartialUnique) -> Vec<Step> {
        let (column, definition, columns) = match key {
            PartialUnique::OpenAnomaly => (
                "open_row_id",
                "VARCHAR(100) AS (IF(resolved, NULL, row_id)) STORED".to_string(),
                "table_name, open_row_id, kind",
            ),
            PartialUnique::RunningRun => (
                "running_command",
                format!("VARCHAR(50) AS (IF({RUNS_RUNNING_PREDICATE}, command, NULL)) STORED"),
                "running_command",
            ),
        };
        let (table, index) = (key.table(), key.index());
        vec![
            (
                SchemaObject::column(table, column),
                format!("ALTER TABLE \"{table}\" ADD COLUMN \"{column}\" {definition}"),
            ),
            (
                SchemaObject::index(table, index),
                format!("CREATE UNIQUE INDEX \"{index}\" ON \"{table}\" ({columns})"),
            ),
        ]
    }

    /// MySQL and MariaDB could add a CHECK, but only by validating every row under a
    /// table copy that blocks writes.
    fn project_id_check(&self, table: &str) -> Vec<Step> {
        check_triggers(table, |name, event, message| {
            format!(
                "CREATE TRIGGER \"{name}\" BEFORE {event} ON \"{table}\" \
                 FOR EACH ROW BEGIN IF NEW.\"{PROJECT_ID_COLUMN}\" IS NULL THEN \
                 SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'; END IF; END"
            )
        })
    }

    fn project_id_validation_probe(&self) -> Option<&'static str> {
        None
    }

    fn constraint_probe(&self) -> Option<&'static str> {
        Some(
            "SELECT 1 FROM information_schema.table_constraints \
             WHERE constraint_name = ? AND table_name = ? AND table_schema = DATABASE()",
        )
    }

    fn trigger_probe(&self) -> &'static str {
        "SELECT 1 FROM information_schema.triggers \
         WHERE trigger_name = ? AND event_object_table = ? AND trigger_schema = DATABASE()"
    }

    fn drop_index(&self, table: &str, name: &str) -> String {
        format!("DROP INDEX {} ON {}", quoted(name), quoted(table))
    }

    /// The only constraint added to an existing MySQL table is a foreign key.
    fn drop_constraint(&self, table: &str, name: &str) -> Option<String> {
        Some(format!(
            "ALTER TABLE {} DROP FOREIGN KEY {}",
            quoted(table),
            quoted(name)
        ))
    }

    fn drop_trigger(&self, _table: &str, name: &str) -> String {
        format!("DROP TRIGGER {}", quoted(name))
    }

    /// One ALTER: MySQL checks the existing rows as it adds the key.
    fn add_foreign_key(
        &self,
        _table: &str,
        key: &ForeignKeyCreateStatement,
    ) -> Option<Vec<String>> {
        Some(vec![key.to_string(MysqlQueryBuilder)])
    }

    fn indexes_query(&self) -> String {
        "SELECT CAST(index_name AS CHAR) AS name, MIN(non_unique) = 0 AS is_unique, \
         CAST(GROUP_CONCAT(column_name ORDER BY seq_in_index) AS CHAR) AS columns \
         FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ? AND index_name <> 'PRIMARY' \
         GROUP BY index_name ORDER BY 1"
            .to_string()
    }

    fn foreign_keys_query(&self) -> String {
        "SELECT CAST(constraint_name AS CHAR) AS name, \
         CAST(GROUP_CONCAT(column_name ORDER BY ordinal_position) AS CHAR) AS columns, \
         CAST(referenced_table_name AS CHAR) AS referenced_table, \
         CAST(GROUP_CONCAT(referenced_column_name ORDER BY ordinal_position) AS CHAR) \
         AS referenced_columns \
         FROM information_schema.key_column_usage \
         WHERE table_schema = DATABASE() AND table_name = ? AND referenced_table_name IS NOT NULL \
         GROUP BY constraint_name, referenced_table_name ORDER BY 1"
            .to_string()
    }
}
