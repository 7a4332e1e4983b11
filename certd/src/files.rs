//! File modes of certd's private files: the database (with its `-wal` and `-shm`) holds reply
//! tokens, so it is created 0600 (0640 for `database_group`) whatever the umask, and certd refuses
//! to start when any user may read or write the database, a key or a secret file.

use crate::config::Config;
use crate::error::Error;
use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Who may read the database files besides certd's own user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbAccess {
    /// A group given read access (mode 0640); none: mode 0600.
    pub group: Option<String>,
}

impl DbAccess {
    /// The mode of every database file.
    pub fn mode(&self) -> u32 {
        if self.group.is_some() {
            0o640
        } else {
            0o600
        }
    }
}

/// The files SQLite keeps next to a database in WAL mode.
fn wal_files(database: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut p = database.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    })
}

/// Prepares `database` before SQLite opens it: refuses it (and its WAL files) when any user may
/// read or write them, and creates it, empty, with exactly `access.mode()` when it is missing.
/// SQLite gives the `-wal` and `-shm` files it creates the mode (and owner) of the database
/// file (`robust_open` in `os_unix.c`), so the umask never decides who reads reply tokens.
pub fn prepare_database(database: &Path, access: &DbAccess) -> Result<(), Error> {
    let fix = format!("{:o}", access.mode());
    refuse_world_access(database, "database", &fix)?;
    for f in wal_files(database) {
        refuse_world_access(&f, "database file", &fix)?;
    }
    let file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(access.mode())
        .open(database)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => {
            return Err(Error::Database(format!(
                "cannot create {}: {e}",
                database.display()
            )))
        }
    };
    let given = (|| {
        // open(2) applies the umask; fchmod does not.
        file.set_permissions(Permissions::from_mode(access.mode()))?;
        if let Some(group) = &access.group {
            let gid = certmail_protocol::socket::group_id(group)?;
            std::os::unix::fs::fchown(&file, None, Some(gid))?;
        }
        Ok::<(), std::io::Error>(())
    })();
    given.map_err(|e| {
        let _ = std::fs::remove_file(database);
        Error::Config(format!(
            "cannot give {} mode {:o}{}: {e}",
            database.display(),
            access.mode(),
            access
                .group
                .as_deref()
                .map(|g| format!(" and group {g} (certd must run as a member of {g})"))
                .unwrap_or_default()
        ))
    })
}

/// Refuses to start when any user may read or write a key or secret file named in `config`
/// (the signing key is checked more strictly by [`crate::signature::Signer`]).
pub fn check_secret_files(config: &Config) -> Result<(), Error> {
    if let Some(sms) = &config.sms {
        for (path, what) in [
            (&sms.password_file, "sms.password_file"),
            (&sms.callback_secret_file, "sms.callback_secret_file"),
        ] {
            if let Some(p) = path {
                refuse_world_access(p, what, "o-rwx")?;
            }
        }
    }
    if let Some(c) = &config.certificate {
        refuse_world_access(&c.key, "signing key", "600")?;
    }
    Ok(())
}

/// An error when users other than the owner and group may read or write `path` (a missing file
/// is left to whoever opens it); the message names the file and the `chmod` that fixes it.
fn refuse_world_access(path: &Path, what: &str, chmod: &str) -> Result<(), Error> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::Config(format!(
                "cannot check {what} {}: {e}",
                path.display()
            )))
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o006 != 0 {
        return Err(Error::Config(format!(
            "{what} {} may be read or written by any user (mode {mode:03o}); \
             certd does not start so: run `chmod {chmod} {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn chmod(p: &Path, m: u32) {
        std::fs::set_permissions(p, Permissions::from_mode(m)).unwrap();
    }

    /// Runs `f` with the process umask set to `mask` (nextest runs each test in its own process).
    fn with_umask<T>(mask: libc::mode_t, f: impl FnOnce() -> T) -> T {
        // SAFETY: umask only swaps the process's file mode creation mask.
        let old = unsafe { libc::umask(mask) };
        let out = f();
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        out
    }

    #[test]
    fn database_and_wal_files_are_private_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("certd.sqlite");
        let [wal, shm] = wal_files(&db);
        with_umask(0, || {
            let mut s = Store::open(&db).unwrap();
            s.add_customer(&crate::store::tests_support::alice())
                .unwrap();
            // While the connection is open, the write sits in -wal and -shm indexes it.
            for f in [&db, &wal, &shm] {
                assert_eq!(mode(f), 0o600, "{}", f.display());
            }
        });
    }

    #[test]
    fn a_database_group_gets_0640() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("certd.sqlite");
        // Our own primary group: chown to it needs no privilege.
        // SAFETY: getegid cannot fail.
        let gid = unsafe { libc::getegid() };
        let access = DbAccess {
            group: Some(gid.to_string()),
        };
        with_umask(0o077, || prepare_database(&db, &access)).unwrap();
        assert_eq!(mode(&db), 0o640);
        assert_eq!(
            std::os::unix::fs::MetadataExt::gid(&db.metadata().unwrap()),
            gid
        );
        let err = prepare_database(
            &dir.path().join("other.sqlite"),
            &DbAccess {
                group: Some("no-such-group-certmail".into()),
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("no-such-group-certmail"), "{err}");
        assert!(!dir.path().join("other.sqlite").exists());
    }

    #[test]
    fn a_world_readable_database_or_wal_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("certd.sqlite");
        drop(Store::open(&db).unwrap());
        chmod(&db, 0o644);
        let err = Store::open(&db).err().expect("refused").to_string();
        assert!(err.contains(&*db.to_string_lossy()), "{err}");
        assert!(
            err.contains(&format!("chmod 600 {}", db.display())),
            "{err}"
        );
        chmod(&db, 0o602);
        assert!(Store::open(&db).is_err(), "world-writable");
        // Group access alone is the operator's choice (e.g. 0640 from an older install).
        chmod(&db, 0o640);
        drop(Store::open(&db).unwrap());
        let [wal, _] = wal_files(&db);
        std::fs::write(&wal, b"").unwrap();
        chmod(&wal, 0o604);
        let err = Store::open(&db).err().expect("refused").to_string();
        assert!(err.contains(&*wal.to_string_lossy()), "{err}");
    }

    #[test]
    fn world_readable_secret_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("callback.secret");
        let password = dir.path().join("password");
        let key = dir.path().join("operator.key");
        for f in [&secret, &password, &key] {
            std::fs::write(f, b"s3cret").unwrap();
            chmod(f, 0o600);
        }
        let config = Config::parse(&format!(
            "socket='/s'\ndatabase='/d'\n[smtp]\nhost='h'\nport=25\nfrom='a@b'\n\
             [certificate]\nkey='{}'\nchain='/c'\ntsa_urls=['http://t']\n\
             [sms]\nsend_url='http://g'\nsender='1'\npassword_file='{}'\ncallback_secret_file='{}'\n",
            key.display(),
            password.display(),
            secret.display()
        ))
        .unwrap();
        check_secret_files(&config).unwrap();
        chmod(&password, 0o640);
        check_secret_files(&config).expect("group-readable, as root:certmail 0640");
        for (f, m) in [(&secret, 0o644), (&password, 0o606), (&key, 0o604)] {
            chmod(f, m);
            let err = check_secret_files(&config).unwrap_err().to_string();
            assert!(err.contains(&*f.to_string_lossy()), "{err}");
            assert!(err.contains("chmod"), "{err}");
            chmod(f, 0o600);
        }
    }
}
