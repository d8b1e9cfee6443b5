//! Arbitrary bytes through the whole checker (parsing, name resolution, types, the IR):
//! it may report anything but must not panic, and builds an IR only for a valid program.
//!
//! Run with `cargo +nightly fuzz run check` from this directory (seed it with
//! `../examples` and `../tests/check`).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let loader = expc_check::MemoryLoader::new().with("fuzz.exp", data.to_vec());
    let mut sources = expc_diagnostics::SourceMap::new();
    let path = Path::new("fuzz.exp");
    let (file, _) = expc_check::load_root(path, &loader, &mut sources).expect("in memory");
    let checked = expc_check::check(path, file, &mut sources, &loader, &expc_check::Overrides::new());
    assert!(checked.program.is_none() || !checked.has_errors());
});
