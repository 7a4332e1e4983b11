//! Signature checks shared by path building, CMS and revocation data: ECDSA P-256 and RSA
//! PKCS#1 v1.5 with SHA-2, the only algorithms certmail signs and accepts.

use super::super::cades::{self, oid};
use der::oid::ObjectIdentifier as Oid;
use der::Encode;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;

/// Why a signature does not verify.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CryptoError {
    #[error("{0}")]
    Der(#[from] der::Error),
    #[error("hash algorithm {0} is not supported")]
    HashAlgorithm(Oid),
    #[error("signature algorithm {0} needs a digest algorithm")]
    NeedsDigest(Oid),
    #[error("signature algorithm {0} is not supported")]
    SignatureAlgorithm(Oid),
    #[error("only EC keys on P-256 are supported")]
    Curve,
    #[error("an RSA signature algorithm with an EC key")]
    RsaWithEc,
    #[error("{0}")]
    PublicKey(spki::Error),
    #[error("bad ECDSA signature: {0}")]
    BadEcdsa(::signature::Error),
    #[error("the ECDSA signature does not verify")]
    EcdsaMismatch,
    #[error("an ECDSA signature algorithm with an RSA key")]
    EcdsaWithRsa,
    #[error("the RSA signature does not verify")]
    RsaMismatch,
    #[error("public key algorithm {0} is not supported")]
    KeyAlgorithm(Oid),
}

pub(crate) fn hash_name(alg: &der::oid::ObjectIdentifier) -> &'static str {
    match *alg {
        oid::SHA256 => "SHA-256",
        oid::SHA384 => "SHA-384",
        oid::SHA512 => "SHA-512",
        _ => "hash",
    }
}

/// Verifies `cert`'s signature with `issuer`'s key.
pub(crate) fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
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

/// Verifies `signature` over `message` with `spki`. `sig_alg` may be a combined algorithm
/// (`ecdsa-with-SHA256`, `sha256WithRSAEncryption`, ...) or, in CMS, plain `rsaEncryption` /
/// `id-ecPublicKey` with the hash taken from `digest_alg`. Returns a name for the algorithm.
pub(crate) fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    sig_alg: &AlgorithmIdentifierOwned,
    digest_alg: Option<&AlgorithmIdentifierOwned>,
    message: &[u8],
    signature: &[u8],
) -> Result<String, CryptoError> {
    let hash = match sig_alg.oid {
        oid::ECDSA_SHA256 | oid::RSA_SHA256 => oid::SHA256,
        oid::ECDSA_SHA384 | oid::RSA_SHA384 => oid::SHA384,
        oid::ECDSA_SHA512 | oid::RSA_SHA512 => oid::SHA512,
        oid::RSA_ENCRYPTION | oid::EC_PUBLIC_KEY => digest_alg
            .map(|d| d.oid)
            .ok_or(CryptoError::NeedsDigest(sig_alg.oid))?,
        other => return Err(CryptoError::SignatureAlgorithm(other)),
    };
    let digest = cades::digest(&hash, &[message]).ok_or(CryptoError::HashAlgorithm(hash))?;
    let spki_der = spki.to_der()?;
    match spki.algorithm.oid {
        oid::EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<Oid>().ok());
            if curve != Some(oid::SECP256R1) {
                return Err(CryptoError::Curve);
            }
            if matches!(
                sig_alg.oid,
                oid::RSA_SHA256 | oid::RSA_SHA384 | oid::RSA_SHA512 | oid::RSA_ENCRYPTION
            ) {
                return Err(CryptoError::RsaWithEc);
            }
            use p256::pkcs8::DecodePublicKey;
            use signature::hazmat::PrehashVerifier;
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki_der)
                .map_err(CryptoError::PublicKey)?;
            let sig = p256::ecdsa::Signature::from_der(signature).map_err(CryptoError::BadEcdsa)?;
            key.verify_prehash(&digest, &sig)
                .map_err(|_| CryptoError::EcdsaMismatch)?;
            Ok(format!("ECDSA P-256 / {}", hash_name(&hash)))
        }
        oid::RSA_ENCRYPTION => {
            if matches!(
                sig_alg.oid,
                oid::ECDSA_SHA256 | oid::ECDSA_SHA384 | oid::ECDSA_SHA512 | oid::EC_PUBLIC_KEY
            ) {
                return Err(CryptoError::EcdsaWithRsa);
            }
            use rsa::pkcs8::DecodePublicKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPublicKey::from_public_key_der(&spki_der)
                .map_err(CryptoError::PublicKey)?;
            let scheme = match hash {
                oid::SHA256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                oid::SHA384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                _ => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            };
            key.verify(scheme, &digest, signature)
                .map_err(|_| CryptoError::RsaMismatch)?;
            Ok(format!(
                "RSA-{} PKCS#1 v1.5 / {}",
                key.n().bits(),
                hash_name(&hash)
            ))
        }
        other => Err(CryptoError::KeyAlgorithm(other)),
    }
}
