//! Driving a real `patchwarden serve` process from benchmarks.

// A benchmark that cannot run should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use serde_json::Value;

/// A `patchwarden serve` child process on a loopback port, with a fresh data directory.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    pub url: String,
    pub setup_token: String,
    pub data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server binary; `database` is a PostgreSQL URL, SQLite by default; `imports` are
/// advisory files loaded at start.
pub fn start_server(binary: &Path, database: Option<&str>, imports: &[&Path]) -> anyhow::Result<Server> {
    let data = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut command = Command::new(binary);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path());
    if let Some(url) = database {
        command.args(["--database", url]);
    }
    for import in imports {
        command.arg("--import").arg(import);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut url = String::new();
    while let Some(Ok(line)) = lines.next() {
        if let Some(u) = line.strip_prefix("patchwarden listening on ") {
            url = u.to_owned();
        }
        if line.contains("CA fingerprint") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    if url.is_empty() {
        bail!("the server did not start");
    }
    let setup_token = std::fs::read_to_string(data.path().join("setup-token"))?
        .trim()
        .to_owned();
    Ok(Server {
        child,
        url,
        setup_token,
        data,
    })
}

/// An HTTPS client trusting only the server's CA.
pub fn client(ca: &Path) -> ureq::Agent {
    patchwarden_testkit::https_client(&std::fs::read_to_string(ca).unwrap())
}

/// POSTs JSON and returns the JSON answer; panics on an error status.
pub fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &Value) -> Value {
    let mut request = agent.post(url);
    if let Some(t) = token {
        request = request.set("Authorization", &format!("Bearer {t}"));
    }
    match request.send_json(body) {
        Ok(r) => r.into_json().unwrap(),
        Err(ureq::Error::Status(code, r)) => {
            panic!("{url}: {code} {}", r.into_string().unwrap_or_default())
        }
        Err(e) => panic!("{url}: {e}"),
    }
}

impl Server {
    /// Creates the first administrator through the setup token, logs in, and makes an enrollment
    /// token for `hosts` hosts. Returns the client, the administrator's token and the enrollment
    /// token.
    pub fn bootstrap(&self, hosts: usize) -> (ureq::Agent, String, String) {
        let http = client(&self.data.path().join("tls/ca.pem"));
        let url = &self.url;
        let password = "quartz lemon wardrobe 97";
        post(
            &http,
            &format!("{url}/api/v1/setup"),
            None,
            &serde_json::json!({"token": self.setup_token, "username": "bench", "password": password}),
        );
        let login = post(
            &http,
            &format!("{url}/api/v1/sessions"),
            None,
            &serde_json::json!({"username": "bench", "password": password}),
        );
        let admin = login["token"].as_str().unwrap().to_owned();
        let enrollment = post(
            &http,
            &format!("{url}/api/v1/enrollment-tokens"),
            Some(&admin),
            &serde_json::json!({"uses": hosts}),
        );
        let token = enrollment["token"].as_str().unwrap().to_owned();
        (http, admin, token)
    }
}
