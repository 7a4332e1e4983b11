//! File modes of certd's private files: the database (with its `-wal` and `-shm`) holds reply
//! tokens, so it is created 0600 (0640 for `database_group`) whatever the umask, and certd refuses
//! to start when any user may read or write the database, a key or a secret file.

use crate::error::Error;
use std::path::PathBuf;

use crate::store::refuse_world_access;
pub use crate::store::{prepare_database, DbAccess};

/// A key or secret file named in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    pub path: PathBuf,
    /// The configuration key that names it, e.g. `sms.password_file`.
    pub what: &'static str,
    /// The `chmod` argument an error message suggests.
    pub chmod: &'static str,
}

/// Refuses to start when any user may read or write one of `files` (the signing key is
/// checked more strictly by `signature::Signer`).
pub fn check_secret_files(files: &[SecretFile]) -> Result<(), Error> {
    for f in files {
        refuse_world_access(&f.path, f.what, f.chmod)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::Store;
    use std::fs::Permissions;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// The files SQLite keeps next to a database in WAL mode.
    fn wal_files(database: &Path) -> [PathBuf; 2] {
        ["-wal", "-shm"].map(|suffix| {
            let mut p = database.as_os_str().to_owned();
            p.push(suffix);
            PathBuf::from(p)
        })
    }

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
            s.add_customer(
                &crate::store::tests_support::alice(),
                crate::evidence::Instant::now(),
            )
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
        check_secret_files(&config.secret_files()).unwrap();
        chmod(&password, 0o640);
        check_secret_files(&config.secret_files()).expect("group-readable, as root:certmail 0640");
        for (f, m) in [(&secret, 0o644), (&password, 0o606), (&key, 0o604)] {
            chmod(f, m);
            let err = check_secret_files(&config.secret_files())
                .unwrap_err()
                .to_string();
            assert!(err.contains(&*f.to_string_lossy()), "{err}");
            assert!(err.contains("chmod"), "{err}");
            chmod(f, 0o600);
        }
    }
}
