//! The account methods of the [`Store`] contract (SEC-5, ACC-1): lockout
//! counting, administrative changes, sessions, TOTP state and token
//! revocation — each write together with its audit events, or not at all.
//! Like `contract`, every case runs through `&dyn Store` only on every
//! backend: SQLite in memory and on a file, and PostgreSQL.
//!
//! [`Store`]: kirjuri_store::Store

use chrono::TimeDelta;
use kirjuri_core::ids::UserId;
use kirjuri_core::role::Role;
use kirjuri_store::{Error, SealedSecret, SessionCutoff, SessionRow, Store, UserUpdate};

use crate::support::{all_audit, audit, now, on_every_backend, token, user};

fn session(user: &kirjuri_store::UserRow, byte: u8) -> SessionRow {
    SessionRow {
        id: uuid::Uuid::now_v7(),
        secret_hash: vec![byte; 32],
        user_id: user.id,
        created_at: now(),
        last_seen_at: now(),
    }
}

/// A cutoff that removes nothing created or seen around [`now`].
fn keep_all() -> SessionCutoff {
    SessionCutoff {
        last_seen_before: now() - TimeDelta::days(365),
        created_before: now() - TimeDelta::days(365),
    }
}

fn sealed(byte: u8) -> SealedSecret {
    SealedSecret {
        wrapped_key: vec![byte; 40],
        sealed: vec![byte; 60],
    }
}

fn actions(events: &[kirjuri_store::AuditRecord]) -> Vec<String> {
    events.iter().map(|e| e.event.action.clone()).collect()
}

on_every_backend! {
    async fn a_new_account_is_unlocked_without_agreement_or_totp(store: &dyn Store) {
        let aino = user("aino", Role::Maintainer);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();

        let stored = store.user_by_name("aino").await.unwrap().unwrap();

        assert_eq!(stored, aino);
        assert_eq!(stored.failed_logins, 0);
        assert!(stored.locked_at.is_none() && !stored.totp_enabled);
        assert!(stored.confidentiality_agreement.is_none());
    }

    async fn failed_logins_lock_the_account_exactly_at_the_limit_and_unlock_resets_it(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        let mut reserved = Vec::new();
        let mut outcomes = Vec::new();
        for _ in 0..4 {
            let ok = store.reserve_login_attempt(&aino.id, 3).await.unwrap();
            reserved.push(ok);
            if ok {
                outcomes.push(
                    store
                        .record_failed_login(&aino.id, 3, &audit("login.failed"), &audit("user.locked"))
                        .await
                        .unwrap(),
                );
            }
        }

        assert_eq!(reserved, [true, true, true, false], "no fourth check once locked");
        let locked_now: Vec<bool> = outcomes.iter().map(|o| o.locked_now).collect();
        assert_eq!(locked_now, [false, false, true], "locks once, at the third");
        assert_eq!(outcomes[2].failures, 3);
        let stored = store.user(&aino.id).await.unwrap().unwrap();
        assert!(stored.locked_at.is_some());
        assert_eq!(stored.failed_logins, 3);
        let logged = actions(&all_audit(store).await);
        assert_eq!(logged.iter().filter(|a| *a == "user.locked").count(), 1);
        assert_eq!(logged.iter().filter(|a| *a == "login.failed").count(), 3);
        let refused = store.insert_session(&session(&aino, 30), None, keep_all(), &audit("login.succeeded")).await;
        assert!(matches!(refused, Err(Error::Conflict("account locked"))), "a locked account gets no session");
        assert!(store.session_by_hash(&[30; 32]).await.unwrap().is_none());

        store.unlock_user(&aino.id, &audit("user.unlocked")).await.unwrap();

        let stored = store.user(&aino.id).await.unwrap().unwrap();
        assert!(stored.locked_at.is_none());
        assert_eq!(stored.failed_logins, 0);
    }

    async fn account_methods_on_an_unknown_account_are_not_found_and_audit_nothing(store: &dyn Store) {
        let ghost = UserId::new_v7();
        let before = all_audit(store).await.len();

        let failed = store.record_failed_login(&ghost, 3, &audit("login.failed"), &audit("user.locked")).await;
        let reserved = store.reserve_login_attempt(&ghost, 3).await;
        let unlocked = store.unlock_user(&ghost, &audit("user.unlocked")).await;
        let updated = store
            .update_user(&ghost, &UserUpdate { disabled: Some(true), ..UserUpdate::default() }, &[audit("user.disabled")])
            .await;
        let password = store.set_password(&ghost, "$argon2id$x", None, &audit("user.password_reset")).await;

        assert!(matches!(failed, Err(Error::NotFound)));
        assert!(matches!(reserved, Err(Error::NotFound)));
        assert!(matches!(unlocked, Err(Error::NotFound)));
        assert!(matches!(updated, Err(Error::NotFound)));
        assert!(matches!(password, Err(Error::NotFound)));
        assert_eq!(all_audit(store).await.len(), before);
    }

    async fn an_update_changes_only_what_it_names_and_logs_every_event_given(store: &dyn Store) {
        let mika = user("mika", Role::Agent);
        store.insert_user(&mika, &audit("user.created")).await.unwrap();
        let update = UserUpdate {
            role: Some(Role::Maintainer),
            confidentiality_agreement: Some(Some("NDA-17".into())),
            ..UserUpdate::default()
        };

        store
            .update_user(&mika.id, &update, &[audit("user.role_changed"), audit("user.agreement_changed")])
            .await
            .unwrap();

        let stored = store.user(&mika.id).await.unwrap().unwrap();
        assert_eq!(stored.role, Role::Maintainer);
        assert_eq!(stored.confidentiality_agreement.as_deref(), Some("NDA-17"));
        assert!(!stored.disabled);
        let logged = actions(&all_audit(store).await);
        assert!(logged.ends_with(&["user.role_changed".to_owned(), "user.agreement_changed".to_owned()]));

        let clear = UserUpdate { confidentiality_agreement: Some(None), ..UserUpdate::default() };
        store.update_user(&mika.id, &clear, &[audit("user.agreement_changed")]).await.unwrap();
        assert_eq!(store.user(&mika.id).await.unwrap().unwrap().confidentiality_agreement, None);
    }

    async fn a_session_is_found_by_its_secret_hash_with_its_account(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        let row = session(&aino, 7);

        store.insert_session(&row, None, keep_all(), &audit("login.succeeded")).await.unwrap();

        let (found, account) = store.session_by_hash(&[7; 32]).await.unwrap().unwrap();
        assert_eq!(found, row);
        assert_eq!(account.id, aino.id);
        assert!(store.session_by_hash(&[8; 32]).await.unwrap().is_none());
        assert_eq!(actions(&all_audit(store).await).last().unwrap(), "login.succeeded");
    }

    async fn signing_in_resets_the_failure_count_and_sweeps_stale_sessions(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        assert!(store.reserve_login_attempt(&aino.id, 5).await.unwrap());
        store.record_failed_login(&aino.id, 5, &audit("login.failed"), &audit("user.locked")).await.unwrap();
        let mut stale = session(&aino, 1);
        stale.last_seen_at = now() - TimeDelta::hours(2);
        store.insert_session(&stale, None, keep_all(), &audit("login.succeeded")).await.unwrap();
        let cutoff = SessionCutoff {
            last_seen_before: now() - TimeDelta::minutes(30),
            created_before: now() - TimeDelta::hours(12),
        };

        store.insert_session(&session(&aino, 2), None, cutoff, &audit("login.succeeded")).await.unwrap();

        assert!(store.session_by_hash(&[1; 32]).await.unwrap().is_none(), "the idle one is gone");
        assert!(store.session_by_hash(&[2; 32]).await.unwrap().is_some());
        assert_eq!(store.user(&aino.id).await.unwrap().unwrap().failed_logins, 0);
    }

    async fn touching_a_session_never_moves_it_back(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        let row = session(&aino, 3);
        store.insert_session(&row, None, keep_all(), &audit("login.succeeded")).await.unwrap();

        store.touch_session(&row.id, now() + TimeDelta::minutes(5)).await.unwrap();
        store.touch_session(&row.id, now() + TimeDelta::minutes(1)).await.unwrap();

        let (found, _) = store.session_by_hash(&[3; 32]).await.unwrap().unwrap();
        assert_eq!(found.last_seen_at, now() + TimeDelta::minutes(5));
    }

    async fn logout_deletes_the_session_and_a_second_logout_finds_nothing(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        let row = session(&aino, 4);
        store.insert_session(&row, None, keep_all(), &audit("login.succeeded")).await.unwrap();

        store.delete_session(&row.id, &audit("logout")).await.unwrap();
        let again = store.delete_session(&row.id, &audit("logout")).await;

        assert!(store.session_by_hash(&[4; 32]).await.unwrap().is_none());
        assert!(matches!(again, Err(Error::NotFound)));
        let logged = actions(&all_audit(store).await);
        assert_eq!(logged.iter().filter(|a| *a == "logout").count(), 1);
    }

    async fn disabling_an_account_ends_its_sessions_but_not_others(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        let bertta = user("bertta", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        store.insert_user(&bertta, &audit("user.created")).await.unwrap();
        store.insert_session(&session(&aino, 5), None, keep_all(), &audit("login.succeeded")).await.unwrap();
        store.insert_session(&session(&bertta, 6), None, keep_all(), &audit("login.succeeded")).await.unwrap();

        let disable = UserUpdate { disabled: Some(true), ..UserUpdate::default() };
        store.update_user(&aino.id, &disable, &[audit("user.disabled")]).await.unwrap();

        assert!(store.user(&aino.id).await.unwrap().unwrap().disabled);
        assert!(store.session_by_hash(&[5; 32]).await.unwrap().is_none());
        assert!(store.session_by_hash(&[6; 32]).await.unwrap().is_some());
    }

    async fn disabling_an_account_revokes_its_tokens_for_good_but_not_others(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        let bertta = user("bertta", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        store.insert_user(&bertta, &audit("user.created")).await.unwrap();
        let mine = token(&aino, &[40; 32]);
        let theirs = token(&bertta, &[41; 32]);
        store.insert_token(&mine, &audit("token.created")).await.unwrap();
        store.insert_token(&theirs, &audit("token.created")).await.unwrap();
        let disable = UserUpdate { disabled: Some(true), ..UserUpdate::default() };
        let enable = UserUpdate { disabled: Some(false), ..UserUpdate::default() };

        store.update_user(&aino.id, &disable, &[audit("user.disabled")]).await.unwrap();
        store.update_user(&aino.id, &enable, &[audit("user.enabled")]).await.unwrap();

        assert_eq!(store.token(&mine.id).await.unwrap().unwrap().revoked_at, Some(now()));
        assert_eq!(store.token(&theirs.id).await.unwrap().unwrap().revoked_at, None);
        let unaudited = store.update_user(&bertta.id, &disable, &[]).await;
        assert!(matches!(unaudited, Err(Error::Conflict(_))), "a change needs its audit event");
        assert!(!store.user(&bertta.id).await.unwrap().unwrap().disabled);
    }

    async fn the_last_enabled_admin_is_neither_demoted_nor_disabled(store: &dyn Store) {
        let olli = user("olli", Role::Admin);
        let outi = user("outi", Role::Admin);
        store.insert_user(&olli, &audit("user.created")).await.unwrap();
        store.insert_user(&outi, &audit("user.created")).await.unwrap();
        let demote = UserUpdate { role: Some(Role::Agent), ..UserUpdate::default() };
        let disable = UserUpdate { disabled: Some(true), ..UserUpdate::default() };
        store.update_user(&outi.id, &demote, &[audit("user.role_changed")]).await.unwrap();
        let before = all_audit(store).await.len();

        let demoted = store.update_user(&olli.id, &demote, &[audit("user.role_changed")]).await;
        let disabled = store.update_user(&olli.id, &disable, &[audit("user.disabled")]).await;

        assert!(matches!(demoted, Err(Error::Conflict("last admin"))), "{demoted:?}");
        assert!(matches!(disabled, Err(Error::Conflict("last admin"))), "{disabled:?}");
        let stored = store.user(&olli.id).await.unwrap().unwrap();
        assert_eq!(stored.role, Role::Admin);
        assert!(!stored.disabled);
        assert_eq!(all_audit(store).await.len(), before, "a refused change logs nothing");
    }

    async fn concurrent_reservations_never_exceed_the_limit(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();

        let attempts = (0..24).map(|_| store.reserve_login_attempt(&aino.id, 5));
        let reserved = futures::future::join_all(attempts).await;

        let granted = reserved.into_iter().filter(|r| *r.as_ref().unwrap()).count();
        assert_eq!(granted, 5);
        assert_eq!(store.user(&aino.id).await.unwrap().unwrap().failed_logins, 5);
        assert!(store.user(&aino.id).await.unwrap().unwrap().locked_at.is_none(), "a reservation alone locks nothing");
        // A success settles every reservation: the count starts again.
        store.insert_session(&session(&aino, 50), None, keep_all(), &audit("login.succeeded")).await.unwrap();
        assert_eq!(store.user(&aino.id).await.unwrap().unwrap().failed_logins, 0);
        assert!(store.reserve_login_attempt(&aino.id, 5).await.unwrap());
    }

    async fn a_successful_recheck_clears_the_count_unless_the_account_is_locked(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        assert!(store.reserve_login_attempt(&aino.id, 2).await.unwrap());

        assert!(store.clear_login_attempts(&aino.id).await.unwrap());
        assert_eq!(store.user(&aino.id).await.unwrap().unwrap().failed_logins, 0);

        for _ in 0..2 {
            assert!(store.reserve_login_attempt(&aino.id, 2).await.unwrap());
            store.record_failed_login(&aino.id, 2, &audit("login.failed"), &audit("user.locked")).await.unwrap();
        }
        assert!(!store.clear_login_attempts(&aino.id).await.unwrap(), "a lock is not cleared by a success");
        let stored = store.user(&aino.id).await.unwrap().unwrap();
        assert!(stored.locked_at.is_some());
        assert_eq!(stored.failed_logins, 2);
        assert!(matches!(store.clear_login_attempts(&UserId::new_v7()).await, Err(Error::NotFound)));
    }

    async fn a_disabled_account_reserves_no_attempt_and_gets_no_session(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        let disable = UserUpdate { disabled: Some(true), ..UserUpdate::default() };
        store.update_user(&aino.id, &disable, &[audit("user.disabled")]).await.unwrap();

        assert!(!store.reserve_login_attempt(&aino.id, 5).await.unwrap());
        let refused = store.insert_session(&session(&aino, 51), None, keep_all(), &audit("login.succeeded")).await;
        assert!(matches!(refused, Err(Error::Conflict("account locked"))));
    }

    async fn a_password_change_keeps_only_the_session_it_names(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        let here = session(&aino, 10);
        store.insert_session(&here, None, keep_all(), &audit("login.succeeded")).await.unwrap();
        store.insert_session(&session(&aino, 11), None, keep_all(), &audit("login.succeeded")).await.unwrap();

        let tok = token(&aino, &[12; 32]);
        store.insert_token(&tok, &audit("token.created")).await.unwrap();
        assert!(store.reserve_login_attempt(&aino.id, 5).await.unwrap());

        store.set_password(&aino.id, "$argon2id$new", Some(&here.id), &audit("user.password_changed")).await.unwrap();

        assert_eq!(store.user(&aino.id).await.unwrap().unwrap().password_hash, "$argon2id$new");
        assert_eq!(store.user(&aino.id).await.unwrap().unwrap().failed_logins, 0);
        assert_eq!(store.token(&tok.id).await.unwrap().unwrap().revoked_at, Some(now()), "a new password revokes the tokens");
        assert!(store.session_by_hash(&[10; 32]).await.unwrap().is_some());
        assert!(store.session_by_hash(&[11; 32]).await.unwrap().is_none());

        store.set_password(&aino.id, "$argon2id$reset", None, &audit("user.password_reset")).await.unwrap();
        assert!(store.session_by_hash(&[10; 32]).await.unwrap().is_none(), "a reset ends them all");
    }

    async fn a_totp_secret_takes_effect_only_once_confirmed(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        assert!(store.totp(&aino.id).await.unwrap().is_none());
        let missing = store.confirm_totp(&aino.id, 100, &audit("user.totp_enrolled")).await;
        assert!(matches!(missing, Err(Error::NotFound)), "nothing pending yet");

        store.begin_totp(&aino.id, &sealed(1), &audit("user.totp_enrolment_begun")).await.unwrap();
        let begun = store.totp(&aino.id).await.unwrap().unwrap();
        assert_eq!(begun.pending, Some(sealed(1)));
        assert_eq!(begun.active, None);
        assert!(!store.user(&aino.id).await.unwrap().unwrap().totp_enabled);

        store.confirm_totp(&aino.id, 100, &audit("user.totp_enrolled")).await.unwrap();
        let confirmed = store.totp(&aino.id).await.unwrap().unwrap();
        assert_eq!(confirmed.active, Some(sealed(1)));
        assert_eq!(confirmed.pending, None);
        assert_eq!(confirmed.last_step, Some(100));
        assert!(store.user(&aino.id).await.unwrap().unwrap().totp_enabled);

        // A new enrolment does not displace the confirmed secret until confirmed.
        store.begin_totp(&aino.id, &sealed(2), &audit("user.totp_enrolment_begun")).await.unwrap();
        let again = store.totp(&aino.id).await.unwrap().unwrap();
        assert_eq!(again.active, Some(sealed(1)));
        assert_eq!(again.pending, Some(sealed(2)));
    }

    async fn a_totp_step_signs_in_once_and_never_again(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        store.begin_totp(&aino.id, &sealed(1), &audit("user.totp_enrolment_begun")).await.unwrap();
        store.confirm_totp(&aino.id, 100, &audit("user.totp_enrolled")).await.unwrap();
        let before = all_audit(store).await.len();

        let same = store.insert_session(&session(&aino, 20), Some(100), keep_all(), &audit("login.succeeded")).await;
        let next = store.insert_session(&session(&aino, 21), Some(101), keep_all(), &audit("login.succeeded")).await;
        let replay = store.insert_session(&session(&aino, 22), Some(101), keep_all(), &audit("login.succeeded")).await;
        let older = store.insert_session(&session(&aino, 23), Some(99), keep_all(), &audit("login.succeeded")).await;

        assert!(matches!(same, Err(Error::Conflict("totp step"))), "the confirming step is spent");
        assert!(next.is_ok());
        assert!(matches!(replay, Err(Error::Conflict("totp step"))));
        assert!(matches!(older, Err(Error::Conflict("totp step"))));
        assert!(store.session_by_hash(&[22; 32]).await.unwrap().is_none(), "a refused sign-in stores no session");
        assert_eq!(all_audit(store).await.len(), before + 1, "only the one sign-in is logged");
    }

    async fn tokens_list_per_account_or_all_and_revoke_once(store: &dyn Store) {
        let aino = user("aino", Role::Agent);
        let pbx = user("pbx", Role::Integration);
        store.insert_user(&aino, &audit("user.created")).await.unwrap();
        store.insert_user(&pbx, &audit("user.created")).await.unwrap();
        let mine = token(&aino, &[1; 32]);
        let theirs = token(&pbx, &[2; 32]);
        store.insert_token(&mine, &audit("token.created")).await.unwrap();
        store.insert_token(&theirs, &audit("token.created")).await.unwrap();

        let of_aino = store.tokens(Some(&aino.id)).await.unwrap();
        let all = store.tokens(None).await.unwrap();
        assert_eq!(of_aino, std::slice::from_ref(&mine));
        assert_eq!(all.len(), 2);
        assert_eq!(store.token(&theirs.id).await.unwrap(), Some(theirs.clone()));

        let first = store.revoke_token(&mine.id, now(), &audit("token.revoked")).await.unwrap();
        let second = store.revoke_token(&mine.id, now() + TimeDelta::hours(1), &audit("token.revoked")).await.unwrap();
        let unknown = store.revoke_token(&uuid::Uuid::now_v7(), now(), &audit("token.revoked")).await;

        assert!(first);
        assert!(!second, "already revoked");
        assert!(matches!(unknown, Err(Error::NotFound)));
        let stored = store.token(&mine.id).await.unwrap().unwrap();
        assert_eq!(stored.revoked_at, Some(now()), "the first revocation time stands");
        let logged = actions(&all_audit(store).await);
        assert_eq!(logged.iter().filter(|a| *a == "token.revoked").count(), 1);
    }

    async fn every_account_is_listed_by_name(store: &dyn Store) {
        for name in ["sanna", "aino", "pbx"] {
            store.insert_user(&user(name, Role::Agent), &audit("user.created")).await.unwrap();
        }

        let names: Vec<String> = store.users().await.unwrap().into_iter().map(|u| u.name).collect();

        assert_eq!(names, ["aino", "pbx", "sanna"]);
    }
}
