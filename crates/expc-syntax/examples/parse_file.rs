//! Parses one file: a driver for measuring the front end alone
//! (`valgrind --tool=callgrind target/release/examples/parse_file FILE`), and for
//! comparing trees before and after a change to the parser (`--dump` prints the outline
//! with spans, then the whole tree and the diagnostics). `--time N` parses the file N
//! times in the process and prints the median, as `cargo xtask bench` measures it.
//!
//! Its allocator is mimalloc, as the `expc` binary's and `cargo xtask bench`'s, so that
//! instruction counts include what allocating costs there.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dump = args.iter().any(|a| a == "--dump");
    let Some(path) = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--time"))
        .map(|(_, a)| a)
    else {
        eprintln!("usage: parse_file [--dump | --time RUNS] FILE.exp");
        std::process::exit(2);
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    if let Some(runs) = args
        .iter()
        .position(|a| a == "--time")
        .and_then(|i| args.get(i + 1))
    {
        let Ok(runs) = runs.parse::<usize>() else {
            eprintln!("--time takes a number of runs, not `{runs}`");
            std::process::exit(2);
        };
        time(&bytes, runs.max(1));
        return;
    }
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

/// Parses `bytes` (decoded once) `runs` times and prints the median wall time of one parse,
/// dropping the tree included, as `cargo xtask bench` times "lex + parse".
fn time(bytes: &[u8], runs: usize) {
    let (text, _) = expc_syntax::decode(expc_diagnostics::FileId(0), bytes);
    let mut times: Vec<std::time::Duration> = (0..runs)
        .map(|_| {
            let start = std::time::Instant::now();
            std::hint::black_box(expc_syntax::parse(expc_diagnostics::FileId(0), &text));
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = times[runs / 2];
    println!(
        "lex + parse: median {:.1} ms of {runs} runs ({:.0} MB/s), fastest {:.1} ms",
        median.as_secs_f64() * 1e3,
        text.len() as f64 / 1e6 / median.as_secs_f64(),
        times[0].as_secs_f64() * 1e3
    );
}
