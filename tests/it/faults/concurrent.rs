//! Two processes at once on one database: two runs, two resumes of one run.

use crate::support::*;

scenario!(two_processes_at_once on sqlite, postgres, mysql);
/// Two runs started at once: both finish, or one is refused naming the other; the data
/// ends as one run leaves it.
async fn two_processes_at_once(backend: Backend) {
    let want = baseline(backend, Job::ProjectId).await;
    let (tdb, db) = seeded(backend, "two_at_once").await;
    let args = Job::ProjectId.fast_args(false);
    let a = tdb.spawn_json(&args);
    let b = tdb.spawn_json(&args);
    let outs = [
        a.wait_with_output().expect("first"),
        b.wait_with_output().expect("second"),
    ];
    let mut codes: Vec<i32> = outs.iter().map(code).collect();
    codes.sort();
    match codes[..] {
        [0, 0] => {}
        // Busy, not wrong: the same command may be run again later (exit 75).
        [0, 75] => {
            let refused = outs.iter().find(|o| code(o) == 75).unwrap();
            let sentence = one_sentence(refused);
            assert!(
                sentence.contains("in progress") || sentence.contains("same moment"),
                "names the other run: {sentence}"
            );
        }
        _ => panic!("{codes:?}:\n{}\n{}", describe(&outs[0]), describe(&outs[1])),
    }
    let got = outcome(&db, 0).await;
    assert_outcome(&got, &want, &format!("two runs at once on {backend:?}"));
    let statuses: Vec<String> = runs_of(&db, Job::ProjectId)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert!(statuses.iter().all(|s| s == "done"), "{statuses:?}");
}

scenario!(two_resumes_at_once on sqlite, postgres, mysql);
/// Two `--resume` of the same interrupted run at once: exactly one continues it, the
/// other is refused as busy (exit 75: the run is in progress).
async fn two_resumes_at_once(backend: Backend) {
    let want = baseline(backend, Job::ProjectId).await;
    let (tdb, db) = seeded(backend, "two_resumes").await;
    let mut child = tdb.spawn_json(&Job::ProjectId.slow_args());
    wait_for_batches(&db, &mut child, 5).await;
    send_signal(&child, "-INT");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 130, "{}", describe(&out));

    // The resumed run pauses 100 ms after each of its 80-odd batches left, so the
    // second process starts while the first still works it, even on a loaded machine
    // (had the first finished, "no stopped run to resume" would be the right answer).
    let args = [
        Job::ProjectId.command(),
        "--batch-size",
        "25",
        "--sleep",
        "0.1",
        "--resume",
    ];
    let a = tdb.spawn_json(&args);
    let b = tdb.spawn_json(&args);
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut codes: Vec<i32> = outs.iter().map(code).collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![0, 75],
        "one resumes, one is refused:\n{}\n{}",
        describe(&outs[0]),
        describe(&outs[1])
    );
    one_sentence(outs.iter().find(|o| code(o) == 75).unwrap());
    let got = outcome(&db, 0).await;
    assert_outcome(&got, &want, &format!("two resumes on {backend:?}"));
    assert_eq!(runs_of(&db, Job::ProjectId).await.len(), 1);
}
