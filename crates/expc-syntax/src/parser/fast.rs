//! Loops for the common shapes of blocks and templates, used by the first parse only.
//!
//! The first parse of a file ([`super::error::Fast`] errors) only has to build the tree of
//! a valid file; its errors are never shown (a file with one is parsed again, with details).
//! There, a block's entries and a template's words are read by a loop over the tokens,
//! written with chumsky's [`custom`], instead of by a chain of combinators that each save
//! and restore the input: the loop reads each token once. It builds exactly what the
//! combinators build, with the same spans (taken from the same input), and it gives up —
//! so that the combinators parse the construct again, from the same place — at anything it
//! does not expect: a missing closing bracket, an empty interpolation, a misplaced token.
//! Values that are not one token are parsed by the ordinary expression parser.

use chumsky::error::LabelError;
use chumsky::input::{InputRef, ValueInput};
use chumsky::prelude::*;
use expc_diagnostics::Span;

use super::expr::{Simple, simple_token};
use super::{Extra, SynErr, is_reserved};
use crate::ast::*;
use crate::token::Token;
use crate::unescape;

type Inp<'t, 'p, I, E> = InputRef<'t, 'p, I, Extra<E>>;

/// The buffers [`exact`] collects lists in, kept in the parse's state from one list to the
/// next (reached through the input, where thread-locals cost a check of their
/// initialisation at every access).
#[derive(Default)]
pub(crate) struct Buffers {
    entries: Vec<Entry>,
    fields: Vec<Field>,
    sections: Vec<Section>,
    words: Vec<TemplateWord>,
    parts: Vec<TemplatePart>,
    args: Vec<Arg>,
    exprs: Vec<Expr>,
    types: Vec<TypeExpr>,
    /// The lexer's values of quantity literals, by their offset (see
    /// [`crate::lexer::LexedCompact::quantities`]), and where the next one is likely.
    quantities: Vec<(u32, crate::quantity::Quantity)>,
    next_quantity: usize,
}

impl Buffers {
    /// Buffers for a parse, with the lexer's values of the file's quantities.
    pub(crate) fn new(quantities: Vec<(u32, crate::quantity::Quantity)>) -> Self {
        Buffers {
            quantities,
            ..Buffers::default()
        }
    }

    /// The value of the quantity literal `raw` at offset `start`: the lexer's when it has
    /// one (the literals are read in order, so mostly the next one), else computed as the
    /// expression parser computes it.
    fn quantity(&mut self, start: u32, raw: &str) -> crate::quantity::Quantity {
        let index = match self.quantities.get(self.next_quantity) {
            Some(&(at, _)) if at == start => Some(self.next_quantity),
            _ => self
                .quantities
                .binary_search_by_key(&start, |&(at, _)| at)
                .ok(),
        };
        match index {
            Some(index) => {
                self.next_quantity = index + 1;
                self.quantities[index].1
            }
            None => super::expr::quantity_value(raw),
        }
    }
}

/// The state of a parse: the list buffers of the first parse's loops.
pub(crate) type State = chumsky::inspector::SimpleState<Buffers>;

/// Collects the list that `fill` pushes onto `buffer`, a vector kept from one list to the
/// next, into a vector of exactly its length: one allocation per list, where pushing onto
/// a new vector grows it (to 4, 8, 16 elements), each time by a copy, and shrinking it to
/// its length copies it once more. A list nested in one of its own kind finds the buffer
/// taken and fills a new one.
fn exact<'t, 'p, 's: 't, I, E, T, X>(
    inp: &mut Inp<'t, 'p, I, E>,
    buffer: fn(&mut Buffers) -> &mut Vec<T>,
    fill: impl FnOnce(&mut Inp<'t, 'p, I, E>, &mut Vec<T>) -> Result<(), X>,
) -> Result<Vec<T>, X>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    let mut items = std::mem::take(buffer(inp.state()));
    let list = fill(inp, &mut items).map(|()| {
        let mut list = Vec::with_capacity(items.len());
        // One copy of the whole buffer, which `append` leaves empty.
        list.append(&mut items);
        list
    });
    items.clear();
    *buffer(inp.state()) = items;
    list
}

/// The error of a shape the loop does not read; it only makes the alternative fail.
fn give_up<'t, 's: 't, I, E>(inp: &mut Inp<'t, '_, I, E>) -> E
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    let here = inp.cursor();
    let span = inp.span_since(&here);
    <E as LabelError<'t, I, &'static str>>::expected_found([], None, span)
}

/// Whether `token` can continue an expression after an operand: what `operator` in
/// [`super::expr::expr_parser`] selects.
fn continues_expression(token: &Token<'_>) -> bool {
    matches!(
        token,
        Token::Dot
            | Token::LParen
            | Token::LBracket
            | Token::Star
            | Token::Slash
            | Token::Percent
            | Token::Plus
            | Token::Minus
            | Token::DotDot
            | Token::DotDotEq
            | Token::EqEq
            | Token::NotEq
            | Token::Lt
            | Token::LtEq
            | Token::Gt
            | Token::GtEq
            | Token::Ident("in")
            | Token::AndAnd
            | Token::OrOr
    )
}

/// An expression: an [`operand`] when no operator follows it (what the expression parser
/// reads there, built the same way: one token, fields, calls, a list), else whatever
/// `expr` parses.
fn expression<'t, 's: 't, I, E, P>(inp: &mut Inp<'t, '_, I, E>, expr: &P) -> Result<Expr, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>>,
{
    let before = inp.save();
    if let Some(operand) = operand(inp, expr)? {
        if !inp.peek().as_ref().is_some_and(continues_expression) {
            return Ok(operand);
        }
    }
    inp.rewind(before);
    inp.parse(expr)
}

/// `{ entry [,] … }`: a block, as the block parser builds it.
pub(crate) fn block<'t, 's: 't, I, E, P, T, B>(
    expr: P,
    typed_default: T,
    block: B,
) -> impl Parser<'t, I, Block, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>> + Clone,
    T: Parser<'t, I, (TypeExpr, Option<Expr>), Extra<E>> + Clone,
    B: Parser<'t, I, Block, Extra<E>> + Clone,
{
    custom(move |inp: &mut Inp<'t, '_, I, E>| {
        let start = inp.cursor();
        if inp.next() != Some(Token::LBrace) {
            return Err(give_up(inp));
        }
        let entries = exact(
            inp,
            |b| &mut b.entries,
            |inp, entries| {
                loop {
                    let entry_start = inp.cursor();
                    let name = match inp.next() {
                        Some(Token::RBrace) => return Ok(()),
                        Some(Token::Ident(word)) if !is_reserved(word) => Ident {
                            name: smol(word),
                            span: inp.span_since(&entry_start),
                        },
                        _ => return Err(give_up(inp)),
                    };
                    let value = match inp.peek() {
                        Some(Token::Eq) => {
                            inp.skip();
                            EntryValue::Value(expression(inp, &expr)?)
                        }
                        Some(Token::Colon) => {
                            inp.skip();
                            let (ty, default) = inp.parse(&typed_default)?;
                            EntryValue::Typed { ty, default }
                        }
                        Some(Token::LBrace) => EntryValue::Block(inp.parse(&block)?),
                        _ => return Err(give_up(inp)),
                    };
                    entries.push(Entry {
                        doc: None,
                        name,
                        value,
                        span: inp.span_since(&entry_start),
                    });
                    if inp.peek() == Some(Token::Comma) {
                        inp.skip();
                    }
                }
            },
        )?;
        Ok(Block {
            entries,
            span: inp.span_since(&start),
        })
    })
}

/// `` `words` ``: a template, as the template parser builds it.
pub(crate) fn template<'t, 's: 't, I, E, P>(
    expr: P,
) -> impl Parser<'t, I, Template, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>> + Clone,
{
    custom(move |inp: &mut Inp<'t, '_, I, E>| {
        let start = inp.cursor();
        if inp.next() != Some(Token::TplStart) {
            return Err(give_up(inp));
        }
        if inp.peek() == Some(Token::TplEnd) {
            inp.skip();
            return Ok(Template {
                words: Vec::new(),
                span: inp.span_since(&start),
            });
        }
        let words = exact(
            inp,
            |b| &mut b.words,
            |inp, words| {
                loop {
                    let word_start = inp.cursor();
                    let parts = exact(
                        inp,
                        |b| &mut b.parts,
                        |inp, parts| {
                            loop {
                                let part_start = inp.cursor();
                                match inp.peek() {
                                    Some(Token::TplText(quote, raw)) => {
                                        inp.skip();
                                        parts.push(TemplatePart::Text {
                                            raw: smol(raw),
                                            value: unescape::template_text(quote, raw),
                                            quote,
                                            span: inp.span_since(&part_start),
                                        });
                                    }
                                    Some(Token::TplInterpStart) => {
                                        inp.skip();
                                        // An empty `${}` is left to the template parser.
                                        if inp.peek() == Some(Token::TplInterpEnd) {
                                            return Err(give_up(inp));
                                        }
                                        let value = expression(inp, &expr)?;
                                        if inp.next() != Some(Token::TplInterpEnd) {
                                            return Err(give_up(inp));
                                        }
                                        parts.push(TemplatePart::Interp(value));
                                    }
                                    _ if parts.is_empty() => return Err(give_up(inp)),
                                    _ => return Ok(()),
                                }
                            }
                        },
                    )?;
                    words.push(TemplateWord {
                        parts,
                        span: inp.span_since(&word_start),
                    });
                    match inp.next() {
                        Some(Token::TplSep) => {}
                        Some(Token::TplEnd) => return Ok(()),
                        _ => return Err(give_up(inp)),
                    }
                }
            },
        )?;
        Ok(Template {
            words,
            span: inp.span_since(&start),
        })
    })
}

/// `Type`, `Type = default` or `Type<…>=default` (with `>=` one token): a typed default,
/// as the parser of `name: …` builds it, read in one pass where that parser first checks
/// whether the type is glued to its `=`.
pub(crate) fn typed_default<'t, 's: 't, I, E, P, T>(
    ty: T,
    expr: P,
) -> impl Parser<'t, I, (TypeExpr, Option<Expr>), Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>> + Clone,
    T: Parser<'t, I, TypeExpr, Extra<E>> + Clone,
{
    custom(move |inp: &mut Inp<'t, '_, I, E>| {
        let start = inp.cursor();
        let name = match inp.next() {
            Some(Token::Ident(word)) if !is_reserved(word) => Ident {
                name: smol(word),
                span: inp.span_since(&start),
            },
            _ => return Err(give_up(inp)),
        };
        let mut args = Vec::new();
        if inp.peek() == Some(Token::Lt) {
            inp.skip();
            // The span of a `>=` that ends the arguments, glued to the default's `=`.
            let mut glued = None;
            args = exact(
                inp,
                |b| &mut b.types,
                |inp, args| {
                    loop {
                        match inp.peek() {
                            Some(Token::Gt) => {
                                inp.skip();
                                return Ok(());
                            }
                            Some(Token::GtEq) => {
                                let gteq = inp.cursor();
                                inp.skip();
                                glued = Some(inp.span_since(&gteq));
                                return Ok(());
                            }
                            _ => {}
                        }
                        args.push(type_expr(inp, &ty, 1)?);
                        match inp.peek() {
                            Some(Token::Comma) => inp.skip(),
                            Some(Token::Gt | Token::GtEq) => {}
                            _ => return Err(give_up(inp)),
                        }
                    }
                },
            )?;
            if let Some(gteq) = glued {
                // Glued: the type ends before the `=` half, and a default follows.
                let whole = inp.span_since(&start);
                let ty = TypeExpr {
                    kind: TypeExprKind::Named {
                        name,
                        args,
                        optional: false,
                    },
                    span: Span {
                        end: gteq.start + 1,
                        ..whole
                    },
                };
                let default = expression(inp, &expr)?;
                return Ok((ty, Some(default)));
            }
        }
        let optional = inp.peek() == Some(Token::Question);
        if optional {
            inp.skip();
        }
        let ty = TypeExpr {
            kind: TypeExprKind::Named {
                name,
                args,
                optional,
            },
            span: inp.span_since(&start),
        };
        if inp.peek() != Some(Token::Eq) {
            return Ok((ty, None));
        }
        inp.skip();
        let default = expression(inp, &expr)?;
        Ok((ty, Some(default)))
    })
}

/// How deeply the loops nest type arguments; deeper ones are left to the type parser.
const TYPE_DEPTH: usize = 32;

/// `Name`, `Name<Type, …>` or `Name?`: a type, as the type parser builds it.
fn type_expr<'t, 's: 't, I, E, T>(
    inp: &mut Inp<'t, '_, I, E>,
    ty: &T,
    depth: usize,
) -> Result<TypeExpr, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    T: Parser<'t, I, TypeExpr, Extra<E>>,
{
    if depth >= TYPE_DEPTH {
        return inp.parse(ty);
    }
    let start = inp.cursor();
    let name = name(inp)?;
    let mut args = Vec::new();
    if inp.peek() == Some(Token::Lt) {
        inp.skip();
        args = exact(
            inp,
            |b| &mut b.types,
            |inp, args| {
                loop {
                    if inp.peek() == Some(Token::Gt) {
                        inp.skip();
                        return Ok(());
                    }
                    args.push(type_expr(inp, ty, depth + 1)?);
                    match inp.peek() {
                        Some(Token::Comma) => inp.skip(),
                        Some(Token::Gt) => {}
                        _ => return Err(give_up(inp)),
                    }
                }
            },
        )?;
    }
    let optional = inp.peek() == Some(Token::Question);
    if optional {
        inp.skip();
    }
    Ok(TypeExpr {
        kind: TypeExprKind::Named {
            name,
            args,
            optional,
        },
        span: inp.span_since(&start),
    })
}

/// `(name: Type = default, …)`: the inputs or outputs of a task, as the parser of fields
/// builds them.
pub(crate) fn fields<'t, 's: 't, I, E, D>(
    typed_default: D,
) -> impl Parser<'t, I, Vec<Field>, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    D: Parser<'t, I, (TypeExpr, Option<Expr>), Extra<E>> + Clone,
{
    custom(move |inp: &mut Inp<'t, '_, I, E>| {
        if inp.next() != Some(Token::LParen) {
            return Err(give_up(inp));
        }
        exact(
            inp,
            |b| &mut b.fields,
            |inp, fields| {
                loop {
                    let field_start = inp.cursor();
                    let name = match inp.next() {
                        Some(Token::RParen) => return Ok(()),
                        Some(Token::Ident(word)) if !is_reserved(word) => Ident {
                            name: smol(word),
                            span: inp.span_since(&field_start),
                        },
                        _ => return Err(give_up(inp)),
                    };
                    if inp.next() != Some(Token::Colon) {
                        return Err(give_up(inp));
                    }
                    let (ty, default) = inp.parse(&typed_default)?;
                    fields.push(Field {
                        doc: None,
                        name,
                        ty,
                        default,
                        span: inp.span_since(&field_start),
                    });
                    match inp.next() {
                        Some(Token::Comma) => {}
                        Some(Token::RParen) => return Ok(()),
                        _ => return Err(give_up(inp)),
                    }
                }
            },
        )
    })
}

/// The deepest node the loops build: deeper ones are left to the expression parser, which
/// bounds them.
const LOOP_DEPTH: u32 = MAX_EXPR_DEPTH - 1;

/// An operand the loops read without the expression parser: a one-token atom followed by
/// fields and calls (`step(input = s.out, lr = 0.01)`), or a list. `None` when the input
/// is something else (the caller rewinds).
fn operand<'t, 's: 't, I, E, P>(inp: &mut Inp<'t, '_, I, E>, expr: &P) -> Result<Option<Expr>, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>>,
{
    let start = inp.cursor();
    let mut base = match inp.next() {
        Some(Token::LBracket) => return list(inp, expr, &start),
        Some(token) => match simple_token(&token) {
            Some(Simple::Quantity(raw)) => {
                let span = inp.span_since(&start);
                let value = inp.state().quantity(span.start, raw);
                Expr::new(
                    ExprKind::Quantity {
                        raw: smol(raw),
                        value,
                    },
                    span,
                )
            }
            Some(simple) => {
                let span = inp.span_since(&start);
                Simple::into_expr(simple, span)
            }
            None => return Ok(None),
        },
        None => return Ok(None),
    };
    loop {
        let kind = match inp.peek() {
            Some(Token::Dot) => {
                inp.skip();
                let name_start = inp.cursor();
                match inp.next() {
                    Some(Token::Ident(word)) if !is_reserved(word) => ExprKind::Field {
                        base: Box::new(base),
                        name: Ident {
                            name: smol(word),
                            span: inp.span_since(&name_start),
                        },
                    },
                    _ => return Ok(None),
                }
            }
            Some(Token::LParen) => {
                inp.skip();
                let Some(args) = call_args(inp, expr)? else {
                    return Ok(None);
                };
                ExprKind::Call {
                    callee: Box::new(base),
                    args,
                }
            }
            _ => return Ok(Some(base)),
        };
        base = Expr::new(kind, inp.span_since(&start));
        if base.depth > LOOP_DEPTH {
            return Ok(None);
        }
    }
}

/// The arguments of a call, after its `(`, as the arguments parser builds them.
fn call_args<'t, 's: 't, I, E, P>(
    inp: &mut Inp<'t, '_, I, E>,
    expr: &P,
) -> Result<Option<Vec<Arg>>, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>>,
{
    let args = exact(
        inp,
        |b| &mut b.args,
        |inp, args| {
            loop {
                let arg_start = inp.cursor();
                let name = match inp.peek() {
                    Some(Token::RParen) => {
                        inp.skip();
                        return Ok(());
                    }
                    Some(Token::Ident(word)) if !is_reserved(word) => {
                        let before = inp.save();
                        inp.skip();
                        let span = inp.span_since(&arg_start);
                        if inp.peek() == Some(Token::Eq) {
                            inp.skip();
                            Some(Ident {
                                name: smol(word),
                                span,
                            })
                        } else {
                            inp.rewind(before);
                            None
                        }
                    }
                    _ => None,
                };
                let value = expression(inp, expr).map_err(Some)?;
                args.push(Arg {
                    name,
                    value,
                    span: inp.span_since(&arg_start),
                });
                match inp.next() {
                    Some(Token::Comma) => {}
                    Some(Token::RParen) => return Ok(()),
                    // Not an error: the caller rewinds.
                    _ => return Err(None),
                }
            }
        },
    );
    match args {
        Ok(args) => Ok(Some(args)),
        Err(None) => Ok(None),
        Err(Some(e)) => Err(e),
    }
}

/// A list, after its `[`, as the list parser builds it.
fn list<'t, 'p, 's: 't, I, E, P>(
    inp: &mut Inp<'t, 'p, I, E>,
    expr: &P,
    start: &chumsky::input::Cursor<'t, 'p, I>,
) -> Result<Option<Expr>, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>>,
{
    let items = exact(
        inp,
        |b| &mut b.exprs,
        |inp, items| {
            loop {
                if inp.peek() == Some(Token::RBracket) {
                    inp.skip();
                    return Ok(());
                }
                items.push(expression(inp, expr).map_err(Some)?);
                match inp.next() {
                    Some(Token::Comma) => {}
                    Some(Token::RBracket) => return Ok(()),
                    // Not an error: the caller rewinds.
                    _ => return Err(None),
                }
            }
        },
    );
    let items = match items {
        Ok(items) => items,
        Err(None) => return Ok(None),
        Err(Some(e)) => return Err(e),
    };
    let list = Expr::new(ExprKind::List(items), inp.span_since(start));
    Ok((list.depth <= LOOP_DEPTH).then_some(list))
}

/// A name: any word but the reserved ones.
fn name<'t, 's: 't, I, E>(inp: &mut Inp<'t, '_, I, E>) -> Result<Ident, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    let start = inp.cursor();
    match inp.next() {
        Some(Token::Ident(word)) if !is_reserved(word) => Ok(Ident {
            name: smol(word),
            span: inp.span_since(&start),
        }),
        _ => Err(give_up(inp)),
    }
}

/// The file's items, as the item list builds them. Tasks and pipelines, which are most of
/// a large file, are read by the loops below; any other item, and any task or pipeline
/// they give up on, by `item` (the combinators, with their recovery).
pub(crate) fn file<'t, 's: 't, I, E, F, B, T, P, It>(
    fields: F,
    block: B,
    template: T,
    expr: P,
    item: It,
) -> impl Parser<'t, I, SourceFile, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    F: Parser<'t, I, Vec<Field>, Extra<E>> + Clone,
    B: Parser<'t, I, Block, Extra<E>> + Clone,
    T: Parser<'t, I, Template, Extra<E>> + Clone,
    P: Parser<'t, I, Expr, Extra<E>> + Clone,
    It: Parser<'t, I, Item, Extra<E>> + Clone,
{
    custom(move |inp: &mut Inp<'t, '_, I, E>| {
        let start = inp.cursor();
        let mut items = Vec::new();
        loop {
            let item_start = inp.cursor();
            let before = inp.save();
            let kind = match inp.peek() {
                None => break,
                Some(Token::Ident("task")) => task(inp, &fields, &block, &template, &expr),
                Some(Token::Ident("pipeline")) => pipeline(inp, &expr),
                Some(_) => {
                    items.push(inp.parse(&item)?);
                    continue;
                }
            };
            match kind {
                Ok(kind) => items.push(Item {
                    doc: None,
                    kind,
                    span: inp.span_since(&item_start),
                }),
                Err(_) => {
                    inp.rewind(before);
                    items.push(inp.parse(&item)?);
                }
            }
        }
        items.shrink_to_fit();
        Ok(SourceFile {
            items,
            span: inp.span_since(&start),
        })
    })
}

/// `task NAME(FIELDS) -> (FIELDS) { SECTIONS }`, at `task`, as the task parser builds it
/// (a `spark` section is left to it).
fn task<'t, 's: 't, I, E, F, B, T, P>(
    inp: &mut Inp<'t, '_, I, E>,
    fields: &F,
    block: &B,
    template: &T,
    expr: &P,
) -> Result<ItemKind, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    F: Parser<'t, I, Vec<Field>, Extra<E>>,
    B: Parser<'t, I, Block, Extra<E>>,
    T: Parser<'t, I, Template, Extra<E>>,
    P: Parser<'t, I, Expr, Extra<E>>,
{
    inp.skip();
    let name = name(inp)?;
    let inputs = inp.parse(fields)?;
    let outputs = if inp.peek() == Some(Token::Arrow) {
        inp.skip();
        Some(inp.parse(fields)?)
    } else {
        None
    };
    let body_start = inp.cursor();
    if inp.next() != Some(Token::LBrace) {
        return Err(give_up(inp));
    }
    let sections = exact(
        inp,
        |b| &mut b.sections,
        |inp, sections| {
            loop {
                let section_start = inp.cursor();
                let kind = match inp.next() {
                    Some(Token::RBrace) => return Ok(()),
                    Some(Token::Ident("resources")) => SectionKind::Resources(inp.parse(block)?),
                    Some(Token::Ident("env")) => SectionKind::Env(inp.parse(block)?),
                    Some(Token::Ident("run")) => SectionKind::Run(inp.parse(template)?),
                    Some(Token::Ident("shell")) => SectionKind::Shell(inp.parse(template)?),
                    Some(Token::Ident("retry")) => {
                        let attempts = expression(inp, expr)?;
                        let body = if inp.peek() == Some(Token::LBrace) {
                            Some(inp.parse(block)?)
                        } else {
                            None
                        };
                        SectionKind::Retry { attempts, body }
                    }
                    Some(Token::Ident("cache")) => {
                        if inp.next() != Some(Token::Eq) {
                            return Err(give_up(inp));
                        }
                        SectionKind::Cache(expression(inp, expr)?)
                    }
                    Some(Token::Ident("evaluates")) => {
                        if inp.next() != Some(Token::Eq) {
                            return Err(give_up(inp));
                        }
                        SectionKind::Evaluates(self::name(inp)?)
                    }
                    _ => return Err(give_up(inp)),
                };
                sections.push(Section {
                    kind,
                    span: inp.span_since(&section_start),
                });
            }
        },
    )?;
    Ok(ItemKind::Task(Task {
        name,
        inputs,
        outputs,
        sections,
        body_span: inp.span_since(&body_start),
    }))
}

/// `pipeline NAME { STATEMENTS }`, at `pipeline`, as the pipeline parser builds it.
fn pipeline<'t, 's: 't, I, E, P>(inp: &mut Inp<'t, '_, I, E>, expr: &P) -> Result<ItemKind, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>>,
{
    inp.skip();
    let name = name(inp)?;
    let body_start = inp.cursor();
    let body = statements(inp, expr)?;
    Ok(ItemKind::Pipeline(Pipeline {
        name,
        body,
        body_span: inp.span_since(&body_start),
    }))
}

/// `{ STATEMENT … }`: a pipeline's or a `for` loop's body, as the statements parser builds
/// it. A `for` body is read by this same function, so nested loops are read once.
fn statements<'t, 's: 't, I, E, P>(inp: &mut Inp<'t, '_, I, E>, expr: &P) -> Result<Vec<Stmt>, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>>,
{
    if inp.next() != Some(Token::LBrace) {
        return Err(give_up(inp));
    }
    let mut body = Vec::new();
    loop {
        let stmt_start = inp.cursor();
        let kind = match inp.peek() {
            Some(Token::RBrace) => {
                inp.skip();
                break;
            }
            Some(Token::Ident("let")) => {
                inp.skip();
                let name = name(inp)?;
                if inp.next() != Some(Token::Eq) {
                    return Err(give_up(inp));
                }
                let value = expression(inp, expr)?;
                let after = after(inp)?;
                let on = on(inp)?;
                StmtKind::Let {
                    name,
                    value,
                    after,
                    on,
                }
            }
            Some(Token::Ident("for")) => {
                inp.skip();
                let (index, var) = if inp.peek() == Some(Token::LParen) {
                    inp.skip();
                    let index = name(inp)?;
                    if inp.next() != Some(Token::Comma) {
                        return Err(give_up(inp));
                    }
                    let var = name(inp)?;
                    if inp.next() != Some(Token::RParen) {
                        return Err(give_up(inp));
                    }
                    (Some(index), var)
                } else {
                    (None, name(inp)?)
                };
                if inp.next() != Some(Token::Ident("in")) {
                    return Err(give_up(inp));
                }
                let source = loop_source(inp, expr)?;
                let body_start = inp.cursor();
                let body = statements(inp, expr)?;
                StmtKind::For {
                    index,
                    var,
                    source,
                    body,
                    body_span: inp.span_since(&body_start),
                }
            }
            Some(Token::Ident("if")) => {
                inp.skip();
                StmtKind::If(if_statement(inp, expr)?)
            }
            Some(Token::Ident("register")) if !is_call_of(inp, "register") => {
                inp.skip();
                let model = expression(inp, expr)?;
                if inp.next() != Some(Token::Ident("as")) {
                    return Err(give_up(inp));
                }
                let name = expression(inp, expr)?;
                StmtKind::Register { model, name }
            }
            Some(ref token) if starts_statement(token) => {
                let value = expression(inp, expr)?;
                if !matches!(value.kind, ExprKind::Call { .. }) {
                    return Err(give_up(inp));
                }
                let after = after(inp)?;
                let on = on(inp)?;
                StmtKind::Expr { value, after, on }
            }
            _ => return Err(give_up(inp)),
        };
        body.push(Stmt {
            kind,
            span: inp.span_since(&stmt_start),
        });
    }
    body.shrink_to_fit();
    Ok(body)
}

/// `if CONDITION { … } else { … }`, after the `if`: a condition that is not followed by a
/// block (a call of a task named `if`) is left to the grammar.
fn if_statement<'t, 's: 't, I, E, P>(inp: &mut Inp<'t, '_, I, E>, expr: &P) -> Result<IfStmt, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>>,
{
    let condition = expression(inp, expr)?;
    let then_start = inp.cursor();
    let then_body = statements(inp, expr)?;
    let then_span = inp.span_since(&then_start);
    let else_body = if inp.peek() == Some(Token::Ident("else")) {
        inp.skip();
        let else_start = inp.cursor();
        let body = statements(inp, expr)?;
        Some((body, inp.span_since(&else_start)))
    } else {
        None
    };
    Ok(IfStmt {
        condition,
        then_body,
        then_span,
        else_body,
    })
}

/// Whether the word next is called (`register(…)` calls a task named `register`).
fn is_call_of<'t, 's: 't, I, E>(inp: &mut Inp<'t, '_, I, E>, word: &str) -> bool
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    let before = inp.save();
    let called = inp.next() == Some(Token::Ident(word)) && inp.next() == Some(Token::LParen);
    inp.rewind(before);
    called
}

/// What a `for` loop runs over: a name path right before the body's `{` (a sweep or a
/// list, even one named like a type), or any other expression.
fn loop_source<'t, 's: 't, I, E, P>(inp: &mut Inp<'t, '_, I, E>, expr: &P) -> Result<Expr, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    P: Parser<'t, I, Expr, Extra<E>>,
{
    let before = inp.save();
    if matches!(inp.peek(), Some(Token::Ident(_))) {
        let mut path = vec![name(inp)?];
        while inp.peek() == Some(Token::Dot) {
            inp.skip();
            path.push(name(inp)?);
        }
        if inp.peek() == Some(Token::LBrace) {
            return Ok(Expr::from_path(&path));
        }
    }
    inp.rewind(before);
    expression(inp, expr)
}

/// The tokens a statement can start with: what the statements parser checks first.
fn starts_statement(token: &Token<'_>) -> bool {
    matches!(
        token,
        Token::Ident(_)
            | Token::Int(_)
            | Token::Float(_)
            | Token::Quantity(_)
            | Token::Str(_)
            | Token::TplStart
            | Token::LBracket
            | Token::LParen
            | Token::Minus
            | Token::Bang
    )
}

/// `on RESOURCE` after a statement, if there.
fn on<'t, 's: 't, I, E>(inp: &mut Inp<'t, '_, I, E>) -> Result<Option<Ident>, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    if inp.peek() != Some(Token::Ident("on")) {
        return Ok(None);
    }
    inp.skip();
    name(inp).map(Some)
}

/// `after [A, B]` after a call, if there (a word `after` followed by anything but `[`
/// is left to the next statement).
fn after<'t, 's: 't, I, E>(inp: &mut Inp<'t, '_, I, E>) -> Result<Option<After>, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    if inp.peek() != Some(Token::Ident("after")) {
        return Ok(None);
    }
    let start = inp.cursor();
    let before = inp.save();
    inp.skip();
    if inp.next() != Some(Token::LBracket) {
        inp.rewind(before);
        return Ok(None);
    }
    let mut names = Vec::new();
    loop {
        if inp.peek() == Some(Token::RBracket) {
            inp.skip();
            break;
        }
        names.push(name(inp)?);
        match inp.next() {
            Some(Token::Comma) => {}
            Some(Token::RBracket) => break,
            _ => return Err(give_up(inp)),
        }
    }
    Ok(Some(After {
        names,
        span: inp.span_since(&start),
    }))
}
