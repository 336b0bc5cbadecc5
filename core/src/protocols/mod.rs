//! The protocols every node serves on its streams: ping and identify.
//! (Kademlia, gossipsub, relay and the rest are separate issues.)

pub mod identify;
pub mod ping;
