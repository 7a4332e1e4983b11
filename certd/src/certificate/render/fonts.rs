//! Finding and reading the fonts of the certificate.
//!
//! krilla embeds and subsets fonts but neither measures text publicly nor falls back to another
//! font for missing glyphs, so this module reads the few OpenType tables the layout needs
//! (`cmap` for coverage, `hmtx` for advances) itself. That keeps certd free of a second font
//! stack; the tables are read defensively (bounds-checked) because the files come from the
//! system, not from us.
//!
//! Faces: DejaVu Sans (regular, bold, mono; Debian `fonts-dejavu-core`) for Latin, Greek and
//! Cyrillic, Noto Sans CJK JP (Debian `fonts-noto-cjk`, a `.ttc` collection) for Chinese,
//! Japanese and Korean. Directories are searched in order: `$CERTMAIL_FONT_DIR` (if set), then
//! the usual Debian, Fedora and Arch locations.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::Error;

/// Environment variable naming an extra directory searched first for the font files.
pub const FONT_DIR_ENV: &str = "CERTMAIL_FONT_DIR";

/// Where distributions install the two font packages.
const SEARCH_DIRS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/opentype/noto",
    "/usr/share/opentype/noto",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/share/fonts/dejavu-sans-mono-fonts",
    "/usr/share/fonts/google-noto-sans-cjk-vf-fonts",
    "/usr/share/fonts/google-noto-cjk",
    "/usr/share/fonts/noto-cjk",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/OTF",
    "/usr/local/share/fonts",
];

const DEJAVU_REGULAR: &[&str] = &["DejaVuSans.ttf"];
const DEJAVU_BOLD: &[&str] = &["DejaVuSans-Bold.ttf"];
const DEJAVU_MONO: &[&str] = &["DejaVuSansMono.ttf"];
const NOTO_CJK_REGULAR: &[&str] = &["NotoSansCJK-Regular.ttc", "NotoSansCJKjp-Regular.otf"];
const NOTO_CJK_BOLD: &[&str] = &["NotoSansCJK-Bold.ttc", "NotoSansCJKjp-Bold.otf"];

const INSTALL_HINT: &str =
    "install the Debian packages fonts-dejavu-core and fonts-noto-cjk (apt-get install -y \
     fonts-dejavu-core fonts-noto-cjk) or point CERTMAIL_FONT_DIR at a directory holding \
     DejaVuSans.ttf, DejaVuSans-Bold.ttf and NotoSansCJK-Regular.ttc";

/// Which face a glyph is drawn with; an index into [`FontSet::faces`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaceId {
    Regular = 0,
    Bold = 1,
    Mono = 2,
    Cjk = 3,
    CjkBold = 4,
}

/// The weight/family a piece of text asks for; the face is chosen per character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    Regular,
    Bold,
    Mono,
}

/// One character resolved to a face and glyph, with its advance in em.
#[derive(Clone, Copy, Debug)]
pub struct Cluster {
    pub ch: char,
    pub face: FaceId,
    pub glyph: u16,
    pub advance: f32,
}

/// One font face: the krilla handle for drawing plus what the layout reads from the tables.
#[derive(Clone)]
pub struct Face {
    pub krilla: krilla::text::Font,
    data: Arc<Vec<u8>>,
    cmap: Cmap,
    hmtx: usize,
    num_hmetrics: u16,
    units_per_em: f32,
}

#[derive(Clone, Copy)]
enum Cmap {
    /// Offset of a format 4 (BMP) subtable.
    Format4(usize),
    /// Offset of a format 12 (full Unicode) subtable.
    Format12(usize),
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        d.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        d.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Offset of the table directory of face `index` (collections start with `ttcf`).
fn face_offset(d: &[u8], index: u32) -> Option<usize> {
    if d.get(0..4)? == b"ttcf" {
        let n = u32_at(d, 8)?;
        if index >= n {
            return None;
        }
        Some(u32_at(d, 12 + 4 * index as usize)? as usize)
    } else if index == 0 {
        Some(0)
    } else {
        None
    }
}

fn table(d: &[u8], face: usize, tag: &[u8; 4]) -> Option<usize> {
    let n = u16_at(d, face + 4)? as usize;
    (0..n).find_map(|i| {
        let rec = face + 12 + 16 * i;
        (d.get(rec..rec + 4)? == tag).then_some(())?;
        let off = u32_at(d, rec + 8)? as usize;
        let len = u32_at(d, rec + 12)? as usize;
        // A table pointing outside the file would make every later read fail; reject it here.
        (off.checked_add(len)? <= d.len()).then_some(off)
    })
}

/// The family names (name ids 1 and 16, Windows Unicode) of face `face`.
fn family_names(d: &[u8], face: usize) -> Vec<String> {
    let mut out = Vec::new();
    let Some(name) = table(d, face, b"name") else {
        return out;
    };
    let (Some(count), Some(strings)) = (u16_at(d, name + 2), u16_at(d, name + 4)) else {
        return out;
    };
    for i in 0..count as usize {
        let rec = name + 6 + 12 * i;
        let (Some(platform), Some(id), Some(len), Some(off)) = (
            u16_at(d, rec),
            u16_at(d, rec + 6),
            u16_at(d, rec + 8),
            u16_at(d, rec + 10),
        ) else {
            break;
        };
        if platform != 3 || !(id == 1 || id == 16) {
            continue;
        }
        let start = name + strings as usize + off as usize;
        if let Some(bytes) = d.get(start..start + len as usize) {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            out.push(String::from_utf16_lossy(&units));
        }
    }
    out
}

impl Face {
    fn parse(data: Arc<Vec<u8>>, index: u32) -> Option<Face> {
        let d = data.as_slice();
        let face = face_offset(d, index)?;
        let head = table(d, face, b"head")?;
        let hhea = table(d, face, b"hhea")?;
        let hmtx = table(d, face, b"hmtx")?;
        let cmap_off = table(d, face, b"cmap")?;
        let units_per_em = f32::from(u16_at(d, head + 18)?);
        let num_hmetrics = u16_at(d, hhea + 34)?;
        if units_per_em <= 0.0 || num_hmetrics == 0 {
            return None;
        }
        // Prefer a full-Unicode subtable (format 12) so CJK Extension B and emoji-range
        // characters resolve; fall back to the BMP one.
        let mut best: Option<Cmap> = None;
        for i in 0..u16_at(d, cmap_off + 2)? as usize {
            let rec = cmap_off + 4 + 8 * i;
            let platform = u16_at(d, rec)?;
            let encoding = u16_at(d, rec + 2)?;
            let sub = cmap_off + u32_at(d, rec + 4)? as usize;
            let unicode = platform == 0 || (platform == 3 && (encoding == 1 || encoding == 10));
            if !unicode {
                continue;
            }
            match u16_at(d, sub)? {
                12 => best = Some(Cmap::Format12(sub)),
                4 if best.is_none() => best = Some(Cmap::Format4(sub)),
                _ => {}
            }
        }
        let krilla = krilla::text::Font::new(data.clone().into(), index)?;
        Some(Face {
            krilla,
            data,
            cmap: best?,
            hmtx,
            num_hmetrics,
            units_per_em,
        })
    }

    /// The glyph for `c`, or `None` if the face lacks it (glyph 0 is `.notdef`).
    pub fn glyph(&self, c: char) -> Option<u16> {
        let d = self.data.as_slice();
        let cp = c as u32;
        let gid = match self.cmap {
            Cmap::Format12(sub) => {
                let groups = u32_at(d, sub + 12)? as usize;
                let (mut lo, mut hi) = (0usize, groups);
                let mut found = None;
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    let g = sub + 16 + 12 * mid;
                    let (start, end) = (u32_at(d, g)?, u32_at(d, g + 4)?);
                    if cp < start {
                        hi = mid;
                    } else if cp > end {
                        lo = mid + 1;
                    } else {
                        found = Some(u32_at(d, g + 8)? + (cp - start));
                        break;
                    }
                }
                u16::try_from(found?).ok()?
            }
            Cmap::Format4(sub) => {
                let cp = u16::try_from(cp).ok()?;
                let seg_x2 = u16_at(d, sub + 6)? as usize;
                let ends = sub + 14;
                let starts = ends + seg_x2 + 2;
                let deltas = starts + seg_x2;
                let ranges = deltas + seg_x2;
                // Segments are sorted by end code: binary search for the first end >= cp.
                let (mut lo, mut hi) = (0usize, seg_x2 / 2);
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if u16_at(d, ends + 2 * mid)? < cp {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                let seg = lo;
                if seg >= seg_x2 / 2 {
                    return None;
                }
                let start = u16_at(d, starts + 2 * seg)?;
                if cp < start {
                    return None;
                }
                let delta = u16_at(d, deltas + 2 * seg)?;
                let range = u16_at(d, ranges + 2 * seg)? as usize;
                if range == 0 {
                    cp.wrapping_add(delta)
                } else {
                    let at = ranges + 2 * seg + range + 2 * (cp - start) as usize;
                    match u16_at(d, at)? {
                        0 => 0,
                        g => g.wrapping_add(delta),
                    }
                }
            }
        };
        (gid != 0).then_some(gid)
    }

    /// Horizontal advance of `glyph` in em.
    pub fn advance(&self, glyph: u16) -> f32 {
        // Glyphs past the last long metric share its advance (monospaced tails).
        let i = glyph.min(self.num_hmetrics - 1) as usize;
        u16_at(&self.data, self.hmtx + 4 * i).map_or(0.0, f32::from) / self.units_per_em
    }
}

/// The faces of one certificate, loaded once per process.
pub struct FontSet {
    faces: [Face; 5],
}

/// Cached on success only, so installing the packages fixes a running daemon.
static CACHE: Mutex<Option<Arc<FontSet>>> = Mutex::new(None);

/// The fonts, loaded on first use (reading and hashing the 20 MB CJK collection costs tens of
/// milliseconds, too much to repeat per certificate).
pub fn fonts() -> Result<Arc<FontSet>, Error> {
    let mut cache = CACHE
        .lock()
        .map_err(|_| Error::Config("font cache poisoned".into()))?;
    if let Some(set) = cache.as_ref() {
        return Ok(set.clone());
    }
    let set = Arc::new(FontSet::load(&search_dirs())?);
    *cache = Some(set.clone());
    Ok(set)
}

/// The directories searched, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os(FONT_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    dirs.extend(SEARCH_DIRS.iter().map(PathBuf::from));
    dirs
}

fn find(dirs: &[PathBuf], names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

fn read(path: &Path) -> Result<Arc<Vec<u8>>, Error> {
    std::fs::read(path)
        .map(Arc::new)
        .map_err(|e| Error::Config(format!("font {}: {e}", path.display())))
}

fn load_face(path: &Path, index: u32) -> Result<Face, Error> {
    Face::parse(read(path)?, index).ok_or_else(|| {
        Error::Config(format!(
            "font {} (face {index}) is not a usable OpenType font",
            path.display()
        ))
    })
}

/// In a CJK collection, the Japanese face: Japanese glyph shapes for the shared Han
/// characters are what a Japanese reader expects, and the JP face covers Chinese and Korean
/// text as well.
fn japanese_face(data: &[u8]) -> u32 {
    let count = if data.get(0..4) == Some(b"ttcf") {
        u32_at(data, 8).unwrap_or(1)
    } else {
        1
    };
    (0..count)
        .find(|&i| {
            face_offset(data, i)
                .is_some_and(|off| family_names(data, off).iter().any(|n| n.ends_with("JP")))
        })
        .unwrap_or(0)
}

impl FontSet {
    /// Loads the faces from the first directory holding each file.
    pub fn load(dirs: &[PathBuf]) -> Result<FontSet, Error> {
        let missing = |what: &str| {
            Error::Config(format!(
                "certificate font {what} not found in {}: {INSTALL_HINT}",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
        let regular_path = find(dirs, DEJAVU_REGULAR).ok_or_else(|| missing("DejaVuSans.ttf"))?;
        let regular = load_face(&regular_path, 0)?;
        let bold = match find(dirs, DEJAVU_BOLD) {
            Some(p) => load_face(&p, 0)?,
            None => return Err(missing("DejaVuSans-Bold.ttf")),
        };
        // Mono only sets hashes apart; without it they use the regular face.
        let mono = match find(dirs, DEJAVU_MONO) {
            Some(p) => load_face(&p, 0)?,
            None => regular.clone(),
        };
        let cjk_path =
            find(dirs, NOTO_CJK_REGULAR).ok_or_else(|| missing("NotoSansCJK-Regular.ttc"))?;
        let cjk_data = read(&cjk_path)?;
        let cjk_index = japanese_face(&cjk_data);
        let cjk = Face::parse(cjk_data, cjk_index).ok_or_else(|| {
            Error::Config(format!(
                "font {} is not a usable OpenType collection",
                cjk_path.display()
            ))
        })?;
        let cjk_bold = match find(dirs, NOTO_CJK_BOLD) {
            Some(p) => {
                let data = read(&p)?;
                let index = japanese_face(&data);
                Face::parse(data, index).unwrap_or_else(|| cjk.clone())
            }
            None => cjk.clone(),
        };
        Ok(FontSet {
            faces: [regular, bold, mono, cjk, cjk_bold],
        })
    }

    pub fn face(&self, id: FaceId) -> &Face {
        &self.faces[id as usize]
    }

    /// Resolves every character of `text` to a face: the requested Latin face, then regular
    /// DejaVu, then Noto CJK (krilla does no fallback, so this is where mixed-script text
    /// is split into runs). Characters no face has are drawn as U+FFFD but keep their own
    /// Unicode mapping, so copied text stays faithful. Control and default-ignorable
    /// characters are dropped, except `\n` which the line breaker needs.
    pub fn shape(&self, text: &str, weight: Weight) -> Vec<Cluster> {
        let (first, cjk) = match weight {
            Weight::Regular => (FaceId::Regular, FaceId::Cjk),
            Weight::Bold => (FaceId::Bold, FaceId::CjkBold),
            Weight::Mono => (FaceId::Mono, FaceId::Cjk),
        };
        let mut out = Vec::with_capacity(text.len());
        for ch in text.chars() {
            let ch = match ch {
                '\t' => ' ',
                '\n' => {
                    out.push(Cluster {
                        ch,
                        face: first,
                        glyph: 0,
                        advance: 0.0,
                    });
                    continue;
                }
                c if is_ignorable(c) => continue,
                c => c,
            };
            let tries = [first, FaceId::Regular, cjk];
            let hit = tries
                .iter()
                .find_map(|&f| self.face(f).glyph(ch).map(|g| (f, g)));
            let (face, glyph) = match hit {
                Some(hit) => hit,
                None => {
                    let r = self.face(FaceId::Regular);
                    // '?' is in every Latin font; U+FFFD in DejaVu.
                    let g = r.glyph('\u{FFFD}').or_else(|| r.glyph('?')).unwrap_or(0);
                    (FaceId::Regular, g)
                }
            };
            out.push(Cluster {
                ch,
                face,
                glyph,
                advance: self.face(face).advance(glyph),
            });
        }
        out
    }
}

/// Characters never drawn: controls (a PDF/A-U file may not map glyphs to U+0000), byte order
/// marks, and format characters that are invisible by definition.
fn is_ignorable(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}' | '\u{00AD}')
        || ('\u{200B}'..='\u{200F}').contains(&c)
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2060}'..='\u{2064}').contains(&c)
        || ('\u{FE00}'..='\u{FE0F}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_splits_latin_and_cjk() {
        let Ok(set) = fonts() else {
            eprintln!("fonts not installed; skipping");
            return;
        };
        let c = set.shape("añ€日本", Weight::Regular);
        let faces: Vec<FaceId> = c.iter().map(|c| c.face).collect();
        assert_eq!(
            faces,
            [
                FaceId::Regular,
                FaceId::Regular,
                FaceId::Regular,
                FaceId::Cjk,
                FaceId::Cjk
            ]
        );
        assert!(c.iter().all(|c| c.glyph != 0 && c.advance > 0.0));
        // Bold Japanese uses the bold CJK face.
        assert_eq!(set.shape("契", Weight::Bold)[0].face, FaceId::CjkBold);
    }

    #[test]
    fn missing_fonts_name_the_packages() {
        let err = FontSet::load(&[PathBuf::from("/nonexistent")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("fonts-dejavu-core") && err.contains("fonts-noto-cjk"));
    }
}
