//! Errors of the swarm: dialing, upgrading, streams.

use crate::identity::PeerId;
use crate::multiaddr::Multiaddr;
use crate::muxer::yamux::YamuxError;
use crate::negotiate::NegotiationError;
use crate::protocols::{identify::IdentifyError, perf::PerfError, ping::PingError};
use crate::rcmgr::LimitError;
use crate::security::noise::NoiseError;
use crate::transport::TransportError;

/// A step of connection set-up or stream opening that can time out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Opening the transport connection.
    Connect,
    /// multistream-select for the security protocol.
    SecurityNegotiation,
    /// The Noise handshake.
    Handshake,
    /// multistream-select for the muxer (when Noise did not agree one).
    MuxerNegotiation,
    /// Opening a muxed stream.
    OpenStream,
    /// multistream-select for a stream's protocol.
    ProtocolNegotiation,
    /// A protocol exchange (ping, identify).
    Exchange,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Connect => "connect",
            Step::SecurityNegotiation => "security negotiation",
            Step::Handshake => "noise handshake",
            Step::MuxerNegotiation => "muxer negotiation",
            Step::OpenStream => "stream open",
            Step::ProtocolNegotiation => "protocol negotiation",
            Step::Exchange => "protocol exchange",
        })
    }
}

/// Everything that can go wrong in the swarm.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// The transport could not connect or listen.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// A step took longer than its timeout.
    #[error("timed out during {0}")]
    Timeout(Step),
    /// multistream-select failed (for example, no common protocol).
    #[error("negotiation: {0}")]
    Negotiation(#[from] NegotiationError),
    /// The remote does not support the requested protocol.
    #[error("protocol not supported by the remote: {0}")]
    ProtocolNotSupported(String),
    /// The Noise handshake failed.
    #[error("noise: {0}")]
    Noise(NoiseError),
    /// The remote is not the peer the address named.
    #[error("peer id mismatch: dialed {expected}, reached {actual}")]
    PeerIdMismatch {
        /// The peer the address named.
        expected: PeerId,
        /// The peer that answered.
        actual: PeerId,
    },
    /// The muxer failed.
    #[error("yamux: {0}")]
    Muxer(#[from] YamuxError),
    /// Ping failed.
    #[error("ping: {0}")]
    Ping(#[from] PingError),
    /// A perf run failed.
    #[error("perf: {0}")]
    Perf(#[from] PerfError),
    /// Identify failed.
    #[error("identify: {0}")]
    Identify(#[from] IdentifyError),
    /// No connection to the peer and no address to dial it at.
    #[error("no connection to {0} and no known address")]
    NoAddresses(PeerId),
    /// Every known address of the peer failed.
    #[error("could not reach {peer}: {last}")]
    Unreachable {
        /// The peer.
        peer: PeerId,
        /// The error of the last address tried.
        last: Box<SwarmError>,
    },
    /// The address does not end in a form we can dial.
    #[error("cannot dial {0}")]
    InvalidAddress(Multiaddr),
    /// A node cannot dial itself.
    #[error("refusing to dial our own peer id")]
    DialSelf,
    /// A resource manager limit refused the connection or stream.
    #[error("{0}")]
    LimitReached(#[from] LimitError),
    /// The node is shutting down or has shut down.
    #[error("the node is shut down")]
    Shutdown,
    /// An I/O error on an established stream.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<NoiseError> for SwarmError {
    fn from(e: NoiseError) -> Self {
        match e {
            // A wrong peer is a dial outcome of its own, not a crypto failure.
            NoiseError::PeerIdMismatch { expected, actual } => SwarmError::PeerIdMismatch { expected, actual },
            other => SwarmError::Noise(other),
        }
    }
}
