//! `expc init [DIR]`: a new project that checks and runs at once — a spec with a param,
//! a sweep, two tasks and a gather, its scripts, a `.gitignore` for the state folder, a
//! README with the next commands and editor settings recommending the extension;
//! `--template slurm` and `--template spark` place the simulations on a cluster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr, miette};

use crate::cli::{InitArgs, InitTemplate};

const SPEC: &str = include_str!("init/experiment.exp");
const README: &str = include_str!("init/README.md");
const SIMULATE_PY: &str = include_str!("init/simulate.py");
const SIMULATE_SPARK_PY: &str = include_str!("init/simulate_spark.py");
const SIMULATE_TASK: &str = include_str!("init/simulate_task.exp");
const SIMULATE_TASK_SPARK: &str = include_str!("init/simulate_task_spark.exp");
const SUMMARISE_PY: &str = include_str!("init/summarise.py");
const GITIGNORE: &str = "# expc's state: cache, results and provenance of the runs here.\n.expc/\n";
const EXTENSIONS: &str = "{\n  \"recommendations\": [\"expc.expc\"]\n}\n";

pub fn run(args: InitArgs) -> miette::Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let name = experiment_name(&dir);
    let spec = format!("{name}.exp");
    let files = project_files(&name, &spec, args.template);
    let taken: Vec<&str> = files
        .iter()
        .map(|(path, _)| path.as_str())
        .filter(|path| dir.join(path).exists())
        .collect();
    if !args.force {
        let others = entries(&dir)?;
        if !others.is_empty() {
            return Err(miette!(
                help = "choose a new or empty folder, or pass `--force` to add the project's files here (existing files of the same names are kept)",
                "`{}` is not empty: it holds {}",
                dir.display(),
                shown(&others)
            ));
        }
    }
    let mut written = Vec::new();
    for (path, text) in &files {
        if taken.contains(&path.as_str()) {
            continue;
        }
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&target, text)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write `{}`", target.display()))?;
        written.push(path.as_str());
    }
    let mut out = format!(
        "made the experiment `{name}` in {}: {}\n",
        dir.display(),
        written.join(", ")
    );
    if !taken.is_empty() {
        out.push_str(&format!("kept as they were: {}\n", taken.join(", ")));
    }
    let at = if dir == Path::new(".") {
        spec.clone()
    } else {
        dir.join(&spec).display().to_string()
    };
    // As a shell would need it typed.
    let at = if at.contains(|c: char| !(c.is_ascii_alphanumeric() || "/._-".contains(c))) {
        format!("'{}'", at.replace('\'', "'\\''"))
    } else {
        at
    };
    out.push_str(&format!(
        "next: `expc check {at}`, then `expc run {}{at}`\n",
        if args.template == InitTemplate::Local {
            ""
        } else {
            "--local "
        }
    ));
    super::write_stdout(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// How a template differs from the others: what it imports and declares, where the
/// simulations go, how the README says to run them, and the simulation task and program.
struct Variant {
    imports: &'static str,
    resource: &'static str,
    placed_on: &'static str,
    run: &'static str,
    simulate_task: &'static str,
    simulate_program: (&'static str, &'static str),
}

fn variant(template: InitTemplate) -> Variant {
    let local_program = ("scripts/simulate.py", SIMULATE_PY);
    match template {
        InitTemplate::Local => Variant {
            imports: "Local",
            resource: "",
            placed_on: "laptop",
            run: "expc run SPEC          # six simulations and a summary, here",
            simulate_task: SIMULATE_TASK,
            simulate_program: local_program,
        },
        InitTemplate::Slurm => Variant {
            imports: "Local, Slurm",
            resource: "\n/// A partition of a Slurm cluster: set it to yours (`sinfo -s` lists them).\nresource cluster = Slurm {\n  partition = \"debug\"\n}\n",
            placed_on: "cluster",
            run: "expc run --local SPEC  # everything here; without --local the simulations go to Slurm",
            simulate_task: SIMULATE_TASK,
            simulate_program: local_program,
        },
        InitTemplate::Spark => Variant {
            imports: "Local, Spark",
            resource: "\n/// A Spark cluster: set `master` to yours (`spark://HOST:7077`, `yarn`, `k8s://…`).\nresource cluster = Spark {\n  master = \"spark://spark-master:7077\"\n  executors = 2\n}\n",
            placed_on: "cluster",
            run: "expc run --local SPEC  # the simulations on spark-submit --master local[N] (pip install pyspark); without --local on the cluster",
            simulate_task: SIMULATE_TASK_SPARK,
            simulate_program: ("jobs/simulate.py", SIMULATE_SPARK_PY),
        },
    }
}

/// The project's files, by path inside its folder, for `template`.
fn project_files(name: &str, spec: &str, template: InitTemplate) -> Vec<(String, String)> {
    let v = variant(template);
    let text = SPEC
        .replace("SIMULATE_TASK\n", &format!("{}\n", v.simulate_task))
        .replace("NAME", name)
        .replace("IMPORTS", v.imports)
        .replace("RESOURCE\n", v.resource)
        .replace("WHERE", v.placed_on)
        .replace("SPEC", spec);
    let (program_path, program) = v.simulate_program;
    let readme = README
        .replace("SIMULATE_PROGRAM", program_path)
        .replace("RUN_COMMAND", v.run)
        .replace("NAME", name)
        .replace("SPEC", spec);
    vec![
        (spec.to_owned(), text),
        (program_path.to_owned(), program.to_owned()),
        ("scripts/summarise.py".to_owned(), SUMMARISE_PY.to_owned()),
        ("README.md".to_owned(), readme),
        (".gitignore".to_owned(), GITIGNORE.to_owned()),
        (".vscode/extensions.json".to_owned(), EXTENSIONS.to_owned()),
    ]
}

/// The experiment's name from its folder's: lowercase letters, digits and `_`, starting
/// with a letter (`My Study-2` → `my_study_2`).
fn experiment_name(dir: &Path) -> String {
    let folder = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut name: String = folder
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    name = name.trim_matches('_').to_owned();
    while name.contains("__") {
        name = name.replace("__", "_");
    }
    if name.is_empty() {
        return "experiment".to_owned();
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "e_");
    }
    name
}

/// What a folder holds, by name, sorted; nothing when it does not exist yet.
fn entries(dir: &Path) -> miette::Result<Vec<String>> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = read
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// A few names, and how many more.
fn shown(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(3)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 3 {
        s.push_str(&format!(" and {} more", names.len() - 3));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::experiment_name;
    use std::path::Path;

    #[test]
    fn a_folder_name_becomes_an_identifier() {
        for (folder, name) in [
            ("/x/My Study-2", "my_study_2"),
            ("/x/2024 runs", "e_2024_runs"),
            ("/x/--", "experiment"),
            ("/x/sim", "sim"),
        ] {
            assert_eq!(experiment_name(Path::new(folder)), name, "{folder}");
        }
    }
}
