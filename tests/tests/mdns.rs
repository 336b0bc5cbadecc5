//! mDNS discovery across two network namespaces joined by a veth pair (the
//! loopback interface has no multicast by default, and rust-libp2p's mDNS
//! skips loopback): lp2p finds lp2p, lp2p finds rust-libp2p and rust-libp2p
//! finds lp2p, then each dials the other by the discovered address; garbage
//! sprayed on the link changes nothing but a bounded entry for the liar.
//!
//! Creating namespaces needs root (CAP_NET_ADMIN) and the `ip` tool; without
//! them each test prints why, loudly, and returns, except under `CI=true`
//! (CI runs as root), where a test that cannot make its namespaces fails.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use futures::StreamExt;
use lp2p::{Event, Node, PeerId};

/// How long discovery may take: the first queries go out at once, then after
/// 0.5 s, 1 s, 2 s...
const DISCOVERY_LIMIT: Duration = Duration::from_secs(15);

/// Two namespaces, `a` (10.213.0.1) and `b` (10.213.0.2), linked by a veth
/// pair; deleted on drop.
struct Link {
    a: String,
    b: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Link {
    /// The link, or why it cannot be made (then the test is skipped).
    fn new() -> Result<Link, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: network namespaces need CAP_NET_ADMIN".into());
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag = format!("{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let link = Link { a: format!("lp2pmdns{tag}a"), b: format!("lp2pmdns{tag}b") };
        // Interface names are limited to 15 bytes.
        let (va, vb) = (format!("m{tag}a"), format!("m{tag}b"));
        ip(&["netns", "add", &link.a])?;
        ip(&["netns", "add", &link.b])?;
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
        for (ns, dev, addr) in [(&link.a, &va, "10.213.0.1/24"), (&link.b, &vb, "10.213.0.2/24")] {
            ip(&["link", "set", dev, "netns", ns])?;
            ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev])?;
        }
        Ok(link)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so both.
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

/// Whether a test that cannot run must fail: under CI (`CI=true`), where
/// namespaces can always be made, a skip would hide a broken test.
fn skipping_is_a_failure() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

macro_rules! link_or_skip {
    () => {
        match Link::new() {
            Ok(link) => link,
            Err(why) if skipping_is_a_failure() => panic!("CI=true and the namespaces cannot be made: {why}"),
            Err(why) => {
                eprintln!("SKIPPED (this test did not run; under CI=true it fails): {why}");
                println!("SKIPPED: {why}");
                return;
            }
        }
    };
}

/// Runs `f` on a new thread inside namespace `ns` with its own
/// single-threaded runtime, so that every socket it opens is in `ns`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("namespace file");
        // SAFETY: a valid namespace fd; affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns failed: {}", std::io::Error::last_os_error());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(f())
    })
}

/// What one lp2p node saw.
struct Seen {
    /// The addresses `Event::Discovered` gave for the other peer.
    discovered: Vec<lp2p::Multiaddr>,
    /// Whether a ping by peer ID (dialing from the peer store) worked.
    pinged: bool,
    /// Other peers discovered meanwhile, with how many addresses each.
    others: Vec<(PeerId, usize)>,
}

/// An lp2p node with mDNS on `0.0.0.0`: sends its ID, learns the other's,
/// waits to discover it, pings it by ID, then waits at `done` before stopping.
async fn lp2p_peer(
    my_id: mpsc::Sender<PeerId>,
    their_id: mpsc::Receiver<PeerId>,
    done: std::sync::Arc<std::sync::Barrier>,
) -> Result<Seen, String> {
    let node = Node::builder()
        .listen("/ip4/0.0.0.0/tcp/0".parse().map_err(|e| format!("{e}"))?)
        .mdns(true)
        .build()
        .map_err(|e| format!("build: {e}"))?;
    let mut events = node.events();
    my_id.send(node.peer_id()).map_err(|_| "the other side is gone")?;
    let other = tokio::task::spawn_blocking(move || their_id.recv_timeout(DISCOVERY_LIMIT))
        .await
        .map_err(|_| "join")?
        .map_err(|_| "no peer ID from the other side")?;
    let mut others = Vec::new();
    let discovered = tokio::time::timeout(DISCOVERY_LIMIT, async {
        while let Some(event) = events.next().await {
            if let Event::Discovered { peer, addrs } = event {
                if peer == other {
                    return Some(addrs);
                }
                others.push((peer, addrs.len()));
            }
        }
        None
    })
    .await
    .map_err(|_| format!("{other} not discovered in {DISCOVERY_LIMIT:?}"))?
    .ok_or("event stream ended")?;
    let pinged = node.ping(other).await.is_ok();
    tokio::task::spawn_blocking(move || done.wait()).await.map_err(|_| "join")?;
    node.shutdown().await;
    Ok(Seen { discovered, pinged, others })
}

#[test]
fn two_lp2p_nodes_discover_each_other() {
    let link = link_or_skip!();
    let (a_tx, a_rx) = mpsc::channel();
    let (b_tx, b_rx) = mpsc::channel();
    let done = std::sync::Arc::new(std::sync::Barrier::new(2));
    let d = done.clone();
    let a = in_netns(&link.a, move || Box::pin(lp2p_peer(a_tx, b_rx, d)));
    let b = in_netns(&link.b, move || Box::pin(lp2p_peer(b_tx, a_rx, done)));
    let seen_by_a = a.join().expect("thread a").expect("node a");
    let seen_by_b = b.join().expect("thread b").expect("node b");
    assert!(
        seen_by_a.discovered.iter().any(|x| x.to_string().starts_with("/ip4/10.213.0.2/tcp/")),
        "{:?}",
        seen_by_a.discovered
    );
    assert!(
        seen_by_b.discovered.iter().any(|x| x.to_string().starts_with("/ip4/10.213.0.1/tcp/")),
        "{:?}",
        seen_by_b.discovered
    );
    // Loopback addresses are not believed from another host.
    assert!(!seen_by_a.discovered.iter().chain(&seen_by_b.discovered).any(|x| x.to_string().starts_with("/ip4/127.")));
    assert!(seen_by_a.pinged, "a could not ping b by peer ID");
    assert!(seen_by_b.pinged, "b could not ping a by peer ID");
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct RustBehaviour {
    mdns: libp2p::mdns::tokio::Behaviour,
    ping: libp2p::ping::Behaviour,
}

/// A rust-libp2p node with mDNS: sends its ID, waits to discover the lp2p
/// node (`their_id`), dials it and returns the discovered addresses once a
/// connection is up and a ping came back; then serves until `done`.
async fn rust_peer(
    my_id: mpsc::Sender<PeerId>,
    their_id: mpsc::Receiver<PeerId>,
    done: std::sync::Arc<std::sync::Barrier>,
) -> Result<Vec<String>, String> {
    use libp2p::swarm::SwarmEvent;
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(libp2p::tcp::Config::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .map_err(|e| format!("tcp: {e}"))?
        .with_behaviour(|key| {
            let mdns = libp2p::mdns::tokio::Behaviour::new(libp2p::mdns::Config::default(), key.public().to_peer_id())?;
            Ok(RustBehaviour { mdns, ping: libp2p::ping::Behaviour::default() })
        })
        .map_err(|e| format!("behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    swarm.listen_on("/ip4/0.0.0.0/tcp/0".parse().map_err(|e| format!("{e}"))?).map_err(|e| format!("listen: {e}"))?;
    let me = PeerId::from_bytes(&swarm.local_peer_id().to_bytes()).map_err(|e| format!("{e}"))?;
    my_id.send(me).map_err(|_| "the other side is gone")?;
    let other = tokio::task::spawn_blocking(move || their_id.recv_timeout(DISCOVERY_LIMIT))
        .await
        .map_err(|_| "join")?
        .map_err(|_| "no peer ID from the other side")?;
    let other = libp2p::PeerId::from_bytes(&other.to_bytes()).map_err(|e| format!("{e}"))?;
    let mut discovered = Vec::new();
    let mut done_wait = None;
    let deadline = tokio::time::sleep(DISCOVERY_LIMIT * 2);
    tokio::pin!(deadline);
    let mut pinged = false;
    loop {
        tokio::select! {
            _ = &mut deadline => return Err(format!("rust-libp2p: no discovery and ping of {other} (found {discovered:?})")),
            _ = async { done_wait.as_mut().expect("set").await }, if done_wait.is_some() => return Ok(discovered),
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(RustBehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(list))) => {
                    for (peer, addr) in list {
                        if peer == other && !discovered.contains(&addr.to_string()) {
                            discovered.push(addr.to_string());
                            let _ = swarm.dial(addr);
                        }
                    }
                }
                SwarmEvent::Behaviour(RustBehaviourEvent::Ping(libp2p::ping::Event { peer, result: Ok(_), .. }))
                    if peer == other && !pinged && !discovered.is_empty() =>
                {
                    pinged = true;
                    let done = done.clone();
                    done_wait = Some(Box::pin(async move {
                        let _ = tokio::task::spawn_blocking(move || done.wait()).await;
                    }));
                }
                _ => {}
            },
        }
    }
}

fn lp2p_and_rust(lp2p_in_a: bool) {
    let link = link_or_skip!();
    let (l_tx, l_rx) = mpsc::channel();
    let (r_tx, r_rx) = mpsc::channel();
    let done = std::sync::Arc::new(std::sync::Barrier::new(2));
    let d = done.clone();
    let (lp2p_ns, rust_ns) = if lp2p_in_a { (&link.a, &link.b) } else { (&link.b, &link.a) };
    let lp2p = in_netns(lp2p_ns, move || Box::pin(lp2p_peer(l_tx, r_rx, d)));
    let rust = in_netns(rust_ns, move || Box::pin(rust_peer(r_tx, l_rx, done)));
    let seen_by_lp2p = lp2p.join().expect("lp2p thread").expect("lp2p node");
    let seen_by_rust = rust.join().expect("rust thread").expect("rust node");
    println!("lp2p found {:?}; rust-libp2p found {seen_by_rust:?}", seen_by_lp2p.discovered);
    let (lp2p_ip, rust_ip) = if lp2p_in_a { ("10.213.0.1", "10.213.0.2") } else { ("10.213.0.2", "10.213.0.1") };
    assert!(
        seen_by_lp2p.discovered.iter().any(|x| x.to_string().starts_with(&format!("/ip4/{rust_ip}/tcp/"))),
        "lp2p found rust-libp2p at {:?}",
        seen_by_lp2p.discovered
    );
    assert!(
        seen_by_rust.iter().any(|x| x.starts_with(&format!("/ip4/{lp2p_ip}/tcp/"))),
        "rust-libp2p found lp2p at {seen_by_rust:?}"
    );
    assert!(seen_by_lp2p.pinged, "lp2p could not ping rust-libp2p by peer ID");
}

#[test]
fn lp2p_and_rust_libp2p_discover_each_other() {
    lp2p_and_rust(true);
}

/// Garbage on the link: random datagrams, truncated and oversized ones, and
/// a forged response naming a peer with hundreds of addresses.
fn spray_garbage() -> Result<usize, String> {
    use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
    // Bound to b's address, so that the 224.0.0.0/4 route of the veth carries it.
    let socket = UdpSocket::bind("10.213.0.2:0").map_err(|e| format!("bind: {e}"))?;
    let group = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 251), 5353);
    let fake = lp2p::Keypair::generate_ed25519().public().to_peer_id();
    let mut sent = 0;
    let mut seed: u32 = 0x2545_f491;
    let mut next = move || {
        // xorshift: deterministic noise, no extra crates.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    // A well-formed response header (1 answer) followed by noise, then pure noise.
    for round in 0..300usize {
        let len = 1 + (next() as usize % 1500);
        let mut packet: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 && packet.len() >= 12 {
            packet[..12].copy_from_slice(&[0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        }
        socket.send_to(&packet, group).map_err(|e| format!("send: {e}"))?;
        sent += 1;
        if round % 20 == 19 {
            // Paced so the receiver's socket buffer does not overflow: the
            // point is that each datagram reaches the parser.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::thread::sleep(Duration::from_millis(50));
    // A lying response: one PTR, one TXT record with 200 addresses of a peer
    // that does not exist (each must be bounded, none must crash anything).
    let mut packet = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 1];
    let service = b"\x04_p2p\x04_udp\x05local\x00";
    packet.extend_from_slice(service);
    packet.extend_from_slice(&[0, 12, 0, 1, 0, 0, 0, 120]);
    let instance = b"\x04liar\x04_p2p\x04_udp\x05local\x00";
    packet.extend_from_slice(&(instance.len() as u16).to_be_bytes());
    packet.extend_from_slice(instance);
    let mut txt = Vec::new();
    for i in 0..200u32 {
        let s = format!("dnsaddr=/ip4/10.213.0.9/tcp/{}/p2p/{fake}", 1000 + i);
        txt.push(s.len() as u8);
        txt.extend_from_slice(s.as_bytes());
        if txt.len() > 8000 {
            break;
        }
    }
    packet.extend_from_slice(instance);
    packet.extend_from_slice(&[0, 16, 0, 1, 0, 0, 0, 120]);
    packet.extend_from_slice(&(txt.len() as u16).to_be_bytes());
    packet.extend_from_slice(&txt);
    socket.send_to(&packet, group).map_err(|e| format!("send: {e}"))?;
    // Oversized for mDNS (over 9000 bytes).
    socket.send_to(&vec![0u8; 9500], group).map_err(|e| format!("send: {e}"))?;
    Ok(sent + 2)
}

#[test]
fn garbage_on_the_link_does_not_stop_discovery() {
    let link = link_or_skip!();
    let (a_tx, a_rx) = mpsc::channel();
    let (b_tx, b_rx) = mpsc::channel();
    let done = std::sync::Arc::new(std::sync::Barrier::new(2));
    let d = done.clone();
    let a = in_netns(&link.a, move || Box::pin(lp2p_peer(a_tx, b_rx, d)));
    // b sprays garbage at a's node once it runs, then runs a real node.
    let b = in_netns(&link.b, move || {
        Box::pin(async move {
            let a_id = a_rx.recv_timeout(DISCOVERY_LIMIT).map_err(|_| "no peer ID from a")?;
            // Give a's mDNS task a moment to join the group.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let sent = spray_garbage()?;
            let (forward_tx, forward_rx) = mpsc::channel();
            forward_tx.send(a_id).map_err(|_| "channel")?;
            let seen = lp2p_peer(b_tx, forward_rx, done).await?;
            Ok::<_, String>((sent, seen))
        })
    });
    let seen_by_a = a.join().expect("thread a").expect("node a");
    let (sent, seen_by_b) = b.join().expect("thread b").expect("node b");
    assert!(sent > 300);
    assert!(seen_by_a.discovered.iter().any(|x| x.to_string().starts_with("/ip4/10.213.0.2/tcp/")));
    assert!(seen_by_a.pinged && seen_by_b.pinged);
    // The forged response did arrive (so the garbage did too), and its
    // hundreds of addresses were cut to the per-peer bound.
    assert_eq!(seen_by_a.others.len(), 1, "{:?}", seen_by_a.others);
    assert_eq!(seen_by_a.others[0].1, lp2p::protocols::mdns::Config::default().max_addrs_per_peer);
}
