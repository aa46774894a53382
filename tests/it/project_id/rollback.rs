//! `--rollback`: a run undone from its journal, and nothing more.

use super::*;

scenario!(restores_exactly_the_journal on sqlite, postgres, mysql);
/// Every row the run changed gets its old value back (NULLs included, past the checks
/// the run validated), except one changed since, rows written after the run are left
/// alone, and the checks are as the run found them (`NOT VALID` on PostgreSQL). A dry
/// run says the same and changes nothing. A run rolled back is not rolled back twice.
async fn restores_exactly_the_journal(backend: Backend) {
    let tdb = TestDb::new(backend, "pid_rollback").await;
    let db = tdb.migrated().await;
    let before = scattered_legacy(&db).await;
    let guards_before = guards(&db).await;

    let (code, summary) = backfill_project_id(&tdb, &["--sleep", "0", "--batch-size", "7"]);
    assert_eq!(code, 0, "{summary}");
    let run_id = summary["run_id"].as_i64().expect("run_id");
    let undo = format!("backfill backfill-project-id --rollback --run {run_id}");
    assert_eq!(
        summary["undo"],
        undo.as_str(),
        "the summary names the undo: {summary}"
    );
    if backend == Backend::Postgres {
        assert_ne!(
            guards(&db).await,
            guards_before,
            "the run validated the checks"
        );
    }

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
    let changed: usize = before
        .values()
        .map(|rows| nulls(rows) + aliases(rows))
        .sum();

    // A dry run counts, per table, what the rollback restores, and changes nothing.
    let snapshot = dump(&db).await;
    let guards_after_run = guards(&db).await;
    let run = run_id.to_string();
    let (code, planned) = backfill_project_id(&tdb, &["--rollback", "--run", &run, "--dry-run"]);
    assert_eq!(code, 0, "{planned}");
    assert_eq!(planned["dry_run"], true, "{planned}");
    assert_eq!(num(&planned, "restored"), changed as i64 - 1, "{planned}");
    assert_eq!(num(&planned, "left_alone"), 1, "{planned}");
    let working = table_of(&planned, "working_memory");
    assert_eq!(num(working, "left_alone"), 1, "{working}");
    assert_eq!(dump(&db).await, snapshot, "a dry run changes nothing");
    assert_eq!(guards(&db).await, guards_after_run, "nor the checks");

    let (code, summary) = backfill_project_id(&tdb, &["--rollback", "--run", &run]);
    assert_eq!(code, 0, "{summary}");
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
        guards(&db).await,
        guards_before,
        "the checks are as the run found them"
    );
    assert_eq!(
        texts(
            &db,
            &format!("SELECT status FROM backfill_runs WHERE id = {run_id}")
        )
        .await,
        vec![Some("rolled_back".to_string())]
    );

    // A second run fills the restored rows again. Rolling back the first run once more
    // would undo the second run's work: refused.
    let (code, summary) = backfill_project_id(&tdb, &["--sleep", "0", "--no-validate"]);
    assert_eq!(code, 0, "{summary}");
    let second = summary["run_id"].as_i64().expect("run_id");
    assert_ne!(second, run_id);
    let snapshot = dump(&db).await;
    let again = tdb.cli(&["backfill-project-id", "--rollback", "--run", &run]);
    assert_exit(&again, 2, "a second rollback of the first run");
    assert!(
        stderr(&again).contains("rolled back"),
        "says the run was already rolled back: {}",
        describe(&again)
    );
    assert_eq!(dump(&db).await, snapshot, "nothing changed");
    // The default is the latest run not yet rolled back: the second one.
    let (code, summary) = backfill_project_id(&tdb, &["--rollback"]);
    assert_eq!(code, 0, "{summary}");
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
    assert_eq!(guards(&db).await, guards_before, "and the checks again");
}
