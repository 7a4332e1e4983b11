//! Certification paths (RFC 5280 section 6, simplified: signatures, validity at a time, CA
//! flag) built from every certificate the file carries, and the revocation data in `/DSS`
//! that proves each certificate of a path was not revoked (ETSI EN 319 102-1 section 5.6.2).

use super::super::revocation::{crl_check, ocsp_check, Revocation};
use super::crypto::issued_by;
use std::time::Duration;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;

/// Why no path was found.
#[derive(Debug, thiserror::Error)]
pub(super) enum PathError {
    #[error("{subject} is not valid at {at} (valid {from} to {to})")]
    NotValidThen {
        subject: String,
        at: String,
        from: x509_cert::time::Time,
        to: x509_cert::time::Time,
    },
    #[error("no trust anchor or embedded CA certificate issued {subject} (issuer {issuer})")]
    NoIssuer { subject: String, issuer: String },
    #[error("certification path too long")]
    PathTooLong,
}

pub(super) fn subject(c: &Certificate) -> String {
    c.tbs_certificate.subject.to_string()
}

/// RFC 3339, seconds.
pub(super) fn rfc3339(t: Duration) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + t).to_string()
}

pub(super) fn describe_path(path: &[&Certificate]) -> String {
    let names: Vec<String> = path.iter().map(|c| subject(c)).collect();
    format!("{} (trust anchor)", names.join(" → "))
}

fn valid_at(cert: &Certificate, at: Duration) -> Result<(), PathError> {
    let v = &cert.tbs_certificate.validity;
    if at < v.not_before.to_unix_duration() || at > v.not_after.to_unix_duration() {
        return Err(PathError::NotValidThen {
            subject: subject(cert),
            at: rfc3339(at),
            from: v.not_before,
            to: v.not_after,
        });
    }
    Ok(())
}

fn is_ca(cert: &Certificate) -> bool {
    cert.tbs_certificate
        .get::<BasicConstraints>()
        .ok()
        .flatten()
        .is_some_and(|(_, bc)| bc.ca)
}

/// Builds a certification path from `leaf` through CA certificates of `pool` to one of
/// `anchors`, checking each signature and each validity period at `at`. The anchor itself is
/// input, not a certificate to validate: its validity period is not checked (RFC 5280 section
/// 6.1.1 (d)).
pub(super) fn build_path<'a>(
    leaf: &'a Certificate,
    pool: &'a [Certificate],
    anchors: &'a [Certificate],
    at: Duration,
) -> Result<Vec<&'a Certificate>, PathError> {
    let mut path = vec![leaf];
    let mut current = leaf;
    for _ in 0..8 {
        if anchors.contains(current) {
            return Ok(path);
        }
        valid_at(current, at)?;
        if let Some(anchor) = anchors.iter().find(|a| issued_by(current, a)) {
            path.push(anchor);
            return Ok(path);
        }
        let Some(next) = pool
            .iter()
            .find(|c| !path.contains(c) && is_ca(c) && issued_by(current, c))
        else {
            return Err(PathError::NoIssuer {
                subject: subject(current),
                issuer: current.tbs_certificate.issuer.to_string(),
            });
        };
        path.push(next);
        current = next;
    }
    Err(PathError::PathTooLong)
}

/// The earliest notAfter of the certificates of `path` except the anchor (the last).
pub(super) fn earliest_expiry(path: &[&Certificate]) -> Option<Duration> {
    path[..path.len().saturating_sub(1)]
        .iter()
        .map(|c| c.tbs_certificate.validity.not_after.to_unix_duration())
        .min()
}

/// A path for the latest time-stamp of a file, checked at `at`. If that fails only because a
/// certificate has expired by `at`, the path is checked at `gen_time` instead and the earliest
/// expiry is returned: the file then needs a newer document time-stamp (renewal) — the choice
/// `docs/decisions.md` ("Validating at a future time") explains.
pub(super) fn build_latest_path<'a>(
    leaf: &'a Certificate,
    pool: &'a [Certificate],
    anchors: &'a [Certificate],
    gen_time: Duration,
    at: Duration,
) -> Result<(Vec<&'a Certificate>, Option<Duration>), PathError> {
    match build_path(leaf, pool, anchors, at) {
        Ok(p) => Ok((p, None)),
        Err(e) => match build_path(leaf, pool, anchors, gen_time) {
            Ok(p) => match earliest_expiry(&p) {
                Some(exp) if at > exp => Ok((p, Some(exp))),
                _ => Err(e),
            },
            Err(_) => Err(e),
        },
    }
}

/// What the revocation data says about one certificate of a path.
#[derive(Debug)]
pub(super) enum Proof {
    /// Usable data says it was not revoked at the reference time.
    Good(String),
    /// Only data issued before `fresh_after` (not fresh for the signature).
    Stale(String),
    /// Data says it was revoked at or before the reference time.
    Revoked(String),
    /// No usable data for it.
    Missing,
}

/// One certificate's proof, with the certificate's subject.
pub(super) struct CertProof {
    pub subject: String,
    pub proof: Proof,
}

/// Revocation data for every certificate of `path` but the anchor, from `ocsps` and `crls`.
/// `reference`: a revocation at or before it makes the certificate revoked for this use;
/// `fresh_after`: data must have been issued at or after it (the signature's time-stamp for
/// the signer's chain, ETSI EN 319 102-1 section 5.6.2.5), `None` for time-stamp chains.
pub(super) fn prove(
    path: &[&Certificate],
    ocsps: &[Vec<u8>],
    crls: &[Vec<u8>],
    reference: Duration,
    fresh_after: Option<Duration>,
) -> Vec<CertProof> {
    let mut out = Vec::new();
    for pair in path.windows(2) {
        let (cert, issuer) = (pair[0], pair[1]);
        let mut found: Vec<(Revocation, String)> = Vec::new();
        for der in ocsps {
            if let Ok((r, _, _)) = ocsp_check(der, cert, issuer) {
                found.push((r, "OCSP".into()));
            }
        }
        for der in crls {
            if let Ok((r, _, _)) = crl_check(der, cert, issuer) {
                found.push((r, format!("CRL of {}", subject(issuer))));
            }
        }
        let fresh = |r: &Revocation| fresh_after.is_none_or(|f| r.produced_at() >= f);
        let revoked = found.iter().find_map(|(r, src)| match r {
            Revocation::Revoked {
                at,
                reason,
                produced_at,
            } if *at <= reference => Some(format!(
                "{src} of {} says revoked at {}{}",
                rfc3339(*produced_at),
                rfc3339(*at),
                reason
                    .as_ref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            )),
            _ => None,
        });
        let proof = if let Some(why) = revoked {
            Proof::Revoked(why)
        } else if let Some((r, src)) = found.iter().find(|(r, _)| {
            fresh(r) && matches!(r, Revocation::Good { .. } | Revocation::Revoked { .. })
        }) {
            let later = match r {
                Revocation::Revoked { at, .. } => {
                    format!(" (revoked later, at {}, after its use)", rfc3339(*at))
                }
                _ => String::new(),
            };
            Proof::Good(format!(
                "{src} good, issued {}{later}",
                rfc3339(r.produced_at())
            ))
        } else if let Some((r, src)) = found
            .iter()
            .find(|(r, _)| matches!(r, Revocation::Good { .. }))
        {
            Proof::Stale(format!(
                "{src} good but issued {}, before {}",
                rfc3339(r.produced_at()),
                fresh_after.map(rfc3339).unwrap_or_default()
            ))
        } else {
            Proof::Missing
        };
        out.push(CertProof {
            subject: subject(cert),
            proof,
        });
    }
    out
}
