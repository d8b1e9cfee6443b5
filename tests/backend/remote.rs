//! Remote inputs end to end, through the real binary: `https://`-style inputs from a local
//! HTTP server and `s3://` inputs from a real S3 server (moto), both on 127.0.0.1 and
//! started here; fetched once into the store, keyed by content, pinned by `expc.lock`, and
//! every bad case told with its URL and nothing partial left in the store (see
//! `docs/remote-data.md`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use expc_tests::remote::{HttpServer, S3Server, SECRET_KEY};
use expc_tests::{Engine, Suite};

pub fn trials(suite: &mut Suite) {
    suite.test(
        "an_http_input_is_fetched_once_and_keyed_by_its_content",
        an_http_input_is_fetched_once_and_keyed_by_its_content,
    );
    suite.test(
        "the_lock_file_pins_content_and_locked_refuses_a_change",
        the_lock_file_pins_content_and_locked_refuses_a_change,
    );
    suite.test(
        "offline_runs_from_the_store_and_names_what_it_lacks",
        offline_runs_from_the_store_and_names_what_it_lacks,
    );
    suite.test(
        "bad_http_inputs_are_told_with_their_url_and_leave_nothing",
        bad_http_inputs_are_told_with_their_url_and_leave_nothing,
    );
    suite.test(
        "a_transient_failure_is_retried",
        a_transient_failure_is_retried,
    );
    suite.test(
        "a_git_input_is_a_file_at_a_revision_pinned_by_its_commit",
        a_git_input_is_a_file_at_a_revision_pinned_by_its_commit,
    );
    suite.needs(
        Engine::ProvValidators,
        "provenance_names_each_remote_inputs_url_etag_and_digest",
        provenance_names_each_remote_inputs_url_etag_and_digest,
    );
    suite.needs(
        Engine::S3Server,
        "an_s3_input_is_fetched_with_credentials_that_are_never_recorded",
        an_s3_input_is_fetched_with_credentials_that_are_never_recorded,
    );
    suite.needs(
        Engine::S3Server,
        "bad_s3_inputs_are_told_with_their_url_and_leave_nothing",
        bad_s3_inputs_are_told_with_their_url_and_leave_nothing,
    );
}

const CSV: &str = "station,mm\na,1\nb,2\n";

/// A project whose pipeline copies the remote input `url` (with `extra` entries in its
/// block, such as a digest) to an output.
fn project(name: &str, url: &str, extra: &str) -> PathBuf {
    project_reading(name, &format!("\"{url}\""), extra)
}

/// A project whose input is declared with the expression `source`.
fn project_reading(name: &str, source: &str, extra: &str) -> PathBuf {
    let dir = expc_tests::temp_path("remote", name);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = format!(
        r#"experiment fetch {{
  version = "1"
}}

import std.formats.{{Csv}}
import std.resources.{{Local}}

resource here = Local {{
  cpus = 1
}}

data stations: File<Csv> = {source} {{
{extra}
}}

task copy(raw: File<Csv>) -> (out: File<Csv> = "copy.csv") {{
  run `cp ${{raw}} ${{out}}`
}}

pipeline main {{
  copy(raw = stations) on here
}}
"#
    );
    std::fs::write(dir.join("fetch.exp"), spec).unwrap();
    dir
}

fn expc(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(expc_tests::expc());
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("EXPC_FETCH_TIMEOUT", "5");
    for k in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run expc")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Whether the message `out` says `what`, however the terminal renderer wrapped its lines.
fn says(out: &str, what: &str) -> bool {
    let flat = |s: &str| s.replace(|c: char| c.is_whitespace() || c == '│', "");
    flat(out).contains(&flat(what))
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "expc failed:\n{}", text(o));
    text(o)
}

fn failed(o: &Output) -> String {
    assert!(!o.status.success(), "expc should have failed:\n{}", text(o));
    text(o)
}

fn sha256(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_owned()
}

/// The files under the remote store's objects and temporary folders.
fn stored(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["sha256", "tmp"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(".expc/remote").join(sub)) {
            for e in entries.flatten() {
                out.push(format!("{sub}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    out.sort();
    out
}

fn copied(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".expc/out/copy/copy.csv")).unwrap()
}

fn an_http_input_is_fetched_once_and_keyed_by_its_content() {
    let server = HttpServer::start(&expc_tests::temp_path("remote", "fetched-once-served"));
    std::fs::write(server.root.join("stations.csv"), CSV).unwrap();
    let url = server.url("stations.csv");
    let dir = project("fetched-once", &url, "");
    let plan = ok(&expc(&dir, &["plan", "fetch.exp"], &[]));
    assert!(plan.contains(&format!("stations (remote {url})")), "{plan}");
    assert!(server.requests().is_empty(), "planning fetches nothing");
    ok(&expc(&dir, &["run", "fetch.exp"], &[]));
    assert_eq!(copied(&dir), CSV);
    assert_eq!(server.requests(), vec!["GET /stations.csv"]);
    assert_eq!(
        stored(&dir),
        vec![format!("sha256/{}", sha256(CSV.as_bytes()))]
    );
    // Held: no request, nothing runs again.
    let again = ok(&expc(&dir, &["run", "fetch.exp"], &[]));
    assert_eq!(server.requests().len(), 1, "{again}");
    assert!(again.contains("cached"), "{again}");
    // The same bytes at another URL are the same input: the key is the content.
    std::fs::write(server.root.join("moved.csv"), CSV).unwrap();
    let spec = std::fs::read_to_string(dir.join("fetch.exp")).unwrap();
    std::fs::write(
        dir.join("fetch.exp"),
        spec.replace("stations.csv", "moved.csv"),
    )
    .unwrap();
    let moved = ok(&expc(&dir, &["run", "fetch.exp"], &[]));
    assert!(moved.contains("cached"), "{moved}");
    assert_eq!(server.requests().len(), 2);
}

fn the_lock_file_pins_content_and_locked_refuses_a_change() {
    let server = HttpServer::start(&expc_tests::temp_path("remote", "locked-served"));
    std::fs::write(server.root.join("stations.csv"), CSV).unwrap();
    let url = server.url("stations.csv");
    let dir = project("locked", &url, "");
    ok(&expc(&dir, &["lock", "fetch.exp"], &[]));
    let lock = std::fs::read_to_string(dir.join("expc.lock")).unwrap();
    let old = format!("sha256:{}", sha256(CSV.as_bytes()));
    assert!(lock.contains(&url) && lock.contains(&old), "{lock}");
    assert!(
        lock.contains("\"etag\"") && lock.contains("\"size\": 19"),
        "{lock}"
    );
    // Locking again changes no byte and asks nothing.
    ok(&expc(&dir, &["lock", "fetch.exp"], &[]));
    assert_eq!(
        std::fs::read_to_string(dir.join("expc.lock")).unwrap(),
        lock
    );
    assert_eq!(server.requests().len(), 1);
    // A run with the lock and the store makes no request.
    ok(&expc(&dir, &["run", "--locked", "fetch.exp"], &[]));
    assert_eq!(server.requests().len(), 1);
    // The server's content changes: a refresh asks (conditionally) and --locked refuses.
    let changed = "station,mm\na,9\n";
    std::fs::write(server.root.join("stations.csv"), changed).unwrap();
    let refused = failed(&expc(
        &dir,
        &["run", "--locked", "--refresh", "fetch.exp"],
        &[],
    ));
    let new = format!("sha256:{}", sha256(changed.as_bytes()));
    assert!(
        says(&refused, &url) && says(&refused, &old) && says(&refused, &new),
        "{refused}"
    );
    assert!(!dir.join(".expc/out/copy/copy.csv").exists() || copied(&dir) == CSV);
    // Unchanged content answers a refresh with 304 Not Modified.
    std::fs::write(server.root.join("stations.csv"), CSV).unwrap();
    let before = server.requests().len();
    ok(&expc(
        &dir,
        &["run", "--locked", "--refresh", "fetch.exp"],
        &[],
    ));
    assert_eq!(server.requests().len(), before + 1);
    // `expc lock --refresh` takes the new content.
    std::fs::write(server.root.join("stations.csv"), changed).unwrap();
    ok(&expc(&dir, &["lock", "--refresh", "fetch.exp"], &[]));
    let relocked = std::fs::read_to_string(dir.join("expc.lock")).unwrap();
    assert!(relocked.contains(&new), "{relocked}");
    ok(&expc(&dir, &["run", "--locked", "fetch.exp"], &[]));
    assert_eq!(copied(&dir), changed);
}

fn offline_runs_from_the_store_and_names_what_it_lacks() {
    let server = HttpServer::start(&expc_tests::temp_path("remote", "offline-served"));
    std::fs::write(server.root.join("stations.csv"), CSV).unwrap();
    let url = server.url("stations.csv");
    let dir = project("offline", &url, "");
    let missing = failed(&expc(&dir, &["run", "--offline", "fetch.exp"], &[]));
    assert!(
        says(&missing, &url) && says(&missing, "--offline"),
        "{missing}"
    );
    assert!(server.requests().is_empty());
    ok(&expc(&dir, &["run", "fetch.exp"], &[]));
    drop(server);
    // The server is gone: the store is enough.
    let spec = std::fs::read_to_string(dir.join("fetch.exp")).unwrap();
    std::fs::write(
        dir.join("fetch.exp"),
        spec.replace("cp ${raw}", "cp -f ${raw}"),
    )
    .unwrap();
    ok(&expc(&dir, &["run", "--offline", "fetch.exp"], &[]));
    assert_eq!(copied(&dir), CSV);
}

/// A run of the project reading `path` on `server` fails, saying `told` and the URL, and
/// leaves no object and no temporary file in the store.
fn fails_cleanly(server: &HttpServer, name: &str, path: &str, extra: &str, told: &[&str]) {
    let url = server.url(path);
    let dir = project(name, &url, extra);
    // A stalled server costs a timeout per attempt: short ones keep the test short.
    let timeout = [("EXPC_FETCH_TIMEOUT", "1".to_owned())];
    let env: &[(&str, String)] = if path.starts_with("_stall/") {
        &timeout
    } else {
        &[]
    };
    let out = failed(&expc(&dir, &["run", "fetch.exp"], env));
    assert!(says(&out, &url), "{name}: no URL in:\n{out}");
    for s in told {
        assert!(says(&out, s), "{name}: no `{s}` in:\n{out}");
    }
    assert_eq!(stored(&dir), Vec::<String>::new(), "{name}: {out}");
    assert!(!dir.join(".expc/out/copy").exists(), "{name}: the task ran");
}

fn bad_http_inputs_are_told_with_their_url_and_leave_nothing() {
    let server = HttpServer::start(&expc_tests::temp_path("remote", "bad-http"));
    std::fs::write(server.root.join("stations.csv"), CSV).unwrap();
    fails_cleanly(
        &server,
        "not-found",
        "nothing.csv",
        "",
        &["does not exist", "404"],
    );
    fails_cleanly(
        &server,
        "denied",
        "_deny/stations.csv",
        "",
        &["refused access", "403"],
    );
    // Asking again would not mend a 404 or a 403: each was asked once.
    let asked = |p: &str| server.requests().iter().filter(|r| r.ends_with(p)).count();
    assert_eq!(
        (asked("/nothing.csv"), asked("/_deny/stations.csv")),
        (1, 1)
    );
    let wrong = format!("  digest = \"sha256:{}\"", "0".repeat(64));
    fails_cleanly(
        &server,
        "mismatch",
        "stations.csv",
        &wrong,
        &[
            "does not match the digest",
            &sha256(CSV.as_bytes()),
            "update `digest`",
        ],
    );
    fails_cleanly(
        &server,
        "cut",
        "_cut/stations.csv",
        "",
        &["Nothing was kept"],
    );
    fails_cleanly(
        &server,
        "stall",
        "_stall/stations.csv",
        "",
        &["did not answer in time", "EXPC_FETCH_TIMEOUT"],
    );
    // Nothing listens on a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}/stations.csv");
    let dir = project("refused", &url, "");
    let out = failed(&expc(&dir, &["run", "fetch.exp"], &[]));
    assert!(says(&out, &url) && says(&out, "reachable"), "{out}");
    // A right digest is accepted.
    let dir = project(
        "pinned",
        &server.url("stations.csv"),
        &format!("  digest = \"sha256:{}\"", sha256(CSV.as_bytes())),
    );
    ok(&expc(&dir, &["run", "fetch.exp"], &[]));
    assert_eq!(copied(&dir), CSV);
}

fn a_transient_failure_is_retried() {
    let server = HttpServer::start(&expc_tests::temp_path("remote", "flaky"));
    std::fs::write(server.root.join("stations.csv"), CSV).unwrap();
    let dir = project("flaky", &server.url("_flaky/stations.csv"), "");
    ok(&expc(&dir, &["run", "fetch.exp"], &[]));
    assert_eq!(copied(&dir), CSV);
    assert_eq!(server.requests().len(), 3, "two 503s, then the file");
}

fn provenance_names_each_remote_inputs_url_etag_and_digest() {
    let server = HttpServer::start(&expc_tests::temp_path("remote", "prov-served"));
    std::fs::write(server.root.join("stations.csv"), CSV).unwrap();
    let url = server.url("stations.csv");
    let dir = project("prov", &url, "");
    ok(&expc(&dir, &["run", "fetch.exp"], &[]));
    let sha = format!("sha256:{}", sha256(CSV.as_bytes()));
    let etag = format!("\"{}\"", &sha256(CSV.as_bytes())[..16]);
    // In the store: the run's record of its remote inputs.
    let rows = expc_tests::query(
        &dir.join(".expc"),
        "SELECT json_extract(environment, '$.remote_inputs') AS r FROM runs",
    );
    let recorded = rows[0]["r"].as_str().unwrap().to_owned();
    for part in [&url, &sha, "stations", "\"size\":19"] {
        assert!(recorded.contains(part), "{part} not in {recorded}");
    }
    assert!(recorded.contains(&etag.replace('"', "\\\"")), "{recorded}");
    let license = "https://spdx.org/licenses/CC-BY-4.0";
    for (format, to) in [("prov-json", "prov"), ("ro-crate", "crate")] {
        let args = [
            "prov",
            "export",
            "latest",
            "--format",
            format,
            "-o",
            to,
            "--license",
            license,
        ];
        ok(&expc(&dir, &args, &[]));
    }
    let prov = std::fs::read_to_string(dir.join("prov/prov.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&prov).unwrap();
    let entity = doc["entity"]
        .as_object()
        .unwrap()
        .values()
        .find(|e| e["prov:location"] == url.as_str())
        .unwrap_or_else(|| panic!("no entity at {url}: {prov}"));
    assert_eq!(entity["expc:sha256"], sha.as_str());
    assert_eq!(entity["expc:etag"], etag.as_str());
    assert_eq!(entity["expc:name"], "stations");
    let crate_json = std::fs::read_to_string(dir.join("crate/ro-crate-metadata.json")).unwrap();
    assert!(
        crate_json.contains(&format!("\"contentUrl\": \"{url}\"")),
        "{crate_json}"
    );
    for (what, out) in [
        (
            "PROV-JSON",
            validate("scripts/validate-prov.py", &dir.join("prov/prov.json")),
        ),
        (
            "RO-Crate",
            validate("scripts/validate-rocrate.sh", &dir.join("crate")),
        ),
    ] {
        assert!(out.status.success(), "{what} rejected:\n{}", text(&out));
    }
}

fn validate(script: &str, what: &Path) -> Output {
    let runner = if script.ends_with(".py") {
        "python3"
    } else {
        "bash"
    };
    Command::new(runner)
        .arg(expc_tests::root().join(script))
        .arg(what)
        .output()
        .unwrap()
}

fn an_s3_input_is_fetched_with_credentials_that_are_never_recorded() {
    let s3 = S3Server::start();
    s3.put("rain", "radar/stations.csv", CSV.as_bytes());
    let dir = project("s3", "s3://rain/radar/stations.csv", "");
    let missing = failed(&expc(&dir, &["run", "fetch.exp"], &[]));
    assert!(
        says(&missing, "no S3 credentials") && says(&missing, "AWS_ACCESS_KEY_ID"),
        "{missing}"
    );
    let env = s3.env();
    let plan = ok(&expc(&dir, &["plan", "fetch.exp"], &env));
    assert!(
        plan.contains("(remote s3://rain/radar/stations.csv)"),
        "{plan}"
    );
    ok(&expc(&dir, &["lock", "fetch.exp"], &env));
    ok(&expc(&dir, &["run", "--locked", "fetch.exp"], &env));
    assert_eq!(copied(&dir), CSV);
    let lock = std::fs::read_to_string(dir.join("expc.lock")).unwrap();
    assert!(
        lock.contains("s3://rain/radar/stations.csv") && lock.contains("\"etag\""),
        "{lock}"
    );
    // No credential anywhere in what expc wrote.
    let grep = Command::new("grep")
        .args(["-rl", "--binary-files=text", SECRET_KEY])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&grep.stdout)
    );
}

fn bad_s3_inputs_are_told_with_their_url_and_leave_nothing() {
    let s3 = S3Server::start();
    s3.put("rain", "stations.csv", CSV.as_bytes());
    let env = s3.env();
    for (name, url, told) in [
        ("no-key", "s3://rain/other.csv", "does not exist"),
        ("no-bucket", "s3://snow/stations.csv", "bucket `snow`"),
    ] {
        let dir = project(name, url, "");
        let out = failed(&expc(&dir, &["run", "fetch.exp"], &env));
        assert!(says(&out, url) && says(&out, told), "{name}:\n{out}");
        assert_eq!(stored(&dir), Vec::<String>::new());
    }
}

/// Runs `git` in `dir`, as a test's author would.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn a_git_input_is_a_file_at_a_revision_pinned_by_its_commit() {
    let repo = expc_tests::temp_path("remote", "git-repo");
    std::fs::create_dir_all(repo.join("data")).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("data/stations.csv"), CSV).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    git(&repo, &["tag", "v1"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    let repo_url = format!("file://{}", repo.display());
    let source = |rev: &str| format!("git(\"{repo_url}\", \"{rev}\", \"data/stations.csv\")");
    let shown = format!("git+{repo_url}#main:data/stations.csv");
    let dir = project_reading("git", &source("main"), "");
    let plan = ok(&expc(&dir, &["plan", "fetch.exp"], &[]));
    assert!(plan.contains(&format!("(remote {shown})")), "{plan}");
    let locked = ok(&expc(&dir, &["lock", "fetch.exp"], &[]));
    assert!(says(&locked, "fetched"), "{locked}");
    let lock = std::fs::read_to_string(dir.join("expc.lock")).unwrap();
    assert!(
        lock.contains(&shown) && lock.contains(&first),
        "the commit is the version: {lock}"
    );
    ok(&expc(&dir, &["run", "--locked", "fetch.exp"], &[]));
    assert_eq!(copied(&dir), CSV);
    // The branch moves on: the store and the lock still give the locked bytes...
    let changed = "station,mm\na,7\n";
    std::fs::write(repo.join("data/stations.csv"), changed).unwrap();
    git(&repo, &["commit", "-q", "-am", "two"]);
    let again = ok(&expc(&dir, &["lock", "fetch.exp"], &[]));
    assert!(says(&again, "held"), "{again}");
    // ...and a refresh with --locked refuses the new ones, naming both digests.
    let refused = failed(&expc(
        &dir,
        &["run", "--locked", "--refresh", "fetch.exp"],
        &[],
    ));
    let (old, new) = (sha256(CSV.as_bytes()), sha256(changed.as_bytes()));
    assert!(
        says(&refused, &shown) && says(&refused, &old) && says(&refused, &new),
        "{refused}"
    );
    // A tag, and a commit, name what they named.
    for rev in ["v1", first.as_str()] {
        let dir = project_reading(&format!("git-{}", &rev[..2]), &source(rev), "");
        ok(&expc(&dir, &["run", "fetch.exp"], &[]));
        assert_eq!(copied(&dir), CSV, "{rev}");
    }
    // A revision or a file that is not there: the URL, what to do, nothing stored.
    for (name, rev, path, told) in [
        (
            "git-no-rev",
            "v9",
            "data/stations.csv",
            "is not a branch, tag or commit",
        ),
        (
            "git-no-file",
            "v1",
            "data/none.csv",
            "is not a file at `v1`",
        ),
    ] {
        let src = format!("git(\"{repo_url}\", \"{rev}\", \"{path}\")");
        let dir = project_reading(name, &src, "");
        let out = failed(&expc(&dir, &["run", "fetch.exp"], &[]));
        assert!(says(&out, &repo_url) && says(&out, told), "{name}:\n{out}");
        assert_eq!(stored(&dir), Vec::<String>::new(), "{name}");
    }
}
