//! Layout of the certificate PDF: an unsigned PDF/A-3u document (A4) that the signer later
//! extends by incremental update.
//!
//! PDF/A-3 rather than PDF/A-2: only part 3 allows arbitrary embedded files (the original
//! `.eml` messages), each associated with the document through `/AF`. The "u" level makes
//! krilla refuse any glyph without a Unicode mapping, which is what keeps the text
//! extractable. The sections are laid out first ([`sections`] on [`layout`], with the faces of
//! [`fonts`] and the look of [`style`]), then the display list is drawn with krilla ([`pdf`]).
//! The titles, in each language, are with certd's other texts in [`crate::i18n`].

pub mod fonts;
mod layout;
mod pdf;
mod sections;
mod style;

#[cfg(test)]
mod tests;

use super::CertificateData;
use crate::error::Error;

/// Renders the unsigned certificate PDF.
pub fn render(data: &CertificateData) -> Result<Vec<u8>, Error> {
    let fonts = fonts::fonts()?;
    let issued = pdf::pdf_date(&data.issued_at)?;
    let pages = sections::compose(data, &fonts);
    pdf::emit(data, &fonts, &pages, issued)
}
