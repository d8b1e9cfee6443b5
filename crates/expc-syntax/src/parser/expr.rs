//! Expressions, types and templates.

use chumsky::input::ValueInput;
use chumsky::prelude::*;
use expc_diagnostics::Span;

use super::{Extra, close, ident, kw};
use crate::ast::*;
use crate::lexer::{parse_float, parse_int};
use crate::quantity;
use crate::token::Token;
use crate::unescape;

/// Types: `Name<Arg, …>?`.
pub(crate) fn type_parser<'t, 's: 't, I>() -> impl Parser<'t, I, TypeExpr, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    recursive(|ty| {
        ident()
            .then(
                ty.separated_by(just(Token::Comma))
                    .allow_trailing()
                    .collect::<Vec<_>>()
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
pub(crate) fn glued_type_parser<'t, 's: 't, I, T>(
    ty: T,
) -> impl Parser<'t, I, TypeExpr, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    T: Parser<'t, I, TypeExpr, Extra<'t, 's>> + Clone,
{
    ident()
        .then_ignore(just(Token::Lt))
        .then(
            ty.separated_by(just(Token::Comma))
                .allow_trailing()
                .collect::<Vec<_>>(),
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
pub(crate) fn args_parser<'t, 's: 't, I, P>(
    expr: P,
) -> impl Parser<'t, I, Vec<Arg>, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    P: Parser<'t, I, Expr, Extra<'t, 's>> + Clone,
{
    ident()
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
        .collect::<Vec<_>>()
}

/// A template: `TplStart words TplEnd`.
pub(crate) fn template_parser<'t, 's: 't, I, P>(
    expr: P,
) -> impl Parser<'t, I, Template, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    P: Parser<'t, I, Expr, Extra<'t, 's>> + Clone,
{
    let text = select! { Token::TplText(q, raw) => (q, raw) }.map_with(|(quote, raw), e| {
        TemplatePart::Text {
            raw: raw.to_owned(),
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
        .recover_with(via_parser(nested_delimiters(
            Token::TplInterpStart,
            Token::TplInterpEnd,
            [],
            |span| TemplatePart::Interp(Expr::new(ExprKind::Error, span)),
        )));
    let word = text
        .or(interp)
        .repeated()
        .at_least(1)
        .collect::<Vec<_>>()
        .map_with(|parts, e| TemplateWord {
            parts,
            span: e.span(),
        });
    word.separated_by(just(Token::TplSep))
        .collect::<Vec<_>>()
        .delimited_by(just(Token::TplStart), just(Token::TplEnd))
        .map_with(|words, e| Template {
            words,
            span: e.span(),
        })
        .labelled("a template")
}

fn boxed(e: Expr) -> Box<Expr> {
    Box::new(e)
}

/// The expression grammar, given the block parser (for record literals) and itself.
pub(crate) fn expr_parser<'t, 's: 't, I, P, B>(
    expr: P,
    block: B,
) -> impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    P: Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
    B: Parser<'t, I, Block, Extra<'t, 's>> + Clone + 't,
{
    let literal = select! {
        Token::Int(s) => ExprKind::Int { raw: s.to_owned(), value: parse_int(s).unwrap_or(0) },
        Token::Float(s) => ExprKind::Float { raw: s.to_owned(), value: parse_float(s) },
        Token::Quantity(s) => ExprKind::Quantity {
            raw: s.to_owned(),
            value: quantity::parse(s).unwrap_or(quantity::Quantity {
                dimension: quantity::Dimension::Memory,
                amount: 0,
            }),
        },
        Token::Ident("true") => ExprKind::Bool(true),
        Token::Ident("false") => ExprKind::Bool(false),
        Token::Ident("none") => ExprKind::None,
    }
    .map_with(|kind, e| Expr::new(kind, e.span()));

    let string = string_parser().map(|s| {
        let span = s.span;
        Expr::new(ExprKind::String(s), span)
    });

    let template = template_parser(expr.clone()).map(|t| {
        let span = t.span;
        Expr::new(ExprKind::Template(t), span)
    });

    let record = ident()
        .filter(|i: &Ident| i.name.starts_with(|c: char| c.is_ascii_uppercase()))
        .then(block)
        .map_with(|(ty, body), e| Expr::new(ExprKind::Record { ty, body }, e.span()));

    // `param` followed by a name starts the next item: not a name here.
    let item_start = any()
        .filter(|t: &Token<'s>| matches!(t, Token::Ident(w) if crate::ITEM_KEYWORDS.contains(w)))
        .then(any().filter(|t: &Token<'s>| matches!(t, Token::Ident(_) | Token::Str(_))));
    let name = ident().and_is(item_start.not()).map(|i| {
        let span = i.span;
        Expr::new(ExprKind::Name(i), span)
    });

    let list = expr
        .clone()
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .then_ignore(close(Token::RBracket))
        .delimited_by(just(Token::LBracket), empty())
        .map_with(|items, e| Expr::new(ExprKind::List(items), e.span()))
        .recover_with(via_parser(nested_delimiters(
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
        .recover_with(via_parser(nested_delimiters(
            Token::LParen,
            Token::RParen,
            [
                (Token::LBracket, Token::RBracket),
                (Token::LBrace, Token::RBrace),
            ],
            |span| Expr::new(ExprKind::Error, span),
        )));

    let atom = choice((literal, string, template, record, name, list, paren))
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

    let unary_op = just(Token::Minus)
        .to(UnaryOp::Neg)
        .or(just(Token::Bang).to(UnaryOp::Not))
        .map_with(|op, e| (op, e.span()));
    let unary =
        unary_op
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
            });

    const MUL: &[(Token<'static>, BinaryOp)] = &[
        (Token::Star, BinaryOp::Mul),
        (Token::Slash, BinaryOp::Div),
        (Token::Percent, BinaryOp::Rem),
    ];
    const ADD: &[(Token<'static>, BinaryOp)] =
        &[(Token::Plus, BinaryOp::Add), (Token::Minus, BinaryOp::Sub)];
    const AND: &[(Token<'static>, BinaryOp)] = &[(Token::AndAnd, BinaryOp::And)];
    const OR: &[(Token<'static>, BinaryOp)] = &[(Token::OrOr, BinaryOp::Or)];

    let product = binary(unary.boxed(), MUL);
    let sum = binary(product, ADD);

    let range = sum
        .clone()
        .then(
            just(Token::DotDot)
                .to(false)
                .or(just(Token::DotDotEq).to(true))
                .then(sum)
                .or_not(),
        )
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
        });

    let compare_op = select! {
        Token::EqEq => CompareOp::Eq,
        Token::NotEq => CompareOp::NotEq,
        Token::Lt => CompareOp::Lt,
        Token::LtEq => CompareOp::LtEq,
        Token::Gt => CompareOp::Gt,
        Token::GtEq => CompareOp::GtEq,
    }
    .or(kw!("in").to(CompareOp::In));
    let compare = range
        .clone()
        .then(compare_op.then(range).repeated().collect::<Vec<_>>())
        .map(|(first, rest)| {
            if rest.is_empty() {
                first
            } else {
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
        })
        .boxed();

    let and = binary(compare, AND);
    binary(and, OR)
}

/// A string literal, unescaped.
pub(crate) fn string_parser<'t, 's: 't, I>() -> impl Parser<'t, I, StringLit, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    select! { Token::Str(raw) => raw }
        .map_with(|raw: &str, e| StringLit {
            raw: raw.to_owned(),
            value: unescape::string(raw),
            span: e.span(),
        })
        .labelled("a string")
}

type BoxedExpr<'t, 's, I> = chumsky::Boxed<'t, 't, I, Expr, Extra<'t, 's>>;

/// One left-associative level of binary operators over `lower`.
fn binary<'t, 's: 't, I>(
    lower: BoxedExpr<'t, 's, I>,
    ops: &'static [(Token<'static>, BinaryOp)],
) -> BoxedExpr<'t, 's, I>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let op = any()
        .filter(move |t: &Token<'s>| ops.iter().any(|(k, _)| k == t))
        .map(move |t: Token<'s>| {
            ops.iter()
                .find(|(k, _)| *k == t)
                .map_or(BinaryOp::Add, |(_, op)| *op)
        })
        .labelled("an operator");
    lower
        .clone()
        .foldl_with(op.then(lower).repeated(), |lhs, (op, rhs), e| {
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
        })
        .boxed()
}

/// Keeps expression trees at most [`MAX_EXPR_DEPTH`] deep: a deeper one is replaced by an
/// error node, reported once.
fn bound<'t, 's: 't, I>(
    expr: Expr,
    e: &mut chumsky::input::MapExtra<'t, '_, I, Extra<'t, 's>>,
) -> Expr
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    if expr.depth <= MAX_EXPR_DEPTH {
        return expr;
    }
    let span = expr.span;
    e.emit(super::error::SyntaxError::custom(
        span,
        format!(
            "{}expression nested more than {MAX_EXPR_DEPTH} levels deep",
            super::TOO_DEEP
        ),
    ));
    Expr::too_deep(span)
}
