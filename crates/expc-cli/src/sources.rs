//! Reading specification files into a source map.

use std::path::Path;

use expc_diagnostics::{Diagnostic, FileId, SourceMap};
use miette::{IntoDiagnostic, WrapErr, miette};

/// Reads a file (or standard input for `-`), decoding it for the parser. Invalid UTF-8 is
/// reported as diagnostics, not as a failure.
pub fn load(sources: &mut SourceMap, path: &Path) -> miette::Result<(FileId, Vec<Diagnostic>)> {
    let bytes = if path.as_os_str() == "-" {
        expc_check::loader::read_capped(std::io::stdin().lock())
            .into_diagnostic()
            .wrap_err("cannot read standard input")?
    } else {
        if path.is_dir() {
            return Err(miette!(
                help = "pass the `.exp` files inside it, for example `{}/*.exp`",
                "`{}` is a directory",
                path.display()
            ));
        }
        expc_check::loader::read_source(path)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot read `{}`", path.display()))?
    };
    let name = if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    let id = FileId(sources.files().count() as u32);
    let (text, diagnostics) = expc_syntax::decode(id, &bytes);
    let added = sources.add(name, text);
    debug_assert_eq!(added, id);
    Ok((id, diagnostics))
}
