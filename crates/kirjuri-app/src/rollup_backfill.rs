//! Counting the contacts stored before the statistics' roll-ups existed
//! (STAT-1; issue 15): the migration that made `contact_rollup_backfill`
//! queued them, and [`Kirjuri::backfill_contact_rollups`] counts the queue
//! down in batches through `StatisticsStore::backfill_contact_rollups`,
//! whose transaction deletes each batch's ids and counts exactly those —
//! so it is idempotent, resumable after a crash at any point, and safe to
//! run on several nodes at once (no contact is counted twice, none is
//! skipped). Intake counts new contacts itself and never queues them.
//!
//! **When it runs: in `serve`, once, as a background job started with the
//! others** ([`Kirjuri::start_backfill`]). Not at `Kirjuri::open`, which
//! every command shares — a `kirjuri doctor` or `hold list` should not
//! wait while millions of old contacts are counted; not as a subcommand,
//! which an operator would have to know to run while the reports stayed
//! silently low. In `serve` it finishes on the first start after the
//! upgrade (or continues on the next, if stopped between batches) and
//! afterwards costs one query that finds the queue empty. No lease: the
//! delete is the marker, so two nodes only share the work.
//!
//! Logs carry counts only.

use crate::app::{Background, Kirjuri};
use crate::error::Result;

/// Contacts counted in one transaction: small enough that a batch never
/// holds SQLite's write lock for long, large enough that ten million take
/// ten thousand transactions.
pub const BATCH: u32 = 1000;

impl Kirjuri {
    /// Counts every contact still waiting to be counted, `BATCH` at a time,
    /// until none is left or `stop` says so (checked between batches).
    /// Returns how many this call counted.
    pub async fn backfill_contact_rollups(&self, stop: impl Fn() -> bool) -> Result<u64> {
        let mut counted = 0;
        while !stop() {
            let n = self.store.backfill_contact_rollups(BATCH).await?;
            // Nothing taken: the queue is empty — or another node's batch
            // took these ids and has not committed yet, so look again.
            if n == 0 && self.store.contact_rollup_backlog().await? == 0 {
                break;
            }
            counted += n;
        }
        Ok(counted)
    }

    /// Runs [`Kirjuri::backfill_contact_rollups`] once in the background;
    /// stopping the handle stops it after the batch in hand.
    pub fn start_backfill(&self) -> Background {
        let app = self.clone();
        Background::spawn(move |stop| async move {
            match app.backfill_contact_rollups(|| stop.is_cancelled()).await {
                Ok(0) => {}
                Ok(counted) => {
                    tracing::info!(
                        counted,
                        "counted earlier contacts into the statistics' roll-ups"
                    );
                }
                Err(e) => {
                    tracing::error!(error = ?e, "counting earlier contacts into the roll-ups failed; the next start continues");
                }
            }
        })
    }
}
