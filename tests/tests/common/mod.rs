//! A rust-libp2p peer (the `libp2p` crate, pinned) running in-process on its
//! own task: TCP + Noise + yamux, ping, identify with a signed peer record,
//! and `/echo/1.0.0` through `libp2p-stream`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::io::{AsyncReadExt as _, AsyncWriteExt as _};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, identify, noise, ping, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

pub const ECHO: StreamProtocol = StreamProtocol::new("/echo/1.0.0");
pub const PERF: StreamProtocol = StreamProtocol::new("/perf/1.0.0");
pub const STEP: Duration = Duration::from_secs(30);

#[derive(NetworkBehaviour)]
struct Behaviour {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
    stream: libp2p_stream::Behaviour,
}

enum Command {
    Dial(Multiaddr, oneshot::Sender<Result<(), String>>),
    Disconnect(PeerId, oneshot::Sender<()>),
}

/// What the rust peer has seen.
#[derive(Default)]
pub struct Seen {
    pub identified: HashMap<PeerId, identify::Info>,
    pub ping_ok: HashMap<PeerId, Duration>,
    pub connected: Vec<PeerId>,
}

/// yamux as rust-libp2p configures it, but with room for the benchmark's
/// 1,000 concurrent streams (the default allows 512).
fn yamux_config() -> yamux::Config {
    let mut config = yamux::Config::default();
    config.set_max_num_streams(2048);
    config
}

/// A handle to the running rust-libp2p peer.
pub struct RustPeer {
    pub peer_id: PeerId,
    pub listen_addr: Multiaddr,
    control: libp2p_stream::Control,
    commands: mpsc::Sender<Command>,
    pub seen: Arc<Mutex<Seen>>,
    /// Woken on every successful ping, so a waiter need not poll `seen`.
    pub ping_notify: Arc<tokio::sync::Notify>,
}

impl RustPeer {
    /// Starts a peer listening on 127.0.0.1 and serving `/echo/1.0.0`.
    pub async fn start() -> RustPeer {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux_config)
            .expect("tcp transport")
            .with_behaviour(|key| Behaviour {
                // rust-libp2p's defaults (a ping at once on each connection,
                // then every 15 s), as a real peer in a benchmark would run.
                ping: ping::Behaviour::new(ping::Config::new()),
                identify: identify::Behaviour::new(identify::Config::new_with_signed_peer_record(
                    "/ipfs/0.1.0".to_string(),
                    key,
                )),
                stream: libp2p_stream::Behaviour::new(),
            })
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr")).expect("listen");
        let listen_addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let peer_id = *swarm.local_peer_id();
        let mut control = swarm.behaviour().stream.new_control();
        let mut incoming = control.accept(ECHO).expect("echo registered once");
        tokio::spawn(async move {
            while let Some((_, stream)) = incoming.next().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    if futures::io::copy(&mut r, &mut w).await.is_ok() {
                        let _ = w.close().await;
                    }
                });
            }
        });
        let mut perf_incoming = control.accept(PERF).expect("perf registered once");
        tokio::spawn(async move {
            while let Some((_, stream)) = perf_incoming.next().await {
                tokio::spawn(serve_perf(stream));
            }
        });
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (tx, mut rx) = mpsc::channel::<Command>(16);
        let seen_by_task = Arc::clone(&seen);
        let ping_notify = Arc::new(tokio::sync::Notify::new());
        let ping_notify_by_task = Arc::clone(&ping_notify);
        tokio::spawn(async move {
            let mut pending_dials: Vec<oneshot::Sender<Result<(), String>>> = Vec::new();
            loop {
                tokio::select! {
                    command = rx.recv() => match command {
                        Some(Command::Dial(addr, reply)) => match swarm.dial(addr) {
                            Ok(()) => pending_dials.push(reply),
                            Err(e) => { let _ = reply.send(Err(e.to_string())); }
                        },
                        Some(Command::Disconnect(peer, reply)) => {
                            let _ = swarm.disconnect_peer_id(peer);
                            let _ = reply.send(());
                        }
                        None => break,
                    },
                    event = swarm.select_next_some() => {
                        let mut seen = seen_by_task.lock().expect("lock");
                        match event {
                            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                                seen.connected.push(peer_id);
                                for reply in pending_dials.drain(..) { let _ = reply.send(Ok(())); }
                            }
                            SwarmEvent::OutgoingConnectionError { error, .. } => {
                                for reply in pending_dials.drain(..) { let _ = reply.send(Err(error.to_string())); }
                            }
                            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                                seen.identified.insert(peer_id, info);
                            }
                            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result: Ok(rtt), .. })) => {
                                seen.ping_ok.insert(peer, rtt);
                                ping_notify_by_task.notify_waiters();
                            }
                            _ => {}
                        }
                    }
                }
            }
        });
        RustPeer { peer_id, listen_addr, control, commands: tx, seen, ping_notify }
    }

    /// The listen address with `/p2p/<id>`.
    pub fn full_addr(&self) -> String {
        format!("{}/p2p/{}", self.listen_addr, self.peer_id)
    }

    /// Dials `addr` and waits for the connection.
    pub async fn dial(&self, addr: &str) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let addr: Multiaddr = addr.parse().map_err(|e| format!("{e}"))?;
        self.commands.send(Command::Dial(addr, tx)).await.map_err(|e| e.to_string())?;
        rx.await.map_err(|e| e.to_string())?
    }

    /// Opens an `/echo/1.0.0` stream to `peer`, as a tokio stream.
    pub async fn open_echo(&self, peer: PeerId) -> Compat<libp2p::Stream> {
        let mut control = self.control.clone();
        control.open_stream(peer, ECHO).await.expect("stream opens").compat()
    }

    /// Waits until `pick` finds something in what the peer has seen.
    pub async fn wait_for<T>(&self, what: &str, mut pick: impl FnMut(&Seen) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            if let Some(v) = pick(&self.seen.lock().expect("lock")) {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Converts a peer ID between the two libraries through its bytes.
pub fn to_rust_peer(id: lp2p::PeerId) -> PeerId {
    PeerId::from_bytes(id.as_bytes()).expect("same binary form")
}

/// Converts a peer ID between the two libraries through its bytes.
pub fn to_lp2p_peer(id: PeerId) -> lp2p::PeerId {
    lp2p::PeerId::from_bytes(&id.to_bytes()).expect("same binary form")
}

/// Reads a futures stream to the end (for echo checks on the rust side).
pub async fn read_all<R: futures::io::AsyncRead + Unpin>(r: &mut R) -> Vec<u8> {
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.expect("read");
    out
}

impl RustPeer {
    /// Closes every connection to `peer`.
    pub async fn disconnect(&self, peer: PeerId) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Disconnect(peer, tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// One `/perf/1.0.0` run as the client: the upload time (first byte to
    /// write side closed) and the download time (then to the last byte).
    pub async fn perf(&self, peer: PeerId, upload: u64, download: u64) -> (Duration, Duration) {
        self.try_perf(peer, upload, download).await.expect("perf run")
    }

    /// [`RustPeer::perf`], returning what failed instead of panicking.
    pub async fn try_perf(&self, peer: PeerId, upload: u64, download: u64) -> Result<(Duration, Duration), String> {
        let mut control = self.control.clone();
        let mut stream = control.open_stream(peer, PERF).await.map_err(|e| format!("open: {e}"))?;
        let started = std::time::Instant::now();
        stream.write_all(&download.to_be_bytes()).await.map_err(|e| format!("header: {e}"))?;
        let chunk = vec![0u8; 64 * 1024];
        let mut left = upload;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            stream.write_all(&chunk[..n]).await.map_err(|e| format!("upload: {e}"))?;
            left -= n as u64;
        }
        stream.close().await.map_err(|e| format!("close: {e}"))?;
        let uploaded = std::time::Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        let mut received = 0u64;
        loop {
            let n = stream.read(&mut buf).await.map_err(|e| format!("download: {e}"))?;
            if n == 0 {
                break;
            }
            received += n as u64;
        }
        if received != download {
            return Err(format!("download length {received}, expected {download}"));
        }
        Ok((uploaded - started, uploaded.elapsed()))
    }
}

/// The perf server over a libp2p stream.
async fn serve_perf(mut stream: libp2p::Stream) {
    let mut header = [0u8; 8];
    if stream.read_exact(&mut header).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    let mut left = u64::from_be_bytes(header);
    let zeros = vec![0u8; 64 * 1024];
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        if stream.write_all(&zeros[..n]).await.is_err() {
            return;
        }
        left -= n as u64;
    }
    let _ = stream.close().await;
}
