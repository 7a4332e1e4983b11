//! A small page-layout engine: line breaking, multi-column blocks that flow across pages, and
//! a display list per page.
//!
//! Layout runs before any PDF object is written because the footer prints the total page count
//! ("n / N"), which is only known once everything is placed.

use super::fonts::{Cluster, FontSet, Weight};

/// A4 in PostScript points.
pub const PAGE_W: f32 = 595.276;
pub const PAGE_H: f32 = 841.89;
pub const MARGIN_X: f32 = 56.0;
pub const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;
/// Top of the text area.
pub const TOP: f32 = 52.0;
/// Bottom of the text area; the footer lives below.
pub const BOTTOM: f32 = PAGE_H - 62.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub size: f32,
    pub weight: Weight,
    pub color: Rgb,
    /// Line height as a multiple of the size.
    pub leading: f32,
}

impl Style {
    pub const fn new(size: f32, weight: Weight, color: Rgb) -> Style {
        Style {
            size,
            weight,
            color,
            leading: 1.38,
        }
    }

    pub fn line_height(&self) -> f32 {
        self.size * self.leading
    }
}

/// One laid-out line.
#[derive(Clone, Debug)]
pub struct Line {
    pub clusters: Vec<Cluster>,
    pub width: f32,
    pub style: Style,
}

impl Line {
    pub fn height(&self) -> f32 {
        self.style.line_height()
    }
}

#[derive(Clone, Debug)]
pub enum Item {
    /// A line of text; `baseline` in page coordinates (y grows downwards, as in krilla).
    Text {
        x: f32,
        baseline: f32,
        style: Style,
        clusters: Vec<Cluster>,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Rgb,
    },
    Rule {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
        color: Rgb,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One column of a [`Layout::block`]: lines stacked from `x`, `width` wide.
pub struct Column {
    pub x: f32,
    pub width: f32,
    pub align: Align,
    pub lines: Vec<Line>,
}

/// The part of a block that landed on one page, for decorations (rules, bars).
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub page: usize,
    pub top: f32,
    pub bottom: f32,
}

pub struct Layout<'f> {
    pub fonts: &'f FontSet,
    pages: Vec<Vec<Item>>,
    y: f32,
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\u{3000}'
}

/// Chinese, Japanese and Korean text has no spaces: a line may break between any two
/// characters (subject to the rules below).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x9FFF | 0xA960..=0xA97F | 0xAC00..=0xD7AF | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

/// Characters that must not start a line (Japanese kinsoku shori, plus Latin closing
/// punctuation so "word," never leaves its comma behind).
fn no_break_before(c: char) -> bool {
    "、。，．・：；？！ー）」』】〕〉》〙〗｝］ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ々〻‐゠–〜～)]},.;:!?%”’»"
        .contains(c)
}

/// Characters that must not end a line (opening brackets).
fn no_break_after(c: char) -> bool {
    "（「『【〔〈《〘〖｛［([{“‘«".contains(c)
}

fn can_break_between(prev: char, cur: char) -> bool {
    if is_space(cur) {
        // Spaces hang at the end of the line; the break comes after them.
        return false;
    }
    if is_space(prev) {
        return true;
    }
    if no_break_before(cur) || no_break_after(prev) {
        return false;
    }
    is_cjk(cur) || is_cjk(prev)
}

fn width_of(clusters: &[Cluster], size: f32) -> f32 {
    clusters.iter().map(|c| c.advance * size).sum()
}

impl<'f> Layout<'f> {
    pub fn new(fonts: &'f FontSet) -> Layout<'f> {
        Layout {
            fonts,
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    pub fn page(&self) -> usize {
        self.pages.len() - 1
    }

    /// Number of items on the current page, to insert backgrounds under later content.
    pub fn mark(&self) -> (usize, usize) {
        (self.page(), self.pages[self.page()].len())
    }

    pub fn insert(&mut self, (page, index): (usize, usize), item: Item) {
        if let Some(items) = self.pages.get_mut(page) {
            let index = index.min(items.len());
            items.insert(index, item);
        }
    }

    pub fn push(&mut self, item: Item) {
        let page = self.page();
        self.pages[page].push(item);
    }

    pub fn push_on(&mut self, page: usize, item: Item) {
        if let Some(items) = self.pages.get_mut(page) {
            items.push(item);
        }
    }

    pub fn at_top(&self) -> bool {
        self.y <= TOP + 0.01
    }

    pub fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Starts a new page unless `h` more points fit on this one (keeps headings with what
    /// follows them).
    pub fn ensure(&mut self, h: f32) {
        if self.y + h > BOTTOM && !self.at_top() {
            self.new_page();
        }
    }

    /// Vertical space; swallowed at the top of a page, where it would only push content down.
    pub fn space(&mut self, h: f32) {
        if self.at_top() {
            return;
        }
        self.y += h;
        if self.y > BOTTOM {
            self.new_page();
        }
    }

    /// A horizontal rule across the text area at the current position.
    pub fn rule(&mut self, width: f32, color: Rgb) {
        let y = self.y;
        self.push(Item::Rule {
            x1: MARGIN_X,
            y1: y,
            x2: MARGIN_X + CONTENT_W,
            y2: y,
            width,
            color,
        });
    }

    /// Breaks `text` into lines at most `width` wide: at spaces, between CJK characters
    /// (respecting the kinsoku rules) and, for a token longer than the whole line (a hash, a
    /// URL), between any two characters. `\n` forces a break.
    pub fn wrap(&self, text: &str, style: Style, width: f32) -> Vec<Line> {
        let clusters = self.fonts.shape(text, style.weight);
        let mut lines = Vec::new();
        for para in clusters.split(|c| c.ch == '\n') {
            wrap_paragraph(para, style, width, &mut lines);
        }
        lines
    }

    /// One line, shortened with an ellipsis if it is wider than `width`.
    pub fn fit(&self, text: &str, style: Style, width: f32) -> Line {
        let one_line: String = text
            .chars()
            .map(|c| if c == '\n' { ' ' } else { c })
            .collect();
        let mut clusters = self.fonts.shape(&one_line, style.weight);
        if width_of(&clusters, style.size) > width {
            let ellipsis = self.fonts.shape("…", style.weight);
            let room = width - width_of(&ellipsis, style.size);
            while !clusters.is_empty() && width_of(&clusters, style.size) > room {
                clusters.pop();
            }
            clusters.extend(ellipsis);
        }
        Line {
            width: width_of(&clusters, style.size),
            clusters,
            style,
        }
    }

    /// Places columns side by side from the current position, flowing onto new pages as
    /// needed. A block that fits on one page is moved whole to the next page rather than
    /// split; a taller one (a long contract) fills each page. Returns the per-page extents.
    pub fn block(&mut self, columns: Vec<Column>) -> Vec<Segment> {
        let mut next: Vec<usize> = vec![0; columns.len()];
        let mut segments = Vec::new();
        let mut first = true;
        loop {
            let remaining = columns
                .iter()
                .zip(&next)
                .map(|(c, &n)| c.lines[n..].iter().map(Line::height).sum::<f32>())
                .fold(0.0f32, f32::max);
            let avail = BOTTOM - self.y;
            if first && remaining > avail && remaining <= BOTTOM - TOP && !self.at_top() {
                self.new_page();
                first = false;
                continue;
            }
            first = false;
            let top = self.y;
            let mut used = 0.0f32;
            let mut done = true;
            for (col, n) in columns.iter().zip(next.iter_mut()) {
                let mut y = top;
                while let Some(line) = col.lines.get(*n) {
                    // At the top of a page one line always goes, so the loop progresses.
                    if y + line.height() > BOTTOM && !(y == top && self.at_top()) {
                        break;
                    }
                    let x = match col.align {
                        Align::Left => col.x,
                        Align::Right => col.x + col.width - line.width,
                    };
                    let style = line.style;
                    let baseline = y + style.size * (style.leading - 1.0) / 2.0 + style.size * 0.86;
                    if !line.clusters.is_empty() {
                        self.push(Item::Text {
                            x,
                            baseline,
                            style,
                            clusters: line.clusters.clone(),
                        });
                    }
                    y += line.height();
                    *n += 1;
                }
                used = used.max(y - top);
                if *n < col.lines.len() {
                    done = false;
                }
            }
            if used > 0.0 {
                segments.push(Segment {
                    page: self.page(),
                    top,
                    bottom: top + used,
                });
            }
            self.y = top + used;
            if done {
                return segments;
            }
            self.new_page();
        }
    }

    pub fn finish(self) -> Vec<Vec<Item>> {
        self.pages
    }
}

fn wrap_paragraph(para: &[Cluster], style: Style, width: f32, out: &mut Vec<Line>) {
    let push = |out: &mut Vec<Line>, clusters: &[Cluster]| {
        out.push(Line {
            clusters: clusters.to_vec(),
            width: width_of(clusters, style.size),
            style,
        })
    };
    if para.is_empty() {
        push(out, &[]);
        return;
    }
    let n = para.len();
    let mut start = 0;
    while start < n {
        let mut w = 0.0;
        let mut brk = None;
        let mut end = n;
        let mut i = start;
        while i < n {
            let c = para[i];
            if i > start && can_break_between(para[i - 1].ch, c.ch) {
                brk = Some(i);
            }
            let adv = c.advance * style.size;
            if i > start && !is_space(c.ch) && w + adv > width {
                // No break opportunity on this line: the token is longer than the line and is
                // cut where it overflows.
                end = brk.unwrap_or(i);
                break;
            }
            w += adv;
            i += 1;
        }
        let mut e = end;
        while e > start && is_space(para[e - 1].ch) {
            e -= 1;
        }
        push(out, &para[start..e]);
        start = end;
        while start < n && is_space(para[start].ch) {
            start += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fonts;
    use super::*;

    const BODY: Style = Style::new(10.0, Weight::Regular, Rgb(0, 0, 0));

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.clusters.iter().map(|c| c.ch).collect())
            .collect()
    }

    #[test]
    fn wraps_words_tokens_and_cjk() {
        let Ok(set) = fonts::fonts() else {
            eprintln!("fonts not installed; skipping");
            return;
        };
        let l = Layout::new(&set);
        // Words: no line is wider than the limit and no word is split.
        let lines = l.wrap("lorem ipsum dolor sit amet consectetur", BODY, 80.0);
        assert!(lines.len() > 1 && lines.iter().all(|x| x.width <= 80.0));
        assert_eq!(
            texts(&lines).join(" "),
            "lorem ipsum dolor sit amet consectetur"
        );
        // A hash longer than the line is cut anywhere.
        let hash = "0123456789abcdef".repeat(4);
        let lines = l.wrap(&hash, BODY, 100.0);
        assert!(lines.len() > 2 && lines.iter().all(|x| x.width <= 100.0));
        assert_eq!(texts(&lines).concat(), hash);
        // Japanese breaks between characters, never before "。".
        let ja = "本契約は、甲と乙との間の取引条件を定めるものである。".repeat(3);
        let lines = l.wrap(&ja, BODY, 120.0);
        assert!(lines.len() > 3 && lines.iter().all(|x| x.width <= 120.0));
        assert!(texts(&lines).iter().all(|t| !t.starts_with('。')));
        assert_eq!(texts(&lines).concat(), ja);
        // Forced breaks and blank lines survive.
        assert_eq!(texts(&l.wrap("a\n\nb", BODY, 100.0)), ["a", "", "b"]);
    }

    #[test]
    fn blocks_flow_over_pages() {
        let Ok(set) = fonts::fonts() else {
            eprintln!("fonts not installed; skipping");
            return;
        };
        let mut l = Layout::new(&set);
        let text = vec!["line"; 200].join("\n");
        let lines = l.wrap(&text, BODY, CONTENT_W);
        let segs = l.block(vec![Column {
            x: MARGIN_X,
            width: CONTENT_W,
            align: Align::Left,
            lines,
        }]);
        assert!(segs.len() >= 3);
        assert!(segs.iter().all(|s| s.bottom <= BOTTOM + 0.01));
        let pages = l.finish();
        let drawn: usize = pages
            .iter()
            .flatten()
            .filter(|i| matches!(i, Item::Text { .. }))
            .count();
        assert_eq!(drawn, 200);
    }
}
