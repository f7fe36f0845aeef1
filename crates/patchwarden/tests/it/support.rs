//! A booted server for a test (in-process, on its own runtime, atuin-style), an API client that
//! trusts only its CA, and the real agent binary.

use std::net::SocketAddr;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use patchwarden_server::{Config, Running};
use serde_json::{Value, json};

/// Which database a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub runtime: tokio::runtime::Runtime,
    pub running: Option<Running>,
    pub config: Config,
    pub data: tempfile::TempDir,
    pub url: String,
    pub api: Api,
    pub admin: String,
}

pub const PASSWORD: &str = "quartz lemon wardrobe 97";

impl TestServer {
    /// Starts a server, imports `feeds` first, and creates the first administrator through the
    /// one-time setup token.
    pub fn start(db: Db, listen: SocketAddr, names: Vec<String>, feeds: &[PathBuf]) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let database = match db {
            Db::Sqlite => None,
            Db::Postgres => Some(patchwarden_testkit::postgres::fresh_database()),
        };
        let config = Config {
            data_dir: data.path().to_owned(),
            database,
            listen,
            names,
            check_in_interval: 60,
            feed_sync_interval: 0,
            tls: None,
            policy: patchwarden_domain::policy::Policy::default(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        if !feeds.is_empty() {
            runtime.block_on(async {
                let store = patchwarden_server::open_store(&config).await.unwrap();
                patchwarden_server::import_feeds(
                    &store,
                    feeds,
                    &patchwarden_store::Audit {
                        actor: "test".into(),
                        at: patchwarden_server::clock::now(),
                    },
                )
                .await
                .unwrap();
                store.close().await;
            });
        }
        let running = runtime.block_on(patchwarden_server::start(config.clone())).unwrap();
        let url = format!("https://{}", running.addr);
        let api = Api::new(&url, &running.ca_pem);
        let setup = running.setup_token.clone().expect("a new server has a setup token");
        let created = api.call(
            "POST",
            "/api/v1/setup",
            None,
            Some(json!({"token": setup, "username": "admin", "password": PASSWORD})),
        );
        assert_eq!(created.0, 201, "{}", created.1);
        let admin = api.login("admin", PASSWORD);
        TestServer {
            runtime,
            running: Some(running),
            config,
            data,
            url,
            api,
            admin,
        }
    }

    pub fn fingerprint(&self) -> String {
        self.running.as_ref().unwrap().ca_fingerprint.clone()
    }

    pub fn store(&self) -> &patchwarden_store::Store {
        &self.running.as_ref().unwrap().store
    }

    /// Stops the server (the data directory stays).
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.stop());
        }
    }

    /// Starts it again on the same data and address.
    pub fn restart(&mut self) {
        self.stop();
        let running = self
            .runtime
            .block_on(patchwarden_server::start(self.config.clone()))
            .unwrap();
        assert!(
            running.setup_token.is_none(),
            "an administrator exists: no new setup token"
        );
        self.running = Some(running);
    }

    pub fn enrollment_token(&self, labels: Value) -> String {
        let (status, body) = self
            .api
            .call("POST", "/api/v1/enrollment-tokens", Some(&self.admin), Some(labels));
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// `enroll --server URL --token T --ca-fingerprint F` for this server.
    pub fn enroll_args(&self, token: &str) -> Vec<String> {
        [
            "enroll",
            "--server",
            &self.url,
            "--token",
            token,
            "--ca-fingerprint",
            &self.fingerprint(),
        ]
        .map(String::from)
        .to_vec()
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A JSON client trusting only the server's CA.
#[derive(Clone)]
pub struct Api {
    agent: ureq::Agent,
    url: String,
}

impl Api {
    pub fn new(url: &str, ca_pem: &str) -> Api {
        Api {
            agent: patchwarden_testkit::https_client(ca_pem),
            url: url.to_owned(),
        }
    }

    /// Sends raw bytes with headers; returns the status and the JSON answer.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Value) {
        let mut request = self.agent.request(method, &format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let response = match if method == "GET" {
            request.call()
        } else {
            request.send_bytes(body)
        } {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let text = response.into_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.raw(method, path, token, &[("Content-Type", "application/json")], &bytes)
    }

    pub fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.call("GET", path, Some(token), None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self.call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": username, "password": password})),
        );
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}

/// The agent binary, built beside `patchwarden` by `cargo test --workspace`.
pub fn agent_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_patchwarden")).with_file_name("patchwarden-agent");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// Runs the agent with a state directory and root.
pub fn agent(state: &Path, root: &Path, args: &[&str]) -> Output {
    Command::new(agent_binary())
        .arg("--state-dir")
        .arg(state)
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

/// A root directory holding a host's package records and os-release.
pub fn host_root(dir: &Path, os_release: &str, records: &[(&str, &Path)]) -> PathBuf {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/os-release"), os_release).unwrap();
    std::fs::write(dir.join("etc/machine-id"), "0123456789abcdef0123456789abcdef\n").unwrap();
    for (relative, source) in records {
        let target = dir.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(source, target).unwrap();
    }
    dir.to_owned()
}

pub const DEBIAN12: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";
pub const UBUNTU2004: &str = "NAME=\"Ubuntu\"\nVERSION=\"20.04 LTS (Focal Fossa)\"\nID=ubuntu\nVERSION_ID=\"20.04\"\n";
pub const CENTOS8: &str = "NAME=\"CentOS Linux\"\nID=\"centos\"\nVERSION_ID=\"8\"\n";
pub const ALPINE: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.18.4\n";

// ---- network namespaces ----

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bridge on the test machine and namespaces hanging off it; removed when dropped.
pub struct Network {
    pub bridge: String,
    pub namespaces: Vec<String>,
    pub subnet: String,
}

impl Network {
    pub fn new(tag: u8, hosts: usize) -> Network {
        let id = std::process::id() % 1000;
        let subnet = format!("10.77.{tag}");
        let bridge = format!("pwbr{tag}x{id}");
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let mut network = Network {
            bridge,
            namespaces: Vec::new(),
            subnet,
        };
        for i in 0..hosts {
            let ns = format!("pw{tag}n{i}x{id}");
            let (host_end, ns_end) = (format!("pw{tag}h{i}x{id}"), format!("pw{tag}v{i}x{id}"));
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
            ip(&["netns", "add", &ns]);
            network.namespaces.push(ns.clone());
            ip(&["link", "add", &host_end, "type", "veth", "peer", "name", &ns_end]);
            ip(&["link", "set", &host_end, "master", &network.bridge, "up"]);
            ip(&["link", "set", &ns_end, "netns", &ns]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}.{}/24", network.subnet, 10 + i),
                "dev",
                &ns_end,
            ]);
            ip(&["-n", &ns, "link", "set", &ns_end, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        network
    }

    pub fn address(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 10 + i)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).output();
    }
}

// ---- an OpenLDAP directory ----

/// The directory administrator's password in test directories.
pub const LDAP_PASSWORD: &str = "directory secret 42";

/// A test schema with the Active Directory names the sync reads: `computer` and `dNSHostName`.
const SCHEMA: &str = "attributetype ( 1.3.6.1.4.1.99999.1.1 NAME 'dNSHostName' EQUALITY caseIgnoreMatch \
    SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )\n\
    objectclass ( 1.3.6.1.4.1.99999.2.1 NAME 'computer' SUP top STRUCTURAL MUST cn MAY ( dNSHostName $ description ) )\n";

pub struct Slapd {
    pub child: Child,
    pub url: String,
    pub ca_pem: String,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts slapd on a loopback port with StartTLS, its certificate from a CA made for the test.
pub fn slapd(dir: &Path, seed: &str) -> Slapd {
    let tls = dir.join("tls");
    patchwarden_server::tls::load_or_create(&tls, &["127.0.0.1".to_owned()]).unwrap();
    std::fs::write(dir.join("test.schema"), SCHEMA).unwrap();
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let conf = dir.join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include {dir}/test.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             pidfile {dir}/slapd.pid\n\
             TLSCACertificateFile {tls}/ca.pem\nTLSCertificateFile {tls}/server.pem\nTLSCertificateKeyFile {tls}/server.key\n\
             database mdb\nmaxsize 10485760\nsuffix \"dc=example,dc=org\"\nrootdn \"cn=admin,dc=example,dc=org\"\n\
             rootpw \"{LDAP_PASSWORD}\"\ndirectory {dir}/db\n",
            dir = dir.display(),
            tls = tls.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("seed.ldif"), seed).unwrap();
    let seeded = Command::new("slapadd")
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(dir.join("seed.ldif"))
        .output()
        .unwrap();
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ldap://127.0.0.1:{port}");
    // `-d 0` keeps slapd in the foreground, a child the test can stop.
    let child = Command::new("slapd")
        .arg("-f")
        .arg(&conf)
        .args(["-h", &format!("{url}/"), "-d", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "slapd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Slapd {
        child,
        url,
        ca_pem: std::fs::read_to_string(tls.join("ca.pem")).unwrap(),
    }
}
