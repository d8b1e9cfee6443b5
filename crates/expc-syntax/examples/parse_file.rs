//! Parses one file: a driver for measuring the front end alone
//! (`valgrind --tool=callgrind target/release/examples/parse_file FILE`), and for
//! comparing trees before and after a change to the parser (`--dump` prints the outline
//! with spans, then the whole tree and the diagnostics).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dump = args.iter().any(|a| a == "--dump");
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: parse_file [--dump] FILE.exp");
        std::process::exit(2);
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    let (_text, parsed) = expc_syntax::parse_bytes(expc_diagnostics::FileId(0), &bytes);
    if dump {
        println!("{}", expc_syntax::dump::outline(&parsed.file, true));
        println!("{:#?}", parsed.file);
        println!("{:#?}", parsed.diagnostics);
    } else {
        println!(
            "{} items, {} diagnostics",
            parsed.file.items.len(),
            parsed.diagnostics.len()
        );
    }
}
