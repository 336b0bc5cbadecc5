//! Tests of the mDNS wire format and state machine (no sockets).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::rdata::{PTR, TXT};
use hickory_proto::rr::{Name, RData, Record};

use super::wire::{self, Announcement, MAX_RESPONSE, Packet};
use super::{Config, Mdns, MdnsError, MdnsEvent, Received, random_peer_name};
use crate::identity::{Keypair, PeerId};
use crate::multiaddr::Multiaddr;

fn peer() -> PeerId {
    Keypair::generate_ed25519().public().to_peer_id()
}

fn addr(text: &str) -> Multiaddr {
    text.parse().expect("test multiaddr")
}

const LAN: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 7));

#[test]
fn query_round_trips() {
    let bytes = wire::encode_query(7).expect("encode");
    assert_eq!(wire::decode(&bytes).expect("decode"), Packet::Query { id: 7 });
}

#[test]
fn response_round_trips() {
    let me = peer();
    let addrs = vec![addr("/ip4/192.168.1.7/tcp/4001"), addr("/ip4/192.168.1.7/udp/4001/quic-v1")];
    let packets = wire::encode_response(3, &random_peer_name(), &me, &addrs, Duration::from_secs(360)).expect("encode");
    assert_eq!(packets.len(), 1);
    let expected = Announcement { peer: me, addrs, ttl: Duration::from_secs(360) };
    assert_eq!(wire::decode(&packets[0]).expect("decode"), Packet::Response(vec![expected]));
}

#[test]
fn large_responses_are_split_under_the_size_limit() {
    let me = peer();
    let addrs: Vec<Multiaddr> = (0..60).map(|i| addr(&format!("/ip4/10.0.0.{i}/tcp/{}", 4000 + i))).collect();
    let packets = wire::encode_response(0, &random_peer_name(), &me, &addrs, Duration::from_secs(60)).expect("encode");
    assert!(packets.len() > 1, "60 addresses should not fit one datagram");
    let mut seen = Vec::new();
    for packet in &packets {
        assert!(packet.len() <= MAX_RESPONSE, "datagram of {} bytes", packet.len());
        let Packet::Response(mut list) = wire::decode(packet).expect("decode") else { panic!("not a response") };
        let announcement = list.pop().expect("one peer");
        assert_eq!(announcement.peer, me);
        seen.extend(announcement.addrs);
    }
    assert_eq!(seen, addrs);
}

#[test]
fn no_addresses_means_no_response() {
    let packets = wire::encode_response(0, &random_peer_name(), &peer(), &[], Duration::from_secs(60)).expect("encode");
    assert!(packets.is_empty());
}

#[test]
fn meta_query_is_answered_with_the_service() {
    let mut message = Message::new(9, MessageType::Query, OpCode::Query);
    let name = Name::from_ascii(wire::META_QUERY_NAME).expect("name");
    message.add_query(hickory_proto::op::Query::query(name, hickory_proto::rr::RecordType::PTR));
    let bytes = message.to_vec().expect("encode");
    assert_eq!(wire::decode(&bytes).expect("decode"), Packet::ServiceQuery { id: 9 });
    let answer =
        Message::from_vec(&wire::encode_service_response(9, Duration::from_secs(60)).expect("encode")).expect("decode");
    let RData::PTR(PTR(target)) = &answer.answers[0].data else { panic!("not a PTR") };
    assert_eq!(target, &Name::from_ascii(wire::SERVICE_NAME).expect("name"));
}

/// A response built record by record, as another implementation might.
fn response_with(instance: &str, txt: Vec<&str>, in_answers: bool) -> Vec<u8> {
    let mut message = Message::new(0, MessageType::Response, OpCode::Query);
    let instance = Name::from_ascii(instance).expect("name");
    let service = Name::from_ascii(wire::SERVICE_NAME).expect("name");
    message.add_answer(Record::from_rdata(service, 120, RData::PTR(PTR(instance.clone()))));
    let record = Record::from_rdata(instance, 120, RData::TXT(TXT::new(txt.into_iter().map(String::from).collect())));
    if in_answers {
        message.add_answer(record);
    } else {
        message.add_additional(record);
    }
    message.to_vec().expect("encode")
}

#[test]
fn rust_libp2p_style_bare_instance_names_and_answer_section_txt_are_read() {
    let id = peer();
    let txt = format!("dnsaddr=/ip4/10.1.1.1/tcp/1/p2p/{id}");
    for in_answers in [false, true] {
        // rust-libp2p names the instance by its random label alone.
        let bytes = response_with("k2jd8s7a6s5d4f3g2h1j0k9l8z7x6c5v.", vec![&txt], in_answers);
        let Packet::Response(list) = wire::decode(&bytes).expect("decode") else { panic!("not a response") };
        assert_eq!(list[0].peer, id);
        assert_eq!(list[0].addrs, vec![addr("/ip4/10.1.1.1/tcp/1")]);
    }
}

#[test]
fn bad_txt_attributes_are_skipped() {
    let id = peer();
    let other = peer();
    let good = format!("dnsaddr=/ip4/10.1.1.1/tcp/1/p2p/{id}");
    let quoted = format!("\"dnsaddr=/ip4/10.1.1.2/tcp/2/p2p/{id}\"");
    let other_id = format!("dnsaddr=/ip4/10.1.1.3/tcp/3/p2p/{other}");
    let bytes = response_with(
        "abc._p2p._udp.local.",
        vec![
            &good,
            "dnsaddr=/ip4/10.1.1.4/tcp/4",
            "dnsaddr=not a multiaddr",
            "foo=bar",
            &quoted,
            &other_id,
            "dnsaddr=",
        ],
        false,
    );
    let Packet::Response(list) = wire::decode(&bytes).expect("decode") else { panic!("not a response") };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].peer, id);
    assert_eq!(list[0].addrs, vec![addr("/ip4/10.1.1.1/tcp/1"), addr("/ip4/10.1.1.2/tcp/2")]);
}

#[test]
fn a_response_without_usable_peers_is_unrelated() {
    let bytes = response_with("abc._p2p._udp.local.", vec!["foo=bar"], false);
    assert_eq!(wire::decode(&bytes).expect("decode"), Packet::Unrelated);
}

#[test]
fn many_addresses_in_one_datagram_are_capped() {
    let id = peer();
    let txt: Vec<String> = (0..100).map(|i| format!("dnsaddr=/ip4/10.0.0.1/tcp/{i}/p2p/{id}")).collect();
    let bytes = response_with("abc._p2p._udp.local.", txt.iter().map(String::as_str).collect(), false);
    let Packet::Response(list) = wire::decode(&bytes).expect("decode") else { panic!("not a response") };
    assert_eq!(list[0].addrs.len(), wire::MAX_ADDRS_PER_PEER);
}

#[test]
fn oversized_datagrams_are_rejected() {
    let bytes = vec![0u8; wire::MAX_DATAGRAM + 1];
    assert!(matches!(wire::decode(&bytes), Err(MdnsError::Oversized { len }) if len == wire::MAX_DATAGRAM + 1));
}

#[test]
fn truncated_datagrams_give_typed_errors() {
    let packets = wire::encode_response(1, "abcdef", &peer(), &[addr("/ip4/10.0.0.1/tcp/1")], Duration::from_secs(9))
        .expect("encode");
    let full = &packets[0];
    for len in 0..full.len() {
        match wire::decode(&full[..len]) {
            Err(MdnsError::Malformed(_)) => {}
            other => panic!("truncated to {len} bytes: {other:?}"),
        }
    }
}

#[test]
fn random_and_mutated_datagrams_never_panic() {
    use ring::rand::{SecureRandom, SystemRandom};
    let rng = SystemRandom::new();
    let addrs = [addr("/ip4/10.0.0.1/tcp/1"), addr("/ip4/10.0.0.2/tcp/2")];
    let valid = wire::encode_response(1, "abcdef", &peer(), &addrs, Duration::from_secs(9)).expect("encode").remove(0);
    for round in 0..4000usize {
        let bytes = if round % 2 == 0 {
            let mut bytes = vec![0u8; 1 + round % 600];
            rng.fill(&mut bytes).expect("random");
            bytes
        } else {
            // A real response with a few random bytes changed.
            let mut bytes = valid.clone();
            let mut noise = [0u8; 8];
            rng.fill(&mut noise).expect("random");
            for pair in noise.chunks(2) {
                let at = usize::from(pair[0]) * bytes.len() / 256;
                bytes[at] = pair[1];
            }
            bytes
        };
        let _ = wire::decode(&bytes);
    }
}

fn machine(now: Instant) -> (Mdns, PeerId) {
    let me = peer();
    (Mdns::new(Config::default(), me, random_peer_name(), now).expect("machine"), me)
}

fn announce(peer: &PeerId, addrs: &[Multiaddr], ttl: Duration) -> Vec<u8> {
    wire::encode_response(0, &random_peer_name(), peer, addrs, ttl).expect("encode").remove(0)
}

#[test]
fn queries_start_at_once_then_back_off_to_the_steady_interval() {
    let t0 = Instant::now();
    let (mut mdns, _) = machine(t0);
    assert_eq!(mdns.poll_timeout(), t0 + Config::default().first_query_delay);
    assert_eq!(mdns.handle_timeout(t0).0, None, "the first query waits a little");
    let mut now = mdns.poll_timeout();
    let mut gaps = Vec::new();
    for _ in 0..12 {
        let (query, _) = mdns.handle_timeout(now);
        let query = query.expect("a query is due");
        assert_eq!(wire::decode(&query).expect("decode"), Packet::Query { id: 0 });
        let next = mdns.poll_timeout();
        gaps.push(next - now);
        now = next;
    }
    assert_eq!(gaps[0], Duration::from_millis(500));
    assert_eq!(gaps[1], Duration::from_secs(1));
    assert_eq!(*gaps.last().expect("gaps"), Duration::from_secs(300));
    // Nothing is due before the deadline.
    assert_eq!(mdns.handle_timeout(now - Duration::from_millis(1)).0, None);
}

#[test]
fn discovers_new_addresses_once_and_ignores_itself() {
    let t0 = Instant::now();
    let (mut mdns, me) = machine(t0);
    let other = peer();
    let a = addr("/ip4/192.168.1.7/tcp/1");
    let b = addr("/ip4/192.168.1.7/tcp/2");
    let ttl = Duration::from_secs(120);
    let got = mdns.handle_datagram(&announce(&other, std::slice::from_ref(&a), ttl), LAN, false, t0).expect("ok");
    assert_eq!(got, Received::Events(vec![MdnsEvent::Discovered { peer: other, addrs: vec![a.clone()], ttl }]));
    // The same again: nothing new, the known address refreshed.
    let got = mdns.handle_datagram(&announce(&other, std::slice::from_ref(&a), ttl), LAN, false, t0).expect("ok");
    let refreshed = MdnsEvent::Refreshed { peer: other, addrs: vec![a.clone()], ttl };
    assert_eq!(got, Received::Events(vec![refreshed.clone()]));
    // One more address: only it is new.
    let got = mdns.handle_datagram(&announce(&other, &[a, b.clone()], ttl), LAN, false, t0).expect("ok");
    assert_eq!(got, Received::Events(vec![MdnsEvent::Discovered { peer: other, addrs: vec![b], ttl }, refreshed]));
    // Our own response (multicast loops back): ignored.
    let own = announce(&me, &[addr("/ip4/192.168.1.8/tcp/1")], ttl);
    assert_eq!(mdns.handle_datagram(&own, LAN, true, t0).expect("ok"), Received::Events(vec![]));
}

#[test]
fn loopback_addresses_are_believed_only_from_this_host() {
    let t0 = Instant::now();
    let (mut mdns, _) = machine(t0);
    let other = peer();
    let lo = addr("/ip4/127.0.0.1/tcp/1");
    let ttl = Duration::from_secs(60);
    let packet = announce(&other, std::slice::from_ref(&lo), ttl);
    assert_eq!(mdns.handle_datagram(&packet, LAN, false, t0).expect("ok"), Received::Events(vec![]));
    let got = mdns.handle_datagram(&packet, LAN, true, t0).expect("ok");
    assert_eq!(got, Received::Events(vec![MdnsEvent::Discovered { peer: other, addrs: vec![lo], ttl }]));
}

#[test]
fn peers_expire_after_their_ttl_and_on_goodbye() {
    let t0 = Instant::now();
    let (mut mdns, _) = machine(t0);
    let (p1, p2) = (peer(), peer());
    mdns.handle_datagram(&announce(&p1, &[addr("/ip4/10.0.0.1/tcp/1")], Duration::from_secs(10)), LAN, false, t0)
        .expect("ok");
    mdns.handle_datagram(&announce(&p2, &[addr("/ip4/10.0.0.2/tcp/1")], Duration::from_secs(100)), LAN, false, t0)
        .expect("ok");
    let first = t0 + Config::default().first_query_delay;
    mdns.handle_timeout(first);
    assert_eq!(mdns.poll_timeout(), first + Duration::from_millis(500));
    let (_, expired) = mdns.handle_timeout(t0 + Duration::from_secs(11));
    assert_eq!(expired, vec![MdnsEvent::Expired { peer: p1 }]);
    assert_eq!(mdns.peers().count(), 1);
    let goodbye = announce(&p2, &[addr("/ip4/10.0.0.2/tcp/1")], Duration::ZERO);
    let got = mdns.handle_datagram(&goodbye, LAN, false, t0 + Duration::from_secs(12)).expect("ok");
    assert_eq!(got, Received::Events(vec![MdnsEvent::Expired { peer: p2 }]));
    assert_eq!(mdns.peers().count(), 0);
}

#[test]
fn huge_ttls_are_capped() {
    let t0 = Instant::now();
    let (mut mdns, _) = machine(t0);
    mdns.handle_timeout(t0);
    let other = peer();
    let got = mdns
        .handle_datagram(
            &announce(&other, &[addr("/ip4/10.0.0.1/tcp/1")], Duration::from_secs(u64::from(u32::MAX))),
            LAN,
            false,
            t0,
        )
        .expect("ok");
    let Received::Events(events) = got else { panic!("no events") };
    assert!(matches!(events[0], MdnsEvent::Discovered { ttl, .. } if ttl == Config::default().max_ttl));
}

#[test]
fn the_peer_table_is_bounded() {
    let t0 = Instant::now();
    let config = Config { max_peers: 3, max_addrs_per_peer: 2, ..Config::default() };
    let mut mdns = Mdns::new(config, peer(), random_peer_name(), t0).expect("machine");
    for _ in 0..10 {
        let addrs: Vec<Multiaddr> = (1..=5).map(|i| addr(&format!("/ip4/10.0.0.1/tcp/{i}"))).collect();
        mdns.handle_datagram(&announce(&peer(), &addrs, Duration::from_secs(60)), LAN, false, t0).expect("ok");
    }
    assert_eq!(mdns.peers().count(), 3);
    assert!(mdns.peers().all(|(_, addrs)| addrs.count() == 2));
}

#[test]
fn queries_are_answered_at_a_bounded_rate() {
    let t0 = Instant::now();
    let (mut mdns, _) = machine(t0);
    let query = wire::encode_query(5).expect("encode");
    let answered = (0..50)
        .filter(|_| mdns.handle_datagram(&query, LAN, false, t0).expect("ok") == Received::Answer { id: 5 })
        .count();
    assert_eq!(answered, Config::default().max_responses_per_second as usize);
    let later = t0 + Duration::from_secs(1);
    assert_eq!(mdns.handle_datagram(&query, LAN, false, later).expect("ok"), Received::Answer { id: 5 });
}

#[test]
fn responses_carry_the_given_addresses() {
    let t0 = Instant::now();
    let (mdns, me) = machine(t0);
    let addrs = vec![addr("/ip4/10.0.0.1/tcp/9")];
    let packets = mdns.response(4, &addrs);
    let Packet::Response(list) = wire::decode(&packets[0]).expect("decode") else { panic!("not a response") };
    assert_eq!(list, vec![Announcement { peer: me, addrs, ttl: Config::default().ttl }]);
}

#[test]
fn peer_names_follow_the_spec() {
    let name = random_peer_name();
    assert!((32..64).contains(&name.len()));
    assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert_ne!(name, random_peer_name());
    assert!(matches!(
        Mdns::new(Config::default(), peer(), "a".repeat(64), Instant::now()),
        Err(MdnsError::InvalidName)
    ));
}

#[test]
fn announcing_again_extends_the_expiry() {
    let t0 = Instant::now();
    let (mut mdns, _) = machine(t0);
    let other = peer();
    let ttl = Duration::from_secs(10);
    let packet = announce(&other, &[addr("/ip4/10.0.0.1/tcp/1")], ttl);
    mdns.handle_datagram(&packet, LAN, false, t0).expect("ok");
    mdns.handle_datagram(&packet, LAN, false, t0 + Duration::from_secs(8)).expect("ok");
    let (_, expired) = mdns.handle_timeout(t0 + Duration::from_secs(11));
    assert!(expired.is_empty());
    assert_eq!(mdns.peers().count(), 1);
    let (_, expired) = mdns.handle_timeout(t0 + Duration::from_secs(19));
    assert_eq!(expired, vec![MdnsEvent::Expired { peer: other }]);
}
