//! One-time codes that prove a data-subject requester holds a phone number
//! or email address (DSR-2): drawn uniformly from the system's randomness,
//! stored only as a keyed hash, compared in constant time.
//!
//! `hash = HMAC-SHA256(K, scope ‖ 0x00 ‖ code)` with
//! `K = HKDF-SHA256(salt = "", ikm = root secret, info = "kirjuri one-time-code v1")`
//! — the keyring's root secret, as for blind indexes, under another `info`
//! so neither key says anything about the other. The scope (a request's
//! id and where the code was sent) binds a code to the one challenge it was
//! made for. A six-digit code has little entropy: the hash keeps it out of
//! a database dump, while the short lifetime and the three tries (the
//! caller's rules, in `kirjuri_core::request`) keep it from being guessed.
//!
//! Not here: sending the code, its lifetime or its tries.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// HKDF `info` of the one-time-code key.
const ONE_TIME_CODE_INFO: &[u8] = b"kirjuri one-time-code v1";

/// The fewest and most digits a code may have.
pub const DIGITS: std::ops::RangeInclusive<u32> = 6..=10;

/// A code as sent: its digits, zeroized on drop, redacted in `Debug`.
pub struct SecretCode(Zeroizing<String>);

impl SecretCode {
    /// The digits, to put in the message to the requester.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretCode([redacted])")
    }
}

/// Makes and checks one-time codes under one derived key. `Debug` is
/// redacted.
pub struct OneTimeCodes {
    key: hmac::Key,
    rng: SystemRandom,
}

impl OneTimeCodes {
    /// Derives the code key from a 32-byte root secret (the keyring's).
    pub fn derive(root_secret: &[u8; 32]) -> Result<Self> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(root_secret);
        let okm = prk
            .expand(&[ONE_TIME_CODE_INFO], hmac::HMAC_SHA256)
            .map_err(|_| Error::Format("HKDF expansion of the one-time-code key failed".into()))?;
        Ok(Self {
            key: hmac::Key::from(okm),
            rng: SystemRandom::new(),
        })
    }

    /// A fresh code of `digits` decimal digits (leading zeros kept), each
    /// value equally likely. Refused outside [`DIGITS`].
    pub fn generate(&self, digits: u32) -> Result<SecretCode> {
        if !DIGITS.contains(&digits) {
            return Err(Error::InvalidInput(format!(
                "a one-time code has {} to {} digits",
                DIGITS.start(),
                DIGITS.end()
            )));
        }
        let modulus = 10u64.pow(digits);
        // Rejection sampling: values at or above the largest multiple of
        // `modulus` would make the low codes likelier.
        let limit = u64::MAX - u64::MAX % modulus;
        let value = loop {
            let mut bytes = [0u8; 8];
            self.rng.fill(&mut bytes).map_err(|_| Error::Random)?;
            let value = u64::from_le_bytes(bytes);
            if value < limit {
                break value % modulus;
            }
        };
        let width = usize::try_from(digits).unwrap_or(10);
        Ok(SecretCode(Zeroizing::new(format!("{value:0width$}"))))
    }

    /// The keyed hash of `code` for `scope`, to store.
    pub fn hash(&self, scope: &[u8], code: &str) -> [u8; 32] {
        let tag = hmac::sign(&self.key, &message(scope, code));
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Whether `code` is the one whose hash for `scope` is `stored`, in
    /// constant time. Surrounding white space is ignored (a pasted code).
    pub fn matches(&self, scope: &[u8], code: &str, stored: &[u8]) -> bool {
        hmac::verify(&self.key, &message(scope, code.trim()), stored).is_ok()
    }
}

/// `scope ‖ 0x00 ‖ code`, zeroized after use.
fn message(scope: &[u8], code: &str) -> Zeroizing<Vec<u8>> {
    let mut message = Zeroizing::new(Vec::with_capacity(scope.len() + 1 + code.len()));
    message.extend_from_slice(scope);
    message.push(0);
    message.extend_from_slice(code.as_bytes());
    message
}

impl fmt::Debug for OneTimeCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeCodes([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(byte: u8) -> OneTimeCodes {
        OneTimeCodes::derive(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_code_has_the_asked_digits_and_matches_only_its_own_scope() {
        let otp = codes(1);
        for digits in DIGITS {
            let code = otp.generate(digits).unwrap();
            assert_eq!(code.expose().len(), digits as usize);
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
            let stored = otp.hash(b"request-1/email", code.expose());
            assert!(otp.matches(b"request-1/email", code.expose(), &stored));
            assert!(otp.matches(
                b"request-1/email",
                &format!(" {}\n", code.expose()),
                &stored
            ));
            assert!(!otp.matches(b"request-2/email", code.expose(), &stored));
            assert!(!codes(2).matches(b"request-1/email", code.expose(), &stored));
        }
        assert!(otp.generate(5).is_err());
        assert!(otp.generate(11).is_err());
    }

    #[test]
    fn every_digit_is_about_equally_likely_in_every_place() {
        let otp = codes(3);
        let mut counts = [[0u32; 10]; 6];
        for _ in 0..20_000 {
            let code = otp.generate(6).unwrap();
            for (place, digit) in code.expose().bytes().enumerate() {
                counts[place][usize::from(digit - b'0')] += 1;
            }
        }
        // 2,000 expected per cell; ±300 is over six standard deviations.
        for place in counts {
            for count in place {
                assert!((1_700..=2_300).contains(&count), "{place:?}");
            }
        }
    }

    #[test]
    fn debug_never_shows_a_code() {
        let otp = codes(4);
        let code = otp.generate(6).unwrap();
        assert!(!format!("{code:?} {otp:?}").contains(code.expose()));
    }
}
