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

/// Asserts `args` with `url` exits 2 with one line on stderr, nothing on stdout, and
/// no panic or backtrace.
fn assert_one_line_exit_2(url: &str, args: &[&str]) {
    let out = cli_with_url(url, args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
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

/// Unreachable servers, a SQLite file in a directory that does not exist, an unknown
/// scheme and text that is no URL: one line and exit 2 from every command, nothing
/// created, the cause said, the password not echoed.
#[test]
fn exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir
        .path()
        .join("no-such-dir")
        .join("deeper")
        .join("test.db");
    let sqlite_url = format!("sqlite://{}?mode=rwc", missing.display());
    for url in [
        "postgres://root@127.0.0.1:1/nope",
        sqlite_url.as_str(),
        "redis://x",
        "mysql://root@127.0.0.1:1/nope",
        "not a url at all",
    ] {
        for args in [
            &["migrate", "status"][..],
            &["migrate", "up"],
            &["migrate", "check"],
            &["seed"],
        ] {
            assert_one_line_exit_2(url, args);
        }
    }
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
            stderr(&out).contains("cannot connect") && stderr(&out).contains("refused"),
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
        assert_eq!(out.status.code(), Some(2));
        assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    }
}
