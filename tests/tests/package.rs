//! The Debian package: `contrib/package` builds `certmail_*.deb` from the test run's binaries,
//! lintian finds no error, and on a clean Debian (mmdebstrap) `apt-get install ./certmail_*.deb`
//! makes users, directories and modes and starts nothing; `systemd-analyze verify` accepts the
//! installed units, `certd status` works with the installed configuration, the quick start runs
//! from the installed binaries, and purge removes what the package made but the evidence store.

use certmail_e2e::repo_root;
use std::borrow::BorrowMut;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(mut cmd: impl BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    eprintln!(
        "$ {cmd:?} -> {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok(mut cmd: impl BorrowMut<Command>) -> String {
    let cmd = cmd.borrow_mut();
    let out = run(&mut *cmd);
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A clean Debian in a directory, with /proc mounted while it lives; unmounted and removed on
/// drop (never removed while anything is still mounted inside it).
struct CleanDebian {
    root: PathBuf,
    proc_mounted: bool,
}

impl CleanDebian {
    fn bootstrap(root: PathBuf) -> CleanDebian {
        let mirror = std::env::var("CERTMAIL_DEBIAN_MIRROR")
            .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
        let started = std::time::Instant::now();
        // The apt variant (essential packages and apt) plus what a Debian server has anyway:
        // systemd as init, man-db (systemd-analyze checks Documentation=man:…), debconf.
        ok(Command::new("mmdebstrap")
            .args([
                "--quiet",
                "--mode=root",
                "--variant=apt",
                "--include=systemd-sysv,man-db,debconf",
                "--skip=cleanup/apt/lists",
                "bookworm",
            ])
            .arg(&root)
            .arg(&mirror));
        eprintln!("mmdebstrap took {:?}", started.elapsed());
        let mut debian = CleanDebian {
            root,
            proc_mounted: false,
        };
        // Nothing installed in the chroot may start a service on the host's network (Postfix
        // on port 25): policy-rc.d forbids it, and Postfix gets no configuration.
        let policy = debian.root.join("usr/sbin/policy-rc.d");
        std::fs::write(&policy, "#!/bin/sh\nexit 101\n").expect("write policy-rc.d");
        std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o755))
            .expect("chmod policy-rc.d");
        ok(Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(debian.root.join("proc")));
        debian.proc_mounted = true;
        ok(debian.shell(
            "echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections",
        ));
        debian
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn shell(&self, script: &str) -> Command {
        let mut c = Command::new("chroot");
        c.arg(&self.root)
            .args(["/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
            .args(["DEBIAN_FRONTEND=noninteractive", "/bin/sh", "-c", script]);
        c
    }

    /// Owner, group and permission bits of a path inside the chroot, by name.
    fn owner(&self, p: &str) -> (String, String, u32) {
        let m = std::fs::metadata(self.path(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        let name = |db: &str, id: u32| {
            std::fs::read_to_string(self.path(db))
                .expect("read the chroot's account database")
                .lines()
                .find(|l| l.split(':').nth(2) == Some(&id.to_string()))
                .and_then(|l| l.split(':').next().map(str::to_owned))
                .unwrap_or_else(|| id.to_string())
        };
        (
            name("etc/passwd", m.uid()),
            name("etc/group", m.gid()),
            m.mode() & 0o7777,
        )
    }

    fn has_user(&self, user: &str) -> bool {
        self.shell(&format!("getent passwd {user}"))
            .status()
            .expect("run getent")
            .success()
    }
}

impl Drop for CleanDebian {
    fn drop(&mut self) {
        if self.proc_mounted {
            let _ = Command::new("umount").arg(self.root.join("proc")).status();
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if mounts.contains(self.root.to_string_lossy().as_ref()) {
            eprintln!("{} still has mounts: left in place", self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Every option `certmilter --help` lists is in the hand-written certmilter(8).
fn assert_man_page_covers_help(certmilter: &Path, page: &str) {
    let help = ok(Command::new(certmilter).arg("--help"));
    let options: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches(','))
        .collect();
    assert!(options.len() >= 4, "{options:?}");
    for o in options {
        let roff = o.replace('-', "\\-");
        assert!(page.contains(&roff), "certmilter.8 lacks {o}");
    }
}

#[test]
#[ignore = "run by contrib/test after the suite: builds a clean Debian (mmdebstrap, 1–2 min) and runs the quick start (1–2 min)"]
fn debian_package_installs_on_a_clean_debian_and_purges_all_but_the_evidence() {
    let repo = repo_root();
    let work = std::env::temp_dir().join(format!("certmail-package-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");

    // The package of the binaries this test run built (contrib/test builds them first).
    let deb = ok(Command::new(repo.join("contrib/package"))
        .args(["--profile", "dev", "--no-build", "--fast", "-o"])
        .arg(work.join("out"))
        .current_dir(&repo));
    let deb = PathBuf::from(deb.trim());
    let name = deb
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a .deb name");
    assert!(
        name.starts_with("certmail_") && name.ends_with(".deb"),
        "{name}"
    );

    // lintian: no error; warnings are printed for the record.
    let lint = run(Command::new("lintian")
        .args(["--fail-on", "error", "--tag-display-limit", "0"])
        .arg(&deb));
    let lint_text = String::from_utf8_lossy(&lint.stdout);
    assert!(lint.status.success(), "lintian errors:\n{lint_text}");
    assert!(
        !lint_text.lines().any(|l| l.starts_with("E:")),
        "{lint_text}"
    );
    for w in lint_text.lines().filter(|l| l.starts_with("W:")) {
        eprintln!("lintian warning: {w}");
    }

    let contents = ok(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for path in [
        "./usr/bin/certd",
        "./usr/sbin/certmilter",
        "./usr/share/man/man1/certd.1.gz",
        "./usr/share/man/man1/certd-status.1.gz",
        "./usr/share/man/man8/certmilter.8.gz",
        "./usr/share/bash-completion/completions/certd",
        "./usr/share/zsh/vendor-completions/_certd",
        "./usr/share/fish/vendor_completions.d/certd.fish",
        "./lib/systemd/system/certd.service",
        "./lib/systemd/system/certmilter.service",
        "./usr/lib/sysusers.d/certmail.conf",
        "./usr/lib/tmpfiles.d/certmail.conf",
        "./etc/certmail/certd.toml",
        "./etc/certmail/certmilter.toml",
    ] {
        assert!(
            contents.lines().any(|l| l.ends_with(path)),
            "the package lacks {path}"
        );
    }
    let conffiles = ok(Command::new("dpkg-deb")
        .arg("--info")
        .arg(&deb)
        .arg("conffiles"));
    assert_eq!(
        conffiles.lines().collect::<Vec<_>>(),
        ["/etc/certmail/certd.toml", "/etc/certmail/certmilter.toml"]
    );

    let debian = CleanDebian::bootstrap(work.join("root"));
    std::fs::copy(&deb, debian.path("tmp").join(name)).expect("copy the .deb in");
    let started = std::time::Instant::now();
    let install = ok(debian.shell(&format!("cd /tmp && apt-get install -y ./{name}")));
    eprintln!("apt-get install took {:?}", started.elapsed());
    assert!(install.contains("nothing started"), "{install}");

    // What the postinst made.
    assert!(debian.has_user("certmail") && debian.has_user("certmilter"));
    assert_eq!(
        debian.owner("/var/lib/certmail"),
        ("certmail".into(), "certmail".into(), 0o750)
    );
    assert_eq!(
        debian.owner("/var/spool/postfix/run/certmail"),
        ("certmilter".into(), "postfix".into(), 0o750)
    );
    assert_eq!(
        debian.owner("/etc/certmail/certd.toml"),
        ("root".into(), "certmail".into(), 0o640)
    );
    assert_eq!(
        debian.owner("/etc/certmail/certmilter.toml"),
        ("root".into(), "certmilter".into(), 0o640)
    );
    // The maintainer scripts run again (an upgrade to the same version) without harm.
    ok(debian.shell(&format!(
        "cd /tmp && apt-get install -y --reinstall ./{name}"
    )));
    assert_eq!(
        debian.owner("/etc/certmail/certd.toml"),
        ("root".into(), "certmail".into(), 0o640)
    );
    // Nothing enabled (and, with policy-rc.d and no running systemd, nothing could start).
    for unit in ["certd.service", "certmilter.service"] {
        let state = run(debian.shell(&format!("systemctl is-enabled {unit}")));
        assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "disabled");
    }

    // The installed units, against the installed binaries, users and man pages.
    let verify = run(debian.shell(
        "systemd-analyze verify /lib/systemd/system/certd.service /lib/systemd/system/certmilter.service",
    ));
    let verify_err = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {verify_err}"
    );
    assert!(
        !verify_err.contains("certd") && !verify_err.contains("certmilter"),
        "systemd-analyze verify complains: {verify_err}"
    );

    // The installed configuration works for both daemons' users, and only for them.
    let check = ok(debian.shell("runuser -u certmilter -- certmilter --check"));
    assert!(
        check.contains("/etc/certmail/certmilter.toml is valid"),
        "{check}"
    );
    let status = run(debian.shell("runuser -u certmail -- certd status"));
    let status_text = String::from_utf8_lossy(&status.stdout);
    // Exit 1 only because the daemon, rightly, was not started.
    assert_eq!(status.status.code(), Some(1), "{status_text}");
    assert!(
        status_text.contains("/var/lib/certmail/certd.sqlite")
            && status_text.contains("schema version"),
        "{status_text}"
    );
    assert!(status_text.contains("certd.sock DOWN"), "{status_text}");
    assert_eq!(
        debian.owner("/var/lib/certmail/certd.sqlite"),
        ("certmail".into(), "certmail".into(), 0o600)
    );
    let nobody = run(debian.shell("runuser -u nobody -- cat /etc/certmail/certd.toml"));
    assert!(!nobody.status.success(), "any user reads certd.toml");

    let page = ok(debian.shell("zcat /usr/share/man/man8/certmilter.8.gz"));
    assert_man_page_covers_help(&debian.path("usr/sbin/certmilter"), &page);

    // The quick start, from the installed binaries (the sandbox runs them from one directory).
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    std::os::unix::fs::symlink(debian.path("usr/bin/certd"), bin.join("certd")).expect("link");
    std::os::unix::fs::symlink(debian.path("usr/sbin/certmilter"), bin.join("certmilter"))
        .expect("link");
    let started = std::time::Instant::now();
    let quick = run(Command::new(repo.join("contrib/quickstart"))
        .env("CERTMAIL_BIN_DIR", &bin)
        .current_dir(&repo));
    eprintln!("the quick start took {:?}", started.elapsed());
    let quick_out = String::from_utf8_lossy(&quick.stdout);
    assert!(
        quick.status.success() && quick_out.contains("QUICKSTART: OK"),
        "quickstart from the installed binaries: {quick_out}"
    );

    // Purge: everything the package made goes, except the evidence store and its owner.
    let purge = ok(debian.shell("apt-get purge -y certmail"));
    assert!(purge.contains("/var/lib/certmail"), "{purge}");
    for gone in [
        "/usr/bin/certd",
        "/usr/sbin/certmilter",
        "/etc/certmail",
        "/var/spool/postfix/run/certmail",
        "/lib/systemd/system/certd.service",
    ] {
        assert!(!debian.path(gone).exists(), "{gone} survived the purge");
    }
    assert!(
        !debian.has_user("certmilter"),
        "the user certmilter survived the purge"
    );
    assert!(
        !ok(debian.shell("getent group certmilter || true")).contains("certmilter"),
        "the group certmilter survived the purge"
    );
    assert!(
        debian.has_user("certmail"),
        "the evidence store's owner was removed"
    );
    assert_eq!(
        debian.owner("/var/lib/certmail/certd.sqlite"),
        ("certmail".into(), "certmail".into(), 0o600)
    );
    let overrides = ok(debian.shell("dpkg-statoverride --list"));
    assert!(!overrides.contains("certmail"), "{overrides}");

    // Without systemd's tools (another init), the postinst falls back to adduser and install:
    // after the postmaster removed the evidence and its owner by hand, as the purge told them.
    ok(debian.shell(
        "deluser --quiet certmail && rm -r /var/lib/certmail && \
         mv /usr/bin/systemd-sysusers /usr/bin/systemd-sysusers.off && \
         mv /usr/bin/systemd-tmpfiles /usr/bin/systemd-tmpfiles.off",
    ));
    assert!(!debian.has_user("certmail"));
    ok(debian.shell(&format!("cd /tmp && apt-get install -y ./{name}")));
    assert!(debian.has_user("certmail") && debian.has_user("certmilter"));
    assert_eq!(
        debian.owner("/var/spool/postfix/run/certmail"),
        ("certmilter".into(), "postfix".into(), 0o750)
    );
    assert_eq!(
        debian.owner("/var/lib/certmail"),
        ("certmail".into(), "certmail".into(), 0o750)
    );
    let status = run(debian.shell("runuser -u certmail -- certd status"));
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("schema version"),
        "certd status after the adduser install"
    );

    drop(debian);
    let _ = std::fs::remove_dir_all(&work);
}
