//! Offline checking of revocation data: OCSP responses (RFC 6960) and CRLs (RFC 5280 section 5)
//! for one certificate and its issuer, without any network access, so that `certd verify`
//! can judge the `/DSS` of a file and issuing can judge what it fetched before embedding it.

use super::verify::crypto::{issued_by, verify_signature, CryptoError};
use der::oid::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::time::Duration;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{CrlReason, ExtendedKeyUsage};
use x509_cert::Certificate;
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus, ResponderId};

/// id-pkix-ocsp-basic (RFC 6960 section 4.2.1).
const OCSP_BASIC: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-kp-OCSPSigning (RFC 6960 section 4.2.2.2).
const KP_OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");
/// id-pkix-ocsp-nocheck (RFC 6960 section 4.2.2.2.1).
pub(crate) const OCSP_NOCHECK: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.5");
const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");

/// What a piece of revocation data says about one certificate. Times are since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// Not revoked when the data was issued.
    Good {
        this_update: Duration,
        next_update: Option<Duration>,
        /// OCSP producedAt; for a CRL its thisUpdate.
        produced_at: Duration,
    },
    /// Revoked at `at`; `reason` as RFC 5280 section 5.3.1 names it, if given. `produced_at`
    /// is when the data saying so was issued.
    Revoked {
        at: Duration,
        reason: Option<String>,
        produced_at: Duration,
    },
    /// The responder does not know the certificate (RFC 6960 section 2.2).
    Unknown { produced_at: Duration },
}

impl Revocation {
    /// When the data was issued: OCSP producedAt, CRL thisUpdate (the time ETSI EN 319 102-1
    /// section 5.6.2.5 compares for freshness).
    pub(crate) fn produced_at(&self) -> Duration {
        match self {
            Revocation::Good { produced_at, .. }
            | Revocation::Revoked { produced_at, .. }
            | Revocation::Unknown { produced_at } => *produced_at,
        }
    }
}

/// Why revocation data cannot be used for a certificate.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RevocationError {
    #[error("not DER: {0}")]
    Der(#[from] der::Error),
    #[error("the OCSP response status is {0:?}, not successful")]
    Status(OcspResponseStatus),
    #[error("the OCSP response has no response bytes")]
    NoBytes,
    #[error("OCSP response type {0} is not id-pkix-ocsp-basic")]
    ResponseType(Oid),
    #[error("the OCSP response has no answer for this certificate")]
    NotForCert,
    #[error("no certificate for the OCSP responder named in the response")]
    NoResponder,
    #[error(
        "the OCSP responder {0} is neither the issuer nor a delegated responder of it \
         (RFC 6960 section 4.2.2.2: issued by the CA, with the OCSPSigning extended key usage)"
    )]
    NotAuthorized(String),
    #[error(
        "the delegated OCSP responder {0} lacks id-pkix-ocsp-nocheck (RFC 6960 section 4.2.2.2.1)"
    )]
    NoCheckMissing(String),
    #[error("the OCSP responder certificate {0} was not valid when the response was produced")]
    ResponderExpired(String),
    #[error("the signature does not verify: {0}")]
    Signature(#[from] CryptoError),
    #[error("the CRL is issued by {crl}, not by {issuer}")]
    CrlIssuer { crl: String, issuer: String },
    #[error(
        "the data is not current at that time (thisUpdate {this_update}, nextUpdate {next_update})"
    )]
    NotCurrent {
        this_update: String,
        next_update: String,
    },
    #[error("hash algorithm {0} of the OCSP CertID is not supported")]
    CertIdHash(Oid),
}

fn secs(d: Duration) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + d).to_string()
}

/// The SHA-1 or SHA-256 of `data`, as a CertID may use (RFC 6960 section 4.1.1).
fn cert_id_hash(alg: &Oid, data: &[u8]) -> Result<Vec<u8>, RevocationError> {
    match *alg {
        SHA1 => Ok(Sha1::digest(data).to_vec()),
        SHA256 => Ok(Sha256::digest(data).to_vec()),
        other => Err(RevocationError::CertIdHash(other)),
    }
}

fn subject(c: &Certificate) -> String {
    c.tbs_certificate.subject.to_string()
}

/// The SHA-1 of the subjectPublicKey bits, as `ResponderID byKey` and CertID use it.
fn key_hash_sha1(c: &Certificate) -> Vec<u8> {
    Sha1::digest(
        c.tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
    )
    .to_vec()
}

fn within(
    this_update: Duration,
    next_update: Option<Duration>,
    at: Duration,
) -> Result<(), RevocationError> {
    if at < this_update || next_update.is_some_and(|n| at > n) {
        return Err(RevocationError::NotCurrent {
            this_update: secs(this_update),
            next_update: next_update.map_or_else(|| "none".into(), secs),
        });
    }
    Ok(())
}

/// Checks an OCSP response for `cert` issued by `issuer` and requires it to be current at
/// `at` (thisUpdate ≤ at ≤ nextUpdate, RFC 6960 section 3.2 point 4-5).
#[allow(dead_code)] // Issuing (signature/ltv.rs, the lead's branch) calls it.
pub(crate) fn ocsp_status(
    resp_der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    at: Duration,
) -> Result<Revocation, RevocationError> {
    let (r, this_update, next_update) = ocsp_check(resp_der, cert, issuer)?;
    within(this_update, next_update, at)?;
    Ok(r)
}

/// Checks a CRL for `cert` issued by `issuer` and requires it to be current at `at`.
#[allow(dead_code)] // Issuing (signature/ltv.rs, the lead's branch) calls it.
pub(crate) fn crl_status(
    crl_der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    at: Duration,
) -> Result<Revocation, RevocationError> {
    let (r, this_update, next_update) = crl_check(crl_der, cert, issuer)?;
    within(this_update, next_update, at)?;
    Ok(r)
}

/// The certificates an OCSP response carries (RFC 6960 section 4.2.1 `certs`), for path
/// building; empty if the response cannot be read.
pub(crate) fn ocsp_certs(resp_der: &[u8]) -> Vec<Certificate> {
    basic_response(resp_der)
        .ok()
        .and_then(|b| b.certs)
        .unwrap_or_default()
}

fn basic_response(resp_der: &[u8]) -> Result<BasicOcspResponse, RevocationError> {
    let resp = OcspResponse::from_der(resp_der)?;
    if resp.response_status != OcspResponseStatus::Successful {
        return Err(RevocationError::Status(resp.response_status));
    }
    let bytes = resp.response_bytes.ok_or(RevocationError::NoBytes)?;
    if bytes.response_type != OCSP_BASIC {
        return Err(RevocationError::ResponseType(bytes.response_type));
    }
    Ok(BasicOcspResponse::from_der(bytes.response.as_bytes())?)
}

/// The OCSP checks without the time window: signature by the issuer or by an authorized
/// delegated responder (valid at producedAt), a SingleResponse whose CertID names `cert`.
/// Returns the status with thisUpdate and nextUpdate.
pub(crate) fn ocsp_check(
    resp_der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<(Revocation, Duration, Option<Duration>), RevocationError> {
    let basic = basic_response(resp_der)?;
    let data = &basic.tbs_response_data;
    let produced_at = data.produced_at.0.to_unix_duration();

    // RFC 6960 section 4.1.1: the CertID hashes the issuer's name and public key.
    let issuer_name = issuer.tbs_certificate.subject.to_der()?;
    let issuer_key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let mut single = None;
    for s in &data.responses {
        let id = &s.cert_id;
        let alg = id.hash_algorithm.oid;
        if id.serial_number == cert.tbs_certificate.serial_number
            && id.issuer_name_hash.as_bytes() == cert_id_hash(&alg, &issuer_name)?
            && id.issuer_key_hash.as_bytes() == cert_id_hash(&alg, issuer_key)?
        {
            single = Some(s);
            break;
        }
    }
    let single = single.ok_or(RevocationError::NotForCert)?;

    // RFC 6960 section 4.2.2.2: signed by the CA itself or by a responder it authorized.
    let names = |c: &Certificate| match &data.responder_id {
        ResponderId::ByName(n) => *n == c.tbs_certificate.subject,
        ResponderId::ByKey(h) => h.as_bytes() == key_hash_sha1(c).as_slice(),
    };
    let responder: &Certificate = if names(issuer) {
        issuer
    } else {
        let r = basic
            .certs
            .iter()
            .flatten()
            .find(|c| names(c))
            .ok_or(RevocationError::NoResponder)?;
        let eku = r
            .tbs_certificate
            .get::<ExtendedKeyUsage>()
            .ok()
            .flatten()
            .is_some_and(|(_, e)| e.0.contains(&KP_OCSP_SIGNING));
        if !eku || !issued_by(r, issuer) {
            return Err(RevocationError::NotAuthorized(subject(r)));
        }
        let nocheck = r
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .any(|e| e.extn_id == OCSP_NOCHECK);
        if !nocheck {
            return Err(RevocationError::NoCheckMissing(subject(r)));
        }
        let v = &r.tbs_certificate.validity;
        if produced_at < v.not_before.to_unix_duration()
            || produced_at > v.not_after.to_unix_duration()
        {
            return Err(RevocationError::ResponderExpired(subject(r)));
        }
        r
    };
    verify_signature(
        &responder.tbs_certificate.subject_public_key_info,
        &basic.signature_algorithm,
        None,
        &data.to_der()?,
        basic.signature.raw_bytes(),
    )?;

    let this_update = single.this_update.0.to_unix_duration();
    let next_update = single.next_update.map(|t| t.0.to_unix_duration());
    let status = match &single.cert_status {
        CertStatus::Good(_) => Revocation::Good {
            this_update,
            next_update,
            produced_at,
        },
        CertStatus::Revoked(info) => Revocation::Revoked {
            at: info.revocation_time.0.to_unix_duration(),
            reason: info.revocation_reason.map(|r| format!("{r:?}")),
            produced_at,
        },
        CertStatus::Unknown(_) => Revocation::Unknown { produced_at },
    };
    Ok((status, this_update, next_update))
}

/// The CRL checks without the time window: issued and signed by `issuer` (RFC 5280 section
/// 6.3.3 (f)-(g)), then `cert`'s serial listed or not (section 6.3.3 (i)).
pub(crate) fn crl_check(
    crl_der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<(Revocation, Duration, Option<Duration>), RevocationError> {
    let crl = CertificateList::from_der(crl_der)?;
    let tbs = &crl.tbs_cert_list;
    if tbs.issuer != issuer.tbs_certificate.subject || cert.tbs_certificate.issuer != tbs.issuer {
        return Err(RevocationError::CrlIssuer {
            crl: tbs.issuer.to_string(),
            issuer: subject(issuer),
        });
    }
    verify_signature(
        &issuer.tbs_certificate.subject_public_key_info,
        &crl.signature_algorithm,
        None,
        &tbs.to_der()?,
        crl.signature.raw_bytes(),
    )?;
    let this_update = tbs.this_update.to_unix_duration();
    let next_update = tbs.next_update.map(|t| t.to_unix_duration());
    let entry = tbs
        .revoked_certificates
        .iter()
        .flatten()
        .find(|r| r.serial_number == cert.tbs_certificate.serial_number);
    let status = match entry {
        None => Revocation::Good {
            this_update,
            next_update,
            produced_at: this_update,
        },
        Some(r) => Revocation::Revoked {
            at: r.revocation_date.to_unix_duration(),
            reason: r
                .crl_entry_extensions
                .iter()
                .flatten()
                .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_CRL_REASONS)
                .and_then(|e| CrlReason::from_der(e.extn_value.as_bytes()).ok())
                .map(|r| format!("{r:?}")),
            produced_at: this_update,
        },
    };
    Ok((status, this_update, next_update))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pades-ltv/");

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(format!("{DIR}{name}")).expect("fixture")
    }

    fn cert(name: &str) -> Certificate {
        Certificate::from_der(&read(name)).expect("certificate")
    }

    /// 2026-03-01T10:05:00Z, when the fixtures' OCSP responses and CRLs were made.
    const T_OCSP: Duration = Duration::from_secs(1_772_359_500);

    #[test]
    fn good_ocsp_from_delegated_responder() {
        let r = ocsp_status(
            &read("ocsp-operator-good.der"),
            &cert("operator.der"),
            &cert("ca.der"),
            T_OCSP,
        )
        .expect("usable");
        assert!(
            matches!(r, Revocation::Good { produced_at, .. } if produced_at == T_OCSP),
            "{r:?}"
        );
        // Not current a year later (nextUpdate is a week after).
        let late = ocsp_status(
            &read("ocsp-operator-good.der"),
            &cert("operator.der"),
            &cert("ca.der"),
            T_OCSP + Duration::from_secs(365 * 86400),
        );
        assert!(
            matches!(late, Err(RevocationError::NotCurrent { .. })),
            "{late:?}"
        );
    }

    #[test]
    fn revoked_ocsp_says_when_and_why() {
        let (r, _, _) = ocsp_check(
            &read("ocsp-operator-revoked.der"),
            &cert("operator.der"),
            &cert("ca.der"),
        )
        .expect("usable");
        assert!(
            matches!(&r, Revocation::Revoked { at, reason: Some(why), .. }
                if *at == T_OCSP - Duration::from_secs(86400 + 300) && why == "KeyCompromise"),
            "{r:?}"
        );
    }

    #[test]
    fn ocsp_for_another_certificate_or_issuer_is_refused() {
        let resp = read("ocsp-operator-good.der");
        let e = ocsp_check(&resp, &cert("tsa.der"), &cert("ca.der")).unwrap_err();
        assert!(matches!(e, RevocationError::NotForCert), "{e}");
        let e = ocsp_check(&resp, &cert("operator.der"), &cert("root.der")).unwrap_err();
        assert!(matches!(e, RevocationError::NotForCert), "{e}");
    }

    #[test]
    fn tampered_ocsp_fails_its_signature() {
        let mut resp = read("ocsp-operator-good.der");
        // The last byte is inside the responder certificate's signature; the byte before the
        // certs is the response's own signature. Flip one in the middle of the ResponseData.
        let i = resp.len() / 3;
        resp[i] ^= 0x01;
        assert!(ocsp_check(&resp, &cert("operator.der"), &cert("ca.der")).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], b"\x30\x03\x0a\x01\x00", b"\x30\x80", &[0xff; 64]] {
            assert!(ocsp_check(bytes, &cert("operator.der"), &cert("ca.der")).is_err());
            assert!(crl_check(bytes, &cert("ca.der"), &cert("root.der")).is_err());
        }
        // An OCSP "tryLater" answer (RFC 6960 section 4.2.1) has no status to use.
        let e = ocsp_check(
            b"\x30\x03\x0a\x01\x03",
            &cert("operator.der"),
            &cert("ca.der"),
        )
        .unwrap_err();
        assert!(
            matches!(e, RevocationError::Status(OcspResponseStatus::TryLater)),
            "{e}"
        );
    }

    #[test]
    fn crl_good_and_revoked() {
        let r = crl_status(
            &read("crl-root.der"),
            &cert("ca.der"),
            &cert("root.der"),
            T_OCSP,
        )
        .expect("usable");
        assert!(matches!(r, Revocation::Good { .. }), "{r:?}");
        let (r, _, _) = crl_check(
            &read("crl-ca-revoking-operator.der"),
            &cert("operator.der"),
            &cert("ca.der"),
        )
        .expect("usable");
        assert!(matches!(r, Revocation::Revoked { .. }), "{r:?}");
        // The root's CRL says nothing about certificates the CA issued.
        let e = crl_check(
            &read("crl-root.der"),
            &cert("operator.der"),
            &cert("root.der"),
        )
        .unwrap_err();
        assert!(matches!(e, RevocationError::CrlIssuer { .. }), "{e}");
        // A CRL is only the issuer's if the issuer's key signed it.
        let e = crl_check(&read("crl-root.der"), &cert("ca.der"), &cert("ca.der")).unwrap_err();
        assert!(matches!(e, RevocationError::CrlIssuer { .. }), "{e}");
    }
}
