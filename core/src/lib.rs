//! lp2p: a libp2p implementation.
//!
//! The crate is layered as `DESIGN.md` describes: `wire` and `multiaddr` at the
//! bottom, then identities, the protocol state machines (negotiation, security,
//! muxing, identify, ping) and on top the swarm and the [`Node`] facade.

pub mod identity;
pub mod wire;
