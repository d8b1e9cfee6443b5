//! `expc lsp`: the language server on standard input and output.

use std::process::ExitCode;

pub fn run() -> miette::Result<ExitCode> {
    expc_lsp::run_stdio().map_err(|e| miette::miette!("language server: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
