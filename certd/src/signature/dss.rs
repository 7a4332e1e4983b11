//! Reading the Document Security Store (`/DSS` in the catalog, ISO 32000-2 section 12.8.4.3;
//! ETSI EN 319 142-1 section 5.4.2): the certificates, OCSP responses and CRLs a file carries
//! for offline validation, and the per-signature `/VRI` dictionaries (keyed by the uppercase
//! hex SHA-1 of a signature's `/Contents`).

use lopdf::{Dictionary, Document, Object};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

/// At most this many streams are read from one `/DSS`, and each inflates to at most
/// `MAX_STREAM` bytes: a hostile file must not make `certd verify` allocate without bound.
const MAX_ITEMS: usize = 4096;
const MAX_STREAM: usize = 1 << 20;

/// The DER items of a `/DSS`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Dss {
    pub certs: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
    /// `/VRI` entries by key (uppercase hex SHA-1 of a signature's `/Contents`).
    pub vri: BTreeMap<String, Vri>,
}

/// One `/VRI` entry: the validation data one signature needs, and optionally when it was
/// gathered (`/TU`, a PDF date string).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Vri {
    pub certs: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
    pub tu: Option<String>,
}

/// Why a `/DSS` cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DssError {
    #[error("/DSS is not a dictionary")]
    NotDictionary,
    #[error("/DSS /{0} is not an array of streams")]
    NotArray(&'static str),
    #[error("/DSS /{key} item {index} is not a readable stream: {why}")]
    BadStream {
        key: &'static str,
        index: usize,
        why: String,
    },
    #[error("/DSS holds more than {MAX_ITEMS} items")]
    TooMany,
}

/// The `/VRI` key of a signature whose `/Contents` string holds `contents` (ETSI EN 319 142-1
/// section 5.4.2.2: the SHA-1 of the bytes of the string, placeholder zeros included).
pub(crate) fn vri_key(contents: &[u8]) -> String {
    hex::encode_upper(Sha1::digest(contents))
}

impl Dss {
    /// Reads the catalog's `/DSS`; `Ok(None)` if there is none.
    pub(crate) fn read(doc: &Document) -> Result<Option<Dss>, DssError> {
        let Ok(catalog) = doc.catalog() else {
            return Ok(None);
        };
        let Ok(dss) = catalog.get(b"DSS") else {
            return Ok(None);
        };
        let dss = deref(doc, dss)
            .as_dict()
            .map_err(|_| DssError::NotDictionary)?;
        let mut budget = MAX_ITEMS;
        let mut out = Dss {
            certs: streams(doc, dss, "Certs", &mut budget)?,
            ocsps: streams(doc, dss, "OCSPs", &mut budget)?,
            crls: streams(doc, dss, "CRLs", &mut budget)?,
            vri: BTreeMap::new(),
        };
        if let Ok(vri) = dss.get(b"VRI").map(|o| deref(doc, o)) {
            let vri = vri.as_dict().map_err(|_| DssError::NotArray("VRI"))?;
            for (key, entry) in vri.iter() {
                let Ok(entry) = deref(doc, entry).as_dict() else {
                    continue;
                };
                let tu = entry
                    .get(b"TU")
                    .ok()
                    .and_then(|o| deref(doc, o).as_str().ok())
                    .map(|s| String::from_utf8_lossy(s).into_owned());
                out.vri.insert(
                    String::from_utf8_lossy(key).to_ascii_uppercase(),
                    Vri {
                        certs: streams(doc, entry, "Cert", &mut budget)?,
                        ocsps: streams(doc, entry, "OCSP", &mut budget)?,
                        crls: streams(doc, entry, "CRL", &mut budget)?,
                        tu,
                    },
                );
            }
        }
        Ok(Some(out))
    }

    /// "5 certificates, 2 OCSP responses, 1 CRL, 2 /VRI entries".
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} certificate(s), {} OCSP response(s), {} CRL(s), {} /VRI entr{}",
            self.certs.len(),
            self.ocsps.len(),
            self.crls.len(),
            self.vri.len(),
            if self.vri.len() == 1 { "y" } else { "ies" }
        )
    }
}

/// Follows a reference (one level: the DSS holds references to streams and dictionaries).
fn deref<'a>(doc: &'a Document, o: &'a Object) -> &'a Object {
    match o {
        Object::Reference(id) => doc.get_object(*id).unwrap_or(o),
        _ => o,
    }
}

/// The decoded contents of the streams in array `key` of `dict` (absent key: empty).
fn streams(
    doc: &Document,
    dict: &Dictionary,
    key: &'static str,
    budget: &mut usize,
) -> Result<Vec<Vec<u8>>, DssError> {
    let Ok(value) = dict.get(key.as_bytes()) else {
        return Ok(Vec::new());
    };
    let items = deref(doc, value)
        .as_array()
        .map_err(|_| DssError::NotArray(key))?;
    let mut out = Vec::with_capacity(items.len().min(64));
    for (index, item) in items.iter().enumerate() {
        *budget = budget.checked_sub(1).ok_or(DssError::TooMany)?;
        let bad = |why: String| DssError::BadStream { key, index, why };
        let stream = deref(doc, item)
            .as_stream()
            .map_err(|e| bad(e.to_string()))?;
        out.push(
            stream
                .decompressed_content_with_limit(MAX_STREAM)
                .map_err(|e| bad(e.to_string()))?,
        );
    }
    Ok(out)
}
