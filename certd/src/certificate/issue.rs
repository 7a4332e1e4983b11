//! The front of certificate issuing: from one snapshot of a finished contract to a signed,
//! timestamped PDF and what the store records about it. No store access, no lock held.

use super::{build, render};
use crate::error::Error;
use crate::evidence::event::{CertificateIssued, TimestampSummary};
use crate::evidence::Instant;
use crate::signature::Signer;
use crate::store::Snapshot;
use crate::timestamp::Timestamper;
use sha2::{Digest, Sha256};

/// A signed certificate, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub pdf: Vec<u8>,
    /// The `certificate_issued` event.
    pub record: CertificateIssued,
}

/// Why a certificate could not be issued now.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The content cannot be laid out: trying again will not help.
    #[error("rendering failed: {0}")]
    Render(#[source] Error),
    /// Signing or the TSA failed: worth trying again later.
    #[error("{0}")]
    Sign(#[source] Error),
}

/// Builds, renders, signs and timestamps the certificate of `snapshot`'s contract at `now`.
pub fn issue(
    snapshot: &Snapshot,
    operator: &str,
    signer: &Signer,
    tsa: &dyn Timestamper,
    now: Instant,
) -> Result<Issued, IssueError> {
    let outcome = snapshot.contract.summary.state;
    let sentence = crate::i18n::outcome_sentence(&snapshot.customer.language, outcome);
    let data = build::build(snapshot, operator, sentence, now)
        .map_err(|e| IssueError::Render(e.into()))?;
    let pdf = render::render(&data).map_err(IssueError::Render)?;
    let reason = format!("{} — serial {}", data.title, data.serial);
    let signed = signer
        .sign_pdf(&pdf, &reason, tsa)
        .map_err(IssueError::Sign)?;
    // `null` (no readable time-stamp) reads as `None`.
    let timestamp: Option<TimestampSummary> =
        serde_json::from_value(crate::signature::timestamp_summary(&signed)).unwrap_or(None);
    let record = CertificateIssued {
        sha256: hex::encode(Sha256::digest(&signed)),
        size: signed.len() as u64,
        chain_head: data.chain_head,
        timestamp,
        copies_to: build::copies_to(snapshot),
    };
    Ok(Issued {
        pdf: signed,
        record,
    })
}
