//! Params files (`--params FILE.yaml`): the one place expc reads YAML; and [`to_string`],
//! the one place it writes YAML (Kubernetes manifests).
//!
//! A params file is a mapping from param names to values. Each value is turned back into
//! the text of a literal and read like a `-p` value, so that both routes accept exactly
//! the same values and report errors the same way.

use serde_norway::Value as Yaml;

/// The `(name, literal text)` pairs of a params file, in file order.
pub fn params(text: &str) -> Result<Vec<(String, String)>, String> {
    let doc: Yaml = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let map = match doc {
        Yaml::Mapping(m) => m,
        Yaml::Null => return Ok(Vec::new()),
        _ => return Err("a params file is a mapping from param names to values".into()),
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let Yaml::String(name) = k else {
            return Err(format!("the key {} is not a param name", literal(&k)?));
        };
        out.push((
            name.clone(),
            literal(&v).map_err(|e| format!("`{name}`: {e}"))?,
        ));
    }
    Ok(out)
}

/// The line (from 1) of the top-level key `name` of a params file, when it is written in
/// block style at the start of a line (`name:`, `"name":` or `'name':`).
pub fn key_line(text: &str, name: &str) -> Option<usize> {
    let forms = [
        format!("{name}:"),
        format!("\"{name}\":"),
        format!("'{name}':"),
    ];
    text.lines()
        .position(|l| forms.iter().any(|f| l.starts_with(f.as_str())))
        .map(|i| i + 1)
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
        Yaml::Mapping(_) => return Err("a mapping is not a param value".into()),
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
        assert_eq!(super::key_line("# c\nepochs: 1\nlrr: 2\n", "lrr"), Some(3));
        assert_eq!(super::key_line("a:\n  lrr: 2\n", "lrr"), None);
        assert!(super::params("x: {a: 1}\n").is_err());
    }
}
