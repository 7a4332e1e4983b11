//! The admin CLI (`certd customers|contracts|certificates|status|verify|man|completions`)
//! against a database filled by the real flow: contracts submitted through Postfix and
//! certmilter, answered by the counterparty, certified with the sandbox TSA. Every subcommand
//! is run, with bad inputs and their documented exit codes.

use certmail_e2e::{header, pdf_attachments, read_maildir, repo_root, sha256_hex, Sandbox};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(40);

/// The outcome of one CLI run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

fn cli(sb: &Sandbox, args: &[&str]) -> Run {
    let out = sb.cli(args);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the CLI and asserts its exit status, returning the run for further checks.
#[track_caller]
fn expect(sb: &Sandbox, args: &[&str], code: i32) -> Run {
    let r = cli(sb, args);
    assert_eq!(
        r.code, code,
        "certd {args:?}: exit {} (wanted {code})\nstdout: {}\nstderr: {}",
        r.code, r.stdout, r.stderr
    );
    r
}

/// Waits (bounded) until `f` returns something.
fn wait_for<T>(what: &str, sb: &Sandbox, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; certd log:\n{}",
            sb.log("certd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// alice submits a contract naming `to`; returns the new contract's id.
fn submit(sb: &Sandbox, to: &str, subject: &str) -> String {
    sb.submit_contract(
        "alice@contract.test",
        &format!("{to} {subject}"),
        "The parties agree on the terms below.",
        &[("terms.pdf", "application/pdf", b"%PDF-1.4 terms")],
    )
}

/// bob answers the request he received with `words`.
fn bob_answers(sb: &Sandbox, words: &str) {
    let request = wait_for("bob's request", sb, || {
        read_maildir(&sb.maildir("bob"))
            .into_iter()
            .find(|m| header(m, "Reply-To").is_some())
    });
    let reply_to = header(&request, "Reply-To").expect("Reply-To");
    let out = sb.send_answer("bob@example.test", &reply_to, words);
    assert_eq!(out.data.map(|d| d.code), Some(250));
}

/// Certificate PDFs in `who`'s mailbox.
fn certificates_in(sb: &Sandbox, who: &str) -> Vec<Vec<u8>> {
    read_maildir(&sb.maildir(who))
        .iter()
        .flat_map(|m| pdf_attachments(m))
        .filter(|(name, _)| name.starts_with("certificate-"))
        .map(|(_, pdf)| pdf)
        .collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The column at which `word` starts in `line` (in characters).
fn column(line: &str, word: &str) -> usize {
    let at = line
        .find(word)
        .unwrap_or_else(|| panic!("{word:?} not in {line:?}"));
    line[..at].chars().count()
}

#[test]
fn admin_cli_on_a_database_filled_by_the_real_flow() {
    let sb = Sandbox::up("cli");
    let dir = PathBuf::from(sb.get("SANDBOX_DIR"));
    let trust = sb.get("TRUST_ANCHOR").to_string();

    // The real flow: one contract accepted by bob and certified, one left waiting for carol.
    let accepted = submit(&sb, "bob@example.test", "Bicycle sale");
    bob_answers(&sb, "I accept.");
    let waiting = submit(&sb, "carol@example.test", "Garden work");
    wait_for("the certificate", &sb, || {
        let show = sb.cli_json(&["contracts", "show", &accepted, "--json"]);
        show["certificate"].is_object().then_some(())
    });
    let serial = sb.cli_json(&["contracts", "show", &accepted, "--json"])["contract"]["serial"]
        .as_i64()
        .expect("serial");

    // --- customers -----------------------------------------------------------------------
    let r = expect(&sb, &["customers", "list"], 0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let alice = lines
        .iter()
        .find(|l| l.starts_with("alice "))
        .expect("alice listed");
    assert_eq!(
        column(lines[0], "POLICY"),
        column(alice, "smtp-auth"),
        "columns aligned:\n{}",
        r.stdout
    );
    let list = expect(&sb, &["customers", "list", "--json"], 0).json();
    assert!(list
        .as_array()
        .is_some_and(|a| a.iter().any(|c| c["name"] == "acme")));
    let show = expect(&sb, &["customers", "show", "alice", "--json"], 0).json();
    assert_eq!(show["smtp_logins"][0], "alice");
    expect(&sb, &["customers", "show", "alice"], 0);
    expect(&sb, &["customers", "show", "zed"], 3);
    let add = [
        "customers",
        "add",
        "globex",
        "--email",
        "legal@example.test",
        "--dkim-domain",
        "example.test",
        "--policy",
        "dkim",
    ];
    expect(&sb, &add, 0);
    expect(&sb, &add, 4);
    expect(
        &sb,
        &[
            "customers",
            "add",
            "Bad Name",
            "--email",
            "a@example.test",
            "--smtp-login",
            "x",
        ],
        2,
    );
    expect(
        &sb,
        &[
            "customers",
            "add",
            "nomail",
            "--email",
            "nomail",
            "--smtp-login",
            "x",
        ],
        2,
    );
    let set = expect(
        &sb,
        &[
            "customers",
            "set",
            "globex",
            "--language",
            "ja",
            "--deadline",
            "2h",
            "--display-name",
            "Globex KK",
            "--add-smtp-login",
            "globex-sales",
            "--policy",
            "any",
            "--json",
        ],
        0,
    )
    .json();
    assert_eq!(set["language"], "ja");
    assert_eq!(set["deadline_secs"], 7200);
    assert_eq!(set["policy"], "any");
    assert_eq!(set["display_name"], "Globex KK");
    assert_eq!(set["smtp_logins"][0], "globex-sales");
    // What `set` printed is what is stored.
    assert_eq!(
        expect(&sb, &["customers", "show", "globex", "--json"], 0).json(),
        set
    );
    expect(
        &sb,
        &["customers", "set", "globex", "--policy", "password"],
        2,
    );
    expect(&sb, &["customers", "set", "globex", "--language", "fr"], 2);
    expect(
        &sb,
        &["customers", "set", "globex", "--deadline", "soon"],
        2,
    );
    expect(&sb, &["customers", "set", "globex"], 2);
    expect(&sb, &["customers", "set", "zed", "--language", "es"], 3);
    // dkim policy without a DKIM domain would lock the customer out: refused, nothing changes.
    expect(
        &sb,
        &[
            "customers",
            "edit",
            "globex",
            "--policy",
            "dkim",
            "--remove-dkim-domain",
            "example.test",
        ],
        2,
    );
    assert_eq!(
        expect(&sb, &["customers", "show", "globex", "--json"], 0).json()["policy"],
        "any"
    );
    expect(&sb, &["customers", "disable", "globex"], 0);
    assert_eq!(
        sb.cli_json(&["customers", "show", "globex", "--json"])["active"],
        false
    );
    expect(&sb, &["customers", "enable", "globex"], 0);
    assert_eq!(
        sb.cli_json(&["customers", "show", "globex", "--json"])["active"],
        true
    );
    expect(&sb, &["customers", "disable", "zed"], 3);
    expect(&sb, &["customers", "enable", "zed"], 3);

    // --- contracts list --------------------------------------------------------------------
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["contracts", "list", "--json"];
        all.extend_from_slice(args);
        expect(&sb, &all, 0)
            .json()
            .as_array()
            .expect("array")
            .iter()
            .map(|c| c["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        ids(&[]),
        [waiting.as_str(), accepted.as_str()],
        "newest first"
    );
    assert_eq!(ids(&["--state", "accepted"]), [accepted.as_str()]);
    assert_eq!(ids(&["--state", "requested"]), [waiting.as_str()]);
    assert!(ids(&["--state", "rejected"]).is_empty());
    assert_eq!(ids(&["--customer", "alice"]).len(), 2);
    assert!(ids(&["--customer", "globex"]).is_empty());
    assert_eq!(
        ids(&["--destination", "BOB@example.test"]),
        [accepted.as_str()]
    );
    assert_eq!(
        ids(&["--destination", "carol@example.test"]),
        [waiting.as_str()]
    );
    assert!(ids(&["--destination", "+34 600 111 222"]).is_empty());
    assert_eq!(ids(&["--limit", "1"]), [waiting.as_str()]);
    assert_eq!(
        ids(&["--since", "2000-01-01", "--until", "2999-12-31"]).len(),
        2
    );
    assert!(ids(&["--until", "2000-01-01"]).is_empty());
    assert!(ids(&["--since", "2999-01-01T00:00:00+09:00"]).is_empty());
    let table = expect(&sb, &["contracts", "list"], 0).stdout;
    assert!(table.trim_start().starts_with("SERIAL"), "{table}");
    assert!(
        table.contains(&accepted) && table.contains("Bicycle sale"),
        "{table}"
    );
    expect(&sb, &["contracts", "list", "--since", "yesterday"], 2);
    expect(&sb, &["contracts", "list", "--until", "2026-02-30"], 2);
    expect(&sb, &["contracts", "list", "--state", "happy"], 2);
    expect(&sb, &["contracts", "list", "--destination", "bob"], 2);
    expect(&sb, &["contracts", "list", "--limit", "-1"], 2);
    expect(&sb, &["contracts", "list", "--customer", "zed"], 3);

    // --- contracts show --------------------------------------------------------------------
    let show = expect(&sb, &["contracts", "show", &accepted, "--json"], 0).json();
    assert_eq!(show["chain"]["ok"], true);
    assert_eq!(show["contract"]["state"], "accepted");
    assert_eq!(show["answers"][0]["kind"], "reply");
    assert!(show["outbox"]
        .as_array()
        .is_some_and(|o| o.iter().any(|e| e["kind"] == "certificate_copy")));
    let by_serial = expect(
        &sb,
        &["contracts", "show", &serial.to_string(), "--json"],
        0,
    )
    .json();
    assert_eq!(by_serial["contract"]["id"], accepted.as_str());
    let human = expect(&sb, &["contracts", "show", &accepted.to_uppercase()], 0).stdout;
    for needle in [
        "hash chain",
        "intact",
        "submitted",
        "reply",
        "certificate_issued",
    ] {
        assert!(human.contains(needle), "{needle} missing:\n{human}");
    }
    expect(&sb, &["contracts", "show", "aaaaaaaaaaaaaaaaaaaaaaaaaa"], 3);
    expect(&sb, &["contracts", "show", "999999"], 3);
    expect(&sb, &["contracts", "show", "12x"], 2);
    expect(&sb, &["contracts", "show", "0"], 2);

    // --- contracts export ------------------------------------------------------------------
    let bundle = dir.join("bundle");
    expect(
        &sb,
        &["contracts", "export", &accepted, "-o", path_str(&bundle)],
        0,
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).expect("manifest"))
            .expect("manifest JSON");
    let files = manifest["files"].as_array().expect("files");
    let names: Vec<&str> = files.iter().filter_map(|f| f["name"].as_str()).collect();
    for name in [
        "submission.eml",
        "answer-01-reply.eml",
        &format!("certificate-{serial}.pdf"),
        "contract.json",
        "events.json",
    ] {
        assert!(names.contains(&name), "{name} missing in {names:?}");
    }
    for f in files {
        let bytes = std::fs::read(bundle.join(f["name"].as_str().unwrap_or_default()))
            .expect("listed file exists");
        assert_eq!(f["sha256"].as_str(), Some(sha256_hex(&bytes).as_str()));
    }
    let raw = std::fs::read(bundle.join("submission.eml")).expect("submission");
    assert_eq!(
        show["contract"]["raw_sha256"].as_str(),
        Some(sha256_hex(&raw).as_str())
    );
    let reply = std::fs::read(bundle.join("answer-01-reply.eml")).expect("reply");
    assert!(String::from_utf8_lossy(&reply).contains("I accept."));
    // The events carry the exact hashed text: the chain recomputes from the bundle alone.
    let events: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("events.json")).expect("events"))
            .expect("events JSON");
    let mut prev = "0".repeat(64);
    for e in events["events"].as_array().expect("events") {
        let text = format!(
            "certmail-event-v1\n{prev}\n{accepted}\n{}\n{}\n{}\n{}",
            e["seq"],
            e["at"].as_str().unwrap_or_default(),
            e["kind"].as_str().unwrap_or_default(),
            e["data_text"].as_str().unwrap_or_default()
        );
        assert_eq!(e["prev_hash"].as_str(), Some(prev.as_str()));
        assert_eq!(
            e["hash"].as_str(),
            Some(sha256_hex(text.as_bytes()).as_str())
        );
        prev = e["hash"].as_str().unwrap_or_default().to_string();
    }
    expect(
        &sb,
        &["contracts", "export", &accepted, "-o", path_str(&bundle)],
        4,
    );
    // A contract without answers or certificate exports what it has.
    let bundle2 = dir.join("bundle-waiting");
    expect(
        &sb,
        &[
            "contracts",
            "export",
            &waiting,
            "--output",
            path_str(&bundle2),
        ],
        0,
    );
    assert!(bundle2.join("submission.eml").exists());
    assert!(!bundle2.join("answer-01-reply.eml").exists());
    expect(
        &sb,
        &[
            "contracts",
            "export",
            "424242",
            "-o",
            path_str(&dir.join("none")),
        ],
        3,
    );
    assert!(!dir.join("none").exists(), "nothing written for a bad id");

    // --- certificates ----------------------------------------------------------------------
    let pdf_path = dir.join("exported.pdf");
    expect(
        &sb,
        &[
            "certificates",
            "export",
            &accepted,
            "-o",
            path_str(&pdf_path),
        ],
        0,
    );
    let pdf = std::fs::read(&pdf_path).expect("exported pdf");
    assert_eq!(
        std::fs::read(bundle.join(format!("certificate-{serial}.pdf"))).expect("bundle pdf"),
        pdf
    );
    expect(
        &sb,
        &[
            "certificates",
            "export",
            &waiting,
            "-o",
            path_str(&pdf_path),
        ],
        3,
    );
    let v = expect(
        &sb,
        &["certificates", "verify", &accepted, "--trust", &trust],
        0,
    );
    assert!(v.stdout.contains("VALID"), "{}", v.stdout);
    let vj = expect(
        &sb,
        &[
            "certificates",
            "verify",
            &serial.to_string(),
            "--trust",
            &trust,
            "--json",
        ],
        0,
    )
    .json();
    assert_eq!(vj["valid"], true);
    expect(
        &sb,
        &["certificates", "verify", &waiting, "--trust", &trust],
        3,
    );
    expect(
        &sb,
        &[
            "certificates",
            "verify",
            &accepted,
            "--trust",
            "/nonexistent/trust.pem",
        ],
        2,
    );
    expect(&sb, &["verify", path_str(&pdf_path), "--trust", &trust], 0);
    expect(&sb, &["verify", "/nonexistent.pdf", "--trust", &trust], 2);
    let mut tampered = pdf.clone();
    let at = tampered
        .windows(5)
        .position(|w| w == b"/Type")
        .expect("a PDF name");
    tampered[at + 1] ^= 0x20;
    let tampered_path = dir.join("tampered.pdf");
    std::fs::write(&tampered_path, &tampered).expect("write");
    let bad = expect(
        &sb,
        &["verify", path_str(&tampered_path), "--trust", &trust],
        1,
    );
    assert!(bad.stdout.contains("INVALID"), "{}", bad.stdout);
    expect(
        &sb,
        &[
            "certificates",
            "token",
            path_str(&pdf_path),
            "--token",
            path_str(&dir.join("t.der")),
            "--signature-value",
            path_str(&dir.join("s.bin")),
        ],
        0,
    );
    expect(
        &sb,
        &[
            "certificates",
            "token",
            "/nonexistent.pdf",
            "--token",
            path_str(&dir.join("t.der")),
            "--signature-value",
            path_str(&dir.join("s.bin")),
        ],
        2,
    );

    // Resend: the daemon mails new copies, to the original recipients or to --to.
    let alice_before = certificates_in(&sb, "alice").len();
    assert!(alice_before >= 1);
    let r = expect(&sb, &["certificates", "resend", &accepted, "--json"], 0).json();
    assert_eq!(r["to"].as_array().map(Vec::len), Some(2), "{r}");
    wait_for("alice's second copy", &sb, || {
        (certificates_in(&sb, "alice").len() > alice_before).then_some(())
    });
    expect(
        &sb,
        &[
            "certificates",
            "resend",
            &accepted,
            "--to",
            "carol@example.test",
        ],
        0,
    );
    let carols = wait_for("carol's copy", &sb, || {
        let c = certificates_in(&sb, "carol");
        (!c.is_empty()).then_some(c)
    });
    assert_eq!(carols[0], pdf, "the re-sent copy is the stored certificate");
    expect(
        &sb,
        &[
            "certificates",
            "resend",
            &accepted,
            "--to",
            "not an address",
        ],
        2,
    );
    expect(&sb, &["certificates", "resend", &waiting], 3);
    expect(&sb, &["certificates", "resend", "999999"], 3);
    let events = sb.cli_json(&["contracts", "show", &accepted, "--json"])["events"].clone();
    assert_eq!(
        events.as_array().map(|e| e
            .iter()
            .filter(|e| e["kind"] == "certificate_resend")
            .count()),
        Some(2)
    );

    // --- status ----------------------------------------------------------------------------
    let st = wait_for("an idle outbox", &sb, || {
        let r = cli(&sb, &["status", "--json"]);
        let j = r.json();
        (j["outbox"]["pending"] == 0).then_some((r.code, j))
    });
    assert_eq!(st.0, 0, "{}", st.1);
    assert_eq!(st.1["healthy"], true);
    assert_eq!(st.1["socket"]["answers"], true);
    assert_eq!(st.1["contracts"]["total"], 2);
    assert_eq!(st.1["contracts"]["by_state"]["accepted"], 1);
    assert_eq!(st.1["certificates"], 1);
    assert!(st.1["database"]["schema_version"].as_i64() >= Some(5));
    let human = expect(&sb, &["status"], 0).stdout;
    assert!(human.starts_with("certd is HEALTHY"), "{human}");
    expect(&sb, &["status", "--stuck-after", "never"], 2);

    // --- generated documentation -----------------------------------------------------------
    let bash = expect(&sb, &["completions", "bash"], 0).stdout;
    assert!(bash.contains("certd") && bash.contains("resend"));
    expect(&sb, &["completions", "tcsh"], 2);
    let man = expect(&sb, &["man"], 0).stdout;
    assert!(man.starts_with(".ie") || man.contains(".TH certd"), "{man}");

    // --- negative verdicts on a tampered database -------------------------------------------
    let db = rusqlite::Connection::open(sb.get("CERTD_DB")).expect("open database");
    db.busy_timeout(Duration::from_secs(10)).expect("timeout");
    db.execute(
        "UPDATE certificates SET pdf = ?1 WHERE contract_id = ?2",
        rusqlite::params![tampered, accepted],
    )
    .expect("tamper certificate");
    let v = expect(
        &sb,
        &["certificates", "verify", &accepted, "--trust", &trust],
        1,
    );
    assert!(v.stdout.contains("INVALID"));
    // An attacker with file access bypasses the append-only trigger; the chain still tells.
    db.execute_batch(&format!(
        "DROP TRIGGER events_append_only_update;
         UPDATE events SET data = '{{}}' WHERE contract_id = '{accepted}' AND seq = 1;"
    ))
    .expect("tamper event");
    let broken = expect(&sb, &["contracts", "show", &accepted], 1);
    assert!(broken.stdout.contains("BROKEN"), "{}", broken.stdout);
    let broken = expect(&sb, &["contracts", "show", &accepted, "--json"], 1).json();
    assert_eq!(broken["chain"]["ok"], false);
    drop(db);

    // --- the daemon down: unhealthy --------------------------------------------------------
    sb.service("stop", "certd");
    let down = expect(&sb, &["status", "--json"], 1).json();
    assert_eq!(down["healthy"], false);
    assert_eq!(down["socket"]["answers"], false);
    let human = expect(&sb, &["status"], 1).stdout;
    assert!(human.contains("UNHEALTHY") && human.contains("does not answer"));

    // A missing configuration is an environment error, before any database is touched.
    let out = Command::new(sb.get("CERTD_BIN"))
        .args(["--config", "/nonexistent/certd.toml", "contracts", "list"])
        .output()
        .expect("run certd");
    assert_eq!(out.status.code(), Some(5));
}

/// `certd` as built for the sandbox (same convention as `contrib/sandbox`).
fn certd_bin() -> PathBuf {
    let dir = std::env::var_os("CERTMAIL_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug"));
    let bin = dir.join("certd");
    assert!(
        bin.exists(),
        "{} is missing: run cargo build --bins",
        bin.display()
    );
    bin
}

fn run_certd(args: &[&str]) -> String {
    let out = Command::new(certd_bin())
        .args(args)
        // The help text shows the default of --config from the environment otherwise.
        .env_remove("CERTD_CONFIG")
        .output()
        .expect("run certd");
    assert!(
        out.status.success(),
        "certd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Names listed under a `--help` heading such as "Commands:" (first word of each entry).
fn help_section(help: &str, heading: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != heading)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|w| w.trim_end_matches(',').to_string())
        .filter(|w| w != "help")
        .collect()
}

/// The long options of a `--help` text.
fn long_options(help: &str) -> Vec<String> {
    help.split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches([',', '.', ')'])
                .split(['=', '<'])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .filter(|w| w != "--help" && w != "--version")
        .collect()
}

#[test]
fn help_man_pages_and_completions_come_from_one_definition() {
    let tmp = std::env::temp_dir().join(format!("certmail-cli-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    run_certd(&["man", "-o", path_str(&tmp)]);
    let roff = |name: &str| -> String {
        std::fs::read_to_string(tmp.join(name))
            .unwrap_or_else(|e| panic!("man page {name}: {e}"))
            .replace("\\-", "-")
    };
    let bash = run_certd(&["completions", "bash"]);
    let zsh = run_certd(&["completions", "zsh"]);
    let top = run_certd(&["--help"]);
    let commands = help_section(&top, "Commands:");
    assert!(commands.len() >= 7, "{commands:?}");
    assert_eq!(roff("certd.1"), run_certd(&["man"]).replace("\\-", "-"));
    let mut checked = 0;
    for cmd in &commands {
        assert!(
            roff("certd.1").contains(cmd.as_str()),
            "certd.1 lacks {cmd}"
        );
        assert!(bash.contains(cmd.as_str()), "bash completion lacks {cmd}");
        let help = run_certd(&[cmd, "--help"]);
        let subs = help_section(&help, "Commands:");
        let page = roff(&format!("certd-{cmd}.1"));
        let leaves: Vec<(Vec<&str>, String)> = if subs.is_empty() {
            vec![(vec![cmd.as_str()], format!("certd-{cmd}.1"))]
        } else {
            subs.iter()
                .map(|s| {
                    assert!(page.contains(s.as_str()), "certd-{cmd}.1 lacks {s}");
                    assert!(bash.contains(s.as_str()), "bash completion lacks {s}");
                    (vec![cmd.as_str(), s.as_str()], format!("certd-{cmd}-{s}.1"))
                })
                .collect()
        };
        for (path, page) in leaves {
            let mut args = path.clone();
            args.push("--help");
            let help = run_certd(&args);
            let page_text = roff(&page);
            for opt in long_options(&help) {
                assert!(page_text.contains(&opt), "{page} lacks {opt}");
                assert!(
                    bash.contains(&opt) && zsh.contains(&opt),
                    "completions lack {opt} of {path:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "only {checked} options compared");
    let _ = std::fs::remove_dir_all(&tmp);
}
