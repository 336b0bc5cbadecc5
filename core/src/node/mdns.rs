//! mDNS on the [`Node`]: peers found on the local network go to the peer
//! store (so they can be dialed by ID) and out as [`Event::Discovered`].

use std::sync::{Arc, Weak};
use std::time::Instant;

use super::{Error, Node};
use crate::multiaddr::Multiaddr;
use crate::protocols::mdns::{self, Config, Mdns, MdnsError, MdnsEvent, driver};
use crate::swarm::{Event, Swarm};

/// The driver's view of the node. Weak, so that mDNS never keeps a dropped
/// node alive.
struct NodeHost {
    swarm: Weak<Swarm>,
}

impl driver::Host for NodeHost {
    fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.swarm.upgrade().map(|s| s.listen_addrs()).unwrap_or_default()
    }

    fn on_event(&self, event: MdnsEvent) {
        let Some(swarm) = self.swarm.upgrade() else { return };
        match event {
            MdnsEvent::Discovered { peer, addrs, ttl } => {
                swarm.add_addresses(peer, &addrs, ttl);
                swarm.emit(Event::Discovered { peer, addrs });
            }
            // No event: only the peer store's TTL moves on.
            MdnsEvent::Refreshed { peer, addrs, ttl } => swarm.add_addresses(peer, &addrs, ttl),
            // The peer store forgets the addresses when their TTL runs out.
            MdnsEvent::Expired { peer } => tracing::debug!(%peer, "mDNS: peer expired"),
        }
    }
}

impl Node {
    /// Starts mDNS discovery (`_p2p._udp.local`): answers queries with our
    /// listen addresses and queries for others. Binds UDP port 5353 (shared
    /// with other responders) before returning.
    pub(super) fn start_mdns(&self, config: Config) -> Result<(), Error> {
        let _guard = self.inner.handle.enter();
        let machine =
            Mdns::new(config, self.peer_id(), mdns::random_peer_name(), Instant::now()).map_err(setup_error)?;
        let receiver = driver::bind_receiver().map_err(setup_error)?;
        let host = NodeHost { swarm: Arc::downgrade(self.swarm()) };
        self.swarm().spawn_service(driver::run(machine, receiver, host));
        Ok(())
    }
}

fn setup_error(e: MdnsError) -> Error {
    match e {
        MdnsError::Io(io) => Error::Io(io),
        _ => Error::Internal("mDNS could not start"),
    }
}
