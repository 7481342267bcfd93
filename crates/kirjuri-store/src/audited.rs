//! The audited write, shared by both adapters: a write transaction whose
//! changes commit together with the audit events that record them, or not
//! at all (the crate's first invariant). [`run`] is the flow, written once:
//! run the write in the transaction the adapter opened (SQLite's `BEGIN
//! IMMEDIATE`; PostgreSQL's read committed with the audit lock taken
//! first), append the events it names after the write's own statements, in
//! order, and commit — or drop the transaction, rolling back, where the
//! write decided it changed nothing. [`write_audited_if`] and
//! [`write_audited`] open that transaction on any [`SqlStore`] (the one
//! thing that differs is [`Backend::begin_write`]) and hand it to [`run`],
//! which appends with the adapter's [`AuditLog`]; the query modules hold
//! only SQL and row decoding.

use sqlx::{Database, Transaction};

use crate::backend::{Backend, SqlStore};
use crate::error::Result;
use crate::model::NewAuditEvent;

/// The connection of a store's database, as an audited write gets it.
pub(crate) type Conn<S> = <<S as SqlStore>::Db as Database>::Connection;

/// The audited write ([`run`]) in a transaction from
/// [`Backend::begin_write`].
pub(crate) async fn write_audited_if<'e, S: SqlStore, T>(
    store: &S,
    write: impl AsyncFnOnce(&mut Conn<S>) -> Result<Audited<'e, T>>,
) -> Result<T>
where
    S::Db: AuditLog,
{
    let tx = S::Db::begin_write(store.sql_pool()).await?;
    run(tx, write).await
}

/// [`write_audited_if`] for a write that always commits, with `events`.
pub(crate) async fn write_audited<'e, S: SqlStore, T>(
    store: &S,
    events: impl IntoIterator<Item = &'e NewAuditEvent>,
    write: impl AsyncFnOnce(&mut Conn<S>) -> Result<T>,
) -> Result<T>
where
    S::Db: AuditLog,
{
    write_audited_if(store, async |conn| {
        Ok(Audited::commit(write(conn).await?, events))
    })
    .await
}

/// A database whose adapter appends audit events: its audit module's bulk
/// append, inside the caller's transaction.
pub(crate) trait AuditLog: Database {
    /// Appends `events`, in order, on `conn`.
    fn append<'c>(
        conn: &'c mut Self::Connection,
        events: Vec<&'c NewAuditEvent>,
    ) -> impl Future<Output = Result<()>> + Send + 'c;
}

/// Runs `write` in `tx` and ends `tx` as the write decided: append its
/// events, in order, and commit, or roll back. A failure anywhere (the
/// write, the append, the commit) returns it and rolls everything back.
pub(crate) async fn run<'e, DB: AuditLog, T>(
    mut tx: Transaction<'static, DB>,
    write: impl AsyncFnOnce(&mut DB::Connection) -> Result<Audited<'e, T>>,
) -> Result<T> {
    let Audited { value, events } = write(&mut *tx).await?;
    if let Some(events) = events {
        DB::append(&mut *tx, events).await?;
        tx.commit().await?;
    }
    // `None`: dropping the transaction rolls it back.
    Ok(value)
}

/// What a write inside an audited transaction decided: the value to return,
/// and whether to commit and with which events.
pub(crate) struct Audited<'e, T> {
    /// What the store method returns.
    pub(crate) value: T,
    /// `Some`: append these events, in order, and commit (also when there
    /// are none). `None`: roll back — the write changed nothing.
    pub(crate) events: Option<Vec<&'e NewAuditEvent>>,
}

impl<'e, T> Audited<'e, T> {
    /// Append `events` after the write, in order, and commit; an empty list
    /// commits the write alone.
    pub(crate) fn commit(value: T, events: impl IntoIterator<Item = &'e NewAuditEvent>) -> Self {
        Self {
            value,
            events: Some(events.into_iter().collect()),
        }
    }

    /// [`Audited::commit`] if `changed`, else [`Audited::roll_back`].
    pub(crate) fn commit_if(
        changed: bool,
        value: T,
        events: impl IntoIterator<Item = &'e NewAuditEvent>,
    ) -> Self {
        if changed {
            Self::commit(value, events)
        } else {
            Self::roll_back(value)
        }
    }

    /// Roll back and audit nothing: the write changed nothing.
    pub(crate) fn roll_back(value: T) -> Self {
        Self {
            value,
            events: None,
        }
    }
}
