//! What `serve` runs beside the web layer, started with one call
//! ([`Kirjuri::start_jobs`]): start-up recovery and the privacy notice's
//! publication (a new version when the description changed), then the
//! audit checkpointer
//! (AUD-2), periodic recovery under the `recover` lease, the purge job
//! (RET-3), the outbox's delivery job and the one-off count of contacts
//! stored before the statistics' roll-ups (`rollup_backfill`), all behind one [`Jobs`] handle whose `stop` ends them in
//! order — the checkpointer last, so a graceful stop leaves no event
//! unsigned. [`Jobs::stop_by`] bounds that stop by a deadline, so a node
//! whose database or bucket is down still exits (what did not finish is
//! named, and the rest is aborted).
//!
//! Not here: what each job does (`audit_chain`, `app`, `purge`), listening
//! and serving (`kirjuri_web::http::serve`).

use crate::app::Background;
use crate::audit_chain::{AuditChain, start_checkpointer};
use crate::{Kirjuri, outbox, purge};
use tokio::time::Instant;

/// Why [`Kirjuri::start_jobs`] started nothing.
#[derive(Debug, thiserror::Error)]
pub enum StartJobsError {
    /// Cleaning up after processes and nodes that died failed.
    #[error("start-up recovery failed")]
    Recovery(#[source] crate::Error),
    /// The audit signing key could not be opened (or created).
    #[error("failed to open the audit signing key")]
    SigningKey(#[source] crate::Error),
    /// The outbox's senders could not be set up from the configuration.
    #[error("failed to set up the outbox's senders")]
    Outbox(#[source] crate::Error),
    /// The privacy notice's current version could not be published.
    #[error("failed to publish the privacy notice's current version")]
    Notice(#[source] crate::Error),
}

impl Kirjuri {
    /// Runs start-up recovery, then starts `serve`'s background jobs: the
    /// checkpointer (signing while serving and once more when stopped),
    /// periodic recovery, the purge every
    /// `retention.purge_interval_seconds`, and the outbox's delivery job.
    /// Stopping the handle stops them (recovery, purge, delivery, then the
    /// checkpointer); dropping it aborts them.
    pub async fn start_jobs(&self) -> Result<Jobs, StartJobsError> {
        let delivery = outbox::start_job(self.clone()).map_err(StartJobsError::Outbox)?;
        self.recover().await.map_err(StartJobsError::Recovery)?;
        if self
            .publish_notice()
            .await
            .map_err(StartJobsError::Notice)?
        {
            tracing::info!("published a new version of the privacy notice");
        }
        let chain = AuditChain::for_app(self)
            .await
            .map_err(StartJobsError::SigningKey)?;
        let checkpointer = start_checkpointer(chain, self);
        let recovery = self.start_recovery();
        let purge = purge::start_job(self.clone());
        let backfill = self.start_backfill();
        Ok(Jobs {
            in_stop_order: vec![
                ("roll-up backfill", backfill),
                ("periodic recovery", recovery),
                ("purge", purge),
                ("outbox delivery", delivery),
                ("final audit checkpoint", checkpointer),
            ],
        })
    }
}

/// `serve`'s background jobs, named, in the order they stop. Dropping the
/// handle aborts whatever still runs.
#[derive(Debug)]
pub struct Jobs {
    /// Each job with the name a shutdown log line gives it.
    in_stop_order: Vec<(&'static str, Background)>,
}

impl Jobs {
    /// Stops every job in order, waiting as long as each takes.
    pub async fn stop(&self) {
        for (_, job) in &self.in_stop_order {
            job.stop().await;
        }
    }

    /// Stops every job in order, but gives up on waiting at `deadline`: a
    /// job still running then is asked to stop and left to be aborted when
    /// the handle drops. Returns the names of those that did not finish
    /// (the final audit checkpoint among them when the database is gone:
    /// its events stay unsigned until the next start signs them).
    pub async fn stop_by(&self, deadline: Instant) -> Vec<&'static str> {
        let mut unfinished = Vec::new();
        for (name, job) in &self.in_stop_order {
            // `stop` cancels the job before it first waits, so even past the
            // deadline every job is told to stop.
            if tokio::time::timeout_at(deadline, job.stop()).await.is_err() {
                unfinished.push(*name);
            }
        }
        unfinished
    }
}
