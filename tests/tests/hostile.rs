//! Hostile peers against a real node: each attack of the hardening issue is
//! played with the kit in `lp2p_tests::hostile`, and each test shows that the
//! node's memory stays bounded (an allocator counter over this process) and
//! that an honest peer is still served while the attacker is connected.

use std::future::Future;
use std::time::{Duration, Instant};

use lp2p::muxer::yamux::frame::{self, FrameType};
use lp2p::{Multiaddr, Node, Stream};
use lp2p_tests::hostile::{CountingAlloc, HostilePeer, multistream_proposal, ping_flood, rss_bytes};
use tokio::io::AsyncWriteExt;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// What an attack may add to the process's live memory. Unbounded, each of
/// these attacks grows it by hundreds of MiB within seconds.
const GROWTH_BOUND: usize = 16 * 1024 * 1024;

const STEP: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn loopback() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")
}

/// A node with a handler that writes without end: it stands for any protocol
/// whose answer the remote controls (perf's download size, a DHT answer).
fn target() -> (Node, Multiaddr) {
    let node = Node::builder().listen(loopback()).build().expect("node starts");
    node.set_stream_handler("/flood/1.0.0", |mut stream: Stream| async move {
        let chunk = vec![0x5au8; 64 * 1024];
        while stream.write_all(&chunk).await.is_ok() {}
    });
    let addr = node.listen_addrs_with_peer_id().into_iter().next().expect("a listen address");
    (node, addr)
}

/// An honest node pings `addr` while the attacker stays connected.
async fn honest_peer_is_served(addr: &Multiaddr) {
    lp2p_tests::hostile::honest_peer_is_served(addr, STEP).await;
}

/// Sends `batch` again and again for at most `budget` bytes, while the node
/// keeps reading; returns how many bytes went out before the node stopped
/// reading (a write that makes no progress for 2 s) or the budget ran out.
/// Records the peak of live memory meanwhile.
async fn push_until_blocked(attacker: &mut HostilePeer, batch: &[u8], budget: usize) -> usize {
    let mut sent = 0;
    while sent < budget {
        match tokio::time::timeout(Duration::from_secs(2), attacker.send_raw(batch)).await {
            Ok(Ok(())) => sent += batch.len(),
            // The node closed the connection or stopped reading: both bound it.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    sent
}

/// Waits until live memory is back within `slack` of `baseline`.
async fn memory_returns(baseline: usize, slack: usize) {
    let deadline = Instant::now() + STEP;
    while ALLOC.live() > baseline + slack {
        assert!(
            Instant::now() < deadline,
            "memory stayed at {} bytes after the attacker left (baseline {baseline})",
            ALLOC.live()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn report(what: &str, baseline: usize, peak: usize, sent: usize) {
    eprintln!(
        "{what}: live before {:.1} MiB, peak {:.1} MiB, after {:.1} MiB; attacker sent {:.1} MiB; RSS {:.1} MiB",
        baseline as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        ALLOC.live() as f64 / 1048576.0,
        sent as f64 / 1048576.0,
        rss_bytes().unwrap_or(0) as f64 / 1048576.0,
    );
}

/// Ping SYN frames flooded by a peer that never reads: every one asks for a
/// pong; queued without bound they grew a node to GiBs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_from_a_peer_that_never_reads_stays_bounded() {
    let (node, addr) = target();
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    let baseline = ALLOC.live();
    ALLOC.reset_peak();
    let batch = ping_flood(64 * 1024);
    let sent = push_until_blocked(&mut attacker, &batch, 256 * 1024 * 1024).await;
    let peak = ALLOC.peak();
    report("ping flood", baseline, peak, sent);
    assert!(peak - baseline < GROWTH_BOUND, "ping flood grew live memory by {} bytes", peak - baseline);
    honest_peer_is_served(&addr).await;
    drop(attacker);
    memory_returns(baseline, 4 * 1024 * 1024).await;
    node.shutdown().await;
}

/// A stream granted a 2^32-1 window by a peer that never reads, on which the
/// node writes without end (perf's download, in the advisories).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_window_granted_by_a_peer_that_never_reads_stays_bounded() {
    let (node, addr) = target();
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    let baseline = ALLOC.live();
    ALLOC.reset_peak();
    let id = within("open", attacker.open_and_propose("/flood/1.0.0", 0)).await.expect("open");
    // The spec's initial 256 KiB plus this delta is the largest window there is.
    let delta = u32::MAX - 256 * 1024;
    within("grant", attacker.send_frame(FrameType::WindowUpdate, 0, id, delta, &[])).await.expect("grant");
    // Give the node's writer every chance to queue: watch the peak for a while
    // (the condition is the absence of growth, so this is a bounded watch).
    let mut peak = 0;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak = peak.max(ALLOC.peak());
    }
    report("2^32-1 window", baseline, peak, 0);
    assert!(peak - baseline < GROWTH_BOUND, "writer grew live memory by {} bytes", peak - baseline);
    honest_peer_is_served(&addr).await;
    drop(attacker);
    memory_returns(baseline, 4 * 1024 * 1024).await;
    node.shutdown().await;
}

/// Streams opened and never negotiated, and streams refused with RST while
/// the attacker does not read: neither may queue without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syn_flood_from_a_peer_that_never_reads_stays_bounded() {
    let (node, addr) = target();
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    let baseline = ALLOC.live();
    ALLOC.reset_peak();
    let mut sent = 0;
    // 2M refused streams: 24 MiB of RST frames if they queued.
    for _ in 0..512 {
        // Fresh stream ids in every batch: each SYN opens a new stream.
        let mut batch = Vec::new();
        for _ in 0..4096 {
            let id = attacker.next_stream_id();
            batch.extend(lp2p_tests::hostile::encode_frame(FrameType::WindowUpdate, frame::SYN, id, 0, &[]));
        }
        match tokio::time::timeout(Duration::from_secs(2), attacker.send_raw(&batch)).await {
            Ok(Ok(())) => sent += batch.len(),
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let peak = ALLOC.peak();
    report("SYN flood", baseline, peak, sent);
    assert!(peak - baseline < GROWTH_BOUND, "SYN flood grew live memory by {} bytes", peak - baseline);
    honest_peer_is_served(&addr).await;
    drop(attacker);
    memory_returns(baseline, 4 * 1024 * 1024).await;
    node.shutdown().await;
}

/// The frame of GHSA-vxx9-2994-q338: Data|SYN longer than the initial window.
/// The node must refuse it on its header, not buffer it while it trickles in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_syn_frame_longer_than_the_initial_window_is_refused() {
    let (node, addr) = target();
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    let mut events = node.events();
    let header = lp2p_tests::hostile::encode_frame(FrameType::Data, frame::SYN, 1, 262_145, &[]);
    within("header", attacker.send_raw(&header)).await.expect("header sent");
    // The node ends the session on the header alone: the connection closes.
    within("the node closes the connection", async {
        loop {
            match events.next().await {
                Some(lp2p::Event::ConnectionClosed { .. }) => return,
                Some(_) => {}
                None => panic!("events ended"),
            }
        }
    })
    .await;
    honest_peer_is_served(&addr).await;
    node.shutdown().await;
}

/// Streams that propose a protocol and then never finish reading its answer
/// are served as long as an honest peer still gets through: checks that the
/// proposal helper speaks multistream-select the node understands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kit_negotiates_a_protocol_the_node_serves() {
    let (node, addr) = target();
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    assert_eq!(attacker.remote, node.peer_id());
    let _id = within("open", attacker.open_and_propose("/flood/1.0.0", 0)).await.expect("open");
    // The node answers the proposal and starts flooding: some bytes arrive.
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    within("flood arrives", async {
        while got < 128 * 1024 {
            got += attacker.read_some(&mut buf).await.expect("read");
        }
    })
    .await;
    node.shutdown().await;
}

/// Streams opened by the thousand that never finish proposing a protocol:
/// at most the negotiating cap of them cost anything, the rest are reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_that_never_negotiate_stay_bounded() {
    let (node, addr) = target();
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    let baseline = ALLOC.live();
    ALLOC.reset_peak();
    // SYN plus the first half of a multistream header, 20,000 times over.
    let half = &multistream_proposal("/flood/1.0.0")[..8];
    let mut sent = 0;
    for _ in 0..20 {
        let mut batch = Vec::new();
        for _ in 0..1000 {
            let id = attacker.next_stream_id();
            batch.extend(lp2p_tests::hostile::encode_frame(FrameType::WindowUpdate, frame::SYN, id, 0, &[]));
            batch.extend(lp2p_tests::hostile::encode_frame(FrameType::Data, 0, id, half.len() as u32, half));
        }
        match tokio::time::timeout(Duration::from_secs(2), attacker.send_raw(&batch)).await {
            Ok(Ok(())) => sent += batch.len(),
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let peak = ALLOC.peak();
    report("never-negotiated streams", baseline, peak, sent);
    assert!(peak - baseline < GROWTH_BOUND, "stream flood grew live memory by {} bytes", peak - baseline);
    honest_peer_is_served(&addr).await;
    drop(attacker);
    memory_returns(baseline, 4 * 1024 * 1024).await;
    node.shutdown().await;
}

/// Silent TCP connections from one address: each holds a handshake slot
/// only within its address's share, and costs little while it lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_handshakes_from_one_address_stay_bounded() {
    let (node, addr) = target();
    let to = lp2p_tests::hostile::socket_addr(&addr).expect("a TCP address");
    let from: std::net::IpAddr = "127.0.0.2".parse().expect("valid ip");
    let baseline = ALLOC.live();
    ALLOC.reset_peak();
    let mut silent = Vec::new();
    for _ in 0..300 {
        // Connections the node closes at once still count: the attack is the attempt.
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(2), lp2p_tests::hostile::silent_tcp(from, to)).await
        {
            silent.push(s);
        }
    }
    honest_peer_is_served(&addr).await;
    let peak = ALLOC.peak();
    report("300 silent handshakes", baseline, peak, 0);
    assert!(peak - baseline < GROWTH_BOUND, "silent connections grew live memory by {} bytes", peak - baseline);
    drop(silent);
    memory_returns(baseline, 4 * 1024 * 1024).await;
    node.shutdown().await;
}

/// perf, the attack of the advisories: a peer asks an enabled perf server
/// for 8 GiB on each of its streams, grants every stream a 2^32-1 window and
/// never reads. The server's writes meet the connection's output cap; a
/// request over the server's bound (2^40 bytes) is refused outright.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perf_requests_from_a_peer_that_never_reads_stay_bounded() {
    let node = Node::builder().listen(loopback()).perf(true).build().expect("node starts");
    let addr = node.listen_addrs_with_peer_id().into_iter().next().expect("a listen address");
    let mut attacker = within("attacker handshake", HostilePeer::connect(&addr)).await.expect("handshake");
    let baseline = ALLOC.live();
    ALLOC.reset_peak();
    let delta = u32::MAX - 256 * 1024;
    for download in [8u64 << 30, 8 << 30, 8 << 30, 1 << 40] {
        let id = within("open", attacker.open_and_propose(lp2p::protocols::perf::PROTOCOL, delta)).await.expect("open");
        let request = download.to_be_bytes();
        within("request", attacker.send_frame(FrameType::Data, 0, id, request.len() as u32, &request))
            .await
            .expect("request");
        // Nothing to upload: close our side, so the server starts sending.
        within("fin", attacker.send_frame(FrameType::WindowUpdate, frame::FIN, id, 0, &[])).await.expect("fin");
    }
    let mut peak = 0;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak = peak.max(ALLOC.peak());
    }
    report("perf requests for 8 GiB x 3 and 2^40", baseline, peak, 0);
    assert!(peak - baseline < GROWTH_BOUND, "perf grew live memory by {} bytes", peak - baseline);
    within("the 2^40 request is refused", async {
        while node.perf_server_stats().failed == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(node.perf_server_stats().served, 0, "no 8 GiB exchange can finish against a peer that never reads");
    honest_peer_is_served(&addr).await;
    drop(attacker);
    memory_returns(baseline, 4 * 1024 * 1024).await;
    node.shutdown().await;
}
