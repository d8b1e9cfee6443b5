//! Kubernetes artifacts of a plan: a `batch/v1` Job per Kubernetes-placed job (an Indexed
//! Job for a sweep), the ConfigMap holding each instance's argv, the wrapper that runs an
//! instance and records its provenance, a kustomization, an ordered `submit.sh` and
//! `plan.json`.
//!
//! Manifests are typed values ([`manifest`]) serialised to YAML; no value from a spec is
//! pasted into YAML text or into a container's `command`/`args`. Each instance's argv is
//! resolved by the same [`ScriptCommands`] as Slurm's, with the run-time directories known at
//! build time (they are mount points), and stored NUL-separated as `binaryData` of the
//! job's ConfigMap, one key per instance index. The wrapper (bash, from
//! `templates/k8s-wrapper.sh` and the Slurm hook) reads it with `mapfile -d ''`, so an
//! argument is never parsed by a shell nor expanded by Kubernetes (`$(VAR)` in `args`).
//! See docs/kubernetes.md for the layout and conventions.

mod jobs;
pub mod manifest;
pub mod names;
mod pod;
pub mod quantity;
mod submit;
mod volumes;

use std::collections::{BTreeMap, BTreeSet};

use expc_check::ir;
use expc_check::value::Value;
use expc_plan::plan::Plan;

use crate::{Artifact, BuildError};
use jobs::{Parts, parts, set_name};
use manifest::{ConfigMap, Kustomization, ObjectMeta};
use names::{MAX_LABEL, dns_label, hash_hex};
use submit::{secret_check_lines, submit_script};

#[derive(Clone, Debug, Default)]
pub struct K8sOptions {
    /// The folder the spec's relative data paths are resolved against where the Jobs run:
    /// a path inside the containers (a declared volume's mount, or the default spec
    /// claim's).
    pub spec_dir: String,
    /// Set by `expc run`: the run's own folder in the run volume (`run-…`). Instances then
    /// work in `RUN_DIR/FOLDER/` and record in `RUN_DIR/FOLDER/provenance/`, the Jobs
    /// carry the label `expc.dev/run`, and indices are retried on their own.
    pub live: Option<String>,
}

/// The wrapper every container runs: the argv reader, then the provenance hook shared
/// with Slurm.
pub fn wrapper_script() -> String {
    let mut s = include_str!("../templates/k8s-wrapper.sh").to_owned();
    s.push_str(include_str!("../templates/hook.sh.hbs"));
    s
}

/// The first field of a job's argv file; bumped on any change of the files' layout.
pub const ARGV_FORMAT: &str = "expc-k8s-1";

/// Where the wrapper and the argv files are mounted in every container.
pub const WRAPPER_DIR: &str = "/expc/wrapper";
pub const ARGV_DIR: &str = "/expc/argv";
/// Default mount points of the run and provenance volumes.
pub const RUN_DIR: &str = "/expc/run";
pub const PROV_DIR: &str = "/expc/provenance";
/// Volumes expc adds; a resource may replace `expc-run`, `expc-provenance` and
/// `expc-spec` by declaring a volume of that name.
pub const RUN_VOLUME: &str = "expc-run";
pub const PROV_VOLUME: &str = "expc-provenance";
pub const SPEC_VOLUME: &str = "expc-spec";
const WRAPPER_VOLUME: &str = "expc-wrapper";
const ARGV_VOLUME: &str = "expc-argv";
/// The claims used when the resource declares no run or spec volume.
pub const DEFAULT_RUN_CLAIM: &str = "expc-run";
pub const DEFAULT_SPEC_CLAIM: &str = "expc-spec";

/// Kubernetes refuses an Indexed Job of more completions or parallelism.
pub const MAX_INDEXED_COMPLETIONS: u64 = 100_000;
/// The most a ConfigMap may hold.
pub const MAX_CONFIGMAP_BYTES: usize = 1024 * 1024;
/// Label keys.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_EXPERIMENT: &str = "expc.dev/experiment";
pub const LABEL_JOB: &str = "expc.dev/job";
pub const LABEL_JOB_ID: &str = "expc.dev/job-id";
pub const LABEL_PLAN_ID: &str = "expc.dev/plan-id";
pub const LABEL_TASK: &str = "expc.dev/task";
pub const LABEL_RUN: &str = "expc.dev/run";

fn err(message: String, help: impl Into<String>) -> BuildError {
    BuildError::new(message, help.into())
}

/// A stable id of the plan: its experiment, pipeline and every job's key and id.
pub fn plan_id(plan: &Plan) -> String {
    let mut text = format!(
        "{}\n{}\n",
        plan.experiment.as_deref().unwrap_or(""),
        plan.pipeline
    );
    for j in &plan.jobs {
        text.push_str(&format!("{}={}\n", j.key, j.id));
    }
    hash_hex(text.as_bytes(), 16)
}

/// The name of the Secret a build's secrets are read from, and where it must exist.
pub fn secret_name(plan: &Plan) -> String {
    dns_label(
        &format!("{}-secrets", plan.experiment.as_deref().unwrap_or("expc")),
        MAX_LABEL,
    )
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn push_field(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn yaml<T: serde::Serialize>(value: &T) -> Result<String, BuildError> {
    expc_check::yaml::to_string(value).map_err(|e| {
        err(
            format!("a manifest could not be written as YAML: {e}"),
            "report this as a bug",
        )
    })
}

fn field<'a>(fields: &'a BTreeMap<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).filter(|v| !matches!(v, Value::None))
}

fn enum_name(v: &Value) -> Option<&str> {
    match v {
        Value::Enum(e) => Some(e.rsplit("::").next().unwrap_or(e)),
        Value::Str(s) => Some(s),
        _ => None,
    }
}

fn records(v: Option<&Value>) -> Vec<&BTreeMap<String, Value>> {
    v.and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| match r {
            Value::Record(_, f) => Some(f),
            _ => None,
        })
        .collect()
}

/// Builds the Kubernetes artifacts of `plan`: `plan.json`, `submit.sh`,
/// `kustomization.yaml`, `expc-wrapper.yaml` and `jobs/*.yaml`, sorted by path. Fails,
/// building nothing, when a job cannot be submitted as planned.
pub fn build(
    program: &ir::Program,
    plan: &Plan,
    opts: &K8sOptions,
) -> Result<Vec<Artifact>, BuildError> {
    let Parts {
        built,
        namespaces,
        secret_keys,
        secret,
        wrapper,
        wrapper_name,
    } = parts(program, plan, opts)?;
    let mut artifacts = Vec::new();
    artifacts.push(Artifact {
        path: "expc-wrapper.yaml".into(),
        contents: wrapper_configmaps(&namespaces, &wrapper_name, &wrapper)?,
        executable: false,
    });
    let mut resources = vec!["expc-wrapper.yaml".to_owned()];
    resources.extend(built.iter().map(|b| b.file.clone()));
    artifacts.push(Artifact {
        path: "kustomization.yaml".into(),
        contents: yaml(&Kustomization {
            api_version: "kustomize.config.k8s.io/v1beta1",
            kind: "Kustomization",
            resources,
        })?,
        executable: false,
    });
    artifacts.push(Artifact {
        path: "submit.sh".into(),
        contents: submit_script(plan, &built, &secret, &secret_keys),
        executable: true,
    });
    for b in built {
        artifacts.push(Artifact {
            path: b.file,
            contents: b.contents,
            executable: false,
        });
    }
    artifacts.push(crate::cases::plan_json(plan)?);
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(artifacts)
}

/// Where a script that applies the Jobs itself (`--target all`) finds each Kubernetes Job
/// of a plan: its file, namespace and name, and how long to wait for it.
#[derive(Clone, Debug)]
pub struct JobRef {
    /// The job's position in the plan.
    pub job: usize,
    /// `jobs/NAME.yaml`.
    pub file: String,
    pub namespace: String,
    pub name: String,
    pub seconds: u64,
}

/// The Jobs [`build`] writes, in plan order.
pub fn job_refs(
    program: &ir::Program,
    plan: &Plan,
    opts: &K8sOptions,
) -> Result<Vec<JobRef>, BuildError> {
    Ok(parts(program, plan, opts)?
        .built
        .into_iter()
        .map(|b| JobRef {
            job: b.job,
            file: b.file,
            namespace: b.namespace,
            name: b.name,
            seconds: b.timeout,
        })
        .collect())
}

/// The Kubernetes side of a run of `expc run` ([`K8sOptions::live`] set): the wrapper's
/// ConfigMaps, the Secrets the Jobs read, and for each Kubernetes-placed job what its Jobs
/// are made from. The run submits the instances of a job that are ready together as one
/// Indexed Job ([`LiveJob::batch`]).
#[derive(Clone, Debug)]
pub struct LiveJobs {
    /// `expc-wrapper.yaml`: the wrapper's ConfigMap in every namespace used.
    pub wrapper: String,
    /// The Secret's name, and the keys the Jobs of each namespace read from it.
    pub secret: String,
    pub secret_keys: BTreeMap<String, BTreeSet<String>>,
    /// By position in the plan.
    pub jobs: BTreeMap<usize, LiveJob>,
}

#[derive(Clone, Debug)]
pub struct LiveJob {
    pub namespace: String,
    /// The run's folder where the job's pods see it: instance INDEX of job KEY works in
    /// `RUN_DIR/KEY/INDEX/` and reads upstream outputs at `RUN_DIR/UPSTREAM/INDEX/FILE`.
    pub run_dir: String,
    job: manifest::Job,
    cm: ConfigMap,
    stem: String,
}

impl LiveJob {
    /// The manifests (a ConfigMap, then its Job) that run `indices` of the job: completion
    /// index `I` runs instance `indices[I]`, which the wrapper reads from the `indices`
    /// file of the ConfigMap. Returns the Job's name and the YAML.
    pub fn batch(&self, indices: &[u64]) -> Result<(String, String), BuildError> {
        let mut cm = self.cm.clone();
        let mut list = Vec::new();
        cm.binary_data.clear();
        if let Some(meta) = self.cm.binary_data.get("job") {
            cm.binary_data.insert("job".to_owned(), meta.clone());
        }
        for i in indices {
            let key = i.to_string();
            let Some(file) = self.cm.binary_data.get(&key) else {
                return Err(err(
                    format!("the job `{}` has no instance {i}", self.stem),
                    "this is a bug in expc; please report it",
                ));
            };
            push_field(&mut list, &key);
            cm.binary_data.insert(key, file.clone());
        }
        cm.binary_data.insert("indices".to_owned(), base64(&list));
        let mut job = self.job.clone();
        let count = indices.len() as u64;
        job.spec.completion_mode = Some("Indexed");
        job.spec.completions = count;
        job.spec.parallelism = job.spec.parallelism.clamp(1, count.max(1));
        let content = format!(
            "{}\n{}",
            serde_json::to_string(&job).unwrap_or_default(),
            serde_json::to_string(&cm).unwrap_or_default()
        );
        let name = format!("{}-{}", self.stem, hash_hex(content.as_bytes(), 8));
        set_name(&mut job, &mut cm, &name);
        Ok((name, format!("{}---\n{}", yaml(&cm)?, yaml(&job)?)))
    }
}

/// What `expc run` submits of `plan` ([`LiveJobs`]); `opts.live` names the run's folder.
pub fn live(program: &ir::Program, plan: &Plan, opts: &K8sOptions) -> Result<LiveJobs, BuildError> {
    let Parts {
        built,
        namespaces,
        secret_keys,
        secret,
        wrapper,
        wrapper_name,
    } = parts(program, plan, opts)?;
    Ok(LiveJobs {
        wrapper: wrapper_configmaps(&namespaces, &wrapper_name, &wrapper)?,
        secret,
        secret_keys,
        jobs: built
            .into_iter()
            .map(|b| {
                (
                    b.job,
                    LiveJob {
                        namespace: b.namespace,
                        run_dir: b.run_dir,
                        job: b.job_obj,
                        cm: b.cm,
                        stem: b.stem,
                    },
                )
            })
            .collect(),
    })
}

/// `expc-wrapper.yaml`: the wrapper's ConfigMap, one document per namespace.
fn wrapper_configmaps(
    namespaces: &BTreeSet<String>,
    name: &str,
    wrapper: &str,
) -> Result<String, BuildError> {
    let mut docs = Vec::new();
    for ns in namespaces {
        let mut cm = ConfigMap::new(ObjectMeta {
            name: name.to_owned(),
            namespace: ns.clone(),
            labels: BTreeMap::from([(LABEL_MANAGED_BY.to_owned(), "expc".to_owned())]),
            annotations: BTreeMap::new(),
        });
        cm.data
            .insert("expc-wrapper.sh".to_owned(), wrapper.to_owned());
        docs.push(yaml(&cm)?);
    }
    Ok(docs.join("---\n"))
}

/// [`secret_check_lines`] for the Jobs of `plan`, for a script that applies them itself.
pub fn secret_checks(
    program: &ir::Program,
    plan: &Plan,
    opts: &K8sOptions,
) -> Result<String, BuildError> {
    let p = parts(program, plan, opts)?;
    Ok(secret_check_lines(&p.secret, &p.secret_keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
        assert_eq!(base64(&[0, 255, 0x80]), "AP+A");
    }

    #[test]
    fn the_wrapper_ends_with_the_slurm_hook() {
        let w = wrapper_script();
        assert!(w.starts_with("#!/bin/bash\n"));
        assert!(w.contains("mapfile -d '' -t inst"));
        assert!(w.ends_with(include_str!("../templates/hook.sh.hbs")));
    }
}
