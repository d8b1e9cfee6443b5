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

    /// The entries of the folder at `path`, for expanding `glob(…)` patterns. A loader
    /// that cannot list folders says so with `ErrorKind::Unsupported`, and file sets are
    /// then left unexpanded.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let _ = path;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this loader lists no folders",
        ))
    }

    /// Whether `path` is a file (or a link to one).
    fn is_file(&self, path: &Path) -> bool {
        let _ = path;
        false
    }

    /// Every version the model registry holds, for `registry(…)` in a model declaration.
    /// A loader without a registry says so with `ErrorKind::Unsupported`, and such models
    /// are then left unresolved (an editor's buffer).
    fn registry(&self) -> io::Result<Vec<crate::registry::RegistryVersion>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this loader has no model registry",
        ))
    }
}

/// One entry of a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    /// A folder, or a link to one.
    pub is_dir: bool,
    /// A symbolic link (to a folder, when `is_dir`).
    pub is_link: bool,
}

/// The entries of a folder of the file system; names that are not UTF-8 are left out.
pub fn list_dir(path: &Path) -> io::Result<Vec<DirEntry>> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let ty = entry.file_type()?;
        let is_link = ty.is_symlink();
        let is_dir = if is_link {
            std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir())
        } else {
            ty.is_dir()
        };
        out.push(DirEntry {
            name,
            is_dir,
            is_link,
        });
    }
    Ok(out)
}

/// The largest source file expc reads: 256 MiB, some seventy times the largest spec of
/// the benchmarks (10,000 tasks, 3.8 MB). A larger one is refused, not read, so that an
/// `import` of a runaway file cannot take the machine's memory.
pub const MAX_SOURCE_BYTES: u64 = 256 << 20;

/// Reads a source file from the file system: only a regular file (or a link to one) of at
/// most [`MAX_SOURCE_BYTES`]. A FIFO, a socket or a device (`/dev/zero`, `/dev/urandom`)
/// is refused before it is opened, since reading it could block forever or never end.
pub fn read_source(path: &Path) -> io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a directory",
        ));
    }
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file (a FIFO, socket or device), which expc does not read as a source",
        ));
    }
    let file = std::fs::File::open(path)?;
    read_capped(file)
}

/// Reads at most [`MAX_SOURCE_BYTES`] from `from` (a file, standard input), refusing more.
pub fn read_capped(from: impl io::Read) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    from.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is larger than {} MiB, more than any specification needs",
                MAX_SOURCE_BYTES >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// Reads from the file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        read_source(path)
    }

    fn canonical(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        list_dir(path)
    }

    fn is_file(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.is_file())
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

    /// The files held under `path` and the folders their paths pass through.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let dir = normalize(path);
        let mut out: BTreeMap<String, bool> = BTreeMap::new();
        for file in self.files.keys() {
            let Ok(rest) = file.strip_prefix(&dir) else {
                continue;
            };
            let mut parts = rest.components();
            let Some(first) = parts.next() else {
                continue;
            };
            let name = first.as_os_str().to_string_lossy().into_owned();
            let is_dir = parts.next().is_some();
            *out.entry(name).or_default() |= is_dir;
        }
        if out.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such folder"));
        }
        Ok(out
            .into_iter()
            .map(|(name, is_dir)| DirEntry {
                name,
                is_dir,
                is_link: false,
            })
            .collect())
    }

    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(&normalize(path))
    }
}

/// Removes `.` and resolves `..` lexically.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            // `..` after nothing or after `..` stays: `../../a` is not `a`.
            Component::ParentDir => {
                if matches!(
                    out.components().next_back(),
                    None | Some(Component::ParentDir)
                ) || !out.pop()
                {
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

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::Path;

    #[test]
    fn normalize_keeps_leading_parents() {
        let n = |p: &str| normalize(Path::new(p)).to_string_lossy().into_owned();
        assert_eq!(n("a/./b/../c"), "a/c");
        assert_eq!(n("../x"), "../x");
        assert_eq!(
            n("../../examples/s/reads/a.fq"),
            "../../examples/s/reads/a.fq"
        );
        assert_eq!(n("a/../../b"), "../b");
        assert_eq!(n("sheets/../ok/reads/a.fq"), "ok/reads/a.fq");
    }
}
