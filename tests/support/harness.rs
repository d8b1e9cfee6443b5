//! The test harness of the suites (libtest-mimic): every test and every fixture case is a
//! trial named `SUITE::TEST` or `SUITE::TEST::CASE`, so `cargo test -p expc-tests --test
//! frontend -- check::fixture::duplicate_param` runs one case and a failure names its case.
//!
//! A test binary (`frontend/main.rs`, `backend/main.rs`, `editor/main.rs`) lists its suites; each suite
//! is a module with `pub fn trials(suite: &mut Suite)` that adds its tests, one per
//! fixture where it reads fixtures. A test that needs an engine is added with
//! [`Suite::needs`]: it is ignored with the reason when the engine is missing, and fails
//! under `CI=true` (see [`crate::engine`]).
//!
//! The binary runs with a fresh temporary folder as its working directory, which holds
//! every test's scratch folders ([`crate::temp_path`]) and is removed when every test
//! passed: nothing a test or a tool it starts writes lands in the checkout.

use std::fmt::Display;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Trial};

use crate::engine::{self, Engine};

/// The tests of one suite, each named `SUITE::…`.
#[derive(Debug)]
pub struct Suite {
    name: &'static str,
    trials: Vec<Trial>,
}

impl Suite {
    /// A test that passes unless it panics.
    pub fn test(&mut self, name: impl Display, test: impl FnOnce() + Send + 'static) {
        let name = format!("{}::{name}", self.name);
        self.trials.push(Trial::test(name, move || {
            test();
            Ok(())
        }));
    }

    /// One test per case: `SUITE::TEST::CASE`, each given its case.
    pub fn each<C: Send + 'static>(
        &mut self,
        test: &str,
        cases: impl IntoIterator<Item = (String, C)>,
        run: fn(C),
    ) {
        for (case, input) in cases {
            self.test(format_args!("{test}::{case}"), move || run(input));
        }
    }

    /// A test that needs `engine`: ignored with the reason when it is missing, except
    /// under `CI=true`, where that fails the test.
    pub fn needs(
        &mut self,
        engine: Engine,
        name: impl Display,
        test: impl FnOnce() + Send + 'static,
    ) {
        let name = format!("{}::{name}", self.name);
        self.trials.push(Trial::ignorable_test(name, move || {
            match engine.available() {
                Ok(()) => {
                    test();
                    Ok(Completion::Completed)
                }
                Err(seen) if engine::required() => {
                    Err(format!("{}, and CI=true", engine.missing(&seen)).into())
                }
                Err(seen) => Ok(Completion::ignored_with(engine.missing(&seen))),
            }
        }));
    }

    /// [`Suite::each`] for cases that need `engine`.
    pub fn each_needing<C: Send + 'static>(
        &mut self,
        engine: Engine,
        test: &str,
        cases: impl IntoIterator<Item = (String, C)>,
        run: fn(C),
    ) {
        for (case, input) in cases {
            self.needs(engine, format_args!("{test}::{case}"), move || run(input));
        }
    }
}

/// What a suite gives the harness: the function that adds its tests.
pub type Trials = fn(&mut Suite);

/// Runs the trials of `suites` (name, function adding its tests) with the arguments the
/// binary was given; the binary's `main`.
pub fn main(suites: &[(&'static str, Trials)]) -> ExitCode {
    let args = Arguments::from_args();
    let scratch = crate::scratch_root();
    std::fs::create_dir_all(scratch).expect("a temporary folder");
    std::env::set_current_dir(scratch).expect("the temporary folder as working directory");
    let mut trials = Vec::new();
    for (name, add) in suites {
        let mut suite = Suite {
            name,
            trials: Vec::new(),
        };
        add(&mut suite);
        trials.append(&mut suite.trials);
    }
    let conclusion = libtest_mimic::run(&args, trials);
    crate::postgres::stop();
    if !conclusion.has_failed() {
        crate::remove_tree(scratch);
    } else {
        eprintln!(
            "the tests' scratch folders are kept in {}",
            scratch.display()
        );
    }
    conclusion.exit_code()
}
