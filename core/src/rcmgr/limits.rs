//! Limits, usage, and the defaults scaled from the machine.

use std::collections::HashMap;

use super::ip::{AllowlistEntry, IpNetwork, NetworkError, NetworkLimit, SubnetLimit};
use crate::{Multiaddr, PeerId};

/// The value of a limit that never refuses. Every limit is a `u64`, and this
/// one is larger than any count or byte total the process can reach.
pub const UNLIMITED: u64 = u64::MAX;

/// Whether a connection or stream was opened by the remote or by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The remote opened it.
    Inbound,
    /// We opened it.
    Outbound,
}

/// The limits of one scope. Every field is a maximum; [`UNLIMITED`] for none,
/// `0` to refuse every reservation of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Inbound connections.
    pub conns_inbound: u64,
    /// Outbound connections.
    pub conns_outbound: u64,
    /// Connections in both directions together.
    pub conns: u64,
    /// Inbound streams.
    pub streams_inbound: u64,
    /// Outbound streams.
    pub streams_outbound: u64,
    /// Streams in both directions together.
    pub streams: u64,
    /// Bytes reserved by `reserve_memory`.
    pub memory: u64,
    /// File descriptors (connections opened with `uses_fd`).
    pub fds: u64,
}

impl Limits {
    /// Limits that never refuse anything.
    pub const UNLIMITED: Limits = Limits {
        conns_inbound: UNLIMITED,
        conns_outbound: UNLIMITED,
        conns: UNLIMITED,
        streams_inbound: UNLIMITED,
        streams_outbound: UNLIMITED,
        streams: UNLIMITED,
        memory: UNLIMITED,
        fds: UNLIMITED,
    };

    /// Limits that refuse everything.
    pub const BLOCK_ALL: Limits = Limits {
        conns_inbound: 0,
        conns_outbound: 0,
        conns: 0,
        streams_inbound: 0,
        streams_outbound: 0,
        streams: 0,
        memory: 0,
        fds: 0,
    };

    /// The limit on `resource`.
    pub fn get(&self, resource: Resource) -> u64 {
        match resource {
            Resource::ConnsInbound => self.conns_inbound,
            Resource::ConnsOutbound => self.conns_outbound,
            Resource::Conns => self.conns,
            Resource::StreamsInbound => self.streams_inbound,
            Resource::StreamsOutbound => self.streams_outbound,
            Resource::Streams => self.streams,
            Resource::Memory => self.memory,
            Resource::Fds => self.fds,
        }
    }
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Inbound connections.
    ConnsInbound,
    /// Outbound connections.
    ConnsOutbound,
    /// Connections in both directions.
    Conns,
    /// Inbound streams.
    StreamsInbound,
    /// Outbound streams.
    StreamsOutbound,
    /// Streams in both directions.
    Streams,
    /// Reserved bytes.
    Memory,
    /// File descriptors.
    Fds,
}

impl Resource {
    /// Every resource, in the order of [`Resource::index`].
    pub const ALL: [Resource; 8] = [
        Resource::ConnsInbound,
        Resource::ConnsOutbound,
        Resource::Conns,
        Resource::StreamsInbound,
        Resource::StreamsOutbound,
        Resource::Streams,
        Resource::Memory,
        Resource::Fds,
    ];

    /// A dense index, for per-resource counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name, for events in the bindings and logs.
    pub fn name(self) -> &'static str {
        match self {
            Resource::ConnsInbound => "conns_inbound",
            Resource::ConnsOutbound => "conns_outbound",
            Resource::Conns => "conns",
            Resource::StreamsInbound => "streams_inbound",
            Resource::StreamsOutbound => "streams_outbound",
            Resource::Streams => "streams",
            Resource::Memory => "memory",
            Resource::Fds => "fds",
        }
    }
}

/// What a scope holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Inbound connections.
    pub conns_inbound: u64,
    /// Outbound connections.
    pub conns_outbound: u64,
    /// Inbound streams.
    pub streams_inbound: u64,
    /// Outbound streams.
    pub streams_outbound: u64,
    /// Reserved bytes.
    pub memory: u64,
    /// File descriptors.
    pub fds: u64,
}

impl Usage {
    /// One connection in `direction`, holding a file descriptor if `uses_fd`.
    pub(crate) fn connection(direction: Direction, uses_fd: bool) -> Usage {
        let mut usage = Usage { fds: u64::from(uses_fd), ..Usage::default() };
        match direction {
            Direction::Inbound => usage.conns_inbound = 1,
            Direction::Outbound => usage.conns_outbound = 1,
        }
        usage
    }

    /// One stream in `direction`.
    pub(crate) fn stream(direction: Direction) -> Usage {
        let mut usage = Usage::default();
        match direction {
            Direction::Inbound => usage.streams_inbound = 1,
            Direction::Outbound => usage.streams_outbound = 1,
        }
        usage
    }

    /// Only `bytes` of memory.
    pub(crate) fn memory(bytes: u64) -> Usage {
        Usage { memory: bytes, ..Usage::default() }
    }

    /// Connections in both directions.
    pub fn conns(&self) -> u64 {
        self.conns_inbound + self.conns_outbound
    }

    /// Streams in both directions.
    pub fn streams(&self) -> u64 {
        self.streams_inbound + self.streams_outbound
    }

    /// Whether nothing is held (the scope can be forgotten).
    pub fn is_zero(&self) -> bool {
        *self == Usage::default()
    }

    /// The current count of `resource`.
    pub fn get(&self, resource: Resource) -> u64 {
        match resource {
            Resource::ConnsInbound => self.conns_inbound,
            Resource::ConnsOutbound => self.conns_outbound,
            Resource::Conns => self.conns(),
            Resource::StreamsInbound => self.streams_inbound,
            Resource::StreamsOutbound => self.streams_outbound,
            Resource::Streams => self.streams(),
            Resource::Memory => self.memory,
            Resource::Fds => self.fds,
        }
    }

    pub(crate) fn add(&mut self, delta: &Usage) {
        self.conns_inbound = self.conns_inbound.saturating_add(delta.conns_inbound);
        self.conns_outbound = self.conns_outbound.saturating_add(delta.conns_outbound);
        self.streams_inbound = self.streams_inbound.saturating_add(delta.streams_inbound);
        self.streams_outbound = self.streams_outbound.saturating_add(delta.streams_outbound);
        self.memory = self.memory.saturating_add(delta.memory);
        self.fds = self.fds.saturating_add(delta.fds);
    }

    /// Saturates at zero: a release never panics, and the leak tests catch any
    /// mismatch as a count that does not return to zero.
    pub(crate) fn sub(&mut self, delta: &Usage) {
        self.conns_inbound = self.conns_inbound.saturating_sub(delta.conns_inbound);
        self.conns_outbound = self.conns_outbound.saturating_sub(delta.conns_outbound);
        self.streams_inbound = self.streams_inbound.saturating_sub(delta.streams_inbound);
        self.streams_outbound = self.streams_outbound.saturating_sub(delta.streams_outbound);
        self.memory = self.memory.saturating_sub(delta.memory);
        self.fds = self.fds.saturating_sub(delta.fds);
    }

    /// The first resource whose limit `delta` would break, with the limit and
    /// the current count. Memory is held to `limit * (1 + priority) / 256`, as
    /// go-libp2p does: low-priority reservations stop earlier, leaving room
    /// for important ones.
    pub(crate) fn exceeded(&self, limits: &Limits, delta: &Usage, priority: u8) -> Option<(Resource, u64, u64)> {
        let counts = [
            (Resource::ConnsInbound, delta.conns_inbound),
            (Resource::ConnsOutbound, delta.conns_outbound),
            (Resource::Conns, delta.conns()),
            (Resource::Fds, delta.fds),
            (Resource::StreamsInbound, delta.streams_inbound),
            (Resource::StreamsOutbound, delta.streams_outbound),
            (Resource::Streams, delta.streams()),
        ];
        for (resource, wanted) in counts {
            let limit = limits.get(resource);
            let current = self.get(resource);
            if wanted > 0 && limit != UNLIMITED && current.saturating_add(wanted) > limit {
                return Some((resource, limit, current));
            }
        }
        if delta.memory > 0 && limits.memory != UNLIMITED {
            let threshold = memory_threshold(limits.memory, priority);
            if u128::from(self.memory) + u128::from(delta.memory) > threshold {
                return Some((Resource::Memory, limits.memory, self.memory));
            }
        }
        None
    }
}

/// The most memory a reservation of `priority` may bring a scope to.
fn memory_threshold(limit: u64, priority: u8) -> u128 {
    u128::from(limit) * (1 + u128::from(priority)) / 256
}

/// How urgent a memory reservation is: it succeeds only while the scope's use
/// after it stays within `limit * (1 + priority) / 256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemoryPriority(pub u8);

impl MemoryPriority {
    /// Up to about 40% of the limit: optional buffers.
    pub const LOW: MemoryPriority = MemoryPriority(101);
    /// Up to about 60% of the limit.
    pub const MEDIUM: MemoryPriority = MemoryPriority(152);
    /// Up to about 80% of the limit.
    pub const HIGH: MemoryPriority = MemoryPriority(203);
    /// Up to the whole limit: memory the connection cannot work without.
    pub const ALWAYS: MemoryPriority = MemoryPriority(255);
}

/// How much a scope's limits grow with the machine: counts and bytes per GiB
/// of the memory budget, and a share of the file-descriptor budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitIncrease {
    /// Added to `conns_inbound` per GiB.
    pub conns_inbound: u64,
    /// Added to `conns_outbound` per GiB.
    pub conns_outbound: u64,
    /// Added to `conns` per GiB.
    pub conns: u64,
    /// Added to `streams_inbound` per GiB.
    pub streams_inbound: u64,
    /// Added to `streams_outbound` per GiB.
    pub streams_outbound: u64,
    /// Added to `streams` per GiB.
    pub streams: u64,
    /// Bytes added to `memory` per GiB.
    pub memory: u64,
    /// The share of the descriptor budget this scope may use, in 1024ths
    /// (1024 = all of it, 256 = a quarter); 0 keeps the base value.
    pub fds_per_1024: u64,
}

/// A scope's limits on a small machine, and how they grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingLimits {
    /// The limits with no memory budget above 128 MiB.
    pub base: Limits,
    /// The growth per GiB and per descriptor.
    pub increase: LimitIncrease,
}

/// A memory budget at or below this gives the base limits: the increase
/// starts above it (go-libp2p's threshold).
const SCALING_FLOOR: u64 = 128 << 20;

/// The limits for a memory budget of `memory` bytes and a budget of `fds`
/// file descriptors: a pure function, so that the defaults are testable.
///
/// Counts and memory grow by `increase` per GiB of budget (rounded down to
/// whole MiB, then scaled linearly); descriptors are the scope's share of
/// `fds`, but never below the base.
pub fn scale(limits: &ScalingLimits, memory: u64, fds: u64) -> Limits {
    let mib = if memory > SCALING_FLOOR { memory >> 20 } else { 0 };
    let grow = |base: u64, per_gib: u64| -> u64 {
        let added = u128::from(per_gib) * u128::from(mib) / 1024;
        u64::try_from(u128::from(base) + added).unwrap_or(UNLIMITED)
    };
    let base = &limits.base;
    let inc = &limits.increase;
    let mut fds_limit = base.fds;
    if inc.fds_per_1024 > 0 && fds > 0 {
        let share = u128::from(fds) * u128::from(inc.fds_per_1024) / 1024;
        fds_limit = fds_limit.max(u64::try_from(share).unwrap_or(UNLIMITED));
    }
    Limits {
        conns_inbound: grow(base.conns_inbound, inc.conns_inbound),
        conns_outbound: grow(base.conns_outbound, inc.conns_outbound),
        conns: grow(base.conns, inc.conns),
        streams_inbound: grow(base.streams_inbound, inc.streams_inbound),
        streams_outbound: grow(base.streams_outbound, inc.streams_outbound),
        streams: grow(base.streams, inc.streams),
        memory: grow(base.memory, inc.memory),
        fds: fds_limit,
    }
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Limits on a count-only scope: no memory or descriptor limit of its own
/// beyond what the enclosing scopes hold.
const fn counts(conns: [u64; 3], streams: [u64; 3], memory: u64, fds: u64) -> Limits {
    Limits {
        conns_inbound: conns[0],
        conns_outbound: conns[1],
        conns: conns[2],
        streams_inbound: streams[0],
        streams_outbound: streams[1],
        streams: streams[2],
        memory,
        fds,
    }
}

const fn increase(conns: [u64; 3], streams: [u64; 3], memory: u64, fds_per_1024: u64) -> LimitIncrease {
    LimitIncrease {
        conns_inbound: conns[0],
        conns_outbound: conns[1],
        conns: conns[2],
        streams_inbound: streams[0],
        streams_outbound: streams[1],
        streams: streams[2],
        memory,
        fds_per_1024,
    }
}

/// The scaling rules behind [`ResourceManagerConfig::scaled`]. The numbers
/// are go-libp2p's `DefaultLimits`, so an lp2p node and a go node on the same
/// machine refuse at the same loads:
///
/// | scope     | base conns in/out/total | per GiB   | base streams in/out/total | per GiB        | memory base + per GiB | fds          |
/// |-----------|-------------------------|-----------|---------------------------|----------------|-----------------------|--------------|
/// | system    | 64 / 128 / 128          | +64/128/128 | 1024 / 2048 / 2048      | +1024/2048/2048 | 128 MiB + 1 GiB      | all, >= 256  |
/// | transient | 32 / 64 / 64            | +16/32/32 | 128 / 256 / 256           | +128/256/256   | 32 MiB + 128 MiB      | 1/4, >= 64   |
/// | peer      | 8 / 8 / 8               | +0        | 256 / 512 / 512           | +128/256/256   | 64 MiB + 128 MiB      | 1/64, >= 4   |
/// | protocol  | unlimited               |           | 512 / 2048 / 2048         | +256/512/512   | 64 MiB + 164 MiB      | unlimited    |
/// | service   | unlimited               |           | 1024 / 4096 / 4096        | +512/2048/2048 | 64 MiB + 128 MiB      | unlimited    |
///
/// Go leaves unset fields at 0 in its protocol and service scopes and never
/// consults them; here they are [`UNLIMITED`], which says the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingConfig {
    /// The whole node.
    pub system: ScalingLimits,
    /// Connections before the peer is known, streams before their protocol is.
    pub transient: ScalingLimits,
    /// Connections from allowlisted addresses (in place of system and transient).
    pub allowlisted: ScalingLimits,
    /// Each remote peer.
    pub peer: ScalingLimits,
    /// Each protocol.
    pub protocol: ScalingLimits,
    /// Each service.
    pub service: ScalingLimits,
}

impl Default for ScalingConfig {
    fn default() -> Self {
        let system = ScalingLimits {
            base: counts([64, 128, 128], [1024, 2048, 2048], 128 * MIB, 256),
            increase: increase([64, 128, 128], [1024, 2048, 2048], GIB, 1024),
        };
        let transient = ScalingLimits {
            base: counts([32, 64, 64], [128, 256, 256], 32 * MIB, 64),
            increase: increase([16, 32, 32], [128, 256, 256], 128 * MIB, 256),
        };
        let peer = ScalingLimits {
            base: counts([8, 8, 8], [256, 512, 512], 64 * MIB, 4),
            increase: increase([0, 0, 0], [128, 256, 256], 128 * MIB, 16),
        };
        let protocol = ScalingLimits {
            base: counts([UNLIMITED; 3], [512, 2048, 2048], 64 * MIB, UNLIMITED),
            increase: increase([0, 0, 0], [256, 512, 512], 164 * MIB, 0),
        };
        let service = ScalingLimits {
            base: counts([UNLIMITED; 3], [1024, 4096, 4096], 64 * MIB, UNLIMITED),
            increase: increase([0, 0, 0], [512, 2048, 2048], 128 * MIB, 0),
        };
        // Allowlisted connections get a budget as large as the normal one but
        // apart from it, so a flood from elsewhere cannot crowd them out.
        ScalingConfig { system, transient, allowlisted: system, peer, protocol, service }
    }
}

/// How a [`ResourceManager`](super::ResourceManager) limits. Build it with
/// [`ResourceManagerConfig::default`] (scaled from this machine),
/// [`ResourceManagerConfig::scaled`] (from given budgets) or
/// [`ResourceManagerConfig::unlimited`], then change any public field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceManagerConfig {
    /// The whole node.
    pub system: Limits,
    /// Connections not yet tied to a peer and streams not yet tied to a
    /// protocol: the half-open work a remote can cause before it has proved
    /// anything, kept to a fraction of the system.
    pub transient: Limits,
    /// Connections from an allowlisted address, counted here in place of the
    /// system and transient scopes and free of the per-IP limits.
    pub allowlisted: Limits,
    /// Each remote peer, unless `peer_overrides` names it.
    pub peer_default: Limits,
    /// Limits for given peers.
    pub peer_overrides: HashMap<PeerId, Limits>,
    /// Each protocol, unless `protocol_overrides` names it.
    pub protocol_default: Limits,
    /// Limits for given protocols.
    pub protocol_overrides: HashMap<String, Limits>,
    /// Each service, unless `service_overrides` names it.
    pub service_default: Limits,
    /// Limits for given services.
    pub service_overrides: HashMap<String, Limits>,
    /// Bytes one connection may reserve (default 32 MiB, go's).
    pub connection_memory: u64,
    /// Bytes one stream may reserve (default 16 MiB, go's).
    pub stream_memory: u64,
    /// Connections per IPv4 subnet: default 8 per /32 (one address), the
    /// number of dials go-libp2p may race to one peer.
    pub ipv4_subnet_limits: Vec<SubnetLimit>,
    /// Connections per IPv6 subnet: default 8 per /56 and 64 per /48, since
    /// one host commonly holds a whole /64 (go-libp2p's defaults).
    pub ipv6_subnet_limits: Vec<SubnetLimit>,
    /// Networks with a limit of their own in place of the subnet limits; the
    /// most specific match wins. Default: loopback (127.0.0.0/8, ::1/128)
    /// unlimited, as in go-libp2p, so local tests and sidecars are not capped.
    pub network_limits: Vec<NetworkLimit>,
    /// Addresses (and optionally peers) whose connections skip the system,
    /// transient and per-IP limits. Empty by default.
    pub allowlist: Vec<AllowlistEntry>,
}

impl ResourceManagerConfig {
    /// Limits for a memory budget of `memory` bytes and `fds` descriptors
    /// (already the share the node may use, not the machine's totals).
    pub fn scaled(memory: u64, fds: u64) -> ResourceManagerConfig {
        let rules = ScalingConfig::default();
        ResourceManagerConfig {
            system: scale(&rules.system, memory, fds),
            transient: scale(&rules.transient, memory, fds),
            allowlisted: scale(&rules.allowlisted, memory, fds),
            peer_default: scale(&rules.peer, memory, fds),
            peer_overrides: HashMap::new(),
            protocol_default: scale(&rules.protocol, memory, fds),
            protocol_overrides: HashMap::new(),
            service_default: scale(&rules.service, memory, fds),
            service_overrides: HashMap::new(),
            connection_memory: 32 * MIB,
            stream_memory: 16 * MIB,
            ipv4_subnet_limits: vec![SubnetLimit { prefix_len: 32, max_conns: 8 }],
            ipv6_subnet_limits: vec![
                SubnetLimit { prefix_len: 56, max_conns: 8 },
                SubnetLimit { prefix_len: 48, max_conns: 64 },
            ],
            network_limits: vec![
                NetworkLimit { network: IpNetwork::LOOPBACK_V4, max_conns: UNLIMITED },
                NetworkLimit { network: IpNetwork::LOOPBACK_V6, max_conns: UNLIMITED },
            ],
            allowlist: Vec::new(),
        }
    }

    /// Limits scaled from this machine as go-libp2p's `AutoScale` does: an
    /// eighth of the physical memory and half of the process's descriptor
    /// limit (`RLIMIT_NOFILE`), leaving the rest to the application.
    pub fn auto_scaled() -> ResourceManagerConfig {
        let machine = MachineResources::read();
        ResourceManagerConfig::scaled(machine.memory / 8, machine.fds / 2)
    }

    /// Limits that never refuse (per-IP limits included).
    pub fn unlimited() -> ResourceManagerConfig {
        ResourceManagerConfig {
            system: Limits::UNLIMITED,
            transient: Limits::UNLIMITED,
            allowlisted: Limits::UNLIMITED,
            peer_default: Limits::UNLIMITED,
            peer_overrides: HashMap::new(),
            protocol_default: Limits::UNLIMITED,
            protocol_overrides: HashMap::new(),
            service_default: Limits::UNLIMITED,
            service_overrides: HashMap::new(),
            connection_memory: UNLIMITED,
            stream_memory: UNLIMITED,
            ipv4_subnet_limits: Vec::new(),
            ipv6_subnet_limits: Vec::new(),
            network_limits: Vec::new(),
            allowlist: Vec::new(),
        }
    }

    /// Adds an allowlist entry in go-libp2p's multiaddr form (`/ip4/1.2.3.0/ipcidr/24`,
    /// optionally ending in `/p2p/<peer>`), as a CLI flag or binding would give it.
    pub fn allow(&mut self, addr: &Multiaddr) -> Result<(), NetworkError> {
        self.allowlist.push(AllowlistEntry::from_multiaddr(addr)?);
        Ok(())
    }

    /// Sets the total connection limit of the system scope, and the inbound
    /// and outbound limits to at most it: the one knob most applications want.
    pub fn set_max_connections(&mut self, max: u64) {
        self.system.conns = max;
        self.system.conns_inbound = self.system.conns_inbound.min(max);
        self.system.conns_outbound = self.system.conns_outbound.min(max);
    }

    /// Sets the connection limit of every peer (`peer_default`), and its
    /// inbound and outbound limits to at most it.
    pub fn set_max_connections_per_peer(&mut self, max: u64) {
        let peer = &mut self.peer_default;
        peer.conns = max;
        peer.conns_inbound = peer.conns_inbound.min(max);
        peer.conns_outbound = peer.conns_outbound.min(max);
    }

    /// Sets the connections allowed from one IPv4 address and from one
    /// IPv6 /56 to `max` (the /48 limit is raised to at least `max`).
    /// Loopback keeps its own limit (`network_limits`).
    pub fn set_max_connections_per_ip(&mut self, max: u64) {
        self.ipv4_subnet_limits = vec![SubnetLimit { prefix_len: 32, max_conns: max }];
        let wider = self.ipv6_subnet_limits.iter().find(|l| l.prefix_len == 48).map_or(64, |l| l.max_conns);
        self.ipv6_subnet_limits = vec![
            SubnetLimit { prefix_len: 56, max_conns: max },
            SubnetLimit { prefix_len: 48, max_conns: wider.max(max) },
        ];
    }

    /// Sets the total stream limit of the system scope, and its inbound and
    /// outbound limits to at most it.
    pub fn set_max_streams(&mut self, max: u64) {
        self.system.streams = max;
        self.system.streams_inbound = self.system.streams_inbound.min(max);
        self.system.streams_outbound = self.system.streams_outbound.min(max);
    }

    /// Sets the stream limit of every peer (`peer_default`), and its inbound
    /// and outbound limits to at most it.
    pub fn set_max_streams_per_peer(&mut self, max: u64) {
        let peer = &mut self.peer_default;
        peer.streams = max;
        peer.streams_inbound = peer.streams_inbound.min(max);
        peer.streams_outbound = peer.streams_outbound.min(max);
    }
}

impl Default for ResourceManagerConfig {
    /// [`ResourceManagerConfig::auto_scaled`].
    fn default() -> Self {
        ResourceManagerConfig::auto_scaled()
    }
}

/// What the machine offers: physical memory and the descriptor limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineResources {
    /// Physical memory in bytes.
    pub memory: u64,
    /// The soft `RLIMIT_NOFILE` of this process.
    pub fds: u64,
}

impl MachineResources {
    /// Used where the system does not say: a small machine, so the limits err
    /// on the low side.
    pub const FALLBACK: MachineResources = MachineResources { memory: GIB, fds: 1024 };

    /// Reads the machine, each value falling back to [`Self::FALLBACK`].
    pub fn read() -> MachineResources {
        MachineResources {
            memory: physical_memory().unwrap_or(Self::FALLBACK.memory),
            fds: descriptor_limit().unwrap_or(Self::FALLBACK.fds),
        }
    }
}

#[cfg(unix)]
fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf takes an integer name and reads no memory of ours.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    // SAFETY: as above.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let pages = u64::try_from(pages).ok()?;
    let page_size = u64::try_from(page_size).ok()?;
    pages.checked_mul(page_size).filter(|bytes| *bytes > 0)
}

#[cfg(not(unix))]
fn physical_memory() -> Option<u64> {
    None
}

#[cfg(unix)]
fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one `rlimit` into the struct we own.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if status != 0 {
        return None;
    }
    // RLIM_INFINITY is the largest value: the share stays a u64 and the
    // system scope is then effectively unlimited in descriptors. `rlim_t` is
    // u64 on Linux and macOS but narrower on some other systems.
    #[allow(clippy::unnecessary_cast)]
    Some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
fn descriptor_limit() -> Option<u64> {
    None
}
