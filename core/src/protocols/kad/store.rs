//! The bounded local stores: records (key -> value) and provider records
//! (key -> peers that provide it). Pure: the caller passes `now`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::identity::PeerId;
use crate::multiaddr::Multiaddr;

/// Limits of the stores (rust-libp2p's `MemoryStore` defaults).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Records held at once.
    pub max_records: usize,
    /// Bytes of one record value.
    pub max_value_bytes: usize,
    /// Keys with provider records.
    pub max_provided_keys: usize,
    /// Providers remembered per key.
    pub max_providers_per_key: usize,
    /// How long a stored record lives.
    pub record_ttl: Duration,
    /// How long a provider record lives (48 h: the spec's expiry).
    pub provider_ttl: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_records: 1024,
            max_value_bytes: 65 * 1024,
            max_provided_keys: 1024,
            max_providers_per_key: 20,
            record_ttl: Duration::from_secs(48 * 60 * 60),
            provider_ttl: Duration::from_secs(48 * 60 * 60),
        }
    }
}

/// Why the store refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store holds its maximum number of records (or provided keys).
    #[error("the store is full")]
    Full,
    /// The value exceeds `max_value_bytes`.
    #[error("value of {len} bytes exceeds the limit of {max}")]
    ValueTooLarge {
        /// The value's size.
        len: usize,
        /// The limit.
        max: usize,
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
}

struct StoredRecord {
    value: Vec<u8>,
    expires: Instant,
}

/// Records and provider records, bounded in count and size.
pub struct Store {
    config: StoreConfig,
    records: HashMap<Vec<u8>, StoredRecord>,
    providers: HashMap<Vec<u8>, Vec<Provider>>,
}

impl Store {
    /// Empty stores with these limits.
    pub fn new(config: StoreConfig) -> Store {
        Store { config, records: HashMap::new(), providers: HashMap::new() }
    }

    /// The limits.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Stores (or replaces) a record. The caller has validated it.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>, now: Instant) -> Result<(), StoreError> {
        if value.len() > self.config.max_value_bytes {
            return Err(StoreError::ValueTooLarge { len: value.len(), max: self.config.max_value_bytes });
        }
        if !self.records.contains_key(&key) && self.records.len() >= self.config.max_records {
            self.records.retain(|_, r| r.expires > now);
            if self.records.len() >= self.config.max_records {
                return Err(StoreError::Full);
            }
        }
        self.records.insert(key, StoredRecord { value, expires: now + self.config.record_ttl });
        Ok(())
    }

    /// The live record under `key`.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Vec<u8>> {
        self.records.get(key).filter(|r| r.expires > now).map(|r| r.value.clone())
    }

    /// Removes the record under `key`.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        self.records.remove(key).is_some()
    }

    /// Records held (live or not yet swept).
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Adds (or refreshes) `peer` as a provider of `key`.
    pub fn add_provider(
        &mut self,
        key: Vec<u8>,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        now: Instant,
    ) -> Result<(), StoreError> {
        let expires = now + self.config.provider_ttl;
        if !self.providers.contains_key(&key) && self.providers.len() >= self.config.max_provided_keys {
            self.remove_expired(now);
            if self.providers.len() >= self.config.max_provided_keys {
                return Err(StoreError::Full);
            }
        }
        let max = self.config.max_providers_per_key;
        let list = self.providers.entry(key).or_default();
        list.retain(|p| p.expires > now);
        if let Some(existing) = list.iter_mut().find(|p| p.peer == peer) {
            existing.expires = expires;
            if !addrs.is_empty() {
                existing.addrs = addrs;
            }
            return Ok(());
        }
        if list.len() >= max {
            // Keep the providers that announced first; a full list refuses newcomers.
            return Err(StoreError::Full);
        }
        list.push(Provider { peer, addrs, expires });
        Ok(())
    }

    /// The live providers of `key`.
    pub fn providers(&self, key: &[u8], now: Instant) -> Vec<Provider> {
        self.providers.get(key).map(|l| l.iter().filter(|p| p.expires > now).cloned().collect()).unwrap_or_default()
    }

    /// Drops expired records and provider records.
    pub fn remove_expired(&mut self, now: Instant) {
        self.records.retain(|_, r| r.expires > now);
        for list in self.providers.values_mut() {
            list.retain(|p| p.expires > now);
        }
        self.providers.retain(|_, l| !l.is_empty());
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

    #[test]
    fn records_are_bounded_in_count_and_size() {
        let now = Instant::now();
        let mut store = Store::new(small());
        assert_eq!(store.put(b"a".to_vec(), b"12345".to_vec(), now), Err(StoreError::ValueTooLarge { len: 5, max: 4 }));
        store.put(b"a".to_vec(), b"1".to_vec(), now).expect("room");
        store.put(b"b".to_vec(), b"2".to_vec(), now).expect("room");
        assert_eq!(store.put(b"c".to_vec(), b"3".to_vec(), now), Err(StoreError::Full));
        // Replacing an existing key is always possible.
        store.put(b"a".to_vec(), b"9".to_vec(), now).expect("replace");
        assert_eq!(store.get(b"a", now), Some(b"9".to_vec()));
        assert_eq!(store.record_count(), 2);
    }

    #[test]
    fn records_and_providers_expire() {
        let now = Instant::now();
        let config = StoreConfig::default();
        let mut store = Store::new(config.clone());
        store.put(b"k".to_vec(), b"v".to_vec(), now).expect("room");
        let peer = PeerId::random();
        store.add_provider(b"k".to_vec(), peer, vec![], now).expect("room");
        let later = now + config.provider_ttl - Duration::from_secs(1);
        assert_eq!(store.providers(b"k", later).len(), 1);
        let expired = now + Duration::from_secs(48 * 3600 + 1);
        assert_eq!(store.get(b"k", expired), None);
        assert!(store.providers(b"k", expired).is_empty());
        store.remove_expired(expired);
        assert_eq!(store.record_count(), 0);
        // Expired records make room again.
        let mut small_store = Store::new(small());
        small_store.put(b"a".to_vec(), b"1".to_vec(), now).expect("room");
        small_store.put(b"b".to_vec(), b"1".to_vec(), now).expect("room");
        small_store.put(b"c".to_vec(), b"1".to_vec(), expired).expect("expired records swept");
    }

    #[test]
    fn providers_are_bounded_and_refreshed() {
        let now = Instant::now();
        let mut store = Store::new(small());
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        store.add_provider(b"k".to_vec(), a, vec![], now).expect("room");
        store.add_provider(b"k".to_vec(), b, vec![], now).expect("room");
        assert_eq!(store.add_provider(b"k".to_vec(), c, vec![], now), Err(StoreError::Full));
        store.add_provider(b"k".to_vec(), a, vec![], now).expect("refresh");
        store.add_provider(b"k2".to_vec(), a, vec![], now).expect("room");
        assert_eq!(store.add_provider(b"k3".to_vec(), a, vec![], now), Err(StoreError::Full));
        assert_eq!(store.providers(b"k", now).len(), 2);
    }
}
