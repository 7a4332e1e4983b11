//! Reading a counterparty's answer: what did *they* write, and does it accept or reject?
//!
//! The verdict is legal evidence: it turns a contract into "accepted" or "rejected" for
//! good. A wrong `Accept` binds someone to a contract they did not accept; a wrong
//! `Reject` kills a deal. A wrong [`Verdict::Unclear`] only costs one polite round trip
//! (certd asks again for the single word ACCEPT or REJECT). So every rule below leans
//! towards `Unclear` whenever the text is not plainly one or the other.
//!
//! Both functions are pure (no I/O) and never panic, whatever the input.
//!
//! # [`own_words`]: the counterparty's own words
//!
//! A reply usually carries our request (with its "reply ACCEPT / reply REJECT"
//! instructions) below the answer. None of that may count, so own_words removes:
//!
//! * quoted lines: every line starting with `>` (any depth, `> >`, also full-width `＞`);
//! * everything from a quote header onward: attribution lines ending in `wrote:`,
//!   `escribió:`, `書きました:` (and a few other languages), also when the client wrapped
//!   the attribution over two or three lines ("On Wed, …, Alice <" / "alice@x> wrote:");
//!   Japanese Gmail's `2026年11月25日(水) 10:00 Alice <a@b>:`; any `Name <addr@host>:`
//!   line; Outlook's `-----Original Message-----` / `-----Mensaje original-----` /
//!   forwarded-message markers; `From:`/`De:`/`差出人:` header blocks followed within a
//!   few lines by `Sent:`/`Date:`/`Enviado:`/`Fecha:`/`送信日時:`; a line of ten or more
//!   underscores (Outlook's separator);
//! * everything from a signature separator (a line that is exactly `-- ` or `--`) or a
//!   mobile footer ("Sent from my iPhone", "Enviado desde mi iPhone", "iPhoneから送信", …).
//!
//! Text *below* a quote header is dropped even if it is not quoted, because clients that
//! render HTML replies often drop the `>` markers of the original; a bottom-posted answer
//! is therefore lost and the verdict is `Unclear` (we ask again) rather than risking our
//! own instructions being read as the answer. Trailing spaces, leading and trailing
//! blank lines and runs of blank lines are trimmed; invisible characters (BOM, zero-width
//! spaces) are removed and non-breaking spaces become spaces.
//!
//! # [`classify`]: the verdict
//!
//! The text is folded (lower case, Spanish accents stripped with a small table, full-width
//! ASCII to ASCII, curly apostrophes to `'`) and split into lines, sentences (`.`, `!`,
//! `;`, `。`, `?`, a blank line, or a line break not followed by a lower-case letter)
//! and clauses (`,`, `、`, `:`, brackets, quotes). Latin keywords are matched as whole words (so
//! "acceptance" is not "accept"); Japanese keywords are matched inside runs of CJK text
//! and must be followed by a recognised verb ending (`承諾します`, `同意いたしかねます`) or
//! nothing, so `同意書` (consent form) or `ご承諾ください` are not statements.
//!
//! * Accept: accept(ed/s), agree(d/s), approve(d); acepto, aceptado/a, aceptamos,
//!   de acuerdo, conforme(s), aprobado/a, apruebo, aprobamos; 承諾, 同意, 受諾, 了承, 承認.
//! * Reject: reject(ed), decline(d), refuse(d), disagree, unacceptable; rechazo,
//!   rechazado/a, rechazamos, inaceptable, desacuerdo; 拒否, お断り, 辞退, 拒絶.
//! * Short answers — yes, ok, okay, sí/si, はい (accept); no, いいえ (reject) — are
//!   decisive only when they are the only word on their line ("Ok", "No.", "Sí 👍").
//!   At the start of a sentence ("Ok, thanks", "No, acepto") they are *weak*: they decide
//!   nothing alone but contradict a decisive statement of the other polarity (→ Unclear).
//! * Negation wins: a negator (not, don't, can't, never, no, nunca, ni, …) up to four
//!   words before a positive keyword in the same clause turns it into a rejection ("I do
//!   not accept", "no estoy de acuerdo"), as does a Japanese negative ending
//!   (`承諾しません`, `同意いたしかねます`) or prefix (`不同意`). "acceptable"/"aceptable"
//!   alone is only weak, but a rejection when negated ("not acceptable"). A negated
//!   rejection ("I don't reject", `拒否しません`) or a double negation is ambiguous.
//!   "no problem", "no hay problema", "no doubt", … are not negations.
//! * Decision: *unacceptable* / *inaceptable* count as rejections: calling the contract
//!   unacceptable refuses it (and any counter-offer is, in law, a rejection of the offer).
//!   "acceptance", "accepting", "aceptar", "rechazar" (infinitives, nouns) are neutral:
//!   they appear in questions and in our own instructions more often than in answers.
//! * Questions do not decide: a keyword in a sentence that is a question (`?`, `¿`,
//!   Japanese `ですか`/`ますか`/`でしょうか` endings), or on a line that contains a question
//!   mark at all, does not count ("Acepto. ¿Cuándo recibo el certificado?" on one line is
//!   Unclear; on two lines it is Accept).
//! * Hedges (maybe, perhaps, might, could, would, I think, quizás, tal vez, creo,
//!   かもしれ, 多分, 検討, …) in the sentence make its statement ambiguous. Conditions
//!   (if, unless, but, except, provided, subject to, pero, salvo, siempre que, a Spanish
//!   conditional "si …", ただし, 場合, …が、) in an accepting sentence, or any sentence that
//!   *starts* with a reservation (but, however, pero, sin embargo, ただし, しかし, …), make
//!   an acceptance ambiguous: a conditional acceptance is a counter-offer, not consent. A
//!   rejection with a "but" ("Rechazo, pero gracias") stays a rejection.
//! * The first decisive statement decides, and every later one must agree: any decisive
//!   or weak statement of the other polarity, or any ambiguous statement, makes the
//!   verdict Unclear ("acepto... bueno no, rechazo"). No decisive statement: Unclear.

/// What the counterparty's own words say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Reject,
    Unclear,
}

// ---------------------------------------------------------------------------------------
// Folding
// ---------------------------------------------------------------------------------------

/// Folds one string: lower case, accents stripped, full-width ASCII to ASCII, odd spaces
/// and quotes unified, invisible characters removed. Each output character carries
/// whether an accent was stripped from it (to tell "sí", yes, from "si", if).
fn fold_chars(s: &str) -> Vec<(char, bool)> {
    let mut out: Vec<(char, bool)> = Vec::with_capacity(s.len());
    for c in s.chars() {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' | '\u{A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' => ' ',
            '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{AD}' => continue,
            '\u{2018}' | '\u{2019}' | '\u{00B4}' | '\u{0060}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{00AB}' | '\u{00BB}' => '"',
            '\u{0300}'..='\u{036F}' => {
                // A combining accent (decomposed text): drop it, remember it.
                if let Some(last) = out.last_mut() {
                    last.1 = true;
                }
                continue;
            }
            _ => c,
        };
        for l in c.to_lowercase() {
            let (base, stripped) = strip_accent(l);
            out.push((base, stripped));
        }
    }
    out
}

fn strip_accent(c: char) -> (char, bool) {
    let base = match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        _ => return (c, false),
    };
    (base, true)
}

fn fold(s: &str) -> String {
    fold_chars(s).into_iter().map(|(c, _)| c).collect()
}

/// Japanese (and other CJK) script: matched as runs, not as space-separated words.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}'   // hiragana, katakana
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified
        | '\u{F900}'..='\u{FAFF}' // compatibility ideographs
        | '\u{FF66}'..='\u{FF9F}' // half-width katakana
        | '\u{3005}' | '\u{3006}') // 々 〆
}

// ---------------------------------------------------------------------------------------
// own_words
// ---------------------------------------------------------------------------------------

/// The counterparty's own words: the reply's text with quoted text, forwarded originals
/// and signatures removed. See the module documentation for the exact rules.
pub fn own_words(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<String> = text.split('\n').map(clean_line).collect();
    // Folded, trimmed, with bold markers (`*From:*`) removed: for header detection.
    let folded: Vec<String> = lines
        .iter()
        .map(|l| fold(l).trim().trim_matches('*').trim().to_string())
        .collect();
    let end = cut_point(&lines, &folded);

    let mut out: Vec<&str> = Vec::new();
    for line in &lines[..end] {
        if is_quoted(line) {
            continue;
        }
        if line.trim().is_empty() {
            if out.last().is_some_and(|l| !l.is_empty()) {
                out.push("");
            }
        } else {
            out.push(line);
        }
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// Removes invisible characters, turns odd spaces into spaces, trims the end.
fn clean_line(line: &str) -> String {
    let cleaned: String = line
        .chars()
        .filter(|c| !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'))
        .map(|c| match c {
            '\u{A0}' | '\u{202F}' | '\u{2007}' => ' ',
            _ => c,
        })
        .collect();
    cleaned.trim_end().to_string()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with(['>', '＞'])
}

/// Index of the first line that is no longer the counterparty's own words.
fn cut_point(lines: &[String], folded: &[String]) -> usize {
    for i in 0..lines.len() {
        if is_quoted(&lines[i]) {
            continue;
        }
        let f = folded[i].as_str();
        if lines[i].trim_end() == "--" || is_mobile_footer(f) || is_separator(f) {
            return i;
        }
        if is_attribution_end(f) {
            return attribution_start(folded, i);
        }
        if is_name_address_line(f) || is_japanese_date_line(f) || is_from_block(folded, i) {
            return i;
        }
    }
    lines.len()
}

fn is_mobile_footer(f: &str) -> bool {
    const STARTS: &[&str] = &[
        "sent from my ",
        "sent from mail for",
        "sent from outlook",
        "sent from yahoo mail",
        "get outlook for ",
        "enviado desde mi ",
        "enviado desde outlook",
        "enviado desde yahoo",
        "enviado desde correo para",
        "obtener outlook para ",
    ];
    STARTS.iter().any(|s| f.starts_with(s)) || (f.ends_with("から送信") && f.chars().count() <= 40)
}

/// Outlook's underscore line and the original/forwarded message markers.
fn is_separator(f: &str) -> bool {
    if f.chars().count() >= 10 && f.chars().all(|c| c == '_') {
        return true;
    }
    const MARKERS: &[&str] = &[
        "original message",
        "mensaje original",
        "元のメッセージ",
        "forwarded message",
        "mensaje reenviado",
        "転送されたメッセージ",
        "転送メッセージ",
    ];
    let inner = f.trim_matches(|c: char| c == '-' || c == ' ' || c == ':' || c == '*');
    (f.starts_with("--") && MARKERS.contains(&inner))
        || ["begin forwarded message", "inicio del mensaje reenviado"].contains(&inner)
}

/// "… wrote:", "… escribió:", "…さんは書きました:" and friends.
fn is_attribution_end(f: &str) -> bool {
    let Some(body) = f.strip_suffix(':') else {
        return false;
    };
    let body = body.trim_end();
    const ENDINGS: &[&str] = &[
        "wrote",
        "escribio",
        "書きました",
        "schrieb",
        "a ecrit",
        "ha scritto",
        "escreveu",
        "skrev",
    ];
    ENDINGS.iter().any(|e| body.ends_with(e))
}

/// Where a (possibly wrapped) attribution begins, given the line where it ends.
fn attribution_start(folded: &[String], end: usize) -> usize {
    for back in 1..=2 {
        let Some(j) = end.checked_sub(back) else {
            break;
        };
        let f = folded[j].as_str();
        if f.is_empty() || f.starts_with(['>', '＞']) {
            break;
        }
        let opener = ["on ", "el ", "am ", "le ", "il ", "em "]
            .iter()
            .any(|o| f.starts_with(o))
            || f.starts_with(|c: char| c.is_ascii_digit());
        if opener {
            return j;
        }
    }
    end
}

/// `Alice <alice@example.com>:` — the tail of many clients' attribution lines.
fn is_name_address_line(f: &str) -> bool {
    f.ends_with(">:") && f.contains('<') && f.contains('@')
}

/// `2026年11月25日(水) 10:00 Alice <a@b>:` (Japanese Gmail).
fn is_japanese_date_line(f: &str) -> bool {
    f.starts_with(|c: char| c.is_ascii_digit())
        && f.contains('年')
        && f.contains('月')
        && f.contains('日')
        && f.ends_with(':')
}

/// `From: …` / `De: …` / `差出人: …` followed (on the same line or within six lines) by a
/// `Sent:` / `Date:` / `Enviado:` / `Fecha:` / `送信日時:` field.
fn is_from_block(folded: &[String], i: usize) -> bool {
    const FROM: &[&str] = &["from:", "de:", "差出人:", "送信者:", "von:"];
    const SENT: &[&str] = &[
        "sent:",
        "date:",
        "enviado:",
        "enviado el:",
        "fecha:",
        "送信日時:",
        "送信日:",
        "日時:",
        "gesendet:",
        "datum:",
    ];
    let f = folded[i].as_str();
    let Some(rest) = FROM.iter().find_map(|p| f.strip_prefix(p)) else {
        return false;
    };
    let is_sent = |s: &str| SENT.iter().any(|p| s.starts_with(p));
    if SENT.iter().any(|p| rest.contains(&format!(" {p}"))) {
        return true;
    }
    folded
        .iter()
        .skip(i + 1)
        .take(6)
        .any(|l| is_sent(l.trim_start_matches('*')))
}

// ---------------------------------------------------------------------------------------
// classify: parsing
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Word {
    text: String,
    /// An accent was stripped ("sí").
    accented: bool,
    cjk: bool,
    line: usize,
}

#[derive(Debug, Default)]
struct Sentence {
    clauses: Vec<Vec<Word>>,
    question: bool,
}

impl Sentence {
    fn words(&self) -> impl Iterator<Item = &Word> {
        self.clauses.iter().flatten()
    }

    fn first_word(&self) -> Option<&Word> {
        self.words().next()
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct LineInfo {
    question: bool,
    words: usize,
}

struct Parser {
    sentences: Vec<Sentence>,
    current: Sentence,
    lines: Vec<LineInfo>,
    word: String,
    word_accented: bool,
    word_cjk: bool,
    line: usize,
}

impl Parser {
    fn flush_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        if self.current.clauses.is_empty() {
            self.current.clauses.push(Vec::new());
        }
        if let Some(clause) = self.current.clauses.last_mut() {
            clause.push(Word {
                text: std::mem::take(&mut self.word),
                accented: self.word_accented,
                cjk: self.word_cjk,
                line: self.line,
            });
        }
        if let Some(info) = self.lines.get_mut(self.line) {
            info.words += 1;
        }
        self.word_accented = false;
    }

    fn push_char(&mut self, c: char, accented: bool, cjk: bool) {
        if !self.word.is_empty() && self.word_cjk != cjk {
            self.flush_word();
        }
        self.word.push(c);
        self.word_cjk = cjk;
        self.word_accented |= accented;
    }

    fn break_clause(&mut self) {
        self.flush_word();
        if self.current.clauses.last().is_some_and(|c| !c.is_empty()) {
            self.current.clauses.push(Vec::new());
        }
    }

    fn break_sentence(&mut self) {
        self.flush_word();
        self.current.clauses.retain(|c| !c.is_empty());
        let done = std::mem::take(&mut self.current);
        if !done.clauses.is_empty() {
            self.sentences.push(done);
        }
    }

    fn mark_question(&mut self) {
        self.current.question = true;
        if let Some(info) = self.lines.get_mut(self.line) {
            info.question = true;
        }
    }
}

fn parse(text: &str) -> (Vec<Sentence>, Vec<LineInfo>) {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let raw_lines: Vec<&str> = text.split('\n').collect();
    let mut p = Parser {
        sentences: Vec::new(),
        current: Sentence::default(),
        lines: vec![LineInfo::default(); raw_lines.len()],
        word: String::new(),
        word_accented: false,
        word_cjk: false,
        line: 0,
    };
    for (li, raw) in raw_lines.iter().enumerate() {
        p.flush_word();
        p.line = li;
        let trimmed = raw.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
        match trimmed.chars().next() {
            // A blank line ends a paragraph, hence a sentence.
            None => {
                p.break_sentence();
                continue;
            }
            // A line break before a lower-case letter is a wrapped sentence; before
            // anything else (a capital, a digit, Japanese) it starts a new one.
            Some(first) if !first.is_lowercase() => p.break_sentence(),
            Some(_) => {}
        }
        let chars = fold_chars(raw);
        for (k, &(c, accented)) in chars.iter().enumerate() {
            if is_cjk(c) {
                p.push_char(c, accented, true);
            } else if c.is_alphanumeric() {
                p.push_char(c, accented, false);
            } else if c == '\''
                && !p.word.is_empty()
                && !p.word_cjk
                && chars
                    .get(k + 1)
                    .is_some_and(|(n, _)| n.is_alphanumeric() && !is_cjk(*n))
            {
                p.word.push(c);
            } else {
                match c {
                    ',' | '、' | ':' | '(' | ')' | '"' | '「' | '」' | '『' | '』' | '/' | '<'
                    | '>' | '[' | ']' | '【' | '】' | '・' => p.break_clause(),
                    '.' | '!' | ';' | '。' | '…' | '¡' | '｡' => p.break_sentence(),
                    '?' => {
                        p.mark_question();
                        p.break_sentence();
                    }
                    '¿' => {
                        p.break_sentence();
                        p.mark_question();
                    }
                    _ => p.flush_word(),
                }
            }
        }
    }
    p.break_sentence();
    // Japanese questions often end without a question mark.
    for s in &mut p.sentences {
        if let Some(last) = s.words().last() {
            if last.cjk
                && ["ですか", "ますか", "でしょうか", "ませんか", "のか", "かな"]
                    .iter()
                    .any(|e| last.text.ends_with(e))
            {
                s.question = true;
            }
        }
    }
    (p.sentences, p.lines)
}

// ---------------------------------------------------------------------------------------
// classify: vocabulary
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Accept,
    Reject,
    /// "acceptable": says nothing alone, a rejection when negated.
    AcceptableIfNegated,
}

const LATIN_KEYWORDS: &[(&[&str], Kind)] = &[
    (&["accept"], Kind::Accept),
    (&["accepted"], Kind::Accept),
    (&["accepts"], Kind::Accept),
    (&["agree"], Kind::Accept),
    (&["agreed"], Kind::Accept),
    (&["agrees"], Kind::Accept),
    (&["approve"], Kind::Accept),
    (&["approved"], Kind::Accept),
    (&["acepto"], Kind::Accept),
    (&["aceptado"], Kind::Accept),
    (&["aceptada"], Kind::Accept),
    (&["aceptamos"], Kind::Accept),
    (&["de", "acuerdo"], Kind::Accept),
    (&["conforme"], Kind::Accept),
    (&["conformes"], Kind::Accept),
    (&["aprobado"], Kind::Accept),
    (&["aprobada"], Kind::Accept),
    (&["apruebo"], Kind::Accept),
    (&["aprobamos"], Kind::Accept),
    (&["reject"], Kind::Reject),
    (&["rejected"], Kind::Reject),
    (&["decline"], Kind::Reject),
    (&["declined"], Kind::Reject),
    (&["refuse"], Kind::Reject),
    (&["refused"], Kind::Reject),
    (&["disagree"], Kind::Reject),
    (&["unacceptable"], Kind::Reject),
    (&["rechazo"], Kind::Reject),
    (&["rechazado"], Kind::Reject),
    (&["rechazada"], Kind::Reject),
    (&["rechazamos"], Kind::Reject),
    (&["inaceptable"], Kind::Reject),
    (&["desacuerdo"], Kind::Reject),
    (&["acceptable"], Kind::AcceptableIfNegated),
    (&["aceptable"], Kind::AcceptableIfNegated),
];

const NEGATORS: &[&str] = &[
    "not",
    "no",
    "never",
    "don't",
    "dont",
    "doesn't",
    "doesnt",
    "didn't",
    "didnt",
    "won't",
    "wont",
    "can't",
    "cant",
    "cannot",
    "couldn't",
    "couldnt",
    "wouldn't",
    "wouldnt",
    "shouldn't",
    "shouldnt",
    "isn't",
    "isnt",
    "aren't",
    "arent",
    "wasn't",
    "wasnt",
    "haven't",
    "havent",
    "hasn't",
    "hasnt",
    "nor",
    "neither",
    "nunca",
    "jamas",
    "tampoco",
    "ni",
];

/// Words after "no" that make it not a negation of what follows ("no problem, I accept").
const NO_EXCEPTIONS: &[&str] = &[
    "problem",
    "problems",
    "problema",
    "problemas",
    "hay",
    "doubt",
    "doubts",
    "duda",
    "dudas",
    "dudes",
    "worries",
    "worry",
    "issue",
    "issues",
    "inconveniente",
    "inconvenientes",
    "objection",
    "objections",
    "objecion",
    "objeciones",
    "obstante",
];

const HEDGES: &[&[&str]] = &[
    &["maybe"],
    &["perhaps"],
    &["might"],
    &["could"],
    &["would"],
    &["i'd"],
    &["probably"],
    &["possibly"],
    &["think"],
    &["guess"],
    &["suppose"],
    &["quizas"],
    &["quiza"],
    &["tal", "vez"],
    &["a", "lo", "mejor"],
    &["posiblemente"],
    &["probablemente"],
    &["podria"],
    &["podriamos"],
    &["aceptaria"],
    &["aceptariamos"],
    &["rechazaria"],
    &["creo"],
    &["supongo"],
    &["pienso"],
];
const CJK_HEDGES: &[&str] = &["かもしれ", "たぶん", "多分", "検討", "おそらく"];

const CONDITIONS: &[&[&str]] = &[
    &["if"],
    &["unless"],
    &["provided"],
    &["providing"],
    &["except"],
    &["excepting"],
    &["but"],
    &["however"],
    &["although"],
    &["though"],
    &["subject", "to"],
    &["as", "long", "as"],
    &["on", "condition"],
    &["pero"],
    &["salvo"],
    &["excepto"],
    &["aunque"],
    &["mientras"],
    &["siempre", "que"],
    &["siempre", "y", "cuando"],
    &["sujeto", "a"],
    &["a", "condicion"],
    &["con", "la", "condicion"],
    &["sin", "embargo"],
    &["no", "obstante"],
];
const CJK_CONDITIONS: &[&str] = &[
    "ただし",
    "但し",
    "場合",
    "ならば",
    "けど",
    "けれど",
    "条件付き",
    "条件として",
    "を条件に",
];

/// Sentence openers that put a reservation on whatever was accepted.
const RESERVATIONS: &[&[&str]] = &[
    &["but"],
    &["however"],
    &["although"],
    &["though"],
    &["except"],
    &["nevertheless"],
    &["pero"],
    &["aunque"],
    &["salvo"],
    &["excepto"],
    &["sin", "embargo"],
    &["no", "obstante"],
];
const CJK_RESERVATIONS: &[&str] = &["ただし", "但し", "しかし", "でも", "ですが", "ただ"];

const CJK_ACCEPT: &[&str] = &["承諾", "同意", "受諾", "了承", "承認"];
const CJK_REJECT: &[&str] = &["拒否", "お断り", "辞退", "拒絶"];
/// Endings that make a Japanese keyword a statement ("承諾します").
const CJK_AFFIRMATIVE: &[&str] = &[
    "します",
    "いたします",
    "致します",
    "しました",
    "いたしました",
    "致しました",
    "する",
    "です",
    "でございます",
    "申し上げます",
    "いたしたく",
    "したく",
    "させていただきます",
    "させて頂きます",
    "させていただきました",
    "をいたします",
    "を致します",
    "をします",
    "済",
];
/// Endings that negate it ("承諾しません", "同意いたしかねます").
const CJK_NEGATIVE: &[&str] = &[
    "しません",
    "いたしません",
    "致しません",
    "しない",
    "できません",
    "出来ません",
    "できない",
    "出来ない",
    "いたしかね",
    "致しかね",
    "しかね",
    "しておりません",
    "はしません",
    "はいたしません",
    "せず",
];

// ---------------------------------------------------------------------------------------
// classify: decision
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Polarity {
    Accept,
    Reject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Statement {
    Decisive(Polarity),
    Weak(Polarity),
    Ambiguous,
}

/// Classifies the own words (the output of [`own_words`]). See the module documentation.
pub fn classify(own_words: &str) -> Verdict {
    let (sentences, lines) = parse(own_words);
    let mut accept = false;
    let mut reject = false;
    let mut weak_accept = false;
    let mut weak_reject = false;
    let mut ambiguous = false;
    let mut reservation = false;

    for s in &sentences {
        let latin: Vec<&str> = s
            .words()
            .filter(|w| !w.cjk)
            .map(|w| w.text.as_str())
            .collect();
        if let Some(first) = s.first_word() {
            reservation |= if first.cjk {
                CJK_RESERVATIONS.iter().any(|r| first.text.starts_with(r))
            } else {
                RESERVATIONS.iter().any(|r| latin.starts_with(r))
            };
        }
        if s.question {
            continue;
        }
        let statements: Vec<Statement> = sentence_statements(s, &lines)
            .into_iter()
            .filter(|(_, line)| !lines.get(*line).is_some_and(|l| l.question))
            .map(|(st, _)| st)
            .collect();
        if statements.is_empty() {
            continue;
        }
        let decisive_accept = statements.contains(&Statement::Decisive(Polarity::Accept));
        let decisive = statements
            .iter()
            .any(|st| matches!(st, Statement::Decisive(_)));
        let hedged = contains_any_phrase(&latin, HEDGES)
            || s.words()
                .any(|w| w.cjk && CJK_HEDGES.iter().any(|h| w.text.contains(h)));
        let conditional = contains_any_phrase(&latin, CONDITIONS)
            || has_conditional_si(s)
            || s.words()
                .any(|w| w.cjk && CJK_CONDITIONS.iter().any(|h| w.text.contains(h)))
            || has_japanese_but(s);
        if (hedged && decisive) || (conditional && decisive_accept) {
            ambiguous = true;
        }
        for st in statements {
            match st {
                Statement::Decisive(Polarity::Accept) => accept = true,
                Statement::Decisive(Polarity::Reject) => reject = true,
                Statement::Weak(Polarity::Accept) => weak_accept = true,
                Statement::Weak(Polarity::Reject) => weak_reject = true,
                Statement::Ambiguous => ambiguous = true,
            }
        }
    }

    match (accept, reject) {
        _ if ambiguous => Verdict::Unclear,
        (true, false) if !weak_reject && !reservation => Verdict::Accept,
        (false, true) if !weak_accept => Verdict::Reject,
        _ => Verdict::Unclear,
    }
}

/// The statements of one sentence, each with the line it was found on.
fn sentence_statements(s: &Sentence, lines: &[LineInfo]) -> Vec<(Statement, usize)> {
    let mut out = Vec::new();
    let mut first_of_sentence = true;
    for clause in &s.clauses {
        for (i, w) in clause.iter().enumerate() {
            if w.cjk {
                cjk_statements(
                    w,
                    clause.len(),
                    first_of_sentence && i == 0,
                    lines,
                    &mut out,
                );
            } else {
                if let Some(st) = short_answer(clause, i, first_of_sentence, lines) {
                    out.push((st, w.line));
                }
                if let Some(st) = latin_keyword(clause, i) {
                    out.push((st, w.line));
                }
            }
        }
        first_of_sentence = false;
    }
    out
}

/// yes / ok / okay / sí / si / no: decisive alone on their line, weak at the start of a
/// sentence.
fn short_answer(
    clause: &[Word],
    i: usize,
    first_of_sentence: bool,
    lines: &[LineInfo],
) -> Option<Statement> {
    let w = &clause[i];
    let polarity = match w.text.as_str() {
        "yes" | "ok" | "okay" => Polarity::Accept,
        // Unaccented "si" followed by more words is the Spanish "if".
        "si" if w.accented || clause.len() == 1 => Polarity::Accept,
        "no" => {
            if clause
                .get(i + 1)
                .is_some_and(|n| NO_EXCEPTIONS.contains(&n.text.as_str()))
            {
                return None;
            }
            Polarity::Reject
        }
        _ => return None,
    };
    if clause.len() == 1 && alone_on_line(w, lines) {
        return Some(Statement::Decisive(polarity));
    }
    (i == 0 && (clause.len() == 1 || first_of_sentence)).then_some(Statement::Weak(polarity))
}

/// Whether `w` is the only word on its line.
fn alone_on_line(w: &Word, lines: &[LineInfo]) -> bool {
    lines.get(w.line).is_some_and(|l| l.words == 1)
}

fn latin_keyword(clause: &[Word], i: usize) -> Option<Statement> {
    let texts: Vec<&str> = clause.iter().map(|w| w.text.as_str()).collect();
    let (phrase, kind) = LATIN_KEYWORDS
        .iter()
        .find(|(p, _)| texts[i..].starts_with(p))?;
    let next = texts.get(i + phrase.len()).copied();
    let prev = i.checked_sub(1).map(|j| texts[j]);
    // "de acuerdo con …" / "conforme a …" opening a clause mean "according to".
    if i == 0
        && ((*phrase == ["de", "acuerdo"] && matches!(next, Some("con" | "a" | "al")))
            || (phrase[0] == "conforme" && matches!(next, Some("a" | "al"))))
    {
        return None;
    }
    // "as agreed" refers to an earlier agreement.
    if phrase[0] == "agreed" && prev == Some("as") {
        return None;
    }
    let negations = (i.saturating_sub(4)..i)
        .filter(|&j| {
            NEGATORS.contains(&texts[j])
                && !(texts[j] == "no"
                    && texts.get(j + 1).is_some_and(|n| NO_EXCEPTIONS.contains(n)))
        })
        .count();
    Some(resolve(*kind, negations))
}

fn resolve(kind: Kind, negations: usize) -> Statement {
    match (kind, negations) {
        (Kind::Accept, 0) => Statement::Decisive(Polarity::Accept),
        (Kind::Accept | Kind::AcceptableIfNegated, 1) | (Kind::Reject, 0) => {
            Statement::Decisive(Polarity::Reject)
        }
        (Kind::AcceptableIfNegated, 0) => Statement::Weak(Polarity::Accept),
        _ => Statement::Ambiguous,
    }
}

fn cjk_statements(
    w: &Word,
    clause_len: usize,
    first_of_sentence: bool,
    lines: &[LineInfo],
    out: &mut Vec<(Statement, usize)>,
) {
    let short = match w.text.as_str() {
        "はい" => Some(Polarity::Accept),
        "いいえ" => Some(Polarity::Reject),
        _ => None,
    };
    if let Some(polarity) = short {
        if clause_len == 1 && alone_on_line(w, lines) {
            out.push((Statement::Decisive(polarity), w.line));
        } else if first_of_sentence || clause_len == 1 {
            out.push((Statement::Weak(polarity), w.line));
        }
        return;
    }
    let text = w.text.as_str();
    let keywords = CJK_ACCEPT
        .iter()
        .map(|k| (k, Kind::Accept))
        .chain(CJK_REJECT.iter().map(|k| (k, Kind::Reject)));
    for (kw, kind) in keywords {
        for (pos, _) in text.match_indices(kw) {
            let before = &text[..pos];
            let after = &text[pos + kw.len()..];
            let mut negations = usize::from(before.ends_with(['不', '非']));
            if CJK_NEGATIVE.iter().any(|n| after.starts_with(n)) {
                negations += 1;
            } else if !(after.is_empty() || CJK_AFFIRMATIVE.iter().any(|a| after.starts_with(a))) {
                // 同意書, ご承諾ください, 拒否権: a noun, not a statement.
                continue;
            }
            out.push((resolve(kind, negations), w.line));
        }
    }
}

fn contains_any_phrase(words: &[&str], phrases: &[&[&str]]) -> bool {
    (0..words.len()).any(|i| phrases.iter().any(|p| words[i..].starts_with(p)))
}

/// Unaccented "si" followed by a word in the same clause: the Spanish "if".
fn has_conditional_si(s: &Sentence) -> bool {
    s.clauses.iter().any(|c| {
        c.windows(2)
            .any(|w| w[0].text == "si" && !w[0].accented && !w[1].cjk)
    })
}

/// "同意しますが、…": a clause-final が is "but".
fn has_japanese_but(s: &Sentence) -> bool {
    let words: Vec<&Word> = s.words().collect();
    words
        .iter()
        .take(words.len().saturating_sub(1))
        .any(|w| w.cjk && w.text.ends_with("が"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::{Accept, Reject, Unclear};

    /// own_words then classify, as certd does.
    fn verdict(reply: &str) -> Verdict {
        classify(&own_words(reply))
    }

    fn check(cases: &[(&str, Verdict)]) {
        for (text, want) in cases {
            assert_eq!(classify(text), *want, "classify({text:?})");
        }
    }

    // ----- own_words -------------------------------------------------------------------

    #[test]
    fn own_words_plain_text_is_kept() {
        assert_eq!(own_words("ACEPTO"), "ACEPTO");
        assert_eq!(own_words(""), "");
        assert_eq!(own_words("\n \n\t\n"), "");
    }

    #[test]
    fn own_words_removes_signature() {
        let text = "Acepto el contrato.\n\nSaludos,\nBob\n-- \nBob Pérez\nGerente";
        assert_eq!(own_words(text), "Acepto el contrato.\n\nSaludos,\nBob");
        assert_eq!(own_words("I accept\n--\nBob, I reject nothing"), "I accept");
        // Not a separator: more than the dashes on the line.
        assert_eq!(own_words("I accept\n-- Bob"), "I accept\n-- Bob");
    }

    #[test]
    fn own_words_removes_quoted_lines_of_any_depth() {
        let text = "Yes\n> Do you accept?\n> > reply REJECT\n>> older\n  > indented\n＞ full-width\nThanks";
        assert_eq!(own_words(text), "Yes\nThanks");
    }

    #[test]
    fn own_words_cuts_english_attribution() {
        let text = "I accept.\n\nOn Wed, Nov 25, 2026 at 10:00 AM Alice <alice@example.com> wrote:\nreply REJECT to reject";
        assert_eq!(own_words(text), "I accept.");
    }

    #[test]
    fn own_words_cuts_wrapped_english_attribution() {
        let text = "I accept.\n\nOn Wed, Nov 25, 2026 at 10:00 AM Alice Example <\nalice@example.com> wrote:\n\nreply REJECT";
        assert_eq!(own_words(text), "I accept.");
        let text = "Agreed\nOn 25/11/2026 10:00, Alice Example\nwrote:\nREJECT";
        assert_eq!(own_words(text), "Agreed");
    }

    #[test]
    fn own_words_cuts_spanish_attribution() {
        let text = "Rechazo.\n\nEl mié, 25 nov 2026 a las 10:00, Alice (<alice@example.com>) escribió:\nPara aceptar responda ACEPTO";
        assert_eq!(own_words(text), "Rechazo.");
        let wrapped = "Rechazo.\nEl mié, 25 nov 2026 a las 10:00, Alice Example (<\nalice@example.com>) escribió:\nACEPTO";
        assert_eq!(own_words(wrapped), "Rechazo.");
    }

    #[test]
    fn own_words_cuts_japanese_attributions() {
        let gmail = "承諾します。\n\n2026年11月25日(水) 10:00 Alice <alice@example.com>:\n拒否する場合は「拒否」";
        assert_eq!(own_words(gmail), "承諾します。");
        let san = "承諾します。\nAlice さんは書きました:\n拒否";
        assert_eq!(own_words(san), "承諾します。");
        let full_width_colon = "承諾します。\nAlice さんは書きました：\n拒否";
        assert_eq!(own_words(full_width_colon), "承諾します。");
        let wrote = "承諾します。\n2026/11/25 10:00、Alice wrote:\n拒否";
        assert_eq!(own_words(wrote), "承諾します。");
    }

    #[test]
    fn own_words_cuts_outlook_originals() {
        let en = "I decline.\n\n-----Original Message-----\nFrom: certd\nTo ACCEPT the contract, reply ACCEPT.";
        assert_eq!(own_words(en), "I decline.");
        let es = "Acepto\n-----Mensaje original-----\nPara RECHAZARLO, responda RECHAZO.";
        assert_eq!(own_words(es), "Acepto");
        let fwd = "Acepto\n---------- Forwarded message ---------\nRECHAZO";
        assert_eq!(own_words(fwd), "Acepto");
    }

    #[test]
    fn own_words_cuts_header_blocks() {
        let es = "Acepto\n\nDe: Certmail <certd@example.com>\nEnviado: miércoles, 25 de noviembre de 2026 10:00\nPara: Bob\nAsunto: Contrato\n\nRECHAZO";
        assert_eq!(own_words(es), "Acepto");
        let en = "Accepted\n*From:* Certmail <certd@example.com>\n*Sent:* Wednesday\nREJECT";
        assert_eq!(own_words(en), "Accepted");
        let one_line = "Acepto\nDe: Certmail Enviado: miércoles Para: Bob\nRECHAZO";
        assert_eq!(own_words(one_line), "Acepto");
        let ja = "承諾します\n差出人: Certmail\n送信日時: 2026年11月25日 10:00\n拒否";
        assert_eq!(own_words(ja), "承諾します");
        // A "From:" the counterparty wrote, with no Sent:/Date: under it, stays.
        let own = "From: my side, I accept.\nThanks";
        assert_eq!(own_words(own), own);
    }

    #[test]
    fn own_words_cuts_underscore_separator() {
        let text = "I accept\n________________________________\nFrom: certd\nREJECT";
        assert_eq!(own_words(text), "I accept");
    }

    #[test]
    fn own_words_cuts_mobile_footers() {
        assert_eq!(own_words("Ok\n\nSent from my iPhone\n\n> REJECT"), "Ok");
        assert_eq!(own_words("Sí\nEnviado desde mi iPhone"), "Sí");
        assert_eq!(own_words("はい\niPhoneから送信"), "はい");
        assert_eq!(own_words("Acepto\nObtener Outlook para Android"), "Acepto");
    }

    #[test]
    fn own_words_trims_and_collapses_blank_lines() {
        let text =
            "\r\n\r\n  \u{feff}Acepto\u{a0}el contrato.  \r\n\r\n\r\n\r\nSaludos\u{200b}\r\n\r\n";
        assert_eq!(own_words(text), "  Acepto el contrato.\n\nSaludos");
    }

    // ----- classify: short and plain answers ---------------------------------------------

    #[test]
    fn plain_keywords() {
        check(&[
            ("ACEPTO", Accept),
            ("acepto", Accept),
            ("Aceptado.", Accept),
            ("Aceptamos el contrato", Accept),
            ("I accept", Accept),
            ("Accepted.", Accept),
            ("I agree to the terms", Accept),
            ("Approved", Accept),
            ("De acuerdo.", Accept),
            ("Estoy conforme", Accept),
            ("Aprobado", Accept),
            ("RECHAZO", Reject),
            ("Rechazado", Reject),
            ("REJECT", Reject),
            ("I decline.", Reject),
            ("We refuse to sign.", Reject),
        ]);
    }

    #[test]
    fn short_answers_only_when_alone_on_the_line() {
        check(&[
            ("Ok", Accept),
            ("OK.", Accept),
            ("okay!", Accept),
            ("Ok 👍", Accept),
            ("yes", Accept),
            ("Yes.\n\nBob", Accept),
            ("sí", Accept),
            ("Sí", Accept),
            ("SI", Accept),
            ("si", Accept),
            ("no", Reject),
            ("No.", Reject),
            ("ok, but what about clause 3?", Unclear),
            ("Ok, thanks", Unclear),
            ("No, gracias", Unclear),
            ("yes and no", Unclear),
        ]);
    }

    #[test]
    fn short_answers_combine_with_keywords() {
        check(&[
            ("Yes, I accept", Accept),
            ("Sí, acepto.", Accept),
            ("No, I do not accept", Reject),
            ("No, no acepto", Reject),
            ("No, I accept", Unclear),
            ("Yes, I reject", Unclear),
            ("Ok, I decline", Unclear),
            ("Si acepto", Unclear), // "if I accept" or a sloppy "sí, acepto"
        ]);
    }

    #[test]
    fn full_width_and_decomposed_input() {
        check(&[
            ("ＯＫ", Accept),
            ("ＡＣＥＰＴＯ", Accept),
            ("Ｉ　ａｃｃｅｐｔ", Accept),
            ("s\u{69}\u{301}", Accept),
            ("No acepto", Reject),
        ]);
    }

    // ----- classify: negation ------------------------------------------------------------

    #[test]
    fn negation_wins() {
        check(&[
            ("No acepto las condiciones", Reject),
            ("No estoy de acuerdo", Reject),
            ("no lo acepto", Reject),
            ("I do not accept", Reject),
            ("I don't agree", Reject),
            ("I don’t accept", Reject),
            ("Don't accept.", Reject),
            ("I can't accept this contract", Reject),
            ("I have never agreed to this", Reject),
            ("Ni acepto ni rechazo", Unclear),
            ("I do not reject", Unclear),
            ("No rechazo el contrato", Unclear),
        ]);
    }

    #[test]
    fn no_problem_is_not_a_negation() {
        check(&[
            ("No problem, I accept", Accept),
            ("No problem I accept", Accept),
            ("No hay problema, acepto", Accept),
        ]);
    }

    #[test]
    fn according_to_is_not_agreement() {
        check(&[
            ("De acuerdo con la cláusula 5, rechazo el contrato.", Reject),
            ("Conforme a lo pactado, rechazo.", Reject),
            ("As agreed on the phone, I decline.", Reject),
            ("Estoy de acuerdo con el contrato", Accept),
        ]);
    }

    #[test]
    fn acceptable_unacceptable() {
        check(&[
            ("This is unacceptable.", Reject),
            ("Inaceptable", Reject),
            ("The contract is not acceptable", Reject),
            ("No es aceptable", Reject),
            ("It is acceptable", Unclear),
            ("acceptance criteria?", Unclear),
            ("Not unacceptable", Unclear),
            ("Unacceptable. I accept.", Unclear),
        ]);
    }

    // ----- classify: Japanese -------------------------------------------------------------

    #[test]
    fn japanese() {
        check(&[
            ("承諾します。", Accept),
            ("承諾", Accept),
            ("「承諾」", Accept),
            ("契約内容に同意いたします", Accept),
            ("了承しました。", Accept),
            ("受諾させていただきます", Accept),
            ("はい", Accept),
            ("はい。", Accept),
            ("はい、承諾します。", Accept),
            ("契約内容に同意しません", Reject),
            ("承諾しません。", Reject),
            ("同意いたしかねます。", Reject),
            ("不同意", Reject),
            ("拒否します", Reject),
            ("お断りします。", Reject),
            ("いいえ", Reject),
            ("いいえ、承諾します", Unclear),
            ("拒否しません", Unclear),
            ("承諾しますか？", Unclear),
            ("承諾してもよろしいでしょうか", Unclear),
            ("同意書を送ります", Unclear),
            ("ご承諾ください", Unclear),
            ("同意しますが、第3条は削除してください。", Unclear),
            ("多分承諾します", Unclear),
        ]);
    }

    // ----- classify: questions, conflicts, conditions --------------------------------------

    #[test]
    fn questions_do_not_decide() {
        check(&[
            ("¿Qué significa la cláusula 3?", Unclear),
            ("can I accept later?", Unclear),
            ("Can I accept\nlater?", Unclear),
            ("¿Acepto o rechazo?", Unclear),
            ("Acepto. ¿Cuándo recibo el certificado?", Unclear),
            ("Acepto.\n¿Cuándo recibo el certificado?", Accept),
            ("I accept\nCan you send me a copy?", Accept),
        ]);
    }

    #[test]
    fn conflicting_statements_are_unclear() {
        check(&[
            ("acepto... bueno no, rechazo", Unclear),
            ("I accept. No wait, I reject.", Unclear),
            ("Please reply ACCEPT or REJECT", Unclear),
            ("Acepto.\n\nAcepto el contrato.", Accept),
        ]);
    }

    #[test]
    fn conditions_and_hedges_make_acceptance_unclear() {
        check(&[
            ("I accept if clause 3 is removed", Unclear),
            ("If clause 3 is removed, I accept.", Unclear),
            ("Acepto, pero la cláusula 3 debe cambiar", Unclear),
            ("Acepto.\nPero la cláusula 3 debe cambiar.", Unclear),
            ("Acepto siempre que se elimine la cláusula 3", Unclear),
            ("Si se elimina la cláusula 3, acepto", Unclear),
            ("Maybe I accept", Unclear),
            ("Quizás acepto", Unclear),
            ("I think I agree", Unclear),
            ("Rechazo, pero gracias por la oferta", Reject),
            ("I accept. I would like a copy, please.", Accept),
        ]);
    }

    #[test]
    fn nothing_decisive_is_unclear() {
        check(&[
            ("", Unclear),
            ("   \n\n ", Unclear),
            ("Gracias", Unclear),
            ("Let me check with my lawyer.", Unclear),
            ("👍", Unclear),
            ("aceptar", Unclear),
        ]);
    }

    // ----- whole replies --------------------------------------------------------------------

    #[test]
    fn gmail_spanish_reply_with_quoted_instructions() {
        let reply = "Acepto el contrato.\n\nSaludos,\nBob\n-- \nBob Pérez\n\n\
El mié, 25 nov 2026 a las 10:00, Certmail <certd@example.com> escribió:\n\n\
> Alice le ha enviado el contrato que figura a continuación.\n\
>\n\
> Para ACEPTAR el contrato, responda a este mensaje con la palabra ACEPTO.\n\
> Para RECHAZARLO, responda con la palabra RECHAZO.\n";
        assert_eq!(own_words(reply), "Acepto el contrato.\n\nSaludos,\nBob");
        assert_eq!(verdict(reply), Accept);
        let reject = reply.replace("Acepto el contrato.", "No acepto las condiciones");
        assert_eq!(verdict(&reject), Reject);
    }

    #[test]
    fn gmail_reply_quoted_without_attribution() {
        let reply = "I accept\n\n> To REJECT it, reply with the word REJECT.\n> reply REJECT";
        assert_eq!(verdict(reply), Accept);
    }

    #[test]
    fn outlook_reply_with_original_below() {
        let reply = "I decline, thank you.\r\n\r\nBob\r\n\r\n-----Original Message-----\r\n\
From: Certmail <certd@example.com>\r\nSent: Wednesday, November 25, 2026 10:00 AM\r\n\
To: Bob <bob@example.com>\r\nSubject: Contract for your acceptance\r\n\r\n\
To ACCEPT the contract, reply to this message with the word ACCEPT.\r\n";
        assert_eq!(own_words(reply), "I decline, thank you.\n\nBob");
        assert_eq!(verdict(reply), Reject);
    }

    #[test]
    fn outlook_spanish_reply_with_header_block() {
        let reply =
            "Conforme.\n\n________________________________\nDe: Certmail <certd@example.com>\n\
Enviado: miércoles, 25 de noviembre de 2026 10:00\nPara: Bob\nAsunto: Contrato\n\n\
Para RECHAZARLO, responda con la palabra RECHAZO.";
        assert_eq!(verdict(reply), Accept);
    }

    #[test]
    fn japanese_gmail_reply() {
        let reply = "承諾します。\n\nよろしくお願いいたします。\nボブ\n\n\
2026年11月25日(水) 10:00 Certmail <certd@example.com>:\n\n\
> 契約を承諾する場合は、このメールに「承諾」とご返信ください。\n\
> 拒否する場合は「拒否」とご返信ください。";
        assert_eq!(
            own_words(reply),
            "承諾します。\n\nよろしくお願いいたします。\nボブ"
        );
        assert_eq!(verdict(reply), Accept);
        let reject = reply.replace("承諾します。", "契約内容に同意しません。");
        assert_eq!(verdict(&reject), Reject);
    }

    #[test]
    fn rendered_html_reply_without_quote_markers() {
        // An HTML reply rendered to text: no ">" on the original, nbsp, zero-width
        // spaces, bold markers, many blank lines.
        let reply = "\u{feff}<b>Acepto</b>\u{a0}el contrato.\n\n\n\n*Bob Pérez*\n\n\n\
*El mié, 25 nov 2026 a las 10:00, Certmail (<certd@example.com>) escribió:*\n\n\
Para ACEPTAR el contrato, responda con la palabra ACEPTO.\u{200b}\n\
Para RECHAZARLO, responda con la palabra RECHAZO.";
        assert_eq!(verdict(reply), Accept);
        let ja = "拒否します<br>\n\n2026年11月25日(水) 10:00 Certmail <certd@example.com>:\n契約を承諾する場合は「承諾」";
        assert_eq!(verdict(ja), Reject);
    }

    #[test]
    fn signature_or_quote_only_replies_are_unclear() {
        assert_eq!(
            verdict("-- \nBob Pérez\nI accept all terms of service"),
            Unclear
        );
        assert_eq!(verdict("> Para aceptar responda ACEPTO"), Unclear);
        assert_eq!(
            verdict("On Wed, Nov 25, 2026 Alice wrote:\nI accept\n> ACCEPT"),
            Unclear
        );
        assert_eq!(verdict("Sent from my iPhone"), Unclear);
    }

    #[test]
    fn verdict_round_trip_through_lifecycle_wording() {
        // certd's clarification request, if it leaked unquoted, must not decide.
        let leak = "Thank you for your reply. We could not tell whether you accept or reject the contract. Please reply once more with the single word ACCEPT or REJECT.";
        assert_eq!(classify(leak), Unclear);
    }

    // ----- robustness -----------------------------------------------------------------------

    #[test]
    fn never_panics_on_arbitrary_input() {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            " ",
            "\n",
            "\r",
            "\r\n",
            "\t",
            ">",
            "> >",
            "＞",
            "-- ",
            "--",
            "?",
            "¿",
            ",",
            ".",
            "、",
            "。",
            ":",
            "：",
            "'",
            "’",
            "\u{301}",
            "\u{feff}",
            "\u{200b}",
            "\u{a0}",
            "í",
            "Í",
            "ñ",
            "İ",
            "ß",
            "Ａ",
            "ｱ",
            "é",
            "no",
            "sí",
            "si",
            "ok",
            "acepto",
            "rechazo",
            "accept",
            "not",
            "de acuerdo",
            "承諾",
            "しません",
            "します",
            "不",
            "はい",
            "いいえ",
            "wrote:",
            "On ",
            "El ",
            "escribió:",
            "From: x",
            "Sent: y",
            "De: a",
            "Enviado: b",
            "____________",
            "-----Original Message-----",
            "<a@b>:",
            "2026年11月25日",
            "😀",
            "\u{0}",
            "\u{10ffff}",
            "'",
            "n't",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..500 {
            let len = (next() % 40) as usize;
            let mut text = String::new();
            for _ in 0..len {
                if next() % 4 == 0 {
                    // Any scalar value, surrogates skipped.
                    if let Some(c) = char::from_u32((next() % 0x11_0000) as u32) {
                        text.push(c);
                    }
                } else {
                    text.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
                }
            }
            let own = own_words(&text);
            assert!(
                own.lines().all(|l| !l.trim_start().starts_with('>')),
                "{text:?}"
            );
            assert_eq!(own_words(&own), own, "own_words not idempotent on {text:?}");
            let _ = classify(&text);
            let _ = classify(&own);
        }
    }
}
