//! A data-subject request's domain (DSR-1, DSR-2, notice §11): what can be
//! asked, how it came in, the states a registrar moves it through, and how
//! well the requester's identity must be proven before anything runs.
//!
//! - **States.** received → awaiting identity → verified → in progress →
//!   answered | refused | withdrawn. [`RequestState::apply`] is the one
//!   place that says which move is allowed from where; the three outcomes
//!   are final.
//! - **Identity.** Every verification has a [`VerificationMethod`] and the
//!   [`Assurance`] it gives; an [`AssurancePolicy`] says what each request
//!   type needs (by default recordings and transcripts — access and
//!   portability — and every change to the data need *substantial*; an
//!   information request or an objection needs *low*). Work on a request
//!   starts only once its identity is proven well enough for every type it
//!   carries: [`RequestState::apply`] refuses `start` otherwise.
//!
//! - **One-time codes.** [`try_code`] is the rule for a try: three tries,
//!   then the code is gone; an expired code is gone too.
//!
//! Not here: storing requests, the deadline ([`crate::deadline`]), sending
//! anything, or carrying out an erasure — those are the application's.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::purpose::Purpose;
use crate::wire_enum;

wire_enum! {
    /// What the data subject asks for (GDPR Art. 15–21).
    pub enum RequestType("request type") {
        /// A copy of their data and the Art. 15(1) information.
        Access = "access",
        /// Correcting inaccurate data (Art. 16).
        Rectification = "rectification",
        /// Erasing their data (Art. 17).
        Erasure = "erasure",
        /// Restricting processing (Art. 18).
        Restriction = "restriction",
        /// Objecting to processing for named purposes (Art. 21).
        Objection = "objection",
        /// Their data in a machine-readable form (Art. 20).
        Portability = "portability",
        /// Only the information of Art. 13–15, no data released.
        Information = "information",
    }
}

wire_enum! {
    /// How a request reached the customer service.
    pub enum RequestChannel("request channel") {
        /// The public request form.
        Web = "web",
        /// At a service point, registered by staff.
        InPerson = "in_person",
        /// By telephone, registered by staff.
        Phone = "phone",
        /// By letter, registered by staff.
        Letter = "letter",
    }
}

wire_enum! {
    /// Where a request stands.
    pub enum RequestState("request state") {
        /// Registered; nothing checked yet.
        Received = "received",
        /// The requester has been asked to prove who they are.
        AwaitingIdentity = "awaiting_identity",
        /// Identity proven (see the request's verifications).
        Verified = "verified",
        /// A registrar is carrying it out.
        InProgress = "in_progress",
        /// Done, and the requester told the outcome.
        Answered = "answered",
        /// Refused on a legal ground, approved by a second registrar.
        Refused = "refused",
        /// The requester withdrew it.
        Withdrawn = "withdrawn",
    }
}

wire_enum! {
    /// A registrar's move of a request from one state to the next.
    pub enum Transition("transition") {
        /// Ask the requester to prove who they are.
        AskIdentity = "ask_identity",
        /// Record that identity is proven.
        Verify = "verify",
        /// Begin carrying the request out.
        Start = "start",
        /// Finish it and tell the requester.
        Answer = "answer",
        /// Refuse it (legal ground, reasoning, second approval).
        Refuse = "refuse",
        /// The requester withdrew it.
        Withdraw = "withdraw",
    }
}

wire_enum! {
    /// How well identity is proven (eIDAS levels of assurance).
    pub enum Assurance("assurance level") {
        /// A code to an address on file that is not itself what the data
        /// are keyed on strongly (e.g. email).
        Low = "low",
        /// A code to the phone number the recordings are keyed on, or
        /// equivalent.
        Substantial = "substantial",
        /// An identity document checked in person, or strong electronic
        /// identification.
        High = "high",
    }
}

wire_enum! {
    /// How identity was proven.
    pub enum VerificationMethod("verification method") {
        /// A one-time code sent to an email address on file.
        EmailCode = "email_code",
        /// A one-time code sent by SMS to a phone number on file.
        SmsCode = "sms_code",
        /// An identity document checked in person by a named registrar.
        InPerson = "in_person",
        /// Strong electronic identification (a plug-in).
        StrongElectronic = "strong_electronic",
    }
}

wire_enum! {
    /// The identity document shown at an in-person check; only its type and
    /// last four characters are recorded, never a copy.
    pub enum DocumentType("document type") {
        Passport = "passport",
        IdCard = "id_card",
        DrivingLicence = "driving_licence",
    }
}

impl VerificationMethod {
    /// The assurance the method gives by default; a strong-identification
    /// plug-in reports its own level.
    pub fn assurance(self) -> Assurance {
        match self {
            VerificationMethod::EmailCode => Assurance::Low,
            VerificationMethod::SmsCode => Assurance::Substantial,
            VerificationMethod::InPerson | VerificationMethod::StrongElectronic => Assurance::High,
        }
    }
}

impl RequestState {
    /// Whether the request is closed: answered, refused or withdrawn.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RequestState::Answered | RequestState::Refused | RequestState::Withdrawn
        )
    }

    /// The state `transition` leads to from this one, for a request whose
    /// identity is proven to `proven` (`None`: not at all) and which needs
    /// `needed` for all its types. Refused (409 `transition_refused` or
    /// `not_verified`) when the move is not allowed from here.
    pub fn apply(
        self,
        transition: Transition,
        proven: Option<Assurance>,
        needed: Assurance,
    ) -> Result<RequestState> {
        use RequestState as S;
        use Transition as T;
        if self.is_final() {
            return Err(Error::Refused {
                code: "transition_refused",
                reason: "the request is closed",
            });
        }
        let next = match (self, transition) {
            (S::Received | S::InProgress, T::AskIdentity) => S::AwaitingIdentity,
            (S::Received | S::AwaitingIdentity, T::Verify) => S::Verified,
            (S::Verified, T::Start) => S::InProgress,
            (S::Received | S::AwaitingIdentity, T::Start) if needed == Assurance::Low => {
                S::InProgress
            }
            (S::InProgress, T::Answer) => S::Answered,
            (_, T::Refuse) => S::Refused,
            (_, T::Withdraw) => S::Withdrawn,
            _ => {
                return Err(Error::Refused {
                    code: "transition_refused",
                    reason: "that step is not allowed from the request's state",
                });
            }
        };
        if next == S::InProgress && needed > Assurance::Low && proven.is_none_or(|p| p < needed) {
            return Err(Error::Refused {
                code: "not_verified",
                reason: "the requester's identity is not proven well enough for this request",
            });
        }
        Ok(next)
    }
}

/// The assurance each request type needs before work on it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssurancePolicy {
    /// Access and portability: the package holds recordings and transcripts.
    pub release: Assurance,
    /// Rectification, erasure and restriction: they change the data.
    pub change: Assurance,
    /// Objection: it only stops a use of the data.
    pub objection: Assurance,
    /// Information: nothing is released.
    pub information: Assurance,
}

impl Default for AssurancePolicy {
    fn default() -> Self {
        Self {
            release: Assurance::Substantial,
            change: Assurance::Substantial,
            objection: Assurance::Low,
            information: Assurance::Low,
        }
    }
}

impl AssurancePolicy {
    /// The level one type needs.
    pub fn needed_for(&self, kind: RequestType) -> Assurance {
        match kind {
            RequestType::Access | RequestType::Portability => self.release,
            RequestType::Rectification | RequestType::Erasure | RequestType::Restriction => {
                self.change
            }
            RequestType::Objection => self.objection,
            RequestType::Information => self.information,
        }
    }

    /// The level a request with these types needs: the highest of them
    /// (`Low` for none).
    pub fn needed(&self, kinds: &[RequestType]) -> Assurance {
        kinds
            .iter()
            .map(|kind| self.needed_for(*kind))
            .max()
            .unwrap_or(Assurance::Low)
    }
}

/// The purposes a subject may object to (Art. 21): those resting on the
/// controller's legitimate interest. Order and complaint verification,
/// legal claims and the handling of their own requests are not among them.
pub const OBJECTABLE_PURPOSES: [Purpose; 4] = [
    Purpose::Survey,
    Purpose::Training,
    Purpose::QualityAssurance,
    Purpose::Development,
];

/// The purposes a restriction (Art. 18(2)) still allows: storage needs no
/// purpose, and legal claims and the subject's own request remain.
pub const ALLOWED_UNDER_RESTRICTION: [Purpose; 2] =
    [Purpose::LegalClaim, Purpose::DataSubjectRequest];

/// The purposes a request's objection names, checked: refused unless each is
/// objectable, and unless there is at least one when the request objects.
pub fn objection_purposes(kinds: &[RequestType], purposes: &[Purpose]) -> Result<Vec<Purpose>> {
    let objects = kinds.contains(&RequestType::Objection);
    if objects && purposes.is_empty() {
        return Err(Error::InvalidContact(
            "objection_purposes: an objection names at least one purpose".into(),
        ));
    }
    if !objects && !purposes.is_empty() {
        return Err(Error::InvalidContact(
            "objection_purposes: only an objection names purposes".into(),
        ));
    }
    let mut out = Vec::new();
    for purpose in purposes {
        if !OBJECTABLE_PURPOSES.contains(purpose) {
            return Err(Error::Unknown {
                kind: "objectable purpose",
                name: purpose.as_str().to_owned(),
            });
        }
        if !out.contains(purpose) {
            out.push(*purpose);
        }
    }
    Ok(out)
}

/// How long a one-time code is valid, by default.
pub const CODE_TTL_MINUTES: i64 = 15;

/// How many tries a one-time code has, by default.
pub const CODE_TRIES: u32 = 3;

/// What a try of a one-time code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOutcome {
    /// The right code in time: the identifier is proven.
    Accepted,
    /// A wrong code with tries left.
    Wrong { tries_left: u32 },
    /// No tries left (now or before): the code is discarded, and even the
    /// right one is refused.
    Exhausted,
    /// Too late: the code is discarded.
    Expired,
}

/// The rule for one try of a one-time code: `tries_left` before this try,
/// whether it is past `expires_at`, whether the code matched. The caller
/// stores the outcome (new tries, or discards the code) in the same
/// transaction that read it, so parallel tries cannot share a try.
pub fn try_code(tries_left: u32, expired: bool, matched: bool) -> CodeOutcome {
    if tries_left == 0 {
        return CodeOutcome::Exhausted;
    }
    if expired {
        return CodeOutcome::Expired;
    }
    if matched {
        return CodeOutcome::Accepted;
    }
    match tries_left - 1 {
        0 => CodeOutcome::Exhausted,
        tries_left => CodeOutcome::Wrong { tries_left },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestState as S;
    use Transition as T;

    const SUB: Assurance = Assurance::Substantial;

    #[test]
    fn every_transition_from_every_state_is_allowed_or_refused_as_the_table_says() {
        // (from, transition, to) for identity proven to `substantial`,
        // needed `substantial`; everything not listed is refused.
        let allowed = [
            (S::Received, T::AskIdentity, S::AwaitingIdentity),
            (S::Received, T::Verify, S::Verified),
            (S::Received, T::Refuse, S::Refused),
            (S::Received, T::Withdraw, S::Withdrawn),
            (S::AwaitingIdentity, T::Verify, S::Verified),
            (S::AwaitingIdentity, T::Refuse, S::Refused),
            (S::AwaitingIdentity, T::Withdraw, S::Withdrawn),
            (S::Verified, T::Start, S::InProgress),
            (S::Verified, T::Refuse, S::Refused),
            (S::Verified, T::Withdraw, S::Withdrawn),
            (S::InProgress, T::AskIdentity, S::AwaitingIdentity),
            (S::InProgress, T::Answer, S::Answered),
            (S::InProgress, T::Refuse, S::Refused),
            (S::InProgress, T::Withdraw, S::Withdrawn),
        ];
        for &from in S::ALL {
            for &transition in T::ALL {
                let got = from.apply(transition, Some(SUB), SUB);
                let want = allowed
                    .iter()
                    .find(|(f, t, _)| *f == from && *t == transition)
                    .map(|(_, _, to)| *to);
                match (got, want) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from} {transition}"),
                    (Err(Error::Refused { code, .. }), None) => {
                        assert_eq!(code, "transition_refused", "{from} {transition}")
                    }
                    (got, want) => panic!("{from} {transition}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn work_starts_only_with_identity_proven_well_enough() {
        let refused = |proven| match S::Verified.apply(T::Start, proven, SUB) {
            Err(Error::Refused { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(refused(None), "not_verified");
        assert_eq!(refused(Some(Assurance::Low)), "not_verified");
        assert_eq!(
            S::Verified
                .apply(T::Start, Some(Assurance::High), SUB)
                .unwrap(),
            S::InProgress
        );
        // An information-only request may start unverified.
        assert_eq!(
            S::Received.apply(T::Start, None, Assurance::Low).unwrap(),
            S::InProgress
        );
        assert!(S::Received.apply(T::Start, None, SUB).is_err());
    }

    #[test]
    fn the_default_policy_needs_substantial_for_recordings_and_changes() {
        let policy = AssurancePolicy::default();
        assert_eq!(policy.needed(&[RequestType::Information]), Assurance::Low);
        assert_eq!(policy.needed(&[RequestType::Objection]), Assurance::Low);
        assert_eq!(
            policy.needed(&[RequestType::Information, RequestType::Access]),
            SUB
        );
        assert_eq!(policy.needed(&[RequestType::Erasure]), SUB);
        // An emailed code is not enough for the recordings.
        assert!(VerificationMethod::EmailCode.assurance() < policy.needed_for(RequestType::Access));
        assert!(VerificationMethod::SmsCode.assurance() >= policy.needed_for(RequestType::Access));
    }

    #[test]
    fn wire_names_round_trip_and_unknown_names_are_refused_without_echoing_much() {
        for &kind in RequestType::ALL {
            assert_eq!(kind.as_str().parse::<RequestType>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<RequestType>(&json).unwrap(), kind);
        }
        let long = "x".repeat(10_000);
        let err = long.parse::<RequestChannel>().unwrap_err().to_string();
        assert!(err.len() < 100, "{err}");
        assert!(serde_json::from_str::<RequestState>("\"open\"").is_err());
    }

    #[test]
    fn objections_name_only_objectable_purposes() {
        let objection = [RequestType::Objection];
        assert_eq!(
            objection_purposes(&objection, &[Purpose::Survey, Purpose::Survey]).unwrap(),
            [Purpose::Survey]
        );
        assert!(objection_purposes(&objection, &[]).is_err());
        assert!(objection_purposes(&objection, &[Purpose::LegalClaim]).is_err());
        assert!(objection_purposes(&[RequestType::Access], &[Purpose::Survey]).is_err());
        assert!(
            objection_purposes(&[RequestType::Access], &[])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn three_wrong_codes_discard_it_and_a_fourth_right_one_is_refused() {
        let mut tries = CODE_TRIES;
        for expected_left in [2, 1] {
            assert_eq!(
                try_code(tries, false, false),
                CodeOutcome::Wrong {
                    tries_left: expected_left
                }
            );
            tries = expected_left;
        }
        assert_eq!(try_code(tries, false, false), CodeOutcome::Exhausted);
        assert_eq!(try_code(0, false, true), CodeOutcome::Exhausted);
        assert_eq!(try_code(CODE_TRIES, true, true), CodeOutcome::Expired);
        assert_eq!(try_code(1, false, true), CodeOutcome::Accepted);
    }
}
