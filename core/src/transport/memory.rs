//! The in-memory transport, `/memory/<n>`: connections are tokio duplex pipes
//! inside one process. For tests and for nodes that talk to themselves.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use tokio::sync::mpsc;

use super::{Io, RawConnection, TransportError};
use crate::multiaddr::{Multiaddr, Protocol};

/// Bytes buffered in each direction of a pipe.
const PIPE_CAPACITY: usize = 256 * 1024;
/// Dialed connections waiting to be accepted by one listener.
const ACCEPT_BACKLOG: usize = 128;

type Registry = Mutex<HashMap<u64, mpsc::Sender<(tokio::io::DuplexStream, u64)>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Whether `addr` is exactly `/memory/<n>`.
pub fn is_memory(addr: &Multiaddr) -> bool {
    port_of(addr).is_some()
}

fn port_of(addr: &Multiaddr) -> Option<u64> {
    let mut iter = addr.iter();
    match (iter.next(), iter.next()) {
        (Some(Protocol::Memory(port)), None) => Some(port),
        _ => None,
    }
}

fn memory_addr(port: u64) -> Multiaddr {
    Multiaddr::default().with(Protocol::Memory(port))
}

/// A fresh port for the dialer's side, so each end has a distinct address.
fn random_port() -> u64 {
    let mut bytes = [0u8; 8];
    // A failure of the system RNG leaves zeros; the registry check below retries.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    u64::from_le_bytes(bytes) >> 1 | 1
}

/// Connects to the memory listener at `addr`.
pub fn dial(addr: &Multiaddr) -> Result<RawConnection, TransportError> {
    let port = port_of(addr).ok_or_else(|| TransportError::UnsupportedAddress(addr.clone()))?;
    let sender = registry()
        .lock()
        .map_err(|_| TransportError::Refused(addr.clone()))?
        .get(&port)
        .cloned()
        .ok_or_else(|| TransportError::Refused(addr.clone()))?;
    let (ours, theirs) = tokio::io::duplex(PIPE_CAPACITY);
    let local = random_port();
    sender.try_send((theirs, local)).map_err(|_| TransportError::Refused(addr.clone()))?;
    Ok(RawConnection { io: Io::Memory(ours), local_addr: memory_addr(local), remote_addr: addr.clone() })
}

/// A bound memory listener; its port is released when it is dropped.
pub struct MemoryListener {
    port: u64,
    local_addr: Multiaddr,
    incoming: mpsc::Receiver<(tokio::io::DuplexStream, u64)>,
}

impl MemoryListener {
    /// Binds `/memory/<n>`; `/memory/0` picks a free port.
    pub fn bind(addr: &Multiaddr) -> Result<MemoryListener, TransportError> {
        let wanted = port_of(addr).ok_or_else(|| TransportError::UnsupportedAddress(addr.clone()))?;
        let mut map = registry().lock().map_err(|_| TransportError::AddressInUse(addr.clone()))?;
        let port = if wanted == 0 {
            let mut port = random_port();
            while map.contains_key(&port) {
                port = random_port();
            }
            port
        } else if map.contains_key(&wanted) {
            return Err(TransportError::AddressInUse(addr.clone()));
        } else {
            wanted
        };
        let (tx, rx) = mpsc::channel(ACCEPT_BACKLOG);
        map.insert(port, tx);
        Ok(MemoryListener { port, local_addr: memory_addr(port), incoming: rx })
    }

    /// The bound address.
    pub fn local_addr(&self) -> &Multiaddr {
        &self.local_addr
    }

    /// Waits for the next connection.
    pub async fn accept(&mut self) -> Result<RawConnection, TransportError> {
        let (io, remote) =
            self.incoming.recv().await.ok_or_else(|| TransportError::Io(std::io::ErrorKind::BrokenPipe.into()))?;
        Ok(RawConnection { io: Io::Memory(io), local_addr: self.local_addr.clone(), remote_addr: memory_addr(remote) })
    }
}

impl Drop for MemoryListener {
    fn drop(&mut self) {
        if let Ok(mut map) = registry().lock() {
            map.remove(&self.port);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn dial_accept_and_talk() {
        let mut listener = MemoryListener::bind(&"/memory/0".parse().expect("valid")).expect("bind");
        let addr = listener.local_addr().clone();
        let mut a = dial(&addr).expect("dial");
        let mut b = listener.accept().await.expect("accept");
        assert_eq!(b.remote_addr, a.local_addr);
        a.io.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        b.io.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"ping");
    }

    #[tokio::test]
    async fn port_in_use_and_release() {
        let addr: Multiaddr = "/memory/4242".parse().expect("valid");
        let first = MemoryListener::bind(&addr).expect("bind");
        assert!(matches!(MemoryListener::bind(&addr), Err(TransportError::AddressInUse(_))));
        drop(first);
        assert!(MemoryListener::bind(&addr).is_ok());
    }

    #[tokio::test]
    async fn dial_without_listener_is_refused() {
        let addr: Multiaddr = "/memory/987654321".parse().expect("valid");
        assert!(matches!(dial(&addr), Err(TransportError::Refused(_))));
    }
}
