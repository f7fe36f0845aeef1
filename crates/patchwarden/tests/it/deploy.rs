//! Deployment end to end (§7.3, §10–§13): a local apt repository built in the test with `dpkg-deb`
//! and `dpkg-scanpackages` holds old and fixed versions of two test packages; each host is a network
//! namespace with its own address and host name, a sandbox root with a real dpkg database, and the
//! real agent binary talking HTTPS to the real server; two of them are computers in a nested group
//! of a real OpenLDAP directory. A change targeted by "an IP range, plus an LDAP group, minus a
//! name" reaches exactly those hosts. It is approved by the change manager (never by its
//! requester), goes to the test ring first, is signed off, then goes to production in waves; the
//! agents install through apt, later inventories show the fixed versions, and the change closes as
//! verified. A package whose maintainer script fails is reported failed with its output, is retried,
//! and the rollout pauses at its threshold without touching anything else.

use std::path::{Path, PathBuf};
use std::process::Command;

use patchwarden_agent::adapters::apt::{Apt, Target};
use serde_json::{Value, json};

use crate::support::{DEBIAN12, Db, LDAP_PASSWORD, Network, PASSWORD, TestServer, agent_binary, slapd};

/// The directory: pw-prod-3 and pw-prod-9 are in ward-pcs, which is inside clinical.
const DIRECTORY: &str = "dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=computers,dc=example,dc=org
objectClass: organizationalUnit
ou: computers

dn: cn=pw-prod-3,ou=computers,dc=example,dc=org
objectClass: computer
cn: pw-prod-3

dn: cn=pw-prod-9,ou=computers,dc=example,dc=org
objectClass: computer
cn: pw-prod-9

dn: cn=ward-pcs,ou=computers,dc=example,dc=org
objectClass: groupOfNames
cn: ward-pcs
member: cn=pw-prod-3,ou=computers,dc=example,dc=org
member: cn=pw-prod-9,ou=computers,dc=example,dc=org

dn: cn=clinical,ou=computers,dc=example,dc=org
objectClass: groupOfNames
cn: clinical
member: cn=ward-pcs,ou=computers,dc=example,dc=org
";

/// Builds `name_version_all.deb` into `out`; with `fails`, its postinst fails.
fn build_deb(dir: &Path, out: &Path, name: &str, version: &str, fails: bool) -> PathBuf {
    let tree = dir.join(format!("build/{name}_{version}"));
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(tree.join(format!("usr/share/doc/{name}"))).unwrap();
    std::fs::write(tree.join(format!("usr/share/doc/{name}/VERSION")), version).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: Patchwarden Tests <tests@example.org>\n\
             Description: a package for deployment tests\n"
        ),
    )
    .unwrap();
    if fails {
        let postinst = tree.join("DEBIAN/postinst");
        std::fs::write(
            &postinst,
            "#!/bin/sh\necho 'pw-broken: the configuration step failed on purpose' >&2\nexit 1\n",
        )
        .unwrap();
        Command::new("chmod").arg("755").arg(&postinst).status().unwrap();
    }
    let deb = out.join(format!("{name}_{version}_all.deb"));
    let built = Command::new("dpkg-deb")
        .args(["-b", "--root-owner-group"])
        .arg(&tree)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    deb
}

/// Builds the repository: pw-demo 1.0-1 and 1.0-2, pw-broken 1.0-1 and 1.0-2 (whose postinst
/// fails). pw-demo 1.0-3 is built outside it, for the server's patch store.
fn repository(dir: &Path) -> (PathBuf, PathBuf) {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for (name, version, fails) in [
        ("pw-demo", "1.0-1", false),
        ("pw-demo", "1.0-2", false),
        ("pw-broken", "1.0-1", false),
        ("pw-broken", "1.0-2", true),
    ] {
        build_deb(dir, &repo, name, version, fails);
    }
    let index = Command::new("dpkg-scanpackages")
        .args(["-m", ".", "/dev/null"])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(index.status.success(), "{}", String::from_utf8_lossy(&index.stderr));
    std::fs::write(repo.join("Packages"), index.stdout).unwrap();
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let patch = build_deb(dir, &outside, "pw-demo", "1.0-3", false);
    (repo, patch)
}

/// A Debian 12 sandbox root whose apt reads only the test repository, with the old versions
/// installed by apt itself.
fn sandbox(dir: &Path, name: &str, repo: &Path) -> PathBuf {
    let root = dir.join(name);
    for d in [
        "var/lib/dpkg/updates",
        "var/lib/dpkg/info",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/log",
        "etc/apt/sources.list.d",
        "etc/apt/preferences.d",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    // dpkg runs maintainer scripts chrooted into the root: give it a shell there (dash and the
    // libraries `ldd` names).
    let ldd = Command::new("ldd").arg("/bin/dash").output().unwrap();
    let mut files = vec![PathBuf::from("/bin/dash")];
    files.extend(
        String::from_utf8_lossy(&ldd.stdout)
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
            .map(PathBuf::from),
    );
    for file in files {
        let target = root.join(file.strip_prefix("/").unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
    std::os::unix::fs::symlink("dash", root.join("bin/sh")).unwrap();
    std::fs::write(
        root.join("etc/apt/sources.list"),
        format!("deb [trusted=yes] file:{} ./\n", repo.display()),
    )
    .unwrap();
    std::fs::write(root.join("etc/os-release"), DEBIAN12).unwrap();
    std::fs::write(root.join("etc/machine-id"), format!("{:0>32}\n", name.replace('-', ""))).unwrap();
    let installed = Apt::new(&root).install(&[
        Target::Version {
            package: "pw-demo".into(),
            version: "1.0-1".into(),
        },
        Target::Version {
            package: "pw-broken".into(),
            version: "1.0-1".into(),
        },
    ]);
    assert_eq!(installed.status, "succeeded", "{}", installed.output);
    root
}

/// Acts on a change as the holder of `token`: submit, approve, release…
fn change_action(api: &crate::support::Api, token: &str, change: &str, action: &str) -> (u16, Value) {
    api.call(
        "POST",
        &format!("/api/v1/changes/{change}/actions"),
        Some(token),
        Some(json!({"action": action})),
    )
}

/// Runs the agent as host `name` inside its network namespace, under its own host name.
fn agent_in(ns: &str, name: &str, state: &Path, root: &Path, args: &[&str]) -> std::process::Output {
    agent_in_env(ns, name, state, root, args, &[])
}

fn agent_in_env(
    ns: &str,
    name: &str,
    state: &Path,
    root: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
) -> std::process::Output {
    let mut command = Command::new("ip");
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .args(["netns", "exec", ns, "unshare", "--uts", "sh", "-c"])
        .arg(format!("hostname {name} && exec \"$0\" \"$@\""))
        .arg(agent_binary())
        .arg("--state-dir")
        .arg(state)
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn installed(root: &Path, package: &str) -> String {
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}/var/lib/dpkg", root.display()))
        .args(["-W", "-f", "${Version}", package])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Host {
    name: &'static str,
    ns: String,
    state: PathBuf,
    root: PathBuf,
    /// `HOME` for the agent and the package managers it runs (rpm reads `~/.rpmmacros`).
    home: Option<PathBuf>,
}

impl Host {
    fn run(&self) -> std::process::Output {
        let env: Vec<(&str, &Path)> = self.home.iter().map(|h| ("HOME", h.as_path())).collect();
        let out = agent_in_env(&self.ns, self.name, &self.state, &self.root, &["run", "--once"], &env);
        assert!(
            out.status.success(),
            "{}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn advisory(id: &str, package: &str, fixed: &str) -> Value {
    json!({"id": id, "modified": "2026-12-01T09:00:00Z", "published": "2026-12-01T09:00:00Z",
           "summary": format!("{package}: security fix"), "aliases": [],
           "affected": [{"package": {"ecosystem": "Debian:12", "name": package},
                         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]})
}

#[test]
fn a_change_goes_through_the_test_ring_and_production_waves_and_closes_verified() {
    let dir = patchwarden_testkit::tempdir();
    let (repo, patch_file) = repository(dir.path());
    let feeds = dir.path().join("feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    std::fs::write(
        feeds.join("PW-2026-0001.json"),
        advisory("PW-2026-0001", "pw-demo", "1.0-2").to_string(),
    )
    .unwrap();
    std::fs::write(
        feeds.join("PW-2026-0002.json"),
        advisory("PW-2026-0002", "pw-broken", "1.0-2").to_string(),
    )
    .unwrap();
    std::fs::write(
        feeds.join("PW-2026-0003.json"),
        advisory("PW-2026-0003", "pw-demo", "1.0-3").to_string(),
    )
    .unwrap();
    let network = Network::new(5, 5);
    let gateway = format!("{}.1", network.subnet);
    let server = TestServer::start(
        Db::Sqlite,
        format!("{gateway}:0").parse().unwrap(),
        vec![gateway],
        &[feeds],
    );
    let api = &server.api;
    let ldap = slapd(&dir.path().join("ldap"), DIRECTORY);

    let mut hosts = Vec::new();
    for (i, (name, environment)) in [
        ("pw-test-1", "test"),
        ("pw-prod-1", "production"),
        ("pw-prod-2", "production"),
        ("pw-prod-3", "production"),
        ("pw-prod-9", "production"),
    ]
    .into_iter()
    .enumerate()
    {
        let ns = network.namespaces[i].clone();
        let root = sandbox(dir.path(), name, &repo);
        let state = dir.path().join(format!("{name}-state"));
        let token = server.enrollment_token(
            json!({"department": "Operations", "platform_class": "desktop", "environment": environment}),
        );
        let args = server.enroll_args(&token);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = agent_in(&ns, name, &state, &root, &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let host = Host {
            name,
            ns,
            state,
            root,
            home: None,
        };
        host.run();
        hosts.push(host);
    }
    let missing = api.get("/api/v1/hosts?missing=true", &server.admin);
    assert_eq!(missing["hosts"].as_array().unwrap().len(), 5, "{missing}");
    let (status, synced) = api.call(
        "PUT",
        "/api/v1/directory",
        Some(&server.admin),
        Some(
            json!({"url": ldap.url, "starttls": true, "ca_pem": ldap.ca_pem, "bind_dn": "cn=admin,dc=example,dc=org",
                    "bind_password": LDAP_PASSWORD, "base_dn": "dc=example,dc=org"}),
        ),
    );
    assert_eq!(
        (status, synced["sync"]["hosts_mapped"].as_u64()),
        (200, Some(2)),
        "{synced}"
    );
    // The first three addresses, plus the clinical group (pw-prod-3, and pw-prod-9 through
    // ward-pcs), minus pw-prod-9.
    let selector = format!(
        "ip:{}-{} +group:clinical -name:pw-prod-9",
        network.address(0),
        network.address(2)
    );

    let mut token = std::collections::HashMap::new();
    for (user, role) in [("mike", "operator"), ("carol", "change_manager"), ("sam", "security")] {
        let made = api.call(
            "POST",
            "/api/v1/users",
            Some(&server.admin),
            Some(json!({"username": user, "password": PASSWORD, "role": role})),
        );
        assert_eq!(made.0, 201, "{}", made.1);
        token.insert(user, api.login(user, PASSWORD));
    }
    let (status, change) = api.call(
        "POST",
        "/api/v1/changes",
        Some(&token["mike"]),
        Some(json!({"title": "pw-demo security fix", "patches": ["PW-2026-0001"],
                    "selector": selector,
                    "waves": [0.3, 1.0], "notice": "pw-demo is updated tonight; no reboot is needed."})),
    );
    assert_eq!(status, 201, "{change}");
    let id = change["id"].as_str().unwrap().to_owned();
    let act = |who: &str, action: &str| change_action(api, &token[who], &id, action);
    let show = || api.get(&format!("/api/v1/changes/{id}"), &server.admin);
    assert_eq!(act("mike", "submit").0, 200);
    let (status, refused) = act("mike", "approve");
    assert_eq!(status, 403, "approving your own change: {refused}");
    assert!(
        refused["error"]["message"].as_str().unwrap().contains("cannot approve"),
        "{refused}"
    );
    assert_eq!(act("carol", "approve").1["state"], "approved");
    assert_eq!(act("mike", "start_testing").1["state"], "testing");
    let jobs = show()["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 1, "only the test ring: {jobs:?}");

    // Production hosts get nothing yet; the test host installs and reports.
    hosts[1].run();
    assert_eq!(installed(&hosts[1].root, "pw-demo"), "1.0-1");
    hosts[0].run();
    assert_eq!(installed(&hosts[0].root, "pw-demo"), "1.0-2");
    assert_eq!(
        installed(&hosts[0].root, "pw-broken"),
        "1.0-1",
        "nothing else is touched"
    );
    assert_eq!(show()["jobs"][0]["state"], "verified", "the new inventory verified it");

    // Release needs the test ring's sign-off.
    let (status, refused) = act("mike", "release");
    assert_eq!(status, 403, "{refused}");
    let (status, _) = api.call(
        "POST",
        &format!("/api/v1/changes/{id}/tests"),
        Some(&token["mike"]),
        Some(json!({"platform_class": "desktop", "image": "debian-12-desktop", "passed": true, "notes": "ward app starts"})),
    );
    assert_eq!(status, 201);
    let released = act("mike", "release").1;
    assert_eq!(
        (released["state"].as_str(), released["open_wave"].as_i64()),
        (Some("released"), Some(1))
    );
    let production: Vec<Value> = show()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["ring"] == "production")
        .cloned()
        .collect();
    assert_eq!(production.len(), 3, "pw-prod-9 is excluded: {production:?}");
    assert_eq!(production.iter().filter(|j| j["wave"] == 1).count(), 1);

    // Wave 1 (pw-prod-1) first; the others wait until it succeeded.
    hosts[2].run();
    assert_eq!(installed(&hosts[2].root, "pw-demo"), "1.0-1", "wave 2 waits");
    hosts[1].run();
    assert_eq!(installed(&hosts[1].root, "pw-demo"), "1.0-2");
    assert_eq!(show()["open_wave"], 2);
    // The owner of the ward application, which runs on pw-prod-2, reports a problem: the change
    // is held there (§10.6); operators are told; elsewhere it goes on.
    let (status, _) = api.call(
        "POST",
        "/api/v1/users",
        Some(&server.admin),
        Some(json!({"username": "olivia", "password": PASSWORD, "role": "application_owner"})),
    );
    assert_eq!(status, 201);
    let olivia = api.login("olivia", PASSWORD);
    let (status, _) = api.call(
        "PUT",
        "/api/v1/applications/ward-app",
        Some(&server.admin),
        Some(json!({"owner": "olivia", "selector": "name:pw-prod-2"})),
    );
    assert_eq!(status, 200);
    let (status, problem) = api.call(
        "POST",
        &format!("/api/v1/changes/{id}/problems"),
        Some(&olivia),
        Some(json!({"application": "ward-app", "description": "the ward app will not start with pw-demo 1.0-2"})),
    );
    assert_eq!(status, 201, "{problem}");
    hosts[2].run();
    hosts[3].run();
    hosts[4].run();
    assert_eq!(
        installed(&hosts[2].root, "pw-demo"),
        "1.0-1",
        "held by the problem report"
    );
    assert_eq!(installed(&hosts[3].root, "pw-demo"), "1.0-2");
    assert_eq!(show()["state"], "released", "not done while a host is held");
    let told = api.get("/api/v1/notifications", &token["mike"]);
    assert!(
        told["notifications"][0]["message"].as_str().unwrap().contains("held"),
        "{told}"
    );
    let (status, _) = api.call(
        "POST",
        &format!(
            "/api/v1/changes/{id}/problems/{}/resolve",
            problem["id"].as_str().unwrap()
        ),
        Some(&olivia),
        None,
    );
    assert_eq!(status, 200);
    hosts[2].run();
    assert_eq!(installed(&hosts[2].root, "pw-demo"), "1.0-2");
    assert_eq!(installed(&hosts[3].root, "pw-demo"), "1.0-2");
    assert_eq!(
        installed(&hosts[4].root, "pw-demo"),
        "1.0-1",
        "excluded by the selector"
    );
    let done = show();
    assert_eq!(done["state"], "closed", "{done}");
    assert!(
        done["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["state"] == "verified")
    );
    let applied = api.get(&format!("/api/v1/jobs?change={id}&state=applied"), &server.admin);
    assert_eq!(applied["jobs"].as_array().unwrap().len(), 4);
    // The same list from the command line, on the server machine.
    let data = server.data.path().display().to_string();
    let out = crate::patchwarden(&["jobs", "--data-dir", &data, "--change", &id, "--applied", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(
        lines
            .iter()
            .all(|l| l["state"] == "verified" && l["items"][0]["package"] == "pw-demo")
    );

    // The post-patch audit scan (§13.1): every targeted host sends a fresh inventory (asked at one
    // check-in, sent at the next), and the verification shows none still missing the patch.
    let (status, _) = api.call(
        "POST",
        &format!("/api/v1/changes/{id}/scan"),
        Some(&token["mike"]),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        api.call(
            "POST",
            &format!("/api/v1/changes/{id}/scan"),
            Some(&token["mike"]),
            None
        )
        .0,
        409
    );
    for host in &hosts[..4] {
        host.run();
        host.run();
    }
    let verification = api.get(&format!("/api/v1/changes/{id}/verification"), &server.admin);
    assert_eq!(verification["hosts_still_missing"], 0, "{verification}");
    assert!(
        verification["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["scanned"] == true),
        "{verification}"
    );

    // pw-prod-9 was left out; an engineer patches it by hand and records it with evidence
    // (§12.4). It counts as verified only once the host's own inventory shows the fix.
    let by_hand = Apt::new(&hosts[4].root).install(&[Target::Version {
        package: "pw-demo".into(),
        version: "1.0-2".into(),
    }]);
    assert_eq!(by_hand.status, "succeeded", "{}", by_hand.output);
    let prod9 = host_id(api, &server.admin, "pw-prod-9");
    let (status, manual) = api.call(
        "POST",
        &format!("/api/v1/hosts/{prod9}/manual-deployments"),
        Some(&token["mike"]),
        Some(json!({"patches": ["PW-2026-0001"], "evidence": "INC-4411: installed from the console by R. Patel"})),
    );
    assert_eq!(status, 201, "{manual}");
    assert_eq!(manual["verified_at"], Value::Null);
    hosts[4].run();
    let manual = api.get(&format!("/api/v1/manual-deployments?host={prod9}"), &server.admin);
    assert!(manual["manual_deployments"][0]["verified_at"].is_string(), "{manual}");

    // A failing maintainer script: reported with its output, retried later, nothing else touched.
    let (status, change) = api.call(
        "POST",
        "/api/v1/changes",
        Some(&token["mike"]),
        Some(
            json!({"title": "pw-broken fix", "patches": ["PW-2026-0002"], "selector": "name:pw-prod-9",
                    "emergency": false, "waves": [1.0], "notice": "pw-broken is updated."}),
        ),
    );
    assert_eq!(status, 201, "{change}");
    let broken = change["id"].as_str().unwrap().to_owned();
    let act2 = |who: &str, action: &str| change_action(api, &token[who], &broken, action);
    act2("mike", "submit");
    act2("carol", "approve");
    act2("mike", "start_testing");
    api.call(
        "POST",
        &format!("/api/v1/changes/{broken}/tests"),
        Some(&token["mike"]),
        Some(json!({"platform_class": "desktop", "passed": true})),
    );
    assert_eq!(act2("mike", "release").1["state"], "released");
    hosts[4].run();
    let failed = api.get(&format!("/api/v1/jobs?change={broken}&state=failed"), &server.admin);
    let job = &failed["jobs"][0];
    assert_eq!(job["state"], "pending", "retried later: {failed}");
    assert_eq!(job["attempts"], 1);
    assert_ne!(job["exit_status"], 0);
    assert!(
        job["output"]
            .as_str()
            .unwrap()
            .contains("the configuration step failed on purpose"),
        "{job}"
    );
    assert_eq!(installed(&hosts[4].root, "pw-demo"), "1.0-2", "nothing else is touched");

    // The same package to pw-prod-1 and pw-prod-2 in two waves, with no retries: pw-prod-1's
    // failure passes the failure threshold, the rollout pauses by itself, and pw-prod-2 is never
    // touched.
    let (status, change) = api.call(
        "POST",
        "/api/v1/changes",
        Some(&token["mike"]),
        Some(json!({"title": "pw-broken fix, wards", "patches": ["PW-2026-0002"],
                    "selector": "name:pw-prod-1 name:pw-prod-2", "waves": [0.5, 1.0], "retries": 0,
                    "failure_share": 0.1, "notice": "pw-broken is updated."})),
    );
    assert_eq!(status, 201, "{change}");
    let paused = change["id"].as_str().unwrap().to_owned();
    for (who, action) in [("mike", "submit"), ("carol", "approve"), ("mike", "start_testing")] {
        let (status, answer) = change_action(api, &token[who], &paused, action);
        assert_eq!(status, 200, "{action}: {answer}");
    }
    api.call(
        "POST",
        &format!("/api/v1/changes/{paused}/tests"),
        Some(&token["mike"]),
        Some(json!({"platform_class": "desktop", "passed": true})),
    );
    let (status, answer) = change_action(api, &token["mike"], &paused, "release");
    assert_eq!(status, 200, "{answer}");
    hosts[1].run();
    hosts[2].run();
    let state = api.get(&format!("/api/v1/changes/{paused}"), &server.admin);
    assert!(
        state["paused"].as_str().is_some_and(|p| p.contains("failed")),
        "{state}"
    );
    assert_eq!(state["open_wave"], 1, "{state}");
    assert_eq!(
        installed(&hosts[2].root, "pw-broken"),
        "1.0-1",
        "the paused wave never reached it"
    );

    // Outside its maintenance window a change that is not an emergency waits (§12): the window
    // here is a minute twelve hours away from now, London time.
    let later = jiff::Zoned::now().in_tz("Europe/London").unwrap().hour();
    let window = format!("{:02}:00-{:02}:01", (later + 12) % 24, (later + 12) % 24);
    let (status, change) = api.call(
        "POST",
        "/api/v1/changes",
        Some(&token["mike"]),
        Some(
            json!({"title": "pw-demo at night", "patches": ["PW-2026-0003"], "selector": "name:pw-prod-1",
                    "waves": [1.0], "windows": [window], "notice": "pw-demo is updated tonight."}),
        ),
    );
    assert_eq!(status, 201, "{change}");
    let night = change["id"].as_str().unwrap().to_owned();
    for (who, action) in [("mike", "submit"), ("carol", "approve"), ("mike", "start_testing")] {
        change_action(api, &token[who], &night, action);
    }
    api.call(
        "POST",
        &format!("/api/v1/changes/{night}/tests"),
        Some(&token["mike"]),
        Some(json!({"platform_class": "desktop", "passed": true})),
    );
    let (status, answer) = change_action(api, &token["mike"], &night, "release");
    assert_eq!(status, 200, "{answer}");
    hosts[1].run();
    let waiting = api.get(&format!("/api/v1/changes/{night}"), &server.admin);
    let job = &waiting["jobs"][0];
    assert_eq!(
        (
            job["state"].as_str(),
            job["attempts"].as_i64(),
            job["dispatched_at"].is_null()
        ),
        (Some("pending"), Some(0), true),
        "never handed out outside the window: {waiting}"
    );

    // An emergency from the patch store: the change manager and Security approve, it goes out
    // before testing, the test is recorded afterwards (§12.3, §12.5). The agent checks the file's
    // SHA-256: the good file installs; after the stored file is tampered with, it is refused.
    let bytes = std::fs::read(&patch_file).unwrap();
    let (status, uploaded) = api.raw(
        "POST",
        "/api/v1/patch-files?name=pw-demo_1.0-3_all.deb&package=pw-demo&version=1.0-3",
        Some(&token["mike"]),
        &[("Content-Type", "application/octet-stream")],
        &bytes,
    );
    assert_eq!(status, 201, "{uploaded}");
    let sha256 = uploaded["sha256"].as_str().unwrap().to_owned();
    let (status, change) = api.call(
        "POST",
        "/api/v1/changes",
        Some(&token["mike"]),
        Some(
            json!({"title": "pw-demo emergency fix", "patches": ["PW-2026-0003"], "artifacts": [sha256],
                    "selector": "name:pw-prod-2 name:pw-prod-3", "emergency": true, "waves": [1.0],
                    "windows": ["Sun 03:00-03:01"], "notice": "pw-demo is updated now."}),
        ),
    );
    assert_eq!(status, 201, "{change}");
    let urgent = change["id"].as_str().unwrap().to_owned();
    let act3 = |who: &str, action: &str| change_action(api, &token[who], &urgent, action);
    act3("mike", "submit");
    assert_eq!(
        act3("carol", "approve").1["state"],
        "submitted",
        "an emergency also needs Security"
    );
    assert_eq!(act3("sam", "approve").1["state"], "approved");
    assert_eq!(act3("mike", "release").1["state"], "released", "before testing");
    let (status, _) = api.call(
        "POST",
        &format!("/api/v1/changes/{urgent}/tests"),
        Some(&token["mike"]),
        Some(json!({"platform_class": "desktop", "passed": true, "notes": "recorded after the emergency release"})),
    );
    assert_eq!(status, 201);
    // Outside its maintenance window, but an emergency goes out at once.
    hosts[2].run();
    assert_eq!(installed(&hosts[2].root, "pw-demo"), "1.0-3");
    std::fs::write(server.data.path().join("patch-files").join(&sha256), b"not the package").unwrap();
    hosts[3].run();
    assert_eq!(
        installed(&hosts[3].root, "pw-demo"),
        "1.0-2",
        "the tampered file is refused"
    );
    let refused = api.get(
        &format!(
            "/api/v1/jobs?change={urgent}&host={}",
            host_id(api, &server.admin, "pw-prod-3")
        ),
        &server.admin,
    );
    let output = refused["jobs"][0]["output"].as_str().unwrap();
    assert!(output.contains("refused patch file for pw-demo 1.0-3"), "{refused}");
    // A critical release: its scan is due within the policy's week, and pw-prod-3 still misses it.
    let verification = api.get(&format!("/api/v1/changes/{urgent}/verification"), &server.admin);
    assert_eq!(verification["critical"], true);
    assert!(verification["scan_due"].is_string(), "{verification}");
    assert_eq!(verification["hosts_still_missing"], 1, "{verification}");

    // The emergency is rolled back: pw-prod-2, which took it, gets a job bringing pw-demo back to
    // the version it replaced (at once, downgrade allowed); pw-prod-3's waiting job is withdrawn.
    assert_eq!(act3("mike", "roll_back").1["state"], "rolled_back");
    hosts[2].run();
    assert_eq!(
        installed(&hosts[2].root, "pw-demo"),
        "1.0-2",
        "back to the version it replaced"
    );
    let rolled = api.get(&format!("/api/v1/changes/{urgent}"), &server.admin);
    let states: Vec<(&str, &str)> = rolled["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["ring"].as_str().unwrap(), j["state"].as_str().unwrap()))
        .collect();
    assert!(states.contains(&("rollback", "succeeded")), "{rolled}");
    assert!(states.contains(&("production", "cancelled")), "{rolled}");
}

fn host_id(api: &crate::support::Api, token: &str, name: &str) -> String {
    let hosts = api.get(&format!("/api/v1/hosts?name={name}"), token);
    hosts["hosts"][0]["id"].as_str().unwrap().to_owned()
}

/// Builds noarch rpms of `name` at each version with rpmbuild, and a dnf repository of them with
/// createrepo_c.
fn rpm_repository(dir: &Path, name: &str, versions: &[&str]) -> PathBuf {
    let repo = dir.join("rpm-repo");
    for version in versions {
        let spec = dir.join(format!("{name}-{version}.spec"));
        std::fs::write(
            &spec,
            format!(
                "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: a package for deployment tests\nLicense: MIT\n\
                 BuildArch: noarch\n%description\nA package for deployment tests.\n%install\n\
                 mkdir -p %{{buildroot}}/usr/share/{name}\necho {version} > %{{buildroot}}/usr/share/{name}/VERSION\n\
                 %files\n/usr/share/{name}/VERSION\n"
            ),
        )
        .unwrap();
        let built = Command::new("rpmbuild")
            .arg("-bb")
            .arg("--define")
            .arg(format!("_topdir {}", dir.join("rpmbuild").display()))
            .arg("--define")
            .arg(format!("_rpmdir {}", repo.display()))
            .arg(&spec)
            .output()
            .unwrap();
        assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    }
    let indexed = Command::new("createrepo_c").arg("-q").arg(&repo).output().unwrap();
    assert!(indexed.status.success(), "{}", String::from_utf8_lossy(&indexed.stderr));
    repo
}

/// rpm on the sandbox, with RHEL's database path (Debian's rpm keeps its own in `~/.rpmdb`).
fn rpm_root(command: &[&str], root: &Path) -> String {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm"])
        .args(command)
        .output()
        .unwrap();
    assert!(
        out.status.success() || command[0] == "-q",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The same flow on the RHEL family: an AlmaLinux 8 sandbox root with a real rpm database, a dnf
/// repository built in the test, and the agent installing through `dnf --installroot`.
#[test]
fn an_rpm_host_installs_through_dnf() {
    let dir = patchwarden_testkit::tempdir();
    let repo = rpm_repository(dir.path(), "pw-rpm", &["1.0", "1.1"]);
    let root = dir.path().join("alma-1");
    std::fs::create_dir_all(root.join("etc/yum.repos.d")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"AlmaLinux\"\nID=\"almalinux\"\nVERSION_ID=\"8.9\"\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/machine-id"), "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1\n").unwrap();
    std::fs::write(
        root.join("etc/yum.repos.d/pw.repo"),
        format!(
            "[pw]\nname=pw\nbaseurl=file://{}\ngpgcheck=0\nenabled=1\n",
            repo.display()
        ),
    )
    .unwrap();
    // rpm and dnf as the agent runs them read `~/.rpmmacros`: there the database path is RHEL's.
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join(".rpmmacros"), "%_dbpath /var/lib/rpm\n").unwrap();
    rpm_root(&["--initdb"], &root);
    rpm_root(
        &[
            "-i",
            "--nodeps",
            &repo.join("noarch/pw-rpm-1.0-1.noarch.rpm").display().to_string(),
        ],
        &root,
    );
    assert_eq!(rpm_root(&["-q", "pw-rpm"], &root), "pw-rpm-1.0-1.noarch");

    let feeds = dir.path().join("feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    std::fs::write(
        feeds.join("ALSA-PW-1.json"),
        json!({"id": "ALSA-PW-1", "modified": "2026-12-01T09:00:00Z", "published": "2026-12-01T09:00:00Z",
               "summary": "pw-rpm security update",
               "affected": [{"package": {"ecosystem": "AlmaLinux:8", "name": "pw-rpm"},
                             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1-1"}]}]}]})
        .to_string(),
    )
    .unwrap();
    let network = Network::new(6, 1);
    let gateway = format!("{}.1", network.subnet);
    let server = TestServer::start(
        Db::Sqlite,
        format!("{gateway}:0").parse().unwrap(),
        vec![gateway],
        &[feeds],
    );
    let api = &server.api;
    let token = server.enrollment_token(json!({"platform_class": "server", "environment": "test"}));
    let host = Host {
        name: "alma-1",
        ns: network.namespaces[0].clone(),
        state: dir.path().join("alma-1-state"),
        root: root.clone(),
        home: Some(home.clone()),
    };
    let args = server.enroll_args(&token);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent_in_env(
        &host.ns,
        host.name,
        &host.state,
        &host.root,
        &args,
        &[("HOME", home.as_path())],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    host.run();
    let hosts = api.get("/api/v1/hosts?missing=true", &server.admin);
    assert_eq!(hosts["hosts"][0]["os"], "AlmaLinux:8", "{hosts}");

    let mut tokens = Vec::new();
    for (user, role) in [("mike", "operator"), ("carol", "change_manager")] {
        let made = api.call(
            "POST",
            "/api/v1/users",
            Some(&server.admin),
            Some(json!({"username": user, "password": PASSWORD, "role": role})),
        );
        assert_eq!(made.0, 201, "{}", made.1);
        tokens.push(api.login(user, PASSWORD));
    }
    let (status, change) = api.call(
        "POST",
        "/api/v1/changes",
        Some(&tokens[0]),
        Some(
            json!({"title": "pw-rpm update", "patches": ["ALSA-PW-1"], "selector": "name:alma-*",
                    "notice": "pw-rpm is updated."}),
        ),
    );
    assert_eq!(status, 201, "{change}");
    let id = change["id"].as_str().unwrap();
    for (who, action) in [(0, "submit"), (1, "approve"), (0, "start_testing")] {
        let (status, answer) = change_action(api, &tokens[who], id, action);
        assert_eq!(status, 200, "{action}: {answer}");
    }
    host.run();
    assert_eq!(rpm_root(&["-q", "pw-rpm"], &root), "pw-rpm-1.1-1.noarch");
    let shown = api.get(&format!("/api/v1/changes/{id}"), &server.admin);
    assert_eq!(shown["jobs"][0]["state"], "verified", "{shown}");
}
