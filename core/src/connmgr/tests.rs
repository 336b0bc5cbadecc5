use super::*;

fn config(low: usize, high: usize) -> ConnManagerConfig {
    ConnManagerConfig {
        low_watermark: low,
        high_watermark: high,
        grace_period: Duration::from_secs(60),
        silence_period: Duration::from_secs(10),
        ..ConnManagerConfig::default()
    }
}

fn peers(count: usize) -> Vec<PeerId> {
    let mut peers: Vec<PeerId> = (0..count).map(|_| PeerId::random()).collect();
    peers.sort();
    peers
}

/// One connection per peer, keyed by its index, opened `age` before `now`.
fn one_each(peers: &[PeerId], now: Instant, age: Duration) -> Vec<ConnectionEntry<usize>> {
    peers.iter().enumerate().map(|(key, peer)| ConnectionEntry { key, peer: *peer, opened_at: now - age }).collect()
}

const OLD: Duration = Duration::from_secs(3600);

#[test]
fn trim_closes_the_lowest_valued_peers_first() {
    let mut manager = ConnManager::new(config(2, 3));
    let peers = peers(5);
    // Values in reverse order of the keys, so neither key nor peer order
    // could give the right answer by accident.
    for (index, peer) in peers.iter().enumerate() {
        manager.tag_peer(*peer, "app", 10 - index as i64).expect("tag");
    }
    let now = Instant::now() + OLD;
    let mut closed = manager.trim(now, &one_each(&peers, now, OLD));
    closed.sort();
    assert_eq!(closed, vec![2, 3, 4]);
}

#[test]
fn value_is_the_sum_of_tags() {
    let mut manager = ConnManager::new(config(1, 2));
    let peers = peers(2);
    manager.tag_peer(peers[0], "a", 3).expect("tag");
    manager.tag_peer(peers[0], "b", 4).expect("tag");
    manager.tag_peer(peers[1], "a", 5).expect("tag");
    assert_eq!(manager.peer_value(peers[0]), 7);
    let now = Instant::now() + OLD;
    // Peer 0 is worth 7, peer 1 only 5: peer 1 goes.
    assert_eq!(manager.trim(now, &one_each(&peers, now, OLD)), vec![1]);
    manager.untag_peer(peers[0], "b");
    manager.upsert_tag(peers[1], "a", |old| old + 1).expect("upsert");
    assert_eq!(manager.peer_value(peers[0]), 3);
    assert_eq!(manager.peer_value(peers[1]), 6);
    assert_eq!(manager.trim(now, &one_each(&peers, now, OLD)), vec![0]);
}

#[test]
fn trim_goes_down_to_the_low_watermark() {
    let mut manager = ConnManager::new(config(4, 8));
    let peers = peers(10);
    let now = Instant::now() + OLD;
    let connections = one_each(&peers, now, OLD);
    let closed = manager.trim(now, &connections);
    assert_eq!(connections.len() - closed.len(), 4);
}

#[test]
fn trim_closes_all_connections_of_a_chosen_peer() {
    let mut manager = ConnManager::new(config(1, 2));
    let peers = peers(2);
    manager.tag_peer(peers[1], "app", 1).expect("tag");
    let now = Instant::now() + OLD;
    let connections = vec![
        ConnectionEntry { key: 10, peer: peers[0], opened_at: now - OLD },
        ConnectionEntry { key: 11, peer: peers[1], opened_at: now - OLD },
        ConnectionEntry { key: 12, peer: peers[0], opened_at: now - OLD },
    ];
    assert_eq!(manager.trim(now, &connections), vec![10, 12]);
}

#[test]
fn protected_peers_are_never_trimmed() {
    let mut manager = ConnManager::new(config(0, 1));
    let peers = peers(3);
    manager.protect(peers[0], "relay").expect("protect");
    manager.protect(peers[0], "kad").expect("protect");
    let now = Instant::now() + OLD;
    let mut closed = manager.trim(now, &one_each(&peers, now, OLD));
    closed.sort();
    assert_eq!(closed, vec![1, 2]);
    assert!(manager.unprotect(peers[0], "relay"), "still protected by kad");
    assert!(manager.is_protected(peers[0], Some("kad")));
    assert!(!manager.is_protected(peers[0], Some("relay")));
    assert!(!manager.unprotect(peers[0], "kad"));
    assert!(!manager.is_protected(peers[0], None));
    let mut closed = manager.trim(now, &one_each(&peers, now, OLD));
    closed.sort();
    assert_eq!(closed, vec![0, 1, 2]);
}

#[test]
fn connections_in_their_grace_period_are_never_trimmed() {
    let mut manager = ConnManager::new(config(1, 2));
    let peers = peers(4);
    let now = Instant::now() + OLD;
    let mut connections = one_each(&peers, now, OLD);
    // The two newest connections are 59 s old: within the 60 s grace.
    connections[0].opened_at = now - Duration::from_secs(59);
    connections[1].opened_at = now - Duration::from_secs(59);
    let mut closed = manager.trim(now, &connections);
    closed.sort();
    // Two trimmable, low watermark 1: one of them goes, the young stay.
    assert_eq!(closed.len(), 1);
    assert!(closed[0] >= 2, "closed a connection in its grace period: {closed:?}");
    // At exactly the grace period a connection is trimmable.
    connections[0].opened_at = now - Duration::from_secs(60);
    assert_eq!(manager.trim(now, &connections).len(), 2);
}

#[test]
fn protected_and_young_connections_do_not_count_against_the_low_watermark() {
    let mut manager = ConnManager::new(config(2, 3));
    let peers = peers(5);
    let now = Instant::now() + OLD;
    let mut connections = one_each(&peers, now, OLD);
    manager.protect(peers[0], "keep").expect("protect");
    connections[1].opened_at = now;
    connections[2].opened_at = now;
    // Five open, above the high watermark, but only two trimmable: the low
    // watermark's worth, so nothing goes (go-libp2p's rule).
    assert!(manager.trim_due(now, connections.len()));
    assert_eq!(manager.poll_trim(now, &connections), Vec::<usize>::new());
}

#[test]
fn no_trim_at_or_below_the_high_watermark_nor_within_the_silence_period() {
    let mut manager = ConnManager::new(config(2, 4));
    let peers = peers(5);
    let now = Instant::now() + OLD;
    let connections = one_each(&peers, now, OLD);
    assert!(!manager.trim_due(now, 4));
    assert!(manager.poll_trim(now, &connections[..4]).is_empty());
    assert!(manager.trim_due(now, 5));
    assert_eq!(manager.poll_trim(now, &connections).len(), 3);
    // Just trimmed: silent for 10 s even above the high watermark.
    let soon = now + Duration::from_secs(9);
    assert!(!manager.trim_due(soon, 5));
    assert!(manager.poll_trim(soon, &connections).is_empty());
    let later = now + Duration::from_secs(10);
    assert_eq!(manager.poll_trim(later, &connections).len(), 3);
    assert_eq!(manager.check_interval(), Duration::from_secs(10));
}

#[test]
fn a_zero_high_watermark_disables_automatic_trims() {
    let mut manager = ConnManager::new(config(0, 0));
    let peers = peers(3);
    let now = Instant::now() + OLD;
    assert!(manager.poll_trim(now, &one_each(&peers, now, OLD)).is_empty());
}

#[test]
fn tag_names_are_bounded_in_length() {
    let mut manager = ConnManager::new(config(1, 2));
    let peer = PeerId::random();
    let long = "x".repeat(129);
    assert_eq!(manager.tag_peer(peer, &long, 1), Err(TagError::TagTooLong { len: 129, max: 128 }));
    assert_eq!(manager.protect(peer, &long), Err(TagError::TagTooLong { len: 129, max: 128 }));
    manager.tag_peer(peer, &long[..128], 1).expect("128 bytes is within the bound");
}

#[test]
fn tags_and_protections_per_peer_are_bounded() {
    let mut manager = ConnManager::new(ConnManagerConfig { max_tags_per_peer: 3, ..config(1, 2) });
    let peer = PeerId::random();
    for index in 0..3 {
        manager.tag_peer(peer, &format!("t{index}"), 1).expect("tag");
        manager.protect(peer, &format!("p{index}")).expect("protect");
    }
    assert_eq!(manager.tag_peer(peer, "t3", 1), Err(TagError::TooManyTags { max: 3 }));
    assert_eq!(manager.upsert_tag(peer, "t3", |_| 1), Err(TagError::TooManyTags { max: 3 }));
    assert_eq!(manager.protect(peer, "p3"), Err(TagError::TooManyTags { max: 3 }));
    // Updating an existing tag is not a new one.
    manager.tag_peer(peer, "t0", 5).expect("update");
    manager.protect(peer, "p0").expect("again");
    assert_eq!(manager.peer_value(peer), 7);
}

#[test]
fn tracked_peers_are_bounded_and_forgotten_when_empty() {
    let mut manager = ConnManager::new(ConnManagerConfig { max_tracked_peers: 2, ..config(1, 2) });
    let peers = peers(3);
    manager.tag_peer(peers[0], "a", 1).expect("tag");
    manager.protect(peers[1], "a").expect("protect");
    assert_eq!(manager.tag_peer(peers[2], "a", 1), Err(TagError::TooManyPeers { max: 2 }));
    assert_eq!(manager.protect(peers[2], "a"), Err(TagError::TooManyPeers { max: 2 }));
    // A tracked peer may still take more tags.
    manager.tag_peer(peers[1], "b", 1).expect("tag");
    assert_eq!(manager.tracked_peers(), 2);
    manager.untag_peer(peers[0], "a");
    assert_eq!(manager.tracked_peers(), 1);
    manager.tag_peer(peers[2], "a", 1).expect("room again");
    // Disconnection drops tags but not protections.
    manager.peer_disconnected(peers[1]);
    assert_eq!(manager.peer_value(peers[1]), 0);
    assert!(manager.is_protected(peers[1], None));
    assert!(!manager.unprotect(peers[1], "a"));
    manager.peer_disconnected(peers[2]);
    assert_eq!(manager.tracked_peers(), 0);
}

#[test]
fn the_high_watermark_is_compared_with_the_system_limit() {
    let manager = ConnManager::new(ConnManagerConfig::default());
    assert!(!manager.high_watermark_exceeds(192));
    assert!(manager.high_watermark_exceeds(191));
    // The default 192 fits the system limit from a 512 MiB budget (a 4 GiB
    // machine) up; below, the swarm must lower the watermarks.
    let system = |budget: u64| crate::rcmgr::ResourceManagerConfig::scaled(budget, 0).system.conns;
    assert_eq!(system(512 << 20), 192);
    assert!(!manager.high_watermark_exceeds(system(512 << 20)));
    assert!(manager.high_watermark_exceeds(system(511 << 20)));
    assert!(manager.high_watermark_exceeds(system(0)));
}
