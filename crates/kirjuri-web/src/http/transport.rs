//! Transport security (docs/requirements.md SEC-4): TLS through rustls (ring provider)
//! when a certificate and key are configured, and the response headers every
//! answer carries.
//!
//! The handshake itself runs per connection in `connections`, under the
//! connection cap and the header-read timeout. Not here: cookies and CSRF
//! (the session module), body size limits (the handlers, which know each
//! route's limit).

use std::path::Path;
use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use kirjuri_app::{Error, Result};

/// Loads a PEM certificate chain and private key into a rustls configuration
/// (TLS 1.2 and 1.3, HTTP/1.1 via ALPN). Errors name the file, not its bytes.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<std::result::Result<_, _>>())
        .map_err(|e| Error::Config {
            setting: "tls_cert",
            problem: format!("({}) cannot be read", cert.display()),
            source: Some(Box::new(e)),
        })?;
    if chain.is_empty() {
        return Err(Error::config(
            "tls_cert",
            format!("({}) holds no certificate", cert.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| Error::Config {
        setting: "tls_key",
        problem: format!("({}) cannot be read", key.display()),
        source: Some(Box::new(e)),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Other {
            step: "TLS setup failed",
            source: Box::new(e),
        })?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Config {
            setting: "tls_key",
            problem: "does not fit the certificate in tls_cert".to_owned(),
            source: Some(Box::new(e)),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The content security policy: the UI's own scripts, styles and media only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
                   frame-ancestors 'none'";

/// Adds the security headers to every response; HSTS only when served over TLS.
pub async fn security_headers(
    axum::extract::State(tls): axum::extract::State<bool>,
    mut response: Response,
) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Personal data must not linger in shared or browser caches.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kirjuri_core::clock::SystemClock;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use kirjuri_app::Kirjuri;
    use kirjuri_app::config::Config;

    /// Starts `serve` with a fresh self-signed certificate; returns the
    /// address and the certificate to trust.
    async fn serve_tls(
        dir: &std::path::Path,
        header_read_timeout_seconds: u64,
    ) -> (std::net::SocketAddr, rcgen::CertifiedKey<rcgen::KeyPair>) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
        let config = Config {
            data: dir.join("data"),
            tls_cert: Some(dir.join("cert.pem")),
            tls_key: Some(dir.join("key.pem")),
            header_read_timeout_seconds,
            ..Config::default()
        };
        let app = Kirjuri::open(config, Arc::new(SystemClock)).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(crate::http::serve(app, listener, std::future::pending()));
        (address, certified)
    }

    #[tokio::test]
    async fn with_a_certificate_configured_kirjuri_speaks_https_with_hsts() {
        let dir = tempfile::tempdir().unwrap();
        let (address, certified) = serve_tls(dir.path(), 10).await;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certified.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tls.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("strict-transport-security: max-age="),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn plain_http_to_the_tls_port_gets_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        let (address, _) = serve_tls(dir.path(), 10).await;
        let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tcp.read_to_end(&mut answer),
        )
        .await;
        assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_tls_handshake_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let (address, _) = serve_tls(dir.path(), 1).await;
        let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
        let started = std::time::Instant::now();
        let mut answer = Vec::new();
        // Sends nothing: the handshake can never complete.
        let closed = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tcp.read_to_end(&mut answer),
        )
        .await;
        assert!(closed.is_ok(), "still open after 10 s");
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(500),
            "closed after {:?}, before the 1 s handshake timeout",
            started.elapsed()
        );
    }
}
