//! Aligned text tables for the human output of the admin CLI.
//!
//! Cells come from mail (subjects, addresses), so they are sanitised: control characters
//! would otherwise let a sender move the cursor or rewrite an admin's terminal, and a newline
//! would break the one-row-per-line promise that `grep` and `awk` rely on.

use unicode_width::UnicodeWidthStr;

/// A table with a header row; columns are separated by two spaces and the last column is not
/// padded, so lines carry no trailing blanks.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
    max: Vec<Option<usize>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            right: vec![false; header.len()],
            max: vec![None; header.len()],
        }
    }

    /// Right-aligns column `col` (numbers).
    pub fn right(mut self, col: usize) -> Table {
        if let Some(r) = self.right.get_mut(col) {
            *r = true;
        }
        self
    }

    /// Cuts the cells of column `col` to `width` display columns, marking the cut with `…`.
    pub fn max_width(mut self, col: usize, width: usize) -> Table {
        if let Some(m) = self.max.get_mut(col) {
            *m = Some(width.max(1));
        }
        self
    }

    /// Adds a row; missing cells are empty, extra cells are ignored.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.header.len())
            .enumerate()
            .map(|(i, c)| {
                let c = sanitize(c.as_ref());
                match self.max[i] {
                    Some(w) => truncate(&c, w),
                    None => c,
                }
            })
            .collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let pad = widths[i].saturating_sub(width(cell));
                if i > 0 {
                    line.push_str("  ");
                }
                if self.right[i] {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if i + 1 < n {
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Replaces control characters (including newlines and escape sequences) by a space.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Display width in terminal columns (UAX #11 East Asian Width, as terminals count it):
/// wide and full-width characters take two columns, combining marks none.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Cuts `s` to at most `max` display columns, ending with `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    for c in s.chars() {
        out.push(c);
        // Measured on the whole prefix: a sequence (an emoji with its variation selector)
        // can be narrower or wider than its characters one by one.
        if width(&out) + 1 > max {
            out.pop();
            break;
        }
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_and_lines_have_no_trailing_blanks() {
        let mut t = Table::new(&["SERIAL", "STATE", "SUBJECT"]).right(0);
        t.row(["1", "accepted", "Alquiler"]);
        t.row(["12345678", "requested", "x"]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "  SERIAL  STATE      SUBJECT");
        assert_eq!(lines[1], "       1  accepted   Alquiler");
        assert_eq!(lines[2], "12345678  requested  x");
        assert!(out.lines().all(|l| l == l.trim_end()));
    }

    #[test]
    fn wide_characters_count_twice() {
        let mut t = Table::new(&["A", "B"]);
        t.row(["業務", "x"]);
        t.row(["abcd", "y"]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        // "業務" is four columns wide, like "abcd": B starts in the same column.
        assert_eq!(lines[1], "業務  x");
        assert_eq!(lines[2], "abcd  y");
    }

    #[test]
    fn control_characters_cannot_break_rows_or_reach_the_terminal() {
        let mut t = Table::new(&["SUBJECT", "X"]);
        t.row(["evil\n\u{1b}[2Jsubject\r", "1"]);
        let out = t.render();
        assert_eq!(out.lines().count(), 2);
        assert!(!out.contains('\u{1b}'));
        assert!(out.contains("evil  [2Jsubject"));
    }

    #[test]
    fn truncation_marks_the_cut_and_respects_the_width() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a long subject", 6), "a lon…");
        assert_eq!(width(&truncate("a long subject", 6)), 6);
        assert!(width(&truncate("本契約は業務委託", 5)) <= 5);
        let mut t = Table::new(&["S"]).max_width(0, 4);
        t.row(["abcdefgh"]);
        assert_eq!(t.render().lines().nth(1), Some("abc…"));
    }

    #[test]
    fn combining_marks_and_emoji_take_their_real_columns() {
        // A combining accent takes no column; an emoji outside the old hand-written ranges
        // (U+1F680) and a Hangul syllable take two; so does full-width Latin.
        assert_eq!(width("Jose\u{301}"), 4);
        assert_eq!(width("🚀"), 2);
        assert_eq!(width("한"), 2);
        assert_eq!(width("ＡＢ"), 4);
        let mut t = Table::new(&["A", "B"]);
        t.row(["Jose\u{301}", "x"]);
        t.row(["🚀🚀", "y"]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1], "Jose\u{301}  x");
        assert_eq!(lines[2], "🚀🚀  y");
    }

    #[test]
    fn missing_cells_are_empty() {
        let mut t = Table::new(&["A", "B", "C"]);
        t.row(["1"]);
        assert_eq!(t.render().lines().nth(1), Some("1"));
        assert!(!t.is_empty());
    }
}
