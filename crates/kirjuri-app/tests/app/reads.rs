//! Recording reads against a real data folder: whole, by byte range and as
//! the PCM16 playback rendition, each range equal to the same bytes of the
//! whole, and each read audited once. The ranges are chosen around the
//! object's 64 KiB segments, because a read opens only the segments it
//! needs — the first one or two with the object's header in one call, the
//! rest in batches (`read::open_stream`) — and the playback's ranges around
//! its 44-byte header and its frames.

use std::ops::RangeInclusive;

use bytes::Bytes;
use futures::StreamExt;
use kirjuri_app::Kirjuri;
use kirjuri_app::read::{RangeRequest, RecordingBody};
use kirjuri_core::access::Actor;
use kirjuri_core::clock::SystemClock;
use kirjuri_core::contact::ContactInput;
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::purpose::Purpose;
use kirjuri_core::role::Role;
use kirjuri_core::username::UserName;
use kirjuri_core::wav::{Encoding, synth};
use kirjuri_store::AuditFilter;
use serde_json::json;

/// 64 KiB: one segment of plaintext.
const SEGMENT: u64 = 64 * 1024;

/// An inclusive byte range, clamped as the HTTP layer's would be.
struct Wanted(RangeInclusive<u64>);

impl RangeRequest for Wanted {
    fn resolve(&self, len: u64) -> kirjuri_app::Result<Option<RangeInclusive<u64>>> {
        if *self.0.start() >= len {
            return Err(kirjuri_app::Error::RangeNotSatisfiable { len });
        }
        Ok(Some(*self.0.start()..=(*self.0.end()).min(len - 1)))
    }
}

fn supervisor() -> Actor {
    Actor {
        name: UserName::parse("sanna", "user").unwrap(),
        role: Role::Supervisor,
        confidentiality_agreement: false,
        reason: None,
    }
}

async fn collect(body: RecordingBody) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut stream = body.stream;
    while let Some(piece) = stream.next().await {
        bytes.extend_from_slice(&piece.unwrap());
    }
    bytes
}

/// A call whose recording is `wav`.
async fn recorded(app: &Kirjuri, wav: Vec<u8>) -> ContactId {
    let input: ContactInput = serde_json::from_value(json!({
        "external_id": "reads-1",
        "channel": "call_in",
        "started_at": "2026-11-29T09:15:02+02:00",
        "agent": "aino",
    }))
    .unwrap();
    let (contact, _) = app.create_contact(None, input).await.unwrap();
    let body =
        futures::stream::once(async move { Ok::<_, std::convert::Infallible>(Bytes::from(wav)) });
    app.store_recording(None, contact, body, 1 << 24)
        .await
        .unwrap();
    contact
}

#[tokio::test]
async fn every_range_of_a_recording_and_of_its_playback_is_those_bytes_of_the_whole() {
    // Arrange: µ-law stereo (the playback doubles every sample), about
    // 5.5 segments long.
    let dir = tempfile::tempdir().unwrap();
    let config = kirjuri_app::Config {
        data: dir.path().join("data"),
        ..kirjuri_app::Config::default()
    };
    let app = Kirjuri::open(config, std::sync::Arc::new(SystemClock))
        .await
        .unwrap();
    let wav = synth::wav_bytes(Encoding::MuLaw, 2, 8000, 180_000, false);
    let len = wav.len() as u64;
    assert!(len > 5 * SEGMENT && len < 6 * SEGMENT, "{len}");
    let contact = recorded(&app, wav.clone()).await;
    let (actor, reader, purpose) = (supervisor(), UserId::new_v7(), Purpose::QualityAssurance);
    let recording_ranges = [
        0..=99,
        0..=SEGMENT - 1,
        SEGMENT - 10..=SEGMENT + 9,
        // A 64 KiB seek at an odd offset: two segments.
        3 * SEGMENT + 12_345..=4 * SEGMENT + 12_344,
        // More than the first batch: the rest comes in later ones.
        SEGMENT + 1..=len - 2,
        len - 10..=len + 1000,
    ];

    // Act
    let whole = collect(
        app.read_recording(&actor, reader, contact, purpose, None)
            .await
            .unwrap(),
    )
    .await;
    let mut ranged = Vec::new();
    for range in &recording_ranges {
        let request = Wanted(range.clone());
        let body = app
            .read_recording(&actor, reader, contact, purpose, Some(&request))
            .await
            .unwrap();
        ranged.push((body.range.clone(), collect(body).await));
    }
    let playback = collect(
        app.read_playback(&actor, reader, contact, purpose, None)
            .await
            .unwrap(),
    )
    .await;
    let play_len = playback.len() as u64;
    let playback_ranges = [
        0..=10,
        // Across the 44-byte header into the first frames.
        40..=50,
        43..=44,
        45..=2 * SEGMENT + 7,
        5 * SEGMENT + 3..=play_len - 1,
    ];
    let mut played = Vec::new();
    for range in &playback_ranges {
        let request = Wanted(range.clone());
        let body = app
            .read_playback(&actor, reader, contact, purpose, Some(&request))
            .await
            .unwrap();
        played.push(collect(body).await);
    }
    let peaks = app
        .read_peaks(&actor, reader, contact, purpose)
        .await
        .unwrap();

    // Assert
    assert_eq!(whole, wav);
    for (range, (resolved, bytes)) in recording_ranges.iter().zip(&ranged) {
        let end = (*range.end()).min(len - 1);
        assert_eq!(resolved.clone(), Some(*range.start()..=end));
        assert!(
            bytes[..] == wav[*range.start() as usize..=end as usize],
            "recording {range:?}"
        );
    }
    assert_eq!(play_len, 44 + 2 * 2 * 180_000, "µ-law doubles in PCM16");
    for (range, bytes) in playback_ranges.iter().zip(&played) {
        assert!(
            bytes[..] == playback[*range.start() as usize..=*range.end() as usize],
            "playback {range:?}"
        );
    }
    assert_eq!(peaks.channels, 2);
    let filter = AuditFilter {
        action: Some("recording.read".into()),
        actor: Some(reader),
        limit: 100,
        ..AuditFilter::default()
    };
    let reads = app.store.search_audit(&filter).await.unwrap().len();
    let expected = 1 + recording_ranges.len() + 1 + playback_ranges.len() + 1;
    assert_eq!(reads, expected, "each read audited once");
}
