//! certmilter's configuration: one TOML file, documented in `contrib/certmilter.toml.example`.

use crate::error::Error;
use certmail_protocol::LimitsError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole configuration of certmilter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where Postfix connects: `unix:/path`, `local:/path`, `inet:host:port` or `inet:port@host`.
    pub socket: String,
    /// Octal mode of a `unix:` socket; user `postfix` must be able to write it.
    #[serde(default = "default_socket_mode")]
    pub socket_mode: String,
    /// Group given to a `unix:` socket (typically `postfix`).
    #[serde(default)]
    pub socket_group: Option<String>,
    /// certd's Unix socket.
    pub certd_socket: PathBuf,
    /// Longest wait for certd before the SMTP client gets `451 4.3.0`. Keep it well under
    /// Postfix's `milter_command_timeout` (30 s).
    #[serde(default = "default_certd_timeout")]
    pub certd_timeout_secs: u64,
    /// Domains whose recipients are contract traffic (`<customer>@<domain>`).
    pub contract_domains: Vec<String>,
    /// ISO 3166 region for mobile numbers written without `+country` in Subjects.
    #[serde(default = "default_region")]
    pub default_region: String,
    /// Largest contract submission accepted, in bytes (larger: `552 5.3.4`). The limit is
    /// certd's (`max_message_size` in certd.toml, asked with `Request::Limits`); this key may
    /// only lower it, and certmilter refuses to start when it exceeds certd's.
    #[serde(default)]
    pub max_message_size: Option<u64>,
    /// Most Postfix connections served at once; more wait to be accepted (Postfix's
    /// `milter_connect_timeout`, then its `milter_default_action`).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A milter connection idle this long is closed. Postfix keeps one per SMTP session, idle
    /// while the client is: keep it above Postfix's `smtpd_timeout` (300 s).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// If set, the original of a contract-only message is delivered here with an
    /// `X-Certmail-Contract` header instead of being discarded after the handoff.
    #[serde(default)]
    pub archive_recipient: Option<String>,
    /// Name servers for DKIM key look-ups; empty means the system resolver configuration.
    #[serde(default)]
    pub dns_servers: Vec<SocketAddr>,
    /// `milter_macro_daemon_name` of the loopback contract relay listener (master.cf), to which
    /// the submission service routes the contract domain. On connections whose `{daemon_name}`
    /// is this, a submission's login is read from the submission service's `Received` header
    /// (`crate::relay`). Unset: no listener is a relay; SMTP AUTH of the session only.
    #[serde(default)]
    pub relay_daemon_name: Option<String>,
}

fn default_socket_mode() -> String {
    "0660".into()
}
fn default_certd_timeout() -> u64 {
    10
}
fn default_region() -> String {
    "ES".into()
}
fn default_max_connections() -> usize {
    100
}
fn default_idle_timeout() -> u64 {
    // libmilter's and indymilter's default: slightly above two hours.
    7210
}

/// Why a configuration cannot be used; certmilter does not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error(transparent)]
    Socket(#[from] BadSocket),
    /// `socket_mode` is no octal mode; the sentence is the protocol crate's.
    #[error("{0}")]
    SocketMode(String),
    #[error("default_region {0:?} is not an ISO 3166 region code")]
    Region(String),
    #[error("max_connections is 0: certmilter would serve no connection")]
    NoConnections,
    #[error("idle_timeout_secs is 0: give the idle time in seconds (default 7210)")]
    NoIdleTimeout,
    #[error(transparent)]
    MessageSize(#[from] LimitsError),
    #[error("contract_domains is empty: name at least one contract domain")]
    NoContractDomains,
}

/// A `socket` value certmilter cannot listen on; `resolve` is why its address did not resolve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "socket {spec:?}: expected unix:/path, inet:host:port or inet:port@host{}",
    .resolve.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
)]
pub struct BadSocket {
    pub spec: String,
    pub resolve: Option<String>,
}

/// A parsed milter socket spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketSpec {
    Unix(PathBuf),
    Inet(SocketAddr),
}

impl SocketSpec {
    /// Accepts Postfix's `unix:/path` and `inet:host:port`, and Sendmail/OpenDKIM's
    /// `local:/path` and `inet:port@host`.
    pub fn parse(s: &str) -> Result<SocketSpec, BadSocket> {
        let bad = || BadSocket {
            spec: s.to_string(),
            resolve: None,
        };
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        match kind {
            "unix" | "local" if rest.starts_with('/') => Ok(SocketSpec::Unix(rest.into())),
            "inet" | "inet6" => {
                let hostport = match rest.split_once('@') {
                    Some((port, host)) => format!("{}:{port}", bracket(host)),
                    None => rest.to_string(),
                };
                let addr = std::net::ToSocketAddrs::to_socket_addrs(&hostport)
                    .map_err(|e| BadSocket {
                        resolve: Some(e.to_string()),
                        ..bad()
                    })?
                    .next()
                    .ok_or_else(bad)?;
                Ok(SocketSpec::Inet(addr))
            }
            _ => Err(bad()),
        }
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| Error::BadConfig {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(text)?;
        SocketSpec::parse(&c.socket)?;
        certmail_protocol::socket::parse_mode(&c.socket_mode).map_err(ConfigError::SocketMode)?;
        c.region()?;
        if c.max_connections == 0 {
            return Err(ConfigError::NoConnections);
        }
        if c.idle_timeout_secs == 0 {
            return Err(ConfigError::NoIdleTimeout);
        }
        if let Some(size) = c.max_message_size {
            certmail_protocol::Limits::for_message_size(size)?;
        }
        if c.contract_domains.is_empty() {
            return Err(ConfigError::NoContractDomains);
        }
        for d in &mut c.contract_domains {
            *d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        }
        Ok(c)
    }

    pub fn socket_spec(&self) -> SocketSpec {
        // Validated in `parse`.
        SocketSpec::parse(&self.socket).unwrap_or(SocketSpec::Unix(PathBuf::from(&self.socket)))
    }

    /// The indymilter settings: connection limit and idle timeout.
    pub fn milter_config(&self) -> indymilter::Config {
        indymilter::Config {
            max_connections: self.max_connections,
            connection_timeout: std::time::Duration::from_secs(self.idle_timeout_secs),
            ..indymilter::Config::default()
        }
    }

    pub fn socket_mode(&self) -> u32 {
        certmail_protocol::socket::parse_mode(&self.socket_mode).unwrap_or(0o660)
    }

    pub fn region(&self) -> Result<phonenumber::country::Id, ConfigError> {
        self.default_region
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| ConfigError::Region(self.default_region.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_specs() {
        assert_eq!(
            SocketSpec::parse("unix:/run/m.sock"),
            Ok(SocketSpec::Unix("/run/m.sock".into()))
        );
        assert_eq!(
            SocketSpec::parse("local:/run/m.sock"),
            Ok(SocketSpec::Unix("/run/m.sock".into()))
        );
        let want = SocketSpec::Inet("127.0.0.1:8891".parse().unwrap());
        assert_eq!(SocketSpec::parse("inet:127.0.0.1:8891"), Ok(want.clone()));
        assert_eq!(SocketSpec::parse("inet:8891@127.0.0.1"), Ok(want));
        assert_eq!(
            SocketSpec::parse("inet6:8891@::1"),
            Ok(SocketSpec::Inet("[::1]:8891".parse().unwrap()))
        );
        for bad in [
            "",
            "/run/x",
            "unix:relative",
            "tcp:1@x",
            "inet:notaport@127.0.0.1",
        ] {
            assert!(SocketSpec::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn example_parses_and_bad_values_are_named() {
        let c = Config::parse(include_str!("../../contrib/certmilter.toml.example")).unwrap();
        assert_eq!(c.contract_domains, ["contract.example.net"]);
        let base = "socket='unix:/s'\ncertd_socket='/c'\ncontract_domains=['C.Test.']\n";
        assert_eq!(Config::parse(base).unwrap().contract_domains, ["c.test"]);
        assert!(Config::parse(&format!("{base}default_region='XX'"))
            .unwrap_err()
            .to_string()
            .contains("region"));
        assert!(Config::parse(&format!("{base}colour='red'")).is_err());
        assert!(Config::parse("socket='unix:/s'\ncertd_socket='/c'\ncontract_domains=[]").is_err());
    }

    #[test]
    fn connection_limit_and_idle_timeout() {
        let base = "socket='unix:/s'\ncertd_socket='/c'\ncontract_domains=['c.test']\n";
        let c = Config::parse(base).unwrap();
        let m = c.milter_config();
        assert_eq!(m.max_connections, 100);
        assert_eq!(m.connection_timeout, std::time::Duration::from_secs(7210));
        assert_eq!(c.max_message_size, None);
        let c = Config::parse(&format!(
            "{base}max_connections=500\nidle_timeout_secs=900\nmax_message_size=1000000"
        ))
        .unwrap();
        let m = c.milter_config();
        assert_eq!(m.max_connections, 500);
        assert_eq!(m.connection_timeout, std::time::Duration::from_secs(900));
        assert_eq!(c.max_message_size, Some(1_000_000));
        for bad in [
            "max_connections=0",
            "idle_timeout_secs=0",
            "max_message_size=10",
        ] {
            assert!(Config::parse(&format!("{base}{bad}")).is_err(), "{bad}");
        }
    }
}
