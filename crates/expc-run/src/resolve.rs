//! One task instance made concrete: its argv (or script), environment, output paths, and
//! its cache key — the hash of everything that can change its result, with every file
//! standing for its content.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use expc_check::ir::{self, IrExpr, IrPart};
use expc_check::value::Value;
use expc_plan::plan::{Job, Plan};

/// A value at run time.
#[derive(Clone, Debug)]
pub enum RValue {
    Text(String),
    /// A file or directory the task reads, with its content digest.
    File(PathBuf, String),
    /// An output of the task itself: its path in the work directory.
    Out(String, PathBuf),
    List(Vec<RValue>),
    None,
    /// A secret, by id: its value is read from the environment only to set a variable.
    Secret(String),
}

impl RValue {
    /// As argv words (a list gives several, `none` none).
    fn words(&self) -> Vec<String> {
        match self {
            RValue::Text(t) => vec![t.clone()],
            RValue::File(p, _) | RValue::Out(_, p) => vec![p.to_string_lossy().into_owned()],
            RValue::List(items) => items.iter().flat_map(RValue::words).collect(),
            RValue::None => Vec::new(),
            RValue::Secret(id) => vec![format!("secret({id})")],
        }
    }

    /// The files among the value, with their digests.
    fn files(&self, out: &mut Vec<(PathBuf, String)>) {
        match self {
            RValue::File(p, d) => out.push((p.clone(), d.clone())),
            RValue::List(items) => items.iter().for_each(|i| i.files(out)),
            _ => {}
        }
    }

    /// As the same words with files standing for their content (for the cache key).
    fn keyed(&self) -> Vec<String> {
        match self {
            RValue::Text(t) => vec![t.clone()],
            RValue::File(_, d) => vec![format!("{{file:{d}}}")],
            RValue::Out(name, _) => vec![format!("{{out:{name}}}")],
            RValue::List(items) => items.iter().flat_map(RValue::keyed).collect(),
            RValue::None => Vec::new(),
            RValue::Secret(id) => vec![format!("{{secret:{id}}}")],
        }
    }
}

/// A file an instance reads, by the input it is passed as.
#[derive(Debug, Clone)]
pub struct Used {
    pub input: String,
    pub path: PathBuf,
    pub digest: String,
}

/// Outputs of finished instances: path and digest of each, by name.
/// Hashed with [`crate::store::FastHasher`]: a rerun inserts and reads thousands.
pub type Outputs = crate::store::FastMap<(usize, u64), Files>;

/// The outputs of one finished instance, sorted by name: path and digest of each. A boxed
/// slice rather than a map, since a run keeps one per instance until it ends and a map's
/// first node alone takes most of a kilobyte.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Files(Box<[(String, (PathBuf, String))]>);

impl Files {
    pub fn get(&self, name: &str) -> Option<&(PathBuf, String)> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &(PathBuf, String))> {
        self.0.iter().map(|(n, f)| (n, f))
    }
}

impl From<BTreeMap<String, (PathBuf, String)>> for Files {
    fn from(map: BTreeMap<String, (PathBuf, String)>) -> Self {
        Files(map.into_iter().collect())
    }
}

/// What running one instance needs.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub kind: Kind,
    /// The program and its arguments (`run`), or `bash -e -u -o pipefail -c SCRIPT`.
    pub argv: Vec<String>,
    /// Variables to set, secrets resolved.
    pub env: Vec<(String, String)>,
    /// Values to replace with `[redacted]` in captured output.
    pub secrets: Vec<String>,
    /// Declared outputs: name and path relative to the work directory.
    pub outputs: Vec<(String, String, bool)>,
    /// What the key is the hash of: a JSON document (see [`KeyDoc`]).
    pub key_json: String,
    pub key: String,
    /// The files it reads, for provenance.
    pub used: Vec<Used>,
    /// Its scalar inputs as text, for provenance.
    pub values: Vec<(String, String)>,
}

impl Resolved {
    /// What the key was made of, for `expc why`.
    pub fn key_doc(&self) -> serde_json::Value {
        serde_json::from_str(&self.key_json).unwrap_or_default()
    }
}

/// The document an instance's cache key is the BLAKE3 hash of. Its fields are written in
/// this (alphabetical) order, as a JSON object of them always was: changing a field, its
/// order or its form changes every key, and reruns every task of every existing store.
#[derive(serde::Serialize)]
struct KeyDoc<'a> {
    /// The command's words, files standing for their content (`{file:DIGEST}`) and
    /// outputs for their names (`{out:NAME}`).
    argv: &'a [Vec<String>],
    env: KeyEnv<'a>,
    /// Each input as it reaches the command.
    inputs: &'a BTreeMap<String, String>,
    /// `name=path` of each declared output.
    outputs: &'a [String],
    /// Params the task uses, by name.
    params: &'a BTreeMap<&'a str, String>,
    /// The hash of the task's definition.
    task: &'a str,
}

#[derive(serde::Serialize)]
struct KeyEnv<'a> {
    conda: &'a Option<String>,
    image: &'a Option<String>,
    modules: &'a [String],
    vars: &'a BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Run,
    Shell,
    Spark,
}

#[derive(Debug)]
pub struct Resolver<'a> {
    pub program: &'a ir::Program,
    pub plan: &'a Plan,
    pub spec_dir: PathBuf,
    tasks: HashMap<&'a str, &'a ir::Task>,
    params: HashMap<&'a str, &'a ir::Param>,
    artifacts: HashMap<&'a str, &'a ir::Artifact>,
    secrets: HashMap<&'a str, &'a ir::Secret>,
    /// Digests of declared data, computed once.
    pub data_digests: HashMap<String, (PathBuf, String)>,
    /// Each task's definition hash (part of every key), computed once.
    definitions: HashMap<&'a str, String>,
}

impl<'a> Resolver<'a> {
    pub fn new(program: &'a ir::Program, plan: &'a Plan, spec_dir: PathBuf) -> Self {
        Self {
            program,
            plan,
            spec_dir,
            tasks: program.tasks.iter().map(|t| (t.id.as_str(), t)).collect(),
            params: program.params.iter().map(|p| (p.id.as_str(), p)).collect(),
            artifacts: program
                .data
                .iter()
                .chain(&program.models)
                .map(|a| (a.id.as_str(), a))
                .collect(),
            secrets: program.secrets.iter().map(|s| (s.id.as_str(), s)).collect(),
            data_digests: HashMap::new(),
            definitions: program
                .tasks
                .iter()
                .map(|t| (t.id.as_str(), definition(program, t)))
                .collect(),
        }
    }

    /// A digest of what every instance's key is made from outside its own inputs: `base`
    /// (the spec, its imports and params, from the caller), each task's definition and the
    /// declared data's digests. With [`Resolver::fingerprint`] it says when an instance's
    /// key is the one it had last time, without working the key out again.
    pub fn run_fingerprint(&self, base: &str) -> blake3::Hash {
        let mut h = blake3::Hasher::new();
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(b"\0");
        h.update(base.as_bytes());
        let definitions: BTreeMap<&str, &String> =
            self.definitions.iter().map(|(k, v)| (*k, v)).collect();
        for (task, d) in definitions {
            h.update(b"\0");
            h.update(task.as_bytes());
            h.update(b"=");
            h.update(d.as_bytes());
        }
        let data: BTreeMap<&String, &(PathBuf, String)> = self.data_digests.iter().collect();
        for (id, (path, d)) in data {
            h.update(b"\0");
            h.update(id.as_bytes());
            h.update(b"=");
            h.update(path.as_os_str().as_encoded_bytes());
            h.update(b"@");
            h.update(d.as_bytes());
        }
        h.finalize()
    }

    /// An instance's fingerprint: the run's, the instance, and the digests of the outputs
    /// of every instance it reads from. Equal fingerprints give equal keys.
    pub fn fingerprint(
        &self,
        run: &blake3::Hash,
        j: usize,
        index: u64,
        outputs: &Outputs,
    ) -> String {
        let job = &self.plan.jobs[j];
        if job.after.is_empty() {
            // One hash of one buffer: most instances of a large sweep read nothing else.
            let mut buf = Vec::with_capacity(40 + job.key.len());
            buf.extend_from_slice(run.as_bytes());
            buf.extend_from_slice(job.key.as_bytes());
            buf.extend_from_slice(&index.to_le_bytes());
            return blake3::hash(&buf).to_hex()[..32].to_owned();
        }
        // Gathered into one buffer and hashed at once: a gather over a sweep of 10,000
        // reads 10,000 instances, and a hash update per field costs more than the hashing.
        let mut buf = Vec::with_capacity(64 + job.key.len());
        buf.extend_from_slice(run.as_bytes());
        buf.extend_from_slice(job.key.as_bytes());
        buf.extend_from_slice(&index.to_le_bytes());
        for dep in &job.after {
            let Some(p) = self.plan.position(&dep.job) else {
                continue;
            };
            buf.push(0);
            for k in expc_plan::dag::producers(self.plan, j, index, p, dep.relation) {
                match outputs.get(&(p, k)) {
                    Some(files) => {
                        for (name, (_, digest)) in files.iter() {
                            buf.extend_from_slice(name.as_bytes());
                            buf.push(b'=');
                            buf.extend_from_slice(digest.as_bytes());
                            buf.push(b';');
                        }
                    }
                    None => buf.extend_from_slice(b"-;"),
                }
            }
        }
        // The same bytes the fields were once hashed one by one in: the same fingerprint.
        blake3::hash(&buf).to_hex()[..32].to_owned()
    }

    pub fn task(&self, job: &Job) -> Option<&'a ir::Task> {
        self.tasks.get(job.task.as_str()).copied()
    }

    /// The absolute path of a declared data item or model.
    pub fn artifact_path(&self, id: &str) -> PathBuf {
        match self.artifacts.get(id) {
            Some(a) => self.spec_dir.join(self.program.artifact_path(a)),
            None => PathBuf::from(id),
        }
    }

    /// Every declared artifact a job can read, by id (for hashing before the run).
    pub fn artifact_ids(&self) -> Vec<String> {
        self.artifacts.keys().map(|k| (*k).to_owned()).collect()
    }

    pub fn pinned_digest(&self, id: &str) -> Option<String> {
        self.artifacts
            .get(id)
            .and_then(|a| a.entries.get("digest"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn value(&self, v: &Value) -> RValue {
        match v {
            Value::List(items) => RValue::List(items.iter().map(|i| self.value(i)).collect()),
            Value::None => RValue::None,
            Value::Artifact(id) => self.artifact(id),
            v => RValue::Text(expc_plan::lower::text(v).join(" ")),
        }
    }

    fn artifact(&self, id: &str) -> RValue {
        match self.data_digests.get(id) {
            Some((p, d)) => RValue::File(p.clone(), d.clone()),
            None => RValue::File(self.artifact_path(id), String::new()),
        }
    }

    /// Resolves an expression for instance `index` of job `j`.
    #[allow(clippy::too_many_arguments)]
    fn eval(
        &self,
        e: &IrExpr,
        j: usize,
        index: u64,
        call_args: &BTreeMap<String, IrExpr>,
        task: &ir::Task,
        work: &Path,
        outputs: &Outputs,
        coords: &[(String, Value)],
    ) -> RValue {
        let job = &self.plan.jobs[j];
        match e {
            IrExpr::Value { value } => self.value(value),
            IrExpr::Param { id } => self
                .params
                .get(id.as_str())
                .and_then(|p| p.value.as_ref())
                .map_or(RValue::None, |v| self.value(v)),
            IrExpr::Artifact { id } => self.artifact(id),
            IrExpr::Secret { id } => RValue::Secret(id.clone()),
            IrExpr::Input { name } => match call_args.get(name) {
                Some(arg) => self.eval(arg, j, index, call_args, task, work, outputs, coords),
                None => RValue::None,
            },
            IrExpr::Output { name } => {
                let rel = task
                    .outputs
                    .iter()
                    .find(|o| &o.name == name)
                    .and_then(|o| o.default.as_ref())
                    .and_then(Value::as_str)
                    .unwrap_or(name);
                RValue::Out(name.clone(), work.join(rel))
            }
            IrExpr::Point { var, axis } => {
                let key = format!("{var}.{axis}");
                coords
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(RValue::None, |(_, v)| self.value(v))
            }
            IrExpr::CallOutput {
                binding,
                output,
                gathered,
            } => {
                let Some(p) = self.plan.position(binding) else {
                    return RValue::None;
                };
                let relation = job
                    .after
                    .iter()
                    .find(|d| &d.job == binding)
                    .map_or(expc_plan::plan::Relation::Each, |d| d.relation);
                let range = expc_plan::dag::producers(self.plan, j, index, p, relation);
                let files: Vec<RValue> = range
                    .map(|k| match outputs.get(&(p, k)).and_then(|o| o.get(output)) {
                        Some((path, d)) => RValue::File(path.clone(), d.clone()),
                        None => RValue::None,
                    })
                    .collect();
                if *gathered {
                    RValue::List(files)
                } else {
                    files.into_iter().next().unwrap_or(RValue::None)
                }
            }
            IrExpr::List { items } | IrExpr::Concat { parts: items } => {
                let mut flat = Vec::new();
                for i in items {
                    match self.eval(i, j, index, call_args, task, work, outputs, coords) {
                        RValue::List(inner) => flat.extend(inner),
                        v => flat.push(v),
                    }
                }
                RValue::List(flat)
            }
            IrExpr::Template { parts } => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        IrPart::Text { text } => s.push_str(text),
                        IrPart::Interp { expr } => s.push_str(
                            &self
                                .eval(expr, j, index, call_args, task, work, outputs, coords)
                                .words()
                                .join(" "),
                        ),
                    }
                }
                RValue::Text(s)
            }
            IrExpr::Error => RValue::None,
        }
    }

    /// Everything needed to run instance `index` of job `j` in `work`.
    pub fn resolve(
        &self,
        j: usize,
        index: u64,
        call: &ir::Call,
        work: &Path,
        outputs: &Outputs,
        spark: &SparkSubmit,
    ) -> Result<Resolved, String> {
        let job = &self.plan.jobs[j];
        let task = self
            .task(job)
            .ok_or_else(|| format!("the task `{}` is missing from the program", job.task))?;
        let coords = self.plan.coords(job, index);
        let ev = |e: &IrExpr| self.eval(e, j, index, &call.args, task, work, outputs, &coords);
        let mut key_argv: Vec<Vec<String>> = Vec::new();
        let mut env: Vec<(String, String)> = Vec::new();
        let mut key_env = BTreeMap::new();
        let mut secrets = Vec::new();
        let (kind, argv) = match &task.command {
            ir::Command::Run { argv } => {
                let mut words = Vec::new();
                for w in argv {
                    if w.expands {
                        if let [IrPart::Interp { expr }] = &w.parts[..] {
                            let v = ev(expr);
                            key_argv.push(v.keyed());
                            words.extend(v.words());
                        }
                    } else {
                        let mut actual = String::new();
                        let mut keyed = String::new();
                        for p in &w.parts {
                            match p {
                                IrPart::Text { text } => {
                                    actual.push_str(text);
                                    keyed.push_str(text);
                                }
                                IrPart::Interp { expr } => {
                                    let v = ev(expr);
                                    actual.push_str(&v.words().join(" "));
                                    keyed.push_str(&v.keyed().join(" "));
                                }
                            }
                        }
                        key_argv.push(vec![keyed]);
                        words.push(actual);
                    }
                }
                if words.is_empty() {
                    return Err("the command is empty".into());
                }
                (Kind::Run, words)
            }
            ir::Command::Shell { script } => {
                // Values reach the script as variables named after the inputs and outputs.
                for f in task.inputs.iter().chain(&task.outputs) {
                    let e = if task.outputs.iter().any(|o| o.name == f.name) {
                        IrExpr::Output {
                            name: f.name.clone(),
                        }
                    } else {
                        IrExpr::Input {
                            name: f.name.clone(),
                        }
                    };
                    let v = ev(&e);
                    env.push((f.name.clone(), v.words().join("\n")));
                    key_env.insert(format!("${}", f.name), v.keyed().join("\n"));
                }
                key_argv.push(vec![script.clone()]);
                (
                    Kind::Shell,
                    vec![
                        "bash".into(),
                        "-e".into(),
                        "-u".into(),
                        "-o".into(),
                        "pipefail".into(),
                        "-c".into(),
                        script.clone(),
                        "expc-shell".into(),
                    ],
                )
            }
            ir::Command::Spark {
                app,
                args,
                settings,
            } => {
                let mut words = vec![
                    spark.program.clone(),
                    "--master".to_owned(),
                    spark.master.clone(),
                ];
                words.extend(spark.options.iter().cloned());
                for (k, v) in settings {
                    if let Some(flag) = spark_flag(k) {
                        words.push(flag.to_owned());
                        words.push(spark_setting_word(v));
                    }
                }
                let a = ev(app);
                key_argv.push(a.keyed());
                words.extend(a.words());
                for arg in args {
                    let v = ev(arg);
                    key_argv.push(v.keyed());
                    words.extend(v.words());
                }
                // The JVM passes non-ASCII arguments through unchanged only under a UTF-8
                // locale (as the job scripts of `expc build --target spark` make sure too).
                if !utf8_locale() {
                    env.push(("LC_ALL".to_owned(), "C.UTF-8".to_owned()));
                }
                (Kind::Spark, words)
            }
            ir::Command::None => return Err("the task has no command".into()),
        };
        for (name, e) in &task.env.vars {
            match ev(e) {
                RValue::Secret(id) => {
                    let var = self
                        .secrets
                        .get(id.as_str())
                        .and_then(|s| s.env.clone())
                        .unwrap_or_default();
                    let value = std::env::var(&var).map_err(|_| {
                        format!("the secret `{id}` is read from the environment variable `{var}`, which is not set")
                    })?;
                    if !value.is_empty() {
                        secrets.push(value.clone());
                    }
                    env.push((name.clone(), value));
                    key_env.insert(name.clone(), format!("{{secret:{id}}}"));
                }
                v => {
                    env.push((name.clone(), v.words().join(" ")));
                    key_env.insert(name.clone(), v.keyed().join(" "));
                }
            }
        }
        let outputs_decl = task
            .outputs
            .iter()
            .map(|o| {
                let path = o
                    .default
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or(&o.name)
                    .to_owned();
                (o.name.clone(), path, o.ty.starts_with("Metrics"))
            })
            .collect::<Vec<_>>();
        let mut inputs: BTreeMap<String, String> = BTreeMap::new();
        let mut used = Vec::new();
        let mut values = Vec::new();
        for (k, e) in &call.args {
            let v = ev(e);
            inputs.insert(k.clone(), v.keyed().join(" "));
            let mut files = Vec::new();
            v.files(&mut files);
            if files.is_empty() {
                if let RValue::Text(t) = &v {
                    values.push((k.clone(), t.clone()));
                }
            }
            used.extend(files.into_iter().map(|(path, digest)| Used {
                input: k.clone(),
                path,
                digest,
            }));
        }
        let params: BTreeMap<&str, String> = task
            .uses
            .iter()
            .filter_map(|u| {
                self.params.get(u.as_str()).map(|p| {
                    (
                        u.as_str(),
                        p.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                    )
                })
            })
            .collect();
        let definition = match self.definitions.get(task.id.as_str()) {
            Some(d) => d.clone(),
            None => definition(self.program, task),
        };
        let outputs_keyed: Vec<String> = outputs_decl
            .iter()
            .map(|(n, p, _)| format!("{n}={p}"))
            .collect();
        let key_json = serde_json::to_string(&KeyDoc {
            argv: &key_argv,
            env: KeyEnv {
                conda: &job.env.conda,
                image: &job.env.image,
                modules: &job.env.modules,
                vars: &key_env,
            },
            inputs: &inputs,
            outputs: &outputs_keyed,
            params: &params,
            task: &definition,
        })
        .unwrap_or_default();
        let key = blake3::hash(key_json.as_bytes()).to_hex().to_string();
        Ok(Resolved {
            kind,
            argv,
            env,
            secrets,
            outputs: outputs_decl,
            key_json,
            key,
            used,
            values,
        })
    }
}

/// The hash of a task's definition: its command, inputs, outputs and name (and module,
/// outside the root).
fn definition(program: &ir::Program, task: &ir::Task) -> String {
    let module = if task.module == program.root {
        ""
    } else {
        task.module.as_str()
    };
    blake3::hash(
        serde_json::to_string(&(
            &task.command,
            &task.inputs,
            &task.outputs,
            module,
            &task.name,
        ))
        .unwrap_or_default()
        .as_bytes(),
    )
    .to_hex()
    .to_string()
}

/// How a Spark task is submitted: which `spark-submit`, to which master, with which
/// options from its resource. None of it is part of the cache key: where an application
/// runs does not change what it computes.
#[derive(Clone, Debug)]
pub struct SparkSubmit {
    pub program: String,
    pub master: String,
    /// Options from the resource, before the task's own settings (which win).
    pub options: Vec<String>,
}

impl SparkSubmit {
    /// `spark-submit` on PATH with `master` (`local[N]` to run here).
    pub fn local(master: &str) -> Self {
        SparkSubmit {
            program: "spark-submit".into(),
            master: master.into(),
            options: Vec::new(),
        }
    }

    /// The submission to the Spark resource a job is placed on: its `master` (or
    /// `EXPC_SPARK_MASTER`, which a site sets to point the same spec at another cluster),
    /// and the options `expc build --target spark` writes for the resource's fields
    /// (deploy mode, executors, memory, `conf`, `py_files`, event log, …), paths resolved
    /// against `spec_dir`; `spark_home`'s `spark-submit` when set. The task's own settings
    /// come after them in the argv, so they win, as they do in the build.
    pub fn for_resource(job: &Job, spec_dir: &Path) -> Self {
        use expc_build::quote::Segment;
        let word = |w: &[Segment]| -> String {
            w.iter()
                .map(|seg| match seg {
                    Segment::Text(t) => t.clone(),
                    Segment::Var(v) if v == "spec_dir" => spec_dir.to_string_lossy().into_owned(),
                    Segment::Var(v) => format!("${v}"),
                })
                .collect()
        };
        let env_master = std::env::var("EXPC_SPARK_MASTER")
            .ok()
            .filter(|m| !m.is_empty());
        let settings = expc_build::spark::options::spark_settings(job, &BTreeMap::new());
        let Ok(settings) = settings else {
            // What the resource cannot give is reported by `check_resource` first.
            return SparkSubmit {
                program: "spark-submit".into(),
                master: env_master.unwrap_or_else(|| "local[*]".into()),
                options: Vec::new(),
            };
        };
        let mut options = Vec::new();
        for o in &settings.options {
            options.push(o.flag.to_owned());
            if let Some(v) = &o.value {
                options.push(word(v));
            }
        }
        SparkSubmit {
            program: settings.spark_home.as_ref().map_or_else(
                || "spark-submit".to_owned(),
                |h| format!("{}/bin/spark-submit", word(h)),
            ),
            master: env_master.unwrap_or(settings.master),
            options,
        }
    }

    /// Whether the job's resource and its task's Spark settings can be submitted (the
    /// checks of `expc build --target spark`: memory within `max_executor_mem`, whole
    /// cores, known properties, …), as a message saying what to change.
    pub fn check_resource(job: &Job, task: &ir::Task) -> Result<(), String> {
        let empty = BTreeMap::new();
        let settings = match &task.command {
            ir::Command::Spark { settings, .. } => settings,
            _ => &empty,
        };
        expc_build::spark::options::spark_settings(job, settings)
            .map(|_| ())
            .map_err(|e| format!("{}; {}", e.message, e.help))
    }
}

/// Whether this process's locale is UTF-8 (`LC_ALL`, else `LC_CTYPE`, else `LANG`).
fn utf8_locale() -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|x| !x.is_empty()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    locale.contains("utf-8") || locale.contains("utf8")
}

/// A task's Spark setting as spark-submit reads it. Spark reads a bare number of memory as
/// MiB, so memory goes as `Ng`/`Nm`, as the build writes it (a part of a MiB, which Spark
/// cannot express, is rounded up).
fn spark_setting_word(v: &Value) -> String {
    match v {
        Value::Memory(b) => expc_build::spark::options::spark_memory(*b)
            .unwrap_or_else(|| format!("{}m", b.div_ceil(1 << 20))),
        _ => expc_plan::lower::text(v).join(","),
    }
}

fn spark_flag(setting: &str) -> Option<&'static str> {
    Some(match setting {
        "executor_mem" => "--executor-memory",
        "driver_mem" => "--driver-memory",
        "executor_cores" => "--executor-cores",
        "driver_cores" => "--driver-cores",
        "executors" => "--num-executors",
        "py_files" => "--py-files",
        "jars" => "--jars",
        "packages" => "--packages",
        "main_class" => "--class",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The key document is written as the JSON object it was first made as, byte for
    /// byte: the keys of existing stores stay valid.
    #[test]
    fn key_documents_keep_their_form() {
        let argv = vec![
            vec!["touch".to_owned()],
            vec!["{out:out}".to_owned(), "a \"b\"\n".to_owned()],
        ];
        let vars = BTreeMap::from([("$x".to_owned(), "{file:00ff}".to_owned())]);
        let inputs = BTreeMap::from([
            ("i".to_owned(), "3".to_owned()),
            ("data".to_owned(), "{file:abcd}".to_owned()),
        ]);
        let params = BTreeMap::from([("lr", "0.1".to_owned())]);
        let outputs = vec!["out=out.txt".to_owned()];
        for (image, conda, modules) in [
            (None, None, vec![]),
            (
                Some("python:3.12".to_owned()),
                Some("env.yaml".to_owned()),
                vec!["gcc/13".to_owned(), "cuda".to_owned()],
            ),
        ] {
            let doc = KeyDoc {
                argv: &argv,
                env: KeyEnv {
                    conda: &conda,
                    image: &image,
                    modules: &modules,
                    vars: &vars,
                },
                inputs: &inputs,
                outputs: &outputs,
                params: &params,
                task: "f00d",
            };
            let first_form = json!({
                "task": "f00d",
                "argv": argv,
                "inputs": inputs,
                "params": params,
                "env": {
                    "image": image,
                    "modules": modules,
                    "conda": conda,
                    "vars": vars,
                },
                "outputs": outputs,
            });
            assert_eq!(
                serde_json::to_string(&doc).unwrap(),
                serde_json::to_string(&first_form).unwrap()
            );
        }
    }

    #[test]
    fn spark_memory_settings_are_written_as_spark_reads_them() {
        assert_eq!(spark_setting_word(&Value::Memory(1 << 30)), "1g");
        assert_eq!(spark_setting_word(&Value::Memory(1536 << 20)), "1536m");
        assert_eq!(spark_setting_word(&Value::Memory((1 << 20) + 1)), "2m");
        assert_eq!(spark_setting_word(&Value::Int(4)), "4");
    }
}
