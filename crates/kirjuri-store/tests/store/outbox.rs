//! What every store promises about the outbox ([`OutboxStore`]): a queued
//! message is claimed once it is due and not before, a claim counts an
//! attempt, a claim whose holder died runs out and the message is claimed
//! again, only the claim in force settles a message, retries come back at
//! their time, and the operator's list never carries the sealed content.
//! Each case runs through `&dyn Store` only, on every backend.

use chrono::TimeDelta;
use kirjuri_store::{
    NewOutboxMessage, OutboxChannel, OutboxClaim, OutboxState, SealedSecret, Settlement, Store,
};
use uuid::Uuid;

use crate::support::{now, on_every_backend};

fn message(channel: OutboxChannel, minutes: i64) -> NewOutboxMessage {
    NewOutboxMessage {
        id: Uuid::now_v7(),
        channel,
        kind: "test".to_owned(),
        sealed: SealedSecret {
            wrapped_key: vec![7; 61],
            sealed: b"opaque ciphertext".to_vec(),
        },
        created_at: now() + TimeDelta::minutes(minutes),
        next_attempt_at: now() + TimeDelta::minutes(minutes),
    }
}

async fn claim(
    store: &dyn Store,
    holder: &str,
    minutes: i64,
) -> Vec<kirjuri_store::ClaimedMessage> {
    let at = now() + TimeDelta::minutes(minutes);
    store
        .claim_messages(holder, at, at + TimeDelta::minutes(5), 10)
        .await
        .unwrap()
}

on_every_backend! {
    async fn a_due_message_is_claimed_once_with_its_sealed_content_and_sent(store: &dyn Store) {
        let queued = message(OutboxChannel::Email, 0);
        store.enqueue_message(&queued).await.unwrap();
        let later = message(OutboxChannel::Sms, 10);
        store.enqueue_message(&later).await.unwrap();

        let claimed = claim(store, "node-a", 1).await;
        assert_eq!(claimed.len(), 1, "only the due message");
        let first = &claimed[0];
        assert_eq!(first.id, queued.id);
        assert_eq!(first.channel, OutboxChannel::Email);
        assert_eq!(first.sealed, queued.sealed);
        assert_eq!(first.claim, OutboxClaim { holder: "node-a".into(), attempt: 1 });
        assert!(claim(store, "node-b", 2).await.is_empty(), "a claim in force is not taken");

        let sent = Settlement::Sent { at: now() + TimeDelta::minutes(2) };
        assert!(store.settle_message(&first.id, &first.claim, &sent).await.unwrap());
        let entry = store.outbox_message(&queued.id).await.unwrap().unwrap();
        assert_eq!(entry.state, OutboxState::Sent);
        assert_eq!(entry.attempts, 1);
        assert_eq!(entry.settled_at, Some(now() + TimeDelta::minutes(2)));
        assert!(claim(store, "node-a", 60).await.iter().all(|m| m.id != queued.id));
    }

    async fn a_claim_whose_holder_died_runs_out_and_only_the_new_claim_settles(store: &dyn Store) {
        let queued = message(OutboxChannel::Sms, 0);
        store.enqueue_message(&queued).await.unwrap();
        let dead = claim(store, "dead", 0).await.remove(0);
        // Before the lease ends nobody else gets it; after, the next does.
        assert!(claim(store, "alive", 4).await.is_empty());
        let taken = claim(store, "alive", 6).await.remove(0);
        assert_eq!(taken.id, queued.id);
        assert_eq!(taken.claim.attempt, 2);

        let late = Settlement::Sent { at: now() };
        assert!(!store.settle_message(&queued.id, &dead.claim, &late).await.unwrap());
        assert_eq!(
            store.outbox_message(&queued.id).await.unwrap().unwrap().state,
            OutboxState::Sending
        );
        assert!(store.settle_message(&queued.id, &taken.claim, &late).await.unwrap());
    }

    async fn a_retry_comes_back_at_its_time_and_a_failure_stays(store: &dyn Store) {
        let queued = message(OutboxChannel::Email, 0);
        store.enqueue_message(&queued).await.unwrap();
        let first = claim(store, "n", 0).await.remove(0);
        let retry = Settlement::Retry {
            at: now(),
            next_attempt_at: now() + TimeDelta::minutes(30),
            error: "smtp_unavailable".into(),
        };
        assert!(store.settle_message(&queued.id, &first.claim, &retry).await.unwrap());
        let entry = store.outbox_message(&queued.id).await.unwrap().unwrap();
        assert_eq!(entry.state, OutboxState::Queued);
        assert_eq!(entry.last_error.as_deref(), Some("smtp_unavailable"));
        assert!(claim(store, "n", 29).await.is_empty());
        let second = claim(store, "n", 30).await.remove(0);
        assert_eq!(second.claim.attempt, 2);

        let failed = Settlement::Failed { at: now(), error: "x".repeat(500) };
        assert!(store.settle_message(&queued.id, &second.claim, &failed).await.unwrap());
        let entry = store.outbox_message(&queued.id).await.unwrap().unwrap();
        assert_eq!(entry.state, OutboxState::Failed);
        assert_eq!(entry.last_error.map(|e| e.len()), Some(200));
        assert!(claim(store, "n", 600).await.is_empty());
    }

    async fn the_list_is_newest_first_and_a_reused_id_is_a_conflict(store: &dyn Store) {
        let old = message(OutboxChannel::Email, 0);
        let new = message(OutboxChannel::Sms, 1);
        store.enqueue_message(&old).await.unwrap();
        store.enqueue_message(&new).await.unwrap();
        let listed = store.outbox_messages(10).await.unwrap();
        assert_eq!(listed.iter().map(|e| e.id).collect::<Vec<_>>(), vec![new.id, old.id]);
        assert_eq!(store.outbox_messages(1).await.unwrap().len(), 1);
        assert!(matches!(
            store.enqueue_message(&old).await,
            Err(kirjuri_store::Error::Conflict("outbox message"))
        ));
    }

    async fn concurrent_claimers_never_take_the_same_message(store: &dyn Store) {
        for minute in 0..20 {
            store.enqueue_message(&message(OutboxChannel::Email, -minute)).await.unwrap();
        }
        let at = now();
        let until = at + TimeDelta::minutes(5);
        let (a, b) = tokio::join!(
            store.claim_messages("a", at, until, 15),
            store.claim_messages("b", at, until, 15)
        );
        let mut ids: Vec<Uuid> = a.unwrap().into_iter().chain(b.unwrap()).map(|m| m.id).collect();
        assert_eq!(ids.len(), 20);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20, "no message claimed twice");
    }
}
