//! The file system, and the model registry of the provenance store beside the spec: the
//! loader the CLI checks specs through, so that `registry.best(…)` in a model
//! declaration is resolved when the experiment is planned.

use std::io;
use std::path::{Path, PathBuf};

use expc_check::loader::{DirEntry, FsLoader, Loader};
use expc_check::registry::RegistryVersion;

/// [`FsLoader`], with the registry of the `.expc` store beside the spec.
pub struct RegistryLoader {
    state_dir: PathBuf,
}

impl RegistryLoader {
    /// The loader for the spec at `spec`: its store is `.expc` in the spec's folder.
    pub fn beside(spec: &Path) -> RegistryLoader {
        let dir = match spec.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        RegistryLoader {
            state_dir: dir.join(".expc"),
        }
    }
}

impl Loader for RegistryLoader {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        FsLoader.read(path)
    }

    fn canonical(&self, path: &Path) -> io::Result<PathBuf> {
        FsLoader.canonical(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        FsLoader.list_dir(path)
    }

    fn is_file(&self, path: &Path) -> bool {
        FsLoader.is_file(path)
    }

    /// The registry of the store beside the spec; none registered when there is no store.
    fn registry(&self) -> io::Result<Vec<RegistryVersion>> {
        if !self.state_dir.join(expc_prov::store::FILE).is_file() {
            return Ok(Vec::new());
        }
        let store = expc_prov::Store::open_read_only(&self.state_dir).map_err(io::Error::other)?;
        let objects = std::fs::canonicalize(&self.state_dir)
            .unwrap_or_else(|_| self.state_dir.clone())
            .join("objects");
        expc_prov::registry::held(&store, &objects).map_err(io::Error::other)
    }
}
