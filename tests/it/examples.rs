//! The CI recipes users copy (`examples/ci/`): every `backfill` line of each, run as
//! written against a database of its backend, must succeed, and each JUnit report it
//! writes must hold every check passed.

use std::path::Path;

use crate::support::*;

/// The `backfill …` command lines of a CI file, each with the file its stdout goes to
/// (`> report.xml`), if any: GitHub's `run: backfill …` and GitLab's `- backfill …`.
fn backfill_lines(file: &str) -> Vec<(Vec<String>, Option<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/ci")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("the example exists");
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line
                .strip_prefix("run:")
                .or_else(|| line.strip_prefix('-'))?;
            let command = line.trim().strip_prefix("backfill ")?;
            let (command, to) = match command.split_once(" > ") {
                Some((command, to)) => (command, Some(to.trim().to_string())),
                None => (command, None),
            };
            Some((command.split_whitespace().map(String::from).collect(), to))
        })
        .collect()
}

/// Runs every backfill line of `file` against a database of `backend`.
async fn runs_as_written(file: &str, backend: Backend) {
    let lines = backfill_lines(file);
    assert!(lines.len() >= 6, "{file}: {lines:?}");
    let tdb = TestDb::new(backend, file).await;
    let reports = tempfile::tempdir().expect("a directory for the reports");
    for (args, to) in lines {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = tdb.cli(&args);
        assert_exit(&out, 0, &format!("{file}: backfill {}", args.join(" ")));
        if let Some(to) = to {
            let report = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(report.starts_with("<?xml"), "{to}: {report}");
            assert!(report.contains(r#"failures="0""#), "{to}: {report}");
            std::fs::write(reports.path().join(to), report).expect("write the report");
        }
    }
}

scenario!(github_actions on postgres);
async fn github_actions(backend: Backend) {
    runs_as_written("github-actions.yml", backend).await;
}

scenario!(gitlab_ci on mysql);
async fn gitlab_ci(backend: Backend) {
    runs_as_written("gitlab-ci.yml", backend).await;
}
