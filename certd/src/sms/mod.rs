//! The SMS leg: what goes into an SMS (this module), how it reaches the gateway
//! ([`gateway`]) and how delivery reports and answers come back ([`callback`]).
//!
//! The rules here are pure and unit-tested:
//! * **Encoding** (3GPP TS 23.038): text made only of the GSM 7-bit default alphabet and its
//!   extension table goes as GSM-7 (160 septets, 153 per part when concatenated; extension
//!   characters such as `€` or `[` cost two septets); anything else goes as UCS-2 (70 UTF-16
//!   units, 67 per part). Kannel needs to be told (`coding=2`), or it silently replaces
//!   characters it cannot map (`á` → `?`).
//! * **Length**: a request never exceeds [`MAX_PARTS`] parts; the subject is shortened first,
//!   because the contract code and the answer instructions are what the phone must keep.
//! * **Contract code**: six characters from an alphabet without look-alikes (no 0/O, 1/I/L,
//!   2/Z, 5/S, 8/B), so it survives being read aloud or retyped, with at least one digit and
//!   one letter, so that no word ("ACCEPT") is ever taken for a code. An answer must come from the
//!   destination's number *and* carry its code: the code alone is not a secret, the number
//!   alone is ambiguous when one phone has several open contracts.

pub mod callback;
pub mod gateway;

use crate::answer::lexicon::{SMS_ACCEPT, SMS_REJECT};
use crate::lifecycle::Decision;
use rand::Rng;

/// Longest request, in concatenated parts (6 × 153 GSM-7 septets, 6 × 67 UCS-2 units).
pub const MAX_PARTS: usize = 6;

/// Alphabet of contract codes: 26 characters that cannot be mistaken for one another.
const CODE_ALPHABET: &[u8] = b"ACDEFGHJKLMNPQRTUVWXY34679";
/// Length of a contract code: 26^6 ≈ 3·10^8 codes per phone number.
pub const CODE_LEN: usize = 6;

/// How an SMS is encoded on the air interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coding {
    Gsm7,
    Ucs2,
}

impl Coding {
    /// As recorded in the evidence.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gsm7 => "gsm7",
            Coding::Ucs2 => "ucs2",
        }
    }

    /// Kannel's `coding` parameter: 0 = 7-bit, 2 = UCS-2.
    pub fn kannel(self) -> u8 {
        match self {
            Coding::Gsm7 => 0,
            Coding::Ucs2 => 2,
        }
    }
}

/// The GSM 03.38 default alphabet (one septet each), escape excluded.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: escape + character, two septets each.
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// Septets `c` costs in GSM-7, or `None` if GSM-7 cannot carry it.
fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The size of a text on the air.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Measure {
    pub coding: Coding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub parts: usize,
}

/// Measures `text`: the encoding it needs, its length in that encoding, and the number of
/// parts once concatenated.
pub fn measure(text: &str) -> Measure {
    let gsm: Option<usize> = text.chars().map(gsm7_septets).sum();
    let (coding, units, single, multi) = match gsm {
        Some(septets) => (Coding::Gsm7, septets, 160, 153),
        None => (Coding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let parts = if units <= single {
        1
    } else {
        units.div_ceil(multi)
    };
    Measure {
        coding,
        units,
        parts,
    }
}

/// A fresh contract code.
pub fn new_code() -> String {
    let mut rng = rand::rng();
    loop {
        let code: String = (0..CODE_LEN)
            .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
            .collect();
        if is_code(&code) {
            return code;
        }
    }
}

/// Whether `w` (upper case) has the shape of a contract code.
fn is_code(w: &str) -> bool {
    w.len() == CODE_LEN
        && w.bytes().all(|b| CODE_ALPHABET.contains(&b))
        && w.bytes().any(|b| b.is_ascii_digit())
        && w.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Words of `text` that have the shape of a contract code (case-insensitive).
pub fn find_codes(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .map(|w| w.to_ascii_uppercase())
        .filter(|w| is_code(w))
        .collect()
}

/// What an inbound SMS says before the store matches it: its identity across the gateway's
/// retries, its sender in E.164 and the words shaped like a contract code.
pub fn read(m: &crate::store::MoReport) -> crate::store::SmsReading {
    use sha2::Digest;
    let dedupe_key = match &m.gateway_id {
        Some(id) if !id.is_empty() => format!("gw:{id}"),
        _ => {
            let mut h = sha2::Sha256::new();
            for part in [
                m.sender.as_str(),
                m.receiver.as_deref().unwrap_or(""),
                m.gateway_time.as_deref().unwrap_or(""),
                m.text.as_str(),
            ] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            format!("sha256:{}", hex::encode(h.finalize()))
        }
    };
    crate::store::SmsReading {
        dedupe_key,
        sender: normalize_number(&m.sender),
        codes: find_codes(&m.text),
    }
}

/// A sender number as the gateway passed it, in E.164 (`+34600111222`), or `None` when it is
/// not a plausible international number (short codes, alphanumeric senders).
pub fn normalize_number(raw: &str) -> Option<String> {
    let s: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = if let Some(rest) = s.strip_prefix('+') {
        rest
    } else if let Some(rest) = s.strip_prefix("00") {
        rest
    } else {
        s.as_str()
    };
    let plausible = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    plausible.then(|| format!("+{digits}"))
}

/// What an SMS answer says, once the contract code is removed. A bare keyword ("YES",
/// "ACEPTO", "はい", "NO") decides; anything longer goes through the same classifier as
/// email replies, so "no acepto" or "sí, pero…" are read the same way on both channels.
pub fn decision(text: &str) -> Decision {
    let words: Vec<String> = text
        .split(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '.' | ',' | '!' | '¡' | ':' | ';' | '、' | '。' | '「' | '」' | '！'
                )
        })
        .filter(|w| !w.is_empty())
        .filter(|w| find_codes(w).is_empty())
        .map(str::to_lowercase)
        .collect();
    let all_in =
        |set: &[&str]| !words.is_empty() && words.iter().all(|w| set.contains(&w.as_str()));
    if all_in(SMS_ACCEPT) {
        return Decision::Accept;
    }
    if all_in(SMS_REJECT) {
        return Decision::Reject;
    }
    let rest = words.join(" ");
    match crate::answer::classify(&crate::answer::own_words(&rest)) {
        crate::answer::Verdict::Accept => Decision::Accept,
        crate::answer::Verdict::Reject => Decision::Reject,
        crate::answer::Verdict::Unclear => Decision::Unclear,
    }
}

/// What a request SMS says.
#[derive(Clone, Debug)]
pub struct RequestText<'a> {
    pub language: &'a str,
    pub operator: &'a str,
    /// The customer as the counterparty knows them: name and address.
    pub customer: &'a str,
    pub code: &'a str,
    pub serial: u64,
    pub subject: &'a str,
    /// Email destinations of the same contract: where the full text went.
    pub emails: &'a [String],
    /// Deadline, e.g. `2026-11-27 10:00 UTC`.
    pub deadline: &'a str,
}

fn lang(language: &str) -> &str {
    match language.split(['-', '_']).next().unwrap_or("") {
        "es" => "es",
        "ja" => "ja",
        _ => "en",
    }
}

/// The request SMS, at most [`MAX_PARTS`] parts: the subject is shortened if needed.
pub fn request_text(r: &RequestText<'_>) -> String {
    let subject: Vec<char> = r.subject.chars().collect();
    let mut keep = subject.len();
    loop {
        let mut s: String = subject[..keep].iter().collect();
        if keep < subject.len() {
            s.push_str("...");
        }
        let text = request_with_subject(r, &s);
        if measure(&text).parts <= MAX_PARTS || keep == 0 {
            return text;
        }
        keep = keep.saturating_sub(10.max(keep / 4));
    }
}

fn request_with_subject(r: &RequestText<'_>, subject: &str) -> String {
    let (op, who, code, serial, dl) = (r.operator, r.customer, r.code, r.serial, r.deadline);
    let emails = r.emails.join(", ");
    match lang(r.language) {
        "es" => {
            let where_ = if r.emails.is_empty() {
                "El texto completo no va por SMS: pídalo al remitente.".to_string()
            } else {
                format!("Texto completo enviado a {emails}.")
            };
            format!(
                "{op}: {who} le pide aceptar el contrato {code} (n. {serial}) \"{subject}\". \
                 {where_} Responda ACEPTO {code} o RECHAZO {code} antes del {dl}."
            )
        }
        "ja" => {
            let where_ = if r.emails.is_empty() {
                "全文はSMSでは送られません。送信者にお問い合わせください。".to_string()
            } else {
                format!("全文は{emails}に送信済みです。")
            };
            format!(
                "{op}: {who}から契約{code}（番号{serial}）「{subject}」の承諾依頼です。\
                 {where_}承諾は「はい {code}」、拒否は「いいえ {code}」と{dl}までに返信してください。"
            )
        }
        _ => {
            let where_ = if r.emails.is_empty() {
                "The full text is not sent by SMS: ask the sender for it.".to_string()
            } else {
                format!("Full text sent to {emails}.")
            };
            format!(
                "{op}: {who} asks you to accept contract {code} (no. {serial}) \"{subject}\". \
                 {where_} Reply YES {code} to accept or NO {code} to reject by {dl}."
            )
        }
    }
}

/// After an unclear SMS answer: how to answer clearly.
pub fn clarification_text(language: &str, operator: &str, code: &str) -> String {
    match lang(language) {
        "es" => format!(
            "{operator}: no entendimos su respuesta al contrato {code}. Responda ACEPTO {code} o RECHAZO {code}."
        ),
        "ja" => format!(
            "{operator}: 契約{code}へのご回答を判断できませんでした。「はい {code}」または「いいえ {code}」と返信してください。"
        ),
        _ => format!(
            "{operator}: we could not read your answer to contract {code}. Reply YES {code} or NO {code}."
        ),
    }
}

/// After a deciding SMS answer: what was recorded.
pub fn confirmation_text(language: &str, operator: &str, code: &str, accepted: bool) -> String {
    match (lang(language), accepted) {
        ("es", true) => format!("{operator}: registrada su ACEPTACION del contrato {code}. El remitente recibe el certificado."),
        ("es", false) => format!("{operator}: registrado su RECHAZO del contrato {code}. El remitente recibe el certificado."),
        ("ja", true) => format!("{operator}: 契約{code}の承諾を記録しました。証明書は送信者に送られます。"),
        ("ja", false) => format!("{operator}: 契約{code}の拒否を記録しました。証明書は送信者に送られます。"),
        (_, true) => format!("{operator}: your ACCEPTANCE of contract {code} is recorded. The sender receives the certificate."),
        (_, false) => format!("{operator}: your REJECTION of contract {code} is recorded. The sender receives the certificate."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_lengths_and_parts() {
        assert_eq!(
            measure("hello"),
            Measure {
                coding: Coding::Gsm7,
                units: 5,
                parts: 1
            }
        );
        // Spanish letters that GSM-7 has stay GSM-7.
        assert_eq!(measure("¿Año? ñ é ¡").coding, Coding::Gsm7);
        assert_eq!(measure(&"a".repeat(160)).parts, 1);
        assert_eq!(measure(&"a".repeat(161)).parts, 2);
        assert_eq!(measure(&"a".repeat(306)).parts, 2);
        assert_eq!(measure(&"a".repeat(307)).parts, 3);
        // Extension characters cost two septets.
        assert_eq!(measure("€").units, 2);
        assert_eq!(measure(&"€".repeat(80)).parts, 1);
        assert_eq!(measure(&"€".repeat(81)).parts, 2);
    }

    #[test]
    fn ucs2_when_gsm7_cannot_carry_it() {
        // á is not in GSM-7: the whole text goes as UCS-2.
        let m = measure("está");
        assert_eq!((m.coding, m.units), (Coding::Ucs2, 4));
        assert_eq!(measure(&"日".repeat(70)).parts, 1);
        assert_eq!(measure(&"日".repeat(71)).parts, 2);
        assert_eq!(measure(&"日".repeat(300)).parts, 5);
        // Outside the BMP: two UTF-16 units.
        assert_eq!(measure("😀").units, 2);
        assert_eq!(Coding::Ucs2.kannel(), 2);
        assert_eq!(Coding::Gsm7.kannel(), 0);
    }

    #[test]
    fn codes_are_well_formed_and_found() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), CODE_LEN);
            assert_eq!(find_codes(&format!("yes {}", c.to_lowercase())), vec![c]);
        }
        assert_eq!(find_codes("ACEPTO 7K3QXP."), vec!["7K3QXP"]);
        // Look-alike characters are never part of a code: "HELLO1" is not one.
        assert!(find_codes("HELLO1 ACCEPT").is_empty());
        assert!(
            find_codes("777777 AAAAAA").is_empty(),
            "needs a digit and a letter"
        );
        assert_eq!(decision("ACCEPT 7K3QXP"), Decision::Accept);
        assert!(find_codes("7K3QX 7K3QXPP").is_empty());
    }

    #[test]
    fn numbers_are_normalized_to_e164() {
        assert_eq!(
            normalize_number("+34600111222").as_deref(),
            Some("+34600111222")
        );
        assert_eq!(
            normalize_number("34600111222").as_deref(),
            Some("+34600111222")
        );
        assert_eq!(
            normalize_number("0034 600 111 222").as_deref(),
            Some("+34600111222")
        );
        assert_eq!(normalize_number("22123"), None, "short code");
        assert_eq!(normalize_number("ACME"), None, "alphanumeric sender");
        assert_eq!(normalize_number("+0123456789"), None);
        assert_eq!(normalize_number(""), None);
    }

    #[test]
    fn answers_on_sms() {
        for t in [
            "YES 7K3QXP",
            "acepto 7k3qxp",
            "Sí 7K3QXP",
            "はい 7K3QXP",
            "7K3QXP OK",
        ] {
            assert_eq!(decision(t), Decision::Accept, "{t}");
        }
        for t in [
            "NO 7K3QXP",
            "Rechazo 7K3QXP",
            "いいえ 7K3QXP",
            "no acepto 7K3QXP",
        ] {
            assert_eq!(decision(t), Decision::Reject, "{t}");
        }
        for t in [
            "7K3QXP",
            "YES NO 7K3QXP",
            "maybe 7K3QXP",
            "¿qué es esto?",
            "",
        ] {
            assert_eq!(decision(t), Decision::Unclear, "{t}");
        }
    }

    fn request(language: &str, subject: &str, emails: &[String]) -> String {
        request_text(&RequestText {
            language,
            operator: "certmail",
            customer: "Alice <alice@example.test>",
            code: "7K3QXP",
            serial: 42,
            subject,
            emails,
            deadline: "2026-11-27 10:00 UTC",
        })
    }

    #[test]
    fn request_names_code_serial_and_where_the_text_is() {
        let emails = vec!["bob@example.test".to_string()];
        let en = request("en", "Sale of the car", &emails);
        assert!(
            en.contains("YES 7K3QXP") && en.contains("NO 7K3QXP"),
            "{en}"
        );
        assert!(
            en.contains("no. 42") && en.contains("bob@example.test"),
            "{en}"
        );
        assert_eq!(measure(&en).coding, Coding::Gsm7);
        let phone_only = request("en", "Sale of the car", &[]);
        assert!(phone_only.contains("ask the sender"), "{phone_only}");
        let es = request("es", "Venta del coche", &emails);
        assert!(
            es.contains("ACEPTO 7K3QXP") && es.contains("RECHAZO 7K3QXP"),
            "{es}"
        );
        assert_eq!(decision("ACEPTO 7K3QXP"), Decision::Accept);
        let ja = request("ja", "車の売買", &emails);
        assert!(ja.contains("はい 7K3QXP"), "{ja}");
        assert_eq!(measure(&ja).coding, Coding::Ucs2);
    }

    #[test]
    fn long_subjects_are_shortened_to_the_part_limit() {
        for (language, unit) in [("en", "word "), ("es", "árbol "), ("ja", "長い件名")] {
            let subject = unit.repeat(400);
            let text = request(language, &subject, &[]);
            let m = measure(&text);
            assert!(m.parts <= MAX_PARTS, "{language}: {m:?}");
            assert!(text.contains("..."), "{language}");
            assert!(text.contains("7K3QXP"), "the code survives: {text}");
        }
    }

    #[test]
    fn follow_up_texts() {
        for l in ["en", "es", "ja"] {
            assert!(clarification_text(l, "op", "7K3QXP").contains("7K3QXP"));
            assert!(confirmation_text(l, "op", "7K3QXP", true).contains("7K3QXP"));
            assert_ne!(
                confirmation_text(l, "op", "7K3QXP", true),
                confirmation_text(l, "op", "7K3QXP", false)
            );
        }
    }
}
