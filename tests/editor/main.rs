//! The editor's suites: the language server. One binary; each suite a module of `editor/`.

mod lsp;

fn main() -> std::process::ExitCode {
    expc_tests::harness::main(&[("lsp", lsp::trials)])
}
