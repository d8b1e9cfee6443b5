//! The volumes and mounts of a Kubernetes-placed job: expc's own (the wrapper, the argv
//! files, the run, provenance and spec folders) and those the resource declares, checked.

use std::collections::{BTreeMap, BTreeSet};

use expc_check::value::Value;
use expc_plan::plan::Job;

use super::manifest::{ConfigMapSource, HostPathSource, PvcSource, Volume, VolumeMount};
use super::names::{is_dns_label, is_dns_subdomain};
use super::{
    ARGV_DIR, ARGV_VOLUME, DEFAULT_RUN_CLAIM, DEFAULT_SPEC_CLAIM, PROV_DIR, PROV_VOLUME, RUN_DIR,
    RUN_VOLUME, SPEC_VOLUME, WRAPPER_DIR, WRAPPER_VOLUME, err, field, records,
};
use crate::BuildError;

/// Where the run, provenance and spec directories are inside the containers, and the
/// volumes of a resource.
#[derive(Clone, Debug)]
pub(super) struct Mounts {
    pub(super) run_dir: String,
    pub(super) prov_dir: String,
    pub(super) volumes: Vec<Volume>,
    pub(super) mounts: Vec<VolumeMount>,
}

pub(super) fn is_abs_path(p: &str) -> bool {
    p.starts_with('/') && !p.contains('\0') && !p.split('/').any(|c| c == "..")
}

/// The volumes of the resource `on`, with expc's own added, checked.
pub(super) fn mounts(job: &Job, spec_dir: &str) -> Result<Mounts, BuildError> {
    let on = &job.on;
    let (mut volumes, mut vmounts) = own_volumes();
    let (mut run_dir, mut prov_dir, mut spec_declared) = (None, None, false);
    for v in records(job.placement.get("volumes")) {
        let (vol, mount) = declared_volume(on, v)?;
        match vol.name.as_str() {
            RUN_VOLUME => run_dir = Some(mount.mount_path.clone()),
            PROV_VOLUME => prov_dir = Some(mount.mount_path.clone()),
            SPEC_VOLUME => spec_declared = true,
            _ => {}
        }
        volumes.push(vol);
        vmounts.push(mount);
    }
    if run_dir.is_none() {
        add_default_run_volume(&mut volumes, &mut vmounts);
    }
    if prov_dir.is_none() {
        // The provenance records go to their own mount of the run volume.
        vmounts.push(VolumeMount {
            name: RUN_VOLUME.into(),
            mount_path: PROV_DIR.into(),
            sub_path: Some("provenance".into()),
            read_only: false,
        });
    }
    add_spec_volume(on, spec_dir, spec_declared, &mut volumes, &mut vmounts)?;
    check_distinct(on, spec_dir, &volumes, &vmounts)?;
    Ok(Mounts {
        run_dir: run_dir.unwrap_or_else(|| RUN_DIR.into()),
        prov_dir: prov_dir.unwrap_or_else(|| PROV_DIR.into()),
        volumes,
        mounts: vmounts,
    })
}

/// The wrapper's and the argv files' volumes and their read-only mounts; their sources
/// (ConfigMaps) are set once the Job's name is known.
fn own_volumes() -> (Vec<Volume>, Vec<VolumeMount>) {
    let volumes = [WRAPPER_VOLUME, ARGV_VOLUME]
        .into_iter()
        .map(|name| Volume {
            name: name.into(),
            persistent_volume_claim: None,
            config_map: None,
            host_path: None,
        })
        .collect();
    let vmounts = [(WRAPPER_VOLUME, WRAPPER_DIR), (ARGV_VOLUME, ARGV_DIR)]
        .into_iter()
        .map(|(name, dir)| VolumeMount {
            name: name.into(),
            mount_path: dir.into(),
            sub_path: None,
            read_only: true,
        })
        .collect();
    (volumes, vmounts)
}

/// One volume the resource `on` declares (a record of its `volumes`) and its mount,
/// checked: a DNS-1123 name that is not one of expc's own, an absolute mount path and
/// exactly one source.
fn declared_volume(
    on: &str,
    v: &BTreeMap<String, Value>,
) -> Result<(Volume, VolumeMount), BuildError> {
    let name = field(v, "name").and_then(Value::as_str).unwrap_or("");
    let mount = field(v, "mount").and_then(Value::as_str).unwrap_or("");
    let read_only = matches!(field(v, "read_only"), Some(Value::Bool(true)));
    if !is_dns_label(name) {
        return Err(err(
            format!("`{on}` declares a volume named {name:?}, which is not a DNS-1123 label"),
            "name volumes with at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit",
        ));
    }
    if name == WRAPPER_VOLUME || name == ARGV_VOLUME {
        return Err(err(
            format!("`{on}` declares a volume named `{name}`, a name expc uses for its own"),
            "rename the volume",
        ));
    }
    if !is_abs_path(mount) {
        return Err(err(
            format!(
                "the volume `{name}` of `{on}` is mounted at {mount:?}, which is not an absolute path"
            ),
            "set `mount` to an absolute path without `..`",
        ));
    }
    let vol = volume_source(on, name, v, read_only)?;
    let vmount = VolumeMount {
        name: name.to_owned(),
        mount_path: mount.to_owned(),
        sub_path: None,
        read_only,
    };
    Ok((vol, vmount))
}

/// The volume `name` of `on` with its one source (`pvc`, `config_map` or `host_path`),
/// checked.
fn volume_source(
    on: &str,
    name: &str,
    v: &BTreeMap<String, Value>,
    read_only: bool,
) -> Result<Volume, BuildError> {
    let pvc = field(v, "pvc").and_then(Value::as_str);
    let cm = field(v, "config_map").and_then(Value::as_str);
    let host = field(v, "host_path").and_then(Value::as_str);
    let mut vol = Volume {
        name: name.to_owned(),
        persistent_volume_claim: None,
        config_map: None,
        host_path: None,
    };
    match (pvc, cm, host) {
        (Some(c), None, None) => {
            if !is_dns_subdomain(c) {
                return Err(err(
                    format!(
                        "the volume `{name}` of `{on}` names the claim {c:?}, which is not a valid object name"
                    ),
                    "give the name of a PersistentVolumeClaim of the namespace (lowercase letters, digits, `-` and `.`)",
                ));
            }
            vol.persistent_volume_claim = Some(PvcSource {
                claim_name: c.to_owned(),
                read_only,
            });
        }
        (None, Some(c), None) => {
            if !is_dns_subdomain(c) {
                return Err(err(
                    format!(
                        "the volume `{name}` of `{on}` names the ConfigMap {c:?}, which is not a valid object name"
                    ),
                    "give the name of a ConfigMap of the namespace (lowercase letters, digits, `-` and `.`)",
                ));
            }
            vol.config_map = Some(ConfigMapSource {
                name: c.to_owned(),
                default_mode: None,
            });
        }
        (None, None, Some(p)) => {
            if !is_abs_path(p) {
                return Err(err(
                    format!(
                        "the volume `{name}` of `{on}` has the host path {p:?}, which is not an absolute path"
                    ),
                    "set `host_path` to an absolute directory of the node",
                ));
            }
            vol.host_path = Some(HostPathSource {
                path: p.to_owned(),
                kind: "Directory",
            });
        }
        _ => {
            return Err(err(
                format!(
                    "the volume `{name}` of `{on}` must set exactly one of `pvc`, `config_map` and `host_path`"
                ),
                "keep one source for each volume",
            ));
        }
    }
    Ok(vol)
}

/// The run volume when the resource declares none: the default run claim at [`RUN_DIR`].
fn add_default_run_volume(volumes: &mut Vec<Volume>, vmounts: &mut Vec<VolumeMount>) {
    volumes.push(Volume {
        name: RUN_VOLUME.into(),
        persistent_volume_claim: Some(PvcSource {
            claim_name: DEFAULT_RUN_CLAIM.into(),
            read_only: false,
        }),
        config_map: None,
        host_path: None,
    });
    vmounts.push(VolumeMount {
        name: RUN_VOLUME.into(),
        mount_path: RUN_DIR.into(),
        sub_path: None,
        read_only: false,
    });
}

/// The spec folder: inside a declared volume, or the default spec claim mounted there.
/// Fails when the resource declares the spec volume but `spec_dir` is not under it.
fn add_spec_volume(
    on: &str,
    spec_dir: &str,
    spec_declared: bool,
    volumes: &mut Vec<Volume>,
    vmounts: &mut Vec<VolumeMount>,
) -> Result<(), BuildError> {
    let covered = vmounts.iter().any(|m| {
        spec_dir == m.mount_path
            || spec_dir.starts_with(&format!("{}/", m.mount_path.trim_end_matches('/')))
    });
    if covered {
        return Ok(());
    }
    if spec_declared {
        return Err(err(
            format!(
                "the spec folder {spec_dir:?} is not under the mount of the volume `{SPEC_VOLUME}` of `{on}`"
            ),
            "build with `--spec-dir` set to the folder of the spec inside the containers",
        ));
    }
    volumes.push(Volume {
        name: SPEC_VOLUME.into(),
        persistent_volume_claim: Some(PvcSource {
            claim_name: DEFAULT_SPEC_CLAIM.into(),
            read_only: true,
        }),
        config_map: None,
        host_path: None,
    });
    vmounts.push(VolumeMount {
        name: SPEC_VOLUME.into(),
        mount_path: spec_dir.to_owned(),
        sub_path: None,
        read_only: true,
    });
    Ok(())
}

/// Fails when two mounts share a path or two volumes a name.
fn check_distinct(
    on: &str,
    spec_dir: &str,
    volumes: &[Volume],
    vmounts: &[VolumeMount],
) -> Result<(), BuildError> {
    let mut seen = BTreeSet::new();
    for m in vmounts {
        if !seen.insert(m.mount_path.trim_end_matches('/').to_owned()) {
            return Err(err(
                format!("two volumes of `{on}` are mounted at {:?}", m.mount_path),
                format!(
                    "mount each volume at its own path; expc uses {WRAPPER_DIR}, {ARGV_DIR}, {RUN_DIR}, {PROV_DIR} and the spec folder {spec_dir}"
                ),
            ));
        }
    }
    let mut names = BTreeSet::new();
    for v in volumes {
        if !names.insert(v.name.clone()) {
            return Err(err(
                format!("`{on}` declares the volume `{}` twice", v.name),
                "give every volume its own name",
            ));
        }
    }
    Ok(())
}
