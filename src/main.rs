//! The `backfill` binary: parse, run, report, exit. All work lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = backfill::cli::Cli::parse();
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
            backfill::error::exit_code_for(&err)
        }
    }
}
