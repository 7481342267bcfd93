//! The access decision (docs/requirements.md ACC-1…ACC-3): one pure function,
//! [`authorize`], decides every access from (actor, action, object, purpose).
//! Nothing else in Kirjuri grants access; the server calls it on every route
//! before touching personal data.
//!
//! It does not look anything up: callers pass the facts (who owns the contact,
//! whether a maintainer has an agreement on file, whether the subject has
//! restricted processing or objected to purposes — [`SubjectLimits`]), so
//! the whole rule set is testable as a table.
//!
//! Maintainers (ACC-1) reach only what technical maintenance needs: with an
//! agreement on file, a ticket reference and the purpose `development`, the
//! recording (and its playback rendition and waveform) in full, and a
//! contact's metadata — channel, times, agent, service, the recording's
//! format and digest — to find it (`Allow { metadata_only: true }`: the
//! sealed document is not opened). They may search by agent, service,
//! channel and dates, never by a personal identifier
//! ([`Object::RegisterByIdentifier`]).

use crate::purpose::Purpose;
use crate::role::Role;
use crate::ticket::TicketReference;
use crate::username::UserName;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Account name.
    pub name: UserName,
    /// The account's role.
    pub role: Role,
    /// A maintainer's confidentiality-agreement reference, when one is on file.
    pub confidentiality_agreement: bool,
    /// The ticket reference given with this request (maintainers must give
    /// one); never free text, as it is kept in the audit log.
    pub reason: Option<TicketReference>,
}

/// What they want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Deliver a new contact.
    CreateContact,
    /// Deliver a contact's recording.
    UploadRecording,
    /// Read a contact's data.
    ReadContact,
    /// Search the register.
    SearchContacts,
    /// Listen to or download a recording.
    ReadRecording,
    /// Read the audit log (who accessed what, what a user did).
    ReadAudit,
    /// Create, disable, unlock or change ordinary accounts and their tokens.
    ManageUsers,
    /// Name or remove registrars (notice §13).
    ManageRegistrars,
    /// Manage one's own account: password, TOTP, own tokens, sign-out.
    ManageOwnAccount,
    /// Place, list, review and lift legal holds (RET-2).
    ManageHolds,
    /// See retention deadlines, tombstones and holds (RET-1…RET-3).
    ReadRetention,
    /// Register data-subject requests and move them: verify, extend,
    /// propose and approve a refusal (DSR-1, DSR-2).
    HandleRequests,
    /// See the data-subject requests' queue and a request's state,
    /// deadline, verification and timeline (no personal data).
    ReadRequests,
    /// Keep the recipients register and disclosures to recipients (DIS-1,
    /// DIS-2; notice §8).
    ManageDisclosures,
    /// See the recipients register and the disclosures made.
    ReadDisclosures,
    /// Record personal-data breaches, their updates, and run the impact
    /// query over the audit log (Art. 33(5); reference §4 I.48–50).
    ManageIncidents,
    /// See the breach register and its 72-hour clocks.
    ReadIncidents,
    /// Ask for a disclosure to a recipient (DIS-2): supervisors as well as
    /// registrars; another registrar approves it (`ManageDisclosures`).
    RequestDisclosure,
    /// Read the anonymous statistics (STAT-1): aggregates only, after
    /// disclosure control.
    ReadStatistics,
    /// Scrape the operational metrics (`GET /metrics`): counts and ages,
    /// no personal data.
    ReadMetrics,
    /// See and change the satisfaction surveys' settings per service
    /// (SURV-1): supervisors, who run the service.
    ConfigureSurveys,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 21] = [
        Action::CreateContact,
        Action::UploadRecording,
        Action::ReadContact,
        Action::SearchContacts,
        Action::ReadRecording,
        Action::ReadAudit,
        Action::ManageUsers,
        Action::ManageRegistrars,
        Action::ManageOwnAccount,
        Action::ManageHolds,
        Action::ReadRetention,
        Action::HandleRequests,
        Action::ReadRequests,
        Action::ManageDisclosures,
        Action::ReadDisclosures,
        Action::ManageIncidents,
        Action::ReadIncidents,
        Action::RequestDisclosure,
        Action::ReadStatistics,
        Action::ReadMetrics,
        Action::ConfigureSurveys,
    ];

    /// Whether the action reads personal data (and so needs a purpose).
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Action::ReadContact | Action::SearchContacts | Action::ReadRecording
        )
    }

    /// Stable name for audit events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::CreateContact => "create_contact",
            Action::UploadRecording => "upload_recording",
            Action::ReadContact => "read_contact",
            Action::SearchContacts => "search_contacts",
            Action::ReadRecording => "read_recording",
            Action::ReadAudit => "read_audit",
            Action::ManageUsers => "manage_users",
            Action::ManageRegistrars => "manage_registrars",
            Action::ManageOwnAccount => "manage_own_account",
            Action::ManageHolds => "manage_holds",
            Action::ReadRetention => "read_retention",
            Action::HandleRequests => "handle_requests",
            Action::ReadRequests => "read_requests",
            Action::ManageDisclosures => "manage_disclosures",
            Action::ReadDisclosures => "read_disclosures",
            Action::ManageIncidents => "manage_incidents",
            Action::ReadIncidents => "read_incidents",
            Action::RequestDisclosure => "request_disclosure",
            Action::ReadStatistics => "read_statistics",
            Action::ReadMetrics => "read_metrics",
            Action::ConfigureSurveys => "configure_surveys",
        }
    }
}

/// What it is done to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object<'a> {
    /// The register as a whole (creating, searching by non-personal
    /// criteria: agent, service, channel, dates).
    Register,
    /// The register searched by a personal identifier (phone, email, name,
    /// property id, customer number), as a search or a query hold does.
    RegisterByIdentifier,
    /// One contact, with the facts the rules need.
    Contact {
        /// The agent who handled it.
        agent: &'a UserName,
        /// What the data subject has forbidden (restriction/objection, DSR-4).
        limits: SubjectLimits<'a>,
    },
}

/// What a contact's data subject has forbidden (DSR-4): a restriction of
/// processing (GDPR Art. 18) and objections to purposes (Art. 21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubjectLimits<'a> {
    /// Processing is restricted: nothing but storage, legal claims and the
    /// subject's own request (Art. 18(2)).
    pub restricted: bool,
    /// Purposes the subject objected to.
    pub objected: &'a [Purpose],
}

impl SubjectLimits<'_> {
    /// No limits.
    pub const NONE: SubjectLimits<'static> = SubjectLimits {
        restricted: false,
        objected: &[],
    };

    /// Why reading for `purpose` is refused, if it is. The handling of the
    /// subject's own request and legal claims are never refused (Art.
    /// 18(2), 21(1)); a restriction is named before an objection.
    pub fn forbids(&self, purpose: Purpose) -> Option<Denial> {
        if matches!(purpose, Purpose::DataSubjectRequest | Purpose::LegalClaim) {
            None
        } else if self.restricted {
            Some(Denial::Restricted)
        } else if self.objected.contains(&purpose) {
            Some(Denial::Objected)
        } else {
            None
        }
    }
}

/// Why access was refused. The server maps these to statuses; for
/// `NotOwner` it answers exactly as for a contact that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The role may never do this.
    Role,
    /// An agent reaching for another agent's contact.
    NotOwner,
    /// A read without a purpose.
    MissingPurpose,
    /// The role may not read for this purpose.
    PurposeNotAllowed,
    /// The subject has restricted the processing of their data (Art. 18).
    Restricted,
    /// The subject has objected to this purpose (Art. 21).
    Objected,
    /// A maintainer without a confidentiality agreement on file.
    NoConfidentialityAgreement,
    /// A maintainer's access without a stated reason.
    ReasonRequired,
}

impl Denial {
    /// Stable reason code for audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Denial::Role => "role",
            Denial::NotOwner => "not_owner",
            Denial::MissingPurpose => "missing_purpose",
            Denial::PurposeNotAllowed => "purpose_not_allowed",
            Denial::Restricted => "restricted",
            Denial::Objected => "objected",
            Denial::NoConfidentialityAgreement => "no_confidentiality_agreement",
            Denial::ReasonRequired => "reason_required",
        }
    }
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead. For an agent's search the caller must scope it to their own
    /// contacts: `scope_to_own` says so. A maintainer's contact read or
    /// search shows only metadata: `metadata_only` says so.
    Allow {
        /// Restrict results to contacts whose agent is the actor.
        scope_to_own: bool,
        /// Show only a contact's non-personal metadata (channel, times,
        /// agent, service, stored objects), never its sealed document.
        metadata_only: bool,
    },
    /// Refused.
    Deny(Denial),
}

impl Decision {
    /// Whether access is granted.
    pub fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// Allowed without restriction.
const ALLOW: Decision = Decision::Allow {
    scope_to_own: false,
    metadata_only: false,
};

fn allow_if(allowed: bool) -> Decision {
    if allowed {
        ALLOW
    } else {
        Decision::Deny(Denial::Role)
    }
}

/// The one access decision.
pub fn authorize(
    actor: &Actor,
    action: Action,
    object: Object<'_>,
    purpose: Option<Purpose>,
) -> Decision {
    use Decision::{Allow, Deny};

    match action {
        // Delivering contacts is what integrations are for; people do not
        // create evidence by hand through the API.
        Action::CreateContact | Action::UploadRecording => {
            return allow_if(actor.role == Role::Integration);
        }
        // Supervisors oversee staff; registrars answer to the regulator.
        Action::ReadAudit => {
            return allow_if(matches!(actor.role, Role::Supervisor | Role::Registrar));
        }
        Action::ManageUsers => return allow_if(actor.role == Role::Admin),
        // Notice §13: the responsible person names the registrars.
        Action::ManageRegistrars => return allow_if(actor.role == Role::Responsible),
        Action::ManageOwnAccount => return allow_if(actor.role != Role::Integration),
        // Registrars keep holds (ACC-1); supervisors and administrators answer
        // for the data kept. Agents, maintainers and integrations never do.
        Action::ManageHolds | Action::ReadRetention => {
            return allow_if(matches!(
                actor.role,
                Role::Registrar | Role::Supervisor | Role::Admin
            ));
        }
        // Registrars handle data-subject requests and the responsible person
        // answers for them (notice §11, §13); supervisors may follow the
        // queue. Agents, administrators, maintainers and integrations never.
        // Disclosures are the registrars' too (notice §8, §13), followed by
        // supervisors like the requests' queue.
        // The breach register too (Art. 33(5)): kept by those who answer
        // to the supervisory authority, followed by supervisors.
        Action::HandleRequests | Action::ManageDisclosures | Action::ManageIncidents => {
            return allow_if(matches!(actor.role, Role::Registrar | Role::Responsible));
        }
        // A supervisor who needs data to leave (the police's request, say)
        // asks; a registrar other than the one asking approves (four eyes).
        Action::ReadRequests
        | Action::ReadDisclosures
        | Action::ReadIncidents
        | Action::RequestDisclosure => {
            return allow_if(matches!(
                actor.role,
                Role::Registrar | Role::Responsible | Role::Supervisor
            ));
        }
        // Statistics plan the service (supervisors) and answer for it
        // (registrars, the responsible person); they carry no personal
        // data, but agents, administrators, maintainers and integrations
        // have no task that needs them.
        Action::ReadStatistics => {
            return allow_if(matches!(
                actor.role,
                Role::Supervisor | Role::Registrar | Role::Responsible
            ));
        }
        // Whoever runs the service watches it: maintainers and
        // administrators. The metrics carry no personal data, but the
        // register's size and pace are nobody else's business.
        Action::ReadMetrics => {
            return allow_if(matches!(actor.role, Role::Maintainer | Role::Admin));
        }
        // Surveys are part of running the service; their settings hold no
        // personal data.
        Action::ConfigureSurveys => {
            return allow_if(actor.role == Role::Supervisor);
        }
        Action::ReadContact | Action::SearchContacts | Action::ReadRecording => {}
    }
    let Some(purpose) = purpose else {
        return Deny(Denial::MissingPurpose);
    };

    let mut metadata_only = false;
    let scope_to_own = match actor.role {
        Role::Integration | Role::Responsible => return Deny(Denial::Role),
        Role::Agent => true,
        Role::Supervisor | Role::Admin => false,
        Role::Maintainer => {
            if !actor.confidentiality_agreement {
                return Deny(Denial::NoConfidentialityAgreement);
            }
            if actor.reason.is_none() {
                return Deny(Denial::ReasonRequired);
            }
            // Technical maintenance is developing the service (notice §5).
            if purpose != Purpose::Development {
                return Deny(Denial::PurposeNotAllowed);
            }
            // A maintainer finds a recording by its metadata, never by who
            // called, and sees nothing of the contact but that metadata.
            if matches!(object, Object::RegisterByIdentifier) {
                return Deny(Denial::Role);
            }
            metadata_only = action != Action::ReadRecording;
            false
        }
        Role::Registrar => {
            // Registrars handle data-subject requests and legal claims, not
            // day-to-day customer service.
            if !matches!(purpose, Purpose::DataSubjectRequest | Purpose::LegalClaim) {
                return Deny(Denial::PurposeNotAllowed);
            }
            false
        }
    };

    match object {
        Object::Register | Object::RegisterByIdentifier => Allow {
            scope_to_own,
            metadata_only,
        },
        Object::Contact { agent, limits } => {
            if scope_to_own && agent != &actor.name {
                return Deny(Denial::NotOwner);
            }
            // A subject's restriction or objection binds everyone.
            if let Some(denial) = limits.forbids(purpose) {
                return Deny(denial);
            }
            Allow {
                scope_to_own: false,
                metadata_only,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, agreement: bool) -> Actor {
        Actor {
            name: UserName::parse("aino", "test").unwrap(),
            role,
            confidentiality_agreement: agreement,
            reason: Some(TicketReference::parse("INC-42", "reason").unwrap()),
        }
    }

    /// What a decision is about, as the table sees it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Target {
        /// The register, searched by non-personal criteria.
        Register,
        /// The register, searched by a personal identifier.
        ByIdentifier,
        /// The actor's own contact.
        Own,
        /// Another agent's contact.
        Other,
    }

    /// The expected answer for every role × action × target × purpose,
    /// written independently of `authorize` as a table of rules.
    fn expected(
        role: Role,
        agreement: bool,
        action: Action,
        target: Target,
        purpose: Option<Purpose>,
    ) -> Decision {
        use Decision::{Allow, Deny};
        let full = Allow {
            scope_to_own: false,
            metadata_only: false,
        };
        let only = |roles: &[Role]| {
            if roles.contains(&role) {
                full
            } else {
                Deny(Denial::Role)
            }
        };
        let people: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| *r != Role::Integration)
            .collect();
        match action {
            Action::CreateContact | Action::UploadRecording => return only(&[Role::Integration]),
            Action::ReadAudit => return only(&[Role::Supervisor, Role::Registrar]),
            Action::ManageUsers => return only(&[Role::Admin]),
            Action::ManageRegistrars => return only(&[Role::Responsible]),
            Action::ManageOwnAccount => return only(&people),
            Action::ManageHolds | Action::ReadRetention => {
                return only(&[Role::Registrar, Role::Supervisor, Role::Admin]);
            }
            Action::HandleRequests | Action::ManageDisclosures | Action::ManageIncidents => {
                return only(&[Role::Registrar, Role::Responsible]);
            }
            Action::ReadRequests
            | Action::ReadDisclosures
            | Action::ReadIncidents
            | Action::RequestDisclosure => {
                return only(&[Role::Registrar, Role::Responsible, Role::Supervisor]);
            }
            Action::ReadStatistics => {
                return only(&[Role::Supervisor, Role::Registrar, Role::Responsible]);
            }
            Action::ReadMetrics => return only(&[Role::Maintainer, Role::Admin]),
            Action::ConfigureSurveys => {
                return only(&[Role::Supervisor]);
            }
            Action::ReadContact | Action::SearchContacts | Action::ReadRecording => {}
        }
        let Some(purpose) = purpose else {
            return Deny(Denial::MissingPurpose);
        };
        match (role, target) {
            (Role::Integration | Role::Responsible, _) => Deny(Denial::Role),
            (Role::Maintainer, _) if !agreement => Deny(Denial::NoConfidentialityAgreement),
            (Role::Maintainer, _) if purpose != Purpose::Development => {
                Deny(Denial::PurposeNotAllowed)
            }
            (Role::Maintainer, Target::ByIdentifier) => Deny(Denial::Role),
            (Role::Maintainer, _) => Allow {
                scope_to_own: false,
                metadata_only: action != Action::ReadRecording,
            },
            (Role::Registrar, _)
                if !matches!(purpose, Purpose::DataSubjectRequest | Purpose::LegalClaim) =>
            {
                Deny(Denial::PurposeNotAllowed)
            }
            (Role::Agent, Target::Register | Target::ByIdentifier) => Allow {
                scope_to_own: true,
                metadata_only: false,
            },
            (Role::Agent, Target::Other) => Deny(Denial::NotOwner),
            _ => full,
        }
    }

    #[test]
    fn every_role_action_target_and_purpose_gets_the_tabled_answer() {
        let own_name = UserName::parse("aino", "test").unwrap();
        let other_name = UserName::parse("bertta", "test").unwrap();
        let purposes: Vec<Option<Purpose>> = std::iter::once(None)
            .chain(Purpose::ALL.map(Some))
            .collect();
        let mut n = 0;
        for role in Role::ALL {
            for agreement in [false, true] {
                for action in Action::ALL {
                    for target in [
                        Target::Register,
                        Target::ByIdentifier,
                        Target::Own,
                        Target::Other,
                    ] {
                        for &purpose in &purposes {
                            let object = match target {
                                Target::Register => Object::Register,
                                Target::ByIdentifier => Object::RegisterByIdentifier,
                                Target::Own => Object::Contact {
                                    agent: &own_name,
                                    limits: SubjectLimits::NONE,
                                },
                                Target::Other => Object::Contact {
                                    agent: &other_name,
                                    limits: SubjectLimits::NONE,
                                },
                            };
                            let got = authorize(&actor(role, agreement), action, object, purpose);
                            let want = expected(role, agreement, action, target, purpose);
                            assert_eq!(
                                got, want,
                                "{role} agreement={agreement} {action:?} {target:?} {purpose:?}"
                            );
                            n += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(n, 7 * 2 * 21 * 4 * 9);
    }

    #[test]
    fn a_maintainer_gets_recordings_in_full_but_only_metadata_of_contacts_and_searches() {
        let name = UserName::parse("aino", "test").unwrap();
        let contact = Object::Contact {
            agent: &name,
            limits: SubjectLimits::NONE,
        };
        let maintainer = actor(Role::Maintainer, true);
        let development = Some(Purpose::Development);
        assert_eq!(
            authorize(&maintainer, Action::ReadRecording, contact, development),
            ALLOW
        );
        for (action, object) in [
            (Action::ReadContact, contact),
            (Action::SearchContacts, Object::Register),
        ] {
            assert_eq!(
                authorize(&maintainer, action, object, development),
                Decision::Allow {
                    scope_to_own: false,
                    metadata_only: true
                },
                "{action:?}"
            );
        }
        assert_eq!(
            authorize(
                &maintainer,
                Action::SearchContacts,
                Object::RegisterByIdentifier,
                development
            ),
            Decision::Deny(Denial::Role)
        );
        assert_eq!(
            authorize(
                &maintainer,
                Action::ReadRecording,
                contact,
                Some(Purpose::ComplaintVerification)
            ),
            Decision::Deny(Denial::PurposeNotAllowed)
        );
    }

    #[test]
    fn only_registrars_supervisors_and_admins_manage_holds_and_see_retention() {
        for action in [Action::ManageHolds, Action::ReadRetention] {
            assert!(!action.is_read(), "{action:?} needs no purpose");
            for role in Role::ALL {
                for agreement in [false, true] {
                    let allowed =
                        authorize(&actor(role, agreement), action, Object::Register, None)
                            .is_allowed();
                    assert_eq!(
                        allowed,
                        matches!(role, Role::Registrar | Role::Supervisor | Role::Admin),
                        "{role} {action:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_maintainer_with_an_agreement_still_needs_a_reason_for_each_access() {
        let name = UserName::parse("aino", "test").unwrap();
        let object = Object::Contact {
            agent: &name,
            limits: SubjectLimits::NONE,
        };
        let mut maintainer = actor(Role::Maintainer, true);
        maintainer.reason = None;
        assert_eq!(
            authorize(
                &maintainer,
                Action::ReadRecording,
                object,
                Some(Purpose::Development)
            ),
            Decision::Deny(Denial::ReasonRequired)
        );
        maintainer.reason = Some(TicketReference::parse("CHG-1234", "reason").unwrap());
        assert!(
            authorize(
                &maintainer,
                Action::ReadRecording,
                object,
                Some(Purpose::Development)
            )
            .is_allowed()
        );
    }

    #[test]
    fn a_purpose_the_subject_forbade_is_refused_except_for_their_own_request() {
        let name = UserName::parse("aino", "test").unwrap();
        let object = Object::Contact {
            agent: &name,
            limits: SubjectLimits {
                restricted: false,
                objected: &[Purpose::Training],
            },
        };
        let supervisor = actor(Role::Supervisor, false);
        assert_eq!(
            authorize(
                &supervisor,
                Action::ReadRecording,
                object,
                Some(Purpose::Training)
            ),
            Decision::Deny(Denial::Objected)
        );
        assert!(
            authorize(
                &supervisor,
                Action::ReadRecording,
                object,
                Some(Purpose::QualityAssurance)
            )
            .is_allowed()
        );
        assert!(
            authorize(
                &supervisor,
                Action::ReadRecording,
                object,
                Some(Purpose::DataSubjectRequest)
            )
            .is_allowed()
        );
    }

    #[test]
    fn a_restriction_leaves_only_legal_claims_and_the_subjects_own_request() {
        let name = UserName::parse("aino", "test").unwrap();
        let object = Object::Contact {
            agent: &name,
            limits: SubjectLimits {
                restricted: true,
                objected: &[Purpose::Training],
            },
        };
        let supervisor = actor(Role::Supervisor, false);
        for purpose in Purpose::ALL {
            let decision = authorize(&supervisor, Action::ReadRecording, object, Some(purpose));
            match purpose {
                Purpose::LegalClaim | Purpose::DataSubjectRequest => {
                    assert!(decision.is_allowed(), "{purpose}")
                }
                // The restriction is named even where an objection also applies.
                _ => assert_eq!(decision, Decision::Deny(Denial::Restricted), "{purpose}"),
            }
        }
        // The owner rule still comes first: another agent learns nothing.
        let other = Actor {
            name: UserName::parse("eero", "test").unwrap(),
            ..actor(Role::Agent, false)
        };
        assert_eq!(
            authorize(
                &other,
                Action::ReadContact,
                object,
                Some(Purpose::QualityAssurance)
            ),
            Decision::Deny(Denial::NotOwner)
        );
    }
}
