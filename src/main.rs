//! The `hark` command line.

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let matches = cli::Cli::command().get_matches();
    let args = match cli::Cli::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(err) => err.exit(),
    };
    if let Err(err) = cli::check_matches(&matches) {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    // Say once, on stderr, when the adapter runs on the CPU and what would be faster.
    hark::context::set_software_adapter_notice(|note| eprintln!("{note}"));
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
