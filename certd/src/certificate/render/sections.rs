//! The certificate's content laid out page by page: header, outcome, part 1 (the request),
//! part 2 (the response), the embedded files and the evidence chain, then the footers.

use super::fonts::{FontSet, Weight};
use super::layout::{
    Align, Column, Item, Layout, Line, Segment, Style, CONTENT_W, MARGIN_X, PAGE_H,
};
use super::style::*;
use crate::certificate::{CertificateData, Field};
use crate::i18n::{certificate_titles, CertificateTitles};

/// "English / local", or English alone.
pub(super) fn title(language: &str, pick: fn(&CertificateTitles) -> &'static str) -> String {
    title_joined(language, pick, " / ")
}

fn title_joined(language: &str, pick: fn(&CertificateTitles) -> &'static str, sep: &str) -> String {
    let (en, local) = certificate_titles(language);
    let en = pick(en);
    match local.map(pick) {
        Some(local) if local != en => format!("{en}{sep}{local}"),
        _ => en.to_string(),
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

pub(super) fn compose(data: &CertificateData, fonts: &FontSet) -> Vec<Vec<Item>> {
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
