//! Splitting a raw message into the parts certd stores: the decoded Subject, the sender, the
//! Message-ID, the readable contract text and one record per attachment.
//!
//! MIME parsing is `mail-parser`'s (RFC 2045–2049, RFC 2047 encoded words in every charset
//! `full_encoding` knows, RFC 2231 parameters). This module only decides what counts as the
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
//! * **The Subject is one line**: control characters and line separators that RFC 2047
//!   encoded words can smuggle in (`=?UTF-8?Q?a=0D=0Ab?=`) become one space each run, so
//!   nothing downstream ever writes them as separate lines. A message with more than one
//!   Subject, From or Message-ID field is refused: RFC 5322 section 3.6 allows one, and
//!   certifying one of two Subjects would certify a title the counterparty may not see.

use std::borrow::Cow;

use crate::reply::Reply;
use certmail_protocol::AttachmentInfo;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::html::html_to_text;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{
    Encoding, HeaderName, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use sha2::{Digest, Sha256};

/// Echoed attachment names are cut to this many characters so a reply stays on one line.
const MAX_ECHO_CHARS: usize = 80;

/// The elements of a message that certd records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMessage {
    /// The Subject, RFC 2047-decoded.
    pub subject: Option<String>,
    /// The first address of From, without display name.
    pub from: Option<String>,
    /// The Message-ID with its angle brackets, e.g. `<id@example.test>`.
    pub message_id: Option<String>,
    /// The readable contract (see the module documentation); may be empty when the contract
    /// is only an attachment.
    pub text: String,
    /// Every attachment, in message order.
    pub attachments: Vec<AttachmentInfo>,
}

/// Why a message cannot be split into a contract. Each message is the sentence sent back in
/// the SMTP reply.
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

impl SplitError {
    /// The SMTP reply: `550 5.6.0` (other media error) for every case. The condition is
    /// permanent: the same message would fail the same way on retry.
    pub fn reply(&self) -> Reply {
        Reply::new(550, "5.6.0", self.to_string())
    }
}

/// Splits a raw RFC 5322 message (as Postfix passed it, CRLF line ends).
pub fn split(raw: &[u8]) -> Result<SplitMessage, SplitError> {
    // mail-parser promises never to panic, and does not in release builds; but some of its
    // recovery paths for damaged nested messages end in `debug_assert!(false, ..)`, which
    // fuzzing reached (see `fuzz/`), and its HTML renderer holds an `unwrap()`. Splitting is
    // pure, so a panic is contained here and answered, instead of taking down the session.
    std::panic::catch_unwind(|| split_unguarded(raw)).unwrap_or(Err(SplitError::DamagedStructure))
}

fn split_unguarded(raw: &[u8]) -> Result<SplitMessage, SplitError> {
    let message = MessageParser::default()
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
    let mut attachments = Vec::with_capacity(message.attachments.len());
    for (index, part) in message.attachments().enumerate() {
        attachments.push(attachment_info(raw, part, index + 1)?);
    }
    if text.is_empty() && attachments.is_empty() {
        return Err(SplitError::NoContent);
    }

    Ok(SplitMessage {
        subject: message.subject().map(one_line),
        from: message
            .from()
            .and_then(|from| from.first())
            .and_then(|addr| addr.address())
            .map(str::to_owned),
        message_id: message
            .message_id()
            .filter(|id| !id.is_empty())
            .map(|id| format!("<{id}>")),
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

/// Name, type, size and hash of one attachment (`index` counts from 1, for error messages).
fn attachment_info(
    raw: &[u8],
    part: &MessagePart<'_>,
    index: usize,
) -> Result<AttachmentInfo, SplitError> {
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
    let bytes = match declared_encoding(part).filter(|_| part.is_encoding_problem) {
        // mail-parser gave up on the part (it also does so when only the closing boundary is
        // missing) and kept the encoded text: decode it here, and refuse it if it is broken.
        Some(encoding) => match transfer_decode(part_span(raw, part), encoding) {
            Some(bytes) => Cow::Owned(bytes),
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
        None => decoded_bytes(raw, part),
    };
    Ok(AttachmentInfo {
        filename,
        content_type,
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
    })
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

/// The transfer-decoded bytes of a part, exactly as a mail client would save them.
///
/// mail-parser already holds them for binary parts. Text parts it converts to UTF-8 from
/// their charset, and a nested 7bit/8bit message keeps a reference to the whole outer
/// message: for those, decode the part's own span of the raw message again.
fn decoded_bytes<'a>(raw: &'a [u8], part: &'a MessagePart<'a>) -> Cow<'a, [u8]> {
    match &part.body {
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => Cow::Borrowed(bytes.as_ref()),
        PartType::Multipart(_) => Cow::Borrowed(&[]),
        PartType::Text(_) | PartType::Html(_) | PartType::Message(_) => {
            let span = part_span(raw, part);
            transfer_decode(span, part.encoding).map_or(Cow::Borrowed(span), Cow::Owned)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Standard base64 with 76-column lines, as MIME writers produce it.
    fn b64(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b))
                << (8 * (3 - chunk.len()));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out.as_bytes()
            .chunks(76)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// Turns a readable sample written with `\n` into the CRLF form Postfix hands over.
    fn crlf(s: &str) -> Vec<u8> {
        s.replace('\n', "\r\n").into_bytes()
    }

    fn pdf_bytes() -> Vec<u8> {
        let mut v = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
        v.extend((0u8..=255).cycle().take(1000));
        v.extend_from_slice(b"\n%%EOF\n");
        v
    }

    #[test]
    fn multipart_mixed_with_pdf() {
        let pdf = pdf_bytes();
        let raw = crlf(&format!(
            "From: Acme Rentals <acme@contract.example.net>\n\
             To: acme@contract.example.net\n\
             Subject: bob@example.test Rental contract\n\
             Message-ID: <20251124.1@client.example.test>\n\
             MIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=\"XYZ\"\n\
             \n\
             preamble\n\
             --XYZ\n\
             Content-Type: text/plain; charset=utf-8\n\
             \n\
             The tenant pays 500 EUR monthly.\n\
             --XYZ\n\
             Content-Type: application/pdf; name=\"contract.pdf\"\n\
             Content-Disposition: attachment; filename=\"contract.pdf\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n\
             --XYZ--\n",
            b64(&pdf)
        ));
        let m = split(&raw).unwrap();
        assert_eq!(
            m.subject.as_deref(),
            Some("bob@example.test Rental contract")
        );
        assert_eq!(m.from.as_deref(), Some("acme@contract.example.net"));
        assert_eq!(
            m.message_id.as_deref(),
            Some("<20251124.1@client.example.test>")
        );
        assert_eq!(m.text, "The tenant pays 500 EUR monthly.");
        assert_eq!(
            m.attachments,
            vec![AttachmentInfo {
                filename: Some("contract.pdf".into()),
                content_type: "application/pdf".into(),
                size: pdf.len() as u64,
                sha256: sha(&pdf),
            }]
        );
    }

    #[test]
    fn attachment_hash_matches_a_known_vector() {
        // SHA-256("abc") from FIPS 180-2, independent of this module's hashing code.
        let raw = crlf(
            "From: a@example.test\n\
             Content-Type: application/octet-stream; name=abc.bin\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             YWJj\n",
        );
        let m = split(&raw).unwrap();
        assert_eq!(m.text, "");
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].size, 3);
        assert_eq!(
            m.attachments[0].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(m.attachments[0].filename.as_deref(), Some("abc.bin"));
    }

    #[test]
    fn alternative_prefers_plain() {
        let raw = crlf(
            "From: \"Acme\" <acme@contract.example.net>\n\
             Subject: x\n\
             Content-Type: multipart/alternative; boundary=alt\n\
             \n\
             --alt\n\
             Content-Type: text/plain; charset=us-ascii\n\
             \n\
             Plain version.\n\
             --alt\n\
             Content-Type: text/html; charset=us-ascii\n\
             \n\
             <html><body><p>HTML <b>version</b>.</p></body></html>\n\
             --alt--\n",
        );
        let m = split(&raw).unwrap();
        assert_eq!(m.text, "Plain version.");
        assert!(m.attachments.is_empty());
    }

    #[test]
    fn html_only_is_rendered_to_text() {
        let raw = crlf(
            "From: acme@contract.example.net\n\
             Subject: x\n\
             Content-Type: text/html; charset=utf-8\n\
             \n\
             <html><head><style>p {color: red}</style></head>\
             <body><p>Cl&aacute;usula 1: pago mensual.</p><p>Segunda</p></body></html>\n",
        );
        let m = split(&raw).unwrap();
        assert!(m.text.contains("Cláusula 1: pago mensual."), "{:?}", m.text);
        assert!(m.text.contains("Segunda"), "{:?}", m.text);
        assert!(
            !m.text.contains('<') && !m.text.contains("color"),
            "{:?}",
            m.text
        );
        assert!(m.attachments.is_empty());
    }

    #[test]
    fn quoted_printable_latin1_spanish() {
        let raw = crlf(
            "From: acme@contract.example.net\n\
             Subject: =?ISO-8859-1?Q?Contrato_de_alquiler_a=F1o_2025?=\n\
             Content-Type: text/plain; charset=ISO-8859-1\n\
             Content-Transfer-Encoding: quoted-printable\n\
             \n\
             Cl=E1usula primera: el arrendatario pagar=E1 500 =80 al mes durante un a=\n\
             =F1o.\n\
             Firma: =D1and=FA\n",
        );
        let m = split(&raw).unwrap();
        assert_eq!(m.subject.as_deref(), Some("Contrato de alquiler año 2025"));
        // Like browsers (WHATWG), mail-parser reads ISO-8859-1 as windows-1252, so the 0x80
        // that Windows clients put in "Latin-1" mail is the euro sign they meant.
        assert_eq!(
            m.text,
            "Cláusula primera: el arrendatario pagará 500 € al mes durante un año.\nFirma: Ñandú"
        );
    }

    #[test]
    fn base64_utf8_japanese() {
        let body = "賃貸契約書\r\n第1条 家賃は月額10万円とする。\r\n";
        let raw = crlf(&format!(
            "From: =?UTF-8?B?5aWR57SE?= <keiyaku@example.jp>\n\
             Subject: =?UTF-8?B?{}?=\n\
             Content-Type: text/plain; charset=UTF-8\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n",
            b64("bob@example.test 賃貸契約".as_bytes()),
            b64(body.as_bytes())
        ));
        let m = split(&raw).unwrap();
        assert_eq!(m.subject.as_deref(), Some("bob@example.test 賃貸契約"));
        assert_eq!(m.from.as_deref(), Some("keiyaku@example.jp"));
        assert_eq!(m.text, "賃貸契約書\n第1条 家賃は月額10万円とする。");
    }

    #[test]
    fn subject_encodings() {
        for (header, expected) in [
            ("=?ISO-2022-JP?B?GyRCN0BMcxsoQg==?=", "契約"),
            ("=?UTF-8?B?5aWR57SE?=", "契約"),
            ("=?UTF-8?Q?Contrato_=C3=B1and=C3=BA?=", "Contrato ñandú"),
            ("=?iso-8859-1?q?a=F1o?=", "año"),
            (
                "bob@example.test =?UTF-8?B?5aWR57SE?=\n =?UTF-8?B?5pu4?=",
                "bob@example.test 契約書",
            ),
            ("plain ascii", "plain ascii"),
        ] {
            let raw = crlf(&format!(
                "From: a@example.test\nSubject: {header}\n\nbody\n"
            ));
            let m = split(&raw).unwrap();
            assert_eq!(m.subject.as_deref(), Some(expected), "{header}");
        }
    }

    #[test]
    fn encoded_line_breaks_in_the_subject_become_one_space() {
        for (header, expected) in [
            (
                "=?UTF-8?Q?bob@example.test_Alquiler=0D=0AX-Injected:_yes?=",
                "bob@example.test Alquiler X-Injected: yes",
            ),
            (
                "=?UTF-8?B?Ym9iQGV4YW1wbGUudGVzdCBhDQoNCmIJYwBk4oCoZQ==?=",
                "bob@example.test a b c d e",
            ),
            ("=?ISO-8859-1?Q?a=85b?=", "a\u{2026}b"),
        ] {
            let raw = crlf(&format!(
                "From: a@example.test\nSubject: {header}\n\nbody\n"
            ));
            let m = split(&raw).unwrap();
            assert_eq!(m.subject.as_deref(), Some(expected), "{header}");
        }
        assert_eq!(one_line("a\u{85}b\r\n\r\nc"), "a b c");
    }

    #[test]
    fn repeated_subject_from_and_message_id_are_refused() {
        let raw = crlf(
            "From: a@example.test\nSubject: bob@example.test Contract\n\
             Subject: carol@example.test Other contract\n\nbody\n",
        );
        let e = split(&raw).unwrap_err();
        assert_eq!(
            e,
            SplitError::RepeatedField {
                name: "Subject",
                count: 2
            }
        );
        let r = e.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.6.0"));
        assert_eq!(
            r.text,
            "The message has 2 Subject fields; RFC 5322 allows one"
        );
        let raw = crlf("From: a@example.test\nFrom: b@example.test\nSubject: x\n\nbody\n");
        assert!(matches!(
            split(&raw),
            Err(SplitError::RepeatedField { name: "From", .. })
        ));
        let raw = crlf("From: a@example.test\nMessage-ID: <1@x>\nmessage-id: <2@x>\n\nbody\n");
        assert!(matches!(
            split(&raw),
            Err(SplitError::RepeatedField {
                name: "Message-ID",
                ..
            })
        ));
    }

    #[test]
    fn rfc2231_filename() {
        let raw = crlf(
            "From: acme@contract.example.net\n\
             Content-Type: multipart/mixed; boundary=b\n\
             \n\
             --b\n\
             Content-Type: text/plain\n\
             \n\
             see attachment\n\
             --b\n\
             Content-Type: application/pdf\n\
             Content-Disposition: attachment; filename*=UTF-8''contrato%20a%C3%B1o.pdf\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             JVBERi0xLjQK\n\
             --b\n\
             Content-Type: application/pdf; name=\"=?UTF-8?Q?anexo_=C3=B1.pdf?=\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             JVBERi0xLjQK\n\
             --b--\n",
        );
        let m = split(&raw).unwrap();
        let names: Vec<_> = m
            .attachments
            .iter()
            .map(|a| a.filename.as_deref())
            .collect();
        assert_eq!(names, vec![Some("contrato año.pdf"), Some("anexo ñ.pdf")]);
        assert_eq!(m.attachments[0].size, 9);
        assert_eq!(m.attachments[0].sha256, sha(b"%PDF-1.4\n"));
    }

    #[test]
    fn nested_multipart_inline_image_and_forwarded_message() {
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake";
        let forwarded = "From: carol@example.test\r\nSubject: old\r\n\r\nOld terms.\r\n";
        // Written with LF: `crlf` below turns it into what is on the wire.
        let calendar = "BEGIN:VCALENDAR\nEND:VCALENDAR";
        let calendar_wire = calendar.replace('\n', "\r\n");
        let raw = crlf(&format!(
            "From: acme@contract.example.net\n\
             Subject: bob@example.test Contrato\n\
             Content-Type: multipart/mixed; boundary=outer\n\
             \n\
             --outer\n\
             Content-Type: multipart/alternative; boundary=alt\n\
             \n\
             --alt\n\
             Content-Type: text/plain; charset=utf-8\n\
             \n\
             Texto del contrato.\n\
             --alt\n\
             Content-Type: multipart/related; boundary=rel\n\
             \n\
             --rel\n\
             Content-Type: text/html; charset=utf-8\n\
             \n\
             <p>Texto del contrato.</p><img src=\"cid:logo\">\n\
             --rel\n\
             Content-Type: image/png\n\
             Content-ID: <logo>\n\
             Content-Disposition: inline; filename=logo.png\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n\
             --rel--\n\
             --alt--\n\
             --outer\n\
             Content-Type: text/calendar; charset=utf-8; name=cita.ics\n\
             \n\
             {calendar}\n\
             --outer\n\
             Content-Type: message/rfc822\n\
             \n\
             {}\n\
             --outer--\n",
            b64(png),
            forwarded.trim_end_matches("\r\n").replace("\r\n", "\n")
        ));
        let m = split(&raw).unwrap();
        assert_eq!(m.text, "Texto del contrato.");
        let got: Vec<_> = m
            .attachments
            .iter()
            .map(|a| (a.filename.as_deref(), a.content_type.as_str(), a.size))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("logo.png"), "image/png", png.len() as u64),
                (
                    Some("cita.ics"),
                    "text/calendar",
                    calendar_wire.len() as u64
                ),
                (None, "message/rfc822", forwarded.len() as u64 - 2),
            ]
        );
        assert_eq!(m.attachments[0].sha256, sha(png));
        assert_eq!(m.attachments[1].sha256, sha(calendar_wire.as_bytes()));
        assert_eq!(
            m.attachments[2].sha256,
            sha(forwarded.trim_end_matches("\r\n").as_bytes())
        );
    }

    #[test]
    fn text_attachment_hash_is_of_the_original_charset_bytes() {
        // A Latin-1 .txt attachment: the hash is of the Latin-1 bytes the recipient saves,
        // not of mail-parser's UTF-8 conversion.
        let latin1 = b"a\xf1o\r\nse\xf1or\r\n";
        let raw = crlf(&format!(
            "From: a@example.test\n\
             Content-Type: multipart/mixed; boundary=b\n\
             \n\
             --b\n\
             Content-Type: text/plain; charset=ISO-8859-1; name=a.txt\n\
             Content-Disposition: attachment; filename=a.txt\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             {}\n\
             --b\n\
             Content-Type: text/plain; charset=ISO-8859-1; name=b.txt\n\
             Content-Disposition: attachment; filename=b.txt\n\
             Content-Transfer-Encoding: quoted-printable\n\
             \n\
             a=F1o\n\
             se=F1or\n\
             --b--\n",
            b64(latin1)
        ));
        let m = split(&raw).unwrap();
        assert_eq!(m.text, "");
        assert_eq!(m.attachments.len(), 2);
        assert_eq!(m.attachments[0].sha256, sha(latin1));
        assert_eq!(m.attachments[0].size, latin1.len() as u64);
        assert_eq!(m.attachments[1].sha256, sha(b"a\xf1o\r\nse\xf1or"));
    }

    #[test]
    fn mixed_plain_and_html_parts_are_all_kept() {
        let raw = crlf(
            "From: a@example.test\n\
             Content-Type: multipart/mixed; boundary=b\n\
             \n\
             --b\n\
             Content-Type: text/plain\n\
             \n\
             First part.\n\
             --b\n\
             Content-Type: text/html\n\
             \n\
             <p>Second part.</p>\n\
             --b\n\
             Content-Type: text/plain\n\
             \n\
             Third part.\n\
             --b--\n",
        );
        let m = split(&raw).unwrap();
        assert_eq!(m.text, "First part.\n\nSecond part.\n\nThird part.");
    }

    #[test]
    fn garbage_is_unparseable() {
        for raw in [
            &b""[..],
            b"\r\n\r\n",
            b"\x00\xff\xfe binary junk without any header",
            b"just a line of text",
        ] {
            assert_eq!(split(raw), Err(SplitError::Unparseable), "{raw:?}");
        }
        let r = SplitError::Unparseable.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.6.0"));
    }

    #[test]
    fn empty_message_has_no_content() {
        for raw in [
            &b"From: a@example.test\r\nSubject: bob@example.test x\r\n"[..],
            b"From: a@example.test\r\nSubject: x\r\n\r\n \r\n\t\r\n",
            b"From: a@example.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n\r\n--b--\r\n",
        ] {
            assert_eq!(split(raw), Err(SplitError::NoContent), "{raw:?}");
        }
        let r = SplitError::NoContent.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.6.0"));
        assert!(r.text.contains("no contract text and no attachment"));
    }

    #[test]
    fn corrupt_base64_attachment_is_refused() {
        let raw = crlf(
            "From: a@example.test\n\
             Content-Type: multipart/mixed; boundary=b\n\
             \n\
             --b\n\
             Content-Type: text/plain\n\
             \n\
             terms\n\
             --b\n\
             Content-Type: application/pdf\n\
             Content-Disposition: attachment; filename=\"c.pdf\"\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             JVBERi0x!!!not base64***\n\
             --b--\n",
        );
        let e = split(&raw).unwrap_err();
        assert_eq!(
            e,
            SplitError::CorruptAttachment {
                name: "'c.pdf'".into(),
                encoding: "base64"
            }
        );
        let r = e.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.6.0"));
        assert!(r.text.contains("c.pdf"));
    }

    #[test]
    fn missing_closing_boundary_still_decodes() {
        let raw = crlf(
            "From: a@example.test\n\
             Content-Type: multipart/mixed; boundary=b\n\
             \n\
             --b\n\
             Content-Type: text/plain\n\
             \n\
             terms\n\
             --b\n\
             Content-Type: application/pdf; name=c.pdf\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             JVBERi0xLjQK\n",
        );
        let m = split(&raw).unwrap();
        assert_eq!(m.text, "terms");
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].content_type, "application/pdf");
        assert_eq!(m.attachments[0].sha256, sha(b"%PDF-1.4\n"));
    }

    /// Found by `cargo fuzz run split`: trips a `debug_assert!` inside mail-parser.
    #[test]
    fn fuzz_regression_nested_rfc822_does_not_panic() {
        let raw = b"Fry<\r\nContent-Type: multipart/mix; boundary=b\r\n\n--bt\n\
                    Content-Type: message/rfc822\r\n\nF--\nContent-Type: message/rfc822\r\n\r\n\
                    F\r\n\n--b--\r\n";
        // Debug builds catch mail-parser's assertion; release builds get its recovered parse.
        if let Err(e) = split(raw) {
            assert_eq!(e.reply().enhanced, "5.6.0");
        }
    }

    #[test]
    fn missing_headers_give_none() {
        let m = split(b"X-Other: 1\r\n\r\ncontract body\r\n").unwrap();
        assert_eq!((m.subject, m.from, m.message_id), (None, None, None));
        assert_eq!(m.text, "contract body");
    }

    /// A tiny xorshift generator: pseudo-random input without a dependency.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// The logic of the `split` fuzz target, run on stable: random mutations of real MIME
    /// samples and random byte strings must never panic, and every error reply is one line.
    #[test]
    fn never_panics_on_pseudo_random_messages() {
        const FRAGMENTS: &[&[u8]] = &[
            b"From: a@example.test\r\n",
            b"Subject: =?UTF-8?B?5aWR57SE?=\r\n",
            b"Content-Type: multipart/mixed; boundary=b\r\n",
            b"Content-Type: multipart/alternative; boundary=\"b\"\r\n",
            b"Content-Type: message/rfc822\r\n",
            b"Content-Type: text/html; charset=iso-2022-jp\r\n",
            b"Content-Type: application/pdf; name*=UTF-8''a%C3%B1\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"Content-Disposition: attachment; filename=x\r\n",
            b"\r\n",
            b"--b\r\n",
            b"--b--\r\n",
            b"JVBERi0xLjQK\r\n",
            b"=E1=\r\n",
            b"<p>&amp;&#x5951;<b>x</p>",
            b"\xe5\xa5\x91\xff\x00",
            b"-",
            b"=",
            b"\r",
            b"\n",
        ];
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for _ in 0..3000 {
            let n = (rng.next() % 24) as usize;
            let mut raw = Vec::new();
            for _ in 0..n {
                let f = FRAGMENTS[(rng.next() % FRAGMENTS.len() as u64) as usize];
                raw.extend_from_slice(f);
                if rng.next() % 8 == 0 {
                    raw.push(rng.next() as u8);
                }
            }
            check_no_panic(&raw);
        }
        for _ in 0..500 {
            let len = (rng.next() % 200) as usize;
            let raw: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            check_no_panic(&raw);
        }
    }

    fn check_no_panic(raw: &[u8]) {
        if let Err(e) = split(raw) {
            let r = e.reply();
            assert!(r.text.chars().count() < 400 && !r.text.contains(['\r', '\n']));
        }
    }
}
