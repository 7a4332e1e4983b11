//! Reading the evidence file back from a certificate and checking it on its own: canonical
//! form, every record's hash, the chain, and the head the signed revision carries.

use super::{
    code, mapping, readable, EvidenceError, EvidenceFile, FILE_NAME, HEAD_KEYWORD, MAX_FILE,
    VERSION,
};
use crate::evidence::EventData;
use crate::store::{ChainError, GENESIS};
use lopdf::{Dictionary, Document, Object};

/// What a good evidence file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub events: usize,
    pub head: String,
    /// The file and head were read from the revision the first signature covers (`false`: the
    /// PDF is not signed, the whole file was read).
    pub signed: bool,
}

/// Checks the evidence file embedded in `pdf` against the chain head of its signed revision.
/// [`EvidenceError::Absent`] for certificates made before evidence files existed.
pub fn check(pdf: &[u8]) -> Result<Checked, EvidenceError> {
    let (revision, signed) = signed_revision(pdf)?;
    let doc = Document::load_mem(revision)?;
    let file = embedded(&doc)?.ok_or(EvidenceError::Absent)?;
    let head = signed_head(&doc)?.ok_or(EvidenceError::NoSignedHead)?;
    let (events, file_head) = check_file(&file)?;
    if file_head != head {
        return Err(EvidenceError::SignedHead {
            signed: head,
            file: file_head,
        });
    }
    Ok(Checked {
        events,
        head,
        signed,
    })
}

/// `certd verify`'s line: passed or not, and what was found. A certificate made before
/// evidence files were embedded passes with a note: it never had one to check.
pub fn verdict(pdf: &[u8]) -> (bool, String) {
    match check(pdf) {
        Ok(c) => (
            true,
            format!(
                "{} events, chain verifies, head {} as in the {}",
                c.events,
                c.head,
                if c.signed {
                    "signed revision"
                } else {
                    "unsigned file"
                }
            ),
        ),
        Err(EvidenceError::Absent) => (
            true,
            format!("no embedded evidence file (issued before certd embedded {VERSION})"),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// Checks an evidence file alone: RFC 8785 form, version, each record's hash and link, and the
/// head it names. Returns the number of events and the head.
pub fn check_file(bytes: &[u8]) -> Result<(usize, String), EvidenceError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(EvidenceError::NotJson)?;
    // RFC 8785 section 3.2: one serialization per value; anything else was not written by us.
    let canonical = serde_json_canonicalizer::to_vec(&value).map_err(EvidenceError::Write)?;
    if canonical != bytes {
        return Err(EvidenceError::NotCanonical);
    }
    if let Some(v) = value.get("version").and_then(|v| v.as_str()) {
        if v != VERSION {
            return Err(EvidenceError::Version(v.to_string()));
        }
    }
    let file: EvidenceFile = serde_json::from_value(value).map_err(EvidenceError::Shape)?;
    let mut prev = GENESIS.to_string();
    for (i, r) in file.records.iter().enumerate() {
        let e = &r.event;
        let expected = i as i64 + 1;
        if e.seq != expected {
            return Err(ChainError::Gap {
                seq: e.seq,
                expected,
            }
            .into());
        }
        if e.prev_hash != prev {
            return Err(ChainError::Link { seq: e.seq }.into());
        }
        let hash = crate::store::event_hash(
            &e.prev_hash,
            &file.contract_id,
            e.seq,
            &e.at,
            &e.kind,
            &e.data,
        );
        if hash != e.hash {
            return Err(ChainError::Content { seq: e.seq }.into());
        }
        prev = hash;
        // The readable copy and the 319 522 code must say what the hashed text says.
        if r.certmail != readable(&e.data) {
            return Err(EvidenceError::Readable { seq: e.seq });
        }
        let data = EventData::parse(&e.kind, &e.data).unwrap_or_else(|_| EventData::Other {
            kind: e.kind.clone(),
            data: readable(&e.data),
        });
        let (uri, none) = code(mapping(&data));
        if uri.as_ref() != r.etsi.as_ref().map(|v| &v.event_id) || none != r.etsi_none {
            return Err(EvidenceError::Code { seq: e.seq });
        }
    }
    if file.chain.events != file.records.len() {
        return Err(EvidenceError::Count {
            said: file.chain.events,
            held: file.records.len(),
        });
    }
    let last = file
        .records
        .last()
        .map(|r| r.event.hash.clone())
        .unwrap_or_default();
    if file.chain.head != last {
        return Err(EvidenceError::Head {
            file: file.chain.head,
            last,
        });
    }
    Ok((file.records.len(), last))
}

/// The bytes the first signature covers (`/ByteRange` `[0 a b c]` covers `..b+c`), or the
/// whole file when it has no signature. Later revisions (validation data, document
/// time-stamps, or an attacker's) cannot change what is read from there.
fn signed_revision(pdf: &[u8]) -> Result<(&[u8], bool), EvidenceError> {
    let doc = Document::load_mem(pdf)?;
    let end = doc
        .objects
        .values()
        .filter_map(|o| match o {
            Object::Dictionary(d) => byte_range_end(d),
            _ => None,
        })
        .min();
    match end {
        Some(end) if end <= pdf.len() => Ok((&pdf[..end], true)),
        Some(end) => Err(EvidenceError::ByteRange {
            end,
            len: pdf.len(),
        }),
        None => Ok((pdf, false)),
    }
}

fn byte_range_end(d: &Dictionary) -> Option<usize> {
    let range = d.get(b"ByteRange").ok()?.as_array().ok()?;
    let n: Vec<i64> = range.iter().filter_map(|o| o.as_i64().ok()).collect();
    match n[..] {
        [0, _, b, c] if b >= 0 && c >= 0 => usize::try_from(b.checked_add(c)?).ok(),
        _ => None,
    }
}

fn deref<'a>(doc: &'a Document, o: &'a Object) -> Result<&'a Object, EvidenceError> {
    Ok(doc.dereference(o).map(|(_, o)| o)?)
}

/// The file named [`FILE_NAME`] among the catalog's associated files (`/AF`), with
/// relationship `/Data`.
fn embedded(doc: &Document) -> Result<Option<Vec<u8>>, EvidenceError> {
    let catalog = doc.catalog()?;
    let Ok(af) = catalog.get(b"AF") else {
        return Ok(None);
    };
    let Ok(files) = deref(doc, af)?.as_array() else {
        return Ok(None);
    };
    for f in files {
        let Ok(spec) = deref(doc, f)?.as_dict() else {
            continue;
        };
        let named = [b"UF".as_slice(), b"F"].iter().any(|k| {
            spec.get(k)
                .ok()
                .and_then(|n| n.as_str().ok())
                .is_some_and(|n| n == FILE_NAME.as_bytes())
        });
        let data = spec
            .get(b"AFRelationship")
            .ok()
            .and_then(|r| r.as_name().ok())
            .is_some_and(|r| r == b"Data");
        if !(named && data) {
            continue;
        }
        let ef = spec
            .get(b"EF")
            .map_err(|_| EvidenceError::FileSpec("/EF"))?;
        let ef = deref(doc, ef)?.as_dict()?;
        let stream = ef
            .get(b"F")
            .or_else(|_| ef.get(b"UF"))
            .map_err(|_| EvidenceError::FileSpec("/EF /F stream"))?;
        let stream = deref(doc, stream)?.as_stream()?;
        return Ok(Some(stream.decompressed_content_with_limit(MAX_FILE)?));
    }
    Ok(None)
}

/// The chain head in the document information's `/Keywords`, if there is one.
fn signed_head(doc: &Document) -> Result<Option<String>, EvidenceError> {
    let Ok(info) = doc.trailer.get(b"Info") else {
        return Ok(None);
    };
    let Ok(info) = deref(doc, info)?.as_dict() else {
        return Ok(None);
    };
    let Some(keywords) = info.get(b"Keywords").ok().and_then(|k| k.as_str().ok()) else {
        return Ok(None);
    };
    Ok(text_string(keywords)
        .split(',')
        .find_map(|k| k.trim().strip_prefix(HEAD_KEYWORD))
        .map(str::to_string))
}

/// A PDF text string: UTF-16BE with its BOM, else PDFDocEncoding, which is ASCII where a
/// hex head and the keyword are concerned.
fn text_string(b: &[u8]) -> String {
    match b.strip_prefix(&[0xfe, 0xff]) {
        Some(utf16) => {
            let units: Vec<u16> = utf16
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        None => b.iter().map(|&c| char::from(c)).collect(),
    }
}
