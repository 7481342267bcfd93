//! The SMS sender for Kannel's `sendsms` HTTP interface (smsbox):
//! `GET /cgi-bin/sendsms?username=…&password=…&from=…&to=…&text=…&charset=UTF-8`.
//! A 2xx answer (`202`, `0: Accepted for delivery` or `3: Queued for later
//! delivery`) is delivered; `5xx` (`Sending failed`, `Temporary failure`),
//! a refused connection and a timeout retry; any other answer (`4xx`:
//! authentication failed, a missing or refused number) gives up. The URL
//! carries the password and the recipient, so neither it nor reqwest's
//! error (which quotes it) is ever logged: a failure is a code.

use async_trait::async_trait;

use super::config::{Endpoint, OutboxConfig, SecretText, SmsSenderConfig};
use super::{Content, Outgoing, SendError, Sender};
use crate::error::{Error, Result};

/// Sends SMS through one Kannel smsbox.
#[derive(Clone)]
pub struct KannelSender {
    /// The HTTP client (rustls on ring).
    client: reqwest::Client,
    /// `…/cgi-bin/sendsms`.
    url: reqwest::Url,
    /// The `sendsms-user`.
    username: String,
    /// Its password.
    password: SecretText,
    /// The sender shown, if set.
    from: Option<String>,
}

impl std::fmt::Debug for KannelSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KannelSender").finish_non_exhaustive()
    }
}

impl KannelSender {
    /// A sender to `endpoint` as `config` says.
    pub(crate) fn new(
        config: &SmsSenderConfig,
        endpoint: Endpoint,
        outbox: &OutboxConfig,
    ) -> Result<Self> {
        // reqwest is built without a provider: ring's, process-wide (the
        // S3 client installs the same one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(outbox.send_timeout_seconds))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config {
                setting: "outbox.sms.url",
                problem: "cannot be set up as an HTTP client".to_owned(),
                source: Some(Box::new(e.without_url())),
            })?;
        let mut url = endpoint.url;
        url.set_path("/cgi-bin/sendsms");
        let (Some(username), Some(password)) = (&config.username, &config.password) else {
            return Err(Error::config(
                "outbox.sms.username",
                "and outbox.sms.password are required with sender = \"kannel\"",
            ));
        };
        Ok(Self {
            client,
            url,
            username: username.clone(),
            password: password.clone(),
            from: config.from.clone(),
        })
    }
}

#[async_trait]
impl Sender for KannelSender {
    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let Content::Sms { to, text } = &message.content else {
            return Err(SendError::Permanent("not_an_sms".to_owned()));
        };
        let mut url = self.url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("username", &self.username)
                .append_pair("password", self.password.expose());
            if let Some(from) = &self.from {
                query.append_pair("from", from);
            }
            query
                .append_pair("to", to)
                .append_pair("text", text)
                .append_pair("charset", "UTF-8");
        }
        let response = match self.client.get(url).send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return Err(SendError::Retryable("kannel_timeout".into())),
            Err(_) => return Err(SendError::Retryable("kannel_unavailable".into())),
        };
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() {
            Err(SendError::Retryable(format!("kannel_{}", status.as_u16())))
        } else {
            Err(SendError::Permanent(format!("kannel_{}", status.as_u16())))
        }
    }
}
