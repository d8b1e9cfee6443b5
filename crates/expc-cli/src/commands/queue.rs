//! `expc status` and `expc cancel`: what runs of a spec left on a cluster, from the state
//! folder's journal of submissions, as the scheduler sees it now.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use miette::miette;

use crate::cli::QueueArgs;

fn state_dir(args: &QueueArgs) -> PathBuf {
    super::state_folder(args.state_dir.as_deref(), args.file.as_deref())
}

pub fn status(args: QueueArgs) -> miette::Result<ExitCode> {
    let state = state_dir(&args);
    let tasks = expc_run::engine::slurm::outstanding(&state).map_err(|e| miette!("{}", e.0))?;
    let mut out = std::io::stdout().lock();
    if tasks.is_empty() {
        let _ = writeln!(
            out,
            "nothing on Slurm: every task runs of this spec submitted has been collected (`{}`)",
            state.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let width = tasks.iter().map(|t| t.instance.len()).max().unwrap_or(0);
    let id_width = tasks.iter().map(|t| t.slurm_id.len()).max().unwrap_or(0);
    for t in &tasks {
        let reason = if t.reason.is_empty() {
            String::new()
        } else {
            format!(
                "  {}",
                expc_run::engine::slurm::queue::pending_reason(&t.reason)
            )
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:<id_width$}  {}{reason}",
            t.instance, t.slurm_id, t.state
        );
    }
    let live = tasks
        .iter()
        .filter(|t| expc_run::engine::slurm::queue::outcome(&t.state).is_none())
        .filter(|t| t.state != "UNKNOWN")
        .count();
    let _ = writeln!(
        out,
        "{live} queued or running; `expc run` adopts them (and collects the completed ones), `expc cancel` cancels them"
    );
    Ok(ExitCode::SUCCESS)
}

pub fn cancel(args: QueueArgs) -> miette::Result<ExitCode> {
    let state = state_dir(&args);
    let ids =
        expc_run::engine::slurm::cancel_outstanding(&state).map_err(|e| miette!("{}", e.0))?;
    let mut out = std::io::stdout().lock();
    if ids.is_empty() {
        let _ = writeln!(
            out,
            "nothing to cancel: no task of this spec is queued or running"
        );
    } else {
        let _ = writeln!(
            out,
            "cancelled {} Slurm task{}: {}",
            ids.len(),
            if ids.len() == 1 { "" } else { "s" },
            ids.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
