//! The bootstrap list on the [`Node`]: dialed at start, and again on
//! [`Node::bootstrap`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Error, Node};
use crate::identity::PeerId;
use crate::multiaddr::{Multiaddr, Protocol};
use crate::protocols::bootstrap::{self, BootstrapError, DnsResolver, Limits};
use crate::swarm::Swarm;

/// How long the peer store keeps a bootstrap address.
const ADDRESS_TTL: Duration = Duration::from_secs(60 * 60);
/// Bootstrap peers dialed at once.
const MAX_CONCURRENT_DIALS: usize = 8;

/// The bootstrap settings of a node.
#[derive(Debug, Clone, Default)]
pub(super) struct BootstrapConfig {
    /// The addresses, `/dnsaddr/` ones unresolved.
    pub(super) list: Vec<Multiaddr>,
    /// The DNS server for `/dnsaddr/` (default: the system's configuration).
    pub(super) dns_server: Option<SocketAddr>,
    /// Bounds of each `/dnsaddr/` resolution.
    pub(super) limits: Limits,
}

impl From<BootstrapError> for Error {
    fn from(e: BootstrapError) -> Self {
        Error::Bootstrap(e)
    }
}

impl Node {
    /// The configured bootstrap list (`/dnsaddr/` entries unresolved).
    pub fn bootstrap_list(&self) -> Vec<Multiaddr> {
        self.inner.bootstrap.list.clone()
    }

    /// Dials the bootstrap list: resolves `/dnsaddr/` entries through DNS
    /// TXT records, records the addresses in the peer store, and dials each
    /// peer (trying its addresses in turn). Returns the peers now connected.
    /// Fails when the list is empty or no peer could be reached.
    pub async fn bootstrap(&self) -> Result<Vec<PeerId>, Error> {
        let config = self.inner.bootstrap.clone();
        let swarm = Arc::clone(self.swarm());
        self.on_runtime(async move { run(swarm, config).await }).await
    }

    /// As [`Node::bootstrap`], with `list` instead of the configured list
    /// (the node's DNS server setting still applies).
    pub async fn bootstrap_from(&self, list: Vec<Multiaddr>) -> Result<Vec<PeerId>, Error> {
        let config = BootstrapConfig { list, ..self.inner.bootstrap.clone() };
        let swarm = Arc::clone(self.swarm());
        self.on_runtime(async move { run(swarm, config).await }).await
    }
}

/// Starts a bootstrap in the background (at node start).
pub(super) fn spawn(node: &Node) {
    if node.inner.bootstrap.list.is_empty() {
        return;
    }
    let config = node.inner.bootstrap.clone();
    let swarm = Arc::clone(node.swarm());
    node.inner.handle.spawn(async move {
        match run(swarm, config).await {
            Ok(peers) => tracing::debug!(peers = peers.len(), "bootstrap done"),
            Err(e) => tracing::warn!(error = %e, "bootstrap failed"),
        }
    });
}

async fn run(swarm: Arc<Swarm>, config: BootstrapConfig) -> Result<Vec<PeerId>, Error> {
    if config.list.is_empty() {
        return Err(BootstrapError::EmptyList.into());
    }
    let addrs = resolve_all(&config).await?;
    // One dial task per peer; addresses without a peer ID dial on their own.
    let mut by_peer: HashMap<Option<PeerId>, Vec<Multiaddr>> = HashMap::new();
    let mut anonymous = Vec::new();
    for addr in addrs {
        match addr.peer_id() {
            Some(peer) => by_peer.entry(Some(peer)).or_default().push(addr),
            None => anonymous.push(vec![addr]),
        }
    }
    let mut groups: Vec<Vec<Multiaddr>> = by_peer.into_values().collect();
    groups.extend(anonymous);
    let tried = groups.iter().map(Vec::len).sum();
    let mut connected = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut pending = groups.into_iter();
    loop {
        while tasks.len() < MAX_CONCURRENT_DIALS {
            let Some(group) = pending.next() else { break };
            tasks.spawn(dial_one_of(Arc::clone(&swarm), group));
        }
        match tasks.join_next().await {
            Some(Ok(Some(peer))) => connected.push(peer),
            Some(_) => {}
            None => break,
        }
    }
    if connected.is_empty() {
        return Err(BootstrapError::NoneReachable { tried }.into());
    }
    Ok(connected)
}

/// Every address the list resolves to. Entries that fail to resolve are
/// skipped; if none resolves, the first failure is the error.
async fn resolve_all(config: &BootstrapConfig) -> Result<Vec<Multiaddr>, BootstrapError> {
    let needs_dns = config.list.iter().any(|a| matches!(a.iter().next(), Some(Protocol::Dnsaddr(_))));
    let resolver = match (needs_dns, config.dns_server) {
        (false, _) => None,
        (true, Some(server)) => Some(DnsResolver::with_server(server)?),
        (true, None) => Some(DnsResolver::system()?),
    };
    let mut all = Vec::new();
    let mut first_error = None;
    for addr in &config.list {
        let resolved = match &resolver {
            Some(resolver) => bootstrap::resolve(resolver, addr, &config.limits).await,
            None => Ok(vec![addr.clone()]),
        };
        match resolved {
            Ok(addrs) => {
                for a in addrs {
                    if !all.contains(&a) {
                        all.push(a);
                    }
                }
            }
            Err(e) => {
                tracing::debug!(%addr, error = %e, "bootstrap address did not resolve");
                first_error.get_or_insert(e);
            }
        }
    }
    match (all.is_empty(), first_error) {
        (true, Some(e)) => Err(e),
        _ => Ok(all),
    }
}

/// Dials the addresses of one peer in turn until one connects.
async fn dial_one_of(swarm: Arc<Swarm>, addrs: Vec<Multiaddr>) -> Option<PeerId> {
    if let Some(peer) = addrs.first().and_then(Multiaddr::peer_id) {
        let plain: Vec<Multiaddr> = addrs.iter().map(without_peer_id).collect();
        swarm.add_addresses(peer, &plain, ADDRESS_TTL);
    }
    for addr in &addrs {
        match swarm.dial(addr).await {
            Ok(peer) => return Some(peer),
            Err(e) => tracing::debug!(%addr, error = %e, "bootstrap dial failed"),
        }
    }
    None
}

fn without_peer_id(addr: &Multiaddr) -> Multiaddr {
    let mut plain = addr.clone();
    if matches!(plain.iter().last(), Some(Protocol::P2p(_))) {
        plain.pop();
    }
    plain
}
