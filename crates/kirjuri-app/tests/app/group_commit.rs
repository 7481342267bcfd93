//! Group commit (issue 16) against a real data folder: concurrent uploads
//! share their database commit, each is acknowledged only with its own
//! data durable, and when the shared commit fails none of them is.
//!
//! The fault is real: a trigger in the SQLite file refuses the audit
//! append every committed upload needs — the step the whole group shares —
//! installed and removed through a second connection, as an operator's
//! broken disk or a full database would fail it. And a commit whose answer
//! is lost on the way back from PostgreSQL (a proxy cuts the connection
//! after forwarding the COMMIT) keeps what it committed.

use std::convert::Infallible;

use bytes::Bytes;
use kirjuri_app::Kirjuri;
use kirjuri_core::clock::SystemClock;
use kirjuri_core::contact::ContactInput;
use kirjuri_core::ids::ContactId;
use kirjuri_core::wav::{Encoding, synth};
use kirjuri_store::{AuditFilter, Error as StoreError};
use serde_json::json;

/// Uploads in flight at once.
const PARALLEL: usize = 12;

async fn open(dir: &std::path::Path) -> Kirjuri {
    let config = kirjuri_app::Config {
        data: dir.join("data"),
        ..kirjuri_app::Config::default()
    };
    Kirjuri::open(config, std::sync::Arc::new(SystemClock))
        .await
        .unwrap()
}

async fn calls(app: &Kirjuri, n: usize, tag: &str) -> Vec<ContactId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let input: ContactInput = serde_json::from_value(json!({
            "external_id": format!("{tag}-{i}"),
            "channel": "call_in",
            "started_at": "2026-11-29T09:15:02+02:00",
            "agent": "aino",
        }))
        .unwrap();
        ids.push(app.create_contact(None, input).await.unwrap().0);
    }
    ids
}

/// The `i`th distinct recording (its length differs, so its sha256 does).
fn wav(i: usize) -> Bytes {
    Bytes::from(synth::wav_bytes(
        Encoding::PcmS16,
        2,
        8000,
        4000 + i as u32,
        false,
    ))
}

/// Every upload at once, each on a task of its own.
async fn upload_all(
    app: &Kirjuri,
    contacts: &[ContactId],
) -> Vec<Result<kirjuri_app::intake::RecordingAck, kirjuri_app::Error>> {
    let tasks: Vec<_> = contacts
        .iter()
        .enumerate()
        .map(|(i, contact)| {
            let app = app.clone();
            let contact = *contact;
            tokio::spawn(async move {
                let body = futures::stream::once(async move { Ok::<_, Infallible>(wav(i)) });
                app.store_recording(None, contact, body, 1 << 20)
                    .await
                    .map(|(ack, _)| ack)
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

async fn recording_events(app: &Kirjuri) -> usize {
    let filter = AuditFilter {
        action: Some("recording.created".into()),
        limit: 10_000,
        ..AuditFilter::default()
    };
    app.store.search_audit(&filter).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_uploads_each_commit_their_own_recording_waveform_and_event() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path()).await;
    let contacts = calls(&app, PARALLEL, "ok").await;

    let results = upload_all(&app, &contacts).await;

    for (i, (contact, result)) in contacts.iter().zip(&results).enumerate() {
        let ack = result.as_ref().unwrap();
        let expected = hex::encode(ring::digest::digest(&ring::digest::SHA256, &wav(i)));
        assert_eq!(
            ack.sha256, expected,
            "each caller gets its own recording's ack"
        );
        let objects = app.store.objects_for_contact(contact).await.unwrap();
        let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds, ["recording", "waveform"]);
        let stored = app.objects.len(&objects[0].id).await.unwrap();
        assert_eq!(stored, objects[0].stored_len);
    }
    assert_eq!(recording_events(&app).await, PARALLEL);
    assert!(app.store.pending_objects().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_shared_commit_fails_every_parallel_upload_fails_and_none_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path()).await;
    let contacts = calls(&app, PARALLEL, "fault").await;
    let db = rusqlite::Connection::open(dir.path().join("data").join("kirjuri.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER injected_fault BEFORE INSERT ON audit_events \
         BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
    )
    .unwrap();
    let events_before = recording_events(&app).await;

    let results = upload_all(&app, &contacts).await;

    for result in &results {
        let error = result.as_ref().expect_err("no upload may be acknowledged");
        assert!(
            matches!(
                error,
                kirjuri_app::Error::Store(StoreError::SharedCommit(_))
            ),
            "the shared commit's failure, not another: {error:?}"
        );
    }
    for contact in &contacts {
        assert!(
            app.store
                .objects_for_contact(contact)
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert!(app.store.pending_objects().await.unwrap().is_empty());
    assert!(
        app.objects.list().await.unwrap().is_empty(),
        "no object file is left"
    );
    assert_eq!(recording_events(&app).await, events_before);

    // The fault, and nothing else, was the cause: without it they go in.
    db.execute_batch("DROP TRIGGER injected_fault;").unwrap();
    let results = upload_all(&app, &contacts).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(recording_events(&app).await, events_before + PARALLEL);
}

/// A TCP proxy in front of PostgreSQL that loses, once, the answer to the
/// COMMIT of the first transaction that inserts an object row: the COMMIT
/// reaches the server, which commits, and the connection then dies before
/// the answer reaches the node — as when the database host or the network
/// fails right after COMMIT. Every other byte passes untouched.
mod lost_answer {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// What marks the transaction whose answer is lost, and its end.
    const INSERT: &[u8] = b"INSERT INTO objects";
    const COMMIT: &[u8] = b"COMMIT";

    pub struct Proxy {
        pub addr: SocketAddr,
        /// Whether an answer has been lost.
        pub fired: Arc<AtomicBool>,
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fired = Arc::new(AtomicBool::new(false));
        let once = Arc::clone(&fired);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, Arc::clone(&once)));
            }
        });
        Proxy { addr, fired }
    }

    async fn relay(client: TcpStream, upstream: SocketAddr, fired: Arc<AtomicBool>) {
        let Ok(server) = TcpStream::connect(upstream).await else {
            return;
        };
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        // Set once this connection's COMMIT has gone out: from then on
        // nothing more reaches the node on it.
        let cut = Arc::new(AtomicBool::new(false));
        let cut_up = Arc::clone(&cut);
        let up = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut armed = false;
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                let after = if armed {
                    Some(0)
                } else {
                    find(chunk, INSERT).map(|at| at + INSERT.len())
                };
                armed |= after.is_some();
                let commits = after.is_some_and(|from| find(&chunk[from..], COMMIT).is_some());
                if commits && !fired.swap(true, Ordering::SeqCst) {
                    cut_up.store(true, Ordering::SeqCst);
                    let _ = server_write.write_all(chunk).await;
                    // The server reads the COMMIT before the end of the
                    // stream, commits, and answers into the void.
                    return;
                }
                if server_write.write_all(chunk).await.is_err() {
                    return;
                }
            }
        });
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if cut.load(Ordering::SeqCst) || client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        up.abort();
    }
}

/// `url` with its `host:port` replaced by `addr`.
fn through(url: &str, addr: std::net::SocketAddr) -> String {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority..];
    let host_start = rest.find('@').map_or(0, |at| at + 1);
    let host_end = rest[host_start..]
        .find('/')
        .map_or(rest.len(), |slash| host_start + slash);
    format!(
        "{}{}{addr}{}",
        &url[..authority],
        &rest[..host_start],
        &rest[host_end..]
    )
}

/// The address of `url`'s `host:port`.
fn address_of(url: &str) -> std::net::SocketAddr {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority..];
    let host_start = rest.find('@').map_or(0, |at| at + 1);
    let host = &rest[host_start..];
    let host = &host[..host.find('/').unwrap_or(host.len())];
    host.parse()
        .expect("the test server listens on an IP address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_whose_answer_was_lost_keeps_its_recording() {
    // Arrange: a node on PostgreSQL through a proxy that will lose the
    // answer to the first commit of an object row.
    let database = kirjuri_testkit::postgres::TestDatabase::create().await;
    let proxy = lost_answer::start(address_of(&database.url)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = kirjuri_app::Config {
        data: dir.path().join("data"),
        database: kirjuri_app::config::DatabaseConfig {
            url: Some(kirjuri_app::config::DatabaseUrl::new(through(
                &database.url,
                proxy.addr,
            ))),
            country: Some("FI".into()),
            ..kirjuri_app::config::DatabaseConfig::default()
        },
        ..kirjuri_app::Config::default()
    };
    let app = Kirjuri::open(config, std::sync::Arc::new(SystemClock))
        .await
        .unwrap();
    let contacts = calls(&app, 1, "lost").await;

    // Act: the upload's commit reaches the database; its answer does not.
    let results = upload_all(&app, &contacts).await;

    // Assert: the node could not acknowledge it…
    assert!(proxy.fired.load(std::sync::atomic::Ordering::SeqCst));
    let error = results[0]
        .as_ref()
        .expect_err("no answer, no acknowledgement");
    eprintln!("the upload answered: {error}");
    // …but the database has it, so its bytes must still be there: the
    // recording reads back whole and the store holds exactly the objects
    // the rows name.
    let objects = app.store.objects_for_contact(&contacts[0]).await.unwrap();
    let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(kinds, ["recording", "waveform"], "the commit did happen");
    let bytes = super::read_recording_as_supervisor(&app, contacts[0])
        .await
        .expect("a committed recording reads back");
    assert!(bytes == wav(0).as_ref(), "not the uploaded recording");
    let mut listed = app.objects.list().await.unwrap();
    listed.sort();
    let mut rows: Vec<_> = objects.iter().map(|o| o.id).collect();
    rows.sort();
    assert_eq!(listed, rows, "no object lost, none orphaned");
    assert!(app.store.pending_objects().await.unwrap().is_empty());
    // And the PBX's retry is answered as the same recording.
    let again = upload_all(&app, &contacts).await;
    let ack = again[0].as_ref().expect("the retry finds it stored");
    assert_eq!(
        ack.sha256,
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &wav(0)))
    );
}
