//! certd: the certification daemon of certmail.
//!
//! It stores contract submissions handed over by certmilter ([`server`], [`store`]), and
//! performs every side effect through a durable outbox ([`outbox`], [`mailer`]).

pub mod answer;
pub mod certificate;
pub mod cli;
pub mod config;
pub mod dsn;
pub mod error;
pub mod evidence;
pub mod files;
pub mod http;
pub mod i18n;
pub mod inbound;
pub mod lifecycle;
pub mod mailer;
pub mod metrics;
pub mod mint;
pub mod outbox;
pub mod record;
pub mod send;
pub mod server;
pub mod signature;
pub mod sms;
pub mod standing;
pub mod store;
pub mod timestamp;

pub use error::Error;

use std::os::unix::io::AsRawFd;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Allocator tuning for certificate rendering, set at the start of a process that renders
/// (certd's `main`, the bench), not by the renderer: it is process-wide. Call it before any
/// thread starts.
///
/// krilla deflates every stream (page contents, each font subset, each embedded file) with a
/// fresh compressor, about 300 KB of zeroed buffers each, a dozen per certificate. With its
/// default tunables glibc hands such blocks back to the kernel when they are freed (heap
/// trimming, or mmap above the dynamic threshold), so every certificate paid page faults and
/// zeroing for them again: a third of the rendering time in the profile of
/// `docs/performance.md` (render 14.4 → 8.7 ms, CPU per certificate 9.1 → 6.5 ms with this).
/// Blocks under 1 MiB now come from the heap, and up to 8 MiB of freed heap (the dozen
/// compressors) is kept for the next certificate. No more: larger blocks and more retained
/// heap showed in certd's peak for a 25 MB contract (71.8 MiB with 4 MiB / 32 MiB).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; callers run it before any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 8 << 20);
    }
}

/// Starts the daemon: opens the store, binds the socket, runs the dispatcher and serves.
pub fn serve(config: &config::Config) -> Result<(), Error> {
    files::check_secret_files(&config.secret_files())?;
    let access = config.database_access();
    let location = config.store_location()?;
    // One certd per SQLite file; on PostgreSQL one per node name (Store::claim_node).
    let _lock = match &location {
        store::Location::Sqlite(path) => Some(single_instance(path, &access)?),
        store::Location::Postgres(_) => None,
    };
    // Checked when the configuration was read; certd does not start on inconsistent limits.
    let limits = config.limits().map_err(Error::Config)?;
    let mut store = store::Store::open_location(&location, &access)?;
    store.set_node(&config.node_id());
    store.claim_node()?;
    store.set_intake(store::Intake {
        limits,
        service_domains: config
            .contract_domain()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    });
    // We are the only certd of this node: leases it left when killed are void, so its
    // unfinished effects are retried now rather than when the leases would expire.
    let released = store.release_leases()?;
    if released > 0 {
        log::info!("{released} outbox effect(s) left unfinished by a previous run will be retried");
    }
    // A certificate that could not be signed (a revoked or expired operator certificate) is
    // tried again at once: the configuration this certd starts with may have fixed it.
    let retried =
        store.retry_failed_now(evidence::JobKind::Certificate, evidence::Instant::now())?;
    if retried > 0 {
        log::info!("{retried} certificate(s) that could not be signed before are tried again now");
    }
    let store = Arc::new(Mutex::new(store));
    if let Some(m) = &config.metrics {
        // A connection of its own, as `certd status` has: a scrape reads a WAL snapshot and
        // never holds the lock the committer and the dispatcher wait for.
        let mut reader = store::Store::open_location(&location, &access)?;
        reader.set_node(&config.node_id());
        metrics::serve(m.listen, m.allow.clone(), Arc::new(Mutex::new(reader)))?;
    }
    let (wake_tx, wake_rx) = mpsc::sync_channel(1);
    let certifier = match &config.certificate {
        Some(c) => Some(certificate::Certifier::from_config(c)?),
        None => {
            log::warn!("no [certificate] section: outcomes are mailed as unsigned notices");
            None
        }
    };
    let sms: Option<Box<dyn sms::gateway::Gateway>> = match &config.sms {
        Some(c) => {
            let gateway = sms::gateway::HttpGateway::new(c)?;
            let secret = match &c.callback_secret_file {
                Some(p) => std::fs::read_to_string(p)
                    .map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))?
                    .trim()
                    .to_string(),
                None => {
                    log::warn!("sms.callback_secret_file is not set: callbacks are protected by sms.callback_allow only");
                    String::new()
                }
            };
            sms::callback::serve(
                c,
                sms::callback::Callbacks {
                    store: Arc::clone(&store),
                    secret,
                    secret_in: c.callback_secret_in,
                    allow: c.callback_allow.clone(),
                    wake: wake_tx.clone(),
                },
            )?;
            Some(Box::new(gateway))
        }
        None => None,
    };
    let dispatcher = outbox::Dispatcher {
        store: Arc::clone(&store),
        transport: mailer::Smtp::new(&config.smtp),
        operator: config.operator.clone(),
        from: config.smtp.from.clone(),
        renew_before_days: config
            .certificate
            .as_ref()
            .map_or(0, |c| c.renew_before_days),
        certifier,
        sms,
        renewed_at: std::cell::Cell::new(None),
        folded_at: std::cell::Cell::new(None),
    };
    // The socket last: when it appears, everything else started (the sandbox and init systems
    // wait for it; a metrics or callback port in use must stop certd before it looks ready).
    let listener = certmail_protocol::socket::bind_unix(
        &config.socket,
        config.socket_mode(),
        config.socket_group.as_deref(),
    )
    .map_err(|e| Error::Config(format!("cannot bind {}: {e}", config.socket.display())))?;
    std::thread::Builder::new()
        .name("outbox".into())
        .spawn(move || dispatcher.run(wake_rx, Duration::from_secs(1)))?;
    log::info!(
        "certd listening on {} (node {}, store {}; messages up to {} bytes, frames up to {} bytes)",
        config.socket.display(),
        config.node_id(),
        location.describe(),
        limits.max_message_size,
        limits.max_frame_bytes
    );
    let server = Arc::new(server::Server {
        committer: server::Committer::start(Arc::clone(&store))?,
        store,
        limits,
        wake: wake_tx,
    });
    server.serve(listener)
}

/// Holds an exclusive `flock` on `<database>.lock` for the life of the daemon: two certd on one
/// database would break the one-writer and lease rules.
fn single_instance(
    database: &std::path::Path,
    access: &files::DbAccess,
) -> Result<std::fs::File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut path = database.as_os_str().to_owned();
    path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(access.mode())
        .open(&path)?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(Error::Config(format!(
            "another certd is already serving {} (lock {} is held)",
            database.display(),
            std::path::Path::new(&path).display()
        )));
    }
    Ok(file)
}
