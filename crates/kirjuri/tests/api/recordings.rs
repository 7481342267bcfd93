//! Recordings through the API (ING-1, ING-3, SEC-3): every accepted WAV
//! flavour comes back bit-exact, Range reads return exactly the bytes asked
//! for (across the 64 KiB segments the vault seals), every bad file is refused
//! with an error naming its problem and leaves nothing behind, and a stored
//! recording is immutable evidence.

use std::collections::BTreeSet;
use std::path::PathBuf;

use kirjuri_core::wav::Encoding;
use kirjuri_core::wav::synth;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::crash::{assert_no_orphans, stored_object_ids};
use crate::helpers::{
    PURPOSE, SEGMENT, TestApp, assert_error, call, chunked_body, noise_wav, sha256_hex, spawn_app,
    spawn_app_with_env, wav,
};

#[tokio::test]
async fn every_accepted_encoding_round_trips_bit_exact_plain_and_extensible_mono_and_stereo() {
    // Arrange: 8 encodings × plain/EXTENSIBLE × mono/stereo, each with a LIST
    // chunk before the audio, as recorders write their metadata.
    let app = spawn_app().await;
    let sample_rate = 8000;
    let frames = 4001; // odd, so 8-bit mono files also carry a pad byte
    let mut cases = Vec::new();
    for encoding in Encoding::ALL {
        for extensible in [false, true] {
            for channels in [1u16, 2] {
                let mut bytes =
                    synth::wav_bytes(encoding, channels, sample_rate, frames, extensible);
                let list =
                    synth::list_info(&[(*b"INAM", "Kirjuri test call"), (*b"ICMT", "synthetic")]);
                synth::insert_chunk_before_data(&mut bytes, &list);
                cases.push((encoding, extensible, channels, bytes));
            }
        }
    }

    for (encoding, extensible, channels, bytes) in cases {
        let label = format!("{encoding} extensible={extensible} channels={channels}");
        let id = app.new_call("aino").await;

        // Act
        let response = app
            .upload_recording(&app.tokens.pbx, &id, bytes.clone())
            .await;
        let status = response.status();
        let ack: Value = response.json().await.expect("a JSON acknowledgement");
        let downloaded = app.recording_as_supervisor(&id).await;
        let contact = app.contact_as_supervisor(&id).await;

        // Assert
        assert_eq!(status, StatusCode::CREATED, "{label}: {ack}");
        assert_eq!(
            ack["sha256"],
            json!(sha256_hex(&bytes)),
            "{label}: the ack's sha256 is of the bytes sent"
        );
        assert_eq!(ack["encoding"], json!(encoding.as_str()), "{label}");
        assert_eq!(ack["channels"], json!(channels), "{label}");
        assert_eq!(ack["sample_rate"], json!(sample_rate), "{label}");
        assert_eq!(
            ack["duration_ms"],
            json!(500),
            "{label}: 4001 frames at 8 kHz play for 500 ms"
        );
        assert!(
            downloaded[..] == bytes[..],
            "{label}: the download differs from the upload"
        );
        assert_eq!(
            contact["recording"]["sha256"], ack["sha256"],
            "{label}: the contact shows its recording"
        );
        assert_eq!(contact["recording"]["duration_ms"], json!(500), "{label}");
    }
}

#[tokio::test]
async fn a_list_chunk_after_the_audio_is_kept_byte_for_byte() {
    // Arrange
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    let mut bytes = wav(8000);
    synth::append_chunk(
        &mut bytes,
        &synth::list_info(&[(*b"ICMT", "trailing metadata, odd!")]),
    );

    // Act
    let ack = app.store_recording(&id, &bytes).await;
    let downloaded = app.recording_as_supervisor(&id).await;

    // Assert
    assert_eq!(ack["sha256"], json!(sha256_hex(&bytes)));
    assert_eq!(ack["duration_ms"], json!(1000));
    assert!(
        downloaded[..] == bytes[..],
        "the download differs from the upload"
    );
}

/// Reads `range` and asserts 206, the Content-Range and exactly `expected`.
async fn assert_range(app: &TestApp, id: &str, range: &str, wav: &[u8], first: usize, last: usize) {
    let response = app
        .get_recording(&app.tokens.sanna, id, Some(PURPOSE), Some(range))
        .await;
    let status = response.status();
    let content_range = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)
        .map(|v| v.to_str().expect("ASCII Content-Range").to_owned());
    let body = response.bytes().await.expect("the range body");
    assert_eq!(status, StatusCode::PARTIAL_CONTENT, "Range: {range}");
    assert_eq!(
        content_range,
        Some(format!("bytes {first}-{last}/{}", wav.len())),
        "Range: {range}"
    );
    assert_eq!(body.len(), last - first + 1, "Range: {range}: length");
    assert!(
        body[..] == wav[first..=last],
        "Range: {range}: the bytes differ from the upload"
    );
}

#[tokio::test]
async fn range_reads_return_exactly_the_bytes_asked_for_across_segment_boundaries() {
    // Arrange: a recording of a bit over 300 KiB, so it spans five segments.
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    let bytes = noise_wav(300 * 1024 + 1000, 7);
    app.store_recording(&id, &bytes).await;
    let len = bytes.len();
    let seg = SEGMENT as usize;

    // Act + Assert: each range below, one request each.
    let cases: Vec<(String, usize, usize)> = vec![
        ("bytes=0-0".into(), 0, 0),
        ("bytes=0-99".into(), 0, 99),
        ("bytes=100-199".into(), 100, 199),
        (
            format!("bytes={}-{}", len / 2 - 500, len / 2 + 499),
            len / 2 - 500,
            len / 2 + 499,
        ),
        (format!("bytes={}-{}", seg - 1, seg), seg - 1, seg),
        (
            format!("bytes={}-{}", seg - 10, seg + 10),
            seg - 10,
            seg + 10,
        ),
        (format!("bytes={}-{}", seg, 2 * seg - 1), seg, 2 * seg - 1),
        (
            format!("bytes={}-{}", 2 * seg - 3, 2 * seg + 2),
            2 * seg - 3,
            2 * seg + 2,
        ),
        (
            format!("bytes={}-{}", seg - 100, 3 * seg + 100),
            seg - 100,
            3 * seg + 100,
        ),
        (format!("bytes={}-{}", 4 * seg, 4 * seg), 4 * seg, 4 * seg),
        (format!("bytes={}-{}", len - 1, len - 1), len - 1, len - 1),
        (
            format!("bytes={}-{}", len - 10, len + 1000),
            len - 10,
            len - 1,
        ),
        ("bytes=100-".into(), 100, len - 1),
        (format!("bytes={}-", 3 * seg + 5), 3 * seg + 5, len - 1),
        ("bytes=-500".into(), len - 500, len - 1),
        ("bytes=-1".into(), len - 1, len - 1),
        (format!("bytes=-{}", seg + 1), len - seg - 1, len - 1),
    ];
    for (range, first, last) in cases {
        assert_range(&app, &id, &range, &bytes, first, last).await;
    }
}

#[tokio::test]
async fn a_range_beyond_the_end_is_refused_with_416_and_the_length() {
    // Arrange
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    let bytes = noise_wav(70_000, 3);
    app.store_recording(&id, &bytes).await;
    let len = bytes.len();

    for range in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 10, len + 20),
    ] {
        // Act
        let response = app
            .get_recording(&app.tokens.sanna, &id, Some(PURPOSE), Some(&range))
            .await;
        let content_range = response
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .cloned();

        // Assert
        assert_error(response, StatusCode::RANGE_NOT_SATISFIABLE).await;
        assert_eq!(
            content_range.as_ref().and_then(|v| v.to_str().ok()),
            Some(format!("bytes */{len}").as_str()),
            "Range: {range}: a 416 tells the length"
        );
    }
}

/// Files under objects/ that are not the already-stored `before` ones.
fn new_object_files(app: &TestApp, before: &BTreeSet<PathBuf>) -> Vec<PathBuf> {
    app.object_files()
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect()
}

/// Asserts a refused upload left nothing: no new object file (temporary ones
/// included), no recording on the contact, a 404 download, and a valid upload
/// for the same contact still succeeds.
async fn assert_nothing_left(app: &TestApp, id: &str, before: &BTreeSet<PathBuf>, label: &str) {
    let left = new_object_files(app, before);
    assert!(
        left.is_empty(),
        "{label}: the refusal left files behind: {left:?}"
    );
    let contact = app.contact_as_supervisor(id).await;
    assert!(
        contact.get("recording").is_none_or(Value::is_null),
        "{label}: the contact shows a recording: {contact}"
    );
    let download = app
        .get_recording(&app.tokens.sanna, id, Some(PURPOSE), None)
        .await;
    assert_eq!(
        download.status(),
        StatusCode::NOT_FOUND,
        "{label}: a refused recording cannot be downloaded"
    );
    let good = wav(800);
    let response = app
        .upload_recording(&app.tokens.pbx, id, good.clone())
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{label}: a valid upload after the refusal is refused"
    );
    assert!(
        app.recording_as_supervisor(id).await[..] == good[..],
        "{label}: the later upload reads back wrong"
    );
}

#[tokio::test]
async fn every_bad_file_is_refused_with_an_error_naming_its_problem_and_leaves_nothing() {
    // Arrange: one bad body per problem, with words its message must contain.
    let app = spawn_app().await;
    let good = wav(8000);
    let mut mp3 = good.clone();
    mp3[20..22].copy_from_slice(&0x0055u16.to_le_bytes());
    let truncated = good[..good.len() / 2].to_vec();
    let mut lying = good.clone();
    let data_at = synth::find_chunk(&lying, *b"data").expect("a data chunk");
    lying[data_at + 4..data_at + 8].copy_from_slice(&1_000_000u32.to_le_bytes());
    let zero_channels = synth::wav_bytes(Encoding::PcmS16, 0, 8000, 100, false);
    let mut mp3_frame = vec![0xFF, 0xFB, 0x90, 0x64];
    mp3_frame.resize(4000, 0x55);
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("an empty body", Vec::new(), &["empty"]),
        (
            "text, not RIFF",
            b"Hello, this is not a recording at all.".repeat(20),
            &["riff"],
        ),
        ("an MP3 stream", mp3_frame, &["riff", "mp3"]),
        (
            "an MP3 in a WAV (format tag 0x55)",
            mp3,
            &["codec", "mpeg", "0x0055"],
        ),
        ("a truncated file", truncated, &["truncated"]),
        (
            "a data chunk that claims more than the file holds",
            lying,
            &["data", "size"],
        ),
        ("zero channels", zero_channels, &["channel"]),
    ];

    for (label, body, words) in cases {
        let id = app.new_call("aino").await;
        let before: BTreeSet<PathBuf> = app.object_files().into_iter().collect();

        // Act
        let response = app.upload_recording(&app.tokens.pbx, &id, body).await;

        // Assert
        let (code, message) = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let lower = message.to_lowercase();
        for word in words {
            assert!(
                lower.contains(word),
                "{label}: the message should mention {word:?}: {message} ({code})"
            );
        }
        assert_nothing_left(&app, &id, &before, label).await;
    }
}

#[tokio::test]
async fn a_recording_sent_with_another_content_type_is_refused_with_415_and_leaves_nothing() {
    // Arrange
    let app = spawn_app().await;

    for content_type in [
        Some("application/octet-stream"),
        Some("audio/mpeg"),
        Some("text/plain"),
        None,
    ] {
        let id = app.new_call("aino").await;
        let before: BTreeSet<PathBuf> = app.object_files().into_iter().collect();

        // Act
        let response = app
            .upload_recording_raw(Some(&app.tokens.pbx), &id, content_type, wav(800))
            .await;

        // Assert
        let (_, message) = assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        assert!(
            message.contains("audio/wav"),
            "{content_type:?}: the message names the expected type: {message}"
        );
        assert_nothing_left(
            &app,
            &id,
            &before,
            &format!("Content-Type {content_type:?}"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_recording_over_the_configured_cap_is_refused_with_413_and_leaves_nothing() {
    // Arrange: a server that accepts recordings of at most 100 000 bytes.
    let app = spawn_app_with_env(&[("KIRJURI_MAX_RECORDING_BYTES", "100000")]).await;
    let big = noise_wav(150_000, 11);
    let cases = [
        ("with a Content-Length", false),
        ("streamed without a length", true),
    ];

    for (label, streamed) in cases {
        let id = app.new_call("aino").await;
        let before: BTreeSet<PathBuf> = app.object_files().into_iter().collect();

        // Act
        let response = if streamed {
            app.upload_recording(&app.tokens.pbx, &id, chunked_body(big.clone(), 16 * 1024))
                .await
        } else {
            app.upload_recording(&app.tokens.pbx, &id, big.clone())
                .await
        };

        // Assert
        let (_, message) = assert_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
        assert!(
            message.contains("100000"),
            "{label}: the message names the limit: {message}"
        );
        assert_nothing_left(&app, &id, &before, label).await;
    }
}

#[tokio::test]
async fn the_same_recording_twice_gets_the_same_acknowledgement_and_different_bytes_conflict() {
    // Arrange
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    let first = wav(8000);
    let first_ack = app.store_recording(&id, &first).await;

    // Act
    let again = app
        .upload_recording(&app.tokens.pbx, &id, first.clone())
        .await;
    let again_status = again.status();
    let again_ack: Value = again.json().await.expect("a JSON acknowledgement");
    let different = app.upload_recording(&app.tokens.pbx, &id, wav(8001)).await;

    // Assert
    assert_eq!(
        again_status,
        StatusCode::OK,
        "repeating the same bytes answers 200: {again_ack}"
    );
    assert_eq!(
        again_ack, first_ack,
        "the repeated upload gets the same acknowledgement"
    );
    let (_, message) = assert_error(different, StatusCode::CONFLICT).await;
    assert!(
        message.contains("recording"),
        "the conflict explains itself: {message}"
    );
    assert!(
        app.recording_as_supervisor(&id).await[..] == first[..],
        "the first recording is kept unchanged"
    );
    assert_eq!(
        app.contact_as_supervisor(&id).await["recording"]["sha256"],
        first_ack["sha256"]
    );
}

#[tokio::test]
async fn a_different_recording_for_a_recorded_contact_conflicts_even_when_streamed() {
    // Arrange
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    let first = noise_wav(200_000, 1);
    app.store_recording(&id, &first).await;
    let files_before = app.object_files();

    // Act
    let response = app
        .upload_recording(
            &app.tokens.pbx,
            &id,
            chunked_body(noise_wav(200_000, 2), 8192),
        )
        .await;

    // Assert
    assert_error(response, StatusCode::CONFLICT).await;
    assert_eq!(
        app.object_files(),
        files_before,
        "a conflicting upload stores nothing"
    );
    assert!(app.recording_as_supervisor(&id).await[..] == first[..]);
}

#[tokio::test]
async fn a_recording_for_a_chat_or_email_contact_is_refused_with_409() {
    // Arrange
    let app = spawn_app().await;
    for channel in ["chat", "email", "form"] {
        let mut contact = call("aino");
        contact["channel"] = json!(channel);
        let id = app.new_contact(&contact).await;

        // Act
        let response = app.upload_recording(&app.tokens.pbx, &id, wav(800)).await;

        // Assert
        let (_, message) = assert_error(response, StatusCode::CONFLICT).await;
        assert!(
            message.contains(channel) || message.contains("call"),
            "{channel}: {message}"
        );
        assert!(
            app.object_files().is_empty(),
            "{channel}: nothing is stored"
        );
    }
}

#[tokio::test]
async fn an_outbound_call_takes_a_recording_too() {
    // Arrange
    let app = spawn_app().await;
    let mut contact = call("bertta");
    contact["channel"] = json!("call_out");
    let id = app.new_contact(&contact).await;
    let bytes = wav(1600);

    // Act
    let ack = app.store_recording(&id, &bytes).await;

    // Assert
    assert_eq!(ack["duration_ms"], json!(200));
    assert!(app.recording_as_supervisor(&id).await[..] == bytes[..]);
}

#[tokio::test]
async fn a_recording_for_a_contact_that_does_not_exist_is_404() {
    // Arrange
    let app = spawn_app().await;
    let missing = "01890000-0000-7000-8000-000000000000";

    // Act
    let upload = app
        .upload_recording(&app.tokens.pbx, missing, wav(800))
        .await;
    let garbage = app
        .upload_recording(&app.tokens.pbx, "not-an-id", wav(800))
        .await;

    // Assert
    assert_error(upload, StatusCode::NOT_FOUND).await;
    assert_error(garbage, StatusCode::NOT_FOUND).await;
    assert!(
        app.object_files().is_empty(),
        "nothing is stored for a contact that does not exist"
    );
}

#[tokio::test]
async fn two_different_recordings_raced_for_one_contact_store_exactly_one() {
    // Arrange: two integrations (or a confused retry) send different
    // recordings for the same call at the same moment.
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    let first = noise_wav(1_500_000, 31);
    let second = noise_wav(1_500_000, 32);

    // Act
    let (a, b) = tokio::join!(
        app.upload_recording(&app.tokens.pbx, &id, chunked_body(first.clone(), 64 * 1024)),
        app.upload_recording(
            &app.tokens.pbx,
            &id,
            chunked_body(second.clone(), 64 * 1024)
        ),
    );

    // Assert
    let statuses = [a.status(), b.status()];
    assert!(
        statuses.contains(&StatusCode::CREATED) && statuses.contains(&StatusCode::CONFLICT),
        "one upload wins (201), the other conflicts (409): {statuses:?}"
    );
    let winner = if a.status() == StatusCode::CREATED {
        &first
    } else {
        &second
    };
    assert!(
        app.recording_as_supervisor(&id).await[..] == winner[..],
        "the winner is what is stored"
    );
    assert_no_orphans(&app, "after the race");
    assert_eq!(
        stored_object_ids(&app, Some("recording")).len(),
        1,
        "exactly one recording is stored"
    );
}
