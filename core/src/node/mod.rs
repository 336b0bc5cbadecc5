//! The public face of lp2p: build a [`Node`], listen, dial, set stream
//! handlers, open streams, ping, query the peer store, follow events.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), lp2p::Error> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let server = lp2p::Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse()?).build()?;
//! server.set_stream_handler("/echo/1.0.0", |mut stream: lp2p::Stream| async move {
//!     let mut buf = Vec::new();
//!     if stream.read_to_end(&mut buf).await.is_ok() {
//!         let _ = stream.write_all(&buf).await;
//!         let _ = stream.shutdown().await;
//!     }
//! });
//! let client = lp2p::Node::builder().build()?;
//! let peer = client.dial(server.listen_addrs_with_peer_id()[0].clone()).await?;
//! let mut stream = client.new_stream(peer, "/echo/1.0.0").await?;
//! stream.write_all(b"hi").await?;
//! stream.shutdown().await?;
//! let mut echoed = Vec::new();
//! stream.read_to_end(&mut echoed).await?;
//! assert_eq!(echoed, b"hi");
//! println!("rtt {:?}", client.ping(peer).await?);
//! client.shutdown().await;
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod bootstrap;
mod error;
mod kad;
mod mdns;
mod rendezvous;
mod stream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::broadcast;
use tokio_util::task::AbortOnDropHandle;

pub use error::Error;
pub use stream::Stream;

use crate::identity::{Keypair, PeerId};
use crate::multiaddr::{Multiaddr, Protocol};
use crate::peerstore::PeerInfo;
use crate::protocols::perf::{PerfResult, ServerStats as PerfServerStats};
use crate::swarm::{self, ConnectionId, Event, Swarm};

/// How long [`Node::shutdown`] waits for tasks to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Builds a [`Node`].
#[derive(Default)]
pub struct NodeBuilder {
    identity: Option<Keypair>,
    listen: Vec<Multiaddr>,
    config: swarm::Config,
    runtime: Option<Handle>,
    bootstrap: bootstrap::BootstrapConfig,
    mdns: Option<crate::protocols::mdns::Config>,
    rendezvous_server: Option<crate::protocols::rendezvous::server::ServerConfig>,
    autonat: Option<crate::protocols::autonat::Config>,
    perf: Option<crate::protocols::perf::Config>,
}

impl NodeBuilder {
    /// The node's key pair (default: a fresh Ed25519 key).
    pub fn identity(mut self, keypair: Keypair) -> Self {
        self.identity = Some(keypair);
        self
    }

    /// An address to listen on at start (repeatable). Port 0 picks a free port.
    pub fn listen(mut self, addr: Multiaddr) -> Self {
        self.listen.push(addr);
        self
    }

    /// The agent version sent in identify.
    pub fn agent_version(mut self, agent: impl Into<String>) -> Self {
        self.config.agent_version = agent.into();
        self
    }

    /// The protocol version sent in identify.
    pub fn protocol_version(mut self, version: impl Into<String>) -> Self {
        self.config.protocol_version = version.into();
        self
    }

    /// The timeout of each connection set-up step (connect, security, handshake, muxer).
    pub fn connection_timeout(mut self, limit: Duration) -> Self {
        self.config.dial_timeout = limit;
        self.config.upgrade_timeout = limit;
        self
    }

    /// The timeout for opening a stream and for one protocol exchange (ping, identify).
    pub fn stream_timeout(mut self, limit: Duration) -> Self {
        self.config.stream_timeout = limit;
        self.config.exchange_timeout = limit;
        self
    }

    /// Connection limits: in total, and to one peer (the resource manager's
    /// system and per-peer connection limits, inbound and outbound alike).
    pub fn connection_limits(mut self, total: usize, per_peer: usize) -> Self {
        self.config.set_max_connections(total);
        self.config.set_max_connections_per_peer(per_peer);
        self
    }

    /// The resource manager's limits (connections, streams, memory,
    /// descriptors per scope, per-IP limits, allowlist); default: scaled
    /// from this machine.
    pub fn resource_limits(mut self, limits: crate::rcmgr::ResourceManagerConfig) -> Self {
        self.config.resource_manager = limits;
        self
    }

    /// The connection manager's watermarks and grace period.
    pub fn conn_manager(mut self, config: crate::connmgr::ConnManagerConfig) -> Self {
        self.config.conn_manager = config;
        self
    }

    /// Replaces the whole swarm configuration (limits, timeouts, yamux settings).
    pub fn config(mut self, config: swarm::Config) -> Self {
        self.config = config;
        self
    }

    /// Makes the node a rendezvous point (`/rendezvous/1.0.0`) with these
    /// limits; see [`Node::serve_rendezvous`].
    pub fn rendezvous_server(mut self, config: crate::protocols::rendezvous::server::ServerConfig) -> Self {
        self.rendezvous_server = Some(config);
        self
    }

    /// A bootstrap peer (repeatable): dialed at start and by
    /// [`Node::bootstrap`]. `/dnsaddr/` addresses are resolved through DNS
    /// TXT records.
    pub fn bootstrap(mut self, addr: Multiaddr) -> Self {
        self.bootstrap.list.push(addr);
        self
    }

    /// Adds the standard IPFS (Amino DHT) bootstrap peers to the bootstrap
    /// list (kubo's default list; not used unless asked for).
    pub fn ipfs_bootstrap(mut self) -> Self {
        self.bootstrap.list.extend(crate::protocols::bootstrap::ipfs_bootstrap());
        self
    }

    /// The DNS server that resolves `/dnsaddr/` bootstrap addresses
    /// (default: the system's resolver configuration).
    pub fn dns_server(mut self, server: std::net::SocketAddr) -> Self {
        self.bootstrap.dns_server = Some(server);
        self
    }

    /// Discovers peers on the local network with mDNS (off by default): found
    /// peers go to the peer store and out as [`Event::Discovered`]. Runs on
    /// the IPv4 interfaces the node listens on.
    pub fn mdns(mut self, enabled: bool) -> Self {
        self.mdns = enabled.then(Default::default);
        self
    }

    /// mDNS with these intervals, TTL and limits.
    pub fn mdns_config(mut self, config: crate::protocols::mdns::Config) -> Self {
        self.mdns = Some(config);
        self
    }

    /// Runs AutoNAT v2 (off by default): as a server, dials peers back to
    /// tell them whether an address of theirs is reachable; as a client,
    /// asks connected AutoNAT servers about our candidate addresses and
    /// confirms those enough servers reached ([`Event::ExternalAddrConfirmed`]).
    pub fn autonat(mut self, config: crate::protocols::autonat::Config) -> Self {
        self.autonat = Some(config);
        self
    }

    /// Serves `/perf/1.0.0` (off by default: the spec says a node SHOULD NOT,
    /// since a client makes the server send as many bytes as it asks for)
    /// with the default bounds (16 GiB per request each way). Running perf
    /// as a client ([`Node::perf`]) needs no switch.
    pub fn perf(mut self, enabled: bool) -> Self {
        self.perf = enabled.then(Default::default);
        self
    }

    /// Serves `/perf/1.0.0` with these bounds.
    pub fn perf_config(mut self, config: crate::protocols::perf::Config) -> Self {
        self.perf = Some(config);
        self
    }

    /// Runs the node's tasks on this runtime instead of one of its own.
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Starts the node: binds every listen address before returning. Inside a
    /// tokio runtime the node runs on it; outside one it starts its own.
    pub fn build(self) -> Result<Node, Error> {
        let (owned, handle) = match self.runtime.or_else(|| Handle::try_current().ok()) {
            Some(handle) => (None, handle),
            None => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("lp2p")
                    .enable_all()
                    .build()
                    .map_err(Error::Runtime)?;
                let handle = runtime.handle().clone();
                (Some(runtime), handle)
            }
        };
        let keypair = match self.identity {
            Some(keypair) => keypair,
            None => Keypair::generate_ed25519(),
        };
        let swarm = Swarm::new(keypair, self.config);
        let (autonat, perf) = {
            let _guard = handle.enter();
            let autonat = self.autonat.map(|config| crate::protocols::autonat::start(&swarm, config));
            let perf = self.perf.map(|config| crate::protocols::perf::start_server(&swarm, config));
            (autonat, perf)
        };
        let node =
            Node { inner: Arc::new(Inner { swarm, handle, runtime: owned, bootstrap: self.bootstrap, autonat, perf }) };
        {
            let _guard = node.inner.handle.enter();
            for addr in &self.listen {
                node.inner.swarm.listen(addr)?;
            }
        }
        if let Some(config) = self.mdns {
            node.start_mdns(config)?;
        }
        if let Some(config) = self.rendezvous_server {
            node.serve_rendezvous(config);
        }
        bootstrap::spawn(&node);
        Ok(node)
    }
}

struct Inner {
    swarm: Arc<Swarm>,
    handle: Handle,
    runtime: Option<Runtime>,
    bootstrap: bootstrap::BootstrapConfig,
    autonat: Option<crate::protocols::autonat::Autonat>,
    perf: Option<Arc<crate::protocols::perf::Server>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.swarm.begin_shutdown();
        if let Some(runtime) = self.runtime.take() {
            // Safe to call from any context, async included, unlike dropping a runtime.
            runtime.shutdown_background();
        }
    }
}

/// A running libp2p node. Cheap to clone; the node stops when the last clone
/// is dropped or [`Node::shutdown`] is called.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl Node {
    /// A builder with default settings.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    fn swarm(&self) -> &Arc<Swarm> {
        &self.inner.swarm
    }

    /// Runs `fut` on the node's runtime, so that callers on another runtime (or
    /// none) still drive the node's I/O on its own threads. Dropping the
    /// returned future (a cancelled caller) aborts the work.
    async fn on_runtime<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, Error>> + Send + 'static,
    ) -> Result<T, Error> {
        match AbortOnDropHandle::new(self.inner.handle.spawn(fut)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(Error::Internal("a node task panicked")),
            Err(_) => Err(Error::Shutdown),
        }
    }

    /// Our peer ID.
    pub fn peer_id(&self) -> PeerId {
        self.swarm().peer_id()
    }

    /// Our key pair.
    pub fn keypair(&self) -> &Keypair {
        self.swarm().keypair()
    }

    /// The addresses we listen on, without `/p2p/`.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.swarm().listen_addrs()
    }

    /// The addresses we listen on, each ending in `/p2p/<our id>`: what a
    /// remote needs to dial us.
    pub fn listen_addrs_with_peer_id(&self) -> Vec<Multiaddr> {
        let me = self.peer_id();
        self.listen_addrs().into_iter().map(|a| a.with(Protocol::P2p(me))).collect()
    }

    /// Starts listening on `addr`; returns the bound address.
    pub async fn listen(&self, addr: Multiaddr) -> Result<Multiaddr, Error> {
        let _guard = self.inner.handle.enter();
        Ok(self.swarm().listen(&addr)?)
    }

    /// Stops listening on `addr`. Returns whether it was a listen address.
    pub fn remove_listener(&self, addr: &Multiaddr) -> bool {
        self.swarm().remove_listener(addr)
    }

    /// Connects to `addr` (with or without `/p2p/<id>`) and returns the remote
    /// peer. With `/p2p/`, a live connection to that peer is reused.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, Error> {
        let swarm = Arc::clone(self.swarm());
        self.on_runtime(async move { Ok(swarm.dial(&addr).await?) }).await
    }

    /// Sets the handler for inbound streams of `protocol`, replacing any
    /// previous one. Each stream runs the handler on its own task.
    pub fn set_stream_handler<F, Fut>(&self, protocol: &str, handler: F)
    where
        F: Fn(Stream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        // The swarm announces the change to connected peers (identify push)
        // on the node's runtime, whatever thread calls this.
        let _guard = self.inner.handle.enter();
        self.swarm().set_stream_handler(
            protocol.to_string(),
            Arc::new(move |peer, protocol, raw| {
                let handler = Arc::clone(&handler);
                Box::pin(async move { handler(Stream::new(raw, peer, protocol)).await })
            }),
        );
    }

    /// Removes the handler of `protocol`. Returns whether there was one.
    pub fn remove_stream_handler(&self, protocol: &str) -> bool {
        let _guard = self.inner.handle.enter();
        self.swarm().remove_stream_handler(protocol)
    }

    /// Protocols this node answers (built-in and handlers).
    pub fn protocols(&self) -> Vec<String> {
        self.swarm().supported_protocols()
    }

    /// Opens a stream to `peer` for `protocol`. Uses a live connection, or
    /// dials an address from the peer store. Fails with
    /// [`Error::ProtocolNotSupported`] when the peer does not speak it.
    pub async fn new_stream(&self, peer: PeerId, protocol: &str) -> Result<Stream, Error> {
        let swarm = Arc::clone(self.swarm());
        let protocol = protocol.to_string();
        self.on_runtime(async move {
            let raw = swarm.new_stream(peer, &protocol).await?;
            Ok(Stream::new(raw, peer, protocol))
        })
        .await
    }

    /// One ping round trip to `peer`.
    pub async fn ping(&self, peer: PeerId) -> Result<Duration, Error> {
        let swarm = Arc::clone(self.swarm());
        self.on_runtime(async move { Ok(swarm.ping(peer).await?) }).await
    }

    /// Measures throughput with `peer` over `/perf/1.0.0`: uploads `upload`
    /// bytes, then downloads `download` bytes.
    pub async fn perf(&self, peer: PeerId, upload: u64, download: u64) -> Result<PerfResult, Error> {
        let swarm = Arc::clone(self.swarm());
        self.on_runtime(async move { Ok(swarm.perf(peer, upload, download).await?) }).await
    }

    /// What this node's perf server has served (all zeros when it does not
    /// serve perf, see [`NodeBuilder::perf`]).
    pub fn perf_server_stats(&self) -> PerfServerStats {
        self.inner.perf.as_ref().map(|server| server.stats()).unwrap_or_default()
    }

    /// Whether a connection to `peer` is open.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.swarm().is_connected(peer)
    }

    /// Peers with an open connection.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        self.swarm().connected_peers()
    }

    /// Closes one connection (GoAway, then close). Returns whether it was open.
    pub async fn close_connection(&self, connection: ConnectionId) -> bool {
        let swarm = Arc::clone(self.swarm());
        self.on_runtime(async move { Ok(swarm.close_connection(connection).await) }).await.unwrap_or(false)
    }

    /// Closes every connection to `peer`.
    pub async fn disconnect(&self, peer: PeerId) {
        let swarm = Arc::clone(self.swarm());
        let _ = self
            .on_runtime(async move {
                swarm.disconnect(&peer).await;
                Ok(())
            })
            .await;
    }

    /// What the peer store knows of `peer`: addresses, protocols, versions,
    /// public key and the latest signed peer record (all learned by identify).
    pub fn peer_info(&self, peer: &PeerId) -> Option<PeerInfo> {
        self.swarm().peer_info(peer)
    }

    /// Every peer the peer store knows.
    pub fn known_peers(&self) -> Vec<PeerId> {
        self.swarm().known_peers()
    }

    /// Tells the peer store where `peer` can be reached, so that
    /// [`Node::new_stream`] can dial it by peer ID.
    pub fn add_addresses(&self, peer: PeerId, addrs: &[Multiaddr], ttl: Duration) {
        self.swarm().add_addresses(peer, addrs, ttl);
    }

    /// Addresses others can reach this node on, as confirmed by AutoNAT or
    /// by [`Node::add_external_address`]; announced in identify and in the
    /// signed peer record.
    pub fn external_addrs(&self) -> Vec<Multiaddr> {
        self.swarm().external_addrs()
    }

    /// Declares `addr` (e.g. a port forwarded on the router, or a public IP
    /// known from configuration) a confirmed external address. Returns
    /// whether it is new. A DHT in `Mode::Auto` turns to server mode.
    pub fn add_external_address(&self, addr: Multiaddr) -> bool {
        let _guard = self.inner.handle.enter();
        self.swarm().add_external_address(addr)
    }

    /// Removes a confirmed external address. Returns whether it was one.
    pub fn remove_external_address(&self, addr: &Multiaddr) -> bool {
        let _guard = self.inner.handle.enter();
        self.swarm().remove_external_address(addr)
    }

    /// AutoNAT, when the node runs it ([`NodeBuilder::autonat`]): one-off
    /// probes and what the probing rounds concluded per address.
    pub fn autonat(&self) -> Option<&crate::protocols::autonat::Autonat> {
        self.inner.autonat.as_ref()
    }

    /// Addresses worth testing for reachability: listen addresses translated
    /// to the IPs peers observed us on, then the listen addresses.
    pub fn external_addr_candidates(&self) -> Vec<Multiaddr> {
        self.swarm().external_addr_candidates()
    }

    /// Sets `peer`'s tag `tag` to `value` (go's `ConnManager.TagPeer`):
    /// over the high watermark, connections of lower-valued peers (the sum
    /// of their tags) are closed first. Tags are forgotten when the peer's
    /// last connection closes.
    pub fn tag_peer(&self, peer: PeerId, tag: &str, value: i64) -> Result<(), crate::connmgr::TagError> {
        self.swarm().tag_peer(peer, tag, value)
    }

    /// Removes `peer`'s tag `tag`.
    pub fn untag_peer(&self, peer: PeerId, tag: &str) {
        self.swarm().untag_peer(peer, tag)
    }

    /// The sum of `peer`'s tags.
    pub fn peer_value(&self, peer: PeerId) -> i64 {
        self.swarm().peer_value(peer)
    }

    /// Keeps the connection manager from closing `peer`'s connections while
    /// protected under `tag` (go's `ConnManager.Protect`).
    pub fn protect_peer(&self, peer: PeerId, tag: &str) -> Result<(), crate::connmgr::TagError> {
        self.swarm().protect_peer(peer, tag)
    }

    /// Removes protection `tag` from `peer`; returns whether another tag
    /// still protects it.
    pub fn unprotect_peer(&self, peer: PeerId, tag: &str) -> bool {
        self.swarm().unprotect_peer(peer, tag)
    }

    /// Whether `peer` is protected under `tag`, or under any tag if `None`.
    pub fn is_protected(&self, peer: PeerId, tag: Option<&str>) -> bool {
        self.swarm().is_protected(peer, tag)
    }

    /// Closes connections down to the connection manager's low watermark now
    /// (go's `TrimOpenConns`). Returns how many it closes.
    pub fn trim_open_connections(&self) -> usize {
        let _guard = self.inner.handle.enter();
        self.swarm().trim_open_connections()
    }

    /// What the resource manager holds in each scope and the limit hits so
    /// far (for metrics and leak checks).
    pub fn resource_stats(&self) -> crate::rcmgr::Stats {
        self.swarm().resource_manager().stats()
    }

    /// Whether the resource manager holds nothing at all (every connection
    /// and stream released).
    pub fn resources_idle(&self) -> bool {
        self.swarm().resource_manager().is_idle()
    }

    /// A new subscription to the node's events, from now on.
    pub fn events(&self) -> Events {
        Events { rx: self.swarm().subscribe() }
    }

    /// Closes listeners and connections (GoAway to every peer) and stops the
    /// node's tasks. Later calls fail with [`Error::Shutdown`].
    pub async fn shutdown(&self) {
        let swarm = Arc::clone(self.swarm());
        let _ = self
            .on_runtime(async move {
                swarm.shutdown(SHUTDOWN_GRACE).await;
                Ok(())
            })
            .await;
    }
}

/// A subscription to a node's [`Event`]s.
///
/// Events are buffered (the swarm's `event_capacity`); a subscriber that falls
/// further behind skips the oldest ones rather than growing memory.
pub struct Events {
    rx: broadcast::Receiver<Event>,
}

impl Events {
    /// The next event; `None` once the node is gone.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "event subscriber lagged; oldest events skipped");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is ready now.
    pub fn try_next(&mut self) -> Option<Event> {
        loop {
            match self.rx.try_recv() {
                Ok(event) => return Some(event),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    }
}
