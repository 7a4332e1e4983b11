//! The wire protocol between `certmilter` and `certd`.
//!
//! Both binaries depend on this crate and nothing else of each other, so the milter never
//! links SQLite, PDF or signing code. See `docs/protocol.md` for the byte-level description.
//!
//! # Framing
//!
//! Every message travels as one frame:
//!
//! ```text
//! +----------------+---------+--------------------------+
//! | length: u32 BE | version | CBOR body (RFC 8949)     |
//! +----------------+---------+--------------------------+
//!   counts version + body      u8, currently 1
//! ```
//!
//! CBOR carries the raw message as a byte string (no base64), is self-describing for
//! debugging (`cbor-diag`), and tolerates added optional fields, so the version byte only has
//! to change when a change is not backwards compatible.
//!
//! # Exchange
//!
//! One request and one response per connection: the milter connects, writes a [`Request`],
//! reads a [`Response`] and closes. certd restarts therefore never strand a half-used
//! connection, and a Unix-socket connect costs microseconds.
//!
//! # Rules both sides enforce
//!
//! [`limits`] (every size and count limit, derived from the message size) and
//! [`counterparty`] (who cannot be a counterparty) live here too, so that the milter and
//! certd apply one definition and answer with the same sentence.

mod codec;
pub mod counterparty;
pub mod limits;
mod message;
pub mod socket;

pub use codec::{encode_frame, read_frame, write_frame, CodecError, VERSION};
pub use limits::{LimitViolation, Limits, LimitsError};
pub use message::{
    Answer, AnswerKind, AttachmentInfo, AuthEvidence, AuthMethod, AuthOutcome, AuthVerdict,
    Committed, CustomerInfo, CustomerPolicy, Destination, Refusal, Request, Response, Submission,
    TokenInfo,
};
