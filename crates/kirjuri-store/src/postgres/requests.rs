//! What the PostgreSQL adapter supplies for data-subject requests: its
//! audited write transaction (read committed, the audit lock taken first).
//! The SQL is `requests_sql`'s, written once for both databases.

use sqlx::{Postgres, Transaction};

use super::PostgresStore;
use crate::error::Result;
use crate::requests_sql::RequestSql;

impl RequestSql for PostgresStore {
    async fn begin_audited(&self) -> Result<Transaction<'static, Postgres>> {
        self.begin_write().await
    }
}
