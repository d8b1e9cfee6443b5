//! The parser's error type: rich errors only when they will be shown.
//!
//! Building chumsky's `Rich` errors (expected-token sets, labels) on every failed
//! alternative is most of the cost of parsing a valid file. So a file is parsed first with
//! errors that record nothing; only if that parse fails is it parsed again with rich
//! errors, to report them. Which kind is built is a thread-local switch.

use std::cell::Cell;

use chumsky::error::{Error, LabelError, Rich, RichPattern};
use chumsky::input::Input;
use chumsky::util::MaybeRef;
use expc_diagnostics::Span;

use crate::token::Token;

thread_local! {
    static DETAILED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with rich errors built (`true`) or not.
pub(crate) fn with_detail<T>(detailed: bool, f: impl FnOnce() -> T) -> T {
    let before = DETAILED.with(|d| d.replace(detailed));
    let out = f();
    DETAILED.with(|d| d.set(before));
    out
}

fn detailed() -> bool {
    DETAILED.with(Cell::get)
}

#[derive(Debug, Clone)]
pub(crate) struct SyntaxError<'t, 's> {
    pub span: Span,
    pub rich: Option<Rich<'t, Token<'s>, Span>>,
}

impl<'t, 's> SyntaxError<'t, 's> {
    /// A custom error; these are rare, so always detailed.
    pub fn custom(span: Span, message: impl Into<String>) -> Self {
        Self {
            span,
            rich: Some(Rich::custom(span, message)),
        }
    }
}

impl<'t, 's, I> Error<'t, I> for SyntaxError<'t, 's>
where
    I: Input<'t, Token = Token<'s>, Span = Span>,
{
    fn merge(self, other: Self) -> Self {
        match (self.rich, other.rich) {
            (Some(a), Some(b)) => Self {
                span: self.span,
                rich: Some(<Rich<'t, Token<'s>, Span> as Error<'t, I>>::merge(a, b)),
            },
            (a, b) => Self {
                span: self.span,
                rich: a.or(b),
            },
        }
    }
}

impl<'t, 's, I, L> LabelError<'t, I, L> for SyntaxError<'t, 's>
where
    I: Input<'t, Token = Token<'s>, Span = Span>,
    L: TryInto<RichPattern<'t, Token<'s>>>,
{
    fn expected_found<E: IntoIterator<Item = L>>(
        expected: E,
        found: Option<MaybeRef<'t, Token<'s>>>,
        span: Span,
    ) -> Self {
        Self {
            span,
            rich: detailed().then(|| {
                <Rich<'t, Token<'s>, Span> as LabelError<'t, I, L>>::expected_found(
                    expected, found, span,
                )
            }),
        }
    }

    fn merge_expected_found<E: IntoIterator<Item = L>>(
        self,
        expected: E,
        found: Option<MaybeRef<'t, Token<'s>>>,
        span: Span,
    ) -> Self {
        Self {
            span: self.span,
            rich: self.rich.map(|r| {
                <Rich<'t, Token<'s>, Span> as LabelError<'t, I, L>>::merge_expected_found(
                    r, expected, found, span,
                )
            }),
        }
    }

    fn replace_expected_found<E: IntoIterator<Item = L>>(
        self,
        expected: E,
        found: Option<MaybeRef<'t, Token<'s>>>,
        span: Span,
    ) -> Self {
        Self {
            span,
            rich: self.rich.map(|r| {
                <Rich<'t, Token<'s>, Span> as LabelError<'t, I, L>>::replace_expected_found(
                    r, expected, found, span,
                )
            }),
        }
    }

    fn label_with(&mut self, label: L) {
        if let Some(r) = &mut self.rich {
            <Rich<'t, Token<'s>, Span> as LabelError<'t, I, L>>::label_with(r, label);
        }
    }

    fn in_context(&mut self, label: L, span: Span) {
        if let Some(r) = &mut self.rich {
            <Rich<'t, Token<'s>, Span> as LabelError<'t, I, L>>::in_context(r, label, span);
        }
    }
}
