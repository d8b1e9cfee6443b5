//! Keeping a shared store: creating it, migrating it with its owner's consent, and who may
//! read, write or administer each project (`expc store init|migrate|grant|revoke|members`).

use super::connect::Version;
use super::{MIGRATIONS, Settings, Shared};
use crate::query::Table;
use crate::store::{Error, Result, SCHEMA_VERSION};

/// A project's levels, weakest first.
pub const LEVELS: [&str; 3] = ["read", "write", "admin"];

impl Shared {
    /// Creates the store's schema in an empty database; the connected role becomes its
    /// owner (who may do everything).
    pub fn init(settings: &Settings) -> Result<Shared> {
        let mut shared = Shared::connect_only(settings)?;
        if let Version::At(v) = shared.version()? {
            return Err(Error(format!(
                "{} already holds an expc store (schema version {v}): nothing to create",
                shared.shown
            )));
        }
        let mut tx = shared
            .client
            .transaction()
            .map_err(|e| super::connect::explain(&e, &shared.shown, &shared.user))?;
        let mut script = String::from("CREATE SCHEMA expc;\n");
        for s in MIGRATIONS {
            script.push_str(s);
            script.push('\n');
        }
        script.push_str(&format!(
            "UPDATE expc.store_version SET version = {SCHEMA_VERSION};"
        ));
        tx.batch_execute(&script)
            .and_then(|()| tx.commit())
            .map_err(|e| super::connect::explain(&e, &shared.shown, &shared.user))?;
        Ok(shared)
    }

    /// Brings an older store to this expc's schema, in one transaction that holds the
    /// version row locked (so two migrations do not both apply a script). Returns the
    /// version it was at.
    pub fn migrate(settings: &Settings) -> Result<i64> {
        let mut shared = Shared::connect_only(settings)?;
        let (shown, user) = (shared.shown.clone(), shared.user.clone());
        let fail = |e: postgres::Error| super::connect::explain(&e, &shown, &user);
        if let Version::Missing = shared.version()? {
            return Err(Error(format!(
                "there is no expc store in {shown}: create one with `expc store init --store {shown}`"
            )));
        }
        let mut tx = shared.client.transaction().map_err(fail)?;
        let from: i64 = tx
            .query_one("SELECT version FROM expc.store_version FOR UPDATE", &[])
            .map_err(fail)?
            .get(0);
        if from > SCHEMA_VERSION {
            return Err(Error(format!(
                "{shown} has schema version {from}, newer than this expc knows ({SCHEMA_VERSION}): use a newer expc"
            )));
        }
        for script in &MIGRATIONS[from as usize..] {
            tx.batch_execute(script).map_err(fail)?;
        }
        tx.execute(
            "UPDATE expc.store_version SET version = $1",
            &[&SCHEMA_VERSION],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(from)
    }

    /// Gives `member` (a PostgreSQL role) `level` in `project`, replacing what it had.
    /// Only an admin of the project, or the store's owner, may.
    pub fn grant(&mut self, project: &str, member: &str, level: &str) -> Result<()> {
        super::settings::check_project(project)?;
        if !LEVELS.contains(&level) {
            return Err(Error(format!(
                "`{level}` is not a level: read, write or admin"
            )));
        }
        let (shown, user) = (self.shown.clone(), self.user.clone());
        let fail = |e: postgres::Error| denied(&e, &shown, &user, project);
        let mut tx = self.client.transaction().map_err(fail)?;
        let exists = tx
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&member])
            .map_err(fail)?
            .is_some();
        if !exists {
            return Err(Error(format!(
                "there is no role `{member}` in {shown}: the server's administrator creates it (`CREATE ROLE {member} LOGIN PASSWORD '…'`)"
            )));
        }
        tx.execute(
            "DELETE FROM expc.members WHERE project = $1 AND member = $2",
            &[&project, &member],
        )
        .map_err(fail)?;
        tx.execute(
            "INSERT INTO expc.members (project, member, level) VALUES ($1, $2, $3)",
            &[&project, &member, &level],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// Takes every level in `project` from `member`; `false` when it had none.
    pub fn revoke(&mut self, project: &str, member: &str) -> Result<bool> {
        let (shown, user) = (self.shown.clone(), self.user.clone());
        let fail = |e: postgres::Error| denied(&e, &shown, &user, project);
        let admin: bool = self
            .client
            .query_one("SELECT expc.may($1, 'admin')", &[&project])
            .map_err(fail)?
            .get(0);
        if !admin {
            return Err(not_admin(&shown, &user, project));
        }
        let n = self
            .client
            .execute(
                "DELETE FROM expc.members WHERE project = $1 AND member = $2",
                &[&project, &member],
            )
            .map_err(fail)?;
        Ok(n > 0)
    }

    /// The grants this role may see: its own, and all those of projects it administers.
    pub fn members(&mut self) -> Result<Table> {
        self.query("SELECT project, member, level FROM expc.members ORDER BY project, member")
    }
}

fn not_admin(shown: &str, user: &str, project: &str) -> Error {
    Error(format!(
        "permission denied: `{user}` is not an admin of project `{project}` in {shown}. The store's owner or an admin of `{project}` grants it with `expc store grant {project} {user} admin`"
    ))
}

fn denied(e: &postgres::Error, shown: &str, user: &str, project: &str) -> Error {
    if e.as_db_error().is_some_and(|d| d.code().code() == "42501") {
        not_admin(shown, user, project)
    } else {
        super::connect::explain(e, shown, user)
    }
}
