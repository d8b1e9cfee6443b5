//! Servers for the remote-input tests, started on 127.0.0.1 with a free port and stopped
//! when dropped: a small HTTP file server (`http_server.py`: ETags, conditional requests,
//! a request log, and paths that misbehave on purpose) and a real S3 server, `moto` in
//! server mode (`scripts/install-s3.sh`), filled through a real S3 client (boto3).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test HTTP server, serving the files of a folder.
#[derive(Debug)]
pub struct HttpServer {
    child: Child,
    pub port: u16,
    pub root: PathBuf,
    log: PathBuf,
}

impl HttpServer {
    /// Serves `root`, logging requests to `root/../requests.log`.
    pub fn start(root: &Path) -> HttpServer {
        std::fs::create_dir_all(root).unwrap();
        let log = root.with_extension("requests.log");
        std::fs::write(&log, "").unwrap();
        let mut child = Command::new("python3")
            .arg(crate::root().join("tests/support/http_server.py"))
            .arg(root)
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the test HTTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        HttpServer {
            child,
            port,
            root: root.to_path_buf(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// The requests made so far, one `METHOD PATH` each.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `moto` S3 server.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    pub endpoint: String,
}

/// The credentials the tests give the S3 server (moto accepts any).
pub const ACCESS_KEY: &str = "AKIAEXPCTESTKEY00001";
pub const SECRET_KEY: &str = "expc-test-secret-never-recorded-0001";

impl S3Server {
    pub fn start() -> S3Server {
        let mut child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs moto's server");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut endpoint = None;
        for line in stderr.lines() {
            let line = line.unwrap();
            if let Some(at) = line.find("http://127.0.0.1:") {
                endpoint = Some(line[at..].trim().to_owned());
                break;
            }
        }
        let endpoint = endpoint.expect("moto prints where it listens");
        let server = S3Server { child, endpoint };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while std::net::TcpStream::connect(self.endpoint.trim_start_matches("http://")).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The environment a client of this server reads (as the AWS tools do).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
    }

    /// Creates `bucket` (if need be) and puts `bytes` at `key`, through boto3.
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let script = "import sys, boto3\n\
            s3 = boto3.client('s3')\n\
            b, k = sys.argv[1], sys.argv[2]\n\
            if b not in [x['Name'] for x in s3.list_buckets().get('Buckets', [])]:\n    s3.create_bucket(Bucket=b)\n\
            s3.put_object(Bucket=b, Key=k, Body=sys.stdin.buffer.read())\n";
        let mut cmd = Command::new("python3");
        cmd.args(["-c", script, bucket, key]).stdin(Stdio::piped());
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        assert!(
            child.wait().unwrap().success(),
            "boto3 put s3://{bucket}/{key}"
        );
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
