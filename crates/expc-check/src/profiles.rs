//! Profiles: `profile hpc { laptop = cluster }`, and `--profile NAME` and `--on FROM=TO`,
//! which move the calls placed on one resource to another without editing the spec.
//!
//! Every profile is checked whether or not it is applied: both sides of an entry are
//! resources, and a resource moves only to one that runs the same kinds of task (a Spark
//! resource to a Spark resource, any other to any other but Spark). The profile that is
//! applied moves placements before the calls are checked, so a moved call is checked
//! against the resource it moves to (its site limits, its GPUs) like any other.

use std::collections::BTreeMap;

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{EntryValue, ExprKind, ItemKind};

use crate::checker::{Backend, Checker};
use crate::defs::{Binding, DefId, DefKind};
use crate::ir;
use crate::modules::ModuleId;

/// Where a move comes from, for messages about the calls it moves.
#[derive(Clone, Debug)]
pub enum MoveSource {
    /// An entry of the applied profile.
    Profile { profile: String, entry: Span },
    /// `--on FROM=TO`.
    CommandLine,
}

/// The moves in force: each resource moved, where to and why.
#[derive(Clone, Debug, Default)]
pub struct Moves {
    pub to: BTreeMap<DefId, (DefId, MoveSource)>,
    pub applied: Option<ir::AppliedProfile>,
}

impl Checker<'_> {
    /// Checks every profile, then puts in force the one `--profile` names and the moves of
    /// `--on`.
    pub fn check_profiles(&mut self) {
        let mut entries_of: BTreeMap<DefId, Vec<(DefId, DefId, Span)>> = BTreeMap::new();
        for def in self.all(DefKind::Profile) {
            let ItemKind::Profile(p) = &self.item(def).kind else {
                continue;
            };
            let module = self.def(def).module;
            let mut seen: Vec<(DefId, Span)> = Vec::new();
            let mut entries = Vec::new();
            for e in &p.body.entries {
                let EntryValue::Value(value) = &e.value else {
                    if !matches!(e.value, EntryValue::Error) {
                        self.emit(
                            Diagnostic::error(
                                Code::INVALID_PROFILE,
                                "a profile entry moves one resource to another",
                                e.span,
                            )
                            .with_help(format!("write `{} = other_resource`", e.name.name)),
                        );
                    }
                    continue;
                };
                let from = self.profile_resource(module, &e.name.name, e.name.span);
                let to = match &value.kind {
                    ExprKind::Name(n) => self.profile_resource(module, &n.name, n.span),
                    ExprKind::Error => continue,
                    _ => {
                        self.emit(
                            Diagnostic::error(
                                Code::INVALID_PROFILE,
                                "a profile moves a resource to another resource, by name",
                                value.span,
                            )
                            .with_primary_message("not the name of a resource")
                            .with_help(format!("write `{} = other_resource`", e.name.name)),
                        );
                        continue;
                    }
                };
                let (Some(from), Some(to)) = (from, to) else {
                    continue;
                };
                if let Some((_, first)) = seen.iter().find(|(f, _)| *f == from) {
                    self.emit(
                        Diagnostic::error(
                            Code::DUPLICATE_ENTRY,
                            format!("the profile moves `{}` twice", e.name.name),
                            e.span,
                        )
                        .with_label(*first, "first moved here")
                        .with_help("keep one of the two entries"),
                    );
                    continue;
                }
                seen.push((from, e.span));
                let value_span = value.span;
                if self.compatible_move(from, to, value_span, None) {
                    entries.push((from, to, e.span));
                }
            }
            entries_of.insert(def, entries);
        }
        self.apply_moves(&entries_of);
    }

    /// The resource `name` of an entry of a profile declared in `module`, reported when
    /// it is not one.
    fn profile_resource(&mut self, module: ModuleId, name: &str, span: Span) -> Option<DefId> {
        match self.defs.lookup(module, name).map(|b| b.binding) {
            Some(Binding::Def(d)) if self.def(d).kind == DefKind::Resource => Some(d),
            Some(Binding::Def(d)) => {
                let noun = self.def(d).kind.noun();
                self.emit(
                    Diagnostic::error(
                        Code::WRONG_KIND_OF_NAME,
                        format!("a profile moves resources, and `{name}` is a {noun}"),
                        span,
                    )
                    .with_label(self.def(d).span, format!("the {noun} is declared here")),
                );
                None
            }
            Some(Binding::Module(_)) => {
                self.emit(Diagnostic::error(
                    Code::WRONG_KIND_OF_NAME,
                    format!("`{name}` is a module, not a resource"),
                    span,
                ));
                None
            }
            None => {
                let names = self.resource_names(module);
                let mut d = Diagnostic::error(
                    Code::UNKNOWN_NAME,
                    format!("unknown resource `{name}`"),
                    span,
                )
                .with_primary_message("not declared in this file or imported");
                d = with_suggestion(d, name, &names, "resources");
                self.emit(d);
                None
            }
        }
    }

    fn resource_names(&self, module: ModuleId) -> Vec<String> {
        let mut names: Vec<String> = self.defs.scopes[module.0 as usize]
            .values()
            .filter_map(|b| match b.binding {
                Binding::Def(d) if self.def(d).kind == DefKind::Resource => {
                    Some(self.def(d).name.clone())
                }
                _ => None,
            })
            .collect();
        names.sort();
        names
    }

    /// Whether calls placed on `from` can all run on `to`: a Spark resource runs Spark
    /// applications and nothing else runs them. Reported at `span` (with `note`) when not.
    fn compatible_move(&mut self, from: DefId, to: DefId, span: Span, note: Option<&str>) -> bool {
        let backend = |c: &Self, r: DefId| {
            c.resource_kind(r)
                .and_then(|k| c.backends.get(&k).copied().map(|b| (b, k)))
        };
        let (Some((fb, fk)), Some((tb, tk))) = (backend(self, from), backend(self, to)) else {
            // A resource of an unknown kind is reported where it is declared.
            return true;
        };
        if (fb == Backend::Spark) == (tb == Backend::Spark) {
            return true;
        }
        let (fname, tname) = (self.def(from).name.clone(), self.def(to).name.clone());
        let (fkind, tkind) = (self.def(fk).name.clone(), self.def(tk).name.clone());
        let mut d = Diagnostic::error(
            Code::INVALID_PROFILE,
            format!(
                "`{fname}` is a {fkind} resource and `{tname}` a {tkind} resource: the calls on one cannot run on the other"
            ),
            span,
        )
        .with_label(self.def(from).span, format!("`{fname}` is declared here"))
        .with_label(self.def(to).span, format!("`{tname}` is declared here"))
        .with_help(if fb == Backend::Spark {
            "a Spark resource runs Spark applications: move it to another Spark resource"
        } else {
            "only Spark applications run on a Spark resource: move it to a Local, Slurm or Kubernetes resource"
        });
        if let Some(note) = note {
            d = d.with_note(note.to_owned());
        }
        self.emit(d);
        false
    }

    /// Puts in force the profile named with `--profile` and the moves of `--on`.
    fn apply_moves(&mut self, entries_of: &BTreeMap<DefId, Vec<(DefId, DefId, Span)>>) {
        let root = ModuleId(0);
        let root_file = self.module(root).file;
        let here = Span::new(root_file, 0, 0);
        let mut moves = Moves::default();
        let mut applied = ir::AppliedProfile::default();
        if let Some(name) = self.overrides.profile().map(str::to_owned) {
            let found = match self.defs.lookup(root, &name).map(|b| b.binding) {
                Some(Binding::Def(d)) if self.def(d).kind == DefKind::Profile => Some(d),
                _ => None,
            };
            match found {
                Some(p) => {
                    applied.name = Some(name.clone());
                    for &(from, to, entry) in entries_of.get(&p).into_iter().flatten() {
                        moves.to.insert(
                            from,
                            (
                                to,
                                MoveSource::Profile {
                                    profile: name.clone(),
                                    entry,
                                },
                            ),
                        );
                    }
                }
                None => {
                    let mut profiles: Vec<String> = self
                        .all(DefKind::Profile)
                        .into_iter()
                        .filter(|d| self.defs.lookup(root, &self.def(*d).name).is_some())
                        .map(|d| self.def(d).name.clone())
                        .collect();
                    profiles.sort();
                    let d = Diagnostic::error(
                        Code::UNKNOWN_PROFILE,
                        format!("`--profile {name}`: the spec declares no profile `{name}`"),
                        here,
                    );
                    let d = if profiles.is_empty() {
                        d.with_help("declare one: `profile hpc { laptop = cluster }`")
                    } else {
                        with_suggestion(d, &name, &profiles, "profiles")
                    };
                    self.emit(d);
                }
            }
        }
        for (from, to) in self.overrides.moves().to_vec() {
            let shown = format!("--on {from}={to}");
            let names = self.resource_names(root);
            let resolve = |c: &mut Self, name: &str| match c.defs.lookup(root, name) {
                Some(b) => match b.binding {
                    Binding::Def(d) if c.def(d).kind == DefKind::Resource => Some(d),
                    _ => {
                        c.emit(
                            Diagnostic::error(
                                Code::WRONG_KIND_OF_NAME,
                                format!("`{shown}`: `{name}` is not a resource"),
                                here,
                            )
                            .with_help(format!("the resources are {}", names.join(", "))),
                        );
                        None
                    }
                },
                None => {
                    let d = Diagnostic::error(
                        Code::UNKNOWN_NAME,
                        format!("`{shown}`: the spec declares no resource `{name}`"),
                        here,
                    );
                    c.emit(with_suggestion(d, name, &names, "resources"));
                    None
                }
            };
            let (f, t) = (resolve(self, &from), resolve(self, &to));
            let (Some(f), Some(t)) = (f, t) else {
                continue;
            };
            if self.compatible_move(f, t, here, Some(&format!("moved by `{shown}`"))) {
                moves.to.insert(f, (t, MoveSource::CommandLine));
            }
        }
        if self.overrides.profile().is_some() || !self.overrides.moves().is_empty() {
            applied.moves = moves
                .to
                .iter()
                .map(|(f, (t, _))| (self.ir_id(*f), self.ir_id(*t)))
                .collect();
            moves.applied = Some(applied);
        }
        self.moves = moves;
    }

    /// The resource a call placed on `resource` runs on, and what moved it there.
    pub fn moved(&self, resource: DefId) -> Option<(DefId, MoveSource)> {
        self.moves.to.get(&resource).cloned()
    }

    /// Says, on each diagnostic from `from` on, that the call was moved and by what.
    pub fn note_move(&mut self, from: usize, spec: DefId, source: &MoveSource) {
        let spec_name = self.def(spec).name.clone();
        for d in &mut self.diagnostics[from..] {
            *d = match source {
                MoveSource::Profile { profile, entry } => d.clone().with_label(
                    *entry,
                    format!("the profile `{profile}` moves the calls on `{spec_name}` here"),
                ),
                MoveSource::CommandLine => d.clone().with_note(format!(
                    "the call is placed on `{spec_name}`, moved by `--on`"
                )),
            };
        }
    }
}

fn with_suggestion(d: Diagnostic, name: &str, names: &[String], what: &str) -> Diagnostic {
    if let Some(s) = expc_syntax::suggest::closest(name, names.iter().map(String::as_str)) {
        d.with_help(format!("did you mean `{s}`?"))
    } else if names.is_empty() {
        d.with_help(format!("the spec declares no {what}"))
    } else {
        d.with_help(format!("the {what} are {}", names.join(", ")))
    }
}
