//! Kirjuri's domain layer: contacts, identifiers, roles, purposes, the access
//! decision, retention arithmetic, the Finnish calendar and a data-subject
//! request's deadline, and the streaming WAV validator.
//!
//! Invariant: this crate does no I/O. It reads no clock (time comes in through
//! [`clock::Clock`]), opens no file and no socket, so every rule here is testable
//! with plain values.

pub mod access;
pub mod audit;
pub mod breach;
pub mod calendar;
pub mod clock;
pub mod contact;
pub mod deadline;
pub mod email;
pub mod error;
pub mod hetu;
pub mod ids;
pub mod location;
pub mod merkle;
pub mod message;
pub mod name;
pub mod phone;
pub mod property_id;
pub mod purpose;
pub mod request;
pub mod retention;
pub mod role;
pub mod statistics;
pub mod survey;
pub mod ticket;
pub mod transcript;
pub mod username;
pub mod wav;
pub mod wire;

pub use error::{Error, Result};
