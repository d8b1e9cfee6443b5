//! Record-typed params: `param train: TrainCfg = TrainCfg { lr = 0.1, layers = [64, 64] }`,
//! whose fields are set one by one from the command line (`-p train.lr=0.01`) or by a
//! section of a params file (`train:` with `lr: 0.01` below it). Every field a param sets
//! must be declared by its record, so a misspelt key is an error naming the file, the
//! line and the closest field, never a value silently ignored.

use std::collections::BTreeMap;

use expc_diagnostics::{Code, Diagnostic};

use crate::checker::Checker;
use crate::defs::DefId;
use crate::types::Type;
use crate::value::Value;

/// A field's value as it was given: its whole key (`train.opt.name`), its text, and
/// whether the text is verbatim (from `-p`).
struct Given<'t> {
    key: String,
    text: &'t str,
    verbatim: bool,
}

impl Checker<'_> {
    /// Whether a param may be of type `ty`: a scalar, an enum, a list of these, or a record
    /// whose fields all may (records nested in records included, but not in themselves).
    pub fn param_type_ok(&self, ty: &Type) -> bool {
        self.param_type_within(ty, &mut Vec::new())
    }

    fn param_type_within(&self, ty: &Type, open: &mut Vec<DefId>) -> bool {
        match ty {
            Type::Int
            | Type::Float
            | Type::Bool
            | Type::String
            | Type::Path
            | Type::Memory
            | Type::Duration
            | Type::Cpu
            | Type::Enum(_)
            | Type::Error => true,
            Type::List(inner) => {
                !matches!(**inner, Type::List(_) | Type::Record(_))
                    && self.param_type_within(inner, open)
            }
            Type::Optional(inner) if !open.is_empty() => self.param_type_within(inner, open),
            Type::Record(def) if !open.contains(def) => {
                open.push(*def);
                let fields = self.fields.get(def).cloned().unwrap_or_default();
                let ok = fields.iter().all(|f| self.param_type_within(&f.ty, open));
                open.pop();
                ok
            }
            _ => false,
        }
    }

    /// The value of the root param `def` of type `ty` once the fields set for it are
    /// applied to `base` (its default's value). A param that is not a record takes no
    /// field; a record param without a default starts from its fields' defaults.
    pub fn with_field_overrides(
        &mut self,
        def: DefId,
        ty: &Type,
        base: Option<Value>,
    ) -> Option<Value> {
        let name = self.def(def).name.clone();
        let set: Vec<(String, String, bool)> = self
            .overrides
            .fields_of(&name)
            .into_iter()
            .map(|(p, v, verbatim)| (p.to_owned(), v.to_owned(), verbatim))
            .collect();
        if set.is_empty() {
            return base;
        }
        let Type::Record(record) = ty else {
            if !ty.is_error() {
                let key = format!("{name}.{}", set[0].0);
                self.field_of_a_non_record(def, ty, &key);
            }
            return base;
        };
        let mut value = base.unwrap_or_else(|| self.record_defaults(*record));
        let mut ok = true;
        for (path, text, verbatim) in &set {
            let segments: Vec<&str> = path.split('.').collect();
            let given = Given {
                key: format!("{name}.{path}"),
                text,
                verbatim: *verbatim,
            };
            ok &= self.set_field(def, *record, &mut value, &segments, &given);
        }
        ok &= self.no_missing_fields(def, *record, &value);
        ok.then_some(value)
    }

    /// A record value with the fields' defaults; a required field is left out.
    fn record_defaults(&self, record: DefId) -> Value {
        let fields = self.fields.get(&record).cloned().unwrap_or_default();
        let values = fields
            .iter()
            .filter_map(|f| Some((f.name.as_str().to_owned(), f.default.clone()?)))
            .collect::<BTreeMap<_, _>>();
        Value::Record(self.def(record).name.to_string(), values)
    }

    /// Sets the field at `path` (what is left of the key below the param `param`) of the
    /// record value `value` of type `record` to the literal given. Reports and returns
    /// `false` when it cannot.
    fn set_field(
        &mut self,
        param: DefId,
        record: DefId,
        value: &mut Value,
        path: &[&str],
        given: &Given<'_>,
    ) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        let fields = self.fields.get(&record).cloned().unwrap_or_default();
        let Some(field) = fields.iter().find(|f| f.name == *first) else {
            self.unknown_param_field(param, record, &given.key, first);
            return false;
        };
        let Value::Record(_, values) = value else {
            return false;
        };
        if rest.is_empty() {
            let parsed =
                crate::overrides::parse_value(given.text, &field.ty, given.verbatim, |e| {
                    self.variants
                        .get(&e)
                        .map(|v| v.iter().map(|(n, _)| n.as_str().to_owned()).collect())
                });
            return match parsed {
                Ok(v) => {
                    values.insert(first.to_string(), crate::expr::coerce(v, &field.ty));
                    true
                }
                Err(why) => {
                    self.invalid_field_value(param, given, &field.ty, &why);
                    false
                }
            };
        }
        let inner_record = match &field.ty {
            Type::Record(d) => *d,
            Type::Optional(t) if matches!(**t, Type::Record(_)) => match **t {
                Type::Record(d) => d,
                _ => return false,
            },
            other => {
                let other = other.clone();
                self.field_of_a_non_record(param, &other, &given.key);
                return false;
            }
        };
        let slot = values
            .entry(first.to_string())
            .or_insert_with(|| Value::None);
        if *slot == Value::None {
            *slot = self.record_defaults(inner_record);
        }
        self.set_field(param, inner_record, slot, rest, given)
    }

    fn unknown_param_field(&mut self, param: DefId, record: DefId, key: &str, field: &str) {
        let given = self.overrides.given(key);
        let owner = self.def(record).name.clone();
        let fields = self.fields.get(&record).cloned().unwrap_or_default();
        let mut d = Diagnostic::error(
            Code::UNKNOWN_FIELD,
            format!(
                "{given} sets the field `{field}`, which the record `{owner}` does not declare"
            ),
            self.def(param).span,
        )
        .with_primary_message(format!("the param is a `{owner}`"))
        .with_label(self.def(record).span, format!("`{owner}` is declared here"));
        d = match expc_syntax::suggest::closest(field, fields.iter().map(|f| f.name.as_str())) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => {
                let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                d.with_help(format!("the fields of `{owner}` are {}", names.join(", ")))
            }
        };
        self.emit(d);
    }

    /// `key` sets a field of the param `param` or of one of its fields, of type `ty`,
    /// which is not a record.
    fn field_of_a_non_record(&mut self, param: DefId, ty: &Type, key: &str) {
        let name = self.def(param).name.clone();
        let given = self.overrides.given(key);
        let shown = self.show(ty);
        self.emit(
            Diagnostic::error(
                Code::UNKNOWN_FIELD,
                format!("{given} sets a field, but `{name}` is {shown}, which has no fields"),
                self.def(param).span,
            )
            .with_primary_message(format!("the param `{name}` is declared here"))
            .with_help("only a param whose type is a record has fields to set"),
        );
    }

    fn invalid_field_value(&mut self, param: DefId, given: &Given<'_>, ty: &Type, why: &str) {
        let shown = self.show(ty);
        let key = &given.key;
        let given = match self.overrides.origin(key) {
            Some(at) => format!("`{key}` in {at}"),
            None => format!("`-p {key}={}`", given.text),
        };
        self.emit(
            Diagnostic::error(
                Code::INVALID_VALUE,
                format!("{given} is not a valid {shown}: {why}"),
                self.def(param).span,
            )
            .with_primary_message(format!(
                "the field is declared {shown} in this param's record"
            )),
        );
    }

    /// Reports the required fields a record param without a default is not given.
    fn no_missing_fields(&mut self, param: DefId, record: DefId, value: &Value) -> bool {
        let fields = self.fields.get(&record).cloned().unwrap_or_default();
        let Value::Record(_, values) = value else {
            return false;
        };
        let missing: Vec<String> = fields
            .iter()
            .filter(|f| f.required() && !values.contains_key(f.name.as_str()))
            .map(|f| f.name.as_str().to_owned())
            .collect();
        if missing.is_empty() {
            return true;
        }
        let name = self.def(param).name.clone();
        let example: Vec<String> = missing
            .iter()
            .map(|f| format!("`-p {name}.{f}=…`"))
            .collect();
        self.emit(
            Diagnostic::error(
                Code::MISSING_FIELD,
                format!(
                    "the param `{name}` has no default, and no value is given for its required field{} {}",
                    if missing.len() > 1 { "s" } else { "" },
                    missing.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                ),
                self.def(param).span,
            )
            .with_help(format!(
                "give {}, or give the param a default",
                example.join(", ")
            )),
        );
        false
    }
}
