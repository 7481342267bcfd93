//! Operational metrics for `GET /metrics` (Prometheus/OpenMetrics text):
//! what the process counts as it works — requests by route template,
//! method and status class, intake bytes per kind, the purge's progress —
//! and what is read from the database at each scrape — the audit log's
//! length and its last checkpoint's age, the outbox's depth by state and
//! kind — with uptime and build information.
//!
//! **No personal data in any label.** Every label value comes from a fixed
//! vocabulary: a route *template* (`/api/v1/contacts/{id}`, never the
//! concrete path), a method from a closed list, a status class (`2xx`), an
//! object kind or outbox kind (validated names the code chose), an outbox
//! state. A path the router does not know is counted as `unmatched`.
//! `tests/api/metrics.rs` sends identifiers, phone numbers and ids in
//! paths and scans the output for them.
//!
//! Who may read them is the access decision's (`Action::ReadMetrics`:
//! maintainers and administrators); a refusal is audited like any other.
//! Not here: the HTTP route (`kirjuri_web::http::metrics`).

use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::ids::UserId;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::Kirjuri;
use crate::error::{Error, Result};

/// Labels of a served request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route template, or `unmatched`.
    route: String,
    /// The method, from a closed list (`other` for the rest).
    method: &'static str,
    /// `1xx` … `5xx`.
    status: &'static str,
}

/// A kind of stored object or outbox message.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    /// The kind's name as the code defines it.
    kind: String,
}

/// An outbox message's state and kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    /// `queued`, `sending`, `sent` or `failed`.
    state: String,
    /// The message's kind.
    kind: String,
}

/// The process's metrics; one per app, shared by its clones.
#[derive(Debug)]
pub struct Metrics {
    /// Every metric below, registered once.
    registry: Registry,
    /// Requests served.
    requests: Family<RequestLabels, Counter>,
    /// Plaintext bytes taken in and stored, per object kind.
    intake_bytes: Family<KindLabels, Counter>,
    /// Scheduled purge runs finished.
    purge_runs: Counter,
    /// Items the purge destroyed, per kind (`contact` included).
    purge_destroyed: Family<KindLabels, Counter>,
    /// Purge steps that failed (retried by the next run).
    purge_failures: Counter,
    /// Events in the audit log (read at each scrape).
    audit_events: Counter<u64, AtomicU64>,
    /// Seconds since the last signed audit checkpoint (read at each
    /// scrape); -1 when none has been signed.
    checkpoint_age: Gauge,
    /// Events not yet covered by a signed checkpoint.
    audit_unsigned: Gauge,
    /// Outbox messages per state and kind (read at each scrape).
    outbox: Family<OutboxLabels, Gauge>,
    /// Seconds since this process opened the app.
    uptime: Gauge,
    /// When this process opened the app.
    started_at: DateTime<Utc>,
    /// Scrapes refresh the database-read values one at a time, so two at
    /// once never interleave a clear and a fill.
    scrape: tokio::sync::Mutex<()>,
}

impl Metrics {
    /// Registers every metric; `started_at` is the process's start.
    pub fn new(started_at: DateTime<Utc>) -> Self {
        let mut registry = Registry::with_prefix("kirjuri");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status class",
            requests.clone(),
        );
        let intake_bytes = Family::<KindLabels, Counter>::default();
        registry.register(
            "intake_bytes",
            "Plaintext bytes received and stored, by object kind",
            intake_bytes.clone(),
        );
        let purge_runs = Counter::default();
        registry.register(
            "purge_runs",
            "Scheduled purge runs finished by this process",
            purge_runs.clone(),
        );
        let purge_destroyed = Family::<KindLabels, Counter>::default();
        registry.register(
            "purge_destroyed",
            "Items destroyed by this process's purge runs, by kind",
            purge_destroyed.clone(),
        );
        let purge_failures = Counter::default();
        registry.register(
            "purge_failures",
            "Purge steps that failed (the next run retries them)",
            purge_failures.clone(),
        );
        let audit_events = Counter::<u64, AtomicU64>::default();
        registry.register(
            "audit_events",
            "Events appended to the audit log (all processes; read from the database)",
            audit_events.clone(),
        );
        let checkpoint_age = Gauge::default();
        registry.register(
            "audit_checkpoint_age_seconds",
            "Seconds since the last signed audit checkpoint; -1 when there is none",
            checkpoint_age.clone(),
        );
        let audit_unsigned = Gauge::default();
        registry.register(
            "audit_unsigned_events",
            "Audit events not yet covered by a signed checkpoint",
            audit_unsigned.clone(),
        );
        let outbox = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "outbox_messages",
            "Outbox messages by state and kind (read from the database)",
            outbox.clone(),
        );
        let uptime = Gauge::default();
        registry.register(
            "uptime_seconds",
            "Seconds since this process started",
            uptime.clone(),
        );
        registry.register(
            "build",
            "The running build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Self {
            registry,
            requests,
            intake_bytes,
            purge_runs,
            purge_destroyed,
            purge_failures,
            audit_events,
            checkpoint_age,
            audit_unsigned,
            outbox,
            uptime,
            started_at,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts a served request. `route` must be a route template (or
    /// `None` for a path no route matched) — never a concrete path.
    pub fn request(&self, route: Option<&str>, method: &str, status: u16) {
        let method = match method {
            "GET" => "GET",
            "HEAD" => "HEAD",
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels {
                route: route.unwrap_or("unmatched").to_owned(),
                method,
                status,
            })
            .inc();
    }

    /// Counts `bytes` of a stored object of `kind` (a kind name the code
    /// defines, such as `recording`).
    pub fn intake(&self, kind: &str, bytes: u64) {
        self.intake_bytes
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc_by(bytes);
    }

    /// Counts a finished purge run's destroyed items and failed steps.
    pub fn purged(&self, report: &crate::purge::PurgeReport) {
        self.purge_runs.inc();
        for (kind, n) in &report.counts {
            self.purge_destroyed
                .get_or_create(&KindLabels { kind: kind.clone() })
                .inc_by(*n);
        }
        self.purge_failures.inc_by(report.failures.len() as u64);
    }
}

impl Kirjuri {
    /// The metrics as OpenMetrics text, for a caller the access decision
    /// lets read them (a refusal is audited). The values kept in the
    /// database are read now; a database that is down is an error (503),
    /// not a page of stale numbers.
    pub async fn metrics_text(&self, actor: &Actor, actor_id: UserId) -> Result<String> {
        self.authorize_register(actor, actor_id, Action::ReadMetrics, None)
            .await?;
        let metrics = &self.metrics;
        let _one_at_a_time = metrics.scrape.lock().await;
        let now = self.clock.now();
        let head = u64::try_from(self.store.audit_head().await?).unwrap_or(0);
        let checkpoint = self.store.latest_audit_checkpoint().await?;
        let depth = self.store.outbox_depth().await?;
        // A counter only goes up; another node's appends raise it too.
        let counted = metrics.audit_events.get();
        if head > counted {
            metrics.audit_events.inc_by(head - counted);
        }
        match &checkpoint {
            Some(row) => {
                metrics
                    .checkpoint_age
                    .set((now - row.created_at).num_seconds().max(0));
                metrics
                    .audit_unsigned
                    .set(i64::try_from(head.saturating_sub(row.size)).unwrap_or(i64::MAX));
            }
            None => {
                metrics.checkpoint_age.set(-1);
                metrics
                    .audit_unsigned
                    .set(i64::try_from(head).unwrap_or(i64::MAX));
            }
        }
        metrics.outbox.clear();
        for (state, kind, n) in depth {
            metrics
                .outbox
                .get_or_create(&OutboxLabels {
                    state: state.as_str().to_owned(),
                    kind,
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        metrics
            .uptime
            .set((now - metrics.started_at).num_seconds().max(0));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry)
            .map_err(|_| Error::Internal("failed to encode the metrics"))?;
        Ok(text)
    }
}
