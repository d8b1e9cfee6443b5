//! Which recorded runs `expc gc` keeps, what they need of the state folder, and removing
//! the others.
//!
//! A run is kept when it is among the newest `keep_last`, or started after `older_than`
//! ago, or is still running, or a kept run's cached instances refer to its records
//! (`tasks.source_run`): removing it would take their argv and inputs with it.

use std::collections::{BTreeSet, HashSet};

use crate::store::{Error, Result, Store};

/// How much provenance to keep. With neither field set, every run is kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Keep the newest N runs.
    pub keep_last: Option<usize>,
    /// Keep the runs started less than this many seconds ago.
    pub older_than_secs: Option<u64>,
}

/// The runs to keep and to remove, newest first.
#[derive(Debug, Default)]
pub struct Split {
    pub keep: Vec<String>,
    pub remove: Vec<String>,
}

/// Splits the store's runs by `retention`, at `now` (seconds since the epoch).
pub fn split(store: &Store, retention: Retention, now: u64) -> Result<Split> {
    let mut stmt = store
        .conn
        .prepare("SELECT id, started_at, status FROM runs ORDER BY started_at DESC, id DESC")?;
    let runs: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<std::result::Result<_, _>>()?;
    let cutoff = retention.older_than_secs.map(|s| {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.saturating_sub(s));
        crate::time::rfc3339(at)
    });
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for (n, (id, started, status)) in runs.iter().enumerate() {
        let by_count = retention.keep_last.is_some_and(|k| n < k);
        let by_age = cutoff
            .as_ref()
            .is_some_and(|c| started.as_str() >= c.as_str());
        let unset = retention.keep_last.is_none() && retention.older_than_secs.is_none();
        if unset || by_count || by_age || status == "running" {
            keep.insert(id.clone());
        }
    }
    // The runs whose records kept runs refer to.
    let mut stmt = store.conn.prepare(
        "SELECT DISTINCT run_id, source_run FROM tasks WHERE source_run IS NOT NULL AND source_run <> run_id",
    )?;
    let refs: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<std::result::Result<_, _>>()?;
    let sources: Vec<String> = refs
        .into_iter()
        .filter(|(run, _)| keep.contains(run))
        .map(|(_, source)| source)
        .collect();
    keep.extend(sources);
    let mut split = Split::default();
    for (id, _, _) in runs {
        if keep.contains(&id) {
            split.keep.push(id);
        } else {
            split.remove.push(id);
        }
    }
    Ok(split)
}

/// The cache keys of every instance of `runs`.
pub fn cache_keys(store: &Store, runs: &[String]) -> Result<HashSet<String>> {
    let mut stmt = store.conn.prepare(
        "SELECT DISTINCT cache_key FROM tasks WHERE run_id = ?1 AND cache_key IS NOT NULL",
    )?;
    let mut keys = HashSet::new();
    for run in runs {
        let found = stmt
            .query_map([run], |r| r.get::<_, String>(0))?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        keys.extend(found);
    }
    Ok(keys)
}

/// Removes `runs` and everything recorded of them, in one transaction.
pub fn remove(store: &mut Store, runs: &[String]) -> Result<usize> {
    let tx = store
        .conn
        .transaction()
        .map_err(|e| Error(format!("cannot remove runs: {e}")))?;
    let mut removed = 0;
    for table in ["task_values", "usages", "metrics"] {
        let mut stmt = tx.prepare(&format!("DELETE FROM {table} WHERE run_id = ?1"))?;
        for run in runs {
            stmt.execute([run])?;
        }
    }
    {
        let mut stmt = tx.prepare("DELETE FROM runs WHERE id = ?1")?;
        for run in runs {
            removed += stmt.execute([run])?;
        }
    }
    tx.commit()?;
    Ok(removed)
}
