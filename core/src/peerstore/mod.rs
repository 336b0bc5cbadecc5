//! The peer store: what the node knows about other peers (addresses with
//! expiry, protocols, keys, versions, signed records). No I/O, no clock:
//! callers pass `now`. Bounded: at most `max_peers` peers (the least recently
//! updated is forgotten first), [`MAX_ADDRS`] addresses and [`MAX_PROTOCOLS`]
//! protocols per peer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::identity::record::PeerRecord;
use crate::identity::{PeerId, PublicKey};
use crate::multiaddr::Multiaddr;

/// Addresses kept per peer.
pub const MAX_ADDRS: usize = 64;
/// Protocols kept per peer.
pub const MAX_PROTOCOLS: usize = 256;

/// Why the store refused an update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerStoreError {
    /// The key does not belong to the peer.
    #[error("public key does not match peer {0}")]
    KeyMismatch(PeerId),
}

/// A snapshot of what is known about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer.
    pub peer_id: PeerId,
    /// Addresses not yet expired.
    pub addrs: Vec<Multiaddr>,
    /// Protocols it said it serves.
    pub protocols: Vec<String>,
    /// Its agent version, once identified.
    pub agent_version: Option<String>,
    /// Its protocol version, once identified.
    pub protocol_version: Option<String>,
    /// Its public key, once known.
    pub public_key: Option<PublicKey>,
    /// Its latest verified signed peer record.
    pub peer_record: Option<PeerRecord>,
}

#[derive(Debug)]
struct Entry {
    addrs: Vec<(Multiaddr, Instant)>,
    protocols: Vec<String>,
    agent_version: Option<String>,
    protocol_version: Option<String>,
    public_key: Option<PublicKey>,
    peer_record: Option<PeerRecord>,
    updated: Instant,
}

/// The store.
#[derive(Debug)]
pub struct PeerStore {
    max_peers: usize,
    peers: HashMap<PeerId, Entry>,
}

impl PeerStore {
    /// An empty store holding at most `max_peers` peers.
    pub fn new(max_peers: usize) -> PeerStore {
        PeerStore { max_peers: max_peers.max(1), peers: HashMap::new() }
    }

    fn entry(&mut self, peer: PeerId, now: Instant) -> &mut Entry {
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            let oldest = self.peers.iter().min_by_key(|(_, e)| e.updated).map(|(p, _)| *p);
            if let Some(oldest) = oldest {
                self.peers.remove(&oldest);
            }
        }
        let entry = self.peers.entry(peer).or_insert_with(|| Entry {
            addrs: Vec::new(),
            protocols: Vec::new(),
            agent_version: None,
            protocol_version: None,
            public_key: None,
            peer_record: None,
            updated: now,
        });
        entry.updated = now;
        entry
    }

    /// Adds addresses valid for `ttl` (an address already known gets the later expiry).
    pub fn add_addrs(&mut self, peer: PeerId, addrs: &[Multiaddr], ttl: Duration, now: Instant) {
        let expires = now + ttl;
        let entry = self.entry(peer, now);
        for addr in addrs {
            let full = entry.addrs.len() >= MAX_ADDRS;
            match entry.addrs.iter_mut().find(|(a, _)| a == addr) {
                Some((_, exp)) => *exp = (*exp).max(expires),
                None if !full => entry.addrs.push((addr.clone(), expires)),
                None => {
                    // Full: replace the address that expires first, if ours lasts longer.
                    if let Some(slot) = entry.addrs.iter_mut().min_by_key(|(_, e)| *e)
                        && slot.1 < expires
                    {
                        *slot = (addr.clone(), expires);
                    }
                }
            }
        }
    }

    /// The peer's addresses that have not expired.
    pub fn addrs(&self, peer: &PeerId, now: Instant) -> Vec<Multiaddr> {
        self.peers
            .get(peer)
            .map(|e| e.addrs.iter().filter(|(_, exp)| *exp > now).map(|(a, _)| a.clone()).collect())
            .unwrap_or_default()
    }

    /// Replaces the peer's protocols.
    pub fn set_protocols(&mut self, peer: PeerId, mut protocols: Vec<String>) {
        protocols.truncate(MAX_PROTOCOLS);
        let now = Instant::now();
        self.entry(peer, now).protocols = protocols;
    }

    /// The peer's protocols.
    pub fn protocols(&self, peer: &PeerId) -> Vec<String> {
        self.peers.get(peer).map(|e| e.protocols.clone()).unwrap_or_default()
    }

    /// Records the peer's key; it must be the key the peer ID was made from.
    pub fn set_public_key(&mut self, peer: PeerId, key: PublicKey) -> Result<(), PeerStoreError> {
        if key.to_peer_id() != peer {
            return Err(PeerStoreError::KeyMismatch(peer));
        }
        self.entry(peer, Instant::now()).public_key = Some(key);
        Ok(())
    }

    /// The peer's key, if known.
    pub fn public_key(&self, peer: &PeerId) -> Option<PublicKey> {
        self.peers.get(peer).and_then(|e| e.public_key.clone())
    }

    /// Records the peer's agent version.
    pub fn set_agent_version(&mut self, peer: PeerId, agent: String) {
        self.entry(peer, Instant::now()).agent_version = Some(agent);
    }

    /// Records the peer's protocol version.
    pub fn set_protocol_version(&mut self, peer: PeerId, version: String) {
        self.entry(peer, Instant::now()).protocol_version = Some(version);
    }

    /// Records a verified peer record of `peer`; an older one (lower seq) is ignored.
    pub fn set_peer_record(&mut self, peer: PeerId, record: PeerRecord) {
        if record.peer_id != peer {
            return;
        }
        let entry = self.entry(peer, Instant::now());
        if entry.peer_record.as_ref().is_none_or(|old| old.seq < record.seq) {
            entry.peer_record = Some(record);
        }
    }

    /// A snapshot of the peer.
    pub fn peer_info(&self, peer: &PeerId, now: Instant) -> Option<PeerInfo> {
        let e = self.peers.get(peer)?;
        Some(PeerInfo {
            peer_id: *peer,
            addrs: self.addrs(peer, now),
            protocols: e.protocols.clone(),
            agent_version: e.agent_version.clone(),
            protocol_version: e.protocol_version.clone(),
            public_key: e.public_key.clone(),
            peer_record: e.peer_record.clone(),
        })
    }

    /// Every known peer.
    pub fn peers(&self) -> Vec<PeerId> {
        self.peers.keys().copied().collect()
    }

    /// Drops expired addresses.
    pub fn remove_expired(&mut self, now: Instant) {
        for entry in self.peers.values_mut() {
            entry.addrs.retain(|(_, exp)| *exp > now);
        }
    }

    /// Number of known peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is known.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("ok")
    }

    #[test]
    fn addresses_expire() {
        let mut store = PeerStore::new(10);
        let peer = PeerId::random();
        let now = Instant::now();
        store.add_addrs(peer, &[addr(1)], Duration::from_secs(10), now);
        store.add_addrs(peer, &[addr(2)], Duration::from_secs(100), now);
        assert_eq!(store.addrs(&peer, now).len(), 2);
        assert_eq!(store.addrs(&peer, now + Duration::from_secs(50)), vec![addr(2)]);
        store.remove_expired(now + Duration::from_secs(200));
        assert!(store.addrs(&peer, now).is_empty());
    }

    #[test]
    fn bounded_addresses_and_peers() {
        let mut store = PeerStore::new(3);
        let now = Instant::now();
        let peer = PeerId::random();
        let many: Vec<Multiaddr> = (0..200).map(addr).collect();
        store.add_addrs(peer, &many, Duration::from_secs(10), now);
        assert_eq!(store.addrs(&peer, now).len(), MAX_ADDRS);
        let later: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        for (i, p) in later.iter().enumerate() {
            store.add_addrs(*p, &[addr(1)], Duration::from_secs(10), now + Duration::from_secs(i as u64 + 1));
        }
        assert_eq!(store.len(), 3);
        assert!(store.peer_info(&peer, now).is_none(), "the least recently updated peer is evicted");
    }

    #[test]
    fn key_must_match_and_newer_records_win() {
        let mut store = PeerStore::new(10);
        let key = Keypair::generate_ed25519();
        let peer = key.peer_id();
        assert_eq!(
            store.set_public_key(peer, Keypair::generate_ed25519().public()),
            Err(PeerStoreError::KeyMismatch(peer))
        );
        assert!(store.set_public_key(peer, key.public()).is_ok());
        let older = PeerRecord::new(&key, vec![addr(1)]);
        let newer = PeerRecord::new(&key, vec![addr(2)]);
        store.set_peer_record(peer, newer.clone());
        store.set_peer_record(peer, older);
        store.set_protocols(peer, vec!["/a".into()]);
        store.set_agent_version(peer, "x".into());
        let info = store.peer_info(&peer, Instant::now()).expect("known");
        assert_eq!(info.peer_record, Some(newer));
        assert_eq!(info.protocols, vec!["/a".to_string()]);
        assert_eq!(info.agent_version.as_deref(), Some("x"));
        assert_eq!(info.public_key, Some(key.public()));
    }
}
