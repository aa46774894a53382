//! Memory tables created elsewhere, adopted by `migrate up` with their rows, and given
//! back by `migrate down` as they were found.

use std::collections::BTreeMap;

use crate::support::Db;
use migration::{
    MEMORY_TABLES, project_id_check_name, project_id_insert_trigger_name,
    project_id_update_trigger_name,
};
use sea_orm::ConnectionTrait;

use super::catalog::*;
use super::external_schema::*;
use super::*;
use crate::support::*;

/// Every row of `table` as text, over `columns` only, ordered by id.
async fn dump(db: &Db, table: &str, columns: &[String]) -> Vec<Option<String>> {
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = match Backend::of(db) {
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

scenario!(adopts_external_memory_tables on sqlite, postgres, mysql);
/// `migrate up`, twice, on memory tables another application created: their rows and
/// columns stay, `project_id` is added with its default where missing, each table gets
/// its check, and the schema is then the entities'.
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
        assert_no_drift(&db, "the adopted schema").await;
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
scenario!(down_keeps_what_up_adopted on sqlite, postgres, mysql);
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

    let out = t.cli(&["migrate", "down", "-n", "6", "--yes"]);
    assert_exit(&out, 0, "migrate down -n 6");
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

    let out = t.cli(&["migrate", "down", "-n", "2", "--yes"]);
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
    let stripped = external_ddl(backend)
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

scenario!(adopted_graph_tables_get_their_keys on sqlite, postgres, mysql);
/// Adopted `nodes` and `edges` get the unique keys they lack on both backends and the
/// foreign keys on PostgreSQL (added `NOT VALID`, then validated); SQLite cannot add a
/// foreign key to an existing table, so `migrate check` names each one missing there.
/// Rows that break a key make `up` fail with a sentence naming it, changing nothing.
async fn adopted_graph_tables_get_their_keys(backend: Backend) {
    let t = TestDb::new(backend, "adopted_keys").await;
    let db = t.connect().await;
    load(&db, &external_ddl_without_graph_keys(backend)).await;
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
                assert_printed(&out, missing);
            }
            assert_not_printed(&out, "unique key");
        }
    }

    // down takes back the keys up added, and keeps the adopted tables and rows.
    let out = t.cli(&["migrate", "down", "-n", "8", "--yes"]);
    assert_exit(&out, 0, "migrate down -n 8");
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
