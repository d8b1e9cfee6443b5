//! A run as W3C PROV-JSON and as a Workflow Run RO-Crate.
//!
//! Both are built from a [`RunView`], the same records `expc runs show` prints. Times are
//! the store's (UTC, milliseconds): every activity ends at or after its start, a use is
//! timed at its task's start and a generation at its task's end, and a task starts only
//! after the tasks it reads from have ended — so uses never precede generations.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json, json};

use crate::query::{ArtifactView, RunView, TaskView};

/// The namespace of expc's own PROV attributes and types.
pub const NS: &str = "https://expc.dev/ns/prov#";

// The ids of the run's activity, expc's and the user's agents, and the spec's entity.
const RUN: &str = "run:run";
const EXPC: &str = "run:expc";
const USER: &str = "run:user";
const SPEC: &str = "run:spec";

/// PROV-JSON of a run (https://www.w3.org/submissions/prov-json/).
pub fn prov_json(view: &RunView) -> Json {
    let id = view.id();
    let mut doc = Doc::default();
    let run_start = view.field("started_at");
    let run_end = view.field("ended_at");
    run_activity(&mut doc, view, &id, &run_start, &run_end);
    agents(&mut doc, view);
    spec_and_params(&mut doc, view, &run_start);
    let generated: BTreeMap<i64, &ArtifactView> = view
        .artifacts
        .iter()
        .filter(|a| a.produced_by.is_some())
        .map(|a| (a.id, a))
        .collect();
    let remote = remote_inputs(view);
    for a in &view.artifacts {
        artifact_entity(&mut doc, a, remote.get(&a.path));
    }
    for t in &view.tasks {
        task_activity(&mut doc, view, t, &generated);
    }
    doc.finish(&id)
}

/// The run's activity: its status, pipeline, times, host, checkout and environment.
fn run_activity(doc: &mut Doc, view: &RunView, id: &str, run_start: &str, run_end: &str) {
    let mut run_attrs = attrs([
        ("prov:label", json!(format!("run {id}"))),
        ("prov:type", qualified("expc:Run")),
        ("expc:status", json!(view.field("status"))),
        ("expc:pipeline", json!(view.field("pipeline"))),
    ]);
    times(&mut run_attrs, run_start, run_end);
    for (k, field) in [
        ("expc:host", "host"),
        ("expc:gitCommit", "git_commit"),
        ("expc:gitDiffHash", "git_diff_hash"),
        ("expc:environment", "environment"),
    ] {
        let v = view.field(field);
        if !v.is_empty() {
            run_attrs.insert(k.into(), json!(v));
        }
    }
    if let Some(d) = view.run.get("git_dirty").and_then(Json::as_i64) {
        run_attrs.insert("expc:gitDirty".into(), json!(d != 0));
    }
    doc.add("activity", RUN, run_attrs);
}

/// expc and the user as agents of the run, expc acting on the user's behalf.
fn agents(doc: &mut Doc, view: &RunView) {
    doc.add(
        "agent",
        EXPC,
        attrs([
            ("prov:type", qualified("prov:SoftwareAgent")),
            ("prov:label", json!("expc")),
            ("expc:version", json!(view.field("expc_version"))),
        ]),
    );
    let user_name = view.field("user");
    doc.add(
        "agent",
        USER,
        attrs([
            ("prov:type", qualified("prov:Person")),
            (
                "prov:label",
                json!(if user_name.is_empty() {
                    "unknown".to_owned()
                } else {
                    user_name
                }),
            ),
        ]),
    );
    doc.relation(
        "wasAssociatedWith",
        attrs([("prov:activity", json!(RUN)), ("prov:agent", json!(EXPC))]),
    );
    doc.relation(
        "wasAssociatedWith",
        attrs([("prov:activity", json!(RUN)), ("prov:agent", json!(USER))]),
    );
    doc.relation(
        "actedOnBehalfOf",
        attrs([
            ("prov:delegate", json!(EXPC)),
            ("prov:responsible", json!(USER)),
        ]),
    );
}

/// The spec and each param as entities the run used at its start.
fn spec_and_params(doc: &mut Doc, view: &RunView, run_start: &str) {
    doc.add(
        "entity",
        SPEC,
        attrs([
            ("prov:type", qualified("expc:Spec")),
            ("prov:label", json!(view.field("spec_path"))),
            ("expc:digest", json!(view.field("spec_hash"))),
        ]),
    );
    doc.relation(
        "used",
        with_time(
            attrs([("prov:activity", json!(RUN)), ("prov:entity", json!(SPEC))]),
            run_start,
        ),
    );
    for (name, ty, value) in &view.params {
        let e = format!("run:param-{}", local(name));
        doc.add(
            "entity",
            &e,
            attrs([
                ("prov:type", qualified("expc:Param")),
                ("prov:label", json!(name)),
                ("prov:value", json!(literal(value))),
                ("expc:type", json!(ty)),
            ]),
        );
        doc.relation(
            "used",
            with_time(
                attrs([("prov:activity", json!(RUN)), ("prov:entity", json!(e))]),
                run_start,
            ),
        );
    }
}

/// The remote inputs a run read (`https://…`, `s3://…`), by the path of their object in
/// the store, as its environment records them (`RunMeta::remote_inputs`).
fn remote_inputs(view: &RunView) -> BTreeMap<String, Json> {
    let env: Json = serde_json::from_str(&view.field("environment")).unwrap_or_default();
    env.get("remote_inputs")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r.get("path")?.as_str()?.to_owned(), r.clone())))
        .collect()
}

/// An artifact of the run as an entity: its path, digest, role, type, name and size; for
/// a remote input, also its URL, its SHA-256 and the server's ETag and version.
fn artifact_entity(doc: &mut Doc, a: &ArtifactView, remote: Option<&Json>) {
    let mut at = attrs([
        (
            "prov:type",
            qualified(&format!("expc:{}", role_type(&a.role))),
        ),
        ("prov:label", json!(a.path)),
        ("expc:digest", json!(a.digest)),
        ("expc:role", json!(a.role)),
    ]);
    if let Some(ty) = &a.ty {
        at.insert("expc:type".into(), json!(ty));
    }
    if let Some(n) = &a.name {
        at.insert("expc:name".into(), json!(n));
    }
    if let Some(s) = a.size {
        at.insert("expc:size".into(), json!(s));
    }
    for (k, field) in [
        ("prov:location", "url"),
        ("expc:sha256", "digest"),
        ("expc:etag", "etag"),
        ("expc:version", "version"),
    ] {
        if let Some(v) = remote.and_then(|r| r.get(field)).and_then(Json::as_str) {
            at.insert(k.into(), json!(v));
        }
    }
    doc.add("entity", &artifact_id(a.id), at);
}

/// A task instance as an activity started by the run, with what it used, what it
/// generated (of `generated`, the artifacts some task made) and what derives from what.
fn task_activity(
    doc: &mut Doc,
    view: &RunView,
    t: &TaskView,
    generated: &BTreeMap<i64, &ArtifactView>,
) {
    let act = format!("run:task-{}", t.id);
    let (start, end) = (
        t.started_at.clone().unwrap_or_default(),
        t.ended_at.clone().unwrap_or_default(),
    );
    doc.add("activity", &act, task_attrs(t, &start, &end));
    doc.relation(
        "wasStartedBy",
        with_time(
            attrs([("prov:activity", json!(act)), ("prov:starter", json!(RUN))]),
            &start,
        ),
    );
    doc.relation(
        "wasAssociatedWith",
        attrs([("prov:activity", json!(act)), ("prov:agent", json!(EXPC))]),
    );
    let used: Vec<(i64, &str, bool)> = view
        .usages
        .iter()
        .filter(|u| u.0 == t.id)
        .map(|u| (u.1, u.2.as_str(), u.3))
        .collect();
    for (a, input, program) in &used {
        let mut u = attrs([
            ("prov:activity", json!(act)),
            ("prov:entity", json!(artifact_id(*a))),
            ("prov:role", json!(input)),
        ]);
        // The program a command runs (`python3 ${train_py}`), told from the data it reads.
        if *program {
            u.insert("expc:usedAs".into(), json!("program"));
        }
        doc.relation("used", with_time(u, &start));
    }
    for a in generated.values().filter(|a| a.produced_by == Some(t.id)) {
        let mut g = attrs([
            ("prov:entity", json!(artifact_id(a.id))),
            ("prov:activity", json!(act)),
        ]);
        if let Some(n) = &a.name {
            g.insert("prov:role".into(), json!(n));
        }
        doc.relation("wasGeneratedBy", with_time(g, &end));
        for (u, _, _) in &used {
            doc.relation(
                "wasDerivedFrom",
                attrs([
                    ("prov:generatedEntity", json!(artifact_id(a.id))),
                    ("prov:usedEntity", json!(artifact_id(*u))),
                    ("prov:activity", json!(act)),
                ]),
            );
        }
    }
}

/// The attributes of a task instance's activity.
fn task_attrs(t: &TaskView, start: &str, end: &str) -> Map<String, Json> {
    let mut at = attrs([
        ("prov:type", qualified("expc:TaskInstance")),
        ("prov:label", json!(t.instance)),
        ("expc:task", json!(t.task)),
        ("expc:call", json!(t.call)),
        ("expc:status", json!(t.status)),
        ("expc:backend", json!(t.backend)),
        ("expc:resource", json!(t.resource)),
        ("expc:attempts", json!(t.attempts)),
    ]);
    times(&mut at, start, end);
    if let Some(k) = &t.cache_key {
        at.insert("expc:cacheKey".into(), json!(k));
    }
    if !t.argv.is_empty() {
        at.insert(
            "expc:argv".into(),
            json!(serde_json::to_string(&t.argv).unwrap_or_default()),
        );
    }
    if let Some(c) = t.exit_code {
        at.insert("expc:exitCode".into(), json!(c));
    }
    for (k, v) in [
        ("expc:host", &t.host),
        ("expc:jobId", &t.job_id),
        ("expc:message", &t.message),
    ] {
        if let Some(v) = v {
            at.insert(k.into(), json!(v));
        }
    }
    for (n, v) in &t.values {
        at.insert(format!("expc:value-{}", local(n)), json!(v));
    }
    at
}

fn artifact_id(id: i64) -> String {
    format!("run:artifact-{id}")
}

fn role_type(role: &str) -> &'static str {
    match role {
        "data" => "Data",
        "model" => "Model",
        "metrics" => "Metrics",
        "output" => "Output",
        _ => "File",
    }
}

/// A name made safe for the local part of a qualified name.
fn local(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A param's value as PROV writes it: numbers and booleans as themselves, the rest as
/// JSON text.
fn literal(v: &Json) -> Json {
    match v {
        Json::Number(_) | Json::Bool(_) | Json::String(_) => v.clone(),
        v => json!(v.to_string()),
    }
}

fn qualified(q: &str) -> Json {
    json!({ "$": q, "type": "prov:QUALIFIED_NAME" })
}

fn attrs<const N: usize>(pairs: [(&str, Json); N]) -> Map<String, Json> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn times(at: &mut Map<String, Json>, start: &str, end: &str) {
    if !start.is_empty() {
        at.insert("prov:startTime".into(), json!(start));
    }
    if !end.is_empty() {
        at.insert("prov:endTime".into(), json!(end));
    }
}

fn with_time(mut at: Map<String, Json>, time: &str) -> Map<String, Json> {
    if !time.is_empty() {
        at.insert("prov:time".into(), json!(time));
    }
    at
}

#[derive(Default)]
struct Doc {
    kinds: BTreeMap<&'static str, Map<String, Json>>,
    counter: usize,
}

impl Doc {
    fn add(&mut self, kind: &'static str, id: &str, at: Map<String, Json>) {
        self.kinds
            .entry(kind)
            .or_default()
            .insert(id.to_owned(), Json::Object(at));
    }

    fn relation(&mut self, kind: &'static str, at: Map<String, Json>) {
        self.counter += 1;
        let id = format!("_:{kind}{}", self.counter);
        self.add(kind, &id, at);
    }

    fn finish(self, run_id: &str) -> Json {
        let mut doc = Map::new();
        doc.insert(
            "prefix".into(),
            json!({
                "expc": NS,
                "run": format!("https://expc.dev/run/{run_id}/"),
            }),
        );
        for (k, v) in self.kinds {
            doc.insert(k.into(), Json::Object(v));
        }
        Json::Object(doc)
    }
}

/// What an RO-Crate export wrote.
#[derive(Debug)]
pub struct CrateSummary {
    pub files: usize,
    pub bytes: u64,
}

/// Writes a Workflow Run RO-Crate of a run into `dir`: `ro-crate-metadata.json`, the spec
/// and a copy of every file the run read and made that still exists with its recorded
/// digest (under `inputs/` and `outputs/`).
pub fn ro_crate(
    view: &RunView,
    dir: &Path,
    license: Option<&str>,
) -> std::io::Result<CrateSummary> {
    std::fs::create_dir_all(dir)?;
    let id = view.id();
    let spec_path = PathBuf::from(view.field("spec_path"));
    let spec_name = spec_path
        .file_name()
        .map_or("spec.exp".to_owned(), |n| n.to_string_lossy().into_owned());
    let mut c = CrateGraph::default();
    if let Ok(n) = std::fs::copy(&spec_path, dir.join(&spec_name)) {
        c.summary.files += 1;
        c.summary.bytes += n;
    }
    let experiment = view.field("experiment");
    let title = if experiment.is_empty() {
        spec_name.clone()
    } else {
        experiment.clone()
    };
    c.params(view);
    c.files(view, dir)?;
    let run_action = format!("#run-{id}");
    let action = run_action_entity(
        view,
        &run_action,
        &format!("Run {id} of {title}"),
        &spec_name,
        std::mem::take(&mut c.objects),
        std::mem::take(&mut c.results),
    );
    let mut mentions = vec![json!({ "@id": run_action })];
    mentions.extend(c.task_actions(view));
    c.workflow(view, &spec_name, &title);
    c.parts.insert(0, json!({ "@id": spec_name }));
    let end = view.field("ended_at");
    let root = json!({
        "@id": "./",
        "@type": "Dataset",
        "name": format!("{title}: run {id}"),
        "description": format!("Provenance of the expc run {id} of `{}`, pipeline `{}`: {}.", spec_name, view.field("pipeline"), view.field("status")),
        "datePublished": if end.is_empty() { view.field("started_at") } else { end.clone() },
        "license": license.map_or_else(|| json!("not specified"), |l| if l.contains("://") { json!({ "@id": l }) } else { json!(l) }),
        "conformsTo": [
            { "@id": "https://w3id.org/ro/wfrun/process/0.5" },
            { "@id": "https://w3id.org/ro/wfrun/workflow/0.5" },
            { "@id": "https://w3id.org/workflowhub/workflow-ro-crate/1.0" },
        ],
        "mainEntity": { "@id": spec_name },
        "hasPart": c.parts,
        "mentions": mentions,
    });
    let doc = crate_metadata(root, action, c.graph);
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    std::fs::write(dir.join("ro-crate-metadata.json"), text)?;
    Ok(c.summary)
}

/// The entities of an RO-Crate as they are collected, and what was copied.
struct CrateGraph {
    /// The entities after the run's action, in order.
    graph: Vec<Json>,
    /// The files of the root dataset (`hasPart`).
    parts: Vec<Json>,
    /// The workflow's formal parameters: params and the run's inputs, and its outputs.
    inputs_fp: Vec<Json>,
    outputs_fp: Vec<Json>,
    /// The run action's objects (param values, inputs) and results (final outputs).
    objects: Vec<Json>,
    results: Vec<Json>,
    /// The crate's id of each copied artifact, by its id in the store.
    file_ids: BTreeMap<i64, String>,
    /// The workflow's steps: the tools of the task actions.
    steps: Vec<Json>,
    summary: CrateSummary,
}

impl Default for CrateGraph {
    fn default() -> Self {
        CrateGraph {
            graph: Vec::new(),
            parts: Vec::new(),
            inputs_fp: Vec::new(),
            outputs_fp: Vec::new(),
            objects: Vec::new(),
            results: Vec::new(),
            file_ids: BTreeMap::new(),
            steps: Vec::new(),
            summary: CrateSummary { files: 0, bytes: 0 },
        }
    }
}

impl CrateGraph {
    /// Each param as a formal parameter of the workflow and its value as an object of the
    /// run.
    fn params(&mut self, view: &RunView) {
        for (name, ty, value) in &view.params {
            let fp = format!("#param-{}", local(name));
            let pv = format!("#value-{}", local(name));
            self.inputs_fp.push(json!({ "@id": fp }));
            self.graph.push(json!({
                "@id": fp,
                "@type": "FormalParameter",
                "name": name,
                "additionalType": additional_type(ty),
                "conformsTo": { "@id": "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE" },
                "workExample": { "@id": pv },
            }));
            self.graph.push(json!({
                "@id": pv,
                "@type": "PropertyValue",
                "name": name,
                "value": Table::cell(value),
                "exampleOfWork": { "@id": fp },
            }));
            self.objects.push(json!({ "@id": pv }));
        }
    }

    /// Copies every artifact that still has its recorded digest into `dir` (declared data
    /// under `inputs/`, what tasks made under `outputs/INSTANCE/`) and describes it; the
    /// run's inputs and its final outputs (what no instance read) become formal
    /// parameters of the workflow too.
    fn files(&mut self, view: &RunView, dir: &Path) -> std::io::Result<()> {
        let read: BTreeSet<i64> = view.usages.iter().map(|u| u.1).collect();
        let programs: BTreeSet<i64> = view.usages.iter().filter(|u| u.3).map(|u| u.1).collect();
        let mut used_names = BTreeSet::new();
        let remote = remote_inputs(view);
        for a in &view.artifacts {
            let input = a.produced_by.is_none();
            let final_output = !input && !read.contains(&a.id);
            let src = Path::new(&a.path);
            let base = src
                .file_name()
                .map_or("file".to_owned(), |n| n.to_string_lossy().into_owned());
            let rel = crate_path(view, a, &base, &mut used_names);
            let copied = copy_checked(src, &dir.join(&rel), &a.digest, a.is_dir)?;
            let Some(bytes) = copied else { continue };
            self.summary.files += 1;
            self.summary.bytes += bytes;
            let id = if a.is_dir {
                format!("{rel}/")
            } else {
                rel.clone()
            };
            let mut e = json!({
                "@id": id,
                // A program a command runs is source code as well as a file.
                "@type": match (a.is_dir, programs.contains(&a.id)) {
                    (true, _) => json!("Dataset"),
                    (false, true) => json!(["File", "SoftwareSourceCode"]),
                    (false, false) => json!("File"),
                },
                "name": a.name.clone().unwrap_or(base),
                "description": format!("{} `{}`{}", a.role, a.path, a.ty.as_ref().map(|t| format!(", {t}")).unwrap_or_default()),
                "identifier": if a.digest.contains(':') { a.digest.clone() } else { format!("blake3:{}", a.digest) },
            });
            if let Some(s) = a.size.filter(|_| !a.is_dir) {
                e["contentSize"] = json!(s.to_string());
            }
            if let Some(r) = remote.get(&a.path) {
                remote_file(r, &mut e);
            }
            if input || final_output {
                self.formal_file(a, &id, input, &mut e);
            }
            self.parts.push(json!({ "@id": id }));
            self.file_ids.insert(a.id, id);
            self.graph.push(e);
        }
        Ok(())
    }

    /// The formal parameter of the run's input or final output `a` (crate id `id`, entity
    /// `e`), and the file as an object or a result of the run.
    fn formal_file(&mut self, a: &ArtifactView, id: &str, input: bool, e: &mut Json) {
        let fp = format!("#{}-{}", if input { "input" } else { "output" }, a.id);
        e["exampleOfWork"] = json!({ "@id": fp });
        self.graph.push(json!({
            "@id": fp,
            "@type": "FormalParameter",
            "name": a.name.clone().unwrap_or_else(|| a.path.clone()),
            "additionalType": if a.is_dir { "Dataset" } else { "File" },
            "conformsTo": { "@id": "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE" },
            "workExample": { "@id": id },
        }));
        if input {
            self.inputs_fp.push(json!({ "@id": fp }));
            self.objects.push(json!({ "@id": id }));
        } else {
            self.outputs_fp.push(json!({ "@id": fp }));
            self.results.push(json!({ "@id": id }));
        }
    }

    /// One action per task instance that ran or was cached (the provenance-run-crate
    /// shape), its tool the task; returns their ids for the root's `mentions`.
    fn task_actions(&mut self, view: &RunView) -> Vec<Json> {
        let mut mentions = Vec::new();
        let mut tools = BTreeSet::new();
        for t in &view.tasks {
            if t.started_at.is_none() {
                continue;
            }
            let tool = format!("#task-{}", sanitize(&t.task));
            tools.insert((tool.clone(), t.task.clone()));
            let objs: Vec<Json> = view
                .usages
                .iter()
                .filter(|u| u.0 == t.id)
                .filter_map(|u| self.file_ids.get(&u.1))
                .map(|f| json!({ "@id": f }))
                .collect();
            let res: Vec<Json> = view
                .artifacts
                .iter()
                .filter(|a| a.produced_by == Some(t.id))
                .filter_map(|a| self.file_ids.get(&a.id))
                .map(|f| json!({ "@id": f }))
                .collect();
            let aid = format!("#task-run-{}", t.id);
            let mut a = json!({
                "@id": aid,
                "@type": "CreateAction",
                "name": format!("{} ({})", t.instance, t.status),
                "instrument": { "@id": tool },
                "object": objs,
                "result": res,
                "startTime": t.started_at.as_deref().map(offset_time),
                "actionStatus": if matches!(t.status.as_str(), "ran" | "cached") { "http://schema.org/CompletedActionStatus" } else { "http://schema.org/FailedActionStatus" },
            });
            if let Some(e) = &t.ended_at {
                a["endTime"] = json!(offset_time(e));
            }
            if let Some(m) = &t.message {
                a["error"] = json!(m);
            }
            mentions.push(json!({ "@id": aid }));
            self.graph.push(a);
        }
        let steps: Vec<Json> = tools.iter().map(|(t, _)| json!({ "@id": t })).collect();
        for (tool, name) in &tools {
            self.graph.push(json!({
                "@id": tool,
                "@type": "SoftwareApplication",
                "name": name,
            }));
        }
        self.steps = steps;
        mentions
    }

    /// The user, the expc language and the workflow (the spec) with its formal parameters
    /// and steps (the tasks that ran).
    fn workflow(&mut self, view: &RunView, spec_name: &str, title: &str) {
        let user = view.field("user");
        self.graph.push(json!({
            "@id": "#user",
            "@type": "Person",
            "name": if user.is_empty() { "unknown".to_owned() } else { user },
        }));
        self.graph.push(json!({
            "@id": "#expc-language",
            "@type": "ComputerLanguage",
            "name": "expc experiment specification",
            "alternateName": "exp",
            "url": { "@id": "https://expc.dev/" },
            "version": view.field("expc_version"),
        }));
        let mut workflow = json!({
            "@id": spec_name,
            "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
            "name": title,
            "programmingLanguage": { "@id": "#expc-language" },
            "input": std::mem::take(&mut self.inputs_fp),
            "output": std::mem::take(&mut self.outputs_fp),
            "identifier": format!("blake3:{}", view.field("spec_hash")),
        });
        if !self.steps.is_empty() {
            workflow["hasPart"] = json!(self.steps);
        }
        self.graph.push(workflow);
    }
}

/// Where the artifact `a` (file name `base`) goes in the crate: `inputs/BASE` for
/// declared data, `outputs/INSTANCE/BASE` for what an instance made; a path already taken
/// (in `used_names`) is prefixed with the digest's start instead.
fn crate_path(
    view: &RunView,
    a: &ArtifactView,
    base: &str,
    used_names: &mut BTreeSet<String>,
) -> String {
    let folder = if a.produced_by.is_none() {
        "inputs"
    } else {
        "outputs"
    };
    let producer = a
        .produced_by
        .and_then(|p| view.task(p))
        .map(|t| sanitize(&t.instance));
    let mut rel = match &producer {
        Some(p) => format!("{folder}/{p}/{base}"),
        None => format!("{folder}/{base}"),
    };
    if !used_names.insert(rel.clone()) {
        let short: String = a
            .digest
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(12)
            .collect();
        rel = format!("{folder}/{short}-{base}");
        used_names.insert(rel.clone());
    }
    rel
}

/// The run's action (`run_action`, named `name`): the workflow it ran, its objects and
/// results, times, status and agent.
fn run_action_entity(
    view: &RunView,
    run_action: &str,
    name: &str,
    spec_name: &str,
    objects: Vec<Json>,
    results: Vec<Json>,
) -> Json {
    let status = if view.field("status") == "succeeded" {
        "http://schema.org/CompletedActionStatus"
    } else {
        "http://schema.org/FailedActionStatus"
    };
    let mut action = json!({
        "@id": run_action,
        "@type": "CreateAction",
        "name": name,
        "instrument": { "@id": spec_name },
        "object": objects,
        "result": results,
        "startTime": offset_time(&view.field("started_at")),
        "actionStatus": status,
        "agent": { "@id": "#user" },
    });
    let end = view.field("ended_at");
    if !end.is_empty() {
        action["endTime"] = json!(offset_time(&end));
    }
    if view.field("status") != "succeeded" {
        action["error"] = json!(format!("the run ended {}", view.field("status")));
    }
    action
}

/// `ro-crate-metadata.json`: the metadata descriptor, the root dataset, the profiles the
/// crate conforms to, the run's action and then the other entities (`graph`).
fn crate_metadata(root: Json, action: Json, graph: Vec<Json>) -> Json {
    let mut all = vec![
        json!({
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "about": { "@id": "./" },
            "conformsTo": [
                { "@id": "https://w3id.org/ro/crate/1.1" },
                { "@id": "https://w3id.org/workflowhub/workflow-ro-crate/1.0" },
            ],
        }),
        root,
    ];
    for p in [
        (
            "https://w3id.org/ro/wfrun/process/0.5",
            "Process Run Crate",
            "0.5",
        ),
        (
            "https://w3id.org/ro/wfrun/workflow/0.5",
            "Workflow Run Crate",
            "0.5",
        ),
        (
            "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
            "Workflow RO-Crate",
            "1.0",
        ),
    ] {
        all.push(json!({ "@id": p.0, "@type": "CreativeWork", "name": p.1, "version": p.2 }));
    }
    all.push(action);
    all.extend(graph);
    json!({
        "@context": "https://w3id.org/ro/crate/1.1/context",
        "@graph": all,
    })
}

use crate::query::Table;

/// A stored time (`…Z`) as the RO-Crate profiles recommend it (`…+00:00`).
fn offset_time(t: &str) -> String {
    match t.strip_suffix('Z') {
        Some(base) => format!("{base}+00:00"),
        None => t.to_owned(),
    }
}

fn additional_type(ty: &str) -> &'static str {
    match ty {
        "Int" => "Integer",
        "Float" => "Float",
        "Bool" => "Boolean",
        "Path" => "File",
        _ => "Text",
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Copies a file or directory that still has its recorded digest; `None` when it is gone
/// or changed (the crate then does not claim it).
fn copy_checked(
    src: &Path,
    dst: &Path,
    digest: &str,
    is_dir: bool,
) -> std::io::Result<Option<u64>> {
    if !src.exists() {
        return Ok(None);
    }
    if !is_dir {
        let bytes = match std::fs::read(src) {
            Ok(b) => b,
            Err(_) => return Ok(None),
        };
        let same = match digest.strip_prefix("sha256:") {
            Some(hex) => sha256_hex(&bytes) == hex,
            None => blake3::hash(&bytes).to_hex().as_str() == digest,
        };
        if !same {
            return Ok(None);
        }
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(dst, &bytes)?;
        return Ok(Some(bytes.len() as u64));
    }
    let mut total = 0;
    copy_dir(src, dst, &mut total)?;
    Ok(Some(total))
}

fn copy_dir(src: &Path, dst: &Path, total: &mut u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if e.file_type()?.is_dir() {
            copy_dir(&from, &to, total)?;
        } else {
            *total += std::fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

/// The SHA-256 of `bytes`, in hex (as the provenance hooks of generated jobs write it).
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where a remote input came from, on its RO-Crate file: `contentUrl`, and as `version`
/// the store's version id, else the server's ETag.
fn remote_file(r: &Json, e: &mut Json) {
    if let Some(url) = r.get("url").and_then(Json::as_str) {
        e["contentUrl"] = json!(url);
        e["description"] = json!(format!(
            "{}, fetched from {url}",
            e["description"].as_str().unwrap_or_default()
        ));
    }
    if let Some(v) = r
        .get("version")
        .or_else(|| r.get("etag"))
        .and_then(Json::as_str)
    {
        e["version"] = json!(v);
    }
}
