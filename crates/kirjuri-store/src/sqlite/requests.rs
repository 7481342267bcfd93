//! What the SQLite adapter supplies for data-subject requests: its audited
//! write transaction (`BEGIN IMMEDIATE`). The SQL is `requests_sql`'s,
//! written once for both databases.

use sqlx::{Sqlite, Transaction};

use super::SqliteStore;
use crate::error::Result;
use crate::requests_sql::RequestSql;

impl RequestSql for SqliteStore {
    async fn begin_audited(&self) -> Result<Transaction<'static, Sqlite>> {
        self.begin_write().await
    }
}
