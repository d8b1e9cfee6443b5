//! What a `shell` script names: the variables it expands (`$name`, `${name…}`) and those
//! it sets itself (`name=…`, `for name in`, `read name`, `local name`, …).
//!
//! The script is bash's to run, not expc's: this is a reading good enough to tell a name
//! the task must export from a typo. Single-quoted text, comments and quoted here-documents
//! expand nothing and are skipped; a backslash escapes the next character. Arithmetic
//! (`$(( n + 1 ))`) is read for its `$` expansions only.

use std::collections::{BTreeMap, HashSet};

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, TemplatePart};

use crate::checker::Checker;
use crate::defs::{Binding, DefKind};
use crate::expr::{Cx, Local};
use crate::ir;
use crate::ir_expr::IrExpr;
use crate::types::Type;

/// A `$name` or `${name…}` in a script, at byte `offset` of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expansion {
    pub name: String,
    pub offset: usize,
}

/// Words after which the next plain names on the command are set by it.
const SETTERS: &[&str] = &[
    "for",
    "select",
    "read",
    "local",
    "declare",
    "typeset",
    "export",
    "readonly",
    "mapfile",
    "readarray",
    "getopts",
    "unset",
];

fn is_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn ident_at(b: &[u8], i: usize) -> usize {
    let mut j = i;
    if j < b.len() && is_start(b[j]) {
        j += 1;
        while j < b.len() && is_ident(b[j]) {
            j += 1;
        }
    }
    j
}

/// The expansions of `script` and the names it sets.
pub fn read(script: &str) -> (Vec<Expansion>, HashSet<String>) {
    let b = script.as_bytes();
    let mut expansions = Vec::new();
    let mut set = HashSet::new();
    let mut double = false;
    // The previous word, for `for x`, `read a b`, …, and whether it still applies.
    let mut setter = false;
    let mut last_setter = "";
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let word_start = i == 0
            || matches!(
                b[i - 1],
                b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b'{' | b'`'
            );
        match c {
            b'\\' => i += 2,
            b'\'' if !double => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            b'"' => {
                double = !double;
                i += 1;
            }
            b'#' if !double && word_start => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'$' => {
                let mut j = i + 1;
                let braced = b.get(j) == Some(&b'{');
                if braced {
                    j += 1;
                    if matches!(b.get(j), Some(b'#' | b'!'))
                        && b.get(j + 1).is_some_and(|c| is_start(*c))
                    {
                        j += 1;
                    }
                }
                let end = ident_at(b, j);
                if end > j {
                    expansions.push(Expansion {
                        name: script[j..end].to_owned(),
                        offset: j,
                    });
                }
                i = end.max(i + 1);
            }
            b'<' if !double && b.get(i + 1) == Some(&b'<') && b.get(i + 2) != Some(&b'<') => {
                i = here_document(script, i + 2, &mut expansions);
            }
            b'\n' | b';' | b'|' | b'&' | b'<' | b'>' if !double => {
                setter = false;
                i += 1;
            }
            _ if !double && word_start && is_start(c) => {
                let end = ident_at(b, i);
                let word = &script[i..end];
                let assigns = b.get(end) == Some(&b'=') && b.get(end + 1) != Some(&b'=')
                    || b.get(end) == Some(&b'+') && b.get(end + 1) == Some(&b'=')
                    || b.get(end) == Some(&b'[');
                let plain = matches!(b.get(end), None | Some(b' ' | b'\t' | b'\n' | b';'));
                if assigns || (setter && plain) {
                    set.insert(word.to_owned());
                    // `for x in a b`: only `x`.
                    setter = setter && !matches!(last_setter, "for" | "select");
                }
                if SETTERS.contains(&word) && plain {
                    setter = true;
                    last_setter = word;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    (expansions, set)
}

/// A here-document whose `<<` ends before `from`: its body is skipped when its delimiter is
/// quoted (nothing expands) and read for expansions otherwise. Returns where to go on.
fn here_document(script: &str, from: usize, expansions: &mut Vec<Expansion>) -> usize {
    let b = script.as_bytes();
    let mut i = from;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let quoted = matches!(b.get(i), Some(b'\'' | b'"'));
    let start = if quoted { i + 1 } else { i };
    let mut end = start;
    while end < b.len() && (is_ident(b[end]) || b[end] == b'-' || b[end] == b'.') {
        end += 1;
    }
    let delimiter = &script[start..end];
    if delimiter.is_empty() {
        return from;
    }
    // The body starts on the next line and ends at a line that is the delimiter.
    let Some(newline) = script[end..].find('\n') else {
        return b.len();
    };
    let mut line_start = end + newline + 1;
    while line_start < b.len() {
        let line_end = script[line_start..]
            .find('\n')
            .map_or(b.len(), |n| line_start + n);
        let line = &script[line_start..line_end];
        if line.trim_start_matches('\t') == delimiter {
            return line_end;
        }
        if !quoted {
            expansions.extend(read_unquoted(line).into_iter().map(|e| Expansion {
                name: e.name,
                offset: e.offset + line_start,
            }));
        }
        line_start = line_end + 1;
    }
    b.len()
}

/// The expansions of a line of an unquoted here-document, where quotes are plain text.
fn read_unquoted(line: &str) -> Vec<Expansion> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'$' => {
                let mut j = i + 1;
                if b.get(j) == Some(&b'{') {
                    j += 1;
                }
                let end = ident_at(b, j);
                if end > j {
                    out.push(Expansion {
                        name: line[j..end].to_owned(),
                        offset: j,
                    });
                }
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    out
}

impl Checker<'_> {
    /// The params, data items and models a `shell` script names, exported to it as
    /// variables of their names; any other lowercase `$name` that neither the task (inputs,
    /// outputs, `env { vars }`) nor the script sets is an error. A name without lowercase
    /// letters (`$HOME`, `$SLURM_CPUS_ON_NODE`) is the environment's, and not checked.
    pub fn shell_exports(
        &mut self,
        template: &ast::Template,
        env: &ir::Env,
        cx: &Cx<'_>,
    ) -> BTreeMap<String, IrExpr> {
        // The script as one text, with where each of its parts starts in the source.
        let mut script = String::new();
        let mut starts: Vec<(usize, Span)> = Vec::new();
        for p in template.words.iter().flat_map(|w| &w.parts) {
            if let TemplatePart::Text { value, span, .. } = p {
                starts.push((script.len(), *span));
                script.push_str(value);
            }
        }
        let span_at = |offset: usize, len: usize| {
            let (start, span) = starts
                .iter()
                .rev()
                .find(|(s, _)| *s <= offset)
                .copied()
                .unwrap_or((0, template.span));
            let from = (span.start + (offset - start) as u32).min(span.end);
            Span {
                start: from,
                end: (from + len as u32).min(span.end),
                ..span
            }
        };
        let (expansions, set) = read(&script);
        let mut exports = BTreeMap::new();
        let mut reported = HashSet::new();
        for e in expansions {
            let name = e.name.as_str();
            let environment = !name.bytes().any(|c| c.is_ascii_lowercase());
            if environment
                || set.contains(name)
                || env.vars.contains_key(name)
                || exports.contains_key(name)
                || reported.contains(name)
            {
                continue;
            }
            let span = span_at(e.offset, name.len());
            match cx.locals.get(name) {
                Some(Local::Input { .. } | Local::Output { .. }) => continue,
                Some(_) => {
                    reported.insert(name.to_owned());
                    self.emit(
                        Diagnostic::error(
                            Code::UNBOUND_SHELL_VARIABLE,
                            format!("the script reads `${name}`, which is not exported to it"),
                            span,
                        )
                        .with_help("set a variable from it: `env { vars { CPUS = resources.cpus } }`, and read `$CPUS`"),
                    );
                    continue;
                }
                None => {}
            }
            match self.defs.lookup(cx.module, name).map(|b| b.binding) {
                Some(Binding::Def(d))
                    if matches!(
                        self.def(d).kind,
                        DefKind::Param | DefKind::Data | DefKind::Model | DefKind::Secret
                    ) =>
                {
                    let t = self.def_value(d, span, cx);
                    if t.ty.is_error() {
                        reported.insert(name.to_owned());
                        continue;
                    }
                    let ok = match &t.ty {
                        Type::List(inner) | Type::Optional(inner) => inner.has_text_form(),
                        ty => ty.has_text_form(),
                    };
                    if !ok {
                        reported.insert(name.to_owned());
                        self.no_text_form(&t.ty, span, true);
                        continue;
                    }
                    let ir = match t.ir {
                        IrExpr::Error => t.value.map_or(IrExpr::Error, IrExpr::value),
                        ir => ir,
                    };
                    exports.insert(name.to_owned(), ir);
                }
                Some(binding) => {
                    reported.insert(name.to_owned());
                    let what = match binding {
                        Binding::Def(d) => format!("the {} `{name}`", self.def(d).kind.noun()),
                        Binding::Module(_) => format!("the module `{name}`"),
                    };
                    self.emit(
                        Diagnostic::error(
                            Code::UNBOUND_SHELL_VARIABLE,
                            format!("the script reads `${name}`, and {what} is not exported to a script"),
                            span,
                        )
                        .with_primary_message("not a variable of the script")
                        .with_help("a script receives its inputs and outputs, the params, data items and models it names, and `env { vars }`: pass the value as an input"),
                    );
                }
                None => {
                    reported.insert(name.to_owned());
                    let mut candidates: Vec<String> =
                        cx.locals.keys().map(|k| k.to_string()).collect();
                    candidates.extend(env.vars.keys().cloned());
                    candidates.extend(set.iter().cloned());
                    candidates.extend(self.scope_names(cx.module));
                    let mut d = Diagnostic::error(
                        Code::UNBOUND_SHELL_VARIABLE,
                        format!("the script reads `${name}`, which nothing sets"),
                        span,
                    )
                    .with_primary_message("not an input, output, param, data item, model, `env { vars }` variable, nor set in the script");
                    d = match expc_syntax::suggest::closest(
                        name,
                        candidates.iter().map(String::as_str),
                    ) {
                        Some(s) => d.with_help(format!("did you mean `${s}`?")),
                        None => d.with_help("declare it (an input, a param) or set it in the script; bash would stop here with \"unbound variable\""),
                    };
                    self.emit(d);
                }
            }
        }
        exports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(script: &str) -> Vec<String> {
        read(script).0.into_iter().map(|e| e.name).collect()
    }

    fn set(script: &str) -> Vec<String> {
        let mut v: Vec<String> = read(script).1.into_iter().collect();
        v.sort();
        v
    }

    #[test]
    fn expansions_outside_single_quotes_and_comments() {
        let s = r#"
            col=$(awk -F, -v name="$column" '{ print $i, $name }' "$table")
            # $not_this in a comment
            echo "${top:-none}" ${#items} \$escaped $1 $? x#y$z
        "#;
        assert_eq!(names(s), ["column", "table", "top", "items", "z"]);
        // `name=` counts as set wherever it starts a word (here an awk option).
        assert_eq!(set(s), ["col", "name"]);
    }

    #[test]
    fn names_the_script_sets() {
        let s = "for f in a b; do echo $f; done\nread -r first second < x\nlocal n=1 m\nexport A\ncount+=1\narr[0]=x\nif [ $a == $b ]; then :; fi";
        assert_eq!(
            set(s),
            ["A", "arr", "count", "f", "first", "m", "n", "second"]
        );
        assert!(names(s).contains(&"a".to_owned()));
    }

    #[test]
    fn here_documents() {
        let s = "cat <<'EOF' > out\n$literal\nEOF\ncat <<EOF\nit's $expanded\nEOF\necho $after";
        assert_eq!(names(s), ["expanded", "after"]);
        let (e, _) = read(s);
        assert_eq!(&s[e[0].offset..e[0].offset + 8], "expanded");
    }
}
