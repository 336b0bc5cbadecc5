use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::testutil::random_inputs;

const IN: Direction = Direction::Inbound;
const OUT: Direction = Direction::Outbound;

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().expect("ip"))
}

/// Unlimited everywhere, then `change` applied.
fn manager(change: impl FnOnce(&mut ResourceManagerConfig)) -> ResourceManager {
    let mut config = ResourceManagerConfig::unlimited();
    change(&mut config);
    ResourceManager::new(config)
}

fn limit_of(limits: &mut Limits, resource: Resource) -> &mut u64 {
    match resource {
        Resource::ConnsInbound => &mut limits.conns_inbound,
        Resource::ConnsOutbound => &mut limits.conns_outbound,
        Resource::Conns => &mut limits.conns,
        Resource::StreamsInbound => &mut limits.streams_inbound,
        Resource::StreamsOutbound => &mut limits.streams_outbound,
        Resource::Streams => &mut limits.streams,
        Resource::Memory => &mut limits.memory,
        Resource::Fds => &mut limits.fds,
    }
}

/// Which directions fill `resource` (both for the totals), and which
/// direction it leaves free.
fn directions(resource: Resource) -> (Vec<Direction>, Option<Direction>) {
    match resource {
        Resource::ConnsInbound | Resource::StreamsInbound => (vec![IN, IN], Some(OUT)),
        Resource::ConnsOutbound | Resource::StreamsOutbound => (vec![OUT, OUT], Some(IN)),
        _ => (vec![IN, OUT], None),
    }
}

#[test]
fn connection_limits_of_system_and_transient() {
    for resource in [Resource::ConnsInbound, Resource::ConnsOutbound, Resource::Conns, Resource::Fds] {
        for scope in [ScopeName::System, ScopeName::Transient] {
            let rcmgr = manager(|config| {
                let limits = if scope == ScopeName::System { &mut config.system } else { &mut config.transient };
                *limit_of(limits, resource) = 2;
            });
            let (fill, free) = directions(resource);
            let held: Vec<_> =
                fill.iter().map(|dir| rcmgr.open_connection(*dir, true, None).expect("within the limit")).collect();
            let refused = rcmgr.open_connection(fill[0], true, None).expect_err("over the limit");
            assert_eq!(refused, LimitError { scope: scope.clone(), resource, limit: 2, current: 2 });
            if let Some(free) = free {
                // The other direction has a limit of its own.
                drop(rcmgr.open_connection(free, true, None).expect("other direction"));
            }
            if resource == Resource::Fds {
                // A connection without a descriptor is not held to it.
                drop(rcmgr.open_connection(IN, false, None).expect("no fd"));
            }
            drop(held);
            drop(rcmgr.open_connection(fill[0], true, None).expect("room after release"));
            assert!(rcmgr.is_idle());
        }
    }
}

#[test]
fn connection_limits_of_the_peer_apply_at_set_peer() {
    for resource in [Resource::ConnsInbound, Resource::ConnsOutbound, Resource::Conns, Resource::Fds] {
        let peer = PeerId::random();
        let rcmgr = manager(|config| *limit_of(&mut config.peer_default, resource) = 2);
        let (fill, _) = directions(resource);
        let mut held = Vec::new();
        for dir in &fill {
            let mut guard = rcmgr.open_connection(*dir, true, None).expect("open");
            guard.set_peer(peer).expect("within the peer limit");
            held.push(guard);
        }
        let mut extra = rcmgr.open_connection(fill[0], true, None).expect("transient has room");
        let refused = extra.set_peer(peer).expect_err("over the peer limit");
        assert_eq!(refused, LimitError { scope: ScopeName::Peer(peer), resource, limit: 2, current: 2 });
        // Refused, the connection stays in the transient scope; another peer is fine.
        assert_eq!(extra.peer(), None);
        assert_eq!(rcmgr.stats().transient.conns(), 1);
        extra.set_peer(PeerId::random()).expect("another peer");
        assert_eq!(rcmgr.stats().transient.conns(), 0);
        drop((held, extra));
        assert!(rcmgr.is_idle());
    }
}

#[test]
fn peer_overrides_replace_the_default() {
    let special = PeerId::random();
    let rcmgr = manager(|config| {
        config.peer_default.conns = 1;
        config.peer_overrides.insert(special, Limits { conns: 3, ..Limits::UNLIMITED });
    });
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut guard = rcmgr.open_connection(IN, false, None).expect("open");
        guard.set_peer(special).expect("override allows 3");
        held.push(guard);
    }
    let mut guard = rcmgr.open_connection(IN, false, None).expect("open");
    assert_eq!(guard.set_peer(special).expect_err("fourth").limit, 3);
}

#[test]
fn stream_limits_of_system_transient_and_peer() {
    for resource in [Resource::StreamsInbound, Resource::StreamsOutbound, Resource::Streams] {
        for kind in [ScopeKind::System, ScopeKind::Transient, ScopeKind::Peer] {
            let peer = PeerId::random();
            let rcmgr = manager(|config| {
                let limits = match kind {
                    ScopeKind::System => &mut config.system,
                    ScopeKind::Transient => &mut config.transient,
                    _ => &mut config.peer_default,
                };
                *limit_of(limits, resource) = 2;
            });
            let scope = match kind {
                ScopeKind::System => ScopeName::System,
                ScopeKind::Transient => ScopeName::Transient,
                _ => ScopeName::Peer(peer),
            };
            let (fill, free) = directions(resource);
            let held: Vec<_> = fill.iter().map(|dir| rcmgr.open_stream(peer, *dir).expect("within")).collect();
            let refused = rcmgr.open_stream(peer, fill[0]).expect_err("over the limit");
            assert_eq!(refused, LimitError { scope, resource, limit: 2, current: 2 });
            if let Some(free) = free {
                drop(rcmgr.open_stream(peer, free).expect("other direction"));
            }
            if kind == ScopeKind::Peer {
                drop(rcmgr.open_stream(PeerId::random(), fill[0]).expect("another peer"));
            }
            drop(held);
            assert!(rcmgr.is_idle());
        }
    }
}

#[test]
fn stream_limits_of_protocol_and_service_apply_when_set() {
    for resource in [Resource::StreamsInbound, Resource::StreamsOutbound, Resource::Streams] {
        for kind in [ScopeKind::Protocol, ScopeKind::Service] {
            let peer = PeerId::random();
            let rcmgr = manager(|config| {
                let limits = if kind == ScopeKind::Protocol {
                    &mut config.protocol_default
                } else {
                    &mut config.service_default
                };
                *limit_of(limits, resource) = 2;
            });
            let attach = |guard: &mut StreamGuard, name: &str| match kind {
                ScopeKind::Protocol => guard.set_protocol(name),
                _ => guard.set_service(name),
            };
            let (fill, free) = directions(resource);
            let mut held = Vec::new();
            for dir in &fill {
                let mut guard = rcmgr.open_stream(peer, *dir).expect("open");
                attach(&mut guard, "/echo/1.0.0").expect("within");
                held.push(guard);
            }
            let mut extra = rcmgr.open_stream(peer, fill[0]).expect("open");
            let refused = attach(&mut extra, "/echo/1.0.0").expect_err("over the limit");
            assert_eq!(refused.resource, resource);
            assert_eq!(refused.scope.kind(), kind);
            assert_eq!((refused.limit, refused.current), (2, 2));
            attach(&mut extra, "/other/1.0.0").expect("another name has its own scope");
            if let Some(free) = free {
                let mut guard = rcmgr.open_stream(peer, free).expect("open");
                attach(&mut guard, "/echo/1.0.0").expect("other direction");
            }
            drop((held, extra));
            assert!(rcmgr.is_idle());
        }
    }
}

#[test]
fn set_protocol_moves_the_stream_out_of_transient() {
    let peer = PeerId::random();
    let rcmgr = manager(|config| config.transient.streams = 1);
    let mut first = rcmgr.open_stream(peer, IN).expect("open");
    assert_eq!(rcmgr.open_stream(peer, IN).expect_err("transient full").scope, ScopeName::Transient);
    first.set_protocol("/ping/1.0.0").expect("protocol");
    assert_eq!(first.protocol(), Some("/ping/1.0.0"));
    let stats = rcmgr.stats();
    assert_eq!(stats.transient.streams(), 0);
    assert_eq!(stats.protocols["/ping/1.0.0"].streams_inbound, 1);
    assert_eq!(stats.peers[&peer].streams_inbound, 1);
    assert_eq!(stats.system.streams_inbound, 1);
    let mut second = rcmgr.open_stream(peer, IN).expect("transient has room again");
    second.set_protocol("/ping/1.0.0").expect("protocol");
    second.set_service("ping").expect("service");
    assert_eq!(rcmgr.stats().services["ping"].streams_inbound, 1);
    drop((first, second));
    assert!(rcmgr.is_idle());
}

#[test]
fn connection_moves_from_transient_to_peer() {
    let peer = PeerId::random();
    let rcmgr = manager(|_| {});
    let mut guard = rcmgr.open_connection(OUT, true, ip("8.8.8.8")).expect("open");
    assert_eq!(rcmgr.stats().transient, Usage { conns_outbound: 1, fds: 1, ..Usage::default() });
    guard.set_peer(peer).expect("peer");
    let stats = rcmgr.stats();
    assert!(stats.transient.is_zero());
    assert_eq!(stats.peers[&peer], Usage { conns_outbound: 1, fds: 1, ..Usage::default() });
    assert_eq!(stats.system, Usage { conns_outbound: 1, fds: 1, ..Usage::default() });
    drop(guard);
    assert!(rcmgr.is_idle());
}

#[test]
fn memory_limits_of_every_scope() {
    let peer = PeerId::random();
    for kind in [ScopeKind::System, ScopeKind::Transient, ScopeKind::Peer, ScopeKind::Protocol, ScopeKind::Service] {
        let rcmgr = manager(|config| {
            let limits = match kind {
                ScopeKind::System => &mut config.system,
                ScopeKind::Transient => &mut config.transient,
                ScopeKind::Peer => &mut config.peer_default,
                ScopeKind::Protocol => &mut config.protocol_default,
                _ => &mut config.service_default,
            };
            limits.memory = 1000;
        });
        let mut stream = rcmgr.open_stream(peer, IN).expect("open");
        if kind == ScopeKind::Protocol || kind == ScopeKind::Service {
            stream.set_protocol("/p").expect("protocol");
        }
        if kind == ScopeKind::Service {
            stream.set_service("s").expect("service");
        }
        stream.reserve_memory(600, MemoryPriority::ALWAYS).expect("within");
        let refused = stream.reserve_memory(401, MemoryPriority::ALWAYS).expect_err("over");
        assert_eq!((refused.scope.kind(), refused.resource), (kind, Resource::Memory));
        assert_eq!((refused.limit, refused.current), (1000, 600));
        stream.reserve_memory(400, MemoryPriority::ALWAYS).expect("exactly the limit");
        stream.release_memory(500);
        assert_eq!(stream.reserved_memory(), 500);
        stream.reserve_memory(500, MemoryPriority::ALWAYS).expect("room after release");
        drop(stream);
        assert!(rcmgr.is_idle(), "{kind:?}");
    }
}

#[test]
fn memory_of_a_connection_counts_in_transient_then_peer() {
    let peer = PeerId::random();
    let rcmgr = manager(|config| {
        config.transient.memory = 100;
        config.connection_memory = 1000;
    });
    let mut guard = rcmgr.open_connection(IN, true, None).expect("open");
    guard.reserve_memory(100, MemoryPriority::ALWAYS).expect("transient allows 100");
    assert_eq!(guard.reserve_memory(1, MemoryPriority::ALWAYS).expect_err("transient").scope, ScopeName::Transient);
    guard.set_peer(peer).expect("peer");
    assert_eq!(rcmgr.stats().peers[&peer].memory, 100);
    guard.reserve_memory(900, MemoryPriority::ALWAYS).expect("the peer has room");
    let refused = guard.reserve_memory(1, MemoryPriority::ALWAYS).expect_err("the connection's own limit");
    assert_eq!(
        refused,
        LimitError { scope: ScopeName::Connection, resource: Resource::Memory, limit: 1000, current: 1000 }
    );
    drop(guard);
    assert!(rcmgr.is_idle());
}

#[test]
fn stream_has_its_own_memory_limit() {
    let rcmgr = manager(|config| config.stream_memory = 10);
    let mut stream = rcmgr.open_stream(PeerId::random(), OUT).expect("open");
    stream.reserve_memory(10, MemoryPriority::ALWAYS).expect("within");
    let refused = stream.reserve_memory(1, MemoryPriority::ALWAYS).expect_err("over");
    assert_eq!(refused, LimitError { scope: ScopeName::Stream, resource: Resource::Memory, limit: 10, current: 10 });
}

#[test]
fn memory_priority_scales_the_limit() {
    let rcmgr = manager(|config| config.system.memory = 256 * 100);
    let mut stream = rcmgr.open_stream(PeerId::random(), IN).expect("open");
    // LOW = 101: usage after may reach 25600 * 102 / 256 = 10200.
    stream.reserve_memory(10_200, MemoryPriority::LOW).expect("at the low threshold");
    let refused = stream.reserve_memory(1, MemoryPriority::LOW).expect_err("over the low threshold");
    assert_eq!((refused.limit, refused.current), (25_600, 10_200));
    // MEDIUM = 152: 15300; HIGH = 203: 20400; ALWAYS: the whole limit.
    stream.reserve_memory(5_100, MemoryPriority::MEDIUM).expect("at the medium threshold");
    stream.reserve_memory(1, MemoryPriority::MEDIUM).expect_err("over the medium threshold");
    stream.reserve_memory(5_100, MemoryPriority::HIGH).expect("at the high threshold");
    stream.reserve_memory(1, MemoryPriority::HIGH).expect_err("over the high threshold");
    stream.reserve_memory(5_200, MemoryPriority::ALWAYS).expect("the whole limit");
    stream.reserve_memory(1, MemoryPriority::ALWAYS).expect_err("over the limit");
    assert_eq!(stream.reserved_memory(), 25_600);
}

#[test]
fn per_ip_limit_for_ipv4_is_8_per_address() {
    let rcmgr = ResourceManager::new(ResourceManagerConfig::scaled(4 << 30, 10_000));
    let held: Vec<_> = (0..8).map(|_| rcmgr.open_connection(IN, true, ip("203.0.113.7")).expect("within")).collect();
    let refused = rcmgr.open_connection(IN, true, ip("203.0.113.7")).expect_err("ninth");
    let network: IpNetwork = "203.0.113.7/32".parse().expect("net");
    assert_eq!(
        refused,
        LimitError { scope: ScopeName::Subnet(network), resource: Resource::Conns, limit: 8, current: 8 }
    );
    // Outbound counts too, and the neighbour address is separate.
    assert!(rcmgr.open_connection(OUT, true, ip("203.0.113.7")).is_err());
    drop(rcmgr.open_connection(IN, true, ip("203.0.113.8")).expect("another address"));
    drop(held);
    drop(rcmgr.open_connection(IN, true, ip("203.0.113.7")).expect("room after release"));
    assert!(rcmgr.is_idle());
}

#[test]
fn per_ip_limits_for_ipv6_are_8_per_56_and_64_per_48() {
    let rcmgr = ResourceManager::new(ResourceManagerConfig::scaled(64 << 30, 100_000));
    let addr =
        |subnet56: u16, host: u16| Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x1, subnet56 << 8, host, 0, 0, 1)));
    let mut held = Vec::new();
    // Eight hosts in one /56: the /56 is full.
    for host in 0..8 {
        held.push(rcmgr.open_connection(IN, true, addr(0, host)).expect("within the /56"));
    }
    let refused = rcmgr.open_connection(IN, true, addr(0, 9)).expect_err("ninth in the /56");
    assert_eq!(refused.scope, ScopeName::Subnet("2001:db8:1::/56".parse().expect("net")));
    assert_eq!((refused.limit, refused.current), (8, 8));
    // Seven more /56s in the same /48 fill it at 64.
    for subnet in 1..8 {
        for host in 0..8 {
            held.push(rcmgr.open_connection(IN, true, addr(subnet, host)).expect("within the /48"));
        }
    }
    let refused = rcmgr.open_connection(IN, true, addr(8, 0)).expect_err("65th in the /48");
    assert_eq!(refused.scope, ScopeName::Subnet("2001:db8:1::/48".parse().expect("net")));
    assert_eq!((refused.limit, refused.current), (64, 64));
    drop(rcmgr.open_connection(IN, true, ip("2001:db8:2::1")).expect("another /48"));
    drop(held);
    assert!(rcmgr.is_idle());
}

#[test]
fn loopback_is_not_limited_per_ip() {
    let rcmgr = ResourceManager::new(ResourceManagerConfig::scaled(64 << 30, 100_000));
    let v4: Vec<_> = (0..50).map(|_| rcmgr.open_connection(IN, true, ip("127.0.0.1")).expect("loopback")).collect();
    let v6: Vec<_> = (0..50).map(|_| rcmgr.open_connection(IN, true, ip("::1")).expect("loopback")).collect();
    assert_eq!(rcmgr.stats().system.conns_inbound, 100);
    drop((v4, v6));
    assert!(rcmgr.is_idle());
}

#[test]
fn network_limits_replace_subnet_limits() {
    let rcmgr = manager(|config| {
        config.ipv4_subnet_limits = vec![SubnetLimit { prefix_len: 32, max_conns: 1 }];
        config.network_limits = vec![NetworkLimit { network: "10.0.0.0/8".parse().expect("net"), max_conns: 3 }];
    });
    let held: Vec<_> = (0..3).map(|_| rcmgr.open_connection(IN, false, ip("10.1.2.3")).expect("network")).collect();
    let refused = rcmgr.open_connection(IN, false, ip("10.9.9.9")).expect_err("network full");
    assert_eq!(refused.scope, ScopeName::Subnet("10.0.0.0/8".parse().expect("net")));
    drop(held);
    assert!(rcmgr.is_idle());
}

#[test]
fn allowlisted_networks_skip_system_transient_and_per_ip_limits() {
    let rcmgr = manager(|config| {
        config.system.conns = 1;
        config.transient.conns = 1;
        config.ipv4_subnet_limits = vec![SubnetLimit { prefix_len: 32, max_conns: 1 }];
        config.allowlisted.conns = 20;
        config.allowlist.push(AllowlistEntry { network: "192.0.2.0/24".parse().expect("net"), peer: None });
    });
    let normal = rcmgr.open_connection(IN, true, ip("198.51.100.1")).expect("first");
    assert_eq!(rcmgr.open_connection(IN, true, ip("198.51.100.2")).expect_err("system").scope, ScopeName::Transient);
    let mut allowed = Vec::new();
    for _ in 0..20 {
        let guard = rcmgr.open_connection(IN, true, ip("192.0.2.9")).expect("allowlisted");
        assert!(guard.is_allowlisted());
        allowed.push(guard);
    }
    // The allowlisted scope has limits of its own.
    let refused = rcmgr.open_connection(IN, true, ip("192.0.2.9")).expect_err("allowlisted scope full");
    assert_eq!(refused.scope, ScopeName::Allowlisted);
    let stats = rcmgr.stats();
    assert_eq!(stats.allowlisted.conns(), 20);
    assert_eq!(stats.system.conns(), 1);
    // The peer scope still applies.
    allowed[0].set_peer(PeerId::random()).expect("peer");
    assert!(allowed[0].is_allowlisted());
    drop((normal, allowed));
    assert!(rcmgr.is_idle());
}

#[test]
fn allowlist_entries_bound_to_a_peer_hold_only_for_that_peer() {
    let friend = PeerId::random();
    let rcmgr = manager(|config| {
        config.system.conns = 1;
        config.allowlist.push(AllowlistEntry { network: "192.0.2.0/24".parse().expect("net"), peer: Some(friend) });
    });
    let normal = rcmgr.open_connection(IN, true, ip("198.51.100.1")).expect("fills the system");
    let mut first = rcmgr.open_connection(IN, true, ip("192.0.2.1")).expect("maybe the friend");
    let mut second = rcmgr.open_connection(IN, true, ip("192.0.2.2")).expect("maybe the friend");
    first.set_peer(friend).expect("the friend");
    assert!(first.is_allowlisted());
    // A stranger from the network loses the allowlist and meets the full system.
    let stranger = PeerId::random();
    let refused = second.set_peer(stranger).expect_err("system full");
    assert_eq!(refused.scope, ScopeName::System);
    assert!(second.is_allowlisted(), "unchanged on refusal");
    assert_eq!(second.peer(), None);
    drop(normal);
    second.set_peer(stranger).expect("room now");
    assert!(!second.is_allowlisted());
    assert_eq!(rcmgr.stats().system.conns(), 1);
    drop((first, second));
    assert!(rcmgr.is_idle());
}

#[test]
fn unlimited_never_refuses() {
    let rcmgr = ResourceManager::new(ResourceManagerConfig::unlimited());
    let peer = PeerId::random();
    let conns: Vec<_> = (0..2000).map(|_| rcmgr.open_connection(IN, true, ip("198.51.100.1")).expect("conn")).collect();
    let mut streams: Vec<_> = (0..2000).map(|_| rcmgr.open_stream(peer, OUT).expect("stream")).collect();
    streams[0].reserve_memory(u64::MAX / 2, MemoryPriority::LOW).expect("memory");
    assert_eq!(rcmgr.stats().hits.total(), 0);
    drop((conns, streams));
    assert!(rcmgr.is_idle());
}

#[test]
fn hits_are_counted_kept_and_reported() {
    let rcmgr = manager(|config| config.system.conns_inbound = 0);
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    rcmgr.set_limit_hook(move |error| {
        assert_eq!(error.resource, Resource::ConnsInbound);
        counter.fetch_add(1, Ordering::SeqCst);
    });
    for _ in 0..(RECENT_HITS_CAPACITY + 5) {
        assert!(rcmgr.open_connection(IN, false, None).is_err());
    }
    let stats = rcmgr.stats();
    let hits = RECENT_HITS_CAPACITY as u64 + 5;
    assert_eq!(stats.hits.get(ScopeKind::System, Resource::ConnsInbound), hits);
    assert_eq!(stats.hits.total(), hits);
    assert_eq!(stats.recent_hits.len(), RECENT_HITS_CAPACITY, "the recent hits are bounded");
    assert_eq!(seen.load(Ordering::SeqCst), hits);
    rcmgr.clear_limit_hook();
    assert!(rcmgr.open_connection(IN, false, None).is_err());
    assert_eq!(seen.load(Ordering::SeqCst), hits);
}

#[test]
fn the_hook_may_call_back_into_the_manager() {
    let rcmgr = manager(|config| config.system.streams = 0);
    let inner = rcmgr.clone();
    let stats_seen = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&stats_seen);
    // The hook runs outside the lock, so this does not deadlock.
    rcmgr.set_limit_hook(move |_| {
        seen.store(inner.stats().hits.total(), Ordering::SeqCst);
    });
    assert!(rcmgr.open_stream(PeerId::random(), IN).is_err());
    assert_eq!(stats_seen.load(Ordering::SeqCst), 1);
}

#[test]
fn scaling_is_a_pure_function_of_memory_and_fds() {
    // At or below 128 MiB of budget: the base limits (fds still scale).
    let small = ResourceManagerConfig::scaled(128 << 20, 0);
    assert_eq!(small.system.conns_inbound, 64);
    assert_eq!(small.system.streams, 2048);
    assert_eq!(small.system.memory, 128 << 20);
    assert_eq!(small.system.fds, 256);
    assert_eq!(small.transient.conns, 64);
    assert_eq!(small.peer_default.conns, 8);
    assert_eq!(small.peer_default.fds, 4);
    // 1 GiB of budget (an 8 GiB machine) and 4096 fds (an 8192 rlimit).
    let one = ResourceManagerConfig::scaled(1 << 30, 4096);
    assert_eq!(one.system.conns_inbound, 64 + 64);
    assert_eq!(one.system.conns_outbound, 128 + 128);
    assert_eq!(one.system.streams_inbound, 1024 + 1024);
    assert_eq!(one.system.memory, (128 << 20) + (1 << 30));
    assert_eq!(one.system.fds, 4096);
    assert_eq!(one.transient.conns_inbound, 32 + 16);
    assert_eq!(one.transient.fds, 1024);
    assert_eq!(one.peer_default.conns, 8, "peer connections do not grow");
    assert_eq!(one.peer_default.streams_outbound, 512 + 256);
    assert_eq!(one.peer_default.fds, 64);
    assert_eq!(one.protocol_default.streams, 2048 + 512);
    assert_eq!(one.service_default.streams_inbound, 1024 + 512);
    // 4 GiB of budget (a 32 GiB machine), 512 fds (the common 1024 rlimit).
    let four = ResourceManagerConfig::scaled(4 << 30, 512);
    assert_eq!(four.system.conns, 128 + 4 * 128);
    assert_eq!(four.system.memory, (128 << 20) + (4 << 30));
    assert_eq!(four.system.fds, 512);
    assert_eq!(four.transient.fds, 128);
    assert_eq!(four.peer_default.fds, 8);
    // Half a GiB: linear in whole MiB.
    let half = ResourceManagerConfig::scaled(512 << 20, 100);
    assert_eq!(half.system.conns_inbound, 64 + 32);
    assert_eq!(half.system.fds, 256, "never below the base");
    // The same inputs, the same limits.
    assert_eq!(ResourceManagerConfig::scaled(3 << 30, 777), ResourceManagerConfig::scaled(3 << 30, 777));
}

#[test]
fn scale_saturates_instead_of_overflowing() {
    let rules = ScalingLimits {
        base: Limits::UNLIMITED,
        increase: LimitIncrease { conns: u64::MAX, fds_per_1024: 1024, ..LimitIncrease::default() },
    };
    let limits = scale(&rules, u64::MAX, u64::MAX);
    assert_eq!(limits.conns, UNLIMITED);
    assert_eq!(limits.fds, UNLIMITED);
}

#[test]
fn auto_scaled_reads_this_machine() {
    let machine = MachineResources::read();
    assert!(machine.memory > 0 && machine.fds > 0);
    let config = ResourceManagerConfig::auto_scaled();
    assert_eq!(config, ResourceManagerConfig::scaled(machine.memory / 8, machine.fds / 2));
    assert!(config.system.conns >= 128);
}

/// Opens, moves, reserves and drops at random and checks after each step
/// that the totals match what the live guards hold, and at the end that
/// nothing is left.
#[test]
fn random_sequences_never_leak() {
    let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
    let protocols = ["/a", "/b", "/c"];
    let ips = ["203.0.113.1", "203.0.113.2", "2001:db8::1", "192.0.2.1", "127.0.0.1"];
    for seed in 1..=20u64 {
        let mut config = ResourceManagerConfig::scaled(0, 0);
        config.system = Limits { conns: 12, streams: 20, memory: 5000, ..config.system };
        config.transient = Limits { conns: 6, streams: 8, memory: 2000, ..config.transient };
        config.peer_default = Limits { conns: 4, streams: 6, memory: 3000, ..config.peer_default };
        config.protocol_default = Limits { streams: 7, ..config.protocol_default };
        config.ipv4_subnet_limits = vec![SubnetLimit { prefix_len: 32, max_conns: 3 }];
        config.allowlist.push(AllowlistEntry { network: "192.0.2.0/24".parse().expect("net"), peer: Some(peers[0]) });
        let rcmgr = ResourceManager::new(config);
        let mut conns: Vec<ConnectionGuard> = Vec::new();
        let mut streams: Vec<StreamGuard> = Vec::new();
        let mut admitted = 0;
        for step in random_inputs(seed, 2000, 4).filter(|bytes| bytes.len() == 4) {
            let [op, a, b, c] = [step[0], step[1], step[2], step[3]];
            let dir = if a % 2 == 0 { IN } else { OUT };
            match op % 8 {
                0 | 1 => {
                    let remote = ips[usize::from(b) % ips.len()].parse().ok().filter(|_| c % 4 != 0);
                    if let Ok(guard) = rcmgr.open_connection(dir, c % 2 == 0, remote) {
                        conns.push(guard);
                        admitted += 1;
                    }
                }
                2 if !conns.is_empty() => {
                    let index = usize::from(b) % conns.len();
                    let _ = conns[index].set_peer(peers[usize::from(c) % peers.len()]);
                }
                3 => {
                    if let Ok(guard) = rcmgr.open_stream(peers[usize::from(b) % peers.len()], dir) {
                        streams.push(guard);
                        admitted += 1;
                    }
                }
                4 if !streams.is_empty() => {
                    let index = usize::from(b) % streams.len();
                    let _ = streams[index].set_protocol(protocols[usize::from(c) % protocols.len()]);
                    if c % 3 == 0 {
                        let _ = streams[index].set_service("svc");
                    }
                }
                5 => {
                    let bytes = u64::from(c) * 10;
                    let priority = MemoryPriority(a);
                    if !streams.is_empty() && b % 2 == 0 {
                        let index = usize::from(b) % streams.len();
                        let _ = streams[index].reserve_memory(bytes, priority);
                    } else if !conns.is_empty() {
                        let index = usize::from(b) % conns.len();
                        let _ = conns[index].reserve_memory(bytes, priority);
                    }
                }
                6 if !conns.is_empty() => {
                    let index = usize::from(b) % conns.len();
                    if c % 2 == 0 {
                        conns.swap_remove(index);
                    } else {
                        conns[index].release_memory(u64::from(a));
                    }
                }
                7 if !streams.is_empty() => {
                    let index = usize::from(b) % streams.len();
                    streams.swap_remove(index);
                }
                _ => {}
            }
            check_totals(&rcmgr, &conns, &streams);
        }
        assert!(admitted > 20, "the sequence for seed {seed} exercised too little: {admitted}");
        assert!(rcmgr.stats().hits.total() > 0, "seed {seed} never met a limit");
        drop((conns, streams));
        assert!(rcmgr.is_idle(), "seed {seed} leaked: {:?}", rcmgr.stats());
    }
}

/// The system and allowlisted scopes together hold exactly what the live
/// guards hold, and no count ever passes its limit.
fn check_totals(rcmgr: &ResourceManager, conns: &[ConnectionGuard], streams: &[StreamGuard]) {
    let stats = rcmgr.stats();
    let mut expected = Usage::default();
    for guard in conns {
        expected.add(&guard.usage());
    }
    for guard in streams {
        expected.add(&guard.usage());
    }
    let mut held = stats.system;
    held.add(&stats.allowlisted);
    assert_eq!(held, expected);
    let config = rcmgr.config();
    assert!(stats.system.conns() <= config.system.conns);
    assert!(stats.system.streams() <= config.system.streams);
    assert!(stats.system.memory <= config.system.memory);
    assert!(stats.transient.conns() <= config.transient.conns);
    assert!(stats.peers.values().all(|usage| usage.conns() <= config.peer_default.conns));
    let peer_total: u64 = stats.peers.values().map(Usage::streams).sum();
    assert_eq!(peer_total, streams.len() as u64, "every stream is in exactly one peer scope");
}

#[test]
fn concurrent_use_from_several_threads() {
    let rcmgr = manager(|config| {
        config.system.conns = 40;
        config.system.streams = 100;
        config.system.memory = 1 << 20;
    });
    let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
    let refusals = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for thread in 0..4u8 {
            let rcmgr = rcmgr.clone();
            let peer = peers[usize::from(thread)];
            let refusals = &refusals;
            scope.spawn(move || {
                for round in 0..500u32 {
                    let remote = Some(IpAddr::V4(Ipv4Addr::new(198, 51, thread, (round % 200) as u8)));
                    let mut held = Vec::new();
                    for _ in 0..15 {
                        match rcmgr.open_connection(IN, true, remote) {
                            Ok(mut guard) => {
                                let _ = guard.set_peer(peer);
                                held.push(guard);
                            }
                            Err(_) => {
                                refusals.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    let mut streams = Vec::new();
                    for _ in 0..30 {
                        match rcmgr.open_stream(peer, OUT) {
                            Ok(mut stream) => {
                                let _ = stream.set_protocol("/x");
                                let _ = stream.reserve_memory(1000, MemoryPriority::HIGH);
                                streams.push(stream);
                            }
                            Err(_) => {
                                refusals.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    let stats = rcmgr.stats();
                    assert!(stats.system.conns() <= 40 && stats.system.streams() <= 100);
                }
            });
        }
    });
    assert!(refusals.load(Ordering::Relaxed) > 0, "the threads never competed for a limit");
    assert!(rcmgr.is_idle(), "leaked: {:?}", rcmgr.stats());
}

#[test]
fn config_helpers_for_bindings() {
    let mut config = ResourceManagerConfig::scaled(0, 0);
    config.allow(&"/ip4/192.0.2.0/ipcidr/24".parse().expect("addr")).expect("allow");
    assert_eq!(config.allow(&"/dns4/example.com".parse().expect("addr")), Err(NetworkError::NoAddress));
    assert_eq!(config.allowlist.len(), 1);
    config.set_max_connections(10);
    assert_eq!((config.system.conns, config.system.conns_inbound, config.system.conns_outbound), (10, 10, 10));
    let rcmgr = ResourceManager::new(config);
    assert!(rcmgr.open_connection(IN, true, ip("192.0.2.1")).expect("allowlisted").is_allowlisted());
}
