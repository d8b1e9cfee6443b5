//! What a run records about where and how it ran: the spec, params, git state, host and
//! environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use expc_check::ir::Program;
use expc_check::value::Value;
use expc_plan::plan::Plan;
use serde_json::{Value as Json, json};

/// A run's description, gathered before it starts.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub experiment: Option<String>,
    pub spec_path: PathBuf,
    pub spec_hash: String,
    pub pipeline: String,
    pub params: Vec<ParamValue>,
    pub git: Option<Git>,
    pub environment: Json,
    pub user: Option<String>,
    pub host: Option<String>,
    /// Per plan job key: backend and resource.
    pub placements: BTreeMap<String, (String, String)>,
    /// Declared data and models by absolute path: (id, type, role).
    pub declared: BTreeMap<PathBuf, (String, String, &'static str)>,
    /// The model registry: outputs the pipeline registers, and tasks that evaluate a model.
    pub registry: RegistryMeta,
}

/// What the run adds to the model registry, once its instances are recorded.
#[derive(Debug, Clone, Default)]
pub struct RegistryMeta {
    /// `register t.model as "name"` of the pipeline run.
    pub registrations: Vec<expc_check::ir::Registration>,
    /// Per task id, the input holding the model it evaluates (`evaluates = INPUT`).
    pub evaluations: Vec<(String, String)>,
}

impl RegistryMeta {
    fn of(program: &Program, pipeline: &str) -> RegistryMeta {
        let registrations = program
            .pipelines
            .iter()
            .find(|p| p.id == pipeline)
            .map(|p| p.registrations.clone())
            .unwrap_or_default();
        let evaluations = program
            .tasks
            .iter()
            .filter_map(|t| Some((t.id.clone(), t.evaluates.clone()?)))
            .collect();
        RegistryMeta {
            registrations,
            evaluations,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ParamValue {
    pub name: String,
    pub ty: String,
    pub value: Json,
    pub num: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Git {
    pub commit: String,
    /// Whether a tracked file differs from HEAD or an untracked (not ignored) file is in
    /// the spec's folder.
    pub dirty: bool,
    pub diff_hash: Option<String>,
    /// The files under the spec's folder that differ from HEAD, and those git does not
    /// track (and does not ignore), relative to the repository's root.
    pub modified: Vec<String>,
    pub untracked: Vec<String>,
}

impl RunMeta {
    /// Notes that the run ran every instance on this machine (`expc run --local`),
    /// whatever the spec places it on: the instances are recorded as run `local`, and
    /// the run's environment keeps the placements the spec declared that were not.
    pub fn ran_here(&mut self) {
        let declared: serde_json::Map<String, Json> = self
            .placements
            .iter()
            .filter(|(_, (backend, _))| backend != "local")
            .map(|(call, (backend, resource))| {
                (
                    call.clone(),
                    serde_json::json!({ "backend": backend, "resource": resource }),
                )
            })
            .collect();
        if let Some(env) = self.environment.as_object_mut() {
            env.insert("ran_here".into(), Json::Bool(true));
            env.insert("declared_placements".into(), Json::Object(declared));
        }
    }

    /// Notes the remote inputs the run reads: in its environment (`remote_inputs`: each
    /// one's data item, URL, digest, size, ETag and version), and each stored object as
    /// the declared data it stands for, so its artifact is recorded as that data item.
    pub fn remote_inputs(&mut self, inputs: &[expc_run::RemoteInput]) {
        for r in inputs {
            let ty = self
                .declared
                .values()
                .find(|(id, _, _)| *id == r.data)
                .map_or_else(String::new, |(_, ty, _)| ty.clone());
            let path = std::fs::canonicalize(&r.path).unwrap_or(r.path.clone());
            self.declared.insert(path, (r.data.clone(), ty, "data"));
        }
        if let Some(env) = self.environment.as_object_mut() {
            env.insert("remote_inputs".into(), serde_json::json!(inputs));
        }
    }

    /// Gathers a run's description. `spec_dir` is the folder data paths are relative to.
    pub fn collect(program: &Program, plan: &Plan, spec: &Path, spec_dir: &Path) -> RunMeta {
        // `git` takes three processes in a repository (one outside): started first, they
        // runs while the rest is gathered here.
        std::thread::scope(|s| {
            let pending = std::thread::Builder::new()
                .name("expc-git".into())
                .spawn_scoped(s, || git(spec_dir));
            let mut meta = Self::collect_without_git(program, plan, spec, spec_dir);
            meta.git = match pending {
                Ok(handle) => handle.join().ok().flatten(),
                Err(_) => git(spec_dir),
            };
            // The profile the placements are under, and what the spec placed elsewhere.
            if let (Some(p), Some(env)) = (&plan.profile, meta.environment.as_object_mut()) {
                let moved: serde_json::Map<String, Json> = plan
                    .jobs
                    .iter()
                    .filter_map(|j| {
                        let from = j.moved_from.as_ref()?;
                        Some((j.key.clone(), json!({ "declared": from, "moved_to": j.on })))
                    })
                    .collect();
                env.insert(
                    "profile".into(),
                    json!({ "name": p.name, "moves": p.moves, "moved_calls": moved }),
                );
            }
            // Which files made the run dirty, by name, beside the environment.
            if let (Some(g), Some(env)) = (&meta.git, meta.environment.as_object_mut()) {
                if g.dirty {
                    env.insert(
                        "git_changes".into(),
                        serde_json::json!({ "modified": g.modified, "untracked": g.untracked }),
                    );
                }
            }
            meta
        })
    }

    fn collect_without_git(
        program: &Program,
        plan: &Plan,
        spec: &Path,
        spec_dir: &Path,
    ) -> RunMeta {
        let spec_path = std::fs::canonicalize(spec).unwrap_or_else(|_| spec.to_path_buf());
        let mut hasher = blake3::Hasher::new();
        for m in &program.modules {
            if m.starts_with("std.") {
                continue;
            }
            let p = Path::new(m);
            let bytes = std::fs::read(p)
                .or_else(|_| std::fs::read(spec_dir.join(p)))
                .unwrap_or_default();
            hasher.update(m.as_bytes());
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
        if program.modules.is_empty() {
            hasher.update(&std::fs::read(spec).unwrap_or_default());
        }
        let params = program
            .params
            .iter()
            .map(|p| ParamValue {
                name: p.id.clone(),
                ty: p.ty.clone(),
                value: p.value.as_ref().map_or(Json::Null, json_value),
                num: p.value.as_ref().and_then(number),
            })
            .collect();
        let placements = plan
            .jobs
            .iter()
            .map(|j| {
                (
                    j.key.clone(),
                    (
                        expc_plan::lower::backend_name(j.backend).to_owned(),
                        j.on.clone(),
                    ),
                )
            })
            .collect();
        let mut declared = BTreeMap::new();
        for (list, role) in [(&program.data, "data"), (&program.models, "model")] {
            for a in list {
                let path = spec_dir.join(program.artifact_path(a));
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                declared.insert(path, (a.id.clone(), a.ty.clone(), role));
            }
        }
        RunMeta {
            experiment: program.experiment.as_ref().map(|e| e.name.clone()),
            spec_hash: hasher.finalize().to_hex().to_string(),
            spec_path,
            pipeline: plan.pipeline.clone(),
            params,
            git: None,
            environment: environment(plan),
            user: user(),
            host: hostname(),
            placements,
            declared,
            registry: RegistryMeta::of(program, &plan.pipeline),
        }
    }
}

/// A value as JSON: numbers as numbers, quantities in their base unit (bytes,
/// milliseconds), lists as arrays.
pub fn json_value(v: &Value) -> Json {
    match v {
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Bool(b) => json!(b),
        Value::Str(s) | Value::Enum(s) | Value::Artifact(s) => json!(s),
        Value::Memory(b) => json!(b),
        Value::Duration(ms) => json!(ms),
        Value::List(items) => Json::Array(items.iter().map(json_value).collect()),
        Value::Record(_, fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect(),
        ),
        Value::None => Json::Null,
        Value::Distribution(_) => json!(v.to_string()),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Memory(b) => Some(*b as f64),
        Value::Duration(ms) => Some(*ms as f64),
        _ => None,
    }
}

pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|s| !s.is_empty())
}

pub(crate) fn user() -> Option<String> {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(user_from_passwd)
}

/// The name of this process's real user, from `/etc/passwd`.
fn user_from_passwd() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_owned())
    })
}

/// The start tick of a process (field 22 of `/proc/PID/stat`): with the pid, it names one
/// process even when pids are reused.
pub fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces; fields follow the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_owned)
}

fn git(dir: &Path) -> Option<Git> {
    let run = |args: &[&str]| -> Option<Vec<u8>> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    };
    let top_and_commit = String::from_utf8(run(&["rev-parse", "--show-toplevel", "HEAD"])?).ok()?;
    let mut lines = top_and_commit.lines();
    let top = std::path::PathBuf::from(lines.next()?);
    let commit = lines.next()?.trim().to_owned();
    let diff = run(&["diff", "HEAD", "--no-ext-diff", "--binary"]).unwrap_or_default();
    // What differs under the spec's folder: `XY PATH` entries, NUL-separated; `??` is
    // untracked (a renamed entry's second path follows it, and is skipped).
    let status = run(&[
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--",
        ".",
    ])
    .unwrap_or_default();
    let (mut modified, mut untracked) = (Vec::new(), Vec::new());
    let mut entries = status.split(|b| *b == 0).filter(|e| e.len() > 3);
    while let Some(e) = entries.next() {
        let path = String::from_utf8_lossy(&e[3..]).into_owned();
        match &e[..2] {
            b"??" => untracked.push(path),
            xy => {
                modified.push(path);
                if xy.contains(&b'R') || xy.contains(&b'C') {
                    entries.next();
                }
            }
        }
    }
    let dirty = !diff.is_empty() || !modified.is_empty() || !untracked.is_empty();
    Some(Git {
        commit,
        dirty,
        diff_hash: dirty.then(|| {
            let mut h = blake3::Hasher::new();
            h.update(&diff);
            for u in &untracked {
                h.update(u.as_bytes());
                h.update(b"\0");
                h.update(&std::fs::read(top.join(u)).unwrap_or_default());
            }
            h.finalize().to_hex().to_string()
        }),
        modified,
        untracked,
    })
}

/// The machine and software a run used: OS, kernel, CPUs, memory, the programs its tasks
/// start (path and content digest), loaded environment modules, containers and conda
/// environments the tasks declare.
fn environment(plan: &Plan) -> Json {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let mut programs = BTreeSet::new();
    let (mut images, mut conda, mut declared_modules) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for j in &plan.jobs {
        match &j.command {
            expc_plan::plan::Command::Run { argv } => {
                if let Some(first) = argv.first().filter(|w| !w.contains('{')) {
                    programs.insert(first.clone());
                }
            }
            expc_plan::plan::Command::Shell { .. } => {
                programs.insert("bash".to_owned());
            }
            _ => {
                programs.insert("spark-submit".to_owned());
            }
        }
        images.extend(j.env.image.clone());
        conda.extend(j.env.conda.clone());
        declared_modules.extend(j.env.modules.iter().cloned());
    }
    let tools: BTreeMap<String, Json> = programs
        .into_iter()
        .map(|p| {
            let info = match which(&p) {
                Some(path) => json!({
                    "path": path.display().to_string(),
                    "digest": digest_file(&path),
                }),
                None => json!({ "path": null }),
            };
            (p, info)
        })
        .collect();
    let loaded: Vec<String> = std::env::var("LOADEDMODULES")
        .map(|m| {
            m.split(':')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    json!({
        "os": os,
        "kernel": kernel,
        "arch": std::env::consts::ARCH,
        "cpus": std::thread::available_parallelism().map_or(1, |c| c.get()),
        "memory_bytes": memory(),
        "tools": tools,
        "modules_loaded": loaded,
        "modules_declared": declared_modules,
        "containers": images,
        "conda": conda,
        "conda_active": std::env::var("CONDA_PREFIX").ok(),
    })
}

fn memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(&p).ok().or(Some(p)))
}

/// BLAKE3 of a program file (up to 256 MiB), standing for its version.
fn digest_file(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > 256 << 20 {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    Some(blake3::hash(&bytes).to_hex().to_string())
}

/// Placement of a job, for records: the backend and the resource.
pub fn placement<'a>(meta: &'a RunMeta, call: &str) -> (&'a str, &'a str) {
    meta.placements
        .get(call)
        .map_or(("local", "local"), |(b, r)| (b.as_str(), r.as_str()))
}
