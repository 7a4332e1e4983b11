//! The certd client: one request per connection over the Unix socket, with a deadline.

use certmail_protocol::{read_frame, write_frame, CodecError, Request, Response};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Why certd could not answer; every case becomes `451 4.3.0` for the SMTP client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to certd at {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("certd exchange failed: {0}")]
    Codec(#[from] CodecError),
    #[error("certd client task failed: {0}")]
    Task(String),
}

#[derive(Clone, Debug)]
pub struct CertdClient {
    pub path: PathBuf,
    pub timeout: Duration,
}

impl CertdClient {
    /// Sends `req` and waits for the answer, at most `timeout` for each read and write.
    /// Runs on tokio's blocking pool: the exchange is short and blocking I/O keeps the
    /// framing code shared with certd.
    pub async fn call(&self, req: Request) -> Result<Response, ClientError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.call_blocking(&req))
            .await
            .map_err(|e| ClientError::Task(e.to_string()))?
    }

    pub fn call_blocking(&self, req: &Request) -> Result<Response, ClientError> {
        let connect = |source| ClientError::Connect {
            path: self.path.display().to_string(),
            source,
        };
        let mut s = UnixStream::connect(&self.path).map_err(connect)?;
        s.set_read_timeout(Some(self.timeout)).map_err(connect)?;
        s.set_write_timeout(Some(self.timeout)).map_err(connect)?;
        write_frame(&mut s, req)?;
        // Answers are small; the limit only guards against a confused peer.
        Ok(read_frame(&mut s, 1 << 20)?)
    }
}
