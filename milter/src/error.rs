//! The one error type of certmilter: why it could not start or stopped serving, each case
//! a sentence for the operator (main prints it and exits).

use crate::auth::ResolverError;
use crate::client::CapAboveCertd;
use crate::config::ConfigError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: cannot read {}: {source}", path.display())]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration: {}: {source}", path.display())]
    BadConfig { path: PathBuf, source: ConfigError },
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("configuration: {0}")]
    Resolver(#[from] ResolverError),
    #[error("configuration: {0}")]
    Limits(#[from] CapAboveCertd),
    #[error("configuration: cannot bind {}: {source}", path.display())]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
