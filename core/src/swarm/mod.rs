//! The swarm: listeners, dialing, the upgrade pipeline, the pool of live
//! connections, inbound stream dispatch to protocol handlers, and the built-in
//! protocols every node serves (ping, identify, identify push).
//!
//! Each connection is one yamux session whose driver task owns the socket; the
//! swarm holds its [`yamux::Control`] handle. Per connection, one task accepts
//! the remote's streams and one runs identify. All tasks stop on shutdown.
//!
//! Resources: one [`ResourceManager`] admits every connection (inbound before
//! its upgrade, outbound before the socket connects; the peer is set after the
//! upgrade) and every stream (before its protocol is negotiated; the protocol
//! is set after). The connection's guard lives in the task that serves it,
//! the stream's inside [`RawStream`], so each is released when its connection
//! or stream goes. Every refusal is a [`SwarmError::LimitReached`] or a closed
//! connection / reset stream, and an [`Event::ResourceLimitExceeded`]. The
//! [`ConnManager`] is asked after each new connection and every
//! `silence_period` which connections to close over the high watermark.

mod error;
mod limits;
mod stream;
mod upgrade;

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::{Step, SwarmError};
use limits::{AcceptBackoff, IpBlock, Slot, Slots};
pub use stream::RawStream;

use crate::connmgr::{ConnManager, ConnManagerConfig, ConnectionEntry, TagError};
use crate::identity::envelope::SignedEnvelope;
use crate::identity::record::PeerRecord;
use crate::identity::{Keypair, PeerId};
use crate::multiaddr::{Multiaddr, Protocol};
use crate::muxer::yamux;
use crate::negotiate::{self, NegotiationError, Version};
use crate::peerstore::{PeerInfo, PeerStore};
use crate::protocols::{identify, perf, ping};
use crate::rcmgr::{
    ConnectionGuard, Direction, LimitError, Resource, ResourceManager, ResourceManagerConfig, ScopeName,
};
use crate::transport::{self, Listener};

/// A user's handler for inbound streams of one protocol.
pub type Handler = Arc<dyn Fn(PeerId, String, RawStream) -> BoxFuture + Send + Sync>;

/// A built-in protocol's handler for inbound streams that also needs the
/// connection's remote address (AutoNAT compares it with the addresses it is
/// asked to dial).
pub type ConnHandler = Arc<dyn Fn(PeerId, Multiaddr, RawStream) -> BoxFuture + Send + Sync>;

/// The future a handler returns.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Finds addresses of a peer the peer store does not know (a DHT's
/// find-peer): asked by `new_stream` and dialing by peer ID, after the peer store.
pub type PeerRouter = Arc<dyn Fn(PeerId) -> Pin<Box<dyn Future<Output = Vec<Multiaddr>> + Send>> + Send + Sync>;

/// Peers whose observation of our address we remember (identify's
/// `observedAddr`); the oldest is forgotten first.
const MAX_OBSERVERS: usize = 256;

/// Confirmed external addresses we keep (the user's and AutoNAT's).
const MAX_EXTERNAL_ADDRS: usize = 32;

/// How long learned addresses stay in the peer store.
const ADDRESS_TTL: Duration = Duration::from_secs(60 * 60);

/// Limits and timeouts of the swarm.
#[derive(Debug, Clone)]
pub struct Config {
    /// Opening a transport connection.
    pub dial_timeout: Duration,
    /// Each step of the upgrade (security negotiation, handshake, muxer).
    pub upgrade_timeout: Duration,
    /// Opening a stream and negotiating its protocol.
    pub stream_timeout: Duration,
    /// A ping round trip or an identify exchange.
    pub exchange_timeout: Duration,
    /// Connections, streams, memory and descriptors per scope (system,
    /// transient, peer, protocol, per IP), and the allowlist. Default: scaled
    /// from this machine ([`ResourceManagerConfig::auto_scaled`]). The limits
    /// on connections in total and per peer are here (`system.conns`,
    /// `peer_default.conns`).
    pub resource_manager: ResourceManagerConfig,
    /// Which connections to close when too many are open (watermarks, grace
    /// period). Default go-libp2p's: 160 / 192, 1 minute of grace. A high
    /// watermark above `resource_manager.system.conns` is lowered to it.
    pub conn_manager: ConnManagerConfig,
    /// Inbound connections still in their upgrade. Default 256.
    pub max_pending_incoming: usize,
    /// Inbound connections still in their upgrade from one IP address (one
    /// /64 for IPv6, where a host usually owns the whole prefix). Default 16:
    /// a handshake takes milliseconds, so an honest host (or a NAT of a few)
    /// rarely has more in flight, while one address cannot hold more than
    /// 1/16 of the 256 global slots and keep other peers out.
    pub max_pending_incoming_per_ip: usize,
    /// Inbound streams of one connection still negotiating their protocol.
    /// Default 128 (as rust-libp2p): each one is a task waiting up to
    /// `stream_timeout`; a stream over the cap is reset at once, not queued.
    pub max_negotiating_inbound_streams: usize,
    /// Concurrent inbound streams per (peer, protocol) for the protocols
    /// named here; others get `max_inbound_streams_per_protocol`. Default:
    /// ping 2 (the ping spec: a listener accepts at most two per peer);
    /// identify 8 (one exchange per connection, and the resource manager's
    /// default is 8 connections per peer); identify push 4 (a peer pushes when its addresses change, one
    /// at a time); perf 4 (each one is a bulk transfer we serve at full
    /// speed). A stream over its limit is reset.
    pub inbound_stream_limits: HashMap<String, usize>,
    /// Concurrent inbound streams per (peer, protocol) for every protocol not
    /// in `inbound_stream_limits` (user handlers included). Default 256:
    /// above what request-response protocols use in parallel (our own tests
    /// echo on 100 at once), and far under yamux's 8192 streams, so one
    /// protocol cannot take a connection's streams from the others.
    pub max_inbound_streams_per_protocol: usize,
    /// A ping stream on which no ping arrives for this long is closed.
    /// Default 60 s (as go-libp2p): the dialer pings every 15 s (rust-libp2p's
    /// interval), so an honest stream is never idle that long.
    pub ping_idle_timeout: Duration,
    /// yamux settings of every connection.
    pub yamux: yamux::Config,
    /// Sent in identify.
    pub agent_version: String,
    /// Sent in identify.
    pub protocol_version: String,
    /// Events buffered for a slow subscriber before it misses some.
    pub event_capacity: usize,
    /// Peers remembered by the peer store.
    pub max_peers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dial_timeout: Duration::from_secs(10),
            upgrade_timeout: Duration::from_secs(10),
            stream_timeout: Duration::from_secs(10),
            exchange_timeout: Duration::from_secs(20),
            resource_manager: ResourceManagerConfig::default(),
            conn_manager: ConnManagerConfig::default(),
            max_pending_incoming: 256,
            max_pending_incoming_per_ip: 16,
            max_negotiating_inbound_streams: 128,
            inbound_stream_limits: default_inbound_stream_limits(),
            max_inbound_streams_per_protocol: 256,
            ping_idle_timeout: Duration::from_secs(60),
            yamux: yamux::Config::default(),
            agent_version: format!("lp2p/{}", env!("CARGO_PKG_VERSION")),
            protocol_version: "ipfs/0.1.0".to_string(),
            event_capacity: 1024,
            max_peers: 10_000,
        }
    }
}

impl Config {
    /// Limits established and pending connections in total to `max`, in
    /// each direction too (the resource manager's system scope).
    pub fn set_max_connections(&mut self, max: usize) {
        self.resource_manager.set_max_connections(u64::try_from(max).unwrap_or(u64::MAX));
    }

    /// Limits connections to one peer to `max`, in each direction too (the
    /// resource manager's default peer scope).
    pub fn set_max_connections_per_peer(&mut self, max: usize) {
        self.resource_manager.set_max_connections_per_peer(u64::try_from(max).unwrap_or(u64::MAX));
    }
}

/// The per-(peer, protocol) inbound stream limits of the built-in protocols.
fn default_inbound_stream_limits() -> HashMap<String, usize> {
    [(ping::PROTOCOL, 2), (identify::PROTOCOL, 8), (identify::PUSH_PROTOCOL, 4), (perf::PROTOCOL, 4)]
        .into_iter()
        .map(|(protocol, limit)| (protocol.to_string(), limit))
        .collect()
}

/// The slots an inbound handshake holds until its upgrade ends.
struct HandshakeSlots {
    _ip: Option<Slot<IpBlock>>,
    _global: tokio::sync::OwnedSemaphorePermit,
}

/// Identifies one connection of this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Something that happened in the swarm.
#[derive(Debug, Clone)]
pub enum Event {
    /// A connection finished its upgrade.
    ConnectionEstablished {
        /// The remote peer.
        peer: PeerId,
        /// Which connection.
        connection: ConnectionId,
        /// The remote address.
        addr: Multiaddr,
        /// Whether we dialed it.
        outbound: bool,
    },
    /// A connection closed.
    ConnectionClosed {
        /// The remote peer.
        peer: PeerId,
        /// Which connection.
        connection: ConnectionId,
        /// The remote address.
        addr: Multiaddr,
    },
    /// We listen on a new address.
    NewListenAddr {
        /// The address, without `/p2p/`.
        addr: Multiaddr,
    },
    /// We no longer listen on an address.
    ExpiredListenAddr {
        /// The address, without `/p2p/`.
        addr: Multiaddr,
    },
    /// A peer answered identify (or pushed an update).
    Identified {
        /// The peer.
        peer: PeerId,
        /// What it said, verified.
        info: Box<identify::Info>,
    },
    /// Discovery (mDNS) found a peer, or new addresses of it; they are in
    /// the peer store, so the peer can be dialed by its ID.
    Discovered {
        /// The peer.
        peer: PeerId,
        /// The addresses found, without `/p2p/`.
        addrs: Vec<Multiaddr>,
    },
    /// A resource limit refused a connection, a stream or memory (the
    /// resource manager's [`LimitError`]): the connection was closed, the
    /// stream reset, or the dial or `new_stream` failed with
    /// [`SwarmError::LimitReached`].
    ResourceLimitExceeded {
        /// The scope whose limit was hit.
        scope: ScopeName,
        /// The resource.
        resource: Resource,
        /// The limit.
        limit: u64,
        /// What the scope held when it refused.
        current: u64,
    },
    /// An address others can reach us on was confirmed (by AutoNAT, or added
    /// by the application); it is now announced in identify and our peer record.
    ExternalAddrConfirmed {
        /// The address, without `/p2p/`.
        addr: Multiaddr,
    },
    /// A confirmed external address is no longer confirmed.
    ExternalAddrExpired {
        /// The address, without `/p2p/`.
        addr: Multiaddr,
    },
}

/// A live connection.
#[derive(Clone)]
struct Connection {
    id: ConnectionId,
    remote_addr: Multiaddr,
    /// Answer the remote's identify only after it answered ours (bounded):
    /// see [`Swarm::await_remote_identify`].
    answer_after_identify: bool,
    control: yamux::Control,
    /// When the upgrade finished (the connection manager's grace period).
    opened_at: Instant,
}

/// How long, on a connection we dialed, an identify answer waits for our own
/// identify of the remote (see [`Swarm::await_remote_identify`]).
const IDENTIFY_ANSWER_WAIT: Duration = Duration::from_secs(2);

/// Our current peer record, sealed in both envelope forms.
#[derive(Default, Clone)]
struct SignedRecords {
    /// Domain `libp2p-peer-record`, type 0x0301: go-libp2p, js-libp2p.
    standard: Option<SignedEnvelope>,
    /// Domain `libp2p-routing-state`: the only form rust-libp2p 0.57 verifies.
    legacy: Option<SignedEnvelope>,
}

/// The agent-version prefix of rust-libp2p's identify.
const RUST_LIBP2P_AGENT: &str = "rust-libp2p/";

struct ListenerEntry {
    id: u64,
    addr: Multiaddr,
    stop: CancellationToken,
}

/// The swarm state shared by the node's handles and tasks.
pub struct Swarm {
    keypair: Keypair,
    peer_id: PeerId,
    config: Config,
    handlers: RwLock<HashMap<String, Handler>>,
    conn_handlers: RwLock<HashMap<String, ConnHandler>>,
    peer_router: RwLock<Option<PeerRouter>>,
    connections: Mutex<HashMap<PeerId, Vec<Connection>>>,
    peerstore: Mutex<PeerStore>,
    listeners: Mutex<Vec<ListenerEntry>>,
    signed_record: Mutex<SignedRecords>,
    /// Confirmed external addresses, oldest first.
    external: Mutex<Vec<Multiaddr>>,
    /// What each peer last observed as our address, oldest observation first.
    observed: Mutex<Vec<(PeerId, Multiaddr)>>,
    events: broadcast::Sender<Event>,
    pending_incoming: Arc<Semaphore>,
    /// Handshakes in flight per remote IP block.
    pending_by_ip: Arc<Slots<IpBlock>>,
    /// Inbound streams being served, per (peer, protocol).
    inbound_streams: Arc<Slots<(PeerId, String)>>,
    /// Counts connections and streams per scope; every connection and
    /// stream holds a guard of it.
    rcmgr: ResourceManager,
    /// Tags, protections, and which connections to close over the high watermark.
    connmgr: Mutex<ConnManager>,
    /// Whether the connection manager's periodic check runs (started with
    /// the first connection, inside the runtime).
    trim_timer_started: AtomicBool,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data (every
    // critical section is a few map operations), so poisoning is ignored.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Swarm {
    /// A swarm with no listeners and no connections.
    pub fn new(keypair: Keypair, config: Config) -> Arc<Swarm> {
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let rcmgr = ResourceManager::new(config.resource_manager.clone());
        let connmgr =
            ConnManager::new(fit_watermarks(config.conn_manager.clone(), config.resource_manager.system.conns));
        let swarm = Arc::new(Swarm {
            peer_id: keypair.public().to_peer_id(),
            keypair,
            handlers: RwLock::new(HashMap::new()),
            conn_handlers: RwLock::new(HashMap::new()),
            peer_router: RwLock::new(None),
            connections: Mutex::new(HashMap::new()),
            peerstore: Mutex::new(PeerStore::new(config.max_peers)),
            listeners: Mutex::new(Vec::new()),
            signed_record: Mutex::new(SignedRecords::default()),
            external: Mutex::new(Vec::new()),
            observed: Mutex::new(Vec::new()),
            events,
            pending_incoming: Arc::new(Semaphore::new(config.max_pending_incoming)),
            pending_by_ip: Slots::new(),
            inbound_streams: Slots::new(),
            rcmgr,
            connmgr: Mutex::new(connmgr),
            trim_timer_started: AtomicBool::new(false),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            next_id: AtomicU64::new(1),
            config,
        });
        // Weak: the manager (and so the hook) outlives the swarm while a
        // guard is held, and must not keep the swarm's events open.
        let weak = Arc::downgrade(&swarm);
        swarm.rcmgr.set_limit_hook(move |error| {
            if let Some(swarm) = weak.upgrade() {
                swarm.emit(limit_event(error));
            }
        });
        swarm
    }

    /// The resource manager (for its `stats()`).
    pub fn resource_manager(&self) -> &ResourceManager {
        &self.rcmgr
    }

    /// Our peer ID.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Our key pair.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A new subscription to events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Runs a node service (such as mDNS) on the swarm's tasks until the swarm
    /// shuts down. Call inside the node's runtime.
    pub(crate) fn spawn_service(&self, service: impl std::future::Future<Output = ()> + Send + 'static) {
        let stop = self.shutdown.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = service => {}
            }
        });
    }

    pub(crate) fn emit(&self, event: Event) {
        // No subscriber is fine: events are informational.
        let _ = self.events.send(event);
    }

    fn is_shut_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    // ---- listening ----

    /// Binds `addr` and starts accepting connections on it. Returns the bound address.
    /// Must be called inside the node's runtime.
    pub fn listen(self: &Arc<Self>, addr: &Multiaddr) -> Result<Multiaddr, SwarmError> {
        if self.is_shut_down() {
            return Err(SwarmError::Shutdown);
        }
        let listener = Listener::bind(&transport::without_p2p(addr))?;
        let bound = listener.local_addr().clone();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let stop = self.shutdown.child_token();
        lock(&self.listeners).push(ListenerEntry { id, addr: bound.clone(), stop: stop.clone() });
        self.refresh_signed_record();
        for addr in transport::reachable_addrs(&bound) {
            self.emit(Event::NewListenAddr { addr });
        }
        let swarm = Arc::clone(self);
        self.tasks.spawn(async move { swarm.accept_loop(id, listener, stop).await });
        self.push_identify_to_all();
        Ok(bound)
    }

    /// Stops listening on `addr`. Returns whether it was a listen address.
    pub fn remove_listener(&self, addr: &Multiaddr) -> bool {
        let entry = lock(&self.listeners).iter().find(|l| &l.addr == addr).map(|l| l.stop.clone());
        match entry {
            Some(stop) => {
                stop.cancel();
                true
            }
            None => false,
        }
    }

    /// The addresses we listen on (without `/p2p/`). A listener on an
    /// unspecified IP is listed under each interface address.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        lock(&self.listeners).iter().flat_map(|l| transport::reachable_addrs(&l.addr)).collect()
    }

    /// Accepts connections until `stop`: only cancellation ends it. A failed
    /// accept (out of file descriptors or memory, an aborted connection) is
    /// tried again after a back-off, so the listener outlives the flood.
    async fn accept_loop(self: Arc<Self>, id: u64, mut listener: Listener, stop: CancellationToken) {
        let mut backoff = AcceptBackoff::new();
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let raw = match accepted {
                Ok(raw) => {
                    backoff.succeeded();
                    raw
                }
                Err(e) => {
                    let delay = backoff.failed();
                    tracing::warn!(error = %e, addr = %listener.local_addr(), ?delay, "accept failed; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
            };
            // Handshake slots first: they share the transient scope fairly
            // among IPs, so one address cannot fill it and keep others out.
            let Some(slots) = self.admit_handshake(&raw.remote_addr) else { continue };
            let (uses_fd, ip) = connection_resources(&raw.remote_addr);
            let guard = match self.rcmgr.open_connection(Direction::Inbound, uses_fd, ip) {
                Ok(guard) => guard,
                Err(e) => {
                    // Dropping `raw` closes the socket; the hook emitted the event.
                    tracing::debug!(remote = %raw.remote_addr, error = %e, "inbound connection over a resource limit");
                    continue;
                }
            };
            let swarm = Arc::clone(&self);
            self.tasks.spawn(async move {
                let remote = raw.remote_addr.clone();
                let upgraded =
                    upgrade::inbound(raw.io, &swarm.keypair, &swarm.config.yamux, swarm.config.upgrade_timeout).await;
                drop(slots);
                match upgraded {
                    Ok(up) => {
                        if let Err(e) = swarm.register(up, remote.clone(), false, guard) {
                            tracing::debug!(%remote, error = %e, "inbound connection refused");
                        }
                    }
                    Err(e) => tracing::debug!(%remote, error = %e, "inbound upgrade failed"),
                }
            });
        }
        let addr = {
            let mut listeners = lock(&self.listeners);
            let pos = listeners.iter().position(|l| l.id == id);
            pos.map(|pos| listeners.remove(pos).addr)
        };
        if let Some(addr) = addr {
            self.refresh_signed_record();
            for addr in transport::reachable_addrs(&addr) {
                self.emit(Event::ExpiredListenAddr { addr });
            }
        }
    }

    /// Takes a handshake slot for a connection from `remote`: one of its IP
    /// block's (so one address cannot hold them all) and one of the global
    /// ones. `None` means drop the newcomer rather than queue it.
    fn admit_handshake(&self, remote: &Multiaddr) -> Option<HandshakeSlots> {
        let ip = match IpBlock::of_addr(remote) {
            Some(block) => {
                let slot = self.pending_by_ip.try_acquire(block, self.config.max_pending_incoming_per_ip);
                if slot.is_none() {
                    tracing::debug!(%remote, "too many pending inbound connections from this address; dropping");
                    return None;
                }
                slot
            }
            None => None,
        };
        let Ok(global) = Arc::clone(&self.pending_incoming).try_acquire_owned() else {
            tracing::debug!(%remote, "too many pending inbound connections; dropping");
            return None;
        };
        Some(HandshakeSlots { _ip: ip, _global: global })
    }

    // ---- dialing ----

    /// Dials `addr` (with or without `/p2p/`), or reuses a live connection to
    /// the peer it names. Returns the remote peer.
    pub async fn dial(self: &Arc<Self>, addr: &Multiaddr) -> Result<PeerId, SwarmError> {
        if self.is_shut_down() {
            return Err(SwarmError::Shutdown);
        }
        let expected = addr.iter().last().and_then(|p| match p {
            Protocol::P2p(peer) => Some(peer),
            _ => None,
        });
        if expected == Some(self.peer_id) {
            return Err(SwarmError::DialSelf);
        }
        if let Some(peer) = expected
            && self.connection(&peer).is_some()
        {
            return Ok(peer);
        }
        Ok(self.dial_new(addr, expected).await?.0)
    }

    /// Dials `addr` on a new connection (never an existing one) and opens a
    /// stream for `protocol` on it: AutoNAT's dial-back, which must prove
    /// that this very address is reachable. The caller closes the
    /// connection with [`Swarm::close_connection`].
    pub(crate) async fn dial_back(
        self: &Arc<Self>,
        addr: &Multiaddr,
        peer: Option<PeerId>,
        protocol: &str,
    ) -> Result<(ConnectionId, RawStream), SwarmError> {
        if self.is_shut_down() {
            return Err(SwarmError::Shutdown);
        }
        let (remote, id) = self.dial_new(addr, peer).await?;
        let control = lock(&self.connections)
            .get(&remote)
            .and_then(|list| list.iter().find(|c| c.id == id).map(|c| c.control.clone()));
        let Some(control) = control else {
            // It closed between the handshake and now.
            return Err(SwarmError::Io(std::io::ErrorKind::NotConnected.into()));
        };
        match self.open_on(remote, &control, protocol).await {
            Ok(stream) => Ok((id, stream)),
            Err(e) => {
                self.close_connection(id).await;
                Err(e)
            }
        }
    }

    async fn dial_new(
        self: &Arc<Self>,
        addr: &Multiaddr,
        expected: Option<PeerId>,
    ) -> Result<(PeerId, ConnectionId), SwarmError> {
        let (uses_fd, ip) = connection_resources(addr);
        let guard = self.rcmgr.open_connection(Direction::Outbound, uses_fd, ip)?;
        let raw = match tokio::time::timeout(self.config.dial_timeout, transport::dial(addr)).await {
            Ok(result) => result?,
            Err(_) => return Err(SwarmError::Timeout(Step::Connect)),
        };
        let remote = raw.remote_addr.clone();
        let up = tokio::select! {
            _ = self.shutdown.cancelled() => return Err(SwarmError::Shutdown),
            up = upgrade::outbound(raw.io, &self.keypair, expected, &self.config.yamux, self.config.upgrade_timeout) => up?,
        };
        if up.peer == self.peer_id {
            up.control.close().await;
            return Err(SwarmError::DialSelf);
        }
        let peer = up.peer;
        let id = self.register(up, remote, true, guard)?;
        Ok((peer, id))
    }

    /// A live connection to `peer`, if any (the newest).
    fn connection(&self, peer: &PeerId) -> Option<Connection> {
        let mut conns = lock(&self.connections);
        let list = conns.get_mut(peer)?;
        list.retain(|c| !c.control.is_closed());
        list.last().cloned()
    }

    /// A live connection to `peer`, dialing a known address when there is none.
    async fn connection_or_dial(self: &Arc<Self>, peer: PeerId) -> Result<Connection, SwarmError> {
        if let Some(conn) = self.connection(&peer) {
            return Ok(conn);
        }
        if peer == self.peer_id {
            return Err(SwarmError::DialSelf);
        }
        let mut addrs = lock(&self.peerstore).addrs(&peer, Instant::now());
        if addrs.is_empty() {
            addrs = self.route(peer).await;
        }
        let mut last = None;
        for addr in addrs {
            match self.dial_new(&addr, Some(peer)).await {
                Ok(_) => {
                    if let Some(conn) = self.connection(&peer) {
                        return Ok(conn);
                    }
                }
                // Every address meets the same system and peer limits.
                Err(e @ SwarmError::LimitReached(_)) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e) => Err(SwarmError::Unreachable { peer, last: Box::new(e) }),
            None => Err(SwarmError::NoAddresses(peer)),
        }
    }

    /// Sets (or removes) the router asked for a peer the peer store does not know.
    pub fn set_peer_router(&self, router: Option<PeerRouter>) {
        *self.peer_router.write().unwrap_or_else(|p| p.into_inner()) = router;
    }

    /// Addresses of `peer` from the router, if one is set (bounded by the exchange timeout).
    async fn route(&self, peer: PeerId) -> Vec<Multiaddr> {
        let router = self.peer_router.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(router) = router else { return Vec::new() };
        let found = tokio::time::timeout(self.config.exchange_timeout, router(peer)).await.unwrap_or_default();
        if !found.is_empty() {
            lock(&self.peerstore).add_addrs(peer, &found, ADDRESS_TTL, Instant::now());
        }
        found
    }

    /// Whether we have a live connection to `peer`.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.connection(peer).is_some()
    }

    /// Peers with at least one live connection.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        let conns = lock(&self.connections);
        conns.iter().filter(|(_, list)| list.iter().any(|c| !c.control.is_closed())).map(|(p, _)| *p).collect()
    }

    /// Closes one connection. Returns whether it was open.
    pub async fn close_connection(&self, id: ConnectionId) -> bool {
        let control = lock(&self.connections)
            .values()
            .flat_map(|list| list.iter())
            .find(|c| c.id == id)
            .map(|c| c.control.clone());
        match control {
            Some(control) => {
                control.close().await;
                true
            }
            None => false,
        }
    }

    /// Closes every connection to `peer`.
    pub async fn disconnect(&self, peer: &PeerId) {
        let list = lock(&self.connections).remove(peer).unwrap_or_default();
        if !list.is_empty() {
            lock(&self.connmgr).peer_disconnected(*peer);
        }
        for conn in list {
            conn.control.close().await;
        }
    }

    // ---- connection lifecycle ----

    fn register(
        self: &Arc<Self>,
        up: upgrade::Upgraded,
        remote: Multiaddr,
        outbound: bool,
        mut guard: ConnectionGuard,
    ) -> Result<ConnectionId, SwarmError> {
        let upgrade::Upgraded { peer, public_key, control, incoming, remote_offered_muxers } = up;
        // Two lp2p nodes both offer muxers, and then only the dialer waits, so
        // they never wait on each other.
        let answer_after_identify = outbound || !remote_offered_muxers;
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let opened_at = Instant::now();
        {
            // The peer's connection limit is checked as the connection moves
            // from the transient scope to the peer's.
            let refusal = match guard.set_peer(peer) {
                Err(e) => Some(SwarmError::LimitReached(e)),
                Ok(()) if self.is_shut_down() => Some(SwarmError::Shutdown),
                Ok(()) => None,
            };
            if let Some(err) = refusal {
                let control = control.clone();
                tokio::spawn(async move { control.close().await });
                return Err(err);
            }
            lock(&self.connections).entry(peer).or_default().push(Connection {
                id,
                remote_addr: remote.clone(),
                answer_after_identify,
                control: control.clone(),
                opened_at,
            });
        }
        {
            let mut store = lock(&self.peerstore);
            if let Err(e) = store.set_public_key(peer, public_key) {
                tracing::debug!(%peer, error = %e, "public key not stored");
            }
            if outbound {
                store.add_addrs(peer, std::slice::from_ref(&remote), ADDRESS_TTL, Instant::now());
            }
        }
        self.emit(Event::ConnectionEstablished { peer, connection: id, addr: remote.clone(), outbound });
        let swarm = Arc::clone(self);
        let conn = Connection { id, remote_addr: remote, answer_after_identify, control, opened_at };
        self.tasks.spawn(async move { swarm.serve_connection(peer, conn, incoming, guard).await });
        let swarm = Arc::clone(self);
        self.tasks.spawn(async move { swarm.identify_peer(peer).await });
        self.start_trim_timer();
        self.trim_connections(false);
        Ok(id)
    }

    // ---- connection manager ----

    /// Closes the connections the connection manager picks: if `force`,
    /// down to the low watermark now; else only if a trim is due (above the
    /// high watermark, the silence period passed). Returns how many it closes.
    fn trim_connections(self: &Arc<Self>, force: bool) -> usize {
        let entries: Vec<ConnectionEntry<ConnectionId>> = lock(&self.connections)
            .iter()
            .flat_map(|(peer, list)| {
                list.iter().filter(|c| !c.control.is_closed()).map(|c| ConnectionEntry {
                    key: c.id,
                    peer: *peer,
                    opened_at: c.opened_at,
                })
            })
            .collect();
        let now = Instant::now();
        let chosen = {
            let mut connmgr = lock(&self.connmgr);
            if force { connmgr.trim(now, &entries) } else { connmgr.poll_trim(now, &entries) }
        };
        if chosen.is_empty() {
            return 0;
        }
        tracing::debug!(closing = chosen.len(), open = entries.len(), "connection manager trims");
        let controls: Vec<yamux::Control> = lock(&self.connections)
            .values()
            .flat_map(|list| list.iter())
            .filter(|c| chosen.contains(&c.id))
            .map(|c| c.control.clone())
            .collect();
        let closing = controls.len();
        for control in controls {
            self.tasks.spawn(async move { control.close().await });
        }
        closing
    }

    /// Starts the connection manager's periodic check, once (inside the runtime).
    fn start_trim_timer(self: &Arc<Self>) {
        if self.trim_timer_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let interval = lock(&self.connmgr).check_interval().max(Duration::from_millis(100));
        // Weak: the timer must not keep a dropped swarm alive.
        let weak = Arc::downgrade(self);
        let stop = self.shutdown.clone();
        self.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                let Some(swarm) = weak.upgrade() else { return };
                swarm.trim_connections(false);
            }
        });
    }

    /// Closes connections down to the connection manager's low watermark
    /// now (go's `TrimOpenConns`), sparing protected peers and connections in
    /// their grace period. Returns how many it closes.
    pub fn trim_open_connections(self: &Arc<Self>) -> usize {
        self.trim_connections(true)
    }

    /// Sets `peer`'s tag `tag` to `value`: the connection manager closes
    /// connections of lower-valued peers first.
    pub fn tag_peer(&self, peer: PeerId, tag: &str, value: i64) -> Result<(), TagError> {
        lock(&self.connmgr).tag_peer(peer, tag, value)
    }

    /// Removes `peer`'s tag `tag`.
    pub fn untag_peer(&self, peer: PeerId, tag: &str) {
        lock(&self.connmgr).untag_peer(peer, tag)
    }

    /// The sum of `peer`'s tags.
    pub fn peer_value(&self, peer: PeerId) -> i64 {
        lock(&self.connmgr).peer_value(peer)
    }

    /// Keeps the connection manager from closing `peer`'s connections, under `tag`.
    pub fn protect_peer(&self, peer: PeerId, tag: &str) -> Result<(), TagError> {
        lock(&self.connmgr).protect(peer, tag)
    }

    /// Removes protection `tag` from `peer`; returns whether another tag still protects it.
    pub fn unprotect_peer(&self, peer: PeerId, tag: &str) -> bool {
        lock(&self.connmgr).unprotect(peer, tag)
    }

    /// Whether `peer` is protected under `tag`, or under any tag if `None`.
    pub fn is_protected(&self, peer: PeerId, tag: Option<&str>) -> bool {
        lock(&self.connmgr).is_protected(peer, tag)
    }

    /// Accepts the remote's streams until the connection ends, then cleans up.
    async fn serve_connection(
        self: Arc<Self>,
        peer: PeerId,
        conn: Connection,
        mut incoming: yamux::Incoming,
        guard: ConnectionGuard,
    ) {
        let negotiating = Arc::new(Semaphore::new(self.config.max_negotiating_inbound_streams));
        loop {
            let stream = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                stream = incoming.next() => stream,
            };
            let Some(mut stream) = stream else { break };
            let stream_guard = match self.rcmgr.open_stream(peer, Direction::Inbound) {
                Ok(guard) => guard,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "inbound stream over a resource limit; resetting");
                    stream.reset();
                    continue;
                }
            };
            // Each negotiation is a task waiting up to the stream timeout: over
            // the cap, reset the stream now rather than queue work for it.
            let Ok(permit) = Arc::clone(&negotiating).try_acquire_owned() else {
                tracing::debug!(%peer, "too many inbound streams negotiating; resetting");
                stream.reset();
                continue;
            };
            let swarm = Arc::clone(&self);
            let observed = conn.remote_addr.clone();
            let wait = conn.answer_after_identify;
            self.tasks.spawn(async move {
                swarm.handle_inbound_stream(peer, observed, wait, stream, stream_guard, permit).await
            });
        }
        conn.control.close().await;
        let last = {
            let mut conns = lock(&self.connections);
            match conns.get_mut(&peer) {
                Some(list) => {
                    list.retain(|c| c.id != conn.id);
                    let last = list.is_empty();
                    if last {
                        conns.remove(&peer);
                    }
                    last
                }
                None => false,
            }
        };
        if last {
            lock(&self.connmgr).peer_disconnected(peer);
        }
        drop(guard);
        self.emit(Event::ConnectionClosed { peer, connection: conn.id, addr: conn.remote_addr });
    }

    /// Every protocol we answer on inbound streams.
    pub fn supported_protocols(&self) -> Vec<String> {
        let mut protocols =
            vec![ping::PROTOCOL.to_string(), identify::PROTOCOL.to_string(), identify::PUSH_PROTOCOL.to_string()];
        let mut builtin: Vec<String> =
            self.conn_handlers.read().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        builtin.sort();
        protocols.extend(builtin);
        let handlers = self.handlers.read().unwrap_or_else(|p| p.into_inner());
        let mut user: Vec<String> = handlers.keys().cloned().collect();
        user.sort();
        protocols.extend(user);
        protocols
    }

    async fn handle_inbound_stream(
        self: Arc<Self>,
        peer: PeerId,
        observed: Multiaddr,
        answer_after_identify: bool,
        stream: yamux::YamuxStream,
        mut guard: crate::rcmgr::StreamGuard,
        negotiating: tokio::sync::OwnedSemaphorePermit,
    ) {
        let supported = self.supported_protocols();
        let negotiated =
            tokio::time::timeout(self.config.stream_timeout, negotiate::listener_select(stream, &supported)).await;
        drop(negotiating);
        let (protocol, stream) = match negotiated {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "inbound stream negotiation failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "inbound stream negotiation timed out");
                return;
            }
        };
        if let Err(e) = guard.set_protocol(&protocol) {
            // Dropped before a clean close: the stream is reset.
            tracing::debug!(%peer, %protocol, error = %e, "inbound stream over a resource limit; resetting");
            return;
        }
        let mut stream = RawStream::new(stream, guard);
        let Some(_slot) = self.inbound_stream_slot(peer, &protocol) else {
            // Dropped before a clean close: the stream is reset.
            tracing::debug!(%peer, %protocol, "too many inbound streams of this protocol; resetting");
            return;
        };
        let limit = self.config.exchange_timeout;
        match protocol.as_str() {
            ping::PROTOCOL => {
                // A ping stream may stay open for many pings; it ends on EOF,
                // after the idle timeout with no ping, or on shutdown.
                tokio::select! {
                    _ = self.shutdown.cancelled() => {}
                    result = ping::serve(stream, self.config.ping_idle_timeout) => if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "ping stream ended");
                    }
                }
            }
            identify::PROTOCOL => {
                if answer_after_identify {
                    self.await_remote_identify(peer).await;
                }
                let info = self.local_identify_info(Some(observed));
                let envelope = self.signed_record_for(&peer);
                let sent = tokio::time::timeout(limit, identify::send(&mut stream, &info, envelope.as_ref())).await;
                if !matches!(sent, Ok(Ok(()))) {
                    tracing::debug!(%peer, "sending identify failed");
                }
            }
            identify::PUSH_PROTOCOL => {
                match tokio::time::timeout(limit, identify::receive_push(&mut stream, &peer)).await {
                    Ok(Ok(push)) => self.record_push(peer, push),
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "identify push failed"),
                    Err(_) => tracing::debug!(%peer, "identify push timed out"),
                }
            }
            _ => {
                let conn_handler = self.conn_handlers.read().unwrap_or_else(|p| p.into_inner()).get(&protocol).cloned();
                if let Some(handler) = conn_handler {
                    return handler(peer, observed, stream).await;
                }
                let handler = self.handlers.read().unwrap_or_else(|p| p.into_inner()).get(&protocol).cloned();
                match handler {
                    Some(handler) => handler(peer, protocol, stream).await,
                    None => tracing::debug!(%peer, %protocol, "handler removed during negotiation"),
                }
            }
        }
    }

    /// A slot for one more inbound stream of `protocol` from `peer`, if the
    /// protocol's limit (`inbound_stream_limits`, else
    /// `max_inbound_streams_per_protocol`) allows it.
    fn inbound_stream_slot(&self, peer: PeerId, protocol: &str) -> Option<Slot<(PeerId, String)>> {
        let limit = match self.config.inbound_stream_limits.get(protocol) {
            Some(limit) => *limit,
            None => self.config.max_inbound_streams_per_protocol,
        };
        self.inbound_streams.try_acquire((peer, protocol.to_string()), limit)
    }

    // ---- handlers and streams ----

    /// Sets the handler for inbound streams of `protocol`, replacing any.
    pub fn set_stream_handler(self: &Arc<Self>, protocol: String, handler: Handler) {
        self.handlers.write().unwrap_or_else(|p| p.into_inner()).insert(protocol, handler);
        self.push_identify_to_all();
    }

    /// Sets a built-in protocol's handler, which also gets the connection's
    /// remote address. It takes precedence over a user handler of the same protocol.
    pub(crate) fn set_connection_handler(self: &Arc<Self>, protocol: &str, handler: ConnHandler) {
        self.conn_handlers.write().unwrap_or_else(|p| p.into_inner()).insert(protocol.to_string(), handler);
        self.push_identify_to_all();
    }

    /// Removes a built-in protocol's handler set by `set_connection_handler`.
    pub(crate) fn remove_connection_handler(self: &Arc<Self>, protocol: &str) -> bool {
        let removed = self.conn_handlers.write().unwrap_or_else(|p| p.into_inner()).remove(protocol).is_some();
        if removed {
            self.push_identify_to_all();
        }
        removed
    }

    /// Removes the handler of `protocol`. Returns whether there was one.
    pub fn remove_stream_handler(self: &Arc<Self>, protocol: &str) -> bool {
        let removed = self.handlers.write().unwrap_or_else(|p| p.into_inner()).remove(protocol).is_some();
        if removed {
            self.push_identify_to_all();
        }
        removed
    }

    /// Opens a stream to `peer` and negotiates `protocol` on it, dialing a
    /// known address first if there is no connection.
    pub async fn new_stream(self: &Arc<Self>, peer: PeerId, protocol: &str) -> Result<RawStream, SwarmError> {
        if self.is_shut_down() {
            return Err(SwarmError::Shutdown);
        }
        let conn = self.connection_or_dial(peer).await?;
        self.open_on(peer, &conn.control, protocol).await
    }

    /// Opens a stream to `peer` on one of its connections and negotiates
    /// `protocol` on it, within the resource manager's limits.
    async fn open_on(&self, peer: PeerId, control: &yamux::Control, protocol: &str) -> Result<RawStream, SwarmError> {
        let mut guard = self.rcmgr.open_stream(peer, Direction::Outbound)?;
        let limit = self.config.stream_timeout;
        let stream = match tokio::time::timeout(limit, control.open_stream()).await {
            Ok(result) => result?,
            Err(_) => return Err(SwarmError::Timeout(Step::OpenStream)),
        };
        // Not lazy: the caller learns at once whether the remote speaks the protocol.
        let protocols = [protocol.to_string()];
        match tokio::time::timeout(limit, negotiate::dialer_select(stream, &protocols, Version::V1)).await {
            Ok(Ok((_, mut stream))) => match guard.set_protocol(protocol) {
                Ok(()) => Ok(RawStream::new(stream, guard)),
                Err(e) => {
                    stream.get_mut().reset();
                    Err(e.into())
                }
            },
            Ok(Err(NegotiationError::Failed)) => Err(SwarmError::ProtocolNotSupported(protocol.to_string())),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(SwarmError::Timeout(Step::ProtocolNegotiation)),
        }
    }

    /// Measures one ping round trip to `peer`.
    pub async fn ping(self: &Arc<Self>, peer: PeerId) -> Result<Duration, SwarmError> {
        let mut stream = self.new_stream(peer, ping::PROTOCOL).await?;
        match tokio::time::timeout(self.config.exchange_timeout, ping::ping(&mut stream)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(SwarmError::Timeout(Step::Exchange)),
        }
    }

    /// Runs one perf exchange with `peer`: uploads `upload` bytes, then
    /// downloads `download` bytes. Each read and write must progress within
    /// the exchange timeout.
    pub async fn perf(
        self: &Arc<Self>,
        peer: PeerId,
        upload: u64,
        download: u64,
    ) -> Result<perf::PerfResult, SwarmError> {
        let mut stream = self.new_stream(peer, perf::PROTOCOL).await?;
        Ok(perf::run(&mut stream, upload, download, self.config.exchange_timeout).await?)
    }

    // ---- identify ----

    /// What we tell peers about ourselves.
    pub fn local_identify_info(&self, observed: Option<Multiaddr>) -> identify::Info {
        identify::Info {
            public_key: self.keypair.public(),
            protocol_version: self.config.protocol_version.clone(),
            agent_version: self.config.agent_version.clone(),
            listen_addrs: self.advertised_addrs(),
            observed_addr: observed,
            protocols: self.supported_protocols(),
            signed_peer_record: None,
        }
    }

    fn refresh_signed_record(&self) {
        let record = PeerRecord::new(&self.keypair, self.advertised_addrs());
        let sealed = (record.to_signed_envelope(&self.keypair), record.to_legacy_signed_envelope(&self.keypair));
        let records = match sealed {
            (Ok(standard), Ok(legacy)) => SignedRecords { standard: Some(standard), legacy: Some(legacy) },
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "could not sign our peer record");
                SignedRecords::default()
            }
        };
        *lock(&self.signed_record) = records;
    }

    /// The envelope form `peer` can verify: the legacy one for rust-libp2p
    /// (known from its identify), the standard one otherwise.
    fn signed_record_for(&self, peer: &PeerId) -> Option<SignedEnvelope> {
        let is_rust = self
            .peer_info(peer)
            .and_then(|info| info.agent_version)
            .is_some_and(|agent| agent.starts_with(RUST_LIBP2P_AGENT));
        let records = lock(&self.signed_record);
        if is_rust { records.legacy.clone() } else { records.standard.clone() }
    }

    /// Asks `peer` who it is and records the answer.
    async fn identify_peer(self: Arc<Self>, peer: PeerId) {
        let result = async {
            let mut stream = self.new_stream(peer, identify::PROTOCOL).await?;
            match tokio::time::timeout(self.config.exchange_timeout, identify::receive(&mut stream)).await {
                Ok(result) => Ok(result?),
                Err(_) => Err(SwarmError::Timeout(Step::Exchange)),
            }
        };
        let outcome = tokio::select! {
            _ = self.shutdown.cancelled() => return,
            outcome = result => outcome,
        };
        match outcome {
            Ok(info) => {
                if let Some(observed) = &info.observed_addr {
                    self.record_observed(peer, observed.clone());
                }
                Arc::clone(&self).record_identify(peer, info)
            }
            Err(e) => tracing::debug!(%peer, error = %e, "identify failed"),
        }
    }

    fn record_identify(self: Arc<Self>, peer: PeerId, info: identify::Info) {
        if info.public_key.to_peer_id() != peer {
            tracing::debug!(%peer, "identify carries another peer's key; ignored");
            return;
        }
        let newly_rust = info.agent_version.starts_with(RUST_LIBP2P_AGENT)
            && lock(&self.peerstore).peer_info(&peer, Instant::now()).is_none_or(|p| p.agent_version.is_none());
        {
            let mut store = lock(&self.peerstore);
            let now = Instant::now();
            store.add_addrs(peer, &info.listen_addrs, ADDRESS_TTL, now);
            store.set_protocols(peer, info.protocols.clone());
            store.set_agent_version(peer, info.agent_version.clone());
            store.set_protocol_version(peer, info.protocol_version.clone());
            if let Some(record) = info.signed_peer_record.clone() {
                store.add_addrs(peer, &record.addrs, ADDRESS_TTL, now);
                store.set_peer_record(peer, record);
            }
        }
        self.emit(Event::Identified { peer, info: Box::new(info) });
        if newly_rust {
            // Our first answer may have crossed its request before we knew it
            // was rust-libp2p: push the record in the form it verifies.
            self.push_identify(peer);
        }
    }

    /// Applies an identify push: the fields it carries update the peer store,
    /// the ones it omits keep their values (the identify spec's partial
    /// updates). Emits `Identified` with the merged view.
    fn record_push(&self, peer: PeerId, push: identify::Push) {
        {
            let mut store = lock(&self.peerstore);
            let now = Instant::now();
            if let Some(addrs) = &push.listen_addrs {
                store.add_addrs(peer, addrs, ADDRESS_TTL, now);
            }
            if let Some(protocols) = &push.protocols {
                store.set_protocols(peer, protocols.clone());
            }
            if let Some(agent) = &push.agent_version {
                store.set_agent_version(peer, agent.clone());
            }
            if let Some(version) = &push.protocol_version {
                store.set_protocol_version(peer, version.clone());
            }
            if let Some(record) = &push.signed_peer_record {
                store.add_addrs(peer, &record.addrs, ADDRESS_TTL, now);
                store.set_peer_record(peer, record.clone());
            }
        }
        let Some(stored) = self.peer_info(&peer) else { return };
        // The key is known from the connection's handshake.
        let Some(public_key) = push.public_key.or(stored.public_key) else { return };
        let info = identify::Info {
            public_key,
            protocol_version: stored.protocol_version.unwrap_or_default(),
            agent_version: stored.agent_version.unwrap_or_default(),
            listen_addrs: push.listen_addrs.unwrap_or(stored.addrs),
            observed_addr: push.observed_addr,
            protocols: stored.protocols,
            signed_peer_record: stored.peer_record,
        };
        self.emit(Event::Identified { peer, info: Box::new(info) });
    }

    /// Waits (bounded) until `peer` has answered our identify. The peer
    /// record form we send depends on the remote's implementation, and
    /// rust-libp2p accepts a record only in the identify answer, not in a
    /// later push.
    async fn await_remote_identify(&self, peer: PeerId) {
        let mut events = self.events.subscribe();
        if self.peer_info(&peer).is_some_and(|info| info.agent_version.is_some()) {
            return;
        }
        let identified = async {
            loop {
                match events.recv().await {
                    Ok(Event::Identified { peer: p, .. }) if p == peer => return,
                    Err(broadcast::error::RecvError::Closed) => return,
                    _ => {}
                }
            }
        };
        let _ = tokio::time::timeout(IDENTIFY_ANSWER_WAIT, identified).await;
    }

    /// Tells every connected peer our current listen addresses and protocols.
    fn push_identify_to_all(self: &Arc<Self>) {
        for peer in self.connected_peers() {
            self.push_identify(peer);
        }
    }

    /// Tells `peer` our current listen addresses and protocols.
    fn push_identify(self: &Arc<Self>, peer: PeerId) {
        let swarm = Arc::clone(self);
        self.tasks.spawn(async move {
            let push = async {
                let mut stream = swarm.new_stream(peer, identify::PUSH_PROTOCOL).await?;
                let info = swarm.local_identify_info(None);
                let envelope = swarm.signed_record_for(&peer);
                identify::send(&mut stream, &info, envelope.as_ref()).await?;
                Ok::<_, SwarmError>(())
            };
            match tokio::time::timeout(swarm.config.exchange_timeout, push).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "identify push failed"),
                Err(_) => tracing::debug!(%peer, "identify push timed out"),
            }
        });
    }

    // ---- external addresses ----

    /// What we announce in identify and our peer record: listen addresses,
    /// then confirmed external addresses.
    fn advertised_addrs(&self) -> Vec<Multiaddr> {
        let mut addrs = self.listen_addrs();
        for addr in lock(&self.external).iter() {
            if !addrs.contains(addr) {
                addrs.push(addr.clone());
            }
        }
        addrs
    }

    /// Remembers what `peer` saw as our address (identify's `observedAddr`).
    fn record_observed(&self, peer: PeerId, addr: Multiaddr) {
        let mut observed = lock(&self.observed);
        observed.retain(|(p, _)| *p != peer);
        if observed.len() >= MAX_OBSERVERS {
            observed.remove(0);
        }
        observed.push((peer, transport::without_p2p(&addr)));
    }

    /// Addresses others may reach us on, to be tested (by AutoNAT): our
    /// listen addresses translated to each IP peers observed us on (most
    /// observers first), then the listen addresses themselves. The observed
    /// port is not used: without port reuse it is the port of our outbound
    /// connection, on which nothing listens.
    pub fn external_addr_candidates(&self) -> Vec<Multiaddr> {
        let listen = self.listen_addrs();
        let mut by_ip: Vec<(Protocol, usize)> = Vec::new();
        for (_, addr) in lock(&self.observed).iter() {
            let Some(ip) = addr.iter().next().filter(|p| matches!(p, Protocol::Ip4(_) | Protocol::Ip6(_))) else {
                continue;
            };
            match by_ip.iter_mut().find(|(known, _)| *known == ip) {
                Some((_, count)) => *count += 1,
                None => by_ip.push((ip, 1)),
            }
        }
        // Stable: equally observed IPs keep the order they were first seen in.
        by_ip.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        let mut out: Vec<Multiaddr> = Vec::new();
        for (ip, _) in &by_ip {
            for addr in &listen {
                if let Some(translated) = translate(addr, ip)
                    && !out.contains(&translated)
                {
                    out.push(translated);
                }
            }
        }
        for addr in listen {
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
        out
    }

    /// Confirmed external addresses (without `/p2p/`).
    pub fn external_addrs(&self) -> Vec<Multiaddr> {
        lock(&self.external).clone()
    }

    /// Adds a confirmed external address (AutoNAT's verdict, or the
    /// application's word): announced in identify and in our peer record.
    /// Returns whether it is new. At most 32 are kept;
    /// the oldest goes first.
    pub fn add_external_address(self: &Arc<Self>, addr: Multiaddr) -> bool {
        let addr = transport::without_p2p(&addr);
        let expired = {
            let mut external = lock(&self.external);
            if external.contains(&addr) {
                return false;
            }
            let expired = (external.len() >= MAX_EXTERNAL_ADDRS).then(|| external.remove(0));
            external.push(addr.clone());
            expired
        };
        if let Some(old) = expired {
            self.emit(Event::ExternalAddrExpired { addr: old });
        }
        self.emit(Event::ExternalAddrConfirmed { addr });
        self.refresh_signed_record();
        self.push_identify_to_all();
        true
    }

    /// Removes a confirmed external address. Returns whether it was one.
    pub fn remove_external_address(self: &Arc<Self>, addr: &Multiaddr) -> bool {
        let addr = transport::without_p2p(addr);
        let removed = {
            let mut external = lock(&self.external);
            let before = external.len();
            external.retain(|a| *a != addr);
            external.len() != before
        };
        if removed {
            self.emit(Event::ExternalAddrExpired { addr });
            self.refresh_signed_record();
            self.push_identify_to_all();
        }
        removed
    }

    // ---- peer store ----

    /// What the peer store knows of `peer`.
    pub fn peer_info(&self, peer: &PeerId) -> Option<PeerInfo> {
        lock(&self.peerstore).peer_info(peer, Instant::now())
    }

    /// Adds addresses of `peer` to the peer store (for dialing by peer ID).
    pub fn add_addresses(&self, peer: PeerId, addrs: &[Multiaddr], ttl: Duration) {
        lock(&self.peerstore).add_addrs(peer, addrs, ttl, Instant::now());
    }

    /// Every peer the store knows.
    pub fn known_peers(&self) -> Vec<PeerId> {
        lock(&self.peerstore).peers()
    }

    // ---- shutdown ----

    /// Starts shutting down without waiting: listeners and connection tasks
    /// stop, new operations fail with [`SwarmError::Shutdown`].
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Closes listeners and connections, stops every task, and waits for them
    /// (at most `limit`).
    pub async fn shutdown(&self, limit: Duration) {
        self.shutdown.cancel();
        let all: Vec<Connection> = lock(&self.connections).drain().flat_map(|(_, list)| list).collect();
        for conn in all {
            // GoAway and close; bounded so a stalled peer cannot hold shutdown.
            let _ = tokio::time::timeout(Duration::from_millis(500), conn.control.close()).await;
        }
        self.tasks.close();
        if tokio::time::timeout(limit, self.tasks.wait()).await.is_err() {
            tracing::debug!("some tasks outlived the shutdown grace period");
        }
    }
}

/// What a connection to or from `addr` holds: a file descriptor (TCP), and
/// the remote IP if the address starts with one (the memory transport has
/// neither).
fn connection_resources(addr: &Multiaddr) -> (bool, Option<IpAddr>) {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => (true, Some(IpAddr::V4(ip))),
        Some(Protocol::Ip6(ip)) => (true, Some(IpAddr::V6(ip))),
        Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) | Protocol::Dnsaddr(_)) => (true, None),
        _ => (false, None),
    }
}

/// `config` with its watermarks lowered to `system_conns` (the resource
/// manager's system connection limit) if they are above it: that limit
/// would refuse connections before a trim ever made room.
fn fit_watermarks(mut config: ConnManagerConfig, system_conns: u64) -> ConnManagerConfig {
    if ConnManager::new(config.clone()).high_watermark_exceeds(system_conns) {
        let high = usize::try_from(system_conns).unwrap_or(usize::MAX);
        tracing::debug!(high, "connection manager's high watermark lowered to the system connection limit");
        config.high_watermark = high;
        config.low_watermark = config.low_watermark.min(high);
    }
    config
}

/// The event a limit hit becomes.
fn limit_event(error: &LimitError) -> Event {
    Event::ResourceLimitExceeded {
        scope: error.scope.clone(),
        resource: error.resource,
        limit: error.limit,
        current: error.current,
    }
}

/// `addr` with its IP replaced by `ip` (same IP version), if it starts with one.
fn translate(addr: &Multiaddr, ip: &Protocol) -> Option<Multiaddr> {
    let mut parts = addr.iter();
    let first = parts.next()?;
    let same_version =
        matches!((&first, ip), (Protocol::Ip4(_), Protocol::Ip4(_)) | (Protocol::Ip6(_), Protocol::Ip6(_)));
    same_version.then(|| std::iter::once(ip.clone()).chain(parts).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerId {
        Keypair::generate_ed25519().public().to_peer_id()
    }

    fn addr(s: &str) -> Multiaddr {
        s.parse().expect("valid multiaddr")
    }

    #[test]
    fn translation_keeps_the_ip_version_and_the_rest() {
        let listen = addr("/ip4/127.0.0.1/tcp/4001");
        assert_eq!(
            translate(&listen, &Protocol::Ip4("198.51.100.1".parse().expect("ip"))),
            Some(addr("/ip4/198.51.100.1/tcp/4001"))
        );
        assert_eq!(translate(&listen, &Protocol::Ip6("2001:db8::1".parse().expect("ip"))), None);
        assert_eq!(translate(&addr("/memory/5"), &Protocol::Ip4("198.51.100.1".parse().expect("ip"))), None);
    }

    #[tokio::test]
    async fn candidates_are_listen_addresses_at_observed_ips_most_observed_first() {
        let swarm = Swarm::new(Keypair::generate_ed25519(), Config::default());
        let bound = swarm.listen(&addr("/ip4/127.0.0.1/tcp/0")).expect("listens");
        let Some(Protocol::Tcp(port)) = bound.iter().nth(1) else { panic!("tcp address: {bound}") };
        assert_eq!(swarm.external_addr_candidates(), vec![bound.clone()]);
        let (a, b, c) = (peer(), peer(), peer());
        swarm.record_observed(a, addr("/ip4/203.0.113.5/tcp/50000"));
        swarm.record_observed(b, addr("/ip4/198.51.100.1/tcp/50001"));
        swarm.record_observed(c, addr("/ip4/198.51.100.1/tcp/50002"));
        // A peer's newer observation replaces its older one.
        swarm.record_observed(a, addr(&format!("/ip4/203.0.113.5/tcp/50003/p2p/{a}")));
        assert_eq!(
            swarm.external_addr_candidates(),
            vec![
                addr(&format!("/ip4/198.51.100.1/tcp/{port}")),
                addr(&format!("/ip4/203.0.113.5/tcp/{port}")),
                bound.clone()
            ]
        );
        // Observers are bounded.
        for _ in 0..MAX_OBSERVERS + 10 {
            swarm.record_observed(peer(), addr("/ip4/192.0.2.9/tcp/1"));
        }
        assert_eq!(lock(&swarm.observed).len(), MAX_OBSERVERS);
        swarm.shutdown(Duration::from_secs(1)).await;
    }

    /// Waits (bounded) until `done` holds.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn handshake_and_stream_slots_are_given_back() {
        let config = Config { upgrade_timeout: Duration::from_millis(200), ..Config::default() };
        let swarm = Swarm::new(Keypair::generate_ed25519(), config);
        let bound = swarm.listen(&addr("/ip4/127.0.0.1/tcp/0")).expect("listens");
        let Some(Protocol::Tcp(port)) = bound.iter().nth(1) else { panic!("tcp address: {bound}") };
        // Silent connections hold their IP's handshake slots until the step timeout.
        let mut silent = Vec::new();
        for _ in 0..4 {
            silent.push(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects"));
        }
        eventually("the silent connections take slots", || swarm.pending_by_ip.keys() == 1).await;
        eventually("the timed-out handshakes give them back", || swarm.pending_by_ip.keys() == 0).await;
        assert_eq!(swarm.pending_incoming.available_permits(), swarm.config.max_pending_incoming);
        // A served ping stream holds a (peer, ping) slot until it ends.
        let client = Swarm::new(Keypair::generate_ed25519(), Config::default());
        let server_peer = client.dial(&bound).await.expect("dials");
        let mut stream = client.new_stream(server_peer, ping::PROTOCOL).await.expect("opens");
        ping::ping(&mut stream).await.expect("pings");
        let key = (client.peer_id(), ping::PROTOCOL.to_string());
        assert_eq!(swarm.inbound_streams.held(&key), 1);
        drop(stream);
        eventually("the ended stream gives its slot back", || swarm.inbound_streams.held(&key) == 0).await;
        client.shutdown(Duration::from_secs(1)).await;
        swarm.shutdown(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn external_addresses_are_announced_and_bounded() {
        let swarm = Swarm::new(Keypair::generate_ed25519(), Config::default());
        let mut events = swarm.subscribe();
        let first = addr("/ip4/203.0.113.1/tcp/1");
        assert!(swarm.add_external_address(first.clone()));
        assert!(matches!(events.try_recv(), Ok(Event::ExternalAddrConfirmed { addr }) if addr == first));
        assert!(swarm.local_identify_info(None).listen_addrs.contains(&first));
        for i in 2..=MAX_EXTERNAL_ADDRS as u16 + 1 {
            swarm.add_external_address(addr(&format!("/ip4/203.0.113.1/tcp/{i}")));
        }
        assert_eq!(swarm.external_addrs().len(), MAX_EXTERNAL_ADDRS);
        assert!(!swarm.external_addrs().contains(&first), "the oldest went first");
        assert!(!swarm.remove_external_address(&first));
        swarm.shutdown(Duration::from_secs(1)).await;
    }
}
