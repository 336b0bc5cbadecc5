//! The resource manager and the connection manager wired into the swarm:
//! per-IP connection limits, stream limits per peer, typed errors and
//! `ResourceLimitExceeded` events, the allowlist, counts back to zero, and
//! trimming over the high watermark.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use lp2p::connmgr::ConnManagerConfig;
use lp2p::rcmgr::{Resource, ResourceManagerConfig, ScopeName, SubnetLimit};
use lp2p::swarm::SwarmError;
use lp2p::{Config, Error, Event, Multiaddr, Node, Stream};
use lp2p_tests::hostile::{silent_tcp, socket_addr};
use tokio::io::AsyncReadExt;

const STEP: Duration = Duration::from_secs(20);
const HOLD: &str = "/hold/1.0.0";

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// Waits (bounded) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn loopback() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")
}

/// A node listening on loopback with `config`, serving `HOLD` (a handler
/// that keeps the stream until the remote closes it).
fn node(config: Config) -> (Node, Multiaddr) {
    let node = Node::builder().listen(loopback()).config(config).build().expect("node starts");
    node.set_stream_handler(HOLD, |mut stream: Stream| async move {
        let mut buf = [0u8; 64];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let addr = node.listen_addrs_with_peer_id().into_iter().next().expect("a listen address");
    (node, addr)
}

/// Limits that never refuse, apart from what a test sets.
fn unlimited() -> ResourceManagerConfig {
    ResourceManagerConfig::unlimited()
}

async fn wait_for_limit_event(events: &mut lp2p::Events, what: &str, pick: impl Fn(&ScopeName, Resource) -> bool) {
    within(what, async {
        loop {
            if let Some(Event::ResourceLimitExceeded { scope, resource, .. }) = events.next().await
                && pick(&scope, resource)
            {
                return;
            }
        }
    })
    .await
}

/// Whether the silent connection was closed by the node (EOF or reset) within `wait`.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(tokio::time::timeout(wait, stream.read(&mut byte)).await, Ok(Ok(0)) | Ok(Err(_)))
}

/// With 2 connections per IPv4 address and loopback not exempt, a third
/// connection from 127.0.0.2 is closed at once (and an event says why),
/// while a peer from 127.0.0.1 gets in; an allowlisted address skips the
/// limit. Every count returns to zero once all is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_limit_refuses_one_address_and_admits_another() {
    let mut limits = unlimited();
    limits.ipv4_subnet_limits = vec![SubnetLimit { prefix_len: 32, max_conns: 2 }];
    let config = Config { resource_manager: limits.clone(), upgrade_timeout: STEP, ..Config::default() };
    let (server, addr) = node(config);
    let mut events = server.events();
    let to = socket_addr(&addr).expect("tcp address");
    let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(within("silent connect", silent_tcp(from, to)).await.expect("connects"));
    }
    eventually("two connections from 127.0.0.2 held", || server.resource_stats().transient.conns_inbound == 2).await;
    let mut over = within("silent connect", silent_tcp(from, to)).await.expect("connects");
    assert!(closed_within(&mut over, STEP).await, "the third connection from 127.0.0.2 was not closed");
    wait_for_limit_event(&mut events, "the per-IP limit event", |scope, resource| {
        matches!(scope, ScopeName::Subnet(net) if net.addr() == from) && resource == Resource::Conns
    })
    .await;
    for stream in &mut held {
        assert!(!closed_within(stream, Duration::from_millis(50)).await, "a connection within the limit was closed");
    }
    // Another address is not affected.
    let honest = Node::builder().build().expect("node starts");
    let peer = within("dial from 127.0.0.1", honest.dial(addr.clone())).await.expect("dial succeeds");
    within("ping", honest.ping(peer)).await.expect("ping succeeds");
    honest.shutdown().await;
    drop(held);
    drop(over);
    eventually("every count back to zero", || server.resources_idle()).await;
    server.shutdown().await;

    // The same limit, with 127.0.0.2 allowlisted: three connections get in,
    // counted in the allowlisted scope.
    limits.allow(&"/ip4/127.0.0.2/ipcidr/32".parse().expect("valid multiaddr")).expect("valid allowlist entry");
    let config = Config { resource_manager: limits, upgrade_timeout: STEP, ..Config::default() };
    let (server, addr) = node(config);
    let to = socket_addr(&addr).expect("tcp address");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(within("silent connect", silent_tcp(from, to)).await.expect("connects"));
    }
    eventually("three allowlisted connections held", || server.resource_stats().allowlisted.conns_inbound == 3).await;
    for stream in &mut held {
        assert!(!closed_within(stream, Duration::from_millis(50)).await, "an allowlisted connection was closed");
    }
    drop(held);
    eventually("every count back to zero", || server.resources_idle()).await;
    server.shutdown().await;
}

/// A peer limited to 2 inbound streams: its third stream is reset, the
/// node emits the event, and the counts return to zero afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_stream_limit_gets_resets_and_an_event() {
    let mut limits = unlimited();
    limits.peer_default.streams_inbound = 2;
    let (server, addr) = node(Config { resource_manager: limits, ..Config::default() });
    let mut events = server.events();
    let client = Node::builder().build().expect("node starts");
    let server_peer = within("dial", client.dial(addr)).await.expect("dial succeeds");
    let client_peer = client.peer_id();
    // Identify's streams come and go; start from none.
    eventually("identify done", || {
        client.peer_info(&server_peer).is_some_and(|info| info.agent_version.is_some())
            && server.peer_info(&client_peer).is_some_and(|info| info.agent_version.is_some())
    })
    .await;
    let idle = |node: &Node| node.resource_stats().peers.values().all(|usage| usage.streams() == 0);
    eventually("no stream open", || idle(&server) && idle(&client)).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(within("open", client.new_stream(server_peer, HOLD)).await.expect("within the limit"));
    }
    let refused = within("open over the limit", client.new_stream(server_peer, HOLD)).await;
    assert!(refused.is_err(), "a third inbound stream was accepted");
    wait_for_limit_event(&mut events, "the stream limit event", |scope, resource| {
        *scope == ScopeName::Peer(client_peer) && resource == Resource::StreamsInbound
    })
    .await;
    assert!(server.resource_stats().hits.total() >= 1);
    drop(open);
    client.shutdown().await;
    eventually("every count back to zero", || server.resources_idle()).await;
    assert!(client.resources_idle());
    server.shutdown().await;
}

/// Outbound: a stream over our own per-peer outbound limit, and a dial over
/// our system connection limit, fail with the typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_streams_and_dials_over_a_limit_fail_with_the_typed_error() {
    let (server, addr) = node(Config::default());
    let (other, other_addr) = node(Config::default());
    let mut limits = unlimited();
    limits.peer_default.streams_outbound = 1;
    limits.set_max_connections(1);
    let client =
        Node::builder().config(Config { resource_manager: limits, ..Config::default() }).build().expect("node");
    let mut events = client.events();
    let server_peer = within("dial", client.dial(addr)).await.expect("dial succeeds");
    eventually("identify done", || client.peer_info(&server_peer).is_some_and(|info| info.agent_version.is_some()))
        .await;
    eventually("no outbound stream open", || {
        client.resource_stats().peers.get(&server_peer).is_none_or(|usage| usage.streams_outbound == 0)
    })
    .await;
    let held = within("open", client.new_stream(server_peer, HOLD)).await.expect("within the limit");
    let refused = within("open over the limit", client.new_stream(server_peer, HOLD)).await;
    match refused {
        Err(Error::LimitReached(SwarmError::LimitReached(e))) => {
            assert_eq!(e.scope, ScopeName::Peer(server_peer));
            assert_eq!(e.resource, Resource::StreamsOutbound);
            assert_eq!((e.limit, e.current), (1, 1));
        }
        other => panic!("expected the typed limit error, got {other:?}"),
    }
    wait_for_limit_event(&mut events, "the event", |scope, resource| {
        *scope == ScopeName::Peer(server_peer) && resource == Resource::StreamsOutbound
    })
    .await;
    let dialed = within("dial over the system limit", client.dial(other_addr)).await;
    match dialed {
        Err(Error::LimitReached(SwarmError::LimitReached(e))) => {
            // `set_max_connections` caps the outbound limit too, checked first.
            assert_eq!(e.scope, ScopeName::System);
            assert_eq!(e.resource, Resource::ConnsOutbound);
        }
        other => panic!("expected the typed limit error, got {other:?}"),
    }
    drop(held);
    server.shutdown().await;
    other.shutdown().await;
    eventually("every count back to zero", || client.resources_idle()).await;
    client.shutdown().await;
}

/// Watermarks 2 / 4, no grace period: six peers connect; over the high
/// watermark the manager trims to 2 trimmable connections, keeping the
/// highest-tagged peer, and the protected peer on top.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_manager_trims_to_the_low_watermark_keeping_protected_and_valued_peers() {
    let conn_manager = ConnManagerConfig {
        low_watermark: 2,
        high_watermark: 4,
        grace_period: Duration::ZERO,
        silence_period: Duration::ZERO,
        ..ConnManagerConfig::default()
    };
    let (server, addr) = node(Config { conn_manager, ..Config::default() });
    let clients: Vec<Node> = (0..6).map(|_| Node::builder().build().expect("node starts")).collect();
    let valued = clients[4].peer_id();
    let protected = clients[5].peer_id();
    server.tag_peer(valued, "useful", 100).expect("tagged");
    server.protect_peer(protected, "keep").expect("protected");
    assert!(server.is_protected(protected, Some("keep")));
    // Four unvalued peers: at the high watermark, nothing is trimmed.
    for client in &clients[..4] {
        within("dial", client.dial(addr.clone())).await.expect("dial succeeds");
    }
    eventually("four connected", || server.connected_peers().len() == 4).await;
    // The valued peer makes five: the four lowest-valued are closed down to
    // the low watermark of two (the valued one and one other).
    within("dial", clients[4].dial(addr.clone())).await.expect("dial succeeds");
    eventually("trimmed to the low watermark", || server.connected_peers().len() == 2).await;
    assert!(server.is_connected(&valued), "the highest-valued peer was trimmed");
    // The protected peer is outside the budget.
    within("dial", clients[5].dial(addr.clone())).await.expect("dial succeeds");
    eventually("the protected peer connected", || server.is_connected(&protected)).await;
    assert_eq!(server.trim_open_connections(), 0, "nothing trimmable over the low watermark");
    assert_eq!(server.connected_peers().len(), 3);
    assert!(server.is_connected(&valued) && server.is_connected(&protected));
    for client in &clients {
        client.shutdown().await;
    }
    eventually("every count back to zero", || server.resources_idle()).await;
    // A disconnected peer's tags are forgotten; its protection stays.
    eventually("tags forgotten", || server.peer_value(valued) == 0).await;
    assert!(server.is_protected(protected, None));
    server.shutdown().await;
}
