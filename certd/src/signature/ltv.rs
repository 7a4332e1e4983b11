//! PAdES B-LT and B-LTA (ETSI EN 319 142-1 sections 6.5–6.6): the validation data of every
//! certificate a validator needs, written to the `/DSS` (section 5.4.2), and document
//! time-stamps over the whole file (section 5.4.3), each as an incremental update.
//!
//! Revocation data is fetched *after* the time-stamp it must be fresh for, and judged before it
//! is embedded: a revoked certificate stops issuing instead of producing evidence that a
//! validator would reject.

use super::fetch::{self, FetchError, RevocationSource};
use super::pdf::{self, Opened, SigKind};
use super::revocation::{self, Revocation};
use crate::error::Error;
use crate::timestamp::Timestamper;
use der::{Decode, Encode};
use lopdf::{Dictionary, Object, Stream};
use sha2::{Digest, Sha256};
use std::time::Duration;
use x509_cert::Certificate;

/// Reserved size of a document time-stamp token (a token with its TSA certificate is 2–5 KiB).
pub(crate) const TOKEN_SIZE: usize = 12 * 1024;

/// Why validation data cannot be had: the certificate cannot be issued at B-LT now.
#[derive(Debug, thiserror::Error)]
pub enum LtvError {
    /// A certificate of a path is revoked: never sign with it (a permanent condition until the
    /// configuration changes).
    #[error("{subject} is revoked ({detail})")]
    Revoked { subject: String, detail: String },
    /// A certificate is outside its validity period now.
    #[error("{subject} is not valid now (valid {from} to {to})")]
    Expired {
        subject: String,
        from: String,
        to: String,
    },
    /// No responder gave usable data: worth trying again later.
    #[error("no usable revocation data for {subject}: {reasons}")]
    Unavailable { subject: String, reasons: String },
    /// The issuer of a certificate is not known.
    #[error("the issuer of {subject} ({issuer}) is not in the configured chains")]
    NoIssuer { subject: String, issuer: String },
    #[error("{0}")]
    Pdf(#[from] Error),
}

impl LtvError {
    /// A condition that retrying will not fix without an operator (revoked, expired, unknown
    /// issuer): issuance waits and `certd status` says why.
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            LtvError::Revoked { .. } | LtvError::Expired { .. } | LtvError::NoIssuer { .. }
        )
    }
}

/// DER certificates, OCSP responses and CRLs for the `/DSS`, without duplicates.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ValidationData {
    pub certs: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
}

fn push_unique(list: &mut Vec<Vec<u8>>, der: Vec<u8>) {
    if !list.contains(&der) {
        list.push(der);
    }
}

fn subject(c: &Certificate) -> String {
    c.tbs_certificate.subject.to_string()
}

fn has_nocheck(c: &Certificate) -> bool {
    c.tbs_certificate
        .extensions
        .as_ref()
        .is_some_and(|exts| exts.iter().any(|e| e.extn_id == revocation::OCSP_NOCHECK))
}

fn self_issued(c: &Certificate) -> bool {
    c.tbs_certificate.issuer == c.tbs_certificate.subject
}

/// The path from `leaf` up to a self-issued certificate, through `pool` (issuer name match).
pub(crate) fn path(leaf: &Certificate, pool: &[Certificate]) -> Result<Vec<Certificate>, LtvError> {
    let mut path = vec![leaf.clone()];
    while let Some(last) = path.last() {
        if self_issued(last) || path.len() > 8 {
            break;
        }
        let issuer = pool
            .iter()
            .find(|c| c.tbs_certificate.subject == last.tbs_certificate.issuer)
            .ok_or_else(|| LtvError::NoIssuer {
                subject: subject(last),
                issuer: last.tbs_certificate.issuer.to_string(),
            })?;
        path.push(issuer.clone());
    }
    Ok(path)
}

fn check_validity(c: &Certificate, now: Duration) -> Result<(), LtvError> {
    let v = &c.tbs_certificate.validity;
    if now < v.not_before.to_unix_duration() || now > v.not_after.to_unix_duration() {
        return Err(LtvError::Expired {
            subject: subject(c),
            from: v.not_before.to_string(),
            to: v.not_after.to_string(),
        });
    }
    Ok(())
}

/// Fetches and judges revocation data for every certificate of every path (leaf first) but
/// the self-issued roots and responders marked no-check: OCSP first, the CRL if no OCSP
/// responder gives a definite answer. `now` is the time the certificates must be valid at.
pub(crate) fn gather(
    paths: &[Vec<Certificate>],
    source: &dyn RevocationSource,
    now: Duration,
) -> Result<ValidationData, LtvError> {
    let mut data = ValidationData::default();
    // Responder certificates met on the way also need their status (unless no-check).
    let mut todo: Vec<Vec<Certificate>> = paths.to_vec();
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut rounds = 0;
    while let Some(path) = todo.pop() {
        rounds += 1;
        if rounds > 32 {
            break;
        }
        for c in &path {
            check_validity(c, now)?;
            push_unique(&mut data.certs, c.to_der().map_err(der_error)?);
        }
        for pair in path.windows(2) {
            let (cert, issuer) = (&pair[0], &pair[1]);
            let der = cert.to_der().map_err(der_error)?;
            if has_nocheck(cert) || self_issued(cert) || done.contains(&der) {
                continue;
            }
            done.push(der);
            let found = status(cert, issuer, source)?;
            match found {
                Found::Ocsp {
                    response,
                    responders,
                } => {
                    push_unique(&mut data.ocsps, response);
                    for r in responders {
                        if r.tbs_certificate.subject != issuer.tbs_certificate.subject {
                            // A delegated responder: its own path, to the same issuer.
                            todo.push(vec![r, issuer.clone()]);
                        }
                    }
                }
                Found::Crl(crl) => push_unique(&mut data.crls, crl),
            }
        }
    }
    Ok(data)
}

/// How far a responder's clock may run ahead of ours.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The status, if the data is current now (judged when it has arrived): thisUpdate not after
/// now (give or take [`CLOCK_SKEW`]), nextUpdate, if any, not passed.
fn current(
    (status, this_update, next_update): (Revocation, Duration, Option<Duration>),
) -> Result<Revocation, revocation::RevocationError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    if this_update > now + CLOCK_SKEW || next_update.is_some_and(|n| n < now) {
        return Err(revocation::RevocationError::NotCurrent {
            this_update: when(this_update),
            next_update: next_update.map_or_else(|| "none".into(), when),
        });
    }
    Ok(status)
}

fn when(t: Duration) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + t).to_string()
}

fn der_error(e: der::Error) -> LtvError {
    LtvError::Pdf(Error::Invalid(format!("DER: {e}")))
}

enum Found {
    Ocsp {
        response: Vec<u8>,
        responders: Vec<Certificate>,
    },
    Crl(Vec<u8>),
}

fn status(
    cert: &Certificate,
    issuer: &Certificate,
    source: &dyn RevocationSource,
) -> Result<Found, LtvError> {
    let who = subject(cert);
    let mut reasons: Vec<String> = Vec::new();
    let ocsp_urls = fetch::ocsp_urls(cert);
    if !ocsp_urls.is_empty() {
        let request = fetch::ocsp_request(cert, issuer).map_err(|e| LtvError::Unavailable {
            subject: who.clone(),
            reasons: e.to_string(),
        })?;
        for url in &ocsp_urls {
            let response = match source.ocsp(url, &request) {
                Ok(r) => r,
                Err(e) => {
                    reasons.push(e.to_string());
                    continue;
                }
            };
            match revocation::ocsp_check(&response, cert, issuer).and_then(current) {
                Ok(Revocation::Good { .. }) => {
                    let responders = revocation::ocsp_certs(&response);
                    return Ok(Found::Ocsp {
                        response,
                        responders,
                    });
                }
                Ok(Revocation::Revoked { at, reason, .. }) => {
                    return Err(LtvError::Revoked {
                        subject: who,
                        detail: format!(
                            "OCSP {url}: revoked at {}, reason {}",
                            when(at),
                            reason.as_deref().unwrap_or("unspecified")
                        ),
                    })
                }
                Ok(Revocation::Unknown { .. }) => reasons.push(format!("{url}: status unknown")),
                Err(e) => reasons.push(format!("{url}: {e}")),
            }
        }
    }
    let crl_urls = fetch::crl_urls(cert);
    for url in &crl_urls {
        let crl = match source.crl(url) {
            Ok(c) => c,
            Err(e) => {
                reasons.push(e.to_string());
                continue;
            }
        };
        match revocation::crl_check(&crl, cert, issuer).and_then(current) {
            Ok(Revocation::Good { .. }) => return Ok(Found::Crl(crl)),
            Ok(Revocation::Revoked { at, reason, .. }) => {
                return Err(LtvError::Revoked {
                    subject: who,
                    detail: format!(
                        "CRL {url}: revoked at {}, reason {}",
                        when(at),
                        reason.as_deref().unwrap_or("unspecified")
                    ),
                })
            }
            Ok(Revocation::Unknown { .. }) => reasons.push(format!("{url}: status unknown")),
            Err(e) => reasons.push(format!("{url}: {e}")),
        }
    }
    if ocsp_urls.is_empty() && crl_urls.is_empty() {
        reasons.push(FetchError::NoUrl(who.clone()).to_string());
    }
    Err(LtvError::Unavailable {
        subject: who,
        reasons: reasons.join("; "),
    })
}

/// Appends an incremental update that adds `data` to the document's `/DSS` (creating it if
/// needed, keeping what it holds), and a `/VRI` entry for the signature whose `/Contents` are
/// `vri_for`.
pub(crate) fn add_dss(
    pdf: &[u8],
    vri_for: Option<&[u8]>,
    data: &ValidationData,
) -> Result<Vec<u8>, Error> {
    let mut opened = Opened::new(pdf)?;
    let mut catalog = opened.catalog()?;
    let (dss_id, mut dss) = match catalog.get(b"DSS") {
        Ok(Object::Reference(id)) => (
            *id,
            opened
                .doc
                .get_dictionary(*id)
                .map_err(|e| Error::Invalid(format!("PDF: /DSS: {e}")))?
                .clone(),
        ),
        Ok(Object::Dictionary(d)) => {
            let d = d.clone();
            (opened.allocate(), d)
        }
        _ => {
            let mut d = Dictionary::new();
            d.set("Type", Object::Name(b"DSS".to_vec()));
            (opened.allocate(), d)
        }
    };
    let mut objects: Vec<(lopdf::ObjectId, Object)> = Vec::new();
    let mut vri = Dictionary::new();
    for (key, items) in [
        ("Certs", &data.certs),
        ("OCSPs", &data.ocsps),
        ("CRLs", &data.crls),
    ] {
        let mut array = match dss.get(key.as_bytes()) {
            Ok(Object::Array(a)) => a.clone(),
            Ok(Object::Reference(id)) => opened
                .doc
                .get_object(*id)
                .and_then(Object::as_array)
                .cloned()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        // What the DSS already holds, by SHA-256 of the decoded stream.
        let held: Vec<([u8; 32], Object)> = array
            .iter()
            .filter_map(|o| {
                let id = o.as_reference().ok()?;
                let stream = opened.doc.get_object(id).ok()?.as_stream().ok()?;
                let bytes = stream
                    .decompressed_content()
                    .unwrap_or_else(|_| stream.content.clone());
                Some((Sha256::digest(&bytes).into(), o.clone()))
            })
            .collect();
        let mut refs = Vec::new();
        for der in items {
            let hash: [u8; 32] = Sha256::digest(der).into();
            let reference = match held.iter().find(|(h, _)| *h == hash) {
                Some((_, o)) => o.clone(),
                None => {
                    let id = opened.allocate();
                    objects.push((
                        id,
                        Object::Stream(Stream::new(Dictionary::new(), der.clone())),
                    ));
                    array.push(Object::Reference(id));
                    Object::Reference(id)
                }
            };
            refs.push(reference);
        }
        dss.set(key, Object::Array(array));
        let vri_key = match key {
            "Certs" => "Cert",
            "OCSPs" => "OCSP",
            _ => "CRL",
        };
        if !refs.is_empty() {
            vri.set(vri_key, Object::Array(refs));
        }
    }
    if let Some(contents) = vri_for {
        let mut vris = match dss.get(b"VRI") {
            Ok(Object::Dictionary(d)) => d.clone(),
            Ok(Object::Reference(id)) => {
                opened.doc.get_dictionary(*id).cloned().unwrap_or_default()
            }
            _ => Dictionary::new(),
        };
        vri.set("Type", Object::Name(b"VRI".to_vec()));
        vris.set(
            super::dss::vri_key(contents).as_bytes(),
            Object::Dictionary(vri),
        );
        dss.set("VRI", Object::Dictionary(vris));
    }
    objects.push((dss_id, Object::Dictionary(dss)));
    catalog.set("DSS", Object::Reference(dss_id));
    let root_id = opened.root_id;
    objects.push((root_id, Object::Dictionary(catalog)));
    let (out, _) = opened.write(pdf, Vec::new(), objects)?;
    Ok(out)
}

/// Appends a document time-stamp (`/Type /DocTimeStamp`, `/SubFilter /ETSI.RFC3161`) over the
/// whole file; returns the file and the token's DER.
pub(crate) fn add_document_timestamp(
    pdf: &[u8],
    tsa: &dyn Timestamper,
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let mut prepared = pdf::prepare(pdf, SigKind::DocTimeStamp, TOKEN_SIZE)?;
    let digest: [u8; 32] = {
        let mut h = Sha256::new();
        for range in prepared.signed_ranges() {
            h.update(&prepared.bytes[range]);
        }
        h.finalize().into()
    };
    let token = tsa
        .timestamp(&digest)
        .map_err(|e| Error::Io(std::io::Error::other(format!("TSA: {e}"))))?;
    prepared.fill_contents(&token)?;
    Ok((prepared.bytes, token))
}

/// The certificates a DER time-stamp token carries (the TSA's, and any chain it includes).
pub(crate) fn token_certs(token: &[u8]) -> Vec<Certificate> {
    super::cades::Cms::parse(token)
        .map(|cms| cms.certs.clone())
        .unwrap_or_default()
}

/// The token's signer certificate, found among its certificates.
pub(crate) fn token_signer(token: &[u8]) -> Option<Certificate> {
    super::cades::SignedToken::parse(token)
        .ok()
        .and_then(|t| t.signer_cert().cloned())
}

/// The path of the TSA that made `token`, through the token's certificates and `pool`.
pub(crate) fn token_path(token: &[u8], pool: &[Certificate]) -> Result<Vec<Certificate>, LtvError> {
    let mut all = token_certs(token);
    all.extend_from_slice(pool);
    let tsa = token_signer(token).ok_or_else(|| {
        LtvError::Pdf(Error::Invalid(
            "the time-stamp token does not carry its TSA certificate".into(),
        ))
    })?;
    path(&tsa, &all)
}

/// Gathers the validation data of `paths` now and writes it in a `/DSS` update whose `/VRI`
/// entry is keyed by `contents`, the `/Contents` of the signature or time-stamp concerned.
pub(crate) fn add_validation_data(
    pdf: &[u8],
    contents: &[u8],
    paths: &[Vec<Certificate>],
    source: &dyn RevocationSource,
) -> Result<Vec<u8>, LtvError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let data = gather(paths, source, now)?;
    Ok(add_dss(pdf, Some(contents), &data)?)
}

/// Adds a document time-stamp and the validation data of the TSA that made it: the file
/// becomes B-LTA, or keeps B-LTA with a newer archive time-stamp.
pub(crate) fn archive(
    pdf: &[u8],
    tsa: &dyn Timestamper,
    source: &dyn RevocationSource,
    pool: &[Certificate],
) -> Result<Vec<u8>, LtvError> {
    let (stamped, token) = add_document_timestamp(pdf, tsa)?;
    let mut contents = token.clone();
    contents.resize(TOKEN_SIZE.max(token.len()), 0);
    let tsa_path = token_path(&token, pool)?;
    add_validation_data(&stamped, &contents, &[tsa_path], source)
}

/// Renews the archive time-stamp of a signed certificate (ETSI EN 319 142-1 section 5.5.3):
/// validation data for the newest time-stamp in the file (a document time-stamp, or the
/// signature time-stamp of a B-T or B-LT file) while its TSA certificate is still valid, then a
/// new document time-stamp with its own validation data. `pool` holds issuer certificates.
pub(crate) fn renew(
    pdf: &[u8],
    tsa: &dyn Timestamper,
    source: &dyn RevocationSource,
    pool: &[Certificate],
) -> Result<Vec<u8>, LtvError> {
    let (newest, token) = newest_timestamp(pdf)?;
    let mut pool = pool.to_vec();
    pool.extend(dss_certs(pdf));
    // A B-T file has no /DSS yet: its signer's chain needs validation data too.
    let signer = if newest.doc_timestamp {
        None
    } else {
        let cms = super::cades::Cms::parse(&newest.contents)
            .map_err(|e| LtvError::Pdf(Error::from(e)))?;
        pool.extend(cms.certs.iter().cloned());
        cms.signer_cert().cloned()
    };
    let mut paths = vec![token_path(&token, &pool)?];
    if let Some(signer) = signer {
        paths.push(path(&signer, &pool)?);
    }
    let with_data = add_validation_data(pdf, &newest.contents, &paths, source)?;
    archive(&with_data, tsa, source, &pool)
}

/// The newest time-stamp of a signed file: the last document time-stamp, or the signature
/// time-stamp of the operator's signature when there is none; with the token's DER.
pub(crate) fn newest_timestamp(pdf: &[u8]) -> Result<(pdf::Located, Vec<u8>), LtvError> {
    let found = pdf::signatures(pdf).map_err(|e| LtvError::Pdf(Error::from(e)))?;
    let newest = found
        .iter()
        .rev()
        .find(|l| l.doc_timestamp)
        .or_else(|| found.iter().rev().find(|l| !l.doc_timestamp))
        .ok_or_else(|| LtvError::Pdf(Error::Invalid("the file has no signature".into())))?
        .clone();
    let token = if newest.doc_timestamp {
        trim_der(&newest.contents).to_vec()
    } else {
        super::cades::Cms::parse(&newest.contents)
            .map_err(|e| LtvError::Pdf(Error::from(e)))?
            .timestamp_token()
            .map_err(|e| LtvError::Pdf(Error::from(e)))?
            .ok_or_else(|| LtvError::Pdf(Error::Invalid("no signature time-stamp".into())))?
    };
    Ok((newest, token))
}

/// When the TSA certificate of the file's newest time-stamp expires: the archive
/// time-stamp must be renewed before (ETSI EN 319 142-1 section 5.5.3).
pub(crate) fn renew_by(pdf: &[u8]) -> Option<Duration> {
    let (_, token) = newest_timestamp(pdf).ok()?;
    let tsa = token_signer(&token)?;
    Some(tsa.tbs_certificate.validity.not_after.to_unix_duration())
}

/// The certificates of the file's `/DSS` (the issuers a renewal may need).
fn dss_certs(pdf: &[u8]) -> Vec<Certificate> {
    let Ok(opened) = Opened::new(pdf) else {
        return Vec::new();
    };
    let Ok(Some(dss)) = super::dss::Dss::read(&opened.doc) else {
        return Vec::new();
    };
    dss.certs
        .iter()
        .filter_map(|der| Certificate::from_der(der).ok())
        .collect()
}

/// The DER value at the start of `contents` (the rest is the placeholder's zero padding).
fn trim_der(contents: &[u8]) -> &[u8] {
    use der::Reader;
    let len = der::SliceReader::new(contents)
        .ok()
        .and_then(|mut r| {
            let header = der::Header::decode(&mut r).ok()?;
            let total = (r.position() + header.length).ok()?;
            usize::try_from(total).ok()
        })
        .unwrap_or(contents.len());
    &contents[..len.min(contents.len())]
}
