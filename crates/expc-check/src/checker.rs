//! The checker's state and its shared machinery: type resolution, type display and the
//! compatibility relation. The rules of each construct live in the sibling modules.

use expc_syntax::ast::SmolStr;
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::collections::BTreeMap;

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, TypeExpr, TypeExprKind};

use crate::Overrides;
use crate::defs::{Binding, Def, DefId, DefKind, Defs};
use crate::modules::{Module, ModuleId};
use crate::types::{Misfit, Type};
use crate::value::Value;

/// A typed field of a record, schema, kind, or task signature.
#[derive(Clone, Debug)]
pub struct FieldInfo {
    pub name: SmolStr,
    pub ty: Type,
    /// The default, when it is known; `Some(Value::None)` for an optional without one.
    pub default: Option<Value>,
    /// Declared with a default (even one that could not be computed).
    pub has_default: bool,
    pub span: Span,
}

impl FieldInfo {
    pub fn required(&self) -> bool {
        !self.has_default && !matches!(self.ty, Type::Optional(_) | Type::Error)
    }
}

#[derive(Clone, Debug, Default)]
pub struct FormatInfo {
    pub base: Option<DefId>,
    pub props: BTreeMap<String, Value>,
}

pub use crate::ir::Backend;

/// What is known about a param while it is being evaluated.
#[derive(Clone, Debug)]
pub enum ParamState {
    Evaluating,
    Done(Option<Value>),
}

pub struct Checker<'a> {
    pub modules: &'a [Module],
    pub defs: Defs,
    pub diagnostics: Vec<Diagnostic>,
    pub overrides: &'a Overrides,
    pub formats: HashMap<DefId, FormatInfo>,
    pub variants: HashMap<DefId, Vec<(SmolStr, Span)>>,
    /// Fields of records and kinds, columns of schemas.
    pub fields: HashMap<DefId, Vec<FieldInfo>>,
    pub backends: HashMap<DefId, Backend>,
    /// Declared types of params, secrets, data and models.
    pub decl_types: HashMap<DefId, Type>,
    pub params: HashMap<DefId, ParamState>,
    /// Values of site profiles and of the fields of resources.
    pub values: HashMap<DefId, Value>,
    pub tasks: HashMap<DefId, std::rc::Rc<crate::tasks::TaskSig>>,
    pub sweeps: HashMap<DefId, crate::sweeps::SweepInfo>,
    /// Params, data and models referred to from anywhere.
    pub used: HashSet<DefId>,
    /// The kind of each resource.
    pub resource_kinds: HashMap<DefId, DefId>,
    /// The record type of each site profile.
    pub site_records: HashMap<DefId, DefId>,
    /// The root file's experiment header: name, doc comment, entries.
    pub experiment: Option<(String, Option<String>, BTreeMap<String, Value>)>,
    /// While a task body is checked: the params, data, models and secrets it refers to.
    pub use_log: Option<Vec<DefId>>,
    /// The IR of each task, in the order of their declarations (a vector, not a map: the
    /// program takes it as it is, without a second copy of every task).
    pub task_irs: Vec<crate::ir::Task>,
    /// The resources visible in each module, sorted by name (computed once).
    pub resources_in_scope: HashMap<ModuleId, Vec<DefId>>,
    pub section_fields: crate::tasks::SectionFields,
    /// The placements the applied profile and `--on` move.
    pub moves: crate::profiles::Moves,
    /// Lists folders to expand `glob(…)`; none leaves file sets unexpanded.
    pub loader: Option<&'a dyn crate::loader::Loader>,
    /// The file sets: each data item declared with `glob(…)`.
    pub file_sets: HashMap<DefId, FileSet>,
    /// The loops over lists, each as a sweep of one nameless axis (strategy `list`).
    pub list_loops: Vec<crate::ir::Sweep>,
    /// While a task body is checked: its reads of `resources.NAME`, with their spans.
    pub resource_reads: Option<Vec<(expc_syntax::ast::SmolStr, Span)>>,
    /// The variables of the loops a pipeline has left, while it is checked: a use after
    /// the loop is told that they exist only inside it.
    pub ended_loop_names: Vec<(SmolStr, Span)>,
    /// The files each sample sheet names in its `File` columns (`rows(…)`).
    pub sheet_files: HashMap<DefId, crate::sheet::SheetFiles>,
    /// The pattern of each list output (`glob("parts/*.csv")`), by the output's name span.
    pub output_patterns: HashMap<Span, String>,
}

/// A data item declared with `glob(…)`.
#[derive(Clone, Debug)]
pub struct FileSet {
    pub pattern: String,
    pub allow_empty: bool,
    /// The files matched, written as the pattern is, sorted; `None` when the loader cannot
    /// list folders.
    pub files: Option<Vec<String>>,
    /// The type of one file.
    pub element: Type,
}

impl<'a> Checker<'a> {
    pub fn new(modules: &'a [Module], defs: Defs, overrides: &'a Overrides) -> Self {
        Self {
            modules,
            defs,
            diagnostics: Vec::new(),
            overrides,
            formats: HashMap::new(),
            variants: HashMap::new(),
            fields: HashMap::new(),
            backends: HashMap::new(),
            decl_types: HashMap::new(),
            params: HashMap::new(),
            values: HashMap::new(),
            tasks: HashMap::new(),
            sweeps: HashMap::new(),
            used: HashSet::new(),
            resource_kinds: HashMap::new(),
            site_records: HashMap::new(),
            experiment: None,
            use_log: None,
            task_irs: Vec::new(),
            resources_in_scope: HashMap::new(),
            section_fields: crate::tasks::SectionFields::new(),
            moves: crate::profiles::Moves::default(),
            loader: None,
            sheet_files: HashMap::new(),
            resource_reads: None,
            ended_loop_names: Vec::new(),
            file_sets: HashMap::new(),
            list_loops: Vec::new(),
            output_patterns: HashMap::new(),
        }
    }

    pub fn resource_kind(&self, id: DefId) -> Option<DefId> {
        self.resource_kinds.get(&id).copied()
    }

    pub fn site_record(&self, id: DefId) -> Option<DefId> {
        self.site_records.get(&id).copied()
    }

    pub fn def(&self, id: DefId) -> &Def {
        self.defs.get(id)
    }

    pub fn item(&self, id: DefId) -> &'a ast::Item {
        crate::defs::item(self.modules, self.defs.get(id))
    }

    pub fn module(&self, id: ModuleId) -> &'a Module {
        &self.modules[id.0 as usize]
    }

    pub fn emit(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// The ids of every declaration of a kind, in module and source order.
    pub fn all(&self, kind: DefKind) -> Vec<DefId> {
        (0..self.defs.defs.len() as u32)
            .map(DefId)
            .filter(|d| self.def(*d).kind == kind)
            .collect()
    }

    /// How a declaration is named in the IR: plain in the root module, qualified by its
    /// module elsewhere (`lib/common.exp::collect`, `std.formats::Csv`).
    pub fn ir_id(&self, id: DefId) -> String {
        let def = self.def(id);
        let module = self.module(def.module);
        if module.is_root() {
            def.name.clone()
        } else {
            format!("{}::{}", module.key, def.name)
        }
    }

    /// A standard-library declaration by module and name, if that module is loaded.
    pub fn std_def(&self, module: &str, name: &str) -> Option<DefId> {
        let key = format!("std.{module}");
        let m = self.modules.iter().find(|m| m.key == key)?;
        self.defs.declared_in(m.id, name)
    }

    /// Names visible at the top of a module, for suggestions.
    pub fn scope_names(&self, module: ModuleId) -> Vec<String> {
        let mut names: Vec<String> = self.defs.scopes[module.0 as usize]
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect();
        names.sort();
        names
    }

    // ---------------------------------------------------------------- types

    /// Resolves a type as written in a module.
    pub fn resolve_type(&mut self, module: ModuleId, ty: &TypeExpr) -> Type {
        let TypeExprKind::Named {
            name,
            args,
            optional,
        } = &ty.kind
        else {
            return Type::Error;
        };
        let resolved = self.resolve_named_type(module, name, args, ty.span);
        if *optional {
            Type::optional(resolved)
        } else {
            resolved
        }
    }

    fn resolve_named_type(
        &mut self,
        module: ModuleId,
        name: &ast::Ident,
        args: &[TypeExpr],
        span: Span,
    ) -> Type {
        let arity = |this: &mut Self, n: usize, usage: &str| -> bool {
            if args.len() == n {
                return true;
            }
            this.emit(
                Diagnostic::error(
                    Code::INVALID_TYPE,
                    format!(
                        "`{}` takes {} type argument{}, found {}",
                        name.name,
                        n,
                        if n == 1 { "" } else { "s" },
                        args.len()
                    ),
                    span,
                )
                .with_help(format!("write `{usage}`")),
            );
            false
        };
        let simple = match name.name.as_str() {
            "Int" => Some(Type::Int),
            "Float" => Some(Type::Float),
            "Bool" => Some(Type::Bool),
            "String" => Some(Type::String),
            "Path" => Some(Type::Path),
            "Memory" => Some(Type::Memory),
            "Duration" => Some(Type::Duration),
            "Cpu" => Some(Type::Cpu),
            "Timestamp" => Some(Type::Timestamp),
            "Dir" => Some(Type::Dir),
            "Metrics" => Some(Type::Metrics),
            _ => None,
        };
        if let Some(t) = simple {
            if !args.is_empty() {
                arity(self, 0, &name.name);
                return Type::Error;
            }
            return t;
        }
        match name.name.as_str() {
            "List" => {
                if !arity(self, 1, "List<T>") {
                    return Type::Error;
                }
                let inner = self.resolve_type(module, &args[0]);
                return Type::list(inner);
            }
            "File" | "Model" => {
                let usage = format!("{}<Format>", name.name);
                if !arity(self, 1, &usage) {
                    return Type::Error;
                }
                let Some(format) = self.format_arg(module, &args[0]) else {
                    return Type::Error;
                };
                if name.name == "Model" && !self.format_flag(format, "model") {
                    let f = self.def(format).name.clone();
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_TYPE,
                            format!("`{f}` is not a model format"),
                            args[0].span,
                        )
                        .with_primary_message("`Model<F>` needs a format with `model = true`")
                        .with_help(format!(
                            "use `File<{f}>`, or declare a model format: `format My{f}: {f} {{ model = true }}`"
                        )),
                    );
                    return Type::Error;
                }
                return if name.name == "File" {
                    Type::File(format)
                } else {
                    Type::Model(format)
                };
            }
            "Table" => {
                if args.is_empty() || args.len() > 2 {
                    arity(self, 1, "Table<Format> or Table<Format, Schema>");
                    return Type::Error;
                }
                let Some(format) = self.format_arg(module, &args[0]) else {
                    return Type::Error;
                };
                if !self.format_flag(format, "tabular") {
                    let f = self.def(format).name.clone();
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_TYPE,
                            format!("`{f}` is not a table format"),
                            args[0].span,
                        )
                        .with_primary_message("`Table<F>` needs a format with `tabular = true`")
                        .with_help(format!("use `File<{f}>` for a file that is not a table")),
                    );
                    return Type::Error;
                }
                let schema = match args.get(1) {
                    None => None,
                    Some(arg) => match self.type_name(module, arg, DefKind::Schema) {
                        Some(s) => Some(s),
                        None => return Type::Error,
                    },
                };
                return Type::Table(format, schema);
            }
            _ => {}
        }
        let Some(def) = self.lookup_type_def(module, name) else {
            return Type::Error;
        };
        if !args.is_empty() {
            arity(self, 0, &name.name);
            return Type::Error;
        }
        match self.def(def).kind {
            DefKind::Record => Type::Record(def),
            DefKind::Enum => Type::Enum(def),
            kind => {
                let (what, help) = match kind {
                    DefKind::Format => (
                        "a format",
                        format!(
                            "a format describes files: write `File<{0}>` or `Table<{0}>`",
                            name.name
                        ),
                    ),
                    DefKind::Schema => (
                        "a schema",
                        format!(
                            "a schema describes tables: write `Table<Csv, {}>`",
                            name.name
                        ),
                    ),
                    _ => (
                        kind.noun(),
                        "use a record, an enum or a built-in type".to_owned(),
                    ),
                };
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_TYPE,
                        format!("`{}` is {what}, not a type of values", name.name),
                        name.span,
                    )
                    .with_help(help),
                );
                Type::Error
            }
        }
    }

    /// A declared type name (record, enum, format, schema, kind), with "did you mean".
    fn lookup_type_def(&mut self, module: ModuleId, name: &ast::Ident) -> Option<DefId> {
        match self.defs.lookup(module, &name.name) {
            Some(b) => match b.binding {
                Binding::Def(d) if self.def(d).kind.is_type() => Some(d),
                Binding::Def(d) => {
                    let noun = self.def(d).kind.noun();
                    self.emit(
                        Diagnostic::error(
                            Code::WRONG_KIND_OF_NAME,
                            format!("`{}` is a {noun}, not a type", name.name),
                            name.span,
                        )
                        .with_label(self.def(d).span, format!("the {noun} is declared here")),
                    );
                    None
                }
                Binding::Module(_) => {
                    self.emit(Diagnostic::error(
                        Code::WRONG_KIND_OF_NAME,
                        format!("`{}` is a module, not a type", name.name),
                        name.span,
                    ));
                    None
                }
            },
            None => {
                let mut candidates: Vec<String> = crate::defs::BUILTIN_TYPES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
                candidates.extend(self.scope_names(module).into_iter().filter(|n| {
                    matches!(self.defs.lookup(module, n), Some(b) if matches!(b.binding, Binding::Def(d) if self.def(d).kind.is_type()))
                }));
                let mut d = Diagnostic::error(
                    Code::UNKNOWN_NAME,
                    format!("unknown type `{}`", name.name),
                    name.span,
                )
                .with_primary_message("not declared or imported");
                if let Some(module) = self.std_home(&name.name) {
                    d = d.with_help(format!(
                        "import it: `import std.{module}.{{{}}}`",
                        name.name
                    ));
                } else if let Some(s) =
                    expc_syntax::suggest::closest(&name.name, candidates.iter().map(String::as_str))
                {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.emit(d);
                None
            }
        }
    }

    /// The standard module that declares a name, for "import it" hints.
    pub fn std_home(&self, name: &str) -> Option<&'static str> {
        crate::loader::STD_MODULES.iter().find_map(|(module, src)| {
            src.lines()
                .any(|l| {
                    let mut words = l.split_whitespace();
                    matches!(
                        words.next(),
                        Some("format" | "record" | "enum" | "kind" | "schema")
                    ) && words
                        .next()
                        .is_some_and(|w| w.trim_end_matches(':') == name)
                })
                .then_some(*module)
        })
    }

    /// A type argument that must name a declaration of `kind`.
    fn type_name(&mut self, module: ModuleId, arg: &TypeExpr, kind: DefKind) -> Option<DefId> {
        let TypeExprKind::Named { name, args, .. } = &arg.kind else {
            return None;
        };
        let def = self.lookup_type_def(module, name)?;
        if self.def(def).kind != kind || !args.is_empty() {
            let found = self.def(def).kind.noun();
            self.emit(
                Diagnostic::error(
                    Code::INVALID_TYPE,
                    format!("expected a {}, found {found} `{}`", kind.noun(), name.name),
                    arg.span,
                )
                .with_label(self.def(def).span, format!("the {found} is declared here")),
            );
            return None;
        }
        Some(def)
    }

    fn format_arg(&mut self, module: ModuleId, arg: &TypeExpr) -> Option<DefId> {
        self.type_name(module, arg, DefKind::Format)
    }

    /// A boolean entry of a format, inherited from its bases.
    pub fn format_flag(&self, format: DefId, flag: &str) -> bool {
        let mut current = Some(format);
        let mut seen = 0;
        while let Some(f) = current {
            let Some(info) = self.formats.get(&f) else {
                return true; // not resolved: do not cascade
            };
            if let Some(v) = info.props.get(flag) {
                return *v == Value::Bool(true);
            }
            current = info.base;
            seen += 1;
            if seen > 64 {
                break;
            }
        }
        false
    }

    /// `sub` is `sup` or derives from it.
    pub fn format_within(&self, sub: DefId, sup: DefId) -> bool {
        let mut current = Some(sub);
        let mut seen = 0;
        while let Some(f) = current {
            if f == sup {
                return true;
            }
            current = self.formats.get(&f).and_then(|i| i.base);
            seen += 1;
            if seen > 64 {
                break;
            }
        }
        false
    }

    /// A type as users write it.
    pub fn show(&self, ty: &Type) -> String {
        let name = |d: &DefId| self.def(*d).name.as_str();
        match ty {
            Type::Int => "Int".into(),
            Type::Float => "Float".into(),
            Type::Bool => "Bool".into(),
            Type::String => "String".into(),
            Type::Path => "Path".into(),
            Type::Memory => "Memory".into(),
            Type::Duration => "Duration".into(),
            Type::Cpu => "Cpu".into(),
            Type::Timestamp => "Timestamp".into(),
            Type::File(f) => format!("File<{}>", name(f)),
            Type::Dir => "Dir".into(),
            Type::Table(f, None) => format!("Table<{}>", name(f)),
            Type::Table(f, Some(s)) => format!("Table<{}, {}>", name(f), name(s)),
            Type::Model(f) => format!("Model<{}>", name(f)),
            Type::Metrics => "Metrics".into(),
            Type::List(t) => format!("List<{}>", self.show(t)),
            Type::Optional(t) => format!("{}?", self.show(t)),
            Type::Record(d) | Type::Enum(d) => name(d).to_owned(),
            Type::NoneLit => "none".into(),
            Type::EmptyList => "an empty list".into(),
            Type::Resource(k) => format!("a {} resource", name(k)),
            Type::Sweep(_) => "a sweep".into(),
            Type::Point(_) => "a sweep point".into(),
            Type::Task(_) => "a task".into(),
            Type::Call { task, gathered } => {
                if *gathered {
                    format!("the calls of `{}` in a loop", name(task))
                } else {
                    format!("a call of `{}`", name(task))
                }
            }
            Type::Module(_) => "a module".into(),
            Type::EnumName(d) => format!("the enum type `{}`", name(d)),
            Type::Distribution(t) => format!("a distribution of {}", self.show(t)),
            Type::Error => "?".into(),
        }
    }

    // ------------------------------------------------------------ compatibility

    /// Whether a value of type `found` may go where `expected` is expected.
    pub fn fits(&self, found: &Type, expected: &Type) -> Result<(), Misfit> {
        use Type as T;
        match (found, expected) {
            (T::Error, _) | (_, T::Error) => Ok(()),
            (a, b) if a == b => Ok(()),
            (T::Int, T::Float | T::Cpu) | (T::Float, T::Cpu) => Ok(()),
            (T::Int | T::Float, T::Memory | T::Duration) => Err(Misfit::MissingUnit),
            (T::String, T::Path) => Ok(()),
            (a, T::Path) if a.is_artifact() => Ok(()),
            (T::NoneLit, T::Optional(_)) => Ok(()),
            (T::Optional(a), T::Optional(b)) => self.fits(a, b),
            (a, T::Optional(b)) => self.fits(a, b),
            (T::EmptyList, T::List(_)) => Ok(()),
            (T::List(a), T::List(b)) => self.fits(a, b),
            (T::File(a), T::File(b)) | (T::Model(a), T::Model(b)) => self.format_fit(*a, *b),
            (T::Table(a, _), T::File(b)) | (T::Model(a), T::File(b)) => self.format_fit(*a, *b),
            (T::Table(fa, sa), T::Table(fb, sb)) => {
                self.format_fit(*fa, *fb)?;
                match (sa, sb) {
                    (_, None) => Ok(()),
                    (None, Some(s)) => Err(Misfit::Schema(format!(
                        "the table has no schema, and `{}` is required",
                        self.def(*s).name
                    ))),
                    (Some(a), Some(b)) => self.schema_fit(*a, *b),
                }
            }
            (T::Metrics, T::File(b)) => match self.std_def("formats", "Json") {
                Some(json) if self.format_within(json, *b) => Ok(()),
                _ => Err(Misfit::Type),
            },
            (T::File(f), T::Dir) if self.format_flag(*f, "directory") => Ok(()),
            _ => Err(Misfit::Type),
        }
    }

    fn format_fit(&self, found: DefId, expected: DefId) -> Result<(), Misfit> {
        if self.format_within(found, expected) {
            Ok(())
        } else {
            Err(Misfit::Format { found, expected })
        }
    }

    /// Schemas compare by content: the same columns, names and types, in order.
    fn schema_fit(&self, found: DefId, expected: DefId) -> Result<(), Misfit> {
        if found == expected {
            return Ok(());
        }
        let (Some(a), Some(b)) = (self.fields.get(&found), self.fields.get(&expected)) else {
            return Ok(());
        };
        let (fname, ename) = (&self.def(found).name, &self.def(expected).name);
        for col in b {
            match a.iter().find(|c| c.name == col.name) {
                None => {
                    return Err(Misfit::Schema(format!(
                        "column `{}` of `{ename}` is missing from `{fname}`",
                        col.name
                    )));
                }
                Some(c) if c.ty != col.ty => {
                    return Err(Misfit::Schema(format!(
                        "column `{}` is {} in `{fname}` but {} in `{ename}`",
                        col.name,
                        self.show(&c.ty),
                        self.show(&col.ty)
                    )));
                }
                _ => {}
            }
        }
        if let Some(extra) = a.iter().find(|c| !b.iter().any(|x| x.name == c.name)) {
            return Err(Misfit::Schema(format!(
                "`{fname}` has column `{}`, which `{ename}` does not",
                extra.name
            )));
        }
        let order_a: Vec<&str> = a.iter().map(|c| c.name.as_str()).collect();
        let order_b: Vec<&str> = b.iter().map(|c| c.name.as_str()).collect();
        if order_a != order_b {
            return Err(Misfit::Schema(format!(
                "`{fname}` and `{ename}` have the same columns in another order"
            )));
        }
        Ok(())
    }

    /// Reports a value of type `found` at `span` that does not fit `expected`.
    /// `producer` points at the declaration the value comes from, when there is one.
    pub fn misfit(
        &mut self,
        misfit: Misfit,
        found: &Type,
        expected: &Type,
        span: Span,
        what: &str,
        producer: Option<Span>,
    ) {
        let (fs, es) = (self.show(found), self.show(expected));
        let mut d = match misfit {
            Misfit::Type => Diagnostic::error(
                Code::TYPE_MISMATCH,
                format!("{what} expects {es}, found {fs}"),
                span,
            )
            .with_primary_message(format!("this is {fs}")),
            Misfit::MissingUnit => {
                let es = match expected {
                    Type::Optional(t) => self.show(t),
                    t => self.show(t),
                };
                let example = if *expected == Type::Memory
                    || matches!(expected, Type::Optional(t) if **t == Type::Memory)
                {
                    "`16GiB` or `512MiB`"
                } else {
                    "`30m`, `2h` or `1h30m`"
                };
                Diagnostic::error(
                    Code::MISSING_UNIT,
                    format!("{what} expects {es}, found a number without a unit"),
                    span,
                )
                .with_primary_message("no unit")
                .with_help(format!("write the unit after the number, as in {example}"))
            }
            Misfit::Format {
                found: f,
                expected: e,
            } => Diagnostic::error(
                Code::FORMAT_MISMATCH,
                format!("{what} expects {es}, found {fs}"),
                span,
            )
            .with_primary_message(format!(
                "this is in format `{}`, not `{}`",
                self.def(f).name,
                self.def(e).name
            ))
            .with_help(format!(
                "convert it with a task first, or declare the input as `{}`",
                fs
            )),
            Misfit::Schema(why) => Diagnostic::error(
                Code::SCHEMA_MISMATCH,
                format!("{what} expects {es}, found {fs}"),
                span,
            )
            .with_primary_message(why)
            .with_help("make the producer's schema and the consumer's schema agree"),
        };
        if let Some(p) = producer {
            d = d.with_label(p, "the producer is declared here");
        }
        self.emit(d);
    }
}
