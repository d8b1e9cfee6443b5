//! `--target all`: the artifacts of every engine a pipeline is placed on, each under its
//! own folder (`local/`, `slurm/`, `spark/`, `k8s/`, built as that target alone builds
//! them), and a top-level `submit.sh` that runs the parts in dependency order.
//!
//! The parts hand data over by location, as the backends already agree: instance INDEX of
//! job KEY works in `RUN_DIR/KEY/INDEX/` and leaves its outputs there, and every script
//! reads its inputs at `RUN_DIR/UPSTREAM/INDEX/OUTPUT`. The top-level script runs the jobs
//! in waves — a job starts once every job it reads has completed, whatever engine ran it —
//! and stops at the first wave with a failure. Slurm jobs are submitted with
//! `sbatch --wait`, Kubernetes Jobs applied and waited for, Spark and local jobs run with
//! bash, one instance after another for Spark and as many at once as the machine has CPUs
//! for local jobs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use expc_check::ir::{self, Backend};
use expc_plan::plan::Plan;

use crate::k8s::{self, K8sOptions};
use crate::quote::quote;
use crate::slurm::{self, SlurmOptions, argv::job_dir};
use crate::spark::{self, SparkOptions};
use crate::{Artifact, BuildError};

#[derive(Clone, Debug, Default)]
pub struct AllOptions {
    /// The folder the spec's relative data paths are resolved against where the jobs run.
    pub spec_dir: String,
    /// Slurm templates replacing the built-in ones (see [`SlurmOptions::templates`]).
    pub templates: BTreeMap<String, String>,
}

/// How the top-level script runs one job.
enum Step {
    /// `run_local LABEL SCRIPT FIRST COUNT`: instances FIRST.. of a local script.
    Local {
        script: String,
        first: u64,
        count: u64,
    },
    /// `run_slurm LABEL SCRIPT LOG`, one per array chunk.
    Slurm { script: String, log: String },
    /// `run_spark LABEL SCRIPT COUNT`.
    Spark { script: String, count: u64 },
    /// `run_k8s LABEL FILE NAMESPACE NAME SECONDS`.
    K8s {
        file: String,
        namespace: String,
        name: String,
        seconds: u64,
    },
}

/// Builds every part and the top-level `submit.sh`. Fails, changing nothing, when any
/// part cannot be built.
pub fn build(
    program: &ir::Program,
    plan: &Plan,
    opts: &AllOptions,
) -> Result<Vec<Artifact>, BuildError> {
    let used = |b: Backend| plan.jobs.iter().any(|j| j.backend == b);
    let mut artifacts = Vec::new();
    let mut steps: BTreeMap<usize, Vec<Step>> = BTreeMap::new();
    let mut secret_checks = String::new();

    if used(Backend::Local) {
        let built = slurm::build(
            program,
            plan,
            &SlurmOptions {
                spec_dir: opts.spec_dir.clone(),
                templates: opts.templates.clone(),
                local: true,
            },
        )?;
        artifacts.extend(part("local", built, |p| p.starts_with("jobs/")));
        for s in slurm::scripts_for(program, plan, Backend::Local)? {
            let (first, count) = s.chunk.map_or((0, 1), |c| (c.offset, c.count));
            steps.entry(s.job).or_default().push(Step::Local {
                script: format!("local/jobs/{}", s.file),
                first,
                count,
            });
        }
    }
    if used(Backend::Slurm) {
        let built = slurm::build(
            program,
            plan,
            &SlurmOptions {
                spec_dir: opts.spec_dir.clone(),
                templates: opts.templates.clone(),
                local: false,
            },
        )?;
        artifacts.extend(part("slurm", built, |p| p != "plan.json"));
        for s in slurm::scripts(program, plan)? {
            let stem = s.file.trim_end_matches(".sbatch");
            let log = match s.chunk {
                Some(_) => format!("{stem}-%A_%a.out"),
                None => format!("{stem}-%j.out"),
            };
            steps.entry(s.job).or_default().push(Step::Slurm {
                script: format!("slurm/jobs/{}", s.file),
                log,
            });
        }
    }
    if used(Backend::Spark) {
        let built = spark::build(
            program,
            plan,
            &SparkOptions {
                spec_dir: opts.spec_dir.clone(),
            },
        )?;
        for (j, job) in plan.jobs.iter().enumerate() {
            if job.backend != Backend::Spark {
                continue;
            }
            let script = format!("jobs/{}.sh", job_dir(&job.key));
            if !built.iter().any(|a| a.path == script) {
                return Err(BuildError::new(
                    format!("the Spark build wrote no `{script}` for `{}`", job.key),
                    "report this as a bug".into(),
                ));
            }
            steps.entry(j).or_default().push(Step::Spark {
                script: format!("spark/{script}"),
                count: job.instances,
            });
        }
        artifacts.extend(part("spark", built, |p| p != "plan.json"));
    }
    if used(Backend::Kubernetes) {
        let k8s_opts = K8sOptions {
            spec_dir: opts.spec_dir.clone(),
            live: None,
        };
        let built = k8s::build(program, plan, &k8s_opts)?;
        secret_checks = k8s::secret_checks(program, plan, &k8s_opts)?;
        for r in k8s::job_refs(program, plan, &k8s_opts)? {
            steps.entry(r.job).or_default().push(Step::K8s {
                file: format!("k8s/{}", r.file),
                namespace: r.namespace,
                name: r.name,
                seconds: r.seconds,
            });
        }
        artifacts.extend(part("k8s", built, |p| p != "plan.json"));
    }

    artifacts.push(crate::cases::plan_json(plan)?);
    artifacts.push(Artifact {
        path: "submit.sh".into(),
        contents: submit_script(
            plan,
            opts,
            &steps,
            used(Backend::Kubernetes),
            &secret_checks,
        ),
        executable: true,
    });
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(artifacts)
}

/// The files of one part under `dir/`, those `keep` accepts.
fn part(
    dir: &str,
    built: Vec<Artifact>,
    keep: impl Fn(&str) -> bool,
) -> impl Iterator<Item = Artifact> {
    built
        .into_iter()
        .filter(move |a| keep(&a.path))
        .map(move |a| Artifact {
            path: format!("{dir}/{}", a.path),
            ..a
        })
}

/// Each job's wave: one more than the latest wave of the jobs it reads.
fn waves(plan: &Plan) -> Vec<Vec<usize>> {
    let mut wave = vec![0usize; plan.jobs.len()];
    for (j, job) in plan.jobs.iter().enumerate() {
        wave[j] = job
            .after
            .iter()
            .filter_map(|d| plan.position(&d.job))
            .map(|p| wave[p] + 1)
            .max()
            .unwrap_or(0);
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (j, w) in wave.into_iter().enumerate() {
        if out.len() <= w {
            out.resize(w + 1, Vec::new());
        }
        out[w].push(j);
    }
    out
}

fn submit_script(
    plan: &Plan,
    opts: &AllOptions,
    steps: &BTreeMap<usize, Vec<Step>>,
    k8s: bool,
    secret_checks: &str,
) -> String {
    let mut s = String::new();
    let title = crate::cases::title(plan);
    let _ = write!(
        s,
        r#"#!/bin/bash
# Runs every part of {title} in dependency order, on the engine each job is
# placed on: local jobs here (local/), Slurm jobs with `sbatch --wait` (slurm/), Spark jobs
# with spark-submit (spark/), Kubernetes Jobs with kubectl (k8s/). A job starts once every
# job it reads has completed; the first wave with a failure stops the run.
# Written by `expc build --target all` from {root}; rebuild rather than edit.
#
#   ./submit.sh [RUN_DIR]
#
# RUN_DIR (default: run/ beside this script) is where the parts hand data to each other:
# instance INDEX of job KEY writes its outputs to RUN_DIR/KEY/INDEX/, where the jobs after
# it read them. Slurm's compute nodes must see it (a shared filesystem), and so must the
# Kubernetes run volume (see k8s/). The provenance hooks write to $EXPC_PROV_DIR (default:
# RUN_DIR/provenance), for `expc prov ingest`; logs go to RUN_DIR/logs/. Data paths are
# resolved against $EXPC_SPEC_DIR (default: the spec's folder at build time).
set -euo pipefail

build_dir=$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)
spec_dir={spec_dir}
if [ -n "${{EXPC_SPEC_DIR:-}}" ]; then
  spec_dir=$EXPC_SPEC_DIR
fi
run_dir=${{1:-$build_dir/run}}
mkdir -p "$run_dir/logs"
run_dir=$(cd "$run_dir" && pwd)
prov_dir=${{EXPC_PROV_DIR:-$run_dir/provenance}}
mkdir -p "$prov_dir"
prov_dir=$(cd "$prov_dir" && pwd)
case "$run_dir$prov_dir" in
  *%* | *$'\n'*)
    echo "submit.sh: the run and provenance directories cannot contain \`%\` or a newline (Slurm expands % in log paths): $run_dir" >&2
    exit 2
    ;;
esac
"#,
        root = plan.root,
        spec_dir = quote(&opts.spec_dir),
    );
    let needs: &[(&str, bool, &str)] = &[
        (
            "sbatch",
            steps
                .values()
                .flatten()
                .any(|s| matches!(s, Step::Slurm { .. })),
            "run this where Slurm's commands are (a login node)",
        ),
        (
            "kubectl",
            k8s,
            "install it and select the cluster's context",
        ),
    ];
    for (program, needed, what) in needs {
        if *needed {
            let _ = writeln!(
                s,
                "if ! command -v {program} >/dev/null 2>&1; then\n  echo \"submit.sh: {program} is not on PATH; {what}\" >&2\n  exit 2\nfi"
            );
        }
    }
    s.push_str(secret_checks);
    s.push_str(FUNCTIONS);
    if k8s {
        s.push_str("\nkubectl apply -f \"$build_dir/k8s/expc-wrapper.yaml\" >/dev/null\n");
    }
    let all = waves(plan);
    let total = all
        .iter()
        .filter(|w| w.iter().any(|j| steps.contains_key(j)))
        .count();
    let mut n = 0;
    for wave in &all {
        let jobs: Vec<usize> = wave
            .iter()
            .copied()
            .filter(|j| steps.contains_key(j))
            .collect();
        if jobs.is_empty() {
            continue;
        }
        n += 1;
        let names: Vec<String> = jobs
            .iter()
            .map(|&j| {
                let job = &plan.jobs[j];
                format!(
                    "{} ({})",
                    job.key,
                    expc_plan::lower::backend_name(job.backend)
                )
            })
            .collect();
        let _ = writeln!(s, "\n# Wave {n} of {total}: {}", names.join(", "));
        for &j in &jobs {
            let label = quote(&plan.jobs[j].key);
            for step in &steps[&j] {
                let line = match step {
                    Step::Local {
                        script,
                        first,
                        count,
                    } => format!("run_local {label} {} {first} {count}", quote(script)),
                    Step::Slurm { script, log } => {
                        format!("run_slurm {label} {} {}", quote(script), quote(log))
                    }
                    Step::Spark { script, count } => {
                        format!("run_spark {label} {} {count}", quote(script))
                    }
                    Step::K8s {
                        file,
                        namespace,
                        name,
                        seconds,
                    } => format!(
                        "run_k8s {label} {} {} {} {seconds}",
                        quote(file),
                        quote(namespace),
                        quote(name)
                    ),
                };
                let _ = writeln!(s, "{line} &\npids+=($!)");
            }
        }
        let _ = writeln!(s, "wait_wave {n}");
    }
    let _ = writeln!(
        s,
        "\necho \"submit.sh: every job completed; outputs in $run_dir, provenance in $prov_dir\""
    );
    s
}

/// The shell functions of the top-level script: one per engine, and the wait of a wave.
const FUNCTIONS: &str = r#"
pids=()

# wait_wave N: waits for every job of the wave; stops the run when one failed.
wait_wave() {
  local failed=0 pid
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
  pids=()
  if [ "$failed" -ne 0 ]; then
    echo "submit.sh: a job of wave $1 failed; the jobs after it were not started" >&2
    exit 1
  fi
}

# run_local LABEL SCRIPT FIRST COUNT: instances FIRST..FIRST+COUNT-1 of a local job, as
# many at once as this machine has CPUs.
run_local() {
  local label=$1 script=$2 first=$3 count=$4 i pid failed=0 running=()
  local cpus
  cpus=$(nproc 2>/dev/null || echo 1)
  echo "$label: running $count instance(s) here"
  for ((i = first; i < first + count; i++)); do
    bash "$build_dir/$script" "$spec_dir" "$run_dir" "$prov_dir" "$i" \
      >"$run_dir/logs/$label-$i.out" 2>&1 &
    running+=($!)
    if [ ${#running[@]} -ge "$cpus" ]; then
      wait "${running[0]}" || failed=1
      running=("${running[@]:1}")
    fi
  done
  for pid in "${running[@]}"; do
    wait "$pid" || failed=1
  done
  if [ "$failed" -ne 0 ]; then
    echo "submit.sh: $label failed here; see $run_dir/logs/$label-*.out" >&2
    return 1
  fi
  echo "$label completed"
}

# run_slurm LABEL SCRIPT LOG: submits one script and waits until all its tasks ended.
run_slurm() {
  local label=$1 script=$2 log=$3
  echo "$label: submitting $script to Slurm"
  if ! sbatch --wait --parsable "--output=$run_dir/logs/$log" "$build_dir/$script" \
    "$spec_dir" "$run_dir" "$prov_dir" >/dev/null; then
    echo "submit.sh: $label did not complete on Slurm; see $run_dir/logs/ and sacct" >&2
    return 1
  fi
  echo "$label completed"
}

# run_spark LABEL SCRIPT COUNT: instances 0..COUNT-1 of a Spark job, one after another.
run_spark() {
  local label=$1 script=$2 count=$3 i
  for ((i = 0; i < count; i++)); do
    echo "$label: instance $i: spark-submit ($script)"
    if ! bash "$build_dir/$script" "$spec_dir" "$run_dir" "$prov_dir" "$i"; then
      echo "submit.sh: $label instance $i failed on Spark" >&2
      return 1
    fi
  done
  echo "$label completed"
}

# run_k8s LABEL FILE NAMESPACE NAME SECONDS: applies a Job and waits until it completed.
run_k8s() {
  local label=$1 file=$2 ns=$3 name=$4 limit=${EXPC_WAIT_TIMEOUT:-$5} failed
  local deadline=$((SECONDS + limit))
  if ! kubectl apply -f "$build_dir/$file" >/dev/null; then
    echo "submit.sh: kubectl apply failed for $label ($file)" >&2
    return 1
  fi
  echo "$label: waiting for job/$name in $ns (up to ${limit}s)"
  until kubectl wait --for=condition=complete --timeout=30s -n "$ns" "job/$name" >/dev/null 2>&1; do
    failed=$(kubectl get job -n "$ns" "$name" -o 'jsonpath={.status.conditions[?(@.type=="Failed")].status}' 2>/dev/null || true)
    if [ "$failed" = True ]; then
      echo "submit.sh: $label failed (job/$name in $ns); see: kubectl logs -n $ns job/$name" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "submit.sh: $label did not complete within ${limit}s (job/$name in $ns)" >&2
      return 1
    fi
  done
  echo "$label completed"
}
"#;
