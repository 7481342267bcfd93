//! Delivering the access package to the data subject (reference §4 C.19):
//! a registrar sends a one-time link (`POST /api/v1/requests/{id}/deliver`)
//! and the requester downloads the package from the public page it opens,
//! after proving again that they hold the address it went to.
//!
//! - **The link.** A random 256-bit token (base64url, 43 characters), kept
//!   only as its keyed hash under the one-time codes' HMAC key (scoped to
//!   this use), with an expiry of `[requests] link_days` (default 7). It
//!   goes through the outbox to the request's *proven* address — the one
//!   proven by a code if there is one, email before phone — as
//!   `<public base>/request/download/<token>`; staff never see it (the
//!   answer is `{"expires_at"}`). A new link revokes the request's older
//!   unused ones. It needs what the staff package needs (`access`): an
//!   access or portability request, verified or in progress, and, where a
//!   contact names a third party, the Art. 15(4) review (`review`).
//! - **The code.** The page sends a fresh one-time code (`[requests]
//!   code_digits`, `code_ttl_seconds`, `code_tries`) to that address; it
//!   is stored on the link as a keyed hash scoped to the link and the
//!   address, and its tries are taken in one guarded statement, judged by
//!   core's `try_code` exactly as a verification code is.
//! - **The download.** The right code releases the package — written by
//!   the same writer as the staff package — and marks the link used in the
//!   transaction that appends the release's audit events (`request.
//!   package_released` to the data subject, a `contact.viewed` per contact
//!   and a `recording.read` per object, purpose `data_subject_request`), so
//!   of two parallel downloads exactly one gets the package. A link that
//!   is unknown, used, revoked or expired is [`Error::Gone`] (410): the
//!   requester asks for a new one.
//!
//! Not here: the pages (the web layer's `ui::download`), the per-address
//! allowance's buckets (`auth::throttle`), the package (`access`).

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Europe::Helsinki;
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::ids::UserId;
use kirjuri_core::request::{CodeOutcome, try_code};
use kirjuri_store::requests::{CodeRow, DeliveryLinkRow, RequestIdentifierRow, RequestRow};
use kirjuri_vault::IndexKind;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::access::{AccessPackage, Recipient, package_refusal};
use super::verify::code_refusal;
use super::{Details, Step, normalise_identifier};
use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// The public page's path, before the token.
pub const DOWNLOAD_PATH: &str = "/request/download/";

/// The longest token looked up; a longer one is refused unread.
pub const MAX_TOKEN_CHARS: usize = 64;

/// What a link's token hash is scoped to, apart from the codes'.
const TOKEN_SCOPE: &[u8] = b"kirjuri delivery link v1";

/// `POST /api/v1/requests/{id}/deliver`'s answer: until when the link
/// works (never the link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivered {
    pub expires_at: DateTime<Utc>,
}

/// A live link, as its public page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadLink {
    /// The request's language (`fi`, `sv`, `en`): the page's default.
    pub language: String,
    /// `phone` or `email`: where the code goes.
    pub sent_to: String,
    pub expires_at: DateTime<Utc>,
}

/// What a link's code hash is bound to: the link and the address.
fn code_scope(link: Uuid, address_hash: &[u8]) -> Vec<u8> {
    let mut scope = Vec::with_capacity(5 + 16 + 32);
    scope.extend_from_slice(b"link\0");
    scope.extend_from_slice(link.as_bytes());
    scope.extend_from_slice(address_hash);
    scope
}

/// The link is gone: unknown, used, revoked or expired alike.
fn gone() -> Error {
    Error::Gone {
        what: "this download link",
        tombstone: serde_json::Value::Null,
    }
}

/// The proven address a link goes to: one proven by a code first, then
/// any proven one; email before phone.
fn proven_address(identifiers: &[RequestIdentifierRow]) -> Option<&RequestIdentifierRow> {
    let rank = |i: &RequestIdentifierRow| {
        let by_code = i.proof.as_ref().is_some_and(|p| p.by == "code");
        (!by_code, i.kind != IndexKind::Email.as_str())
    };
    identifiers
        .iter()
        .filter(|i| {
            i.proof.is_some()
                && (i.kind == IndexKind::Email.as_str() || i.kind == IndexKind::Phone.as_str())
        })
        .min_by_key(|i| rank(i))
}

impl Kirjuri {
    /// The keyed hash of a presented delivery-link token.
    fn link_token_hash(&self, token: &str) -> Result<Vec<u8>> {
        self.scoped_token_hash(TOKEN_SCOPE, token)
    }

    /// The keyed hash, scoped to `scope`, of a presented one-time link
    /// token (a delivery link's, a disclosure link's); a token that cannot
    /// be one (too long, not base64url) is refused before any look-up.
    pub(crate) fn scoped_token_hash(&self, scope: &[u8], token: &str) -> Result<Vec<u8>> {
        let shaped = !token.is_empty()
            && token.len() <= MAX_TOKEN_CHARS
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !shaped {
            return Err(Error::bad_request(
                "invalid_token",
                "the link is not one this server makes",
            ));
        }
        Ok(self.keyring.one_time_codes().hash(scope, token).to_vec())
    }

    /// The live link with `token`, or [`Error::Gone`].
    async fn live_link(&self, token: &str) -> Result<DeliveryLinkRow> {
        let hash = self.link_token_hash(token)?;
        match self.store.delivery_link(&hash).await? {
            Some(link) if link.is_live(self.clock.now()) => Ok(link),
            _ => Err(gone()),
        }
    }

    /// The address (as kept) of `kind` among `details`' identifiers whose
    /// blind-index hash is `hash`.
    fn address_of(&self, details: &Details, kind: &str, hash: &[u8]) -> Result<(bool, String)> {
        let (index_kind, values) = if kind == IndexKind::Email.as_str() {
            (IndexKind::Email, &details.identifiers.email)
        } else {
            (IndexKind::Phone, &details.identifiers.phone)
        };
        let indexer = self.keyring.blind_indexer();
        for value in values {
            let (kept, indexed) = normalise_identifier(index_kind, value)?;
            if indexer.hash(index_kind, &indexed).as_slice() == hash {
                return Ok((index_kind == IndexKind::Email, kept));
            }
        }
        Err(Error::Internal(
            "a request's proven address is not among its identifiers",
        ))
    }

    /// Where links in letters start: `[requests] public_base_url`, else
    /// the address `serve` listens on.
    pub(crate) fn public_base(&self) -> Result<String> {
        self.config
            .requests
            .public_base_url
            .clone()
            .or_else(|| self.served_url.get().cloned())
            .ok_or_else(|| {
                Error::config(
                    "requests.public_base_url",
                    "must be set for links in letters when the server is not serving",
                )
            })
    }

    /// `POST /api/v1/requests/{id}/deliver`: sends the requester a one-time
    /// link to their access package (see the module docs).
    pub async fn deliver_package(
        &self,
        actor: &Actor,
        actor_id: UserId,
        id: Uuid,
    ) -> Result<Delivered> {
        self.require_requests(actor, actor_id, Action::HandleRequests)
            .await?;
        let row = self.request_row(id).await?;
        if let Some(code) = package_refusal(&row, false) {
            return Err(self.refuse_package(Some(actor_id), &row, code).await?);
        }
        // The same checks as the package itself, the review's included.
        self.prepare_package(&row, Some(actor_id)).await?;
        let identifiers = self.store.request_identifiers(&row.id).await?;
        let Some(to) = proven_address(&identifiers) else {
            return Err(Error::Conflict {
                code: "no_proven_address",
                message: "no email address or phone number of the request is proven; verify one \
                          by a code or in person first"
                    .into(),
            });
        };
        let details = self.open_details(&row)?;
        let (email, address) = self.address_of(&details, &to.kind, &to.hash)?;
        let base = self.public_base()?;
        let token = crate::auth::random_secret("")?;
        let now = self.clock.now();
        let days = i64::from(self.config.requests.link_days);
        let link = DeliveryLinkRow {
            id: Uuid::now_v7(),
            request_id: row.id,
            token_hash: self.link_token_hash(token.expose_secret())?,
            kind: to.kind.clone(),
            address_hash: to.hash.clone(),
            expires_at: now + TimeDelta::days(days),
            created_at: now,
            created_by: Some(actor_id),
            used_at: None,
            revoked_at: None,
            code_hash: None,
            code_expires_at: None,
            code_tries_left: 0,
        };
        let until = link
            .expires_at
            .with_timezone(&Helsinki)
            .format("%-d.%-m.%Y %H:%M")
            .to_string();
        let url = format!(
            "{}{DOWNLOAD_PATH}{}",
            base.trim_end_matches('/'),
            token.expose_secret()
        );
        let message = self.link_message(
            email,
            &address,
            row.language.parse()?,
            &row.reference,
            &url,
            &until,
        )?;
        let step = Step::done(
            "delivery_link_sent",
            json!({"kind": to.kind, "expires_at": link.expires_at}),
        );
        match self
            .store
            .put_delivery_link(
                &link,
                &message,
                &step.timeline(now, Some(actor_id)),
                &step.audit(now, Some(actor_id), Some(row.id)),
            )
            .await
        {
            Ok(()) => {}
            Err(kirjuri_store::Error::NotFound) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        }
        Ok(Delivered {
            expires_at: link.expires_at,
        })
    }

    /// `GET /request/download/{token}`: the live link, or 410.
    pub async fn download_link(&self, token: &str) -> Result<DownloadLink> {
        let link = self.live_link(token).await?;
        let row = self.request_row(link.request_id).await?;
        Ok(DownloadLink {
            language: row.language,
            sent_to: link.kind,
            expires_at: link.expires_at,
        })
    }

    /// Takes one post from client address `ip`'s allowance for the public
    /// download pages, or refuses with [`Error::TooManyRequests`].
    pub fn take_public_download_allowance(&self, ip: std::net::IpAddr) -> Result<()> {
        self.public_download_throttle
            .reserve(ip, self.clock.now())
            .map_err(|retry_after| Error::TooManyRequests {
                retry_after_seconds: retry_after,
            })
    }

    /// `POST /request/download/{token}/code`: a fresh code for the link, to
    /// its address; audited as `request.download_code_sent`.
    pub async fn send_download_code(&self, token: &str) -> Result<DownloadLink> {
        let link = self.live_link(token).await?;
        let row = self.request_row(link.request_id).await?;
        let details = self.open_details(&row)?;
        let (email, address) = self.address_of(&details, &link.kind, &link.address_hash)?;
        let policy = &self.config.requests;
        let now = self.clock.now();
        let codes = self.keyring.one_time_codes();
        let code = codes.generate(policy.code_digits)?;
        let ttl = TimeDelta::seconds(i64::try_from(policy.code_ttl_seconds).unwrap_or(900));
        let stored = CodeRow {
            kind: link.kind.clone(),
            address_hash: link.address_hash.clone(),
            code_hash: codes
                .hash(&code_scope(link.id, &link.address_hash), code.expose())
                .to_vec(),
            expires_at: now + ttl,
            tries_left: policy.code_tries,
            created_at: now,
        };
        let message = self.code_message(
            email,
            &address,
            row.language.parse()?,
            code.expose(),
            policy.code_ttl_seconds.div_ceil(60),
        )?;
        let step = Step::done("download_code_sent", json!({"kind": link.kind}));
        let stored_ok = self
            .store
            .put_link_code(
                &link.id,
                &stored,
                now,
                &message,
                &step.audit(now, None, Some(row.id)),
            )
            .await?;
        if !stored_ok {
            return Err(gone());
        }
        Ok(DownloadLink {
            language: row.language,
            sent_to: link.kind,
            expires_at: link.expires_at,
        })
    }

    /// `POST /request/download/{token}` with the code: the package, once
    /// (see the module docs).
    pub async fn download_package(&self, token: &str, code: &str) -> Result<AccessPackage> {
        let link = self.live_link(token).await?;
        let code = code.trim();
        if !kirjuri_vault::otp::DIGITS.contains(&u32::try_from(code.len()).unwrap_or(0))
            || !code.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::bad_request(
                "invalid_code",
                "code must be the 6 to 10 digits that were sent",
            ));
        }
        let row = self.request_row(link.request_id).await?;
        let now = self.clock.now();
        let detail = json!({"kind": link.kind, "link": link.id});
        let tried = Step::done("download_code_tried", detail.clone());
        let Some(taken) = self
            .store
            .take_link_code_try(&link.id, &tried.audit(now, None, Some(row.id)))
            .await?
        else {
            self.public_step(
                &row,
                &Step::refused("download_code_rejected", "no_code", detail),
            )
            .await?;
            return Err(Error::Conflict {
                code: "no_code",
                message: "there is no code to try: none was sent, or it expired or ran out of \
                          tries; send a new one"
                    .into(),
            });
        };
        let matched = self.keyring.one_time_codes().matches(
            &code_scope(link.id, &taken.address_hash),
            code,
            &taken.code_hash,
        );
        match try_code(
            taken.tries_left.saturating_add(1),
            now >= taken.expires_at,
            matched,
        ) {
            CodeOutcome::Accepted => self.release_by_link(&link, &row).await,
            CodeOutcome::Wrong { tries_left } => {
                let mut detail = detail;
                if let Some(map) = detail.as_object_mut() {
                    map.insert("tries_left".into(), json!(tries_left));
                }
                self.public_step(
                    &row,
                    &Step::refused("download_code_rejected", "code_wrong", detail),
                )
                .await?;
                Err(code_refusal(CodeOutcome::Wrong { tries_left }).1)
            }
            outcome @ (CodeOutcome::Exhausted | CodeOutcome::Expired) => {
                let (code, refusal) = code_refusal(outcome);
                let step = Step::refused("download_code_discarded", code, detail);
                self.store
                    .discard_link_code(&link.id, &step.audit(now, None, Some(row.id)))
                    .await?;
                Err(refusal)
            }
        }
    }

    /// The right code was given: release the package to the data subject,
    /// marking the link used with the release's audit events.
    async fn release_by_link(
        &self,
        link: &DeliveryLinkRow,
        row: &RequestRow,
    ) -> Result<AccessPackage> {
        if let Some(code) = package_refusal(row, true) {
            return Err(self.refuse_package(None, row, code).await?);
        }
        let prepared = self.prepare_package(row, None).await?;
        let now = self.clock.now();
        let (step, events) =
            self.release_events(Recipient::Subject { link: link.id }, row, &prepared, now);
        let used = self
            .store
            .use_delivery_link(&link.id, now, &step.timeline(now, None), &events)
            .await?;
        if !used {
            return Err(gone());
        }
        self.start_package(row, prepared, now).await
    }

    /// Appends a step the requester caused (no account) on its own.
    async fn public_step(&self, row: &RequestRow, step: &Step) -> Result<()> {
        self.store
            .append_audit(&step.audit(self.clock.now(), None, Some(row.id)))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kirjuri_store::requests::IdentifierProof;

    fn identifier(kind: &str, by: Option<&str>) -> RequestIdentifierRow {
        RequestIdentifierRow {
            kind: kind.into(),
            hash: kind.as_bytes().to_vec(),
            proof: by.map(|by| IdentifierProof {
                by: by.into(),
                basis: None,
                at: DateTime::<Utc>::UNIX_EPOCH,
            }),
        }
    }

    #[test]
    fn a_link_goes_to_the_address_proven_by_a_code_first_then_email_before_phone() {
        let ids = [
            identifier("customer_number", Some("registrar")),
            identifier("email", Some("registrar")),
            identifier("phone", Some("code")),
        ];
        assert_eq!(proven_address(&ids).unwrap().kind, "phone");
        let ids = [
            identifier("phone", Some("registrar")),
            identifier("email", Some("registrar")),
        ];
        assert_eq!(proven_address(&ids).unwrap().kind, "email");
        let ids = [
            identifier("email", None),
            identifier("property_id", Some("registrar")),
        ];
        assert!(proven_address(&ids).is_none());
    }

    #[test]
    fn a_codes_scope_binds_the_link_and_the_address() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_ne!(code_scope(a, b"x"), code_scope(b, b"x"));
        assert_ne!(code_scope(a, b"x"), code_scope(a, b"y"));
    }
}
