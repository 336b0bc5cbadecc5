//! AutoNAT v2 (libp2p specs `autonat/autonat-v2.md`, r2): a node asks peers
//! to dial one of its addresses back, and so learns which of its addresses
//! are reachable from the outside, one address at a time.
//!
//! - [`codec`] and [`pb`]: the messages of `/libp2p/autonat/2/dial-request`
//!   and `/libp2p/autonat/2/dial-back`, one uvarint-length-prefixed protobuf
//!   each, with a typed [`DecodeError`].
//! - [`server`]: which address to dial, when to ask for dial data, the
//!   response to send, and the rate limits; a state machine without I/O or clock.
//! - [`client`]: checking a server's answer, the nonces awaiting a dial-back,
//!   and the [`client::Tracker`] that turns verdicts of distinct servers into
//!   confirmed (or unconfirmed) external addresses; also without I/O or clock.
//! - [`addrs`]: which addresses are dialable, and which are public.
//! - `driver`: the thin tokio layer: the stream handlers, the dial-back, the
//!   periodic probing loop, every step under a timeout.
//!
//! [`start`] wires it into a swarm; the returned [`Autonat`] handle probes
//! one server on demand.

pub mod addrs;
pub mod client;
pub mod codec;
mod driver;
pub mod pb;
pub mod server;

use std::time::Duration;

pub use client::{ProbeOutcome, Tracker};
pub use codec::{DecodeError, DialResponse, DialStatus, Message, ResponseStatus};
pub use driver::{Autonat, start};

use crate::swarm::SwarmError;
use crate::wire::frame::FrameError;

/// The protocol of requests (client to server).
pub const DIAL_REQUEST_PROTOCOL: &str = "/libp2p/autonat/2/dial-request";
/// The protocol of the dial-back (server to client, on a new connection).
pub const DIAL_BACK_PROTOCOL: &str = "/libp2p/autonat/2/dial-back";
/// The most addresses in one request, both ways: a server rejects longer
/// requests, a client sends no more.
pub const MAX_REQUEST_ADDRS: usize = 30;
/// The spec's bounds on the dial data a server should ask for.
pub const DIAL_DATA_RANGE: std::ops::RangeInclusive<u64> = 30_000..=100_000;

/// Settings of AutoNAT v2 on a node: the server part (dialing back for
/// others) and the client part (probing our own addresses).
#[derive(Debug, Clone)]
pub struct Config {
    /// Serve requests of other peers.
    pub server: bool,
    /// Probe our own candidate addresses, and answer dial-backs.
    pub client: bool,
    /// Server: dial loopback, LAN and memory addresses; client: probe them.
    /// Off by default (the spec: servers SHOULD NOT dial private addresses,
    /// clients SHOULD NOT send them); for tests on one host.
    pub allow_private_addresses: bool,
    /// Verdicts of distinct servers that confirm an address (or, once
    /// confirmed, unconfirm it). The spec suggests 3.
    pub confirmations: usize,
    /// Client: the time between probing rounds while some candidate has no
    /// verdict yet.
    pub probe_interval: Duration,
    /// Client: the time between rounds once every candidate has a verdict
    /// (they are re-checked at this pace).
    pub max_probe_interval: Duration,
    /// Server: the bytes asked for before dialing an IP other than the
    /// requester's (the spec says 30,000 to 100,000).
    pub dial_data_bytes: u64,
    /// Client: the most dial data we agree to send for one request.
    pub max_dial_data_bytes: u64,
    /// One whole request, on either side.
    pub request_timeout: Duration,
    /// Each read or write of a message, and opening a stream.
    pub stream_timeout: Duration,
    /// Server: connecting back and delivering the nonce.
    pub dial_back_timeout: Duration,
    /// Server: requests served at once.
    pub max_concurrent_requests: usize,
    /// Server: requests accepted per minute in total.
    pub max_requests_per_minute: usize,
    /// Server: requests accepted per minute from one peer (more get
    /// `E_REQUEST_REJECTED`).
    pub max_requests_per_peer_per_minute: usize,
    /// Client: candidate addresses tracked.
    pub max_candidates: usize,
    /// Client: requests in flight in one probing round.
    pub max_concurrent_probes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: true,
            client: true,
            allow_private_addresses: false,
            confirmations: 3,
            probe_interval: Duration::from_secs(15),
            max_probe_interval: Duration::from_secs(5 * 60),
            dial_data_bytes: 30_000,
            max_dial_data_bytes: 100_000,
            request_timeout: Duration::from_secs(30),
            stream_timeout: Duration::from_secs(10),
            dial_back_timeout: Duration::from_secs(10),
            max_concurrent_requests: 16,
            max_requests_per_minute: 60,
            max_requests_per_peer_per_minute: 12,
            max_candidates: 16,
            max_concurrent_probes: 4,
        }
    }
}

/// Why an AutoNAT exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum AutonatError {
    /// The remote sent bytes that are not a message (or a status we do not know).
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The server did not dial: its status (`E_REQUEST_REJECTED`,
    /// `E_DIAL_REFUSED` or `E_INTERNAL_ERROR`).
    #[error("autonat server answered {0}")]
    Refused(ResponseStatus),
    /// A message the protocol does not allow at this point.
    #[error("unexpected autonat message")]
    UnexpectedMessage,
    /// The server named an address we did not send.
    #[error("autonat server named address index {0}, not in the request")]
    InvalidAddrIdx(u32),
    /// The server asked for more dial data than we agree to send.
    #[error("autonat server asked for {asked} bytes of dial data (our limit is {max})")]
    DialDataTooLarge {
        /// Bytes asked for.
        asked: u64,
        /// Our limit.
        max: u64,
    },
    /// The server answered `OK` with dial status `UNUSED`.
    #[error("autonat server answered OK without a dial status")]
    MissingDialStatus,
    /// The server reported a successful dial-back, but our nonce never came
    /// back on a dial-back stream: the answer is discarded.
    #[error("autonat server reported a dial-back that never arrived")]
    NoDialBack,
    /// A dial-back carried a nonce we are not waiting for.
    #[error("dial-back with an unknown nonce")]
    UnknownNonce,
    /// A request must list 1 to [`MAX_REQUEST_ADDRS`] addresses.
    #[error("an autonat request lists 1 to {MAX_REQUEST_ADDRS} addresses, not {0}")]
    InvalidRequest(usize),
    /// Too many requests of ours await their dial-back.
    #[error("too many autonat probes in flight")]
    TooManyProbes,
    /// The node runs AutoNAT without the client part.
    #[error("the autonat client is disabled")]
    ClientDisabled,
    /// The stream ended before the answer.
    #[error("stream ended before the autonat answer")]
    UnexpectedEof,
    /// The remote took too long.
    #[error("autonat exchange timed out")]
    Timeout,
    /// The node is shut down.
    #[error("the node is shut down")]
    Shutdown,
    /// Opening the stream failed.
    #[error("{0}")]
    Swarm(#[from] SwarmError),
    /// The stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<FrameError> for AutonatError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::TooLarge { .. } => AutonatError::Decode(DecodeError::TooLarge),
            FrameError::Varint(_) => AutonatError::Decode(DecodeError::Protobuf),
            FrameError::UnexpectedEof => AutonatError::UnexpectedEof,
            FrameError::Io(e) => AutonatError::Io(e),
        }
    }
}

impl From<server::UnexpectedMessage> for AutonatError {
    fn from(_: server::UnexpectedMessage) -> Self {
        AutonatError::UnexpectedMessage
    }
}
