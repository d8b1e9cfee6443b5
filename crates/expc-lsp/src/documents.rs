//! The documents the editor has open, served to the checker through its `Loader` so that
//! unsaved text is what gets checked, and files on disk for everything else.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use expc_check::Loader;
use expc_check::loader::normalize;
use expc_diagnostics::{FileId, SourceFile};

/// An open document: its text and the version the editor gave it.
#[derive(Debug, Clone)]
pub struct Document {
    pub text: String,
    pub version: i32,
}

/// Open documents by (normalised, absolute) path.
#[derive(Debug, Default)]
pub struct Documents {
    open: HashMap<PathBuf, Document>,
}

impl Documents {
    pub fn open(&mut self, path: &Path, text: String, version: i32) {
        self.open
            .insert(normalize(path), Document { text, version });
    }

    /// Applies one edit of an open document: the text between two protocol positions
    /// (UTF-16 columns) replaced, or the whole text when `range` is `None`. `false` when
    /// the document is not open.
    pub fn edit(
        &mut self,
        path: &Path,
        range: Option<lsp_types::Range>,
        text: String,
        version: i32,
    ) -> bool {
        let Some(document) = self.open.get_mut(&normalize(path)) else {
            return false;
        };
        document.version = version;
        let Some(range) = range else {
            document.text = text;
            return true;
        };
        let file = SourceFile::new(FileId(0), "", document.text.as_str());
        let start = crate::position::offset(&file, range.start) as usize;
        let end = (crate::position::offset(&file, range.end) as usize).max(start);
        document.text.replace_range(start..end, &text);
        true
    }

    pub fn close(&mut self, path: &Path) {
        self.open.remove(&normalize(path));
    }

    pub fn get(&self, path: &Path) -> Option<&Document> {
        self.open.get(&normalize(path))
    }

    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.open.keys()
    }

    /// The text of a file: the open document's, else the file on disk.
    pub fn text(&self, path: &Path) -> io::Result<String> {
        match self.get(path) {
            Some(d) => Ok(d.text.clone()),
            None => {
                let bytes = std::fs::read(path)?;
                Ok(expc_diagnostics::decode_lossless(&bytes).0)
            }
        }
    }
}

impl Loader for Documents {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.get(path) {
            Some(d) => Ok(d.text.clone().into_bytes()),
            None => std::fs::read(path),
        }
    }

    fn canonical(&self, path: &Path) -> io::Result<PathBuf> {
        match std::fs::canonicalize(path) {
            Ok(p) => Ok(p),
            // An open document that is not saved yet.
            Err(_) if self.get(path).is_some() => Ok(normalize(path)),
            Err(e) => Err(e),
        }
    }

    /// Folders as on disk, so that hover shows what a `glob(…)` matches.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<expc_check::loader::DirEntry>> {
        expc_check::loader::list_dir(path)
    }

    fn is_file(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.is_file())
    }
}
