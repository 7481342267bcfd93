//! End-to-end tests of the staff's web UI (issue 4) in a real headless
//! Chromium against the real `kirjuri serve`: what a person at the
//! customer service does and sees — signing in, choosing a purpose,
//! searching, listening, switching the language, being refused, being
//! signed out by an administrator — and that every page meets WCAG 2.1 AA
//! by axe-core (`accessibility`). A separate test binary from `tests/api`
//! because it needs a browser (`scripts/test` installs Debian's `chromium`
//! and `chromium-driver`, and axe-core with `npm ci` in this folder).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test binary: a failed expectation is a failed test, reported with its message"
)]

mod accessibility;
mod delivery;
mod follow_up;
mod harness;
mod privacy;

use fantoccini::Locator;
use harness::{
    CUSTOMER, OTHER_CUSTOMER, Ui, choose_purpose, click, fill, js, open_call_as, path, screenshot,
    serial, sign_in, source, wait_until,
};

/// The audio element's playback position, in seconds.
async fn current_time(browser: &fantoccini::Client) -> f64 {
    js(
        browser,
        "return document.getElementById('audio').currentTime;",
    )
    .await
    .as_f64()
    .unwrap()
}

#[tokio::test]
async fn an_agent_signs_in_picks_a_purpose_finds_a_call_by_national_phone_number_and_listens_and_seeks()
 {
    let _turn = serial().await;
    let mut ui = Ui::start().await;
    let browser = ui.browser().await;

    // Arrange: the front page sends an anonymous browser to sign in.
    browser.goto(&ui.url("/")).await.unwrap();
    assert!(path(&browser).await.starts_with("/login"));
    let html = source(&browser).await;
    assert!(html.contains("lang=\"fi\""), "Finnish is the default");
    screenshot(&browser, "01-sign-in").await;

    // Act: sign in; the purpose page comes first.
    sign_in(&ui, &browser, "aino").await;
    assert!(path(&browser).await.starts_with("/purpose"));
    screenshot(&browser, "02-purpose").await;
    choose_purpose(&browser, "complaint_verification").await;
    assert_eq!(path(&browser).await, "/search");
    let header = browser
        .find(Locator::Id("purpose-now"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        header.contains("Reklamaation selvittäminen"),
        "the purpose shows in the header: {header}"
    );

    // Search by phone number in national format.
    fill(&browser, "phone", "040 123 4567").await;
    click(&browser, "search-submit").await;
    wait_until("results", || async {
        browser.find(Locator::Id("results")).await.is_ok()
    })
    .await;
    // Only the path and query can carry what was typed; the random port of
    // the server must not be taken for the number.
    let url = browser.current_url().await.unwrap();
    let typed = format!("{}?{}", url.path(), url.query().unwrap_or(""));
    assert!(
        !typed.contains("040") && !typed.contains("358") && !typed.contains("123"),
        "no personal data in the URL: {url}"
    );
    let results = browser
        .find_all(Locator::Css("#results tbody tr"))
        .await
        .unwrap();
    assert_eq!(results.len(), 1, "exactly the one call");
    assert!(source(&browser).await.contains(CUSTOMER));
    screenshot(&browser, "03-search-results").await;

    // Open the contact: every field, normalised identifiers, the recording.
    browser
        .find(Locator::Css("a.contact-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the contact page", || async {
        path(&browser).await.starts_with("/contacts/")
    })
    .await;
    assert_eq!(path(&browser).await, format!("/contacts/{}", ui.call));
    let html = source(&browser).await;
    for expected in [
        CUSTOMER,
        "+358401234567",
        "+3589123456",
        "091-403-0001-0001",
        "Water bill complaint",
        "pcm_s16le",
    ] {
        assert!(html.contains(expected), "the contact page shows {expected}");
    }

    // The player: the enhancement ran, the waveform is drawn from peaks.
    wait_until("the player's tools", || async {
        js(
            &browser,
            "return !document.getElementById('player-tools').hidden;",
        )
        .await
        .as_bool()
            == Some(true)
    })
    .await;
    let src = js(&browser, "return document.getElementById('audio').src;").await;
    assert!(
        src.as_str()
            .unwrap()
            .contains("/recording/playback?purpose=complaint_verification"),
        "{src}"
    );

    // Play, and watch the position advance.
    js(
        &browser,
        "document.getElementById('audio').play(); return true;",
    )
    .await;
    wait_until("playback to advance past 1.5 s", || async {
        current_time(&browser).await > 1.5
    })
    .await;
    screenshot(&browser, "04-contact-playing").await;

    // Seek by clicking the middle of the waveform (≈ 10 s of 20 s); playback
    // resumes from there (each range request is audited by the server).
    browser
        .find(Locator::Id("waveform"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the seek to land near 10 s", || async {
        let t = current_time(&browser).await;
        (9.0..13.0).contains(&t)
    })
    .await;
    let landed = current_time(&browser).await;
    wait_until("playback to resume after the seek", || async {
        current_time(&browser).await > landed + 1.0
    })
    .await;
    assert!(current_time(&browser).await < 19.9 || landed > 9.0);

    // Speed.
    browser
        .find(Locator::Id("speed"))
        .await
        .unwrap()
        .select_by_value("2")
        .await
        .unwrap();
    let rate = js(
        &browser,
        "return document.getElementById('audio').playbackRate;",
    )
    .await;
    assert_eq!(rate.as_f64(), Some(2.0));

    // Per-channel listening for a stereo call.
    click(&browser, "listen-customer").await;
    wait_until("customer-only listening", || async {
        js(
            &browser,
            "return document.getElementById('player').getAttribute('data-listening');",
        )
        .await
        .as_str()
            == Some("customer")
    })
    .await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_missing_purpose_blocks_personal_data_and_sign_in_returns_to_the_page_asked_for() {
    let _turn = serial().await;
    let mut ui = Ui::start().await;
    let browser = ui.browser().await;

    // A contact's URL without a session goes to sign-in, keeping the way back.
    browser
        .goto(&ui.url(&format!("/contacts/{}", ui.call)))
        .await
        .unwrap();
    let at = path(&browser).await;
    assert!(at.starts_with("/login?next="), "{at}");
    assert!(!source(&browser).await.contains(CUSTOMER));

    // Signed in but without a purpose: the purpose page, no personal data.
    sign_in(&ui, &browser, "aino").await;
    let at = path(&browser).await;
    assert!(at.starts_with("/purpose"), "{at}");
    let html = source(&browser).await;
    assert!(!html.contains(CUSTOMER) && !html.contains("+358401234567"));
    screenshot(&browser, "05-purpose-required").await;

    // Choosing one leads back to the contact, which now shows.
    choose_purpose(&browser, "order_verification").await;
    assert_eq!(path(&browser).await, format!("/contacts/{}", ui.call));
    assert!(source(&browser).await.contains(CUSTOMER));

    // An open redirect is refused: next= pointing elsewhere is ignored.
    let other = ui.browser().await;
    other
        .goto(&ui.url("/login?next=https://evil.example/"))
        .await
        .unwrap();
    sign_in(&ui, &other, "aino").await;
    let url = other.current_url().await.unwrap();
    assert_eq!(url.host_str(), Some("127.0.0.1"), "{url}");
    other.close().await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn an_agent_typing_another_agents_contact_url_gets_the_refusal_page() {
    let _turn = serial().await;
    let mut ui = Ui::start().await;
    let browser = ui.browser().await;
    sign_in(&ui, &browser, "bertta").await;
    choose_purpose(&browser, "quality_assurance").await;

    // bertta's own chat shows …
    browser
        .goto(&ui.url(&format!("/contacts/{}", ui.chat)))
        .await
        .unwrap();
    assert!(source(&browser).await.contains(OTHER_CUSTOMER));

    // … aino's call does not, and the page says "not found or not yours".
    browser
        .goto(&ui.url(&format!("/contacts/{}", ui.call)))
        .await
        .unwrap();
    let html = source(&browser).await;
    let code = browser
        .find(Locator::Id("error-code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(code, "not_found");
    assert!(html.contains("ei ole sinun"), "the refusal wording");
    assert!(!html.contains(CUSTOMER) && !html.contains("+358401234567"));
    screenshot(&browser, "06-refusal").await;

    // The same search finds nothing for bertta either.
    browser.goto(&ui.url("/search")).await.unwrap();
    fill(&browser, "phone", "0401234567").await;
    click(&browser, "search-submit").await;
    wait_until("the empty result", || async {
        browser.find(Locator::Id("no-results")).await.is_ok()
    })
    .await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn switching_the_language_changes_the_page_and_is_remembered_for_the_account() {
    let _turn = serial().await;
    let mut ui = Ui::start().await;
    let browser = ui.browser().await;
    sign_in(&ui, &browser, "aino").await;
    choose_purpose(&browser, "training").await;
    assert!(source(&browser).await.contains("Hae yhteydenottoja"));

    // Swedish: the select submits itself (the button is for no-JS use).
    browser
        .find(Locator::Id("lang-select"))
        .await
        .unwrap()
        .select_by_value("sv")
        .await
        .unwrap();
    wait_until("the Swedish page", || async {
        source(&browser).await.contains("lang=\"sv\"")
    })
    .await;
    assert_eq!(path(&browser).await, "/search", "back on the same page");
    let html = source(&browser).await;
    assert!(html.contains("Sök kontakter") && html.contains("Utbildning"));
    screenshot(&browser, "07-search-swedish").await;

    // Signing out keeps the language on the sign-in page …
    click(&browser, "sign-out").await;
    wait_until("the sign-in page", || async {
        path(&browser).await.starts_with("/login")
    })
    .await;
    assert!(source(&browser).await.contains("Logga in"));

    // … and a new browser (no cookies) gets it from the account.
    let fresh = ui.browser().await;
    sign_in(&ui, &fresh, "aino").await;
    assert!(source(&fresh).await.contains("lang=\"sv\""));

    // English, then back to Finnish.
    fresh
        .find(Locator::Id("lang-select"))
        .await
        .unwrap()
        .select_by_value("en")
        .await
        .unwrap();
    wait_until("the English page", || async {
        source(&fresh).await.contains("lang=\"en\"")
    })
    .await;
    assert!(
        source(&fresh)
            .await
            .contains("Why are you processing the data?")
    );
    fresh.close().await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn an_admin_disabling_a_user_ends_that_users_open_session() {
    let _turn = serial().await;
    let mut ui = Ui::start().await;
    let agent = ui.browser().await;
    sign_in(&ui, &agent, "bertta").await;
    choose_purpose(&agent, "quality_assurance").await;
    assert_eq!(path(&agent).await, "/search");

    let admin = ui.browser().await;
    sign_in(&ui, &admin, "ville").await;
    admin.goto(&ui.url("/admin/users")).await.unwrap();
    assert!(source(&admin).await.contains("id=\"user-bertta\""));
    screenshot(&admin, "08-admin-users").await;
    click(&admin, "disable-bertta").await;
    admin.accept_alert().await.unwrap();
    wait_until("the notice", || async {
        admin.find(Locator::Id("admin-notice")).await.is_ok()
    })
    .await;
    assert!(admin.find(Locator::Id("enable-bertta")).await.is_ok());

    // bertta's next page load goes to sign-in, and signing in fails.
    agent.goto(&ui.url("/search")).await.unwrap();
    assert!(path(&agent).await.starts_with("/login"));
    harness::fill(&agent, "name", "bertta").await;
    harness::fill(&agent, "password", harness::PASSWORD).await;
    click(&agent, "sign-in").await;
    wait_until("the refusal", || async {
        source(&agent).await.contains("login_failed")
    })
    .await;
    assert!(path(&agent).await.starts_with("/login"));
    agent.close().await.unwrap();
    admin.close().await.unwrap();
}

#[tokio::test]
async fn a_supervisor_sees_who_accessed_a_contact_and_why_and_reads_the_audit_log() {
    let _turn = serial().await;
    let mut ui = Ui::start().await;
    // aino looks at her call for a complaint first.
    let agent = ui.browser().await;
    open_call_as(&ui, &agent, "aino", "complaint_verification").await;
    assert!(source(&agent).await.contains(CUSTOMER));
    agent.close().await.unwrap();

    let supervisor = ui.browser().await;
    open_call_as(&ui, &supervisor, "sanna", "quality_assurance").await;
    let accesses = supervisor
        .find(Locator::Id("accesses"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(accesses.contains("aino"), "{accesses}");
    assert!(
        accesses.contains("Reklamaation selvittäminen"),
        "{accesses}"
    );
    screenshot(&supervisor, "09-contact-accesses").await;

    supervisor.goto(&ui.url("/audit")).await.unwrap();
    let rows = supervisor
        .find_all(Locator::Css("#audit tbody tr"))
        .await
        .unwrap();
    assert!(rows.len() >= 3, "the log lists events");
    screenshot(&supervisor, "10-audit").await;
    let _ = ui.data_dir();
    supervisor.close().await.unwrap();
}

#[tokio::test]
async fn a_customer_sends_the_public_form_in_finnish_and_a_registrar_finds_it_in_the_queue_and_verifies_it_in_person()
 {
    let _turn = serial().await;
    let mut ui = Ui::start().await;
    ui.cli(
        &[
            "user",
            "add",
            "reija",
            "--role",
            "registrar",
            "--password-stdin",
        ],
        Some(&format!("{}\n", harness::PASSWORD)),
    );

    // The customer: plain form fields and a submit button, nothing more.
    let customer = ui.browser().await;
    customer.goto(&ui.url("/request")).await.unwrap();
    assert!(source(&customer).await.contains("lang=\"fi\""));
    click(&customer, "type-access").await;
    click(&customer, "type-erasure").await;
    fill(&customer, "name", CUSTOMER).await;
    fill(&customer, "phone", "040 123 4567").await;
    fill(&customer, "email", "matti@example.fi").await;
    click(&customer, "request-submit").await;
    wait_until("the receipt page", || async {
        customer.find(Locator::Id("sent-reference")).await.is_ok()
    })
    .await;
    let reference = customer
        .find(Locator::Id("sent-reference"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reference.starts_with("DSR-"), "{reference}");
    screenshot(&customer, "public-request-sent").await;
    customer.close().await.unwrap();

    // The registrar.
    let registrar = ui.browser().await;
    registrar.goto(&ui.url("/requests")).await.unwrap();
    sign_in(&ui, &registrar, "reija").await;
    if path(&registrar).await.starts_with("/purpose") {
        choose_purpose(&registrar, "data_subject_request").await;
        registrar.goto(&ui.url("/requests")).await.unwrap();
    }
    wait_until("queue", || async {
        registrar.find(Locator::Id("queue")).await.is_ok()
    })
    .await;
    registrar
        .find(Locator::LinkText(&reference))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("document-last4", || async {
        registrar.find(Locator::Id("document-last4")).await.is_ok()
    })
    .await;
    assert!(!source(&registrar).await.contains(CUSTOMER));
    fill(&registrar, "document-last4", "X9Q7").await;
    click(&registrar, "verify-in-person").await;
    wait_until("request-notice", || async {
        registrar.find(Locator::Id("request-notice")).await.is_ok()
    })
    .await;
    let state = registrar
        .find(Locator::Id("request-state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(state, "Varmistettu", "the request is verified");
    screenshot(&registrar, "request-verified-in-person").await;
    registrar.close().await.unwrap();
}
