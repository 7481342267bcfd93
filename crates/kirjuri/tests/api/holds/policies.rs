//! Retention policies (RET-1) through the interface: a policy set from the
//! environment applies to new recordings, one past the notice's twelve
//! months is refused without a configured reason, and `retention apply`
//! only ever shortens deadlines.

use super::*;

#[tokio::test]
async fn a_six_month_recording_policy_from_the_environment_gives_new_recordings_six_months() {
    // Arrange
    let app = spawn_app_with_env(&[("KIRJURI_RETENTION__CALL_RECORDING__MONTHS", "6")]).await;
    let contact = app.new_call("aino").await;

    // Act
    let ack = app.store_recording(&contact, &wav(8000)).await;

    // Assert: 29 Nov 2026 + 6 months = 29 May 2027, Helsinki midnight (UTC+3).
    assert_eq!(ack["retain_until"], "2027-05-28T21:00:00Z");
    let view = app.contact_as_supervisor(&contact).await;
    assert_eq!(
        view["retain_until"], "2027-11-28T22:00:00Z",
        "the contact's own policy"
    );
    let policies = app.cli(&["retention", "policies"]);
    assert!(policies.status.success(), "{}", stderr(&policies));
    let line = stdout(&policies)
        .lines()
        .find(|l| l.starts_with("call_recording"))
        .unwrap()
        .to_owned();
    assert!(line.contains(" 6 "), "{line}");
}

#[tokio::test]
async fn a_recording_policy_past_the_notices_twelve_months_is_refused_unless_a_reason_is_configured()
 {
    // Arrange
    let app = spawn_app().await;
    let longer = [(
        "KIRJURI_RETENTION__CALL_RECORDING__MONTHS".to_owned(),
        "13".to_owned(),
    )];
    let with_reason = [
        longer[0].clone(),
        (
            "KIRJURI_RETENTION__CALL_RECORDING_EXCEEDS_NOTICE_REASON".to_owned(),
            "Order calls: Accounting Act 2:10".to_owned(),
        ),
    ];
    let empty_reference = [(
        "KIRJURI_RETENTION__EMAIL__REFERENCE".to_owned(),
        " ".to_owned(),
    )];

    // Act
    let refused =
        crate::helpers::run_kirjuri(app.data_dir(), &["retention", "policies"], None, &longer);
    let allowed = crate::helpers::run_kirjuri(
        app.data_dir(),
        &["retention", "policies"],
        None,
        &with_reason,
    );
    let no_reference = crate::helpers::run_kirjuri(
        app.data_dir(),
        &["retention", "policies"],
        None,
        &empty_reference,
    );

    // Assert
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("the privacy notice promises at most 12 months"),
        "{}",
        stderr(&refused)
    );
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert!(stdout(&allowed).contains("Accounting Act 2:10"));
    assert_eq!(no_reference.status.code(), Some(1));
    assert!(
        stderr(&no_reference).contains("retention.email.reference"),
        "{}",
        stderr(&no_reference)
    );
}

#[tokio::test]
async fn retention_apply_shortens_deadlines_and_never_lengthens_them() {
    // Arrange: a recording stored under the notice's 12 months.
    let app = spawn_app().await;
    let contact = app.new_call("aino").await;
    let ack = app.store_recording(&contact, &wav(8000)).await;
    assert_eq!(ack["retain_until"], "2027-11-28T22:00:00Z");
    let six = [(
        "KIRJURI_RETENTION__CALL_RECORDING__MONTHS".to_owned(),
        "6".to_owned(),
    )];
    let run = |args: &[&str], envs: &[(String, String)]| {
        crate::helpers::run_kirjuri(app.data_dir(), args, None, envs)
    };

    // Act: a dry run under six months
    let dry = run(&["retention", "apply", "--dry-run"], &six);

    // Assert: it counts and changes nothing
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("would shorten"), "{}", stdout(&dry));
    assert!(stdout(&dry).contains("dry run"), "{}", stdout(&dry));
    assert_eq!(
        app.contact_as_supervisor(&contact).await["recording"]["retain_until"],
        "2027-11-28T22:00:00Z"
    );
    assert!(
        audit_events(&app, "retention.policy_applied")
            .await
            .is_empty()
    );

    // Act: apply under six months
    let applied = run(&["retention", "apply"], &six);

    // Assert: the recording (and its waveform) now go after six months; the
    // contact's own record keeps its policy.
    assert!(applied.status.success(), "{}", stderr(&applied));
    let line = stdout(&applied)
        .lines()
        .find(|l| l.starts_with("call_recording"))
        .unwrap()
        .to_owned();
    assert!(line.split_whitespace().nth(1) == Some("1"), "{line}");
    let view = app.contact_as_supervisor(&contact).await;
    assert_eq!(view["recording"]["retain_until"], "2027-05-28T21:00:00Z");
    for object in view["objects"].as_array().unwrap() {
        assert_eq!(object["retain_until"], "2027-05-28T21:00:00Z", "{object}");
    }
    assert_eq!(view["retain_until"], "2027-11-28T22:00:00Z");
    let events = audit_events(&app, "retention.policy_applied").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["details"]["kinds"]["call_recording"]["shortened"],
        1
    );

    // Act: back to twelve months (the default) — that would lengthen.
    let longer = run(&["retention", "apply"], &[]);

    // Assert: refused and counted; nothing moved later.
    assert!(longer.status.success(), "{}", stderr(&longer));
    let line = stdout(&longer)
        .lines()
        .find(|l| l.starts_with("call_recording"))
        .unwrap()
        .to_owned();
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[1..3], ["0", "1"], "shortened 0, refused 1: {line}");
    assert!(stdout(&longer).contains("refused"), "{}", stdout(&longer));
    let view = app.contact_as_supervisor(&contact).await;
    assert_eq!(view["recording"]["retain_until"], "2027-05-28T21:00:00Z");
}
