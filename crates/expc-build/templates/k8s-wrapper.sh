#!/bin/bash
# expc's wrapper for Kubernetes Jobs (bash and coreutils only): runs one instance of a job
# from the files of its argv ConfigMap, mounted at $1, and records provenance as the Slurm
# hook does (JSON lines in PROV_DIR/JOB/INDEX.jsonl, format: docs/kubernetes.md).
#
# Every value arrives NUL-separated in a file and is read with `mapfile -d ''`, so no value
# is ever parsed by a shell or expanded by Kubernetes:
#   job:   format, experiment, job key, job id, directory name, RUN_DIR, PROV_DIR,
#          attempts, backoff seconds, number of outputs N, N output names, N output files
#   INDEX: instance id, number of variables V, V NAME=value words, the argv words
# The instance is $JOB_COMPLETION_INDEX (set by Kubernetes in an Indexed Job), else 0;
# with an `indices` file, the instance that file lists at that position.
set -u -o pipefail

if [ $# -ne 1 ]; then
  echo "expc: usage: expc-wrapper.sh ARGV_DIR" >&2
  exit 2
fi
argv_dir=$1
idx=${JOB_COMPLETION_INDEX:-0}
# `expc run` submits the instances of a job that are ready, some at a time: completion
# index I of such a Job is then the I-th instance listed, NUL-separated, in `indices`.
if [ -r "$argv_dir/indices" ] && [[ $idx =~ ^[0-9]+$ ]]; then
  mapfile -d '' -t listed <"$argv_dir/indices"
  idx=${listed[$idx]:-none}
fi
if ! [[ $idx =~ ^[0-9]+$ ]] || [ ! -r "$argv_dir/$idx" ] || [ ! -r "$argv_dir/job" ]; then
  echo "expc: no instance $idx in $argv_dir" >&2
  exit 2
fi
mapfile -d '' -t meta <"$argv_dir/job"
if [ "${meta[0]:-}" != expc-k8s-1 ] || [ ${#meta[@]} -lt 10 ]; then
  echo "expc: $argv_dir/job is not an argv file of this wrapper (format ${meta[0]:-none})" >&2
  exit 2
fi
experiment=${meta[1]}
job=${meta[2]}
job_id=${meta[3]}
dir=${meta[4]}
run_dir=${meta[5]}
prov_dir=${meta[6]}
attempts=${meta[7]}
backoff=${meta[8]}
n_out=${meta[9]}
out_names=("${meta[@]:10:n_out}")
out_files=("${meta[@]:10+n_out:n_out}")

mapfile -d '' -t inst <"$argv_dir/$idx"
instance_id=${inst[0]}
n_vars=${inst[1]}
vars=("${inst[@]:2:n_vars}")
argv=("${inst[@]:2+n_vars}")
work="$run_dir/$dir/$idx"

# The environment: the task's variables; secrets are already in the container's own.
expc_setup() {
  if [ ${#vars[@]} -gt 0 ]; then
    export "${vars[@]}"
  fi
}
# The container is the environment: the argv runs as it is.
launcher=()

