//! Rendezvous (`/rendezvous/1.0.0`) end to end on loopback TCP: lp2p nodes
//! as point and clients, and against rust-libp2p's rendezvous (the `libp2p`
//! crate, pinned) as point and as client. Every step has a timeout.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, noise, rendezvous, tcp, yamux};
use lp2p::protocols::rendezvous::server::ServerConfig;
use lp2p::protocols::rendezvous::{RendezvousError, Status};
use lp2p::{Error, Multiaddr, Node, PeerId};
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn node(agent: &str) -> Node {
    Node::builder()
        .listen("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .agent_version(agent)
        .build()
        .expect("node starts")
}

fn point() -> Node {
    Node::builder()
        .listen("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .rendezvous_server(ServerConfig::default())
        .build()
        .expect("point starts")
}

async fn connect(from: &Node, to: &Node) -> PeerId {
    within("dial", from.dial(to.listen_addrs_with_peer_id()[0].clone())).await.expect("dial")
}

fn refused(result: Result<impl std::fmt::Debug, Error>) -> Status {
    match result {
        Err(Error::Rendezvous(RendezvousError::Refused { status, .. })) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn register_discover_poll_and_unregister_between_lp2p_nodes() {
    let point = point();
    let (a, b, c) = (node("a"), node("b"), node("c"));
    let p = connect(&a, &point).await;
    connect(&b, &point).await;
    connect(&c, &point).await;

    let ttl = within("register a", a.rendezvous_register(p, "app", None)).await.expect("a registers");
    assert_eq!(ttl, Duration::from_secs(2 * 3600));
    within("register b", b.rendezvous_register(p, "other", Some(Duration::from_secs(3 * 3600))))
        .await
        .expect("b registers");

    let found = within("discover app", c.rendezvous_discover(p, Some("app"), None, None)).await.expect("discover");
    assert_eq!(found.registrations.len(), 1);
    assert_eq!(found.registrations[0].peer, a.peer_id());
    assert_eq!(found.registrations[0].addrs, a.listen_addrs());
    assert_eq!(found.rejected, 0);
    // What discovery found is enough to reach a by its peer ID.
    assert!(!c.is_connected(&a.peer_id()));
    within("ping a by id", c.ping(a.peer_id())).await.expect("c reaches a through the peer store");

    let all = within("discover all", c.rendezvous_discover(p, None, None, None)).await.expect("discover all");
    let mut peers: Vec<PeerId> = all.registrations.iter().map(|r| r.peer).collect();
    peers.sort();
    let mut expected = vec![a.peer_id(), b.peer_id()];
    expected.sort();
    assert_eq!(peers, expected);

    // Polling with the cookie returns only what is new.
    let cookie = found.cookie.expect("a cookie");
    let none = within("poll", c.rendezvous_discover(p, Some("app"), None, Some(&cookie))).await.expect("poll");
    assert!(none.registrations.is_empty());
    within("register b in app", b.rendezvous_register(p, "app", None)).await.expect("b registers in app");
    let new = within("poll again", c.rendezvous_discover(p, Some("app"), None, none.cookie.as_ref()))
        .await
        .expect("poll again");
    assert_eq!(new.registrations.iter().map(|r| r.peer).collect::<Vec<_>>(), vec![b.peer_id()]);

    // Unregister has no answer; the next discovery no longer lists a.
    within("unregister", a.rendezvous_unregister(p, "app")).await.expect("unregister sent");
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let left = within("discover", c.rendezvous_discover(p, Some("app"), None, None)).await.expect("discover");
        if left.registrations.iter().all(|r| r.peer != a.peer_id()) {
            assert_eq!(left.registrations.len(), 1);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a is still registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in [&point, &a, &b, &c] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn the_point_refuses_with_typed_statuses() {
    let config = ServerConfig { max_registrations_per_peer: 1, ..ServerConfig::default() };
    let point = Node::builder()
        .listen("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .rendezvous_server(config)
        .build()
        .expect("point starts");
    let a = node("a");
    let p = connect(&a, &point).await;
    // Below the point's minimum TTL (2 h).
    let short = a.rendezvous_register(p, "app", Some(Duration::from_secs(60))).await;
    assert_eq!(refused(short), Status::InvalidTtl);
    within("register", a.rendezvous_register(p, "app", None)).await.expect("registers");
    assert_eq!(refused(a.rendezvous_register(p, "second", None).await), Status::Unavailable);
    // A cookie of another namespace.
    let found = within("discover", a.rendezvous_discover(p, Some("app"), None, None)).await.expect("discover");
    let cookie = found.cookie.expect("cookie");
    assert_eq!(refused(a.rendezvous_discover(p, Some("second"), None, Some(&cookie)).await), Status::InvalidCookie);
    // Checked before sending: no round trip.
    let long = "n".repeat(256);
    assert!(matches!(
        a.rendezvous_register(p, &long, None).await,
        Err(Error::Rendezvous(RendezvousError::InvalidNamespace))
    ));
    assert!(matches!(
        a.rendezvous_discover(p, Some(""), None, None).await,
        Err(Error::Rendezvous(RendezvousError::InvalidNamespace))
    ));
    // A node that is no rendezvous point.
    let plain = node("plain");
    let q = connect(&a, &plain).await;
    assert!(matches!(a.rendezvous_register(q, "app", None).await, Err(Error::ProtocolNotSupported(_))));
    for n in [&point, &a, &plain] {
        n.shutdown().await;
    }
}

// ---------------------------------------------------------------------------
// rust-libp2p's rendezvous, in-process.

#[derive(NetworkBehaviour)]
struct RustBehaviour {
    identify: identify::Behaviour,
    server: rendezvous::server::Behaviour,
    client: rendezvous::client::Behaviour,
}

enum Command {
    Dial(libp2p::Multiaddr),
    Register(String, libp2p::PeerId),
    Discover(Option<String>, libp2p::PeerId),
}

/// What the rust peer reports.
#[derive(Debug)]
enum Report {
    Connected(libp2p::PeerId),
    Registered(u64),
    RegisterFailed(rendezvous::ErrorCode),
    Discovered(Vec<(libp2p::PeerId, Vec<libp2p::Multiaddr>, String)>),
    DiscoverFailed(rendezvous::ErrorCode),
    PeerRegistered(libp2p::PeerId, String),
}

struct RustPeer {
    peer_id: libp2p::PeerId,
    addr: libp2p::Multiaddr,
    commands: mpsc::Sender<Command>,
    reports: mpsc::Receiver<Report>,
}

impl RustPeer {
    async fn start() -> RustPeer {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
            .expect("tcp")
            .with_behaviour(|key| RustBehaviour {
                identify: identify::Behaviour::new(identify::Config::new("/ipfs/0.1.0".into(), key.public())),
                server: rendezvous::server::Behaviour::new(rendezvous::server::Config::default()),
                client: rendezvous::client::Behaviour::new(key.clone()),
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
        // rust-libp2p's client registers its confirmed external addresses.
        swarm.add_external_address(addr.clone());
        let peer_id = *swarm.local_peer_id();
        let (commands, mut rx) = mpsc::channel::<Command>(16);
        let (tx, reports) = mpsc::channel::<Report>(64);
        tokio::spawn(async move {
            loop {
                let report = tokio::select! {
                    command = rx.recv() => {
                        match command {
                            Some(Command::Dial(addr)) => swarm.dial(addr).expect("dial starts"),
                            Some(Command::Register(ns, point)) => {
                                let ns = rendezvous::Namespace::new(ns).expect("namespace");
                                swarm.behaviour_mut().client.register(ns, point, None).expect("register starts");
                            }
                            Some(Command::Discover(ns, point)) => {
                                let ns = ns.map(|n| rendezvous::Namespace::new(n).expect("namespace"));
                                swarm.behaviour_mut().client.discover(ns, None, None, point);
                            }
                            None => break,
                        }
                        continue;
                    }
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::ConnectionEstablished { peer_id, .. } => Report::Connected(peer_id),
                        SwarmEvent::Behaviour(RustBehaviourEvent::Client(e)) => match e {
                            rendezvous::client::Event::Registered { ttl, .. } => Report::Registered(ttl),
                            rendezvous::client::Event::RegisterFailed { error, .. } => Report::RegisterFailed(error),
                            rendezvous::client::Event::Discovered { registrations, .. } => Report::Discovered(
                                registrations
                                    .into_iter()
                                    .map(|r| (r.record.peer_id(), r.record.addresses().to_vec(), r.namespace.to_string()))
                                    .collect(),
                            ),
                            rendezvous::client::Event::DiscoverFailed { error, .. } => Report::DiscoverFailed(error),
                            _ => continue,
                        },
                        SwarmEvent::Behaviour(RustBehaviourEvent::Server(
                            rendezvous::server::Event::PeerRegistered { peer, registration },
                        )) => Report::PeerRegistered(peer, registration.namespace.to_string()),
                        _ => continue,
                    },
                };
                if tx.send(report).await.is_err() {
                    break;
                }
            }
        });
        RustPeer { peer_id, addr, commands, reports }
    }

    fn full_addr(&self) -> Multiaddr {
        format!("{}/p2p/{}", self.addr, self.peer_id).parse().expect("addr")
    }

    async fn send(&self, command: Command) {
        self.commands.send(command).await.expect("rust peer runs");
    }

    /// The next report that `pick` accepts; others are skipped.
    async fn wait<T>(&mut self, what: &str, mut pick: impl FnMut(Report) -> Option<T>) -> T {
        within(what, async {
            loop {
                let report = self.reports.recv().await.expect("rust peer runs");
                if let Some(v) = pick(report) {
                    return v;
                }
            }
        })
        .await
    }
}

#[tokio::test]
async fn many_peer_ids_on_one_ip_share_its_registration_quota() {
    let config = ServerConfig { max_registrations_per_peer: 2, max_registrations_per_ip: 5, ..ServerConfig::default() };
    let point = Node::builder()
        .listen("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .rendezvous_server(config)
        .build()
        .expect("point starts");
    // Every client connects from 127.0.0.1: one IP, many peer IDs.
    let mut statuses = Vec::new();
    let mut clients = Vec::new();
    for i in 0..4 {
        let client = node(&format!("sybil{i}"));
        let p = connect(&client, &point).await;
        for ns in ["a", "b"] {
            let result = within("register", client.rendezvous_register(p, ns, None)).await;
            statuses.push(match result {
                Ok(_) => Status::Ok,
                Err(e) => refused(Err::<(), _>(e)),
            });
        }
        clients.push(client);
    }
    assert_eq!(statuses.iter().filter(|s| **s == Status::Ok).count(), 5, "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == Status::Unavailable), "{statuses:?}");
    // Discovery keeps working, and a forged cookie past every number is
    // refused with E_INVALID_COOKIE (not wrapped around to the start).
    let asker = &clients[0];
    let p = point.peer_id();
    let found = within("discover", asker.rendezvous_discover(p, Some("a"), None, None)).await.expect("discover");
    assert_eq!(found.registrations.len(), 3);
    let mut forged = u64::MAX.to_be_bytes().to_vec();
    forged.extend_from_slice(b"a");
    let forged = lp2p::protocols::rendezvous::client::Cookie::from_bytes(forged).expect("well formed");
    assert_eq!(refused(asker.rendezvous_discover(p, Some("a"), None, Some(&forged)).await), Status::InvalidCookie);
}

fn to_lp2p(id: libp2p::PeerId) -> PeerId {
    PeerId::from_bytes(&id.to_bytes()).expect("same binary form")
}

fn to_rust(id: PeerId) -> libp2p::PeerId {
    libp2p::PeerId::from_bytes(id.as_bytes()).expect("same binary form")
}

#[tokio::test]
async fn lp2p_clients_use_a_rust_libp2p_point() {
    let mut rust = RustPeer::start().await;
    let (a, b) = (node("a"), node("b"));
    let p = within("dial rust", a.dial(rust.full_addr())).await.expect("dial");
    within("dial rust", b.dial(rust.full_addr())).await.expect("dial");

    let ttl = within("register at rust", a.rendezvous_register(p, "lp2p-app", None)).await.expect("registers");
    assert_eq!(ttl, Duration::from_secs(2 * 3600));
    let (who, ns) = rust
        .wait("rust sees the registration", |r| match r {
            Report::PeerRegistered(peer, ns) => Some((peer, ns)),
            _ => None,
        })
        .await;
    assert_eq!((to_lp2p(who), ns.as_str()), (a.peer_id(), "lp2p-app"));

    let found =
        within("discover at rust", b.rendezvous_discover(p, Some("lp2p-app"), None, None)).await.expect("discovers");
    assert_eq!(found.registrations.len(), 1);
    assert_eq!(found.registrations[0].peer, a.peer_id());
    assert_eq!(found.registrations[0].addrs, a.listen_addrs());
    // rust-libp2p's cookie is accepted back by rust-libp2p.
    let again = within("poll rust", b.rendezvous_discover(p, Some("lp2p-app"), None, found.cookie.as_ref()))
        .await
        .expect("polls");
    assert!(again.registrations.is_empty());
    // rust-libp2p's own TTL bounds.
    assert_eq!(refused(a.rendezvous_register(p, "lp2p-app", Some(Duration::from_secs(60))).await), Status::InvalidTtl);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_rust_libp2p_client_uses_an_lp2p_point() {
    let mut rust = RustPeer::start().await;
    let point = point();
    let a = node("a");
    let p = connect(&a, &point).await;
    within("a registers", a.rendezvous_register(p, "shared", None)).await.expect("a registers");

    rust.send(Command::Dial(point.listen_addrs_with_peer_id()[0].to_string().parse().expect("addr"))).await;
    let connected = rust
        .wait("rust connects", |r| match r {
            Report::Connected(peer) => Some(peer),
            _ => None,
        })
        .await;
    assert_eq!(connected, to_rust(p));
    // Right after connecting (identify may still be in flight): the point
    // waits for identify, so rust-libp2p gets an answer it can decode, from
    // which a's standard-form record is left out.
    rust.send(Command::Discover(Some("shared".into()), to_rust(p))).await;
    let early = rust
        .wait("rust discovers early", |r| match r {
            Report::Discovered(found) => Some(Ok(found)),
            Report::DiscoverFailed(e) => Some(Err(e)),
            _ => None,
        })
        .await
        .expect("rust-libp2p decodes the answer");
    assert!(early.is_empty());
    rust.send(Command::Register("shared".into(), to_rust(p))).await;
    let ttl = rust
        .wait("rust registers", |r| match r {
            Report::Registered(ttl) => Some(Ok(ttl)),
            Report::RegisterFailed(e) => Some(Err(e)),
            _ => None,
        })
        .await
        .expect("rust-libp2p registers at lp2p");
    assert_eq!(ttl, 2 * 3600);

    // rust-libp2p discovers at the lp2p point. It verifies only the legacy
    // envelope form (and drops a whole answer over one record it cannot
    // verify), so the point leaves a's standard-form record out for it.
    rust.send(Command::Discover(Some("shared".into()), to_rust(p))).await;
    let found = rust
        .wait("rust discovers", |r| match r {
            Report::Discovered(found) => Some(Ok(found)),
            Report::DiscoverFailed(e) => Some(Err(e)),
            _ => None,
        })
        .await
        .expect("rust-libp2p discovers at lp2p");
    let peers: Vec<PeerId> = found.iter().map(|(peer, _, _)| to_lp2p(*peer)).collect();
    assert_eq!(peers, vec![to_lp2p(rust.peer_id)]);
    assert!(found.iter().all(|(_, _, ns)| ns == "shared"));

    // lp2p discovers rust-libp2p's registration, and its address.
    let seen = within("lp2p discovers", a.rendezvous_discover(p, Some("shared"), None, None)).await.expect("discovers");
    assert_eq!(seen.registrations.len(), 2, "lp2p verifies both envelope forms");
    let rust_reg = seen.registrations.iter().find(|r| r.peer == to_lp2p(rust.peer_id)).expect("rust is listed");
    assert_eq!(rust_reg.addrs, vec![rust.addr.to_string().parse::<Multiaddr>().expect("addr")]);
    point.shutdown().await;
    a.shutdown().await;
}
