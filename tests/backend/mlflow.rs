//! `expc prov push --mlflow`, against a real MLflow tracking server (PyPI mlflow, installed
//! by scripts/install-mlflow.sh) started on a free loopback port with a throwaway backend
//! store, and read back with MLflow's own Python client: runs with their expc ids, params
//! and metrics; registered model versions with their stages; a second push adds nothing.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use expc_tests::{Engine, Suite};
use serde_json::Value;

pub fn trials(suite: &mut Suite) {
    suite.needs(
        Engine::Mlflow,
        "runs_and_registered_models_reach_mlflow_once",
        runs_and_registered_models_reach_mlflow_once,
    );
    suite.test(
        "a_server_that_is_not_there_is_a_clear_error",
        a_server_that_is_not_there_is_a_clear_error,
    );
}

/// `mlflow server` on a free loopback port, stopped (with its workers) when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let bin = expc_tests::engine::mlflow_bin().expect("Engine::Mlflow");
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = Command::new(bin.join("mlflow"))
            .args(["server", "--host", "127.0.0.1", "--workers", "1"])
            .args(["--port", &port.to_string()])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
            .arg("--default-artifact-root")
            .arg(dir.join("artifacts"))
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while !server.healthy() {
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "mlflow server did not answer in 3 minutes: {}",
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        server
    }

    fn healthy(&self) -> bool {
        let addr = self.url.trim_start_matches("http://");
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            return false;
        };
        use std::io::{Read, Write};
        let ask = format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        let mut answer = String::new();
        s.write_all(ask.as_bytes()).is_ok()
            && s.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.")
            && answer.contains(" 200 ")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// The project of the registry tests: the spec, its programs and points.
fn project(test: &str) -> PathBuf {
    let dir = expc_tests::temp_path("mlflow", test);
    std::fs::create_dir_all(&dir).unwrap();
    let root = expc_tests::root();
    for f in ["registry.exp", "train.py", "score.py", "points.json"] {
        std::fs::copy(root.join("tests/registry").join(f), dir.join(f)).unwrap();
    }
    dir
}

fn expc(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(expc_tests::expc())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), err)
}

/// What MLflow's Python client reads from the server: runs and model versions.
fn read_back(url: &str) -> Value {
    let bin = expc_tests::engine::mlflow_bin().unwrap();
    let out = Command::new(bin.join("python"))
        .arg(expc_tests::root().join("tests/mlflow/read_back.py"))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn runs_and_registered_models_reach_mlflow_once() {
    let dir = project("push");
    for args in [
        &["run", "--local", "registry.exp"][..],
        &["run", "--local", "registry.exp", "-p", "scale=3"],
    ] {
        let (ok, err) = expc(&dir, args);
        assert!(ok, "{err}");
    }
    let (ok, err) = expc(
        &dir,
        &[
            "models",
            "promote",
            "nowcaster@1",
            "production",
            "--reason",
            "r",
        ],
    );
    assert!(ok, "{err}");
    let (ok, err) = expc(&dir, &["models", "archive", "nowcaster@2"]);
    assert!(ok, "{err}");
    let server = Server::start(&dir);
    let (ok, err) = expc(&dir, &["prov", "push", "--mlflow", &server.url]);
    assert!(ok, "{err}");
    assert!(err.contains("sent 2 runs and 4 model versions"), "{err}");
    let first = read_back(&server.url);
    let runs = first["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{first}");
    let ids: Vec<String> = expc_tests::query(&dir.join(".expc"), "SELECT id FROM runs ORDER BY id")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    for run in runs {
        let id = run["tags"]["expc.run_id"].as_str().unwrap();
        assert!(ids.iter().any(|i| i == id), "{run}");
        assert_eq!(run["status"], "FINISHED");
        assert_eq!(run["experiment"], "expc");
        assert_eq!(run["tags"]["expc.pushed"], "complete");
        assert!(
            run["tags"]["expc.instance.e.0"]
                .as_str()
                .unwrap()
                .ends_with(" e[0]"),
            "{run}"
        );
    }
    let with_scale = |scale: &str| {
        runs.iter()
            .find(|r| r["params"]["scale"] == scale)
            .unwrap_or_else(|| panic!("no run with scale {scale}: {first}"))
    };
    assert_eq!(with_scale("10.0")["metrics"]["e.1.val_mse"], 0.4);
    assert_eq!(with_scale("10.0")["metrics"]["t.0.train_mse"], 0.5);
    assert_eq!(with_scale("3.0")["metrics"]["e.0.val_mse"], 0.2);
    let versions = first["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 4, "{first}");
    let stage = |v: &str| {
        versions
            .iter()
            .find(|x| x["tags"]["expc.version"] == v)
            .map(|x| x["stage"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(stage("1"), "Production");
    assert_eq!(stage("2"), "Archived");
    assert_eq!(stage("3"), "None");
    for v in versions {
        let run = v["tags"]["expc.run_id"].as_str().unwrap();
        let mlflow_run = runs
            .iter()
            .find(|r| r["tags"]["expc.run_id"] == run)
            .unwrap();
        assert_eq!(v["run_id"], mlflow_run["run_id"], "{v}");
        assert!(
            Path::new(v["tags"]["expc.path"].as_str().unwrap()).is_file(),
            "{v}"
        );
    }
    // Again: nothing new, and a stage changed since is carried over.
    let (ok, err) = expc(&dir, &["models", "promote", "nowcaster@3", "staging"]);
    assert!(ok, "{err}");
    let (ok, err) = expc(&dir, &["prov", "push", "--mlflow", &server.url]);
    assert!(ok, "{err}");
    assert!(err.contains("sent 0 runs and 0 model versions"), "{err}");
    assert!(err.contains("2 runs and 4 versions already there"), "{err}");
    let second = read_back(&server.url);
    assert_eq!(second["runs"].as_array().unwrap().len(), 2);
    assert_eq!(second["versions"].as_array().unwrap().len(), 4);
    let staged = second["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["tags"]["expc.version"] == "3")
        .unwrap();
    assert_eq!(staged["stage"], "Staging");
    drop(server);
    expc_tests::remove_tree(&dir);
}

fn a_server_that_is_not_there_is_a_clear_error() {
    let dir = project("absent");
    let (ok, err) = expc(&dir, &["run", "--local", "registry.exp"]);
    assert!(ok, "{err}");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (ok, err) = expc(&dir, &["prov", "push", "--mlflow", &url]);
    assert!(!ok);
    assert!(
        err.contains("cannot reach the MLflow tracking server"),
        "{err}"
    );
    let (ok, err) = expc(
        &dir,
        &["prov", "push", "--mlflow", "https://mlflow.example"],
    );
    assert!(!ok);
    assert!(
        err.contains("is not an MLflow tracking server's URL"),
        "{err}"
    );
    expc_tests::remove_tree(&dir);
}
