//! Feed sync from URLs, against a local HTTP server serving real advisories: the first sync
//! imports, an unchanged feed costs a 304, a changed one replaces the stored copy, a broken one is
//! recorded and keeps the old copy in force.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use patchwarden_server::sync::{Outcome, add_url, sync_all};

use crate::shared;
use crate::support::{Db, TestServer};

/// What the fixture server serves, and the conditional headers it was sent.
#[derive(Default)]
struct Fixture {
    body: Vec<u8>,
    etag: String,
    seen: Vec<Option<String>>,
}

/// A minimal HTTP/1.1 server on loopback: ETag and If-None-Match, one request per connection.
fn serve(fixture: Arc<Mutex<Fixture>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feeds/USN-4662-1.json", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut if_none_match = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("if-none-match:") {
                    if_none_match = Some(value.trim().to_owned());
                }
            }
            let mut fixture = fixture.lock().unwrap();
            fixture.seen.push(if_none_match.clone());
            if if_none_match.as_deref() == Some(fixture.etag.to_ascii_lowercase().as_str()) {
                stream
                    .write_all(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .unwrap();
            } else {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nETag: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    fixture.etag,
                    fixture.body.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&fixture.body).unwrap();
            }
        }
    });
    url
}

fn at(at: i64) -> patchwarden_store::Audit {
    patchwarden_store::Audit {
        actor: "test".into(),
        at,
    }
}

#[test]
fn feeds_sync_with_etags() {
    let server = TestServer::start(Db::Sqlite, "127.0.0.1:0".parse().unwrap(), vec![], &[]);
    let usn = std::fs::read(shared("advisories/osv/Ubuntu/USN-4662-1.json")).unwrap();
    let fixture = Arc::new(Mutex::new(Fixture {
        body: usn,
        etag: "\"v1\"".into(),
        seen: Vec::new(),
    }));
    let url = serve(Arc::clone(&fixture));
    let store = server.store().clone();
    let now = 1_800_000_000;
    server.block_on(add_url(&store, &at(now), "ubuntu-usn", &url)).unwrap();

    let first = server.block_on(sync_all(&store, &at(now))).unwrap();
    assert_eq!(
        first,
        vec![(
            "ubuntu-usn".to_owned(),
            Outcome::Updated {
                records: 1,
                advisories: 1,
                rejected: 0
            }
        )]
    );
    let second = server.block_on(sync_all(&store, &at(now + 60))).unwrap();
    assert_eq!(second, vec![("ubuntu-usn".to_owned(), Outcome::Unchanged)]);
    assert_eq!(fixture.lock().unwrap().seen, vec![None, Some("\"v1\"".to_owned())]);

    // The feed changes: a broken body is refused and recorded, the stored copy stays.
    {
        let mut f = fixture.lock().unwrap();
        f.body = b"{\"id\": \"USN-9\", \"affected\": [".to_vec();
        f.etag = "\"v2\"".into();
    }
    let broken = server.block_on(sync_all(&store, &at(now + 120))).unwrap();
    assert!(
        matches!(&broken[0].1, Outcome::Failed(m) if m.contains("every record was rejected")),
        "{broken:?}"
    );
    let sources = server.block_on(store.feed_sources()).unwrap();
    assert_eq!(sources[0].etag.as_deref(), Some("\"v1\""), "the good copy stays");
    assert_eq!(sources[0].advisories, 1);

    // An unreachable URL fails with a clear message and keeps what was there.
    server
        .block_on(add_url(&store, &at(now), "gone", "http://127.0.0.1:9/none.json"))
        .unwrap();
    let outcomes = server.block_on(sync_all(&store, &at(now + 180))).unwrap();
    let gone = outcomes.iter().find(|(name, _)| name == "gone").unwrap();
    assert!(
        matches!(&gone.1, Outcome::Failed(m) if m.contains("127.0.0.1:9")),
        "{gone:?}"
    );
    let feeds = server.api.get("/api/v1/feeds", &server.admin);
    let listed = feeds["sources"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|s| { s["name"] == "gone" && s["last_error"].as_str().is_some_and(|e| e.contains("127.0.0.1:9")) })
    );
    assert!(
        server
            .block_on(add_url(&store, &at(now), "bad", "ftp://example/x"))
            .is_err()
    );
}
