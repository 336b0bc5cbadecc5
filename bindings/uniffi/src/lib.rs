//! uniffi wrappers over the lp2p Rust API. The Kotlin and Swift bindings are
//! generated from this crate (proc-macros, no UDL); it holds no protocol
//! logic: it maps objects, errors and callbacks.
//!
//! Peer IDs and multiaddrs cross the boundary as strings. Async functions
//! become Kotlin `suspend` and Swift `async`; they run on one tokio runtime
//! shared by every node made here (see [`runtime`]).

mod error;
mod kad;
mod keys;
#[cfg(test)]
mod mdns_tests;
mod node;
#[cfg(test)]
mod reachability_tests;
mod rendezvous;
mod resources;
#[cfg(test)]
mod resources_tests;
mod runtime;
mod stream;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use error::Lp2pError;
pub use kad::{Kad, KadMode, KadProvider};
pub use keys::Keypair;
pub use node::{AutonatConfig, EventListener, EventSubscription, Node, NodeConfig, NodeEvent, PeerInfo, StreamHandler};
pub use rendezvous::{RendezvousDiscovery, RendezvousRegistration, ipfs_bootstrap_peers};
pub use resources::{ConnManagerConfig, ResourceLimits};
pub use stream::Stream;

uniffi::setup_scaffolding!();
