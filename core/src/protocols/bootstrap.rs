//! The bootstrap list: addresses of known peers dialed at start to join a
//! network. `/dnsaddr/<domain>` entries are resolved through DNS TXT records
//! of `_dnsaddr.<domain>` (each `dnsaddr=<multiaddr>`, possibly another
//! `/dnsaddr/`), as go-libp2p, rust-libp2p and js-libp2p do. The standard
//! IPFS (Amino DHT) bootstrap list is a preset, used only when asked for.
//!
//! Resolution is bounded: lookups in total, nesting depth, TXT records read
//! per lookup, addresses returned, and a timeout per lookup.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::multiaddr::{Multiaddr, Protocol};

/// The IPFS bootstrap peers (kubo's default list): opt-in through
/// [`crate::NodeBuilder::ipfs_bootstrap`].
pub const IPFS_BOOTSTRAP: &[&str] = &[
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/dnsaddr/va1.bootstrap.libp2p.io/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
    "/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
];

/// The IPFS bootstrap list, parsed.
pub fn ipfs_bootstrap() -> Vec<Multiaddr> {
    IPFS_BOOTSTRAP.iter().filter_map(|a| a.parse().ok()).collect()
}

/// The bounds of one `/dnsaddr/` resolution.
#[derive(Debug, Clone)]
pub struct Limits {
    /// DNS lookups in total (rust-libp2p: 32).
    pub max_lookups: usize,
    /// How deep `/dnsaddr/` entries may nest.
    pub max_depth: usize,
    /// TXT records read from one lookup (rust-libp2p: 16).
    pub max_records: usize,
    /// Addresses returned.
    pub max_results: usize,
    /// The timeout of one lookup.
    pub lookup_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lookups: 32,
            max_depth: 4,
            max_records: 16,
            max_results: 64,
            lookup_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a DNS lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The name has no TXT record (or does not exist).
    #[error("no TXT record for {0}")]
    NotFound(String),
    /// The lookup took longer than [`Limits::lookup_timeout`].
    #[error("DNS lookup of {0} timed out")]
    Timeout(String),
    /// The resolver failed (no server reachable, a bad answer).
    #[error("DNS lookup of {name} failed: {source}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// The resolver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The system resolver configuration could not be read.
    #[error("cannot read the system DNS configuration: {0}")]
    Config(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why a bootstrap address gave no address to dial.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// DNS failed for the address.
    #[error("{0}")]
    Dns(#[from] DnsError),
    /// The records gave no address that matches (for `/p2p/<id>`, the same peer).
    #[error("{0} resolves to no address")]
    NoAddresses(Multiaddr),
    /// The resolution needed more lookups than [`Limits::max_lookups`].
    #[error("resolving {0} needs too many DNS lookups")]
    TooManyLookups(Multiaddr),
    /// No bootstrap peer could be reached.
    #[error("no bootstrap peer reachable ({tried} addresses tried)")]
    NoneReachable {
        /// Addresses dialed.
        tried: usize,
    },
    /// The bootstrap list is empty.
    #[error("the bootstrap list is empty")]
    EmptyList,
}

/// What resolves TXT records: DNS itself, or a stand-in in tests.
pub trait TxtResolver: Send + Sync {
    /// The TXT records of `name`, each as one string (its character-strings
    /// joined).
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, DnsError>> + Send;
}

/// A DNS resolver (hickory): the system's configuration, or given servers.
#[derive(Clone)]
pub struct DnsResolver {
    inner: TokioResolver,
}

impl DnsResolver {
    /// The system's resolver configuration (`/etc/resolv.conf` on Unix).
    pub fn system() -> Result<DnsResolver, DnsError> {
        let builder = TokioResolver::builder_tokio().map_err(|e| DnsError::Config(Box::new(e)))?;
        let inner = builder.build().map_err(|e| DnsError::Config(Box::new(e)))?;
        Ok(DnsResolver { inner })
    }

    /// Queries only the server at `addr` (over UDP, then TCP), with no cache.
    pub fn with_server(addr: SocketAddr) -> Result<DnsResolver, DnsError> {
        let mut udp = ConnectionConfig::udp();
        udp.port = addr.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = addr.port();
        let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
        let config = ResolverConfig::from_name_servers(vec![server]);
        let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        builder.options_mut().cache_size = 0;
        builder.options_mut().attempts = 1;
        let inner = builder.build().map_err(|e| DnsError::Config(Box::new(e)))?;
        Ok(DnsResolver { inner })
    }
}

impl TxtResolver for DnsResolver {
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        // A fully qualified name: no search-domain guesses.
        let fqdn = if name.ends_with('.') { name.to_string() } else { format!("{name}.") };
        let lookup = match self.inner.txt_lookup(fqdn).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => return Err(DnsError::NotFound(name.into())),
            Err(e) => return Err(DnsError::Lookup { name: name.into(), source: Box::new(e) }),
        };
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => {
                    Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect::<String>())
                }
                _ => None,
            })
            .collect())
    }
}

/// The domain of a `/dnsaddr/` address and the protocols after it.
fn split_dnsaddr(addr: &Multiaddr) -> Option<(String, Multiaddr)> {
    let mut iter = addr.iter();
    let Some(Protocol::Dnsaddr(domain)) = iter.next() else { return None };
    let mut rest = Multiaddr::empty();
    for p in iter {
        rest.push(p);
    }
    Some((domain, rest))
}

/// Resolves `addr`: an address that does not start with `/dnsaddr/` is
/// returned as is; a `/dnsaddr/` one becomes the addresses its TXT records
/// name, recursively, keeping those that end with what followed the domain
/// (for `/dnsaddr/<domain>/p2p/<id>`, the addresses of that peer).
pub async fn resolve<R: TxtResolver>(
    resolver: &R,
    addr: &Multiaddr,
    limits: &Limits,
) -> Result<Vec<Multiaddr>, BootstrapError> {
    if split_dnsaddr(addr).is_none() {
        return Ok(vec![addr.clone()]);
    }
    let mut queue = VecDeque::from([(addr.clone(), 0usize)]);
    let mut found = Vec::new();
    let mut lookups = 0;
    let mut first_error = None;
    while let Some((current, depth)) = queue.pop_front() {
        let Some((domain, suffix)) = split_dnsaddr(&current) else { continue };
        if lookups == limits.max_lookups {
            if found.is_empty() {
                return Err(BootstrapError::TooManyLookups(addr.clone()));
            }
            break;
        }
        lookups += 1;
        let name = format!("_dnsaddr.{domain}");
        let records = match tokio::time::timeout(limits.lookup_timeout, resolver.txt(&name)).await {
            Ok(Ok(records)) => records,
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
                continue;
            }
            Err(_) => {
                first_error.get_or_insert(DnsError::Timeout(name));
                continue;
            }
        };
        for entry in records.iter().take(limits.max_records) {
            let Some(Ok(next)) = entry.strip_prefix("dnsaddr=").map(str::parse::<Multiaddr>) else { continue };
            if !next.ends_with(&suffix) {
                continue;
            }
            if split_dnsaddr(&next).is_some() {
                if depth < limits.max_depth {
                    queue.push_back((next, depth + 1));
                }
                continue;
            }
            if !found.contains(&next) {
                found.push(next);
                if found.len() == limits.max_results {
                    return Ok(found);
                }
            }
        }
    }
    match (found.is_empty(), first_error) {
        (false, _) => Ok(found),
        (true, Some(e)) => Err(e.into()),
        (true, None) => Err(BootstrapError::NoAddresses(addr.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// TXT records from a map; counts lookups.
    #[derive(Default)]
    struct Fake {
        records: HashMap<String, Vec<String>>,
        lookups: AtomicUsize,
        slow: Option<String>,
    }

    impl Fake {
        fn with(mut self, name: &str, entries: &[&str]) -> Self {
            self.records.insert(name.into(), entries.iter().map(|e| e.to_string()).collect());
            self
        }
    }

    impl TxtResolver for Fake {
        async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            if self.slow.as_deref() == Some(name) {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            self.records.get(name).cloned().ok_or_else(|| DnsError::NotFound(name.into()))
        }
    }

    const A: &str = "12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";
    const B: &str = "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";

    fn ma(s: &str) -> Multiaddr {
        s.parse().expect("multiaddr")
    }

    #[tokio::test]
    async fn plain_addresses_pass_through() {
        let fake = Fake::default();
        let addr = ma("/ip4/1.2.3.4/tcp/4001");
        assert_eq!(resolve(&fake, &addr, &Limits::default()).await.expect("ok"), vec![addr]);
        assert_eq!(fake.lookups.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn nested_records_are_followed_and_filtered_by_peer() {
        let fake = Fake::default()
            .with(
                "_dnsaddr.boot.example",
                &[
                    &format!("dnsaddr=/dnsaddr/a.boot.example/p2p/{A}"),
                    &format!("dnsaddr=/dnsaddr/b.boot.example/p2p/{B}"),
                    "not a dnsaddr record",
                    "dnsaddr=/garbage",
                ],
            )
            .with(
                "_dnsaddr.a.boot.example",
                &[&format!("dnsaddr=/ip4/10.0.0.1/tcp/4001/p2p/{A}"), &format!("dnsaddr=/ip6/::1/tcp/4001/p2p/{A}")],
            )
            .with("_dnsaddr.b.boot.example", &[&format!("dnsaddr=/ip4/10.0.0.2/tcp/4001/p2p/{B}")]);
        let got = resolve(&fake, &ma(&format!("/dnsaddr/boot.example/p2p/{A}")), &Limits::default()).await.expect("ok");
        assert_eq!(
            got,
            vec![ma(&format!("/ip4/10.0.0.1/tcp/4001/p2p/{A}")), ma(&format!("/ip6/::1/tcp/4001/p2p/{A}"))]
        );
        assert_eq!(fake.lookups.load(Ordering::Relaxed), 2, "b's branch is not looked up");
        let all = resolve(&fake, &ma("/dnsaddr/boot.example"), &Limits::default()).await.expect("ok");
        assert_eq!(all.len(), 3);
    }

    #[tokio::test]
    async fn depth_lookup_and_result_bounds() {
        // A loop: the name points at itself.
        let looped = Fake::default().with("_dnsaddr.loop.example", &["dnsaddr=/dnsaddr/loop.example"]);
        let limits = Limits { max_depth: 100, max_lookups: 5, ..Limits::default() };
        let err = resolve(&looped, &ma("/dnsaddr/loop.example"), &limits).await;
        assert!(matches!(err, Err(BootstrapError::TooManyLookups(_))), "{err:?}");
        assert_eq!(looped.lookups.load(Ordering::Relaxed), 5);
        // A chain deeper than max_depth: the deep end is never reached.
        let chain = Fake::default()
            .with("_dnsaddr.d0.example", &["dnsaddr=/dnsaddr/d1.example"])
            .with("_dnsaddr.d1.example", &["dnsaddr=/dnsaddr/d2.example"])
            .with("_dnsaddr.d2.example", &["dnsaddr=/ip4/10.0.0.9/tcp/1"]);
        let shallow = Limits { max_depth: 1, ..Limits::default() };
        assert!(matches!(
            resolve(&chain, &ma("/dnsaddr/d0.example"), &shallow).await,
            Err(BootstrapError::NoAddresses(_))
        ));
        let deep = Limits { max_depth: 2, ..Limits::default() };
        assert_eq!(
            resolve(&chain, &ma("/dnsaddr/d0.example"), &deep).await.expect("ok"),
            vec![ma("/ip4/10.0.0.9/tcp/1")]
        );
        // Thousands of records: at most max_records read, max_results returned.
        let many: Vec<String> = (0..5000).map(|i| format!("dnsaddr=/ip4/10.0.{}.{}/tcp/1", i / 256, i % 256)).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let big = Fake::default().with("_dnsaddr.big.example", &refs);
        let limits = Limits { max_records: 100, max_results: 10, ..Limits::default() };
        assert_eq!(resolve(&big, &ma("/dnsaddr/big.example"), &limits).await.expect("ok").len(), 10);
        let limits = Limits { max_records: 7, max_results: 10, ..Limits::default() };
        assert_eq!(resolve(&big, &ma("/dnsaddr/big.example"), &limits).await.expect("ok").len(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_typed() {
        let fake = Fake::default();
        let missing = resolve(&fake, &ma("/dnsaddr/missing.example"), &Limits::default()).await;
        assert!(matches!(missing, Err(BootstrapError::Dns(DnsError::NotFound(_)))), "{missing:?}");
        let slow = Fake { slow: Some("_dnsaddr.slow.example".into()), ..Fake::default() };
        let timed_out = resolve(&slow, &ma("/dnsaddr/slow.example"), &Limits::default()).await;
        assert!(matches!(timed_out, Err(BootstrapError::Dns(DnsError::Timeout(_)))), "{timed_out:?}");
        // Records of another peer only: nothing matches.
        let other = Fake::default().with("_dnsaddr.x.example", &[&format!("dnsaddr=/ip4/10.0.0.2/tcp/4001/p2p/{B}")]);
        let none = resolve(&other, &ma(&format!("/dnsaddr/x.example/p2p/{A}")), &Limits::default()).await;
        assert!(matches!(none, Err(BootstrapError::NoAddresses(_))), "{none:?}");
    }

    #[test]
    fn the_ipfs_preset_parses() {
        let list = ipfs_bootstrap();
        assert_eq!(list.len(), IPFS_BOOTSTRAP.len());
        assert!(list.iter().all(|a| a.peer_id().is_some()));
    }
}
