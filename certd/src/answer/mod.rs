//! Reading a counterparty's answer: what did *they* write ([`own_words`]), and does it
//! accept or reject ([`classify`])? Pure functions, no I/O, no panics on any input.
//!
//! The verdict is legal evidence: it turns a contract into "accepted" or "rejected" for
//! good. A wrong `Accept` binds someone to a contract they did not accept; a wrong
//! `Reject` kills a deal. A wrong [`Verdict::Unclear`] only costs one polite round trip
//! (certd asks again for the single word ACCEPT or REJECT). So every rule leans towards
//! `Unclear` whenever the text is not plainly one or the other.
//!
//! The steps: [`reply_text`] (the message's text, HTML rendered by [`html`] keeping its
//! structure) → [`own_words`] ([`quotes`]: quoted request, reply headers and signatures
//! cut) → [`classify`] ([`verdict`], with the words of [`lexicon`]).

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
/// read instead.
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
