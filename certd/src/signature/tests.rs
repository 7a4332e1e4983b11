//! Tests: keys and certificates from `openssl`, a real RFC 3161 token from `openssl ts -reply`,
//! and the signed files checked by independent validators (`pdfsig`, pyHanko, `qpdf`,
//! `openssl cms`). A validator test is skipped, with a message, only if its tool is missing.

use super::*;
use crate::timestamp::TsaError;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Test PKI: root CA (P-256) → intermediate CA (P-256) → operator P-256 and RSA-2048 certs;
/// the TSA (RSA-2048, EKU timeStamping) directly under the root.
pub(super) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub(super) fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read fixture")
    }
}

pub(super) fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

static PKI: OnceLock<Pki> = OnceLock::new();

/// Statics are never dropped: remove the fixture directory when the test process exits.
extern "C" fn remove_pki() {
    if let Some(pki) = PKI.get() {
        let _ = std::fs::remove_dir_all(pki.dir.path());
    }
}

pub(super) fn pki() -> &'static Pki {
    PKI.get_or_init(|| {
        // SAFETY: registers a plain `extern "C" fn()` that only touches an initialised static.
        unsafe { libc::atexit(remove_pki) };
        assert!(have("openssl"), "the signature tests need openssl");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let p = |n: &str| d.join(n).to_string_lossy().into_owned();
        std::fs::write(
            d.join("ext.cnf"),
            "[req]\ndistinguished_name=dn\n[dn]\n\
             [ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             [signer]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             [tsa]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             [inter_ltv]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             authorityInfoAccess=OCSP;URI:http://ocsp.test/root\n\
             [signer_ltv]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             authorityInfoAccess=OCSP;URI:http://ocsp.test/inter\n\
             [tsa_ltv]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             authorityInfoAccess=OCSP;URI:http://ocsp.test/root\n",
        )
        .expect("write ext.cnf");
        let genkey = |name: &str, alg: &[&str]| {
            run(Command::new("openssl").arg("genpkey").args(alg).args(["-out", &p(name)]));
        };
        let ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
        let rsa = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
        genkey("root.key", &ec);
        genkey("inter.key", &ec);
        genkey("inter-ltv.key", &ec);
        genkey("op.key", &ec);
        genkey("oprsa.key", &rsa);
        genkey("tsa.key", &rsa);
        run(Command::new("openssl").args([
            "req", "-new", "-x509", "-key", &p("root.key"), "-out", &p("root.pem"), "-days", "3650",
            "-subj", "/O=certmail test/CN=certmail test root", "-config", &p("ext.cnf"),
            "-extensions", "ca", "-sha256",
        ]));
        let issue = |name: &str, key: &str, subj: &str, ca: &str, ext: &str| {
            run(Command::new("openssl").args([
                "req", "-new", "-key", &p(key), "-subj", subj, "-out", &p(&format!("{name}.csr")),
                "-config", &p("ext.cnf"),
            ]));
            run(Command::new("openssl").args([
                "x509", "-req", "-in", &p(&format!("{name}.csr")), "-CA", &p(&format!("{ca}.pem")),
                "-CAkey", &p(&format!("{ca}.key")), "-CAcreateserial", "-out", &p(&format!("{name}.pem")),
                "-days", "365", "-sha256", "-extfile", &p("ext.cnf"), "-extensions", ext,
            ]));
        };
        issue("inter", "inter.key", "/O=certmail test/CN=certmail test operators CA", "root", "ca");
        issue("op", "op.key", "/O=certmail test/CN=certmail operator P-256", "inter", "signer");
        issue("oprsa", "oprsa.key", "/O=certmail test/CN=certmail operator RSA", "inter", "signer");
        issue("tsa", "tsa.key", "/O=certmail test/CN=certmail test TSA", "root", "tsa");
        // The same with OCSP responder URLs (authority information access), for B-LT.
        issue("inter-ltv", "inter-ltv.key", "/O=certmail test/CN=certmail test operators CA (LTV)", "root", "inter_ltv");
        issue("op-ltv", "op.key", "/O=certmail test/CN=certmail operator P-256 (LTV)", "inter-ltv", "signer_ltv");
        issue("tsa-ltv", "tsa.key", "/O=certmail test/CN=certmail test TSA (LTV)", "root", "tsa_ltv");
        let cat = |out: &str, parts: &[&str]| {
            let all: String = parts.iter().map(|n| std::fs::read_to_string(d.join(n)).expect("pem")).collect();
            std::fs::write(d.join(out), all).expect("write chain");
        };
        cat("op-chain.pem", &["op.pem", "inter.pem", "root.pem"]);
        cat("oprsa-chain.pem", &["oprsa.pem", "inter.pem", "root.pem"]);
        cat("op-ltv-chain.pem", &["op-ltv.pem", "inter-ltv.pem", "root.pem"]);
        for key in ["op.key", "oprsa.key"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d.join(key), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        std::fs::write(d.join("tsaserial"), "01\n").expect("serial");
        std::fs::write(
            d.join("tsa.cnf"),
            format!(
                "[tsa]\ndefault_tsa=tsa1\n[tsa1]\nserial={serial}\ncrypto_device=builtin\n\
                 signer_cert={cert}\nsigner_key={key}\nsigner_digest=sha256\n\
                 default_policy=1.3.6.1.4.1.99999.1\ndigests=sha256,sha384,sha512\naccuracy=secs:1\n\
                 ordering=no\ntsa_name=yes\ness_cert_id_chain=no\ness_cert_id_alg=sha256\n",
                serial = p("tsaserial"),
                cert = p("tsa.pem"),
                key = p("tsa.key"),
            ),
        )
        .expect("tsa.cnf");
        let ltv = std::fs::read_to_string(d.join("tsa.cnf"))
            .expect("tsa.cnf")
            .replace(&p("tsa.pem"), &p("tsa-ltv.pem"));
        std::fs::write(d.join("tsa-ltv.cnf"), ltv).expect("tsa-ltv.cnf");
        Pki { dir }
    })
}

/// A real RFC 3161 TSA: `openssl ts -query` and `openssl ts -reply -token_out`.
static TSA_LOCK: Mutex<()> = Mutex::new(());

pub(super) struct OpensslTsa {
    /// Time spent inside the TSA, so benchmarks can leave it out.
    spent: Mutex<Duration>,
    /// The `openssl ts` configuration file in the fixture directory.
    config: &'static str,
}

impl OpensslTsa {
    pub(super) fn new() -> Self {
        OpensslTsa {
            spent: Mutex::new(Duration::ZERO),
            config: "tsa.cnf",
        }
    }

    /// The TSA whose certificate names an OCSP responder (B-LT tests).
    pub(super) fn ltv() -> Self {
        OpensslTsa {
            spent: Mutex::new(Duration::ZERO),
            config: "tsa-ltv.cnf",
        }
    }

    /// A TSA whose genTime carries microseconds (`20260101120000.123456Z`), as many public
    /// TSAs send it.
    fn with_fractional_seconds() -> Self {
        let pki = pki();
        let config = "tsa-fraction.cnf";
        let text = format!("{}clock_precision_digits=6\n", pki.read("tsa.cnf"));
        std::fs::write(pki.path(config), text).expect("write tsa-fraction.cnf");
        OpensslTsa {
            spent: Mutex::new(Duration::ZERO),
            config,
        }
    }
}

impl Timestamper for OpensslTsa {
    fn timestamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, TsaError> {
        let started = Instant::now();
        let pki = pki();
        // One openssl TSA at a time (it keeps a serial file); unique names across instances.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let _one = TSA_LOCK.lock().expect("tsa lock");
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let query = pki.path(&format!("q{n}.tsq"));
        let token = pki.path(&format!("t{n}.der"));
        let q = Command::new("openssl")
            .args([
                "ts",
                "-query",
                "-sha256",
                "-cert",
                "-digest",
                &hex::encode(sha256),
                "-out",
            ])
            .arg(&query)
            .output()
            .map_err(|e| TsaError::Unavailable(e.to_string()))?;
        if !q.status.success() {
            return Err(TsaError::Unavailable(
                String::from_utf8_lossy(&q.stderr).into(),
            ));
        }
        let r = Command::new("openssl")
            .args(["ts", "-reply", "-config"])
            .arg(pki.path(self.config))
            .arg("-queryfile")
            .arg(&query)
            .args(["-token_out", "-out"])
            .arg(&token)
            .output()
            .map_err(|e| TsaError::Unavailable(e.to_string()))?;
        if !r.status.success() {
            return Err(TsaError::Invalid(String::from_utf8_lossy(&r.stderr).into()));
        }
        let der = std::fs::read(&token).map_err(|e| TsaError::Invalid(e.to_string()))?;
        *self.spent.lock().expect("spent") += started.elapsed();
        Ok(der)
    }
}

/// A TSA that is down.
struct DownTsa;
impl Timestamper for DownTsa {
    fn timestamp(&self, _: &[u8; 32]) -> Result<Vec<u8>, TsaError> {
        Err(TsaError::Unavailable("connection refused".into()))
    }
}

/// A TSA answering with a valid token for some other imprint.
struct WrongTsa(OpensslTsa);
impl Timestamper for WrongTsa {
    fn timestamp(&self, _: &[u8; 32]) -> Result<Vec<u8>, TsaError> {
        self.0.timestamp(&[7; 32])
    }
}

/// A one-page PDF with a classic cross-reference table, written by hand.
pub(super) fn classic_pdf() -> Vec<u8> {
    let content = b"BT /F1 24 Tf 72 760 Td (Certificate of delivery: Hello) Tj ET\n";
    let objects: Vec<Vec<u8>> = vec![
        b"<</Type /Catalog /Pages 2 0 R>>".to_vec(),
        b"<</Type /Pages /Kids [3 0 R] /Count 1>>".to_vec(),
        b"<</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources <</Font <</F1 5 0 R>>>> /Contents 4 0 R>>"
            .to_vec(),
        [format!("<</Length {}>>\nstream\n", content.len()).as_bytes(), content, b"endstream"].concat(),
        b"<</Type /Font /Subtype /Type1 /BaseFont /Helvetica>>".to_vec(),
        b"<</Producer (certmail test) /Title (test)>>".to_vec(),
    ];
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f\r\n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<</Size {} /Root 1 0 R /Info 6 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]>>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A PDF 1.5 with object streams and a cross-reference stream, written by lopdf.
fn xref_stream_pdf() -> Vec<u8> {
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        b"BT /F1 24 Tf 72 760 Td (Hello from lopdf) Tj ET".to_vec(),
    ));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 },
        ),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_modern(&mut out).expect("save_modern");
    out
}

pub(super) fn signer(kind: &str) -> Signer {
    let pki = pki();
    let (key, chain) = match kind {
        "p256" => ("op.key", "op-chain.pem"),
        "ltv" => ("op.key", "op-ltv-chain.pem"),
        _ => ("oprsa.key", "oprsa-chain.pem"),
    };
    Signer::from_pem_files(&pki.path(key), &pki.path(chain)).expect("load signer")
}

fn signed(kind: &str, pdf: &[u8]) -> Vec<u8> {
    signer(kind)
        .sign_pdf(
            pdf,
            "Certificate of delivery — serial 42",
            &OpensslTsa::new(),
        )
        .expect("sign")
}

fn assert_valid(pdf: &[u8]) {
    let report = verify_pdf(pdf, &pki().read("root.pem"));
    for (name, ok, detail) in &report.checks {
        eprintln!("{} {name}: {detail}", if *ok { "ok  " } else { "FAIL" });
    }
    assert!(report.valid, "verify_pdf: {report:#?}");
    assert!(report.checks.len() >= 11, "{report:#?}");
    // certmail signs B-T; the levels above need /DSS and a document time-stamp.
    assert_eq!(report.level, Some(super::Level::T), "{report:#?}");
}

/// Flips one byte of the page content ("Hello" → "Jello"), inside the signed range.
fn tampered(pdf: &[u8]) -> Vec<u8> {
    let mut bad = pdf.to_vec();
    let at = bad
        .windows(5)
        .position(|w| w == b"Hello")
        .expect("Hello in the content");
    bad[at] = b'J';
    bad
}

fn failed_checks(pdf: &[u8]) -> Vec<String> {
    verify_pdf(pdf, &pki().read("root.pem"))
        .checks
        .into_iter()
        .filter(|c| !c.1)
        .map(|c| format!("{}: {}", c.0, c.2))
        .collect()
}

#[test]
fn p256_sign_and_verify() {
    let pdf = classic_pdf();
    let out = signed("p256", &pdf);
    assert!(
        out.starts_with(&pdf),
        "the original must be kept byte for byte"
    );
    assert_valid(&out);
    let bad = failed_checks(&tampered(&out));
    assert!(
        bad.iter().any(|c| c.starts_with("message digest")),
        "{bad:?}"
    );
}

#[test]
fn rsa_sign_and_verify() {
    let out = signed("rsa", &classic_pdf());
    assert_valid(&out);
    assert!(!verify_pdf(&tampered(&out), &pki().read("root.pem")).valid);
}

#[test]
fn xref_stream_document() {
    let pdf = xref_stream_pdf();
    let out = signed("p256", &pdf);
    assert_valid(&out);
    qpdf_check(&out);
}

#[test]
fn second_signature_is_the_one_verified() {
    let once = signed("p256", &classic_pdf());
    let twice = signed("rsa", &once);
    assert_valid(&twice);
    let s = String::from_utf8_lossy(&twice);
    assert!(
        s.contains("/T(Signature2)"),
        "second field gets a fresh name"
    );
    // The first signature no longer covers the whole file.
    let report = verify_pdf(&once, &pki().read("root.pem"));
    assert!(report.valid);
}

#[test]
fn signed_structure_and_no_duplicate_keys() {
    let out = signed("p256", &classic_pdf());
    let text = String::from_utf8_lossy(&out);
    let update = &text[classic_pdf().len()..];
    for key in [
        "/Filter /Adobe.PPKLite",
        "/SubFilter /ETSI.CAdES.detached",
        "/M (D:",
        "/Reason <FEFF",
        "/FT/Sig",
        "/F 132",
        "/Rect[0 0 0 0]",
        "/SigFlags 3",
        "/Annots[8 0 R]",
    ] {
        assert!(update.contains(key), "{key} missing in {update:.600}");
    }
    // Each dictionary of the update, parsed back by lopdf (which keeps the last of duplicate
    // keys), must have as many keys as the text has names at its top level.
    let doc = lopdf::Document::load_mem(&out).expect("reload");
    let sig = doc
        .objects
        .values()
        .find_map(|o| o.as_dict().ok().filter(|d| d.has(b"ByteRange")))
        .expect("signature dictionary");
    assert_eq!(sig.len(), 7, "{sig:?}");
    let located = pdf::locate_last_signature(&out).expect("locate");
    let cms = cades::Cms::parse(&located.contents).expect("cms");
    assert!(cms.signed_attr(cades::oid::SIGNING_TIME).is_empty());
    assert_eq!(cms.signed_attr(cades::oid::CONTENT_TYPE).len(), 1);
    assert_eq!(cms.signed_attr(cades::oid::SIGNING_CERTIFICATE_V2).len(), 1);
    assert_eq!(cms.certs.len(), 3, "the whole chain is embedded");
    assert!(cms.timestamp_token().expect("token").is_some());
}

#[test]
fn timestamp_summary_of_signed_pdf() {
    let out = signed("p256", &classic_pdf());
    let s = timestamp_summary(&out);
    assert_eq!(s["policy"], "1.3.6.1.4.1.99999.1", "{s}");
    assert!(
        s["gen_time"].as_str().is_some_and(|t| t.starts_with("20")),
        "{s}"
    );
    assert!(
        s["tsa"]
            .as_str()
            .is_some_and(|t| t.contains("certmail test TSA")),
        "{s}"
    );
    assert_eq!(timestamp_summary(&classic_pdf()), serde_json::Value::Null);
}

/// A TSA that sends fractional seconds: its token is embedded, read back by the verifier and
/// summarised for the event log. Fails on the code that read tokens with x509-tsp's
/// `TSTInfo` in the signer ("time-stamp token unusable": its GeneralizedTime refuses
/// fractions) while the TSA client accepted them.
#[test]
fn fractional_gen_time_signs_and_verifies() {
    let tsa = OpensslTsa::with_fractional_seconds();
    let out = signer("p256")
        .sign_pdf(&classic_pdf(), "r", &tsa)
        .expect("sign with a fractional genTime");
    assert_valid(&out);
    let s = timestamp_summary(&out);
    // Up to six digits: openssl drops trailing zeros (all of them, one time in a million).
    let gen_time = s["gen_time"].as_str().unwrap_or_default().to_string();
    assert!(
        (20..=27).contains(&gen_time.len()) && gen_time.ends_with('Z'),
        "gen_time {gen_time:?} in {s}"
    );
    let (token, _) = timestamp_parts(&out).expect("parts");
    assert_eq!(
        crate::timestamp::tst_info(&token)
            .expect("tst_info")
            .gen_time,
        gen_time
    );
}

#[test]
fn tsa_failures_are_errors() {
    let s = signer("p256");
    let e = s
        .sign_pdf(&classic_pdf(), "r", &DownTsa)
        .expect_err("down TSA");
    assert!(matches!(e, Error::Io(_)), "{e}");
    let e = s
        .sign_pdf(&classic_pdf(), "r", &WrongTsa(OpensslTsa::new()))
        .expect_err("wrong imprint");
    assert!(e.to_string().contains("another message imprint"), "{e}");
}

#[test]
fn refuses_readable_key_and_mismatched_chain() {
    use std::os::unix::fs::PermissionsExt;
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.pem");
    std::fs::copy(pki.path("op.key"), &key).expect("copy");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let e = Signer::from_pem_files(&key, &pki.path("op-chain.pem")).expect_err("mode 640");
    assert!(
        matches!(&e, Error::Config(m) if m.contains("chmod 600")),
        "{e}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let e = Signer::from_pem_files(&key, &pki.path("oprsa-chain.pem")).expect_err("wrong chain");
    assert!(e.to_string().contains("does not belong"), "{e}");
    let reversed = [pki.read("inter.pem"), pki.read("op.pem")].concat();
    let e =
        Signer::from_pem(pki.read("op.key").as_bytes(), reversed.as_bytes()).expect_err("order");
    assert!(
        e.to_string().contains("does not belong") || e.to_string().contains("order"),
        "{e}"
    );
    let e = Signer::from_pem(
        b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        b"",
    )
    .expect_err("sec1");
    assert!(matches!(e, Error::Config(_)), "{e}");
}

#[test]
fn verify_rejects_garbage_and_foreign_anchor() {
    let report = verify_pdf(b"not a pdf", &pki().read("root.pem"));
    assert!(!report.valid);
    let report = verify_pdf(&classic_pdf(), &pki().read("root.pem"));
    assert!(!report.valid);
    let out = signed("p256", &classic_pdf());
    // The TSA certificate is not a CA: trusting only it must fail the operator's chain.
    let report = verify_pdf(&out, &pki().read("tsa.pem"));
    assert!(!report.valid);
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.0 == "certificate chain" && !c.1),
        "{report:#?}"
    );
    let mut appended = out.clone();
    appended.extend_from_slice(b"% appended after signing\n");
    let bad = failed_checks(&appended);
    assert!(bad.iter().any(|c| c.starts_with("byte range")), "{bad:?}");
}

// ----- independent validators -----

fn write_tmp(dir: &tempfile::TempDir, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, data).expect("write");
    p
}

fn qpdf_check(pdf: &[u8]) {
    if !have("qpdf") {
        eprintln!("SKIPPED qpdf --check: qpdf is not installed (apt-get install qpdf)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write_tmp(&dir, "s.pdf", pdf);
    let out = Command::new("qpdf")
        .arg("--check")
        .arg(&f)
        .output()
        .expect("qpdf");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "qpdf --check: {}",
        text.lines()
            .find(|l| l.starts_with("No syntax"))
            .unwrap_or("")
    );
    assert!(
        out.status.success() && text.contains("No syntax or stream encoding errors"),
        "{text}"
    );
    assert!(!text.to_lowercase().contains("warning"), "{text}");
}

#[test]
fn validator_qpdf() {
    qpdf_check(&signed("p256", &classic_pdf()));
    qpdf_check(&signed("rsa", &classic_pdf()));
}

fn pdfsig(pdf: &[u8]) -> Option<String> {
    if !have("pdfsig") || !have("certutil") {
        eprintln!("SKIPPED pdfsig: needs poppler-utils and libnss3-tools");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("nss");
    std::fs::create_dir(&db).expect("mkdir");
    let db_arg = format!("sql:{}", db.display());
    run(Command::new("certutil").args(["-N", "--empty-password", "-d", &db_arg]));
    run(Command::new("certutil")
        .args([
            "-A",
            "-d",
            &db_arg,
            "-n",
            "certmail test root",
            "-t",
            "CT,C,C",
            "-i",
        ])
        .arg(pki().path("root.pem")));
    let f = write_tmp(&dir, "s.pdf", pdf);
    let out = Command::new("pdfsig")
        .args(["-nssdir", &db_arg])
        .arg(&f)
        .output()
        .expect("pdfsig");
    Some(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn validator_pdfsig() {
    for kind in ["p256", "rsa"] {
        let out = signed(kind, &classic_pdf());
        let Some(text) = pdfsig(&out) else { return };
        eprintln!("pdfsig ({kind}):\n{text}");
        assert!(
            text.contains("Signature Validation: Signature is Valid."),
            "{text}"
        );
        assert!(
            text.contains("Certificate Validation: Certificate is Trusted."),
            "{text}"
        );
        assert!(text.contains("ETSI.CAdES.detached"), "{text}");
        let bad = pdfsig(&tampered(&out)).unwrap_or_default();
        eprintln!("pdfsig tampered ({kind}):\n{bad}");
        assert!(!bad.contains("Signature is Valid."), "{bad}");
    }
}

/// `pyhanko sign validate` with the test root as the only trust anchor: (exit status, status
/// line, pretty-printed report).
fn pyhanko(pdf: &[u8]) -> Option<(bool, String, String)> {
    if !have("pyhanko") {
        eprintln!("SKIPPED pyHanko: not installed (pip install pyhanko pyhanko-cli)");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write_tmp(&dir, "s.pdf", pdf);
    let validate = |pretty: bool| {
        let mut cmd = Command::new("pyhanko");
        cmd.args(["sign", "validate", "--trust-replace", "--trust"])
            .arg(pki().path("root.pem"));
        if pretty {
            cmd.arg("--pretty-print");
        }
        let out = cmd.arg(&f).output().expect("pyhanko");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, status) = validate(false);
    let (pretty_ok, pretty) = validate(true);
    Some((ok && pretty_ok, status, pretty))
}

#[test]
fn validator_pyhanko() {
    for kind in ["p256", "rsa"] {
        let out = signed(kind, &classic_pdf());
        let Some((ok, status, pretty)) = pyhanko(&out) else {
            return;
        };
        eprintln!("pyHanko ({kind}): {}", status.trim());
        assert!(ok, "{status}\n{pretty}");
        assert!(
            status.contains(":INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>,UNTOUCHED"),
            "{status}"
        );
        assert!(
            pretty.contains("The signature is judged VALID."),
            "{pretty}"
        );
        assert!(
            pretty.contains("The TSA certificate is trusted."),
            "{pretty}"
        );
        let (bad_ok, bad_status, bad) = pyhanko(&tampered(&out)).unwrap_or_default();
        eprintln!("pyHanko tampered ({kind}): {}", bad_status.trim());
        assert!(!bad_ok && bad_status.contains(":INVALID"), "{bad_status}");
        assert!(bad.contains("The signature is judged INVALID."), "{bad}");
    }
    let out = signed("p256", &xref_stream_pdf());
    if let Some((ok, status, _)) = pyhanko(&out) {
        assert!(
            ok && status.contains("INTACT:TRUSTED"),
            "xref-stream file: {status}"
        );
    }
    let twice = signed("rsa", &signed("p256", &classic_pdf()));
    if let Some((ok, status, pretty)) = pyhanko(&twice) {
        eprintln!("pyHanko (two signatures): {}", status.trim());
        assert!(
            ok && status.matches("INTACT:TRUSTED").count() >= 2,
            "{status}\n{pretty}"
        );
    }
}

#[test]
fn validator_openssl_cms() {
    for kind in ["p256", "rsa"] {
        let out = signed(kind, &classic_pdf());
        let located = pdf::locate_last_signature(&out).expect("locate");
        let r = &located.byte_range;
        let (a, b) = (r[1] as usize, r[2] as usize);
        let content = [&out[..a], &out[b..]].concat();
        let ci = {
            let mut reader = der::SliceReader::new(&located.contents).expect("reader");
            <cms::content_info::ContentInfo as der::Decode>::decode(&mut reader)
                .expect("ContentInfo")
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let cms_file = write_tmp(&dir, "sig.der", &ci.to_der().expect("der"));
        let content_file = write_tmp(&dir, "content.bin", &content);
        let verify = |content: &Path| {
            Command::new("openssl")
                .args([
                    "cms",
                    "-verify",
                    "-binary",
                    "-inform",
                    "DER",
                    "-purpose",
                    "any",
                    "-out",
                    "/dev/null",
                    "-in",
                ])
                .arg(&cms_file)
                .arg("-content")
                .arg(content)
                .arg("-CAfile")
                .arg(pki().path("root.pem"))
                .output()
                .expect("openssl cms")
        };
        let good = verify(&content_file);
        let text = String::from_utf8_lossy(&good.stderr).into_owned();
        eprintln!("openssl cms -verify ({kind}): {}", text.trim());
        assert!(
            good.status.success() && text.contains("Verification successful"),
            "{text}"
        );
        let bad_file = write_tmp(&dir, "bad.bin", &tampered(&content));
        let bad = verify(&bad_file);
        assert!(!bad.status.success(), "tampered content must fail");
        // The embedded token on its own: openssl ts -verify against the imprint.
        let token = cades::Cms::parse(&located.contents)
            .expect("cms")
            .timestamp_token()
            .expect("token")
            .expect("present");
        let token_file = write_tmp(&dir, "token.der", &token);
        let sig_value = cades::Cms::parse(&located.contents)
            .expect("cms")
            .signer
            .signature;
        let imprint = sha2::Sha256::digest(sig_value.as_bytes());
        let ts = Command::new("openssl")
            .args([
                "ts",
                "-verify",
                "-token_in",
                "-digest",
                &hex::encode(imprint),
                "-in",
            ])
            .arg(&token_file)
            .arg("-CAfile")
            .arg(pki().path("root.pem"))
            .output()
            .expect("openssl ts");
        let text =
            String::from_utf8_lossy(&ts.stdout).into_owned() + &String::from_utf8_lossy(&ts.stderr);
        eprintln!("openssl ts -verify ({kind}): {}", text.trim());
        assert!(
            ts.status.success() && text.contains("Verification: OK"),
            "{text}"
        );
    }
}

/// Sign-time medians (20 runs per key type), TSA time excluded:
/// `cargo test -p certd --release -- --ignored sign_time --nocapture`.
#[test]
#[ignore]
fn sign_time() {
    let pdf = classic_pdf();
    for kind in ["p256", "rsa"] {
        let s = signer(kind);
        let tsa = OpensslTsa::new();
        let mut times = Vec::new();
        for _ in 0..20 {
            *tsa.spent.lock().expect("spent") = Duration::ZERO;
            let t = Instant::now();
            s.sign_pdf(&pdf, "bench", &tsa).expect("sign");
            times.push(
                t.elapsed()
                    .saturating_sub(*tsa.spent.lock().expect("spent")),
            );
        }
        times.sort();
        eprintln!(
            "{kind}: median {:?} (min {:?}, max {:?}) over 20 runs, TSA excluded",
            times[10], times[0], times[19]
        );
        let report_time = Instant::now();
        let out = s.sign_pdf(&pdf, "bench", &tsa).expect("sign");
        let _ = verify_pdf(&out, &pki().read("root.pem"));
        eprintln!("{kind}: sign+verify one {:?}", report_time.elapsed());
    }
}

/// Writes signed samples and the test PKI to `$CERTD_SIGNATURE_SAMPLES` for manual checks:
/// `CERTD_SIGNATURE_SAMPLES=/tmp/s cargo test -p certd -- --ignored write_samples`.
#[test]
#[ignore]
fn write_samples() {
    let Some(dir) = std::env::var_os("CERTD_SIGNATURE_SAMPLES") else {
        eprintln!("set CERTD_SIGNATURE_SAMPLES to a directory");
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let p256 = signed("p256", &classic_pdf());
    std::fs::write(dir.join("p256.pdf"), &p256).expect("write");
    std::fs::write(dir.join("p256-tampered.pdf"), tampered(&p256)).expect("write");
    std::fs::write(dir.join("rsa.pdf"), signed("rsa", &classic_pdf())).expect("write");
    std::fs::write(
        dir.join("xref-stream.pdf"),
        signed("p256", &xref_stream_pdf()),
    )
    .expect("write");
    std::fs::write(dir.join("unsigned.pdf"), classic_pdf()).expect("write");
    for f in ["root.pem", "inter.pem", "op.pem", "oprsa.pem", "tsa.pem"] {
        std::fs::copy(pki().path(f), dir.join(f)).expect("copy");
    }
}
