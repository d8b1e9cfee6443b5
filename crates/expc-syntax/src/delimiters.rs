//! Matching brackets before parsing.
//!
//! This pass reports unclosed and mismatched brackets with both ends labelled (which a
//! parser recovering token by token cannot do well), drops closing brackets that close
//! nothing, and cuts out anything nested deeper than [`MAX_DEPTH`], so that no input can
//! make parsing deep or slow.

use expc_diagnostics::{Code, Diagnostic, FileId, Label, Span};

use crate::token::Token;

/// The deepest bracket nesting accepted.
pub const MAX_DEPTH: usize = 128;

fn partner(open: Token<'_>) -> Option<Token<'static>> {
    Some(match open {
        Token::LParen => Token::RParen,
        Token::LBracket => Token::RBracket,
        Token::LBrace => Token::RBrace,
        Token::TplStart => Token::TplEnd,
        Token::TplInterpStart => Token::TplInterpEnd,
        _ => return None,
    })
}

fn close_of(open: Token<'_>) -> Token<'static> {
    partner(open).unwrap_or(Token::RBrace)
}

fn is_close(t: Token<'_>) -> bool {
    matches!(
        t,
        Token::RParen | Token::RBracket | Token::RBrace | Token::TplEnd | Token::TplInterpEnd
    )
}

/// Whether every bracket is closed by its partner, at most [`MAX_DEPTH`] deep.
fn balanced(tokens: &[(Token<'_>, Span)]) -> bool {
    let mut stack: Vec<Token<'static>> = Vec::new();
    for &(token, _) in tokens {
        if let Some(close) = partner(token) {
            if stack.len() >= MAX_DEPTH {
                return false;
            }
            stack.push(close);
        } else if is_close(token) && stack.pop() != Some(token) {
            return false;
        }
    }
    stack.is_empty()
}

/// The result of [`check`].
#[derive(Debug)]
pub struct Checked<'s> {
    pub tokens: Vec<(Token<'s>, Span)>,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn check<'s>(file: FileId, len: usize, tokens: Vec<(Token<'s>, Span)>) -> Checked<'s> {
    // The common case, brackets that match and are not too deep, changes nothing: check
    // that without copying the tokens.
    if balanced(&tokens) {
        return Checked {
            tokens,
            diagnostics: Vec::new(),
        };
    }
    let mut out = Vec::with_capacity(tokens.len());
    let mut diagnostics = Vec::new();
    let mut stack: Vec<(Token<'s>, Span)> = Vec::new();
    // While cutting out an over-deep region: how deep inside it we are.
    let mut cut_depth = 0usize;
    for (token, span) in tokens {
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
            out.push((token, span));
            continue;
        }
        if !is_close(token) {
            out.push((token, span));
            continue;
        }
        match stack.last() {
            Some(&(open, _)) if partner(open) == Some(token) => {
                stack.pop();
                out.push((token, span));
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
                                format!("mismatched closing delimiter `{token}`"),
                                span,
                            )
                            .with_primary_message(format!("expected `{}` first", close_of(open)))
                            .with_label(open_span, format!("`{open}` is not closed"))
                            .with_help(format!("add `{}` before this `{token}`", close_of(open))),
                        );
                        for &(inner, _) in stack[i + 1..].iter().rev() {
                            out.push((close_of(inner), span.start_point()));
                        }
                        stack.truncate(i);
                        out.push((token, span));
                    }
                    // Most likely a typo for the partner of the innermost open bracket.
                    (None, Some((open, open_span))) => {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::MISMATCHED_DELIMITER,
                                format!("mismatched closing delimiter `{token}`"),
                                span,
                            )
                            .with_primary_message(format!("expected `{}`", close_of(open)))
                            .with_label(open_span, format!("`{open}` opened here"))
                            .with_help(format!("close `{open}` with `{}`", close_of(open))),
                        );
                        stack.pop();
                        out.push((close_of(open), span));
                    }
                    (_, None) => {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::MISMATCHED_DELIMITER,
                                format!("unexpected closing delimiter `{token}`"),
                                span,
                            )
                            .with_primary_message("this closes nothing")
                            .with_help(format!(
                                "remove this `{token}`, or add its opening partner"
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
            format!("unclosed delimiter `{open}`"),
            open_span,
        )
        .with_primary_message("this is never closed")
        .with_help(format!("add the missing `{}`", close_of(open)));
        // The innermost few outer brackets help; hundreds would drown the message.
        for &(outer, outer_span) in stack[..stack.len() - 1].iter().rev().take(4) {
            d = d.with_label(outer_span, format!("`{outer}` also unclosed"));
        }
        d.labels.push(Label {
            span: eof,
            message: "the file ends here".into(),
        });
        diagnostics.push(d);
    }
    Checked {
        tokens: out,
        diagnostics,
    }
}
