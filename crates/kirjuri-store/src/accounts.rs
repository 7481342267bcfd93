//! What both adapters make of an account's stored values alike: a role's
//! text, the failure count, a sealed secret's two columns, and whether one
//! more failed sign-in locks the account. The adapters read the columns
//! (their types differ); what the values mean is decided here, once.

use kirjuri_core::role::Role;

use crate::error::{Error, Result};
use crate::model::{FailedLogin, SealedSecret};

/// A role as stored in `users.role`.
pub(crate) fn role(text: &str) -> Result<Role> {
    text.parse::<Role>()
        .map_err(|_| Error::Corrupt("users.role: unknown role".into()))
}

/// A failure count as stored in `users.failed_logins`.
pub(crate) fn failed_logins(stored: i64) -> Result<u32> {
    u32::try_from(stored).map_err(|_| Error::Corrupt("users.failed_logins: out of range".into()))
}

/// A sealed secret from its two nullable columns: `None` unless both are
/// set.
pub(crate) fn sealed(
    wrapped_key: Option<Vec<u8>>,
    sealed: Option<Vec<u8>>,
) -> Option<SealedSecret> {
    match (wrapped_key, sealed) {
        (Some(wrapped_key), Some(sealed)) => Some(SealedSecret {
            wrapped_key,
            sealed,
        }),
        _ => None,
    }
}

/// [`sealed`] for a copy of the register, which must carry either both
/// columns or neither: half a secret (named by its key column `key`) is
/// corrupt.
pub(crate) fn sealed_whole(
    key: &str,
    wrapped_key: Option<Vec<u8>>,
    sealed: Option<Vec<u8>>,
) -> Result<Option<SealedSecret>> {
    match (wrapped_key, sealed) {
        (Some(wrapped_key), Some(sealed)) => Ok(Some(SealedSecret {
            wrapped_key,
            sealed,
        })),
        (None, None) => Ok(None),
        _ => Err(Error::Corrupt(format!("user_totp.{key}: half a secret"))),
    }
}

/// A failed sign-in settled against the stored failure count (the reserved
/// attempt already counted): it locks the account when the count has
/// reached `lock_after` and the account is not locked yet.
pub(crate) fn failed_login(
    stored_failures: i64,
    already_locked: bool,
    lock_after: u32,
) -> Result<FailedLogin> {
    let failures = failed_logins(stored_failures)?;
    Ok(FailedLogin {
        failures,
        locked_now: !already_locked && failures >= lock_after,
    })
}
