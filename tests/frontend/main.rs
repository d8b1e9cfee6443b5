//! The front end's suites: parsing, broken specs, formatting, type checking, plans and
//! graphs, the CLI, the README's samples, robustness. One binary; each suite a module of
//! `frontend/`.

mod check;
mod cli;
mod errors;
mod fmt;
mod parse;
mod plan;
mod readme;
mod robustness;

fn main() -> std::process::ExitCode {
    expc_tests::harness::main(&[
        ("parse", parse::trials),
        ("errors", errors::trials),
        ("fmt", fmt::trials),
        ("check", check::trials),
        ("plan", plan::trials),
        ("cli", cli::trials),
        ("readme", readme::trials),
        ("robustness", robustness::trials),
    ])
}
