//! The `hark` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
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
