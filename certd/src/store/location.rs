//! Where a store lives, as the configuration names it: `sqlite:///var/lib/certmail/certd.sqlite`
//! or `postgresql://certd@%2Frun%2Fpostgresql/certmail` (a password never in the URL's display).

use crate::error::Error;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A store's place: one SQLite file, or one PostgreSQL database shared by every node.
#[derive(Clone, Debug)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(Box<postgres::Config>),
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
            let mut config = postgres::Config::from_str(url).map_err(|e| {
                // The URL may hold a password: never echo it.
                Error::Config(format!("store url: not a valid PostgreSQL URL: {e}"))
            })?;
            if config.get_connect_timeout().is_none() {
                config.connect_timeout(Duration::from_secs(10));
            }
            config.application_name("certd");
            return Ok(Location::Postgres(Box::new(config)));
        }
        Err(Error::Config(
            "store url must start with sqlite:// or postgresql://".into(),
        ))
    }

    /// Sets the PostgreSQL password (read from a file or the environment by the caller).
    pub fn with_password(self, password: Option<&str>) -> Location {
        match (self, password) {
            (Location::Postgres(mut c), Some(p)) => {
                c.password(p.trim_end_matches(['\r', '\n']));
                Location::Postgres(c)
            }
            (other, _) => other,
        }
    }

    /// What logs and messages may show: the file, or user, hosts and database (no password).
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("sqlite://{}", p.display()),
            Location::Postgres(c) => {
                let hosts: Vec<String> = c
                    .get_hosts()
                    .iter()
                    .map(|h| match h {
                        postgres::config::Host::Tcp(t) => t.clone(),
                        postgres::config::Host::Unix(p) => p.display().to_string(),
                    })
                    .collect();
                format!(
                    "postgresql://{}@{}:{}/{}",
                    c.get_user().unwrap_or(""),
                    hosts.join(","),
                    c.get_ports()
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    c.get_dbname().unwrap_or("")
                )
            }
        }
    }
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
