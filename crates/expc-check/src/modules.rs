//! Loading a program: the root file and, transitively, everything it imports.
//!
//! Each file and each standard module is loaded and parsed once, however many times it is
//! imported. Import cycles are reported with the whole cycle; the modules in a cycle are
//! still loaded, so that the rest of the program is checked too.

use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use expc_diagnostics::{Code, Diagnostic, FileId, SourceMap, Span};
use expc_syntax::ast::{self, ImportSource, ItemKind};

use crate::loader::{self, Loader};

/// Index of a module in [`Program::modules`](crate::Program).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ModuleId(pub u32);

#[derive(Debug)]
pub struct Module {
    pub id: ModuleId,
    /// How the module is named in the IR: the root file's name, a path relative to the
    /// root file's folder (`lib/common.exp`), or `std.formats`.
    pub key: String,
    /// The folder its relative paths are relative to (none for the standard library).
    pub dir: Option<PathBuf>,
    pub file: FileId,
    pub ast: ast::SourceFile,
    /// The module each import item loads, by the item's index.
    pub imports: BTreeMap<usize, ModuleId>,
}

impl Module {
    pub fn is_root(&self) -> bool {
        self.id == ModuleId(0)
    }
}

enum State {
    Loading,
    Done,
}

struct Load<'a> {
    loader: &'a dyn Loader,
    sources: &'a mut SourceMap,
    diagnostics: &'a mut Vec<Diagnostic>,
    modules: Vec<Module>,
    by_identity: HashMap<String, ModuleId>,
    state: HashMap<ModuleId, State>,
    /// The modules being loaded, outermost first, with the import that led to the next.
    stack: Vec<(ModuleId, Option<Span>)>,
    root_dir: PathBuf,
}

/// Loads `root` (already in `sources` as `root_file`) and every module it imports.
pub fn load(
    root_path: &Path,
    root_file: FileId,
    root_ast: ast::SourceFile,
    loader: &dyn Loader,
    sources: &mut SourceMap,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Module> {
    let root_dir = root_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let key = root_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "<stdin>".to_owned());
    let identity = loader
        .canonical(root_path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| root_path.display().to_string());
    let mut load = Load {
        loader,
        sources,
        diagnostics,
        modules: Vec::new(),
        by_identity: HashMap::new(),
        state: HashMap::new(),
        stack: Vec::new(),
        root_dir: root_dir.clone(),
    };
    let id = load.add(identity, key, Some(root_dir), root_file, root_ast);
    load.visit(id, None);
    load.modules
}

impl Load<'_> {
    fn add(
        &mut self,
        identity: String,
        key: String,
        dir: Option<PathBuf>,
        file: FileId,
        ast: ast::SourceFile,
    ) -> ModuleId {
        let id = ModuleId(self.modules.len() as u32);
        self.modules.push(Module {
            id,
            key,
            dir,
            file,
            ast,
            imports: BTreeMap::new(),
        });
        self.by_identity.insert(identity, id);
        id
    }

    fn visit(&mut self, id: ModuleId, via: Option<Span>) {
        self.state.insert(id, State::Loading);
        self.stack.push((id, via));
        let imports: Vec<(usize, ImportSource, Span)> = self.modules[id.0 as usize]
            .ast
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match &item.kind {
                ItemKind::Import(import) => Some((i, import.source.clone(), item.span)),
                _ => None,
            })
            .collect();
        for (index, source, span) in imports {
            let Some(target) = self.resolve(id, &source, span) else {
                continue;
            };
            self.modules[id.0 as usize].imports.insert(index, target);
            match self.state.get(&target) {
                Some(State::Done) => {}
                Some(State::Loading) => self.report_cycle(target, span),
                None => self.visit(target, Some(span)),
            }
        }
        self.stack.pop();
        self.state.insert(id, State::Done);
    }

    /// Finds (loading if needed) the module an import names.
    fn resolve(&mut self, from: ModuleId, source: &ImportSource, span: Span) -> Option<ModuleId> {
        match source {
            ImportSource::Module(path) => {
                let names: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
                let span = path
                    .first()
                    .map_or(span, |f| f.span.to(path.last().map_or(f.span, |l| l.span)));
                if names.len() != 2 || names[0] != "std" {
                    let mut d = Diagnostic::error(
                        Code::UNRESOLVED_IMPORT,
                        format!("there is no module `{}`", names.join(".")),
                        span,
                    )
                    .with_primary_message("not a module of the standard library");
                    d = d.with_help(format!(
                        "the standard modules are {}; import a file with `import \"path/file.exp\"`",
                        std_list()
                    ));
                    self.diagnostics.push(d);
                    return None;
                }
                let name = names[1];
                let Some(text) = loader::std_module(name) else {
                    let mut d = Diagnostic::error(
                        Code::UNRESOLVED_IMPORT,
                        format!("there is no module `std.{name}`"),
                        span,
                    )
                    .with_primary_message("not in the standard library");
                    let candidates = loader::STD_MODULES.iter().map(|(n, _)| *n);
                    d = match expc_syntax::suggest::closest(name, candidates) {
                        Some(s) => d.with_help(format!("did you mean `std.{s}`?")),
                        None => d.with_help(format!("the standard modules are {}", std_list())),
                    };
                    self.diagnostics.push(d);
                    return None;
                };
                let identity = format!("std.{name}");
                if let Some(id) = self.by_identity.get(&identity) {
                    return Some(*id);
                }
                let file = self
                    .sources
                    .add(format!("stdlib/std/{name}.exp"), text.to_owned());
                let parsed = expc_syntax::parse(file, text);
                self.diagnostics.extend(parsed.diagnostics);
                Some(self.add(identity.clone(), identity, None, file, parsed.file))
            }
            ImportSource::File(lit) => {
                let importer = &self.modules[from.0 as usize];
                let Some(dir) = importer.dir.clone() else {
                    self.diagnostics.push(Diagnostic::error(
                        Code::UNRESOLVED_IMPORT,
                        "the standard library cannot import files",
                        lit.span,
                    ));
                    return None;
                };
                let path = loader::normalize(&dir.join(&lit.value));
                let identity = match self.loader.canonical(&path) {
                    Ok(p) => p.display().to_string(),
                    Err(e) => {
                        let message = if e.kind() == std::io::ErrorKind::NotFound {
                            "no such file".to_owned()
                        } else {
                            e.to_string()
                        };
                        self.diagnostics.push(
                            Diagnostic::error(
                                Code::UNRESOLVED_IMPORT,
                                format!("cannot import `{}`: {message}", path.display()),
                                lit.span,
                            )
                            .with_primary_message("imported here")
                            .with_help(format!(
                                "the path is relative to the folder of the importing file (`{}`)",
                                if dir.as_os_str().is_empty() {
                                    ".".to_owned()
                                } else {
                                    dir.display().to_string()
                                }
                            )),
                        );
                        return None;
                    }
                };
                if let Some(id) = self.by_identity.get(&identity) {
                    return Some(*id);
                }
                let bytes = match self.loader.read(&path) {
                    Ok(b) => b,
                    Err(e) => {
                        self.diagnostics.push(Diagnostic::error(
                            Code::UNRESOLVED_IMPORT,
                            format!("cannot read `{}`: {e}", path.display()),
                            lit.span,
                        ));
                        return None;
                    }
                };
                let file = FileId(self.sources.files().count() as u32);
                let (text, mut decode) = expc_syntax::decode(file, &bytes);
                self.diagnostics.append(&mut decode);
                let parsed = expc_syntax::parse(file, &text);
                let added = self.sources.add(path.display().to_string(), text);
                debug_assert_eq!(added, file);
                self.diagnostics.extend(parsed.diagnostics);
                let key = relative_key(&self.root_dir, &path);
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                Some(self.add(identity, key, Some(dir), file, parsed.file))
            }
        }
    }

    /// `target` is being loaded further up: the imports from it to here form a cycle.
    fn report_cycle(&mut self, target: ModuleId, span: Span) {
        let start = self
            .stack
            .iter()
            .position(|(id, _)| *id == target)
            .unwrap_or(0);
        let cycle = &self.stack[start..];
        let mut names: Vec<String> = cycle
            .iter()
            .map(|(id, _)| self.modules[id.0 as usize].key.clone())
            .collect();
        names.push(self.modules[target.0 as usize].key.clone());
        let mut d = Diagnostic::error(
            Code::IMPORT_CYCLE,
            format!("import cycle: {}", names.join(" → ")),
            span,
        )
        .with_primary_message(format!(
            "imports `{}`, which is already being imported",
            self.modules[target.0 as usize].key
        ));
        for (id, via) in cycle.iter().skip(1) {
            if let Some(via) = via {
                d = d.with_label(
                    *via,
                    format!("imports `{}`", self.modules[id.0 as usize].key),
                );
            }
        }
        d = d.with_help("move what both files need into a third file that both import");
        self.diagnostics.push(d);
    }
}

fn std_list() -> String {
    loader::STD_MODULES
        .iter()
        .map(|(n, _)| format!("`std.{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `path` relative to `root_dir` when it is inside it, else as it is.
fn relative_key(root_dir: &Path, path: &Path) -> String {
    let key = path.strip_prefix(root_dir).unwrap_or(path);
    key.to_string_lossy().replace('\\', "/")
}
