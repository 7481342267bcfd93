//! Who is calling: bearer tokens and passwords. Tokens are 256 random bits,
//! shown once and stored only as their SHA-256 (a token is not guessable, so
//! a fast hash is enough; passwords are not, so they get Argon2id).
//!
//! This module authenticates; it never decides what the caller may do — that
//! is `kirjuri_core::access::authorize`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kirjuri_core::access::Actor;
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::UserId;
use kirjuri_core::role::Role;
use kirjuri_core::username::UserName;
use kirjuri_store::{TokenRow, UserRow};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::error::{Error, Result};

/// Prefix that makes leaked tokens easy to find with secret scanners.
const TOKEN_PREFIX: &str = "kjr_";

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 12;

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("the system random source failed".into()))?;
    Ok(bytes)
}

/// SHA-256 of a presented token: what the database stores and looks up.
pub fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// Hashes a password with Argon2id and a random salt.
pub fn hash_password(password: &SecretString) -> Result<String> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored Argon2id hash.
pub fn verify_password(password: &SecretString, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks the password policy (length; more in issue 3). The message never
/// contains the password.
pub fn check_password_policy(password: &SecretString) -> Result<()> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::bad_request(
            "weak_password",
            format!("the password must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A strong random password: 24 characters from an unambiguous alphabet.
pub fn generate_password() -> Result<SecretString> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = random_bytes::<24>()?;
    let password: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    Ok(SecretString::from(password))
}

impl Kirjuri {
    /// Creates a personal account.
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password: &SecretString,
    ) -> Result<UserId> {
        let name = UserName::parse(name, "user name")?;
        check_password_policy(password)?;
        let user = UserRow {
            id: UserId::new_v7(),
            name: name.as_str().to_owned(),
            role,
            password_hash: hash_password(password)?,
            disabled: false,
            created_at: self.clock.now(),
        };
        let event = AuditEvent::UserCreated {
            user: user.id,
            role,
        };
        match self
            .store
            .insert_user(&user, &to_row(self.clock.now(), None, &event))
            .await
        {
            Ok(()) => Ok(user.id),
            Err(kirjuri_store::Error::Conflict(_)) => Err(Error::Conflict {
                code: "user_exists",
                message: format!("an account named '{}' already exists", name.as_str()),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Issues an API token for `user`; returns it (shown once, stored hashed).
    pub async fn create_token(
        &self,
        user: &str,
        label: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<SecretString> {
        let user = self
            .store
            .user_by_name(user)
            .await?
            .ok_or_else(|| Error::Conflict {
                code: "no_such_user",
                message: "no account has that name".into(),
            })?;
        let token = format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
        );
        let row = TokenRow {
            id: uuid::Uuid::new_v4(),
            user_id: user.id,
            label,
            token_hash: token_hash(&token),
            created_at: self.clock.now(),
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let event = AuditEvent::TokenCreated {
            user: user.id,
            token: row.id.to_string(),
        };
        self.store
            .insert_token(&row, &to_row(self.clock.now(), None, &event))
            .await?;
        Ok(SecretString::from(token))
    }

    /// Resolves a presented bearer token to the acting account, or refuses.
    pub async fn authenticate_token(&self, token: &str) -> Result<(Actor, UserId)> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Err(Error::Unauthenticated);
        }
        let Some((row, user)) = self.store.token_by_hash(&token_hash(token)).await? else {
            return Err(Error::Unauthenticated);
        };
        let now = self.clock.now();
        if user.disabled || row.revoked_at.is_some() || row.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::Unauthenticated);
        }
        // Recording last use to the minute keeps reads from turning into writes.
        if row
            .last_used_at
            .is_none_or(|at| now - at > chrono::TimeDelta::minutes(1))
        {
            self.store.touch_token(&row.id, now).await?;
        }
        let name = UserName::parse(&user.name, "user name")?;
        Ok((
            Actor {
                name,
                role: user.role,
                confidentiality_agreement: false,
                reason: None,
            },
            user.id,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let password = SecretString::from("correct horse battery staple");
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&password, &hash));
        assert!(!verify_password(
            &SecretString::from("correct horse battery stapler"),
            &hash
        ));
        assert!(!verify_password(&password, "not a hash"));
    }

    #[test]
    fn generated_passwords_pass_the_policy_and_differ() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert!(check_password_policy(&a).is_ok());
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn short_passwords_are_refused_without_echoing_them() {
        let err = check_password_policy(&SecretString::from("hunter2")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
