//! The session cookie: the `Set-Cookie` values that hand a browser its
//! session and take it back, and finding the session secret (or any
//! cookie) among a request's cookies. What a session is and how it is
//! checked is the application's (`kirjuri_app::session`).

use axum::http::{HeaderMap, HeaderValue, header};
use kirjuri_app::Error;
use kirjuri_app::session::SESSION_COOKIE;
use secrecy::{ExposeSecret, SecretString};

/// The `Set-Cookie` value that hands the browser its session.
pub fn session_cookie(secret: &SecretString, secure: bool) -> Result<HeaderValue, Error> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{secure}",
        secret.expose_secret()
    ))
    .map_err(|_| Error::Internal("a session secret is not a valid header value"))
}

/// The `Set-Cookie` value that makes the browser forget its session.
pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static(
            "kirjuri_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure",
        )
    } else {
        HeaderValue::from_static("kirjuri_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
    }
}

/// The session secret in a request's `Cookie` headers, if any.
pub fn session_secret(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// A cookie's value from the request's `Cookie` headers, if present and
/// not empty.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_only_under_tls() {
        let secret = SecretString::from("kjs_abc");
        let plain = session_cookie(&secret, false).unwrap();
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("kirjuri_session=kjs_abc;"));
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(plain.contains(flag), "{plain}");
        }
        assert!(!plain.contains("Secure"));
        let tls = session_cookie(&secret, true).unwrap();
        assert!(tls.to_str().unwrap().ends_with("; Secure"));
        assert!(
            clear_session_cookie(true)
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }

    #[test]
    fn the_session_secret_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; kirjuri_session=kjs_x; b=2"),
        );
        assert_eq!(session_secret(&headers), Some("kjs_x"));
        let mut none = HeaderMap::new();
        none.append(
            header::COOKIE,
            HeaderValue::from_static("kirjuri_sessionx=1"),
        );
        assert_eq!(session_secret(&none), None);
    }
}
