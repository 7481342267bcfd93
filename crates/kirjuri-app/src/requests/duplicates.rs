//! Possible duplicates (reference §4 A.9): other requests received within
//! [`DUPLICATE_WINDOW_DAYS`] of this one that cover any of its identifiers
//! (found through `request_identifiers`' blind-index hashes, proven or not)
//! and ask for at least one of the same rights. The registrar sees them on
//! the request, as references and states — nothing personal — and decides;
//! nothing is merged automatically. A duplicate is held to the same rule as
//! any request: nothing runs on it until it is itself verified (the
//! transition table's `not_verified`).

use chrono::TimeDelta;
use kirjuri_core::request::{RequestState, RequestType};
use kirjuri_store::requests::{RequestIdentifierRow, RequestRow};
use serde::Serialize;
use uuid::Uuid;

use crate::app::Kirjuri;
use crate::error::Result;

/// How far apart two requests may be received and still be duplicates.
pub const DUPLICATE_WINDOW_DAYS: i64 = 30;

/// Candidates read at most.
const CANDIDATES: u32 = 50;

/// Another request that may be the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateView {
    pub id: Uuid,
    pub reference: String,
    pub state: RequestState,
    /// The rights both ask for.
    pub common_types: Vec<RequestType>,
}

impl Kirjuri {
    /// The possible duplicates of `row`, whose identifiers are
    /// `identifiers`.
    pub(super) async fn possible_duplicates(
        &self,
        row: &RequestRow,
        identifiers: &[RequestIdentifierRow],
    ) -> Result<Vec<DuplicateView>> {
        let pairs: Vec<(String, Vec<u8>)> = identifiers
            .iter()
            .map(|i| (i.kind.clone(), i.hash.clone()))
            .collect();
        let window = TimeDelta::days(DUPLICATE_WINDOW_DAYS);
        let candidates = self
            .store
            .requests_sharing_identifiers(
                &row.id,
                &pairs,
                row.received_at - window,
                row.received_at + window,
                CANDIDATES,
            )
            .await?;
        Ok(candidates
            .into_iter()
            .filter_map(|other| {
                let common_types: Vec<RequestType> = other
                    .types
                    .iter()
                    .copied()
                    .filter(|t| row.types.contains(t))
                    .collect();
                (!common_types.is_empty()).then_some(DuplicateView {
                    id: other.id,
                    reference: other.reference,
                    state: other.state,
                    common_types,
                })
            })
            .collect())
    }
}
