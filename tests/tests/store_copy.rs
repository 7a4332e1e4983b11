//! `certd store copy`: the sandbox's SQLite store moved into a real PostgreSQL (a throwaway
//! cluster of Debian's package, `contrib/pg`), then read by the CLI and its certificate verified.

use certmail_e2e::{certd_with_config, repo_root, Sandbox};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

/// A throwaway cluster, stopped by its PID when dropped.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        // Under /tmp: user postgres must reach the directory.
        let dir = tempfile::Builder::new()
            .prefix("certmail-pg.")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let out = Command::new(repo_root().join("contrib/pg"))
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("run contrib/pg");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Cluster { dir }
    }

    fn url(&self, db: &str) -> String {
        let out = Command::new(repo_root().join("contrib/pg"))
            .args(["url"])
            .arg(self.dir.path())
            .arg(db)
            .output()
            .expect("run contrib/pg url");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("contrib/pg"))
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

#[test]
fn a_sqlite_store_moves_to_postgresql_and_reads_and_verifies_the_same() {
    let sb = Sandbox::up_with("store-copy", &[("SANDBOX_STORE", "sqlite")]);
    sb.add_customer_with_deadline("quick", "2s");
    let id = sb.submit_contract(
        "quick@contract.test",
        "carol@example.test Offer",
        "Offer.",
        &[],
    );
    sb.wait_for_state(&id, "unanswered", WAIT);
    sb.certificate_mail("alice", &[], WAIT);
    let before = sb.contracts();
    sb.service("stop", "certd");

    let cluster = Cluster::start();
    let made = Command::new("psql")
        .args([
            "-q",
            &cluster.url("postgres"),
            "-c",
            "CREATE DATABASE certmail",
        ])
        .output()
        .expect("psql");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let url = cluster.url("certmail");

    let bin = sb.get("CERTD_BIN");
    let out = Command::new(bin)
        .args(["store", "copy", "--json", "--to", &url, "--from"])
        .arg(format!("sqlite://{}", sb.get("CERTD_DB")))
        .output()
        .expect("certd store copy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["chains_verified"], before.len(), "{report}");
    let rows = |table: &str| {
        report["tables"]
            .as_array()
            .and_then(|t| t.iter().find(|r| r[0] == table))
            .map(|r| r[1].as_u64().unwrap_or(0))
            .unwrap_or(0)
    };
    assert_eq!(rows("contracts") as usize, before.len());
    assert!(rows("certificates") >= 1, "{report}");

    // A second copy into the same database is refused: nothing is merged or doubled.
    let again = Command::new(bin)
        .args(["store", "copy", "--to", &url, "--from"])
        .arg(format!("sqlite://{}", sb.get("CERTD_DB")))
        .output()
        .expect("certd store copy");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // The same configuration with the store on PostgreSQL.
    let original = std::fs::read_to_string(sb.get("CERTD_CONFIG")).expect("certd.toml");
    let mut text: String = original
        .lines()
        .filter(|l| !l.starts_with("database ="))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&format!("\n[store]\nurl = \"{url}\"\n"));
    let config = PathBuf::from(sb.get("SANDBOX_DIR")).join("certd-pg.toml");
    std::fs::write(&config, text).expect("write the PostgreSQL configuration");

    let (ok, listed, err) = certd_with_config(
        bin,
        &config,
        &["contracts", "list", "--limit", "0", "--json"],
    );
    assert!(ok, "{err}");
    let after: Vec<serde_json::Value> = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(after, before, "the CLI reads the same contracts");
    let (ok, shown, err) = certd_with_config(bin, &config, &["contracts", "show", &id, "--json"]);
    assert!(ok, "{err}");
    assert!(shown.contains("\"unanswered\""), "{shown}");

    let pdf = PathBuf::from(sb.get("SANDBOX_DIR")).join("copied.pdf");
    let (ok, _, err) = certd_with_config(
        bin,
        &config,
        &["certificates", "export", &id, "-o", &pdf.to_string_lossy()],
    );
    assert!(ok, "{err}");
    let out = Command::new(bin)
        .arg("verify")
        .arg(&pdf)
        .args(["--trust", sb.get("TRUST_ANCHOR")])
        .output()
        .expect("certd verify");
    let verdict = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && verdict.contains("VALID"),
        "{verdict}"
    );
    let (ok, status, err) = certd_with_config(bin, &config, &["status", "--json"]);
    assert!(!ok, "certd is stopped: status is unhealthy");
    assert!(status.contains("\"postgresql://"), "{status}{err}");
}
