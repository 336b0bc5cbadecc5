//! The protocols every node serves on its streams: ping, identify and perf.
//! (Kademlia, gossipsub, relay and the rest are separate issues.)

pub mod autonat;
pub mod bootstrap;
pub mod identify;
pub mod kad;
pub mod mdns;
pub mod perf;
pub mod ping;
pub mod rendezvous;
