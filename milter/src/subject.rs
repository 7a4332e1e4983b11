//! Subject parsing: the counterparties first, then free text.
//!
//! A customer names the counterparty of a contract in the Subject of an ordinary email, so
//! the grammar has to be forgiving about how people type addresses and numbers, yet strict
//! enough that a typo is answered with a precise SMTP error instead of a contract sent to
//! nobody. The Subject arrives already RFC 2047-decoded.
//!
//! # Grammar
//!
//! ```text
//! subject      = *sep destination *(sep destination) [list-end] [sep text]
//! destination  = email / "<" email ">" / phone
//! email        = local "@" domain          ; one "@", no quoting, UTF-8 local part allowed
//! phone        = group *(1*WSP group)       ; groups joined while ≤ 15 digits (see below)
//! group        = ["(" ] ["+"] 1*(DIGIT / "(" / ")" / "-" / ".")   ; "+" only at the start
//! sep          = 1*(WSP / "," / ";" / "，" / "；" / "、" / U+3000)
//! list-end     = ":" glued to the last destination
//!              / a standalone ":" / "：" / "-" / "--" / "–" / "—" token
//! text         = everything after the destinations, trimmed, kept byte for byte
//! ```
//!
//! * **Destinations come first.** The first token that is neither an address nor a number
//!   ends the list and starts the text. A Subject whose first token is text names no
//!   destination ([`SubjectError::NoDestination`]).
//! * **`Re:`/`Fwd:`/`RV:`/`AW:`… are not stripped.** A submission is a new message: a reply
//!   or forward carries quoted history that the customer did not necessarily mean to certify.
//!   Such a Subject is refused with its own explanation ([`SubjectError::ReplyOrForward`]).
//! * **Phone numbers** may be international (`+34600111222`, `+34 600 111 222`,
//!   `(+34) 600-111-222`, `0034600111222`: a leading `00` is read as `+`) or national
//!   (`600111222`, read in the operator's default region). Following digit groups are joined
//!   while the result has at most 15 digits (E.164's limit); the longest join that is a valid
//!   number wins, so `+34 600 111 222 Contrato 2025` and `600111222 2025 alquiler` both leave
//!   the year in the text. A national digit run shorter than 7 digits is never a number
//!   (a year, a reference), so it starts the text. Numbers are normalised to E.164.
//! * **Only numbers that can receive SMS are accepted**: mobile, fixed-line-or-mobile (the
//!   whole NANP region), personal, VoIP and pager numbers. A landline, toll-free,
//!   premium-rate, shared-cost or other service number is refused, because the counterparty
//!   would never see the acceptance request.
//! * **Email addresses** get a pragmatic RFC 5321/6531 check: dot-atom local part (ASCII
//!   `atext` or any non-ASCII letter), a domain of at least two labels (a dotless domain such
//!   as `bob@gmail` is almost always a typo, and mail to it would bounce into a NOEX
//!   certificate). The domain is lower-cased; the local part is kept as typed.
//! * Full-width forms that Japanese input methods produce (`＋３４ ６００…`, `ｂｏｂ＠…`,
//!   `０９０ー１２３４ー５６７８`) are read as their ASCII equivalents in destinations; the text
//!   is never altered.
//! * Duplicates are removed keeping the first occurrence; at most
//!   [`MAX_DESTINATIONS`] distinct destinations are allowed.
//!
//! Parsing never panics: every input yields a value or an error (fuzzed in `fuzz/`).

use crate::reply::Reply;
use certmail_protocol::Destination;
use phonenumber::{country, metadata::DATABASE, Mode, PhoneNumber, Type};

/// The most distinct destinations one contract may name (defined with every other limit in
/// `certmail_protocol::limits`).
pub const MAX_DESTINATIONS: usize = certmail_protocol::limits::MAX_DESTINATIONS as usize;

/// E.164 allows at most 15 digits (country code included).
const MAX_E164_DIGITS: usize = 15;

/// A national digit run shorter than this is text (a year, an invoice number), not a number.
const MIN_NATIONAL_DIGITS: usize = 7;

/// Echoed tokens are cut to this many characters so that every reply fits on one SMTP line.
const MAX_ECHO_CHARS: usize = 80;

/// The example every "how to write the Subject" reply carries.
const EXAMPLE: &str = "e.g. 'bob@example.com +34600111222 Rental contract'";

/// A parsed Subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedSubject {
    /// Distinct destinations in the order written; emails with a lower-cased domain, phone
    /// numbers in E.164.
    pub destinations: Vec<Destination>,
    /// The free text after the destinations, trimmed, otherwise exactly as written.
    pub text: String,
}

/// Why a Subject names no usable destination. Each message is the sentence sent back to the
/// customer in the SMTP reply: one line, naming the offending token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// The Subject is empty or starts with text.
    #[error("The Subject must start with the counterparty's email address and/or mobile number, {EXAMPLE}")]
    NoDestination,
    /// The Subject starts with a reply or forward prefix such as `Re:`.
    #[error("The Subject starts with '{prefix}': send the contract as a new message whose Subject starts with the counterparty's email address and/or mobile number, {EXAMPLE}")]
    ReplyOrForward { prefix: String },
    /// A token containing `@` is not a usable address.
    #[error("'{token}' in the Subject is not a valid email address: it {reason}")]
    InvalidEmail { token: String, reason: &'static str },
    /// A number that does not exist (or cannot be read) in the numbering plan.
    #[error("'{token}' in the Subject is not a valid phone number: {reason}")]
    InvalidPhone { token: String, reason: String },
    /// A valid number of a kind that cannot receive SMS (a landline, a toll-free number…).
    #[error("'{token}' ({number}) in the Subject is {kind} and cannot receive SMS: give a mobile number or an email address")]
    NotMobile {
        token: String,
        /// The number in E.164.
        number: String,
        /// Article and kind, e.g. "a landline".
        kind: &'static str,
    },
    /// More than [`MAX_DESTINATIONS`] distinct destinations.
    #[error("The Subject names more than {max} destinations: certify the contract with at most {max} counterparties per message")]
    TooManyDestinations { max: usize },
}

impl SubjectError {
    /// The SMTP reply for this error: `550 5.5.3` (too many recipients) for
    /// [`SubjectError::TooManyDestinations`], `550 5.1.3` (bad destination address syntax)
    /// for everything else.
    pub fn reply(&self) -> Reply {
        let enhanced = match self {
            SubjectError::TooManyDestinations { .. } => "5.5.3",
            _ => "5.1.3",
        };
        Reply::new(550, enhanced, self.to_string())
    }
}

/// Parses a decoded Subject into its destinations and free text (see the module
/// documentation for the grammar). National phone numbers are read in `default_region`.
pub fn parse_subject(
    subject: &str,
    default_region: country::Id,
) -> Result<ParsedSubject, SubjectError> {
    let mut destinations: Vec<Destination> = Vec::new();
    let mut pos = 0;
    let text_start = loop {
        let Some(tok) = token_at(subject, pos) else {
            break subject.len();
        };
        if destinations.is_empty() {
            if let Some(prefix) = reply_prefix(tok.text) {
                return Err(SubjectError::ReplyOrForward {
                    prefix: echo(prefix),
                });
            }
        }
        if is_list_end(tok.text) {
            if destinations.is_empty() {
                return Err(SubjectError::NoDestination);
            }
            break tok.end;
        }
        if let Some(rest) = tok.text.strip_prefix([':', '：']) {
            // "bob@example.test :Contract": the colon ends the list, the rest is text.
            if destinations.is_empty() {
                return Err(SubjectError::NoDestination);
            }
            break tok.end - rest.len();
        }
        let (body, colon) = strip_list_end_suffix(tok.text);
        let (dest, end, ends_list) = if body.starts_with('<') || body.contains(['@', '＠']) {
            (parse_email_token(body)?, tok.end, colon)
        } else if let Some(group) = phone_group(subject, tok) {
            match resolve_phone(subject, &group, default_region)? {
                Some((number, used)) => {
                    let last = &group.tokens[used - 1];
                    (
                        Destination::Phone(number),
                        last.end,
                        strip_list_end_suffix(last.text).1,
                    )
                }
                // A short national digit run: text, not a number.
                None => break text_start_or_fail(&destinations, tok)?,
            }
        } else {
            break text_start_or_fail(&destinations, tok)?;
        };
        if !destinations.contains(&dest) {
            if destinations.len() == MAX_DESTINATIONS {
                return Err(SubjectError::TooManyDestinations {
                    max: MAX_DESTINATIONS,
                });
            }
            destinations.push(dest);
        }
        pos = end;
        if ends_list {
            break end;
        }
    };
    if destinations.is_empty() {
        return Err(SubjectError::NoDestination);
    }
    let text = subject.get(text_start..).unwrap_or_default().trim();
    Ok(ParsedSubject {
        destinations,
        text: text.to_owned(),
    })
}

/// Where the text starts when `tok` is not a destination; an error if nothing came before.
fn text_start_or_fail(destinations: &[Destination], tok: Token<'_>) -> Result<usize, SubjectError> {
    if destinations.is_empty() {
        Err(SubjectError::NoDestination)
    } else {
        Ok(tok.start)
    }
}

/// One whitespace/comma-separated token of the Subject, with its byte range.
#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

/// Characters that separate destinations. The full-width comma/semicolon and the ideographic
/// comma are what Japanese input methods produce; U+3000 is covered by `is_whitespace`.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ';' | '，' | '；' | '、')
}

/// The first token at or after byte `pos`, or `None` at the end of the Subject.
fn token_at(s: &str, pos: usize) -> Option<Token<'_>> {
    let rest = s.get(pos..)?;
    let skip = rest.find(|c: char| !is_separator(c))?;
    let start = pos + skip;
    let body = s.get(start..)?;
    let len = body.find(is_separator).unwrap_or(body.len());
    Some(Token {
        text: body.get(..len)?,
        start,
        end: start + len,
    })
}

/// A standalone token that ends the destination list.
fn is_list_end(tok: &str) -> bool {
    matches!(tok, ":" | "：" | "-" | "--" | "–" | "—" | "―")
}

/// Splits a trailing `:` (which ends the destination list) from a token.
fn strip_list_end_suffix(tok: &str) -> (&str, bool) {
    match tok.strip_suffix([':', '：']) {
        Some(body) => (body, true),
        None => (tok, false),
    }
}

/// Reply/forward prefixes of common mail clients (English, Spanish, German, French, Nordic,
/// Portuguese, Italian, Dutch), matched case-insensitively at the start of the Subject.
const REPLY_PREFIXES: &[&str] = &[
    "re", "fw", "fwd", "rv", "aw", "wg", "tr", "sv", "vs", "vb", "res", "enc", "antw", "odp", "r",
    "i",
];

/// The reply/forward prefix the token starts with (including its colon), if any.
fn reply_prefix(tok: &str) -> Option<&str> {
    let colon = tok.find([':', '：'])?;
    let word = tok.get(..colon)?;
    // "Re[2]:" and "RE(3):" are counted replies.
    let bare = word.split_once(['[', '(']).map_or(word, |(head, _)| head);
    let colon_len = tok.get(colon..)?.chars().next()?.len_utf8();
    REPLY_PREFIXES
        .iter()
        .any(|p| p.eq_ignore_ascii_case(bare))
        .then(|| tok.get(..colon + colon_len))
        .flatten()
}

/// Maps the full-width ASCII block (U+FF01–U+FF5E) to ASCII, as NFKC would.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

// ---------------------------------------------------------------------------------------
// Email addresses
// ---------------------------------------------------------------------------------------

/// Parses an email token (possibly in angle brackets) into a normalised destination.
fn parse_email_token(tok: &str) -> Result<Destination, SubjectError> {
    let invalid = |reason| SubjectError::InvalidEmail {
        token: echo(tok),
        reason,
    };
    let folded: String = tok.chars().map(fold_width).collect();
    let addr = match folded.strip_prefix('<') {
        Some(inner) => inner
            .strip_suffix('>')
            .ok_or_else(|| invalid("has no closing '>'"))?,
        None => folded.as_str(),
    };
    normalise_email(addr)
        .map(Destination::Email)
        .map_err(invalid)
}

/// Checks an addr-spec and returns it with its domain lower-cased, or why it is unusable.
fn normalise_email(addr: &str) -> Result<String, &'static str> {
    let (local, domain) = addr.split_once('@').ok_or("has no '@'")?;
    if domain.contains('@') {
        return Err("has more than one '@'");
    }
    if local.is_empty() {
        return Err("has nothing before the '@'");
    }
    if domain.is_empty() {
        return Err("has no domain after the '@'");
    }
    if local.len() > 64 {
        return Err("has a part before the '@' longer than 64 bytes");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("has a misplaced dot before the '@'");
    }
    const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";
    if !local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(c) || is_utf8_text(c))
    {
        return Err("contains a character that is not allowed before the '@'");
    }
    if domain.len() > 253 {
        return Err("has a domain longer than 253 bytes");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("has a domain without a dot");
    }
    for label in &labels {
        if label.is_empty() {
            return Err("has a misplaced dot in the domain");
        }
        if label.len() > 63 {
            return Err("has a domain label longer than 63 bytes");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a domain label that starts or ends with '-'");
        }
        if !label.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
        }) {
            return Err("contains a character that is not allowed in a domain");
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("has a numeric top-level domain");
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

/// Non-ASCII characters allowed in an internationalised (RFC 6531) local part.
fn is_utf8_text(c: char) -> bool {
    !c.is_ascii() && !c.is_control() && !c.is_whitespace() && !is_invisible(c)
}

// ---------------------------------------------------------------------------------------
// Phone numbers
// ---------------------------------------------------------------------------------------

/// A run of digit groups that may form one phone number.
struct PhoneGroup<'a> {
    tokens: Vec<Token<'a>>,
    /// Whether the number is written internationally (`+` or a leading `00`).
    international: bool,
    /// Digits of each prefix of `tokens` (index `k` = first `k + 1` tokens), without the `00`.
    digits: Vec<String>,
}

/// Maps a character that may appear in a written phone number to its ASCII form.
fn phone_char(c: char) -> Option<char> {
    match fold_width(c) {
        c @ ('0'..='9' | '+' | '(' | ')' | '-' | '.') => Some(c),
        // Hyphens, dashes and the katakana prolonged sound mark typed as a hyphen.
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF70}' => Some('-'),
        _ => None,
    }
}

/// The ASCII digits of a token if it is a digit group (see the grammar), else `None`.
/// `first` allows a leading `+` (optionally inside a parenthesis: `(+34)`).
fn group_digits(tok: &str, first: bool) -> Option<(String, bool)> {
    let (tok, _) = strip_list_end_suffix(tok);
    let mut digits = String::new();
    let mut plus = false;
    for (i, c) in tok.chars().enumerate() {
        match phone_char(c)? {
            '+' if first && !plus && digits.is_empty() && (i == 0 || i == 1) => plus = true,
            '+' => return None,
            d @ '0'..='9' => digits.push(d),
            _ => {}
        }
    }
    (!digits.is_empty()).then_some((digits, plus))
}

/// Collects the digit groups starting at `first`, or `None` if `first` is not a digit group.
fn phone_group<'a>(s: &'a str, first: Token<'a>) -> Option<PhoneGroup<'a>> {
    let (head, plus) = group_digits(first.text, true)?;
    let international = plus || head.starts_with("00");
    let strip = if !plus && international { 2 } else { 0 };
    let mut all = head;
    let mut group = PhoneGroup {
        tokens: vec![first],
        international,
        digits: vec![all.get(strip..).unwrap_or_default().to_owned()],
    };
    let mut last = first;
    while !strip_list_end_suffix(last.text).1 {
        let Some(next) = token_at(s, last.end) else {
            break;
        };
        // Only whitespace may separate the groups of one number: a comma separates numbers.
        let gap = s.get(last.end..next.start).unwrap_or_default();
        if !gap.chars().all(char::is_whitespace) {
            break;
        }
        let Some((more, _)) = group_digits(next.text, false) else {
            break;
        };
        all.push_str(&more);
        let joined = all.get(strip..).unwrap_or_default();
        if joined.len() > MAX_E164_DIGITS {
            break;
        }
        group.digits.push(joined.to_owned());
        group.tokens.push(next);
        last = next;
    }
    Some(group)
}

/// Finds the longest prefix of the group that is a valid number able to receive SMS.
/// Returns the E.164 number and how many tokens it used; `Ok(None)` when the group is a
/// short national digit run (text); an error when no prefix is a valid number.
fn resolve_phone(
    s: &str,
    group: &PhoneGroup<'_>,
    region: country::Id,
) -> Result<Option<(String, usize)>, SubjectError> {
    let full_digits = group.digits.last().map_or(0, String::len);
    if !group.international && full_digits < MIN_NATIONAL_DIGITS {
        return Ok(None);
    }
    for used in (1..=group.tokens.len()).rev() {
        let Some(digits) = group.digits.get(used - 1) else {
            continue;
        };
        let Ok(number) = parse_number(digits, group.international, region) else {
            continue;
        };
        if !number.is_valid() {
            continue;
        }
        let token = echo(span(s, &group.tokens[..used]));
        let e164 = number.format().mode(Mode::E164).to_string();
        return match sms_capability(number.number_type(&DATABASE)) {
            None => Ok(Some((e164, used))),
            Some(kind) => Err(SubjectError::NotMobile {
                token,
                number: e164,
                kind,
            }),
        };
    }
    // Nothing valid: explain with the whole group, as the customer typed it.
    let digits = group.digits.last().map_or("", String::as_str);
    let reason = match parse_number(digits, group.international, region) {
        Err(phonenumber::ParseError::InvalidCountryCode) => "the country code is unknown".into(),
        Err(phonenumber::ParseError::TooLong) => "it has too many digits".into(),
        Err(
            phonenumber::ParseError::TooShortNsn
            | phonenumber::ParseError::TooShortAfterIdd
            | phonenumber::ParseError::NoNumber,
        ) => "it has too few digits".into(),
        _ if group.international => "no such number exists in that country's numbering plan".into(),
        _ => format!(
            "no such number exists in {}; write foreign numbers with '+' and the country code",
            region.as_ref()
        ),
    };
    Err(SubjectError::InvalidPhone {
        token: echo(span(s, &group.tokens)),
        reason,
    })
}

/// Parses ASCII digits with phonenumber. Only `+digits` or `digits` reach the library, which
/// keeps its RFC 3966 parser (the source of its past panics) out of reach of customer input.
fn parse_number(
    digits: &str,
    international: bool,
    region: country::Id,
) -> Result<PhoneNumber, phonenumber::ParseError> {
    if international {
        phonenumber::parse(None, format!("+{digits}"))
    } else {
        phonenumber::parse(Some(region), digits)
    }
}

/// `None` if a number of this type can receive SMS, else the kind to name in the error.
fn sms_capability(kind: Type) -> Option<&'static str> {
    match kind {
        Type::Mobile
        | Type::FixedLineOrMobile
        | Type::PersonalNumber
        | Type::Voip
        | Type::Pager
        | Type::Unknown => None,
        Type::FixedLine => Some("a landline"),
        Type::TollFree => Some("a toll-free number"),
        Type::PremiumRate => Some("a premium-rate number"),
        Type::SharedCost => Some("a shared-cost number"),
        Type::Voicemail => Some("a voicemail access number"),
        Type::Uan
        | Type::Emergency
        | Type::ShortCode
        | Type::StandardRate
        | Type::Carrier
        | Type::NoInternational => Some("a service number"),
    }
}

/// The Subject text covered by `tokens` (non-empty, in order).
fn span<'a>(s: &'a str, tokens: &[Token<'a>]) -> &'a str {
    match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => s.get(first.start..last.end).unwrap_or_default(),
        _ => "",
    }
}

// ---------------------------------------------------------------------------------------
// Echoing customer input in replies
// ---------------------------------------------------------------------------------------

/// Zero-width and bidirectional-control characters: invisible, and able to make an echoed
/// token read differently from what it is.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A token made safe to quote in a one-line SMTP reply: no control or invisible characters,
/// at most [`MAX_ECHO_CHARS`] characters (an ellipsis marks the cut), no quote to confuse
/// the surrounding quotes.
fn echo(tok: &str) -> String {
    let mut clean = tok
        .chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
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
    use phonenumber::country::Id::{ES, JP, US};

    fn email(s: &str) -> Destination {
        Destination::Email(s.into())
    }
    fn phone(s: &str) -> Destination {
        Destination::Phone(s.into())
    }
    fn ok(subject: &str) -> ParsedSubject {
        match parse_subject(subject, ES) {
            Ok(p) => p,
            Err(e) => panic!("{subject:?}: {e}"),
        }
    }
    fn err(subject: &str) -> SubjectError {
        match parse_subject(subject, ES) {
            Ok(p) => panic!("{subject:?} parsed as {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn email_then_text() {
        let p = ok("bob@example.test Rental contract");
        assert_eq!(p.destinations, vec![email("bob@example.test")]);
        assert_eq!(p.text, "Rental contract");
    }

    #[test]
    fn email_and_phone_then_text() {
        let p = ok("bob@example.com +34600111222 Rental contract");
        assert_eq!(
            p.destinations,
            vec![email("bob@example.com"), phone("+34600111222")]
        );
        assert_eq!(p.text, "Rental contract");
    }

    #[test]
    fn phone_spellings_normalise_to_e164() {
        for s in [
            "+34600111222",
            "+34 600 111 222",
            "600111222",
            "600 111 222",
            "(+34) 600-111-222",
            "(+34)600111222",
            "0034600111222",
            "0034 600 111 222",
            "+34.600.111.222",
            "＋３４ ６００ １１１ ２２２",
            "６００‐１１１‐２２２",
        ] {
            let p = ok(&format!("{s} Contrato"));
            assert_eq!(p.destinations, vec![phone("+34600111222")], "{s}");
            assert_eq!(p.text, "Contrato", "{s}");
        }
    }

    #[test]
    fn japanese_mobile_with_katakana_hyphens_in_jp_region() {
        let p = parse_subject("０９０ー１２３４ー５６７８　賃貸契約書", JP).unwrap();
        assert_eq!(p.destinations, vec![phone("+819012345678")]);
        assert_eq!(p.text, "賃貸契約書");
    }

    #[test]
    fn greedy_join_stops_at_text_and_keeps_numbers_in_text() {
        let p = ok("+34 600 111 222 Contrato 2025");
        assert_eq!(p.destinations, vec![phone("+34600111222")]);
        assert_eq!(p.text, "Contrato 2025");

        // A following digit group that would make the number invalid stays in the text.
        let p = ok("600 111 222 2025 alquiler");
        assert_eq!(p.destinations, vec![phone("+34600111222")]);
        assert_eq!(p.text, "2025 alquiler");

        let p = ok("bob@example.test 2025 alquiler");
        assert_eq!(p.text, "2025 alquiler");
    }

    #[test]
    fn two_numbers_in_a_row() {
        let p = ok("+34 600 111 222 +34 611 222 333 Contrato");
        assert_eq!(
            p.destinations,
            vec![phone("+34600111222"), phone("+34611222333")]
        );
        let p = ok("600111222, 611222333; bob@example.test Contrato");
        assert_eq!(p.destinations.len(), 3);
        assert_eq!(p.text, "Contrato");
    }

    #[test]
    fn us_numbers_are_fixed_line_or_mobile_and_accepted() {
        let p = ok("+1 201 555 0123 lease");
        assert_eq!(p.destinations, vec![phone("+12015550123")]);
        let p = parse_subject("(201) 555-0123 lease", US).unwrap();
        assert_eq!(p.destinations, vec![phone("+12015550123")]);
        assert_eq!(p.text, "lease");
    }

    #[test]
    fn spanish_7xx_mobiles_and_personal_numbers_accepted() {
        assert_eq!(
            ok("+34712345678 x").destinations,
            vec![phone("+34712345678")]
        );
        assert_eq!(ok("700111222 x").destinations, vec![phone("+34700111222")]);
    }

    #[test]
    fn landline_is_refused() {
        let e = err("+34 912 345 678 Contrato");
        assert_eq!(
            e,
            SubjectError::NotMobile {
                token: "+34 912 345 678".into(),
                number: "+34912345678".into(),
                kind: "a landline",
            }
        );
        let r = e.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.1.3"));
        assert!(
            r.text.contains("is a landline and cannot receive SMS"),
            "{}",
            r.text
        );
        assert!(matches!(
            err("912345678 x"),
            SubjectError::NotMobile {
                kind: "a landline",
                ..
            }
        ));
        assert!(matches!(
            err("+442079460000 x"),
            SubjectError::NotMobile {
                kind: "a landline",
                ..
            }
        ));
    }

    #[test]
    fn service_numbers_are_refused() {
        assert!(matches!(
            err("900123456 x"),
            SubjectError::NotMobile {
                kind: "a toll-free number",
                ..
            }
        ));
        assert!(matches!(
            err("+34 901 123 456 x"),
            SubjectError::NotMobile {
                kind: "a shared-cost number",
                ..
            }
        ));
    }

    #[test]
    fn invalid_numbers_name_the_token_and_why() {
        match err("+34 600 111 22 Contrato") {
            SubjectError::InvalidPhone { token, reason } => {
                assert_eq!(token, "+34 600 111 22");
                assert!(reason.contains("numbering plan"), "{reason}");
            }
            e => panic!("{e:?}"),
        }
        match err("+999 600111222 x") {
            SubjectError::InvalidPhone { reason, .. } => assert!(reason.contains("country code")),
            e => panic!("{e:?}"),
        }
        match err("12345678 x") {
            SubjectError::InvalidPhone { token, reason } => {
                assert_eq!(token, "12345678");
                assert!(reason.contains("ES"), "{reason}");
            }
            e => panic!("{e:?}"),
        }
        match err("+34 x") {
            SubjectError::InvalidPhone { token, .. } => assert_eq!(token, "+34"),
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            err("bob@example.test 2025-01-15 x"),
            SubjectError::InvalidPhone { .. }
        ));
    }

    #[test]
    fn angle_brackets_and_case() {
        let p = ok("<Bob.Smith@Example.TEST>, <carol@example.test>: Contract");
        assert_eq!(
            p.destinations,
            vec![email("Bob.Smith@example.test"), email("carol@example.test")]
        );
        assert_eq!(p.text, "Contract");
        assert!(matches!(
            err("<bob@example.test x"),
            SubjectError::InvalidEmail { .. }
        ));
    }

    #[test]
    fn utf8_and_full_width_addresses() {
        let p = ok("ñandú@correo.example Contrato");
        assert_eq!(p.destinations, vec![email("ñandú@correo.example")]);
        let p = ok("用户@例子.广告 契約");
        assert_eq!(p.destinations, vec![email("用户@例子.广告")]);
        let p = ok("ｂｏｂ＠ｅｘａｍｐｌｅ．ｔｅｓｔ　契約書");
        assert_eq!(p.destinations, vec![email("bob@example.test")]);
        assert_eq!(p.text, "契約書");
    }

    #[test]
    fn malformed_emails_name_the_token() {
        for (s, why) in [
            ("@example.test", "nothing before"),
            ("bob@", "no domain"),
            ("bob@@example.test", "more than one"),
            ("bob@example", "without a dot"),
            ("bob@example..test", "misplaced dot"),
            ("bob@.example.test", "misplaced dot"),
            ("bob@example.test.", "misplaced dot"),
            (".bob@example.test", "misplaced dot"),
            ("bo..b@example.test", "misplaced dot"),
            ("bob@-example.test", "'-'"),
            ("bob@exa_mple.test", "not allowed in a domain"),
            ("bo(b@example.test", "not allowed before"),
            ("bob@1.2.3.4", "numeric"),
            ("Re:bob@example.test", "Re:"),
        ] {
            match err(&format!("{s} Contract")) {
                SubjectError::InvalidEmail { token, reason } => {
                    assert_eq!(token, s);
                    assert!(reason.contains(why), "{s}: {reason}");
                }
                SubjectError::ReplyOrForward { prefix } => assert_eq!(prefix, why),
                e => panic!("{s}: {e:?}"),
            }
        }
        let long = format!("{}@example.test", "a".repeat(65));
        assert!(matches!(err(&long), SubjectError::InvalidEmail { .. }));
    }

    #[test]
    fn separators_end_the_list() {
        for s in [
            "bob@example.test: Contract",
            "bob@example.test : Contract",
            "bob@example.test - Contract",
            "bob@example.test — Contract",
            "bob@example.test :Contract",
            "+34600111222: Contract",
            "+34 600 111 222: Contract",
        ] {
            let p = ok(s);
            assert_eq!(p.destinations.len(), 1, "{s}");
            assert_eq!(p.text, "Contract", "{s}");
        }
        // After a colon, even an address is text.
        let p = ok("bob@example.test: carol@example.test will sign");
        assert_eq!(p.destinations, vec![email("bob@example.test")]);
        assert_eq!(p.text, "carol@example.test will sign");
    }

    #[test]
    fn duplicates_removed_order_kept() {
        let p = ok("+34600111222 bob@example.test 600 111 222 bob@EXAMPLE.test x");
        assert_eq!(
            p.destinations,
            vec![phone("+34600111222"), email("bob@example.test")]
        );
        assert_eq!(p.text, "x");
    }

    #[test]
    fn at_most_ten_destinations() {
        let ten: Vec<String> = (0..10).map(|i| format!("u{i}@example.test")).collect();
        let p = ok(&format!("{} x", ten.join(" ")));
        assert_eq!(p.destinations.len(), 10);
        let e = err(&format!("{} u10@example.test x", ten.join(" ")));
        assert_eq!(e, SubjectError::TooManyDestinations { max: 10 });
        let r = e.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.5.3"));
        // Duplicates do not count.
        let p = ok(&format!("{} u0@example.test x", ten.join(" ")));
        assert_eq!(p.destinations.len(), 10);
    }

    #[test]
    fn no_destination() {
        for s in [
            "",
            "   ",
            "Rental contract bob@example.test",
            "2025 contract",
            ": x",
            "-",
            ",;",
        ] {
            assert_eq!(err(s), SubjectError::NoDestination, "{s:?}");
        }
        let r = SubjectError::NoDestination.reply();
        assert_eq!((r.code, r.enhanced), (550, "5.1.3"));
        assert_eq!(
            r.text,
            "The Subject must start with the counterparty's email address and/or mobile number, \
             e.g. 'bob@example.com +34600111222 Rental contract'"
        );
    }

    #[test]
    fn reply_and_forward_prefixes_are_refused() {
        for (s, prefix) in [
            ("Re: bob@example.test x", "Re:"),
            ("FWD: bob@example.test x", "FWD:"),
            ("RV: +34600111222 x", "RV:"),
            ("AW: x", "AW:"),
            ("Re[2]: x", "Re[2]:"),
            ("Fw：契約", "Fw："),
        ] {
            assert_eq!(
                err(s),
                SubjectError::ReplyOrForward {
                    prefix: prefix.into()
                },
                "{s}"
            );
        }
        assert!(err("Re: x").reply().text.contains("new message"));
    }

    #[test]
    fn destination_only_has_empty_text() {
        assert_eq!(ok("bob@example.test").text, "");
        assert_eq!(ok("  +34600111222  ").text, "");
    }

    #[test]
    fn text_in_any_language_survives_unchanged() {
        let p = ok("bob@example.test  賃貸契約書（２０２５年）  ");
        assert_eq!(p.text, "賃貸契約書（２０２５年）");
        let p = ok("+34600111222 Contrato de arrendamiento: Año 2025, ñandú; «cláusulas»");
        assert_eq!(
            p.text,
            "Contrato de arrendamiento: Año 2025, ñandú; «cláusulas»"
        );
        let p = ok("bob@example.test、carol@example.test　契約");
        assert_eq!(p.destinations.len(), 2);
        assert_eq!(p.text, "契約");
    }

    #[test]
    fn replies_are_one_safe_line() {
        let nasty = format!("{}\u{202E}\x07\x1b'@x", "a".repeat(300));
        let e = err(&format!("{nasty} x"));
        let SubjectError::InvalidEmail { token, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(token.chars().count(), MAX_ECHO_CHARS + 1, "{token}");
        assert!(token.ends_with('…'));
        let text = e.reply().text;
        assert!(text.chars().count() < 400, "{text}");
        assert!(
            !text.chars().any(|c| c.is_control() || is_invisible(c)),
            "{text:?}"
        );
        let phone = format!("+{} x", "1".repeat(200));
        let text = err(&phone).reply().text;
        assert!(text.chars().count() < 400 && !text.contains('\n'));
    }

    #[test]
    fn every_error_reply_fits_on_a_line() {
        let long = "x".repeat(500);
        let errors = [
            SubjectError::NoDestination,
            SubjectError::ReplyOrForward { prefix: echo(&long) },
            SubjectError::InvalidEmail { token: echo(&long), reason: "has no '@'" },
            SubjectError::InvalidPhone {
                token: echo(&long),
                reason: "no such number exists in ES; write foreign numbers with '+' and the country code".into(),
            },
            SubjectError::NotMobile { token: echo(&long), number: "+34912345678".into(), kind: "a premium-rate number" },
            SubjectError::TooManyDestinations { max: MAX_DESTINATIONS },
        ];
        for e in errors {
            let r = e.reply();
            assert!(r.text.chars().count() < 400, "{}", r.text);
            assert!(!r.text.contains(['\r', '\n']));
        }
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

    /// The logic of the `subject` fuzz target, run on stable: random strings drawn from an
    /// alphabet rich in the characters the grammar cares about must never panic.
    #[test]
    fn never_panics_on_pseudo_random_subjects() {
        const ALPHABET: &[char] = &[
            '0', '1', '6', '9', '+', '(', ')', '-', '.', ' ', ',', ';', ':', '@', '<', '>', 'a',
            'Z', 'é', '契', '＋', '３', '＠', 'ー', '\u{3000}', '\u{202E}', '\r', '\n', '\0', '—',
            '：', '[', 'R', 'e', 'x', '_',
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2000 {
            let len = (rng.next() % 60) as usize;
            let s: String = (0..len)
                .map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize])
                .collect();
            for region in [ES, US, JP] {
                if let Err(e) = parse_subject(&s, region) {
                    let r = e.reply();
                    assert!(r.text.chars().count() < 400 && !r.text.contains(['\r', '\n']));
                }
            }
        }
        // Arbitrary code points too.
        for _ in 0..500 {
            let len = (rng.next() % 40) as usize;
            let s: String = (0..len)
                .filter_map(|_| char::from_u32((rng.next() % 0x11_0000) as u32))
                .collect();
            let _ = parse_subject(&s, ES);
        }
    }
}
