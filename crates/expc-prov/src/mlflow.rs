//! `expc prov push --mlflow URL`: the runs of the store and the model registry, sent to an
//! MLflow tracking server over its REST API.
//!
//! Each ended run becomes an MLflow run of the experiment named after its spec's
//! `experiment` (else `expc`), tagged `expc.run_id` (and, per instance that measured
//! something, `expc.instance.NAME`): its params, and its instances' metrics as
//! `INSTANCE.METRIC` (`e.1.val_mse` for `e[1]`). Each registered version becomes a model
//! version of the registered model of the same name, its source the expc run's MLflow run
//! (`runs:/ID/expc/INSTANCE/OUTPUT`), its bytes by reference (tag `expc.path`, the store's
//! object) and by digest (tag `expc.digest`); its stage the registry's.
//!
//! Pushing is idempotent: a run is found by its `expc.run_id` tag and a version by its
//! `expc.digest` tag before anything is created. A run is marked `expc.pushed = complete`
//! only once its params and metrics are all sent, so a push cut short is completed by the
//! next one, which sends them again (the same values) before marking it.

mod client;

use serde_json::{Value as Json, json};

use crate::store::{Error, Result, Store};
use client::Client;

/// What a push sent, and what was there already.
#[derive(Debug, Default)]
pub struct Pushed {
    pub runs_sent: usize,
    pub runs_already: usize,
    pub versions_sent: usize,
    pub versions_already: usize,
}

/// Most params, metrics and tags MLflow takes in one `runs/log-batch`.
const BATCH_PARAMS: usize = 100;
const BATCH_METRICS: usize = 1000;
const BATCH_TAGS: usize = 100;

/// Sends the store's ended runs and its registry to the tracking server at `url`.
pub fn push(store: &Store, url: &str) -> Result<Pushed> {
    let client = Client::new(url)?;
    let mut pushed = Pushed::default();
    let mut runs = Vec::new();
    {
        let mut stmt = store.conn.prepare(
            "SELECT id, COALESCE(experiment, 'expc'), status, started_at, ended_at, spec_hash
             FROM runs WHERE status != 'running' ORDER BY started_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RunRow {
                id: r.get(0)?,
                experiment: r.get(1)?,
                status: r.get(2)?,
                started_at: r.get(3)?,
                ended_at: r.get(4)?,
                spec_hash: r.get(5)?,
            })
        })?;
        for row in rows {
            runs.push(row?);
        }
    }
    for run in &runs {
        let experiment = experiment_id(&client, &run.experiment)?;
        match find_run(&client, &experiment, &run.id)? {
            Some((_, true)) => pushed.runs_already += 1,
            found => {
                let mlflow_run = match found {
                    Some((id, _)) => id,
                    None => create_run(&client, &experiment, run)?,
                };
                send_run(&client, store, run, &mlflow_run)?;
                pushed.runs_sent += 1;
            }
        }
    }
    push_registry(&client, store, &mut pushed)?;
    Ok(pushed)
}

struct RunRow {
    id: String,
    experiment: String,
    status: String,
    started_at: String,
    ended_at: Option<String>,
    spec_hash: String,
}

/// The id of the MLflow experiment `name`, made when missing.
fn experiment_id(client: &Client, name: &str) -> Result<String> {
    if let Ok(found) = client.get("experiments/get-by-name", &[("experiment_name", name)])? {
        if let Some(id) = found["experiment"]["experiment_id"].as_str() {
            return Ok(id.to_owned());
        }
    }
    let made = client.must_post("experiments/create", &json!({ "name": name }))?;
    made["experiment_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error(format!("MLflow made the experiment `{name}` without an id")))
}

/// The MLflow run tagged with expc run `id`, and whether it was sent whole.
fn find_run(client: &Client, experiment: &str, id: &str) -> Result<Option<(String, bool)>> {
    let found = client.must_post(
        "runs/search",
        &json!({
            "experiment_ids": [experiment],
            "filter": format!("tags.`expc.run_id` = '{id}'"),
            "max_results": 1,
        }),
    )?;
    let Some(run) = found["runs"].as_array().and_then(|r| r.first()) else {
        return Ok(None);
    };
    let run_id = run["info"]["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let complete = run["data"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["key"] == "expc.pushed" && t["value"] == "complete");
    Ok(Some((run_id, complete)))
}

fn create_run(client: &Client, experiment: &str, run: &RunRow) -> Result<String> {
    let made = client.must_post(
        "runs/create",
        &json!({
            "experiment_id": experiment,
            "run_name": run.id,
            "start_time": crate::time::parse_ms(&run.started_at).unwrap_or(0),
            "tags": [
                { "key": "expc.run_id", "value": run.id },
                { "key": "expc.spec_hash", "value": run.spec_hash },
                { "key": "expc.pushed", "value": "partial" },
            ],
        }),
    )?;
    made["run"]["info"]["run_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error(format!("MLflow made a run for `{}` without an id", run.id)))
}

/// The run's params, metrics and instance tags, then its end and `expc.pushed = complete`.
fn send_run(client: &Client, store: &Store, run: &RunRow, mlflow_run: &str) -> Result<()> {
    let at = run
        .ended_at
        .as_deref()
        .and_then(crate::time::parse_ms)
        .unwrap_or(0);
    let params = rows(
        store,
        "SELECT name, value FROM params WHERE run_id = ?1 ORDER BY name",
        &run.id,
    )?
    .into_iter()
    .map(|(k, v)| json!({ "key": k, "value": unquoted(&v) }))
    .collect::<Vec<_>>();
    let mut metrics = Vec::new();
    let mut tags = Vec::new();
    let mut stmt = store.conn.prepare(
        "SELECT instance, task_id, name, value FROM task_metrics WHERE run_id = ?1 ORDER BY task_id, name",
    )?;
    let found = stmt.query_map([&run.id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, f64>(3)?,
        ))
    })?;
    for row in found {
        let (instance, task, name, value) = row?;
        let key = metric_key(&instance);
        metrics.push(
            json!({ "key": format!("{key}.{name}"), "value": value, "timestamp": at, "step": 0 }),
        );
        let tag = json!({ "key": format!("expc.instance.{key}"), "value": format!("{}/{task} {instance}", run.id) });
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    for chunk in params.chunks(BATCH_PARAMS) {
        log_batch(client, mlflow_run, json!({ "params": chunk }))?;
    }
    for chunk in metrics.chunks(BATCH_METRICS) {
        log_batch(client, mlflow_run, json!({ "metrics": chunk }))?;
    }
    for chunk in tags.chunks(BATCH_TAGS) {
        log_batch(client, mlflow_run, json!({ "tags": chunk }))?;
    }
    let status = if run.status == "succeeded" {
        "FINISHED"
    } else {
        "FAILED"
    };
    client.must_post(
        "runs/update",
        &json!({ "run_id": mlflow_run, "status": status, "end_time": at }),
    )?;
    client.must_post(
        "runs/set-tag",
        &json!({ "run_id": mlflow_run, "key": "expc.pushed", "value": "complete" }),
    )?;
    Ok(())
}

fn log_batch(client: &Client, run: &str, mut body: Json) -> Result<()> {
    body["run_id"] = json!(run);
    client.must_post("runs/log-batch", &body).map(|_| ())
}

/// An instance's name as a part of a metric key MLflow accepts: `e[1]` as `e.1`.
fn metric_key(instance: &str) -> String {
    instance
        .chars()
        .filter_map(|c| match c {
            '[' => Some('.'),
            ']' => None,
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ' ') => Some(c),
            _ => Some('_'),
        })
        .collect()
}

/// A param's JSON value as MLflow shows it: a string without its quotes.
fn unquoted(v: &str) -> String {
    match serde_json::from_str::<Json>(v) {
        Ok(Json::String(s)) => s,
        _ => v.to_owned(),
    }
}

fn rows(store: &Store, sql: &str, arg: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = store.conn.prepare(sql)?;
    let rows = stmt
        .query_map([arg], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Every registered version, as a model version of the registered model of its name.
fn push_registry(client: &Client, store: &Store, pushed: &mut Pushed) -> Result<()> {
    let dir = store.path.parent().unwrap_or(std::path::Path::new("."));
    let objects = std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .join("objects");
    let held = crate::registry::held(store, &objects)?;
    let mut experiments = std::collections::HashMap::new();
    for v in &held {
        ensure_registered_model(client, &v.name)?;
        let existing = find_version(client, &v.name, &v.digest)?;
        let (number, stage) = match existing {
            Some(found) => {
                pushed.versions_already += 1;
                found
            }
            None => {
                let made = create_version(client, store, v, &mut experiments)?;
                pushed.versions_sent += 1;
                (made, "None".to_owned())
            }
        };
        let wanted = mlflow_stage(&v.stage);
        if stage != wanted {
            client.must_post(
                "model-versions/transition-stage",
                &json!({ "name": v.name, "version": number, "stage": wanted, "archive_existing_versions": false }),
            )?;
        }
    }
    Ok(())
}

fn ensure_registered_model(client: &Client, name: &str) -> Result<()> {
    if client
        .get("registered-models/get", &[("name", name)])?
        .is_ok()
    {
        return Ok(());
    }
    match client.post("registered-models/create", &json!({ "name": name }))? {
        Ok(_) => Ok(()),
        // Made by another push meanwhile.
        Err(r) if r.code == "RESOURCE_ALREADY_EXISTS" => Ok(()),
        Err(r) => Err(client.refused("registered-models/create", &r)),
    }
}

/// The MLflow version (number and stage) of `name` tagged with `digest`, if pushed before.
fn find_version(client: &Client, name: &str, digest: &str) -> Result<Option<(String, String)>> {
    let filter = format!("name = '{}'", name.replace('\'', "''"));
    let found = client.must_get(
        "model-versions/search",
        &[("filter", filter.as_str()), ("max_results", "1000")],
    )?;
    let versions = found["model_versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(versions.iter().find_map(|mv| {
        let tagged = mv["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["key"] == "expc.digest" && t["value"] == digest);
        tagged.then(|| {
            (
                mv["version"].as_str().unwrap_or_default().to_owned(),
                mv["current_stage"].as_str().unwrap_or("None").to_owned(),
            )
        })
    }))
}

fn create_version(
    client: &Client,
    store: &Store,
    v: &expc_check::registry::RegistryVersion,
    experiments: &mut std::collections::HashMap<String, String>,
) -> Result<String> {
    let (run, experiment, instance, output): (String, String, String, String) =
        store.conn.query_row(
            "SELECT m.run_id, COALESCE(r.experiment, 'expc'), m.instance, m.output
         FROM model_versions m JOIN runs r ON r.id = m.run_id WHERE m.name = ?1 AND m.digest = ?2",
            [&v.name, &v.digest],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
    let experiment_id = match experiments.get(&experiment) {
        Some(id) => id.clone(),
        None => {
            let id = experiment_id(client, &experiment)?;
            experiments.insert(experiment.clone(), id.clone());
            id
        }
    };
    let mlflow_run = find_run(client, &experiment_id, &run)?.map(|(id, _)| id);
    let source = match &mlflow_run {
        Some(id) => format!("runs:/{id}/expc/{}/{output}", metric_key(&instance)),
        None => format!("expc:{run}/{instance}/{output}"),
    };
    let mut body = json!({
        "name": v.name,
        "source": source,
        "description": format!("expc {}@{}: {instance}.{output} of run {run}", v.name, v.version),
        "tags": [
            { "key": "expc.digest", "value": v.digest },
            { "key": "expc.version", "value": v.version.to_string() },
            { "key": "expc.run_id", "value": run },
            { "key": "expc.instance", "value": instance },
            { "key": "expc.path", "value": v.path },
        ],
    });
    if let Some(id) = mlflow_run {
        body["run_id"] = json!(id);
    }
    let made = client.must_post("model-versions/create", &body)?;
    Ok(made["model_version"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// The registry's stage as MLflow names it.
fn mlflow_stage(stage: &str) -> String {
    match stage {
        "staging" => "Staging",
        "production" => "Production",
        "archived" => "Archived",
        _ => "None",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::{metric_key, mlflow_stage, unquoted};

    #[test]
    fn instance_names_become_metric_keys_mlflow_accepts() {
        assert_eq!(metric_key("e[12]"), "e.12");
        assert_eq!(metric_key("train"), "train");
        assert_eq!(metric_key("t#2"), "t_2");
    }

    #[test]
    fn stages_and_params_read_as_mlflow_shows_them() {
        assert_eq!(mlflow_stage("production"), "Production");
        assert_eq!(mlflow_stage("none"), "None");
        assert_eq!(unquoted("\"a b\""), "a b");
        assert_eq!(unquoted("0.5"), "0.5");
    }
}
