//! Offline verification of a PAdES B-T signature: byte range, CMS signature (RFC 5652
//! section 5.4/5.6), ESS signing-certificate-v2 (RFC 5035), certification path to a trust
//! anchor (RFC 5280 section 6, simplified: signatures, validity, CA flag; no revocation), and
//! the RFC 3161 signature time-stamp (section 2.4.2: the token's own signature, the TSA's
//! timeStamping EKU and the message imprint).

use super::cades::{self, oid, Cms, SignedToken, SigningCertificateV2};
use super::dss::{vri_key, Dss, DssError};
use super::pdf::load;
use super::{revocation, Level, ReadError, VerifyReport};
use der::oid::ObjectIdentifier as Oid;
use der::Decode;
use der::Encode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::Certificate;

pub(super) mod crypto;
mod path;
mod revisions;
#[cfg(test)]
mod tests;

use super::fields::{self, SigKind};
use crypto::{hash_name, verify_signature, CryptoError};
use path::{build_path, describe_path, rfc3339, subject, Proof};

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
    #[error("the time-stamp token is unreadable: {0}")]
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
    #[error("the time-stamp is for another value than {0}")]
    OtherImprint(String),
    #[error("the file holds only document time-stamps, no CAdES signature")]
    OnlyTimestamps,
    #[error("{0}")]
    Revisions(#[from] fields::RevisionError),
    #[error(
        "the signed range ends at byte {end}, which is not the end of a revision \
         (an incremental update ending in startxref and %%EOF)"
    )]
    NotRevisionEnd { end: usize },
    #[error("{len} bytes after the last revision (from byte {at}) are not an incremental update")]
    Trailing { len: usize, at: usize },
    #[error("{0} revisions after the signature: more than certd verify compares")]
    TooManyRevisions(usize),
    #[error("revision {n} cannot be read: {why}")]
    Revision { n: usize, why: String },
    #[error("modified after signing: {0}")]
    Modified(String),
    #[error("the /DSS cannot be read: {0}")]
    Dss(DssError),
    #[error("revoked: {0}")]
    Revoked(String),
    #[error(transparent)]
    Path(#[from] path::PathError),
    #[error("the file holds a time-stamp of {0}, after the validation time")]
    BeforeTimestamp(String),
}

/// Collects checks; `valid` only if every one passed.
struct Checks {
    at: Duration,
    list: Vec<(String, bool, String)>,
}

impl Checks {
    fn new(at: Duration) -> Checks {
        Checks {
            at,
            list: Vec::new(),
        }
    }

    fn push(&mut self, name: &str, result: Result<String, Failure>) -> bool {
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|e| e.to_string());
        self.list.push((name.into(), ok, detail));
        ok
    }

    /// Records a failure that is shared with other checks (hence borrowed).
    fn fail(&mut self, name: &str, e: &dyn std::fmt::Display) {
        self.list.push((name.into(), false, e.to_string()));
    }

    fn all_passed(&self) -> bool {
        !self.list.is_empty() && self.list.iter().all(|(_, ok, _)| *ok)
    }

    fn finish(self) -> VerifyReport {
        self.finish_with(None)
    }

    fn finish_with(self, level: Option<Level>) -> VerifyReport {
        VerifyReport {
            valid: self.all_passed(),
            level,
            at: rfc3339(self.at),
            checks: self.list,
        }
    }
}

/// Verifies the last CAdES signature of a signed certificate PDF, every document time-stamp
/// after it and what each later revision changed, against trust anchors (a PEM bundle of CA
/// certificates), as a validator would now. See [`verify_pdf_at`].
pub fn verify_pdf(pdf: &[u8], anchors_pem: &str) -> VerifyReport {
    verify_pdf_at(pdf, anchors_pem, SystemTime::now())
}

/// [`verify_pdf`] as a validator would at `at` (past-signature validation, ETSI EN 319 102-1
/// section 5.6.2.4): each time-stamp is proof of existence at its genTime for everything it
/// covers, so the signer's chain is checked at the signature time-stamp's time and each
/// time-stamp's chain at the time of the next one; the latest time-stamp is checked at `at`
/// (`docs/signature.md`, "Levels and time"). Nothing is fetched from the network: revocation
/// data comes from the file's `/DSS`.
pub fn verify_pdf_at(pdf: &[u8], anchors_pem: &str, at: SystemTime) -> VerifyReport {
    let at = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut checks = Checks::new(at);
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

    let doc = match load(pdf) {
        Ok(d) => d,
        Err(e) => {
            checks.push("signature field", Err(ReadError::Pdf(e).into()));
            return checks.finish();
        }
    };
    let sigs = match fields::signatures(&doc) {
        Ok(s) => s,
        Err(e) => {
            checks.push("signature field", Err(e.into()));
            return checks.finish();
        }
    };
    let Some(located) = sigs.iter().rev().find(|s| s.kind == SigKind::Signature) else {
        checks.push("signature field", Err(Failure::OnlyTimestamps));
        return checks.finish();
    };
    checks.push(
        "signature field",
        Ok(format!(
            "signature field {:?} signed {}",
            located.field_name.as_deref().unwrap_or("?"),
            located.m.as_deref().unwrap_or("(no /M)")
        )),
    );

    let ends = revisions::revision_ends(pdf);
    let (signed, sig_end) =
        match check_byte_range(pdf, &located.byte_range, &located.contents, &ends) {
            Ok((signed, end, detail)) => {
                checks.push("byte range", Ok(detail));
                (signed, end)
            }
            Err(e) => {
                checks.push("byte range", Err(e));
                return checks.finish();
            }
        };
    let last_end = ends.last().copied().unwrap_or(0).max(sig_end);
    if pdf.len() > last_end && !pdf[last_end..].iter().all(u8::is_ascii_whitespace) {
        checks.push(
            "byte range",
            Err(Failure::Trailing {
                len: pdf.len() - last_end,
                at: last_end,
            }),
        );
    }

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

    // Later revisions: only validation data, document time-stamps and metadata.
    let later: Vec<usize> = ends.iter().copied().filter(|e| *e > sig_end).collect();
    let mut revision_dss: Vec<(usize, Option<Dss>)> = Vec::new();
    check_revisions(&mut checks, pdf, sig_end, &later, &ends, &mut revision_dss);

    // Document time-stamps after the signature, in order.
    let doc_ts: Vec<&fields::Sig> = sigs
        .iter()
        .filter(|s| s.kind == SigKind::DocTimeStamp && s.end().is_some_and(|e| e > sig_end))
        .collect();
    let doc_tokens: Vec<Result<SignedToken, Failure>> = doc_ts
        .iter()
        .map(|s| {
            let len = der_len(&s.contents);
            SignedToken::parse(&s.contents[..len]).map_err(Failure::TimestampUnreadable)
        })
        .collect();

    // Validation data.
    let dss = match Dss::read(&doc) {
        Ok(Some(d)) => {
            checks.push(
                "validation data",
                Ok(format!(
                    "/DSS: {}{}",
                    d.summary(),
                    vri_note(&d, located, &doc_ts)
                )),
            );
            d
        }
        Ok(None) => {
            checks.push("validation data", Ok("no /DSS in the file".into()));
            Dss::default()
        }
        Err(e) => {
            checks.push("validation data", Err(Failure::Dss(e)));
            Dss::default()
        }
    };

    // Every certificate the file carries, for path building.
    let token = match cms.timestamp_token() {
        Ok(Some(t)) => SignedToken::parse(&t).map_err(Failure::TimestampUnreadable),
        Ok(None) => Err(Failure::NoTimestamp),
        Err(e) => Err(e.into()),
    };
    let mut pool: Vec<Certificate> = cms.certs.clone();
    let mut add = |c: &Certificate| {
        if !pool.contains(c) {
            pool.push(c.clone());
        }
    };
    for t in token.iter().chain(doc_tokens.iter().flatten()) {
        t.cms.certs.iter().for_each(&mut add);
    }
    for der in &dss.certs {
        if let Ok(c) = Certificate::from_der(der) {
            add(&c);
        }
    }
    for der in &dss.ocsps {
        revocation::ocsp_certs(der).iter().for_each(&mut add);
    }

    // Time-stamps: TS_0 the signature's, TS_1.. the document ones. Each is checked at the
    // time of the next (its proof of existence), the latest at `at`.
    let gen_times: Vec<Option<Duration>> =
        std::iter::once(token.as_ref().ok().map(|t| t.gen_time.unix))
            .chain(
                doc_tokens
                    .iter()
                    .map(|t| t.as_ref().ok().map(|t| t.gen_time.unix)),
            )
            .collect();
    let control = |k: usize| -> Duration { gen_times.get(k + 1).map_or(at, |g| g.unwrap_or(at)) };
    if let Some(Some(latest)) = gen_times.last() {
        if at < *latest {
            checks.push(
                "validation time",
                Err(Failure::BeforeTimestamp(rfc3339(*latest))),
            );
        }
    }

    let (sig_time, sig_time_text) = match &token {
        Ok(t) => (
            t.gen_time.unix,
            format!("at the time-stamp time {}", t.gen_time.rfc3339),
        ),
        Err(_) => (at, format!("at {} (no usable time-stamp)", rfc3339(at))),
    };
    let signer_path = build_path(&signer_cert, &pool, &anchors, sig_time);
    match &signer_path {
        Ok(p) => {
            checks.push(
                "certificate chain",
                Ok(format!("{}, all valid {sig_time_text}", describe_path(p))),
            );
        }
        Err(e) => checks.fail("certificate chain", e),
    }

    let mut renewal: Option<Duration> = None;
    let mut tsa_path: Option<Vec<&Certificate>> = None;
    match &token {
        Err(e) => {
            checks.fail("timestamp", e);
        }
        Ok(token) => {
            tsa_path = check_token(
                &mut checks,
                "timestamp",
                token,
                &[cms.signer.signature.as_bytes()],
                "the signature value",
                &anchors,
                &pool,
                control(0),
                doc_ts.is_empty(),
                &mut renewal,
            );
        }
    }

    // Revocation: the signer's chain needs data issued after the signature time-stamp.
    let mut lt = signer_path.is_ok() && tsa_path.is_some();
    if let Ok(p) = &signer_path {
        lt &= check_revocation(
            &mut checks,
            "revocation (signature)",
            p,
            &dss,
            sig_time,
            Some(sig_time),
        );
    }
    if let Some(p) = &tsa_path {
        lt &= check_revocation(
            &mut checks,
            "revocation (signature time-stamp)",
            p,
            &dss,
            control(0),
            None,
        );
    }

    // Document time-stamps.
    let mut lta = !doc_ts.is_empty();
    for (i, (s, t)) in doc_ts.iter().zip(&doc_tokens).enumerate() {
        let k = i + 1;
        let prefix = format!("document time-stamp {k}");
        let t = match t {
            Ok(t) => t,
            Err(e) => {
                checks.fail(&prefix, e);
                lta = false;
                continue;
            }
        };
        let covered = match check_byte_range(pdf, &s.byte_range, &s.contents, &ends) {
            Ok((covered, end, _)) => {
                checks.push(
                    &format!("{prefix} byte range"),
                    Ok(format!(
                        "covers revision {} (bytes 0..{end}) except its /Contents hole",
                        ends.iter().position(|e| *e == end).map_or(0, |p| p + 1)
                    )),
                );
                covered
            }
            Err(e) => {
                checks.push(&format!("{prefix} byte range"), Err(e));
                lta = false;
                continue;
            }
        };
        if s.sub_filter.as_deref() != Some("ETSI.RFC3161") {
            checks.push(&prefix, Err(Failure::SubFilter(s.sub_filter.clone())));
        }
        let path = check_token(
            &mut checks,
            &prefix,
            t,
            &covered,
            "the signed revision",
            &anchors,
            &pool,
            control(k),
            k == doc_ts.len(),
            &mut renewal,
        );
        match path {
            Some(p) => {
                lta &= check_revocation(
                    &mut checks,
                    &format!("revocation ({prefix})"),
                    &p,
                    &dss,
                    control(k),
                    None,
                );
            }
            None => lta = false,
        }
    }
    // B-LTA needs the B-LT data under the first document time-stamp.
    if lta && lt {
        let first_end = doc_ts.first().and_then(|s| s.end()).unwrap_or(0);
        let covered_dss = revision_dss
            .iter()
            .rfind(|(end, _)| *end <= first_end)
            .and_then(|(_, d)| d.clone())
            .unwrap_or_default();
        let all_good = |p: &[&Certificate], fresh: Option<Duration>, reference: Duration| {
            path::prove(p, &covered_dss.ocsps, &covered_dss.crls, reference, fresh)
                .iter()
                .all(|c| matches!(c.proof, Proof::Good(_)))
        };
        lta = signer_path
            .as_ref()
            .is_ok_and(|p| all_good(p, Some(sig_time), sig_time))
            && tsa_path
                .as_ref()
                .is_some_and(|p| all_good(p, None, control(0)));
    }

    if let Some(expiry) = renewal {
        checks.push(
            "renewal",
            Ok(format!(
                "renewal needed before {}: after that date the file is valid only if \
                 `certd certificates renew` added a newer document time-stamp",
                rfc3339(expiry)
            )),
        );
    }

    let valid = checks.all_passed();
    let level = if !valid {
        None
    } else if lt && lta {
        Some(Level::Lta)
    } else if lt {
        Some(Level::Lt)
    } else {
        Some(Level::T)
    };
    if let Some(level) = level {
        let why = match level {
            Level::Lta => "validation data for every certificate, under a valid document time-stamp",
            Level::Lt if doc_ts.is_empty() => "validation data for every certificate in /DSS; no document time-stamp",
            Level::Lt => "validation data for every certificate in /DSS, but not all of it under a valid document time-stamp",
            _ => "a valid signature time-stamp; /DSS lacks usable, fresh validation data for some certificate",
        };
        checks.push("level", Ok(format!("{level}: {why}")));
    }
    checks.finish_with(level)
}

/// The length of the DER value at the start of `bytes` (a `/Contents` string is padded with
/// zeros after it); all of `bytes` if the header cannot be read.
fn der_len(bytes: &[u8]) -> usize {
    der::SliceReader::new(bytes)
        .ok()
        .and_then(|mut r| der::Header::decode(&mut r).ok().map(|h| (h, r)))
        .and_then(|(h, r)| {
            let header: usize = der::Reader::position(&r).try_into().ok()?;
            let body: usize = h.length.try_into().ok()?;
            header.checked_add(body)
        })
        .filter(|n| *n <= bytes.len())
        .unwrap_or(bytes.len())
}

/// " ; /VRI entries for the signature and 1 document time-stamp(s)".
fn vri_note(dss: &Dss, sig: &fields::Sig, doc_ts: &[&fields::Sig]) -> String {
    let mut have = Vec::new();
    if dss.vri.contains_key(&vri_key(&sig.contents)) {
        have.push("the signature".to_string());
    }
    let n = doc_ts
        .iter()
        .filter(|s| dss.vri.contains_key(&vri_key(&s.contents)))
        .count();
    if n > 0 {
        have.push(format!("{n} document time-stamp(s)"));
    }
    if have.is_empty() {
        String::new()
    } else {
        format!("; /VRI entries for {}", have.join(" and "))
    }
}

/// Compares each revision after the signature with the one before it; collects the `/DSS` of
/// each (for B-LTA: the data under the first document time-stamp).
fn check_revisions(
    checks: &mut Checks,
    pdf: &[u8],
    sig_end: usize,
    later: &[usize],
    ends: &[usize],
    dss: &mut Vec<(usize, Option<Dss>)>,
) {
    let number = |end: usize| ends.iter().position(|e| *e == end).map_or(0, |p| p + 1);
    if later.is_empty() {
        checks.push(
            "revisions",
            Ok(format!(
                "the signature covers the whole file (revision {} of {})",
                number(sig_end),
                ends.len()
            )),
        );
        return;
    }
    if later.len() > revisions::MAX_REVISIONS {
        checks.push(
            "modifications after signing",
            Err(Failure::TooManyRevisions(later.len())),
        );
        return;
    }
    let mut previous = match revisions::load_revision(pdf, sig_end) {
        Ok(d) => d,
        Err(e) => {
            checks.push(
                "modifications after signing",
                Err(Failure::Revision {
                    n: number(sig_end),
                    why: e.to_string(),
                }),
            );
            return;
        }
    };
    let mut found: Vec<String> = Vec::new();
    let mut did: Vec<String> = Vec::new();
    dss.push((sig_end, Dss::read(&previous).ok().flatten()));
    for end in later {
        let doc = match revisions::load_revision(pdf, *end) {
            Ok(d) => d,
            Err(e) => {
                found.push(format!("revision {} cannot be read: {e}", number(*end)));
                break;
            }
        };
        let j = revisions::judge(&previous, &doc);
        for m in j.modifications {
            found.push(format!("revision {}: {m}", number(*end)));
        }
        if j.more > 0 {
            found.push(format!(
                "revision {}: {} more changed object(s) not examined",
                number(*end),
                j.more
            ));
        }
        did.push(format!(
            "{}: {}",
            number(*end),
            if j.allowed.is_empty() {
                "nothing".to_string()
            } else {
                j.allowed.iter().copied().collect::<Vec<_>>().join(", ")
            }
        ));
        dss.push((*end, Dss::read(&doc).ok().flatten()));
        previous = doc;
    }
    checks.push(
        "revisions",
        Ok(format!(
            "{} revisions; the signature signs revision {}; later revisions {}",
            ends.len(),
            number(sig_end),
            did.join("; ")
        )),
    );
    checks.push(
        "modifications after signing",
        if found.is_empty() {
            Ok("later revisions only add validation data (/DSS), document time-stamps and document metadata".into())
        } else {
            Err(Failure::Modified(found.join("; ")))
        },
    );
}

/// Pushes one check naming the revocation proof of every certificate of `path`; returns
/// whether all have good, usable data (a revoked certificate fails the check).
fn check_revocation(
    checks: &mut Checks,
    name: &str,
    path: &[&Certificate],
    dss: &Dss,
    reference: Duration,
    fresh_after: Option<Duration>,
) -> bool {
    let proofs = path::prove(path, &dss.ocsps, &dss.crls, reference, fresh_after);
    let mut parts = Vec::new();
    let mut all_good = true;
    let mut revoked = Vec::new();
    for p in &proofs {
        match &p.proof {
            Proof::Good(d) => parts.push(format!("{}: {d}", p.subject)),
            Proof::Stale(d) => {
                all_good = false;
                parts.push(format!("{}: not fresh: {d}", p.subject));
            }
            Proof::Missing => {
                all_good = false;
                parts.push(format!(
                    "{}: no usable OCSP response or CRL in /DSS",
                    p.subject
                ));
            }
            Proof::Revoked(d) => {
                all_good = false;
                revoked.push(format!("{}: {d}", p.subject));
            }
        }
    }
    if !revoked.is_empty() {
        checks.push(name, Err(Failure::Revoked(revoked.join("; "))));
    } else {
        checks.push(name, Ok(parts.join("; ")));
    }
    all_good
}

/// Checks that `/ByteRange` is `[0 a b c]` with `b + c` the end of a revision of the file
/// (ISO 32000-2 section 12.8.1) and that the hole `[a, b)` is exactly the `/Contents` hex
/// string; returns the two signed slices and the revision's end.
fn check_byte_range<'a>(
    pdf: &'a [u8],
    range: &[i64],
    contents: &[u8],
    ends: &[usize],
) -> Result<([&'a [u8]; 2], usize, String), Failure> {
    let [0, a, b, c] = *range else {
        return Err(Failure::ByteRangeShape(range.to_vec()));
    };
    let (Ok(a), Ok(b), Ok(c)) = (usize::try_from(a), usize::try_from(b), usize::try_from(c)) else {
        return Err(Failure::ByteRangeNegative(range.to_vec()));
    };
    let end = b.checked_add(c);
    if a >= b || end.is_none_or(|e| e > pdf.len()) {
        return Err(Failure::ByteRangeCoverage {
            a,
            b,
            c,
            len: pdf.len(),
        });
    }
    let end = b + c;
    // A signature over the whole file needs no recognisable revision end (as before B-LT).
    let number = match ends.iter().position(|e| *e == end) {
        Some(n) => n,
        None if end == pdf.len() => ends.len(),
        None => return Err(Failure::NotRevisionEnd { end }),
    };
    let hole = &pdf[a..b];
    let hex_ok = hole.len() >= 2
        && hole[0] == b'<'
        && hole[hole.len() - 1] == b'>'
        && hex::decode(&hole[1..hole.len() - 1]).is_ok_and(|d| d == contents);
    if !hex_ok {
        return Err(Failure::Hole { a, b });
    }
    let whole = if end == pdf.len() {
        format!("covers the whole file ({} bytes)", pdf.len())
    } else {
        format!(
            "covers revision {} of {} (bytes 0..{end} of {})",
            number + 1,
            ends.len(),
            pdf.len()
        )
    };
    Ok((
        [&pdf[..a], &pdf[b..end]],
        end,
        format!("{whole} except the /Contents hole [{a}, {b})"),
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

/// Checks a time-stamp token (RFC 3161 section 2.4.2): its own CMS signature, the TSA's
/// timeStamping extended key usage and path (at `control`, or for the latest time-stamp with
/// the renewal rule of [`path::build_latest_path`]), and that its imprint is the hash of
/// `imprinted`. Pushes `<prefix> signature`, `<prefix> certificate`, `<prefix> imprint`;
/// returns the TSA's path if all passed.
#[allow(clippy::too_many_arguments)]
fn check_token<'a>(
    checks: &mut Checks,
    prefix: &str,
    token: &'a SignedToken,
    imprinted: &[&[u8]],
    what: &str,
    anchors: &'a [Certificate],
    pool: &'a [Certificate],
    control: Duration,
    latest: bool,
    renewal: &mut Option<Duration>,
) -> Option<Vec<&'a Certificate>> {
    let Some(tsa_cert) = token.signer_cert() else {
        checks.push(&format!("{prefix} signature"), Err(Failure::NoTsaCert));
        return None;
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
    let mut ok = checks.push(
        &format!("{prefix} signature"),
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
    let gen_time = token.gen_time.unix;
    let path = if !eku_ok {
        Err(Failure::NoTimeStampingUsage(subject(tsa_cert)))
    } else if latest {
        path::build_latest_path(tsa_cert, pool, anchors, gen_time, control)
            .map_err(Failure::Path)
            .map(|(p, expired)| {
                let when = match expired {
                    Some(exp) => {
                        *renewal = Some(renewal.map_or(exp, |r| r.min(exp)));
                        format!(
                            "valid at the time-stamp time {}; expired at {} (renewal)",
                            token.gen_time.rfc3339,
                            rfc3339(control)
                        )
                    }
                    None => format!("valid at {}", rfc3339(control)),
                };
                (p, when)
            })
    } else {
        build_path(tsa_cert, pool, anchors, control)
            .map_err(Failure::Path)
            .map(|p| {
                (
                    p,
                    format!(
                        "valid at {}, when the next time-stamp proves this one existed",
                        rfc3339(control)
                    ),
                )
            })
    };
    let path = match path {
        Ok((p, when)) => {
            checks.push(
                &format!("{prefix} certificate"),
                Ok(format!(
                    "{}, {when}, with the timeStamping extended key usage",
                    describe_path(&p)
                )),
            );
            Some(p)
        }
        Err(e) => {
            checks.push(&format!("{prefix} certificate"), Err(e));
            ok = false;
            None
        }
    };

    let tst = &token.token.tst;
    let imprint = &tst.message_imprint;
    let alg = imprint.hash_algorithm.oid;
    let imprint_ok = match cades::digest(&alg, imprinted) {
        None => Err(Failure::ImprintAlgorithm(alg)),
        Some(h) if h == imprint.hashed_message.as_bytes() => Ok(format!(
            "the time-stamp of {} (serial {}) covers the {} of {what}",
            token.gen_time.rfc3339,
            hex::encode(tst.serial_number.as_bytes()),
            hash_name(&alg)
        )),
        Some(_) => Err(Failure::OtherImprint(what.to_string())),
    };
    ok &= checks.push(&format!("{prefix} imprint"), imprint_ok);
    path.filter(|_| ok)
}
