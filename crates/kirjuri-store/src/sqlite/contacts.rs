//! Contacts in SQLite: the contact queries are written once, for both
//! backends, in `crate::contacts_sql`; this module names their columns and
//! row decoder for SQLite's rows (for the retention queries and the copies
//! of the register), and asserts the search's query plans on SQLite.

use sqlx::Sqlite;
use sqlx::sqlite::SqliteRow;

use crate::error::Result;
use crate::model::ContactRow;

/// The columns of a [`ContactRow`] from the table aliased `c`.
pub(super) use crate::contacts_sql::CONTACT_COLUMNS as COLUMNS;

/// A [`ContactRow`] from [`COLUMNS`].
pub(super) fn from_row(row: &SqliteRow) -> Result<ContactRow> {
    crate::contacts_sql::contact_from_row::<Sqlite>(row)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly at the line that broke"
)]
mod tests {
    //! The query plans behind the lookup-speed target (docs/requirements.md: all
    //! contacts of one phone number among 10 million in under 10 ms). A plan
    //! that scans the contacts table would still pass every functional test
    //! and only fail at scale, so the plan itself is asserted.

    use chrono::{DateTime, Utc};
    use sqlx::{Row, Sqlite};

    use kirjuri_core::ids::ContactId;

    use crate::SqliteStore;
    use crate::contacts_sql::search_query;
    use crate::model::{ContactFilter, IndexEntry};

    fn day(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    /// The plan's detail lines for `filter`, one string each.
    async fn plan(filter: &ContactFilter) -> Vec<String> {
        let store = SqliteStore::in_memory().await.unwrap();
        let mut query = search_query::<Sqlite>("EXPLAIN QUERY PLAN ", filter);
        let rows = query.build().fetch_all(store.pool()).await.unwrap();
        rows.iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect()
    }

    fn phone() -> IndexEntry {
        IndexEntry {
            kind: "phone".into(),
            hash: vec![1; 32],
        }
    }

    #[tokio::test]
    async fn a_phone_lookup_starts_from_the_kind_hash_index_and_reads_contacts_by_id() {
        let filter = ContactFilter {
            index: vec![phone()],
            limit: 50,
            ..ContactFilter::default()
        };

        let plan = plan(&filter).await;

        assert!(
            plan[0].contains("USING COVERING INDEX contact_index_by_hash (kind=? AND hash=?)"),
            "{plan:#?}"
        );
        assert!(
            plan[1].contains("SEARCH c USING INDEX sqlite_autoindex_contacts_1 (id=?)"),
            "{plan:#?}"
        );
        assert!(
            !plan.iter().any(|line| line.starts_with("SCAN")),
            "{plan:#?}"
        );
    }

    #[tokio::test]
    async fn further_index_entries_are_point_lookups_per_candidate_contact() {
        let name = IndexEntry {
            kind: "name".into(),
            hash: vec![2; 32],
        };
        let filter = ContactFilter {
            index: vec![phone(), name],
            limit: 50,
            ..ContactFilter::default()
        };

        let plan = plan(&filter).await;

        assert!(plan[0].contains("contact_index_by_hash"), "{plan:#?}");
        // Either index fits; what matters is that all three columns are bound.
        let exists = plan
            .iter()
            .find(|line| line.starts_with("SEARCH x"))
            .unwrap();
        for bound in ["contact_id=?", "kind=?", "hash=?"] {
            assert!(exists.contains(bound), "{plan:#?}");
        }
        assert!(
            !plan.iter().any(|line| line.starts_with("SCAN")),
            "{plan:#?}"
        );
    }

    #[tokio::test]
    async fn an_agents_contacts_come_from_the_agent_index_already_in_order() {
        let filter = ContactFilter {
            agent: Some("aino".into()),
            limit: 50,
            ..ContactFilter::default()
        };

        let plan = plan(&filter).await;

        assert!(
            plan.iter()
                .any(|line| line.contains("USING INDEX contacts_by_agent_started_at (agent=?")),
            "{plan:#?}"
        );
        assert!(
            !plan.iter().any(|line| line.contains("TEMP B-TREE")),
            "{plan:#?}"
        );
    }

    #[tokio::test]
    async fn a_date_range_walks_the_start_time_index_already_in_order() {
        let filter = ContactFilter {
            from: Some(day("2026-11-01T00:00:00Z")),
            to: Some(day("2026-12-01T00:00:00Z")),
            before: Some((day("2026-11-20T00:00:00Z"), ContactId::new_v7())),
            limit: 50,
            ..ContactFilter::default()
        };

        let plan = plan(&filter).await;

        assert!(
            plan.iter()
                .any(|line| line.contains("USING INDEX contacts_by_started_at")),
            "{plan:#?}"
        );
        assert!(
            !plan.iter().any(|line| line.contains("TEMP B-TREE")),
            "{plan:#?}"
        );
    }
}
