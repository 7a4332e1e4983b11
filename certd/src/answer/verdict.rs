//! The verdict on the counterparty's own words: accept, reject or unclear (en, es, ja).
//! A wrong accept is the worst error there is, so anything not plainly one or the other is unclear.

use super::fold::{fold_chars, is_cjk};
use super::lexicon::{
    Kind, CJK_ACCEPT, CJK_AFFIRMATIVE, CJK_CONDITIONS, CJK_HEDGES, CJK_NEGATIVE, CJK_REJECT,
    CJK_RESERVATIONS, CJK_SHORT_ACCEPT, CJK_SHORT_REJECT, CONDITIONS, HEDGES, LATIN_KEYWORDS,
    NEGATORS, NO_EXCEPTIONS, PASSIVE_AUXILIARIES, RESERVATIONS, SHORT_ACCEPT, SHORT_REJECT,
};

/// What the counterparty's own words say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Reject,
    Unclear,
}

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

/// Classifies the own words (the output of [`super::own_words`]). Pure, never panics.
///
/// The text is folded (lower case, Spanish accents stripped with a small table, full-width
/// ASCII to ASCII, curly apostrophes to `'`) and split into lines, sentences (`.`, `!`,
/// `;`, `。`, `?`, a blank line, or a line break not followed by a lower-case letter)
/// and clauses (`,`, `、`, `:`, brackets, quotes). Latin keywords are matched as whole words (so
/// "acceptance" is not "accept"); Japanese keywords are matched inside runs of CJK text
/// and must be followed by a recognised verb ending (`承諾します`, `同意いたしかねます`) or
/// nothing, so `同意書` (consent form) or `ご承諾ください` are not statements.
///
/// * Accept: accept(ed/s), agree(d/s), approve(d); acepto, aceptado/a, aceptamos,
///   de acuerdo, conforme(s), aprobado/a, apruebo, aprobamos; 承諾, 同意, 受諾, 了承, 承認.
/// * Reject: reject(ed), decline(d), refuse(d), disagree, unacceptable; rechazo,
///   rechazado/a, rechazamos, inaceptable, desacuerdo; 拒否, お断り, 辞退, 拒絶.
/// * Short answers — yes, ok, okay, sí/si, はい (accept); no, いいえ (reject) — are
///   decisive only when they are the only word on their line ("Ok", "No.", "Sí 👍").
///   At the start of a sentence ("Ok, thanks", "No, acepto") they are *weak*: they decide
///   nothing alone but contradict a decisive statement of the other polarity (→ Unclear).
/// * Negation wins: a negator (not, don't, can't, never, no, nunca, ni, …) up to four
///   words before a positive keyword in the same clause turns it into a rejection ("I do
///   not accept", "no estoy de acuerdo"), as does a Japanese negative ending
///   (`承諾しません`, `同意いたしかねます`) or prefix (`不同意`). "acceptable"/"aceptable"
///   alone is only weak, but a rejection when negated ("not acceptable"). A negated
///   rejection ("I don't reject", `拒否しません`) or a double negation is ambiguous.
///   "no problem", "no hay problema", "no doubt", … are not negations.
/// * Decision: *unacceptable* / *inaceptable* count as rejections: calling the contract
///   unacceptable refuses it (and any counter-offer is, in law, a rejection of the offer).
///   "acceptance", "accepting", "aceptar", "rechazar" (infinitives, nouns) are neutral:
///   they appear in questions and in our own instructions more often than in answers.
/// * Questions do not decide: a keyword in a sentence that is a question (`?`, `¿`,
///   Japanese `ですか`/`ますか`/`でしょうか` endings), or on a line that contains a question
///   mark at all, does not count ("Acepto. ¿Cuándo recibo el certificado?" on one line is
///   Unclear; on two lines it is Accept).
/// * Hedges (maybe, perhaps, might, could, would, I think, quizás, tal vez, creo,
///   かもしれ, 多分, 検討, …) in the sentence make its statement ambiguous. Conditions
///   (if, unless, but, except, provided, subject to, pero, salvo, siempre que, a Spanish
///   conditional "si …", ただし, 場合, …が、) in an accepting sentence, or any sentence that
///   *starts* with a reservation (but, however, pero, sin embargo, ただし, しかし, …), make
///   an acceptance ambiguous: a conditional acceptance is a counter-offer, not consent. A
///   rejection with a "but" ("Rechazo, pero gracias") stays a rejection.
/// * The first decisive statement decides, and every later one must agree: any decisive
///   or weak statement of the other polarity, or any ambiguous statement, makes the
///   verdict Unclear ("acepto... bueno no, rechazo"). No decisive statement: Unclear.
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
    let text = w.text.as_str();
    let polarity = if SHORT_ACCEPT.contains(&text) {
        Polarity::Accept
    } else if text == "si" {
        // Unaccented "si" followed by more words is the Spanish "if".
        if !(w.accented || clause.len() == 1) {
            return None;
        }
        Polarity::Accept
    } else if SHORT_REJECT.contains(&text) {
        // "no problem, I accept": not a "no".
        if clause
            .get(i + 1)
            .is_some_and(|n| NO_EXCEPTIONS.contains(&n.text.as_str()))
        {
            return None;
        }
        Polarity::Reject
    } else {
        return None;
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
    // "Your message has been received and accepted for processing": a passive report of
    // something else (ticket systems, acknowledgements) is no consent to the contract, and a
    // wrong acceptance is the one error a certificate must never make.
    if *kind == Kind::Accept
        && (i.saturating_sub(3)..i).any(|j| PASSIVE_AUXILIARIES.contains(&texts[j]))
    {
        return Some(Statement::Ambiguous);
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
    let short = if CJK_SHORT_ACCEPT.contains(&w.text.as_str()) {
        Some(Polarity::Accept)
    } else if CJK_SHORT_REJECT.contains(&w.text.as_str()) {
        Some(Polarity::Reject)
    } else {
        None
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
