//! The erasure ledger's tests: appending and reading back across files,
//! processes and threads, and every kind of damage a reader must name.

use std::collections::BTreeSet;
use std::fs::{self};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::DateTime;
use kirjuri_core::ids::ContactId;
use kirjuri_vault::AuditSigner;
use uuid::Uuid;

use super::block::encode_block;
use super::files::{file_len, file_path, list_files};
use super::*;

fn signer(dir: &Path, name: &str) -> AuditSigner {
    AuditSigner::open_or_create(&dir.join(name), LEDGER_KEY_NAME).unwrap()
}

fn fixture() -> (tempfile::TempDir, PathBuf, [u8; 32]) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("ledger");
    let key = signer(temp.path(), "audit.key").public_key();
    (temp, dir, key)
}

fn open(temp: &Path, dir: &Path) -> ErasureLedger {
    ErasureLedger::open(dir, signer(temp, "audit.key")).unwrap()
}

fn entry(n: u128) -> LedgerEntry {
    LedgerEntry {
        id: Uuid::from_u128(n),
        contact_id: ContactId::from_uuid(Uuid::from_u128(1_000_000 + n)),
        kind: "recording".into(),
        sha256: Some(format!("{:064x}", n)),
        deleted_at: DateTime::from_timestamp_micros(1_750_000_000_000_000 + n as i64).unwrap(),
        rule: "call_recording: 12 months (privacy notice §12)".into(),
        reason: "retention".into(),
    }
}

fn batch(from: u128, n: u128) -> Vec<LedgerEntry> {
    (from..from + n).map(entry).collect()
}

fn read_all(dir: &Path, key: [u8; 32]) -> std::result::Result<Vec<LedgerBlock>, LedgerError> {
    let mut reader = LedgerReader::open(dir, key)?;
    let mut blocks = Vec::new();
    while let Some(block) = reader.next_block()? {
        blocks.push(block);
    }
    Ok(blocks)
}

fn damage_of(dir: &Path, key: [u8; 32]) -> LedgerDamage {
    match verify(dir, key) {
        Err(LedgerError::Damaged { damage, .. }) => damage,
        other => panic!("expected damage, got {other:?}"),
    }
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(path, lines.concat()).unwrap();
}

#[tokio::test]
async fn appended_blocks_read_back_in_order_with_their_entries() {
    let (temp, dir, key) = fixture();
    let ledger = open(temp.path(), &dir);
    let first = ledger.append(&batch(1, 3)).await.unwrap();
    assert_eq!(ledger.append(&[]).await.unwrap(), None);
    let mut contact = entry(4);
    contact.kind = "contact".into();
    contact.sha256 = None;
    let second = ledger.append(&[contact.clone()]).await.unwrap();

    let blocks = read_all(&dir, key).unwrap();
    assert_eq!(blocks.len(), 2, "an empty batch writes no block");
    assert_eq!(blocks[0].seq, 1);
    assert_eq!(blocks[0].entries, batch(1, 3));
    assert_eq!(blocks[1].entries, vec![contact]);
    let summary = verify(&dir, key).unwrap();
    assert_eq!(summary.entries, 4);
    assert!(!summary.torn_tail);
    assert_eq!(summary.head, ledger.head().await.unwrap());
    assert_eq!(summary.head.seq, 2);
    assert_eq!(summary.head.hash, blocks[1].hash);
    // Each append answers the block it wrote (what an erasure receipt cites).
    assert_eq!(first.map(|h| h.seq), Some(1));
    assert_eq!(second, Some(summary.head));
    // The folder is private.
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

#[tokio::test]
async fn a_missing_or_empty_folder_is_an_empty_ledger() {
    let (temp, dir, key) = fixture();
    assert_eq!(verify(&dir, key).unwrap().head, LedgerHead::EMPTY);
    let ledger = open(temp.path(), &dir);
    assert_eq!(ledger.head().await.unwrap(), LedgerHead::EMPTY);
    assert_eq!(verify(&dir, key).unwrap().entries, 0);
}

#[test]
fn appenders_with_separate_handles_on_many_threads_keep_one_chain() {
    let (temp, dir, key) = fixture();
    let threads: Vec<_> = (0..4u128)
        .map(|t| {
            let ledger = open(temp.path(), &dir);
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                for i in 0..25u128 {
                    let from = t * 1_000 + i * 10;
                    runtime.block_on(ledger.append(&batch(from, 3))).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let blocks = read_all(&dir, key).unwrap();
    assert_eq!(blocks.len(), 100);
    let ids: BTreeSet<Uuid> = blocks
        .iter()
        .flat_map(|b| &b.entries)
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len(), 300, "every entry written exactly once");
}

/// The child half of the two-process test: appends when told to.
const CHILD_DIR: &str = "KIRJURI_LEDGER_TEST_CHILD_DIR";

#[test]
fn appenders_in_two_processes_keep_one_chain() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    if let Ok(root) = std::env::var(CHILD_DIR) {
        // Running as a child: append 40 blocks as fast as possible.
        let root = PathBuf::from(root);
        let ledger = open(&root, &root.join("ledger"));
        let base = u128::from(std::process::id()) * 1_000_000;
        for i in 0..40 {
            runtime
                .block_on(ledger.append(&batch(base + i * 10, 2)))
                .unwrap();
        }
        return;
    }
    let (temp, dir, key) = fixture();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "ledger::tests::appenders_in_two_processes_keep_one_chain",
                ])
                .env(CHILD_DIR, temp.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let ledger = open(temp.path(), &dir);
    for i in 0..40 {
        runtime.block_on(ledger.append(&batch(i * 10, 2))).unwrap();
    }
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child appender failed");
    }
    let blocks = read_all(&dir, key).unwrap();
    assert_eq!(
        blocks.len(),
        120,
        "three appenders, forty blocks each, one chain"
    );
    let ids: BTreeSet<Uuid> = blocks
        .iter()
        .flat_map(|b| &b.entries)
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len(), 240);
}

#[tokio::test]
async fn a_flipped_byte_anywhere_in_a_block_names_that_block() {
    let (temp, dir, key) = fixture();
    let ledger = open(temp.path(), &dir);
    for i in 0..3 {
        ledger.append(&batch(i * 10, 2)).await.unwrap();
    }
    let path = file_path(&dir, 1);
    let original = lines(&path);
    let line = &original[1];
    // Every byte of block 2 but its newline (whose loss is a torn line
    // or a merged one, covered below).
    for position in 0..line.len() - 1 {
        let mut changed = original.clone();
        changed[1][position] ^= 0x01;
        write_lines(&path, &changed);
        let damage = damage_of(&dir, key);
        assert_eq!(
            (damage.seq, damage.line),
            (2, 2),
            "byte {position}: {damage}"
        );
    }
    write_lines(&path, &original);
    verify(&dir, key).unwrap();
}

#[tokio::test]
async fn a_removed_or_reordered_block_is_named() {
    let (temp, dir, key) = fixture();
    let ledger = open(temp.path(), &dir);
    for i in 0..4 {
        ledger.append(&batch(i * 10, 2)).await.unwrap();
    }
    let path = file_path(&dir, 1);
    let original = lines(&path);

    let mut removed = original.clone();
    removed.remove(1);
    write_lines(&path, &removed);
    let damage = damage_of(&dir, key);
    assert_eq!((damage.seq, damage.line), (2, 2));
    assert!(
        damage.problem.contains("sequence number 3, expected 2"),
        "{damage}"
    );

    let mut reordered = original.clone();
    reordered.swap(1, 2);
    write_lines(&path, &reordered);
    let damage = damage_of(&dir, key);
    assert_eq!((damage.seq, damage.line), (2, 2));

    // Dropping the last block is invisible to the ledger alone: the
    // head kept elsewhere (a backup's manifest) is what shows it.
    write_lines(&path, &original[..3]);
    assert_eq!(verify(&dir, key).unwrap().head.seq, 3);
}

#[tokio::test]
async fn a_block_signed_with_another_key_is_named_and_not_appended_to() {
    let (temp, dir, key) = fixture();
    let ledger = open(temp.path(), &dir);
    ledger.append(&batch(0, 2)).await.unwrap();
    let head = ledger.head().await.unwrap();
    let intruder = signer(temp.path(), "other.key");
    let forged = encode_block(&intruder, 2, &head.hash, &batch(100, 1)).unwrap();
    let path = file_path(&dir, 1);
    let mut all = lines(&path);
    all.push(forged);
    write_lines(&path, &all);

    let damage = damage_of(&dir, key);
    assert_eq!((damage.seq, damage.line), (2, 2));
    assert!(
        damage.problem.contains("signature does not verify"),
        "{damage}"
    );
    // A fresh handle will not chain onto a block it cannot verify.
    let error = open(temp.path(), &dir)
        .append(&batch(200, 1))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("nothing was appended"),
        "{error}"
    );
    assert_eq!(lines(&path).len(), 2);
}

#[tokio::test]
async fn a_torn_last_line_is_ignored_by_readers_and_truncated_by_the_next_append() {
    let (temp, dir, key) = fixture();
    let ledger = open(temp.path(), &dir);
    ledger.append(&batch(0, 2)).await.unwrap();
    ledger.append(&batch(10, 2)).await.unwrap();
    let path = file_path(&dir, 1);
    let complete = fs::read(&path).unwrap();
    // A crash mid-write of block 3: half its line, no newline.
    let half = encode_block(
        &signer(temp.path(), "audit.key"),
        3,
        &[0; 32],
        &batch(20, 5),
    )
    .unwrap();
    let mut torn = complete.clone();
    torn.extend_from_slice(&half[..half.len() / 2]);
    fs::write(&path, &torn).unwrap();

    let summary = verify(&dir, key).unwrap();
    assert!(summary.torn_tail);
    assert_eq!(summary.head.seq, 2);

    // A fresh handle (another process) truncates it and carries on.
    open(temp.path(), &dir).append(&batch(30, 1)).await.unwrap();
    let summary = verify(&dir, key).unwrap();
    assert!(!summary.torn_tail);
    assert_eq!(summary.head.seq, 3);
    assert_eq!(&fs::read(&path).unwrap()[..complete.len()], &complete[..]);
    // And the handle that wrote before notices the file changed.
    ledger.append(&batch(40, 1)).await.unwrap();
    assert_eq!(verify(&dir, key).unwrap().head.seq, 4);
}

#[tokio::test]
async fn files_roll_at_the_size_limit_and_a_missing_file_is_named() {
    let (temp, dir, key) = fixture();
    let ledger =
        ErasureLedger::open_with_roll_bytes(&dir, signer(temp.path(), "audit.key"), 2_000).unwrap();
    for i in 0..10 {
        ledger.append(&batch(i * 10, 3)).await.unwrap();
    }
    let files = list_files(&dir).unwrap();
    assert!(files.len() >= 4, "{} files", files.len());
    for (_, path) in &files[..files.len() - 1] {
        assert!(file_len(path).unwrap() <= 2_000);
        let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400, "a closed file is read-only");
    }
    let summary = verify(&dir, key).unwrap();
    assert_eq!((summary.head.seq, summary.entries), (10, 30));
    assert_eq!(summary.files, files.len() as u64);

    let (_, second) = &files[1];
    let first_seq_of_second = {
        let mut reader = LedgerReader::open(&dir, key).unwrap();
        let mut seq = 0;
        while reader.next_file < 2 {
            seq = reader.next_block().unwrap().unwrap().seq;
        }
        seq
    };
    fs::rename(second, temp.path().join("shipped-away")).unwrap();
    let damage = damage_of(&dir, key);
    assert_eq!(damage.file, *second);
    assert_eq!(damage.seq, first_seq_of_second);
    assert!(damage.problem.contains("missing"), "{damage}");
}

#[tokio::test]
async fn entries_with_anything_but_their_narrow_shapes_are_refused_whole() {
    let (temp, dir, key) = fixture();
    let ledger = open(temp.path(), &dir);
    let mutations: [fn(&mut LedgerEntry); 6] = [
        |e| e.kind = "Recording of Matti Meikäläinen".into(),
        |e| e.reason = "asked by +358401234567".into(),
        |e| e.sha256 = Some("not a digest".into()),
        |e| e.sha256 = Some("AB".repeat(32)),
        |e| e.rule = "line\nbreak".into(),
        |e| e.rule = String::new(),
    ];
    for mutate in mutations {
        let mut entries = batch(0, 3);
        mutate(&mut entries[1]);
        let error = ledger.append(&entries).await.unwrap_err();
        assert!(error.to_string().contains("entry 1"), "{error}");
    }
    assert_eq!(verify(&dir, key).unwrap().head, LedgerHead::EMPTY);
}

#[tokio::test]
async fn a_block_holds_only_ids_kinds_digests_times_rules_and_reasons() {
    let (temp, dir, _) = fixture();
    let ledger = open(temp.path(), &dir);
    ledger.append(&batch(0, 2)).await.unwrap();
    for line in lines(&file_path(&dir, 1)) {
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["block", "sig"]);
        let block = value["block"].as_object().unwrap();
        let keys: BTreeSet<&str> = block.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["entries", "prev", "seq", "type", "v"])
        );
        for entry in block["entries"].as_array().unwrap() {
            let keys: BTreeSet<&str> = entry
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                BTreeSet::from([
                    "contact_id",
                    "deleted_at",
                    "id",
                    "kind",
                    "reason",
                    "rule",
                    "sha256"
                ])
            );
        }
    }
}
