//! `expc`, the command-line interface.
//!
//! This crate parses arguments, reads and writes files and renders diagnostics; the work
//! itself is done by the library crates, which do no IO.

mod cli;
mod commands;
mod sources;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(1)
        }
    }
}
