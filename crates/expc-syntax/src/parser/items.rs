//! Items, blocks, task sections and pipeline statements.

use chumsky::input::ValueInput;
use chumsky::prelude::*;
use expc_diagnostics::Span;

use super::expr::{
    args_parser, expr_parser, glued_type_parser, string_parser, template_parser, type_parser,
};
use super::{Exact, Extra, SynErr, close, ident, keyword, kw};
use crate::ast::*;
use crate::token::Token;

/// Words that start an item.
pub const ITEM_KEYWORDS: &[&str] = &[
    "experiment",
    "import",
    "param",
    "secret",
    "sweep",
    "resource",
    "site",
    "data",
    "model",
    "task",
    "pipeline",
    "record",
    "schema",
    "enum",
    "format",
    "kind",
    "profile",
];

/// Words that start a task section.
pub const SECTION_KEYWORDS: &[&str] = &[
    "resources",
    "env",
    "run",
    "shell",
    "spark",
    "retry",
    "cache",
    "evaluates",
];

/// Whether `word` is in [`ITEM_KEYWORDS`] (a `match`: a switch on the length, where a
/// search of the list compared each word in turn; this is asked at every item and name).
pub(crate) fn is_item_keyword(word: &str) -> bool {
    matches!(
        word,
        "experiment"
            | "import"
            | "param"
            | "secret"
            | "sweep"
            | "resource"
            | "site"
            | "data"
            | "model"
            | "task"
            | "pipeline"
            | "record"
            | "schema"
            | "enum"
            | "format"
            | "kind"
            | "profile"
    )
}

/// Whether `word` is in [`SECTION_KEYWORDS`].
fn is_section_keyword(word: &str) -> bool {
    matches!(
        word,
        "resources" | "env" | "run" | "shell" | "spark" | "retry" | "cache" | "evaluates"
    )
}

/// Whether `word` starts a statement other than a call.
fn is_statement_keyword(word: &str) -> bool {
    matches!(word, "let" | "for" | "if" | "register")
}

fn is_open(t: &Token<'_>) -> bool {
    matches!(
        t,
        Token::LParen | Token::LBracket | Token::LBrace | Token::TplStart | Token::TplInterpStart
    )
}

fn is_close(t: &Token<'_>) -> bool {
    matches!(
        t,
        Token::RParen | Token::RBracket | Token::RBrace | Token::TplEnd | Token::TplInterpEnd
    )
}

/// One token, or a whole bracketed group: the unit that error recovery skips.
fn unit<'t, 's: 't, I, E>() -> impl Parser<'t, I, (), Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    recursive(|unit| {
        let group = |open: Token<'static>, close: Token<'static>| {
            // An unclosed bracket (already reported by the delimiter pass) runs to the
            // end, so that skipping over it still succeeds.
            just(open)
                .ignore_then(unit.clone().repeated())
                .then_ignore(just(close).ignored().or(end()))
                .ignored()
        };
        choice((
            group(Token::LBrace, Token::RBrace),
            group(Token::LParen, Token::RParen),
            group(Token::LBracket, Token::RBracket),
            group(Token::TplStart, Token::TplEnd),
            group(Token::TplInterpStart, Token::TplInterpEnd),
            any()
                .filter(|t: &Token<'s>| !is_open(t) && !is_close(t))
                .ignored(),
        ))
    })
}

/// Skips at least one unit, then every unit before `stop` (which is not consumed).
fn skip_until<'t, 's: 't, I, E, S>(stop: S) -> impl Parser<'t, I, (), Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    S: Parser<'t, I, (), Extra<E>> + Clone,
{
    // No unit starts with a closing bracket or at the end: say so at once, since this is
    // tried (and fails) at the end of every list. A failed recovery leaves no trace.
    any()
        .filter(|t: &Token<'s>| !is_close(t))
        .rewind()
        .ignore_then(unit())
        .then(unit().and_is(stop.not()).repeated())
        .ignored()
}

/// Skips at least one unit or stray closing bracket, then every one before `stop`: the
/// recovery of an item, since at the top level a closing bracket closes nothing and is
/// left over by an error inside the item before it.
fn skip_stray_until<'t, 's: 't, I, E, S>(stop: S) -> impl Parser<'t, I, (), Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    S: Parser<'t, I, (), Extra<E>> + Clone,
{
    let unit_or_stray = unit().or(any().filter(is_close).ignored());
    unit_or_stray
        .clone()
        .then(unit_or_stray.and_is(stop.not()).repeated())
        .ignored()
}

/// Succeeds, consuming nothing, when the next token is a word `words` accepts: a guard in front of
/// a choice of alternatives that each start with one of them, so that the common end of
/// a list does not try each in turn. The choices are labelled, so the expected words
/// they would have reported at that token are replaced by the label all the same.
fn peek_word<'t, 's: 't, I, E, W>(words: W) -> impl Parser<'t, I, (), Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    W: Fn(&str) -> bool + Clone + 't,
{
    word_in(words).rewind()
}

fn word_in<'t, 's: 't, I, E, W>(words: W) -> impl Parser<'t, I, (), Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
    W: Fn(&str) -> bool + Clone + 't,
{
    any()
        .filter(move |t: &Token<'s>| matches!(t, Token::Ident(w) if words(w)))
        .ignored()
}

/// The whole file.
pub(crate) fn file_parser<'t, 's: 't, I, E>() -> impl Parser<'t, I, SourceFile, Extra<E>>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    let ty = type_parser();
    let mut expr = Recursive::declare();
    let mut block = Recursive::declare();

    // `Type = default` or `Type<…>=default` (where `>=` is one token).
    let typed_default = glued_type_parser(ty.clone())
        .then(expr.clone().map(Some))
        .or(ty
            .clone()
            .then(just(Token::Eq).ignore_then(expr.clone()).or_not()));

    // Blocks: `{ entry [,] … }`.
    let entry_start = ident()
        .then(one_of([Token::Eq, Token::Colon, Token::LBrace]))
        .ignored();
    let entry = ident()
        .then(choice((
            just(Token::Eq)
                .ignore_then(expr.clone())
                .map(EntryValue::Value),
            just(Token::Colon)
                .ignore_then(typed_default.clone())
                .map(|(ty, default)| EntryValue::Typed { ty, default }),
            block.clone().map(EntryValue::Block),
        )))
        .map_with(|(name, value), e| Entry {
            doc: None,
            name,
            value,
            span: e.span(),
        })
        .labelled("an entry")
        .recover_with(via_parser(
            skip_until(entry_start.or(just(Token::RBrace).ignored())).map_with(|(), e| Entry {
                doc: None,
                name: Ident {
                    name: SmolStr::default(),
                    span: e.span(),
                },
                value: EntryValue::Error,
                span: e.span(),
            }),
        ));
    let general_block = just(Token::LBrace)
        .ignore_then(
            entry
                .then_ignore(just(Token::Comma).or_not())
                .repeated()
                .collect::<Exact<_>>()
                .map(Exact::into_vec),
        )
        .then_ignore(close(Token::RBrace))
        .map_with(|entries, e| Block {
            entries,
            span: e.span(),
        });
    block.define(general_block.labelled("a block"));
    expr.define(expr_parser(expr.clone(), block.clone()).labelled("an expression"));

    // Where the first parse reads the common shapes with the loops of `fast`: typed
    // defaults, blocks, fields, templates and statements directly under an item. The
    // loops parse what they contain with the parsers above, which have no loops; where a
    // loop gives up, the parser above reads the construct again. So a construct is read
    // at most twice by each level above it, never twice by each level within it (which,
    // with nesting, would double at every level).
    let fast = !E::DETAILED;
    let typed_default_c = if fast {
        super::fast::typed_default(ty.clone(), expr.clone())
            .or(typed_default.clone())
            .boxed()
    } else {
        typed_default.clone().boxed()
    };
    let block_c = if fast {
        super::fast::block(expr.clone(), typed_default_c.clone(), block.clone())
            .or(block.clone())
            .boxed()
    } else {
        block.clone().boxed()
    };

    let name_path = ident()
        .then(
            just(Token::Dot)
                .ignore_then(ident())
                .repeated()
                .collect::<Exact<_>>()
                .map(Exact::into_vec),
        )
        .map(|(first, rest)| {
            let mut path = vec![first];
            path.extend(rest);
            path
        });

    // experiment NAME { … }
    let experiment = kw!("experiment")
        .ignore_then(ident())
        .then(block_c.clone())
        .map(|(name, body)| ItemKind::Experiment(Experiment { name, body }));

    // import "file.exp" as x | import std.formats.{A, B as C} as x
    let import_name = ident()
        .then(kw!("as").ignore_then(ident()).or_not())
        .map_with(|(name, alias), e| ImportName {
            name,
            alias,
            span: e.span(),
        });
    let import_names = import_name
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Exact<_>>()
        .map(Exact::into_vec)
        .delimited_by(just(Token::LBrace), just(Token::RBrace));
    let import = kw!("import")
        .ignore_then(choice((
            string_parser().map(|s| (ImportSource::File(s), None)),
            name_path
                .clone()
                .then(just(Token::Dot).ignore_then(import_names).or_not())
                .map(|(path, names)| (ImportSource::Module(path), names)),
        )))
        .then(kw!("as").ignore_then(ident()).or_not())
        .map(|((source, names), alias)| {
            ItemKind::Import(Import {
                source,
                names,
                alias,
            })
        });

    // param NAME: TYPE = DEFAULT where CONSTRAINT
    let param = kw!("param")
        .ignore_then(ident())
        .then_ignore(just(Token::Colon))
        .then(typed_default_c.clone())
        .then(kw!("where").ignore_then(expr.clone()).or_not())
        .map(|((name, (ty, default)), constraint)| {
            ItemKind::Param(Param {
                name,
                ty,
                default,
                constraint,
            })
        });

    // secret NAME: TYPE = SOURCE
    let secret = kw!("secret")
        .ignore_then(ident())
        .then_ignore(just(Token::Colon))
        .then(ty.clone())
        .then_ignore(just(Token::Eq))
        .then(expr.clone())
        .map(|((name, ty), source)| ItemKind::Secret(Secret { name, ty, source }));

    // sweep NAME = STRATEGY(ARGS) { … }, or sweep NAME = rows(TABLE)
    let sweep = kw!("sweep")
        .ignore_then(ident())
        .then_ignore(just(Token::Eq))
        .then(ident())
        .then(
            args_parser(expr.clone())
                .delimited_by(just(Token::LParen), just(Token::RParen))
                .or_not(),
        )
        .then(block_c.clone().or_not())
        .map(|(((name, strategy), args), body)| {
            ItemKind::Sweep(Sweep {
                name,
                strategy,
                args,
                body,
            })
        });

    // resource NAME = KIND { … } / site NAME = KIND { … }
    let resource_like = |word: &'static str, label: &'static str| {
        keyword(word, label)
            .ignore_then(ident())
            .then_ignore(just(Token::Eq))
            .then(ident())
            .then(block_c.clone())
            .map(|((name, kind), body)| Resource { name, kind, body })
    };
    let resource = resource_like("resource", "`resource`").map(ItemKind::Resource);
    let site = resource_like("site", "`site`").map(ItemKind::Site);

    // data NAME: TYPE = SOURCE { … } / model …
    let artifact = |word: &'static str, label: &'static str| {
        keyword(word, label)
            .ignore_then(ident())
            .then_ignore(just(Token::Colon))
            .then(ty.clone())
            .then_ignore(just(Token::Eq))
            .then(expr.clone())
            .then(block_c.clone().or_not())
            .map(|(((name, ty), source), body)| Artifact {
                name,
                ty,
                source,
                body,
            })
    };
    let data = artifact("data", "`data`").map(ItemKind::Data);
    let model = artifact("model", "`model`").map(ItemKind::Model);

    // task NAME(FIELDS) -> (FIELDS) { SECTIONS }
    let field = ident()
        .or(crate::parser::reserved_as_name("an input or output"))
        .then_ignore(just(Token::Colon))
        .then(typed_default.clone())
        .map_with(|(name, (ty, default)), e| Field {
            doc: None,
            name,
            ty,
            default,
            span: e.span(),
        })
        .labelled("a field")
        .recover_with(via_parser(
            skip_until(one_of([Token::Comma, Token::RParen]).ignored()).map_with(|(), e| Field {
                doc: None,
                name: Ident {
                    name: SmolStr::default(),
                    span: e.span(),
                },
                ty: TypeExpr {
                    kind: TypeExprKind::Error,
                    span: e.span(),
                },
                default: None,
                span: e.span(),
            }),
        ));
    let fields = field
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Exact<_>>()
        .map(Exact::into_vec)
        .then_ignore(close(Token::RParen))
        .delimited_by(just(Token::LParen), empty());
    let fields = if fast {
        super::fast::fields(typed_default_c.clone())
            .or(fields)
            .boxed()
    } else {
        fields.boxed()
    };

    let template = if fast {
        super::fast::template(expr.clone())
            .or(template_parser(expr.clone()))
            .boxed()
    } else {
        template_parser(expr.clone()).boxed()
    };
    let template_c = template.clone();
    let section = peek_word(is_section_keyword)
        .ignore_then(choice((
            kw!("resources")
                .ignore_then(block_c.clone())
                .map(SectionKind::Resources),
            kw!("env")
                .ignore_then(block_c.clone())
                .map(SectionKind::Env),
            kw!("run")
                .ignore_then(template.clone())
                .map(SectionKind::Run),
            kw!("retry")
                .ignore_then(expr.clone())
                .then(block_c.clone().or_not())
                .map(|(attempts, body)| SectionKind::Retry { attempts, body }),
            kw!("shell").ignore_then(template).map(SectionKind::Shell),
            kw!("cache")
                .ignore_then(just(Token::Eq))
                .ignore_then(expr.clone())
                .map(SectionKind::Cache),
            kw!("evaluates")
                .ignore_then(just(Token::Eq))
                .ignore_then(ident())
                .map(SectionKind::Evaluates),
            kw!("spark")
                .ignore_then(expr.clone())
                .then(kw!("args").ignore_then(expr.clone()).or_not())
                .then(block_c.clone().or_not())
                .map(|((app, args), body)| SectionKind::Spark { app, args, body }),
        )))
        .map_with(|kind, e| Section {
            kind,
            span: e.span(),
        })
        .labelled("a task section")
        .recover_with(via_parser(
            skip_until(word_in(is_section_keyword).or(just(Token::RBrace).ignored())).map_with(
                |(), e| Section {
                    kind: SectionKind::Error,
                    span: e.span(),
                },
            ),
        ));
    let fields_c = fields.clone();
    let task = kw!("task")
        .ignore_then(ident())
        .then(fields.clone())
        .then(just(Token::Arrow).ignore_then(fields).or_not())
        .then(
            just(Token::LBrace)
                .ignore_then(
                    section
                        .repeated()
                        .collect::<Exact<_>>()
                        .map(Exact::into_vec),
                )
                .then_ignore(close(Token::RBrace))
                .map_with(|sections, e| (sections, e.span())),
        )
        .map(|(((name, inputs), outputs), (sections, body_span))| {
            ItemKind::Task(Task {
                name,
                inputs,
                outputs,
                sections,
                body_span,
            })
        });

    // pipeline NAME { STATEMENTS }
    let on = kw!("on").ignore_then(ident()).or_not();
    // `after [a, b]`: only before a `[`, so that a task named `after` can still be called.
    let after = kw!("after")
        .ignore_then(
            ident()
                .separated_by(just(Token::Comma))
                .allow_trailing()
                .collect::<Exact<_>>()
                .map(Exact::into_vec)
                .delimited_by(just(Token::LBracket), close(Token::RBracket)),
        )
        .map_with(|names, e| After {
            names,
            span: e.span(),
        })
        .or_not();
    let statements = recursive(|statements| {
        let let_stmt = kw!("let")
            .ignore_then(ident())
            .then_ignore(just(Token::Eq))
            .then(expr.clone())
            .then(after.clone())
            .then(on.clone())
            .map(|(((name, value), after), on)| StmtKind::Let {
                name,
                value,
                after,
                on,
            });
        // `for x in …` or `for (i, x) in …`.
        let loop_vars = ident().map(|var| (None, var)).or(ident()
            .then_ignore(just(Token::Comma))
            .then(ident())
            .delimited_by(just(Token::LParen), just(Token::RParen))
            .map(|(index, var)| (Some(index), var)));
        // A name path right before the body is the source even when named like a type
        // (`for p in Grid {` is not a record literal); anything else is an expression.
        let loop_source = name_path
            .clone()
            .map(|path: Vec<Ident>| Expr::from_path(&path))
            .then_ignore(just(Token::LBrace).rewind())
            .or(expr.clone());
        let for_stmt = kw!("for")
            .ignore_then(loop_vars)
            .then_ignore(kw!("in"))
            .then(loop_source)
            .then(statements.clone().map_with(|body, e| (body, e.span())))
            .map(
                |(((index, var), source), (body, body_span))| StmtKind::For {
                    index,
                    var,
                    source,
                    body,
                    body_span,
                },
            );
        // `if CONDITION { … } else { … }`.
        let if_stmt = kw!("if")
            .ignore_then(expr.clone())
            .then(statements.clone().map_with(|body, e| (body, e.span())))
            .then(
                kw!("else")
                    .ignore_then(statements.clone().map_with(|body, e| (body, e.span())))
                    .or_not(),
            )
            .map(|((condition, (then_body, then_span)), else_body)| {
                StmtKind::If(IfStmt {
                    condition,
                    then_body,
                    then_span,
                    else_body,
                })
            });
        // `register t.model as "name"`: a task named `register` is still called as one.
        let register_stmt = kw!("register")
            .ignore_then(expr.clone())
            .then_ignore(kw!("as"))
            .then(expr.clone())
            .map(|(model, name)| StmtKind::Register { model, name });
        // A bare statement is a call: anything else is a typo or a leftover.
        let expr_stmt = expr
            .clone()
            .filter(|e: &Expr| matches!(e.kind, ExprKind::Call { .. }))
            .then(after)
            .then(on.clone())
            .map(|((value, after), on)| StmtKind::Expr { value, after, on });
        // Every statement starts with a word or could be an expression: check that first,
        // so that the `}` ending the block does not try each kind (the label replaces
        // what they would have expected there).
        let statement_start = any()
            .filter(|t: &Token<'s>| {
                matches!(
                    t,
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
            })
            .rewind();
        let statement = statement_start
            .ignore_then(choice((
                let_stmt,
                for_stmt,
                if_stmt,
                register_stmt,
                expr_stmt,
            )))
            .map_with(|kind, e| Stmt {
                kind,
                span: e.span(),
            })
            .labelled("a statement")
            .recover_with(via_parser(
                skip_until(word_in(is_statement_keyword).or(just(Token::RBrace).ignored()))
                    .map_with(|(), e| Stmt {
                        kind: StmtKind::Error,
                        span: e.span(),
                    }),
            ));
        just(Token::LBrace)
            .ignore_then(
                statement
                    .repeated()
                    .collect::<Exact<_>>()
                    .map(Exact::into_vec),
            )
            .then_ignore(close(Token::RBrace))
    });
    let pipeline = kw!("pipeline")
        .ignore_then(ident())
        .then(statements.map_with(|body, e| (body, e.span())))
        .map(|(name, (body, body_span))| {
            ItemKind::Pipeline(Pipeline {
                name,
                body,
                body_span,
            })
        });

    // record NAME { … } / schema NAME { … }
    let record = kw!("record")
        .ignore_then(ident())
        .then(block_c.clone())
        .map(|(name, body)| ItemKind::Record(RecordDecl { name, body }));
    let schema = kw!("schema")
        .ignore_then(ident())
        .then(block_c.clone())
        .map(|(name, body)| ItemKind::Schema(RecordDecl { name, body }));

    // enum NAME { a, b }
    let variants = ident()
        .map(|name| Variant { doc: None, name })
        .then_ignore(just(Token::Comma).or_not())
        .repeated()
        .collect::<Exact<_>>()
        .map(Exact::into_vec)
        .delimited_by(just(Token::LBrace), just(Token::RBrace))
        .map_with(|v, e| (v, e.span()));
    let enum_ =
        kw!("enum")
            .ignore_then(ident())
            .then(variants)
            .map(|(name, (variants, body_span))| {
                ItemKind::Enum(EnumDecl {
                    name,
                    variants,
                    body_span,
                })
            });

    // format NAME: BASE { … }
    let format = kw!("format")
        .ignore_then(ident())
        .then(just(Token::Colon).ignore_then(ident()).or_not())
        .then(block_c.clone())
        .map(|((name, base), body)| ItemKind::Format(FormatDecl { name, base, body }));

    // profile NAME { from = to … }
    let profile = kw!("profile")
        .ignore_then(ident())
        .then(block_c.clone())
        .map(|(name, body)| ItemKind::Profile(RecordDecl { name, body }));

    // kind NAME: BACKEND { … }
    let kind = kw!("kind")
        .ignore_then(ident())
        .then_ignore(just(Token::Colon))
        .then(ident())
        .then(block_c.clone())
        .map(|((name, backend), body)| {
            ItemKind::Kind(KindDecl {
                name,
                backend,
                body,
            })
        });

    let item_start = word_in(is_item_keyword)
        .then(any().filter(|t: &Token<'s>| matches!(t, Token::Ident(_) | Token::Str(_))))
        .ignored();
    // The most frequent items first: every failed alternative costs.
    let item = peek_word(is_item_keyword)
        .ignore_then(choice((
            task, data, param, resource, pipeline, import, model, sweep, secret, experiment, site,
            record, schema, enum_, format, kind, profile,
        )))
        .labelled("an item")
        .map_with(|kind, e| Item {
            doc: None,
            kind,
            span: e.span(),
        })
        .recover_with(via_parser(skip_stray_until(item_start).map_with(
            |(), e| Item {
                doc: None,
                kind: ItemKind::Error,
                span: e.span(),
            },
        )));

    // The first parse reads the list of items, tasks and pipelines in loops (`fast`),
    // which leave any other item, and any they give up on, to `item`.
    if fast {
        return super::fast::file(fields_c, block_c, template_c, expr, item).boxed();
    }
    item.repeated()
        .collect::<Exact<_>>()
        .map(Exact::into_vec)
        // What no item's recovery could skip is reported and dropped, keeping the items
        // before it: an editor needs the outline of a file while it is being typed.
        .then_ignore(end().recover_with(via_parser(any().repeated())))
        .map_with(|items, e| SourceFile {
            items,
            span: e.span(),
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `match`es that the parser asks agree with the published word lists.
    #[test]
    fn keyword_matches_agree_with_the_lists() {
        for word in ITEM_KEYWORDS {
            assert!(is_item_keyword(word), "{word}");
            assert!(!is_section_keyword(word), "{word}");
        }
        for word in SECTION_KEYWORDS {
            assert!(is_section_keyword(word), "{word}");
            assert!(!is_item_keyword(word), "{word}");
        }
        for word in super::super::RESERVED {
            assert!(super::super::is_reserved(word), "{word}");
        }
        for word in [
            "",
            "Task",
            "tasks",
            "experiments",
            "le",
            "lets",
            "input",
            "x",
        ] {
            assert!(!is_item_keyword(word), "{word}");
            assert!(!is_section_keyword(word), "{word}");
            assert!(!super::super::is_reserved(word), "{word}");
            assert!(!is_statement_keyword(word), "{word}");
        }
        assert!(is_statement_keyword("let") && is_statement_keyword("for"));
    }
}
