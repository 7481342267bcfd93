//! `GET /metrics` through the real binary: a maintainer's or administrator's
//! scrape is OpenMetrics text with the requests by route template, the
//! intake bytes, the audit log's length and checkpoint age, the outbox's
//! depth, uptime and build; no label or value carries the personal data,
//! ids or paths the test sent (identifiers in bodies, in query strings and
//! in paths the router does not know); no credentials is 401, every other
//! role 403 (audited), a forged token 401; and scrapers hammering the
//! endpoint in parallel neither fail nor stop recordings being taken in.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::helpers::{PURPOSE, TestApp, assert_error, design_example, noise_wav, spawn_app};

/// Scrapes as `token` and returns the status and text.
async fn scrape(app: &TestApp, token: Option<&str>) -> (StatusCode, String, Option<String>) {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), content_type)
}

/// The value of the sample line that starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn a_maintainers_scrape_counts_requests_by_template_and_intake_bytes_with_no_personal_data() {
    let app = spawn_app().await;
    let maintainer = app.add_account("mika", "maintainer");
    let admin = app.add_account("ada", "admin");
    // Personal data in bodies, queries and unknown paths.
    let id = app.new_contact(&design_example("pbx-metrics-1")).await;
    let wav = noise_wav(200_000, 3);
    let ack = app.store_recording(&id, &wav).await;
    let bytes = ack["bytes"].as_u64().unwrap();
    let read = app.get_contact(&app.tokens.sanna, &id, Some(PURPOSE)).await;
    assert_eq!(read.status(), StatusCode::OK);
    let search = app
        .search(
            &app.tokens.sanna,
            &[("phone", "040 123 4567"), ("purpose", PURPOSE)],
        )
        .await;
    assert!(search.status().is_success(), "{}", search.status());
    for hostile in [
        "/api/v1/contacts/0401234567/matti@example.fi",
        "/api/v1/contacts/131052-308T",
        "/Matti%20Meik%C3%A4l%C3%A4inen/91-403-1-1",
        "/metrics/0401234567",
    ] {
        let answer = app
            .client
            .get(app.url(hostile))
            .bearer_auth(&app.tokens.sanna)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_client_error(), "{hostile}");
    }

    for token in [&maintainer, &admin] {
        let (status, text, content_type) = scrape(&app, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert!(
            content_type
                .unwrap()
                .starts_with("application/openmetrics-text"),
            "Prometheus's preferred format"
        );
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
        assert_eq!(
            sample(&text, "kirjuri_intake_bytes_total{kind=\"recording\"}"),
            Some(bytes as f64),
            "{text}"
        );
        assert!(
            sample(
                &text,
                "kirjuri_http_requests_total{route=\"/api/v1/contacts/{id}/recording\",method=\"PUT\",status=\"2xx\"}"
            ) == Some(1.0),
            "{text}"
        );
        assert!(
            sample(
                &text,
                "kirjuri_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"4xx\"}"
            )
            .is_some_and(|n| n >= 3.0),
            "{text}"
        );
        assert!(
            sample(&text, "kirjuri_audit_events_total").is_some_and(|n| n >= 3.0),
            "{text}"
        );
        assert!(
            sample(&text, "kirjuri_audit_checkpoint_age_seconds").is_some(),
            "{text}"
        );
        assert!(sample(&text, "kirjuri_uptime_seconds").is_some(), "{text}");
        assert!(text.contains("kirjuri_build_info{version="), "{text}");
        // An empty outbox has no series (a family prints only what it has).
        assert!(!text.contains("kirjuri_outbox_messages{"), "{text}");
        // Nothing of what was sent, in any form.
        let digits: String = id.chars().filter(char::is_ascii_hexdigit).collect();
        for secret in [
            id.as_str(),
            &digits,
            "0401234567",
            "401234567",
            "123 4567",
            "Matti",
            "Meik",
            "example.fi",
            "131052",
            "91-403",
            "123456\"",
            "Esimerkki",
            "water-billing",
        ] {
            assert!(!text.contains(secret), "/metrics shows {secret:?}:\n{text}");
        }
    }
}

#[tokio::test]
async fn metrics_refuse_anonymous_callers_other_roles_and_forged_tokens() {
    let app = spawn_app().await;
    let registrar = app.add_account("rea", "registrar");
    let (status, _, _) = scrape(&app, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("kirjuri_not-a-real-token")
        .send()
        .await
        .unwrap();
    assert_error(forged, StatusCode::UNAUTHORIZED).await;
    for token in [
        &app.tokens.aino,
        &app.tokens.pbx,
        &app.tokens.sanna,
        &registrar,
    ] {
        let answer = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (code, _) = assert_error(answer, StatusCode::FORBIDDEN).await;
        assert_eq!(code, "forbidden");
    }
    // The refusals are in the audit log.
    let audit: Value = app
        .audit_log(&app.tokens.sanna, &[("limit", "200")])
        .await
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    assert!(text.contains("read_metrics"), "{text}");
    // Other methods are not scrapes.
    let post = app
        .client
        .post(app.url("/metrics"))
        .bearer_auth(&app.tokens.aino)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn parallel_scrapers_neither_fail_nor_stop_recordings_being_taken_in() {
    let app = spawn_app().await;
    let maintainer = app.add_account("mika", "maintainer");
    let ids: Vec<String> = join_all((0..6).map(|_| app.new_call("aino"))).await;
    let wav = noise_wav(400_000, 9);
    let scraping = std::sync::atomic::AtomicBool::new(true);
    let scrapers = join_all((0..8).map(|_| async {
        let mut n = 0u32;
        while scraping.load(std::sync::atomic::Ordering::Relaxed) {
            let (status, text, _) = scrape(&app, Some(&maintainer)).await;
            assert_eq!(status, StatusCode::OK, "{text}");
            n += 1;
        }
        n
    }));
    let intake = async {
        let started = Instant::now();
        let acks = join_all(ids.iter().map(|id| app.store_recording(id, &wav))).await;
        let took = started.elapsed();
        scraping.store(false, std::sync::atomic::Ordering::Relaxed);
        (acks, took)
    };
    let (scrapes, (acks, took)) = tokio::join!(scrapers, intake);
    let scrapes: u32 = scrapes.iter().sum();
    eprintln!("6 recordings taken in {took:?} beside {scrapes} scrapes");
    assert_eq!(acks.len(), 6);
    assert!(scrapes >= 8, "every scraper got answers");
    assert!(took < Duration::from_secs(30), "intake took {took:?}");
    let (_, text, _) = scrape(&app, Some(&maintainer)).await;
    assert_eq!(
        sample(&text, "kirjuri_intake_bytes_total{kind=\"recording\"}"),
        Some(6.0 * acks[0]["bytes"].as_u64().unwrap() as f64),
        "{text}"
    );
}
