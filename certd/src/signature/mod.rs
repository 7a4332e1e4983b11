//! PAdES signing and verification of certificate PDFs.
//!
//! A certificate PDF is signed with one PAdES **B-T** signature (ETSI EN 319 142-1, section 6):
//! an incremental update adds an invisible signature field whose value is a signature dictionary
//! with `/SubFilter /ETSI.CAdES.detached`; its `/Contents` hold a detached CMS `SignedData`
//! (RFC 5652) over the `/ByteRange`, with the signed attributes content-type, message-digest and
//! ESS signing-certificate-v2 (RFC 5035) and no signing-time (the claimed time is `/M`), and with
//! an RFC 3161 signature time-stamp token (id-aa-signatureTimeStampToken) as unsigned attribute.
//!
//! [`verify_pdf`] checks such a file on its own, without network access, against a PEM bundle
//! of trust anchors; `docs/signature.md` describes the layout and the independent validators
//! (`pdfsig`, pyHanko, `openssl cms`, `qpdf`) it is tested with.

mod cades;
mod dss;
pub mod fetch;
mod level;
pub mod ltv;
mod parts;
mod pdf;
mod revocation;
mod verify;

#[cfg(test)]
mod ltv_tests;
#[cfg(test)]
mod tests;

use crate::error::Error;
use crate::timestamp::{Timestamper, TokenError};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use std::path::Path;
use x509_cert::Certificate;

pub use fetch::{HttpFetcher, RevocationSource};
pub use level::{Level, UnknownLevel};
pub use ltv::LtvError;
pub use parts::timestamp_parts;
pub use pdf::LoadError;
pub use verify::{verify_pdf, verify_pdf_at};

/// Why the signature of a signed PDF cannot be read back: no signature field, a `/Contents`
/// that is no CMS SignedData (RFC 5652 section 5.1), or an unreadable time-stamp token.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the file cannot be read as PDF: {0}")]
    Pdf(LoadError),
    #[error("no catalog: {0}")]
    NoCatalog(lopdf::Error),
    #[error("the document has no form, hence no signature field")]
    NoForm,
    #[error("the form has no /Fields")]
    NoFields,
    #[error("too many form fields")]
    TooManyFields,
    #[error("no signed signature field in the document")]
    NoSignature,
    #[error("{0}")]
    Der(der::Error),
    #[error("not a CMS ContentInfo: {0}")]
    NotContentInfo(der::Error),
    #[error("length overflow")]
    LengthOverflow,
    #[error("data after the CMS ContentInfo")]
    TrailingData,
    #[error("content type {0} is not signed-data")]
    NotSignedData(der::oid::ObjectIdentifier),
    #[error("bad SignedData: {0}")]
    BadSignedData(der::Error),
    #[error("{0} signers instead of exactly one")]
    SignerCount(usize),
    #[error("{0} signature time-stamps")]
    TimestampCount(usize),
    #[error("the signature carries no time-stamp token")]
    NoTimestamp,
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        Error::Invalid(e.to_string())
    }
}

/// Reserved size of the CMS blob in `/Contents`, in bytes (twice as many hex digits are
/// written). A P-256 or RSA-2048 signature with a three-certificate chain and a time-stamp
/// token with its own certificate takes about 4–6 KiB.
pub const CONTENTS_SIZE: usize = 16 * 1024;

/// The operator's signing key.
enum Key {
    /// ECDSA on NIST P-256 with SHA-256 (preferred: RFC 6979 deterministic, constant-time).
    P256(p256::ecdsa::SigningKey),
    /// RSA PKCS#1 v1.5 with SHA-256, kept for compatibility; signs with blinding.
    Rsa(Box<cades::BlindedRsa>),
}

/// The operator's signing key and certificate chain.
pub struct Signer {
    key: Key,
    /// Signer certificate first, then its issuers, without duplicates.
    chain: Vec<Certificate>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.algorithm())
            .field(
                "subject",
                &self.chain[0].tbs_certificate.subject.to_string(),
            )
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads a PKCS#8 PEM key (P-256 or RSA) and a PEM certificate chain (signer first).
    ///
    /// Refuses a key file that group or others may read, a key that does not match the first
    /// certificate, and a chain whose certificates are not each issued by the next.
    pub fn from_pem_files(key: &Path, chain: &Path) -> Result<Signer, Error> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(key).map_err(|e| {
            Error::Config(format!("cannot read signing key {}: {e}", key.display()))
        })?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::Config(format!(
                "signing key {} is accessible by group or others (mode {:03o}): chmod 600 {}",
                key.display(),
                mode & 0o777,
                key.display()
            )));
        }
        let key_pem = std::fs::read(key).map_err(|e| {
            Error::Config(format!("cannot read signing key {}: {e}", key.display()))
        })?;
        let chain_pem = std::fs::read(chain).map_err(|e| {
            Error::Config(format!(
                "cannot read certificate chain {}: {e}",
                chain.display()
            ))
        })?;
        Self::from_pem(&key_pem, &chain_pem).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!(
                "{m} (key {}, chain {})",
                key.display(),
                chain.display()
            )),
            other => other,
        })
    }

    /// [`Signer::from_pem_files`] without the files (and without the permission check).
    pub fn from_pem(key_pem: &[u8], chain_pem: &[u8]) -> Result<Signer, Error> {
        let key = load_key(key_pem)?;
        let mut chain: Vec<Certificate> = Vec::new();
        for cert in Certificate::load_pem_chain(chain_pem)
            .map_err(|e| Error::Config(format!("certificate chain is not PEM: {e}")))?
        {
            if !chain.contains(&cert) {
                chain.push(cert);
            }
        }
        let Some(leaf) = chain.first() else {
            return Err(Error::Config("certificate chain is empty".into()));
        };
        let spki = leaf
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| Error::Config(format!("signer certificate: {e}")))?;
        let matches = match &key {
            Key::P256(k) => {
                use p256::pkcs8::DecodePublicKey;
                p256::ecdsa::VerifyingKey::from_public_key_der(&spki)
                    .is_ok_and(|p| &p == k.verifying_key())
            }
            Key::Rsa(k) => {
                use rsa::pkcs8::DecodePublicKey;
                rsa::RsaPublicKey::from_public_key_der(&spki).is_ok_and(|p| &p == k.public_key())
            }
        };
        if !matches {
            return Err(Error::Config(format!(
                "the signing key does not belong to the first certificate of the chain ({})",
                leaf.tbs_certificate.subject
            )));
        }
        for pair in chain.windows(2) {
            if pair[0].tbs_certificate.issuer != pair[1].tbs_certificate.subject {
                return Err(Error::Config(format!(
                    "certificate chain is not in order (signer first): {} is not issued by {}",
                    pair[0].tbs_certificate.subject, pair[1].tbs_certificate.subject
                )));
            }
        }
        Ok(Signer { key, chain })
    }

    /// "ECDSA P-256 / SHA-256" or "RSA-2048 PKCS#1 v1.5 / SHA-256".
    pub fn algorithm(&self) -> String {
        match &self.key {
            Key::P256(_) => "ECDSA P-256 / SHA-256".into(),
            Key::Rsa(k) => format!("RSA-{} PKCS#1 v1.5 / SHA-256", k.bits()),
        }
    }

    /// The signer certificate's subject, e.g. `CN=certmail operator,O=Example`.
    pub fn subject(&self) -> String {
        self.chain[0].tbs_certificate.subject.to_string()
    }

    /// Signs `pdf` (PAdES B-T: the TSA's token is embedded as the signature timestamp).
    ///
    /// Appends one incremental update (ISO 32000-1 section 7.5.6) to `pdf`, which is otherwise
    /// left byte for byte as it was. A TSA failure is returned as [`Error::Io`] (temporary).
    pub fn sign_pdf(
        &self,
        pdf: &[u8],
        reason: &str,
        tsa: &dyn Timestamper,
    ) -> Result<Vec<u8>, Error> {
        let now = der::DateTime::from_system_time(std::time::SystemTime::now())
            .map_err(|e| Error::Invalid(format!("system clock: {e}")))?;
        let m = pdf::pdf_date(&now);
        let mut prepared = pdf::prepare(pdf, pdf::SigKind::Cades { reason, m: &m }, CONTENTS_SIZE)?;
        let digest: [u8; 32] = {
            let mut h = Sha256::new();
            for range in prepared.signed_ranges() {
                h.update(&prepared.bytes[range]);
            }
            h.finalize().into()
        };
        let cms = self.signed_data(&digest, tsa)?;
        prepared.fill_contents(&cms)?;
        Ok(prepared.bytes)
    }

    /// Signs `pdf` at `level` (B-T, B-LT or B-LTA; B-B is never issued: the time-stamp is what
    /// dates the evidence).
    ///
    /// B-LT fetches, after the signature time-stamp, the revocation data of the operator's
    /// chain and of the TSA's, judges it (a revoked or expired certificate is an error, never a
    /// certificate) and writes it to the `/DSS`; B-LTA then adds a document time-stamp and the
    /// validation data of its TSA.
    pub fn sign(
        &self,
        pdf: &[u8],
        reason: &str,
        tsa: &dyn Timestamper,
        level: Level,
        source: &dyn RevocationSource,
        issuers: &[Certificate],
    ) -> Result<Vec<u8>, SignError> {
        let now = unix_now();
        for c in &self.chain {
            let v = &c.tbs_certificate.validity;
            if now < v.not_before.to_unix_duration() || now > v.not_after.to_unix_duration() {
                return Err(SignError::Ltv(LtvError::Expired {
                    subject: c.tbs_certificate.subject.to_string(),
                    from: v.not_before.to_string(),
                    to: v.not_after.to_string(),
                }));
            }
        }
        let signed = self.sign_pdf(pdf, reason, tsa).map_err(SignError::Sign)?;
        if level <= Level::T {
            return Ok(signed);
        }
        let located =
            pdf::locate_last_signature(&signed).map_err(|e| SignError::Sign(Error::from(e)))?;
        let token = cades::Cms::parse(&located.contents)
            .and_then(|cms| cms.timestamp_token())
            .map_err(|e| SignError::Sign(Error::from(e)))?
            .ok_or_else(|| SignError::Sign(Error::Invalid("no signature time-stamp".into())))?;
        let mut pool = self.chain.clone();
        pool.extend_from_slice(issuers);
        let tsa_path = ltv::token_path(&token, &pool)?;
        let with_dss = ltv::add_validation_data(
            &signed,
            &located.contents,
            &[self.chain.clone(), tsa_path],
            source,
        )?;
        if level == Level::Lt {
            return Ok(with_dss);
        }
        Ok(ltv::archive(&with_dss, tsa, source, &pool)?)
    }

    /// Builds the DER CMS `ContentInfo` for a detached signature over `digest`, with its
    /// signature time-stamp.
    pub(crate) fn signed_data(
        &self,
        digest: &[u8; 32],
        tsa: &dyn Timestamper,
    ) -> Result<Vec<u8>, Error> {
        let unstamped = match &self.key {
            Key::P256(k) => {
                cades::build_signed_data::<_, p256::ecdsa::DerSignature>(k, &self.chain, digest)
            }
            Key::Rsa(k) => cades::build_signed_data::<_, rsa::pkcs1v15::Signature>(
                k.as_ref(),
                &self.chain,
                digest,
            ),
        }?;
        cades::add_signature_timestamp(&unstamped, tsa)
    }
}

/// The PEM certificates of `path` (issuers of the TSAs), none without a path.
pub fn load_issuers(path: Option<&Path>) -> Result<Vec<Certificate>, Error> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    Certificate::load_pem_chain(&pem)
        .map_err(|e| Error::Config(format!("{} is not PEM certificates: {e}", path.display())))
}

/// Renews the archive time-stamp of a stored certificate: validation data for its newest
/// time-stamp, then a new document time-stamp (B-LTA). `issuers` helps find the TSAs' CAs.
pub fn renew(
    pdf: &[u8],
    tsa: &dyn Timestamper,
    source: &dyn RevocationSource,
    issuers: &[Certificate],
) -> Result<Vec<u8>, SignError> {
    Ok(ltv::renew(pdf, tsa, source, issuers)?)
}

/// When the TSA certificate of a signed file's newest time-stamp expires (Unix time): its
/// archive time-stamp must be renewed before. `None` for a file without a readable one.
pub fn renew_by(pdf: &[u8]) -> Option<std::time::Duration> {
    ltv::renew_by(pdf)
}

/// Why a certificate could not be signed at the level asked for.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Signing or the TSA failed (a TSA failure is temporary).
    #[error("{0}")]
    Sign(#[source] Error),
    /// The validation data of B-LT cannot be had.
    #[error("{0}")]
    Ltv(#[from] LtvError),
}

impl SignError {
    /// Retrying will not help until an operator changes the configuration: a revoked or
    /// expired certificate.
    pub fn needs_operator(&self) -> bool {
        matches!(self, SignError::Ltv(e) if e.needs_operator())
    }
}

fn unix_now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Reads a PKCS#8 `PRIVATE KEY` PEM block holding a P-256 or RSA key.
fn load_key(pem: &[u8]) -> Result<Key, Error> {
    let (label, doc) = der::pem::decode_vec(pem)
        .map_err(|e| Error::Config(format!("signing key is not a PEM file: {e}")))?;
    match label {
        "PRIVATE KEY" => {}
        "ENCRYPTED PRIVATE KEY" => {
            return Err(Error::Config(
                "signing key is encrypted: store it unencrypted with mode 600 \
                 (openssl pkcs8 -topk8 -nocrypt)"
                    .into(),
            ))
        }
        other => {
            return Err(Error::Config(format!(
                "signing key is a {other:?} PEM block; PKCS#8 \"PRIVATE KEY\" is needed \
                 (openssl pkcs8 -topk8 -nocrypt -in OLD -out NEW)"
            )))
        }
    }
    let info = p256::pkcs8::PrivateKeyInfo::from_der(&doc)
        .map_err(|e| Error::Config(format!("signing key is not PKCS#8: {e}")))?;
    let oid = info.algorithm.oid;
    if oid == cades::oid::EC_PUBLIC_KEY {
        use p256::pkcs8::DecodePrivateKey;
        let key = p256::SecretKey::from_pkcs8_der(&doc).map_err(|e| {
            Error::Config(format!(
                "signing key: only EC keys on P-256 are supported: {e}"
            ))
        })?;
        Ok(Key::P256(p256::ecdsa::SigningKey::from(key)))
    } else if oid == cades::oid::RSA_ENCRYPTION {
        use rsa::pkcs8::DecodePrivateKey;
        let key = rsa::RsaPrivateKey::from_pkcs8_der(&doc)
            .map_err(|e| Error::Config(format!("signing key: bad RSA key: {e}")))?;
        cades::BlindedRsa::new(key).map(|k| Key::Rsa(Box::new(k)))
    } else {
        Err(Error::Config(format!(
            "signing key algorithm {oid} is not supported (use P-256 or RSA)"
        )))
    }
}

/// A summary of the signature time-stamp of a signed PDF, for the event log: `gen_time`
/// (RFC 3339), `serial` (hex), `policy`, `tsa` (the TSA certificate's subject) and
/// `token_sha256`. `null` when the PDF has no readable signature time-stamp.
pub fn timestamp_summary(pdf: &[u8]) -> serde_json::Value {
    pdf::locate_last_signature(pdf)
        .ok()
        .and_then(|located| cades::Cms::parse(&located.contents).ok())
        .and_then(|cms| cms.timestamp_token().ok().flatten())
        .and_then(|token| summarize(&token))
        .unwrap_or(serde_json::Value::Null)
}

/// The same summary for the newest time-stamp of the file (the newest document time-stamp of
/// a B-LTA file).
pub fn archive_timestamp_summary(pdf: &[u8]) -> serde_json::Value {
    ltv::newest_timestamp(pdf)
        .ok()
        .and_then(|(_, token)| summarize(&token))
        .unwrap_or(serde_json::Value::Null)
}

fn summarize(token: &[u8]) -> Option<serde_json::Value> {
    let parsed = cades::SignedToken::parse(token).ok()?;
    let tst = &parsed.token.tst;
    Some(serde_json::json!({
        "gen_time": parsed.gen_time.rfc3339,
        "serial": hex::encode(tst.serial_number.as_bytes()),
        "policy": tst.policy.to_string(),
        "tsa": parsed.signer_cert().map(|c| c.tbs_certificate.subject.to_string()),
        "token_sha256": hex::encode(Sha256::digest(token)),
    }))
}

/// What `certd verify` found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    pub valid: bool,
    /// The PAdES level reached (ETSI EN 319 142-1 section 6); `None` when not valid.
    pub level: Option<Level>,
    /// The time validated at (RFC 3339, UTC).
    pub at: String,
    /// One entry per check: name, passed, human sentence.
    pub checks: Vec<(String, bool, String)>,
}
