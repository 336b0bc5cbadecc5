//! The Kademlia DHT on the [`Node`].

use super::Node;
use crate::protocols::kad::{Config, Kad};

impl Node {
    /// Starts the Kademlia DHT on this node with `config` (server mode serves
    /// and announces the protocol). Start it once per node; the DHT runs
    /// while the returned handle (or a clone) lives.
    pub fn kad(&self, config: Config) -> Kad {
        Kad::start(self.clone(), self.inner.handle.clone(), config)
    }
}
