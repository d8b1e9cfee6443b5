//! Name resolution, modules, the standard library and the type checker of expc.
//!
//! [`check_file`] loads a spec and everything it imports (through a [`Loader`]: the
//! checker does no IO of its own), resolves every name, checks every type, unit,
//! constraint, placement and site limit, and builds the typed IR ([`ir::Program`]).
//! Like the parser it never stops at the first error and never panics: it returns every
//! diagnostic, and an IR whenever the program had no errors.

mod checker;
mod conditions;
mod config_file;
mod defs;
mod expr;
pub mod fileset;
pub mod glob;
pub mod index;
pub mod ir;
mod ir_expr;
mod items;
pub mod loader;
pub mod modules;
mod mpi;
mod overrides;
mod pipeline;
mod produced;
mod profiles;
mod record_params;
pub mod registry;
mod registry_select;
mod remote;
pub mod remote_url;
mod resource_reads;
pub mod shape;
mod sheet;
mod shell;
mod stdout_output;
mod sweeps;
mod tasks;
mod types;
mod unread;
pub mod value;
pub mod yaml;

use std::path::Path;

use expc_diagnostics::{Code, Diagnostic, FileId, Severity, SourceMap};

pub use loader::{FsLoader, Loader, MemoryLoader};
pub use overrides::Overrides;
pub use produced::output_folder as produced_folder;
pub use tasks::{SECTION_FIELDS, SectionField};

use checker::Checker;
use defs::DefKind;

/// The outcome of checking a spec.
#[derive(Debug)]
pub struct Checked {
    /// The typed IR, when there are no errors.
    pub program: Option<ir::Program>,
    /// Every diagnostic, of every file involved, sorted.
    pub diagnostics: Vec<Diagnostic>,
    /// The syntax trees of the root file and of every module it imports, the root first.
    pub modules: Vec<modules::Module>,
    /// The file sets (`glob(…)`) and what they matched, for editors.
    pub file_sets: Vec<FileSetSummary>,
}

/// A data item declared with `glob(…)`, and what its pattern matched.
#[derive(Clone, Debug)]
pub struct FileSetSummary {
    /// The data item's name where it is declared.
    pub span: expc_diagnostics::Span,
    pub pattern: String,
    /// The files matched, sorted; `None` when the folders could not be listed.
    pub files: Option<Vec<String>>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Checks the spec at `path`. The root file is read and decoded by the caller into
/// `sources` as `file` (so that a missing root file is the caller's error to report);
/// imports are read through `loader`.
pub fn check(
    path: &Path,
    file: FileId,
    sources: &mut SourceMap,
    loader: &dyn Loader,
    overrides: &Overrides,
) -> Checked {
    let text = sources
        .get(file)
        .map(|f| f.text.clone())
        .unwrap_or_default();
    let parsed = expc_syntax::parse(file, &text);
    let mut diagnostics = parsed.diagnostics;
    let modules = modules::load(path, file, parsed.file, loader, sources, &mut diagnostics);
    let defs = defs::collect(&modules, &mut diagnostics);
    let mut checker = Checker::new(&modules, defs, overrides);
    checker.loader = Some(loader);
    checker.check_formats();
    checker.check_enums();
    checker.check_field_decls();
    checker.check_decl_types();
    checker.check_task_signatures();
    checker.check_sites();
    checker.check_resources();
    checker.check_params();
    checker.check_secrets();
    checker.check_artifacts();
    checker.check_experiment();
    checker.check_sweeps();
    checker.check_task_bodies();
    checker.check_profiles();
    let pipelines = checker.check_pipelines();
    checker.check_unused();
    let mut file_sets: Vec<FileSetSummary> = checker
        .file_sets
        .iter()
        .map(|(def, set)| FileSetSummary {
            span: checker.def(*def).span,
            pattern: set.pattern.clone(),
            files: set.files.clone(),
        })
        .collect();
    file_sets.sort_by_key(|f| f.span);
    let program = checker.program(pipelines);
    diagnostics.append(&mut checker.diagnostics);
    drop(checker);
    unread::drop_cascades(&mut diagnostics, &modules, sources);
    expc_diagnostics::sort(&mut diagnostics);
    diagnostics.dedup_by(|a, b| a.code == b.code && a.span() == b.span() && a.message == b.message);
    let has_errors = diagnostics.iter().any(|d| d.severity == Severity::Error);
    Checked {
        program: (!has_errors).then_some(program),
        diagnostics,
        modules,
        file_sets,
    }
}

/// Reads and decodes a root file through the loader into `sources`.
pub fn load_root(
    path: &Path,
    loader: &dyn Loader,
    sources: &mut SourceMap,
) -> std::io::Result<(FileId, Vec<Diagnostic>)> {
    let bytes = loader.read(path)?;
    let id = FileId(sources.files().count() as u32);
    let (text, diagnostics) = expc_syntax::decode(id, &bytes);
    let added = sources.add(path.display().to_string(), text);
    debug_assert_eq!(added, id);
    Ok((id, diagnostics))
}

impl Checker<'_> {
    /// Params and data of the experiment that nothing uses.
    fn check_unused(&mut self) {
        for kind in [DefKind::Param, DefKind::Data, DefKind::Model] {
            for def in self.all(kind) {
                let d = self.def(def);
                // Declared ids are in increasing order: a search, not a scan per item.
                let in_scope = self.defs.declared[d.module.0 as usize]
                    .binary_search(&def)
                    .is_ok();
                if d.module.0 != 0
                    || !in_scope
                    || self.used.contains(&def)
                    || d.name.starts_with('_')
                {
                    continue;
                }
                let (name, span, noun) = (d.name.clone(), d.span, kind.noun());
                self.emit(
                    Diagnostic::warning(Code::UNUSED, format!("the {noun} `{name}` is never used"), span)
                        .with_help("use it in a task or a call, or remove it; names starting with `_` are not reported"),
                );
            }
        }
    }

    fn program(&mut self, pipelines: Vec<ir::Pipeline>) -> ir::Program {
        let root = self.modules[0].key.clone();
        let params = self
            .all(DefKind::Param)
            .into_iter()
            .map(|d| {
                let value = self.param_value(d);
                let name = self.def(d).name.clone();
                let overridden = self.def(d).module.0 == 0
                    && (self.overrides.get(&name).is_some()
                        || !self.overrides.fields_of(&name).is_empty());
                ir::Param {
                    id: self.ir_id(d),
                    ty: self.show(self.decl_types.get(&d).unwrap_or(&types::Type::Error)),
                    source: if overridden {
                        "override"
                    } else if value.is_some() {
                        "default"
                    } else {
                        "unset"
                    },
                    value,
                    doc: self.item(d).doc.as_ref().map(|x| x.text.clone()),
                    span: self.def(d).span,
                }
            })
            .collect();
        let secrets = self
            .all(DefKind::Secret)
            .into_iter()
            .map(|d| ir::Secret {
                id: self.ir_id(d),
                env: self
                    .values
                    .get(&d)
                    .and_then(|v| v.as_str().map(str::to_owned)),
            })
            .collect();
        let list_loops = std::mem::take(&mut self.list_loops);
        let sweeps = self
            .all(DefKind::Sweep)
            .into_iter()
            .filter_map(|d| {
                let s = self.sweeps.get(&d)?;
                Some(ir::Sweep {
                    id: self.ir_id(d),
                    strategy: s.strategy,
                    axes: s
                        .axes
                        .iter()
                        .map(|a| ir::Axis {
                            name: a.name.clone(),
                            ty: self.show(&a.ty),
                            values: a.values.clone(),
                        })
                        .collect(),
                    samples: s.samples,
                    seed: s.seed,
                    points: s.points,
                })
            })
            .chain(list_loops)
            .collect();
        let sites = self
            .all(DefKind::Site)
            .into_iter()
            .map(|d| ir::Declared {
                id: self.ir_id(d),
                value: self.values.get(&d).cloned(),
            })
            .collect();
        let resources = self
            .all(DefKind::Resource)
            .into_iter()
            .map(|d| {
                let kind = self.resource_kind(d);
                let fields = self.values.get(&d).cloned();
                ir::Resource {
                    id: self.ir_id(d),
                    kind: kind.map(|k| self.def(k).name.clone()).unwrap_or_default(),
                    backend: kind.and_then(|k| self.backends.get(&k).copied()),
                    limits: fields.as_ref().map(|f| self.limits(f)).unwrap_or_default(),
                    fields,
                }
            })
            .collect();
        let artifact = |this: &Self, d| {
            let mut entries = match this.values.get(&d) {
                Some(value::Value::Record(_, fields)) => fields.clone(),
                _ => Default::default(),
            };
            let path = entries
                .remove("path")
                .and_then(|p| p.as_str().map(str::to_owned));
            let id = this.ir_id(d);
            let glob = this.file_sets.get(&d).map(|set| ir::Glob {
                pattern: set.pattern.clone(),
                allow_empty: set.allow_empty,
                members: set
                    .files
                    .as_ref()
                    .map(|files| files.iter().map(|f| fileset::member_id(&id, f)).collect()),
            });
            ir::Artifact {
                id,
                ty: this.show(this.decl_types.get(&d).unwrap_or(&types::Type::Error)),
                path,
                module: this.module(this.def(d).module).key.clone(),
                doc: this.item(d).doc.as_ref().map(|x| x.text.clone()),
                entries,
                glob,
                member_of: None,
            }
        };
        let mut data = Vec::new();
        for d in self.all(DefKind::Data) {
            let set = artifact(self, d);
            let members: Vec<ir::Artifact> = match self.file_sets.get(&d) {
                Some(fs) => {
                    let ty = self.show(&fs.element);
                    fs.files
                        .iter()
                        .flatten()
                        .map(|f| ir::Artifact {
                            id: fileset::member_id(&set.id, f),
                            ty: ty.clone(),
                            path: Some(f.clone()),
                            module: set.module.clone(),
                            doc: None,
                            entries: Default::default(),
                            glob: None,
                            member_of: Some(set.id.clone()),
                        })
                        .collect()
                }
                None => match self.sheet_files.get(&d) {
                    // The files a sample sheet names.
                    Some(sheet) => sheet
                        .files
                        .iter()
                        .map(|(f, ty)| ir::Artifact {
                            id: fileset::member_id(&set.id, f),
                            ty: self.show(ty),
                            path: Some(f.clone()),
                            module: set.module.clone(),
                            doc: None,
                            entries: Default::default(),
                            glob: None,
                            member_of: Some(set.id.clone()),
                        })
                        .collect(),
                    None => Vec::new(),
                },
            };
            data.push(set);
            data.extend(members);
        }
        let mut models = Vec::new();
        for d in self.all(DefKind::Model) {
            let set = artifact(self, d);
            // The versions `registry.top(…)` chose: a model each, as the files of a set.
            let members: Vec<ir::Artifact> = match self.file_sets.get(&d) {
                Some(fs) => fs
                    .files
                    .iter()
                    .flatten()
                    .map(|f| ir::Artifact {
                        id: fileset::member_id(&set.id, f),
                        ty: self.show(&fs.element),
                        path: Some(f.clone()),
                        module: set.module.clone(),
                        doc: None,
                        entries: Default::default(),
                        glob: None,
                        member_of: Some(set.id.clone()),
                    })
                    .collect(),
                None => Vec::new(),
            };
            models.push(set);
            models.extend(members);
        }
        // Checked in the order of their declarations, as they are listed.
        let tasks: Vec<ir::Task> = std::mem::take(&mut self.task_irs);
        // Formats and schemas that the program's types mention.
        let mut used_formats = std::collections::BTreeSet::new();
        let mut used_schemas = std::collections::BTreeSet::new();
        let mut note = |ty: &types::Type| {
            let mut stack = vec![ty.clone()];
            while let Some(t) = stack.pop() {
                match t {
                    types::Type::File(f) | types::Type::Model(f) => {
                        used_formats.insert(f);
                    }
                    types::Type::Table(f, s) => {
                        used_formats.insert(f);
                        if let Some(s) = s {
                            used_schemas.insert(s);
                        }
                    }
                    types::Type::List(i) | types::Type::Optional(i) => stack.push(*i),
                    _ => {}
                }
            }
        };
        for t in self.decl_types.values() {
            note(t);
        }
        for s in self.tasks.values() {
            for f in s.inputs.iter().chain(&s.outputs) {
                note(&f.ty);
            }
        }
        // Bases of used formats too.
        let mut frontier: Vec<_> = used_formats.iter().copied().collect();
        while let Some(f) = frontier.pop() {
            if let Some(b) = self.formats.get(&f).and_then(|i| i.base) {
                if used_formats.insert(b) {
                    frontier.push(b);
                }
            }
        }
        let mut formats: Vec<ir::Format> = used_formats
            .into_iter()
            .map(|f| {
                let mut props = std::collections::BTreeMap::new();
                let mut chain = Some(f);
                let mut guard = 0;
                while let Some(c) = chain {
                    if let Some(info) = self.formats.get(&c) {
                        for (k, v) in &info.props {
                            props.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                        chain = info.base;
                    } else {
                        chain = None;
                    }
                    guard += 1;
                    if guard > 64 {
                        break;
                    }
                }
                ir::Format {
                    id: self.ir_id(f),
                    base: self
                        .formats
                        .get(&f)
                        .and_then(|i| i.base)
                        .map(|b| self.ir_id(b)),
                    props,
                }
            })
            .collect();
        formats.sort_by(|a, b| a.id.cmp(&b.id));
        let mut schemas: Vec<ir::Schema> = used_schemas
            .into_iter()
            .map(|s| ir::Schema {
                id: self.ir_id(s),
                columns: self
                    .fields
                    .get(&s)
                    .into_iter()
                    .flatten()
                    .map(|c| ir::Column {
                        name: c.name.as_str().to_owned(),
                        ty: self.show(&c.ty),
                    })
                    .collect(),
            })
            .collect();
        schemas.sort_by(|a, b| a.id.cmp(&b.id));
        ir::Program {
            schema_version: ir::SCHEMA_VERSION,
            root,
            modules: self.modules.iter().map(|m| m.key.clone()).collect(),
            experiment: self
                .experiment
                .clone()
                .map(|(name, doc, entries)| ir::Experiment {
                    name,
                    doc,
                    entries: entries
                        .into_iter()
                        .filter(|(_, v)| *v != value::Value::None)
                        .collect(),
                }),
            params,
            secrets,
            sweeps,
            sites,
            resources,
            data,
            models,
            formats,
            schemas,
            tasks,
            pipelines,
            profile: self.moves.applied.clone(),
        }
    }
}
