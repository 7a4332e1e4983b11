//! certd's configuration: one TOML file, documented in `contrib/certd.toml.example`.

use crate::error::Error;
use certmail_protocol::Limits;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole configuration of certd.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Unix socket the milter connects to.
    pub socket: PathBuf,
    /// Octal mode of the socket; the milter's user or group needs read+write.
    #[serde(default = "default_socket_mode")]
    pub socket_mode: String,
    /// Group given to the socket, e.g. the group certmilter runs as.
    #[serde(default)]
    pub socket_group: Option<String>,
    /// SQLite database file (WAL mode: keep it on a local filesystem); the same as
    /// `[store] url = "sqlite://<path>"`. One of the two is required.
    #[serde(default)]
    pub database: Option<PathBuf>,
    /// Where the store lives, when not `database`: a SQLite file or a PostgreSQL database
    /// shared by several nodes.
    #[serde(default)]
    pub store: Option<StoreConfig>,
    /// This node's name, recorded on every event it writes and unique among the nodes sharing
    /// a PostgreSQL store (two certd with one name are refused). Default: the host name.
    #[serde(default)]
    pub node_id: Option<String>,
    /// A group that may read the database (e.g. for backups or monitoring): its files are then
    /// created 0640 with this group, otherwise 0600. See [`Config::database_access`].
    #[serde(default)]
    pub database_group: Option<String>,
    /// The operator's name as printed in receipts and certificates.
    #[serde(default = "default_operator")]
    pub operator: String,
    /// Largest message certified, in bytes: the one limit every other one derives from
    /// (`certmail_protocol::limits`). certmilter applies it too (it asks certd at start).
    #[serde(default = "default_max_message_size")]
    pub max_message_size: u64,
    /// Largest frame accepted from the milter, in bytes. Derived from `max_message_size` when
    /// absent; certd refuses to start if it is set below what that size needs.
    #[serde(default)]
    pub max_frame_bytes: Option<u32>,
    /// How outgoing mail leaves certd.
    pub smtp: SmtpConfig,
    /// Signing and timestamping of certificates. Without it certd mails the outcome as plain
    /// text only (useful for trials, not for evidence).
    #[serde(default)]
    pub certificate: Option<CertificateConfig>,
    /// The SMS gateway. Without it, contracts naming a phone still get their email leg; the
    /// phone leg is recorded as failed.
    #[serde(default)]
    pub sms: Option<SmsConfig>,
    /// The Prometheus endpoint (`GET /metrics`); absent: not served. See `docs/admin-guide.md`.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
}

/// Where certd serves its metrics. `[metrics]` alone serves them on loopback.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the endpoint; default `127.0.0.1:9465`.
    #[serde(default = "default_metrics_listen")]
    pub listen: std::net::SocketAddr,
    /// Peers allowed to scrape; anyone else gets 403 before any byte is read. Default loopback.
    #[serde(default = "default_callback_allow")]
    pub allow: Vec<std::net::IpAddr>,
}

fn default_metrics_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 9465))
}

/// `[store]`: the database, as a URL. See `docs/configuration.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:///var/lib/certmail/certd.sqlite` or `postgresql://certd@host/certmail`
    /// (libpq URL; a Unix socket directory as `%2Frun%2Fpostgresql`). No password here.
    pub url: String,
    /// A file holding the PostgreSQL password (not readable by other users). Otherwise the
    /// environment variable `CERTMAIL_STORE_PASSWORD`, if set.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// An HTTP SMS gateway (Kannel's `sendsms` by default) and certd's callback endpoint for
/// delivery reports and answers. See `docs/sms.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// The gateway's send URL, e.g. `http://127.0.0.1:13013/cgi-bin/sendsms`.
    pub send_url: String,
    /// `get` (query string, Kannel) or `post` (form body).
    #[serde(default = "default_sms_method")]
    pub method: String,
    #[serde(default)]
    pub username: Option<String>,
    /// The gateway password, read from this file (mode 0600): kept out of the config file.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Sender id or short code the SMS come from, and where answers go.
    pub sender: String,
    /// Request parameters. Empty: Kannel's sendsms parameters. Values may use `{to}`,
    /// `{from}`, `{text}`, `{coding}`, `{charset}`, `{dlr_mask}`, `{dlr_url}`, `{username}`,
    /// `{password}` and `{reference}`.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// Delivery report types asked for (Kannel dlr-mask; 31 = all).
    #[serde(default = "default_dlr_mask")]
    pub dlr_mask: u8,
    #[serde(default = "default_sms_timeout")]
    pub timeout_secs: u64,
    /// Where certd listens for delivery reports and inbound SMS (keep it on loopback or a
    /// private network; see `callback_allow`).
    #[serde(default = "default_callback_listen")]
    pub callback_listen: std::net::SocketAddr,
    /// The base URL the gateway uses to reach `callback_listen`; default `http://<listen>`.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// A file holding the shared secret the gateway must send as `key=` on every callback.
    #[serde(default)]
    pub callback_secret_file: Option<PathBuf>,
    /// Peers allowed to call back; anyone else gets 403 before any byte is read.
    #[serde(default = "default_callback_allow")]
    pub callback_allow: Vec<std::net::IpAddr>,
    /// How the gateway presents the secret: in an HTTP Basic `Proxy-Authorization` or
    /// `Authorization` header (Kannel's `http-proxy-password`), or as `key=` in the URL.
    #[serde(default)]
    pub callback_secret_in: SecretIn,
    /// A callback's request head and body must both arrive within this many seconds.
    #[serde(default = "default_callback_timeout")]
    pub callback_timeout_secs: u64,
    /// Largest callback request (head and body); a larger body is answered `413`.
    #[serde(default = "default_callback_max_request")]
    pub callback_max_request_bytes: usize,
    /// Callbacks served at once; one more is answered `503` with `Retry-After`.
    #[serde(default = "default_callback_max_clients")]
    pub callback_max_clients: usize,
}

/// Where the SMS gateway puts the callback secret.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretIn {
    /// The password of HTTP Basic credentials in `Proxy-Authorization` or `Authorization`:
    /// never part of a URL, so never in the gateway's logs.
    #[default]
    Header,
    /// `key=` in the query string or form body (gateways that can send no header; the secret
    /// then shows in the gateway's logs of failed callbacks).
    Query,
}

fn default_sms_method() -> String {
    "get".into()
}
fn default_dlr_mask() -> u8 {
    31
}
fn default_sms_timeout() -> u64 {
    10
}
fn default_callback_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8026))
}
fn default_callback_timeout() -> u64 {
    10
}
fn default_callback_max_request() -> usize {
    64 * 1024
}
fn default_callback_max_clients() -> usize {
    16
}
fn default_callback_allow() -> Vec<std::net::IpAddr> {
    vec![
        std::net::IpAddr::from([127, 0, 0, 1]),
        std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ]
}

impl SmsConfig {
    /// The base URL of the callback endpoint, without a trailing slash.
    pub fn callback_base(&self) -> String {
        self.callback_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.callback_listen))
            .trim_end_matches('/')
            .to_string()
    }
}

/// The operator's signing key, its certificate chain and the time-stamping authorities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// PKCS#8 PEM private key (P-256 or RSA), mode 0600, readable by certd only.
    pub key: PathBuf,
    /// PEM certificates: the operator's first, then its issuers.
    pub chain: PathBuf,
    /// RFC 3161 TSAs, tried in order.
    pub tsa_urls: Vec<String>,
    #[serde(default = "default_tsa_timeout")]
    pub tsa_timeout_secs: u64,
    /// The PAdES level certificates are issued at (ETSI EN 319 142-1 section 6). B-LTA (the
    /// default) keeps them verifiable after the operator's and the TSA's certificates expire;
    /// B-LT or B-T only for a PKI without OCSP or CRLs (a test PKI), never for evidence that
    /// must last. B-B is refused: the time-stamp is what dates the evidence.
    #[serde(default = "default_level")]
    pub level: crate::signature::Level,
    /// Timeout of each OCSP or CRL request made for B-LT.
    #[serde(default = "default_tsa_timeout")]
    pub revocation_timeout_secs: u64,
    /// PEM certificates of the TSAs' issuing CAs, when they are not in `chain`: B-LT embeds
    /// the validation data of the TSA's whole path.
    #[serde(default)]
    pub tsa_chain: Option<PathBuf>,
    /// The daemon renews, once a day, the archive time-stamp of every certificate whose
    /// newest time-stamp's TSA certificate expires within this many days (0: never; then run
    /// `certd certificates renew` yourself).
    #[serde(default = "default_renew_before_days")]
    pub renew_before_days: u32,
}

fn default_renew_before_days() -> u32 {
    365
}

fn default_level() -> crate::signature::Level {
    crate::signature::Level::Lta
}

fn default_tsa_timeout() -> u64 {
    10
}

/// The submission path for certd's own mail: an MTA listener *without* milters, so that
/// certd's mail is not classified again (see `postfix/README.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// Envelope and header sender of certd's mail, e.g. `certmail@contract.example.net`.
    pub from: String,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
}

fn default_socket_mode() -> String {
    "0660".into()
}
fn default_operator() -> String {
    "certmail operator".into()
}
fn default_max_message_size() -> u64 {
    certmail_protocol::limits::DEFAULT_MAX_MESSAGE_SIZE
}
fn default_smtp_timeout() -> u64 {
    30
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        certmail_protocol::socket::parse_mode(&c.socket_mode)?;
        c.limits()?;
        if let Some(cert) = &c.certificate {
            if cert.tsa_urls.is_empty() {
                return Err("certificate.tsa_urls is empty: name at least one RFC 3161 TSA".into());
            }
            if cert.level < crate::signature::Level::T {
                return Err(format!(
                    "certificate.level {}: certificates are time-stamped; use B-T, B-LT or B-LTA",
                    cert.level
                ));
            }
        }
        if let Some(sms) = &c.sms {
            if !matches!(sms.method.as_str(), "get" | "post") {
                return Err(format!(
                    "sms.method {:?}: use \"get\" or \"post\"",
                    sms.method
                ));
            }
            if sms.callback_timeout_secs == 0 || sms.callback_max_clients == 0 {
                return Err(
                    "sms.callback_timeout_secs and sms.callback_max_clients must be at least 1"
                        .into(),
                );
            }
            if sms.callback_max_request_bytes < 1024 {
                return Err(format!(
                    "sms.callback_max_request_bytes {} cannot hold a gateway's callback: use at least 1024",
                    sms.callback_max_request_bytes
                ));
            }
            if !(sms.send_url.starts_with("http://") || sms.send_url.starts_with("https://")) {
                return Err(format!(
                    "sms.send_url {:?} is not an http(s) URL",
                    sms.send_url
                ));
            }
        }
        if !c.smtp.from.contains('@') {
            return Err(format!("smtp.from {:?} is not an address", c.smtp.from));
        }
        Ok(c)
    }

    pub fn socket_mode(&self) -> u32 {
        certmail_protocol::socket::parse_mode(&self.socket_mode).unwrap_or(0o660)
    }

    /// Every limit, derived from `max_message_size` and checked against `max_frame_bytes`.
    pub fn limits(&self) -> Result<Limits, String> {
        let derived = Limits::for_message_size(self.max_message_size).map_err(|e| e.to_string())?;
        match self.max_frame_bytes {
            Some(frame) => derived.with_frame(frame).map_err(|e| e.to_string()),
            None => Ok(derived),
        }
    }

    /// The contract domain certd itself writes from (`smtp.from`'s domain).
    pub fn contract_domain(&self) -> Option<&str> {
        self.smtp.from.rsplit_once('@').map(|(_, d)| d)
    }

    /// Who may read the database files besides certd's own user.
    /// The key and secret files certd refuses to start with when any user may read them.
    pub fn secret_files(&self) -> Vec<crate::files::SecretFile> {
        let mut files = Vec::new();
        if let Some(sms) = &self.sms {
            for (path, what) in [
                (&sms.password_file, "sms.password_file"),
                (&sms.callback_secret_file, "sms.callback_secret_file"),
            ] {
                if let Some(p) = path {
                    files.push(crate::files::SecretFile {
                        path: p.clone(),
                        what,
                        chmod: "o-rwx",
                    });
                }
            }
        }
        if let Some(p) = self.store.as_ref().and_then(|s| s.password_file.as_ref()) {
            files.push(crate::files::SecretFile {
                path: p.clone(),
                what: "store.password_file",
                chmod: "o-rwx",
            });
        }
        if let Some(c) = &self.certificate {
            files.push(crate::files::SecretFile {
                path: c.key.clone(),
                what: "signing key",
                chmod: "600",
            });
        }
        files
    }

    /// Where the store is, with its password read (never logged): from `[store] url`, or the
    /// `database` file.
    pub fn store_location(&self) -> Result<crate::store::Location, Error> {
        let (location, password_file) =
            match (&self.store, &self.database) {
                (Some(_), Some(_)) => {
                    return Err(Error::Config(
                        "give either database or [store] url, not both".into(),
                    ))
                }
                (None, None) => return Err(Error::Config(
                    "no store: set database = \"/var/lib/certmail/certd.sqlite\" or [store] url"
                        .into(),
                )),
                (None, Some(path)) => (crate::store::Location::Sqlite(path.clone()), None),
                (Some(s), None) => (
                    crate::store::Location::parse(&s.url)?,
                    s.password_file.as_ref(),
                ),
            };
        let password =
            match password_file {
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                    Error::Config(format!("store.password_file {}: {e}", p.display()))
                })?),
                None => std::env::var("CERTMAIL_STORE_PASSWORD").ok(),
            };
        Ok(location.with_password(password.as_deref()))
    }

    /// This node's name: `node_id`, or the host name.
    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let mut buf = [0u8; 256];
            // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
            let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            match std::str::from_utf8(&buf[..end]) {
                Ok(h) if ok && !h.is_empty() => h.split('.').next().unwrap_or(h).to_string(),
                _ => crate::store::DEFAULT_NODE.to_string(),
            }
        })
    }

    pub fn database_access(&self) -> crate::files::DbAccess {
        crate::files::DbAccess {
            group: self.database_group.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses() {
        let c = Config::parse(include_str!("../../contrib/certd.toml.example")).unwrap();
        assert_eq!(c.socket_mode(), 0o660);
        let m = c.metrics.expect("the example serves metrics");
        assert_eq!(m.listen, default_metrics_listen());
    }

    #[test]
    fn the_store_is_a_database_file_or_a_url_with_its_password_from_a_file() {
        let tail = "[smtp]\nhost='h'\nport=25\nfrom='a@b'\n";
        let file = Config::parse(&format!("socket='/s'\ndatabase='/d'\n{tail}")).unwrap();
        match file.store_location().unwrap() {
            crate::store::Location::Sqlite(p) => assert_eq!(p, PathBuf::from("/d")),
            other => panic!("{other:?}"),
        }
        let neither = Config::parse(&format!("socket='/s'\n{tail}")).unwrap();
        assert!(neither
            .store_location()
            .unwrap_err()
            .to_string()
            .contains("no store"));
        let both = Config::parse(&format!(
            "socket='/s'\ndatabase='/d'\n{tail}[store]\nurl='sqlite:///e'\n"
        ))
        .unwrap();
        assert!(both
            .store_location()
            .unwrap_err()
            .to_string()
            .contains("not both"));
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let pg = Config::parse(&format!(
            "socket='/s'\nnode_id='mx2'\n{tail}[store]\nurl='postgresql://certd@db/certmail'\npassword_file='{}'\n",
            pw.display()
        ))
        .unwrap();
        assert_eq!(pg.node_id(), "mx2");
        assert!(pg
            .secret_files()
            .iter()
            .any(|f| f.what == "store.password_file"));
        match pg.store_location().unwrap() {
            crate::store::Location::Postgres(t) => {
                let c = &t.config;
                assert_eq!(c.get_password(), Some(&b"s3cret"[..]));
                assert_eq!(c.get_dbname(), Some("certmail"));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            !Config::parse(&format!("socket='/s'\ndatabase='/d'\n{tail}"))
                .unwrap()
                .node_id()
                .is_empty()
        );
    }

    #[test]
    fn metrics_are_off_without_their_section_and_on_loopback_with_it() {
        let base = "socket='/s'\ndatabase='/d'\n[smtp]\nhost='h'\nport=25\nfrom='a@b'\n";
        assert!(Config::parse(base).unwrap().metrics.is_none());
        let m = Config::parse(&format!("{base}[metrics]\n"))
            .unwrap()
            .metrics
            .unwrap();
        assert_eq!(m.listen.to_string(), "127.0.0.1:9465");
        assert!(m.listen.ip().is_loopback());
        assert_eq!(m.allow, default_callback_allow());
        let m = Config::parse(&format!(
            "{base}[metrics]\nlisten='[::]:9500'\nallow=['192.0.2.7']\n"
        ))
        .unwrap()
        .metrics
        .unwrap();
        assert_eq!((m.listen.port(), m.allow.len()), (9500, 1));
        for bad in ["listen='nowhere'", "allow=['prometheus']", "typo=1"] {
            assert!(
                Config::parse(&format!("{base}[metrics]\n{bad}\n")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let base = "socket='/s'\ndatabase='/d'\n[smtp]\nhost='h'\nport=25\nfrom='a@b'\n";
        assert!(Config::parse(base).is_ok());
        assert!(Config::parse(&format!("typo=1\n{base}")).is_err());
        assert!(Config::parse(&format!("socket_mode='999'\n{base}")).is_err());
        assert!(Config::parse(&base.replace("a@b", "nobody")).is_err());
        let sms = format!(
            "{base}[sms]\nsend_url='http://127.0.0.1:13013/cgi-bin/sendsms'\nsender='22123'\n"
        );
        let c = Config::parse(&sms).unwrap();
        let s = c.sms.unwrap();
        assert_eq!(s.callback_base(), "http://127.0.0.1:8026");
        assert_eq!(s.dlr_mask, 31);
        assert!(Config::parse(&sms.replace("http://127", "ftp://127")).is_err());
        assert!(Config::parse(&format!("{sms}method='put'\n")).is_err());
        assert!(Config::parse(&format!("{sms}callback_listen='nowhere'\n")).is_err());
        assert_eq!(s.callback_secret_in, SecretIn::Header);
        assert_eq!(s.callback_timeout_secs, 10);
        assert_eq!(s.callback_max_clients, 16);
        let q = Config::parse(&format!("{sms}callback_secret_in='query'\n")).unwrap();
        assert_eq!(q.sms.unwrap().callback_secret_in, SecretIn::Query);
        for bad in [
            "callback_secret_in='url'",
            "callback_timeout_secs=0",
            "callback_max_clients=0",
            "callback_max_request_bytes=100",
        ] {
            assert!(Config::parse(&format!("{sms}{bad}\n")).is_err(), "{bad}");
        }
        let g = Config::parse(&format!("database_group='certmail'\n{base}")).unwrap();
        assert_eq!(g.database_access().group.as_deref(), Some("certmail"));
    }

    #[test]
    fn limits_derive_from_the_message_size_and_must_agree() {
        let base = "socket='/s'\ndatabase='/d'\n[smtp]\nhost='h'\nport=25\nfrom='a@b'\n";
        let l = Config::parse(base).unwrap().limits().unwrap();
        assert_eq!(l.max_message_size, 40 * 1024 * 1024);
        // A 35 MiB contract with a 35 MiB text fits the derived frame.
        assert!(u64::from(l.max_frame_bytes) > 70 * 1024 * 1024);
        let c = Config::parse(&format!("max_message_size = 1048576\n{base}")).unwrap();
        assert_eq!(c.limits().unwrap().max_message_size, 1 << 20);
        assert_eq!(c.contract_domain(), Some("b"));
        // The old fixed 64 MiB frame cannot carry a 40 MiB contract: refused at start-up.
        let e = Config::parse(&format!("max_frame_bytes = 67108864\n{base}")).unwrap_err();
        assert!(e.contains("max_frame_bytes 67108864 is below"), "{e}");
        assert!(Config::parse(&format!("max_frame_bytes = 4000000000\n{base}")).is_ok());
        assert!(Config::parse(&format!("max_message_size = 10\n{base}")).is_err());
    }
}
