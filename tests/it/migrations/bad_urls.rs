//! Database URLs that cannot work, given to the commands that need a database.

use std::process::Output;

use crate::support::*;

/// Runs the binary with `url` as DATABASE_URL (and backtraces requested, to prove
/// none is printed).
fn cli_with_url(url: &str, args: &[&str]) -> Output {
    backfill_at(url, args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run backfill")
}

/// Asserts `args` with `url` exits `expected` with one line on stderr, nothing on
/// stdout, and no panic or backtrace.
fn assert_one_line_exit(url: &str, args: &[&str], expected: i32) {
    let out = cli_with_url(url, args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(expected),
        "{url} {args:?}: stdout {} stderr {err}",
        stdout(&out)
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{url} {args:?}: one line expected:\n{err}"
    );
    assert!(!err.contains("panicked"), "{url}: {err}");
    assert!(!err.to_lowercase().contains("backtrace"), "{url}: {err}");
    assert!(stdout(&out).is_empty(), "{url}: stdout {}", stdout(&out));
}

/// Unreachable servers (exit 75: try again later), a SQLite file in a directory that
/// does not exist, a text file given as a SQLite database, an unknown scheme and text
/// that is no URL (exit 2): one line from every command, within the connect timeout,
/// nothing created, the cause said, the password not echoed.
#[test]
fn one_line_and_the_right_exit() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir
        .path()
        .join("no-such-dir")
        .join("deeper")
        .join("test.db");
    let sqlite_url = format!("sqlite://{}?mode=rwc", missing.display());
    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "not a database, just notes\n").unwrap();
    let text_url = format!("sqlite://{}?mode=rwc", text_file.display());
    for (url, expected) in [
        ("postgres://root@127.0.0.1:1/nope", 75),
        ("mysql://root@127.0.0.1:1/nope", 75),
        (sqlite_url.as_str(), 2),
        (text_url.as_str(), 2),
        ("redis://x", 2),
        ("not a url at all", 2),
    ] {
        for args in [
            &["migrate", "status"][..],
            &["migrate", "up"],
            &["migrate", "check"],
            &["seed"],
            &["validate"],
        ] {
            let started = std::time::Instant::now();
            assert_one_line_exit(url, args, expected);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{url} {args:?}: within the connect timeout"
            );
        }
    }
    let out = cli_with_url(&text_url, &["validate"]);
    assert!(
        stderr(&out).contains("is not a SQLite database"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&text_file).unwrap(),
        "not a database, just notes\n",
        "the file is left as it was"
    );
    assert!(
        !missing.parent().unwrap().exists(),
        "nothing may be created for a bad URL"
    );
    // The sentence says why: a refused connection is reported as such (not as a pool
    // timeout after retrying).
    for url in [
        "postgres://root@127.0.0.1:1/nope",
        "mysql://root@127.0.0.1:1/nope",
    ] {
        let out = cli_with_url(url, &["migrate", "status"]);
        assert!(
            stderr(&out).contains("cannot reach") && stderr(&out).contains("refused"),
            "{}",
            stderr(&out)
        );
    }
    // A password is not echoed.
    for url in [
        "postgres://root:s3cret@127.0.0.1:1/nope",
        "mysql://root:s3cret@127.0.0.1:1/nope",
    ] {
        let out = cli_with_url(url, &["migrate", "status"]);
        assert_eq!(out.status.code(), Some(75));
        assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    }
}
