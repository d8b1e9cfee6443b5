//! The editor's suites: the language server, the server in Neovim, its resilience to
//! broken files and what an editor asks while a spec is typed. One binary; each suite a module of `editor/`.

mod lsp;
mod neovim;
mod resilience;
mod typing;

fn main() -> std::process::ExitCode {
    expc_tests::harness::main(&[
        ("lsp", lsp::trials),
        ("neovim", neovim::trials),
        ("resilience", resilience::trials),
        ("typing", typing::trials),
    ])
}
