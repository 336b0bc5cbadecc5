//! lp2p: a libp2p implementation (work in progress: the protocol layers).

pub mod identity;
pub mod multiaddr;
pub mod muxer;
pub mod negotiate;
pub mod security;
pub mod wire;
