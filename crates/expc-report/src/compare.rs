//! The table behind the parallel-coordinates plot: one row per task instance that wrote
//! metrics (or, when none did, per instance of a sweep), across every run of the report;
//! one axis per param that differs between the runs, per sweep value and per metric.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value as Json;

use crate::model::RunDetail;

#[derive(Debug, Serialize)]
pub struct Compare {
    pub axes: Vec<Axis>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct Axis {
    pub name: String,
    /// `param`, `value` (a sweep point's value) or `metric`.
    pub kind: &'static str,
    /// The distinct values, sorted, when some value is not a number; empty otherwise.
    pub categories: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    /// Indices into the report's runs and that run's tasks.
    pub run: usize,
    pub task: usize,
    /// One value per axis: a number, a string (a category) or null.
    pub values: Vec<Json>,
}

/// A JSON value as an axis coordinate: numbers stay numbers, text stays text, anything
/// else is written out.
fn coordinate(v: &Json) -> Json {
    match v {
        Json::Number(_) | Json::String(_) | Json::Null => v.clone(),
        Json::Bool(b) => Json::String(b.to_string()),
        other => Json::String(other.to_string()),
    }
}

/// A task value (stored as text) as a coordinate: a number when it reads as one.
fn value_coordinate(text: &str) -> Json {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        _ => Json::String(text.trim_matches('"').to_owned()),
    }
}

impl Compare {
    pub fn build(runs: &[RunDetail]) -> Option<Compare> {
        let with_metrics = runs
            .iter()
            .flat_map(|r| &r.tasks)
            .any(|t| !t.metrics.is_empty());
        let mut picked: Vec<(usize, usize)> = Vec::new();
        for (ri, run) in runs.iter().enumerate() {
            for (ti, t) in run.tasks.iter().enumerate() {
                let keep = if with_metrics {
                    !t.metrics.is_empty()
                } else {
                    !t.values.is_empty()
                };
                if keep {
                    picked.push((ri, ti));
                }
            }
        }
        if picked.len() < 2 {
            return None;
        }

        let mut axes: Vec<Axis> = Vec::new();
        let mut columns: Vec<Vec<Json>> = Vec::new();
        // Params that differ between runs.
        let param_names: BTreeSet<&str> = runs
            .iter()
            .flat_map(|r| r.params.iter().map(|(n, _, _)| n.as_str()))
            .collect();
        for name in param_names {
            let per_run: Vec<Json> = runs
                .iter()
                .map(|r| {
                    r.params
                        .iter()
                        .find(|(n, _, _)| n == name)
                        .map_or(Json::Null, |(_, _, v)| coordinate(v))
                })
                .collect();
            if per_run.iter().all(|v| *v == per_run[0]) {
                continue;
            }
            axes.push(axis(name, "param"));
            columns.push(picked.iter().map(|&(r, _)| per_run[r].clone()).collect());
        }
        // Sweep values, then metrics, in order of first appearance.
        let mut value_names: Vec<&str> = Vec::new();
        let mut metric_names: Vec<&str> = Vec::new();
        for &(r, t) in &picked {
            let task = &runs[r].tasks[t];
            for (n, _) in &task.values {
                if !value_names.contains(&n.as_str()) {
                    value_names.push(n);
                }
            }
            for (n, _) in &task.metrics {
                if !metric_names.contains(&n.as_str()) {
                    metric_names.push(n);
                }
            }
        }
        let mut constant: Vec<usize> = Vec::new();
        for name in value_names {
            let column: Vec<Json> = picked
                .iter()
                .map(|&(r, t)| {
                    runs[r].tasks[t]
                        .values
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or(Json::Null, |(_, v)| value_coordinate(v))
                })
                .collect();
            if column.iter().all(|v| *v == column[0]) {
                constant.push(axes.len());
            }
            axes.push(axis(name, "value"));
            columns.push(column);
        }
        for name in metric_names {
            axes.push(axis(name, "metric"));
            columns.push(
                picked
                    .iter()
                    .map(|&(r, t)| {
                        runs[r].tasks[t]
                            .metrics
                            .iter()
                            .find(|(n, _)| n == name)
                            .and_then(|(_, v)| serde_json::Number::from_f64(*v))
                            .map_or(Json::Null, Json::Number)
                    })
                    .collect(),
            );
        }
        // A value that is the same for every instance says nothing; drop it unless the
        // plot would be left with fewer than two axes.
        if axes.len() - constant.len() >= 2 {
            for &i in constant.iter().rev() {
                axes.remove(i);
                columns.remove(i);
            }
        }
        if axes.len() < 2 {
            return None;
        }
        for (axis, column) in axes.iter_mut().zip(&columns) {
            if column.iter().any(|v| v.is_string()) {
                let cats: BTreeSet<String> = column
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| match v {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                axis.categories = cats.into_iter().collect();
            }
        }
        let rows = picked
            .iter()
            .enumerate()
            .map(|(i, &(run, task))| Row {
                run,
                task,
                values: columns
                    .iter()
                    .zip(&axes)
                    .map(|(c, a)| match &c[i] {
                        Json::Number(n) if !a.categories.is_empty() => Json::String(n.to_string()),
                        v => v.clone(),
                    })
                    .collect(),
            })
            .collect();
        Some(Compare { axes, rows })
    }
}

fn axis(name: &str, kind: &'static str) -> Axis {
    Axis {
        name: name.to_owned(),
        kind,
        categories: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::dag::Dag;
    use crate::model::TaskRow;
    use crate::timeline::Timeline;

    fn task(values: &[(&str, &str)], metrics: &[(&str, f64)]) -> TaskRow {
        TaskRow {
            id: 0,
            instance: "t[0]".into(),
            call: "t".into(),
            task: "train".into(),
            index: 0,
            status: "ran".into(),
            start_ms: None,
            end_ms: None,
            host: None,
            backend: "local".into(),
            resource: "here".into(),
            exit_code: Some(0),
            attempts: 1,
            job_id: None,
            message: None,
            argv: Vec::new(),
            values: values
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            metrics: metrics.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            efficiency: None,
            stdout: None,
            stderr: None,
        }
    }

    fn run(params: &[(&str, Json)], tasks: Vec<TaskRow>) -> RunDetail {
        RunDetail {
            summary: BTreeMap::new(),
            duration_ms: None,
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), "Float".into(), v.clone()))
                .collect(),
            tasks,
            dag: Dag {
                nodes: Vec::new(),
                edges: Vec::new(),
            },
            timeline: Timeline {
                lanes: Vec::new(),
                bars: Vec::new(),
            },
        }
    }

    #[test]
    fn differing_params_values_and_metrics_become_axes() {
        let runs = [
            run(
                &[("lr", json!(0.1)), ("epochs", json!(5))],
                vec![
                    task(&[("seed", "0"), ("mode", "\"fast\"")], &[("loss", 1.0)]),
                    task(&[("seed", "1"), ("mode", "\"fast\"")], &[("loss", 2.0)]),
                    task(&[("seed", "1")], &[]),
                ],
            ),
            run(
                &[("lr", json!(0.2)), ("epochs", json!(5))],
                vec![task(
                    &[("seed", "0"), ("mode", "\"slow\"")],
                    &[("loss", 3.0)],
                )],
            ),
        ];
        let c = Compare::build(&runs).unwrap();
        let names: Vec<&str> = c.axes.iter().map(|a| a.name.as_str()).collect();
        // `epochs` is the same in both runs; the task without metrics is no row.
        assert_eq!(names, ["lr", "seed", "mode", "loss"]);
        assert_eq!(c.axes[2].categories, ["fast", "slow"]);
        assert_eq!(c.rows.len(), 3);
        assert_eq!(
            c.rows[2].values,
            [json!(0.2), json!(0.0), json!("slow"), json!(3.0)]
        );
    }

    #[test]
    fn one_instance_is_no_comparison() {
        let runs = [run(&[], vec![task(&[("seed", "0")], &[("loss", 1.0)])])];
        assert!(Compare::build(&runs).is_none());
    }
}
