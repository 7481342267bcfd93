//! What every store promises about satisfaction surveys ([`SurveyStore`],
//! SURV-1): settings land on the next version only (a stale change is
//! refused, nothing written, nothing audited); an invitation is stored
//! with its outbox message, unless the person has one scheduled; marking
//! it sent is the period rule's one atomic step and counts it; a reply is
//! taken once by an open invitation and counted, a replayed gateway id
//! stores nothing; the purge erases reply words and invitations by their
//! deadlines and leaves the roll-ups. Each case runs through `&dyn Store`
//! only, on every backend (SQLite in memory and on a file, PostgreSQL).
//!
//! [`SurveyStore`]: kirjuri_store::surveys::SurveyStore

use chrono::{NaiveDate, TimeDelta};
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::survey::SurveySettings;
use kirjuri_store::surveys::{
    InvitationState, NewInvitation, NewReply, SurveyConfigRow, SurveyPurge, SurveyRollupRow,
};
use kirjuri_store::{NewOutboxMessage, OutboxChannel, SealedSecret, Store};
use uuid::Uuid;

use crate::support::{all_audit, audit, now, on_every_backend};

fn settings() -> SurveySettings {
    SurveySettings {
        enabled: true,
        sample_per_mille: 250,
        delay_minutes: 60,
        quiet_start: "21:00".into(),
        quiet_end: "09:00".into(),
        period_days: 90,
        text_fi: "Arvioi palvelumme 1-5".into(),
        text_sv: "Betygsätt oss 1-5".into(),
        text_en: "Rate us 1-5".into(),
    }
}

fn config(service: &str, version: u32, settings: SurveySettings) -> SurveyConfigRow {
    SurveyConfigRow {
        service: service.into(),
        settings,
        version,
        updated_at: now() + TimeDelta::minutes(i64::from(version)),
        updated_by: UserId::new_v7(),
    }
}

fn message() -> NewOutboxMessage {
    NewOutboxMessage {
        id: Uuid::now_v7(),
        channel: OutboxChannel::Sms,
        kind: "survey.invitation".into(),
        sealed: SealedSecret {
            wrapped_key: vec![7; 61],
            sealed: b"opaque ciphertext".to_vec(),
        },
        created_at: now(),
        next_attempt_at: now() + TimeDelta::hours(1),
    }
}

fn invitation(person: u8) -> NewInvitation {
    NewInvitation {
        id: Uuid::now_v7(),
        service: "water-billing".into(),
        contact: ContactId::new_v7(),
        phone_hash: vec![person; 32],
        language: "fi".into(),
        created_at: now(),
        due_at: now() + TimeDelta::hours(1),
        retain_until: now() + TimeDelta::days(180),
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
}

fn reply(invitation: Uuid, score: u8, gateway_id: &str) -> NewReply {
    NewReply {
        invitation,
        score,
        comment: Some(SealedSecret {
            wrapped_key: vec![9; 61],
            sealed: b"sealed words".to_vec(),
        }),
        gateway_id: gateway_id.into(),
        answered_at: now() + TimeDelta::hours(2),
        comment_retain_until: now() + TimeDelta::days(90),
        day: day(),
    }
}

/// Schedules `invitation` with a message of its own.
async fn schedule(store: &dyn Store, invitation: &NewInvitation) -> bool {
    store
        .schedule_invitation(
            invitation,
            &message(),
            now() - TimeDelta::days(90),
            &audit("survey.scheduled"),
        )
        .await
        .unwrap()
}

async fn send(store: &dyn Store, id: &Uuid, hours: i64, period_days: i64) -> bool {
    let at = now() + TimeDelta::hours(hours);
    store
        .mark_invitation_sent(
            id,
            at,
            at - TimeDelta::days(period_days),
            day(),
            &audit("survey.sent"),
        )
        .await
        .unwrap()
}

on_every_backend! {
    async fn settings_land_on_the_next_version_only_and_a_stale_change_writes_nothing(store: &dyn Store) {
        // Arrange
        let first = config("water-billing", 1, settings());
        let changed = config("water-billing", 2, SurveySettings { enabled: false, period_days: 30, ..settings() });
        let stale = config("water-billing", 2, SurveySettings { sample_per_mille: 1000, ..settings() });
        let other = config("district-heating", 1, settings());

        // Act
        let stored_first = store.put_survey_config(&first, &audit("survey.configured")).await.unwrap();
        let second_first = store.put_survey_config(&first, &audit("survey.configured")).await.unwrap();
        let stored_change = store.put_survey_config(&changed, &audit("survey.configured")).await.unwrap();
        let stored_stale = store.put_survey_config(&stale, &audit("survey.configured")).await.unwrap();
        store.put_survey_config(&other, &audit("survey.configured")).await.unwrap();

        // Assert
        assert!(stored_first && stored_change);
        assert!(!second_first, "a second version 1 is refused");
        assert!(!stored_stale, "a change from an old version is refused");
        assert_eq!(store.survey_config("water-billing").await.unwrap(), Some(changed.clone()));
        assert_eq!(store.survey_config("nowhere").await.unwrap(), None);
        let services: Vec<String> = store.survey_configs().await.unwrap().into_iter().map(|c| c.service).collect();
        assert_eq!(services, ["district-heating", "water-billing"]);
        let audited = all_audit(store).await.iter().filter(|e| e.event.action == "survey.configured").count();
        assert_eq!(audited, 3, "only the changes that landed are audited");
    }

    async fn the_period_rule_holds_at_scheduling_and_at_sending(store: &dyn Store) {
        // Arrange: two invitations of one person, one of another.
        let first = invitation(1);
        let second = invitation(1);
        let stranger = invitation(2);

        // Act
        let scheduled_first = schedule(store, &first).await;
        let scheduled_second = schedule(store, &second).await;
        let scheduled_stranger = schedule(store, &stranger).await;
        let sent = send(store, &first.id, 1, 90).await;
        let sent_again = send(store, &first.id, 2, 90).await;
        let after_send = schedule(store, &second).await;

        // Assert
        assert!(scheduled_first && scheduled_stranger);
        assert!(!scheduled_second, "one scheduled at a time per person");
        assert!(sent);
        assert!(!sent_again, "a sent invitation is not sent twice");
        assert!(!after_send, "invited within the period");
        let row = store.invitation(&first.id).await.unwrap().unwrap();
        assert_eq!(row.state, InvitationState::Sent);
        assert_eq!(row.sent_at, Some(now() + TimeDelta::hours(1)));
        assert!(store.invitation(&second.id).await.unwrap().is_none(), "nothing of it stored");
        let by_message = store.invitation_by_message(&row.outbox_id).await.unwrap().unwrap();
        assert_eq!(by_message.id, first.id);
        let rollups = store.survey_rollups(day(), day()).await.unwrap();
        assert_eq!(rollups, vec![SurveyRollupRow { day: day(), service: "water-billing".into(), invited: 1, ..Default::default() }]);
    }

    async fn a_cancelled_invitation_frees_the_person_and_two_senders_send_once(store: &dyn Store) {
        // Arrange: the first is stopped (an objection); then another.
        let first = invitation(3);
        let second = invitation(3);
        assert!(schedule(store, &first).await);
        let cancelled = store.cancel_invitation(&first.id, "survey_objected", &audit("survey.cancelled")).await.unwrap();
        let cancelled_again = store.cancel_invitation(&first.id, "survey_objected", &audit("survey.cancelled")).await.unwrap();
        let rescheduled = schedule(store, &second).await;

        // Act: two nodes' senders at once.
        let (a, b) = futures::join!(send(store, &second.id, 1, 90), send(store, &second.id, 1, 90));

        // Assert
        assert!(cancelled && !cancelled_again);
        assert!(rescheduled, "a cancelled invitation does not block the next");
        assert!(!send(store, &first.id, 1, 90).await, "a cancelled one is never sent");
        let row = store.invitation(&first.id).await.unwrap().unwrap();
        assert_eq!((row.state, row.reason.as_deref()), (InvitationState::Cancelled, Some("survey_objected")));
        assert!(a ^ b, "sent once: {a} {b}");
        let invited: u64 = store.survey_rollups(day(), day()).await.unwrap().iter().map(|r| r.invited).sum();
        assert_eq!(invited, 1, "counted once");
    }

    async fn a_reply_is_taken_once_by_an_open_invitation_and_counted(store: &dyn Store) {
        // Arrange
        let open = invitation(4);
        let unsent = invitation(5);
        schedule(store, &open).await;
        schedule(store, &unsent).await;
        send(store, &open.id, 1, 90).await;

        // Act
        let found = store.open_invitation(&[4; 32], now()).await.unwrap();
        let none_for_late = store.open_invitation(&[4; 32], now() + TimeDelta::hours(2)).await.unwrap();
        let to_unsent = store.record_reply(&reply(unsent.id, 2, "gw-0"), &audit("survey.answered")).await.unwrap();
        let taken = store.record_reply(&reply(open.id, 4, "gw-1"), &audit("survey.answered")).await.unwrap();
        let second = store.record_reply(&reply(open.id, 1, "gw-2"), &audit("survey.answered")).await.unwrap();
        let replayed = store.record_reply(&reply(open.id, 1, "gw-1"), &audit("survey.answered")).await.unwrap();
        let bad_score = store.record_reply(&reply(open.id, 6, "gw-3"), &audit("survey.answered")).await;

        // Assert
        assert_eq!(found.map(|i| i.id), Some(open.id));
        assert!(none_for_late.is_none());
        assert!(!to_unsent, "an invitation not sent takes no reply");
        assert!(taken);
        assert!(!second && !replayed, "one reply, once");
        assert!(bad_score.is_err());
        let row = store.invitation(&open.id).await.unwrap().unwrap();
        assert_eq!((row.state, row.score, row.has_comment), (InvitationState::Answered, Some(4), true));
        assert_eq!(store.reply_comment(&open.id).await.unwrap().unwrap().sealed, b"sealed words");
        let rollups = store.survey_rollups(day(), day()).await.unwrap();
        assert_eq!(rollups, vec![SurveyRollupRow { day: day(), service: "water-billing".into(), invited: 1, answered: 1, scores: [0, 0, 0, 1, 0] }]);
        let answered = all_audit(store).await.iter().filter(|e| e.event.action == "survey.answered").count();
        assert_eq!(answered, 1);
    }

    async fn the_purge_erases_words_then_invitations_and_leaves_the_rollups(store: &dyn Store) {
        // Arrange: one answered invitation, one still scheduled.
        let answered = invitation(6);
        let waiting = invitation(7);
        schedule(store, &answered).await;
        schedule(store, &waiting).await;
        send(store, &answered.id, 1, 90).await;
        store.record_reply(&reply(answered.id, 5, "gw-9"), &audit("survey.answered")).await.unwrap();
        let before = store.survey_rollups(day(), day()).await.unwrap();

        // Act
        let early = store.purge_surveys(now() + TimeDelta::days(1), now() - TimeDelta::days(730)).await.unwrap();
        let words = store.purge_surveys(now() + TimeDelta::days(91), now() - TimeDelta::days(730)).await.unwrap();
        let rows = store.purge_surveys(now() + TimeDelta::days(181), now() + TimeDelta::days(1)).await.unwrap();

        // Assert
        assert_eq!(early, SurveyPurge::default());
        assert_eq!(words, SurveyPurge { comments: 1, invitations: 0 });
        assert_eq!(rows, SurveyPurge { comments: 0, invitations: 1 });
        assert!(store.invitation(&answered.id).await.unwrap().is_none());
        assert!(store.invitation(&waiting.id).await.unwrap().is_some(), "a scheduled one waits for its send");
        assert_eq!(store.survey_rollups(day(), day()).await.unwrap(), before);
        // The person was forgotten: a new invitation may be scheduled.
        let again = NewInvitation { phone_hash: vec![6; 32], ..invitation(6) };
        assert!(schedule(store, &again).await);
    }
}
