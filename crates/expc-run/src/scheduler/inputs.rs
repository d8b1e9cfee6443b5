//! A task must not change what it reads. Its inputs are the user's declared data and the
//! store's own objects, handed to it as hard links under `.expc/out/`, which their
//! read-only mode does not protect from a task running as root (in a container, say) or
//! from one that `chmod`s them first: a task appending to its input would rewrite another
//! task's cached output, trusted from then on.
//!
//! So the run watches them, with a stamp ([`Stamp`]) of each, taken before the instance
//! starts and again when it ends. Before it starts, each stamp must be one the file was
//! known good with (an upstream output's when it was linked, declared data's when it was
//! hashed), or the file is hashed to see that its content is still the one the instance's
//! key was made from; else the instance is not started. When it ends, a file whose stamp
//! moved — or whose stamp proves nothing, because it changed within [`RACY_NS`] of the
//! first look — is hashed again, and a changed digest fails the instance. That costs a
//! `stat` per input before and after (a walk for a directory), and a hash only when a
//! stamp moved or is racy: copying every input for every task (or a reflink, where the
//! file system has them) would cost more, to prevent what almost never happens.
//!
//! [`RACY_NS`]: crate::stamp::RACY_NS

use std::path::{Path, PathBuf};

use crate::events::Used;
use crate::resolve::Watch;
use crate::stamp::{Stamp, now_ns};
use crate::store::Store;

/// The files an instance reads, as they were when it started.
#[derive(Debug, Default)]
pub(super) struct InputWatch {
    files: Vec<Watched>,
}

#[derive(Debug)]
struct Watched {
    input: String,
    path: PathBuf,
    digest: String,
    data: bool,
    before: Stamp,
    /// Whether `before` was taken within the racy window of the file's last change.
    racy: bool,
}

/// An input an instance changed (or removed): it must not be trusted as a success, and a
/// store object among them is damaged.
#[derive(Debug)]
pub(super) struct Changed {
    pub message: String,
    /// The store object (digest, whether a directory) whose bytes it changed.
    pub object: Option<(String, bool)>,
}

impl InputWatch {
    /// The stamps of `used` before an instance starts, each checked against what it was
    /// known good with (`watch`, in the same order); why not to start it, when one of them
    /// no longer has the content the instance's key was made from.
    pub fn before(used: &[Used], watch: &[Watch], store: &Store) -> Result<InputWatch, String> {
        let now = now_ns();
        let mut verified: Vec<Stamp> = Vec::new();
        let mut files = Vec::with_capacity(used.len());
        for (u, w) in used.iter().zip(watch) {
            // A file that is not there fails the instance on its own.
            let Ok(stamp) = Stamp::of_path(&u.path, true) else {
                continue;
            };
            let dir = matches!(stamp, Stamp::Tree { .. });
            let good = w.known == Some(stamp)
                || (!w.data && store.fresh_stamp(&u.digest, dir) == Some(stamp))
                || verified.contains(&stamp);
            if !good {
                match digest(&u.path, w.data) {
                    Some(d) if d == u.digest => verified.push(stamp),
                    Some(_) => {
                        return Err(format!(
                            "its input `{}` at {} changed while the run went on (by another task, or from outside): it was not started. `expc run` again runs what made it again, or reads the data as it is now",
                            u.input,
                            u.path.display()
                        ));
                    }
                    None => continue,
                }
            }
            files.push(Watched {
                input: u.input.clone(),
                path: u.path.clone(),
                digest: u.digest.clone(),
                data: w.data,
                before: stamp,
                racy: stamp.is_racy(now),
            });
        }
        Ok(InputWatch { files })
    }

    /// After the instance ended: the first input it changed, if it changed one.
    pub fn after(&self) -> Option<Changed> {
        let mut verified: Vec<Stamp> = Vec::new();
        for w in &self.files {
            let now = Stamp::of_path(&w.path, true).ok();
            if now == Some(w.before) && !w.racy {
                continue;
            }
            if let Some(stamp) = now {
                if verified.contains(&stamp) {
                    continue;
                }
                if digest(&w.path, w.data).is_some_and(|d| d == w.digest) {
                    verified.push(stamp);
                    continue;
                }
            }
            let did = if now.is_some() { "changed" } else { "removed" };
            return Some(Changed {
                message: format!(
                    "{did} its input `{}` at {}, which it must only read",
                    w.input,
                    w.path.display()
                ),
                object: (!w.data)
                    .then(|| (w.digest.clone(), matches!(w.before, Stamp::Tree { .. }))),
            });
        }
        None
    }
}

/// The digest of an input as its key saw it: declared data's as the stat cache hashes
/// it, an upstream output's as the store does.
fn digest(path: &Path, data: bool) -> Option<String> {
    let digest = if data {
        crate::hash::StatCache::default().digest(path)
    } else {
        crate::hash::output_digest(path)
    };
    digest.ok().map(|(d, _, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn used(path: &Path, digest: &str) -> Used {
        Used {
            input: "src".into(),
            path: path.to_path_buf(),
            digest: digest.into(),
            program: false,
        }
    }

    /// An input left as it was passes; one appended to, or rewritten with its size and
    /// mtime kept, is found, even right after it was made (its stamp is racy then).
    #[test]
    fn a_changed_input_is_found_and_an_unchanged_one_passes() {
        let dir = std::env::temp_dir().join(format!("expc-inputs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir.join(".expc")).unwrap();
        let file = dir.join("data.csv");
        fs::write(&file, "a,b\n").unwrap();
        let digest = crate::hash::file_digest(&file).unwrap();
        let u = [used(&file, &digest)];
        let known = Stamp::of_path(&file, true).ok();
        let w = [Watch { data: true, known }];
        let watch = InputWatch::before(&u, &w, &store).unwrap();
        assert!(watch.after().is_none());
        // Same size, mtime put back, within the same moment.
        let mtime = fs::metadata(&file).unwrap().modified().unwrap();
        {
            use std::os::unix::fs::FileExt;
            let f = fs::OpenOptions::new().write(true).open(&file).unwrap();
            f.write_all_at(b"A", 0).unwrap();
            f.set_times(fs::FileTimes::new().set_modified(mtime))
                .unwrap();
        }
        let changed = watch.after().expect("the change is found");
        assert!(changed.message.starts_with("changed its input `src` at "));
        assert!(changed.object.is_none());
        // An instance about to start whose input no longer has its key's content is not
        // started.
        let refused = InputWatch::before(&u, &w, &store).unwrap_err();
        assert!(
            refused.contains("changed while the run went on"),
            "{refused}"
        );
        // A store object's change names the object.
        let u = [used(&file, &crate::hash::file_digest(&file).unwrap())];
        let w = [Watch {
            data: false,
            known: None,
        }];
        let watch = InputWatch::before(&u, &w, &store).unwrap();
        fs::write(&file, "a,b\nmore\n").unwrap();
        let changed = watch.after().unwrap();
        assert_eq!(changed.object.map(|o| o.1), Some(false));
        let _ = fs::remove_dir_all(&dir);
    }
}
