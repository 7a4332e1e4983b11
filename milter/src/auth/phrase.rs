//! How authentication results read: short lower-case phrases for mail-auth's errors, and the
//! one-line form every reason takes, since reasons end up in SMTP replies and recorded evidence.

use super::domain::normalize_domain;
use mail_auth::common::crypto::CryptoError;
use mail_auth::dkim::{DkimError, Signature};
use mail_auth::{DkimResult, DnsError, Error as AuthError};

/// Reason sentences end up in SMTP replies; keep them well inside a reply line.
const MAX_REASON_LEN: usize = 299;

/// The error a DKIM result carries, if any.
pub(super) fn result_error(result: &DkimResult) -> Option<&AuthError> {
    match result {
        DkimResult::Neutral(err)
        | DkimResult::Fail(err)
        | DkimResult::PermError(err)
        | DkimResult::TempError(err) => Some(err),
        DkimResult::Pass | DkimResult::None => None,
    }
}

/// A short lower-case phrase for a mail-auth error, for use inside a reason sentence.
pub(super) fn describe_error(err: &AuthError, signature: Option<&Signature>) -> String {
    let key_name = signature
        .map(|s| format!(" at {}._domainkey.{}", s.s, normalize_domain(&s.d)))
        .unwrap_or_default();
    match err {
        AuthError::Dkim(DkimError::FailedBodyHashMatch) => "body hash mismatch".into(),
        AuthError::Dkim(DkimError::SignatureExpired) => "the signature has expired".into(),
        AuthError::Dkim(DkimError::FailedAuidMatch) => {
            "the i= identity is not within the d= domain".into()
        }
        AuthError::Dkim(DkimError::RevokedPublicKey) => {
            format!("the public key{key_name} has been revoked")
        }
        AuthError::Dkim(DkimError::SignatureLength) => {
            "signatures with an l= body length tag are not accepted".into()
        }
        AuthError::Dkim(DkimError::UnsupportedVersion) => "unsupported DKIM version".into(),
        AuthError::Dkim(DkimError::UnsupportedAlgorithm) => "unsupported signing algorithm".into(),
        AuthError::Dkim(DkimError::UnsupportedCanonicalization) => {
            "unsupported canonicalization".into()
        }
        AuthError::Dkim(DkimError::UnsupportedKeyType) => {
            format!("unsupported key type in the DNS record{key_name}")
        }
        // ring reports a signature that does not verify as an opaque library error.
        AuthError::Crypto(CryptoError::FailedVerification | CryptoError::Library(_)) => {
            format!("the header signature does not match the public key{key_name}")
        }
        AuthError::Crypto(CryptoError::IncompatibleAlgorithms) => {
            format!("the signature algorithm does not match the key type{key_name}")
        }
        AuthError::Dns(DnsError::RecordNotFound(code)) => {
            format!("no DKIM key record found{key_name} ({code})")
        }
        AuthError::Dns(DnsError::InvalidRecordType) | AuthError::ParseError => {
            format!("invalid DKIM key record{key_name}")
        }
        AuthError::Dns(DnsError::Resolver(msg)) => format!("DNS error: {msg}"),
        AuthError::Base64 => "invalid base64 data".into(),
        other => other.to_string(),
    }
}

/// Makes `text` safe for an SMTP reply line: printable ASCII only (CR/LF and other controls
/// become spaces, anything else `?`; parts of it come from the message), runs of spaces
/// collapsed, at most [`MAX_REASON_LEN`] characters.
pub(super) fn one_line(text: String) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_REASON_LEN));
    for c in text.chars() {
        let c = match c {
            ' '..='~' => c,
            c if c.is_control() || c.is_whitespace() => ' ',
            _ => '?',
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if out.len() >= MAX_REASON_LEN {
            break;
        }
        out.push(c);
    }
    out.truncate(out.trim_end().len());
    out
}
