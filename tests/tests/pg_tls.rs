//! certd on a PostgreSQL server reached over TCP, as a node on another machine reaches it
//! (`SANDBOX_PG_TLS=1`): TLS with the server's certificate verified against the configured CA,
//! and a password from a file. A contract goes its whole way so; a foreign CA is refused.

use certmail_e2e::{answer_request, certd_with_config, Sandbox};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

/// certd's CLI with `config`: success, stdout and stderr.
fn certd(sb: &Sandbox, config: &Path, args: &[&str]) -> (bool, String, String) {
    certd_with_config(sb.get("CERTD_BIN"), config, args)
}

fn private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// certd's configuration with one line changed, written beside it (mode 0600).
fn config_with(sb: &Sandbox, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(sb.get("CERTD_CONFIG")).expect("certd.toml");
    assert!(text.contains(from), "{from} not in certd.toml");
    let path = Path::new(sb.get("SANDBOX_DIR")).join(name);
    std::fs::write(&path, text.replace(from, to)).expect("write config");
    private(&path);
    path
}

#[test]
fn a_contract_is_certified_over_tls_and_a_foreign_ca_or_password_is_refused() {
    let sb = Sandbox::up_with(
        "pg-tls",
        &[("SANDBOX_PG_TLS", "1"), ("SANDBOX_STORE", "postgres")],
    );
    assert_eq!(sb.get("STORE"), "postgres");
    let url = sb.get("STORE_TLS_URL");
    assert!(
        url.contains("@localhost:") && url.contains("sslmode=verify-full"),
        "{url}"
    );

    let id = sb.submit_contract(
        sb.get("CONTRACT_ADDRESS"),
        "bob@example.test Offer over TLS",
        "Offer.",
        &[],
    );
    let request = sb.request_mail("bob", WAIT);
    answer_request(sb.smtp_port(), &request, "bob@example.test", "I accept.");
    sb.wait_for_state(&id, "accepted", WAIT);
    sb.certificate_mail("alice", &[], WAIT);

    // Every session certd opened (the daemon's, and the CLI's while it runs) is TLS; the
    // server accepts nothing else on TCP (pg_hba), so plain text could not have worked either.
    let ssl = sb.sql_column(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'certd'",
    );
    assert!(!ssl.is_empty(), "no certd session");
    assert!(ssl.iter().all(|s| s == "t"), "{ssl:?}");

    // The CLI reads the store over TLS too, and the certificate verifies.
    let config = PathBuf::from(sb.get("CERTD_CONFIG"));
    let (ok, status, err) = certd(&sb, &config, &["status"]);
    assert!(ok, "{status}{err}");
    assert!(status.contains("(TLS)"), "{status}");
    // Nothing but the answer: no server NOTICE at every command (the schema check once logged
    // one).
    assert!(err.is_empty(), "{err}");
    let pdf = Path::new(sb.get("SANDBOX_DIR")).join("tls.pdf");
    let (ok, _, err) = certd(
        &sb,
        &config,
        &["certificates", "export", &id, "-o", &pdf.to_string_lossy()],
    );
    assert!(ok, "{err}");
    let out = Command::new(sb.get("CERTD_BIN"))
        .arg("verify")
        .arg(&pdf)
        .args(["--trust", sb.get("TRUST_ANCHOR")])
        .output()
        .expect("certd verify");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("VALID"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A CA that did not sign the server's certificate (the operator's PKI): refused, with why.
    let foreign = config_with(
        &sb,
        "foreign-ca.toml",
        &format!("sslrootcert={}", sb.get("STORE_CA")),
        &format!("sslrootcert={}", sb.get("TRUST_ANCHOR")),
    );
    let (ok, _, err) = certd(&sb, &foreign, &["contracts", "list"]);
    assert!(!ok);
    assert!(
        err.contains("TLS handshake") && err.contains("UnknownIssuer"),
        "{err}"
    );
    // `status` gives monitoring a verdict rather than nothing: unhealthy (exit 1), and why.
    let out = Command::new(sb.get("CERTD_BIN"))
        .arg("--config")
        .arg(&foreign)
        .args(["status", "--json"])
        .output()
        .expect("certd status");
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["healthy"], false);
    assert_eq!(report["database"]["reachable"], false);
    assert_eq!(report["socket"]["answers"], true, "{report}");
    let why = report["problems"][0].as_str().unwrap_or_default();
    assert!(
        why.contains("cannot be opened") && why.contains("UnknownIssuer"),
        "{why}"
    );

    // The password comes from password_file: a wrong one is refused by the server.
    let wrong = Path::new(sb.get("SANDBOX_DIR")).join("wrong-password");
    std::fs::write(&wrong, "not the password\n").expect("write");
    private(&wrong);
    let pg_dir = Path::new(sb.get("STORE_CA"))
        .parent()
        .and_then(Path::parent)
        .expect("the cluster's directory");
    let bad_password = config_with(
        &sb,
        "wrong-password.toml",
        &format!("password_file = \"{}\"", pg_dir.join("password").display()),
        &format!("password_file = \"{}\"", wrong.display()),
    );
    let (ok, _, err) = certd(&sb, &bad_password, &["contracts", "list"]);
    assert!(!ok);
    assert!(err.contains("password authentication failed"), "{err}");
}
