//! HTML reply bodies to text that keeps their structure (a line per block, `<br>`, `<hr>`),
//! with blockquotes and the clients' quote containers marked `> ` for the quote cutter.

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use std::cell::RefCell;

/// What `<hr>` becomes: Outlook's own separator line, which the quote cutter knows.
pub(crate) const RULE: &str = "________________________________";

/// What a signature container (Gmail's `gmail_signature`, …) starts with: the usenet
/// signature separator, which the quote cutter knows.
const SIGNATURE: &str = "--";

/// Quote markers written at most per line: deeper levels are quoted all the same, and an
/// adversarial nesting of blockquotes cannot make the text grow quadratically.
const MAX_MARKERS: usize = 8;

/// The tokenizer is fed in pieces of this size (a tendril holds at most 4 GiB).
const CHUNK: usize = 64 * 1024;

/// Block elements: a line break before and after them.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "body",
    "caption",
    "center",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "html",
    "legend",
    "li",
    "listing",
    "main",
    "menu",
    "nav",
    "ol",
    "option",
    "section",
    "summary",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
    "ul",
];

/// Elements whose content a mail reader does not show as text.
const HIDDEN: &[&str] = &[
    "audio", "canvas", "head", "iframe", "noembed", "noframes", "object", "script", "style", "svg",
    "template", "textarea", "title", "video", "xml",
];

/// Elements that may stand in `<head>`; any other start tag (or text) means the body began
/// although `</head>` never came, as a browser reads it.
const HEAD_CONTENT: &[&str] = &[
    "base", "basefont", "bgsound", "link", "meta", "noscript", "script", "style", "template",
    "title",
];

/// Elements without content (no end tag).
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr",
];

/// The text of an HTML body, as a reader sees its structure: one line per block element
/// or `<br>`, blank lines where paragraphs end, `<hr>` as a line of underscores; entities
/// decoded; `<head>`, `<style>`, `<script>` and hidden elements dropped; blockquote lines
/// prefixed `> ` (one per level). From the first quote container of a known client on —
/// Gmail's `gmail_quote`, Thunderbird's `moz-cite-prefix`, Yahoo's `yahoo_quoted`,
/// Outlook's `divRplyFwdMsg` / `appendonsend` / `OLK_SRC_BODY_SECTION` or its desktop
/// reply-header border, Proton's, Zoho's and AOL's — every line is quoted, and a signature container (Gmail's
/// `gmail_signature`, Thunderbird's `moz-signature`, Outlook's `Signature`) starts with
/// `--`. Linear in the input, never panics.
pub fn to_text(html: &str) -> String {
    let tokenizer = Tokenizer::new(
        Sink(RefCell::new(Renderer::default())),
        TokenizerOpts::default(),
    );
    let queue = BufferQueue::default();
    let mut rest = html;
    while !rest.is_empty() {
        let mut cut = rest.len().min(CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        queue.push_back(StrTendril::from_slice(piece));
        // The sink never asks to stop for a script, so each feed consumes the whole queue.
        let _ = tokenizer.feed(&queue);
        rest = tail;
    }
    tokenizer.end();
    tokenizer.sink.0.into_inner().finish()
}

struct Sink(RefCell<Renderer>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut r = self.0.borrow_mut();
        match token {
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => {
                    r.start(&tag);
                    return raw_kind(&tag);
                }
                TagKind::EndTag => r.end(&tag),
            },
            Token::CharacterTokens(text) => r.text(&text),
            // Comments (Outlook's conditional `<!--[if mso]>` ones too), doctypes, NULs and
            // parse errors show nothing.
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// The tokenizer state a start tag switches to, as the HTML tree builder would ask for it
/// (HTML Living Standard 13.2.6.4): otherwise CSS or script text would be read as tags.
fn raw_kind(tag: &Tag) -> TokenSinkResult<()> {
    if tag.self_closing {
        return TokenSinkResult::Continue;
    }
    match &*tag.name {
        "style" | "xmp" | "iframe" | "noembed" | "noframes" => {
            TokenSinkResult::RawData(RawKind::Rawtext)
        }
        "script" => TokenSinkResult::RawData(RawKind::ScriptData),
        "title" | "textarea" => TokenSinkResult::RawData(RawKind::Rcdata),
        "plaintext" => TokenSinkResult::Plaintext,
        _ => TokenSinkResult::Continue,
    }
}

fn attr<'a>(tag: &'a Tag, name: &str) -> Option<&'a str> {
    tag.attrs
        .iter()
        .find(|a| &*a.name.local == name)
        .map(|a| &*a.value)
}

fn classes(tag: &Tag) -> impl Iterator<Item = String> + '_ {
    attr(tag, "class")
        .unwrap_or("")
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
}

/// An id without the `x_` prefixes Exchange adds when it rewrites a quoted message.
fn id(tag: &Tag) -> String {
    let id = attr(tag, "id").unwrap_or("").to_ascii_lowercase();
    let mut id = id.as_str();
    while let Some(rest) = id.strip_prefix("x_") {
        id = rest;
    }
    id.to_string()
}

/// A `style` attribute lower-cased and without whitespace, for substring tests.
fn style(tag: &Tag) -> String {
    attr(tag, "style")
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_hidden(tag: &Tag, style: &str) -> bool {
    attr(tag, "hidden").is_some()
        || style.contains("display:none")
        || style.contains("visibility:hidden")
        // Outlook's own "hide in Outlook" (preheaders).
        || style.contains("mso-hide:all")
}

/// Where a client's quoted original begins (see [`to_text`]).
fn is_quote_container(tag: &Tag, style: &str) -> bool {
    let class = classes(tag).any(|c| {
        matches!(
            c.as_str(),
            "gmail_quote"
                | "gmail_quote_container"
                | "moz-cite-prefix"
                | "protonmail_quote"
                | "zmail_extra"
                | "outlookmessageheader"
        ) || c.contains("yahoo_quoted")
    });
    let id = matches!(
        id(tag).as_str(),
        "divrplyfwdmsg"
            | "appendonsend"
            | "olk_src_body_section"
            | "mail-editor-reference-message-container"
            | "aolmsgpart"
    );
    // Outlook desktop (Word) draws its reply header in a div with a top border:
    // `border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm`.
    let outlook_header = &*tag.name == "div"
        && style.starts_with("border:none;border-top:solid")
        && style.contains("padding:3.0pt0");
    // Windows 10 Mail draws its own.
    let windows_mail = style.trim_end_matches(';')
        == "padding-top:5px;border-top-color:rgb(229,229,229);border-top-width:1px;border-top-style:solid";
    class || id || outlook_header || windows_mail
}

fn is_signature(tag: &Tag) -> bool {
    classes(tag).any(|c| c == "gmail_signature" || c == "moz-signature")
        || matches!(
            id(tag).as_str(),
            "signature" | "ms-outlook-mobile-signature"
        )
}

/// Outlook's paragraphs have no margins: one line each, blank lines are their own
/// `<p class=MsoNormal><o:p>&nbsp;</o:p></p>`.
fn is_mso_paragraph(tag: &Tag) -> bool {
    classes(tag).any(|c| c.starts_with("mso"))
}

/// An element being skipped, with how many of its kind are open inside it.
struct Skip {
    name: String,
    open: u32,
}

impl Skip {
    fn new(name: &str) -> Skip {
        Skip {
            name: name.to_string(),
            open: 1,
        }
    }
}

/// HTML's whitespace (not `&nbsp;`), which collapses into one space.
fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{0C}')
}

#[derive(Default)]
struct Renderer {
    lines: Vec<String>,
    /// The current line, without its quote markers.
    line: String,
    /// Quote level of the current line.
    line_depth: usize,
    /// Whitespace seen since the last character written.
    space: bool,
    /// A paragraph ended: a blank line before the next text.
    gap: bool,
    /// Whether the open `<p>` has margins (not Outlook's).
    p_gap: bool,
    blockquotes: usize,
    /// A client's quote container began: everything from there on is quoted.
    quoted_rest: bool,
    pre: usize,
    /// Elements being skipped: a hidden one, or `<head>` and a `<title>`/`<style>` in it.
    skips: Vec<Skip>,
}

impl Renderer {
    fn depth(&self) -> usize {
        self.blockquotes + usize::from(self.quoted_rest)
    }

    fn start(&mut self, tag: &Tag) {
        let name = &*tag.name;
        if let Some(top) = self.skips.last_mut() {
            if top.name == name && !tag.self_closing {
                top.open = top.open.saturating_add(1);
                return;
            }
            if top.name != "head" {
                return;
            }
            if HEAD_CONTENT.contains(&name) {
                // `<title>`, `<style>`: their text is not the body's first text.
                if HIDDEN.contains(&name) && !tag.self_closing {
                    self.skips.push(Skip::new(name));
                }
                return;
            }
            self.skips.clear();
        }
        let style = style(tag);
        if HIDDEN.contains(&name) || is_hidden(tag, &style) {
            if !tag.self_closing && !VOID.contains(&name) {
                self.skips.push(Skip::new(name));
            }
            return;
        }
        if is_quote_container(tag, &style) {
            self.soft_break();
            self.quoted_rest = true;
        }
        if is_signature(tag) {
            self.soft_break();
            self.whole_line(SIGNATURE);
        }
        match name {
            "br" => self.hard_break(),
            "hr" => {
                self.soft_break();
                self.whole_line(RULE);
            }
            "p" => {
                self.p_gap = !is_mso_paragraph(tag);
                self.paragraph(self.p_gap);
            }
            "blockquote" => {
                self.soft_break();
                self.blockquotes += 1;
            }
            "pre" => {
                self.paragraph(true);
                self.pre += 1;
            }
            // Table cells side by side: a space between them.
            "td" | "th" => self.space = true,
            _ if BLOCKS.contains(&name) => self.soft_break(),
            _ => {}
        }
    }

    fn end(&mut self, tag: &Tag) {
        let name = &*tag.name;
        if let Some(top) = self.skips.last_mut() {
            if top.name == name {
                top.open -= 1;
                if top.open == 0 {
                    self.skips.pop();
                }
            }
            return;
        }
        match name {
            // `</br>` is read as `<br>` (HTML Living Standard 13.2.6.4.7).
            "br" => self.hard_break(),
            "p" => self.paragraph(self.p_gap),
            "blockquote" => {
                self.soft_break();
                self.blockquotes = self.blockquotes.saturating_sub(1);
            }
            "pre" => {
                self.paragraph(true);
                self.pre = self.pre.saturating_sub(1);
            }
            "td" | "th" => self.space = true,
            _ if BLOCKS.contains(&name) => self.soft_break(),
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if let Some(top) = self.skips.last() {
            if top.name != "head" || text.trim_matches(is_html_space).is_empty() {
                return;
            }
            self.skips.clear();
        }
        for c in text.chars() {
            if self.pre > 0 {
                match c {
                    '\n' => self.hard_break(),
                    '\r' => {}
                    _ => self.put(c),
                }
            } else if is_html_space(c) {
                // HTML collapses runs of its whitespace (not &nbsp;) into one space.
                self.space = true;
            } else {
                if self.space && !self.line.is_empty() {
                    self.line.push(' ');
                }
                self.space = false;
                self.put(c);
            }
        }
    }

    fn put(&mut self, c: char) {
        if self.line.is_empty() {
            self.begin_line();
        }
        self.line.push(c);
    }

    /// A new line starts: its quote level, and the blank line a paragraph left.
    fn begin_line(&mut self) {
        self.line_depth = self.depth();
        if self.gap && self.lines.last().is_some_and(|l| !is_blank(l)) {
            self.lines
                .push(markers(self.line_depth).trim_end().to_string());
        }
        self.gap = false;
    }

    fn finish_line(&mut self) {
        let text = std::mem::take(&mut self.line);
        let line = format!("{}{}", markers(self.line_depth), text.trim_end());
        self.lines.push(line.trim_end().to_string());
        self.space = false;
    }

    /// The end of a block: a line break unless the line is empty already.
    fn soft_break(&mut self) {
        if !self.line.is_empty() {
            self.finish_line();
        }
        self.space = false;
    }

    /// `<br>`: always a line break, so `<br><br>` leaves a blank line.
    fn hard_break(&mut self) {
        if self.line.is_empty() {
            self.begin_line();
        }
        self.finish_line();
    }

    fn paragraph(&mut self, gap: bool) {
        self.soft_break();
        self.gap |= gap;
    }

    fn whole_line(&mut self, text: &str) {
        self.begin_line();
        self.line.push_str(text);
        self.finish_line();
    }

    fn finish(mut self) -> String {
        self.soft_break();
        while self.lines.last().is_some_and(|l| is_blank(l)) {
            self.lines.pop();
        }
        self.lines.join("\n")
    }
}

fn markers(depth: usize) -> String {
    "> ".repeat(depth.min(MAX_MARKERS))
}

/// Empty, or only quote markers and spaces.
fn is_blank(line: &str) -> bool {
    line.chars().all(|c| c == '>' || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::to_text;

    #[test]
    fn blocks_and_breaks_make_lines() {
        assert_eq!(
            to_text("<div>Acepto las condiciones.</div><div><br></div><div>Bob</div>"),
            "Acepto las condiciones.\n\nBob"
        );
        assert_eq!(to_text("Acepto<br>Bob<br><br>Tel"), "Acepto\nBob\n\nTel");
        assert_eq!(to_text("<div>a<br></div><div>b</div>"), "a\nb");
        assert_eq!(
            to_text("<p>I accept.</p><p>Bob<br></p>"),
            "I accept.\n\nBob"
        );
        assert_eq!(
            to_text("<table><tr><td>Bob</td><td>CEO</td></tr><tr><td>Tel</td></tr></table>"),
            "Bob CEO\nTel"
        );
        assert_eq!(to_text("<ul><li>one</li><li>two</li></ul>"), "one\ntwo");
    }

    #[test]
    fn whitespace_collapses_except_in_pre_and_nbsp() {
        assert_eq!(
            to_text("  I \n\t accept  <b>all</b>\nterms "),
            "I accept all terms"
        );
        assert_eq!(to_text("<pre>a  b\nc</pre>"), "a  b\nc");
        assert_eq!(to_text("a&nbsp;&nbsp;b"), "a\u{a0}\u{a0}b");
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            to_text("Certmail &lt;certd@example.test&gt; &amp; Aceptaci&oacute;n &#8217;&#x41;"),
            "Certmail <certd@example.test> & Aceptación \u{2019}A"
        );
        // Legacy entities without a semicolon, as browsers read them.
        assert_eq!(to_text("&copy 2026 &amp Co"), "© 2026 & Co");
    }

    #[test]
    fn invisible_content_is_dropped() {
        let html = "<html><head><title>Re: x</title><style>p{color:red}</style>\
                    <script>if (a < b) { document.write('REJECT') }</script></head>\
                    <body><!-- REJECT --><!--[if mso]>REJECT<![endif]-->\
                    <div style=\"display: none\">REJECT</div>\
                    <span style=\"mso-hide:all\">REJECT</span><p hidden>REJECT</p>\
                    Accept<template><b>REJECT</b></template></body></html>";
        assert_eq!(to_text(html), "Accept");
        // A head that is never closed ends where the body's content starts.
        assert_eq!(
            to_text("<head><meta charset=utf-8><div>Acepto</div>"),
            "Acepto"
        );
        assert_eq!(to_text("<head><title>t</title>Acepto"), "Acepto");
    }

    #[test]
    fn hidden_elements_end_at_their_own_end_tag() {
        assert_eq!(
            to_text("<div style=display:none><div>x</div>y</div>Ok<img style=display:none>."),
            "Ok."
        );
    }

    #[test]
    fn blockquotes_are_quoted_per_level() {
        assert_eq!(
            to_text("Yes<blockquote type=cite>On x, A wrote:<br><blockquote>old</blockquote>mid</blockquote>after"),
            "Yes\n> On x, A wrote:\n> > old\n> mid\nafter"
        );
        // Unbalanced end tags never go below zero.
        assert_eq!(to_text("</blockquote></blockquote>Ok"), "Ok");
    }

    #[test]
    fn rules_and_signatures_become_separators() {
        assert_eq!(
            to_text("Ok<hr>From: x"),
            format!("Ok\n{}\nFrom: x", super::RULE)
        );
        assert_eq!(
            to_text("Ok<div class=\"gmail_signature\">Bob<br>Approved vendor</div>"),
            "Ok\n--\nBob\nApproved vendor"
        );
    }

    #[test]
    fn client_quote_containers_quote_the_rest() {
        let gmail =
            "<div dir=ltr>I accept.</div><br><div class=\"gmail_quote gmail_quote_container\">\
                     <div dir=ltr class=gmail_attr>On Wed, Certmail wrote:<br></div>\
                     <blockquote class=gmail_quote>REJECT</blockquote></div>";
        assert_eq!(
            to_text(gmail),
            "I accept.\n\n> On Wed, Certmail wrote:\n> > REJECT"
        );
        let owa = "<div>I decline.</div><div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\">\
                   <div id=\"divRplyFwdMsg\"><b>From:</b> Certmail</div><div>ACCEPT</div>";
        assert_eq!(
            to_text(owa),
            format!("I decline.\n> {}\n> From: Certmail\n> ACCEPT", super::RULE)
        );
        let outlook = "<p class=MsoNormal>Acepto<o:p></o:p></p>\
                       <div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>\
                       <p class=MsoNormal><b>De:</b> Certmail</p></div><p class=MsoNormal>RECHAZO</p>";
        assert_eq!(to_text(outlook), "Acepto\n> De: Certmail\n> RECHAZO");
        for marker in [
            "<div class=moz-cite-prefix>",
            "<div class=\"ydp3f2e yahoo_quoted\" id=yahoo_quoted_1>",
            "<div id=x_divRplyFwdMsg>",
            "<div id=OLK_SRC_BODY_SECTION>",
        ] {
            assert_eq!(to_text(&format!("Ok{marker}REJECT</div>")), "Ok\n> REJECT");
        }
    }

    #[test]
    fn raw_text_elements_do_not_open_tags() {
        assert_eq!(
            to_text(
                "<style>a{content:\"<div>REJECT</div>\"}</style><textarea><b>x</b></textarea>Ok"
            ),
            "Ok"
        );
    }

    #[test]
    fn adversarial_input_is_bounded() {
        let deep = "<blockquote>".repeat(100_000) + "x";
        assert_eq!(to_text(&deep), format!("{}x", "> ".repeat(8)));
        let many = "<div>".repeat(100_000);
        assert_eq!(to_text(&many), "");
        assert_eq!(to_text("<"), "<");
        assert_eq!(to_text("<div"), "");
        assert_eq!(to_text("&"), "&");
        assert_eq!(to_text("é".repeat(40_000).as_str()).chars().count(), 40_000);
        let _ =
            to_text("<\u{0}\u{feff}<!--<![CDATA[<svg><p></svg>\u{10ffff}&#0;&#xD800;&#99999999;");
    }
}
