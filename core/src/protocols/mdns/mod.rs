//! mDNS local discovery (`specs/discovery/mdns.md`), compatible with
//! rust-libp2p's and go-libp2p's mDNS.
//!
//! - [`wire`]: the DNS messages (query, response with `dnsaddr=` TXT
//!   records, DNS-SD meta query), on hickory-proto's wire format.
//! - [`Mdns`]: the state machine, without I/O and without a clock: datagrams
//!   and `now` in; datagrams to send, the next deadline and discovered peers
//!   out.
//! - [`driver`]: the thin tokio driver (multicast sockets on each interface).

pub mod driver;
mod state;
#[cfg(test)]
mod tests;
pub mod wire;

pub use state::{Config, Mdns, MdnsEvent, Received, random_peer_name};

use hickory_proto::serialize::binary::DecodeError;

/// The IPv4 mDNS group (RFC 6762).
pub const IPV4_MULTICAST: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 251);
/// The mDNS port.
pub const PORT: u16 = 5353;

/// Why an mDNS datagram or step failed.
#[derive(Debug, thiserror::Error)]
pub enum MdnsError {
    /// The datagram is larger than mDNS allows.
    #[error("mDNS datagram of {len} bytes exceeds the {max} byte limit", max = wire::MAX_DATAGRAM)]
    Oversized {
        /// Its size.
        len: usize,
    },
    /// Not a DNS message (truncated, bad labels, bad counts...).
    #[error("malformed DNS message: {0}")]
    Malformed(#[source] DecodeError),
    /// A DNS name we built is invalid (a bad peer name).
    #[error("invalid DNS name")]
    InvalidName,
    /// A message could not be encoded.
    #[error("DNS message could not be encoded")]
    Encode,
    /// A socket operation failed.
    #[error("mDNS socket: {0}")]
    Io(#[from] std::io::Error),
    /// A send did not complete in time.
    #[error("mDNS send timed out")]
    Timeout,
}
