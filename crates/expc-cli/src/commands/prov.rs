//! `expc runs`, `expc query`, `expc models` and `expc prov`: reading the provenance store.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use expc_diagnostics::render::RenderOptions;
use expc_prov::query::{self, Table};
use expc_prov::shared::{Settings, Shared};
use expc_prov::store::Store;
use miette::miette;

use crate::cli::{
    ModelsArgs, ProvAction, ProvArgs, ProvFormat, QueryArgs, RunsAction, RunsArgs, StoreAction,
    StoreAdminArgs, StoreArgs, TableFormat,
};

/// The state folder whose store to read: `--state-dir`, else the `.expc` beside `--spec`,
/// else the nearest `.expc` holding a store, here or in a parent folder. When none is
/// found, the error says where it looked and what to pass.
pub fn find_state_dir(state_dir: Option<&Path>, spec: Option<&Path>) -> miette::Result<PathBuf> {
    if let Some(dir) = state_dir {
        return Ok(dir.to_path_buf());
    }
    if let Some(spec) = spec {
        if spec.is_dir() {
            return Ok(spec.join(".expc"));
        }
        let dir = match spec.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        return Ok(dir.join(".expc"));
    }
    let here =
        std::env::current_dir().map_err(|e| miette!("cannot read the current folder: {e}"))?;
    let mut looked = Vec::new();
    for dir in here.ancestors() {
        let state = dir.join(".expc");
        if state.join(expc_prov::store::FILE).is_file() {
            return Ok(if dir == here {
                PathBuf::from(".expc")
            } else {
                state
            });
        }
        looked.push(state);
    }
    Err(miette!(
        help = "a run is recorded in the `.expc` folder beside its spec: pass the spec, \
                `--spec path/to/spec.exp`, or the folder, `--state-dir path/to/.expc`",
        "no provenance store found: looked for `{}` in `{}` and in every parent folder up to `{}`",
        Path::new(".expc").join(expc_prov::store::FILE).display(),
        here.display(),
        looked
            .last()
            .map_or(here.clone(), |l| l.parent().unwrap_or(l).to_path_buf())
            .display(),
    ))
}

pub(super) fn state_dir(args: &StoreArgs) -> miette::Result<PathBuf> {
    find_state_dir(args.state_dir.as_deref(), args.spec.as_deref())
}

/// The shared store reading commands use, if any: `--store`, else (unless `--state-dir`
/// names a local store) EXPC_STORE, else `expc-store.toml` beside `--spec`, or here.
pub fn shared_settings(args: &StoreArgs) -> miette::Result<Option<Settings>> {
    if args.store.is_none() && args.state_dir.is_some() {
        return Ok(None);
    }
    let dir = match &args.spec {
        Some(spec) if spec.is_dir() => spec.clone(),
        Some(spec) => spec
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        None => PathBuf::from("."),
    };
    Settings::find(args.store.as_deref(), None, &dir).map_err(|e| miette!("{e}"))
}

/// The store a reading command reads: the shared one when one is set, else the embedded
/// one found by [`find_state_dir`].
pub fn open(args: &StoreArgs) -> miette::Result<Store> {
    if let Some(settings) = shared_settings(args)? {
        return Shared::connect(&settings)
            .and_then(Shared::into_store)
            .map_err(|e| miette!("{e}"));
    }
    Store::open_read_only(&state_dir(args)?).map_err(|e| miette!("{e}"))
}

fn print(table: &Table, format: TableFormat) {
    let text = match format {
        TableFormat::Table => table.to_text(),
        TableFormat::Csv => table.to_csv(),
        TableFormat::Json => {
            serde_json::to_string_pretty(&table.to_json()).unwrap_or_default() + "\n"
        }
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

pub fn runs(args: RunsArgs) -> miette::Result<ExitCode> {
    let store = open(&args.store)?;
    match args.action {
        None => {
            let t = query::runs(&store).map_err(|e| miette!("{e}"))?;
            if t.rows.is_empty() && args.format == TableFormat::Table {
                eprintln!("no runs recorded yet: `expc run SPEC` records one");
            } else {
                print(&t, args.format);
            }
        }
        Some(RunsAction::Show { run }) => {
            let id = store.resolve_run(&run).map_err(|e| miette!("{e}"))?;
            let view = query::run(&store, &id).map_err(|e| miette!("{e}"))?;
            if args.format == TableFormat::Json {
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "{}",
                    serde_json::to_string_pretty(&show_json(&view)).unwrap_or_default()
                );
            } else {
                show(&view);
            }
        }
        Some(RunsAction::Compare { a, b }) => {
            let a = store.resolve_run(&a).map_err(|e| miette!("{e}"))?;
            let b = store.resolve_run(&b).map_err(|e| miette!("{e}"))?;
            let sections = query::compare(&store, &a, &b).map_err(|e| miette!("{e}"))?;
            if args.format == TableFormat::Json {
                let doc: serde_json::Map<String, serde_json::Value> = sections
                    .iter()
                    .map(|(name, t)| (name.clone(), t.to_json()))
                    .collect();
                let out = serde_json::json!({ "a": a, "b": b, "sections": doc });
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "{}",
                    serde_json::to_string_pretty(&out).unwrap_or_default()
                );
            } else {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "a = {a}\nb = {b}");
                for (name, t) in &sections {
                    let _ = writeln!(out, "\n{name}:");
                    if t.rows.is_empty() {
                        let _ = writeln!(out, "  (none)");
                        continue;
                    }
                    if args.format == TableFormat::Csv {
                        let _ = write!(out, "{}", t.to_csv());
                    } else {
                        for line in t.to_text().lines() {
                            let _ = writeln!(out, "  {line}");
                        }
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(view: &query::RunView) {
    let mut out = std::io::stdout().lock();
    let f = |k: &str| view.field(k);
    let _ = writeln!(out, "run         {}", f("id"));
    let _ = writeln!(out, "status      {}", f("status"));
    let _ = writeln!(out, "experiment  {}", f("experiment"));
    let _ = writeln!(
        out,
        "spec        {} (blake3 {})",
        f("spec_path"),
        &f("spec_hash")[..f("spec_hash").len().min(16)]
    );
    let _ = writeln!(out, "pipeline    {}", f("pipeline"));
    let _ = writeln!(out, "started     {}", f("started_at"));
    let _ = writeln!(out, "ended       {}", f("ended_at"));
    let _ = writeln!(out, "user@host   {}@{}", f("user"), f("host"));
    let git = f("git_commit");
    if !git.is_empty() {
        let dirty = if f("git_dirty") == "1" {
            format!(
                " + uncommitted changes (diff blake3 {})",
                &f("git_diff_hash")[..f("git_diff_hash").len().min(16)]
            )
        } else {
            String::new()
        };
        let _ = writeln!(out, "git         {git}{dirty}");
    }
    let _ = writeln!(out, "expc        {}", f("expc_version"));
    let _ = writeln!(
        out,
        "tasks       {} ran, {} cached, {} failed, {} not run",
        f("ran"),
        f("cached"),
        f("failed"),
        f("skipped")
    );
    if !view.params.is_empty() {
        let _ = writeln!(out, "\nparams:");
        for (name, ty, value) in &view.params {
            let _ = writeln!(out, "  {name}: {ty} = {}", Table::cell(value));
        }
    }
    if let Ok(env) = serde_json::from_str::<serde_json::Value>(&f("environment")) {
        let _ = writeln!(out, "\nenvironment:");
        for k in ["os", "kernel", "arch", "cpus", "memory_bytes"] {
            if let Some(v) = env.get(k) {
                let _ = writeln!(out, "  {k}: {}", Table::cell(v));
            }
        }
        if let Some(tools) = env.get("tools").and_then(|t| t.as_object()) {
            for (name, t) in tools {
                let _ = writeln!(
                    out,
                    "  tool {name}: {} {}",
                    Table::cell(&t["path"]),
                    Table::cell(&t["digest"]).get(..12).unwrap_or_default()
                );
            }
        }
        for k in ["modules_loaded", "modules_declared", "containers", "conda"] {
            if let Some(v) = env
                .get(k)
                .and_then(|v| v.as_array())
                .filter(|a| !a.is_empty())
            {
                let items: Vec<String> = v.iter().map(Table::cell).collect();
                let _ = writeln!(out, "  {k}: {}", items.join(", "));
            }
        }
    }
    let _ = writeln!(out, "\ntasks:");
    let mut t = Table {
        columns: [
            "instance", "status", "seconds", "exit", "attempts", "where", "job", "inputs",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for task in &view.tasks {
        let secs = match (&task.started_at, &task.ended_at) {
            (Some(s), Some(e)) => expc_prov::time::millis_between(s, e)
                .map(|ms| format!("{:.1}", ms as f64 / 1000.0))
                .unwrap_or_default(),
            _ => String::new(),
        };
        let values: Vec<String> = task
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        t.rows.push(
            [
                task.instance.clone(),
                task.status.clone(),
                secs,
                task.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                task.attempts.to_string(),
                format!("{} ({})", task.resource, task.backend),
                match (&task.host, &task.job_id) {
                    (Some(h), Some(j)) => format!("{j}@{h}"),
                    _ => String::new(),
                },
                values.join(" "),
            ]
            .map(serde_json::Value::String)
            .to_vec(),
        );
    }
    for line in t.to_text().lines() {
        let _ = writeln!(out, "  {line}");
    }
    let failed: Vec<_> = view.tasks.iter().filter(|t| t.status == "failed").collect();
    for task in failed {
        let _ = writeln!(
            out,
            "  failed {}: {}",
            task.instance,
            task.message.clone().unwrap_or_default()
        );
    }
    if !view.metrics.is_empty() {
        let _ = writeln!(out, "\nmetrics:");
        for (task, name, value) in &view.metrics {
            let inst = view.task(*task).map_or("?", |t| t.instance.as_str());
            let _ = writeln!(out, "  {inst}.{name} = {value}");
        }
    }
    if !view.efficiency.is_empty() {
        let _ = writeln!(out, "\nefficiency (the cluster's accounting):");
        let mut named = Vec::new();
        for (task, u) in &view.efficiency {
            let inst = view.task(*task).map_or("?", |t| t.instance.as_str());
            let _ = writeln!(out, "  {inst}  {}", u.describe());
            named.push((inst.to_owned(), u.clone()));
        }
        for hint in super::efficiency::hints(&named) {
            let _ = writeln!(out, "  {hint}");
        }
    }
    let made: Vec<_> = view
        .artifacts
        .iter()
        .filter(|a| a.produced_by.is_some())
        .collect();
    if !made.is_empty() {
        let _ = writeln!(out, "\noutputs:");
        for a in made {
            let inst = a
                .produced_by
                .and_then(|p| view.task(p))
                .map_or("?", |t| t.instance.as_str());
            let digest = if a.digest.contains(':') {
                a.digest.chars().take(23).collect::<String>()
            } else {
                format!("blake3:{}", &a.digest[..a.digest.len().min(16)])
            };
            let _ = writeln!(
                out,
                "  {inst}.{}  {}  {digest}",
                a.name.clone().unwrap_or_default(),
                a.path,
            );
        }
    }
}

fn show_json(view: &query::RunView) -> serde_json::Value {
    use serde_json::json;
    json!({
        "run": view.run,
        "params": view.params.iter().map(|(n, t, v)| json!({"name": n, "type": t, "value": v})).collect::<Vec<_>>(),
        "tasks": view.tasks.iter().map(|t| json!({
            "id": t.id, "instance": t.instance, "call": t.call, "task": t.task, "status": t.status,
            "cache_key": t.cache_key, "argv": t.argv, "started_at": t.started_at, "ended_at": t.ended_at,
            "host": t.host, "exit_code": t.exit_code, "attempts": t.attempts, "backend": t.backend,
            "resource": t.resource, "job_id": t.job_id, "message": t.message,
            "values": t.values.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        })).collect::<Vec<_>>(),
        "artifacts": view.artifacts.iter().map(|a| json!({
            "id": a.id, "path": a.path, "digest": a.digest, "size": a.size, "is_dir": a.is_dir,
            "type": a.ty, "role": a.role, "name": a.name, "produced_by": a.produced_by,
        })).collect::<Vec<_>>(),
        "usages": view.usages.iter().map(|(t, a, i, program)| json!({"task": t, "artifact": a, "input": i, "used_as": if *program { "program" } else { "input" }})).collect::<Vec<_>>(),
        "metrics": view.metrics.iter().map(|(t, n, v)| json!({"task": t, "name": n, "value": v})).collect::<Vec<_>>(),
        "efficiency": view.efficiency.iter().map(|(t, u)| json!({
            "task": t, "elapsed_ms": u.elapsed_ms, "cpu_ms": u.cpu_ms, "max_rss": u.max_rss,
            "cpus": u.cpus, "mem": u.mem, "time_limit_s": u.time_limit_s,
        })).collect::<Vec<_>>(),
    })
}

pub fn query(args: QueryArgs) -> miette::Result<ExitCode> {
    let store = open(&args.store)?;
    let t = query::raw(&store, &args.sql).map_err(|e| miette!("{e}"))?;
    print(&t, args.format);
    Ok(ExitCode::SUCCESS)
}

pub fn models(args: ModelsArgs) -> miette::Result<ExitCode> {
    if let Some(action) = args.action {
        return super::models::action(action, &args.store, args.format);
    }
    let store = open(&args.store)?;
    if !args.all {
        let t = expc_prov::registry::list(&store).map_err(|e| miette!("{e}"))?;
        if !t.rows.is_empty() {
            print(&t, args.format);
            return Ok(ExitCode::SUCCESS);
        }
    }
    let t = query::models(&store).map_err(|e| miette!("{e}"))?;
    if t.rows.is_empty() && args.format == TableFormat::Table {
        eprintln!("no model recorded yet: a task output of type `Model<…>` is one");
    } else {
        if !args.all && args.format == TableFormat::Table {
            eprintln!(
                "no model registered yet (`register t.model as \"NAME\"` in a pipeline): the models tasks made are"
            );
        }
        print(&t, args.format);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn prov(args: ProvArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    match args.action {
        ProvAction::Ingest {
            dir,
            spec,
            program,
            run_dir,
        } => {
            let overrides = super::program::overrides_of(&program)?;
            let Some((ir, plan)) =
                super::program::program_and_plan(&spec, &overrides, &program, render)?
            else {
                return Ok(ExitCode::from(1));
            };
            let records = expc_run::hook::read_hook_records(&dir).map_err(|e| {
                miette!(help = "the hooks write one JSON object per line; a line cut short by a killed job can be removed", "cannot read the hook records: {e}")
            })?;
            let spec_dir = spec
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."))
                .to_path_buf();
            let run_dir = run_dir.unwrap_or_else(|| {
                dir.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."))
                    .to_path_buf()
            });
            let run_dir = std::fs::canonicalize(&run_dir).unwrap_or(run_dir);
            let meta = expc_prov::RunMeta::collect(&ir, &plan, &spec, &spec_dir);
            // Ingesting writes the store: `.expc` here unless told.
            let state = args
                .store
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(".expc"));
            let done = expc_run::ingest::instances(&ir, &plan, &records, &run_dir, &spec_dir)
                .and_then(|ingestion| {
                    expc_prov::ingest::ingest(&state, &plan, meta, ingestion, &run_dir)
                })
                .map_err(|e| miette!("cannot ingest `{}`: {e}", dir.display()))?;
            eprintln!(
                "ingested {} records as run {}: {} ran, {} failed, {} never started",
                records.len(),
                done.run_id,
                done.ran,
                done.failed,
                done.not_run
            );
            super::write_stdout(format!("{}\n", done.run_id).as_bytes())?;
            // Like `expc run`: recorded here, then sent to the shared store when one is set.
            if let Some(settings) = Settings::find(args.store.store.as_deref(), None, &spec_dir)
                .map_err(|e| miette!("{e}"))?
            {
                match super::run::send(&settings, &state) {
                    Ok((shown, pushed)) => eprintln!(
                        "shared store: sent {} run{} to {shown}",
                        pushed.sent.len(),
                        if pushed.sent.len() == 1 { "" } else { "s" }
                    ),
                    Err(e) => eprintln!(
                        "shared store: not sent: {e}. The run is recorded here; `expc prov push` sends it later"
                    ),
                }
            }
        }
        ProvAction::Push {
            mlflow: Some(url), ..
        } => {
            let state = find_state_dir(args.store.state_dir.as_deref(), None)?;
            let local = Store::open_read_only(&state).map_err(|e| miette!("{e}"))?;
            let p = expc_prov::mlflow::push(&local, &url).map_err(|e| miette!("{e}"))?;
            eprintln!(
                "sent {} run{} and {} model version{} to MLflow at {url}; {} run{} and {} version{} already there",
                p.runs_sent,
                if p.runs_sent == 1 { "" } else { "s" },
                p.versions_sent,
                if p.versions_sent == 1 { "" } else { "s" },
                p.runs_already,
                if p.runs_already == 1 { "" } else { "s" },
                p.versions_already,
                if p.versions_already == 1 { "" } else { "s" },
            );
        }
        ProvAction::Push { project, .. } => {
            let settings = Settings::find(args.store.store.as_deref(), project.as_deref(), Path::new("."))
                .map_err(|e| miette!("{e}"))?
                .ok_or_else(|| {
                    miette!(
                        help = "pass `--store postgres://user@host:5432/db`, set EXPC_STORE, or write `store = \"postgres://…\"` in expc-store.toml here",
                        "no shared store to push to"
                    )
                })?;
            let state = find_state_dir(args.store.state_dir.as_deref(), None)?;
            let local = Store::open_read_only(&state).map_err(|e| miette!("{e}"))?;
            let pushed = Shared::connect(&settings)
                .and_then(|mut shared| {
                    let pushed = shared.push(&local)?;
                    Ok((shared.shown.clone(), pushed))
                })
                .map_err(|e| miette!("{e}"))?;
            let (shown, pushed) = pushed;
            eprintln!(
                "sent {} run{} to {shown}; {} already there{}",
                pushed.sent.len(),
                if pushed.sent.len() == 1 { "" } else { "s" },
                pushed.already,
                if pushed.running > 0 {
                    format!("; {} still running, left for a later push", pushed.running)
                } else {
                    String::new()
                }
            );
            for id in &pushed.sent {
                super::write_stdout(format!("{id}\n").as_bytes())?;
            }
        }
        ProvAction::Export {
            run,
            format,
            output,
            license,
        } => {
            let store = open(&StoreArgs {
                state_dir: args.store.state_dir.clone(),
                spec: None,
                store: args.store.store.clone(),
            })?;
            let id = store.resolve_run(&run).map_err(|e| miette!("{e}"))?;
            let view = query::run(&store, &id).map_err(|e| miette!("{e}"))?;
            std::fs::create_dir_all(&output)
                .map_err(|e| miette!("cannot create `{}`: {e}", output.display()))?;
            match format {
                ProvFormat::ProvJson => {
                    let mut doc = expc_prov::export::prov_json(&view);
                    expc_prov::registry::add_to_prov(&store, &id, &mut doc)
                        .map_err(|e| miette!("{e}"))?;
                    let path = output.join("prov.json");
                    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
                    std::fs::write(&path, text)
                        .map_err(|e| miette!("cannot write `{}`: {e}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                ProvFormat::RoCrate => {
                    let s = expc_prov::export::ro_crate(&view, &output, license.as_deref())
                        .map_err(|e| {
                            miette!("cannot write the crate into `{}`: {e}", output.display())
                        })?;
                    eprintln!(
                        "wrote {} with {} files ({} bytes)",
                        output.join("ro-crate-metadata.json").display(),
                        s.files,
                        s.bytes
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `expc store`: keeping a shared store.
pub fn store(args: StoreAdminArgs) -> miette::Result<ExitCode> {
    let settings = Settings::find(args.store.as_deref(), None, Path::new("."))
        .map_err(|e| miette!("{e}"))?
        .ok_or_else(|| {
            miette!(
                help = "pass `--store postgres://user@host:5432/db`, or set EXPC_STORE",
                "no shared store given"
            )
        })?;
    let fail = |e: expc_prov::store::Error| miette!("{e}");
    match args.action {
        StoreAction::Init => {
            let shared = Shared::init(&settings).map_err(fail)?;
            eprintln!(
                "created an expc store (schema version {}) in {}, owned by `{}`: grant projects with `expc store grant PROJECT ROLE read|write|admin`",
                expc_prov::store::SCHEMA_VERSION,
                shared.shown,
                shared.user
            );
        }
        StoreAction::Migrate => {
            let from = Shared::migrate(&settings).map_err(fail)?;
            let to = expc_prov::store::SCHEMA_VERSION;
            if from == to {
                eprintln!("the store already has schema version {to}: nothing to do");
            } else {
                eprintln!("migrated the store from schema version {from} to {to}");
            }
        }
        StoreAction::Grant {
            project,
            role,
            level,
        } => {
            let mut shared = Shared::connect(&settings).map_err(fail)?;
            shared.grant(&project, &role, &level).map_err(fail)?;
            eprintln!("`{role}` may now {level} project `{project}`");
        }
        StoreAction::Revoke { project, role } => {
            let mut shared = Shared::connect(&settings).map_err(fail)?;
            if shared.revoke(&project, &role).map_err(fail)? {
                eprintln!("`{role}` no longer has access to project `{project}`");
            } else {
                eprintln!("`{role}` had no access to project `{project}`: nothing to revoke");
            }
        }
        StoreAction::Members { format } => {
            let mut shared = Shared::connect(&settings).map_err(fail)?;
            print(&shared.members().map_err(fail)?, format);
        }
    }
    Ok(ExitCode::SUCCESS)
}
