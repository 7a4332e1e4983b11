//! The certificate's typography: colours, text styles and the widths of its columns, kept
//! apart from the sections so that the look can be changed in one place.

use super::fonts::Weight;
use super::layout::{Rgb, Style};

pub(super) const TEXT: Rgb = Rgb(26, 26, 26);
pub(super) const MUTED: Rgb = Rgb(96, 96, 96);
pub(super) const HAIRLINE: Rgb = Rgb(205, 205, 205);
pub(super) const ACCENT: Rgb = Rgb(31, 58, 95);
pub(super) const ACCENT_LIGHT: Rgb = Rgb(160, 178, 202);

pub(super) const OPERATOR: Style = Style::new(10.0, Weight::Bold, ACCENT);
pub(super) const TITLE: Style = Style {
    leading: 1.22,
    ..Style::new(18.0, Weight::Bold, TEXT)
};
pub(super) const META_LABEL: Style = Style::new(7.0, Weight::Regular, MUTED);
pub(super) const META_VALUE: Style = Style::new(9.5, Weight::Bold, TEXT);
pub(super) const H1: Style = Style::new(12.5, Weight::Bold, ACCENT);
pub(super) const H2: Style = Style::new(9.5, Weight::Bold, TEXT);
pub(super) const LABEL: Style = Style::new(8.5, Weight::Regular, MUTED);
pub(super) const VALUE: Style = Style::new(9.0, Weight::Regular, TEXT);
pub(super) const COLUMN_HEAD: Style = Style::new(7.5, Weight::Bold, MUTED);
pub(super) const BODY: Style = Style {
    leading: 1.45,
    ..Style::new(9.5, Weight::Regular, TEXT)
};
pub(super) const MONO: Style = Style::new(8.0, Weight::Mono, TEXT);
/// 64 hex digits fit the value column in this face and size.
pub(super) const CHAIN_HEAD: Style = Style::new(8.0, Weight::Mono, TEXT);
pub(super) const HASH: Style = Style::new(7.5, Weight::Mono, MUTED);
pub(super) const FOOTER: Style = Style::new(7.5, Weight::Regular, MUTED);

/// Width of the label column of field tables.
pub(super) const LABEL_W: f32 = 150.0;
pub(super) const GUTTER: f32 = 10.0;

/// Text colour and tint of the outcome box.
pub(super) fn outcome_colors(outcome: &str) -> (Rgb, Rgb) {
    match outcome {
        "accepted" => (Rgb(27, 110, 50), Rgb(232, 244, 235)),
        "rejected" => (Rgb(160, 30, 30), Rgb(250, 234, 234)),
        "not_delivered" => (Rgb(150, 88, 0), Rgb(253, 242, 222)),
        "unanswered" => (Rgb(85, 85, 85), Rgb(238, 238, 238)),
        _ => (ACCENT, Rgb(233, 238, 245)),
    }
}
