//! Keys in the Kademlia space (SHA-256 of peer IDs and record keys), the XOR
//! distance, and the routing table of k-buckets. Pure: no I/O, no clock.

use std::cmp::Ordering;

use crate::identity::PeerId;
use crate::multiaddr::Multiaddr;

/// A point in the 256-bit Kademlia space: SHA-256 of the original bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Key([u8; 32]);

impl Key {
    /// The key of arbitrary bytes (a record key, a CID's multihash).
    pub fn from_bytes(bytes: &[u8]) -> Key {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Key(out)
    }

    /// The key of a peer: SHA-256 of its binary peer ID.
    pub fn from_peer(peer: &PeerId) -> Key {
        Key::from_bytes(peer.as_bytes())
    }

    /// A key given directly by its 32 bytes (tests, random walks).
    pub fn from_raw(raw: [u8; 32]) -> Key {
        Key(raw)
    }

    /// The XOR distance to `other`.
    pub fn distance(&self, other: &Key) -> Distance {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = self.0[i] ^ other.0[i];
        }
        Distance(out)
    }
}

/// The XOR distance of two keys, ordered as a 256-bit big-endian integer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Distance([u8; 32]);

impl Distance {
    /// The index of the bucket a key at this distance falls in (0..=255): the
    /// position of the highest set bit. `None` for distance zero (ourselves).
    pub fn bucket_index(&self) -> Option<usize> {
        let mut leading = 0usize;
        for byte in self.0 {
            if byte == 0 {
                leading += 8;
            } else {
                leading += byte.leading_zeros() as usize;
                return Some(255 - leading);
            }
        }
        None
    }
}

/// One peer in the routing table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The peer.
    pub peer: PeerId,
    /// Its key.
    pub key: Key,
    /// Where to reach it (bounded by [`MAX_ADDRS`]).
    pub addrs: Vec<Multiaddr>,
}

/// Addresses kept per peer in the table.
pub const MAX_ADDRS: usize = 16;

/// What inserting a peer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insert {
    /// A new entry.
    Inserted,
    /// The peer was there; its addresses were refreshed and it moved to the
    /// bucket's most-recently-seen end.
    Updated,
    /// Its bucket is full of other live peers: not added.
    BucketFull,
    /// It is ourselves.
    SelfKey,
}

/// The k-buckets around our own key. Bucket `i` holds peers whose distance
/// to us has its highest set bit at position `i`; each holds at most `k`,
/// least recently seen first. A full bucket keeps its old peers (they proved
/// long-lived); failed peers are removed by the driver, making room.
pub struct RoutingTable {
    local: Key,
    k: usize,
    buckets: Vec<Vec<Entry>>,
}

impl RoutingTable {
    /// An empty table around `local` with bucket size `k`.
    pub fn new(local: Key, k: usize) -> RoutingTable {
        RoutingTable { local, k: k.max(1), buckets: vec![Vec::new(); 256] }
    }

    /// Our key.
    pub fn local_key(&self) -> &Key {
        &self.local
    }

    /// Adds or refreshes `peer`.
    pub fn insert(&mut self, peer: PeerId, addrs: &[Multiaddr]) -> Insert {
        let key = Key::from_peer(&peer);
        let Some(index) = self.local.distance(&key).bucket_index() else { return Insert::SelfKey };
        let k = self.k;
        let bucket = &mut self.buckets[index];
        let mut addrs: Vec<Multiaddr> = addrs.iter().take(MAX_ADDRS).cloned().collect();
        if let Some(pos) = bucket.iter().position(|e| e.peer == peer) {
            let mut entry = bucket.remove(pos);
            if !addrs.is_empty() {
                entry.addrs = std::mem::take(&mut addrs);
            }
            bucket.push(entry);
            return Insert::Updated;
        }
        if bucket.len() >= k {
            return Insert::BucketFull;
        }
        bucket.push(Entry { peer, key, addrs });
        Insert::Inserted
    }

    /// Removes `peer`. Returns whether it was there.
    pub fn remove(&mut self, peer: &PeerId) -> bool {
        let key = Key::from_peer(peer);
        let Some(index) = self.local.distance(&key).bucket_index() else { return false };
        let bucket = &mut self.buckets[index];
        let before = bucket.len();
        bucket.retain(|e| &e.peer != peer);
        bucket.len() != before
    }

    /// The entry of `peer`, if present.
    pub fn get(&self, peer: &PeerId) -> Option<&Entry> {
        let index = self.local.distance(&Key::from_peer(peer)).bucket_index()?;
        self.buckets[index].iter().find(|e| &e.peer == peer)
    }

    /// At most `count` entries closest to `target`, closest first.
    pub fn closest(&self, target: &Key, count: usize) -> Vec<Entry> {
        let mut all: Vec<(Distance, &Entry)> =
            self.buckets.iter().flatten().map(|e| (e.key.distance(target), e)).collect();
        all.sort_by_key(|a| a.0);
        all.into_iter().take(count).map(|(_, e)| e.clone()).collect()
    }

    /// Peers in the table.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every peer in the table.
    pub fn peers(&self) -> Vec<PeerId> {
        self.buckets.iter().flatten().map(|e| e.peer).collect()
    }

    /// Indexes of non-empty buckets.
    pub fn non_empty_buckets(&self) -> Vec<usize> {
        (0..self.buckets.len()).filter(|i| !self.buckets[*i].is_empty()).collect()
    }
}

/// Orders two keys by distance to `target`.
pub fn closer(target: &Key, a: &Key, b: &Key) -> Ordering {
    a.distance(target).cmp(&b.distance(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_xor_and_symmetric() {
        let a = Key::from_raw([0xff; 32]);
        let b = Key::from_raw([0x0f; 32]);
        assert_eq!(a.distance(&b), b.distance(&a));
        assert_eq!(a.distance(&a).bucket_index(), None);
        assert_eq!(a.distance(&b).bucket_index(), Some(255));
        let mut low = [0u8; 32];
        low[31] = 1;
        assert_eq!(Key::from_raw([0; 32]).distance(&Key::from_raw(low)).bucket_index(), Some(0));
    }

    #[test]
    fn buckets_hold_at_most_k_and_keep_old_peers() {
        let mut table = RoutingTable::new(Key::from_raw([0; 32]), 2);
        let mut inserted = 0;
        let mut full = 0;
        // Random peers fall mostly into the top bucket (index 255).
        for _ in 0..200 {
            match table.insert(PeerId::random(), &[]) {
                Insert::Inserted => inserted += 1,
                Insert::BucketFull => full += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(full > 0);
        assert_eq!(table.len(), inserted);
        for index in table.non_empty_buckets() {
            assert!(table.buckets[index].len() <= 2);
        }
    }

    #[test]
    fn update_moves_to_tail_and_refreshes_addrs() {
        let mut table = RoutingTable::new(Key::from_raw([0; 32]), 20);
        let peer = PeerId::random();
        assert_eq!(table.insert(peer, &[]), Insert::Inserted);
        let addr: Multiaddr = "/memory/7".parse().expect("valid");
        assert_eq!(table.insert(peer, std::slice::from_ref(&addr)), Insert::Updated);
        assert_eq!(table.get(&peer).map(|e| e.addrs.clone()), Some(vec![addr]));
        assert!(table.remove(&peer));
        assert!(!table.remove(&peer));
        assert!(table.is_empty());
    }

    #[test]
    fn closest_is_sorted_by_distance() {
        let local = Key::from_peer(&PeerId::random());
        let mut table = RoutingTable::new(local, 20);
        for _ in 0..100 {
            table.insert(PeerId::random(), &[]);
        }
        let target = Key::from_peer(&PeerId::random());
        let closest = table.closest(&target, 10);
        assert_eq!(closest.len(), 10.min(table.len()));
        for pair in closest.windows(2) {
            assert_ne!(closer(&target, &pair[0].key, &pair[1].key), Ordering::Greater);
        }
        // Nothing outside the result is closer than its last element.
        let last = closest.last().map(|e| e.key.distance(&target)).expect("non-empty");
        let inside: Vec<PeerId> = closest.iter().map(|e| e.peer).collect();
        for peer in table.peers() {
            if !inside.contains(&peer) {
                assert!(Key::from_peer(&peer).distance(&target) >= last);
            }
        }
    }

    #[test]
    fn self_is_never_inserted() {
        let me = PeerId::random();
        let mut table = RoutingTable::new(Key::from_peer(&me), 20);
        assert_eq!(table.insert(me, &[]), Insert::SelfKey);
        assert!(table.is_empty());
    }
}
