//! Where sources come from: the checker does no IO of its own.
//!
//! Files are read through a [`Loader`], so that the same checker serves the command line
//! (the file system), the language server (open editor buffers) and tests (strings in
//! memory). The standard library is compiled into the binary.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// Reads source files for the checker.
pub trait Loader {
    /// The contents of the file at `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// The identity of the file at `path`, so that two spellings of one file are loaded
    /// once (`lib/../lib/a.exp` and `lib/a.exp`).
    fn canonical(&self, path: &Path) -> io::Result<PathBuf>;
}

/// Reads from the file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn canonical(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
}

/// Files held in memory, for tests and editors.
#[derive(Debug, Default, Clone)]
pub struct MemoryLoader {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemoryLoader {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<Vec<u8>>) -> Self {
        self.insert(path, text);
        self
    }

    pub fn insert(&mut self, path: impl Into<PathBuf>, text: impl Into<Vec<u8>>) {
        self.files.insert(normalize(&path.into()), text.into());
    }
}

impl Loader for MemoryLoader {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn canonical(&self, path: &Path) -> io::Result<PathBuf> {
        let path = normalize(path);
        if self.files.contains_key(&path) {
            Ok(path)
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
        }
    }
}

/// Removes `.` and resolves `..` lexically.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The modules of the standard library: `std.NAME` and their sources.
pub const STD_MODULES: &[(&str, &str)] = &[
    ("formats", include_str!("../../../stdlib/std/formats.exp")),
    ("metrics", include_str!("../../../stdlib/std/metrics.exp")),
    (
        "resources",
        include_str!("../../../stdlib/std/resources.exp"),
    ),
    ("sites", include_str!("../../../stdlib/std/sites.exp")),
];

/// The source of `std.NAME`.
pub fn std_module(name: &str) -> Option<&'static str> {
    STD_MODULES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, src)| *src)
}
