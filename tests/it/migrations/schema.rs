//! The migrated schema itself: what each backend makes of the entities' columns, and
//! the `project_id` check that keeps NULL out of every memory table.

use std::collections::BTreeMap;

use crate::support::Db;
use migration::{MEMORY_TABLES, project_id_check_name};
use sea_orm::ConnectionTrait;

use crate::support::*;

// 2. The migrated schema matches the entities
// ---------------------------------------------------------------------------------

/// What `expression` says of `table.column` in `information_schema.columns` of the
/// current schema (PostgreSQL, MySQL).
async fn column_fact(db: &Db, expression: &str, table: &str, column: &str) -> String {
    let schema = match Backend::of(db) {
        Backend::Mysql => "DATABASE()",
        _ => "current_schema()",
    };
    texts(
        db,
        &format!(
            "SELECT {expression} FROM information_schema.columns WHERE table_schema = {schema} \
             AND table_name = '{table}' AND column_name = '{column}'"
        ),
    )
    .await
    .into_iter()
    .flatten()
    .next()
    .unwrap_or_else(|| panic!("{table}.{column} missing"))
}

scenario!(matches_the_entities on sqlite, postgres, mysql);
/// The migrated schema is the entities' (no drift), with each backend's own column
/// types, the `project_id` default, and generated uuids.
async fn matches_the_entities(backend: Backend) {
    let t = TestDb::new(backend, "schema_matches").await;
    let db = t.migrated().await;
    assert_no_drift(&db, &format!("{backend:?}")).await;

    match backend {
        Backend::Postgres => {
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
                assert_eq!(
                    column_fact(&db, "udt_name::text", table, column).await,
                    expected,
                    "{table}.{column}"
                );
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
            const COLUMN_TYPE: &str = "CAST(CONCAT(column_type, '|', is_nullable, '|', \
                                       COALESCE(column_default, '<none>')) AS CHAR)";
            for (table, column, expected) in [
                ("nodes", "id", "binary(16)|NO|"),
                ("edges", "source_id", "binary(16)|NO|"),
                ("l2_insights", "embedding", "longtext|NO|"),
                ("tests", "id", "bigint(20)|NO|"),
                ("bugs", "known", "tinyint(1)|NO|"),
                ("tests", "start_at", "timestamp|YES|"),
            ] {
                let found = column_fact(&db, COLUMN_TYPE, table, column).await;
                assert!(found.starts_with(expected), "{table}.{column}: {found}");
            }
            for table in MEMORY_TABLES {
                assert_eq!(
                    column_fact(&db, COLUMN_TYPE, table, "project_id").await,
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

scenario!(project_id_check_rejects_null on sqlite, postgres, mysql);
/// In every memory table an omitted project_id is `io`, and a NULL one is refused on
/// insert and on update, naming the check.
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
