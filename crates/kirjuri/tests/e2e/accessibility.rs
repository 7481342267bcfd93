//! WCAG 2.1 AA in the browser: every page of the staff's web UI, in each
//! state a person meets it, is checked with axe-core
//! ([`harness::assert_accessible`]): the public sign-in form (also with an
//! error, a sign-out notice, the second-factor field and in Swedish), the
//! purpose choice (also with its "choose one" error), the search form, its
//! results, an empty result and an erroneous search, a contact with the
//! recording player, with the access list and with legal holds, an email's
//! sanitised HTML, a chat's
//! conversation, the
//! refusal pages (403 and 404), the public contact form (empty, with
//! errors, and its receipt after a Finnish post with an attachment), the
//! statistics page (each report — contacts, surveys, requests, disclosures
//! — with its chart and table, and a refused window), the survey settings
//! (none yet, a refused change with its field marked, saved), the password form
//! (also with an error), the
//! breach register's pages (the list, the form and its refusal, one incident
//! with its impact answer and an update), the
//! tokens page, the users page (also with a notice, a password shown once
//! and the responsible person's registrar form) and the audit log, in
//! Finnish, Swedish and English. The test then fails if any HTML page of
//! `kirjuri_web::http::routes()` went unchecked, so a new page cannot be
//! added without its check.
//!
//! Not here: what the pages do (the other tests in this binary).

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::harness::{
    self, PASSWORD, Ui, assert_accessible, choose_purpose, click, fill, open_call_as, path,
    screenshot, serial, sign_in, source, wait_until,
};

/// Waits for an element with id `id` to show.
async fn wait_for(browser: &Client, id: &str) {
    wait_until(id, || async { browser.find(Locator::Id(id)).await.is_ok() }).await;
}

/// Switches the language with the header's selector (it submits itself).
async fn switch_language(browser: &Client, code: &str) {
    browser
        .find(Locator::Id("lang-select"))
        .await
        .unwrap()
        .select_by_value(code)
        .await
        .unwrap();
    let want = format!("lang=\"{code}\"");
    wait_until("the language switch", || async {
        source(browser).await.contains(&want)
    })
    .await;
}

/// The server's clock (its `Date` header), in seconds since 1970: a TOTP
/// code must match the server's time, and the tests read no clock of their own.
async fn today_seconds(http: &reqwest::Client, ui: &Ui) -> u64 {
    let answer = http.get(ui.url("/healthz")).send().await.unwrap();
    let date = answer.headers()["date"].to_str().unwrap();
    let at = chrono::DateTime::parse_from_rfc2822(date)
        .unwrap()
        .timestamp();
    u64::try_from(at).unwrap()
}

/// Searches by phone number and waits for the answer.
async fn search_phone(ui: &Ui, browser: &Client, phone: &str, expect: &str) {
    browser.goto(&ui.url("/search")).await.unwrap();
    fill(browser, "phone", phone).await;
    click(browser, "search-submit").await;
    wait_for(browser, expect).await;
}

#[tokio::test]
async fn every_page_in_every_state_meets_wcag_2_1_aa_by_axe_core() {
    let _turn = serial().await;
    let started = std::time::Instant::now();
    let mut ui = Ui::start().await;

    // --- the public sign-in form --------------------------------------------
    let agent = ui.browser().await;
    agent.goto(&ui.url("/")).await.unwrap();
    assert!(path(&agent).await.starts_with("/login"));
    assert_accessible(&agent, "sign-in").await;
    fill(&agent, "name", "aino").await;
    fill(&agent, "password", "not the password at all").await;
    click(&agent, "sign-in").await;
    wait_for(&agent, "login-message").await;
    assert!(source(&agent).await.contains("login_failed"));
    assert_accessible(&agent, "sign-in-error").await;
    screenshot(&agent, "a11y-sign-in-error").await;
    agent.goto(&ui.url("/login?lang=sv")).await.unwrap();
    assert!(source(&agent).await.contains("lang=\"sv\""));
    assert_accessible(&agent, "sign-in-sv").await;
    agent.goto(&ui.url("/login?lang=fi")).await.unwrap();

    // --- the public request page, in every language ------------------------
    let public = ui.browser().await;
    for lang in ["fi", "sv", "en"] {
        public
            .goto(&ui.url(&format!("/request?lang={lang}")))
            .await
            .unwrap();
        assert!(source(&public).await.contains(&format!("lang=\"{lang}\"")));
        assert_accessible(&public, &format!("public-request-{lang}")).await;
        fill(&public, "email", "not an email").await;
        click(&public, "request-submit").await;
        wait_for(&public, "error-summary").await;
        assert_accessible(&public, &format!("public-request-errors-{lang}")).await;
    }
    screenshot(&public, "a11y-public-request-errors-en").await;
    click(&public, "type-access").await;
    fill(&public, "email", "tiina@example.fi").await;
    click(&public, "request-submit").await;
    wait_for(&public, "sent-reference").await;
    assert_accessible(&public, "public-request-sent").await;

    // --- the public contact form, in every language; sent in Finnish with
    // an attachment ----------------------------------------------------------
    for lang in ["sv", "en", "fi"] {
        public
            .goto(&ui.url(&format!("/contact?lang={lang}")))
            .await
            .unwrap();
        assert!(source(&public).await.contains(&format!("lang=\"{lang}\"")));
        assert_accessible(&public, &format!("public-contact-{lang}")).await;
        fill(&public, "email", "not an email").await;
        click(&public, "contact-submit").await;
        wait_for(&public, "error-summary").await;
        assert_accessible(&public, &format!("public-contact-errors-{lang}")).await;
    }
    screenshot(&public, "a11y-public-contact-errors-fi").await;
    fill(&public, "name", "Tiina Tilaaja").await;
    fill(&public, "email", "tiina@example.fi").await;
    public
        .find(Locator::Id("service"))
        .await
        .unwrap()
        .select_by_value("billing")
        .await
        .unwrap();
    fill(&public, "message", "Laskussani on virhe, katso liite.").await;
    let attachment =
        std::env::temp_dir().join(format!("kirjuri-e2e-lasku-{}.pdf", std::process::id()));
    std::fs::write(&attachment, b"%PDF-1.4\n% lasku\n%%EOF\n").unwrap();
    public
        .find(Locator::Id("attachment"))
        .await
        .unwrap()
        .send_keys(&attachment.to_string_lossy())
        .await
        .unwrap();
    click(&public, "contact-submit").await;
    wait_for(&public, "sent-reference").await;
    let receipt = source(&public).await;
    assert!(receipt.contains("Viestisi on vastaanotettu"), "{receipt}");
    assert!(!receipt.contains("tiina@example.fi"));
    assert_accessible(&public, "public-contact-sent").await;
    screenshot(&public, "a11y-public-contact-sent").await;
    let _ = std::fs::remove_file(&attachment);
    public.close().await.unwrap();

    // --- an agent's pages (Finnish, the default) ----------------------------
    sign_in(&ui, &agent, "aino").await;
    assert!(path(&agent).await.starts_with("/purpose"));
    assert_accessible(&agent, "purpose").await;
    click(&agent, "purpose-submit").await;
    wait_until("the purpose page's error", || async {
        source(&agent).await.contains("role=\"alert\"")
    })
    .await;
    assert_accessible(&agent, "purpose-missing").await;
    choose_purpose(&agent, "complaint_verification").await;
    assert_eq!(path(&agent).await, "/search");
    assert_accessible(&agent, "search").await;

    search_phone(&ui, &agent, "040 123 4567", "results").await;
    assert_accessible(&agent, "search-results").await;
    screenshot(&agent, "a11y-search-results").await;
    search_phone(&ui, &agent, "040 000 0000", "no-results").await;
    assert_accessible(&agent, "search-empty").await;
    // A date the server cannot read (a browser's date field sends none, so
    // the field becomes a text field for this).
    agent.goto(&ui.url("/search")).await.unwrap();
    harness::js(
        &agent,
        "const from = document.getElementById('from');
         from.type = 'text';
         from.value = '31.2.2026';
         return true;",
    )
    .await;
    click(&agent, "search-submit").await;
    wait_for(&agent, "search-error").await;
    assert_accessible(&agent, "search-error").await;

    agent
        .goto(&ui.url(&format!("/contacts/{}", ui.call)))
        .await
        .unwrap();
    wait_until("the player's tools", || async {
        harness::js(
            &agent,
            "return !document.getElementById('player-tools').hidden;",
        )
        .await
        .as_bool()
            == Some(true)
    })
    .await;
    assert_accessible(&agent, "contact-player").await;
    screenshot(&agent, "a11y-contact-player").await;
    harness::js(
        &agent,
        "document.querySelectorAll('section.fields h2')[6].scrollIntoView(); return true;",
    )
    .await;
    screenshot(&agent, "a11y-contact-recording-details").await;

    // Refusals: another agent's contact (404) and an administrator's page (403).
    agent
        .goto(&ui.url(&format!("/contacts/{}", ui.chat)))
        .await
        .unwrap();
    wait_for(&agent, "error-code").await;
    assert_accessible(&agent, "refusal-404").await;
    agent.goto(&ui.url("/admin/users")).await.unwrap();
    wait_for(&agent, "error-code").await;
    assert_accessible(&agent, "refusal-403").await;
    screenshot(&agent, "a11y-refusal-403").await;

    agent.goto(&ui.url("/password")).await.unwrap();
    assert_accessible(&agent, "password").await;
    fill(&agent, "current_password", "not the password at all").await;
    fill(&agent, "new_password", "a brand new passphrase here").await;
    fill(&agent, "confirm_password", "a brand new passphrase here").await;
    agent
        .find(Locator::Css("form[action='/password'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the password form's error", || async {
        source(&agent).await.contains("role=\"alert\"")
    })
    .await;
    assert_accessible(&agent, "password-error").await;

    agent.goto(&ui.url("/admin/tokens")).await.unwrap();
    assert_accessible(&agent, "tokens-own").await;

    // English, then signing out: the sign-in page with its notice.
    switch_language(&agent, "en").await;
    assert_accessible(&agent, "tokens-en").await;
    agent.goto(&ui.url("/search")).await.unwrap();
    assert_accessible(&agent, "search-en").await;
    click(&agent, "sign-out").await;
    wait_until("the sign-in page", || async {
        path(&agent).await.starts_with("/login")
    })
    .await;
    assert_accessible(&agent, "signed-out-en").await;
    agent.close().await.unwrap();

    // --- a supervisor, in Swedish -------------------------------------------
    let supervisor = ui.browser().await;
    open_call_as(&ui, &supervisor, "sanna", "quality_assurance").await;
    wait_for(&supervisor, "accesses").await;
    assert_accessible(&supervisor, "contact-accesses").await;
    switch_language(&supervisor, "sv").await;
    assert_accessible(&supervisor, "contact-accesses-sv").await;
    screenshot(&supervisor, "a11y-contact-sv").await;
    // A chat's conversation (issue 14 §1), read with the session's purpose.
    supervisor
        .goto(&ui.url(&format!("/contacts/{}", ui.chat)))
        .await
        .unwrap();
    wait_for(&supervisor, "conversation").await;
    assert_accessible(&supervisor, "contact-conversation-sv").await;
    screenshot(&supervisor, "a11y-contact-conversation-sv").await;
    // An HTML-only email (issue 14 §2), sanitised: its text shown, nothing
    // remote left in the page.
    supervisor
        .goto(&ui.url(&format!("/contacts/{}", ui.email)))
        .await
        .unwrap();
    wait_for(&supervisor, "email").await;
    assert_accessible(&supervisor, "contact-email-sv").await;
    let page = supervisor.source().await.unwrap();
    assert!(page.contains("Mittarin lukema on <b>1234</b>"), "{page}");
    for remote in ["tracker.example", "<script", "<form", "<img"] {
        let email = &page[page.find("id=\"email\"").unwrap()..];
        assert!(
            !email.contains(remote),
            "{remote} left in the email: {email}"
        );
    }
    screenshot(&supervisor, "a11y-contact-email-sv").await;
    supervisor.goto(&ui.url("/search")).await.unwrap();
    assert_accessible(&supervisor, "search-sv").await;
    search_phone(&ui, &supervisor, "050 765 4321", "results").await;
    assert_accessible(&supervisor, "search-results-sv").await;
    supervisor.goto(&ui.url("/audit")).await.unwrap();
    wait_for(&supervisor, "audit").await;
    assert_accessible(&supervisor, "audit-sv").await;
    screenshot(&supervisor, "a11y-audit-sv").await;
    supervisor.goto(&ui.url("/purpose")).await.unwrap();
    assert_accessible(&supervisor, "purpose-sv").await;
    supervisor.goto(&ui.url("/password")).await.unwrap();
    assert_accessible(&supervisor, "password-sv").await;
    // The survey settings (SURV-1): none yet, a refused change with its
    // field marked, then the saved settings with their table and forms.
    supervisor.goto(&ui.url("/surveys")).await.unwrap();
    wait_for(&supervisor, "surveys-empty").await;
    assert_accessible(&supervisor, "surveys-empty-sv").await;
    fill(&supervisor, "svc-new-service", "water-billing").await;
    fill(&supervisor, "svc-new-text_fi", "   ").await;
    fill(
        &supervisor,
        "svc-new-text_sv",
        "Hur lyckades vi? Svara 1-5.",
    )
    .await;
    fill(&supervisor, "svc-new-text_en", "How did we do? Reply 1-5.").await;
    click(&supervisor, "svc-new-save").await;
    wait_for(&supervisor, "surveys-error").await;
    wait_for(&supervisor, "svc-new-text_fi-error").await;
    assert_accessible(&supervisor, "surveys-error-sv").await;
    screenshot(&supervisor, "a11y-surveys-error-sv").await;
    fill(
        &supervisor,
        "svc-new-text_fi",
        "Miten onnistuimme? Vastaa 1-5.",
    )
    .await;
    click(&supervisor, "svc-new-save").await;
    wait_for(&supervisor, "surveys-notice").await;
    wait_for(&supervisor, "surveys").await;
    assert_accessible(&supervisor, "surveys-sv").await;
    screenshot(&supervisor, "a11y-surveys-sv").await;
    supervisor.close().await.unwrap();

    // --- an administrator ---------------------------------------------------
    let admin = ui.browser().await;
    sign_in(&ui, &admin, "ville").await;
    admin.goto(&ui.url("/admin/users")).await.unwrap();
    wait_for(&admin, "users").await;
    assert_accessible(&admin, "users").await;
    click(&admin, "disable-bertta").await;
    admin.accept_alert().await.unwrap();
    wait_for(&admin, "admin-notice").await;
    assert_accessible(&admin, "users-notice").await;
    screenshot(&admin, "a11y-users-notice").await;
    admin.goto(&ui.url("/admin/tokens")).await.unwrap();
    wait_for(&admin, "tokens").await;
    assert_accessible(&admin, "tokens").await;
    admin.goto(&ui.url("/audit")).await.unwrap();
    assert_accessible(&admin, "audit-refused-admin").await;

    // Resetting a password shows the new one once.
    admin.goto(&ui.url("/admin/users")).await.unwrap();
    admin
        .find(Locator::Css(
            "#user-aino form:has(input[value=reset_password]) button",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    admin.accept_alert().await.unwrap();
    wait_for(&admin, "shown-password").await;
    assert_accessible(&admin, "users-password-shown").await;

    // --- the roles and states the seeded accounts do not reach --------------
    let other = ui.browser().await;
    for (name, role) in [
        ("rita", "registrar"),
        ("rauni", "responsible"),
        ("tuuli", "agent"),
    ] {
        ui.cli(
            &["user", "add", name, "--role", role, "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        );
    }
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // A registrar sees the legal holds on a contact.
    let token = ui.cli(&["token", "create", "--user", "rita"], None);
    let date = http.get(ui.url("/healthz")).send().await.unwrap();
    let today = chrono::DateTime::parse_from_rfc2822(date.headers()["date"].to_str().unwrap())
        .unwrap()
        .date_naive();
    let held = http
        .post(ui.url("/api/v1/holds"))
        .bearer_auth(token.trim())
        .json(&json!({
            "contact": ui.call,
            "ground_kind": "complaint",
            "ground": "Complaint 2026-117 (Consumer Disputes Board)",
            "owner": "sanna",
            "review_by": (today + chrono::Months::new(6)).to_string(),
        }))
        .send()
        .await
        .unwrap();
    assert!(held.status().is_success(), "{}", held.text().await.unwrap());
    open_call_as(&ui, &other, "rita", "data_subject_request").await;
    wait_for(&other, "holds").await;
    assert_accessible(&other, "contact-holds").await;

    // The registrar's request pages: the queue, the registration form
    // (empty and refused), one request (with a refused step shown on it,
    // then verified in person) and the queue with it.
    // (The queue holds the request sent with the public form above.)
    other.goto(&ui.url("/requests")).await.unwrap();
    wait_for(&other, "queue").await;
    assert_accessible(&other, "requests-public").await;
    click(&other, "register-request").await;
    wait_for(&other, "register-submit").await;
    assert_accessible(&other, "request-new").await;
    fill(&other, "email", "tiina@example.fi").await;
    click(&other, "register-submit").await;
    wait_for(&other, "register-error").await;
    assert_accessible(&other, "request-new-error").await;
    click(&other, "type-access").await;
    fill(&other, "email", "tiina@example.fi").await;
    click(&other, "register-submit").await;
    wait_for(&other, "reference").await;
    assert_accessible(&other, "request").await;
    harness::js(
        &other,
        "document.getElementById('move-transition').value = 'verify'; return true;",
    )
    .await;
    click(&other, "move").await;
    wait_for(&other, "request-error").await;
    assert!(source(&other).await.contains("not_verified"));
    assert_accessible(&other, "request-refused-step").await;
    fill(&other, "document-last4", "X9Q7").await;
    click(&other, "verify-in-person").await;
    wait_for(&other, "request-notice").await;
    assert_accessible(&other, "request-verified").await;
    screenshot(&other, "a11y-request-verified").await;

    // The requester's download pages (C.19): the link's page in each
    // language, the code sent, a wrong code, and a link that is gone.
    let request_path = path(&other).await;
    let request_id = request_path
        .trim_start_matches("/requests/")
        .split(['?', '#', '/'])
        .next()
        .unwrap()
        .to_owned();
    let delivered = http
        .post(ui.url(&format!("/api/v1/requests/{request_id}/deliver")))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(
        delivered.status(),
        reqwest::StatusCode::CREATED,
        "{}",
        delivered.text().await.unwrap()
    );
    let letter = harness::letters_in(|| harness::outbox_files(&ui), "/request/download/", 0).await;
    let link = harness::link_in(letter.last().unwrap());
    let requester = ui.browser().await;
    for lang in ["sv", "en", "fi"] {
        requester
            .goto(&ui.url(&format!("/request/download/{link}?lang={lang}")))
            .await
            .unwrap();
        wait_for(&requester, "send-code").await;
        assert!(
            source(&requester)
                .await
                .contains(&format!("lang=\"{lang}\""))
        );
        assert_accessible(&requester, &format!("public-download-{lang}")).await;
    }
    click(&requester, "send-code").await;
    wait_for(&requester, "download-notice").await;
    assert_accessible(&requester, "public-download-code-sent").await;
    fill(&requester, "code", "12").await;
    click(&requester, "download").await;
    wait_for(&requester, "download-error").await;
    assert_accessible(&requester, "public-download-error").await;
    screenshot(&requester, "a11y-public-download-error").await;
    requester
        .goto(&ui.url(&format!("/request/download/{}", "A".repeat(43))))
        .await
        .unwrap();
    wait_for(&requester, "link-gone").await;
    assert_accessible(&requester, "public-download-gone").await;
    requester.close().await.unwrap();
    // The breach register (Art. 33(5)): the empty list, the form (refused,
    // naming the field), one incident, its impact query's answer, an
    // update, and the list with the incident's clock.
    other.goto(&ui.url("/incidents")).await.unwrap();
    wait_for(&other, "incidents-empty").await;
    assert_accessible(&other, "incidents-empty").await;
    click(&other, "record-incident").await;
    wait_for(&other, "record-submit").await;
    assert_accessible(&other, "incident-new").await;
    let fill_breach = |aware: &'static str| {
        format!(
            "const v = {{detected_at: '2026-03-02T09:00', aware_at: '{aware}', \
             nature: 'Lost laptop', data_categories: 'phone numbers', \
             subject_categories: 'customers', approx_subjects: '3', approx_records: '5', \
             consequences: 'Callers identified', measures: 'Tokens revoked', \
             notify_reasoning: 'Risk to callers'}}; \
             for (const [k, x] of Object.entries(v)) document.getElementById(k).value = x; \
             return true;"
        )
    };
    harness::js(&other, &fill_breach("2026-03-02T08:00")).await;
    click(&other, "record-submit").await;
    wait_for(&other, "incident-error").await;
    assert!(source(&other).await.contains("invalid_field"));
    assert_accessible(&other, "incident-new-error").await;
    harness::js(&other, &fill_breach("2026-03-02T09:30")).await;
    click(&other, "record-submit").await;
    wait_for(&other, "incident-current").await;
    assert_accessible(&other, "incident").await;
    harness::js(
        &other,
        "document.getElementById('impact-from').value = '2026-01-01T00:00'; \
         document.getElementById('impact-to').value = '2026-12-31T00:00'; \
         document.getElementById('impact-user').value = 'aino'; return true;",
    )
    .await;
    click(&other, "impact-submit").await;
    wait_for(&other, "impact-result").await;
    assert_accessible(&other, "incident-impact").await;
    fill(&other, "note", "Police report filed").await;
    click(&other, "update-submit").await;
    wait_for(&other, "incident-notice").await;
    assert_accessible(&other, "incident-updated").await;
    other.goto(&ui.url("/incidents")).await.unwrap();
    wait_for(&other, "incidents").await;
    assert!(source(&other).await.contains("myöhässä") || source(&other).await.contains("Myöhässä"));
    assert_accessible(&other, "incidents").await;
    screenshot(&other, "a11y-incidents").await;

    other.goto(&ui.url("/requests")).await.unwrap();
    wait_for(&other, "queue").await;
    assert_accessible(&other, "requests").await;

    // The statistics page (STAT-1): a report with its SVG chart and the
    // table behind it, two ways and one way, and a refused window.
    // November 2026 holds the fixture's few contacts, so the chart has a
    // row for each channel (suppressed: there are fewer than k).
    other
        .goto(&ui.url("/statistics?from=2026-11-01&to=2026-11-30"))
        .await
        .unwrap();
    wait_for(&other, "statistics-chart").await;
    assert!(
        source(&other).await.contains("peitetty"),
        "the chart names its suppressed rows"
    );
    assert_accessible(&other, "statistics").await;
    screenshot(&other, "a11y-statistics").await;
    other
        .goto(&ui.url("/statistics?rows=handling_time&columns=&period=day"))
        .await
        .unwrap();
    wait_for(&other, "statistics-table").await;
    assert_accessible(&other, "statistics-one-way").await;
    other
        .goto(&ui.url(
            "/statistics?rows=channel&columns=period&from=2026-01-02&to=2026-01-31&period=month",
        ))
        .await
        .unwrap();
    wait_for(&other, "statistics-refused").await;
    assert_accessible(&other, "statistics-refused").await;
    // The other reports (surveys, data-subject requests, disclosures),
    // each with its chart and table, chosen in the same GET form. Survey
    // roll-ups are seeded (the report reads only them): one service with
    // a mean score, two whose scores are suppressed (too few answers; a
    // score given by two).
    let seeded = std::process::Command::new("sqlite3")
        .args(["-cmd", ".timeout 10000", "-batch"])
        .arg(ui.data_dir().join("kirjuri.db"))
        .arg(
            "INSERT INTO survey_rollups (day, service, invited, answered, score_1, score_2, \
             score_3, score_4, score_5) VALUES ('2026-11-10', 'billing', 30, 12, 0, 0, 0, 6, 6), \
             ('2026-11-12', 'water', 9, 3, 0, 0, 1, 1, 1), \
             ('2026-11-13', 'parking', 40, 20, 0, 0, 0, 6, 14)",
        )
        .status()
        .expect("the sqlite3 shell runs (Debian package sqlite3)");
    assert!(seeded.success());
    for report in ["surveys", "requests", "disclosures"] {
        other
            .goto(&ui.url(&format!(
                "/statistics?report={report}&from=2026-11-01&to=2026-11-30"
            )))
            .await
            .unwrap();
        wait_for(&other, "statistics-chart").await;
        wait_for(&other, "statistics-table").await;
        assert_accessible(&other, &format!("statistics-{report}")).await;
    }
    other
        .goto(
            &ui.url(
                "/statistics?report=surveys&rows=service&columns=&from=2026-11-01&to=2026-11-30",
            ),
        )
        .await
        .unwrap();
    wait_for(&other, "statistics-scores").await;
    // Water's 3 answers are covered by the smallest count that is enough
    // (billing's 12), so parking's mean is the one drawn: (6·4 + 14·5) / 20.
    assert!(
        source(&other).await.contains("4.7"),
        "parking's mean score is drawn"
    );
    screenshot(&other, "a11y-statistics-surveys").await;
    other
        .goto(&ui.url(
            "/statistics?report=surveys&rows=service&columns=period&from=2026-11-01&to=2026-11-30&period=week",
        ))
        .await
        .unwrap();
    wait_for(&other, "statistics-refused").await;
    other
        .goto(&ui.url(
            "/statistics?report=requests&rows=right&columns=period&from=2026-10-01&to=2026-11-30&period=month",
        ))
        .await
        .unwrap();
    wait_for(&other, "statistics-table").await;
    assert_accessible(&other, "statistics-requests-by-month").await;

    // The registrar's disclosure pages (DIS-2): the list, the request form
    // and its refusal, an unknown disclosure (404) and a recipient's link
    // that no longer works (410).
    other.goto(&ui.url("/disclosures")).await.unwrap();
    wait_for(&other, "request-disclosure").await;
    assert_accessible(&other, "disclosures").await;
    click(&other, "request-disclosure").await;
    wait_for(&other, "submit-disclosure").await;
    assert_accessible(&other, "disclosure-new").await;
    click(&other, "submit-disclosure").await;
    wait_for(&other, "disclosure-error").await;
    assert_accessible(&other, "disclosure-new-error").await;
    // The recipients register: empty, a refused registration (outside the
    // EU/EEA), then one registered.
    other.goto(&ui.url("/recipients")).await.unwrap();
    wait_for(&other, "recipients-empty").await;
    assert_accessible(&other, "recipients-empty").await;
    fill(&other, "recipient-name", "Pilvi Inc").await;
    fill(&other, "recipient-country", "US").await;
    click(&other, "add-recipient").await;
    wait_for(&other, "recipients-error").await;
    assert_accessible(&other, "recipients-error").await;
    fill(&other, "recipient-name", "Energiavirasto").await;
    harness::js(
        &other,
        "document.getElementById('recipient-kind').value = 'authority'; return true;",
    )
    .await;
    fill(&other, "recipient-country", "FI").await;
    click(&other, "add-recipient").await;
    wait_for(&other, "recipients-notice").await;
    assert_accessible(&other, "recipients").await;
    other
        .goto(&ui.url("/disclosures/0192f5c4-8f5e-7000-8000-000000000001"))
        .await
        .unwrap();
    wait_for(&other, "error-code").await;
    assert_accessible(&other, "disclosure-404").await;
    other
        .goto(&ui.url(&format!("/disclosure/download/{}", "A".repeat(43))))
        .await
        .unwrap();
    wait_for(&other, "link-gone").await;
    assert_accessible(&other, "disclosure-link-gone").await;
    // The public page has no sign-out: back to a signed-in one.
    other.goto(&ui.url("/")).await.unwrap();
    wait_for(&other, "sign-out").await;
    click(&other, "sign-out").await;
    wait_for(&other, "login-message").await;

    // The controller's responsible person names registrars.
    sign_in(&ui, &other, "rauni").await;
    other.goto(&ui.url("/admin/users")).await.unwrap();
    wait_for(&other, "registrar-name").await;
    assert_accessible(&other, "users-registrars").await;
    click(&other, "sign-out").await;
    wait_for(&other, "login-message").await;

    // Sign-in asks for the second factor of an account that has one.
    let begun = http
        .post(ui.url("/api/v1/session"))
        .json(&json!({"name": "tuuli", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (cookie, csrf) = kirjuri_testkit::fixtures::browser_session(begun).await;
    let totp: Value = http
        .post(ui.url("/api/v1/session/totp"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        // Enrolling a second factor needs the password typed again.
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uri = totp["otpauth_uri"].as_str().unwrap();
    let code = totp_rs::Totp::from_url(uri)
        .unwrap()
        .generate(today_seconds(&http, &ui).await)
        .to_string();
    let confirmed = http
        .post(ui.url("/api/v1/session/totp/confirm"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert!(confirmed.status().is_success(), "{}", confirmed.status());
    fill(&other, "name", "tuuli").await;
    fill(&other, "password", PASSWORD).await;
    click(&other, "sign-in").await;
    wait_for(&other, "totp").await;
    assert_accessible(&other, "sign-in-totp").await;
    screenshot(&other, "a11y-sign-in-totp").await;
    other.close().await.unwrap();

    // The public privacy notice, its versions and one version, in each
    // language, without signing in.
    let public = ui.browser().await;
    for lang in ["fi", "sv", "en"] {
        public
            .goto(&ui.url(&format!("/privacy?lang={lang}")))
            .await
            .unwrap();
        wait_for(&public, "notice-version").await;
        assert_accessible(&public, &format!("privacy-{lang}")).await;
    }
    public
        .goto(&ui.url("/privacy/versions?lang=sv"))
        .await
        .unwrap();
    wait_for(&public, "versions").await;
    assert_accessible(&public, "privacy-versions").await;
    let version = public
        .find(fantoccini::Locator::Css("#versions a"))
        .await
        .unwrap();
    version.click().await.unwrap();
    wait_for(&public, "notice-version").await;
    assert_accessible(&public, "privacy-version").await;
    screenshot(&public, "a11y-privacy-version").await;
    public.close().await.unwrap();

    // --- every HTML page of the routes list was checked ---------------------
    let unchecked = harness::unchecked_pages(&ui, &admin, &ui.call).await;
    assert!(
        unchecked.is_empty(),
        "pages with no accessibility check (add a visit and assert_accessible \
         to this test): {unchecked:#?}"
    );
    admin.close().await.unwrap();
    println!(
        "accessibility: every page checked in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn the_accessibility_check_finds_what_it_should() {
    // The check is worth only what it finds: break a real page in two
    // ways WCAG forbids and expect axe to name both.
    let _turn = serial().await;
    let mut ui = Ui::start().await;
    let browser = ui.browser().await;
    browser.goto(&ui.url("/login")).await.unwrap();
    harness::js(
        &browser,
        "const main = document.getElementById('main');
         const input = document.createElement('input');
         input.type = 'text';
         main.appendChild(input);
         const faint = document.createElement('p');
         faint.textContent = 'faint text';
         faint.style.color = '#bbbbbb';
         main.appendChild(faint);
         return true;",
    )
    .await;
    let results = harness::axe_run(&browser).await;
    let ids: Vec<&str> = results["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"label") && ids.contains(&"color-contrast"),
        "axe found {ids:?}"
    );
    browser.close().await.unwrap();
}
