//! The records the provenance hook of a generated job writes, and their reader.
//!
//! Every job script `expc build` writes (and every job `expc run` submits to Slurm or
//! Kubernetes) wraps its command in a hook written in bash with coreutils only (no
//! expc on compute nodes). For each instance it appends JSON lines to
//! `PROV_DIR/JOB/INDEX.jsonl`: a `start` record before the command and an `end` record
//! after it, with the exit status and the SHA-256 digest of every declared output. The
//! format is documented in `docs/slurm.md`; [`read_hook_records`] reads a provenance
//! directory back, for `expc prov ingest`, and the Slurm and Kubernetes engines read one
//! instance's records ([`HookSummary::read`]) when it ends.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The version of the line format; bumped on any incompatible change.
pub const HOOK_SCHEMA_VERSION: u32 = 1;

/// What a record marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HookEvent {
    /// The instance's command is about to start (once per attempt).
    Start,
    /// The command has ended (once per attempt).
    End,
}

/// One line written by the hook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookRecord {
    /// [`HOOK_SCHEMA_VERSION`] of the writer.
    pub schema: u32,
    pub event: HookEvent,
    /// The experiment's name (empty when the spec has no `experiment` header).
    pub experiment: String,
    /// The job's key in the plan (the pipeline binding).
    pub job: String,
    /// The job's content-derived id in the plan.
    pub job_id: String,
    /// The instance's index among the job's instances (0 outside sweeps).
    pub instance: u64,
    /// The instance's id in the plan.
    pub instance_id: String,
    /// The attempt, from 1; `retry N` allows up to N + 1.
    pub attempt: u32,
    /// `SLURM_JOB_ID` (for an array task, its own id).
    pub slurm_job_id: Option<String>,
    /// `SLURM_ARRAY_JOB_ID`, for array tasks.
    pub slurm_array_job_id: Option<String>,
    /// `SLURM_ARRAY_TASK_ID` (the index within the array chunk), for array tasks.
    pub slurm_array_task_id: Option<String>,
    /// The host the instance ran on.
    pub host: String,
    /// UTC, RFC 3339 with milliseconds.
    pub time: String,
    /// The command's exit status (`end` only); 128 + N when killed by signal N.
    #[serde(default)]
    pub exit_status: Option<i32>,
    /// The declared outputs (`end` only).
    #[serde(default)]
    pub outputs: Vec<HookOutput>,
    /// The Spark application's id (`local-…`, `app-…`, `application_…`), read from
    /// `spark-submit`'s log (`end` of a Spark job only; absent from Slurm records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_app_id: Option<String>,
    /// Where the Spark application's event log was written (`end` of a Spark job only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_event_log: Option<String>,
}

/// A declared output as the hook found it after the command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookOutput {
    pub name: String,
    /// Relative to the run directory: `JOB/INDEX/FILE`.
    pub path: String,
    /// `file`, `dir`, or `missing`.
    pub kind: String,
    /// SHA-256 of a file's bytes; of a directory, SHA-256 of the `sha256sum` lines of its
    /// files, sorted by path in the C locale (a Spark job's hook leaves out the `_`/`.`
    /// files and the unique id in part file names: see docs/spark.md); `null` when missing.
    pub sha256: Option<String>,
}

/// Why a provenance directory could not be read.
#[derive(Debug)]
pub struct HookReadError {
    pub path: PathBuf,
    /// 1-based line, when the problem is in one line.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for HookReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for HookReadError {}

/// Every record under `dir` (the hook's provenance directory): the `.jsonl` files at any
/// depth, in path order, each in line order. Fails on the first line that is not a
/// record, naming the file and the line.
pub fn read_hook_records(dir: &Path) -> Result<Vec<HookRecord>, HookReadError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| HookReadError {
            path: d.clone(),
            line: None,
            message: format!("cannot read the directory: {e}"),
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| HookReadError {
                path: d.clone(),
                line: None,
                message: format!("cannot read the directory: {e}"),
            })?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "jsonl") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut records = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|e| HookReadError {
            path: path.clone(),
            line: None,
            message: format!("cannot read the file: {e}"),
        })?;
        records.extend(
            parse_hook_lines(&text).map_err(|(line, message)| HookReadError {
                path: path.clone(),
                line: Some(line),
                message,
            })?,
        );
    }
    Ok(records)
}

/// The records of one file's text; on error, the 1-based line and what is wrong.
pub fn parse_hook_lines(text: &str) -> Result<Vec<HookRecord>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: HookRecord = serde_json::from_str(line)
            .map_err(|e| (i + 1, format!("not a provenance hook record: {e}")))?;
        if record.schema != HOOK_SCHEMA_VERSION {
            return Err((
                i + 1,
                format!(
                    "written by a hook of schema {}; this expc reads schema {HOOK_SCHEMA_VERSION}: rebuild the artifacts with this expc",
                    record.schema
                ),
            ));
        }
        out.push(record);
    }
    Ok(out)
}

/// What a job's hook says of one instance: its first start and last end.
#[derive(Debug, Clone)]
pub struct HookSummary {
    pub host: String,
    pub started: Option<SystemTime>,
    pub ended: Option<SystemTime>,
    pub attempts: u32,
    pub exit_status: Option<i32>,
}

impl HookSummary {
    /// What the hook recorded of instance `index` of the job in folder `job_dir` (its key,
    /// `#` as `-`) in `PROV_DIR/JOB/INDEX.jsonl`.
    pub fn read(prov_dir: &Path, job_dir: &str, index: u64) -> Option<HookSummary> {
        let path = prov_dir.join(job_dir).join(format!("{index}.jsonl"));
        let text = std::fs::read_to_string(path).ok()?;
        let records = parse_hook_lines(&text).ok()?;
        let start = records
            .iter()
            .filter(|r| r.event == HookEvent::Start)
            .min_by_key(|r| r.attempt)?;
        let end = records
            .iter()
            .filter(|r| r.event == HookEvent::End)
            .max_by_key(|r| r.attempt);
        Some(HookSummary {
            host: end.unwrap_or(start).host.clone(),
            started: parse_utc(&start.time),
            ended: end.and_then(|e| parse_utc(&e.time)),
            attempts: end.map_or(start.attempt, |e| e.attempt),
            exit_status: end.and_then(|e| e.exit_status),
        })
    }
}

/// `2026-12-02T03:04:05.678Z` (as the provenance hook writes it) as a time.
pub fn parse_utc(text: &str) -> Option<SystemTime> {
    let t = text.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()?;
    let digits: String = frac.chars().take(9).collect();
    let nanos = format!("{digits:0<9}").parse::<u32>().ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_times_parse() {
        let t = parse_utc("2026-12-02T03:04:05.678Z").unwrap();
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(d.as_secs(), 1_796_180_645);
        assert_eq!(d.subsec_millis(), 678);
        assert_eq!(
            parse_utc("1970-01-01T00:00:00Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert_eq!(parse_utc("2026-13-02T03:04:05Z"), None);
        assert_eq!(parse_utc("yesterday"), None);
    }

    const START: &str = r#"{"schema":1,"event":"start","experiment":"x","job":"t","job_id":"00ff","instance":2,"instance_id":"abcd","attempt":1,"slurm_job_id":"12","slurm_array_job_id":"10","slurm_array_task_id":"2","host":"n1","time":"2026-01-01T00:00:00.000Z"}"#;
    const END: &str = r#"{"schema":1,"event":"end","experiment":"x","job":"t","job_id":"00ff","instance":2,"instance_id":"abcd","attempt":1,"slurm_job_id":"12","slurm_array_job_id":null,"slurm_array_task_id":null,"host":"n1","time":"2026-01-01T00:00:01.000Z","exit_status":0,"outputs":[{"name":"o","path":"t/2/o.txt","kind":"file","sha256":"e3b0"}]}"#;

    #[test]
    fn reads_start_and_end() {
        let r = parse_hook_lines(&format!("{START}\n{END}\n")).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].event, HookEvent::Start);
        assert_eq!(r[0].slurm_array_task_id.as_deref(), Some("2"));
        assert_eq!(r[1].exit_status, Some(0));
        assert_eq!(r[1].outputs[0].sha256.as_deref(), Some("e3b0"));
        assert_eq!(r[1].slurm_array_job_id, None);
        assert_eq!(r[1].spark_app_id, None);
    }

    #[test]
    fn reads_spark_records() {
        let end = r#"{"schema":1,"event":"end","experiment":"x","job":"c","job_id":"00ff","instance":0,"instance_id":"abcd","attempt":1,"host":"n1","time":"2026-01-01T00:00:01.000Z","exit_status":0,"outputs":[],"spark_app_id":"local-1796176834590","spark_event_log":"file:/p/c/events/eventlog_v2_local-1796176834590"}"#;
        let r = parse_hook_lines(end).unwrap();
        assert_eq!(r[0].spark_app_id.as_deref(), Some("local-1796176834590"));
        assert_eq!(r[0].slurm_job_id, None);
        assert!(
            r[0].spark_event_log
                .as_deref()
                .unwrap()
                .ends_with("local-1796176834590")
        );
    }

    #[test]
    fn names_the_bad_line() {
        let (line, msg) = parse_hook_lines(&format!("{START}\n{{\"schema\":1\n")).unwrap_err();
        assert_eq!(line, 2);
        assert!(msg.contains("not a provenance hook record"), "{msg}");
        let other = START.replace("\"schema\":1", "\"schema\":7");
        let (_, msg) = parse_hook_lines(&other).unwrap_err();
        assert!(msg.contains("schema 7"), "{msg}");
    }
}
