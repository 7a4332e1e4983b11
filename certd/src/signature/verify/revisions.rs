//! The revisions of a signed PDF (ISO 32000-2 section 7.5.6, incremental updates): where each
//! ends, which signature or document time-stamp signs which, and what each later revision
//! changed object by object, so that only validation data (`/DSS`), document time-stamps and
//! document metadata may follow the signature (ETSI EN 319 142-1 section 5.4; shadow attacks).

use super::super::fields::{name, signatures, SigKind};
use super::super::pdf::{load, LoadError};
use lopdf::{Document, Object, ObjectId};
use std::collections::{BTreeSet, HashSet};

/// More revisions after the signature than this are not compared (a hostile file must not make
/// `certd verify` parse it thousands of times); the report says so and the file is INVALID.
pub(super) const MAX_REVISIONS: usize = 64;

/// At most this many modifications are named per revision; the rest are counted (describing
/// an object walks the page tree, and one is enough to make the file INVALID).
const MAX_NAMED: usize = 20;

/// The ends of the file's revisions: just after each `startxref N %%EOF` and its end of line
/// (ISO 32000-2 section 7.5.5), in order.
pub(super) fn revision_ends(pdf: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(&pdf[from..], b"%%EOF").map(|p| p + from) {
        from = pos + 5;
        if !after_startxref(&pdf[..pos]) {
            continue;
        }
        let mut end = pos + 5;
        if pdf.get(end) == Some(&b'\r') {
            end += 1;
        }
        if pdf.get(end) == Some(&b'\n') {
            end += 1;
        }
        ends.push(end);
    }
    ends
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether `before` ends with `startxref`, white space, digits, white space.
fn after_startxref(before: &[u8]) -> bool {
    let s = before.trim_ascii_end();
    let digits = s.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    let s = s[..s.len() - digits].trim_ascii_end();
    s.ends_with(b"startxref")
}

/// Loads the revision of `pdf` that ends at `end`.
pub(super) fn load_revision(pdf: &[u8], end: usize) -> Result<Document, LoadError> {
    load(&pdf[..end.min(pdf.len())])
}

/// What one revision changed that is not allowed after the signature, or what it did that is.
#[derive(Debug, Default)]
pub(super) struct Judgement {
    /// Sentences naming each object and what changed; empty if the revision is allowed.
    pub modifications: Vec<String>,
    /// What the revision did that is allowed: "/DSS", "document time-stamp", "metadata".
    pub allowed: BTreeSet<&'static str>,
    /// Changed objects beyond the first [`MAX_NAMED`] modifications, not described.
    pub more: usize,
}

/// Everything reachable from `start` (references followed, bounded).
fn reachable(doc: &Document, start: &Object, into: &mut HashSet<ObjectId>) {
    let mut stack = vec![start];
    let mut budget = 100_000usize;
    while let Some(o) = stack.pop() {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            return;
        }
        match o {
            Object::Reference(id) if into.insert(*id) => {
                if let Ok(obj) = doc.get_object(*id) {
                    stack.push(obj);
                }
            }
            Object::Array(a) => stack.extend(a.iter()),
            Object::Dictionary(d) => stack.extend(d.iter().map(|(_, v)| v)),
            Object::Stream(s) => stack.extend(s.dict.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

fn refs(o: Option<&Object>) -> Vec<ObjectId> {
    match o {
        Some(Object::Array(a)) => a.iter().filter_map(|x| x.as_reference().ok()).collect(),
        _ => Vec::new(),
    }
}

/// The value of `key` in `dict`, following one reference.
fn get<'a>(doc: &'a Document, dict: &'a lopdf::Dictionary, key: &[u8]) -> Option<&'a Object> {
    match dict.get(key).ok()? {
        Object::Reference(id) => doc.get_object(*id).ok(),
        o => Some(o),
    }
}

/// Whether two objects are the same, a stream by dictionary and bytes (not file position).
fn same(a: &Object, b: &Object) -> bool {
    match (a, b) {
        (Object::Stream(x), Object::Stream(y)) => x.dict == y.dict && x.content == y.content,
        _ => a == b,
    }
}

fn type_of(o: &Object) -> Option<String> {
    let d = match o {
        Object::Dictionary(d) => d,
        Object::Stream(s) => &s.dict,
        _ => return None,
    };
    d.get(b"Type").ok().and_then(name)
}

/// A few words on what an object is, for the report.
fn describe(doc: &Document, id: ObjectId, o: &Object) -> String {
    let pages = doc.get_pages();
    for (n, page_id) in &pages {
        if *page_id == id {
            return format!("object {} {} (page {n})", id.0, id.1);
        }
        if let Ok(page) = doc.get_dictionary(*page_id) {
            let contents = page.get(b"Contents").ok();
            let is_content = match contents {
                Some(Object::Reference(r)) => *r == id,
                Some(Object::Array(a)) => a.iter().any(|x| x.as_reference().ok() == Some(id)),
                _ => false,
            };
            if is_content {
                return format!("object {} {} (content stream of page {n})", id.0, id.1);
            }
        }
    }
    let d = match o {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    };
    let mut what = Vec::new();
    if let Some(d) = d {
        for key in [&b"Type"[..], b"Subtype", b"FT"] {
            if let Some(n) = d.get(key).ok().and_then(name) {
                what.push(format!("/{} /{n}", String::from_utf8_lossy(key)));
            }
        }
    }
    if matches!(o, Object::Stream(_)) {
        what.push("stream".into());
    }
    if what.is_empty() {
        format!("object {} {}", id.0, id.1)
    } else {
        format!("object {} {} ({})", id.0, id.1, what.join(" "))
    }
}

/// Whether `new` is `old` with only entries from `extra` appended or inserted.
fn grows_by(old: &[ObjectId], new: &[ObjectId], extra: &HashSet<ObjectId>) -> bool {
    old.iter().all(|o| new.contains(o)) && new.iter().all(|n| old.contains(n) || extra.contains(n))
}

/// Compares revision `new` with the revision `old` before it. Allowed after a signature
/// (ETSI EN 319 142-1 section 5.4; the shadow-attack classes "hide", "replace" and
/// "hide-and-replace" are all other changes): a catalog gaining or changing `/DSS` (and
/// declaring `/Extensions`), the DSS's own objects, document time-stamp fields (an invisible
/// widget: zero-area `/Rect`) added to `/AcroForm /Fields` and to a page's `/Annots`, their
/// signature dictionaries and appearance streams, the document information dictionary and the
/// XMP metadata stream, and cross-reference streams.
pub(super) fn judge(old: &Document, new: &Document) -> Judgement {
    let mut j = Judgement::default();
    let Ok(root_id) = new.trailer.get(b"Root").and_then(Object::as_reference) else {
        j.modifications.push("the new revision has no /Root".into());
        return j;
    };
    let old_root = old.trailer.get(b"Root").and_then(Object::as_reference).ok();
    if old_root != Some(root_id) {
        j.modifications
            .push("the trailer's /Root names another catalog".into());
        return j;
    }
    let (Ok(catalog), Ok(old_catalog)) = (new.get_dictionary(root_id), old.get_dictionary(root_id))
    else {
        j.modifications.push("the catalog is unreadable".into());
        return j;
    };

    // Objects the new revision may add or change.
    let mut dss: HashSet<ObjectId> = HashSet::new();
    if let Ok(d) = catalog.get(b"DSS") {
        reachable(new, d, &mut dss);
    }
    let mut old_dss: HashSet<ObjectId> = HashSet::new();
    if let Ok(d) = old_catalog.get(b"DSS") {
        reachable(old, d, &mut old_dss);
    }
    let mut ts_widgets: HashSet<ObjectId> = HashSet::new();
    let mut ts_objects: HashSet<ObjectId> = HashSet::new();
    if let Ok(sigs) = signatures(new) {
        for s in sigs.iter().filter(|s| s.kind == SigKind::DocTimeStamp) {
            let Some(fid) = s.field_id else { continue };
            let Ok(field) = new.get_dictionary(fid) else {
                continue;
            };
            let zero_area = match get(new, field, b"Rect") {
                Some(Object::Array(r)) if r.len() == 4 => {
                    let n: Vec<f32> = r.iter().filter_map(|x| x.as_float().ok()).collect();
                    n.len() == 4 && (n[0] == n[2] || n[1] == n[3])
                }
                None => true,
                _ => false,
            };
            if !zero_area {
                j.modifications.push(format!(
                    "{}: a document time-stamp field with a visible /Rect",
                    describe(new, fid, &Object::Dictionary(field.clone()))
                ));
                continue;
            }
            // Only fields not already in the old revision are new time-stamp fields.
            if old.get_object(fid).is_err() {
                ts_widgets.insert(fid);
                ts_objects.insert(fid);
                if let Some(v) = s.value_id {
                    ts_objects.insert(v);
                }
                if let Ok(ap) = field.get(b"AP") {
                    reachable(new, ap, &mut ts_objects);
                }
            }
        }
    }
    let mut metadata: HashSet<ObjectId> = HashSet::new();
    if let Ok(Object::Reference(id)) = new.trailer.get(b"Info") {
        metadata.insert(*id);
    }
    if let Ok(Object::Reference(id)) = catalog.get(b"Metadata") {
        metadata.insert(*id);
    }

    let acro_ref = catalog
        .get(b"AcroForm")
        .ok()
        .and_then(|o| o.as_reference().ok());
    let acro = get(new, catalog, b"AcroForm").and_then(|o| o.as_dict().ok());
    let fields_ref = acro
        .and_then(|a| a.get(b"Fields").ok())
        .and_then(|o| o.as_reference().ok());
    let pages: Vec<ObjectId> = new.get_pages().values().copied().collect();

    for (id, obj) in &new.objects {
        let id = *id;
        let old_obj = old.objects.get(&id);
        if old_obj.is_some_and(|o| same(o, obj)) {
            continue;
        }
        if j.modifications.len() >= MAX_NAMED {
            j.more += 1;
            continue;
        }
        let is_new = old_obj.is_none();
        let kind = type_of(obj);
        if matches!(kind.as_deref(), Some("XRef" | "ObjStm")) {
            continue;
        }
        if dss.contains(&id) && (is_new || old_dss.contains(&id)) {
            j.allowed.insert("/DSS");
            continue;
        }
        if ts_objects.contains(&id) && is_new {
            j.allowed.insert("document time-stamp");
            continue;
        }
        if metadata.contains(&id) {
            j.allowed.insert("document metadata");
            continue;
        }
        let verb = if is_new { "added" } else { "changed" };
        let Some(old_obj) = old_obj else {
            j.modifications
                .push(format!("{} {verb}", describe(new, id, obj)));
            continue;
        };
        if id == root_id {
            catalog_changes(&mut j, old, new, old_catalog, catalog, &ts_widgets);
        } else if Some(id) == acro_ref {
            acroform_changes(&mut j, old, new, old_obj, obj, &ts_widgets);
        } else if Some(id) == fields_ref {
            let (o, n) = (refs(Some(old_obj)), refs(Some(obj)));
            if grows_by(&o, &n, &ts_widgets) {
                j.allowed.insert("document time-stamp");
            } else {
                j.modifications.push(
                    "/AcroForm /Fields changed other than by adding document time-stamp fields"
                        .into(),
                );
            }
        } else if pages.contains(&id) {
            page_changes(&mut j, new, id, old_obj, obj, &ts_widgets);
        } else if is_annots_array(new, &pages, id) {
            let (o, n) = (refs(Some(old_obj)), refs(Some(obj)));
            if grows_by(&o, &n, &ts_widgets) {
                j.allowed.insert("document time-stamp");
            } else {
                j.modifications.push(format!(
                    "{}: annotations changed other than by adding a document time-stamp widget",
                    describe(new, id, obj)
                ));
            }
        } else {
            j.modifications
                .push(format!("{} {verb}", describe(new, id, obj)));
        }
    }
    for (id, obj) in &old.objects {
        if new.objects.contains_key(id)
            || matches!(type_of(obj).as_deref(), Some("XRef" | "ObjStm"))
        {
            continue;
        }
        if j.modifications.len() >= MAX_NAMED {
            j.more += 1;
        } else {
            j.modifications
                .push(format!("{} deleted", describe(old, *id, obj)));
        }
    }
    j
}

fn is_annots_array(doc: &Document, pages: &[ObjectId], id: ObjectId) -> bool {
    pages.iter().any(|p| {
        doc.get_dictionary(*p)
            .ok()
            .and_then(|d| d.get(b"Annots").ok())
            .and_then(|o| o.as_reference().ok())
            == Some(id)
    })
}

/// The catalog may gain or change `/DSS` and `/Extensions`; a direct `/AcroForm` may change
/// as [`acroform_changes`] allows; nothing else.
fn catalog_changes(
    j: &mut Judgement,
    old: &Document,
    new: &Document,
    old_catalog: &lopdf::Dictionary,
    catalog: &lopdf::Dictionary,
    ts_widgets: &HashSet<ObjectId>,
) {
    let keys: BTreeSet<&[u8]> = old_catalog
        .iter()
        .chain(catalog.iter())
        .map(|(k, _)| k.as_slice())
        .collect();
    for key in keys {
        let (o, n) = (old_catalog.get(key).ok(), catalog.get(key).ok());
        if o == n {
            continue;
        }
        match key {
            b"DSS" if n.is_some() => {
                j.allowed.insert("/DSS");
            }
            b"Extensions" if n.is_some() => {}
            b"AcroForm" => match (o, n) {
                (Some(o @ Object::Dictionary(_)), Some(n @ Object::Dictionary(_))) => {
                    acroform_changes(j, old, new, o, n, ts_widgets)
                }
                _ => j
                    .modifications
                    .push("the catalog's /AcroForm was replaced".into()),
            },
            _ => j.modifications.push(format!(
                "the catalog's /{} {}",
                String::from_utf8_lossy(key),
                match (o, n) {
                    (None, _) => "was added",
                    (_, None) => "was removed",
                    _ => "changed",
                }
            )),
        }
    }
}

/// `/AcroForm` may only gain document time-stamp fields in `/Fields` and set `/SigFlags`.
fn acroform_changes(
    j: &mut Judgement,
    old: &Document,
    new: &Document,
    old_obj: &Object,
    obj: &Object,
    ts_widgets: &HashSet<ObjectId>,
) {
    let (Ok(o), Ok(n)) = (old_obj.as_dict(), obj.as_dict()) else {
        j.modifications
            .push("/AcroForm is no longer a dictionary".into());
        return;
    };
    let keys: BTreeSet<&[u8]> = o
        .iter()
        .chain(n.iter())
        .map(|(k, _)| k.as_slice())
        .collect();
    for key in keys {
        let (ov, nv) = (o.get(key).ok(), n.get(key).ok());
        if ov == nv {
            continue;
        }
        match key {
            b"SigFlags" => {}
            b"Fields" => {
                let of = refs(ov.map(|v| match v {
                    Object::Reference(id) => old.get_object(*id).unwrap_or(v),
                    _ => v,
                }));
                let nf = refs(nv.map(|v| match v {
                    Object::Reference(id) => new.get_object(*id).unwrap_or(v),
                    _ => v,
                }));
                if grows_by(&of, &nf, ts_widgets) {
                    j.allowed.insert("document time-stamp");
                } else {
                    j.modifications.push(
                        "/AcroForm /Fields changed other than by adding document time-stamp fields"
                            .into(),
                    );
                }
            }
            _ => j.modifications.push(format!(
                "/AcroForm /{} changed (a form value or setting)",
                String::from_utf8_lossy(key)
            )),
        }
    }
}

/// A page may only gain document time-stamp widgets in `/Annots`.
fn page_changes(
    j: &mut Judgement,
    new: &Document,
    id: ObjectId,
    old_obj: &Object,
    obj: &Object,
    ts_widgets: &HashSet<ObjectId>,
) {
    let (Ok(o), Ok(n)) = (old_obj.as_dict(), obj.as_dict()) else {
        j.modifications
            .push(format!("{} changed", describe(new, id, obj)));
        return;
    };
    let keys: BTreeSet<&[u8]> = o
        .iter()
        .chain(n.iter())
        .map(|(k, _)| k.as_slice())
        .collect();
    for key in keys {
        let (ov, nv) = (o.get(key).ok(), n.get(key).ok());
        if ov == nv {
            continue;
        }
        if key == b"Annots" && grows_by(&refs(ov), &refs(nv), ts_widgets) {
            j.allowed.insert("document time-stamp");
            continue;
        }
        let what = if key == b"Annots" {
            let added: Vec<String> = refs(nv)
                .into_iter()
                .filter(|r| !refs(ov).contains(r))
                .map(|r| match new.get_object(r) {
                    Ok(a) => describe(new, r, a),
                    Err(_) => format!("object {} {}", r.0, r.1),
                })
                .collect();
            if added.is_empty() {
                "annotations removed".to_string()
            } else {
                format!("annotation {} added", added.join(", "))
            }
        } else {
            format!("/{} changed", String::from_utf8_lossy(key))
        };
        j.modifications
            .push(format!("{}: {what}", describe(new, id, obj)));
    }
}
