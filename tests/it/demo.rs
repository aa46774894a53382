//! `demo`, the newcomer's first run end to end: on its own SQLite file only, which it
//! owns (and recreates), refusing a file it did not create and any database URL.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::*;

/// Runs `backfill demo` with `args` in `dir`, with `database_url` (or none) as
/// DATABASE_URL.
fn demo(dir: &Path, args: &[&str], database_url: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backfill"));
    command.arg("demo").args(args).current_dir(dir);
    match database_url {
        Some(url) => command.env("DATABASE_URL", url),
        None => command.env_remove("DATABASE_URL"),
    };
    command.output().expect("run demo")
}

/// The demo prints its whole story and logs nothing; run again it recreates its file;
/// a demo.db it did not create is refused and left as it was.
#[test]
fn end_to_end_and_refusal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = demo(dir.path(), &[], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).is_empty(),
        "default flags log nothing: {}",
        stderr(&output)
    );
    let text = stdout(&output);
    let last = text.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("done in ") && last.ends_with(" rows/s"),
        "{text}"
    );
    for line in [
        "test_features rows inserted",
        "rows set to 'io'",
        "row_rejected",
        "cross_tenant",
        "dangling_reference",
        "legacy_alias",
        "test_coverage_rate",
        "backfill backfill-features --dry-run",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    assert!(dir.path().join("demo.db").exists());
    // It owns demo.db: a second run recreates it.
    assert_eq!(demo(dir.path(), &[], None).status.code(), Some(0));

    // A file it did not create is refused and left as it was.
    let foreign = dir.path().join("demo.db");
    std::fs::remove_file(&foreign).expect("remove");
    std::fs::write(&foreign, b"somebody else's data").expect("write");
    let before = std::fs::read(&foreign).expect("read");
    let refused = demo(dir.path(), &[], None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("was not created by `backfill demo`"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(&foreign).expect("read"), before);
}

/// The demo runs only on its own file: a database URL, as a flag or in DATABASE_URL,
/// is refused in one sentence (exit 2), and neither it nor demo.db is created.
#[test]
fn refuses_a_database_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dir.path().join("other.db");
    let url = format!("sqlite://{}?mode=rwc", other.display());
    let runs = [
        demo(dir.path(), &["--database-url", &url], None),
        demo(dir.path(), &["--file", "mine.db"], Some(&url)),
    ];
    for output in runs {
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let err = stderr(&output);
        assert_eq!(err.trim_end().lines().count(), 1, "one sentence: {err}");
        assert!(
            err.contains("the demo works only on its own SQLite file (--file"),
            "{err}"
        );
        assert!(stdout(&output).is_empty());
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "nothing was created: {left:?}");
}
