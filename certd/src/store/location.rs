//! Where a store lives, as the configuration names it: `sqlite:///var/lib/certmail/certd.sqlite`
//! or `postgresql://certd@%2Frun%2Fpostgresql/certmail` (a password never in the URL's display).

use crate::error::Error;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

/// A store's place: one SQLite file, or one PostgreSQL database shared by every node.
#[derive(Clone, Debug)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(Box<PgTarget>),
}

/// A PostgreSQL database and how to reach it.
#[derive(Clone)]
pub struct PgTarget {
    pub config: postgres::Config,
    /// TLS, the server's certificate verified against `sslrootcert` and its name against the
    /// host (`sslmode=require`, `verify-ca` or `verify-full`); `None`: no TLS.
    pub tls: Option<MakeRustlsConnect>,
}

impl PgTarget {
    /// Connects, over TLS when the URL asked for it.
    pub fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(postgres::NoTls),
        }
    }
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Location {
    /// Parses `sqlite://<absolute path>` or a libpq-style `postgresql://` / `postgres://` URL.
    pub fn parse(url: &str) -> Result<Location, Error> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if !path.starts_with('/') {
                return Err(Error::Config(format!(
                    "store url {url:?}: a SQLite path must be absolute (sqlite:///var/lib/...)"
                )));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgresql://") || url.starts_with("postgres://") {
            let (url, tls) = split_tls(url)?;
            let mut config = postgres::Config::from_str(&url).map_err(|e| {
                // The URL may hold a password: never echo it.
                Error::Config(format!("store url: not a valid PostgreSQL URL: {e}"))
            })?;
            if config.get_connect_timeout().is_none() {
                config.connect_timeout(Duration::from_secs(10));
            }
            config.application_name("certd");
            let tls = match tls {
                None => None,
                Some(roots) => {
                    if config
                        .get_hosts()
                        .iter()
                        .any(|h| !matches!(h, postgres::config::Host::Tcp(_)))
                    {
                        return Err(Error::Config(
                            "store url: TLS (sslmode=require, verify-ca, verify-full) is for a \
                             server reached over TCP, not a Unix socket"
                                .into(),
                        ));
                    }
                    config.ssl_mode(postgres::config::SslMode::Require);
                    Some(connector(&roots)?)
                }
            };
            return Ok(Location::Postgres(Box::new(PgTarget { config, tls })));
        }
        Err(Error::Config(
            "store url must start with sqlite:// or postgresql://".into(),
        ))
    }

    /// Sets the PostgreSQL password (read from a file or the environment by the caller).
    pub fn with_password(self, password: Option<&str>) -> Location {
        match (self, password) {
            (Location::Postgres(mut t), Some(p)) => {
                t.config.password(p.trim_end_matches(['\r', '\n']));
                Location::Postgres(t)
            }
            (other, _) => other,
        }
    }

    /// What logs and messages may show: the file, or user, hosts and database (no password).
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("sqlite://{}", p.display()),
            Location::Postgres(t) => {
                let c = &t.config;
                let hosts: Vec<String> = c
                    .get_hosts()
                    .iter()
                    .map(|h| match h {
                        postgres::config::Host::Tcp(t) => t.clone(),
                        postgres::config::Host::Unix(p) => p.display().to_string(),
                    })
                    .collect();
                format!(
                    "postgresql://{}@{}:{}/{}{}",
                    c.get_user().unwrap_or(""),
                    hosts.join(","),
                    c.get_ports()
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    c.get_dbname().unwrap_or(""),
                    if t.tls.is_some() { " (TLS)" } else { "" }
                )
            }
        }
    }
}

/// Takes libpq's TLS parameters out of the URL's query: certd verifies the server whenever it
/// uses TLS, so `require`, `verify-ca` and `verify-full` all mean `verify-full`, and need
/// `sslrootcert` (the CA file, PEM). Returns the URL left for `postgres::Config` and that file.
fn split_tls(url: &str) -> Result<(String, Option<PathBuf>), Error> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let (mut verify, mut root, mut kept) = (None, None, Vec::new());
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        match (key, value.as_ref()) {
            ("sslmode", mode @ ("require" | "verify-ca" | "verify-full")) => {
                verify = Some(mode.to_string())
            }
            ("sslrootcert", path) => root = Some(PathBuf::from(path)),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    match (verify, root) {
        (None, None) => Ok((url, None)),
        (Some(mode), None) => Err(Error::Config(format!(
            "store url: sslmode={mode} needs sslrootcert=<file>: the CA certificate(s) (PEM) that \
             the server's certificate is verified against"
        ))),
        (None, Some(_)) => Err(Error::Config(
            "store url: sslrootcert is used only with sslmode=verify-full (or require, verify-ca)"
                .into(),
        )),
        (Some(_), Some(root)) => Ok((url, Some(root))),
    }
}

/// A TLS client that trusts only the certificates in `roots` (PEM).
fn connector(roots: &Path) -> Result<MakeRustlsConnect, Error> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let bad = |why: String| Error::Config(format!("store sslrootcert {}: {why}", roots.display()));
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(roots).map_err(|e| bad(e.to_string()))? {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        store.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_backends_and_never_shows_the_password() {
        match Location::parse("sqlite:///var/lib/certmail/certd.sqlite").unwrap() {
            Location::Sqlite(p) => assert_eq!(p, PathBuf::from("/var/lib/certmail/certd.sqlite")),
            other => panic!("{other:?}"),
        }
        let pg = Location::parse("postgresql://certd:s3cret@%2Frun%2Fpg:5433/certmail").unwrap();
        let shown = pg.describe();
        assert_eq!(shown, "postgresql://certd@/run/pg:5433/certmail");
        assert!(!shown.contains("s3cret"));
        assert!(Location::parse("sqlite://relative.db").is_err());
        assert!(Location::parse("mysql://x").is_err());
        let err = Location::parse("postgresql://u:s3cret@h:notaport/db")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;

    const ROOT: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pades-ltv/root.pem"
    );

    fn target(url: &str) -> PgTarget {
        match Location::parse(url).unwrap() {
            Location::Postgres(t) => *t,
            other => panic!("{other:?}"),
        }
    }

    fn error(url: &str) -> String {
        Location::parse(url).unwrap_err().to_string()
    }

    #[test]
    fn every_verifying_mode_is_tls_with_the_named_roots() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let t = target(&format!(
                "postgresql://certd@db.example:5432/certmail?sslmode={mode}&sslrootcert={ROOT}&connect_timeout=3"
            ));
            assert!(t.tls.is_some(), "{mode}");
            assert_eq!(t.config.get_ssl_mode(), postgres::config::SslMode::Require);
            // The parameters certd handles itself are gone; the others reach the driver.
            assert_eq!(
                t.config.get_connect_timeout(),
                Some(&Duration::from_secs(3))
            );
        }
        let shown = Location::parse(&format!(
            "postgresql://certd@db.example/certmail?sslmode=verify-full&sslrootcert={}",
            ROOT.replace('/', "%2F")
        ))
        .unwrap()
        .describe();
        assert_eq!(shown, "postgresql://certd@db.example:5432/certmail (TLS)");
    }

    #[test]
    fn no_tls_unless_asked_and_never_unverified() {
        assert!(target("postgresql://certd@db.example/certmail")
            .tls
            .is_none());
        assert!(
            target("postgresql://certd@db.example/certmail?sslmode=disable")
                .tls
                .is_none()
        );
        let e = error("postgresql://certd@db.example/certmail?sslmode=require");
        assert!(e.contains("needs sslrootcert"), "{e}");
        let e = error(&format!(
            "postgresql://certd@db.example/certmail?sslrootcert={ROOT}"
        ));
        assert!(e.contains("only with sslmode=verify-full"), "{e}");
        let e = error(&format!(
            "postgresql://certd@%2Frun%2Fpostgresql/certmail?sslmode=verify-full&sslrootcert={ROOT}"
        ));
        assert!(e.contains("not a Unix socket"), "{e}");
    }

    #[test]
    fn an_unreadable_or_empty_root_file_is_named() {
        let e = error(
            "postgresql://certd@db/certmail?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        );
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = error(&format!(
            "postgresql://certd@db/certmail?sslmode=verify-full&sslrootcert={}",
            empty.display()
        ));
        assert!(e.contains("no certificate in it"), "{e}");
    }
}
