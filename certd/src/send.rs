//! How handing something to a gateway (the MTA, the SMS gateway) can fail. A leaf, so that
//! every channel and the outbox share one meaning of "try again" and "give up".

/// Why a send failed: temporary failures are retried, permanent ones recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("temporary: {0}")]
    Temporary(String),
    #[error("permanent: {0}")]
    Permanent(String),
}
