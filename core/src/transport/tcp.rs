//! TCP: `/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>`. Sockets get TCP_NODELAY
//! (libp2p frames are small and latency-bound) and listeners SO_REUSEADDR (so a
//! restarted node can bind its old port while old sockets sit in TIME_WAIT).

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpSocket;

use super::{Io, RawConnection, TransportError};
use crate::multiaddr::{Multiaddr, Protocol};

/// How many connections the kernel may queue before we accept them.
const LISTEN_BACKLOG: u32 = 1024;

/// Where a TCP address points: a socket address, or a DNS name to resolve.
enum Target {
    Socket(SocketAddr),
    Dns { name: String, port: u16, want: Family },
}

#[derive(Clone, Copy)]
enum Family {
    Any,
    V4,
    V6,
}

fn parse(addr: &Multiaddr) -> Result<Target, TransportError> {
    let unsupported = || TransportError::UnsupportedAddress(addr.clone());
    let mut iter = addr.iter();
    let host = iter.next().ok_or_else(unsupported)?;
    let port = match iter.next() {
        Some(Protocol::Tcp(port)) => port,
        _ => return Err(unsupported()),
    };
    if iter.next().is_some() {
        return Err(unsupported());
    }
    Ok(match host {
        Protocol::Ip4(ip) => Target::Socket(SocketAddr::new(IpAddr::V4(ip), port)),
        Protocol::Ip6(ip) => Target::Socket(SocketAddr::new(IpAddr::V6(ip), port)),
        Protocol::Dns(name) => Target::Dns { name, port, want: Family::Any },
        Protocol::Dns4(name) => Target::Dns { name, port, want: Family::V4 },
        Protocol::Dns6(name) => Target::Dns { name, port, want: Family::V6 },
        _ => return Err(unsupported()),
    })
}

/// The multiaddr of a socket address: `/ip4/../tcp/..` or `/ip6/../tcp/..`.
pub fn to_multiaddr(sa: SocketAddr) -> Multiaddr {
    let ip = match sa.ip() {
        IpAddr::V4(ip) => Protocol::Ip4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => Protocol::Ip4(v4),
            None => Protocol::Ip6(ip),
        },
    };
    Multiaddr::default().with(ip).with(Protocol::Tcp(sa.port()))
}

async fn resolve(target: Target) -> Result<SocketAddr, TransportError> {
    match target {
        Target::Socket(sa) => Ok(sa),
        Target::Dns { name, port, want } => {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port)).await?.collect();
            found
                .into_iter()
                .find(|sa| match want {
                    Family::Any => true,
                    Family::V4 => sa.is_ipv4(),
                    Family::V6 => sa.is_ipv6(),
                })
                .ok_or(TransportError::Resolve(name))
        }
    }
}

/// Dials a TCP address.
pub async fn dial(addr: &Multiaddr) -> Result<RawConnection, TransportError> {
    let remote = resolve(parse(addr)?).await?;
    let socket = if remote.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_nodelay(true)?;
    let stream = socket.connect(remote).await?;
    let local = stream.local_addr()?;
    Ok(RawConnection { io: Io::Tcp(stream), local_addr: to_multiaddr(local), remote_addr: to_multiaddr(remote) })
}

/// A bound TCP listener.
pub struct TcpListener {
    inner: tokio::net::TcpListener,
    local_addr: Multiaddr,
}

impl TcpListener {
    /// Binds an `/ip4|ip6/<ip>/tcp/<port>` address; port 0 picks a free port.
    /// Must be called inside a tokio runtime.
    pub fn bind(addr: &Multiaddr) -> Result<TcpListener, TransportError> {
        let sa = match parse(addr)? {
            Target::Socket(sa) => sa,
            Target::Dns { .. } => return Err(TransportError::UnsupportedAddress(addr.clone())),
        };
        let socket = if sa.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.set_nodelay(true)?;
        socket.bind(sa)?;
        let inner = socket.listen(LISTEN_BACKLOG)?;
        let local_addr = to_multiaddr(inner.local_addr()?);
        Ok(TcpListener { inner, local_addr })
    }

    /// The bound address, with the port the OS chose.
    pub fn local_addr(&self) -> &Multiaddr {
        &self.local_addr
    }

    /// Waits for the next connection. An error is the listener's (out of
    /// file descriptors or memory, an aborted connection); a connection that
    /// fails while we set it up is dropped here, and we wait for the next.
    pub async fn accept(&mut self) -> Result<RawConnection, TransportError> {
        loop {
            let (stream, remote) = self.inner.accept().await?;
            // Fails on a socket the remote already reset: that connection is
            // gone, the listener is fine.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%remote, error = %e, "dropping an accepted connection that failed set-up");
                continue;
            }
            return Ok(RawConnection {
                io: Io::Tcp(stream),
                local_addr: self.local_addr.clone(),
                remote_addr: to_multiaddr(remote),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn listen_dial_and_talk_ipv4_and_ipv6() {
        for text in ["/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/0"] {
            let mut listener = match TcpListener::bind(&text.parse().expect("valid")) {
                Ok(l) => l,
                Err(e) if text.contains("ip6") => {
                    eprintln!("no IPv6 loopback here: {e}");
                    continue;
                }
                Err(e) => panic!("bind {text}: {e}"),
            };
            let addr = listener.local_addr().clone();
            assert!(!addr.to_string().ends_with("/tcp/0"), "port 0 must be resolved: {addr}");
            let (dialed, accepted) = tokio::join!(dial(&addr), listener.accept());
            let (mut a, mut b) = match (dialed, accepted) {
                (Ok(a), Ok(b)) => (a, b),
                other => panic!("connect failed: {:?}", other.0.err().or(other.1.err())),
            };
            assert_eq!(a.remote_addr, addr);
            a.io.write_all(b"hello").await.expect("write");
            let mut buf = [0u8; 5];
            b.io.read_exact(&mut buf).await.expect("read");
            assert_eq!(&buf, b"hello");
        }
    }

    #[tokio::test]
    async fn unspecified_listen_address_expands_to_interfaces() {
        let listener = TcpListener::bind(&"/ip4/0.0.0.0/tcp/0".parse().expect("valid")).expect("bind");
        let expanded = super::super::reachable_addrs(listener.local_addr());
        let loopback = expanded.iter().find(|a| a.to_string().starts_with("/ip4/127.0.0.1/tcp/"));
        assert!(loopback.is_some(), "{expanded:?}");
        assert!(expanded.iter().all(|a| !a.to_string().starts_with("/ip4/0.0.0.0")));
        let specific: Multiaddr = "/ip4/127.0.0.1/tcp/5".parse().expect("valid");
        assert_eq!(super::super::reachable_addrs(&specific), vec![specific]);
    }

    #[tokio::test]
    async fn dns_localhost_resolves() {
        let mut listener = TcpListener::bind(&"/ip4/127.0.0.1/tcp/0".parse().expect("valid")).expect("bind");
        let port = listener.local_addr().iter().nth(1);
        let Some(Protocol::Tcp(port)) = port else { panic!("no port") };
        let addr: Multiaddr = format!("/dns4/localhost/tcp/{port}").parse().expect("valid");
        let (dialed, accepted) = tokio::join!(dial(&addr), listener.accept());
        assert!(dialed.is_ok() && accepted.is_ok());
    }

    #[tokio::test]
    async fn rejects_non_tcp_addresses() {
        for text in ["/ip4/127.0.0.1/udp/1", "/ip4/127.0.0.1", "/ip4/127.0.0.1/tcp/1/ws"] {
            let addr: Multiaddr = text.parse().expect("valid");
            assert!(matches!(dial(&addr).await, Err(TransportError::UnsupportedAddress(_))), "{text}");
        }
    }

    #[tokio::test]
    async fn refused_dial_is_an_io_error() {
        let listener = TcpListener::bind(&"/ip4/127.0.0.1/tcp/0".parse().expect("valid")).expect("bind");
        let addr = listener.local_addr().clone();
        drop(listener);
        assert!(matches!(dial(&addr).await, Err(TransportError::Io(_))));
    }
}
