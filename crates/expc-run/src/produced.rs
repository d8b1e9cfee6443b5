//! Lists of files a task produces (`parts: List<File<Csv>> = glob("parts/*.csv")`): what a
//! run checks when the task ends, and the files a loop over the list is expanded to.

use std::path::Path;

use expc_check::glob::Pattern;
use expc_check::ir;
use expc_check::loader::FsLoader;

/// The pattern of `task`'s list output `output`, if it is one.
pub fn pattern<'p>(program: &'p ir::Program, task: &str, output: &str) -> Option<&'p str> {
    program
        .tasks
        .iter()
        .find(|t| t.id == task)?
        .outputs
        .iter()
        .find(|o| o.name == output)?
        .pattern
        .as_deref()
}

/// The files under `dir` (the instance's work or output folder) that the list output's
/// `pattern` matches, as the pattern writes them (`parts/a.csv`), sorted.
pub fn files(dir: &Path, pattern: &str) -> Result<Vec<String>, String> {
    let p = Pattern::parse(pattern).map_err(|e| e.0)?;
    Ok(p.expand(dir, &FsLoader)?.unwrap_or_default())
}

/// A list output must hold at least one file: a loop over an empty one would plan
/// nothing and a gather would read nothing, which is never what the task was for.
pub fn check(work: &Path, name: &str, pattern: &str) -> Result<(), String> {
    let found = files(work, pattern)
        .map_err(|e| format!("cannot list its output `{name}` (`{pattern}`): {e}"))?;
    if found.is_empty() {
        return Err(format!(
            "exited with status 0 but wrote no file matching `{pattern}` for its list output `{name}`: write at least one there"
        ));
    }
    Ok(())
}
