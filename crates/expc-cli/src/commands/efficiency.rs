//! What instances used of what they asked, in words: the lines `expc run` ends with and
//! `expc runs show` prints, with a hint where requests are far off.

use std::collections::BTreeMap;

use expc_run::events::{Usage, bytes_text};

/// Below this share of what was asked, a request is far off.
const FAR_OFF_PERCENT: f64 = 25.0;

/// The summary of a run's measured instances, then one hint per call whose requests are
/// far off; nothing when none was measured.
pub fn summary(usage: &[(String, Usage)]) -> Vec<String> {
    if usage.is_empty() {
        return Vec::new();
    }
    let mut lines = Vec::new();
    let peak = usage
        .iter()
        .filter_map(|(name, u)| Some((name, u, u.mem_percent()?)))
        .max_by(|a, b| a.2.total_cmp(&b.2));
    let cpu_asked: f64 = usage
        .iter()
        .map(|(_, u)| u.elapsed_ms as f64 * f64::from(u.cpus))
        .sum();
    let cpu_used: f64 = usage.iter().map(|(_, u)| u.cpu_ms as f64).sum();
    let mut line = format!(
        "efficiency ({} instance{} measured by the cluster's accounting):",
        usage.len(),
        if usage.len() == 1 { "" } else { "s" }
    );
    if let Some((name, u, p)) = peak {
        line.push_str(&format!(
            " memory at most {p:.0} % of what was asked ({name}: {} of {});",
            bytes_text(u.max_rss.unwrap_or(0)),
            bytes_text(u.mem.unwrap_or(0))
        ));
    }
    if cpu_asked > 0.0 {
        line.push_str(&format!(
            " CPU {:.0} % of the time allocated",
            100.0 * cpu_used / cpu_asked
        ));
    }
    lines.push(line.trim_end_matches(';').to_owned());
    lines.extend(hints(usage));
    lines
}

/// A hint for each call all of whose instances used less than a quarter of the memory or
/// of the CPUs they asked.
pub fn hints(usage: &[(String, Usage)]) -> Vec<String> {
    let mut by_call: BTreeMap<&str, Vec<&Usage>> = BTreeMap::new();
    for (name, u) in usage {
        let call = name.split('[').next().unwrap_or(name);
        by_call.entry(call).or_default().push(u);
    }
    let mut hints = Vec::new();
    for (call, us) in by_call {
        let mem: Option<Vec<f64>> = us.iter().map(|u| u.mem_percent()).collect();
        if let Some(most) = mem.and_then(|m| m.into_iter().reduce(f64::max))
            && most < FAR_OFF_PERCENT
        {
            let used = us.iter().filter_map(|u| u.max_rss).max().unwrap_or(0);
            let asked = us.iter().filter_map(|u| u.mem).max().unwrap_or(0);
            hints.push(format!(
                "hint: `{call}` asked {} and used at most {} ({most:.0} %): ask for less (`resources {{ mem = … }}`) and its jobs start sooner",
                bytes_text(asked),
                bytes_text(used)
            ));
        }
        let cpu: Option<Vec<f64>> = us
            .iter()
            .filter(|u| u.cpus > 1)
            .map(|u| u.cpu_percent())
            .collect();
        if let Some(most) = cpu.and_then(|c| c.into_iter().reduce(f64::max))
            && most < FAR_OFF_PERCENT
        {
            let cpus = us.iter().map(|u| u.cpus).max().unwrap_or(0);
            hints.push(format!(
                "hint: `{call}` was given {cpus} CPUs and kept at most {:.1} busy ({most:.0} %): ask for fewer (`resources {{ cpus = … }}`), or check that it runs in parallel",
                f64::from(cpus) * most / 100.0
            ));
        }
    }
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(rss_mib: u64, mem_mib: u64, cpus: u32, cpu_ms: u64) -> Usage {
        Usage {
            elapsed_ms: 10_000,
            cpu_ms,
            max_rss: Some(rss_mib << 20),
            cpus,
            mem: Some(mem_mib << 20),
            time_limit_s: Some(600),
        }
    }

    #[test]
    fn far_off_requests_get_a_hint_and_close_ones_none() {
        let runs = vec![
            ("m[0]".to_owned(), usage(90, 1024, 4, 4_000)),
            ("m[1]".to_owned(), usage(100, 1024, 4, 5_000)),
            ("g".to_owned(), usage(900, 1024, 1, 9_000)),
        ];
        let lines = summary(&runs);
        assert!(lines[0].contains("3 instances"), "{lines:?}");
        assert!(
            lines[0].contains("memory at most 88 % of what was asked (g: 900 MiB of 1 GiB)"),
            "{lines:?}"
        );
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[1].contains("`m` asked 1 GiB and used at most 100 MiB (10 %)"),
            "{lines:?}"
        );
        assert!(
            lines[2].contains("`m` was given 4 CPUs and kept at most 0.5 busy"),
            "{lines:?}"
        );
        assert!(summary(&[]).is_empty());
    }
}
