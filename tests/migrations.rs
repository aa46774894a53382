//! The schema the migration crate owns, on real SQLite files and a real PostgreSQL
//! server: up → down → up, drift against the entities, adoption of tables created
//! elsewhere, the `project_id` checks, `seed`, `migrate check`, bad URLs, and a
//! migration that fails half-way.

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

use backfill::seed::SeedSettings;
use migration::{
    MEMORY_TABLES, Migrator, MigratorTrait, project_id_check_name, project_id_insert_trigger_name,
    project_id_update_trigger_name,
};
use sea_orm::ConnectionTrait;

const MIGRATIONS: [&str; 5] = [
    "m20260101_000001_create_testio_tables",
    "m20260101_000002_create_memory_tables",
    "m20260101_000003_add_project_id",
    "m20260101_000004_create_bookkeeping_tables",
    "m20260101_000005_create_backfill_ranges",
];

const ANALYTICS_TABLES: [&str; 3] = ["tests", "bugs", "test_features"];
const BOOKKEEPING_TABLES: [&str; 4] = [
    "backfill_anomalies",
    "backfill_runs",
    "backfill_journal",
    "backfill_ranges",
];

/// Named indexes the migrations create (on both backends).
const NAMED_INDEXES: [&str; 13] = [
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

fn all_tables() -> Vec<&'static str> {
    let mut tables: Vec<&str> = ANALYTICS_TABLES.to_vec();
    tables.extend(MEMORY_TABLES);
    tables.extend(BOOKKEEPING_TABLES);
    tables
}

// ---------------------------------------------------------------------------------
// Catalog helpers
// ---------------------------------------------------------------------------------

async fn table_names(db: &backfill::backend::Db) -> BTreeSet<String> {
    let sql = match backend_of(db) {
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

async fn index_names(db: &backfill::backend::Db) -> BTreeSet<String> {
    let sql = match backend_of(db) {
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
async fn sqlite_unique_keys(db: &backfill::backend::Db, table: &str) -> Vec<Vec<String>> {
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
async fn triggers(db: &backfill::backend::Db) -> BTreeSet<String> {
    let sql = match backend_of(db) {
        Backend::Mysql => {
            "SELECT CAST(trigger_name AS CHAR) FROM information_schema.triggers \
             WHERE trigger_schema = DATABASE()"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'trigger'",
    };
    texts(db, sql).await.into_iter().flatten().collect()
}

/// PostgreSQL: (name, validated) of the check constraints of `table`.
async fn pg_checks(db: &backfill::backend::Db, table: &str) -> BTreeMap<String, bool> {
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

async fn column_names(db: &backfill::backend::Db, table: &str) -> Vec<String> {
    backfill::schema::actual_columns(db, table)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect()
}

async fn applied_migrations(db: &backfill::backend::Db) -> Vec<String> {
    texts(db, "SELECT version FROM seaql_migrations ORDER BY version")
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Every table, index, check and trigger of the full schema is there.
async fn assert_full_schema(db: &backfill::backend::Db) {
    let backend = backend_of(db);
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
async fn assert_empty_schema(db: &backfill::backend::Db) {
    let tables = table_names(db).await;
    assert_eq!(tables, BTreeSet::from(["seaql_migrations".to_string()]));
    match backend_of(db) {
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
            // Tables, indexes, sequences, views…
            let relations = texts(
                db,
                "SELECT c.relkind::text || ' ' || c.relname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relname NOT IN ('seaql_migrations', 'seaql_migrations_pkey')",
            )
            .await;
            assert!(
                relations.is_empty(),
                "relations left after down: {relations:?}"
            );
            let constraints = texts(
                db,
                "SELECT c.conname::text FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
                 WHERE n.nspname = current_schema() AND c.conname <> 'seaql_migrations_pkey'",
            )
            .await;
            assert!(
                constraints.is_empty(),
                "constraints left after down: {constraints:?}"
            );
            let types = texts(
                db,
                "SELECT t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                 WHERE n.nspname = current_schema() AND t.typname NOT IN ('seaql_migrations', '_seaql_migrations')",
            )
            .await;
            assert!(types.is_empty(), "types left after down: {types:?}");
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

// ---------------------------------------------------------------------------------
// CLI helpers
// ---------------------------------------------------------------------------------

fn assert_exit(output: &Output, code: i32, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// Runs the binary with `url` as DATABASE_URL (and backtraces requested, to prove
/// none is printed).
fn cli_with_url(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backfill"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_BACKTRACE", "1")
        .env_remove("BACKFILL_LOG")
        .output()
        .expect("run backfill")
}

// ---------------------------------------------------------------------------------
// 1. up → down → up → status
// ---------------------------------------------------------------------------------

async fn up_down_up_status(backend: Backend) {
    let t = TestDb::new(backend, "up_down_up").await;

    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "migrate up");
    for name in MIGRATIONS {
        assert!(
            stdout(&out).contains(&format!("applied  {name}")),
            "{}",
            stdout(&out)
        );
    }
    let db = t.connect().await;
    assert_full_schema(&db).await;
    assert_eq!(applied_migrations(&db).await, MIGRATIONS);

    let out = t.cli(&["migrate", "down", "-n", "5"]);
    assert_exit(&out, 0, "migrate down -n 5");
    for name in MIGRATIONS {
        assert!(
            stdout(&out).contains(&format!("pending  {name}")),
            "{}",
            stdout(&out)
        );
    }
    assert!(!stdout(&out).contains("applied  "), "{}", stdout(&out));
    assert_empty_schema(&db).await;
    assert!(applied_migrations(&db).await.is_empty());

    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "second migrate up");
    assert_full_schema(&db).await;
    assert_eq!(applied_migrations(&db).await, MIGRATIONS);

    let out = t.cli(&["migrate", "status"]);
    assert_exit(&out, 0, "migrate status");
    for name in MIGRATIONS {
        assert!(
            stdout(&out).contains(&format!("applied  {name}")),
            "{}",
            stdout(&out)
        );
    }
    assert!(!stdout(&out).contains("pending"), "{}", stdout(&out));

    // Down a step at a time also works, newest first.
    let out = t.cli(&["migrate", "down"]);
    assert_exit(&out, 0, "migrate down");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..4]);
    assert!(!table_names(&db).await.contains("backfill_ranges"));
    let out = t.cli(&["migrate", "down"]);
    assert_exit(&out, 0, "migrate down");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..3]);
    let tables = table_names(&db).await;
    for table in BOOKKEEPING_TABLES {
        assert!(
            !tables.contains(table),
            "{table} survived its migration's down"
        );
    }
    assert!(tables.contains("nodes"));
    if backend == Backend::Postgres {
        let indexes = index_names(&db).await;
        for (name, _, _) in UNIQUE_KEYS {
            assert!(indexes.contains(name), "{name} missing: {indexes:?}");
        }
    }
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------
// 2. The migrated schema matches the entities
// ---------------------------------------------------------------------------------

async fn schema_matches_entities(backend: Backend) {
    let t = TestDb::new(backend, "schema_matches").await;
    let db = t.migrated().await;
    let drift = backfill::schema::drift(&db).await.unwrap();
    assert!(drift.is_empty(), "{backend:?} drift: {drift:#?}");

    match backend {
        Backend::Postgres => {
            let udt = |table: &'static str, column: &'static str| {
                let db = &db;
                async move {
                    texts(
                        db,
                        &format!(
                            "SELECT udt_name::text FROM information_schema.columns \
                             WHERE table_schema = current_schema() AND table_name = '{table}' AND column_name = '{column}'"
                        ),
                    )
                    .await
                    .into_iter()
                    .flatten()
                    .next()
                    .unwrap_or_else(|| panic!("{table}.{column} missing"))
                }
            };
            for (table, column, expected) in [
                ("nodes", "id", "uuid"),
                ("edges", "id", "uuid"),
                ("edges", "source_id", "uuid"),
                ("l2_insights", "id", "int4"),
                ("l2_insights", "embedding", "_float4"),
                ("l2_insights", "source_ids", "_int4"),
                ("episode_memory", "embedding", "_float4"),
                ("ground_truth", "expected_docs", "_int4"),
                ("smf_proposals", "proposed_action", "jsonb"),
                ("smf_proposals", "affected_edges", "_uuid"),
                ("ief_feedback", "query_id", "uuid"),
                ("tests", "id", "int8"),
                ("tests", "data", "text"),
                ("bugs", "known", "bool"),
                ("tests", "start_at", "timestamptz"),
            ] {
                assert_eq!(udt(table, column).await, expected, "{table}.{column}");
            }
            for table in MEMORY_TABLES {
                let row = texts(
                    &db,
                    &format!(
                        "SELECT data_type::text || '|' || character_maximum_length::text || '|' || is_nullable::text || '|' || column_default::text \
                         FROM information_schema.columns WHERE table_schema = current_schema() \
                         AND table_name = '{table}' AND column_name = 'project_id'"
                    ),
                )
                .await;
                assert_eq!(
                    row,
                    vec![Some(
                        "character varying|50|YES|'io'::character varying".to_string()
                    )],
                    "{table}.project_id"
                );
            }
            // Generated defaults: a uuid for nodes.id and ief_feedback.query_id.
            exec(&db, "INSERT INTO nodes (label, name) VALUES ('a', 'b')").await;
            let id = texts(&db, "SELECT id::text FROM nodes").await;
            assert_eq!(id[0].as_ref().unwrap().len(), 36);
        }
        Backend::Sqlite => {
            let info = |table: &'static str| {
                let db = &db;
                async move {
                    let rows = texts(
                        db,
                        &format!(
                            "SELECT name || '|' || lower(type) || '|' || \"notnull\" || '|' || coalesce(dflt_value, '<none>') \
                             FROM pragma_table_info('{table}')"
                        ),
                    )
                    .await;
                    rows.into_iter()
                        .flatten()
                        .map(|r| {
                            let (name, rest) = r.split_once('|').unwrap();
                            (name.to_string(), rest.to_string())
                        })
                        .collect::<BTreeMap<String, String>>()
                }
            };
            let nodes = info("nodes").await;
            assert!(
                nodes["id"].starts_with("uuid_text|1|"),
                "nodes.id: {}",
                nodes["id"]
            );
            let l2 = info("l2_insights").await;
            assert!(
                l2["embedding"].contains("text|1|"),
                "embedding: {}",
                l2["embedding"]
            );
            let smf = info("smf_proposals").await;
            assert!(
                smf["proposed_action"].contains("text|1|"),
                "{}",
                smf["proposed_action"]
            );
            let tests = info("tests").await;
            assert!(
                tests["id"].starts_with("integer|")
                    && tests["customer_id"].starts_with("integer|1|"),
                "tests.id: {}",
                tests["id"]
            );
            for table in MEMORY_TABLES {
                let columns = info(table).await;
                assert_eq!(
                    columns["project_id"], "varchar(50)|0|'io'",
                    "{table}.project_id"
                );
            }
            // uuids are generated as hyphenated text.
            exec(&db, "INSERT INTO nodes (label, name) VALUES ('a', 'b')").await;
            let id = texts(&db, "SELECT id FROM nodes").await[0].clone().unwrap();
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(id.matches('-').count(), 4, "{id}");
            assert_eq!(&id[14..15], "4", "version 4: {id}");
            assert_eq!(int(&db, "SELECT typeof(id) = 'text' FROM nodes").await, 1);
        }
        Backend::Mysql => {
            let column_type = |table: &'static str, column: &'static str| {
                let db = &db;
                async move {
                    texts(
                        db,
                        &format!(
                            "SELECT CAST(CONCAT(column_type, '|', is_nullable, '|', COALESCE(column_default, '<none>')) AS CHAR) \
                             FROM information_schema.columns WHERE table_schema = DATABASE() \
                             AND table_name = '{table}' AND column_name = '{column}'"
                        ),
                    )
                    .await
                    .into_iter()
                    .flatten()
                    .next()
                    .unwrap_or_else(|| panic!("{table}.{column} missing"))
                }
            };
            for (table, column, expected) in [
                ("nodes", "id", "binary(16)|NO|"),
                ("edges", "source_id", "binary(16)|NO|"),
                ("l2_insights", "embedding", "longtext|NO|"),
                ("tests", "id", "bigint(20)|NO|"),
                ("bugs", "known", "tinyint(1)|NO|"),
                ("tests", "start_at", "timestamp|YES|"),
            ] {
                let found = column_type(table, column).await;
                assert!(found.starts_with(expected), "{table}.{column}: {found}");
            }
            for table in MEMORY_TABLES {
                assert_eq!(
                    column_type(table, "project_id").await,
                    "varchar(50)|YES|'io'",
                    "{table}.project_id"
                );
            }
            // uuids are generated as 16 bytes.
            exec(&db, "INSERT INTO nodes (label, name) VALUES ('a', 'b')").await;
            assert_eq!(int(&db, "SELECT LENGTH(id) FROM nodes").await, 16);
        }
    }
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM nodes WHERE project_id = 'io'").await,
        1
    );
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------
// 3. Adoption of memory tables created elsewhere
// ---------------------------------------------------------------------------------

const PG_EXTERNAL_DDL: &str = r#"
CREATE TABLE l2_insights (id SERIAL PRIMARY KEY, content TEXT NOT NULL, embedding REAL[] NOT NULL,
    source_ids INTEGER[] NOT NULL, created_at TIMESTAMPTZ DEFAULT NOW(), metadata JSONB,
    io_category TEXT, is_identity BOOLEAN DEFAULT FALSE, source_file TEXT, memory_strength FLOAT);
CREATE TABLE nodes (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), label TEXT NOT NULL, name TEXT NOT NULL,
    properties JSONB DEFAULT '{}', vector_id INTEGER REFERENCES l2_insights(id), created_at TIMESTAMPTZ DEFAULT NOW(),
    UNIQUE (label, name));
CREATE TABLE edges (id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    source_id UUID NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    target_id UUID NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, relation TEXT NOT NULL,
    weight FLOAT DEFAULT 1.0, properties JSONB DEFAULT '{}', created_at TIMESTAMPTZ DEFAULT NOW(),
    modified_at TIMESTAMPTZ DEFAULT NOW(), last_accessed TIMESTAMPTZ DEFAULT NOW(), access_count INTEGER DEFAULT 0,
    last_engaged TIMESTAMPTZ, memory_sector VARCHAR(20) DEFAULT 'semantic', UNIQUE (source_id, target_id, relation));
CREATE TABLE working_memory (id SERIAL PRIMARY KEY, content TEXT NOT NULL, importance FLOAT DEFAULT 0.5,
    last_accessed TIMESTAMPTZ DEFAULT NOW(), created_at TIMESTAMPTZ DEFAULT NOW(), project_id VARCHAR(50));
CREATE TABLE episode_memory (id SERIAL PRIMARY KEY, query TEXT NOT NULL, reward FLOAT NOT NULL,
    reflection TEXT NOT NULL, embedding REAL[] NOT NULL, created_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE l0_raw (id SERIAL PRIMARY KEY, session_id TEXT NOT NULL, speaker TEXT NOT NULL, content TEXT NOT NULL,
    timestamp TIMESTAMPTZ DEFAULT NOW(), metadata JSONB, energy VARCHAR(20), state TEXT, location TEXT, intentions TEXT[]);
CREATE TABLE ground_truth (id SERIAL PRIMARY KEY, query TEXT NOT NULL, expected_docs INTEGER[] NOT NULL,
    judge1_model TEXT, judge2_model TEXT, kappa FLOAT, created_at TIMESTAMPTZ DEFAULT NOW(), metadata JSONB);
CREATE TABLE stale_memory (id SERIAL PRIMARY KEY, original_content TEXT NOT NULL, importance FLOAT NOT NULL,
    reason TEXT NOT NULL, content TEXT NOT NULL, archived_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE smf_proposals (id SERIAL PRIMARY KEY, trigger_type TEXT NOT NULL, proposed_action JSONB NOT NULL,
    affected_edges UUID[] NOT NULL, reasoning TEXT NOT NULL, approval_level TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'PENDING', created_at TIMESTAMPTZ DEFAULT NOW(), resolved_at TIMESTAMPTZ, resolved_by TEXT);
CREATE TABLE ief_feedback (id SERIAL PRIMARY KEY, query_id UUID NOT NULL DEFAULT gen_random_uuid(),
    query_text TEXT NOT NULL, constitutive_weight_used FLOAT NOT NULL, helpful BOOLEAN, feedback_reason TEXT,
    result_count INTEGER, conflict_count INTEGER, created_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE l2_insight_history (id SERIAL PRIMARY KEY, insight_id INTEGER NOT NULL REFERENCES l2_insights(id),
    action TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL, old_content TEXT, new_content TEXT,
    created_at TIMESTAMPTZ DEFAULT NOW());

INSERT INTO l2_insights (content, embedding, source_ids, metadata, io_category, memory_strength) VALUES
    ('prefers tea', ARRAY[0.25, -0.5, 1.0]::real[], ARRAY[1, 2], '{"k": [1, 2]}', 'preference', 0.75),
    ('lives in Oslo', ARRAY[0.125]::real[], ARRAY[]::integer[], NULL, NULL, NULL);
INSERT INTO nodes (id, label, name, properties, vector_id) VALUES
    ('6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f', 'person', 'ada', '{"age": 36}', 1),
    ('0b6e2a44-1d2c-4e3f-8a9b-7c6d5e4f3a2b', 'city', 'oslo', '{}', 2);
INSERT INTO edges (source_id, target_id, relation, weight) VALUES
    ('6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f', '0b6e2a44-1d2c-4e3f-8a9b-7c6d5e4f3a2b', 'LIVES_IN', 0.9);
INSERT INTO working_memory (content, importance, project_id) VALUES ('todo', 0.9, NULL), ('note', 0.1, 'aurora');
INSERT INTO episode_memory (query, reward, reflection, embedding) VALUES ('q', 1.5, 'good', ARRAY[0.5, 0.25]::real[]);
INSERT INTO l0_raw (session_id, speaker, content, metadata, energy, intentions) VALUES
    ('s1', 'user', 'hello', '{"lang": "en"}', 'high', ARRAY['greet', 'ask']), ('s1', 'assistant', 'hi', NULL, NULL, NULL);
INSERT INTO ground_truth (query, expected_docs, kappa) VALUES ('who', ARRAY[3, 5, 8], 0.7);
INSERT INTO stale_memory (original_content, importance, reason, content) VALUES ('old', 0.2, 'superseded', 'new');
INSERT INTO smf_proposals (trigger_type, proposed_action, affected_edges, reasoning, approval_level) VALUES
    ('conflict', '{"action": "merge", "ids": [1, 2]}', ARRAY['6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f']::uuid[], 'dup', 'auto');
INSERT INTO ief_feedback (query_text, constitutive_weight_used, helpful, result_count) VALUES ('q?', 0.3, true, 4);
INSERT INTO l2_insight_history (insight_id, action, actor, reason, old_content, new_content) VALUES
    (1, 'update', 'system', 'refined', 'prefers coffee', 'prefers tea');
"#;

const SQLITE_EXTERNAL_DDL: &str = r#"
CREATE TABLE l2_insights (id INTEGER PRIMARY KEY AUTOINCREMENT, content TEXT NOT NULL, embedding TEXT NOT NULL,
    source_ids TEXT NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP, metadata TEXT,
    io_category TEXT, is_identity BOOLEAN DEFAULT 0, source_file TEXT, memory_strength REAL);
CREATE TABLE nodes (id TEXT PRIMARY KEY, label TEXT NOT NULL, name TEXT NOT NULL,
    properties TEXT DEFAULT '{}', vector_id INTEGER REFERENCES l2_insights(id), created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (label, name));
CREATE TABLE edges (id TEXT PRIMARY KEY, source_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, relation TEXT NOT NULL,
    weight REAL DEFAULT 1.0, properties TEXT DEFAULT '{}', created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    modified_at TEXT, last_accessed TEXT, access_count INTEGER DEFAULT 0,
    last_engaged TEXT, memory_sector TEXT DEFAULT 'semantic', UNIQUE (source_id, target_id, relation));
CREATE TABLE working_memory (id INTEGER PRIMARY KEY AUTOINCREMENT, content TEXT NOT NULL, importance REAL DEFAULT 0.5,
    last_accessed TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP, project_id VARCHAR(50));
CREATE TABLE episode_memory (id INTEGER PRIMARY KEY AUTOINCREMENT, query TEXT NOT NULL, reward REAL NOT NULL,
    reflection TEXT NOT NULL, embedding TEXT NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE l0_raw (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, speaker TEXT NOT NULL,
    content TEXT NOT NULL, timestamp TEXT DEFAULT CURRENT_TIMESTAMP, metadata TEXT, energy VARCHAR(20), state TEXT,
    location TEXT, intentions TEXT);
CREATE TABLE ground_truth (id INTEGER PRIMARY KEY AUTOINCREMENT, query TEXT NOT NULL, expected_docs TEXT NOT NULL,
    judge1_model TEXT, judge2_model TEXT, kappa REAL, created_at TEXT DEFAULT CURRENT_TIMESTAMP, metadata TEXT);
CREATE TABLE stale_memory (id INTEGER PRIMARY KEY AUTOINCREMENT, original_content TEXT NOT NULL, importance REAL NOT NULL,
    reason TEXT NOT NULL, content TEXT NOT NULL, archived_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE smf_proposals (id INTEGER PRIMARY KEY AUTOINCREMENT, trigger_type TEXT NOT NULL, proposed_action TEXT NOT NULL,
    affected_edges TEXT NOT NULL, reasoning TEXT NOT NULL, approval_level TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'PENDING', created_at TEXT DEFAULT CURRENT_TIMESTAMP, resolved_at TEXT, resolved_by TEXT);
CREATE TABLE ief_feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, query_id TEXT NOT NULL,
    query_text TEXT NOT NULL, constitutive_weight_used REAL NOT NULL, helpful BOOLEAN, feedback_reason TEXT,
    result_count INTEGER, conflict_count INTEGER, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE l2_insight_history (id INTEGER PRIMARY KEY AUTOINCREMENT, insight_id INTEGER NOT NULL REFERENCES l2_insights(id),
    action TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL, old_content TEXT, new_content TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP);

INSERT INTO l2_insights (content, embedding, source_ids, metadata, io_category, memory_strength) VALUES
    ('prefers tea', '[0.25,-0.5,1.0]', '[1,2]', '{"k": [1, 2]}', 'preference', 0.75),
    ('lives in Oslo', '[0.125]', '[]', NULL, NULL, NULL);
INSERT INTO nodes (id, label, name, properties, vector_id) VALUES
    ('6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f', 'person', 'ada', '{"age": 36}', 1),
    ('0b6e2a44-1d2c-4e3f-8a9b-7c6d5e4f3a2b', 'city', 'oslo', '{}', 2);
INSERT INTO edges (id, source_id, target_id, relation, weight) VALUES
    ('11111111-2222-4333-8444-555555555555', '6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f',
     '0b6e2a44-1d2c-4e3f-8a9b-7c6d5e4f3a2b', 'LIVES_IN', 0.9);
INSERT INTO working_memory (content, importance, project_id) VALUES ('todo', 0.9, NULL), ('note', 0.1, 'aurora');
INSERT INTO episode_memory (query, reward, reflection, embedding) VALUES ('q', 1.5, 'good', '[0.5,0.25]');
INSERT INTO l0_raw (session_id, speaker, content, metadata, energy, intentions) VALUES
    ('s1', 'user', 'hello', '{"lang": "en"}', 'high', '["greet","ask"]'), ('s1', 'assistant', 'hi', NULL, NULL, NULL);
INSERT INTO ground_truth (query, expected_docs, kappa) VALUES ('who', '[3,5,8]', 0.7);
INSERT INTO stale_memory (original_content, importance, reason, content) VALUES ('old', 0.2, 'superseded', 'new');
INSERT INTO smf_proposals (trigger_type, proposed_action, affected_edges, reasoning, approval_level) VALUES
    ('conflict', '{"action": "merge", "ids": [1, 2]}', '["6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f"]', 'dup', 'auto');
INSERT INTO ief_feedback (query_id, query_text, constitutive_weight_used, helpful, result_count) VALUES
    ('99999999-8888-4777-8666-555555555555', 'q?', 0.3, 1, 4);
INSERT INTO l2_insight_history (insight_id, action, actor, reason, old_content, new_content) VALUES
    (1, 'update', 'system', 'refined', 'prefers coffee', 'prefers tea');
"#;

/// The external schema on MySQL: uuids as `BINARY(16)`, arrays as JSON, the keyed text
/// columns as VARCHAR, foreign keys at table level (InnoDB ignores them on a column).
const MYSQL_EXTERNAL_DDL: &str = r#"
CREATE TABLE l2_insights (id INTEGER AUTO_INCREMENT PRIMARY KEY, content TEXT NOT NULL, embedding JSON NOT NULL,
    source_ids JSON NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, metadata JSON,
    io_category TEXT, is_identity BOOLEAN DEFAULT FALSE, source_file TEXT, memory_strength DOUBLE);
CREATE TABLE nodes (id BINARY(16) PRIMARY KEY DEFAULT (UNHEX(REPLACE(UUID(), '-', ''))), label VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL, properties JSON DEFAULT ('{}'), vector_id INTEGER,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (label, name), FOREIGN KEY (vector_id) REFERENCES l2_insights(id));
CREATE TABLE edges (id BINARY(16) PRIMARY KEY DEFAULT (UNHEX(REPLACE(UUID(), '-', ''))),
    source_id BINARY(16) NOT NULL, target_id BINARY(16) NOT NULL, relation VARCHAR(255) NOT NULL,
    weight DOUBLE DEFAULT 1.0, properties JSON DEFAULT ('{}'), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    modified_at TIMESTAMP NULL, last_accessed TIMESTAMP NULL, access_count INTEGER DEFAULT 0,
    last_engaged TIMESTAMP NULL, memory_sector VARCHAR(20) DEFAULT 'semantic', UNIQUE (source_id, target_id, relation),
    FOREIGN KEY (source_id) REFERENCES nodes(id) ON DELETE CASCADE, FOREIGN KEY (target_id) REFERENCES nodes(id) ON DELETE CASCADE);
CREATE TABLE working_memory (id INTEGER AUTO_INCREMENT PRIMARY KEY, content TEXT NOT NULL, importance DOUBLE DEFAULT 0.5,
    last_accessed TIMESTAMP NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, project_id VARCHAR(50));
CREATE TABLE episode_memory (id INTEGER AUTO_INCREMENT PRIMARY KEY, query TEXT NOT NULL, reward DOUBLE NOT NULL,
    reflection TEXT NOT NULL, embedding JSON NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE l0_raw (id INTEGER AUTO_INCREMENT PRIMARY KEY, session_id TEXT NOT NULL, speaker TEXT NOT NULL,
    content TEXT NOT NULL, timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP, metadata JSON, energy VARCHAR(20), state TEXT,
    location TEXT, intentions JSON);
CREATE TABLE ground_truth (id INTEGER AUTO_INCREMENT PRIMARY KEY, query TEXT NOT NULL, expected_docs JSON NOT NULL,
    judge1_model TEXT, judge2_model TEXT, kappa DOUBLE, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, metadata JSON);
CREATE TABLE stale_memory (id INTEGER AUTO_INCREMENT PRIMARY KEY, original_content TEXT NOT NULL, importance DOUBLE NOT NULL,
    reason TEXT NOT NULL, content TEXT NOT NULL, archived_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE smf_proposals (id INTEGER AUTO_INCREMENT PRIMARY KEY, trigger_type TEXT NOT NULL, proposed_action JSON NOT NULL,
    affected_edges JSON NOT NULL, reasoning TEXT NOT NULL, approval_level TEXT NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'PENDING', created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, resolved_at TIMESTAMP NULL,
    resolved_by TEXT);
CREATE TABLE ief_feedback (id INTEGER AUTO_INCREMENT PRIMARY KEY,
    query_id BINARY(16) NOT NULL DEFAULT (UNHEX(REPLACE(UUID(), '-', ''))),
    query_text TEXT NOT NULL, constitutive_weight_used DOUBLE NOT NULL, helpful BOOLEAN, feedback_reason TEXT,
    result_count INTEGER, conflict_count INTEGER, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE l2_insight_history (id INTEGER AUTO_INCREMENT PRIMARY KEY, insight_id INTEGER NOT NULL,
    action TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL, old_content TEXT, new_content TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, FOREIGN KEY (insight_id) REFERENCES l2_insights(id));

INSERT INTO l2_insights (content, embedding, source_ids, metadata, io_category, memory_strength) VALUES
    ('prefers tea', '[0.25,-0.5,1.0]', '[1,2]', '{"k": [1, 2]}', 'preference', 0.75),
    ('lives in Oslo', '[0.125]', '[]', NULL, NULL, NULL);
INSERT INTO nodes (id, label, name, properties, vector_id) VALUES
    (UNHEX('6f1c1f3e8a9b4c1d9e2f0a1b2c3d4e5f'), 'person', 'ada', '{"age": 36}', 1),
    (UNHEX('0b6e2a441d2c4e3f8a9b7c6d5e4f3a2b'), 'city', 'oslo', '{}', 2);
INSERT INTO edges (id, source_id, target_id, relation, weight) VALUES
    (UNHEX('11111111222243338444555555555555'), UNHEX('6f1c1f3e8a9b4c1d9e2f0a1b2c3d4e5f'),
     UNHEX('0b6e2a441d2c4e3f8a9b7c6d5e4f3a2b'), 'LIVES_IN', 0.9);
INSERT INTO working_memory (content, importance, project_id) VALUES ('todo', 0.9, NULL), ('note', 0.1, 'aurora');
INSERT INTO episode_memory (query, reward, reflection, embedding) VALUES ('q', 1.5, 'good', '[0.5,0.25]');
INSERT INTO l0_raw (session_id, speaker, content, metadata, energy, intentions) VALUES
    ('s1', 'user', 'hello', '{"lang": "en"}', 'high', '["greet","ask"]'), ('s1', 'assistant', 'hi', NULL, NULL, NULL);
INSERT INTO ground_truth (query, expected_docs, kappa) VALUES ('who', '[3,5,8]', 0.7);
INSERT INTO stale_memory (original_content, importance, reason, content) VALUES ('old', 0.2, 'superseded', 'new');
INSERT INTO smf_proposals (trigger_type, proposed_action, affected_edges, reasoning, approval_level) VALUES
    ('conflict', '{"action": "merge", "ids": [1, 2]}', '["6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f"]', 'dup', 'auto');
INSERT INTO ief_feedback (query_text, constitutive_weight_used, helpful, result_count) VALUES ('q?', 0.3, 1, 4);
INSERT INTO l2_insight_history (insight_id, action, actor, reason, old_content, new_content) VALUES
    (1, 'update', 'system', 'refined', 'prefers coffee', 'prefers tea');
"#;

/// Every row of `table` as text, over `columns` only, ordered by id.
async fn dump(db: &backfill::backend::Db, table: &str, columns: &[String]) -> Vec<Option<String>> {
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = match backend_of(db) {
        Backend::Postgres => format!(
            "SELECT json_build_array({})::text FROM \"{table}\" ORDER BY id::text",
            quoted.join(", ")
        ),
        Backend::Sqlite => format!(
            "SELECT json_array({}) FROM \"{table}\" ORDER BY id",
            quoted.join(", ")
        ),
        Backend::Mysql => {
            let values: Vec<String> = quoted
                .iter()
                .map(|c| format!("IF(CHARSET({c}) = 'binary', HEX({c}), {c})"))
                .collect();
            format!(
                "SELECT CAST(JSON_ARRAY({}) AS CHAR) FROM \"{table}\" ORDER BY id",
                values.join(", ")
            )
        }
    };
    texts(db, &sql).await
}

async fn adopts_external_memory_tables(backend: Backend) {
    let t = TestDb::new(backend, "adoption").await;
    let db = t.connect().await;
    load_external_memory_tables(&db).await;
    let mut before = BTreeMap::new();
    for table in MEMORY_TABLES {
        let columns = column_names(&db, table).await;
        let rows = dump(&db, table, &columns).await;
        assert!(!rows.is_empty(), "{table} should have rows");
        before.insert(table, (columns, rows));
    }

    for round in 1..=2 {
        let out = t.cli(&["migrate", "up"]);
        assert_exit(
            &out,
            0,
            &format!("migrate up #{round} on an adopted database"),
        );

        for table in MEMORY_TABLES {
            let (columns, rows) = &before[table];
            assert_eq!(
                &dump(&db, table, columns).await,
                rows,
                "{table}: rows changed (round {round})"
            );
            let now = column_names(&db, table).await;
            let mut expected = columns.clone();
            if !expected.contains(&"project_id".to_string()) {
                expected.push("project_id".into());
            }
            assert_eq!(now, expected, "{table}: columns after adoption");
        }
        // The column was added with its default: existing rows are the legacy owner's.
        // working_memory had the column already: its rows are left as they were.
        for table in MEMORY_TABLES.iter().filter(|t| **t != "working_memory") {
            assert_eq!(
                int(
                    &db,
                    &format!(
                        "SELECT COUNT(*) FROM \"{table}\" WHERE project_id IS NULL OR project_id <> 'io'"
                    )
                )
                .await,
                0,
                "{table}"
            );
        }
        assert_eq!(
            texts(&db, "SELECT project_id FROM working_memory ORDER BY id").await,
            vec![None, Some("aurora".to_string())]
        );
        match backend {
            Backend::Postgres => {
                for table in MEMORY_TABLES {
                    let checks = pg_checks(&db, table).await;
                    assert_eq!(
                        checks.get(&project_id_check_name(table)),
                        Some(&false),
                        "{table}: NOT VALID check expected: {checks:?}"
                    );
                    assert_eq!(
                        checks.len(),
                        1,
                        "{table}: one check only (round {round}): {checks:?}"
                    );
                }
            }
            Backend::Sqlite | Backend::Mysql => {
                let triggers = triggers(&db).await;
                assert_eq!(triggers.len(), 2 * MEMORY_TABLES.len(), "{triggers:?}");
                for table in MEMORY_TABLES {
                    assert!(triggers.contains(&project_id_insert_trigger_name(table)));
                    assert!(triggers.contains(&project_id_update_trigger_name(table)));
                }
            }
        }
        assert_eq!(applied_migrations(&db).await, MIGRATIONS);
        assert_full_schema(&db).await;
        let drift = backfill::schema::drift(&db).await.unwrap();
        assert!(drift.is_empty(), "adopted schema drifts: {drift:#?}");
    }

    // The adopted tables enforce the check from now on.
    let err = db
        .execute_unprepared("INSERT INTO working_memory (content, project_id) VALUES ('x', NULL)")
        .await
        .expect_err("NULL project_id must be rejected");
    assert!(
        err.to_string()
            .contains(&project_id_check_name("working_memory")),
        "{err}"
    );
    // A column added by the migration carries the default.
    exec(
        &db,
        "INSERT INTO l0_raw (session_id, speaker, content) VALUES ('s2', 'user', 'new')",
    )
    .await;
    assert_eq!(
        texts(&db, "SELECT project_id FROM l0_raw WHERE content = 'new'").await,
        vec![Some("io".to_string())]
    );
    db.close().await.ok();
}

/// The external schema of [`adopts_external_memory_tables`], loaded into `db`.
async fn load_external_memory_tables(db: &backfill::backend::Db) {
    let ddl = match backend_of(db) {
        Backend::Postgres => PG_EXTERNAL_DDL,
        Backend::Sqlite => SQLITE_EXTERNAL_DDL,
        Backend::Mysql => MYSQL_EXTERNAL_DDL,
    };
    for statement in ddl.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        exec(db, statement).await;
    }
}

/// `down` removes only what `up` created: on an adopted schema whose `nodes` already
/// has a filled `project_id` and its check, going down past the `project_id`
/// migration keeps them (and `working_memory`'s), and going all the way down keeps
/// every table created elsewhere, with its rows.
async fn down_keeps_what_up_adopted(backend: Backend) {
    let t = TestDb::new(backend, "down_keeps").await;
    let db = t.connect().await;
    load_external_memory_tables(&db).await;
    exec(&db, "ALTER TABLE nodes ADD COLUMN project_id VARCHAR(50)").await;
    exec(&db, "UPDATE nodes SET project_id = 'aurora'").await;
    migration::ensure_project_id_check(&db, "nodes")
        .await
        .unwrap();
    let check_of_nodes = || async {
        migration::project_id_check_state(&db, "nodes")
            .await
            .unwrap()
    };
    let adopted_tables = table_names(&db).await;

    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "migrate up on an adopted database");
    assert!(
        column_names(&db, "l0_raw")
            .await
            .contains(&"project_id".to_string())
    );
    let added_check = match backend {
        Backend::Postgres => migration::ProjectIdCheck::NotValidated,
        Backend::Sqlite | Backend::Mysql => migration::ProjectIdCheck::Enforced,
    };
    assert_eq!(
        migration::project_id_check_state(&db, "l0_raw")
            .await
            .unwrap(),
        added_check
    );

    let out = t.cli(&["migrate", "down", "-n", "3"]);
    assert_exit(&out, 0, "migrate down -n 3");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..2]);
    assert_eq!(
        texts(&db, "SELECT project_id FROM nodes ORDER BY name").await,
        [Some("aurora".to_string()), Some("aurora".to_string())],
        "the adopted, filled nodes.project_id survives down"
    );
    assert_ne!(check_of_nodes().await, migration::ProjectIdCheck::Missing);
    assert_eq!(
        texts(&db, "SELECT project_id FROM working_memory ORDER BY id").await,
        [None, Some("aurora".to_string())]
    );
    // What up added is gone.
    assert!(
        !column_names(&db, "l0_raw")
            .await
            .contains(&"project_id".to_string())
    );
    assert_eq!(
        migration::project_id_check_state(&db, "working_memory")
            .await
            .unwrap(),
        migration::ProjectIdCheck::Missing
    );
    assert!(!table_names(&db).await.contains("backfill_runs"));

    let out = t.cli(&["migrate", "down", "-n", "2"]);
    assert_exit(&out, 0, "migrate down to nothing");
    assert!(applied_migrations(&db).await.is_empty());
    let mut expected = adopted_tables;
    expected.insert("seaql_migrations".into());
    assert_eq!(
        table_names(&db).await,
        expected,
        "only the tables created elsewhere are left (the record of what up created is gone too)"
    );
    assert_eq!(int(&db, "SELECT COUNT(*) FROM edges").await, 1);
    assert_ne!(check_of_nodes().await, migration::ProjectIdCheck::Missing);

    // And up adopts them again.
    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "migrate up again");
    assert_full_schema(&db).await;
    db.close().await.ok();
}

/// The external schema with `nodes` and `edges` stripped of their unique and foreign
/// keys (and `nodes.vector_id` of its reference).
fn external_ddl_without_graph_keys(backend: Backend) -> String {
    let ddl = match backend {
        Backend::Postgres => PG_EXTERNAL_DDL,
        Backend::Sqlite => SQLITE_EXTERNAL_DDL,
        Backend::Mysql => MYSQL_EXTERNAL_DDL,
    };
    let stripped = ddl
        .replace(
            "vector_id INTEGER REFERENCES l2_insights(id)",
            "vector_id INTEGER",
        )
        .replace(" REFERENCES nodes(id) ON DELETE CASCADE", "")
        .replace(",\n    UNIQUE (label, name)", "")
        .replace(", UNIQUE (source_id, target_id, relation)", "")
        .replace(", FOREIGN KEY (vector_id) REFERENCES l2_insights(id)", "")
        .replace(
            ",\n    FOREIGN KEY (source_id), FOREIGN KEY (target_id)",
            "",
        );
    assert!(!stripped.contains("UNIQUE") && !stripped.contains("REFERENCES nodes"));
    stripped
}

/// Adopted `nodes` and `edges` get the unique keys they lack on both backends and the
/// foreign keys on PostgreSQL (added `NOT VALID`, then validated); SQLite cannot add a
/// foreign key to an existing table, so `migrate check` names each one missing there.
/// Rows that break a key make `up` fail with a sentence naming it, changing nothing.
async fn adopted_graph_tables_get_their_keys(backend: Backend) {
    let t = TestDb::new(backend, "adopted_keys").await;
    let db = t.connect().await;
    let ddl = external_ddl_without_graph_keys(backend);
    for statement in ddl.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        exec(&db, statement).await;
    }
    let duplicate = match backend {
        Backend::Postgres => "INSERT INTO nodes (label, name) VALUES ('person', 'ada')",
        Backend::Sqlite => {
            "INSERT INTO nodes (id, label, name) VALUES ('22222222-2222-4222-8222-222222222222', 'person', 'ada')"
        }
        Backend::Mysql => "INSERT INTO nodes (label, name) VALUES ('person', 'ada')",
    };
    exec(&db, duplicate).await;
    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 2, "migrate up with duplicate nodes");
    assert!(
        stderr(&out).contains("uq_nodes_label_name") && stderr(&out).contains("`nodes`"),
        "{}",
        stderr(&out)
    );
    assert!(applied_migrations(&db).await.len() < 2);
    exec(
        &db,
        "DELETE FROM nodes WHERE name = 'ada' AND vector_id IS NULL",
    )
    .await;
    assert_eq!(int(&db, "SELECT COUNT(*) FROM nodes").await, 2);

    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "migrate up on adopted graph tables");
    let indexes = migration::catalog::indexes(&db, "nodes").await.unwrap();
    assert!(
        indexes
            .iter()
            .any(|i| i.unique && i.columns == ["label", "name"]),
        "{indexes:?}"
    );
    let indexes = migration::catalog::indexes(&db, "edges").await.unwrap();
    assert!(
        indexes
            .iter()
            .any(|i| i.unique && i.columns == ["source_id", "target_id", "relation"]),
        "{indexes:?}"
    );
    let err = db
        .execute_unprepared(duplicate)
        .await
        .expect_err("a duplicate node");
    let message = err.to_string().to_lowercase();
    assert!(
        message.contains("unique") || message.contains("duplicate entry"),
        "{err}"
    );

    let out = t.cli(&["migrate", "check"]);
    match backend {
        Backend::Postgres => {
            assert_exit(&out, 0, "migrate check after adoption");
            for (table, column, referenced) in [
                ("nodes", "vector_id", "l2_insights"),
                ("edges", "source_id", "nodes"),
                ("edges", "target_id", "nodes"),
            ] {
                let validated = texts(
                    &db,
                    &format!(
                        "SELECT c.convalidated::text FROM pg_constraint c \
                         WHERE c.contype = 'f' AND c.conrelid = '{table}'::regclass \
                         AND c.confrelid = '{referenced}'::regclass \
                         AND c.conkey = ARRAY[(SELECT attnum FROM pg_attribute \
                             WHERE attrelid = '{table}'::regclass AND attname = '{column}')]"
                    ),
                )
                .await;
                assert_eq!(validated, [Some("true".to_string())], "{table}.{column}");
            }
            let err = db
                .execute_unprepared(
                    "INSERT INTO edges (source_id, target_id, relation) VALUES \
                     (gen_random_uuid(), gen_random_uuid(), 'DANGLES')",
                )
                .await
                .expect_err("an edge between no nodes");
            assert!(err.to_string().contains("fk_edges_source_id"), "{err}");
        }
        Backend::Mysql => {
            assert_exit(&out, 0, "migrate check after adoption");
            let err = db
                .execute_unprepared(
                    "INSERT INTO edges (source_id, target_id, relation) VALUES \
                     (UNHEX(REPLACE(UUID(), '-', '')), UNHEX(REPLACE(UUID(), '-', '')), 'DANGLES')",
                )
                .await
                .expect_err("an edge between no nodes");
            assert!(err.to_string().contains("fk_edges_source_id"), "{err}");
        }
        Backend::Sqlite => {
            assert_exit(&out, 1, "migrate check with foreign keys SQLite cannot add");
            for missing in [
                "`nodes.vector_id` lacks the foreign key to `l2_insights`",
                "`edges.source_id` lacks the foreign key to `nodes`",
                "`edges.target_id` lacks the foreign key to `nodes`",
            ] {
                assert!(
                    stdout(&out).contains(missing),
                    "{missing}: {}",
                    stdout(&out)
                );
            }
            assert!(!stdout(&out).contains("unique key"), "{}", stdout(&out));
        }
    }

    // down takes back the keys up added, and keeps the adopted tables and rows.
    let out = t.cli(&["migrate", "down", "-n", "5"]);
    assert_exit(&out, 0, "migrate down -n 5");
    let indexes = migration::catalog::indexes(&db, "nodes").await.unwrap();
    assert!(indexes.iter().all(|i| !i.unique), "{indexes:?}");
    assert!(
        migration::catalog::foreign_keys(&db, "edges")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(int(&db, "SELECT COUNT(*) FROM edges").await, 1);
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------
// 4. The project_id check rejects NULL on insert and update
// ---------------------------------------------------------------------------------

/// Columns and values for a minimal row of `table`; `tag` keeps unique keys apart.
fn minimal_row(backend: Backend, table: &str, tag: &str) -> (String, String) {
    let pg = backend == Backend::Postgres;
    let (columns, values) = match table {
        "l2_insights" => (
            "content, embedding, source_ids",
            if pg {
                format!("'{tag}', ARRAY[0.5]::real[], ARRAY[1]::integer[]")
            } else {
                format!("'{tag}', '[0.5]', '[1]'")
            },
        ),
        "nodes" => ("label, name", format!("'l', '{tag}'")),
        "edges" => (
            "source_id, target_id, relation",
            "(SELECT id FROM nodes ORDER BY name LIMIT 1), (SELECT id FROM nodes ORDER BY name LIMIT 1), "
                .to_string()
                + &format!("'{tag}'"),
        ),
        "working_memory" => ("content", format!("'{tag}'")),
        "episode_memory" => (
            "query, reward, reflection, embedding",
            if pg {
                format!("'{tag}', 1.0, 'r', ARRAY[0.5]::real[]")
            } else {
                format!("'{tag}', 1.0, 'r', '[0.5]'")
            },
        ),
        "l0_raw" => ("session_id, speaker, content", format!("'s', 'user', '{tag}'")),
        "ground_truth" => (
            "query, expected_docs",
            if pg {
                format!("'{tag}', ARRAY[1]::integer[]")
            } else {
                format!("'{tag}', '[1]'")
            },
        ),
        "stale_memory" => (
            "original_content, importance, reason, content",
            format!("'o', 0.5, 'r', '{tag}'"),
        ),
        "smf_proposals" => (
            "trigger_type, proposed_action, affected_edges, reasoning, approval_level, status",
            if pg {
                format!("'{tag}', '{{}}'::jsonb, ARRAY[]::uuid[], 'r', 'auto', 'pending'")
            } else {
                format!("'{tag}', '{{}}', '[]', 'r', 'auto', 'pending'")
            },
        ),
        "ief_feedback" => ("query_text, constitutive_weight_used", format!("'{tag}', 0.5")),
        "l2_insight_history" => (
            "insight_id, action, actor, reason",
            format!("(SELECT MIN(id) FROM l2_insights), '{tag}', 'a', 'r'"),
        ),
        other => panic!("not a memory table: {other}"),
    };
    (columns.to_string(), values)
}

async fn project_id_check_rejects_null(backend: Backend) {
    let t = TestDb::new(backend, "check_rejects_null").await;
    let db = t.migrated().await;
    for table in MEMORY_TABLES {
        let check = project_id_check_name(table);

        // Omitted → the default 'io'.
        let (columns, values) = minimal_row(backend, table, "first");
        exec(
            &db,
            &format!("INSERT INTO \"{table}\" ({columns}) VALUES ({values})"),
        )
        .await;
        assert_eq!(
            texts(&db, &format!("SELECT project_id FROM \"{table}\"")).await,
            vec![Some("io".to_string())],
            "{table}: an insert omitting project_id gets 'io'"
        );

        // Explicit NULL on insert → rejected, nothing written.
        let (columns, values) = minimal_row(backend, table, "second");
        let err = db
            .execute_unprepared(&format!(
                "INSERT INTO \"{table}\" ({columns}, project_id) VALUES ({values}, NULL)"
            ))
            .await
            .expect_err("an insert with a NULL project_id must fail");
        assert!(err.to_string().contains(&check), "{table}: {err}");
        assert_eq!(
            int(&db, &format!("SELECT COUNT(*) FROM \"{table}\"")).await,
            1,
            "{table}"
        );

        // Another value is fine.
        exec(
            &db,
            &format!("INSERT INTO \"{table}\" ({columns}, project_id) VALUES ({values}, 'aurora')"),
        )
        .await;

        // UPDATE to NULL → rejected, nothing changed.
        let err = db
            .execute_unprepared(&format!("UPDATE \"{table}\" SET project_id = NULL"))
            .await
            .expect_err("an update to a NULL project_id must fail");
        assert!(err.to_string().contains(&check), "{table}: {err}");
        assert_eq!(
            int(
                &db,
                &format!("SELECT COUNT(*) FROM \"{table}\" WHERE project_id IS NULL")
            )
            .await,
            0,
            "{table}"
        );
        assert_eq!(
            texts(
                &db,
                &format!("SELECT project_id FROM \"{table}\" ORDER BY project_id")
            )
            .await,
            vec![Some("aurora".to_string()), Some("io".to_string())],
            "{table}"
        );
        // An UPDATE that keeps project_id set is fine.
        exec(&db, &format!("UPDATE \"{table}\" SET project_id = 'io'")).await;
    }
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------
// 5. seed
// ---------------------------------------------------------------------------------

const SEED_TESTS: u64 = 5_000;
const SEED_MEMORY_ROWS: u64 = 1_000;
const FEATURES_PER_TEST: u32 = 3;

fn seed_args(seed: u64) -> SeedSettings {
    SeedSettings {
        seed,
        tests: SEED_TESTS,
        features_per_test: FEATURES_PER_TEST,
        bugs_per_test: 2,
        customers: 20,
        memory_rows: SEED_MEMORY_ROWS,
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

async fn seeded(backend: Backend, seed: u64) -> (TestDb, backfill::backend::Db) {
    let t = TestDb::new(backend, &format!("seed_{seed}")).await;
    let db = t.migrated().await;
    backfill::seed::run(&db, &seed_args(seed))
        .await
        .expect("seed");
    (t, db)
}

/// Ordered dumps of the seeded tables, one text line a row.
async fn seed_dump(db: &backfill::backend::Db) -> Vec<Vec<Option<String>>> {
    let queries: &[&str] = match backend_of(db) {
        Backend::Sqlite => &[
            "SELECT id || '|' || customer_id || '|' || product_id || '|' || data || '|' || status FROM tests ORDER BY id",
            "SELECT id || '|' || test_id || '|' || customer_id || '|' || raw_data FROM bugs ORDER BY id",
            "SELECT id || '|' || content || '|' || embedding || '|' || source_ids || '|' || coalesce(project_id, '<NULL>') FROM l2_insights ORDER BY id",
            "SELECT id || '|' || name || '|' || coalesce(vector_id, '') || '|' || coalesce(project_id, '<NULL>') FROM nodes ORDER BY id",
            "SELECT id || '|' || source_id || '|' || target_id || '|' || coalesce(project_id, '<NULL>') FROM edges ORDER BY id",
            "SELECT id || '|' || affected_edges || '|' || coalesce(project_id, '<NULL>') FROM smf_proposals ORDER BY id",
        ],
        Backend::Postgres => &[
            "SELECT id || '|' || customer_id || '|' || product_id || '|' || data || '|' || status FROM tests ORDER BY id",
            "SELECT id || '|' || test_id || '|' || customer_id || '|' || raw_data FROM bugs ORDER BY id",
            "SELECT id || '|' || content || '|' || embedding::text || '|' || source_ids::text || '|' || coalesce(project_id, '<NULL>') FROM l2_insights ORDER BY id",
            "SELECT id::text || '|' || name || '|' || coalesce(vector_id::text, '') || '|' || coalesce(project_id, '<NULL>') FROM nodes ORDER BY id",
            "SELECT id::text || '|' || source_id::text || '|' || target_id::text || '|' || coalesce(project_id, '<NULL>') FROM edges ORDER BY id",
            "SELECT id || '|' || affected_edges::text || '|' || coalesce(project_id, '<NULL>') FROM smf_proposals ORDER BY id",
        ],
        Backend::Mysql => &[
            "SELECT CONCAT_WS('|', id, customer_id, product_id, data, status) FROM tests ORDER BY id",
            "SELECT CONCAT_WS('|', id, test_id, customer_id, raw_data) FROM bugs ORDER BY id",
            "SELECT CONCAT_WS('|', id, content, embedding, source_ids, coalesce(project_id, '<NULL>')) FROM l2_insights ORDER BY id",
            "SELECT CONCAT_WS('|', HEX(id), name, coalesce(vector_id, ''), coalesce(project_id, '<NULL>')) FROM nodes ORDER BY id",
            "SELECT CONCAT_WS('|', HEX(id), HEX(source_id), HEX(target_id), coalesce(project_id, '<NULL>')) FROM edges ORDER BY id",
            "SELECT CONCAT_WS('|', id, affected_edges, coalesce(project_id, '<NULL>')) FROM smf_proposals ORDER BY id",
        ],
    };
    let mut dumps = Vec::new();
    for sql in queries {
        dumps.push(texts(db, sql).await);
    }
    dumps
}

fn assert_fraction(what: &str, count: usize, total: usize, expected: f64) {
    let actual = count as f64 / total as f64;
    assert!(
        (actual - expected).abs() <= 0.01,
        "{what}: {count} of {total} = {actual:.4}, expected {expected} ± 0.01"
    );
}

async fn seed_is_deterministic_and_imperfect(backend: Backend) {
    let (_a, db_a) = seeded(backend, 7).await;
    let (_b, db_b) = seeded(backend, 7).await;
    let (_c, db_c) = seeded(backend, 8).await;

    let dump_a = seed_dump(&db_a).await;
    let dump_b = seed_dump(&db_b).await;
    let dump_c = seed_dump(&db_c).await;
    assert_eq!(dump_a[0].len(), SEED_TESTS as usize);
    assert_eq!(dump_a[1].len(), 2 * SEED_TESTS as usize);
    for (i, (a, b)) in dump_a.iter().zip(&dump_b).enumerate() {
        assert!(
            a == b,
            "{backend:?}: dump {i} differs between two seeds of 7"
        );
    }
    for (i, (a, c)) in dump_a.iter().zip(&dump_c).enumerate() {
        assert!(
            a != c,
            "{backend:?}: dump {i} is the same for seeds 7 and 8"
        );
    }

    // Malformed JSON payloads.
    let args = seed_args(7);
    let payloads: Vec<String> = texts(&db_a, "SELECT data FROM tests ORDER BY id")
        .await
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let parsed: Vec<Option<serde_json::Value>> = payloads
        .iter()
        .map(|p| serde_json::from_str(p).ok())
        .collect();
    let malformed = parsed.iter().filter(|p| p.is_none()).count();
    assert_fraction(
        "malformed JSON",
        malformed,
        payloads.len(),
        args.malformed_json,
    );
    if backend == Backend::Sqlite {
        let invalid = int(
            &db_a,
            "SELECT COUNT(*) FROM tests WHERE json_valid(data) = 0",
        )
        .await;
        assert_eq!(
            invalid as usize, malformed,
            "json_valid agrees with serde_json"
        );
    }

    // Features without id, among the payloads that parse.
    let mut features = 0;
    let mut without_id = 0;
    for payload in parsed.iter().flatten() {
        let list = payload
            .get("features")
            .or_else(|| {
                payload
                    .get("exploratory_test")
                    .and_then(|e| e.get("features"))
            })
            .and_then(|f| f.as_array())
            .expect("a features list");
        assert_eq!(list.len(), FEATURES_PER_TEST as usize);
        for feature in list {
            features += 1;
            if feature.get("id").is_none() {
                without_id += 1;
            }
        }
    }
    assert_fraction(
        "features without id",
        without_id,
        features,
        args.features_without_id,
    );

    // Bugs: no test feature, a missing one, a foreign one.
    let bug_rows = texts(
        &db_a,
        "SELECT test_id || '|' || raw_data FROM bugs ORDER BY id",
    )
    .await;
    let (mut none, mut missing, mut foreign) = (0, 0, 0);
    for row in bug_rows.iter().flatten() {
        let (test_id, raw) = row.split_once('|').unwrap();
        let test_id: i64 = test_id.parse().unwrap();
        let raw: serde_json::Value =
            serde_json::from_str(raw).expect("bug payloads are valid JSON");
        match raw
            .get("test_feature")
            .and_then(|f| f.get("id"))
            .and_then(|id| id.as_i64())
        {
            None => none += 1,
            Some(id) if id >= 1_000_000_000_000 => missing += 1,
            Some(id) if (id - 1) / FEATURES_PER_TEST as i64 + 1 != test_id => foreign += 1,
            Some(_) => {}
        }
    }
    let bugs = bug_rows.len();
    assert_fraction(
        "bugs without feature",
        none,
        bugs,
        args.bugs_without_feature,
    );
    assert_fraction(
        "bugs naming a missing feature",
        missing,
        bugs,
        args.bugs_missing_feature,
    );
    assert_fraction(
        "bugs naming a foreign feature",
        foreign,
        bugs,
        args.bugs_foreign_feature,
    );

    // Legacy project_id rows in each memory table.
    for table in MEMORY_TABLES {
        let total = int(&db_a, &format!("SELECT COUNT(*) FROM \"{table}\"")).await as usize;
        assert_eq!(total, SEED_MEMORY_ROWS as usize, "{table}");
        let nulls = int(
            &db_a,
            &format!("SELECT COUNT(*) FROM \"{table}\" WHERE project_id IS NULL"),
        )
        .await;
        assert_fraction(
            &format!("{table}: NULL project_id"),
            nulls as usize,
            total,
            args.null_project_id,
        );
        let aliases = int(
            &db_a,
            &format!(
                "SELECT COUNT(*) FROM \"{table}\" WHERE project_id IN ('io:', 'I/O', 'ethr', 'default') \
                 OR trim(project_id) = ''"
            ),
        )
        .await;
        assert_fraction(
            &format!("{table}: alias project_id"),
            aliases as usize,
            total,
            args.alias_project_id,
        );
        // The check is back in place after seeding legacy rows.
        match backend {
            Backend::Postgres => assert_eq!(
                pg_checks(&db_a, table)
                    .await
                    .get(&project_id_check_name(table)),
                Some(&false),
                "{table}"
            ),
            Backend::Sqlite | Backend::Mysql => {
                let triggers = triggers(&db_a).await;
                assert!(
                    triggers.contains(&project_id_insert_trigger_name(table)),
                    "{table}"
                );
                assert!(
                    triggers.contains(&project_id_update_trigger_name(table)),
                    "{table}"
                );
            }
        }
    }

    // The seeded database is still the entities' schema.
    let drift = backfill::schema::drift(&db_a).await.unwrap();
    assert!(drift.is_empty(), "{drift:#?}");

    // Seeding into a database that has rows is refused, and changes nothing.
    let out = _a.cli(&[
        "seed",
        "--seed",
        "9",
        "--tests",
        "10",
        "--memory-rows",
        "10",
    ]);
    assert_exit(&out, 2, "seed into a non-empty database");
    assert!(
        stderr(&out).contains("already has rows"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    assert_eq!(
        seed_dump(&db_a).await,
        dump_a,
        "a refused seed changed data"
    );

    for db in [db_a, db_b, db_c] {
        db.close().await.ok();
    }
}

/// `l0_raw.energy` is a `VARCHAR(20)` label and `l0_raw.intentions` a text array
/// (SPEC §4.2): the migration creates them so, the entity reads them so, and `seed`
/// writes them so (a real `text[]` on PostgreSQL, a JSON array on SQLite).
async fn l0_raw_holds_labels_and_text_arrays(backend: Backend) {
    let t = TestDb::new(backend, "l0_raw_types").await;
    let db = t.migrated().await;
    let args = SeedSettings {
        tests: 10,
        memory_rows: 10,
        ..seed_args(3)
    };
    backfill::seed::run(&db, &args).await.expect("seed");
    match backend {
        Backend::Postgres => {
            let types = texts(
                &db,
                "SELECT column_name::text || ' ' || udt_name::text || ' ' || coalesce(character_maximum_length::text, '-') \
                 FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name = 'l0_raw' AND column_name IN ('energy', 'intentions') ORDER BY 1",
            )
            .await;
            assert_eq!(
                types,
                [
                    Some("energy varchar 20".into()),
                    Some("intentions _text -".into())
                ]
            );
            assert_eq!(
                texts(
                    &db,
                    "SELECT DISTINCT array_to_string(intentions, ',') FROM l0_raw"
                )
                .await,
                [Some("answer,remember".to_string())]
            );
        }
        Backend::Sqlite => {
            assert_eq!(
                texts(&db, "SELECT DISTINCT intentions FROM l0_raw").await,
                [Some(r#"["answer","remember"]"#.to_string())]
            );
        }
        Backend::Mysql => {
            assert_eq!(
                texts(&db, "SELECT DISTINCT intentions FROM l0_raw").await,
                [Some(r#"["answer","remember"]"#.to_string())]
            );
            assert_eq!(
                texts(
                    &db,
                    "SELECT CAST(CONCAT(data_type, ' ', character_maximum_length) AS CHAR) \
                     FROM information_schema.columns WHERE table_schema = DATABASE() \
                     AND table_name = 'l0_raw' AND column_name = 'energy'"
                )
                .await,
                [Some("varchar 20".to_string())]
            );
        }
    }
    let energies: BTreeSet<String> = texts(&db, "SELECT energy FROM l0_raw")
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(
        energies,
        BTreeSet::from(["high".into(), "low".into(), "medium".into()])
    );
    if backend == Backend::Postgres {
        // The entity reads the seeded row back as the types it declares.
        use sea_orm::EntityTrait;
        let row = entity::l0_raw::Entity::find_by_id(1)
            .one(&db)
            .await
            .unwrap()
            .expect("row 1");
        assert_eq!(
            row.intentions,
            Some(vec!["answer".to_string(), "remember".to_string()])
        );
        assert!(row.energy.is_some_and(|e| energies.contains(&e)));
    }
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------
// 6. migrate check
// ---------------------------------------------------------------------------------

async fn migrate_check_catches_drift(backend: Backend) {
    let t = TestDb::new(backend, "migrate_check").await;

    // Before migrating: pending migrations are a failure, not a crash.
    let db = t.connect().await;
    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 1, "migrate check on an unmigrated database");
    assert!(stdout(&out).contains("pending"), "{}", stdout(&out));

    Migrator::up(db.connection(), None).await.unwrap();
    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 0, "migrate check on a clean database");
    assert!(
        stdout(&out).contains("migrate check passed"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("DRIFT"), "{}", stdout(&out));
    for step in ["scratch database: up: ok", "scratch database: down: ok"] {
        assert!(stdout(&out).contains(step), "{}", stdout(&out));
    }
    // Only read: the given database is unchanged.
    assert_eq!(applied_migrations(&db).await, MIGRATIONS);

    let out = t.cli(&["--format", "json", "migrate", "check"]);
    assert_exit(&out, 0, "migrate check --format json");
    let json: serde_json::Value =
        serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    assert_eq!(json["passed"], serde_json::Value::Bool(true), "{json}");

    exec(&db, "ALTER TABLE bugs DROP COLUMN severity").await;
    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 1, "migrate check after dropping bugs.severity");
    assert!(stdout(&out).contains("bugs.severity"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("migrate check FAILED"),
        "{}",
        stdout(&out)
    );

    let (changed, named) = match backend {
        Backend::Postgres => (
            "ALTER TABLE tests ALTER COLUMN customer_id TYPE text",
            "tests.customer_id",
        ),
        Backend::Sqlite => (
            "ALTER TABLE test_features DROP COLUMN howtofind",
            "test_features.howtofind",
        ),
        Backend::Mysql => (
            "ALTER TABLE tests MODIFY customer_id TEXT NOT NULL",
            "tests.customer_id",
        ),
    };
    exec(&db, changed).await;
    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 1, &format!("migrate check after `{changed}`"));
    assert!(stdout(&out).contains(named), "{}", stdout(&out));
    assert!(stdout(&out).contains("bugs.severity"), "{}", stdout(&out));
    db.close().await.ok();
}

/// A pending migration fails the gate, naming it, and the migrations that are
/// applied are still checked for drift.
async fn migrate_check_fails_on_pending_migrations(backend: Backend) {
    let t = TestDb::new(backend, "check_pending").await;
    let out = t.cli(&["migrate", "up", "-n", "3"]);
    assert_exit(&out, 0, "migrate up -n 3");
    let db = t.connect().await;
    exec(&db, "ALTER TABLE bugs DROP COLUMN severity").await;

    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 1, "migrate check with a pending migration");
    assert!(
        stdout(&out).contains(&format!("pending  {}", MIGRATIONS[3])),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("bugs.severity"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("migrate check FAILED"),
        "{}",
        stdout(&out)
    );
    // Only read: the pending migration is still pending.
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..3]);
    db.close().await.ok();
}

/// A stand-in for pgvector's `vector` (not installed here): a base type of that name
/// with text's input and output, so the catalog reports it as pgvector's is reported
/// (`data_type` `USER-DEFINED`, `udt_name` `vector`) and it takes `'[0.25,-0.5]'`.
const PGVECTOR_STAND_IN: &str = "
CREATE TYPE vector;
CREATE FUNCTION vector_in(cstring) RETURNS vector AS 'textin' LANGUAGE internal IMMUTABLE STRICT;
CREATE FUNCTION vector_out(vector) RETURNS cstring AS 'textout' LANGUAGE internal IMMUTABLE STRICT;
CREATE TYPE vector (INPUT = vector_in, OUTPUT = vector_out, LIKE = text)";

/// A database whose `embedding` columns are pgvector's `vector` passes `migrate check`,
/// `seed` writes its embeddings in that type, and a real drift still fails the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgvector_embeddings_are_compatible_postgres() {
    let t = TestDb::new(Backend::Postgres, "pgvector").await;
    let db = t.connect().await;
    for statement in PGVECTOR_STAND_IN.split(';') {
        exec(&db, statement).await;
    }
    let tables_only = PG_EXTERNAL_DDL
        .split(';')
        .map(str::trim)
        .filter(|s| s.starts_with("CREATE TABLE"));
    for statement in tables_only {
        exec(
            &db,
            &statement.replace("embedding REAL[] NOT NULL", "embedding vector NOT NULL"),
        )
        .await;
    }
    assert_eq!(
        texts(
            &db,
            "SELECT DISTINCT data_type::text || ' ' || udt_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = 'embedding'"
        )
        .await,
        [Some("USER-DEFINED vector".to_string())]
    );
    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "migrate up");

    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 0, "migrate check with vector embeddings");
    assert!(!stdout(&out).contains("DRIFT"), "{}", stdout(&out));

    let args = SeedSettings {
        tests: 10,
        memory_rows: 10,
        ..seed_args(5)
    };
    backfill::seed::run(&db, &args)
        .await
        .expect("seed into vector columns");
    for table in ["l2_insights", "episode_memory"] {
        let embeddings = texts(&db, &format!("SELECT embedding::text FROM {table}")).await;
        assert_eq!(embeddings.len(), 10, "{table}");
        for embedding in embeddings.into_iter().flatten() {
            let numbers = embedding
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .unwrap_or_else(|| panic!("{table}: not pgvector's text form: {embedding}"));
            assert_eq!(numbers.split(',').count(), 8, "{table}: {embedding}");
            for number in numbers.split(',') {
                number.parse::<f32>().expect("a float");
            }
        }
    }

    // A real drift still fails: a missing column, and the type elsewhere.
    exec(&db, "ALTER TABLE l2_insights DROP COLUMN io_category").await;
    exec(&db, "ALTER TABLE l0_raw DROP COLUMN content").await;
    exec(
        &db,
        "ALTER TABLE l0_raw ADD COLUMN content vector NOT NULL DEFAULT '[1]'",
    )
    .await;
    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 1, "migrate check with real drift");
    assert!(
        stdout(&out).contains("l2_insights.io_category"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("l0_raw.content` is vector"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains(".embedding"), "{}", stdout(&out));
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------
// 7. Bad URLs
// ---------------------------------------------------------------------------------

fn assert_one_line_exit_2(url: &str, args: &[&str]) {
    let out = cli_with_url(url, args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{url} {args:?}: stdout {} stderr {err}",
        stdout(&out)
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{url} {args:?}: one line expected:\n{err}"
    );
    assert!(!err.contains("panicked"), "{url}: {err}");
    assert!(!err.to_lowercase().contains("backtrace"), "{url}: {err}");
    assert!(stdout(&out).is_empty(), "{url}: stdout {}", stdout(&out));
}

#[test]
fn bad_database_urls_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir
        .path()
        .join("no-such-dir")
        .join("deeper")
        .join("test.db");
    let sqlite_url = format!("sqlite://{}?mode=rwc", missing.display());
    for url in [
        "postgres://root@127.0.0.1:1/nope",
        sqlite_url.as_str(),
        "redis://x",
        "mysql://root@127.0.0.1:1/nope",
        "not a url at all",
    ] {
        for args in [
            &["migrate", "status"][..],
            &["migrate", "up"],
            &["migrate", "check"],
            &["seed"],
        ] {
            assert_one_line_exit_2(url, args);
        }
    }
    assert!(
        !missing.parent().unwrap().exists(),
        "nothing may be created for a bad URL"
    );
    // The sentence says why: a refused connection is reported as such (not as a pool
    // timeout after retrying).
    for url in [
        "postgres://root@127.0.0.1:1/nope",
        "mysql://root@127.0.0.1:1/nope",
    ] {
        let out = cli_with_url(url, &["migrate", "status"]);
        assert!(
            stderr(&out).contains("cannot connect") && stderr(&out).contains("refused"),
            "{}",
            stderr(&out)
        );
    }
    // A password is not echoed.
    for url in [
        "postgres://root:s3cret@127.0.0.1:1/nope",
        "mysql://root:s3cret@127.0.0.1:1/nope",
    ] {
        let out = cli_with_url(url, &["migrate", "status"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    }
}

// ---------------------------------------------------------------------------------
// 8. A migration that fails half-way changes nothing
// ---------------------------------------------------------------------------------

async fn failed_migration_rolls_back(backend: Backend) {
    if backend == Backend::Mysql {
        return failed_migration_is_replayed(backend).await;
    }
    let t = TestDb::new(backend, "failed_migration").await;
    let out = t.cli(&["migrate", "up", "-n", "1"]);
    assert_exit(&out, 0, "migrate up -n 1");
    let db = t.connect().await;
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..1]);

    // An obstacle that makes migration 2 fail after it has created l2_insights.
    let (obstacle, removal) = match backend {
        // A legacy `nodes` with integer ids: `edges` cannot reference it as uuid.
        Backend::Postgres => (
            "CREATE TABLE nodes (id INTEGER PRIMARY KEY, label TEXT NOT NULL, name TEXT NOT NULL); \
             INSERT INTO nodes VALUES (1, 'person', 'ada')",
            "DROP TABLE nodes",
        ),
        // An index named like a table migration 2 creates later.
        Backend::Sqlite => (
            "CREATE TABLE legacy (x INTEGER); CREATE INDEX working_memory ON legacy (x); \
             INSERT INTO legacy VALUES (1)",
            "DROP INDEX working_memory",
        ),
        Backend::Mysql => unreachable!("MySQL DDL is not transactional"),
    };
    exec(&db, obstacle).await;
    let tables_before = table_names(&db).await;
    let indexes_before = index_names(&db).await;

    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 2, "migrate up with an obstacle");
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("m20260101_000002") || stderr(&out).contains("migrate up failed"),
        "{}",
        stderr(&out)
    );

    assert_eq!(
        applied_migrations(&db).await,
        MIGRATIONS[..1],
        "only migration 1 is recorded"
    );
    let tables_after = table_names(&db).await;
    assert_eq!(
        tables_after, tables_before,
        "migration 2 left tables behind"
    );
    for table in ["l2_insights", "edges", "working_memory"] {
        assert!(
            !tables_after.contains(table),
            "{table} survived the failed migration"
        );
    }
    assert_eq!(index_names(&db).await, indexes_before);
    match backend {
        Backend::Postgres => {
            assert_eq!(
                texts(&db, "SELECT name FROM nodes").await,
                vec![Some("ada".to_string())]
            );
            // No sequence or type of l2_insights survived either.
            let left = texts(
                &db,
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relname LIKE 'l2_insights%'",
            )
            .await;
            assert!(left.is_empty(), "{left:?}");
        }
        Backend::Sqlite => assert_eq!(int(&db, "SELECT COUNT(*) FROM legacy").await, 1),
        Backend::Mysql => unreachable!("MySQL DDL is not transactional"),
    }

    // With the obstacle gone, the same command completes.
    exec(&db, removal).await;
    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "migrate up after removing the obstacle");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS);
    assert_full_schema(&db).await;
    db.close().await.ok();
}

on_every_backend!(
    up_down_up_status,
    schema_matches_entities,
    adopts_external_memory_tables,
    down_keeps_what_up_adopted,
    adopted_graph_tables_get_their_keys,
    project_id_check_rejects_null,
    seed_is_deterministic_and_imperfect,
    l0_raw_holds_labels_and_text_arrays,
    migrate_check_catches_drift,
    migrate_check_fails_on_pending_migrations,
    failed_migration_rolls_back,
);

/// MySQL commits each DDL statement as it runs, so a migration that fails half-way
/// keeps what it made: run again, it finds those steps made and completes, and its
/// `down` still removes everything it made (the steps of the failed run included).
async fn failed_migration_is_replayed(backend: Backend) {
    let t = TestDb::new(backend, "failed_replayed").await;
    let out = t.cli(&["migrate", "up", "-n", "2"]);
    assert_exit(&out, 0, "migrate up -n 2");
    let db = t.connect().await;
    // Trigger names are per database: one named like the second trigger of `nodes`,
    // on another table, fails migration 3 after its first steps.
    let taken = project_id_update_trigger_name("nodes");
    exec(
        &db,
        &format!("CREATE TRIGGER \"{taken}\" BEFORE UPDATE ON tests FOR EACH ROW SET NEW.title = NEW.title"),
    )
    .await;
    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 2, "migrate up with a trigger name taken");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS[..2]);
    assert!(
        column_names(&db, "nodes")
            .await
            .contains(&"project_id".to_string()),
        "the steps before the failure stay"
    );
    assert!(
        triggers(&db)
            .await
            .contains(&project_id_insert_trigger_name("nodes"))
    );

    exec(&db, &format!("DROP TRIGGER \"{taken}\"")).await;
    let out = t.cli(&["migrate", "up"]);
    assert_exit(&out, 0, "migrate up replayed");
    assert_eq!(applied_migrations(&db).await, MIGRATIONS);
    assert_full_schema(&db).await;

    let out = t.cli(&["migrate", "down", "-n", "5"]);
    assert_exit(&out, 0, "migrate down -n 5");
    assert_empty_schema(&db).await;
    db.close().await.ok();
}
