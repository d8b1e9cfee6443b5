//! The language server in a real editor: headless Neovim, its built-in LSP client set up
//! with the configuration `editors/README.md` gives for the installed version, copied
//! from the README as it is written. A Lua script (`neovim/drive.lua`) opens a spec that
//! has a mistake, and records the diagnostics Neovim shows, the text of the window
//! `vim.lsp.buf.hover()` opens and where `vim.lsp.buf.definition()` puts the cursor.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expc_tests::Suite;
use expc_tests::engine::Engine;
use serde_json::Value;

use crate::lsp::{SMALL, pos};

pub fn trials(suite: &mut Suite) {
    suite.needs(
        Engine::Neovim,
        "neovim_shows_diagnostics_hover_and_definition_as_configured_in_the_docs",
        neovim_shows_diagnostics_hover_and_definition_as_configured_in_the_docs,
    );
}

/// How long Neovim may take for all of it before it is stopped.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The installed Neovim's (major, minor) version, from `nvim --version`.
fn version() -> (u32, u32) {
    let out = Command::new("nvim")
        .arg("--version")
        .output()
        .expect("nvim");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("NVIM v"))
        .unwrap_or_else(|| panic!("unexpected `nvim --version`: {text}"));
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The Lua block that follows `<!-- MARKER -->` in editors/README.md.
fn documented_config(marker: &str) -> String {
    let readme = std::fs::read_to_string(expc_tests::root().join("editors/README.md")).unwrap();
    let after = readme
        .split_once(&format!("<!-- {marker} -->"))
        .unwrap_or_else(|| panic!("editors/README.md has no `<!-- {marker} -->`"))
        .1;
    let block = after
        .trim_start()
        .strip_prefix("```lua\n")
        .unwrap_or_else(|| panic!("no ```lua block after `<!-- {marker} -->`"));
    block.split_once("```").unwrap().0.to_owned()
}

fn neovim_shows_diagnostics_hover_and_definition_as_configured_in_the_docs() {
    let marker = if version() >= (0, 11) {
        "neovim-0.11"
    } else {
        "neovim-0.7"
    };
    let dir = expc_tests::temp_path("neovim", "session");
    let project = dir.join("project");
    let config = dir.join("config");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    std::fs::create_dir_all(config.join("nvim")).unwrap();
    std::fs::write(config.join("nvim/init.lua"), documented_config(marker)).unwrap();
    let broken = SMALL.replacen("times = epochs)", "times = epoch)", 1);
    let spec = project.join("small.exp");
    std::fs::write(&spec, &broken).unwrap();
    let out = dir.join("out.json");

    // `expc` as the docs start it: from PATH.
    let bin = expc_tests::expc().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    // Cursor positions as Neovim takes them: 1-based lines, byte columns.
    let cursor = |needle: &str, shift: usize| {
        let (line, column) = pos(&broken, needle, 0, shift);
        format!("{},{column}", line + 1)
    };
    let drive = expc_tests::root().join("tests/editor/neovim/drive.lua");
    let mut child = Command::new("nvim")
        .arg("--headless")
        .arg("small.exp")
        .arg("-c")
        .arg(format!("luafile {}", drive.display()))
        .current_dir(&project)
        .env("PATH", path)
        .env("HOME", &dir)
        .env("XDG_CONFIG_HOME", &config)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("EXPC_NVIM_OUT", &out)
        .env("EXPC_NVIM_HOVER", cursor("times = epochs", 9))
        .env("EXPC_NVIM_DEFINITION", cursor("= count(", 3))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nvim");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("Neovim did not finish in {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let seen: Value = std::fs::read_to_string(&out)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_else(|e| panic!("Neovim wrote nothing ({e}); {status}, stderr: {stderr}"));
    assert!(
        seen["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["ok"] == true),
        "a step timed out: {seen:#}\nstderr: {stderr}"
    );
    assert_eq!(seen["filetype"], "exp");
    assert_eq!(seen["client"], "expc");

    // The one mistake, where it is.
    let diagnostics = seen["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{seen:#}");
    let (line, column) = pos(&broken, "times = epoch)", 0, 8);
    assert_eq!(diagnostics[0]["line"], line);
    assert_eq!(diagnostics[0]["column"], column);
    assert_eq!(diagnostics[0]["severity"], 1);
    let message = diagnostics[0]["message"].as_str().unwrap();
    assert!(message.contains("unknown name `epoch`"), "{message}");

    // Hover on a use of `epochs`: its declaration and doc.
    let hover: Vec<&str> = seen["hover"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let hover = hover.join("\n");
    assert!(hover.contains("param epochs: Int = 20"), "{hover}");
    assert!(hover.contains("How many passes."), "{hover}");

    // Definition of the call's task: the cursor on the task's name.
    let (line, column) = pos(&broken, "task count", 0, 5);
    assert_eq!(seen["definition"]["line"], line + 1, "{seen:#}");
    assert_eq!(seen["definition"]["column"], column, "{seen:#}");
    assert_eq!(
        Path::new(seen["definition"]["file"].as_str().unwrap()),
        std::fs::canonicalize(&spec).unwrap()
    );
}
