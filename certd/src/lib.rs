//! certd: the certification daemon of certmail.
//!
//! It stores contract submissions handed over by certmilter ([`server`], [`store`]), and
//! performs every side effect through a durable outbox ([`outbox`], [`mailer`]).

pub mod answer;
pub mod cli;
pub mod config;
pub mod error;
pub mod i18n;
pub mod inbound;
pub mod lifecycle;
pub mod mailer;
pub mod outbox;
pub mod server;
pub mod store;

pub use error::Error;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Starts the daemon: opens the store, binds the socket, runs the dispatcher and serves.
pub fn serve(config: &config::Config) -> Result<(), Error> {
    let store = Arc::new(Mutex::new(store::Store::open(&config.database)?));
    let listener = certmail_protocol::socket::bind_unix(
        &config.socket,
        config.socket_mode(),
        config.socket_group.as_deref(),
    )
    .map_err(|e| Error::Config(format!("cannot bind {}: {e}", config.socket.display())))?;
    let (wake_tx, wake_rx) = mpsc::sync_channel(1);
    let dispatcher = outbox::Dispatcher {
        store: Arc::clone(&store),
        transport: mailer::Smtp::new(&config.smtp),
        operator: config.operator.clone(),
        from: config.smtp.from.clone(),
    };
    std::thread::Builder::new()
        .name("outbox".into())
        .spawn(move || dispatcher.run(wake_rx, Duration::from_secs(1)))?;
    log::info!(
        "certd listening on {} (database {})",
        config.socket.display(),
        config.database.display()
    );
    let server = Arc::new(server::Server {
        store,
        max_frame: config.max_frame_bytes,
        wake: wake_tx,
    });
    server.serve(listener)
}
