//! `expc lock`: pins every remote input of a spec in `expc.lock` beside it.

use std::process::ExitCode;

use expc_check::remote_url::is_remote;
use expc_diagnostics::render::RenderOptions;
use expc_remote::{Inputs, LOCK_FILE, LockFile, Mode};
use miette::miette;

use crate::cli::LockArgs;

pub fn run(args: LockArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let overrides = super::program::overrides_of(&args.program)?;
    let Some((program, _)) =
        super::program::program_and_plan(&args.file, &overrides, &args.program, render)?
    else {
        return Ok(ExitCode::from(1));
    };
    let dir = super::run::spec_dir(&args.file)?;
    let state_dir = args.state_dir.clone().unwrap_or_else(|| dir.join(".expc"));
    let lock_path = dir.join(LOCK_FILE);
    let mode = Mode {
        refresh: args.refresh,
        ..Mode::default()
    };
    let mut inputs = Inputs::open(&state_dir, &lock_path, mode).map_err(|e| miette!("{e}"))?;
    // Every remote input the spec declares, whichever pipeline reads it; once each.
    let mut urls: Vec<(String, Option<String>)> = program
        .data
        .iter()
        .chain(&program.models)
        .filter_map(|a| {
            let url = a.path.as_deref().filter(|p| is_remote(p))?;
            let pinned = a.entries.get("digest").and_then(|d| d.as_str());
            Some((url.to_owned(), pinned.map(str::to_owned)))
        })
        .collect();
    urls.sort();
    urls.dedup_by(|a, b| a.0 == b.0);
    let mut lock = LockFile::new();
    for (url, pinned) in &urls {
        let r = inputs
            .resolve(url, pinned.as_deref())
            .map_err(|e| miette!(help = "`expc.lock` was not written", "{e}"))?;
        let how = if r.fetched { "fetched" } else { "held" };
        eprintln!(
            "{how:>8} {url} {} ({} bytes)",
            r.locked.digest, r.locked.size
        );
        lock.inputs.insert(url.clone(), r.locked);
    }
    lock.write(&lock_path)
        .map_err(|e| miette!("cannot write `{}`: {e}", lock_path.display()))?;
    eprintln!(
        "  locked {} remote input{} in {}",
        urls.len(),
        if urls.len() == 1 { "" } else { "s" },
        lock_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
