//! The swarm and its listener under hostile load: a listener that runs out of
//! file descriptors, silent connections that hold handshake slots, streams
//! opened and never negotiated, more ping streams than the spec allows, an
//! idle ping stream, and a partial identify push. Each test also checks that
//! an honest peer is still served.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lp2p::muxer::yamux::frame::{self, FrameType, Header};
use lp2p::{Config, Event, Multiaddr, Node, PeerId};
use lp2p_tests::hostile::{HostilePeer, encode_frame, multistream_proposal, silent_tcp, socket_addr};
use tokio::io::AsyncReadExt;

const STEP: Duration = Duration::from_secs(20);

const PING: &str = "/ipfs/ping/1.0.0";
const PUSH: &str = "/ipfs/id/push/1.0.0";

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn loopback() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")
}

fn target(config: Config) -> (Node, Multiaddr) {
    let node = Node::builder().listen(loopback()).config(config).build().expect("node starts");
    let addr = node.listen_addrs_with_peer_id().into_iter().next().expect("a listen address");
    (node, addr)
}

/// An honest node (dialing from 127.0.0.1) pings `addr`.
async fn honest_peer_is_served(addr: &Multiaddr) {
    lp2p_tests::hostile::honest_peer_is_served(addr, STEP).await;
}

/// Reads the node's yamux frames on a hostile peer's connection.
struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    fn new() -> FrameReader {
        FrameReader { buf: Vec::new() }
    }

    /// The next frame and its payload (Data frames only carry one).
    async fn next(&mut self, peer: &mut HostilePeer) -> std::io::Result<(Header, Vec<u8>)> {
        loop {
            let header = Header::decode(&self.buf).map_err(std::io::Error::other)?;
            if let Some(h) = header {
                let payload = if h.kind == FrameType::Data { h.length as usize } else { 0 };
                if self.buf.len() >= frame::HEADER_LEN + payload {
                    let rest = self.buf.split_off(frame::HEADER_LEN + payload);
                    let payload = self.buf[frame::HEADER_LEN..].to_vec();
                    self.buf = rest;
                    return Ok((h, payload));
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = peer.read_some(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn is_reset(h: &Header) -> bool {
    h.flags & frame::RST != 0
}

fn is_closed(h: &Header) -> bool {
    h.flags & (frame::RST | frame::FIN) != 0
}

// ---- item 5: the listener never dies on its own ----

const FD_CHILD_ENV: &str = "LP2P_HARDENING_FD_CHILD";
const FD_LIMIT: u64 = 64;
const FD_TEST: &str = "a_listener_out_of_file_descriptors_keeps_listening";

/// The child half: a node under a low open-file limit that prints its
/// address and runs until its stdin closes.
fn fd_limited_node() {
    let limit = libc::rlimit { rlim_cur: FD_LIMIT as libc::rlim_t, rlim_max: FD_LIMIT as libc::rlim_t };
    // SAFETY: setrlimit reads the struct we pass; it has no other effect on memory.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(set, 0, "setrlimit: {}", std::io::Error::last_os_error());
    // Long handshake timeouts: the flood's connections hold their descriptors.
    let config = Config { upgrade_timeout: Duration::from_secs(120), ..Config::default() };
    let node = Node::builder().listen(loopback()).config(config).build().expect("node starts");
    let addr = node.listen_addrs_with_peer_id().into_iter().next().expect("a listen address");
    println!("LISTEN {addr}");
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).map(|n| n > 0).unwrap_or(false) {}
    drop(node);
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// A node limited to 64 open files is flooded with raw TCP connections past
/// the limit (accept fails with EMFILE); once they close, an honest peer
/// dials and pings it. Before the fix the first EMFILE closed the listener.
#[test]
fn a_listener_out_of_file_descriptors_keeps_listening() {
    if std::env::var_os(FD_CHILD_ENV).is_some() {
        fd_limited_node();
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([FD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(FD_CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr: Multiaddr = lines
        .by_ref()
        .map_while(Result::ok)
        // libtest prints the test's name first, on the same line.
        .find_map(|line| line.split_once("LISTEN ").map(|(_, a)| a.trim().parse().expect("child prints a multiaddr")))
        .expect("child prints its address");
    // Keep reading the child's output, so its last words do not meet a closed pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).count());
    let pid = child.id();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let to = socket_addr(&addr).expect("tcp address");
        // 200 connections from 100 loopback addresses (2 each, under any per-IP cap).
        let mut flood = Vec::new();
        for host in 2..102u8 {
            for _ in 0..2 {
                let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, host));
                flood.push(within("flood connect", silent_tcp(from, to)).await.expect("connects"));
            }
        }
        // The child holds every descriptor it may open.
        let deadline = Instant::now() + STEP;
        while open_fds(pid) < FD_LIMIT as usize - 1 {
            assert!(Instant::now() < deadline, "child never ran out of descriptors: {} open", open_fds(pid));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(flood);
        honest_peer_is_served(&addr).await;
    });
    drop(child.stdin.take());
    let status = child.wait().expect("child exits");
    drain.join().expect("drain thread");
    assert!(status.success(), "child failed: {status}");
}

// ---- item 6: handshake slots shared fairly ----

/// 300 silent connections from 127.0.0.2 take at most their IP's share of
/// the handshake slots: an honest peer from 127.0.0.1 still gets in, and the
/// connections over the share are closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_from_one_ip_do_not_keep_others_out() {
    let (node, addr) = target(Config::default());
    let to = socket_addr(&addr).expect("tcp address");
    let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(within("silent connect", silent_tcp(from, to)).await.expect("connects"));
    }
    honest_peer_is_served(&addr).await;
    // Count the silent connections the node closed (EOF or reset) while the
    // rest still wait in their handshake.
    let mut closed = 0;
    for stream in &mut silent {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(20), stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            _ => {}
        }
    }
    let share = Config::default().max_pending_incoming_per_ip;
    assert!(closed >= 300 - share, "only {closed} of 300 silent connections were refused");
    node.shutdown().await;
}

/// A connection that says nothing is closed by us at the first step's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_is_dropped_at_its_step_timeout() {
    let config = Config { upgrade_timeout: Duration::from_millis(300), ..Config::default() };
    let (node, addr) = target(config);
    let to = socket_addr(&addr).expect("tcp address");
    let started = Instant::now();
    let mut silent = silent_tcp(IpAddr::V4(Ipv4Addr::LOCALHOST), to).await.expect("connects");
    let mut byte = [0u8; 1];
    let read = within("the node closes the silent connection", silent.read(&mut byte)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "the node sent bytes unasked: {read:?}");
    assert!(started.elapsed() >= Duration::from_millis(250), "closed before the timeout");
    honest_peer_is_served(&addr).await;
    node.shutdown().await;
}

// ---- item 3: inbound streams capped where they cost ----

/// 200 streams that never propose a protocol: the first 128 negotiate (and
/// wait), the 72 over the cap are reset at once, not queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_the_negotiating_cap_are_reset_at_once() {
    let config = Config { stream_timeout: Duration::from_secs(60), ..Config::default() };
    let cap = config.max_negotiating_inbound_streams;
    let (node, addr) = target(config);
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    let mut batch = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..200 {
        let id = attacker.next_stream_id();
        ids.push(id);
        batch.extend(encode_frame(FrameType::WindowUpdate, frame::SYN, id, 0, &[]));
    }
    within("send SYNs", attacker.send_raw(&batch)).await.expect("sent");
    let mut reader = FrameReader::new();
    let mut reset = HashSet::new();
    within("streams over the cap are reset", async {
        while reset.len() < 200 - cap {
            let (h, _) = reader.next(&mut attacker).await.expect("frame");
            if is_reset(&h) {
                reset.insert(h.stream_id);
            }
        }
    })
    .await;
    let over: HashSet<u32> = ids[cap..].iter().copied().collect();
    assert_eq!(reset, over, "exactly the streams over the cap are reset");
    honest_peer_is_served(&addr).await;
    node.shutdown().await;
}

/// Reads frames until stream `id` has `len` bytes of data; returns them.
async fn read_data(
    reader: &mut FrameReader,
    peer: &mut HostilePeer,
    data: &mut HashMap<u32, Vec<u8>>,
    resets: &mut HashSet<u32>,
    id: u32,
    len: usize,
) -> Vec<u8> {
    while data.get(&id).map_or(0, Vec::len) < len {
        let (h, payload) = reader.next(peer).await.expect("frame");
        if is_reset(&h) {
            resets.insert(h.stream_id);
        }
        data.entry(h.stream_id).or_default().extend_from_slice(&payload);
    }
    data.get_mut(&id).map(|d| d.drain(..len).collect()).unwrap_or_default()
}

/// The ping spec: a listener accepts at most two ping streams per peer; a
/// third is reset, and the first two still echo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_ping_stream_is_reset() {
    let (node, addr) = target(Config::default());
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    let mut reader = FrameReader::new();
    let mut resets = HashSet::new();
    let mut data = HashMap::new();
    let answer = multistream_proposal(PING);
    // Two streams, each negotiated before the third is opened (streams
    // negotiate concurrently: opened together, any two of three could win).
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = within("open ping", attacker.open_and_propose(PING, 0)).await.expect("open");
        let got =
            within("negotiated", read_data(&mut reader, &mut attacker, &mut data, &mut resets, id, answer.len())).await;
        assert_eq!(got, answer);
        ids.push(id);
    }
    let third = within("open ping", attacker.open_and_propose(PING, 0)).await.expect("open");
    within("the third ping stream is reset", async {
        while !resets.contains(&third) {
            let (h, payload) = reader.next(&mut attacker).await.expect("frame");
            if is_reset(&h) {
                resets.insert(h.stream_id);
            }
            data.entry(h.stream_id).or_insert_with(Vec::new).extend_from_slice(&payload);
        }
    })
    .await;
    for &id in &ids {
        let payload = [id as u8; 32];
        within("ping", attacker.send_frame(FrameType::Data, 0, id, 32, &payload)).await.expect("sent");
        let echo = within("echo", read_data(&mut reader, &mut attacker, &mut data, &mut resets, id, 32)).await;
        assert_eq!(echo, payload);
    }
    assert!(!resets.contains(&ids[0]) && !resets.contains(&ids[1]), "the first two ping streams live");
    honest_peer_is_served(&addr).await;
    node.shutdown().await;
}

/// A ping stream on which no ping comes for the idle timeout is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_ping_stream_is_closed() {
    let config = Config { ping_idle_timeout: Duration::from_millis(500), ..Config::default() };
    let (node, addr) = target(config);
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    let id = within("open ping", attacker.open_and_propose(PING, 0)).await.expect("open");
    let mut reader = FrameReader::new();
    let mut resets = HashSet::new();
    let mut data = HashMap::new();
    let answer = multistream_proposal(PING);
    let got =
        within("negotiated", read_data(&mut reader, &mut attacker, &mut data, &mut resets, id, answer.len())).await;
    assert_eq!(got, answer);
    let payload = [7u8; 32];
    within("ping", attacker.send_frame(FrameType::Data, 0, id, 32, &payload)).await.expect("sent");
    let echo = within("echo", read_data(&mut reader, &mut attacker, &mut data, &mut resets, id, 32)).await;
    assert_eq!(echo, payload);
    let idle_since = Instant::now();
    within("the idle ping stream is closed", async {
        loop {
            let (h, _) = reader.next(&mut attacker).await.expect("frame");
            if h.stream_id == id && is_closed(&h) {
                return;
            }
        }
    })
    .await;
    assert!(idle_since.elapsed() >= Duration::from_millis(400), "closed before the idle timeout");
    honest_peer_is_served(&addr).await;
    node.shutdown().await;
}

/// One protobuf field of wire type 2 (bytes, strings).
fn pb_bytes(tag: u32, value: &[u8], out: &mut Vec<u8>) {
    lp2p::wire::varint::encode(u64::from(tag << 3 | 2), out);
    lp2p::wire::varint::encode(value.len() as u64, out);
    out.extend_from_slice(value);
}

/// Sends one identify push (a length-prefixed message, then FIN) on a new stream.
async fn push(attacker: &mut HostilePeer, message: &[u8]) {
    let id = within("open push", attacker.open_and_propose(PUSH, 0)).await.expect("open");
    let mut framed = Vec::new();
    lp2p::wire::varint::encode(message.len() as u64, &mut framed);
    framed.extend_from_slice(message);
    within("push", attacker.send_frame(FrameType::Data, frame::FIN, id, framed.len() as u32, &framed))
        .await
        .expect("sent");
}

/// The identify spec: a push's missing fields are ignored, not wiped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_identify_push_keeps_the_fields_it_omits() {
    let (node, addr) = target(Config::default());
    let mut events = node.events();
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    let peer: PeerId = within("connected", async {
        loop {
            if let Some(Event::ConnectionEstablished { peer, .. }) = events.next().await {
                return peer;
            }
        }
    })
    .await;
    let listen: Multiaddr = "/ip4/192.0.2.7/tcp/4001".parse().expect("valid");
    let mut full = Vec::new();
    pb_bytes(2, &listen.to_vec(), &mut full);
    pb_bytes(3, b"/a/1.0.0", &mut full);
    pb_bytes(3, b"/b/1.0.0", &mut full);
    pb_bytes(6, b"agent-one", &mut full);
    push(&mut attacker, &full).await;
    let agent_is = |want: &'static str| {
        let node = node.clone();
        async move {
            while node.peer_info(&peer).and_then(|i| i.agent_version).as_deref() != Some(want) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    within("the full push is applied", agent_is("agent-one")).await;
    let mut partial = Vec::new();
    pb_bytes(6, b"agent-two", &mut partial);
    push(&mut attacker, &partial).await;
    within("the partial push is applied", agent_is("agent-two")).await;
    let info = node.peer_info(&peer).expect("known peer");
    assert_eq!(info.protocols, vec!["/a/1.0.0".to_string(), "/b/1.0.0".to_string()]);
    assert!(info.addrs.contains(&listen), "{:?}", info.addrs);
    honest_peer_is_served(&addr).await;
    node.shutdown().await;
}
