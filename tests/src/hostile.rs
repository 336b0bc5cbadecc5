//! The hostile-peer kit: a peer built on lp2p's own wire pieces that completes
//! the handshake honestly (TCP, multistream-select `/noise`, Noise with yamux
//! agreed inside it) and then sends raw yamux frames, multistream-select
//! messages and protocol bytes at will, never reading unless asked to.
//!
//! It is how the hardening tests play the attacks of the advisories against a
//! real node: a peer that floods pings while not reading its socket, grants a
//! stream a 2^32-1 window, opens streams it never negotiates, and so on.
//! Memory is measured with [`CountingAlloc`], an allocator that counts the
//! bytes live in the test process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use lp2p::identity::{Keypair, PeerId};
use lp2p::multiaddr::{Multiaddr, Protocol};
use lp2p::muxer::yamux::frame::{self, FrameType, Header};
use lp2p::negotiate::{self, Version};
use lp2p::security::noise;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The secured byte stream a hostile peer writes its frames on.
type Secured = noise::NoiseStream<negotiate::Negotiated<TcpStream>>;

/// A peer past the handshake that speaks raw yamux.
pub struct HostilePeer {
    io: Secured,
    /// The node it connected to.
    pub remote: PeerId,
    /// Our next stream id (odd: we dialed).
    next_id: u32,
}

/// Why the kit failed to reach the point where it can misbehave.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The address is not `/ip4|ip6/.../tcp/N`.
    #[error("not a TCP address: {0}")]
    Address(String),
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// multistream-select for `/noise` failed.
    #[error("negotiation: {0}")]
    Negotiation(#[from] negotiate::NegotiationError),
    /// The Noise handshake failed.
    #[error("noise: {0}")]
    Noise(#[from] noise::NoiseError),
    /// The node did not pick yamux inside the Noise handshake.
    #[error("the node did not agree on yamux inside Noise")]
    NoInlineMuxer,
}

/// The socket address of a `/ip4|ip6/.../tcp/N[/p2p/...]` multiaddr.
pub fn socket_addr(addr: &Multiaddr) -> Result<SocketAddr, KitError> {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    match (ip, port) {
        (Some(ip), Some(port)) => Ok(SocketAddr::new(ip, port)),
        _ => Err(KitError::Address(addr.to_string())),
    }
}

/// A raw TCP connection to `to`, from the local IP `from` (any loopback
/// address: Linux routes all of 127.0.0.0/8 to `lo`), that says nothing.
pub async fn silent_tcp(from: std::net::IpAddr, to: SocketAddr) -> io::Result<TcpStream> {
    let socket = if to.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

impl HostilePeer {
    /// Connects to `addr` and completes the handshake as an honest peer would.
    pub async fn connect(addr: &Multiaddr) -> Result<HostilePeer, KitError> {
        let tcp = TcpStream::connect(socket_addr(addr)?).await?;
        tcp.set_nodelay(true)?;
        let (_, io) = negotiate::dialer_select(tcp, &[noise::PROTOCOL.to_string()], Version::V1).await?;
        let key = Keypair::generate_ed25519();
        let muxers = [lp2p::muxer::yamux::PROTOCOL.to_string()];
        let out = noise::upgrade_outbound(io, &key, None, &muxers).await?;
        if out.muxer.as_deref() != Some(lp2p::muxer::yamux::PROTOCOL) {
            return Err(KitError::NoInlineMuxer);
        }
        Ok(HostilePeer { io: out.stream, remote: out.remote_peer, next_id: 1 })
    }

    /// Sends raw bytes (already framed).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Sends one yamux frame.
    pub async fn send_frame(
        &mut self,
        kind: FrameType,
        flags: u16,
        stream_id: u32,
        length: u32,
        payload: &[u8],
    ) -> io::Result<()> {
        self.send_raw(&encode_frame(kind, flags, stream_id, length, payload)).await
    }

    /// A fresh stream id of ours.
    pub fn next_stream_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(2);
        id
    }

    /// Opens stream `id` (SYN) and proposes `protocol` on it with
    /// multistream-select (header and proposal in one Data frame), granting
    /// `extra_window` more than the spec's initial 256 KiB.
    pub async fn open_and_propose(&mut self, protocol: &str, extra_window: u32) -> io::Result<u32> {
        let id = self.next_stream_id();
        let mut bytes = encode_frame(FrameType::WindowUpdate, frame::SYN, id, extra_window, &[]);
        let proposal = multistream_proposal(protocol);
        bytes.extend(encode_frame(FrameType::Data, 0, id, proposal.len() as u32, &proposal));
        self.send_raw(&bytes).await?;
        Ok(id)
    }

    /// Reads whatever the node sent, up to `buf.len()` bytes (the attacks
    /// never call it; tests that check an answer do).
    pub async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf).await
    }
}

/// The 12-byte header and the payload of one yamux frame.
pub fn encode_frame(kind: FrameType, flags: u16, stream_id: u32, length: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame::HEADER_LEN + payload.len());
    Header { kind, flags, stream_id, length }.encode(&mut out);
    out.extend_from_slice(payload);
    out
}

/// `count` Ping SYN frames back to back.
pub fn ping_flood(count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * frame::HEADER_LEN);
    for i in 0..count {
        Header { kind: FrameType::Ping, flags: frame::SYN, stream_id: 0, length: i as u32 }.encode(&mut out);
    }
    out
}

/// The multistream-select header and a proposal of `protocol`, as the
/// dialer sends them (varint length, text, `\n`).
pub fn multistream_proposal(protocol: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for message in [negotiate::HEADER, protocol] {
        let line = format!("{message}\n");
        lp2p::wire::varint::encode(line.len() as u64, &mut out);
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// Counts the bytes live in the process. A test binary installs it with
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc::new();`.
pub struct CountingAlloc {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl CountingAlloc {
    /// A counter at zero.
    pub const fn new() -> CountingAlloc {
        CountingAlloc { live: AtomicUsize::new(0), peak: AtomicUsize::new(0) }
    }

    /// Bytes allocated and not yet freed.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The most bytes live at once since the last [`CountingAlloc::reset_peak`].
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Starts a new peak measurement from what is live now.
    pub fn reset_peak(&self) {
        self.peak.store(self.live(), Ordering::Relaxed);
    }

    fn added(&self, n: usize) {
        let live = self.live.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(live, Ordering::Relaxed);
    }
}

impl Default for CountingAlloc {
    fn default() -> Self {
        CountingAlloc::new()
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters only observe sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as it is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.added(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.added(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        self.live.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.live.fetch_sub(layout.size(), Ordering::Relaxed);
            self.added(new_size);
        }
        p
    }
}

/// An honest node dials `addr` and pings it, each step within `step`:
/// what every attack test checks while its attacker stays connected.
pub async fn honest_peer_is_served(addr: &Multiaddr, step: std::time::Duration) {
    let honest = lp2p::Node::builder().build().expect("honest node starts");
    let peer = tokio::time::timeout(step, honest.dial(addr.clone()))
        .await
        .expect("honest dial in time")
        .expect("honest dial succeeds");
    let rtt = tokio::time::timeout(step, honest.ping(peer))
        .await
        .expect("honest ping in time")
        .expect("honest ping succeeds");
    assert!(rtt < step);
    honest.shutdown().await;
}

/// The resident set size of this process in bytes (Linux), for reports.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_proposals_have_the_wire_layout() {
        let f = encode_frame(FrameType::Data, frame::SYN, 1, 3, b"abc");
        assert_eq!(f, [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(ping_flood(2).len(), 24);
        let p = multistream_proposal("/ping/1.0.0");
        assert_eq!(p[0] as usize, "/multistream/1.0.0\n".len());
        assert!(p.ends_with(b"/ping/1.0.0\n"));
    }

    #[test]
    fn socket_addr_reads_tcp_multiaddrs_only() {
        let a: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().expect("valid");
        assert_eq!(socket_addr(&a).ok(), Some("127.0.0.1:4001".parse().expect("valid")));
        let m: Multiaddr = "/memory/7".parse().expect("valid");
        assert!(socket_addr(&m).is_err());
    }
}
