//! Email messages (issue 14 §2): the intake rules an RFC 5322 message must
//! pass before it is stored, and its parsed form for display — sender,
//! subject, date, thread, the plain-text and HTML bodies and the list of
//! attachments. Parsing is `mail-parser`'s (pure, no I/O).
//!
//! **What is refused and what is kept.** A mail server keeps what it can
//! deliver and refuses what is not mail at all. So a message is refused
//! (`invalid_message`) only when it has no header section to speak of (empty,
//! the first line not a header field, a NUL byte among the headers), when a
//! line or the header section is past a bound no mail program writes, or
//! when it has more MIME parts than [`MAX_PARTS`] (a structure bomb). A
//! message without `From`, with an undecodable part (bad base64, an unknown
//! charset) or a multipart whose boundaries do not close is kept bit-exact:
//! what cannot be read is flagged ([`Flag`]) and shown as such, since the
//! bytes are still the evidence of what the customer sent. The refusal's
//! message says what rule was broken and never quotes the message.
//!
//! Not here: storing (`kirjuri_app::messages`), the HTML sanitiser (the web
//! layer, at display), LMTP.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, TimeZone};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders, PartType};
use serde::Serialize;

/// The default largest message, in bytes (25 MiB: what common mail
/// providers accept; a bigger one is refused with 413 and nothing stored).
pub const DEFAULT_MAX_BYTES: usize = 25 << 20;

/// The longest line accepted, in bytes. RFC 5322 allows 998; real mail
/// (HTML generators, base64 without wrapping) breaks that, so the bound is
/// generous, yet no mail program writes a line this long.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The largest header section, in bytes.
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// The most MIME parts a message may have.
pub const MAX_PARTS: usize = 1000;

/// Why a message was refused: a stable code and a message that names the
/// rule, never the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    /// `invalid_message`.
    pub code: &'static str,
    /// What rule it broke.
    pub message: String,
}

fn invalid(message: impl Into<String>) -> MessageError {
    MessageError {
        code: "invalid_message",
        message: message.into(),
    }
}

/// Something in a kept message that could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The header section has no `From`.
    NoFrom,
    /// A part's transfer encoding or charset could not be decoded.
    EncodingProblem,
    /// Neither a text nor an HTML body was found.
    NoBody,
}

/// An attachment, as listed (its bytes stay inside the sealed message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentInfo {
    /// The file name the sender gave, if any.
    pub name: Option<String>,
    /// `type/subtype`.
    pub content_type: String,
    /// Decoded size in bytes.
    pub bytes: u64,
}

/// A parsed message, for display and for the contact it becomes. Holds
/// personal data: never log it.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ParsedMessage {
    /// The `From` address, as written.
    pub from_address: Option<String>,
    /// The `From` display name.
    pub from_name: Option<String>,
    /// `Subject`.
    pub subject: Option<String>,
    /// `Date`, when it parses.
    pub date: Option<DateTime<FixedOffset>>,
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// The thread's first message: the first of `References`, else
    /// `In-Reply-To`, else this message's own id.
    pub thread_root: Option<String>,
    /// The plain-text body (the parts joined), preferred for display.
    pub text: Option<String>,
    /// The HTML body as sent — unsafe until sanitised.
    pub html: Option<String>,
    /// The attachments.
    pub attachments: Vec<AttachmentInfo>,
    /// What could not be read.
    pub flags: Vec<Flag>,
}

impl std::fmt::Debug for ParsedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedMessage")
            .field("attachments", &self.attachments.len())
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

/// An attachment's decoded content, to be stored as its own object. Holds
/// personal data: never log it.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentContent {
    /// The file name the sender gave, if any.
    pub name: Option<String>,
    /// `type/subtype`, as claimed.
    pub content_type: String,
    /// The decoded bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for AttachmentContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AttachmentContent({} bytes)", self.bytes.len())
    }
}

/// A part's `type/subtype`, lower case (`application/octet-stream` when it
/// says none).
fn content_type_of(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        })
        .unwrap_or_else(|| "application/octet-stream".to_owned())
        .to_ascii_lowercase()
}

/// The decoded attachments of a message that [`ParsedMessage::parse`]
/// accepted, in order (an unparseable message has none).
pub fn attachment_contents(raw: &[u8]) -> Vec<AttachmentContent> {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    message
        .attachments()
        .map(|part| AttachmentContent {
            name: part.attachment_name().map(str::to_owned),
            content_type: content_type_of(part),
            bytes: part.contents().to_vec(),
        })
        .collect()
}

impl ParsedMessage {
    /// Checks `raw` against the intake rules and parses it.
    pub fn parse(raw: &[u8]) -> Result<Self, MessageError> {
        check_shape(raw)?;
        let message = MessageParser::default()
            .parse(raw)
            .ok_or_else(|| invalid("the message has no parseable header section"))?;
        if message.parts.len() > MAX_PARTS {
            return Err(invalid(format!(
                "the message has more than {MAX_PARTS} MIME parts"
            )));
        }
        let mut flags = Vec::new();
        let from = message.from().and_then(|a| a.first());
        if from.and_then(|a| a.address()).is_none() {
            flags.push(Flag::NoFrom);
        }
        if message.parts.iter().any(|p| p.is_encoding_problem) {
            flags.push(Flag::EncodingProblem);
        }
        let text = join_bodies(message.text_bodies().filter(|p| !p.is_text_html()));
        let html = join_bodies(message.html_bodies().filter(|p| p.is_text_html()));
        if text.is_none() && html.is_none() {
            flags.push(Flag::NoBody);
        }
        let attachments = message
            .attachments()
            .map(|part| AttachmentInfo {
                name: part.attachment_name().map(str::to_owned),
                content_type: content_type_of(part),
                bytes: part.len() as u64,
            })
            .collect();
        let message_id = message.message_id().map(str::to_owned);
        let thread_root = first_id(message.references())
            .or_else(|| first_id(message.in_reply_to()))
            .or_else(|| message_id.clone());
        let date = message.date().and_then(|d| {
            let offset = FixedOffset::east_opt(
                (i32::from(d.tz_hour) * 3600 + i32::from(d.tz_minute) * 60)
                    * if d.tz_before_gmt { -1 } else { 1 },
            )?;
            offset
                .timestamp_opt(d.to_timestamp(), 0)
                .single()
                .filter(|_| d.is_valid())
        });
        Ok(Self {
            from_address: from.and_then(|a| a.address()).map(str::to_owned),
            from_name: from.and_then(|a| a.name()).map(str::to_owned),
            subject: message.subject().map(str::to_owned),
            date,
            message_id,
            thread_root,
            text,
            html,
            attachments,
            flags,
        })
    }
}

/// The raw checks that come before parsing: there is a header section, it
/// starts with a header field and holds no NUL, and no line is past its
/// bound.
fn check_shape(raw: &[u8]) -> Result<(), MessageError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("the message is empty"));
    }
    let first_line = raw.split(|b| *b == b'\n').next().unwrap_or_default();
    let name_end = first_line.iter().position(|b| *b == b':');
    let is_field = name_end
        .is_some_and(|end| end > 0 && first_line[..end].iter().all(|b| (33..=126).contains(b)));
    if !is_field {
        return Err(invalid(
            "the message must start with a header field (`Name: value`)",
        ));
    }
    let header_end = find(raw, b"\r\n\r\n")
        .or_else(|| find(raw, b"\n\n"))
        .unwrap_or(raw.len());
    if header_end > MAX_HEADER_BYTES {
        return Err(invalid(format!(
            "the header section is longer than {MAX_HEADER_BYTES} bytes"
        )));
    }
    if raw[..header_end].contains(&0) {
        return Err(invalid("the header section contains a NUL byte"));
    }
    if raw.split(|b| *b == b'\n').any(|l| l.len() > MAX_LINE_BYTES) {
        return Err(invalid(format!(
            "a line is longer than {MAX_LINE_BYTES} bytes"
        )));
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The bodies' texts, joined by a blank line; `None` when there are none.
fn join_bodies<'a>(
    parts: impl Iterator<Item = &'a mail_parser::MessagePart<'a>>,
) -> Option<String> {
    let texts: Vec<Cow<'_, str>> = parts
        .filter_map(|part| match &part.body {
            PartType::Text(text) | PartType::Html(text) => Some(Cow::Borrowed(text.as_ref())),
            _ => None,
        })
        .filter(|t| !t.trim().is_empty())
        .collect();
    if texts.is_empty() {
        None
    } else {
        Some(texts.join("\n\n"))
    }
}

fn first_id(value: &HeaderValue<'_>) -> Option<String> {
    match value {
        HeaderValue::Text(id) => Some(id.to_string()),
        HeaderValue::TextList(ids) => ids.first().map(|id| id.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &[u8] = b"From: Tiina Tilaaja <tiina@example.fi>\r\n\
To: asiakaspalvelu@vesi.example\r\n\
Subject: Lasku\r\n\
Date: Sun, 29 Nov 2026 09:15:02 +0200\r\n\
Message-ID: <m2@example.fi>\r\n\
In-Reply-To: <m1@vesi.example>\r\n\
References: <m0@example.fi> <m1@vesi.example>\r\n\
\r\n\
Hei, laskussa on virhe.\r\n";

    #[test]
    fn a_plain_message_gives_its_sender_thread_date_and_text() {
        let parsed = ParsedMessage::parse(PLAIN).unwrap();
        assert_eq!(parsed.from_address.as_deref(), Some("tiina@example.fi"));
        assert_eq!(parsed.from_name.as_deref(), Some("Tiina Tilaaja"));
        assert_eq!(parsed.subject.as_deref(), Some("Lasku"));
        assert_eq!(parsed.message_id.as_deref(), Some("m2@example.fi"));
        assert_eq!(parsed.thread_root.as_deref(), Some("m0@example.fi"));
        assert_eq!(
            parsed.date.unwrap().to_rfc3339(),
            "2026-11-29T09:15:02+02:00"
        );
        assert!(parsed.text.unwrap().contains("laskussa on virhe"));
        assert!(parsed.flags.is_empty(), "{:?}", parsed.flags);
    }

    #[test]
    fn attachments_are_listed_by_name_type_and_size() {
        let raw = b"From: a@example.fi\r\nMessage-ID: <x@y>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhei\r\n\
--b\r\nContent-Type: application/pdf; name=\"lasku.pdf\"\r\nContent-Disposition: attachment; filename=\"lasku.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";
        let parsed = ParsedMessage::parse(raw).unwrap();
        assert_eq!(
            parsed.attachments,
            vec![AttachmentInfo {
                name: Some("lasku.pdf".into()),
                content_type: "application/pdf".into(),
                bytes: 9,
            }]
        );
    }

    #[test]
    fn what_is_not_mail_is_refused_and_what_is_damaged_is_kept_flagged() {
        for raw in [
            &b""[..],
            b"\r\n\r\n",
            b"just some text\r\n",
            b": no name\r\n\r\nx",
            b"From: a@b.fi\r\nX-Bad: a\0b\r\n\r\nx",
        ] {
            let refused = ParsedMessage::parse(raw).unwrap_err();
            assert_eq!(refused.code, "invalid_message");
        }
        let mut long = b"From: a@b.fi\r\n\r\n".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_LINE_BYTES + 1));
        assert!(
            ParsedMessage::parse(&long)
                .unwrap_err()
                .message
                .contains("line")
        );

        let no_from = ParsedMessage::parse(b"Subject: x\r\n\r\nbody\r\n").unwrap();
        assert_eq!(no_from.flags, vec![Flag::NoFrom]);
        let bad_base64 = ParsedMessage::parse(
            b"From: a@b.fi\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
        )
        .unwrap();
        assert!(
            bad_base64.flags.contains(&Flag::EncodingProblem)
                || bad_base64.flags.contains(&Flag::NoBody),
            "{:?}",
            bad_base64.flags
        );
        let unclosed = ParsedMessage::parse(
            b"From: a@b.fi\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\
Content-Type: text/plain\r\n\r\nhei",
        )
        .unwrap();
        // Kept: the text when the parser finds it, else flagged unreadable.
        assert!(
            unclosed.text.is_some_and(|t| t.contains("hei"))
                || unclosed.flags.contains(&Flag::NoBody)
        );
    }

    #[test]
    fn a_structure_bomb_is_refused() {
        let mut raw = b"From: a@b.fi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        for _ in 0..=MAX_PARTS {
            raw.extend_from_slice(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        raw.extend_from_slice(b"--b--\r\n");
        let refused = ParsedMessage::parse(&raw).unwrap_err();
        assert!(refused.message.contains("MIME parts"), "{refused:?}");
    }

    #[test]
    fn no_refusal_quotes_the_message() {
        let secret = "Salaisuus-12345";
        for raw in [
            format!("{secret}\r\n\r\n"),
            format!("From: {secret}\r\nX: \0{secret}\r\n\r\n"),
        ] {
            let refused = ParsedMessage::parse(raw.as_bytes()).unwrap_err();
            assert!(!refused.message.contains(secret));
        }
        let parsed = ParsedMessage::parse(PLAIN).unwrap();
        assert!(!format!("{parsed:?}").contains("tiina"));
    }
}
