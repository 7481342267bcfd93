//! A contact (docs/requirements.md REG-1): what arrives (`ContactInput`, exactly the JSON
//! of the README's "A contact", unknown fields refused), and what is kept and returned
//! (`ContactDocument`, the same shape with identifiers normalised).
//!
//! Validation happens once, in [`ContactInput::validate`]; everything past it
//! holds parsed values. A withheld caller number (REG-2) is dropped here, so no
//! later layer can store, index, return or log it. This module knows nothing of
//! encryption or storage.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::email::EmailAddress;
use crate::error::{Error, Result};
use crate::name::normalise_name;
use crate::phone::PhoneNumber;
use crate::property_id::PropertyId;
use crate::username::UserName;

/// How the customer reached (or was reached by) the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Inbound phone call.
    CallIn,
    /// Outbound phone call.
    CallOut,
    /// Chat.
    Chat,
    /// Email.
    Email,
    /// Web form.
    Form,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 5] = [
        Channel::CallIn,
        Channel::CallOut,
        Channel::Chat,
        Channel::Email,
        Channel::Form,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::CallIn => "call_in",
            Channel::CallOut => "call_out",
            Channel::Chat => "chat",
            Channel::Email => "email",
            Channel::Form => "form",
        }
    }

    /// Calls carry one WAV recording (REG-3); other channels do not.
    pub fn carries_recording(self) -> bool {
        matches!(self, Channel::CallIn | Channel::CallOut)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| Error::Unknown {
                kind: "channel",
                name: s.chars().take(40).collect(),
            })
    }
}

/// Longest accepted contact duration; anything longer is a clock error upstream.
const MAX_DURATION: TimeDelta = TimeDelta::days(2);
/// Limits on free-text fields, in characters.
const MAX_SHORT: usize = 200;
const MAX_ADDRESS: usize = 500;
const MAX_TEXT: usize = 20_000;

/// The customer, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// Name as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone number; E.164 once validated. Absent when withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The caller withheld their number (REG-2): only this flag is kept.
    #[serde(default)]
    pub phone_withheld: bool,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Language of service, e.g. `fi`, `sv`, `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// Someone acting for the customer, e.g. a property manager.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPerson {
    /// Name (person or organisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone number; E.164 once validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// Account, billing and payment data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The utility's customer number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_number: Option<String>,
    /// Billing details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<String>,
    /// Payment status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<String>,
}

/// The property the contact is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Property {
    /// Property name, e.g. a housing company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Property ID (kiinteistötunnus); canonical `NNN-NNN-NNNN-NNNN` once validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_id: Option<String>,
    /// Property type, e.g. `apartment_building`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Connection data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// Further details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// A contact exactly as the README's JSON: what integrations send, and — after
/// [`ContactInput::validate`] — what is sealed and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// The delivering system's id; repeating it returns the existing contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Channel.
    pub channel: Channel,
    /// When the contact started (RFC 3339 with offset).
    pub started_at: DateTime<FixedOffset>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<FixedOffset>>,
    /// Service (queue) it was directed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The agent (account name) who handled it.
    pub agent: String,
    /// What the customer gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    /// A contact person acting for the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_person: Option<ContactPerson>,
    /// Account / billing / payment status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
    /// The property concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<Property>,
    /// What the contact was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_content: Option<String>,
}

/// The validated, normalised contact document that is sealed at rest.
pub type ContactDocument = ContactInput;

/// The normalised identifiers of a contact, for the blind indexes. Holds
/// personal data: never log it; Debug is redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Identifiers {
    /// E.164 phone numbers (customer and contact person).
    pub phones: Vec<String>,
    /// Email addresses in index form.
    pub emails: Vec<String>,
    /// Property IDs in canonical form.
    pub property_ids: Vec<String>,
    /// Customer numbers, trimmed.
    pub customer_numbers: Vec<String>,
    /// Normalised names (customer and contact person).
    pub names: Vec<String>,
}

impl fmt::Debug for Identifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identifiers(<redacted>)")
    }
}

/// A contact that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidContact {
    /// The normalised document.
    pub document: ContactDocument,
    /// The agent, parsed.
    pub agent: UserName,
    /// Identifiers to index.
    pub identifiers: Identifiers,
}

impl ValidContact {
    /// Length of the contact in milliseconds, when its end is known.
    pub fn duration_ms(&self) -> Option<u64> {
        duration_ms(&self.document)
    }
}

/// Length of a contact in milliseconds, when its end is known.
pub fn duration_ms(document: &ContactDocument) -> Option<u64> {
    let ended = document.ended_at?;
    u64::try_from((ended - document.started_at).num_milliseconds()).ok()
}

impl ContactInput {
    /// Parses a contact from JSON. Unknown fields are refused; the error says
    /// which field is wrong without echoing the value.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let contact: Self = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            Error::InvalidContact(describe_json_error(e.inner(), &path))
        })?;
        deserializer
            .end()
            .map_err(|e| Error::InvalidContact(describe_json_error(&e, ".")))?;
        Ok(contact)
    }

    /// Validates every field, normalises identifiers, drops a withheld number.
    pub fn validate(mut self) -> Result<ValidContact> {
        let mut ids = Identifiers::default();
        if let Some(external_id) = &self.external_id {
            check_token(external_id, "external_id", MAX_SHORT)?;
        }
        let agent = UserName::parse(&self.agent, "agent")?;
        if let Some(ended_at) = self.ended_at {
            let length = ended_at - self.started_at;
            if length < TimeDelta::zero() {
                return Err(invalid("ended_at is before started_at"));
            }
            if length > MAX_DURATION {
                return Err(invalid(
                    "the contact lasts more than two days; check ended_at",
                ));
            }
        }
        if let Some(service) = &self.service {
            check_service(service)?;
        }
        if let Some(customer) = &mut self.customer {
            check_text(&customer.name, "customer.name", MAX_SHORT, false)?;
            if customer.phone_withheld {
                // REG-2: accepted in the request, then gone before anything keeps it.
                customer.phone = None;
            }
            if let Some(phone) = &customer.phone {
                let phone = PhoneNumber::parse(phone, "customer.phone")?;
                ids.phones.push(phone.e164().to_owned());
                customer.phone = Some(phone.e164().to_owned());
            }
            if let Some(email) = &customer.email {
                let email = EmailAddress::parse(email, "customer.email")?;
                ids.emails.push(email.index_form());
                customer.email = Some(email.as_str().to_owned());
            }
            check_text(&customer.address, "customer.address", MAX_ADDRESS, true)?;
            if let Some(language) = &customer.language {
                let language = language.trim().to_ascii_lowercase();
                if !(2..=3).contains(&language.len())
                    || !language.chars().all(|c| c.is_ascii_lowercase())
                {
                    return Err(invalid(
                        "customer.language must be an ISO 639 code such as fi, sv or en",
                    ));
                }
                customer.language = Some(language);
            }
            if let Some(name) = &customer.name {
                push_name(&mut ids, name);
            }
        }
        if let Some(person) = &mut self.contact_person {
            check_text(&person.name, "contact_person.name", MAX_SHORT, false)?;
            if let Some(phone) = &person.phone {
                let phone = PhoneNumber::parse(phone, "contact_person.phone")?;
                ids.phones.push(phone.e164().to_owned());
                person.phone = Some(phone.e164().to_owned());
            }
            if let Some(name) = &person.name {
                push_name(&mut ids, name);
            }
        }
        if let Some(account) = &mut self.account {
            if let Some(number) = &account.customer_number {
                let number = number.trim();
                if number.is_empty()
                    || number.chars().count() > 64
                    || number.chars().any(char::is_control)
                {
                    return Err(invalid(
                        "account.customer_number must be 1–64 printable characters",
                    ));
                }
                ids.customer_numbers.push(number.to_owned());
                account.customer_number = Some(number.to_owned());
            }
            check_text(&account.billing, "account.billing", MAX_TEXT, true)?;
            check_text(
                &account.payment_status,
                "account.payment_status",
                MAX_SHORT,
                false,
            )?;
        }
        if let Some(property) = &mut self.property {
            check_text(&property.name, "property.name", MAX_SHORT, false)?;
            check_text(&property.address, "property.address", MAX_ADDRESS, true)?;
            if let Some(property_id) = &property.property_id {
                let property_id = PropertyId::parse(property_id, "property.property_id")?;
                ids.property_ids.push(property_id.canonical());
                property.property_id = Some(property_id.canonical());
            }
            check_text(&property.kind, "property.type", MAX_SHORT, false)?;
            check_text(&property.connection, "property.connection", MAX_TEXT, true)?;
            check_text(&property.details, "property.details", MAX_TEXT, true)?;
        }
        check_text(&self.service_content, "service_content", MAX_TEXT, true)?;
        ids.phones.dedup();
        ids.names.dedup();
        Ok(ValidContact {
            document: self,
            agent,
            identifiers: ids,
        })
    }
}

fn push_name(ids: &mut Identifiers, name: &str) {
    let name = normalise_name(name);
    if !name.is_empty() && !ids.names.contains(&name) {
        ids.names.push(name);
    }
}

fn invalid(message: &str) -> Error {
    Error::InvalidContact(message.to_owned())
}

/// Checks a service (queue) name as intake stores it and a search filters
/// on it: 1–200 characters, no control characters or surrounding spaces.
pub fn check_service(value: &str) -> Result<()> {
    check_token(value, "service", MAX_SHORT)
}

/// An identifier-like field: printable, no surrounding whitespace, bounded.
fn check_token(value: &str, field: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.chars().count() > max {
        return Err(Error::InvalidContact(format!(
            "{field} must be 1–{max} characters"
        )));
    }
    if value.chars().any(char::is_control) || value.trim() != value {
        return Err(Error::InvalidContact(format!(
            "{field} must not contain control characters or surrounding spaces"
        )));
    }
    Ok(())
}

/// A free-text field: bounded, no control characters except (when
/// `multiline`) newlines and tabs.
fn check_text(value: &Option<String>, field: &str, max: usize, multiline: bool) -> Result<()> {
    let Some(value) = value else { return Ok(()) };
    if value.chars().count() > max {
        return Err(Error::InvalidContact(format!(
            "{field} is longer than {max} characters"
        )));
    }
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if value.chars().any(bad) {
        return Err(Error::InvalidContact(format!(
            "{field} contains control characters"
        )));
    }
    Ok(())
}

/// Turns a serde error into a message that names the field but never quotes
/// the input (serde's own messages can include the offending value).
///
/// `path` is where in the document the error is (`customer.name`; `.` for
/// the top level), from `serde_path_to_error`: field names, never values.
fn describe_json_error(e: &serde_json::Error, path: &str) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    let at = format!("line {} column {}", e.line(), e.column());
    let field: String = path.chars().take(80).collect();
    let field = if field == "." || field.is_empty() {
        "the contact".to_owned()
    } else {
        field
    };
    match e.classify() {
        Category::Syntax => format!("the body is not valid JSON ({at})"),
        Category::Eof => "the JSON body ends too early".to_owned(),
        Category::Io => "the JSON body could not be read".to_owned(),
        Category::Data => {
            if let Some(unknown) = between(&text, "unknown field `", "`") {
                let unknown: String = unknown.chars().take(40).collect();
                format!(
                    "unknown field '{unknown}' in {field} ({at}); unknown fields are refused, not dropped"
                )
            } else if let Some(missing) = between(&text, "missing field `", "`") {
                format!("missing required field '{missing}' in {field}")
            } else if text.contains("unknown variant") {
                format!(
                    "{field}: unknown value ({at}); channel must be one of call_in, call_out, chat, email, form"
                )
            } else if text.contains("premature end of input")
                || text.contains("input contains invalid characters")
            {
                format!(
                    "{field} is not an RFC 3339 time with an offset, e.g. 2026-11-29T09:15:02+02:00 ({at})"
                )
            } else if text.contains("invalid type") {
                format!("{field} has the wrong type ({at})")
            } else {
                format!("{field} is not valid ({at})")
            }
        }
    }
}

/// The text of `text` between the first `start` and the next `end` (a name
/// serde quotes in its message), for the error messages here and in
/// `transcript`.
pub(crate) fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text.get(from..)?.find(end)?;
    text.get(from..from + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's example contact, shared with the test kit's
    /// `design_example`.
    const EXAMPLE: &str = include_str!("contact/design_example.json");

    #[test]
    fn the_design_example_parses_and_normalises() {
        let contact = ContactInput::from_json(EXAMPLE.as_bytes()).and_then(ContactInput::validate);
        let contact = contact.unwrap();
        let customer = contact.document.customer.as_ref().unwrap();
        assert_eq!(customer.phone.as_deref(), Some("+358401234567"));
        let property = contact.document.property.as_ref().unwrap();
        assert_eq!(property.property_id.as_deref(), Some("091-403-0001-0001"));
        assert_eq!(contact.duration_ms(), Some(278_000));
        assert_eq!(contact.identifiers.phones.len(), 2);
        assert_eq!(
            contact.identifiers.names,
            vec!["matti meikäläinen", "isännöinti oy / liisa"]
        );
    }

    #[test]
    fn a_withheld_number_is_dropped_before_anything_keeps_it() {
        let json = r#"{"channel":"call_in","started_at":"2026-11-29T09:15:02+02:00","agent":"aino",
            "customer":{"phone":"040 765 4321","phone_withheld":true}}"#;
        let contact = ContactInput::from_json(json.as_bytes())
            .and_then(ContactInput::validate)
            .unwrap();
        assert!(contact.identifiers.phones.is_empty());
        let stored = serde_json::to_string(&contact.document).unwrap();
        assert!(!stored.contains("765"), "{stored}");
        assert!(stored.contains("\"phone_withheld\":true"));
    }

    #[test]
    fn unknown_fields_are_refused_and_named() {
        let json = r#"{"channel":"call_in","started_at":"2026-11-29T09:15:02+02:00","agent":"aino","colour":"red"}"#;
        let err = ContactInput::from_json(json.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field 'colour'"), "{err}");
        let nested = r#"{"channel":"call_in","started_at":"2026-11-29T09:15:02+02:00","agent":"aino","customer":{"ssn":"x"}}"#;
        assert!(
            ContactInput::from_json(nested.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("'ssn'")
        );
    }

    #[test]
    fn missing_required_fields_are_named() {
        let json = r#"{"channel":"call_in","agent":"aino"}"#;
        let err = ContactInput::from_json(json.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("started_at"), "{err}");
    }

    #[test]
    fn errors_never_quote_the_rejected_value() {
        let secret = "Salainen Sukunimi 0401112223";
        let cases = [
            format!(
                r#"{{"channel":"{secret}","started_at":"2026-11-29T09:15:02+02:00","agent":"aino"}}"#
            ),
            format!(r#"{{"channel":"call_in","started_at":"{secret}","agent":"aino"}}"#),
            format!(
                r#"{{"channel":"call_in","started_at":"2026-11-29T09:15:02+02:00","agent":"aino","customer":{{"phone":"{secret}"}}}}"#
            ),
            format!(
                r#"{{"channel":"call_in","started_at":"2026-11-29T09:15:02+02:00","agent":"{secret}"}}"#
            ),
            format!(
                r#"{{"channel":"call_in","started_at":"2026-11-29T09:15:02+02:00","agent":"aino","customer":{{"name":5}}, "x":"{secret}"}}"#
            ),
        ];
        for json in cases {
            let err = ContactInput::from_json(json.as_bytes())
                .and_then(ContactInput::validate)
                .unwrap_err();
            let text = err.to_string();
            assert!(
                !text.contains("Salainen") && !text.contains("0401112223"),
                "{text}"
            );
        }
    }

    #[test]
    fn an_end_before_the_start_is_refused() {
        let json = r#"{"channel":"call_in","started_at":"2026-11-29T09:15:02+02:00","ended_at":"2026-11-29T09:15:01+02:00","agent":"aino"}"#;
        assert!(
            ContactInput::from_json(json.as_bytes())
                .and_then(ContactInput::validate)
                .is_err()
        );
    }

    #[test]
    fn control_characters_in_free_text_are_refused() {
        let json = "{\"channel\":\"chat\",\"started_at\":\"2026-11-29T09:15:02+02:00\",\"agent\":\"aino\",\"customer\":{\"name\":\"a\\u0000b\"}}";
        assert!(
            ContactInput::from_json(json.as_bytes())
                .and_then(ContactInput::validate)
                .is_err()
        );
    }

    #[test]
    fn only_calls_carry_recordings() {
        assert!(Channel::CallIn.carries_recording() && Channel::CallOut.carries_recording());
        assert!(!Channel::Chat.carries_recording() && !Channel::Email.carries_recording());
    }
}
