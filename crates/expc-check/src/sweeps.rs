//! Sweeps: product, zip and random sets of parameter points.

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{EntryValue, ItemKind};

use crate::checker::Checker;
use crate::defs::DefKind;
use crate::types::Type;
use crate::value::Value;

pub use crate::ir::Strategy;

#[derive(Clone, Debug)]
pub struct Axis {
    pub name: String,
    pub ty: Type,
    pub span: Span,
    /// The values (product, zip) or the distribution (random), when known.
    pub values: Option<Value>,
}

#[derive(Clone, Debug)]
pub struct SweepInfo {
    pub strategy: Strategy,
    pub axes: Vec<Axis>,
    pub samples: Option<i64>,
    pub seed: Option<i64>,
    /// How many points, when known.
    pub points: Option<u64>,
}

/// Most points a sweep may have: beyond this, nothing can be planned.
pub const MAX_POINTS: u64 = 10_000_000;

impl Checker<'_> {
    pub fn check_sweeps(&mut self) {
        for def in self.all(DefKind::Sweep) {
            let ItemKind::Sweep(s) = &self.item(def).kind else {
                continue;
            };
            let module = self.def(def).module;
            let cx = self.top_cx(module, "in a sweep");
            if s.strategy.name == "rows" {
                if let Some(info) = self.rows_sweep(def, s) {
                    self.sweeps.insert(def, info);
                }
                continue;
            }
            let Some(body) = &s.body else {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_SWEEP,
                        format!("the sweep `{}` has no axes", s.name.name),
                        s.name.span.to(s.strategy.span),
                    )
                    .with_help(format!(
                        "give its axes in a block: `sweep {} = {} {{ lr = [0.1, 0.01] }}`, or take a table's rows: `sweep {} = rows(units)`",
                        s.name.name, s.strategy.name, s.name.name
                    )),
                );
                continue;
            };
            let strategy = match s.strategy.name.as_str() {
                "product" => Strategy::Product,
                "zip" => Strategy::Zip,
                "random" => Strategy::Random,
                other => {
                    let mut d = Diagnostic::error(
                        Code::UNKNOWN_NAME,
                        format!("unknown sweep strategy `{other}`"),
                        s.strategy.span,
                    );
                    d = match expc_syntax::suggest::closest(
                        other,
                        ["product", "zip", "random", "rows"],
                    ) {
                        Some(x) => d.with_help(format!("did you mean `{x}`?")),
                        None => d.with_help(
                            "the strategies are product, zip, random(samples = N, seed = S) and rows(TABLE)",
                        ),
                    };
                    self.emit(d);
                    continue;
                }
            };
            let (mut samples, mut seed) = (None, None);
            match (&s.args, strategy) {
                (Some(args), Strategy::Random) => {
                    for a in args {
                        let Some(n) = &a.name else {
                            self.emit(
                                Diagnostic::error(
                                    Code::UNKNOWN_ARGUMENT,
                                    "`random` takes named arguments",
                                    a.span,
                                )
                                .with_help("write `random(samples = 20, seed = 7)`"),
                            );
                            continue;
                        };
                        let slot = match n.name.as_str() {
                            "samples" => &mut samples,
                            "seed" => &mut seed,
                            other => {
                                let mut d = Diagnostic::error(
                                    Code::UNKNOWN_ARGUMENT,
                                    format!("`random` has no argument `{other}`"),
                                    n.span,
                                );
                                if let Some(x) =
                                    expc_syntax::suggest::closest(other, ["samples", "seed"])
                                {
                                    d = d.with_help(format!("did you mean `{x}`?"));
                                }
                                self.emit(d);
                                continue;
                            }
                        };
                        let t = self.expr_as(&a.value, &Type::Int, &cx, &format!("`{}`", n.name));
                        *slot = t.value.and_then(|v| v.as_int()).map(|v| (v, a.value.span));
                    }
                    for (what, v) in [("samples", &samples), ("seed", &seed)] {
                        if v.is_none()
                            && !args
                                .iter()
                                .any(|a| a.name.as_ref().is_some_and(|n| n.name == what))
                        {
                            self.emit(
                                Diagnostic::error(
                                    Code::MISSING_ARGUMENT,
                                    format!("a random sweep needs `{what}`"),
                                    s.strategy.span,
                                )
                                .with_help("write `random(samples = 20, seed = 7)`: the seed makes the draw repeatable"),
                            );
                        }
                    }
                    if let Some((n, span)) = samples {
                        if !(1..=MAX_POINTS as i64).contains(&n) {
                            self.emit(Diagnostic::error(
                                Code::INVALID_SWEEP,
                                format!("a random sweep draws 1 to ten million samples, not {n}"),
                                span,
                            ));
                            samples = None;
                        }
                    }
                }
                (None, Strategy::Random) => {
                    self.emit(
                        Diagnostic::error(Code::MISSING_ARGUMENT, "a random sweep needs `samples` and `seed`", s.strategy.span)
                            .with_help("write `random(samples = 20, seed = 7)`: the seed makes the draw repeatable"),
                    );
                }
                (Some(args), _) => {
                    let span = args.first().map_or(s.strategy.span, |a| a.span);
                    self.emit(
                        Diagnostic::error(
                            Code::UNKNOWN_ARGUMENT,
                            format!("`{}` takes no arguments", s.strategy.name),
                            span,
                        )
                        .with_help(format!(
                            "write `sweep {} = {} {{ … }}`",
                            s.name.name, s.strategy.name
                        )),
                    );
                }
                (None, _) => {}
            }
            let mut axes: Vec<Axis> = Vec::new();
            for entry in &body.entries {
                if entry.name.name.is_empty() {
                    continue;
                }
                if let Some(first) = axes.iter().find(|a| a.name == entry.name.name) {
                    let first = first.span;
                    self.emit(
                        Diagnostic::error(
                            Code::DUPLICATE_ENTRY,
                            format!("the axis `{}` is declared twice", entry.name.name),
                            entry.name.span,
                        )
                        .with_label(first, "first declared here"),
                    );
                    continue;
                }
                let EntryValue::Value(e) = &entry.value else {
                    if !matches!(entry.value, EntryValue::Error) {
                        self.emit(Diagnostic::error(
                            Code::INVALID_SWEEP,
                            format!(
                                "the axis `{}` needs values: `{} = [a, b, c]`",
                                entry.name.name, entry.name.name
                            ),
                            entry.name.span,
                        ));
                    }
                    continue;
                };
                let t = self.expr(e, None, &cx);
                let (ty, values) = match (strategy, &t.ty) {
                    (_, Type::Error) => (Type::Error, None),
                    (Strategy::Random, Type::Distribution(inner)) => ((**inner).clone(), t.value),
                    (Strategy::Random, other) => {
                        let shown = self.show(other);
                        self.emit(
                            Diagnostic::error(
                                Code::INVALID_SWEEP,
                                format!("an axis of a random sweep is a distribution, found {shown}"),
                                e.span,
                            )
                            .with_help("use `uniform(low, high)`, `loguniform(low, high)` or `choice([a, b])`"),
                        );
                        (Type::Error, None)
                    }
                    (_, Type::EmptyList) => {
                        self.emit(
                            Diagnostic::error(
                                Code::INVALID_SWEEP,
                                format!("the axis `{}` is empty", entry.name.name),
                                e.span,
                            )
                            .with_primary_message("no values: the sweep would have no points")
                            .with_help("give the axis at least one value"),
                        );
                        (Type::Error, None)
                    }
                    (_, Type::List(inner)) => ((**inner).clone(), t.value),
                    (_, other) => {
                        let shown = self.show(other);
                        self.emit(
                            Diagnostic::error(
                                Code::INVALID_SWEEP,
                                format!("an axis takes a list of values, found {shown}"),
                                e.span,
                            )
                            .with_help(format!(
                                "write `{} = [{}]` for a single value",
                                entry.name.name,
                                t.value.map(|v| v.to_string()).unwrap_or_else(|| "…".into())
                            )),
                        );
                        (Type::Error, None)
                    }
                };
                if let Some(Value::List(items)) = &values {
                    if items.is_empty() {
                        self.emit(
                            Diagnostic::error(
                                Code::INVALID_SWEEP,
                                format!("the axis `{}` is empty", entry.name.name),
                                e.span,
                            )
                            .with_primary_message(
                                "this has no values: the sweep would have no points",
                            )
                            .with_help("check the bounds of the range or the params it uses"),
                        );
                    }
                }
                axes.push(Axis {
                    name: entry.name.name.as_str().to_owned(),
                    ty,
                    span: entry.name.span,
                    values,
                });
            }
            if axes.is_empty() {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_SWEEP,
                        format!("the sweep `{}` has no axes", s.name.name),
                        body.span,
                    )
                    .with_help("add an axis: `lr = [0.1, 0.01]`"),
                );
            }
            let lengths: Vec<Option<usize>> = axes
                .iter()
                .map(|a| {
                    a.values
                        .as_ref()
                        .and_then(Value::as_list)
                        .map(<[Value]>::len)
                })
                .collect();
            let points = match strategy {
                Strategy::Random => samples.map(|(n, _)| n as u64),
                Strategy::List | Strategy::Rows | Strategy::Produced => {
                    lengths.first().copied().flatten().map(|l| l as u64)
                }
                Strategy::Product => lengths
                    .iter()
                    .try_fold(1u64, |acc, l| l.map(|l| acc.saturating_mul(l as u64))),
                Strategy::Zip => {
                    let known: Vec<(usize, &Axis)> = lengths
                        .iter()
                        .zip(&axes)
                        .filter_map(|(l, a)| l.map(|l| (l, a)))
                        .collect();
                    if let Some((first_len, first)) = known.first() {
                        if let Some((len, axis)) = known.iter().find(|(l, _)| l != first_len) {
                            self.emit(
                                Diagnostic::error(
                                    Code::INVALID_SWEEP,
                                    format!(
                                        "a zip sweep pairs lists of one length: `{}` has {first_len}, `{}` has {len}",
                                        first.name, axis.name
                                    ),
                                    axis.span,
                                )
                                .with_label(first.span, format!("{first_len} values"))
                                .with_help("give every axis as many values, or use `product` for every combination"),
                            );
                        }
                    }
                    if lengths.iter().all(Option::is_some) {
                        known.first().map(|(l, _)| *l as u64)
                    } else {
                        None
                    }
                }
            };
            if let Some(p) = points {
                if p > MAX_POINTS {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_SWEEP,
                            format!(
                                "the sweep `{}` has {p} points, more than ten million",
                                s.name.name
                            ),
                            s.name.span,
                        )
                        .with_help(
                            "split the study into several experiments, or use a random sweep",
                        ),
                    );
                }
            }
            self.sweeps.insert(
                def,
                SweepInfo {
                    strategy,
                    axes,
                    samples: samples.map(|(n, _)| n),
                    seed: seed.map(|(n, _)| n),
                    points,
                },
            );
        }
    }
}
