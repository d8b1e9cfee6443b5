//! One writer per state folder: the lock `expc run` (and `expc verify`) hold on `.expc/`.
//!
//! Two runs in one folder would break each other: the second empties `tmp/`, where the
//! first's tasks are working, and both write the same cache files and `out/` links. So a
//! run takes an exclusive `flock` on `.expc/lock` before it writes anything there, and
//! writes into the file who holds it (process id, start time, command line) for the
//! message of the one that is refused. The kernel releases the lock when the holder's
//! process ends, however it ends (`kill -9` included), so there is never a stale lock to
//! clean up: the file left behind only names the last holder, and is not the lock.
//! The lock file is opened close-on-exec, so the tasks a run starts do not inherit it.

use std::fs;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The lock's file name inside the state folder.
pub const FILE: &str = "lock";

/// The lock on a state folder, held until dropped (or the process ends).
#[derive(Debug)]
pub struct StateLock {
    _held: Flock<fs::File>,
}

/// Who holds a state folder's lock, as its holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Seconds since the Unix epoch.
    pub started: u64,
    pub command: String,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it (what it wrote about itself, when it could be read).
    Held(PathBuf, Option<Holder>),
    /// The lock file cannot be made or locked.
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held(dir, holder) => write!(
                f,
                "{} is using `{}`; wait for it to finish, or run with `--wait`",
                describe(holder.as_ref()),
                dir.display()
            ),
            LockError::Io(path, e) => write!(
                f,
                "cannot lock `{}`: {e}. Check that the state folder can be written",
                path.display()
            ),
        }
    }
}

/// "another `expc run` (pid 123, started 12:03:04 UTC, `expc run spec.exp`)".
pub fn describe(holder: Option<&Holder>) -> String {
    match holder {
        Some(h) => {
            let program = h
                .command
                .split_whitespace()
                .take(2)
                .map(|w| w.rsplit('/').next().unwrap_or(w))
                .collect::<Vec<_>>()
                .join(" ");
            format!(
                "another `{program}` (pid {}, started {}, `{}`)",
                h.pid,
                utc_time(h.started),
                h.command
            )
        }
        None => "another expc process".to_owned(),
    }
}

impl StateLock {
    /// Takes the lock of `state_dir` (made if missing), or says who holds it.
    pub fn try_acquire(state_dir: &Path) -> Result<StateLock, LockError> {
        let (file, path) = open(state_dir)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => Ok(StateLock::claimed(held)),
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => Err(LockError::Held(
                state_dir.to_path_buf(),
                read_holder(&mut file),
            )),
            Err((_, e)) => Err(LockError::Io(path, e.into())),
        }
    }

    /// Takes the lock of `state_dir`, waiting for its holder to let it go; `waiting` is
    /// told who that is first (when the lock is held).
    pub fn acquire_waiting(
        state_dir: &Path,
        waiting: impl FnOnce(Option<&Holder>),
    ) -> Result<StateLock, LockError> {
        match StateLock::try_acquire(state_dir) {
            Err(LockError::Held(_, holder)) => waiting(holder.as_ref()),
            other => return other,
        }
        let (file, path) = open(state_dir)?;
        match Flock::lock(file, FlockArg::LockExclusive) {
            Ok(held) => Ok(StateLock::claimed(held)),
            Err((_, e)) => Err(LockError::Io(path, e.into())),
        }
    }

    /// Writes this process into the lock file it now holds. The lock holds even when
    /// this fails: the file is only for messages.
    fn claimed(mut held: Flock<fs::File>) -> StateLock {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let command: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().replace(['\n', '\r'], " "))
            .collect();
        let text = format!("{}\n{started}\n{}\n", std::process::id(), command.join(" "));
        let _ = held
            .set_len(0)
            .and_then(|()| held.rewind())
            .and_then(|()| held.write_all(text.as_bytes()));
        StateLock { _held: held }
    }
}

fn open(state_dir: &Path) -> Result<(fs::File, PathBuf), LockError> {
    let path = state_dir.join(FILE);
    fs::create_dir_all(state_dir).map_err(|e| LockError::Io(path.clone(), e))?;
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LockError::Io(path.clone(), e))?;
    Ok((file, path))
}

/// What the holder wrote: `PID\nSTARTED\nCOMMAND\n`. `None` when it has not written it
/// yet (it took the lock a moment ago) or the file is not in that form.
fn read_holder(file: &mut fs::File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    let mut lines = text.lines();
    Some(Holder {
        pid: lines.next()?.parse().ok()?,
        started: lines.next()?.parse().ok()?,
        command: lines.next()?.to_owned(),
    })
}

/// `12:03:04 UTC` for a time today, else `2026-12-01 12:03:04 UTC`.
pub fn utc_time(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (day, rest) = (secs / 86_400, secs % 86_400);
    let clock = format!(
        "{:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if day == now / 86_400 {
        return clock;
    }
    let (y, m, d) = civil_from_days(day as i64);
    format!("{y}-{m:02}-{d:02} {clock}")
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("expc-lock-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name_until_it_lets_go() {
        let d = dir("twice");
        let first = StateLock::try_acquire(&d).unwrap();
        // Another open file description of the same file: as another process would be.
        match StateLock::try_acquire(&d) {
            Err(LockError::Held(at, Some(h))) => {
                assert_eq!(at, d);
                assert_eq!(h.pid, std::process::id());
                let message = LockError::Held(at, Some(h)).to_string();
                assert!(message.contains("is using"), "{message}");
                assert!(message.contains("--wait"), "{message}");
            }
            other => panic!("expected the lock to be held: {other:?}"),
        }
        drop(first);
        assert!(StateLock::try_acquire(&d).is_ok());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_waiting_holder_gets_the_lock_once_it_is_let_go() {
        let d = dir("wait");
        let first = StateLock::try_acquire(&d).unwrap();
        let released = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(first);
        });
        let mut told = false;
        let second = StateLock::acquire_waiting(&d, |h| told = h.is_some());
        assert!(second.is_ok());
        assert!(told, "the waiter was not told who it waits for");
        released.join().unwrap();
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn dates_are_civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert!(utc_time(0).starts_with("1970-01-01 00:00:00"));
    }
}
