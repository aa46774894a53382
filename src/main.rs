//! The `backfill` binary: parse, run, report, exit. All work lives in the library.

use std::process::ExitCode;

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
        Err(err) => {
            eprintln!("backfill: {}", usage_sentence(&err));
            return ExitCode::from(2);
        }
    };
    backfill::logging::init(cli.global.quiet, cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("backfill: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(backfill::commands::run(cli)) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            eprintln!("backfill: {}", backfill::logging::sentence(&err));
            ExitCode::from(backfill::error::exit_code_of(&err))
        }
    }
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
