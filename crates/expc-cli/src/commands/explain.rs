//! `expc explain CODE`: the long explanation of a diagnostic code.

use std::process::ExitCode;

use expc_diagnostics::codes;
use miette::miette;

use crate::cli::ExplainArgs;

pub fn run(args: ExplainArgs) -> miette::Result<ExitCode> {
    if args.list {
        for info in codes::ALL {
            println!("{}  {:<22} {}", info.code.id, info.code.name, info.summary);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let query = args.code.unwrap_or_default();
    match codes::lookup(query.trim()) {
        Some(info) => {
            print!("{}", info.explanation);
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
