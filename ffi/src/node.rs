//! Nodes: start and free, addresses, dial, ping, stream handlers, new
//! streams, events, peer store queries.
//!
//! Each node owns a tokio runtime (two engine threads). Blocking functions
//! run their work with `Runtime::block_on` on the caller's thread, so they
//! must not be called from an engine thread (inside a callback): there they
//! return `LP2P_STATUS_BLOCKING_IN_CALLBACK` instead of deadlocking.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::{CString, c_char, c_void};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lp2p_core::{Event, Node, PeerId};
use parking_lot::{Mutex, ReentrantMutex};
use tokio::runtime::{Handle, Runtime};

use crate::args::{
    arg_multiaddr, arg_peer_id, arg_ref, arg_str, c_string, check_out, lp2p_string_list, to_cstring, write_list,
    write_opt, write_out,
};
use crate::config::lp2p_config;
use crate::error::{FfiError, FfiResult, ffi_boundary, lp2p_status};
use crate::stream::{StreamRegistry, Userdata, lp2p_finalizer, lp2p_stream};

/// How long `lp2p_node_free` waits for a graceful shutdown (GoAway to every
/// peer) before stopping the engine anyway.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

/// A running node. Start it with `lp2p_node_start`, free it with
/// `lp2p_node_free`. Every function on a node may be called from any thread
/// concurrently, except `lp2p_node_free`.
pub struct lp2p_node {
    node: Option<Node>,
    runtime: Option<Runtime>,
    registry: Arc<StreamRegistry>,
    peer_id: CString,
    events: Arc<EventGate>,
    /// Protocols with a handler set through this API (removed at free).
    handlers: Mutex<HashSet<String>>,
}

/// The event callback. Reentrant: the callback may replace itself from inside
/// its call. Each call holds its own `Arc` of the entry, so an entry replaced
/// or removed during its call is finalized when that call returns, never
/// under it.
type EventGate = ReentrantMutex<RefCell<Option<Arc<EventCallback>>>>;

/// A callback, its userdata, and the finalizer that runs when the last `Arc`
/// of the entry drops.
struct EventCallback {
    callback: unsafe extern "C" fn(*mut c_void, *const lp2p_event),
    userdata: Userdata,
    _finalizer: crate::stream::Finalizer,
}

impl lp2p_node {
    pub(crate) fn node(&self) -> FfiResult<&Node> {
        match &self.node {
            Some(node) if !self.registry.closed.load(Ordering::Acquire) => Ok(node),
            _ => Err(FfiError::new(lp2p_status::Shutdown, "the node is shut down")),
        }
    }

    fn runtime(&self) -> FfiResult<&Runtime> {
        self.runtime.as_ref().ok_or_else(|| FfiError::new(lp2p_status::Shutdown, "the node is shut down"))
    }

    /// Runs `fut` to completion on the calling thread (see [`refuse_engine_thread`]).
    pub(crate) fn block_on<F: Future>(&self, fut: F) -> FfiResult<F::Output> {
        refuse_engine_thread()?;
        Ok(self.runtime()?.block_on(fut))
    }
}

/// Blocking functions check this first: on an engine thread (inside a
/// callback) they would deadlock the runtime that must make progress for them.
fn refuse_engine_thread() -> FfiResult<()> {
    if Handle::try_current().is_ok() {
        return Err(FfiError::new(
            lp2p_status::BlockingInCallback,
            "blocking lp2p functions cannot be called from a callback (an engine thread)",
        ));
    }
    Ok(())
}

/// What happened on a node, for `lp2p_node_set_event_callback`.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lp2p_event_kind {
    /// A connection to `peer_id` at `address` finished its set-up;
    /// `outbound` tells whether we dialed it.
    ConnectionEstablished = 1,
    /// A connection to `peer_id` at `address` closed.
    ConnectionClosed = 2,
    /// We now listen on `address` (after `lp2p_node_listen`; the addresses of
    /// the config are bound before a callback can be set: read them with
    /// `lp2p_node_listen_addrs`).
    NewListenAddr = 3,
    /// We no longer listen on `address`.
    ExpiredListenAddr = 4,
    /// `peer_id` answered identify: `agent_version`, `protocol_version`,
    /// `protocols`, `listen_addrs`, and in `address` the address it observed
    /// for us (NULL if it sent none).
    Identified = 5,
    /// Discovery (mDNS) found `peer_id`, or new addresses of it, in
    /// `listen_addrs`; they are in the peer store, so it can be dialed by ID.
    Discovered = 6,
    /// `address` was confirmed as an external address (by AutoNAT, or added
    /// with `lp2p_node_add_external_addr`); it is now announced to peers.
    ExternalAddrConfirmed = 7,
    /// `address` is no longer a confirmed external address.
    ExternalAddrExpired = 8,
    /// A resource limit refused a connection or stream (closed, reset, or
    /// a failed dial / new stream): `limit_scope` names the scope
    /// ("system", "transient", "allowlisted", "peer" with `peer_id` set,
    /// "protocol", "service", "connection", "stream", "subnet"),
    /// `limit_resource` the resource ("conns_inbound", "conns_outbound",
    /// "conns", "streams_inbound", "streams_outbound", "streams", "memory",
    /// "fds"), `limit` the limit and `limit_current` what the scope held.
    ResourceLimitExceeded = 9,
}

/// One event. Everything it points to is borrowed: valid only during the
/// callback. Fields that do not apply to the kind are NULL / 0 / false.
#[repr(C)]
pub struct lp2p_event {
    /// What happened.
    pub kind: lp2p_event_kind,
    /// The remote peer (connection and identify events).
    pub peer_id: *const c_char,
    /// The remote address, the listen address, or the observed address.
    pub address: *const c_char,
    /// Which connection (connection events).
    pub connection_id: u64,
    /// Whether we dialed (connection established).
    pub outbound: bool,
    /// The remote's agent version (identified).
    pub agent_version: *const c_char,
    /// The remote's protocol version (identified).
    pub protocol_version: *const c_char,
    /// The protocols the remote supports (identified).
    pub protocols: *const lp2p_string_list,
    /// The addresses the remote listens on (identified).
    pub listen_addrs: *const lp2p_string_list,
    /// The kind of scope whose limit was hit (resource limit exceeded).
    pub limit_scope: *const c_char,
    /// The resource whose limit was hit (resource limit exceeded).
    pub limit_resource: *const c_char,
    /// The limit (resource limit exceeded).
    pub limit: u64,
    /// What the scope held when it refused (resource limit exceeded).
    pub limit_current: u64,
}

/// Receives a node's events. `event` and what it points to are borrowed:
/// valid only during the call. Runs on an engine thread, one call at a time.
pub type lp2p_event_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const lp2p_event)>;

/// Handles an inbound stream of a protocol. `stream` is owned by the callee
/// from now on: it must free it with `lp2p_stream_free` (now or later). Runs
/// on an engine thread; calls for several streams may run concurrently.
pub type lp2p_stream_handler = Option<unsafe extern "C" fn(userdata: *mut c_void, stream: *mut lp2p_stream)>;

fn deliver_event(gate: &EventGate, event: Event) {
    let guard = gate.lock();
    // Our own reference for the whole call: `lp2p_node_set_event_callback`
    // from inside the callback drops only the gate's.
    let target = guard.borrow().clone();
    let Some(target) = target else { return };
    let none = std::ptr::null::<c_char>();
    let mut c = lp2p_event {
        kind: lp2p_event_kind::ConnectionEstablished,
        peer_id: none,
        address: none,
        connection_id: 0,
        outbound: false,
        agent_version: none,
        protocol_version: none,
        protocols: std::ptr::null(),
        listen_addrs: std::ptr::null(),
        limit_scope: none,
        limit_resource: none,
        limit: 0,
        limit_current: 0,
    };
    // Owners of the strings the event points to, alive until the call returns.
    let peer: CString;
    let addr: CString;
    let agent: CString;
    let version: CString;
    let protocols: lp2p_string_list;
    let listen: lp2p_string_list;
    let scope_name: CString;
    let resource_name: CString;
    match event {
        Event::ConnectionEstablished { peer: p, connection, addr: a, outbound } => {
            peer = to_cstring(&p.to_string());
            addr = to_cstring(&a.to_string());
            c.peer_id = peer.as_ptr();
            c.address = addr.as_ptr();
            c.connection_id = connection.0;
            c.outbound = outbound;
        }
        Event::ConnectionClosed { peer: p, connection, addr: a } => {
            peer = to_cstring(&p.to_string());
            addr = to_cstring(&a.to_string());
            c.kind = lp2p_event_kind::ConnectionClosed;
            c.peer_id = peer.as_ptr();
            c.address = addr.as_ptr();
            c.connection_id = connection.0;
        }
        Event::NewListenAddr { addr: a } => {
            addr = to_cstring(&a.to_string());
            c.kind = lp2p_event_kind::NewListenAddr;
            c.address = addr.as_ptr();
        }
        Event::ExpiredListenAddr { addr: a } => {
            addr = to_cstring(&a.to_string());
            c.kind = lp2p_event_kind::ExpiredListenAddr;
            c.address = addr.as_ptr();
        }
        Event::Identified { peer: p, info } => {
            peer = to_cstring(&p.to_string());
            agent = to_cstring(&info.agent_version);
            version = to_cstring(&info.protocol_version);
            protocols = lp2p_string_list::new(&info.protocols);
            listen = lp2p_string_list::new(info.listen_addrs.iter().map(|a| a.to_string()));
            c.kind = lp2p_event_kind::Identified;
            c.peer_id = peer.as_ptr();
            c.agent_version = agent.as_ptr();
            c.protocol_version = version.as_ptr();
            c.protocols = &protocols;
            c.listen_addrs = &listen;
            if let Some(observed) = &info.observed_addr {
                addr = to_cstring(&observed.to_string());
                c.address = addr.as_ptr();
            }
        }
        Event::Discovered { peer: p, addrs } => {
            peer = to_cstring(&p.to_string());
            listen = lp2p_string_list::new(addrs.iter().map(|a| a.to_string()));
            c.kind = lp2p_event_kind::Discovered;
            c.peer_id = peer.as_ptr();
            c.listen_addrs = &listen;
        }
        Event::ExternalAddrConfirmed { addr: a } => {
            addr = to_cstring(&a.to_string());
            c.kind = lp2p_event_kind::ExternalAddrConfirmed;
            c.address = addr.as_ptr();
        }
        Event::ExternalAddrExpired { addr: a } => {
            addr = to_cstring(&a.to_string());
            c.kind = lp2p_event_kind::ExternalAddrExpired;
            c.address = addr.as_ptr();
        }
        Event::ResourceLimitExceeded { scope, resource, limit, current } => {
            c.kind = lp2p_event_kind::ResourceLimitExceeded;
            scope_name = to_cstring(scope.kind().name());
            resource_name = to_cstring(resource.name());
            c.limit_scope = scope_name.as_ptr();
            c.limit_resource = resource_name.as_ptr();
            c.limit = limit;
            c.limit_current = current;
            if let lp2p_core::rcmgr::ScopeName::Peer(p) = scope {
                peer = to_cstring(&p.to_string());
                c.peer_id = peer.as_ptr();
            }
        }
    }
    // SAFETY: C callback with its own userdata; `c` and its strings live until
    // it returns, and `target` keeps the userdata from its finalizer until then.
    unsafe { (target.callback)(target.userdata.0, &c) };
    // If the callback replaced or removed itself, its finalizer runs here, after the call.
    drop(target);
    drop(guard);
}

/// Starts a node: its engine threads, its listeners (every listen address of
/// the config is bound before this returns).
///
/// - `config`: borrowed during the call (copied); the caller still frees it.
/// - `out`: borrowed, written on success with a node owned by the caller
///   (free with `lp2p_node_free`).
///
/// Fails with `LP2P_STATUS_DIAL_FAILED`/`LP2P_STATUS_IO` when an address
/// cannot be bound, `LP2P_STATUS_INTERNAL` when the engine cannot start.
/// Blocking.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_start(config: *const lp2p_config, out: *mut *mut lp2p_node) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_ref(config, "config") }?;
        check_out(out, "out")?;
        refuse_engine_thread()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lp2p-engine")
            .enable_all()
            .build()
            .map_err(|e| FfiError::new(lp2p_status::Internal, format!("could not start the engine: {e}")))?;
        let mut builder =
            Node::builder().config(config.swarm.clone()).runtime(runtime.handle().clone()).mdns(config.mdns);
        if let Some(keypair) = &config.keypair {
            builder = builder.identity(keypair.clone());
        }
        for addr in &config.listen {
            builder = builder.listen(addr.clone());
        }
        for addr in &config.bootstrap {
            builder = builder.bootstrap(addr.clone());
        }
        if let Some(autonat) = config.autonat() {
            builder = builder.autonat(autonat);
        }
        if let Some(perf) = config.perf {
            builder = builder.perf_config(perf);
        }
        let node = builder.build()?;
        let events: Arc<EventGate> = Arc::new(ReentrantMutex::new(RefCell::new(None)));
        let mut subscription = node.events();
        let gate = Arc::clone(&events);
        runtime.spawn(async move {
            while let Some(event) = subscription.next().await {
                deliver_event(&gate, event);
            }
        });
        let listening: Vec<String> = node.listen_addrs().iter().map(|a| a.to_string()).collect();
        tracing::info!(target: "lp2p::ffi", peer = %node.peer_id(), ?listening, "node started");
        let peer_id = to_cstring(&node.peer_id().to_string());
        let handle = lp2p_node {
            node: Some(node),
            runtime: Some(runtime),
            registry: Arc::new(StreamRegistry::default()),
            peer_id,
            events,
            handlers: Mutex::new(HashSet::new()),
        };
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(Box::new(handle))) };
        Ok(())
    })
}

fn teardown(mut node: lp2p_node) {
    node.registry.closed.store(true, Ordering::Release);
    let inner = node.node.take();
    let runtime = node.runtime.take();
    if let (Some(inner), Some(runtime)) = (&inner, &runtime) {
        runtime.block_on(async {
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, inner.shutdown()).await;
        });
    }
    // Inside the runtime's context: the core may spawn tasks here (identify
    // pushes) or in the Drop of what it frees.
    let guard = runtime.as_ref().map(Runtime::enter);
    if let Some(inner) = &inner {
        for protocol in node.handlers.lock().drain() {
            inner.remove_stream_handler(&protocol);
        }
    }
    // Waits for a running event callback, then runs the finalizer.
    let callback = node.events.lock().borrow_mut().take();
    drop(callback);
    drop(inner);
    drop(guard);
    // Stops the engine threads: waits for running callbacks, drops every task
    // (stream drivers, handler calls), which runs handler finalizers.
    drop(runtime);
    node.registry.abort_all(lp2p_status::Shutdown);
    tracing::info!(target: "lp2p::ffi", peer = ?node.peer_id, "node stopped");
}

/// Stops the node and frees it. NULL does nothing.
///
/// Closes every connection (GoAway, waiting up to 3 s), stops the engine
/// threads, then ends the node's streams: their pending `on_complete` and
/// `on_end` callbacks get `LP2P_STATUS_SHUTDOWN` and their finalizers run.
/// Handler and event finalizers run too. After this returns no callback of
/// this node or of its streams runs again. Stream handles stay valid until
/// freed, and their functions return `LP2P_STATUS_SHUTDOWN`.
///
/// Must not be called from a callback: there it cannot wait for the engine
/// threads, so it hands the work to a new thread and returns at once (without
/// the guarantee above).
///
/// - `node`: owned by the caller until this call, then freed. Strings
///   borrowed from it (`lp2p_node_peer_id`) become invalid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_free(node: *mut lp2p_node) {
    ffi_boundary!((), {
        if node.is_null() {
            return Ok(());
        }
        // SAFETY: node came from Box::into_raw in this library.
        let node = unsafe { Box::from_raw(node) };
        if Handle::try_current().is_ok() {
            node.registry.closed.store(true, Ordering::Release);
            let spawned = std::thread::Builder::new().name("lp2p-free".into()).spawn(move || teardown(*node));
            return spawned
                .map(|_| ())
                .map_err(|e| FfiError::new(lp2p_status::Internal, format!("could not start a thread: {e}")));
        }
        teardown(*node);
        Ok(())
    })
}

/// The node's peer ID (base58). Borrowed from `node`: valid until
/// `lp2p_node_free`. NULL when `node` is NULL.
///
/// - `node`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_peer_id(node: *const lp2p_node) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        Ok(node.peer_id.as_ptr())
    })
}

/// The addresses the node listens on, each ending in `/p2p/<peer id>` (what
/// a remote dials).
///
/// - `node`: borrowed.
/// - `out`: borrowed, written on success with a list owned by the caller
///   (free with `lp2p_string_list_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_listen_addrs(
    node: *const lp2p_node,
    out: *mut *mut lp2p_string_list,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        check_out(out, "out")?;
        let addrs = node.node()?.listen_addrs_with_peer_id();
        // SAFETY: out was checked above.
        unsafe { write_list(out, addrs.iter().map(|a| a.to_string())) };
        Ok(())
    })
}

/// The node's confirmed external addresses (confirmed by AutoNAT, or added
/// with `lp2p_node_add_external_addr`), without `/p2p/`: what it announces
/// in identify and in its signed peer record.
///
/// - `node`: borrowed.
/// - `out`: borrowed, written on success with a list owned by the caller
///   (free with `lp2p_string_list_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_external_addrs(
    node: *const lp2p_node,
    out: *mut *mut lp2p_string_list,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        check_out(out, "out")?;
        let addrs = node.node()?.external_addrs();
        // SAFETY: out was checked above.
        unsafe { write_list(out, addrs.iter().map(|a| a.to_string())) };
        Ok(())
    })
}

/// Declares `addr` a confirmed external address (e.g. a port forwarded on
/// the router, or a public IP known from configuration); a `/p2p/` suffix is
/// dropped. A new one is announced to peers, raises an
/// `LP2P_EVENT_KIND_EXTERNAL_ADDR_CONFIRMED` event, and turns a DHT in
/// `LP2P_KAD_MODE_AUTO` to server mode. Not blocking.
///
/// - `node`: borrowed.
/// - `addr`: borrowed NUL-terminated multiaddr.
/// - `out_added`: may be NULL; written on success with whether the address
///   was new.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_add_external_addr(
    node: *const lp2p_node,
    addr: *const c_char,
    out_added: *mut bool,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let addr = unsafe { arg_multiaddr(addr, "addr") }?;
        let added = node.node()?.add_external_address(addr);
        // SAFETY: written only when non-NULL.
        unsafe { write_opt(out_added, added) };
        Ok(())
    })
}

/// Removes a confirmed external address (a `/p2p/` suffix is dropped); a
/// removed one raises an `LP2P_EVENT_KIND_EXTERNAL_ADDR_EXPIRED` event. Not
/// blocking.
///
/// - `node`: borrowed.
/// - `addr`: borrowed NUL-terminated multiaddr.
/// - `out_removed`: may be NULL; written on success with whether it was one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_remove_external_addr(
    node: *const lp2p_node,
    addr: *const c_char,
    out_removed: *mut bool,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let addr = unsafe { arg_multiaddr(addr, "addr") }?;
        let removed = node.node()?.remove_external_address(&addr);
        // SAFETY: written only when non-NULL.
        unsafe { write_opt(out_removed, removed) };
        Ok(())
    })
}

/// The protocols this node answers (built-in ones and handlers).
///
/// - `node`: borrowed.
/// - `out`: borrowed, written on success with a list owned by the caller
///   (free with `lp2p_string_list_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_protocols(node: *const lp2p_node, out: *mut *mut lp2p_string_list) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        check_out(out, "out")?;
        // SAFETY: out was checked above.
        unsafe { write_list(out, node.node()?.protocols()) };
        Ok(())
    })
}

/// Starts listening on one more address. Blocking.
///
/// - `node`: borrowed.
/// - `addr`: borrowed string, for example `"/ip4/127.0.0.1/tcp/0"`.
/// - `out_bound`: may be NULL; written on success with the bound address (port
///   resolved, without `/p2p/`), a string owned by the caller (free with
///   `lp2p_string_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_listen(
    node: *const lp2p_node,
    addr: *const c_char,
    out_bound: *mut *mut c_char,
) -> lp2p_status {
    ffi_boundary!({
        refuse_engine_thread()?;
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let addr = unsafe { arg_multiaddr(addr, "addr") }?;
        let inner = node.node()?;
        let bound = node.block_on(inner.listen(addr))??;
        if !out_bound.is_null() {
            // SAFETY: non-NULL, writable by the caller's contract.
            unsafe { write_out(out_bound, c_string(&bound.to_string())) };
        }
        Ok(())
    })
}

/// Connects to `addr` (with or without `/p2p/<peer id>`; with it, the remote
/// must be that peer, and a live connection to it is reused). Blocking, up
/// to the configured dial and upgrade timeouts.
///
/// - `node`: borrowed.
/// - `addr`: borrowed string.
/// - `out_peer_id`: may be NULL; written on success with the remote's peer ID,
///   a string owned by the caller (free with `lp2p_string_free`).
///
/// Fails with `LP2P_STATUS_INVALID_MULTIADDR`, `LP2P_STATUS_DIAL_FAILED`,
/// `LP2P_STATUS_TIMEOUT`, `LP2P_STATUS_PEER_ID_MISMATCH`,
/// `LP2P_STATUS_LIMIT_REACHED`, `LP2P_STATUS_BLOCKING_IN_CALLBACK` ...
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_dial(
    node: *const lp2p_node,
    addr: *const c_char,
    out_peer_id: *mut *mut c_char,
) -> lp2p_status {
    ffi_boundary!({
        refuse_engine_thread()?;
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let addr = unsafe { arg_multiaddr(addr, "addr") }?;
        let inner = node.node()?;
        let peer = node.block_on(inner.dial(addr))??;
        if !out_peer_id.is_null() {
            // SAFETY: non-NULL, writable by the caller's contract.
            unsafe { write_out(out_peer_id, c_string(&peer.to_string())) };
        }
        Ok(())
    })
}

/// Measures one ping round trip to `peer` (dialing a known address if not
/// connected). Blocking.
///
/// - `node`: borrowed.
/// - `peer`: borrowed peer ID string.
/// - `out_rtt_us`: borrowed, written on success with the round trip time in
///   microseconds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_ping(
    node: *const lp2p_node,
    peer: *const c_char,
    out_rtt_us: *mut u64,
) -> lp2p_status {
    ffi_boundary!({
        refuse_engine_thread()?;
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        check_out(out_rtt_us, "out_rtt_us")?;
        let inner = node.node()?;
        let rtt = node.block_on(inner.ping(peer))??;
        // SAFETY: checked above.
        unsafe { write_out(out_rtt_us, micros(rtt)) };
        Ok(())
    })
}

/// What one `/perf/1.0.0` run measured (see `lp2p_node_perf`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct lp2p_perf_result {
    /// Bytes sent.
    pub upload_bytes: u64,
    /// Bytes received.
    pub download_bytes: u64,
    /// From the first byte sent to our write side closed, in microseconds.
    pub upload_us: u64,
    /// From our write side closed to the last byte received, in microseconds.
    pub download_us: u64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Runs one `/perf/1.0.0` measurement with `peer` (dialing a known address if
/// not connected): uploads `upload_bytes`, then downloads `download_bytes`.
/// Blocking; there is no overall deadline, but every read and write must make
/// progress within the node's stream timeout.
///
/// - `node`: borrowed.
/// - `peer`: borrowed peer ID string.
/// - `out_result`: borrowed, written on success.
///
/// Fails with `LP2P_STATUS_PROTOCOL_NOT_SUPPORTED` when the peer does not
/// serve perf (perf is off by default, see `lp2p_config_set_perf`),
/// `LP2P_STATUS_PROTOCOL_ERROR` when it sends the wrong number of bytes back,
/// stalls, or refuses a request over its bound.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_perf(
    node: *const lp2p_node,
    peer: *const c_char,
    upload_bytes: u64,
    download_bytes: u64,
    out_result: *mut lp2p_perf_result,
) -> lp2p_status {
    ffi_boundary!({
        refuse_engine_thread()?;
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        check_out(out_result, "out_result")?;
        let inner = node.node()?;
        let run = node.block_on(inner.perf(peer, upload_bytes, download_bytes))??;
        let result = lp2p_perf_result {
            upload_bytes: run.upload_bytes,
            download_bytes: run.download_bytes,
            upload_us: micros(run.upload_time),
            download_us: micros(run.download_time),
        };
        // SAFETY: checked above.
        unsafe { write_out(out_result, result) };
        Ok(())
    })
}

/// What this node's `/perf/1.0.0` server has done since the node started
/// (see `lp2p_node_perf_server_stats`), counted on the server's side.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct lp2p_perf_server_stats {
    /// Exchanges served to the end.
    pub served: u64,
    /// Exchanges that failed: refused over the bound, stalled or broken.
    pub failed: u64,
    /// Upload bytes drained by the served exchanges.
    pub bytes_received: u64,
    /// Bytes sent back by the served exchanges.
    pub bytes_sent: u64,
}

/// Reads the counters of this node's perf server (all 0 when perf is off,
/// see `lp2p_config_set_perf`). Does not block.
///
/// - `node`: borrowed.
/// - `out_stats`: borrowed, written on success.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_perf_server_stats(
    node: *const lp2p_node,
    out_stats: *mut lp2p_perf_server_stats,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        check_out(out_stats, "out_stats")?;
        let stats = node.node()?.perf_server_stats();
        let out = lp2p_perf_server_stats {
            served: stats.served,
            failed: stats.failed,
            bytes_received: stats.bytes_received,
            bytes_sent: stats.bytes_sent,
        };
        // SAFETY: checked above.
        unsafe { write_out(out_stats, out) };
        Ok(())
    })
}

/// Opens a stream to `peer` for `protocol`, using a live connection or
/// dialing an address from the peer store. Blocking until the remote accepted
/// the protocol.
///
/// - `node`: borrowed.
/// - `peer`: borrowed peer ID string.
/// - `protocol`: borrowed string, for example `"/echo/1.0.0"`.
/// - `out`: borrowed, written on success with a stream owned by the caller
///   (free with `lp2p_stream_free`).
///
/// Fails with `LP2P_STATUS_PROTOCOL_NOT_SUPPORTED` when the remote does not
/// speak it, `LP2P_STATUS_NO_ROUTE` when there is no connection and no known
/// address, `LP2P_STATUS_INVALID_PEER_ID` ...
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_new_stream(
    node: *const lp2p_node,
    peer: *const c_char,
    protocol: *const c_char,
    out: *mut *mut lp2p_stream,
) -> lp2p_status {
    ffi_boundary!({
        refuse_engine_thread()?;
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes NUL-terminated strings.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        // SAFETY: as above.
        let protocol = unsafe { arg_str(protocol, "protocol") }?;
        check_out(out, "out")?;
        let inner = node.node()?;
        let stream = node.block_on(inner.new_stream(peer, protocol))??;
        let handle = lp2p_stream::spawn(stream, &node.registry, node.runtime()?.handle());
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(handle)) };
        Ok(())
    })
}

/// The handler, its userdata and its finalizer, shared by every call.
struct HandlerCallback {
    callback: unsafe extern "C" fn(*mut c_void, *mut lp2p_stream),
    userdata: Userdata,
    _finalizer: crate::stream::Finalizer,
}

/// Sets the handler for inbound streams of `protocol`, replacing any previous
/// one (whose finalizer then runs once its running calls have returned).
///
/// - `node`: borrowed.
/// - `protocol`: borrowed string (copied).
/// - `handler`: required; see `lp2p_stream_handler`.
/// - `userdata`: passed to `handler` and `finalizer`; lp2p keeps it.
/// - `finalizer`: may be NULL; called exactly once with `userdata` when the
///   handler is removed or replaced or the node freed, after its last call
///   returned (possibly on an engine thread).
///
/// On failure `finalizer` is not called and lp2p keeps nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_set_stream_handler(
    node: *const lp2p_node,
    protocol: *const c_char,
    handler: lp2p_stream_handler,
    userdata: *mut c_void,
    finalizer: lp2p_finalizer,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let protocol = unsafe { arg_str(protocol, "protocol") }?;
        let handler = handler.ok_or_else(|| FfiError::new(lp2p_status::NullArgument, "`handler` is NULL"))?;
        if protocol.is_empty() || !protocol.starts_with('/') || protocol.len() > 1024 {
            return Err(FfiError::new(
                lp2p_status::InvalidArgument,
                "a protocol starts with '/' and is at most 1024 bytes",
            ));
        }
        let inner = node.node()?;
        let userdata = Userdata(userdata);
        let target = Arc::new(HandlerCallback {
            callback: handler,
            userdata,
            _finalizer: crate::stream::Finalizer { finalizer, userdata },
        });
        let registry = Arc::clone(&node.registry);
        let handle = node.runtime()?.handle().clone();
        // The core spawns identify pushes: run inside the runtime's context.
        let _guard = node.runtime()?.enter();
        inner.set_stream_handler(protocol, move |stream| {
            let target = Arc::clone(&target);
            let registry = Arc::clone(&registry);
            let handle = handle.clone();
            async move {
                if registry.closed.load(Ordering::Acquire) {
                    return;
                }
                let stream = Box::into_raw(lp2p_stream::spawn(stream, &registry, &handle));
                // SAFETY: C callback with its own userdata; it takes ownership of `stream`.
                unsafe { (target.callback)(target.userdata.0, stream) };
            }
        });
        node.handlers.lock().insert(protocol.to_string());
        Ok(())
    })
}

/// Removes the handler of `protocol`; inbound streams for it are then
/// refused. Its finalizer runs once its running calls have returned.
///
/// - `node`: borrowed.
/// - `protocol`: borrowed string.
/// - `out_removed`: may be NULL; written with whether there was a handler.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_remove_stream_handler(
    node: *const lp2p_node,
    protocol: *const c_char,
    out_removed: *mut bool,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let protocol = unsafe { arg_str(protocol, "protocol") }?;
        let _guard = node.runtime()?.enter();
        let removed = node.node()?.remove_stream_handler(protocol);
        node.handlers.lock().remove(protocol);
        // SAFETY: NULL is skipped.
        unsafe { write_opt(out_removed, removed) };
        Ok(())
    })
}

/// Sets the callback that receives the node's events (see `lp2p_event_kind`),
/// replacing any previous one (whose finalizer runs once its running call has
/// returned, also when this is called from inside that call: a callback may
/// replace or remove itself and still use its userdata until it returns).
/// NULL `callback` removes it. Events of the time no callback was
/// set are lost; a slow callback makes the node skip the oldest events.
///
/// - `node`: borrowed.
/// - `callback`: may be NULL; runs on an engine thread, one call at a time.
/// - `userdata`: passed to `callback` and `finalizer`; lp2p keeps it.
/// - `finalizer`: may be NULL; called exactly once with `userdata` when the
///   callback is replaced or removed or the node freed.
///
/// May be called from inside the event callback itself.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_set_event_callback(
    node: *const lp2p_node,
    callback: lp2p_event_callback,
    userdata: *mut c_void,
    finalizer: lp2p_finalizer,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        node.node()?;
        let userdata = Userdata(userdata);
        let finalizer = crate::stream::Finalizer { finalizer, userdata };
        let new = callback.map(|callback| Arc::new(EventCallback { callback, userdata, _finalizer: finalizer }));
        let old = {
            let guard = node.events.lock();
            guard.replace(new)
        };
        drop(old);
        Ok(())
    })
}

/// Whether a connection to `peer` is open.
///
/// - `node`: borrowed.
/// - `peer`: borrowed peer ID string.
/// - `out_connected`: borrowed, written on success.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_is_connected(
    node: *const lp2p_node,
    peer: *const c_char,
    out_connected: *mut bool,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        check_out(out_connected, "out_connected")?;
        let connected = node.node()?.is_connected(&peer);
        // SAFETY: checked above.
        unsafe { write_out(out_connected, connected) };
        Ok(())
    })
}

/// The peers with an open connection.
///
/// - `node`: borrowed.
/// - `out`: borrowed, written on success with a list of peer IDs owned by
///   the caller (free with `lp2p_string_list_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_connected_peers(
    node: *const lp2p_node,
    out: *mut *mut lp2p_string_list,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        check_out(out, "out")?;
        let peers = node.node()?.connected_peers();
        // SAFETY: out was checked above.
        unsafe { write_list(out, peers.iter().map(PeerId::to_string)) };
        Ok(())
    })
}

/// Closes every connection to `peer`. Blocking.
///
/// - `node`: borrowed.
/// - `peer`: borrowed peer ID string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_disconnect(node: *const lp2p_node, peer: *const c_char) -> lp2p_status {
    ffi_boundary!({
        refuse_engine_thread()?;
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        let inner = node.node()?;
        node.block_on(inner.disconnect(peer))?;
        Ok(())
    })
}

/// Tells the peer store where `peer` can be reached, so that
/// `lp2p_node_new_stream` and `lp2p_node_ping` can dial it by peer ID.
///
/// - `node`: borrowed.
/// - `peer`: borrowed peer ID string.
/// - `addr`: borrowed multiaddr string (without `/p2p/`).
/// - `ttl_ms`: how long to keep it, in milliseconds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_add_peer_addr(
    node: *const lp2p_node,
    peer: *const c_char,
    addr: *const c_char,
    ttl_ms: u64,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes NUL-terminated strings.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        // SAFETY: as above.
        let addr = unsafe { arg_multiaddr(addr, "addr") }?;
        let _guard = node.runtime()?.enter();
        node.node()?.add_addresses(peer, &[addr], Duration::from_millis(ttl_ms));
        Ok(())
    })
}

/// A snapshot of what the peer store knows of one peer (learned by
/// identify). Free with `lp2p_peer_info_free`.
pub struct lp2p_peer_info {
    addrs: lp2p_string_list,
    protocols: lp2p_string_list,
    agent_version: Option<CString>,
    protocol_version: Option<CString>,
    peer_record_addrs: Option<lp2p_string_list>,
}

/// A peer-store text field that may be absent.
trait MaybeText {
    fn text(&self) -> Option<&str>;
}

impl MaybeText for String {
    fn text(&self) -> Option<&str> {
        if self.is_empty() { None } else { Some(self) }
    }
}

impl MaybeText for Option<String> {
    fn text(&self) -> Option<&str> {
        self.as_deref()
    }
}

/// What the peer store knows of `peer`: addresses, protocols, versions.
///
/// - `node`: borrowed.
/// - `peer`: borrowed peer ID string.
/// - `out`: borrowed, written on success with a snapshot owned by the caller
///   (free with `lp2p_peer_info_free`).
///
/// Fails with `LP2P_STATUS_UNKNOWN_PEER` when the store knows nothing of it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_peer_info(
    node: *const lp2p_node,
    peer: *const c_char,
    out: *mut *mut lp2p_peer_info,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        check_out(out, "out")?;
        let info = node.node()?.peer_info(&peer).ok_or_else(|| {
            FfiError::new(lp2p_status::UnknownPeer, format!("the peer store knows nothing of {peer}"))
        })?;
        let snapshot = lp2p_peer_info {
            addrs: lp2p_string_list::new(info.addrs.iter().map(|a| a.to_string())),
            protocols: lp2p_string_list::new(&info.protocols),
            agent_version: info.agent_version.text().map(to_cstring),
            protocol_version: info.protocol_version.text().map(to_cstring),
            peer_record_addrs: info
                .peer_record
                .as_ref()
                .map(|record| lp2p_string_list::new(record.addrs.iter().map(|a| a.to_string()))),
        };
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(Box::new(snapshot))) };
        Ok(())
    })
}

/// The peer's known addresses. Borrowed from `info` (do not free it); NULL
/// when `info` is NULL.
///
/// - `info`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_peer_info_addrs(info: *const lp2p_peer_info) -> *const lp2p_string_list {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: a non-NULL info comes from this library.
        let info = unsafe { arg_ref(info, "info") }?;
        Ok(&info.addrs as *const lp2p_string_list)
    })
}

/// The protocols the peer announced. Borrowed from `info` (do not free it);
/// NULL when `info` is NULL.
///
/// - `info`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_peer_info_protocols(info: *const lp2p_peer_info) -> *const lp2p_string_list {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: a non-NULL info comes from this library.
        let info = unsafe { arg_ref(info, "info") }?;
        Ok(&info.protocols as *const lp2p_string_list)
    })
}

/// The peer's agent version, or NULL when unknown (or `info` is NULL).
/// Borrowed from `info`.
///
/// - `info`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_peer_info_agent_version(info: *const lp2p_peer_info) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: a non-NULL info comes from this library.
        let info = unsafe { arg_ref(info, "info") }?;
        Ok(info.agent_version.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()))
    })
}

/// The peer's protocol version, or NULL when unknown (or `info` is NULL).
/// Borrowed from `info`.
///
/// - `info`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_peer_info_protocol_version(info: *const lp2p_peer_info) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: a non-NULL info comes from this library.
        let info = unsafe { arg_ref(info, "info") }?;
        Ok(info.protocol_version.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()))
    })
}

/// The addresses of the peer's latest signed peer record, whose signature
/// lp2p verified; NULL when the peer sent none (or `info` is NULL). Borrowed
/// from `info`.
///
/// - `info`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_peer_info_peer_record_addrs(info: *const lp2p_peer_info) -> *const lp2p_string_list {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: a non-NULL info comes from this library.
        let info = unsafe { arg_ref(info, "info") }?;
        Ok(info.peer_record_addrs.as_ref().map_or(std::ptr::null(), |list| list as *const lp2p_string_list))
    })
}

/// Frees a peer info snapshot. NULL does nothing.
///
/// - `info`: owned by the caller until this call, then freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_peer_info_free(info: *mut lp2p_peer_info) {
    ffi_boundary!((), {
        if !info.is_null() {
            // SAFETY: info came from Box::into_raw in this library.
            drop(unsafe { Box::from_raw(info) });
        }
        Ok(())
    })
}
