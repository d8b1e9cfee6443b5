//! `expc build`: submission artifacts written to a directory.

mod out_dir;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use expc_build::BuildError;
use expc_build::all::{self, AllOptions};
use expc_build::k8s::{self, K8sOptions};
use expc_build::slurm::{self, SlurmOptions};
use expc_build::spark::{self, SparkOptions};
use expc_diagnostics::render::RenderOptions;
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::cli::{BuildArgs, BuildTarget};

pub fn run(args: BuildArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let overrides = super::program::overrides_of(&args.program)?;
    let Some((program, plan)) =
        super::program::program_and_plan(&args.file, &overrides, &args.program, render)?
    else {
        return Ok(ExitCode::from(1));
    };
    if let Some(k) = expc_plan::expansion::unexpanded(&program, &plan).first() {
        let jobs: Vec<&str> = plan
            .jobs
            .iter()
            .filter(|j| j.known_after.as_ref() == Some(k))
            .map(|j| j.key.as_str())
            .collect();
        return Err(miette!(
            help = "run it with `expc run`, which expands the loop when the list is made; nothing was written",
            "cannot build `{}`: {} loops over {}, whose files are known only after `{}` has run, and `expc build` does not yet write scripts that expand at submit time",
            args.file.display(),
            jobs.join(", "),
            k.list,
            k.call
        ));
    }
    let templates = match &args.templates {
        Some(dir) => read_templates(dir)?,
        None => BTreeMap::new(),
    };
    let spec_dir = match args.spec_dir {
        Some(d) => d,
        None => {
            let parent = args
                .file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let abs = std::fs::canonicalize(parent)
                .into_diagnostic()
                .wrap_err_with(|| {
                    format!("cannot resolve the folder of `{}`", args.file.display())
                })?;
            abs.to_str()
                .ok_or_else(|| {
                    miette!(
                        help = "pass the folder with `--spec-dir DIR`",
                        "the folder `{}` is not valid UTF-8",
                        abs.display()
                    )
                })?
                .to_owned()
        }
    };
    let what = format!("`{}`", args.file.display());
    let (artifacts, summary) = match args.target {
        BuildTarget::Slurm => {
            let built = slurm::build(
                &program,
                &plan,
                &SlurmOptions {
                    spec_dir,
                    templates,
                    local: false,
                },
            )
            .map_err(|e| refused("Slurm", &what, e))?;
            let scripts = built.iter().filter(|a| a.path.starts_with("jobs/")).count();
            let summary = format!(
                "{} sbatch script{}, submit.sh and plan.json",
                scripts,
                if scripts == 1 { "" } else { "s" }
            );
            (built, summary)
        }
        BuildTarget::Spark => {
            let built = spark::build(&program, &plan, &SparkOptions { spec_dir })
                .map_err(|e| refused("Spark", &what, e))?;
            let summary = format!("{} files", built.len());
            (built, summary)
        }
        BuildTarget::All => {
            let built = all::build(
                &program,
                &plan,
                &AllOptions {
                    spec_dir,
                    templates,
                },
            )
            .map_err(|e| refused("the", &what, e))?;
            let parts: Vec<&str> = ["local", "slurm", "spark", "k8s"]
                .into_iter()
                .filter(|p| built.iter().any(|a| a.path.starts_with(&format!("{p}/"))))
                .collect();
            let summary = format!(
                "{} {} ({}), submit.sh and plan.json",
                if parts.len() == 1 {
                    "the part"
                } else {
                    "the parts"
                },
                expc_plan::diff::and_list(&parts),
                if parts.len() == 1 {
                    "a folder"
                } else {
                    "one folder each"
                },
            );
            (built, summary)
        }
        BuildTarget::K8s => {
            let built = k8s::build(
                &program,
                &plan,
                &K8sOptions {
                    spec_dir,
                    live: None,
                },
            )
            .map_err(|e| refused("Kubernetes", &what, e))?;
            let summary = format!("{} files", built.len());
            (built, summary)
        }
    };
    out_dir::write(&args.out, &artifacts, args.force)?;
    eprintln!(
        "wrote {summary} to {}; submit with {}/submit.sh",
        args.out.display(),
        args.out.display()
    );
    for w in &plan.warnings {
        eprintln!("note: {w}");
    }
    std::mem::forget(plan);
    std::mem::forget(program);
    Ok(ExitCode::SUCCESS)
}

/// The template files of `dir`, by name; a file ending in `.hbs` that is not a template
/// name is an error, so a misspelled override is not silently ignored.
fn read_templates(dir: &Path) -> miette::Result<BTreeMap<String, String>> {
    let known: Vec<&str> = slurm::TEMPLATES.iter().map(|(n, _)| *n).collect();
    let entries = std::fs::read_dir(dir)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read the templates directory `{}`", dir.display()))?;
    let mut out = BTreeMap::new();
    for entry in entries {
        let path = entry.into_diagnostic()?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".hbs") {
            continue;
        }
        if !known.contains(&name) {
            return Err(miette!(
                help = format!("the templates are {}", known.join(", ")),
                "`{}` is not a template expc knows",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(&path)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot read the template `{}`", path.display()))?;
        out.insert(name.to_owned(), text);
    }
    Ok(out)
}

/// The error of a generator, said for the user.
fn refused(engine: &str, what: &str, e: BuildError) -> miette::Report {
    miette!(
        help = e.help.clone(),
        "cannot build {engine} artifacts for {what}: {}; nothing was written",
        e.message
    )
}
