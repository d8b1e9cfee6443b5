//! `expc models show | promote | archive`: one registered model's version, and its stage.

use std::io::Write;
use std::process::ExitCode;

use expc_prov::registry::{self, StageChange, VersionRef};
use expc_prov::store::Store;
use miette::miette;

use super::prov::{open, shared_settings, state_dir};
use crate::cli::{ModelsAction, StoreArgs, TableFormat};

pub fn action(
    action: ModelsAction,
    args: &StoreArgs,
    format: TableFormat,
) -> miette::Result<ExitCode> {
    match action {
        ModelsAction::Show { model } => show(&model, args, format),
        ModelsAction::Promote {
            model,
            stage,
            reason,
        } => set_stage(&model, &stage, reason.as_deref(), args),
        ModelsAction::Archive { model, reason } => {
            set_stage(&model, "archived", reason.as_deref(), args)
        }
    }
}

fn show(model: &str, args: &StoreArgs, format: TableFormat) -> miette::Result<ExitCode> {
    let store = open(args)?;
    let r = VersionRef::parse(model).map_err(|e| miette!("{e}"))?;
    let v = registry::version(&store, &r).map_err(|e| miette!("{e}"))?;
    let sections = registry::show(&store, &v).map_err(|e| miette!("{e}"))?;
    let mut out = std::io::stdout().lock();
    if format == TableFormat::Json {
        let doc: serde_json::Map<String, serde_json::Value> = sections
            .iter()
            .map(|(name, t)| (name.clone(), t.to_json()))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let _ = writeln!(out, "{}@{} ({})", v.name, v.version, v.stage);
    for (name, t) in &sections {
        let _ = writeln!(out, "\n{name}:");
        if t.rows.is_empty() {
            let _ = writeln!(out, "  (none)");
        } else if format == TableFormat::Csv {
            let _ = write!(out, "{}", t.to_csv());
        } else {
            for line in t.to_text().lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn set_stage(
    model: &str,
    stage: &str,
    reason: Option<&str>,
    args: &StoreArgs,
) -> miette::Result<ExitCode> {
    if shared_settings(args)?.is_some() {
        return Err(miette!(
            help = "pass `--store local` (or `--state-dir DIR`) to change it in the embedded store",
            "stages are changed in the embedded store, not in a shared one"
        ));
    }
    let r = VersionRef::parse(model).map_err(|e| miette!("{e}"))?;
    let dir = state_dir(args)?;
    let store = Store::open(&dir).map_err(|e| miette!("cannot use `{}`: {e}", dir.display()))?;
    let change = StageChange {
        stage,
        user: registry::current_user(),
        reason,
        at: expc_prov::time::rfc3339(std::time::SystemTime::now()),
    };
    let before = registry::set_stage(&store, &r, &change).map_err(|e| miette!("{e}"))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}@{}: {} -> {stage}",
        before.name, before.version, before.stage
    );
    Ok(ExitCode::SUCCESS)
}
