//! The resource manager: how many connections, streams, bytes and file
//! descriptors each part of the node may hold, after go-libp2p's
//! `p2p/host/resource-manager`.
//!
//! # Scopes
//!
//! Every reservation is counted in a chain of scopes and must fit in each:
//!
//! ```text
//! connection:  connection -> transient (until the peer is known) | peer -> system
//!              connection -> allowlisted [-> peer]          (allowlisted address)
//! stream:      stream -> peer -> transient (until the protocol is known) | protocol
//!                     -> service (if set) -> system
//! ```
//!
//! - *system*: the whole node.
//! - *transient*: connections whose peer is not yet known (the security
//!   handshake is running) and streams whose protocol is not yet negotiated:
//!   work a remote can cause before proving anything, held to a fraction of
//!   the system.
//! - *peer*, *protocol*, *service*: one scope per remote peer, per protocol
//!   and per service (a name a protocol implementation groups its streams
//!   under, e.g. `"identify"`), each with default limits and optional
//!   overrides by name.
//! - the connection and the stream themselves: leaves that only limit their
//!   own memory reservations.
//! - *allowlisted*: connections from an allowlisted network are counted here
//!   instead of in system and transient. This is the simpler equivalent of
//!   go's separate allowlisted system and transient scopes: go tries the
//!   normal scopes first and falls back to the allowlisted ones, we send an
//!   allowlisted connection straight to its own scope, so it never competes
//!   with the rest and is never refused by the normal system, transient or
//!   per-IP limits (go still applies its per-IP limiter to them). The peer
//!   scope applies to allowlisted connections as to any other.
//!
//! Each scope limits inbound, outbound and total connections, inbound,
//! outbound and total streams, reserved memory, and file descriptors
//! ([`Limits`]); [`UNLIMITED`] says "no limit". On top, connections are
//! counted per IP subnet (default 8 per IPv4 address, 8 per IPv6 /56 and 64
//! per IPv6 /48, loopback unlimited: go-libp2p's connection limiter).
//!
//! # Guards
//!
//! Reservations are RAII guards: [`ConnectionGuard`] and [`StreamGuard`]
//! release everything they hold when dropped, so no path (error, panic,
//! cancelled task) can leak a count. All accounting sits behind one mutex:
//! each open, move or release takes it once, and a stream's scopes are looked
//! up in maps keyed by `PeerId` (a `Copy` value) and `Arc<str>` (cloned, not
//! reallocated), so a stream costs no allocation once its protocol's scope
//! exists.
//!
//! # Limit hits
//!
//! Every refusal is a typed [`LimitError`] (scope, resource, limit, current
//! use) returned to the caller, and also: counted per scope kind and resource,
//! kept among the last [`RECENT_HITS_CAPACITY`] hits (both in [`Stats`]), and
//! passed to the hook set by [`ResourceManager::set_limit_hook`], called
//! outside the lock on the thread that was refused.
//!
//! # How the swarm uses this
//!
//! One `ResourceManager` per node (it is `Clone`, an `Arc` inside), built
//! from `ResourceManagerConfig` in the swarm's config.
//!
//! 1. **Inbound connection accepted** (listener, before the upgrade):
//!    `open_connection(Direction::Inbound, uses_fd, Some(remote_ip))`; on
//!    `Err` close the socket at once and emit a node event from the error.
//!    Keep the guard with the connection's task.
//! 2. **Outbound dial** (before connecting the socket):
//!    `open_connection(Direction::Outbound, uses_fd, ip)`; on `Err` fail the
//!    dial with the error.
//! 3. **Upgrade done, remote peer known**: `guard.set_peer(peer)`; on `Err`
//!    close the connection (drop the guard).
//! 4. **Stream opened** (inbound from the muxer, or outbound by
//!    `new_stream`): `open_stream(peer, direction)` before negotiation; on
//!    `Err` reset the stream. Keep the guard with the stream.
//! 5. **Protocol negotiated**: `stream_guard.set_protocol(protocol)`, and a
//!    protocol implementation may call `set_service(name)`; on `Err` reset.
//! 6. **Buffers**: a muxer or protocol that buffers per connection or stream
//!    calls `reserve_memory(bytes, priority)` / `release_memory(bytes)` on
//!    the guard it holds.
//! 7. **Close**: drop the guard together with the connection or stream.
//! 8. **Events and metrics**: `set_limit_hook` with a closure that
//!    `try_send`s into the swarm's bounded event channel; `stats()` for
//!    metrics.
//!
//! `uses_fd` is true for TCP and WebSocket sockets, false for QUIC
//! connections sharing one UDP socket, relayed circuits and the memory
//! transport; `remote_ip` is `None` where there is no IP (memory transport).
//!
//! The allowlist and limits are fixed when the manager is built.

mod ip;
mod limits;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

pub use ip::{AllowlistEntry, IpNetwork, NetworkError, NetworkLimit, SubnetLimit};
pub use limits::{
    Direction, LimitIncrease, Limits, MachineResources, MemoryPriority, Resource, ResourceManagerConfig, ScalingConfig,
    ScalingLimits, UNLIMITED, Usage, scale,
};

use crate::PeerId;
use ip::{AllowMatch, SubnetCounts, SubnetRules, allowlist_allows_peer, allowlist_match};

/// How many recent limit hits [`Stats::recent_hits`] keeps.
pub const RECENT_HITS_CAPACITY: usize = 32;

/// The scope a limit belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScopeName {
    /// The whole node.
    System,
    /// Connections before their peer is known, streams before their protocol is.
    Transient,
    /// Connections from allowlisted networks.
    Allowlisted,
    /// One remote peer.
    Peer(PeerId),
    /// One protocol.
    Protocol(Arc<str>),
    /// One service.
    Service(Arc<str>),
    /// One connection (its own memory).
    Connection,
    /// One stream (its own memory).
    Stream,
    /// The connections from one IP subnet or configured network.
    Subnet(IpNetwork),
}

impl ScopeName {
    /// The kind of scope, without the name.
    pub fn kind(&self) -> ScopeKind {
        match self {
            ScopeName::System => ScopeKind::System,
            ScopeName::Transient => ScopeKind::Transient,
            ScopeName::Allowlisted => ScopeKind::Allowlisted,
            ScopeName::Peer(_) => ScopeKind::Peer,
            ScopeName::Protocol(_) => ScopeKind::Protocol,
            ScopeName::Service(_) => ScopeKind::Service,
            ScopeName::Connection => ScopeKind::Connection,
            ScopeName::Stream => ScopeKind::Stream,
            ScopeName::Subnet(_) => ScopeKind::Subnet,
        }
    }
}

/// The kinds of scope, for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    /// See [`ScopeName::System`].
    System,
    /// See [`ScopeName::Transient`].
    Transient,
    /// See [`ScopeName::Allowlisted`].
    Allowlisted,
    /// See [`ScopeName::Peer`].
    Peer,
    /// See [`ScopeName::Protocol`].
    Protocol,
    /// See [`ScopeName::Service`].
    Service,
    /// See [`ScopeName::Connection`].
    Connection,
    /// See [`ScopeName::Stream`].
    Stream,
    /// See [`ScopeName::Subnet`].
    Subnet,
}

impl ScopeKind {
    /// A stable lowercase name, for events in the bindings and logs.
    pub fn name(self) -> &'static str {
        match self {
            ScopeKind::System => "system",
            ScopeKind::Transient => "transient",
            ScopeKind::Allowlisted => "allowlisted",
            ScopeKind::Peer => "peer",
            ScopeKind::Protocol => "protocol",
            ScopeKind::Service => "service",
            ScopeKind::Connection => "connection",
            ScopeKind::Stream => "stream",
            ScopeKind::Subnet => "subnet",
        }
    }
}

const SCOPE_KINDS: usize = 9;

/// A reservation refused: which scope's limit on which resource, the limit,
/// and what the scope held when it refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource limit reached in {scope:?}: {resource:?} limit {limit}, {current} in use")]
pub struct LimitError {
    /// The scope that refused.
    pub scope: ScopeName,
    /// The resource whose limit was reached.
    pub resource: Resource,
    /// The limit.
    pub limit: u64,
    /// The scope's use of the resource before the refused reservation.
    pub current: u64,
}

/// Limit hits counted per scope kind and resource since the manager was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitHits {
    counts: [[u64; Resource::ALL.len()]; SCOPE_KINDS],
}

impl LimitHits {
    /// Hits of `resource` limits in scopes of `kind`.
    pub fn get(&self, kind: ScopeKind, resource: Resource) -> u64 {
        self.counts[kind as usize][resource.index()]
    }

    /// All hits.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    fn count(&mut self, error: &LimitError) {
        let slot = &mut self.counts[error.scope.kind() as usize][error.resource.index()];
        *slot = slot.saturating_add(1);
    }
}

/// What every scope holds now, and the limit hits so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The system scope.
    pub system: Usage,
    /// The transient scope.
    pub transient: Usage,
    /// The allowlisted scope.
    pub allowlisted: Usage,
    /// Each peer holding anything.
    pub peers: HashMap<PeerId, Usage>,
    /// Each protocol holding anything.
    pub protocols: HashMap<String, Usage>,
    /// Each service holding anything.
    pub services: HashMap<String, Usage>,
    /// Limit hits per scope kind and resource.
    pub hits: LimitHits,
    /// The most recent hits, oldest first, at most [`RECENT_HITS_CAPACITY`].
    pub recent_hits: Vec<LimitError>,
}

type LimitHook = Arc<dyn Fn(&LimitError) + Send + Sync>;

/// Counts resources per scope and refuses what would exceed a limit.
/// Cheap to clone: clones share the accounting.
#[derive(Clone)]
pub struct ResourceManager {
    inner: Arc<Inner>,
}

struct Inner {
    config: ResourceManagerConfig,
    state: Mutex<State>,
}

/// One scope in a chain, by name; borrowed names so that building a chain
/// allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScopeKey<'a> {
    System,
    Transient,
    Allowlisted,
    Peer(PeerId),
    Protocol(&'a Arc<str>),
    Service(&'a Arc<str>),
}

#[derive(Default)]
struct State {
    system: Usage,
    transient: Usage,
    allowlisted: Usage,
    // Entries exist only while they hold something, so these maps are bounded
    // by the live guards, which the system scope bounds.
    peers: HashMap<PeerId, Usage>,
    protocols: HashMap<Arc<str>, Usage>,
    services: HashMap<Arc<str>, Usage>,
    subnets: SubnetCounts,
    hits: LimitHits,
    recent_hits: VecDeque<LimitError>,
    hook: Option<LimitHook>,
}

impl Inner {
    fn limits(&self, key: ScopeKey<'_>) -> Limits {
        let config = &self.config;
        match key {
            ScopeKey::System => config.system,
            ScopeKey::Transient => config.transient,
            ScopeKey::Allowlisted => config.allowlisted,
            ScopeKey::Peer(peer) => config.peer_overrides.get(&peer).copied().unwrap_or(config.peer_default),
            ScopeKey::Protocol(name) => {
                config.protocol_overrides.get(&**name).copied().unwrap_or(config.protocol_default)
            }
            ScopeKey::Service(name) => config.service_overrides.get(&**name).copied().unwrap_or(config.service_default),
        }
    }

    fn subnet_rules(&self) -> SubnetRules<'_> {
        SubnetRules {
            ipv4: &self.config.ipv4_subnet_limits,
            ipv6: &self.config.ipv6_subnet_limits,
            networks: &self.config.network_limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The accounting stays consistent across a panic elsewhere (every
        // update is a few additions), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks that `delta` fits in every scope of `keys`.
    fn check(&self, state: &State, keys: &[ScopeKey<'_>], delta: &Usage, priority: u8) -> Result<(), LimitError> {
        for key in keys {
            let usage = state.usage(*key);
            if let Some((resource, limit, current)) = usage.exceeded(&self.limits(*key), delta, priority) {
                return Err(LimitError { scope: key.name(), resource, limit, current });
            }
        }
        Ok(())
    }

    /// Moves `usage` from the scopes of `old` to those of `new`, checking only
    /// the scopes it enters; nothing changes if one refuses.
    fn transfer(
        &self,
        state: &mut State,
        old: &[ScopeKey<'_>],
        new: &[ScopeKey<'_>],
        usage: &Usage,
    ) -> Result<(), LimitError> {
        for key in new.iter().filter(|key| !old.contains(key)) {
            self.check(state, &[*key], usage, MemoryPriority::ALWAYS.0)?;
        }
        for key in old.iter().filter(|key| !new.contains(key)) {
            state.sub(*key, usage);
        }
        for key in new.iter().filter(|key| !old.contains(key)) {
            state.add(*key, usage);
        }
        Ok(())
    }

    /// Records a refusal, releases the lock, tells the hook, and gives the
    /// error back for the caller to return.
    fn refuse(&self, mut state: MutexGuard<'_, State>, error: LimitError) -> LimitError {
        state.hits.count(&error);
        if state.recent_hits.len() == RECENT_HITS_CAPACITY {
            state.recent_hits.pop_front();
        }
        state.recent_hits.push_back(error.clone());
        let hook = state.hook.clone();
        drop(state);
        if let Some(hook) = hook {
            hook(&error);
        }
        error
    }
}

impl ScopeKey<'_> {
    fn name(&self) -> ScopeName {
        match self {
            ScopeKey::System => ScopeName::System,
            ScopeKey::Transient => ScopeName::Transient,
            ScopeKey::Allowlisted => ScopeName::Allowlisted,
            ScopeKey::Peer(peer) => ScopeName::Peer(*peer),
            ScopeKey::Protocol(name) => ScopeName::Protocol(Arc::clone(name)),
            ScopeKey::Service(name) => ScopeName::Service(Arc::clone(name)),
        }
    }
}

impl State {
    fn usage(&self, key: ScopeKey<'_>) -> Usage {
        match key {
            ScopeKey::System => self.system,
            ScopeKey::Transient => self.transient,
            ScopeKey::Allowlisted => self.allowlisted,
            ScopeKey::Peer(peer) => self.peers.get(&peer).copied().unwrap_or_default(),
            ScopeKey::Protocol(name) => self.protocols.get(name).copied().unwrap_or_default(),
            ScopeKey::Service(name) => self.services.get(name).copied().unwrap_or_default(),
        }
    }

    fn add(&mut self, key: ScopeKey<'_>, delta: &Usage) {
        match key {
            ScopeKey::System => self.system.add(delta),
            ScopeKey::Transient => self.transient.add(delta),
            ScopeKey::Allowlisted => self.allowlisted.add(delta),
            ScopeKey::Peer(peer) => self.peers.entry(peer).or_default().add(delta),
            ScopeKey::Protocol(name) => add_named(&mut self.protocols, name, delta),
            ScopeKey::Service(name) => add_named(&mut self.services, name, delta),
        }
    }

    fn sub(&mut self, key: ScopeKey<'_>, delta: &Usage) {
        match key {
            ScopeKey::System => self.system.sub(delta),
            ScopeKey::Transient => self.transient.sub(delta),
            ScopeKey::Allowlisted => self.allowlisted.sub(delta),
            ScopeKey::Peer(peer) => {
                if let Some(usage) = self.peers.get_mut(&peer) {
                    usage.sub(delta);
                    if usage.is_zero() {
                        self.peers.remove(&peer);
                    }
                }
            }
            ScopeKey::Protocol(name) => sub_named(&mut self.protocols, name, delta),
            ScopeKey::Service(name) => sub_named(&mut self.services, name, delta),
        }
    }

    fn add_all(&mut self, keys: &[ScopeKey<'_>], delta: &Usage) {
        keys.iter().for_each(|key| self.add(*key, delta));
    }

    fn sub_all(&mut self, keys: &[ScopeKey<'_>], delta: &Usage) {
        keys.iter().for_each(|key| self.sub(*key, delta));
    }

    /// The name as the map holds it, so that a guard shares the map's `Arc`
    /// instead of allocating its own.
    fn intern(map: &HashMap<Arc<str>, Usage>, name: &str) -> Arc<str> {
        match map.get_key_value(name) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(name),
        }
    }
}

fn add_named(map: &mut HashMap<Arc<str>, Usage>, name: &Arc<str>, delta: &Usage) {
    match map.get_mut(&**name) {
        Some(usage) => usage.add(delta),
        None => {
            let mut usage = Usage::default();
            usage.add(delta);
            map.insert(Arc::clone(name), usage);
        }
    }
}

fn sub_named(map: &mut HashMap<Arc<str>, Usage>, name: &Arc<str>, delta: &Usage) {
    if let Some(usage) = map.get_mut(&**name) {
        usage.sub(delta);
        if usage.is_zero() {
            map.remove(&**name);
        }
    }
}

impl ResourceManager {
    /// A manager enforcing `config`.
    pub fn new(config: ResourceManagerConfig) -> ResourceManager {
        ResourceManager { inner: Arc::new(Inner { config, state: Mutex::new(State::default()) }) }
    }

    /// The limits in force.
    pub fn config(&self) -> &ResourceManagerConfig {
        &self.inner.config
    }

    /// Calls `hook` with every refusal from now on (replacing any earlier
    /// hook), outside the manager's lock, on the refused caller's thread. It
    /// must be quick and must not block: hand the error to a bounded channel
    /// with `try_send`.
    pub fn set_limit_hook(&self, hook: impl Fn(&LimitError) + Send + Sync + 'static) {
        self.inner.lock().hook = Some(Arc::new(hook));
    }

    /// Removes the hook.
    pub fn clear_limit_hook(&self) {
        self.inner.lock().hook = None;
    }

    /// Admits a connection in `direction` from or to `remote_ip` (`None` for
    /// transports without one), holding a file descriptor if `uses_fd`. It is
    /// counted in the transient and system scopes (or the allowlisted scope)
    /// until [`ConnectionGuard::set_peer`], and per subnet of `remote_ip`.
    pub fn open_connection(
        &self,
        direction: Direction,
        uses_fd: bool,
        remote_ip: Option<IpAddr>,
    ) -> Result<ConnectionGuard, LimitError> {
        let inner = &self.inner;
        let allow_match = match remote_ip {
            Some(ip) => allowlist_match(&inner.config.allowlist, ip),
            None => AllowMatch::No,
        };
        let allowlisted = allow_match != AllowMatch::No;
        let usage = Usage::connection(direction, uses_fd);
        let keys = connection_keys(allowlisted, None);
        let mut state = inner.lock();
        let mut subnet_counted = false;
        if let (Some(ip), false) = (remote_ip, allowlisted) {
            if let Err(refusal) = state.subnets.add(&inner.subnet_rules(), ip) {
                let error = subnet_error(refusal);
                return Err(inner.refuse(state, error));
            }
            subnet_counted = true;
        }
        if let Err(error) = inner.check(&state, keys.as_slice(), &usage, MemoryPriority::ALWAYS.0) {
            if let (Some(ip), true) = (remote_ip, subnet_counted) {
                state.subnets.remove(&inner.subnet_rules(), ip);
            }
            return Err(inner.refuse(state, error));
        }
        state.add_all(keys.as_slice(), &usage);
        drop(state);
        Ok(ConnectionGuard {
            inner: Arc::clone(inner),
            direction,
            uses_fd,
            remote_ip,
            subnet_counted,
            allowlisted,
            allow_match,
            peer: None,
            memory: 0,
        })
    }

    /// Admits a stream with `peer` in `direction`, counted in the peer,
    /// transient and system scopes until [`StreamGuard::set_protocol`].
    pub fn open_stream(&self, peer: PeerId, direction: Direction) -> Result<StreamGuard, LimitError> {
        let inner = &self.inner;
        let usage = Usage::stream(direction);
        let keys = stream_keys(peer, None, None);
        let mut state = inner.lock();
        if let Err(error) = inner.check(&state, keys.as_slice(), &usage, MemoryPriority::ALWAYS.0) {
            return Err(inner.refuse(state, error));
        }
        state.add_all(keys.as_slice(), &usage);
        drop(state);
        Ok(StreamGuard { inner: Arc::clone(inner), direction, peer, protocol: None, service: None, memory: 0 })
    }

    /// What every scope holds now, and the limit hits so far.
    pub fn stats(&self) -> Stats {
        let state = self.inner.lock();
        let named =
            |map: &HashMap<Arc<str>, Usage>| map.iter().map(|(name, usage)| (name.to_string(), *usage)).collect();
        Stats {
            system: state.system,
            transient: state.transient,
            allowlisted: state.allowlisted,
            peers: state.peers.clone(),
            protocols: named(&state.protocols),
            services: named(&state.services),
            hits: state.hits,
            recent_hits: state.recent_hits.iter().cloned().collect(),
        }
    }

    /// Whether nothing at all is held, the subnet counts included (for tests
    /// that look for leaks).
    pub fn is_idle(&self) -> bool {
        let state = self.inner.lock();
        state.system.is_zero()
            && state.transient.is_zero()
            && state.allowlisted.is_zero()
            && state.peers.is_empty()
            && state.protocols.is_empty()
            && state.services.is_empty()
            && state.subnets.is_empty()
    }
}

/// Up to four scopes in a chain, on the stack.
struct Chain<'a> {
    keys: [ScopeKey<'a>; 4],
    len: usize,
}

impl<'a> Chain<'a> {
    fn new() -> Chain<'a> {
        Chain { keys: [ScopeKey::System; 4], len: 0 }
    }

    fn push(&mut self, key: ScopeKey<'a>) {
        self.keys[self.len] = key;
        self.len += 1;
    }

    fn as_slice(&self) -> &[ScopeKey<'a>] {
        &self.keys[..self.len]
    }
}

fn connection_keys(allowlisted: bool, peer: Option<PeerId>) -> Chain<'static> {
    let mut chain = Chain::new();
    match (peer, allowlisted) {
        (Some(peer), _) => chain.push(ScopeKey::Peer(peer)),
        (None, false) => chain.push(ScopeKey::Transient),
        (None, true) => {}
    }
    chain.push(if allowlisted { ScopeKey::Allowlisted } else { ScopeKey::System });
    chain
}

fn stream_keys<'a>(peer: PeerId, protocol: Option<&'a Arc<str>>, service: Option<&'a Arc<str>>) -> Chain<'a> {
    let mut chain = Chain::new();
    chain.push(ScopeKey::Peer(peer));
    chain.push(match protocol {
        Some(name) => ScopeKey::Protocol(name),
        None => ScopeKey::Transient,
    });
    if let Some(name) = service {
        chain.push(ScopeKey::Service(name));
    }
    chain.push(ScopeKey::System);
    chain
}

fn subnet_error(refusal: ip::SubnetRefusal) -> LimitError {
    LimitError {
        scope: ScopeName::Subnet(refusal.network),
        resource: Resource::Conns,
        limit: refusal.limit,
        current: refusal.current,
    }
}

/// Checks `bytes` more against a leaf's own memory limit.
fn check_leaf_memory(
    scope: ScopeName,
    held: u64,
    bytes: u64,
    limit: u64,
    priority: MemoryPriority,
) -> Result<(), LimitError> {
    let limits = Limits { memory: limit, ..Limits::UNLIMITED };
    match Usage::memory(held).exceeded(&limits, &Usage::memory(bytes), priority.0) {
        Some((resource, limit, current)) => Err(LimitError { scope, resource, limit, current }),
        None => Ok(()),
    }
}

/// A connection's reservation; released when dropped.
pub struct ConnectionGuard {
    inner: Arc<Inner>,
    direction: Direction,
    uses_fd: bool,
    remote_ip: Option<IpAddr>,
    /// Counted in the subnet counts (not allowlisted, has an IP).
    subnet_counted: bool,
    allowlisted: bool,
    allow_match: AllowMatch,
    peer: Option<PeerId>,
    memory: u64,
}

impl ConnectionGuard {
    /// The connection's direction.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The peer, once set.
    pub fn peer(&self) -> Option<PeerId> {
        self.peer
    }

    /// Whether the connection is counted in the allowlisted scope.
    pub fn is_allowlisted(&self) -> bool {
        self.allowlisted
    }

    /// Bytes reserved through this guard.
    pub fn reserved_memory(&self) -> u64 {
        self.memory
    }

    fn usage(&self) -> Usage {
        let mut usage = Usage::connection(self.direction, self.uses_fd);
        usage.memory = self.memory;
        usage
    }

    /// Ties the connection to `peer`: it leaves the transient scope for the
    /// peer's. If it came from a network allowlisted only for other peers, it
    /// loses the allowlist and is now held to the system and per-IP limits.
    /// On `Err` nothing changed; the caller should close the connection.
    pub fn set_peer(&mut self, peer: PeerId) -> Result<(), LimitError> {
        let inner = Arc::clone(&self.inner);
        let mut allowlisted = self.allowlisted;
        if let (AllowMatch::SomePeer, Some(ip)) = (self.allow_match, self.remote_ip) {
            allowlisted = allowlist_allows_peer(&inner.config.allowlist, ip, peer);
        }
        let usage = self.usage();
        let old = connection_keys(self.allowlisted, self.peer);
        let new = connection_keys(allowlisted, Some(peer));
        let mut state = inner.lock();
        let count_subnet = !allowlisted && !self.subnet_counted;
        if let (Some(ip), true) = (self.remote_ip, count_subnet)
            && let Err(refusal) = state.subnets.add(&inner.subnet_rules(), ip)
        {
            return Err(inner.refuse(state, subnet_error(refusal)));
        }
        if let Err(error) = inner.transfer(&mut state, old.as_slice(), new.as_slice(), &usage) {
            if let (Some(ip), true) = (self.remote_ip, count_subnet) {
                state.subnets.remove(&inner.subnet_rules(), ip);
            }
            return Err(inner.refuse(state, error));
        }
        drop(state);
        self.subnet_counted |= count_subnet && self.remote_ip.is_some();
        self.allowlisted = allowlisted;
        self.peer = Some(peer);
        Ok(())
    }

    /// Reserves `bytes` for this connection, held to the connection's own
    /// memory limit and every enclosing scope's at `priority`.
    pub fn reserve_memory(&mut self, bytes: u64, priority: MemoryPriority) -> Result<(), LimitError> {
        let inner = Arc::clone(&self.inner);
        let mut state = inner.lock();
        let leaf =
            check_leaf_memory(ScopeName::Connection, self.memory, bytes, inner.config.connection_memory, priority);
        let keys = connection_keys(self.allowlisted, self.peer);
        let delta = Usage::memory(bytes);
        if let Err(error) = leaf.and_then(|()| inner.check(&state, keys.as_slice(), &delta, priority.0)) {
            return Err(inner.refuse(state, error));
        }
        state.add_all(keys.as_slice(), &delta);
        self.memory += bytes;
        Ok(())
    }

    /// Gives back up to `bytes` reserved through this guard.
    pub fn release_memory(&mut self, bytes: u64) {
        let bytes = bytes.min(self.memory);
        let keys = connection_keys(self.allowlisted, self.peer);
        self.inner.lock().sub_all(keys.as_slice(), &Usage::memory(bytes));
        self.memory -= bytes;
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let keys = connection_keys(self.allowlisted, self.peer);
        let usage = self.usage();
        let mut state = self.inner.lock();
        state.sub_all(keys.as_slice(), &usage);
        if let (Some(ip), true) = (self.remote_ip, self.subnet_counted) {
            state.subnets.remove(&self.inner.subnet_rules(), ip);
        }
    }
}

impl std::fmt::Debug for ConnectionGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionGuard")
            .field("direction", &self.direction)
            .field("peer", &self.peer)
            .field("allowlisted", &self.allowlisted)
            .field("memory", &self.memory)
            .finish()
    }
}

/// A stream's reservation; released when dropped.
pub struct StreamGuard {
    inner: Arc<Inner>,
    direction: Direction,
    peer: PeerId,
    protocol: Option<Arc<str>>,
    service: Option<Arc<str>>,
    memory: u64,
}

impl StreamGuard {
    /// The stream's direction.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The remote peer.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// The protocol, once set.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The service, once set.
    pub fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }

    /// Bytes reserved through this guard.
    pub fn reserved_memory(&self) -> u64 {
        self.memory
    }

    fn usage(&self) -> Usage {
        let mut usage = Usage::stream(self.direction);
        usage.memory = self.memory;
        usage
    }

    /// Ties the stream to its negotiated `protocol`: it leaves the transient
    /// scope (or its earlier protocol) for the protocol's. On `Err` nothing
    /// changed; the caller should reset the stream.
    pub fn set_protocol(&mut self, protocol: &str) -> Result<(), LimitError> {
        let inner = Arc::clone(&self.inner);
        let mut state = inner.lock();
        let name = State::intern(&state.protocols, protocol);
        let usage = self.usage();
        let old = stream_keys(self.peer, self.protocol.as_ref(), self.service.as_ref());
        let new = stream_keys(self.peer, Some(&name), self.service.as_ref());
        if let Err(error) = inner.transfer(&mut state, old.as_slice(), new.as_slice(), &usage) {
            return Err(inner.refuse(state, error));
        }
        drop(state);
        self.protocol = Some(name);
        Ok(())
    }

    /// Counts the stream in `service`'s scope too (replacing an earlier
    /// service). On `Err` nothing changed.
    pub fn set_service(&mut self, service: &str) -> Result<(), LimitError> {
        let inner = Arc::clone(&self.inner);
        let mut state = inner.lock();
        let name = State::intern(&state.services, service);
        let usage = self.usage();
        let old = stream_keys(self.peer, self.protocol.as_ref(), self.service.as_ref());
        let new = stream_keys(self.peer, self.protocol.as_ref(), Some(&name));
        if let Err(error) = inner.transfer(&mut state, old.as_slice(), new.as_slice(), &usage) {
            return Err(inner.refuse(state, error));
        }
        drop(state);
        self.service = Some(name);
        Ok(())
    }

    /// Reserves `bytes` for this stream, held to the stream's own memory
    /// limit and every enclosing scope's at `priority`.
    pub fn reserve_memory(&mut self, bytes: u64, priority: MemoryPriority) -> Result<(), LimitError> {
        let inner = Arc::clone(&self.inner);
        let mut state = inner.lock();
        let leaf = check_leaf_memory(ScopeName::Stream, self.memory, bytes, inner.config.stream_memory, priority);
        let keys = stream_keys(self.peer, self.protocol.as_ref(), self.service.as_ref());
        let delta = Usage::memory(bytes);
        if let Err(error) = leaf.and_then(|()| inner.check(&state, keys.as_slice(), &delta, priority.0)) {
            return Err(inner.refuse(state, error));
        }
        state.add_all(keys.as_slice(), &delta);
        drop(state);
        self.memory += bytes;
        Ok(())
    }

    /// Gives back up to `bytes` reserved through this guard.
    pub fn release_memory(&mut self, bytes: u64) {
        let bytes = bytes.min(self.memory);
        let keys = stream_keys(self.peer, self.protocol.as_ref(), self.service.as_ref());
        self.inner.lock().sub_all(keys.as_slice(), &Usage::memory(bytes));
        self.memory -= bytes;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let keys = stream_keys(self.peer, self.protocol.as_ref(), self.service.as_ref());
        let usage = self.usage();
        self.inner.lock().sub_all(keys.as_slice(), &usage);
    }
}

impl std::fmt::Debug for StreamGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamGuard")
            .field("direction", &self.direction)
            .field("peer", &self.peer)
            .field("protocol", &self.protocol)
            .field("service", &self.service)
            .field("memory", &self.memory)
            .finish()
    }
}
