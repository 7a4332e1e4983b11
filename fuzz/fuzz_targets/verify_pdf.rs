//! `certd verify FILE` reads PDFs from anyone: any bytes must give a report, never a panic
//! (the revision reader, `/DSS`, OCSP and CRL parsers included: the B-LTA seed carries all of
//! them), and a report of VALID only when some signed revision of a seed is intact outside its
//! `/Contents` hole (the only bytes a PAdES signature leaves unsigned; what follows a signed
//! revision is judged by the revision rules, which only admit validation data and metadata).
#![no_main]

use certd::signature::verify_pdf;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The test roots that issued the seeds' signer and TSA certificates
/// (`fuzz/seeds/verify_pdf/README.md` says how they were made; the B-LTA seed is
/// `certd/tests/fixtures/pades-ltv/blta.pdf`, made by `generate.py` there).
const ANCHORS: &str = concat!(
    include_str!("../fixtures/verify_pdf-root.pem"),
    include_str!("../../certd/tests/fixtures/pades-ltv/root.pem"),
);

const SIGNED: [&[u8]; 4] = [
    include_bytes!("../seeds/verify_pdf/p256.pdf"),
    include_bytes!("../seeds/verify_pdf/rsa.pdf"),
    include_bytes!("../seeds/verify_pdf/xref-stream.pdf"),
    include_bytes!("../seeds/verify_pdf/blta.pdf"),
];

/// A signed seed and the `/ByteRange [0 a b c]` of each signature or time-stamp in it.
struct Signed {
    bytes: &'static [u8],
    ranges: Vec<[usize; 3]>,
}

fn signed() -> &'static [Signed] {
    static ALL: OnceLock<Vec<Signed>> = OnceLock::new();
    ALL.get_or_init(|| {
        SIGNED
            .iter()
            .map(|bytes| {
                let ranges: Vec<[usize; 3]> = bytes
                    .windows(12)
                    .enumerate()
                    .filter(|(_, w)| *w == b"/ByteRange [")
                    .map(|(at, _)| {
                        let text = String::from_utf8_lossy(&bytes[at + 12..at + 60]);
                        let n: Vec<usize> = text
                            .split(']')
                            .next()
                            .expect("split")
                            .split_whitespace()
                            .map(|x| x.parse().expect("number"))
                            .collect();
                        assert_eq!(n.len(), 4, "seed /ByteRange");
                        [n[1], n[2], n[3]]
                    })
                    .collect();
                assert!(!ranges.is_empty(), "seed has a /ByteRange");
                assert!(
                    verify_pdf(bytes, ANCHORS).valid,
                    "the seed must verify, or the invariant below tests nothing"
                );
                Signed { bytes, ranges }
            })
            .collect()
    })
}

/// `pdf` holds a signed revision of `s` unchanged outside its hole.
fn keeps_a_signed_revision(pdf: &[u8], s: &Signed) -> bool {
    s.ranges.iter().any(|&[a, b, c]| {
        let end = b + c;
        pdf.len() >= end && pdf[..a] == s.bytes[..a] && pdf[b..end] == s.bytes[b..end]
    })
}

fuzz_target!(|pdf: &[u8]| {
    let seeds = signed();
    let report = verify_pdf(pdf, ANCHORS);
    assert!(!report.checks.is_empty());
    if report.valid {
        assert!(
            seeds.iter().any(|s| keeps_a_signed_revision(pdf, s)),
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
