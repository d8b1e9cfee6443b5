//! The registry in a run's PROV-JSON: each model version the run was first to register, as
//! an entity derived from the file it is, and each change of its stage, as an activity
//! that used it, associated with the user who made it, at the time it was made.

use serde_json::{Map, Value as Json, json};

use crate::store::{Result, Store};

/// Adds to `doc` (the run's PROV-JSON) the versions run `run` registered first and the
/// history of their stages.
pub fn add_to_prov(store: &Store, run: &str, doc: &mut Json) -> Result<()> {
    if !super::has_registry(store)? {
        return Ok(());
    }
    let mut stmt = store.conn.prepare(
        "SELECT v.name, v.version, v.digest, a.id
         FROM model_versions v
         LEFT JOIN artifacts a ON a.run_id = v.run_id AND a.produced_by = v.task_id AND a.name = v.output
         WHERE v.run_id = ?1 ORDER BY v.name, v.version",
    )?;
    let versions = stmt
        .query_map([run], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut n = 0;
    for (name, version, digest, artifact) in versions {
        let entity = format!("expc:registry/{}/{version}", local(&name));
        add(
            doc,
            "entity",
            &entity,
            json!({
                "prov:type": qualified("expc:ModelVersion"),
                "prov:label": format!("{name}@{version}"),
                "expc:name": name, "expc:version": version, "expc:digest": digest,
            }),
        );
        if let Some(a) = artifact {
            n += 1;
            add(
                doc,
                "wasDerivedFrom",
                &format!("_:registry{n}"),
                json!({
                    "prov:generatedEntity": entity, "prov:usedEntity": format!("run:artifact-{a}"),
                }),
            );
        }
        let mut changes = store.conn.prepare(
            "SELECT seq, stage, user, at, reason FROM model_stages WHERE name = ?1 AND digest = ?2 ORDER BY seq",
        )?;
        let rows = changes
            .query_map(rusqlite::params![name, digest], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (seq, stage, user, at, reason) in rows {
            let activity = format!("expc:registry/{}/{version}/stage-{seq}", local(&name));
            let mut attrs = json!({
                "prov:type": qualified("expc:StageChange"),
                "prov:label": format!("{name}@{version} to {stage}"),
                "prov:startTime": at, "prov:endTime": at, "expc:stage": stage,
            });
            if let Some(r) = reason {
                attrs["expc:reason"] = json!(r);
            }
            add(doc, "activity", &activity, attrs);
            n += 1;
            add(
                doc,
                "used",
                &format!("_:registry{n}"),
                json!({
                    "prov:activity": activity, "prov:entity": entity, "prov:time": at,
                }),
            );
            let agent = format!("expc:user/{}", local(user.as_deref().unwrap_or("unknown")));
            add(
                doc,
                "agent",
                &agent,
                json!({
                    "prov:type": qualified("prov:Person"),
                    "prov:label": user.unwrap_or_else(|| "unknown".into()),
                }),
            );
            n += 1;
            add(
                doc,
                "wasAssociatedWith",
                &format!("_:registry{n}"),
                json!({
                    "prov:activity": activity, "prov:agent": agent,
                }),
            );
        }
    }
    Ok(())
}

fn add(doc: &mut Json, kind: &str, id: &str, attrs: Json) {
    let Some(doc) = doc.as_object_mut() else {
        return;
    };
    let kind = doc.entry(kind).or_insert_with(|| Json::Object(Map::new()));
    if let Some(kind) = kind.as_object_mut() {
        kind.insert(id.to_owned(), attrs);
    }
}

fn qualified(q: &str) -> Json {
    json!({ "$": q, "type": "prov:QUALIFIED_NAME" })
}

/// A name made safe for the local part of a qualified name.
fn local(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
