//! AutoNAT v2 end to end on loopback TCP: lp2p servers confirm an lp2p
//! client's address (and unconfirm it when its listener closes), refusals,
//! rate limits, unreachable addresses, a lying server's wrong nonce; and
//! rust-libp2p's AutoNAT v2 (the `libp2p` crate, pinned) as server and as
//! client. Every step has a timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{autonat as rust_autonat, identify, noise, tcp, yamux};
use lp2p::protocols::autonat::{
    self, Autonat, AutonatError, Config, DIAL_BACK_PROTOCOL, DIAL_REQUEST_PROTOCOL, DialResponse, DialStatus, Message,
    ResponseStatus, client::AddrStatus,
};
use lp2p::swarm::{BoxFuture, Event, Handler, Swarm};
use lp2p::wire::frame;
use lp2p::{Keypair, Multiaddr, PeerId, Protocol};
use tokio::io::AsyncWriteExt;
use tokio::sync::{broadcast, mpsc};

const STEP: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// Loopback-friendly settings with short rounds.
fn config(server: bool, client: bool) -> Config {
    Config {
        server,
        client,
        allow_private_addresses: true,
        confirmations: 2,
        probe_interval: Duration::from_millis(200),
        max_probe_interval: Duration::from_millis(600),
        max_requests_per_minute: 10_000,
        max_requests_per_peer_per_minute: 10_000,
        request_timeout: Duration::from_secs(10),
        stream_timeout: Duration::from_secs(5),
        dial_back_timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

struct Peer {
    swarm: Arc<Swarm>,
    autonat: Autonat,
    addr: Multiaddr,
}

impl Peer {
    fn start(config: Config) -> Peer {
        let swarm = Swarm::new(Keypair::generate_ed25519(), lp2p::Config::default());
        let addr = swarm.listen(&"/ip4/127.0.0.1/tcp/0".parse().expect("addr")).expect("listens");
        let autonat = autonat::start(&swarm, config);
        Peer { swarm, autonat, addr }
    }

    fn id(&self) -> PeerId {
        self.swarm.peer_id()
    }

    fn full_addr(&self) -> Multiaddr {
        self.addr.clone().with(Protocol::P2p(self.id()))
    }

    async fn connect(&self, to: &Peer) {
        within("dial", self.swarm.dial(&to.full_addr())).await.expect("dial");
    }
}

/// The next event `pick` accepts.
async fn wait_for(events: &mut broadcast::Receiver<Event>, pick: impl Fn(&Event) -> bool) -> Event {
    loop {
        match events.recv().await {
            Ok(event) if pick(&event) => return event,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("swarm gone"),
        }
    }
}

/// An address on 127.0.0.1 that nothing listens on.
fn closed_port() -> Multiaddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("addr")
}

#[tokio::test]
async fn three_servers_confirm_the_listen_address_and_unconfirm_it_when_it_closes() {
    let servers: Vec<Peer> = (0..3).map(|_| Peer::start(config(true, false))).collect();
    let client = Peer::start(config(false, true));
    let mut events = client.swarm.subscribe();
    for server in &servers {
        client.connect(server).await;
    }
    let listen = client.addr.clone();
    let confirmed = within(
        "confirmation",
        wait_for(&mut events, |e| matches!(e, Event::ExternalAddrConfirmed { addr } if *addr == listen)),
    )
    .await;
    println!("{confirmed:?}");
    assert!(client.swarm.external_addrs().contains(&listen));
    assert!(client.autonat.statuses().contains(&(listen.clone(), AddrStatus::Confirmed)));

    // Closing the listener: the servers' dial-backs fail, and two failures unconfirm it.
    assert!(client.swarm.remove_listener(&listen));
    within(
        "unconfirmation",
        wait_for(&mut events, |e| matches!(e, Event::ExternalAddrExpired { addr } if *addr == listen)),
    )
    .await;
    assert!(!client.swarm.external_addrs().contains(&listen));
    for peer in servers.iter().map(|s| &s.swarm).chain([&client.swarm]) {
        peer.shutdown(Duration::from_secs(2)).await;
    }
}

#[tokio::test]
async fn probes_report_dial_errors_refusals_and_rate_limits() {
    let server = Peer::start(config(true, false));
    let strict = Peer::start(Config { allow_private_addresses: false, ..config(true, false) });
    let limited = Peer::start(Config { max_requests_per_peer_per_minute: 1, ..config(true, false) });
    // No probing rounds here: they would spend the limited server's one request.
    let client = Peer::start(Config { probe_interval: Duration::from_secs(3600), ..config(false, true) });
    for s in [&server, &strict, &limited] {
        client.connect(s).await;
    }

    // A reachable address: OK, with the nonce back, no data (same IP).
    let ok = within("probe", client.autonat.probe(server.id(), vec![client.addr.clone()])).await.expect("probe");
    assert_eq!((ok.dial_status, ok.addr_idx, ok.bytes_sent), (DialStatus::Ok, 0, 0));

    // Nothing listens: E_DIAL_ERROR, and the address is not confirmed.
    let dead = closed_port();
    let failed = within("probe", client.autonat.probe(server.id(), vec![dead.clone()])).await.expect("probe");
    assert_eq!(failed.dial_status, DialStatus::DialError);
    assert_eq!(failed.addr, dead);
    assert!(!client.swarm.external_addrs().contains(&dead));

    // The server picks the first address it is willing to dial.
    let picked = within(
        "probe",
        client.autonat.probe(server.id(), vec!["/dns4/x.invalid/tcp/1".parse().expect("addr"), client.addr.clone()]),
    )
    .await
    .expect("probe");
    assert_eq!((picked.addr_idx, picked.dial_status), (1, DialStatus::Ok));

    // A server that keeps to the spec's default does not dial loopback.
    let refused = within("probe", client.autonat.probe(strict.id(), vec![client.addr.clone()])).await;
    assert!(matches!(refused, Err(AutonatError::Refused(ResponseStatus::DialRefused))), "{refused:?}");

    // One request per minute: the second is rejected.
    within("probe", client.autonat.probe(limited.id(), vec![client.addr.clone()])).await.expect("first probe");
    let rejected = within("probe", client.autonat.probe(limited.id(), vec![client.addr.clone()])).await;
    assert!(matches!(rejected, Err(AutonatError::Refused(ResponseStatus::RequestRejected))), "{rejected:?}");

    // Requests must list 1 to 30 addresses.
    assert!(matches!(client.autonat.probe(server.id(), vec![]).await, Err(AutonatError::InvalidRequest(0))));
    for peer in [&server, &strict, &limited, &client] {
        peer.swarm.shutdown(Duration::from_secs(2)).await;
    }
}

/// A server that dials back with the wrong nonce and then claims success.
fn lying_handler(swarm: std::sync::Weak<Swarm>, client_addr: Multiaddr) -> Handler {
    Arc::new(move |peer: PeerId, _protocol: String, mut stream| -> BoxFuture {
        let swarm = swarm.clone();
        let client_addr = client_addr.clone();
        Box::pin(async move {
            let Some(swarm) = swarm.upgrade() else { return };
            let Ok(bytes) = frame::read_frame(&mut stream, 8192).await else { return };
            let Ok(Message::DialRequest { nonce, .. }) = Message::decode(&bytes) else { return };
            // A new connection (no /p2p/ in the address), then a dial-back stream on it.
            if swarm.dial(&client_addr).await.is_ok()
                && let Ok(mut back) = swarm.new_stream(peer, DIAL_BACK_PROTOCOL).await
            {
                let wrong = lp2p::protocols::autonat::codec::encode_dial_back(nonce.wrapping_add(1));
                let _ = frame::write_frame(&mut back, &wrong).await;
                // The client does not answer a nonce it did not send.
                let _ = frame::read_frame(&mut back, 64).await;
            }
            let lie = DialResponse { status: ResponseStatus::Ok, addr_idx: 0, dial_status: DialStatus::Ok };
            let _ = frame::write_frame(&mut stream, &Message::DialResponse(lie).encode()).await;
            let _ = stream.shutdown().await;
        })
    })
}

#[tokio::test]
async fn a_dial_back_with_the_wrong_nonce_is_not_counted() {
    let client = Peer::start(Config { confirmations: 1, ..config(false, true) });
    let liar = Swarm::new(Keypair::generate_ed25519(), lp2p::Config::default());
    liar.listen(&"/ip4/127.0.0.1/tcp/0".parse().expect("addr")).expect("listens");
    liar.set_stream_handler(
        DIAL_REQUEST_PROTOCOL.to_string(),
        lying_handler(Arc::downgrade(&liar), client.addr.clone()),
    );
    let liar_addr = liar.listen_addrs()[0].clone().with(Protocol::P2p(liar.peer_id()));
    within("dial", client.swarm.dial(&liar_addr)).await.expect("dial");

    let answer = within("probe", client.autonat.probe(liar.peer_id(), vec![client.addr.clone()])).await;
    assert!(matches!(answer, Err(AutonatError::NoDialBack)), "{answer:?}");

    // The probing rounds ask the liar too (confirmations: 1 would confirm
    // at once if its word counted); nothing is confirmed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(client.swarm.external_addrs().is_empty());
    assert!(client.autonat.statuses().iter().all(|(_, status)| *status == AddrStatus::Unknown));
    client.swarm.shutdown(Duration::from_secs(2)).await;
    liar.shutdown(Duration::from_secs(2)).await;
}

// ---------------------------------------------------------------------------
// rust-libp2p's AutoNAT v2, in-process.

#[derive(NetworkBehaviour)]
struct RustServer {
    identify: identify::Behaviour,
    autonat: rust_autonat::v2::server::Behaviour,
}

#[derive(NetworkBehaviour)]
struct RustClient {
    identify: identify::Behaviour,
    autonat: rust_autonat::v2::client::Behaviour,
}

fn to_lp2p(addr: &libp2p::Multiaddr) -> Multiaddr {
    addr.to_string().parse().expect("same text form")
}

fn to_rust(addr: &Multiaddr) -> libp2p::Multiaddr {
    addr.to_string().parse().expect("same text form")
}

macro_rules! rust_swarm {
    ($behaviour:expr) => {{
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
            .expect("tcp")
            .with_behaviour($behaviour)
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr")).expect("listen");
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        (swarm, addr)
    }};
}

#[tokio::test]
async fn rust_libp2p_server_confirms_an_lp2p_address() {
    let (mut rust, rust_addr) = rust_swarm!(|key: &libp2p::identity::Keypair| RustServer {
        identify: identify::Behaviour::new(identify::Config::new("/ipfs/0.1.0".into(), key.public())),
        autonat: rust_autonat::v2::server::Behaviour::default(),
    });
    let rust_id: PeerId = rust.local_peer_id().to_string().parse().expect("peer id");
    let (tx, mut served) = mpsc::channel(16);
    let driver = tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(RustServerEvent::Autonat(event)) = rust.select_next_some().await {
                let _ = tx.send((event.tested_addr.to_string(), event.data_amount, event.result.is_ok())).await;
            }
        }
    });
    let client = Peer::start(Config { confirmations: 1, ..config(false, true) });
    let mut events = client.swarm.subscribe();
    let rust_full = to_lp2p(&rust_addr).with(Protocol::P2p(rust_id));
    within("dial rust", client.swarm.dial(&rust_full)).await.expect("dial");

    // One probe: rust-libp2p asks for dial data (our port is not the observed
    // one), we pay, it dials back on a new connection, our nonce comes back.
    let outcome = within("probe", client.autonat.probe(rust_id, vec![client.addr.clone()])).await.expect("probe");
    assert_eq!(outcome.dial_status, DialStatus::Ok);
    assert!(autonat::DIAL_DATA_RANGE.contains(&outcome.bytes_sent), "{}", outcome.bytes_sent);
    // Our probing rounds may ask too: find the event of this probe.
    let ours = (client.addr.to_string(), outcome.bytes_sent as usize, true);
    within("rust server event", async {
        while let Some(event) = served.recv().await {
            if event == ours {
                return;
            }
        }
        panic!("rust server stopped");
    })
    .await;

    // The probing rounds (rust-libp2p announced the protocol in identify) confirm it.
    let listen = client.addr.clone();
    within(
        "confirmation",
        wait_for(&mut events, |e| matches!(e, Event::ExternalAddrConfirmed { addr } if *addr == listen)),
    )
    .await;
    client.swarm.shutdown(Duration::from_secs(2)).await;
    driver.abort();
}

#[tokio::test]
async fn lp2p_server_confirms_a_rust_libp2p_address() {
    let server = Peer::start(config(true, false));
    let (mut rust, rust_addr) = rust_swarm!(|key: &libp2p::identity::Keypair| RustClient {
        identify: identify::Behaviour::new(identify::Config::new("/ipfs/0.1.0".into(), key.public())),
        // Its probe interval is 5 s; the constructor with a custom one needs a `rand` RNG.
        autonat: rust_autonat::v2::client::Behaviour::default(),
    });
    rust.dial(to_rust(&server.full_addr())).expect("dial starts");
    let mut confirmed = None;
    let mut result = None;
    within("rust client verdict", async {
        while confirmed.is_none() || result.is_none() {
            match rust.select_next_some().await {
                SwarmEvent::ExternalAddrConfirmed { address } => confirmed = Some(address),
                SwarmEvent::Behaviour(RustClientEvent::Autonat(event)) => {
                    result = Some((event.tested_addr.clone(), event.bytes_sent, event.result.is_ok()));
                }
                _ => {}
            }
        }
    })
    .await;
    // Same IP as observed: no dial data; the address tested is its listen address.
    assert_eq!(result, Some((rust_addr.clone(), 0, true)));
    assert_eq!(confirmed, Some(rust_addr));
    server.swarm.shutdown(Duration::from_secs(2)).await;
}
