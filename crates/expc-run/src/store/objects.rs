//! The store's objects: how a task's output becomes one, how an output is linked from one
//! into `out/`, and how an object is trusted — by its stamp while the stamp is the one its
//! content was last known good with, else by hashing it again, and evicted when its bytes
//! are not the stored ones.
//!
//! Nothing here changes a file outside `.expc/`: an output that is a hard link to a file
//! elsewhere is copied into the store (the other file keeps its mode), a symbolic link in
//! a directory output is stored as the link and never followed (for hashing or `chmod`).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Store, StoredOutput};
use crate::stamp::{FileStamp, Stamp};

/// An output linked into `out/`: where, and its object's stamp now when it is not the one
/// its cache entry notes (the entry is then noted again with it).
#[derive(Debug)]
pub struct Linked {
    pub path: PathBuf,
    pub stamp: Option<Stamp>,
}

/// Why a stored output cannot be used.
#[derive(Debug)]
pub enum Unusable {
    /// Its object is gone from the store, and no link to it is in place.
    Missing,
    /// Its object's bytes are not the ones stored (said how): it was evicted.
    Damaged(String),
    Io(io::Error),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Missing => f.write_str("its object is not in the store"),
            Unusable::Damaged(why) => f.write_str(why),
            Unusable::Io(e) => write!(f, "{e}"),
        }
    }
}

impl Store {
    /// Moves a task's finished output into the object store. An object already there with
    /// this digest is kept when it is known good (its stamp is one this run or the stamps
    /// log vouches for), else replaced by these fresh bytes — a damaged object heals, and
    /// nothing is hashed again.
    pub fn store(&self, from: &Path, digest: &str, dir: bool) -> io::Result<()> {
        let to = self.object(digest, dir);
        let name = object_name(digest, dir);
        if let Ok(existing) = Stamp::of_path(&to, false) {
            if self.known_stamp(&name) == Some(existing) {
                remove_any(from)?;
                return Ok(());
            }
        }
        fs::create_dir_all(to.parent().unwrap_or(&self.root))?;
        if dir {
            // The whole tree renamed into place: no reader ever sees half of it.
            let staging = self.root.join("tmp").join(format!("{digest}.staging"));
            remove_any(&staging)?;
            fs::rename(from, &staging)?;
            own_files(&staging)?;
            read_only(&staging)?;
            if fs::rename(&staging, &to).is_err() {
                // A directory is not replaced by a rename: the old one goes aside first.
                let aside = self.root.join("tmp").join(format!("{digest}.replaced"));
                remove_any(&aside)?;
                fs::rename(&to, &aside)?;
                fs::rename(&staging, &to)?;
                remove_any(&aside)?;
            }
        } else {
            let file = if fs::symlink_metadata(from)?.nlink() > 1 {
                // Another name of this file is someone else's: the store gets a copy, and
                // the other name keeps its bytes and its mode.
                let copy = beside(&to, "copy");
                fs::copy(from, &copy)?;
                copy
            } else {
                from.to_path_buf()
            };
            read_only(&file)?;
            if fs::rename(&file, &to).is_err() {
                // What is in the way is not a file (a damaged object): it goes first.
                remove_any(&to)?;
                fs::rename(&file, &to)?;
            }
        }
        self.note_stamp(&name, Stamp::of_path(&to, false)?);
        Ok(())
    }

    /// Makes `name` in an instance's output directory the stored object of `output`:
    /// with one `fstatat` (a directory's: one walk) when it already is and its stamp is
    /// the one noted; else once the object is known good, hashing it again when its stamp
    /// moved (and evicting it, with the link to it, when its bytes changed).
    pub fn materialise(
        &self,
        out_dir: &Path,
        name: &str,
        output: &StoredOutput,
    ) -> Result<Linked, Unusable> {
        let target = out_dir.join(name);
        let in_place = self.out_stamp(&target, output.dir);
        if in_place.is_some() && in_place == output.stamp {
            return Ok(Linked {
                path: target,
                stamp: None,
            });
        }
        let object = self.object(&output.digest, output.dir);
        let good = match self.good_object(&object, output, true) {
            Ok(stamp) => stamp,
            Err((Unusable::Missing, _)) if in_place.is_some() => {
                // The object is gone (removing it moved the link's ctime), but the link in
                // place may still hold its bytes: then it goes back into the store.
                let stamp = self.restore(&target, &object, output)?;
                return Ok(Linked {
                    path: target,
                    stamp: Some(stamp),
                });
            }
            Err((Unusable::Damaged(why), damaged)) => {
                // The link in place is the damaged object: it goes too.
                if in_place.is_some() && in_place == damaged {
                    let _ = remove_any(&target);
                }
                return Err(Unusable::Damaged(why));
            }
            Err((e, _)) => return Err(e),
        };
        if in_place == Some(good) {
            return Ok(Linked {
                path: target,
                stamp: (output.stamp != Some(good)).then_some(good),
            });
        }
        link(&object, &target, output.dir).map_err(Unusable::Io)?;
        // The link moved the object's ctime: its stamp now is the one to note.
        let linked = Stamp::of_path(&object, false).map_err(Unusable::Io)?;
        self.note_stamp(&object_name(&output.digest, output.dir), linked);
        Ok(Linked {
            path: target,
            stamp: (output.stamp != Some(linked)).then_some(linked),
        })
    }

    /// Whether `output` could be used as [`Store::materialise`] would use it, changing
    /// nothing (for `expc why`).
    pub fn check(&self, out_dir: &Path, name: &str, output: &StoredOutput) -> Result<(), Unusable> {
        let target = out_dir.join(name);
        let in_place = self.out_stamp(&target, output.dir);
        if in_place.is_some() && in_place == output.stamp {
            return Ok(());
        }
        let object = self.object(&output.digest, output.dir);
        match self.good_object(&object, output, false) {
            Ok(_) => Ok(()),
            Err((Unusable::Missing, _)) if in_place.is_some() => {
                match crate::hash::output_digest(&target) {
                    Ok((d, _, _)) if d == output.digest => Ok(()),
                    _ => Err(Unusable::Missing),
                }
            }
            Err((e, _)) => Err(e),
        }
    }

    /// Puts back into the store the object of `output` from `target`, its link under
    /// `out/`, when that still holds its bytes; the object's stamp then.
    fn restore(
        &self,
        target: &Path,
        object: &Path,
        output: &StoredOutput,
    ) -> Result<Stamp, Unusable> {
        match crate::hash::output_digest(target) {
            Ok((d, _, _)) if d == output.digest => {}
            _ => return Err(Unusable::Missing),
        }
        link(target, object, output.dir).map_err(Unusable::Io)?;
        let stamp = Stamp::of_path(object, false).map_err(Unusable::Io)?;
        self.note_stamp(&object_name(&output.digest, output.dir), stamp);
        Ok(stamp)
    }

    /// The stamp of `object` now, once it is known to hold `output`'s bytes: its stamp is
    /// the one the entry noted or one known good, or else its content is hashed again.
    /// With `repair`, a stamp found good is noted, and a damaged object evicted. An
    /// error carries the damaged object's stamp.
    fn good_object(
        &self,
        object: &Path,
        output: &StoredOutput,
        repair: bool,
    ) -> Result<Stamp, (Unusable, Option<Stamp>)> {
        let Ok(now) = Stamp::of_path(object, false) else {
            return Err((Unusable::Missing, None));
        };
        let name = object_name(&output.digest, output.dir);
        if output.stamp == Some(now) || self.known_stamp(&name) == Some(now) {
            return Ok(now);
        }
        let damage = match (now, output.dir) {
            (Stamp::File(f), false) if f.size != output.size => Some(format!(
                "`{}` has {} bytes, not {}",
                self.shown(object),
                f.size,
                output.size
            )),
            (Stamp::File(_), true) | (Stamp::Tree { .. }, false) => Some(format!(
                "`{}` is no longer a {}",
                self.shown(object),
                if output.dir { "directory" } else { "file" }
            )),
            _ => match crate::hash::output_digest(object) {
                Ok((digest, _, _)) if digest == output.digest => None,
                Ok((digest, _, _)) => Some(format!(
                    "`{}` holds other bytes{}: its digest is {}…, not {}…",
                    self.shown(object),
                    if output.dir { "" } else { ", of the same size" },
                    &digest[..12.min(digest.len())],
                    &output.digest[..12.min(output.digest.len())]
                )),
                Err(e) => return Err((Unusable::Io(e), None)),
            },
        };
        match damage {
            None => {
                if repair {
                    self.note_stamp(&name, now);
                }
                Ok(now)
            }
            Some(why) => {
                if repair {
                    let _ = self.evict(object);
                }
                Err((Unusable::Damaged(why), Some(now)))
            }
        }
    }

    /// Removes a damaged object from the store: the entries naming it are no longer hits,
    /// so what made it runs again.
    pub(super) fn evict(&self, object: &Path) -> io::Result<()> {
        remove_any(object)
    }

    /// Evicts the object of this digest when its bytes are not the ones stored (a task
    /// wrote to it through a link); whether it did.
    pub fn evict_if_damaged(&self, digest: &str, dir: bool) -> bool {
        let object = self.object(digest, dir);
        match crate::hash::output_digest(&object) {
            Ok((d, _, _)) if d != digest => self.evict(&object).is_ok(),
            _ => false,
        }
    }

    /// Notes the stamp of the object linked at `path` (an output under `out/`) after a
    /// link the run made to it elsewhere (an engine's hand-over), which moved its ctime.
    pub fn restamp(&self, path: &Path, digest: &str) {
        let dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        let object = self.object(digest, dir);
        if let Ok(stamp) = Stamp::of_path(&object, false) {
            self.note_stamp(&object_name(digest, dir), stamp);
        }
    }

    /// The stamp of what is at `target`, under `out/`: a file's with one `fstatat` relative
    /// to `out/` (three path components walked, not the whole path), a directory's tree.
    fn out_stamp(&self, target: &Path, dir: bool) -> Option<Stamp> {
        use nix::fcntl::AtFlags;
        use nix::sys::stat::{SFlag, fstatat};
        use std::os::unix::ffi::OsStrExt;
        if dir {
            let meta = fs::symlink_metadata(target).ok()?;
            return meta.is_dir().then(|| crate::stamp::tree(target).ok())?;
        }
        let out = self.out_fd.as_ref()?;
        // The part after `out/`, by bytes: `Path::strip_prefix` would parse components.
        let rel = target
            .as_os_str()
            .as_encoded_bytes()
            .strip_prefix(self.out_root.as_os_str().as_encoded_bytes())
            .and_then(|r| r.strip_prefix(b"/"))?;
        let st = fstatat(
            out,
            std::ffi::OsStr::from_bytes(rel),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok()?;
        (SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG)
            .then(|| Stamp::File(FileStamp::of_stat(&st)))
    }

    /// A path of the store as messages show it: from `.expc/` on.
    pub(super) fn shown(&self, path: &Path) -> String {
        let base = self.root.file_name().map(PathBuf::from).unwrap_or_default();
        match path.strip_prefix(&self.root) {
            Ok(rel) => base.join(rel).display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }
}

/// An object's file name: its digest, with `.d` for a directory.
pub fn object_name(digest: &str, dir: bool) -> String {
    if dir {
        format!("{digest}.d")
    } else {
        digest.to_owned()
    }
}

/// `target` linked to `object` (a tree of hard links for a directory), replacing what was
/// there at once.
fn link(object: &Path, target: &Path, dir: bool) -> io::Result<()> {
    let existing = fs::symlink_metadata(target).ok();
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    // Nothing there yet: one link is already atomic.
    if !dir && existing.is_none() && fs::hard_link(object, target).is_ok() {
        return Ok(());
    }
    let tmp = beside(target, &format!("tmp-{}", std::process::id()));
    remove_any(&tmp)?;
    if dir {
        // A link fails when the object is gone, so there is no half-made tree to remove.
        fs::symlink_metadata(object)?;
        link_tree(object, &tmp)?;
    } else if fs::hard_link(object, &tmp).is_err() {
        fs::copy(object, &tmp)?;
    }
    remove_any(target)?;
    fs::rename(&tmp, target)
}

/// `.NAME.WHAT` beside `path`: a temporary name in its folder.
fn beside(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{what}"))
}

pub(super) fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            make_writable(p);
            fs::remove_dir_all(p)
        }
        Ok(_) => fs::remove_file(p),
        Err(_) => Ok(()),
    }
}

/// Makes every file of a tree (not a symbolic link, which is never followed) read-only.
/// Its files are the store's own: [`own_files`] copied those that had other names.
fn read_only(p: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(p)?;
    if meta.is_dir() {
        for e in fs::read_dir(p)?.flatten() {
            read_only(&e.path())?;
        }
        Ok(())
    } else if meta.file_type().is_symlink() {
        Ok(())
    } else {
        let mode = meta.permissions().mode() & !0o222;
        fs::set_permissions(p, fs::Permissions::from_mode(mode))
    }
}

/// Replaces each file of a tree that has another name (a hard link to a file elsewhere,
/// which the task made instead of writing the file) by a copy of its own, so that making
/// the tree read-only changes nothing outside it.
fn own_files(dir: &Path) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let path = e?.path();
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            own_files(&path)?;
        } else if meta.is_file() && meta.nlink() > 1 {
            let copy = beside(&path, "copy");
            fs::copy(&path, &copy)?;
            fs::rename(&copy, &path)?;
        }
    }
    Ok(())
}

pub(super) fn make_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = fs::symlink_metadata(p) {
        if m.is_dir() {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o755));
            if let Ok(entries) = fs::read_dir(p) {
                for e in entries.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}

/// A copy of a directory tree whose files are hard links (copies across devices); a
/// symbolic link is linked, or made again, as the link it is.
fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)?.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let kind = e.file_type()?;
        if kind.is_dir() {
            link_tree(&src, &dst)?;
        } else if fs::hard_link(&src, &dst).is_err() {
            if kind.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
            } else {
                fs::copy(&src, &dst)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{outputs, store_with_object};
    use super::*;

    /// An object damaged in place — truncated, bytes changed with its size and mtime kept,
    /// appended to — is found when its link's stamp moved, evicted with the link, and
    /// reported as damaged; `check` finds it without evicting.
    #[test]
    fn damaged_objects_are_found_by_their_stamp_and_evicted() {
        for (case, damage) in [
            ("truncated", b"" as &[u8]),
            ("flipped", b"xbc"),
            ("appended", b"abcd"),
        ] {
            let w = store_with_object(&format!("damage-{case}"));
            let out = &w.outputs["out"];
            let out_dir = w.store.out_dir("t", 0, false);
            let linked = w.store.materialise(&out_dir, "x.txt", out).unwrap();
            let mut noted = out.clone();
            noted.stamp = linked.stamp.or(out.stamp);
            // Fast path: nothing moved.
            assert!(
                w.store
                    .materialise(&out_dir, "x.txt", &noted)
                    .unwrap()
                    .stamp
                    .is_none()
            );
            let mtime = fs::metadata(&linked.path).unwrap().modified().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&linked.path, fs::Permissions::from_mode(0o644)).unwrap();
                let f = fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&linked.path);
                let f = f.unwrap();
                use std::io::Write;
                (&f).write_all(damage).unwrap();
                f.set_times(fs::FileTimes::new().set_modified(mtime))
                    .unwrap();
            }
            // A store opened anew knows no stamp of this run's.
            let reopened = Store::open(&w.dir).unwrap();
            match reopened.check(&out_dir, "x.txt", &noted) {
                Err(Unusable::Damaged(why)) => assert!(why.contains("objects/"), "{why}"),
                other => panic!("{case}: expected damage, got {other:?}"),
            }
            assert!(reopened.object(&w.digest, false).exists(), "check evicted");
            match reopened.materialise(&out_dir, "x.txt", &noted) {
                Err(Unusable::Damaged(_)) => {}
                other => panic!("{case}: expected damage, got {other:?}"),
            }
            assert!(
                !reopened.object(&w.digest, false).exists(),
                "{case}: not evicted"
            );
            assert!(!linked.path.exists(), "{case}: the damaged link is left");
            assert!(matches!(
                reopened.materialise(&out_dir, "x.txt", &noted),
                Err(Unusable::Missing)
            ));
            let _ = fs::remove_dir_all(&w.dir);
        }
    }

    /// An object whose stamp moved but whose bytes are the same (another link made to it,
    /// a `chmod`) is hashed once, found good, and its new stamp returned to be noted.
    #[test]
    fn an_object_whose_stamp_moved_with_the_same_bytes_is_stamped_again() {
        let w = store_with_object("restamp");
        let out = &w.outputs["out"];
        let out_dir = w.store.out_dir("t", 0, false);
        let first = w.store.materialise(&out_dir, "x.txt", out).unwrap();
        let mut noted = out.clone();
        noted.stamp = first.stamp.or(out.stamp);
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::hard_link(&first.path, w.dir.join("another-name")).unwrap();
        let reopened = Store::open(&w.dir).unwrap();
        let again = reopened.materialise(&out_dir, "x.txt", &noted).unwrap();
        let moved = again.stamp.expect("a new stamp to note");
        assert_ne!(Some(moved), noted.stamp);
        noted.stamp = Some(moved);
        let third = Store::open(&w.dir).unwrap();
        assert!(
            third
                .materialise(&out_dir, "x.txt", &noted)
                .unwrap()
                .stamp
                .is_none()
        );
        let _ = fs::remove_dir_all(&w.dir);
    }

    /// A hard-linked output is copied into the store, its other name left writable and
    /// whole; a directory's symbolic link is stored as the link, its target untouched.
    #[test]
    fn storing_changes_nothing_outside_the_store() {
        use std::os::unix::fs::PermissionsExt;
        let w = store_with_object("outside");
        let shared = w.dir.join("shared");
        fs::create_dir_all(&shared).unwrap();
        fs::write(shared.join("data.csv"), "1,2\n").unwrap();
        fs::set_permissions(shared.join("data.csv"), fs::Permissions::from_mode(0o664)).unwrap();
        let work = w.dir.join("work");
        fs::create_dir_all(work.join("env")).unwrap();
        fs::hard_link(shared.join("data.csv"), work.join("out.csv")).unwrap();
        fs::hard_link(shared.join("data.csv"), work.join("env/data.csv")).unwrap();
        std::os::unix::fs::symlink(&shared, work.join("env/linked")).unwrap();
        let (file_digest, _, _) = crate::hash::output_digest(&work.join("out.csv")).unwrap();
        w.store
            .store(&work.join("out.csv"), &file_digest, false)
            .unwrap();
        let (tree_digest, _, _) = crate::hash::output_digest(&work.join("env")).unwrap();
        w.store
            .store(&work.join("env"), &tree_digest, true)
            .unwrap();
        let meta = fs::metadata(shared.join("data.csv")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o664);
        assert_eq!(fs::read(shared.join("data.csv")).unwrap(), b"1,2\n");
        let object = w.store.object(&file_digest, false);
        assert_ne!(fs::metadata(&object).unwrap().ino(), meta.ino());
        let tree = w.store.object(&tree_digest, true);
        assert!(
            fs::symlink_metadata(tree.join("linked"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_ne!(
            fs::metadata(tree.join("data.csv")).unwrap().ino(),
            meta.ino()
        );
        // And the tree is linked into `out/` as it is, the link a link.
        let dir_output = StoredOutput {
            digest: tree_digest,
            dir: true,
            size: 0,
            stamp: None,
        };
        let out_dir = w.store.out_dir("v", 0, false);
        let linked = w.store.materialise(&out_dir, "env", &dir_output).unwrap();
        assert_eq!(fs::read_link(linked.path.join("linked")).unwrap(), shared);
        let _ = outputs;
        let _ = fs::remove_dir_all(&w.dir);
    }
}
