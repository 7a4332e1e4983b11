//! RFC 3161 time-stamp client.
//!
//! certd timestamps the *signature value* of each evidence certificate (PAdES B-T: the token
//! becomes the signature-time-stamp unsigned attribute of the CMS SignerInfo). [`TsaClient`]
//! asks the configured TSAs in order and accepts the first answer that passes every check; see
//! `docs/timestamps.md`. [`Token`] is certd's one reader of time-stamp tokens: the client checks
//! answers with it, the signer what it embeds, the verifier and the event log what a PDF holds.
//!
//! What is checked here is that the answer belongs to *our* request (status, message imprint,
//! nonce, policy). The token's CMS signature and the TSA certificate chain are checked by the
//! relying party's validator (pyHanko, Adobe, `openssl ts -verify`) against its trust anchors.

use std::time::{Duration, Instant};

use cms::content_info::ContentInfo;
use cms::signed_data::EncapsulatedContentInfo;
use const_oid::db::rfc5911::ID_SIGNED_DATA;
use const_oid::db::rfc5912::ID_SHA_256;
use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, Int, OctetString, Uint};
use der::{Decode, Encode, Reader, Sequence, SliceReader, Tag, Tagged};
use spki::AlgorithmIdentifier;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::Extensions;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TspVersion};

/// `id-ct-TSTInfo` (RFC 3161 section 2.4.2): the eContentType of a time-stamp token.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Media type of an RFC 3161 request (section 3.4).
pub const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";
/// Media type of an RFC 3161 answer (section 3.4).
pub const REPLY_CONTENT_TYPE: &str = "application/timestamp-reply";
/// The pre-RFC name some old TSAs still send; accepted as well.
const LEGACY_REPLY_CONTENT_TYPE: &str = "application/timestamp-response";
/// A token is a few KB (certificates included); anything much larger is not a TSA answer.
const MAX_REPLY_BYTES: u64 = 1024 * 1024;

/// Why no timestamp could be had; always temporary for the outbox (retry later).
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    #[error("no TSA answered: {0}")]
    Unavailable(String),
    #[error("TSA answer rejected: {0}")]
    Invalid(String),
}

/// Why a time-stamp token cannot be read (RFC 3161 section 2.4.2).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a ContentInfo: {0}")]
    NotContentInfo(der::Error),
    #[error("token content type {0} is not SignedData")]
    NotSignedData(ObjectIdentifier),
    #[error("token SignedData is not a SEQUENCE")]
    SignedDataNotSequence,
    #[error("token SignedData: {0}")]
    SignedData(der::Error),
    #[error("token eContentType {0} is not id-ct-TSTInfo")]
    NotTstInfo(ObjectIdentifier),
    #[error("token has no eContent (detached TSTInfo)")]
    Detached,
    #[error("token eContent is not an OCTET STRING")]
    EContentNotOctets,
    #[error("token TSTInfo: {0}")]
    TstInfo(der::Error),
    /// The raw value, lossily decoded.
    #[error("token genTime {0:?} is not a UTC GeneralizedTime")]
    GenTime(String),
}

/// Why one TSA's answer was not taken; the client tries the next URL.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("nonce: {0}")]
    Nonce(der::Error),
    #[error("cannot encode the request: {0}")]
    Request(der::Error),
    #[error("{0}")]
    Http(ureq::Error),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("Content-Type {0:?}, expected {REPLY_CONTENT_TYPE}")]
    ContentType(String),
    #[error("reading the answer: {0}")]
    Read(ureq::Error),
    #[error("not an RFC 3161 TimeStampResp: {0}")]
    NotTimeStampResp(der::Error),
    /// The status described ("rejection (badDataFormat): text").
    #[error("TSA refused: {0}")]
    Refused(String),
    #[error("{0} but no token")]
    NoToken(String),
    #[error("{0}")]
    Encoding(der::Error),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("token imprint algorithm {0} is not SHA-256")]
    ImprintAlgorithm(ObjectIdentifier),
    #[error("token imprint algorithm has unexpected parameters")]
    ImprintParameters,
    #[error("token imprint {got} is not the digest asked for ({asked})")]
    Imprint { got: String, asked: String },
    #[error("token nonce {got} is not ours ({ours})")]
    ForeignNonce { got: String, ours: String },
    #[error("token has no nonce")]
    NoNonce,
    #[error("token policy {got} is not {asked}")]
    Policy {
        got: ObjectIdentifier,
        asked: ObjectIdentifier,
    },
}

/// certd's HTTP client for its outbound requests (TSAs, OCSP responders, CRLs): statuses are
/// answers, not errors; one timeout bounds connecting, sending and reading.
pub(crate) fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("certd/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Anything that timestamps a SHA-256 digest: returns a DER `TimeStampToken` (RFC 3161
/// section 2.4.2, a CMS ContentInfo).
pub trait Timestamper: Sync {
    fn timestamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, TsaError>;
}

/// RFC 3161 client over HTTP(S) with failover: the URLs are tried in order, each with its own
/// nonce and `timeout`, until one gives a valid token.
#[derive(Clone, Debug)]
pub struct TsaClient {
    urls: Vec<String>,
    timeout: Duration,
    policy: Option<String>,
}

impl TsaClient {
    /// A client for `urls` (tried in this order), each attempt bounded by `timeout` (connect,
    /// send, answer). No policy is asked for: the TSA's default policy is accepted.
    pub fn new(urls: Vec<String>, timeout: Duration) -> Self {
        TsaClient {
            urls,
            timeout,
            policy: None,
        }
    }

    /// Asks for the TSA policy `oid` (dotted form, sent as `reqPolicy`) and rejects tokens
    /// issued under any other policy.
    pub fn with_policy(mut self, oid: &str) -> Result<Self, TsaError> {
        policy_oid(oid)?;
        self.policy = Some(oid.to_owned());
        Ok(self)
    }

    /// The URLs, in the order they are tried.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    fn agent(&self) -> ureq::Agent {
        http_agent(self.timeout)
    }

    /// One attempt against one URL: the token, or why this URL failed.
    fn attempt(
        &self,
        agent: &ureq::Agent,
        url: &str,
        sha256: &[u8; 32],
        policy: Option<ObjectIdentifier>,
    ) -> Result<Vec<u8>, ReplyError> {
        let nonce = nonce_int(rand::random::<u64>())?;
        let query = build_request(sha256, &nonce, policy)?;
        let reply = post(agent, url, &query)?;
        check_reply(&reply, sha256, &nonce, policy)
    }
}

impl Timestamper for TsaClient {
    fn timestamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, TsaError> {
        if self.urls.is_empty() {
            return Err(TsaError::Unavailable("no TSA URL is configured".into()));
        }
        let policy = self.policy.as_deref().map(policy_oid).transpose()?;
        let agent = self.agent();
        let mut failures = Vec::new();
        for url in &self.urls {
            let started = Instant::now();
            match self.attempt(&agent, url, sha256, policy) {
                Ok(token) => {
                    log::debug!(
                        "TSA {}: {} byte token in {} ms",
                        redact(url),
                        token.len(),
                        started.elapsed().as_millis()
                    );
                    return Ok(token);
                }
                Err(why) => {
                    crate::metrics::TSA_ERRORS.inc();
                    let failure = format!("{}: {why}", redact(url));
                    log::warn!("TSA {failure}");
                    failures.push(failure);
                }
            }
        }
        Err(TsaError::Unavailable(failures.join("; ")))
    }
}

/// What a time-stamp token says (its TSTInfo), in printable form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TstInfoSummary {
    /// genTime in RFC 3339, UTC (`2024-05-01T10:20:30Z`, fractional seconds kept if present).
    pub gen_time: String,
    /// serialNumber, lowercase hex without leading zero bytes.
    pub serial: String,
    /// The TSA policy under which the token was issued (dotted OID).
    pub policy: String,
    /// messageImprint hash algorithm (dotted OID; 2.16.840.1.101.3.4.2.1 is SHA-256).
    pub imprint_algorithm: String,
    /// messageImprint hashed message, lowercase hex.
    pub imprint: String,
    /// The nonce, lowercase hex without leading zero bytes, if the token has one.
    pub nonce: Option<String>,
    /// The TSA's name (tsa field, a directory name in RFC 4514 form), if the token has one.
    pub tsa_name: Option<String>,
}

/// Reads the TSTInfo of a DER `TimeStampToken` (a CMS ContentInfo wrapping SignedData with
/// eContentType id-ct-TSTInfo). Checks structure only, not the signature.
pub fn tst_info(token_der: &[u8]) -> Result<TstInfoSummary, TokenError> {
    let token = Token::parse(token_der)?;
    let tst = &token.tst;
    Ok(TstInfoSummary {
        gen_time: token.gen_time()?.rfc3339,
        serial: int_hex(&tst.serial_number),
        policy: tst.policy.to_string(),
        imprint_algorithm: tst.message_imprint.hash_algorithm.oid.to_string(),
        imprint: hex::encode(tst.message_imprint.hashed_message.as_bytes()),
        nonce: tst.nonce.as_ref().map(int_hex),
        tsa_name: tst.tsa.as_ref().map(general_name),
    })
}

/// `TimeStampResp` (RFC 3161 section 2.4.2), decoded leniently: x509-tsp's version goes
/// through cmpv2, whose 16-bit PKIFailureInfo cannot hold systemFailure (25) and which
/// rejects unknown status values; the token is kept as raw TLV so that its bytes are returned
/// exactly as the TSA signed them.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<Any>,
}

/// `PKIStatusInfo` (RFC 3161 section 2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct PkiStatusInfo {
    status: u32,
    #[asn1(optional = "true")]
    status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

/// `TSTInfo` (RFC 3161 section 2.4.2), with genTime kept raw: `der`'s GeneralizedTime refuses
/// fractional seconds, which many TSAs send (x509-tsp's `TstInfo` uses it, hence this type).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    pub version: TspVersion,
    pub policy: ObjectIdentifier,
    pub message_imprint: MessageImprint,
    pub serial_number: Int,
    /// Read with [`Token::gen_time`].
    pub gen_time: Any,
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// A parsed RFC 3161 `TimeStampToken` (section 2.4.2): a CMS ContentInfo holding SignedData
/// whose eContent is a DER `TSTInfo`.
#[derive(Clone, Debug)]
pub struct Token {
    /// The whole token, for a CMS signature check ([`crate::signature`] decodes it fully).
    pub content_info: ContentInfo,
    /// The DER `TSTInfo` (the eContent octets, which the TSA's message-digest covers).
    pub tst_der: Vec<u8>,
    pub tst: TstInfo,
}

/// A token's genTime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenTime {
    /// RFC 3339, UTC (`2024-05-01T10:20:30Z`, fractional seconds kept if present).
    pub rfc3339: String,
    /// Since the Unix epoch.
    pub unix: Duration,
}

impl Token {
    /// ContentInfo → SignedData → eContent (id-ct-TSTInfo) → TSTInfo. Only the fields leading
    /// to the TSTInfo are decoded, so that certificate sets and signer infos a TSA encodes less
    /// strictly than `cms` wants do not matter here.
    pub fn parse(der: &[u8]) -> Result<Token, TokenError> {
        let ci = ContentInfo::from_der(der).map_err(TokenError::NotContentInfo)?;
        if ci.content_type != ID_SIGNED_DATA {
            return Err(TokenError::NotSignedData(ci.content_type));
        }
        if ci.content.tag() != Tag::Sequence {
            return Err(TokenError::SignedDataNotSequence);
        }
        let encap = (|| -> der::Result<EncapsulatedContentInfo> {
            let mut reader = SliceReader::new(ci.content.value())?;
            let _version: Any = reader.decode()?;
            let _digest_algorithms: Any = reader.decode()?;
            reader.decode()
        })()
        .map_err(TokenError::SignedData)?;
        if encap.econtent_type != ID_CT_TST_INFO {
            return Err(TokenError::NotTstInfo(encap.econtent_type));
        }
        let econtent = encap.econtent.ok_or(TokenError::Detached)?;
        if econtent.tag() != Tag::OctetString {
            return Err(TokenError::EContentNotOctets);
        }
        let tst_der = econtent.value().to_vec();
        let tst = TstInfo::from_der(&tst_der).map_err(TokenError::TstInfo)?;
        Ok(Token {
            content_info: ci,
            tst_der,
            tst,
        })
    }

    /// The genTime, checked: a UTC GeneralizedTime with a real date.
    pub fn gen_time(&self) -> Result<GenTime, TokenError> {
        gen_time(&self.tst.gen_time)
    }
}

fn policy_oid(oid: &str) -> Result<ObjectIdentifier, TsaError> {
    ObjectIdentifier::new(oid)
        .map_err(|e| TsaError::Invalid(format!("TSA policy {oid:?} is not an OID: {e}")))
}

/// A positive INTEGER from 64 random bits.
fn nonce_int(n: u64) -> Result<Int, ReplyError> {
    let uint = Uint::new(&n.to_be_bytes()).map_err(ReplyError::Nonce)?;
    Ok(Int::from(uint))
}

/// DER `TimeStampReq`: version 1, SHA-256 imprint (NULL parameters, as OpenSSL and most
/// clients send them), the nonce, certReq TRUE (the TSA certificate goes into the token, as
/// PAdES validators need it), and `policy` as reqPolicy if given.
fn build_request(
    sha256: &[u8; 32],
    nonce: &Int,
    policy: Option<ObjectIdentifier>,
) -> Result<Vec<u8>, ReplyError> {
    let hashed_message = OctetString::new(sha256.to_vec()).map_err(ReplyError::Request)?;
    TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier {
                oid: ID_SHA_256,
                parameters: Some(Any::null()),
            },
            hashed_message,
        },
        req_policy: policy,
        nonce: Some(nonce.clone()),
        cert_req: true,
        extensions: None,
    }
    .to_der()
    .map_err(ReplyError::Request)
}

/// POSTs `query`; the body of a 200 answer of the right media type.
fn post(agent: &ureq::Agent, url: &str, query: &[u8]) -> Result<Vec<u8>, ReplyError> {
    let mut response = agent
        .post(url)
        .header("Content-Type", QUERY_CONTENT_TYPE)
        .send(query)
        .map_err(ReplyError::Http)?;
    let status = response.status();
    if status != 200 {
        return Err(ReplyError::Status(status.as_u16()));
    }
    let content_type = response
        .headers()
        .get(ureq::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case(REPLY_CONTENT_TYPE)
        && !mime.eq_ignore_ascii_case(LEGACY_REPLY_CONTENT_TYPE)
    {
        return Err(ReplyError::ContentType(content_type));
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_REPLY_BYTES)
        .read_to_vec()
        .map_err(ReplyError::Read)
}

/// Checks a DER `TimeStampResp` against our request; returns the DER token.
fn check_reply(
    reply: &[u8],
    sha256: &[u8; 32],
    nonce: &Int,
    policy: Option<ObjectIdentifier>,
) -> Result<Vec<u8>, ReplyError> {
    let resp = TimeStampResp::from_der(reply).map_err(ReplyError::NotTimeStampResp)?;
    let status = &resp.status;
    if status.status > 1 {
        return Err(ReplyError::Refused(describe_status(status)));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| ReplyError::NoToken(describe_status(status)))?
        .to_der()
        .map_err(ReplyError::Encoding)?;
    let parsed = Token::parse(&token)?;
    let imprint = &parsed.tst.message_imprint;
    if imprint.hash_algorithm.oid != ID_SHA_256 {
        return Err(ReplyError::ImprintAlgorithm(imprint.hash_algorithm.oid));
    }
    if let Some(p) = &imprint.hash_algorithm.parameters {
        if p.tag() != Tag::Null || !p.value().is_empty() {
            return Err(ReplyError::ImprintParameters);
        }
    }
    if imprint.hashed_message.as_bytes() != sha256 {
        return Err(ReplyError::Imprint {
            got: hex::encode(imprint.hashed_message.as_bytes()),
            asked: hex::encode(sha256),
        });
    }
    match &parsed.tst.nonce {
        Some(n) if n == nonce => {}
        Some(n) => {
            return Err(ReplyError::ForeignNonce {
                got: int_hex(n),
                ours: int_hex(nonce),
            })
        }
        None => return Err(ReplyError::NoNonce),
    }
    if let Some(asked) = policy {
        if parsed.tst.policy != asked {
            return Err(ReplyError::Policy {
                got: parsed.tst.policy,
                asked,
            });
        }
    }
    parsed.gen_time()?;
    Ok(token)
}

/// GeneralizedTime `YYYYMMDDHHMMSS[.f*]Z` (X.680 section 46, DER: UTC, no trailing zeros
/// required of us) → RFC 3339 `YYYY-MM-DDTHH:MM:SS[.f*]Z` and the instant it names.
fn gen_time(raw: &Any) -> Result<GenTime, TokenError> {
    let bad = || TokenError::GenTime(String::from_utf8_lossy(raw.value()).into_owned());
    if raw.tag() != Tag::GeneralizedTime {
        return Err(bad());
    }
    let s = std::str::from_utf8(raw.value()).map_err(|_| bad())?;
    let utc = s.strip_suffix('Z').ok_or_else(bad)?;
    let (main, fraction) = match utc.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (utc, None),
    };
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let field = |r: std::ops::Range<usize>| main[r].parse::<u32>().unwrap_or(u32::MAX);
    let (year, month, day, hour, minute, second) = (
        field(0..4),
        field(4..6),
        field(6..8),
        field(8..10),
        field(10..12),
        field(12..14),
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let mut rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}",
        &main[0..4],
        &main[4..6],
        &main[6..8],
        &main[8..10],
        &main[10..12],
        &main[12..14]
    );
    let mut nanos = 0u32;
    if let Some(f) = fraction {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        rfc3339.push('.');
        rfc3339.push_str(f);
        // Nanoseconds from the first nine digits; finer ones cannot matter here.
        nanos = f
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(9)
            .fold(0, |n, b| n * 10 + u32::from(b - b'0'));
    }
    rfc3339.push('Z');
    // A leap second is read as the second before it: validity periods are whole seconds.
    let as_u8 = |v: u32| u8::try_from(v).map_err(|_| bad());
    let date = der::DateTime::new(
        u16::try_from(year).map_err(|_| bad())?,
        as_u8(month)?,
        as_u8(day)?,
        as_u8(hour)?,
        as_u8(minute)?,
        as_u8(second.min(59))?,
    )
    .map_err(|_| bad())?;
    Ok(GenTime {
        rfc3339,
        unix: date.unix_duration() + Duration::from_nanos(u64::from(nanos)),
    })
}

/// An INTEGER as lowercase hex, without the sign-padding zero bytes.
fn int_hex(i: &Int) -> String {
    let bytes = i.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    hex::encode(&bytes[start..])
}

fn general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DirectoryName(dn) => dn.to_string(),
        GeneralName::DnsName(s) => s.to_string(),
        GeneralName::UniformResourceIdentifier(s) => s.to_string(),
        GeneralName::Rfc822Name(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

/// "rejection (badDataFormat): text" from a PKIStatusInfo.
fn describe_status(info: &PkiStatusInfo) -> String {
    const STATUS: [&str; 6] = [
        "granted",
        "grantedWithMods",
        "rejection",
        "waiting",
        "revocationWarning",
        "revocationNotification",
    ];
    let mut out = match STATUS.get(info.status as usize) {
        Some(name) => (*name).to_owned(),
        None => format!("status {}", info.status),
    };
    if let Some(bits) = &info.fail_info {
        let names: Vec<String> = bits
            .bits()
            .enumerate()
            .filter(|&(_, set)| set)
            .map(|(i, _)| match i {
                0 => "badAlg".to_owned(),
                2 => "badRequest".to_owned(),
                5 => "badDataFormat".to_owned(),
                14 => "timeNotAvailable".to_owned(),
                15 => "unacceptedPolicy".to_owned(),
                16 => "unacceptedExtension".to_owned(),
                17 => "addInfoNotAvailable".to_owned(),
                25 => "systemFailure".to_owned(),
                n => format!("failInfo bit {n}"),
            })
            .collect();
        if !names.is_empty() {
            out.push_str(&format!(" ({})", names.join(", ")));
        }
    }
    if let Some(texts) = &info.status_string {
        if !texts.is_empty() {
            out.push_str(": ");
            out.push_str(&texts.join(" "));
        }
    }
    out
}

/// A URL for messages: `user:password@` replaced by `***@`.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end + 3], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::collections::HashSet;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;

    // A TimeStampResp made by `openssl ts -reply` (from the x509-tsp test suite): imprint
    // SHA-256("abc"), nonce 314cfce4e0651827, policy 1.2.3.4.1, serial 04,
    // genTime 20230607112626Z, TSA "C=US, ST=Some-State, O=Test, CN=Test TSA".
    const CANNED_REPLY: &str = "3082028430030201003082027B06092A864886F70D010702A082026C30820268020103310F300D060960864801650304020105003081C9060B2A864886F70D0109100104A081B90481B63081B302010106042A0304013031300D060960864801650304020105000420BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD020104180F32303233303630373131323632365A300A020101800201F48101640101FF0208314CFCE4E0651827A048A4463044310B30090603550406130255533113301106035504080C0A536F6D652D5374617465310D300B060355040A0C04546573743111300F06035504030C0854657374205453413182018430820180020101305C3044310B30090603550406130255533113301106035504080C0A536F6D652D5374617465310D300B060355040A0C04546573743111300F06035504030C08546573742054534102146A0DCC59137C11D1C2B092042B4BC51C0D634D24300D06096086480165030402010500A08198301A06092A864886F70D010903310D060B2A864886F70D0109100104301C06092A864886F70D010905310F170D3233303630373131323632365A302B060B2A864886F70D010910020C311C301A3018301604142F36B1B52456F5AC3A1CA09794AE3D0D64AD38C2302F06092A864886F70D01090431220420BAF4CCF82E9B5B3956EADCC87346B407684F26D82B68D0E7DE0D31EA79AF648C300A06082A8648CE3D0403020467306502305A6E1C175B20A93FAB25D14CC5F5A2836D726D6D4A964B66FFBFFCE46276A96475F1408728B3385DCA37C2BA46BE17E1023100C46B7F08D03409A8ECCFD7637765412C3C5EC050E0D39CF48F0F5015950342CB18D8434FF331BA4463C086297C37D07B";
    const CANNED_NONCE: u64 = 0x314C_FCE4_E065_1827;

    fn canned() -> (Vec<u8>, [u8; 32], Int) {
        let reply = hex::decode(CANNED_REPLY).unwrap();
        let digest: [u8; 32] = Sha256::digest(b"abc").into();
        (reply, digest, nonce_int(CANNED_NONCE).unwrap())
    }

    #[test]
    fn request_is_rfc3161() {
        let digest = [7u8; 32];
        let nonce = nonce_int(0x8000_0000_0000_0001).unwrap();
        let policy = ObjectIdentifier::new("1.2.3.4.5").unwrap();
        let der = build_request(&digest, &nonce, Some(policy)).unwrap();
        let req = TimeStampReq::from_der(&der).unwrap();
        assert_eq!(req.version, TspVersion::V1);
        assert_eq!(req.message_imprint.hash_algorithm.oid, ID_SHA_256);
        assert_eq!(req.message_imprint.hashed_message.as_bytes(), &digest);
        assert_eq!(req.req_policy, Some(policy));
        assert!(req.cert_req);
        // A top-bit-set nonce stays positive: 0x00 pad, 9 content bytes.
        let n = req.nonce.unwrap();
        assert_eq!(
            n.as_bytes(),
            &hex::decode("008000000000000001").unwrap()[..]
        );
        assert_eq!(int_hex(&n), "8000000000000001");
    }

    #[test]
    fn canned_reply_is_accepted_and_summarised() {
        let (reply, digest, nonce) = canned();
        let policy = ObjectIdentifier::new("1.2.3.4.1").ok();
        let token = check_reply(&reply, &digest, &nonce, policy).unwrap();
        assert_eq!(
            ContentInfo::from_der(&token).unwrap().content_type,
            ID_SIGNED_DATA
        );
        let info = tst_info(&token).unwrap();
        assert_eq!(
            info,
            TstInfoSummary {
                gen_time: "2023-06-07T11:26:26Z".into(),
                serial: "04".into(),
                policy: "1.2.3.4.1".into(),
                imprint_algorithm: "2.16.840.1.101.3.4.2.1".into(),
                imprint: hex::encode(digest),
                nonce: Some("314cfce4e0651827".into()),
                tsa_name: Some("CN=Test TSA,O=Test,ST=Some-State,C=US".into()),
            }
        );
    }

    #[test]
    fn canned_reply_for_another_request_is_rejected() {
        let (reply, digest, nonce) = canned();
        let other_digest: [u8; 32] = Sha256::digest(b"abd").into();
        let err = check_reply(&reply, &other_digest, &nonce, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("imprint"), "{err}");
        let err = check_reply(&reply, &digest, &nonce_int(1).unwrap(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nonce"), "{err}");
        let policy = ObjectIdentifier::new("1.2.3.4.5").ok();
        let err = check_reply(&reply, &digest, &nonce, policy)
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy"), "{err}");
    }

    #[test]
    fn refusals_and_garbage_are_rejected() {
        let (_, digest, nonce) = canned();
        // status rejection, statusString "bad", failInfo badDataFormat (bit 5) + systemFailure
        // (bit 25, beyond cmpv2's 16-bit flag set).
        let refusal = hex::decode("3013301102010230050C0362616403050604000040").unwrap();
        let err = check_reply(&refusal, &digest, &nonce, None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "TSA refused: rejection (badDataFormat, systemFailure): bad"
        );
        let granted_without_token = hex::decode("30053003020100").unwrap();
        let err = check_reply(&granted_without_token, &digest, &nonce, None)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "granted but no token");
        assert!(check_reply(b"<html>", &digest, &nonce, None).is_err());
        assert!(tst_info(b"").is_err());
        assert!(tst_info(&hex::decode(CANNED_REPLY).unwrap()).is_err()); // a reply, not a token
    }

    /// genTime as RFC 3339 alone.
    fn rfc3339(raw: &Any) -> Result<String, TokenError> {
        gen_time(raw).map(|t| t.rfc3339)
    }

    #[test]
    fn gen_time_to_rfc3339() {
        let t = |s: &str| rfc3339(&Any::new(Tag::GeneralizedTime, s.as_bytes().to_vec()).unwrap());
        assert_eq!(t("20240501102030Z").unwrap(), "2024-05-01T10:20:30Z");
        assert_eq!(
            t("20240501102030.125Z").unwrap(),
            "2024-05-01T10:20:30.125Z"
        );
        for bad in [
            "20240501102030",
            "20240501102030+0100",
            "20241301102030Z",
            "2024050110203Z",
            "20240501102030.Z",
            "20240501102030ZZ",
            "2024-5-01102030Z",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
        let utc = Any::new(Tag::UtcTime, b"240501102030Z".to_vec()).unwrap();
        assert!(rfc3339(&utc).is_err());
    }

    #[test]
    fn gen_time_names_a_real_date() {
        let t = |s: &str| gen_time(&Any::new(Tag::GeneralizedTime, s.as_bytes().to_vec()).unwrap());
        assert!(t("20240230102030Z").is_err(), "30 February");
        assert!(
            t("20230229102030Z").is_err(),
            "29 February of a common year"
        );
        let leap = t("20240229235960.5Z").unwrap();
        assert_eq!(leap.rfc3339, "2024-02-29T23:59:60.5Z");
        // The leap second counts as the second before it, plus its fraction.
        assert_eq!(leap.unix, Duration::from_millis(1_709_251_199_500));
    }

    #[test]
    fn urls_are_redacted_in_messages() {
        assert_eq!(
            redact("https://u:p@tsa.example/x@y"),
            "https://***@tsa.example/x@y"
        );
        assert_eq!(redact("http://tsa.example/ts"), "http://tsa.example/ts");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn no_url_and_bad_policy() {
        let client = TsaClient::new(Vec::new(), Duration::from_secs(1));
        assert!(matches!(
            client.timestamp(&[0; 32]),
            Err(TsaError::Unavailable(_))
        ));
        assert!(client.with_policy("not.an.oid").is_err());
    }

    // ---- against the loopback TSA (contrib/tsa, contrib/test-pki, openssl) ----

    fn contrib(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../contrib")
            .join(name)
    }

    /// contrib/test-pki in a temporary directory, and contrib/tsa on a free loopback port;
    /// the TSA gets SIGTERM (then SIGKILL) when this is dropped.
    struct LoopbackTsa {
        child: Child,
        port: u16,
        dir: tempfile::TempDir,
    }

    impl LoopbackTsa {
        fn start() -> LoopbackTsa {
            let dir = tempfile::tempdir().unwrap();
            let pki = Command::new(contrib("test-pki"))
                .arg(dir.path())
                .output()
                .expect("run contrib/test-pki (needs bash and openssl)");
            assert!(
                pki.status.success(),
                "contrib/test-pki failed: {}",
                String::from_utf8_lossy(&pki.stderr)
            );
            let log = std::fs::File::create(dir.path().join("tsa.log")).unwrap();
            let child = Command::new(contrib("tsa"))
                .args(["--port", "0", "--dir"])
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .expect("run contrib/tsa (needs python3)");
            let mut tsa = LoopbackTsa {
                child,
                port: 0,
                dir,
            };
            let stdout = tsa.child.stdout.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send(line);
            });
            let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
            tsa.port = line
                .strip_prefix("READY ")
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or_else(|| panic!("contrib/tsa did not get ready: {line:?}"));
            tsa
        }

        fn url(&self) -> String {
            format!("http://127.0.0.1:{}/tsa", self.port)
        }

        fn ca(&self) -> PathBuf {
            self.dir.path().join("ca.pem")
        }
    }

    impl Drop for LoopbackTsa {
        fn drop(&mut self) {
            let pid = self.child.id() as libc::pid_t;
            // SAFETY: kill(2) on our own child, which has not been reaped: the PID is still ours.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
            if std::thread::panicking() {
                let log = std::fs::read_to_string(self.dir.path().join("tsa.log"));
                eprintln!("contrib/tsa log:\n{}", log.unwrap_or_default());
            }
        }
    }

    /// A port nothing listens on (bound, then released).
    fn closed_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// A bogus "TSA" answering every request with `answer` (a full HTTP response).
    fn fake_server(answer: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                // Read the request head and body (Content-Length) before answering.
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = stream.read(&mut buf).unwrap_or(0);
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + length {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let _ = stream.write_all(&answer);
            }
        });
        format!("http://127.0.0.1:{port}/")
    }

    fn http_answer(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn openssl_verify(token: &[u8], digest: &[u8; 32], ca: &Path) -> std::process::Output {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), token).unwrap();
        Command::new("openssl")
            .args([
                "ts",
                "-verify",
                "-digest",
                &hex::encode(digest),
                "-sha256",
                "-in",
            ])
            .arg(file.path())
            .arg("-token_in")
            .arg("-CAfile")
            .arg(ca)
            .output()
            .expect("run openssl")
    }

    #[test]
    fn loopback_tsa_token_verifies_with_openssl_and_failover_works() {
        let tsa = LoopbackTsa::start();
        let digest: [u8; 32] = Sha256::digest(b"certmail signature value").into();

        // First URL: a closed port; second: the TSA.
        let dead = format!("http://127.0.0.1:{}/tsa", closed_port());
        let client = TsaClient::new(vec![dead, tsa.url()], Duration::from_secs(10));
        let token = client.timestamp(&digest).unwrap();
        let info = tst_info(&token).unwrap();
        assert_eq!(info.imprint, hex::encode(digest));
        assert_eq!(info.imprint_algorithm, ID_SHA_256.to_string());
        assert_eq!(info.policy, "1.2.3.4.1");
        assert_eq!(info.nonce.as_ref().map(|n| n.len() <= 16), Some(true));
        assert!(
            info.gen_time.ends_with('Z') && info.gen_time.len() == 20,
            "{info:?}"
        );
        assert_eq!(
            info.tsa_name.as_deref(),
            Some("CN=certmail sandbox TSA,O=Example Operator,C=ES")
        );

        // An independent verifier accepts the token (signature, ESS cert id, chain, EKU,
        // imprint) against the test CA, and refuses it for another digest.
        let ok = openssl_verify(&token, &digest, &tsa.ca());
        assert!(
            ok.status.success() && String::from_utf8_lossy(&ok.stdout).contains("Verification: OK"),
            "openssl ts -verify: {}{}",
            String::from_utf8_lossy(&ok.stdout),
            String::from_utf8_lossy(&ok.stderr)
        );
        let trust = openssl_verify(&token, &digest, &tsa.dir.path().join("trust.pem"));
        assert!(trust.status.success());
        let other: [u8; 32] = Sha256::digest(b"something else").into();
        assert!(!openssl_verify(&token, &other, &tsa.ca()).status.success());

        // Invalid answers are skipped too: a replayed genuine reply (another digest and
        // nonce), an HTML page, an HTTP error; then the TSA.
        let agent = client.agent();
        let old_nonce = nonce_int(42).unwrap();
        let old_query = build_request(&other, &old_nonce, None).unwrap();
        let old_reply = post(&agent, &tsa.url(), &old_query).unwrap();
        check_reply(&old_reply, &other, &old_nonce, None).unwrap();
        let replay = fake_server(http_answer("200 OK", REPLY_CONTENT_TYPE, &old_reply));
        let html = fake_server(http_answer("200 OK", "text/html", b"<html></html>"));
        let error = fake_server(http_answer("503 Busy", REPLY_CONTENT_TYPE, b""));
        let client = TsaClient::new(
            vec![replay.clone(), html.clone(), error.clone(), tsa.url()],
            Duration::from_secs(10),
        );
        let token = client.timestamp(&digest).unwrap();
        assert_eq!(tst_info(&token).unwrap().imprint, hex::encode(digest));

        // All of them failing: Unavailable, naming every URL and its failure.
        let client = TsaClient::new(
            vec![replay.clone(), html.clone(), error.clone()],
            Duration::from_secs(10),
        );
        match client.timestamp(&digest) {
            Err(TsaError::Unavailable(msg)) => {
                for (url, why) in [(&replay, "imprint"), (&html, "text/html"), (&error, "503")] {
                    assert!(msg.contains(&format!("{url}: ")), "{msg}");
                    assert!(msg.contains(why), "{msg}");
                }
            }
            other => panic!("{other:?}"),
        }

        // Policies: one the TSA offers is honoured, one it does not is refused.
        let client = TsaClient::new(vec![tsa.url()], Duration::from_secs(10))
            .with_policy("1.2.3.4.5")
            .unwrap();
        let token = client.timestamp(&digest).unwrap();
        assert_eq!(tst_info(&token).unwrap().policy, "1.2.3.4.5");
        let client = TsaClient::new(vec![tsa.url()], Duration::from_secs(10))
            .with_policy("1.2.3.4.9")
            .unwrap();
        match client.timestamp(&digest) {
            Err(TsaError::Unavailable(msg)) => {
                assert!(msg.contains("rejection (unacceptedPolicy)"), "{msg}")
            }
            other => panic!("{other:?}"),
        }

        // The TSA itself: only POST application/timestamp-query.
        let get = agent.get(&tsa.url()).call().unwrap();
        assert_eq!(get.status(), 400);
        let wrong = agent
            .post(&tsa.url())
            .header("Content-Type", "application/octet-stream")
            .send(&old_query[..])
            .unwrap();
        assert_eq!(wrong.status(), 400);
    }

    #[test]
    fn loopback_tsa_latency_and_concurrency() {
        let tsa = LoopbackTsa::start();
        let client = TsaClient::new(vec![tsa.url()], Duration::from_secs(10));

        let mut times = Vec::new();
        let mut serials = HashSet::new();
        for i in 0..20u32 {
            let digest: [u8; 32] = Sha256::digest(i.to_be_bytes()).into();
            let started = Instant::now();
            let token = client.timestamp(&digest).unwrap();
            times.push(started.elapsed());
            serials.insert(tst_info(&token).unwrap().serial);
        }
        times.sort();
        let median = (times[9] + times[10]) / 2;
        eprintln!(
            "TSA round trip over 20 requests: median {:.1} ms, min {:.1} ms, max {:.1} ms",
            median.as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times[19].as_secs_f64() * 1e3
        );
        assert!(median < Duration::from_secs(2), "median {median:?}");

        // Concurrent requests: all answered, every serial number distinct.
        let tokens: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8u32)
                .map(|i| {
                    let client = &client;
                    s.spawn(move || {
                        let digest: [u8; 32] = Sha256::digest((100 + i).to_be_bytes()).into();
                        client.timestamp(&digest).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for token in &tokens {
            serials.insert(tst_info(token).unwrap().serial);
        }
        assert_eq!(serials.len(), 28);
    }
}
