//! The front of certificate issuing: from one snapshot of a finished contract to a signed,
//! timestamped PDF and what the store records about it. No store access, no lock held.

use super::{build, render};
use crate::error::Error;
use crate::evidence::event::{CertificateIssued, TimestampSummary};
use crate::evidence::Instant;
use crate::store::Snapshot;
use sha2::{Digest, Sha256};

/// The operator's signer, the TSAs and where B-LT's validation data comes from.
pub struct Certifier {
    pub signer: crate::signature::Signer,
    pub tsa: Box<dyn crate::timestamp::Timestamper + Send>,
    /// The PAdES level to reach.
    pub level: crate::signature::Level,
    /// Where B-LT's OCSP responses and CRLs come from.
    pub revocation: Box<dyn crate::signature::RevocationSource + Send>,
    /// Issuer certificates beyond the signer's chain (the TSAs' CAs).
    pub issuers: Vec<x509_cert::Certificate>,
}

impl Certifier {
    /// The certifier of a `[certificate]` section: loads the key and chain, and the TSAs'
    /// issuers if configured.
    pub fn from_config(c: &crate::config::CertificateConfig) -> Result<Certifier, Error> {
        use std::time::Duration;
        Ok(Certifier {
            signer: crate::signature::Signer::from_pem_files(&c.key, &c.chain)?,
            tsa: Box::new(crate::timestamp::TsaClient::new(
                c.tsa_urls.clone(),
                Duration::from_secs(c.tsa_timeout_secs),
            )),
            level: c.level,
            revocation: Box::new(crate::signature::HttpFetcher::new(Duration::from_secs(
                c.revocation_timeout_secs,
            ))),
            issuers: crate::signature::load_issuers(c.tsa_chain.as_deref())?,
        })
    }
}

/// A signed certificate, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub pdf: Vec<u8>,
    /// The `certificate_issued` event.
    pub record: CertificateIssued,
    /// When the archive time-stamp must be renewed.
    pub renew_by: Option<Instant>,
}

/// Why a certificate could not be issued now.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The content cannot be laid out: trying again will not help.
    #[error("rendering failed: {0}")]
    Render(#[source] Error),
    /// Signing, the TSA or the revocation data failed.
    #[error("{0}")]
    Sign(#[source] crate::signature::SignError),
}

impl IssueError {
    /// Retrying cannot help before the operator changes the configuration.
    pub fn needs_operator(&self) -> bool {
        matches!(self, IssueError::Sign(e) if e.needs_operator())
    }
}

/// Builds, renders, signs and timestamps the certificate of `snapshot`'s contract at `now`, at
/// the certifier's PAdES level.
pub fn issue(
    snapshot: &Snapshot,
    operator: &str,
    certifier: &Certifier,
    now: Instant,
) -> Result<Issued, IssueError> {
    let outcome = snapshot.contract.summary.state;
    let sentence = crate::i18n::outcome_sentence(&snapshot.customer.language, outcome);
    let data = build::build(snapshot, operator, sentence, now)
        .map_err(|e| IssueError::Render(e.into()))?;
    let pdf = render::render(&data).map_err(IssueError::Render)?;
    let reason = format!("{} — serial {}", data.title, data.serial);
    let signed = certifier
        .signer
        .sign(
            &pdf,
            &reason,
            certifier.tsa.as_ref(),
            certifier.level,
            certifier.revocation.as_ref(),
            &certifier.issuers,
        )
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
    let renew_by = crate::signature::renew_by(&signed)
        .map(|t| Instant::from_unix_secs(i64::try_from(t.as_secs()).unwrap_or(i64::MAX)));
    Ok(Issued {
        pdf: signed,
        record,
        renew_by,
    })
}
