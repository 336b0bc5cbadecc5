//! The bounded local stores: records (key -> value) and provider records
//! (key -> peers that provide it). Pure: the caller passes `now`.
//!
//! Entries put by remote peers and entries this node put itself (its own
//! `put_value` and `provide`) have separate budgets, so that no remote peer
//! can stop the node from storing its own. Remote entries are also limited
//! per peer and per IP group (an IPv4 address, an IPv6 /64: see
//! [`IpGroup`]), so that one peer, or many peer IDs behind one address,
//! cannot fill the store (a Sybil flood). Over a limit the put is refused
//! (the remote gets no success) and everything else keeps working.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::identity::PeerId;
use crate::multiaddr::Multiaddr;
use crate::peerstore::IpGroup;

/// Limits of the stores. The global caps are rust-libp2p's `MemoryStore`
/// defaults; the per-peer and per-IP quotas let one peer hold at most a
/// quarter of the remote budget and one IP group at most half.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Records from remote peers held at once (default 1,024).
    pub max_records: usize,
    /// Records this node put itself, a separate budget (default 1,024).
    pub max_local_records: usize,
    /// Records one remote peer may hold (default 256).
    pub max_records_per_peer: usize,
    /// Records the peers of one IP group may hold together (default 512).
    pub max_records_per_ip: usize,
    /// Bytes of one record value (default 65 KiB).
    pub max_value_bytes: usize,
    /// Keys with provider records from remote peers (default 1,024).
    pub max_provided_keys: usize,
    /// Keys this node provides itself, a separate budget (default 1,024).
    pub max_local_provided_keys: usize,
    /// Remote providers remembered per key (default 20); this node, when it
    /// provides the key, comes on top.
    pub max_providers_per_key: usize,
    /// Provider records (keys) one remote peer may hold (default 256).
    pub max_provider_records_per_peer: usize,
    /// Provider records the peers of one IP group may hold together (default 512).
    pub max_provider_records_per_ip: usize,
    /// How long a stored record lives.
    pub record_ttl: Duration,
    /// How long a provider record lives (48 h: the spec's expiry).
    pub provider_ttl: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_records: 1024,
            max_local_records: 1024,
            max_records_per_peer: 256,
            max_records_per_ip: 512,
            max_value_bytes: 65 * 1024,
            max_provided_keys: 1024,
            max_local_provided_keys: 1024,
            max_providers_per_key: 20,
            max_provider_records_per_peer: 256,
            max_provider_records_per_ip: 512,
            record_ttl: Duration::from_secs(48 * 60 * 60),
            provider_ttl: Duration::from_secs(48 * 60 * 60),
        }
    }
}

/// Why the store refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store holds its maximum number of records (or provided keys, or
    /// providers of this key) for this kind of origin.
    #[error("the store is full")]
    Full,
    /// The remote peer holds its quota of entries.
    #[error("peer {0} holds its quota of entries")]
    PeerQuota(PeerId),
    /// The peers of this IP group hold their quota of entries.
    #[error("the peers of {0:?} hold their quota of entries")]
    IpQuota(IpGroup),
    /// The value exceeds `max_value_bytes`.
    #[error("value of {len} bytes exceeds the limit of {max}")]
    ValueTooLarge {
        /// The value's size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Who put an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// This node (its own `put_value` or `provide`).
    Local,
    /// A remote peer, seen at an address of this IP group (`None`: an
    /// address without IP, such as the memory transport's).
    Remote {
        /// The peer that sent the request.
        peer: PeerId,
        /// The IP group of its connection's remote address.
        ip: Option<IpGroup>,
    },
}

/// A provider of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The providing peer.
    pub peer: PeerId,
    /// Its addresses as announced.
    pub addrs: Vec<Multiaddr>,
    expires: Instant,
    /// The IP group it was charged to (remote providers).
    ip: Option<IpGroup>,
}

struct StoredRecord {
    value: Vec<u8>,
    expires: Instant,
    origin: Origin,
}

/// Entries held per remote peer and per IP group. Bounded: a key exists only
/// while it counts at least one entry, so each map has at most as many keys
/// as there are remote entries (`max_records` or `max_provided_keys` x
/// `max_providers_per_key`).
#[derive(Default)]
struct Quota {
    per_peer: HashMap<PeerId, usize>,
    per_ip: HashMap<IpGroup, usize>,
}

impl Quota {
    fn check(&self, peer: &PeerId, ip: Option<&IpGroup>, max_peer: usize, max_ip: usize) -> Result<(), StoreError> {
        if self.per_peer.get(peer).copied().unwrap_or(0) >= max_peer {
            return Err(StoreError::PeerQuota(*peer));
        }
        if let Some(ip) = ip
            && self.per_ip.get(ip).copied().unwrap_or(0) >= max_ip
        {
            return Err(StoreError::IpQuota(*ip));
        }
        Ok(())
    }

    fn charge(&mut self, peer: PeerId, ip: Option<IpGroup>) {
        *self.per_peer.entry(peer).or_insert(0) += 1;
        if let Some(ip) = ip {
            *self.per_ip.entry(ip).or_insert(0) += 1;
        }
    }

    fn release(&mut self, peer: &PeerId, ip: Option<&IpGroup>) {
        fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
            if let Some(count) = map.get_mut(key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    map.remove(key);
                }
            }
        }
        decrement(&mut self.per_peer, peer);
        if let Some(ip) = ip {
            decrement(&mut self.per_ip, ip);
        }
    }
}

/// Records and provider records, bounded in count and size, with separate
/// budgets for this node's own entries and quotas per remote peer and IP.
pub struct Store {
    config: StoreConfig,
    records: HashMap<Vec<u8>, StoredRecord>,
    /// Records whose origin is [`Origin::Local`] (the rest are remote).
    local_records: usize,
    record_quota: Quota,
    /// Remote providers by key.
    providers: HashMap<Vec<u8>, Vec<Provider>>,
    /// This node as a provider, by key.
    local_providers: HashMap<Vec<u8>, Provider>,
    provider_quota: Quota,
}

impl Store {
    /// Empty stores with these limits.
    pub fn new(config: StoreConfig) -> Store {
        Store {
            config,
            records: HashMap::new(),
            local_records: 0,
            record_quota: Quota::default(),
            providers: HashMap::new(),
            local_providers: HashMap::new(),
            provider_quota: Quota::default(),
        }
    }

    /// The limits.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Stores (or replaces) a record put by `origin`. The caller has
    /// validated it. A record this node put stays its own when a remote peer
    /// replaces the value (the validator chose the newer one): it keeps
    /// counting against the local budget, not the remote's quota.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>, origin: Origin, now: Instant) -> Result<(), StoreError> {
        if value.len() > self.config.max_value_bytes {
            return Err(StoreError::ValueTooLarge { len: value.len(), max: self.config.max_value_bytes });
        }
        let previous = self.records.get(&key).map(|r| r.origin);
        let origin = if previous == Some(Origin::Local) { Origin::Local } else { origin };
        if previous != Some(origin) {
            if self.admit_record(previous, origin).is_err() {
                self.remove_expired(now);
            }
            let previous = self.records.get(&key).map(|r| r.origin);
            self.admit_record(previous, origin)?;
            self.release_record(previous);
            self.charge_record(origin);
        }
        self.records.insert(key, StoredRecord { value, expires: now + self.config.record_ttl, origin });
        Ok(())
    }

    /// Whether a record of `origin` may take the place of one of `previous`
    /// (`None`: a new key).
    fn admit_record(&self, previous: Option<Origin>, origin: Origin) -> Result<(), StoreError> {
        match origin {
            Origin::Local => {
                if self.local_records >= self.config.max_local_records {
                    return Err(StoreError::Full);
                }
            }
            Origin::Remote { peer, ip } => {
                let remote = self.records.len() - self.local_records;
                let replaces_remote = matches!(previous, Some(Origin::Remote { .. }));
                if !replaces_remote && remote >= self.config.max_records {
                    return Err(StoreError::Full);
                }
                let c = &self.config;
                self.record_quota.check(&peer, ip.as_ref(), c.max_records_per_peer, c.max_records_per_ip)?;
            }
        }
        Ok(())
    }

    fn charge_record(&mut self, origin: Origin) {
        match origin {
            Origin::Local => self.local_records += 1,
            Origin::Remote { peer, ip } => self.record_quota.charge(peer, ip),
        }
    }

    fn release_record(&mut self, origin: Option<Origin>) {
        match origin {
            None => {}
            Some(Origin::Local) => self.local_records -= 1,
            Some(Origin::Remote { peer, ip }) => self.record_quota.release(&peer, ip.as_ref()),
        }
    }

    /// The live record under `key`.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Vec<u8>> {
        self.records.get(key).filter(|r| r.expires > now).map(|r| r.value.clone())
    }

    /// Removes the record under `key`.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        match self.records.remove(key) {
            Some(r) => {
                self.release_record(Some(r.origin));
                true
            }
            None => false,
        }
    }

    /// Records held (live or not yet swept).
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Records held for `peer` (put by it and not replaced since).
    pub fn records_of(&self, peer: &PeerId) -> usize {
        self.record_quota.per_peer.get(peer).copied().unwrap_or(0)
    }

    /// Adds (or refreshes) `peer` as a provider of `key`, announced by
    /// `origin` (the caller checked that a remote announces only itself).
    pub fn add_provider(
        &mut self,
        key: Vec<u8>,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        origin: Origin,
        now: Instant,
    ) -> Result<(), StoreError> {
        let expires = now + self.config.provider_ttl;
        let ip = match origin {
            Origin::Local => {
                if !self.local_providers.contains_key(&key)
                    && self.local_providers.len() >= self.config.max_local_provided_keys
                {
                    self.remove_expired(now);
                    if self.local_providers.len() >= self.config.max_local_provided_keys {
                        return Err(StoreError::Full);
                    }
                }
                self.local_providers.insert(key, Provider { peer, addrs, expires, ip: None });
                return Ok(());
            }
            Origin::Remote { ip, .. } => ip,
        };
        self.sweep_providers_of(&key, now);
        if let Some(existing) = self.providers.get_mut(&key).and_then(|l| l.iter_mut().find(|p| p.peer == peer)) {
            existing.expires = expires;
            if !addrs.is_empty() {
                existing.addrs = addrs;
            }
            return Ok(());
        }
        if self.admit_provider(&key, &peer, ip.as_ref()).is_err() {
            self.remove_expired(now);
        }
        self.admit_provider(&key, &peer, ip.as_ref())?;
        self.provider_quota.charge(peer, ip);
        self.providers.entry(key).or_default().push(Provider { peer, addrs, expires, ip });
        Ok(())
    }

    fn admit_provider(&self, key: &[u8], peer: &PeerId, ip: Option<&IpGroup>) -> Result<(), StoreError> {
        let c = &self.config;
        match self.providers.get(key) {
            // Keep the providers that announced first; a full list refuses newcomers.
            Some(list) if list.len() >= c.max_providers_per_key => return Err(StoreError::Full),
            Some(_) => {}
            None if self.providers.len() >= c.max_provided_keys => return Err(StoreError::Full),
            None => {}
        }
        self.provider_quota.check(peer, ip, c.max_provider_records_per_peer, c.max_provider_records_per_ip)
    }

    /// Drops the expired remote providers of `key`.
    fn sweep_providers_of(&mut self, key: &[u8], now: Instant) {
        let Some(list) = self.providers.get_mut(key) else { return };
        let quota = &mut self.provider_quota;
        list.retain(|p| {
            let live = p.expires > now;
            if !live {
                quota.release(&p.peer, p.ip.as_ref());
            }
            live
        });
        if list.is_empty() {
            self.providers.remove(key);
        }
    }

    /// The live providers of `key`: this node first if it provides it.
    pub fn providers(&self, key: &[u8], now: Instant) -> Vec<Provider> {
        let local = self.local_providers.get(key).filter(|p| p.expires > now).cloned();
        let remote = self.providers.get(key).into_iter().flatten().filter(|p| p.expires > now).cloned();
        local.into_iter().chain(remote).collect()
    }

    /// Provider records held for `peer`.
    pub fn provider_records_of(&self, peer: &PeerId) -> usize {
        self.provider_quota.per_peer.get(peer).copied().unwrap_or(0)
    }

    /// Drops expired records and provider records.
    pub fn remove_expired(&mut self, now: Instant) {
        let expired: Vec<Vec<u8>> =
            self.records.iter().filter(|(_, r)| r.expires <= now).map(|(k, _)| k.clone()).collect();
        for key in expired {
            self.remove(&key);
        }
        let keys: Vec<Vec<u8>> = self.providers.keys().cloned().collect();
        for key in keys {
            self.sweep_providers_of(&key, now);
        }
        self.local_providers.retain(|_, p| p.expires > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> StoreConfig {
        StoreConfig {
            max_records: 2,
            max_value_bytes: 4,
            max_provided_keys: 2,
            max_providers_per_key: 2,
            ..Default::default()
        }
    }

    /// A remote peer on an address without IP.
    fn from(peer: PeerId) -> Origin {
        Origin::Remote { peer, ip: None }
    }

    fn anyone() -> Origin {
        from(PeerId::random())
    }

    #[test]
    fn records_are_bounded_in_count_and_size() {
        let now = Instant::now();
        let mut store = Store::new(small());
        assert_eq!(
            store.put(b"a".to_vec(), b"12345".to_vec(), anyone(), now),
            Err(StoreError::ValueTooLarge { len: 5, max: 4 })
        );
        store.put(b"a".to_vec(), b"1".to_vec(), anyone(), now).expect("room");
        store.put(b"b".to_vec(), b"2".to_vec(), anyone(), now).expect("room");
        assert_eq!(store.put(b"c".to_vec(), b"3".to_vec(), anyone(), now), Err(StoreError::Full));
        // Replacing an existing key is always possible.
        store.put(b"a".to_vec(), b"9".to_vec(), anyone(), now).expect("replace");
        assert_eq!(store.get(b"a", now), Some(b"9".to_vec()));
        assert_eq!(store.record_count(), 2);
    }

    #[test]
    fn records_and_providers_expire() {
        let now = Instant::now();
        let config = StoreConfig::default();
        let mut store = Store::new(config.clone());
        store.put(b"k".to_vec(), b"v".to_vec(), anyone(), now).expect("room");
        let peer = PeerId::random();
        store.add_provider(b"k".to_vec(), peer, vec![], from(peer), now).expect("room");
        let later = now + config.provider_ttl - Duration::from_secs(1);
        assert_eq!(store.providers(b"k", later).len(), 1);
        let expired = now + Duration::from_secs(48 * 3600 + 1);
        assert_eq!(store.get(b"k", expired), None);
        assert!(store.providers(b"k", expired).is_empty());
        store.remove_expired(expired);
        assert_eq!(store.record_count(), 0);
        // Expired records make room again.
        let mut small_store = Store::new(small());
        small_store.put(b"a".to_vec(), b"1".to_vec(), anyone(), now).expect("room");
        small_store.put(b"b".to_vec(), b"1".to_vec(), anyone(), now).expect("room");
        small_store.put(b"c".to_vec(), b"1".to_vec(), anyone(), expired).expect("expired records swept");
    }

    #[test]
    fn providers_are_bounded_and_refreshed() {
        let now = Instant::now();
        let mut store = Store::new(small());
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        store.add_provider(b"k".to_vec(), a, vec![], from(a), now).expect("room");
        store.add_provider(b"k".to_vec(), b, vec![], from(b), now).expect("room");
        assert_eq!(store.add_provider(b"k".to_vec(), c, vec![], from(c), now), Err(StoreError::Full));
        store.add_provider(b"k".to_vec(), a, vec![], from(a), now).expect("refresh");
        store.add_provider(b"k2".to_vec(), a, vec![], from(a), now).expect("room");
        assert_eq!(store.add_provider(b"k3".to_vec(), a, vec![], from(a), now), Err(StoreError::Full));
        assert_eq!(store.providers(b"k", now).len(), 2);
    }

    #[test]
    fn one_peer_and_one_ip_get_their_quotas_and_local_records_their_own_budget() {
        let config = StoreConfig {
            max_records: 10,
            max_local_records: 4,
            max_records_per_peer: 3,
            max_records_per_ip: 5,
            ..StoreConfig::default()
        };
        let now = Instant::now();
        let mut store = Store::new(config);
        let ip = Some(IpGroup::V4([192, 0, 2, 1]));
        let flooder = PeerId::random();
        let mut accepted = 0;
        for i in 0..100u32 {
            match store.put(i.to_be_bytes().to_vec(), vec![1], Origin::Remote { peer: flooder, ip }, now) {
                Ok(()) => accepted += 1,
                Err(e) => assert_eq!(e, StoreError::PeerQuota(flooder)),
            }
        }
        assert_eq!(accepted, 3);
        assert_eq!(store.records_of(&flooder), 3);
        // Many peer IDs on the same IP: the IP's quota.
        let mut from_ip = 0;
        for i in 100..200u32 {
            let sybil = Origin::Remote { peer: PeerId::random(), ip };
            match store.put(i.to_be_bytes().to_vec(), vec![1], sybil, now) {
                Ok(()) => from_ip += 1,
                Err(e) => assert_eq!(e, StoreError::IpQuota(IpGroup::V4([192, 0, 2, 1]))),
            }
        }
        assert_eq!(from_ip, 2, "5 per IP, 3 of them the first peer's");
        // Other IPs fill the remote budget up to its global cap.
        for i in 200..300u32 {
            let other = Origin::Remote { peer: PeerId::random(), ip: Some(IpGroup::V4([198, 51, 100, i as u8])) };
            let _ = store.put(i.to_be_bytes().to_vec(), vec![1], other, now);
        }
        assert_eq!(store.record_count(), 10);
        // The node's own records: their own budget, untouched by the flood.
        for i in 0..4u32 {
            store.put(format!("own{i}").into_bytes(), vec![2], Origin::Local, now).expect("local budget");
        }
        assert_eq!(store.put(b"own4".to_vec(), vec![2], Origin::Local, now), Err(StoreError::Full));
        assert_eq!(store.get(b"own0", now), Some(vec![2]));
        // A remote replacing the node's record leaves it in the local budget.
        store.put(b"own0".to_vec(), vec![3], anyone(), now).expect("replaces the value");
        assert_eq!(store.get(b"own0", now), Some(vec![3]));
        assert_eq!(store.put(b"own4".to_vec(), vec![2], Origin::Local, now), Err(StoreError::Full));
        // Taking over a remote record's key moves it to the local budget.
        store.remove(b"own1");
        store.put(0u32.to_be_bytes().to_vec(), vec![4], Origin::Local, now).expect("local budget");
        assert_eq!(store.records_of(&flooder), 2);
        // Expiry releases the quotas (the maps hold no zero counts).
        store.remove_expired(now + Duration::from_secs(49 * 3600));
        assert_eq!(store.record_count(), 0);
        assert!(store.record_quota.per_peer.is_empty() && store.record_quota.per_ip.is_empty());
        assert_eq!(store.local_records, 0);
    }

    #[test]
    fn provider_quotas_per_peer_and_ip_and_a_local_budget() {
        let config = StoreConfig {
            max_provided_keys: 10,
            max_local_provided_keys: 3,
            max_provider_records_per_peer: 3,
            max_provider_records_per_ip: 5,
            ..StoreConfig::default()
        };
        let now = Instant::now();
        let mut store = Store::new(config);
        let ip = Some(IpGroup::V6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1]));
        let flooder = PeerId::random();
        let origin = Origin::Remote { peer: flooder, ip };
        let accepted =
            (0..50u32).filter(|i| store.add_provider(i.to_be_bytes().to_vec(), flooder, vec![], origin, now).is_ok());
        assert_eq!(accepted.count(), 3);
        // Refreshing an existing entry is not a new one.
        store.add_provider(0u32.to_be_bytes().to_vec(), flooder, vec![], origin, now).expect("refresh");
        let mut from_ip = 0;
        for i in 50..100u32 {
            let sybil = PeerId::random();
            if store
                .add_provider(i.to_be_bytes().to_vec(), sybil, vec![], Origin::Remote { peer: sybil, ip }, now)
                .is_ok()
            {
                from_ip += 1;
            }
        }
        assert_eq!(from_ip, 2);
        for i in 100..200u32 {
            let other = PeerId::random();
            let _ = store.add_provider(i.to_be_bytes().to_vec(), other, vec![], from(other), now);
        }
        assert_eq!(store.providers.len(), 10);
        let me = PeerId::random();
        // A key remote peers hold, the remote key budget full: the node still provides it.
        let held = 100u32.to_be_bytes().to_vec();
        assert_eq!(store.providers(&held, now).len(), 1);
        store.add_provider(held.clone(), me, vec![], Origin::Local, now).expect("local budget");
        let listed = store.providers(&held, now);
        assert_eq!((listed.len(), listed[0].peer), (2, me), "the node first, then the remote");
        for i in 0..2u32 {
            store.add_provider(format!("own{i}").into_bytes(), me, vec![], Origin::Local, now).expect("local budget");
        }
        assert_eq!(store.add_provider(b"own3".to_vec(), me, vec![], Origin::Local, now), Err(StoreError::Full));
        assert_eq!(store.providers(b"own1", now).first().map(|p| p.peer), Some(me));
        store.remove_expired(now + Duration::from_secs(49 * 3600));
        assert!(store.providers.is_empty() && store.local_providers.is_empty());
        assert!(store.provider_quota.per_peer.is_empty() && store.provider_quota.per_ip.is_empty());
    }
}
