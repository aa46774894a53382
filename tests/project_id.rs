//! `backfill-project-id` end to end (SPEC §4.3, §4.4, §5.5): the real binary against
//! real SQLite files and a real PostgreSQL server. Outcomes only, never timings.

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Output, Stdio};
use std::time::Duration;

use migration::{
    MEMORY_TABLES, project_id_check_name, project_id_insert_trigger_name,
    project_id_update_trigger_name,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use serde_json::Value;

const ALIASES: [&str; 6] = ["io:", "I/O", "ethr", "default", "", "  "];

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

/// Removes the check (PostgreSQL) or the triggers (SQLite, MySQL) that reject a NULL
/// project_id, as an adopted legacy schema would lack them.
async fn lift(db: &DatabaseConnection, table: &str) {
    match backend_of(db) {
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
async fn restore(db: &DatabaseConnection, table: &str) {
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

/// Rows of two columns read as text (NULL as None).
async fn pairs(db: &impl ConnectionTrait, sql: &str) -> Vec<(String, Option<String>)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            dialect(db, sql),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index::<String>(0).expect("text"),
                r.try_get_by_index::<Option<String>>(1)
                    .expect("text or NULL"),
            )
        })
        .collect()
}

/// Inserts one row per value into `table` (`nodes` or `working_memory`) and returns
/// (id as text, value) in order. Legacy values (NULL) need the check lifted first.
async fn insert(
    db: &DatabaseConnection,
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
            let key = |id: &str| match backend_of(db) {
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
    db: &DatabaseConnection,
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
/// bookkeeping table's rows, and which tables exist.
async fn dump(db: &DatabaseConnection) -> Vec<String> {
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

fn code(output: &Output) -> i32 {
    output.status.code().expect("the binary exited, not killed")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    )
}

/// The single JSON object `--format json` prints.
fn json(output: &Output) -> Value {
    serde_json::from_str(stdout(output).trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{}", describe(output)))
}

fn table_of<'a>(summary: &'a Value, table: &str) -> &'a Value {
    summary["tables"]
        .as_array()
        .expect("`tables` is a list")
        .iter()
        .find(|t| t["table"] == table)
        .unwrap_or_else(|| panic!("no `{table}` in {summary}"))
}

fn num(value: &Value, key: &str) -> i64 {
    value[key]
        .as_i64()
        .unwrap_or_else(|| panic!("`{key}` is not an integer in {value}"))
}

fn nulls(rows: &[(String, Option<String>)]) -> usize {
    rows.iter().filter(|(_, v)| v.is_none()).count()
}

fn aliases(rows: &[(String, Option<String>)]) -> usize {
    rows.iter()
        .filter(|(_, v)| v.as_deref().is_some_and(|v| ALIASES.contains(&v)))
        .count()
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
async fn scattered_legacy(
    db: &DatabaseConnection,
) -> BTreeMap<&'static str, Vec<(String, Option<String>)>> {
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

fn by_id(rows: &[(String, Option<String>)]) -> BTreeMap<String, Option<String>> {
    rows.iter().cloned().collect()
}

// ---------------------------------------------------------------------------------
// 1. NULLs and aliases scattered over tables with holes
// ---------------------------------------------------------------------------------

async fn fills_nulls_and_aliases_exactly(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_scattered").await;
    let db = tdb.migrated().await;
    let before = scattered_legacy(&db).await;

    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--batch-size",
        "7",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let summary = json(&out);
    assert_eq!(summary["passed"], true, "{summary}");
    assert_eq!(summary["tables"].as_array().unwrap().len(), 11);

    for (table, rows) in &before {
        let t = table_of(&summary, table);
        let expected_updates = nulls(rows) + aliases(rows);
        assert!(
            nulls(rows) > 0 && aliases(rows) >= ALIASES.len(),
            "{table}: test data"
        );
        assert_eq!(num(t, "processed"), rows.len() as i64, "{table}: {t}");
        assert_eq!(num(t, "updated"), expected_updates as i64, "{table}: {t}");
        assert_eq!(num(t, "normalized"), aliases(rows) as i64, "{table}: {t}");
        assert_eq!(num(t, "rejected"), 0, "{table}: {t}");
        assert_eq!(
            num(t, "batches"),
            rows.len().div_ceil(7) as i64,
            "{table}: {t}"
        );
        assert_eq!(num(t, "null_count"), 0, "{table}: {t}");
        assert_eq!(t["constraint_validated"], true, "{table}: {t}");

        // Every NULL and alias is 'io' now; 'aurora' and 'io' rows are as they were.
        let after = by_id(&project_ids(&db, table).await);
        assert_eq!(
            after.len(),
            rows.len(),
            "{table}: no row appeared or vanished"
        );
        for (id, old) in rows {
            let expected = match old.as_deref() {
                Some("aurora") => Some("aurora"),
                _ => Some("io"),
            };
            assert_eq!(
                after[id].as_deref(),
                expected,
                "{table} row {id} (was {old:?})"
            );
        }

        // One legacy_alias anomaly per alias row, naming the old value.
        let logged = anomalies_of(&db, table, "legacy_alias").await;
        let expected_ids: BTreeSet<&String> = rows
            .iter()
            .filter(|(_, v)| v.as_deref().is_some_and(|v| ALIASES.contains(&v)))
            .map(|(id, _)| id)
            .collect();
        let logged_ids: BTreeSet<&String> = logged.iter().map(|(id, _)| id).collect();
        assert_eq!(logged_ids, expected_ids, "{table}: legacy_alias anomalies");
        assert_eq!(logged.len(), expected_ids.len(), "{table}: no twins");
        let old_of = by_id(rows);
        for (id, description) in &logged {
            let alias = old_of[id].clone().expect("an alias");
            let description = description.clone().unwrap_or_default();
            assert!(
                description.contains(&format!("{alias:?}")),
                "{table} row {id}: {description:?} should name {alias:?}"
            );
        }
    }
    for table in MEMORY_TABLES.iter().filter(|t| !before.contains_key(*t)) {
        let t = table_of(&summary, table);
        assert_eq!(num(t, "processed"), 0, "{t}");
        assert_eq!(num(t, "null_count"), 0, "{t}");
        assert_eq!(t["constraint_validated"], true, "{t}");
    }
    let anomaly_count = int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await;
    assert_eq!(
        anomaly_count as usize,
        before.values().map(|rows| aliases(rows)).sum::<usize>(),
        "only legacy_alias anomalies"
    );

    // A second run changes nothing and logs nothing new.
    let snapshot = dump(&db).await;
    let again = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--batch-size",
        "7",
    ]);
    assert_eq!(code(&again), 0, "{}", describe(&again));
    let second = json(&again);
    for table in MEMORY_TABLES {
        let t = table_of(&second, table);
        assert_eq!(num(t, "updated"), 0, "{table}: {t}");
        assert_eq!(num(t, "normalized"), 0, "{table}: {t}");
    }
    for table in before.keys() {
        assert_eq!(
            num(table_of(&second, table), "processed"),
            before[table].len() as i64
        );
    }
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await,
        anomaly_count
    );
    let mut data_after: Vec<String> = dump(&db).await;
    let mut data_before = snapshot;
    // Only the ledger gains a run; the data and the anomalies stay as they were.
    data_after.retain(|l| !l.starts_with("run "));
    data_before.retain(|l| !l.starts_with("run "));
    assert_eq!(data_after, data_before);

    // An alias that comes back is normalized again; its open anomaly is refreshed, not
    // twinned.
    let (id, _) = before["working_memory"]
        .iter()
        .find(|(_, v)| v.as_deref() == Some("ethr"))
        .expect("an 'ethr' row")
        .clone();
    exec(
        &db,
        &format!("UPDATE working_memory SET project_id = 'ethr' WHERE id = {id}"),
    )
    .await;
    let third = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--table",
        "working_memory",
    ]);
    assert_eq!(code(&third), 0, "{}", describe(&third));
    let t = table_of(&json(&third), "working_memory").clone();
    assert_eq!(num(&t, "updated"), 1, "{t}");
    assert_eq!(num(&t, "normalized"), 1, "{t}");
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await,
        anomaly_count
    );
    assert_eq!(
        int(
            &db,
            &format!(
                "SELECT COUNT(*) FROM backfill_anomalies WHERE table_name = 'working_memory' \
                 AND row_id = '{id}' AND kind = 'legacy_alias'"
            )
        )
        .await,
        1
    );
}

// ---------------------------------------------------------------------------------
// 2. Rows the database rejects
// ---------------------------------------------------------------------------------

/// A trigger that refuses any UPDATE of the rows `ids`.
async fn hold_rows(db: &DatabaseConnection, ids: &[String]) {
    let list = ids.join(", ");
    match backend_of(db) {
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

async fn rejected_rows_are_isolated_and_logged(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_rejected").await;
    let db = tdb.migrated().await;
    // 100 rows: mostly NULL, some aliases, some already 'io' or 'aurora'.
    let values: Vec<Option<&str>> = (0..100)
        .map(|i| match i % 10 {
            1 => Some("ethr"),
            5 => Some("io"),
            7 => Some("aurora"),
            _ => None,
        })
        .collect();
    let rows = insert_legacy(&db, "working_memory", &values).await;
    // Three NULL rows, two of them neighbours (bisection must split between them).
    let held: Vec<String> = [22usize, 23, 68]
        .iter()
        .map(|&i| {
            assert!(rows[i].1.is_none());
            rows[i].0.clone()
        })
        .collect();
    hold_rows(&db, &held).await;

    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--batch-size",
        "7",
        "--table",
        "working_memory",
    ]);
    assert_eq!(code(&out), 1, "validation fails: {}", describe(&out));
    let summary = json(&out);
    assert_eq!(summary["passed"], false);
    let t = table_of(&summary, "working_memory");
    assert_eq!(num(t, "processed"), 100, "{t}");
    assert_eq!(num(t, "rejected"), 3, "{t}");
    assert_eq!(
        num(t, "updated"),
        (nulls(&rows) + aliases(&rows) - 3) as i64,
        "{t}"
    );
    assert_eq!(num(t, "normalized"), aliases(&rows) as i64, "{t}");
    assert_eq!(num(t, "null_count"), 3, "{t}");
    // PostgreSQL: the NOT VALID check cannot be validated over NULLs. SQLite and MySQL
    // report whether the triggers enforce it (SPEC §5.6), which they still do.
    assert_eq!(
        t["constraint_validated"],
        backend != Backend::Postgres,
        "{t}"
    );

    let after = by_id(&project_ids(&db, "working_memory").await);
    for (id, old) in &rows {
        let expected = if held.contains(id) {
            None
        } else if old.as_deref() == Some("aurora") {
            Some("aurora")
        } else {
            Some("io")
        };
        assert_eq!(after[id].as_deref(), expected, "row {id} (was {old:?})");
    }
    let rejected = anomalies_of(&db, "working_memory", "row_rejected").await;
    let rejected_ids: BTreeSet<&String> = rejected.iter().map(|(id, _)| id).collect();
    assert_eq!(rejected_ids, held.iter().collect::<BTreeSet<_>>());
    assert_eq!(rejected.len(), 3);
    for (id, description) in &rejected {
        assert!(
            description
                .as_deref()
                .unwrap_or_default()
                .contains("held by legal"),
            "row {id}: the database's message, got {description:?}"
        );
    }

    // Text output names the table and its NULL count; a re-run refreshes the same
    // anomalies instead of adding twins.
    let anomaly_count = int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await;
    let text = tdb.cli(&[
        "backfill-project-id",
        "--sleep",
        "0",
        "--table",
        "working_memory",
    ]);
    assert_eq!(code(&text), 1, "{}", describe(&text));
    let printed = stdout(&text);
    assert!(
        printed
            .lines()
            .any(|l| l.contains("working_memory") && l.contains(" 3 ") && l.contains("NULL")),
        "the table and its NULL count: {printed}"
    );
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await,
        anomaly_count
    );
}

// ---------------------------------------------------------------------------------
// 3. Row locks held by the application (PostgreSQL, MySQL)
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_out_a_row_lock_postgres() {
    waits_out_a_row_lock(Backend::Postgres).await;
}

/// MySQL's lock wait timeout is whole seconds (0.2 s becomes 1 s), and a timed-out
/// statement (1205) leaves its transaction open: the batch is rolled back and retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_out_a_row_lock_mysql() {
    waits_out_a_row_lock(Backend::Mysql).await;
}

async fn waits_out_a_row_lock(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_lock").await;
    let db = tdb.migrated().await;
    let values: Vec<Option<&str>> = (0..60)
        .map(|i| if i % 3 == 0 { Some("io") } else { None })
        .collect();
    let rows = insert_legacy(&db, "working_memory", &values).await;
    let locked = rows[31].0.clone();
    assert!(rows[31].1.is_none());

    // The application: another connection holds a row lock on a NULL row.
    let app = sea_orm::Database::connect(&tdb.url)
        .await
        .expect("second connection");
    let txn = app.begin().await.expect("begin");
    let held = ints(
        &txn,
        &format!("SELECT CAST(id AS BIGINT) FROM working_memory WHERE id = {locked} FOR UPDATE"),
    )
    .await;
    assert_eq!(held.len(), 1);
    // Held past at least one lock timeout of the run.
    let hold = match backend {
        Backend::Mysql => Duration::from_millis(2500),
        _ => Duration::from_millis(1500),
    };
    let release = tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        txn.commit().await.expect("release the lock");
    });

    let url = tdb.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_backfill"))
            .args([
                "-v",
                "--format",
                "json",
                "backfill-project-id",
                "--lock-timeout",
                "0.2",
                "--sleep",
                "0",
                "--batch-size",
                "10",
                "--table",
                "working_memory",
            ])
            .env("DATABASE_URL", url)
            .env_remove("BACKFILL_LOG")
            .output()
            .expect("run backfill")
    })
    .await
    .expect("the CLI thread");
    release.await.expect("the lock holder");

    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(
        stderr(&out).contains("waited too long for locks"),
        "the batch timed out and was retried: {}",
        describe(&out)
    );
    let t = table_of(&json(&out), "working_memory").clone();
    assert_eq!(num(&t, "updated"), nulls(&rows) as i64, "{t}");
    assert_eq!(num(&t, "null_count"), 0, "{t}");
    assert_eq!(num(&t, "processed"), 60, "{t}");
    assert_eq!(t["constraint_validated"], true, "{t}");
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM working_memory WHERE project_id IS NULL"
        )
        .await,
        0
    );
    assert_eq!(
        texts(
            &db,
            &format!("SELECT project_id FROM working_memory WHERE id = {locked}")
        )
        .await,
        vec![Some("io".to_string())]
    );
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM backfill_anomalies WHERE kind = 'lock_timeout'"
        )
        .await,
        0
    );
    // Every changed row is journaled exactly once, retries notwithstanding.
    let journaled = journal_of(&db, None).await;
    assert_eq!(journaled.len(), nulls(&rows));
}

// ---------------------------------------------------------------------------------
// 4. kill -9 mid-table, then --resume
// ---------------------------------------------------------------------------------

/// Every (row id, old value) the journal holds, for one run or all runs.
async fn journal_of(db: &DatabaseConnection, run: Option<i64>) -> Vec<(String, Option<String>)> {
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

/// `n` rows in working_memory: every even one NULL, every tenth+1 the alias 'ethr', the
/// rest 'io'. Returns (id, project_id) of all of them.
async fn many_legacy_rows(db: &DatabaseConnection, n: u32) -> Vec<(String, Option<String>)> {
    lift(db, "working_memory").await;
    let generate = match backend_of(db) {
        Backend::Postgres => format!(
            "INSERT INTO working_memory (content, project_id) \
             SELECT 'note ' || i, CASE WHEN i % 2 = 0 THEN NULL WHEN i % 10 = 1 THEN 'ethr' ELSE 'io' END \
             FROM generate_series(1, {n}) AS s(i)"
        ),
        Backend::Sqlite => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
             INSERT INTO working_memory (content, project_id) \
             SELECT 'note ' || i, CASE WHEN i % 2 = 0 THEN NULL WHEN i % 10 = 1 THEN 'ethr' ELSE 'io' END FROM s"
        ),
        // MariaDB stops a recursive CTE after 1000 rows unless told otherwise.
        Backend::Mysql => format!(
            "SET STATEMENT max_recursive_iterations = {n} FOR \
             INSERT INTO working_memory (content, project_id) \
             WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
             SELECT CONCAT('note ', i), CASE WHEN i % 2 = 0 THEN NULL WHEN i % 10 = 1 THEN 'ethr' ELSE 'io' END FROM s"
        ),
    };
    exec(db, &generate).await;
    restore(db, "working_memory").await;
    let rows = project_ids(db, "working_memory").await;
    assert_eq!(rows.len(), n as usize);
    assert_eq!(nulls(&rows), n as usize / 2);
    assert_eq!(aliases(&rows), n as usize / 10);
    rows
}

/// Starts a slow backfill of working_memory in the background.
fn start_slow_backfill(tdb: &TestDb) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_backfill"))
        .args([
            "backfill-project-id",
            "--batch-size",
            "50",
            "--sleep",
            "0.01",
            "--table",
            "working_memory",
        ])
        .env("DATABASE_URL", &tdb.url)
        .env_remove("BACKFILL_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start backfill")
}

/// `backfill-project-id --resume` with `flags`, its summary in JSON.
fn resume(tdb: &TestDb, flags: &[&str]) -> Output {
    let mut args = vec![
        "--format",
        "json",
        "backfill-project-id",
        "--resume",
        "--sleep",
        "0",
    ];
    args.extend(flags);
    tdb.cli(&args)
}

/// Starts the slow backfill, waits for a committed checkpoint, then kills it (-9).
async fn kill_after_checkpoint(tdb: &TestDb, db: &DatabaseConnection) {
    let mut child = start_slow_backfill(tdb);
    wait_for_checkpoint(db, &mut child).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reap the killed process");
}

/// Waits until the running backfill has committed a checkpoint of working_memory.
async fn wait_for_checkpoint(db: &DatabaseConnection, child: &mut std::process::Child) {
    let mut polls = 0;
    loop {
        let checkpoints = texts(
            db,
            "SELECT CAST(checkpoint AS TEXT) FROM backfill_ranges WHERE unit = 'working_memory'",
        )
        .await;
        let committed = checkpoints.iter().flatten().any(|c| {
            let checkpoint: Value = serde_json::from_str(c).expect("checkpoint JSON");
            checkpoint["counters"]["batches"].as_u64().unwrap_or(0) > 0
        });
        if committed {
            return;
        }
        if let Some(status) = child.try_wait().expect("poll the child") {
            panic!("backfill ended before it was stopped: {status}");
        }
        polls += 1;
        assert!(polls < 3000, "no checkpoint appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn resumes_after_kill_9(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_resume").await;
    let db = tdb.migrated().await;
    let original = many_legacy_rows(&db, 20_000).await;

    kill_after_checkpoint(&tdb, &db).await;

    let run_id = int(&db, "SELECT id FROM backfill_runs").await;
    assert_eq!(
        texts(&db, "SELECT status FROM backfill_runs").await,
        vec![Some("running".to_string())],
        "killed mid-run"
    );
    let left = int(
        &db,
        "SELECT COUNT(*) FROM working_memory WHERE project_id IS NULL",
    )
    .await;
    assert!(
        left > 0 && left < 10_000,
        "killed mid-table: {left} NULLs left"
    );

    let out = resume(&tdb, &["--batch-size", "50", "--table", "working_memory"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let summary = json(&out);
    assert_eq!(summary["run_id"], run_id, "the interrupted run continues");
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_runs").await, 1);
    assert_eq!(
        texts(&db, "SELECT status FROM backfill_runs").await,
        vec![Some("done".to_string())]
    );
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM working_memory WHERE project_id = 'io'"
        )
        .await,
        20_000
    );

    // The journal lists every originally NULL (or alias) row exactly once, with its old
    // value; the counters agree.
    let journaled = journal_of(&db, Some(run_id)).await;
    let mut seen = BTreeMap::new();
    for (id, old) in &journaled {
        assert!(
            seen.insert(id.clone(), old.clone()).is_none(),
            "row {id} journaled twice"
        );
    }
    let expected: BTreeMap<String, Option<String>> = original
        .iter()
        .filter(|(_, v)| v.as_deref() != Some("io"))
        .cloned()
        .collect();
    assert_eq!(seen, expected);
    let t = table_of(&summary, "working_memory");
    assert_eq!(num(t, "processed"), 20_000, "{t}");
    assert_eq!(num(t, "updated"), 12_000, "{t}");
    assert_eq!(num(t, "normalized"), 2_000, "{t}");
    assert_eq!(num(t, "updated") - num(t, "normalized"), 10_000, "{t}");
    assert_eq!(num(t, "batches"), 400, "{t}");
    assert_eq!(num(t, "null_count"), 0, "{t}");
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM backfill_anomalies WHERE kind = 'legacy_alias'"
        )
        .await,
        2_000
    );
}

/// Ctrl-C: the batch in flight finishes whole, the run ends with 130 as `interrupted`,
/// and `--resume` finishes it.
async fn resumes_after_ctrl_c(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_sigint").await;
    let db = tdb.migrated().await;
    let original = many_legacy_rows(&db, 10_000).await;

    let mut child = start_slow_backfill(&tdb);
    wait_for_checkpoint(&db, &mut child).await;
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let out = child.wait_with_output().expect("wait for backfill");
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert!(
        stderr(&out).contains("--resume"),
        "says how to continue: {}",
        describe(&out)
    );
    assert_eq!(
        texts(&db, "SELECT status FROM backfill_runs").await,
        vec![Some("interrupted".to_string())]
    );
    // Whole batches only: the rows changed are exactly the journaled ones, and they are
    // a prefix of the table in key order.
    let journaled = journal_of(&db, None).await;
    let changed: BTreeSet<String> = journaled.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(changed.len(), journaled.len());
    let now = project_ids(&db, "working_memory").await;
    for ((id, old), (_, value)) in original.iter().zip(&now) {
        let expected = if changed.contains(id) {
            Some("io".to_string())
        } else {
            old.clone()
        };
        assert_eq!(value, &expected, "row {id}");
    }
    assert!(nulls(&now) > 0, "interrupted mid-table");

    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--resume",
        "--sleep",
        "0",
        "--table",
        "working_memory",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let t = table_of(&json(&out), "working_memory").clone();
    assert_eq!(num(&t, "processed"), 10_000, "{t}");
    assert_eq!(num(&t, "updated"), 6_000, "{t}");
    assert_eq!(num(&t, "null_count"), 0, "{t}");
    assert_eq!(journal_of(&db, None).await.len(), 6_000);
    assert_eq!(
        texts(&db, "SELECT status FROM backfill_runs").await,
        vec![Some("done".to_string())]
    );
}

// ---------------------------------------------------------------------------------
// 5. Rollback
// ---------------------------------------------------------------------------------

async fn rollback_restores_exactly_the_journal(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_rollback").await;
    let db = tdb.migrated().await;
    let before = scattered_legacy(&db).await;

    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--batch-size",
        "7",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let run_id = json(&out)["run_id"].as_i64().expect("run_id");

    // After the run: the application writes new rows, and a person re-assigns one
    // backfilled row.
    let new_nodes = insert(&db, "nodes", "fresh", &[Some("io"), Some("aurora")]).await;
    let new_working = insert(
        &db,
        "working_memory",
        "fresh",
        &[Some("io"), Some("aurora"), Some("io")],
    )
    .await;
    let (moved, moved_old) = before["working_memory"]
        .iter()
        .find(|(_, v)| v.is_none())
        .cloned()
        .expect("a NULL row");
    assert!(moved_old.is_none());
    exec(
        &db,
        &format!("UPDATE working_memory SET project_id = 'aurora' WHERE id = {moved}"),
    )
    .await;

    // With the checks in place NULL cannot come back: refused, nothing changed.
    let snapshot = dump(&db).await;
    let refused = tdb.cli(&["backfill-project-id", "--rollback"]);
    assert_eq!(code(&refused), 2, "{}", describe(&refused));
    let why = stderr(&refused);
    assert!(
        why.contains("migrate down"),
        "says why and what to do: {why}"
    );
    assert_eq!(
        dump(&db).await,
        snapshot,
        "a refused rollback changes nothing"
    );

    // Without the checks (what `migrate down` of the project_id step leaves), it
    // restores exactly what the run changed.
    for table in MEMORY_TABLES {
        lift(&db, table).await;
    }
    let run = run_id.to_string();
    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--rollback",
        "--run",
        &run,
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let summary = json(&out);
    let changed: usize = before
        .values()
        .map(|rows| nulls(rows) + aliases(rows))
        .sum();
    assert_eq!(num(&summary, "run_id"), run_id, "{summary}");
    assert_eq!(num(&summary, "restored"), changed as i64 - 1, "{summary}");
    assert_eq!(num(&summary, "left_alone"), 1, "{summary}");

    for (table, rows) in &before {
        let after = by_id(&project_ids(&db, table).await);
        let fresh = if *table == "nodes" {
            &new_nodes
        } else {
            &new_working
        };
        assert_eq!(after.len(), rows.len() + fresh.len(), "{table}");
        for (id, old) in rows {
            let expected = if *table == "working_memory" && *id == moved {
                Some("aurora".to_string())
            } else {
                old.clone()
            };
            assert_eq!(after[id], expected, "{table} row {id}");
        }
        for (id, value) in fresh {
            assert_eq!(&after[id], value, "{table}: new row {id} is left alone");
        }
    }
    assert_eq!(
        texts(
            &db,
            &format!("SELECT status FROM backfill_runs WHERE id = {run_id}")
        )
        .await,
        vec![Some("rolled_back".to_string())]
    );

    // A second run fills the restored rows again (checks still lifted). Rolling back
    // the first run once more would undo the second run's work: refused.
    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--no-validate",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let second = json(&out)["run_id"].as_i64().expect("run_id");
    assert_ne!(second, run_id);
    let snapshot = dump(&db).await;
    let again = tdb.cli(&["backfill-project-id", "--rollback", "--run", &run]);
    assert_eq!(code(&again), 2, "{}", describe(&again));
    assert!(
        stderr(&again).contains("rolled back"),
        "says the run was already rolled back: {}",
        describe(&again)
    );
    assert_eq!(dump(&db).await, snapshot, "nothing changed");
    // The default is the latest run not yet rolled back: the second one.
    let out = tdb.cli(&["--format", "json", "backfill-project-id", "--rollback"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let summary = json(&out);
    assert_eq!(num(&summary, "run_id"), second, "{summary}");
    assert_eq!(num(&summary, "restored"), changed as i64 - 1, "{summary}");
    assert_eq!(num(&summary, "left_alone"), 0, "{summary}");
    for (table, rows) in &before {
        let after = by_id(&project_ids(&db, table).await);
        for (id, old) in rows {
            if !(*table == "working_memory" && *id == moved) {
                assert_eq!(&after[id], old, "{table} row {id}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// 6. Table names outside the eleven
// ---------------------------------------------------------------------------------

async fn refuses_unknown_tables(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_refuse").await;
    let db = tdb.migrated().await;
    let _ = scattered_legacy(&db).await;
    let snapshot = dump(&db).await;
    let edges_before = int(&db, "SELECT COUNT(*) FROM edges").await;

    let attempts: [&[&str]; 6] = [
        &[
            "backfill-project-id",
            "--sleep",
            "0",
            "--table",
            "nodes; DROP TABLE edges",
        ],
        &["backfill-project-id", "--sleep", "0", "--table", "bogus"],
        &[
            "backfill-project-id",
            "--sleep",
            "0",
            "--table",
            "working_memory",
            "--table",
            "bogus",
        ],
        &[
            "backfill-project-id",
            "--dry-run",
            "--table",
            "nodes; DROP TABLE edges",
        ],
        &["backfill-project-id", "--validate-only", "--table", "bogus"],
        &[
            "backfill-project-id",
            "--rollback",
            "--table",
            "nodes\"; DROP TABLE edges; --",
        ],
    ];
    for args in attempts {
        let out = tdb.cli(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", describe(&out));
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: one sentence, got {err:?}");
        let bad = args
            .iter()
            .find(|a| a.contains("DROP") || **a == "bogus")
            .unwrap();
        assert!(
            lines[0].contains(bad),
            "{args:?}: names the refused table: {err}"
        );
        assert!(
            stdout(&out).trim().is_empty(),
            "{args:?}: {}",
            describe(&out)
        );
        assert_eq!(dump(&db).await, snapshot, "{args:?}: nothing changed");
    }
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_runs").await, 0);
    assert_eq!(int(&db, "SELECT COUNT(*) FROM edges").await, edges_before);
}

// ---------------------------------------------------------------------------------
// 7. --dry-run
// ---------------------------------------------------------------------------------

async fn dry_run_reports_what_a_run_does(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_dry").await;
    let db = tdb.migrated().await;
    let before = scattered_legacy(&db).await;
    // One row the database refuses: the dry run must count it as the real run will.
    let (held, old) = before["working_memory"]
        .iter()
        .find(|(_, v)| v.is_none())
        .cloned()
        .unwrap();
    assert!(old.is_none());
    hold_rows(&db, std::slice::from_ref(&held)).await;
    let snapshot = dump(&db).await;

    let args = [
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--batch-size",
        "7",
    ];
    let dry: Vec<&str> = args.iter().copied().chain(["--dry-run"]).collect();
    let out = tdb.cli(&dry);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let planned = json(&out);
    assert_eq!(planned["dry_run"], true);
    assert!(planned["run_id"].is_null(), "{planned}");
    assert_eq!(dump(&db).await, snapshot, "a dry run writes nothing");
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_runs").await, 0);
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_anomalies").await, 0);
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_journal").await, 0);
    assert_eq!(
        planned["passed"], true,
        "a dry run fails nothing: {planned}"
    );

    let out = tdb.cli(&args);
    assert_eq!(
        code(&out),
        1,
        "the held NULL fails validation: {}",
        describe(&out)
    );
    let done = json(&out);
    // The state a run leaves is what its dry run reported: the held NULL stays.
    let keys = [
        "processed",
        "updated",
        "normalized",
        "rejected",
        "batches",
        "unchanged",
        "errors",
        "anomalies",
        "null_count",
    ];
    for table in MEMORY_TABLES {
        let (p, d) = (table_of(&planned, table), table_of(&done, table));
        for key in keys {
            assert_eq!(
                num(p, key),
                num(d, key),
                "{table}.{key}: dry {p} vs real {d}"
            );
        }
    }
    for table in MEMORY_TABLES {
        let (p, d) = (table_of(&planned, table), table_of(&done, table));
        assert_eq!(
            p["constraint_validated"], d["constraint_validated"],
            "{table}: dry {p} vs real {d}"
        );
    }
    let wm = table_of(&done, "working_memory");
    assert_eq!(num(wm, "rejected"), 1, "{wm}");
    assert_eq!(num(wm, "null_count"), 1, "{wm}");
    assert_eq!(num(table_of(&done, "nodes"), "null_count"), 0);
    assert!(nulls(&before["nodes"]) > 0 && nulls(&before["working_memory"]) > 1);
}

/// A dry run's text names no failure and it exits 0 on data with NULLs, also when a
/// run would leave the NULL of a row the database rejects (SPEC §5.5.8). A run with
/// default flags on the same data (no row rejected) says nothing on stderr; `-v`
/// gives its per-table lines.
async fn dry_run_prints_no_failure(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_dry_text").await;
    let db = tdb.migrated().await;
    let before = scattered_legacy(&db).await;
    let dry = ["backfill-project-id", "--sleep", "0", "--dry-run"];
    let out = tdb.cli(&dry);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.starts_with("DRY RUN"), "{text}");
    assert!(!text.contains("FAILED"), "{text}");
    assert!(
        !text.contains("would leave"),
        "every NULL would be filled: {text}"
    );
    assert!(stderr(&out).is_empty(), "{}", describe(&out));

    let (held, _) = before["working_memory"]
        .iter()
        .find(|(_, v)| v.is_none())
        .cloned()
        .unwrap();
    hold_rows(&db, std::slice::from_ref(&held)).await;
    let out = tdb.cli(&dry);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let text = stdout(&out);
    assert!(!text.contains("FAILED"), "{text}");
    assert!(
        text.contains("a run would leave 1 rows with a NULL project_id in `working_memory`"),
        "{text}"
    );
    let line = |table: &str| {
        text.lines()
            .find(|l| l.starts_with(table))
            .unwrap_or_else(|| panic!("no `{table}` line in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // table, scanned, set 'io', normalized, rejected, batches, NULLs, check…
    assert_eq!(line("working_memory")[4], "1", "{text}");
    assert_eq!(
        line("working_memory")[6],
        "1",
        "the held NULL stays: {text}"
    );
    assert_eq!(line("nodes")[6], "0", "{text}");
    assert!(
        text.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("done in "),
        "{text}"
    );

    let release = match backend {
        Backend::Postgres => "DROP TRIGGER hold_rows ON working_memory",
        Backend::Sqlite | Backend::Mysql => "DROP TRIGGER hold_rows",
    };
    exec(&db, release).await;
    let out = tdb.cli(&["-v", "backfill-project-id", "--sleep", "0", "--dry-run"]);
    assert!(
        stderr(&out).contains("working_memory:") && stderr(&out).contains("scanned"),
        "-v logs the per-table lines: {}",
        describe(&out)
    );
    let out = tdb.cli(&["backfill-project-id", "--sleep", "0"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(stderr(&out).is_empty(), "{}", describe(&out));
}

/// `--sleep` and `--lock-timeout` take seconds or a number with a unit; a value that
/// is neither is one sentence and exit 2, before anything is written.
async fn duration_flags_take_units(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_durations").await;
    tdb.migrated().await;
    for args in [
        [
            "backfill-project-id",
            "--lock-timeout",
            "2s",
            "--sleep",
            "100ms",
        ],
        [
            "backfill-project-id",
            "--lock-timeout",
            "0.5",
            "--sleep",
            "0",
        ],
        [
            "backfill-features",
            "--lock-timeout",
            "1m",
            "--sleep",
            "0.01",
        ],
    ] {
        let out = tdb.cli(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", describe(&out));
    }
    for (flag, value) in [("--sleep", "5parsecs"), ("--lock-timeout", "2h")] {
        let out = tdb.cli(&["backfill-project-id", flag, value]);
        assert_eq!(code(&out), 2, "{flag} {value}: {}", describe(&out));
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(value) && err.contains(flag), "{err}");
        assert!(stdout(&out).is_empty(), "{}", describe(&out));
    }
}

// ---------------------------------------------------------------------------------
// 8. --validate-only and --promote-not-null
// ---------------------------------------------------------------------------------

async fn validate_only_checks_and_adopts(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_validate").await;
    let db = tdb.migrated().await;
    let rows = insert_legacy(
        &db,
        "working_memory",
        &[None, Some("io"), None, Some("ethr")],
    )
    .await;
    let snapshot = dump(&db).await;

    // NULLs left: exit 1, naming the table and its count; nothing written.
    let out = tdb.cli(&["backfill-project-id", "--validate-only"]);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    let printed = stdout(&out);
    assert!(
        printed
            .lines()
            .any(|l| l.contains("FAILED") && l.contains("working_memory") && l.contains(" 2 ")),
        "names the table and its NULLs: {printed}"
    );
    let out = tdb.cli(&["--format", "json", "backfill-project-id", "--validate-only"]);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    let summary = json(&out);
    assert_eq!(summary["passed"], false);
    let wm = table_of(&summary, "working_memory");
    assert_eq!(num(wm, "null_count"), 2);
    assert_eq!(
        wm["constraint_validated"],
        backend != Backend::Postgres,
        "{wm}"
    );
    assert_eq!(table_of(&summary, "nodes")["constraint_validated"], true);
    let data = |dump: Vec<String>| -> Vec<String> {
        dump.into_iter()
            .filter(|l| !l.contains(" check "))
            .collect()
    };
    assert_eq!(
        data(dump(&db).await),
        data(snapshot),
        "--validate-only writes no data"
    );
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_runs").await, 0);
    assert_eq!(rows.len(), 4);

    // An adopted table without its check (clean data): the check is added, and
    // validated on PostgreSQL.
    lift(&db, "nodes").await;
    insert(&db, "nodes", "adopted", &[Some("io"), Some("aurora")]).await;
    assert_eq!(
        migration::project_id_check_state(&db, "nodes")
            .await
            .unwrap(),
        migration::ProjectIdCheck::Missing
    );
    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--validate-only",
        "--table",
        "nodes",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let nodes = table_of(&json(&out), "nodes").clone();
    assert_eq!(nodes["constraint_validated"], true, "{nodes}");
    assert_eq!(
        migration::project_id_check_state(&db, "nodes")
            .await
            .unwrap(),
        migration::ProjectIdCheck::Enforced
    );
    if backend == Backend::Postgres {
        assert_eq!(
            int(
                &db,
                "SELECT COUNT(*) FROM pg_constraint WHERE conname = 'check_nodes_project_id_not_null' \
                 AND convalidated"
            )
            .await,
            1
        );
    }
    // The check bites again.
    let attempt = db
        .execute_unprepared(&format!(
            "INSERT INTO nodes (id, label, name, project_id) VALUES ('{}', 'concept', 'null-again', NULL)",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert!(
        attempt.is_err(),
        "a NULL project_id is refused once the check is back"
    );

    // After the backfill every table validates; --validate-only then passes.
    let out = tdb.cli(&["backfill-project-id", "--sleep", "0", "--no-validate"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let out = tdb.cli(&["--format", "json", "backfill-project-id", "--validate-only"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    for table in MEMORY_TABLES {
        let t = table_of(&json(&out), table).clone();
        assert_eq!(num(&t, "null_count"), 0, "{t}");
        assert_eq!(t["constraint_validated"], true, "{t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_not_null_postgres() {
    let tdb = TestDb::new(Backend::Postgres, "pid_promote").await;
    let db = tdb.migrated().await;
    insert_legacy(&db, "working_memory", &[None, Some("io"), Some("default")]).await;
    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--table",
        "working_memory",
        "--promote-not-null",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let t = table_of(&json(&out), "working_memory").clone();
    assert_eq!(t["constraint_validated"], true, "{t}");
    assert_eq!(num(&t, "null_count"), 0, "{t}");
    let not_null = texts(
        &db,
        "SELECT is_nullable FROM information_schema.columns \
         WHERE table_name = 'working_memory' AND column_name = 'project_id'",
    )
    .await;
    assert_eq!(not_null, vec![Some("NO".to_string())]);
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM pg_constraint WHERE conname = 'check_working_memory_project_id_not_null'").await,
        0,
        "the check is dropped once the column is NOT NULL"
    );
    // Other tables keep their checks.
    assert_eq!(
        migration::project_id_check_state(&db, "nodes")
            .await
            .unwrap(),
        migration::ProjectIdCheck::NotValidated
    );

    // --validate-only --promote-not-null on an already promoted table is a no-op pass,
    // and a second run of the whole job still passes (the check is not re-added).
    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--validate-only",
        "--promote-not-null",
        "--table",
        "working_memory",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(
        table_of(&json(&out), "working_memory")["constraint_validated"],
        true
    );
    let out = tdb.cli(&["--format", "json", "backfill-project-id", "--sleep", "0"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM pg_constraint WHERE conname = 'check_working_memory_project_id_not_null'").await,
        0
    );
    let refused = db
        .execute_unprepared("INSERT INTO working_memory (content, project_id) VALUES ('x', NULL)")
        .await;
    assert!(refused.is_err(), "the column is NOT NULL");
}

/// MySQL: `MODIFY … NOT NULL` in place, keeping the column's own type and collation (an
/// adopted `project_id` may be wider than the migration's), then the triggers go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_not_null_mysql() {
    let tdb = TestDb::new(Backend::Mysql, "pid_promote").await;
    let db = tdb.migrated().await;
    exec(
        &db,
        "ALTER TABLE working_memory MODIFY project_id VARCHAR(80) COLLATE utf8mb4_bin DEFAULT 'io'",
    )
    .await;
    insert_legacy(&db, "working_memory", &[None, Some("io"), Some("default")]).await;
    let out = tdb.cli(&[
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--table",
        "working_memory",
        "--promote-not-null",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let t = table_of(&json(&out), "working_memory").clone();
    assert_eq!(t["constraint_validated"], true, "{t}");
    assert_eq!(
        texts(
            &db,
            "SELECT CAST(CONCAT(column_type, ' ', collation_name, ' ', is_nullable) AS CHAR) \
             FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name = 'working_memory' AND column_name = 'project_id'",
        )
        .await,
        vec![Some("varchar(80) utf8mb4_bin NO".to_string())]
    );
    assert_eq!(
        migration::project_id_check_state(&db, "working_memory")
            .await
            .unwrap(),
        migration::ProjectIdCheck::Missing,
        "the triggers are dropped once the column is NOT NULL"
    );
    assert_eq!(
        migration::project_id_check_state(&db, "nodes")
            .await
            .unwrap(),
        migration::ProjectIdCheck::Enforced,
        "other tables keep theirs"
    );
    let out = tdb.cli(&["--format", "json", "backfill-project-id", "--sleep", "0"]);
    assert_eq!(code(&out), 0, "a second run passes: {}", describe(&out));
    let refused = db
        .execute_unprepared("INSERT INTO working_memory (content, project_id) VALUES ('x', NULL)")
        .await;
    assert!(refused.is_err(), "the column is NOT NULL");
}

// ---------------------------------------------------------------------------------
// --no-validate: the run fills and journals as usual, but counts no NULLs (a scan per
// table) and says so; a table already filled is walked without a single write.
// ---------------------------------------------------------------------------------

async fn no_validate_skips_the_count(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_novalidate").await;
    let db = tdb.migrated().await;
    let before = scattered_legacy(&db).await;
    let args = [
        "--format",
        "json",
        "backfill-project-id",
        "--sleep",
        "0",
        "--batch-size",
        "5",
        "--no-validate",
    ];
    let out = tdb.cli(&args);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let summary = json(&out);
    let journaled = journal_of(&db, None).await;
    for (table, rows) in &before {
        let t = table_of(&summary, table);
        assert!(t.get("null_count").is_none(), "{table}: not counted: {t}");
        assert!(t.get("constraint_validated").is_none(), "{t}");
        let changed = (nulls(rows) + aliases(rows)) as i64;
        assert_eq!(num(t, "updated"), changed, "{table}: {t}");
        assert_eq!(
            int(
                &db,
                &format!("SELECT COUNT(*) FROM {table} WHERE project_id IS NULL")
            )
            .await,
            0,
            "{table}"
        );
    }
    let expected: usize = before.values().map(|r| nulls(r) + aliases(r)).sum();
    assert_eq!(journaled.len(), expected, "one journaled change per row");
    let text = stdout(&tdb.cli(&args[2..]));
    assert!(text.contains("not checked (--no-validate)"), "{text}");

    // Nothing left to do: every batch reads its range's counts and writes nothing.
    let entries = int(&db, "SELECT COUNT(*) FROM backfill_journal").await;
    let again = tdb.cli(&args);
    assert_eq!(code(&again), 0, "{}", describe(&again));
    for table in before.keys() {
        let t = table_of(&json(&again), table).clone();
        assert_eq!(num(&t, "updated"), 0, "{table}: {t}");
        assert!(num(&t, "batches") > 0, "{table}: walked: {t}");
    }
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_journal").await,
        entries,
        "a run with nothing to change journals nothing"
    );
}

/// A resumed run keeps what it was started on (its tables) and takes its pace and its
/// validation from the new command line (`--help` of `--resume` says so).
async fn resume_keeps_its_tables_and_takes_its_pace_from_the_new_command_line(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_resume_settings").await;
    let db = tdb.migrated().await;
    many_legacy_rows(&db, 20_000).await;
    kill_after_checkpoint(&tdb, &db).await;
    let checkpoints = common::unit_checkpoints(&db, 1).await;
    let done = &checkpoints["working_memory"]["counters"];
    let (processed, batches) = (num(done, "processed"), num(done, "batches"));
    assert!(processed < 20_000, "killed mid-table");

    let out = resume(
        &tdb,
        &["--batch-size", "1000", "--table", "nodes", "--no-validate"],
    );
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let summary = json(&out);
    let tables: Vec<&str> = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert_eq!(
        tables,
        ["working_memory"],
        "the run's own tables, not --table"
    );
    let table = table_of(&summary, "working_memory");
    assert_eq!(
        num(table, "batches"),
        batches + (20_000 - processed + 999) / 1000,
        "the rest walked in batches of the new --batch-size"
    );
    assert!(
        table.get("null_count").is_none(),
        "--no-validate of the new command line"
    );
}

/// A table without its `project_id` column (the column's migration rolled back
/// elsewhere) is found before anything is written, a run row included: exit 2 naming
/// the table, the column and the fix.
async fn a_missing_column_is_refused_before_anything_is_written(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_no_column").await;
    let db = tdb.migrated().await;
    if backend == Backend::Sqlite {
        for trigger in [
            migration::project_id_insert_trigger_name("working_memory"),
            migration::project_id_update_trigger_name("working_memory"),
        ] {
            exec(&db, &format!("DROP TRIGGER \"{trigger}\"")).await;
        }
    }
    exec(&db, "ALTER TABLE working_memory DROP COLUMN project_id").await;
    let out = tdb.cli(&[
        "backfill-project-id",
        "--sleep",
        "0",
        "--table",
        "working_memory",
    ]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    let said = stderr(&out);
    assert_eq!(said.trim().lines().count(), 1, "one sentence: {said}");
    for named in ["working_memory", "project_id", "backfill migrate up"] {
        assert!(said.contains(named), "names {named}: {said}");
    }
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_runs").await,
        0,
        "no run row"
    );
}

on_every_backend!(
    no_validate_skips_the_count,
    a_missing_column_is_refused_before_anything_is_written,
    resume_keeps_its_tables_and_takes_its_pace_from_the_new_command_line,
    fills_nulls_and_aliases_exactly,
    rejected_rows_are_isolated_and_logged,
    resumes_after_kill_9,
    resumes_after_ctrl_c,
    rollback_restores_exactly_the_journal,
    refuses_unknown_tables,
    dry_run_reports_what_a_run_does,
    dry_run_prints_no_failure,
    duration_flags_take_units,
    validate_only_checks_and_adopts,
);
