//! A counterparty's email answer: its text ([`reply_text`], HTML by [`html`]), their own words
//! ([`own_words`]) and the verdict ([`classify`]); a wrong accept is the worst error, so doubt is unclear.

mod fold;
pub mod html;
pub(crate) mod lexicon;
mod quotes;
mod verdict;

pub use quotes::own_words;
pub use verdict::{classify, Verdict};

use mail_parser::{Message, PartType};

/// The text of a reply as its writer saw it: its text body parts, each text/plain part as
/// it is and each HTML-only body rendered by [`html::to_text`] (blocks, `<br>` and quotes
/// kept, unlike mail-parser's own rendering, which joins blocks into one line). When a
/// message carries text/plain parts with nothing in them but HTML alternatives, the HTML is
/// read instead. This is what [`own_words`] and then [`classify`] read
/// (`docs/replies.md`: the steps, the clients recognised, the samples).
pub fn reply_text(message: &Message<'_>) -> String {
    let text = join(message.text_bodies().filter_map(|p| match &p.body {
        PartType::Text(text) => Some(text.to_string()),
        PartType::Html(html) => Some(html::to_text(html)),
        _ => None,
    }));
    if !text.trim().is_empty() {
        return text;
    }
    join(message.html_bodies().filter_map(|p| match &p.body {
        PartType::Html(html) => Some(html::to_text(html)),
        _ => None,
    }))
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join("\n\n")
}

#[cfg(test)]
mod tests;
