//! Arbitrary bytes through decoding, lexing, parsing, formatting and rendering: none may
//! panic, and formatting a valid file must be idempotent.
//!
//! Run with `cargo +nightly fuzz run parse` from this directory (seed it with
//! `../examples` and `../tests/fixtures`).

#![no_main]

use expc_diagnostics::FileId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, parsed) = expc_syntax::parse_bytes(FileId(0), data);
    if !parsed.has_errors() {
        let once = expc_fmt::format_parsed(&parsed, &text);
        let twice = expc_fmt::format_source(FileId(0), &once).expect("formatted output parses");
        assert_eq!(once, twice);
    }
    let mut sources = expc_diagnostics::SourceMap::new();
    sources.add("fuzz.exp", text);
    let shown = &parsed.diagnostics[..parsed.diagnostics.len().min(50)];
    let _ = expc_diagnostics::render::render_all(
        shown,
        &sources,
        expc_diagnostics::render::RenderOptions { color: false },
    );
});
