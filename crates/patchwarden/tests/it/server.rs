//! The server through its real HTTPS API: first administrator, roles, agent reports and every kind
//! of bad input, outages and a killed agent. The storage conformance suite covers both databases;
//! these run on SQLite, the fleet test on both.

use std::io::Write;
use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::shared;
use crate::support::{DEBIAN12, Db, PASSWORD, TestServer, agent, host_root};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn no_default_credentials_and_roles_are_checked() {
    let server = TestServer::start(Db::Sqlite, loopback(), vec![], &[]);
    let api = &server.api;
    // The setup token died with its first use.
    let setup_file = server.data.path().join("setup-token");
    let (status, body) = api.call(
        "POST",
        "/api/v1/setup",
        None,
        Some(json!({"token": "x", "username": "eve", "password": PASSWORD})),
    );
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    assert!(
        std::fs::metadata(&setup_file)
            .is_ok_and(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o077 == 0)
    );

    // Passwords follow the policy.
    let weak = api.call(
        "POST",
        "/api/v1/users",
        Some(&server.admin),
        Some(json!({"username": "bob", "password": "bob12345678", "role": "auditor"})),
    );
    assert_eq!(weak.0, 400, "{}", weak.1);
    let short = api.call(
        "POST",
        "/api/v1/users",
        Some(&server.admin),
        Some(json!({"username": "bob", "password": "Xy7!", "role": "auditor"})),
    );
    assert!(
        short.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 12 characters")
    );
    // A second administrator (§14.3) and an auditor.
    for (user, role) in [("second", "administrator"), ("audit", "auditor")] {
        let made = api.call(
            "POST",
            "/api/v1/users",
            Some(&server.admin),
            Some(json!({"username": user, "password": PASSWORD, "role": role})),
        );
        assert_eq!(made.0, 201, "{}", made.1);
    }
    let duplicate = api.call(
        "POST",
        "/api/v1/users",
        Some(&server.admin),
        Some(json!({"username": "audit", "password": PASSWORD, "role": "auditor"})),
    );
    assert_eq!(duplicate.0, 409);

    let auditor = api.login("audit", PASSWORD);
    assert_eq!(api.call("GET", "/api/v1/hosts", Some(&auditor), None).0, 200);
    let denied = api.call("POST", "/api/v1/enrollment-tokens", Some(&auditor), Some(json!({})));
    assert_eq!((denied.0, denied.1["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        api.call("POST", "/api/v1/users", Some(&auditor), Some(json!({}))).0,
        403
    );
    let second = api.login("second", PASSWORD);
    assert_eq!(
        api.call("POST", "/api/v1/enrollment-tokens", Some(&second), Some(json!({})))
            .0,
        201
    );

    // A script token with the auditor role, and unauthenticated requests.
    let script = api.call(
        "POST",
        "/api/v1/tokens",
        Some(&server.admin),
        Some(json!({"name": "report job", "role": "auditor"})),
    );
    let script = script.1["token"].as_str().unwrap().to_owned();
    assert_eq!(api.call("GET", "/api/v1/patches", Some(&script), None).0, 200);
    assert_eq!(
        api.call("POST", "/api/v1/enrollment-tokens", Some(&script), Some(json!({})))
            .0,
        403
    );
    let anonymous = api.call("GET", "/api/v1/hosts", None, None);
    assert_eq!(
        (anonymous.0, anonymous.1["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(api.call("GET", "/api/v1/hosts", Some("not-a-token"), None).0, 401);
    assert_eq!(api.login("admin", PASSWORD).len(), 64);
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"username": "admin", "password": "wrong password!!"}))
        )
        .0,
        401
    );
    assert_eq!(
        api.call("GET", "/api/v1/nowhere", None, None).1["error"]["code"],
        "not_found"
    );
}

/// Every route is in the OpenAPI document the server serves, and nothing else is.
#[test]
fn openapi_lists_every_route() {
    let server = TestServer::start(Db::Sqlite, loopback(), vec![], &[]);
    let doc = server.api.get("/api/v1/openapi.json", &server.admin);
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut routes: Vec<(String, String)> = patchwarden_server::api::ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    routes.sort();
    assert_eq!(documented, routes);
}

/// The permission matrix: every role against every route of the route table (so a new route
/// cannot be left out), allowed where the table allows it and 403 elsewhere; agents' routes refuse
/// people's tokens; public routes need nothing. No route answers 5xx.
#[test]
fn permission_matrix() {
    use patchwarden_server::api::{Access, ROUTES};
    use patchwarden_server::auth::Role;

    let server = TestServer::start(Db::Sqlite, loopback(), vec![], &[]);
    let api = &server.api;
    let mut tokens = vec![(Role::Administrator, server.admin.clone())];
    for role in Role::ALL.into_iter().filter(|r| *r != Role::Administrator) {
        let user = role.name().replace('_', "-");
        let made = api.call(
            "POST",
            "/api/v1/users",
            Some(&server.admin),
            Some(json!({"username": user, "password": PASSWORD, "role": role.name()})),
        );
        assert_eq!(made.0, 201, "{}", made.1);
        tokens.push((role, api.login(&user, PASSWORD)));
    }
    let (host, _) = enroll_direct(&server);
    let mut checked = 0;
    // Revocation last: it changes the host the other routes read.
    let mut routes: Vec<_> = ROUTES.iter().collect();
    routes.sort_by_key(|r| r.path.ends_with("/revoke"));
    for route in routes {
        let path = route.path.replace("{id}", &host);
        let body = b"{}";
        match route.access {
            Access::Public => {
                let (status, answer) = api.raw(route.method, &path, None, &[], body);
                assert!(
                    status != 401 && status != 403 && status < 500,
                    "{} {path}: {status} {answer}",
                    route.method
                );
            }
            Access::Agent => {
                for (role, token) in &tokens {
                    let (status, _) = api.raw(route.method, &path, Some(token), &[], body);
                    assert_eq!(status, 401, "{} {path} took a {role:?} token", route.method);
                }
            }
            Access::Roles(allowed) => {
                let (status, _) = api.raw(route.method, &path, None, &[], body);
                assert_eq!(status, 401, "{} {path} without a token", route.method);
                for (role, token) in &tokens {
                    let (status, answer) = api.raw(route.method, &path, Some(token), &[], body);
                    if allowed.contains(role) {
                        assert!(
                            status != 401 && status != 403 && status < 500,
                            "{role:?} {} {path}: {status} {answer}",
                            route.method
                        );
                    } else {
                        assert_eq!(status, 403, "{role:?} {} {path}: {answer}", route.method);
                        assert_eq!(answer["error"]["code"], "forbidden");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 6 * 8, "{checked} role × route checks");
}

fn enroll_direct(server: &TestServer) -> (String, String) {
    let token = server.enrollment_token(json!({"uses": 2}));
    let (status, body) = server.api.call(
        "POST",
        "/api/v1/agent/enroll",
        None,
        Some(json!({"token": token, "hostname": "h"})),
    );
    assert_eq!(status, 201, "{body}");
    (
        body["host_id"].as_str().unwrap().to_owned(),
        body["credential"].as_str().unwrap().to_owned(),
    )
}

fn report(sequence: u64, packages: &Value) -> Value {
    let inventory = json!({"format": "dpkg-status", "packages": packages});
    let proto: patchwarden_proto::Inventory = serde_json::from_value(inventory.clone()).unwrap();
    let hash = patchwarden_server::ingest::inventory_hash(&proto);
    json!({"sequence": sequence, "created_at": "2026-12-04T10:00:00Z", "facts": {"hostname": "h", "os": "Debian:12"},
           "inventory_hash": hash, "inventory": inventory})
}

#[test]
fn bad_reports_get_clear_errors_and_store_nothing() {
    let server = TestServer::start(Db::Sqlite, loopback(), vec![], &[]);
    let api = &server.api;
    let (host, credential) = enroll_direct(&server);
    let (other, _) = enroll_direct(&server);
    let path = format!("/api/v1/agent/hosts/{host}/reports");
    let post = |body: &[u8], headers: &[(&str, &str)]| api.raw("POST", &path, Some(&credential), headers, body);
    let code = |r: &(u16, Value)| (r.0, r.1["error"]["code"].as_str().unwrap_or_default().to_owned());

    let good = report(1, &json!([{"name": "bash", "version": "5.2.15-2+b2"}]));
    assert_eq!(post(good.to_string().as_bytes(), &[]).0, 200);
    let before = server.block_on(server.store().host_software(&host)).unwrap();

    // Malformed JSON and wrong types: 400, naming the line and column.
    let r = post(b"{\"sequence\": 2,", &[]);
    assert_eq!(code(&r), (400, "invalid_report".into()));
    assert!(r.1["error"]["message"].as_str().unwrap().contains("line 1"), "{}", r.1);
    let r = post(
        br#"{"sequence": "two", "created_at": "x", "facts": {}, "inventory_hash": ""}"#,
        &[],
    );
    assert_eq!(code(&r), (400, "invalid_report".into()));
    assert!(
        r.1["error"]["message"].as_str().unwrap().contains("invalid type"),
        "{}",
        r.1
    );

    // A bad version in an inventory: 422 naming the package; nothing of the report is stored.
    let bad = report(
        2,
        &json!([{"name": "bash", "version": "5.2.15-2+b3"}, {"name": "zsh", "version": "1:"}]),
    );
    let r = post(bad.to_string().as_bytes(), &[]);
    assert_eq!(code(&r), (422, "invalid_report".into()));
    assert!(
        r.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("inventory.packages[1] (zsh)"),
        "{}",
        r.1
    );
    assert_eq!(server.block_on(server.store().host_software(&host)).unwrap(), before);
    assert_eq!(server.block_on(server.store().report_count(&host)).unwrap(), 1);
    // An inventory whose hash does not match it.
    let mut tampered = report(2, &json!([{"name": "bash", "version": "5.2.15-2+b3"}]));
    tampered["inventory_hash"] = json!("00");
    assert_eq!(post(tampered.to_string().as_bytes(), &[]).0, 422);

    // Oversized: over the wire limit, and a gzip bomb past the decompressed limit.
    let r = post(&vec![b' '; 9 << 20], &[]);
    assert_eq!(code(&r), (413, "too_large".into()));
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b' '; 1 << 20];
    for _ in 0..65 {
        gzip.write_all(&block).unwrap();
    }
    let bomb = gzip.finish().unwrap();
    assert_eq!(
        code(&post(&bomb, &[("Content-Encoding", "gzip")])),
        (413, "too_large".into())
    );
    assert_eq!(
        code(&post(b"not gzip", &[("Content-Encoding", "gzip")])),
        (400, "bad_encoding".into())
    );

    // Replayed: acknowledged, not stored again.
    let r = post(good.to_string().as_bytes(), &[]);
    assert_eq!((r.0, r.1["stored_through"].as_u64()), (200, Some(1)));
    assert_eq!(server.block_on(server.store().report_count(&host)).unwrap(), 1);

    // Another host's path, unknown and revoked credentials.
    let r = api.raw(
        "POST",
        &format!("/api/v1/agent/hosts/{other}/reports"),
        Some(&credential),
        &[],
        good.to_string().as_bytes(),
    );
    assert_eq!(code(&r), (403, "forbidden".into()));
    assert!(r.1["error"]["message"].as_str().unwrap().contains(&host));
    assert_eq!(
        code(&api.raw("POST", &path, Some("0000"), &[], good.to_string().as_bytes())),
        (401, "unauthorized".into())
    );
    assert_eq!(
        api.call(
            "POST",
            &format!("/api/v1/hosts/{host}/revoke"),
            Some(&server.admin),
            None
        )
        .0,
        200
    );
    let next = report(3, &json!([]));
    assert_eq!(
        code(&post(next.to_string().as_bytes(), &[])),
        (401, "unauthorized".into())
    );
    assert_eq!(server.block_on(server.store().report_count(&host)).unwrap(), 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// The report decoder never panics and answers every bad body with a 4xx error.
    #[test]
    fn report_decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512), gzip: bool) {
        let mut headers = axum_headers();
        if gzip {
            headers.insert("content-encoding", "gzip".parse().unwrap());
        }
        if let Err(e) = patchwarden_server::ingest::decode(&headers, &bytes) {
            proptest::prop_assert!(e.status.is_client_error());
        }
    }
}

fn axum_headers() -> patchwarden_server::HeaderMap {
    patchwarden_server::HeaderMap::new()
}

/// The server down for a while, an agent killed mid-upload: after recovery every report is stored
/// exactly once, in order.
#[test]
fn outages_and_a_killed_agent_lose_nothing() {
    // A fixed port, so that the restarted server is where the agent looks.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let index = shared("advisories/debian/bookworm-security_main_binary-amd64_Packages");
    let mut server = TestServer::start(Db::Sqlite, listen, vec![], &[index]);
    let dir = tempfile::tempdir().unwrap();
    let root = host_root(
        &dir.path().join("root"),
        DEBIAN12,
        &[("var/lib/dpkg/status", &shared("inventories/debian12.dpkg-status"))],
    );
    let state = dir.path().join("state");
    let token = server.enrollment_token(json!({}));
    let enrolled = agent(
        &state,
        &root,
        &server
            .enroll_args(&token)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(
        enrolled.status.success(),
        "{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    let host =
        serde_json::from_slice::<Value>(&std::fs::read(state.join("enrollment.json")).unwrap()).unwrap()["host_id"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(agent(&state, &root, &["run", "--once"]).status.success());

    // Server down: reports wait in the outbox.
    server.stop();
    for waiting in 1..=2 {
        let out = agent(&state, &root, &["run", "--once"]);
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            std::fs::read_dir(state.join("outbox"))
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
                .count(),
            waiting
        );
    }

    // Something that accepts connections and never answers: the agent hangs mid-upload; kill it.
    let silent = std::net::TcpListener::bind(listen).unwrap();
    let mut child = std::process::Command::new(crate::support::agent_binary())
        .args([
            "--state-dir",
            state.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
            "run",
            "--once",
        ])
        .spawn()
        .unwrap();
    let (_held, _) = silent.accept().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(silent);

    // Back up: everything arrives, each sequence once.
    server.restart();
    let out = agent(&state, &root, &["run", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stored = server.block_on(server.store().report_count(&host)).unwrap();
    let hosts_now = server.block_on(server.store().hosts()).unwrap();
    assert_eq!(stored, 5, "reports 1 to 5, each stored once");
    assert_eq!(hosts_now[0].last_sequence, 5);
    let hosts = server.api.get("/api/v1/hosts", &server.admin);
    assert_eq!(hosts["hosts"][0]["packages"], 707);
    assert_eq!(hosts["hosts"][0]["missing_patches"], 94);
    assert_eq!(hosts["hosts"][0]["dropped_reports"], 0);
}

/// An agent given the wrong CA fingerprint, or a plain-HTTP URL, refuses to enroll and stores no
/// credential: a man in the middle cannot make it trust another CA.
#[test]
fn enrollment_refuses_the_wrong_ca_and_plain_http() {
    let server = TestServer::start(Db::Sqlite, loopback(), vec![], &[]);
    let dir = tempfile::tempdir().unwrap();
    let root = host_root(
        &dir.path().join("root"),
        DEBIAN12,
        &[("var/lib/dpkg/status", &shared("inventories/debian12.dpkg-status"))],
    );
    let state = dir.path().join("state");
    let token = server.enrollment_token(json!({}));
    let wrong = "AB:".repeat(31) + "AB";
    let out = agent(
        &state,
        &root,
        &[
            "enroll",
            "--server",
            &server.url,
            "--token",
            &token,
            "--ca-fingerprint",
            &wrong,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to trust it"), "{err}");
    assert!(!state.join("credential").exists());
    let plain = server.url.replacen("https://", "http://", 1);
    let out = agent(
        &state,
        &root,
        &[
            "enroll",
            "--server",
            &plain,
            "--token",
            &token,
            "--ca-fingerprint",
            &server.fingerprint(),
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("must start with https://"));
    // The token was not used up by the refused attempts.
    let args = server.enroll_args(&token);
    let out = agent(&state, &root, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Exceptions and declines through the API: only Security decides exceptions, only the named
/// application owner agrees to a decline, Security is told of it; host labels feed selectors; a
/// certified month is archived once and never replaced.
#[test]
fn exceptions_declines_labels_and_certification_over_the_api() {
    let server = TestServer::start(Db::Sqlite, loopback(), vec![], &[]);
    let api = &server.api;
    let mut token = std::collections::HashMap::new();
    for (user, role) in [
        ("mike", "operator"),
        ("sam", "security"),
        ("olivia", "application_owner"),
        ("otto", "application_owner"),
    ] {
        let made = api.call(
            "POST",
            "/api/v1/users",
            Some(&server.admin),
            Some(json!({"username": user, "password": PASSWORD, "role": role})),
        );
        assert_eq!(made.0, 201, "{}", made.1);
        token.insert(user, api.login(user, PASSWORD));
    }
    let (host, _) = enroll_direct(&server);

    // Labels and directory groups feed the selector language.
    let (status, answer) = api.call(
        "PUT",
        &format!("/api/v1/hosts/{host}/labels"),
        Some(&server.admin),
        Some(
            json!({"department": "Finance", "platform_class": "server", "environment": "production",
                    "groups": ["Ledger Servers"]}),
        ),
    );
    assert_eq!(status, 200, "{answer}");
    let selected = api.get(
        "/api/v1/hosts?select=group:%22ledger%20servers%22%20class:server",
        &server.admin,
    );
    assert_eq!(selected["hosts"].as_array().unwrap().len(), 1, "{selected}");
    let (status, answer) = api.call(
        "PUT",
        &format!("/api/v1/hosts/{host}/labels"),
        Some(&server.admin),
        Some(json!({"department": "Finance", "platform_class": "mainframe", "environment": ""})),
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_platform_class"))
    );

    let target = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30)).to_string();
    let request = |kind: &str, owner: Option<&str>| {
        json!({"kind": kind, "selector": "department:Finance", "patches": ["USN-4705-1"],
               "reason": "vendor sign-off pending", "workaround": "sudo restricted", "target": target,
               "application_owner": owner})
    };
    // A target beyond the policy's maximum is refused with the field named.
    let mut too_far = request("exception", None);
    too_far["target"] = json!("2099-01-01");
    let (status, answer) = api.call("POST", "/api/v1/exceptions", Some(&token["mike"]), Some(too_far));
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().starts_with("target:"),
        "{answer}"
    );
    let (status, exception) = api.call(
        "POST",
        "/api/v1/exceptions",
        Some(&token["mike"]),
        Some(request("exception", None)),
    );
    assert_eq!(status, 201, "{exception}");
    let decide = |id: &str, who: &str| {
        api.call(
            "POST",
            &format!("/api/v1/exceptions/{id}/decision"),
            Some(&token[who]),
            Some(json!({"approve": true})),
        )
    };
    let id = exception["id"].as_str().unwrap();
    assert_eq!(decide(id, "mike").0, 403, "the requester's role cannot decide");
    assert_eq!(decide(id, "olivia").0, 403, "exceptions are Security's");
    let (status, approved) = decide(id, "sam");
    assert_eq!(status, 200, "{approved}");
    assert_eq!(
        (approved["state"].as_str(), approved["in_force"].as_bool()),
        (Some("approved"), Some(true))
    );
    assert_eq!(decide(id, "sam").0, 403, "decided once");

    // A decline: only the named application owner agrees; then Security is told.
    let (status, decline) = api.call(
        "POST",
        "/api/v1/exceptions",
        Some(&token["mike"]),
        Some(request("decline", Some("olivia"))),
    );
    assert_eq!(status, 201, "{decline}");
    let id = decline["id"].as_str().unwrap();
    assert_eq!(decide(id, "sam").0, 403);
    assert_eq!(decide(id, "otto").0, 403, "another application owner");
    assert_eq!(decide(id, "olivia").0, 200);
    let told = api.get("/api/v1/notifications", &token["sam"]);
    let messages = told["notifications"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{told}");
    assert!(
        messages[0]["message"]
            .as_str()
            .unwrap()
            .contains("mike (IT manager) and olivia (application owner)")
    );
    assert!(
        api.get("/api/v1/notifications", &token["mike"])["notifications"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Security certifies a past month once.
    let certify = json!({"department": "Finance", "month": "2026-11", "name": "Sam Patel",
                         "job_title": "Information Security Manager", "date": "2026-12-04"});
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/compliance/form/certifications",
            Some(&token["mike"]),
            Some(certify.clone())
        )
        .0,
        403
    );
    let (status, answer) = api.call(
        "POST",
        "/api/v1/compliance/form/certifications",
        Some(&token["sam"]),
        Some(certify.clone()),
    );
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = api.call(
        "POST",
        "/api/v1/compliance/form/certifications",
        Some(&token["sam"]),
        Some(certify),
    );
    assert_eq!(status, 409, "{answer}");
    let form = api.get(
        "/api/v1/compliance/form?department=Finance&month=2026-11",
        &server.admin,
    );
    assert_eq!(form["certification"]["name"], "Sam Patel", "{form}");
    assert_eq!(form["certification"]["report"], form["form"], "nothing changed since");
    let (status, answer) = api.call(
        "GET",
        "/api/v1/compliance/form?department=Finance&month=2026-13",
        Some(&server.admin),
        None,
    );
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_month")));

    // Every one of these changes is in the audit trail.
    let actions: Vec<String> = server
        .block_on(server.store().audit_trail())
        .unwrap()
        .1
        .iter()
        .map(|e| e.event.action.clone())
        .collect();
    for action in [
        "host.labels",
        "exception.request",
        "exception.approved",
        "decline.approved",
        "compliance.certify",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action} not audited: {actions:?}");
    }
}

/// Bad change, patch-file, job-result and manual-deployment input: each is refused with a clear
/// error naming the field, and nothing is stored.
#[test]
fn deployment_input_is_checked_and_nothing_half_stored() {
    let server = TestServer::start(Db::Sqlite, loopback(), vec![], &[]);
    let api = &server.api;
    let made = api.call(
        "POST",
        "/api/v1/users",
        Some(&server.admin),
        Some(json!({"username": "mike", "password": PASSWORD, "role": "operator"})),
    );
    assert_eq!(made.0, 201, "{}", made.1);
    let mike = api.login("mike", PASSWORD);
    let (host, credential) = enroll_direct(&server);
    let (other, _) = enroll_direct(&server);

    let good = json!({"title": "t", "patches": ["USN-4705-1"], "selector": "name:web-*", "notice": "n"});
    let refused = |patch: Value, field: &str| {
        let mut change = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            change[k] = v.clone();
        }
        let (status, answer) = api.call("POST", "/api/v1/changes", Some(&mike), Some(change));
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (422, Some("invalid_change")),
            "{answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
    };
    refused(json!({"selector": "name:web-* nme:x"}), "column 12");
    refused(json!({"windows": ["Sat 1am-5am"]}), "window");
    refused(json!({"waves": [0.5, 0.4, 1.0]}), "waves");
    refused(json!({"retries": 11}), "retries");
    refused(json!({"reboot": "sometimes"}), "reboot");
    refused(json!({"notice": " "}), "notice");
    refused(json!({"patches": []}), "patches");
    refused(json!({"artifacts": ["00"]}), "artifacts");
    refused(json!({"start": "tomorrow"}), "start");
    let (status, answer) = api.raw("POST", "/api/v1/changes", Some(&mike), &[], b"{\"title\": ");
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{answer}"
    );
    assert!(
        api.get("/api/v1/changes", &server.admin)["changes"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (status, change) = api.call("POST", "/api/v1/changes", Some(&mike), Some(good));
    assert_eq!(status, 201, "{change}");
    let (status, answer) = api.call(
        "POST",
        &format!("/api/v1/changes/{}/actions", change["id"].as_str().unwrap()),
        Some(&mike),
        Some(json!({"action": "fly"})),
    );
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_action")),
        "{answer}"
    );

    // Patch files: the query names the file, the name is a plain .deb or .rpm, the body is there.
    let upload =
        |query: &str, bytes: &[u8]| api.raw("POST", &format!("/api/v1/patch-files{query}"), Some(&mike), &[], bytes);
    for (query, bytes) in [
        ("", b"x".as_slice()),
        ("?name=../x.deb&package=x&version=1", b"x"),
        ("?name=x.txt&package=x&version=1", b"x"),
        ("?name=x.deb&package=x&version=1", b""),
    ] {
        let (status, answer) = upload(query, bytes);
        assert_eq!(status, 400, "{query}: {answer}");
        assert!(answer["error"]["message"].is_string());
    }
    assert!(
        api.get("/api/v1/patch-files", &server.admin)["files"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Job results: only for the host's own jobs; a job it does not have is named.
    let result = |path_host: &str, job: &str, body: &[u8]| {
        api.raw(
            "POST",
            &format!("/api/v1/agent/hosts/{path_host}/jobs/{job}"),
            Some(&credential),
            &[("Content-Type", "application/json")],
            body,
        )
    };
    let (status, answer) = result(&host, "no-such-job", br#"{"status": "succeeded"}"#);
    assert_eq!(status, 404, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("no-such-job"));
    assert_eq!(result(&other, "no-such-job", br#"{"status": "succeeded"}"#).0, 403);
    let (status, answer) = result(&host, "no-such-job", br#"{"status": 7}"#);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{answer}"
    );

    // Manual deployments: evidence is required, the time is real and past, the host exists.
    let manual = |host: &str, body: Value| {
        api.call(
            "POST",
            &format!("/api/v1/hosts/{host}/manual-deployments"),
            Some(&mike),
            Some(body),
        )
    };
    for (body, field) in [
        (json!({"patches": ["USN-4705-1"], "evidence": ""}), "evidence"),
        (json!({"patches": [], "evidence": "INC-1"}), "patches"),
        (
            json!({"patches": ["USN-4705-1"], "evidence": "INC-1", "performed_at": "2999-01-01T00:00:00Z"}),
            "future",
        ),
        (
            json!({"patches": ["USN-4705-1"], "evidence": "INC-1", "performed_at": "yesterday"}),
            "performed_at",
        ),
    ] {
        let (status, answer) = manual(&host, body);
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
    }
    assert_eq!(
        manual("nope", json!({"patches": ["USN-4705-1"], "evidence": "INC-1"})).0,
        404
    );
    let none = api.get("/api/v1/manual-deployments", &server.admin);
    assert!(none["manual_deployments"].as_array().unwrap().is_empty());

    // Applications: the owner must hold the application owner role.
    let (status, answer) = api.call(
        "PUT",
        "/api/v1/applications/ledger",
        Some(&server.admin),
        Some(json!({"owner": "mike", "selector": "name:fin-*"})),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application owner role")
    );
}
