//! Which shared store a command uses, and for which project: `--store URL` (and
//! `--project`), else the environment (`EXPC_STORE`, `EXPC_PROJECT`), else the project's
//! settings file `expc-store.toml` beside the spec. Without any of them, commands use
//! the embedded store only.

use std::path::Path;

use crate::store::{Error, Result};

/// The settings file a project keeps beside its specs.
pub const SETTINGS_FILE: &str = "expc-store.toml";

/// A shared store to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `postgres://user@host:port/database` (a password in it is taken, never shown).
    pub url: String,
    /// The project runs are recorded under (default: each run's experiment name).
    pub project: Option<String>,
}

impl Settings {
    /// The settings in force: `store` and `project` as given on the command line, else
    /// `EXPC_STORE` and `EXPC_PROJECT`, else `dir/expc-store.toml`. `None`: no shared store.
    pub fn find(
        store: Option<&str>,
        project: Option<&str>,
        dir: &Path,
    ) -> Result<Option<Settings>> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        // `local`: the embedded store only, whatever else is set.
        if store == Some("local")
            || (store.is_none() && env("EXPC_STORE").as_deref() == Some("local"))
        {
            return Ok(None);
        }
        let file = dir.join(SETTINGS_FILE);
        let from_file = if file.is_file() {
            Some(read_file(&file)?)
        } else {
            None
        };
        let url = store
            .map(str::to_owned)
            .or_else(|| env("EXPC_STORE"))
            .or_else(|| from_file.as_ref().and_then(|f| f.url.clone()));
        let Some(url) = url else {
            return Ok(None);
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(Error(format!(
                "`{}` is not a shared store's URL: it starts with `postgres://` (as in `postgres://user@host:5432/expc`)",
                super::connect::without_password(&url)
            )));
        }
        let project = project
            .map(str::to_owned)
            .or_else(|| env("EXPC_PROJECT"))
            .or_else(|| from_file.and_then(|f| f.project));
        if let Some(p) = &project {
            check_project(p)?;
        }
        Ok(Some(Settings { url, project }))
    }
}

/// A project's name: letters, digits, `-`, `_` and `.`, at most 63 bytes.
pub fn check_project(name: &str) -> Result<()> {
    let fine = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if fine {
        Ok(())
    } else {
        Err(Error(format!(
            "`{name}` is not a project name: use letters, digits, `-`, `_` and `.` (at most 63)"
        )))
    }
}

#[derive(Debug, Default)]
struct FileSettings {
    url: Option<String>,
    project: Option<String>,
}

/// `expc-store.toml`: `key = "value"` lines, `#` comments; the keys are `store` and
/// `project`. A password in the file is refused: it belongs in the environment.
fn read_file(path: &Path) -> Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error(format!("cannot read `{}`: {e}", path.display())))?;
    let mut out = FileSettings::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| {
            Error(format!(
                "{}:{}: {what}; the file holds lines `store = \"postgres://user@host/db\"` and `project = \"name\"`",
                path.display(),
                n + 1
            ))
        };
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| bad("expected `key = \"value\"`"))?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .filter(|v| !v.contains(['"', '\\']))
            .ok_or_else(|| bad("the value is a string in double quotes"))?;
        match key.trim() {
            "store" => {
                if super::connect::without_password(value) != value {
                    return Err(bad(
                        "a password does not go in this file (it is shared with the spec): set PGPASSWORD instead",
                    ));
                }
                out.url = Some(value.to_owned());
            }
            "project" => out.project = Some(value.to_owned()),
            other => return Err(bad(&format!("unknown key `{other}`"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str, text: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("expc-settings-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(SETTINGS_FILE), text).unwrap();
        d
    }

    #[test]
    fn the_flag_wins_over_the_file() {
        let d = dir(
            "flag",
            "# team store\nstore = \"postgres://a@h/db\"\nproject = \"rain\"\n",
        );
        let s = Settings::find(Some("postgres://b@h/db"), None, &d)
            .unwrap()
            .unwrap();
        assert_eq!(s.url, "postgres://b@h/db");
        let s = Settings::find(None, Some("other"), &d).unwrap().unwrap();
        if std::env::var_os("EXPC_STORE").is_none() {
            assert_eq!(s.url, "postgres://a@h/db");
        }
        assert_eq!(s.project.as_deref(), Some("other"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_password_in_the_file_is_refused_without_being_shown() {
        let d = dir("secret", "store = \"postgres://a:hunter2@h/db\"\n");
        let e = Settings::find(None, None, &d).unwrap_err();
        assert!(e.0.contains("PGPASSWORD"), "{e}");
        assert!(!e.0.contains("hunter2"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_bad_line_names_its_place() {
        let d = dir("bad", "store = postgres://h/db\n");
        let e = Settings::find(None, None, &d).unwrap_err();
        assert!(e.0.contains(":1: the value is a string"), "{e}");
        assert!(Settings::find(Some("mysql://x"), None, &d).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
