//! A chat transcript (REG-3, issue 14 §1): the JSON a chat system delivers
//! for a `chat` contact, parsed strictly and checked against bounds. Pure:
//! it reads bytes it is given and answers a [`Transcript`] or a
//! [`TranscriptError`] whose message names a field and a position, never a
//! word of the conversation.
//!
//! The schema (`docs/transcripts.md` has the full description):
//!
//! ```json
//! {
//!   "participants": [
//!     {"id": "c1", "role": "customer", "name": "Maija Meikäläinen"},
//!     {"id": "a1", "role": "agent", "name": "Aino"}
//!   ],
//!   "messages": [
//!     {"id": "m1", "at": "2026-11-29T09:15:02+02:00", "from": "customer",
//!      "participant": "c1", "text": "Hei, laskussani on virhe.",
//!      "attachments": [{"name": "lasku.pdf", "media_type": "application/pdf", "bytes": 48213}]},
//!     {"at": "2026-11-29T09:15:40+02:00", "from": "agent", "text": "Katson asiaa."}
//!   ]
//! }
//! ```
//!
//! **Decisions.**
//! - *Unknown fields are refused* at every level, as for contacts: a field
//!   we would drop is data the sender believes is kept.
//! - *Bounded*: at most [`MAX_BYTES`] of JSON (the web layer refuses more
//!   with 413 before parsing), [`MAX_MESSAGES`] messages,
//!   [`MAX_TEXT_CHARS`] characters in one message, [`MAX_PARTICIPANTS`]
//!   participants and [`MAX_ATTACHMENTS`] attachments a message; serde_json's
//!   own recursion limit bounds nesting, and no field of the schema nests.
//! - *Messages are in time order* (each `at` no earlier than the one
//!   before): a chat is a sequence, and an export out of order is a broken
//!   export, better refused than shown as a different conversation.
//! - *Participants are optional*; when a message names a `participant`, it
//!   must be declared with the same role. Display names are personal data
//!   and live only inside the sealed transcript.
//! - *Attachments are metadata only* (name, media type, size): their bytes
//!   are not taken in yet.
//! - The stored bytes are the bytes delivered, not a re-serialisation, so
//!   the SHA-256 the sender computed is the one Kirjuri answers.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::contact::between;

/// The largest transcript body accepted, in bytes.
pub const MAX_BYTES: usize = 4 << 20;

/// The most messages one transcript may hold.
pub const MAX_MESSAGES: usize = 10_000;

/// The longest message text, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// The most participants one transcript may declare.
pub const MAX_PARTICIPANTS: usize = 100;

/// The most attachments one message may carry.
pub const MAX_ATTACHMENTS: usize = 20;

/// Longest id (message or participant), in characters.
const MAX_ID_CHARS: usize = 100;

/// Longest display name or attachment name, in characters.
const MAX_NAME_CHARS: usize = 255;

/// Longest media type, in characters (RFC 6838: 127 + `/` + 127).
const MAX_MEDIA_TYPE_CHARS: usize = 255;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The customer (the data subject).
    Customer,
    /// A customer-service agent.
    Agent,
    /// An automated assistant.
    Bot,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
            Role::Bot => "bot",
        }
    }
}

/// Someone taking part in the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// The chat system's id for them within this transcript.
    pub id: String,
    /// Their role.
    pub role: Role,
    /// Display name (personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A file sent in the chat: described, not carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The file's name as sent.
    pub name: String,
    /// Its media type, e.g. `application/pdf`.
    pub media_type: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The chat system's id for the message, unique within the transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When it was sent (RFC 3339 with offset).
    pub at: DateTime<FixedOffset>,
    /// Who sent it.
    pub from: Role,
    /// Which declared participant sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    /// What was written (may be empty when attachments carry the message).
    pub text: String,
    /// Files sent with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A whole chat, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    /// Who took part, by role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Participant>,
    /// The messages, in time order.
    pub messages: Vec<Message>,
}

/// Why a transcript was refused: a stable code and a message that names a
/// field (`messages[3].text`) and never quotes its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TranscriptError {
    /// `invalid_transcript`, or `transcript_too_large` for the size bounds.
    pub code: &'static str,
    /// What is wrong, and where.
    pub message: String,
}

fn invalid(message: impl Into<String>) -> TranscriptError {
    TranscriptError {
        code: "invalid_transcript",
        message: message.into(),
    }
}

impl Transcript {
    /// Parses and validates a delivered transcript.
    pub fn parse(bytes: &[u8]) -> Result<Self, TranscriptError> {
        if bytes.len() > MAX_BYTES {
            return Err(TranscriptError {
                code: "transcript_too_large",
                message: format!("a transcript may be at most {MAX_BYTES} bytes"),
            });
        }
        if std::str::from_utf8(bytes).is_err() {
            return Err(invalid("the transcript is not valid UTF-8"));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let transcript: Self =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
                let path = schema_path(e.path());
                invalid(describe(e.inner(), &path))
            })?;
        deserializer.end().map_err(|e| invalid(describe(&e, ".")))?;
        transcript.validate()?;
        Ok(transcript)
    }

    fn validate(&self) -> Result<(), TranscriptError> {
        if self.participants.len() > MAX_PARTICIPANTS {
            return Err(invalid(format!(
                "a transcript may declare at most {MAX_PARTICIPANTS} participants"
            )));
        }
        if self.messages.is_empty() {
            return Err(invalid("a transcript needs at least one message"));
        }
        if self.messages.len() > MAX_MESSAGES {
            return Err(invalid(format!(
                "a transcript may hold at most {MAX_MESSAGES} messages"
            )));
        }
        let mut participants = std::collections::HashMap::new();
        for (i, participant) in self.participants.iter().enumerate() {
            let field = format!("participants[{i}]");
            check_id(&participant.id, &format!("{field}.id"))?;
            if let Some(name) = &participant.name {
                check_line(name, &format!("{field}.name"), MAX_NAME_CHARS)?;
            }
            if participants
                .insert(participant.id.as_str(), participant.role)
                .is_some()
            {
                return Err(invalid(format!("{field}.id is declared twice")));
            }
        }
        let mut ids = HashSet::new();
        let mut previous: Option<DateTime<FixedOffset>> = None;
        for (i, message) in self.messages.iter().enumerate() {
            let field = format!("messages[{i}]");
            if let Some(id) = &message.id {
                check_id(id, &format!("{field}.id"))?;
                if !ids.insert(id.as_str()) {
                    return Err(invalid(format!(
                        "{field}.id repeats an earlier message's id"
                    )));
                }
            }
            if previous.is_some_and(|p| message.at < p) {
                return Err(invalid(format!(
                    "{field}.at is earlier than the message before it; messages must be in time order"
                )));
            }
            previous = Some(message.at);
            if let Some(participant) = &message.participant {
                match participants.get(participant.as_str()) {
                    None => {
                        return Err(invalid(format!(
                            "{field}.participant names no declared participant"
                        )));
                    }
                    Some(role) if *role != message.from => {
                        return Err(invalid(format!(
                            "{field}.participant is declared with another role than {field}.from"
                        )));
                    }
                    Some(_) => {}
                }
            }
            check_text(&message.text, &format!("{field}.text"))?;
            if message.text.trim().is_empty() && message.attachments.is_empty() {
                return Err(invalid(format!("{field} has neither text nor attachments")));
            }
            if message.attachments.len() > MAX_ATTACHMENTS {
                return Err(invalid(format!(
                    "{field} has more than {MAX_ATTACHMENTS} attachments"
                )));
            }
            for (j, attachment) in message.attachments.iter().enumerate() {
                let field = format!("{field}.attachments[{j}]");
                check_line(&attachment.name, &format!("{field}.name"), MAX_NAME_CHARS)?;
                check_media_type(&attachment.media_type, &format!("{field}.media_type"))?;
            }
        }
        Ok(())
    }
}

/// An id: 1–100 characters, no control characters or surrounding spaces.
fn check_id(value: &str, field: &str) -> Result<(), TranscriptError> {
    if value.is_empty() || value.chars().count() > MAX_ID_CHARS {
        return Err(invalid(format!(
            "{field} must be 1–{MAX_ID_CHARS} characters"
        )));
    }
    if value.chars().any(char::is_control) || value.trim() != value {
        return Err(invalid(format!(
            "{field} must not contain control characters or surrounding spaces"
        )));
    }
    Ok(())
}

/// A one-line text: bounded, not blank, no control characters.
fn check_line(value: &str, field: &str, max: usize) -> Result<(), TranscriptError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(invalid(format!("{field} must be 1–{max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!("{field} contains control characters")));
    }
    Ok(())
}

/// A message's text: bounded, no control characters but newlines and tabs.
fn check_text(value: &str, field: &str) -> Result<(), TranscriptError> {
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(TranscriptError {
            code: "transcript_too_large",
            message: format!("{field} is longer than {MAX_TEXT_CHARS} characters"),
        });
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid(format!("{field} contains control characters")));
    }
    Ok(())
}

/// `type/subtype`, RFC 6838's restricted names, optional parameters not allowed.
fn check_media_type(value: &str, field: &str) -> Result<(), TranscriptError> {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, '!' | '#' | '$' | '&' | '-' | '^' | '_' | '.' | '+')
            })
    };
    let ok = value.len() <= MAX_MEDIA_TYPE_CHARS
        && value
            .split_once('/')
            .is_some_and(|(kind, sub)| token(kind) && token(sub));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field} must be a media type such as application/pdf"
        )))
    }
}

/// The schema's own field names: the only keys a message may repeat.
const FIELDS: [&str; 12] = [
    "participants",
    "messages",
    "attachments",
    "id",
    "role",
    "name",
    "at",
    "from",
    "participant",
    "text",
    "media_type",
    "bytes",
];

/// Where an error is (`messages[3].text`), written with the schema's field
/// names only: a key the sender invented is left out, since it could be
/// anything, personal data included.
fn schema_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if let Some(known) = FIELDS.iter().find(|f| **f == key) {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(known);
                } else {
                    break;
                }
            }
            Segment::Unknown => break,
        }
    }
    out
}

/// A serde error as a message naming the field and position, never the
/// input (serde's own messages may quote the offending value).
fn describe(e: &serde_json::Error, path: &str) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    let at = format!("line {} column {}", e.line(), e.column());
    let field: String = path.chars().take(80).collect();
    let field = if field == "." || field.is_empty() {
        "the transcript".to_owned()
    } else {
        field
    };
    match e.classify() {
        Category::Syntax if text.contains("recursion limit") => {
            format!("the transcript nests too deeply ({at})")
        }
        Category::Syntax => format!("the transcript is not valid JSON ({at})"),
        Category::Eof => "the transcript's JSON ends too early".to_owned(),
        Category::Io => "the transcript could not be read".to_owned(),
        Category::Data => {
            if text.contains("unknown field `") {
                format!(
                    "an unknown field in {field} ({at}); unknown fields are refused, not dropped"
                )
            } else if let Some(missing) = between(&text, "missing field `", "`") {
                format!("missing required field '{missing}' in {field}")
            } else if text.contains("unknown variant") {
                format!(
                    "{field}: unknown value ({at}); from and role must be one of customer, agent, bot"
                )
            } else if text.contains("premature end of input")
                || text.contains("input contains invalid characters")
                || text.contains("input is out of range")
                || text.contains("trailing input")
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Sateenkaarikissa";

    fn message(at: &str, from: &str, text: &str) -> serde_json::Value {
        serde_json::json!({"at": at, "from": from, "text": text})
    }

    fn parse(value: &serde_json::Value) -> Result<Transcript, TranscriptError> {
        Transcript::parse(&serde_json::to_vec(value).unwrap())
    }

    #[test]
    fn a_full_transcript_parses_with_participants_ids_and_attachments() {
        let transcript = parse(&serde_json::json!({
            "participants": [
                {"id": "c1", "role": "customer", "name": "Maija"},
                {"id": "a1", "role": "agent"}
            ],
            "messages": [
                {"id": "m1", "at": "2026-11-29T09:15:02+02:00", "from": "customer", "participant": "c1",
                 "text": "Hei", "attachments": [{"name": "lasku.pdf", "media_type": "application/pdf", "bytes": 10}]},
                {"id": "m2", "at": "2026-11-29T09:15:40+02:00", "from": "agent", "participant": "a1", "text": "Moi"}
            ]
        }))
        .unwrap();
        assert_eq!(transcript.messages.len(), 2);
        assert_eq!(transcript.messages[0].attachments[0].bytes, 10);
        assert_eq!(transcript.participants[1].role, Role::Agent);
    }

    #[test]
    fn refusals_name_the_field_and_never_quote_the_text() {
        let cases = [
            serde_json::json!({"messages": [message("2026-11-29T09:15:02+02:00", "customer", SECRET)], "extra": SECRET}),
            serde_json::json!({"messages": [{"at": "2026-11-29T09:15:02+02:00", "from": "customer", "text": SECRET, SECRET: 1}]}),
            serde_json::json!({"messages": [message(SECRET, "customer", SECRET)]}),
            serde_json::json!({"messages": [message("2026-11-29T09:15:02+02:00", SECRET, SECRET)]}),
            serde_json::json!({"messages": [{"at": "2026-11-29T09:15:02+02:00", "from": "customer", "text": [SECRET]}]}),
            serde_json::json!({"messages": [message("2026-11-29T09:15:02+02:00", "customer", &format!("{SECRET}\u{7}"))]}),
            serde_json::json!({"messages": [message("2026-11-29T09:15:02+02:00", "customer", &SECRET.repeat(2000))]}),
            serde_json::json!({"messages": []}),
            serde_json::json!({"messages": [
                message("2026-11-29T09:15:02+02:00", "customer", SECRET),
                message("2026-11-29T09:15:01+02:00", "agent", SECRET)]}),
            serde_json::json!({"messages": [{"at": "2026-11-29T09:15:02+02:00", "from": "customer", "participant": SECRET, "text": SECRET}]}),
            serde_json::json!({"participants": [{"id": "a", "role": "agent"}],
                "messages": [{"at": "2026-11-29T09:15:02+02:00", "from": "customer", "participant": "a", "text": SECRET}]}),
            serde_json::json!({"messages": [{"at": "2026-11-29T09:15:02+02:00", "from": "customer", "text": "",
                "attachments": [{"name": "x", "media_type": SECRET, "bytes": 1}]}]}),
        ];
        for case in cases {
            let refused = parse(&case).unwrap_err();
            assert!(
                !refused.message.contains(SECRET) && !refused.message.contains("Sateenkaari"),
                "{case}: {refused:?}"
            );
        }
    }

    #[test]
    fn too_many_messages_broken_json_deep_nesting_and_invalid_utf8_are_refused() {
        let many: Vec<_> = (0..=MAX_MESSAGES)
            .map(|_| message("2026-11-29T09:15:02+02:00", "bot", "a"))
            .collect();
        assert_eq!(
            parse(&serde_json::json!({ "messages": many }))
                .unwrap_err()
                .code,
            "invalid_transcript"
        );
        assert!(Transcript::parse(b"{\"messages\": [").is_err());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let nested = format!("{{\"messages\": {deep}}}");
        assert!(Transcript::parse(nested.as_bytes()).is_err());
        let mut bad =
            br#"{"messages": [{"at": "2026-11-29T09:15:02+02:00", "from": "bot", "text": "#
                .to_vec();
        bad.extend_from_slice(b"\"\xff\xfe\"}]}");
        assert_eq!(
            Transcript::parse(&bad).unwrap_err().message,
            "the transcript is not valid UTF-8"
        );
        assert_eq!(
            Transcript::parse(&vec![b' '; MAX_BYTES + 1])
                .unwrap_err()
                .code,
            "transcript_too_large"
        );
    }

    #[test]
    fn repeated_message_ids_and_participants_are_refused() {
        let twice = serde_json::json!({"messages": [
            {"id": "m", "at": "2026-11-29T09:15:02+02:00", "from": "bot", "text": "a"},
            {"id": "m", "at": "2026-11-29T09:15:03+02:00", "from": "bot", "text": "b"}]});
        assert!(
            parse(&twice)
                .unwrap_err()
                .message
                .contains("messages[1].id")
        );
        let declared_twice = serde_json::json!({
            "participants": [{"id": "p", "role": "bot"}, {"id": "p", "role": "agent"}],
            "messages": [message("2026-11-29T09:15:02+02:00", "bot", "a")]});
        assert!(parse(&declared_twice).is_err());
    }
}
