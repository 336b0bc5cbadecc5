//! The one error type of the bindings. Its variants are the failure statuses
//! of the C ABI (`lp2p_status` in `include/lp2p.h`), same names, same order;
//! [`Lp2pError::status_code`] gives the C number.

/// Why an lp2p call failed. Kotlin sees `Lp2pException.<Variant>`, Swift
/// `Lp2pError.<Variant>`; the text is for people, match on the variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum Lp2pError {
    /// A required argument was missing (C only: uniffi never passes null).
    #[error("{0}")]
    NullArgument(String),
    /// An argument was out of range or malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// A multiaddr string did not parse.
    #[error("{0}")]
    InvalidMultiaddr(String),
    /// A peer ID string did not parse.
    #[error("{0}")]
    InvalidPeerId(String),
    /// Key bytes did not decode.
    #[error("{0}")]
    InvalidKey(String),
    /// Dialing or upgrading a connection failed.
    #[error("{0}")]
    DialFailed(String),
    /// The remote does not support the requested protocol.
    #[error("{0}")]
    ProtocolNotSupported(String),
    /// An operation took longer than its timeout.
    #[error("{0}")]
    Timeout(String),
    /// No connection to the peer and no known address for it.
    #[error("{0}")]
    NoRoute(String),
    /// The remote is not the peer the address named.
    #[error("{0}")]
    PeerIdMismatch(String),
    /// A connection limit was reached.
    #[error("{0}")]
    LimitReached(String),
    /// The stream (or its write side) is closed.
    #[error("{0}")]
    StreamClosed(String),
    /// The stream was reset (by us or by the remote).
    #[error("{0}")]
    StreamReset(String),
    /// An I/O error.
    #[error("{0}")]
    Io(String),
    /// The node has been shut down.
    #[error("{0}")]
    Shutdown(String),
    /// A protocol exchange on an open connection failed.
    #[error("{0}")]
    ProtocolError(String),
    /// The peer store knows nothing about the peer.
    #[error("{0}")]
    UnknownPeer(String),
    /// Too many bytes queued (C only: the bindings' writes wait instead).
    #[error("{0}")]
    WouldBlock(String),
    /// A blocking call from inside a callback (C only).
    #[error("{0}")]
    BlockingInCallback(String),
    /// A bug in lp2p: a Rust panic was caught.
    #[error("{0}")]
    Panic(String),
    /// A bug in lp2p or an unexpected failure of the engine.
    #[error("{0}")]
    Internal(String),
}

impl Lp2pError {
    /// The number of the matching `lp2p_status` of the C ABI.
    pub fn status_code(&self) -> u32 {
        match self {
            Lp2pError::NullArgument(_) => 1,
            Lp2pError::InvalidArgument(_) => 2,
            Lp2pError::InvalidMultiaddr(_) => 3,
            Lp2pError::InvalidPeerId(_) => 4,
            Lp2pError::InvalidKey(_) => 5,
            Lp2pError::DialFailed(_) => 6,
            Lp2pError::ProtocolNotSupported(_) => 7,
            Lp2pError::Timeout(_) => 8,
            Lp2pError::NoRoute(_) => 9,
            Lp2pError::PeerIdMismatch(_) => 10,
            Lp2pError::LimitReached(_) => 11,
            Lp2pError::StreamClosed(_) => 12,
            Lp2pError::StreamReset(_) => 13,
            Lp2pError::Io(_) => 14,
            Lp2pError::Shutdown(_) => 15,
            Lp2pError::ProtocolError(_) => 16,
            Lp2pError::UnknownPeer(_) => 17,
            Lp2pError::WouldBlock(_) => 18,
            Lp2pError::BlockingInCallback(_) => 19,
            Lp2pError::Panic(_) => 100,
            Lp2pError::Internal(_) => 101,
        }
    }
}

/// The error of a failed stream read or write, by kind (as the C ABI maps it).
pub(crate) fn from_io(e: &std::io::Error) -> Lp2pError {
    use std::io::ErrorKind;
    let text = e.to_string();
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => Lp2pError::StreamReset(text),
        ErrorKind::BrokenPipe | ErrorKind::NotConnected | ErrorKind::WriteZero => Lp2pError::StreamClosed(text),
        ErrorKind::TimedOut => Lp2pError::Timeout(text),
        _ => Lp2pError::Io(text),
    }
}

impl From<lp2p::Error> for Lp2pError {
    fn from(e: lp2p::Error) -> Lp2pError {
        let text = e.to_string();
        match &e {
            lp2p::Error::InvalidMultiaddr(_) => Lp2pError::InvalidMultiaddr(text),
            lp2p::Error::Dial(_) => Lp2pError::DialFailed(text),
            lp2p::Error::ProtocolNotSupported(_) => Lp2pError::ProtocolNotSupported(text),
            lp2p::Error::Timeout(_) => Lp2pError::Timeout(text),
            lp2p::Error::NoRoute(_) => Lp2pError::NoRoute(text),
            lp2p::Error::PeerIdMismatch(_) => Lp2pError::PeerIdMismatch(text),
            lp2p::Error::LimitReached(_) => Lp2pError::LimitReached(text),
            lp2p::Error::Protocol(_) => Lp2pError::ProtocolError(text),
            lp2p::Error::Io(io) => from_io(io),
            lp2p::Error::Shutdown => Lp2pError::Shutdown(text),
            lp2p::Error::Rendezvous(_) => Lp2pError::ProtocolError(text),
            lp2p::Error::Bootstrap(_) => Lp2pError::NoRoute(text),
            _ => Lp2pError::Internal(text),
        }
    }
}

impl From<lp2p::multiaddr::Error> for Lp2pError {
    fn from(e: lp2p::multiaddr::Error) -> Lp2pError {
        Lp2pError::InvalidMultiaddr(e.to_string())
    }
}

/// Parses a multiaddr given as a string.
pub(crate) fn parse_multiaddr(text: &str) -> Result<lp2p::Multiaddr, Lp2pError> {
    Ok(text.parse::<lp2p::Multiaddr>()?)
}

/// Parses a peer ID given as a string (base58 or CID).
pub(crate) fn parse_peer_id(text: &str) -> Result<lp2p::PeerId, Lp2pError> {
    text.parse::<lp2p::PeerId>().map_err(|e| Lp2pError::InvalidPeerId(format!("invalid peer id {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lp2p_ffi::lp2p_status;

    /// Every variant, beside the C status it must match.
    fn pairs() -> Vec<(Lp2pError, lp2p_status)> {
        let s = String::new;
        vec![
            (Lp2pError::NullArgument(s()), lp2p_status::NullArgument),
            (Lp2pError::InvalidArgument(s()), lp2p_status::InvalidArgument),
            (Lp2pError::InvalidMultiaddr(s()), lp2p_status::InvalidMultiaddr),
            (Lp2pError::InvalidPeerId(s()), lp2p_status::InvalidPeerId),
            (Lp2pError::InvalidKey(s()), lp2p_status::InvalidKey),
            (Lp2pError::DialFailed(s()), lp2p_status::DialFailed),
            (Lp2pError::ProtocolNotSupported(s()), lp2p_status::ProtocolNotSupported),
            (Lp2pError::Timeout(s()), lp2p_status::Timeout),
            (Lp2pError::NoRoute(s()), lp2p_status::NoRoute),
            (Lp2pError::PeerIdMismatch(s()), lp2p_status::PeerIdMismatch),
            (Lp2pError::LimitReached(s()), lp2p_status::LimitReached),
            (Lp2pError::StreamClosed(s()), lp2p_status::StreamClosed),
            (Lp2pError::StreamReset(s()), lp2p_status::StreamReset),
            (Lp2pError::Io(s()), lp2p_status::Io),
            (Lp2pError::Shutdown(s()), lp2p_status::Shutdown),
            (Lp2pError::ProtocolError(s()), lp2p_status::ProtocolError),
            (Lp2pError::UnknownPeer(s()), lp2p_status::UnknownPeer),
            (Lp2pError::WouldBlock(s()), lp2p_status::WouldBlock),
            (Lp2pError::BlockingInCallback(s()), lp2p_status::BlockingInCallback),
            (Lp2pError::Panic(s()), lp2p_status::Panic),
            (Lp2pError::Internal(s()), lp2p_status::Internal),
        ]
    }

    #[test]
    fn codes_match_the_c_status_numbers() {
        for (error, status) in pairs() {
            assert_eq!(error.status_code(), status as u32, "{error:?}");
        }
    }

    #[test]
    fn names_match_the_c_status_names() {
        for (error, status) in pairs() {
            let c_name = lp2p_ffi::lp2p_status_name(status as std::ffi::c_int);
            // SAFETY: lp2p_status_name returns a static NUL-terminated string.
            let c_name = unsafe { std::ffi::CStr::from_ptr(c_name) }.to_str().expect("ASCII name");
            let variant = format!("{error:?}");
            let variant = variant.split('(').next().expect("a variant name");
            let snake: String = variant
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                    sep.into_iter().chain(std::iter::once(c.to_ascii_uppercase()))
                })
                .collect();
            assert_eq!(format!("LP2P_STATUS_{snake}"), c_name);
        }
    }

    #[test]
    fn every_c_failure_status_has_a_variant() {
        // lp2p_status has 22 values, OK among them.
        assert_eq!(pairs().len(), 21);
    }

    #[test]
    fn bad_multiaddr_is_invalid_multiaddr() {
        assert!(matches!(parse_multiaddr("not-a-multiaddr"), Err(Lp2pError::InvalidMultiaddr(_))));
        assert!(matches!(parse_peer_id("nope"), Err(Lp2pError::InvalidPeerId(_))));
    }
}
