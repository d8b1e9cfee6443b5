//! A team's shared provenance store on a real PostgreSQL (a throwaway cluster on a
//! loopback port, `support/postgres.rs`): every reading command gives the same output
//! from it as from the embedded store, runs are recorded here first and sent later when
//! the server is away, projects are kept apart by the database itself, eight runs record
//! at once, and every mistake is explained.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use expc_tests::postgres::{self, SUPER_PASSWORD, SUPERUSER};
use expc_tests::{Engine, Suite, copy_dir, expc, root, temp_path};

pub fn trials(suite: &mut Suite) {
    suite.needs(
        Engine::Postgres,
        "every_reading_command_reads_the_same_from_both_stores",
        parity,
    );
    suite.needs(
        Engine::Postgres,
        "a_run_recorded_offline_is_pushed_once",
        offline_then_push,
    );
    suite.needs(
        Engine::Postgres,
        "a_member_of_one_project_sees_nothing_of_another",
        projects,
    );
    suite.needs(Engine::Postgres, "eight_runs_record_at_once", eight_at_once);
    suite.needs(
        Engine::Postgres,
        "the_model_registry_reads_the_same_from_both_stores",
        registry_parity,
    );
    suite.needs(
        Engine::Postgres,
        "a_push_cut_midway_leaves_no_half_run",
        cut_midway,
    );
    suite.needs(
        Engine::Postgres,
        "wrong_urls_and_passwords_are_explained",
        wrong_credentials,
    );
    suite.needs(
        Engine::Postgres,
        "an_older_store_is_refused_until_migrated",
        older_schema,
    );
}

/// `expc` in `dir`, with no store settings or password from the environment but `env`.
fn expc_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(expc());
    c.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("EXPC_PROV_TEST_TOKEN", "tok-123")
        .env_remove("EXPC_STORE")
        .env_remove("EXPC_PROJECT")
        .env_remove("PGPASSWORD")
        .env_remove("PGUSER");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run expc")
}

/// Standard output, and standard error on one line (messages wrapped by the terminal
/// renderer joined again).
fn text(o: &Output) -> (String, String) {
    let err = String::from_utf8_lossy(&o.stderr).replace('│', " ");
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        err.split_whitespace().collect::<Vec<_>>().join(" "),
    )
}

#[track_caller]
fn ok(o: Output) -> String {
    let (out, err) = text(&o);
    assert!(o.status.success(), "expc failed:\n{out}\n{err}");
    out
}

#[track_caller]
fn fails(o: Output) -> String {
    let (out, err) = text(&o);
    assert!(!o.status.success(), "expc succeeded:\n{out}\n{err}");
    err
}

/// A copy of a test project in a scratch folder.
fn project(name: &str, from: &str) -> PathBuf {
    let dir = temp_path("shared_store", name);
    copy_dir(&root().join(from), &dir);
    dir
}

/// A fresh database with an expc store in it, owned by the cluster's superuser; its URL
/// (the password comes from PGPASSWORD).
fn store(db: &str) -> String {
    let c = postgres::cluster();
    c.database(db);
    let url = c.bare_url(SUPERUSER, db);
    ok(expc_in(
        Path::new("."),
        &["store", "init", "--store", &url],
        &[("PGPASSWORD", SUPER_PASSWORD)],
    ));
    url
}

fn owner() -> [(&'static str, &'static str); 1] {
    [("PGPASSWORD", SUPER_PASSWORD)]
}

/// The ids of the runs of the embedded store in `dir`, oldest first.
fn local_runs(dir: &Path) -> Vec<String> {
    let out = ok(expc_in(
        dir,
        &[
            "query",
            "SELECT id FROM runs ORDER BY started_at, id",
            "--format",
            "csv",
            "--state-dir",
            ".expc",
        ],
        &[],
    ));
    out.lines().skip(1).map(|l| l.trim().to_owned()).collect()
}

fn parity() {
    let url = store("parity");
    let dir = project("parity", "tests/prov");
    // Three runs: the default, another lr (new instances), and the default again (every
    // instance reused by reference to the first run's records).
    for params in [&[][..], &["-p", "lr=0.002"][..], &[][..]] {
        let mut args = vec!["run", "train.exp", "--store", &url];
        args.extend_from_slice(params);
        let err = text(&expc_in(&dir, &args, &owner())).1;
        assert!(err.contains("shared store: sent"), "{err}");
    }
    let ids = local_runs(&dir);
    assert_eq!(ids.len(), 3);
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let commands: Vec<Vec<&str>> = vec![
        vec!["runs"],
        vec!["runs", "--format", "json"],
        vec!["runs", "--format", "csv"],
        vec!["runs", "show", a],
        vec!["runs", "show", c, "--format", "json"],
        vec!["runs", "show", "latest"],
        vec!["runs", "compare", a, b],
        vec!["runs", "compare", a, c, "--format", "json"],
        vec!["models"],
        vec!["models", "--format", "json"],
        vec![
            "query",
            "SELECT run_id, instance, name, value FROM task_metrics ORDER BY run_id, instance, name",
            "--format",
            "json",
        ],
        vec![
            "query",
            "SELECT COUNT(*) AS n, SUM(attempts) AS attempts FROM tasks",
        ],
    ];
    for command in commands {
        let mut local = command.clone();
        local.extend(["--state-dir", ".expc"]);
        let mut shared = command.clone();
        shared.extend(["--store", &url]);
        let here = ok(expc_in(&dir, &local, &[]));
        let there = ok(expc_in(&dir, &shared, &owner()));
        assert!(
            !here.trim().is_empty(),
            "`{}` printed nothing",
            command.join(" ")
        );
        assert_eq!(here, there, "`expc {}` differs", command.join(" "));
    }
    // The exports and the report, file for file.
    for (what, args) in [
        ("prov.json", vec!["prov", "export", c.as_str(), "-o"]),
        (
            "ro-crate-metadata.json",
            vec!["prov", "export", a.as_str(), "--format", "ro-crate", "-o"],
        ),
    ] {
        let mut local = args.clone();
        local.extend(["local-export", "--state-dir", ".expc"]);
        let mut shared = args.clone();
        shared.extend(["shared-export", "--store", &url]);
        ok(expc_in(&dir, &local, &[]));
        ok(expc_in(&dir, &shared, &owner()));
        let here = std::fs::read(dir.join("local-export").join(what)).unwrap();
        let there = std::fs::read(dir.join("shared-export").join(what)).unwrap();
        assert!(here == there, "the {what} export differs");
    }
    ok(expc_in(
        &dir,
        &[
            "report",
            a,
            c,
            "-o",
            "local.html",
            "--spec",
            "train.exp",
            "--store",
            "local",
        ],
        &[],
    ));
    ok(expc_in(
        &dir,
        &[
            "report",
            a,
            c,
            "-o",
            "shared.html",
            "--spec",
            "train.exp",
            "--store",
            &url,
        ],
        &owner(),
    ));
    assert!(
        std::fs::read(dir.join("local.html")).unwrap()
            == std::fs::read(dir.join("shared.html")).unwrap(),
        "the reports differ"
    );
}

fn offline_then_push() {
    let url = store("offline");
    let dir = project("offline", "tests/prov");
    // A port where nothing listens: the run is recorded here and says so once.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let away = format!("postgres://{SUPERUSER}@127.0.0.1:{closed}/offline");
    let o = expc_in(&dir, &["run", "train.exp", "--store", &away], &owner());
    let err = text(&o).1;
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("shared store: not sent").count(), 1, "{err}");
    assert!(err.contains("cannot reach the shared store"), "{err}");
    assert!(err.contains("`expc prov push` sends it later"), "{err}");
    assert_eq!(local_runs(&dir).len(), 1);
    // Later, from the settings file beside the spec: sent once, then already there.
    std::fs::write(
        dir.join("expc-store.toml"),
        format!("# the team's store\nstore = \"{url}\"\nproject = \"prov\"\n"),
    )
    .unwrap();
    let o = expc_in(&dir, &["prov", "push"], &owner());
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("sent 1 run to"), "{err}");
    assert_eq!(out.trim(), local_runs(&dir)[0]);
    let err = text(&expc_in(&dir, &["prov", "push"], &owner())).1;
    assert!(
        err.contains("sent 0 runs") && err.contains("1 already there"),
        "{err}"
    );
    // A second run sends itself (the first is there); the store holds each run once.
    let err = text(&expc_in(
        &dir,
        &["run", "train.exp", "-p", "lr=0.002"],
        &owner(),
    ))
    .1;
    assert!(err.contains("shared store: sent 1 run"), "{err}");
    let c = postgres::cluster();
    assert_eq!(c.sql("offline", "SELECT COUNT(*) FROM expc.runs"), "2");
    let tasks_here = ok(expc_in(
        &dir,
        &[
            "query",
            "SELECT COUNT(*) FROM tasks",
            "--format",
            "csv",
            "--store",
            "local",
        ],
        &[],
    ));
    assert_eq!(
        c.sql("offline", "SELECT COUNT(*) FROM expc.tasks"),
        tasks_here.lines().nth(1).unwrap().trim()
    );
    assert_eq!(
        c.sql("offline", "SELECT DISTINCT project FROM expc.runs"),
        "prov"
    );
}

fn projects() {
    let url_of = |user: &str| postgres::cluster().bare_url(user, "projects");
    let admin_url = store("projects");
    let c = postgres::cluster();
    c.role("pj_alice", "alice-pw");
    c.role("pj_bob", "bob-pw");
    c.role("pj_carol", "carol-pw");
    let alice = [("PGPASSWORD", "alice-pw")];
    let bob = [("PGPASSWORD", "bob-pw")];
    let carol = [("PGPASSWORD", "carol-pw")];
    let here = Path::new(".");
    ok(expc_in(
        here,
        &[
            "store", "grant", "apple", "pj_alice", "admin", "--store", &admin_url,
        ],
        &owner(),
    ));
    ok(expc_in(
        here,
        &[
            "store", "grant", "banana", "pj_bob", "write", "--store", &admin_url,
        ],
        &owner(),
    ));
    // Alice administers `apple`: she lets Carol read it; she cannot grant on `banana`.
    ok(expc_in(
        here,
        &[
            "store",
            "grant",
            "apple",
            "pj_carol",
            "read",
            "--store",
            &url_of("pj_alice"),
        ],
        &alice,
    ));
    let err = fails(expc_in(
        here,
        &[
            "store",
            "grant",
            "banana",
            "pj_alice",
            "write",
            "--store",
            &url_of("pj_alice"),
        ],
        &alice,
    ));
    assert!(
        err.contains("`pj_alice` is not an admin of project `banana`"),
        "{err}"
    );

    let a = project("projects-a", "tests/prov");
    let b = project("projects-b", "tests/prov");
    let err = text(&expc_in(
        &a,
        &[
            "run",
            "train.exp",
            "--store",
            &url_of("pj_alice"),
            "--project",
            "apple",
        ],
        &alice,
    ))
    .1;
    assert!(err.contains("shared store: sent 1 run"), "{err}");
    let err = text(&expc_in(
        &b,
        &[
            "run",
            "train.exp",
            "-p",
            "lr=0.002",
            "--store",
            &url_of("pj_bob"),
            "--project",
            "banana",
        ],
        &bob,
    ))
    .1;
    assert!(err.contains("shared store: sent 1 run"), "{err}");
    let (a_run, b_run) = (&local_runs(&a)[0], &local_runs(&b)[0]);

    // Through every command, Alice and Carol see `apple` only, Bob `banana` only.
    for (who, env, mine, theirs) in [
        ("pj_alice", &alice, a_run, b_run),
        ("pj_carol", &carol, a_run, a_run),
        ("pj_bob", &bob, b_run, a_run),
    ] {
        let url = url_of(who);
        let list = ok(expc_in(here, &["runs", "--store", &url], env));
        assert!(list.contains(mine.as_str()), "{who}: {list}");
        if mine != theirs {
            assert!(
                !list.contains(theirs.as_str()),
                "{who} sees another project's run: {list}"
            );
            let err = fails(expc_in(
                here,
                &["runs", "show", theirs, "--store", &url],
                env,
            ));
            assert!(err.contains(&format!("no run `{theirs}`")), "{err}");
        }
        // Raw SQL goes through the same policies, views included.
        for sql in [
            "SELECT DISTINCT run_id FROM tasks",
            "SELECT DISTINCT run_id FROM task_metrics",
            "SELECT DISTINCT run_id FROM models",
            "SELECT DISTINCT r.id FROM runs r JOIN artifacts a ON a.run_id = r.id",
        ] {
            let out = ok(expc_in(
                here,
                &["query", sql, "--store", &url, "--format", "csv"],
                env,
            ));
            let seen: Vec<&str> = out.lines().skip(1).collect();
            assert_eq!(seen, vec![mine.as_str()], "{who}: {sql}");
        }
        let models = ok(expc_in(
            here,
            &["models", "--store", &url, "--format", "csv"],
            env,
        ));
        assert!(
            !models.contains(theirs.as_str()) || mine == theirs,
            "{who}: {models}"
        );
    }
    // Carol may only read: her push is refused, with who may grant it.
    let c_dir = project("projects-c", "tests/prov");
    ok(expc_in(
        &c_dir,
        &["run", "train.exp", "-p", "lr=0.004"],
        &[],
    ));
    let err = fails(expc_in(
        &c_dir,
        &[
            "prov",
            "push",
            "--store",
            &url_of("pj_carol"),
            "--project",
            "apple",
        ],
        &carol,
    ));
    assert!(
        err.contains("`pj_carol` may not write runs of project `apple`"),
        "{err}"
    );
    assert!(
        err.contains("expc store grant apple pj_carol write"),
        "{err}"
    );
    // Nobody but the owner changes a record.
    let err = fails(expc_in(
        here,
        &["query", "DELETE FROM runs", "--store", &url_of("pj_alice")],
        &alice,
    ));
    assert!(err.contains("only reads"), "{err}");
    // Revoked, Carol sees nothing.
    ok(expc_in(
        here,
        &[
            "store",
            "revoke",
            "apple",
            "pj_carol",
            "--store",
            &url_of("pj_alice"),
        ],
        &alice,
    ));
    let out = ok(expc_in(
        here,
        &[
            "query",
            "SELECT COUNT(*) AS n FROM tasks",
            "--store",
            &url_of("pj_carol"),
            "--format",
            "csv",
        ],
        &carol,
    ));
    assert_eq!(out.lines().nth(1), Some("0"));
    // No password reached a record, a log or the output.
    for pw in ["alice-pw", "bob-pw", SUPER_PASSWORD] {
        let dump = c.sql(
            "projects",
            "SELECT string_agg(r::text, ' ') FROM expc.runs r",
        );
        assert!(!dump.contains(pw));
        for d in [&a, &b] {
            let grep = Command::new("grep")
                .args(["-r", "-l", pw])
                .arg(d)
                .output()
                .unwrap();
            assert!(
                grep.stdout.is_empty(),
                "{pw} found in {}",
                String::from_utf8_lossy(&grep.stdout)
            );
        }
    }
}

fn eight_at_once() {
    let url = store("eight");
    let dirs: Vec<PathBuf> = (0..8)
        .map(|i| project(&format!("eight-{i}"), "tests/shared"))
        .collect();
    let children: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Command::new(expc())
                .args(["run", "many.exp", "-j", "2", "-p"])
                .arg(format!("salt=s{i}"))
                .args(["--store", &url, "--project", "many"])
                .current_dir(d)
                .env("PGPASSWORD", SUPER_PASSWORD)
                .env("NO_COLOR", "1")
                .output_in_background()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        let err = text(&o).1;
        assert!(o.status.success(), "{err}");
        assert!(err.contains("shared store: sent 1 run"), "{err}");
        assert!(!err.contains("deadlock"), "{err}");
    }
    let c = postgres::cluster();
    assert_eq!(c.sql("eight", "SELECT COUNT(*) FROM expc.runs"), "8");
    assert_eq!(c.sql("eight", "SELECT COUNT(*) FROM expc.tasks"), "8000");
    assert_eq!(
        c.sql(
            "eight",
            "SELECT COUNT(DISTINCT (run_id, id)) FROM expc.tasks"
        ),
        "8000"
    );
    assert_eq!(
        c.sql("eight", "SELECT COUNT(*) FROM expc.task_values"),
        "16000"
    );
    assert_eq!(
        c.sql("eight", "SELECT MIN(n) || ' ' || MAX(n) FROM (SELECT COUNT(*) AS n FROM expc.tasks GROUP BY run_id) x"),
        "1000 1000"
    );
}

trait Background {
    fn output_in_background(&mut self) -> std::process::Child;
}

impl Background for Command {
    fn output_in_background(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start expc")
    }
}

/// A TCP relay to the cluster that cuts every connection once `limit` bytes went from
/// the client to the server: the server going away in the middle of a push.
fn relay(limit: usize) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = postgres::cluster().port;
    let cut = Arc::new(AtomicBool::new(false));
    let was_cut = cut.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", server)) else {
                continue;
            };
            let sent = Arc::new(AtomicUsize::new(0));
            let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let cut = was_cut.clone();
            let pipe =
                move |mut from: TcpStream, mut to: TcpStream, counted: Option<Arc<AtomicUsize>>| {
                    let mut buf = [0u8; 8192];
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if let Some(sent) = &counted
                            && sent.fetch_add(n, Ordering::SeqCst) + n > limit
                        {
                            cut.store(true, Ordering::SeqCst);
                            break;
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = from.shutdown(std::net::Shutdown::Both);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                };
            let up = pipe.clone();
            std::thread::spawn(move || up(client, upstream, Some(sent)));
            std::thread::spawn(move || pipe(u2, c2, None));
        }
    });
    (port, cut)
}

fn cut_midway() {
    let url = store("cut");
    let dir = project("cut", "tests/shared");
    ok(expc_in(&dir, &["run", "many.exp", "-p", "count=3000"], &[]));
    let run = local_runs(&dir)[0].clone();
    // The connection is cut after 100 kB of the run's rows (it has about a megabyte).
    let (port, cut) = relay(100_000);
    let through = format!("postgres://{SUPERUSER}@127.0.0.1:{port}/cut");
    let err = fails(expc_in(
        &dir,
        &["prov", "push", "--store", &through],
        &owner(),
    ));
    assert!(cut.load(Ordering::SeqCst), "the relay never cut the push");
    assert!(
        err.contains("closed the connection") || err.contains("cannot reach"),
        "{err}"
    );
    let c = postgres::cluster();
    assert_eq!(c.sql("cut", "SELECT COUNT(*) FROM expc.runs"), "0");
    assert_eq!(c.sql("cut", "SELECT COUNT(*) FROM expc.tasks"), "0");
    // Once the server is reachable again, the push sends the run whole.
    let err = text(&expc_in(&dir, &["prov", "push", "--store", &url], &owner())).1;
    assert!(err.contains("sent 1 run"), "{err}");
    assert_eq!(
        c.sql(
            "cut",
            &format!("SELECT COUNT(*) FROM expc.tasks WHERE run_id = '{run}'")
        ),
        "3000"
    );
}

fn wrong_credentials() {
    store("creds");
    let c = postgres::cluster();
    let here = Path::new(".");
    // A wrong password: refused, said so, and the password is not repeated.
    let bad = c.url(SUPERUSER, "not-the-password", "creds");
    let err = fails(expc_in(here, &["runs", "--store", &bad], &[]));
    assert!(err.contains(&format!("refused `{SUPERUSER}`")), "{err}");
    assert!(err.contains("PGPASSWORD"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    // No password at all.
    let err = fails(expc_in(
        here,
        &["runs", "--store", &c.bare_url(SUPERUSER, "creds")],
        &[],
    ));
    assert!(err.contains("PGPASSWORD"), "{err}");
    // A database that does not exist, and one without a store.
    let err = fails(expc_in(
        here,
        &["runs", "--store", &c.bare_url(SUPERUSER, "nowhere")],
        &owner(),
    ));
    assert!(err.contains("does not exist"), "{err}");
    let err = fails(expc_in(
        here,
        &["runs", "--store", &c.bare_url(SUPERUSER, "postgres")],
        &owner(),
    ));
    assert!(err.contains("expc store init"), "{err}");
    // Not a URL of PostgreSQL.
    let err = fails(expc_in(here, &["runs", "--store", "mysql://h/db"], &[]));
    assert!(err.contains("starts with `postgres://`"), "{err}");
    // A settings file with a password in it is refused before anything runs.
    let dir = project("creds", "tests/prov");
    std::fs::write(dir.join("expc-store.toml"), format!("store = \"{bad}\"\n")).unwrap();
    let err = fails(expc_in(&dir, &["run", "train.exp"], &[]));
    assert!(err.contains("a password does not go in this file"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    assert!(!dir.join(".expc").exists(), "the run started");
}

fn older_schema() {
    let c = postgres::cluster();
    c.database("older");
    // A store of schema version 3, as an expc of that version made it.
    let scripts = root().join("crates/expc-prov/src/shared");
    let mut sql = String::from("CREATE SCHEMA expc;\n");
    for f in ["schema.sql", "schema_2.sql", "schema_3.sql"] {
        sql.push_str(&std::fs::read_to_string(scripts.join(f)).unwrap());
    }
    sql.push_str("UPDATE expc.store_version SET version = 3;");
    c.sql("older", &sql);
    let url = c.bare_url(SUPERUSER, "older");
    let here = Path::new(".");
    let err = fails(expc_in(here, &["runs", "--store", &url], &owner()));
    assert!(
        err.contains("has schema version 3, older than this expc's"),
        "{err}"
    );
    assert!(err.contains("expc store migrate"), "{err}");
    let dir = project("older", "tests/prov");
    let err = text(&expc_in(
        &dir,
        &["run", "train.exp", "--store", &url],
        &owner(),
    ))
    .1;
    assert!(
        err.contains("shared store: not sent") && err.contains("expc store migrate"),
        "{err}"
    );
    let err = text(&expc_in(
        here,
        &["store", "migrate", "--store", &url],
        &owner(),
    ))
    .1;
    assert!(err.contains("from schema version 3 to"), "{err}");
    let err = text(&expc_in(&dir, &["prov", "push", "--store", &url], &owner())).1;
    assert!(err.contains("sent 1 run"), "{err}");
    let list = ok(expc_in(here, &["runs", "--store", &url], &owner()));
    assert!(list.contains(&local_runs(&dir)[0]), "{list}");
}

/// A run's registrations and evaluations travel with it: the registry reads the same
/// from the shared store, and its stages are changed in the embedded one only.
fn registry_parity() {
    let url = store("registry");
    let dir = project("registry", "tests/registry");
    for params in [&[][..], &["-p", "scale=3"][..]] {
        let mut args = vec!["run", "--local", "registry.exp", "--store", &url];
        args.extend_from_slice(params);
        let err = text(&expc_in(&dir, &args, &owner())).1;
        assert!(err.contains("shared store: sent"), "{err}");
    }
    for command in [
        vec!["models", "--format", "json"],
        vec!["models", "show", "nowcaster@3", "--format", "json"],
        vec![
            "query",
            "SELECT name, version, metric, value FROM model_metrics ORDER BY 1, 2, 3",
        ],
    ] {
        let mut local = command.clone();
        local.extend(["--state-dir", ".expc"]);
        let mut shared = command.clone();
        shared.extend(["--store", &url]);
        let here = ok(expc_in(&dir, &local, &[]));
        let there = ok(expc_in(&dir, &shared, &owner()));
        assert_eq!(here, there, "{command:?}");
        assert!(here.contains("nowcaster"), "{here}");
    }
    let err = fails(expc_in(
        &dir,
        &[
            "models",
            "promote",
            "nowcaster@1",
            "production",
            "--store",
            &url,
        ],
        &owner(),
    ));
    assert!(
        err.contains("stages are changed in the embedded store"),
        "{err}"
    );
    expc_tests::remove_tree(&dir);
}
