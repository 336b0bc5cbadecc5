//! The connection manager: keeps the number of open connections between two
//! watermarks by closing the least valuable ones, after go-libp2p's
//! `BasicConnMgr` (`p2p/net/connmgr`).
//!
//! The local application gives peers value with tags (`tag_peer(peer,
//! "kad", 5)`); a peer's value is the sum of its tags. When more than the
//! high watermark of connections are open, the manager picks connections to
//! close, lowest-valued peers first, until the low watermark is left. It
//! never picks a protected peer (`protect(peer, tag)`) nor a connection
//! opened less than the grace period ago (it has not had time to prove
//! useful).
//!
//! As in go, protected peers and connections in their grace period are
//! outside the budget: the manager trims the *trimmable* connections down to
//! the low watermark, so a burst of new connections does not evict
//! established ones, and a node with many protected peers keeps them all.
//! All connections of a chosen peer are closed together (closing one of two
//! connections to a peer frees little), so a trim may go slightly below the
//! low watermark. Among peers of equal value, the order is by peer ID, so a
//! trim is deterministic.
//!
//! The manager does no I/O and reads no clock: it holds the tags and
//! protections, and a trim takes `now` and the list of open connections and
//! returns which to close.
//!
//! # How the swarm uses this
//!
//! - **A connection is established**: after adding it to the pool, call
//!   [`ConnManager::poll_trim`] with `now` and every open connection
//!   (`ConnectionEntry { key: connection id, peer, opened_at }`); close the
//!   returned connections. `poll_trim` returns nothing unless the count is
//!   above the high watermark and the silence period has passed since the
//!   last trim, so calling it on every connection is cheap.
//! - **Periodically**: a timer every [`ConnManager::check_interval`] (the
//!   silence period) calls `poll_trim` the same way.
//! - **On demand** (a node command, low memory): [`ConnManager::trim`] trims
//!   down to the low watermark now, ignoring the high watermark and the
//!   silence period.
//! - **The last connection to a peer closes**: [`ConnManager::peer_disconnected`]
//!   forgets its tags (go does the same; protections stay).
//! - The node's API forwards `tag_peer`, `untag_peer`, `upsert_tag`,
//!   `protect`, `unprotect` to this object.
//!
//! Tag decay (go's decaying tags) is not implemented.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::PeerId;

/// How a [`ConnManager`] trims. The defaults are go-libp2p's host defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnManagerConfig {
    /// Trims leave this many trimmable connections open (default 160).
    pub low_watermark: usize,
    /// A trim is due when more than this many connections are open (default
    /// 192). 0 disables trimming. The default is above the resource manager's
    /// default system connection limit on machines with less than 4 GiB of
    /// memory (128 + 128 per GiB of an eighth of memory): there the swarm
    /// should lower both watermarks to fit (see
    /// [`ConnManager::high_watermark_exceeds`]).
    pub high_watermark: usize,
    /// Connections younger than this are never trimmed (default 1 minute:
    /// long enough for identify and the first protocol exchange).
    pub grace_period: Duration,
    /// The least time between two automatic trims, and the period of the
    /// swarm's check (default 10 s), so a flood of connections does not
    /// cause a trim per connection.
    pub silence_period: Duration,
    /// Tags (and, apart, protection tags) per peer (default 32).
    pub max_tags_per_peer: usize,
    /// The longest tag name in bytes (default 128).
    pub max_tag_len: usize,
    /// Peers with tags or protections at once (default 10 000, the swarm's
    /// peer table size).
    pub max_tracked_peers: usize,
}

impl Default for ConnManagerConfig {
    fn default() -> Self {
        ConnManagerConfig {
            low_watermark: 160,
            high_watermark: 192,
            grace_period: Duration::from_secs(60),
            silence_period: Duration::from_secs(10),
            max_tags_per_peer: 32,
            max_tag_len: 128,
            max_tracked_peers: 10_000,
        }
    }
}

/// Why a tag or protection was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The tag name is longer than `max_tag_len`.
    #[error("tag of {len} bytes is longer than the limit of {max}")]
    TagTooLong {
        /// The tag's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The peer already has `max_tags_per_peer` tags (or protections).
    #[error("peer already has {max} tags")]
    TooManyTags {
        /// The limit.
        max: usize,
    },
    /// `max_tracked_peers` peers already have tags or protections.
    #[error("already tracking {max} peers")]
    TooManyPeers {
        /// The limit.
        max: usize,
    },
}

/// One open connection, as a trim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionEntry<K> {
    /// What the swarm uses to close it (a connection ID).
    pub key: K,
    /// The remote peer.
    pub peer: PeerId,
    /// When it was established.
    pub opened_at: Instant,
}

#[derive(Debug, Default)]
struct PeerEntry {
    tags: HashMap<String, i64>,
    /// The sum of `tags`, kept up to date.
    value: i64,
    protections: HashSet<String>,
}

impl PeerEntry {
    fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.protections.is_empty()
    }
}

/// Tags, protections, and the choice of connections to close.
#[derive(Debug)]
pub struct ConnManager {
    config: ConnManagerConfig,
    peers: HashMap<PeerId, PeerEntry>,
    last_trim: Option<Instant>,
}

impl ConnManager {
    /// A manager with `config`.
    pub fn new(config: ConnManagerConfig) -> ConnManager {
        ConnManager { config, peers: HashMap::new(), last_trim: None }
    }

    /// The configuration.
    pub fn config(&self) -> &ConnManagerConfig {
        &self.config
    }

    /// Whether the high watermark is above `system_conns`, the resource
    /// manager's system connection limit: the limit would then refuse
    /// connections before a trim ever made room (go-libp2p checks the same at
    /// start-up).
    pub fn high_watermark_exceeds(&self, system_conns: u64) -> bool {
        u64::try_from(self.config.high_watermark).unwrap_or(u64::MAX) > system_conns
    }

    /// How often the swarm should call [`ConnManager::poll_trim`].
    pub fn check_interval(&self) -> Duration {
        self.config.silence_period
    }

    /// Sets `peer`'s tag `tag` to `value`.
    pub fn tag_peer(&mut self, peer: PeerId, tag: &str, value: i64) -> Result<(), TagError> {
        self.upsert_tag(peer, tag, |_| value)
    }

    /// Sets `peer`'s tag `tag` to `update(old)`, where `old` is 0 if the tag
    /// was not set.
    pub fn upsert_tag(&mut self, peer: PeerId, tag: &str, update: impl FnOnce(i64) -> i64) -> Result<(), TagError> {
        self.check_new_tag(peer, tag, |entry| entry.tags.contains_key(tag), |entry| entry.tags.len())?;
        let entry = self.peers.entry(peer).or_default();
        let old = entry.tags.get(tag).copied().unwrap_or(0);
        let new = update(old);
        match entry.tags.get_mut(tag) {
            Some(value) => *value = new,
            None => {
                entry.tags.insert(tag.to_string(), new);
            }
        }
        entry.value = entry.value.saturating_sub(old).saturating_add(new);
        Ok(())
    }

    /// Removes `peer`'s tag `tag`.
    pub fn untag_peer(&mut self, peer: PeerId, tag: &str) {
        if let Some(entry) = self.peers.get_mut(&peer) {
            if let Some(old) = entry.tags.remove(tag) {
                entry.value = entry.value.saturating_sub(old);
            }
            self.forget_if_empty(peer);
        }
    }

    /// The sum of `peer`'s tags.
    pub fn peer_value(&self, peer: PeerId) -> i64 {
        self.peers.get(&peer).map_or(0, |entry| entry.value)
    }

    /// Protects `peer` from trims under `tag` (several parts of the
    /// application may protect the same peer, each under its own tag).
    pub fn protect(&mut self, peer: PeerId, tag: &str) -> Result<(), TagError> {
        self.check_new_tag(peer, tag, |entry| entry.protections.contains(tag), |entry| entry.protections.len())?;
        let entry = self.peers.entry(peer).or_default();
        if !entry.protections.contains(tag) {
            entry.protections.insert(tag.to_string());
        }
        Ok(())
    }

    /// Removes the protection `tag` from `peer`; returns whether the peer is
    /// still protected under another tag.
    pub fn unprotect(&mut self, peer: PeerId, tag: &str) -> bool {
        let Some(entry) = self.peers.get_mut(&peer) else {
            return false;
        };
        entry.protections.remove(tag);
        let still = !entry.protections.is_empty();
        self.forget_if_empty(peer);
        still
    }

    /// Whether `peer` is protected under `tag`, or under any tag if `None`.
    pub fn is_protected(&self, peer: PeerId, tag: Option<&str>) -> bool {
        self.peers.get(&peer).is_some_and(|entry| match tag {
            Some(tag) => entry.protections.contains(tag),
            None => !entry.protections.is_empty(),
        })
    }

    /// Forgets `peer`'s tags (its protections stay): call when its last
    /// connection closes.
    pub fn peer_disconnected(&mut self, peer: PeerId) {
        if let Some(entry) = self.peers.get_mut(&peer) {
            entry.tags.clear();
            entry.value = 0;
            self.forget_if_empty(peer);
        }
    }

    /// How many peers have tags or protections.
    pub fn tracked_peers(&self) -> usize {
        self.peers.len()
    }

    /// Whether an automatic trim is due: more than the high watermark of
    /// connections open, and the silence period passed since the last trim.
    pub fn trim_due(&self, now: Instant, open_connections: usize) -> bool {
        let high = self.config.high_watermark;
        let silent =
            self.last_trim.is_none_or(|last| now.saturating_duration_since(last) >= self.config.silence_period);
        high > 0 && open_connections > high && silent
    }

    /// The connections to close now if a trim is due (see
    /// [`ConnManager::trim_due`]), else none.
    pub fn poll_trim<K: Copy>(&mut self, now: Instant, connections: &[ConnectionEntry<K>]) -> Vec<K> {
        if !self.trim_due(now, connections.len()) {
            return Vec::new();
        }
        self.trim(now, connections)
    }

    /// The connections to close to bring the trimmable ones down to the low
    /// watermark, whatever the high watermark and the last trim: the
    /// lowest-valued peers first, never a protected peer, never a connection
    /// within its grace period.
    pub fn trim<K: Copy>(&mut self, now: Instant, connections: &[ConnectionEntry<K>]) -> Vec<K> {
        self.last_trim = Some(now);
        // Trimmable connections, grouped by peer in the order first seen.
        let mut groups: Vec<(PeerId, Vec<K>)> = Vec::new();
        let mut group_of: HashMap<PeerId, usize> = HashMap::new();
        let mut trimmable: usize = 0;
        for connection in connections {
            let in_grace = now.saturating_duration_since(connection.opened_at) < self.config.grace_period;
            if in_grace || self.is_protected(connection.peer, None) {
                continue;
            }
            let index = *group_of.entry(connection.peer).or_insert_with(|| {
                groups.push((connection.peer, Vec::new()));
                groups.len() - 1
            });
            groups[index].1.push(connection.key);
            trimmable += 1;
        }
        let Some(mut to_close) = trimmable.checked_sub(self.config.low_watermark).filter(|n| *n > 0) else {
            return Vec::new();
        };
        groups.sort_by_key(|(peer, _)| (self.peer_value(*peer), *peer));
        let mut chosen = Vec::with_capacity(to_close);
        for (_, keys) in groups {
            if to_close == 0 {
                break;
            }
            to_close = to_close.saturating_sub(keys.len());
            chosen.extend(keys);
        }
        chosen
    }

    /// Checks that `peer` may take `tag` (of the kind `has` looks up and
    /// `count` counts) within the bounds.
    fn check_new_tag(
        &self,
        peer: PeerId,
        tag: &str,
        has: impl Fn(&PeerEntry) -> bool,
        count: impl Fn(&PeerEntry) -> usize,
    ) -> Result<(), TagError> {
        let config = &self.config;
        if tag.len() > config.max_tag_len {
            return Err(TagError::TagTooLong { len: tag.len(), max: config.max_tag_len });
        }
        let (has, count) = match self.peers.get(&peer) {
            Some(entry) => (has(entry), count(entry)),
            None if self.peers.len() >= config.max_tracked_peers => {
                return Err(TagError::TooManyPeers { max: config.max_tracked_peers });
            }
            None => (false, 0),
        };
        if !has && count >= config.max_tags_per_peer {
            return Err(TagError::TooManyTags { max: config.max_tags_per_peer });
        }
        Ok(())
    }

    fn forget_if_empty(&mut self, peer: PeerId) {
        if self.peers.get(&peer).is_some_and(PeerEntry::is_empty) {
            self.peers.remove(&peer);
        }
    }
}

#[cfg(test)]
mod tests;
