//! The notice's versions on every backend: published once per digest (a
//! second publish of the same version writes nothing, its audit event
//! neither), listed newest first, read back as written.

use chrono::TimeDelta;
use kirjuri_store::Store;
use kirjuri_store::notices::NoticeVersionRow;

use crate::support::{all_audit, audit, now, on_every_backend};

fn version(digest: &str, minutes: i64, significant: bool) -> NoticeVersionRow {
    NoticeVersionRow {
        version: digest.into(),
        published_at: now() + TimeDelta::minutes(minutes),
        significant,
        note: significant.then(|| r#"{"fi":"Muutos","sv":"Ändring","en":"Change"}"#.to_owned()),
        content: r#"{"fi":{"register":"Rekisteri"}}"#.into(),
    }
}

on_every_backend! {
    async fn a_version_is_published_once_and_read_back_newest_first(store: &dyn Store) {
        let first = version("0123456789ab", 0, false);
        let second = version("ba9876543210", 5, true);
        assert!(store.publish_notice(&first, &audit("notice.published")).await.unwrap());
        assert!(store.publish_notice(&second, &audit("notice.published")).await.unwrap());
        let again = NoticeVersionRow { published_at: now() + TimeDelta::minutes(9), ..first.clone() };
        assert!(!store.publish_notice(&again, &audit("notice.published")).await.unwrap());
        assert_eq!(all_audit(store).await.len(), 2, "no second event for the same version");

        assert_eq!(store.notice_versions(10).await.unwrap(), [second.clone(), first.clone()]);
        assert_eq!(store.notice_versions(1).await.unwrap(), [second]);
        assert_eq!(store.notice_version("0123456789ab").await.unwrap(), Some(first));
        assert_eq!(store.notice_version("ffffffffffff").await.unwrap(), None);
    }
}
