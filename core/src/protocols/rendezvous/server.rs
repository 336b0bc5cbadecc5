//! The rendezvous point: registrations by namespace, a state machine without
//! I/O. [`Server::handle`] takes the sender, a request and `now`, and returns
//! the answer to send (none for `UNREGISTER`).
//!
//! Each registration gets a sequence number that only grows; a cookie is the
//! highest number a client has seen (8 bytes, big-endian) followed by the
//! namespace of its query, the layout rust-libp2p's client parses. A
//! `DISCOVER` with a cookie returns registrations numbered past it, so a
//! client polls for new ones, and a page cut by the limit continues where it
//! stopped. A refreshed registration gets a new number: pollers see it again.
//! Cookie arithmetic is checked: a cookie naming a number never given out
//! (such as `u64::MAX`) is refused with `E_INVALID_COOKIE`.
//!
//! Quotas (each refused with `E_UNAVAILABLE`): registrations per peer
//! across namespaces, per IP group of the registering connection (an IPv4
//! address or an IPv6 /64, so that many peer IDs on one host cannot fill the
//! point), and in total.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::{
    DEFAULT_TTL, Discover, MAX_COOKIE_LEN, MAX_DISCOVER_LIMIT, MAX_MESSAGE_LEN, MAX_TTL, MIN_TTL, Message, Register,
    Status, valid_namespace,
};
use crate::identity::PeerId;
use crate::identity::record::{LEGACY_PAYLOAD_TYPE, PeerRecord};
use crate::peerstore::IpGroup;

/// The limits of a rendezvous point.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The shortest TTL accepted, seconds (default 2 h).
    pub min_ttl: u64,
    /// The longest TTL accepted, seconds (default 72 h, the spec's maximum).
    pub max_ttl: u64,
    /// Registrations one peer may hold (default 1,000, the spec's recommendation).
    pub max_registrations_per_peer: usize,
    /// Registrations the peers of one IP group may hold together (default
    /// 1,000: one peer's worth; connections without IP, such as the memory
    /// transport's, are not counted).
    pub max_registrations_per_ip: usize,
    /// Registrations in total (default 10,000).
    pub max_registrations: usize,
    /// The most registrations one `DISCOVER` returns (default 1,000).
    pub max_discover_limit: u64,
    /// The largest signed peer record accepted, bytes (default 8 KiB).
    pub max_record_len: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            min_ttl: MIN_TTL,
            max_ttl: MAX_TTL,
            max_registrations_per_peer: 1000,
            max_registrations_per_ip: 1000,
            max_registrations: 10_000,
            max_discover_limit: MAX_DISCOVER_LIMIT,
            max_record_len: 8 * 1024,
        }
    }
}

/// One stored registration.
#[derive(Debug, Clone)]
struct Entry {
    peer: PeerId,
    namespace: String,
    signed_peer_record: Vec<u8>,
    /// Sealed in the legacy envelope form (rust-libp2p's).
    legacy: bool,
    expires: Instant,
    /// The IP group of the connection it was registered over.
    ip: Option<IpGroup>,
}

/// Why a cookie is refused (all answered with `E_INVALID_COOKIE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// Not 8 bytes of sequence number and a namespace, or too long.
    #[error("malformed cookie")]
    Malformed,
    /// Made for a query of another namespace.
    #[error("cookie of another query")]
    OtherQuery,
    /// Names a sequence number this point never gave out (a forged cookie,
    /// `u64::MAX`, or one from before a restart).
    #[error("cookie names sequence number {0}, never given out")]
    NotIssued(u64),
}

/// The registrations of a rendezvous point.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    /// The last sequence number given out.
    last_seq: u64,
    by_seq: BTreeMap<u64, Entry>,
    by_key: HashMap<(PeerId, String), u64>,
    per_peer: HashMap<PeerId, usize>,
    /// Registrations per IP group. Bounded: a group is present only while it
    /// counts a live registration (at most `max_registrations` groups).
    per_ip: HashMap<IpGroup, usize>,
    expiry: BTreeSet<(Instant, u64)>,
}

/// Room in a `DISCOVER_RESPONSE` for everything but the registrations.
const RESPONSE_OVERHEAD: usize = 1024;

impl Server {
    /// An empty point with `config`'s limits.
    pub fn new(config: ServerConfig) -> Server {
        Server {
            config,
            last_seq: 0,
            by_seq: BTreeMap::new(),
            by_key: HashMap::new(),
            per_peer: HashMap::new(),
            per_ip: HashMap::new(),
            expiry: BTreeSet::new(),
        }
    }

    /// How many registrations are live (as of the last call).
    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// Whether no registration is live.
    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    /// When the next registration expires, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.first().map(|(at, _)| *at)
    }

    /// Handles a request from `from` at `now`; returns the answer to send.
    /// Answers and unsolicited responses from a client get no answer.
    pub fn handle(&mut self, from: PeerId, request: Message, now: Instant) -> Option<Message> {
        self.handle_for(from, request, now, false)
    }

    /// As [`Server::handle`], for a discoverer that verifies only the legacy
    /// envelope form of peer records when `legacy_only` (rust-libp2p 0.57,
    /// which drops a whole answer over one record it cannot verify): records
    /// in the standard form are left out of its answers.
    pub fn handle_for(&mut self, from: PeerId, request: Message, now: Instant, legacy_only: bool) -> Option<Message> {
        self.handle_from(from, None, request, now, legacy_only)
    }

    /// As [`Server::handle_for`], for a request that came over a connection
    /// from `ip` (counted against the per-IP quota; `None`: not counted).
    pub fn handle_from(
        &mut self,
        from: PeerId,
        ip: Option<IpGroup>,
        request: Message,
        now: Instant,
        legacy_only: bool,
    ) -> Option<Message> {
        self.expire(now);
        match request {
            Message::Register(r) => Some(self.register(from, ip, r, now)),
            Message::Unregister { namespace } => {
                self.remove(&(from, namespace));
                None
            }
            Message::Discover(d) => Some(self.discover(d, now, legacy_only)),
            Message::RegisterResponse { .. } | Message::DiscoverResponse { .. } => None,
        }
    }

    /// Drops registrations whose TTL ran out by `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(at, seq)) = self.expiry.first() {
            if at > now {
                break;
            }
            self.expiry.pop_first();
            if let Some(entry) = self.by_seq.remove(&seq) {
                self.forget(&entry);
            }
        }
    }

    fn forget(&mut self, entry: &Entry) {
        self.by_key.remove(&(entry.peer, entry.namespace.clone()));
        decrement(&mut self.per_peer, &entry.peer);
        if let Some(ip) = &entry.ip {
            decrement(&mut self.per_ip, ip);
        }
    }

    fn remove(&mut self, key: &(PeerId, String)) {
        if let Some(seq) = self.by_key.get(key).copied()
            && let Some(entry) = self.by_seq.remove(&seq)
        {
            self.expiry.remove(&(entry.expires, seq));
            self.forget(&entry);
        }
    }

    fn register(&mut self, from: PeerId, ip: Option<IpGroup>, r: Register, now: Instant) -> Message {
        match self.try_register(from, ip, r, now) {
            Ok(ttl) => Message::RegisterResponse { status: Status::Ok, text: String::new(), ttl: Some(ttl) },
            Err((status, text)) => Message::RegisterResponse { status, text: text.into(), ttl: None },
        }
    }

    fn try_register(
        &mut self,
        from: PeerId,
        ip: Option<IpGroup>,
        r: Register,
        now: Instant,
    ) -> Result<u64, (Status, &'static str)> {
        if !valid_namespace(&r.namespace) {
            return Err((Status::InvalidNamespace, "namespace must be 1 to 255 bytes"));
        }
        let ttl = r.ttl.unwrap_or(DEFAULT_TTL);
        if ttl < self.config.min_ttl || ttl > self.config.max_ttl {
            return Err((Status::InvalidTtl, "ttl out of bounds"));
        }
        if r.signed_peer_record.len() > self.config.max_record_len {
            return Err((Status::InvalidSignedPeerRecord, "signed peer record too large"));
        }
        let (record, legacy) = match PeerRecord::from_envelope_bytes(&r.signed_peer_record) {
            Ok((record, envelope)) => (record, envelope.payload_type() == LEGACY_PAYLOAD_TYPE),
            Err(_) => return Err((Status::InvalidSignedPeerRecord, "signed peer record does not verify")),
        };
        // Only the peer itself may register itself.
        if record.peer_id != from {
            return Err((Status::NotAuthorized, "the record is not the sender's"));
        }
        let key = (from, r.namespace.clone());
        let previous_ip = self.by_key.get(&key).and_then(|seq| self.by_seq.get(seq)).map(|e| e.ip);
        if previous_ip.is_none() {
            if self.per_peer.get(&from).copied().unwrap_or(0) >= self.config.max_registrations_per_peer {
                return Err((Status::Unavailable, "too many registrations of this peer"));
            }
            if self.by_seq.len() >= self.config.max_registrations {
                return Err((Status::Unavailable, "the rendezvous point is full"));
            }
        }
        // A new registration, or a refresh from another IP group, counts
        // against the IP's quota.
        if let Some(group) = &ip
            && previous_ip != Some(ip)
            && self.per_ip.get(group).copied().unwrap_or(0) >= self.config.max_registrations_per_ip
        {
            return Err((Status::Unavailable, "too many registrations from this IP"));
        }
        let Some(seq) = self.last_seq.checked_add(1) else {
            return Err((Status::Unavailable, "sequence numbers exhausted"));
        };
        self.remove(&key);
        self.last_seq = seq;
        let expires = now + Duration::from_secs(ttl);
        let entry =
            Entry { peer: from, namespace: r.namespace, signed_peer_record: r.signed_peer_record, legacy, expires, ip };
        self.by_seq.insert(seq, entry);
        self.by_key.insert(key, seq);
        *self.per_peer.entry(from).or_insert(0) += 1;
        if let Some(ip) = ip {
            *self.per_ip.entry(ip).or_insert(0) += 1;
        }
        self.expiry.insert((expires, seq));
        Ok(ttl)
    }

    fn discover(&mut self, d: Discover, now: Instant, legacy_only: bool) -> Message {
        let refuse = |status, text: &str| Message::DiscoverResponse {
            status,
            text: text.into(),
            registrations: Vec::new(),
            cookie: None,
        };
        if let Some(ns) = &d.namespace
            && !valid_namespace(ns)
        {
            return refuse(Status::InvalidNamespace, "namespace must be 1 to 255 bytes");
        }
        let after = match &d.cookie {
            None => 0,
            Some(cookie) => match self.parse_cookie(cookie, d.namespace.as_deref()) {
                Ok(seq) => seq,
                Err(e) => return refuse(Status::InvalidCookie, &e.to_string()),
            },
        };
        // Checked: after the last possible number there is nothing newer (no wrap to 0).
        let newer = match after.checked_add(1) {
            Some(first) => self.by_seq.range(first..),
            None => self.by_seq.range(0..0),
        };
        let limit = d.limit.unwrap_or(u64::MAX).min(self.config.max_discover_limit) as usize;
        let mut registrations = Vec::new();
        let mut size = RESPONSE_OVERHEAD;
        // Where the next page starts: everything up to here has been looked at.
        let mut seen = self.last_seq.max(after);
        let wanted =
            |e: &&Entry| d.namespace.as_ref().is_none_or(|ns| *ns == e.namespace) && (e.legacy || !legacy_only);
        for (&seq, entry) in newer {
            if !wanted(&entry) {
                continue;
            }
            let entry_size = entry.signed_peer_record.len() + entry.namespace.len() + 32;
            if registrations.len() == limit || size + entry_size > MAX_MESSAGE_LEN {
                // `seq > after >= 0`: no underflow.
                seen = seq.saturating_sub(1);
                break;
            }
            size += entry_size;
            let remaining = entry.expires.saturating_duration_since(now).as_secs().max(1);
            registrations.push(Register {
                namespace: entry.namespace.clone(),
                signed_peer_record: entry.signed_peer_record.clone(),
                ttl: Some(remaining),
            });
        }
        Message::DiscoverResponse {
            status: Status::Ok,
            text: String::new(),
            registrations,
            cookie: Some(make_cookie(seen, d.namespace.as_deref())),
        }
    }
}

/// A cookie: the last sequence number seen, then the query's namespace.
fn make_cookie(seq: u64, namespace: Option<&str>) -> Vec<u8> {
    let mut cookie = seq.to_be_bytes().to_vec();
    cookie.extend_from_slice(namespace.unwrap_or("").as_bytes());
    cookie
}

impl Server {
    /// The sequence number of a cookie this point made for the same query.
    fn parse_cookie(&self, cookie: &[u8], namespace: Option<&str>) -> Result<u64, CookieError> {
        if cookie.len() < 8 || cookie.len() > MAX_COOKIE_LEN {
            return Err(CookieError::Malformed);
        }
        let (seq, ns) = cookie.split_at(8);
        if ns != namespace.unwrap_or("").as_bytes() {
            return Err(CookieError::OtherQuery);
        }
        let seq = u64::from_be_bytes(seq.try_into().map_err(|_| CookieError::Malformed)?);
        // Our cookies name numbers we gave out (or 0); anything past the last is forged.
        if seq > self.last_seq {
            return Err(CookieError::NotIssued(seq));
        }
        Ok(seq)
    }
}

/// Decrements a count, removing it at zero (so the map holds live entries only).
fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = map.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    fn record_of(key: &Keypair) -> Vec<u8> {
        let addrs = vec!["/ip4/127.0.0.1/tcp/4001".parse().expect("addr")];
        PeerRecord::new(key, addrs).to_signed_envelope(key).expect("seals").encode()
    }

    fn register(ns: &str, key: &Keypair, ttl: Option<u64>) -> Message {
        Message::Register(Register { namespace: ns.into(), signed_peer_record: record_of(key), ttl })
    }

    fn status_of(answer: Option<Message>) -> (Status, Option<u64>) {
        match answer {
            Some(Message::RegisterResponse { status, ttl, .. }) => (status, ttl),
            other => panic!("not a register response: {other:?}"),
        }
    }

    fn discovered(answer: Option<Message>) -> (Vec<Register>, Vec<u8>) {
        match answer {
            Some(Message::DiscoverResponse { status: Status::Ok, registrations, cookie: Some(cookie), .. }) => {
                (registrations, cookie)
            }
            other => panic!("not a successful discover response: {other:?}"),
        }
    }

    fn discover(ns: Option<&str>, limit: Option<u64>, cookie: Option<Vec<u8>>) -> Message {
        Message::Discover(Discover { namespace: ns.map(str::to_string), limit, cookie })
    }

    #[test]
    fn register_discover_and_unregister() {
        let mut server = Server::new(ServerConfig::default());
        let (a, b, c) = (Keypair::generate_ed25519(), Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let now = Instant::now();
        assert_eq!(
            status_of(server.handle(a.public().to_peer_id(), register("app", &a, None), now)),
            (Status::Ok, Some(DEFAULT_TTL))
        );
        assert_eq!(
            status_of(server.handle(b.public().to_peer_id(), register("app", &b, Some(MAX_TTL)), now)).0,
            Status::Ok
        );
        assert_eq!(status_of(server.handle(c.public().to_peer_id(), register("other", &c, None), now)).0, Status::Ok);

        let (regs, _) = discovered(server.handle(c.public().to_peer_id(), discover(Some("app"), None, None), now));
        assert_eq!(regs.len(), 2);
        assert!(regs.iter().all(|r| r.namespace == "app"));
        assert_eq!(regs[0].signed_peer_record, record_of_stored(&server, 1));
        let (all, _) = discovered(server.handle(c.public().to_peer_id(), discover(None, None, None), now));
        assert_eq!(all.len(), 3);

        assert_eq!(server.handle(a.public().to_peer_id(), Message::Unregister { namespace: "app".into() }, now), None);
        // Unregistering what is not registered is a no-op.
        assert_eq!(server.handle(a.public().to_peer_id(), Message::Unregister { namespace: "nope".into() }, now), None);
        let (regs, _) = discovered(server.handle(c.public().to_peer_id(), discover(Some("app"), None, None), now));
        assert_eq!(regs.len(), 1);
        assert_eq!(server.len(), 2);
    }

    fn record_of_stored(server: &Server, seq: u64) -> Vec<u8> {
        server.by_seq.get(&seq).map(|e| e.signed_peer_record.clone()).unwrap_or_default()
    }

    #[test]
    fn ttl_bounds_namespace_length_and_authorization() {
        let mut server = Server::new(ServerConfig::default());
        let a = Keypair::generate_ed25519();
        let me = a.public().to_peer_id();
        let now = Instant::now();
        assert_eq!(status_of(server.handle(me, register("app", &a, Some(MIN_TTL - 1)), now)).0, Status::InvalidTtl);
        assert_eq!(status_of(server.handle(me, register("app", &a, Some(MAX_TTL + 1)), now)).0, Status::InvalidTtl);
        assert_eq!(status_of(server.handle(me, register("", &a, None), now)).0, Status::InvalidNamespace);
        let long = "x".repeat(256);
        assert_eq!(status_of(server.handle(me, register(&long, &a, None), now)).0, Status::InvalidNamespace);
        assert_eq!(status_of(server.handle(me, register(&"x".repeat(255), &a, None), now)).0, Status::Ok);
        // Someone else's record: refused.
        let other = Keypair::generate_ed25519();
        assert_eq!(status_of(server.handle(me, register("app", &other, None), now)).0, Status::NotAuthorized);
        // Garbage and tampered records.
        let garbage =
            Message::Register(Register { namespace: "app".into(), signed_peer_record: vec![1, 2, 3], ttl: None });
        assert_eq!(status_of(server.handle(me, garbage, now)).0, Status::InvalidSignedPeerRecord);
        let mut tampered = record_of(&a);
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let tampered = Message::Register(Register { namespace: "app".into(), signed_peer_record: tampered, ttl: None });
        assert_eq!(status_of(server.handle(me, tampered, now)).0, Status::InvalidSignedPeerRecord);
        let huge =
            Message::Register(Register { namespace: "app".into(), signed_peer_record: vec![0; 9000], ttl: None });
        assert_eq!(status_of(server.handle(me, huge, now)).0, Status::InvalidSignedPeerRecord);
        // Discover with a bad namespace.
        let answer = server.handle(me, discover(Some(&long), None, None), now);
        assert!(matches!(answer, Some(Message::DiscoverResponse { status: Status::InvalidNamespace, .. })));
        assert_eq!(server.len(), 1);
    }

    #[test]
    fn registrations_expire_and_refresh() {
        let mut server = Server::new(ServerConfig::default());
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ed25519();
        let now = Instant::now();
        server.handle(a.public().to_peer_id(), register("app", &a, Some(MIN_TTL)), now);
        server.handle(b.public().to_peer_id(), register("app", &b, Some(3 * MIN_TTL)), now);
        assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(MIN_TTL)));
        let later = now + Duration::from_secs(MIN_TTL - 1);
        let (regs, _) = discovered(server.handle(b.public().to_peer_id(), discover(Some("app"), None, None), later));
        assert_eq!(regs.len(), 2);
        assert_eq!(regs[0].ttl, Some(1), "the remaining TTL is reported");
        // a refreshes just before expiry: its new TTL supersedes the old one.
        assert_eq!(
            status_of(server.handle(a.public().to_peer_id(), register("app", &a, Some(MIN_TTL)), later)).0,
            Status::Ok
        );
        assert_eq!(server.len(), 2);
        let after_first = now + Duration::from_secs(MIN_TTL + 10);
        let (regs, _) =
            discovered(server.handle(b.public().to_peer_id(), discover(Some("app"), None, None), after_first));
        assert_eq!(regs.len(), 2, "the refreshed registration outlives its first TTL");
        let much_later = now + Duration::from_secs(2 * MIN_TTL + 10);
        server.expire(much_later);
        assert_eq!(server.len(), 1);
        server.expire(now + Duration::from_secs(3 * MIN_TTL));
        assert!(server.is_empty());
        assert!(server.per_peer.is_empty() && server.by_key.is_empty() && server.expiry.is_empty());
    }

    #[test]
    fn cookies_page_and_poll() {
        let mut server = Server::new(ServerConfig::default());
        let keys: Vec<Keypair> = (0..5).map(|_| Keypair::generate_ed25519()).collect();
        let asker = keys[0].public().to_peer_id();
        let now = Instant::now();
        for key in &keys[..3] {
            server.handle(key.public().to_peer_id(), register("app", key, None), now);
        }
        server.handle(keys[3].public().to_peer_id(), register("other", &keys[3], None), now);
        let (page1, cookie) = discovered(server.handle(asker, discover(Some("app"), Some(2), None), now));
        assert_eq!(page1.len(), 2);
        let (page2, cookie) = discovered(server.handle(asker, discover(Some("app"), Some(2), Some(cookie)), now));
        assert_eq!(page2.len(), 1);
        assert_ne!(page2[0], page1[0]);
        assert_ne!(page2[0], page1[1]);
        let (empty, cookie) = discovered(server.handle(asker, discover(Some("app"), None, Some(cookie)), now));
        assert!(empty.is_empty());
        // A new registration shows up on the next poll, alone.
        server.handle(keys[4].public().to_peer_id(), register("app", &keys[4], None), now);
        let (fresh, _) = discovered(server.handle(asker, discover(Some("app"), None, Some(cookie.clone())), now));
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].signed_peer_record, record_of_stored(&server, 5));
        // The cookie layout rust-libp2p parses: 8 bytes then the namespace.
        assert_eq!(&cookie[8..], b"app");
        // A cookie of another namespace, of "all", or garbage: E_INVALID_COOKIE.
        for (ns, bad) in [
            (Some("other"), cookie.clone()),
            (None, cookie.clone()),
            (Some("app"), vec![1, 2]),
            (Some("app"), vec![0; 300]),
        ] {
            let answer = server.handle(asker, discover(ns, None, Some(bad)), now);
            assert!(matches!(answer, Some(Message::DiscoverResponse { status: Status::InvalidCookie, .. })), "{ns:?}");
        }
    }

    #[test]
    fn registration_limits() {
        let config = ServerConfig { max_registrations_per_peer: 2, max_registrations: 3, ..ServerConfig::default() };
        let mut server = Server::new(config);
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ed25519();
        let (pa, pb) = (a.public().to_peer_id(), b.public().to_peer_id());
        let now = Instant::now();
        assert_eq!(status_of(server.handle(pa, register("n1", &a, None), now)).0, Status::Ok);
        assert_eq!(status_of(server.handle(pa, register("n2", &a, None), now)).0, Status::Ok);
        assert_eq!(status_of(server.handle(pa, register("n3", &a, None), now)).0, Status::Unavailable);
        // A refresh is not a new registration.
        assert_eq!(status_of(server.handle(pa, register("n2", &a, None), now)).0, Status::Ok);
        assert_eq!(status_of(server.handle(pb, register("n1", &b, None), now)).0, Status::Ok);
        assert_eq!(status_of(server.handle(pb, register("n2", &b, None), now)).0, Status::Unavailable);
        assert_eq!(server.len(), 3);
        server.handle(pa, Message::Unregister { namespace: "n1".into() }, now);
        assert_eq!(status_of(server.handle(pb, register("n2", &b, None), now)).0, Status::Ok);
    }

    #[test]
    fn discover_limit_is_capped() {
        let config = ServerConfig { max_discover_limit: 3, ..ServerConfig::default() };
        let mut server = Server::new(config);
        let now = Instant::now();
        let keys: Vec<Keypair> = (0..5).map(|_| Keypair::generate_ed25519()).collect();
        for key in &keys {
            server.handle(key.public().to_peer_id(), register("app", key, None), now);
        }
        let asker = keys[0].public().to_peer_id();
        let (regs, cookie) = discovered(server.handle(asker, discover(Some("app"), Some(100), None), now));
        assert_eq!(regs.len(), 3);
        let (rest, _) = discovered(server.handle(asker, discover(Some("app"), None, Some(cookie)), now));
        assert_eq!(rest.len(), 2);
    }

    #[test]
    fn legacy_only_discoverers_get_legacy_records_only() {
        let mut server = Server::new(ServerConfig::default());
        let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let now = Instant::now();
        server.handle(a.public().to_peer_id(), register("app", &a, None), now);
        let legacy = PeerRecord::new(&b, vec![]).to_legacy_signed_envelope(&b).expect("seals").encode();
        let msg =
            Message::Register(Register { namespace: "app".into(), signed_peer_record: legacy.clone(), ttl: None });
        assert_eq!(status_of(server.handle(b.public().to_peer_id(), msg, now)).0, Status::Ok);
        let asker = a.public().to_peer_id();
        let (all, _) = discovered(server.handle(asker, discover(Some("app"), None, None), now));
        assert_eq!(all.len(), 2);
        let (only, _) = discovered(server.handle_for(asker, discover(Some("app"), None, None), now, true));
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].signed_peer_record, legacy);
    }

    #[test]
    fn responses_get_no_answer() {
        let mut server = Server::new(ServerConfig::default());
        let me = Keypair::generate_ed25519().public().to_peer_id();
        let response = Message::RegisterResponse { status: Status::Ok, text: String::new(), ttl: Some(1) };
        assert_eq!(server.handle(me, response, Instant::now()), None);
    }

    #[test]
    fn registrations_per_ip_are_bounded_across_peer_ids() {
        let config =
            ServerConfig { max_registrations_per_peer: 3, max_registrations_per_ip: 5, ..ServerConfig::default() };
        let mut server = Server::new(config);
        let now = Instant::now();
        let host = Some(IpGroup::V4([203, 0, 113, 7]));
        let sybils: Vec<Keypair> = (0..6).map(|_| Keypair::generate_ed25519()).collect();
        let mut statuses = Vec::new();
        for key in &sybils {
            for ns in ["a", "b", "c", "d"] {
                let answer = server.handle_from(key.public().to_peer_id(), host, register(ns, key, None), now, false);
                statuses.push(status_of(answer).0);
            }
        }
        let ok = statuses.iter().filter(|s| **s == Status::Ok).count();
        assert_eq!(ok, 5, "one IP group holds at most 5");
        assert!(statuses.iter().all(|s| matches!(s, Status::Ok | Status::Unavailable)));
        // The first peer hit its own quota (3) before the IP's.
        assert_eq!(statuses[3], Status::Unavailable);
        // Another IPv6 host of the same /64 shares the quota; another /64 does not.
        let v6 = |last: u8| Some(IpGroup::of_ip(std::net::IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, last as u16])));
        let v6_other = Some(IpGroup::of_ip(std::net::IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1])));
        let mut v6_ok = 0;
        for (i, key) in sybils.iter().enumerate() {
            let answer =
                server.handle_from(key.public().to_peer_id(), v6(i as u8), register("v6", key, None), now, false);
            if status_of(answer).0 == Status::Ok {
                v6_ok += 1;
            }
        }
        assert_eq!(v6_ok, 5);
        let fresh = Keypair::generate_ed25519();
        let answer =
            server.handle_from(fresh.public().to_peer_id(), v6_other, register("v6", &fresh, None), now, false);
        assert_eq!(status_of(answer).0, Status::Ok);
        // A refresh from the same group is not a new registration.
        let first = &sybils[0];
        let answer = server.handle_from(first.public().to_peer_id(), host, register("a", first, None), now, false);
        assert_eq!(status_of(answer).0, Status::Ok);
        // Unregistering frees the group's room; expiry empties the tables.
        server.handle_from(
            first.public().to_peer_id(),
            host,
            Message::Unregister { namespace: "a".into() },
            now,
            false,
        );
        let late = &sybils[5];
        let answer = server.handle_from(late.public().to_peer_id(), host, register("a", late, None), now, false);
        assert_eq!(status_of(answer).0, Status::Ok);
        server.expire(now + Duration::from_secs(MAX_TTL + 1));
        assert!(server.per_ip.is_empty() && server.per_peer.is_empty() && server.is_empty());
    }

    #[test]
    fn cookies_past_the_last_number_are_refused_without_overflow() {
        let mut server = Server::new(ServerConfig::default());
        let key = Keypair::generate_ed25519();
        let me = key.public().to_peer_id();
        let now = Instant::now();
        server.handle(me, register("app", &key, None), now);
        for seq in [u64::MAX, u64::MAX - 1, 2] {
            let cookie = make_cookie(seq, Some("app"));
            assert_eq!(server.parse_cookie(&cookie, Some("app")), Err(CookieError::NotIssued(seq)));
            let answer = server.handle(me, discover(Some("app"), None, Some(cookie)), now);
            assert!(
                matches!(answer, Some(Message::DiscoverResponse { status: Status::InvalidCookie, cookie: None, .. })),
                "{seq}: {answer:?}"
            );
        }
        assert_eq!(server.parse_cookie(&[0; 3], None), Err(CookieError::Malformed));
        assert_eq!(server.parse_cookie(&make_cookie(1, Some("x")), Some("y")), Err(CookieError::OtherQuery));
        // The last number given out is a valid cookie: nothing newer.
        let (regs, _) =
            discovered(server.handle(me, discover(Some("app"), None, Some(make_cookie(1, Some("app")))), now));
        assert!(regs.is_empty());
        // Sequence numbers are never wrapped: at the end, registering is refused.
        server.last_seq = u64::MAX;
        let other = Keypair::generate_ed25519();
        let answer = server.handle(other.public().to_peer_id(), register("app", &other, None), now);
        assert_eq!(status_of(answer).0, Status::Unavailable);
        let cookie = make_cookie(u64::MAX, Some("app"));
        let (regs, next) = discovered(server.handle(me, discover(Some("app"), None, Some(cookie)), now));
        assert!(regs.is_empty());
        assert_eq!(next, make_cookie(u64::MAX, Some("app")));
    }
}
