//! The subcommands.

mod build;
mod check;
mod detach;
mod diff;
mod efficiency;
mod expand;
mod explain;
mod fmt;
mod gc;
mod graph;
mod init;
mod lock;
mod lsp;
mod models;
mod plan;
mod program;
mod prov;
mod queue;
mod registry_loader;
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
        Command::Lock(args) => lock::run(args, render),
        Command::Verify(args) => verify::run(args),
        Command::Gc(args) => gc::run(args),
        Command::Status(args) => queue::status(args),
        Command::Attach(args) => detach::attach(args, render),
        Command::Cancel(args) => queue::cancel(args),
        Command::Runs(args) => prov::runs(args),
        Command::Query(args) => prov::query(args),
        Command::Models(args) => prov::models(args),
        Command::Prov(args) => prov::prov(args, render),
        Command::Report(args) => report::run(args),
        Command::Store(args) => prov::store(args),
        Command::Explain(args) => explain::run(args),
        Command::Lsp => lsp::run(),
        Command::Init(args) => init::run(args),
        Command::Completions(args) => {
            // Into memory first: `clap_complete::generate` panics on a write error, and
            // `expc completions bash | head -1` closes the pipe early.
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cmd, "expc", &mut script);
            write_stdout(&script)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Standard output was closed by its reader (`expc plan SPEC | head -1`): `main` ends the
/// command quietly with exit 0, as `cat` and `grep` do, rather than reporting it.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}
impl miette::Diagnostic for StdoutClosed {}

/// The error of a write to standard output: a closed pipe is [`StdoutClosed`].
pub fn stdout_error(e: std::io::Error) -> miette::Report {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        miette::Report::new(StdoutClosed)
    } else {
        miette::miette!("cannot write to standard output: {e}")
    }
}

/// The error of serialising JSON to standard output.
pub fn stdout_json_error(e: serde_json::Error) -> miette::Report {
    match e.io_error_kind() {
        Some(kind) => stdout_error(kind.into()),
        None => miette::miette!("{e}"),
    }
}

/// Writes (and flushes) bytes to standard output. Never use `print!`/`println!` in this
/// crate: they panic when the reader has gone.
pub fn write_stdout(bytes: &[u8]) -> miette::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
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

/// The state folder a command reads: `--state-dir`, else `.expc` beside the spec, else
/// `.expc` here.
pub(crate) fn state_folder(
    state_dir: Option<&std::path::Path>,
    spec: Option<&std::path::Path>,
) -> std::path::PathBuf {
    match (state_dir, spec) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(spec)) => spec
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .join(".expc"),
        (None, None) => std::path::PathBuf::from(".expc"),
    }
}
