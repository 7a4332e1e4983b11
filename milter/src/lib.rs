//! certmilter: recognises certmail contract traffic in Postfix's SMTP stream, checks that the
//! sender is an authentic customer, splits the message and hands it to certd.
//!
//! Modules, in the order a message meets them: [`classify`] (RCPT), [`session`] (the milter
//! stages), [`split`] and [`subject`] (end of message), [`auth`] (the submission gate and the
//! counterparty evidence), [`dedupe`] and [`client`] (handoff to certd); [`relay`] reads the
//! login of submissions relayed by the operator's submission service. Every refusal is a
//! [`reply::Reply`].

pub mod auth;
pub mod classify;
pub mod client;
pub mod config;
pub mod dedupe;
pub mod error;
pub mod relay;
pub mod reply;
pub mod session;
pub mod split;
pub mod subject;

pub use error::Error;

use config::SocketSpec;
use std::sync::Arc;
use std::time::Duration;

/// Binds the configured socket and runs the milter until SIGTERM or SIGINT.
pub async fn run(config: config::Config) -> Result<(), Error> {
    let region = config.region()?;
    let resolver = auth::Resolver::new(&config.dns_servers)?;
    let certd = client::CertdClient {
        path: config.certd_socket.clone(),
        timeout: Duration::from_secs(config.certd_timeout_secs),
    };
    let spec = config.socket_spec();
    let cfg = config.milter_config();
    let milter = Arc::new(session::Milter::new(config, certd, resolver, region));
    check_limits(&milter).await?;
    let callbacks = session::callbacks(Arc::clone(&milter));
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    match &spec {
        SocketSpec::Unix(path) => {
            let std_listener = certmail_protocol::socket::bind_unix(
                path,
                milter.config.socket_mode(),
                milter.config.socket_group.as_deref(),
            )
            .map_err(|source| Error::Bind {
                path: path.clone(),
                source,
            })?;
            std_listener.set_nonblocking(true)?;
            let listener = tokio::net::UnixListener::from_std(std_listener)?;
            log::info!("certmilter listening on unix:{}", path.display());
            indymilter::run(listener, callbacks, cfg, shutdown).await?;
            let _ = std::fs::remove_file(path);
        }
        SocketSpec::Inet(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            log::info!("certmilter listening on inet:{addr}");
            indymilter::run(listener, callbacks, cfg, shutdown).await?;
        }
    }
    log::info!("certmilter stopped");
    Ok(())
}

/// One set of limits: certd's. A certmilter configured above them refuses to start; a certd
/// not answering yet is asked again at the first contract (certmilter must run regardless, or
/// Postfix would tempfail all mail).
async fn check_limits(milter: &session::Milter) -> Result<(), Error> {
    match milter.certd.call(certmail_protocol::Request::Limits).await {
        Ok(certmail_protocol::Response::Limits(announced)) => {
            let l = milter.limits.effective(announced)?;
            log::info!(
                "limits: messages up to {} bytes, Subjects up to {} characters, {} destinations, {} attachments",
                l.max_message_size,
                l.max_subject_chars,
                l.max_destinations,
                l.max_attachments
            );
        }
        Ok(other) => log::warn!(
            "certd answered a limits request with {other:?}; asking again at the first contract"
        ),
        Err(e) => {
            log::warn!("certd's limits are not known yet ({e}); asking again at the first contract")
        }
    }
    Ok(())
}
