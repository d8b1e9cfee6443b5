//! A throwaway PostgreSQL cluster for the shared-store tests: Debian's `postgresql`
//! (`scripts/install-test-deps.sh` installs it), initialised in a temporary folder and
//! listening on a free loopback port only, started by the first test that needs it and
//! stopped when the test binary ends ([`stop`], called by the harness).
//!
//! PostgreSQL refuses to run as root: when the tests run as root, `initdb` and `pg_ctl`
//! run as the `postgres` user the package creates (through `runuser`). Connections over
//! TCP need a password (SCRAM), so a wrong password is refused as on a real server.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The cluster's superuser and its password.
pub const SUPERUSER: &str = "expc_super";
pub const SUPER_PASSWORD: &str = "super-pw-5f1c";

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static STARTED: Mutex<Option<(PathBuf, PathBuf)>> = Mutex::new(None);

/// The folder of the newest installed PostgreSQL's programs.
pub fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command of the cluster's, as the user that may run it.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn must(c: &mut Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("cannot {what}: {e}"));
    assert!(
        out.status.success(),
        "cannot {what}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The cluster, started the first time it is asked for.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(start)
}

fn start() -> Cluster {
    let bin = bin_dir().expect("a test that needs Engine::Postgres");
    let dir = std::env::temp_dir().join(format!("expc-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, SUPER_PASSWORD).unwrap();
    if is_root() {
        must(
            Command::new("chown").args(["-R", "postgres:"]).arg(&dir),
            "give the cluster's folder to `postgres`",
        );
    }
    let data = dir.join("data");
    must(
        as_owner(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
        "initialise a PostgreSQL cluster",
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60",
        dir.display()
    );
    must(
        as_owner(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "start"]),
        "start the PostgreSQL cluster",
    );
    *STARTED.lock().unwrap() = Some((bin.clone(), data));
    Cluster { dir, bin, port }
}

/// Stops the cluster if a test started one, and removes its folder.
pub fn stop() {
    let Some((bin, data)) = STARTED.lock().unwrap().take() else {
        return;
    };
    let _ = as_owner(&bin.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .args(["-m", "immediate", "-w", "stop"])
        .output();
    if let Some(dir) = data.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl Cluster {
    /// `postgres://user:password@127.0.0.1:PORT/db`.
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/{db}", self.port)
    }

    /// The URL of `db` without a password (which then comes from PGPASSWORD).
    pub fn bare_url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL as the superuser in `db` (through `psql`).
    pub fn sql(&self, db: &str, sql: &str) -> String {
        self.sql_as(SUPERUSER, SUPER_PASSWORD, db, sql)
            .unwrap_or_else(|e| panic!("psql failed on {sql}:\n{e}"))
    }

    /// Runs SQL as `user` in `db`: what it printed, or the server's error.
    pub fn sql_as(
        &self,
        user: &str,
        password: &str,
        db: &str,
        sql: &str,
    ) -> Result<String, String> {
        let psql = ["/usr/bin/psql", &self.bin.join("psql").to_string_lossy()]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("psql"));
        let out = Command::new(psql)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg(format!(
                "host=127.0.0.1 port={} user={user} dbname={db}",
                self.port
            ))
            .args(["-c", sql])
            .env("PGPASSWORD", password)
            .output()
            .expect("psql");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A fresh, empty database for one test.
    pub fn database(&self, name: &str) -> String {
        self.sql("postgres", &format!("DROP DATABASE IF EXISTS {name}"));
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        name.to_owned()
    }

    /// A login role with a password (replaced when it exists).
    pub fn role(&self, name: &str, password: &str) {
        self.sql(
            "postgres",
            &format!(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN CREATE ROLE {name} LOGIN; END IF; END $$; ALTER ROLE {name} PASSWORD '{password}'"
            ),
        );
    }

    /// The folder the cluster lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
