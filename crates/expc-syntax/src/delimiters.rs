//! Matching brackets before parsing.
//!
//! This pass reports unclosed and mismatched brackets with both ends labelled (which a
//! parser recovering token by token cannot do well), drops closing brackets that close
//! nothing, and cuts out anything nested deeper than [`MAX_DEPTH`], so that no input can
//! make parsing deep or slow.

use expc_diagnostics::{Code, Diagnostic, FileId, Label, Span};

use crate::token::{Kind, Tok, Token};

/// The deepest bracket nesting accepted.
pub const MAX_DEPTH: usize = 128;

fn partner(open: Kind) -> Option<Kind> {
    Some(match open {
        Kind::LParen => Kind::RParen,
        Kind::LBracket => Kind::RBracket,
        Kind::LBrace => Kind::RBrace,
        Kind::TplStart => Kind::TplEnd,
        Kind::TplInterpStart => Kind::TplInterpEnd,
        _ => return None,
    })
}

fn close_of(open: Kind) -> Kind {
    partner(open).unwrap_or(Kind::RBrace)
}

fn is_close(t: Kind) -> bool {
    matches!(
        t,
        Kind::RParen | Kind::RBracket | Kind::RBrace | Kind::TplEnd | Kind::TplInterpEnd
    )
}

/// How brackets are written, for messages.
fn text(kind: Kind) -> Token<'static> {
    kind.with_text("")
}

/// A token as the pass sees it: public `(Token, Span)` pairs or the parser's compact ones.
trait Bracket: Copy {
    fn kind(&self) -> Kind;
    fn span(&self, file: FileId) -> Span;
    /// A closing bracket inserted at `span`.
    fn close(kind: Kind, span: Span) -> Self;
}

impl<'s> Bracket for (Token<'s>, Span) {
    fn kind(&self) -> Kind {
        Kind::of(&self.0)
    }

    fn span(&self, _: FileId) -> Span {
        self.1
    }

    fn close(kind: Kind, span: Span) -> Self {
        (text(kind), span)
    }
}

impl Bracket for Tok {
    fn kind(&self) -> Kind {
        self.kind
    }

    fn span(&self, file: FileId) -> Span {
        Tok::span(self, file)
    }

    fn close(kind: Kind, span: Span) -> Self {
        Tok {
            kind,
            start: span.start,
            end: span.end,
        }
    }
}

/// Whether every bracket is closed by its partner, at most [`MAX_DEPTH`] deep.
fn balanced<T: Bracket>(tokens: &[T]) -> bool {
    let mut stack: Vec<Kind> = Vec::new();
    for token in tokens {
        let kind = token.kind();
        if let Some(close) = partner(kind) {
            if stack.len() >= MAX_DEPTH {
                return false;
            }
            stack.push(close);
        } else if is_close(kind) && stack.pop() != Some(kind) {
            return false;
        }
    }
    stack.is_empty()
}

/// One pass over the tokens: `None` if the brackets do not match or nest too deep, else
/// whether type arguments nest deeper than [`MAX_TYPE_DEPTH`] (see [`cap_type_arguments`]).
fn scan<T: Bracket>(tokens: &[T]) -> Option<bool> {
    let mut stack: Vec<Kind> = Vec::new();
    let mut type_depth = 0usize;
    let mut after_word = false;
    for (i, token) in tokens.iter().enumerate() {
        let kind = token.kind();
        match kind {
            Kind::Lt => {
                if after_word && tokens.get(i + 1).is_some_and(|n| n.kind() == Kind::Ident) {
                    type_depth += 1;
                    if type_depth > MAX_TYPE_DEPTH {
                        return Some(true);
                    }
                }
            }
            Kind::Gt => type_depth = type_depth.saturating_sub(1),
            Kind::Ident | Kind::Comma | Kind::Question | Kind::Dot => {}
            _ => {
                type_depth = 0;
                if let Some(close) = partner(kind) {
                    if stack.len() >= MAX_DEPTH {
                        return None;
                    }
                    stack.push(close);
                } else if is_close(kind) && stack.pop() != Some(kind) {
                    return None;
                }
            }
        }
        after_word = kind == Kind::Ident;
    }
    stack.is_empty().then_some(false)
}

/// The result of [`check`].
#[derive(Debug)]
pub struct Checked<'s> {
    pub tokens: Vec<(Token<'s>, Span)>,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn check<'s>(file: FileId, len: usize, tokens: Vec<(Token<'s>, Span)>) -> Checked<'s> {
    let (tokens, diagnostics) = check_tokens(file, len, tokens);
    Checked {
        tokens,
        diagnostics,
    }
}

/// [`check`] on the parser's compact tokens.
pub(crate) fn check_compact(
    file: FileId,
    len: usize,
    tokens: Vec<Tok>,
) -> (Vec<Tok>, Vec<Diagnostic>) {
    check_tokens(file, len, tokens)
}

fn check_tokens<T: Bracket>(file: FileId, len: usize, tokens: Vec<T>) -> (Vec<T>, Vec<Diagnostic>) {
    // The common case, one pass that copies nothing: brackets that match, none too deep,
    // and type arguments within bounds.
    if let Some(false) = scan(&tokens) {
        return (tokens, Vec::new());
    }
    let (tokens, deep_types) = cap_type_arguments(file, tokens);
    let (tokens, mut diagnostics) = check_brackets(file, len, tokens);
    diagnostics.extend(deep_types);
    (tokens, diagnostics)
}

/// The deepest nesting of type arguments accepted (`List<List<…>>`).
pub const MAX_TYPE_DEPTH: usize = 64;

/// Type arguments are not brackets to this pass (`<` is also a comparison), but they nest
/// as deep as the input says, and parsing and checking them recurses: a `<` between two
/// words opens type arguments, any token that cannot be inside a type (`{`, `=`, a
/// literal…) ends them all. Arguments nested deeper than [`MAX_TYPE_DEPTH`] are cut out,
/// from the `<` to its `>`, and reported once.
fn cap_type_arguments<T: Bracket>(file: FileId, tokens: Vec<T>) -> (Vec<T>, Option<Diagnostic>) {
    let in_type = |k: Kind| {
        matches!(
            k,
            Kind::Ident | Kind::Lt | Kind::Gt | Kind::Comma | Kind::Question | Kind::Dot
        )
    };
    let opens = |tokens: &[T], i: usize| {
        tokens[i].kind() == Kind::Lt
            && i > 0
            && tokens[i - 1].kind() == Kind::Ident
            && tokens.get(i + 1).is_some_and(|t| t.kind() == Kind::Ident)
    };
    // Reached only when [`scan`] found something wrong; the tokens are copied.
    let mut out = Vec::with_capacity(tokens.len());
    let mut diagnostic = None;
    let (mut depth, mut cut) = (0usize, 0usize);
    for i in 0..tokens.len() {
        let k = tokens[i].kind();
        if cut > 0 {
            match k {
                Kind::Lt => cut += 1,
                Kind::Gt => cut -= 1,
                _ if !in_type(k) => cut = 0,
                _ => {}
            }
            if cut > 0 || k == Kind::Gt {
                continue;
            }
        }
        if opens(&tokens, i) {
            depth += 1;
            if depth > MAX_TYPE_DEPTH {
                depth -= 1;
                cut = 1;
                diagnostic.get_or_insert_with(|| {
                    Diagnostic::error(
                        Code::NESTING_TOO_DEEP,
                        format!("type arguments nested more than {MAX_TYPE_DEPTH} levels deep"),
                        tokens[i].span(file),
                    )
                    .with_primary_message("these arguments are too deep; they are skipped")
                    .with_help("no data needs this: flatten the type, for example with a `Table`")
                });
                // The word before the cut is left without arguments.
                continue;
            }
        } else if k == Kind::Gt {
            depth = depth.saturating_sub(1);
        } else if !in_type(k) {
            depth = 0;
        }
        out.push(tokens[i]);
    }
    (out, diagnostic)
}

fn check_brackets<T: Bracket>(
    file: FileId,
    len: usize,
    tokens: Vec<T>,
) -> (Vec<T>, Vec<Diagnostic>) {
    // The common case, brackets that match and are not too deep, changes nothing: check
    // that without copying the tokens.
    if balanced(&tokens) {
        return (tokens, Vec::new());
    }
    let mut out = Vec::with_capacity(tokens.len());
    let mut diagnostics = Vec::new();
    let mut stack: Vec<(Kind, Span)> = Vec::new();
    // While cutting out an over-deep region: how deep inside it we are.
    let mut cut_depth = 0usize;
    for t in tokens {
        let (token, span) = (t.kind(), t.span(file));
        if cut_depth > 0 {
            if partner(token).is_some() {
                cut_depth += 1;
            } else if is_close(token) {
                cut_depth -= 1;
            }
            continue;
        }
        if partner(token).is_some() {
            if stack.len() >= MAX_DEPTH {
                diagnostics.push(
                    Diagnostic::error(
                        Code::NESTING_TOO_DEEP,
                        format!("brackets nested more than {MAX_DEPTH} levels deep"),
                        span,
                    )
                    .with_primary_message("this bracket is too deep; its contents are skipped")
                    .with_help("flatten the expression or split it into several declarations"),
                );
                cut_depth = 1;
                continue;
            }
            stack.push((token, span));
            out.push(t);
            continue;
        }
        if !is_close(token) {
            out.push(t);
            continue;
        }
        match stack.last() {
            Some(&(open, _)) if partner(open) == Some(token) => {
                stack.pop();
                out.push(t);
            }
            _ => {
                let matching = stack
                    .iter()
                    .rposition(|&(open, _)| partner(open) == Some(token));
                match (matching, stack.last().copied()) {
                    // An inner bracket was left open: close it here, then this one.
                    (Some(i), Some((open, open_span))) => {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::MISMATCHED_DELIMITER,
                                format!("mismatched closing delimiter `{}`", text(token)),
                                span,
                            )
                            .with_primary_message(format!(
                                "expected `{}` first",
                                text(close_of(open))
                            ))
                            .with_label(open_span, format!("`{}` is not closed", text(open)))
                            .with_help(format!(
                                "add `{}` before this `{}`",
                                text(close_of(open)),
                                text(token)
                            )),
                        );
                        for &(inner, _) in stack[i + 1..].iter().rev() {
                            out.push(T::close(close_of(inner), span.start_point()));
                        }
                        stack.truncate(i);
                        out.push(t);
                    }
                    // Most likely a typo for the partner of the innermost open bracket.
                    (None, Some((open, open_span))) => {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::MISMATCHED_DELIMITER,
                                format!("mismatched closing delimiter `{}`", text(token)),
                                span,
                            )
                            .with_primary_message(format!("expected `{}`", text(close_of(open))))
                            .with_label(open_span, format!("`{}` opened here", text(open)))
                            .with_help(format!(
                                "close `{}` with `{}`",
                                text(open),
                                text(close_of(open))
                            )),
                        );
                        stack.pop();
                        out.push(T::close(close_of(open), span));
                    }
                    (_, None) => {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::MISMATCHED_DELIMITER,
                                format!("unexpected closing delimiter `{}`", text(token)),
                                span,
                            )
                            .with_primary_message("this closes nothing")
                            .with_help(format!(
                                "remove this `{}`, or add its opening partner",
                                text(token)
                            )),
                        );
                    }
                }
            }
        }
    }
    if let Some(&(open, open_span)) = stack.last() {
        let eof = Span::new(file, len, len);
        let mut d = Diagnostic::error(
            Code::UNCLOSED_DELIMITER,
            format!("unclosed delimiter `{}`", text(open)),
            open_span,
        )
        .with_primary_message("this is never closed")
        .with_help(format!("add the missing `{}`", text(close_of(open))));
        // The innermost few outer brackets help; hundreds would drown the message.
        for &(outer, outer_span) in stack[..stack.len() - 1].iter().rev().take(4) {
            d = d.with_label(outer_span, format!("`{}` also unclosed", text(outer)));
        }
        d.labels.push(Label {
            span: eof,
            message: "the file ends here".into(),
        });
        diagnostics.push(d);
    }
    (out, diagnostics)
}
