//! The exception classes, one per C status code family (`ffi/src/error.rs`),
//! and the mapping from lp2p's typed errors to them. Each exception carries
//! the engine's message; match on the class, not the text.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

// The module path makes `repr` say `lp2p.DialError`: the package re-exports
// every class from its top level.
create_exception!(lp2p, Error, PyException, "Base class of every lp2p error.");
create_exception!(lp2p, InvalidArgument, Error, "An argument was out of range or malformed.");
create_exception!(lp2p, InvalidMultiaddr, Error, "A multiaddr string did not parse.");
create_exception!(lp2p, InvalidPeerId, Error, "A peer ID string did not parse.");
create_exception!(lp2p, InvalidKey, Error, "Key bytes did not decode.");
create_exception!(lp2p, DialError, Error, "Dialing or upgrading a connection failed.");
create_exception!(lp2p, ProtocolNotSupported, Error, "The remote does not support the protocol.");
create_exception!(lp2p, Timeout, Error, "An operation took longer than its timeout.");
create_exception!(lp2p, NoRoute, Error, "No connection to the peer and no known address for it.");
create_exception!(lp2p, PeerIdMismatch, Error, "The remote is not the peer the address named.");
create_exception!(lp2p, LimitReached, Error, "A connection limit was reached.");
create_exception!(lp2p, ProtocolError, Error, "A protocol exchange on an open connection failed.");
create_exception!(lp2p, StreamClosed, Error, "The stream (or its write side) is closed.");
create_exception!(lp2p, StreamReset, Error, "The stream was reset, by us or by the remote.");
create_exception!(lp2p, IoError, Error, "An I/O error.");
create_exception!(lp2p, NodeClosed, Error, "The node is shut down.");
create_exception!(lp2p, InternalError, Error, "A bug in lp2p.");

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("InvalidArgument", py.get_type::<InvalidArgument>())?;
    m.add("InvalidMultiaddr", py.get_type::<InvalidMultiaddr>())?;
    m.add("InvalidPeerId", py.get_type::<InvalidPeerId>())?;
    m.add("InvalidKey", py.get_type::<InvalidKey>())?;
    m.add("DialError", py.get_type::<DialError>())?;
    m.add("ProtocolNotSupported", py.get_type::<ProtocolNotSupported>())?;
    m.add("Timeout", py.get_type::<Timeout>())?;
    m.add("NoRoute", py.get_type::<NoRoute>())?;
    m.add("PeerIdMismatch", py.get_type::<PeerIdMismatch>())?;
    m.add("LimitReached", py.get_type::<LimitReached>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("StreamClosed", py.get_type::<StreamClosed>())?;
    m.add("StreamReset", py.get_type::<StreamReset>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    m.add("NodeClosed", py.get_type::<NodeClosed>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}

/// The exception for an lp2p error, with the engine's message.
pub(crate) fn from_lp2p(e: lp2p::Error) -> PyErr {
    let message = e.to_string();
    match e {
        lp2p::Error::InvalidMultiaddr(_) => InvalidMultiaddr::new_err(message),
        lp2p::Error::Dial(_) => DialError::new_err(message),
        lp2p::Error::ProtocolNotSupported(_) => ProtocolNotSupported::new_err(message),
        lp2p::Error::Timeout(_) => Timeout::new_err(message),
        lp2p::Error::NoRoute(_) => NoRoute::new_err(message),
        lp2p::Error::PeerIdMismatch(_) => PeerIdMismatch::new_err(message),
        lp2p::Error::LimitReached(_) => LimitReached::new_err(message),
        lp2p::Error::Protocol(_) => ProtocolError::new_err(message),
        lp2p::Error::Io(io) => from_io(&io),
        lp2p::Error::Shutdown => NodeClosed::new_err(message),
        lp2p::Error::Rendezvous(_) => ProtocolError::new_err(message),
        lp2p::Error::Bootstrap(_) => NoRoute::new_err(message),
        _ => InternalError::new_err(message),
    }
}

/// The exception for an I/O error seen on a stream (same mapping as the C ABI).
pub(crate) fn from_io(e: &std::io::Error) -> PyErr {
    use std::io::ErrorKind;
    let message = e.to_string();
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => StreamReset::new_err(message),
        ErrorKind::BrokenPipe | ErrorKind::NotConnected | ErrorKind::WriteZero => StreamClosed::new_err(message),
        ErrorKind::TimedOut => Timeout::new_err(message),
        _ => IoError::new_err(message),
    }
}

/// Parses a multiaddr argument.
pub(crate) fn parse_addr(text: &str) -> PyResult<lp2p::Multiaddr> {
    text.parse().map_err(|e: lp2p::multiaddr::Error| InvalidMultiaddr::new_err(format!("{text:?}: {e}")))
}

/// Parses a peer ID argument.
pub(crate) fn parse_peer(text: &str) -> PyResult<lp2p::PeerId> {
    text.parse().map_err(|e| InvalidPeerId::new_err(format!("{text:?}: {e}")))
}
