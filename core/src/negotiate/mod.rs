//! multistream-select 1.0.0: agreeing on a protocol for a connection or a
//! stream. Every message is varint-length-prefixed and ends in `\n`; both
//! sides first send the header `/multistream/1.0.0`, then the dialer proposes
//! protocols one by one and the listener echoes the one it accepts or answers
//! `na`. `ls` asks the listener for its protocols.
//!
//! [`machine`] holds the sans-IO state machines; [`dialer_select`] and
//! [`listener_select`] drive them over a tokio byte stream and return a
//! [`Negotiated`] stream.

pub mod machine;
mod negotiated;

pub use machine::{DialerSelect, ListenerSelect, Message};
pub use negotiated::{Negotiated, dialer_select, listener_select};

/// The protocol ID of multistream-select itself, sent as the header.
pub const HEADER: &str = "/multistream/1.0.0";
/// The longest protocol name we send or accept.
pub const MAX_PROTOCOL_LEN: usize = 1024;
/// The longest message we accept (an `ls` answer with many protocols).
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// How the dialer proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Wait for the listener's answer before using the stream.
    V1,
    /// With a single proposal, do not wait: the proposal goes out with the
    /// first data and the answer is checked on the first read. Saves a round
    /// trip; a refusal then surfaces as a read error.
    V1Lazy,
}

/// Why negotiation failed.
#[derive(Debug, thiserror::Error)]
pub enum NegotiationError {
    /// The listener supports none of the proposed protocols.
    #[error("no protocol in common")]
    Failed,
    /// A protocol name is empty, longer than 1024 bytes, contains a newline,
    /// or is one the codec reads as something else (`na`, `ls`, a
    /// `/multistream/` header).
    #[error("invalid protocol name")]
    InvalidProtocol,
    /// The peer sent something that is not a multistream-select message here.
    #[error("invalid multistream-select message")]
    InvalidMessage,
    /// The peer's header is not `/multistream/1.0.0`.
    #[error("unsupported multistream-select version")]
    WrongHeader,
    /// A message exceeds [`MAX_MESSAGE_LEN`].
    #[error("message too long")]
    TooLong,
    /// The stream ended during negotiation.
    #[error("stream ended during negotiation")]
    UnexpectedEof,
    /// The stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl NegotiationError {
    /// Wraps the error as an `io::Error`, for surfacing through `AsyncRead`.
    pub fn into_io(self) -> std::io::Error {
        match self {
            NegotiationError::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}

/// Checks a protocol name before we send or compare it. Names that read
/// back as another message (`na`, `ls`, a `/multistream/` header) cannot be
/// proposed: the listener would not see a proposal.
pub fn validate_protocol(name: &str) -> Result<(), NegotiationError> {
    if name.is_empty() || name.len() > MAX_PROTOCOL_LEN || name.contains('\n') {
        return Err(NegotiationError::InvalidProtocol);
    }
    if name == "na" || name == "ls" || name.starts_with("/multistream/") {
        return Err(NegotiationError::InvalidProtocol);
    }
    Ok(())
}
