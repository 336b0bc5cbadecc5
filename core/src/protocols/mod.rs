//! The protocols of a node's streams: ping and identify always, perf when
//! enabled. (Kademlia, gossipsub, relay and the rest are separate issues.)

pub mod autonat;
pub mod bootstrap;
pub mod identify;
pub mod kad;
pub mod mdns;
pub mod perf;
pub mod ping;
pub mod rendezvous;
