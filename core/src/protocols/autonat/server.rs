//! The server's side of a request, without I/O or clock.
//!
//! [`Exchange`] is one request on one `/libp2p/autonat/2/dial-request`
//! stream. Call order: [`Exchange::handle`] with each message read (it
//! returns the next [`Action`]), and after an [`Action::DialBack`] the
//! driver dials and reports with [`Exchange::dial_finished`], which gives the
//! `DialResponse` to send. [`select`] is the address choice on its own, and
//! [`RateLimiter`] the admission of requests (the caller passes `now`).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::addrs::{self, Dialable};
use super::codec::{DialResponse, DialStatus, Message, ResponseStatus};
use crate::identity::PeerId;
use crate::multiaddr::Multiaddr;

/// What the server is willing and able to dial.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Dial loopback, LAN and memory addresses too (the spec says servers
    /// SHOULD NOT; tests on one host need it).
    pub allow_private_addresses: bool,
    /// We can reach IPv4 addresses.
    pub ipv4: bool,
    /// We can reach IPv6 addresses.
    pub ipv6: bool,
    /// The bytes asked for before dialing an IP other than the requester's.
    pub dial_data_bytes: u64,
    /// Requests listing more addresses are rejected.
    pub max_request_addrs: usize,
}

/// Whether the server will dial `addr` for `requester`.
pub fn willing(addr: &Multiaddr, requester: &PeerId, policy: &Policy) -> bool {
    match addrs::dialable(addr, Some(requester)) {
        Some(Dialable::Tcp(ip)) => {
            let family = if ip.is_ipv4() { policy.ipv4 } else { policy.ipv6 };
            family && (policy.allow_private_addresses || addrs::is_global(ip))
        }
        Some(Dialable::Memory) => policy.allow_private_addresses,
        None => false,
    }
}

/// The first address of the request the server is willing to dial, with its
/// index (the spec: the first one; the server dials no other).
pub fn select<'a>(addrs: &'a [Multiaddr], requester: &PeerId, policy: &Policy) -> Option<(usize, &'a Multiaddr)> {
    addrs.iter().enumerate().find(|(_, addr)| willing(addr, requester, policy))
}

/// Whether dialing `addr` needs the amplification-attack cost: it is not on
/// the IP the request came from (an address without an IP, such as a memory
/// address, always does).
pub fn needs_dial_data(addr: &Multiaddr, observed: &Multiaddr) -> bool {
    match (addrs::ip_of(addr), addrs::ip_of(observed)) {
        (Some(a), Some(b)) => !same_ip(a, b),
        _ => true,
    }
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    // An IPv4 peer may show up as an IPv4-mapped IPv6 address on a dual-stack socket.
    a.to_canonical() == b.to_canonical()
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this response, close the stream: done.
    Respond(DialResponse),
    /// Send this `DialDataRequest`, then read the data messages.
    RequestData {
        /// The selected address's index.
        addr_idx: u32,
        /// The bytes asked for.
        num_bytes: u64,
    },
    /// Read another data message.
    ReadMore,
    /// Dial `addr` on a new connection, send `nonce` on a dial-back stream,
    /// and report with [`Exchange::dial_finished`].
    DialBack {
        /// The address (as the client wrote it).
        addr: Multiaddr,
        /// The request's nonce.
        nonce: u64,
    },
}

/// A message the protocol does not allow at this point of the exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected autonat message from the client")]
pub struct UnexpectedMessage;

#[derive(Debug, Clone)]
enum State {
    AwaitRequest,
    AwaitData { idx: u32, addr: Multiaddr, nonce: u64, missing: u64 },
    Dialing { idx: u32 },
    Done,
}

/// One request from one peer.
#[derive(Debug, Clone)]
pub struct Exchange {
    policy: Policy,
    requester: PeerId,
    observed: Multiaddr,
    state: State,
    received: u64,
}

impl Exchange {
    /// A request from `requester`, on a connection whose remote address is `observed`.
    pub fn new(policy: Policy, requester: PeerId, observed: Multiaddr) -> Exchange {
        Exchange { policy, requester, observed, state: State::AwaitRequest, received: 0 }
    }

    /// The data bytes counted so far.
    pub fn data_received(&self) -> u64 {
        self.received
    }

    /// Takes the next message of the client.
    pub fn handle(&mut self, message: Message) -> Result<Action, UnexpectedMessage> {
        match (std::mem::replace(&mut self.state, State::Done), message) {
            (State::AwaitRequest, Message::DialRequest { addrs, nonce }) => Ok(self.handle_request(addrs, nonce)),
            (State::AwaitData { idx, addr, nonce, missing }, Message::DialDataResponse { len }) => {
                self.received = self.received.saturating_add(len as u64);
                let missing = missing.saturating_sub(len as u64);
                if missing == 0 {
                    // The last chunk may overshoot: that is allowed.
                    self.state = State::Dialing { idx };
                    Ok(Action::DialBack { addr, nonce })
                } else {
                    self.state = State::AwaitData { idx, addr, nonce, missing };
                    Ok(Action::ReadMore)
                }
            }
            _ => Err(UnexpectedMessage),
        }
    }

    fn handle_request(&mut self, addrs: Vec<Multiaddr>, nonce: u64) -> Action {
        if addrs.len() > self.policy.max_request_addrs {
            return Action::Respond(DialResponse::refusal(ResponseStatus::RequestRejected));
        }
        let Some((idx, addr)) = select(&addrs, &self.requester, &self.policy) else {
            return Action::Respond(DialResponse::refusal(ResponseStatus::DialRefused));
        };
        // At most max_request_addrs (small) addresses: the index fits.
        let idx = u32::try_from(idx).unwrap_or(u32::MAX);
        let addr = addr.clone();
        if needs_dial_data(&addr, &self.observed) && self.policy.dial_data_bytes > 0 {
            let num_bytes = self.policy.dial_data_bytes;
            self.state = State::AwaitData { idx, addr, nonce, missing: num_bytes };
            return Action::RequestData { addr_idx: idx, num_bytes };
        }
        self.state = State::Dialing { idx };
        Action::DialBack { addr, nonce }
    }

    /// The dial's outcome: `Ok(status)` when the server dialed (`OK`,
    /// `E_DIAL_ERROR` or `E_DIAL_BACK_ERROR`), `Err(status)` when it could
    /// not try for reasons of its own (a resource limit, shutting down).
    /// Returns the response to send.
    pub fn dial_finished(&mut self, outcome: Result<DialStatus, ResponseStatus>) -> DialResponse {
        let State::Dialing { idx } = std::mem::replace(&mut self.state, State::Done) else {
            return DialResponse::refusal(ResponseStatus::InternalError);
        };
        match outcome {
            Ok(DialStatus::Unused) => DialResponse::refusal(ResponseStatus::InternalError),
            Ok(dial_status) => DialResponse { status: ResponseStatus::Ok, addr_idx: idx, dial_status },
            Err(status) => DialResponse::refusal(status),
        }
    }
}

/// The request limits of a server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests served at once, from all peers.
    pub max_concurrent: usize,
    /// Requests accepted per minute, from all peers.
    pub max_per_minute: usize,
    /// Requests accepted per minute from one peer.
    pub max_per_peer_per_minute: usize,
}

const MINUTE: Duration = Duration::from_secs(60);

/// Admission of requests: concurrency and per-minute rates. Its memory is
/// bounded by `max_per_minute` (a peer is remembered only for requests of
/// the last minute, which all count toward the global rate).
#[derive(Debug)]
pub struct RateLimiter {
    limits: Limits,
    in_flight: usize,
    recent: VecDeque<Instant>,
    per_peer: HashMap<PeerId, VecDeque<Instant>>,
}

impl RateLimiter {
    /// A limiter with nothing in flight.
    pub fn new(limits: Limits) -> RateLimiter {
        RateLimiter { limits, in_flight: 0, recent: VecDeque::new(), per_peer: HashMap::new() }
    }

    /// Admits a request of `peer` at `now`, or refuses it. An admitted request
    /// must be ended with [`RateLimiter::finish`].
    pub fn try_start(&mut self, peer: PeerId, now: Instant) -> bool {
        self.forget_before(now.checked_sub(MINUTE));
        let peer_count = self.per_peer.get(&peer).map_or(0, VecDeque::len);
        if self.in_flight >= self.limits.max_concurrent
            || self.recent.len() >= self.limits.max_per_minute
            || peer_count >= self.limits.max_per_peer_per_minute
        {
            return false;
        }
        self.in_flight += 1;
        self.recent.push_back(now);
        self.per_peer.entry(peer).or_default().push_back(now);
        true
    }

    /// Ends an admitted request.
    pub fn finish(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Peers remembered.
    pub fn peers(&self) -> usize {
        self.per_peer.len()
    }

    fn forget_before(&mut self, cutoff: Option<Instant>) {
        let Some(cutoff) = cutoff else { return };
        while self.recent.front().is_some_and(|t| *t <= cutoff) {
            self.recent.pop_front();
        }
        self.per_peer.retain(|_, times| {
            while times.front().is_some_and(|t| *t <= cutoff) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    fn addr(s: &str) -> Multiaddr {
        s.parse().expect("addr")
    }

    fn peer() -> PeerId {
        Keypair::generate_ed25519().public().to_peer_id()
    }

    fn policy(allow_private: bool) -> Policy {
        Policy {
            allow_private_addresses: allow_private,
            ipv4: true,
            ipv6: true,
            dial_data_bytes: 30_000,
            max_request_addrs: 4,
        }
    }

    #[test]
    fn selection_skips_private_undialable_and_unreachable_families() {
        let me = peer();
        let addrs = vec![
            addr("/dns4/example.com/tcp/1"),
            addr("/ip4/192.168.1.2/tcp/4001"),
            addr("/ip4/127.0.0.1/tcp/4001"),
            addr("/ip6/2606:4700::1/tcp/4001"),
            addr("/ip4/1.1.1.1/tcp/4001"),
        ];
        assert_eq!(select(&addrs, &me, &policy(false)).map(|(i, _)| i), Some(3));
        assert_eq!(select(&addrs, &me, &policy(true)).map(|(i, _)| i), Some(1));
        let v4_only = Policy { ipv6: false, ..policy(false) };
        assert_eq!(select(&addrs, &me, &v4_only).map(|(i, _)| i), Some(4));
        assert_eq!(select(&addrs[..3], &me, &policy(false)), None);
        assert_eq!(select(&[addr("/memory/9")], &me, &policy(false)), None);
        assert_eq!(select(&[addr("/memory/9")], &me, &policy(true)).map(|(i, _)| i), Some(0));
        let someone_else = addr(&format!("/ip4/1.1.1.1/tcp/1/p2p/{}", peer()));
        assert_eq!(select(&[someone_else], &me, &policy(false)), None);
    }

    #[test]
    fn same_ip_dials_at_once() {
        let me = peer();
        let mut ex = Exchange::new(policy(true), me, addr("/ip4/127.0.0.1/tcp/50000"));
        let request = Message::DialRequest { addrs: vec![addr("/ip4/127.0.0.1/tcp/4001")], nonce: 9 };
        assert_eq!(ex.handle(request), Ok(Action::DialBack { addr: addr("/ip4/127.0.0.1/tcp/4001"), nonce: 9 }));
        assert_eq!(
            ex.dial_finished(Ok(DialStatus::Ok)),
            DialResponse { status: ResponseStatus::Ok, addr_idx: 0, dial_status: DialStatus::Ok }
        );
        assert_eq!(ex.data_received(), 0);
    }

    #[test]
    fn other_ip_asks_for_data_and_counts_only_data() {
        let me = peer();
        let mut ex = Exchange::new(policy(false), me, addr("/ip4/8.8.8.8/tcp/50000"));
        let request =
            Message::DialRequest { addrs: vec![addr("/ip4/10.0.0.1/tcp/1"), addr("/ip4/1.1.1.1/tcp/4001")], nonce: 5 };
        assert_eq!(ex.handle(request), Ok(Action::RequestData { addr_idx: 1, num_bytes: 30_000 }));
        for _ in 0..7 {
            assert_eq!(ex.handle(Message::DialDataResponse { len: 4096 }), Ok(Action::ReadMore));
        }
        assert_eq!(ex.handle(Message::DialDataResponse { len: 0 }), Ok(Action::ReadMore));
        // 7 * 4096 = 28,672; the last chunk overshoots 30,000.
        assert_eq!(
            ex.handle(Message::DialDataResponse { len: 4096 }),
            Ok(Action::DialBack { addr: addr("/ip4/1.1.1.1/tcp/4001"), nonce: 5 })
        );
        assert_eq!(ex.data_received(), 8 * 4096);
        assert_eq!(
            ex.dial_finished(Ok(DialStatus::DialError)),
            DialResponse { status: ResponseStatus::Ok, addr_idx: 1, dial_status: DialStatus::DialError }
        );
    }

    #[test]
    fn memory_addresses_always_pay() {
        assert!(needs_dial_data(&addr("/memory/1"), &addr("/memory/2")));
        assert!(needs_dial_data(&addr("/ip4/1.1.1.1/tcp/1"), &addr("/ip4/1.1.1.2/tcp/1")));
        assert!(!needs_dial_data(&addr("/ip4/1.1.1.1/tcp/1"), &addr("/ip6/::ffff:1.1.1.1/tcp/9")));
    }

    #[test]
    fn refusals_and_protocol_violations() {
        let me = peer();
        let observed = addr("/ip4/1.1.1.1/tcp/5");
        let answer = |addrs: Vec<Multiaddr>| {
            Exchange::new(policy(false), me, observed.clone()).handle(Message::DialRequest { addrs, nonce: 1 })
        };
        assert_eq!(answer(vec![]), Ok(Action::Respond(DialResponse::refusal(ResponseStatus::DialRefused))));
        assert_eq!(
            answer(vec![addr("/ip4/127.0.0.1/tcp/1")]),
            Ok(Action::Respond(DialResponse::refusal(ResponseStatus::DialRefused)))
        );
        assert_eq!(
            answer(vec![addr("/ip4/1.1.1.1/tcp/1"); 5]),
            Ok(Action::Respond(DialResponse::refusal(ResponseStatus::RequestRejected)))
        );
        // Data before a request, a second request, a response from the client.
        let mut ex = Exchange::new(policy(false), me, observed.clone());
        assert_eq!(ex.handle(Message::DialDataResponse { len: 1 }), Err(UnexpectedMessage));
        let mut ex = Exchange::new(policy(false), me, addr("/ip4/8.8.8.8/tcp/5"));
        let request = Message::DialRequest { addrs: vec![addr("/ip4/1.1.1.1/tcp/1")], nonce: 1 };
        assert!(matches!(ex.handle(request.clone()), Ok(Action::RequestData { .. })));
        assert_eq!(ex.handle(request), Err(UnexpectedMessage));
        // A resource limit while dialing.
        let mut ex = Exchange::new(policy(false), me, observed);
        let request = Message::DialRequest { addrs: vec![addr("/ip4/1.1.1.1/tcp/1")], nonce: 1 };
        assert!(matches!(ex.handle(request), Ok(Action::DialBack { .. })));
        assert_eq!(
            ex.dial_finished(Err(ResponseStatus::RequestRejected)),
            DialResponse::refusal(ResponseStatus::RequestRejected)
        );
        // Reporting twice is an internal error, not a panic.
        assert_eq!(ex.dial_finished(Ok(DialStatus::Ok)), DialResponse::refusal(ResponseStatus::InternalError));
    }

    #[test]
    fn rate_limits_on_a_simulated_clock() {
        let limits = Limits { max_concurrent: 2, max_per_minute: 4, max_per_peer_per_minute: 2 };
        let mut limiter = RateLimiter::new(limits);
        let (a, b, c) = (peer(), peer(), peer());
        let t0 = Instant::now();
        assert!(limiter.try_start(a, t0));
        assert!(limiter.try_start(a, t0));
        // Two in flight: the third waits for one to finish.
        assert!(!limiter.try_start(b, t0));
        limiter.finish();
        limiter.finish();
        // Peer a used its two per minute.
        assert!(!limiter.try_start(a, t0 + Duration::from_secs(1)));
        assert!(limiter.try_start(b, t0 + Duration::from_secs(1)));
        limiter.finish();
        assert!(limiter.try_start(c, t0 + Duration::from_secs(2)));
        limiter.finish();
        // Four this minute in total.
        assert!(!limiter.try_start(b, t0 + Duration::from_secs(3)));
        // A minute later everything is forgotten.
        assert!(limiter.try_start(a, t0 + Duration::from_secs(62)));
        assert_eq!(limiter.peers(), 1);
        limiter.finish();
        assert_eq!(limiter.in_flight(), 0);
    }
}
