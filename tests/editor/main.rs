//! The editor's suites: the language server, and its resilience to broken files. One
//! binary; each suite a module of `editor/`.

mod lsp;
mod resilience;

fn main() -> std::process::ExitCode {
    expc_tests::harness::main(&[("lsp", lsp::trials), ("resilience", resilience::trials)])
}
