//! Rendezvous and the bootstrap list on the uniffi `Node`.

use std::time::Duration;

use lp2p::protocols::rendezvous::client::Cookie;
use lp2p::protocols::rendezvous::server::ServerConfig;

use crate::Lp2pError;
use crate::error::{parse_multiaddr, parse_peer_id};
use crate::node::Node;

/// A peer found through a rendezvous point (its signed record verified).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RendezvousRegistration {
    /// The registered peer.
    pub peer_id: String,
    /// The namespace it registered in.
    pub namespace: String,
    /// Its addresses, from its signed peer record.
    pub addrs: Vec<String>,
    /// How long the registration still lives.
    pub ttl: Duration,
}

/// What one discovery found, and the cookie for the next one.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RendezvousDiscovery {
    /// The registrations whose records verified.
    pub registrations: Vec<RendezvousRegistration>,
    /// Pass it to the next discovery of the same namespace for newer ones only.
    pub cookie: Option<Vec<u8>>,
}

#[uniffi::export]
impl Node {
    /// Makes this node a rendezvous point (`/rendezvous/1.0.0`) with the
    /// spec's recommended limits.
    pub fn serve_rendezvous(&self) {
        self.inner.serve_rendezvous(ServerConfig::default());
    }

    /// Registers this node under `namespace` at the rendezvous point
    /// `peer_id`; `ttl` None for the point's default (2 h). Returns the TTL
    /// granted. A refusal is `ProtocolError` naming the point's status.
    pub async fn rendezvous_register(
        &self,
        peer_id: String,
        namespace: String,
        ttl: Option<Duration>,
    ) -> Result<Duration, Lp2pError> {
        let peer = parse_peer_id(&peer_id)?;
        Ok(self.inner.rendezvous_register(peer, &namespace, ttl).await?)
    }

    /// Removes this node's registration under `namespace` at `peer_id`.
    pub async fn rendezvous_unregister(&self, peer_id: String, namespace: String) -> Result<(), Lp2pError> {
        let peer = parse_peer_id(&peer_id)?;
        Ok(self.inner.rendezvous_unregister(peer, &namespace).await?)
    }

    /// Asks the rendezvous point `peer_id` who is registered under
    /// `namespace` (None: every namespace), at most `limit`. The addresses
    /// found go to the peer store.
    pub async fn rendezvous_discover(
        &self,
        peer_id: String,
        namespace: Option<String>,
        limit: Option<u64>,
        cookie: Option<Vec<u8>>,
    ) -> Result<RendezvousDiscovery, Lp2pError> {
        let peer = parse_peer_id(&peer_id)?;
        let cookie =
            cookie.map(Cookie::from_bytes).transpose().map_err(|e| Lp2pError::InvalidArgument(e.to_string()))?;
        let found = self.inner.rendezvous_discover(peer, namespace.as_deref(), limit, cookie.as_ref()).await?;
        Ok(RendezvousDiscovery {
            registrations: found
                .registrations
                .iter()
                .map(|r| RendezvousRegistration {
                    peer_id: r.peer.to_string(),
                    namespace: r.namespace.clone(),
                    addrs: r.addrs.iter().map(ToString::to_string).collect(),
                    ttl: r.ttl,
                })
                .collect(),
            cookie: found.cookie.map(|c| c.as_bytes().to_vec()),
        })
    }

    /// Dials the bootstrap list `addrs` (`/dnsaddr/` entries resolved through
    /// DNS TXT records); returns the peers connected. `NoRoute` when the list
    /// is empty, does not resolve, or no peer of it is reachable.
    pub async fn bootstrap(&self, addrs: Vec<String>) -> Result<Vec<String>, Lp2pError> {
        let addrs = addrs.iter().map(|a| parse_multiaddr(a)).collect::<Result<Vec<_>, _>>()?;
        let peers = self.inner.bootstrap_from(addrs).await?;
        Ok(peers.iter().map(ToString::to_string).collect())
    }
}

/// The standard IPFS (Amino DHT) bootstrap peers (kubo's default list), for
/// `Node.bootstrap`; never used unless passed to it.
#[uniffi::export]
pub fn ipfs_bootstrap_peers() -> Vec<String> {
    lp2p::protocols::bootstrap::IPFS_BOOTSTRAP.iter().map(|a| a.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::NodeConfig;

    fn block_on<T>(fut: impl std::future::Future<Output = T>) -> T {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime");
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), fut).await.expect("finished in time") })
    }

    fn node() -> Arc<Node> {
        Node::new(NodeConfig {
            listen_addrs: vec!["/ip4/127.0.0.1/tcp/0".to_string()],
            keypair: None,
            agent_version: None,
            connection_timeout: None,
            stream_timeout: None,
            stream_io_timeout: None,
            mdns: false,
            autonat: None,
            ..NodeConfig::default()
        })
        .expect("node starts")
    }

    #[test]
    fn rendezvous_and_bootstrap_through_the_wrappers() {
        let (point, a, c) = (node(), node(), node());
        point.serve_rendezvous();
        block_on(async {
            let p = a.dial(point.listen_addrs()[0].clone()).await.expect("dial");
            c.dial(point.listen_addrs()[0].clone()).await.expect("dial");
            let ttl = a.rendezvous_register(p.clone(), "kt-app".into(), None).await.expect("register");
            assert_eq!(ttl, Duration::from_secs(7200));
            let refused = a.rendezvous_register(p.clone(), "kt-app".into(), Some(Duration::from_secs(60))).await;
            assert!(
                matches!(refused, Err(Lp2pError::ProtocolError(ref m)) if m.contains("E_INVALID_TTL")),
                "{refused:?}"
            );
            let found = c.rendezvous_discover(p.clone(), Some("kt-app".into()), None, None).await.expect("discover");
            assert_eq!(found.registrations.len(), 1);
            assert_eq!(found.registrations[0].peer_id, a.peer_id());
            let again =
                c.rendezvous_discover(p.clone(), Some("kt-app".into()), None, found.cookie).await.expect("poll");
            assert!(again.registrations.is_empty());
            a.rendezvous_unregister(p.clone(), "kt-app".into()).await.expect("unregister");

            let peers = c.bootstrap(vec![a.listen_addrs()[0].clone()]).await.expect("bootstrap");
            assert_eq!(peers, vec![a.peer_id()]);
            assert!(matches!(c.bootstrap(vec![]).await, Err(Lp2pError::NoRoute(_))));
        });
        assert!(ipfs_bootstrap_peers().iter().any(|a| a.starts_with("/dnsaddr/bootstrap.libp2p.io/")));
    }
}
