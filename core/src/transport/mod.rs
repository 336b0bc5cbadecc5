//! Transports: how raw byte streams to a multiaddr are made. TCP for the real
//! network, an in-memory transport for tests; more (QUIC, WebSocket) later.
//!
//! A transport gives the swarm an [`Io`]: an ordered, reliable byte stream with
//! no security or multiplexing yet. The swarm upgrades it.

pub mod memory;
pub mod tcp;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::multiaddr::{Multiaddr, Protocol};

/// Why a transport could not dial or listen.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No transport of ours understands this address.
    #[error("unsupported address: {0}")]
    UnsupportedAddress(Multiaddr),
    /// A `/dns*/` name resolved to no usable address.
    #[error("could not resolve {0}")]
    Resolve(String),
    /// Nothing listens at this memory address.
    #[error("connection refused: {0}")]
    Refused(Multiaddr),
    /// The memory address is already taken.
    #[error("address in use: {0}")]
    AddressInUse(Multiaddr),
    /// The operating system failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

/// A raw connection from any transport.
pub enum Io {
    /// A TCP socket.
    Tcp(tokio::net::TcpStream),
    /// One end of an in-memory pipe.
    Memory(tokio::io::DuplexStream),
}

/// A freshly accepted or dialed raw connection with its addresses.
pub struct RawConnection {
    /// The byte stream.
    pub io: Io,
    /// Our side's address.
    pub local_addr: Multiaddr,
    /// The remote side's address (for inbound connections: its source address).
    pub remote_addr: Multiaddr,
}

/// Dials `addr` with the transport that understands it. A trailing `/p2p/` is ignored.
pub async fn dial(addr: &Multiaddr) -> Result<RawConnection, TransportError> {
    let addr = without_p2p(addr);
    if memory::is_memory(&addr) {
        return memory::dial(&addr);
    }
    tcp::dial(&addr).await
}

/// A listener of any transport.
pub enum Listener {
    /// A TCP listener.
    Tcp(tcp::TcpListener),
    /// A memory listener.
    Memory(memory::MemoryListener),
}

impl Listener {
    /// Binds `addr` with the transport that understands it.
    pub fn bind(addr: &Multiaddr) -> Result<Listener, TransportError> {
        if memory::is_memory(addr) {
            return Ok(Listener::Memory(memory::MemoryListener::bind(addr)?));
        }
        Ok(Listener::Tcp(tcp::TcpListener::bind(addr)?))
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> &Multiaddr {
        match self {
            Listener::Tcp(l) => l.local_addr(),
            Listener::Memory(l) => l.local_addr(),
        }
    }

    /// Waits for the next inbound connection.
    pub async fn accept(&mut self) -> Result<RawConnection, TransportError> {
        match self {
            Listener::Tcp(l) => l.accept().await,
            Listener::Memory(l) => l.accept().await,
        }
    }
}

/// The addresses a listener on `addr` is reachable at: an unspecified IP
/// (`0.0.0.0`, `::`) becomes every interface address of that family, since
/// peers cannot dial the unspecified address. Other addresses are returned as
/// they are.
pub fn reachable_addrs(addr: &Multiaddr) -> Vec<Multiaddr> {
    let mut iter = addr.iter();
    let (want_v4, rest): (bool, Vec<Protocol>) = match iter.next() {
        Some(Protocol::Ip4(ip)) if ip.is_unspecified() => (true, iter.collect()),
        Some(Protocol::Ip6(ip)) if ip.is_unspecified() => (false, iter.collect()),
        _ => return vec![addr.clone()],
    };
    let Ok(interfaces) = if_addrs::get_if_addrs() else {
        return vec![addr.clone()];
    };
    let mut out: Vec<Multiaddr> = interfaces
        .into_iter()
        .filter_map(|iface| match iface.ip() {
            std::net::IpAddr::V4(ip) if want_v4 => Some(Protocol::Ip4(ip)),
            std::net::IpAddr::V6(ip) if !want_v4 && !iface.is_link_local() => Some(Protocol::Ip6(ip)),
            _ => None,
        })
        .map(|ip| std::iter::once(ip).chain(rest.iter().cloned()).collect())
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() { vec![addr.clone()] } else { out }
}

/// `addr` without its trailing `/p2p/<id>`, if any.
pub fn without_p2p(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Memory(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Memory(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Memory(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Tcp(s) => s.is_write_vectored(),
            Io::Memory(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Memory(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Memory(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
