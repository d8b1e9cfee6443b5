//! `expc verify`: every object of a state folder's store hashed again, the damaged ones
//! evicted (with `--dry-run`, only reported).

use std::io::Write;
use std::process::ExitCode;

use expc_run::lock::StateLock;
use expc_run::store::Store;
use miette::miette;

use crate::cli::VerifyArgs;

pub fn run(args: VerifyArgs) -> miette::Result<ExitCode> {
    let state = super::state_folder(args.state_dir.as_deref(), args.file.as_deref());
    if !state.join("objects").is_dir() {
        return Err(miette!(
            help = "`expc run` makes it; pass the spec or `--state-dir` to verify another",
            "no store at `{}`",
            state.display()
        ));
    }
    // Evicting writes the store: not while a run uses it.
    let _lock = if args.dry_run {
        None
    } else {
        Some(StateLock::try_acquire(&state).map_err(|e| miette!("{e}"))?)
    };
    let store =
        Store::open(&state).map_err(|e| miette!("cannot use `{}`: {e}", state.display()))?;
    let found = store
        .verify(args.dry_run)
        .map_err(|e| miette!("cannot verify `{}`: {e}", state.display()))?;
    let mut out = std::io::stdout().lock();
    for d in &found.damaged {
        let named = if d.named_by.is_empty() {
            "no cache entry names it".to_owned()
        } else {
            format!("it is the {}", d.named_by.join(", the "))
        };
        let _ = writeln!(out, "damaged  {}: {}; {named}", d.object, d.why);
    }
    let checked = format!("{} objects ({}) hashed", found.objects, bytes(found.bytes));
    let _ = match (found.damaged.len(), args.dry_run) {
        (0, _) => writeln!(out, "{checked}: no damage"),
        (n, true) => writeln!(
            out,
            "{checked}: {n} damaged; --dry-run: nothing was evicted (run without it to evict them)"
        ),
        (n, false) => writeln!(
            out,
            "{checked}: {n} damaged, evicted; what made them runs again on the next `expc run`"
        ),
    };
    Ok(if found.damaged.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `512 B`, `3.4 KiB`, `1.2 GiB`.
pub(super) fn bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
