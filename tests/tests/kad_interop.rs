//! Kademlia interop on loopback: lp2p DHT servers and rust-libp2p kad
//! servers (libp2p 0.57.1, kad 0.49) in one network. Values put by either are
//! got by the other, providers announced by either are found by the other,
//! and find-peer works across them.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use libp2p::kad::{self, GetProvidersOk, GetRecordOk, QueryId, QueryResult, Quorum, RecordKey};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify, identity, noise, tcp, yamux};
use lp2p::Node;
use lp2p::protocols::kad::{Config, Kad, Mode};
use tokio::sync::{mpsc, oneshot};

const STEP: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
}

enum Command {
    Dial(Multiaddr),
    Bootstrap,
    Put(Vec<u8>, Vec<u8>, oneshot::Sender<bool>),
    Get(Vec<u8>, oneshot::Sender<Option<Vec<u8>>>),
    Provide(Vec<u8>, oneshot::Sender<bool>),
    Providers(Vec<u8>, oneshot::Sender<Vec<PeerId>>),
    Closest(PeerId, oneshot::Sender<Vec<(PeerId, Vec<Multiaddr>)>>),
}

enum Pending {
    Put(oneshot::Sender<bool>),
    Get(oneshot::Sender<Option<Vec<u8>>>),
    Provide(oneshot::Sender<bool>),
    Providers(oneshot::Sender<Vec<PeerId>>),
    Closest(oneshot::Sender<Vec<(PeerId, Vec<Multiaddr>)>>),
}

/// A rust-libp2p kad server on 127.0.0.1.
struct RustKad {
    peer_id: PeerId,
    keypair: identity::Keypair,
    addr: Multiaddr,
    commands: mpsc::Sender<Command>,
}

impl RustKad {
    async fn start() -> RustKad {
        let keypair = identity::Keypair::generate_ed25519();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair.clone())
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
            .expect("tcp transport")
            .with_behaviour(|key| {
                let id = key.public().to_peer_id();
                let mut kad = kad::Behaviour::with_config(
                    id,
                    kad::store::MemoryStore::new(id),
                    kad::Config::new(kad::PROTOCOL_NAME),
                );
                kad.set_mode(Some(kad::Mode::Server));
                Behaviour {
                    identify: identify::Behaviour::new(identify::Config::new("/ipfs/0.1.0".into(), key.public())),
                    kad,
                }
            })
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr")).expect("listen");
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let peer_id = *swarm.local_peer_id();
        let (tx, mut rx) = mpsc::channel::<Command>(16);
        tokio::spawn(async move {
            let mut pending: HashMap<QueryId, Pending> = HashMap::new();
            loop {
                tokio::select! {
                    command = rx.recv() => {
                        let Some(command) = command else { break };
                        let kad = &mut swarm.behaviour_mut().kad;
                        match command {
                            Command::Dial(addr) => { let _ = swarm.dial(addr); }
                            Command::Bootstrap => { let _ = kad.bootstrap(); }
                            Command::Put(key, value, reply) => {
                                match kad.put_record(kad::Record::new(RecordKey::new(&key), value), Quorum::One) {
                                    Ok(id) => { pending.insert(id, Pending::Put(reply)); }
                                    Err(_) => { let _ = reply.send(false); }
                                }
                            }
                            Command::Get(key, reply) => { pending.insert(kad.get_record(RecordKey::new(&key)), Pending::Get(reply)); }
                            Command::Provide(key, reply) => match kad.start_providing(RecordKey::new(&key)) {
                                Ok(id) => { pending.insert(id, Pending::Provide(reply)); }
                                Err(_) => { let _ = reply.send(false); }
                            },
                            Command::Providers(key, reply) => { pending.insert(kad.get_providers(RecordKey::new(&key)), Pending::Providers(reply)); }
                            Command::Closest(peer, reply) => { pending.insert(kad.get_closest_peers(peer), Pending::Closest(reply)); }
                        }
                    }
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }))
                            if info.protocols.iter().any(|p| p.as_ref() == "/ipfs/kad/1.0.0") =>
                        {
                            for addr in info.listen_addrs {
                                swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                            }
                        }
                        SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed { id, result, step, .. })) => {
                            let Some(p) = pending.remove(&id) else { continue };
                            match (p, result) {
                                (Pending::Put(r), QueryResult::PutRecord(res)) => { let _ = r.send(res.is_ok()); }
                                (Pending::Provide(r), QueryResult::StartProviding(res)) => { let _ = r.send(res.is_ok()); }
                                (Pending::Get(r), QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(rec)))) => { let _ = r.send(Some(rec.record.value)); }
                                (Pending::Get(r), QueryResult::GetRecord(_)) => {
                                    if step.last { let _ = r.send(None); } else { pending.insert(id, Pending::Get(r)); }
                                }
                                (Pending::Providers(r), QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { providers, .. }))) => {
                                    let _ = r.send(providers.into_iter().collect());
                                }
                                (Pending::Providers(r), QueryResult::GetProviders(_)) => {
                                    if step.last { let _ = r.send(Vec::new()); } else { pending.insert(id, Pending::Providers(r)); }
                                }
                                (Pending::Closest(r), QueryResult::GetClosestPeers(res)) => {
                                    let peers = match res {
                                        Ok(ok) => ok.peers,
                                        Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                                    };
                                    let _ = r.send(peers.into_iter().map(|p| (p.peer_id, p.addrs)).collect());
                                }
                                (p, _) => { pending.insert(id, p); }
                            }
                        }
                        _ => {}
                    },
                }
            }
        });
        RustKad { peer_id, keypair, addr, commands: tx }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> T {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.expect("rust peer running");
        rx.await.expect("rust peer replies")
    }
}

fn to_rust(id: lp2p::PeerId) -> PeerId {
    PeerId::from_bytes(id.as_bytes()).expect("same binary form")
}

fn to_lp2p(id: PeerId) -> lp2p::PeerId {
    lp2p::PeerId::from_bytes(&id.to_bytes()).expect("same binary form")
}

fn pk_key(peer_bytes: &[u8]) -> Vec<u8> {
    [b"/pk/".as_slice(), peer_bytes].concat()
}

fn lp2p_server() -> (Node, Kad) {
    let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().expect("valid")).build().expect("node starts");
    let kad = node.kad(Config {
        mode: Mode::Server,
        request_timeout: Duration::from_secs(5),
        random_walk_interval: None,
        ..Config::default()
    });
    (node, kad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lp2p_and_rust_libp2p_share_one_dht() {
    let lp2p_nodes: Vec<(Node, Kad)> = (0..3).map(|_| lp2p_server()).collect();
    let first = lp2p_nodes[0].0.listen_addrs_with_peer_id()[0].clone();
    for (_, kad) in &lp2p_nodes[1..] {
        within("lp2p join", kad.add_bootstrap_peer(first.clone())).await.expect("joins");
    }
    let r1 = RustKad::start().await;
    let r2 = RustKad::start().await;
    // Each rust peer joins through an lp2p node; lp2p nodes learn them by identify.
    let _ = r1
        .commands
        .send(Command::Dial(lp2p_nodes[0].0.listen_addrs_with_peer_id()[0].to_string().parse().expect("addr")))
        .await;
    let _ = r2
        .commands
        .send(Command::Dial(lp2p_nodes[2].0.listen_addrs_with_peer_id()[0].to_string().parse().expect("addr")))
        .await;
    within("lp2p sees rust peers", async {
        loop {
            let t0 = lp2p_nodes[0].1.routing_table();
            let t2 = lp2p_nodes[2].1.routing_table();
            if t0.contains(&to_lp2p(r1.peer_id)) && t2.contains(&to_lp2p(r2.peer_id)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for (_, kad) in &lp2p_nodes {
        within("lp2p bootstrap", kad.bootstrap()).await.expect("bootstraps");
    }
    let _ = r1.commands.send(Command::Bootstrap).await;
    let _ = r2.commands.send(Command::Bootstrap).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A value put by lp2p is got by rust-libp2p.
    let (writer, writer_kad) = &lp2p_nodes[2];
    let key = pk_key(writer.peer_id().as_bytes());
    let value = writer.keypair().public().encode_protobuf();
    within("lp2p put", writer_kad.put_value(key.clone(), value.clone())).await.expect("put");
    let got = within("rust get", r1.ask(|tx| Command::Get(key, tx))).await;
    assert_eq!(got, Some(value), "rust-libp2p did not get lp2p's record");

    // A value put by rust-libp2p is got by lp2p.
    let key = pk_key(&r1.peer_id.to_bytes());
    let value = r1.keypair.public().encode_protobuf();
    assert!(within("rust put", r1.ask(|tx| Command::Put(key.clone(), value.clone(), tx))).await, "rust put failed");
    let got = within("lp2p get", lp2p_nodes[1].1.get_value(key, 1)).await.expect("lp2p gets rust's record");
    assert_eq!(got, value);

    // Providers announced by lp2p are found by rust-libp2p.
    let content = b"\x12\x20content-provided-by-lp2p-000000".to_vec();
    within("lp2p provide", lp2p_nodes[0].1.provide(content.clone())).await.expect("provide");
    let providers = within("rust providers", r2.ask(|tx| Command::Providers(content, tx))).await;
    assert!(providers.contains(&to_rust(lp2p_nodes[0].0.peer_id())), "{providers:?}");

    // Providers announced by rust-libp2p are found by lp2p.
    let content = b"\x12\x20content-provided-by-rust-0000000".to_vec();
    assert!(within("rust provide", r2.ask(|tx| Command::Provide(content.clone(), tx))).await, "rust provide failed");
    let providers = within("lp2p providers", lp2p_nodes[1].1.providers(content, 5)).await.expect("providers");
    assert!(providers.iter().any(|p| p.peer == to_lp2p(r2.peer_id) && !p.addrs.is_empty()), "{providers:?}");

    // find-peer both ways: lp2p finds a rust peer's address through the DHT...
    let newcomer = lp2p_server();
    within("newcomer join", newcomer.1.add_bootstrap_peer(first.clone())).await.expect("joins");
    assert!(newcomer.0.peer_info(&to_lp2p(r2.peer_id)).is_none());
    let found = within("lp2p find rust", newcomer.1.find_peer(to_lp2p(r2.peer_id))).await.expect("found");
    assert!(found.iter().any(|a| a.to_string() == r2.addr.to_string()), "{found:?} vs {}", r2.addr);
    // ...and rust-libp2p finds an lp2p peer it never connected to.
    let target = &lp2p_nodes[1].0;
    let closest = within("rust closest", r2.ask(|tx| Command::Closest(to_rust(target.peer_id()), tx))).await;
    let entry = closest.iter().find(|(p, _)| *p == to_rust(target.peer_id()));
    let addrs = entry.map(|(_, a)| a.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap_or_default();
    // rust-libp2p reports the address with `/p2p/<id>` appended.
    let expected = target.listen_addrs_with_peer_id()[0].to_string();
    assert!(addrs.contains(&expected), "{closest:?}");
}
