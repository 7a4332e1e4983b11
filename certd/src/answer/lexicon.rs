//! The words certmail reads as accepting or rejecting, per language (en, es, ja), with the
//! negators, hedges and conditions around them: one lexicon for email replies and SMS.

/// Short answers (folded): decisive only alone on their line, weak at the start of a
/// sentence. "si" is one too unless it is the Spanish "if" (decided in `verdict`).
pub(crate) const SHORT_ACCEPT: &[&str] = &["yes", "ok", "okay"];
pub(crate) const SHORT_REJECT: &[&str] = &["no"];
pub(crate) const CJK_SHORT_ACCEPT: &[&str] = &["はい"];
pub(crate) const CJK_SHORT_REJECT: &[&str] = &["いいえ"];

/// Bare SMS commands: an SMS made only of these (besides its contract code) decides at once.
/// Broader than the email short answers: a phone keyboard invites "Y", "N" and infinitives
/// ("ACEPTAR"), and an SMS carries no quoted request that could contain them.
pub(crate) const SMS_ACCEPT: &[&str] = &[
    "yes",
    "y",
    "ok",
    "accept",
    "accepted",
    "agree",
    "si",
    "sí",
    "acepto",
    "aceptado",
    "aceptar",
    "はい",
    "承諾",
    "承諾します",
    "同意",
    "同意します",
];
pub(crate) const SMS_REJECT: &[&str] = &[
    "no",
    "n",
    "reject",
    "rejected",
    "decline",
    "rechazo",
    "rechazado",
    "rechazar",
    "いいえ",
    "拒否",
    "拒否します",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Accept,
    Reject,
    /// "acceptable": says nothing alone, a rejection when negated.
    AcceptableIfNegated,
}

pub(crate) const LATIN_KEYWORDS: &[(&[&str], Kind)] = &[
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

/// Auxiliaries of a passive report ("has been accepted", "ha sido aprobado", "fue
/// aceptada"): an acceptance word after one of them describes, it does not consent.
pub(crate) const PASSIVE_AUXILIARIES: &[&str] = &["been", "being", "sido", "fue", "fueron"];

pub(crate) const NEGATORS: &[&str] = &[
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
pub(crate) const NO_EXCEPTIONS: &[&str] = &[
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

pub(crate) const HEDGES: &[&[&str]] = &[
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
pub(crate) const CJK_HEDGES: &[&str] = &["かもしれ", "たぶん", "多分", "検討", "おそらく"];

pub(crate) const CONDITIONS: &[&[&str]] = &[
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
pub(crate) const CJK_CONDITIONS: &[&str] = &[
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
pub(crate) const RESERVATIONS: &[&[&str]] = &[
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
pub(crate) const CJK_RESERVATIONS: &[&str] =
    &["ただし", "但し", "しかし", "でも", "ですが", "ただ"];

pub(crate) const CJK_ACCEPT: &[&str] = &["承諾", "同意", "受諾", "了承", "承認"];
pub(crate) const CJK_REJECT: &[&str] = &["拒否", "お断り", "辞退", "拒絶"];
/// Endings that make a Japanese keyword a statement ("承諾します").
pub(crate) const CJK_AFFIRMATIVE: &[&str] = &[
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
pub(crate) const CJK_NEGATIVE: &[&str] = &[
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
