//! The DNS resolver the gate and the evidence share: only the configured name servers, with
//! short timeouts, because the milter holds an SMTP session open while keys are looked up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use mail_auth::common::cache::NoCache;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::net::NetError;
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::{MessageAuthenticator, Parameters, RecordSet, ResolverCache, Txt, MX};

/// Per-query timeout. The milter holds an SMTP session open while we look keys up, so DNS
/// trouble must turn into a prompt tempfail rather than a hung session.
const DNS_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts per query (hickory retries across the configured servers).
const DNS_ATTEMPTS: usize = 2;
/// Upper bound for verifying all signatures of one message, whatever their number (and, for
/// an answer, for its DKIM, SPF and DMARC checks together).
pub(super) const VERIFY_DEADLINE: Duration = Duration::from_secs(15);

/// Why no resolver could be set up: certmilter does not start.
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error("cannot read the system DNS resolver configuration: {0}")]
    SystemConf(#[source] NetError),
    #[error("cannot set up the DNS resolver for DKIM: {0}")]
    Setup(#[source] NetError),
}

/// mail-auth's authenticator with a resolver pointed at configured name servers.
#[derive(Clone)]
pub struct Resolver {
    pub(super) authenticator: MessageAuthenticator,
}

impl Resolver {
    /// Builds a resolver that queries exactly `nameservers` (UDP, falling back to TCP for
    /// truncated answers — DKIM key records are often larger than 512 bytes), with a 2 s
    /// timeout and 2 attempts per query.
    ///
    /// `nameservers` empty: the system resolver configuration (`/etc/resolv.conf`), with its
    /// timeout and attempts capped at the same values so that a slow resolver cannot stall
    /// the SMTP session.
    pub fn new(nameservers: &[SocketAddr]) -> Result<Resolver, ResolverError> {
        let (config, mut opts) = if nameservers.is_empty() {
            read_system_conf().map_err(ResolverError::SystemConf)?
        } else {
            let servers = nameservers.iter().map(|addr| name_server(*addr)).collect();
            let mut opts = ResolverOpts::default();
            // Only the configured servers are authoritative for us; never consult /etc/hosts.
            opts.use_hosts_file = ResolveHosts::Never;
            (ResolverConfig::from_name_servers(servers), opts)
        };
        opts.timeout = opts.timeout.min(DNS_TIMEOUT);
        opts.attempts = opts.attempts.clamp(1, DNS_ATTEMPTS);

        let authenticator =
            MessageAuthenticator::new(config, opts).map_err(ResolverError::Setup)?;
        Ok(Resolver { authenticator })
    }
}

/// A name server entry for `addr`: UDP first, TCP for truncated answers, at `addr`'s port
/// (which need not be 53, e.g. a local dnsmasq).
fn name_server(addr: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}

/// mail-auth parameters with an optional TXT cache `C` and no other caches.
pub(super) type TxtCachedParameters<'x, P, C> = Parameters<
    'x,
    P,
    C,
    NoCache<Box<str>, RecordSet<MX>>,
    NoCache<Box<str>, RecordSet<Ipv4Addr>>,
    NoCache<Box<str>, RecordSet<Ipv6Addr>>,
    NoCache<IpAddr, RecordSet<Box<str>>>,
>;

/// mail-auth parameters around `params` whose TXT lookups consult `txt_cache` first: tests
/// publish keys and SPF/DMARC records through it instead of a DNS server.
pub(super) fn with_txt_cache<'x, P, C>(
    params: P,
    txt_cache: Option<&'x C>,
) -> TxtCachedParameters<'x, P, C>
where
    C: ResolverCache<Box<str>, Txt>,
{
    Parameters {
        params,
        cache_txt: txt_cache,
        cache_mx: None,
        cache_ptr: None,
        cache_ipv4: None,
        cache_ipv6: None,
    }
}
