//! Remote inputs as the checker sees them: a data path with a scheme is a URL, never a
//! local path. The URL must be one the run can fetch ([`crate::remote_url`]) and name a
//! single file; nothing is fetched here (the checker does no IO).

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, ExprKind};

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

/// The arguments of `git(…)`, when a data item's value is that call.
pub fn git_call(e: &ast::Expr) -> Option<&[ast::Arg]> {
    match &e.kind {
        ExprKind::Call { callee, args } => match &callee.kind {
            ExprKind::Name(n) if n.name == "git" => Some(args),
            _ => None,
        },
        _ => None,
    }
}

impl Checker<'_> {
    /// `git(repo, rev, path)` — three string literals, by position or by name — as the
    /// data item's path, `git+REPO#REV:PATH`.
    pub(crate) fn git_path(&mut self, args: &[ast::Arg], span: Span) -> Option<String> {
        let usage = "write `git(\"https://host/repo.git\", \"v1.0\", \"data/x.csv\")`: the repository, a branch, tag or commit, and a file's path in it";
        let names = ["repo", "rev", "path"];
        let mut got: [Option<String>; 3] = Default::default();
        for (i, arg) in args.iter().enumerate() {
            let slot = match &arg.name {
                Some(n) => names.iter().position(|x| *x == n.name.as_str()),
                None => (i < 3).then_some(i),
            };
            let value = match &arg.value.kind {
                ExprKind::String(s) => Some(s.value.to_string()),
                _ => None,
            };
            match (slot, value) {
                (Some(k), Some(v)) if got[k].is_none() => got[k] = Some(v),
                _ => {
                    let d = Diagnostic::error(
                        Code::INVALID_GIT_INPUT,
                        "the arguments of `git(…)` are three strings: `repo`, `rev` and `path`",
                        arg.span,
                    );
                    self.emit(d.with_help(usage));
                    return None;
                }
            }
        }
        let [Some(repo), Some(rev), Some(path)] = got else {
            let d = Diagnostic::error(
                Code::INVALID_GIT_INPUT,
                "`git(…)` needs a repository, a revision and a path",
                span,
            );
            self.emit(d.with_help(usage));
            return None;
        };
        match RemoteUrl::git(&repo, &rev, &path) {
            Ok(url) => Some(url.to_string()),
            Err(why) => {
                let d = Diagnostic::error(Code::INVALID_GIT_INPUT, why, span);
                self.emit(d.with_help(usage));
                None
            }
        }
    }
}
