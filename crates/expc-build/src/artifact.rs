//! What every generator returns: the files it built, or why it built nothing.

use std::fmt;

/// One generated file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Relative to the output directory, with `/`.
    pub path: String,
    pub contents: String,
    pub executable: bool,
}

/// Why nothing was built: what is wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    pub message: String,
    pub help: String,
}

impl BuildError {
    pub fn new(message: String, help: String) -> Self {
        Self { message, help }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuildError {}
