//! Declarations that are not tasks, sweeps or pipelines: formats, enums, records, schemas,
//! kinds, params, secrets, data, models, site profiles, resources and the experiment.

use expc_syntax::ast::SmolStr;
use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeMap;

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{Block, EntryValue, ExprKind, ItemKind};

use crate::checker::{Backend, Checker, FieldInfo, FormatInfo, ParamState};
use crate::defs::{Binding, DefId, DefKind};
use crate::expr::{Cx, Local};
use crate::modules::ModuleId;
use crate::types::Type;
use crate::value::Value;

const FORMAT_ENTRIES: &[(&str, bool)] = &[
    ("extension", false),
    ("media_type", false),
    ("text", true),
    ("binary", true),
    ("tabular", true),
    ("model", true),
    ("code", true),
    ("directory", true),
];

fn no_locals() -> &'static HashMap<SmolStr, Local> {
    static EMPTY: std::sync::OnceLock<HashMap<SmolStr, Local>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(HashMap::new)
}

impl Checker<'_> {
    pub fn top_cx(&self, module: ModuleId, place: &'static str) -> Cx<'static> {
        Cx::top(module, no_locals(), place)
    }

    // ------------------------------------------------------------- type items

    pub fn check_formats(&mut self) {
        for def in self.all(DefKind::Format) {
            let ItemKind::Format(f) = &self.item(def).kind else {
                continue;
            };
            let module = self.def(def).module;
            let base = f.base.as_ref().and_then(|b| {
                let found = self.defs.lookup(module, &b.name);
                match found.map(|x| x.binding) {
                    Some(Binding::Def(d)) if self.def(d).kind == DefKind::Format => Some(d),
                    _ => {
                        let mut d = Diagnostic::error(
                            Code::UNKNOWN_NAME,
                            format!("`{}` is not a format", b.name),
                            b.span,
                        )
                        .with_primary_message("a format extends another format");
                        if let Some(home) = self.std_home(&b.name) {
                            d = d.with_help(format!(
                                "import it: `import std.{home}.{{{}}}`",
                                b.name
                            ));
                        }
                        self.emit(d);
                        None
                    }
                }
            });
            let mut props = BTreeMap::new();
            let cx = self.top_cx(module, "in a format");
            for entry in &f.body.entries {
                let Some((_, is_bool)) = FORMAT_ENTRIES.iter().find(|(n, _)| *n == entry.name.name)
                else {
                    let fields: Vec<FieldInfo> = FORMAT_ENTRIES
                        .iter()
                        .map(|(n, b)| plain_field(n, if *b { Type::Bool } else { Type::String }))
                        .collect();
                    self.unknown_field(&entry.name, &fields, "a format");
                    continue;
                };
                let ty = if *is_bool { Type::Bool } else { Type::String };
                if let EntryValue::Value(e) = &entry.value {
                    let what = format!("`{}`", entry.name.name);
                    if let Some(v) = self.expr_as(e, &ty, &cx, &what).value {
                        props.insert(entry.name.name.as_str().to_owned(), v);
                    }
                }
            }
            self.formats.insert(def, FormatInfo { base, props });
        }
        // A base chain that comes back to itself.
        for def in self.all(DefKind::Format) {
            let mut current = self.formats.get(&def).and_then(|f| f.base);
            for _ in 0..64 {
                match current {
                    Some(c) if c == def => {
                        let name = self.def(def).name.clone();
                        self.emit(Diagnostic::error(
                            Code::INVALID_TYPE,
                            format!("the format `{name}` extends itself"),
                            self.def(def).span,
                        ));
                        if let Some(f) = self.formats.get_mut(&def) {
                            f.base = None;
                        }
                        break;
                    }
                    Some(c) => current = self.formats.get(&c).and_then(|f| f.base),
                    None => break,
                }
            }
        }
    }

    pub fn check_enums(&mut self) {
        for def in self.all(DefKind::Enum) {
            let ItemKind::Enum(e) = &self.item(def).kind else {
                continue;
            };
            let mut variants: Vec<(SmolStr, Span)> = Vec::new();
            for v in &e.variants {
                if let Some((_, first)) = variants.iter().find(|(n, _)| *n == v.name.name) {
                    let first = *first;
                    self.emit(
                        Diagnostic::error(
                            Code::DUPLICATE_NAME,
                            format!("the variant `{}` is declared twice", v.name.name),
                            v.name.span,
                        )
                        .with_label(first, "first declared here"),
                    );
                    continue;
                }
                variants.push((v.name.name.clone(), v.name.span));
            }
            if variants.is_empty() {
                let name = self.def(def).name.clone();
                self.emit(Diagnostic::error(
                    Code::INVALID_TYPE,
                    format!("the enum `{name}` has no variants"),
                    e.body_span,
                ));
            }
            self.variants.insert(def, variants);
        }
    }

    /// Fields of records and kinds and columns of schemas. Types first (they may refer to
    /// each other in any order), then defaults (which may be records).
    pub fn check_field_decls(&mut self) {
        let mut pending = Vec::new();
        for kind in [DefKind::Record, DefKind::Kind, DefKind::Schema] {
            for def in self.all(kind) {
                let item = self.item(def);
                let module = self.def(def).module;
                let body = match &item.kind {
                    ItemKind::Record(r) | ItemKind::Schema(r) => &r.body,
                    ItemKind::Kind(k) => {
                        match Backend::parse(&k.backend.name) {
                            Some(b) => {
                                self.backends.insert(def, b);
                            }
                            None => {
                                self.emit(
                                    Diagnostic::error(
                                        Code::INVALID_VALUE,
                                        format!("there is no backend `{}`", k.backend.name),
                                        k.backend.span,
                                    )
                                    .with_help(
                                        "the backends are local, slurm, kubernetes and spark",
                                    ),
                                );
                            }
                        }
                        &k.body
                    }
                    _ => continue,
                };
                let mut fields: Vec<FieldInfo> = Vec::new();
                for entry in &body.entries {
                    if entry.name.name.is_empty() {
                        continue;
                    }
                    let EntryValue::Typed { ty, default } = &entry.value else {
                        if !matches!(entry.value, EntryValue::Error) {
                            self.emit(
                                Diagnostic::error(
                                    Code::INVALID_TYPE,
                                    format!(
                                        "a {} declares fields with types: `{}: Type`",
                                        kind.noun(),
                                        entry.name.name
                                    ),
                                    entry.name.span,
                                )
                                .with_help(format!(
                                    "write `{}: Type` or `{}: Type = default`",
                                    entry.name.name, entry.name.name
                                )),
                            );
                        }
                        continue;
                    };
                    if let Some(first) = fields.iter().find(|f| f.name == entry.name.name) {
                        let first = first.span;
                        self.emit(
                            Diagnostic::error(
                                Code::DUPLICATE_NAME,
                                format!("the field `{}` is declared twice", entry.name.name),
                                entry.name.span,
                            )
                            .with_label(first, "first declared here"),
                        );
                        continue;
                    }
                    let t = self.resolve_type(module, ty);
                    if kind == DefKind::Schema {
                        let base = match &t {
                            Type::Optional(inner) => (**inner).clone(),
                            t => t.clone(),
                        };
                        if !matches!(
                            base,
                            Type::Int
                                | Type::Float
                                | Type::Bool
                                | Type::String
                                | Type::Timestamp
                                | Type::File(_)
                                | Type::Error
                        ) {
                            let shown = self.show(&t);
                            self.emit(
                                Diagnostic::error(
                                    Code::INVALID_TYPE,
                                    format!("a column cannot be {shown}"),
                                    ty.span,
                                )
                                .with_help("columns are Int, Float, Bool, String, Timestamp or File<F> (a path relative to the table, in a sample sheet), optionally with `?`"),
                            );
                        }
                        if let Some(d) = default {
                            self.emit(Diagnostic::error(
                                Code::INVALID_TYPE,
                                "a column has no default",
                                d.span,
                            ));
                        }
                    }
                    if let Some(d) = default {
                        pending.push((def, fields.len(), d));
                    }
                    fields.push(FieldInfo {
                        name: entry.name.name.clone(),
                        ty: t.clone(),
                        default: if default.is_none() && matches!(t, Type::Optional(_)) {
                            Some(Value::None)
                        } else {
                            None
                        },
                        has_default: default.is_some(),
                        span: entry.name.span,
                    });
                }
                self.fields.insert(def, fields);
            }
        }
        for (def, index, default) in pending {
            let module = self.def(def).module;
            let cx = self.top_cx(module, "in a field's default");
            let ty = self.fields[&def][index].ty.clone();
            let what = format!("the default of `{}`", self.fields[&def][index].name);
            let v = self.expr_as(default, &ty, &cx, &what).value;
            if let Some(f) = self.fields.get_mut(&def) {
                f[index].default = v;
            }
        }
    }

    // ------------------------------------------------------------- declarations

    /// Types of params, secrets, data and models.
    pub fn check_decl_types(&mut self) {
        for kind in [
            DefKind::Param,
            DefKind::Secret,
            DefKind::Data,
            DefKind::Model,
        ] {
            for def in self.all(kind) {
                let module = self.def(def).module;
                let item = self.item(def);
                let ty_expr = match &item.kind {
                    ItemKind::Param(p) => &p.ty,
                    ItemKind::Secret(s) => &s.ty,
                    ItemKind::Data(a) | ItemKind::Model(a) => &a.ty,
                    _ => continue,
                };
                let ty = self.resolve_type(module, ty_expr);
                let ok = match kind {
                    DefKind::Param => self.param_type_ok(&ty),
                    DefKind::Secret => matches!(ty, Type::String | Type::Error),
                    DefKind::Data => match &ty {
                        // A file set: `glob(…)`.
                        Type::List(inner) => {
                            matches!(
                                **inner,
                                Type::File(_) | Type::Table(..) | Type::Metrics | Type::Error
                            )
                        }
                        _ => matches!(
                            ty,
                            Type::File(_)
                                | Type::Dir
                                | Type::Table(..)
                                | Type::Metrics
                                | Type::Error
                        ),
                    },
                    // A list of models: the versions `registry.top(…)` chooses.
                    _ => match &ty {
                        Type::List(inner) => matches!(**inner, Type::Model(_) | Type::Error),
                        _ => matches!(ty, Type::Model(_) | Type::Error),
                    },
                };
                if !ok {
                    let shown = self.show(&ty);
                    let help = match kind {
                        DefKind::Param => {
                            "params are Int, Float, Bool, String, Path, Memory, Duration, Cpu, an enum, a List of these, or a record whose fields are params' types"
                        }
                        DefKind::Secret => "secrets are Strings",
                        DefKind::Data if matches!(ty, Type::Model(_)) => {
                            "declare a model with `model NAME: Model<F> = \"path\"`"
                        }
                        DefKind::Data => {
                            "data is File<F>, Dir, Table<F>, Table<F, S> or Metrics, or a list of files from `glob(…)` (`List<File<F>>`)"
                        }
                        _ => {
                            "a model is `Model<F>` (or `List<Model<F>>` from `registry.top(…)`); declare other files with `data`"
                        }
                    };
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_TYPE,
                            format!("a {} cannot be {shown}", kind.noun()),
                            ty_expr.span,
                        )
                        .with_help(help),
                    );
                    self.decl_types.insert(def, Type::Error);
                } else {
                    self.decl_types.insert(def, ty);
                }
            }
        }
    }

    /// The effective value of a param: its override, else its default.
    pub fn param_value(&mut self, def: DefId) -> Option<Value> {
        match self.params.get(&def) {
            Some(ParamState::Done(v)) => return v.clone(),
            Some(ParamState::Evaluating) => {
                let name = self.def(def).name.clone();
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_VALUE,
                        format!("the param `{name}` is defined in terms of itself"),
                        self.def(def).span,
                    )
                    .with_help("give it a default that does not depend on it"),
                );
                self.params.insert(def, ParamState::Done(None));
                return None;
            }
            None => {}
        }
        self.params.insert(def, ParamState::Evaluating);
        let ItemKind::Param(p) = &self.item(def).kind else {
            return None;
        };
        let module = self.def(def).module;
        let ty = self.decl_types.get(&def).cloned().unwrap_or(Type::Error);
        let name = self.def(def).name.clone();
        let from_override = if self.module(module).is_root() {
            self.overrides
                .get_verbatim(&name)
                .map(|(v, verbatim)| (v.to_owned(), verbatim))
        } else {
            None
        };
        let whole_given = from_override.is_some();
        let value = if let Some((text, verbatim)) = from_override {
            match crate::overrides::parse_value(&text, &ty, verbatim, |e| {
                self.variants
                    .get(&e)
                    .map(|v| v.iter().map(|(n, _)| n.as_str().to_owned()).collect())
            }) {
                Ok(v) => Some(v),
                Err(why) => {
                    let shown = self.show(&ty);
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_VALUE,
                            format!("`-p {name}={text}` is not a valid {shown}: {why}"),
                            self.def(def).span,
                        )
                        .with_primary_message(format!("the param is declared {shown} here")),
                    );
                    None
                }
            }
        } else if let Some(default) = &p.default {
            let cx = self.top_cx(module, "in a param's default");
            self.expr_as(default, &ty, &cx, "the param's default").value
        } else {
            None
        };
        // A record's fields apply to its value, unless a value given whole was wrong.
        let value = if self.module(module).is_root() && (value.is_some() || !whole_given) {
            self.with_field_overrides(def, &ty, value)
        } else {
            value
        };
        self.params.insert(def, ParamState::Done(value.clone()));
        value
    }

    pub fn check_params(&mut self) {
        for def in self.all(DefKind::Param) {
            let value = self.param_value(def);
            let ItemKind::Param(p) = &self.item(def).kind else {
                continue;
            };
            let module = self.def(def).module;
            let name = self.def(def).name.clone();
            let Some(constraint) = &p.constraint else {
                continue;
            };
            let was_used = self.used.contains(&def);
            let cx = self.top_cx(module, "in a constraint");
            let t = self.expr_as(constraint, &Type::Bool, &cx, "a `where` constraint");
            if !was_used {
                // A param's own constraint does not count as a use.
                self.used.remove(&def);
            }
            if value.is_none() {
                continue;
            }
            if t.value == Some(Value::Bool(false)) {
                let shown = value.map(|v| v.to_string()).unwrap_or_default();
                let source = if self.module(module).is_root() && self.overrides.get(&name).is_some()
                {
                    format!(
                        "`-p {name}={}` on the command line",
                        self.overrides.get(&name).unwrap_or_default()
                    )
                } else if self.module(module).is_root()
                    && !self.overrides.fields_of(&name).is_empty()
                {
                    let fields: Vec<String> = self
                        .overrides
                        .fields_of(&name)
                        .iter()
                        .map(|(f, _, _)| self.overrides.given(&format!("{name}.{f}")))
                        .collect();
                    format!("its default with {}", fields.join(", "))
                } else {
                    "its default".to_owned()
                };
                let mut d = Diagnostic::error(
                    Code::CONSTRAINT_VIOLATED,
                    format!("`{name}` = {shown} does not satisfy its constraint"),
                    constraint.span,
                )
                .with_primary_message("this is false")
                .with_note(format!("the value comes from {source}"));
                if let Some(default) = &p.default {
                    if source == "its default" {
                        d = d.with_label(default.span, format!("`{name}` is {shown}"));
                    }
                }
                d = d.with_help(format!(
                    "give `{name}` a value that satisfies the constraint"
                ));
                self.emit(d);
            }
        }
        // Overrides of params that do not exist.
        let root_params: Vec<String> = self
            .all(DefKind::Param)
            .into_iter()
            .filter(|d| self.module(self.def(*d).module).is_root())
            .map(|d| self.def(d).name.clone())
            .collect();
        for name in self.overrides.names() {
            // `train.lr` sets a field of `train`, whose record checks it.
            let param = name.split('.').next().unwrap_or(name);
            if !root_params.iter().any(|p| p == param) {
                let root = self.module(ModuleId(0));
                let span = Span::new(root.file, 0, 0);
                let given = match self.overrides.origin(name) {
                    Some(at) => format!("`{name}` in {at}"),
                    None => format!("`-p {name}=…`"),
                };
                let mut d = Diagnostic::error(
                    Code::UNKNOWN_NAME,
                    format!("{given} sets a param that the experiment does not declare"),
                    span,
                );
                d = match expc_syntax::suggest::closest(
                    param,
                    root_params.iter().map(String::as_str),
                ) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None if root_params.is_empty() => {
                        d.with_help("the experiment declares no params")
                    }
                    None => d.with_help(format!("the params are {}", root_params.join(", "))),
                };
                self.emit(d);
            }
        }
    }

    pub fn check_secrets(&mut self) {
        for def in self.all(DefKind::Secret) {
            let ItemKind::Secret(s) = &self.item(def).kind else {
                continue;
            };
            let module = self.def(def).module;
            let mut cx = self.top_cx(module, "in a secret's source");
            cx.env_ok = true;
            let is_env = matches!(&s.source.kind, ExprKind::Call { callee, .. } if matches!(&callee.kind, ExprKind::Name(n) if n.name == "env"));
            if !is_env {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_VALUE,
                        "a secret's value comes from the environment",
                        s.source.span,
                    )
                    .with_primary_message("not `env(\"VAR\")`")
                    .with_help(
                        "write `env(\"VARIABLE\")`: a secret written in the file is not secret",
                    ),
                );
                continue;
            }
            let t = self.expr(&s.source, None, &cx);
            if let Some(Value::Str(var)) = t.value {
                self.values.insert(def, Value::Str(var));
            }
        }
    }

    pub fn check_artifacts(&mut self) {
        for def in self
            .all(DefKind::Data)
            .into_iter()
            .chain(self.all(DefKind::Model))
        {
            let (ItemKind::Data(a) | ItemKind::Model(a)) = &self.item(def).kind else {
                continue;
            };
            let module = self.def(def).module;
            let is_model = self.def(def).kind == DefKind::Model;
            let cx = self.top_cx(module, "in a data or model declaration");
            let is_set = matches!(self.decl_types.get(&def), Some(Type::List(_)));
            if let Some(args) = crate::fileset::glob_call(&a.source) {
                self.file_set(def, args, a.source.span, is_model);
                continue;
            }
            if let Some((kind, args)) = crate::registry_select::registry_call(&a.source) {
                if is_model {
                    self.registry_model(def, kind, args, a.source.span);
                    continue;
                }
            }
            if is_set {
                self.list_without_glob(def, &a.source);
                continue;
            }
            let path_value = match crate::remote::git_call(&a.source) {
                Some(args) => self.git_path(args, a.source.span).map(Value::Str),
                None => self.expr_as(&a.source, &Type::Path, &cx, "the path").value,
            };
            let mut fields = vec![
                plain_field("digest", Type::String),
                plain_field("description", Type::String),
            ];
            if is_model {
                for (n, t) in [
                    ("version", Type::String),
                    ("stage", Type::String),
                    ("framework", Type::String),
                    ("framework_version", Type::String),
                    ("metrics", Type::Metrics),
                ] {
                    fields.push(plain_field(n, t));
                }
            }
            let mut values = BTreeMap::new();
            if let Some(Value::Str(p)) = &path_value {
                if p.is_empty() {
                    self.emit(Diagnostic::error(
                        Code::INVALID_VALUE,
                        "the path is empty",
                        a.source.span,
                    ));
                }
                values.insert("path".to_owned(), Value::Str(p.clone()));
                let ty = self.decl_types.get(&def).cloned();
                self.remote_path(p, ty.as_ref(), a.source.span);
            }
            if let Some(body) = &a.body {
                let (lineage, rest) = split_entry(body, "lineage", is_model);
                let owner = format!("the {} `{}`", self.def(def).kind.noun(), self.def(def).name);
                let v = self.block(&rest, &fields, &owner, self.def(def).span, &cx);
                values.extend(v.into_iter().filter(|(_, v)| *v != Value::None));
                if let Some(digest_entry) = body.entries.iter().find(|e| e.name.name == "digest") {
                    if let Some(Value::Str(d)) = values.get("digest") {
                        if let Err(why) = check_digest(d) {
                            self.emit(
                                Diagnostic::error(Code::INVALID_VALUE, format!("invalid digest: {why}"), digest_entry.name.span.to(digest_entry.span))
                                    .with_help("write `sha256:` or `blake3:` followed by the 64 lowercase hex digits of the file's digest (`sha256sum FILE`)"),
                            );
                        } else if matches!(self.decl_types.get(&def), Some(Type::Dir)) {
                            self.emit(
                                Diagnostic::error(
                                    Code::INVALID_VALUE,
                                    "a digest pins a single file, not a directory",
                                    digest_entry.span,
                                )
                                .with_help("remove the digest, or declare a file"),
                            );
                        }
                    }
                }
                if let Some(lineage) = lineage {
                    let v = self.lineage(lineage, &cx);
                    values.insert("lineage".to_owned(), v);
                }
            }
            let name = self.def(def).name.clone();
            self.values.insert(def, Value::Record(name, values));
        }
    }

    fn lineage(&mut self, block: &Block, cx: &Cx<'_>) -> Value {
        let mut out = BTreeMap::new();
        let known = ["parent", "trained_on", "code", "params"];
        for entry in &block.entries {
            match (entry.name.name.as_str(), &entry.value) {
                ("params", EntryValue::Block(b)) => {
                    let mut params = BTreeMap::new();
                    for e in &b.entries {
                        if let EntryValue::Value(x) = &e.value {
                            if let Some(v) = self.expr(x, None, cx).value {
                                params.insert(e.name.name.as_str().to_owned(), v);
                            }
                        }
                    }
                    out.insert("params".to_owned(), Value::Record("params".into(), params));
                }
                ("parent", EntryValue::Value(e)) => {
                    let t = self.expr(e, None, cx);
                    if !matches!(t.ty, Type::Model(_) | Type::Error) {
                        let shown = self.show(&t.ty);
                        self.emit(Diagnostic::error(
                            Code::TYPE_MISMATCH,
                            format!("a model's parent is a model, found {shown}"),
                            e.span,
                        ));
                    } else if let Some(v) = t.value {
                        out.insert("parent".to_owned(), v);
                    }
                }
                ("trained_on", EntryValue::Value(e)) => {
                    let mut items = Vec::new();
                    for (span, t) in self.mixed_list(e, cx, "`trained_on`") {
                        if !t.ty.is_artifact() && !t.ty.is_error() {
                            let shown = self.show(&t.ty);
                            self.emit(Diagnostic::error(
                                Code::TYPE_MISMATCH,
                                format!("`trained_on` lists data and models, found {shown}"),
                                span,
                            ));
                        } else if let Some(v) = t.value {
                            items.push(v);
                        }
                    }
                    out.insert("trained_on".to_owned(), Value::List(items));
                }
                ("code", EntryValue::Value(e)) => {
                    let t = self.expr(e, None, cx);
                    if !matches!(t.ty, Type::File(_) | Type::Error) {
                        let shown = self.show(&t.ty);
                        self.emit(Diagnostic::error(
                            Code::TYPE_MISMATCH,
                            format!("`code` is the program's file, found {shown}"),
                            e.span,
                        ));
                    } else if let Some(v) = t.value {
                        out.insert("code".to_owned(), v);
                    }
                }
                (name, _) if !name.is_empty() => {
                    let fields: Vec<FieldInfo> =
                        known.iter().map(|n| plain_field(n, Type::Error)).collect();
                    self.unknown_field(&entry.name, &fields, "`lineage`");
                }
                _ => {}
            }
        }
        Value::Record("lineage".into(), out)
    }

    pub fn check_sites(&mut self) {
        for def in self.all(DefKind::Site) {
            let ItemKind::Site(r) = &self.item(def).kind else {
                continue;
            };
            let module = self.def(def).module;
            let record = match self.defs.lookup(module, &r.kind.name).map(|b| b.binding) {
                Some(Binding::Def(d)) if self.def(d).kind == DefKind::Record => d,
                Some(_) => {
                    self.emit(
                        Diagnostic::error(
                            Code::WRONG_KIND_OF_NAME,
                            format!("`{}` is not a record type for a site profile", r.kind.name),
                            r.kind.span,
                        )
                        .with_help("write `site NAME = Site { … }` with `import std.sites.{Site}`"),
                    );
                    continue;
                }
                None => {
                    let cx = self.top_cx(module, "in a site profile");
                    self.unknown_name(&r.kind, &cx, None);
                    continue;
                }
            };
            self.site_records.insert(def, record);
            let fields = self.fields.get(&record).cloned().unwrap_or_default();
            let cx = self.top_cx(module, "in a site profile");
            let owner = format!("the site profile `{}`", self.def(def).name);
            let values = self.block(&r.body, &fields, &owner, r.name.span, &cx);
            let rname = self.def(record).name.clone();
            self.values.insert(def, Value::Record(rname, values));
        }
    }

    pub fn check_resources(&mut self) {
        for def in self.all(DefKind::Resource) {
            let ItemKind::Resource(r) = &self.item(def).kind else {
                continue;
            };
            let module = self.def(def).module;
            let cx = self.top_cx(module, "in a resource");
            let kind = match self.defs.lookup(module, &r.kind.name).map(|b| b.binding) {
                Some(Binding::Def(d)) if self.def(d).kind == DefKind::Kind => d,
                Some(_) => {
                    self.emit(
                        Diagnostic::error(
                            Code::WRONG_KIND_OF_NAME,
                            format!("`{}` is not a resource kind", r.kind.name),
                            r.kind.span,
                        )
                        .with_help("the kinds are Local, Slurm, Kubernetes and Spark, from `std.resources`"),
                    );
                    continue;
                }
                None => {
                    let mut d = Diagnostic::error(
                        Code::UNKNOWN_NAME,
                        format!("unknown resource kind `{}`", r.kind.name),
                        r.kind.span,
                    );
                    let kinds = ["Local", "Slurm", "Kubernetes", "Spark"];
                    d = match expc_syntax::suggest::closest(&r.kind.name, kinds) {
                        Some(s) if self.defs.lookup(module, s).is_some() => d.with_help(format!("did you mean `{s}`?")),
                        Some(s) => d.with_help(format!("did you mean `{s}`? import it: `import std.resources.{{{s}}}`")),
                        None => d.with_help("the kinds are Local, Slurm, Kubernetes and Spark, from `std.resources`"),
                    };
                    self.emit(d);
                    continue;
                }
            };
            self.resource_kinds.insert(def, kind);
            let fields = self.fields.get(&kind).cloned().unwrap_or_default();
            let owner = format!("a {} resource", self.def(kind).name);
            let values = self.block(&r.body, &fields, &owner, r.name.span, &cx);
            let kname = self.def(kind).name.clone();
            let value = Value::Record(kname, values);
            self.check_resource_against_site(def, &r.body, &value);
            self.values.insert(def, value);
        }
    }

    /// The limits that apply to a resource: its site's, overridden by its own `limits`.
    pub fn limits(&self, resource: &Value) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for key in ["site", "limits"] {
            if let Some(Value::Record(_, fields)) = resource.field(key) {
                for (k, v) in fields {
                    let set = match v {
                        Value::None => false,
                        Value::List(l) => !l.is_empty(),
                        _ => true,
                    };
                    if set {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        out
    }

    fn check_resource_against_site(&mut self, def: DefId, body: &Block, value: &Value) {
        let limits = self.limits(value);
        // Counts a site must allow at least one of, or nothing could ever be submitted.
        for count in ["max_array_size", "max_jobs"] {
            let Some(n) = limits.get(count).and_then(Value::as_int) else {
                continue;
            };
            if n >= 1 {
                continue;
            }
            let span = self.site_span_of(body).unwrap_or(self.def(def).span);
            self.emit(
                Diagnostic::error(
                    Code::SITE_LIMIT,
                    format!("`{count}` is {n}: no job could ever be submitted to `{}`", self.def(def).name),
                    span,
                )
                .with_primary_message("the limits are set here")
                .with_help(format!(
                    "set `{count}` to at least 1 (Slurm's MaxArraySize is 1001 unless the site changed it), or leave it unset"
                )),
            );
        }
        for (field, list) in [
            ("partition", "partitions"),
            ("qos", "qos"),
            ("account", "accounts"),
            ("gpu_type", "gpu_types"),
        ] {
            let (Some(Value::Str(v)), Some(Value::List(allowed))) =
                (value.field(field), limits.get(list))
            else {
                continue;
            };
            if allowed.iter().any(|a| a.as_str() == Some(v)) {
                continue;
            }
            let span = body
                .entries
                .iter()
                .find(|e| e.name.name == field)
                .map_or(self.def(def).span, |e| e.span);
            let names: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
            let mut d = Diagnostic::error(
                Code::SITE_LIMIT,
                format!("the {field} \"{v}\" is not allowed by the site profile"),
                span,
            )
            .with_primary_message(format!("the site allows {}", names.join(", ")));
            let plain: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
            if let Some(s) = expc_syntax::suggest::closest(v, plain) {
                d = d.with_help(format!("did you mean \"{s}\"?"));
            }
            if let Some(site_span) = self.site_span_of(body) {
                d = d.with_label(site_span, "the site profile is chosen here");
            }
            self.emit(d);
        }
    }

    fn site_span_of(&self, body: &Block) -> Option<Span> {
        body.entries
            .iter()
            .find(|e| e.name.name == "site")
            .map(|e| e.span)
    }

    pub fn check_experiment(&mut self) {
        let mut first: Option<Span> = None;
        for module in self.modules {
            for item in &module.ast.items {
                let ItemKind::Experiment(e) = &item.kind else {
                    continue;
                };
                if !module.is_root() {
                    continue;
                }
                if let Some(f) = first {
                    self.emit(
                        Diagnostic::error(
                            Code::DUPLICATE_NAME,
                            "a file declares one experiment",
                            e.name.span,
                        )
                        .with_label(f, "the first one"),
                    );
                    continue;
                }
                first = Some(e.name.span);
                let fields = experiment_fields();
                let cx = self.top_cx(module.id, "in the experiment header");
                let v = self.block(&e.body, &fields, "the experiment", e.name.span, &cx);
                self.experiment = Some((
                    e.name.name.as_str().to_owned(),
                    item.doc.as_ref().map(|d| d.text.clone()),
                    v,
                ));
            }
        }
    }
}

pub fn experiment_fields() -> Vec<FieldInfo> {
    vec![
        plain_field("version", Type::String),
        plain_field("description", Type::String),
        plain_field("authors", Type::list(Type::String)),
        plain_field("license", Type::String),
    ]
}

/// An optional field with no declaration of its own.
pub fn plain_field(name: &str, ty: Type) -> FieldInfo {
    FieldInfo {
        name: SmolStr::new(name),
        ty: Type::optional(ty),
        default: Some(Value::None),
        has_default: true,
        span: Span::default(),
    }
}

/// Splits out a nested block entry handled separately (`lineage`).
fn split_entry<'b>(body: &'b Block, name: &str, enabled: bool) -> (Option<&'b Block>, Block) {
    let mut found = None;
    let mut rest = Block {
        entries: Vec::new(),
        span: body.span,
    };
    for e in &body.entries {
        match &e.value {
            EntryValue::Block(b) if enabled && e.name.name == name => found = Some(b),
            _ => rest.entries.push(e.clone()),
        }
    }
    (found, rest)
}

fn check_digest(d: &str) -> Result<(), String> {
    let Some((algo, hex)) = d.split_once(':') else {
        return Err(format!("`{d}` has no algorithm prefix"));
    };
    if algo != "sha256" && algo != "blake3" {
        return Err(format!("unknown algorithm `{algo}`"));
    }
    if hex.len() != 64
        || !hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err(format!(
            "`{algo}:` must be followed by 64 lowercase hex digits"
        ));
    }
    Ok(())
}
