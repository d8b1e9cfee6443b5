//! The pod's requests, limits and scheduling fields, from the task's resources and the
//! resource's placement, checked against the site's limits.

use std::collections::BTreeMap;

use expc_check::value::{Value, format_duration, format_memory};
use expc_plan::plan::Job;

use super::manifest::{ResourceRequirements, Toleration};
use super::names::{is_label_value, is_qualified_name};
use super::{enum_name, err, field, quantity, records};
use crate::BuildError;

/// The container's requests and limits, checked against the site's limits.
pub(super) fn resources(
    job: &Job,
    limits: &BTreeMap<String, Value>,
) -> Result<ResourceRequirements, BuildError> {
    let (key, on) = (&job.key, &job.on);
    let over = |what: String, limit: String, help: &str| {
        err(
            format!("`{key}` {what}, more than `{on}` allows ({limit})"),
            help,
        )
    };
    let mut r = ResourceRequirements::default();
    let cpus = job.resources.cpus;
    let cpu = quantity::cpu(cpus).ok_or_else(|| {
        err(
            format!("`{key}` asks for {cpus} CPUs, which is not a whole number of millicores"),
            "set `cpus` in the task's `resources` to a positive multiple of 0.001",
        )
    })?;
    if let Some(max) = limits.get("max_cpus_per_node").and_then(Value::as_f64) {
        if cpus > max {
            return Err(over(
                format!("asks for {cpus} CPUs"),
                format!("max_cpus_per_node = {max}"),
                "lower `cpus` in the task's `resources`, or place it on a resource whose site allows more",
            ));
        }
    }
    r.requests.insert("cpu".into(), cpu.clone());
    r.limits.insert("cpu".into(), cpu);
    if let Some(bytes) = job.resources.mem_bytes {
        if bytes == 0 {
            return Err(err(
                format!("`{key}` asks for no memory"),
                "set `mem` in the task's `resources` to more than 0",
            ));
        }
        if let Some(Value::Memory(max)) = limits.get("max_mem_per_node") {
            if bytes > *max {
                return Err(over(
                    format!("asks for {} of memory", format_memory(bytes)),
                    format!("max_mem_per_node = {}", format_memory(*max)),
                    "lower `mem` in the task's `resources`, or place it on a resource whose site allows more",
                ));
            }
        }
        let q = quantity::memory(bytes);
        r.requests.insert("memory".into(), q.clone());
        r.limits.insert("memory".into(), q);
    }
    let gpus = job.resources.gpus;
    if gpus < 0 {
        return Err(err(
            format!("`{key}` asks for {gpus} GPUs"),
            "`gpus` must be 0 or more",
        ));
    }
    if gpus > 0 {
        if let Some(max) = limits.get("max_gpus_per_node").and_then(Value::as_int) {
            if gpus > max {
                return Err(over(
                    format!("asks for {gpus} GPUs"),
                    format!("max_gpus_per_node = {max}"),
                    "lower `gpus` in the task's `resources`",
                ));
            }
        }
        let name = job
            .placement
            .get("gpu_resource")
            .and_then(Value::as_str)
            .unwrap_or("nvidia.com/gpu");
        if !is_qualified_name(name) || !name.contains('/') || name.starts_with("kubernetes.io/") {
            return Err(err(
                format!("the gpu_resource {name:?} of `{on}` is not an extended resource name"),
                "write it as DOMAIN/NAME, for example \"nvidia.com/gpu\" or \"amd.com/gpu\"",
            ));
        }
        // Extended resources are set as limits; Kubernetes requests as many.
        r.limits.insert(name.to_owned(), gpus.to_string());
    }
    if let (Some(ms), Some(Value::Duration(max))) = (job.resources.time_ms, limits.get("max_time"))
    {
        if ms > *max {
            return Err(over(
                format!("asks for a wall time of {}", format_duration(ms)),
                format!("max_time = {}", format_duration(*max)),
                "lower `time` in the task's `resources`, or split the work",
            ));
        }
    }
    Ok(r)
}

/// The pod's scheduling fields from the resource: node selector and tolerations.
pub(super) fn scheduling(
    job: &Job,
) -> Result<(BTreeMap<String, String>, Vec<Toleration>), BuildError> {
    let on = &job.on;
    let mut selector = BTreeMap::new();
    for l in records(job.placement.get("node_selector")) {
        let k = field(l, "key").and_then(Value::as_str).unwrap_or("");
        let v = field(l, "value").and_then(Value::as_str).unwrap_or("");
        if !is_qualified_name(k) || !is_label_value(v) {
            return Err(err(
                format!("the node selector {k:?} = {v:?} of `{on}` is not a valid label"),
                "label keys are [PREFIX/]NAME and values at most 63 letters, digits, `-`, `_` and `.`, as the nodes carry them",
            ));
        }
        if selector.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(err(
                format!("the node selector of `{on}` sets {k:?} twice"),
                "keep one value for each label",
            ));
        }
    }
    let mut tolerations = Vec::new();
    for t in records(job.placement.get("tolerations")) {
        let key = field(t, "key").and_then(Value::as_str).map(str::to_owned);
        let operator = field(t, "operator")
            .and_then(enum_name)
            .unwrap_or("Equal")
            .to_owned();
        let value = field(t, "value").and_then(Value::as_str).map(str::to_owned);
        let effect = field(t, "effect").and_then(enum_name).map(str::to_owned);
        if let Some(k) = &key {
            if !is_qualified_name(k) {
                return Err(err(
                    format!("the toleration key {k:?} of `{on}` is not a valid taint key"),
                    "write it as [PREFIX/]NAME, as the nodes' taints do",
                ));
            }
        }
        if operator == "Exists" && value.is_some() {
            return Err(err(
                format!("a toleration of `{on}` has operator `Exists` and a value"),
                "remove `value`, or use `operator = Equal`",
            ));
        }
        if key.is_none() && operator != "Exists" {
            return Err(err(
                format!("a toleration of `{on}` has no key but operator `{operator}`"),
                "set `key`, or use `operator = Exists` to tolerate every taint",
            ));
        }
        if let Some(v) = &value {
            if !is_label_value(v) {
                return Err(err(
                    format!("the toleration value {v:?} of `{on}` is not a valid taint value"),
                    "taint values are at most 63 letters, digits, `-`, `_` and `.`",
                ));
            }
        }
        tolerations.push(Toleration {
            key,
            operator,
            value,
            effect,
        });
    }
    Ok((selector, tolerations))
}

/// The resource's field `name` as a whole number, 0 or more; `None` when unset.
pub(super) fn positive_int(job: &Job, name: &str) -> Result<Option<u64>, BuildError> {
    match job.placement.get(name) {
        None | Some(Value::None) => Ok(None),
        Some(Value::Int(n)) if *n >= 0 => Ok(Some(*n as u64)),
        Some(v) => Err(err(
            format!("`{}` sets {name} = {v}", job.on),
            format!("`{name}` must be a whole number, 0 or more"),
        )),
    }
}
