//! Expressions: their types, their values when known, and their IR.

use expc_syntax::ast::SmolStr;
use foldhash::HashMap;
use std::collections::BTreeMap;

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{
    self, BinaryOp, Block, CompareOp, EntryValue, Expr, ExprKind, TemplatePart, UnaryOp,
};
use expc_syntax::quantity::Dimension;

use crate::checker::{Checker, FieldInfo};
use crate::defs::{Binding, DefId, DefKind};
use crate::ir_expr::{IrExpr, IrPart};
use crate::modules::ModuleId;
use crate::types::Type;
use crate::value::{Distribution, Value};

/// The result of checking an expression.
#[derive(Clone, Debug)]
pub struct Typed {
    pub ty: Type,
    pub value: Option<Value>,
    pub ir: IrExpr,
}

impl Typed {
    pub fn error() -> Typed {
        Typed {
            ty: Type::Error,
            value: None,
            ir: IrExpr::Error,
        }
    }

    fn known(ty: Type, value: Value) -> Typed {
        Typed {
            ty,
            ir: IrExpr::value(value.clone()),
            value: Some(value),
        }
    }
}

/// A name bound inside an item: a task's inputs and outputs, a pipeline's bindings and
/// loop variables.
#[derive(Clone, Debug)]
pub enum Local {
    Input {
        ty: Type,
        span: Span,
    },
    Output {
        ty: Type,
        span: Span,
    },
    Binding {
        task: DefId,
        loops: Vec<u32>,
        span: Span,
        /// Bound in only one branch of an `if`: its outputs are optional.
        optional: bool,
    },
    Point {
        sweep: DefId,
        span: Span,
    },
    /// `x` in `for x in LIST`.
    Element {
        ty: Type,
        span: Span,
    },
    /// `i` in `for (i, x) in …`, the position of loop variable `var`.
    Index {
        var: SmolStr,
        span: Span,
    },
    /// `resources` in a task's body: `resources.cpus` and the like.
    Resources {
        span: Span,
    },
}

impl Local {
    pub fn span(&self) -> Span {
        match self {
            Local::Input { span, .. }
            | Local::Output { span, .. }
            | Local::Binding { span, .. }
            | Local::Point { span, .. }
            | Local::Element { span, .. }
            | Local::Index { span, .. }
            | Local::Resources { span } => *span,
        }
    }
}

/// Where a secret may appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secrets {
    Allowed,
    /// Not here; the text names the place, for the message.
    Forbidden(&'static str),
}

/// The context of an expression.
#[derive(Clone, Copy, Debug)]
pub struct Cx<'c> {
    pub module: ModuleId,
    pub locals: &'c HashMap<SmolStr, Local>,
    pub secrets: Secrets,
    /// The loops around the expression in a pipeline, outermost first.
    pub loops: &'c [u32],
    /// `env("VAR")` is allowed (secret sources).
    pub env_ok: bool,
}

impl<'c> Cx<'c> {
    pub fn top(module: ModuleId, locals: &'c HashMap<SmolStr, Local>, place: &'static str) -> Self {
        Cx {
            module,
            locals,
            secrets: Secrets::Forbidden(place),
            loops: &[],
            env_ok: false,
        }
    }
}

impl Checker<'_> {
    /// Checks an expression, with the type expected where it stands, if any.
    pub fn expr(&mut self, e: &Expr, expected: Option<&Type>, cx: &Cx<'_>) -> Typed {
        match &e.kind {
            ExprKind::Int { value, .. } => Typed::known(Type::Int, Value::Int(*value)),
            ExprKind::Float { value, .. } => Typed::known(Type::Float, Value::Float(*value)),
            ExprKind::Quantity { value, .. } => match value.dimension {
                Dimension::Memory => Typed::known(Type::Memory, Value::Memory(value.amount)),
                Dimension::Duration => Typed::known(Type::Duration, Value::Duration(value.amount)),
            },
            ExprKind::String(s) => {
                Typed::known(Type::String, Value::Str(s.value.as_str().to_owned()))
            }
            ExprKind::Bool(b) => Typed::known(Type::Bool, Value::Bool(*b)),
            ExprKind::None => Typed::known(Type::NoneLit, Value::None),
            ExprKind::Template(t) => self.template_value(t, cx),
            ExprKind::Name(name) => self.name(name, expected, cx),
            ExprKind::List(items) => self.list(items, expected, e.span, cx),
            ExprKind::Record { ty, body } => self.record_literal(ty, body, cx),
            ExprKind::Paren(inner) => self.expr(inner, expected, cx),
            ExprKind::Unary { op, operand } => self.unary(*op, operand, e.span, cx),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, e.span, expected, cx),
            ExprKind::Compare { first, rest } => self.compare(first, rest, cx),
            ExprKind::Range {
                start,
                end,
                inclusive,
            } => self.range(start, end, *inclusive, cx),
            ExprKind::Field { base, name } => self.field_of_binding(base, name, cx),
            ExprKind::Call { callee, args } => self.call(callee, args, e.span, cx),
            ExprKind::Index { base, index } => self.index(base, index, cx),
            ExprKind::Error => Typed::error(),
        }
    }

    /// Checks an expression against the type it must have.
    pub fn expr_as(&mut self, e: &Expr, expected: &Type, cx: &Cx<'_>, what: &str) -> Typed {
        self.expr_as_with(e, expected, cx, || what.to_owned())
    }

    /// As [`Self::expr_as`], with the description built only when it is needed.
    pub fn expr_as_with(
        &mut self,
        e: &Expr,
        expected: &Type,
        cx: &Cx<'_>,
        what: impl FnOnce() -> String,
    ) -> Typed {
        let mut t = self.expr(e, Some(expected), cx);
        let fits = match self.fits(&t.ty, expected) {
            Ok(()) => true,
            Err(m) => {
                self.misfit(m, &t.ty, expected, e.span, &what(), None);
                false
            }
        };
        if !fits {
            t.ty = Type::Error;
            t.value = None;
        } else if let Some(v) = t.value.take() {
            t.value = Some(coerce(v, expected));
            if let IrExpr::Value { .. } = t.ir {
                t.ir = IrExpr::value(t.value.clone().unwrap_or(Value::None));
            }
        }
        t
    }

    fn name(&mut self, name: &ast::Ident, expected: Option<&Type>, cx: &Cx<'_>) -> Typed {
        if let Some(local) = cx.locals.get(&name.name) {
            return match local {
                Local::Input { ty, .. } => Typed {
                    ty: ty.clone(),
                    value: None,
                    ir: IrExpr::Input {
                        name: name.name.as_str().to_owned(),
                    },
                },
                Local::Output { ty, .. } => Typed {
                    ty: ty.clone(),
                    value: None,
                    ir: IrExpr::Output {
                        name: name.name.as_str().to_owned(),
                    },
                },
                Local::Binding { task, loops, .. } => Typed {
                    ty: Type::Call {
                        task: *task,
                        gathered: !cx.loops.starts_with(loops),
                    },
                    value: None,
                    ir: IrExpr::Error,
                },
                Local::Point { sweep, .. } => Typed {
                    ty: Type::Point(*sweep),
                    value: None,
                    ir: IrExpr::Error,
                },
                Local::Element { ty, .. } => Typed {
                    ty: ty.clone(),
                    value: None,
                    ir: IrExpr::Element {
                        var: name.name.as_str().to_owned(),
                        fields: Vec::new(),
                    },
                },
                Local::Index { var, .. } => Typed {
                    ty: Type::Int,
                    value: None,
                    ir: IrExpr::LoopIndex {
                        var: var.as_str().to_owned(),
                        name: name.name.as_str().to_owned(),
                    },
                },
                Local::Resources { .. } => {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_INTERPOLATION,
                            "`resources` is what the task is given, read one at a time",
                            name.span,
                        )
                        .with_help("write `${resources.cpus}`, `${resources.mem}` (bytes), `${resources.gpus}` or `${resources.time}` (seconds)"),
                    );
                    Typed::error()
                }
            };
        }
        // An enum variant where that enum is expected.
        let enum_expected = match expected {
            Some(Type::Enum(d)) => Some(*d),
            Some(Type::Optional(t)) => match &**t {
                Type::Enum(d) => Some(*d),
                _ => None,
            },
            _ => None,
        };
        if let Some(d) = enum_expected {
            if self.has_variant(d, &name.name) {
                return Typed::known(Type::Enum(d), Value::Enum(name.name.as_str().to_owned()));
            }
        }
        match self.defs.lookup(cx.module, &name.name) {
            Some(bound) => match bound.binding {
                Binding::Def(def) => self.def_value(def, name.span, cx),
                Binding::Module(m) => Typed {
                    ty: Type::Module(m),
                    value: None,
                    ir: IrExpr::Error,
                },
            },
            None if crate::defs::BUILTIN_FUNCTIONS.contains(&name.name.as_str()) => {
                self.emit(
                    Diagnostic::error(
                        Code::WRONG_KIND_OF_NAME,
                        format!("`{}` is a built-in function, not a value", name.name),
                        name.span,
                    )
                    .with_help(format!("call it: `{}(…)`", name.name)),
                );
                Typed::error()
            }
            None => {
                self.unknown_name(name, cx, enum_expected);
                Typed::error()
            }
        }
    }

    pub fn unknown_name(&mut self, name: &ast::Ident, cx: &Cx<'_>, enum_expected: Option<DefId>) {
        // The variable of a loop the pipeline has left.
        if let Some(at) = self
            .ended_loop_names
            .iter()
            .rev()
            .find(|(n, _)| *n == name.name)
            .map(|(_, at)| *at)
        {
            self.emit(
                Diagnostic::error(
                    Code::UNKNOWN_NAME,
                    format!("`{}` exists only inside its loop", name.name),
                    name.span,
                )
                .with_primary_message("used after the loop")
                .with_label(at, "the loop's variable, which ends with its `}`")
                .with_help("use it inside the loop; after it, a call made in the loop gathers its instances (`t.out` is a list)"),
            );
            return;
        }
        let mut candidates: Vec<String> = cx.locals.keys().map(|k| k.as_str().to_owned()).collect();
        candidates.extend(self.scope_names(cx.module));
        if let Some(d) = enum_expected {
            candidates.extend(
                self.variants
                    .get(&d)
                    .into_iter()
                    .flatten()
                    .map(|(v, _)| v.as_str().to_owned()),
            );
        }
        let mut d = Diagnostic::error(
            Code::UNKNOWN_NAME,
            format!("unknown name `{}`", name.name),
            name.span,
        )
        .with_primary_message("not declared in this file or imported");
        if let Some(s) =
            expc_syntax::suggest::closest(&name.name, candidates.iter().map(String::as_str))
        {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else if let Some(e) = enum_expected {
            let variants: Vec<String> = self
                .variants
                .get(&e)
                .into_iter()
                .flatten()
                .map(|(v, _)| format!("`{v}`"))
                .collect();
            d = d.with_help(format!(
                "`{}` has the variants {}",
                self.def(e).name,
                variants.join(", ")
            ));
        }
        self.emit(d);
    }

    pub fn has_variant(&self, def: DefId, name: &str) -> bool {
        self.variants
            .get(&def)
            .is_some_and(|v| v.iter().any(|(n, _)| n == name))
    }

    /// A reference to a declaration, as a value.
    pub fn def_value(&mut self, def: DefId, span: Span, cx: &Cx<'_>) -> Typed {
        let kind = self.def(def).kind;
        let name = self.def(def).name.clone();
        if matches!(
            kind,
            DefKind::Param | DefKind::Secret | DefKind::Data | DefKind::Model
        ) {
            if let Some(log) = &mut self.use_log {
                log.push(def);
            }
        }
        match kind {
            DefKind::Param => {
                self.used.insert(def);
                let ty = self.decl_types.get(&def).cloned().unwrap_or(Type::Error);
                let value = self.param_value(def);
                Typed {
                    ty,
                    value,
                    ir: IrExpr::Param {
                        id: self.ir_id(def),
                    },
                }
            }
            DefKind::Secret => {
                self.used.insert(def);
                if let crate::expr::Secrets::Forbidden(place) = cx.secrets {
                    self.emit(
                        Diagnostic::error(
                            Code::SECRET_LEAK,
                            format!("the secret `{name}` cannot be used {place}"),
                            span,
                        )
                        .with_primary_message("a secret here could be written down")
                        .with_label(self.def(def).span, "the secret is declared here")
                        .with_help(format!(
                            "pass it to the task as an environment variable: `env {{ vars {{ {} = {name} }} }}`",
                            name.to_uppercase()
                        )),
                    );
                    return Typed::error();
                }
                Typed {
                    ty: Type::String,
                    value: None,
                    ir: IrExpr::Secret {
                        id: self.ir_id(def),
                    },
                }
            }
            DefKind::Data | DefKind::Model => {
                self.used.insert(def);
                let ty = self.decl_types.get(&def).cloned().unwrap_or(Type::Error);
                let id = self.ir_id(def);
                Typed {
                    ty,
                    value: Some(Value::Artifact(id.clone())),
                    ir: IrExpr::Artifact { id },
                }
            }
            DefKind::Sweep => Typed {
                ty: Type::Sweep(def),
                value: None,
                ir: IrExpr::Error,
            },
            DefKind::Resource => {
                let kind = self.resource_kind(def);
                Typed {
                    ty: kind.map_or(Type::Error, Type::Resource),
                    value: self.values.get(&def).cloned(),
                    ir: IrExpr::Error,
                }
            }
            DefKind::Site => {
                let ty = self
                    .std_def("sites", "Site")
                    .filter(|s| Some(*s) == self.site_record(def))
                    .map_or(Type::Error, Type::Record);
                Typed {
                    ty: match self.site_record(def) {
                        Some(r) => Type::Record(r),
                        None => ty,
                    },
                    value: self.values.get(&def).cloned(),
                    ir: IrExpr::Error,
                }
            }
            DefKind::Task => Typed {
                ty: Type::Task(def),
                value: None,
                ir: IrExpr::Error,
            },
            DefKind::Enum => Typed {
                ty: Type::EnumName(def),
                value: None,
                ir: IrExpr::Error,
            },
            DefKind::Record
            | DefKind::Schema
            | DefKind::Format
            | DefKind::Kind
            | DefKind::Profile
            | DefKind::Pipeline => {
                let noun = kind.noun();
                let help = match kind {
                    DefKind::Record => format!("write a record value: `{name} {{ … }}`"),
                    _ => "use it in a type or declaration, not as a value".to_owned(),
                };
                self.emit(
                    Diagnostic::error(
                        Code::WRONG_KIND_OF_NAME,
                        format!("`{name}` is a {noun}, not a value"),
                        span,
                    )
                    .with_label(self.def(def).span, format!("the {noun} is declared here"))
                    .with_help(help),
                );
                Typed::error()
            }
        }
    }

    fn list(&mut self, items: &[Expr], expected: Option<&Type>, span: Span, cx: &Cx<'_>) -> Typed {
        if items.is_empty() {
            return Typed::known(Type::EmptyList, Value::List(Vec::new()));
        }
        let expected_elem = expected.and_then(|t| match t {
            Type::List(e) => Some((**e).clone()),
            Type::Optional(o) => o.element(),
            _ => None,
        });
        let mut elem: Option<Type> = None;
        let mut values = Some(Vec::new());
        let mut irs = Vec::new();
        for item in items {
            let t = self.expr(item, expected_elem.as_ref(), cx);
            match &elem {
                None => elem = Some(t.ty.clone()),
                Some(cur) => {
                    if self.fits(&t.ty, cur).is_err() {
                        if self.fits(cur, &t.ty).is_ok() {
                            elem = Some(t.ty.clone());
                        } else {
                            let (a, b) = (self.show(cur), self.show(&t.ty));
                            self.emit(
                                Diagnostic::error(
                                    Code::TYPE_MISMATCH,
                                    format!(
                                        "a list's elements must have one type: found {a} and {b}"
                                    ),
                                    item.span,
                                )
                                .with_primary_message(format!("this is {b}"))
                                .with_label(span, format!("a list of {a}")),
                            );
                            return Typed::error();
                        }
                    }
                }
            }
            match (&mut values, t.value) {
                (Some(vs), Some(v)) => vs.push(v),
                _ => values = None,
            }
            irs.push(t.ir);
        }
        let elem = elem.unwrap_or(Type::Error);
        let ty = Type::list(elem.clone());
        match values {
            Some(vs) => {
                let vs = vs.into_iter().map(|v| coerce(v, &elem)).collect();
                Typed::known(ty, Value::List(vs))
            }
            None => Typed {
                ty,
                value: None,
                ir: IrExpr::List { items: irs },
            },
        }
    }

    fn record_literal(&mut self, ty: &ast::Ident, body: &Block, cx: &Cx<'_>) -> Typed {
        let def = match self.defs.lookup(cx.module, &ty.name) {
            Some(b) => match b.binding {
                Binding::Def(d) if self.def(d).kind == DefKind::Record => d,
                Binding::Def(d) => {
                    let noun = self.def(d).kind.noun();
                    self.emit(
                        Diagnostic::error(
                            Code::WRONG_KIND_OF_NAME,
                            format!("`{}` is a {noun}, not a record type", ty.name),
                            ty.span,
                        )
                        .with_label(self.def(d).span, format!("the {noun} is declared here")),
                    );
                    return Typed::error();
                }
                Binding::Module(_) => {
                    self.emit(Diagnostic::error(
                        Code::WRONG_KIND_OF_NAME,
                        format!("`{}` is a module, not a record type", ty.name),
                        ty.span,
                    ));
                    return Typed::error();
                }
            },
            None => {
                self.unknown_name(ty, cx, None);
                return Typed::error();
            }
        };
        let fields = self.fields.get(&def).cloned().unwrap_or_default();
        let values = self.block(body, &fields, &ty.name, ty.span, cx);
        Typed::known(
            Type::Record(def),
            Value::Record(ty.name.as_str().to_owned(), values),
        )
    }

    /// Checks a block of `name = value` entries (and nested blocks) against fields;
    /// returns the value of every field, defaults filled in, unset optionals as `none`.
    pub fn block(
        &mut self,
        block: &Block,
        fields: &[FieldInfo],
        owner: &str,
        owner_span: Span,
        cx: &Cx<'_>,
    ) -> BTreeMap<String, Value> {
        let mut values = BTreeMap::new();
        let mut seen: Vec<(&str, Span)> = Vec::with_capacity(block.entries.len());
        for entry in &block.entries {
            if entry.name.name.is_empty() {
                continue;
            }
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == entry.name.name) {
                self.emit(
                    Diagnostic::error(
                        Code::DUPLICATE_ENTRY,
                        format!("`{}` is set twice in {owner}", entry.name.name),
                        entry.name.span,
                    )
                    .with_primary_message("set again here")
                    .with_label(*first, "first set here")
                    .with_help("remove one of them"),
                );
                continue;
            }
            seen.push((&entry.name.name, entry.name.span));
            let Some(field) = fields.iter().find(|f| f.name == entry.name.name) else {
                self.unknown_field(&entry.name, fields, owner);
                continue;
            };
            match &entry.value {
                EntryValue::Value(e) => {
                    let t = self.expr_as_with(e, &field.ty, cx, || format!("`{}`", field.name));
                    if let Some(v) = t.value {
                        values.insert(field.name.as_str().to_owned(), v);
                    }
                }
                EntryValue::Block(inner) => {
                    let record = match &field.ty {
                        Type::Record(r) => Some(*r),
                        Type::Optional(t) => match &**t {
                            Type::Record(r) => Some(*r),
                            _ => None,
                        },
                        _ => None,
                    };
                    match record {
                        Some(r) => {
                            let rfields = self.fields.get(&r).cloned().unwrap_or_default();
                            let rname = self.def(r).name.clone();
                            let v = self.block(inner, &rfields, &rname, entry.name.span, cx);
                            values.insert(field.name.as_str().to_owned(), Value::Record(rname, v));
                        }
                        None => {
                            let ty = self.show(&field.ty);
                            self.emit(
                                Diagnostic::error(
                                    Code::TYPE_MISMATCH,
                                    format!("`{}` is {ty}, not a block of fields", field.name),
                                    inner.span,
                                )
                                .with_help(format!("write `{} = value`", field.name)),
                            );
                        }
                    }
                }
                EntryValue::Typed { ty, .. } => {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_TYPE,
                            format!(
                                "`{}: …` declares a field, but {owner} takes values",
                                entry.name.name
                            ),
                            ty.span,
                        )
                        .with_help(format!("write `{} = value`", entry.name.name)),
                    );
                }
                EntryValue::Error => {}
            }
        }
        let mut missing = Vec::new();
        for field in fields {
            if values.contains_key(field.name.as_str())
                || seen.iter().any(|(n, _)| *n == field.name)
            {
                continue;
            }
            match &field.default {
                Some(v) => {
                    values.insert(field.name.as_str().to_owned(), v.clone());
                }
                None if field.required() => missing.push(field),
                None => {
                    values.insert(field.name.as_str().to_owned(), Value::None);
                }
            }
        }
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|f| format!("`{}`", f.name)).collect();
            let mut d = Diagnostic::error(
                Code::MISSING_FIELD,
                format!(
                    "{owner} needs {} {}",
                    if names.len() == 1 {
                        "the field"
                    } else {
                        "the fields"
                    },
                    names.join(", ")
                ),
                owner_span,
            )
            .with_primary_message("missing a required field");
            for f in &missing {
                d = d.with_label(f.span, format!("`{}` is declared here", f.name));
            }
            let example: Vec<String> = missing.iter().map(|f| format!("{} = …", f.name)).collect();
            d = d.with_help(format!("add {}", example.join(", ")));
            self.emit(d);
        }
        values
    }

    pub fn unknown_field(&mut self, name: &ast::Ident, fields: &[FieldInfo], owner: &str) {
        let mut d = Diagnostic::error(
            Code::UNKNOWN_FIELD,
            format!("{owner} has no field `{}`", name.name),
            name.span,
        )
        .with_primary_message("unknown field");
        if let Some(s) =
            expc_syntax::suggest::closest(&name.name, fields.iter().map(|f| f.name.as_str()))
        {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else if !fields.is_empty() {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            d = d.with_help(format!("the fields are {}", names.join(", ")));
        }
        self.emit(d);
    }

    fn unary(&mut self, op: UnaryOp, operand: &Expr, span: Span, cx: &Cx<'_>) -> Typed {
        let t = self.expr(operand, None, cx);
        let ty = match (op, &t.ty) {
            (_, Type::Error) => return Typed::error(),
            (UnaryOp::Neg, Type::Int | Type::Float | Type::Cpu) => t.ty.clone(),
            (UnaryOp::Not, Type::Bool) => Type::Bool,
            _ => {
                let found = self.show(&t.ty);
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_OPERATION,
                        format!("`{}` cannot be applied to {found}", op.as_str()),
                        span,
                    )
                    .with_primary_message(format!("this is {found}")),
                );
                return Typed::error();
            }
        };
        if t.value.is_none() {
            self.not_computed(op.as_str(), span);
            return Typed::error();
        }
        let value = t.value.and_then(|v| match (op, v) {
            (UnaryOp::Neg, Value::Int(i)) => i.checked_neg().map(Value::Int),
            (UnaryOp::Neg, Value::Float(f)) => Some(Value::Float(-f)),
            (UnaryOp::Not, Value::Bool(b)) => Some(Value::Bool(!b)),
            _ => None,
        });
        self.with_value(ty, value)
    }

    /// An operation on a value known only per instance, which nothing computes.
    fn not_computed(&mut self, op: &str, span: Span) {
        self.emit(
            Diagnostic::error(
                Code::INVALID_OPERATION,
                format!(
                    "`{op}` of a value known only per instance (an input, a sweep point or a loop's element) is not computed"
                ),
                span,
            )
            .with_help("pass the value as it is and compute in the task's program, or loop over the computed values (`for x in [2, 4, 6]`)"),
        );
    }

    fn with_value(&self, ty: Type, value: Option<Value>) -> Typed {
        match value {
            Some(v) => Typed::known(ty, v),
            None => Typed {
                ty,
                value: None,
                ir: IrExpr::Error,
            },
        }
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
        expected: Option<&Type>,
        cx: &Cx<'_>,
    ) -> Typed {
        let expected_list = expected.filter(|t| matches!(t, Type::List(_)));
        let l = self.expr(lhs, expected_list, cx);
        let r = self.expr(rhs, expected_list, cx);
        if l.ty.is_error() || r.ty.is_error() {
            return Typed::error();
        }
        use Type as T;
        let num = |t: &Type| matches!(t, T::Int | T::Float | T::Cpu);
        let ty = match op {
            BinaryOp::And | BinaryOp::Or if l.ty == T::Bool && r.ty == T::Bool => Some(T::Bool),
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
                if num(&l.ty) && num(&r.ty) =>
            {
                Some(if l.ty == T::Int && r.ty == T::Int {
                    T::Int
                } else {
                    T::Float
                })
            }
            BinaryOp::Rem if l.ty == T::Int && r.ty == T::Int => Some(T::Int),
            BinaryOp::Add | BinaryOp::Sub
                if l.ty == r.ty && matches!(l.ty, T::Memory | T::Duration) =>
            {
                Some(l.ty.clone())
            }
            BinaryOp::Mul if matches!(l.ty, T::Memory | T::Duration) && num(&r.ty) => {
                Some(l.ty.clone())
            }
            BinaryOp::Mul if num(&l.ty) && matches!(r.ty, T::Memory | T::Duration) => {
                Some(r.ty.clone())
            }
            BinaryOp::Div if matches!(l.ty, T::Memory | T::Duration) && num(&r.ty) => {
                Some(l.ty.clone())
            }
            BinaryOp::Add if l.ty == T::String && r.ty == T::String => Some(T::String),
            BinaryOp::Add if l.ty.element().is_some() && r.ty.element().is_some() => {
                match (&l.ty, &r.ty) {
                    (T::EmptyList, t) | (t, T::EmptyList) => Some(t.clone()),
                    (a, b) if self.fits(b, a).is_ok() => Some(a.clone()),
                    (a, b) if self.fits(a, b).is_ok() => Some(b.clone()),
                    _ => None,
                }
            }
            _ => None,
        };
        let Some(ty) = ty else {
            let (a, b) = (self.show(&l.ty), self.show(&r.ty));
            let mut d = Diagnostic::error(
                Code::INVALID_OPERATION,
                format!("`{}` cannot combine {a} and {b}", op.as_str()),
                span,
            )
            .with_label(lhs.span, format!("this is {a}"))
            .with_label(rhs.span, format!("this is {b}"));
            if matches!(
                (&l.ty, &r.ty),
                (T::Memory | T::Duration, T::Int | T::Float)
                    | (T::Int | T::Float, T::Memory | T::Duration)
            ) && matches!(op, BinaryOp::Add | BinaryOp::Sub)
            {
                d = d.with_help("give the number a unit, as in `8GiB + 512MiB` or `1h + 30m`");
            }
            self.emit(d);
            return Typed::error();
        };
        let value = match (l.value.clone(), r.value.clone()) {
            (Some(a), Some(b)) => match arith(op, &a, &b) {
                Ok(v) => Some(v),
                Err(why) => {
                    self.emit(Diagnostic::error(Code::INVALID_VALUE, why, span));
                    return Typed::error();
                }
            },
            _ => None,
        };
        match value {
            Some(v) => Typed::known(ty, v),
            None => {
                let ir = if op == BinaryOp::Add && (ty.element().is_some() || ty == Type::String) {
                    IrExpr::Concat {
                        parts: vec![l.ir, r.ir],
                    }
                } else {
                    // Nothing computes it per instance: say so rather than pass nothing.
                    self.not_computed(op.as_str(), span);
                    return Typed::error();
                };
                Typed {
                    ty,
                    value: None,
                    ir,
                }
            }
        }
    }

    fn compare(&mut self, first: &Expr, rest: &[(CompareOp, Expr)], cx: &Cx<'_>) -> Typed {
        let mut left = self.expr(first, None, cx);
        let mut left_expr = first;
        let mut result = Some(true);
        let mut failed = false;
        for (op, right_expr) in rest {
            let right = self.expr(right_expr, None, cx);
            if left.ty.is_error() || right.ty.is_error() {
                failed = true;
            } else if !self.comparable(*op, &left.ty, &right.ty) {
                let (a, b) = (self.show(&left.ty), self.show(&right.ty));
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_OPERATION,
                        format!("`{}` cannot compare {a} with {b}", op.as_str()),
                        left_expr.span.to(right_expr.span),
                    )
                    .with_label(left_expr.span, format!("this is {a}"))
                    .with_label(right_expr.span, format!("this is {b}")),
                );
                failed = true;
            }
            result = match (result, &left.value, &right.value) {
                (Some(acc), Some(a), Some(b)) => compare_values(*op, a, b).map(|r| acc && r),
                _ => None,
            };
            left = right;
            left_expr = right_expr;
        }
        if failed {
            return Typed::error();
        }
        self.with_value(Type::Bool, result.map(Value::Bool))
    }

    fn comparable(&self, op: CompareOp, a: &Type, b: &Type) -> bool {
        let num = |t: &Type| matches!(t, Type::Int | Type::Float | Type::Cpu);
        match op {
            CompareOp::In => match b.element() {
                Some(elem) => self.fits(a, &elem).is_ok() || self.fits(&elem, a).is_ok(),
                None => false,
            },
            CompareOp::Eq | CompareOp::NotEq => {
                (num(a) && num(b)) || self.fits(a, b).is_ok() || self.fits(b, a).is_ok()
            }
            _ => {
                (num(a) && num(b))
                    || (a == b && matches!(a, Type::Memory | Type::Duration | Type::String))
            }
        }
    }

    fn range(&mut self, start: &Expr, end: &Expr, inclusive: bool, cx: &Cx<'_>) -> Typed {
        let s = self.expr_as(start, &Type::Int, cx, "a range");
        let e = self.expr_as(end, &Type::Int, cx, "a range");
        if s.ty.is_error() || e.ty.is_error() {
            return Typed::error();
        }
        let ty = Type::list(Type::Int);
        let (Some(Value::Int(a)), Some(Value::Int(b))) = (s.value, e.value) else {
            return Typed {
                ty,
                value: None,
                ir: IrExpr::Error,
            };
        };
        let end = if inclusive { b.saturating_add(1) } else { b };
        if end.saturating_sub(a) > MAX_LIST as i64 {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_VALUE,
                    format!("the range {a}..{b} has more than a million elements"),
                    start.span,
                )
                .with_help("a sweep this large cannot be planned; use a smaller range"),
            );
            return Typed::error();
        }
        Typed::known(ty, Value::List((a..end.max(a)).map(Value::Int).collect()))
    }

    pub(crate) fn field(&mut self, base: &Expr, name: &ast::Ident, cx: &Cx<'_>) -> Typed {
        if let ExprKind::Name(n) = &base.kind {
            if let Some(Local::Resources { .. }) = cx.locals.get(&n.name) {
                return self.resource_read(name);
            }
        }
        let b = self.expr(base, None, cx);
        match &b.ty {
            Type::Error => Typed::error(),
            Type::Module(m) => match self.defs.declared_in(*m, &name.name) {
                Some(def) => self.def_value(def, name.span, cx),
                None => {
                    let mut d = Diagnostic::error(
                        Code::UNKNOWN_NAME,
                        format!(
                            "`{}` is not declared in `{}`",
                            name.name,
                            self.module(*m).key
                        ),
                        name.span,
                    );
                    if let Some(s) =
                        expc_syntax::suggest::closest(&name.name, self.defs.declared_names(*m))
                    {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    self.emit(d);
                    Typed::error()
                }
            },
            Type::EnumName(def) => {
                if self.has_variant(*def, &name.name) {
                    Typed::known(Type::Enum(*def), Value::Enum(name.name.as_str().to_owned()))
                } else {
                    let fields: Vec<FieldInfo> = self
                        .variants
                        .get(def)
                        .into_iter()
                        .flatten()
                        .map(|(v, s)| FieldInfo {
                            name: v.clone(),
                            ty: Type::Error,
                            default: None,
                            has_default: false,
                            span: *s,
                        })
                        .collect();
                    let owner = format!("the enum `{}`", self.def(*def).name);
                    self.unknown_field(name, &fields, &owner);
                    Typed::error()
                }
            }
            Type::Record(def) | Type::Resource(def) => {
                let fields = self.fields.get(def).cloned().unwrap_or_default();
                let Some(field) = fields.iter().find(|f| f.name == name.name) else {
                    let owner = format!("`{}`", self.def(*def).name);
                    self.unknown_field(name, &fields, &owner);
                    return Typed::error();
                };
                // A field of a loop's element is known per instance.
                if let IrExpr::Element { var, fields } = &b.ir {
                    let mut fields = fields.clone();
                    fields.push(name.name.as_str().to_owned());
                    return Typed {
                        ty: field.ty.clone(),
                        value: None,
                        ir: IrExpr::Element {
                            var: var.clone(),
                            fields,
                        },
                    };
                }
                let value = b.value.as_ref().and_then(|v| match v {
                    Value::Record(_, fs) => fs.get(name.name.as_str()).cloned(),
                    _ => None,
                });
                self.with_value(field.ty.clone(), value)
            }
            Type::Point(sweep) => {
                let axes = self
                    .sweeps
                    .get(sweep)
                    .map(|s| s.axes.clone())
                    .unwrap_or_default();
                match axes.iter().find(|a| a.name == name.name) {
                    Some(axis) => {
                        let var = match &base.kind {
                            ExprKind::Name(n) => n.name.as_str().to_owned(),
                            _ => String::new(),
                        };
                        Typed {
                            ty: axis.ty.clone(),
                            value: None,
                            ir: IrExpr::Point {
                                var,
                                axis: name.name.as_str().to_owned(),
                            },
                        }
                    }
                    None => {
                        let fields: Vec<FieldInfo> = axes
                            .iter()
                            .map(|a| FieldInfo {
                                name: SmolStr::new(&a.name),
                                ty: a.ty.clone(),
                                default: None,
                                has_default: false,
                                span: a.span,
                            })
                            .collect();
                        let owner = format!("the sweep `{}`", self.def(*sweep).name);
                        self.unknown_field(name, &fields, &owner);
                        Typed::error()
                    }
                }
            }
            Type::Call { task, gathered } => {
                let outputs = self
                    .tasks
                    .get(task)
                    .map(|t| t.outputs.clone())
                    .unwrap_or_default();
                match outputs.iter().find(|o| o.name == name.name) {
                    Some(out) => {
                        let ty = if *gathered {
                            Type::list(out.ty.clone())
                        } else {
                            out.ty.clone()
                        };
                        let binding = match &base.kind {
                            ExprKind::Name(n) => n.name.as_str().to_owned(),
                            _ => String::new(),
                        };
                        Typed {
                            ty,
                            value: None,
                            ir: IrExpr::CallOutput {
                                binding,
                                output: name.name.as_str().to_owned(),
                                gathered: *gathered,
                            },
                        }
                    }
                    None => {
                        let owner = format!("the task `{}`'s outputs", self.def(*task).name);
                        let mut d = Diagnostic::error(
                            Code::UNKNOWN_FIELD,
                            format!("{owner} have no `{}`", name.name),
                            name.span,
                        )
                        .with_label(self.def(*task).span, "the task is declared here");
                        if let Some(s) = expc_syntax::suggest::closest(
                            &name.name,
                            outputs.iter().map(|o| o.name.as_str()),
                        ) {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        } else if self
                            .tasks
                            .get(task)
                            .is_some_and(|t| t.inputs.iter().any(|i| i.name == name.name))
                        {
                            d = d.with_help(format!(
                                "`{}` is an input of the task; only its outputs can be read",
                                name.name
                            ));
                        }
                        self.emit(d);
                        Typed::error()
                    }
                }
            }
            other => {
                let t = self.show(other);
                self.emit(
                    Diagnostic::error(
                        Code::UNKNOWN_FIELD,
                        format!("{t} has no field `{}`", name.name),
                        name.span,
                    )
                    .with_label(base.span, format!("this is {t}")),
                );
                Typed::error()
            }
        }
    }

    fn index(&mut self, base: &Expr, index: &Expr, cx: &Cx<'_>) -> Typed {
        let b = self.expr(base, None, cx);
        let i = self.expr_as(index, &Type::Int, cx, "an index");
        if b.ty.is_error() || i.ty.is_error() {
            return Typed::error();
        }
        let Some(elem) = b.ty.element() else {
            let t = self.show(&b.ty);
            self.emit(
                Diagnostic::error(
                    Code::INVALID_OPERATION,
                    format!("{t} cannot be indexed"),
                    base.span,
                )
                .with_primary_message(format!("this is {t}, not a list")),
            );
            return Typed::error();
        };
        // A file set's files.
        let list = match self.file_set_of(&b.ir) {
            Some(def) => self.file_set_values(def).map(Value::List),
            None => b.value.clone(),
        };
        if let (Some(Value::List(items)), Some(Value::Int(n))) = (&list, &i.value) {
            match usize::try_from(*n).ok().and_then(|n| items.get(n)) {
                Some(v) => return Typed::known(elem, v.clone()),
                None => {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_VALUE,
                            format!("index {n} is out of range for a list of {}", items.len()),
                            index.span,
                        )
                        .with_help("indices count from 0"),
                    );
                    return Typed::error();
                }
            }
        }
        self.not_computed("[…]", base.span.to(index.span));
        Typed::error()
    }

    fn call(&mut self, callee: &Expr, args: &[ast::Arg], span: Span, cx: &Cx<'_>) -> Typed {
        let builtin = match &callee.kind {
            ExprKind::Name(n)
                if crate::defs::BUILTIN_FUNCTIONS.contains(&n.name.as_str())
                    && self.defs.lookup(cx.module, &n.name).is_none()
                    && !cx.locals.contains_key(&n.name) =>
            {
                Some(n.name.as_str())
            }
            _ => None,
        };
        let Some(builtin) = builtin else {
            let c = self.expr(callee, None, cx);
            match c.ty {
                Type::Error => {}
                Type::Task(task) => {
                    let name = self.def(task).name.clone();
                    self.emit(
                        Diagnostic::error(
                            Code::NOT_CALLABLE,
                            format!("the task `{name}` is called outside a pipeline statement"),
                            span,
                        )
                        .with_help(format!(
                            "call tasks in a pipeline, as `let x = {name}(…) on resource`; read an output as `x.output`"
                        )),
                    );
                }
                ty => {
                    let t = self.show(&ty);
                    self.emit(
                        Diagnostic::error(
                            Code::NOT_CALLABLE,
                            format!("{t} cannot be called"),
                            callee.span,
                        )
                        .with_help(format!(
                            "the functions are {}",
                            crate::defs::BUILTIN_FUNCTIONS.join(", ")
                        )),
                    );
                }
            }
            return Typed::error();
        };
        if crate::config_file::CONFIG_FUNCTIONS.contains(&builtin) {
            return self.config_file(builtin, args, span, cx);
        }
        if builtin == "git" {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_GIT_INPUT,
                    "`git(…)` is the value of a data item",
                    span,
                )
                .with_help("declare the file as data: `data x: File<Csv> = git(\"https://host/repo.git\", \"v1.0\", \"data/x.csv\")`, then use `x`"),
            );
            return Typed::error();
        }
        if builtin == "glob" {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_FILE_SET,
                    "`glob(…)` is the value of a data item",
                    span,
                )
                .with_help("declare the files as data: `data reads: List<File<F>> = glob(\"data/*.fq\")`, then use `reads`"),
            );
            return Typed::error();
        }
        for a in args {
            if let Some(n) = &a.name {
                self.emit(
                    Diagnostic::error(
                        Code::UNKNOWN_ARGUMENT,
                        format!(
                            "`{builtin}` takes positional arguments, not `{} = …`",
                            n.name
                        ),
                        n.span,
                    )
                    .with_help(format!("write `{builtin}(value, …)`")),
                );
                return Typed::error();
            }
        }
        let arity = match builtin {
            "env" | "choice" => 1,
            "uniform" | "loguniform" => 2,
            _ => 3,
        };
        if args.len() != arity {
            let usage = match builtin {
                "env" => "env(\"VARIABLE\")",
                "choice" => "choice([a, b, c])",
                "uniform" => "uniform(low, high)",
                "loguniform" => "loguniform(low, high)",
                _ => "linspace(start, stop, count)",
            };
            self.emit(
                Diagnostic::error(
                    Code::NOT_CALLABLE,
                    format!(
                        "`{builtin}` takes {arity} argument{}, found {}",
                        if arity == 1 { "" } else { "s" },
                        args.len()
                    ),
                    span,
                )
                .with_help(format!("write `{usage}`")),
            );
            return Typed::error();
        }
        match builtin {
            "env" => {
                let t = self.expr_as(&args[0].value, &Type::String, cx, "`env`");
                if !cx.env_ok {
                    self.emit(
                        Diagnostic::error(
                            Code::NOT_CALLABLE,
                            "`env(…)` is read only as the value of a secret",
                            span,
                        )
                        .with_help("declare `secret NAME: String = env(\"VAR\")` and pass it with `env { vars { … } }`"),
                    );
                    return Typed::error();
                }
                match t.value {
                    Some(Value::Str(var)) => {
                        if var.is_empty()
                            || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            || var.starts_with(|c: char| c.is_ascii_digit())
                        {
                            self.emit(
                                Diagnostic::error(
                                    Code::INVALID_VALUE,
                                    format!("`{var}` is not a valid environment variable name"),
                                    args[0].value.span,
                                )
                                .with_help(
                                    "use letters, digits and `_`, not starting with a digit",
                                ),
                            );
                            return Typed::error();
                        }
                        Typed::known(Type::String, Value::Str(var))
                    }
                    _ => {
                        if !t.ty.is_error() {
                            self.emit(
                                Diagnostic::error(
                                    Code::INVALID_VALUE,
                                    "the variable name must be a string literal",
                                    args[0].value.span,
                                )
                                .with_help("write `env(\"VARIABLE\")`"),
                            );
                        }
                        Typed::error()
                    }
                }
            }
            "linspace" => {
                let a = self.expr_as(&args[0].value, &Type::Float, cx, "`linspace`");
                let b = self.expr_as(&args[1].value, &Type::Float, cx, "`linspace`");
                let n = self.expr_as(&args[2].value, &Type::Int, cx, "`linspace`");
                let ty = Type::list(Type::Float);
                match (
                    a.value.and_then(|v| v.as_f64()),
                    b.value.and_then(|v| v.as_f64()),
                    n.value,
                ) {
                    (Some(a), Some(b), Some(Value::Int(n))) => {
                        if !(1..=MAX_LIST as i64).contains(&n) {
                            self.emit(Diagnostic::error(
                                Code::INVALID_VALUE,
                                format!("`linspace` needs a count from 1 to a million, found {n}"),
                                args[2].value.span,
                            ));
                            return Typed::error();
                        }
                        let values = (0..n)
                            .map(|i| {
                                let x = if n == 1 {
                                    a
                                } else {
                                    a + (b - a) * (i as f64) / ((n - 1) as f64)
                                };
                                Value::Float(x)
                            })
                            .collect();
                        Typed::known(ty, Value::List(values))
                    }
                    _ => self.with_value(ty, None),
                }
            }
            "uniform" | "loguniform" => {
                let a = self.expr_as(&args[0].value, &Type::Float, cx, &format!("`{builtin}`"));
                let b = self.expr_as(&args[1].value, &Type::Float, cx, &format!("`{builtin}`"));
                let ty = Type::Distribution(Box::new(Type::Float));
                match (
                    a.value.and_then(|v| v.as_f64()),
                    b.value.and_then(|v| v.as_f64()),
                ) {
                    (Some(lo), Some(hi)) => {
                        let ok = lo < hi && (builtin == "uniform" || lo > 0.0);
                        if !ok {
                            let need = if builtin == "uniform" {
                                "low < high"
                            } else {
                                "0 < low < high"
                            };
                            self.emit(Diagnostic::error(
                                Code::INVALID_VALUE,
                                format!("`{builtin}({lo}, {hi})` is empty: it needs {need}"),
                                span,
                            ));
                            return Typed::error();
                        }
                        let d = if builtin == "uniform" {
                            Distribution::Uniform(lo, hi)
                        } else {
                            Distribution::LogUniform(lo, hi)
                        };
                        Typed::known(ty, Value::Distribution(d))
                    }
                    _ => self.with_value(ty, None),
                }
            }
            _ => {
                // choice
                let l = self.expr(&args[0].value, None, cx);
                let Some(elem) = l.ty.element() else {
                    let t = self.show(&l.ty);
                    self.emit(
                        Diagnostic::error(
                            Code::TYPE_MISMATCH,
                            format!("`choice` expects a list, found {t}"),
                            args[0].value.span,
                        )
                        .with_help("write `choice([a, b, c])`"),
                    );
                    return Typed::error();
                };
                if let Some(Value::List(items)) = &l.value {
                    if items.is_empty() {
                        self.emit(Diagnostic::error(
                            Code::INVALID_VALUE,
                            "`choice` of an empty list has nothing to draw",
                            args[0].value.span,
                        ));
                        return Typed::error();
                    }
                }
                let ty = Type::Distribution(Box::new(elem));
                match l.value {
                    Some(Value::List(items)) => {
                        Typed::known(ty, Value::Distribution(Distribution::Choice(items)))
                    }
                    _ => self.with_value(ty, None),
                }
            }
        }
    }

    /// A list whose elements may have different types (Spark arguments, lineage): each
    /// element of a list literal is checked on its own; any other list as a whole.
    pub fn mixed_list(&mut self, e: &Expr, cx: &Cx<'_>, what: &str) -> Vec<(Span, Typed)> {
        if let ExprKind::List(items) = &e.kind {
            return items
                .iter()
                .map(|i| (i.span, self.expr(i, None, cx)))
                .collect();
        }
        let t = self.expr(e, None, cx);
        match t.ty.element() {
            Some(_) => vec![(e.span, t)],
            None => {
                if !t.ty.is_error() {
                    let shown = self.show(&t.ty);
                    self.emit(Diagnostic::error(
                        Code::TYPE_MISMATCH,
                        format!("{what} is a list, found {shown}"),
                        e.span,
                    ));
                }
                Vec::new()
            }
        }
    }

    /// A template used as a value: a `String` of one word.
    fn template_value(&mut self, t: &ast::Template, cx: &Cx<'_>) -> Typed {
        if t.words.len() != 1 {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_INTERPOLATION,
                    format!(
                        "a template used as a value must be one word, found {}",
                        t.words.len()
                    ),
                    t.span,
                )
                .with_help("quote the spaces (`\"a b\"`) or use a list of strings"),
            );
            return Typed::error();
        }
        let mut parts = Vec::new();
        let mut text = Some(String::new());
        for part in &t.words[0].parts {
            match part {
                TemplatePart::Text { value, .. } => {
                    if let Some(s) = &mut text {
                        s.push_str(value);
                    }
                    parts.push(IrPart::Text {
                        text: value.as_str().to_owned(),
                    });
                }
                TemplatePart::Interp(e) => {
                    let v = self.expr(e, None, cx);
                    if !v.ty.has_text_form() {
                        self.no_text_form(&v.ty, e.span, false);
                        return Typed::error();
                    }
                    match (&mut text, &v.value) {
                        (Some(s), Some(val)) => match text_form(val) {
                            Some(t) => s.push_str(&t),
                            None => text = None,
                        },
                        _ => text = None,
                    }
                    parts.push(IrPart::Interp { expr: v.ir });
                }
            }
        }
        match text {
            Some(s) => Typed::known(Type::String, Value::Str(s)),
            None => Typed {
                ty: Type::String,
                value: None,
                ir: IrExpr::Template { parts },
            },
        }
    }

    /// Reports an interpolation of a value that has no text form.
    pub fn no_text_form(&mut self, ty: &Type, span: Span, whole_word: bool) {
        let t = self.show(ty);
        let (message, help) = match ty {
            Type::Record(_) => (
                format!("{t} is a record and has no text form"),
                "interpolate one of its fields: `${x.field}`".to_owned(),
            ),
            Type::List(_) | Type::EmptyList if !whole_word => (
                format!("a list ({t}) inside a larger word"),
                "put the list in a word of its own (`--models ${models}`), which gives one argument per element".to_owned(),
            ),
            Type::Optional(_) if !whole_word => (
                format!("an optional ({t}) inside a larger word"),
                "put it in a word of its own, which gives no argument for `none`".to_owned(),
            ),
            _ => (
                format!("{t} cannot be interpolated"),
                "interpolate a number, string, path, quantity, enum or file".to_owned(),
            ),
        };
        self.emit(
            Diagnostic::error(Code::INVALID_INTERPOLATION, message, span)
                .with_primary_message(format!("this is {t}"))
                .with_help(help),
        );
    }
}

/// The longest list a spec may compute: beyond it, nothing could be planned.
pub const MAX_LIST: usize = 1_000_000;

/// Converts a value to the representation of the type it is used as (`Int` to `Float`).
pub fn coerce(v: Value, ty: &Type) -> Value {
    match (v, ty) {
        (Value::Int(i), Type::Float | Type::Cpu) => Value::Float(i as f64),
        (Value::List(items), Type::List(t)) => {
            Value::List(items.into_iter().map(|v| coerce(v, t)).collect())
        }
        (v, Type::Optional(t)) => coerce(v, t),
        (v, _) => v,
    }
}

/// The text a value becomes as one argument, if it has one.
pub fn text_form(v: &Value) -> Option<String> {
    Some(match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => crate::value::format_float(*f),
        Value::Bool(b) => b.to_string(),
        Value::Str(s) => s.clone(),
        Value::Memory(b) => b.to_string(),
        Value::Duration(ms) => {
            if ms % 1000 == 0 {
                (ms / 1000).to_string()
            } else {
                crate::value::format_float(*ms as f64 / 1000.0)
            }
        }
        Value::Enum(v) => v.clone(),
        _ => return None,
    })
}

fn arith(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, String> {
    use Value as V;
    let overflow = || format!("the result of `{}` overflows", op.as_str());
    Ok(match (op, a, b) {
        (BinaryOp::And, V::Bool(x), V::Bool(y)) => V::Bool(*x && *y),
        (BinaryOp::Or, V::Bool(x), V::Bool(y)) => V::Bool(*x || *y),
        (_, V::Int(x), V::Int(y)) => V::Int(match op {
            BinaryOp::Add => x.checked_add(*y).ok_or_else(overflow)?,
            BinaryOp::Sub => x.checked_sub(*y).ok_or_else(overflow)?,
            BinaryOp::Mul => x.checked_mul(*y).ok_or_else(overflow)?,
            BinaryOp::Div | BinaryOp::Rem if *y == 0 => return Err("division by zero".into()),
            BinaryOp::Div => x.checked_div(*y).ok_or_else(overflow)?,
            BinaryOp::Rem => x.checked_rem(*y).ok_or_else(overflow)?,
            _ => return Err(overflow()),
        }),
        (_, V::Memory(x), V::Memory(y)) | (_, V::Duration(x), V::Duration(y)) => {
            let r = match op {
                BinaryOp::Add => x.checked_add(*y),
                BinaryOp::Sub => x.checked_sub(*y),
                _ => None,
            }
            .ok_or_else(|| format!("the result of `{}` is negative or overflows", op.as_str()))?;
            if matches!(a, V::Memory(_)) {
                V::Memory(r)
            } else {
                V::Duration(r)
            }
        }
        (_, V::Memory(_) | V::Duration(_), n) | (_, n, V::Memory(_) | V::Duration(_)) => {
            let (q, is_mem) = match (a, b) {
                (V::Memory(q), _) | (_, V::Memory(q)) => (*q, true),
                (V::Duration(q), _) | (_, V::Duration(q)) => (*q, false),
                _ => unreachable_value()?,
            };
            let n = n.as_f64().ok_or_else(overflow)?;
            let r = match op {
                BinaryOp::Mul => q as f64 * n,
                BinaryOp::Div if n == 0.0 => return Err("division by zero".into()),
                BinaryOp::Div => q as f64 / n,
                _ => return Err(overflow()),
            };
            if !(0.0..1.8e19).contains(&r) {
                return Err(format!(
                    "the result of `{}` is negative or overflows",
                    op.as_str()
                ));
            }
            let r = r.round() as u64;
            if is_mem { V::Memory(r) } else { V::Duration(r) }
        }
        (_, V::Str(x), V::Str(y)) => {
            if x.len() + y.len() > MAX_LIST {
                return Err("the string would be longer than a million bytes".into());
            }
            V::Str(format!("{x}{y}"))
        }
        (_, V::List(x), V::List(y)) => {
            if x.len() + y.len() > MAX_LIST {
                return Err("the list would have more than a million elements".into());
            }
            V::List(x.iter().chain(y).cloned().collect())
        }
        (_, x, y) => {
            let (x, y) = (
                x.as_f64().ok_or_else(overflow)?,
                y.as_f64().ok_or_else(overflow)?,
            );
            V::Float(match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div if y == 0.0 => return Err("division by zero".into()),
                BinaryOp::Div => x / y,
                _ => return Err(overflow()),
            })
        }
    })
}

fn unreachable_value() -> Result<(u64, bool), String> {
    Err("internal: not a quantity".into())
}

fn compare_values(op: CompareOp, a: &Value, b: &Value) -> Option<bool> {
    use std::cmp::Ordering;
    if op == CompareOp::In {
        let items = b.as_list()?;
        return Some(items.iter().any(|x| values_equal(a, x)));
    }
    let ord = match (a, b) {
        (Value::Memory(x), Value::Memory(y)) | (Value::Duration(x), Value::Duration(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y)?,
            _ => {
                return match op {
                    CompareOp::Eq => Some(a == b),
                    CompareOp::NotEq => Some(a != b),
                    _ => None,
                };
            }
        },
    };
    Some(match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::NotEq => ord != Ordering::Equal,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::LtEq => ord != Ordering::Greater,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::GtEq => ord != Ordering::Less,
        CompareOp::In => false,
    })
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}
