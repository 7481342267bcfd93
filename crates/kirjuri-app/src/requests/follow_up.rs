//! Art. 19 follow-up (issue 13 §6; reference §4 F.34): when a request's
//! rectification, erasure or restriction is carried out, every recipient
//! that earlier received the subject's data through an approved disclosure
//! must be told, unless that proves impossible or involves disproportionate
//! effort — and the controller must be able to show which.
//!
//! **A task is a timeline step.** Executing the action adds, in one save
//! with the request's optimistic version, one `recipient_notification_due`
//! step per `(disclosure, recipient)` that covered the affected contacts
//! (`DisclosureStore::disclosed_recipients`, read *before* an erasure
//! removes the contacts). Closing one adds a `recipient_notification_closed`
//! step naming the task. So the tasks are audited like every other step,
//! travel with the request, and need no table of their own; the list is the
//! fold of the two kinds.
//!
//! **Outcomes.** `notified`, or `impossible` / `disproportionate` with a
//! reason *code* (step facts never hold personal data, so no free text):
//! `recipient_ceased` or `recipient_unreachable` for impossible,
//! `disproportionate_effort` for disproportionate. A task is closed once;
//! a second close is 409 `task_closed`.
//!
//! The subject may ask for the list (Art. 19, second sentence): the API's
//! list names each recipient, its kind and country; the access package's
//! `disclosures.json` already lists them too.

use chrono::{DateTime, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::ids::UserId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::steps::Step;
use super::{Extras, StoredClock};
use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// A task's timeline kind.
pub const TASK: &str = "recipient_notification_due";

/// A task's closing step.
pub const CLOSED: &str = "recipient_notification_closed";

/// The reason codes each outcome takes.
const IMPOSSIBLE: [&str; 2] = ["recipient_ceased", "recipient_unreachable"];
const DISPROPORTIONATE: [&str; 1] = ["disproportionate_effort"];

/// `POST /api/v1/requests/{id}/recipient-tasks/{task}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseTaskInput {
    /// `notified`, `impossible` or `disproportionate`.
    pub outcome: String,
    /// For `impossible` / `disproportionate`: a reason code.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One Art. 19 task, as the registrar (and through them the subject) sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientTask {
    /// The task's id (its step's).
    pub id: Uuid,
    /// The action that made it: `erase`, `rectify` or `restrict`.
    pub after: String,
    /// The disclosure through which the recipient received the data.
    pub disclosure: Uuid,
    /// The recipient.
    pub recipient: Uuid,
    /// Its name, kind and country (from the recipients register).
    pub recipient_name: String,
    /// `processor`, `partner`, `authority` or `police`.
    pub recipient_kind: String,
    /// ISO 3166-1 alpha-2.
    pub recipient_country: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// `open`, `notified`, `impossible` or `disproportionate`.
    pub state: String,
    /// The reason code of an impossible or disproportionate one.
    pub reason: Option<String>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl Kirjuri {
    /// Adds a task per pair of `found` to request `id` after `after` was
    /// carried out; returns the recipients' ids.
    pub(super) async fn queue_recipient_tasks(
        &self,
        actor_id: UserId,
        id: Uuid,
        after: &'static str,
        found: &[(Uuid, Uuid)],
    ) -> Result<Vec<Uuid>> {
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let row = self.request_row(id).await?;
        let clock = StoredClock::load(&row)?;
        let steps = found
            .iter()
            .map(|(recipient, disclosure)| {
                Step::done(
                    TASK,
                    json!({"after": after, "recipient": recipient, "disclosure": disclosure}),
                )
            })
            .collect();
        self.save(
            row,
            &clock,
            self.clock.now(),
            actor_id,
            steps,
            Extras::default(),
        )
        .await?;
        let mut recipients: Vec<Uuid> = Vec::new();
        for (recipient, _) in found {
            if !recipients.contains(recipient) {
                recipients.push(*recipient);
            }
        }
        Ok(recipients)
    }

    /// `GET /api/v1/requests/{id}/recipient-tasks`: the request's Art. 19
    /// tasks, oldest first.
    pub async fn recipient_tasks(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
    ) -> Result<Vec<RecipientTask>> {
        self.require_requests(actor, actor_id, Action::ReadRequests)
            .await?;
        let row = self.request_row(id).await?;
        self.tasks_of(row.id).await
    }

    /// `POST /api/v1/requests/{id}/recipient-tasks/{task}`: closes a task
    /// with its outcome.
    pub async fn close_recipient_task(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
        task: Uuid,
        input: CloseTaskInput,
    ) -> Result<RecipientTask> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        let outcome = input.outcome.trim();
        let allowed: &[&str] = match outcome {
            "notified" => &[],
            "impossible" => &IMPOSSIBLE,
            "disproportionate" => &DISPROPORTIONATE,
            _ => {
                return Err(Error::bad_request(
                    "invalid_outcome",
                    "outcome must be notified, impossible or disproportionate",
                ));
            }
        };
        let reason = input.reason.as_deref().map(str::trim);
        match reason {
            None if !allowed.is_empty() => {
                return Err(Error::Unprocessable {
                    code: "reason_required",
                    message: format!(
                        "an {outcome} task needs a reason: one of {}",
                        allowed.join(", ")
                    ),
                });
            }
            Some(_) if allowed.is_empty() => {
                return Err(Error::bad_request(
                    "invalid_parameter",
                    "a notified task takes no reason",
                ));
            }
            Some(code) if !allowed.contains(&code) => {
                return Err(Error::Unprocessable {
                    code: "invalid_reason",
                    message: format!("the reason must be one of {}", allowed.join(", ")),
                });
            }
            _ => {}
        }
        let row = self.request_row(id).await?;
        let tasks = self.tasks_of(row.id).await?;
        let Some(found) = tasks.into_iter().find(|t| t.id == task) else {
            return Err(Error::NotFound);
        };
        if found.state != "open" {
            return Err(Error::Conflict {
                code: "task_closed",
                message: "this recipient's notification task is closed already".into(),
            });
        }
        let clock = StoredClock::load(&row)?;
        let step = Step::done(
            CLOSED,
            json!({"task": task, "outcome": outcome, "reason": reason}),
        );
        // The request's version guards the close: of two parallel closes
        // one saves, the other gets 409 `request_changed`.
        self.save(
            row,
            &clock,
            self.clock.now(),
            actor_id,
            vec![step],
            Extras::default(),
        )
        .await?;
        let tasks = self.tasks_of(id).await?;
        tasks
            .into_iter()
            .find(|t| t.id == task)
            .ok_or(Error::NotFound)
    }

    /// The fold of request `id`'s task and closing steps.
    async fn tasks_of(&self, id: Uuid) -> Result<Vec<RecipientTask>> {
        let events = self.store.request_events(&id).await?;
        let mut tasks: Vec<RecipientTask> = Vec::new();
        for event in &events {
            if event.kind == TASK {
                let uuid = |key: &str| {
                    event.detail[key]
                        .as_str()
                        .and_then(|s| s.parse::<Uuid>().ok())
                        .unwrap_or_default()
                };
                let recipient = uuid("recipient");
                let (name, kind, country) = match self.store.recipient(&recipient).await? {
                    Some(r) => (r.name, r.kind, r.country),
                    None => (String::new(), String::new(), String::new()),
                };
                tasks.push(RecipientTask {
                    id: event.id,
                    after: event.detail["after"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    disclosure: uuid("disclosure"),
                    recipient,
                    recipient_name: name,
                    recipient_kind: kind,
                    recipient_country: country,
                    created_at: event.at,
                    state: "open".to_owned(),
                    reason: None,
                    closed_at: None,
                });
            } else if event.kind == CLOSED {
                let closes = event.detail["task"]
                    .as_str()
                    .and_then(|s| s.parse::<Uuid>().ok());
                if let Some(task) = tasks.iter_mut().find(|t| Some(t.id) == closes) {
                    task.state = event.detail["outcome"]
                        .as_str()
                        .unwrap_or("notified")
                        .to_owned();
                    task.reason = event.detail["reason"].as_str().map(str::to_owned);
                    task.closed_at = Some(event.at);
                }
            }
        }
        Ok(tasks)
    }
}
