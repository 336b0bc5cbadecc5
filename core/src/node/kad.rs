//! The Kademlia DHT on the [`Node`].

use std::sync::Arc;

use super::{Node, Stream};
use crate::multiaddr::Multiaddr;
use crate::protocols::kad::{Config, Kad};
use crate::swarm::{BoxFuture, ConnHandler};

impl Node {
    /// Starts the Kademlia DHT on this node with `config` (server mode serves
    /// and announces the protocol). Start it once per node; the DHT runs
    /// while the returned handle (or a clone) lives.
    ///
    /// From then on, opening a stream to a peer the peer store has no
    /// address for ([`Node::new_stream`], [`Node::ping`], ...) asks the DHT
    /// for its addresses: the peer store first, the DHT second.
    pub fn kad(&self, config: Config) -> Kad {
        let kad = Kad::start(self.clone(), self.inner.handle.clone(), config);
        let find = kad.dht_finder();
        // Weak: the router lives in the swarm, which the node owns.
        let node = Arc::downgrade(&self.inner);
        self.swarm().set_peer_router(Some(Arc::new(move |peer| {
            let node = node.clone();
            let find = Arc::clone(&find);
            Box::pin(async move {
                match node.upgrade() {
                    Some(inner) => find(Node { inner }, peer).await,
                    None => Vec::new(),
                }
            })
        })));
        kad
    }

    /// Serves the DHT's `protocol` with `handler`, which also gets the
    /// connection's remote address (for the store's per-IP quotas).
    pub(crate) fn set_kad_handler<F, Fut>(&self, protocol: &str, handler: F)
    where
        F: Fn(Stream, Multiaddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let served = protocol.to_string();
        let conn_handler: ConnHandler = Arc::new(move |peer, remote, raw| -> BoxFuture {
            let handler = Arc::clone(&handler);
            let stream = Stream::new(raw, peer, served.clone());
            Box::pin(async move { handler(stream, remote).await })
        });
        // The swarm pushes identify on the node's runtime, whatever thread calls this.
        let _guard = self.inner.handle.enter();
        self.swarm().set_connection_handler(protocol, conn_handler);
    }

    /// Stops serving the DHT's `protocol`.
    pub(crate) fn remove_kad_handler(&self, protocol: &str) -> bool {
        let _guard = self.inner.handle.enter();
        self.swarm().remove_connection_handler(protocol)
    }
}
