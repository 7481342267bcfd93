//! The schemas of the API's bodies and answers in the OpenAPI document,
//! derived (utoipa's `ToSchema`) from types that describe the wire shapes.
//!
//! Why descriptions and not the parsing types themselves: most bodies are
//! parsed by types of `kirjuri-core` and `kirjuri-app`, which know nothing of
//! HTTP or of utoipa (`tests/tidy.rs` keeps it so), and the web layer's own
//! body types hold secrets (`SecretString`) whose shape is a plain string.
//! So each type here states a body's fields as sent, with the same
//! `deny_unknown_fields`; the enumerations of core (channels, roles,
//! purposes) are read from core's own lists where they are built, so they
//! cannot drift. Answers are described by the keys a client can rely on;
//! their inner detail is in the README's API section.
//! Nothing here is ever built: the types exist for their schemas.

#![allow(
    dead_code,
    reason = "the types describe wire shapes for the OpenAPI document and are never built"
)]

use serde::Deserialize;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{ComponentsBuilder, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// The one error shape: `{"error": {"code", "message"}}` (and, for 410,
/// the erased object's `tombstone`).
pub fn error() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "error",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "code",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some("^[a-z0-9_]+$"))
                        .description(Some("A stable machine-readable code, e.g. `not_found`.")),
                )
                .property(
                    "message",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .description(Some("A sentence for people; never quotes personal data.")),
                )
                .property(
                    "tombstone",
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .description(Some("With 410 only: what was erased, when and why.")),
                )
                .required("code")
                .required("message"),
        )
        .required("error")
        .into()
}

/// A string of one of `names` (an enumeration of core, read from its list).
fn names<'a>(names: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .into()
}

/// The channels of a contact (core's `Channel::ALL`).
pub fn channel() -> RefOr<Schema> {
    names(kirjuri_core::contact::Channel::ALL.map(|c| c.as_str()))
}

/// The roles of an account (core's `Role::ALL`).
pub fn role() -> RefOr<Schema> {
    names(kirjuri_core::role::Role::ALL.map(|r| r.as_str()))
}

/// The purposes of a read (core's `Purpose::ALL`).
pub fn purpose() -> RefOr<Schema> {
    names(kirjuri_core::purpose::Purpose::ALL.map(|p| p.as_str()))
}

/// An array of `item`.
pub fn array(item: RefOr<Schema>) -> RefOr<Schema> {
    ArrayBuilder::new().items(item).into()
}

/// An object with the `required` keys, each of any value (an answer whose
/// inner shape the README describes).
pub fn keys(required: &[&str]) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new().schema_type(Type::Object);
    for key in required {
        object = object
            .property(*key, ObjectBuilder::new().schema_type(SchemaType::AnyValue))
            .required(*key);
    }
    object.into()
}

/// Every schema of this file under its name in `components.schemas`.
pub fn register(components: ComponentsBuilder) -> ComponentsBuilder {
    let mut components = components
        .schema("Channel", channel())
        .schema("Role", role())
        .schema("Purpose", purpose());
    macro_rules! add {
        ($($t:ty),* $(,)?) => {
            $( components = components.schema(<$t as ToSchema>::name(), <$t as PartialSchema>::schema()); )*
        };
    }
    add!(
        Contact,
        Customer,
        ContactPerson,
        Account,
        Property,
        Created,
        Acknowledgement,
        Login,
        PasswordChange,
        TotpBegin,
        TotpConfirm,
        NewToken,
        NewUser,
        UserChange,
        Hold,
        HoldQuery,
        Lift,
        Review,
        Recipient,
        Disclosure,
        Scope,
        Refusal,
        Link,
        Request,
        Identifiers,
        Verification,
        SendTo,
        Transition,
        Extension,
        RefusalProposal,
        ThirdPartyReview,
        Execution,
        TaskOutcome,
        Form,
        Attachment,
        Impact,
    );
    components
}

/// A contact as sent (REG-1); unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// The integration's own id; repeating one answers the existing contact (200).
    external_id: Option<String>,
    #[schema(schema_with = channel)]
    channel: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    started_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    ended_at: Option<String>,
    service: Option<String>,
    /// The agent's user name.
    agent: String,
    customer: Option<Customer>,
    contact_person: Option<ContactPerson>,
    account: Option<Account>,
    property: Option<Property>,
    service_content: Option<String>,
}

/// The customer of a [`Contact`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    name: Option<String>,
    phone: Option<String>,
    phone_withheld: Option<bool>,
    email: Option<String>,
    address: Option<String>,
    language: Option<String>,
}

/// The contact person of a [`Contact`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPerson {
    name: Option<String>,
    phone: Option<String>,
}

/// The customer account of a [`Contact`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Account {
    customer_number: Option<String>,
    billing: Option<String>,
    payment_status: Option<String>,
}

/// The property of a [`Contact`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Property {
    name: Option<String>,
    address: Option<String>,
    property_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    connection: Option<String>,
    details: Option<String>,
}

/// The id of what was created.
#[derive(Deserialize, ToSchema)]
pub struct Created {
    #[schema(format = "uuid")]
    id: String,
}

/// The acknowledgement of stored content (a recording, transcript or
/// message): the SHA-256 of the bytes as received.
#[derive(Deserialize, ToSchema)]
pub struct Acknowledgement {
    /// Hex.
    sha256: String,
}

/// `POST /api/v1/session`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    name: String,
    password: String,
    /// The current TOTP code, for an account enrolled in TOTP.
    totp: Option<String>,
}

/// `POST /api/v1/session/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/session/totp`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpBegin {
    password: String,
    /// A code of the current TOTP secret, when one is enrolled.
    current_code: Option<String>,
}

/// `POST /api/v1/session/totp/confirm`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirm {
    code: String,
}

/// `POST /api/v1/tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// The caller's own password, again.
    password: String,
    totp: Option<String>,
    label: Option<String>,
    #[schema(minimum = 1)]
    expires_in_days: Option<u32>,
    /// An administrator may issue a token for an integration account.
    user: Option<String>,
}

/// `POST /api/v1/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    #[schema(schema_with = role)]
    role: String,
    /// Without one, a strong password is generated and answered once.
    password: Option<String>,
}

/// `PATCH /api/v1/users/{name}`: any of the fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[schema(schema_with = role)]
    role: Option<String>,
    disabled: Option<bool>,
    /// The signed confidentiality agreement's reference, or null to clear it.
    confidentiality_agreement: Option<String>,
}

/// `POST /api/v1/holds`: exactly one of `contact`, `recording`, `query`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    #[schema(format = "uuid")]
    contact: Option<String>,
    #[schema(format = "uuid")]
    recording: Option<String>,
    query: Option<HoldQuery>,
    ground_kind: Option<String>,
    ground: String,
    owner: String,
    /// `YYYY-MM-DD`.
    #[schema(format = Date)]
    review_by: String,
    #[schema(format = Date)]
    expires_at: Option<String>,
    purpose: Option<String>,
}

/// A hold over every contact of a phone number in a time window.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldQuery {
    phone: String,
    from: String,
    to: String,
}

/// `POST /api/v1/holds/{id}/lift`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lift {
    reason: String,
}

/// `POST /api/v1/holds/{id}/review`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    #[schema(format = Date)]
    review_by: String,
}

/// `POST /api/v1/recipients`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    name: String,
    #[schema(value_type = String, example = "processor")]
    kind: String,
    /// ISO 3166 alpha-2; outside the EU/EEA is refused with 422.
    country: String,
    agreement: Option<String>,
    #[serde(default)]
    purposes: Vec<String>,
}

/// `POST /api/v1/disclosures`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disclosure {
    #[schema(format = "uuid")]
    recipient: String,
    legal_ground: String,
    reference: String,
    scope: Scope,
    categories: Option<Vec<String>>,
    note: Option<String>,
}

/// What a [`Disclosure`] covers.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    contacts: Vec<String>,
}

/// `POST /api/v1/disclosures/{id}/refuse`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    reason: String,
}

/// `POST /api/v1/disclosures/{id}/link` (the body is optional).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    #[schema(minimum = 1)]
    days: Option<u32>,
}

/// `POST /api/v1/requests`: a data-subject request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `access`, `rectification`, `erasure`, `restriction`, `objection`,
    /// `portability`, `information`.
    types: Vec<String>,
    /// `web`, `in_person`, `phone`, `letter`.
    channel: String,
    /// `fi`, `sv`, `en`.
    language: String,
    identifiers: Option<Identifiers>,
    #[serde(default)]
    objection_purposes: Vec<String>,
    /// RFC 3339; default now.
    received_at: Option<String>,
    name: Option<String>,
    description: Option<String>,
}

/// The identifiers a data-subject request names.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Identifiers {
    #[serde(default)]
    phone: Vec<String>,
    #[serde(default)]
    email: Vec<String>,
    #[serde(default)]
    customer_number: Vec<String>,
    #[serde(default)]
    property_id: Vec<String>,
}

/// `POST /api/v1/requests/{id}/verification`: in person (a document), or
/// a one-time code sent (`send_to`) and then given (`code`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    method: String,
    document_type: Option<String>,
    document_last4: Option<String>,
    send_to: Option<SendTo>,
    code: Option<String>,
    assertion: Option<String>,
}

/// Where a one-time code goes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendTo {
    /// `phone` or `email`.
    kind: String,
    value: String,
}

/// `POST /api/v1/requests/{id}/transition`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    transition: String,
}

/// `POST /api/v1/requests/{id}/extension`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    #[schema(minimum = 0)]
    months: u32,
    reason: String,
}

/// `POST /api/v1/requests/{id}/refusal`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefusalProposal {
    ground: String,
    reasoning: String,
}

/// `POST /api/v1/requests/{id}/third-party-review`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThirdPartyReview {
    decision: String,
    note: String,
}

/// `POST /api/v1/requests/{id}/execute`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    /// `restrict`, `object`, `erase`, `rectify`, …
    action: String,
    #[schema(format = "uuid")]
    contact: Option<String>,
    /// A rectification's changes: `customer`, `contact_person`, `account`,
    /// `property`, each of the contact's fields.
    #[schema(value_type = Option<Object>)]
    changes: Option<String>,
    purpose: Option<String>,
    grounds: Option<String>,
}

/// `POST /api/v1/requests/{id}/recipient-tasks/{task}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskOutcome {
    /// `notified`, `impossible`, `disproportionate`.
    outcome: String,
    reason: Option<String>,
}

/// `POST /api/v1/forms`: a web form delivered by the utility's own site.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Form {
    external_id: String,
    #[schema(format = DateTime)]
    submitted_at: String,
    service: String,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    customer_number: Option<String>,
    message: String,
    language: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

/// One attachment of a [`Form`], base64.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    name: String,
    media_type: String,
    content_base64: String,
}

/// `POST /api/v1/incidents/{id}/impact`: what a breach touched.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Impact {
    from: Option<String>,
    to: Option<String>,
    user: Option<String>,
    #[serde(default)]
    contacts: Vec<String>,
    #[serde(default)]
    objects: Vec<String>,
    #[serde(default)]
    disclosures: Vec<String>,
}
