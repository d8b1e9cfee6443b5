//! The engines and tools some tests need, and the one rule for when one is missing.
//!
//! **The rule.** A test that needs an engine (a Slurm cluster, `spark-submit`, Graphviz,
//! Chromium, a validator) runs when the engine is there. When it is not:
//! - under `CI=true` (exactly `true`, as `.ci/run` sets it), the test fails, saying what is
//!   missing and how to install it: CI must run every test;
//! - otherwise it is reported as **ignored, with the reason**, never as passed.
//!
//! Each engine is probed once per test binary, the first time a test needs it, so a
//! missing cluster costs one failing `sinfo`, not one per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Whether a missing engine fails its tests: `CI=true`, as `.ci/run` sets it.
pub fn required() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Something a test needs that may not be installed or running here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A Slurm cluster that answers `sinfo` (`scripts/dev-slurm.sh up`).
    Slurm,
    /// PySpark's `spark-submit` and a Java to run it.
    Spark,
    /// Graphviz's `dot`.
    Graphviz,
    /// Headless Chromium, for the reports.
    Chromium,
    /// Neovim (`nvim`), whose built-in LSP client drives the language server.
    Neovim,
    /// The PROV and RO-Crate validators (Python's `prov` and `rocrate_validator`).
    ProvValidators,
    /// `kubernetes-validate` on `PATH`.
    KubernetesValidate,
    /// Node with the `kubernetes-models` validators in `tests/k8s/validate/node_modules`.
    KubernetesModels,
    /// Python's `yaml` and `kubernetes_validate`, which the `kubectl` stand-in uses.
    KubectlStandIn,
    /// Debian's PostgreSQL server programs, for a throwaway cluster (`support/postgres.rs`).
    Postgres,
    /// `moto`'s S3 server and boto3, for remote inputs (`support/remote.rs`).
    S3Server,
    /// PyPI mlflow: the `mlflow` command (a tracking server) and its Python client.
    Mlflow,
}

const ALL: [Engine; 12] = [
    Engine::Slurm,
    Engine::Spark,
    Engine::Graphviz,
    Engine::Chromium,
    Engine::Neovim,
    Engine::ProvValidators,
    Engine::KubernetesValidate,
    Engine::KubernetesModels,
    Engine::KubectlStandIn,
    Engine::Postgres,
    Engine::S3Server,
    Engine::Mlflow,
];

impl Engine {
    /// What a test needing it is said to need.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Slurm => "a Slurm cluster",
            Engine::Spark => "spark-submit",
            Engine::Graphviz => "Graphviz",
            Engine::Chromium => "Chromium",
            Engine::Neovim => "Neovim",
            Engine::ProvValidators => "the provenance validators",
            Engine::KubernetesValidate => "kubernetes-validate",
            Engine::KubernetesModels => "the kubernetes-models validators",
            Engine::KubectlStandIn => "the kubectl stand-in's Python modules",
            Engine::Postgres => "PostgreSQL",
            Engine::S3Server => "an S3 server (moto)",
            Engine::Mlflow => "MLflow",
        }
    }

    /// How to get it.
    pub fn remedy(self) -> &'static str {
        match self {
            Engine::Slurm => "start one with `scripts/dev-slurm.sh up`",
            Engine::Spark => "install it with `scripts/install-spark.sh`",
            Engine::Graphviz | Engine::Chromium | Engine::Neovim | Engine::Postgres => {
                "install it with `scripts/install-test-deps.sh`"
            }
            Engine::ProvValidators => "install them with `scripts/install-prov-validators.sh`",
            Engine::S3Server => "install it with `scripts/install-s3.sh`",
            Engine::KubernetesValidate | Engine::KubernetesModels | Engine::KubectlStandIn => {
                "install them with `scripts/install-k8s-validators.sh`"
            }
            Engine::Mlflow => "install it with `scripts/install-mlflow.sh`",
        }
    }

    /// `Ok` when it is here; else what was seen missing. Probed once per test binary.
    pub fn available(self) -> Result<(), String> {
        static PROBES: [OnceLock<Result<(), String>>; ALL.len()] =
            [const { OnceLock::new() }; ALL.len()];
        let slot = ALL
            .iter()
            .position(|e| *e == self)
            .expect("every engine is listed");
        PROBES[slot].get_or_init(|| self.probe()).clone()
    }

    /// Why a test needing it cannot run here: the reason it is ignored with.
    pub fn missing(self, seen: &str) -> String {
        format!("needs {}: {seen}; {}", self.name(), self.remedy())
    }

    /// Whether it is here, for a test that checks something else without it: `false` when
    /// it is missing, except under `CI=true`, where that panics.
    pub fn present(self) -> bool {
        match self.available() {
            Ok(()) => true,
            Err(seen) if required() => panic!("{}, and CI=true", self.missing(&seen)),
            Err(_) => false,
        }
    }

    fn probe(self) -> Result<(), String> {
        match self {
            Engine::Slurm => succeeds_with_output(Command::new("sinfo").args(["-h", "-o", "%t"]))
                .then_some(())
                .ok_or_else(|| "`sinfo` gets no answer".to_owned()),
            Engine::Spark => {
                find_spark_submit().ok_or("no `spark-submit` (PyPI pyspark)")?;
                succeeds(Command::new("java").arg("-version"))
                    .then_some(())
                    .ok_or_else(|| "no `java` to run spark-submit".to_owned())
            }
            Engine::Graphviz => succeeds(Command::new("dot").arg("-V"))
                .then_some(())
                .ok_or_else(|| "Graphviz `dot` is not installed".to_owned()),
            Engine::Neovim => succeeds(Command::new("nvim").arg("--version"))
                .then_some(())
                .ok_or_else(|| "`nvim` is not on PATH".to_owned()),
            Engine::Chromium => chromium()
                .map(|_| ())
                .ok_or_else(|| "`chromium` is not on PATH".to_owned()),
            Engine::ProvValidators => python_imports("prov, rocrate_validator"),
            Engine::KubernetesValidate => {
                succeeds(Command::new("kubernetes-validate").arg("--version"))
                    .then_some(())
                    .ok_or_else(|| "`kubernetes-validate` is not installed".to_owned())
            }
            Engine::KubernetesModels => succeeds(
                Command::new("node")
                    .current_dir(crate::root().join("tests/k8s/validate"))
                    .args([
                        "-e",
                        "await import('kubernetes-models/batch/v1/Job')",
                        "--input-type=module",
                    ]),
            )
            .then_some(())
            .ok_or_else(|| "node cannot load tests/k8s/validate/node_modules".to_owned()),
            Engine::KubectlStandIn => python_imports("yaml, kubernetes_validate"),
            Engine::S3Server => python_imports("moto.server, boto3, flask_cors"),
            Engine::Mlflow => {
                let bin = mlflow_bin().ok_or("no `mlflow` (PyPI mlflow)")?;
                succeeds(Command::new(bin.join("python")).args(["-c", "import mlflow"]))
                    .then_some(())
                    .ok_or_else(|| "the `mlflow` Python package does not import".to_owned())
            }
            Engine::Postgres => {
                crate::postgres::bin_dir()
                    .ok_or("no `initdb` and `pg_ctl` under /usr/lib/postgresql/*/bin")?;
                succeeds(Command::new("psql").arg("--version"))
                    .then_some(())
                    .ok_or_else(|| "no `psql` on PATH".to_owned())
            }
        }
    }
}

/// The `spark-submit` Spark tests run, for a test that needs [`Engine::Spark`]: the one
/// in the installed `pyspark` package's `bin/` (`scripts/install-spark.sh` installs it),
/// else the first on `PATH`. Its grandparent folder is a usable `SPARK_HOME`.
pub fn spark_submit() -> &'static Path {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(find_spark_submit)
        .as_deref()
        .expect("a test that needs Engine::Spark")
}

/// Headless Chromium on `PATH` (Debian's `chromium`, or `chromium-browser`).
pub fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

fn find_spark_submit() -> Option<PathBuf> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let from_pyspark = Command::new(python)
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(pyspark.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
                .join("bin")
                .join("spark-submit")
        })
        .filter(|p| p.is_file());
    from_pyspark.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join("spark-submit"))
            .find(|p| p.is_file())
    })
}

fn python_imports(modules: &str) -> Result<(), String> {
    succeeds(Command::new("python3").args(["-c", &format!("import {modules}")]))
        .then_some(())
        .ok_or_else(|| format!("python3 cannot import {modules}"))
}

fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn succeeds_with_output(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// The folder holding `mlflow` and the Python that has its client: the virtual environment
/// `scripts/install-mlflow.sh` makes (`EXPC_MLFLOW_VENV`, default `/opt/expc-mlflow`), else
/// the folder of the first `mlflow` on `PATH`.
pub fn mlflow_bin() -> Option<PathBuf> {
    let venv = std::env::var_os("EXPC_MLFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/expc-mlflow"));
    let bin = venv.join("bin");
    if bin.join("mlflow").is_file() {
        return Some(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| d.join("mlflow").is_file())
}
