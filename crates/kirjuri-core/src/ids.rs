//! Identifiers of Kirjuri's own records. UUIDv7, so they sort by creation time
//! and index well; parsed, never trusted as raw strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID (e.g. one read from the database).
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            /// A fresh id. Randomness is the caller's: `uuid` draws it from the OS.
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }
            /// The underlying UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
            /// The 16 bytes, e.g. as AEAD associated data.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A contact in the register.
    ContactId
);
uuid_id!(
    /// A stored, encrypted object (a recording, a sealed contact document, …).
    ObjectId
);
uuid_id!(
    /// A staff or integration account.
    UserId
);
