//! `certd status`: a health view for admins and monitoring (exit 1 when unhealthy).

use super::table::Table;
use super::{print_json, unix_to_rfc3339};
use crate::config::Config;
use crate::error::Error;
use crate::evidence::Instant;
use crate::store::{Location, Store};
use certmail_protocol::{read_frame, write_frame, Request, Response};
use serde_json::json;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long the daemon may take to answer a ping. It answers from its accept loop without
/// touching the database, so a slow answer already means trouble.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the daemon's socket for a `Pong`.
fn ping(socket: &Path) -> Result<(), String> {
    let mut conn = UnixStream::connect(socket).map_err(|e| format!("cannot connect: {e}"))?;
    conn.set_read_timeout(Some(PING_TIMEOUT))
        .and_then(|()| conn.set_write_timeout(Some(PING_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    write_frame(&mut conn, &Request::Ping).map_err(|e| format!("cannot send ping: {e}"))?;
    match read_frame::<_, Response>(&mut conn, 4096) {
        Ok(Response::Pong) => Ok(()),
        Ok(other) => Err(format!("answered {other:?} instead of Pong")),
        Err(e) => Err(format!("no answer: {e}")),
    }
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn socket_problem(config: &Config, socket: &Result<(), String>) -> Option<String> {
    let e = socket.as_ref().err()?;
    Some(format!(
        "certd does not answer on {}: {e}",
        config.socket.display()
    ))
}

/// The store cannot be opened (the database down, refused, or its TLS not trusted): unhealthy,
/// with why and whether the daemon still answers, so that a monitor gets a verdict, not nothing.
pub(super) fn unreachable(
    config: &Config,
    location: &Location,
    why: &Error,
    json: bool,
) -> Result<bool, Error> {
    let socket = ping(&config.socket);
    let mut problems = vec![format!(
        "the store {} cannot be opened: {why}",
        location.describe()
    )];
    problems.extend(socket_problem(config, &socket));
    if json {
        print_json(&json!({
            "healthy": false,
            "problems": problems,
            "database": {
                "reachable": false, "url": location.describe(), "node": config.node_id(),
            },
            "socket": {
                "path": config.socket, "answers": socket.is_ok(),
                "error": socket.as_ref().err(),
            },
        }))?;
    } else {
        println!("certd is UNHEALTHY");
        for p in &problems {
            println!("  problem: {p}");
        }
    }
    Ok(false)
}

pub(super) fn run(
    config: &Config,
    location: &Location,
    store: &Store,
    stuck_after: u64,
    max_attempts: i64,
    json: bool,
) -> Result<bool, Error> {
    let now = Instant::now();
    let h = store.health(now)?;
    let socket = ping(&config.socket);
    let mut problems: Vec<String> = socket_problem(config, &socket).into_iter().collect();
    let overdue = h
        .outbox_oldest_due_at
        .map(|t| now.unix_secs() - t)
        .filter(|age| *age > stuck_after as i64);
    if let Some(age) = overdue {
        problems.push(format!(
            "the outbox is stuck: an effect has been due for {}",
            humantime::format_duration(Duration::from_secs(age as u64))
        ));
    }
    let worst = h.outbox_failing.first().map(|f| f.attempts).unwrap_or(0);
    if worst >= max_attempts {
        problems.push(format!(
            "an outbox effect has failed {worst} attempts (limit {max_attempts})"
        ));
    }
    // Evidence that is not being issued is never a matter of waiting for more attempts.
    for c in &h.certificates_blocked {
        problems.push(format!(
            "the certificate of contract {} is not issued ({} attempt(s)): {}",
            c.contract_id.as_deref().unwrap_or("-"),
            c.attempts,
            c.last_error.as_deref().unwrap_or("-")
        ));
    }
    let healthy = problems.is_empty();
    let db = match location {
        Location::Sqlite(p) => Some(p.as_path()),
        Location::Postgres(_) => None,
    };
    let db_size = db.and_then(file_size);
    let wal_size = db.and_then(|d| file_size(&with_suffix(d, "-wal")));
    if json {
        print_json(&json!({
            "healthy": healthy,
            "problems": problems,
            "database": {
                "reachable": true,
                "path": db, "size_bytes": db_size, "wal_bytes": wal_size,
                "schema_version": h.schema_version,
                "url": location.describe(), "node": config.node_id(),
            },
            "socket": {
                "path": config.socket, "answers": socket.is_ok(),
                "error": socket.as_ref().err(),
            },
            "customers": {"total": h.customers, "active": h.customers_active},
            "contracts": {"total": h.contracts, "by_state": h.contracts_by_state},
            "certificates": h.certificates,
            "last_event_at": h.last_event_at,
            "outbox": {
                "pending": h.outbox_pending,
                "due": h.outbox_due,
                "oldest_due_at": h.outbox_oldest_due_at.map(unix_to_rfc3339),
                "failing_total": h.outbox_failing_total,
                "failing": h.outbox_failing,
            },
            "certificates_blocked": h.certificates_blocked,
        }))?;
        return Ok(healthy);
    }
    println!("certd is {}", if healthy { "HEALTHY" } else { "UNHEALTHY" });
    for p in &problems {
        println!("  problem: {p}");
    }
    let mut t = Table::new(&["FIELD", "VALUE"]);
    t.row([
        "database",
        &match db {
            Some(db) => format!(
                "{} ({}, WAL {}), schema version {}",
                db.display(),
                db_size.map(human_bytes).unwrap_or_else(|| "missing".into()),
                wal_size.map(human_bytes).unwrap_or_else(|| "none".into()),
                h.schema_version
            ),
            None => format!(
                "{}, schema version {}, node {}",
                location.describe(),
                h.schema_version,
                config.node_id()
            ),
        },
    ]);
    t.row([
        "socket",
        &match &socket {
            Ok(()) => format!("{} answers", config.socket.display()),
            Err(e) => format!("{} DOWN: {e}", config.socket.display()),
        },
    ]);
    t.row([
        "customers",
        &format!("{} ({} active)", h.customers, h.customers_active),
    ]);
    let states: Vec<String> = h
        .contracts_by_state
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    t.row([
        "contracts",
        &if states.is_empty() {
            "0".to_string()
        } else {
            format!("{} ({})", h.contracts, states.join(", "))
        },
    ]);
    t.row(["certificates", &h.certificates.to_string()]);
    t.row([
        "last event",
        h.last_event_at.as_deref().unwrap_or("none yet"),
    ]);
    t.row([
        "outbox",
        &format!(
            "{} pending, {} due{}, {} failing",
            h.outbox_pending,
            h.outbox_due,
            h.outbox_oldest_due_at
                .map(|t| format!(" (oldest since {})", unix_to_rfc3339(t)))
                .unwrap_or_default(),
            h.outbox_failing_total
        ),
    ]);
    print!("{}", t.render().split_once('\n').map(|x| x.1).unwrap_or(""));
    if !h.outbox_failing.is_empty() {
        println!("\nfailing outbox effects:");
        let mut t = Table::new(&[
            "ID",
            "CONTRACT",
            "KIND",
            "ATTEMPTS",
            "NEXT TRY",
            "LAST ERROR",
        ])
        .right(0)
        .right(3)
        .max_width(5, 80);
        for f in &h.outbox_failing {
            t.row([
                f.id.to_string(),
                f.contract_id.clone().unwrap_or_else(|| "-".into()),
                f.kind.clone(),
                f.attempts.to_string(),
                unix_to_rfc3339(f.due_at),
                f.last_error.clone().unwrap_or_default(),
            ]);
        }
        print!("{}", t.render());
    }
    Ok(healthy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }

    #[test]
    fn a_missing_socket_is_reported_not_fatal() {
        let tmp = tempfile::tempdir().unwrap();
        let err = ping(&tmp.path().join("none.sock")).unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");
    }

    #[test]
    fn ping_gets_pong_from_a_listener() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let req: Request = read_frame(&mut c, 4096).unwrap();
            assert!(matches!(req, Request::Ping));
            write_frame(&mut c, &Response::Pong).unwrap();
        });
        assert_eq!(ping(&path), Ok(()));
        server.join().unwrap();
    }
}
