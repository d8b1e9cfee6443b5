//! One instance, one command: what a generated script runs and what `expc run` executes
//! and records are the same argv.
//!
//! Both come from one evaluator (`expc_plan::command`); the generators write its places
//! as script variables, the run as the paths of the engine an instance runs on. These
//! tests hold the two renderings to each other on every spec in the checkout, and hold
//! what a run records to what its processes really received: here, on the real Slurm
//! cluster (`scripts/dev-slurm.sh up`) and on Kubernetes through the `kubectl` stand-in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use expc_build::quote::Segment;
use expc_build::slurm::argv::{ScriptCommands, job_dir};
use expc_check::ir;
use expc_plan::plan::Plan;
use expc_run::resolve::{Outputs, Resolver, Site, SparkSubmit};
use expc_tests::{Engine, Suite};

pub fn trials(suite: &mut Suite) {
    suite.test(
        "the_build_and_the_run_give_every_instance_the_same_command",
        the_build_and_the_run_give_every_instance_the_same_command,
    );
    suite.test(
        "a_run_here_records_the_argv_its_processes_receive",
        a_run_here_records_the_argv_its_processes_receive,
    );
    suite.needs(
        Engine::Slurm,
        "a_run_on_slurm_records_the_argv_its_jobs_receive",
        a_run_on_slurm_records_the_argv_its_jobs_receive,
    );
    suite.needs(
        Engine::KubectlStandIn,
        "a_run_on_kubernetes_records_the_argv_its_pods_receive",
        a_run_on_kubernetes_records_the_argv_its_pods_receive,
    );
}

/// Every spec in the checkout that plans: the examples and the test fixtures.
fn planned_specs() -> Vec<(PathBuf, ir::Program, Plan)> {
    let root = expc_tests::root();
    let mut specs = expc_tests::files("examples", "exp");
    specs.extend(expc_tests::files("tests", "exp"));
    let mut out = Vec::new();
    for path in specs {
        let mut sources = expc_diagnostics::SourceMap::new();
        let loader = expc_check::FsLoader;
        let Ok((file, _)) = expc_check::load_root(&path, &loader, &mut sources) else {
            continue;
        };
        let overrides = expc_check::Overrides::new();
        let checked = expc_check::check(&path, file, &mut sources, &loader, &overrides);
        let Some(program) = checked.program else {
            continue;
        };
        let Some(pipeline) = program.pipelines.first().map(|p| p.id.clone()) else {
            continue;
        };
        if let Some(plan) = expc_plan::lower(&program, &pipeline, file).plan {
            out.push((
                path.strip_prefix(&root).unwrap_or(&path).to_path_buf(),
                program,
                plan,
            ));
        }
    }
    out
}

/// A script's word with its variables given their values.
fn substitute(word: &[Segment], vars: &BTreeMap<&str, String>) -> String {
    word.iter()
        .map(|s| match s {
            Segment::Text(t) => t.clone(),
            Segment::Var(v) => vars
                .get(v.as_str())
                .cloned()
                .unwrap_or_else(|| format!("${v}")),
        })
        .collect()
}

/// For every instance of every spec (the first two and the last of each job), the argv
/// and variables the generated script runs, with its run-time directories given values,
/// are byte for byte the argv and variables the run resolves for an engine with those
/// directories.
fn the_build_and_the_run_give_every_instance_the_same_command() {
    let specs = planned_specs();
    assert!(
        specs.len() >= 20,
        "found only {} specs that plan",
        specs.len()
    );
    let mut compared = 0;
    for (path, program, plan) in &specs {
        let script = ScriptCommands::new(program, plan);
        let spark = ScriptCommands::for_spark(program, plan);
        let resolver = Resolver::new(program, plan, PathBuf::from("/S"));
        let submit = SparkSubmit::local("local[2]");
        for (j, job) in plan.jobs.iter().enumerate() {
            let last = job.instances.saturating_sub(1);
            let mut indices = vec![0, 1.min(last), last];
            indices.dedup();
            for index in indices.into_iter().filter(|i| *i < job.instances) {
                let work = format!("/R/{}/{index}", job_dir(&job.key));
                let site = Site {
                    spec_dir: "/S".into(),
                    work: PathBuf::from(&work),
                    run_dir: Some("/R".into()),
                    spark: Some(submit.clone()),
                };
                let vars = BTreeMap::from([
                    ("spec_dir", "/S".to_owned()),
                    ("run_dir", "/R".to_owned()),
                    ("work", work.clone()),
                ]);
                let is_spark = matches!(
                    program
                        .tasks
                        .iter()
                        .find(|t| t.id == job.task)
                        .map(|t| &t.command),
                    Some(ir::Command::Spark { .. })
                );
                let built = if is_spark { &spark } else { &script }.command(j, index);
                let resolved = resolver.argv(j, index, &site, &Outputs::default());
                let (built, mut resolved) = match (built, resolved) {
                    (Ok(b), Ok(r)) => (b, r),
                    (Err(b), Err(_)) => {
                        // A command neither can make (no command): the same for both.
                        assert!(!b.is_empty());
                        continue;
                    }
                    (b, r) => panic!(
                        "{}: `{}`[{index}]: the build gives {b:?}, the run {r:?}",
                        path.display(),
                        job.key
                    ),
                };
                if is_spark {
                    // The run puts `spark-submit` and its options first; the script too,
                    // from its own template.
                    let prefix = resolved.len() - built.argv.len();
                    assert_eq!(&resolved[..3], ["spark-submit", "--master", "local[2]"]);
                    resolved.drain(..prefix);
                }
                let from_script: Vec<String> =
                    built.argv.iter().map(|w| substitute(w, &vars)).collect();
                assert_eq!(
                    from_script,
                    resolved,
                    "{}: `{}`[{index}]: the script's argv and the run's differ",
                    path.display(),
                    job.key
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 100, "compared only {compared} instances");
}

/// A project in a temporary folder running `tests/commands/argv.exp` with its calls
/// placed on `place` (`here`, `cluster` for Slurm, `cloud` for Kubernetes).
struct Project {
    dir: PathBuf,
    spec: PathBuf,
    state: PathBuf,
}

impl Project {
    fn new(test: &str, place: &str) -> Project {
        let dir = expc_tests::temp_path("commands", test);
        let spec_dir = dir.join("spec");
        let shared = dir.join("shared");
        std::fs::create_dir_all(&spec_dir).unwrap();
        std::fs::create_dir_all(&shared).unwrap();
        let root = expc_tests::root();
        for f in ["argv.py", "input.txt"] {
            std::fs::copy(root.join("tests/commands").join(f), spec_dir.join(f)).unwrap();
        }
        let text = std::fs::read_to_string(root.join("tests/commands/argv.exp"))
            .unwrap()
            .replace("on here", &format!("on {place}"))
            .replace("/SHARED", shared.to_str().unwrap())
            .replace("/SPEC", spec_dir.to_str().unwrap());
        let spec = spec_dir.join("argv.exp");
        std::fs::write(&spec, text).unwrap();
        Project {
            state: dir.join("state"),
            dir,
            spec,
        }
    }

    fn run(&self, command: &mut Command) {
        let out = command
            .arg("run")
            .arg("--state-dir")
            .arg(&self.state)
            .arg(&self.spec)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "expc run failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// For every instance of the run: the argv provenance recorded, and the argv its
    /// process received (which it wrote to its output `argv`).
    fn recorded_and_received(&self) -> Vec<(String, Vec<String>, Vec<String>)> {
        let rows = expc_tests::query(
            &self.state,
            "SELECT t.instance AS name, t.argv, o.path FROM tasks t JOIN task_outputs o ON o.task_id = t.id AND o.run_id = t.run_id AND o.name = 'argv' ORDER BY t.instance",
        );
        rows.iter()
            .map(|row| {
                let name = row["name"].as_str().unwrap().to_owned();
                let recorded: Vec<String> =
                    serde_json::from_str(row["argv"].as_str().unwrap()).unwrap();
                let path = row["path"].as_str().unwrap();
                let received: Vec<String> =
                    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
                (name, recorded, received)
            })
            .collect()
    }

    /// Runs the spec and checks that every instance received what was recorded.
    fn check(&self, command: &mut Command) {
        self.run(command);
        let seen = self.recorded_and_received();
        assert_eq!(seen.len(), 5, "{seen:?}");
        for (name, recorded, received) in seen {
            // `python3 SCRIPT ARGS…` is recorded; the script receives `SCRIPT ARGS…`.
            assert_eq!(recorded[0], "python3", "{name}");
            assert_eq!(
                recorded[1..],
                received[..],
                "{name}: the run recorded one argv and the process received another"
            );
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        expc_tests::remove_tree(&self.dir);
    }
}

fn a_run_here_records_the_argv_its_processes_receive() {
    let p = Project::new("local", "here");
    p.check(&mut Command::new(expc_tests::expc()));
}

fn a_run_on_slurm_records_the_argv_its_jobs_receive() {
    let p = Project::new("slurm", "cluster");
    p.check(&mut Command::new(expc_tests::expc()));
}

fn a_run_on_kubernetes_records_the_argv_its_pods_receive() {
    let p = Project::new("k8s", "cloud");
    let bin = p.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(
        expc_tests::root().join("tests/k8s/kubectl-standin.py"),
        bin.join("kubectl"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    p.check(
        Command::new(expc_tests::expc())
            .env("PATH", path)
            .env("EXPC_STANDIN_DIR", p.dir.join("cluster")),
    );
}
