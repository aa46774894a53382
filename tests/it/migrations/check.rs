//! `migrate check`, the CI gate on the schema: drift against the entities, pending
//! migrations, and pgvector's `vector` taken for the arrays it stands for.

use migration::{Migrator, MigratorTrait};

use super::catalog::*;
use super::external_schema::PG_EXTERNAL_DDL;
use super::*;
use crate::support::*;

// 6. migrate check
// ---------------------------------------------------------------------------------

scenario!(catches_drift on sqlite, postgres, mysql);
/// Pending migrations, a dropped column and a changed type each fail the check, which
/// only reads the given database (its up and down run on a scratch one).
async fn catches_drift(backend: Backend) {
    let t = TestDb::new(backend, "migrate_check").await;

    // Before migrating: pending migrations are a failure, not a crash.
    let db = t.connect().await;
    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 1, "migrate check on an unmigrated database");
    assert_printed(&out, "pending");

    Migrator::up(db.connection(), None).await.unwrap();
    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 0, "migrate check on a clean database");
    assert_printed(&out, "migrate check passed");
    assert_not_printed(&out, "DRIFT");
    for step in ["scratch database: up: ok", "scratch database: down: ok"] {
        assert_printed(&out, step);
    }
    // Only read: the given database is unchanged.
    assert_eq!(applied_migrations(&db).await, MIGRATIONS);

    let (code, json) = t.run_json(&["migrate", "check"]);
    assert_eq!(code, 0, "migrate check --format json: {json}");
    assert_eq!(json["passed"], serde_json::Value::Bool(true), "{json}");

    exec(&db, "ALTER TABLE bugs DROP COLUMN severity").await;
    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 1, "migrate check after dropping bugs.severity");
    assert_printed(&out, "bugs.severity");
    assert_printed(&out, "migrate check FAILED");

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
    assert_printed(&out, named);
    assert_printed(&out, "bugs.severity");
    db.close().await.ok();
}

scenario!(fails_on_pending_migrations on sqlite, postgres, mysql);
/// A pending migration fails the gate, naming it, and the migrations that are
/// applied are still checked for drift.
async fn fails_on_pending_migrations(backend: Backend) {
    let t = TestDb::new(backend, "check_pending").await;
    let out = t.cli(&["migrate", "up", "-n", "3"]);
    assert_exit(&out, 0, "migrate up -n 3");
    let db = t.connect().await;
    exec(&db, "ALTER TABLE bugs DROP COLUMN severity").await;

    let out = t.cli(&["migrate", "check"]);
    assert_exit(&out, 1, "migrate check with a pending migration");
    assert_printed(&out, &format!("pending  {}", MIGRATIONS[3]));
    assert_printed(&out, "bugs.severity");
    assert_printed(&out, "migrate check FAILED");
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

scenario!(pgvector_embeddings_are_compatible on postgres);
/// A database whose `embedding` columns are pgvector's `vector` passes `migrate check`,
/// `seed` writes its embeddings in that type, and a real drift still fails the check.
async fn pgvector_embeddings_are_compatible(backend: Backend) {
    let t = TestDb::new(backend, "pgvector").await;
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
    assert_not_printed(&out, "DRIFT");

    seed_in_process(&db, &seed_settings(5, 10, 10)).await;
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
    assert_printed(&out, "l2_insights.io_category");
    assert_printed(&out, "l0_raw.content` is vector");
    assert_not_printed(&out, ".embedding");
    db.close().await.ok();
}
