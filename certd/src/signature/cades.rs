//! CMS / CAdES pieces: building the detached `SignedData` (RFC 5652) with the attributes that
//! ETSI EN 319 142-1 (PAdES baseline) asks for, ESS signing-certificate-v2 (RFC 5035) and the
//! RFC 3161 signature time-stamp, and parsing them back for verification.

use super::ReadError;
use crate::error::Error;
use crate::timestamp::{GenTime, Timestamper, Token};
use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::ContentInfo;
use cms::signed_data::{
    EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Reader, Sequence};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding};
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

/// The object identifiers used here.
pub(crate) mod oid {
    use der::oid::ObjectIdentifier as Oid;
    /// id-data (RFC 5652 section 4).
    pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
    /// id-signedData (RFC 5652 section 5.1).
    pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    /// id-ct-TSTInfo (RFC 3161 section 2.4.2).
    pub const TST_INFO: Oid = crate::timestamp::ID_CT_TST_INFO;
    /// id-contentType (RFC 5652 section 11.1).
    pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
    /// id-messageDigest (RFC 5652 section 11.2).
    pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
    /// id-signingTime (RFC 5652 section 11.3): must be absent in PAdES.
    pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
    /// id-aa-signingCertificate (RFC 2634, ESS v1, SHA-1).
    pub const SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
    /// id-aa-signingCertificateV2 (RFC 5035 section 3).
    pub const SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
    /// id-aa-signatureTimeStampToken (RFC 3161 appendix A).
    pub const SIGNATURE_TIME_STAMP: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.14");
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub const RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub const RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    /// id-kp-timeStamping (RFC 3161 section 2.3).
    pub const KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
}

/// `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies SEQUENCE OF
/// PolicyInformation OPTIONAL }` (RFC 5035 section 3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub policies: Option<Vec<x509_cert::ext::pkix::certpolicy::PolicyInformation>>,
}

/// `ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT {algorithm
/// id-sha256}, certHash OCTET STRING, issuerSerial IssuerSerial OPTIONAL }` (RFC 5035).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct EssCertIdV2 {
    /// `None` is the DEFAULT, SHA-256 (which DER must omit).
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct IssuerSerial {
    pub issuer: GeneralNames,
    pub serial_number: SerialNumber,
}

/// SHA-256 with absent parameters (RFC 5754 section 2).
pub(crate) fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid::SHA256,
        parameters: None,
    }
}

/// Hashes `data` with the digest algorithm `alg`; `None` for an algorithm we do not know.
pub(crate) fn digest(alg: &der::oid::ObjectIdentifier, data: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<D: Digest>(data: &[&[u8]]) -> Vec<u8> {
        let mut h = D::new();
        for d in data {
            h.update(d);
        }
        h.finalize().to_vec()
    }
    match *alg {
        oid::SHA256 => Some(run::<Sha256>(data)),
        oid::SHA384 => Some(run::<sha2::Sha384>(data)),
        oid::SHA512 => Some(run::<sha2::Sha512>(data)),
        _ => None,
    }
}

fn der_err(what: &str) -> impl Fn(der::Error) -> Error + '_ {
    move |e| Error::Invalid(format!("{what}: {e}"))
}

/// An RSA PKCS#1 v1.5 / SHA-256 key that signs with blinding (`rsa` without an RNG does not
/// blind, see RUSTSEC-2023-0071).
pub(crate) struct BlindedRsa {
    key: rsa::pkcs1v15::SigningKey<Sha256>,
    public: rsa::RsaPublicKey,
}

impl BlindedRsa {
    pub(crate) fn new(key: rsa::RsaPrivateKey) -> Result<Self, Error> {
        use rsa::traits::PublicKeyParts;
        let public = key.to_public_key();
        if public.n().bits() < 2048 {
            return Err(Error::Config(format!(
                "RSA signing key has {} bits; at least 2048 are required",
                public.n().bits()
            )));
        }
        Ok(BlindedRsa {
            key: rsa::pkcs1v15::SigningKey::new(key),
            public,
        })
    }

    pub(crate) fn public_key(&self) -> &rsa::RsaPublicKey {
        &self.public
    }

    pub(crate) fn bits(&self) -> usize {
        use rsa::traits::PublicKeyParts;
        self.public.n().bits()
    }
}

impl ::signature::Keypair for BlindedRsa {
    type VerifyingKey = rsa::pkcs1v15::VerifyingKey<Sha256>;
    fn verifying_key(&self) -> Self::VerifyingKey {
        self.key.verifying_key()
    }
}

impl spki::SignatureAlgorithmIdentifier for BlindedRsa {
    type Params = der::AnyRef<'static>;
    const SIGNATURE_ALGORITHM_IDENTIFIER: spki::AlgorithmIdentifier<Self::Params> =
        <rsa::pkcs1v15::SigningKey<Sha256> as spki::SignatureAlgorithmIdentifier>::SIGNATURE_ALGORITHM_IDENTIFIER;
}

impl ::signature::Signer<rsa::pkcs1v15::Signature> for BlindedRsa {
    fn try_sign(&self, msg: &[u8]) -> Result<rsa::pkcs1v15::Signature, ::signature::Error> {
        use ::signature::RandomizedSigner;
        self.key.try_sign_with_rng(&mut rsa::rand_core::OsRng, msg)
    }
}

/// The ESS signing-certificate-v2 attribute naming `cert` by SHA-256 hash and issuer/serial
/// (RFC 5035; ETSI EN 319 122-1 section 5.2.2.3 via EN 319 142-1).
pub(crate) fn signing_certificate_v2(cert: &Certificate) -> Result<Attribute, Error> {
    let cert_der = cert.to_der().map_err(der_err("signer certificate"))?;
    let value = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(Sha256::digest(&cert_der).to_vec())
                .map_err(der_err("certHash"))?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(
                    cert.tbs_certificate.issuer.clone(),
                )],
                serial_number: cert.tbs_certificate.serial_number.clone(),
            }),
        }],
        policies: None,
    };
    attribute(
        oid::SIGNING_CERTIFICATE_V2,
        Any::encode_from(&value).map_err(der_err("ESS"))?,
    )
}

fn attribute(oid: der::oid::ObjectIdentifier, value: Any) -> Result<Attribute, Error> {
    let values = SetOfVec::try_from(vec![value]).map_err(der_err("attribute"))?;
    Ok(Attribute { oid, values })
}

/// Builds a detached CMS `SignedData` (RFC 5652 section 5) over content whose SHA-256 is
/// `digest`: eContentType id-data without eContent, signed attributes content-type and
/// message-digest (added by the `cms` builder) and signing-certificate-v2, no signing-time
/// (ETSI EN 319 142-1 section 6.3: the claimed time is the dictionary's `/M`), all of `chain`
/// as certificates. Returns the DER `ContentInfo`.
pub(crate) fn build_signed_data<S, Sig>(
    key: &S,
    chain: &[Certificate],
    digest: &[u8; 32],
) -> Result<Vec<u8>, Error>
where
    S: ::signature::Keypair + DynSignatureAlgorithmIdentifier + ::signature::Signer<Sig>,
    Sig: SignatureBitStringEncoding,
{
    let cms_err = |e: cms::builder::Error| Error::Invalid(format!("building CMS: {e}"));
    let leaf = chain
        .first()
        .ok_or_else(|| Error::Config("empty certificate chain".into()))?;
    let content = EncapsulatedContentInfo {
        econtent_type: oid::DATA,
        econtent: None,
    };
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: leaf.tbs_certificate.issuer.clone(),
        serial_number: leaf.tbs_certificate.serial_number.clone(),
    });
    let mut signer_info =
        SignerInfoBuilder::new(key, sid, sha256_algorithm(), &content, Some(digest))
            .map_err(cms_err)?;
    // Content-type and message-digest are added by the builder itself; adding content-type
    // here as well makes cms 0.2.3 fail.
    signer_info
        .add_signed_attribute(signing_certificate_v2(leaf)?)
        .map_err(cms_err)?;
    let mut builder = SignedDataBuilder::new(&content);
    builder
        .add_digest_algorithm(sha256_algorithm())
        .map_err(cms_err)?;
    for cert in chain {
        builder
            .add_certificate(CertificateChoices::Certificate(cert.clone()))
            .map_err(cms_err)?;
    }
    builder
        .add_signer_info::<S, Sig>(signer_info)
        .map_err(cms_err)?;
    builder
        .build()
        .map_err(cms_err)?
        .to_der()
        .map_err(der_err("encoding CMS"))
}

/// Time-stamps the SHA-256 of the (only) SignerInfo's signature value through `tsa` and adds
/// the token as the unsigned attribute id-aa-signatureTimeStampToken (RFC 3161 appendix A;
/// PAdES B-T, ETSI EN 319 142-1 section 6.3). The `cms` 0.2 builder has no hook for this, so
/// the built `ContentInfo` is decoded, amended and re-encoded.
pub(crate) fn add_signature_timestamp(
    content_info: &[u8],
    tsa: &dyn Timestamper,
) -> Result<Vec<u8>, Error> {
    let mut ci = ContentInfo::from_der(content_info).map_err(der_err("built CMS"))?;
    let mut sd: SignedData = ci
        .content
        .decode_as()
        .map_err(der_err("built SignedData"))?;
    let mut infos: Vec<SignerInfo> = sd.signer_infos.0.into_vec();
    let [info] = infos.as_mut_slice() else {
        return Err(Error::Invalid(
            "built SignedData has not exactly one signer".into(),
        ));
    };
    let imprint: [u8; 32] = Sha256::digest(info.signature.as_bytes()).into();
    let token = tsa
        .timestamp(&imprint)
        .map_err(|e| Error::Io(std::io::Error::other(format!("time-stamp: {e}"))))?;
    // Never embed what the TSA client did not check: the token must be for our imprint.
    let parsed = Token::parse(&token).map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "time-stamp token unusable: {e}"
        )))
    })?;
    if parsed.tst.message_imprint.hash_algorithm.oid != oid::SHA256
        || parsed.tst.message_imprint.hashed_message.as_bytes() != imprint
    {
        return Err(Error::Io(std::io::Error::other(
            "time-stamp token is for another message imprint",
        )));
    }
    let value = Any::from_der(&token).map_err(der_err("time-stamp token"))?;
    let mut unsigned: Vec<Attribute> = info
        .unsigned_attrs
        .take()
        .map(|a| a.into_vec())
        .unwrap_or_default();
    unsigned.retain(|a| a.oid != oid::SIGNATURE_TIME_STAMP);
    unsigned.push(attribute(oid::SIGNATURE_TIME_STAMP, value)?);
    info.unsigned_attrs =
        Some(SetOfVec::try_from(unsigned).map_err(der_err("unsigned attributes"))?);
    sd.signer_infos = SignerInfos::try_from(infos).map_err(der_err("signer infos"))?;
    ci.content = Any::encode_from(&sd).map_err(der_err("SignedData"))?;
    ci.to_der().map_err(der_err("ContentInfo"))
}

/// A parsed CMS `SignedData` with exactly one signer.
pub(crate) struct Cms {
    pub sd: SignedData,
    pub signer: SignerInfo,
    pub certs: Vec<Certificate>,
}

impl Cms {
    /// Parses a DER `ContentInfo`; trailing zero bytes (the rest of a PDF `/Contents`
    /// placeholder) are allowed, anything else after it is not.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Cms, ReadError> {
        let mut reader = der::SliceReader::new(bytes).map_err(ReadError::Der)?;
        let ci = ContentInfo::decode(&mut reader).map_err(ReadError::NotContentInfo)?;
        let used: usize = reader
            .position()
            .try_into()
            .map_err(|_| ReadError::LengthOverflow)?;
        if bytes[used..].iter().any(|b| *b != 0) {
            return Err(ReadError::TrailingData);
        }
        Self::from_content_info(ci)
    }

    pub(crate) fn from_content_info(ci: ContentInfo) -> Result<Cms, ReadError> {
        if ci.content_type != oid::SIGNED_DATA {
            return Err(ReadError::NotSignedData(ci.content_type));
        }
        let sd: SignedData = ci.content.decode_as().map_err(ReadError::BadSignedData)?;
        let infos = sd.signer_infos.0.as_slice();
        let [signer] = infos else {
            return Err(ReadError::SignerCount(infos.len()));
        };
        let signer = signer.clone();
        let certs = sd
            .certificates
            .as_ref()
            .map(|set| {
                set.0
                    .iter()
                    .filter_map(|c| match c {
                        CertificateChoices::Certificate(c) => Some(c.clone()),
                        CertificateChoices::Other(_) => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Cms { sd, signer, certs })
    }

    /// The certificate that `sid` names, among the embedded ones.
    pub(crate) fn signer_cert(&self) -> Option<&Certificate> {
        find_cert(&self.certs, &self.signer.sid)
    }

    /// The values of signed attribute `oid`.
    pub(crate) fn signed_attr(&self, oid: der::oid::ObjectIdentifier) -> Vec<&Any> {
        attr_values(self.signer.signed_attrs.as_ref(), oid)
    }

    /// The DER of the signature time-stamp token (`None` if absent; error if several).
    pub(crate) fn timestamp_token(&self) -> Result<Option<Vec<u8>>, ReadError> {
        let values = attr_values(
            self.signer.unsigned_attrs.as_ref(),
            oid::SIGNATURE_TIME_STAMP,
        );
        match values.as_slice() {
            [] => Ok(None),
            [one] => one.to_der().map(Some).map_err(ReadError::Der),
            more => Err(ReadError::TimestampCount(more.len())),
        }
    }
}

fn attr_values(attrs: Option<&SetOfVec<Attribute>>, oid: der::oid::ObjectIdentifier) -> Vec<&Any> {
    attrs
        .map(|a| {
            a.iter()
                .filter(|a| a.oid == oid)
                .flat_map(|a| a.values.iter())
                .collect()
        })
        .unwrap_or_default()
}

/// The certificate in `certs` that a `SignerIdentifier` names.
pub(crate) fn find_cert<'a>(
    certs: &'a [Certificate],
    sid: &SignerIdentifier,
) -> Option<&'a Certificate> {
    certs.iter().find(|c| match sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            c.tbs_certificate.issuer == is.issuer
                && c.tbs_certificate.serial_number == is.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => c
            .tbs_certificate
            .get::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own == *ski),
    })
}

/// A time-stamp token read with [`Token`], with its CMS decoded as well to check the TSA's
/// signature.
pub(crate) struct SignedToken {
    pub token: Token,
    pub cms: Cms,
    pub gen_time: GenTime,
}

impl SignedToken {
    pub(crate) fn parse(der: &[u8]) -> Result<SignedToken, ReadError> {
        let token = Token::parse(der)?;
        let gen_time = token.gen_time()?;
        let cms = Cms::from_content_info(token.content_info.clone())?;
        Ok(SignedToken {
            token,
            cms,
            gen_time,
        })
    }

    pub(crate) fn signer_cert(&self) -> Option<&Certificate> {
        self.cms.signer_cert()
    }
}
