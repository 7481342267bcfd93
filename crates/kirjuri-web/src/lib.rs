//! Kirjuri's web layer: the HTTP API (`http`), the server-rendered UI
//! (`ui`), the LMTP listener (`lmtp`), the connection loop and TLS (`http::connections`,
//! `http::transport`), cookies and `Range` headers, and the one mapping of
//! the application's errors to HTTP answers (`error`). It is the only crate
//! that depends on axum, hyper, tower and askama (a tidy test holds it to
//! that). Handlers are thin: they parse, call one `kirjuri_app::Kirjuri`
//! method, and shape the answer; access decisions and audit happen in the
//! application.

pub mod error;
pub mod http;
pub mod lmtp;
pub mod ui;

pub use error::{HttpError, Result};
