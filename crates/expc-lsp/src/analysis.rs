//! One document checked as the root of a program: its diagnostics, the syntax trees of
//! everything it imports and the symbol index over them.

use std::path::{Path, PathBuf};

use expc_check::index::{SymbolId, SymbolIndex};
use expc_check::modules::Module;
use expc_check::{Loader, Overrides};
use expc_diagnostics::{Diagnostic, FileId, SourceFile, SourceMap, Span};
use lsp_types::Location;

use crate::position;

#[derive(Debug)]
pub struct Analysis {
    /// The root document's path.
    pub path: PathBuf,
    pub sources: SourceMap,
    pub root: FileId,
    /// Every diagnostic of the program, as `expc check` gives them.
    pub diagnostics: Vec<Diagnostic>,
    pub modules: Vec<Module>,
    pub index: SymbolIndex,
    /// The file sets and the files their patterns matched.
    pub file_sets: Vec<expc_check::FileSetSummary>,
}

/// Identifies a declaration across analyses rooted at different files: the file it is in
/// and where its name starts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SymbolKey {
    pub file: String,
    pub start: u32,
}

impl Analysis {
    /// Checks `text` as the file at `path`, reading its imports through `loader`: the same
    /// checker, with the same inputs, as `expc check`.
    pub fn new(path: &Path, text: String, loader: &dyn Loader) -> Analysis {
        let mut sources = SourceMap::new();
        let root = sources.add(path.display().to_string(), text);
        let checked = expc_check::check(path, root, &mut sources, loader, &Overrides::new());
        let index = SymbolIndex::build(&checked.modules, &sources);
        let mut diagnostics = checked.diagnostics;
        if let Some(program) = &checked.program {
            // What `expc check` adds to the checker's: calls that read each other's outputs.
            diagnostics.extend(expc_plan::cycles(program));
        }
        Analysis {
            path: path.to_path_buf(),
            sources,
            root,
            diagnostics,
            modules: checked.modules,
            index,
            file_sets: checked.file_sets,
        }
    }

    pub fn file(&self, id: FileId) -> Option<&SourceFile> {
        self.sources.get(id)
    }

    pub fn root_file(&self) -> Option<&SourceFile> {
        self.sources.get(self.root)
    }

    /// The path of a file of the program; `None` for the standard library, which is
    /// compiled into the binary.
    pub fn path_of(&self, id: FileId) -> Option<PathBuf> {
        let name = &self.sources.get(id)?.name;
        let path = Path::new(name);
        path.is_absolute().then(|| path.to_path_buf())
    }

    /// The file of the program at `path`.
    pub fn file_at(&self, path: &Path) -> Option<FileId> {
        let path = expc_check::loader::normalize(path);
        self.sources
            .files()
            .find(|f| Path::new(&f.name) == path)
            .map(|f| f.id)
    }

    pub fn location(&self, span: Span) -> Option<Location> {
        let file = self.file(span.file)?;
        let path = match self.path_of(span.file) {
            Some(path) => path,
            None => std_copy(file)?,
        };
        let uri = position::path_to_uri(&path)?;
        Some(Location {
            uri,
            range: position::range(file, span.start, span.end),
        })
    }

    pub fn key(&self, symbol: SymbolId) -> Option<SymbolKey> {
        let s = self.index.get(symbol);
        Some(SymbolKey {
            file: self.file(s.span.file)?.name.clone(),
            start: s.span.start,
        })
    }

    /// The symbol with this key in this analysis.
    pub fn find(&self, key: &SymbolKey) -> Option<SymbolId> {
        let file = self.sources.files().find(|f| f.name == key.file)?.id;
        self.index
            .symbols
            .iter()
            .position(|s| s.span.file == file && s.span.start == key.start)
            .map(|i| SymbolId(i as u32))
    }

    /// The symbol at a byte offset of a file, with the span of the name there.
    pub fn symbol_at(&self, file: FileId, offset: u32) -> Option<(SymbolId, Span)> {
        self.index.at(file, offset)
    }
}

/// A file holding a standard module's source, so that an editor can open what a
/// definition in the standard library points to: written once per version under the
/// temporary directory.
fn std_copy(file: &SourceFile) -> Option<PathBuf> {
    let relative = file.name.strip_prefix("stdlib/std/")?;
    let path = std::env::temp_dir()
        .join(format!("expc-{}-stdlib", env!("CARGO_PKG_VERSION")))
        .join("std")
        .join(relative);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(file.text.as_str()) {
        std::fs::create_dir_all(path.parent()?).ok()?;
        std::fs::write(&path, &file.text).ok()?;
    }
    Some(path)
}
