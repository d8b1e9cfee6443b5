//! Reading Slurm's answer about submitted jobs: one `squeue` call for all of them, with
//! array tasks one per line, parsed and mapped to what expc reports.
//!
//! The call is `squeue -h -t all -r -j ID,ID,… -o '%i|%T|%r'` ([`squeue_args`]); with
//! `MinJobAge` at its usual value, finished jobs stay listed long enough to be seen.

/// The `-o` format of [`squeue_args`]: job id (`123` or `120_4`), state, reason.
pub const SQUEUE_FORMAT: &str = "%i|%T|%r";

/// The arguments of one `squeue` call that reports every job and array task of `ids`.
pub fn squeue_args(ids: &[String]) -> Vec<String> {
    vec![
        "-h".into(),
        "-t".into(),
        "all".into(),
        "-r".into(),
        "-j".into(),
        ids.join(","),
        "-o".into(),
        SQUEUE_FORMAT.into(),
    ]
}

/// One line of `squeue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlurmJobStatus {
    /// `123`, or `120_4` for task 4 of array job 120 (`120_[5-9%4]` for tasks not yet
    /// started).
    pub id: String,
    pub state: String,
    /// Slurm's reason (`None`, `NonZeroExitCode`, `DependencyNeverSatisfied`, …).
    pub reason: String,
}

impl SlurmJobStatus {
    /// The job id without the array task: `120` for `120_4`.
    pub fn job_id(&self) -> &str {
        self.id.split('_').next().unwrap_or(&self.id)
    }

    /// The array task index, when this line is one started array task.
    pub fn array_task(&self) -> Option<u64> {
        self.id.split_once('_').and_then(|(_, t)| t.parse().ok())
    }

    /// Whether the job has ended and will not change again.
    pub fn is_final(&self) -> bool {
        outcome(&self.state).is_some()
    }
}

/// The lines of `squeue -o '%i|%T|%r'`; lines that are not three fields are skipped.
pub fn parse_squeue(text: &str) -> Vec<SlurmJobStatus> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, '|');
            let (id, state, reason) = (f.next()?, f.next()?, f.next()?);
            (!id.is_empty() && !state.is_empty()).then(|| SlurmJobStatus {
                id: id.to_owned(),
                state: state.to_owned(),
                reason: reason.to_owned(),
            })
        })
        .collect()
}

/// The lines of `sacct -n -P -X -o JobID,State`: final states of jobs that have left
/// squeue, without a reason.
pub fn parse_sacct(text: &str) -> Vec<SlurmJobStatus> {
    text.lines()
        .filter_map(|l| {
            let (id, state) = l.trim().split_once('|')?;
            let state = state.split('|').next().unwrap_or(state);
            (!id.is_empty() && !state.is_empty()).then(|| SlurmJobStatus {
                id: id.to_owned(),
                state: state.to_owned(),
                reason: String::new(),
            })
        })
        .collect()
}

/// How a finished Slurm job ended, as expc reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlurmOutcome {
    Completed,
    Failed,
    Cancelled,
    Timeout,
    OutOfMemory,
    NodeFail,
    /// Preempted, boot failure, deadline: ended without running to completion.
    Other,
}

/// The outcome of a final state, `None` while the job may still run.
pub fn outcome(state: &str) -> Option<SlurmOutcome> {
    // `CANCELLED by 0` is how sacct writes some cancellations.
    let state = state.split_whitespace().next().unwrap_or("");
    Some(match state {
        "COMPLETED" => SlurmOutcome::Completed,
        "FAILED" => SlurmOutcome::Failed,
        "CANCELLED" => SlurmOutcome::Cancelled,
        "TIMEOUT" => SlurmOutcome::Timeout,
        "OUT_OF_MEMORY" => SlurmOutcome::OutOfMemory,
        "NODE_FAIL" => SlurmOutcome::NodeFail,
        "PREEMPTED" | "BOOT_FAIL" | "DEADLINE" | "REVOKED" => SlurmOutcome::Other,
        _ => return None,
    })
}

/// Slurm's reason for a pending job, with what it means: `PartitionDown` → "PartitionDown
/// (its partition is down)".
pub fn pending_reason(reason: &str) -> String {
    let meaning = match reason {
        "Resources" => "waiting for nodes to free up",
        "Priority" => "other jobs are ahead of it",
        "PartitionDown" => "its partition is down",
        "PartitionInactive" => "its partition is inactive",
        "PartitionConfig" | "PartitionNodeLimit" | "PartitionTimeLimit" => {
            "it asks more than its partition allows"
        }
        "ReqNodeNotAvail" => "the nodes it needs are not available (down, drained or reserved)",
        "BeginTime" => "its start time has not come",
        "Dependency" => "it waits for another job",
        "JobHeldUser" | "JobHeldAdmin" => "it is held (`scontrol release ID` frees it)",
        "Reservation" => "it waits for its reservation",
        r if r.starts_with("QOS") || r.starts_with("Assoc") => {
            "a limit of its account or QOS holds it back"
        }
        _ => "",
    };
    if meaning.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason} ({meaning})")
    }
}

/// What to tell the user about a job that did not complete.
pub fn explain(status: &SlurmJobStatus) -> String {
    let why = match status.reason.as_str() {
        "DependencyNeverSatisfied" => {
            "a job it depends on did not complete, so Slurm cancelled it".to_owned()
        }
        "NonZeroExitCode" => "the command exited with a non-zero status".to_owned(),
        "TimeLimit" => "it ran out of its wall time".to_owned(),
        "None" | "" => String::new(),
        r => format!("Slurm's reason: {r}"),
    };
    let state = match outcome(&status.state) {
        Some(SlurmOutcome::Timeout) => "timed out (raise `time` in the task's `resources`)",
        Some(SlurmOutcome::OutOfMemory) => {
            "ran out of memory (raise `mem` in the task's `resources`)"
        }
        Some(SlurmOutcome::NodeFail) => "was lost with its node (run again to resubmit it)",
        Some(SlurmOutcome::Cancelled) => "was cancelled",
        Some(SlurmOutcome::Failed) => "failed",
        Some(SlurmOutcome::Completed) => "completed",
        Some(SlurmOutcome::Other) => "ended early",
        None => "has not ended",
    };
    if why.is_empty() {
        format!("job {} {state}", status.id)
    } else {
        format!("job {} {state}: {why}", status.id)
    }
}

/// The `sacct -o` fields [`parse_usage`] reads.
pub const USAGE_FIELDS: &str = "JobID,Elapsed,TotalCPU,MaxRSS,ReqMem,AllocCPUS,Timelimit";

/// What each job of `sacct -n -P -o USAGE_FIELDS` output used, by job id (`123_4` for an
/// array task): elapsed time, CPU time and allocation from the job's line, the largest
/// resident set of its steps' lines (`123_4.batch`, `123_4.0`, …).
pub fn parse_usage(text: &str) -> std::collections::HashMap<String, crate::events::Usage> {
    let mut found: std::collections::HashMap<String, crate::events::Usage> =
        std::collections::HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let [id, elapsed, cpu, rss, mem, cpus, limit] = f[..] else {
            continue;
        };
        let (job, step) = match id.split_once('.') {
            Some((job, step)) => (job, Some(step)),
            None => (id, None),
        };
        let u = found.entry(job.to_owned()).or_insert(crate::events::Usage {
            elapsed_ms: 0,
            cpu_ms: 0,
            max_rss: None,
            cpus: 0,
            mem: None,
            time_limit_s: None,
        });
        if let Some(rss) = bytes(rss) {
            u.max_rss = Some(u.max_rss.map_or(rss, |m| m.max(rss)));
        }
        if step.is_some() {
            continue;
        }
        u.elapsed_ms = duration_ms(elapsed).unwrap_or(0);
        u.cpu_ms = duration_ms(cpu).unwrap_or(0);
        u.cpus = cpus.parse().unwrap_or(0);
        u.time_limit_s = duration_ms(limit).map(|ms| ms / 1000);
        // `4000M`, or per node (`n`) or per CPU (`c`) in older versions.
        u.mem = match mem.strip_suffix('c') {
            Some(per_cpu) => bytes(per_cpu).map(|b| b * u64::from(u.cpus.max(1))),
            None => bytes(mem.strip_suffix('n').unwrap_or(mem)),
        };
    }
    found
}

/// `96860K`, `1.5G`, `512` (bytes) as bytes.
fn bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let (num, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: f64 = num.parse().ok()?;
    let scale: u64 = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    Some((n * scale as f64) as u64)
}

/// Slurm's durations as milliseconds: `[DD-][HH:]MM:SS[.mmm]`; none for `UNLIMITED`,
/// `Partition_Limit` or an empty field.
fn duration_ms(text: &str) -> Option<u64> {
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (d.parse::<u64>().ok()?, rest),
        None => (0, text),
    };
    let (clock, millis) = match rest.split_once('.') {
        Some((clock, ms)) => (clock, format!("{ms:0<3}")[..3].parse::<u64>().ok()?),
        None => (rest, 0),
    };
    let parts: Vec<u64> = clock
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let secs = match parts[..] {
        [h, m, s] => h * 3600 + m * 60 + s,
        [m, s] => m * 60 + s,
        _ => return None,
    };
    Some((days * 86_400 + secs) * 1000 + millis)
}

#[cfg(test)]
mod tests {
    #[test]
    fn usage_is_read_from_a_job_line_and_its_steps() {
        let text = "19_2|00:01:05|01:02.306||4G|2|2-00:00:00\n19_2.batch|00:01:05|01:02.306|96860K||2|\n19_2.extern|00:01:05|00:00:00|1024K||2|\n20|00:00:01|00:00.010||100Mc|4|UNLIMITED\n";
        let u = super::parse_usage(text);
        let a = &u["19_2"];
        assert_eq!(a.elapsed_ms, 65_000);
        assert_eq!(a.cpu_ms, 62_306);
        assert_eq!(a.max_rss, Some(96_860 * 1024));
        assert_eq!(a.cpus, 2);
        assert_eq!(a.mem, Some(4 << 30));
        assert_eq!(a.time_limit_s, Some(2 * 86_400));
        let b = &u["20"];
        assert_eq!(b.mem, Some(400 << 20), "per CPU times the CPUs");
        assert_eq!(b.max_rss, None);
        assert_eq!(b.time_limit_s, None);
        assert!((a.cpu_percent().unwrap() - 47.9).abs() < 0.1);
    }

    use super::*;

    #[test]
    fn parses_jobs_and_array_tasks() {
        let s = parse_squeue(
            "708|CANCELLED|DependencyNeverSatisfied\n120_4|RUNNING|None\n120_[5-9%4]|PENDING|JobArrayTaskLimit\nbad line\n",
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].job_id(), "708");
        assert!(s[0].is_final());
        assert_eq!(s[1].job_id(), "120");
        assert_eq!(s[1].array_task(), Some(4));
        assert!(!s[1].is_final());
        assert_eq!(s[2].array_task(), None);
        assert!(explain(&s[0]).contains("a job it depends on did not complete"));
    }

    #[test]
    fn parses_sacct_lines() {
        let s = parse_sacct("3762|FAILED\n3763|CANCELLED by 0\n120_4|COMPLETED\n\n");
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(SlurmJobStatus::is_final));
        assert_eq!(s[2].job_id(), "120");
        assert_eq!(s[2].array_task(), Some(4));
        assert!(explain(&s[0]).contains("job 3762 failed"));
    }

    #[test]
    fn maps_final_states() {
        assert_eq!(outcome("COMPLETED"), Some(SlurmOutcome::Completed));
        assert_eq!(outcome("OUT_OF_MEMORY"), Some(SlurmOutcome::OutOfMemory));
        assert_eq!(outcome("CANCELLED by 0"), Some(SlurmOutcome::Cancelled));
        assert_eq!(outcome("NODE_FAIL"), Some(SlurmOutcome::NodeFail));
        assert_eq!(outcome("TIMEOUT"), Some(SlurmOutcome::Timeout));
        assert_eq!(outcome("PENDING"), None);
        assert_eq!(outcome("COMPLETING"), None);
    }
}
