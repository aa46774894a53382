//! `backfill-features --rollback` (SPEC §5.4): what the run wrote is undone exactly,
//! and a row someone changed after the run is left as they left it, and counted.

use super::*;

scenario!(undo_leaves_rows_changed_since on sqlite, postgres, mysql);
/// A run inserts features 10, 11 and 12, rewrites 20 and 21 (stored with stale
/// titles) and attributes a bug to 10. Then someone retitles 11 and 21. The rollback
/// gives the bug its old feature back, removes 10 and 12, gives 20 its old title back,
/// and leaves 11 and 21 as they were changed.
async fn undo_leaves_rows_changed_since(backend: Backend) {
    let tdb = TestDb::new(backend, "features_undo").await;
    let db = tdb.migrated().await;
    let three = json!({ "features": [feature(10, 1), feature(11, 2), feature(12, 3)] });
    add_test(&db, 1, 7, three).await;
    add_test(
        &db,
        2,
        7,
        json!({ "features": [feature(20, 4), feature(21, 5)] }),
    )
    .await;
    exec(
        &db,
        "INSERT INTO test_features (id, customer_id, test_id, feature_id, title, user_stories, enable_default, enable_content, enable_visual) \
         VALUES (20, 7, 2, 4, 'stale 20', '[]', false, false, false), (21, 7, 2, 5, 'stale 21', '[]', false, false, false)",
    )
    .await;
    add_bug(&db, 1, 7, 1, json!({ "test_feature": { "id": 10 } })).await;

    let (code, run) = backfill_features(&tdb, &[]);
    assert_eq!(code, 0, "{run}");
    assert_eq!(
        (
            run["features"]["inserted"].as_i64(),
            run["features"]["updated"].as_i64()
        ),
        (Some(3), Some(2)),
        "{run}"
    );
    exec(
        &db,
        "UPDATE test_features SET title = 'changed since' WHERE id IN (11, 21)",
    )
    .await;

    let (code, undone) = tdb.run_json(&["backfill-features", "--rollback", "--run", "1"]);
    assert_eq!(code, 0, "{undone}");
    let features = table_of(&undone, "test_features");
    assert_eq!(
        (num(features, "restored"), num(features, "left_alone")),
        (3, 2),
        "{undone}"
    );
    assert_eq!(num(table_of(&undone, "bugs"), "restored"), 1, "{undone}");
    let left: Vec<(i64, String)> = all_features(&db)
        .await
        .into_iter()
        .map(|row| (row.id, row.title))
        .collect();
    assert_eq!(
        left,
        [
            (11, "changed since".to_string()),
            (20, "stale 20".to_string()),
            (21, "changed since".to_string()),
        ],
        "inserted rows removed, a rewritten one restored, changed ones left alone"
    );
    assert_eq!(
        ints(&db, "SELECT COUNT(test_feature_id) FROM bugs").await,
        [0],
        "the bug points at nothing again"
    );
}
