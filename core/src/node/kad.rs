//! The Kademlia DHT on the [`Node`].

use std::sync::Arc;

use super::Node;
use crate::protocols::kad::{Config, Kad};

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
}
