//! B-LT and B-LTA signing against a real OpenSSL OCSP responder (`openssl ocsp -reqin`, one
//! process per request, as the test TSA is one `openssl ts -reply` per request).

use super::fetch::{FetchError, RevocationSource};
use super::fields::{self, SigKind};
use super::tests::{classic_pdf, pki, run, signer, OpensslTsa};
use super::*;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// The OCSP responders of the test PKI: `http://ocsp.test/root` answers for certificates the
/// root issued, `http://ocsp.test/inter` for the operators' CA. `revoked` lists certificate
/// files (in the PKI directory) marked revoked in the responder's index.
struct OpensslOcsp {
    revoked: Vec<&'static str>,
    /// URLs asked, in order.
    asked: Mutex<Vec<String>>,
    down: bool,
}

impl OpensslOcsp {
    fn new(revoked: Vec<&'static str>) -> Self {
        OpensslOcsp {
            revoked,
            asked: Mutex::new(Vec::new()),
            down: false,
        }
    }
}

/// One `index.txt` line of `openssl ca` for a certificate file of the PKI (serial as
/// `BN_bn2hex` writes it: the responder matches the text).
fn index_line(file: &str, revoked: bool) -> String {
    let pem = pki().read(file);
    let cert = Certificate::load_pem_chain(pem.as_bytes()).expect("pem")[0].clone();
    let serial = cert.tbs_certificate.serial_number.as_bytes();
    let first = serial
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(serial.len() - 1);
    let serial = hex::encode_upper(&serial[first..]);
    let end = cert.tbs_certificate.validity.not_after.to_date_time();
    let yymmdd = |t: der::DateTime| {
        format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}Z",
            t.year() % 100,
            t.month(),
            t.day(),
            t.hour(),
            t.minutes(),
            t.seconds()
        )
    };
    let subject = run(Command::new("openssl").args([
        "x509",
        "-noout",
        "-subject",
        "-nameopt",
        "compat",
        "-in",
        &pki().path(file).to_string_lossy(),
    ]));
    let subject = String::from_utf8_lossy(&subject.stdout)
        .trim()
        .trim_start_matches("subject=")
        .to_string();
    if revoked {
        let now = der::DateTime::from_system_time(std::time::SystemTime::now()).expect("now");
        format!(
            "R\t{}\t{}\t{serial}\tunknown\t{subject}\n",
            yymmdd(end),
            yymmdd(now)
        )
    } else {
        format!("V\t{}\t\t{serial}\tunknown\t{subject}\n", yymmdd(end))
    }
}

impl RevocationSource for OpensslOcsp {
    fn ocsp(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, FetchError> {
        self.asked.lock().expect("asked").push(url.to_string());
        if self.down {
            return Err(FetchError::Status {
                url: url.into(),
                status: 503,
            });
        }
        let (ca, issued) = match url {
            "http://ocsp.test/root" => ("root", vec!["inter-ltv.pem", "tsa-ltv.pem"]),
            "http://ocsp.test/inter" => ("inter-ltv", vec!["op-ltv.pem"]),
            _ => {
                return Err(FetchError::Status {
                    url: url.into(),
                    status: 404,
                })
            }
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = |name: &str| pki().path(name).to_string_lossy().into_owned();
        let index: String = issued
            .iter()
            .map(|f| index_line(f, self.revoked.contains(f)))
            .collect();
        let (idx, req, resp) = (
            format!("ocsp-index-{n}.txt"),
            format!("ocsp-{n}.req"),
            format!("ocsp-{n}.resp"),
        );
        std::fs::write(pki().path(&idx), index).expect("index");
        std::fs::write(pki().path(&req), request).expect("request");
        run(Command::new("openssl").args([
            "ocsp",
            "-index",
            &p(&idx),
            "-CA",
            &p(&format!("{ca}.pem")),
            "-rsigner",
            &p(&format!("{ca}.pem")),
            "-rkey",
            &p(&format!("{ca}.key")),
            "-reqin",
            &p(&req),
            "-respout",
            &p(&resp),
            "-nmin",
            "5",
        ]));
        Ok(std::fs::read(pki().path(&resp)).expect("response"))
    }

    fn crl(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        Err(FetchError::Status {
            url: url.into(),
            status: 404,
        })
    }
}

fn sign_at(level: Level, ocsp: &OpensslOcsp) -> Result<Vec<u8>, SignError> {
    signer("ltv").sign(
        &classic_pdf(),
        "Certificate of delivery — serial 42",
        &OpensslTsa::ltv(),
        level,
        ocsp,
        &[],
    )
}

/// The `/DSS` of a file: numbers of certificates, OCSP responses, CRLs and VRI entries.
fn dss_counts(pdf: &[u8]) -> (usize, usize, usize, Vec<String>) {
    let doc = lopdf::Document::load_mem(pdf).expect("load");
    let catalog = doc.catalog().expect("catalog");
    let dss = doc
        .dereference(catalog.get(b"DSS").expect("/DSS"))
        .expect("deref")
        .1
        .as_dict()
        .expect("dict")
        .clone();
    let len = |k: &[u8]| dss.get(k).and_then(|o| o.as_array()).map_or(0, |a| a.len());
    let vri = dss
        .get(b"VRI")
        .and_then(|o| o.as_dict())
        .map(|d| {
            d.iter()
                .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                .collect()
        })
        .unwrap_or_default();
    (len(b"Certs"), len(b"OCSPs"), len(b"CRLs"), vri)
}

#[test]
fn b_lt_embeds_the_ocsp_answers_of_both_chains() {
    let ocsp = OpensslOcsp::new(Vec::new());
    let out = sign_at(Level::Lt, &ocsp).expect("sign B-LT");
    // op (inter), inter (root), tsa (root): three answers; the root needs none.
    let (certs, ocsps, crls, vri) = dss_counts(&out);
    assert_eq!((ocsps, crls), (3, 0), "{:?}", ocsp.asked.lock());
    assert!(certs >= 4, "op, inter, root, tsa: {certs}");
    let located = fields::last_signature(&out).expect("signature");
    assert_eq!(vri, vec![super::dss::vri_key(&located.contents)]);
    let found = fields::all(&out).expect("signatures");
    assert_eq!(found.len(), 1, "no document time-stamp at B-LT");
    // The signature's revision is untouched: its byte range ends before the DSS update.
    assert!(found[0].end().is_some_and(|e| e < out.len()));
}

#[test]
fn b_lta_adds_a_document_timestamp_and_its_validation_data() {
    let ocsp = OpensslOcsp::new(Vec::new());
    let out = sign_at(Level::Lta, &ocsp).expect("sign B-LTA");
    let found = fields::all(&out).expect("signatures");
    assert_eq!(
        found.iter().map(|l| l.kind).collect::<Vec<_>>(),
        vec![SigKind::Signature, SigKind::DocTimeStamp]
    );
    let (_, _, _, vri) = dss_counts(&out);
    assert_eq!(vri.len(), 2, "one VRI entry per signature and time-stamp");
    assert!(renew_by(&out).is_some());
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("/Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161"));
    // The operator's signature still verifies over its own revision.
    assert!(
        fields::last_signature(&out).is_ok_and(|l| l.kind == SigKind::Signature),
        "the last signature found is the operator's, not the time-stamp"
    );
}

#[test]
fn a_revoked_operator_certificate_stops_signing() {
    let ocsp = OpensslOcsp::new(vec!["op-ltv.pem"]);
    let err = sign_at(Level::Lta, &ocsp).expect_err("revoked");
    assert!(err.needs_operator(), "{err}");
    assert!(err.to_string().contains("revoked"), "{err}");
}

#[test]
fn responders_down_delay_signing_without_blaming_the_operator() {
    let mut ocsp = OpensslOcsp::new(Vec::new());
    ocsp.down = true;
    let err = sign_at(Level::Lt, &ocsp).expect_err("no OCSP");
    assert!(!err.needs_operator(), "{err}");
    assert!(
        matches!(err, SignError::Ltv(LtvError::Unavailable { .. })),
        "{err}"
    );
    // B-T does not need them.
    assert!(sign_at(Level::T, &ocsp).is_ok());
}

#[test]
fn renewal_adds_a_newer_document_timestamp_and_keeps_the_old_bytes() {
    let ocsp = OpensslOcsp::new(Vec::new());
    let first = sign_at(Level::Lta, &ocsp).expect("sign B-LTA");
    let renewed = renew(&first, &OpensslTsa::ltv(), &ocsp, &[]).expect("renew");
    assert!(
        renewed.starts_with(&first),
        "an incremental update of the old file"
    );
    let found = fields::all(&renewed).expect("signatures");
    assert_eq!(
        found
            .iter()
            .filter(|l| l.kind == SigKind::DocTimeStamp)
            .count(),
        2
    );
    // A B-T file (issued before B-LTA existed) is brought up to B-LTA by a renewal.
    let bt = sign_at(Level::T, &ocsp).expect("sign B-T");
    let upgraded = renew(&bt, &OpensslTsa::ltv(), &ocsp, &[]).expect("renew B-T");
    let found = fields::all(&upgraded).expect("signatures");
    assert_eq!(
        found
            .iter()
            .filter(|l| l.kind == SigKind::DocTimeStamp)
            .count(),
        1
    );
    // op, inter, TSA for the signature; the TSA again, fresh, for the document time-stamp.
    let (_, ocsps, _, _) = dss_counts(&upgraded);
    assert_eq!(ocsps, 4);
}

/// What issuing writes, `certd verify` reads back at the level asked (h-verify's check of the
/// signing side): B-LT, B-LTA, a renewed B-LTA and a B-T file brought up by renewal.
#[test]
fn issued_files_verify_at_their_level() {
    let ocsp = OpensslOcsp::new(Vec::new());
    let anchors = pki().read("root.pem");
    let level = |name: &str, pdf: &[u8]| {
        let r = verify_pdf(pdf, &anchors);
        for (n, ok, d) in &r.checks {
            eprintln!("{name} {} {n}: {d}", if *ok { "ok  " } else { "FAIL" });
        }
        r.level
    };
    let lt = sign_at(Level::Lt, &ocsp).expect("sign B-LT");
    let lta = sign_at(Level::Lta, &ocsp).expect("sign B-LTA");
    let renewed = renew(&lta, &OpensslTsa::ltv(), &ocsp, &[]).expect("renew");
    let bt = sign_at(Level::T, &ocsp).expect("sign B-T");
    let upgraded = renew(&bt, &OpensslTsa::ltv(), &ocsp, &[]).expect("renew B-T");
    assert_eq!(level("B-LT", &lt), Some(Level::Lt));
    assert_eq!(level("B-LTA", &lta), Some(Level::Lta));
    assert_eq!(level("renewed", &renewed), Some(Level::Lta));
    assert_eq!(level("upgraded", &upgraded), Some(Level::Lta));
}
