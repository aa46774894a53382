//! Logs go through `tracing` to stderr: warnings and errors by default (the summary on
//! stdout already says what a command did), the per-table progress lines with `-v`,
//! debug detail with `-vv`, only errors with `-q`. Errors that end a command are
//! printed as one sentence. Also here: the progress bar's rate, in whole rows.

use std::io::{IsTerminal, Write};

use indicatif::{HumanCount, ProgressState};

use tracing_subscriber::EnvFilter;

/// Installs the subscriber: `quiet` shows only errors, each `verbose` step more.
pub fn init(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        // The progress lines of a run without a terminal are part of the default.
        (false, 0) => "warn,backfill::progress=info",
        (false, 1) => "warn,backfill=info",
        (false, 2) => "info,backfill=debug",
        (false, _) => "debug,backfill=trace",
    };
    let filter = EnvFilter::try_from_env("BACKFILL_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .try_init();
    // A bug must still end in one line, not a backtrace; a closed stderr is ignored.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stderr(),
            "backfill: internal error (please report it): {info}"
        );
    }));
}

/// The error and its causes, joined into one line.
pub fn sentence(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// The progress bar's `{rate}`: whole rows per second with thousands separators
/// (`21,663/s`), where indicatif's `{per_sec}` prints `21663.238/s`.
pub fn whole_rate(state: &ProgressState, out: &mut dyn std::fmt::Write) {
    let _ = write!(out, "{}/s", HumanCount(state.per_sec().round() as u64));
}
