//! `backfill-project-id` end to end (SPEC §4.3, §4.4, §5.5): legacy rows (NULLs,
//! aliases, another project's) written past the `project_id` checks, the real binary
//! run on them, and every row, anomaly and journal entry read back. Outcomes only,
//! never timings.

mod dry_run;
mod fill;
mod refusals;
mod resume;
mod rollback;
mod validation;

use std::collections::BTreeMap;

use crate::support::Db;
use migration::{
    MEMORY_TABLES, project_id_check_name, project_id_insert_trigger_name,
    project_id_update_trigger_name,
};
use sea_orm::ConnectionTrait;
use serde_json::Value;

use crate::support::*;

/// The legacy spellings of `io` the backfill normalizes.
const ALIASES: [&str; 6] = ["io:", "I/O", "ethr", "default", "", "  "];

/// `backfill-project-id` with `flags`, in JSON: its exit code and summary.
fn backfill_project_id(tdb: &TestDb, flags: &[&str]) -> (i32, Value) {
    tdb.run_json(&[&["backfill-project-id"][..], flags].concat())
}

/// Removes the check (PostgreSQL) or the triggers (SQLite, MySQL) that reject a NULL
/// project_id, as an adopted legacy schema would lack them.
async fn lift(db: &Db, table: &str) {
    match Backend::of(db) {
        Backend::Postgres => {
            exec(
                db,
                &format!(
                    "ALTER TABLE \"{table}\" DROP CONSTRAINT IF EXISTS \"{}\"",
                    project_id_check_name(table)
                ),
            )
            .await
        }
        Backend::Sqlite | Backend::Mysql => {
            for trigger in [
                project_id_insert_trigger_name(table),
                project_id_update_trigger_name(table),
            ] {
                exec(db, &format!("DROP TRIGGER IF EXISTS \"{trigger}\"")).await;
            }
        }
    }
}

/// Puts the check back (NOT VALID on PostgreSQL, the triggers on SQLite).
async fn restore(db: &Db, table: &str) {
    migration::ensure_project_id_check(db, table)
        .await
        .expect("re-create the project_id check");
}

fn sql_value(value: Option<&str>) -> String {
    match value {
        None => "NULL".into(),
        Some(v) => format!("'{}'", v.replace('\'', "''")),
    }
}

/// Inserts one row per value into `table` (`nodes` or `working_memory`) and returns
/// (id as text, value) in order. Legacy values (NULL) need the check lifted first.
async fn insert(
    db: &Db,
    table: &str,
    tag: &str,
    values: &[Option<&str>],
) -> Vec<(String, Option<String>)> {
    if values.is_empty() {
        return Vec::new();
    }
    match table {
        "nodes" => {
            let ids: Vec<String> = values
                .iter()
                .map(|_| uuid::Uuid::new_v4().to_string())
                .collect();
            let key = |id: &str| match Backend::of(db) {
                Backend::Mysql => format!("UNHEX(REPLACE('{id}', '-', ''))"),
                _ => format!("'{id}'"),
            };
            let rows: Vec<String> = ids
                .iter()
                .zip(values)
                .map(|(id, v)| format!("({}, 'concept', '{tag}-{id}', {})", key(id), sql_value(*v)))
                .collect();
            exec(
                db,
                &format!(
                    "INSERT INTO nodes (id, label, name, project_id) VALUES {}",
                    rows.join(", ")
                ),
            )
            .await;
            ids.into_iter()
                .zip(values.iter().map(|v| v.map(str::to_string)))
                .collect()
        }
        "working_memory" => {
            let rows: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, v)| format!("('{tag} {i}', {})", sql_value(*v)))
                .collect();
            let returned = pairs(
                db,
                &format!(
                    "INSERT INTO working_memory (content, project_id) VALUES {} \
                     RETURNING CAST(id AS TEXT), content",
                    rows.join(", ")
                ),
            )
            .await;
            let mut by_index = BTreeMap::new();
            for (id, content) in returned {
                let index: usize = content
                    .as_deref()
                    .and_then(|c| c.rsplit(' ').next())
                    .and_then(|i| i.parse().ok())
                    .expect("content carries the index");
                by_index.insert(index, id);
            }
            values
                .iter()
                .enumerate()
                .map(|(i, v)| (by_index[&i].clone(), v.map(str::to_string)))
                .collect()
        }
        other => panic!("no insert helper for {other}"),
    }
}

/// Inserts legacy rows: the check is lifted while they are written, then put back, as
/// `backfill seed` does.
async fn insert_legacy(
    db: &Db,
    table: &str,
    values: &[Option<&str>],
) -> Vec<(String, Option<String>)> {
    lift(db, table).await;
    let rows = insert(db, table, "legacy", values).await;
    restore(db, table).await;
    rows
}

/// A mix of NULLs, every alias, another project's rows and already-correct rows.
fn legacy_value(i: usize) -> Option<&'static str> {
    if i.is_multiple_of(5) {
        None
    } else if i % 7 == 1 {
        Some(ALIASES[(i / 7) % ALIASES.len()])
    } else if i % 4 == 3 {
        Some("aurora")
    } else {
        Some("io")
    }
}

/// The id column of `table` as text, in key order, and project_id.
async fn project_ids(db: &impl ConnectionTrait, table: &str) -> Vec<(String, Option<String>)> {
    pairs(
        db,
        &format!("SELECT CAST(id AS TEXT), project_id FROM \"{table}\" ORDER BY id"),
    )
    .await
}

/// Everything a command could change: every memory table's (id, project_id), every
/// bookkeeping table's rows, and the state of each table's check.
async fn dump(db: &Db) -> Vec<String> {
    let mut out = Vec::new();
    for table in MEMORY_TABLES {
        for (id, value) in project_ids(db, table).await {
            out.push(format!("{table} {id} {value:?}"));
        }
    }
    for (id, status) in pairs(
        db,
        "SELECT CAST(id AS TEXT), status FROM backfill_runs ORDER BY id",
    )
    .await
    {
        out.push(format!("run {id} {status:?}"));
    }
    for (id, row) in pairs(
        db,
        "SELECT CAST(id AS TEXT), table_name || ' ' || COALESCE(row_id, '-') || ' ' || kind || ' ' || issue_description \
         FROM backfill_anomalies ORDER BY id",
    )
    .await
    {
        out.push(format!("anomaly {id} {row:?}"));
    }
    for (id, changes) in pairs(
        db,
        "SELECT CAST(id AS TEXT), CAST(changes AS TEXT) FROM backfill_journal ORDER BY id",
    )
    .await
    {
        out.push(format!("journal {id} {changes:?}"));
    }
    for table in MEMORY_TABLES {
        out.push(format!(
            "{table} check {:?}",
            migration::project_id_check_state(db, table)
                .await
                .expect("check state")
        ));
    }
    out
}

fn nulls(rows: &[(String, Option<String>)]) -> usize {
    rows.iter().filter(|(_, v)| v.is_none()).count()
}

fn aliases(rows: &[(String, Option<String>)]) -> usize {
    rows.iter()
        .filter(|(_, v)| v.as_deref().is_some_and(|v| ALIASES.contains(&v)))
        .count()
}

fn by_id(rows: &[(String, Option<String>)]) -> BTreeMap<String, Option<String>> {
    rows.iter().cloned().collect()
}

/// (row_id, description) of the anomalies of one kind in one table.
async fn anomalies_of(
    db: &impl ConnectionTrait,
    table: &str,
    kind: &str,
) -> Vec<(String, Option<String>)> {
    pairs(
        db,
        &format!(
            "SELECT row_id, issue_description FROM backfill_anomalies \
             WHERE table_name = '{table}' AND kind = '{kind}' ORDER BY row_id"
        ),
    )
    .await
}

/// Legacy rows in `nodes` (uuid keys) and `working_memory` (integer keys), with holes
/// in the id sequence; returns what each table holds afterwards.
async fn scattered_legacy(db: &Db) -> BTreeMap<&'static str, Vec<(String, Option<String>)>> {
    let mut tables = BTreeMap::new();
    for (table, n) in [("nodes", 60), ("working_memory", 80)] {
        let values: Vec<Option<&str>> = (0..n).map(legacy_value).collect();
        let rows = insert_legacy(db, table, &values).await;
        // Holes: every ninth row, and a run of seven in the middle.
        let doomed: Vec<String> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 9 == 6 || (44..51).contains(i))
            .map(|(_, (id, _))| format!("'{id}'"))
            .collect();
        exec(
            db,
            &format!(
                "DELETE FROM {table} WHERE CAST(id AS TEXT) IN ({})",
                doomed.join(", ")
            ),
        )
        .await;
        let left = project_ids(db, table).await;
        assert_eq!(left.len(), rows.len() - doomed.len());
        for alias in ALIASES {
            assert!(
                left.iter().any(|(_, v)| v.as_deref() == Some(alias)),
                "{table}: the test data lacks the alias {alias:?}"
            );
        }
        assert!(left.iter().any(|(_, v)| v.as_deref() == Some("aurora")));
        tables.insert(table, left);
    }
    tables
}

/// A trigger that refuses any UPDATE of the working_memory rows `ids`.
async fn hold_rows(db: &Db, ids: &[String]) {
    let list = ids.join(", ");
    match Backend::of(db) {
        Backend::Postgres => {
            exec(
                db,
                &format!(
                    "CREATE FUNCTION hold_rows() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN IF OLD.id IN ({list}) THEN RAISE EXCEPTION 'held by legal: row %', OLD.id; END IF; \
                     RETURN NEW; END $$"
                ),
            )
            .await;
            exec(
                db,
                "CREATE TRIGGER hold_rows BEFORE UPDATE ON working_memory \
                 FOR EACH ROW EXECUTE FUNCTION hold_rows()",
            )
            .await;
        }
        Backend::Sqlite => {
            exec(
                db,
                &format!(
                    "CREATE TRIGGER hold_rows BEFORE UPDATE ON working_memory \
                     WHEN OLD.id IN ({list}) BEGIN SELECT RAISE(ABORT, 'held by legal'); END"
                ),
            )
            .await;
        }
        Backend::Mysql => {
            exec(
                db,
                &format!(
                    "CREATE TRIGGER hold_rows BEFORE UPDATE ON working_memory FOR EACH ROW \
                     BEGIN IF OLD.id IN ({list}) THEN \
                     SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'held by legal'; END IF; END"
                ),
            )
            .await;
        }
    }
}

/// Every (row id, old value) the journal holds, for one run or all runs.
async fn journal_of(db: &Db, run: Option<i64>) -> Vec<(String, Option<String>)> {
    let filter = run
        .map(|r| format!(" WHERE run_id = {r}"))
        .unwrap_or_default();
    let mut all = Vec::new();
    for changes in texts(
        db,
        &format!("SELECT CAST(changes AS TEXT) FROM backfill_journal{filter} ORDER BY id"),
    )
    .await
    {
        all.extend(journal_pairs(&changes.expect("changes")));
    }
    all
}
