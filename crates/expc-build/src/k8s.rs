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

pub mod manifest;
pub mod names;
pub mod quantity;

use std::collections::{BTreeMap, BTreeSet};

use expc_check::ir::{self, Backend};
use expc_check::value::{Value, format_duration, format_memory};
use expc_plan::plan::{Job, Plan};

use crate::quote::{Segment, has_nul, quote};
use crate::slurm::argv::{ScriptCommands, job_dir};
use crate::{Artifact, BuildError};
use manifest::{
    ConfigMap, ConfigMapSource, Container, EnvVar, EnvVarSource, HostPathSource, JobSpec,
    Kustomization, ObjectMeta, PodSpec, PodTemplateSpec, PvcSource, ResourceRequirements,
    SecretKeySelector, TemplateMeta, Toleration, Volume, VolumeMount,
};
use names::{
    MAX_LABEL, dns_label, dns_label_showing, hash_hex, is_dns_label, is_dns_subdomain, is_env_name,
    is_label_value, is_qualified_name, label_value,
};

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

/// Where the run, provenance and spec directories are inside the containers, and the
/// volumes of a resource.
#[derive(Clone, Debug)]
struct Mounts {
    run_dir: String,
    prov_dir: String,
    volumes: Vec<Volume>,
    mounts: Vec<VolumeMount>,
}

fn is_abs_path(p: &str) -> bool {
    p.starts_with('/') && !p.contains('\0') && !p.split('/').any(|c| c == "..")
}

/// The volumes of the resource `on`, with expc's own added, checked.
fn mounts(job: &Job, spec_dir: &str) -> Result<Mounts, BuildError> {
    let on = &job.on;
    let mut volumes = vec![
        Volume {
            name: WRAPPER_VOLUME.into(),
            persistent_volume_claim: None,
            config_map: None,
            host_path: None,
        },
        Volume {
            name: ARGV_VOLUME.into(),
            persistent_volume_claim: None,
            config_map: None,
            host_path: None,
        },
    ];
    let mut vmounts = vec![
        VolumeMount {
            name: WRAPPER_VOLUME.into(),
            mount_path: WRAPPER_DIR.into(),
            sub_path: None,
            read_only: true,
        },
        VolumeMount {
            name: ARGV_VOLUME.into(),
            mount_path: ARGV_DIR.into(),
            sub_path: None,
            read_only: true,
        },
    ];
    let (mut run_dir, mut prov_dir, mut spec_declared) = (None, None, false);
    for v in records(job.placement.get("volumes")) {
        let name = field(v, "name").and_then(Value::as_str).unwrap_or("");
        let mount = field(v, "mount").and_then(Value::as_str).unwrap_or("");
        let read_only = matches!(field(v, "read_only"), Some(Value::Bool(true)));
        if !is_dns_label(name) {
            return Err(err(
                format!("`{on}` declares a volume named {name:?}, which is not a DNS-1123 label"),
                "name volumes with at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit",
            ));
        }
        if name == WRAPPER_VOLUME || name == ARGV_VOLUME {
            return Err(err(
                format!("`{on}` declares a volume named `{name}`, a name expc uses for its own"),
                "rename the volume",
            ));
        }
        if !is_abs_path(mount) {
            return Err(err(
                format!(
                    "the volume `{name}` of `{on}` is mounted at {mount:?}, which is not an absolute path"
                ),
                "set `mount` to an absolute path without `..`",
            ));
        }
        let pvc = field(v, "pvc").and_then(Value::as_str);
        let cm = field(v, "config_map").and_then(Value::as_str);
        let host = field(v, "host_path").and_then(Value::as_str);
        let mut vol = Volume {
            name: name.to_owned(),
            persistent_volume_claim: None,
            config_map: None,
            host_path: None,
        };
        match (pvc, cm, host) {
            (Some(c), None, None) => {
                if !is_dns_subdomain(c) {
                    return Err(err(
                        format!(
                            "the volume `{name}` of `{on}` names the claim {c:?}, which is not a valid object name"
                        ),
                        "give the name of a PersistentVolumeClaim of the namespace (lowercase letters, digits, `-` and `.`)",
                    ));
                }
                vol.persistent_volume_claim = Some(PvcSource {
                    claim_name: c.to_owned(),
                    read_only,
                });
            }
            (None, Some(c), None) => {
                if !is_dns_subdomain(c) {
                    return Err(err(
                        format!(
                            "the volume `{name}` of `{on}` names the ConfigMap {c:?}, which is not a valid object name"
                        ),
                        "give the name of a ConfigMap of the namespace (lowercase letters, digits, `-` and `.`)",
                    ));
                }
                vol.config_map = Some(ConfigMapSource {
                    name: c.to_owned(),
                    default_mode: None,
                });
            }
            (None, None, Some(p)) => {
                if !is_abs_path(p) {
                    return Err(err(
                        format!(
                            "the volume `{name}` of `{on}` has the host path {p:?}, which is not an absolute path"
                        ),
                        "set `host_path` to an absolute directory of the node",
                    ));
                }
                vol.host_path = Some(HostPathSource {
                    path: p.to_owned(),
                    kind: "Directory",
                });
            }
            _ => {
                return Err(err(
                    format!(
                        "the volume `{name}` of `{on}` must set exactly one of `pvc`, `config_map` and `host_path`"
                    ),
                    "keep one source for each volume",
                ));
            }
        }
        match name {
            RUN_VOLUME => run_dir = Some(mount.to_owned()),
            PROV_VOLUME => prov_dir = Some(mount.to_owned()),
            SPEC_VOLUME => spec_declared = true,
            _ => {}
        }
        volumes.push(vol);
        vmounts.push(VolumeMount {
            name: name.to_owned(),
            mount_path: mount.to_owned(),
            sub_path: None,
            read_only,
        });
    }
    if run_dir.is_none() {
        volumes.push(Volume {
            name: RUN_VOLUME.into(),
            persistent_volume_claim: Some(PvcSource {
                claim_name: DEFAULT_RUN_CLAIM.into(),
                read_only: false,
            }),
            config_map: None,
            host_path: None,
        });
        vmounts.push(VolumeMount {
            name: RUN_VOLUME.into(),
            mount_path: RUN_DIR.into(),
            sub_path: None,
            read_only: false,
        });
    }
    if prov_dir.is_none() {
        // The provenance records go to their own mount of the run volume.
        vmounts.push(VolumeMount {
            name: RUN_VOLUME.into(),
            mount_path: PROV_DIR.into(),
            sub_path: Some("provenance".into()),
            read_only: false,
        });
    }
    // The spec folder: inside a declared volume, or the default spec claim mounted there.
    let covered = vmounts.iter().any(|m| {
        spec_dir == m.mount_path
            || spec_dir.starts_with(&format!("{}/", m.mount_path.trim_end_matches('/')))
    });
    if !covered {
        if spec_declared {
            return Err(err(
                format!(
                    "the spec folder {spec_dir:?} is not under the mount of the volume `{SPEC_VOLUME}` of `{on}`"
                ),
                "build with `--spec-dir` set to the folder of the spec inside the containers",
            ));
        }
        volumes.push(Volume {
            name: SPEC_VOLUME.into(),
            persistent_volume_claim: Some(PvcSource {
                claim_name: DEFAULT_SPEC_CLAIM.into(),
                read_only: true,
            }),
            config_map: None,
            host_path: None,
        });
        vmounts.push(VolumeMount {
            name: SPEC_VOLUME.into(),
            mount_path: spec_dir.to_owned(),
            sub_path: None,
            read_only: true,
        });
    }
    let mut seen = BTreeSet::new();
    for m in &vmounts {
        if !seen.insert(m.mount_path.trim_end_matches('/').to_owned()) {
            return Err(err(
                format!("two volumes of `{on}` are mounted at {:?}", m.mount_path),
                format!(
                    "mount each volume at its own path; expc uses {WRAPPER_DIR}, {ARGV_DIR}, {RUN_DIR}, {PROV_DIR} and the spec folder {spec_dir}"
                ),
            ));
        }
    }
    let mut names = BTreeSet::new();
    for v in &volumes {
        if !names.insert(v.name.clone()) {
            return Err(err(
                format!("`{on}` declares the volume `{}` twice", v.name),
                "give every volume its own name",
            ));
        }
    }
    Ok(Mounts {
        run_dir: run_dir.unwrap_or_else(|| RUN_DIR.into()),
        prov_dir: prov_dir.unwrap_or_else(|| PROV_DIR.into()),
        volumes,
        mounts: vmounts,
    })
}

/// The container's requests and limits, checked against the site's limits.
fn resources(
    job: &Job,
    limits: &BTreeMap<String, Value>,
) -> Result<ResourceRequirements, BuildError> {
    let (key, on) = (&job.key, &job.on);
    let over = |what: String, limit: String, help: &str| {
        err(
            format!("`{key}` {what}, more than `{on}` allows ({limit})"),
            help,
        )
    };
    let mut r = ResourceRequirements::default();
    let cpus = job.resources.cpus;
    let cpu = quantity::cpu(cpus).ok_or_else(|| {
        err(
            format!("`{key}` asks for {cpus} CPUs, which is not a whole number of millicores"),
            "set `cpus` in the task's `resources` to a positive multiple of 0.001",
        )
    })?;
    if let Some(max) = limits.get("max_cpus_per_node").and_then(Value::as_f64) {
        if cpus > max {
            return Err(over(
                format!("asks for {cpus} CPUs"),
                format!("max_cpus_per_node = {max}"),
                "lower `cpus` in the task's `resources`, or place it on a resource whose site allows more",
            ));
        }
    }
    r.requests.insert("cpu".into(), cpu.clone());
    r.limits.insert("cpu".into(), cpu);
    if let Some(bytes) = job.resources.mem_bytes {
        if bytes == 0 {
            return Err(err(
                format!("`{key}` asks for no memory"),
                "set `mem` in the task's `resources` to more than 0",
            ));
        }
        if let Some(Value::Memory(max)) = limits.get("max_mem_per_node") {
            if bytes > *max {
                return Err(over(
                    format!("asks for {} of memory", format_memory(bytes)),
                    format!("max_mem_per_node = {}", format_memory(*max)),
                    "lower `mem` in the task's `resources`, or place it on a resource whose site allows more",
                ));
            }
        }
        let q = quantity::memory(bytes);
        r.requests.insert("memory".into(), q.clone());
        r.limits.insert("memory".into(), q);
    }
    let gpus = job.resources.gpus;
    if gpus < 0 {
        return Err(err(
            format!("`{key}` asks for {gpus} GPUs"),
            "`gpus` must be 0 or more",
        ));
    }
    if gpus > 0 {
        if let Some(max) = limits.get("max_gpus_per_node").and_then(Value::as_int) {
            if gpus > max {
                return Err(over(
                    format!("asks for {gpus} GPUs"),
                    format!("max_gpus_per_node = {max}"),
                    "lower `gpus` in the task's `resources`",
                ));
            }
        }
        let name = job
            .placement
            .get("gpu_resource")
            .and_then(Value::as_str)
            .unwrap_or("nvidia.com/gpu");
        if !is_qualified_name(name) || !name.contains('/') || name.starts_with("kubernetes.io/") {
            return Err(err(
                format!("the gpu_resource {name:?} of `{on}` is not an extended resource name"),
                "write it as DOMAIN/NAME, for example \"nvidia.com/gpu\" or \"amd.com/gpu\"",
            ));
        }
        // Extended resources are set as limits; Kubernetes requests as many.
        r.limits.insert(name.to_owned(), gpus.to_string());
    }
    if let (Some(ms), Some(Value::Duration(max))) = (job.resources.time_ms, limits.get("max_time"))
    {
        if ms > *max {
            return Err(over(
                format!("asks for a wall time of {}", format_duration(ms)),
                format!("max_time = {}", format_duration(*max)),
                "lower `time` in the task's `resources`, or split the work",
            ));
        }
    }
    Ok(r)
}

/// The pod's scheduling fields from the resource: node selector and tolerations.
fn scheduling(job: &Job) -> Result<(BTreeMap<String, String>, Vec<Toleration>), BuildError> {
    let on = &job.on;
    let mut selector = BTreeMap::new();
    for l in records(job.placement.get("node_selector")) {
        let k = field(l, "key").and_then(Value::as_str).unwrap_or("");
        let v = field(l, "value").and_then(Value::as_str).unwrap_or("");
        if !is_qualified_name(k) || !is_label_value(v) {
            return Err(err(
                format!("the node selector {k:?} = {v:?} of `{on}` is not a valid label"),
                "label keys are [PREFIX/]NAME and values at most 63 letters, digits, `-`, `_` and `.`, as the nodes carry them",
            ));
        }
        if selector.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(err(
                format!("the node selector of `{on}` sets {k:?} twice"),
                "keep one value for each label",
            ));
        }
    }
    let mut tolerations = Vec::new();
    for t in records(job.placement.get("tolerations")) {
        let key = field(t, "key").and_then(Value::as_str).map(str::to_owned);
        let operator = field(t, "operator")
            .and_then(enum_name)
            .unwrap_or("Equal")
            .to_owned();
        let value = field(t, "value").and_then(Value::as_str).map(str::to_owned);
        let effect = field(t, "effect").and_then(enum_name).map(str::to_owned);
        if let Some(k) = &key {
            if !is_qualified_name(k) {
                return Err(err(
                    format!("the toleration key {k:?} of `{on}` is not a valid taint key"),
                    "write it as [PREFIX/]NAME, as the nodes' taints do",
                ));
            }
        }
        if operator == "Exists" && value.is_some() {
            return Err(err(
                format!("a toleration of `{on}` has operator `Exists` and a value"),
                "remove `value`, or use `operator = Equal`",
            ));
        }
        if key.is_none() && operator != "Exists" {
            return Err(err(
                format!("a toleration of `{on}` has no key but operator `{operator}`"),
                "set `key`, or use `operator = Exists` to tolerate every taint",
            ));
        }
        if let Some(v) = &value {
            if !is_label_value(v) {
                return Err(err(
                    format!("the toleration value {v:?} of `{on}` is not a valid taint value"),
                    "taint values are at most 63 letters, digits, `-`, `_` and `.`",
                ));
            }
        }
        tolerations.push(Toleration {
            key,
            operator,
            value,
            effect,
        });
    }
    Ok((selector, tolerations))
}

fn positive_int(job: &Job, name: &str) -> Result<Option<u64>, BuildError> {
    match job.placement.get(name) {
        None | Some(Value::None) => Ok(None),
        Some(Value::Int(n)) if *n >= 0 => Ok(Some(*n as u64)),
        Some(v) => Err(err(
            format!("`{}` sets {name} = {v}", job.on),
            format!("`{name}` must be a whole number, 0 or more"),
        )),
    }
}

/// One job's files.
struct Built {
    /// The job's position in the plan.
    job: usize,
    file: String,
    namespace: String,
    name: String,
    contents: String,
    /// Kubernetes jobs this one reads, by plan position.
    after: Vec<usize>,
    /// The wait before submitting the next dependent, in seconds.
    timeout: u64,
    label: String,
    /// The Job and its ConfigMap as written, for `expc run`'s batches.
    job_obj: manifest::Job,
    cm: ConfigMap,
    /// The Job's name without its digest.
    stem: String,
    /// The run folder where the job's pods see it (the run volume's mount).
    run_dir: String,
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
        job.metadata.name = name.clone();
        cm.metadata.name = name.clone();
        for v in &mut job.spec.template.spec.volumes {
            if let (ARGV_VOLUME, Some(c)) = (v.name.as_str(), v.config_map.as_mut()) {
                c.name = name.clone();
            }
        }
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

/// What the Jobs of a plan are made of, before they are written out.
struct Parts {
    built: Vec<Built>,
    namespaces: BTreeSet<String>,
    secret_keys: BTreeMap<String, BTreeSet<String>>,
    secret: String,
    wrapper: String,
    wrapper_name: String,
}

/// The manifests of every Kubernetes-placed job, checked.
fn parts(program: &ir::Program, plan: &Plan, opts: &K8sOptions) -> Result<Parts, BuildError> {
    let positions: Vec<usize> = (0..plan.jobs.len())
        .filter(|&j| plan.jobs[j].backend == Backend::Kubernetes)
        .collect();
    if positions.is_empty() {
        return Err(err(
            format!(
                "no job of the pipeline `{}` is placed on a Kubernetes resource: there is nothing to build",
                plan.pipeline
            ),
            "place calls on a resource of kind `Kubernetes` (`let t = task(…) on cloud`)",
        ));
    }
    let spec_dir = opts.spec_dir.trim_end_matches('/');
    let spec_dir = if spec_dir.is_empty() && opts.spec_dir.starts_with('/') {
        "/"
    } else {
        spec_dir
    };
    if !is_abs_path(spec_dir) || spec_dir == "/" || spec_dir.contains('\n') {
        return Err(err(
            format!(
                "the spec folder {:?} is not an absolute path inside the containers",
                opts.spec_dir
            ),
            "build with `--spec-dir DIR`, DIR being where the spec's folder is mounted in the pods",
        ));
    }
    let builder = ScriptCommands::new(program, plan);
    let experiment = plan.experiment.clone().unwrap_or_default();
    let prefix = if experiment.is_empty() {
        "expc"
    } else {
        &experiment
    };
    let plan_id = plan_id(plan);
    let secret = secret_name(plan);
    let wrapper = wrapper_script();
    let wrapper_name = format!("expc-wrapper-{}", hash_hex(wrapper.as_bytes(), 10));

    let mut built: Vec<Built> = Vec::new();
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    let mut secret_keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut names_seen: BTreeMap<(String, String), String> = BTreeMap::new();

    for &j in &positions {
        let job = &plan.jobs[j];
        let (key, on) = (&job.key, &job.on);
        let dir = job_dir(key);
        if !dir
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(err(
                format!("the job `{key}` has a name that cannot be a file name"),
                "name the call with letters, digits and `_` (`let name = task(…)`)",
            ));
        }
        if matches!(job.command, expc_plan::plan::Command::Spark { .. }) {
            return Err(err(
                format!("`{key}` is a `spark` task, which a Kubernetes Job cannot run"),
                "place the call on a resource of kind `Spark`",
            ));
        }
        let namespace = job
            .placement
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !is_dns_label(namespace) {
            return Err(err(
                format!("the namespace {namespace:?} of `{on}` is not a DNS-1123 label"),
                "set `namespace` to the namespace's name: at most 63 lowercase letters, digits and `-`",
            ));
        }
        namespaces.insert(namespace.to_owned());
        let service_account = job
            .placement
            .get("service_account")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(sa) = &service_account {
            if !is_dns_subdomain(sa) {
                return Err(err(
                    format!("the service account {sa:?} of `{on}` is not a valid object name"),
                    "set `service_account` to the name of a ServiceAccount of the namespace",
                ));
            }
        }
        let image = match &job.env.image {
            Some(i) => i.strip_prefix("docker://").unwrap_or(i).to_owned(),
            None => {
                return Err(err(
                    format!("`{key}` has no container image to run in on `{on}`"),
                    format!("set `image` in the task's `env`, or `image` of `{on}`"),
                ));
            }
        };
        if image.is_empty()
            || image.starts_with('/')
            || image.ends_with(".sif")
            || image.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(err(
                format!(
                    "`{key}` runs in the image {image:?}, which is not a container image reference"
                ),
                "name an OCI image, for example \"registry.example.org/lab/tool:1.0\" (Apptainer files are for Slurm)",
            ));
        }
        if !job.env.modules.is_empty() || job.env.conda.is_some() {
            return Err(err(
                format!(
                    "`{key}` loads modules or a conda environment, which a Kubernetes container cannot"
                ),
                "put the software into the task's image and remove `modules` and `conda` from its `env`",
            ));
        }
        let pull = job
            .placement
            .get("image_pull_policy")
            .and_then(enum_name)
            .unwrap_or("IfNotPresent")
            .to_owned();
        let limits = builder.index().limits(&job.on);
        let requirements = resources(job, &limits)?;
        let (node_selector, tolerations) = scheduling(job)?;
        let mut m = mounts(job, spec_dir)?;
        if let Some(folder) = &opts.live {
            m.run_dir = format!("{}/{folder}", m.run_dir.trim_end_matches('/'));
            m.prov_dir = format!("{}/provenance", m.run_dir);
        }

        // Instances and their parallelism.
        let indexed = !job.loops.is_empty();
        if indexed && job.instances == 0 {
            return Err(err(
                format!("`{key}` has no instances: its sweep is empty"),
                "give every axis of the sweep at least one value",
            ));
        }
        let completions = job.instances.max(1);
        let max_jobs = limits
            .get("max_jobs")
            .and_then(Value::as_int)
            .filter(|n| *n >= 1)
            .map(|n| n as u64);
        let parallelism = match positive_int(job, "parallelism")? {
            Some(0) => {
                return Err(err(
                    format!("`{on}` sets parallelism = 0, so no pod would ever run"),
                    "set `parallelism` to at least 1, or leave it out",
                ));
            }
            Some(p) => {
                if let Some(max) = max_jobs.filter(|m| p > *m) {
                    return Err(err(
                        format!(
                            "`{on}` runs {p} pods at once, more than its site allows (max_jobs = {max})"
                        ),
                        "lower `parallelism` of the resource",
                    ));
                }
                p.min(completions)
            }
            None => max_jobs.map_or(completions, |m| m.min(completions)),
        };
        if indexed && completions > MAX_INDEXED_COMPLETIONS {
            return Err(err(
                format!(
                    "`{key}` has {completions} instances; an Indexed Job holds at most {MAX_INDEXED_COMPLETIONS}"
                ),
                "split the sweep over several calls",
            ));
        }
        let backoff_limit = positive_int(job, "backoff_limit")?.unwrap_or(0);
        let ttl = match job.placement.get("ttl_after_finished") {
            Some(Value::Duration(ms)) => Some(ms.div_ceil(1000)),
            _ => None,
        };
        let attempts = u64::from(job.retry.attempts) + 1;
        let backoff = job.retry.backoff_ms.div_ceil(1000);
        // The pod's deadline covers every attempt and the pauses between them.
        let deadline = job
            .resources
            .time_ms
            .map(|ms| ms.div_ceil(1000).max(1) * attempts + backoff * (attempts - 1));

        // The argv files: the job's facts, then one file per instance.
        let outputs = builder.outputs(j);
        let mut meta = Vec::new();
        for f in [
            ARGV_FORMAT,
            &experiment,
            key,
            &job.id,
            &dir,
            &m.run_dir,
            &m.prov_dir,
            &attempts.to_string(),
            &backoff.to_string(),
            &outputs.len().to_string(),
        ] {
            push_field(&mut meta, f);
        }
        for (name, file) in &outputs {
            if has_nul(name) || has_nul(file) {
                return Err(err(
                    format!("the output `{name}` of `{key}` contains a NUL byte"),
                    "remove the `\\0` from the output's file name",
                ));
            }
        }
        outputs.iter().for_each(|(n, _)| push_field(&mut meta, n));
        outputs.iter().for_each(|(_, f)| push_field(&mut meta, f));
        let mut binary = BTreeMap::new();
        binary.insert("job".to_owned(), base64(&meta));
        let mut total = meta.len();
        let mut env: BTreeMap<String, EnvVar> = BTreeMap::new();
        for index in 0..completions {
            let cmd = builder.command(j, index).map_err(|e| {
                err(
                    format!("`{key}` cannot be built: {e}"),
                    "check the task's command with `expc plan`",
                )
            })?;
            let work = format!("{}/{dir}/{index}", m.run_dir);
            let resolve = |w: &[Segment]| -> Result<String, BuildError> {
                let mut s = String::new();
                for seg in w {
                    match seg {
                        Segment::Text(t) => s.push_str(t),
                        Segment::Var(v) => match v.as_str() {
                            "spec_dir" => s.push_str(spec_dir),
                            "run_dir" => s.push_str(&m.run_dir),
                            "work" => s.push_str(&work),
                            other => {
                                return Err(err(
                                    format!(
                                        "`{key}` uses the secret {other:?} inside a larger value"
                                    ),
                                    "set an environment variable to the secret alone (`NAME = secret`) and read it in the task",
                                ));
                            }
                        },
                    }
                }
                if has_nul(&s) {
                    return Err(err(
                        format!(
                            "an argument of `{key}` contains a NUL byte, which no argument can hold"
                        ),
                        "remove the `\\0` from the value",
                    ));
                }
                Ok(s)
            };
            let mut vars = Vec::new();
            for w in &cmd.vars {
                // `NAME=` then the secret alone: read from the Secret by the kubelet.
                if let [Segment::Text(n), Segment::Var(var)] = &w[..] {
                    if cmd.secret_vars.contains(var) {
                        let name = n.trim_end_matches('=');
                        if !is_env_name(name) || !is_env_name(var) {
                            return Err(err(
                                format!(
                                    "`{key}` sets the variable {name:?} from {var:?}; both must be environment variable names"
                                ),
                                "name variables and secrets' `env(\"NAME\")` with letters, digits and `_`",
                            ));
                        }
                        env.insert(
                            name.to_owned(),
                            EnvVar {
                                name: name.to_owned(),
                                value_from: EnvVarSource {
                                    secret_key_ref: SecretKeySelector {
                                        name: secret.clone(),
                                        key: var.clone(),
                                    },
                                },
                            },
                        );
                        secret_keys
                            .entry(namespace.to_owned())
                            .or_default()
                            .insert(var.clone());
                        continue;
                    }
                }
                let s = resolve(w)?;
                let name = s.split('=').next().unwrap_or("");
                if !is_env_name(name) {
                    return Err(err(
                        format!(
                            "`{key}` sets the variable {name:?}, which is not an environment variable name"
                        ),
                        "name variables with letters, digits and `_`, not starting with a digit",
                    ));
                }
                vars.push(s);
            }
            let mut file = Vec::new();
            push_field(&mut file, &plan.instance_id(job, index));
            push_field(&mut file, &vars.len().to_string());
            for v in &vars {
                push_field(&mut file, v);
            }
            for w in &cmd.argv {
                push_field(&mut file, &resolve(w)?);
            }
            total += file.len();
            if total > MAX_CONFIGMAP_BYTES * 3 / 4 {
                return Err(err(
                    format!(
                        "the argv of `{key}`'s instances take more than {} bytes, more than a ConfigMap holds (1 MiB as base64)",
                        MAX_CONFIGMAP_BYTES * 3 / 4
                    ),
                    "split the sweep over several calls, or pass long lists through a data file",
                ));
            }
            binary.insert(index.to_string(), base64(&file));
        }

        let mut labels = BTreeMap::new();
        labels.insert(LABEL_MANAGED_BY.to_owned(), "expc".to_owned());
        labels.insert(LABEL_EXPERIMENT.to_owned(), label_value(prefix));
        labels.insert(LABEL_JOB.to_owned(), label_value(key));
        labels.insert(LABEL_JOB_ID.to_owned(), label_value(&job.id));
        labels.insert(LABEL_PLAN_ID.to_owned(), plan_id.clone());
        labels.insert(LABEL_TASK.to_owned(), label_value(&job.task));
        if let Some(folder) = &opts.live {
            labels.insert(LABEL_RUN.to_owned(), label_value(folder));
        }
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "expc.dev/description".to_owned(),
            format!(
                "{prefix}: job `{key}` (task `{}`) on `{on}`, {} instance{}",
                job.task,
                completions,
                if completions == 1 { "" } else { "s" }
            ),
        );
        if let Some(doc) = &job.doc {
            annotations.insert("expc.dev/doc".to_owned(), doc.clone());
        }

        // The argv volume is named once the name is known, below.
        let mut volumes = m.volumes.clone();
        for v in &mut volumes {
            match v.name.as_str() {
                WRAPPER_VOLUME => {
                    v.config_map = Some(ConfigMapSource {
                        name: wrapper_name.clone(),
                        default_mode: Some(0o555),
                    });
                }
                ARGV_VOLUME => {
                    v.config_map = Some(ConfigMapSource {
                        name: String::new(),
                        default_mode: Some(0o444),
                    });
                }
                _ => {}
            }
        }
        let mut job_obj = manifest::Job {
            api_version: "batch/v1",
            kind: "Job",
            metadata: ObjectMeta {
                name: String::new(),
                namespace: namespace.to_owned(),
                labels: labels.clone(),
                annotations: annotations.clone(),
            },
            spec: JobSpec {
                completion_mode: indexed.then_some("Indexed"),
                completions,
                parallelism,
                backoff_limit: opts.live.is_none().then_some(backoff_limit),
                backoff_limit_per_index: opts.live.is_some().then_some(backoff_limit),
                ttl_seconds_after_finished: ttl,
                template: PodTemplateSpec {
                    metadata: TemplateMeta {
                        labels: labels.clone(),
                    },
                    spec: PodSpec {
                        restart_policy: "Never",
                        service_account_name: service_account,
                        active_deadline_seconds: deadline,
                        node_selector,
                        tolerations,
                        containers: vec![Container {
                            name: "task",
                            image,
                            image_pull_policy: pull,
                            command: vec![
                                "/bin/bash".into(),
                                format!("{WRAPPER_DIR}/expc-wrapper.sh"),
                            ],
                            args: vec![ARGV_DIR.into()],
                            env: env.into_values().collect(),
                            resources: requirements,
                            volume_mounts: m.mounts.clone(),
                        }],
                        volumes,
                    },
                },
            },
        };
        let mut cm = ConfigMap::new(ObjectMeta {
            name: String::new(),
            namespace: namespace.to_owned(),
            labels,
            annotations,
        });
        cm.binary_data = binary;

        // The name ends with a digest of everything the Job and its argv hold, so that an
        // unchanged job is applied again as it is (and found complete), and a changed one
        // is a new Job rather than an update Kubernetes refuses.
        let content = format!(
            "{}\n{}",
            serde_json::to_string(&job_obj).unwrap_or_default(),
            serde_json::to_string(&cm).unwrap_or_default()
        );
        // A long experiment name is shortened first, so the job's key stays readable.
        let raw = format!("{prefix}-{dir}");
        let shown = if raw.len() > MAX_LABEL - 9 {
            format!("{}-{dir}", prefix.chars().take(16).collect::<String>())
        } else {
            raw.clone()
        };
        let stem = dns_label_showing(&raw, &shown, MAX_LABEL - 9);
        let name = format!("{stem}-{}", hash_hex(content.as_bytes(), 8));
        if let Some(other) = names_seen.insert((namespace.to_owned(), name.clone()), key.clone()) {
            return Err(err(
                format!("the jobs `{other}` and `{key}` would have the same name `{name}`"),
                "rename one of the calls",
            ));
        }
        job_obj.metadata.name = name.clone();
        cm.metadata.name = name.clone();
        for v in &mut job_obj.spec.template.spec.volumes {
            if let (ARGV_VOLUME, Some(c)) = (v.name.as_str(), v.config_map.as_mut()) {
                c.name = name.clone();
            }
        }

        let contents = format!("{}---\n{}", yaml(&cm)?, yaml(&job_obj)?);
        let waves = completions.div_ceil(parallelism.max(1));
        let timeout = deadline.map_or(86_400, |d| d * waves + 600);
        built.push(Built {
            job: j,
            file: format!("jobs/{dir}.yaml"),
            namespace: namespace.to_owned(),
            name,
            contents,
            after: job
                .after
                .iter()
                .filter_map(|d| plan.position(&d.job))
                .filter(|p| plan.jobs[*p].backend == Backend::Kubernetes)
                .collect(),
            timeout,
            label: if indexed {
                format!("{key}[0-{}]", completions - 1)
            } else {
                key.clone()
            },
            job_obj,
            cm,
            stem,
            run_dir: m.run_dir.clone(),
        });
    }

    Ok(Parts {
        built,
        namespaces,
        secret_keys,
        secret,
        wrapper,
        wrapper_name,
    })
}

/// The lines of a script that stop it, saying what to create, when a Secret the Jobs read
/// is missing: a pod whose Secret is missing never starts, so it would only time out.
fn secret_check_lines(secret: &str, secret_keys: &BTreeMap<String, BTreeSet<String>>) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (ns, keys) in secret_keys {
        let _ = writeln!(
            s,
            "\n# The Secret the tasks' secret variables are read from (keys: {}).",
            keys.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        let _ = writeln!(
            s,
            "if ! kubectl get secret -n {} {} >/dev/null; then\n  echo \"submit.sh: create the Secret first: kubectl create secret generic -n {} {}{}\" >&2\n  exit 1\nfi",
            quote(ns),
            quote(secret),
            ns,
            secret,
            keys.iter()
                .map(|k| format!(" --from-literal={k}=…"))
                .collect::<String>()
        );
    }
    s
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

/// `submit.sh`: applies the wrapper, then each Job once the Jobs it reads have completed,
/// and waits for all of them; fails on the first Job that fails or times out.
fn submit_script(
    plan: &Plan,
    built: &[Built],
    secret: &str,
    secret_keys: &BTreeMap<String, BTreeSet<String>>,
) -> String {
    use std::fmt::Write as _;
    let title = crate::cases::title(plan);
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/bash");
    let _ = writeln!(
        s,
        "# Submits the Kubernetes Jobs of {title} in dependency order: each Job is applied\n\
         # once the Jobs it reads have completed, then every Job is waited for.\n\
         # Written by `expc build --target k8s` from {}; rebuild rather than edit.\n\
         #\n\
         #   ./submit.sh\n\
         #\n\
         # Uses kubectl's current context (KUBECONFIG and the like apply). Each wait ends after\n\
         # EXPC_WAIT_TIMEOUT seconds when set, else after the Job's own deadline.",
        plan.root
    );
    let others: Vec<String> = crate::cases::other_jobs(plan, Backend::Kubernetes)
        .into_iter()
        .map(|o| format!("#   {o}"))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            s,
            "#\n# Jobs placed on other backends are not submitted here; their outputs must be in the\n# run volume (RUN_DIR/JOB/INDEX/) before the Jobs that read them start:"
        );
        for o in others {
            let _ = writeln!(s, "{o}");
        }
    }
    s.push_str(
        r#"set -euo pipefail

build_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! command -v kubectl >/dev/null 2>&1; then
  echo "submit.sh: kubectl is not on PATH; install it and select the cluster's context" >&2
  exit 2
fi
timeout_override=${EXPC_WAIT_TIMEOUT:-}
if [ -n "$timeout_override" ] && ! [[ $timeout_override =~ ^[0-9]+$ ]]; then
  echo "submit.sh: EXPC_WAIT_TIMEOUT must be a number of seconds, not '$timeout_override'" >&2
  exit 2
fi

# apply LABEL FILE: creates the objects of FILE (unchanged objects stay as they are).
apply() {
  if ! kubectl apply -f "$build_dir/$2"; then
    echo "submit.sh: kubectl apply failed for $1 ($2)" >&2
    exit 1
  fi
}

# wait_job LABEL NAMESPACE NAME SECONDS: waits until the Job has completed; fails loudly
# when it has failed or the time is up.
wait_job() {
  local label=$1 ns=$2 name=$3 limit=${timeout_override:-$4} failed
  local deadline=$((SECONDS + limit))
  echo "waiting for $label (job/$name in $ns, up to ${limit}s)"
  until kubectl wait --for=condition=complete --timeout=30s -n "$ns" "job/$name" >/dev/null 2>&1; do
    failed=$(kubectl get job -n "$ns" "$name" -o 'jsonpath={.status.conditions[?(@.type=="Failed")].status}' 2>/dev/null || true)
    if [ "$failed" = True ]; then
      echo "submit.sh: $label failed (job/$name in namespace $ns); see: kubectl describe job -n $ns $name; kubectl logs -n $ns job/$name" >&2
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "submit.sh: $label did not complete within ${limit}s (job/$name in namespace $ns); it is left running" >&2
      exit 1
    fi
  done
  echo "$label completed"
}
"#,
    );
    s.push_str(&secret_check_lines(secret, secret_keys));
    s.push_str("\napply wrapper expc-wrapper.yaml\n");
    let mut waited = vec![false; built.len()];
    let pos_of = |p: usize| {
        plan.jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.backend == Backend::Kubernetes)
            .position(|(i, _)| i == p)
    };
    for b in built {
        let _ = writeln!(s, "\n# {}: {}", b.label, b.file);
        for &p in &b.after {
            if let Some(u) = pos_of(p) {
                if !waited[u] {
                    waited[u] = true;
                    let d = &built[u];
                    let _ = writeln!(
                        s,
                        "wait_job {} {} {} {}",
                        quote(&d.label),
                        quote(&d.namespace),
                        d.name,
                        d.timeout
                    );
                }
            }
        }
        let _ = writeln!(s, "apply {} {}", quote(&b.label), b.file);
    }
    let rest: Vec<usize> = (0..built.len()).filter(|&u| !waited[u]).collect();
    if !rest.is_empty() {
        s.push_str("\n# The Jobs nothing here waits for yet.\n");
        for u in rest {
            let d = &built[u];
            let _ = writeln!(
                s,
                "wait_job {} {} {} {}",
                quote(&d.label),
                quote(&d.namespace),
                d.name,
                d.timeout
            );
        }
    }
    let _ = writeln!(s, "\necho \"submit.sh: {} job(s) completed\"", built.len());
    s
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
