//! The PDF side of signing: an incremental update (ISO 32000-1 section 7.5.6) that adds an
//! invisible signature field and a signature dictionary with a fixed-width `/ByteRange` and a
//! hex `/Contents` placeholder (ISO 32000-1 section 12.8.1; ETSI EN 319 142-1 section 5.3), and
//! finding the last signature again for verification.
//!
//! lopdf reads the original; the update is written by hand so that the byte offsets of the
//! placeholders are known. Dictionaries copied from the original are lopdf `Dictionary` values
//! (keys unique by construction: pyHanko rejects duplicate keys).

use super::ReadError;
use crate::error::Error;
use lopdf::{Dictionary, Object, ObjectId, StringFormat};
use std::io::Write;
use std::ops::Range;

/// Width of each number in the `/ByteRange` placeholder: enough for files up to 10 GB.
const NUMBER_WIDTH: usize = 10;

/// A PDF with the signature update appended and its placeholders still empty.
pub(crate) struct Prepared {
    pub bytes: Vec<u8>,
    /// Offset of the `[` of the `/ByteRange` array.
    byte_range_at: usize,
    /// Length of the `/ByteRange` array placeholder, brackets included.
    byte_range_len: usize,
    /// The hole: from the `<` to just after the `>` of `/Contents`.
    hole: Range<usize>,
}

impl Prepared {
    /// The two signed byte ranges: everything but the `/Contents` hex string.
    pub(crate) fn signed_ranges(&self) -> [Range<usize>; 2] {
        [0..self.hole.start, self.hole.end..self.bytes.len()]
    }

    /// Writes `cms` as hex into the `/Contents` placeholder (already zero-filled).
    pub(crate) fn fill_contents(&mut self, cms: &[u8]) -> Result<(), Error> {
        let room = (self.hole.len() - 2) / 2;
        if cms.len() > room {
            return Err(Error::Invalid(format!(
                "the CMS signature takes {} bytes, more than the {room} reserved",
                cms.len()
            )));
        }
        let hex = hex::encode_upper(cms);
        let start = self.hole.start + 1;
        self.bytes[start..start + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(())
    }

    fn patch_byte_range(&mut self) -> Result<(), Error> {
        let len = self.bytes.len();
        let text = format!(
            "[0 {} {} {}",
            self.hole.start,
            self.hole.end,
            len - self.hole.end
        );
        if text.len() + 1 > self.byte_range_len {
            return Err(Error::Invalid(
                "PDF too large for the /ByteRange placeholder".into(),
            ));
        }
        let field = &mut self.bytes[self.byte_range_at..self.byte_range_at + self.byte_range_len];
        field.fill(b' ');
        field[..text.len()].copy_from_slice(text.as_bytes());
        field[self.byte_range_len - 1] = b']';
        Ok(())
    }
}

/// `D:YYYYMMDDHHmmSSZ` (ISO 32000-1 section 7.9.4), in UTC.
pub(crate) fn pdf_date(t: &der::DateTime) -> String {
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minutes(),
        t.seconds()
    )
}

/// A PDF text string: literal if printable ASCII, else UTF-16BE with BOM in hex.
fn text_string(s: &str) -> Object {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
    } else {
        let mut bytes = vec![0xfe, 0xff];
        for unit in s.encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

/// Why lopdf could not read a file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Parse(lopdf::Error),
    #[error("the PDF parser gave up on this file")]
    GaveUp,
}

/// Parses with lopdf, turning a panic on hostile input into an error (`certd verify` reads
/// files from anyone).
pub(crate) fn load(pdf: &[u8]) -> Result<lopdf::Document, LoadError> {
    match std::panic::catch_unwind(|| lopdf::Document::load_mem(pdf)) {
        Ok(Ok(doc)) => Ok(doc),
        Ok(Err(e)) => Err(LoadError::Parse(e)),
        Err(_) => Err(LoadError::GaveUp),
    }
}

fn invalid(e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("PDF: {e}"))
}

fn serialize(object: &Object) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    lopdf::Writer::write_object(&mut out, object).map_err(invalid)?;
    Ok(out)
}

/// What the new signature field holds.
pub(crate) enum SigKind<'a> {
    /// The operator's PAdES signature: `/Type /Sig /SubFilter /ETSI.CAdES.detached`, with the
    /// claimed signing time `/M` and a `/Reason`.
    Cades { reason: &'a str, m: &'a str },
    /// A document time-stamp (ISO 32000-2 section 12.8.5; ETSI EN 319 142-1 section 5.4.3):
    /// `/Type /DocTimeStamp /SubFilter /ETSI.RFC3161`, `/Contents` an RFC 3161 token.
    DocTimeStamp,
}

/// A readable, unencrypted PDF opened for an incremental update (ISO 32000-1 section 7.5.6).
pub(crate) struct Opened {
    pub doc: lopdf::Document,
    pub root_id: ObjectId,
    /// Offset of the previous cross-reference section (`/Prev` of the new trailer).
    prev: usize,
    xref_stream: bool,
    next_free: u32,
}

impl Opened {
    pub(crate) fn new(pdf: &[u8]) -> Result<Opened, Error> {
        let doc = load(pdf).map_err(|e| invalid(format!("cannot read: {e}")))?;
        if doc.is_encrypted() || doc.trailer.get(b"Encrypt").is_ok() {
            return Err(invalid("encrypted documents are not signed"));
        }
        if doc.xref_recovery.is_some() {
            return Err(invalid(
                "damaged cross-reference table; refusing to append an update",
            ));
        }
        let prev = doc.xref_start;
        if prev == 0 || prev >= pdf.len() {
            return Err(invalid("no usable startxref"));
        }
        let xref_stream = matches!(
            doc.reference_table.cross_reference_type,
            lopdf::xref::XrefType::CrossReferenceStream
        );
        let root_id = doc
            .trailer
            .get(b"Root")
            .and_then(Object::as_reference)
            .map_err(|_| invalid("trailer has no /Root reference"))?;
        let size = doc
            .trailer
            .get(b"Size")
            .and_then(Object::as_i64)
            .ok()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0);
        let next_free = size.max(doc.max_id + 1);
        Ok(Opened {
            doc,
            root_id,
            prev,
            xref_stream,
            next_free,
        })
    }

    /// A fresh object number for the update.
    pub(crate) fn allocate(&mut self) -> ObjectId {
        let id = (self.next_free, 0);
        self.next_free += 1;
        id
    }

    /// The catalog as it stands, to be changed and written back.
    pub(crate) fn catalog(&self) -> Result<Dictionary, Error> {
        Ok(self
            .doc
            .get_dictionary(self.root_id)
            .map_err(invalid)?
            .clone())
    }

    /// Appends the update to `pdf`: `raw` objects (already serialised, written first, in
    /// order), then `objects`, then the cross-reference section and trailer. Returns the new
    /// file and the offset at which each raw object's body starts.
    pub(crate) fn write(
        mut self,
        pdf: &[u8],
        raw: Vec<(ObjectId, Vec<u8>)>,
        objects: Vec<(ObjectId, Object)>,
    ) -> Result<(Vec<u8>, Vec<usize>), Error> {
        let mut out = pdf.to_vec();
        if !matches!(out.last(), Some(b'\n' | b'\r')) {
            out.push(b'\n');
        }
        let mut offsets: Vec<(ObjectId, usize)> = Vec::new();
        let mut bodies = Vec::new();
        for (id, body) in raw {
            offsets.push((id, out.len()));
            writeln!(out, "{} {} obj", id.0, id.1).map_err(invalid)?;
            bodies.push(out.len());
            out.extend_from_slice(&body);
            out.extend_from_slice(b"\nendobj\n");
        }
        for (id, object) in &objects {
            offsets.push((*id, out.len()));
            writeln!(out, "{} {} obj", id.0, id.1).map_err(invalid)?;
            out.extend_from_slice(&serialize(object)?);
            out.extend_from_slice(b"\nendobj\n");
        }

        let mut trailer = Dictionary::new();
        let xref_id = self.xref_stream.then(|| self.allocate());
        trailer.set("Size", Object::Integer(i64::from(self.next_free)));
        trailer.set("Root", Object::Reference(self.root_id));
        if let Ok(info) = self.doc.trailer.get(b"Info") {
            trailer.set("Info", info.clone());
        }
        let id = match self.doc.trailer.get(b"ID") {
            Ok(Object::Array(a)) if a.len() == 2 => Object::Array(a.clone()),
            _ => {
                use sha2::Digest;
                let h = sha2::Sha256::digest(pdf)[..16].to_vec();
                Object::Array(vec![
                    Object::String(h.clone(), StringFormat::Hexadecimal),
                    Object::String(h, StringFormat::Hexadecimal),
                ])
            }
        };
        trailer.set("ID", id);
        trailer.set("Prev", Object::Integer(self.prev as i64));

        let xref_at = out.len();
        match xref_id {
            None => {
                offsets.sort();
                out.extend_from_slice(b"xref\n");
                for run in runs(&offsets) {
                    writeln!(out, "{} {}", run[0].0 .0, run.len()).map_err(invalid)?;
                    for ((_, generation), offset) in run {
                        write!(out, "{offset:010} {generation:05} n\r\n").map_err(invalid)?;
                    }
                }
                out.extend_from_slice(b"trailer\n");
                out.extend_from_slice(&serialize(&Object::Dictionary(trailer))?);
                out.push(b'\n');
            }
            Some(xref_id) => {
                offsets.push((xref_id, xref_at));
                offsets.sort();
                let mut index = Vec::new();
                let mut data = Vec::new();
                for run in runs(&offsets) {
                    index.push(Object::Integer(i64::from(run[0].0 .0)));
                    index.push(Object::Integer(run.len() as i64));
                    for ((_, generation), offset) in run {
                        let offset =
                            u32::try_from(*offset).map_err(|_| invalid("file over 4 GiB"))?;
                        data.push(1u8);
                        data.extend_from_slice(&offset.to_be_bytes());
                        data.extend_from_slice(&generation.to_be_bytes());
                    }
                }
                trailer.set("Type", Object::Name(b"XRef".to_vec()));
                trailer.set("W", Object::Array(vec![1.into(), 4.into(), 2.into()]));
                trailer.set("Index", Object::Array(index));
                trailer.set("Length", Object::Integer(data.len() as i64));
                writeln!(out, "{} {} obj", xref_id.0, xref_id.1).map_err(invalid)?;
                out.extend_from_slice(&serialize(&Object::Dictionary(trailer))?);
                out.extend_from_slice(b"\nstream\n");
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\nendstream\nendobj\n");
            }
        }
        write!(out, "startxref\n{xref_at}\n%%EOF\n").map_err(invalid)?;
        Ok((out, bodies))
    }
}

/// Appends to `pdf` an incremental update with an invisible signature field on the first page
/// whose value is a signature dictionary of `kind` (`/Filter /Adobe.PPKLite`), with
/// `/ByteRange` already patched and `/Contents` reserved for `contents_size` bytes of zeros.
pub(crate) fn prepare(pdf: &[u8], kind: SigKind, contents_size: usize) -> Result<Prepared, Error> {
    let mut opened = Opened::new(pdf)?;
    let doc = &opened.doc;
    let root_id = opened.root_id;
    let mut catalog = opened.catalog()?;
    let page_id = *doc
        .get_pages()
        .values()
        .next()
        .ok_or_else(|| invalid("document has no page"))?;

    // Objects rewritten in the update, besides the signature dictionary.
    let mut updates: Vec<(ObjectId, Object)> = Vec::new();

    // The field/widget: invisible (zero rectangle), printable and locked (/F 132).
    let mut acro_form = match catalog.get(b"AcroForm") {
        Ok(Object::Reference(id)) => {
            let id = *id;
            (Some(id), doc.get_dictionary(id).map_err(invalid)?.clone())
        }
        Ok(Object::Dictionary(d)) => (None, d.clone()),
        _ => (None, Dictionary::new()),
    };
    let mut taken: Vec<Vec<u8>> = Vec::new();
    let fields_obj = acro_form.1.get(b"Fields").ok().cloned();
    let (fields_ref, mut fields) = match fields_obj {
        Some(Object::Reference(id)) => (
            Some(id),
            doc.get_object(id)
                .and_then(Object::as_array)
                .map_err(invalid)?
                .clone(),
        ),
        Some(Object::Array(a)) => (None, a),
        _ => (None, Vec::new()),
    };
    for f in &fields {
        if let Ok((_, Object::Dictionary(d))) = doc.dereference(f) {
            if let Ok(t) = d.get(b"T").and_then(Object::as_str) {
                taken.push(t.to_vec());
            }
        }
    }
    let stem = match kind {
        SigKind::Cades { .. } => "Signature",
        SigKind::DocTimeStamp => "Timestamp",
    };
    let name = (1..)
        .map(|n| format!("{stem}{n}").into_bytes())
        .find(|n| !taken.contains(n))
        .unwrap_or_else(|| stem.as_bytes().to_vec());
    let mut page = doc.get_dictionary(page_id).map_err(invalid)?.clone();
    let annots = page.get(b"Annots").ok().cloned();
    let sig_id = opened.allocate();
    let widget_id = opened.allocate();
    let widget = Dictionary::from_iter(vec![
        ("Type", Object::Name(b"Annot".to_vec())),
        ("Subtype", Object::Name(b"Widget".to_vec())),
        ("FT", Object::Name(b"Sig".to_vec())),
        ("T", Object::String(name, StringFormat::Literal)),
        ("V", Object::Reference(sig_id)),
        ("F", Object::Integer(132)),
        (
            "Rect",
            Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
        ),
        ("P", Object::Reference(page_id)),
    ]);
    updates.push((widget_id, Object::Dictionary(widget)));

    fields.push(Object::Reference(widget_id));
    match fields_ref {
        Some(id) => updates.push((id, Object::Array(fields))),
        None => acro_form.1.set("Fields", Object::Array(fields)),
    }
    let flags = acro_form
        .1
        .get(b"SigFlags")
        .and_then(Object::as_i64)
        .unwrap_or(0);
    // SignaturesExist | AppendOnly.
    acro_form.1.set("SigFlags", Object::Integer(flags | 3));
    match acro_form.0 {
        Some(id) => updates.push((id, Object::Dictionary(acro_form.1))),
        None => catalog.set("AcroForm", Object::Dictionary(acro_form.1)),
    }

    // The widget on the first page.
    let doc = &opened.doc;
    match annots {
        Some(Object::Reference(id)) => {
            let mut annots = doc
                .get_object(id)
                .and_then(Object::as_array)
                .map_err(invalid)?
                .clone();
            annots.push(Object::Reference(widget_id));
            updates.push((id, Object::Array(annots)));
        }
        Some(Object::Array(a)) => {
            let mut annots = a;
            annots.push(Object::Reference(widget_id));
            page.set("Annots", Object::Array(annots));
            updates.push((page_id, Object::Dictionary(page)));
        }
        _ => {
            page.set("Annots", Object::Array(vec![Object::Reference(widget_id)]));
            updates.push((page_id, Object::Dictionary(page)));
        }
    }

    // PAdES signatures in a PDF before 2.0 declare the ETSI extension (EN 319 142-1 5.4).
    if doc.version.as_str() < "2.0" && catalog.get(b"Extensions").is_err() {
        let esic = Dictionary::from_iter(vec![
            ("BaseVersion", Object::Name(b"1.7".to_vec())),
            ("ExtensionLevel", Object::Integer(2)),
        ]);
        catalog.set(
            "Extensions",
            Object::Dictionary(Dictionary::from_iter(vec![(
                "ESIC",
                Object::Dictionary(esic),
            )])),
        );
    }
    updates.push((root_id, Object::Dictionary(catalog)));

    // The signature dictionary, by hand: the placeholders' offsets must be known.
    let mut sig = Vec::new();
    match kind {
        SigKind::Cades { reason, m } => {
            sig.extend_from_slice(
                b"<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M ",
            );
            sig.extend_from_slice(&serialize(&Object::string_literal(m))?);
            sig.extend_from_slice(b" /Reason ");
            sig.extend_from_slice(&serialize(&text_string(reason))?);
        }
        SigKind::DocTimeStamp => {
            sig.extend_from_slice(
                b"<</Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161",
            );
        }
    }
    sig.extend_from_slice(b"\n/ByteRange ");
    let byte_range_in = sig.len();
    let placeholder = format!("[0 {z} {z} {z}]", z = "0".repeat(NUMBER_WIDTH));
    sig.extend_from_slice(placeholder.as_bytes());
    sig.extend_from_slice(b"\n/Contents ");
    let hole_in = sig.len();
    sig.push(b'<');
    sig.resize(sig.len() + 2 * contents_size, b'0');
    sig.push(b'>');
    let hole_len = sig.len() - hole_in;
    sig.extend_from_slice(b">>");

    let (out, bodies) = opened.write(pdf, vec![(sig_id, sig)], updates)?;
    let body = bodies[0];
    let mut prepared = Prepared {
        bytes: out,
        byte_range_at: body + byte_range_in,
        byte_range_len: placeholder.len(),
        hole: body + hole_in..body + hole_in + hole_len,
    };
    prepared.patch_byte_range()?;
    Ok(prepared)
}

/// Splits sorted `(id, offset)` pairs into runs of consecutive object numbers.
fn runs(offsets: &[(ObjectId, usize)]) -> Vec<&[(ObjectId, usize)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=offsets.len() {
        if i == offsets.len() || offsets[i].0 .0 != offsets[i - 1].0 .0 + 1 {
            out.push(&offsets[start..i]);
            start = i;
        }
    }
    out
}

/// A signature dictionary of a PDF, as found for verification.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub byte_range: Vec<i64>,
    /// The `/Contents` bytes (the CMS blob followed by placeholder zeros).
    pub contents: Vec<u8>,
    /// `/Type /DocTimeStamp` (ISO 32000-2 section 12.8.5) rather than a signature.
    pub doc_timestamp: bool,
}

impl Located {
    /// Where the signed revision ends: `b + c` of `/ByteRange [0 a b c]`, or -1.
    pub fn end(&self) -> i64 {
        match self.byte_range.as_slice() {
            [_, _, b, c] => b.saturating_add(*c),
            _ => -1,
        }
    }
}

/// Finds the signature field (not a document time-stamp) whose `/ByteRange` reaches furthest
/// into the file.
pub(crate) fn locate_last_signature(pdf: &[u8]) -> Result<Located, ReadError> {
    signatures(pdf)?
        .into_iter()
        .rev()
        .find(|l| !l.doc_timestamp)
        .ok_or(ReadError::NoSignature)
}

/// Every signed signature field of the document (signatures and document time-stamps), in the
/// order of the file revisions they sign.
pub(crate) fn signatures(pdf: &[u8]) -> Result<Vec<Located>, ReadError> {
    let doc = load(pdf).map_err(ReadError::Pdf)?;
    let catalog = doc.catalog().map_err(ReadError::NoCatalog)?;
    let acro = catalog
        .get(b"AcroForm")
        .and_then(|o| doc.dereference(o))
        .and_then(|(_, o)| o.as_dict())
        .map_err(|_| ReadError::NoForm)?;
    let fields = acro
        .get(b"Fields")
        .and_then(|o| doc.dereference(o))
        .and_then(|(_, o)| o.as_array())
        .map_err(|_| ReadError::NoFields)?;
    let mut stack: Vec<(&Object, bool)> = fields.iter().map(|f| (f, false)).collect();
    let mut found: Vec<Located> = Vec::new();
    let mut seen = 0;
    while let Some((field, inherited_sig)) = stack.pop() {
        seen += 1;
        if seen > 10_000 {
            return Err(ReadError::TooManyFields);
        }
        let Ok((_, Object::Dictionary(d))) = doc.dereference(field) else {
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
        let Ok((_, Object::Dictionary(v))) = d.get(b"V").and_then(|o| doc.dereference(o)) else {
            continue;
        };
        let Ok(range) = v
            .get(b"ByteRange")
            .and_then(|o| doc.dereference(o))
            .and_then(|(_, o)| o.as_array())
        else {
            continue;
        };
        let byte_range: Vec<i64> = range.iter().filter_map(|o| o.as_i64().ok()).collect();
        let Ok(contents) = v.get(b"Contents").and_then(Object::as_str) else {
            continue;
        };
        found.push(Located {
            byte_range,
            contents: contents.to_vec(),
            doc_timestamp: v.get(b"Type").and_then(Object::as_name).ok()
                == Some(b"DocTimeStamp".as_slice()),
        });
    }
    found.sort_by_key(Located::end);
    Ok(found)
}
