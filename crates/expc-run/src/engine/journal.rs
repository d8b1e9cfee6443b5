//! The journal of submissions to a cluster: what `expc run` sent (Slurm jobs, Kubernetes
//! Jobs), written to disk before the run relies on it, so that the next run of the same
//! state folder adopts what an earlier one left queued, running or finished (its head
//! killed, its ssh dropped) instead of submitting the same work a second time.
//!
//! `.expc/slurm/journal.tsv` and `.expc/k8s/journal.tsv` hold three kinds of line,
//! appended and flushed to disk (`fsync`) one batch at a time:
//!
//! - `T TOKEN KEY TASK RUN_DIR JOB_DIR INDEX`, written *before* the submission: task
//!   `TASK` (a Slurm array task, a completion index) of the submission `TOKEN` is the
//!   instance whose cache key is `KEY`; it works in `RUN_DIR/JOB_DIR/INDEX`.
//! - `J TOKEN ID`: where to find the submission — the Slurm job id, written as soon as
//!   `sbatch` answers; the Kubernetes namespace of the Job named `TOKEN`, written with the
//!   `T` lines.
//! - `D TOKEN TASK`, written once the task's outputs are stored: it is not to be adopted.
//!
//! A Slurm run killed between `sbatch` and its `J` line leaves a submission with no id: the
//! job carries `--comment=expc:TOKEN`, so the next run finds its id in `squeue`. The state
//! folder's lock (`crate::lock`) makes each journal single-writer. When a run starts it
//! keeps only the lines it may still adopt (see [`Journal::compact`]).

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The journal's file name inside `.expc/slurm/` and `.expc/k8s/`.
pub const FILE: &str = "journal.tsv";

/// The comment a submission carries, for finding its id when the journal has none.
pub fn comment(token: &str) -> String {
    format!("expc:{token}")
}

/// One array task the journal knows of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub token: String,
    /// The instance's cache key.
    pub key: String,
    pub task: u64,
    /// The run folder of the submission, as seen here (`.expc/slurm/run-…/run`, the run
    /// volume's `run-…`).
    pub run_dir: PathBuf,
    /// Where in it the instance works: `RUN_DIR/JOB_DIR/INDEX`.
    pub job_dir: String,
    pub index: u64,
}

impl Entry {
    /// Its work directory.
    pub fn work(&self) -> PathBuf {
        self.run_dir
            .join(&self.job_dir)
            .join(self.index.to_string())
    }
}

/// What the journal file says: every task, and the job id of each submission that got one.
#[derive(Debug, Default)]
pub struct Contents {
    pub entries: Vec<Entry>,
    pub ids: HashMap<String, String>,
}

impl Contents {
    /// Parses the journal's lines; a line cut short by a crash (or otherwise unreadable)
    /// is skipped.
    pub fn parse(text: &str) -> Contents {
        let mut c = Contents::default();
        let mut done = std::collections::HashSet::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["T", token, key, task, run_dir, job_dir, index] => {
                    let (Ok(task), Ok(index)) = (task.parse(), index.parse()) else {
                        continue;
                    };
                    c.entries.push(Entry {
                        token: (*token).to_owned(),
                        key: (*key).to_owned(),
                        task,
                        run_dir: PathBuf::from(run_dir),
                        job_dir: (*job_dir).to_owned(),
                        index,
                    });
                }
                ["J", token, id] if !id.is_empty() => {
                    c.ids.insert((*token).to_owned(), (*id).to_owned());
                }
                ["D", token, task] => {
                    if let Ok(task) = task.parse::<u64>() {
                        done.insert(((*token).to_owned(), task));
                    }
                }
                _ => {}
            }
        }
        c.entries
            .retain(|e| !done.contains(&(e.token.clone(), e.task)));
        c
    }

    /// The submissions that have no id in the journal.
    pub fn unresolved(&self) -> Vec<String> {
        let mut tokens: Vec<String> = self
            .entries
            .iter()
            .filter(|e| !self.ids.contains_key(&e.token))
            .map(|e| e.token.clone())
            .collect();
        tokens.sort();
        tokens.dedup();
        tokens
    }

    /// Every job id the journal names.
    pub fn job_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.ids.values().cloned().collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// The journal of one state folder, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn at(slurm_dir: &Path) -> Journal {
        Journal {
            path: slurm_dir.join(FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the journal holds (nothing when there is none).
    pub fn read(&self) -> Contents {
        std::fs::read_to_string(&self.path)
            .map(|t| Contents::parse(&t))
            .unwrap_or_default()
    }

    /// Records the tasks of a submission about to be sent, on disk before `sbatch` runs.
    pub fn intend(&self, entries: &[Entry]) -> std::io::Result<()> {
        let mut text = String::new();
        for e in entries {
            let run_dir = e.run_dir.to_string_lossy();
            text.push_str(&format!(
                "T\t{}\t{}\t{}\t{run_dir}\t{}\t{}\n",
                e.token, e.key, e.task, e.job_dir, e.index
            ));
        }
        self.append(&text)
    }

    /// Records where to find the submission `token` (its Slurm job id, its namespace).
    pub fn submitted(&self, token: &str, id: &str) -> std::io::Result<()> {
        self.append(&format!("J\t{token}\t{id}\n"))
    }

    /// Records that the outputs of task `task` of `token` are stored.
    pub fn done(&self, token: &str, task: u64) -> std::io::Result<()> {
        self.append(&format!("D\t{token}\t{task}\n"))
    }

    fn append(&self, text: &str) -> std::io::Result<()> {
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(text.as_bytes())?;
        f.sync_data()
    }

    /// Rewrites the journal with only `keep` (and the ids of their submissions): what a run
    /// may still adopt. Written to a temporary file, then renamed over the journal, so a
    /// crash leaves the old journal or the new one.
    pub fn compact(&self, keep: &[&Entry], ids: &HashMap<String, String>) -> std::io::Result<()> {
        let mut tokens: BTreeMap<&str, &str> = BTreeMap::new();
        let mut text = String::new();
        for e in keep {
            if let Some(id) = ids.get(&e.token) {
                tokens.insert(&e.token, id);
            }
            text.push_str(&format!(
                "T\t{}\t{}\t{}\t{}\t{}\t{}\n",
                e.token,
                e.key,
                e.task,
                e.run_dir.to_string_lossy(),
                e.job_dir,
                e.index
            ));
        }
        for (token, id) in tokens {
            text.push_str(&format!("J\t{token}\t{id}\n"));
        }
        let tmp = self.path.with_extension("tsv.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_data()?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}

/// Whether a path can be written into a journal line (no tab, no newline).
pub fn fits(path: &Path) -> bool {
    let text = path.to_string_lossy();
    !text.contains('\t') && !text.contains('\n')
}

/// The array tasks a `squeue -r` id names: `120_4` → `[4]`; a pending remainder
/// `120_[5-9%4]` or `120_[1,3,6-7]` → every task in it; a plain `120` → `[]`.
pub fn tasks_of(id: &str) -> Vec<u64> {
    let Some((_, rest)) = id.split_once('_') else {
        return Vec::new();
    };
    if let Ok(t) = rest.parse() {
        return vec![t];
    }
    let inner = rest
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(rest);
    let inner = inner.split('%').next().unwrap_or(inner);
    let mut out = Vec::new();
    for part in inner.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
                    out.extend(a..=b.min(a.saturating_add(1_000_000)));
                }
            }
            None => out.extend(part.parse::<u64>().ok()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(token: &str, key: &str, task: u64) -> Entry {
        Entry {
            token: token.into(),
            key: key.into(),
            task,
            run_dir: PathBuf::from("/s/slurm/run-1-2/run"),
            job_dir: "t".into(),
            index: task + 10,
        }
    }

    #[test]
    fn lines_written_are_read_back_and_a_torn_line_is_skipped() {
        let dir = std::env::temp_dir().join(format!("expc-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let j = Journal::at(&dir);
        j.intend(&[entry("a.0", "k1", 0), entry("a.0", "k2", 1)])
            .unwrap();
        j.submitted("a.0", "77").unwrap();
        j.intend(&[entry("a.1", "k3", 0), entry("a.1", "k4", 1)])
            .unwrap();
        j.done("a.1", 1).unwrap();
        // A crash in the middle of a line.
        let mut text = std::fs::read_to_string(j.path()).unwrap();
        text.push_str("J\ta.1\t7");
        text.push_str("\nT\ta.2\tk9");
        std::fs::write(j.path(), &text).unwrap();
        let c = j.read();
        assert_eq!(c.entries.len(), 3);
        assert_eq!(
            c.entries[1].work(),
            PathBuf::from("/s/slurm/run-1-2/run/t/11")
        );
        assert_eq!(c.ids.get("a.0").map(String::as_str), Some("77"));
        // `J a.1 7` was cut short but is a valid line: only the `T` line is torn.
        assert_eq!(c.unresolved(), Vec::<String>::new());
        let keep: Vec<&Entry> = c.entries.iter().filter(|e| e.key != "k2").collect();
        j.compact(&keep, &c.ids).unwrap();
        let again = j.read();
        assert_eq!(again.entries.len(), 2);
        assert_eq!(again.job_ids(), ["7", "77"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn array_ids_name_their_tasks() {
        assert_eq!(tasks_of("120_4"), [4]);
        assert_eq!(tasks_of("120_[5-9%4]"), [5, 6, 7, 8, 9]);
        assert_eq!(tasks_of("120_[1,3,6-7]"), [1, 3, 6, 7]);
        assert_eq!(tasks_of("120"), Vec::<u64>::new());
    }
}
