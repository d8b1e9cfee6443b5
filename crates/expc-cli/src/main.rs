//! `expc`, the command-line interface.
//!
//! This crate parses arguments, reads and writes files and renders diagnostics; the work
//! itself is done by the library crates, which do no IO.

mod cli;
mod commands;
mod sources;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system's allocator: checking a large spec builds a tree and an
/// IR of a few hundred thousand small nodes, and with glibc's malloc a third of
/// `expc check`'s time went to allocating and to faulting in fresh pages one by one
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        // The reader of standard output went away (`expc plan SPEC | head -1`): what it
        // wanted it has, so end quietly as `cat` does.
        Err(report) if report.downcast_ref::<commands::StdoutClosed>().is_some() => {
            ExitCode::SUCCESS
        }
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(1)
        }
    }
}
