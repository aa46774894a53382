//! A run's life as an operator meets it (SPEC §5.11): a stopped run resumed or
//! abandoned, never silently left behind; the exact undo of every kind of run, rows and
//! checks; progress lines where stderr is no terminal; a reader that closes stdout, a
//! closed stderr; commands that only read and never create a file; flags refused in
//! one sentence.

use std::process::{Command, Stdio};

use crate::support::*;

scenario!(a_stopped_run_is_resumed_or_abandoned on sqlite, postgres, mysql);
/// SIGTERM mid-run, then the same command again: refused, naming the run and both ways
/// on; `runs cancel` of it says the same. `runs abandon` ends it, it is never resumed,
/// a new run starts, and the abandoned run can still be rolled back.
async fn a_stopped_run_is_resumed_or_abandoned(backend: Backend) {
    let (tdb, db) = seeded(backend, "orphan").await;
    let mut child = tdb.spawn_json(&Job::ProjectId.slow_args());
    wait_for_batches(&db, &mut child, 5).await;
    send_signal(&child, "-TERM");
    let out = child.wait_with_output().expect("wait for the run");
    assert_exit(&out, 130, "SIGTERM");
    assert_eq!(runs_of(&db, Job::ProjectId).await[0].0, "interrupted");

    let refused = tdb.cli(&Job::ProjectId.fast_args(false));
    assert_exit(&refused, 2, "the same command again");
    let sentence = one_sentence(&refused);
    for way in [
        "run 1",
        "backfill backfill-project-id --resume --run 1",
        "backfill runs abandon 1",
        "--rollback --run 1",
    ] {
        assert!(sentence.contains(way), "names `{way}`: {sentence}");
    }
    assert_eq!(
        int(&db, "SELECT COUNT(*) FROM backfill_runs").await,
        1,
        "no new run"
    );
    let cancel = tdb.cli(&["runs", "cancel", "1"]);
    assert_exit(&cancel, 2, "cancel of a stopped run");
    assert!(one_sentence(&cancel).contains("runs abandon 1"));

    let (code, abandoned) = tdb.run_json(&["runs", "abandon", "1"]);
    assert_eq!(code, 0, "{abandoned}");
    assert_eq!(abandoned["status"], "abandoned");
    let resumed = tdb.cli(
        &[
            &Job::ProjectId.fast_args(false)[..],
            &["--resume", "--run", "1"],
        ]
        .concat(),
    );
    assert_exit(&resumed, 2, "resuming an abandoned run");
    assert!(one_sentence(&resumed).contains("abandoned"));
    let (code, listed) = tdb.run_json(&["runs"]);
    assert_eq!(code, 0, "{listed}");
    assert_eq!(
        listed["runs"],
        serde_json::json!([]),
        "nothing unfinished is left"
    );

    let (code, second) = tdb.run_json(&Job::ProjectId.fast_args(false));
    assert_eq!(code, 0, "{second}");
    assert_eq!(second["run_id"], 2, "{second}");
    let (code, undone) = tdb.run_json(&["backfill-project-id", "--rollback", "--run", "1"]);
    assert_eq!(
        code, 0,
        "the abandoned run's journal still undoes it: {undone}"
    );
    assert!(num(&undone, "restored") > 0, "{undone}");
}

scenario!(a_resumed_run_counts_its_own_rows on sqlite, postgres, mysql);
/// `--resume --run ID` continues the run it names, and its summary's rate counts only
/// the rows this process walked.
async fn a_resumed_run_counts_its_own_rows(backend: Backend) {
    let (tdb, db) = seeded(backend, "resumed_rate").await;
    let mut child = tdb.spawn_json(&Job::ProjectId.slow_args());
    wait_for_batches(&db, &mut child, 20).await;
    send_signal(&child, "-INT");
    assert_exit(&child.wait_with_output().unwrap(), 130, "Ctrl-C");
    let (code, resumed) = tdb.run_json(
        &[
            &Job::ProjectId.fast_args(false)[..],
            &["--resume", "--run", "1"],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{resumed}");
    assert_eq!(resumed["run_id"], 1);
    let tables = resumed["tables"].as_array().unwrap();
    let all: i64 = tables.iter().map(|t| num(t, "processed")).sum();
    let here: i64 = tables.iter().map(|t| num(t, "processed_here")).sum();
    assert!(
        here < all,
        "the rows before the stop are not this process's: {resumed}"
    );
    let seconds = resumed["elapsed_seconds"].as_f64().unwrap();
    let rate = num(&resumed, "rows_per_second");
    assert!(
        (rate as f64 - here as f64 / seconds).abs() <= 1.0 + 0.01 * rate as f64,
        "the rate counts this process's rows: {resumed}"
    );
}

scenario!(undo_is_exact_after_every_kind_of_run on sqlite, postgres, mysql);
/// `--rollback --run ID` leaves the database exactly as before the run, rows and
/// checks (their validation, the triggers, the column's nullability): after a plain
/// run, after `--promote-not-null` (where the database can), after a run killed
/// half-way, and for `backfill-features`.
async fn undo_is_exact_after_every_kind_of_run(backend: Backend) {
    let mut kinds = vec![
        ("plain", Job::ProjectId.fast_args(false)),
        ("killed half-way", Vec::new()),
        ("features", Job::Features.fast_args(false)),
    ];
    if backend != Backend::Sqlite {
        let mut promote = Job::ProjectId.fast_args(false);
        promote.push("--promote-not-null");
        kinds.push(("promoted", promote));
    }
    for (kind, args) in kinds {
        let (tdb, db) = seeded(backend, "exact_undo").await;
        let before = snapshot(&db).await;
        let guards_before = guards(&db).await;
        let job = match kind {
            "features" => Job::Features,
            _ => Job::ProjectId,
        };
        if args.is_empty() {
            let mut child = tdb.spawn_json(&Job::ProjectId.slow_args());
            wait_for_batches(&db, &mut child, 10).await;
            send_signal(&child, "-KILL");
            child.wait().expect("the killed run");
        } else {
            let out = tdb.cli_json(&args);
            assert!(matches!(code(&out), 0 | 1), "{kind}: {}", describe(&out));
            let summary = json(&out);
            assert_eq!(
                summary["undo"],
                format!("backfill {} --rollback --run 1", job.command()),
                "{kind}: the summary names the undo: {summary}"
            );
        }
        assert!(
            snapshot(&db).await != before,
            "{kind}: the run changed something"
        );
        if kind == "promoted" {
            assert_ne!(guards(&db).await, guards_before, "promoted: NOT NULL now");
        }
        let (code, planned) =
            tdb.run_json(&[job.command(), "--rollback", "--run", "1", "--dry-run"]);
        assert_eq!(code, 0, "{kind}: {planned}");
        let (code, undone) = tdb.run_json(&[job.command(), "--rollback", "--run", "1"]);
        assert_eq!(code, 0, "{kind}: {undone}");
        assert_eq!(
            planned["restored"], undone["restored"],
            "{kind}: the dry run said it"
        );
        assert_eq!(planned["tables"], undone["tables"], "{kind}: per table");
        assert_same(
            &snapshot(&db).await,
            &before,
            &format!("{kind} on {backend:?}, undone"),
        );
        assert_eq!(
            guards(&db).await,
            guards_before,
            "{kind}: the checks as before"
        );
        assert_eq!(runs_of(&db, job).await[0].0, "rolled_back", "{kind}");
    }
}

scenario!(progress_lines_without_a_terminal on sqlite, postgres);
/// Where stderr is no terminal, a run logs a progress line per table every
/// `--progress-every`: rows of the estimate, rate, ETA, batch size. `-q` keeps them out.
async fn progress_lines_without_a_terminal(backend: Backend) {
    let (tdb, _db) = seeded(backend, "progress_lines").await;
    let mut args = Job::ProjectId.slow_args();
    args.extend(["--progress-every", "100ms"]);
    let out = tdb.cli(&args);
    assert_exit(&out, 0, "a slow run");
    let lines: Vec<String> = stderr(&out)
        .lines()
        .filter(|line| line.contains(" rows") && line.contains("batch 25"))
        .map(str::to_string)
        .collect();
    assert!(lines.len() >= 2, "progress lines: {}", describe(&out));
    assert!(
        lines.iter().any(|line| line.contains(" rows/s")),
        "the rate: {lines:#?}"
    );
    if backend == Backend::Sqlite {
        // Its estimate is the largest rowid; PostgreSQL's of a table never analyzed is
        // none.
        assert!(
            lines
                .iter()
                .any(|line| line.contains(" of ~200 rows") && line.contains(", ETA ")),
            "rows of the estimate and the ETA: {lines:#?}"
        );
    }
    let quiet = tdb.cli(&[&["-q"][..], &Job::ProjectId.fast_args(false)].concat());
    assert_exit(&quiet, 0, "a quiet run");
    assert!(stderr(&quiet).is_empty(), "{}", describe(&quiet));
}

scenario!(closed_streams_end_nothing on sqlite);
/// A reader that goes away (`| head`) ends the command quietly with its own exit code;
/// a closed stderr does not stop it either.
async fn closed_streams_end_nothing(backend: Backend) {
    let (tdb, _db) = seeded(backend, "closed_streams").await;
    let mut child = tdb
        .command(&["runs", "--all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start backfill");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_exit(&out, 0, "runs into a closed pipe");
    assert!(!stderr(&out).contains("Broken pipe"), "{}", describe(&out));

    let bin = env!("CARGO_BIN_EXE_backfill");
    let out = Command::new("sh")
        .args(["-c", &format!("exec '{bin}' validate 2>&-")])
        .env("DATABASE_URL", &tdb.url)
        .output()
        .expect("run with stderr closed");
    assert!(matches!(code(&out), 0 | 1), "{}", describe(&out));
    assert!(stdout(&out).contains("validation"), "{}", describe(&out));
}

/// The commands that only read never create a database file.
#[test]
fn commands_that_only_read_create_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nothing-here.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    for args in [
        &["validate"][..],
        &["anomalies"],
        &["runs"],
        &["migrate", "status"],
        &["migrate", "check"],
    ] {
        let out = backfill_at(&url, args).output().expect("run backfill");
        assert_exit(&out, 2, &format!("{args:?} on a missing file"));
        assert!(
            one_sentence(&out).contains("only reads"),
            "{}",
            describe(&out)
        );
        assert!(!file.exists(), "{args:?} created the file");
    }
}

scenario!(flags_are_refused_in_one_sentence on sqlite);
/// Values out of range (negative ones included), zero durations where zero makes no
/// sense, and `--promote-not-null` where the database cannot: one sentence, exit 2,
/// nothing written.
async fn flags_are_refused_in_one_sentence(backend: Backend) {
    let (tdb, db) = seeded(backend, "flags").await;
    for (args, says) in [
        (
            &["backfill-project-id", "--batch-size", "-5"][..],
            "-5 is not in 1..=100000",
        ),
        (
            &["backfill-features", "--workers", "0"],
            "0 is not in 1..=64",
        ),
        (
            &["backfill-project-id", "--lock-timeout", "0"],
            "must be more than zero",
        ),
        (
            &["backfill-features", "--batch-time", "0s"],
            "must be more than zero",
        ),
        (&["backfill-project-id", "--metrics-addr", ":no"], ":PORT"),
        (
            &["backfill-project-id", "--promote-not-null"],
            "cannot make a column NOT NULL",
        ),
        (&["--format", "junit", "runs"], "--format junit is for"),
    ] {
        let out = tdb.cli(args);
        assert_exit(&out, 2, &format!("{args:?}"));
        let sentence = one_sentence(&out);
        assert!(sentence.contains(says), "{args:?}: {sentence}");
    }
    assert_eq!(int(&db, "SELECT COUNT(*) FROM backfill_runs").await, 0);
    let help = tdb.cli(&["backfill-project-id", "--help"]);
    assert!(
        !stdout(&help).contains("PostgreSQL only"),
        "{}",
        stdout(&help)
    );
}
