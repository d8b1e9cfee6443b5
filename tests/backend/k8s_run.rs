//! `expc run` on Kubernetes resources, through the real binary.
//!
//! No API server can run on the machines expc is tested on, so `kubectl` is a stand-in
//! (`k8s/kubectl-standin.py`): it validates every object applied with
//! `kubernetes-validate --strict` as an API server would refuse an invalid one, and runs
//! each Job's pods as processes here with the real wrapper and argv ConfigMap expc made.
//! What is tested is expc's side: which Jobs are applied when, with what, how their
//! state is followed, how data crosses between this machine and the pods through the run
//! volume, how failures, logs, caching and provenance come out. The stand-in needs
//! Python's `yaml` and `kubernetes_validate` (scripts/install-k8s-validators.sh): without
//! them the tests are ignored with the reason, and fail under `CI=true`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use expc_tests::{Engine, Suite};
use serde_json::Value;

pub fn trials(suite: &mut Suite) {
    suite.needs(
        Engine::KubectlStandIn,
        "a_sweep_runs_as_one_indexed_job_between_local_tasks",
        a_sweep_runs_as_one_indexed_job_between_local_tasks,
    );
    suite.needs(
        Engine::KubectlStandIn,
        "a_failing_pod_is_reported_with_its_log_and_its_dependents_are_not_started",
        a_failing_pod_is_reported_with_its_log_and_its_dependents_are_not_started,
    );
    suite.needs(
        Engine::KubectlStandIn,
        "a_secret_reaches_the_pod_only_through_the_namespaces_secret",
        a_secret_reaches_the_pod_only_through_the_namespaces_secret,
    );
    suite.needs(
        Engine::KubectlStandIn,
        "ctrl_c_deletes_the_runs_jobs",
        ctrl_c_deletes_the_runs_jobs,
    );
    suite.needs(
        Engine::KubectlStandIn,
        "a_head_killed_at_random_moments_never_runs_a_kubernetes_instance_twice",
        a_head_killed_at_random_moments_never_runs_a_kubernetes_instance_twice,
    );
    suite.test(
        "kubernetes_placements_it_cannot_reach_are_refused_before_anything_is_written",
        kubernetes_placements_it_cannot_reach_are_refused_before_anything_is_written,
    );
}

/// A project in a temporary folder: the spec of `tests/k8s-run/NAME.exp` with `/SHARED`
/// and `/SPEC` made real, the hello example's scripts, the folder standing for the run
/// volume, and `kubectl` on PATH being the stand-in.
struct Project {
    dir: PathBuf,
    spec: PathBuf,
    shared: PathBuf,
    state: PathBuf,
    cluster: PathBuf,
    bin: PathBuf,
}

impl Project {
    fn new(name: &str, test: &str) -> Project {
        let dir = expc_tests::temp_path("k8s-run", test);
        let (spec_dir, shared, bin) = (dir.join("spec"), dir.join("shared"), dir.join("bin"));
        for d in [&spec_dir, &shared, &bin, &spec_dir.join("scripts")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let root = expc_tests::root();
        for s in ["generate.py", "transform.py", "summarise.py"] {
            std::fs::copy(
                root.join("examples/hello/scripts").join(s),
                spec_dir.join("scripts").join(s),
            )
            .unwrap();
        }
        std::fs::copy(root.join("tests/k8s-run/pick.py"), spec_dir.join("pick.py")).unwrap();
        let text = std::fs::read_to_string(root.join(format!("tests/k8s-run/{name}.exp")))
            .unwrap()
            .replace("/SHARED", shared.to_str().unwrap())
            .replace("/SPEC", spec_dir.to_str().unwrap());
        let spec = spec_dir.join(format!("{name}.exp"));
        std::fs::write(&spec, text).unwrap();
        std::os::unix::fs::symlink(
            root.join("tests/k8s/kubectl-standin.py"),
            bin.join("kubectl"),
        )
        .unwrap();
        Project {
            state: dir.join("state"),
            cluster: dir.join("cluster"),
            dir,
            spec,
            shared,
            bin,
        }
    }

    /// `expc run ARGS --state-dir STATE SPEC`, with the stand-in first on PATH.
    fn command(&self, args: &[&str]) -> Command {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new(expc_tests::expc());
        c.arg("run")
            .args(args)
            .arg("--state-dir")
            .arg(&self.state)
            .arg(&self.spec)
            .current_dir(self.spec.parent().unwrap())
            .env("NO_COLOR", "1")
            .env("PATH", path)
            .env("EXPC_STANDIN_DIR", &self.cluster);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Every `kubectl` call so far, as its arguments.
    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.cluster.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn applied_jobs(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for f in expc_tests::files_in(&self.state.join("k8s"), "yaml") {
            if !f.parent().unwrap().ends_with("jobs") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            let docs: Vec<Value> = text
                .split("\n---\n")
                .map(|d| serde_norway::from_str(d).unwrap())
                .collect();
            out.extend(docs.into_iter().filter(|d| d["kind"] == "Job"));
        }
        out
    }

    fn query(&self, sql: &str) -> Vec<Value> {
        expc_tests::query(&self.state, sql)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            expc_tests::remove_tree(&self.dir);
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The hello pipeline with its sweep on Kubernetes: the sweep is applied as one Indexed
/// Job once its input is made here, the pods read that input from the run volume, the
/// summary made here from what the pods wrote equals a run of everything here, each
/// instance's provenance names its Job and completion index, and a second run is all
/// cache and calls `kubectl` not once.
fn a_sweep_runs_as_one_indexed_job_between_local_tasks() {
    let p = Project::new("live", "sweep");
    let out = p.run(&[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("6 ran, 0 cached, 0 failed"), "{err}");
    assert!(err.contains("Kubernetes Jobs applied: "), "{err}");

    // The wrapper, then one Job for the four points, then looks at the run's Jobs.
    let calls = p.calls();
    let applies: Vec<&Vec<String>> = calls.iter().filter(|c| c[0] == "apply").collect();
    assert_eq!(applies.len(), 2, "{calls:?}");
    assert!(applies[0][2].ends_with("expc-wrapper.yaml"), "{calls:?}");
    assert!(
        calls
            .iter()
            .filter(|c| c[0] != "apply")
            .all(|c| c[..2] == ["get", "jobs"] && c.contains(&"lab".to_owned())),
        "{calls:?}"
    );
    let jobs = p.applied_jobs();
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let job = &jobs[0];
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 4);
    assert_eq!(job["spec"]["parallelism"], 2);
    // One failing point does not end the others.
    assert_eq!(job["spec"]["backoffLimitPerIndex"], 0);
    assert!(job["spec"].get("backoffLimit").is_none(), "{job:#?}");
    let run_label = job["metadata"]["labels"]["expc.dev/run"].as_str().unwrap();
    assert!(run_label.starts_with("run-"), "{job:#?}");
    let name = job["metadata"]["name"].as_str().unwrap();
    assert!(
        name.len() <= 63 && name.starts_with("hello-k8s-t-"),
        "{name}"
    );
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["requests"]["cpu"], "500m");
    assert_eq!(c["resources"]["limits"]["memory"], "256Mi");

    // The pods worked in the run's folder of the run volume, where the local input was
    // handed over as a file of its own (a link into .expc/ would not resolve in a pod).
    let run_dir = p.shared.join(run_label);
    let handed = run_dir.join("g/0/numbers.csv");
    assert!(
        handed.is_file() && !handed.is_symlink(),
        "{}",
        handed.display()
    );
    for i in 0..4 {
        assert!(run_dir.join(format!("t/{i}/metrics.json")).is_file());
        assert!(run_dir.join(format!("provenance/t/{i}.jsonl")).is_file());
    }

    let rows = p.query("SELECT call, idx, backend, job_id, attempts FROM tasks ORDER BY call, idx");
    let by_call: BTreeMap<(String, i64), &Value> = rows
        .iter()
        .map(|r| {
            (
                (
                    r["call"].as_str().unwrap().to_owned(),
                    r["idx"].as_i64().unwrap(),
                ),
                r,
            )
        })
        .collect();
    assert_eq!(by_call.len(), 6, "{rows:#?}");
    for i in 0..4 {
        let r = by_call[&("t".to_owned(), i)];
        assert_eq!(r["backend"], "kubernetes", "{r}");
        assert_eq!(r["job_id"], format!("{name}[{i}]"), "{r}");
        assert_eq!(r["attempts"], 1, "{r}");
    }
    assert_eq!(by_call[&("g".to_owned(), 0)]["backend"], "local");
    assert!(by_call[&("g".to_owned(), 0)]["job_id"].is_null());

    // The same bytes as the whole pipeline run here.
    let local = p.dir.join("local");
    let here = Command::new(expc_tests::expc())
        .args(["run", "--local", "--state-dir"])
        .arg(&local)
        .arg(&p.spec)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(here.status.success(), "{}", stderr(&here));
    for file in ["summary.csv", "report.txt"] {
        let mixed = std::fs::read(p.state.join("out/summarise").join(file)).unwrap();
        let all_here = std::fs::read(local.join("out/summarise").join(file)).unwrap();
        assert!(!mixed.is_empty(), "{file} is empty");
        assert_eq!(mixed, all_here, "{file} differs from a local run");
    }

    // Again: everything is cached, nothing reaches the cluster, and the run leaves no
    // empty folder behind.
    let before = p.calls().len();
    let again = p.run(&[]);
    let err = stderr(&again);
    assert!(again.status.success(), "{err}");
    assert!(err.contains("0 ran, 6 cached"), "{err}");
    assert_eq!(p.calls().len(), before, "a cached run called kubectl");
    let folders: Vec<_> = std::fs::read_dir(&p.shared).unwrap().collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
}

/// A failing point of a sweep on Kubernetes: the others complete, the failure is reported
/// with the Job, the completion index and the end of the pod's log (kept here), the
/// gather that reads every point is not started, and the run exits 1.
fn a_failing_pod_is_reported_with_its_log_and_its_dependents_are_not_started() {
    let p = Project::new("failing", "failing");
    let out = p.run(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("3 ran, 0 cached, 1 failed, 1 not run"),
        "{err}"
    );
    let failure = err
        .split("\n\n")
        .find(|b| b.starts_with("failed: c[1]"))
        .unwrap_or_else(|| panic!("no failure block for c[1]:\n{err}"));
    assert!(failure.contains("Kubernetes Job "), "{failure}");
    assert!(failure.contains(", index 1: "), "{failure}");
    assert!(
        failure.contains("refusing point 2: it is the one that fails"),
        "{failure}"
    );
    let log = failure
        .lines()
        .find_map(|l| l.trim().strip_prefix("logs: "))
        .unwrap_or_else(|| panic!("no log path:\n{failure}"));
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("refusing point 2"), "{text}");
    let rows = p.query("SELECT call, idx, status FROM tasks ORDER BY call, idx");
    let status: Vec<(String, i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["call"].as_str().unwrap().to_owned(),
                r["idx"].as_i64().unwrap(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("alone", 0, "ran"),
        ("c", 0, "ran"),
        ("c", 1, "failed"),
        ("c", 2, "ran"),
        ("gather", 0, "skipped"),
    ];
    assert_eq!(
        status,
        want.iter()
            .map(|(c, i, s)| (c.to_string(), *i, s.to_string()))
            .collect::<Vec<_>>()
    );
    // Resuming runs the failed point again, and only it.
    let again = p.run(&[]);
    let err = stderr(&again);
    assert!(err.contains("0 ran, 3 cached, 1 failed"), "{err}");
}

/// A secret reaches the pod from the namespace's Secret and nowhere else: without the
/// Secret nothing is applied and the message says how to create it; with it, the pod reads
/// it, and its value is in no file of the run — manifests, state, run volume.
fn a_secret_reaches_the_pod_only_through_the_namespaces_secret() {
    const VALUE: &str = "s3cr3t-Value-of-the-lab-7781";
    let p = Project::new("secret", "secret");
    let run = |p: &Project| p.command(&[]).env("LAB_TOKEN", VALUE).output().unwrap();
    let out = run(&p);
    let err = one_line(&stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{err}");
    let create = err
        .split("Create it: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no command to create the Secret: {err}"));
    assert!(
        create.starts_with("kubectl create secret generic -n lab "),
        "{err}"
    );
    let secret = create.split(' ').nth(6).unwrap().to_owned();
    assert!(create.contains("--from-literal=LAB_TOKEN=…"), "{err}");
    assert!(
        !p.calls().iter().any(|c| c[0] == "apply"),
        "applied without the Secret: {:?}",
        p.calls()
    );

    // The Secret as `kubectl create secret` would make it.
    let encoded = {
        let out = Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(VALUE.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let dir = p.cluster.join("secrets/lab");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{secret}.json")),
        serde_json::json!({"data": {"LAB_TOKEN": encoded}}).to_string(),
    )
    .unwrap();
    let out = run(&p);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let fetched = std::fs::read_to_string(p.state.join("out/f/fetched.txt")).unwrap();
    assert_eq!(fetched, format!("a token of {} characters\n", VALUE.len()));
    for root in [&p.state, &p.shared] {
        for (file, bytes) in expc_tests::read_tree(root) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(VALUE),
                "the secret is in {}/{file}",
                root.display()
            );
        }
    }
}

/// Ctrl-C while a Job is out deletes it (its pods with it), and the run ends as
/// interrupted, resumable.
fn ctrl_c_deletes_the_runs_jobs() {
    let p = Project::new("slow", "ctrl-c");
    let child = p
        .command(&[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let name = loop {
        let applied = p.applied_jobs();
        if let Some(job) = applied.first() {
            break job["metadata"]["name"].as_str().unwrap().to_owned();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "no Job was applied"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // Until the stand-in has it.
    while !p.calls().iter().any(|c| c[0] == "get") {
        assert!(start.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        err.contains(&format!("cancelling Kubernetes Jobs {name} (1 instance)")),
        "{err}"
    );
    let deleted = p
        .calls()
        .into_iter()
        .find(|c| c[..2] == ["delete", "jobs"])
        .unwrap_or_else(|| panic!("no Job was deleted: {:?}", p.calls()));
    assert!(deleted.contains(&"lab".to_owned()), "{deleted:?}");
    assert!(deleted.contains(&name), "{deleted:?}");
    assert!(
        !p.cluster.join(format!("jobs/lab/{name}.json")).exists(),
        "the Job is still there"
    );
}

/// `kill -9` of `expc run` at eight random moments, each followed by a new run, then one
/// left to finish: every index started exactly once (the hook's `start` records, over the
/// run folders of the run volume), nothing was applied twice, and the result is right.
fn a_head_killed_at_random_moments_never_runs_a_kubernetes_instance_twice() {
    let p = Project::new("adopt", "adopt");
    let moments = expc_tests::kill_at_random_moments(8, 300, 2500, || p.command(&[]));
    let out = p.run(&[]);
    let err = stderr(&out);
    let context = format!("{moments}\n{err}");
    assert!(out.status.success(), "{context}");
    let runs = std::fs::read_dir(&p.shared).unwrap().flatten();
    let starts = expc_tests::hook_starts(runs.map(|r| r.path().join("provenance")));
    let mut expected: BTreeMap<(String, u64), usize> =
        (0..3).map(|i| (("m".to_owned(), i), 1)).collect();
    expected.insert(("g".to_owned(), 0), 1);
    assert_eq!(starts, expected, "{context}");
    let all = std::fs::read_to_string(p.state.join("out/g/all.txt")).unwrap();
    assert_eq!(all, "mark 0\nmark 1\nmark 2\n", "{context}");
    // Everything collected: `expc gc` removes the runs' folders here and in the run
    // volume, and keeps the outputs.
    let runs_in = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("run-"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(runs_in(&p.shared) > 1, "{context}");
    let gc = expc_tests::run(&["gc", "--state-dir", p.state.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&gc.stdout);
    assert!(gc.status.success(), "{said}");
    assert_eq!(runs_in(&p.shared), 0, "{said}");
    assert_eq!(runs_in(&p.state.join("k8s")), 0, "{said}");
    let all = std::fs::read_to_string(p.state.join("out/g/all.txt")).unwrap();
    assert_eq!(all, "mark 0\nmark 1\nmark 2\n");
}

/// What `expc run` needs to reach a cluster is checked before anything is written.
fn kubernetes_placements_it_cannot_reach_are_refused_before_anything_is_written() {
    let p = Project::new("live", "refused");
    // No kubectl on PATH.
    let out = Command::new(expc_tests::expc())
        .arg("run")
        .arg("--state-dir")
        .arg(&p.state)
        .arg(&p.spec)
        .env("NO_COLOR", "1")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let err = one_line(&stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("`t` (on `cloud`) is placed on Kubernetes, but `kubectl` is not on PATH"),
        "{err}"
    );
    assert!(err.contains("expc build --target k8s"), "{err}");
    assert!(!p.state.exists(), "the run wrote state");

    // A resource that does not say where its run volume is mounted here.
    let text = std::fs::read_to_string(&p.spec).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("local_run_dir"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&p.spec, without).unwrap();
    let out = p.run(&[]);
    let err = one_line(&stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("`t` is placed on `cloud`, which does not say where its run volume"),
        "{err}"
    );
    assert!(err.contains("Set `local_run_dir` of `cloud`"), "{err}");
    assert!(!p.state.exists(), "the run wrote state");

    // A folder that is not there.
    std::fs::write(
        &p.spec,
        text.replace(
            &format!("local_run_dir = \"{}\"", p.shared.display()),
            "local_run_dir = \"/nonexistent/runs\"",
        ),
    )
    .unwrap();
    let out = p.run(&[]);
    let err = one_line(&stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "the `local_run_dir` of `cloud` is `/nonexistent/runs`, which is not a folder here"
        ),
        "{err}"
    );
    assert!(p.calls().is_empty());
}

/// The message as one line: the renderer wraps it to the terminal's width.
fn one_line(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
