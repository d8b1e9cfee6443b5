//! Params files (`--params FILE.yaml`): the one place expc reads YAML; and [`to_string`],
//! the one place it writes YAML (Kubernetes manifests).
//!
//! A params file is a mapping from param names to values. Each value is turned back into
//! the text of a literal and read like a `-p` value, so that both routes accept exactly
//! the same values and report errors the same way. A nested mapping sets the fields of a
//! record param: `train: {lr: 0.01}` is `-p train.lr=0.01`, so files merge field by field.

use serde_norway::Value as Yaml;

/// The `(name, literal text)` pairs of a params file, in file order; the keys of a
/// nested mapping are joined to their section's by dots (`train.lr`).
pub fn params(text: &str) -> Result<Vec<(String, String)>, String> {
    let doc: Yaml = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let map = match doc {
        Yaml::Mapping(m) => m,
        Yaml::Null => return Ok(Vec::new()),
        _ => return Err("a params file is a mapping from param names to values".into()),
    };
    let mut out = Vec::new();
    flatten("", map, &mut out)?;
    Ok(out)
}

/// The entries of `map`, under the section `prefix` (empty at the top), into `out`.
fn flatten(
    prefix: &str,
    map: serde_norway::Mapping,
    out: &mut Vec<(String, String)>,
) -> Result<(), String> {
    for (k, v) in map {
        let key = match k {
            Yaml::String(name) => name,
            other if prefix.is_empty() => {
                return Err(format!("the key {} is not a param name", literal(&other)?));
            }
            other => {
                return Err(format!(
                    "the key {} in `{prefix}` is not a field name",
                    literal(&other)?
                ));
            }
        };
        let name = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match v {
            Yaml::Mapping(inner) => flatten(&name, inner, out)?,
            v => {
                let text = literal(&v).map_err(|e| format!("`{name}`: {e}"))?;
                out.push((name, text));
            }
        }
    }
    Ok(())
}

/// The line (from 1) of the key `path` of a params file (`train.lr`: the key `lr` in the
/// block-style section `train`), or of the deepest section of it that is found.
pub fn path_line(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = None;
    // The lines of the current section: after its key, while indented deeper than it.
    let (mut from, mut indent) = (0, None::<usize>);
    for key in path.split('.') {
        let forms = [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
        ];
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let body = line.trim_start();
            let depth = line.len() - body.len();
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            match indent {
                Some(d) if depth <= d => break,
                None if depth > 0 => continue,
                _ => {}
            }
            if forms.iter().any(|f| body.starts_with(f.as_str())) {
                hit = Some((i, depth));
                break;
            }
        }
        let Some((i, depth)) = hit else {
            return found;
        };
        found = Some(i + 1);
        from = i + 1;
        indent = Some(depth);
    }
    found
}

/// `value` as a YAML document, for generated manifests: fields in the order their types
/// declare them, so the text is the same from run to run for the same value.
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_norway::to_string(value).map_err(|e| e.to_string())
}

fn literal(v: &Yaml) -> Result<String, String> {
    Ok(match v {
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        // Quoted, so that the text is taken exactly, quotes and backslashes included.
        Yaml::String(s) => format!("{s:?}"),
        Yaml::Sequence(items) => {
            let parts: Result<Vec<String>, String> = items
                .iter()
                .map(|i| match i {
                    Yaml::String(s) => Ok(format!("{s:?}")),
                    other => literal(other),
                })
                .collect();
            format!("[{}]", parts?.join(", "))
        }
        Yaml::Null => return Err("has no value".into()),
        Yaml::Mapping(_) => {
            return Err("a mapping inside a list is not a param value".into());
        }
        Yaml::Tagged(t) => literal(&t.value)?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_become_literals() {
        let p = super::params(
            "epochs: 50\nmem: \"8GiB\"\nseeds: [1, 2]\nnames: [a, \"b c\"]\nfast: true\n",
        )
        .unwrap();
        assert_eq!(
            p,
            [
                ("epochs".into(), "50".into()),
                ("mem".into(), "\"8GiB\"".into()),
                ("seeds".into(), "[1, 2]".into()),
                ("names".into(), "[\"a\", \"b c\"]".into()),
                ("fast".into(), "true".into()),
            ]
        );
        assert!(super::params("- 1\n- 2\n").is_err());
        assert_eq!(super::path_line("# c\nepochs: 1\nlrr: 2\n", "lrr"), Some(3));
        assert_eq!(super::path_line("a:\n  lrr: 2\n", "lrr"), None);
        assert!(super::params("x: [{a: 1}]\n").is_err());
    }

    #[test]
    fn sections_set_fields_by_dotted_names() {
        let text =
            "epochs: 5\ntrain:\n  lr: 0.01\n  # a comment\n  opt:\n    name: adam\nseed: 1\n";
        let p = super::params(text).unwrap();
        assert_eq!(
            p,
            [
                ("epochs".into(), "5".into()),
                ("train.lr".into(), "0.01".into()),
                ("train.opt.name".into(), "\"adam\"".into()),
                ("seed".into(), "1".into()),
            ]
        );
        assert_eq!(super::path_line(text, "train.lr"), Some(3));
        assert_eq!(super::path_line(text, "train.opt.name"), Some(6));
        assert_eq!(super::path_line(text, "seed"), Some(7));
        // A field the section does not have: the section's line.
        assert_eq!(super::path_line(text, "train.seed"), Some(2));
        assert_eq!(super::path_line("t: {lr: 1}\n", "t.lr"), Some(1));
    }
}
