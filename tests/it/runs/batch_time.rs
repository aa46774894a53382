//! `--batch-time`: batch sizes that grow on a fast table and shrink on a slow one.

use crate::support::*;

scenario!(grows_batches on sqlite, postgres, mysql);
/// A fast table: from `--batch-size 100` the batches grow, so 330,000 rows take far
/// fewer than the 3,300 batches of the fixed size.
async fn grows_batches(backend: Backend) {
    let tdb = TestDb::new(backend, "growth").await;
    let db = tdb.migrated().await;
    tdb.seed("--tests 10 --memory-rows 30000 --null-project-id 0.5");
    let (code, summary) = tdb.run_json(&[
        "backfill-project-id",
        "--batch-size",
        "100",
        "--batch-time",
        "500ms",
        "--sleep",
        "0",
    ]);
    assert_eq!(code, 0, "{summary}");
    let tables = summary["tables"].as_array().unwrap();
    let batches: u64 = tables.iter().map(|t| t["batches"].as_u64().unwrap()).sum();
    assert!(batches < 1000, "{batches} batches");
    for table in tables {
        let sizes = &table["batch_sizes"];
        assert_eq!(sizes[0], 100, "{table}");
        assert!(sizes[1].as_u64().unwrap() > 1000, "{table}");
    }
    assert_eq!(
        int(&db, "SELECT count(*) FROM nodes WHERE project_id IS NULL").await,
        0
    );
}

scenario!(shrinks_slow_batches on postgres);
/// A table where a trigger makes every written row slow: the batches shrink.
async fn shrinks_slow_batches(backend: Backend) {
    let (tdb, db) = seeded(backend, "shrink").await;
    exec(
        &db,
        "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$; \
         CREATE TRIGGER slow_row BEFORE UPDATE ON nodes FOR EACH ROW EXECUTE FUNCTION slow_row();",
    )
    .await;
    let (code, summary) = tdb.run_json(&[
        "backfill-project-id",
        "--table",
        "nodes",
        "--batch-size",
        "200",
        "--batch-time",
        "50ms",
        "--sleep",
        "0",
    ]);
    assert_eq!(code, 0, "{summary}");
    let sizes = &summary["tables"][0]["batch_sizes"];
    assert!(sizes[0].as_u64().unwrap() < 200, "{sizes}");
    assert_eq!(
        int(&db, "SELECT count(*) FROM nodes WHERE project_id IS NULL").await,
        0
    );
}
