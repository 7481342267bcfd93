//! `audit_chain::verify_log` over a real data folder: a log signed by its
//! checkpoints verifies intact, and one event changed behind the store's
//! back (its guard trigger dropped, as a tamperer with the database file
//! would) is found and named by the interval that holds it. The same through
//! `kirjuri audit verify`: `crates/kirjuri/tests/api/audit.rs`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kirjuri_app::audit_chain::{AuditChain, CheckpointOutcome, Finding, verify_log};
use kirjuri_app::{Config, Kirjuri};
use kirjuri_core::clock::{Clock, FixedClock};
use kirjuri_core::contact::ContactInput;
use serde_json::json;

/// Delivers `n` calls: each writes an audit event.
async fn calls(app: &Kirjuri, n: usize) {
    for _ in 0..n {
        let input = json!({
            "channel": "call_in",
            "started_at": "2026-03-02T10:00:00+02:00",
            "agent": "aino",
        });
        let input = ContactInput::from_json(&serde_json::to_vec(&input).unwrap()).unwrap();
        app.create_contact(None, input).await.unwrap();
    }
}

/// Signs a checkpoint over every event so far; returns its size.
async fn checkpoint(chain: &AuditChain) -> u64 {
    match chain.checkpoint().await.unwrap() {
        CheckpointOutcome::Signed(row) => row.size,
        other => panic!("no checkpoint signed: {other:?}"),
    }
}

#[tokio::test]
async fn verify_log_finds_an_event_changed_in_an_otherwise_valid_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data: dir.path().join("data"),
        ..Config::default()
    };
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
        .unwrap()
        .to_utc();
    let clock = Arc::new(FixedClock::new(now));
    let app = Kirjuri::open(config, clock.clone()).await.unwrap();
    let chain = AuditChain::for_app(&app).await.unwrap();
    // Three signed intervals: the one after the changed event confirms
    // that the checkpoint before it is genuine.
    let mut sizes = Vec::new();
    for _ in 0..3 {
        calls(&app, 3).await;
        clock.set(clock.now() + Duration::minutes(1));
        sizes.push(checkpoint(&chain).await);
    }
    let intact = verify_log(&app, None, None).await.unwrap();
    assert!(intact.report.is_intact(), "{:?}", intact.report.findings);
    assert!(
        intact.verifier_key.is_some(),
        "checked with the folder's key"
    );

    let changed = sizes[0] + 2;
    let db = rusqlite::Connection::open(app.config.database_file()).unwrap();
    db.execute_batch(&format!(
        "DROP TRIGGER audit_events_refuse_update; \
         UPDATE audit_events SET purpose = 'training' WHERE seq = {changed};"
    ))
    .unwrap();

    let report = verify_log(&app, None, None).await.unwrap().report;
    assert!(!report.is_intact());
    assert_eq!(
        report.findings.first(),
        Some(&Finding::Changed {
            first: sizes[0] + 1,
            last: sizes[1],
            checkpoint: sizes[1],
        }),
        "{:?}",
        report.findings
    );
}
