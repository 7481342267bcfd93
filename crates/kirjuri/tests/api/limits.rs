//! Restriction and objection (DSR-4, issue 12 §7) through the real binary:
//! a verified request's `restrict` or `object` binds every read path — the
//! contact, the recording (a Range read too), the search (the contact is
//! left out and counted) — with 403 `restricted` or `objected`, for every
//! role, while legal claims and the subject's own request still read; a
//! contact delivered after the limit by the same phone is bound as well;
//! another subject's contacts are not; a limit is made once even when two
//! registrars press at the same moment; and lifting a restriction tells
//! the subject first (a message in the outbox) and takes effect only after
//! `lift_notice_days`.

use futures::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, call, ids_of, json_ok, spawn_app_with_env, wav};

const PHONE: &str = "040 765 4321";
const OTHER_PHONE: &str = "040 111 2222";

async fn post(app: &TestApp, token: &str, path: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap()
}

/// A call by `phone` handled by aino, with a recording; the subject's
/// phone comes with the subject's email, another with another's.
async fn recorded_call(app: &TestApp, phone: &str) -> String {
    let mut contact = call("aino");
    let (name, email) = if phone == PHONE {
        ("Liisa Laine", "liisa@example.fi")
    } else {
        ("Olli Muu", "olli@example.fi")
    };
    contact["customer"] = json!({"name": name, "phone": phone, "email": email});
    let id = app.new_contact(&contact).await;
    app.store_recording(&id, &wav(16_000)).await;
    id
}

/// A verified request by `phone` for `types`, registered in person.
async fn verified_request(app: &TestApp, rea: &str, types: &[&str], purposes: &[&str]) -> String {
    let mut body = json!({
        "types": types,
        "channel": "in_person",
        "language": "fi",
        "identifiers": {"phone": [PHONE], "email": ["liisa@example.fi"]},
    });
    if !purposes.is_empty() {
        body["objection_purposes"] = json!(purposes);
    }
    let created = created(post(app, rea, "/api/v1/requests", &body).await).await;
    let id = created["id"].as_str().unwrap().to_owned();
    json_ok(
        post(
            app,
            rea,
            &format!("/api/v1/requests/{id}/verification"),
            &json!({"method": "in_person", "document_type": "id_card", "document_last4": "123A"}),
        )
        .await,
    )
    .await;
    id
}

/// The body of a 201.
async fn created(response: Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn execute(app: &TestApp, token: &str, id: &str, action: &str) -> Response {
    post(
        app,
        token,
        &format!("/api/v1/requests/{id}/execute"),
        &json!({"action": action}),
    )
    .await
}

/// The status and error code of reading `id` as supervisor `sanna` for
/// `purpose`: the contact, the recording, a Range of it.
async fn reads(app: &TestApp, id: &str, purpose: &str) -> Vec<(StatusCode, Option<String>)> {
    let token = &app.tokens.sanna;
    let mut answers = Vec::new();
    for response in [
        app.get_contact(token, id, Some(purpose)).await,
        app.get_recording(token, id, Some(purpose), None).await,
        app.get_recording(token, id, Some(purpose), Some("bytes=100-199"))
            .await,
    ] {
        let status = response.status();
        let code = if status.is_success() {
            None
        } else {
            let body: Value = response.json().await.unwrap();
            body["error"]["code"].as_str().map(str::to_owned)
        };
        answers.push((status, code));
    }
    answers
}

fn all(status: StatusCode, code: Option<&str>) -> Vec<(StatusCode, Option<String>)> {
    vec![(status, code.map(str::to_owned)); 3]
}

fn ok() -> Vec<(StatusCode, Option<String>)> {
    vec![
        (StatusCode::OK, None),
        (StatusCode::OK, None),
        (StatusCode::PARTIAL_CONTENT, None),
    ]
}

/// How many restrictions and objections the request's view lists.
async fn limits_listed(app: &TestApp, token: &str, id: &str) -> usize {
    let url = app.url(&format!("/api/v1/requests/{id}"));
    let view = json_ok(app.get(Some(token), &url, None).await).await;
    view["limits"].as_array().unwrap().len()
}

async fn search(app: &TestApp, phone: &str, purpose: &str) -> Value {
    json_ok(
        app.search(&app.tokens.sanna, &[("phone", phone), ("purpose", purpose)])
            .await,
    )
    .await
}

#[tokio::test]
async fn a_restriction_refuses_every_purpose_but_legal_claims_and_the_subjects_own_request() {
    // Arrange
    let app = spawn_app_with_env(&[]).await;
    let rea = app.add_account("rea", "registrar");
    let subject = recorded_call(&app, PHONE).await;
    let stranger = recorded_call(&app, OTHER_PHONE).await;
    let id = verified_request(&app, &rea, &["restriction"], &[]).await;
    assert_eq!(reads(&app, &subject, "quality_assurance").await, ok());

    // Act
    let done = json_ok(execute(&app, &rea, &id, "restrict").await).await;

    // Assert: what was done.
    assert_eq!(done["action"], "restrict", "{done}");
    assert_eq!(done["state"], "in_progress", "{done}");
    assert_eq!(done["limits"][0]["kind"], "restriction", "{done}");
    // Every read path refuses the everyday purposes, and says why.
    for purpose in [
        "quality_assurance",
        "training",
        "order_verification",
        "complaint_verification",
    ] {
        assert_eq!(
            reads(&app, &subject, purpose).await,
            all(StatusCode::FORBIDDEN, Some("restricted")),
            "{purpose}"
        );
        let found = search(&app, PHONE, purpose).await;
        assert_eq!(ids_of(&found).len(), 0, "{purpose}: {found}");
        assert_eq!(found["withheld"], 1, "{purpose}: {found}");
    }
    // The handling agent is refused too, not only supervisors.
    let (code, _) = assert_error(
        app.get_contact(&app.tokens.aino, &subject, Some("order_verification"))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(code, "restricted");
    // Another person's data are untouched.
    assert_eq!(reads(&app, &stranger, "quality_assurance").await, ok());
    // A registrar still reads for a legal claim or the subject's request.
    for purpose in ["legal_claim", "data_subject_request"] {
        let response = app.get_contact(&rea, &subject, Some(purpose)).await;
        assert_eq!(response.status(), StatusCode::OK, "{purpose}");
    }
    // A contact delivered later by the same phone is bound as well.
    let later = recorded_call(&app, PHONE).await;
    assert_eq!(
        reads(&app, &later, "training").await,
        all(StatusCode::FORBIDDEN, Some("restricted"))
    );
    // The refusal is audited as denied with its reason.
    let page = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    let denied = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied" && e.to_string().contains("restricted"))
        .count();
    assert!(denied >= 12, "{denied} denied reads audited");
    // The request's view lists the restriction.
    assert_eq!(limits_listed(&app, &rea, &id).await, 1);
}

#[tokio::test]
async fn an_objection_refuses_only_its_purposes() {
    // Arrange
    let app = spawn_app_with_env(&[]).await;
    let rea = app.add_account("rea", "registrar");
    let subject = recorded_call(&app, PHONE).await;
    let id = verified_request(
        &app,
        &rea,
        &["objection"],
        &["training", "quality_assurance"],
    )
    .await;

    // Act
    let done = json_ok(execute(&app, &rea, &id, "object").await).await;

    // Assert
    assert_eq!(done["limits"].as_array().unwrap().len(), 2, "{done}");
    for purpose in ["training", "quality_assurance"] {
        assert_eq!(
            reads(&app, &subject, purpose).await,
            all(StatusCode::FORBIDDEN, Some("objected")),
            "{purpose}"
        );
        assert_eq!(search(&app, PHONE, purpose).await["withheld"], 1);
    }
    assert_eq!(reads(&app, &subject, "complaint_verification").await, ok());
    let found = search(&app, PHONE, "complaint_verification").await;
    assert_eq!(ids_of(&found).len(), 1, "{found}");
    assert_eq!(found["withheld"], 0, "{found}");
    // Once: a second objection of the same request is refused.
    let (code, _) = assert_error(
        execute(&app, &rea, &id, "object").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "already_executed");
}

#[tokio::test]
async fn limits_need_a_verified_request_of_their_type_and_a_registrar() {
    // Arrange
    let app = spawn_app_with_env(&[]).await;
    let rea = app.add_account("rea", "registrar");
    let subject = recorded_call(&app, PHONE).await;
    let created = created(
        post(
            &app,
            &rea,
            "/api/v1/requests",
            &json!({"types": ["restriction"], "channel": "phone", "language": "sv",
                    "identifiers": {"phone": [PHONE]}}),
        )
        .await,
    )
    .await;
    let unverified = created["id"].as_str().unwrap().to_owned();
    let access = verified_request(&app, &rea, &["access"], &[]).await;

    // Act and assert: each refusal with its code, and nothing bound.
    let cases = [
        (
            &unverified,
            "restrict",
            StatusCode::CONFLICT,
            "not_verified",
        ),
        (&access, "restrict", StatusCode::CONFLICT, "not_requested"),
        (&access, "object", StatusCode::CONFLICT, "not_requested"),
        (
            &access,
            "lift_restriction",
            StatusCode::CONFLICT,
            "not_requested",
        ),
        (
            &access,
            "forget_everything",
            StatusCode::BAD_REQUEST,
            "invalid_action",
        ),
    ];
    for (id, action, status, expected) in cases {
        let (code, _) = assert_error(execute(&app, &rea, id, action).await, status).await;
        assert_eq!(code, expected, "{action}");
    }
    let response = post(
        &app,
        &rea,
        &format!("/api/v1/requests/{access}/execute"),
        &json!({"action": "restrict", "purpose": "x".repeat(100_000)}),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    // Neither the supervisor nor the agent may carry a request out.
    for token in [&app.tokens.sanna, &app.tokens.aino] {
        assert_eq!(
            execute(&app, token, &access, "restrict").await.status(),
            StatusCode::FORBIDDEN
        );
    }
    // An id that is not a request.
    let missing = execute(
        &app,
        &rea,
        "0192f5c4-0000-7000-8000-000000000000",
        "restrict",
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(reads(&app, &subject, "quality_assurance").await, ok());
}

#[tokio::test]
async fn two_registrars_restricting_at_once_make_one_restriction() {
    // Arrange
    let app = spawn_app_with_env(&[]).await;
    let rea = app.add_account("rea", "registrar");
    let rolf = app.add_account("rolf", "registrar");
    recorded_call(&app, PHONE).await;
    let id = verified_request(&app, &rea, &["restriction"], &[]).await;

    // Act: eight at once.
    let responses = join_all((0..8).map(|n| {
        let token = if n % 2 == 0 { &rea } else { &rolf };
        execute(&app, token, &id, "restrict")
    }))
    .await;
    let statuses: Vec<StatusCode> = responses.iter().map(Response::status).collect();

    // Assert
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert_eq!(limits_listed(&app, &rea, &id).await, 1);
}

#[tokio::test]
async fn lifting_a_restriction_tells_the_subject_first_and_binds_until_the_notice_period_ends() {
    // Arrange: the default notice period (7 days) on one server.
    let app = spawn_app_with_env(&[]).await;
    let rea = app.add_account("rea", "registrar");
    let subject = recorded_call(&app, PHONE).await;
    let id = verified_request(&app, &rea, &["restriction"], &[]).await;
    json_ok(execute(&app, &rea, &id, "restrict").await).await;
    let queued_before = app.sql("SELECT count(*) FROM outbox WHERE kind = 'dsr.restriction_lift'");

    // Act
    let lifted = json_ok(execute(&app, &rea, &id, "lift_restriction").await).await;

    // Assert: the notice is queued; the restriction still binds for now.
    assert_eq!(queued_before.trim(), "0");
    assert_eq!(
        app.sql("SELECT count(*) FROM outbox WHERE kind = 'dsr.restriction_lift'")
            .trim(),
        "1"
    );
    let time = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(lifted["limits"][0][field].as_str().unwrap()).unwrap()
    };
    // Lifted seven days after now, which is moments after it was made.
    let hours = (time("lifted_at") - time("created_at")).num_hours();
    assert_eq!(hours, 7 * 24, "{lifted}");
    assert_eq!(
        reads(&app, &subject, "quality_assurance").await,
        all(StatusCode::FORBIDDEN, Some("restricted"))
    );
    // Lifting twice is refused.
    let (code, _) = assert_error(
        execute(&app, &rea, &id, "lift_restriction").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "not_restricted");

    // With no notice period configured, the lifting takes effect at once
    // (the notice still queued first, in the same change).
    let quick = spawn_app_with_env(&[("KIRJURI_REQUESTS__LIFT_NOTICE_DAYS", "0")]).await;
    let rea = quick.add_account("rea", "registrar");
    let subject = recorded_call(&quick, PHONE).await;
    let id = verified_request(&quick, &rea, &["restriction"], &[]).await;
    json_ok(execute(&quick, &rea, &id, "restrict").await).await;
    assert_eq!(
        reads(&quick, &subject, "training").await,
        all(StatusCode::FORBIDDEN, Some("restricted"))
    );
    json_ok(execute(&quick, &rea, &id, "lift_restriction").await).await;
    assert_eq!(reads(&quick, &subject, "training").await, ok());
    assert_eq!(
        quick
            .sql("SELECT count(*) FROM outbox WHERE kind = 'dsr.restriction_lift'")
            .trim(),
        "1"
    );
}

// ---- the web UI -------------------------------------------------------------

/// Signs `name` in through the browser endpoint: (cookie, CSRF token).
async fn ui_session(app: &TestApp, name: &str, role: &str) -> (String, String) {
    let response = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"name": name, "password": format!("Api-Test-Passw0rd-{name}-{role}")}))
        .send()
        .await
        .unwrap();
    kirjuri_testkit::fixtures::browser_session(response).await
}

/// Posts a urlencoded form with the session; (status, body).
async fn ui_post(app: &TestApp, cookie: &str, path: &str, body: String) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn ui_get(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_registrar_restricts_on_the_request_page_and_the_supervisors_pages_say_why() {
    // Arrange
    let app = spawn_app_with_env(&[]).await;
    let rea = app.add_account("rea", "registrar");
    let subject = recorded_call(&app, PHONE).await;
    let id = verified_request(&app, &rea, &["restriction"], &[]).await;
    let (registrar, csrf) = ui_session(&app, "rea", "registrar").await;
    let (status, page) = ui_get(&app, &registrar, &format!("/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("id=\"execute-restrict\""),
        "the button is offered"
    );
    assert!(
        !page.contains("id=\"execute-erase\""),
        "erasure was not asked for"
    );

    // Act: without the CSRF token nothing happens; with it, the restriction.
    let (status, _) = ui_post(
        &app,
        &registrar,
        &format!("/requests/{id}"),
        "action=execute&execution=restrict".into(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(reads(&app, &subject, "quality_assurance").await, ok());
    let (status, page) = ui_post(
        &app,
        &registrar,
        &format!("/requests/{id}"),
        format!("csrf_token={csrf}&action=execute&execution=restrict"),
    )
    .await;

    // Assert: the page lists the restriction and offers its lifting.
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"limits\""), "{page}");
    assert!(page.contains("id=\"execute-lift_restriction\""), "{page}");
    assert!(!page.contains("id=\"execute-restrict\""), "restricted once");
    // A second press (a stale page) is refused on the page, with its code.
    let (status, page) = ui_post(
        &app,
        &registrar,
        &format!("/requests/{id}"),
        format!("csrf_token={csrf}&action=execute&execution=restrict"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("already_executed"), "{page}");
    // The supervisor's contact page and search say why.
    let (supervisor, csrf) = ui_session(&app, "sanna", "supervisor").await;
    let (status, _) = ui_post(
        &app,
        &supervisor,
        "/purpose",
        format!("csrf_token={csrf}&purpose=quality_assurance"),
    )
    .await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    let (status, page) = ui_get(&app, &supervisor, &format!("/contacts/{subject}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(!page.contains("Liisa"), "no personal data on the refusal");
    let (status, page) = ui_post(
        &app,
        &supervisor,
        "/search",
        format!("csrf_token={csrf}&phone=040+765+4321"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"left-out\""), "{page}");
    assert!(!page.contains("Liisa"), "the left-out contact is not shown");
    // An agent is not offered the request page at all.
    let (agent, csrf) = ui_session(&app, "aino", "agent").await;
    let (status, _) = ui_post(
        &app,
        &agent,
        &format!("/requests/{id}"),
        format!("csrf_token={csrf}&action=execute&execution=lift_restriction"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        reads(&app, &subject, "training").await,
        all(StatusCode::FORBIDDEN, Some("restricted"))
    );
}

#[tokio::test]
async fn an_objection_is_overridden_only_on_recorded_grounds_and_never_for_surveys() {
    // Arrange
    let app = spawn_app_with_env(&[]).await;
    let rea = app.add_account("rea", "registrar");
    let subject = recorded_call(&app, PHONE).await;
    let id = verified_request(&app, &rea, &["objection"], &["training", "survey"]).await;
    json_ok(execute(&app, &rea, &id, "object").await).await;
    let path = format!("/api/v1/requests/{id}/execute");
    let grounds = "Koulutusaineisto tarvitaan lakisääteiseen häiriötilanneharjoitukseen.";
    let override_ = |purpose: &str, grounds: &str| json!({"action": "override_objection", "purpose": purpose, "grounds": grounds});

    // Act and assert: refusals first, each with its code, nothing lifted.
    let cases = [
        (
            override_("survey", grounds),
            StatusCode::UNPROCESSABLE_ENTITY,
            "objection_absolute",
        ),
        (
            override_("training", "  "),
            StatusCode::BAD_REQUEST,
            "grounds_required",
        ),
        (
            override_("training", &"x".repeat(4001)),
            StatusCode::BAD_REQUEST,
            "grounds_required",
        ),
        (
            override_("quality_assurance", grounds),
            StatusCode::CONFLICT,
            "not_objected",
        ),
    ];
    for (body, status, expected) in cases {
        let (code, _) = assert_error(post(&app, &rea, &path, &body).await, status).await;
        assert_eq!(code, expected, "{body}");
    }
    let response = post(
        &app,
        &app.tokens.sanna,
        &path,
        &override_("training", grounds),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a supervisor may not"
    );
    assert_eq!(
        reads(&app, &subject, "training").await,
        all(StatusCode::FORBIDDEN, Some("objected"))
    );
    let done = json_ok(post(&app, &rea, &path, &override_("training", grounds)).await).await;

    // The objection to training is lifted at once, the one to surveys stands.
    assert_eq!(done["action"], "override_objection", "{done}");
    assert_eq!(reads(&app, &subject, "training").await, ok());
    let (code, _) = assert_error(
        post(&app, &rea, &path, &override_("training", grounds)).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "not_objected", "overridden once");
    // The grounds are sealed: neither the timeline nor the audit log has them.
    let view = json_ok(
        app.get(
            Some(&rea),
            &app.url(&format!("/api/v1/requests/{id}")),
            None,
        )
        .await,
    )
    .await;
    assert!(!view.to_string().contains("häiriötilanne"), "{view}");
    let log = json_ok(app.audit_log(&app.tokens.sanna, &[("limit", "1000")]).await).await;
    assert!(!log.to_string().contains("häiriötilanne"));
    assert!(log.to_string().contains("objection_overridden"));
}
