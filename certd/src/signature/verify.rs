//! Offline verification of a PAdES B-T signature: byte range, CMS signature (RFC 5652
//! section 5.4/5.6), ESS signing-certificate-v2 (RFC 5035), certification path to a trust
//! anchor (RFC 5280 section 6, simplified: signatures, validity, CA flag; no revocation), and
//! the RFC 3161 signature time-stamp (section 2.4.2: the token's own signature, the TSA's
//! timeStamping EKU and the message imprint).

use super::cades::{self, oid, Cms, SigningCertificateV2, Token};
use super::pdf;
use super::VerifyReport;
use der::Encode;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::time::Duration;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};
use x509_cert::Certificate;

/// Collects checks; `valid` only if every one passed.
#[derive(Default)]
struct Checks(Vec<(String, bool, String)>);

impl Checks {
    fn push(&mut self, name: &str, result: Result<String, String>) -> bool {
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|e| e);
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
            checks.push(
                "trust anchors",
                Err("the trust file holds no certificate".into()),
            );
            return checks.finish();
        }
        Err(e) => {
            checks.push(
                "trust anchors",
                Err(format!("the trust file is not PEM certificates: {e}")),
            );
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
            checks.push("signature field", Err(e));
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
            checks.push(
                "CMS structure",
                Err(format!("the signature is not a CMS SignedData: {e}")),
            );
            return checks.finish();
        }
    };
    let Some(signer_cert) = cms.signer_cert().cloned() else {
        checks.push(
            "CMS structure",
            Err("the signer certificate is not in the signature".into()),
        );
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
        Ok(Some(t)) => {
            Token::parse(&t).map_err(|e| format!("the signature time-stamp is unreadable: {e}"))
        }
        Ok(None) => Err("the signature has no time-stamp (PAdES B-T requires one)".into()),
        Err(e) => Err(e),
    };
    let (at, at_text) = match &token {
        Ok(t) => (
            t.tst.gen_time.to_unix_duration(),
            format!("at the time-stamp time {}", t.gen_time()),
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
) -> Result<([&'a [u8]; 2], String), String> {
    let [0, a, b, c] = *range else {
        return Err(format!("/ByteRange {range:?} is not [0 a b c]"));
    };
    let (Ok(a), Ok(b), Ok(c)) = (usize::try_from(a), usize::try_from(b), usize::try_from(c)) else {
        return Err(format!("/ByteRange {range:?} has negative numbers"));
    };
    if a >= b || b.checked_add(c) != Some(pdf.len()) {
        return Err(format!(
            "/ByteRange [0 {a} {b} {c}] does not cover the whole file of {} bytes: \
             bytes were added or removed after signing",
            pdf.len()
        ));
    }
    let hole = &pdf[a..b];
    let hex_ok = hole.len() >= 2
        && hole[0] == b'<'
        && hole[hole.len() - 1] == b'>'
        && hex::decode(&hole[1..hole.len() - 1]).is_ok_and(|d| d == contents);
    if !hex_ok {
        return Err(format!(
            "the unsigned hole [{a}, {b}) is not exactly the /Contents hex string"
        ));
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
fn check_profile(cms: &Cms, sub_filter: Option<&str>) -> Result<String, String> {
    if sub_filter != Some("ETSI.CAdES.detached") {
        return Err(format!(
            "/SubFilter is {sub_filter:?}, not ETSI.CAdES.detached"
        ));
    }
    let eci = &cms.sd.encap_content_info;
    if eci.econtent_type != oid::DATA || eci.econtent.is_some() {
        return Err("the CMS is not detached id-data".into());
    }
    let ct = cms.signed_attr(oid::CONTENT_TYPE);
    if ct.len() != 1 || ct[0].decode_as::<der::oid::ObjectIdentifier>() != Ok(oid::DATA) {
        return Err("the content-type attribute is missing or not id-data".into());
    }
    if !cms.signed_attr(oid::SIGNING_TIME).is_empty() {
        return Err("a signing-time attribute is present (PAdES uses /M instead)".into());
    }
    if cms.signed_attr(oid::SIGNING_CERTIFICATE_V2).len() != 1
        || !cms.signed_attr(oid::SIGNING_CERTIFICATE).is_empty()
    {
        return Err("not exactly one signing-certificate-v2 attribute".into());
    }
    Ok("ETSI.CAdES.detached, detached id-data, content-type, no signing-time, one signing-certificate-v2".into())
}

fn check_message_digest(cms: &Cms, message: &[&[u8]]) -> Result<String, String> {
    let alg = cms.signer.digest_alg.oid;
    let computed =
        cades::digest(&alg, message).ok_or(format!("digest algorithm {alg} is not supported"))?;
    let values = cms.signed_attr(oid::MESSAGE_DIGEST);
    let [value] = values.as_slice() else {
        return Err("not exactly one message-digest attribute".into());
    };
    let claimed: der::asn1::OctetString = value
        .decode_as()
        .map_err(|e| format!("bad message-digest: {e}"))?;
    if claimed.as_bytes() != computed {
        return Err(format!(
            "the signed bytes hash to {}, the signature was made over {}: the document was changed",
            hex::encode(&computed),
            hex::encode(claimed.as_bytes())
        ));
    }
    Ok(format!(
        "{} of the signed byte ranges matches the message-digest attribute ({})",
        hash_name(&alg),
        hex::encode(&computed)
    ))
}

fn check_signer_signature(cms: &Cms, cert: &Certificate) -> Result<String, String> {
    let attrs = cms
        .signer
        .signed_attrs
        .as_ref()
        .ok_or("the signer has no signed attributes")?
        .to_der()
        .map_err(|e| e.to_string())?;
    verify_signature(
        &cert.tbs_certificate.subject_public_key_info,
        &cms.signer.signature_algorithm,
        Some(&cms.signer.digest_alg),
        &attrs,
        cms.signer.signature.as_bytes(),
    )
}

fn check_signing_certificate(cms: &Cms, cert: &Certificate) -> Result<String, String> {
    let values = cms.signed_attr(oid::SIGNING_CERTIFICATE_V2);
    let [value] = values.as_slice() else {
        return Err("not exactly one signing-certificate-v2 attribute".into());
    };
    let sc: SigningCertificateV2 = value
        .decode_as()
        .map_err(|e| format!("bad signing-certificate-v2: {e}"))?;
    let first = sc
        .certs
        .first()
        .ok_or("signing-certificate-v2 names no certificate")?;
    let der = cert.to_der().map_err(|e| e.to_string())?;
    let alg = first.hash_algorithm.as_ref().map_or(oid::SHA256, |a| a.oid);
    let hash =
        cades::digest(&alg, &[&der]).ok_or(format!("hash algorithm {alg} is not supported"))?;
    if first.cert_hash.as_bytes() != hash {
        return Err(format!(
            "signing-certificate-v2 names another certificate than {}",
            subject(cert)
        ));
    }
    if let Some(is) = &first.issuer_serial {
        let issuer_ok = is.issuer.iter().any(
            |g| matches!(g, GeneralName::DirectoryName(n) if *n == cert.tbs_certificate.issuer),
        );
        if !issuer_ok || is.serial_number != cert.tbs_certificate.serial_number {
            return Err(
                "signing-certificate-v2 issuer/serial do not match the signer certificate".into(),
            );
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
    token: &Token,
    signature_value: &[u8],
    anchors: &[Certificate],
    at: Duration,
) {
    let Some(tsa_cert) = token.signer_cert() else {
        checks.push(
            "timestamp signature",
            Err("the TSA certificate is not in the token".into()),
        );
        return;
    };
    // The token's own CMS signature: message-digest over the TSTInfo, content-type
    // id-ct-TSTInfo, signature over the signed attributes (RFC 3161 section 2.4.2).
    let token_sig = (|| {
        let md = token.cms.signed_attr(oid::MESSAGE_DIGEST);
        let ct = token.cms.signed_attr(oid::CONTENT_TYPE);
        if ct.len() != 1 || ct[0].decode_as::<der::oid::ObjectIdentifier>() != Ok(oid::TST_INFO) {
            return Err("the token's content-type attribute is not id-ct-TSTInfo".to_string());
        }
        let [md] = md.as_slice() else {
            return Err("the token has not exactly one message-digest".to_string());
        };
        let md: der::asn1::OctetString = md.decode_as().map_err(|e| e.to_string())?;
        let alg = token.cms.signer.digest_alg.oid;
        let h =
            cades::digest(&alg, &[&token.tst_der]).ok_or(format!("digest {alg} not supported"))?;
        if md.as_bytes() != h {
            return Err("the token's TSTInfo does not match its message-digest".to_string());
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
        Err(format!(
            "{} lacks the timeStamping extended key usage",
            subject(tsa_cert)
        ))
    };
    checks.push("timestamp certificate", tsa_path);

    let imprint = &token.tst.message_imprint;
    let alg = imprint.hash_algorithm.oid;
    let imprint_ok = match cades::digest(&alg, &[signature_value]) {
        None => Err(format!("imprint hash algorithm {alg} is not supported")),
        Some(h) if h == imprint.hashed_message.as_bytes() => Ok(format!(
            "the time-stamp of {} (serial {}) covers the {} of the signature value",
            token.gen_time(),
            hex::encode(token.tst.serial_number.as_bytes()),
            hash_name(&alg)
        )),
        Some(_) => Err("the time-stamp is for another signature value".into()),
    };
    checks.push("timestamp imprint", imprint_ok);
}

fn hash_name(alg: &der::oid::ObjectIdentifier) -> &'static str {
    match *alg {
        oid::SHA256 => "SHA-256",
        oid::SHA384 => "SHA-384",
        oid::SHA512 => "SHA-512",
        _ => "hash",
    }
}

fn describe_path(path: &[&Certificate]) -> String {
    let names: Vec<String> = path.iter().map(|c| subject(c)).collect();
    format!("{} (trust anchor)", names.join(" → "))
}

fn valid_at(cert: &Certificate, at: Duration) -> Result<(), String> {
    let v = &cert.tbs_certificate.validity;
    if at < v.not_before.to_unix_duration() || at > v.not_after.to_unix_duration() {
        return Err(format!(
            "{} is not valid at that time (valid {} to {})",
            subject(cert),
            v.not_before,
            v.not_after
        ));
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

/// Verifies `cert`'s signature with `issuer`'s key.
fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    cert.tbs_certificate.issuer == issuer.tbs_certificate.subject
        && cert.tbs_certificate.to_der().is_ok_and(|tbs| {
            verify_signature(
                &issuer.tbs_certificate.subject_public_key_info,
                &cert.signature_algorithm,
                None,
                &tbs,
                cert.signature.raw_bytes(),
            )
            .is_ok()
        })
}

/// Builds a certification path from `leaf` through CA certificates of `pool` to one of
/// `anchors`, checking each signature and each validity period at `at`.
fn build_path<'a>(
    leaf: &'a Certificate,
    pool: &'a [Certificate],
    anchors: &'a [Certificate],
    at: Duration,
) -> Result<Vec<&'a Certificate>, String> {
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
            return Err(format!(
                "no trust anchor or embedded CA certificate issued {} (issuer {})",
                subject(current),
                current.tbs_certificate.issuer
            ));
        };
        path.push(next);
        current = next;
    }
    Err("certification path too long".into())
}

/// Verifies `signature` over `message` with `spki`. `sig_alg` may be a combined algorithm
/// (`ecdsa-with-SHA256`, `sha256WithRSAEncryption`, ...) or, in CMS, plain `rsaEncryption` /
/// `id-ecPublicKey` with the hash taken from `digest_alg`. Returns a name for the algorithm.
fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    sig_alg: &AlgorithmIdentifierOwned,
    digest_alg: Option<&AlgorithmIdentifierOwned>,
    message: &[u8],
    signature: &[u8],
) -> Result<String, String> {
    let hash = match sig_alg.oid {
        oid::ECDSA_SHA256 | oid::RSA_SHA256 => oid::SHA256,
        oid::ECDSA_SHA384 | oid::RSA_SHA384 => oid::SHA384,
        oid::ECDSA_SHA512 | oid::RSA_SHA512 => oid::SHA512,
        oid::RSA_ENCRYPTION | oid::EC_PUBLIC_KEY => digest_alg.map(|d| d.oid).ok_or(format!(
            "signature algorithm {} needs a digest algorithm",
            sig_alg.oid
        ))?,
        other => return Err(format!("signature algorithm {other} is not supported")),
    };
    let digest = cades::digest(&hash, &[message])
        .ok_or(format!("hash algorithm {hash} is not supported"))?;
    let spki_der = spki.to_der().map_err(|e| e.to_string())?;
    match spki.algorithm.oid {
        oid::EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok());
            if curve != Some(oid::SECP256R1) {
                return Err("only EC keys on P-256 are supported".into());
            }
            if matches!(
                sig_alg.oid,
                oid::RSA_SHA256 | oid::RSA_SHA384 | oid::RSA_SHA512 | oid::RSA_ENCRYPTION
            ) {
                return Err("an RSA signature algorithm with an EC key".into());
            }
            use p256::pkcs8::DecodePublicKey;
            use signature::hazmat::PrehashVerifier;
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki_der)
                .map_err(|e| e.to_string())?;
            let sig = p256::ecdsa::Signature::from_der(signature)
                .map_err(|e| format!("bad ECDSA signature: {e}"))?;
            key.verify_prehash(&digest, &sig)
                .map_err(|_| "the ECDSA signature does not verify".to_string())?;
            Ok(format!("ECDSA P-256 / {}", hash_name(&hash)))
        }
        oid::RSA_ENCRYPTION => {
            if matches!(
                sig_alg.oid,
                oid::ECDSA_SHA256 | oid::ECDSA_SHA384 | oid::ECDSA_SHA512 | oid::EC_PUBLIC_KEY
            ) {
                return Err("an ECDSA signature algorithm with an RSA key".into());
            }
            use rsa::pkcs8::DecodePublicKey;
            use rsa::traits::PublicKeyParts;
            let key =
                rsa::RsaPublicKey::from_public_key_der(&spki_der).map_err(|e| e.to_string())?;
            let scheme = match hash {
                oid::SHA256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                oid::SHA384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                _ => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            };
            key.verify(scheme, &digest, signature)
                .map_err(|_| "the RSA signature does not verify".to_string())?;
            Ok(format!(
                "RSA-{} PKCS#1 v1.5 / {}",
                key.n().bits(),
                hash_name(&hash)
            ))
        }
        other => Err(format!("public key algorithm {other} is not supported")),
    }
}
