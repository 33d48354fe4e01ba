//! The layers a [`Request`](super::request::Request) goes through, outermost first:
//! redaction, pacing, unique creates, credentials, retry, metrics, and the transport (HTTP,
//! or the preview's in-memory GitHub).

pub mod auth;
pub mod http;
pub mod metrics;
pub mod pace;
pub mod redact;
pub mod retry;
pub mod unique;
