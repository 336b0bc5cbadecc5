//! The iterative lookup, as a state machine without I/O or clock: the driver
//! asks [`Lookup::poll`] what to do at `now`, sends the requests it names,
//! and reports each answer with [`Lookup::on_success`] or
//! [`Lookup::on_failure`]. It keeps α requests in flight, each with a
//! deadline, bounds the peers it tracks and the requests it makes, and ends
//! when the k closest peers it has seen have all answered.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::kbucket::{Distance, Key};
use super::protocol::KadPeer;
use crate::identity::PeerId;

/// Parameters of a lookup.
#[derive(Debug, Clone)]
pub struct LookupConfig {
    /// Requests in flight at once (α).
    pub alpha: usize,
    /// The replication parameter: how many closest peers must answer.
    pub k: usize,
    /// How long one request may take before the peer counts as failed.
    pub request_timeout: Duration,
    /// Requests one lookup may send in total.
    pub max_requests: usize,
    /// Candidates tracked at once; the farthest unqueried are dropped beyond it.
    pub max_candidates: usize,
}

impl Default for LookupConfig {
    fn default() -> Self {
        LookupConfig {
            alpha: 3,
            k: 20,
            request_timeout: Duration::from_secs(10),
            max_requests: 200,
            max_candidates: 200,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotContacted,
    Waiting { deadline: Instant },
    Succeeded,
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    peer: KadPeer,
    state: State,
    /// Requests on the chain that led to this peer, itself included.
    hops: u32,
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the request to these peers (they are now waited for).
    Send(Vec<KadPeer>),
    /// Nothing to send: wait for an answer or until this deadline.
    Wait(Option<Instant>),
    /// The lookup is over.
    Done,
}

/// One iterative lookup towards a target key.
pub struct Lookup {
    target: Key,
    local: PeerId,
    config: LookupConfig,
    candidates: BTreeMap<Distance, Candidate>,
    requests: usize,
    finished: bool,
}

impl Lookup {
    /// A lookup for `target` seeded with peers from our routing table.
    pub fn new(target: Key, local: PeerId, seeds: Vec<KadPeer>, config: LookupConfig) -> Lookup {
        let mut lookup = Lookup { target, local, config, candidates: BTreeMap::new(), requests: 0, finished: false };
        lookup.add_peers(seeds, 1);
        lookup
    }

    /// The target key.
    pub fn target(&self) -> &Key {
        &self.target
    }

    fn add_peers(&mut self, peers: Vec<KadPeer>, hops: u32) {
        for peer in peers {
            if peer.peer == self.local {
                continue;
            }
            let distance = Key::from_peer(&peer.peer).distance(&self.target);
            match self.candidates.get_mut(&distance) {
                Some(existing) => {
                    if existing.peer.addrs.is_empty() {
                        existing.peer.addrs = peer.addrs;
                    }
                }
                None => {
                    self.candidates.insert(distance, Candidate { peer, state: State::NotContacted, hops });
                }
            }
        }
        self.trim();
    }

    /// Drops the farthest unqueried or failed candidates beyond the bound.
    fn trim(&mut self) {
        while self.candidates.len() > self.config.max_candidates {
            let farthest = self
                .candidates
                .iter()
                .rev()
                .find(|(_, c)| matches!(c.state, State::NotContacted | State::Failed))
                .map(|(d, _)| *d);
            match farthest {
                Some(d) => {
                    self.candidates.remove(&d);
                }
                None => break,
            }
        }
    }

    fn in_flight(&self) -> usize {
        self.candidates.values().filter(|c| matches!(c.state, State::Waiting { .. })).count()
    }

    /// Ends the lookup early (e.g. a quorum of records was found).
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether the lookup is over.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Instant) -> Action {
        if self.finished {
            return Action::Done;
        }
        for c in self.candidates.values_mut() {
            if let State::Waiting { deadline } = c.state
                && deadline <= now
            {
                c.state = State::Failed;
            }
        }
        // The k closest peers that have not failed: the lookup's frontier.
        let frontier: Vec<Distance> = self
            .candidates
            .iter()
            .filter(|(_, c)| c.state != State::Failed)
            .take(self.config.k)
            .map(|(d, _)| *d)
            .collect();
        let all_answered = frontier.iter().all(|d| self.candidates.get(d).is_some_and(|c| c.state == State::Succeeded));
        let waiting = self.in_flight();
        if all_answered || (self.requests >= self.config.max_requests && waiting == 0) {
            self.finished = true;
            return Action::Done;
        }
        let mut to_send = Vec::new();
        let mut slots = self.config.alpha.saturating_sub(waiting);
        for d in &frontier {
            if slots == 0 || self.requests >= self.config.max_requests {
                break;
            }
            if let Some(c) = self.candidates.get_mut(d)
                && c.state == State::NotContacted
            {
                c.state = State::Waiting { deadline: now + self.config.request_timeout };
                self.requests += 1;
                slots -= 1;
                to_send.push(c.peer.clone());
            }
        }
        if !to_send.is_empty() {
            return Action::Send(to_send);
        }
        if waiting == 0 {
            // Nothing in flight and nothing left to ask in the frontier.
            self.finished = true;
            return Action::Done;
        }
        Action::Wait(self.next_deadline())
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.candidates
            .values()
            .filter_map(|c| match c.state {
                State::Waiting { deadline } => Some(deadline),
                _ => None,
            })
            .min()
    }

    fn candidate_mut(&mut self, peer: &PeerId) -> Option<&mut Candidate> {
        let distance = Key::from_peer(peer).distance(&self.target);
        self.candidates.get_mut(&distance)
    }

    /// `peer` answered with `closer` peers. An answer that comes after the
    /// request's deadline is still used.
    pub fn on_success(&mut self, peer: &PeerId, closer: Vec<KadPeer>) {
        let hops = match self.candidate_mut(peer) {
            Some(c) if matches!(c.state, State::Waiting { .. } | State::Failed) => {
                c.state = State::Succeeded;
                c.hops
            }
            _ => return, // not asked: ignore what it says
        };
        self.add_peers(closer, hops + 1);
    }

    /// `peer` failed to answer.
    pub fn on_failure(&mut self, peer: &PeerId) {
        if let Some(c) = self.candidate_mut(peer)
            && matches!(c.state, State::Waiting { .. })
        {
            c.state = State::Failed;
        }
    }

    /// Up to `count` peers that answered, closest first.
    pub fn closest_succeeded(&self, count: usize) -> Vec<KadPeer> {
        self.candidates.values().filter(|c| c.state == State::Succeeded).take(count).map(|c| c.peer.clone()).collect()
    }

    /// A peer the lookup has heard of, with the addresses it learned.
    pub fn known(&self, peer: &PeerId) -> Option<&KadPeer> {
        let distance = Key::from_peer(peer).distance(&self.target);
        self.candidates.get(&distance).map(|c| &c.peer)
    }

    /// The hop count of the lookup: the requests on the chain that reached
    /// the closest peer that answered.
    pub fn hops(&self) -> u32 {
        self.candidates.values().find(|c| c.state == State::Succeeded).map(|c| c.hops).unwrap_or(0)
    }

    /// Requests sent so far.
    pub fn requests(&self) -> usize {
        self.requests
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::protocols::kad::kbucket::RoutingTable;

    fn bare(peer: PeerId) -> KadPeer {
        KadPeer { peer, addrs: vec![] }
    }

    /// A simulated network: every node's routing table filled from a random
    /// sample of the others (like a network that has bootstrapped).
    struct Net {
        ids: Vec<PeerId>,
        tables: HashMap<PeerId, RoutingTable>,
    }

    impl Net {
        fn new(n: usize) -> Net {
            let ids: Vec<PeerId> = (0..n).map(|_| PeerId::random()).collect();
            let mut tables = HashMap::new();
            for id in &ids {
                let mut table = RoutingTable::new(Key::from_peer(id), 20);
                for other in &ids {
                    table.insert(*other, &[]);
                }
                tables.insert(*id, table);
            }
            Net { ids, tables }
        }

        fn closer(&self, peer: &PeerId, target: &Key) -> Vec<KadPeer> {
            self.tables[peer].closest(target, 20).into_iter().map(|e| bare(e.peer)).collect()
        }
    }

    /// Runs a lookup on the simulated network with every answer arriving at
    /// once; `answer` decides each peer's reply (None = no reply).
    fn run(lookup: &mut Lookup, mut answer: impl FnMut(&PeerId) -> Option<Vec<KadPeer>>) -> Instant {
        let mut now = Instant::now();
        loop {
            match lookup.poll(now) {
                Action::Send(peers) => {
                    for p in peers {
                        // A silent peer is left to time out.
                        if let Some(closer) = answer(&p.peer) {
                            lookup.on_success(&p.peer, closer);
                        }
                    }
                }
                Action::Wait(Some(deadline)) => now = deadline,
                Action::Wait(None) => panic!("waiting with nothing in flight"),
                Action::Done => return now,
            }
        }
    }

    #[test]
    fn lookups_find_the_true_closest_in_a_simulated_network() {
        let net = Net::new(1000);
        let mut hops = Vec::new();
        for i in 0..50 {
            let me = net.ids[i];
            let target_peer = net.ids[999 - i];
            let target = Key::from_peer(&target_peer);
            let seeds = net.tables[&me].closest(&target, 20).into_iter().map(|e| bare(e.peer)).collect();
            let mut lookup = Lookup::new(target, me, seeds, LookupConfig::default());
            run(&mut lookup, |p| Some(net.closer(p, &target)));
            let found: Vec<PeerId> = lookup.closest_succeeded(20).into_iter().map(|p| p.peer).collect();
            let mut truth: Vec<PeerId> = net.ids.iter().filter(|p| **p != me).copied().collect();
            truth.sort_by_key(|p| Key::from_peer(p).distance(&target));
            assert_eq!(found, truth[..20].to_vec());
            assert_eq!(found[0], target_peer);
            assert!(lookup.requests() <= LookupConfig::default().max_requests);
            hops.push(lookup.hops());
        }
        hops.sort();
        let median = hops[hops.len() / 2];
        assert!(median <= 10, "median hops {median} above log2(1000)");
    }

    #[test]
    fn silent_peers_time_out_and_the_lookup_completes_with_the_honest_ones() {
        let net = Net::new(300);
        let me = net.ids[0];
        let target = Key::from_peer(&net.ids[1]);
        // Seeded with the true 20 closest, every other one silent: the silent
        // peers stay among the closest candidates, so the lookup cannot end
        // before their requests time out (a random table's seeds could be
        // displaced by closer answers and make the timeout untested).
        let mut truth: Vec<PeerId> = net.ids.iter().filter(|p| **p != me).copied().collect();
        truth.sort_by_key(|p| Key::from_peer(p).distance(&target));
        let seeds: Vec<KadPeer> = truth[..20].iter().map(|p| bare(*p)).collect();
        let silent: Vec<PeerId> = seeds.iter().step_by(2).map(|p| p.peer).filter(|p| *p != net.ids[1]).collect();
        let start = Instant::now();
        let mut lookup = Lookup::new(target, me, seeds, LookupConfig::default());
        let end = run(&mut lookup, |p| if silent.contains(p) { None } else { Some(net.closer(p, &target)) });
        let found = lookup.closest_succeeded(20);
        assert!(found.iter().all(|p| !silent.contains(&p.peer)));
        assert_eq!(found[0].peer, net.ids[1]);
        // The simulated clock moved past at least one request timeout.
        assert!(end.duration_since(start) >= LookupConfig::default().request_timeout);
    }

    #[test]
    fn a_peer_answering_with_fake_peers_costs_bounded_work() {
        let net = Net::new(200);
        let me = net.ids[0];
        let liar = net.ids[5];
        let target = Key::from_peer(&net.ids[7]);
        let seeds: Vec<KadPeer> = net.tables[&me].closest(&target, 20).into_iter().map(|e| bare(e.peer)).collect();
        let config = LookupConfig::default();
        let mut lookup = Lookup::new(target, me, seeds, config.clone());
        // The liar names fresh non-existent peers each time; those never answer.
        run(&mut lookup, |p| {
            if *p == liar {
                Some((0..20).map(|_| bare(PeerId::random())).collect())
            } else if net.tables.contains_key(p) {
                Some(net.closer(p, &target))
            } else {
                None
            }
        });
        assert!(lookup.requests() <= config.max_requests);
        assert!(lookup.candidates.len() <= config.max_candidates);
        assert_eq!(lookup.closest_succeeded(1)[0].peer, net.ids[7]);
    }

    #[test]
    fn alpha_bounds_requests_in_flight_and_finish_stops() {
        let net = Net::new(100);
        let me = net.ids[0];
        let target = Key::from_peer(&net.ids[3]);
        let seeds = net.tables[&me].closest(&target, 20).into_iter().map(|e| bare(e.peer)).collect();
        let mut lookup = Lookup::new(target, me, seeds, LookupConfig::default());
        let now = Instant::now();
        match lookup.poll(now) {
            Action::Send(peers) => assert_eq!(peers.len(), 3),
            other => panic!("expected sends, got {other:?}"),
        }
        // With three in flight, nothing more is sent.
        assert!(matches!(lookup.poll(now), Action::Wait(Some(_))));
        lookup.finish();
        assert_eq!(lookup.poll(now), Action::Done);
    }

    #[test]
    fn empty_seeds_end_at_once_and_unasked_answers_are_ignored() {
        let me = PeerId::random();
        let mut lookup = Lookup::new(Key::from_peer(&me), me, vec![], LookupConfig::default());
        lookup.on_success(&PeerId::random(), vec![bare(PeerId::random())]);
        assert_eq!(lookup.poll(Instant::now()), Action::Done);
        assert!(lookup.closest_succeeded(20).is_empty());
    }
}
