//! The real `backfill` binary, run as an operator runs it: against a test's database
//! (or any URL), in text or in JSON, waited for or left running; and what a test reads
//! of a finished run (exit code, streams, the JSON it printed, its one error sentence).

use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use super::{TestDb, json_contract};

/// Flags of every run whose stdout a test reads: one JSON value, no progress bar.
const JSON_FLAGS: [&str; 3] = ["--format", "json", "--no-progress"];

/// The binary with `args` and `url` as its DATABASE_URL (and no log filter from the
/// test's own environment).
pub fn backfill_at(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backfill"));
    command
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("BACKFILL_LOG");
    command
}

/// The binary in JSON with `args` and `url` as its DATABASE_URL.
pub fn backfill_json_at(url: &str, args: &[&str]) -> Command {
    let in_json: Vec<&str> = JSON_FLAGS.iter().chain(args).copied().collect();
    backfill_at(url, &in_json)
}

impl TestDb {
    /// The binary with `args` against this database, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        backfill_at(&self.url, args)
    }

    /// Runs the binary with `args` (text output) and waits for it.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run backfill")
    }

    /// The binary in JSON with `args` against this database, not yet started.
    pub fn json_command(&self, args: &[&str]) -> Command {
        backfill_json_at(&self.url, args)
    }

    /// Runs the binary in JSON with `args` and waits for it.
    pub fn cli_json(&self, args: &[&str]) -> Output {
        self.json_command(args).output().expect("run backfill")
    }

    /// Starts the binary in JSON with `args`, its streams piped.
    pub fn spawn_json(&self, args: &[&str]) -> Child {
        self.json_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start backfill")
    }

    /// Runs `backfill seed` with `flags`, written as on a command line, which must
    /// succeed.
    pub fn seed(&self, flags: &str) {
        let args: Vec<&str> = ["seed"]
            .into_iter()
            .chain(flags.split_whitespace())
            .collect();
        assert_exit(&self.cli(&args), 0, &format!("backfill seed {flags}"));
    }

    /// Runs the binary in JSON with `args`: its exit code and the one JSON value it
    /// printed (a panic showing both streams when stdout is not one).
    pub fn run_json(&self, args: &[&str]) -> (i32, Value) {
        let output = self.cli_json(args);
        (code(&output), json(&output))
    }
}

/// The one JSON object `output` printed: the contract's version in it, and no key twice
/// anywhere (a panic showing both streams when stdout is not that).
pub fn json(output: &Output) -> Value {
    let printed = stdout(output);
    assert_eq!(
        printed.trim_end().lines().count(),
        1,
        "one line of JSON: {}",
        describe(output)
    );
    assert_eq!(
        json_contract::duplicate_keys(&printed),
        Ok(Vec::new()),
        "no key twice: {}",
        describe(output)
    );
    let value: Value = serde_json::from_str(printed.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{}", describe(output)));
    assert!(value.is_object(), "one object: {}", describe(output));
    assert_eq!(
        value["schema_version"],
        json_contract::SCHEMA_VERSION,
        "the contract's version: {}",
        describe(output)
    );
    value
}

/// The entry of `table` in a summary's `tables`.
pub fn table_of<'a>(summary: &'a Value, table: &str) -> &'a Value {
    summary["tables"]
        .as_array()
        .expect("`tables` is a list")
        .iter()
        .find(|t| t["table"] == table)
        .unwrap_or_else(|| panic!("no `{table}` in {summary}"))
}

/// The integer `key` of a JSON object.
pub fn num(value: &Value, key: &str) -> i64 {
    value[key]
        .as_i64()
        .unwrap_or_else(|| panic!("`{key}` is not an integer in {value}"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The exit code, -1 for a process ended by a signal.
pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// Exit code and both streams, for an assertion's message (a stream of more than
/// 8,000 characters shown by its ends: a payload test may print 10 MB).
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        ends(&stdout(output)),
        ends(&stderr(output))
    )
}

fn ends(text: &str) -> String {
    const KEEP: usize = 4_000;
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 2 * KEEP {
        return text.to_string();
    }
    let head: String = chars[..KEEP].iter().collect();
    let tail: String = chars[chars.len() - KEEP..].iter().collect();
    format!(
        "{head}\n[… {} characters …]\n{tail}",
        chars.len() - 2 * KEEP
    )
}

/// Asserts `output` exited `expected`, naming `what` ran.
pub fn assert_exit(output: &Output, expected: i32, what: &str) {
    assert_eq!(code(output), expected, "{what}: {}", describe(output));
}

/// Asserts `output` printed `text` on stdout.
pub fn assert_printed(output: &Output, text: &str) {
    let printed = stdout(output);
    assert!(printed.contains(text), "`{text}` not printed:\n{printed}");
}

/// Asserts `output` did not print `text` on stdout.
pub fn assert_not_printed(output: &Output, text: &str) {
    let printed = stdout(output);
    assert!(!printed.contains(text), "`{text}` printed:\n{printed}");
}

/// Asserts no panic, backtrace or internal error reached stderr.
pub fn assert_no_panic(output: &Output) {
    let err = stderr(output);
    for marker in ["panicked", "backtrace", "internal error", "RUST_BACKTRACE"] {
        assert!(!err.contains(marker), "{marker}: {}", describe(output));
    }
}

/// The error sentence a failed command ends with: exactly one `backfill:` line, the
/// last one, and no panic or backtrace anywhere.
pub fn one_sentence(output: &Output) -> String {
    assert_no_panic(output);
    let err = stderr(output);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("backfill:")).collect();
    assert_eq!(lines.len(), 1, "one error sentence: {}", describe(output));
    assert_eq!(
        err.trim_end().lines().last(),
        Some(lines[0]),
        "{}",
        describe(output)
    );
    lines[0].to_string()
}

/// Sends `signal` (`-INT`, `-KILL`, `-STOP`, …) to a running binary.
pub fn send_signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill {signal}");
}
