//! Passwords: Argon2id hashing and verification on a bounded pool of
//! threads of its own ([`PasswordWork`]), the dummy verification that makes
//! an unknown name cost as much as a wrong password, the policy that refuses
//! short and common passwords, and generated passwords.
//!
//! Not here: when a password is checked and what a failure counts toward
//! (`session`), and who may change whose password (`auth`).

use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::{random_bytes, random_secret};
use crate::error::{Error, Result};

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Passwords longer than this are refused: Argon2 takes any length, but the
/// strength estimate's work grows with it.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Hashes a password with Argon2id and a random salt.
pub fn hash_password(password: &SecretString) -> Result<String> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(Error::PasswordHash)
}

/// Checks a password against a stored Argon2id hash.
pub fn verify_password(password: &SecretString, stored: &str) -> bool {
    verify_password_in(password, stored, &mut Vec::new())
}

/// The most Argon2 memory a stored hash may ask for: 1 GiB (ours ask 19 MiB).
const MAX_ARGON2_BLOCKS: usize = 1 << 20;

/// Checks a password against a stored Argon2 hash, with `memory` as Argon2's
/// working memory: grown to what the hash asks for and kept by the caller.
/// A password thread reuses one for every check it makes; allocating 19 MiB
/// afresh for each check left the allocator holding a block per check (the
/// server grew by ~16 MiB per sign-in under a burst). The same computation
/// as argon2's own `verify_password`: the hash's algorithm, version,
/// parameters and salt, and a constant-time comparison of the outputs.
fn verify_password_in(password: &SecretString, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    let Ok(version) = hash.version.map(Version::try_from).transpose() else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let Some(working) = memory.get_mut(..blocks) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    argon2
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt.as_ref(),
            &mut out,
            working,
        )
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// Verifies `password` against a hash of a random password no one knows, so
/// that a sign-in with an unknown name costs as long as one with a wrong
/// password and the answer's timing does not tell which names exist.
fn verify_against_dummy(password: &SecretString, memory: &mut Vec<Block>) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        random_secret("")
            .ok()
            .and_then(|secret| hash_password(&secret).ok())
    });
    if let Some(hash) = dummy {
        let _ = verify_password_in(password, hash, memory);
    }
}

/// Checks the password policy: at least [`MIN_PASSWORD_CHARS`] characters,
/// and not common or easily guessed — judged by zxcvbn (its bundled lists of
/// common passwords, names and words, with the account name as context),
/// which must rate it at least 3 of 4. The message says which rule failed and
/// never contains the password.
pub fn check_password_policy(password: &SecretString, user_name: &str) -> Result<()> {
    let text = password.expose_secret();
    let chars = text.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Error::bad_request(
            "weak_password",
            format!("the password must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(Error::bad_request(
            "weak_password",
            format!("the password must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    let context = [user_name, "kirjuri"];
    let estimate = zxcvbn::zxcvbn(text, &context);
    let warning = estimate.feedback().and_then(|f| f.warning());
    let common = matches!(
        warning,
        Some(
            zxcvbn::feedback::Warning::ThisIsATop10Password
                | zxcvbn::feedback::Warning::ThisIsATop100Password
                | zxcvbn::feedback::Warning::ThisIsACommonPassword
                | zxcvbn::feedback::Warning::ThisIsSimilarToACommonlyUsedPassword
        )
    );
    if common {
        return Err(Error::bad_request(
            "common_password",
            "the password is a common password or too close to one; choose another",
        ));
    }
    if (estimate.score() as u8) < 3 {
        let hint = warning.map(|w| format!(" ({w})")).unwrap_or_default();
        return Err(Error::bad_request(
            "weak_password",
            format!(
                "the password is too easy to guess{hint}; a few uncommon words or a longer \
                 passphrase will do"
            ),
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

/// Where Argon2 runs: `workers` threads of its own (one per core), fed by a
/// queue of at most `queue` waiting checks; beyond that a password check is
/// refused at once ([`Error::Busy`], 503) instead of queueing without bound.
/// A burst of sign-ins thus keeps at most `workers` Argon2 memory blocks
/// (19 MiB each) alive, and leaves the async workers — and every other
/// request — free. The threads are fixed, not tokio's blocking pool: every
/// new thread that runs Argon2 gets a malloc arena that keeps its 19 MiB, so
/// a pool that grows under load grows the process by that much per thread.
#[derive(Debug)]
pub struct PasswordWork {
    queue: tokio::sync::mpsc::Sender<PasswordJob>,
}

/// One hash or verification, run on a password thread with that thread's
/// Argon2 working memory.
type PasswordJob = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// A place in [`PasswordWork`]'s queue, taken before anything is reserved so
/// that a refusal leaves nothing to settle. Spent by one hash or
/// verification.
#[derive(Debug)]
pub struct PasswordSlot {
    place: tokio::sync::mpsc::OwnedPermit<PasswordJob>,
}

impl PasswordWork {
    /// `workers` threads (at least one), `queue` more checks waiting (at
    /// least one).
    pub fn new(workers: usize, queue: usize) -> Result<Self> {
        let (sender, receiver) = tokio::sync::mpsc::channel::<PasswordJob>(queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("kirjuri-argon2-{n}"))
                .spawn(move || {
                    // Grown by the first check, reused by every later one.
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        // One idle thread waits on the queue at a time; it
                        // lets go of the lock before it runs the job.
                        let job = receiver
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .blocking_recv();
                        match job {
                            Some(job) => job(&mut memory),
                            None => break,
                        }
                    }
                })
                .map_err(|e| Error::io("failed to start a password thread", e))?;
        }
        Ok(Self { queue: sender })
    }

    /// Sized to this machine: one thread per core, eight waiting per thread.
    pub fn for_this_machine() -> Result<Self> {
        let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self::new(workers, workers * 8)
    }

    /// A place, or [`Error::Busy`] if all are taken.
    pub fn admit(&self) -> Result<PasswordSlot> {
        match self.queue.clone().try_reserve_owned() {
            Ok(place) => Ok(PasswordSlot { place }),
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => Err(Error::Busy),
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                Err(Error::Internal("the password threads have stopped"))
            }
        }
    }

    /// Hashes a new password (admitting it first).
    pub async fn hash(&self, password: &SecretString) -> Result<String> {
        self.admit()?.hash(password).await
    }
}

impl PasswordSlot {
    /// Runs `work` on a password thread. Once queued it runs to the end,
    /// also if the request waiting for it is dropped.
    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.place.send(Box::new(move |memory: &mut Vec<Block>| {
            // The waiter may be gone; the work was done all the same.
            let _ = done.send(work(memory));
        }));
        result
            .await
            .map_err(|_| Error::Internal("a password check did not finish"))
    }

    /// Hashes `password` with Argon2id.
    pub async fn hash(self, password: &SecretString) -> Result<String> {
        let password = SecretString::from(password.expose_secret().to_owned());
        self.run(move |_| hash_password(&password)).await?
    }

    /// Whether `password` matches `stored`.
    pub async fn verify(self, password: &SecretString, stored: &str) -> Result<bool> {
        let password = SecretString::from(password.expose_secret().to_owned());
        let stored = stored.to_owned();
        self.run(move |memory| verify_password_in(&password, &stored, memory))
            .await
    }

    /// Spends as long as a verification against a password no one knows,
    /// so a refusal that needs no check takes as long as one that does.
    pub async fn verify_dummy(self, password: &SecretString) -> Result<()> {
        let password = SecretString::from(password.expose_secret().to_owned());
        self.run(move |memory| verify_against_dummy(&password, memory))
            .await
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
    fn verifying_with_reused_memory_agrees_with_argon2s_own_verifier() {
        use argon2::password_hash::PasswordVerifier;
        let password = SecretString::from("correct horse battery staple");
        let wrong = SecretString::from("correct horse battery stapler");
        let hash = hash_password(&password).unwrap();
        let mut memory = Vec::new();
        for _ in 0..3 {
            assert!(verify_password_in(&password, &hash, &mut memory));
            assert!(!verify_password_in(&wrong, &hash, &mut memory));
        }
        assert_eq!(memory.len(), 19 * 1024, "grown once to m = 19 MiB");
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        );
        // A hash with other parameters (m = 8 MiB, t = 3) verifies too.
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 3, 1, None).unwrap(),
        )
        .hash_password(password.expose_secret().as_bytes())
        .unwrap()
        .to_string();
        assert!(verify_password_in(&password, &other, &mut memory));
        assert!(!verify_password_in(&wrong, &other, &mut memory));
        assert!(!verify_password_in(
            &password,
            "$argon2id$v=19$m=19456,t=2,p=1$bm90YXNhbHQ",
            &mut memory
        ));
    }

    #[test]
    fn generated_passwords_pass_the_policy_and_differ() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert!(check_password_policy(&a, "aino").is_ok());
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn short_passwords_are_refused_without_echoing_them() {
        let err = check_password_policy(&SecretString::from("hunter2"), "aino").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(err.to_string().contains("at least 12"), "{err}");
    }

    #[test]
    fn common_passwords_of_twelve_characters_are_refused_as_common() {
        for common in [
            "password1234",
            "qwertyuiop12",
            "123456789012",
            "iloveyou1234",
        ] {
            let err = check_password_policy(&SecretString::from(common), "aino").unwrap_err();
            let code = err.code();
            assert!(
                code == "common_password" || code == "weak_password",
                "{common}: {code}"
            );
            assert!(!err.to_string().contains(common), "{err}");
        }
        let err = check_password_policy(&SecretString::from("password1234"), "aino").unwrap_err();
        assert_eq!(err.code(), "common_password", "{err}");
    }

    #[test]
    fn a_password_built_from_the_account_name_is_refused() {
        let err =
            check_password_policy(&SecretString::from("ainoaino2024"), "ainoaino").unwrap_err();
        assert!(
            matches!(err.code(), "weak_password" | "common_password"),
            "{err}"
        );
    }

    #[test]
    fn a_long_uncommon_passphrase_is_accepted() {
        assert!(
            check_password_policy(
                &SecretString::from("harmaa lokki kantaa sateenvarjoa"),
                "aino"
            )
            .is_ok()
        );
    }

    #[tokio::test]
    async fn password_work_refuses_at_once_beyond_its_places() {
        let work = PasswordWork::new(1, 2).unwrap();
        let first = work.admit().unwrap();
        let second = work.admit().unwrap();
        assert!(matches!(work.admit(), Err(Error::Busy)));
        let password = SecretString::from("correct horse battery staple");
        let hash = first.hash(&password).await.unwrap();
        assert!(second.verify(&password, &hash).await.unwrap());
        assert!(work.admit().is_ok(), "spent places are free again");
    }
}
