//! Remote inputs as the checker sees them: a data path with a scheme is a URL, never a
//! local path. The URL must be one the run can fetch ([`crate::remote_url`]) and name a
//! single file; nothing is fetched here (the checker does no IO).

use expc_diagnostics::{Code, Diagnostic, Span};

use crate::checker::Checker;
use crate::remote_url::{RemoteUrl, is_remote};
use crate::types::Type;

impl Checker<'_> {
    /// Checks `path`, the path of a data item or model of type `ty`, if it is a URL.
    pub(crate) fn remote_path(&mut self, path: &str, ty: Option<&Type>, span: Span) {
        if !is_remote(path) {
            return;
        }
        if let Err(why) = RemoteUrl::parse(path) {
            self.emit(
                Diagnostic::error(Code::INVALID_REMOTE_INPUT, why, span).with_help(
                    "write `https://host/path/file`, `http://host/path/file` or `s3://bucket/key`",
                ),
            );
            return;
        }
        if matches!(ty, Some(Type::Dir | Type::List(_))) {
            self.emit(
                Diagnostic::error(
                    Code::REMOTE_NOT_A_FILE,
                    "a remote input is one file, fetched and checked whole",
                    span,
                )
                .with_help("declare each object as a `File<F>` or `Table<F>` of its own, or fetch an archive and unpack it in a task"),
            );
        }
    }
}
