//! What a Slurm partition can ever give one job, read from the cluster when a run starts
//! (`scontrol show partition -o` and `sinfo -N`), so that a job that could never start —
//! more CPUs per task than any of its nodes has, more memory, more time than the partition
//! allows, GPUs where there are none — is refused before anything is submitted, with the
//! request and the limit side by side, instead of sitting PENDING for ever.

use std::collections::HashMap;

use expc_check::value::format_duration;

/// A partition's limits for one job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Partition {
    pub name: String,
    pub default: bool,
    /// The most CPUs of one node (capped by `MaxCPUsPerNode`).
    pub cpus: Option<u64>,
    /// The most memory of one node, in MiB (capped by `MaxMemPerNode`).
    pub mem_mib: Option<u64>,
    /// `MaxTime`, in milliseconds; `None` when unlimited.
    pub max_time_ms: Option<u64>,
    /// The most GPUs of one node (from its `gpu` gres).
    pub gpus: u64,
}

/// The partitions of `scontrol show partition -o`, with the node sizes of
/// `sinfo -h -N -o '%P|%c|%m|%G'`.
pub fn parse(scontrol: &str, sinfo: &str) -> HashMap<String, Partition> {
    let mut parts: HashMap<String, Partition> = HashMap::new();
    let mut caps: HashMap<String, (Option<u64>, Option<u64>)> = HashMap::new();
    for line in scontrol.lines() {
        let fields: HashMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        let Some(name) = fields.get("PartitionName") else {
            continue;
        };
        let number = |k: &str| fields.get(k).and_then(|v| v.parse::<u64>().ok());
        caps.insert(
            (*name).to_owned(),
            (number("MaxCPUsPerNode"), number("MaxMemPerNode")),
        );
        parts.insert(
            (*name).to_owned(),
            Partition {
                name: (*name).to_owned(),
                default: fields.get("Default") == Some(&"YES"),
                max_time_ms: fields.get("MaxTime").and_then(|t| parse_time(t)),
                ..Partition::default()
            },
        );
    }
    for line in sinfo.lines() {
        let f: Vec<&str> = line.trim().split('|').collect();
        let [name, cpus, mem, gres] = f.as_slice() else {
            continue;
        };
        let name = name.trim_end_matches('*');
        let Some(p) = parts.get_mut(name) else {
            continue;
        };
        if let Ok(c) = cpus.parse::<u64>() {
            p.cpus = Some(p.cpus.map_or(c, |x| x.max(c)));
        }
        if let Ok(m) = mem.trim_end_matches('+').parse::<u64>() {
            p.mem_mib = Some(p.mem_mib.map_or(m, |x| x.max(m)));
        }
        p.gpus = p.gpus.max(gpus_of(gres));
    }
    for (name, (max_cpus, max_mem)) in caps {
        if let Some(p) = parts.get_mut(&name) {
            if let Some(c) = max_cpus {
                p.cpus = Some(p.cpus.map_or(c, |x| x.min(c)));
            }
            if let Some(m) = max_mem {
                p.mem_mib = Some(p.mem_mib.map_or(m, |x| x.min(m)));
            }
        }
    }
    parts
}

/// The GPUs of a gres list: `gpu:4`, `gpu:a100:2(S:0-1)`, `gpu:2,shard:8` → 4, 2, 2.
fn gpus_of(gres: &str) -> u64 {
    gres.split(',')
        .filter(|g| g.starts_with("gpu"))
        .filter_map(|g| {
            let count = g.split('(').next()?.rsplit(':').next()?;
            count.parse::<u64>().ok()
        })
        .sum()
}

/// A Slurm time limit in milliseconds: `UNLIMITED`/`INFINITE` → `None`; `MM`, `MM:SS`,
/// `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`.
pub fn parse_time(text: &str) -> Option<u64> {
    if matches!(text, "UNLIMITED" | "INFINITE" | "NONE") {
        return None;
    }
    let (days, rest) = match text.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, text),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let secs = match (text.contains('-'), parts.as_slice()) {
        (false, [m]) => m * 60,
        (false, [m, s]) => m * 60 + s,
        (_, [h, m, s]) => h * 3600 + m * 60 + s,
        (true, [h]) => h * 3600,
        (true, [h, m]) => h * 3600 + m * 60,
        _ => return None,
    };
    Some((days * 86_400 + secs) * 1000)
}

/// What one job asks of a node: CPUs per task, memory (MiB), wall time (ms), GPUs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ask {
    pub cpus: u64,
    pub mem_mib: Option<u64>,
    pub time_ms: Option<u64>,
    pub gpus: u64,
}

/// Why `ask` can never start on `p`, one line per limit it passes; empty when it can.
pub fn never_fits(ask: &Ask, p: &Partition) -> Vec<String> {
    let mut why = Vec::new();
    let name = &p.name;
    if let Some(cpus) = p.cpus.filter(|&c| ask.cpus > c) {
        why.push(format!(
            "asks for {} CPUs per task; the largest node of partition `{name}` has {cpus}",
            ask.cpus
        ));
    }
    if let (Some(mem), Some(have)) = (ask.mem_mib, p.mem_mib) {
        if mem > have {
            why.push(format!(
                "asks for {mem} MiB of memory; the largest node of partition `{name}` has {have} MiB"
            ));
        }
    }
    if let (Some(t), Some(max)) = (ask.time_ms, p.max_time_ms) {
        if t > max {
            why.push(format!(
                "asks for a wall time of {}; partition `{name}` allows at most {}",
                format_duration(t),
                format_duration(max)
            ));
        }
    }
    if ask.gpus > p.gpus {
        why.push(format!(
            "asks for {} GPUs; the nodes of partition `{name}` have {}",
            ask.gpus, p.gpus
        ));
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCONTROL: &str = "PartitionName=debug Default=YES MaxTime=UNLIMITED MaxCPUsPerNode=UNLIMITED MaxMemPerNode=UNLIMITED State=UP\n\
PartitionName=short Default=NO MaxTime=01:00:00 MaxCPUsPerNode=8 MaxMemPerNode=UNLIMITED State=UP\n\
PartitionName=gpu Default=NO MaxTime=2-00:00:00 MaxCPUsPerNode=UNLIMITED MaxMemPerNode=64000 State=UP\n";
    const SINFO: &str = "debug*|2|24105|(null)\nshort|32|128000|(null)\ngpu|64|256000|gpu:a100:4(S:0-1)\ngpu|64|256000|gpu:a100:2\n";

    #[test]
    fn partitions_take_their_largest_node_capped_by_their_limits() {
        let p = parse(SCONTROL, SINFO);
        assert_eq!(p["debug"].cpus, Some(2));
        assert!(p["debug"].default);
        assert_eq!(p["debug"].max_time_ms, None);
        assert_eq!(p["short"].cpus, Some(8));
        assert_eq!(p["short"].max_time_ms, Some(3_600_000));
        assert_eq!(p["gpu"].mem_mib, Some(64000));
        assert_eq!(p["gpu"].gpus, 4);
        assert_eq!(p["gpu"].max_time_ms, Some(2 * 86_400_000));
    }

    #[test]
    fn a_job_larger_than_any_node_never_fits() {
        let p = parse(SCONTROL, SINFO);
        let ask = Ask {
            cpus: 27,
            mem_mib: Some(1000),
            time_ms: Some(7_200_000),
            gpus: 1,
        };
        let why = never_fits(&ask, &p["short"]);
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].contains("27 CPUs") && why[0].contains("has 8"));
        assert!(
            never_fits(
                &Ask {
                    cpus: 2,
                    ..Ask::default()
                },
                &p["debug"]
            )
            .is_empty()
        );
    }

    #[test]
    fn slurm_times_are_read() {
        assert_eq!(parse_time("30"), Some(1_800_000));
        assert_eq!(parse_time("10:30"), Some(630_000));
        assert_eq!(parse_time("1-02"), Some(93_600_000));
        assert_eq!(parse_time("INFINITE"), None);
        assert_eq!(parse_time("x"), None);
    }
}
