//! The S3 backend against a real Garage (no mock): multipart round trips,
//! visibility only after commit, abort, truncation, delete, list, refusal to
//! overwrite, secrets kept out of errors, and memory that stays bounded
//! whatever the object's size.
//!
//! The server is the one named by `KIRJURI_TEST_S3_*`, or a Garage that
//! `scripts/garage` starts for this test binary (`kirjuri_testkit::garage`).

#![allow(
    clippy::unwrap_used,
    reason = "a test reports failures by panicking, helpers included"
)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use kirjuri_core::ids::ObjectId;
use kirjuri_vault::s3::MIN_PART_SIZE;
use kirjuri_vault::{
    Error, FILL_ROOM, ObjectStore, ObjectWriter, S3Config, S3Credentials, S3Store,
};
use secrecy::SecretString;
use tokio::sync::RwLock;

use kirjuri_testkit::garage::garage;

/// Held shared by every test and exclusively by the memory test, so no other
/// upload runs in this process while it measures.
static EXCLUSIVE: RwLock<()> = RwLock::const_new(());

/// A 5 MiB-part store, so a few MiB make a multipart upload.
fn small_part_store() -> S3Store {
    garage()
        .store()
        .with_part_size(MIN_PART_SIZE)
        .unwrap()
        .with_concurrent_parts(2)
}

/// Deterministic, non-repeating-per-part test bytes.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 13)) as u8)
        .collect()
}

/// Writes `data` in pieces of the given sizes (cycled).
async fn write_in_pieces(writer: &mut Box<dyn ObjectWriter>, data: &[u8], sizes: &[usize]) {
    let mut rest = data;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at((*size).min(rest.len()));
        writer.write(Bytes::copy_from_slice(head)).await.unwrap();
        rest = tail;
    }
}

/// Writes `data` in pieces of the given sizes (cycled) by
/// `ObjectWriter::write_with`, as intake seals into a writer's buffer.
async fn fill_in_pieces(writer: &mut Box<dyn ObjectWriter>, data: &[u8], sizes: &[usize]) {
    let mut rest = data;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at((*size).min(rest.len()));
        writer
            .write_with(&mut |out| {
                out.extend_from_slice(head);
                Ok(())
            })
            .await
            .unwrap();
        rest = tail;
    }
}

async fn put_bytes(store: &S3Store, id: &ObjectId, data: &[u8]) {
    let mut writer = store.put(id).await.unwrap();
    write_in_pieces(&mut writer, data, &[65_552]).await;
    writer.commit().await.unwrap();
}

/// Waits (briefly) until `check` holds; for effects of a background task.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fills_in_place_cross_part_ends_and_a_fill_past_its_room_is_refused() {
    let _shared = EXCLUSIVE.read().await;
    let store = small_part_store();
    let id = ObjectId::new_v7();
    let data = pattern(2 * MIN_PART_SIZE + 54_321);

    let mut writer = store.put(&id).await.unwrap();
    fill_in_pieces(
        &mut writer,
        &data[..MIN_PART_SIZE + 99],
        &[FILL_ROOM, 1, 65_552],
    )
    .await;
    let refused = writer
        .write_with(&mut |out| {
            out.extend_from_slice(&vec![0xAB; FILL_ROOM + 1]);
            Ok(())
        })
        .await;
    write_in_pieces(&mut writer, &data[MIN_PART_SIZE + 99..], &[70_000, 3]).await;
    writer.commit().await.unwrap();

    assert!(
        matches!(refused, Err(Error::InvalidInput(_))),
        "{refused:?}"
    );
    let len = data.len() as u64;
    assert_eq!(store.len(&id).await.unwrap(), len);
    let whole = store.get_range(&id, 0..len).await.unwrap();
    assert!(whole == data, "whole object differs");
    store.delete(&id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_part_object_reads_back_bit_exact_across_part_boundaries() {
    let _shared = EXCLUSIVE.read().await;
    let store = small_part_store();
    let id = ObjectId::new_v7();
    let part = MIN_PART_SIZE as u64;
    let data = pattern(12 * 1024 * 1024 + 12_345);
    let len = data.len() as u64;

    let mut writer = store.put(&id).await.unwrap();
    write_in_pieces(&mut writer, &data, &[1, 65_552, 3, 1 << 20, 4095, 7 << 20]).await;
    writer.commit().await.unwrap();

    assert_eq!(store.len(&id).await.unwrap(), len);
    let whole = store.get_range(&id, 0..len).await.unwrap();
    assert!(whole == data, "whole object differs");
    let (stored, head) = store.head(&id, 40).await.unwrap();
    assert!(stored == len && head == data[..40], "head differs");
    for range in [
        0..1,
        part - 1..part + 1,
        part..2 * part,
        2 * part - 3..2 * part + 5,
        2 * part..len,
        len - 1..len,
        17..len - 17,
    ] {
        let bytes = store.get_range(&id, range.clone()).await.unwrap();
        let expected = &data[range.start as usize..range.end as usize];
        assert!(bytes == expected, "range {range:?} differs");
    }
    store.delete(&id).await.unwrap();
}

#[tokio::test]
async fn nothing_is_visible_under_the_id_before_commit() {
    let _shared = EXCLUSIVE.read().await;
    let store = small_part_store();
    let large = ObjectId::new_v7();
    let small = ObjectId::new_v7();
    let mut large_writer = store.put(&large).await.unwrap();
    large_writer
        .write(Bytes::from(pattern(2 * MIN_PART_SIZE + 10)))
        .await
        .unwrap();
    let mut small_writer = store.put(&small).await.unwrap();
    small_writer
        .write(Bytes::from_static(b"small"))
        .await
        .unwrap();

    for id in [&large, &small] {
        assert!(matches!(store.len(id).await, Err(Error::NotFound(_))));
        assert!(matches!(
            store.get_range(id, 0..1).await,
            Err(Error::NotFound(_))
        ));
    }
    // The large one's upload is under way, so the orphan sweep sees it.
    assert_eq!(store.list().await.unwrap(), vec![large]);

    large_writer.commit().await.unwrap();
    small_writer.commit().await.unwrap();
    assert_eq!(
        store.len(&large).await.unwrap(),
        2 * MIN_PART_SIZE as u64 + 10
    );
    assert_eq!(store.get_range(&small, 0..5).await.unwrap(), &b"small"[..]);
    for id in [large, small] {
        store.delete(&id).await.unwrap();
    }
}

#[tokio::test]
async fn abort_and_drop_leave_nothing_behind() {
    let _shared = EXCLUSIVE.read().await;
    let store = small_part_store();
    let aborted = ObjectId::new_v7();
    let dropped = ObjectId::new_v7();

    let mut writer = store.put(&aborted).await.unwrap();
    writer
        .write(Bytes::from(pattern(2 * MIN_PART_SIZE + 1)))
        .await
        .unwrap();
    writer.abort().await.unwrap();
    let mut writer = store.put(&dropped).await.unwrap();
    writer
        .write(Bytes::from(pattern(MIN_PART_SIZE + 1)))
        .await
        .unwrap();
    drop(writer);

    assert!(matches!(store.len(&aborted).await, Err(Error::NotFound(_))));
    assert!(matches!(store.len(&dropped).await, Err(Error::NotFound(_))));
    // Dropping aborts in the background.
    eventually("the dropped upload is aborted", || async {
        store.list().await.unwrap().is_empty()
    })
    .await;
}

#[tokio::test]
async fn reading_past_the_end_reports_truncation_never_a_short_read() {
    let _shared = EXCLUSIVE.read().await;
    let store = garage().store();
    let id = ObjectId::new_v7();
    put_bytes(&store, &id, b"0123456789").await;

    for (range, wanted) in [(5..11, 11), (10..20, 20), (25..30, 30), (11..11, 11)] {
        let error = store.get_range(&id, range.clone()).await.unwrap_err();
        assert!(
            matches!(error, Error::Truncated { wanted: w, len: 10, .. } if w == wanted),
            "{range:?}: {error}"
        );
    }
    assert_eq!(store.get_range(&id, 10..10).await.unwrap(), &b""[..]);
    assert_eq!(store.get_range(&id, 9..10).await.unwrap(), &b"9"[..]);
    let missing = ObjectId::new_v7();
    assert!(matches!(
        store.get_range(&missing, 0..1).await,
        Err(Error::NotFound(_))
    ));
    store.delete(&id).await.unwrap();
}

#[tokio::test]
async fn delete_is_idempotent_and_removes_unfinished_uploads() {
    let _shared = EXCLUSIVE.read().await;
    let store = small_part_store();
    let finished = ObjectId::new_v7();
    put_bytes(&store, &finished, b"abc").await;
    let unfinished = ObjectId::new_v7();
    let mut writer = store.put(&unfinished).await.unwrap();
    writer
        .write(Bytes::from(pattern(MIN_PART_SIZE + 1)))
        .await
        .unwrap();

    store.delete(&finished).await.unwrap();
    store.delete(&finished).await.unwrap();
    store.delete(&ObjectId::new_v7()).await.unwrap();
    store.delete(&unfinished).await.unwrap();

    assert!(matches!(
        store.len(&finished).await,
        Err(Error::NotFound(_))
    ));
    assert!(store.list().await.unwrap().is_empty());
    // The orphaned writer can no longer commit.
    assert!(writer.commit().await.is_err());
    assert!(matches!(
        store.len(&unfinished).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn list_shows_this_stores_objects_and_nothing_else() {
    let _shared = EXCLUSIVE.read().await;
    let garage = garage();
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let store = S3Store::open(&garage.config(&prefix), garage.credentials()).unwrap();
    // Another store nested inside this one's prefix: its keys have one
    // segment more and are not this store's objects.
    let nested = S3Store::open(
        &garage.config(&format!("{prefix}/nested")),
        garage.credentials(),
    )
    .unwrap();
    let mut expected: Vec<ObjectId> = (0..5).map(|_| ObjectId::new_v7()).collect();
    for id in &expected {
        put_bytes(&store, id, b"data").await;
    }
    let foreign = ObjectId::new_v7();
    put_bytes(&nested, &foreign, b"other").await;

    let listed = store.list().await.unwrap();

    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(nested.list().await.unwrap(), vec![foreign]);
    for id in &expected {
        store.delete(id).await.unwrap();
    }
    nested.delete(&foreign).await.unwrap();
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_existing_object_is_never_overwritten() {
    let _shared = EXCLUSIVE.read().await;
    let store = small_part_store();
    for size in [8, 2 * MIN_PART_SIZE + 3] {
        let id = ObjectId::new_v7();
        let original = pattern(size);
        // Two writers pass the check in `put` before either commits.
        let mut first = store.put(&id).await.unwrap();
        let mut second = store.put(&id).await.unwrap();
        first.write(Bytes::from(original.clone())).await.unwrap();
        second.write(Bytes::from(vec![0xEE; size])).await.unwrap();

        first.commit().await.unwrap();
        let late = second.commit().await;
        let again = store.put(&id).await;

        assert!(matches!(late, Err(Error::AlreadyExists(_))), "{late:?}");
        assert!(matches!(again, Err(Error::AlreadyExists(_))));
        let stored = store.get_range(&id, 0..size as u64).await.unwrap();
        assert!(stored == original, "size {size}: the original was replaced");
        store.delete(&id).await.unwrap();
        // The refused upload left no parts behind.
        assert!(store.list().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn an_empty_object_can_be_stored() {
    let _shared = EXCLUSIVE.read().await;
    let store = garage().store();
    let id = ObjectId::new_v7();

    store.put(&id).await.unwrap().commit().await.unwrap();

    assert_eq!(store.len(&id).await.unwrap(), 0);
    assert_eq!(store.get_range(&id, 0..0).await.unwrap(), &b""[..]);
    store.delete(&id).await.unwrap();
}

#[tokio::test]
async fn wrong_credentials_give_a_clear_error_that_shows_no_secret() {
    let _shared = EXCLUSIVE.read().await;
    let garage = garage();
    let wrong_secret = "0".repeat(64);
    let unknown_key = "GK000000000000000000000000";
    let cases = [
        (garage.access_key.clone(), wrong_secret.clone()),
        (unknown_key.to_owned(), garage.secret_key.clone()),
    ];
    for (access_key, secret_key) in cases {
        let credentials = S3Credentials::new(
            SecretString::from(access_key.clone()),
            SecretString::from(secret_key.clone()),
        )
        .unwrap();
        let store = S3Store::open(&garage.config("test-denied"), credentials).unwrap();
        let id = ObjectId::new_v7();

        let errors = [
            store.probe().await.unwrap_err(),
            store.put(&id).await.map(|_| ()).unwrap_err(),
            store.list().await.unwrap_err(),
            store.delete(&id).await.unwrap_err(),
        ];

        for error in errors {
            let text = format!("{error} / {error:?}");
            assert!(text.contains("refused"), "{text}");
            assert!(text.contains(&garage.bucket), "{text}");
            for secret in [&access_key, &secret_key] {
                assert!(!text.contains(secret.as_str()), "{text}");
            }
        }
        let debug = format!("{store:?}");
        assert!(!debug.contains(&access_key) && !debug.contains(&secret_key));
    }
}

#[tokio::test]
async fn a_bad_endpoint_or_bucket_gives_a_clear_error_within_seconds() {
    let _shared = EXCLUSIVE.read().await;
    let garage = garage();
    // A port nothing listens on: bind one, then let it go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = S3Config {
        endpoint: Some(format!("http://{closed}")),
        ..garage.config("test-unreachable")
    };
    let no_bucket = S3Config {
        bucket: "kirjuri-no-such-bucket".into(),
        ..garage.config("test-no-bucket")
    };

    for (config, expected) in [
        (unreachable, closed.to_string()),
        (no_bucket, "kirjuri-no-such-bucket".to_owned()),
    ] {
        let store = S3Store::open(&config, garage.credentials()).unwrap();
        let started = Instant::now();

        let error = store.probe().await.unwrap_err().to_string();
        eprintln!("{error}");

        assert!(started.elapsed() < Duration::from_secs(30), "{error}");
        assert!(error.contains(&expected), "{error}");
        assert!(!error.contains(&garage.secret_key), "{error}");
        assert!(!error.contains(&garage.access_key), "{error}");
    }
    garage.store().probe().await.unwrap();
}

/// Peak and current resident memory of this process, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .map(|kb| kb.trim().parse::<u64>().unwrap() * 1024)
            .unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_upload_runs_in_bounded_memory() {
    let _exclusive = EXCLUSIVE.write().await;
    let store = garage().store();
    let bound = store.upload_memory_bound() as u64;
    let total: u64 = 256 << 20;
    let chunk = Bytes::from(pattern(64 * 1024));
    let id = ObjectId::new_v7();
    let mut writer = store.put(&id).await.unwrap();
    // Reset the peak to the current size (Linux clear_refs "5").
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let (_, before) = memory();

    let mut written = 0;
    while written < total {
        writer.write(chunk.clone()).await.unwrap();
        written += chunk.len() as u64;
    }
    writer.commit().await.unwrap();
    let (peak, _) = memory();

    let grown = peak.saturating_sub(before);
    eprintln!(
        "uploaded {} MiB; resident memory grew by {:.1} MiB at peak (bound {} MiB)",
        total >> 20,
        grown as f64 / (1 << 20) as f64,
        bound >> 20
    );
    assert!(
        grown < bound + (16 << 20),
        "memory grew by {grown} bytes for a {total}-byte upload (bound {bound})"
    );
    assert_eq!(store.len(&id).await.unwrap(), total);
    let tail = store.get_range(&id, total - 10..total).await.unwrap();
    assert_eq!(&tail[..], &chunk[chunk.len() - 10..]);
    store.delete(&id).await.unwrap();
}
