//! Writes a few valid inputs per fuzz target under `fuzz/corpus/<target>/`,
//! made by lp2p's own encoders with fixed keys (so the output is stable).

use std::path::{Path, PathBuf};
use std::time::Duration;

use lp2p::identity::envelope::SignedEnvelope;
use lp2p::identity::record::PeerRecord;
use lp2p::negotiate::machine::Message as Ms;
use lp2p::protocols::autonat::codec::{self as autonat, DialResponse, DialStatus, ResponseStatus};
use lp2p::protocols::identify::{self, Info};
use lp2p::protocols::kad::protocol::{self as kad, KadPeer, Record, Request, Response};
use lp2p::protocols::kad::{pb as kad_pb, validator};
use lp2p::protocols::mdns::wire as mdns;
use lp2p::protocols::rendezvous::{self, Discover, Register, Status};
use lp2p::security::noise::pb::{NoiseExtensions, NoiseHandshakePayload};
use lp2p::wire::{frame, varint};
use lp2p::{Keypair, Multiaddr};
use prost::Message;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = corpus().join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
}

fn addrs() -> Vec<Multiaddr> {
    [
        "/ip4/127.0.0.1/tcp/4001",
        "/ip6/::1/udp/4001/quic-v1",
        "/dns4/example.com/tcp/443/wss",
        "/ip4/10.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
        "/unix/%2Ftmp%2Fsock",
        "/ip4/1.2.3.4/udp/1/quic-v1/webtransport/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
        "/memory/77",
    ]
    .iter()
    .map(|s| s.parse().expect("seed address"))
    .collect()
}

fn cbor_head(out: &mut Vec<u8>, major: u8, v: u64) {
    let m = major << 5;
    if v < 24 {
        out.push(m | v as u8);
    } else if v <= 0xff {
        out.extend_from_slice(&[m | 24, v as u8]);
    } else {
        out.push(m | 27);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn ipns_record(key: &Keypair) -> Vec<u8> {
    let mut data = Vec::new();
    cbor_head(&mut data, 5, 5);
    for (name, major, value) in [
        ("TTL", 0u8, None),
        ("Value", 2, Some(b"/ipfs/bafy".as_slice())),
        ("Sequence", 0, None),
        ("Validity", 2, Some(b"2099-01-01T00:00:00.000Z".as_slice())),
        ("ValidityType", 0, None),
    ] {
        cbor_head(&mut data, 3, name.len() as u64);
        data.extend_from_slice(name.as_bytes());
        match value {
            Some(bytes) => {
                cbor_head(&mut data, major, bytes.len() as u64);
                data.extend_from_slice(bytes);
            }
            None => cbor_head(&mut data, 0, if name == "TTL" { 3_600_000_000_000 } else { 0 }),
        }
    }
    let mut signed = b"ipns-signature:".to_vec();
    signed.extend_from_slice(&data);
    kad_pb::IpnsEntry { signature_v2: Some(key.sign(&signed).expect("sign")), data: Some(data), ..Default::default() }
        .encode_to_vec()
}

fn main() {
    let ed = Keypair::ed25519_from_seed([7; 32]);
    let keys = [ed.clone(), Keypair::generate_ecdsa(), Keypair::generate_secp256k1()];

    for (i, v) in [0u64, 1, 127, 128, 300, 16_384, (1 << 63) - 1].iter().enumerate() {
        write("varint", &i.to_string(), &varint::encode_to_vec(*v));
    }
    for (i, payload) in [&b""[..], b"hello", &[0xab; 300]].iter().enumerate() {
        let mut out = vec![8u8];
        frame::encode_frame(payload, &mut out);
        write("frame", &i.to_string(), &out);
    }
    for (i, addr) in addrs().iter().enumerate() {
        write("multiaddr_text", &i.to_string(), addr.to_string().as_bytes());
        write("multiaddr_bytes", &i.to_string(), addr.as_bytes());
        write("dnsaddr", &i.to_string(), format!("dnsaddr={addr}").as_bytes());
    }
    for (i, key) in keys.iter().enumerate() {
        let id = key.peer_id();
        write("peer_id", &format!("bytes{i}"), id.as_bytes());
        write("peer_id", &format!("b58-{i}"), id.to_base58().as_bytes());
        write("peer_id", &format!("cid{i}"), id.to_cid_string().as_bytes());
        write("keys", &format!("public{i}"), &key.public().encode_protobuf());
        write("keys", &format!("private{i}"), &key.to_protobuf_encoding());
        let record = PeerRecord::new(key, addrs());
        let envelope = record.to_signed_envelope(key).expect("seal");
        write("envelope", &i.to_string(), &envelope.encode());
        write("peer_record", &format!("envelope{i}"), &[[0u8].as_slice(), &envelope.encode()].concat());
        let legacy = record.to_legacy_signed_envelope(key).expect("seal");
        write("envelope", &format!("legacy{i}"), &legacy.encode());
        let payload = legacy.payload().to_vec();
        write("peer_record", &format!("payload{i}"), &[[1u8].as_slice(), &payload].concat());
        let info = Info {
            public_key: key.public(),
            protocol_version: "ipfs/0.1.0".into(),
            agent_version: "lp2p/0.1.0".into(),
            listen_addrs: addrs(),
            observed_addr: Some(addrs()[0].clone()),
            protocols: vec!["/ipfs/id/1.0.0".into(), "/ipfs/ping/1.0.0".into()],
            signed_peer_record: None,
        };
        write("identify", &i.to_string(), &identify::encode(&info, Some(&envelope)));
        let sec1 = key.to_protobuf_encoding();
        write("rsa_der", &format!("private{i}"), &sec1);
    }
    // The RSA SPKI of the peer-ids spec vector (a 2048-bit key).
    let hex = include_str!("../../../core/src/identity/testdata/rsa_public.hex").trim();
    let wrapped: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
    write("keys", "rsa-public", &wrapped);
    let rsa = lp2p::identity::pb::PublicKey::decode(wrapped.as_slice()).expect("protobuf").data;
    write("rsa_der", "rsa-spki", &rsa);

    let mut hello = Vec::new();
    Ms::Header.encode(&mut hello);
    Ms::Protocol("/noise".into()).encode(&mut hello);
    write("multistream", "propose", &[[3u8].as_slice(), &hello].concat());
    let mut ls = Vec::new();
    Ms::Header.encode(&mut ls);
    Ms::ListProtocols.encode(&mut ls);
    Ms::NotAvailable.encode(&mut ls);
    Ms::Protocols(vec!["/noise".into(), "/yamux/1.0.0".into()]).encode(&mut ls);
    write("multistream", "ls", &[[200u8].as_slice(), &ls].concat());

    for (i, muxers) in [vec![], vec!["/yamux/1.0.0".to_string()], vec!["/mplex/6.7.0".into()]].into_iter().enumerate() {
        let payload = NoiseHandshakePayload {
            identity_key: Some(ed.public().encode_protobuf()),
            identity_sig: Some(vec![0; 64]),
            extensions: Some(NoiseExtensions {
                webtransport_certhashes: vec![vec![0x12, 0x20, 1]],
                stream_muxers: muxers,
            }),
        }
        .encode_to_vec();
        write("noise_payload", &format!("signed{i}"), &[[0x03u8].as_slice(), &payload].concat());
        write("noise_payload", &format!("as-is{i}"), &[[0x02u8].as_slice(), &payload].concat());
    }

    let peer = KadPeer { peer: ed.peer_id(), addrs: addrs() };
    let record = Record { key: b"/pk/key".to_vec(), value: ed.public().encode_protobuf() };
    for (i, request) in [
        Request::FindNode { key: b"target".to_vec() },
        Request::GetValue { key: b"/ipns/x".to_vec() },
        Request::PutValue { record: record.clone() },
        Request::GetProviders { key: b"cid".to_vec() },
        Request::AddProvider { key: b"cid".to_vec(), providers: vec![peer.clone()] },
        Request::Ping,
    ]
    .iter()
    .enumerate()
    {
        write("kad", &format!("request{i}"), &kad::encode_request(request));
    }
    let response = Response { closer: vec![peer.clone()], providers: vec![peer], record: Some(record) };
    let body = kad::encode_response(1, b"", &response);
    write("kad", "response", &[[1u8, 0].as_slice(), &body].concat());
    let ipns = ipns_record(&ed);
    write("kad_record", "ipns", &ipns);
    let _ = validator::decode_ipns_data(&[]);

    let dial = autonat::Message::DialRequest { addrs: addrs(), nonce: 42 };
    write("autonat", "dial", &dial.encode());
    let answer = autonat::Message::DialResponse(DialResponse {
        status: ResponseStatus::Ok,
        addr_idx: 1,
        dial_status: DialStatus::Ok,
    });
    write("autonat", "response", &answer.encode());
    write("autonat", "data", &autonat::Message::DialDataRequest { addr_idx: 0, num_bytes: 30_000 }.encode());
    write("autonat", "dial-back", &autonat::encode_dial_back(7));

    let envelope = PeerRecord::new(&ed, addrs()).to_signed_envelope(&ed).expect("seal").encode();
    let register = Register { namespace: "ns".into(), signed_peer_record: envelope, ttl: Some(7200) };
    for (i, m) in [
        rendezvous::Message::Register(register.clone()),
        rendezvous::Message::RegisterResponse { status: Status::Ok, text: String::new(), ttl: Some(7200) },
        rendezvous::Message::Unregister { namespace: "ns".into() },
        rendezvous::Message::Discover(Discover { namespace: Some("ns".into()), limit: Some(10), cookie: None }),
        rendezvous::Message::DiscoverResponse {
            status: Status::Ok,
            text: String::new(),
            registrations: vec![register],
            cookie: Some(vec![1; 16]),
        },
    ]
    .iter()
    .enumerate()
    {
        write("rendezvous", &i.to_string(), &m.encode());
    }

    write("mdns", "query", &mdns::encode_query(7).expect("query"));
    write("mdns", "service-query", &mdns::encode_service_response(8, Duration::from_secs(120)).expect("meta"));
    let local: Vec<Multiaddr> = addrs().into_iter().take(3).collect();
    for (i, packet) in mdns::encode_response(9, "peername", &ed.peer_id(), &local, Duration::from_secs(120))
        .expect("response")
        .iter()
        .enumerate()
    {
        write("mdns", &format!("response{i}"), packet);
    }
    let _ = SignedEnvelope::decode_unverified(&[]);
    println!("seeds written under {}", corpus().display());
}
