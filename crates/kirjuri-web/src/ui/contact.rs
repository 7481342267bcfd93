//! The contact page (REG-1, issue 4): every field as stored, identifiers in
//! their normalised form, times, duration, each stored object's retention
//! deadline, the recording's format and sha256, the player — and, for those
//! the access decision lets read the audit log (supervisors, registrars),
//! who has accessed this contact and why. For those who may see retention
//! (registrars, supervisors, administrators) it also lists the tombstones of
//! what was destroyed and the legal holds on the contact (RET-1…RET-3); an
//! erased contact shows its tombstone instead of its fields.
//!
//! The contact is read through `Kirjuri::read_contact` with the session's
//! purpose, so the read is authorised and audited like any API read; another
//! agent's contact answers exactly as a missing one does, and the page says
//! "not found or not yours" without telling which.
//!
//! The player's `<audio>` plays `/api/v1/contacts/{id}/recording/playback`
//! (16-bit PCM any browser can play; `Range` for seeking, each request
//! audited), draws the waveform from `…/recording/peaks`, and offers the
//! bit-exact original for download. Purposes and ids are not personal data,
//! so these URLs may carry them.
//!
//! A chat's transcript is shown as the conversation: an ordered list of its
//! messages, each with who wrote it (the role in words, then the name
//! given), when, its text and its attachments' names. It is read through
//! `Kirjuri::read_conversation` with the session's purpose — the purpose
//! chosen before any page shows personal data, as the player's requests
//! carry it — so it is authorised and audited (`transcript.read`) like the
//! API's read.
//!
//! An email's message is shown the same way (`Kirjuri::read_email`,
//! audited as `message.read`): subject, sender, date, then the plain-text
//! body — or, when there is only HTML, that HTML sanitised with every remote
//! reference removed ([`sanitise_html`]) — and its attachments listed by
//! name, type and size; what could not be read is said so.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use kirjuri_core::ids::ContactId;
use kirjuri_core::message::ParsedMessage;
use kirjuri_core::transcript::Transcript;

use super::context::{Frame, Staff, encode_query};
use super::format;
use super::html;
use super::i18n::Tr;
use kirjuri_app::Error;
use kirjuri_app::app::Kirjuri;
use kirjuri_app::audit::{AuditEntry, AuditQuery};
use kirjuri_app::forms::FORM;
use kirjuri_app::messages::MESSAGE;
use kirjuri_app::read::{ContactView, TombstoneView};
use kirjuri_app::transcripts::TRANSCRIPT;

/// Access-log lines shown on the page (the audit view has the rest).
const ACCESS_LINES: u32 = 200;

/// One labelled value.
pub struct Field {
    /// The label.
    pub label: String,
    /// The value ("" shows as a dash).
    pub value: String,
    /// Whether the value is an identifier (shown in a monospace face).
    pub code: bool,
}

/// A group of fields.
pub struct Section {
    /// The heading.
    pub title: String,
    /// Its fields.
    pub fields: Vec<Field>,
}

/// What the player needs.
pub struct Player {
    /// The `<audio>` source.
    pub playback_url: String,
    /// The waveform's peaks.
    pub peaks_url: String,
    /// The bit-exact original.
    pub download_url: String,
    /// 1 or 2.
    pub channels: u16,
    /// Seconds, for the no-JS description.
    pub duration: String,
}

/// One message of a chat, as the conversation shows it.
pub struct Line {
    /// The role in words, and the name given, if any.
    pub who: String,
    /// When, in the page's format.
    pub at: String,
    /// The machine-readable time for `<time datetime>`.
    pub datetime: String,
    /// What was written.
    pub text: String,
    /// Attachments: name, media type and size in words.
    pub attachments: Vec<String>,
}

/// The conversation of a chat transcript, in order.
fn conversation(transcript: &Transcript, t: Tr) -> Vec<Line> {
    let names: std::collections::HashMap<&str, &str> = transcript
        .participants
        .iter()
        .filter_map(|p| p.name.as_deref().map(|n| (p.id.as_str(), n)))
        .collect();
    transcript
        .messages
        .iter()
        .map(|m| {
            let role = t.label("chat_role", m.from.as_str());
            let who = match m.participant.as_deref().and_then(|p| names.get(p)) {
                Some(name) => format!("{role} · {name}"),
                None => role,
            };
            Line {
                who,
                at: format::time_fixed(m.at),
                datetime: m.at.to_rfc3339(),
                text: m.text.clone(),
                attachments: m
                    .attachments
                    .iter()
                    .map(|a| format!("{} ({}, {})", a.name, a.media_type, format::bytes(a.bytes)))
                    .collect(),
            }
        })
        .collect()
}

/// An email message, as the contact page shows it.
pub struct EmailView {
    /// `Subject` ("" when none).
    pub subject: String,
    /// The sender: name and address.
    pub from: String,
    /// `Date`, formatted ("" when none or unreadable).
    pub date: String,
    /// The plain-text body, preferred.
    pub text: Option<String>,
    /// Else the HTML body, sanitised ([`sanitise_html`]).
    pub html: Option<String>,
    /// Attachments: name, media type and size in words.
    pub attachments: Vec<String>,
    /// What in the message could not be read, in words.
    pub flags: Vec<String>,
}

/// An email's HTML made safe to show inside the page: no scripts, styles,
/// forms, frames or event handlers (ammonia's allow-list), and nothing that
/// loads or links anything remote — only `mailto:` links survive, relative
/// URLs and `style` attributes (CSS `url()`) are dropped — so opening a
/// message tells its sender nothing.
pub fn sanitise_html(html: &str) -> String {
    ammonia::Builder::default()
        .url_schemes(std::collections::HashSet::from(["mailto"]))
        .url_relative(ammonia::UrlRelative::Deny)
        .rm_tags(["img"])
        .clean(html)
        .to_string()
}

/// The contact page's view of a parsed message; personal identity codes
/// in its text are masked unless `codes` (registrars, issue 14 §4).
fn email_view(message: &ParsedMessage, t: Tr, codes: bool) -> EmailView {
    let mask = |text: &str| {
        if codes {
            text.to_owned()
        } else {
            kirjuri_core::hetu::mask_all(text)
        }
    };
    let from = match (&message.from_name, &message.from_address) {
        (Some(name), Some(address)) => format!("{name} <{address}>"),
        (Some(one), None) | (None, Some(one)) => one.clone(),
        (None, None) => String::new(),
    };
    EmailView {
        subject: message.subject.clone().unwrap_or_default(),
        from,
        date: message.date.map(format::time_fixed).unwrap_or_default(),
        text: message.text.as_deref().map(mask),
        html: if message.text.is_none() {
            message.html.as_deref().map(|h| mask(&sanitise_html(h)))
        } else {
            None
        },
        attachments: message
            .attachments
            .iter()
            .map(|a| {
                format!(
                    "{} ({}, {})",
                    a.name.as_deref().unwrap_or("—"),
                    a.content_type,
                    format::bytes(a.bytes)
                )
            })
            .collect(),
        flags: message
            .flags
            .iter()
            .map(|f| {
                let name = serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                t.label("email_flag", &name)
            })
            .collect(),
    }
}

/// One access to the contact.
pub struct Access {
    /// When.
    pub at: String,
    /// Who.
    pub who: String,
    /// What.
    pub action: String,
    /// For which purpose.
    pub purpose: String,
    /// Their stated reason, if any.
    pub reason: String,
    /// Allowed or denied.
    pub outcome: String,
}

/// Proof that part of the contact was destroyed.
pub struct Tombstone {
    /// What it was (translated kind).
    pub kind: String,
    /// When its key was destroyed.
    pub deleted_at: String,
    /// The rule that destroyed it.
    pub rule: String,
    /// The digest it had ("" for the contact's own record).
    pub sha256: String,
}

/// A legal hold on the contact.
pub struct Hold {
    /// The hold's id.
    pub id: String,
    /// Its kind of ground (translated).
    pub ground_kind: String,
    /// Its review date.
    pub review_by: String,
    /// Active, or lifted/expired (translated).
    pub state: String,
}

/// A web form's content on the contact page.
pub struct FormSection {
    /// The message, masked as the reader may see it.
    message: String,
    /// Each attachment: its description and its download link.
    attachments: Vec<(String, String)>,
}

/// The contact page.
#[derive(Template)]
#[template(path = "contact.html")]
pub struct ContactPage {
    frame: Frame,
    t: Tr,
    id: String,
    heading: String,
    sections: Vec<Section>,
    player: Option<Player>,
    /// A chat's messages, when it has a transcript.
    conversation: Option<Vec<Line>>,
    /// An email contact's message, when it has one.
    email: Option<EmailView>,
    /// A web form's message (codes masked for all but registrars) and its
    /// attachments, when it has one.
    form: Option<FormSection>,
    accesses: Option<Vec<Access>>,
    accesses_more: bool,
    /// The tombstone of an erased contact (then there are no sections).
    erased: Option<Tombstone>,
    /// Tombstones of destroyed parts, for those who may see retention.
    tombstones: Option<Vec<Tombstone>>,
    /// Legal holds on the contact, for the same.
    holds: Option<Vec<Hold>>,
}

fn field(t: Tr, key: &str, value: impl Into<String>) -> Field {
    Field {
        label: t.t(key).to_owned(),
        value: value.into(),
        code: false,
    }
}

fn code(t: Tr, key: &str, value: impl Into<String>) -> Field {
    Field {
        code: true,
        ..field(t, key, value)
    }
}

fn opt(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// The page's sections for a contact.
pub fn sections(view: &ContactView, t: Tr) -> Vec<Section> {
    let d = &view.document;
    let customer = d.customer.clone().unwrap_or_default();
    let person = d.contact_person.clone().unwrap_or_default();
    let account = d.account.clone().unwrap_or_default();
    let property = d.property.clone().unwrap_or_default();
    let phone = if customer.phone_withheld {
        t.t("contact.withheld").to_owned()
    } else {
        opt(&customer.phone)
    };
    let mut sections = vec![
        Section {
            title: t.t("contact.section_contact").to_owned(),
            fields: vec![
                code(t, "contact.id", view.id.to_string()),
                code(t, "contact.external_id", opt(&d.external_id)),
                field(t, "contact.channel", t.label("channel", d.channel.as_str())),
                field(t, "contact.started_at", format::time_fixed(d.started_at)),
                field(
                    t,
                    "contact.ended_at",
                    d.ended_at.map(format::time_fixed).unwrap_or_default(),
                ),
                field(
                    t,
                    "contact.duration",
                    view.duration_ms
                        .map(format::duration_ms)
                        .unwrap_or_default(),
                ),
                field(t, "contact.service", opt(&d.service)),
                field(t, "contact.agent", d.agent.clone()),
                field(t, "contact.retain_until", format::time(view.retain_until)),
            ],
        },
        Section {
            title: t.t("contact.section_customer").to_owned(),
            fields: vec![
                field(t, "contact.name", opt(&customer.name)),
                code(t, "contact.phone", phone),
                code(t, "contact.email", opt(&customer.email)),
                field(t, "contact.address", opt(&customer.address)),
                field(t, "contact.language", opt(&customer.language)),
            ],
        },
        Section {
            title: t.t("contact.section_person").to_owned(),
            fields: vec![
                field(t, "contact.name", opt(&person.name)),
                code(t, "contact.phone", opt(&person.phone)),
            ],
        },
        Section {
            title: t.t("contact.section_account").to_owned(),
            fields: vec![
                code(t, "contact.customer_number", opt(&account.customer_number)),
                field(t, "contact.billing", opt(&account.billing)),
                field(t, "contact.payment_status", opt(&account.payment_status)),
            ],
        },
        Section {
            title: t.t("contact.section_property").to_owned(),
            fields: vec![
                field(t, "contact.property_name", opt(&property.name)),
                field(t, "contact.address", opt(&property.address)),
                code(t, "contact.property_id", opt(&property.property_id)),
                field(t, "contact.property_type", opt(&property.kind)),
                field(t, "contact.connection", opt(&property.connection)),
                field(t, "contact.details", opt(&property.details)),
            ],
        },
        Section {
            title: t.t("contact.section_content").to_owned(),
            fields: vec![field(t, "contact.service_content", opt(&d.service_content))],
        },
    ];
    if let Some(recording) = &view.recording {
        sections.push(Section {
            title: t.t("contact.section_recording").to_owned(),
            fields: vec![
                field(
                    t,
                    "contact.format",
                    format!(
                        "{}, {} Hz, {} bit, {}",
                        recording.encoding,
                        recording.sample_rate,
                        recording.bits_per_sample,
                        if recording.channels == 2 {
                            t.t("player.stereo")
                        } else {
                            t.t("player.mono")
                        }
                    ),
                ),
                field(
                    t,
                    "contact.duration",
                    format::duration_ms(recording.duration_ms),
                ),
                field(t, "contact.size", format::bytes(recording.bytes)),
                code(t, "contact.sha256", recording.sha256.clone()),
                field(
                    t,
                    "contact.retain_until",
                    format::time(recording.retain_until),
                ),
            ],
        });
    }
    // Every stored part and its own deadline (RET-1).
    let mut retention = vec![Field {
        label: t.label("object", "contact"),
        value: format::time(view.retain_until),
        code: false,
    }];
    retention.extend(view.objects.iter().map(|o| Field {
        label: t.label("object", &o.kind),
        value: format::time(o.retain_until),
        code: false,
    }));
    sections.push(Section {
        title: t.t("contact.section_retention").to_owned(),
        fields: retention,
    });
    sections
}

/// A tombstone as the page shows it.
fn tombstone(view: &TombstoneView, t: Tr) -> Tombstone {
    Tombstone {
        kind: t.label("object", &view.kind),
        deleted_at: format::time(view.deleted_at),
        rule: view.rule.clone(),
        sha256: view.sha256.clone().unwrap_or_default(),
    }
}

/// The page of an erased contact: its tombstone, nothing else.
fn erased_page(staff: &Staff, id: ContactId, tombstone_json: &serde_json::Value) -> Response {
    let t = staff.tr();
    let Ok(view) = serde_json::from_value::<TombstoneJson>(tombstone_json.clone()) else {
        return staff.error(Error::NotFound);
    };
    let view = TombstoneView {
        id: *id.as_uuid(),
        kind: view.kind,
        deleted_at: view.deleted_at,
        rule: view.rule,
        reason: view.reason,
        sha256: view.sha256,
    };
    let mut response = html(&ContactPage {
        frame: staff.frame(),
        t,
        id: id.to_string(),
        heading: t.t("contact.erased_title").to_owned(),
        sections: Vec::new(),
        player: None,
        conversation: None,
        email: None,
        form: None,
        accesses: None,
        accesses_more: false,
        erased: Some(tombstone(&view, t)),
        tombstones: None,
        holds: None,
    });
    *response.status_mut() = axum::http::StatusCode::GONE;
    response
}

/// The tombstone inside a 410's error, read back.
#[derive(serde::Deserialize)]
struct TombstoneJson {
    kind: String,
    deleted_at: chrono::DateTime<chrono::Utc>,
    rule: String,
    reason: String,
    sha256: Option<String>,
}

fn access(entry: &AuditEntry, t: Tr) -> Access {
    let at = chrono::DateTime::parse_from_rfc3339(&entry.at)
        .map(format::time_fixed)
        .unwrap_or_else(|_| entry.at.clone());
    let mut action = t.label("action", &entry.action.replace('.', "_"));
    if entry.action == "recording.read"
        && let Some(range) = entry.details.get("range").and_then(|r| r.as_array())
        && range.len() == 2
    {
        action = format!(
            "{action} ({}–{})",
            range[0].as_u64().unwrap_or(0),
            range[1].as_u64().unwrap_or(0)
        );
    }
    Access {
        at,
        who: entry.actor.clone().unwrap_or_else(|| "—".into()),
        action,
        purpose: entry
            .purpose
            .as_deref()
            .map(|p| t.label("purpose", p))
            .unwrap_or_default(),
        reason: entry
            .details
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or_default()
            .to_owned(),
        outcome: t.label("outcome", &entry.outcome),
    }
}

/// Renders the contact page for `staff` (also the benchmark's entry point).
pub async fn render(app: &Kirjuri, staff: &Staff, id: &str) -> Response {
    let purpose = match staff.require_purpose() {
        Ok(p) => p,
        Err(redirect) => return redirect,
    };
    // A malformed id names nothing: the same answer as a missing contact.
    let Ok(id) = id.parse::<ContactId>() else {
        return staff.error(Error::NotFound);
    };
    let view = match app.read_contact(&staff.actor, staff.id, id, purpose).await {
        Ok(view) => view,
        Err(Error::Gone { tombstone, .. }) => return erased_page(staff, id, &tombstone),
        Err(e) => return staff.error(e),
    };
    let t = staff.tr();
    let purpose_q = encode_query(purpose.as_str());
    let player = view.recording.as_ref().map(|r| Player {
        playback_url: format!("/api/v1/contacts/{id}/recording/playback?purpose={purpose_q}"),
        peaks_url: format!("/api/v1/contacts/{id}/recording/peaks?purpose={purpose_q}"),
        download_url: format!("/api/v1/contacts/{id}/recording?purpose={purpose_q}"),
        channels: r.channels,
        duration: format::duration_ms(r.duration_ms),
    });
    let conversation = if view.objects.iter().any(|o| o.kind == TRANSCRIPT) {
        match app
            .read_conversation(&staff.actor, staff.id, id, purpose)
            .await
        {
            Ok(transcript) => Some(conversation(&transcript, t)),
            Err(e) => return staff.error(e),
        }
    } else {
        None
    };
    let email = if view.objects.iter().any(|o| o.kind == MESSAGE) {
        match app.read_email(&staff.actor, staff.id, id, purpose).await {
            Ok(message) => Some(email_view(
                &message,
                t,
                kirjuri_app::forms::sees_identity_codes(&staff.actor),
            )),
            Err(e) => return staff.error(e),
        }
    } else {
        None
    };
    let form = if view.objects.iter().any(|o| o.kind == FORM) {
        match app.read_form(&staff.actor, staff.id, id, purpose).await {
            Ok(form) => Some(FormSection {
                message: form.message,
                attachments: form
                    .attachments
                    .iter()
                    .map(|a| {
                        (
                            format!("{} ({}, {} B)", a.name, a.media_type, a.bytes),
                            format!(
                                "/api/v1/contacts/{id}/attachments/{}?purpose={purpose_q}",
                                a.object
                            ),
                        )
                    })
                    .collect(),
            }),
            Err(e) => return staff.error(e),
        }
    } else {
        None
    };
    let (accesses, accesses_more) = if staff.may_read_audit() {
        let query = AuditQuery {
            contact: Some(id.to_string()),
            limit: Some(ACCESS_LINES),
            ..AuditQuery::default()
        };
        match app.read_audit(&staff.actor, staff.id, &query).await {
            Ok(page) => (
                Some(page.events.iter().map(|e| access(e, t)).collect()),
                page.next.is_some(),
            ),
            Err(e) => return staff.error(e),
        }
    } else {
        (None, false)
    };
    let heading = format!(
        "{} · {}",
        t.label("channel", view.document.channel.as_str()),
        format::time_fixed(view.document.started_at)
    );
    let tombstones = view
        .tombstones
        .as_ref()
        .map(|list| list.iter().map(|v| tombstone(v, t)).collect());
    let holds = view.holds.as_ref().map(|list| {
        list.iter()
            .map(|h| Hold {
                id: h.id.to_string(),
                ground_kind: t.label("ground_kind", &h.ground_kind),
                review_by: h.review_by.to_string(),
                state: if h.active {
                    t.t("contact.hold_active").to_owned()
                } else {
                    t.t("contact.hold_ended").to_owned()
                },
            })
            .collect()
    });
    html(&ContactPage {
        frame: staff.frame(),
        t,
        id: id.to_string(),
        heading,
        sections: sections(&view, t),
        player,
        conversation,
        email,
        form,
        accesses,
        accesses_more,
        erased: None,
        tombstones,
        holds,
    })
}

/// `GET /contacts/{id}`.
pub async fn page(State(app): State<Kirjuri>, staff: Staff, Path(id): Path<String>) -> Response {
    render(&app, &staff, &id).await
}
