//! Interop with rust-libp2p (the `libp2p` crate, pinned in Cargo.toml), both
//! dial directions, over TCP + Noise + yamux: ping, identify with signed
//! peer records, and `/echo/1.0.0` with 100 concurrent streams and a 64 MiB
//! transfer whose bytes are checked.

mod common;

use std::time::Duration;

use common::{RustPeer, STEP, to_lp2p_peer, to_rust_peer};
use futures::io::AsyncWriteExt as _;
use lp2p::{Node, Stream};
use lp2p_tests::pattern;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AGENT: &str = "lp2p-interop";

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(STEP * 4, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn lp2p_node() -> Node {
    let node = Node::builder()
        .listen("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .agent_version(AGENT)
        .build()
        .expect("node starts");
    node.set_stream_handler("/echo/1.0.0", |stream: Stream| async move {
        let (mut r, mut w) = tokio::io::split(stream);
        if tokio::io::copy(&mut r, &mut w).await.is_ok() {
            let _ = w.shutdown().await;
        }
    });
    node
}

/// Echo from the lp2p side: write `data` on a new stream while reading it back.
async fn lp2p_echo(node: &Node, peer: lp2p::PeerId, data: Vec<u8>) -> Vec<u8> {
    let stream = within("open", node.new_stream(peer, "/echo/1.0.0")).await.expect("stream opens");
    let (mut r, mut w) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.expect("write");
        w.shutdown().await.expect("close write");
        w
    });
    let mut out = Vec::new();
    within("read echo", r.read_to_end(&mut out)).await.expect("read");
    let _ = writer.await;
    out
}

/// Echo from the rust side.
async fn rust_echo(rust: &RustPeer, peer: libp2p::PeerId, data: Vec<u8>) -> Vec<u8> {
    let stream = within("open", rust.open_echo(peer)).await.into_inner();
    let (mut r, mut w) = futures::io::AsyncReadExt::split(stream);
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.expect("write");
        w.close().await.expect("close write");
        w
    });
    let out = within("read echo", common::read_all(&mut r)).await;
    let _ = writer.await;
    out
}

/// What each side must learn from identify and ping, whoever dialed.
async fn check_identify_and_ping(node: &Node, rust: &RustPeer) {
    let rust_peer = to_lp2p_peer(rust.peer_id);
    let lp2p_peer = to_rust_peer(node.peer_id());

    // lp2p pings rust, and learns who it is.
    let rtt = within("lp2p ping", node.ping(rust_peer)).await.expect("ping rust-libp2p");
    assert!(rtt < STEP);
    let info = within("lp2p identifies rust", async {
        loop {
            if let Some(info) = node.peer_info(&rust_peer).filter(|i| i.peer_record.is_some()) {
                return info;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(info.agent_version.as_deref().is_some_and(|a| a.starts_with("rust-libp2p/")), "{info:?}");
    for protocol in ["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", "/echo/1.0.0"] {
        assert!(info.protocols.iter().any(|p| p == protocol), "rust-libp2p lacks {protocol}: {:?}", info.protocols);
    }
    let rust_addr = rust.listen_addr.to_string();
    assert!(info.addrs.iter().any(|a| a.to_string() == rust_addr), "{:?} lacks {rust_addr}", info.addrs);
    let record = info.peer_record.expect("rust-libp2p's signed peer record verified");
    assert_eq!(record.peer_id, rust_peer);
    assert!(record.addrs.iter().any(|a| a.to_string() == rust_addr));

    // rust-libp2p pings lp2p, and learns who it is, signed record included.
    rust.wait_for("rust pings lp2p", |seen| seen.ping_ok.get(&lp2p_peer).copied()).await;
    let theirs = rust
        .wait_for("rust identifies lp2p with a record", |seen| {
            seen.identified.get(&lp2p_peer).filter(|i| i.signed_peer_record.is_some()).cloned()
        })
        .await;
    assert_eq!(theirs.agent_version, AGENT);
    let protocols: Vec<String> = theirs.protocols.iter().map(|p| p.to_string()).collect();
    for protocol in ["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", "/echo/1.0.0"] {
        assert!(protocols.iter().any(|p| p == protocol), "lp2p lacks {protocol}: {protocols:?}");
    }
    let ours = node.listen_addrs()[0].to_string();
    assert!(theirs.listen_addrs.iter().any(|a| a.to_string() == ours), "{:?} lacks {ours}", theirs.listen_addrs);
    let envelope = theirs.signed_peer_record.expect("checked above");
    let record = libp2p::core::PeerRecord::from_signed_envelope(envelope).expect("rust-libp2p verifies our record");
    assert_eq!(record.peer_id(), lp2p_peer);
    assert!(record.addresses().iter().any(|a| a.to_string() == ours));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lp2p_dials_rust_libp2p() {
    let rust = RustPeer::start().await;
    let node = lp2p_node();
    let peer = within("dial", node.dial(rust.full_addr().parse().expect("addr"))).await.expect("dial rust-libp2p");
    assert_eq!(peer, to_lp2p_peer(rust.peer_id));
    check_identify_and_ping(&node, &rust).await;

    // libp2p-stream 0.5.0-alpha hands inbound streams to its acceptor over a
    // channel of capacity 0 and drops those that arrive while the acceptor is
    // busy ("Channel is full, dropping inbound stream"). So the 100 streams
    // are opened one after another, each confirmed by its first echoed byte;
    // then all 100 transfer at the same time.
    let mut tasks = Vec::new();
    for i in 0..100u64 {
        let data = pattern(4096 + i as usize * 31, i);
        let mut stream = within("open", node.new_stream(peer, "/echo/1.0.0")).await.expect("stream opens");
        stream.write_all(&data[..1]).await.expect("first byte");
        let mut first = [0u8; 1];
        within("first echo", stream.read_exact(&mut first)).await.expect("first echo byte");
        assert_eq!(first[0], data[0]);
        tasks.push(tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(stream);
            let rest = data[1..].to_vec();
            let writer = tokio::spawn(async move {
                w.write_all(&rest).await.expect("write");
                w.shutdown().await.expect("close write");
                w
            });
            let mut out = vec![first[0]];
            within("read echo", r.read_to_end(&mut out)).await.expect("read");
            let _ = writer.await;
            assert_eq!(out, data, "stream {i}");
        }));
    }
    for task in tasks {
        within("stream task", task).await.expect("no panic");
    }
    let big = pattern(64 * 1024 * 1024, 99);
    assert!(lp2p_echo(&node, peer, big.clone()).await == big, "64 MiB echo through rust-libp2p differs");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_libp2p_dials_lp2p() {
    let rust = RustPeer::start().await;
    let node = lp2p_node();
    let addr = node.listen_addrs_with_peer_id()[0].to_string();
    within("dial", rust.dial(&addr)).await.expect("rust-libp2p dials lp2p");
    // rust-libp2p reports the connection before our side finishes registering it.
    let rust_peer = to_lp2p_peer(rust.peer_id);
    within("lp2p sees the connection", async {
        while !node.is_connected(&rust_peer) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    check_identify_and_ping(&node, &rust).await;

    let lp2p_peer = to_rust_peer(node.peer_id());
    let rust = std::sync::Arc::new(rust);
    let mut tasks = Vec::new();
    for i in 0..100u64 {
        let rust = std::sync::Arc::clone(&rust);
        tasks.push(tokio::spawn(async move {
            let data = pattern(4096 + i as usize * 31, i);
            assert_eq!(rust_echo(&rust, lp2p_peer, data.clone()).await, data, "stream {i}");
        }));
    }
    for task in tasks {
        within("stream task", task).await.expect("no panic");
    }
    let big = pattern(64 * 1024 * 1024, 7);
    assert!(rust_echo(&rust, lp2p_peer, big.clone()).await == big, "64 MiB echo from rust-libp2p differs");
    node.shutdown().await;
}
