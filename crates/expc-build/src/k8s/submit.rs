//! `submit.sh` of a Kubernetes build, and the check of the Secret its Jobs read.

use std::collections::{BTreeMap, BTreeSet};

use expc_check::ir::Backend;
use expc_plan::plan::Plan;

use super::jobs::Built;
use crate::quote::quote;

/// The lines of a script that stop it, saying what to create, when a Secret the Jobs read
/// is missing: a pod whose Secret is missing never starts, so it would only time out.
pub(super) fn secret_check_lines(
    secret: &str,
    secret_keys: &BTreeMap<String, BTreeSet<String>>,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (ns, keys) in secret_keys {
        let _ = writeln!(
            s,
            "\n# The Secret the tasks' secret variables are read from (keys: {}).",
            keys.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        let _ = writeln!(
            s,
            "if ! kubectl get secret -n {} {} >/dev/null; then\n  echo \"submit.sh: create the Secret first: kubectl create secret generic -n {} {}{}\" >&2\n  exit 1\nfi",
            quote(ns),
            quote(secret),
            ns,
            secret,
            keys.iter()
                .map(|k| format!(" --from-literal={k}=…"))
                .collect::<String>()
        );
    }
    s
}

/// `submit.sh`: applies the wrapper, then each Job once the Jobs it reads have completed,
/// and waits for all of them; fails on the first Job that fails or times out.
pub(super) fn submit_script(
    plan: &Plan,
    built: &[Built],
    secret: &str,
    secret_keys: &BTreeMap<String, BTreeSet<String>>,
) -> String {
    use std::fmt::Write as _;
    let title = crate::cases::title(plan);
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/bash");
    let _ = writeln!(
        s,
        "# Submits the Kubernetes Jobs of {title} in dependency order: each Job is applied\n\
         # once the Jobs it reads have completed, then every Job is waited for.\n\
         # Written by `expc build --target k8s` from {}; rebuild rather than edit.\n\
         #\n\
         #   ./submit.sh\n\
         #\n\
         # Uses kubectl's current context (KUBECONFIG and the like apply). Each wait ends after\n\
         # EXPC_WAIT_TIMEOUT seconds when set, else after the Job's own deadline.",
        plan.root
    );
    let others: Vec<String> = crate::cases::other_jobs(plan, Backend::Kubernetes)
        .into_iter()
        .map(|o| format!("#   {o}"))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            s,
            "#\n# Jobs placed on other backends are not submitted here; their outputs must be in the\n# run volume (RUN_DIR/JOB/INDEX/) before the Jobs that read them start:"
        );
        for o in others {
            let _ = writeln!(s, "{o}");
        }
    }
    s.push_str(
        r#"set -euo pipefail

build_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! command -v kubectl >/dev/null 2>&1; then
  echo "submit.sh: kubectl is not on PATH; install it and select the cluster's context" >&2
  exit 2
fi
timeout_override=${EXPC_WAIT_TIMEOUT:-}
if [ -n "$timeout_override" ] && ! [[ $timeout_override =~ ^[0-9]+$ ]]; then
  echo "submit.sh: EXPC_WAIT_TIMEOUT must be a number of seconds, not '$timeout_override'" >&2
  exit 2
fi

# apply LABEL FILE: creates the objects of FILE (unchanged objects stay as they are).
apply() {
  if ! kubectl apply -f "$build_dir/$2"; then
    echo "submit.sh: kubectl apply failed for $1 ($2)" >&2
    exit 1
  fi
}

# wait_job LABEL NAMESPACE NAME SECONDS: waits until the Job has completed; fails loudly
# when it has failed or the time is up.
wait_job() {
  local label=$1 ns=$2 name=$3 limit=${timeout_override:-$4} failed
  local deadline=$((SECONDS + limit))
  echo "waiting for $label (job/$name in $ns, up to ${limit}s)"
  until kubectl wait --for=condition=complete --timeout=30s -n "$ns" "job/$name" >/dev/null 2>&1; do
    failed=$(kubectl get job -n "$ns" "$name" -o 'jsonpath={.status.conditions[?(@.type=="Failed")].status}' 2>/dev/null || true)
    if [ "$failed" = True ]; then
      echo "submit.sh: $label failed (job/$name in namespace $ns); see: kubectl describe job -n $ns $name; kubectl logs -n $ns job/$name" >&2
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "submit.sh: $label did not complete within ${limit}s (job/$name in namespace $ns); it is left running" >&2
      exit 1
    fi
  done
  echo "$label completed"
}
"#,
    );
    s.push_str(&secret_check_lines(secret, secret_keys));
    s.push_str("\napply wrapper expc-wrapper.yaml\n");
    let mut waited = vec![false; built.len()];
    let pos_of = |p: usize| {
        plan.jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.backend == Backend::Kubernetes)
            .position(|(i, _)| i == p)
    };
    for b in built {
        let _ = writeln!(s, "\n# {}: {}", b.label, b.file);
        for &p in &b.after {
            if let Some(u) = pos_of(p) {
                if !waited[u] {
                    waited[u] = true;
                    let d = &built[u];
                    let _ = writeln!(
                        s,
                        "wait_job {} {} {} {}",
                        quote(&d.label),
                        quote(&d.namespace),
                        d.name,
                        d.timeout
                    );
                }
            }
        }
        let _ = writeln!(s, "apply {} {}", quote(&b.label), b.file);
    }
    let rest: Vec<usize> = (0..built.len()).filter(|&u| !waited[u]).collect();
    if !rest.is_empty() {
        s.push_str("\n# The Jobs nothing here waits for yet.\n");
        for u in rest {
            let d = &built[u];
            let _ = writeln!(
                s,
                "wait_job {} {} {} {}",
                quote(&d.label),
                quote(&d.namespace),
                d.name,
                d.timeout
            );
        }
    }
    let _ = writeln!(s, "\necho \"submit.sh: {} job(s) completed\"", built.len());
    s
}
