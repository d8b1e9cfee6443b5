//! The parser's error types: rich errors only when they will be shown.
//!
//! Building chumsky's `Rich` errors (expected-token sets, labels) on every failed
//! alternative is most of the cost of parsing a valid file. So the parser is generic over
//! its error type: a file is parsed first with [`Fast`], a zero-sized error for which
//! chumsky skips alternative tracking altogether; only if that parse fails is the file
//! parsed again with `Rich` errors, to report them. Whether a parse fails does not depend
//! on the error type, so a valid file is parsed once.

use chumsky::error::{Error, LabelError, Rich};
use chumsky::input::Input;
use chumsky::util::MaybeRef;
use expc_diagnostics::Span;

use crate::token::Token;

/// What the parser needs of its error type.
pub(crate) trait SynErr<'t, 's: 't, I>:
    Error<'t, I> + LabelError<'t, I, &'static str> + Clone + 't
where
    I: Input<'t, Token = Token<'s>, Span = Span>,
{
    /// Whether errors say what was expected: parsers that only add to what is expected
    /// can be left out when not.
    const DETAILED: bool;

    /// An error with a message of its own (built only when errors are detailed).
    fn custom(span: Span, message: impl FnOnce() -> String) -> Self;
}

/// The error of the first, fast parse: records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fast;

impl<'t, I: Input<'t>> Error<'t, I> for Fast {}

impl<'t, I: Input<'t>, L> LabelError<'t, I, L> for Fast {
    #[inline(always)]
    fn expected_found<E: IntoIterator<Item = L>>(
        _: E,
        _: Option<MaybeRef<'t, I::Token>>,
        _: I::Span,
    ) -> Self {
        Fast
    }
}

impl<'t, 's: 't, I> SynErr<'t, 's, I> for Fast
where
    I: Input<'t, Token = Token<'s>, Span = Span>,
{
    const DETAILED: bool = false;

    fn custom(_: Span, _: impl FnOnce() -> String) -> Self {
        Fast
    }
}

/// The error of the second parse, which reports.
pub(crate) type Detailed<'t, 's> = Rich<'t, Token<'s>, Span>;

impl<'t, 's: 't, I> SynErr<'t, 's, I> for Detailed<'t, 's>
where
    I: Input<'t, Token = Token<'s>, Span = Span>,
{
    const DETAILED: bool = true;

    fn custom(span: Span, message: impl FnOnce() -> String) -> Self {
        Rich::custom(span, message())
    }
}
