//! What a data-subject request sends the requester, in their language
//! (fi, sv, en), through the outbox: the receipt with the reference and due
//! date (reference §4 A.2), a one-time code, the link that delivers an
//! access package (C.19), the notice of an extension
//! with its reason (B.12), the outcome of an answered request, and a
//! refusal naming its ground — both outcomes naming the supervisory
//! authority and how to complain (DSR-5, K.58). Each is sealed
//! into an outbox message here and queued by the store in the same
//! transaction as the change that causes it.
//!
//! A letter goes to the request's first email address, or else by SMS to
//! its first phone number; a request with neither (a letter by post) gets
//! none from here.

use chrono::NaiveDate;
use kirjuri_core::request::RequestType;
use kirjuri_store::NewOutboxMessage;

use super::{Details, Language, RefusalGround};
use crate::app::Kirjuri;
use crate::error::Result;
use crate::outbox::Content;

/// The supervisory authority, as every outcome letter names it.
const AUTHORITY: [&str; 3] = [
    "Tietosuojavaltuutetun toimisto, PL 800, 00531 Helsinki, tietosuoja.fi",
    "Dataombudsmannens byrå, PB 800, 00531 Helsingfors, tietosuoja.fi/sv",
    "Office of the Data Protection Ombudsman, P.O. Box 800, 00531 Helsinki, tietosuoja.fi/en",
];

fn pick(language: Language, [fi, sv, en]: [&'static str; 3]) -> &'static str {
    match language {
        Language::Fi => fi,
        Language::Sv => sv,
        Language::En => en,
    }
}

/// A letter: a subject (for email) and its text.
struct Letter {
    subject: String,
    text: String,
}

/// The receipt of a new request.
fn receipt(language: Language, reference: &str, due: NaiveDate) -> Letter {
    let due = due.format("%-d.%-m.%Y");
    match language {
        Language::Fi => Letter {
            subject: format!("Pyyntönne on vastaanotettu ({reference})"),
            text: format!(
                "Olemme vastaanottaneet tietosuojapyyntönne. Viite: {reference}.\n\
                 Vastaamme viimeistään {due}."
            ),
        },
        Language::Sv => Letter {
            subject: format!("Er begäran har tagits emot ({reference})"),
            text: format!(
                "Vi har tagit emot er begäran om dataskydd. Referens: {reference}.\n\
                 Vi svarar senast {due}."
            ),
        },
        Language::En => Letter {
            subject: format!("Your request has been received ({reference})"),
            text: format!(
                "We have received your data protection request. Reference: {reference}.\n\
                 We will answer by {due}."
            ),
        },
    }
}

/// A one-time code.
fn code(language: Language, code: &str, minutes: u64) -> Letter {
    match language {
        Language::Fi => Letter {
            subject: "Vahvistuskoodi".into(),
            text: format!("Vahvistuskoodinne on {code}. Se on voimassa {minutes} min."),
        },
        Language::Sv => Letter {
            subject: "Verifieringskod".into(),
            text: format!("Er verifieringskod är {code}. Den gäller i {minutes} min."),
        },
        Language::En => Letter {
            subject: "Verification code".into(),
            text: format!("Your verification code is {code}. It is valid for {minutes} min."),
        },
    }
}

/// The link to an access package, until when it works.
fn link(language: Language, reference: &str, url: &str, until: &str) -> Letter {
    match language {
        Language::Fi => Letter {
            subject: format!("Tietonne ovat ladattavissa ({reference})"),
            text: format!(
                "Pyyntönne {reference} tiedot ovat ladattavissa osoitteessa\n{url}\n\
                 Linkki toimii kerran, {until} asti. Sivulla saatte vahvistuskoodin \
                 tähän osoitteeseen."
            ),
        },
        Language::Sv => Letter {
            subject: format!("Era uppgifter kan laddas ned ({reference})"),
            text: format!(
                "Uppgifterna för er begäran {reference} kan laddas ned på\n{url}\n\
                 Länken fungerar en gång, till {until}. På sidan får ni en \
                 verifieringskod till denna adress."
            ),
        },
        Language::En => Letter {
            subject: format!("Your data is ready to download ({reference})"),
            text: format!(
                "The data of your request {reference} can be downloaded at\n{url}\n\
                 The link works once, until {until}. On the page you get a \
                 verification code to this address."
            ),
        },
    }
}

/// The notice of an extension, with its reason.
fn extension(language: Language, reference: &str, due: NaiveDate, reason: &str) -> Letter {
    let due = due.format("%-d.%-m.%Y");
    match language {
        Language::Fi => Letter {
            subject: format!("Pyyntönne käsittelyaikaa on jatkettu ({reference})"),
            text: format!("Vastaamme viimeistään {due}. Syy: {reason}"),
        },
        Language::Sv => Letter {
            subject: format!("Tiden för er begäran har förlängts ({reference})"),
            text: format!("Vi svarar senast {due}. Orsak: {reason}"),
        },
        Language::En => Letter {
            subject: format!("The time to answer your request is extended ({reference})"),
            text: format!("We will answer by {due}. Reason: {reason}"),
        },
    }
}

/// The notice that a restriction will be lifted (Art. 18(3)), sent before
/// it is: the day it ends, and that the requester may contact us or
/// complain before then.
fn lift(language: Language, reference: &str, on: NaiveDate) -> Letter {
    let on = on.format("%-d.%-m.%Y");
    let authority = pick(language, AUTHORITY);
    match language {
        Language::Fi => Letter {
            subject: format!("Käsittelyn rajoitus päättyy ({reference})"),
            text: format!(
                "Pyytämänne tietojenne käsittelyn rajoitus päättyy {on}. Jos haluatte \
                 esittää tästä huomautuksia, ottakaa yhteyttä ennen sitä viitteellä \
                 {reference}. Voitte myös tehdä valituksen valvontaviranomaiselle: {authority}."
            ),
        },
        Language::Sv => Letter {
            subject: format!("Begränsningen av behandlingen upphör ({reference})"),
            text: format!(
                "Den begränsning av behandlingen av era uppgifter som ni begärde upphör {on}. \
                 Om ni vill invända, kontakta oss före dess med referensen {reference}. Ni \
                 kan också klaga hos tillsynsmyndigheten: {authority}."
            ),
        },
        Language::En => Letter {
            subject: format!("The restriction of processing will end ({reference})"),
            text: format!(
                "The restriction of the processing of your data that you asked for ends on \
                 {on}. If you wish to object, contact us before then quoting {reference}. You \
                 may also complain to the supervisory authority: {authority}."
            ),
        },
    }
}

/// A refusal: its ground and reasoning, the authority, how to complain.
fn refusal(language: Language, reference: &str, ground: RefusalGround, reasoning: &str) -> Letter {
    let authority = pick(language, AUTHORITY);
    match language {
        Language::Fi => Letter {
            subject: format!("Päätös pyyntöönne ({reference})"),
            text: format!(
                "Pyyntönne on hylätty. Peruste: {ground}. {reasoning}\n\
                 Voitte tehdä valituksen valvontaviranomaiselle: {authority}, \
                 tai hakea muutosta tuomioistuimesta."
            ),
        },
        Language::Sv => Letter {
            subject: format!("Beslut om er begäran ({reference})"),
            text: format!(
                "Er begäran har avslagits. Grund: {ground}. {reasoning}\n\
                 Ni kan klaga hos tillsynsmyndigheten: {authority}, \
                 eller söka ändring i domstol."
            ),
        },
        Language::En => Letter {
            subject: format!("Decision on your request ({reference})"),
            text: format!(
                "Your request has been refused. Ground: {ground}. {reasoning}\n\
                 You may lodge a complaint with the supervisory authority: {authority}, \
                 or seek a judicial remedy."
            ),
        },
    }
}

/// The outcome of an answered request: what it asked for, that it is
/// done, and where to complain (DSR-5).
fn outcome(language: Language, reference: &str, types: &[RequestType]) -> Letter {
    let authority = pick(language, AUTHORITY);
    let types = types
        .iter()
        .map(|t| pick(language, type_names(*t)))
        .collect::<Vec<_>>()
        .join(", ");
    match language {
        Language::Fi => Letter {
            subject: format!("Pyyntönne on käsitelty ({reference})"),
            text: format!(
                "Pyyntönne ({types}) on käsitelty. Viite: {reference}.\n\
                 Jos ette ole tyytyväinen, voitte tehdä valituksen valvontaviranomaiselle: \
                 {authority}."
            ),
        },
        Language::Sv => Letter {
            subject: format!("Er begäran har behandlats ({reference})"),
            text: format!(
                "Er begäran ({types}) har behandlats. Referens: {reference}.\n\
                 Om ni inte är nöjd kan ni klaga hos tillsynsmyndigheten: {authority}."
            ),
        },
        Language::En => Letter {
            subject: format!("Your request has been handled ({reference})"),
            text: format!(
                "Your request ({types}) has been handled. Reference: {reference}.\n\
                 If you are not satisfied, you may lodge a complaint with the supervisory \
                 authority: {authority}."
            ),
        },
    }
}

/// A right's name in each language.
fn type_names(kind: RequestType) -> [&'static str; 3] {
    match kind {
        RequestType::Access => ["tietojen tarkastus", "rätt till tillgång", "access"],
        RequestType::Rectification => ["tietojen oikaisu", "rättelse", "rectification"],
        RequestType::Erasure => ["tietojen poistaminen", "radering", "erasure"],
        RequestType::Restriction => [
            "käsittelyn rajoittaminen",
            "begränsning av behandling",
            "restriction",
        ],
        RequestType::Objection => ["vastustaminen", "invändning", "objection"],
        RequestType::Portability => ["siirtäminen", "dataportabilitet", "portability"],
        RequestType::Information => ["tiedonsaanti", "information", "information"],
    }
}

impl Kirjuri {
    /// Seals `letter` of `kind` to the requester's first email, or else by
    /// SMS to their first phone; `None` when they gave neither.
    fn letter_to(
        &self,
        details: &Details,
        kind: &str,
        letter: Letter,
    ) -> Result<Option<NewOutboxMessage>> {
        let content = if let Some(email) = details.identifiers.email.first() {
            Content::email(email, &letter.subject, &letter.text)?
        } else if let Some(phone) = details.identifiers.phone.first() {
            Content::sms(phone, &letter.text)?
        } else {
            return Ok(None);
        };
        Ok(Some(self.seal_message(kind, &content)?))
    }

    /// The receipt of a new request.
    pub(super) fn receipt_message(
        &self,
        details: &Details,
        language: Language,
        reference: &str,
        due: NaiveDate,
    ) -> Result<Option<NewOutboxMessage>> {
        self.letter_to(details, "dsr.receipt", receipt(language, reference, due))
    }

    /// The notice of an extension.
    pub(super) fn extension_message(
        &self,
        details: &Details,
        language: Language,
        reference: &str,
        due: NaiveDate,
        reason: &str,
    ) -> Result<Option<NewOutboxMessage>> {
        self.letter_to(
            details,
            "dsr.extension",
            extension(language, reference, due, reason),
        )
    }

    /// The letter of a refusal.
    pub(super) fn refusal_message(
        &self,
        details: &Details,
        language: Language,
        reference: &str,
        ground: RefusalGround,
        reasoning: &str,
    ) -> Result<Option<NewOutboxMessage>> {
        self.letter_to(
            details,
            "dsr.refusal",
            refusal(language, reference, ground, reasoning),
        )
    }

    /// The notice that a restriction ends on `on` (Art. 18(3)).
    pub(super) fn lift_message(
        &self,
        details: &Details,
        language: Language,
        reference: &str,
        on: NaiveDate,
    ) -> Result<Option<NewOutboxMessage>> {
        self.letter_to(
            details,
            "dsr.restriction_lift",
            lift(language, reference, on),
        )
    }

    /// The letter telling the outcome of an answered request.
    pub(super) fn outcome_message(
        &self,
        details: &Details,
        language: Language,
        reference: &str,
        types: &[RequestType],
    ) -> Result<Option<NewOutboxMessage>> {
        self.letter_to(details, "dsr.outcome", outcome(language, reference, types))
    }

    /// The delivery link `url` to `to` (a proven address of the
    /// request's, normalised) by email or SMS.
    pub(super) fn link_message(
        &self,
        email: bool,
        to: &str,
        language: Language,
        reference: &str,
        url: &str,
        until: &str,
    ) -> Result<NewOutboxMessage> {
        let letter = link(language, reference, url, until);
        let content = if email {
            Content::email(to, &letter.subject, &letter.text)?
        } else {
            Content::sms(to, &letter.text)?
        };
        self.seal_message("dsr.link", &content)
    }

    /// A one-time code to `to` (an address of the request's, normalised)
    /// by email or SMS.
    pub(super) fn code_message(
        &self,
        email: bool,
        to: &str,
        language: Language,
        digits: &str,
        minutes: u64,
    ) -> Result<NewOutboxMessage> {
        let letter = code(language, digits, minutes);
        let content = if email {
            Content::email(to, &letter.subject, &letter.text)?
        } else {
            Content::sms(to, &letter.text)?
        };
        self.seal_message("dsr.code", &content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_letter_names_the_ombudsman_and_the_complaint() {
        for (language, needle) in [
            (Language::Fi, "Tietosuojavaltuutetun"),
            (Language::Sv, "Dataombudsmannens"),
            (Language::En, "Data Protection Ombudsman"),
        ] {
            let letter = refusal(language, "DSR-2026-000001", RefusalGround::Excessive, "x");
            assert!(letter.text.contains(needle), "{language}");
            assert!(letter.text.contains("excessive"));
        }
    }

    #[test]
    fn every_outcome_letter_names_the_rights_and_the_ombudsman() {
        for (language, right, authority) in [
            (
                Language::Fi,
                "tietojen poistaminen",
                "Tietosuojavaltuutetun",
            ),
            (Language::Sv, "radering", "Dataombudsmannens"),
            (Language::En, "erasure", "Data Protection Ombudsman"),
        ] {
            let letter = outcome(
                language,
                "DSR-2026-000007",
                &[RequestType::Access, RequestType::Erasure],
            );
            assert!(letter.text.contains(right), "{language}: {}", letter.text);
            assert!(letter.text.contains(authority), "{language}");
            assert!(letter.subject.contains("DSR-2026-000007"));
        }
    }

    #[test]
    fn every_lift_notice_names_the_day_the_reference_and_the_ombudsman() {
        let on = NaiveDate::from_ymd_opt(2026, 12, 14).unwrap();
        for (language, authority) in [Language::Fi, Language::Sv, Language::En]
            .into_iter()
            .zip(AUTHORITY)
        {
            let letter = lift(language, "DSR-2026-000007", on);
            assert!(letter.subject.contains("DSR-2026-000007"), "{language:?}");
            assert!(letter.text.contains("14.12.2026"), "{language:?}");
            assert!(letter.text.contains(authority), "{language:?}");
        }
    }

    #[test]
    fn a_receipt_names_the_reference_and_the_due_date() {
        let due = NaiveDate::from_ymd_opt(2026, 2, 3).unwrap();
        let letter = receipt(Language::Fi, "DSR-2026-000042", due);
        assert!(letter.text.contains("DSR-2026-000042"));
        assert!(letter.text.contains("3.2.2026"));
    }
}
