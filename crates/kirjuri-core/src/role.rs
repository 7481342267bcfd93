//! Staff and integration roles (docs/requirements.md ACC-1).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// What an account is for. One role per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Customer-service agent: own contacts only.
    Agent,
    /// Supervisor: all contacts and recordings.
    Supervisor,
    /// System administrator: all recordings, manages users.
    Admin,
    /// Technical maintainer: recordings only under a confidentiality agreement.
    Maintainer,
    /// Registrar: data-subject requests, disclosures, holds.
    Registrar,
    /// The responsible person who names registrars.
    Responsible,
    /// A PBX, chat platform or mail server: delivers, never reads.
    Integration,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 7] = [
        Role::Agent,
        Role::Supervisor,
        Role::Admin,
        Role::Maintainer,
        Role::Registrar,
        Role::Responsible,
        Role::Integration,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Maintainer => "maintainer",
            Role::Registrar => "registrar",
            Role::Responsible => "responsible",
            Role::Integration => "integration",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::Unknown {
                kind: "role",
                name: s.chars().take(40).collect(),
            })
    }
}
