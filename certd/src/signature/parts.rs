//! Pieces of a signed certificate for independent checks: the RFC 3161 token and the
//! signature value it timestamps, so that `openssl ts -verify -data` can judge the token.

use super::cades::Cms;
use super::fields::last_signature;
use super::ReadError;

/// `(timestamp token DER, signature value)` of the last signature in `pdf`.
pub fn timestamp_parts(pdf: &[u8]) -> Result<(Vec<u8>, Vec<u8>), ReadError> {
    let located = last_signature(pdf)?;
    let cms = Cms::parse(&located.contents)?;
    let token = cms.timestamp_token()?.ok_or(ReadError::NoTimestamp)?;
    Ok((token, cms.signer.signature.as_bytes().to_vec()))
}
