//! lp2p: a libp2p implementation.
//!
//! The crate is layered as the project's design describes: `wire` and
//! `multiaddr` at the bottom; identities; the protocol state machines
//! (multistream-select in [`negotiate`], Noise in [`security`], yamux in
//! [`muxer`], ping and identify in [`protocols`]); the transports; the
//! [`swarm`] that composes them; and on top the [`Node`] facade.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lp2p::Error> {
//! let node = lp2p::Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).build()?;
//! println!("listening on {:?}", node.listen_addrs_with_peer_id());
//! let peer = node.dial("/ip4/127.0.0.1/tcp/4001".parse()?).await?;
//! println!("ping {:?}", node.ping(peer).await?);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod connmgr;
pub mod identity;
pub mod multiaddr;
pub mod muxer;
pub mod negotiate;
pub mod node;
pub mod peerstore;
pub mod protocols;
pub mod rcmgr;
pub mod security;
pub mod swarm;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod testutil;

pub use identity::{Keypair, PeerId, PublicKey};
pub use multiaddr::{Multiaddr, Protocol};
pub use node::{Error, Events, Node, NodeBuilder, Stream};
pub use peerstore::PeerInfo;
pub use swarm::{Config, ConnectionId, Event};
