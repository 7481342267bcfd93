//! The public privacy notice as a customer meets it (issue 13 §2), in a
//! real headless Chromium against the real `kirjuri serve`: the notice
//! without a banner; the operator shortens a retention rule and marks the
//! change significant; the notice now carries the banner with the change's
//! note, its link leads to the list of versions, and the older version
//! opens as it was published, marked as older (the banner still on it,
//! as on every public page while it lasts).

use fantoccini::Locator;

use crate::harness::{Ui, path, serial, source, wait_until};

async fn text_of(browser: &fantoccini::Client, id: &str) -> String {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_significant_change_shows_a_banner_and_the_older_version_stays_readable() {
    let _turn = serial().await;
    // Arrange: the notice as first published.
    let mut ui = Ui::start().await;
    let browser = ui.browser().await;
    browser.goto(&ui.url("/privacy?lang=en")).await.unwrap();
    wait_until("the notice", || async {
        browser.find(Locator::Id("notice-version")).await.is_ok()
    })
    .await;
    let first = text_of(&browser, "notice-version").await;
    assert!(
        browser.find(Locator::Id("notice-banner")).await.is_err(),
        "no banner before any change"
    );
    browser.close().await.unwrap();

    // Act: the operator shortens chat retention and marks it significant.
    ui.restart_with(&[
        ("KIRJURI_RETENTION__CHAT_TRANSCRIPT__MONTHS", "6"),
        ("KIRJURI_REGISTER__CHANGE__SIGNIFICANT", "true"),
        (
            "KIRJURI_REGISTER__CHANGE__NOTE__FI",
            "Chat-keskustelut säilytetään 6 kuukautta.",
        ),
        (
            "KIRJURI_REGISTER__CHANGE__NOTE__SV",
            "Chattsamtal sparas i 6 månader.",
        ),
        (
            "KIRJURI_REGISTER__CHANGE__NOTE__EN",
            "Chats are kept for 6 months.",
        ),
    ]);
    let browser = ui.browser().await;
    browser.goto(&ui.url("/privacy?lang=en")).await.unwrap();
    wait_until("the notice", || async {
        browser.find(Locator::Id("notice-version")).await.is_ok()
    })
    .await;

    // Assert: a new version, with the banner and its note.
    let second = text_of(&browser, "notice-version").await;
    assert_ne!(first, second, "the change made a new version");
    let banner = text_of(&browser, "notice-banner").await;
    assert!(banner.contains("Chats are kept for 6 months."), "{banner}");
    // The banner's link lists the versions; the older one opens as it was.
    browser
        .find(Locator::Css("#notice-banner a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the versions", || async {
        browser.find(Locator::Id("versions")).await.is_ok()
    })
    .await;
    let older = format!("#versions a[href^='/privacy/versions/{first}']");
    browser
        .find(Locator::Css(&older))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the older version", || async {
        browser.find(Locator::Id("older-version")).await.is_ok()
    })
    .await;
    assert_eq!(text_of(&browser, "notice-version").await, first);
    assert!(
        path(&browser)
            .await
            .starts_with(&format!("/privacy/versions/{first}"))
    );
    // Every public page carries the banner while it lasts, the older
    // version's too: its reader learns that the notice has changed.
    let page = source(&browser).await;
    assert!(page.contains("Chats are kept for 6 months."), "the banner");
    browser.close().await.unwrap();
}
