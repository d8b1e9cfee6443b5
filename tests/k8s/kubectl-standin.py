#!/usr/bin/env python3
"""A stand-in for `kubectl` and a one-node cluster, for expc's tests of `expc run` on
Kubernetes resources: no API server can run on the machines expc is tested on.

It answers the calls `expc run` makes — `apply -f`, `get jobs -l … -o json`,
`get secret … -o json`, `logs -l …`, `delete jobs` — and runs each applied Job's pods as
processes here, the way a kubelet would: ConfigMap volumes are written to a folder and
their mount paths rewritten in the container's command and args, `hostPath` volumes are
seen at their own path (the pod sees this machine's files; the tests mount them there), Secrets are given by
`secretKeyRef`, every completion index runs with `JOB_COMPLETION_INDEX` and is retried up
to `backoffLimitPerIndex` times. The image is not pulled: the wrapper and the argv run
with this machine's bash. Every object applied is first validated with
`kubernetes_validate` (strict, Kubernetes 1.33; scripts/install-k8s-validators.sh), as
the API server would refuse an invalid one.

State lives in $EXPC_STANDIN_DIR; every call is appended to calls.log there.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time

STATE = os.environ.get("EXPC_STANDIN_DIR")


def fail(msg, code=1):
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.exit(code)


def path(*parts):
    return os.path.join(STATE, *parts)


def write_json(p, value):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    tmp = p + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, p)


def read_json(p, default=None):
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def opt(args, name, default=None):
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a[len(name) + 1 :]
    return default


def positional(args):
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-n", "-l", "-o", "-f", "--tail", "--namespace", "--selector"):
            skip = True
            continue
        if a.startswith("-"):
            continue
        out.append(a)
    return out


def compress(indices):
    parts, i = [], 0
    indices = sorted(indices)
    while i < len(indices):
        start = end = indices[i]
        while i + 1 < len(indices) and indices[i + 1] == end + 1:
            i += 1
            end = indices[i]
        parts.append(str(start) if start == end else f"{start}-{end}")
        i += 1
    return ",".join(parts)


def matches(labels, selector):
    """Equality terms (`k=v`) and existence terms (`k`), as kubectl's `-l`."""
    for term in selector.split(","):
        if not term:
            continue
        k, eq, v = term.partition("=")
        if not eq:
            if k not in labels:
                return False
        elif labels.get(k) != v:
            return False
    return True


def apply(args):
    import yaml

    file = opt(args, "-f")
    if not file:
        fail("error: must specify -f")
    with open(file) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    import kubernetes_validate

    for d in docs:
        try:
            kubernetes_validate.validate(d, "1.33.0", strict=True)
        except Exception as e:  # the API server's refusal
            fail(f'The {d.get("kind")} "{d["metadata"]["name"]}" is invalid: {e}')
    for d in docs:
        kind, meta = d["kind"], d["metadata"]
        ns, name = meta.get("namespace", "default"), meta["name"]
        if kind == "ConfigMap":
            write_json(path("configmaps", ns, name + ".json"), d)
            print(f"configmap/{name} configured")
        elif kind == "Job":
            p = path("jobs", ns, name + ".json")
            if os.path.exists(p):
                print(f"job.batch/{name} unchanged")
                continue
            for v in d["spec"]["template"]["spec"].get("volumes", []):
                cm = v.get("configMap")
                if cm and not os.path.exists(path("configmaps", ns, cm["name"] + ".json")):
                    # A real cluster would leave the pod pending; the tests want to know.
                    fail(f'error: the ConfigMap "{cm["name"]}" the Job {name} mounts does not exist')
            write_json(p, d)
            write_json(path("status", ns, name + ".json"), {})
            log = open(path("runner-" + name + ".log"), "w")
            proc = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "_run", ns, name],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            with open(path("status", ns, name + ".pid"), "w") as f:
                f.write(str(proc.pid))
            print(f"job.batch/{name} created")
        else:
            fail(f"error: the stand-in does not hold {kind} objects")


def run_pod(ns, name, job, index, attempt):
    """One pod of completion index `index`: its exit status."""
    spec = job["spec"]["template"]["spec"]
    c = spec["containers"][0]
    pod = path("pods", f"{name}-{index}-{attempt}")
    rewrite = {}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        v = volumes.get(m["name"])
        if v is None:
            return 125, f"the mount {m['mountPath']} names no volume of the pod\n"
        if "configMap" in v:
            cm = read_json(path("configmaps", ns, v["configMap"]["name"] + ".json"))
            d = os.path.join(pod, v["name"])
            os.makedirs(d, exist_ok=True)
            for k, text in (cm.get("data") or {}).items():
                with open(os.path.join(d, k), "w") as f:
                    f.write(text)
            for k, b in (cm.get("binaryData") or {}).items():
                with open(os.path.join(d, k), "wb") as f:
                    f.write(base64.b64decode(b))
            rewrite[m["mountPath"]] = d
        elif "hostPath" in v:
            # The pod sees this machine's files: a hostPath is only where it is mounted
            # when that is its own path. Another mount of it (the provenance sub-path the
            # manifests also make) is not visible to the pod.
            pass
        else:
            return 125, f"the stand-in cannot mount the volume {v['name']} (only configMap and hostPath)\n"

    def mapped(word):
        for mount, d in rewrite.items():
            if word == mount or word.startswith(mount + "/"):
                return d + word[len(mount):]
        return word

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOSTNAME": f"{name}-{index}"}
    env["JOB_COMPLETION_INDEX"] = str(index)
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            secret = read_json(path("secrets", ns, ref["name"] + ".json"), {})
            value = (secret.get("data") or {}).get(ref["key"])
            if value is None:
                return 125, f"secret {ref['name']} has no key {ref['key']}\n"
            env[e["name"]] = base64.b64decode(value).decode()
        else:
            env[e["name"]] = e.get("value", "")
    argv = [mapped(w) for w in c["command"] + c.get("args", [])]
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def runner(ns, name):
    job = read_json(path("jobs", ns, name + ".json"))
    spec = job["spec"]
    n = spec.get("completions", 1)
    retries = spec.get("backoffLimitPerIndex", spec.get("backoffLimit", 0))
    done, failed = [], []
    for index in range(n):
        for attempt in range(retries + 1):
            code, log = run_pod(ns, name, job, index, attempt)
            with open(path("logs", f"{name}-{index}.log"), "a") as f:
                f.write(log)
            if code == 0:
                done.append(index)
                break
        else:
            failed.append(index)
        write_json(path("status", ns, name + ".json"), {"completed": done, "failed": failed})
    status = {"completed": done, "failed": failed, "finished": True}
    write_json(path("status", ns, name + ".json"), status)


def get(args):
    what = positional(args)
    ns = opt(args, "-n", "default")
    if what[:1] == ["secret"]:
        s = read_json(path("secrets", ns, what[1] + ".json"))
        if s is None:
            fail(f'Error from server (NotFound): secrets "{what[1]}" not found')
        print(json.dumps(s))
        return
    if what[:1] != ["jobs"]:
        fail(f"error: the stand-in does not answer get {what}")
    selector = opt(args, "-l", "")
    items = []
    d = path("jobs", ns)
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if not f.endswith(".json"):
            continue
        job = read_json(os.path.join(d, f))
        if not matches(job["metadata"].get("labels", {}), selector):
            continue
        st = read_json(path("status", ns, f), {})
        status = {}
        if st.get("completed"):
            status["completedIndexes"] = compress(st["completed"])
        if st.get("failed"):
            status["failedIndexes"] = compress(st["failed"])
        if st.get("finished"):
            if st.get("failed"):
                status["conditions"] = [{"type": "Failed", "status": "True", "reason": "FailedIndexes", "message": "Job has failed indexes"}]
            else:
                status["conditions"] = [{"type": "Complete", "status": "True"}]
        items.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": job["metadata"], "status": status})
    print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


def logs(args):
    selector = dict(t.split("=", 1) for t in opt(args, "-l", "").split(","))
    name = selector.get("job-name")
    index = selector.get("batch.kubernetes.io/job-completion-index", "0")
    try:
        with open(path("logs", f"{name}-{index}.log")) as f:
            lines = f.read().splitlines()
    except OSError:
        fail(f"No resources found in {opt(args, '-n', 'default')} namespace.")
    tail = int(opt(args, "--tail", "-1"))
    for line in lines[-tail:] if tail >= 0 else lines:
        print(f"[pod/{name}-{index}/task] {line}" if "--prefix" in args else line)


def delete(args):
    ns = opt(args, "-n", "default")
    what = positional(args)
    for name in what[1:]:
        pid = path("status", ns, name + ".pid")
        try:
            with open(pid) as f:
                os.killpg(int(f.read()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
        for p in (path("jobs", ns, name + ".json"), path("status", ns, name + ".json")):
            if os.path.exists(p):
                os.remove(p)
        print(f'job.batch "{name}" deleted')


def main():
    if not STATE:
        fail("the kubectl stand-in needs EXPC_STANDIN_DIR")
    args = sys.argv[1:]
    if args[:1] == ["_run"]:
        runner(args[1], args[2])
        return
    for d in ("jobs", "configmaps", "status", "logs", "pods", "secrets"):
        os.makedirs(path(d), exist_ok=True)
    with open(path("calls.log"), "a") as f:
        f.write(json.dumps(args) + "\n")
    verb = args[0] if args else ""
    if verb == "apply":
        apply(args[1:])
    elif verb == "get":
        get(args[1:])
    elif verb == "logs":
        logs(args[1:])
    elif verb == "delete":
        delete(args[1:])
    else:
        fail(f"error: the stand-in does not answer `kubectl {' '.join(args)}`")


if __name__ == "__main__":
    main()
