//! `Node` and `Events`: the node facade over `lp2p::Node`.
//!
//! Every awaitable runs on the tokio runtime of pyo3-async-runtimes (the node
//! runs there too) and holds no GIL while it works. Synchronous methods that
//! touch the node's shared state release the GIL first, so that an engine
//! thread holding a lock never waits on a Python thread holding the GIL.

use std::sync::Arc;
use std::time::Duration;

use lp2p::protocols::autonat;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use tokio_util::sync::CancellationToken;

use crate::errors::{self, InvalidArgument};
use crate::keys::PyKeypair;
use crate::runtime;
use crate::stream::PyStream;

/// Where inbound streams of one protocol go: `callback(stream)` is scheduled
/// on `event_loop` (the loop that registered the handler) with
/// `call_soon_threadsafe`; the Python side starts the handler task there.
struct HandlerTarget {
    event_loop: Py<PyAny>,
    callback: Py<PyAny>,
}

impl HandlerTarget {
    fn deliver(&self, stream: lp2p::Stream) {
        let delivered = Python::attach(|py| -> PyResult<()> {
            let stream = Py::new(py, PyStream::new(stream))?;
            self.event_loop.call_method1(py, "call_soon_threadsafe", (self.callback.clone_ref(py), stream))?;
            Ok(())
        });
        if let Err(e) = delivered {
            // Typically the loop is closed; the stream is dropped, which resets it.
            tracing::debug!(error = %e, "inbound stream not delivered to Python");
        }
    }
}

/// Runs a synchronous node call without the GIL and inside the runtime: some
/// calls spawn engine tasks (a handler change pushes identify to peers).
fn engine<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    py.detach(|| {
        let handle = runtime::handle();
        let _runtime = handle.enter();
        f()
    })
}

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| InvalidArgument::new_err(format!("{what} must be a finite number of seconds >= 0")))
}

/// The resource limits `lp2p.ResourceLimits` passes down, in its field
/// order: connections, per peer, per IP, streams, per peer, memory.
type ResourceLimitArgs = (Option<u64>, Option<u64>, Option<u64>, Option<u64>, Option<u64>, Option<u64>);

/// The resource manager's limits: the machine-scaled defaults with the given
/// ones (each must be at least 1) and the allowlist.
fn resource_limits(limits: ResourceLimitArgs, allowlist: &[String]) -> PyResult<lp2p::rcmgr::ResourceManagerConfig> {
    let (conns, conns_per_peer, conns_per_ip, streams, streams_per_peer, memory) = limits;
    let positive = |value: Option<u64>, what: &str| match value {
        Some(0) => Err(InvalidArgument::new_err(format!("{what} must be at least 1"))),
        other => Ok(other),
    };
    let mut config = lp2p::rcmgr::ResourceManagerConfig::default();
    if let Some(n) = positive(conns, "max_connections")? {
        config.set_max_connections(n);
    }
    if let Some(n) = positive(conns_per_peer, "max_connections_per_peer")? {
        config.set_max_connections_per_peer(n);
    }
    if let Some(n) = positive(conns_per_ip, "max_connections_per_ip")? {
        config.set_max_connections_per_ip(n);
    }
    if let Some(n) = positive(streams, "max_streams")? {
        config.set_max_streams(n);
    }
    if let Some(n) = positive(streams_per_peer, "max_streams_per_peer")? {
        config.set_max_streams_per_peer(n);
    }
    if let Some(n) = positive(memory, "max_memory")? {
        config.system.memory = n;
    }
    for entry in allowlist {
        let addr = errors::parse_addr(entry)?;
        config.allow(&addr).map_err(|e| InvalidArgument::new_err(format!("allowlist entry {entry}: {e}")))?;
    }
    Ok(config)
}

fn tag_error(e: lp2p::connmgr::TagError) -> PyErr {
    match e {
        lp2p::connmgr::TagError::TagTooLong { .. } => InvalidArgument::new_err(e.to_string()),
        _ => errors::LimitReached::new_err(e.to_string()),
    }
}

/// A running libp2p node.
#[pyclass(name = "Node", module = "lp2p._native", frozen)]
pub(crate) struct PyNode {
    pub(crate) node: lp2p::Node,
    /// Cancelled by `close`: ends every event subscription (the engine's
    /// event channel stays open while this object lives).
    closed: CancellationToken,
}

#[pymethods]
impl PyNode {
    /// Starts a node: binds every listen address before returning.
    #[new]
    #[pyo3(signature = (
        listen,
        identity = None,
        agent_version = None,
        connection_timeout = None,
        stream_timeout = None,
        mdns = false,
        *,
        autonat_server = false,
        autonat_client = false,
        autonat_allow_private = false,
        autonat_confirmations = None,
        autonat_probe_interval = None,
        limits = None,
        conn_manager = None,
        allowlist = Vec::new(),
        perf = false,
        perf_max_request_bytes = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        listen: Vec<String>,
        identity: Option<PyRef<'_, PyKeypair>>,
        agent_version: Option<String>,
        connection_timeout: Option<f64>,
        stream_timeout: Option<f64>,
        mdns: bool,
        autonat_server: bool,
        autonat_client: bool,
        autonat_allow_private: bool,
        autonat_confirmations: Option<usize>,
        autonat_probe_interval: Option<f64>,
        limits: Option<ResourceLimitArgs>,
        conn_manager: Option<(usize, usize, f64)>,
        allowlist: Vec<String>,
        perf: bool,
        perf_max_request_bytes: Option<u64>,
    ) -> PyResult<PyNode> {
        let mut builder = lp2p::Node::builder().runtime(runtime::handle());
        if limits.is_some() || !allowlist.is_empty() {
            builder = builder.resource_limits(resource_limits(limits.unwrap_or_default(), &allowlist)?);
        }
        if let Some((low, high, grace)) = conn_manager {
            if high != 0 && low > high {
                return Err(InvalidArgument::new_err(format!("conn_manager low {low} is above high {high}")));
            }
            builder = builder.conn_manager(lp2p::connmgr::ConnManagerConfig {
                low_watermark: low,
                high_watermark: high,
                grace_period: seconds(grace, "conn_manager grace_period")?,
                ..lp2p::connmgr::ConnManagerConfig::default()
            });
        }
        for addr in &listen {
            builder = builder.listen(errors::parse_addr(addr)?);
        }
        if let Some(keypair) = identity {
            builder = builder.identity(keypair.inner.clone());
        }
        if let Some(agent) = agent_version {
            builder = builder.agent_version(agent);
        }
        if let Some(limit) = connection_timeout {
            builder = builder.connection_timeout(seconds(limit, "connection_timeout")?);
        }
        if let Some(limit) = stream_timeout {
            builder = builder.stream_timeout(seconds(limit, "stream_timeout")?);
        }
        builder = builder.mdns(mdns);
        if autonat_server || autonat_client {
            let mut config = autonat::Config {
                server: autonat_server,
                client: autonat_client,
                allow_private_addresses: autonat_allow_private,
                ..autonat::Config::default()
            };
            if let Some(confirmations) = autonat_confirmations {
                if confirmations == 0 {
                    return Err(InvalidArgument::new_err("autonat_confirmations must be at least 1"));
                }
                config.confirmations = confirmations;
            }
            if let Some(interval) = autonat_probe_interval {
                config.probe_interval = seconds(interval, "autonat_probe_interval")?;
                if config.probe_interval.is_zero() {
                    return Err(InvalidArgument::new_err("autonat_probe_interval must be more than 0"));
                }
            }
            builder = builder.autonat(config);
        }
        if perf {
            let mut bounds = lp2p::protocols::perf::Config::default();
            if let Some(max) = perf_max_request_bytes {
                if max == 0 {
                    return Err(InvalidArgument::new_err("perf_max_request_bytes must be at least 1"));
                }
                bounds.max_download_bytes = max;
                bounds.max_upload_bytes = max;
            }
            builder = builder.perf_config(bounds);
        }
        let node = engine(py, || builder.build()).map_err(errors::from_lp2p)?;
        Ok(PyNode { node, closed: CancellationToken::new() })
    }

    /// Our peer ID.
    #[getter]
    fn peer_id(&self) -> String {
        self.node.peer_id().to_string()
    }

    /// Our listen addresses, each ending in `/p2p/<our id>`.
    #[getter]
    fn listen_addrs(&self, py: Python<'_>) -> Vec<String> {
        engine(py, || self.node.listen_addrs_with_peer_id().iter().map(ToString::to_string).collect())
    }

    /// Protocols this node answers.
    #[getter]
    fn protocols(&self, py: Python<'_>) -> Vec<String> {
        engine(py, || self.node.protocols())
    }

    /// Starts listening on `addr`; resolves to the bound address (with `/p2p/`).
    fn listen<'py>(&self, py: Python<'py>, addr: &str) -> PyResult<Bound<'py, PyAny>> {
        let addr = errors::parse_addr(addr)?;
        let node = self.node.clone();
        runtime::future_into_py(py, async move {
            let bound = node.listen(addr).await.map_err(errors::from_lp2p)?;
            Ok(bound.with(lp2p::Protocol::P2p(node.peer_id())).to_string())
        })
    }

    /// Connects to `addr`; resolves to the remote peer ID.
    fn dial<'py>(&self, py: Python<'py>, addr: &str) -> PyResult<Bound<'py, PyAny>> {
        let addr = errors::parse_addr(addr)?;
        let node = self.node.clone();
        runtime::future_into_py(py, async move {
            let peer = node.dial(addr).await.map_err(errors::from_lp2p)?;
            Ok(peer.to_string())
        })
    }

    /// Routes inbound streams of `protocol` to `callback(stream)`, called on
    /// `event_loop` (replacing any previous handler).
    fn set_stream_handler(&self, py: Python<'_>, protocol: &str, event_loop: Py<PyAny>, callback: Py<PyAny>) {
        let target = Arc::new(HandlerTarget { event_loop, callback });
        engine(py, || {
            self.node.set_stream_handler(protocol, move |stream| {
                let target = Arc::clone(&target);
                async move {
                    // Taking the GIL may wait: do it off the engine's worker threads.
                    let _ = tokio::task::spawn_blocking(move || target.deliver(stream)).await;
                }
            })
        });
    }

    /// Removes the handler of `protocol`; whether there was one.
    fn remove_stream_handler(&self, py: Python<'_>, protocol: &str) -> bool {
        engine(py, || self.node.remove_stream_handler(protocol))
    }

    /// Opens a stream to `peer` for `protocol`; resolves to a `Stream`.
    fn new_stream<'py>(&self, py: Python<'py>, peer: &str, protocol: String) -> PyResult<Bound<'py, PyAny>> {
        let peer = errors::parse_peer(peer)?;
        let node = self.node.clone();
        runtime::future_into_py(py, async move {
            let stream = node.new_stream(peer, &protocol).await.map_err(errors::from_lp2p)?;
            Ok(PyStream::new(stream))
        })
    }

    /// One ping round trip to `peer`; resolves to the RTT in seconds.
    fn ping<'py>(&self, py: Python<'py>, peer: &str) -> PyResult<Bound<'py, PyAny>> {
        let peer = errors::parse_peer(peer)?;
        let node = self.node.clone();
        runtime::future_into_py(py, async move {
            let rtt = node.ping(peer).await.map_err(errors::from_lp2p)?;
            Ok(rtt.as_secs_f64())
        })
    }

    /// One `/perf/1.0.0` run with `peer`: uploads `upload_bytes`, then
    /// downloads `download_bytes`; resolves to `(upload_bytes,
    /// download_bytes, upload_seconds, download_seconds)` as measured.
    fn perf<'py>(
        &self,
        py: Python<'py>,
        peer: &str,
        upload_bytes: u64,
        download_bytes: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let peer = errors::parse_peer(peer)?;
        let node = self.node.clone();
        runtime::future_into_py(py, async move {
            let run = node.perf(peer, upload_bytes, download_bytes).await.map_err(errors::from_lp2p)?;
            Ok((run.upload_bytes, run.download_bytes, run.upload_time.as_secs_f64(), run.download_time.as_secs_f64()))
        })
    }

    /// What this node's perf server has served: `(served, failed,
    /// bytes_received, bytes_sent)`, all 0 when perf is off.
    fn perf_server_stats(&self) -> (u64, u64, u64, u64) {
        let stats = self.node.perf_server_stats();
        (stats.served, stats.failed, stats.bytes_received, stats.bytes_sent)
    }

    /// Makes this node a rendezvous point (`/rendezvous/1.0.0`) with the
    /// spec's recommended limits.
    fn serve_rendezvous(&self, py: Python<'_>) {
        engine(py, || self.node.serve_rendezvous(Default::default()))
    }

    /// Registers this node under `namespace` at the rendezvous point `peer`;
    /// `ttl` in seconds (None: the point's default, 2 h). Resolves to the
    /// granted TTL in seconds.
    #[pyo3(signature = (peer, namespace, ttl = None))]
    fn rendezvous_register<'py>(
        &self,
        py: Python<'py>,
        peer: &str,
        namespace: String,
        ttl: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let peer = errors::parse_peer(peer)?;
        let ttl = ttl.map(|t| seconds(t, "ttl")).transpose()?;
        let node = self.node.clone();
        runtime::future_into_py(py, async move {
            let granted = node.rendezvous_register(peer, &namespace, ttl).await.map_err(errors::from_lp2p)?;
            Ok(granted.as_secs_f64())
        })
    }

    /// Removes this node's registration under `namespace` at `peer`.
    fn rendezvous_unregister<'py>(
        &self,
        py: Python<'py>,
        peer: &str,
        namespace: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let peer = errors::parse_peer(peer)?;
        let node = self.node.clone();
        runtime::future_into_py(py, async move {
            node.rendezvous_unregister(peer, &namespace).await.map_err(errors::from_lp2p)?;
            Ok(())
        })
    }

    /// Asks the rendezvous point `peer` who is registered under `namespace`
    /// (None: every namespace). Resolves to `(registrations, cookie)`, each
    /// registration `(peer, namespace, addrs, ttl_seconds)`.
    #[pyo3(signature = (peer, namespace = None, limit = None, cookie = None))]
    fn rendezvous_discover<'py>(
        &self,
        py: Python<'py>,
        peer: &str,
        namespace: Option<String>,
        limit: Option<u64>,
        cookie: Option<Vec<u8>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        use lp2p::protocols::rendezvous::client::Cookie;
        let peer = errors::parse_peer(peer)?;
        let cookie = cookie.map(Cookie::from_bytes).transpose().map_err(|e| InvalidArgument::new_err(e.to_string()))?;
        let node = self.node.clone();
        runtime::future_into_py(py, async move {
            let found = node
                .rendezvous_discover(peer, namespace.as_deref(), limit, cookie.as_ref())
                .await
                .map_err(errors::from_lp2p)?;
            let registrations: Vec<(String, String, Vec<String>, f64)> = found
                .registrations
                .iter()
                .map(|r| {
                    let addrs = r.addrs.iter().map(ToString::to_string).collect();
                    (r.peer.to_string(), r.namespace.clone(), addrs, r.ttl.as_secs_f64())
                })
                .collect();
            let cookie = found.cookie.map(|c| std::borrow::Cow::<'static, [u8]>::Owned(c.as_bytes().to_vec()));
            Ok((registrations, cookie))
        })
    }

    /// Dials a bootstrap list (`/dnsaddr/` entries resolved through DNS
    /// TXT records); resolves to the peers connected.
    fn bootstrap<'py>(&self, py: Python<'py>, addrs: Vec<String>) -> PyResult<Bound<'py, PyAny>> {
        let addrs = addrs.iter().map(|a| errors::parse_addr(a)).collect::<PyResult<Vec<_>>>()?;
        let node = self.node.clone();
        runtime::future_into_py(py, async move {
            let peers = node.bootstrap_from(addrs).await.map_err(errors::from_lp2p)?;
            Ok(peers.iter().map(ToString::to_string).collect::<Vec<String>>())
        })
    }

    /// Whether a connection to `peer` is open.
    fn is_connected(&self, py: Python<'_>, peer: &str) -> PyResult<bool> {
        let peer = errors::parse_peer(peer)?;
        Ok(engine(py, || self.node.is_connected(&peer)))
    }

    /// Peers with an open connection.
    fn connected_peers(&self, py: Python<'_>) -> Vec<String> {
        engine(py, || self.node.connected_peers().iter().map(ToString::to_string).collect())
    }

    /// Every peer the peer store knows.
    fn known_peers(&self, py: Python<'_>) -> Vec<String> {
        engine(py, || self.node.known_peers().iter().map(ToString::to_string).collect())
    }

    /// What the peer store knows of `peer` (a dict), or None.
    fn peer_info(&self, py: Python<'_>, peer: &str) -> PyResult<Option<Py<PyDict>>> {
        let peer = errors::parse_peer(peer)?;
        let Some(info) = engine(py, || self.node.peer_info(&peer)) else {
            return Ok(None);
        };
        let dict = PyDict::new(py);
        dict.set_item("peer_id", info.peer_id.to_string())?;
        dict.set_item("addrs", strings(&info.addrs))?;
        dict.set_item("protocols", info.protocols)?;
        dict.set_item("agent_version", info.agent_version)?;
        dict.set_item("protocol_version", info.protocol_version)?;
        dict.set_item("public_key", info.public_key.map(|k| PyBytes::new(py, &k.encode_protobuf())))?;
        dict.set_item("peer_record_addrs", info.peer_record.map(|r| strings(&r.addrs)))?;
        Ok(Some(dict.unbind()))
    }

    /// Tells the peer store where `peer` can be reached, for `ttl` seconds.
    fn add_addresses(&self, py: Python<'_>, peer: &str, addrs: Vec<String>, ttl: f64) -> PyResult<()> {
        let peer = errors::parse_peer(peer)?;
        let addrs = addrs.iter().map(|a| errors::parse_addr(a)).collect::<PyResult<Vec<_>>>()?;
        let ttl = seconds(ttl, "ttl")?;
        engine(py, || self.node.add_addresses(peer, &addrs, ttl));
        Ok(())
    }

    /// Our confirmed external addresses (by AutoNAT, or added with
    /// `add_external_address`), without `/p2p/`.
    #[getter]
    fn external_addrs(&self, py: Python<'_>) -> Vec<String> {
        engine(py, || strings(&self.node.external_addrs()))
    }

    /// Declares `addr` a confirmed external address; whether it is new.
    fn add_external_address(&self, py: Python<'_>, addr: &str) -> PyResult<bool> {
        let addr = errors::parse_addr(addr)?;
        Ok(engine(py, || self.node.add_external_address(addr)))
    }

    /// Removes a confirmed external address; whether it was one.
    fn remove_external_address(&self, py: Python<'_>, addr: &str) -> PyResult<bool> {
        let addr = errors::parse_addr(addr)?;
        Ok(engine(py, || self.node.remove_external_address(&addr)))
    }

    /// Sets `peer`'s tag `tag` to `value` (the connection manager closes
    /// lower-valued peers first).
    fn tag_peer(&self, py: Python<'_>, peer: &str, tag: &str, value: i64) -> PyResult<()> {
        let peer = errors::parse_peer(peer)?;
        engine(py, || self.node.tag_peer(peer, tag, value)).map_err(tag_error)
    }

    /// Removes `peer`'s tag `tag`.
    fn untag_peer(&self, py: Python<'_>, peer: &str, tag: &str) -> PyResult<()> {
        let peer = errors::parse_peer(peer)?;
        engine(py, || self.node.untag_peer(peer, tag));
        Ok(())
    }

    /// Protects `peer` from the connection manager under `tag`.
    fn protect_peer(&self, py: Python<'_>, peer: &str, tag: &str) -> PyResult<()> {
        let peer = errors::parse_peer(peer)?;
        engine(py, || self.node.protect_peer(peer, tag)).map_err(tag_error)
    }

    /// Removes protection `tag`; whether another tag still protects `peer`.
    fn unprotect_peer(&self, py: Python<'_>, peer: &str, tag: &str) -> PyResult<bool> {
        let peer = errors::parse_peer(peer)?;
        Ok(engine(py, || self.node.unprotect_peer(peer, tag)))
    }

    /// Whether `peer` is protected under `tag` (any tag if None).
    #[pyo3(signature = (peer, tag = None))]
    fn is_protected(&self, py: Python<'_>, peer: &str, tag: Option<&str>) -> PyResult<bool> {
        let peer = errors::parse_peer(peer)?;
        Ok(engine(py, || self.node.is_protected(peer, tag)))
    }

    /// A new subscription to the node's events, from now on.
    fn events(&self, py: Python<'_>) -> PyEvents {
        let events = engine(py, || self.node.events());
        PyEvents { events: Arc::new(tokio::sync::Mutex::new(events)), closed: self.closed.clone() }
    }

    /// Closes listeners and connections and stops the node's tasks.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let node = self.node.clone();
        let closed = self.closed.clone();
        runtime::future_into_py(py, async move {
            node.shutdown().await;
            closed.cancel();
            Ok(())
        })
    }
}

fn strings(addrs: &[lp2p::Multiaddr]) -> Vec<String> {
    addrs.iter().map(ToString::to_string).collect()
}

/// A subscription to a node's events.
#[pyclass(name = "Events", module = "lp2p._native", frozen)]
pub(crate) struct PyEvents {
    events: Arc<tokio::sync::Mutex<lp2p::Events>>,
    closed: CancellationToken,
}

#[pymethods]
impl PyEvents {
    /// The next event as a dict with a "type" key; None once the node is gone.
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let events = Arc::clone(&self.events);
        let closed = self.closed.clone();
        runtime::future_into_py(py, async move {
            let mut events = events.lock().await;
            // Events already buffered come first; then a closed node ends the stream.
            let event = tokio::select! {
                biased;
                event = events.next() => event,
                _ = closed.cancelled() => None,
            };
            match event {
                Some(event) => Python::attach(|py| event_dict(py, event).map(Some)),
                None => Ok(None),
            }
        })
    }
}

fn event_dict(py: Python<'_>, event: lp2p::Event) -> PyResult<Py<PyAny>> {
    let dict = PyDict::new(py);
    match event {
        lp2p::Event::ConnectionEstablished { peer, connection, addr, outbound } => {
            dict.set_item("type", "connection_established")?;
            dict.set_item("peer", peer.to_string())?;
            dict.set_item("connection", connection.0)?;
            dict.set_item("addr", addr.to_string())?;
            dict.set_item("outbound", outbound)?;
        }
        lp2p::Event::ConnectionClosed { peer, connection, addr } => {
            dict.set_item("type", "connection_closed")?;
            dict.set_item("peer", peer.to_string())?;
            dict.set_item("connection", connection.0)?;
            dict.set_item("addr", addr.to_string())?;
        }
        lp2p::Event::NewListenAddr { addr } => {
            dict.set_item("type", "new_listen_addr")?;
            dict.set_item("addr", addr.to_string())?;
        }
        lp2p::Event::ExpiredListenAddr { addr } => {
            dict.set_item("type", "expired_listen_addr")?;
            dict.set_item("addr", addr.to_string())?;
        }
        lp2p::Event::Identified { peer, info } => {
            dict.set_item("type", "identified")?;
            dict.set_item("peer", peer.to_string())?;
            dict.set_item("public_key", PyBytes::new(py, &info.public_key.encode_protobuf()))?;
            dict.set_item("protocol_version", info.protocol_version)?;
            dict.set_item("agent_version", info.agent_version)?;
            dict.set_item("listen_addrs", strings(&info.listen_addrs))?;
            dict.set_item("observed_addr", info.observed_addr.map(|a| a.to_string()))?;
            dict.set_item("protocols", info.protocols)?;
        }
        lp2p::Event::Discovered { peer, addrs } => {
            dict.set_item("type", "discovered")?;
            dict.set_item("peer", peer.to_string())?;
            dict.set_item("addrs", strings(&addrs))?;
        }
        lp2p::Event::ExternalAddrConfirmed { addr } => {
            dict.set_item("type", "external_addr_confirmed")?;
            dict.set_item("addr", addr.to_string())?;
        }
        lp2p::Event::ExternalAddrExpired { addr } => {
            dict.set_item("type", "external_addr_expired")?;
            dict.set_item("addr", addr.to_string())?;
        }
        lp2p::Event::ResourceLimitExceeded { scope, resource, limit, current } => {
            dict.set_item("type", "resource_limit_exceeded")?;
            dict.set_item("scope", scope.kind().name())?;
            let peer = match scope {
                lp2p::rcmgr::ScopeName::Peer(peer) => Some(peer.to_string()),
                _ => None,
            };
            dict.set_item("peer", peer)?;
            dict.set_item("resource", resource.name())?;
            dict.set_item("limit", limit)?;
            dict.set_item("current", current)?;
        }
    }
    dict.into_py_any(py)
}
