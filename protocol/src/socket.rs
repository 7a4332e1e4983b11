//! Unix-socket set-up shared by both daemons: the socket spec, stale-file removal, and the
//! mode and group that let Postfix (user `postfix`) connect without opening it to everyone.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;

/// Parses an octal mode such as `"0660"` or `"660"`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let m = u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|_| format!("socket mode {s:?} is not an octal number such as \"0660\""))?;
    if m > 0o777 {
        return Err(format!("socket mode {s:?} is larger than 0777"));
    }
    Ok(m)
}

/// Binds a Unix socket at `path`, replacing a stale socket file (never another kind of file),
/// then applies `mode` and, if given, the group `group`.
pub fn bind_unix(path: &Path, mode: u32, group: Option<&str>) -> io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
    }
    let listener = UnixListener::bind(path)?;
    if let Some(group) = group {
        let gid = group_id(group)?;
        let cpath = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in socket path"))?;
        // SAFETY: cpath is a valid NUL-terminated path; uid -1 leaves the owner unchanged.
        if unsafe { libc::chown(cpath.as_ptr(), u32::MAX, gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// Looks up a group by name (or accepts a numeric gid).
pub fn group_id(group: &str) -> io::Result<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    let cname = CString::new(group)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in group name"))?;
    // SAFETY: getgrnam returns NULL or a pointer to static storage valid until the next call;
    // we copy the gid out at once. Called at start-up only, before threads exist.
    let gr = unsafe { libc::getgrnam(cname.as_ptr()) };
    if gr.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no such group {group:?}"),
        ));
    }
    // SAFETY: gr is non-null and points to a valid struct group.
    Ok(unsafe { (*gr).gr_gid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert!(parse_mode("0999").is_err());
        assert!(parse_mode("7777").is_err());
        assert!(parse_mode("rw").is_err());
    }

    #[test]
    fn bind_replaces_stale_socket_but_not_files() {
        let dir = std::env::temp_dir().join(format!("certmail-sock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s.sock");
        let l = bind_unix(&p, 0o660, None).unwrap();
        drop(l);
        let _l = bind_unix(&p, 0o600, Some("0")).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let f = dir.join("plain");
        std::fs::write(&f, b"x").unwrap();
        assert!(bind_unix(&f, 0o660, None).is_err());
        assert!(group_id("no-such-group-certmail").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
