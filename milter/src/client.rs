//! The certd client: one request per connection over the Unix socket, with a deadline; and
//! certd's limits, asked once a minute and applied by the milter (one set of limits).

use certmail_protocol::{encode_frame, read_frame, CodecError, Limits, Request, Response};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    #[error("certd answered {request} with {answer}")]
    Unexpected {
        request: &'static str,
        answer: String,
    },
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
        self.call_within(req, u32::MAX).await
    }

    /// Like [`CertdClient::call`], but a request whose frame would exceed `max_frame` bytes is
    /// not sent: `ClientError::Codec(CodecError::TooLarge)`, a permanent condition.
    pub async fn call_within(&self, req: Request, max_frame: u32) -> Result<Response, ClientError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.call_blocking(&req, max_frame))
            .await
            .map_err(|e| ClientError::Task(e.to_string()))?
    }

    pub fn call_blocking(&self, req: &Request, max_frame: u32) -> Result<Response, ClientError> {
        let frame = encode_frame(req, max_frame)?;
        let connect = |source| ClientError::Connect {
            path: self.path.display().to_string(),
            source,
        };
        let mut s = UnixStream::connect(&self.path).map_err(connect)?;
        s.set_read_timeout(Some(self.timeout)).map_err(connect)?;
        s.set_write_timeout(Some(self.timeout)).map_err(connect)?;
        s.write_all(&frame)
            .and_then(|()| s.flush())
            .map_err(CodecError::from)?;
        // Answers are small; the limit only guards against a confused peer.
        Ok(read_frame(&mut s, 1 << 20)?)
    }
}

/// How long certd's limits are trusted before they are asked again: a certd restarted with
/// other limits is followed within this time (and certd checks every submission itself).
const LIMITS_REFRESH: Duration = Duration::from_secs(60);

/// certd's limits as the milter applies them, lowered by certmilter's own `max_message_size`
/// when that is set.
#[derive(Debug, Default)]
pub struct LimitsCache {
    cap: Option<u64>,
    cached: Mutex<Option<(Limits, Instant)>>,
}

/// certmilter's `max_message_size` exceeds certd's: the two configurations disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("certmilter's max_message_size ({cap} bytes) exceeds certd's ({certd} bytes): remove it from certmilter.toml (certd's applies) or lower it")]
pub struct CapAboveCertd {
    pub cap: u64,
    pub certd: u64,
}

impl LimitsCache {
    pub fn new(cap: Option<u64>) -> Self {
        LimitsCache {
            cap,
            cached: Mutex::new(None),
        }
    }

    /// The limits to apply given certd's, or why the configurations disagree.
    pub fn effective(&self, certd: Limits) -> Result<Limits, CapAboveCertd> {
        match self.cap {
            Some(cap) if cap > certd.max_message_size => Err(CapAboveCertd {
                cap,
                certd: certd.max_message_size,
            }),
            Some(cap) => Ok(Limits {
                max_message_size: cap,
                max_text_bytes: certd.max_text_bytes.min(cap),
                ..certd
            }),
            None => Ok(certd),
        }
    }

    /// The limits in force: cached for `LIMITS_REFRESH`, else asked from certd.
    pub async fn get(&self, certd: &CertdClient) -> Result<Limits, ClientError> {
        if let Some((l, at)) = *self.cached.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < LIMITS_REFRESH {
                return Ok(l);
            }
        }
        let announced = match certd.call(Request::Limits).await? {
            Response::Limits(l) => l,
            other => {
                return Err(ClientError::Unexpected {
                    request: "a limits request",
                    answer: format!("{other:?}"),
                })
            }
        };
        let limits = self.effective(announced).unwrap_or_else(|e| {
            // certd was restarted with a smaller limit than certmilter's: certd's wins.
            log::warn!("{e}; applying certd's");
            announced
        });
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((limits, Instant::now()));
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cap_lowers_certd_limits_and_may_not_raise_them() {
        let certd = Limits::for_message_size(40 << 20).unwrap();
        assert_eq!(LimitsCache::new(None).effective(certd), Ok(certd));
        let low = LimitsCache::new(Some(1 << 20)).effective(certd).unwrap();
        assert_eq!(low.max_message_size, 1 << 20);
        assert_eq!(low.max_text_bytes, 1 << 20);
        assert_eq!(low.max_frame_bytes, certd.max_frame_bytes);
        let e = LimitsCache::new(Some(50 << 20))
            .effective(certd)
            .unwrap_err();
        assert!(e.to_string().contains("exceeds certd's"), "{e}");
    }
}
