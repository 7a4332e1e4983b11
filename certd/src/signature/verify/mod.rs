//! Offline verification of a PAdES B-T signature: byte range, CMS signature (RFC 5652
//! section 5.4/5.6), ESS signing-certificate-v2 (RFC 5035), certification path to a trust
//! anchor (RFC 5280 section 6, simplified: signatures, validity, CA flag; no revocation), and
//! the RFC 3161 signature time-stamp (section 2.4.2: the token's own signature, the TSA's
//! timeStamping EKU and the message imprint).

use super::cades::{self, oid, Cms, SignedToken, SigningCertificateV2};
use super::{pdf, ReadError, VerifyReport};
use der::oid::ObjectIdentifier as Oid;
use der::Encode;
use std::time::Duration;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};
use x509_cert::Certificate;

pub(super) mod crypto;
use crypto::{hash_name, issued_by, verify_signature, CryptoError};

/// Why one check failed; the sentence is the report's detail.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("the trust file holds no certificate")]
    NoAnchor,
    #[error("the trust file is not PEM certificates: {0}")]
    AnchorsNotPem(der::Error),
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("the signature is not a CMS SignedData: {0}")]
    NotCms(ReadError),
    #[error("the signer certificate is not in the signature")]
    NoSignerCert,
    #[error("{0}")]
    Der(#[from] der::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("/ByteRange {0:?} is not [0 a b c]")]
    ByteRangeShape(Vec<i64>),
    #[error("/ByteRange {0:?} has negative numbers")]
    ByteRangeNegative(Vec<i64>),
    #[error(
        "/ByteRange [0 {a} {b} {c}] does not cover the whole file of {len} bytes: \
         bytes were added or removed after signing"
    )]
    ByteRangeCoverage {
        a: usize,
        b: usize,
        c: usize,
        len: usize,
    },
    #[error("the unsigned hole [{a}, {b}) is not exactly the /Contents hex string")]
    Hole { a: usize, b: usize },
    #[error("/SubFilter is {0:?}, not ETSI.CAdES.detached")]
    SubFilter(Option<String>),
    #[error("the CMS is not detached id-data")]
    NotDetached,
    #[error("the content-type attribute is missing or not id-data")]
    ContentType,
    #[error("a signing-time attribute is present (PAdES uses /M instead)")]
    SigningTime,
    #[error("not exactly one signing-certificate-v2 attribute")]
    SigningCertificateCount,
    #[error("digest algorithm {0} is not supported")]
    DigestAlgorithm(Oid),
    #[error("not exactly one message-digest attribute")]
    MessageDigestCount,
    #[error("bad message-digest: {0}")]
    BadMessageDigest(der::Error),
    #[error(
        "the signed bytes hash to {computed}, the signature was made over {claimed}: \
         the document was changed"
    )]
    Changed { computed: String, claimed: String },
    #[error("the signer has no signed attributes")]
    NoSignedAttributes,
    #[error("bad signing-certificate-v2: {0}")]
    BadSigningCertificate(der::Error),
    #[error("signing-certificate-v2 names no certificate")]
    SigningCertificateEmpty,
    #[error("hash algorithm {0} is not supported")]
    HashAlgorithm(Oid),
    #[error("signing-certificate-v2 names another certificate than {0}")]
    OtherCertificate(String),
    #[error("signing-certificate-v2 issuer/serial do not match the signer certificate")]
    IssuerSerial,
    #[error("the signature time-stamp is unreadable: {0}")]
    TimestampUnreadable(ReadError),
    #[error("the signature has no time-stamp (PAdES B-T requires one)")]
    NoTimestamp,
    #[error("the TSA certificate is not in the token")]
    NoTsaCert,
    #[error("the token's content-type attribute is not id-ct-TSTInfo")]
    TokenContentType,
    #[error("the token has not exactly one message-digest")]
    TokenDigestCount,
    #[error("digest {0} not supported")]
    TokenDigestAlgorithm(Oid),
    #[error("the token's TSTInfo does not match its message-digest")]
    TokenDigest,
    #[error("{0} lacks the timeStamping extended key usage")]
    NoTimeStampingUsage(String),
    #[error("imprint hash algorithm {0} is not supported")]
    ImprintAlgorithm(Oid),
    #[error("the time-stamp is for another signature value")]
    OtherSignatureValue,
    #[error("{subject} is not valid at that time (valid {from} to {to})")]
    NotValidThen {
        subject: String,
        from: x509_cert::time::Time,
        to: x509_cert::time::Time,
    },
    #[error("no trust anchor or embedded CA certificate issued {subject} (issuer {issuer})")]
    NoIssuer { subject: String, issuer: String },
    #[error("certification path too long")]
    PathTooLong,
}

/// Collects checks; `valid` only if every one passed.
#[derive(Default)]
struct Checks(Vec<(String, bool, String)>);

impl Checks {
    fn push(&mut self, name: &str, result: Result<String, Failure>) -> bool {
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|e| e.to_string());
        self.0.push((name.into(), ok, detail));
        ok
    }

    fn finish(self) -> VerifyReport {
        VerifyReport {
            valid: !self.0.is_empty() && self.0.iter().all(|(_, ok, _)| *ok),
            checks: self.0,
        }
    }
}

fn subject(c: &Certificate) -> String {
    c.tbs_certificate.subject.to_string()
}

/// Verifies the last signature of a signed certificate PDF against trust anchors (a PEM bundle
/// of CA certificates). Each check is one entry of the report; nothing is fetched from the
/// network and revocation is not checked.
pub fn verify_pdf(pdf: &[u8], anchors_pem: &str) -> VerifyReport {
    let mut checks = Checks::default();
    let anchors = match Certificate::load_pem_chain(anchors_pem.as_bytes()) {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => {
            checks.push("trust anchors", Err(Failure::NoAnchor));
            return checks.finish();
        }
        Err(e) => {
            checks.push("trust anchors", Err(Failure::AnchorsNotPem(e)));
            return checks.finish();
        }
    };
    checks.push(
        "trust anchors",
        Ok(format!(
            "{} trust anchor(s): {}",
            anchors.len(),
            anchors.iter().map(subject).collect::<Vec<_>>().join("; ")
        )),
    );

    let located = match pdf::locate_last_signature(pdf) {
        Ok(l) => l,
        Err(e) => {
            checks.push("signature field", Err(e.into()));
            return checks.finish();
        }
    };
    checks.push(
        "signature field",
        Ok(format!(
            "signature field {:?} signed {}",
            located.field_name.as_deref().unwrap_or("?"),
            located.m.as_deref().unwrap_or("(no /M)")
        )),
    );

    let signed = match check_byte_range(pdf, &located.byte_range, &located.contents) {
        Ok((signed, detail)) => {
            checks.push("byte range", Ok(detail));
            signed
        }
        Err(e) => {
            checks.push("byte range", Err(e));
            return checks.finish();
        }
    };

    let cms = match Cms::parse(&located.contents) {
        Ok(c) => c,
        Err(e) => {
            checks.push("CMS structure", Err(Failure::NotCms(e)));
            return checks.finish();
        }
    };
    let Some(signer_cert) = cms.signer_cert().cloned() else {
        checks.push("CMS structure", Err(Failure::NoSignerCert));
        return checks.finish();
    };
    checks.push(
        "CMS structure",
        Ok(format!(
            "detached SignedData, one signer ({}), {} certificate(s) embedded",
            subject(&signer_cert),
            cms.certs.len()
        )),
    );

    checks.push(
        "PAdES baseline",
        check_profile(&cms, located.sub_filter.as_deref()),
    );

    let message: Vec<&[u8]> = signed.to_vec();
    checks.push("message digest", check_message_digest(&cms, &message));
    checks.push(
        "signature",
        check_signer_signature(&cms, &signer_cert).map(|alg| {
            format!(
                "the {alg} signature over the signed attributes verifies with the key of {}",
                subject(&signer_cert)
            )
        }),
    );
    checks.push(
        "signing certificate",
        check_signing_certificate(&cms, &signer_cert),
    );

    // The time-stamp: its time is the reference time for both certification paths.
    let token = match cms.timestamp_token() {
        Ok(Some(t)) => SignedToken::parse(&t).map_err(Failure::TimestampUnreadable),
        Ok(None) => Err(Failure::NoTimestamp),
        Err(e) => Err(e.into()),
    };
    let (at, at_text) = match &token {
        Ok(t) => (
            t.gen_time.unix,
            format!("at the time-stamp time {}", t.gen_time.rfc3339),
        ),
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            (now, "now (no usable time-stamp)".to_string())
        }
    };

    let pool: Vec<Certificate> = cms.certs.clone();
    checks.push(
        "certificate chain",
        build_path(&signer_cert, &pool, &anchors, at)
            .map(|path| format!("{}, all valid {at_text}", describe_path(&path))),
    );

    match token {
        Err(e) => {
            checks.push("timestamp", Err(e));
        }
        Ok(token) => check_timestamp(
            &mut checks,
            &token,
            cms.signer.signature.as_bytes(),
            &anchors,
            at,
        ),
    }
    checks.finish()
}

/// Checks that `/ByteRange` is `[0 a b c]` with `b + c` the file length and that the hole
/// `[a, b)` is exactly the `/Contents` hex string; returns the two signed slices.
fn check_byte_range<'a>(
    pdf: &'a [u8],
    range: &[i64],
    contents: &[u8],
) -> Result<([&'a [u8]; 2], String), Failure> {
    let [0, a, b, c] = *range else {
        return Err(Failure::ByteRangeShape(range.to_vec()));
    };
    let (Ok(a), Ok(b), Ok(c)) = (usize::try_from(a), usize::try_from(b), usize::try_from(c)) else {
        return Err(Failure::ByteRangeNegative(range.to_vec()));
    };
    if a >= b || b.checked_add(c) != Some(pdf.len()) {
        return Err(Failure::ByteRangeCoverage {
            a,
            b,
            c,
            len: pdf.len(),
        });
    }
    let hole = &pdf[a..b];
    let hex_ok = hole.len() >= 2
        && hole[0] == b'<'
        && hole[hole.len() - 1] == b'>'
        && hex::decode(&hole[1..hole.len() - 1]).is_ok_and(|d| d == contents);
    if !hex_ok {
        return Err(Failure::Hole { a, b });
    }
    Ok((
        [&pdf[..a], &pdf[b..]],
        format!(
            "covers the whole file ({} bytes) except the /Contents hole [{a}, {b})",
            pdf.len()
        ),
    ))
}

/// ETSI EN 319 142-1 section 6.3 (PAdES B-B): SubFilter ETSI.CAdES.detached, id-data without
/// eContent, content-type present, no signing-time, exactly one signing-certificate-v2 and no
/// (SHA-1) signing-certificate.
fn check_profile(cms: &Cms, sub_filter: Option<&str>) -> Result<String, Failure> {
    if sub_filter != Some("ETSI.CAdES.detached") {
        return Err(Failure::SubFilter(sub_filter.map(str::to_string)));
    }
    let eci = &cms.sd.encap_content_info;
    if eci.econtent_type != oid::DATA || eci.econtent.is_some() {
        return Err(Failure::NotDetached);
    }
    let ct = cms.signed_attr(oid::CONTENT_TYPE);
    if ct.len() != 1 || ct[0].decode_as::<Oid>() != Ok(oid::DATA) {
        return Err(Failure::ContentType);
    }
    if !cms.signed_attr(oid::SIGNING_TIME).is_empty() {
        return Err(Failure::SigningTime);
    }
    if cms.signed_attr(oid::SIGNING_CERTIFICATE_V2).len() != 1
        || !cms.signed_attr(oid::SIGNING_CERTIFICATE).is_empty()
    {
        return Err(Failure::SigningCertificateCount);
    }
    Ok("ETSI.CAdES.detached, detached id-data, content-type, no signing-time, one signing-certificate-v2".into())
}

fn check_message_digest(cms: &Cms, message: &[&[u8]]) -> Result<String, Failure> {
    let alg = cms.signer.digest_alg.oid;
    let computed = cades::digest(&alg, message).ok_or(Failure::DigestAlgorithm(alg))?;
    let values = cms.signed_attr(oid::MESSAGE_DIGEST);
    let [value] = values.as_slice() else {
        return Err(Failure::MessageDigestCount);
    };
    let claimed: der::asn1::OctetString = value.decode_as().map_err(Failure::BadMessageDigest)?;
    if claimed.as_bytes() != computed {
        return Err(Failure::Changed {
            computed: hex::encode(&computed),
            claimed: hex::encode(claimed.as_bytes()),
        });
    }
    Ok(format!(
        "{} of the signed byte ranges matches the message-digest attribute ({})",
        hash_name(&alg),
        hex::encode(&computed)
    ))
}

fn check_signer_signature(cms: &Cms, cert: &Certificate) -> Result<String, Failure> {
    let attrs = cms
        .signer
        .signed_attrs
        .as_ref()
        .ok_or(Failure::NoSignedAttributes)?
        .to_der()?;
    Ok(verify_signature(
        &cert.tbs_certificate.subject_public_key_info,
        &cms.signer.signature_algorithm,
        Some(&cms.signer.digest_alg),
        &attrs,
        cms.signer.signature.as_bytes(),
    )?)
}

fn check_signing_certificate(cms: &Cms, cert: &Certificate) -> Result<String, Failure> {
    let values = cms.signed_attr(oid::SIGNING_CERTIFICATE_V2);
    let [value] = values.as_slice() else {
        return Err(Failure::SigningCertificateCount);
    };
    let sc: SigningCertificateV2 = value.decode_as().map_err(Failure::BadSigningCertificate)?;
    let first = sc.certs.first().ok_or(Failure::SigningCertificateEmpty)?;
    let der = cert.to_der()?;
    let alg = first.hash_algorithm.as_ref().map_or(oid::SHA256, |a| a.oid);
    let hash = cades::digest(&alg, &[&der]).ok_or(Failure::HashAlgorithm(alg))?;
    if first.cert_hash.as_bytes() != hash {
        return Err(Failure::OtherCertificate(subject(cert)));
    }
    if let Some(is) = &first.issuer_serial {
        let issuer_ok = is.issuer.iter().any(
            |g| matches!(g, GeneralName::DirectoryName(n) if *n == cert.tbs_certificate.issuer),
        );
        if !issuer_ok || is.serial_number != cert.tbs_certificate.serial_number {
            return Err(Failure::IssuerSerial);
        }
    }
    Ok(format!(
        "signing-certificate-v2 binds the signer certificate ({} {})",
        hash_name(&alg),
        hex::encode(&hash)
    ))
}

fn check_timestamp(
    checks: &mut Checks,
    token: &SignedToken,
    signature_value: &[u8],
    anchors: &[Certificate],
    at: Duration,
) {
    let Some(tsa_cert) = token.signer_cert() else {
        checks.push("timestamp signature", Err(Failure::NoTsaCert));
        return;
    };
    // The token's own CMS signature: message-digest over the TSTInfo, content-type
    // id-ct-TSTInfo, signature over the signed attributes (RFC 3161 section 2.4.2).
    let token_sig = (|| {
        let md = token.cms.signed_attr(oid::MESSAGE_DIGEST);
        let ct = token.cms.signed_attr(oid::CONTENT_TYPE);
        if ct.len() != 1 || ct[0].decode_as::<Oid>() != Ok(oid::TST_INFO) {
            return Err(Failure::TokenContentType);
        }
        let [md] = md.as_slice() else {
            return Err(Failure::TokenDigestCount);
        };
        let md: der::asn1::OctetString = md.decode_as()?;
        let alg = token.cms.signer.digest_alg.oid;
        let h = cades::digest(&alg, &[&token.token.tst_der])
            .ok_or(Failure::TokenDigestAlgorithm(alg))?;
        if md.as_bytes() != h {
            return Err(Failure::TokenDigest);
        }
        check_signer_signature(&token.cms, tsa_cert)
    })();
    checks.push(
        "timestamp signature",
        token_sig.map(|alg| {
            format!(
                "the token's {alg} signature verifies with the key of {}",
                subject(tsa_cert)
            )
        }),
    );

    let eku_ok = tsa_cert
        .tbs_certificate
        .get::<ExtendedKeyUsage>()
        .ok()
        .flatten()
        .is_some_and(|(_, eku)| eku.0.contains(&oid::KP_TIME_STAMPING));
    let tsa_path = if eku_ok {
        build_path(tsa_cert, &token.cms.certs, anchors, at).map(|p| {
            format!(
                "{}, valid at the time-stamp time, with the timeStamping extended key usage",
                describe_path(&p)
            )
        })
    } else {
        Err(Failure::NoTimeStampingUsage(subject(tsa_cert)))
    };
    checks.push("timestamp certificate", tsa_path);

    let tst = &token.token.tst;
    let imprint = &tst.message_imprint;
    let alg = imprint.hash_algorithm.oid;
    let imprint_ok = match cades::digest(&alg, &[signature_value]) {
        None => Err(Failure::ImprintAlgorithm(alg)),
        Some(h) if h == imprint.hashed_message.as_bytes() => Ok(format!(
            "the time-stamp of {} (serial {}) covers the {} of the signature value",
            token.gen_time.rfc3339,
            hex::encode(tst.serial_number.as_bytes()),
            hash_name(&alg)
        )),
        Some(_) => Err(Failure::OtherSignatureValue),
    };
    checks.push("timestamp imprint", imprint_ok);
}

fn describe_path(path: &[&Certificate]) -> String {
    let names: Vec<String> = path.iter().map(|c| subject(c)).collect();
    format!("{} (trust anchor)", names.join(" → "))
}

fn valid_at(cert: &Certificate, at: Duration) -> Result<(), Failure> {
    let v = &cert.tbs_certificate.validity;
    if at < v.not_before.to_unix_duration() || at > v.not_after.to_unix_duration() {
        return Err(Failure::NotValidThen {
            subject: subject(cert),
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
/// `anchors`, checking each signature and each validity period at `at`.
fn build_path<'a>(
    leaf: &'a Certificate,
    pool: &'a [Certificate],
    anchors: &'a [Certificate],
    at: Duration,
) -> Result<Vec<&'a Certificate>, Failure> {
    let mut path = vec![leaf];
    let mut current = leaf;
    for _ in 0..8 {
        valid_at(current, at)?;
        if anchors.contains(current) {
            return Ok(path);
        }
        if let Some(anchor) = anchors.iter().find(|a| issued_by(current, a)) {
            valid_at(anchor, at)?;
            path.push(anchor);
            return Ok(path);
        }
        let Some(next) = pool
            .iter()
            .find(|c| !path.contains(c) && is_ca(c) && issued_by(current, c))
        else {
            return Err(Failure::NoIssuer {
                subject: subject(current),
                issuer: current.tbs_certificate.issuer.to_string(),
            });
        };
        path.push(next);
        current = next;
    }
    Err(Failure::PathTooLong)
}
