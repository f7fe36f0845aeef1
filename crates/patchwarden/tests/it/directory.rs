//! Directory groups from a real OpenLDAP `slapd` (§7.2.2): computer objects and nested groups,
//! read over StartTLS with a pinned CA, mapped onto hosts by DNS name or name, and used by the
//! selector language (`+group:` adds a group's hosts).

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{Db, LDAP_PASSWORD as PASSWORD, TestServer, slapd};

const SEED: &str = "dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=computers,dc=example,dc=org
objectClass: organizationalUnit
ou: computers

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: cn=DIR-A,ou=computers,dc=example,dc=org
objectClass: computer
cn: DIR-A
dNSHostName: dir-a.example.org

dn: cn=dir-b,ou=computers,dc=example,dc=org
objectClass: computer
cn: dir-b

dn: cn=dir-c,ou=computers,dc=example,dc=org
objectClass: computer
cn: dir-c
dNSHostName: dir-c.example.org

dn: cn=ward-pcs,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: ward-pcs
member: cn=DIR-A,ou=computers,dc=example,dc=org

dn: cn=clinical,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: clinical
member: cn=ward-pcs,ou=groups,dc=example,dc=org
member: cn=dir-b,ou=computers,dc=example,dc=org
";

fn names(hosts: &Value) -> Vec<String> {
    let mut out: Vec<String> = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn nested_directory_groups_reach_hosts_and_selectors() {
    let dir = patchwarden_testkit::tempdir();
    let ldap = slapd(dir.path(), SEED);
    let server = TestServer::start(Db::Sqlite, "127.0.0.1:0".parse().unwrap(), vec![], &[]);
    let api = &server.api;
    for name in ["dir-a.example.org", "dir-b", "dir-c", "other"] {
        let token = server.enrollment_token(json!({}));
        let (status, answer) = api.call(
            "POST",
            "/api/v1/agent/enroll",
            None,
            Some(json!({"token": token, "hostname": name})),
        );
        assert_eq!(status, 201, "{answer}");
    }
    let settings = |password: &str, starttls: bool| {
        json!({"url": ldap.url, "starttls": starttls, "ca_pem": ldap.ca_pem, "bind_dn": "cn=admin,dc=example,dc=org",
               "bind_password": password, "base_dn": "dc=example,dc=org", "refresh_minutes": 30})
    };
    // Refused before anything is stored: a wrong password, and a bind that would travel in clear.
    let (status, answer) = api.call(
        "PUT",
        "/api/v1/directory",
        Some(&server.admin),
        Some(settings("wrong", true)),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid credentials")
            || answer["error"]["message"].as_str().unwrap().contains("49"),
        "{answer}"
    );
    let (status, answer) = api.call(
        "PUT",
        "/api/v1/directory",
        Some(&server.admin),
        Some(settings(PASSWORD, false)),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("in clear"),
        "{answer}"
    );
    assert_eq!(api.call("GET", "/api/v1/directory", Some(&server.admin), None).0, 404);

    let (status, answer) = api.call(
        "PUT",
        "/api/v1/directory",
        Some(&server.admin),
        Some(settings(PASSWORD, true)),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["computers"], 3);
    assert_eq!(
        answer["sync"]["hosts_mapped"], 3,
        "by DNS name (dir-a) and by name (dir-b, dir-c)"
    );

    let select = |selector: &str| {
        names(&api.get(
            &format!(
                "/api/v1/hosts?select={}",
                selector.replace(' ', "%20").replace('+', "%2B")
            ),
            &server.admin,
        ))
    };
    assert_eq!(select("group:ward-pcs"), ["dir-a.example.org"]);
    assert_eq!(
        select("group:clinical"),
        ["dir-a.example.org", "dir-b"],
        "dir-a through the nested group"
    );
    assert_eq!(
        select("name:other +group:clinical -name:dir-b"),
        ["dir-a.example.org", "other"]
    );

    // The password is never returned, and never in the audit trail.
    let shown = api.get("/api/v1/directory", &server.admin);
    assert_eq!(shown["bind_password_set"], true);
    assert!(!shown.to_string().contains(PASSWORD));
    let events = server.block_on(server.store().audit_trail()).unwrap().1;
    assert!(
        events
            .iter()
            .all(|e| !e.event.after.contains(PASSWORD) && !e.event.before.contains(PASSWORD))
    );
    assert!(events.iter().any(|e| e.event.action == "directory.groups"));
    let stored = server
        .block_on(server.store().setting(patchwarden_server::directory::SETTING))
        .unwrap()
        .unwrap();
    assert!(!stored.contains(PASSWORD), "stored sealed");

    // A sync on demand after the directory changed: dir-c joins ward-pcs.
    let modify = Command::new("ldapmodify")
        .args(["-H", &ldap.url, "-x", "-D", "cn=admin,dc=example,dc=org", "-w", PASSWORD])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(
                b"dn: cn=ward-pcs,ou=groups,dc=example,dc=org\nchangetype: modify\nadd: member\nmember: cn=dir-c,ou=computers,dc=example,dc=org\n",
            )?;
            child.wait()
        })
        .unwrap();
    assert!(modify.success());
    let (status, answer) = api.call("POST", "/api/v1/directory/sync", Some(&server.admin), None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(select("group:clinical"), ["dir-a.example.org", "dir-b", "dir-c"]);
}
