//! Tasks: signatures, sections and commands.

use expc_syntax::ast::SmolStr;
use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeMap;

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, EntryValue, ItemKind, SectionKind, TemplatePart};

use crate::checker::{Checker, FieldInfo};
use crate::defs::DefKind;
use crate::expr::{Cx, Local, Secrets};
use crate::ir;
use crate::ir_expr::{IrExpr, IrPart};
use crate::items::plain_field;
use crate::types::Type;
use crate::value::Value;

/// What callers of a task need to know.
#[derive(Clone, Debug)]
pub struct TaskSig {
    pub inputs: Vec<FieldInfo>,
    pub outputs: Vec<FieldInfo>,
    /// Runs a Spark application.
    pub spark: bool,
    /// `resources { … }`: cpus, mem, time, gpus, as given.
    pub resources: BTreeMap<String, Value>,
    /// `spark … { … }` settings, as given.
    pub spark_settings: BTreeMap<String, Value>,
}

/// A field of a task section with fixed fields, as the checker checks it and editors
/// explain it.
#[derive(Debug, Clone, Copy)]
pub struct SectionField {
    /// The section, or `task` for a field of the task itself (`cache = false`).
    pub section: &'static str,
    pub name: &'static str,
    /// The field's type as written (`{ NAME = value }` for `vars`, which is a map).
    pub ty: &'static str,
    pub doc: &'static str,
}

/// The fields of the task sections with fixed fields: the one table the checker and the
/// language server read.
pub const SECTION_FIELDS: &[SectionField] = &[
    SectionField {
        section: "resources",
        name: "cpus",
        ty: "Cpu",
        doc: "CPUs the task needs",
    },
    SectionField {
        section: "resources",
        name: "mem",
        ty: "Memory",
        doc: "memory the task needs",
    },
    SectionField {
        section: "resources",
        name: "time",
        ty: "Duration",
        doc: "the task's wall-time limit",
    },
    SectionField {
        section: "resources",
        name: "gpus",
        ty: "Int",
        doc: "GPUs the task needs",
    },
    SectionField {
        section: "resources",
        name: "nodes",
        ty: "Int",
        doc: "nodes an MPI-style task spans (Slurm `--nodes`); the command is launched with `srun`",
    },
    SectionField {
        section: "resources",
        name: "tasks",
        ty: "Int",
        doc: "processes (MPI ranks) the command is started as (Slurm `--ntasks`), launched with `srun`",
    },
    SectionField {
        section: "env",
        name: "image",
        ty: "String",
        doc: "container image the task runs in",
    },
    SectionField {
        section: "env",
        name: "modules",
        ty: "List<String>",
        doc: "environment modules loaded before the task",
    },
    SectionField {
        section: "env",
        name: "conda",
        ty: "Path",
        doc: "conda environment activated before the task, by prefix path",
    },
    SectionField {
        section: "env",
        name: "vars",
        ty: "{ NAME = value }",
        doc: "environment variables of the task's process",
    },
    SectionField {
        section: "retry",
        name: "backoff",
        ty: "Duration",
        doc: "time to wait before trying again",
    },
    SectionField {
        section: "task",
        name: "cache",
        ty: "Bool",
        doc: "`cache = false`: the task runs on every `expc run`, never served from the cache; \
              what reads its outputs runs again only when their content changes",
    },
];

/// The fields of the sections with fixed fields, built once.
#[derive(Debug)]
pub struct SectionFields {
    resources: Vec<FieldInfo>,
    env: Vec<FieldInfo>,
    retry: Vec<FieldInfo>,
}

impl SectionFields {
    pub fn new() -> Self {
        let of = |section: &str| -> Vec<FieldInfo> {
            SECTION_FIELDS
                .iter()
                .filter(|f| f.section == section)
                .filter_map(|f| Some(plain_field(f.name, section_field_type(f.ty)?)))
                .collect()
        };
        Self {
            resources: of("resources"),
            env: of("env"),
            retry: of("retry"),
        }
    }
}

/// The type of a section field from how [`SECTION_FIELDS`] writes it; `None` for `vars`,
/// which the checker reads as a map of its own.
fn section_field_type(written: &str) -> Option<Type> {
    Some(match written {
        "Cpu" => Type::Cpu,
        "Memory" => Type::Memory,
        "Duration" => Type::Duration,
        "Int" => Type::Int,
        "String" => Type::String,
        "Path" => Type::Path,
        "List<String>" => Type::list(Type::String),
        _ => return None,
    })
}

impl Checker<'_> {
    /// Signatures first: pipelines and other tasks' callers need them.
    pub fn check_task_signatures(&mut self) {
        for def in self.all(DefKind::Task) {
            let ItemKind::Task(t) = &self.item(def).kind else {
                continue;
            };
            let module = self.def(def).module;
            let cx = self.top_cx(module, "in a task's signature");
            let mut names: HashMap<SmolStr, Span> = HashMap::new();
            let mut inputs = Vec::with_capacity(t.inputs.len());
            for f in &t.inputs {
                if let Some(info) = self.signature_field(f, &mut names, &cx, false) {
                    inputs.push(info);
                }
            }
            let mut outputs = Vec::with_capacity(t.outputs.as_ref().map_or(0, Vec::len));
            for f in t.outputs.iter().flatten() {
                if let Some(info) = self.signature_field(f, &mut names, &cx, true) {
                    outputs.push(info);
                }
            }
            self.check_output_places(&outputs);
            self.check_one_stdout(t);
            let spark = t
                .sections
                .iter()
                .any(|s| matches!(s.kind, SectionKind::Spark { .. }));
            self.tasks.insert(
                def,
                std::rc::Rc::new(TaskSig {
                    inputs,
                    outputs,
                    spark,
                    resources: BTreeMap::new(),
                    spark_settings: BTreeMap::new(),
                }),
            );
        }
    }

    /// Two outputs of one task must be two places: not one file named twice
    /// (`"a.csv"` and `"./a.csv"`), and not one inside the other (a `File` output inside a
    /// `Dir` output), which the task could not write both of as declared.
    fn check_output_places(&mut self, outputs: &[FieldInfo]) {
        if outputs.len() < 2 {
            return;
        }
        let places: Vec<(&FieldInfo, Vec<&str>)> = outputs
            .iter()
            .filter_map(|o| match &o.default {
                Some(Value::Str(p)) if output_name_problem(p).is_none() => {
                    Some((o, output_components(p)))
                }
                _ => None,
            })
            .collect();
        for (i, (a, pa)) in places.iter().enumerate() {
            for (b, pb) in &places[..i] {
                let (outer, inner) = if pa.len() >= pb.len() { (b, a) } else { (a, b) };
                let (po, pi) = if pa.len() >= pb.len() {
                    (pb, pa)
                } else {
                    (pa, pb)
                };
                if pi[..po.len()] != po[..] {
                    continue;
                }
                let message = if po.len() == pi.len() {
                    format!(
                        "the outputs `{}` and `{}` are one file, \"{}\"",
                        b.name,
                        a.name,
                        po.join("/")
                    )
                } else {
                    format!(
                        "the output `{}` (\"{}\") is inside the output `{}` (\"{}\")",
                        inner.name,
                        pi.join("/"),
                        outer.name,
                        po.join("/")
                    )
                };
                self.emit(
                    Diagnostic::error(Code::OVERLAPPING_OUTPUTS, message, a.span)
                        .with_label(b.span, "the other output")
                        .with_help("give each output a place of its own, none inside another"),
                );
                // One clash per output is enough to fix it.
                break;
            }
        }
    }

    fn signature_field(
        &mut self,
        f: &ast::Field,
        names: &mut HashMap<SmolStr, Span>,
        cx: &Cx<'_>,
        output: bool,
    ) -> Option<FieldInfo> {
        if f.name.name.is_empty() {
            return None;
        }
        if let Some(first) = names.get(&f.name.name) {
            self.emit(
                Diagnostic::error(
                    Code::DUPLICATE_NAME,
                    format!(
                        "`{}` is declared twice in the task's signature",
                        f.name.name
                    ),
                    f.name.span,
                )
                .with_label(*first, "first declared here")
                .with_help("inputs and outputs share one set of names"),
            );
            return None;
        }
        names.insert(f.name.name.clone(), f.name.span);
        let ty = self.resolve_type(cx.module, &f.ty);
        if output {
            if let Some(info) = self.list_output(f, &ty) {
                return Some(info);
            }
        }
        let mut default = None;
        if output {
            if !ty.is_artifact() && !ty.is_error() {
                let shown = self.show(&ty);
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_TASK,
                        format!("an output is a file the task writes, not {shown}"),
                        f.ty.span,
                    )
                    .with_help("outputs are File<F>, Dir, Table<F>, Model<F> or Metrics; write numbers to a Metrics file"),
                );
            }
            let stdout = f
                .default
                .as_ref()
                .filter(|e| crate::stdout_output::is_stdout(e))
                .and_then(|_| self.stdout_output(f, &ty, cx));
            match &f.default {
                Some(_) if stdout.is_some() => default = stdout,
                Some(e) => {
                    let t = self.expr_as(e, &Type::Path, cx, "an output's file name");
                    if let Some(Value::Str(p)) = &t.value {
                        if let Some(why) = output_name_problem(p) {
                            self.emit(
                                Diagnostic::error(
                                    Code::INVALID_TASK,
                                    format!("the output file name \"{}\" {why}", p.escape_debug()),
                                    e.span,
                                )
                                .with_help("use a relative name such as \"model.onnx\" or \"out/table.csv\""),
                            );
                        }
                    }
                    default = t.value;
                }
                None if !ty.is_error() => {
                    let example = self.output_example(&ty);
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_TASK,
                            format!("the output `{}` has no file name", f.name.name),
                            f.span,
                        )
                        .with_help(format!(
                            "give it one: `{}: {} = \"{example}\"`",
                            f.name.name,
                            self.show(&ty)
                        )),
                    );
                }
                None => {}
            }
        } else if let Some(e) = &f.default {
            let what = format!("the default of `{}`", f.name.name);
            default = self.expr_as(e, &ty, cx, &what).value;
        }
        Some(FieldInfo {
            name: f.name.name.clone(),
            has_default: f.default.is_some(),
            default: default.or_else(|| matches!(ty, Type::Optional(_)).then_some(Value::None)),
            ty,
            span: f.name.span,
        })
    }

    fn output_example(&self, ty: &Type) -> String {
        let ext = match ty {
            Type::File(f) | Type::Table(f, _) | Type::Model(f) => self
                .formats
                .get(f)
                .and_then(|i| i.props.get("extension"))
                .and_then(|v| v.as_str().map(str::to_owned)),
            Type::Metrics => Some("json".to_owned()),
            _ => None,
        };
        match ext {
            Some(e) => format!("out.{e}"),
            None => "out".to_owned(),
        }
    }

    pub fn check_task_bodies(&mut self) {
        for def in self.all(DefKind::Task) {
            let ItemKind::Task(t) = &self.item(def).kind else {
                continue;
            };
            let doc = self.item(def).doc.as_ref().map(|d| d.text.clone());
            let module = self.def(def).module;
            let Some(sig) = self.tasks.get(&def).cloned() else {
                continue;
            };
            let mut locals = HashMap::with_capacity(sig.inputs.len() + sig.outputs.len());
            for f in &sig.inputs {
                locals.insert(
                    f.name.clone(),
                    Local::Input {
                        ty: f.ty.clone(),
                        span: f.span,
                    },
                );
            }
            for f in &sig.outputs {
                locals.insert(
                    f.name.clone(),
                    Local::Output {
                        ty: f.ty.clone(),
                        span: f.span,
                    },
                );
            }
            // `resources.cpus` and the like, unless an input or output is so named.
            locals
                .entry(SmolStr::new_static("resources"))
                .or_insert(Local::Resources { span: t.name.span });
            self.resource_reads = Some(Vec::new());
            let cx = Cx {
                module,
                locals: &locals,
                secrets: Secrets::Forbidden("in a task's command or settings"),
                loops: &[],
                env_ok: false,
            };
            self.use_log = Some(Vec::new());
            // The sections seen so far (a handful: a vector is quicker than a map).
            let mut seen: Vec<(&str, Span)> = Vec::with_capacity(t.sections.len());
            let mut command: Option<(ir::Command, Span)> = None;
            let mut resources = BTreeMap::new();
            let mut spark_settings = BTreeMap::new();
            let mut env = ir::Env::default();
            let mut retry = ir::Retry::default();
            let mut cache = true;
            let mut evaluates = None;
            let mut shell = None;
            for section in &t.sections {
                let kw = section.kind.keyword();
                if matches!(section.kind, SectionKind::Error) {
                    continue;
                }
                let kw_span = Span {
                    end: section.span.start + kw.len() as u32,
                    ..section.span
                };
                if let Some((_, first)) = seen.iter().find(|(k, _)| *k == kw) {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_TASK,
                            format!("a task has one `{kw}` section"),
                            kw_span,
                        )
                        .with_primary_message("a second one")
                        .with_label(*first, "the first one")
                        .with_help("merge the two sections"),
                    );
                    continue;
                }
                seen.push((kw, kw_span));
                let this = match &section.kind {
                    SectionKind::Resources(block) => {
                        // What a task asks of the machine changes none of its results: the
                        // params used here are not among the task's uses (its cache key).
                        let mark = self.use_log.as_ref().map_or(0, Vec::len);
                        let mark_reads = self.resource_reads.as_ref().map_or(0, Vec::len);
                        resources = {
                            let fields = std::mem::take(&mut self.section_fields.resources);
                            let v = self.block(block, &fields, "`resources`", kw_span, &cx);
                            self.section_fields.resources = fields;
                            v
                        };
                        resources.retain(|_, v| *v != Value::None);
                        self.check_resource_values(block, &resources);
                        self.resources_read_in_resources(mark_reads);
                        if let Some(log) = &mut self.use_log {
                            log.truncate(mark);
                        }
                        None
                    }
                    SectionKind::Env(block) => {
                        env = self.env_section(block, &cx, kw_span);
                        None
                    }
                    SectionKind::Run(template) => Some(ir::Command::Run {
                        argv: self.argv(template, &cx),
                    }),
                    SectionKind::Shell(template) => {
                        shell = Some(template);
                        Some(ir::Command::Shell {
                            script: template
                                .words
                                .iter()
                                .flat_map(|w| &w.parts)
                                .map(|p| match p {
                                    TemplatePart::Text { value, .. } => value.as_str(),
                                    TemplatePart::Interp(_) => "",
                                })
                                .collect(),
                            exports: BTreeMap::new(),
                        })
                    }
                    SectionKind::Spark { app, args, body } => {
                        let (cmd, settings) =
                            self.spark_section(app, args.as_ref(), body.as_ref(), &cx, kw_span);
                        spark_settings = settings;
                        Some(cmd)
                    }
                    SectionKind::Retry { attempts, body } => {
                        retry = self.retry_section(attempts, body.as_ref(), &cx);
                        None
                    }
                    SectionKind::Cache(value) => {
                        // Whether to reuse results changes none of them: what the value
                        // reads is not among the task's uses.
                        let mark = self.use_log.as_ref().map_or(0, Vec::len);
                        let t = self.expr_as(value, &Type::Bool, &cx, "`cache`");
                        if let Some(Value::Bool(b)) = t.value {
                            cache = b;
                        }
                        if let Some(log) = &mut self.use_log {
                            log.truncate(mark);
                        }
                        None
                    }
                    SectionKind::Evaluates(value) => {
                        evaluates = self.evaluates_section(value, &sig);
                        None
                    }
                    SectionKind::Error => None,
                };
                if let Some(cmd) = this {
                    if let Some((_, first)) = &command {
                        self.emit(
                            Diagnostic::error(
                                Code::INVALID_TASK,
                                "a task has one command: `run`, `shell` or `spark`",
                                kw_span,
                            )
                            .with_primary_message("a second command")
                            .with_label(*first, "the first one")
                            .with_help("split the work into two tasks, or use one `shell` script"),
                        );
                    } else {
                        command = Some((cmd, kw_span));
                    }
                }
            }
            self.resources_read_are_set(&resources);
            let command = match command {
                Some((ir::Command::Shell { script, .. }, _)) => {
                    let exports = match shell {
                        Some(template) => self.shell_exports(template, &env, &cx),
                        None => BTreeMap::new(),
                    };
                    ir::Command::Shell { script, exports }
                }
                Some((c, _)) => c,
                None => {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_TASK,
                            format!("the task `{}` has no command", t.name.name),
                            t.name.span,
                        )
                        .with_help("add `run `program ${input} …``, a `shell` script or a `spark` application"),
                    );
                    ir::Command::None
                }
            };
            let mut uses: Vec<String> = self
                .use_log
                .take()
                .unwrap_or_default()
                .into_iter()
                .map(|d| self.ir_id(d))
                .collect();
            uses.sort();
            uses.dedup();
            let task = ir::Task {
                id: self.ir_id(def),
                name: t.name.name.as_str().to_owned(),
                module: self.module(module).key.clone(),
                doc,
                inputs: sig
                    .inputs
                    .iter()
                    .map(|f| ir::Field {
                        name: f.name.as_str().to_owned(),
                        ty: self.show(&f.ty),
                        default: f.default.clone(),
                        pattern: None,
                        stdout: false,
                    })
                    .collect(),
                outputs: sig
                    .outputs
                    .iter()
                    .map(|f| ir::Field {
                        name: f.name.as_str().to_owned(),
                        ty: self.show(&f.ty),
                        default: f.default.clone(),
                        pattern: self.output_patterns.get(&f.span).cloned(),
                        stdout: crate::stdout_output::is_stdout_output(t, &f.name)
                            && self.defs.lookup(module, "stdout").is_none(),
                    })
                    .collect(),
                resources: resources.clone(),
                env,
                command,
                retry,
                cache,
                evaluates,
                uses,
            };
            drop(sig);
            if let Some(s) = self.tasks.get_mut(&def) {
                let s = std::rc::Rc::make_mut(s);
                s.resources = resources;
                s.spark_settings = spark_settings;
            }
            self.task_irs.push(task);
        }
    }

    fn check_resource_values(&mut self, block: &ast::Block, values: &BTreeMap<String, Value>) {
        let span_of = |name: &str| {
            block
                .entries
                .iter()
                .find(|e| e.name.name == name)
                .map(|e| e.span)
        };
        let bad = |v: &Value, zero_ok: bool| match v {
            Value::Int(i) => *i < 0 || (!zero_ok && *i == 0),
            Value::Float(f) => *f < 0.0 || (!zero_ok && *f == 0.0) || !f.is_finite(),
            Value::Memory(m) | Value::Duration(m) => !zero_ok && *m == 0,
            _ => false,
        };
        for (name, zero_ok, what) in [
            ("cpus", false, "more than 0 CPUs"),
            ("mem", false, "more than 0 bytes"),
            ("time", false, "a wall time above 0"),
            ("gpus", true, "0 or more GPUs"),
            ("nodes", false, "at least 1 node"),
            ("tasks", false, "at least 1 task"),
        ] {
            if let (Some(v), Some(span)) = (values.get(name), span_of(name)) {
                if bad(v, zero_ok) {
                    self.emit(Diagnostic::error(
                        Code::INVALID_VALUE,
                        format!("`{name}` = {v}: a task asks for {what}"),
                        span,
                    ));
                }
            }
        }
    }

    fn env_section(&mut self, block: &ast::Block, cx: &Cx<'_>, span: Span) -> ir::Env {
        let fields = std::mem::take(&mut self.section_fields.env);
        let mut env = ir::Env::default();
        let is_vars =
            |e: &ast::Entry| e.name.name == "vars" && matches!(e.value, EntryValue::Block(_));
        // The entries other than `vars`; the block itself when it has none (no copy).
        let without_vars;
        let rest = if block.entries.iter().any(is_vars) {
            without_vars = ast::Block {
                entries: block
                    .entries
                    .iter()
                    .filter(|e| !is_vars(e))
                    .cloned()
                    .collect(),
                span: block.span,
            };
            &without_vars
        } else {
            block
        };
        for entry in &block.entries {
            if let ("vars", EntryValue::Block(vars)) = (&entry.name.name[..], &entry.value) {
                let secret_cx = Cx {
                    secrets: Secrets::Allowed,
                    ..*cx
                };
                for var in &vars.entries {
                    let name = &var.name.name;
                    if name.is_empty() {
                        continue;
                    }
                    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        || name.starts_with(|c: char| c.is_ascii_digit())
                    {
                        self.emit(Diagnostic::error(
                            Code::INVALID_VALUE,
                            format!("`{name}` is not a valid environment variable name"),
                            var.name.span,
                        ));
                        continue;
                    }
                    let EntryValue::Value(e) = &var.value else {
                        self.emit(Diagnostic::error(
                            Code::TYPE_MISMATCH,
                            format!("write `{name} = value`"),
                            var.name.span,
                        ));
                        continue;
                    };
                    let t = self.expr(e, None, &secret_cx);
                    let ok =
                        t.ty.is_error() || (t.ty.has_text_form() && !matches!(t.ty, Type::List(_)));
                    if !ok {
                        let shown = self.show(&t.ty);
                        self.emit(
                            Diagnostic::error(
                                Code::TYPE_MISMATCH,
                                format!("an environment variable holds text, found {shown}"),
                                e.span,
                            )
                            .with_help("use a string, number, boolean, path, file or secret"),
                        );
                        continue;
                    }
                    if env.vars.insert(name.as_str().to_owned(), t.ir).is_some() {
                        self.emit(Diagnostic::error(
                            Code::DUPLICATE_ENTRY,
                            format!("`{name}` is set twice"),
                            var.name.span,
                        ));
                    }
                }
            }
        }
        let values = self.block(rest, &fields, "`env`", span, cx);
        self.section_fields.env = fields;
        env.image = values
            .get("image")
            .and_then(|v| v.as_str().map(str::to_owned));
        env.conda = values.get("conda").and_then(|v| self.path_of(v));
        env.modules = values
            .get("modules")
            .and_then(Value::as_list)
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        env
    }

    /// A `Path` value as a path relative to the root file's folder: a string as it is, a
    /// declared data item or model by its path (`conda = env_dir`).
    fn path_of(&self, value: &Value) -> Option<String> {
        let id = match value {
            Value::Artifact(id) => id,
            other => return other.as_str().map(str::to_owned),
        };
        let def = [DefKind::Data, DefKind::Model]
            .into_iter()
            .flat_map(|kind| self.all(kind))
            .find(|d| self.ir_id(*d) == *id)?;
        let path = match self.values.get(&def) {
            Some(Value::Record(_, fields)) => fields.get("path")?.as_str()?.to_owned(),
            _ => return None,
        };
        Some(ir::root_relative(
            &self.modules[0].key,
            &self.module(self.def(def).module).key,
            path,
        ))
    }

    /// An argv template: words, each one argument (or one per element of a list).
    fn argv(&mut self, template: &ast::Template, cx: &Cx<'_>) -> Vec<ir::Word> {
        let mut words = Vec::with_capacity(template.words.len());
        for word in &template.words {
            let whole = matches!(word.parts.as_slice(), [TemplatePart::Interp(_)]);
            let mut parts = Vec::with_capacity(word.parts.len());
            for part in &word.parts {
                match part {
                    TemplatePart::Text { value, .. } => parts.push(IrPart::Text {
                        text: value.as_str().to_owned(),
                    }),
                    TemplatePart::Interp(e) => {
                        let t = self.expr(e, None, cx);
                        let ok = match &t.ty {
                            Type::List(inner) | Type::Optional(inner) => {
                                whole
                                    && inner.has_text_form()
                                    && !matches!(**inner, Type::List(_) | Type::Optional(_))
                            }
                            Type::EmptyList | Type::NoneLit => whole,
                            ty => ty.has_text_form(),
                        };
                        if !ok {
                            let ty = t.ty.clone();
                            self.no_text_form(&ty, e.span, whole);
                            parts.push(IrPart::Interp {
                                expr: IrExpr::Error,
                            });
                            continue;
                        }
                        let ir = match t.ir {
                            IrExpr::Error => t.value.map_or(IrExpr::Error, IrExpr::value),
                            ir => ir,
                        };
                        parts.push(IrPart::Interp { expr: ir });
                    }
                }
            }
            words.push(ir::Word {
                parts,
                expands: whole,
            });
        }
        if words.is_empty() {
            self.emit(
                Diagnostic::error(Code::INVALID_TASK, "the command is empty", template.span)
                    .with_help("write the program and its arguments: `run `python3 ${script} --out ${out}``"),
            );
        }
        words
    }

    fn spark_section(
        &mut self,
        app: &ast::Expr,
        args: Option<&ast::Expr>,
        body: Option<&ast::Block>,
        cx: &Cx<'_>,
        span: Span,
    ) -> (ir::Command, BTreeMap<String, Value>) {
        let a = self.expr(app, None, cx);
        let python = self.std_def("formats", "Python");
        let jar = self.std_def("formats", "Jar");
        let is_jar = matches!(a.ty, Type::File(f) if jar.is_some_and(|j| self.format_within(f, j)));
        let is_python =
            matches!(a.ty, Type::File(f) if python.is_some_and(|p| self.format_within(f, p)));
        if !a.ty.is_error() && !is_jar && !is_python {
            let shown = self.show(&a.ty);
            self.emit(
                Diagnostic::error(
                    Code::TYPE_MISMATCH,
                    format!("a Spark application is a File<Python> or a File<Jar>, found {shown}"),
                    app.span,
                )
                .with_help("declare it as data: `data clean_py: File<Python> = \"jobs/clean.py\"`"),
            );
        }
        let mut arg_irs = Vec::new();
        if let Some(args) = args {
            for (item, it) in self.mixed_list(args, cx, "`args`") {
                let ok = match &it.ty {
                    Type::List(inner) => inner.has_text_form(),
                    ty => ty.has_text_form(),
                };
                if !ok {
                    let ty = it.ty.clone();
                    self.no_text_form(&ty, item, true);
                }
                arg_irs.push(match it.ir {
                    IrExpr::Error => it.value.map_or(IrExpr::Error, IrExpr::value),
                    ir => ir,
                });
            }
        }
        let mut settings = BTreeMap::new();
        if let Some(body) = body {
            let mut fields: Vec<FieldInfo> = self
                .std_def("resources", "Spark")
                .and_then(|k| self.fields.get(&k))
                .map(|fs| {
                    fs.iter()
                        .filter(|f| {
                            [
                                "executors",
                                "executor_cores",
                                "executor_mem",
                                "executor_mem_overhead",
                                "driver_mem",
                                "driver_cores",
                                "dynamic_allocation",
                                "max_executors",
                                "conf",
                                "py_files",
                                "jars",
                                "packages",
                            ]
                            .contains(&f.name.as_str())
                        })
                        .map(|f| FieldInfo {
                            ty: Type::optional(match &f.ty {
                                Type::Optional(t) => (**t).clone(),
                                t => t.clone(),
                            }),
                            default: Some(Value::None),
                            has_default: true,
                            ..f.clone()
                        })
                        .collect()
                })
                .unwrap_or_default();
            fields.push(plain_field("main_class", Type::String));
            settings = self.block(body, &fields, "`spark`", span, cx);
            settings.retain(|_, v| *v != Value::None);
        }
        if is_jar && !settings.contains_key("main_class") {
            self.emit(
                Diagnostic::error(
                    Code::MISSING_FIELD,
                    "a Spark application in a jar needs `main_class`",
                    span,
                )
                .with_help("add `{ main_class = \"org.example.Main\" }`"),
            );
        }
        (
            ir::Command::Spark {
                app: a.ir,
                args: arg_irs,
                settings: settings.clone(),
            },
            settings,
        )
    }

    fn retry_section(
        &mut self,
        attempts: &ast::Expr,
        body: Option<&ast::Block>,
        cx: &Cx<'_>,
    ) -> ir::Retry {
        let t = self.expr_as(attempts, &Type::Int, cx, "`retry`");
        let mut retry = ir::Retry::default();
        if let Some(Value::Int(n)) = t.value {
            if !(0..=100).contains(&n) {
                self.emit(Diagnostic::error(
                    Code::INVALID_VALUE,
                    format!("`retry {n}`: a task is retried 0 to 100 times"),
                    attempts.span,
                ));
            } else {
                retry.attempts = n as u32;
            }
        }
        if let Some(body) = body {
            let fields = std::mem::take(&mut self.section_fields.retry);
            let v = self.block(body, &fields, "`retry`", attempts.span, cx);
            self.section_fields.retry = fields;
            if let Some(Value::Duration(ms)) = v.get("backoff") {
                retry.backoff_ms = *ms;
            }
        }
        retry
    }
}

/// Why an output's file name cannot be used, if it cannot: it must name a place inside
/// the task's directory, other than the directory itself, that a file system can hold.
fn output_name_problem(p: &str) -> Option<&'static str> {
    if p.contains('\0') {
        Some("holds a NUL character, which no file name can")
    } else if p.starts_with('/') {
        Some("must stay inside the task's directory (it is absolute)")
    } else if p.split('/').any(|c| c == "..") {
        Some("must stay inside the task's directory (it goes up with `..`)")
    } else if !p.split('/').any(|c| !c.is_empty() && c != ".") {
        Some("names the task's directory itself, not a file in it")
    } else {
        None
    }
}

/// An output's file name as its components, without empty ones and `.`.
fn output_components(p: &str) -> Vec<&str> {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{output_components, output_name_problem};

    #[test]
    fn output_names_that_are_not_a_place_in_the_task_directory() {
        for bad in ["", ".", "./", "a/..", "../a", "/etc/passwd", "a\0b", "./."] {
            assert!(output_name_problem(bad).is_some(), "{bad:?} passed");
        }
        for good in ["a.csv", "out/table.csv", "./a.csv", "a//b", "..a", "a.."] {
            assert_eq!(output_name_problem(good), None, "{good:?}");
        }
        assert_eq!(output_components("./parts//0.csv"), ["parts", "0.csv"]);
    }
}
