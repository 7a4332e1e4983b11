//! The key that recognises an SMTP retry of a message certd already committed.
//!
//! When certd commits but its answer is lost (timeout, crash), the milter tempfails and the
//! sender retries. The retry differs only in the trace headers our own MTA prepends (a new
//! `Received:` with a new queue id and time), so the key hashes the customer and the message
//! without `Received:` and `Return-Path:` header fields.

use sha2::{Digest, Sha256};

/// Hex SHA-256 of `customer`, LF, and `raw` minus its trace header fields.
pub fn dedupe_key(customer: &str, raw: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(customer.as_bytes());
    h.update(b"\n");
    let header_end = find(raw, b"\r\n\r\n").map(|i| i + 2).unwrap_or(raw.len());
    let (head, body) = raw.split_at(header_end);
    let mut skipping = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            skipping = starts_with_ci(line, b"received:") || starts_with_ci(line, b"return-path:");
        }
        if !skipping {
            h.update(line);
        }
    }
    h.update(body);
    hex::encode(h.finalize())
}

fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_with_new_trace_headers_has_the_same_key() {
        let a = b"Received: from x by mx id AAA;\r\n\tWed, 25 Nov 2026 10:00:00 +0000\r\nSubject: s\r\n\r\nbody\r\n";
        let b = b"Received: from x by mx id BBB;\r\n\tWed, 25 Nov 2026 10:05:00 +0000\r\nReturn-Path: <a@b>\r\nSubject: s\r\n\r\nbody\r\n";
        assert_eq!(dedupe_key("alice", a), dedupe_key("alice", b));
    }

    #[test]
    fn content_and_customer_change_the_key() {
        let a = b"Subject: s\r\n\r\nbody\r\n";
        assert_ne!(
            dedupe_key("alice", a),
            dedupe_key("alice", b"Subject: t\r\n\r\nbody\r\n")
        );
        assert_ne!(
            dedupe_key("alice", a),
            dedupe_key("alice", b"Subject: s\r\n\r\nbodY\r\n")
        );
        assert_ne!(dedupe_key("alice", a), dedupe_key("bob", a));
        // A Received: line in the body is content.
        let c = b"Subject: s\r\n\r\nReceived: x\r\n";
        assert_ne!(
            dedupe_key("alice", c),
            dedupe_key("alice", b"Subject: s\r\n\r\n")
        );
    }
}
