//! The credential model (issue 10): a new password or a disable revokes
//! the account's tokens, tokens come only from a session with the password
//! typed again and live a capped time, replacing a second factor needs its
//! current code, wrong current passwords count toward the lockout, and the
//! separation of duties between administrators, the responsible person and
//! registrars.

use super::*;
#[tokio::test]
async fn a_new_password_revokes_every_token_of_the_account_and_no_other() {
    // Arrange: aino has the harness's token and one she made from a session.
    let app = spawn_app().await;
    let (_, admin) = add_account(&app, "olli", "admin");
    let old = template_password("aino", "agent");
    let here = sign_in(&app, "aino", &old, None).await;
    let made = |password: String, browser: Browser| {
        let app = &app;
        async move {
            let issued = send(
                app,
                Method::POST,
                "/api/v1/tokens",
                Auth::Session(&browser),
                Some(json!({"label": "laptop", "password": password})),
            )
            .await;
            json_ok_status(issued, StatusCode::CREATED).await["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let laptop = made(old.clone(), here.clone()).await;
    let new = strong_password("aino-uusi");

    // Act: she changes her password.
    let changed = send(
        &app,
        Method::POST,
        "/api/v1/session/password",
        Auth::Session(&here),
        Some(json!({"current_password": old, "new_password": new})),
    )
    .await;

    // Assert: both tokens are dead, the session she changed it in lives,
    // and bertta's token is untouched.
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    for token in [&app.tokens.aino, &laptop] {
        assert_error(
            whoami(&app, Auth::Bearer(token)).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    assert_eq!(
        whoami(&app, Auth::Session(&here)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        whoami(&app, Auth::Bearer(&app.tokens.bertta))
            .await
            .status(),
        StatusCode::OK
    );

    // And an administrator's reset ends her session and revokes the token
    // she made after the change.
    let after_change = made(new.clone(), here.clone()).await;
    let reset = send(
        &app,
        Method::POST,
        "/api/v1/users/aino/password",
        Auth::Bearer(&admin),
        None,
    )
    .await;
    assert_eq!(reset.status(), StatusCode::OK);
    assert_error(
        whoami(&app, Auth::Bearer(&after_change)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        whoami(&app, Auth::Session(&here)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_token_never_makes_tokens_and_a_session_needs_the_password_and_a_capped_lifetime() {
    // Arrange
    let app = spawn_app_with_env(&[("KIRJURI_TOKEN_MAX_LIFETIME_DAYS", "30")]).await;
    let password = template_password("aino", "agent");
    let browser = sign_in(&app, "aino", &password, None).await;

    // Act
    let by_token = post(
        &app,
        "/api/v1/tokens",
        Auth::Bearer(&app.tokens.aino),
        json!({"password": password}),
    )
    .await;
    let without_password = post(
        &app,
        "/api/v1/tokens",
        Auth::Session(&browser),
        json!({"label": "x"}),
    )
    .await;
    let wrong_password = post(
        &app,
        "/api/v1/tokens",
        Auth::Session(&browser),
        json!({"password": "Not-her-passw0rd-at-all"}),
    )
    .await;
    let ten_years = post(
        &app,
        "/api/v1/tokens",
        Auth::Session(&browser),
        json!({"password": password, "expires_in_days": 3650}),
    )
    .await;
    let default = post(
        &app,
        "/api/v1/tokens",
        Auth::Session(&browser),
        json!({"password": password}),
    )
    .await;

    // Assert
    let (_, message) = assert_error(by_token, StatusCode::FORBIDDEN).await;
    assert!(message.contains("session"), "{message}");
    let (code, _) = assert_error(without_password, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_body");
    assert_error(wrong_password, StatusCode::FORBIDDEN).await;
    let (code, message) = assert_error(ten_years, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_parameter");
    assert!(message.contains("30"), "{message}");
    let default = json_ok_status(default, StatusCode::CREATED).await;
    let expires: chrono::DateTime<chrono::Utc> =
        default["expires_at"].as_str().unwrap().parse().unwrap();
    #[allow(
        clippy::disallowed_methods,
        reason = "the server is another process on the real clock"
    )]
    let in_days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.0..=30.0).contains(&in_days), "{in_days}");
    // The token made so cannot make another either.
    let child = default["token"].as_str().unwrap().to_owned();
    let grandchild = post(
        &app,
        "/api/v1/tokens",
        Auth::Bearer(&child),
        json!({"password": password}),
    )
    .await;
    assert_error(grandchild, StatusCode::FORBIDDEN).await;
    // The wrong password was a password check like any other: audited.
    assert_eq!(app.failed_logins("bad_password").await, 1);
}

#[tokio::test]
async fn replacing_the_second_factor_needs_a_current_code_and_never_a_token() {
    // Arrange: aino enrols a second factor and signs in with it.
    let app = spawn_app().await;
    let password = template_password("aino", "agent");
    let first = sign_in(&app, "aino", &password, None).await;
    let begun = json_ok(
        post(
            &app,
            "/api/v1/session/totp",
            Auth::Session(&first),
            json!({"password": password}),
        )
        .await,
    )
    .await;
    let uri = begun["otpauth_uri"].as_str().unwrap().to_owned();
    let confirmed = send(
        &app,
        Method::POST,
        "/api/v1/session/totp/confirm",
        Auth::Session(&first),
        Some(json!({"code": totp_code(&uri, 0)})),
    )
    .await;
    assert_eq!(json_ok(confirmed).await["totp_enabled"], true);
    let browser = sign_in(&app, "aino", &password, Some(&totp_code(&uri, 1))).await;

    // Act
    let with_token = post(
        &app,
        "/api/v1/session/totp",
        Auth::Bearer(&app.tokens.aino),
        json!({"password": password}),
    )
    .await;
    let without_code = post(
        &app,
        "/api/v1/session/totp",
        Auth::Session(&browser),
        json!({"password": password}),
    )
    .await;
    let wrong_code = post(
        &app,
        "/api/v1/session/totp",
        Auth::Session(&browser),
        json!({"password": password, "current_code": "000000"}),
    )
    .await;
    let confirm_with_token = send(
        &app,
        Method::POST,
        "/api/v1/session/totp/confirm",
        Auth::Bearer(&app.tokens.aino),
        Some(json!({"code": "000000"})),
    )
    .await;
    let with_code = post(
        &app,
        "/api/v1/session/totp",
        Auth::Session(&browser),
        json!({"password": password, "current_code": totp_code(&uri, 0)}),
    )
    .await;

    // Assert
    assert_error(with_token, StatusCode::FORBIDDEN).await;
    assert_error(without_code, StatusCode::FORBIDDEN).await;
    if totp_code(&uri, 0) != "000000" {
        assert_error(wrong_code, StatusCode::FORBIDDEN).await;
    }
    assert_error(confirm_with_token, StatusCode::FORBIDDEN).await;
    let replaced = json_ok(with_code).await;
    assert_ne!(replaced["otpauth_uri"], uri.as_str());
    // A token, too, needs the code of the second factor in force.
    let token_without_code = post(
        &app,
        "/api/v1/tokens",
        Auth::Session(&browser),
        json!({"password": password}),
    )
    .await;
    assert_error(token_without_code, StatusCode::FORBIDDEN).await;
    let token_with_code = post(
        &app,
        "/api/v1/tokens",
        Auth::Session(&browser),
        json!({"password": password, "totp": totp_code(&uri, 0)}),
    )
    .await;
    assert_eq!(token_with_code.status(), StatusCode::CREATED);
    // The refusals were counted as failed checks of the second factor.
    assert!(app.failed_logins("bad_totp").await >= 1);
}

#[tokio::test]
async fn wrong_current_passwords_count_toward_the_lockout_and_are_audited() {
    // Arrange
    let app = spawn_app().await;
    let password = template_password("aino", "agent");
    let here = sign_in(&app, "aino", &password, None).await;
    let new = strong_password("aino-uusi");

    // Act: thirty guesses at her current password from her session.
    let mut statuses = Vec::new();
    for n in 0..30 {
        let guess = format!("Guessed-passw0rd-number-{n}");
        let response = send(
            &app,
            Method::POST,
            "/api/v1/session/password",
            Auth::Session(&here),
            Some(json!({"current_password": guess, "new_password": new})),
        )
        .await;
        statuses.push(response.status());
    }

    // Assert: five were checked and refused, then the account locked and
    // the session stopped working; nothing was changed.
    assert_eq!(statuses[..5], [StatusCode::FORBIDDEN; 5], "{statuses:?}");
    assert!(
        statuses[5..].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(app.failed_logins("bad_password").await, 5);
    assert_eq!(app.account_state("aino"), "locked");
    assert_error(
        login(&app, "aino", &password, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn wrong_current_passwords_drain_the_address_allowance_too() {
    // With a lockout far away, the per-address throttle is what stops them.
    let app = spawn_app_with_env(&[("KIRJURI_LOCKOUT_AFTER_FAILURES", "100")]).await;
    let password = template_password("aino", "agent");
    let here = sign_in(&app, "aino", &password, None).await;
    let mut statuses = Vec::new();
    for n in 0..12 {
        let response = send(
            &app,
            Method::POST,
            "/api/v1/session/password",
            Auth::Session(&here),
            Some(json!({
                "current_password": format!("Guessed-passw0rd-number-{n}"),
                "new_password": strong_password("aino-uusi"),
            })),
        )
        .await;
        statuses.push(response.status());
    }

    assert_eq!(statuses[..10], [StatusCode::FORBIDDEN; 10], "{statuses:?}");
    assert_eq!(
        statuses[10..],
        [StatusCode::TOO_MANY_REQUESTS; 2],
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_admin_cannot_reset_the_responsible_person_or_a_registrar_but_the_operator_can() {
    // Arrange
    let app = spawn_app().await;
    let (_, admin) = add_account(&app, "olli", "admin");
    let (rita_password, _) = add_account(&app, "rita", "responsible");
    let (reija_password, _) = add_account(&app, "reija", "registrar");
    let reset = |name: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            send(
                app,
                Method::POST,
                &format!("/api/v1/users/{name}/password"),
                Auth::Bearer(&admin),
                None,
            )
            .await
        }
    };

    // Act
    let responsible = reset("rita").await;
    let registrar = reset("reija").await;
    let agent = reset("aino").await;

    // Assert: refused for both, their passwords unchanged; an agent's works.
    assert_error(responsible, StatusCode::FORBIDDEN).await;
    assert_error(registrar, StatusCode::FORBIDDEN).await;
    sign_in(&app, "rita", &rita_password, None).await;
    sign_in(&app, "reija", &reija_password, None).await;
    assert_eq!(agent.status(), StatusCode::OK);

    // The operator resets anyone with the command line.
    let out = app.cli(&["user", "reset-password", "rita"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let new = printed.trim().rsplit(' ').next().unwrap().to_owned();
    assert_error(
        login(&app, "rita", &rita_password, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    sign_in(&app, "rita", &new, None).await;
}

#[tokio::test]
async fn naming_a_registrar_moves_only_agents_and_the_last_admin_stays() {
    // Arrange
    let app = spawn_app().await;
    let (_, admin) = add_account(&app, "olli", "admin");
    let (_, responsible) = add_account(&app, "rita", "responsible");
    let set = |token: &str, name: &str, body: Value| {
        let app = &app;
        let (token, path) = (token.to_owned(), format!("/api/v1/users/{name}"));
        async move { send(app, Method::PATCH, &path, Auth::Bearer(&token), Some(body)).await }
    };
    let names = |token: &str| {
        let url = app.url("/api/v1/contacts?purpose=complaint_verification");
        app.client.get(url).bearer_auth(token.to_owned()).send()
    };
    app.new_call("aino").await;
    let pbx_reads_before = names(&app.tokens.pbx).await.unwrap().status();

    // Act / Assert: the registrar rule never reaches an admin or the PBX.
    let demote_admin = set(&responsible, "olli", json!({"role": "agent"})).await;
    assert_error(demote_admin, StatusCode::FORBIDDEN).await;
    assert_eq!(role_of(&app, "olli"), "admin");
    let pbx_registrar = set(&responsible, "pbx", json!({"role": "registrar"})).await;
    assert_error(pbx_registrar, StatusCode::FORBIDDEN).await;
    assert_eq!(role_of(&app, "pbx"), "integration");
    assert_eq!(
        names(&app.tokens.pbx).await.unwrap().status(),
        pbx_reads_before
    );
    assert_ne!(pbx_reads_before, StatusCode::OK);
    // Nor does an admin give the PBX a person's role.
    let pbx_supervisor = set(&admin, "pbx", json!({"role": "supervisor"})).await;
    assert_error(pbx_supervisor, StatusCode::FORBIDDEN).await;
    // Agent ↔ registrar is the responsible person's, and only that.
    let named = set(&responsible, "bertta", json!({"role": "registrar"})).await;
    assert_eq!(json_ok(named).await["role"], "registrar");
    let onwards = set(&responsible, "bertta", json!({"role": "supervisor"})).await;
    assert_error(onwards, StatusCode::FORBIDDEN).await;
    let back = set(&responsible, "bertta", json!({"role": "agent"})).await;
    assert_eq!(json_ok(back).await["role"], "agent");

    // The last enabled admin is neither demoted nor disabled, not even by
    // the operator; with a second one, either may go.
    for args in [
        &["user", "set-role", "olli", "agent"][..],
        &["user", "disable", "olli"][..],
    ] {
        let out = app.cli(args);
        assert!(!out.status.success(), "{args:?} must be refused");
    }
    assert_eq!(role_of(&app, "olli"), "admin");
    assert_eq!(app.account_state("olli"), "active");
    add_account(&app, "outi", "admin");
    let disabled = set(&admin, "outi", json!({"disabled": true})).await;
    assert_eq!(json_ok(disabled).await["disabled"], true);
    let out = app.cli(&["user", "set-role", "olli", "agent"]);
    assert!(!out.status.success(), "outi is disabled: olli is the last");
}
