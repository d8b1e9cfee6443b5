//! `expc explain CODE`: the long explanation of a diagnostic code.

use std::process::ExitCode;

use expc_diagnostics::codes;
use miette::miette;

use crate::cli::ExplainArgs;

pub fn run(args: ExplainArgs) -> miette::Result<ExitCode> {
    if args.list {
        let mut text = String::new();
        for info in codes::ALL {
            text += &format!(
                "{}  {:<22} {}\n",
                info.code.id, info.code.name, info.summary
            );
        }
        super::write_stdout(text.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let query = args.code.unwrap_or_default();
    match codes::lookup(query.trim()) {
        Some(info) => {
            super::write_stdout(info.explanation.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let names = codes::ALL.iter().flat_map(|i| [i.code.id, i.code.name]);
            let help = match expc_syntax::suggest::closest(&query, names) {
                Some(s) => format!("did you mean `{s}`? `expc explain --list` lists every code"),
                None => "`expc explain --list` lists every code".to_owned(),
            };
            Err(miette!(help = help, "unknown diagnostic code `{query}`"))
        }
    }
}
