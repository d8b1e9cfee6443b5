//! `expc report`: writes the HTML report of recorded runs (`expc-report`).

use std::process::ExitCode;

use miette::miette;

use crate::cli::ReportArgs;

pub fn run(args: ReportArgs) -> miette::Result<ExitCode> {
    // A shared store's runs show the logs kept beside `--spec`, when they are here.
    let state_dir = if super::prov::shared_settings(&args.store)?.is_some() {
        super::prov::find_state_dir(None, args.store.spec.as_deref())
            .unwrap_or_else(|_| std::path::PathBuf::from(".expc"))
    } else {
        super::prov::find_state_dir(args.store.state_dir.as_deref(), args.store.spec.as_deref())?
    };
    let store = super::prov::open(&args.store)?;
    let refs = if args.runs.is_empty() {
        vec!["latest".to_owned()]
    } else {
        args.runs.clone()
    };
    let mut ids: Vec<String> = Vec::new();
    for r in &refs {
        let id = store.resolve_run(r).map_err(|e| miette!("{e}"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let html = expc_report::render(&store, &state_dir, &ids).map_err(|e| miette!("{e}"))?;
    std::fs::write(&args.output, &html)
        .map_err(|e| miette!("cannot write `{}`: {e}", args.output.display()))?;
    eprintln!(
        "wrote {} ({} run{}, {:.1} MB)",
        args.output.display(),
        ids.len(),
        if ids.len() == 1 { "" } else { "s" },
        html.len() as f64 / 1e6
    );
    Ok(ExitCode::SUCCESS)
}
