//! Text folding shared by the quote cutter and the classifier: lower case, accents and
//! full-width forms stripped, so that "ACEPTÓ", "aceptó" and "ＡＣＥＰＴＯ" compare equal.

/// Folds one string: lower case, accents stripped, full-width ASCII to ASCII, odd spaces
/// and quotes unified, invisible characters removed. Each output character carries
/// whether an accent was stripped from it (to tell "sí", yes, from "si", if).
pub(super) fn fold_chars(s: &str) -> Vec<(char, bool)> {
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

pub(super) fn fold(s: &str) -> String {
    fold_chars(s).into_iter().map(|(c, _)| c).collect()
}

/// Japanese (and other CJK) script: matched as runs, not as space-separated words.
pub(super) fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}'   // hiragana, katakana
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified
        | '\u{F900}'..='\u{FAFF}' // compatibility ideographs
        | '\u{FF66}'..='\u{FF9F}' // half-width katakana
        | '\u{3005}' | '\u{3006}') // 々 〆
}
