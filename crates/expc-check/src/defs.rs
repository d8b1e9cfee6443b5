//! Declarations and scopes: what each name in each module refers to.
//!
//! Every item that declares a name becomes a [`Def`]. Each module has a scope of the names
//! it declares and the names it imports; names are visible in the whole module, before
//! and after their declaration.

use expc_syntax::ast::SmolStr;
use foldhash::{HashMap, HashMapExt};

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, ImportSource, ItemKind};

use crate::modules::{Module, ModuleId};

/// Index of a declaration in [`Defs::defs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DefId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DefKind {
    Param,
    Secret,
    Sweep,
    Resource,
    Site,
    Data,
    Model,
    Task,
    Pipeline,
    Record,
    Schema,
    Enum,
    Format,
    Kind,
    Profile,
}

impl DefKind {
    /// How the kind is named in messages: "param", "task", …
    pub fn noun(self) -> &'static str {
        match self {
            DefKind::Param => "param",
            DefKind::Secret => "secret",
            DefKind::Sweep => "sweep",
            DefKind::Resource => "resource",
            DefKind::Site => "site profile",
            DefKind::Data => "data item",
            DefKind::Model => "model",
            DefKind::Task => "task",
            DefKind::Pipeline => "pipeline",
            DefKind::Record => "record type",
            DefKind::Schema => "schema",
            DefKind::Enum => "enum",
            DefKind::Format => "format",
            DefKind::Kind => "resource kind",
            DefKind::Profile => "profile",
        }
    }

    pub fn is_type(self) -> bool {
        matches!(
            self,
            DefKind::Record | DefKind::Schema | DefKind::Enum | DefKind::Format | DefKind::Kind
        )
    }
}

#[derive(Debug, Clone)]
pub struct Def {
    pub module: ModuleId,
    /// Index of the item in its module.
    pub item: usize,
    pub kind: DefKind,
    pub name: String,
    /// The span of the declared name.
    pub span: Span,
}

/// What a name in a scope stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Def(DefId),
    Module(ModuleId),
}

#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub binding: Binding,
    /// Where the name is introduced: its declaration or its import.
    pub span: Span,
}

#[derive(Debug, Default)]
pub struct Defs {
    pub defs: Vec<Def>,
    /// For each module, the names it declares, in order (so in increasing `DefId`).
    pub declared: Vec<Vec<DefId>>,
    /// For each module, every name visible at its top level.
    pub scopes: Vec<HashMap<SmolStr, Bound>>,
}

/// Names of built-in types: they cannot be declared again.
pub const BUILTIN_TYPES: &[&str] = &[
    "Int",
    "Float",
    "Bool",
    "String",
    "Path",
    "Memory",
    "Duration",
    "Cpu",
    "Timestamp",
    "File",
    "Dir",
    "Table",
    "Model",
    "Metrics",
    "List",
];

/// Built-in functions.
pub const BUILTIN_FUNCTIONS: &[&str] = &[
    "env",
    "glob",
    "linspace",
    "uniform",
    "loguniform",
    "choice",
    "json",
    "yaml",
    "git",
];

impl Defs {
    pub fn get(&self, id: DefId) -> &Def {
        &self.defs[id.0 as usize]
    }

    pub fn lookup(&self, module: ModuleId, name: &str) -> Option<Bound> {
        self.scopes[module.0 as usize].get(name).copied()
    }

    /// The declared (not imported) item `name` of a module.
    pub fn declared_in(&self, module: ModuleId, name: &str) -> Option<DefId> {
        match self.scopes[module.0 as usize].get(name)?.binding {
            Binding::Def(d) if self.get(d).module == module => Some(d),
            _ => None,
        }
    }

    /// The names a module declares, for suggestions.
    pub fn declared_names(&self, module: ModuleId) -> impl Iterator<Item = &str> {
        self.declared[module.0 as usize]
            .iter()
            .map(|d| self.get(*d).name.as_str())
    }
}

/// Collects the declarations of every module, then binds imports.
pub fn collect(modules: &[Module], diagnostics: &mut Vec<Diagnostic>) -> Defs {
    let mut defs = Defs::default();
    for module in modules {
        let mut scope: HashMap<SmolStr, Bound> = HashMap::new();
        let mut declared = Vec::new();
        for (index, item) in module.ast.items.iter().enumerate() {
            let kind = match &item.kind {
                ItemKind::Param(_) => DefKind::Param,
                ItemKind::Secret(_) => DefKind::Secret,
                ItemKind::Sweep(_) => DefKind::Sweep,
                ItemKind::Resource(_) => DefKind::Resource,
                ItemKind::Site(_) => DefKind::Site,
                ItemKind::Data(_) => DefKind::Data,
                ItemKind::Model(_) => DefKind::Model,
                ItemKind::Task(_) => DefKind::Task,
                ItemKind::Pipeline(_) => DefKind::Pipeline,
                ItemKind::Record(_) => DefKind::Record,
                ItemKind::Schema(_) => DefKind::Schema,
                ItemKind::Enum(_) => DefKind::Enum,
                ItemKind::Format(_) => DefKind::Format,
                ItemKind::Kind(_) => DefKind::Kind,
                ItemKind::Profile(_) => DefKind::Profile,
                ItemKind::Experiment(_) | ItemKind::Import(_) | ItemKind::Error => continue,
            };
            let Some(name) = item.kind.name() else {
                continue;
            };
            if name.name.is_empty() {
                continue;
            }
            if BUILTIN_TYPES.contains(&name.name.as_str()) {
                diagnostics.push(
                    Diagnostic::error(
                        Code::DUPLICATE_NAME,
                        format!(
                            "`{}` is a built-in type and cannot be declared again",
                            name.name
                        ),
                        name.span,
                    )
                    .with_help("choose another name"),
                );
                continue;
            }
            let id = DefId(defs.defs.len() as u32);
            defs.defs.push(Def {
                module: module.id,
                item: index,
                kind,
                name: name.name.as_str().to_owned(),
                span: name.span,
            });
            if let Some(first) = scope.get(&name.name) {
                diagnostics.push(duplicate(&name.name, name.span, first.span));
                continue;
            }
            scope.insert(
                name.name.clone(),
                Bound {
                    binding: Binding::Def(id),
                    span: name.span,
                },
            );
            declared.push(id);
        }
        defs.scopes.push(scope);
        defs.declared.push(declared);
    }
    for module in modules {
        bind_imports(&mut defs, modules, module, diagnostics);
    }
    defs
}

fn duplicate(name: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error(
        Code::DUPLICATE_NAME,
        format!("`{name}` is declared twice"),
        span,
    )
    .with_primary_message("declared again here")
    .with_label(first, "first declared here")
    .with_help("names must be unique in a file: rename one of them")
}

fn bind_imports(
    defs: &mut Defs,
    modules: &[Module],
    module: &Module,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let add = |defs: &mut Defs, name: &str, bound: Bound, diagnostics: &mut Vec<Diagnostic>| {
        let scope = &mut defs.scopes[module.id.0 as usize];
        if let Some(first) = scope.get(name) {
            if first.binding != bound.binding {
                diagnostics.push(
                    Diagnostic::error(
                        Code::DUPLICATE_NAME,
                        format!("the import of `{name}` clashes with another `{name}`"),
                        bound.span,
                    )
                    .with_primary_message("imported here")
                    .with_label(first.span, "the other one")
                    .with_help("import it under another name with `as`"),
                );
            }
            return;
        }
        scope.insert(SmolStr::new(name), bound);
    };
    for (index, item) in module.ast.items.iter().enumerate() {
        let ItemKind::Import(import) = &item.kind else {
            continue;
        };
        let Some(&target) = module.imports.get(&index) else {
            continue; // unresolved: reported when loading
        };
        match (&import.source, &import.names, &import.alias) {
            (_, Some(_), Some(alias)) => diagnostics.push(
                Diagnostic::error(
                    Code::INVALID_IMPORT,
                    "an import lists names and also has an alias",
                    alias.span,
                )
                .with_primary_message("this alias")
                .with_help("import the module with `as`, or names from it with `{ … }`, not both"),
            ),
            (ImportSource::File(_), Some(names), None) => {
                if let Some(first) = names.first() {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::INVALID_IMPORT,
                            "names are imported from standard modules, not from files",
                            first.span,
                        )
                        .with_help("import the file without `{ … }` to bring all its names, or with `as NAME`"),
                    );
                }
            }
            (ImportSource::Module(_), Some(names), None) => {
                for n in names {
                    let Some(def) = defs.declared_in(target, &n.name.name) else {
                        let mut d = Diagnostic::error(
                            Code::UNKNOWN_NAME,
                            format!(
                                "`{}` is not declared in `{}`",
                                n.name.name, modules[target.0 as usize].key
                            ),
                            n.name.span,
                        )
                        .with_primary_message("not found");
                        if let Some(s) =
                            expc_syntax::suggest::closest(&n.name.name, defs.declared_names(target))
                        {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                        diagnostics.push(d);
                        continue;
                    };
                    let local = n.alias.as_ref().unwrap_or(&n.name);
                    add(
                        defs,
                        &local.name,
                        Bound {
                            binding: Binding::Def(def),
                            span: local.span,
                        },
                        diagnostics,
                    );
                }
            }
            (ImportSource::Module(path), None, alias) => {
                let Some(local) = alias.as_ref().or(path.last()) else {
                    continue;
                };
                add(
                    defs,
                    &local.name,
                    Bound {
                        binding: Binding::Module(target),
                        span: local.span,
                    },
                    diagnostics,
                );
            }
            (ImportSource::File(_), None, Some(alias)) => add(
                defs,
                &alias.name,
                Bound {
                    binding: Binding::Module(target),
                    span: alias.span,
                },
                diagnostics,
            ),
            (ImportSource::File(lit), None, None) => {
                let names: Vec<DefId> = defs.declared[target.0 as usize].clone();
                for def in names {
                    let name = defs.get(def).name.clone();
                    add(
                        defs,
                        &name,
                        Bound {
                            binding: Binding::Def(def),
                            span: lit.span,
                        },
                        diagnostics,
                    );
                }
            }
        }
    }
}

/// The AST item of a declaration.
pub fn item<'m>(modules: &'m [Module], def: &Def) -> &'m ast::Item {
    &modules[def.module.0 as usize].ast.items[def.item]
}
