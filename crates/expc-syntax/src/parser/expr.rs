//! Expressions, types and templates.

use chumsky::input::ValueInput;
use chumsky::prelude::*;
use expc_diagnostics::Span;

use super::items::is_item_keyword;
use super::{Exact, Extra, SynErr, close, ident, is_reserved};
use crate::ast::*;
use crate::lexer::{parse_float, parse_int};
use crate::quantity;
use crate::token::Token;
use crate::unescape;

/// Types: `Name<Arg, …>?`.
pub(crate) fn type_parser<'t, 's: 't, I, E>() -> impl Parser<'t, I, TypeExpr, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    recursive(|ty| {
        ident()
            .then(
                ty.separated_by(just(Token::Comma))
                    .allow_trailing()
                    .collect::<Exact<_>>()
                    .map(Exact::into_vec)
                    .delimited_by(just(Token::Lt), just(Token::Gt))
                    .or_not(),
            )
            .then(just(Token::Question).or_not())
            .map_with(|((name, args), q), e| TypeExpr {
                kind: TypeExprKind::Named {
                    name,
                    args: args.unwrap_or_default(),
                    optional: q.is_some(),
                },
                span: e.span(),
            })
            .labelled("a type")
    })
}

/// A type immediately followed by `=`, as in `File<Csv>="out.csv"`, where the lexer read
/// the closing `>` and the `=` as one `>=` token.
pub(crate) fn glued_type_parser<'t, 's: 't, I, E, T>(
    ty: T,
) -> impl Parser<'t, I, TypeExpr, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    T: Parser<'t, I, TypeExpr, Extra<E>> + Clone,
{
    // Check the shape first, without building anything: most types are not glued, and
    // this parser is tried before the plain type parser. Where the check fails it
    // expects what the parser itself would have (inner type names expect "something
    // else", which says nothing, where the parser says "a type"; but so does the plain
    // type parser tried next at the same place).
    let word = select! { Token::Ident(s) if !is_reserved(s) => () };
    let shape = recursive(|shape| {
        word.then(
            shape
                .separated_by(just(Token::Comma))
                .allow_trailing()
                .delimited_by(just(Token::Lt), just(Token::Gt))
                .or_not(),
        )
        .then(just(Token::Question).or_not())
        .ignored()
    });
    let glued = word
        .labelled("a name")
        .then(just(Token::Lt))
        .then(shape.separated_by(just(Token::Comma)).allow_trailing())
        .then(just(Token::GtEq))
        .rewind();
    glued
        .ignore_then(ident())
        .then_ignore(just(Token::Lt))
        .then(
            ty.separated_by(just(Token::Comma))
                .allow_trailing()
                .collect::<Exact<_>>()
                .map(Exact::into_vec),
        )
        .then(just(Token::GtEq).map_with(|_, e| e.span()))
        .map_with(
            |((name, args), gteq): ((Ident, Vec<TypeExpr>), Span), e| TypeExpr {
                kind: TypeExprKind::Named {
                    name,
                    args,
                    optional: false,
                },
                // The type ends before the `=` half of the `>=`.
                span: Span {
                    end: gteq.start + 1,
                    ..e.span()
                },
            },
        )
}

/// Call arguments, `name = value` or positional.
pub(crate) fn args_parser<'t, 's: 't, I, E, P>(
    expr: P,
) -> impl Parser<'t, I, Vec<Arg>, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>> + Clone,
{
    ident()
        .or(crate::parser::reserved_used_as_name())
        .then_ignore(just(Token::Eq))
        .or_not()
        .then(expr)
        .map_with(|(name, value), e| Arg {
            name,
            value,
            span: e.span(),
        })
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Exact<_>>()
        .map(Exact::into_vec)
}

/// A template: `TplStart words TplEnd`.
pub(crate) fn template_parser<'t, 's: 't, I, E, P>(
    expr: P,
) -> impl Parser<'t, I, Template, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>> + Clone + 't,
{
    let text = select! { Token::TplText(q, raw) => (q, raw) }.map_with(|(quote, raw), e| {
        TemplatePart::Text {
            raw: smol(raw),
            value: unescape::template_text(quote, raw),
            quote,
            span: e.span(),
        }
    });
    // An empty `${}` was reported by the lexer.
    let interp = expr
        .or(empty().map_with(|(), e| Expr::new(ExprKind::Error, e.span())))
        .delimited_by(just(Token::TplInterpStart), just(Token::TplInterpEnd))
        .map(TemplatePart::Interp)
        .recover_with(via_parser(skip_group(
            Token::TplInterpStart,
            Token::TplInterpEnd,
            [],
            |span| TemplatePart::Interp(Expr::new(ExprKind::Error, span)),
        )));
    let part = text.or(interp);
    let parts = part
        .clone()
        .repeated()
        .at_least(1)
        .collect::<Exact<_>>()
        .map(Exact::into_vec);
    // Most words are one piece of text (`--in`): when no other part follows, that is the
    // word. Where errors say what was expected, trying another part records it, as the
    // repetition would have. (Not for an interpolation: a failed look past one would
    // leave an expectation behind it, further than an error inside it that recovery
    // then reports.)
    let part_start =
        any().filter(|t: &Token<'s>| matches!(t, Token::TplText(..) | Token::TplInterpStart));
    let expect_part = if E::DETAILED {
        part.clone().or_not().ignored().boxed()
    } else {
        empty().boxed()
    };
    let one_part = text
        .then_ignore(part_start.not())
        .then_ignore(expect_part)
        .map(|part| vec![part]);
    let word = one_part.or(parts).map_with(|parts, e| TemplateWord {
        parts,
        span: e.span(),
    });
    word.separated_by(just(Token::TplSep))
        .collect::<Exact<_>>()
        .map(Exact::into_vec)
        .delimited_by(just(Token::TplStart), just(Token::TplEnd))
        .map_with(|words, e| Template {
            words,
            span: e.span(),
        })
        .labelled("a template")
}

/// Recovery that skips the bracketed group starting here. It is tried whenever the parser
/// it recovers fails, mostly at some other token: check the opening bracket first (a
/// failed recovery leaves no trace, so this only saves the attempt).
fn skip_group<'t, 's: 't, I, E, O, F, const N: usize>(
    open: Token<'s>,
    close: Token<'s>,
    others: [(Token<'s>, Token<'s>); N],
    fallback: F,
) -> impl Parser<'t, I, O, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    F: Fn(Span) -> O + Clone + 't,
{
    just(open)
        .rewind()
        .ignore_then(nested_delimiters(open, close, others, fallback))
}

fn boxed(e: Expr) -> Box<Expr> {
    Box::new(e)
}

/// The expression grammar, given the block parser (for record literals) and itself.
pub(crate) fn expr_parser<'t, 's: 't, I, E, P, B>(
    expr: P,
    block: B,
) -> impl Parser<'t, I, Expr, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>> + Clone + 't,
    B: Parser<'t, I, Block, Extra<E>> + Clone + 't,
{
    // Every one-token atom in one `select!`: literals, strings and plain names.
    let simple_token = select! {
        Token::Ident(s) if is_plain_name(s) || crate::parser::is_reserved_name_word(s) => Simple::Name(s),
        Token::Str(raw) => Simple::Str(raw),
        Token::Int(s) => Simple::Int(s),
        Token::Float(s) => Simple::Float(s),
        Token::Quantity(s) => Simple::Quantity(s),
        Token::Ident("true") => Simple::Bool(true),
        Token::Ident("false") => Simple::Bool(false),
        Token::Ident("none") => Simple::None,
    };
    let simple = simple_token.map_with(|s, e| s.into_expr(e.span()));

    let template = template_parser(expr.clone()).map(|t| {
        let span = t.span;
        Expr::new(ExprKind::Template(t), span)
    });

    // A capitalised name, and `Kind { … }` when a block follows.
    let type_name = select! { Token::Ident(s) = e if is_type_name(s) => (s, e.span()) }
        .then(block.or_not())
        .map_with(|((name, span), body), e| {
            let name = Ident {
                name: smol(name),
                span,
            };
            match body {
                Some(body) => Expr::new(ExprKind::Record { ty: name, body }, e.span()),
                None => Expr::new(ExprKind::Name(name), span),
            }
        });

    // An item keyword followed by a name or string starts the next item (as in `param`
    // after an unfinished `param x: Int =`): not a name here. Only item keywords need
    // the second look.
    let item_start = any()
        .filter(|t: &Token<'s>| matches!(t, Token::Ident(w) if is_item_keyword(w)))
        .then(any().filter(|t: &Token<'s>| matches!(t, Token::Ident(_) | Token::Str(_))));
    let keyword_name = select! {
        Token::Ident(s) = e if is_item_keyword(s) => {
            let name = Ident { name: smol(s), span: e.span() };
            Expr::new(ExprKind::Name(name), e.span())
        }
    }
    .and_is(item_start.not());

    let list = expr
        .clone()
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Exact<_>>()
        .map(Exact::into_vec)
        .then_ignore(close(Token::RBracket))
        .delimited_by(just(Token::LBracket), empty())
        .map_with(|items, e| Expr::new(ExprKind::List(items), e.span()))
        .recover_with(via_parser(skip_group(
            Token::LBracket,
            Token::RBracket,
            [
                (Token::LParen, Token::RParen),
                (Token::LBrace, Token::RBrace),
            ],
            |span| Expr::new(ExprKind::Error, span),
        )));

    let paren = expr
        .clone()
        .delimited_by(just(Token::LParen), just(Token::RParen))
        .map_with(|inner, e| Expr::new(ExprKind::Paren(boxed(inner)), e.span()))
        .recover_with(via_parser(skip_group(
            Token::LParen,
            Token::RParen,
            [
                (Token::LBracket, Token::RBracket),
                (Token::LBrace, Token::RBrace),
            ],
            |span| Expr::new(ExprKind::Error, span),
        )));

    // The first token decides.
    let atom = choice((simple, type_name, list, template, paren, keyword_name))
        .labelled("an expression")
        .boxed();

    enum Postfix {
        Field(Ident),
        Call(Vec<Arg>),
        Index(Expr),
    }
    let postfix_op = choice((
        just(Token::Dot).ignore_then(ident()).map(Postfix::Field),
        args_parser(expr.clone())
            .delimited_by(just(Token::LParen), just(Token::RParen))
            .map(Postfix::Call),
        expr.clone()
            .delimited_by(just(Token::LBracket), just(Token::RBracket))
            .map(Postfix::Index),
    ));
    let postfix = atom.foldl_with(postfix_op.repeated(), |base, op, e| {
        if base.is_too_deep() {
            return base;
        }
        let kind = match op {
            Postfix::Field(name) => ExprKind::Field {
                base: boxed(base),
                name,
            },
            Postfix::Call(args) => ExprKind::Call {
                callee: boxed(base),
                args,
            },
            Postfix::Index(index) => ExprKind::Index {
                base: boxed(base),
                index: boxed(index),
            },
        };
        bound(Expr::new(kind, e.span()), e)
    });

    let unary_op = one_of([Token::Minus, Token::Bang]).map_with(|t, e| {
        let op = if t == Token::Minus {
            UnaryOp::Neg
        } else {
            UnaryOp::Not
        };
        (op, e.span())
    });
    let unary = unary_op
        .repeated()
        .foldr_with(postfix, |(op, span): (UnaryOp, Span), operand, e| {
            if operand.is_too_deep() {
                return operand;
            }
            let span = span.to(operand.span);
            bound(
                Expr::new(
                    ExprKind::Unary {
                        op,
                        operand: boxed(operand),
                    },
                    span,
                ),
                e,
            )
        })
        .boxed();

    // Binary operators are parsed flat, `operand (op operand)*`, with one parser for all
    // the operators of a group, and the tree is built by precedence climbing: trying each
    // precedence level in turn made every operand fail through eight levels of operators.
    // Ranges are not associative, so there are two groups: arithmetic inside the bounds of
    // a range, and comparisons and logic between ranges.
    let arith_op = select! {
        Token::Star => BinaryOp::Mul,
        Token::Slash => BinaryOp::Div,
        Token::Percent => BinaryOp::Rem,
        Token::Plus => BinaryOp::Add,
        Token::Minus => BinaryOp::Sub,
    }
    .labelled("an operator");
    let arith = unary
        .clone()
        .then(arith_op.then(unary).repeated().collect::<Vec<_>>())
        .map_with(|(first, rest), e| climb(first, rest, e));

    let range_op = one_of([Token::DotDot, Token::DotDotEq]).map(|t| t == Token::DotDotEq);
    let range = arith
        .clone()
        .then(range_op.then(arith).or_not())
        .map(|(start, rest)| match rest {
            None => start,
            Some((inclusive, end)) => {
                let span = start.span.to(end.span);
                Expr::new(
                    ExprKind::Range {
                        start: boxed(start),
                        end: boxed(end),
                        inclusive,
                    },
                    span,
                )
            }
        })
        .boxed();

    let logic_op = select! {
        Token::EqEq => LogicOp::Compare(CompareOp::Eq),
        Token::NotEq => LogicOp::Compare(CompareOp::NotEq),
        Token::Lt => LogicOp::Compare(CompareOp::Lt),
        Token::LtEq => LogicOp::Compare(CompareOp::LtEq),
        Token::Gt => LogicOp::Compare(CompareOp::Gt),
        Token::GtEq => LogicOp::Compare(CompareOp::GtEq),
        Token::Ident("in") => LogicOp::Compare(CompareOp::In),
        Token::AndAnd => LogicOp::Binary(BinaryOp::And),
        Token::OrOr => LogicOp::Binary(BinaryOp::Or),
    }
    .labelled("an operator");
    let full = range
        .clone()
        .then(logic_op.then(range).repeated().collect::<Vec<_>>())
        .map_with(|(first, rest), e| {
            if rest.is_empty() {
                return first;
            }
            // Comparisons bind tightest and chain: `a <= b < c` is one `Compare`.
            let mut operands: Vec<(BinaryOp, Expr)> = Vec::new();
            let mut chain = (first, Vec::new());
            for (op, rhs) in rest {
                match op {
                    LogicOp::Compare(op) => chain.1.push((op, rhs)),
                    LogicOp::Binary(op) => {
                        let done = std::mem::replace(&mut chain, (rhs, Vec::new()));
                        operands.push((op, compare(done)));
                    }
                }
            }
            let last = compare(chain);
            // `operands` holds each operand with the operator *after* it; shift them so
            // that each operator comes with its right-hand side, as `climb` wants.
            let mut iter = operands.into_iter();
            match iter.next() {
                None => last,
                Some((mut op, first)) => {
                    let mut rest = Vec::new();
                    for (next_op, operand) in iter {
                        rest.push((op, operand));
                        op = next_op;
                    }
                    rest.push((op, last));
                    climb(first, rest, e)
                }
            }
        });

    // Most expressions are one token (`2`, `"a.csv"`, `input`): when no operator follows,
    // that is the whole expression, without the descent through the operator groups.
    let operator = select! {
        Token::Dot => (),
        Token::LParen => (),
        Token::LBracket => (),
        Token::Star => (),
        Token::Slash => (),
        Token::Percent => (),
        Token::Plus => (),
        Token::Minus => (),
        Token::DotDot => (),
        Token::DotDotEq => (),
        Token::EqEq => (),
        Token::NotEq => (),
        Token::Lt => (),
        Token::LtEq => (),
        Token::Gt => (),
        Token::GtEq => (),
        Token::Ident("in") => (),
        Token::AndAnd => (),
        Token::OrOr => (),
    }
    .labelled("an operator");
    // What the descent would have expected after the token; only errors that say what
    // was expected need it.
    let expect_operator = if E::DETAILED {
        operator.or_not().ignored().boxed()
    } else {
        empty().boxed()
    };
    let alone = simple_token
        .then_ignore(operator.not())
        .then_ignore(expect_operator)
        .map_with(|s, e| s.into_expr(e.span()));
    alone.or(full)
}

/// The one-token atoms that `simple_token` in [`expr_parser`] selects, for the loops of
/// the first parse ([`super::fast`]).
pub(super) fn simple_token<'s>(token: &Token<'s>) -> Option<Simple<'s>> {
    match *token {
        Token::Ident(s) if is_plain_name(s) => Some(Simple::Name(s)),
        Token::Str(raw) => Some(Simple::Str(raw)),
        Token::Int(s) => Some(Simple::Int(s)),
        Token::Float(s) => Some(Simple::Float(s)),
        Token::Quantity(s) => Some(Simple::Quantity(s)),
        Token::Ident("true") => Some(Simple::Bool(true)),
        Token::Ident("false") => Some(Simple::Bool(false)),
        Token::Ident("none") => Some(Simple::None),
        _ => None,
    }
}

/// A one-token atom, before it is copied into the tree.
#[derive(Clone, Copy)]
pub(super) enum Simple<'s> {
    Name(&'s str),
    Str(&'s str),
    Int(&'s str),
    Float(&'s str),
    Quantity(&'s str),
    Bool(bool),
    None,
}

impl Simple<'_> {
    pub(super) fn into_expr(self, span: Span) -> Expr {
        let kind = match self {
            Simple::Name(s) => ExprKind::Name(Ident {
                name: smol(s),
                span,
            }),
            Simple::Str(raw) => ExprKind::String(string_lit(raw, span)),
            Simple::Int(s) => ExprKind::Int {
                raw: smol(s),
                value: parse_int(s).unwrap_or(0),
            },
            Simple::Float(s) => ExprKind::Float {
                raw: smol(s),
                value: parse_float(s),
            },
            Simple::Quantity(s) => ExprKind::Quantity {
                raw: smol(s),
                value: quantity_value(s),
            },
            Simple::Bool(b) => ExprKind::Bool(b),
            Simple::None => ExprKind::None,
        };
        Expr::new(kind, span)
    }
}

/// The value of a quantity literal in the tree (zero bytes when it is invalid, which the
/// lexer has reported).
pub(super) fn quantity_value(raw: &str) -> quantity::Quantity {
    quantity::parse(raw).unwrap_or(quantity::Quantity {
        dimension: quantity::Dimension::Memory,
        amount: 0,
    })
}

/// An operator between ranges.
#[derive(Clone, Copy)]
enum LogicOp {
    Compare(CompareOp),
    Binary(BinaryOp),
}

/// `first` alone, or the comparison chain `first op rhs …`.
fn compare((first, rest): (Expr, Vec<(CompareOp, Expr)>)) -> Expr {
    if rest.is_empty() {
        return first;
    }
    let span = first
        .span
        .to(rest.last().map_or(first.span, |(_, e)| e.span));
    Expr::new(
        ExprKind::Compare {
            first: boxed(first),
            rest,
        },
        span,
    )
}

fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And => 2,
        BinaryOp::Add | BinaryOp::Sub => 3,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 4,
    }
}

/// Builds the tree of `first op operand …` with left-associative operators, by precedence
/// climbing. Nodes are built in the same order as a descent through the precedence levels
/// would build them (children first, left to right), so depth errors come out the same.
fn climb<'t, 's: 't, I, E>(
    first: Expr,
    rest: Vec<(BinaryOp, Expr)>,
    e: &mut chumsky::input::MapExtra<'t, '_, I, Extra<E>>,
) -> Expr
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    let mut rest = rest.into_iter().peekable();
    climb_from(first, 0, &mut rest, e)
}

/// Folds the operators of `rest` that bind at least as tightly as `min` onto `lhs`.
fn climb_from<'t, 's: 't, I, E>(
    mut lhs: Expr,
    min: u8,
    rest: &mut std::iter::Peekable<std::vec::IntoIter<(BinaryOp, Expr)>>,
    e: &mut chumsky::input::MapExtra<'t, '_, I, Extra<E>>,
) -> Expr
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    while let Some((op, mut rhs)) = rest.next_if(|(op, _)| precedence(*op) >= min) {
        while rest
            .peek()
            .is_some_and(|(next, _)| precedence(*next) > precedence(op))
        {
            rhs = climb_from(rhs, precedence(op) + 1, rest, e);
        }
        lhs = binary(lhs, op, rhs, e);
    }
    lhs
}

/// One binary node, kept at most [`MAX_EXPR_DEPTH`] deep.
fn binary<'t, 's: 't, I, E>(
    lhs: Expr,
    op: BinaryOp,
    rhs: Expr,
    e: &mut chumsky::input::MapExtra<'t, '_, I, Extra<E>>,
) -> Expr
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    if lhs.is_too_deep() {
        return lhs;
    }
    let span = lhs.span.to(rhs.span);
    bound(
        Expr::new(
            ExprKind::Binary {
                op,
                lhs: boxed(lhs),
                rhs: boxed(rhs),
            },
            span,
        ),
        e,
    )
}

/// A string literal, unescaped.
pub(crate) fn string_parser<'t, 's: 't, I, E>() -> impl Parser<'t, I, StringLit, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    select! { Token::Str(raw) = e => string_lit(raw, e.span()) }.labelled("a string")
}

fn string_lit(raw: &str, span: Span) -> StringLit {
    StringLit {
        raw: smol(raw),
        value: unescape::string(raw),
        span,
    }
}

fn is_type_name(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_uppercase())
}

/// A lowercase word that is neither reserved nor an item keyword.
fn is_plain_name(word: &str) -> bool {
    !is_type_name(word) && !is_reserved(word) && !is_item_keyword(word)
}

/// Keeps expression trees at most [`MAX_EXPR_DEPTH`] deep: a deeper one is replaced by an
/// error node, reported once.
fn bound<'t, 's: 't, I, E>(
    expr: Expr,
    e: &mut chumsky::input::MapExtra<'t, '_, I, Extra<E>>,
) -> Expr
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    if expr.depth <= MAX_EXPR_DEPTH {
        return expr;
    }
    let span = expr.span;
    e.emit(E::custom(span, || {
        format!(
            "{}expression nested more than {MAX_EXPR_DEPTH} levels deep",
            super::TOO_DEEP
        )
    }));
    Expr::too_deep(span)
}
