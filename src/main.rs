//! The `backfill` binary: parse, run, report, exit. All work lives in the library.

use std::io::Write;
use std::process::ExitCode;

use backfill::report::{Format, Reporter, Stdout};
use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match backfill::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version (on stdout, exit 0), and the help shown for a missing
        // subcommand, are printed as clap writes them.
        Err(err)
            if !err.use_stderr()
                || err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
        Err(err) => return fail(format_asked(), &usage_sentence(&err), 2),
    };
    backfill::logging::init(cli.global.quiet, cli.global.verbose);
    let format = cli.global.format;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return fail(format, &format!("cannot start the async runtime: {err}"), 2);
        }
    };
    match runtime.block_on(backfill::commands::run(cli)) {
        Ok(outcome) => {
            if let Some(sentence) = outcome.sentence() {
                let _ = writeln!(std::io::stderr(), "backfill: {sentence}");
            }
            outcome.exit_code()
        }
        Err(err) => fail(
            format,
            &backfill::logging::sentence(&err),
            backfill::error::exit_code_of(&err),
        ),
    }
}

/// Ends a failed command: its sentence on stderr (a closed stderr is no reason to
/// stop), and under `--format json` the error object on stdout.
fn fail(format: Format, sentence: &str, exit_code: u8) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "backfill: {sentence}");
    let _ = Reporter::new(format, Stdout::default()).failure(sentence, exit_code);
    ExitCode::from(exit_code)
}

/// The `--format` of a command line clap refused, so that a usage error under
/// `--format json` is still one JSON object.
fn format_asked() -> Format {
    let args: Vec<String> = std::env::args().collect();
    let value = args
        .iter()
        .enumerate()
        .find_map(|(i, arg)| match arg.strip_prefix("--format") {
            Some("") => args.get(i + 1).map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        });
    value
        .and_then(|value| value.parse().ok())
        .unwrap_or(Format::Text)
}

/// clap's message without its usage block and `--help` hint, on one line (SPEC §5:
/// a usage problem is one clear sentence). Its tips stay, after a semicolon.
fn usage_sentence(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let message = rendered.trim_start().trim_start_matches("error:");
    message
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
