//! `[requests]`: the data-subject request policy an operator may change —
//! which states stop the clock, which eves count as days off, what
//! assurance each request type needs, how long a one-time code lives and
//! how many tries it has, how long a closed request's record is kept, and
//! how long a delivery link works and where it points.
//! Every default is the law's or the privacy notice's reading; none needs
//! configuring.
//!
//! ```toml
//! [requests]
//! pause_states = ["awaiting_identity"]   # [] lets the clock run throughout
//! retention_years = 3
//! code_ttl_seconds = 900
//! code_tries = 3
//! alert_to = ["tietosuoja@example.fi"]  # deadline alerts (T-7, T-2, T-0)
//! lift_notice_days = 7   # a restriction is lifted this long after the subject is told
//! link_days = 7                         # a delivery link's life (1–30 days)
//! public_base_url = "https://kirjuri.example.fi"  # what links in letters start with
//! [requests.holidays]
//! christmas_eve = true
//! midsummer_eve = true
//! [requests.assurance]
//! release = "substantial"
//! change = "substantial"
//! objection = "low"
//! information = "low"
//! ```

use kirjuri_core::calendar::HolidayPolicy;
use kirjuri_core::email::EmailAddress;
use kirjuri_core::request::{AssurancePolicy, CODE_TRIES, CODE_TTL_MINUTES, RequestState};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The data-subject request policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestsConfig {
    /// States in which the deadline's clock stops (Art. 12(6): waiting for
    /// proof of identity). Entering one pauses the clock, leaving it
    /// resumes; each is audited. Empty: the clock always runs.
    pub pause_states: Vec<RequestState>,
    /// Whether Christmas Eve and Midsummer Eve count as days off.
    pub holidays: HolidayPolicy,
    /// The assurance each request type needs before work starts.
    pub assurance: AssurancePolicy,
    /// Years a closed request's record is kept after closure.
    pub retention_years: u32,
    /// How long a one-time code works, in seconds.
    pub code_ttl_seconds: u64,
    /// How many tries a one-time code has.
    pub code_tries: u32,
    /// Digits of a one-time code (6–10).
    pub code_digits: u32,
    /// Where deadline alerts go by email (the data protection officer,
    /// the registrars' shared mailbox): at seven days, two days and on
    /// the due day, each once. Empty: the alert is the timeline entry and
    /// audit event only. Alerts carry the reference and dates, never
    /// personal data.
    pub alert_to: Vec<String>,
    /// Posts of the public request form one client address may make in a
    /// burst (refilled over `public_window_seconds`).
    pub public_per_address: u32,
    /// The time in which an address's public-form allowance refills.
    pub public_window_seconds: u64,
    /// Days between telling the subject that their restriction will be
    /// lifted and its lifting (GDPR Art. 18(3): they are told first, and
    /// have time to act). 0 lifts it as the notice is queued.
    pub lift_notice_days: u32,
    /// Days a delivery link of an access package works (1–30).
    pub link_days: u32,
    /// The public address the requester reaches the server at, as links
    /// in letters start (`https://kirjuri.example.fi`, no path). Unset:
    /// the address the server listens on.
    pub public_base_url: Option<String>,
}

impl Default for RequestsConfig {
    fn default() -> Self {
        Self {
            pause_states: vec![RequestState::AwaitingIdentity],
            holidays: HolidayPolicy::default(),
            assurance: AssurancePolicy::default(),
            retention_years: 3,
            code_ttl_seconds: u64::try_from(CODE_TTL_MINUTES * 60).unwrap_or(900),
            code_tries: CODE_TRIES,
            code_digits: 6,
            alert_to: Vec::new(),
            public_per_address: 5,
            public_window_seconds: 3600,
            lift_notice_days: 7,
            link_days: 7,
            public_base_url: None,
        }
    }
}

impl RequestsConfig {
    /// Refuses a policy that cannot work, naming the setting.
    pub fn validate(&self) -> Result<()> {
        if let Some(state) = self.pause_states.iter().find(|s| s.is_final()) {
            return Err(Error::config(
                "requests.pause_states",
                format!("may not name the final state {state}: a closed request has no clock"),
            ));
        }
        if !(1..=10).contains(&self.retention_years) {
            return Err(Error::config(
                "requests.retention_years",
                format!("must be between 1 and 10 (it is {})", self.retention_years),
            ));
        }
        if !(1..=86_400).contains(&self.code_ttl_seconds) {
            return Err(Error::config(
                "requests.code_ttl_seconds",
                format!(
                    "must be between 1 and 86400 (it is {})",
                    self.code_ttl_seconds
                ),
            ));
        }
        if !(1..=10).contains(&self.code_tries) {
            return Err(Error::config(
                "requests.code_tries",
                format!("must be between 1 and 10 (it is {})", self.code_tries),
            ));
        }
        if !kirjuri_vault::otp::DIGITS.contains(&self.code_digits) {
            return Err(Error::config(
                "requests.code_digits",
                format!("must be between 6 and 10 (it is {})", self.code_digits),
            ));
        }
        if self.lift_notice_days > 60 {
            return Err(Error::config(
                "requests.lift_notice_days",
                format!("must be between 0 and 60 (it is {})", self.lift_notice_days),
            ));
        }
        if self.alert_to.len() > 20 {
            return Err(Error::config(
                "requests.alert_to",
                format!("at most 20 addresses (it has {})", self.alert_to.len()),
            ));
        }
        for (n, address) in self.alert_to.iter().enumerate() {
            if EmailAddress::parse(address, "requests.alert_to").is_err() {
                return Err(Error::config(
                    "requests.alert_to",
                    format!("entry {} is not an email address", n + 1),
                ));
            }
        }
        if !(1..=30).contains(&self.link_days) {
            return Err(Error::config(
                "requests.link_days",
                format!("must be between 1 and 30 (it is {})", self.link_days),
            ));
        }
        if let Some(base) = &self.public_base_url {
            let rest = base
                .strip_prefix("https://")
                .or_else(|| base.strip_prefix("http://"));
            let ok = rest.is_some_and(|host| {
                !host.is_empty()
                    && host.len() <= 200
                    && !host.contains(['/', '?', '#', '@'])
                    && !host.chars().any(|c| c.is_whitespace() || c.is_control())
            });
            if !ok {
                return Err(Error::config(
                    "requests.public_base_url",
                    "must be http(s)://host[:port] with no path, e.g. https://kirjuri.example.fi",
                ));
            }
        }
        Ok(())
    }

    /// Whether `state` stops the clock.
    pub fn pauses(&self, state: RequestState) -> bool {
        self.pause_states.contains(&state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pause_only_while_awaiting_identity_and_validate() {
        let config = RequestsConfig::default();
        config.validate().unwrap();
        assert!(config.pauses(RequestState::AwaitingIdentity));
        assert!(!config.pauses(RequestState::Received));
        assert_eq!(config.code_ttl_seconds, 900);
        assert_eq!(config.code_tries, 3);
    }

    #[test]
    fn a_final_pause_state_and_silly_numbers_are_refused_naming_the_setting() {
        let mut config = RequestsConfig {
            pause_states: vec![RequestState::Answered],
            ..RequestsConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("requests.pause_states"), "{error}");
        config.pause_states.clear();
        config.code_digits = 4;
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("requests.code_digits"), "{error}");
        config.code_digits = 6;
        config.alert_to = vec!["dpo@example.fi".into(), "not an address".into()];
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("requests.alert_to") && error.contains("entry 2"),
            "{error}"
        );
        assert!(!error.contains("not an address"), "{error}");
        config.alert_to.clear();
        for days in [0, 31] {
            config.link_days = days;
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("requests.link_days"), "{error}");
        }
        config.link_days = 30;
        for bad in [
            "kirjuri.example.fi",
            "https://x.fi/path",
            "ftp://x.fi",
            "https://",
        ] {
            config.public_base_url = Some(bad.into());
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("requests.public_base_url"), "{error}");
        }
        config.public_base_url = Some("https://kirjuri.example.fi:8443".into());
        config.validate().unwrap();
    }

    #[test]
    fn a_lift_notice_beyond_sixty_days_is_refused_naming_the_setting() {
        let mut config = RequestsConfig {
            lift_notice_days: 61,
            ..RequestsConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("requests.lift_notice_days"), "{error}");
        config.lift_notice_days = 0;
        config.validate().unwrap();
        assert_eq!(RequestsConfig::default().lift_notice_days, 7);
    }

    #[test]
    fn the_policy_reads_from_toml() {
        let config: RequestsConfig = toml::from_str(
            "pause_states = []\n[holidays]\nchristmas_eve = false\nmidsummer_eve = true\n",
        )
        .unwrap();
        assert!(config.pause_states.is_empty());
        assert!(!config.holidays.christmas_eve);
        assert!(toml::from_str::<RequestsConfig>("pause = []").is_err());
    }
}
