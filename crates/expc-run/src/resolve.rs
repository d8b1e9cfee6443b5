//! One task instance made concrete: the command [`expc_plan::command`] evaluates, with
//! every place written as the engine that runs the instance sees it ([`Site`]), and its
//! cache key, with every file standing for its content ([`crate::key`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use expc_check::ir;
use expc_check::value::Value;
use expc_plan::command::{CommandKind, Evaluator, InstanceCommand, Place, Symbolic, VariableKind};
use expc_plan::plan::{Job, Plan};

pub use crate::events::Used;
use crate::key::{KeyDoc, KeyEnv};
use crate::stamp::Stamp;

/// Outputs of finished instances: path and digest of each, by name.
/// Hashed with [`crate::store::FastHasher`]: a rerun inserts and reads thousands.
pub type Outputs = crate::store::FastMap<(usize, u64), Files>;

/// The outputs of one finished instance, sorted by name: path and digest of each, and the
/// stamp its object was known good with when it was linked. A boxed slice rather than a
/// map, since a run keeps one per instance until it ends and a map's first node alone
/// takes most of a kilobyte.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Files(Box<[FileOut]>);

/// One output in [`Files`]: its name, its path and digest, its stamp when linked.
type FileOut = (String, (PathBuf, String), Option<Stamp>);

impl Files {
    pub fn get(&self, name: &str) -> Option<&(PathBuf, String)> {
        self.0.iter().find(|(n, _, _)| n == name).map(|(_, f, _)| f)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &(PathBuf, String))> {
        self.0.iter().map(|(n, f, _)| (n, f))
    }

    /// The stamp the output's object was known good with when it was linked.
    pub fn stamp(&self, name: &str) -> Option<Stamp> {
        self.0
            .iter()
            .find(|(n, _, _)| n == name)
            .and_then(|(_, _, s)| *s)
    }
}

impl From<BTreeMap<String, (PathBuf, String)>> for Files {
    fn from(map: BTreeMap<String, (PathBuf, String)>) -> Self {
        Files(map.into_iter().map(|(n, f)| (n, f, None)).collect())
    }
}

impl From<BTreeMap<String, (PathBuf, String, Option<Stamp>)>> for Files {
    fn from(map: BTreeMap<String, (PathBuf, String, Option<Stamp>)>) -> Self {
        Files(
            map.into_iter()
                .map(|(n, (p, d, s))| (n, (p, d), s))
                .collect(),
        )
    }
}

/// Where an instance runs, as its command names places: what an engine says of each of
/// its instances.
#[derive(Debug, Clone)]
pub struct Site {
    /// The spec's folder, against which data paths are relative.
    pub spec_dir: String,
    /// The instance's work directory, where it writes its outputs.
    pub work: PathBuf,
    /// Where it reads the outputs of the instances it depends on: `None` where the store
    /// linked them (a process on this machine), or `RUN_DIR` of an engine's run folder,
    /// where the run hands them over at `RUN_DIR/JOB/INDEX/FILE`.
    pub run_dir: Option<String>,
    /// How an application of a `spark` task is submitted from there.
    pub spark: Option<SparkSubmit>,
}

/// What running one instance needs.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The program and its arguments, exactly as they are executed.
    pub argv: Vec<String>,
    /// Variables to set, secrets resolved.
    pub env: Vec<(String, String)>,
    /// Values to replace with `[redacted]` in captured output.
    pub secrets: Vec<String>,
    /// Declared outputs: name, path relative to the work directory, whether metrics.
    pub outputs: Vec<(String, String, bool)>,
    /// What the key is the hash of: a JSON document (see [`KeyDoc`]).
    pub key_json: String,
    pub key: String,
    /// The files it reads, for provenance, where this machine keeps them.
    pub used: Vec<Used>,
    /// How the run watches each of `used` (in the same order) while the instance runs.
    pub watch: Vec<Watch>,
    /// Its scalar inputs as text, for provenance.
    pub values: Vec<(String, String)>,
    /// The files `${json(…)}` and `${yaml(…)}` write in the work directory before the
    /// command runs: name and text.
    pub configs: Vec<(String, String)>,
    /// The file, relative to the work directory, the command's standard output is written
    /// to (an output declared `= stdout`).
    pub stdout_to: Option<String>,
}

/// What the run knows of a file an instance reads: whether it is declared data (else an
/// upstream output, a store object) and the stamp it was known good with, when known.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub data: bool,
    pub known: Option<Stamp>,
}

impl Resolved {
    /// What the key was made of, for `expc why`.
    pub fn key_doc(&self) -> serde_json::Value {
        serde_json::from_str(&self.key_json).unwrap_or_default()
    }
}

#[derive(Debug)]
pub struct Resolver<'a> {
    evaluator: Evaluator<'a>,
    pub spec_dir: PathBuf,
    /// Digests of declared data, computed once.
    pub data_digests: HashMap<String, (PathBuf, String)>,
    /// The stamps of declared data when it was hashed, by id.
    pub data_stamps: HashMap<String, Stamp>,
    /// Remote inputs, by id: where the store holds each, and what it is (`remote.rs`).
    pub remote: HashMap<String, expc_remote::Resolved>,
    /// Each task's definition hash (part of every key), computed once.
    definitions: HashMap<&'a str, String>,
}

/// The texts of one value: as the command gets it, and as the cache key sees it.
struct Rendered {
    words: Vec<String>,
    keyed: Vec<String>,
}

impl<'a> Resolver<'a> {
    pub fn new(program: &'a ir::Program, plan: &'a Plan, spec_dir: PathBuf) -> Self {
        Self {
            evaluator: Evaluator::new(program, plan),
            spec_dir,
            data_digests: HashMap::new(),
            data_stamps: HashMap::new(),
            remote: HashMap::new(),
            definitions: program
                .tasks
                .iter()
                .map(|t| (t.id.as_str(), crate::key::definition(program, t)))
                .collect(),
        }
    }

    pub fn plan(&self) -> &'a Plan {
        self.evaluator.plan()
    }

    pub fn program(&self) -> &'a ir::Program {
        self.evaluator.index().program
    }

    /// See [`crate::key::run_fingerprint`].
    pub fn run_fingerprint(&self, base: &str) -> blake3::Hash {
        crate::key::run_fingerprint(base, &self.definitions, &self.data_digests)
    }

    /// See [`crate::key::fingerprint`].
    pub fn fingerprint(
        &self,
        run: &blake3::Hash,
        j: usize,
        index: u64,
        outputs: &Outputs,
    ) -> String {
        crate::key::fingerprint(self.plan(), run, j, index, outputs)
    }

    pub fn task(&self, job: &Job) -> Option<&'a ir::Task> {
        self.evaluator.index().task(&job.task)
    }

    /// The absolute path of a declared data item or model.
    pub fn artifact_path(&self, id: &str) -> PathBuf {
        if let Some(r) = self.remote.get(id) {
            return r.path.clone();
        }
        match self.evaluator.index().artifact_path(id) {
            Some(p) => self.spec_dir.join(p),
            None => PathBuf::from(id),
        }
    }

    /// Every declared artifact a job can read, by id (for hashing before the run).
    pub fn artifact_ids(&self) -> Vec<String> {
        self.evaluator
            .index()
            .artifacts()
            .map(|a| a.id.clone())
            .collect()
    }

    pub fn pinned_digest(&self, id: &str) -> Option<String> {
        self.evaluator.index().pinned_digest(id).map(str::to_owned)
    }

    /// A place as the instance's command names it at `site`.
    fn place_text(&self, p: &Place, site: &Site, outputs: &Outputs, out: &mut String) {
        match p {
            Place::Data { id, .. } if self.remote.contains_key(id) => {
                out.push_str(&self.remote[id].path.to_string_lossy());
            }
            Place::Data { path, .. } if path.starts_with('/') => out.push_str(path),
            Place::Data { path, .. } => {
                out.push_str(&site.spec_dir);
                out.push('/');
                out.push_str(path);
            }
            Place::Output { file, .. } => {
                out.push_str(&site.work.to_string_lossy());
                out.push('/');
                out.push_str(file);
            }
            Place::Upstream {
                job,
                index,
                output,
                file,
            } => match &site.run_dir {
                Some(run_dir) => {
                    let key = &self.plan().jobs[*job].key;
                    out.push_str(&format!("{run_dir}/{}/{index}/{file}", job_dir(key)));
                }
                None => {
                    if let Some((path, _)) =
                        outputs.get(&(*job, *index)).and_then(|o| o.get(output))
                    {
                        out.push_str(&path.to_string_lossy());
                    }
                }
            },
            Place::Secret { id, .. } => out.push_str(&format!("secret({id})")),
            Place::Config { file, .. } => {
                out.push_str(&site.work.to_string_lossy());
                out.push('/');
                out.push_str(file);
            }
        }
    }

    /// The content digest of a file place: a declared data item's, or an upstream
    /// output's (`None` when not known).
    fn place_digest<'o>(&'o self, p: &Place, outputs: &'o Outputs) -> Option<&'o str> {
        match p {
            Place::Data { id, .. } => self.data_digests.get(id).map(|(_, d)| d.as_str()),
            Place::Upstream {
                job, index, output, ..
            } => outputs
                .get(&(*job, *index))
                .and_then(|o| o.get(output))
                .map(|(_, d)| d.as_str()),
            Place::Output { .. } | Place::Secret { .. } | Place::Config { .. } => None,
        }
    }

    /// A place as the cache key sees it: a file by its content, an output by its name.
    fn place_key(&self, p: &Place, outputs: &Outputs, out: &mut String) {
        match p {
            Place::Data { .. } => {
                let digest = self.place_digest(p, outputs).unwrap_or_default();
                out.push_str(&format!("{{file:{digest}}}"));
            }
            Place::Upstream { .. } => {
                if let Some(d) = self.place_digest(p, outputs) {
                    out.push_str(&format!("{{file:{d}}}"));
                }
            }
            Place::Output { name, .. } => out.push_str(&format!("{{out:{name}}}")),
            Place::Secret { id, .. } => out.push_str(&format!("{{secret:{id}}}")),
            Place::Config { text, .. } => {
                out.push_str(&format!(
                    "{{config:{}}}",
                    blake3::hash(text.as_bytes()).to_hex()
                ));
            }
        }
    }

    /// A file an instance reads, where this machine keeps it.
    fn used(&self, input: &str, f: &Place, here: &Site, outputs: &Outputs, program: bool) -> Used {
        let mut path = String::new();
        self.place_text(f, here, outputs, &mut path);
        Used {
            input: input.to_owned(),
            path: PathBuf::from(path),
            digest: self.place_digest(f, outputs).unwrap_or_default().to_owned(),
            program,
        }
    }

    /// How the run watches `f` while an instance reads it.
    fn watch(&self, f: &Place, outputs: &Outputs) -> Watch {
        match f {
            Place::Data { id, .. } => Watch {
                data: true,
                known: self.data_stamps.get(id).copied(),
            },
            Place::Upstream {
                job, index, output, ..
            } => Watch {
                data: false,
                known: outputs.get(&(*job, *index)).and_then(|o| o.stamp(output)),
            },
            _ => Watch {
                data: false,
                known: None,
            },
        }
    }

    fn render(&self, v: &Symbolic, site: &Site, outputs: &Outputs) -> Rendered {
        let words = v.words();
        Rendered {
            words: words
                .iter()
                .map(|w| w.render(|p, out| self.place_text(p, site, outputs, out)))
                .collect(),
            keyed: words
                .iter()
                .map(|w| self.keyed_word(w, site, outputs))
                .collect(),
        }
    }

    fn keyed_word(&self, w: &expc_plan::command::Word, site: &Site, outputs: &Outputs) -> String {
        use expc_plan::command::Piece;
        let mut out = String::new();
        for piece in &w.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Place(p) => self.place_key(p, outputs, &mut out),
                Piece::Path(p) => self.place_text(p, site, outputs, &mut out),
            }
        }
        out
    }

    /// The argv instance `index` of job `j` runs at `site`: what [`Resolver::resolve`]
    /// gives as its `argv`.
    pub fn argv(
        &self,
        j: usize,
        index: u64,
        site: &Site,
        outputs: &Outputs,
    ) -> Result<Vec<String>, String> {
        self.argv_of(&self.evaluator.command(j, index)?, site, outputs)
    }

    fn argv_of(
        &self,
        cmd: &InstanceCommand<'_>,
        site: &Site,
        outputs: &Outputs,
    ) -> Result<Vec<String>, String> {
        let words: Vec<String> = cmd
            .words()
            .iter()
            .map(|w| w.render(|p, out| self.place_text(p, site, outputs, out)))
            .collect();
        match &cmd.kind {
            CommandKind::Run | CommandKind::Shell { .. } => Ok(words),
            CommandKind::Spark { settings } => {
                let spark = site.spark.as_ref().ok_or_else(|| {
                    "the task runs a Spark application, which this engine cannot submit".to_owned()
                })?;
                Ok(spark.argv(settings, words))
            }
        }
    }

    /// Everything needed to run instance `index` of job `j` at `site`.
    pub fn resolve(
        &self,
        j: usize,
        index: u64,
        site: &Site,
        outputs: &Outputs,
    ) -> Result<Resolved, String> {
        let job = &self.plan().jobs[j];
        let task = self.evaluator.task(j)?;
        let cmd = self.evaluator.command(j, index)?;
        let mut key_argv: Vec<Vec<String>> = cmd
            .groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|w| self.keyed_word(w, site, outputs))
                    .collect()
            })
            .collect();
        if let CommandKind::Shell { script } = &cmd.kind {
            key_argv.push(vec![(*script).to_owned()]);
        }
        let argv = self.argv_of(&cmd, site, outputs)?;
        let mut env: Vec<(String, String)> = Vec::new();
        // The JVM passes non-ASCII arguments through unchanged only under a UTF-8
        // locale (as the job scripts of `expc build --target spark` make sure too).
        if matches!(cmd.kind, CommandKind::Spark { .. }) && !utf8_locale() {
            env.push(("LC_ALL".to_owned(), "C.UTF-8".to_owned()));
        }
        let (mut vars, key_env, secrets) = self.variables(&cmd, site, outputs)?;
        env.append(&mut vars);
        let inputs = self.inputs(&cmd, site, outputs);
        let outputs_decl: Vec<(String, String, bool)> = cmd
            .outputs
            .iter()
            .map(|o| (o.name.clone(), o.file.clone(), o.metrics))
            .collect();
        let params: BTreeMap<&str, String> = task
            .uses
            .iter()
            .filter_map(|u| {
                let p = self.evaluator.index().param(u)?;
                let value = p.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                Some((u.as_str(), value))
            })
            .collect();
        let definition = match self.definitions.get(task.id.as_str()) {
            Some(d) => d.clone(),
            None => crate::key::definition(self.evaluator.index().program, task),
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
            inputs: &inputs.keyed,
            outputs: &outputs_keyed,
            params: &params,
            task: &definition,
        })
        .unwrap_or_default();
        let key = blake3::hash(key_json.as_bytes()).to_hex().to_string();
        Ok(Resolved {
            argv,
            env,
            secrets,
            outputs: outputs_decl,
            key_json,
            key,
            used: inputs.used,
            watch: inputs.watch,
            values: inputs.values,
            configs: cmd
                .configs()
                .into_iter()
                .map(|(f, t)| (f.to_owned(), t.to_owned()))
                .collect(),
            stdout_to: cmd.stdout_file().map(str::to_owned),
        })
    }

    /// The command's variables (a secret's value read from the environment), as the key
    /// sees them, and the secrets' values.
    #[allow(clippy::type_complexity)]
    fn variables(
        &self,
        cmd: &InstanceCommand<'_>,
        site: &Site,
        outputs: &Outputs,
    ) -> Result<(Vec<(String, String)>, BTreeMap<String, String>, Vec<String>), String> {
        let mut env = Vec::new();
        let mut key_env = BTreeMap::new();
        let mut secrets = Vec::new();
        for v in &cmd.variables {
            let (key_name, secret) = match v.kind {
                VariableKind::ShellValue => (format!("${}", v.name), None),
                VariableKind::Env => (v.name.clone(), v.value.as_secret()),
            };
            if let Some((id, var)) = secret {
                let value = std::env::var(var).map_err(|_| {
                    format!(
                        "the secret `{id}` is read from the environment variable `{var}`, which is not set"
                    )
                })?;
                if !value.is_empty() {
                    secrets.push(value.clone());
                }
                env.push((v.name.clone(), value));
                key_env.insert(key_name, format!("{{secret:{id}}}"));
                continue;
            }
            let r = self.render(&v.value, site, outputs);
            env.push((v.name.clone(), r.words.join(v.separator())));
            key_env.insert(key_name, r.keyed.join(v.separator()));
        }
        Ok((env, key_env, secrets))
    }

    /// The call's arguments: as the key sees them, the files among them (where this
    /// machine keeps them, for provenance) and the values.
    fn inputs(&self, cmd: &InstanceCommand<'_>, site: &Site, outputs: &Outputs) -> Inputs {
        let mut inputs = Inputs::default();
        let here = Site {
            run_dir: None,
            ..site.clone()
        };
        for (name, v) in &cmd.inputs {
            let r = self.render(v, site, outputs);
            inputs.keyed.insert((*name).to_owned(), r.keyed.join(" "));
            let files = v.files();
            if files.is_empty() {
                if let Some(text) = self.value_text(v, site, outputs) {
                    inputs.values.push(((*name).to_owned(), text));
                }
            }
            for f in files {
                inputs.used.push(self.used(name, f, &here, outputs, false));
                inputs.watch.push(self.watch(f, outputs));
            }
        }
        // The files the command names itself (its program): read like inputs.
        for f in cmd.named_data() {
            if let Place::Data { id, .. } = f {
                inputs.used.push(self.used(id, f, &here, outputs, true));
                inputs.watch.push(self.watch(f, outputs));
            }
        }
        inputs
    }
}

impl Resolver<'_> {
    /// A value with no file of its own as provenance records it: a word as its text, a
    /// list as a JSON array (numbers as numbers), so that runs differing only in a list
    /// (`n_modes = [[16, 16], [24, 24]]`) are told apart.
    fn value_text(&self, v: &Symbolic, site: &Site, outputs: &Outputs) -> Option<String> {
        fn json(
            r: &Resolver<'_>,
            v: &Symbolic,
            site: &Site,
            outputs: &Outputs,
        ) -> Option<serde_json::Value> {
            match v {
                Symbolic::Word(w) if w.is_value() => {
                    let text = w.render(|p, out| r.place_text(p, site, outputs, out));
                    Some(match serde_json::from_str::<serde_json::Number>(&text) {
                        Ok(n) => serde_json::Value::Number(n),
                        Err(_) => serde_json::Value::String(text),
                    })
                }
                Symbolic::List(items) => items
                    .iter()
                    .map(|i| json(r, i, site, outputs))
                    .collect::<Option<Vec<_>>>()
                    .map(serde_json::Value::Array),
                _ => None,
            }
        }
        match v {
            Symbolic::Word(w) if w.is_value() => {
                Some(w.render(|p, out| self.place_text(p, site, outputs, out)))
            }
            Symbolic::List(_) => json(self, v, site, outputs).map(|j| j.to_string()),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Inputs {
    keyed: BTreeMap<String, String>,
    used: Vec<Used>,
    watch: Vec<Watch>,
    values: Vec<(String, String)>,
}

/// The name of a job's folders in an engine's run folder: its key with `#` as `-`, as the
/// generated scripts name them.
pub fn job_dir(key: &str) -> String {
    expc_build::slurm::argv::job_dir(key)
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

    /// The argv submitting an application: `spark-submit`, the master, the resource's
    /// options, the task's settings, then the application's words.
    fn argv(&self, settings: &BTreeMap<String, Value>, application: Vec<String>) -> Vec<String> {
        let mut words = vec![
            self.program.clone(),
            "--master".to_owned(),
            self.master.clone(),
        ];
        words.extend(self.options.iter().cloned());
        for (k, v) in settings {
            if let Some(flag) = spark_flag(k) {
                words.push(flag.to_owned());
                words.push(spark_setting_word(v));
            }
        }
        words.extend(application);
        words
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

/// Where a local instance works when nothing else is said: its own directory.
pub fn local_site(spec_dir: &Path, work: PathBuf, spark: Option<SparkSubmit>) -> Site {
    Site {
        spec_dir: spec_dir.to_string_lossy().into_owned(),
        work,
        run_dir: None,
        spark,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_memory_settings_are_written_as_spark_reads_them() {
        assert_eq!(spark_setting_word(&Value::Memory(1 << 30)), "1g");
        assert_eq!(spark_setting_word(&Value::Memory(1536 << 20)), "1536m");
        assert_eq!(spark_setting_word(&Value::Memory((1 << 20) + 1)), "2m");
        assert_eq!(spark_setting_word(&Value::Int(4)), "4");
    }
}
