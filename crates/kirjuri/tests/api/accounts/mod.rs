//! Personal accounts and roles (SEC-4, SEC-5, ACC-1), through the interface a
//! browser, a script and an operator use: sign-in and sign-out with a strict
//! session cookie, CSRF tokens on cookie writes, idle and absolute timeouts,
//! lockout and per-address throttling, TOTP, disabling, token expiry and
//! revocation, user administration, registrars named only by the responsible
//! person, and a maintainer's agreement and per-access reason.
//!
//! Timeouts are real time at the HTTP boundary (the server is another
//! process), so those tests set them to a few seconds and sleep just past them.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, json_ok, run_kirjuri, spawn_app, spawn_app_with_env, wav,
};

mod credentials;
/// The password the harness gave a template account.
fn template_password(name: &str, role: &str) -> String {
    format!("Api-Test-Passw0rd-{name}-{role}")
}

/// A password that passes the policy.
fn strong_password(name: &str) -> String {
    format!("Lumihiutale-kantaa-{name}-kuusi-9")
}

/// Adds an account with the CLI and issues it a token; returns (password, token).
fn add_account(app: &TestApp, name: &str, role: &str) -> (String, String) {
    let password = strong_password(name);
    let out = run_kirjuri(
        app.data_dir(),
        &["user", "add", name, "--role", role, "--password-stdin"],
        Some(&format!("{password}\n")),
        &[],
    );
    assert!(
        out.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = app.cli(&["token", "create", "--user", name]);
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    (password, token)
}

/// A signed-in browser: its cookie and its CSRF token.
#[derive(Debug, Clone)]
struct Browser {
    cookie: String,
    csrf: String,
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// The cookie, with the given `X-CSRF-Token` (or none).
    Cookie(&'a Browser, Option<&'a str>),
    /// The cookie with the session's own CSRF token.
    Session(&'a Browser),
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> Response {
    let mut request = app.client.request(method, app.url(path));
    request = match auth {
        Auth::None => request,
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Cookie(browser, csrf) => {
            let request = request.header(header::COOKIE, &browser.cookie);
            match csrf {
                Some(csrf) => request.header("x-csrf-token", csrf),
                None => request,
            }
        }
        Auth::Session(browser) => request
            .header(header::COOKIE, &browser.cookie)
            .header("x-csrf-token", &browser.csrf),
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("an HTTP answer")
}

async fn login(app: &TestApp, name: &str, password: &str, totp: Option<&str>) -> Response {
    let mut body = json!({"name": name, "password": password});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    send(app, Method::POST, "/api/v1/session", Auth::None, Some(body)).await
}

/// Signs in, asserting 200, and returns the browser state.
async fn sign_in(app: &TestApp, name: &str, password: &str, totp: Option<&str>) -> Browser {
    let response = login(app, name, password, totp).await;
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = json_ok(response).await;
    let set_cookie = set_cookie.expect("a Set-Cookie header");
    let cookie = set_cookie.split(';').next().unwrap().trim().to_owned();
    Browser {
        cookie,
        csrf: body["csrf_token"]
            .as_str()
            .expect("a CSRF token")
            .to_owned(),
    }
}

async fn whoami(app: &TestApp, auth: Auth<'_>) -> Response {
    send(app, Method::GET, "/api/v1/session", auth, None).await
}

/// The current TOTP code of an `otpauth://` URI, `offset` steps ahead.
#[allow(
    clippy::disallowed_methods,
    reason = "the server is another process on the real clock; the code must match it"
)]
fn totp_code(uri: &str, offset_steps: i64) -> String {
    let totp = totp_rs::Totp::from_url(uri).expect("a valid otpauth URI");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    totp.generate((now + 30 * offset_steps) as u64).to_string()
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_the_session() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = login(&app, "aino", &template_password("aino", "agent"), None).await;

    // Assert
    let set_cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    let body = json_ok(response).await;
    assert_eq!(body["user"], "aino");
    assert_eq!(body["role"], "agent");
    assert!(
        set_cookie.starts_with("kirjuri_session=kjs_"),
        "{set_cookie}"
    );
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(flag), "missing {flag}: {set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "no TLS configured, so not Secure: {set_cookie}"
    );
    let browser = Browser {
        cookie: set_cookie.split(';').next().unwrap().to_owned(),
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    };
    let me = json_ok(whoami(&app, Auth::Session(&browser)).await).await;
    assert_eq!(me["user"], "aino");
    assert_eq!(me["csrf_token"], browser.csrf.as_str());

    let logout = send(
        &app,
        Method::DELETE,
        "/api/v1/session",
        Auth::Session(&browser),
        None,
    )
    .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(
        logout.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_error(
        whoami(&app, Auth::Session(&browser)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_name_get_the_same_refusal() {
    let app = spawn_app().await;

    let wrong = login(&app, "aino", "Not-the-right-passw0rd", None).await;
    let unknown = login(&app, "nobody-here", "Not-the-right-passw0rd", None).await;

    let wrong = assert_error(wrong, StatusCode::UNAUTHORIZED).await;
    let unknown = assert_error(unknown, StatusCode::UNAUTHORIZED).await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.0, "login_failed");
    assert!(
        !wrong.1.contains("Not-the-right"),
        "never echo the password: {}",
        wrong.1
    );
}

#[tokio::test]
async fn a_cookie_write_needs_the_sessions_csrf_token_and_a_bearer_write_needs_none() {
    // Arrange
    let app = spawn_app().await;
    let password = template_password("aino", "agent");
    let browser = sign_in(&app, "aino", &password, None).await;
    let new_token = || Some(json!({"label": "laptop", "password": password}));

    // Act
    let without = send(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Auth::Cookie(&browser, None),
        new_token(),
    )
    .await;
    let forged = send(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Auth::Cookie(&browser, Some("forged-token-value")),
        new_token(),
    )
    .await;
    let with = send(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Auth::Session(&browser),
        new_token(),
    )
    .await;
    // A bearer write needs no CSRF token. (It used to be making a token too;
    // a token no longer makes tokens, so it revokes the one just made.)
    let made = json_ok_status(with, StatusCode::CREATED).await;
    let bearer = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/tokens/{}", made["id"].as_str().unwrap()),
        Auth::Bearer(&app.tokens.aino),
        None,
    )
    .await;

    // Assert
    let (code, _) = assert_error(without, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "csrf_failed");
    let (code, _) = assert_error(forged, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "csrf_failed");
    assert_eq!(bearer.status(), StatusCode::NO_CONTENT);
    // Reads through the cookie need no CSRF token.
    assert_eq!(
        whoami(&app, Auth::Cookie(&browser, None)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_idle_session_ends_after_the_idle_timeout() {
    let app = spawn_app_with_env(&[("KIRJURI_SESSION_IDLE_SECONDS", "2")]).await;
    let browser = sign_in(&app, "aino", &template_password("aino", "agent"), None).await;
    assert_eq!(
        whoami(&app, Auth::Session(&browser)).await.status(),
        StatusCode::OK
    );

    tokio::time::sleep(Duration::from_millis(3000)).await;

    assert_error(
        whoami(&app, Auth::Session(&browser)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_busy_session_still_ends_at_the_absolute_timeout() {
    let app = spawn_app_with_env(&[
        ("KIRJURI_SESSION_IDLE_SECONDS", "2"),
        ("KIRJURI_SESSION_ABSOLUTE_SECONDS", "3"),
    ])
    .await;
    let browser = sign_in(&app, "aino", &template_password("aino", "agent"), None).await;

    // Activity every 1.2 s keeps it from idling out…
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(
            whoami(&app, Auth::Session(&browser)).await.status(),
            StatusCode::OK
        );
    }
    // …but not past 3 s in all.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_error(
        whoami(&app, Auth::Session(&browser)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn five_failed_logins_lock_the_account_until_an_admin_unlocks_it() {
    // Arrange
    let app = spawn_app().await;
    let (_, admin) = add_account(&app, "olli", "admin");
    let password = template_password("aino", "agent");

    // Act: five wrong passwords, then the right one.
    for _ in 0..5 {
        assert_error(
            login(&app, "aino", "Wrong-passw0rd-guess", None).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let while_locked = login(&app, "aino", &password, None).await;
    let listed = app.cli(&["user", "list"]);

    // Assert
    let (code, _) = assert_error(while_locked, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        code, "login_failed",
        "a locked account answers like a wrong password"
    );
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("aino\t") && l.contains("\tlocked\t")),
        "{listed}"
    );
    let users = json_ok(
        send(
            &app,
            Method::GET,
            "/api/v1/users",
            Auth::Bearer(&admin),
            None,
        )
        .await,
    )
    .await;
    let aino = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "aino")
        .unwrap()
        .clone();
    assert_eq!(aino["locked"], true, "{aino}");
    assert!(aino.get("password_hash").is_none(), "{aino}");

    // Only an admin unlocks: the agent herself cannot.
    let by_agent = send(
        &app,
        Method::POST,
        "/api/v1/users/aino/unlock",
        Auth::Bearer(&app.tokens.bertta),
        None,
    )
    .await;
    assert_error(by_agent, StatusCode::FORBIDDEN).await;
    let unlocked = send(
        &app,
        Method::POST,
        "/api/v1/users/aino/unlock",
        Auth::Bearer(&admin),
        None,
    )
    .await;
    assert_eq!(json_ok(unlocked).await["locked"], false);
    sign_in(&app, "aino", &password, None).await;
}

#[tokio::test]
async fn the_operator_unlocks_an_account_with_the_command_line_while_the_server_runs() {
    let app = spawn_app_with_env(&[("KIRJURI_LOCKOUT_AFTER_FAILURES", "2")]).await;
    for _ in 0..2 {
        login(&app, "bertta", "Wrong-passw0rd-guess", None).await;
    }
    let password = template_password("bertta", "agent");
    assert_error(
        login(&app, "bertta", &password, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let out = app.cli(&["user", "unlock", "bertta"]);

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sign_in(&app, "bertta", &password, None).await;
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled_with_429_and_retry_after() {
    let app = spawn_app_with_env(&[("KIRJURI_LOGIN_IP_MAX_FAILURES", "3")]).await;
    for n in 0..3 {
        let name = format!("guess-{n}");
        assert_error(
            login(&app, &name, "Wrong-passw0rd-guess", None).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }

    // Even the right password waits its turn.
    let throttled = login(&app, "aino", &template_password("aino", "agent"), None).await;

    let retry_after: u64 = throttled.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (code, _) = assert_error(throttled, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(code, "too_many_requests");
}

#[tokio::test]
async fn a_confirmed_totp_is_required_at_sign_in_and_a_code_works_only_once() {
    // Arrange
    let app = spawn_app().await;
    let password = template_password("aino", "agent");
    let browser = sign_in(&app, "aino", &password, None).await;

    // Act: begin, try a wrong code, confirm with the right one.
    let begun = json_ok(
        send(
            &app,
            Method::POST,
            "/api/v1/session/totp",
            Auth::Session(&browser),
            Some(json!({"password": password})),
        )
        .await,
    )
    .await;
    let uri = begun["otpauth_uri"]
        .as_str()
        .expect("an otpauth URI")
        .to_owned();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(begun["secret"].as_str().is_some_and(|s| s.len() >= 32));
    // Until confirmed, signing in needs no code.
    sign_in(&app, "aino", &password, None).await;
    let code_now = totp_code(&uri, 0);
    let valid_now = [totp_code(&uri, -1), code_now.clone(), totp_code(&uri, 1)];
    let wrong_code = (0..10)
        .map(|d| format!("{d}{d}{d}{d}{d}{d}"))
        .find(|c| !valid_now.contains(c))
        .unwrap();
    let wrong = send(
        &app,
        Method::POST,
        "/api/v1/session/totp/confirm",
        Auth::Session(&browser),
        Some(json!({"code": wrong_code})),
    )
    .await;
    let confirmed = send(
        &app,
        Method::POST,
        "/api/v1/session/totp/confirm",
        Auth::Session(&browser),
        Some(json!({"code": code_now})),
    )
    .await;

    // Assert
    let (code, _) = assert_error(wrong, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "totp_invalid");
    assert_eq!(json_ok(confirmed).await["totp_enabled"], true);
    let (code, _) = assert_error(
        login(&app, "aino", &password, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "totp_required");
    let (code, _) = assert_error(
        login(&app, "aino", &password, Some("123x56")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "login_failed");
    // The code used to confirm is spent; the next step's (within the
    // allowed skew) signs in once and only once.
    assert_error(
        login(&app, "aino", &password, Some(&code_now)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let next = totp_code(&uri, 1);
    sign_in(&app, "aino", &password, Some(&next)).await;
    let (code, _) = assert_error(
        login(&app, "aino", &password, Some(&next)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "login_failed", "a code is never accepted twice");
}

#[tokio::test]
async fn a_disabled_accounts_sessions_and_tokens_stop_at_once() {
    // Arrange
    let app = spawn_app().await;
    let (_, admin) = add_account(&app, "olli", "admin");
    let browser = sign_in(&app, "aino", &template_password("aino", "agent"), None).await;
    let search = |token: &str| {
        let url = app.url("/api/v1/contacts?purpose=complaint_verification");
        app.client.get(url).bearer_auth(token.to_owned()).send()
    };
    assert_eq!(
        search(&app.tokens.aino).await.unwrap().status(),
        StatusCode::OK
    );

    // Act
    let disabled = send(
        &app,
        Method::PATCH,
        "/api/v1/users/aino",
        Auth::Bearer(&admin),
        Some(json!({"disabled": true})),
    )
    .await;

    // Assert
    assert_eq!(json_ok(disabled).await["disabled"], true);
    assert_error(
        whoami(&app, Auth::Session(&browser)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        search(&app.tokens.aino).await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        login(&app, "aino", &template_password("aino", "agent"), None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Enabled again: disabling revoked the tokens for good (it used to only
    // suspend them, so a token outlived the decision to cut the account
    // off); the ended session stays ended; signing in works again.
    let out = app.cli(&["user", "enable", "aino"]);
    assert!(out.status.success());
    assert_error(
        search(&app.tokens.aino).await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    sign_in(&app, "aino", &template_password("aino", "agent"), None).await;
    assert_error(
        whoami(&app, Auth::Session(&browser)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn expired_revoked_and_forged_tokens_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let expired = app.cli(&[
        "token",
        "create",
        "--user",
        "aino",
        "--expires-in-days",
        "0",
    ]);
    let expired = String::from_utf8(expired.stdout).unwrap().trim().to_owned();
    // Tokens are made from a session with the password (never by a token).
    let password = template_password("aino", "agent");
    let browser = sign_in(&app, "aino", &password, None).await;
    let issued = json_ok_status(
        send(
            &app,
            Method::POST,
            "/api/v1/tokens",
            Auth::Session(&browser),
            Some(json!({"label": "script", "password": password})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let revocable = issued["token"].as_str().unwrap().to_owned();
    let id = issued["id"].as_str().unwrap().to_owned();
    assert_eq!(
        whoami(&app, Auth::Bearer(&revocable)).await.status(),
        StatusCode::OK
    );

    // Act
    let revoke = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Auth::Bearer(&app.tokens.aino),
        None,
    )
    .await;
    let mut tampered = app.tokens.aino.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });

    // Assert
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    for token in [
        expired.as_str(),
        revocable.as_str(),
        "kjr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        tampered.as_str(),
        "not-even-a-token",
    ] {
        let (code, _) = assert_error(
            whoami(&app, Auth::Bearer(token)).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(code, "unauthenticated");
    }
    // The listing shows the revocation and never a token.
    let listed = send(
        &app,
        Method::GET,
        "/api/v1/tokens",
        Auth::Bearer(&app.tokens.aino),
        None,
    )
    .await;
    let text = listed.text().await.unwrap();
    assert!(
        !text.contains("kjr_"),
        "a token listing must not hold tokens: {text}"
    );
    let listed: Value = serde_json::from_str(&text).unwrap();
    let revoked = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert!(revoked["last_used_at"].is_string(), "{revoked}");
    // Another agent cannot revoke aino's token: it looks missing.
    let theirs = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Auth::Bearer(&app.tokens.bertta),
        None,
    )
    .await;
    assert_error(theirs, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn only_the_responsible_person_names_and_removes_registrars() {
    // Arrange
    let app = spawn_app().await;
    let (_, admin) = add_account(&app, "olli", "admin");
    let (_, responsible) = add_account(&app, "rita", "responsible");
    async fn set_role(app: &TestApp, token: &str, role: &str) -> Response {
        let body = Some(json!({"role": role}));
        send(
            app,
            Method::PATCH,
            "/api/v1/users/bertta",
            Auth::Bearer(token),
            body,
        )
        .await
    }
    let role_of = || async {
        let out = app.cli(&["user", "list"]);
        let list = String::from_utf8(out.stdout).unwrap();
        list.lines()
            .find(|l| l.starts_with("bertta\t"))
            .and_then(|l| l.split('\t').nth(1))
            .unwrap()
            .to_owned()
    };

    // Act / Assert
    assert_error(
        set_role(&app, &admin, "registrar").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(role_of().await, "agent");
    assert_eq!(
        json_ok(set_role(&app, &responsible, "registrar").await).await["role"],
        "registrar"
    );
    assert_error(set_role(&app, &admin, "agent").await, StatusCode::FORBIDDEN).await;
    assert_eq!(role_of().await, "registrar");
    assert_eq!(
        json_ok(set_role(&app, &responsible, "agent").await).await["role"],
        "agent"
    );
    // Nobody gives the responsible role over the API.
    assert_error(
        set_role(&app, &admin, "responsible").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        set_role(&app, &responsible, "responsible").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Other roles are the administrator's, not the responsible person's.
    assert_error(
        set_role(&app, &responsible, "supervisor").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        json_ok(set_role(&app, &admin, "supervisor").await).await["role"],
        "supervisor"
    );
    // Creating a registrar account is naming a registrar too.
    let create = Some(json!({"name": "reija", "role": "registrar"}));
    let by_admin = send(
        &app,
        Method::POST,
        "/api/v1/users",
        Auth::Bearer(&admin),
        create.clone(),
    )
    .await;
    assert_error(by_admin, StatusCode::FORBIDDEN).await;
    let by_responsible = send(
        &app,
        Method::POST,
        "/api/v1/users",
        Auth::Bearer(&responsible),
        create,
    )
    .await;
    assert_eq!(by_responsible.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_maintainer_reaches_a_recording_only_with_an_agreement_on_file_and_a_stated_reason() {
    // Arrange
    let app = spawn_app().await;
    let (_, admin) = add_account(&app, "olli", "admin");
    let (_, maintainer) = add_account(&app, "mika", "maintainer");
    let id = app.new_call("aino").await;
    let bytes = wav(8000);
    app.store_recording(&id, &bytes).await;
    let listen = |query: &'static [(&'static str, &'static str)]| {
        let url = crate::helpers::with_query(
            &app.url(&format!("/api/v1/contacts/{id}/recording")),
            query,
        );
        app.client.get(url).bearer_auth(maintainer.clone()).send()
    };
    let with_reason: &[(&str, &str)] = &[("purpose", "development"), ("reason", "CHG-4711")];

    // Act / Assert: no agreement → 403, whatever the reason.
    let (_, message) =
        assert_error(listen(with_reason).await.unwrap(), StatusCode::FORBIDDEN).await;
    assert!(message.contains("confidentiality agreement"), "{message}");

    let recorded = send(
        &app,
        Method::PATCH,
        "/api/v1/users/mika",
        Auth::Bearer(&admin),
        Some(json!({"confidentiality_agreement": "NDA-2026-017"})),
    )
    .await;
    assert_eq!(
        json_ok(recorded).await["confidentiality_agreement"],
        "NDA-2026-017"
    );

    // Agreement but no reason → 400.
    let (code, _) = assert_error(
        listen(&[("purpose", "development")]).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "reason_required");

    // Both → the recording.
    let response = listen(with_reason).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // Clearing the agreement closes the door again.
    let out = app.cli(&["user", "agreement", "mika", "--clear"]);
    assert!(out.status.success());
    assert_error(listen(with_reason).await.unwrap(), StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn an_admin_creates_an_account_resets_its_password_and_others_cannot() {
    // Arrange
    let app = spawn_app().await;
    let (_, admin) = add_account(&app, "olli", "admin");

    // Act
    let weak = send(
        &app,
        Method::POST,
        "/api/v1/users",
        Auth::Bearer(&admin),
        Some(json!({"name": "kaisa", "role": "agent", "password": "password1234"})),
    )
    .await;
    let created = send(
        &app,
        Method::POST,
        "/api/v1/users",
        Auth::Bearer(&admin),
        Some(json!({"name": "kaisa", "role": "agent"})),
    )
    .await;
    let by_agent = send(
        &app,
        Method::GET,
        "/api/v1/users",
        Auth::Bearer(&app.tokens.aino),
        None,
    )
    .await;

    // Assert
    let (code, message) = assert_error(weak, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "common_password");
    assert!(!message.contains("password1234"), "{message}");
    let created = json_ok_status(created, StatusCode::CREATED).await;
    let first = created["password"]
        .as_str()
        .expect("a generated password")
        .to_owned();
    sign_in(&app, "kaisa", &first, None).await;
    assert_error(by_agent, StatusCode::FORBIDDEN).await;
    // Not even a change that changes nothing lets an agent read an account.
    let no_op = send(
        &app,
        Method::PATCH,
        "/api/v1/users/kaisa",
        Auth::Bearer(&app.tokens.aino),
        Some(json!({"role": "agent", "disabled": false})),
    )
    .await;
    assert_error(no_op, StatusCode::FORBIDDEN).await;

    let reset = json_ok(
        send(
            &app,
            Method::POST,
            "/api/v1/users/kaisa/password",
            Auth::Bearer(&admin),
            None,
        )
        .await,
    )
    .await;
    let second = reset["password"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_error(
        login(&app, "kaisa", &first, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    sign_in(&app, "kaisa", &second, None).await;
}

#[tokio::test]
async fn changing_ones_password_needs_the_current_one_and_ends_the_other_sessions() {
    // Arrange
    let app = spawn_app().await;
    let old = template_password("aino", "agent");
    let here = sign_in(&app, "aino", &old, None).await;
    let elsewhere = sign_in(&app, "aino", &old, None).await;
    let change = |current: &str, new: &str| {
        send(
            &app,
            Method::POST,
            "/api/v1/session/password",
            Auth::Session(&here),
            Some(json!({"current_password": current, "new_password": new})),
        )
    };
    let new = strong_password("aino-uusi");

    // Act / Assert
    assert_error(
        change("Not-the-current-one-1", &new).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let (code, _) =
        assert_error(change(&old, "qwertyuiop123").await, StatusCode::BAD_REQUEST).await;
    assert!(
        code == "common_password" || code == "weak_password",
        "{code}"
    );
    assert_eq!(change(&old, &new).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        whoami(&app, Auth::Session(&here)).await.status(),
        StatusCode::OK
    );
    assert_error(
        whoami(&app, Auth::Session(&elsewhere)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        login(&app, "aino", &old, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    sign_in(&app, "aino", &new, None).await;
}

#[tokio::test]
async fn an_integration_account_never_signs_in_and_an_admin_issues_its_tokens() {
    let app = spawn_app().await;
    let (admin_password, admin) = add_account(&app, "olli", "admin");
    // An administrator issues them from a session with the password
    // re-entered; their own token may not (a token never makes tokens).
    let olli = sign_in(&app, "olli", &admin_password, None).await;
    let bertta_password = template_password("bertta", "agent");
    let bertta = sign_in(&app, "bertta", &bertta_password, None).await;

    let signed_in = login(&app, "pbx", &template_password("pbx", "integration"), None).await;
    let for_pbx = send(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Auth::Session(&olli),
        Some(json!({"user": "pbx", "label": "pbx-2", "password": admin_password})),
    )
    .await;
    let with_token = send(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Auth::Bearer(&admin),
        Some(json!({"user": "pbx", "label": "pbx-3", "password": admin_password})),
    )
    .await;
    let for_agent = send(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Auth::Session(&olli),
        Some(json!({"user": "aino", "password": admin_password})),
    )
    .await;
    let by_agent = send(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Auth::Session(&bertta),
        Some(json!({"user": "pbx", "password": bertta_password})),
    )
    .await;

    assert_error(signed_in, StatusCode::UNAUTHORIZED).await;
    let token = json_ok_status(for_pbx, StatusCode::CREATED).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.create_contact(&token, &crate::helpers::call("aino"))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_error(with_token, StatusCode::FORBIDDEN).await;
    assert_error(for_agent, StatusCode::FORBIDDEN).await;
    assert_error(by_agent, StatusCode::FORBIDDEN).await;
    let all = json_ok(
        send(
            &app,
            Method::GET,
            "/api/v1/tokens",
            Auth::Bearer(&admin),
            None,
        )
        .await,
    )
    .await;
    let owners: Vec<&str> = all["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["user"].as_str().unwrap())
        .collect();
    for owner in ["pbx", "aino", "bertta", "sanna", "olli"] {
        assert!(
            owners.contains(&owner),
            "an admin lists every token: {owners:?}"
        );
    }
}

/// Asserts `status` and returns the JSON body.
async fn json_ok_status(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// An account's role in `kirjuri user list`.
fn role_of(app: &TestApp, name: &str) -> String {
    let out = app.cli(&["user", "list"]);
    let list = String::from_utf8(out.stdout).unwrap();
    list.lines()
        .find(|l| l.starts_with(&format!("{name}\t")))
        .and_then(|l| l.split('\t').nth(1))
        .unwrap_or_else(|| panic!("{name} is not listed: {list}"))
        .to_owned()
}

/// `POST path` with a JSON body.
async fn post(app: &TestApp, path: &str, auth: Auth<'_>, body: Value) -> Response {
    send(app, Method::POST, path, auth, Some(body)).await
}
