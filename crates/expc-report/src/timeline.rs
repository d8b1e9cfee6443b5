//! The timeline of task executions: one lane per host and backend, split into as many
//! rows as tasks overlapped there, so concurrent tasks never hide each other.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::TaskRow;

#[derive(Debug, Serialize)]
pub struct Timeline {
    /// Row names, top to bottom: `host · backend` and, when tasks overlapped, `#2`, ….
    pub lanes: Vec<String>,
    /// Executions: instances that ran or failed, with both times recorded.
    pub bars: Vec<Bar>,
}

#[derive(Debug, Serialize)]
pub struct Bar {
    /// Index into the run's tasks.
    pub task: usize,
    pub lane: usize,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Timeline {
    pub fn build(tasks: &[TaskRow]) -> Timeline {
        // (host, backend) -> executions (task, start, end).
        type Lane = (String, String);
        let mut groups: BTreeMap<Lane, Vec<(usize, i64, i64)>> = BTreeMap::new();
        for (i, t) in tasks.iter().enumerate() {
            if !matches!(t.status.as_str(), "ran" | "failed") {
                continue;
            }
            let (Some(s), Some(e)) = (t.start_ms, t.end_ms) else {
                continue;
            };
            let host = t.host.clone().unwrap_or_else(|| "unknown host".into());
            groups
                .entry((host, t.backend.clone()))
                .or_default()
                .push((i, s, e.max(s)));
        }
        let mut lanes = Vec::new();
        let mut bars = Vec::new();
        for ((host, backend), mut runs) in groups {
            runs.sort_by_key(|&(i, s, _)| (s, i));
            // Greedy interval colouring: each execution takes the first row free at its
            // start.
            let mut row_ends: Vec<i64> = Vec::new();
            let first = lanes.len();
            for (task, s, e) in runs {
                let row = match row_ends.iter().position(|&end| end <= s) {
                    Some(r) => r,
                    None => {
                        row_ends.push(0);
                        row_ends.len() - 1
                    }
                };
                row_ends[row] = e;
                bars.push(Bar {
                    task,
                    lane: first + row,
                    start_ms: s,
                    end_ms: e,
                });
            }
            for r in 0..row_ends.len() {
                lanes.push(if r == 0 {
                    format!("{host} · {backend}")
                } else {
                    format!("{host} · {backend} #{}", r + 1)
                });
            }
        }
        Timeline { lanes, bars }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: &str, host: &str, start: i64, end: i64) -> TaskRow {
        TaskRow {
            id: 0,
            instance: "t[0]".into(),
            call: "t".into(),
            task: "train".into(),
            index: 0,
            status: status.into(),
            start_ms: Some(start),
            end_ms: Some(end),
            host: Some(host.into()),
            backend: "local".into(),
            resource: "here".into(),
            exit_code: Some(0),
            attempts: 1,
            job_id: None,
            message: None,
            argv: Vec::new(),
            values: Vec::new(),
            metrics: Vec::new(),
            efficiency: None,
            stdout: None,
            stderr: None,
        }
    }

    #[test]
    fn overlapping_executions_get_rows_of_their_own() {
        let tasks = vec![
            task("ran", "a", 0, 10),
            task("ran", "a", 5, 15),
            task("ran", "a", 10, 20),
            task("cached", "a", 0, 0),
            task("failed", "b", 3, 4),
        ];
        let t = Timeline::build(&tasks);
        assert_eq!(t.lanes, ["a · local", "a · local #2", "b · local"]);
        let lanes: Vec<(usize, usize)> = t.bars.iter().map(|b| (b.task, b.lane)).collect();
        // The third starts when the first ends, so it reuses the first row.
        assert_eq!(lanes, [(0, 0), (1, 1), (2, 0), (4, 2)]);
    }
}
