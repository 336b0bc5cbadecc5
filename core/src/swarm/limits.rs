//! Counters the swarm takes slots from before it spends work on a remote:
//! handshakes in flight per IP address, inbound streams per (peer, protocol);
//! and the back-off of a listener whose accept fails.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::multiaddr::{Multiaddr, Protocol};

/// Counts live slots per key, each key with a limit given at acquisition.
/// A key is in the table only while one of its slots is held, so the table
/// is bounded by the number of holders (each bounded elsewhere: handshakes
/// by the global pending limit, streams by connections and yamux).
pub struct Slots<K: Hash + Eq + Clone> {
    held: Mutex<HashMap<K, usize>>,
}

impl<K: Hash + Eq + Clone> Slots<K> {
    /// An empty table.
    pub fn new() -> Arc<Slots<K>> {
        Arc::new(Slots { held: Mutex::new(HashMap::new()) })
    }

    /// Takes a slot of `key` if fewer than `limit` are held.
    pub fn try_acquire(self: &Arc<Self>, key: K, limit: usize) -> Option<Slot<K>> {
        let mut held = self.lock();
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                held.remove(&key);
            }
            return None;
        }
        *count += 1;
        Some(Slot { slots: Arc::clone(self), key })
    }

    /// Slots of `key` held now.
    #[cfg(test)]
    pub fn held(&self, key: &K) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }

    /// Keys with a slot held now.
    #[cfg(test)]
    pub fn keys(&self) -> usize {
        self.lock().len()
    }

    fn release(&self, key: &K) {
        let mut held = self.lock();
        if let Some(count) = held.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(key);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, usize>> {
        // Every critical section is one map operation: a poisoned map is consistent.
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A held slot; dropping it gives it back.
pub struct Slot<K: Hash + Eq + Clone> {
    slots: Arc<Slots<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        self.slots.release(&self.key);
    }
}

/// The address block one remote host is assumed to own: its IPv4 address,
/// or the /64 of its IPv6 address (the smallest prefix a site is given, and
/// what SLAAC hosts pick addresses from at will).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpBlock {
    /// One IPv4 address.
    V4(std::net::Ipv4Addr),
    /// The top 64 bits of an IPv6 address.
    V6(u64),
}

impl IpBlock {
    /// The block of an IP address (an IPv4-mapped IPv6 address is IPv4).
    pub fn of(ip: IpAddr) -> IpBlock {
        match ip {
            IpAddr::V4(v4) => IpBlock::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpBlock::V4(v4),
                None => IpBlock::V6(prefix64(v6)),
            },
        }
    }

    /// The block of the IP a multiaddr starts with; `None` for addresses
    /// without one (the memory transport).
    pub fn of_addr(addr: &Multiaddr) -> Option<IpBlock> {
        match addr.iter().next()? {
            Protocol::Ip4(ip) => Some(IpBlock::of(IpAddr::V4(ip))),
            Protocol::Ip6(ip) => Some(IpBlock::of(IpAddr::V6(ip))),
            _ => None,
        }
    }
}

fn prefix64(ip: Ipv6Addr) -> u64 {
    (u128::from(ip) >> 64) as u64
}

/// The delay before a failed accept is tried again: doubles from 5 ms to
/// 1 s while accept keeps failing, and starts over after a success. Out of
/// file descriptors, accept fails at once every time: without a delay the
/// loop would spin; without a retry the listener would be gone for good.
#[derive(Debug)]
pub struct AcceptBackoff {
    next: Duration,
}

impl AcceptBackoff {
    /// The first delay.
    pub const MIN: Duration = Duration::from_millis(5);
    /// The longest delay.
    pub const MAX: Duration = Duration::from_secs(1);

    /// A back-off at its first delay.
    pub fn new() -> AcceptBackoff {
        AcceptBackoff { next: Self::MIN }
    }

    /// The delay to wait after a failure; the next one is twice as long.
    pub fn failed(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }

    /// An accept succeeded: the next failure waits the first delay again.
    pub fn succeeded(&mut self) {
        self.next = Self::MIN;
    }
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_per_key_and_given_back() {
        let slots = Slots::new();
        let a: Vec<_> = (0..3).filter_map(|_| slots.try_acquire("a", 2)).collect();
        assert_eq!(a.len(), 2, "the third slot of a key over limit 2 is refused");
        let b = slots.try_acquire("b", 2);
        assert!(b.is_some(), "another key has its own slots");
        assert_eq!(slots.held(&"a"), 2);
        drop(a);
        assert_eq!(slots.held(&"a"), 0);
        assert_eq!(slots.keys(), 1, "a key with no slot held leaves the table");
        assert!(slots.try_acquire("c", 0).is_none());
        assert_eq!(slots.keys(), 1, "a refused key is not remembered");
        drop(b);
        assert_eq!(slots.keys(), 0);
    }

    #[test]
    fn ipv6_hosts_are_grouped_by_their_64() {
        let a = IpBlock::of("2001:db8:1:2::1".parse().expect("ip"));
        let b = IpBlock::of("2001:db8:1:2:ffff::9".parse().expect("ip"));
        let c = IpBlock::of("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mapped = IpBlock::of("::ffff:192.0.2.1".parse().expect("ip"));
        assert_eq!(mapped, IpBlock::of("192.0.2.1".parse().expect("ip")));
        let addr: Multiaddr = "/ip4/127.0.0.2/tcp/1".parse().expect("valid");
        assert_eq!(IpBlock::of_addr(&addr), Some(IpBlock::of("127.0.0.2".parse().expect("ip"))));
        assert_eq!(IpBlock::of_addr(&"/memory/7".parse().expect("valid")), None);
    }

    #[test]
    fn accept_backoff_doubles_to_one_second_and_resets() {
        let mut backoff = AcceptBackoff::new();
        let delays: Vec<Duration> = (0..10).map(|_| backoff.failed()).collect();
        assert_eq!(delays[0], Duration::from_millis(5));
        assert_eq!(delays[1], Duration::from_millis(10));
        assert!(delays.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(delays[9], AcceptBackoff::MAX);
        backoff.succeeded();
        assert_eq!(backoff.failed(), AcceptBackoff::MIN);
    }
}
