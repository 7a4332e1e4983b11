//! The database files' modes: created 0600 (0640 for a database group) whatever the umask, and
//! refused when any user may read them, for they hold reply tokens.

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

/// An error when users other than the owner and group may read or write `path` (a missing file
/// is left to whoever opens it); the message names the file and the `chmod` that fixes it.
pub(crate) fn refuse_world_access(path: &Path, what: &str, chmod: &str) -> Result<(), Error> {
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
