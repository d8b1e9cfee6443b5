//! `expc status` and `expc cancel`: the runs of a spec still going in the background
//! (`expc run --detach`), and what runs left on a cluster, from the state folder's journal
//! of submissions, as the scheduler sees it now.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use miette::miette;

use super::detach::Head;
use crate::cli::QueueArgs;

/// The background runs `status` and `cancel` are about: the one named, else those whose
/// run is not over.
fn heads(state: &std::path::Path, run: Option<&str>) -> miette::Result<Vec<Head>> {
    Ok(match run {
        Some(id) => vec![Head::find(state, Some(id))?],
        None => Head::all(state)
            .into_iter()
            .filter(|h| h.exit_code().is_none())
            .collect(),
    })
}

fn show_heads(out: &mut impl Write, heads: &[Head]) {
    for h in heads {
        let since = expc_run::lock::utc_time(h.started());
        let progress = h.progress().line();
        let _ = match h.exit_code() {
            Some(code) => writeln!(
                out,
                "run {}: finished (exit {code}): {progress}; `expc attach {}` prints its summary",
                h.id, h.id
            ),
            None if h.alive() => writeln!(
                out,
                "run {}: in the background (pid {}, since {since}): {progress}; `expc attach {}` follows it",
                h.id,
                h.pid(),
                h.id
            ),
            None => writeln!(
                out,
                "run {}: its head (pid {}) ended before the run did: {progress}; `expc attach {}` resumes it, adopting what is still queued or running",
                h.id,
                h.pid(),
                h.id
            ),
        };
    }
}

pub fn status(args: QueueArgs) -> miette::Result<ExitCode> {
    let (state, run) = super::detach::target(&args);
    let heads = heads(&state, run.as_deref())?;
    let tasks = expc_run::engine::slurm::outstanding(&state).map_err(|e| miette!("{}", e.0))?;
    let mut out = std::io::stdout().lock();
    show_heads(&mut out, &heads);
    if tasks.is_empty() && !heads.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
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
    let (state, run) = super::detach::target(&args);
    let mut out = std::io::stdout().lock();
    // A head stops as on Ctrl-C: it cancels what it submitted and records the run.
    let mut stopped = 0;
    for h in heads(&state, run.as_deref())? {
        if h.exit_code().is_some() || !h.alive() {
            continue;
        }
        stopped += 1;
        if h.stop(Duration::from_secs(60)) {
            let _ = writeln!(
                out,
                "stopped run {} (pid {}): it cancelled what it had submitted and recorded the run as interrupted",
                h.id,
                h.pid()
            );
        } else {
            let _ = writeln!(
                out,
                "run {} (pid {}) is still stopping after 60 s; its jobs are cancelled below",
                h.id,
                h.pid()
            );
        }
    }
    let ids =
        expc_run::engine::slurm::cancel_outstanding(&state).map_err(|e| miette!("{}", e.0))?;
    if ids.is_empty() && stopped == 0 {
        let _ = writeln!(
            out,
            "nothing to cancel: no task of this spec is queued or running"
        );
    } else if !ids.is_empty() {
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
