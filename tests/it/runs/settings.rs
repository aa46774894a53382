//! Settings changed while a run works (`runs set`), from another process, and the
//! run's `--window`: every process of a run takes a change before its next batch, the
//! run keeps who changed what, when, from what to what, and outside its window a run
//! holds.

use std::time::Duration;

use chrono::{Local, Timelike};

use super::notify::{Receiver, events};
use super::*;

/// Ranges finished by process `pid` whose last batches had `size` rows.
async fn ranges_done_at_size(db: &Db, pid: u32, size: u64) -> usize {
    rows(
        db,
        &format!(
            "SELECT CAST(checkpoint AS TEXT) FROM backfill_ranges \
             WHERE done = true AND owner LIKE '%:{pid}/%'"
        ),
    )
    .await
    .iter()
    .filter(|row| {
        let checkpoint: Value =
            serde_json::from_str(row[0].as_deref().expect("checkpoint")).expect("JSON");
        checkpoint["progress"]["batch_size"] == size
    })
    .count()
}

scenario!(a_change_reaches_every_process_of_the_run on sqlite, postgres, mysql);
/// `runs set` on a run worked by two processes: both take the new batch size before
/// their next batch, and `runs --run ID` shows the change, its old value and its author.
async fn a_change_reaches_every_process_of_the_run(backend: Backend) {
    let (tdb, db) = seeded(backend, "set").await;
    let mut args = vec!["-v"];
    args.extend_from_slice(PAUSABLE);
    let mut starter = tdb.spawn_json(&args);
    wait_for_batches(&db, &mut starter, 3).await;
    let id = unfinished_run(&tdb);
    let id_text = id.to_string();
    let mut joiner = tdb.spawn_json(&["-v", "work", "--run", &id_text, "--sleep", "0.05"]);
    wait_for_batches(&db, &mut joiner, 8).await;

    let (exit, changed) = tdb.run_json(&["runs", "set", &id_text, "batch-size=10", "max-lag=5s"]);
    assert_eq!(exit, 0, "runs set: {changed}");
    assert_eq!(changed["changes"][0]["setting"], "batch-size");
    assert_eq!(changed["changes"][0]["old_value"], "25");
    assert_eq!(changed["changes"][0]["new_value"], "10");
    assert_eq!(changed["changes"][1]["old_value"], "10s");

    let (starter, joiner) = (
        starter.wait_with_output().unwrap(),
        joiner.wait_with_output().unwrap(),
    );
    assert_eq!(code(&starter), 0, "{}", describe(&starter));
    assert_eq!(code(&joiner), 0, "{}", describe(&joiner));
    for (name, process) in [("the starter", &starter), ("the joiner", &joiner)] {
        assert!(
            stderr(process).contains("batch-size=10 from the next batch on"),
            "{name} took the change: {}",
            describe(process)
        );
    }
    let shown = shown_run(&tdb, id);
    let changes = shown["changes"].as_array().expect("the history");
    assert_eq!(changes.len(), 2, "{shown}");
    assert!(
        changes[0]["changed_by"].as_str().unwrap().contains('@'),
        "{shown}"
    );
    // The ranges the starter finished after the change were walked at the new size.
    assert!(
        ranges_done_at_size(&db, starter_pid(&shown), 10).await > 0,
        "{shown}"
    );
    let nulls = int(
        &db,
        "SELECT count(*) FROM working_memory WHERE project_id IS NULL",
    )
    .await;
    assert_eq!(nulls, 0);

    // A wrong setting, or a finished run, changes nothing and says why in one sentence.
    for (args, says) in [
        (
            vec!["runs", "set", &id_text, "batch-size=0"],
            "batch-size=0",
        ),
        (vec!["runs", "set", &id_text, "sleep=1s"], "is done"),
        (
            vec!["runs", "set", "999999", "sleep=1s"],
            "there is no run 999999",
        ),
    ] {
        let refused = tdb.cli_json(&args);
        assert_eq!(code(&refused), 2, "{}", describe(&refused));
        assert!(
            one_sentence(&refused).contains(says),
            "{}",
            describe(&refused)
        );
    }
    assert_eq!(shown_run(&tdb, id)["changes"].as_array().unwrap().len(), 2);
}

/// The pid of the process that started run `shown` (`pid@host`).
fn starter_pid(shown: &Value) -> u32 {
    let worker = shown["worker"].as_str().expect("the run's worker");
    worker.split('@').next().unwrap().parse().expect("a pid")
}

/// A window of the day that begins two hours from now and lasts an hour.
fn window_not_now() -> String {
    let now = Local::now();
    let hour = |ahead: u32| (now.hour() + ahead) % 24;
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        hour(2),
        now.minute(),
        hour(3),
        now.minute()
    )
}

scenario!(outside_its_window_a_run_holds on sqlite, postgres, mysql);
/// A run started outside its `--window` holds with reason `window` and commits
/// nothing; `runs set ID window=off` lets it go on and finish. Its `--notify` receiver
/// hears it held, and why, and going on.
async fn outside_its_window_a_run_holds(backend: Backend) {
    let (tdb, db) = seeded(backend, "window").await;
    let window = window_not_now();
    let receiver = Receiver::start();
    let mut child = tdb.spawn_json(&[
        "backfill-project-id",
        "--window",
        &window,
        "--notify",
        &receiver.url,
    ]);
    wait_until_held(&tdb.url, "window", &mut child).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        batches_committed(&db).await,
        0,
        "a held run commits nothing"
    );
    let id = unfinished_run(&tdb);

    let (exit, changed) = tdb.run_json(&["runs", "set", &id.to_string(), "window=off"]);
    assert_eq!(exit, 0, "runs set: {changed}");
    assert_eq!(changed["changes"][0]["old_value"], window.as_str());
    assert_goes_on_and_fills(child, &db, "its window is off").await;
    let notices = receiver.notices_until("done").await;
    assert_eq!(
        events(&notices),
        ["started", "held", "resumed", "done"],
        "{notices:?}"
    );
    let reason = notices[1]["reason"].as_str().unwrap();
    assert!(reason.starts_with("window: outside"), "{reason}");
}

#[test]
fn a_window_that_cannot_be_read_is_refused_before_anything_runs() {
    assert_flag_refused("--window", "22-06", "is not a window");
}
