//! `certd verify FILE` reads PDFs from anyone: any bytes must give a report, never a panic,
//! and a report of VALID only for one of the signed seeds changed at most inside its
//! `/Contents` hole (the only bytes a PAdES signature leaves unsigned).
#![no_main]

use certd::signature::verify_pdf;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The test root that issued the seeds' signer and TSA certificates
/// (`fuzz/seeds/verify_pdf/README.md` says how they were made).
const ANCHORS: &str = include_str!("../fixtures/verify_pdf-root.pem");

const SIGNED: [&[u8]; 3] = [
    include_bytes!("../seeds/verify_pdf/p256.pdf"),
    include_bytes!("../seeds/verify_pdf/rsa.pdf"),
    include_bytes!("../seeds/verify_pdf/xref-stream.pdf"),
];

/// A signed seed and its unsigned hole `[a, b)`, read from its `/ByteRange [0 a b c]`.
struct Signed {
    bytes: &'static [u8],
    hole: (usize, usize),
}

fn signed() -> &'static [Signed] {
    static ALL: OnceLock<Vec<Signed>> = OnceLock::new();
    ALL.get_or_init(|| {
        SIGNED
            .iter()
            .map(|bytes| {
                let at = bytes
                    .windows(12)
                    .rposition(|w| w == b"/ByteRange [")
                    .expect("seed has a /ByteRange");
                let text = String::from_utf8_lossy(&bytes[at + 12..at + 60]);
                let n: Vec<usize> = text
                    .split(']')
                    .next()
                    .expect("split")
                    .split_whitespace()
                    .map(|x| x.parse().expect("number"))
                    .collect();
                assert_eq!(n.len(), 4, "seed /ByteRange");
                assert!(
                    verify_pdf(bytes, ANCHORS).valid,
                    "the seed must verify, or the invariant below tests nothing"
                );
                Signed {
                    bytes,
                    hole: (n[1], n[2]),
                }
            })
            .collect()
    })
}

/// `pdf` is `s` with at most its hole changed.
fn same_outside_hole(pdf: &[u8], s: &Signed) -> bool {
    let (a, b) = s.hole;
    pdf.len() == s.bytes.len() && pdf[..a] == s.bytes[..a] && pdf[b..] == s.bytes[b..]
}

fuzz_target!(|pdf: &[u8]| {
    let seeds = signed();
    let report = verify_pdf(pdf, ANCHORS);
    assert!(!report.checks.is_empty());
    if report.valid {
        assert!(
            seeds.iter().any(|s| same_outside_hole(pdf, s)),
            "VALID for bytes that no seed signed: {:#?}",
            report.checks
        );
    }
    for (name, ok, detail) in &report.checks {
        assert!(
            !name.is_empty() && !detail.is_empty(),
            "{name}: {ok} {detail:?}"
        );
    }
});
