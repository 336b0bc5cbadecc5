//! The error type of the public API.

use crate::multiaddr;
use crate::swarm::{Step, SwarmError};

/// What a [`crate::Node`] operation can fail with. Match on the variant; the
/// text is for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A multiaddr did not parse.
    #[error("invalid multiaddr: {0}")]
    InvalidMultiaddr(#[from] multiaddr::Error),
    /// Dialing or upgrading a connection failed.
    #[error("dial failed: {0}")]
    Dial(SwarmError),
    /// The remote does not support the protocol.
    #[error("protocol not supported: {0}")]
    ProtocolNotSupported(String),
    /// A step took too long.
    #[error("timed out during {0}")]
    Timeout(Step),
    /// No connection and no address for the peer.
    #[error("no route to peer: {0}")]
    NoRoute(SwarmError),
    /// The remote is not the peer the address named.
    #[error("{0}")]
    PeerIdMismatch(SwarmError),
    /// A connection limit was reached.
    #[error("{0}")]
    LimitReached(SwarmError),
    /// An exchange on an open connection failed.
    #[error("{0}")]
    Protocol(SwarmError),
    /// An I/O error on a stream.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The node is shut down.
    #[error("the node is shut down")]
    Shutdown,
    /// The node's runtime could not start.
    #[error("could not start the runtime: {0}")]
    Runtime(std::io::Error),
    /// A rendezvous request was refused, or its answer was malformed.
    #[error("rendezvous: {0}")]
    Rendezvous(crate::protocols::rendezvous::RendezvousError),
    /// The bootstrap list gave no address, or no peer of it was reachable.
    #[error("bootstrap: {0}")]
    Bootstrap(crate::protocols::bootstrap::BootstrapError),
    /// A bug in lp2p.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<SwarmError> for Error {
    fn from(e: SwarmError) -> Self {
        match e {
            SwarmError::Timeout(step) => Error::Timeout(step),
            SwarmError::ProtocolNotSupported(p) => Error::ProtocolNotSupported(p),
            SwarmError::Shutdown => Error::Shutdown,
            SwarmError::Io(e) => Error::Io(e),
            e @ (SwarmError::NoAddresses(_) | SwarmError::Unreachable { .. }) => Error::NoRoute(e),
            e @ SwarmError::PeerIdMismatch { .. } => Error::PeerIdMismatch(e),
            e @ SwarmError::LimitReached(_) => Error::LimitReached(e),
            e @ (SwarmError::Ping(_) | SwarmError::Identify(_) | SwarmError::Perf(_) | SwarmError::Muxer(_)) => {
                Error::Protocol(e)
            }
            e => Error::Dial(e),
        }
    }
}
