//! The access decision (DESIGN.md ACC-1…ACC-3): one pure function,
//! [`authorize`], decides every access from (actor, action, object, purpose).
//! Nothing else in Kirjuri grants access; the server calls it on every route
//! before touching personal data.
//!
//! It does not look anything up: callers pass the facts (who owns the contact,
//! whether a maintainer has an agreement on file, which purposes the subject
//! has forbidden), so the whole rule set is testable as a table.

use crate::purpose::Purpose;
use crate::role::Role;
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
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::CreateContact,
        Action::UploadRecording,
        Action::ReadContact,
        Action::SearchContacts,
        Action::ReadRecording,
    ];

    /// Whether the action reads personal data (and so needs a purpose).
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Action::ReadContact | Action::SearchContacts | Action::ReadRecording
        )
    }
}

/// What it is done to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object<'a> {
    /// The register as a whole (creating, searching).
    Register,
    /// One contact, with the facts the rules need.
    Contact {
        /// The agent who handled it.
        agent: &'a UserName,
        /// Purposes the data subject has forbidden (restriction/objection, DSR-4).
        forbidden_purposes: &'a [Purpose],
    },
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
    /// The subject has restricted or objected to this purpose.
    PurposeForbiddenBySubject,
    /// A maintainer without a confidentiality agreement on file.
    NoConfidentialityAgreement,
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead. For an agent's search the caller must scope it to their own
    /// contacts: `scope_to_own` says so.
    Allow {
        /// Restrict results to contacts whose agent is the actor.
        scope_to_own: bool,
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

/// The one access decision.
pub fn authorize(
    actor: &Actor,
    action: Action,
    object: Object<'_>,
    purpose: Option<Purpose>,
) -> Decision {
    use Decision::{Allow, Deny};

    if !action.is_read() {
        // Delivering contacts is what integrations are for; people do not
        // create evidence by hand through the API.
        return match actor.role {
            Role::Integration => Allow {
                scope_to_own: false,
            },
            _ => Deny(Denial::Role),
        };
    }
    let Some(purpose) = purpose else {
        return Deny(Denial::MissingPurpose);
    };

    let scope_to_own = match actor.role {
        Role::Integration | Role::Responsible => return Deny(Denial::Role),
        Role::Agent => true,
        Role::Supervisor | Role::Admin => false,
        Role::Maintainer => {
            if !actor.confidentiality_agreement {
                return Deny(Denial::NoConfidentialityAgreement);
            }
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
        Object::Register => Allow { scope_to_own },
        Object::Contact {
            agent,
            forbidden_purposes,
        } => {
            if scope_to_own && agent != &actor.name {
                return Deny(Denial::NotOwner);
            }
            // A subject's objection binds everyone except the handling of
            // their own request and legal claims (GDPR Art. 18(2), 21(1)).
            let exempt = matches!(purpose, Purpose::DataSubjectRequest | Purpose::LegalClaim);
            if !exempt && forbidden_purposes.contains(&purpose) {
                return Deny(Denial::PurposeForbiddenBySubject);
            }
            Allow {
                scope_to_own: false,
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
        }
    }

    /// The expected answer for every role × action × ownership × purpose,
    /// written independently of `authorize` as a table of rules.
    fn expected(
        role: Role,
        agreement: bool,
        action: Action,
        own: Option<bool>,
        purpose: Option<Purpose>,
    ) -> Decision {
        use Decision::{Allow, Deny};
        if !action.is_read() {
            return if role == Role::Integration {
                Allow {
                    scope_to_own: false,
                }
            } else {
                Deny(Denial::Role)
            };
        }
        let Some(purpose) = purpose else {
            return Deny(Denial::MissingPurpose);
        };
        match (role, own) {
            (Role::Integration | Role::Responsible, _) => Deny(Denial::Role),
            (Role::Maintainer, _) if !agreement => Deny(Denial::NoConfidentialityAgreement),
            (Role::Registrar, _)
                if !matches!(purpose, Purpose::DataSubjectRequest | Purpose::LegalClaim) =>
            {
                Deny(Denial::PurposeNotAllowed)
            }
            (Role::Agent, None) => Allow { scope_to_own: true },
            (Role::Agent, Some(false)) => Deny(Denial::NotOwner),
            _ => Allow {
                scope_to_own: false,
            },
        }
    }

    #[test]
    fn every_role_action_ownership_and_purpose_gets_the_tabled_answer() {
        let own_name = UserName::parse("aino", "test").unwrap();
        let other_name = UserName::parse("bertta", "test").unwrap();
        let purposes: Vec<Option<Purpose>> = std::iter::once(None)
            .chain(Purpose::ALL.map(Some))
            .collect();
        let mut n = 0;
        for role in Role::ALL {
            for agreement in [false, true] {
                for action in Action::ALL {
                    for own in [None, Some(true), Some(false)] {
                        for &purpose in &purposes {
                            let object = match own {
                                None => Object::Register,
                                Some(true) => Object::Contact {
                                    agent: &own_name,
                                    forbidden_purposes: &[],
                                },
                                Some(false) => Object::Contact {
                                    agent: &other_name,
                                    forbidden_purposes: &[],
                                },
                            };
                            let got = authorize(&actor(role, agreement), action, object, purpose);
                            let want = expected(role, agreement, action, own, purpose);
                            assert_eq!(
                                got, want,
                                "{role} agreement={agreement} {action:?} own={own:?} {purpose:?}"
                            );
                            n += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(n, 7 * 2 * 5 * 3 * 9);
    }

    #[test]
    fn a_purpose_the_subject_forbade_is_refused_except_for_their_own_request() {
        let name = UserName::parse("aino", "test").unwrap();
        let object = Object::Contact {
            agent: &name,
            forbidden_purposes: &[Purpose::Training],
        };
        let supervisor = actor(Role::Supervisor, false);
        assert_eq!(
            authorize(
                &supervisor,
                Action::ReadRecording,
                object,
                Some(Purpose::Training)
            ),
            Decision::Deny(Denial::PurposeForbiddenBySubject)
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
}
