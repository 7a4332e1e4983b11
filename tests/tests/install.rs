//! The documented install (`cargo install --path certd`) gives a certd whose `--help` and man
//! pages are the ones the tests check on the build tree. (certmilter installs the same way;
//! it has no man pages of its own, and installing it too would double this test's build.)

use certmail_e2e::repo_root;
use std::process::Command;

fn output(program: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "run by contrib/test after the suite: cargo install rebuilds certd in the shared target dir"]
fn cargo_install_yields_the_documented_binaries() {
    let root = std::env::temp_dir().join(format!("certmail-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let repo = repo_root();
    // --debug and the workspace's target dir: reuses what the test build compiled (the release
    // build of the admin guide is the same command without --debug).
    let status = Command::new(env!("CARGO"))
        .args(["install", "--quiet", "--locked", "--debug", "--path"])
        .arg(repo.join("certd"))
        .arg("--root")
        .arg(&root)
        .env("CARGO_TARGET_DIR", repo.join("target"))
        .status()
        .expect("run cargo install");
    assert!(status.success(), "cargo install --path certd failed");
    let installed = root.join("bin/certd");
    let built = repo.join("target/debug/certd");
    assert_eq!(output(&installed, &["--help"]), output(&built, &["--help"]));
    let man = output(&installed, &["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH"),
        "a roff page: {man}"
    );
    assert_eq!(man, output(&built, &["man"]));
    // Every command of --help has its section in the installed man page.
    let help = output(&installed, &["--help"]);
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 7, "{commands:?}");
    for c in commands {
        assert!(man.contains(c), "certd.1 lacks {c}");
    }
    let _ = std::fs::remove_dir_all(&root);
}
