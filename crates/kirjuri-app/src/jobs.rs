//! What `serve` runs beside the web layer, started with one call
//! ([`Kirjuri::start_jobs`]): start-up recovery and the privacy notice's
//! publication (a new version when the description changed), then the
//! audit checkpointer
//! (AUD-2), periodic recovery under the `recover` lease, the purge job
//! (RET-3) and the outbox's delivery job, all behind one [`Background`] handle whose `stop` ends them in
//! order — the checkpointer last, so a graceful stop leaves no event
//! unsigned.
//!
//! Not here: what each job does (`audit_chain`, `app`, `purge`), listening
//! and serving (`kirjuri_web::http::serve`).

use crate::app::Background;
use crate::audit_chain::{AuditChain, start_checkpointer};
use crate::{Kirjuri, outbox, purge};

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
    pub async fn start_jobs(&self) -> Result<Background, StartJobsError> {
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
        Ok(Background::spawn(move |stop| async move {
            stop.cancelled().await;
            recovery.stop().await;
            purge.stop().await;
            delivery.stop().await;
            checkpointer.stop().await;
        }))
    }
}
