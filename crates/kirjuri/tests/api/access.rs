//! Who may read what (ACC-1, ACC-2, ING-1): an agent sees only their own
//! contacts — another agent's look exactly like ones that do not exist — a
//! supervisor sees all, an integration delivers but never reads, every read
//! states a known purpose, and nothing answers without a valid token except
//! the health check.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PURPOSE, TestApp, assert_error, call, ids_of, json_ok, noise_wav, spawn_app, wav,
};

/// A call handled by `agent` with the given customer phone and a recording.
async fn recorded_call(app: &TestApp, agent: &str, phone: &str) -> (String, Vec<u8>) {
    let mut contact = call(agent);
    contact["customer"] = json!({"name": format!("Customer of {agent}"), "phone": phone});
    let id = app.new_contact(&contact).await;
    let bytes = wav(8000);
    app.store_recording(&id, &bytes).await;
    (id, bytes)
}

/// Status and body of a response, for comparing two answers.
async fn status_and_body(response: reqwest::Response) -> (StatusCode, String) {
    (response.status(), response.text().await.expect("a body"))
}

#[tokio::test]
async fn an_agent_gets_the_same_404_for_another_agents_contact_as_for_a_missing_one() {
    // Arrange
    let app = spawn_app().await;
    let (bertta_call, _) = recorded_call(&app, "bertta", "050 111 2222").await;
    let missing = "01890000-0000-7000-8000-000000000000";
    let aino = &app.tokens.aino;

    // Act
    let read = status_and_body(app.get_contact(aino, &bertta_call, Some(PURPOSE)).await).await;
    let read_missing = status_and_body(app.get_contact(aino, missing, Some(PURPOSE)).await).await;
    let recording = status_and_body(
        app.get_recording(aino, &bertta_call, Some(PURPOSE), None)
            .await,
    )
    .await;
    let ranged = status_and_body(
        app.get_recording(aino, &bertta_call, Some(PURPOSE), Some("bytes=0-99"))
            .await,
    )
    .await;
    let recording_missing =
        status_and_body(app.get_recording(aino, missing, Some(PURPOSE), None).await).await;

    // Assert
    assert_eq!(read.0, StatusCode::NOT_FOUND, "{}", read.1);
    assert_eq!(
        read, read_missing,
        "another agent's contact must look like a missing one"
    );
    assert_eq!(recording.0, StatusCode::NOT_FOUND, "{}", recording.1);
    assert_eq!(
        recording, recording_missing,
        "another agent's recording must look like a missing one"
    );
    assert_eq!(
        ranged, recording_missing,
        "a Range read of another agent's recording must look like a missing one"
    );
    let error: Value = serde_json::from_str(&read.1).expect("a JSON error");
    assert!(
        error["error"]["code"].is_string() && error["error"]["message"].is_string(),
        "{error}"
    );
}

#[tokio::test]
async fn an_agents_search_finds_only_their_own_contacts() {
    // Arrange: both agents handled calls from the same number.
    let app = spawn_app().await;
    let (aino_call, _) = recorded_call(&app, "aino", "050 111 2222").await;
    let (bertta_call, _) = recorded_call(&app, "bertta", "050 111 2222").await;
    let (bertta_only, _) = recorded_call(&app, "bertta", "050 333 4444").await;

    // Act
    let by_shared_phone = json_ok(
        app.search(
            &app.tokens.aino,
            &[("phone", "0501112222"), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;
    let by_berttas_phone = json_ok(
        app.search(
            &app.tokens.aino,
            &[("phone", "0503334444"), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;
    let by_berttas_name = json_ok(
        app.search(
            &app.tokens.aino,
            &[("name", "Customer of bertta"), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;
    let by_agent = json_ok(
        app.search(
            &app.tokens.aino,
            &[("agent", "bertta"), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;
    let everything = json_ok(
        app.search(
            &app.tokens.aino,
            &[("from", "2000-01-01"), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;

    // Assert
    assert_eq!(
        ids_of(&by_shared_phone),
        [aino_call.clone()].into(),
        "{by_shared_phone}"
    );
    assert!(
        ids_of(&by_berttas_phone).is_empty(),
        "aino must not find bertta's caller: {by_berttas_phone}"
    );
    assert!(ids_of(&by_berttas_name).is_empty(), "{by_berttas_name}");
    assert!(ids_of(&by_agent).is_empty(), "{by_agent}");
    assert_eq!(ids_of(&everything), [aino_call].into(), "{everything}");
    let berttas_view = json_ok(
        app.search(
            &app.tokens.bertta,
            &[("phone", "0501112222"), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;
    assert!(ids_of(&berttas_view).contains(&bertta_call));
    assert!(!ids_of(&berttas_view).contains(&bertta_only));
}

#[tokio::test]
async fn a_supervisor_reads_every_agents_contacts_and_recordings() {
    // Arrange
    let app = spawn_app().await;
    let (aino_call, aino_wav) = recorded_call(&app, "aino", "050 111 2222").await;
    let (bertta_call, bertta_wav) = recorded_call(&app, "bertta", "050 111 2222").await;

    // Act
    let found = json_ok(
        app.search(
            &app.tokens.sanna,
            &[("phone", "050 111 2222"), ("purpose", PURPOSE)],
        )
        .await,
    )
    .await;

    // Assert
    assert_eq!(
        ids_of(&found),
        [aino_call.clone(), bertta_call.clone()].into()
    );
    for (id, bytes) in [(aino_call, aino_wav), (bertta_call, bertta_wav)] {
        assert_eq!(app.contact_as_supervisor(&id).await["id"], json!(id));
        assert!(app.recording_as_supervisor(&id).await[..] == bytes[..]);
        let ranged = app
            .get_recording(&app.tokens.sanna, &id, Some(PURPOSE), Some("bytes=0-99"))
            .await;
        assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    }
}

#[tokio::test]
async fn an_agent_reads_their_own_contact_and_recording() {
    // Arrange
    let app = spawn_app().await;
    let (id, bytes) = recorded_call(&app, "aino", "050 111 2222").await;

    // Act
    let contact = json_ok(
        app.get_contact(&app.tokens.aino, &id, Some("order_verification"))
            .await,
    )
    .await;
    let recording = app
        .get_recording(&app.tokens.aino, &id, Some("order_verification"), None)
        .await;

    // Assert
    assert_eq!(contact["customer"]["phone"], json!("+358501112222"));
    assert_eq!(recording.status(), StatusCode::OK);
    assert!(recording.bytes().await.expect("a body")[..] == bytes[..]);
}

#[tokio::test]
async fn an_integration_token_delivers_but_cannot_read() {
    // Arrange
    let app = spawn_app().await;
    let (id, _) = recorded_call(&app, "aino", "050 111 2222").await;
    let pbx = &app.tokens.pbx;

    // Act
    let read = app.get_contact(pbx, &id, Some(PURPOSE)).await;
    let recording = app.get_recording(pbx, &id, Some(PURPOSE), None).await;
    let search = app
        .search(pbx, &[("phone", "0501112222"), ("purpose", PURPOSE)])
        .await;

    // Assert
    assert_error(read, StatusCode::FORBIDDEN).await;
    assert_error(recording, StatusCode::FORBIDDEN).await;
    assert_error(search, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn people_cannot_deliver_contacts_or_recordings_with_their_own_tokens() {
    // Arrange
    let app = spawn_app().await;
    let id = app.new_call("aino").await;

    for token in [&app.tokens.aino, &app.tokens.sanna] {
        // Act
        let create = app.create_contact(token, &call("aino")).await;
        let upload = app.upload_recording(token, &id, wav(800)).await;

        // Assert
        assert_error(create, StatusCode::FORBIDDEN).await;
        assert_error(upload, StatusCode::FORBIDDEN).await;
    }
    assert_eq!(
        app.all_contact_ids().await.len(),
        1,
        "nothing was delivered"
    );
    assert!(app.object_files().is_empty(), "no recording was stored");
}

#[tokio::test]
async fn a_missing_or_garbage_token_is_refused_with_401_everywhere() {
    // Arrange
    let app = spawn_app().await;
    let (id, _) = recorded_call(&app, "aino", "050 111 2222").await;
    let contact_url = app.url(&format!("/api/v1/contacts/{id}?purpose={PURPOSE}"));
    let recording_url = app.url(&format!(
        "/api/v1/contacts/{id}/recording?purpose={PURPOSE}"
    ));
    let search_url = app.url(&format!(
        "/api/v1/contacts?phone=0501112222&purpose={PURPOSE}"
    ));
    let credentials: [Option<&str>; 4] = [
        None,
        Some("Bearer garbage"),
        Some(&format!("Bearer {}x", app.tokens.sanna)),
        Some("Basic c2FubmE6cGFzcw=="),
    ];

    for credential in credentials {
        let with = |request: reqwest::RequestBuilder| match credential {
            Some(value) => request.header(reqwest::header::AUTHORIZATION, value),
            None => request,
        };

        // Act
        let answers = [
            with(app.client.get(&contact_url))
                .send()
                .await
                .expect("GET contact"),
            with(app.client.get(&recording_url))
                .send()
                .await
                .expect("GET recording"),
            with(app.client.get(&search_url))
                .send()
                .await
                .expect("search"),
            with(app.client.post(app.url("/api/v1/contacts")))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(&call("aino")).expect("serialise"))
                .send()
                .await
                .expect("POST contact"),
            with(
                app.client
                    .put(app.url(&format!("/api/v1/contacts/{id}/recording"))),
            )
            .header(reqwest::header::CONTENT_TYPE, "audio/wav")
            .body(wav(800))
            .send()
            .await
            .expect("PUT recording"),
        ];

        // Assert
        for answer in answers {
            let url = answer.url().path().to_owned();
            let (code, _) = assert_error(answer, StatusCode::UNAUTHORIZED).await;
            assert_eq!(code, "unauthenticated", "{credential:?} {url}");
        }
    }
    assert_eq!(
        app.all_contact_ids().await.len(),
        1,
        "nothing was delivered without credentials"
    );
}

#[tokio::test]
async fn a_read_without_a_purpose_or_with_an_unknown_one_is_refused_with_400() {
    // Arrange
    let app = spawn_app().await;
    let (id, _) = recorded_call(&app, "aino", "050 111 2222").await;
    let sanna = &app.tokens.sanna;

    for purpose in [None, Some(""), Some("curiosity"), Some("marketing")] {
        // Act
        let read = app.get_contact(sanna, &id, purpose).await;
        let recording = app.get_recording(sanna, &id, purpose, None).await;
        let mut query = vec![("phone", "0501112222")];
        if let Some(purpose) = purpose {
            query.push(("purpose", purpose));
        }
        let search = app.search(sanna, &query).await;

        // Assert
        for (what, response) in [("read", read), ("recording", recording), ("search", search)] {
            let (_, message) = assert_error(response, StatusCode::BAD_REQUEST).await;
            assert!(
                message.contains("purpose"),
                "{what} with purpose {purpose:?}: {message}"
            );
        }
    }
}

#[tokio::test]
async fn a_large_upload_with_a_bad_token_gets_its_401_and_the_client_can_carry_on() {
    // Arrange: a 4 MB recording sent with a token that is not valid, as an
    // integration whose token was revoked would keep sending.
    let app = spawn_app().await;
    let id = app.new_call("aino").await;
    let big = noise_wav(4_000_000, 21);

    // Act
    let refused = app
        .client
        .put(app.url(&format!("/api/v1/contacts/{id}/recording")))
        .bearer_auth("revoked-token")
        .header(reqwest::header::CONTENT_TYPE, "audio/wav")
        .body(big.clone())
        .send()
        .await;
    let next = app.client.get(app.url("/healthz")).send().await;

    // Assert
    let refused = refused.unwrap_or_else(|e| panic!("the client never saw the 401: {e:?}"));
    assert_error(refused, StatusCode::UNAUTHORIZED).await;
    let next = next.unwrap_or_else(|e| panic!("the request after the 401 failed: {e:?}"));
    assert_eq!(next.status(), StatusCode::OK);
    assert!(app.object_files().is_empty(), "nothing was stored");
}
