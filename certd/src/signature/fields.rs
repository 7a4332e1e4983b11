//! The signature fields of a PDF: every signature and document time-stamp with its signed byte
//! range, found once for signing (the newest time-stamp, to renew) and for verifying.

use super::pdf::load;
use super::ReadError;
use lopdf::{Document, Object, ObjectId};

/// What a signature dictionary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigKind {
    /// `/SubFilter /ETSI.CAdES.detached` (or another subfilter, which the CAdES checks refuse).
    Signature,
    /// `/Type /DocTimeStamp /SubFilter /ETSI.RFC3161` (ISO 32000-2 section 12.8.5).
    DocTimeStamp,
}

/// One signature field with a value, as found in the whole file.
#[derive(Debug, Clone)]
pub(crate) struct Sig {
    pub kind: SigKind,
    pub field_id: Option<ObjectId>,
    pub value_id: Option<ObjectId>,
    pub field_name: Option<String>,
    pub byte_range: Vec<i64>,
    /// The `/Contents` string's bytes (CMS or time-stamp token, then placeholder zeros).
    pub contents: Vec<u8>,
    pub sub_filter: Option<String>,
    pub m: Option<String>,
}

impl Sig {
    /// `b + c` of `[0 a b c]`: where the signed revision ends (None if malformed).
    pub(crate) fn end(&self) -> Option<usize> {
        match self.byte_range.as_slice() {
            [_, _, b, c] => usize::try_from(b.checked_add(*c)?).ok(),
            _ => None,
        }
    }
}

/// Why the signatures of a file cannot be listed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RevisionError {
    #[error("no catalog: {0}")]
    NoCatalog(lopdf::Error),
    #[error("no signed signature field in the document")]
    NoSignature,
    #[error("too many form fields")]
    TooManyFields,
}

pub(crate) fn name(o: &Object) -> Option<String> {
    o.as_name()
        .ok()
        .map(|n| String::from_utf8_lossy(n).into_owned())
}

fn text(o: &Object) -> Option<String> {
    o.as_str()
        .ok()
        .map(|s| String::from_utf8_lossy(s).into_owned())
}

/// Every signature field of `doc` (through `/AcroForm /Fields` and `/Kids`) that has a
/// signature dictionary with a `/ByteRange` and `/Contents`, ordered by where its signed
/// revision ends.
pub(crate) fn signatures(doc: &Document) -> Result<Vec<Sig>, RevisionError> {
    let catalog = doc.catalog().map_err(RevisionError::NoCatalog)?;
    let fields = catalog
        .get(b"AcroForm")
        .and_then(|o| doc.dereference(o))
        .and_then(|(_, o)| o.as_dict())
        .and_then(|a| a.get(b"Fields"))
        .and_then(|o| doc.dereference(o))
        .and_then(|(_, o)| o.as_array())
        .map_err(|_| RevisionError::NoSignature)?;
    let mut stack: Vec<(&Object, bool)> = fields.iter().map(|f| (f, false)).collect();
    let mut seen = 0;
    let mut out = Vec::new();
    while let Some((field, inherited_sig)) = stack.pop() {
        seen += 1;
        if seen > 10_000 {
            return Err(RevisionError::TooManyFields);
        }
        let Ok((field_id, Object::Dictionary(d))) = doc.dereference(field) else {
            continue;
        };
        let is_sig = match d.get(b"FT") {
            Ok(Object::Name(n)) => n == b"Sig",
            _ => inherited_sig,
        };
        if let Ok(kids) = d
            .get(b"Kids")
            .and_then(|o| doc.dereference(o))
            .and_then(|(_, o)| o.as_array())
        {
            stack.extend(kids.iter().map(|k| (k, is_sig)));
        }
        if !is_sig {
            continue;
        }
        let Ok((value_id, Object::Dictionary(v))) = d.get(b"V").and_then(|o| doc.dereference(o))
        else {
            continue;
        };
        let Ok(range) = v
            .get(b"ByteRange")
            .and_then(|o| doc.dereference(o))
            .and_then(|(_, o)| o.as_array())
        else {
            continue;
        };
        let Ok(contents) = v.get(b"Contents").and_then(Object::as_str) else {
            continue;
        };
        let sub_filter = v.get(b"SubFilter").ok().and_then(name);
        let is_doc_ts = v.get(b"Type").ok().and_then(name).as_deref() == Some("DocTimeStamp")
            || sub_filter.as_deref() == Some("ETSI.RFC3161");
        out.push(Sig {
            kind: if is_doc_ts {
                SigKind::DocTimeStamp
            } else {
                SigKind::Signature
            },
            field_id,
            value_id,
            field_name: d.get(b"T").ok().and_then(text),
            byte_range: range.iter().filter_map(|o| o.as_i64().ok()).collect(),
            contents: contents.to_vec(),
            sub_filter,
            m: v.get(b"M").ok().and_then(text),
        });
    }
    if out.is_empty() {
        return Err(RevisionError::NoSignature);
    }
    out.sort_by_key(|s| s.end());
    Ok(out)
}

/// The operator's signature (not a document time-stamp) whose `/ByteRange` reaches furthest
/// into the file.
pub(crate) fn last_signature(pdf: &[u8]) -> Result<Sig, ReadError> {
    all(pdf)?
        .into_iter()
        .rev()
        .find(|s| s.kind == SigKind::Signature)
        .ok_or(ReadError::NoSignature)
}

/// Every signature and document time-stamp of `pdf`, in the order of the revisions they sign.
pub(crate) fn all(pdf: &[u8]) -> Result<Vec<Sig>, ReadError> {
    let doc = load(pdf).map_err(ReadError::Pdf)?;
    signatures(&doc).map_err(|e| match e {
        RevisionError::NoCatalog(e) => ReadError::NoCatalog(e),
        RevisionError::NoSignature => ReadError::NoSignature,
        RevisionError::TooManyFields => ReadError::TooManyFields,
    })
}
