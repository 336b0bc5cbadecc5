//! [`Node`]: start with a config, listen, dial, open streams, serve protocols
//! with handlers written in the foreign language, ping, read what identify
//! learned, follow events, shut down.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Lp2pError, parse_multiaddr, parse_peer_id};
use crate::keys::Keypair;
use crate::runtime;
use crate::stream::Stream;

/// How long one stream read or write may wait, unless the config says.
const DEFAULT_STREAM_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// How a node starts. Every field has a default.
#[derive(Default, uniffi::Record)]
pub struct NodeConfig {
    /// Addresses to listen on, e.g. `/ip4/127.0.0.1/tcp/0`. None: dial only.
    #[uniffi(default)]
    pub listen_addrs: Vec<String>,
    /// The identity; a new Ed25519 key when absent.
    #[uniffi(default)]
    pub keypair: Option<Arc<Keypair>>,
    /// The agent version identify announces.
    #[uniffi(default)]
    pub agent_version: Option<String>,
    /// Limit for dialing and upgrading one connection.
    #[uniffi(default)]
    pub connection_timeout: Option<Duration>,
    /// Limit for opening and negotiating one stream.
    #[uniffi(default)]
    pub stream_timeout: Option<Duration>,
    /// Limit for one stream read, write or close (default 30 s).
    #[uniffi(default)]
    pub stream_io_timeout: Option<Duration>,
    /// Find peers on the local network by mDNS (`NodeEvent.Discovered`) and
    /// be found; runs on the IPv4 interfaces of the listen addresses.
    #[uniffi(default)]
    pub mdns: bool,
    /// AutoNAT v2 (off when absent): serves other peers' reachability checks
    /// and confirms our own reachable addresses (`NodeEvent.ExternalAddrConfirmed`;
    /// a DHT in `KadMode.Auto` then serves).
    #[uniffi(default)]
    pub autonat: Option<AutonatConfig>,
    /// Resource limits (default: scaled from the machine).
    #[uniffi(default)]
    pub resource_limits: Option<crate::resources::ResourceLimits>,
    /// The connection manager (default: watermarks 160 / 192, 60 s grace).
    #[uniffi(default)]
    pub conn_manager: Option<crate::resources::ConnManagerConfig>,
    /// Networks whose connections skip the connection limits, e.g.
    /// `/ip4/10.0.0.0/ipcidr/8`, optionally ending in `/p2p/<peer>`.
    #[uniffi(default)]
    pub allowlist: Vec<String>,
    /// Serve `/perf/1.0.0` (off by default, as the perf spec says: a client
    /// makes the server send as many bytes as it asks for). `perf` as a
    /// client works either way.
    #[uniffi(default)]
    pub perf: bool,
    /// The most bytes one perf request may ask us to send, and the most
    /// upload bytes we drain for one (default 16 GiB); a larger request is
    /// refused (the stream is reset). At least 1.
    #[uniffi(default)]
    pub perf_max_request_bytes: Option<u64>,
}

/// AutoNAT v2 settings. Every field has a default.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AutonatConfig {
    /// Dial back the addresses other peers ask about.
    #[uniffi(default = true)]
    pub server: bool,
    /// Ask connected AutoNAT servers to dial our own candidate addresses;
    /// one that enough servers reach becomes a confirmed external address.
    #[uniffi(default = true)]
    pub client: bool,
    /// Dial and probe loopback and private-network addresses (the spec says
    /// not to; for tests and all-private networks).
    #[uniffi(default = false)]
    pub allow_private_addresses: bool,
    /// Distinct servers that must reach an address to confirm it (at least 1).
    #[uniffi(default = 3)]
    pub confirmations: u32,
    /// Time between probing rounds while some candidate has no verdict (the
    /// first round comes this long after start); default 15 s.
    #[uniffi(default)]
    pub probe_interval: Option<Duration>,
}

impl Default for AutonatConfig {
    fn default() -> Self {
        AutonatConfig {
            server: true,
            client: true,
            allow_private_addresses: false,
            confirmations: 3,
            probe_interval: None,
        }
    }
}

impl AutonatConfig {
    fn to_core(&self) -> Result<lp2p::protocols::autonat::Config, Lp2pError> {
        let mut config = lp2p::protocols::autonat::Config {
            server: self.server,
            client: self.client,
            allow_private_addresses: self.allow_private_addresses,
            ..Default::default()
        };
        if self.confirmations == 0 {
            return Err(Lp2pError::InvalidArgument("autonat confirmations must be at least 1".into()));
        }
        config.confirmations = self.confirmations as usize;
        if let Some(interval) = self.probe_interval {
            if interval.is_zero() {
                return Err(Lp2pError::InvalidArgument("autonat probe_interval must be more than 0".into()));
            }
            config.probe_interval = interval;
        }
        Ok(config)
    }
}

/// A handler for inbound streams of one protocol, implemented in Kotlin or
/// Swift. Each inbound stream runs `handle` on its own task; the stream is
/// reset if the handler returns without closing it.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait StreamHandler: Send + Sync {
    /// Serves one inbound stream.
    async fn handle(&self, stream: Arc<Stream>);
}

/// Receives a node's events, implemented in Kotlin or Swift. Called on an
/// engine thread, one event at a time, in order: return quickly.
#[uniffi::export(with_foreign)]
pub trait EventListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: NodeEvent);
}

/// Something that happened in a node.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum NodeEvent {
    /// A connection finished its upgrade.
    ConnectionEstablished { peer_id: String, connection_id: u64, address: String, outbound: bool },
    /// A connection closed.
    ConnectionClosed { peer_id: String, connection_id: u64, address: String },
    /// The node listens on a new address.
    NewListenAddr { address: String },
    /// The node no longer listens on an address.
    ExpiredListenAddr { address: String },
    /// A peer answered identify (or pushed an update).
    Identified {
        peer_id: String,
        agent_version: String,
        protocol_version: String,
        protocols: Vec<String>,
        listen_addrs: Vec<String>,
    },
    /// Discovery (mDNS) found a peer, or new addresses of it (now in the peer store).
    Discovered { peer_id: String, addresses: Vec<String> },
    /// An external address was confirmed (by AutoNAT, or added by the application).
    ExternalAddrConfirmed { address: String },
    /// An external address is no longer confirmed.
    ExternalAddrExpired { address: String },
    /// A resource limit refused a connection or stream: `scope` is
    /// "system", "transient", "allowlisted", "peer" (with `peer_id`),
    /// "protocol", "service", "connection", "stream" or "subnet";
    /// `resource` is "conns_inbound", "conns_outbound", "conns",
    /// "streams_inbound", "streams_outbound", "streams", "memory" or "fds".
    ResourceLimitExceeded { scope: String, peer_id: Option<String>, resource: String, limit: u64, current: u64 },
}

impl From<lp2p::Event> for NodeEvent {
    fn from(event: lp2p::Event) -> NodeEvent {
        match event {
            lp2p::Event::ConnectionEstablished { peer, connection, addr, outbound } => {
                NodeEvent::ConnectionEstablished {
                    peer_id: peer.to_string(),
                    connection_id: connection.0,
                    address: addr.to_string(),
                    outbound,
                }
            }
            lp2p::Event::ConnectionClosed { peer, connection, addr } => NodeEvent::ConnectionClosed {
                peer_id: peer.to_string(),
                connection_id: connection.0,
                address: addr.to_string(),
            },
            lp2p::Event::NewListenAddr { addr } => NodeEvent::NewListenAddr { address: addr.to_string() },
            lp2p::Event::ExpiredListenAddr { addr } => NodeEvent::ExpiredListenAddr { address: addr.to_string() },
            lp2p::Event::Identified { peer, info } => NodeEvent::Identified {
                peer_id: peer.to_string(),
                agent_version: info.agent_version,
                protocol_version: info.protocol_version,
                protocols: info.protocols,
                listen_addrs: info.listen_addrs.iter().map(ToString::to_string).collect(),
            },
            lp2p::Event::Discovered { peer, addrs } => NodeEvent::Discovered {
                peer_id: peer.to_string(),
                addresses: addrs.iter().map(ToString::to_string).collect(),
            },
            lp2p::Event::ExternalAddrConfirmed { addr } => {
                NodeEvent::ExternalAddrConfirmed { address: addr.to_string() }
            }
            lp2p::Event::ExternalAddrExpired { addr } => NodeEvent::ExternalAddrExpired { address: addr.to_string() },
            lp2p::Event::ResourceLimitExceeded { scope, resource, limit, current } => {
                let peer_id = match &scope {
                    lp2p::rcmgr::ScopeName::Peer(peer) => Some(peer.to_string()),
                    _ => None,
                };
                NodeEvent::ResourceLimitExceeded {
                    scope: scope.kind().name().to_string(),
                    peer_id,
                    resource: resource.name().to_string(),
                    limit,
                    current,
                }
            }
        }
    }
}

/// What the peer store knows of a peer (mostly learned by identify).
/// What a node's `/perf/1.0.0` server has done, counted on its side (all 0
/// when it does not serve perf).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PerfServerStats {
    /// Exchanges served to the end.
    pub served: u64,
    /// Exchanges that failed: refused over the bound, stalled or broken.
    pub failed: u64,
    /// Upload bytes drained by the served exchanges.
    pub bytes_received: u64,
    /// Bytes sent back by the served exchanges.
    pub bytes_sent: u64,
}

/// What one `/perf/1.0.0` run measured.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PerfResult {
    /// Bytes sent.
    pub upload_bytes: u64,
    /// Bytes received.
    pub download_bytes: u64,
    /// From the first byte sent to our write side closed.
    pub upload_time: Duration,
    /// From our write side closed to the last byte received.
    pub download_time: Duration,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PeerInfo {
    pub peer_id: String,
    pub addrs: Vec<String>,
    pub protocols: Vec<String>,
    pub agent_version: Option<String>,
    pub protocol_version: Option<String>,
    /// The public key in libp2p's protobuf encoding.
    pub public_key: Option<Vec<u8>>,
}

/// An events subscription: events flow to its listener until `cancel()` or
/// until the subscription object is freed.
#[derive(uniffi::Object)]
pub struct EventSubscription {
    task: tokio::task::AbortHandle,
}

#[uniffi::export]
impl EventSubscription {
    /// Stops delivering events.
    pub fn cancel(&self) {
        self.task.abort();
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running libp2p node.
#[derive(uniffi::Object)]
pub struct Node {
    pub(crate) inner: lp2p::Node,
    stream_io_timeout: Duration,
}

#[uniffi::export]
impl Node {
    /// Starts a node: binds every listen address before returning.
    #[uniffi::constructor]
    pub fn new(config: NodeConfig) -> Result<Arc<Node>, Lp2pError> {
        let mut builder = lp2p::Node::builder().runtime(runtime::handle()?);
        for addr in &config.listen_addrs {
            builder = builder.listen(parse_multiaddr(addr)?);
        }
        if let Some(keypair) = &config.keypair {
            builder = builder.identity(keypair.inner.clone());
        }
        if let Some(agent) = config.agent_version {
            builder = builder.agent_version(agent);
        }
        if let Some(limit) = config.connection_timeout {
            builder = builder.connection_timeout(limit);
        }
        if let Some(limit) = config.stream_timeout {
            builder = builder.stream_timeout(limit);
        }
        builder = builder.mdns(config.mdns);
        if let Some(autonat) = &config.autonat
            && (autonat.server || autonat.client)
        {
            builder = builder.autonat(autonat.to_core()?);
        }
        if config.resource_limits.is_some() || !config.allowlist.is_empty() {
            builder = builder.resource_limits(crate::resources::resource_config(
                config.resource_limits.as_ref(),
                &config.allowlist,
            )?);
        }
        if let Some(manager) = &config.conn_manager {
            builder = builder.conn_manager(manager.to_core()?);
        }
        if config.perf {
            let mut bounds = lp2p::protocols::perf::Config::default();
            if let Some(max) = config.perf_max_request_bytes {
                if max == 0 {
                    return Err(Lp2pError::InvalidArgument("perf_max_request_bytes must be at least 1".into()));
                }
                bounds.max_download_bytes = max;
                bounds.max_upload_bytes = max;
            }
            builder = builder.perf_config(bounds);
        }
        let inner = builder.build()?;
        let stream_io_timeout = config.stream_io_timeout.unwrap_or(DEFAULT_STREAM_IO_TIMEOUT);
        Ok(Arc::new(Node { inner, stream_io_timeout }))
    }

    /// Our peer ID (base58).
    pub fn peer_id(&self) -> String {
        self.inner.peer_id().to_string()
    }

    /// The addresses we listen on, each ending in `/p2p/<our peer ID>`:
    /// ready to hand to another node's `dial`.
    pub fn listen_addrs(&self) -> Vec<String> {
        self.inner.listen_addrs_with_peer_id().iter().map(ToString::to_string).collect()
    }

    /// Starts listening on one more address; returns the bound address.
    pub async fn listen(&self, address: String) -> Result<String, Lp2pError> {
        let addr = parse_multiaddr(&address)?;
        Ok(self.inner.listen(addr).await?.to_string())
    }

    /// Connects to `address` (with or without `/p2p/<id>`); returns the
    /// remote peer ID.
    pub async fn dial(&self, address: String) -> Result<String, Lp2pError> {
        let addr = parse_multiaddr(&address)?;
        Ok(self.inner.dial(addr).await?.to_string())
    }

    /// Opens a stream to `peer_id` for `protocol`. Fails with
    /// `ProtocolNotSupported` when the peer does not speak it.
    pub async fn new_stream(&self, peer_id: String, protocol: String) -> Result<Arc<Stream>, Lp2pError> {
        let peer = parse_peer_id(&peer_id)?;
        let stream = self.inner.new_stream(peer, &protocol).await?;
        Ok(Arc::new(Stream::new(stream, self.stream_io_timeout)))
    }

    /// Serves inbound streams of `protocol` with `handler`, replacing any
    /// previous handler of that protocol.
    pub fn set_stream_handler(&self, protocol: String, handler: Arc<dyn StreamHandler>) {
        let io_timeout = self.stream_io_timeout;
        self.inner.set_stream_handler(&protocol, move |stream| {
            let handler = Arc::clone(&handler);
            async move { handler.handle(Arc::new(Stream::new(stream, io_timeout))).await }
        });
    }

    /// Stops serving `protocol`. Returns whether it had a handler.
    pub fn remove_stream_handler(&self, protocol: String) -> bool {
        self.inner.remove_stream_handler(&protocol)
    }

    /// The protocols this node serves (built-in and handlers).
    pub fn protocols(&self) -> Vec<String> {
        self.inner.protocols()
    }

    /// One ping round trip to a connected (or known) peer.
    pub async fn ping(&self, peer_id: String) -> Result<Duration, Lp2pError> {
        let peer = parse_peer_id(&peer_id)?;
        Ok(self.inner.ping(peer).await?)
    }

    /// Measures throughput with `peer_id` over `/perf/1.0.0`: uploads
    /// `upload_bytes`, then downloads `download_bytes`.
    pub async fn perf(&self, peer_id: String, upload_bytes: u64, download_bytes: u64) -> Result<PerfResult, Lp2pError> {
        let peer = parse_peer_id(&peer_id)?;
        let run = self.inner.perf(peer, upload_bytes, download_bytes).await?;
        Ok(PerfResult {
            upload_bytes: run.upload_bytes,
            download_bytes: run.download_bytes,
            upload_time: run.upload_time,
            download_time: run.download_time,
        })
    }

    /// What this node's perf server has served (all 0 when `perf` is off).
    pub fn perf_server_stats(&self) -> PerfServerStats {
        let stats = self.inner.perf_server_stats();
        PerfServerStats {
            served: stats.served,
            failed: stats.failed,
            bytes_received: stats.bytes_received,
            bytes_sent: stats.bytes_sent,
        }
    }

    /// What identify told us about `peer_id`; `UnknownPeer` when nothing.
    pub fn peer_info(&self, peer_id: String) -> Result<PeerInfo, Lp2pError> {
        let peer = parse_peer_id(&peer_id)?;
        let Some(info) = self.inner.peer_info(&peer) else {
            return Err(Lp2pError::UnknownPeer(format!("nothing is known of {peer_id}")));
        };
        Ok(PeerInfo {
            peer_id: info.peer_id.to_string(),
            addrs: info.addrs.iter().map(ToString::to_string).collect(),
            protocols: info.protocols,
            agent_version: info.agent_version,
            protocol_version: info.protocol_version,
            public_key: info.public_key.map(|k| k.encode_protobuf()),
        })
    }

    /// Addresses others reach this node on, as confirmed by AutoNAT or added
    /// with `add_external_address` (without `/p2p/`); announced in identify
    /// and in the signed peer record.
    pub fn external_addrs(&self) -> Vec<String> {
        self.inner.external_addrs().iter().map(ToString::to_string).collect()
    }

    /// Declares `address` (e.g. a forwarded port, or a public IP known from
    /// configuration) a confirmed external address; returns whether it is
    /// new. A new one raises `ExternalAddrConfirmed` and turns a DHT in
    /// `KadMode.Auto` to server mode.
    pub fn add_external_address(&self, address: String) -> Result<bool, Lp2pError> {
        Ok(self.inner.add_external_address(parse_multiaddr(&address)?))
    }

    /// Removes a confirmed external address (raising `ExternalAddrExpired`);
    /// returns whether it was one.
    pub fn remove_external_address(&self, address: String) -> Result<bool, Lp2pError> {
        Ok(self.inner.remove_external_address(&parse_multiaddr(&address)?))
    }

    /// Peers with an open connection.
    pub fn connected_peers(&self) -> Vec<String> {
        self.inner.connected_peers().iter().map(ToString::to_string).collect()
    }

    /// Whether a connection to `peer_id` is open.
    pub fn is_connected(&self, peer_id: String) -> Result<bool, Lp2pError> {
        Ok(self.inner.is_connected(&parse_peer_id(&peer_id)?))
    }

    /// Sends every event from now on to `listener` until the returned
    /// subscription is cancelled or freed.
    pub fn subscribe_events(&self, listener: Arc<dyn EventListener>) -> Result<Arc<EventSubscription>, Lp2pError> {
        let mut events = self.inner.events();
        let task = runtime::handle()?.spawn(async move {
            while let Some(event) = events.next().await {
                listener.on_event(NodeEvent::from(event));
            }
        });
        Ok(Arc::new(EventSubscription { task: task.abort_handle() }))
    }

    /// Closes listeners and connections and stops the node; later calls
    /// fail with `Shutdown`.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}
