//! The Kademlia DHT (`/ipfs/kad/1.0.0`, the IPFS Amino DHT): peer routing,
//! a record store and provider records, compatible with go-libp2p,
//! rust-libp2p and js-libp2p.
//!
//! The pure parts: [`kbucket`] (keys, distance, the routing table), [`store`]
//! (bounded records and providers), [`validator`] (`/pk/`, `/ipns/`),
//! [`protocol`] (typed messages and their codec) and [`query`] (the
//! iterative lookup). [`Kad`] is the thin driver over a [`crate::Node`]: it
//! serves the protocol through a stream handler (server mode), learns peers
//! from identify, and runs lookups with streams from `new_stream`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use lp2p::protocols::kad::{Config, Mode};
//! let a = lp2p::Node::builder().listen("/memory/0".parse()?).build()?;
//! let b = lp2p::Node::builder().listen("/memory/0".parse()?).build()?;
//! let kad_a = a.kad(Config { mode: Mode::Server, ..Config::default() });
//! let kad_b = b.kad(Config { mode: Mode::Server, ..Config::default() });
//! kad_b.add_bootstrap_peer(a.listen_addrs_with_peer_id()[0].clone()).await?;
//! let key = [b"/pk/".as_slice(), b.peer_id().as_bytes()].concat();
//! kad_b.put_value(key.clone(), b.keypair().public().encode_protobuf()).await?;
//! assert_eq!(kad_a.get_value(key, 1).await?, b.keypair().public().encode_protobuf());
//! # Ok(()) }
//! ```

pub mod kbucket;
pub mod pb;
pub mod protocol;
pub mod query;
pub mod store;
pub mod validator;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;

use self::kbucket::{Insert, Key, RoutingTable};
use self::protocol::{KadPeer, MessageError, Record, Request, Response};
use self::query::{Action, Lookup, LookupConfig};
use self::store::{Origin, Store, StoreConfig, StoreError};
use self::validator::{RecordError, Validators};
use crate::identity::PeerId;
use crate::multiaddr::Multiaddr;
use crate::node::{Node, Stream};
use crate::peerstore::IpGroup;
use crate::swarm::Event;

pub use self::protocol::PROTOCOL;

/// How long addresses learned from the DHT stay in the peer store.
const ADDRESS_TTL: Duration = Duration::from_secs(60 * 60);
/// How often expired records are swept and provided keys checked for republishing.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

/// Whether this node answers the DHT protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only queries: the protocol is neither served nor announced in identify.
    /// Right for nodes without a confirmed public address.
    Client,
    /// Serves the protocol; other peers put us in their routing tables.
    Server,
    /// Server while the node has a confirmed external address (confirmed by
    /// AutoNAT, or added with `Node::add_external_address`), client otherwise.
    Auto,
}

/// The DHT's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The protocol ID (e.g. `/ipfs/lan/kad/1.0.0` for a LAN DHT).
    pub protocol: String,
    /// Client, server, or automatic. Default: automatic (server only while
    /// the node has a confirmed external address).
    pub mode: Mode,
    /// The bucket size and replication parameter.
    pub k: usize,
    /// Requests in flight per lookup.
    pub alpha: usize,
    /// One request (open stream, send, answer).
    pub request_timeout: Duration,
    /// A whole operation (lookup plus puts).
    pub query_timeout: Duration,
    /// Requests one lookup may send.
    pub max_requests: usize,
    /// Inbound DHT streams served at once (default 256).
    pub max_inbound_streams: usize,
    /// Inbound DHT streams served at once for one peer (default 8), so that
    /// one peer cannot take every slot of `max_inbound_streams`.
    pub max_inbound_streams_per_peer: usize,
    /// How long an inbound stream may stay idle between requests.
    pub inbound_idle_timeout: Duration,
    /// Store limits and record lifetimes.
    pub store: StoreConfig,
    /// Record validators by namespace.
    pub validators: Validators,
    /// How often our provider records are announced again (22 h).
    pub provider_republish: Duration,
    /// A random walk (lookup of a random key) refreshes the table this often;
    /// `None` disables it.
    pub random_walk_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocol: PROTOCOL.to_string(),
            mode: Mode::Auto,
            k: 20,
            alpha: 3,
            request_timeout: Duration::from_secs(10),
            query_timeout: Duration::from_secs(60),
            max_requests: 200,
            max_inbound_streams: 256,
            max_inbound_streams_per_peer: 8,
            inbound_idle_timeout: Duration::from_secs(10),
            store: StoreConfig::default(),
            validators: Validators::default(),
            provider_republish: Duration::from_secs(22 * 60 * 60),
            random_walk_interval: Some(Duration::from_secs(5 * 60)),
        }
    }
}

/// What a DHT operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KadError {
    /// The routing table is empty: add a bootstrap peer first.
    #[error("no peers in the routing table")]
    NoPeers,
    /// No valid record under the key.
    #[error("record not found")]
    NotFound,
    /// The peer was not found.
    #[error("peer not found")]
    PeerNotFound,
    /// A record failed validation.
    #[error("invalid record: {0}")]
    InvalidRecord(#[from] RecordError),
    /// The local store refused a record.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// No peer accepted the record or announcement.
    #[error("no peer accepted the request")]
    NotStored,
    /// A request took too long.
    #[error("request timed out")]
    Timeout,
    /// A message was malformed.
    #[error("bad message: {0}")]
    Message(#[from] MessageError),
    /// The node failed (dial, stream, shutdown).
    #[error("node: {0}")]
    Node(#[from] crate::Error),
    /// A bootstrap peer does not serve the DHT protocol.
    #[error("peer {0} does not serve the DHT protocol")]
    NotADhtPeer(PeerId),
    /// The address has no `/p2p/<peer id>`.
    #[error("address has no /p2p/ peer ID")]
    MissingPeerId,
    /// The DHT's tasks are gone (the node shut down).
    #[error("the DHT is shut down")]
    Shutdown,
}

/// The outcome of a lookup for the closest peers.
#[derive(Debug, Clone)]
pub struct ClosestPeers {
    /// The closest peers that answered, closest first.
    pub peers: Vec<KadPeer>,
    /// Requests on the chain that reached the closest peer.
    pub hops: u32,
    /// Requests sent.
    pub requests: usize,
}

/// A peer found by [`Kad::find_peer_detailed`].
#[derive(Debug, Clone)]
pub struct FoundPeer {
    /// Its addresses.
    pub addrs: Vec<Multiaddr>,
    /// Hops of the lookup (0 when known locally).
    pub hops: u32,
    /// Requests sent (0 when known locally).
    pub requests: usize,
}

/// Counters of one node's DHT.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests we answered.
    pub inbound_requests: u64,
    /// Inbound messages that failed to decode or validate.
    pub inbound_rejected: u64,
    /// Requests we sent.
    pub outbound_requests: u64,
}

struct Shared {
    local: PeerId,
    config: Config,
    table: Mutex<RoutingTable>,
    store: Mutex<Store>,
    /// Keys we provide, with when we last announced them.
    provided: Mutex<HashMap<Vec<u8>, Instant>>,
    stats: Mutex<Stats>,
    inbound: Arc<Semaphore>,
    /// Inbound streams being served per peer. Bounded: an entry exists only
    /// while its peer holds one of the `max_inbound_streams` permits.
    inbound_per_peer: Mutex<HashMap<PeerId, usize>>,
    /// Whether we serve the protocol now (fixed unless the mode is `Auto`).
    serving: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Critical sections are a few map operations: a poisoned lock holds consistent data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Starts or stops serving the protocol as the mode and the node's
    /// confirmed external addresses say. Setting or removing the handler
    /// pushes identify, so peers add us to (or drop us from) their tables.
    fn update_serving(self: &Arc<Self>, node: &Node) {
        let serve = match self.config.mode {
            Mode::Client => false,
            Mode::Server => true,
            Mode::Auto => !node.external_addrs().is_empty(),
        };
        if self.serving.swap(serve, Ordering::SeqCst) == serve {
            return;
        }
        if serve {
            // The handler holds only the DHT state, never the node (which owns the handler).
            let served = Arc::clone(self);
            node.set_kad_handler(&self.config.protocol, move |stream, remote| {
                let shared = Arc::clone(&served);
                async move { serve_stream(shared, stream, remote).await }
            });
        } else {
            node.remove_kad_handler(&self.config.protocol);
        }
        tracing::debug!(serve, "kad: mode changed");
    }

    fn closer_peers(&self, key: &[u8], exclude: &PeerId) -> Vec<KadPeer> {
        let target = Key::from_bytes(key);
        lock(&self.table)
            .closest(&target, self.config.k + 1)
            .into_iter()
            .filter(|e| &e.peer != exclude)
            .take(self.config.k)
            .map(|e| KadPeer { peer: e.peer, addrs: e.addrs })
            .collect()
    }

    /// Answers one request from `sender`, whose connection comes from `ip`
    /// (its store quotas). `None`: no answer is sent.
    fn handle_request(
        &self,
        sender: PeerId,
        ip: Option<IpGroup>,
        request: Request,
    ) -> Result<Option<Response>, KadError> {
        let now = Instant::now();
        let origin = Origin::Remote { peer: sender, ip };
        let response = match request {
            Request::FindNode { key } => Response { closer: self.closer_peers(&key, &sender), ..Default::default() },
            Request::GetValue { key } => {
                let record = lock(&self.store).get(&key, now).map(|value| Record { key: key.clone(), value });
                Response { closer: self.closer_peers(&key, &sender), record, ..Default::default() }
            }
            Request::PutValue { record } => {
                self.config.validators.validate(&record.key, &record.value, SystemTime::now())?;
                self.put_local(&record, origin)?;
                Response { record: Some(record), ..Default::default() }
            }
            Request::GetProviders { key } => {
                let providers = lock(&self.store).providers(&key, now);
                // A provider that announced no addresses (rust-libp2p without
                // a confirmed external address) gets those our table knows.
                let table = lock(&self.table);
                let providers = providers
                    .into_iter()
                    .map(|p| {
                        let addrs = match (p.addrs.is_empty(), table.get(&p.peer)) {
                            (true, Some(entry)) => entry.addrs.clone(),
                            _ => p.addrs,
                        };
                        KadPeer { peer: p.peer, addrs }
                    })
                    .collect();
                drop(table);
                Response { closer: self.closer_peers(&key, &sender), providers, ..Default::default() }
            }
            Request::AddProvider { key, providers } => {
                // Only the sender may announce itself; other entries are ignored.
                for p in providers.into_iter().filter(|p| p.peer == sender) {
                    lock(&self.store).add_provider(key.clone(), p.peer, p.addrs, origin, now)?;
                }
                return Ok(None);
            }
            Request::Ping => Response::default(),
        };
        Ok(Some(response))
    }

    /// Stores a record put by `origin` unless a better one (by the
    /// validator) is already held.
    fn put_local(&self, record: &Record, origin: Origin) -> Result<(), KadError> {
        let now = Instant::now();
        let mut store = lock(&self.store);
        if let Some(existing) = store.get(&record.key, now)
            && existing != record.value
        {
            let values = [existing, record.value.clone()];
            if self.config.validators.select(&record.key, &values) == 0 {
                return Ok(()); // ours is better; keep it
            }
        }
        Ok(store.put(record.key.clone(), record.value.clone(), origin, now)?)
    }

    /// Updates the table from an identify answer: peers that serve the
    /// protocol enter it, peers that stopped serving it leave it.
    fn on_identified(&self, peer: PeerId, protocols: &[String], addrs: &[Multiaddr]) {
        let mut table = lock(&self.table);
        if protocols.iter().any(|p| p == &self.config.protocol) {
            let _ = table.insert(peer, addrs);
        } else {
            table.remove(&peer);
        }
    }
}

/// Finds a peer's addresses through the DHT for the swarm's peer router
/// (see [`Node::kad`]): given the node for the duration of one lookup.
pub(crate) type DhtFinder =
    Arc<dyn Fn(Node, PeerId) -> std::pin::Pin<Box<dyn Future<Output = Vec<Multiaddr>> + Send>> + Send + Sync>;

/// A running DHT on a [`Node`]. Cheap to clone; its background tasks (random
/// walk, republishing, table updates) stop when the last clone is dropped.
#[derive(Clone)]
pub struct Kad {
    inner: Arc<KadInner>,
}

struct KadInner {
    node: Node,
    shared: Arc<Shared>,
    handle: Handle,
    _background: AbortOnDropHandle<()>,
}

impl Kad {
    /// Starts the DHT on `node`, its tasks on `handle` (the node's runtime).
    /// Use [`Node::kad`].
    pub(crate) fn start(node: Node, handle: Handle, config: Config) -> Kad {
        let local = node.peer_id();
        let shared = Arc::new(Shared {
            local,
            table: Mutex::new(RoutingTable::new(Key::from_peer(&local), config.k)),
            store: Mutex::new(Store::new(config.store.clone())),
            provided: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            inbound: Arc::new(Semaphore::new(config.max_inbound_streams.max(1))),
            inbound_per_peer: Mutex::new(HashMap::new()),
            serving: AtomicBool::new(false),
            config,
        });
        shared.update_serving(&node);
        // Peers identified before we started.
        for peer in node.known_peers() {
            if let Some(info) = node.peer_info(&peer) {
                shared.on_identified(peer, &info.protocols, &info.addrs);
            }
        }
        let events = node.events();
        let background = {
            let node = node.clone();
            let shared = Arc::clone(&shared);
            handle.spawn(background(node, shared, events))
        };
        Kad { inner: Arc::new(KadInner { node, shared, handle, _background: AbortOnDropHandle::new(background) }) }
    }

    /// The DHT half of the swarm's peer router: it holds the DHT's state,
    /// never the node (the swarm, which the node owns, keeps the router).
    pub(crate) fn dht_finder(&self) -> DhtFinder {
        let shared = Arc::clone(&self.inner.shared);
        Arc::new(move |node, peer| {
            let ops = Ops { node, shared: Arc::clone(&shared) };
            Box::pin(async move { ops.find_peer_via_dht(peer).await.unwrap_or_default() })
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.shared.config
    }

    /// Whether the DHT serves the protocol now (server mode); with
    /// [`Mode::Auto`] this follows the node's confirmed external addresses.
    pub fn is_server(&self) -> bool {
        self.inner.shared.serving.load(Ordering::SeqCst)
    }

    /// Peers in the routing table.
    pub fn routing_table(&self) -> Vec<PeerId> {
        lock(&self.inner.shared.table).peers()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        lock(&self.inner.shared.stats).clone()
    }

    /// A record from the local store only.
    pub fn local_record(&self, key: &[u8]) -> Option<Vec<u8>> {
        lock(&self.inner.shared.store).get(key, Instant::now())
    }

    /// The live providers of `key` in the local store only (this node first
    /// if it provides the key).
    pub fn local_providers(&self, key: &[u8]) -> Vec<KadPeer> {
        let providers = lock(&self.inner.shared.store).providers(key, Instant::now());
        providers.into_iter().map(|p| KadPeer { peer: p.peer, addrs: p.addrs }).collect()
    }

    /// Runs `fut` on the node's runtime (see `Node::on_runtime`).
    async fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T, KadError>> + Send + 'static,
    ) -> Result<T, KadError> {
        match AbortOnDropHandle::new(self.inner.handle.spawn(fut)).await {
            Ok(result) => result,
            Err(_) => Err(KadError::Shutdown),
        }
    }

    fn ops(&self) -> Ops {
        Ops { node: self.inner.node.clone(), shared: Arc::clone(&self.inner.shared) }
    }

    /// Connects to a DHT peer at `addr` (with `/p2p/`), waits for its
    /// identify, and adds it to the routing table if it serves the protocol.
    pub async fn add_bootstrap_peer(&self, addr: Multiaddr) -> Result<PeerId, KadError> {
        let ops = self.ops();
        self.run(async move { ops.add_bootstrap_peer(addr).await }).await
    }

    /// Fills the routing table: a lookup of our own ID (the peers near us),
    /// then one of a random key. Returns the table's size.
    pub async fn bootstrap(&self) -> Result<usize, KadError> {
        let ops = self.ops();
        self.run(async move {
            if lock(&ops.shared.table).is_empty() {
                return Err(KadError::NoPeers);
            }
            let me = ops.shared.local;
            ops.closest_peers(me.as_bytes().to_vec()).await?;
            ops.closest_peers(random_key().to_vec()).await?;
            Ok(lock(&ops.shared.table).len())
        })
        .await
    }

    /// The k closest peers to `key` (bytes, hashed into the key space).
    pub async fn get_closest_peers(&self, key: Vec<u8>) -> Result<ClosestPeers, KadError> {
        let ops = self.ops();
        self.run(async move { ops.closest_peers(key).await }).await
    }

    /// The addresses of `peer`: from the peer store if it knows any, else
    /// from a DHT lookup.
    pub async fn find_peer(&self, peer: PeerId) -> Result<Vec<Multiaddr>, KadError> {
        Ok(self.find_peer_detailed(peer).await?.addrs)
    }

    /// [`Kad::find_peer`] with the lookup's hop and request counts.
    pub async fn find_peer_detailed(&self, peer: PeerId) -> Result<FoundPeer, KadError> {
        let ops = self.ops();
        self.run(async move { ops.find_peer(peer).await }).await
    }

    /// Connects to `peer` by its ID alone: the peer store's addresses first,
    /// the DHT second.
    pub async fn dial_peer(&self, peer: PeerId) -> Result<(), KadError> {
        let ops = self.ops();
        self.run(async move { ops.dial_peer(peer).await }).await
    }

    /// Validates and stores a record locally, then on the k closest peers
    /// to its key. Returns how many peers stored it.
    pub async fn put_value(&self, key: Vec<u8>, value: Vec<u8>) -> Result<usize, KadError> {
        let ops = self.ops();
        self.run(async move { ops.put_value(Record { key, value }).await }).await
    }

    /// The best valid record under `key`, once `quorum` peers (our own store
    /// counting as one) returned a valid one or the lookup ended.
    pub async fn get_value(&self, key: Vec<u8>, quorum: usize) -> Result<Vec<u8>, KadError> {
        let ops = self.ops();
        self.run(async move { ops.get_value(key, quorum).await }).await
    }

    /// Announces that we provide `key` to the k closest peers (and again
    /// every `provider_republish`). Returns how many peers were told.
    pub async fn provide(&self, key: Vec<u8>) -> Result<usize, KadError> {
        let ops = self.ops();
        self.run(async move { ops.provide(key).await }).await
    }

    /// Providers of `key`, at most `limit` (our own store included).
    pub async fn providers(&self, key: Vec<u8>, limit: usize) -> Result<Vec<KadPeer>, KadError> {
        let ops = self.ops();
        self.run(async move { ops.providers(key, limit).await }).await
    }
}

/// A random 32-byte key for random walks.
fn random_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // A failing system RNG leaves zeros: the walk then looks up a fixed key, harmless.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes
}

/// Table updates from identify, random walks, sweeping and republishing.
async fn background(node: Node, shared: Arc<Shared>, mut events: crate::node::Events) {
    let ops = Ops { node, shared: Arc::clone(&shared) };
    let walk_every = shared.config.random_walk_interval.unwrap_or(Duration::MAX);
    let mut walk = tokio::time::interval_at(
        tokio::time::Instant::now() + walk_every.min(Duration::from_secs(365 * 24 * 3600)),
        walk_every.min(Duration::from_secs(365 * 24 * 3600)),
    );
    let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Event::Identified { peer, info }) => shared.on_identified(peer, &info.protocols, &info.listen_addrs),
                Some(Event::ExternalAddrConfirmed { .. } | Event::ExternalAddrExpired { .. }) => shared.update_serving(&ops.node),
                Some(_) => {}
                None => return, // the node is gone
            },
            _ = walk.tick(), if shared.config.random_walk_interval.is_some() => {
                if !lock(&shared.table).is_empty() {
                    let ops = ops.clone();
                    // A walk may take a while; events keep flowing meanwhile.
                    tokio::spawn(async move {
                        if let Err(e) = ops.closest_peers(random_key().to_vec()).await {
                            tracing::debug!(error = %e, "random walk failed");
                        }
                    });
                }
            }
            _ = maintenance.tick() => {
                lock(&shared.store).remove_expired(Instant::now());
                let due: Vec<Vec<u8>> = {
                    let provided = lock(&shared.provided);
                    provided.iter().filter(|(_, at)| at.elapsed() >= shared.config.provider_republish).map(|(k, _)| k.clone()).collect()
                };
                for key in due {
                    let ops = ops.clone();
                    tokio::spawn(async move {
                        if let Err(e) = ops.provide(key).await {
                            tracing::debug!(error = %e, "provider republish failed");
                        }
                    });
                }
            }
        }
    }
}

/// One of a peer's `max_inbound_streams_per_peer` slots; freed on drop.
struct PeerSlot {
    shared: Arc<Shared>,
    peer: PeerId,
}

impl PeerSlot {
    fn take(shared: &Arc<Shared>, peer: PeerId) -> Option<PeerSlot> {
        let mut counts = lock(&shared.inbound_per_peer);
        let count = counts.entry(peer).or_insert(0);
        if *count >= shared.config.max_inbound_streams_per_peer.max(1) {
            return None;
        }
        *count += 1;
        Some(PeerSlot { shared: Arc::clone(shared), peer })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.shared.inbound_per_peer);
        if let Some(count) = counts.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.peer);
            }
        }
    }
}

/// Serves one inbound DHT stream from a connection at `remote`: requests
/// until EOF, idle timeout or error.
async fn serve_stream(shared: Arc<Shared>, mut stream: Stream, remote: Multiaddr) {
    let sender = stream.peer();
    // The global permit first: a peer's slot then exists only while it holds
    // one, which bounds the per-peer map by `max_inbound_streams`.
    let Ok(_permit) = Arc::clone(&shared.inbound).try_acquire_owned() else {
        tracing::debug!(peer = %sender, "too many inbound DHT streams; resetting");
        stream.reset();
        return;
    };
    let Some(_slot) = PeerSlot::take(&shared, sender) else {
        tracing::debug!(peer = %sender, "too many inbound DHT streams from this peer; resetting");
        stream.reset();
        return;
    };
    let ip = IpGroup::of(&remote);
    loop {
        let bytes =
            match tokio::time::timeout(shared.config.inbound_idle_timeout, protocol::read_message(&mut stream)).await {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(MessageError::Frame(crate::wire::frame::FrameError::UnexpectedEof))) => break,
                Ok(Err(e)) => {
                    lock(&shared.stats).inbound_rejected += 1;
                    tracing::debug!(%sender, error = %e, "bad DHT message");
                    stream.reset();
                    return;
                }
                Err(_) => break,
            };
        let request = match protocol::decode_request(&bytes) {
            Ok(request) => request,
            Err(e) => {
                lock(&shared.stats).inbound_rejected += 1;
                tracing::debug!(%sender, error = %e, "bad DHT request");
                stream.reset();
                return;
            }
        };
        let kind = request.message_type();
        let key = request.key().to_vec();
        lock(&shared.stats).inbound_requests += 1;
        match shared.handle_request(sender, ip, request) {
            Ok(Some(response)) => {
                let bytes = protocol::encode_response(kind, &key, &response);
                let write = protocol::write_message(&mut stream, &bytes);
                if !matches!(tokio::time::timeout(shared.config.request_timeout, write).await, Ok(Ok(()))) {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                lock(&shared.stats).inbound_rejected += 1;
                tracing::debug!(%sender, error = %e, "DHT request refused");
                stream.reset();
                return;
            }
        }
    }
    let _ = tokio::time::timeout(shared.config.request_timeout, stream.shutdown()).await;
}

/// The operations, owned so they can run as tasks on the node's runtime.
#[derive(Clone)]
struct Ops {
    node: Node,
    shared: Arc<Shared>,
}

impl Ops {
    fn config(&self) -> &Config {
        &self.shared.config
    }

    fn lookup_config(&self) -> LookupConfig {
        let c = self.config();
        LookupConfig {
            alpha: c.alpha,
            k: c.k,
            request_timeout: c.request_timeout,
            max_requests: c.max_requests,
            max_candidates: c.max_requests.max(c.k * 4),
        }
    }

    /// Sends one request and reads its answer, within the request timeout.
    async fn request(&self, peer: &KadPeer, request: &Request) -> Result<Response, KadError> {
        lock(&self.shared.stats).outbound_requests += 1;
        if !peer.addrs.is_empty() {
            self.node.add_addresses(peer.peer, &peer.addrs, ADDRESS_TTL);
        } else if !self.node.is_connected(&peer.peer)
            && self.node.peer_info(&peer.peer).is_none_or(|i| i.addrs.is_empty())
        {
            // Unreachable without an address; and asking the peer router
            // (this DHT) from inside a lookup would start lookups within lookups.
            return Err(KadError::Node(crate::Error::NoRoute(crate::swarm::SwarmError::NoAddresses(peer.peer))));
        }
        let exchange = async {
            let mut stream = self.node.new_stream(peer.peer, &self.config().protocol).await?;
            protocol::write_message(&mut stream, &protocol::encode_request(request)).await.map_err(crate::Error::Io)?;
            if !request.expects_response() {
                stream.shutdown().await.map_err(crate::Error::Io)?;
                return Ok(Response::default());
            }
            let bytes = protocol::read_message(&mut stream).await?;
            let _ = stream.shutdown().await;
            Ok(protocol::decode_response(request.message_type(), request.key(), &bytes)?)
        };
        match tokio::time::timeout(self.config().request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(KadError::Timeout),
        }
    }

    fn seeds(&self, key: &[u8]) -> Vec<KadPeer> {
        lock(&self.shared.table)
            .closest(&Key::from_bytes(key), self.config().k)
            .into_iter()
            .map(|e| KadPeer { peer: e.peer, addrs: e.addrs })
            .collect()
    }

    /// Drives `lookup` to its end, sending `request` to the peers it names;
    /// `on_response` sees each answer (and may finish the lookup).
    async fn drive(
        &self,
        lookup: &mut Lookup,
        request: Request,
        mut on_response: impl FnMut(&mut Lookup, &KadPeer, &Response),
    ) {
        let request = Arc::new(request);
        let deadline = tokio::time::Instant::now() + self.config().query_timeout;
        let mut inflight: JoinSet<(KadPeer, bool, Result<Response, KadError>)> = JoinSet::new();
        loop {
            match lookup.poll(Instant::now()) {
                Action::Done => break,
                Action::Send(peers) => {
                    for peer in peers {
                        let (peer, own) = self.with_own_addresses(peer);
                        let ops = self.clone();
                        let request = Arc::clone(&request);
                        inflight.spawn(async move {
                            let result = ops.request(&peer, &request).await;
                            (peer, own, result)
                        });
                    }
                }
                Action::Wait(next) => {
                    let wake = next.map(tokio::time::Instant::from_std).unwrap_or(deadline).min(deadline);
                    tokio::select! {
                        joined = inflight.join_next() => match joined {
                            Some(Ok((peer, _, Ok(response)))) => {
                                // It answered on the protocol: it serves it.
                                let _ = lock(&self.shared.table).insert(peer.peer, &peer.addrs);
                                lookup.on_success(&peer.peer, response.closer.clone());
                                on_response(lookup, &peer, &response);
                            }
                            Some(Ok((peer, own, Err(e)))) => {
                                tracing::debug!(peer = %peer.peer, own, error = %e, "DHT request failed");
                                // Only the peer's own failure at its own
                                // addresses evicts it: addresses a third party
                                // named that fail are no evidence against it.
                                if own {
                                    lock(&self.shared.table).remove(&peer.peer);
                                }
                                lookup.on_failure(&peer.peer);
                            }
                            Some(Err(_)) | None => {}
                        },
                        _ = tokio::time::sleep_until(wake) => {
                            if tokio::time::Instant::now() >= deadline {
                                lookup.finish();
                            }
                        }
                    }
                }
            }
        }
        // Dropping the set aborts requests still in flight.
    }

    /// The peer to ask and the addresses to dial: a peer in the routing
    /// table is dialed at its entry's addresses (its own, from identify or
    /// from its answers), whatever a third party's `closerPeers` said. The
    /// flag says whether they are its own: only then is a failure evidence
    /// that evicts the entry.
    fn with_own_addresses(&self, peer: KadPeer) -> (KadPeer, bool) {
        match lock(&self.shared.table).get(&peer.peer) {
            Some(entry) if !entry.addrs.is_empty() || peer.addrs.is_empty() => {
                (KadPeer { peer: peer.peer, addrs: entry.addrs.clone() }, true)
            }
            Some(_) | None => (peer, false),
        }
    }

    async fn closest_peers(&self, key: Vec<u8>) -> Result<ClosestPeers, KadError> {
        let seeds = self.seeds(&key);
        if seeds.is_empty() {
            return Err(KadError::NoPeers);
        }
        let mut lookup = Lookup::new(Key::from_bytes(&key), self.shared.local, seeds, self.lookup_config());
        self.drive(&mut lookup, Request::FindNode { key }, |_, _, _| {}).await;
        Ok(ClosestPeers {
            peers: lookup.closest_succeeded(self.config().k),
            hops: lookup.hops(),
            requests: lookup.requests(),
        })
    }

    async fn add_bootstrap_peer(&self, addr: Multiaddr) -> Result<PeerId, KadError> {
        let peer = addr.peer_id().ok_or(KadError::MissingPeerId)?;
        let mut events = self.node.events();
        self.node.dial(addr.clone()).await?;
        let identified = async {
            loop {
                if let Some(info) = self.node.peer_info(&peer)
                    && info.agent_version.is_some()
                {
                    return Some(info.protocols);
                }
                match events.next().await {
                    Some(Event::Identified { peer: p, info }) if p == peer => return Some(info.protocols),
                    Some(_) => {}
                    None => return None,
                }
            }
        };
        let protocols = tokio::time::timeout(self.config().request_timeout, identified)
            .await
            .map_err(|_| KadError::Timeout)?
            .ok_or(KadError::Shutdown)?;
        if !protocols.iter().any(|p| p == &self.config().protocol) {
            return Err(KadError::NotADhtPeer(peer));
        }
        let mut addrs = self.node.peer_info(&peer).map(|i| i.addrs).unwrap_or_default();
        if addrs.is_empty() {
            addrs.push(crate::transport::without_p2p(&addr));
        }
        match lock(&self.shared.table).insert(peer, &addrs) {
            Insert::Inserted | Insert::Updated | Insert::BucketFull => Ok(peer),
            Insert::SelfKey => Err(KadError::NotADhtPeer(peer)),
        }
    }

    async fn find_peer(&self, target: PeerId) -> Result<FoundPeer, KadError> {
        if let Some(info) = self.node.peer_info(&target)
            && !info.addrs.is_empty()
        {
            return Ok(FoundPeer { addrs: info.addrs, hops: 0, requests: 0 });
        }
        let key = target.to_bytes();
        let seeds = self.seeds(&key);
        if seeds.is_empty() {
            return Err(KadError::NoPeers);
        }
        let mut lookup = Lookup::new(Key::from_bytes(&key), self.shared.local, seeds, self.lookup_config());
        let mut found: Option<(Vec<Multiaddr>, u32)> = None;
        self.drive(&mut lookup, Request::FindNode { key }, |lookup, from, response| {
            if from.peer == target && !from.addrs.is_empty() {
                found = Some((from.addrs.clone(), lookup.hops()));
                lookup.finish();
            } else if let Some(p) = response.closer.iter().find(|p| p.peer == target && !p.addrs.is_empty()) {
                found = Some((p.addrs.clone(), lookup.hops()));
                lookup.finish();
            }
        })
        .await;
        match found {
            Some((addrs, hops)) => {
                self.node.add_addresses(target, &addrs, ADDRESS_TTL);
                Ok(FoundPeer { addrs, hops, requests: lookup.requests() })
            }
            None => Err(KadError::PeerNotFound),
        }
    }

    async fn dial_peer(&self, peer: PeerId) -> Result<(), KadError> {
        if self.node.is_connected(&peer) {
            return Ok(());
        }
        let mut last = None;
        let stored = self.node.peer_info(&peer).map(|i| i.addrs).unwrap_or_default();
        for addr in stored {
            match self.node.dial(addr.with(crate::multiaddr::Protocol::P2p(peer))).await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        let found = match self.find_peer_via_dht(peer).await {
            Ok(found) => found,
            Err(e) => return Err(last.map(KadError::Node).unwrap_or(e)),
        };
        for addr in found {
            match self.node.dial(addr.with(crate::multiaddr::Protocol::P2p(peer))).await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map(KadError::Node).unwrap_or(KadError::PeerNotFound))
    }

    /// find_peer without the peer store (whose addresses just failed).
    async fn find_peer_via_dht(&self, target: PeerId) -> Result<Vec<Multiaddr>, KadError> {
        let key = target.to_bytes();
        let seeds = self.seeds(&key);
        if seeds.is_empty() {
            return Err(KadError::NoPeers);
        }
        let mut lookup = Lookup::new(Key::from_bytes(&key), self.shared.local, seeds, self.lookup_config());
        let mut found = None;
        self.drive(&mut lookup, Request::FindNode { key }, |lookup, _, response| {
            if let Some(p) = response.closer.iter().find(|p| p.peer == target && !p.addrs.is_empty()) {
                found = Some(p.addrs.clone());
                lookup.finish();
            }
        })
        .await;
        found.ok_or(KadError::PeerNotFound)
    }

    /// Sends `request` to each of `peers` at once; returns how many succeeded.
    async fn send_to_all(
        &self,
        peers: Vec<KadPeer>,
        request: Request,
        check: fn(&Request, &Response) -> bool,
    ) -> usize {
        let request = Arc::new(request);
        let mut set = JoinSet::new();
        for peer in peers {
            let ops = self.clone();
            let request = Arc::clone(&request);
            set.spawn(async move {
                match ops.request(&peer, &request).await {
                    Ok(response) => check(&request, &response),
                    Err(e) => {
                        tracing::debug!(peer = %peer.peer, error = %e, "DHT store request failed");
                        false
                    }
                }
            });
        }
        let mut ok = 0;
        while let Some(joined) = set.join_next().await {
            if matches!(joined, Ok(true)) {
                ok += 1;
            }
        }
        ok
    }

    async fn put_value(&self, record: Record) -> Result<usize, KadError> {
        self.config().validators.validate(&record.key, &record.value, SystemTime::now())?;
        self.shared.put_local(&record, Origin::Local)?;
        let closest = self.closest_peers(record.key.clone()).await?;
        let echo = |req: &Request, resp: &Response| match req {
            Request::PutValue { record } => resp.record.as_ref() == Some(record),
            _ => false,
        };
        let stored = self.send_to_all(closest.peers, Request::PutValue { record }, echo).await;
        if stored == 0 {
            return Err(KadError::NotStored);
        }
        Ok(stored)
    }

    async fn get_value(&self, key: Vec<u8>, quorum: usize) -> Result<Vec<u8>, KadError> {
        let quorum = quorum.max(1);
        let validators = self.config().validators.clone();
        let now = SystemTime::now();
        // (peer or None for ourselves, value)
        let mut found: Vec<(Option<KadPeer>, Vec<u8>)> = Vec::new();
        if let Some(value) = lock(&self.shared.store).get(&key, Instant::now())
            && validators.validate(&key, &value, now).is_ok()
        {
            found.push((None, value));
            if quorum == 1 {
                return Ok(found.remove(0).1);
            }
        }
        let seeds = self.seeds(&key);
        if seeds.is_empty() && found.is_empty() {
            return Err(KadError::NoPeers);
        }
        let mut lookup = Lookup::new(Key::from_bytes(&key), self.shared.local, seeds, self.lookup_config());
        let mut answered: Vec<KadPeer> = Vec::new();
        self.drive(&mut lookup, Request::GetValue { key: key.clone() }, |lookup, from, response| {
            answered.push(from.clone());
            let Some(record) = &response.record else { return };
            if record.key != key {
                tracing::debug!(peer = %from.peer, "GET_VALUE answer for another key; ignored");
                return;
            }
            match validators.validate(&key, &record.value, now) {
                Ok(()) => {
                    found.push((Some(from.clone()), record.value.clone()));
                    if found.len() >= quorum {
                        lookup.finish();
                    }
                }
                Err(e) => tracing::debug!(peer = %from.peer, error = %e, "invalid record in GET_VALUE answer"),
            }
        })
        .await;
        if found.is_empty() {
            return Err(KadError::NotFound);
        }
        let values: Vec<Vec<u8>> = found.iter().map(|(_, v)| v.clone()).collect();
        let best = values[validators.select(&key, &values)].clone();
        // Entry correction: peers that sent a worse record, and the closest
        // peers that answered without one, get the best.
        let mut outdated: Vec<KadPeer> =
            found.iter().filter(|(_, v)| *v != best).filter_map(|(p, _)| p.clone()).collect();
        let holders: Vec<PeerId> = found.iter().filter_map(|(p, _)| p.as_ref().map(|p| p.peer)).collect();
        let closest = lookup.closest_succeeded(self.config().k);
        outdated.extend(closest.into_iter().filter(|p| !holders.contains(&p.peer)));
        if found.iter().any(|(p, v)| p.is_none() && *v != best) {
            let _ = self.shared.put_local(&Record { key: key.clone(), value: best.clone() }, Origin::Local);
        }
        if !outdated.is_empty() {
            let ops = self.clone();
            let record = Record { key, value: best.clone() };
            tokio::spawn(async move {
                ops.send_to_all(outdated, Request::PutValue { record }, |_, _| true).await;
            });
        }
        Ok(best)
    }

    fn local_provider_peer(&self) -> KadPeer {
        KadPeer { peer: self.shared.local, addrs: self.node.listen_addrs() }
    }

    async fn provide(&self, key: Vec<u8>) -> Result<usize, KadError> {
        let me = self.local_provider_peer();
        lock(&self.shared.store).add_provider(key.clone(), me.peer, me.addrs.clone(), Origin::Local, Instant::now())?;
        {
            let mut provided = lock(&self.shared.provided);
            if provided.len() < self.config().store.max_local_provided_keys || provided.contains_key(&key) {
                provided.insert(key.clone(), Instant::now());
            }
        }
        let closest = self.closest_peers(key.clone()).await?;
        let told =
            self.send_to_all(closest.peers, Request::AddProvider { key, providers: vec![me] }, |_, _| true).await;
        if told == 0 {
            return Err(KadError::NotStored);
        }
        Ok(told)
    }

    async fn providers(&self, key: Vec<u8>, limit: usize) -> Result<Vec<KadPeer>, KadError> {
        let limit = limit.max(1);
        let mut found: Vec<KadPeer> = lock(&self.shared.store)
            .providers(&key, Instant::now())
            .into_iter()
            .map(|p| KadPeer { peer: p.peer, addrs: p.addrs })
            .take(limit)
            .collect();
        if found.len() >= limit {
            return Ok(found);
        }
        let seeds = self.seeds(&key);
        if seeds.is_empty() {
            return if found.is_empty() { Err(KadError::NoPeers) } else { Ok(found) };
        }
        let mut lookup = Lookup::new(Key::from_bytes(&key), self.shared.local, seeds, self.lookup_config());
        self.drive(&mut lookup, Request::GetProviders { key }, |lookup, _, response| {
            for p in &response.providers {
                if found.len() < limit && !found.iter().any(|f| f.peer == p.peer) {
                    found.push(p.clone());
                }
            }
            if found.len() >= limit {
                lookup.finish();
            }
        })
        .await;
        for p in &found {
            if p.peer != self.shared.local && !p.addrs.is_empty() {
                self.node.add_addresses(p.peer, &p.addrs, ADDRESS_TTL);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory_node() -> Node {
        Node::builder().listen("/memory/0".parse().expect("valid")).build().expect("node starts")
    }

    /// Opens a DHT stream to `server` and has one PING answered on it: the
    /// stream then holds an inbound slot. `None` if the server refused it.
    async fn held_stream(from: &Node, server: PeerId) -> Option<Stream> {
        let mut stream = from.new_stream(server, PROTOCOL).await.ok()?;
        protocol::write_message(&mut stream, &protocol::encode_request(&Request::Ping)).await.ok()?;
        protocol::read_message(&mut stream).await.ok()?;
        Some(stream)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_per_peer_inbound_table_is_bounded_and_emptied() {
        let config = Config {
            mode: Mode::Server,
            max_inbound_streams: 4,
            max_inbound_streams_per_peer: 2,
            inbound_idle_timeout: Duration::from_secs(60),
            random_walk_interval: None,
            ..Config::default()
        };
        let server = memory_node();
        let kad = server.kad(config);
        let shared = Arc::clone(&kad.inner.shared);
        let mut held = Vec::new();
        let mut per_client = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..3 {
            let client = memory_node();
            client.dial(server.listen_addrs_with_peer_id()[0].clone()).await.expect("dials");
            let mut got = 0;
            for _ in 0..3 {
                if let Some(stream) = held_stream(&client, server.peer_id()).await {
                    got += 1;
                    held.push(stream);
                }
            }
            per_client.push(got);
            let counts = lock(&shared.inbound_per_peer).clone();
            assert!(counts.len() <= 4 && counts.values().all(|c| *c <= 2), "{counts:?}");
            clients.push(client);
        }
        // 2 + 2 fill the 4 global slots; the third peer gets none.
        assert_eq!(per_client, vec![2, 2, 0]);
        drop(held);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !lock(&shared.inbound_per_peer).is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "slots never freed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(shared.inbound.available_permits(), 4);
    }
}
