//! certmail's one MIME split: what in a message is the contract text, what is an attachment,
//! and the exact bytes and SHA-256 of each attachment. certmilter hashes with it at intake and
//! certd mails the counterparty with it, so the file delivered is the file certified.
//!
//! MIME parsing is `mail-parser`'s (RFC 2045–2049, RFC 2047 encoded words in every charset
//! `full_encoding` knows, RFC 2231 parameters). This crate only decides what counts as the
//! contract text and what counts as an attachment, and computes the attachment hashes that the
//! certificate shows:
//!
//! * **Text** is every inline body part mail-parser puts in the message's text body, in order:
//!   the `text/plain` parts, or, where a `multipart/alternative` has only HTML (or a message is
//!   HTML only), that HTML rendered to text. An HTML part that stands on its own in a
//!   `multipart/mixed` is rendered and kept too, so no readable part is silently dropped.
//!   Parts are joined by a blank line, CRLF becomes LF and trailing whitespace is trimmed; the
//!   exact bytes stay in the raw message that certd stores beside it.
//! * **Attachments** are every other leaf of the top-level message: files, inline images,
//!   non-plain text (`text/calendar`, an attached `.txt`), and each `message/rfc822` part as a
//!   whole (the parts inside a forwarded message belong to that message, whose hash covers
//!   them). Size and SHA-256 are those of the transfer-decoded bytes, i.e. of the file a mail
//!   client saves, so anyone can check a hash in the certificate against the file they hold.
//!   The bytes themselves come with them ([`Attachment::bytes`]), borrowed from the raw message
//!   where no decoding was needed.
//! * **The Subject is one line**: control characters and line separators that RFC 2047
//!   encoded words can smuggle in (`=?UTF-8?Q?a=0D=0Ab?=`) become one space each run, so
//!   nothing downstream ever writes them as separate lines. A message with more than one
//!   Subject, From or Message-ID field is refused: RFC 5322 section 3.6 allows one, and
//!   certifying one of two Subjects would certify a title the counterparty may not see.

use std::borrow::Cow;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::html::html_to_text;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{
    Encoding, HeaderName, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use sha2::{Digest, Sha256};

#[cfg(test)]
mod tests;

/// Echoed attachment names are cut to this many characters so a reply stays on one line.
const MAX_ECHO_CHARS: usize = 80;

/// The elements of a message that certmail records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split<'a> {
    /// The Subject, RFC 2047-decoded, on one line ([`one_line`]).
    pub subject: Option<String>,
    /// The first address of From, without display name.
    pub from: Option<String>,
    /// The Message-ID with its angle brackets, e.g. `<id@example.test>`.
    pub message_id: Option<String>,
    /// The readable contract (see the crate documentation); may be empty when the contract
    /// is only an attachment.
    pub text: String,
    /// Every attachment, in message order.
    pub attachments: Vec<Attachment<'a>>,
}

/// One attachment: what the certificate lists, and the bytes a recipient saves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment<'a> {
    /// The file name (RFC 2231 / RFC 2047 decoded, control characters removed), if any.
    pub filename: Option<String>,
    /// `type/subtype` in lower case, with the RFC 2045 defaults.
    pub content_type: String,
    /// The `charset` parameter of a `text/*` part, as declared: the bytes are in it.
    pub charset: Option<String>,
    /// Length of [`Attachment::bytes`].
    pub size: u64,
    /// Lower-case hex SHA-256 of [`Attachment::bytes`].
    pub sha256: String,
    /// The transfer-decoded content, exactly as a mail client saves it.
    pub bytes: Cow<'a, [u8]>,
}

impl Attachment<'_> {
    /// The attachment with its bytes owned (a copy only where they were borrowed).
    pub fn into_owned(self) -> Attachment<'static> {
        Attachment {
            filename: self.filename,
            content_type: self.content_type,
            charset: self.charset,
            size: self.size,
            sha256: self.sha256,
            bytes: Cow::Owned(self.bytes.into_owned()),
        }
    }
}

/// Why a message cannot be split into a contract. Each message is a sentence for the sender
/// (certmilter sends it back in its SMTP reply).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// Not an Internet message: no header section could be read.
    #[error("The message is not readable MIME: it has no header section")]
    Unparseable,
    /// The MIME structure is so damaged that the parser gave up (nested parts that do not
    /// close; only reachable in builds with debug assertions, see [`split`]).
    #[error("The message's MIME structure is damaged beyond reading: send it again from your mail client")]
    DamagedStructure,
    /// A field RFC 5322 section 3.6 allows once appears more often.
    #[error("The message has {count} {name} fields; RFC 5322 allows one")]
    RepeatedField { name: &'static str, count: usize },
    /// Neither a readable body nor an attachment: nothing to certify.
    #[error("The message has no contract text and no attachment: write the contract in the body or attach it")]
    NoContent,
    /// An attachment declares base64 or quoted-printable but its content does not decode;
    /// hashing the broken encoding would certify bytes nobody can open.
    #[error("The attachment {name} is damaged (its {encoding} encoding does not decode): attach the file again")]
    CorruptAttachment {
        /// `'file.pdf'`, or a description such as `number 2 (application/pdf)`.
        name: String,
        encoding: &'static str,
    },
}

/// Splits a raw RFC 5322 message (as Postfix passed it, CRLF line ends).
pub fn split(raw: &[u8]) -> Result<Split<'_>, SplitError> {
    // mail-parser promises never to panic, and does not in release builds; but some of its
    // recovery paths for damaged nested messages end in `debug_assert!(false, ..)`, which
    // fuzzing reached (see `fuzz/`), and its HTML renderer holds an `unwrap()`. Splitting is
    // pure, so a panic is contained here and answered, instead of taking down the caller.
    std::panic::catch_unwind(|| split_unguarded(raw)).unwrap_or(Err(SplitError::DamagedStructure))
}

/// Where an attachment's bytes are, found while the parsed message is borrowed.
enum Source<'a> {
    /// The part's own decoded body, moved out of the parsed message afterwards (no copy).
    Body(usize),
    /// Decoded here from the raw message, or borrowed from it.
    Here(Cow<'a, [u8]>),
}

fn split_unguarded(raw: &[u8]) -> Result<Split<'_>, SplitError> {
    let mut message = MessageParser::default()
        .parse(raw)
        .ok_or(SplitError::Unparseable)?;
    // mail-parser takes any first line for a header; a real header section has at least one
    // field with an RFC 5322 name (printable ASCII, no colon).
    if !message
        .root_part()
        .headers()
        .iter()
        .any(|h| is_field_name(h.name.as_str()))
    {
        return Err(SplitError::Unparseable);
    }
    // RFC 5322 section 3.6: at most one of each (orig-date and from exactly one).
    for (field, name) in [
        (HeaderName::Subject, "Subject"),
        (HeaderName::From, "From"),
        (HeaderName::MessageId, "Message-ID"),
    ] {
        let count = message
            .root_part()
            .headers()
            .iter()
            .filter(|h| h.name == field)
            .count();
        if count > 1 {
            return Err(SplitError::RepeatedField { name, count });
        }
    }

    let text = contract_text(&message);
    let mut found = Vec::with_capacity(message.attachments.len());
    for (index, &id) in message.attachments.iter().enumerate() {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        found.push(attachment(raw, part, id as usize, index + 1)?);
    }
    if text.is_empty() && found.is_empty() {
        return Err(SplitError::NoContent);
    }
    let subject = message.subject().map(one_line);
    let from = message
        .from()
        .and_then(|from| from.first())
        .and_then(|addr| addr.address())
        .map(str::to_owned);
    let message_id = message
        .message_id()
        .filter(|id| !id.is_empty())
        .map(|id| format!("<{id}>"));

    // The decoded bodies move out of the parsed message: one copy of each file, not two.
    let attachments = found
        .into_iter()
        .map(|(meta, source)| {
            let bytes = match source {
                Source::Here(bytes) => bytes,
                Source::Body(id) => match message
                    .parts
                    .get_mut(id)
                    .map(|p| std::mem::take(&mut p.body))
                {
                    Some(PartType::Binary(bytes) | PartType::InlineBinary(bytes)) => bytes,
                    _ => Cow::Borrowed(&[][..]),
                },
            };
            Attachment { bytes, ..meta }
        })
        .collect();
    Ok(Split {
        subject,
        from,
        message_id,
        text,
        attachments,
    })
}

/// `s` on one line: each run of control characters (CR, LF, TAB, NUL, C1...) and Unicode
/// line or paragraph separators becomes one space.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            if !in_run {
                out.push(' ');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

/// Lower-case hex SHA-256 of `bytes`, as the certificate prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// RFC 5322 `field-name`: one or more printable US-ASCII characters except the colon.
fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// The readable contract: the message's text body parts, HTML rendered to text.
fn contract_text(message: &Message<'_>) -> String {
    let mut text = String::new();
    for part in message.text_bodies() {
        let piece: Cow<'_, str> = match &part.body {
            PartType::Text(t) => Cow::Borrowed(t.as_ref()),
            PartType::Html(h) => Cow::Owned(html_to_text(h)),
            // Inline images are listed in the text body for display; they are attachments here.
            _ => continue,
        };
        let piece = piece.replace("\r\n", "\n");
        let piece = piece.trim_end();
        if piece.trim_start().is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(piece);
    }
    text
}

/// Name, type, size and hash of one attachment (`id` is its part, `index` counts from 1, for
/// error messages), and where its bytes are. The record's `bytes` are filled in by the caller.
fn attachment<'a>(
    raw: &'a [u8],
    part: &MessagePart<'_>,
    id: usize,
    index: usize,
) -> Result<(Attachment<'a>, Source<'a>), SplitError> {
    let filename = part
        .attachment_name()
        .map(|name| {
            name.chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .filter(|name| !name.is_empty());
    let content_type = content_type(part);
    let source = match declared_encoding(part).filter(|_| part.is_encoding_problem) {
        // mail-parser gave up on the part (it also does so when only the closing boundary is
        // missing) and kept the encoded text: decode it here, and refuse it if it is broken.
        Some(encoding) => match transfer_decode(part_span(raw, part), encoding) {
            Some(bytes) => Source::Here(Cow::Owned(bytes)),
            None => {
                let name = match &filename {
                    Some(name) => format!("'{}'", echo(name)),
                    None => format!("number {index} ({})", echo(&content_type)),
                };
                let encoding = match encoding {
                    Encoding::QuotedPrintable => "quoted-printable",
                    _ => "base64",
                };
                return Err(SplitError::CorruptAttachment { name, encoding });
            }
        },
        None => decoded_bytes(raw, part, id),
    };
    let (size, sha256) = match (&source, &part.body) {
        (Source::Here(bytes), _) => (bytes.len(), sha256_hex(bytes)),
        (Source::Body(_), PartType::Binary(bytes) | PartType::InlineBinary(bytes)) => {
            (bytes.len(), sha256_hex(bytes))
        }
        (Source::Body(_), _) => (0, sha256_hex(&[])),
    };
    let charset = content_type
        .starts_with("text/")
        .then(|| part.content_type().and_then(|ct| ct.attribute("charset")))
        .flatten()
        .map(str::to_owned);
    Ok((
        Attachment {
            filename,
            content_type,
            charset,
            size: size as u64,
            sha256,
            bytes: Cow::Borrowed(&[]),
        },
        source,
    ))
}

/// `type/subtype` in lower case, with the RFC 2045 defaults when the header is absent or
/// incomplete.
fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None if ct.ctype().eq_ignore_ascii_case("text") => "text/plain".into(),
            None => "application/octet-stream".into(),
        },
        None => match part.body {
            PartType::Message(_) => "message/rfc822".into(),
            PartType::Html(_) => "text/html".into(),
            PartType::Text(_) => "text/plain".into(),
            _ => "application/octet-stream".into(),
        },
    }
}

/// The Content-Transfer-Encoding a part declares, if it is one that can fail to decode.
fn declared_encoding(part: &MessagePart<'_>) -> Option<Encoding> {
    let cte = part
        .headers()
        .iter()
        .find(|h| h.name == HeaderName::ContentTransferEncoding)?
        .value()
        .as_text()?;
    if cte.trim().eq_ignore_ascii_case("base64") {
        Some(Encoding::Base64)
    } else if cte.trim().eq_ignore_ascii_case("quoted-printable") {
        Some(Encoding::QuotedPrintable)
    } else {
        None
    }
}

/// Where the transfer-decoded bytes of a part are, exactly as a mail client would save them.
///
/// mail-parser already holds them for binary parts. Text parts it converts to UTF-8 from
/// their charset, and a nested 7bit/8bit message keeps a reference to the whole outer
/// message: for those, decode the part's own span of the raw message again.
fn decoded_bytes<'a>(raw: &'a [u8], part: &MessagePart<'_>, id: usize) -> Source<'a> {
    match &part.body {
        PartType::Binary(_) | PartType::InlineBinary(_) => Source::Body(id),
        PartType::Multipart(_) => Source::Here(Cow::Borrowed(&[])),
        PartType::Text(_) | PartType::Html(_) | PartType::Message(_) => {
            let span = part_span(raw, part);
            Source::Here(
                transfer_decode(span, part.encoding).map_or(Cow::Borrowed(span), Cow::Owned),
            )
        }
    }
}

/// The body of a part as it is in the raw message (still transfer-encoded).
fn part_span<'a>(raw: &'a [u8], part: &MessagePart<'_>) -> &'a [u8] {
    raw.get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default()
}

/// Undoes a transfer encoding; `None` for identity encodings or undecodable input.
fn transfer_decode(span: &[u8], encoding: Encoding) -> Option<Vec<u8>> {
    match encoding {
        Encoding::None => None,
        Encoding::Base64 => base64_decode(span),
        Encoding::QuotedPrintable => quoted_printable_decode(span),
    }
}

/// A header-supplied string made safe to quote in a one-line SMTP reply.
fn echo(s: &str) -> String {
    let mut clean = s
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '\'' { '’' } else { c });
    let mut out: String = clean.by_ref().take(MAX_ECHO_CHARS).collect();
    if clean.next().is_some() {
        out.push('…');
    }
    out
}
