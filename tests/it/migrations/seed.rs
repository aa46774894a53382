//! `seed`: a deterministic, imperfect dataset, and what it writes in each backend's
//! own types.

use std::collections::BTreeSet;

use crate::support::Db;
use migration::{
    MEMORY_TABLES, project_id_check_name, project_id_insert_trigger_name,
    project_id_update_trigger_name,
};

use super::catalog::*;
use crate::support::*;

// 5. seed
// ---------------------------------------------------------------------------------

const SEED_TESTS: u64 = 5_000;
const SEED_MEMORY_ROWS: u64 = 1_000;

/// A migrated database seeded in-process from `seed`.
async fn seeded(backend: Backend, seed: u64) -> (TestDb, Db) {
    let t = TestDb::new(backend, &format!("seed_{seed}")).await;
    let db = t.migrated().await;
    seed_in_process(&db, &seed_settings(seed, SEED_TESTS, SEED_MEMORY_ROWS)).await;
    (t, db)
}

/// Ordered dumps of the seeded tables, one text line a row.
async fn seed_dump(db: &Db) -> Vec<Vec<Option<String>>> {
    let queries: &[&str] = match Backend::of(db) {
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

scenario!(is_deterministic_and_imperfect on sqlite, postgres, mysql);
/// The same seed writes the same rows, another seed others; each imperfection comes in
/// its fraction; the checks are back and the schema is the entities'; and a database
/// with rows is not seeded again.
async fn is_deterministic_and_imperfect(backend: Backend) {
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
    let args = seed_settings(7, SEED_TESTS, SEED_MEMORY_ROWS);
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
        let list = features_listed(payload).expect("a features list");
        assert_eq!(list.len(), args.features_per_test as usize);
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
            Some(id) if (id - 1) / args.features_per_test as i64 + 1 != test_id => foreign += 1,
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
    assert_no_drift(&db_a, "the seeded schema").await;

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

scenario!(l0_raw_holds_labels_and_text_arrays on sqlite, postgres, mysql);
/// `l0_raw.energy` is a `VARCHAR(20)` label and `l0_raw.intentions` a text array
/// (SPEC §4.2): the migration creates them so, the entity reads them so, and `seed`
/// writes them so (a real `text[]` on PostgreSQL, a JSON array on SQLite).
async fn l0_raw_holds_labels_and_text_arrays(backend: Backend) {
    let t = TestDb::new(backend, "l0_raw_types").await;
    let db = t.migrated().await;
    seed_in_process(&db, &seed_settings(3, 10, 10)).await;
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
