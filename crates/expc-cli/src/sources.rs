//! Reading specification files into a source map.

use std::io::Read;
use std::path::Path;

use expc_diagnostics::{Diagnostic, FileId, SourceMap};
use miette::{IntoDiagnostic, WrapErr, miette};

/// Files larger than this are refused: spans are 32-bit.
const MAX_FILE_SIZE: u64 = u32::MAX as u64 - 1;

/// Reads a file (or standard input for `-`), decoding it for the parser. Invalid UTF-8 is
/// reported as diagnostics, not as a failure.
pub fn load(sources: &mut SourceMap, path: &Path) -> miette::Result<(FileId, Vec<Diagnostic>)> {
    let bytes = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .into_diagnostic()
            .wrap_err("cannot read standard input")?;
        buf
    } else {
        let meta = std::fs::metadata(path)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot read `{}`", path.display()))?;
        if meta.is_dir() {
            return Err(miette!(
                help = "pass the `.exp` files inside it, for example `{}/*.exp`",
                "`{}` is a directory",
                path.display()
            ));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(miette!("`{}` is larger than 4 GiB", path.display()));
        }
        std::fs::read(path)
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
