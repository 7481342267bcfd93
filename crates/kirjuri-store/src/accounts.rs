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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_locks_exactly_at_the_limit_and_only_once() -> Result<()> {
        assert_eq!(
            failed_login(2, false, 3)?,
            FailedLogin {
                failures: 2,
                locked_now: false
            }
        );
        assert!(failed_login(3, false, 3)?.locked_now);
        assert!(!failed_login(4, true, 3)?.locked_now);
        assert!(matches!(failed_login(-1, false, 3), Err(Error::Corrupt(_))));
        Ok(())
    }

    #[test]
    fn half_a_secret_is_none_in_the_register_and_corrupt_in_a_copy() -> Result<()> {
        assert!(sealed(Some(vec![1]), None).is_none());
        assert!(sealed(Some(vec![1]), Some(vec![2])).is_some());
        assert!(sealed_whole("wrapped_key", None, None)?.is_none());
        assert!(matches!(
            sealed_whole("wrapped_key", None, Some(vec![2])),
            Err(Error::Corrupt(_))
        ));
        Ok(())
    }
}
