//! The bootstrap list: `/dnsaddr/` resolution through a DNS server on
//! 127.0.0.1 that the test runs (never the internet), and nodes that join
//! through the list. Every step has a timeout.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use lp2p::protocols::bootstrap::{self, BootstrapError, DnsError, DnsResolver, Limits};
use lp2p::{Error, Multiaddr, Node, PeerId};
use tokio::net::UdpSocket;

const STEP: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// A DNS server on 127.0.0.1 answering TXT queries from a fixed table
/// (names lower-case, fully qualified), NXDOMAIN otherwise.
struct DnsServer {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
}

impl DnsServer {
    async fn start(table: HashMap<String, Vec<String>>) -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = socket.local_addr().expect("addr");
        let queries = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&queries);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else { break };
                let Ok(request) = Message::from_vec(&buf[..n]) else { continue };
                counted.fetch_add(1, Ordering::Relaxed);
                let mut response = Message::response(request.metadata.id, OpCode::Query);
                response.metadata.recursion_desired = request.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                response.metadata.authoritative = true;
                if let Some(query) = request.queries.first() {
                    response.add_query(query.clone());
                    let name = query.name().to_ascii().to_lowercase();
                    match table.get(&name) {
                        Some(entries) if query.query_type() == RecordType::TXT => {
                            for entry in entries {
                                let txt = RData::TXT(TXT::new(vec![entry.clone()]));
                                response.add_answer(Record::from_rdata(query.name().clone(), 60, txt));
                            }
                        }
                        Some(_) => {}
                        None => response.metadata.response_code = ResponseCode::NXDomain,
                    }
                }
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, from).await;
                }
            }
        });
        DnsServer { addr, queries }
    }
}

fn table(entries: &[(&str, Vec<String>)]) -> HashMap<String, Vec<String>> {
    entries.iter().map(|(name, records)| (format!("{name}."), records.clone())).collect()
}

fn ma(s: &str) -> Multiaddr {
    s.parse().expect("multiaddr")
}

fn node() -> Node {
    Node::builder().listen(ma("/ip4/127.0.0.1/tcp/0")).build().expect("node starts")
}

fn dnsaddr_record(node: &Node) -> String {
    format!("dnsaddr={}", node.listen_addrs_with_peer_id()[0])
}

#[tokio::test]
async fn dnsaddr_resolves_through_a_local_dns_server() {
    let a = "12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";
    let b = "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";
    let server = DnsServer::start(table(&[
        (
            "_dnsaddr.boot.test",
            vec![format!("dnsaddr=/dnsaddr/a.boot.test/p2p/{a}"), format!("dnsaddr=/ip4/10.0.0.2/tcp/4001/p2p/{b}")],
        ),
        (
            "_dnsaddr.a.boot.test",
            vec![format!("dnsaddr=/ip4/10.0.0.1/tcp/4001/p2p/{a}"), format!("dnsaddr=/ip6/::1/tcp/4001/p2p/{a}")],
        ),
        ("_dnsaddr.loop.test", vec!["dnsaddr=/dnsaddr/loop.test".into()]),
        ("_dnsaddr.many.test", (0..12).map(|i| format!("dnsaddr=/ip4/10.1.0.{i}/tcp/1")).collect()),
    ]))
    .await;
    let resolver = DnsResolver::with_server(server.addr).expect("resolver");
    let limits = Limits::default();

    let got = within("resolve a", bootstrap::resolve(&resolver, &ma(&format!("/dnsaddr/boot.test/p2p/{a}")), &limits))
        .await
        .expect("resolves");
    assert_eq!(got, vec![ma(&format!("/ip4/10.0.0.1/tcp/4001/p2p/{a}")), ma(&format!("/ip6/::1/tcp/4001/p2p/{a}"))]);
    let all =
        within("resolve all", bootstrap::resolve(&resolver, &ma("/dnsaddr/boot.test"), &limits)).await.expect("ok");
    assert_eq!(all.len(), 3);

    // A name that points at itself stops at the lookup bound.
    let before = server.queries.load(Ordering::Relaxed);
    let bounded = Limits { max_lookups: 6, max_depth: 100, ..Limits::default() };
    let looped = within("loop", bootstrap::resolve(&resolver, &ma("/dnsaddr/loop.test"), &bounded)).await;
    assert!(matches!(looped, Err(BootstrapError::TooManyLookups(_))), "{looped:?}");
    assert_eq!(server.queries.load(Ordering::Relaxed) - before, 6);
    // Depth bound: the loop at depth 2 stops after 3 lookups, with nothing found.
    let before = server.queries.load(Ordering::Relaxed);
    let shallow = Limits { max_depth: 2, ..Limits::default() };
    let looped = within("loop", bootstrap::resolve(&resolver, &ma("/dnsaddr/loop.test"), &shallow)).await;
    assert!(matches!(looped, Err(BootstrapError::NoAddresses(_))), "{looped:?}");
    assert_eq!(server.queries.load(Ordering::Relaxed) - before, 3);
    // Result bounds.
    let few = Limits { max_records: 5, ..Limits::default() };
    let got = within("many", bootstrap::resolve(&resolver, &ma("/dnsaddr/many.test"), &few)).await.expect("ok");
    assert_eq!(got.len(), 5);
    let fewer = Limits { max_results: 3, ..Limits::default() };
    let got = within("many", bootstrap::resolve(&resolver, &ma("/dnsaddr/many.test"), &fewer)).await.expect("ok");
    assert_eq!(got.len(), 3);
    // A name the server does not know.
    let missing = within("missing", bootstrap::resolve(&resolver, &ma("/dnsaddr/nope.test"), &limits)).await;
    assert!(matches!(missing, Err(BootstrapError::Dns(DnsError::NotFound(_)))), "{missing:?}");
}

#[tokio::test]
async fn a_dns_server_that_never_answers_times_out() {
    // A bound socket that reads nothing.
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let resolver = DnsResolver::with_server(silent.local_addr().expect("addr")).expect("resolver");
    let limits = Limits { lookup_timeout: Duration::from_millis(300), ..Limits::default() };
    let result = within("silent", bootstrap::resolve(&resolver, &ma("/dnsaddr/boot.test"), &limits)).await;
    assert!(matches!(result, Err(BootstrapError::Dns(DnsError::Timeout(_) | DnsError::Lookup { .. }))), "{result:?}");
}

async fn wait_connected(node: &Node, peers: &[PeerId]) {
    within("bootstrap connections", async {
        while !peers.iter().all(|p| node.is_connected(p)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_node_joins_through_its_dnsaddr_bootstrap_list() {
    let (a, b) = (node(), node());
    let server = DnsServer::start(table(&[("_dnsaddr.boot.test", vec![dnsaddr_record(&a), dnsaddr_record(&b)])])).await;

    // At start, in the background.
    let joiner =
        Node::builder().bootstrap(ma("/dnsaddr/boot.test")).dns_server(server.addr).build().expect("node starts");
    assert_eq!(joiner.bootstrap_list(), vec![ma("/dnsaddr/boot.test")]);
    wait_connected(&joiner, &[a.peer_id(), b.peer_id()]).await;
    // The addresses are in the peer store.
    let info = joiner.peer_info(&a.peer_id()).expect("a is known");
    assert!(info.addrs.contains(&a.listen_addrs()[0]));

    // Again, on demand, restricted to one peer by /p2p/.
    let only_a = Node::builder()
        .bootstrap(ma(&format!("/dnsaddr/boot.test/p2p/{}", a.peer_id())))
        .dns_server(server.addr)
        .build()
        .expect("node starts");
    let peers = within("bootstrap", only_a.bootstrap()).await.expect("bootstrap");
    assert_eq!(peers, vec![a.peer_id()]);
    assert!(!only_a.is_connected(&b.peer_id()));

    // A plain multiaddr list needs no DNS.
    let plain = Node::builder().bootstrap(b.listen_addrs_with_peer_id()[0].clone()).build().expect("node starts");
    let peers = within("bootstrap", plain.bootstrap()).await.expect("bootstrap");
    assert_eq!(peers, vec![b.peer_id()]);
    // Another list, given at the call.
    let peers = within("bootstrap from", plain.bootstrap_from(vec![a.listen_addrs_with_peer_id()[0].clone()]))
        .await
        .expect("bootstrap from a list");
    assert_eq!(peers, vec![a.peer_id()]);
    for n in [&a, &b, &joiner, &only_a, &plain] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn bootstrap_failures_are_typed() {
    let server = DnsServer::start(table(&[])).await;
    let empty = Node::builder().build().expect("node starts");
    assert!(matches!(empty.bootstrap().await, Err(Error::Bootstrap(BootstrapError::EmptyList))));

    let unknown = Node::builder().bootstrap(ma("/dnsaddr/nope.test")).dns_server(server.addr).build().expect("node");
    let result = within("bootstrap", unknown.bootstrap()).await;
    assert!(matches!(result, Err(Error::Bootstrap(BootstrapError::Dns(DnsError::NotFound(_))))), "{result:?}");

    // A port nobody listens on.
    let closed = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        socket.local_addr().expect("addr").port()
    };
    let unreachable = Node::builder()
        .bootstrap(ma(&format!("/ip4/127.0.0.1/tcp/{closed}")))
        .connection_timeout(Duration::from_secs(2))
        .build()
        .expect("node");
    let result = within("bootstrap", unreachable.bootstrap()).await;
    assert!(matches!(result, Err(Error::Bootstrap(BootstrapError::NoneReachable { tried: 1 }))), "{result:?}");
}

#[test]
fn the_ipfs_preset_is_opt_in() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        // Built but not started: no DNS, no dial (the test never leaves loopback).
        let plain = Node::builder().build().expect("node");
        assert!(plain.bootstrap_list().is_empty());
        plain.shutdown().await;
    });
    assert_eq!(bootstrap::ipfs_bootstrap().len(), bootstrap::IPFS_BOOTSTRAP.len());
    assert!(bootstrap::IPFS_BOOTSTRAP.iter().any(|a| a.starts_with("/dnsaddr/bootstrap.libp2p.io/p2p/")));
}
