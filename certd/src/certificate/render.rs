//! Layout of the certificate PDF: an unsigned PDF/A-3u document (A4) that the signer later
//! extends by incremental update.
//!
//! PDF/A-3 rather than PDF/A-2: only part 3 allows arbitrary embedded files (the original
//! `.eml` messages), each associated with the document through `/AF`. The "u" level makes
//! krilla refuse any glyph without a Unicode mapping, which is what keeps the text
//! extractable. Layout is done first ([`layout`]), then the display list is drawn with krilla.

#[path = "fonts.rs"]
pub mod fonts;
#[path = "layout.rs"]
mod layout;

use std::time::UNIX_EPOCH;

use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::embed::{AssociationKind, EmbeddedFile, MimeType};
use krilla::geom::{PathBuilder, Point, Rect, Size};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::surface::Surface;
use krilla::text::{GlyphId, KrillaGlyph};
use krilla::{Document, SerializeSettings};

use self::fonts::{FontSet, Weight};
use self::layout::{
    Align, Column, Item, Layout, Line, Rgb, Segment, Style, CONTENT_W, MARGIN_X, PAGE_H, PAGE_W,
};
use super::{CertificateData, Field};
use crate::error::Error;

/// Renders the unsigned certificate PDF.
pub fn render(data: &CertificateData) -> Result<Vec<u8>, Error> {
    keep_freed_memory();
    let fonts = fonts::fonts()?;
    let issued = pdf_date(&data.issued_at)?;
    let pages = compose(data, &fonts);
    emit(data, &fonts, &pages, issued)
}

/// krilla deflates every stream (page contents, each font subset, each embedded file) with a
/// fresh compressor, about 300 KB of zeroed buffers each, a dozen per certificate. With its
/// default tunables glibc hands such blocks back to the kernel when they are freed (heap
/// trimming, or mmap above the dynamic threshold), so every certificate paid page faults and
/// zeroing for them again: a third of the rendering time in the profile of
/// `docs/performance.md` (render 14.4 → 8.7 ms, CPU per certificate 9.1 → 6.5 ms with this).
/// Blocks under 4 MiB now come from the heap, and up to 32 MiB of freed heap is kept for
/// the next certificate. Process-wide, set once, on the first certificate.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator tunables; glibc serialises it with
            // allocations in other threads.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Section titles. Field labels come localised in the data; these few fixed strings are printed
// in English and, for Spanish and Japanese certificates, in the customer's language too, so the
// document reads for the customer and for a foreign court alike.

struct Titles {
    part1: &'static str,
    part2: &'static str,
    contract_text: &'static str,
    attachments: &'static str,
    timeline: &'static str,
    response_text: &'static str,
    embedded: &'static str,
    embedded_note: &'static str,
    evidence: &'static str,
    chain_head: &'static str,
    issued: &'static str,
    serial: &'static str,
    contract_id: &'static str,
    outcome: &'static str,
    file: &'static str,
    kind: &'static str,
    size: &'static str,
    none: &'static str,
}

static EN: Titles = Titles {
    part1: "Part 1 — Request",
    part2: "Part 2 — Response",
    contract_text: "Contract text",
    attachments: "Attachments",
    timeline: "Request timeline",
    response_text: "Response text",
    embedded: "Embedded files and evidence",
    embedded_note: "The original messages are attached to this PDF file (attachments panel of the \
                    PDF reader); their SHA-256 hashes are printed below.",
    evidence: "Evidence chain",
    chain_head: "Chain head (SHA-256)",
    issued: "Issued (UTC)",
    serial: "Serial number",
    contract_id: "Contract ID",
    outcome: "Outcome",
    file: "File",
    kind: "Type",
    size: "Size",
    none: "None",
};

static ES: Titles = Titles {
    part1: "Parte 1 — Solicitud",
    part2: "Parte 2 — Respuesta",
    contract_text: "Texto del contrato",
    attachments: "Adjuntos",
    timeline: "Cronología de la solicitud",
    response_text: "Texto de la respuesta",
    embedded: "Archivos incrustados y evidencias",
    embedded_note:
        "Los mensajes originales van adjuntos a este archivo PDF (panel de adjuntos del \
                    lector de PDF); sus huellas SHA-256 figuran a continuación.",
    evidence: "Cadena de evidencias",
    chain_head: "Último eslabón (SHA-256)",
    issued: "Emitido (UTC)",
    serial: "Número de serie",
    contract_id: "Id. de contrato",
    outcome: "Resultado",
    file: "Archivo",
    kind: "Tipo",
    size: "Tamaño",
    none: "Ninguno",
};

static JA: Titles = Titles {
    part1: "第1部 — 依頼",
    part2: "第2部 — 回答",
    contract_text: "契約本文",
    attachments: "添付ファイル",
    timeline: "依頼の経過",
    response_text: "回答本文",
    embedded: "埋め込みファイルと証拠",
    embedded_note:
        "元のメッセージはこのPDFファイルに添付されています（PDFリーダーの添付ファイル欄）。\
                    SHA-256ハッシュを以下に記載します。",
    evidence: "証拠チェーン",
    chain_head: "チェーン先頭 (SHA-256)",
    issued: "発行日時 (UTC)",
    serial: "シリアル番号",
    contract_id: "契約ID",
    outcome: "結果",
    file: "ファイル",
    kind: "種類",
    size: "サイズ",
    none: "なし",
};

fn local_titles(language: &str) -> Option<&'static Titles> {
    match language.split(['-', '_']).next().unwrap_or("") {
        "es" => Some(&ES),
        "ja" => Some(&JA),
        _ => None,
    }
}

/// "English / local", or English alone.
fn title(language: &str, pick: fn(&Titles) -> &'static str) -> String {
    title_joined(language, pick, " / ")
}

fn title_joined(language: &str, pick: fn(&Titles) -> &'static str, sep: &str) -> String {
    let en = pick(&EN);
    match local_titles(language).map(pick) {
        Some(local) if local != en => format!("{en}{sep}{local}"),
        _ => en.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Typography.

const TEXT: Rgb = Rgb(26, 26, 26);
const MUTED: Rgb = Rgb(96, 96, 96);
const HAIRLINE: Rgb = Rgb(205, 205, 205);
const ACCENT: Rgb = Rgb(31, 58, 95);
const ACCENT_LIGHT: Rgb = Rgb(160, 178, 202);

const OPERATOR: Style = Style::new(10.0, Weight::Bold, ACCENT);
const TITLE: Style = Style {
    leading: 1.22,
    ..Style::new(18.0, Weight::Bold, TEXT)
};
const META_LABEL: Style = Style::new(7.0, Weight::Regular, MUTED);
const META_VALUE: Style = Style::new(9.5, Weight::Bold, TEXT);
const H1: Style = Style::new(12.5, Weight::Bold, ACCENT);
const H2: Style = Style::new(9.5, Weight::Bold, TEXT);
const LABEL: Style = Style::new(8.5, Weight::Regular, MUTED);
const VALUE: Style = Style::new(9.0, Weight::Regular, TEXT);
const COLUMN_HEAD: Style = Style::new(7.5, Weight::Bold, MUTED);
const BODY: Style = Style {
    leading: 1.45,
    ..Style::new(9.5, Weight::Regular, TEXT)
};
const MONO: Style = Style::new(8.0, Weight::Mono, TEXT);
/// 64 hex digits fit the value column in this face and size.
const CHAIN_HEAD: Style = Style::new(8.0, Weight::Mono, TEXT);
const HASH: Style = Style::new(7.5, Weight::Mono, MUTED);
const FOOTER: Style = Style::new(7.5, Weight::Regular, MUTED);

/// Width of the label column of field tables.
const LABEL_W: f32 = 150.0;
const GUTTER: f32 = 10.0;

/// Text colour and tint of the outcome box.
fn outcome_colors(outcome: &str) -> (Rgb, Rgb) {
    match outcome {
        "accepted" => (Rgb(27, 110, 50), Rgb(232, 244, 235)),
        "rejected" => (Rgb(160, 30, 30), Rgb(250, 234, 234)),
        "not_delivered" => (Rgb(150, 88, 0), Rgb(253, 242, 222)),
        "unanswered" => (Rgb(85, 85, 85), Rgb(238, 238, 238)),
        _ => (ACCENT, Rgb(233, 238, 245)),
    }
}

fn human_size(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if f < KIB {
        format!("{n} B")
    } else if f < KIB * KIB {
        format!("{:.1} KiB ({n} B)", f / KIB)
    } else {
        format!("{:.1} MiB ({n} B)", f / (KIB * KIB))
    }
}

// ---------------------------------------------------------------------------------------------
// Composition: the certificate's content laid out page by page.

fn column(x: f32, width: f32, lines: Vec<Line>) -> Column {
    Column {
        x,
        width,
        align: Align::Left,
        lines,
    }
}

/// A thin rule under the last segment of a table row.
fn row_rule(l: &mut Layout, segments: &[Segment]) {
    if let Some(s) = segments.last() {
        let y = s.bottom + 3.0;
        l.push_on(
            s.page,
            Item::Rule {
                x1: MARGIN_X,
                y1: y,
                x2: MARGIN_X + CONTENT_W,
                y2: y,
                width: 0.4,
                color: HAIRLINE,
            },
        );
    }
    l.space(6.0);
}

fn heading(l: &mut Layout, text: &str) {
    let lines = l.wrap(text, H1, CONTENT_W);
    // Keep the heading with at least a few lines of what follows.
    l.ensure(lines.iter().map(Line::height).sum::<f32>() + 60.0);
    l.space(16.0);
    l.block(vec![column(MARGIN_X, CONTENT_W, lines)]);
    l.space(2.0);
    l.rule(0.9, ACCENT);
    l.space(8.0);
}

fn subheading(l: &mut Layout, text: &str) {
    let lines = l.wrap(text, H2, CONTENT_W);
    l.ensure(lines.iter().map(Line::height).sum::<f32>() + 40.0);
    l.space(10.0);
    l.block(vec![column(MARGIN_X, CONTENT_W, lines)]);
    l.space(4.0);
}

fn fields(l: &mut Layout, fields: &[Field], none: &str) {
    let styled: Vec<(&Field, Style)> = fields.iter().map(|f| (f, VALUE)).collect();
    styled_fields(l, &styled, none);
}

/// A label/value table; the style is per row so hashes can be set in the narrower mono face.
fn styled_fields(l: &mut Layout, fields: &[(&Field, Style)], none: &str) {
    if fields.is_empty() {
        let lines = l.wrap(none, VALUE, CONTENT_W);
        l.block(vec![column(MARGIN_X, CONTENT_W, lines)]);
        return;
    }
    for (f, style) in fields {
        let label = l.wrap(&f.label, LABEL, LABEL_W);
        let value = l.wrap(&f.value, *style, CONTENT_W - LABEL_W - GUTTER);
        let segs = l.block(vec![
            column(MARGIN_X, LABEL_W, label),
            column(
                MARGIN_X + LABEL_W + GUTTER,
                CONTENT_W - LABEL_W - GUTTER,
                value,
            ),
        ]);
        row_rule(l, &segs);
    }
}

/// Free text (contract, response) set off by a bar in the margin.
fn quoted(l: &mut Layout, text: &str, none: &str) {
    let indent = 12.0;
    let body = if text.trim().is_empty() { none } else { text };
    let lines = l.wrap(body, BODY, CONTENT_W - indent);
    let segs = l.block(vec![column(MARGIN_X + indent, CONTENT_W - indent, lines)]);
    for s in segs {
        l.push_on(
            s.page,
            Item::Rule {
                x1: MARGIN_X + 3.0,
                y1: s.top + 1.0,
                x2: MARGIN_X + 3.0,
                y2: s.bottom - 1.0,
                width: 1.6,
                color: ACCENT_LIGHT,
            },
        );
    }
}

fn header(l: &mut Layout, data: &CertificateData) {
    let lang = data.language.as_str();
    let op = l.wrap(&data.operator, OPERATOR, CONTENT_W);
    l.block(vec![column(MARGIN_X, CONTENT_W, op)]);
    l.space(2.0);
    let t = l.wrap(&data.title, TITLE, CONTENT_W);
    l.block(vec![column(MARGIN_X, CONTENT_W, t)]);
    l.space(10.0);

    // Serial, contract id and issue time side by side, each a small label over its value.
    let widths = [0.17, 0.55, 0.28].map(|f| f * CONTENT_W);
    let cells = [
        // English and local label on separate lines: the columns are too narrow to wrap a
        // joined label cleanly.
        (
            title_joined(lang, |t| t.serial, "\n"),
            data.serial.to_string(),
        ),
        (
            title_joined(lang, |t| t.contract_id, "\n"),
            data.contract_id.clone(),
        ),
        (
            title_joined(lang, |t| t.issued, "\n"),
            data.issued_at.clone(),
        ),
    ];
    let mut x = MARGIN_X;
    let mut columns = Vec::new();
    for ((label, value), w) in cells.iter().zip(widths) {
        let mut lines = l.wrap(label, META_LABEL, w - GUTTER);
        lines.extend(l.wrap(value, META_VALUE, w - GUTTER));
        columns.push(column(x, w - GUTTER, lines));
        x += w;
    }
    l.block(columns);
    l.space(8.0);
    l.rule(1.4, ACCENT);
    l.space(14.0);
}

fn outcome_box(l: &mut Layout, data: &CertificateData) {
    let (ink, tint) = outcome_colors(&data.outcome);
    let pad = 9.0;
    let bar = 4.0;
    let inner_x = MARGIN_X + bar + 12.0;
    let inner_w = CONTENT_W - bar - 24.0;
    let mut lines = l.wrap(
        &title(&data.language, |t| t.outcome).to_uppercase(),
        Style::new(7.5, Weight::Bold, ink),
        inner_w,
    );
    lines.extend(l.wrap(
        &data.outcome_sentence,
        Style {
            leading: 1.3,
            ..Style::new(12.0, Weight::Bold, TEXT)
        },
        inner_w,
    ));
    l.ensure(lines.iter().map(Line::height).sum::<f32>() + 2.0 * pad);
    l.space(pad);
    let mark = l.mark();
    let segs = l.block(vec![column(inner_x, inner_w, lines)]);
    let last = segs.len().saturating_sub(1);
    for (i, s) in segs.iter().enumerate() {
        let top = if i == 0 { s.top - pad } else { s.top };
        let bottom = if i == last { s.bottom + pad } else { s.bottom };
        // Backgrounds go under the text already placed on that page.
        let at = if s.page == mark.0 { mark } else { (s.page, 0) };
        l.insert(
            at,
            Item::Rect {
                x: MARGIN_X,
                y: top,
                w: bar,
                h: bottom - top,
                fill: ink,
            },
        );
        l.insert(
            at,
            Item::Rect {
                x: MARGIN_X,
                y: top,
                w: CONTENT_W,
                h: bottom - top,
                fill: tint,
            },
        );
    }
    l.space(pad);
}

fn attachments(l: &mut Layout, data: &CertificateData, none: &str) {
    let lang = data.language.as_str();
    if data.attachments.is_empty() {
        let lines = l.wrap(none, VALUE, CONTENT_W);
        l.block(vec![column(MARGIN_X, CONTENT_W, lines)]);
        return;
    }
    // Name | type | size on one line, the hash on its own full-width line below: a 64-digit
    // hash squeezed into a column would wrap and read badly.
    let (name_w, kind_x, kind_w, size_w) = (230.0, MARGIN_X + 240.0, 130.0, 103.0);
    let size_x = MARGIN_X + CONTENT_W - size_w;
    let head = [
        (MARGIN_X, name_w, title(lang, |t| t.file), Align::Left),
        (kind_x, kind_w, title(lang, |t| t.kind), Align::Left),
        (size_x, size_w, title(lang, |t| t.size), Align::Right),
    ];
    let columns = head
        .into_iter()
        .map(|(x, w, text, align)| Column {
            x,
            width: w,
            align,
            lines: l.wrap(&text, COLUMN_HEAD, w),
        })
        .collect();
    l.ensure(60.0);
    let segs = l.block(columns);
    row_rule(l, &segs);
    for a in &data.attachments {
        let name = l.wrap(&a.filename, VALUE, name_w);
        let kind = l.wrap(&a.content_type, LABEL, kind_w);
        let size = l.wrap(&human_size(a.size), LABEL, size_w);
        let hash = l.wrap(&format!("SHA-256 {}", a.sha256), HASH, CONTENT_W);
        let height = [&name, &kind, &size]
            .iter()
            .map(|c| c.iter().map(Line::height).sum::<f32>())
            .fold(0.0, f32::max)
            + hash.iter().map(Line::height).sum::<f32>();
        l.ensure(height + 8.0);
        l.block(vec![
            column(MARGIN_X, name_w, name),
            column(kind_x, kind_w, kind),
            Column {
                x: size_x,
                width: size_w,
                align: Align::Right,
                lines: size,
            },
        ]);
        let segs = l.block(vec![column(MARGIN_X, CONTENT_W, hash)]);
        row_rule(l, &segs);
    }
}

fn timeline(l: &mut Layout, data: &CertificateData, none: &str) {
    if data.request_timeline.is_empty() {
        let lines = l.wrap(none, VALUE, CONTENT_W);
        l.block(vec![column(MARGIN_X, CONTENT_W, lines)]);
        return;
    }
    let at_w = 118.0;
    for e in &data.request_timeline {
        let at = l.wrap(&e.at, MONO, at_w);
        let what = l.wrap(&e.what, VALUE, CONTENT_W - at_w - GUTTER);
        let segs = l.block(vec![
            column(MARGIN_X, at_w, at),
            column(MARGIN_X + at_w + GUTTER, CONTENT_W - at_w - GUTTER, what),
        ]);
        row_rule(l, &segs);
    }
}

fn embedded(l: &mut Layout, data: &CertificateData, none: &str) {
    let note = l.wrap(
        // Sentences, so each language gets its own paragraph.
        title_joined(&data.language, |t| t.embedded_note, "\n").as_str(),
        LABEL,
        CONTENT_W,
    );
    l.block(vec![column(MARGIN_X, CONTENT_W, note)]);
    l.space(6.0);
    if data.embedded.is_empty() {
        let lines = l.wrap(none, VALUE, CONTENT_W);
        l.block(vec![column(MARGIN_X, CONTENT_W, lines)]);
    }
    for e in &data.embedded {
        let mut lines = l.wrap(&e.name, Style::new(9.0, Weight::Bold, TEXT), CONTENT_W);
        lines.extend(l.wrap(
            &format!("{} · {}", e.mime_type, human_size(e.bytes.len() as u64)),
            LABEL,
            CONTENT_W,
        ));
        lines.extend(l.wrap(&e.description, VALUE, CONTENT_W));
        lines.extend(l.wrap(&format!("SHA-256 {}", e.sha256), HASH, CONTENT_W));
        let segs = l.block(vec![column(MARGIN_X, CONTENT_W, lines)]);
        row_rule(l, &segs);
    }
}

fn footers(l: &mut Layout, data: &CertificateData) {
    let pages = l.page() + 1;
    let left = format!(
        "{} {} · {}",
        title(&data.language, |t| t.serial),
        data.serial,
        data.contract_id
    );
    let rule_y = PAGE_H - 46.0;
    let baseline = PAGE_H - 33.0;
    for p in 0..pages {
        let number = l.fit(&format!("{} / {pages}", p + 1), FOOTER, 80.0);
        let left = l.fit(&left, FOOTER, CONTENT_W - number.width - 24.0);
        let items = [
            Item::Rule {
                x1: MARGIN_X,
                y1: rule_y,
                x2: MARGIN_X + CONTENT_W,
                y2: rule_y,
                width: 0.5,
                color: HAIRLINE,
            },
            Item::Text {
                x: MARGIN_X,
                baseline,
                style: FOOTER,
                clusters: left.clusters,
            },
            Item::Text {
                x: MARGIN_X + CONTENT_W - number.width,
                baseline,
                style: FOOTER,
                clusters: number.clusters,
            },
        ];
        for item in items {
            l.push_on(p, item);
        }
    }
}

fn compose(data: &CertificateData, fonts: &FontSet) -> Vec<Vec<Item>> {
    let lang = data.language.as_str();
    let none = title(lang, |t| t.none);
    let mut l = Layout::new(fonts);
    header(&mut l, data);
    outcome_box(&mut l, data);

    heading(&mut l, &title(lang, |t| t.part1));
    fields(&mut l, &data.request_fields, &none);
    subheading(&mut l, &title(lang, |t| t.contract_text));
    quoted(&mut l, &data.contract_text, &none);
    subheading(&mut l, &title(lang, |t| t.attachments));
    attachments(&mut l, data, &none);
    subheading(&mut l, &title(lang, |t| t.timeline));
    timeline(&mut l, data, &none);

    heading(&mut l, &title(lang, |t| t.part2));
    fields(&mut l, &data.response_fields, &none);
    if let Some(text) = &data.response_text {
        subheading(&mut l, &title(lang, |t| t.response_text));
        quoted(&mut l, text, &none);
    }

    heading(&mut l, &title(lang, |t| t.embedded));
    embedded(&mut l, data, &none);
    subheading(&mut l, &title(lang, |t| t.evidence));
    let evidence = [
        Field {
            label: title(lang, |t| t.chain_head),
            value: data.chain_head.clone(),
        },
        Field {
            label: title(lang, |t| t.issued),
            value: data.issued_at.clone(),
        },
    ];
    styled_fields(
        &mut l,
        &[(&evidence[0], CHAIN_HEAD), (&evidence[1], VALUE)],
        &none,
    );

    footers(&mut l, data);
    l.finish()
}

// ---------------------------------------------------------------------------------------------
// Output: the display list drawn with krilla.

fn paint(c: Rgb) -> krilla::paint::Paint {
    krilla::color::rgb::Color::new(c.0, c.1, c.2).into()
}

fn fill(c: Rgb) -> Fill {
    Fill {
        paint: paint(c),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

fn draw(s: &mut Surface, fonts: &FontSet, item: &Item) {
    match item {
        Item::Text {
            x,
            baseline,
            style,
            clusters,
        } => {
            s.set_stroke(None);
            s.set_fill(Some(fill(style.color)));
            let mut x = *x;
            // One krilla call per run of the same face: this is the font fallback.
            for run in clusters.chunk_by(|a, b| a.face == b.face) {
                let mut text = String::with_capacity(run.len() * 3);
                let mut glyphs = Vec::with_capacity(run.len());
                for c in run {
                    let start = text.len();
                    text.push(c.ch);
                    glyphs.push(KrillaGlyph::new(
                        GlyphId::new(u32::from(c.glyph)),
                        c.advance,
                        0.0,
                        0.0,
                        0.0,
                        start..text.len(),
                        None,
                    ));
                }
                let font = fonts.face(run[0].face).krilla.clone();
                s.draw_glyphs(
                    Point::from_xy(x, *baseline),
                    &glyphs,
                    font,
                    &text,
                    style.size,
                    false,
                );
                x += run.iter().map(|c| c.advance).sum::<f32>() * style.size;
            }
        }
        Item::Rect {
            x,
            y,
            w,
            h,
            fill: color,
        } => {
            let mut pb = PathBuilder::new();
            if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                pb.push_rect(rect);
            }
            if let Some(path) = pb.finish() {
                s.set_stroke(None);
                s.set_fill(Some(fill(*color)));
                s.draw_path(&path);
            }
        }
        Item::Rule {
            x1,
            y1,
            x2,
            y2,
            width,
            color,
        } => {
            let mut pb = PathBuilder::new();
            pb.move_to(*x1, *y1);
            pb.line_to(*x2, *y2);
            if let Some(path) = pb.finish() {
                s.set_fill(None);
                s.set_stroke(Some(Stroke {
                    paint: paint(*color),
                    width: *width,
                    ..Default::default()
                }));
                s.draw_path(&path);
            }
        }
    }
}

/// `issued_at` (RFC 3339, UTC) as a PDF date: PDF/A requires the document dates.
fn pdf_date(rfc3339: &str) -> Result<DateTime, Error> {
    let t = humantime::parse_rfc3339_weak(rfc3339)
        .map_err(|e| Error::Invalid(format!("certificate issue time {rfc3339:?}: {e}")))?;
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Invalid(format!("certificate issue time {rfc3339:?} before 1970")))?
        .as_secs();
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let year = u16::try_from(year)
        .map_err(|_| Error::Invalid(format!("certificate issue time {rfc3339:?} out of range")))?;
    // The casts below are of values bounded by the arithmetic above (month ≤ 12, day ≤ 31,
    // hour < 24, minute and second < 60).
    Ok(DateTime::new(year)
        .month(month as u8)
        .day(day as u8)
        .hour((rem / 3600) as u8)
        .minute((rem / 60 % 60) as u8)
        .second((rem % 60) as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0))
}

fn emit(
    data: &CertificateData,
    fonts: &FontSet,
    pages: &[Vec<Item>],
    issued: DateTime,
) -> Result<Vec<u8>, Error> {
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A3_U)
        .finish()
        .map_err(|e| Error::Invalid(format!("PDF configuration: {e:?}")))?;
    let settings = SerializeSettings {
        configuration,
        ..Default::default()
    };
    let mut doc = Document::new_with(settings);
    doc.set_metadata(
        Metadata::new()
            .title(format!("{} — {}", data.title, data.serial))
            .authors(vec![data.operator.clone()])
            .creator(format!("certmail certd {}", env!("CARGO_PKG_VERSION")))
            .language(data.language.clone())
            .creation_date(issued)
            // A stable id: the same certificate renders to the same bytes.
            .document_id(format!("certmail:{}:{}", data.serial, data.contract_id)),
    );
    let size = Size::from_wh(PAGE_W, PAGE_H).ok_or_else(|| Error::Invalid("page size".into()))?;
    for items in pages {
        let mut page = doc.start_page_with(PageSettings::new(size));
        let mut surface = page.surface();
        for item in items {
            draw(&mut surface, fonts, item);
        }
        surface.finish();
        page.finish();
    }
    for e in &data.embedded {
        // PDF/A-3 requires a MIME type; an unusable one is declared as opaque bytes.
        let mime =
            MimeType::new(&e.mime_type).or_else(|| MimeType::new("application/octet-stream"));
        let file = EmbeddedFile {
            path: e.name.clone(),
            mime_type: mime,
            description: Some(e.description.clone()),
            // The certificate was produced from these messages.
            association_kind: AssociationKind::Source,
            data: e.bytes.clone().into(),
            modification_date: Some(issued),
            compress: None,
            location: None,
        };
        doc.embed_file(file)
            .ok_or_else(|| Error::Invalid(format!("two embedded files are named {:?}", e.name)))?;
    }
    doc.finish()
        .map_err(|e| Error::Invalid(format!("certificate PDF: {}", describe(&e))))
}

/// krilla's errors carry whole fonts in their `Debug` output; keep the message short.
fn describe(e: &krilla::error::KrillaError) -> String {
    use krilla::error::KrillaError as K;
    match e {
        K::Font(_, msg) => format!("font: {msg}"),
        K::Validation(errors) => {
            let kinds: Vec<String> = errors
                .iter()
                .map(|(v, _)| {
                    let s = format!("{v:?}");
                    s.split('(').next().unwrap_or_default().to_string()
                })
                .collect();
            format!("PDF/A validation failed: {}", kinds.join(", "))
        }
        other => {
            let s = format!("{other:?}");
            s.chars().take(200).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::{AttachmentLine, Embedded, TimelineEntry};
    use sha2::{Digest, Sha256};
    use std::path::Path;
    use std::process::Command;

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    fn field(label: &str, value: &str) -> Field {
        Field {
            label: label.into(),
            value: value.into(),
        }
    }

    fn embedded(name: &str, description: &str, body: &str) -> Embedded {
        let bytes = body.as_bytes().to_vec();
        Embedded {
            name: name.into(),
            description: description.into(),
            mime_type: "message/rfc822".into(),
            sha256: sha(&bytes),
            bytes,
        }
    }

    fn attachment(name: &str, kind: &str, content: &str) -> AttachmentLine {
        AttachmentLine {
            filename: name.into(),
            content_type: kind.into(),
            size: content.len() as u64,
            sha256: sha(content.as_bytes()),
        }
    }

    fn spanish() -> CertificateData {
        CertificateData {
            language: "es".into(),
            title: "Certificado de contrato electrónico".into(),
            operator: "Certificaciones Ñandú, S.L.".into(),
            serial: 104_729,
            contract_id: "c-7f3a9e12-5b4d-4c1a-9e0f-2d8b6a4c3e11".into(),
            outcome: "accepted".into(),
            outcome_sentence: "El destinatario ACEPTÓ el contrato el 2025-03-04 a las 09:12:45 UTC."
                .into(),
            request_fields: vec![
                field("Operador", "Certificaciones Ñandú, S.L."),
                field(
                    "Cliente",
                    "José Ángel Muñoz <jose.munoz@ejemplo.es> (maria.pena@destino.es)",
                ),
                field("Remitente autenticado por", "SMTP AUTH PLAIN (jose.munoz)"),
                field("Enviado (UTC)", "2025-03-03T16:20:11Z"),
                field("Destinatarios", "maria.pena@destino.es"),
                field("Asunto", "Contrato de arrendamiento — vivienda en Logroño (año 2025)"),
                field(
                    "Message-ID",
                    "<20250303162011.4F2A1C0B9E@mail.ejemplo.es.very-long-host-name-for-wrapping.example>",
                ),
                field(
                    "Mensaje original",
                    "18 342 bytes, SHA-256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                ),
            ],
            contract_text: "CONTRATO DE ARRENDAMIENTO DE VIVIENDA\n\n\
                En Logroño, a 3 de marzo de 2025.\n\n\
                REUNIDOS: de una parte, Don José Ángel Muñoz Íñiguez, mayor de edad, con DNI \
                12345678Z; y de otra, Doña María Peña Güell, mayor de edad.\n\n\
                PRIMERA. — Objeto. El arrendador cede al arrendatario el uso de la vivienda \
                situada en la calle Señorío de Vizcaya nº 14, 2º izquierda, por una renta \
                mensual de 850,00 € (ochocientos cincuenta euros), pagadera por adelantado \
                dentro de los cinco primeros días de cada mes.\n\n\
                SEGUNDA. — Fianza. El arrendatario entrega en este acto la cantidad de \
                1.700,00 € en concepto de fianza. ¿Acepta usted estas condiciones? ¡Responda \
                ACEPTO o RECHAZO!"
                .into(),
            attachments: vec![
                attachment("inventario_muebles.pdf", "application/pdf", "inventario"),
                attachment("fotografías año 2025.zip", "application/zip", "fotos"),
            ],
            request_timeline: vec![
                TimelineEntry {
                    at: "2025-03-03T16:20:11Z".into(),
                    what: "submitted".into(),
                },
                TimelineEntry {
                    at: "2025-03-03T16:20:14Z".into(),
                    what: "request_sent to maria.pena@destino.es — 250 2.0.0 Ok: queued as 4F2A1C0B9E"
                        .into(),
                },
            ],
            response_fields: vec![
                field("Resultado", "accepted"),
                field("Canal", "email"),
                field("Respondió", "María Peña <maria.pena@destino.es>"),
                field("Respuesta (UTC)", "2025-03-04T09:12:45Z"),
                field(
                    "Cadena Received",
                    "from mx.destino.es (mx.destino.es [203.0.113.7]) by mail.certmail.example\n\
                     from [192.0.2.44] by mx.destino.es with ESMTPSA",
                ),
                field("DKIM / SPF / DMARC", "DKIM: pass\nSPF: pass\nDMARC: pass"),
                field("Decisión", "ACEPTO"),
            ],
            response_text: Some("ACEPTO las condiciones. Un saludo, María Peña.".into()),
            embedded: vec![
                embedded(
                    "contract-104729.eml",
                    "Mensaje original del contrato",
                    "From: jose.munoz@ejemplo.es\r\nSubject: Contrato\r\n\r\nCuerpo del contrato\r\n",
                ),
                embedded(
                    "answer-104729.eml",
                    "Mensaje de respuesta",
                    "From: maria.pena@destino.es\r\nSubject: Re: Contrato\r\n\r\nACEPTO\r\n",
                ),
            ],
            chain_head: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8".into(),
            issued_at: "2025-03-04T09:13:02Z".into(),
        }
    }

    fn japanese() -> CertificateData {
        let articles = [
            "目的",
            "定義",
            "業務の内容",
            "委託料",
            "支払方法",
            "秘密保持",
            "個人情報の取扱い",
            "再委託",
            "知的財産権",
            "損害賠償",
            "契約期間",
            "解除",
            "反社会的勢力の排除",
            "協議事項",
            "管轄裁判所",
            "準拠法",
            "通知",
            "存続条項",
        ];
        let mut contract = String::from("業務委託契約書\n\n株式会社さくら商事（以下「甲」という。）と山田太郎（以下「乙」という。）は、次のとおり業務委託契約（以下「本契約」という。）を締結する。\n\n");
        for (i, a) in articles.iter().enumerate() {
            contract.push_str(&format!(
                "第{}条（{a}）\n甲及び乙は、本条に定める{a}について、信義誠実の原則に従い、\
                 誠実に協議の上、これを履行するものとする。乙は、甲の事前の書面による承諾を得ることなく、\
                 本契約に基づく権利義務の全部又は一部を第三者に譲渡し、又は担保に供してはならない。\
                 甲は、乙が本条の規定に違反したときは、何らの催告を要せず直ちに本契約を解除することができる。\
                 なお、電子メール（Email）による通知は、SHA-256 ハッシュ値により同一性を確認できる場合に限り、\
                 書面による通知とみなす。金額は税込み 1,234,567 円とする。\n\n",
                i + 1
            ));
        }
        CertificateData {
            language: "ja".into(),
            title: "電子契約証明書".into(),
            operator: "株式会社サーティメール".into(),
            serial: 2_024_001,
            contract_id: "c-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0".into(),
            outcome: "rejected".into(),
            outcome_sentence: "受信者は 2025-06-10 14:03:22 UTC に本契約を拒否しました。".into(),
            request_fields: vec![
                field("事業者", "株式会社サーティメール"),
                field("顧客", "山田太郎 <taro@example.jp> (hanako@example.co.jp)"),
                field("送信者の認証方法", "SMTP AUTH (taro)"),
                field("送信日時 (UTC)", "2025-06-09T01:00:00Z"),
                field("宛先", "hanako@example.co.jp"),
                field("件名", "業務委託契約書のご確認のお願い"),
            ],
            contract_text: contract,
            attachments: vec![attachment("見積書.pdf", "application/pdf", "見積")],
            request_timeline: vec![TimelineEntry {
                at: "2025-06-09T01:00:02Z".into(),
                what: "request_sent to hanako@example.co.jp — 250 2.0.0 Ok".into(),
            }],
            response_fields: vec![
                field("結果", "rejected"),
                field("経路", "email"),
                field("判定", "拒否"),
            ],
            response_text: Some("条件が合わないため、拒否いたします。".into()),
            embedded: vec![embedded(
                "contract-2024001.eml",
                "契約の元メッセージ",
                "Subject: =?UTF-8?B?5qWt5YuZ?=\r\n\r\nbody\r\n",
            )],
            chain_head: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into(),
            issued_at: "2025-06-10T14:03:30Z".into(),
        }
    }

    fn english_long() -> CertificateData {
        let mut d = spanish();
        d.language = "en".into();
        d.title = "Certificate of electronic contract".into();
        d.outcome = "unanswered".into();
        d.outcome_sentence = "No answer was received before the deadline.".into();
        d.contract_text = (1..=200)
            .map(|i| format!("{i:03}. The parties agree to clause number {i} of this agreement."))
            .collect::<Vec<_>>()
            .join("\n");
        d.response_text = None;
        d
    }

    fn have(tool: &str) -> bool {
        let ok = Command::new(tool).arg("-v").output().is_ok();
        if !ok {
            eprintln!("{tool} not installed; skipping that check");
        }
        ok
    }

    fn squash(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    fn run(cmd: &mut Command) -> String {
        let out = cmd.output().expect("run tool");
        assert!(
            out.status.success(),
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Renders `data` and checks it with the poppler tools and qpdf; returns the page count.
    fn check(data: &CertificateData, png: Option<&str>) -> usize {
        let pdf = match render(data) {
            Err(Error::Config(e)) => {
                eprintln!("fonts missing, skipping: {e}");
                return 0;
            }
            other => other.expect("render"),
        };
        assert!(pdf.starts_with(b"%PDF-1.7"));
        // The signer appends its signature with lopdf: the file must load there.
        let parsed = lopdf::Document::load_mem(&pdf).expect("lopdf parses the certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cert.pdf");
        std::fs::write(&path, &pdf).expect("write");

        if have("qpdf") {
            let out = run(Command::new("qpdf").arg("--check").arg(&path));
            assert!(out.contains("No syntax or stream encoding errors"), "{out}");
        }
        let mut pages = 0;
        if have("pdfinfo") {
            let info = run(Command::new("pdfinfo").arg(&path));
            assert!(info.contains("595.276 x 841.89 pts (A4)"), "{info}");
            pages = info
                .lines()
                .find_map(|l| l.strip_prefix("Pages:"))
                .and_then(|n| n.trim().parse().ok())
                .expect("page count");
        }
        if have("pdftotext") {
            let text = run(Command::new("pdftotext")
                .arg("-enc")
                .arg("UTF-8")
                .arg(&path)
                .arg("-"));
            // Every page ends with its footer; cut them out so text flowing over a page break
            // reads as one.
            let footer = squash(&format!(
                "{} {} · {}",
                title(&data.language, |t| t.serial),
                data.serial,
                data.contract_id
            ));
            let page_texts: Vec<&str> = text
                .split('\u{c}')
                .filter(|p| !p.trim().is_empty())
                .collect();
            assert_eq!(page_texts.len(), pages.max(1));
            let mut flat = String::new();
            for (i, page) in page_texts.iter().enumerate() {
                let page = squash(page);
                let end = format!("{footer}{}/{}", i + 1, page_texts.len());
                let body = page.strip_suffix(&end);
                assert!(body.is_some(), "page {} footer: {page}", i + 1);
                flat.push_str(body.unwrap_or_default());
            }
            assert!(flat.contains(&squash(&data.contract_text)), "contract text");
            assert!(flat.contains(&data.serial.to_string()));
            assert!(flat.contains(&squash(&data.outcome_sentence)));
            for a in &data.attachments {
                assert!(flat.contains(&a.sha256), "attachment hash {}", a.sha256);
                assert!(flat.contains(&squash(&a.filename)));
            }
            for e in &data.embedded {
                assert!(flat.contains(&e.sha256), "embedded hash {}", e.sha256);
            }
            for f in data.request_fields.iter().chain(&data.response_fields) {
                assert!(flat.contains(&squash(&f.value)), "field {}", f.value);
            }
            assert!(flat.contains(&data.chain_head));
        }
        if have("pdfdetach") {
            let list = run(Command::new("pdfdetach").arg("-list").arg(&path));
            for e in &data.embedded {
                assert!(list.contains(&e.name), "{list}");
            }
            let out = dir.path().join("detached");
            std::fs::create_dir(&out).expect("mkdir");
            run(Command::new("pdfdetach")
                .arg("-saveall")
                .arg("-o")
                .arg(&out)
                .arg(&path));
            for e in &data.embedded {
                let bytes = std::fs::read(out.join(&e.name)).expect("detached file");
                assert_eq!(sha(&bytes), e.sha256);
            }
        }
        if let Some(name) = png {
            if have("pdftoppm") {
                let out = Path::new("/tmp/certmail-render-check");
                std::fs::create_dir_all(out).expect("mkdir");
                std::fs::write(out.join(format!("{name}.pdf")), &pdf).expect("write");
                run(Command::new("pdftoppm")
                    .args(["-r", "60", "-png"])
                    .arg(&path)
                    .arg(out.join(name)));
            }
        }
        if pages > 0 {
            assert_eq!(parsed.get_pages().len(), pages);
        }
        pages
    }

    #[test]
    fn spanish_certificate() {
        check(&spanish(), Some("es"));
    }

    #[test]
    fn japanese_long_certificate() {
        let pages = check(&japanese(), Some("ja"));
        assert!(pages == 0 || pages > 1, "{pages} pages");
    }

    #[test]
    fn english_200_lines() {
        let pages = check(&english_long(), Some("en"));
        assert!(pages == 0 || pages > 2, "{pages} pages");
    }

    #[test]
    fn minimal_and_odd_input_still_renders() {
        let mut d = spanish();
        d.request_fields.clear();
        d.response_fields.clear();
        d.attachments.clear();
        d.request_timeline.clear();
        d.embedded.clear();
        d.response_text = None;
        d.contract_text = String::new();
        d.outcome = "something-new".into();
        check(&d, None);
        // Characters no font has (emoji, Thai), controls, a private-use character, a combining
        // accent and a 300-character token: PDF/A validation must still pass.
        d.contract_text = format!(
            "emoji 😀 ไทย nul\u{0} tab\tbom\u{feff} pua\u{e000} e\u{301} {}",
            "x".repeat(300)
        );
        d.embedded = vec![embedded("a.eml", "", "x")];
        d.embedded[0].mime_type = "not a mime type".into();
        let pdf = render(&d);
        assert!(
            matches!(pdf, Ok(_) | Err(Error::Config(_))),
            "{:?}",
            pdf.err()
        );
    }

    #[test]
    fn deterministic_and_dated() {
        let Ok(a) = render(&spanish()) else {
            return;
        };
        let b = render(&spanish()).expect("render");
        assert_eq!(a, b, "same data, same bytes");
        let s = String::from_utf8_lossy(&a);
        assert!(s.contains("D:20250304091302"), "creation date");
    }

    #[test]
    fn rejects_bad_issue_time() {
        let mut d = spanish();
        d.issued_at = "yesterday".into();
        assert!(matches!(
            render(&d),
            Err(Error::Invalid(_) | Error::Config(_))
        ));
    }

    #[test]
    fn civil_dates() {
        let d = pdf_date("2024-02-29T23:59:58Z").expect("date");
        let s = format!("{d:?}");
        assert!(s.contains("2024") && s.contains("29"), "{s}");
        assert!(pdf_date("1969-12-31T00:00:00Z").is_err());
    }

    /// Median render time of the Japanese sample; run with
    /// `cargo test --release -p certd render_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn render_timing() {
        let data = japanese();
        let first = render(&data).expect("render");
        let mut times = Vec::new();
        for _ in 0..10 {
            let t = std::time::Instant::now();
            render(&data).expect("render");
            times.push(t.elapsed());
        }
        times.sort();
        eprintln!(
            "japanese sample: {} bytes, median {:?} (min {:?}, max {:?})",
            first.len(),
            times[5],
            times[0],
            times[9]
        );
    }
}
