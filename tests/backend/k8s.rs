//! `expc build --target k8s`, through the real binary.
//!
//! Every generated file of every example with Kubernetes placements and of every fixture
//! in `k8s/` is snapshotted (`snapshots/k8s/`), except `plan.json`, which must equal `expc
//! plan --format json`. Every manifest is validated against the official schemas by
//! `kubernetes-validate --strict` and by the `kubernetes-models` validators (no API server
//! can run here); both are installed by `scripts/install-k8s-validators.sh`; without one,
//! its test is ignored with the reason, and under `CI=true` it fails. What those validators do not check (names,
//! quantities equal to the spec's, placement) is checked here on the parsed YAML, and the
//! injection corpus is followed from the spec to the argv the wrapper executes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use expc_tests::read_tree as read_all;
use expc_tests::{Engine, Suite};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn trials(suite: &mut Suite) {
    suite.test("the_specs_are_found", || {
        let specs = specs();
        assert!(
            specs.len() >= 4,
            "expected the detection example and the fixtures, found {specs:?}"
        );
    });
    suite.each(
        "every_generated_file_is_golden_and_identical_across_builds",
        specs().into_iter().map(|s| (s.clone(), s)),
        every_generated_file_is_golden_and_identical_across_builds,
    );
    suite.needs(
        Engine::KubernetesValidate,
        "every_manifest_passes_kubernetes_validate_strict",
        every_manifest_passes_kubernetes_validate_strict,
    );
    suite.needs(
        Engine::KubernetesModels,
        "every_manifest_passes_the_kubernetes_models_validators",
        every_manifest_passes_the_kubernetes_models_validators,
    );
    suite.test(
        "names_quantities_and_placement_are_the_specs",
        names_quantities_and_placement_are_the_specs,
    );
    suite.test(
        "exact_quantities_of_the_fixtures",
        exact_quantities_of_the_fixtures,
    );
    suite.test(
        "hostile_values_reach_the_argv_byte_exact",
        hostile_values_reach_the_argv_byte_exact,
    );
    suite.test(
        "build_time_checks_refuse_with_help",
        build_time_checks_refuse_with_help,
    );
}

/// The Kubernetes version the manifests are validated for.
const KUBE_VERSION: &str = "1.33.0";

/// The specs with Kubernetes placements: examples, then fixtures.
fn specs() -> Vec<String> {
    let mut out = expc_tests::example_specs(Some("= Kubernetes {"));
    out.extend(
        expc_tests::files("tests/k8s", "exp")
            .iter()
            .map(|p| expc_tests::relative(p)),
    );
    out
}

fn stem(spec: &str) -> String {
    Path::new(spec)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn temp(name: &str) -> PathBuf {
    expc_tests::temp_path("k8s", name)
}

/// Builds `spec` into `out` with a fixed spec folder inside the containers, so snapshots
/// do not depend on where the checkout is.
fn build(spec: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let spec_dir = format!("/srv/experiments/{}", stem(spec));
    let mut args = vec![
        "build",
        "--target",
        "k8s",
        "--spec-dir",
        &spec_dir,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(spec);
    expc_tests::run(&args)
}

fn build_ok(spec: &str, name: &str, extra: &[&str]) -> PathBuf {
    let out = temp(name);
    let o = build(spec, &out, extra);
    assert!(
        o.status.success(),
        "{spec}: build failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The YAML documents of a file, as JSON values.
fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("generated YAML parses"))
        .collect()
}

/// The manifests of a build: `expc-wrapper.yaml` and `jobs/*.yaml`, by path.
fn manifests(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    read_all(dir)
        .into_iter()
        .filter(|(p, _)| p == "expc-wrapper.yaml" || p.starts_with("jobs/"))
        .map(|(p, b)| (p, documents(&String::from_utf8(b).unwrap())))
        .collect()
}

fn validate_dir() -> PathBuf {
    expc_tests::root().join("tests/k8s/validate")
}

/// `kubernetes-validate --strict` on files; its status and output.
fn kubernetes_validate(files: &[PathBuf]) -> (bool, String) {
    let o = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "-k", KUBE_VERSION])
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// The kubernetes-models validators on lists of objects; status and output.
fn kubernetes_models(dir: &Path, lists: &[(String, Vec<Value>)]) -> (bool, String) {
    std::fs::create_dir_all(dir).unwrap();
    let mut files = Vec::new();
    for (i, (name, objects)) in lists.iter().enumerate() {
        let f = dir.join(format!("{i}-{}.json", name.replace('/', "_")));
        std::fs::write(&f, serde_json::to_vec(objects).unwrap()).unwrap();
        files.push(f);
    }
    let o = Command::new("node")
        .current_dir(validate_dir())
        .arg("validate.mjs")
        .args(&files)
        .output()
        .expect("run node");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn every_generated_file_is_golden_and_identical_across_builds(spec: String) {
    let name = stem(&spec);
    let a = build_ok(&spec, &format!("{name}-a"), &[]);
    let b = build_ok(&spec, &format!("{name}-b"), &[]);
    let (files_a, files_b) = (read_all(&a), read_all(&b));
    assert_eq!(files_a, files_b, "{spec}: two builds differ");
    for f in ["submit.sh", "kustomization.yaml", "expc-wrapper.yaml"] {
        assert!(files_a.contains_key(f), "{spec}: no {f}");
    }
    assert!(
        files_a.keys().any(|k| k.starts_with("jobs/")),
        "{spec}: no job manifest"
    );

    let plan = expc_tests::run(&["plan", "--format", "json", &spec]);
    assert!(plan.status.success());
    assert_eq!(
        files_a["plan.json"], plan.stdout,
        "{spec}: plan.json is not the plan's JSON"
    );

    // The kustomization lists every manifest, the wrapper first.
    let kust = &documents(std::str::from_utf8(&files_a["kustomization.yaml"]).unwrap())[0];
    let mut listed: Vec<&str> = kust["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed.remove(0), "expc-wrapper.yaml", "{spec}");
    listed.sort();
    let jobs: Vec<&str> = files_a
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with("jobs/"))
        .collect();
    assert_eq!(
        listed, jobs,
        "{spec}: the kustomization is not the build's jobs"
    );

    let syntax = Command::new("bash")
        .arg("-n")
        .arg(a.join("submit.sh"))
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "{spec}: submit.sh is not valid bash: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(a.join("submit.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{spec}: submit.sh is not executable");
    }

    for (path, bytes) in &files_a {
        if path == "plan.json" || path == ".expc-build" {
            continue;
        }
        let text = String::from_utf8(bytes.clone()).unwrap();
        let snap = format!("{name}__{}", path.replace('/', "__"));
        insta::with_settings!({ snapshot_path => "../snapshots/k8s", prepend_module_to_snapshot => false, description => format!("expc build --target k8s {spec}: {path}") }, {
            insta::assert_snapshot!(snap, text);
        });
    }
    expc_tests::remove_tree(&a);
    expc_tests::remove_tree(&b);
}

/// A valid Job to break: the first Job of the sweep fixture.
fn sample_job() -> Value {
    let out = build_ok("tests/k8s/sweep.exp", "sample", &[]);
    let docs = manifests(&out);
    expc_tests::remove_tree(&out);
    docs["jobs/f.yaml"]
        .iter()
        .find(|d| d["kind"] == "Job")
        .unwrap()
        .clone()
}

/// Broken copies of a valid Job: a wrong type, an unknown field, a bad enum value.
fn broken(job: &Value) -> Vec<(&'static str, Value)> {
    let mut wrong_type = job.clone();
    wrong_type["spec"]["completions"] = json!("six");
    let mut unknown = job.clone();
    unknown["spec"]["template"]["spec"]["containers"][0]["comand"] = json!(["true"]);
    let mut bad_enum = job.clone();
    bad_enum["spec"]["completionMode"] = json!("Sometimes");
    vec![
        ("wrong_type", wrong_type),
        ("unknown_field", unknown),
        ("bad_enum", bad_enum),
    ]
}

fn every_manifest_passes_kubernetes_validate_strict() {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for spec in specs() {
        let out = build_ok(&spec, &format!("kv-{}", stem(&spec)), &[]);
        for p in manifests(&out).keys() {
            files.push(out.join(p));
        }
        dirs.push(out);
    }
    assert!(files.len() >= 8, "{files:?}");
    let (ok, output) = kubernetes_validate(&files);
    assert!(ok, "kubernetes-validate rejected a manifest:\n{output}");

    // The validator really checks: a wrong type and an unknown field are each rejected
    // (it does not check enum values; kubernetes-models does).
    let scratch = temp("kv-broken");
    std::fs::create_dir_all(&scratch).unwrap();
    for (what, doc) in broken(&sample_job()) {
        let f = scratch.join(format!("{what}.yaml"));
        std::fs::write(&f, serde_norway::to_string(&doc).unwrap()).unwrap();
        let (ok, output) = kubernetes_validate(std::slice::from_ref(&f));
        if what == "bad_enum" {
            continue;
        }
        assert!(
            !ok,
            "kubernetes-validate accepted a Job with a {what}:\n{output}"
        );
    }
    expc_tests::remove_tree(&scratch);
    for d in dirs {
        expc_tests::remove_tree(&d);
    }
}

fn every_manifest_passes_the_kubernetes_models_validators() {
    let mut lists = Vec::new();
    for spec in specs() {
        let out = build_ok(&spec, &format!("km-{}", stem(&spec)), &[]);
        for (p, docs) in manifests(&out) {
            lists.push((format!("{}-{p}", stem(&spec)), docs));
        }
        expc_tests::remove_tree(&out);
    }
    let scratch = temp("km");
    let (ok, output) = kubernetes_models(&scratch, &lists);
    assert!(ok, "kubernetes-models rejected a manifest:\n{output}");
    let objects: usize = lists.iter().map(|(_, d)| d.len()).sum();
    assert!(
        output.contains(&format!("{objects} valid, 0 invalid")),
        "not every object was checked: {output}"
    );

    // The validators really check: a wrong type and a bad enum value are each rejected
    // (they ignore unknown fields; kubernetes-validate --strict rejects those).
    for (what, doc) in broken(&sample_job()) {
        let (ok, output) = kubernetes_models(&scratch, &[(what.to_owned(), vec![doc])]);
        if what == "unknown_field" {
            continue;
        }
        assert!(
            !ok,
            "kubernetes-models accepted a Job with a {what}:\n{output}"
        );
    }
    expc_tests::remove_tree(&scratch);
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_label_value(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

/// A CPU quantity in millicores, if well-formed (`2`, `500m`).
fn cpu_millis(q: &str) -> Option<u64> {
    match q.strip_suffix('m') {
        Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) => m.parse().ok(),
        None if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) => {
            q.parse::<u64>().ok().map(|n| n * 1000)
        }
        _ => None,
    }
}

/// A memory quantity in bytes, if well-formed (`2Gi`, `1500M`, `1001`).
fn memory_bytes(q: &str) -> Option<u64> {
    let digits = q.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n: u64 = q[..digits].parse().ok()?;
    let unit: u64 = match &q[digits..] {
        "" => 1,
        "k" => 1000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        _ => return None,
    };
    n.checked_mul(unit)
}

fn names_quantities_and_placement_are_the_specs() {
    let mut jobs_seen = 0;
    let mut gpu_jobs = 0;
    let mut indexed = 0;
    for spec in specs() {
        let out = build_ok(&spec, &format!("names-{}", stem(&spec)), &[]);
        let plan: Value =
            serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
        let docs = manifests(&out);
        for (path, objects) in &docs {
            for o in objects {
                let meta = &o["metadata"];
                let name = meta["name"].as_str().unwrap();
                assert!(is_dns_label(name), "{spec} {path}: name {name:?}");
                assert!(is_dns_label(meta["namespace"].as_str().unwrap()));
                for (k, v) in meta["labels"].as_object().unwrap() {
                    assert!(
                        is_label_value(v.as_str().unwrap()),
                        "{spec} {path}: label {k} = {v}"
                    );
                }
            }
        }
        for plan_job in plan["jobs"].as_array().unwrap() {
            if plan_job["backend"] != "kubernetes" {
                continue;
            }
            jobs_seen += 1;
            let key = plan_job["key"].as_str().unwrap();
            let path = format!("jobs/{}.yaml", key.replace('#', "-"));
            let objects = docs
                .get(&path)
                .unwrap_or_else(|| panic!("{spec}: no {path}"));
            let cm = objects.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
            let job = objects.iter().find(|d| d["kind"] == "Job").unwrap();
            let placement = &plan_job["placement"];
            assert_eq!(
                job["metadata"]["namespace"], placement["namespace"],
                "{key}"
            );
            assert_eq!(cm["metadata"]["namespace"], placement["namespace"], "{key}");
            assert_eq!(job["metadata"]["labels"]["expc.dev/job-id"], plan_job["id"]);
            let pod = &job["spec"]["template"]["spec"];
            assert_eq!(
                pod["serviceAccountName"].as_str(),
                placement["service_account"].as_str(),
                "{spec} {key}: service account"
            );
            assert_eq!(
                job["spec"]["template"]["metadata"]["labels"],
                job["metadata"]["labels"]
            );

            // Instances: an Indexed Job exactly for a sweep, one argv file per index.
            let instances = plan_job["instances"].as_u64().unwrap();
            let sweep = !plan_job["loops"].as_array().unwrap().is_empty();
            assert_eq!(job["spec"]["completions"].as_u64(), Some(instances.max(1)));
            assert_eq!(
                job["spec"]["completionMode"].as_str(),
                sweep.then_some("Indexed"),
                "{key}"
            );
            indexed += usize::from(sweep);
            let parallelism = job["spec"]["parallelism"].as_u64().unwrap();
            assert!(parallelism >= 1 && parallelism <= instances.max(1));
            if let Some(p) = placement["parallelism"].as_u64() {
                assert_eq!(parallelism, p.min(instances));
            }
            let keys: Vec<&String> = cm["binaryData"].as_object().unwrap().keys().collect();
            assert_eq!(keys.len() as u64, instances.max(1) + 1, "{key}: argv files");
            let argv_volume = pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == "expc-argv")
                .unwrap();
            assert_eq!(argv_volume["configMap"]["name"], cm["metadata"]["name"]);
            for v in pod["volumes"].as_array().unwrap() {
                assert!(is_dns_label(v["name"].as_str().unwrap()), "{v}");
            }

            // Quantities equal to the spec's, exactly.
            let container = &pod["containers"][0];
            for field in ["command", "args"] {
                assert!(
                    container[field]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(Value::is_string),
                    "{key}: {field} is not a list of strings"
                );
            }
            let res = &container["resources"];
            let cpus = plan_job["resources"]["cpus"].as_f64().unwrap();
            for side in ["requests", "limits"] {
                let q = res[side]["cpu"].as_str().unwrap();
                let m = cpu_millis(q).unwrap_or_else(|| panic!("{key}: cpu {q:?}"));
                assert_eq!(m as f64, cpus * 1000.0, "{spec} {key}: cpu {q}");
                match plan_job["resources"]["mem_bytes"].as_u64() {
                    Some(bytes) => {
                        let q = res[side]["memory"].as_str().unwrap();
                        assert_eq!(memory_bytes(q), Some(bytes), "{spec} {key}: memory {q}");
                    }
                    None => assert!(res[side].get("memory").is_none()),
                }
            }
            let gpus = plan_job["resources"]["gpus"].as_i64().unwrap();
            let gpu_name = placement["gpu_resource"].as_str().unwrap();
            if gpus > 0 {
                gpu_jobs += 1;
                assert_eq!(
                    res["limits"][gpu_name].as_str(),
                    Some(gpus.to_string().as_str()),
                    "{spec} {key}: GPUs"
                );
            } else {
                assert!(res["limits"].get(gpu_name).is_none());
            }
        }
        expc_tests::remove_tree(&out);
    }
    assert!(
        jobs_seen >= 9 && gpu_jobs >= 3 && indexed >= 4,
        "{jobs_seen} {gpu_jobs} {indexed}"
    );
}

fn exact_quantities_of_the_fixtures() {
    // The conversions themselves, by value: 0.5 CPU is 500m, 1536MiB is 1536Mi, 1500MB is
    // 1500M, 3GiB is 3Gi, 2.5 CPUs are 2500m.
    let want = [
        ("sweep", "f", "500m", "1536Mi"),
        ("sweep", "g", "1", "2Gi"),
        (
            "mixed",
            "fetch_every_remote_record_for_the_whole_laboratory_archive_now",
            "250m",
            "1500M",
        ),
        ("mixed", "c", "2500m", "3Gi"),
        ("detection", "c", "4", "16Gi"),
    ];
    let mut built: BTreeMap<&str, BTreeMap<String, Vec<Value>>> = BTreeMap::new();
    for (spec, key, cpu, mem) in want {
        let docs = built.entry(spec).or_insert_with(|| {
            let path = if spec == "detection" {
                "examples/detection/detection.exp".to_owned()
            } else {
                format!("tests/k8s/{spec}.exp")
            };
            let out = build_ok(&path, &format!("q-{spec}"), &[]);
            let m = manifests(&out);
            expc_tests::remove_tree(&out);
            m
        });
        let job = docs[&format!("jobs/{key}.yaml")]
            .iter()
            .find(|d| d["kind"] == "Job")
            .unwrap();
        let res = &job["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert_eq!(res["requests"]["cpu"], cpu, "{spec} {key}");
        assert_eq!(res["limits"]["memory"], mem, "{spec} {key}");
    }
    let sweep = &built["sweep"]["jobs/f.yaml"][1];
    assert_eq!(
        sweep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["amd.com/gpu"],
        "2"
    );
    // The long name is cut to 63 with a hash, and keeps the job's key readable.
    let long = &built["mixed"]["jobs/fetch_every_remote_record_for_the_whole_laboratory_archive_now.yaml"]
        [1];
    let name = long["metadata"]["name"].as_str().unwrap();
    assert!(
        name.len() <= 63 && name.starts_with("a-rather-long-ex-fetch-every"),
        "{name}"
    );
    // Secrets are references, never values.
    let env = &long["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env[1]["name"], "TOKEN");
    assert_eq!(env[1]["valueFrom"]["secretKeyRef"]["key"], "LAB_TOKEN");
}

/// The files of an argv ConfigMap, decoded: key to NUL-separated fields.
fn argv_files(cm: &Value) -> BTreeMap<String, Vec<String>> {
    cm["binaryData"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let bytes = base64_decode(v.as_str().unwrap());
            assert_eq!(bytes.last(), Some(&0), "{k}: fields end with NUL");
            let fields = bytes[..bytes.len() - 1]
                .split(|b| *b == 0)
                .map(|f| String::from_utf8(f.to_vec()).unwrap())
                .collect();
            (k.clone(), fields)
        })
        .collect()
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|c| **c == b'=').count();
        let n = chunk
            .iter()
            .map(|c| if *c == b'=' { 0 } else { val(*c) })
            .fold(0u32, |acc, v| (acc << 6) | v);
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

/// The shared hostile values, and what Kubernetes and YAML would read: `$(VAR)`
/// expansion, YAML syntax, handlebars and control characters.
fn corpus() -> Vec<&'static str> {
    expc_tests::hostile_values(&[
        "$(HOME) $$(HOME) $(JOB_COMPLETION_INDEX)",
        "key: value\n- item\n--- \n...",
        "{{ handlebars }} {a: b}",
        "\r\u{7}\u{1b}[31m",
    ])
}

fn hostile_values_reach_the_argv_byte_exact() {
    let dir = temp("injection-params");
    std::fs::create_dir_all(&dir).unwrap();
    let params = dir.join("values.yaml");
    std::fs::write(
        &params,
        format!("values: {}\n", serde_json::to_string(&corpus()).unwrap()),
    )
    .unwrap();
    let out = build_ok(
        "tests/k8s/injection.exp",
        "injection",
        &["--params", params.to_str().unwrap()],
    );
    let docs = manifests(&out);
    let objects = &docs["jobs/echo.yaml"];
    let job = objects.iter().find(|d| d["kind"] == "Job").unwrap();
    let cm = objects.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(job["spec"]["completions"], corpus().len());
    assert_eq!(job["spec"]["completionMode"], "Indexed");

    // No value reaches the container's command or args, where Kubernetes expands $(VAR).
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["command"],
        json!(["/bin/bash", "/expc/wrapper/expc-wrapper.sh"])
    );
    assert_eq!(container["args"], json!(["/expc/argv"]));

    // The parsed manifest holds each index's argv byte for byte.
    let files = argv_files(cm);
    for (i, value) in corpus().iter().enumerate() {
        let f = &files[&i.to_string()];
        assert_eq!(f[1], "1", "index {i}: one variable");
        assert_eq!(f[2], format!("VALUE={value}"), "index {i}");
        assert_eq!(
            f[3..],
            [
                "record-argv".to_owned(),
                value.to_string(),
                format!("prefix-{value}"),
                format!("--flag={value}")
            ],
            "value {value:?} did not arrive intact"
        );
    }

    // The wrapper, run by bash on those files, executes exactly that argv.
    let wrapper_docs = &docs["expc-wrapper.yaml"];
    let script = wrapper_docs[0]["data"]["expc-wrapper.sh"].as_str().unwrap();
    let sandbox = temp("injection-run");
    let (argv_dir, bin, run_dir, prov_dir) = (
        sandbox.join("argv"),
        sandbox.join("bin"),
        sandbox.join("run"),
        sandbox.join("provenance"),
    );
    for d in [&argv_dir, &bin, &run_dir, &prov_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(sandbox.join("expc-wrapper.sh"), script).unwrap();
    for (k, fields) in &files {
        let mut fields = fields.clone();
        if k == "job" {
            // Where the volumes would be mounted.
            assert_eq!(fields[5], "/expc/run");
            assert_eq!(fields[6], "/expc/provenance");
            fields[5] = run_dir.to_str().unwrap().to_owned();
            fields[6] = prov_dir.to_str().unwrap().to_owned();
        }
        let mut bytes = Vec::new();
        for f in fields {
            bytes.extend_from_slice(f.as_bytes());
            bytes.push(0);
        }
        std::fs::write(argv_dir.join(k), bytes).unwrap();
    }
    let recorder = bin.join("record-argv");
    std::fs::write(
        &recorder,
        "#!/bin/bash\nprintf '%s\\0' \"$@\" >argv.txt\nprintf '%s' \"$VALUE\" >value.txt\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&recorder, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    for (i, value) in corpus().iter().enumerate() {
        let o = Command::new("bash")
            .arg(sandbox.join("expc-wrapper.sh"))
            .arg(&argv_dir)
            .env("JOB_COMPLETION_INDEX", i.to_string())
            .env("PATH", &path)
            .current_dir(&sandbox)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "index {i}: the wrapper failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let work = run_dir.join(format!("echo/{i}"));
        let got = std::fs::read(work.join("argv.txt")).unwrap();
        let mut want = Vec::new();
        for w in [
            value.to_string(),
            format!("prefix-{value}"),
            format!("--flag={value}"),
        ] {
            want.extend_from_slice(w.as_bytes());
            want.push(0);
        }
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "value {value:?} was not executed intact"
        );
        assert_eq!(
            std::fs::read_to_string(work.join("value.txt")).unwrap(),
            *value,
            "the variable of {value:?}"
        );
        // The provenance records: a start and an end, as the Slurm hook writes them.
        let text = std::fs::read_to_string(prov_dir.join(format!("echo/{i}.jsonl"))).unwrap();
        let records = expc_run::hook::parse_hook_lines(&text).unwrap();
        assert_eq!(records.len(), 2, "{text}");
        assert_eq!(records[1].exit_status, Some(0));
        assert_eq!(records[1].instance, i as u64);
        assert_eq!(records[1].instance_id, files[&i.to_string()][0]);
        assert_eq!(records[1].job, "echo");
        assert_eq!(records[1].outputs[0].kind, "file");
        assert_eq!(records[1].outputs[0].path, format!("echo/{i}/argv.txt"));
    }
    let pwned = Command::new("find")
        .arg(&sandbox)
        .args(["-name", "pwned"])
        .output()
        .unwrap();
    assert!(
        pwned.status.success() && pwned.stdout.is_empty(),
        "a value was run by a shell: {}",
        String::from_utf8_lossy(&pwned.stdout)
    );
    expc_tests::remove_tree(&sandbox);
    expc_tests::remove_tree(&out);
    expc_tests::remove_tree(&dir);
}

/// A spec that must not build: the error says what, and what to do; nothing is written.
fn build_time_checks_refuse_with_help() {
    let header = "experiment bad {\n  version = \"1\"\n}\n\nimport std.formats.{Text}\nimport std.resources.{Kubernetes, Toleration, Volume}\nimport std.sites.{Site}\n\nsite quota = Site {\n  max_jobs = 2\n}\n";
    let cases = [
        (
            "over_parallelism",
            "resource k = Kubernetes {\n  namespace = \"lab\"\n  image = \"img:1\"\n  parallelism = 4\n  site = quota\n}\ntask t() -> (o: File<Text> = \"o\") {\n  run `t ${o}`\n}\n",
            "`k` runs 4 pods at once, more than its site allows (max_jobs = 2)",
            "lower `parallelism`",
        ),
        (
            "exists_with_value",
            "resource k = Kubernetes {\n  namespace = \"lab\"\n  image = \"img:1\"\n  tolerations = [Toleration { key = \"x\", operator = Exists, value = \"y\" }]\n}\ntask t() -> (o: File<Text> = \"o\") {\n  run `t ${o}`\n}\n",
            "a toleration of `k` has operator `Exists` and a value",
            "remove `value`",
        ),
        (
            "bad_gpu_resource",
            "resource k = Kubernetes {\n  namespace = \"lab\"\n  image = \"img:1\"\n  gpu_resource = \"gpu\"\n}\ntask t() -> (o: File<Text> = \"o\") {\n  resources {\n    gpus = 1\n  }\n  run `t ${o}`\n}\n",
            "the gpu_resource \"gpu\" of `k` is not an extended resource name",
            "DOMAIN/NAME",
        ),
        (
            "reserved_volume",
            "resource k = Kubernetes {\n  namespace = \"lab\"\n  image = \"img:1\"\n  volumes = [Volume { name = \"expc-argv\", mount = \"/d\", pvc = \"a\" }]\n}\ntask t() -> (o: File<Text> = \"o\") {\n  run `t ${o}`\n}\n",
            "`k` declares a volume named `expc-argv`, a name expc uses for its own",
            "rename the volume",
        ),
        (
            "bad_namespace",
            "resource k = Kubernetes {\n  namespace = \"Vision_Lab\"\n  image = \"img:1\"\n}\ntask t() -> (o: File<Text> = \"o\") {\n  run `t ${o}`\n}\n",
            "the namespace \"Vision_Lab\" of `k` is not a DNS-1123 label",
            "set `namespace`",
        ),
        (
            "two_sources",
            "resource k = Kubernetes {\n  namespace = \"lab\"\n  image = \"img:1\"\n  volumes = [Volume { name = \"d\", mount = \"/d\", pvc = \"a\", host_path = \"/b\" }]\n}\ntask t() -> (o: File<Text> = \"o\") {\n  run `t ${o}`\n}\n",
            "the volume `d` of `k` must set exactly one of `pvc`, `config_map` and `host_path`",
            "one source",
        ),
        (
            "no_image",
            "resource k = Kubernetes {\n  namespace = \"lab\"\n}\ntask t() -> (o: File<Text> = \"o\") {\n  run `t ${o}`\n}\n",
            "`t` has no container image to run in on `k`",
            "set `image`",
        ),
        (
            "fractional_millicores",
            "resource k = Kubernetes {\n  namespace = \"lab\"\n  image = \"img:1\"\n}\ntask t() -> (o: File<Text> = \"o\") {\n  resources {\n    cpus = 0.0005\n  }\n  run `t ${o}`\n}\n",
            "asks for 0.0005 CPUs, which is not a whole number of millicores",
            "multiple of 0.001",
        ),
    ];
    let dir = temp("refusals");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body, what, help) in cases {
        let spec = dir.join(format!("{name}.exp"));
        std::fs::write(
            &spec,
            format!("{header}\n{body}\npipeline main {{\n  t() on k\n}}\n"),
        )
        .unwrap();
        let out = dir.join(format!("{name}-out"));
        // From the spec's folder, so that the message (and where it wraps) does not
        // depend on the temporary folder's path.
        let o = Command::new(expc_tests::expc())
            .args(["build", "--target", "k8s", "--spec-dir"])
            .arg(format!("/srv/experiments/{name}"))
            .arg("-o")
            .arg(&out)
            .arg(format!("{name}.exp"))
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        // Without the terminal's wrapping and the report's frame.
        let stderr = String::from_utf8_lossy(&o.stderr).replace(['\n', '│'], " ");
        let stderr: String = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(!o.status.success(), "{name}: built");
        assert!(
            stderr.contains("cannot build Kubernetes artifacts") && stderr.contains(what),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(help), "{name}: no help: {stderr}");
        assert!(!out.join("submit.sh").exists(), "{name}: wrote files");
    }
    expc_tests::remove_tree(&dir);
}
