//! What an instance's cache key is made of, and the fingerprints that find a key without
//! working it out again.
//!
//! A key is the BLAKE3 hash of a [`KeyDoc`]: the command's words with every file standing
//! for its content digest and every output for its name, the environment, the inputs, the
//! params the task uses and the hash of the task's definition. Nothing about where the
//! instance runs (paths, resources, placement) is in it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use expc_check::ir;
use expc_plan::plan::Plan;

use crate::resolve::Outputs;

/// The document an instance's cache key is the BLAKE3 hash of. Its fields are written in
/// this (alphabetical) order, as a JSON object of them always was: changing a field, its
/// order or its form changes every key, and reruns every task of every existing store.
#[derive(serde::Serialize)]
pub(crate) struct KeyDoc<'a> {
    /// The command's words, files standing for their content (`{file:DIGEST}`) and
    /// outputs for their names (`{out:NAME}`).
    pub argv: &'a [Vec<String>],
    pub env: KeyEnv<'a>,
    /// Each input as it reaches the command.
    pub inputs: &'a BTreeMap<String, String>,
    /// `name=path` of each declared output.
    pub outputs: &'a [String],
    /// Params the task uses, by name.
    pub params: &'a BTreeMap<&'a str, String>,
    /// The hash of the task's definition.
    pub task: &'a str,
}

#[derive(serde::Serialize)]
pub(crate) struct KeyEnv<'a> {
    pub conda: &'a Option<String>,
    pub image: &'a Option<String>,
    pub modules: &'a [String],
    pub vars: &'a BTreeMap<String, String>,
}

/// The hash of a task's definition: its command, inputs, outputs and name (and module,
/// outside the root).
pub(crate) fn definition(program: &ir::Program, task: &ir::Task) -> String {
    let module = if task.module == program.root {
        ""
    } else {
        task.module.as_str()
    };
    blake3::hash(
        serde_json::to_string(&(
            &task.command,
            &task.inputs,
            &task.outputs,
            module,
            &task.name,
        ))
        .unwrap_or_default()
        .as_bytes(),
    )
    .to_hex()
    .to_string()
}

/// A digest of what every instance's key is made from outside its own inputs: `base`
/// (the spec, its imports and params, from the caller), each task's definition and the
/// declared data's digests. With [`fingerprint`] it says when an instance's key is the
/// one it had last time, without working the key out again.
pub(crate) fn run_fingerprint(
    base: &str,
    definitions: &HashMap<&str, String>,
    data: &HashMap<String, (PathBuf, String)>,
) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0");
    h.update(base.as_bytes());
    let definitions: BTreeMap<&str, &String> = definitions.iter().map(|(k, v)| (*k, v)).collect();
    for (task, d) in definitions {
        h.update(b"\0");
        h.update(task.as_bytes());
        h.update(b"=");
        h.update(d.as_bytes());
    }
    let data: BTreeMap<&String, &(PathBuf, String)> = data.iter().collect();
    for (id, (path, d)) in data {
        h.update(b"\0");
        h.update(id.as_bytes());
        h.update(b"=");
        h.update(path.as_os_str().as_encoded_bytes());
        h.update(b"@");
        h.update(d.as_bytes());
    }
    h.finalize()
}

/// An instance's fingerprint: the run's, the instance, and the digests of the outputs
/// of every instance it reads from. Equal fingerprints give equal keys.
pub(crate) fn fingerprint(
    plan: &Plan,
    run: &blake3::Hash,
    j: usize,
    index: u64,
    outputs: &Outputs,
) -> String {
    let job = &plan.jobs[j];
    // An order without data (`after`) reads nothing: it is in no fingerprint.
    if job.after.iter().all(|d| d.order_only) {
        // One hash of one buffer: most instances of a large sweep read nothing else.
        let mut buf = Vec::with_capacity(40 + job.key.len());
        buf.extend_from_slice(run.as_bytes());
        buf.extend_from_slice(job.key.as_bytes());
        buf.extend_from_slice(&index.to_le_bytes());
        return blake3::hash(&buf).to_hex()[..32].to_owned();
    }
    // Gathered into one buffer and hashed at once: a gather over a sweep of 10,000
    // reads 10,000 instances, and a hash update per field costs more than the hashing.
    let mut buf = Vec::with_capacity(64 + job.key.len());
    buf.extend_from_slice(run.as_bytes());
    buf.extend_from_slice(job.key.as_bytes());
    buf.extend_from_slice(&index.to_le_bytes());
    for dep in job.after.iter().filter(|d| !d.order_only) {
        let Some(p) = plan.position(&dep.job) else {
            continue;
        };
        buf.push(0);
        for k in expc_plan::dag::producers(plan, j, index, p, dep.relation) {
            match outputs.get(&(p, k)) {
                Some(files) => {
                    for (name, (_, digest)) in files.iter() {
                        buf.extend_from_slice(name.as_bytes());
                        buf.push(b'=');
                        buf.extend_from_slice(digest.as_bytes());
                        buf.push(b';');
                    }
                }
                None => buf.extend_from_slice(b"-;"),
            }
        }
    }
    // The same bytes the fields were once hashed one by one in: the same fingerprint.
    blake3::hash(&buf).to_hex()[..32].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The key document is written as the JSON object it was first made as, byte for
    /// byte: the keys of existing stores stay valid.
    #[test]
    fn key_documents_keep_their_form() {
        let argv = vec![
            vec!["touch".to_owned()],
            vec!["{out:out}".to_owned(), "a \"b\"\n".to_owned()],
        ];
        let vars = BTreeMap::from([("$x".to_owned(), "{file:00ff}".to_owned())]);
        let inputs = BTreeMap::from([
            ("i".to_owned(), "3".to_owned()),
            ("data".to_owned(), "{file:abcd}".to_owned()),
        ]);
        let params = BTreeMap::from([("lr", "0.1".to_owned())]);
        let outputs = vec!["out=out.txt".to_owned()];
        for (image, conda, modules) in [
            (None, None, vec![]),
            (
                Some("python:3.12".to_owned()),
                Some("env.yaml".to_owned()),
                vec!["gcc/13".to_owned(), "cuda".to_owned()],
            ),
        ] {
            let doc = KeyDoc {
                argv: &argv,
                env: KeyEnv {
                    conda: &conda,
                    image: &image,
                    modules: &modules,
                    vars: &vars,
                },
                inputs: &inputs,
                outputs: &outputs,
                params: &params,
                task: "f00d",
            };
            let first_form = json!({
                "task": "f00d",
                "argv": argv,
                "inputs": inputs,
                "params": params,
                "env": {
                    "image": image,
                    "modules": modules,
                    "conda": conda,
                    "vars": vars,
                },
                "outputs": outputs,
            });
            assert_eq!(
                serde_json::to_string(&doc).unwrap(),
                serde_json::to_string(&first_form).unwrap()
            );
        }
    }
}
