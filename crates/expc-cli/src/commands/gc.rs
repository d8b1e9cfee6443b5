//! `expc gc`: what no kept run needs, removed from a state folder — provenance runs past
//! the retention asked for, cache entries and objects only they used, cluster run folders
//! no journal can adopt from, the folders of background runs that are over and not kept,
//! leftover work areas.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use expc_prov::retention::{self, Retention};
use expc_run::lock::StateLock;
use expc_run::store::Store;
use miette::miette;

use super::verify::bytes;
use crate::cli::GcArgs;

pub fn run(args: GcArgs) -> miette::Result<ExitCode> {
    let state = super::state_folder(args.state_dir.as_deref(), args.file.as_deref());
    if !state.join("objects").is_dir() && !state.join(expc_prov::store::FILE).is_file() {
        return Err(miette!(
            help = "`expc run` makes it; pass the spec or `--state-dir` to collect another",
            "no state folder at `{}`",
            state.display()
        ));
    }
    // Removing writes the folder: not while a run uses it.
    let _lock = if args.dry_run {
        None
    } else {
        Some(StateLock::try_acquire(&state).map_err(|e| miette!("{e}"))?)
    };
    let retention = Retention {
        keep_last: args.keep_last,
        older_than_secs: args.older_than.map(|s| s.0.as_secs()),
    };
    let mut out = std::io::stdout().lock();

    // Provenance: which runs stay, and the cache keys they used.
    let has_prov = state.join(expc_prov::store::FILE).is_file();
    let mut prov = if !has_prov {
        None
    } else if args.dry_run {
        Some(expc_prov::store::Store::open_read_only(&state).map_err(|e| miette!("{e}"))?)
    } else {
        Some(expc_prov::store::Store::open(&state).map_err(|e| miette!("{e}"))?)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let split = match &prov {
        Some(p) => Some(retention::split(p, retention, now).map_err(|e| miette!("{e}"))?),
        None => None,
    };

    // The store: entries no kept run used, and objects no remaining entry names.
    if let (Some(p), Some(split)) = (&prov, &split) {
        let keys = retention::cache_keys(p, &split.keep).map_err(|e| miette!("{e}"))?;
        let store =
            Store::open(&state).map_err(|e| miette!("cannot use `{}`: {e}", state.display()))?;
        let c = store
            .collect(&keys, args.dry_run)
            .map_err(|e| miette!("cannot collect `{}`: {e}", state.display()))?;
        let _ = writeln!(
            out,
            "cache: {} entries kept, {} {}",
            c.entries_kept,
            c.entries_dropped,
            if args.dry_run { "to drop" } else { "dropped" }
        );
        let _ = writeln!(
            out,
            "objects: {} kept, {} {} ({})",
            c.objects_kept,
            c.objects_removed,
            if args.dry_run { "to remove" } else { "removed" },
            bytes(c.bytes)
        );
        if !args.dry_run {
            store.clean_tmp();
        }
    } else {
        let _ = writeln!(
            out,
            "cache: kept whole (no provenance store at `{}` says which runs used what)",
            state.join(expc_prov::store::FILE).display()
        );
    }

    // Cluster run folders that no journal entry still points into.
    let (folders, size) = stale_run_folders(&state);
    for f in &folders {
        if !args.dry_run {
            make_writable(f);
            std::fs::remove_dir_all(f)
                .map_err(|e| miette!("cannot remove `{}`: {e}", f.display()))?;
        }
    }
    let _ = writeln!(
        out,
        "run folders: {} {} ({})",
        folders.len(),
        if args.dry_run { "to remove" } else { "removed" },
        bytes(size)
    );

    // The folders of background runs that are over and whose run is not kept.
    if let Some(split) = &split {
        let gone: Vec<PathBuf> = super::detach::Head::all(&state)
            .into_iter()
            .filter(|h| h.exit_code().is_some() && !split.keep.contains(&h.id))
            .map(|h| h.dir)
            .collect();
        let size: u64 = gone.iter().map(|d| size_of(d, &mut HashSet::new())).sum();
        for d in gone.iter().filter(|_| !args.dry_run) {
            std::fs::remove_dir_all(d)
                .map_err(|e| miette!("cannot remove `{}`: {e}", d.display()))?;
        }
        let _ = writeln!(
            out,
            "background run folders: {} {} ({})",
            gone.len(),
            if args.dry_run { "to remove" } else { "removed" },
            bytes(size)
        );
    }

    // Provenance last: what was removed above was found through it.
    if let (Some(p), Some(split)) = (prov.as_mut(), &split) {
        let removed = if args.dry_run || split.remove.is_empty() {
            0
        } else {
            retention::remove(p, &split.remove).map_err(|e| miette!("{e}"))?
        };
        let _ = writeln!(
            out,
            "provenance: {} runs kept, {} {}",
            split.keep.len(),
            if args.dry_run {
                split.remove.len()
            } else {
                removed
            },
            if args.dry_run { "to remove" } else { "removed" }
        );
    }
    if args.dry_run {
        let _ = writeln!(out, "--dry-run: nothing was removed");
    }
    Ok(ExitCode::SUCCESS)
}

/// The `run-…` folders under `slurm/` and `k8s/` that no entry of their journal points
/// into, with their total size.
fn stale_run_folders(state: &Path) -> (Vec<PathBuf>, u64) {
    let mut stale = Vec::new();
    let mut size = 0;
    for engine in ["slurm", "k8s"] {
        let dir = state.join(engine);
        let journal = expc_run::engine::journal::Journal::at(&dir).read();
        let used: BTreeSet<String> = journal
            .entries
            .iter()
            .flat_map(|e| e.run_dir.components())
            .filter_map(|c| {
                let c = c.as_os_str().to_string_lossy();
                c.starts_with("run-").then(|| c.into_owned())
            })
            .collect();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .filter(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .is_some_and(|n| n.starts_with("run-") && !used.contains(&n))
            })
            .collect();
        found.sort();
        for f in &found {
            size += size_of(f, &mut HashSet::new());
        }
        stale.extend(found);
    }
    (stale, size)
}

fn size_of(path: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        return std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| size_of(&e.path(), seen))
            .sum();
    }
    // A hard link to a store object is counted once.
    if seen.insert((meta.dev(), meta.ino())) {
        meta.len()
    } else {
        0
    }
}

/// Read-only folders (an instance's outputs) are made writable so they can be removed.
fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.is_dir() {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
            for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
                make_writable(&e.path());
            }
        }
    }
}
