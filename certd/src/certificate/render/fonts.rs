//! Finding and reading the fonts of the certificate.
//!
//! krilla embeds and subsets fonts but neither measures text publicly nor falls back to another
//! font for missing glyphs, so the layout reads coverage (`cmap`) and advances (`hmtx`) itself,
//! through skrifa (the font reader krilla is built on, so no second font stack), which reads
//! the tables defensively: the files come from the system, not from us.
//!
//! Faces: DejaVu Sans (regular, bold, mono; Debian `fonts-dejavu-core`) for Latin, Greek and
//! Cyrillic, Noto Sans CJK JP (Debian `fonts-noto-cjk`, a `.ttc` collection) for Chinese,
//! Japanese and Korean. Directories are searched in order: `$CERTMAIL_FONT_DIR` (if set), then
//! the usual Debian, Fedora and Arch locations.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use skrifa::charmap::{Charmap, MappingIndex};
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::raw::{FileRef, TableProvider};
use skrifa::string::StringId;
use skrifa::{FontRef, GlyphId, MetadataProvider};

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
    pub glyph: u32,
    pub advance: f32,
}

/// One font face: the krilla handle for drawing plus what the layout needs to read it again.
#[derive(Clone)]
pub struct Face {
    pub krilla: krilla::text::Font,
    data: Arc<Vec<u8>>,
    /// The face's index in its file (0 unless the file is a collection).
    index: u32,
    /// Which `cmap` subtable maps Unicode (full repertoire preferred over the BMP one, so
    /// CJK Extension B characters resolve), found once.
    mapping: MappingIndex,
    units_per_em: f32,
}

impl Face {
    fn parse(data: Arc<Vec<u8>>, index: u32) -> Option<Face> {
        let font = FontRef::from_index(&data, index).ok()?;
        let units_per_em = f32::from(font.head().ok()?.units_per_em());
        let long_metrics = font.hhea().ok()?.number_of_h_metrics();
        font.hmtx().ok()?;
        if units_per_em <= 0.0 || long_metrics == 0 || !font.charmap().has_map() {
            return None;
        }
        let mapping = MappingIndex::new(&font);
        let krilla = krilla::text::Font::new(data.clone().into(), index)?;
        Some(Face {
            krilla,
            data,
            index,
            mapping,
            units_per_em,
        })
    }

    /// A reader over the face's tables, for one piece of text.
    fn reader(&self) -> Option<Reader<'_>> {
        let font = FontRef::from_index(&self.data, self.index).ok()?;
        Some(Reader {
            charmap: self.mapping.charmap(&font),
            metrics: font.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em: self.units_per_em,
        })
    }
}

/// Coverage and advances of one face, borrowed from its file.
struct Reader<'a> {
    charmap: Charmap<'a>,
    /// In font units (unscaled), at the default instance.
    metrics: GlyphMetrics<'a>,
    units_per_em: f32,
}

impl Reader<'_> {
    /// The glyph for `c`, or `None` if the face lacks it (glyph 0 is `.notdef`; ids past the
    /// font's glyph count are shaping-only and cannot be drawn).
    fn glyph(&self, c: char) -> Option<GlyphId> {
        self.charmap
            .map(c)
            .filter(|g| g.to_u32() != 0 && g.to_u32() < self.metrics.glyph_count())
    }

    /// Horizontal advance of `glyph` in em (glyphs past the last long metric share its
    /// advance, as `hmtx` says).
    fn advance(&self, glyph: GlyphId) -> f32 {
        self.metrics.advance_width(glyph).unwrap_or(0.0) / self.units_per_em
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
    let Ok(FileRef::Collection(collection)) = FileRef::new(data) else {
        return 0;
    };
    (0..collection.len())
        .find(|&i| {
            collection.get(i).is_ok_and(|font| {
                [StringId::FAMILY_NAME, StringId::TYPOGRAPHIC_FAMILY_NAME]
                    .into_iter()
                    .flat_map(|id| font.localized_strings(id))
                    .any(|name| name.to_string().ends_with("JP"))
            })
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
        // Each face's tables are opened on first use in this text.
        let readers: [OnceCell<Option<Reader>>; 5] = Default::default();
        let reader = |f: FaceId| {
            readers[f as usize]
                .get_or_init(|| self.face(f).reader())
                .as_ref()
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
                .find_map(|&f| reader(f)?.glyph(ch).map(|g| (f, g)));
            let (face, glyph) = match hit {
                Some(hit) => hit,
                None => {
                    // '?' is in every Latin font; U+FFFD in DejaVu.
                    let g = reader(FaceId::Regular)
                        .and_then(|r| r.glyph('\u{FFFD}').or_else(|| r.glyph('?')))
                        .unwrap_or(GlyphId::NOTDEF);
                    (FaceId::Regular, g)
                }
            };
            out.push(Cluster {
                ch,
                face,
                glyph: glyph.to_u32(),
                advance: reader(face).map_or(0.0, |r| r.advance(glyph)),
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

    /// Sample lines of the three certificate languages, each in every weight.
    const WIDTH_SAMPLES: [(&str, &str); 4] = [
        (
            "es",
            "Contrato de arrendamiento — vivienda en Logroño (año 2025). ¿Acepta usted? ¡Sí! 850,00 €",
        ),
        (
            "en",
            "Certificate of electronic contract: the parties agree to clause 12 (SHA-256 9f86d081).",
        ),
        (
            "ja",
            "本契約は、甲と乙との間の取引条件を定めるものである。「承諾」または「拒否」—シリアル番号 2024001",
        ),
        ("mixed", "emoji 😀 ไทย e\u{301} ΑΒΓ Жж 한국어 中文 𠀋"),
    ];

    /// What the layout sees of a string: the total advance in em and a fingerprint of every
    /// cluster's face, glyph and advance (FNV-1a over their bits).
    fn measure(set: &FontSet, text: &str, weight: Weight) -> (f32, u64) {
        let clusters = set.shape(text, weight);
        let width = clusters.iter().map(|c| c.advance).sum::<f32>();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for c in &clusters {
            for v in [c.face as u32, c.glyph, c.advance.to_bits()] {
                for b in v.to_le_bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
        (width, h)
    }

    /// [`measure`] of each sample in each weight, as the hand-written `cmap`/`hmtx` reader
    /// gave them before skrifa replaced it, with Debian 12's fonts-dejavu-core 2.37 and
    /// fonts-noto-cjk 20220127: the same faces, glyphs and advances, so no line of a
    /// certificate moves.
    const HAND_READER: [(&str, Weight, f32, u64); 12] = [
        ("es", Weight::Regular, 46.43799, 0xddc6e0a6c6de546b),
        ("es", Weight::Bold, 51.958496, 0x276836828090df21),
        ("es", Weight::Mono, 52.98047, 0x8b0c4012eab8848e),
        ("en", Weight::Regular, 42.8042, 0x29ba028f42f92d64),
        ("en", Weight::Bold, 48.277344, 0xb76392b194b433b1),
        ("en", Weight::Mono, 51.776367, 0x70b05047aba6ce4c),
        ("ja", Weight::Regular, 48.771484, 0x10322705905741fe),
        ("ja", Weight::Bold, 49.21875, 0x36817a8e6fa4b99c),
        ("ja", Weight::Mono, 48.418457, 0xf0bdc3c2f5cb0ff6),
        ("mixed", Weight::Regular, 19.698965, 0x64d6db750513a460),
        ("mixed", Weight::Bold, 20.827383, 0x4f3447a22e363ddf),
        ("mixed", Weight::Mono, 21.919668, 0x5f8f82e5c6d48b14),
    ];

    #[test]
    fn widths_are_those_of_the_hand_reader() {
        let Ok(set) = fonts() else {
            eprintln!("fonts not installed; skipping");
            return;
        };
        for (lang, weight, width, fingerprint) in HAND_READER {
            let text = WIDTH_SAMPLES
                .iter()
                .find(|(l, _)| *l == lang)
                .map(|(_, t)| *t)
                .unwrap_or_default();
            let (w, h) = measure(&set, text, weight);
            eprintln!("{lang} {weight:?}: {w} em, {h:016x}");
            assert_eq!(w, width, "{lang} {weight:?}");
            assert_eq!(
                h, fingerprint,
                "{lang} {weight:?}: another face, glyph or advance"
            );
        }
    }
}
