//! The end-to-end fleet: four hosts, each a network namespace with its own address and hostname and
//! its own package records made from the real inventories (Debian 12, Ubuntu 20.04, CentOS 8 as
//! AlmaLinux 8 from its real rpm database, Alpine), each running the real agent binary against the
//! real server over HTTPS. The server's findings for each host equal `patchwarden assess` on the same
//! inventory. Run on SQLite and on PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::shared;
use crate::support::{ALPINE, CENTOS8, DEBIAN12, Db, Network, TestServer, UBUNTU2004, agent_binary, host_root};

struct Host {
    name: &'static str,
    os: &'static str,
    root: PathBuf,
    extra: Vec<String>,
    /// The inventory and format `patchwarden assess` reads for the same host.
    inventory: PathBuf,
    format: &'static str,
}

fn rpmdb() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/testdata/go-rpmdb/usr/share/gocode/src/github.com/knqyf263/go-rpmdb/pkg/testdata/centos8-modularitylabel");
    assert!(
        dir.join("Packages").exists(),
        "{} is missing: run `bash .ci/setup`",
        dir.display()
    );
    dir
}

fn hosts(dir: &Path) -> Vec<Host> {
    let inventory = |name: &str| shared(&format!("inventories/{name}"));
    vec![
        Host {
            name: "deb12-web",
            os: "Debian:12",
            root: host_root(
                &dir.join("deb12"),
                DEBIAN12,
                &[("var/lib/dpkg/status", &inventory("debian12.dpkg-status"))],
            ),
            extra: vec![],
            inventory: inventory("debian12.dpkg-status"),
            format: "dpkg-status",
        },
        Host {
            name: "focal-kiosk",
            os: "Ubuntu:20.04:LTS",
            root: host_root(
                &dir.join("focal"),
                UBUNTU2004,
                &[("var/lib/dpkg/status", &inventory("ubuntu20.04-armhf.dpkg-status"))],
            ),
            extra: vec![],
            inventory: inventory("ubuntu20.04-armhf.dpkg-status"),
            format: "dpkg-status",
        },
        Host {
            name: "centos8-db",
            os: "AlmaLinux:8",
            root: host_root(&dir.join("centos8"), CENTOS8, &[]),
            extra: vec![
                "--rpm-dbpath".into(),
                rpmdb().display().to_string(),
                "--rpm-berkeley-db".into(),
            ],
            inventory: inventory("rpm-qa.centos8-modularitylabel.tsv"),
            format: "rpm-qa",
        },
        Host {
            name: "alpine-edge",
            os: "Alpine:v3.18",
            root: host_root(
                &dir.join("alpine"),
                ALPINE,
                &[("lib/apk/db/installed", &inventory("alpine.apk-installed"))],
            ),
            extra: vec![],
            inventory: inventory("alpine.apk-installed"),
            format: "apk",
        },
    ]
}

/// Runs the agent inside a namespace, under its own hostname.
fn agent_in(ns: &str, hostname: &str, state: &Path, host: &Host, args: &[&str]) -> std::process::Output {
    let mut command = vec![
        agent_binary().display().to_string(),
        "--state-dir".into(),
        state.display().to_string(),
        "--root".into(),
        host.root.display().to_string(),
    ];
    command.extend(host.extra.iter().cloned());
    command.extend(args.iter().map(|a| (*a).to_owned()));
    let script = format!("hostname {hostname} && exec \"$@\"");
    Command::new("ip")
        .args(["netns", "exec", ns, "unshare", "--uts", "sh", "-c", &script, "agent"])
        .args(&command)
        .output()
        .unwrap()
}

fn key(f: &Value) -> (String, String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (s(&f["package"]), s(&f["advisory"]), s(&f["installed"]), s(&f["fixed"]))
}

fn fleet(db: Db, tag: u8) {
    let network = Network::new(tag, 4);
    let feeds = [
        shared("advisories/debian/bookworm-security_main_binary-amd64_Packages"),
        shared("advisories/osv/Ubuntu"),
        shared("advisories/osv/AlmaLinux/all.zip"),
        shared("advisories/kev/known_exploited_vulnerabilities.json"),
    ];
    let gateway = format!("{}.1", network.subnet);
    let server = TestServer::start(db, format!("{gateway}:0").parse().unwrap(), vec![gateway], &feeds);
    let token = server.enrollment_token(json!({"uses": 4, "department": "Operations", "environment": "production"}));
    let dir = tempfile::tempdir().unwrap();
    let hosts = hosts(dir.path());
    // The Debian host is joined to a directory domain (SSSD).
    std::fs::create_dir_all(hosts[0].root.join("etc/sssd")).unwrap();
    std::fs::write(
        hosts[0].root.join("etc/sssd/sssd.conf"),
        "[sssd]\ndomains = corp.example.org\nservices = nss, pam\n",
    )
    .unwrap();
    for (i, host) in hosts.iter().enumerate() {
        let state = dir.path().join(format!("state-{i}"));
        let ns = &network.namespaces[i];
        let enrolled = agent_in(
            ns,
            host.name,
            &state,
            host,
            &server
                .enroll_args(&token)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        assert!(
            enrolled.status.success(),
            "{}: {}",
            host.name,
            String::from_utf8_lossy(&enrolled.stderr)
        );
        let ran = agent_in(ns, host.name, &state, host, &["run", "--once"]);
        assert!(
            ran.status.success(),
            "{}: {}",
            host.name,
            String::from_utf8_lossy(&ran.stderr)
        );
    }

    let listed = server.api.get("/api/v1/hosts", &server.admin);
    assert_eq!(listed["hosts"].as_array().unwrap().len(), 4);
    let kev = shared("advisories/kev/known_exploited_vulnerabilities.json")
        .display()
        .to_string();
    for (i, host) in hosts.iter().enumerate() {
        let found = server
            .api
            .get(&format!("/api/v1/hosts?name={}", host.name), &server.admin);
        let row = &found["hosts"][0];
        assert_eq!(row["os"], host.os, "{}", host.name);
        assert_eq!(row["department"], "Operations");
        assert!(
            row["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["ip"] == network.address(i)),
            "{row}"
        );
        let detail = server
            .api
            .get(&format!("/api/v1/hosts/{}", row["id"].as_str().unwrap()), &server.admin);
        if i == 0 {
            assert_eq!(detail["domain"], "corp.example.org");
        }
        assert_eq!(detail["machine_id"], "0123456789abcdef0123456789abcdef");
        let mut ours: Vec<_> = detail["missing"].as_array().unwrap().iter().map(key).collect();
        ours.sort();

        let mut args = vec!["--inventory-format", host.format, "--kev", &kev];
        let advisories: Vec<String> = feeds[..3].iter().map(|p| p.display().to_string()).collect();
        for a in &advisories {
            args.extend(["--advisories", a.as_str()]);
        }
        let assessed = crate::assess(
            &host.inventory.display().to_string(),
            host.os,
            &advisories[0],
            &args[..],
        );
        let mut expected: Vec<_> = assessed["findings"].as_array().unwrap().iter().map(key).collect();
        expected.sort();
        assert_eq!(
            ours, expected,
            "{}: server findings differ from `patchwarden assess`",
            host.name
        );
        assert_eq!(
            detail["software"].as_array().unwrap().len() as u64,
            assessed["host"]["packages"].as_u64().unwrap()
        );
        if host.os != "Alpine:v3.18" {
            assert!(!ours.is_empty(), "{} misses patches", host.name);
        }
    }

    // §7.2.1: an IP range selects exactly the hosts in it.
    let range = format!("{}-{}", network.address(0), network.address(1));
    let selected = server.api.get(&format!("/api/v1/hosts?ip={range}"), &server.admin);
    let mut names: Vec<&str> = selected["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["deb12-web", "focal-kiosk"]);
    // The selector language: an address range, less a name glob.
    let select = format!("ip:{range} -name:focal-*")
        .replace(' ', "%20")
        .replace(':', "%3A")
        .replace('*', "%2A");
    let selected = server.api.get(&format!("/api/v1/hosts?select={select}"), &server.admin);
    let names: Vec<&str> = selected["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["deb12-web"]);
    let (status, body) = server
        .api
        .call("GET", "/api/v1/hosts?select=colour%3Ablue", Some(&server.admin), None);
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("column 1: unknown key"),
        "{body}"
    );
    let missing = server.api.get("/api/v1/hosts?missing=true", &server.admin);
    assert_eq!(
        missing["hosts"].as_array().unwrap().len(),
        3,
        "all but the Alpine host miss patches"
    );
    let patches = server.api.get("/api/v1/patches", &server.admin);
    assert!(
        patches["patches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kev"] == true && p["hosts"].as_u64() >= Some(1))
    );
}

#[test]
fn fleet_on_sqlite() {
    fleet(Db::Sqlite, 1);
}

#[test]
fn fleet_on_postgres() {
    fleet(Db::Postgres, 2);
}
