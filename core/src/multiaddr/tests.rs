//! Multiaddr tests: the conformance scenarios of the multiaddr spec
//! (`multiaddr.feature`, turned into the table below), round trips of every
//! protocol we implement, and malformed input.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    data_encoding::HEXLOWER_PERMISSIVE.decode(s.trim_start_matches("0x").as_bytes()).expect("test hex")
}

/// One component row of a conformance scenario.
struct Component {
    string: &'static str,
    packed: &'static str,
    value: &'static str,
    value_size: usize,
    protocol: &'static str,
    codec: u64,
    uvarint: &'static str,
    raw_value: &'static str,
}

const CONFORMANCE_COMPONENTS: [Component; 2] = [
    Component {
        string: "/ip4/192.0.2.42",
        packed: "0x04c000022a",
        value: "192.0.2.42",
        value_size: 4,
        protocol: "ip4",
        codec: 4,
        uvarint: "0x04",
        raw_value: "0xc000022a",
    },
    Component {
        string: "/tcp/443",
        packed: "0x0601bb",
        value: "443",
        value_size: 2,
        protocol: "tcp",
        codec: 6,
        uvarint: "0x06",
        raw_value: "0x01bb",
    },
];

fn check_components(addr: &Multiaddr) {
    let components: Vec<Protocol> = addr.iter().collect();
    assert_eq!(components.len(), CONFORMANCE_COMPONENTS.len());
    for (protocol, row) in components.iter().zip(CONFORMANCE_COMPONENTS.iter()) {
        assert_eq!(protocol.to_string(), row.string);
        assert_eq!(protocol.to_string().len(), row.string.len(), "stringSize");
        let mut packed = Vec::new();
        protocol.encode(&mut packed);
        assert_eq!(packed, hex(row.packed));
        assert_eq!(protocol.name(), row.protocol);
        assert_eq!(protocol.code(), row.codec);
        assert_eq!(crate::wire::varint::encode_to_vec(protocol.code()), hex(row.uvarint));
        let raw = &packed[hex(row.uvarint).len()..];
        assert_eq!(raw, hex(row.raw_value).as_slice());
        assert_eq!(raw.len(), row.value_size);
        let text = protocol.to_string();
        assert_eq!(text.rsplit('/').next(), Some(row.value));
    }
}

#[test]
fn conformance_simple_string_form() {
    let addr: Multiaddr = "/ip4/192.0.2.42/tcp/443".parse().expect("parses");
    assert_eq!(addr.as_bytes(), hex("0x04c000022a0601bb").as_slice());
    assert_eq!(addr.as_bytes().len(), 8);
    check_components(&addr);
}

#[test]
fn conformance_simple_packed_form() {
    let addr = Multiaddr::from_bytes(&hex("0x04c000022a0601bb")).expect("decodes");
    assert_eq!(addr.to_string(), "/ip4/192.0.2.42/tcp/443");
    assert_eq!(addr.to_string().len(), 23);
    check_components(&addr);
}

const ROUND_TRIPS: &[&str] = &[
    "/ip4/127.0.0.1/tcp/4001",
    "/ip6/::1/tcp/0",
    "/ip6/2001:db8::1/udp/443/quic-v1",
    "/ip6/fe80::1/ip6zone/eth0/tcp/1",
    "/ip4/10.0.0.0/ipcidr/8",
    "/dns/example.com/tcp/443/tls/sni/example.com/ws",
    "/dns4/example.com/tcp/443/wss",
    "/dns6/example.com/udp/4001/quic",
    "/dnsaddr/bootstrap.libp2p.io",
    "/ip4/1.2.3.4/udp/4001/quic-v1/webtransport/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
    "/ip4/1.2.3.4/tcp/4001/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N/p2p-circuit/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
    "/unix/%2Ftmp%2Fp2p.sock",
    "/ip4/1.2.3.4/tcp/80/http/http-path/foo%2Fbar",
    "/ip4/1.2.3.4/tcp/443/https",
    "/ip4/1.2.3.4/tcp/1/noise",
    "/ip4/1.2.3.4/udp/1/webrtc-direct",
    "/webrtc",
    "/ip4/1.2.3.4/sctp/5000",
    "/ip4/1.2.3.4/dccp/5000",
    "/ip4/1.2.3.4/udp/1/utp",
    "/ip4/1.2.3.4/udp/1/udt",
    "/memory/1234",
    "/p2p-circuit",
    "/p2p-websocket-star",
    "/p2p-stardust",
    "/p2p-webrtc-star",
    "/p2p-webrtc-direct",
];

#[test]
fn text_and_binary_round_trip() {
    for text in ROUND_TRIPS {
        let addr: Multiaddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(addr.to_string(), *text);
        let back = Multiaddr::from_bytes(addr.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(back, addr);
        let rebuilt: Multiaddr = addr.iter().collect();
        assert_eq!(rebuilt, addr);
    }
}

#[test]
fn legacy_ipfs_and_cid_peer_ids_read_as_p2p() {
    let legacy: Multiaddr =
        "/ip4/1.2.3.4/tcp/1/ipfs/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N".parse().expect("ok");
    assert_eq!(legacy.to_string(), "/ip4/1.2.3.4/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
    let cid: Multiaddr = "/p2p/bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe".parse().expect("ok");
    assert_eq!(cid.to_string(), "/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
    assert!(cid.peer_id().is_some());
}

#[test]
fn push_pop_with_and_peer_id() {
    let mut addr: Multiaddr = "/ip4/1.2.3.4/tcp/1".parse().expect("ok");
    assert_eq!(addr.len(), 2);
    assert_eq!(addr.peer_id(), None);
    let peer: PeerId = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA".parse().expect("ok");
    addr.push(Protocol::P2p(peer));
    assert_eq!(addr.peer_id(), Some(peer));
    assert_eq!(addr.pop(), Some(Protocol::P2p(peer)));
    assert_eq!(addr.pop(), Some(Protocol::Tcp(1)));
    assert_eq!(addr.pop(), Some(Protocol::Ip4([1, 2, 3, 4].into())));
    assert_eq!(addr.pop(), None);
    assert!(addr.is_empty());
    assert_eq!("/".parse::<Multiaddr>(), Ok(Multiaddr::empty()));
}

#[test]
fn malformed_text_gives_typed_errors() {
    let cases: &[(&str, Error)] = &[
        ("ip4/1.2.3.4", Error::MissingLeadingSlash),
        ("/ip4", Error::MissingValue("ip4")),
        ("/tcp", Error::MissingValue("tcp")),
        ("/foo/1", Error::UnknownProtocol("foo".into())),
        ("/onion3/abc:80", Error::UnsupportedProtocol("onion3")),
        ("/ip4/1.2.3", Error::InvalidValue { protocol: "ip4", reason: "not an IPv4 address" }),
        ("/ip4/1.2.3.4/tcp/65536", Error::InvalidValue { protocol: "tcp", reason: "not a port number" }),
        ("/ip4/1.2.3.4/tcp/-1", Error::InvalidValue { protocol: "tcp", reason: "not a port number" }),
        ("/ip6/::g", Error::InvalidValue { protocol: "ip6", reason: "not an IPv6 address" }),
        ("/p2p/Qmnope", Error::InvalidValue { protocol: "p2p", reason: "not a peer id" }),
        ("/dns/", Error::InvalidValue { protocol: "dns", reason: "empty" }),
        ("/unix/%zz", Error::InvalidValue { protocol: "unix", reason: "bad percent-encoding" }),
        ("/certhash/xabc", Error::InvalidValue { protocol: "certhash", reason: "not a multibase multihash" }),
        ("/memory/x", Error::InvalidValue { protocol: "memory", reason: "not a u64" }),
    ];
    for (text, expected) in cases {
        assert_eq!(text.parse::<Multiaddr>().as_ref(), Err(expected), "{text}");
    }
    let long = format!("/dns/{}", "a".repeat(600));
    assert!(matches!(long.parse::<Multiaddr>(), Err(Error::InvalidValue { reason: "too long", .. })));
    let many = "/tcp/1".repeat(400);
    assert_eq!(many.parse::<Multiaddr>(), Err(Error::TooLong));
}

#[test]
fn truncated_binary_is_rejected() {
    for text in ROUND_TRIPS {
        let addr: Multiaddr = text.parse().expect("ok");
        let bytes = addr.as_bytes();
        for cut in 1..bytes.len() {
            let prefix = &bytes[..cut];
            // A prefix may happen to end on a component boundary; otherwise it must fail.
            if let Ok(parsed) = Multiaddr::from_bytes(prefix) {
                assert!(addr.to_string().starts_with(&parsed.to_string()), "{text} cut at {cut}");
            }
        }
    }
    assert_eq!(Multiaddr::from_bytes(&[0x04, 1, 2]), Err(Error::Truncated));
    assert_eq!(Multiaddr::from_bytes(&[0x35, 10, b'a']), Err(Error::Truncated));
    assert_eq!(Multiaddr::from_bytes(&[0x80]), Err(Error::Truncated));
}

#[test]
fn oversized_and_unknown_binary_is_rejected() {
    assert_eq!(Multiaddr::from_bytes(&vec![0x06; MAX_LEN + 1]), Err(Error::TooLong));
    assert!(matches!(Multiaddr::from_bytes(&[0x35, 0xff, 0xff, 0x03]), Err(Error::InvalidValue { .. })));
    assert_eq!(Multiaddr::from_bytes(&[0x7f]), Err(Error::UnknownProtocol("127".into())));
    assert_eq!(Multiaddr::from_bytes(&[0xff; 12]), Err(Error::InvalidVarint));
    assert!(matches!(Multiaddr::from_bytes(&[0xa5, 0x03, 0x02, 0x12, 0x01]), Err(Error::InvalidValue { .. })));
    assert!(matches!(Multiaddr::from_bytes(&[0x35, 0x01, 0xff]), Err(Error::InvalidValue { .. })));
}

#[test]
fn random_input_never_panics() {
    for bytes in crate::testutil::random_inputs(0x2545_f491, 20_000, 40) {
        if let Ok(addr) = Multiaddr::from_bytes(&bytes) {
            // Whatever decodes must print and parse back to the same address.
            let text = addr.to_string();
            assert_eq!(text.parse::<Multiaddr>().as_ref(), Ok(&addr), "{text}");
        }
        let text: String = bytes.iter().map(|b| ['/', 'a', '1', '.', ':', '%', 'p', '2'][(*b % 8) as usize]).collect();
        let _ = text.parse::<Multiaddr>();
    }
}

/// A binary component: code, length, value.
fn component(code: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    crate::wire::varint::encode(code, &mut out);
    crate::wire::varint::encode(value.len() as u64, &mut out);
    out.extend_from_slice(value);
    out
}

#[test]
fn raw_printed_values_with_a_slash_are_refused() {
    // dns, dns4, dns6, dnsaddr, sni, ip6zone: printed raw in text form.
    for (code, name) in [(53, "dns"), (54, "dns4"), (55, "dns6"), (56, "dnsaddr"), (449, "sni"), (42, "ip6zone")] {
        let mut bytes = component(code, b"evil.example/tcp/1");
        bytes.extend_from_slice(&hex("0601bb"));
        assert_eq!(Multiaddr::from_bytes(&bytes), Err(Error::SlashInValue(name)), "{name}");
    }
    let dns = Protocol::Dns("a/ip4/1.2.3.4".into());
    assert_eq!(Multiaddr::empty().try_with(dns.clone()), Err(Error::SlashInValue("dns")));
    assert_eq!(dns.validate(), Err(Error::SlashInValue("dns")));
    assert!(Multiaddr::empty().try_with(Protocol::Dns("example.com".into())).is_ok());
    // Percent-encoded values may hold a slash: their text form escapes it.
    let unix = Multiaddr::from_bytes(&component(400, b"/tmp/sock")).expect("unix path");
    assert_eq!(unix.to_string().parse::<Multiaddr>(), Ok(unix));
}
