//! Multiaddr: self-describing network addresses, in text (`/ip4/1.2.3.4/tcp/80`)
//! and binary (varint protocol code, then the value) form.
//!
//! Codes and value sizes follow the multiaddr protocol table; names are the
//! table's. Values of variable size are varint-length-prefixed in binary form.
//! Text values that may contain `/` (unix paths, HTTP paths) are
//! percent-encoded.

mod protocol;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use protocol::Protocol;

use crate::identity::PeerId;

/// The longest binary multiaddr we accept: addresses are small; this bounds
/// what a peer can make us allocate.
pub const MAX_LEN: usize = 1024;

/// Why text or bytes are not a multiaddr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Text must start with `/`.
    #[error("multiaddr text must start with '/'")]
    MissingLeadingSlash,
    /// A protocol name or code we do not know.
    #[error("unknown protocol {0}")]
    UnknownProtocol(String),
    /// A protocol we know by name but cannot represent.
    #[error("unsupported protocol {0}")]
    UnsupportedProtocol(&'static str),
    /// The protocol needs a value and the text ended.
    #[error("protocol {0} is missing its value")]
    MissingValue(&'static str),
    /// The value does not parse for its protocol.
    #[error("invalid value for {protocol}: {reason}")]
    InvalidValue {
        /// The protocol whose value is bad.
        protocol: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Binary input ended inside a component.
    #[error("multiaddr bytes are truncated")]
    Truncated,
    /// A varint (code or length) is malformed.
    #[error("invalid varint in multiaddr")]
    InvalidVarint,
    /// A value printed as it is in text form (a DNS name, an SNI host name,
    /// an IPv6 zone) contains `/`: its text form would read back as other
    /// components.
    #[error("the value of {0} contains '/'")]
    SlashInValue(&'static str),
    /// The address is longer than [`MAX_LEN`].
    #[error("multiaddr longer than {MAX_LEN} bytes")]
    TooLong,
}

/// A multiaddr. Stored in binary form; cheap to compare and hash.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Multiaddr {
    bytes: Vec<u8>,
}

impl Multiaddr {
    /// An empty multiaddr.
    pub fn empty() -> Multiaddr {
        Multiaddr::default()
    }

    /// Parses the binary form; every component must be valid.
    pub fn from_bytes(bytes: &[u8]) -> Result<Multiaddr, Error> {
        if bytes.len() > MAX_LEN {
            return Err(Error::TooLong);
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let (_, used) = Protocol::decode(rest)?;
            rest = &rest[used..];
        }
        Ok(Multiaddr { bytes: bytes.to_vec() })
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The binary form as a fresh vector.
    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// Whether there are no components.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The number of components.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The components, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: &self.bytes }
    }

    /// Appends a component. For a value that did not come from text or
    /// bytes (which are checked on the way in), prefer [`Multiaddr::try_push`].
    pub fn push(&mut self, protocol: Protocol) {
        protocol.encode(&mut self.bytes);
    }

    /// Appends a component, builder style.
    pub fn with(mut self, protocol: Protocol) -> Multiaddr {
        self.push(protocol);
        self
    }

    /// Appends a component after checking its value as parsing does (for
    /// example, a DNS name with a `/` is refused).
    pub fn try_push(&mut self, protocol: Protocol) -> Result<(), Error> {
        protocol.validate()?;
        self.push(protocol);
        Ok(())
    }

    /// [`Multiaddr::try_push`], builder style.
    pub fn try_with(mut self, protocol: Protocol) -> Result<Multiaddr, Error> {
        self.try_push(protocol)?;
        Ok(self)
    }

    /// Removes and returns the last component.
    pub fn pop(&mut self) -> Option<Protocol> {
        let mut last = None;
        let mut offset = 0;
        let mut rest = &self.bytes[..];
        while !rest.is_empty() {
            // Stored bytes were validated on the way in, so decoding succeeds.
            let (protocol, used) = Protocol::decode(rest).ok()?;
            last = Some((offset, protocol));
            offset += used;
            rest = &rest[used..];
        }
        let (start, protocol) = last?;
        self.bytes.truncate(start);
        Some(protocol)
    }

    /// The peer ID of a trailing `/p2p/<id>`, if any.
    pub fn peer_id(&self) -> Option<PeerId> {
        match self.iter().last() {
            Some(Protocol::P2p(peer)) => Some(peer),
            _ => None,
        }
    }

    /// Whether `self` ends with the components of `suffix`.
    pub fn ends_with(&self, suffix: &Multiaddr) -> bool {
        self.bytes.ends_with(&suffix.bytes)
    }
}

/// Iterator over the components of a [`Multiaddr`].
pub struct Iter<'a> {
    rest: &'a [u8],
}

impl Iterator for Iter<'_> {
    type Item = Protocol;

    fn next(&mut self) -> Option<Protocol> {
        if self.rest.is_empty() {
            return None;
        }
        // Validated on construction; a failure here would end the iteration.
        let (protocol, used) = Protocol::decode(self.rest).ok()?;
        self.rest = &self.rest[used..];
        Some(protocol)
    }
}

impl FromStr for Multiaddr {
    type Err = Error;

    fn from_str(text: &str) -> Result<Multiaddr, Error> {
        if text.is_empty() || text == "/" {
            return Ok(Multiaddr::default());
        }
        let body = text.strip_prefix('/').ok_or(Error::MissingLeadingSlash)?;
        let mut parts = body.split('/').peekable();
        let mut addr = Multiaddr::default();
        while let Some(name) = parts.next() {
            if name.is_empty() && parts.peek().is_none() {
                break; // a trailing slash
            }
            addr.push(Protocol::parse(name, &mut parts)?);
            if addr.bytes.len() > MAX_LEN {
                return Err(Error::TooLong);
            }
        }
        Ok(addr)
    }
}

impl TryFrom<Vec<u8>> for Multiaddr {
    type Error = Error;

    fn try_from(bytes: Vec<u8>) -> Result<Multiaddr, Error> {
        Multiaddr::from_bytes(&bytes)
    }
}

impl From<Protocol> for Multiaddr {
    fn from(protocol: Protocol) -> Multiaddr {
        Multiaddr::default().with(protocol)
    }
}

impl FromIterator<Protocol> for Multiaddr {
    fn from_iter<I: IntoIterator<Item = Protocol>>(iter: I) -> Multiaddr {
        let mut addr = Multiaddr::default();
        for protocol in iter {
            addr.push(protocol);
        }
        addr
    }
}

impl fmt::Display for Multiaddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for protocol in self.iter() {
            write!(f, "{protocol}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Multiaddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Multiaddr({self})")
    }
}
