//! Node-level tests: several lp2p nodes in one process, on loopback TCP and on
//! the memory transport. Every step has a timeout so a hang fails the test.

use std::future::Future;
use std::time::Duration;

use lp2p::{Error, Event, Multiaddr, Node, PeerId, Stream};
use lp2p_tests::pattern;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STEP: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn addr(text: &str) -> Multiaddr {
    text.parse().expect("valid multiaddr")
}

fn echo_node(listen: &str) -> Node {
    let node = Node::builder().listen(addr(listen)).agent_version("test-echo").build().expect("node starts");
    node.set_stream_handler("/echo/1.0.0", |mut stream: Stream| async move {
        let (mut r, mut w) = tokio::io::split(&mut stream);
        if tokio::io::copy(&mut r, &mut w).await.is_ok() {
            let _ = w.shutdown().await;
        }
    });
    node
}

async fn echo(node: &Node, peer: PeerId, data: &[u8]) -> Vec<u8> {
    let stream = within("open echo stream", node.new_stream(peer, "/echo/1.0.0")).await.expect("stream opens");
    let (mut r, mut w) = tokio::io::split(stream);
    let payload = data.to_vec();
    let writer = tokio::spawn(async move {
        w.write_all(&payload).await.expect("write");
        w.shutdown().await.expect("close write");
    });
    let mut out = Vec::new();
    within("read echo", r.read_to_end(&mut out)).await.expect("read");
    writer.await.expect("writer task");
    out
}

async fn wait_for<T>(events: &mut lp2p::Events, what: &str, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    within(what, async {
        loop {
            let event = events.next().await.expect("events stay open");
            if let Some(v) = pick(event) {
                return v;
            }
        }
    })
    .await
}

#[tokio::test]
async fn tcp_dial_ping_echo_and_identify() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().agent_version("test-client").build().expect("node starts");
    let mut events = client.events();
    let target = server.listen_addrs_with_peer_id()[0].clone();
    let peer = within("dial", client.dial(target)).await.expect("dial succeeds");
    assert_eq!(peer, server.peer_id());

    let info = wait_for(&mut events, "identified", |e| match e {
        Event::Identified { peer: p, info } if p == peer => Some(info),
        _ => None,
    })
    .await;
    assert_eq!(info.agent_version, "test-echo");
    assert!(info.protocols.iter().any(|p| p == "/echo/1.0.0"), "{:?}", info.protocols);
    assert!(info.protocols.iter().any(|p| p == "/ipfs/ping/1.0.0"));
    assert_eq!(info.listen_addrs, server.listen_addrs());
    let record = info.signed_peer_record.as_ref().expect("a signed peer record");
    assert_eq!(record.peer_id, peer);
    assert_eq!(record.addrs, server.listen_addrs());

    let stored = client.peer_info(&peer).expect("peer is in the store");
    assert_eq!(stored.agent_version.as_deref(), Some("test-echo"));
    assert!(stored.protocols.iter().any(|p| p == "/echo/1.0.0"));
    assert!(stored.peer_record.is_some());

    let rtt = within("ping", client.ping(peer)).await.expect("ping succeeds");
    assert!(rtt < STEP);
    assert_eq!(echo(&client, peer, b"hello").await, b"hello");
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn memory_transport_echo_100_concurrent_streams() {
    let server = echo_node("/memory/0");
    let client = Node::builder().build().expect("node starts");
    let peer = within("dial", client.dial(server.listen_addrs_with_peer_id()[0].clone())).await.expect("dial");
    let mut tasks = Vec::new();
    for i in 0..100u64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let data = pattern(10_000 + i as usize, i);
            assert_eq!(echo(&client, peer, &data).await, data, "stream {i}");
        }));
    }
    for task in tasks {
        within("stream task", task).await.expect("no panic");
    }
}

#[tokio::test]
async fn large_transfer_is_intact() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().build().expect("node starts");
    let peer = within("dial", client.dial(server.listen_addrs_with_peer_id()[0].clone())).await.expect("dial");
    let data = pattern(8 * 1024 * 1024, 7);
    assert!(echo(&client, peer, &data).await == data, "8 MiB echo differs");
}

#[tokio::test]
async fn wrong_peer_id_is_a_typed_error() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().build().expect("node starts");
    let other = lp2p::Keypair::generate_ed25519().public().to_peer_id();
    let target = server.listen_addrs()[0].clone().with(lp2p::Protocol::P2p(other));
    let result = within("dial", client.dial(target)).await;
    assert!(matches!(result, Err(Error::PeerIdMismatch(_))), "{result:?}");
    assert!(!client.is_connected(&server.peer_id()));
}

#[tokio::test]
async fn dialing_a_connected_peer_reuses_the_connection() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().build().expect("node starts");
    let mut events = client.events();
    let target = server.listen_addrs_with_peer_id()[0].clone();
    let peer = within("dial", client.dial(target.clone())).await.expect("dial");
    let again = within("dial again", client.dial(target)).await.expect("dial again");
    assert_eq!(peer, again);
    within("ping", client.ping(peer)).await.expect("ping");
    let mut established = 0;
    while let Some(event) = events.try_next() {
        if matches!(event, Event::ConnectionEstablished { .. }) {
            established += 1;
        }
    }
    assert_eq!(established, 1);
}

#[tokio::test]
async fn unsupported_protocol_and_removed_handler() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().build().expect("node starts");
    let peer = within("dial", client.dial(server.listen_addrs_with_peer_id()[0].clone())).await.expect("dial");
    let result = within("new stream", client.new_stream(peer, "/nope/1.0.0")).await;
    assert!(matches!(result, Err(Error::ProtocolNotSupported(ref p)) if p == "/nope/1.0.0"), "{result:?}");
    assert!(server.remove_stream_handler("/echo/1.0.0"));
    assert!(!server.remove_stream_handler("/echo/1.0.0"));
    let result = within("new stream", client.new_stream(peer, "/echo/1.0.0")).await;
    assert!(matches!(result, Err(Error::ProtocolNotSupported(_))), "{result:?}");
    // The connection still serves other protocols.
    within("ping", client.ping(peer)).await.expect("ping after a refused stream");
}

#[tokio::test]
async fn disconnect_emits_closed_on_both_sides() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().build().expect("node starts");
    let mut server_events = server.events();
    let mut client_events = client.events();
    let peer = within("dial", client.dial(server.listen_addrs_with_peer_id()[0].clone())).await.expect("dial");
    let me = client.peer_id();
    client.disconnect(peer).await;
    wait_for(&mut client_events, "client closed", |e| match e {
        Event::ConnectionClosed { peer: p, .. } if p == peer => Some(()),
        _ => None,
    })
    .await;
    wait_for(&mut server_events, "server closed", |e| match e {
        Event::ConnectionClosed { peer: p, .. } if p == me => Some(()),
        _ => None,
    })
    .await;
    assert!(!client.is_connected(&peer));
}

#[tokio::test]
async fn new_stream_dials_known_addresses() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().build().expect("node starts");
    let peer = server.peer_id();
    let unknown = within("new stream", client.new_stream(peer, "/echo/1.0.0")).await;
    assert!(matches!(unknown, Err(Error::NoRoute(_))), "{unknown:?}");
    client.add_addresses(peer, &server.listen_addrs(), Duration::from_secs(60));
    assert_eq!(echo(&client, peer, b"by peer id").await, b"by peer id");
}

#[tokio::test]
async fn listeners_on_several_addresses_and_removal() {
    let node = Node::builder().build().expect("node starts");
    let mut events = node.events();
    let v4 = within("listen", node.listen(addr("/ip4/127.0.0.1/tcp/0"))).await.expect("listen v4");
    let mem = within("listen", node.listen(addr("/memory/0"))).await.expect("listen memory");
    let v6 = node.listen(addr("/ip6/::1/tcp/0")).await.ok();
    let listening = node.listen_addrs();
    assert!(listening.contains(&v4) && listening.contains(&mem));
    if let Some(v6) = &v6 {
        assert!(listening.contains(v6));
    }
    let first = wait_for(&mut events, "new listen addr", |e| match e {
        Event::NewListenAddr { addr } => Some(addr),
        _ => None,
    })
    .await;
    assert_eq!(first, v4);
    assert!(node.remove_listener(&v4));
    wait_for(&mut events, "expired", |e| match e {
        Event::ExpiredListenAddr { addr } if addr == v4 => Some(()),
        _ => None,
    })
    .await;
    assert!(!node.listen_addrs().contains(&v4));
    let client = Node::builder().build().expect("node starts");
    let refused = within("dial removed", client.dial(v4)).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn garbage_and_stalled_peers_are_dropped_while_others_are_served() {
    let server = Node::builder()
        .listen(addr("/ip4/127.0.0.1/tcp/0"))
        .connection_timeout(Duration::from_millis(500))
        .build()
        .expect("node starts");
    let target = server.listen_addrs()[0].to_string();
    let port: u16 = target.rsplit('/').next().and_then(|p| p.parse().ok()).expect("a port");

    // One peer sends garbage, one sends a valid multistream header then stalls.
    let mut garbage = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    garbage.write_all(&pattern(4096, 3)).await.expect("write garbage");
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    stalled.write_all(b"\x13/multistream/1.0.0\n\x07/noise\n").await.expect("write header");

    // Meanwhile an honest peer is served.
    let client = Node::builder().build().expect("node starts");
    let peer = within("dial", client.dial(server.listen_addrs_with_peer_id()[0].clone())).await.expect("dial");
    within("ping", client.ping(peer)).await.expect("ping while bad peers linger");

    for (name, sock) in [("garbage", &mut garbage), ("stalled", &mut stalled)] {
        let mut buf = vec![0u8; 65536];
        let closed = within(name, async {
            loop {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed, "{name} peer was not dropped");
    }
    within("ping after", client.ping(peer)).await.expect("still serving");
}

#[tokio::test]
async fn shutdown_with_open_streams() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().build().expect("node starts");
    let peer = within("dial", client.dial(server.listen_addrs_with_peer_id()[0].clone())).await.expect("dial");
    let mut open = within("stream", client.new_stream(peer, "/echo/1.0.0")).await.expect("stream");
    open.write_all(b"pending").await.expect("write");
    within("shutdown", server.shutdown()).await;
    let mut buf = Vec::new();
    let read = within("read after shutdown", open.read_to_end(&mut buf)).await;
    assert!(read.is_err() || buf.len() <= 7, "stream must end once the remote shut down");
    let after = within("dial after shutdown", server.dial(addr("/ip4/127.0.0.1/tcp/1"))).await;
    assert!(matches!(after, Err(Error::Shutdown)), "{after:?}");
}

#[test]
fn node_without_a_runtime_starts_its_own() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().build().expect("node starts");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let target = server.listen_addrs_with_peer_id()[0].clone();
    let rtt = rt.block_on(async {
        let peer = within("dial", client.dial(target)).await.expect("dial");
        within("ping", client.ping(peer)).await.expect("ping")
    });
    assert!(rtt < STEP);
    drop(client);
    drop(server);
}

#[tokio::test]
async fn several_connections_to_one_peer_and_closing_one() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().build().expect("node starts");
    let mut events = client.events();
    // Without /p2p/ there is nothing to reuse: each dial opens a connection.
    let bare = server.listen_addrs()[0].clone();
    let peer = within("dial", client.dial(bare.clone())).await.expect("dial 1");
    assert_eq!(within("dial", client.dial(bare)).await.expect("dial 2"), peer);
    let mut ids = Vec::new();
    while ids.len() < 2 {
        ids.push(
            wait_for(&mut events, "established", |e| match e {
                Event::ConnectionEstablished { peer: p, connection, outbound: true, .. } if p == peer => {
                    Some(connection)
                }
                _ => None,
            })
            .await,
        );
    }
    assert_ne!(ids[0], ids[1]);
    assert!(client.close_connection(ids[0]).await);
    let closed = wait_for(&mut events, "closed", |e| match e {
        Event::ConnectionClosed { connection, .. } => Some(connection),
        _ => None,
    })
    .await;
    assert_eq!(closed, ids[0]);
    assert!(client.is_connected(&peer), "the other connection stays open");
    assert_eq!(echo(&client, peer, b"still here").await, b"still here");
    assert!(!client.close_connection(ids[0]).await, "already closed");
}

#[tokio::test]
async fn identify_push_announces_a_new_protocol() {
    let server = echo_node("/ip4/127.0.0.1/tcp/0");
    let client = Node::builder().build().expect("node starts");
    let mut events = client.events();
    let peer = within("dial", client.dial(server.listen_addrs_with_peer_id()[0].clone())).await.expect("dial");
    wait_for(&mut events, "first identify", |e| match e {
        Event::Identified { peer: p, .. } if p == peer => Some(()),
        _ => None,
    })
    .await;
    assert!(!client.peer_info(&peer).expect("known").protocols.iter().any(|p| p == "/new/1.0.0"));
    server.set_stream_handler("/new/1.0.0", |_stream: Stream| async {});
    let pushed = wait_for(&mut events, "identify push", |e| match e {
        Event::Identified { peer: p, info } if p == peer && info.protocols.iter().any(|x| x == "/new/1.0.0") => {
            Some(info)
        }
        _ => None,
    })
    .await;
    assert!(pushed.signed_peer_record.is_some());
    assert!(client.peer_info(&peer).expect("known").protocols.iter().any(|p| p == "/new/1.0.0"));
}

/// Waits until the server's perf counters satisfy `done`.
async fn perf_stats_until(server: &Node, done: impl Fn(&lp2p::protocols::perf::ServerStats) -> bool) {
    within("perf server counters", async {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tick.tick().await;
            if done(&server.perf_server_stats()) {
                return;
            }
        }
    })
    .await
}

#[tokio::test]
async fn perf_uploads_and_downloads_the_requested_bytes() {
    let server = Node::builder().listen(addr("/ip4/127.0.0.1/tcp/0")).perf(true).build().expect("node starts");
    let client = Node::builder().build().expect("node starts");
    let peer = within("dial", client.dial(server.listen_addrs_with_peer_id()[0].clone())).await.expect("dial");
    assert!(server.protocols().iter().any(|p| p == "/perf/1.0.0"), "an enabled node lists perf");
    let result = within("perf", client.perf(peer, 8 << 20, 4 << 20)).await.expect("perf run");
    assert_eq!((result.upload_bytes, result.download_bytes), (8 << 20, 4 << 20));
    assert!(result.total_time() < STEP);
    // What the server drained and sent, counted on its side.
    perf_stats_until(&server, |s| s.served == 1).await;
    let stats = server.perf_server_stats();
    assert_eq!((stats.bytes_received, stats.bytes_sent, stats.failed), (8 << 20, 4 << 20, 0));
    let empty = within("perf", client.perf(peer, 0, 0)).await.expect("empty perf run");
    assert_eq!((empty.upload_bytes, empty.download_bytes), (0, 0));
    perf_stats_until(&server, |s| s.served == 2).await;
    assert_eq!(server.perf_server_stats().bytes_received, 8 << 20);
}

#[tokio::test]
async fn perf_is_off_by_default() {
    let server = Node::builder().listen(addr("/ip4/127.0.0.1/tcp/0")).build().expect("node starts");
    let client = Node::builder().build().expect("node starts");
    let mut events = client.events();
    let peer = within("dial", client.dial(server.listen_addrs_with_peer_id()[0].clone())).await.expect("dial");
    assert!(!server.protocols().iter().any(|p| p == "/perf/1.0.0"), "a default node does not list perf");
    // Not advertised in identify either.
    let info = wait_for(&mut events, "identify", |e| match e {
        Event::Identified { peer: p, info } if p == peer => Some(info),
        _ => None,
    })
    .await;
    assert!(info.protocols.iter().any(|p| p == "/ipfs/ping/1.0.0"), "{:?}", info.protocols);
    assert!(!info.protocols.iter().any(|p| p == "/perf/1.0.0"), "{:?}", info.protocols);
    // Refused in negotiation.
    let refused = within("perf", client.perf(peer, 1000, 1000)).await;
    assert!(matches!(refused, Err(Error::ProtocolNotSupported(ref p)) if p == "/perf/1.0.0"), "{refused:?}");
    assert_eq!(server.perf_server_stats(), Default::default());
}

#[tokio::test]
async fn perf_refuses_a_request_over_its_bound() {
    let bounds = lp2p::protocols::perf::Config { max_download_bytes: 1 << 20, max_upload_bytes: 2 << 20 };
    let server = Node::builder().listen(addr("/ip4/127.0.0.1/tcp/0")).perf_config(bounds).build().expect("node starts");
    let client = Node::builder().build().expect("node starts");
    let peer = within("dial", client.dial(server.listen_addrs_with_peer_id()[0].clone())).await.expect("dial");
    within("at the bound", client.perf(peer, 2 << 20, 1 << 20)).await.expect("a request at the bounds is served");
    let refused = within("download over", client.perf(peer, 0, (1 << 20) + 1)).await;
    assert!(matches!(refused, Err(Error::Protocol(_))), "{refused:?}");
    let refused = within("upload over", client.perf(peer, (2 << 20) + 1, 0)).await;
    assert!(matches!(refused, Err(Error::Protocol(_))), "{refused:?}");
    perf_stats_until(&server, |s| s.served == 1 && s.failed == 2).await;
    let stats = server.perf_server_stats();
    assert_eq!((stats.bytes_received, stats.bytes_sent), (2 << 20, 1 << 20), "refused bytes are not sent");
}

/// Nodes that run their own runtimes can be driven from a thread that has
/// none: changing handlers while connected pushes identify on the node's runtime.
#[test]
fn handlers_change_from_a_thread_without_a_runtime() {
    let server = Node::builder().listen(addr("/ip4/127.0.0.1/tcp/0")).build().expect("server");
    let client = Node::builder().build().expect("client");
    let outside = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let target = server.listen_addrs_with_peer_id()[0].clone();
    let peer = outside.block_on(within("dial", client.dial(target))).expect("dial");
    server.set_stream_handler("/late/1.0.0", |_stream: Stream| async {});
    assert!(server.protocols().iter().any(|p| p == "/late/1.0.0"));
    let protocols = outside.block_on(within("identify push", async {
        loop {
            let known = client.peer_info(&peer).map(|info| info.protocols).unwrap_or_default();
            if known.iter().any(|p| p == "/late/1.0.0") {
                return known;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }));
    assert!(protocols.iter().any(|p| p == "/late/1.0.0"));
    assert!(server.remove_stream_handler("/late/1.0.0"));
}
