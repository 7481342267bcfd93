//! The access package's whole way to the data subject (issue 12, reference
//! §4 C.18, C.19) in a real headless Chromium against the real `kirjuri
//! serve`, whose outbox sends email through a real SMTP server (aiosmtpd,
//! `kirjuri_testkit::smtp`): a customer sends the public form in Finnish; a
//! registrar verifies them in person in the UI, records the Art. 15(4)
//! review and delivers over the API; the customer finds the link in the
//! Maildir, opens it, asks for a code, reads the code from the Maildir,
//! enters it and downloads the ZIP — whose WAV is the uploaded recording,
//! byte for byte — and the link then answers 410.

use fantoccini::Locator;
use kirjuri_core::wav::{Encoding, synth};
use kirjuri_testkit::smtp::SmtpServer;
use serde_json::{Value, json};

use crate::harness::{
    self, CUSTOMER, PASSWORD, Ui, choose_purpose, click, fill, path, screenshot, serial, sign_in,
    source, wait_until,
};

/// Every message in the Maildir.
fn maildir_files(smtp: &SmtpServer) -> Vec<std::path::PathBuf> {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(smtp.maildir().join(sub)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect()
}

/// The one file `name` of the ZIP `bytes`, read by an independent reader
/// (Python's `zipfile`).
fn unzip_one(bytes: &[u8], name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("package.zip");
    let out = dir.path().join("out");
    std::fs::write(&zip, bytes).unwrap();
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))",
        )
        .arg(&zip)
        .arg(name)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "{name} is not in the package");
    std::fs::read(out).unwrap()
}

/// Posts the page's code form with `fetch` from the page itself (its
/// cookie, its form token, the code typed in): the status, the type and
/// the body as hex — what a browser's download would have saved.
const SUBMIT_CODE_FORM: &str = "
    const done = arguments[arguments.length - 1];
    const form = document.getElementById('download').form;
    fetch(form.action, {method: 'POST', body: new URLSearchParams(new FormData(form))})
      .then(async r => {
        const bytes = new Uint8Array(await r.arrayBuffer());
        let hex = '';
        for (const b of bytes) hex += b.toString(16).padStart(2, '0');
        done({status: r.status, type: r.headers.get('content-type'), hex});
      })
      .catch(e => done({status: 0, type: String(e), hex: ''}));
";

#[tokio::test]
async fn a_customer_asks_in_finnish_and_downloads_their_recording_through_the_emailed_link() {
    let _turn = serial().await;
    let smtp = SmtpServer::start();
    let url = smtp.url();
    let mut ui = Ui::start_with(&[
        ("KIRJURI_OUTBOX__EMAIL__SENDER", "smtp"),
        ("KIRJURI_OUTBOX__EMAIL__URL", url.as_str()),
        ("KIRJURI_OUTBOX__EMAIL__TLS", "none"),
        ("KIRJURI_OUTBOX__EMAIL__COUNTRY", "FI"),
        (
            "KIRJURI_OUTBOX__EMAIL__FROM",
            "Kirjuri <kirjuri@example.fi>",
        ),
        ("KIRJURI_OUTBOX__POLL_SECONDS", "1"),
    ])
    .await;
    ui.cli(
        &[
            "user",
            "add",
            "reija",
            "--role",
            "registrar",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    let token = ui
        .cli(&["token", "create", "--user", "reija"], None)
        .trim()
        .to_owned();

    // The customer sends the form in Finnish.
    let customer = ui.browser().await;
    customer.goto(&ui.url("/request?lang=fi")).await.unwrap();
    assert!(source(&customer).await.contains("<html lang=\"fi\""));
    click(&customer, "type-access").await;
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
    // The receipt arrives by real email.
    harness::letters_in(|| maildir_files(&smtp), &reference, 0).await;

    // The registrar verifies them in person in the UI.
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
    fill(&registrar, "document-last4", "X9Q7").await;
    click(&registrar, "verify-in-person").await;
    wait_until("request-notice", || async {
        registrar.find(Locator::Id("request-notice")).await.is_ok()
    })
    .await;
    let id = path(&registrar)
        .await
        .trim_start_matches("/requests/")
        .split(['?', '#', '/'])
        .next()
        .unwrap()
        .to_owned();
    registrar.close().await.unwrap();

    // The call names a contact person too: delivery waits for the review.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let deliver = || async {
        http.post(ui.url(&format!("/api/v1/requests/{id}/deliver")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
    };
    let blocked = deliver().await;
    assert_eq!(blocked.status(), reqwest::StatusCode::CONFLICT);
    let blocked: Value = blocked.json().await.unwrap();
    assert_eq!(blocked["error"]["code"], "third_party_review_needed");
    let reviewed = http
        .post(ui.url(&format!("/api/v1/requests/{id}/third-party-review")))
        .bearer_auth(&token)
        .json(&json!({"decision": "release", "note": "Isännöitsijän tiedot ovat julkisia."}))
        .send()
        .await
        .unwrap();
    assert!(reviewed.status().is_success(), "{}", reviewed.status());
    let delivered = deliver().await;
    assert_eq!(delivered.status(), reqwest::StatusCode::CREATED);
    let delivered = delivered.text().await.unwrap();

    // The link arrives by email; staff never saw it.
    let letters = harness::letters_in(|| maildir_files(&smtp), "/request/download/", 0).await;
    let link = harness::link_in(letters.last().unwrap());
    assert_eq!(link.len(), 43);
    assert!(!delivered.contains(&link));

    // The customer opens it, asks for a code, reads it from the Maildir.
    customer
        .goto(&ui.url(&format!("/request/download/{link}")))
        .await
        .unwrap();
    wait_until("the link's page", || async {
        customer.find(Locator::Id("send-code")).await.is_ok()
    })
    .await;
    // In the request's language, whatever the browser prefers.
    assert!(source(&customer).await.contains("<html lang=\"fi\""));
    click(&customer, "send-code").await;
    wait_until("the code sent", || async {
        customer.find(Locator::Id("download-notice")).await.is_ok()
    })
    .await;
    let letters = harness::letters_in(|| maildir_files(&smtp), "Vahvistuskoodinne on", 0).await;
    let code: String = letters
        .last()
        .unwrap()
        .split("Vahvistuskoodinne on ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(code.len(), 6, "{code}");
    fill(&customer, "code", &code).await;
    screenshot(&customer, "download-code-entered").await;
    let answer = customer
        .execute_async(SUBMIT_CODE_FORM, vec![])
        .await
        .unwrap();

    // The ZIP, with the recording exactly as uploaded.
    assert_eq!(answer["status"], 200, "{}", answer["type"]);
    assert_eq!(answer["type"], "application/zip");
    let hex = answer["hex"].as_str().unwrap();
    let zip: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let wav = unzip_one(&zip, &format!("recordings/{}/recording.wav", ui.call));
    let uploaded = synth::wav_bytes(Encoding::PcmS16, 2, 8000, 8000 * 20, false);
    assert!(wav == uploaded, "the WAV differs from the uploaded bytes");

    // Once only.
    customer.refresh().await.unwrap();
    wait_until("the gone page", || async {
        customer.find(Locator::Id("link-gone")).await.is_ok()
    })
    .await;
    screenshot(&customer, "download-link-gone").await;
    customer.close().await.unwrap();
}
