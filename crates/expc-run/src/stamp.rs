//! Stamps: what a file or a directory tree looked like — device, inode, size, and the
//! times of its last modification and of its last change — so that content known to be
//! good is not hashed again while its stamp stays the same.
//!
//! The change time (ctime) is what makes a stamp worth trusting: a program can set a
//! file's mtime back (`touch -d`, `rsync -t`, a restore) and keep its size and inode, but
//! every write, `chmod`, link and rename sets the ctime to the kernel's clock, which no
//! program can set. The converse is a cost, not a risk: `link()` and `rename()` move the
//! ctime of a file whose bytes did not change, so expc takes an object's stamp after the
//! links it makes itself ([`crate::store`]).
//!
//! A stamp proves nothing about a change made in the same tick of the file system's clock
//! as the stamp was taken: see [`RACY_NS`].

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// How close to the moment a stamp was taken a file's last change may be for the stamp to
/// prove nothing: 2 s. File times come from a clock that moves in ticks — a jiffy (1 to
/// 10 ms) on Linux's local file systems, a second on ext3 and HFS+, two seconds for FAT's
/// mtime, the server's clock on NFS — so a file written in the tick in which it was
/// stamped (or just after, by a writer whose clock lags) can keep the stamp it had, size
/// included when the write kept it. Git calls such a file "racily clean" and hashes it
/// again the next time; so does expc, taking the coarsest granularity in common use.
pub const RACY_NS: i64 = 2_000_000_000;

/// A regular file's (or a symbolic link's own) stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

/// A file's or a tree's stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stamp {
    File(FileStamp),
    /// A directory tree: a hash of every entry's relative name and kind, and of every
    /// file's and link's stamp (symbolic links not followed), with the newest change time
    /// among them.
    Tree {
        hash: u128,
        newest_ns: i64,
    },
}

impl FileStamp {
    pub fn of(meta: &fs::Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }

    /// From `stat(2)`'s answer, as `fstatat` gives it.
    pub fn of_stat(st: &nix::sys::stat::FileStat) -> FileStamp {
        FileStamp {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec,
            ctime_ns: st.st_ctime * 1_000_000_000 + st.st_ctime_nsec,
        }
    }

    /// Whether it is the same file (device and inode) as `other`, whatever else changed.
    pub fn same_file(&self, other: &FileStamp) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }

    /// The later of its modification and change times.
    pub fn newest_ns(&self) -> i64 {
        self.mtime_ns.max(self.ctime_ns)
    }
}

impl Stamp {
    /// The stamp of what is at `path`: a directory's tree (its entries not followed), else
    /// the file's; with `follow`, a symbolic link at `path` itself is followed (declared
    /// data may be one).
    pub fn of_path(path: &Path, follow: bool) -> io::Result<Stamp> {
        let meta = if follow {
            fs::metadata(path)?
        } else {
            fs::symlink_metadata(path)?
        };
        if meta.is_dir() {
            tree(path)
        } else {
            Ok(Stamp::File(FileStamp::of(&meta)))
        }
    }

    /// Whether what it stamps changed less than [`RACY_NS`] before `taken_ns`, the time
    /// the stamp (or the digest it vouches for) was taken: then it proves nothing.
    pub fn is_racy(&self, taken_ns: i64) -> bool {
        let newest = match self {
            Stamp::File(f) => f.newest_ns(),
            Stamp::Tree { newest_ns, .. } => *newest_ns,
        };
        taken_ns.saturating_sub(newest) < RACY_NS
    }

    /// `0:DEV:INO:MTIME:CTIME` for a file (its size is written beside it), `1:HASH:NEWEST`
    /// for a tree: the kind field of the store's index lines.
    pub fn kind_field(&self) -> String {
        match self {
            Stamp::File(f) => format!("0:{}:{}:{}:{}", f.dev, f.ino, f.mtime_ns, f.ctime_ns),
            Stamp::Tree { hash, newest_ns } => format!("1:{hash:032x}:{newest_ns}"),
        }
    }

    /// A kind field read back: whether it is a directory, and its stamp when it has one
    /// (`0` and `1` have none; `0:DEV:INO:MTIME`, written before ctimes were, has none
    /// either). `None` when it is not a kind field.
    pub fn parse_kind(field: &str, size: u64) -> Option<(bool, Option<Stamp>)> {
        match field {
            "0" => return Some((false, None)),
            "1" => return Some((true, None)),
            _ => {}
        }
        let (kind, rest) = field.split_once(':')?;
        let parts: Vec<&str> = rest.split(':').collect();
        match (kind, parts.as_slice()) {
            ("0", [_, _, _]) => Some((false, None)),
            ("0", [dev, ino, mtime, ctime]) => Some((
                false,
                Some(Stamp::File(FileStamp {
                    dev: dev.parse().ok()?,
                    ino: ino.parse().ok()?,
                    size,
                    mtime_ns: mtime.parse().ok()?,
                    ctime_ns: ctime.parse().ok()?,
                })),
            )),
            ("1", [hash, newest]) => Some((
                true,
                Some(Stamp::Tree {
                    hash: u128::from_str_radix(hash, 16).ok()?,
                    newest_ns: newest.parse().ok()?,
                }),
            )),
            _ => None,
        }
    }
}

/// The stamp of the tree under `dir`: every entry, sorted by name at each level, by its
/// relative name and kind, and every file and symbolic link (not followed) by its stamp.
/// A tree whose files are hard links to another's (the outputs view, `out/`) has the
/// other's stamp, so one walk tells that it is still linked to it, unchanged.
pub fn tree(dir: &Path) -> io::Result<Stamp> {
    let mut h = blake3::Hasher::new();
    let mut newest = i64::MIN;
    walk(dir, Path::new(""), &mut h, &mut newest)?;
    let bytes = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&bytes.as_bytes()[..16]);
    Ok(Stamp::Tree {
        hash: u128::from_le_bytes(first),
        newest_ns: newest,
    })
}

fn walk(dir: &Path, rel: &Path, h: &mut blake3::Hasher, newest: &mut i64) -> io::Result<()> {
    let mut names: Vec<std::ffi::OsString> = fs::read_dir(dir.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let meta = fs::symlink_metadata(dir.join(&rel))?;
        h.update(rel.as_os_str().as_encoded_bytes());
        if meta.is_dir() {
            h.update(b"\0d\n");
            walk(dir, &rel, h, newest)?;
            continue;
        }
        let f = FileStamp::of(&meta);
        *newest = (*newest).max(f.newest_ns());
        h.update(b"\0f");
        for n in [f.dev, f.ino, f.size] {
            h.update(&n.to_le_bytes());
        }
        for t in [f.mtime_ns, f.ctime_ns] {
            h.update(&t.to_le_bytes());
        }
        h.update(b"\n");
    }
    Ok(())
}

/// Now, in nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("expc-stamp-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// A write that keeps the size and puts the mtime back still changes the stamp: its
    /// ctime moved.
    #[test]
    fn an_edit_that_keeps_size_inode_and_mtime_changes_the_stamp() {
        let d = dir("inplace");
        let f = d.join("data.csv");
        fs::write(&f, "a,b\n").unwrap();
        let before = Stamp::of_path(&f, true).unwrap();
        let mtime = fs::metadata(&f).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        {
            use std::os::unix::fs::FileExt;
            let file = fs::OpenOptions::new().write(true).open(&f).unwrap();
            file.write_all_at(b"A", 0).unwrap();
            file.set_times(fs::FileTimes::new().set_modified(mtime))
                .unwrap();
        }
        let after = Stamp::of_path(&f, true).unwrap();
        let (Stamp::File(a), Stamp::File(b)) = (before, after) else {
            panic!("file stamps")
        };
        assert_eq!(
            (a.dev, a.ino, a.size, a.mtime_ns),
            (b.dev, b.ino, b.size, b.mtime_ns)
        );
        assert_ne!(before, after);
        let _ = fs::remove_dir_all(&d);
    }

    /// A tree of hard links to another tree's files has its stamp; a file changed, added or
    /// removed, or a link's target, changes it.
    #[test]
    fn a_linked_tree_has_the_stamp_of_the_tree_it_links_to() {
        let d = dir("tree");
        let (a, b) = (d.join("a"), d.join("b"));
        fs::create_dir_all(a.join("sub")).unwrap();
        fs::write(a.join("x"), "x").unwrap();
        fs::write(a.join("sub/y"), "y").unwrap();
        std::os::unix::fs::symlink("/elsewhere", a.join("link")).unwrap();
        fs::create_dir_all(b.join("sub")).unwrap();
        for f in ["x", "sub/y", "link"] {
            fs::hard_link(a.join(f), b.join(f)).unwrap();
        }
        let stamp = tree(&a).unwrap();
        assert_eq!(tree(&b).unwrap(), stamp);
        fs::write(b.join("z"), "z").unwrap();
        assert_ne!(tree(&b).unwrap(), stamp);
        fs::remove_file(b.join("z")).unwrap();
        assert_eq!(tree(&b).unwrap(), stamp);
        fs::remove_file(b.join("link")).unwrap();
        std::os::unix::fs::symlink("/other", b.join("link")).unwrap();
        assert_ne!(tree(&b).unwrap(), stamp);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn kind_fields_read_back_and_old_ones_have_no_stamp() {
        let f = Stamp::File(FileStamp {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        });
        assert_eq!(
            Stamp::parse_kind(&f.kind_field(), 3),
            Some((false, Some(f)))
        );
        let t = Stamp::Tree {
            hash: 0xabc,
            newest_ns: -7,
        };
        assert_eq!(Stamp::parse_kind(&t.kind_field(), 0), Some((true, Some(t))));
        assert_eq!(Stamp::parse_kind("0:1:2:4", 3), Some((false, None)));
        assert_eq!(Stamp::parse_kind("0", 3), Some((false, None)));
        assert_eq!(Stamp::parse_kind("1", 3), Some((true, None)));
        assert_eq!(Stamp::parse_kind("2:x", 3), None);
        assert_eq!(Stamp::parse_kind("0:a:2:4:5", 3), None);
    }

    #[test]
    fn a_change_within_two_seconds_of_the_stamp_is_racy() {
        let f = |t: i64| {
            Stamp::File(FileStamp {
                dev: 1,
                ino: 1,
                size: 1,
                mtime_ns: t,
                ctime_ns: t,
            })
        };
        assert!(f(10 * RACY_NS).is_racy(10 * RACY_NS + RACY_NS - 1));
        assert!(!f(10 * RACY_NS).is_racy(11 * RACY_NS));
        // A file time in the future is racy for as long as it is.
        assert!(f(20 * RACY_NS).is_racy(10 * RACY_NS));
    }
}
