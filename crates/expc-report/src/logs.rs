//! The tails of task logs, read from where the run keeps them
//! ([`expc_prov::log_dir`]: `.expc/logs/<call>/<index>/{stdout,stderr}`), which hold each
//! instance's latest attempt.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::UNIX_EPOCH;

/// How many lines of each log a report keeps.
pub const LINES: usize = 20;

/// The last `LINES` lines of a log, at most `max_bytes` of them, if the file was last
/// written between `from_ms` and `to_ms` (milliseconds since the epoch): logs hold only
/// the latest attempt, so a log written by a later run is not this run's.
pub fn tail(path: &Path, max_bytes: usize, from_ms: i64, to_ms: i64) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let meta = f.metadata().ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as i64;
    // File systems keep coarse mtimes; allow a little slack either side.
    if mtime < from_ms - 2_000 || mtime > to_ms + 2_000 {
        return None;
    }
    let len = meta.len();
    let start = len.saturating_sub(max_bytes as u64);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let mut text: &str = &text;
    if start > 0 {
        // Drop the partial first line.
        text = text.split_once('\n').map_or("", |(_, rest)| rest);
    }
    let lines: Vec<&str> = text.lines().collect();
    let keep = &lines[lines.len().saturating_sub(LINES)..];
    Some(keep.join("\n"))
}
