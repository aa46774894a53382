//! Every sentence an operator meets when a command refuses or stops, as one snapshot:
//! flags out of range, a refusal where the database cannot, a destructive command
//! without `--yes`, a stopped run and the ways on from it, an error in JSON, a file
//! that is no database, a server that does not answer. A change to any of them shows
//! up in review as a change to `snapshots/it__messages__*.snap`.

use std::fmt::Write as _;
use std::process::Output;

use crate::support::*;

/// The transcript of the commands a test ran: each command line, its exit code, what
/// it said on stderr (its `backfill:` sentence, or clap's whole message) and, in JSON,
/// its stdout (and a success's); with the test's own paths replaced by `<db>` and `<file>`.
struct Transcript {
    text: String,
    redactions: Vec<(String, &'static str)>,
}

impl Transcript {
    fn new(redactions: Vec<(String, &'static str)>) -> Self {
        Self {
            text: String::new(),
            redactions,
        }
    }

    fn record(&mut self, command_line: &str, output: &Output) {
        assert_no_panic(output);
        let err = stderr(output);
        let said: Vec<&str> = if err.starts_with("error:") {
            err.lines().collect()
        } else {
            err.lines().filter(|l| l.starts_with("backfill:")).collect()
        };
        let mut entry = format!("$ {command_line}\nexit {}\n", code(output));
        for line in said {
            let _ = writeln!(entry, "{line}");
        }
        if command_line.contains("--format json") || code(output) == 0 {
            let _ = writeln!(entry, "stdout: {}", stdout(output).trim_end());
        }
        for (from, to) in &self.redactions {
            entry = entry.replace(from.as_str(), to);
        }
        let _ = writeln!(self.text, "{entry}");
    }
}

/// `args` as typed after a shell prompt.
fn command_line(args: &[&str]) -> String {
    format!("backfill {}", args.join(" "))
}

scenario!(what_an_operator_is_told on sqlite);
/// One SQLite database through the refusals and stops of a run's life, in order.
async fn what_an_operator_is_told(backend: Backend) {
    let (tdb, db) = seeded(backend, "messages").await;
    let db_path = tdb.path.clone().expect("a SQLite file");
    let scratch = tempfile::tempdir().expect("temporary directory");
    let not_a_database = scratch.path().join("notes.txt");
    std::fs::write(&not_a_database, "these are notes, not a database\n").unwrap();
    let mut transcript = Transcript::new(vec![
        (not_a_database.display().to_string(), "<file>"),
        (db_path.display().to_string(), "<db>"),
    ]);
    let mut said = |args: &[&str]| {
        let output = tdb.cli(args);
        transcript.record(&command_line(args), &output);
    };

    for refused in [
        &["backfill-features", "--batch-size", "-5"][..],
        &["backfill-project-id", "--batch-time", "0"],
        &["backfill-project-id", "--lock-timeout", "0"],
        &["backfill-project-id", "--metrics-addr", "nowhere"],
        &["backfill-project-id", "--promote-not-null"],
        &[
            "--format",
            "json",
            "backfill-project-id",
            "--promote-not-null",
        ],
        &["--format", "junit", "seed"],
        &["validate", "--threshold", "2"],
        &["migrate", "fresh"],
        &["migrate", "up", "--distribute"],
    ] {
        said(refused);
    }

    let mut stopped = tdb.command(&Job::ProjectId.slow_args());
    let mut child = stopped
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start backfill");
    wait_for_batches(&db, &mut child, 5).await;
    send_signal(&child, "-TERM");
    let output = child.wait_with_output().expect("wait for the run");
    transcript.record(&command_line(&Job::ProjectId.slow_args()), &output);
    let mut said = |args: &[&str]| {
        let output = tdb.cli(args);
        transcript.record(&command_line(args), &output);
    };
    said(&Job::ProjectId.fast_args(false));
    said(&["runs", "cancel", "1"]);
    said(&["runs", "abandon", "1"]);
    said(&["runs", "abandon", "1"]);
    said(
        &[
            &Job::ProjectId.fast_args(false)[..],
            &["--resume", "--run", "1"],
        ]
        .concat(),
    );

    let file_url = format!("sqlite://{}", not_a_database.display());
    let closed_port = "postgres://root@127.0.0.1:1/nowhere";
    for (url, args) in [
        (file_url.as_str(), &["validate"][..]),
        (closed_port, &["validate"]),
        (closed_port, &["--format", "json", "validate"]),
    ] {
        let output = backfill_at(url, args).output().expect("run backfill");
        let shown = format!("DATABASE_URL={url} {}", command_line(args));
        transcript.record(&shown, &output);
    }
    insta::assert_snapshot!(transcript.text);
}
