//! Revocation data over HTTP for PAdES B-LT: an OCSP response (RFC 6960, POST as in appendix
//! A.1) from the certificate's authority information access, a CRL (RFC 5280 section
//! 4.2.1.13) from its distribution points. Only fetching: `revocation.rs` judges what comes back.

use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use std::time::Duration;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints};
use x509_cert::Certificate;
use x509_ocsp::builder::OcspRequestBuilder;
use x509_ocsp::{CertId, Request, Version};

/// id-ad-ocsp (RFC 5280 section 4.2.2.1).
const AD_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");
/// id-pe-authorityInfoAccess.
const AIA: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
/// id-ce-cRLDistributionPoints.
const CRL_DP: Oid = Oid::new_unwrap("2.5.29.31");

/// Largest OCSP response read: a few KiB is usual.
const MAX_OCSP_BYTES: u64 = 256 * 1024;
/// Largest CRL read: CRLs of big CAs reach megabytes.
const MAX_CRL_BYTES: u64 = 32 * 1024 * 1024;

/// Why revocation data could not be fetched from one URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {source}")]
    Http {
        url: String,
        #[source]
        source: ureq::Error,
    },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("the OCSP request cannot be encoded: {0}")]
    Request(String),
    #[error("{0} names no http:// URL for this")]
    NoUrl(String),
}

/// Where revocation data comes from: HTTP in production, anything in tests.
pub trait RevocationSource: Sync {
    /// The DER `OCSPResponse` answering the DER `OCSPRequest` `request`, from `url`.
    fn ocsp(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, FetchError>;
    /// The DER `CertificateList` at `url`.
    fn crl(&self, url: &str) -> Result<Vec<u8>, FetchError>;
}

/// Plain HTTP (and HTTPS) with one timeout per request, no redirects followed for POST.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    timeout: Duration,
}

impl HttpFetcher {
    pub fn new(timeout: Duration) -> HttpFetcher {
        HttpFetcher { timeout }
    }

    fn agent(&self) -> ureq::Agent {
        crate::timestamp::http_agent(self.timeout)
    }
}

fn read(
    url: &str,
    mut response: ureq::http::Response<ureq::Body>,
    limit: u64,
) -> Result<Vec<u8>, FetchError> {
    let status = response.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status {
            url: url.into(),
            status,
        });
    }
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|source| FetchError::Http {
            url: url.into(),
            source,
        })
}

impl RevocationSource for HttpFetcher {
    fn ocsp(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, FetchError> {
        let response = self
            .agent()
            .post(url)
            .header("Content-Type", "application/ocsp-request")
            .send(request)
            .map_err(|source| FetchError::Http {
                url: url.into(),
                source,
            })?;
        read(url, response, MAX_OCSP_BYTES)
    }

    fn crl(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let response = self
            .agent()
            .get(url)
            .call()
            .map_err(|source| FetchError::Http {
                url: url.into(),
                source,
            })?;
        read(url, response, MAX_CRL_BYTES)
    }
}

/// The DER OCSP request for `cert` (issued by `issuer`): one request, SHA-1 CertID as RFC 5019
/// section 2.1.1 requires of lightweight responders, no nonce (cached responses are fine: the
/// freshness that counts is thisUpdate after the signature time-stamp).
pub(crate) fn ocsp_request(
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<Vec<u8>, FetchError> {
    let id = CertId::from_cert::<sha1::Sha1>(issuer, cert)
        .map_err(|e| FetchError::Request(e.to_string()))?;
    OcspRequestBuilder::new(Version::V1)
        .with_request(Request::new(id))
        .build()
        .to_der()
        .map_err(|e| FetchError::Request(e.to_string()))
}

fn http_uri(name: &GeneralName) -> Option<String> {
    match name {
        GeneralName::UniformResourceIdentifier(uri) => {
            let s = uri.as_str();
            let lower = s.to_ascii_lowercase();
            (lower.starts_with("http://") || lower.starts_with("https://")).then(|| s.to_owned())
        }
        _ => None,
    }
}

fn extension<'a>(cert: &'a Certificate, oid: &Oid) -> Option<&'a [u8]> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == *oid)
        .map(|e| e.extn_value.as_bytes())
}

/// The OCSP responder URLs of `cert`'s authority information access (RFC 5280 4.2.2.1).
pub(crate) fn ocsp_urls(cert: &Certificate) -> Vec<String> {
    let Some(aia) = extension(cert, &AIA).and_then(|v| AuthorityInfoAccessSyntax::from_der(v).ok())
    else {
        return Vec::new();
    };
    aia.0
        .iter()
        .filter(|d| d.access_method == AD_OCSP)
        .filter_map(|d| http_uri(&d.access_location))
        .collect()
}

/// The CRL URLs of `cert`'s distribution points (RFC 5280 4.2.1.13); points limited to some
/// reasons or with another CRL issuer are skipped: they would not cover every reason.
pub(crate) fn crl_urls(cert: &Certificate) -> Vec<String> {
    let Some(points) =
        extension(cert, &CRL_DP).and_then(|v| CrlDistributionPoints::from_der(v).ok())
    else {
        return Vec::new();
    };
    points
        .0
        .iter()
        .filter(|p| p.reasons.is_none() && p.crl_issuer.is_none())
        .filter_map(|p| match &p.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(http_uri)
        .collect()
}
