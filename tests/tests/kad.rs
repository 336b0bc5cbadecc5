//! Kademlia DHT between lp2p nodes on the memory transport: records,
//! providers, peer routing, a network of many nodes, and misbehaving peers.
//! Every step has a timeout so a hang fails the test.

use std::future::Future;
use std::time::{Duration, Instant};

use lp2p::protocols::kad::{self, Config, Kad, KadError, Mode};
use lp2p::{Keypair, Multiaddr, Node, PeerId, Stream};
use tokio::io::AsyncWriteExt;

const STEP: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn server_config() -> Config {
    Config {
        mode: Mode::Server,
        request_timeout: Duration::from_secs(5),
        random_walk_interval: None,
        ..Config::default()
    }
}

fn memory_node() -> Node {
    Node::builder().listen("/memory/0".parse().expect("valid")).build().expect("node starts")
}

fn addr_of(node: &Node) -> Multiaddr {
    node.listen_addrs_with_peer_id()[0].clone()
}

fn pk_key(peer: &PeerId) -> Vec<u8> {
    [b"/pk/".as_slice(), peer.as_bytes()].concat()
}

/// `n` DHT servers; each joins through an earlier one and looks itself up
/// (which fills its table and puts it in its neighbours'). After the first
/// twenty, nodes join ten at a time.
async fn network(n: usize) -> Vec<(Node, Kad)> {
    let mut nodes: Vec<(Node, Kad)> = Vec::with_capacity(n);
    while nodes.len() < n {
        let wave = if nodes.len() < 20 { 1 } else { 10.min(n - nodes.len()) };
        let mut joining = tokio::task::JoinSet::new();
        for j in 0..wave {
            let node = memory_node();
            let kad = node.kad(server_config());
            let i = nodes.len() + j;
            let via = if nodes.is_empty() { None } else { Some(addr_of(&nodes[(i * 7919) % nodes.len()].0)) };
            joining.spawn(async move {
                if let Some(via) = via {
                    within("join", kad.add_bootstrap_peer(via)).await.expect("joins");
                    within("self lookup", kad.get_closest_peers(node.peer_id().to_bytes())).await.expect("looks up");
                }
                (node, kad)
            });
        }
        while let Some(joined) = joining.join_next().await {
            nodes.push(joined.expect("join task"));
        }
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_providers_and_peers_across_a_small_network() {
    let nodes = network(12).await;
    let (writer, writer_kad) = &nodes[3];
    let (_, reader_kad) = &nodes[9];

    // A /pk/ record put by one node is got by another.
    let key = pk_key(&writer.peer_id());
    let stored = within("put", writer_kad.put_value(key.clone(), writer.keypair().public().encode_protobuf()))
        .await
        .expect("put succeeds");
    assert!(stored >= 1);
    let got = within("get", reader_kad.get_value(key, 2)).await.expect("get succeeds");
    assert_eq!(got, writer.keypair().public().encode_protobuf());

    // A provider announced by one node is found by another.
    let cid = b"\x12\x20some-content-multihash-32-bytes".to_vec();
    assert!(within("provide", writer_kad.provide(cid.clone())).await.expect("provide succeeds") >= 1);
    let providers = within("providers", reader_kad.providers(cid, 5)).await.expect("providers succeed");
    assert!(providers.iter().any(|p| p.peer == writer.peer_id() && !p.addrs.is_empty()), "{providers:?}");

    // find_peer: a newcomer that knows one peer finds another's address
    // through the DHT (its peer store does not have it).
    let newcomer = memory_node();
    let newcomer_kad = newcomer.kad(server_config());
    within("join", newcomer_kad.add_bootstrap_peer(addr_of(&nodes[0].0))).await.expect("joins");
    let target = &nodes[11].0;
    assert!(newcomer.peer_info(&target.peer_id()).is_none());
    let found = within("find_peer", newcomer_kad.find_peer_detailed(target.peer_id())).await.expect("found");
    assert!(found.requests >= 1);
    assert!(found.addrs.contains(&target.listen_addrs()[0]), "{:?}", found.addrs);

    // A missing record is NotFound, not a made-up value.
    let missing = pk_key(&PeerId::random());
    assert!(matches!(within("get missing", reader_kad.get_value(missing, 1)).await, Err(KadError::NotFound)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_are_refused_locally_and_remotely() {
    let nodes = network(4).await;
    let (node, kad) = &nodes[1];
    let other = Keypair::generate_ed25519();
    // Someone else's key under our /pk/ name.
    let bad = within("put bad", kad.put_value(pk_key(&node.peer_id()), other.public().encode_protobuf())).await;
    assert!(matches!(bad, Err(KadError::InvalidRecord(_))), "{bad:?}");
    // A namespace without a validator.
    let unknown = within("put unknown", kad.put_value(b"/nope/x".to_vec(), b"v".to_vec())).await;
    assert!(matches!(unknown, Err(KadError::InvalidRecord(_))), "{unknown:?}");

    // A raw PUT_VALUE of an invalid record is refused by the server: the
    // stream is reset and nothing is stored.
    let (target, target_kad) = &nodes[2];
    let key = pk_key(&node.peer_id());
    let request = kad::protocol::encode_request(&kad::protocol::Request::PutValue {
        record: kad::protocol::Record { key: key.clone(), value: other.public().encode_protobuf() },
    });
    within("dial", node.dial(addr_of(target))).await.expect("dials");
    let mut stream = within("open", node.new_stream(target.peer_id(), kad::PROTOCOL)).await.expect("stream opens");
    within("write", kad::protocol::write_message(&mut stream, &request)).await.expect("written");
    let answer = within("read", kad::protocol::read_message(&mut stream)).await;
    assert!(answer.is_err(), "an invalid record was acknowledged");
    assert_eq!(target_kad.local_record(&key), None);
    assert!(target_kad.stats().inbound_rejected >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_messages_are_rejected_and_the_server_keeps_serving() {
    let nodes = network(3).await;
    let (client, _) = &nodes[0];
    let (server, server_kad) = &nodes[1];
    within("dial", client.dial(addr_of(server))).await.expect("dials");
    let cases: Vec<Vec<u8>> = vec![
        vec![0x05, 0xff, 0xff, 0xff, 0xff, 0xff], // frame of junk protobuf
        vec![0xff, 0xff, 0xff, 0xff, 0x0f],       // announces a 4 GiB frame
        vec![0x03, 0x08, 0x2a, 0x00],             // unknown message type 42
        vec![0x80, 0x80],                         // truncated length, then EOF
    ];
    for bytes in cases {
        let mut stream = within("open", client.new_stream(server.peer_id(), kad::PROTOCOL)).await.expect("opens");
        within("write", stream.write_all(&bytes)).await.expect("written");
        let _ = stream.shutdown().await;
        assert!(within("read", kad::protocol::read_message(&mut stream)).await.is_err());
    }
    assert!(server_kad.stats().inbound_rejected >= 3, "{:?}", server_kad.stats());
    // Still answering well-formed requests.
    let mut stream = within("open", client.new_stream(server.peer_id(), kad::PROTOCOL)).await.expect("opens");
    let request = kad::protocol::Request::FindNode { key: PeerId::random().to_bytes() };
    within("write", kad::protocol::write_message(&mut stream, &kad::protocol::encode_request(&request)))
        .await
        .expect("written");
    let bytes = within("read", kad::protocol::read_message(&mut stream)).await.expect("answered");
    let response = kad::protocol::decode_response(request.message_type(), request.key(), &bytes).expect("decodes");
    // Its answer never lists the asker itself.
    assert!(response.closer.iter().all(|p| p.peer != client.peer_id()));
    assert!(server_kad.stats().inbound_requests >= 1);
}

/// A DHT server that answers every request with thousands of peers that do
/// not exist.
fn liar(node: &Node) {
    node.set_stream_handler(kad::PROTOCOL, |mut stream: Stream| async move {
        while let Ok(bytes) = kad::protocol::read_message(&mut stream).await {
            let Ok(request) = kad::protocol::decode_request(&bytes) else { return };
            let fake: Vec<kad::protocol::KadPeer> = (0..3000)
                .map(|i| kad::protocol::KadPeer {
                    peer: PeerId::random(),
                    addrs: vec![format!("/memory/{}", 1_000_000_000 + i).parse().expect("valid")],
                })
                .collect();
            let response = kad::protocol::Response { closer: fake, ..Default::default() };
            // Larger than the reader's limit: it must cut the message off, not buffer it.
            let bytes = kad::protocol::encode_response(request.message_type(), request.key(), &response);
            if kad::protocol::write_message(&mut stream, &bytes[..bytes.len().min(100_000)]).await.is_err() {
                return;
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_complete_with_the_honest_peers_despite_liars() {
    let mut nodes = network(10).await;
    // Three liars join and are put in everyone's table.
    for _ in 0..3 {
        let node = memory_node();
        liar(&node);
        for (_, kad) in &nodes {
            within("add liar", kad.add_bootstrap_peer(addr_of(&node))).await.expect("liar added");
        }
        let kad = node.kad(Config { mode: Mode::Client, ..server_config() });
        nodes.push((node, kad));
    }
    let (seeker, seeker_kad) = &nodes[2];
    let (target, _) = &nodes[8];
    let started = Instant::now();
    let found = within("find", seeker_kad.find_peer_detailed(target.peer_id())).await;
    let found = found.expect("found despite liars");
    assert!(found.addrs.contains(&target.listen_addrs()[0]));
    assert!(found.requests <= Config::default().max_requests);
    let key = pk_key(&seeker.peer_id());
    within("put", seeker_kad.put_value(key.clone(), seeker.keypair().public().encode_protobuf()))
        .await
        .expect("put succeeds with honest peers");
    assert_eq!(
        within("get", nodes[5].1.get_value(key, 1)).await.expect("got"),
        seeker.keypair().public().encode_protobuf()
    );
    assert!(started.elapsed() < STEP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_mode_does_not_serve_and_bare_ids_are_dialed_through_the_dht() {
    let nodes = network(6).await;
    let client = memory_node();
    let client_kad = client.kad(Config { mode: Mode::Client, ..server_config() });
    assert!(!client.protocols().iter().any(|p| p == kad::PROTOCOL));
    within("join", client_kad.add_bootstrap_peer(addr_of(&nodes[0].0))).await.expect("joins");
    within("bootstrap", client_kad.bootstrap()).await.expect("bootstraps");
    // Servers do not put a client in their tables.
    for (_, kad) in &nodes {
        assert!(!kad.routing_table().contains(&client.peer_id()));
    }
    // Dial by peer ID only: not in the peer store, found through the DHT.
    let fresh = memory_node();
    let fresh_kad = fresh.kad(Config { mode: Mode::Client, ..server_config() });
    within("join", fresh_kad.add_bootstrap_peer(addr_of(&nodes[0].0))).await.expect("joins");
    let target = &nodes[5].0;
    assert!(fresh.peer_info(&target.peer_id()).is_none());
    within("dial", fresh_kad.dial_peer(target.peer_id())).await.expect("dialed through the DHT");
    assert!(fresh.is_connected(&target.peer_id()));
    // The node itself falls back to the DHT: a ping by bare peer ID to a
    // peer the peer store does not know.
    let other = &nodes[4].0;
    assert!(fresh.peer_info(&other.peer_id()).is_none());
    within("ping by peer ID", fresh.ping(other.peer_id())).await.expect("ping through the DHT's address");
    // Without a DHT, the same is NoRoute.
    let plain = memory_node();
    within("dial", plain.dial(addr_of(&nodes[0].0))).await.expect("dials");
    let refused = within("ping without a DHT", plain.ping(other.peer_id())).await;
    assert!(matches!(refused, Err(lp2p::Error::NoRoute(_))), "{refused:?}");
    // A configurable protocol ID: a LAN DHT does not talk to the public one.
    let lan = memory_node();
    let lan_kad = lan.kad(Config { protocol: "/ipfs/lan/kad/1.0.0".into(), ..server_config() });
    let refused = within("join other dht", lan_kad.add_bootstrap_peer(addr_of(&nodes[1].0))).await;
    assert!(matches!(refused, Err(KadError::NotADhtPeer(_))), "{refused:?}");
}

/// `Mode::Auto`: a client until the node has a confirmed external address,
/// then a server that its peers put in their tables (identify push), and a
/// client again when the address is withdrawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_serves_while_the_node_has_a_confirmed_external_address() {
    let nodes = network(3).await;
    let node = memory_node();
    let auto = node.kad(Config { mode: Mode::Auto, ..server_config() });
    assert_eq!(Config::default().mode, Mode::Auto);
    assert!(!auto.is_server());
    within("join", auto.add_bootstrap_peer(addr_of(&nodes[0].0))).await.expect("joins");
    assert!(!node.protocols().iter().any(|p| p == kad::PROTOCOL));
    assert!(!nodes[0].1.routing_table().contains(&node.peer_id()));

    let mut events = node.events();
    let external: Multiaddr = "/ip4/203.0.113.7/tcp/4001".parse().expect("valid");
    assert!(node.add_external_address(external.clone()));
    assert!(!node.add_external_address(external.clone()), "added twice");
    assert_eq!(node.external_addrs(), vec![external.clone()]);
    let confirmed = within("confirmed event", async {
        loop {
            match events.next().await {
                Some(lp2p::Event::ExternalAddrConfirmed { addr }) => return addr,
                Some(_) => {}
                None => panic!("events ended"),
            }
        }
    })
    .await;
    assert_eq!(confirmed, external);
    within("server mode", wait_until(|| auto.is_server())).await;
    assert!(node.protocols().iter().any(|p| p == kad::PROTOCOL));
    // The peer learns it through identify push: the node enters its table,
    // and the external address is among the node's announced addresses.
    within("in the peer's table", wait_until(|| nodes[0].1.routing_table().contains(&node.peer_id()))).await;
    let seen = nodes[0].0.peer_info(&node.peer_id()).expect("known");
    assert!(seen.addrs.contains(&external), "{:?}", seen.addrs);

    assert!(node.remove_external_address(&external));
    assert!(!node.remove_external_address(&external));
    within("client mode again", wait_until(|| !auto.is_server())).await;
    assert!(!node.protocols().iter().any(|p| p == kad::PROTOCOL));
    // A node configured as a client stays one whatever its addresses.
    let client = memory_node();
    let client_kad = client.kad(Config { mode: Mode::Client, ..server_config() });
    client.add_external_address(external);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!client_kad.is_server());
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The scale test: `LP2P_KAD_NODES` nodes (default 1000) on the memory
/// transport; lookups from random nodes for random others all succeed, and
/// the median hop count stays within log2(N).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_of_many_nodes_finds_every_peer() {
    let n: usize = std::env::var("LP2P_KAD_NODES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let started = Instant::now();
    let nodes = network(n).await;
    let built = started.elapsed();
    let mut hops = Vec::new();
    let mut requests = Vec::new();
    for i in 0..50 {
        let (_, seeker) = &nodes[(i * 37 + 11) % n];
        let (target, _) = &nodes[(i * 101 + 503) % n];
        if seeker.routing_table().is_empty() {
            panic!("node {i} has an empty table");
        }
        let closest = within("lookup", seeker.get_closest_peers(target.peer_id().to_bytes())).await.expect("lookup");
        if target.peer_id() != nodes[(i * 37 + 11) % n].0.peer_id() {
            assert_eq!(closest.peers.first().map(|p| p.peer), Some(target.peer_id()), "lookup {i} missed its target");
        }
        hops.push(closest.hops);
        requests.push(closest.requests);
    }
    hops.sort();
    requests.sort();
    let median = hops[hops.len() / 2];
    let log2 = (n as f64).log2().ceil() as u32;
    println!(
        "kad scale: {n} nodes built in {built:?}; 50 lookups: median hops {median} (log2 N = {log2}), median requests {}, total {:?}",
        requests[requests.len() / 2],
        started.elapsed()
    );
    assert!(median <= log2, "median hops {median} above log2({n})");
}

// ---- Sybil resistance: store quotas, eviction, inbound slots per peer ----

fn loopback_node() -> Node {
    Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().expect("valid")).build().expect("node starts")
}

fn open_validators() -> kad::validator::Validators {
    kad::validator::Validators::default().accept_unknown_namespaces(true)
}

/// Sends `request` on a new stream, then a PING on the same stream: `true`
/// when the PING is answered, that is when the server accepted the request
/// (a refused request resets the stream). For PUT_VALUE the echo must match.
async fn accepted(from: &Node, to: PeerId, request: &kad::protocol::Request) -> bool {
    let exchange = async {
        let mut stream = from.new_stream(to, kad::PROTOCOL).await.ok()?;
        kad::protocol::write_message(&mut stream, &kad::protocol::encode_request(request)).await.ok()?;
        if request.expects_response() {
            let bytes = kad::protocol::read_message(&mut stream).await.ok()?;
            let response = kad::protocol::decode_response(request.message_type(), request.key(), &bytes).ok()?;
            if let kad::protocol::Request::PutValue { record } = request
                && response.record.as_ref() != Some(record)
            {
                return None;
            }
        }
        let ping = kad::protocol::Request::Ping;
        kad::protocol::write_message(&mut stream, &kad::protocol::encode_request(&ping)).await.ok()?;
        kad::protocol::read_message(&mut stream).await.ok()?;
        let _ = stream.shutdown().await;
        Some(())
    };
    within("request", exchange).await.is_some()
}

fn put(key: String) -> kad::protocol::Request {
    kad::protocol::Request::PutValue { record: kad::protocol::Record { key: key.into_bytes(), value: vec![7; 16] } }
}

fn add_provider(node: &Node, key: String) -> kad::protocol::Request {
    let me = kad::protocol::KadPeer { peer: node.peer_id(), addrs: node.listen_addrs() };
    kad::protocol::Request::AddProvider { key: key.into_bytes(), providers: vec![me] }
}

/// Floods the store of `target` from `from`: `count` records and provider
/// records. Returns how many of each it accepted.
async fn flood(from: &Node, target: PeerId, tag: &str, count: usize) -> (usize, usize) {
    let mut records = 0;
    let mut providers = 0;
    for i in 0..count {
        if accepted(from, target, &put(format!("/flood/{tag}/{i}"))).await {
            records += 1;
        }
        if accepted(from, target, &add_provider(from, format!("/flood-p/{tag}/{i}"))).await {
            providers += 1;
        }
    }
    (records, providers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_peer_and_one_ip_leaves_the_node_room_for_its_own_records() {
    let store = kad::store::StoreConfig {
        max_records: 64,
        max_local_records: 16,
        max_records_per_peer: 8,
        max_records_per_ip: 16,
        max_provided_keys: 64,
        max_local_provided_keys: 16,
        max_provider_records_per_peer: 8,
        max_provider_records_per_ip: 16,
        ..Default::default()
    };
    let config = Config { store, validators: open_validators(), ..server_config() };
    let server = loopback_node();
    let server_kad = server.kad(config.clone());
    // A second server, so that the node's own puts have somewhere to go.
    let helper = loopback_node();
    let _helper_kad = helper.kad(Config { validators: open_validators(), ..server_config() });
    within("bootstrap", server_kad.add_bootstrap_peer(addr_of(&helper))).await.expect("joins");

    // One peer floods: it gets its quota, no more.
    let flooder = loopback_node();
    within("dial", flooder.dial(addr_of(&server))).await.expect("dials");
    let (records, providers) = flood(&flooder, server.peer_id(), "one", 40).await;
    assert_eq!((records, providers), (8, 8), "one peer holds at most its quota");
    // Many peer IDs on the same IP (127.0.0.1): together, the IP's quota.
    let mut from_ip = (0, 0);
    for n in 0..10 {
        let sybil = loopback_node();
        within("dial", sybil.dial(addr_of(&server))).await.expect("dials");
        let (r, p) = flood(&sybil, server.peer_id(), &format!("sybil{n}"), 4).await;
        from_ip = (from_ip.0 + r, from_ip.1 + p);
    }
    assert_eq!(from_ip, (8, 8), "the IP holds at most 16, 8 of them the first peer's");
    // The server keeps answering everyone.
    let probe = kad::protocol::Request::FindNode { key: PeerId::random().to_bytes() };
    assert!(accepted(&flooder, server.peer_id(), &probe).await);

    // The node's own records and provider records: all of its budget.
    for i in 0..16 {
        let key = format!("/own/{i}").into_bytes();
        within("put", server_kad.put_value(key.clone(), vec![1; 8])).await.expect("own put succeeds");
        assert_eq!(server_kad.local_record(&key), Some(vec![1; 8]));
        within("provide", server_kad.provide(format!("/own-p/{i}").into_bytes())).await.expect("own provide succeeds");
    }
    // ... and served to others.
    let get = kad::protocol::Request::GetValue { key: b"/own/3".to_vec() };
    let mut stream = within("open", flooder.new_stream(server.peer_id(), kad::PROTOCOL)).await.expect("opens");
    within("write", kad::protocol::write_message(&mut stream, &kad::protocol::encode_request(&get))).await.expect("w");
    let bytes = within("read", kad::protocol::read_message(&mut stream)).await.expect("answered");
    let response = kad::protocol::decode_response(get.message_type(), get.key(), &bytes).expect("decodes");
    assert_eq!(response.record.map(|r| r.value), Some(vec![1; 8]));
    let get = kad::protocol::Request::GetProviders { key: b"/own-p/15".to_vec() };
    let mut stream = within("open", flooder.new_stream(server.peer_id(), kad::PROTOCOL)).await.expect("opens");
    within("write", kad::protocol::write_message(&mut stream, &kad::protocol::encode_request(&get))).await.expect("w");
    let bytes = within("read", kad::protocol::read_message(&mut stream)).await.expect("answered");
    let response = kad::protocol::decode_response(get.message_type(), get.key(), &bytes).expect("decodes");
    assert!(response.providers.iter().any(|p| p.peer == server.peer_id()), "{:?}", response.providers);
}

/// A DHT server that answers every FIND_NODE with `named` at an address
/// where nothing listens.
fn slanderer(node: &Node, named: PeerId) {
    node.set_stream_handler(kad::PROTOCOL, move |mut stream: Stream| async move {
        while let Ok(bytes) = kad::protocol::read_message(&mut stream).await {
            let Ok(request) = kad::protocol::decode_request(&bytes) else { return };
            let bogus = kad::protocol::KadPeer {
                peer: named,
                addrs: (0..16).map(|i| format!("/memory/{}", 3_000_000_000u64 + i).parse().expect("valid")).collect(),
            };
            let response = kad::protocol::Response { closer: vec![bogus], ..Default::default() };
            let bytes = kad::protocol::encode_response(request.message_type(), request.key(), &response);
            if kad::protocol::write_message(&mut stream, &bytes).await.is_err() {
                return;
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bogus_addresses_from_a_third_party_do_not_evict_a_good_peer() {
    use kad::kbucket::Key;
    // The seeker remembers a single peer's addresses in its peer store, so
    // that a good peer's addresses there are soon forgotten: the routing
    // table's entry is then the only place that still has them.
    let seeker_key = Keypair::generate_ed25519();
    let local = Key::from_peer(&seeker_key.peer_id());
    // Three peers not all in one bucket (k = 2).
    let (good, dead, liar) = loop {
        let keys: Vec<Keypair> = (0..3).map(|_| Keypair::generate_ed25519()).collect();
        let buckets: Vec<Option<usize>> =
            keys.iter().map(|k| local.distance(&Key::from_peer(&k.peer_id())).bucket_index()).collect();
        if !(buckets[0] == buckets[1] && buckets[1] == buckets[2]) {
            let mut keys = keys.into_iter();
            break (keys.next().expect("3"), keys.next().expect("3"), keys.next().expect("3"));
        }
    };
    // A target the good peer is the farthest from: it is not among the
    // lookup's 2 seeds, and comes into the lookup only through the liar.
    let target = loop {
        let bytes = PeerId::random().to_bytes();
        let t = Key::from_bytes(&bytes);
        let d = |k: &Keypair| Key::from_peer(&k.peer_id()).distance(&t);
        if d(&good) > d(&dead) && d(&good) > d(&liar) {
            break bytes;
        }
    };
    let build = |key: Keypair| {
        Node::builder().identity(key).listen("/memory/0".parse().expect("valid")).build().expect("starts")
    };
    let seeker = Node::builder()
        .identity(seeker_key)
        .listen("/memory/0".parse().expect("valid"))
        .config(lp2p::Config { max_peers: 1, ..lp2p::Config::default() })
        .build()
        .expect("starts");
    let seeker_kad = seeker.kad(Config { k: 2, ..server_config() });
    let (good, dead, liar) = (build(good), build(dead), build(liar));
    let _good_kad = good.kad(server_config());
    let _dead_kad = dead.kad(server_config());
    slanderer(&liar, good.peer_id());
    for node in [&good, &dead, &liar] {
        within("add", seeker_kad.add_bootstrap_peer(addr_of(node))).await.expect("added");
    }
    let table = seeker_kad.routing_table();
    assert_eq!(table.len(), 3, "{table:?}");
    within("disconnect", seeker.disconnect(good.peer_id())).await;
    within("shutdown", dead.shutdown()).await;

    let found = within("lookup", seeker_kad.get_closest_peers(target)).await.expect("looks up");
    let table = seeker_kad.routing_table();
    assert!(table.contains(&good.peer_id()), "the good peer was evicted on a third party's word: {table:?}");
    assert!(found.peers.iter().any(|p| p.peer == good.peer_id()), "it answered at its own address");
    // A peer that fails at its own address is still evicted.
    assert!(!table.contains(&dead.peer_id()), "{table:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_holding_its_inbound_slots_does_not_stop_another_peers_find_node() {
    let config = Config {
        max_inbound_streams: 8,
        max_inbound_streams_per_peer: 4,
        inbound_idle_timeout: Duration::from_secs(60),
        ..server_config()
    };
    let server = memory_node();
    let _server_kad = server.kad(config);
    let (hog, other) = (memory_node(), memory_node());
    within("dial", hog.dial(addr_of(&server))).await.expect("dials");
    within("dial", other.dial(addr_of(&server))).await.expect("dials");
    // The hog opens 8 streams, sends a PING on each and keeps them open,
    // then starts a next request it never finishes (a slow sender).
    let mut held = Vec::new();
    let mut answered = 0;
    for _ in 0..8 {
        let mut stream = within("open", hog.new_stream(server.peer_id(), kad::PROTOCOL)).await.expect("opens");
        let ping = kad::protocol::encode_request(&kad::protocol::Request::Ping);
        if kad::protocol::write_message(&mut stream, &ping).await.is_ok()
            && within("read", kad::protocol::read_message(&mut stream)).await.is_ok()
        {
            answered += 1;
            within("write", stream.write_all(&[0x20])).await.expect("a length prefix, then nothing");
        }
        held.push(stream);
    }
    assert_eq!(answered, 4, "one peer gets at most its share of the inbound slots");
    // Another peer is still answered.
    let request = kad::protocol::Request::FindNode { key: PeerId::random().to_bytes() };
    let mut stream = within("open", other.new_stream(server.peer_id(), kad::PROTOCOL)).await.expect("opens");
    within("write", kad::protocol::write_message(&mut stream, &kad::protocol::encode_request(&request)))
        .await
        .expect("written");
    let bytes = within("read", kad::protocol::read_message(&mut stream)).await.expect("another peer is answered");
    kad::protocol::decode_response(request.message_type(), request.key(), &bytes).expect("decodes");
    drop(held);
}
