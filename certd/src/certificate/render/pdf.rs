//! Output: the display list drawn with krilla into a PDF/A-3u document, with the original
//! messages embedded as associated files and the document dates set from the issue time.

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

use super::fonts::FontSet;
use super::layout::{Item, Rgb, PAGE_H, PAGE_W};
use crate::certificate::evidence_file::head_keyword;
use crate::certificate::{CertificateData, Relationship};
use crate::error::Error;

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
                        GlyphId::new(c.glyph),
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
pub(super) fn pdf_date(rfc3339: &str) -> Result<DateTime, Error> {
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

pub(super) fn emit(
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
            .document_id(format!("certmail:{}:{}", data.serial, data.contract_id))
            // The chain head, machine-readable inside the signed revision (/Keywords and XMP
            // pdf:Keywords), for `evidence_file::check`; krilla drops an empty list.
            .keywords(if data.chain_head.is_empty() {
                Vec::new()
            } else {
                vec![head_keyword(&data.chain_head)]
            }),
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
            association_kind: match e.relationship {
                // The certificate was produced from these messages.
                Relationship::Source => AssociationKind::Source,
                // The evidence file is the certificate's content as data.
                Relationship::Data => AssociationKind::Data,
            },
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
