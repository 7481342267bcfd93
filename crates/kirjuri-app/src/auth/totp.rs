//! TOTP second factors (RFC 6238): enrolment (begun with the password
//! re-checked, and the current code to replace one in force), confirmation,
//! and checking a code. The secret is sealed by the vault.
//!
//! Not here: when a code is asked for at sign-in (`session`).

use std::net::IpAddr;

use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::{ObjectId, UserId};
use kirjuri_store::SealedSecret;
use kirjuri_vault::{open_to_vec, seal_to_vec};
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::random_bytes;
use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::error::{Error, Result};

/// Bytes of a TOTP secret: 160 bits, as RFC 4226 recommends for HMAC-SHA-1.
const TOTP_SECRET_BYTES: usize = 20;

/// The issuer shown in authenticator apps.
const TOTP_ISSUER: &str = "Kirjuri";

/// A TOTP enrolment just begun: what the user's authenticator app needs.
/// Shown once; the secret is stored only sealed.
pub struct TotpEnrolment {
    /// The secret, base32 (for typing in).
    pub secret: SecretString,
    /// The `otpauth://` URI (for a QR code).
    pub uri: SecretString,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment([redacted])")
    }
}

fn totp_for(secret: &[u8], account: &str) -> Result<totp_rs::Totp> {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(TOTP_ISSUER))
        .build()
        // totp-rs's errors quote the account name: not kept.
        .map_err(|_| Error::Internal("failed to set up TOTP"))
}

impl Kirjuri {
    /// Begins TOTP enrolment for the caller: a new secret, stored sealed and
    /// pending until [`Kirjuri::confirm_totp`] sees a valid code from it.
    /// Only from a browser session, with the password re-checked — and, to
    /// replace a second factor already in force, a current code from it
    /// ([`Kirjuri::recheck`]); without that code only the operator can help.
    pub async fn begin_totp(
        &self,
        actor: &Actor,
        actor_id: UserId,
        session: Option<&crate::session::Session>,
        password: &SecretString,
        current_code: Option<&str>,
        ip: IpAddr,
    ) -> Result<TotpEnrolment> {
        self.require(Some((actor, actor_id)), Action::ManageOwnAccount)
            .await?;
        self.recheck_caller(actor_id, session, password, current_code, ip)
            .await?;
        let secret = Zeroizing::new(random_bytes::<TOTP_SECRET_BYTES>()?);
        let totp = totp_for(secret.as_slice(), actor.name.as_str())?;
        let uri = totp
            .to_url()
            // totp-rs's errors quote the account name: not kept.
            .map_err(|_| Error::Internal("failed to build the TOTP URI"))?;
        let object = ObjectId::from_uuid(*actor_id.as_uuid());
        let key = self.keyring.generate_data_key()?;
        let pending = SealedSecret {
            wrapped_key: self.keyring.wrap(&key, &object)?,
            sealed: seal_to_vec(&key, &object, secret.as_slice())?,
        };
        let event = AuditEvent::TotpEnrolmentBegun { user: actor_id };
        self.store
            .begin_totp(
                &actor_id,
                &pending,
                &to_row(self.clock.now(), Some(actor_id), &event),
            )
            .await?;
        Ok(TotpEnrolment {
            secret: SecretString::from(totp.secret().to_base32()),
            uri: SecretString::from(uri),
        })
    }

    /// Confirms a pending TOTP enrolment with a current code; from then on
    /// sign-in needs a code. Only from a browser session: the enrolment it
    /// confirms was begun with the password (and the old code) re-checked.
    pub async fn confirm_totp(
        &self,
        actor: &Actor,
        actor_id: UserId,
        session: Option<&crate::session::Session>,
        code: &str,
    ) -> Result<()> {
        self.require(Some((actor, actor_id)), Action::ManageOwnAccount)
            .await?;
        crate::session::require_session(session)?;
        let pending = self
            .store
            .totp(&actor_id)
            .await?
            .and_then(|t| t.pending)
            .ok_or_else(|| Error::Conflict {
                code: "no_totp_enrolment",
                message: "no TOTP enrolment is pending; begin one first".into(),
            })?;
        let step = self
            .check_totp_code(&actor_id, actor.name.as_str(), &pending, code)?
            .ok_or_else(|| Error::bad_request("totp_invalid", "the code is not valid now"))?;
        let event = AuditEvent::TotpEnrolled { user: actor_id };
        match self
            .store
            .confirm_totp(
                &actor_id,
                step,
                &to_row(self.clock.now(), Some(actor_id), &event),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(kirjuri_store::Error::NotFound) => Err(Error::Conflict {
                code: "no_totp_enrolment",
                message: "no TOTP enrolment is pending; begin one first".into(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The time step `code` is valid for under `sealed`, if any (RFC 6238:
    /// 30-second steps, one step of clock skew either way).
    pub(crate) fn check_totp_code(
        &self,
        user: &UserId,
        account: &str,
        sealed: &SealedSecret,
        code: &str,
    ) -> Result<Option<i64>> {
        let object = ObjectId::from_uuid(*user.as_uuid());
        let key = self.keyring.unwrap(&sealed.wrapped_key, &object)?;
        let secret = Zeroizing::new(open_to_vec(&key, &object, &sealed.sealed)?);
        let totp = totp_for(&secret, account)?;
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let now = u64::try_from(self.clock.now().timestamp()).unwrap_or(0);
        Ok(totp
            .check(code, now)
            .and_then(|step| i64::try_from(step).ok()))
    }
}
