//! What every store promises about the disclosure ledger
//! ([`DisclosureStore`]): a disclosure is stored with its contacts and its
//! audit event; its requester can never decide it, and of parallel
//! decisions exactly one wins; `disclosed_recipients` finds the recipients
//! that received any of the given contacts by an approved disclosure, and
//! no other; a link is used once, not after its expiry, and a newer link
//! revokes an older one.
//!
//! [`DisclosureStore`]: kirjuri_store::disclosures::DisclosureStore

use chrono::TimeDelta;
use futures::future::join_all;
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_store::disclosures::{
    APPROVED, AWAITING, Decided, DisclosureDecision, DisclosureLinkRow, DisclosureRow, REFUSED,
};
use kirjuri_store::recipients::RecipientRow;
use kirjuri_store::{SealedSecret, Store};
use uuid::Uuid;

use crate::support::{all_audit, audit, now, on_every_backend};

pub(crate) async fn recipient(store: &dyn Store, name: &str) -> Uuid {
    let row = RecipientRow {
        id: Uuid::now_v7(),
        name: name.into(),
        kind: "police".into(),
        country: "FI".into(),
        agreement: None,
        purposes: String::new(),
        created_at: now(),
        created_by: UserId::new_v7(),
        removed_at: None,
    };
    store
        .insert_recipient(&row, &audit("recipient.added"))
        .await
        .unwrap();
    row.id
}

pub(crate) fn disclosure(recipient: Uuid, requester: UserId, n: usize) -> DisclosureRow {
    DisclosureRow {
        id: Uuid::now_v7(),
        recipient_id: recipient,
        state: AWAITING.into(),
        categories: "metadata,recordings".into(),
        sealed: SealedSecret {
            wrapped_key: vec![1; 40],
            sealed: vec![2; 80],
        },
        n_contacts: u32::try_from(n).unwrap(),
        requested_at: now(),
        requested_by: requester,
        decided_at: None,
        decided_by: None,
    }
}

pub(crate) fn decision(state: &'static str, by: UserId) -> DisclosureDecision {
    DisclosureDecision {
        state,
        by,
        at: now(),
        sealed: None,
    }
}

on_every_backend! {
    async fn a_disclosure_is_stored_with_its_contacts_and_decided_by_someone_else_once(store: &dyn Store) {
        // Arrange
        let police = recipient(store, "Poliisi").await;
        let asker = UserId::new_v7();
        let contacts: Vec<ContactId> = (0..250).map(|_| ContactId::new_v7()).collect();
        let row = disclosure(police, asker, contacts.len());
        let events = all_audit(store).await.len();

        // Act
        store.insert_disclosure(&row, &contacts, &audit("disclosure.requested")).await.unwrap();
        let own = store.decide_disclosure(&row.id, &decision(APPROVED, asker), &audit("disclosure.approved")).await.unwrap();
        let second = UserId::new_v7();
        let done = store.decide_disclosure(&row.id, &decision(APPROVED, second), &audit("disclosure.approved")).await.unwrap();
        let again = store.decide_disclosure(&row.id, &decision(REFUSED, UserId::new_v7()), &audit("disclosure.refused")).await.unwrap();
        let unknown = store.decide_disclosure(&Uuid::now_v7(), &decision(APPROVED, second), &audit("disclosure.approved")).await.unwrap();

        // Assert
        assert_eq!((own, done, again, unknown), (Decided::OwnRequest, Decided::Done, Decided::AlreadyDecided, Decided::NotFound));
        let stored = store.disclosure(&row.id).await.unwrap().unwrap();
        assert_eq!(stored.state, APPROVED);
        assert_eq!(stored.decided_by, Some(second));
        assert_eq!(stored.sealed, row.sealed);
        let mut expected = contacts.clone();
        expected.sort();
        assert_eq!(store.disclosure_contacts(&row.id).await.unwrap(), expected);
        // Two events: the request and the one approval.
        assert_eq!(all_audit(store).await.len(), events + 2);
    }

    async fn of_parallel_decisions_exactly_one_wins(store: &dyn Store) {
        // Arrange
        let police = recipient(store, "Poliisi").await;
        let row = disclosure(police, UserId::new_v7(), 1);
        store.insert_disclosure(&row, &[ContactId::new_v7()], &audit("disclosure.requested")).await.unwrap();

        // Act
        let deciders: Vec<UserId> = (0..10).map(|_| UserId::new_v7()).collect();
        let decisions: Vec<DisclosureDecision> = deciders
            .iter()
            .enumerate()
            .map(|(n, by)| decision(if n % 2 == 0 { APPROVED } else { REFUSED }, *by))
            .collect();
        let event = audit("disclosure.decided");
        let results = join_all(decisions.iter().map(|d| store.decide_disclosure(&row.id, d, &event))).await;

        // Assert
        let done = results.iter().filter(|r| *r.as_ref().unwrap() == Decided::Done).count();
        assert_eq!(done, 1);
        let decided = all_audit(store).await.iter().filter(|r| r.event.action == "disclosure.decided").count();
        assert_eq!(decided, 1);
    }

    async fn disclosed_recipients_are_those_of_approved_disclosures_of_the_contacts(store: &dyn Store) {
        // Arrange: A got c1 and c2; B got c2; C's disclosure of c1 is
        // refused; D's of c1 awaits approval; E got only c3.
        let (a, b, c, d, e) = (
            recipient(store, "A").await,
            recipient(store, "B").await,
            recipient(store, "C").await,
            recipient(store, "D").await,
            recipient(store, "E").await,
        );
        let (c1, c2, c3) = (ContactId::new_v7(), ContactId::new_v7(), ContactId::new_v7());
        let mut made = Vec::new();
        for (recipient, scope, state) in [
            (a, vec![c1, c2], Some(APPROVED)),
            (b, vec![c2], Some(APPROVED)),
            (c, vec![c1], Some(REFUSED)),
            (d, vec![c1], None),
            (e, vec![c3], Some(APPROVED)),
        ] {
            let mut row = disclosure(recipient, UserId::new_v7(), scope.len());
            row.requested_at = now() + TimeDelta::seconds(i64::try_from(made.len()).unwrap());
            store.insert_disclosure(&row, &scope, &audit("disclosure.requested")).await.unwrap();
            if let Some(state) = state {
                let done = store.decide_disclosure(&row.id, &decision(state, UserId::new_v7()), &audit("disclosure.decided")).await.unwrap();
                assert_eq!(done, Decided::Done);
            }
            made.push((recipient, row.id));
        }

        // Act
        let found = store.disclosed_recipients(&[c1, c2]).await.unwrap();
        let none = store.disclosed_recipients(&[ContactId::new_v7()]).await.unwrap();

        // Assert: A (once, though both its contacts match) and B, oldest first.
        assert_eq!(found, vec![made[0], made[1]]);
        assert!(none.is_empty());
        assert_eq!(store.disclosed_recipients(&[c3]).await.unwrap(), vec![made[4]]);
    }

    async fn a_link_is_used_once_not_after_expiry_and_a_newer_one_revokes_it(store: &dyn Store) {
        // Arrange
        let police = recipient(store, "Poliisi").await;
        let row = disclosure(police, UserId::new_v7(), 1);
        store.insert_disclosure(&row, &[ContactId::new_v7()], &audit("disclosure.requested")).await.unwrap();
        let link = |hash: u8, at: chrono::DateTime<chrono::Utc>| DisclosureLinkRow {
            id: Uuid::now_v7(),
            disclosure_id: row.id,
            token_hash: vec![hash; 32],
            expires_at: at + TimeDelta::days(7),
            created_at: at,
            created_by: UserId::new_v7(),
            used_at: None,
            revoked_at: None,
        };
        let first = link(1, now());
        store.put_disclosure_link(&first, &audit("disclosure.link_created")).await.unwrap();

        // Act and assert: twenty parallel uses, one wins.
        let event = audit("disclosure.package_released");
        let later = now() + TimeDelta::hours(1);
        let uses = join_all((0..20).map(|_| store.use_disclosure_link(&first.id, later, &event))).await;
        assert_eq!(uses.iter().filter(|u| *u.as_ref().unwrap()).count(), 1);
        assert!(!store.disclosure_link(&[1; 32]).await.unwrap().unwrap().is_live(later));

        // Expired: refused.
        let second = link(2, now());
        store.put_disclosure_link(&second, &audit("disclosure.link_created")).await.unwrap();
        assert!(!store.use_disclosure_link(&second.id, now() + TimeDelta::days(8), &event).await.unwrap());

        // A newer link revokes the older unused one.
        let third = link(3, now() + TimeDelta::minutes(1));
        store.put_disclosure_link(&third, &audit("disclosure.link_created")).await.unwrap();
        assert!(store.disclosure_link(&[2; 32]).await.unwrap().unwrap().revoked_at.is_some());
        assert!(!store.use_disclosure_link(&second.id, later, &event).await.unwrap());
        assert!(store.use_disclosure_link(&third.id, later, &event).await.unwrap());
        let released = all_audit(store).await.iter().filter(|r| r.event.action == "disclosure.package_released").count();
        assert_eq!(released, 2);
    }
}
