//! The peer store: what the node knows about other peers (addresses with
//! expiry, protocols, keys, versions, signed records). No I/O, no clock:
//! callers pass `now`. Bounded in entries and in bytes, so that no peer can
//! make it grow (CVE-2023-40583, go-libp2p's unbounded signed peer records):
//!
//! - at most `max_peers` peers; the least recently updated is forgotten first;
//! - per peer: [`MAX_ADDRS`] addresses of at most [`MAX_ADDR_BYTES`] each,
//!   [`MAX_PROTOCOLS`] protocol IDs of at most [`MAX_PROTOCOL_BYTES`] each, an
//!   agent and a protocol version of at most [`MAX_VERSION_BYTES`], and a
//!   signed peer record of at most [`MAX_ADDRS`] such addresses: at most
//!   [`MAX_PEER_BYTES`] (about 100 KiB) per peer. Longer versions are cut,
//!   longer protocol IDs and addresses dropped, extra entries ignored, an
//!   oversized peer record refused; each with a debug log;
//! - in total at most `max_bytes` ([`DEFAULT_MAX_BYTES`], 32 MiB): beyond it
//!   the least recently updated peers are forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::identity::record::PeerRecord;
use crate::identity::{PeerId, PublicKey};
use crate::multiaddr::{Multiaddr, Protocol};

/// Addresses kept per peer.
pub const MAX_ADDRS: usize = 64;
/// The longest address kept, in bytes of its binary form (a `/dns` name of
/// 253 bytes with a port and a `/p2p/` ID fits).
pub const MAX_ADDR_BYTES: usize = 512;
/// Protocols kept per peer.
pub const MAX_PROTOCOLS: usize = 256;
/// The longest protocol ID kept, bytes.
pub const MAX_PROTOCOL_BYTES: usize = 256;
/// The longest agent or protocol version kept, bytes (longer ones are cut).
pub const MAX_VERSION_BYTES: usize = 256;
/// The largest public key kept, bytes of its protobuf form (RSA-4096 is 550).
pub const MAX_KEY_BYTES: usize = 2048;
/// Bytes counted for a peer besides its variable fields (IDs, times, maps).
const ENTRY_OVERHEAD: usize = 256;
/// The most one peer can take: every field at its cap.
pub const MAX_PEER_BYTES: usize = ENTRY_OVERHEAD
    + 2 * MAX_ADDRS * MAX_ADDR_BYTES
    + MAX_PROTOCOLS * MAX_PROTOCOL_BYTES
    + 2 * MAX_VERSION_BYTES
    + MAX_KEY_BYTES;
/// The default bound on the bytes of the whole store.
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024 * 1024;

/// The network a remote address belongs to, for per-IP quotas: the IPv4
/// address, or the /64 prefix of an IPv6 address (one host, or one
/// customer's network, usually owns a whole /64). The first IP of the
/// address counts: for a relayed connection, the relay's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpGroup {
    /// An IPv4 address.
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6([u8; 8]),
}

impl IpGroup {
    /// The group of an IP address.
    pub fn of_ip(ip: IpAddr) -> IpGroup {
        match ip {
            IpAddr::V4(v4) => IpGroup::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpGroup::V4(v4.octets()),
                None => {
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&v6.octets()[..8]);
                    IpGroup::V6(prefix)
                }
            },
        }
    }

    /// The group of the first IP in `addr`; `None` if it has none (memory
    /// transport, DNS names).
    pub fn of(addr: &Multiaddr) -> Option<IpGroup> {
        addr.iter().find_map(|p| match p {
            Protocol::Ip4(ip) => Some(IpGroup::of_ip(IpAddr::V4(ip))),
            Protocol::Ip6(ip) => Some(IpGroup::of_ip(IpAddr::V6(ip))),
            _ => None,
        })
    }
}

/// Why the store refused an update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerStoreError {
    /// The key does not belong to the peer.
    #[error("public key does not match peer {0}")]
    KeyMismatch(PeerId),
    /// A value is over its cap.
    #[error("{what} of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The cap.
        max: usize,
    },
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
    /// Bytes of `public_key`'s protobuf form (computed once, when set).
    key_bytes: usize,
    peer_record: Option<PeerRecord>,
    updated: Instant,
    /// What this entry counts for in [`PeerStore::total_bytes`].
    bytes: usize,
}

impl Entry {
    /// The bytes this entry holds, as counted against the store's bound.
    fn size(&self) -> usize {
        let addrs: usize = self.addrs.iter().map(|(a, _)| a.len()).sum();
        let protocols: usize = self.protocols.iter().map(String::len).sum();
        let versions =
            self.agent_version.as_ref().map_or(0, String::len) + self.protocol_version.as_ref().map_or(0, String::len);
        let record: usize = self.peer_record.as_ref().map_or(0, |r| r.addrs.iter().map(Multiaddr::len).sum());
        ENTRY_OVERHEAD + addrs + protocols + versions + record + self.key_bytes
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncated(mut text: String, max: usize, what: &str, peer: &PeerId) -> String {
    if text.len() > max {
        tracing::debug!(%peer, len = text.len(), max, "peer store: {what} too long; cut");
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The store.
#[derive(Debug)]
pub struct PeerStore {
    max_peers: usize,
    max_bytes: usize,
    total_bytes: usize,
    peers: HashMap<PeerId, Entry>,
}

impl PeerStore {
    /// An empty store holding at most `max_peers` peers and
    /// [`DEFAULT_MAX_BYTES`].
    pub fn new(max_peers: usize) -> PeerStore {
        PeerStore::with_max_bytes(max_peers, DEFAULT_MAX_BYTES)
    }

    /// An empty store holding at most `max_peers` peers and `max_bytes`
    /// bytes (as counted by [`PeerStore::total_bytes`]; at least one peer at
    /// its caps, [`MAX_PEER_BYTES`], always fits).
    pub fn with_max_bytes(max_peers: usize, max_bytes: usize) -> PeerStore {
        PeerStore {
            max_peers: max_peers.max(1),
            max_bytes: max_bytes.max(MAX_PEER_BYTES),
            total_bytes: 0,
            peers: HashMap::new(),
        }
    }

    /// The bytes held: addresses, protocol IDs, versions, keys and records,
    /// plus a fixed overhead per peer. At most the `max_bytes` given.
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    fn entry(&mut self, peer: PeerId, now: Instant) -> &mut Entry {
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            self.evict_oldest(&peer);
        }
        let entry = self.peers.entry(peer).or_insert_with(|| Entry {
            addrs: Vec::new(),
            protocols: Vec::new(),
            agent_version: None,
            protocol_version: None,
            public_key: None,
            key_bytes: 0,
            peer_record: None,
            updated: now,
            bytes: 0,
        });
        entry.updated = now;
        entry
    }

    /// Forgets the least recently updated peer other than `keep`.
    fn evict_oldest(&mut self, keep: &PeerId) -> bool {
        let oldest = self.peers.iter().filter(|(p, _)| *p != keep).min_by_key(|(_, e)| e.updated).map(|(p, _)| *p);
        match oldest.and_then(|p| self.peers.remove(&p)) {
            Some(removed) => {
                self.total_bytes -= removed.bytes;
                true
            }
            None => false,
        }
    }

    /// Recounts `peer`'s bytes after a change, then forgets the least
    /// recently updated other peers while the store is over its bound.
    fn account(&mut self, peer: &PeerId) {
        if let Some(entry) = self.peers.get_mut(peer) {
            let size = entry.size();
            self.total_bytes = self.total_bytes - entry.bytes + size;
            entry.bytes = size;
        }
        while self.total_bytes > self.max_bytes {
            if !self.evict_oldest(peer) {
                break;
            }
        }
    }

    /// Adds addresses valid for `ttl` (an address already known gets the
    /// later expiry). Addresses over [`MAX_ADDR_BYTES`] are dropped.
    pub fn add_addrs(&mut self, peer: PeerId, addrs: &[Multiaddr], ttl: Duration, now: Instant) {
        let expires = now + ttl;
        let entry = self.entry(peer, now);
        for addr in addrs {
            if addr.len() > MAX_ADDR_BYTES {
                tracing::debug!(%peer, len = addr.len(), "peer store: address too long; dropped");
                continue;
            }
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
        self.account(&peer);
    }

    /// The peer's addresses that have not expired.
    pub fn addrs(&self, peer: &PeerId, now: Instant) -> Vec<Multiaddr> {
        self.peers
            .get(peer)
            .map(|e| e.addrs.iter().filter(|(_, exp)| *exp > now).map(|(a, _)| a.clone()).collect())
            .unwrap_or_default()
    }

    /// Replaces the peer's protocols: the first [`MAX_PROTOCOLS`] of at most
    /// [`MAX_PROTOCOL_BYTES`] each (a longer ID is dropped: cut, it would
    /// name another protocol).
    pub fn set_protocols(&mut self, peer: PeerId, protocols: Vec<String>) {
        let offered = protocols.len();
        let kept: Vec<String> =
            protocols.into_iter().filter(|p| p.len() <= MAX_PROTOCOL_BYTES).take(MAX_PROTOCOLS).collect();
        if kept.len() != offered {
            tracing::debug!(%peer, offered, kept = kept.len(), "peer store: protocols over the caps ignored");
        }
        let now = Instant::now();
        self.entry(peer, now).protocols = kept;
        self.account(&peer);
    }

    /// The peer's protocols.
    pub fn protocols(&self, peer: &PeerId) -> Vec<String> {
        self.peers.get(peer).map(|e| e.protocols.clone()).unwrap_or_default()
    }

    /// Records the peer's key; it must be the key the peer ID was made from
    /// (and at most [`MAX_KEY_BYTES`]).
    pub fn set_public_key(&mut self, peer: PeerId, key: PublicKey) -> Result<(), PeerStoreError> {
        if key.to_peer_id() != peer {
            return Err(PeerStoreError::KeyMismatch(peer));
        }
        let key_bytes = key.encode_protobuf().len();
        if key_bytes > MAX_KEY_BYTES {
            return Err(PeerStoreError::TooLarge { what: "public key", len: key_bytes, max: MAX_KEY_BYTES });
        }
        let entry = self.entry(peer, Instant::now());
        entry.public_key = Some(key);
        entry.key_bytes = key_bytes;
        self.account(&peer);
        Ok(())
    }

    /// The peer's key, if known.
    pub fn public_key(&self, peer: &PeerId) -> Option<PublicKey> {
        self.peers.get(peer).and_then(|e| e.public_key.clone())
    }

    /// Records the peer's agent version, cut to [`MAX_VERSION_BYTES`].
    pub fn set_agent_version(&mut self, peer: PeerId, agent: String) {
        let agent = truncated(agent, MAX_VERSION_BYTES, "agent version", &peer);
        self.entry(peer, Instant::now()).agent_version = Some(agent);
        self.account(&peer);
    }

    /// Records the peer's protocol version, cut to [`MAX_VERSION_BYTES`].
    pub fn set_protocol_version(&mut self, peer: PeerId, version: String) {
        let version = truncated(version, MAX_VERSION_BYTES, "protocol version", &peer);
        self.entry(peer, Instant::now()).protocol_version = Some(version);
        self.account(&peer);
    }

    /// Records a verified peer record of `peer`; an older one (lower seq) is
    /// ignored, and so is one over the caps (more than [`MAX_ADDRS`]
    /// addresses, or one over [`MAX_ADDR_BYTES`]: signed, it cannot be cut).
    pub fn set_peer_record(&mut self, peer: PeerId, record: PeerRecord) {
        if record.peer_id != peer {
            return;
        }
        if record.addrs.len() > MAX_ADDRS || record.addrs.iter().any(|a| a.len() > MAX_ADDR_BYTES) {
            tracing::debug!(%peer, addrs = record.addrs.len(), "peer store: peer record over the caps; refused");
            return;
        }
        let entry = self.entry(peer, Instant::now());
        if entry.peer_record.as_ref().is_none_or(|old| old.seq < record.seq) {
            entry.peer_record = Some(record);
        }
        self.account(&peer);
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
        let mut total = 0;
        for entry in self.peers.values_mut() {
            entry.addrs.retain(|(_, exp)| *exp > now);
            entry.bytes = entry.size();
            total += entry.bytes;
        }
        self.total_bytes = total;
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

    /// The update identify makes (as `Swarm::record_identify` applies it),
    /// with every field oversized.
    fn identify_flood(store: &mut PeerStore, key: &Keypair, now: Instant) {
        let peer = key.peer_id();
        let many_addrs: Vec<Multiaddr> = (0..10_000u32)
            .map(|i| format!("/ip4/10.{}.{}.{}/tcp/{}", i >> 16, (i >> 8) & 0xff, i & 0xff, i % 60_000 + 1))
            .map(|a| a.parse().expect("valid"))
            .collect();
        let long_dns: Multiaddr = format!("/dns/{}/tcp/1", "a".repeat(250)).parse().expect("valid");
        let mut long_addrs = vec![long_dns.clone(); 1];
        long_addrs.extend((0..3).map(|i| format!("/dns/{}{i}.example/tcp/1", "b".repeat(240)).parse().expect("ok")));
        store.add_addrs(peer, &many_addrs, Duration::from_secs(3600), now);
        store.add_addrs(peer, &long_addrs, Duration::from_secs(7200), now);
        let protocols: Vec<String> = (0..10_000).map(|i| format!("/proto/{i}/{}", "p".repeat(i % 400))).collect();
        store.set_protocols(peer, protocols);
        store.set_agent_version(peer, "é".repeat(512 * 1024)); // 1 MiB, two-byte characters
        store.set_protocol_version(peer, "v".repeat(1024 * 1024));
        store.set_public_key(peer, key.public()).expect("its own key");
        store.set_peer_record(peer, PeerRecord::new(key, many_addrs[..MAX_ADDRS].to_vec()));
    }

    #[test]
    fn an_oversized_identify_stores_at_most_the_caps() {
        let mut store = PeerStore::new(10);
        let key = Keypair::generate_ed25519();
        let peer = key.peer_id();
        let now = Instant::now();
        identify_flood(&mut store, &key, now);
        let info = store.peer_info(&peer, now).expect("known");
        assert_eq!(info.addrs.len(), MAX_ADDRS);
        assert!(info.addrs.iter().all(|a| a.len() <= MAX_ADDR_BYTES));
        assert_eq!(info.protocols.len(), MAX_PROTOCOLS);
        assert!(info.protocols.iter().all(|p| p.len() <= MAX_PROTOCOL_BYTES));
        let agent = info.agent_version.expect("set");
        assert!(agent.len() <= MAX_VERSION_BYTES && agent.len() >= MAX_VERSION_BYTES - 1, "cut, not dropped");
        assert!(agent.chars().all(|c| c == 'é'), "cut on a character boundary");
        assert_eq!(info.protocol_version.map(|v| v.len()), Some(MAX_VERSION_BYTES));
        assert_eq!(info.peer_record.map(|r| r.addrs.len()), Some(MAX_ADDRS));
        assert!(store.total_bytes() <= MAX_PEER_BYTES, "{} > {MAX_PEER_BYTES}", store.total_bytes());
        // A signed record over the caps is refused whole (it cannot be cut).
        let other = Keypair::generate_ed25519();
        let too_many: Vec<Multiaddr> = (0..=MAX_ADDRS as u16).map(addr).collect();
        store.set_peer_record(other.peer_id(), PeerRecord::new(&other, too_many));
        assert_eq!(store.peer_info(&other.peer_id(), now).and_then(|i| i.peer_record), None);
    }

    #[test]
    fn the_store_stays_under_its_byte_bound() {
        let max_bytes = 4 * MAX_PEER_BYTES;
        let mut store = PeerStore::with_max_bytes(10_000, max_bytes);
        let start = Instant::now();
        let keys: Vec<Keypair> = (0..20).map(|_| Keypair::generate_ed25519()).collect();
        for (i, key) in keys.iter().enumerate() {
            identify_flood(&mut store, key, start + Duration::from_secs(i as u64));
            assert!(store.total_bytes() <= max_bytes, "{} > {max_bytes}", store.total_bytes());
        }
        assert!(store.len() < keys.len(), "peers were forgotten to stay under the bound");
        let last = keys.last().expect("some").peer_id();
        assert!(store.peer_info(&last, start).is_some(), "the newest peer is kept");
        // The count matches the entries after expiry sweeps too.
        store.remove_expired(start + Duration::from_secs(5000));
        assert!(store.total_bytes() <= max_bytes);
        let recount: usize = store.peers.values().map(Entry::size).sum();
        assert_eq!(store.total_bytes(), recount);
    }

    #[test]
    fn ip_groups_are_v4_addresses_and_v6_prefixes() {
        let a: Multiaddr = "/ip6/2001:db8:1:2::1/tcp/1".parse().expect("ok");
        let b: Multiaddr = "/ip6/2001:db8:1:2:ffff::9/udp/1/quic-v1".parse().expect("ok");
        let c: Multiaddr = "/ip6/2001:db8:1:3::1/tcp/1".parse().expect("ok");
        assert_eq!(IpGroup::of(&a), IpGroup::of(&b));
        assert_ne!(IpGroup::of(&a), IpGroup::of(&c));
        assert_eq!(IpGroup::of(&addr(1)), IpGroup::of(&addr(2)));
        assert_eq!(IpGroup::of(&addr(1)), Some(IpGroup::V4([127, 0, 0, 1])));
        let mapped: Multiaddr = "/ip6/::ffff:127.0.0.1/tcp/1".parse().expect("ok");
        assert_eq!(IpGroup::of(&mapped), IpGroup::of(&addr(1)));
        assert_eq!(IpGroup::of(&"/memory/5".parse().expect("ok")), None);
    }
}
