//! The back end's suites: `expc build` for every target, `expc run` here and on the
//! engines (Slurm, Spark, Kubernetes), provenance and reports. One binary; each suite a
//! module of `backend/`. The suites that need an engine report their tests as ignored,
//! with the reason, when it is missing — and fail under `CI=true`.

mod build;
mod commands;
mod engines;
mod examples_run;
mod fanout;
mod k8s;
mod k8s_run;
mod mlflow;
mod provenance;
mod records;
mod registry;
mod remote;
mod report;
mod run;
mod shape;
mod shared_store;
mod slurm;
mod spark;
mod trust;
mod writes;

fn main() -> std::process::ExitCode {
    expc_tests::harness::main(&[
        // The longest first, so that two test threads end together.
        ("slurm", slurm::trials),
        ("spark", spark::trials),
        ("engines", engines::trials),
        ("examples_run", examples_run::trials),
        ("run", run::trials),
        ("fanout", fanout::trials),
        ("provenance", provenance::trials),
        ("shared_store", shared_store::trials),
        ("report", report::trials),
        ("k8s_run", k8s_run::trials),
        ("build", build::trials),
        ("k8s", k8s::trials),
        ("commands", commands::trials),
        ("records", records::trials),
        ("remote", remote::trials),
        ("mlflow", mlflow::trials),
        ("registry", registry::trials),
        ("writes", writes::trials),
        ("trust", trust::trials),
        ("shape", shape::trials),
    ])
}
