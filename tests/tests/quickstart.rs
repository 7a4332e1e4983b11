//! The README's first command, run as a newcomer would, judged by its verdict line.

use certmail_e2e::repo_root;
use std::process::Command;

#[test]
fn quickstart_ends_with_a_verified_certificate() {
    let out = Command::new(repo_root().join("contrib/quickstart"))
        .current_dir(repo_root())
        .output()
        .expect("run contrib/quickstart");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verdict = stdout
        .lines()
        .find(|l| l.starts_with("QUICKSTART:"))
        .unwrap_or_default();
    assert!(
        out.status.success() && verdict.starts_with("QUICKSTART: OK") && verdict.contains("VALID"),
        "verdict {verdict:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
