//! Connecting to a shared store, checking its schema version, and saying what went wrong
//! in words a user can act on.

use std::time::Duration;

use postgres::{Client, Config, NoTls};

use super::Settings;
use crate::store::{Error, Result, SCHEMA_VERSION};

/// A connection to a shared store whose schema is this expc's.
pub struct Shared {
    pub(super) client: Client,
    /// The URL without its password, for messages.
    pub shown: String,
    /// The role connected as.
    pub user: String,
    pub(super) project: Option<String>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("shown", &self.shown)
            .finish()
    }
}

/// What a schema check found.
pub(super) enum Version {
    Missing,
    At(i64),
}

impl Shared {
    /// Connects and checks that the store's schema is this expc's: a store of an older
    /// version is refused with how to migrate it (`expc store migrate`, by its owner), a
    /// newer one with "use a newer expc", a database without one with `expc store init`.
    pub fn connect(settings: &Settings) -> Result<Shared> {
        let mut shared = Shared::connect_only(settings)?;
        match shared.version()? {
            Version::Missing => Err(Error(format!(
                "there is no expc store in {}: its owner creates one with `expc store init --store {}`",
                shared.shown, shared.shown
            ))),
            Version::At(v) if v < SCHEMA_VERSION => Err(Error(format!(
                "the shared store {} has schema version {v}, older than this expc's ({SCHEMA_VERSION}): its owner upgrades it with `expc store migrate --store {}` (every expc using it must then be this version or newer), or use the expc that matches it",
                shared.shown, shared.shown
            ))),
            Version::At(v) if v > SCHEMA_VERSION => Err(Error(format!(
                "the shared store {} has schema version {v}, newer than this expc knows ({SCHEMA_VERSION}): use a newer expc",
                shared.shown
            ))),
            Version::At(_) => Ok(shared),
        }
    }

    /// Connects without looking at the schema (`expc store init` and `migrate`).
    pub(super) fn connect_only(settings: &Settings) -> Result<Shared> {
        let shown = without_password(&settings.url);
        let mut config: Config = settings.url.parse().map_err(|e| {
            Error(format!(
                "`{shown}` is not a PostgreSQL URL ({e}): write it as `postgres://user@host:5432/database`"
            ))
        })?;
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "postgres".into());
            config.user(&user);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("expc");
        let user = config.get_user().unwrap_or_default().to_owned();
        let shown = shown_of(&config, &shown);
        let client = config
            .connect(NoTls)
            .map_err(|e| explain(&e, &shown, &user))?;
        let mut shared = Shared {
            client,
            shown,
            user,
            project: settings.project.clone(),
        };
        shared
            .client
            .batch_execute("SET search_path = expc")
            .map_err(|e| shared.error(&e))?;
        Ok(shared)
    }

    pub(super) fn version(&mut self) -> Result<Version> {
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass('expc.store_version') IS NOT NULL", &[])
            .map_err(|e| self.error(&e))?
            .get(0);
        if !exists {
            return Ok(Version::Missing);
        }
        let v: i64 = self
            .client
            .query_one("SELECT version FROM expc.store_version", &[])
            .map_err(|e| self.error(&e))?
            .get(0);
        Ok(Version::At(v))
    }

    /// A PostgreSQL error as a message about this store.
    pub(super) fn error(&self, e: &postgres::Error) -> Error {
        explain(e, &self.shown, &self.user)
    }
}

/// `postgres://user:secret@host/db` as `postgres://user@host/db`, for anything shown or
/// logged: the password is dropped from the user part and from a `password=` parameter,
/// whether or not the rest of the URL is valid.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    // A password can also be a query parameter.
    let tail: String = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The store as `postgres://user@host:port/db`, from the parsed settings.
fn shown_of(config: &Config, fallback: &str) -> String {
    use postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => return fallback.to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or_default();
    format!(
        "postgres://{}@{host}:{port}/{db}",
        config.get_user().unwrap_or_default()
    )
}

/// What a PostgreSQL error means for the user, and what to do.
pub(super) fn explain(e: &postgres::Error, shown: &str, user: &str) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let message = db.message();
        return Error(match code {
            "28P01" | "28000" => format!(
                "the shared store {shown} refused `{user}`: {message}. Set the password in PGPASSWORD (or in the URL in EXPC_STORE), and check the user"
            ),
            "3D000" => format!(
                "the shared store {shown} does not exist: {message}. Check the database name in the URL, or ask the server's administrator to create it"
            ),
            "42501" => format!(
                "permission denied in the shared store {shown}: {message}. An admin of the project grants access with `expc store grant PROJECT {user} read|write|admin`"
            ),
            "25006" => "`expc query` only reads: the statement would change the store".to_owned(),
            _ => format!("the shared store {shown}: {message}"),
        });
    }
    if e.is_closed() {
        return Error(format!(
            "the shared store {shown} closed the connection (the server went away?): nothing half-written is kept there; `expc prov push` sends what is missing once it is back"
        ));
    }
    let why = std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string());
    if why.contains("password missing") {
        return Error(format!(
            "the shared store {shown} asks `{user}` for a password and none was given: set PGPASSWORD (or put it in the URL in EXPC_STORE)"
        ));
    }
    Error(format!(
        "cannot reach the shared store {shown}: {why}. Check the URL (`--store`, EXPC_STORE or expc-store.toml) and that the server is up"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_never_shown() {
        assert_eq!(
            without_password("postgres://alice:s3cret@db.example.org:5432/expc"),
            "postgres://alice@db.example.org:5432/expc"
        );
        assert_eq!(
            without_password("postgres://alice@h/expc?password=s3cret&sslmode=disable"),
            "postgres://alice@h/expc?sslmode=disable"
        );
        assert_eq!(without_password("postgres://h/expc"), "postgres://h/expc");
        assert_eq!(
            without_password("postgres://a:b:c@d@h/x"),
            "postgres://a@h/x"
        );
    }
}
