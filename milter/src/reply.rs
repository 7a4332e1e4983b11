//! SMTP replies the milter gives, each with an RFC 3463 enhanced status and a sentence a
//! customer can act on, and the one function that makes their text safe to send
//! ([`Reply::wire_text`]): every reply leaves the milter through it.

use certmail_protocol::Refusal;
use std::fmt;

/// RFC 5321 section 4.5.3.1.5: a reply line is at most 512 octets, code and CRLF included.
pub const MAX_REPLY_LINE: usize = 512;

/// A word longer than this (an address, a token from the Subject) is shortened in its middle,
/// so that the end of the sentence, which says why, survives.
const MAX_WORD: usize = 100;

/// What replaces the cut-out middle of a long word or text (ASCII: replies are ASCII).
const ELLIPSIS: &str = "...";

/// A complete SMTP reply: basic code, enhanced status, human text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: &'static str,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced,
            text: text.into(),
        }
    }

    /// `451 4.3.0`: certd unreachable, slow or failing; the sender must retry.
    pub fn tempfail(text: impl Into<String>) -> Self {
        Reply::new(451, "4.3.0", text)
    }

    /// A refusal from the protocol crate's rules (limits, counterparties) or from certd. Its
    /// enhanced status is one of the codes certmail uses; anything else becomes the generic
    /// `X.0.0` of its class (RFC 3463 section 3.1).
    pub fn refused(r: Refusal) -> Self {
        const KNOWN: [&str; 9] = [
            "5.7.1", "5.1.3", "5.1.7", "5.6.0", "5.5.3", "5.3.4", "5.1.1", "5.5.2", "4.3.0",
        ];
        let enhanced = KNOWN.into_iter().find(|k| *k == r.enhanced).unwrap_or(
            if (400..500).contains(&r.code) {
                "4.0.0"
            } else {
                "5.0.0"
            },
        );
        let code = if (400..600).contains(&r.code) {
            r.code
        } else {
            550
        };
        Reply::new(code, enhanced, r.text)
    }

    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The text as it goes to the MTA: [`Reply::client_text`] with `%` doubled, because
    /// Postfix, like libmilter-based MTAs, reads `%` in a milter reply as an escape and drops
    /// it otherwise (`100%b` would reach the client as `100b`).
    pub fn wire_text(&self) -> String {
        self.client_text().replace('%', "%%")
    }

    /// The text the client reads, so that it gets *this* reply and not the MTA's
    /// generic one (Postfix answers `550 5.7.1 Command rejected` when a milter's reply is
    /// malformed; indymilter refuses a text over 980 bytes or with CR/LF):
    ///
    /// - one line of printable ASCII (RFC 5321 section 4.2: reply text is printable US-ASCII;
    ///   control, line and paragraph separators become a space, typographic punctuation its
    ///   ASCII form, anything else `?` as Postfix itself prints it);
    /// - at most [`MAX_REPLY_LINE`] octets with the code, the enhanced status and CRLF (and
    ///   with every `%` doubled on the way to the MTA): words over `MAX_WORD` characters
    ///   lose their middle first, then the whole text does.
    pub fn client_text(&self) -> String {
        let room = MAX_REPLY_LINE - "xxx ".len() - self.enhanced.len() - " ".len() - "\r\n".len();
        let escaped_len = |t: &str| t.len() + t.matches('%').count();
        let mut text = printable_ascii(&self.text);
        if escaped_len(&text) > room {
            let words: Vec<String> = text.split(' ').map(|w| shorten(w, MAX_WORD)).collect();
            text = words.join(" ");
        }
        if escaped_len(&text) > room {
            text = shorten(&text, room);
        }
        if escaped_len(&text) > room {
            // Only a text dense with `%` gets here: half the room holds it doubled.
            text = shorten(&text, room / 2);
        }
        text
    }
}

/// `s` as one line of printable ASCII; runs of spaces collapse.
fn printable_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let mapped: &str = match c {
            ' ' => " ",
            '!'..='~' => {
                out.push(c);
                continue;
            }
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{2032}' => "'",
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{00AB}' | '\u{00BB}' => "\"",
            '\u{2026}' => ELLIPSIS,
            '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
            // Full-width ASCII, as Japanese input methods type it.
            '\u{FF01}'..='\u{FF5E}' => {
                if let Some(a) = char::from_u32(c as u32 - 0xFEE0) {
                    out.push(a);
                }
                continue;
            }
            c if c.is_control() || c.is_whitespace() => " ",
            // Bidi controls and zero-width characters are invisible: drop them.
            '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}' => "",
            _ => "?",
        };
        if mapped == " " && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push_str(mapped);
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// `s` (ASCII) cut to at most `max` octets by removing its middle.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(ELLIPSIS.len());
    let head = keep.div_ceil(2);
    let tail = keep - head;
    // `s` is ASCII, so every index is a character boundary.
    format!("{}{ELLIPSIS}{}", &s[..head], &s[s.len() - tail..])
}

impl fmt::Display for Reply {
    /// The reply as the client sees it (sanitised), also what the logs show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.client_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(r: &Reply) -> String {
        format!("{} {} {}\r\n", r.code, r.enhanced, r.wire_text())
    }

    #[test]
    fn ordinary_sentences_pass_unchanged() {
        let r = Reply::new(
            550,
            "5.1.3",
            "The Subject must start with the counterparty's address",
        );
        assert_eq!(r.wire_text(), r.text);
    }

    #[test]
    fn a_thousand_character_address_fits_one_line_and_keeps_the_reason() {
        let address = format!("{}@contract.test", "a".repeat(1000));
        let r = Reply::new(
            550,
            "5.7.1",
            format!("<{address}> is not a certmail customer address"),
        );
        let l = line(&r);
        assert!(l.len() <= MAX_REPLY_LINE, "{} octets", l.len());
        assert!(
            l.ends_with("@contract.test> is not a certmail customer address\r\n"),
            "{l}"
        );
        assert!(l.contains("aaa...aaa"), "{l}");
        // indymilter's own limit on a reply line.
        assert!(r.wire_text().len() <= 980);
    }

    #[test]
    fn controls_become_spaces_and_non_ascii_is_made_printable() {
        let r = Reply::new(
            550,
            "5.1.3",
            "'bo\r\nb\u{202E}\x07@x' \u{2019}契約\u{2019} \u{FF42}\u{FF4F}\u{FF42} \u{2026}\t end",
        );
        let t = r.wire_text();
        assert_eq!(t, "'bo b @x' '??' bob ... end");
        assert!(t.bytes().all(|b| (b' '..=b'~').contains(&b)));
    }

    #[test]
    fn percent_is_escaped_for_the_mta() {
        let r = Reply::new(550, "5.1.3", "'100%@x' is not valid");
        assert_eq!(r.wire_text(), "'100%%@x' is not valid");
        assert_eq!(r.to_string(), "550 5.1.3 '100%@x' is not valid");
        // A text made of `%` stays within the line once doubled.
        let r = Reply::new(550, "5.1.3", "% ".repeat(600));
        assert!(line(&r).len() <= MAX_REPLY_LINE);
    }

    #[test]
    fn a_long_sentence_loses_its_middle() {
        let r = Reply::new(451, "4.3.0", "word ".repeat(300));
        let l = line(&r);
        assert!(l.len() <= MAX_REPLY_LINE, "{}", l.len());
        assert!(l.contains(ELLIPSIS));
    }

    #[test]
    fn refusals_keep_known_codes_only() {
        let r = Reply::refused(Refusal {
            code: 552,
            enhanced: "5.3.4".into(),
            text: "too big".into(),
        });
        assert_eq!((r.code, r.enhanced), (552, "5.3.4"));
        let r = Reply::refused(Refusal {
            code: 250,
            enhanced: "9.9.9".into(),
            text: "odd".into(),
        });
        assert_eq!((r.code, r.enhanced), (550, "5.0.0"));
    }
}
