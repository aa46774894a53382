//! Many workers on one run (SPEC §5.9): workers in one process and in others joined
//! with `work --run ID`, one of them killed, one stopped past its lease and woken,
//! a process joining late, more workers than rows. Each run must end exactly where an
//! uninterrupted run of one worker ends on an identical copy of the data, with every
//! row journaled once and no anomaly logged twice (reading the outcome asserts both).

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::Db;

use crate::support::*;

/// A lease short enough for a test to outlast.
const LEASE: &str = "2s";

/// `job`'s slow run, slower still between batches: long enough that processes joining
/// after its first batches find work.
fn slower(job: Job) -> Vec<&'static str> {
    let mut args = job.slow_args();
    let at = args.len() - 1;
    args[at] = "0.03";
    args
}

/// The id of the run `job` started, once it is recorded.
pub async fn started_run(db: &Db, child: &mut Child) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ids = ints(db, "SELECT id FROM backfill_runs ORDER BY id").await;
        if let Some(id) = ids.first() {
            return *id;
        }
        assert!(
            child.try_wait().expect("poll the run").is_none(),
            "the run ended before it was recorded"
        );
        assert!(Instant::now() < deadline, "no run was recorded");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A process of `args` whose stderr is read as it comes: each line is kept, and the
/// lines saying a batch committed are signalled on the returned channel.
struct Watched {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    committed: mpsc::Receiver<()>,
    reader: std::thread::JoinHandle<()>,
}

impl Watched {
    fn start(tdb: &TestDb, args: &[&str]) -> Self {
        let mut child = tdb.spawn_json(args);
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, committed) = mpsc::channel();
        let kept = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("committed") {
                    let _ = tx.send(());
                }
                kept.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            lines,
            committed,
            reader,
        }
    }

    /// Waits for its next committed batch (it sleeps between batches then).
    fn wait_for_a_commit(&self) {
        self.committed
            .recv_timeout(Duration::from_secs(60))
            .expect("a batch committed");
    }

    fn signal(&self, signal: &str) {
        send_signal(&self.child, signal);
    }

    fn wait(self) -> (i32, String) {
        let Self {
            mut child,
            reader,
            lines,
            ..
        } = self;
        let status = child.wait().expect("wait for the process");
        // The reader ends with the pipe, having kept every line.
        reader.join().expect("the stderr reader");
        let lines = lines.lock().unwrap().join("\n");
        (status.code().unwrap_or(-1), lines)
    }
}

/// `work --run ID` with `extra` flags, its stderr watched (`-vv`: every commit).
fn join(tdb: &TestDb, run: i64, extra: &[&str]) -> Watched {
    let run = run.to_string();
    let args = [&["-vv", "work", "--run", run.as_str()][..], extra].concat();
    Watched::start(tdb, &args)
}

/// `runs set RUN sleep=…`: every process of the run takes it before its next batch.
fn set_sleep(tdb: &TestDb, run: i64, sleep: &str) {
    let output = tdb.cli(&["runs", "set", &run.to_string(), &format!("sleep={sleep}")]);
    assert_exit(&output, 0, "runs set sleep");
}

/// The run's ranges claimed more than once: taken over from a worker that lost them.
async fn taken_over(db: &Db) -> i64 {
    int(db, "SELECT COUNT(*) FROM backfill_ranges WHERE epoch > 1").await
}

/// Ranges finished by the process `pid`.
async fn done_by(db: &Db, pid: u32) -> i64 {
    int(
        db,
        &format!(
            "SELECT COUNT(*) FROM backfill_ranges WHERE done = true AND owner LIKE '%:{pid}/%'"
        ),
    )
    .await
}

scenario!(processes_together_end_as_one on postgres, mysql);
/// Two workers in the starting process, two joining after its first batches and one
/// more late: the same rows as one worker alone (on the server backends: SQLite takes
/// one writer at a time).
async fn processes_together_end_as_one(backend: Backend) {
    for job in [Job::Features, Job::ProjectId] {
        let context = format!("{job:?} on {backend:?} in three processes");
        let want = baseline(backend, job).await;
        let (tdb, db) = seeded(backend, "together").await;
        let mut starter = Watched::start(
            &tdb,
            &[&["-vv"][..], &slower(job), &["--workers", "2"]].concat(),
        );
        let run = started_run(&db, &mut starter.child).await;
        starter.wait_for_a_commit();
        // The run crawls until the early joiner has committed, so that it finds work
        // however long a loaded machine takes to start it.
        set_sleep(&tdb, run, "1s");
        let early = join(&tdb, run, &["--workers", "2"]);
        early.wait_for_a_commit();
        set_sleep(&tdb, run, "0.03");
        wait_for_batches(&db, &mut starter.child, 30).await;
        let late = join(&tdb, run, &[]);
        let early_pid = early.child.id();
        let (code, err) = starter.wait();
        assert_eq!(code, want.code, "{context}: the starter: {err}");
        for joined in [early, late] {
            let (code, err) = joined.wait();
            assert_eq!(code, 0, "{context}: a joined process: {err}");
        }
        let got = outcome(&db, code).await;
        assert_outcome(&got, &want, &context);
        assert!(
            done_by(&db, early_pid).await > 0,
            "{context}: the early joiner finished ranges"
        );
        let statuses = runs_of(&db, job).await;
        assert_eq!(statuses.len(), 1, "{context}: one run");
        assert_eq!(statuses[0].0, "done", "{context}");
    }
}

scenario!(a_killed_worker_is_taken_over on postgres, mysql);
/// A worker killed (-9) mid-run: its range is taken over once its lease runs out, and
/// the run ends as one uninterrupted run does.
async fn a_killed_worker_is_taken_over(backend: Backend) {
    let want = baseline(backend, Job::ProjectId).await;
    let (tdb, db) = seeded(backend, "killed_worker").await;
    let context = format!("{backend:?}, a worker killed");
    assert_a_killed_worker_is_taken_over(&tdb, &db, &want, &context).await;
}

/// Project-id on `tdb` (seeded), a joined worker killed (-9) after its first commit:
/// the run must end as `want`, the killed worker's range taken over.
pub async fn assert_a_killed_worker_is_taken_over(
    tdb: &TestDb,
    db: &Db,
    want: &Outcome,
    context: &str,
) {
    let job = Job::ProjectId;
    let mut starter = tdb.spawn_json(&[&job.slow_args()[..], &["--lease", LEASE]].concat());
    let run = started_run(db, &mut starter).await;
    let joiner = join(tdb, run, &["--lease", LEASE]);
    joiner.wait_for_a_commit();
    joiner.signal("-KILL");
    let (_, err) = joiner.wait();
    let out = starter.wait_with_output().expect("wait for the starter");
    assert_eq!(
        code(&out),
        want.code,
        "{context}: {}\n{err}",
        describe(&out)
    );
    let got = outcome(db, code(&out)).await;
    assert_outcome(&got, want, context);
    assert!(
        taken_over(db).await > 0,
        "{context}: the killed worker's range was taken over"
    );
}

scenario!(a_worker_stopped_past_its_lease_commits_nothing_more on postgres, mysql);
/// A worker stopped (SIGSTOP) past its lease, its range taken over and finished, then
/// woken (SIGCONT): its late batch is refused, and it exits 0 with nothing done twice.
async fn a_worker_stopped_past_its_lease_commits_nothing_more(backend: Backend) {
    let job = Job::ProjectId;
    let context = format!("{job:?} on {backend:?}, a worker stopped past its lease");
    let want = baseline(backend, job).await;
    let (tdb, db) = seeded(backend, "stopped_worker").await;
    let mut starter = tdb.spawn_json(&[&job.slow_args()[..], &["--lease", LEASE]].concat());
    let run = started_run(&db, &mut starter).await;
    let joiner = join(&tdb, run, &["--lease", LEASE, "--sleep", "0.3"]);
    // Stopped in the pause after a commit: it holds its range, and no transaction.
    joiner.wait_for_a_commit();
    joiner.signal("-STOP");
    let out = starter.wait_with_output().expect("wait for the starter");
    assert_eq!(code(&out), want.code, "{context}: {}", describe(&out));
    joiner.signal("-CONT");
    let (code_after, err) = joiner.wait();
    assert_eq!(code_after, 0, "{context}: the woken worker: {err}");
    assert!(
        err.contains("another worker took it over"),
        "{context}: the late batch was refused: {err}"
    );
    let got = outcome(&db, code(&out)).await;
    assert_outcome(&got, &want, &context);
    assert!(taken_over(&db).await > 0, "{context}: taken over");
}

scenario!(four_workers_on_three_rows on sqlite, postgres, mysql);
/// More workers than rows: four workers on tables of three rows finish, each row
/// written once.
async fn four_workers_on_three_rows(backend: Backend) {
    let tdb = TestDb::new(backend, "four_on_three").await;
    tdb.migrated().await;
    tdb.seed("--tests 3 --bugs-per-test 1 --memory-rows 3 --null-project-id 1");
    let db = tdb.connect().await;
    for command in ["backfill-features", "backfill-project-id"] {
        let out = tdb.cli_json(&[command, "--workers", "4", "--sleep", "0"]);
        assert_eq!(code(&out), 0, "{command}: {}", describe(&out));
    }
    assert_eq!(int(&db, "SELECT COUNT(*) FROM test_features").await, 9);
    assert_eq!(
        int(
            &db,
            "SELECT COUNT(*) FROM bugs WHERE test_feature_id IS NULL"
        )
        .await,
        0
    );
    for table in migration::MEMORY_TABLES {
        let io = int(
            &db,
            &format!("SELECT COUNT(*) FROM \"{table}\" WHERE project_id = 'io'"),
        )
        .await;
        assert_eq!(io, 3, "{table}");
    }
    // Reading the journal asserts each row is in it once: 33 memory rows, 9 features
    // inserted and 3 bugs attributed.
    assert_eq!(journal(&db).await.len(), 33 + 9 + 3);
}

scenario!(a_killed_run_of_many_workers_resumes on postgres, mysql);
/// The starting process killed mid-run with two workers: `--resume` with two workers
/// ends where one uninterrupted run ends.
async fn a_killed_run_of_many_workers_resumes(backend: Backend) {
    let job = Job::Features;
    let context = format!("{job:?} on {backend:?}, killed with two workers, resumed");
    let want = baseline(backend, job).await;
    let (tdb, db) = seeded(backend, "resume_many").await;
    let mut child = tdb.spawn_json(&[&job.slow_args()[..], &["--workers", "2"]].concat());
    wait_for_batches(&db, &mut child, 20).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let out = tdb.cli_json(&[&job.fast_args(true)[..], &["--workers", "2"]].concat());
    assert_eq!(code(&out), want.code, "{context}: {}", describe(&out));
    let got = outcome(&db, code(&out)).await;
    assert_outcome(&got, &want, &context);
    assert_eq!(runs_of(&db, job).await.len(), 1, "{context}: one run");
}

scenario!(a_run_of_many_workers_rolls_back on sqlite, postgres, mysql);
/// A run of many workers rolls back to the data it started from.
async fn a_run_of_many_workers_rolls_back(backend: Backend) {
    let (tdb, db) = seeded(backend, "rollback_many").await;
    let before = snapshot(&db).await;
    let out = tdb.cli_json(&[
        "backfill-project-id",
        "--workers",
        "3",
        "--batch-size",
        "20",
        "--sleep",
        "0",
        "--no-validate",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_ne!(snapshot(&db).await.memory, before.memory);
    // NULLs come back only without the NOT NULL guards.
    for table in migration::MEMORY_TABLES {
        lift_project_id_guard(&db, table).await;
    }
    let out = tdb.cli_json(&["backfill-project-id", "--rollback"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(snapshot(&db).await.memory, before.memory);
}
