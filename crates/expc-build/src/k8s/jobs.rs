//! The manifests of each Kubernetes-placed job of a plan: its ConfigMap of argv files and
//! its `batch/v1` Job, checked and named, from which [`super::build`], [`super::live`] and
//! [`super::job_refs`] are made.

use std::collections::{BTreeMap, BTreeSet};

use expc_check::ir::{self, Backend};
use expc_check::value::Value;
use expc_plan::plan::{Job, Plan};

use super::manifest::{
    self, ConfigMap, ConfigMapSource, Container, EnvVar, EnvVarSource, JobSpec, ObjectMeta,
    PodSpec, PodTemplateSpec, SecretKeySelector, TemplateMeta, Volume,
};
use super::names::{
    MAX_LABEL, dns_label_showing, hash_hex, is_dns_label, is_dns_subdomain, is_env_name,
    label_value,
};
use super::pod::{positive_int, resources, scheduling};
use super::volumes::{Mounts, is_abs_path, mounts};
use super::{
    ARGV_DIR, ARGV_FORMAT, ARGV_VOLUME, K8sOptions, LABEL_EXPERIMENT, LABEL_JOB, LABEL_JOB_ID,
    LABEL_MANAGED_BY, LABEL_PLAN_ID, LABEL_RUN, LABEL_TASK, MAX_CONFIGMAP_BYTES,
    MAX_INDEXED_COMPLETIONS, WRAPPER_DIR, WRAPPER_VOLUME, base64, enum_name, err, plan_id,
    push_field, secret_name, wrapper_script, yaml,
};
use crate::BuildError;
use crate::quote::{Segment, has_nul};
use crate::slurm::argv::{ScriptCommand, ScriptCommands, job_dir};

/// One job's files.
pub(super) struct Built {
    /// The job's position in the plan.
    pub(super) job: usize,
    pub(super) file: String,
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) contents: String,
    /// Kubernetes jobs this one reads, by plan position.
    pub(super) after: Vec<usize>,
    /// The wait before submitting the next dependent, in seconds.
    pub(super) timeout: u64,
    pub(super) label: String,
    /// The Job and its ConfigMap as written, for `expc run`'s batches.
    pub(super) job_obj: manifest::Job,
    pub(super) cm: ConfigMap,
    /// The Job's name without its digest.
    pub(super) stem: String,
    /// The run folder where the job's pods see it (the run volume's mount).
    pub(super) run_dir: String,
}

/// What the Jobs of a plan are made of, before they are written out.
pub(super) struct Parts {
    pub(super) built: Vec<Built>,
    pub(super) namespaces: BTreeSet<String>,
    pub(super) secret_keys: BTreeMap<String, BTreeSet<String>>,
    pub(super) secret: String,
    pub(super) wrapper: String,
    pub(super) wrapper_name: String,
}

/// What the manifests of every job of a plan share: the plan, the options and the names
/// derived from them.
struct Shared<'a> {
    plan: &'a Plan,
    opts: &'a K8sOptions,
    builder: ScriptCommands<'a>,
    /// [`K8sOptions::spec_dir`], checked and without a trailing `/`.
    spec_dir: &'a str,
    experiment: String,
    plan_id: String,
    secret: String,
    wrapper_name: String,
}

impl Shared<'_> {
    /// The experiment's name, or `expc` for a spec without one: the prefix of labels,
    /// descriptions and Job names.
    fn prefix(&self) -> &str {
        if self.experiment.is_empty() {
            "expc"
        } else {
            &self.experiment
        }
    }
}

/// What is collected over the jobs of a plan while their manifests are made.
#[derive(Default)]
struct Seen {
    namespaces: BTreeSet<String>,
    /// The Secret's keys the Jobs of each namespace read.
    secret_keys: BTreeMap<String, BTreeSet<String>>,
    /// The job that has each (namespace, Job name), to refuse two of the same name.
    names: BTreeMap<(String, String), String>,
}

/// The manifests of every Kubernetes-placed job, checked.
pub(super) fn parts(
    program: &ir::Program,
    plan: &Plan,
    opts: &K8sOptions,
) -> Result<Parts, BuildError> {
    let positions: Vec<usize> = (0..plan.jobs.len())
        .filter(|&j| plan.jobs[j].backend == Backend::Kubernetes)
        .collect();
    if positions.is_empty() {
        return Err(err(
            format!(
                "no job of the pipeline `{}` is placed on a Kubernetes resource: there is nothing to build",
                plan.pipeline
            ),
            "place calls on a resource of kind `Kubernetes` (`let t = task(…) on cloud`), or move them there with `--profile NAME` or `--on FROM=TO`",
        ));
    }
    let spec_dir = checked_spec_dir(opts)?;
    let wrapper = wrapper_script();
    let shared = Shared {
        plan,
        opts,
        builder: ScriptCommands::new(program, plan),
        spec_dir,
        experiment: plan.experiment.clone().unwrap_or_default(),
        plan_id: plan_id(plan),
        secret: secret_name(plan),
        wrapper_name: format!("expc-wrapper-{}", hash_hex(wrapper.as_bytes(), 10)),
    };
    let mut seen = Seen::default();
    let mut built = Vec::new();
    for &j in &positions {
        built.push(job_parts(&shared, j, &mut seen)?);
    }
    Ok(Parts {
        built,
        namespaces: seen.namespaces,
        secret_keys: seen.secret_keys,
        secret: shared.secret,
        wrapper,
        wrapper_name: shared.wrapper_name,
    })
}

/// [`K8sOptions::spec_dir`] without its trailing `/`, checked to be an absolute path
/// other than `/`.
fn checked_spec_dir(opts: &K8sOptions) -> Result<&str, BuildError> {
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
    Ok(spec_dir)
}

/// The ConfigMap and Job of the job at position `j` of the plan, checked, with the
/// namespace, Secret keys and name it uses recorded in `seen`.
fn job_parts(shared: &Shared, j: usize, seen: &mut Seen) -> Result<Built, BuildError> {
    let plan = shared.plan;
    let job = &plan.jobs[j];
    let key = &job.key;
    let dir = job_dir(key);
    check_runnable(job, &dir)?;
    let namespace = namespace(job)?;
    seen.namespaces.insert(namespace.to_owned());
    let service_account = service_account(job)?;
    let image = container_image(job)?;
    let pull = job
        .placement
        .get("image_pull_policy")
        .and_then(enum_name)
        .unwrap_or("IfNotPresent")
        .to_owned();
    let limits = shared.builder.index().limits(&job.on);
    let requirements = resources(job, &limits)?;
    let (node_selector, tolerations) = scheduling(job)?;
    let mut m = mounts(job, shared.spec_dir)?;
    if let Some(folder) = &shared.opts.live {
        m.run_dir = format!("{}/{folder}", m.run_dir.trim_end_matches('/'));
        m.prov_dir = format!("{}/provenance", m.run_dir);
    }
    let counts = Counts::of(job, &limits)?;
    let argv = argv_files(shared, j, &dir, &m, &counts, namespace, seen)?;
    let (labels, annotations) = metadata(shared, job, counts.completions);
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
            completion_mode: counts.indexed.then_some("Indexed"),
            completions: counts.completions,
            parallelism: counts.parallelism,
            backoff_limit: shared.opts.live.is_none().then_some(counts.backoff_limit),
            backoff_limit_per_index: shared.opts.live.is_some().then_some(counts.backoff_limit),
            ttl_seconds_after_finished: counts.ttl,
            template: PodTemplateSpec {
                metadata: TemplateMeta {
                    labels: labels.clone(),
                },
                spec: PodSpec {
                    restart_policy: "Never",
                    service_account_name: service_account,
                    active_deadline_seconds: counts.deadline,
                    node_selector,
                    tolerations,
                    containers: vec![Container {
                        name: "task",
                        image,
                        image_pull_policy: pull,
                        command: vec!["/bin/bash".into(), format!("{WRAPPER_DIR}/expc-wrapper.sh")],
                        args: vec![ARGV_DIR.into()],
                        env: argv.env.into_values().collect(),
                        resources: requirements,
                        volume_mounts: m.mounts.clone(),
                    }],
                    volumes: pod_volumes(&m.volumes, &shared.wrapper_name),
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
    cm.binary_data = argv.binary;
    let (stem, name) = job_name(shared, &dir, &job_obj, &cm);
    if let Some(other) = seen
        .names
        .insert((namespace.to_owned(), name.clone()), key.clone())
    {
        return Err(err(
            format!("the jobs `{other}` and `{key}` would have the same name `{name}`"),
            "rename one of the calls",
        ));
    }
    set_name(&mut job_obj, &mut cm, &name);
    let contents = format!("{}---\n{}", yaml(&cm)?, yaml(&job_obj)?);
    let waves = counts.completions.div_ceil(counts.parallelism.max(1));
    let timeout = counts.deadline.map_or(86_400, |d| d * waves + 600);
    Ok(Built {
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
        label: if counts.indexed {
            format!("{key}[0-{}]", counts.completions - 1)
        } else {
            key.clone()
        },
        job_obj,
        cm,
        stem,
        run_dir: m.run_dir.clone(),
    })
}

/// Fails when the job's files cannot be named after it (`dir`) or it is a `spark` task.
fn check_runnable(job: &Job, dir: &str) -> Result<(), BuildError> {
    let key = &job.key;
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
    Ok(())
}

/// The namespace the resource places the job in, checked to be a DNS-1123 label.
fn namespace(job: &Job) -> Result<&str, BuildError> {
    let namespace = job
        .placement
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !is_dns_label(namespace) {
        return Err(err(
            format!(
                "the namespace {namespace:?} of `{}` is not a DNS-1123 label",
                job.on
            ),
            "set `namespace` to the namespace's name: at most 63 lowercase letters, digits and `-`",
        ));
    }
    Ok(namespace)
}

/// The resource's `service_account`, if any, checked to be a valid object name.
fn service_account(job: &Job) -> Result<Option<String>, BuildError> {
    let service_account = job
        .placement
        .get("service_account")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(sa) = &service_account {
        if !is_dns_subdomain(sa) {
            return Err(err(
                format!(
                    "the service account {sa:?} of `{}` is not a valid object name",
                    job.on
                ),
                "set `service_account` to the name of a ServiceAccount of the namespace",
            ));
        }
    }
    Ok(service_account)
}

/// The OCI image the job's container runs (without `docker://`), checked; fails too when
/// the job's environment loads modules or a conda environment, which a container cannot.
fn container_image(job: &Job) -> Result<String, BuildError> {
    let (key, on) = (&job.key, &job.on);
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
    Ok(image)
}

/// A job's instances, how many run at once, and its retries and deadlines.
struct Counts {
    /// A sweep, run as an Indexed Job.
    indexed: bool,
    completions: u64,
    parallelism: u64,
    backoff_limit: u64,
    ttl: Option<u64>,
    /// Tries of each instance, the first included.
    attempts: u64,
    /// The pause between tries, in seconds.
    backoff: u64,
    /// The pod's deadline in seconds: it covers every attempt and the pauses between them.
    deadline: Option<u64>,
}

impl Counts {
    /// The counts of `job`, checked against the resource's fields and the site's `limits`.
    fn of(job: &Job, limits: &BTreeMap<String, Value>) -> Result<Counts, BuildError> {
        let (key, on) = (&job.key, &job.on);
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
        let deadline = job
            .resources
            .time_ms
            .map(|ms| ms.div_ceil(1000).max(1) * attempts + backoff * (attempts - 1));
        Ok(Counts {
            indexed,
            completions,
            parallelism,
            backoff_limit,
            ttl,
            attempts,
            backoff,
            deadline,
        })
    }
}

/// A job's ConfigMap data and the container's variables read from the Secret.
struct ArgvFiles {
    /// `job` (the job's facts) and one file per instance index, base64.
    binary: BTreeMap<String, String>,
    /// By variable name.
    env: BTreeMap<String, EnvVar>,
}

/// The argv files of job `j`: the job's facts, then one file per instance, each checked
/// to fit the ConfigMap; the secret variables become `env` entries read from the Secret
/// (their keys recorded in `seen`).
fn argv_files(
    shared: &Shared,
    j: usize,
    dir: &str,
    m: &Mounts,
    counts: &Counts,
    namespace: &str,
    seen: &mut Seen,
) -> Result<ArgvFiles, BuildError> {
    let job = &shared.plan.jobs[j];
    let key = &job.key;
    let meta = job_facts(shared, j, dir, m, counts)?;
    let mut binary = BTreeMap::new();
    binary.insert("job".to_owned(), base64(&meta));
    let mut total = meta.len();
    let mut env: BTreeMap<String, EnvVar> = BTreeMap::new();
    for index in 0..counts.completions {
        let cmd = shared.builder.command(j, index).map_err(|e| {
            err(
                format!("`{key}` cannot be built: {e}"),
                "check the task's command with `expc plan`",
            )
        })?;
        if let Some((file, _)) = cmd.configs.first() {
            return Err(err(
                format!(
                    "`{key}` passes a file made by `${{json(…)}}` or `${{yaml(…)}}` (`{file}`), which Kubernetes Jobs do not write yet"
                ),
                "place the call on a Local, Slurm or Spark resource, or pass the fields it needs as arguments (`${train.lr}`)",
            ));
        }
        let work = format!("{}/{dir}/{index}", m.run_dir);
        let words = Words {
            key,
            spec_dir: shared.spec_dir,
            run_dir: &m.run_dir,
            work: &work,
        };
        let vars = instance_vars(shared, &words, &cmd, namespace, &mut env, seen)?;
        let mut file = Vec::new();
        push_field(&mut file, &shared.plan.instance_id(job, index));
        push_field(&mut file, &vars.len().to_string());
        for v in &vars {
            push_field(&mut file, v);
        }
        for w in &cmd.argv {
            push_field(&mut file, &words.resolve(w)?);
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
    Ok(ArgvFiles { binary, env })
}

/// The `job` argv file: the format, the experiment, the job's key, id and folder, the run
/// and provenance folders, the attempts and backoff, then the outputs' names and files.
fn job_facts(
    shared: &Shared,
    j: usize,
    dir: &str,
    m: &Mounts,
    counts: &Counts,
) -> Result<Vec<u8>, BuildError> {
    let job = &shared.plan.jobs[j];
    let key = &job.key;
    let outputs = shared.builder.outputs(j);
    let mut meta = Vec::new();
    for f in [
        ARGV_FORMAT,
        &shared.experiment,
        key,
        &job.id,
        dir,
        &m.run_dir,
        &m.prov_dir,
        &counts.attempts.to_string(),
        &counts.backoff.to_string(),
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
    Ok(meta)
}

/// What an instance's words are resolved with: the run-time folders, known at build time
/// since they are mount points.
struct Words<'a> {
    key: &'a str,
    spec_dir: &'a str,
    run_dir: &'a str,
    work: &'a str,
}

impl Words<'_> {
    /// The word `w` with its folders filled in; fails on a secret inside a larger value
    /// and on a NUL byte.
    fn resolve(&self, w: &[Segment]) -> Result<String, BuildError> {
        let key = self.key;
        let mut s = String::new();
        for seg in w {
            match seg {
                Segment::Text(t) => s.push_str(t),
                Segment::Var(v) => match v.as_str() {
                    "spec_dir" => s.push_str(self.spec_dir),
                    "run_dir" => s.push_str(self.run_dir),
                    "work" => s.push_str(self.work),
                    other => {
                        return Err(err(
                            format!("`{key}` uses the secret {other:?} inside a larger value"),
                            "set an environment variable to the secret alone (`NAME = secret`) and read it in the task",
                        ));
                    }
                },
            }
        }
        if has_nul(&s) {
            return Err(err(
                format!("an argument of `{key}` contains a NUL byte, which no argument can hold"),
                "remove the `\\0` from the value",
            ));
        }
        Ok(s)
    }
}

/// The `NAME=value` variables of an instance, resolved and checked. A variable set to a
/// secret alone is read from the Secret by the kubelet instead: it goes to `env`, and its
/// key to `seen`.
fn instance_vars(
    shared: &Shared,
    words: &Words,
    cmd: &ScriptCommand,
    namespace: &str,
    env: &mut BTreeMap<String, EnvVar>,
    seen: &mut Seen,
) -> Result<Vec<String>, BuildError> {
    let key = words.key;
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
                                name: shared.secret.clone(),
                                key: var.clone(),
                            },
                        },
                    },
                );
                seen.secret_keys
                    .entry(namespace.to_owned())
                    .or_default()
                    .insert(var.clone());
                continue;
            }
        }
        let s = words.resolve(w)?;
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
    Ok(vars)
}

/// The labels and annotations of a job's Job, pods and ConfigMap.
fn metadata(
    shared: &Shared,
    job: &Job,
    completions: u64,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let (key, on, prefix) = (&job.key, &job.on, shared.prefix());
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_MANAGED_BY.to_owned(), "expc".to_owned());
    labels.insert(LABEL_EXPERIMENT.to_owned(), label_value(prefix));
    labels.insert(LABEL_JOB.to_owned(), label_value(key));
    labels.insert(LABEL_JOB_ID.to_owned(), label_value(&job.id));
    labels.insert(LABEL_PLAN_ID.to_owned(), shared.plan_id.clone());
    labels.insert(LABEL_TASK.to_owned(), label_value(&job.task));
    if let Some(folder) = &shared.opts.live {
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
    (labels, annotations)
}

/// The pod's volumes with the wrapper's ConfigMap set; the argv volume's ConfigMap is
/// named once the Job's name is known ([`set_name`]).
fn pod_volumes(volumes: &[Volume], wrapper_name: &str) -> Vec<Volume> {
    let mut volumes = volumes.to_vec();
    for v in &mut volumes {
        match v.name.as_str() {
            WRAPPER_VOLUME => {
                v.config_map = Some(ConfigMapSource {
                    name: wrapper_name.to_owned(),
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
    volumes
}

/// The stem of the job's Job name (experiment and job, a long experiment name shortened
/// first so the job's key stays readable) and the full name: the stem and a digest of
/// everything the Job and its argv hold, so that an unchanged job is applied again as it
/// is (and found complete), and a changed one is a new Job rather than an update
/// Kubernetes refuses.
fn job_name(
    shared: &Shared,
    dir: &str,
    job_obj: &manifest::Job,
    cm: &ConfigMap,
) -> (String, String) {
    let prefix = shared.prefix();
    let content = format!(
        "{}\n{}",
        serde_json::to_string(job_obj).unwrap_or_default(),
        serde_json::to_string(cm).unwrap_or_default()
    );
    let raw = format!("{prefix}-{dir}");
    let shown = if raw.len() > MAX_LABEL - 9 {
        format!("{}-{dir}", prefix.chars().take(16).collect::<String>())
    } else {
        raw.clone()
    };
    let stem = dns_label_showing(&raw, &shown, MAX_LABEL - 9);
    let name = format!("{stem}-{}", hash_hex(content.as_bytes(), 8));
    (stem, name)
}

/// Names the Job, its ConfigMap and the argv volume that mounts it `name`.
pub(super) fn set_name(job_obj: &mut manifest::Job, cm: &mut ConfigMap, name: &str) {
    job_obj.metadata.name = name.to_owned();
    cm.metadata.name = name.to_owned();
    for v in &mut job_obj.spec.template.spec.volumes {
        if let (ARGV_VOLUME, Some(c)) = (v.name.as_str(), v.config_map.as_mut()) {
            c.name = name.to_owned();
        }
    }
}
