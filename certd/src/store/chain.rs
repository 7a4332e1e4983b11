//! The per-contract hash chain over events.
//!
//! `hash = SHA-256("certmail-event-v1" LF prev_hash LF contract_id LF seq LF at LF kind LF data)`,
//! hex-encoded; the first event's `prev_hash` is [`GENESIS`]. Every field is fixed text, so
//! anyone can recompute the chain from an exported bundle with `sha256sum`-grade tools.

use sha2::{Digest, Sha256};

/// `prev_hash` of the first event of a contract.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) fn event_hash(
    prev_hash: &str,
    contract_id: &str,
    seq: i64,
    at: &str,
    kind: &str,
    data: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        "certmail-event-v1",
        prev_hash,
        contract_id,
        &seq.to_string(),
        at,
        kind,
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.update(data.as_bytes());
    hex::encode(h.finalize())
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("event {seq}: sequence gap (expected {expected})")]
    Gap { seq: i64, expected: i64 },
    #[error("event {seq}: prev_hash does not match the hash of event {}", seq - 1)]
    Link { seq: i64 },
    #[error("event {seq}: stored hash does not match its content")]
    Content { seq: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_every_field() {
        let base = event_hash(GENESIS, "c", 1, "t", "k", "{}");
        assert_eq!(base.len(), 64);
        assert_ne!(base, event_hash(GENESIS, "c", 2, "t", "k", "{}"));
        assert_ne!(base, event_hash(GENESIS, "d", 1, "t", "k", "{}"));
        assert_ne!(base, event_hash(GENESIS, "c", 1, "u", "k", "{}"));
        assert_ne!(base, event_hash(GENESIS, "c", 1, "t", "j", "{}"));
        assert_ne!(base, event_hash(GENESIS, "c", 1, "t", "k", "{ }"));
        assert_ne!(base, event_hash(&base, "c", 1, "t", "k", "{}"));
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        // "ab" + "c" must not collide with "a" + "bc".
        assert_ne!(
            event_hash(GENESIS, "ab", 1, "c", "k", ""),
            event_hash(GENESIS, "a", 1, "bc", "k", "")
        );
    }
}
