//! The subcommands.

mod build;
mod check;
mod diff;
mod explain;
mod fmt;
mod graph;
mod lsp;
mod plan;
mod program;
mod prov;
mod report;
mod run;
mod verify;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::CommandFactory;
use expc_diagnostics::render::RenderOptions;

use crate::cli::{Cli, ColorChoice, Command};

pub fn run(cli: Cli) -> miette::Result<ExitCode> {
    let render = RenderOptions {
        color: use_color(cli.global.color),
    };
    match cli.command {
        Command::Check(args) => check::run(args, render),
        Command::Fmt(args) => fmt::run(args, render),
        Command::Plan(args) => plan::run(args, render),
        Command::Graph(args) => graph::run(args, render),
        Command::Diff(args) => diff::run(args, render),
        Command::Build(args) => build::run(args, render),
        Command::Run(args) => run::run(args, render),
        Command::Why(args) => run::why(args, render),
        Command::Verify(args) => verify::run(args),
        Command::Runs(args) => prov::runs(args),
        Command::Query(args) => prov::query(args),
        Command::Models(args) => prov::models(args),
        Command::Prov(args) => prov::prov(args, render),
        Command::Report(args) => report::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Lsp => lsp::run(),
        Command::Completions(args) => {
            let mut cmd = Cli::command();
            clap_complete::generate(args.shell, &mut cmd, "expc", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Colour on a terminal unless `NO_COLOR` is set, or as forced.
fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

/// "1 error", "2 warnings".
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
