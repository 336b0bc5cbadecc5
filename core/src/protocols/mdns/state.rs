//! The mDNS state machine: when to query, what to answer, which peers are
//! known and until when. No I/O, no clock: the driver passes `now`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::MdnsError;
use super::wire::{self, Announcement, Packet};
use crate::identity::PeerId;
use crate::multiaddr::{Multiaddr, Protocol};

/// mDNS settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The steady interval between queries (rust-libp2p: 5 min).
    pub query_interval: Duration,
    /// The wait before the first query. RFC 6762 §5.2 asks for 20-120 ms; it
    /// also leaves the caller time to subscribe to events before the first
    /// answers arrive.
    pub first_query_delay: Duration,
    /// The first interval after start; it doubles up to `query_interval`
    /// until someone answers (rust-libp2p: 500 ms).
    pub initial_interval: Duration,
    /// The TTL we announce for our addresses (rust-libp2p: 6 min).
    pub ttl: Duration,
    /// The longest TTL we believe from others.
    pub max_ttl: Duration,
    /// Peers remembered at once; others are ignored until some expire.
    pub max_peers: usize,
    /// Addresses remembered per peer.
    pub max_addrs_per_peer: usize,
    /// Responses sent per second at most (a query flood cannot make us flood).
    pub max_responses_per_second: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            query_interval: Duration::from_secs(5 * 60),
            first_query_delay: Duration::from_millis(100),
            initial_interval: Duration::from_millis(500),
            ttl: Duration::from_secs(6 * 60),
            max_ttl: Duration::from_secs(60 * 60),
            max_peers: 256,
            max_addrs_per_peer: 16,
            max_responses_per_second: 10,
        }
    }
}

/// Something learned from the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MdnsEvent {
    /// A peer is new, or has new addresses (`addrs`: the new ones, without
    /// `/p2p/`), valid for `ttl`.
    Discovered {
        /// The peer.
        peer: PeerId,
        /// Its new addresses.
        addrs: Vec<Multiaddr>,
        /// How long they hold.
        ttl: Duration,
    },
    /// A known peer announced known addresses again: they hold for `ttl`
    /// from now (keep them in the peer store as long).
    Refreshed {
        /// The peer.
        peer: PeerId,
        /// The addresses announced again.
        addrs: Vec<Multiaddr>,
        /// How long they hold.
        ttl: Duration,
    },
    /// Every address of a peer expired (or it said goodbye).
    Expired {
        /// The peer.
        peer: PeerId,
    },
}

/// What to do about a received datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Answer with [`Mdns::response`] on each interface.
    Answer {
        /// The query's message ID.
        id: u16,
    },
    /// Answer the DNS-SD meta query with [`Mdns::service_response`].
    AnswerService {
        /// The query's message ID.
        id: u16,
    },
    /// Peers learned (possibly none).
    Events(Vec<MdnsEvent>),
}

/// The mDNS state of one node.
pub struct Mdns {
    config: Config,
    local: PeerId,
    peer_name: String,
    next_query: Instant,
    /// The current interval while probing; `None` once at the steady rate.
    probing: Option<Duration>,
    /// Known peers: each address with its expiry.
    peers: HashMap<PeerId, Vec<(Multiaddr, Instant)>>,
    /// Responses sent in the current one-second window, and its start.
    responses: (u32, Instant),
}

impl Mdns {
    /// A node `local` known on the link as `peer_name` (a random lower-case
    /// alphanumeric label, see [`random_peer_name`]); the first query is due
    /// `first_query_delay` after `now`.
    pub fn new(config: Config, local: PeerId, peer_name: String, now: Instant) -> Result<Mdns, MdnsError> {
        wire::instance_name(&peer_name)?;
        let probing = Some(config.initial_interval.min(config.query_interval));
        let next_query = now + config.first_query_delay;
        Ok(Mdns { config, local, peer_name, next_query, probing, peers: HashMap::new(), responses: (0, now) })
    }

    /// The next instant [`Mdns::handle_timeout`] has work: a query or an expiry.
    pub fn poll_timeout(&self) -> Instant {
        self.peers.values().flatten().map(|(_, expiry)| *expiry).fold(self.next_query, Instant::min)
    }

    /// Runs what is due at `now`: returns the query datagram to multicast (if
    /// one is due) and the peers that expired.
    pub fn handle_timeout(&mut self, now: Instant) -> (Option<Vec<u8>>, Vec<MdnsEvent>) {
        let mut query = None;
        if now >= self.next_query {
            query = wire::encode_query(0).ok();
            let interval = match self.probing {
                Some(interval) => {
                    let next = interval.saturating_mul(2);
                    self.probing = (next < self.config.query_interval).then_some(next);
                    interval
                }
                None => self.config.query_interval,
            };
            self.next_query = now + interval;
        }
        (query, self.expire(now))
    }

    fn expire(&mut self, now: Instant) -> Vec<MdnsEvent> {
        let mut gone = Vec::new();
        self.peers.retain(|peer, addrs| {
            addrs.retain(|(_, expiry)| *expiry > now);
            if addrs.is_empty() {
                gone.push(MdnsEvent::Expired { peer: *peer });
            }
            !addrs.is_empty()
        });
        gone
    }

    /// Handles a datagram from `source`; `source_is_local` says whether
    /// `source` is one of this host's addresses (loopback addresses are only
    /// believed from this host).
    pub fn handle_datagram(
        &mut self,
        bytes: &[u8],
        source: IpAddr,
        source_is_local: bool,
        now: Instant,
    ) -> Result<Received, MdnsError> {
        match wire::decode(bytes)? {
            Packet::Query { id } if self.may_respond(now) => Ok(Received::Answer { id }),
            Packet::ServiceQuery { id } if self.may_respond(now) => Ok(Received::AnswerService { id }),
            Packet::Query { .. } | Packet::ServiceQuery { .. } | Packet::Unrelated => Ok(Received::Events(Vec::new())),
            Packet::Response(announcements) => {
                let local_ok = source_is_local || source.is_loopback();
                let events = announcements.into_iter().flat_map(|a| self.learn(a, local_ok, now)).collect();
                Ok(Received::Events(events))
            }
        }
    }

    fn may_respond(&mut self, now: Instant) -> bool {
        let (count, start) = &mut self.responses;
        if now.saturating_duration_since(*start) >= Duration::from_secs(1) {
            *count = 0;
            *start = now;
        }
        if *count >= self.config.max_responses_per_second {
            return false;
        }
        *count += 1;
        true
    }

    /// Records an announcement; returns what is new about the peer, and
    /// what it announced again.
    fn learn(&mut self, announcement: Announcement, local_ok: bool, now: Instant) -> Vec<MdnsEvent> {
        let Announcement { peer, addrs, ttl } = announcement;
        if peer == self.local {
            return Vec::new();
        }
        if ttl.is_zero() {
            return self.peers.remove(&peer).map(|_| MdnsEvent::Expired { peer }).into_iter().collect();
        }
        let ttl = ttl.min(self.config.max_ttl);
        let usable: Vec<Multiaddr> = addrs.into_iter().filter(|a| local_ok || !is_loopback(a)).collect();
        if usable.is_empty() || (!self.peers.contains_key(&peer) && self.peers.len() >= self.config.max_peers) {
            return Vec::new();
        }
        let known = self.peers.entry(peer).or_default();
        let (mut new, mut again) = (Vec::new(), Vec::new());
        for addr in usable {
            if let Some(entry) = known.iter_mut().find(|(a, _)| *a == addr) {
                entry.1 = now + ttl;
                again.push(addr);
            } else if known.len() < self.config.max_addrs_per_peer {
                known.push((addr.clone(), now + ttl));
                new.push(addr);
            }
        }
        let mut events = Vec::new();
        if !new.is_empty() {
            events.push(MdnsEvent::Discovered { peer, addrs: new, ttl });
        }
        if !again.is_empty() {
            events.push(MdnsEvent::Refreshed { peer, addrs: again, ttl });
        }
        events
    }

    /// The response datagrams announcing `addrs` (our listen addresses on
    /// the interface the response goes out on).
    pub fn response(&self, id: u16, addrs: &[Multiaddr]) -> Vec<Vec<u8>> {
        wire::encode_response(id, &self.peer_name, &self.local, addrs, self.config.ttl).unwrap_or_default()
    }

    /// The answer to the DNS-SD meta query.
    pub fn service_response(&self, id: u16) -> Option<Vec<u8>> {
        wire::encode_service_response(id, self.config.ttl).ok()
    }

    /// The peers known now, with their addresses.
    pub fn peers(&self) -> impl Iterator<Item = (&PeerId, impl Iterator<Item = &Multiaddr>)> {
        self.peers.iter().map(|(peer, addrs)| (peer, addrs.iter().map(|(a, _)| a)))
    }
}

fn is_loopback(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// A peer name as the spec asks: random, lower-case alphanumeric, 32 to 63
/// characters (never the peer ID, which could outgrow a DNS label).
pub fn random_peer_name() -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 40];
    // SystemRandom fails only without an OS random source; a fixed-length
    // name of zeros' letters is still a valid label then.
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}
