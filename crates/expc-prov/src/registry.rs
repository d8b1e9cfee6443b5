//! The model registry: the models runs registered (`register t.model as "nowcaster"`),
//! numbered per name by content, their scores (the metrics of the instance that made a
//! version and of those that evaluated it), and their stages with the history of every
//! change (`expc models promote`).

use std::fmt;

mod prov;
pub use prov::add_to_prov;

use rusqlite::{OptionalExtension, params};
use serde_json::Value as Json;

use crate::query::{Table, sql};
use crate::store::{Error, Result, Store};

/// The stages a version can be in; `none` until it is first promoted.
pub const STAGES: &[&str] = &["none", "staging", "production", "archived"];

/// `NAME` or `NAME@VERSION`, as `expc models show` and `promote` take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    pub name: String,
    pub version: Option<i64>,
}

impl VersionRef {
    pub fn parse(text: &str) -> Result<VersionRef> {
        let (name, version) = match text.split_once('@') {
            Some((n, v)) => {
                let v = v.parse::<i64>().ok().filter(|v| *v >= 1).ok_or_else(|| {
                    Error(format!(
                        "`{text}`: a version is a number from 1 (`{n}@3`), as `expc models` lists them"
                    ))
                })?;
                (n, Some(v))
            }
            None => (text, None),
        };
        Ok(VersionRef {
            name: name.to_owned(),
            version,
        })
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub name: String,
    pub version: i64,
    pub digest: String,
    pub path: String,
    pub ty: Option<String>,
    pub run: String,
    pub task: i64,
    pub instance: String,
    pub output: String,
    pub registered_at: String,
    pub stage: String,
}

/// Whether the store has the registry's tables (a store of an older expc, read without
/// being migrated, has none: its registry is empty).
fn has_registry(store: &Store) -> Result<bool> {
    let found: Option<i64> = store
        .conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE name = 'model_versions'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.is_some())
}

/// Every version of every registered model, by name and version, with its stage and its
/// scores (`metric=value`, the evaluating instance's name before an evaluation's).
pub fn list(store: &Store) -> Result<Table> {
    store.fetch_all()?;
    if !has_registry(store)? {
        return Ok(Table::default());
    }
    sql(
        store,
        "SELECT v.name, v.version, s.stage, substr(v.digest, 1, 12) AS digest, v.run_id AS run,
                v.instance,
                (SELECT group_concat(x.shown, ' ') FROM (
                   SELECT DISTINCT CASE m.source WHEN 'trained' THEN m.metric ELSE m.instance || '.' || m.metric END
                          || '=' || printf('%g', m.value) AS shown
                   FROM model_metrics m WHERE m.name = v.name AND m.digest = v.digest
                   ORDER BY m.source DESC, m.instance, m.metric, m.value) x) AS metrics
         FROM model_versions v
         JOIN model_stage s ON s.name = v.name AND s.digest = v.digest
         ORDER BY v.name, v.version",
        &[],
    )
}

/// The version `r` names (its latest when it names none). An unknown name or version is
/// an error that says what the registry holds.
pub fn version(store: &Store, r: &VersionRef) -> Result<Version> {
    store.fetch_all()?;
    let versions = versions_of(store, &r.name)?;
    if versions.is_empty() {
        let names = names(store)?;
        let held = if names.is_empty() {
            "the registry holds no model yet: `register t.model as \"NAME\"` in a pipeline adds one when it runs".to_owned()
        } else {
            format!("the registry holds {}", quoted_list(&names))
        };
        return Err(Error(format!(
            "no model `{}` in the registry: {held}",
            r.name
        )));
    }
    let found = match r.version {
        Some(v) => versions.iter().find(|x| x.version == v),
        None => versions.last(),
    };
    found.cloned().ok_or_else(|| {
        let numbers: Vec<String> = versions.iter().map(|v| v.version.to_string()).collect();
        Error(format!(
            "`{}` has no version {}: its versions are {}",
            r.name,
            r.version.unwrap_or_default(),
            numbers.join(", ")
        ))
    })
}

/// The registered names, in order.
pub fn names(store: &Store) -> Result<Vec<String>> {
    if !has_registry(store)? {
        return Ok(Vec::new());
    }
    let mut stmt = store
        .conn
        .prepare("SELECT DISTINCT name FROM model_versions ORDER BY name")?;
    let names = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(names)
}

/// Every version of `name`, oldest first.
pub fn versions_of(store: &Store, name: &str) -> Result<Vec<Version>> {
    if !has_registry(store)? {
        return Ok(Vec::new());
    }
    let mut stmt = store.conn.prepare(
        "SELECT v.name, v.version, v.digest, v.path, v.type, v.run_id, v.task_id, v.instance,
                v.output, v.registered_at, s.stage
         FROM model_versions v JOIN model_stage s ON s.name = v.name AND s.digest = v.digest
         WHERE v.name = ?1 ORDER BY v.version",
    )?;
    let rows = stmt
        .query_map([name], |r| {
            Ok(Version {
                name: r.get(0)?,
                version: r.get(1)?,
                digest: r.get(2)?,
                path: r.get(3)?,
                ty: r.get(4)?,
                run: r.get(5)?,
                task: r.get(6)?,
                instance: r.get(7)?,
                output: r.get(8)?,
                registered_at: r.get(9)?,
                stage: r.get(10)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// What `expc models show` prints of a version: its lineage (the run, its code and
/// params, the instance, what it read), its scores and its stage history.
pub fn show(store: &Store, v: &Version) -> Result<Vec<(String, Table)>> {
    let key = |k: &str, val: Json| vec![Json::from(k), val];
    let run = sql(
        store,
        "SELECT experiment, spec_path, spec_hash, git_commit, git_dirty, user, started_at FROM runs WHERE id = ?1",
        &[&v.run],
    )?;
    let mut about = vec![
        key("name", v.name.clone().into()),
        key("version", v.version.into()),
        key("stage", v.stage.clone().into()),
        key("digest", v.digest.clone().into()),
        key("type", v.ty.clone().into()),
        key("path", v.path.clone().into()),
        key("run", v.run.clone().into()),
        key("instance", v.instance.clone().into()),
        key("output", v.output.clone().into()),
        key("registered_at", v.registered_at.clone().into()),
    ];
    if let Some(row) = run.rows.first() {
        for (c, val) in run.columns.iter().zip(row) {
            about.push(key(c, val.clone()));
        }
    }
    let about = Table {
        columns: vec!["field".into(), "value".into()],
        rows: about,
    };
    let inputs = sql(
        store,
        "SELECT name, value FROM task_inputs WHERE run_id = ?1 AND task_id = ?2 ORDER BY name",
        &[&v.run, &v.task],
    )?;
    let params = sql(
        store,
        "SELECT name, value FROM params WHERE run_id = ?1 ORDER BY name",
        &[&v.run],
    )?;
    let read = sql(
        store,
        "SELECT input, COALESCE(artifact, path) AS file, digest, used_as FROM task_reads
         WHERE run_id = ?1 AND task_id = ?2 ORDER BY input, path",
        &[&v.run, &v.task],
    )?;
    let metrics = sql(
        store,
        "SELECT source, run_id AS run, instance, metric, value FROM model_metrics
         WHERE name = ?1 AND digest = ?2 ORDER BY source DESC, run_id, instance, metric",
        &[&v.name, &v.digest],
    )?;
    let stages = sql(
        store,
        "SELECT at, stage, user, reason FROM model_stages WHERE name = ?1 AND digest = ?2 ORDER BY seq",
        &[&v.name, &v.digest],
    )?;
    Ok(vec![
        ("version".into(), about),
        ("instance inputs".into(), inputs),
        ("run params".into(), params),
        ("read".into(), read),
        ("metrics".into(), metrics),
        ("stage history".into(), stages),
    ])
}

/// A stage change to record.
#[derive(Debug, Clone)]
pub struct StageChange<'a> {
    pub stage: &'a str,
    pub user: Option<String>,
    pub reason: Option<&'a str>,
    /// RFC 3339, UTC.
    pub at: String,
}

/// Moves version `r` (which must name one) to a stage, recording who, when and why.
/// Returns the version as it was before.
pub fn set_stage(store: &Store, r: &VersionRef, change: &StageChange<'_>) -> Result<Version> {
    if store.is_shared() {
        return Err(Error(
            "stages are changed in the embedded store: run `expc models promote` without `--store`"
                .into(),
        ));
    }
    if !STAGES.contains(&change.stage) {
        return Err(Error(format!(
            "`{}` is not a stage: the stages are {}",
            change.stage,
            quoted_list(&STAGES.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        )));
    }
    if r.version.is_none() {
        return Err(Error(format!(
            "say which version of `{}` to move: `{}@VERSION` (`expc models` lists them)",
            r.name, r.name
        )));
    }
    let v = version(store, r)?;
    store.conn.execute(
        "INSERT INTO model_stages (name, digest, stage, user, at, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![v.name, v.digest, change.stage, change.user, change.at, change.reason],
    )?;
    Ok(v)
}

/// The user stage changes are recorded under.
pub fn current_user() -> Option<String> {
    crate::meta::user()
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every registered version with its stage and scores, for choosing models when a spec is
/// planned (`registry.best(…)`): each version's file is the object named by its digest
/// in `objects`, which a later run's outputs do not replace.
pub fn held(
    store: &Store,
    objects: &std::path::Path,
) -> Result<Vec<expc_check::registry::RegistryVersion>> {
    store.fetch_all()?;
    if !has_registry(store)? {
        return Ok(Vec::new());
    }
    let mut stmt = store.conn.prepare(
        "SELECT v.name, v.version, v.digest, s.stage FROM model_versions v
         JOIN model_stage s ON s.name = v.name AND s.digest = v.digest
         ORDER BY v.name, v.version",
    )?;
    let mut versions = stmt
        .query_map([], |r| {
            let digest: String = r.get(2)?;
            let dir = digest.get(..2).unwrap_or_default().to_owned();
            Ok(expc_check::registry::RegistryVersion {
                name: r.get(0)?,
                version: r.get(1)?,
                path: objects
                    .join(dir)
                    .join(&digest)
                    .to_string_lossy()
                    .into_owned(),
                digest,
                stage: r.get(3)?,
                metrics: Default::default(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = store.conn.prepare(
        "SELECT name, digest, metric, value FROM model_metrics ORDER BY run_id, instance, metric",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, f64>(3)?,
        ))
    })?;
    for row in rows {
        let (name, digest, metric, value) = row?;
        if let Some(v) = versions
            .iter_mut()
            .find(|v| v.name == name && v.digest == digest)
        {
            v.metrics.entry(metric).or_default().push(value);
        }
    }
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::VersionRef;

    #[test]
    fn version_refs_are_a_name_and_an_optional_number() {
        assert_eq!(
            VersionRef::parse("nowcaster@3").unwrap(),
            VersionRef {
                name: "nowcaster".into(),
                version: Some(3)
            }
        );
        assert_eq!(VersionRef::parse("nowcaster").unwrap().version, None);
        assert!(VersionRef::parse("nowcaster@0").is_err());
        assert!(VersionRef::parse("nowcaster@x").is_err());
    }
}
