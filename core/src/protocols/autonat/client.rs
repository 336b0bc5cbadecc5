//! The client's side, without I/O or clock: checking what a server sends
//! ([`check_data_request`], [`outcome`]), the nonces awaiting a dial-back
//! ([`NonceBook`]), and the [`Tracker`] that plans probes and turns verdicts
//! of distinct servers into confirmed and unconfirmed addresses.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::codec::{DialResponse, DialStatus, MAX_DATA_CHUNK, ResponseStatus};
use super::{AutonatError, MAX_REQUEST_ADDRS};
use crate::identity::PeerId;
use crate::multiaddr::Multiaddr;

/// What one server found about one of our addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// The server.
    pub server: PeerId,
    /// The index, in our request, of the address it dialed.
    pub addr_idx: usize,
    /// That address.
    pub addr: Multiaddr,
    /// `OK` (it connected and our nonce came back), `E_DIAL_ERROR` (it could
    /// not connect) or `E_DIAL_BACK_ERROR` (it connected, but could not
    /// deliver the nonce).
    pub dial_status: DialStatus,
    /// Dial data we sent.
    pub bytes_sent: u64,
}

impl ProbeOutcome {
    /// Whether the address was reachable.
    pub fn is_reachable(&self) -> bool {
        self.dial_status == DialStatus::Ok
    }

    /// The verdict for the tracker: `Some(true)` reachable, `Some(false)`
    /// not, `None` inconclusive (a connection without a delivered nonce).
    pub fn verdict(&self) -> Option<bool> {
        match self.dial_status {
            DialStatus::Ok => Some(true),
            DialStatus::DialError => Some(false),
            DialStatus::DialBackError | DialStatus::Unused => None,
        }
    }
}

/// Checks a `DialDataRequest` against our request (`addrs` addresses) and
/// our limit on dial data.
pub fn check_data_request(addrs: usize, addr_idx: u32, num_bytes: u64, max: u64) -> Result<(), AutonatError> {
    if addr_idx as usize >= addrs {
        return Err(AutonatError::InvalidAddrIdx(addr_idx));
    }
    if num_bytes > max {
        return Err(AutonatError::DialDataTooLarge { asked: num_bytes, max });
    }
    Ok(())
}

/// The `data` lengths of the `DialDataResponse`s that send `num_bytes`:
/// full chunks of [`MAX_DATA_CHUNK`], then the rest.
pub fn data_chunks(num_bytes: u64) -> impl Iterator<Item = usize> {
    let chunk = MAX_DATA_CHUNK as u64;
    let full = num_bytes / chunk;
    let rest = (num_bytes % chunk) as usize;
    std::iter::repeat_n(MAX_DATA_CHUNK, full as usize).chain((rest > 0).then_some(rest))
}

/// Interprets `server`'s `response` to our request of `addrs`.
/// `dial_back_received`: whether the request's nonce came back on a
/// dial-back stream; a reported success without it is discarded (the spec).
pub fn outcome(
    server: PeerId,
    addrs: &[Multiaddr],
    response: DialResponse,
    dial_back_received: bool,
    bytes_sent: u64,
) -> Result<ProbeOutcome, AutonatError> {
    if response.status != ResponseStatus::Ok {
        return Err(AutonatError::Refused(response.status));
    }
    let addr_idx = response.addr_idx as usize;
    let addr = addrs.get(addr_idx).ok_or(AutonatError::InvalidAddrIdx(response.addr_idx))?.clone();
    match response.dial_status {
        DialStatus::Unused => Err(AutonatError::MissingDialStatus),
        DialStatus::Ok if !dial_back_received => Err(AutonatError::NoDialBack),
        dial_status => Ok(ProbeOutcome { server, addr_idx, addr, dial_status, bytes_sent }),
    }
}

/// The nonces of our requests in flight, and whether each came back.
/// Bounded: a request beyond `capacity` is refused.
#[derive(Debug)]
pub struct NonceBook {
    pending: HashMap<u64, bool>,
    capacity: usize,
}

impl NonceBook {
    /// An empty book for at most `capacity` requests in flight.
    pub fn new(capacity: usize) -> NonceBook {
        NonceBook { pending: HashMap::new(), capacity }
    }

    /// Starts waiting for `nonce`. Fails when full or when `nonce` is in use.
    pub fn register(&mut self, nonce: u64) -> Result<(), AutonatError> {
        if self.pending.len() >= self.capacity || self.pending.contains_key(&nonce) {
            return Err(AutonatError::TooManyProbes);
        }
        self.pending.insert(nonce, false);
        Ok(())
    }

    /// A dial-back brought `nonce`: whether it is one we wait for (then it
    /// is marked received and the dial-back is answered).
    pub fn dial_back(&mut self, nonce: u64) -> bool {
        match self.pending.get_mut(&nonce) {
            Some(received) => {
                *received = true;
                true
            }
            None => false,
        }
    }

    /// Stops waiting for `nonce`: whether it came back.
    pub fn finish(&mut self, nonce: u64) -> bool {
        self.pending.remove(&nonce).unwrap_or(false)
    }

    /// Requests in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no request is in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// What AutoNAT has concluded about one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrStatus {
    /// Not enough verdicts yet.
    Unknown,
    /// Reachable: `confirmations` distinct servers dialed it.
    Confirmed,
    /// Not reachable: `confirmations` distinct servers could not dial it.
    Unreachable,
}

/// A change to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Now confirmed: add it to the external addresses.
    Confirmed(Multiaddr),
    /// No longer confirmed: remove it.
    Unconfirmed(Multiaddr),
}

/// One request to send: `addrs` (the address to test first) to `server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The server to ask.
    pub server: PeerId,
    /// The addresses, in priority order.
    pub addrs: Vec<Multiaddr>,
}

/// Settings of the [`Tracker`].
#[derive(Debug, Clone, Copy)]
pub struct TrackerConfig {
    /// Verdicts of distinct servers that decide.
    pub confirmations: usize,
    /// Addresses tracked.
    pub max_candidates: usize,
    /// Probes per round.
    pub max_concurrent_probes: usize,
    /// The round interval while some address is undecided.
    pub probe_interval: Duration,
    /// The round interval once all are decided; also how long a server that
    /// failed us is left alone.
    pub max_probe_interval: Duration,
}

/// Verdicts kept per address (the most recent, one per server).
const MAX_VERDICTS: usize = 16;
/// Servers remembered as recently failing.
const MAX_BACKOFFS: usize = 64;

#[derive(Debug, Clone)]
struct Verdict {
    server: PeerId,
    reachable: bool,
    at: Instant,
}

#[derive(Debug, Clone)]
struct Tracked {
    addr: Multiaddr,
    status: AddrStatus,
    verdicts: Vec<Verdict>,
    last_probe: Option<Instant>,
}

impl Tracked {
    fn new(addr: Multiaddr) -> Tracked {
        Tracked { addr, status: AddrStatus::Unknown, verdicts: Vec::new(), last_probe: None }
    }

    fn count(&self, reachable: bool) -> usize {
        self.verdicts.iter().filter(|v| v.reachable == reachable).count()
    }

    fn verdict_of(&self, server: &PeerId) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.server == *server)
    }
}

/// The client's memory of its addresses: per address the latest verdict of
/// each server, and the status they add up to. An address is confirmed once
/// `confirmations` distinct servers reached it (and more reached it than
/// did not), and unconfirmed once as many failed to (and at least as many
/// failed as succeeded); between the two it keeps its status, so a split
/// opinion does not flap. Bounded: `max_candidates` addresses,
/// 16 verdicts each, 64 servers in back-off.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    /// In priority order: the current candidates, then confirmed addresses
    /// that are no longer candidates (re-checked until unconfirmed).
    tracked: Vec<Tracked>,
    /// Servers that failed us, left alone until the instant given.
    backoff: HashMap<PeerId, Instant>,
}

impl Tracker {
    /// A tracker with no addresses.
    pub fn new(config: TrackerConfig) -> Tracker {
        let config = TrackerConfig { confirmations: config.confirmations.max(1), ..config };
        Tracker { config, tracked: Vec::new(), backoff: HashMap::new() }
    }

    /// The status of `addr`, if tracked.
    pub fn status(&self, addr: &Multiaddr) -> Option<AddrStatus> {
        self.tracked.iter().find(|t| t.addr == *addr).map(|t| t.status)
    }

    /// Every tracked address and its status, in priority order.
    pub fn statuses(&self) -> Vec<(Multiaddr, AddrStatus)> {
        self.tracked.iter().map(|t| (t.addr.clone(), t.status)).collect()
    }

    /// Sets the candidates (best first). Known addresses keep their verdicts;
    /// addresses that are no longer candidates are forgotten, except
    /// confirmed ones, which stay (after the candidates) until servers
    /// unconfirm them or room runs out (then they are unconfirmed).
    pub fn set_candidates(&mut self, candidates: &[Multiaddr]) -> Vec<Change> {
        let mut old = std::mem::take(&mut self.tracked);
        let mut next: Vec<Tracked> = Vec::new();
        for addr in candidates {
            if next.len() >= self.config.max_candidates {
                break;
            }
            if next.iter().any(|t| t.addr == *addr) {
                continue;
            }
            let entry = match old.iter().position(|t| t.addr == *addr) {
                Some(pos) => old.swap_remove(pos),
                None => Tracked::new(addr.clone()),
            };
            next.push(entry);
        }
        let mut changes = Vec::new();
        for t in old.into_iter().filter(|t| t.status == AddrStatus::Confirmed) {
            if next.len() < self.config.max_candidates {
                next.push(t);
            } else {
                changes.push(Change::Unconfirmed(t.addr));
            }
        }
        self.tracked = next;
        changes
    }

    /// The probes to send now, to `servers` (connected peers that serve
    /// AutoNAT). Undecided addresses go to servers that have not judged them;
    /// decided ones are re-checked once per `max_probe_interval`. Each server
    /// gets at most one request per round.
    pub fn plan(&mut self, servers: &[PeerId], now: Instant) -> Vec<Probe> {
        self.backoff.retain(|_, until| *until > now);
        let usable: Vec<PeerId> = servers.iter().filter(|s| !self.backoff.contains_key(s)).copied().collect();
        let mut used: HashSet<PeerId> = HashSet::new();
        let mut plan = Vec::new();
        for i in 0..self.tracked.len() {
            for _ in 0..self.wanted(i, now) {
                if plan.len() >= self.config.max_concurrent_probes {
                    return plan;
                }
                let Some(server) = self.pick_server(i, &usable, &used, now) else { break };
                used.insert(server);
                plan.push(Probe { server, addrs: self.request_addrs(i, now) });
                self.tracked[i].last_probe = Some(now);
            }
        }
        plan
    }

    /// How many more servers address `i` needs to hear from now.
    fn wanted(&self, i: usize, now: Instant) -> usize {
        let t = &self.tracked[i];
        match t.status {
            AddrStatus::Unknown => {
                let best = t.count(true).max(t.count(false));
                self.config.confirmations.saturating_sub(best).max(1)
            }
            _ => usize::from(self.recheck_due(t, now)),
        }
    }

    fn recheck_due(&self, t: &Tracked, now: Instant) -> bool {
        // Half the interval of slack: a round that comes a bit early still re-checks.
        t.last_probe.is_none_or(|last| now >= last + self.config.max_probe_interval / 2)
    }

    /// A server for address `i`: one with no verdict on it first; then (for a
    /// decided address, or a stale verdict) the one whose verdict is oldest.
    fn pick_server(&self, i: usize, usable: &[PeerId], used: &HashSet<PeerId>, now: Instant) -> Option<PeerId> {
        let t = &self.tracked[i];
        let free = || usable.iter().filter(|s| !used.contains(*s));
        if let Some(fresh) = free().find(|s| t.verdict_of(s).is_none()) {
            return Some(*fresh);
        }
        let stale_after = self.config.max_probe_interval;
        free()
            .filter_map(|s| t.verdict_of(s).map(|v| (v.at, *s)))
            .filter(|(at, _)| t.status != AddrStatus::Unknown || now >= *at + stale_after)
            .min_by_key(|(at, _)| *at)
            .map(|(_, s)| s)
    }

    /// The request for address `i`: it first, then the other addresses that
    /// want verdicts (a server unwilling to dial the first may take another).
    fn request_addrs(&self, i: usize, now: Instant) -> Vec<Multiaddr> {
        let mut addrs = vec![self.tracked[i].addr.clone()];
        for (j, t) in self.tracked.iter().enumerate() {
            if addrs.len() >= MAX_REQUEST_ADDRS {
                break;
            }
            if j != i && self.wanted(j, now) > 0 {
                addrs.push(t.addr.clone());
            }
        }
        addrs
    }

    /// Records `server`'s verdict on `addr` (replacing its earlier one).
    /// Returns the change of status to announce, if any.
    pub fn record(&mut self, server: PeerId, addr: &Multiaddr, reachable: bool, now: Instant) -> Option<Change> {
        let n = self.config.confirmations;
        let t = self.tracked.iter_mut().find(|t| t.addr == *addr)?;
        t.verdicts.retain(|v| v.server != server);
        t.verdicts.push(Verdict { server, reachable, at: now });
        if t.verdicts.len() > MAX_VERDICTS {
            // Pushed in time order: the first is the oldest.
            t.verdicts.remove(0);
        }
        let (yes, no) = (t.count(true), t.count(false));
        let next = if yes >= n && yes > no {
            AddrStatus::Confirmed
        } else if no >= n && no >= yes {
            AddrStatus::Unreachable
        } else {
            t.status
        };
        let before = std::mem::replace(&mut t.status, next);
        match (before == AddrStatus::Confirmed, next == AddrStatus::Confirmed) {
            (false, true) => Some(Change::Confirmed(addr.clone())),
            (true, false) => Some(Change::Unconfirmed(addr.clone())),
            _ => None,
        }
    }

    /// `server` refused, failed or misbehaved: ask others for a while.
    pub fn server_failed(&mut self, server: PeerId, now: Instant) {
        if self.backoff.len() >= MAX_BACKOFFS && !self.backoff.contains_key(&server) {
            self.backoff.retain(|_, until| *until > now);
            if self.backoff.len() >= MAX_BACKOFFS {
                // Still full: forget the one that would be released first.
                let first = self.backoff.iter().min_by_key(|(_, until)| **until).map(|(s, _)| *s);
                if let Some(first) = first {
                    self.backoff.remove(&first);
                }
            }
        }
        self.backoff.insert(server, now + self.config.max_probe_interval);
    }

    /// How long until the next round: short while an address is undecided
    /// (or none is known yet), long once all are decided.
    pub fn next_interval(&self) -> Duration {
        if self.tracked.is_empty() || self.tracked.iter().any(|t| t.status == AddrStatus::Unknown) {
            self.config.probe_interval
        } else {
            self.config.max_probe_interval
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    fn addr(s: &str) -> Multiaddr {
        s.parse().expect("addr")
    }

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| Keypair::generate_ed25519().public().to_peer_id()).collect()
    }

    fn config(confirmations: usize) -> TrackerConfig {
        TrackerConfig {
            confirmations,
            max_candidates: 4,
            max_concurrent_probes: 8,
            probe_interval: Duration::from_secs(15),
            max_probe_interval: Duration::from_secs(300),
        }
    }

    #[test]
    fn data_requests_are_checked_and_chunked() {
        assert!(check_data_request(2, 1, 30_000, 100_000).is_ok());
        assert!(matches!(check_data_request(2, 2, 30_000, 100_000), Err(AutonatError::InvalidAddrIdx(2))));
        assert!(matches!(
            check_data_request(1, 0, 100_001, 100_000),
            Err(AutonatError::DialDataTooLarge { asked: 100_001, max: 100_000 })
        ));
        let chunks: Vec<usize> = data_chunks(30_000).collect();
        assert_eq!(chunks.len(), 8);
        assert!(chunks.iter().all(|c| *c <= MAX_DATA_CHUNK));
        assert_eq!(chunks.iter().sum::<usize>(), 30_000);
        assert_eq!(data_chunks(8192).collect::<Vec<_>>(), vec![4096, 4096]);
        assert_eq!(data_chunks(0).count(), 0);
    }

    #[test]
    fn a_success_counts_only_with_the_nonce_back() {
        let server = peers(1)[0];
        let addrs = vec![addr("/ip4/1.1.1.1/tcp/1"), addr("/ip4/1.1.1.2/tcp/1")];
        let ok = DialResponse { status: ResponseStatus::Ok, addr_idx: 1, dial_status: DialStatus::Ok };
        let got = outcome(server, &addrs, ok, true, 0).expect("reachable");
        assert_eq!((got.addr_idx, got.addr.clone(), got.verdict()), (1, addrs[1].clone(), Some(true)));
        assert!(matches!(outcome(server, &addrs, ok, false, 0), Err(AutonatError::NoDialBack)));
        // A failure needs no nonce.
        let failed = DialResponse { dial_status: DialStatus::DialError, ..ok };
        assert_eq!(outcome(server, &addrs, failed, false, 9).expect("unreachable").verdict(), Some(false));
        let inconclusive = DialResponse { dial_status: DialStatus::DialBackError, ..ok };
        assert_eq!(outcome(server, &addrs, inconclusive, false, 0).expect("outcome").verdict(), None);
        let out_of_range = DialResponse { addr_idx: 2, ..ok };
        assert!(matches!(outcome(server, &addrs, out_of_range, true, 0), Err(AutonatError::InvalidAddrIdx(2))));
        let unused = DialResponse { dial_status: DialStatus::Unused, ..ok };
        assert!(matches!(outcome(server, &addrs, unused, true, 0), Err(AutonatError::MissingDialStatus)));
        let refused = DialResponse::refusal(ResponseStatus::DialRefused);
        assert!(matches!(
            outcome(server, &addrs, refused, true, 0),
            Err(AutonatError::Refused(ResponseStatus::DialRefused))
        ));
    }

    #[test]
    fn nonce_book_matches_only_pending_nonces() {
        let mut book = NonceBook::new(2);
        book.register(1).expect("room");
        assert!(matches!(book.register(1), Err(AutonatError::TooManyProbes)));
        book.register(2).expect("room");
        assert!(matches!(book.register(3), Err(AutonatError::TooManyProbes)));
        assert!(!book.dial_back(99), "a wrong nonce is not ours");
        assert!(book.dial_back(1));
        assert!(book.finish(1));
        assert!(!book.finish(2), "never came back");
        assert!(!book.dial_back(1), "finished requests no longer match");
        assert!(book.is_empty());
    }

    #[test]
    fn confirmation_needs_distinct_servers() {
        let mut tracker = Tracker::new(config(2));
        let a = addr("/ip4/1.1.1.1/tcp/4001");
        let s = peers(3);
        let now = Instant::now();
        assert!(tracker.set_candidates(std::slice::from_ref(&a)).is_empty());
        assert_eq!(tracker.record(s[0], &a, true, now), None);
        // The same server again is still one server.
        assert_eq!(tracker.record(s[0], &a, true, now + Duration::from_secs(1)), None);
        assert_eq!(tracker.status(&a), Some(AddrStatus::Unknown));
        assert_eq!(tracker.record(s[1], &a, true, now), Some(Change::Confirmed(a.clone())));
        assert_eq!(tracker.status(&a), Some(AddrStatus::Confirmed));
        // One failure does not undo two successes.
        assert_eq!(tracker.record(s[2], &a, false, now), None);
        // A server changing its mind counts once: now 1 yes, 2 no.
        assert_eq!(tracker.record(s[0], &a, false, now), Some(Change::Unconfirmed(a.clone())));
        assert_eq!(tracker.status(&a), Some(AddrStatus::Unreachable));
    }

    #[test]
    fn failures_make_an_address_unreachable_without_an_announcement() {
        let mut tracker = Tracker::new(config(2));
        let a = addr("/ip4/1.1.1.1/tcp/4001");
        let s = peers(2);
        let now = Instant::now();
        tracker.set_candidates(std::slice::from_ref(&a));
        assert_eq!(tracker.record(s[0], &a, false, now), None);
        assert_eq!(tracker.record(s[1], &a, false, now), None);
        assert_eq!(tracker.status(&a), Some(AddrStatus::Unreachable));
        // Unknown addresses are not recorded.
        assert_eq!(tracker.record(s[0], &addr("/ip4/9.9.9.9/tcp/1"), true, now), None);
    }

    #[test]
    fn plans_ask_distinct_servers_then_back_off() {
        let mut tracker = Tracker::new(config(2));
        let (a, b) = (addr("/ip4/1.1.1.1/tcp/4001"), addr("/ip4/1.1.1.1/tcp/4002"));
        let s = peers(3);
        let t0 = Instant::now();
        tracker.set_candidates(&[a.clone(), b.clone()]);
        assert_eq!(tracker.next_interval(), Duration::from_secs(15));
        let plan = tracker.plan(&s, t0);
        // a wants two verdicts, b two more: one request per server, three servers.
        assert_eq!(plan.len(), 3);
        let servers: HashSet<PeerId> = plan.iter().map(|p| p.server).collect();
        assert_eq!(servers.len(), 3);
        assert_eq!(plan[0].addrs, vec![a.clone(), b.clone()]);
        assert_eq!(plan[2].addrs, vec![b.clone(), a.clone()]);
        // Verdicts come in: a confirmed by two, b refused by two.
        tracker.record(plan[0].server, &a, true, t0);
        tracker.record(plan[1].server, &a, true, t0);
        tracker.record(plan[2].server, &b, false, t0);
        assert_eq!(tracker.status(&a), Some(AddrStatus::Confirmed));
        // b still needs a second failure: only a server that has not judged b.
        let t1 = t0 + Duration::from_secs(15);
        let plan = tracker.plan(&s, t1);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].addrs[0], b);
        assert_ne!(plan[0].server, s[2]);
        tracker.record(plan[0].server, &b, false, t1);
        assert_eq!(tracker.status(&b), Some(AddrStatus::Unreachable));
        // All decided: the long interval, and nothing due until it passes.
        assert_eq!(tracker.next_interval(), Duration::from_secs(300));
        assert!(tracker.plan(&s, t1 + Duration::from_secs(15)).is_empty());
        let recheck = tracker.plan(&s, t1 + Duration::from_secs(300));
        assert_eq!(recheck.len(), 2, "one re-check per address");
    }

    #[test]
    fn undecided_addresses_do_not_re_ask_the_same_servers() {
        let mut tracker = Tracker::new(config(3));
        let a = addr("/ip4/1.1.1.1/tcp/4001");
        let s = peers(2);
        let t0 = Instant::now();
        tracker.set_candidates(std::slice::from_ref(&a));
        assert_eq!(tracker.plan(&s, t0).len(), 2);
        tracker.record(s[0], &a, true, t0);
        tracker.record(s[1], &a, true, t0);
        // A third opinion is needed, but both servers gave theirs.
        assert!(tracker.plan(&s, t0 + Duration::from_secs(15)).is_empty());
        assert_eq!(tracker.next_interval(), Duration::from_secs(15));
        // A newcomer is asked at once.
        let newcomer = peers(1)[0];
        let plan = tracker.plan(&[s[0], s[1], newcomer], t0 + Duration::from_secs(30));
        assert_eq!(plan.iter().map(|p| p.server).collect::<Vec<_>>(), vec![newcomer]);
    }

    #[test]
    fn failing_servers_are_left_alone_for_a_while() {
        let mut tracker = Tracker::new(config(1));
        let a = addr("/ip4/1.1.1.1/tcp/4001");
        let s = peers(1);
        let t0 = Instant::now();
        tracker.set_candidates(std::slice::from_ref(&a));
        tracker.server_failed(s[0], t0);
        assert!(tracker.plan(&s, t0 + Duration::from_secs(15)).is_empty());
        assert_eq!(tracker.plan(&s, t0 + Duration::from_secs(301)).len(), 1);
        for p in peers(MAX_BACKOFFS + 10) {
            tracker.server_failed(p, t0);
        }
        assert!(tracker.backoff.len() <= MAX_BACKOFFS);
    }

    #[test]
    fn candidates_are_bounded_and_confirmed_ones_linger() {
        let mut tracker = Tracker::new(config(1));
        let addrs: Vec<Multiaddr> = (1..=6).map(|p| addr(&format!("/ip4/1.1.1.1/tcp/{p}"))).collect();
        let s = peers(1)[0];
        let now = Instant::now();
        tracker.set_candidates(&addrs);
        assert_eq!(tracker.statuses().len(), 4);
        assert_eq!(tracker.record(s, &addrs[0], true, now), Some(Change::Confirmed(addrs[0].clone())));
        // addrs[0] is no longer a candidate: kept (confirmed) after the others.
        assert!(tracker.set_candidates(&addrs[1..3]).is_empty());
        let kept: Vec<Multiaddr> = tracker.statuses().into_iter().map(|(a, _)| a).collect();
        assert_eq!(kept, vec![addrs[1].clone(), addrs[2].clone(), addrs[0].clone()]);
        // Until servers say otherwise...
        assert_eq!(tracker.record(s, &addrs[0], false, now), Some(Change::Unconfirmed(addrs[0].clone())));
        assert!(tracker.set_candidates(&addrs[1..3]).is_empty());
        assert_eq!(tracker.status(&addrs[0]), None);
        // ...or room runs out.
        tracker.set_candidates(&addrs[..1]);
        tracker.record(s, &addrs[0], true, now);
        assert_eq!(tracker.set_candidates(&addrs[1..5]), vec![Change::Unconfirmed(addrs[0].clone())]);
    }
}
