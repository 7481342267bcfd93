//! Fuzz target: the segmented stream format (`kirjuri_vault::stream`).
//! Two properties:
//! - opening stored bytes an attacker wrote (any header, any segments,
//!   any claimed plaintext length) never panics and never yields plaintext;
//! - what the sealer writes opens back exactly, for any range of it.
#![no_main]

use std::sync::OnceLock;

use kirjuri_core::ids::ObjectId;
use kirjuri_vault::keyring::{DataKey, Keyring};
use kirjuri_vault::stream::{StreamOpener, seal_to_vec};
use libfuzzer_sys::fuzz_target;

/// One keyring for the whole run (its file lives in a temporary folder).
fn key() -> &'static (tempfile::TempDir, DataKey) {
    static KEY: OnceLock<(tempfile::TempDir, DataKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let folder = tempfile::tempdir().expect("temporary folder");
        let keyring = Keyring::open_or_create(&folder.path().join("keys")).expect("keyring");
        let key = keyring.generate_data_key().expect("data key");
        (folder, key)
    })
}

fuzz_target!(|data: &[u8]| {
    let (_, key) = key();
    let id = ObjectId::from_uuid(uuid_of(data));
    if data.len() < 9 {
        return;
    }
    let (claim, stored) = data.split_at(8);
    let claimed_len = u64::from_le_bytes(claim.try_into().unwrap_or_default()) % (1 << 24);

    // Forged stored bytes: never plaintext.
    if stored.len() >= 12 {
        if let Ok(opener) = StreamOpener::new(key, &id, &stored[..12], claimed_len) {
            for index in 0..opener.segment_count().min(64) {
                let Ok(range) = opener.segment_sealed_range(index) else {
                    continue;
                };
                let (Ok(start), Ok(end)) = (usize::try_from(range.start), usize::try_from(range.end)) else {
                    continue;
                };
                if let Some(segment) = stored.get(start..end) {
                    let mut segment = segment.to_vec();
                    assert!(opener.open_segment(index, &mut segment).is_err(), "a forged segment opened");
                }
            }
            if let Ok(plan) = opener.plan(0..claimed_len.min(opener.plaintext_len())) {
                let mut sealed = stored.to_vec();
                let mut out = Vec::new();
                assert!(opener.open_plan(&plan, &mut sealed, &mut out).is_err() || plan.take == 0);
                assert!(out.is_empty(), "plaintext left behind by a failed open");
            }
        }
    }

    // Round trip: seal the input, read back a range the input chooses.
    let plaintext = stored;
    let Ok(sealed) = seal_to_vec(key, &id, plaintext) else {
        panic!("sealing {} bytes failed", plaintext.len());
    };
    let opener = StreamOpener::new(key, &id, &sealed[..12], plaintext.len() as u64).expect("opener");
    let len = plaintext.len() as u64;
    let a = u64::from(claim[0]) * 997 % (len + 1);
    let b = u64::from(claim[1]) * 65_599 % (len + 1);
    let range = a.min(b)..a.max(b);
    let plan = opener.plan(range.clone()).expect("plan inside the object");
    let start = usize::try_from(plan.sealed_range.start).expect("fits");
    let end = usize::try_from(plan.sealed_range.end).expect("fits");
    let mut stored = sealed[start..end].to_vec();
    let mut out = Vec::new();
    opener.open_plan(&plan, &mut stored, &mut out).expect("what was sealed opens");
    assert_eq!(out, plaintext[range.start as usize..range.end as usize]);
});

/// An object id derived from the input, so ids vary too.
fn uuid_of(data: &[u8]) -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    for (i, b) in data.iter().take(16).enumerate() {
        bytes[i] = *b;
    }
    uuid::Uuid::from_bytes(bytes)
}
