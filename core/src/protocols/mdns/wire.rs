//! The DNS messages of libp2p mDNS (`specs/discovery/mdns.md`): the
//! "find all peers" query, its response (a PTR answer naming the peer, TXT
//! records with `dnsaddr=<multiaddr>/p2p/<id>`), and the DNS-SD meta query.
//!
//! The DNS wire format itself is hickory-proto's; what the records mean is
//! ours. Decoding never panics and is bounded by the datagram size.

use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{PTR, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::MdnsError;
use crate::identity::PeerId;
use crate::multiaddr::{Multiaddr, Protocol};

/// The DNS-SD service name of every libp2p peer.
pub const SERVICE_NAME: &str = "_p2p._udp.local.";
/// The DNS-SD meta query name ("which services are there?").
pub const META_QUERY_NAME: &str = "_services._dns-sd._udp.local.";
/// The largest datagram we accept: mDNS allows up to 9000 bytes (RFC 6762 §17).
pub const MAX_DATAGRAM: usize = 9000;
/// The largest response datagram we build. rust-libp2p reads at most 4096
/// bytes; staying under a common MTU also avoids IP fragmentation.
pub const MAX_RESPONSE: usize = 1400;
/// The longest `dnsaddr=` attribute: one TXT character-string.
const MAX_TXT_STRING: usize = 255;
/// Peers taken from one response datagram; the rest are ignored.
pub const MAX_PEERS_PER_PACKET: usize = 16;
/// Addresses taken for one peer from one response datagram.
pub const MAX_ADDRS_PER_PEER: usize = 32;

const DNSADDR_PREFIX: &[u8] = b"dnsaddr=";

/// What a datagram asks or tells.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet {
    /// A query for the libp2p service (or one of its instances): answer it.
    Query {
        /// The DNS message ID to echo.
        id: u16,
    },
    /// The DNS-SD meta query: answer that we offer the libp2p service.
    ServiceQuery {
        /// The DNS message ID to echo.
        id: u16,
    },
    /// A response announcing peers.
    Response(Vec<Announcement>),
    /// A valid DNS message about something else.
    Unrelated,
}

/// One peer announced in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The peer, from the `/p2p/` suffix of its addresses.
    pub peer: PeerId,
    /// Its addresses, without `/p2p/`.
    pub addrs: Vec<Multiaddr>,
    /// How long the announcement holds (the PTR record's TTL); zero means
    /// "goodbye".
    pub ttl: Duration,
}

fn name(text: &str) -> Result<Name, MdnsError> {
    Name::from_ascii(text).map_err(|_| MdnsError::InvalidName)
}

fn service_name() -> Name {
    // A constant known to be valid; the fallback is never taken.
    Name::from_ascii(SERVICE_NAME).unwrap_or_else(|_| Name::root())
}

fn meta_query_name() -> Name {
    Name::from_ascii(META_QUERY_NAME).unwrap_or_else(|_| Name::root())
}

/// The instance name of a peer: `<peer-name>._p2p._udp.local.`.
pub fn instance_name(peer_name: &str) -> Result<Name, MdnsError> {
    name(&format!("{peer_name}.{SERVICE_NAME}"))
}

/// The "find all peers" query: `_p2p._udp.local PTR`.
pub fn encode_query(id: u16) -> Result<Vec<u8>, MdnsError> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    let mut query = Query::query(service_name(), RecordType::PTR);
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    message.to_vec().map_err(|_| MdnsError::Encode)
}

fn response_message(id: u16) -> Message {
    let mut message = Message::new(id, MessageType::Response, OpCode::Query);
    message.metadata.authoritative = true;
    message
}

/// The response to a query: the PTR answer naming us and one TXT record per
/// address (`dnsaddr=<addr>/p2p/<peer>`), split into datagrams of at most
/// [`MAX_RESPONSE`] bytes, each with its own PTR answer. Addresses too long
/// for a TXT string are left out. No addresses, no datagrams.
pub fn encode_response(
    id: u16,
    peer_name: &str,
    peer: &PeerId,
    addrs: &[Multiaddr],
    ttl: Duration,
) -> Result<Vec<Vec<u8>>, MdnsError> {
    let instance = instance_name(peer_name)?;
    let ttl = ttl_secs(ttl);
    let ptr = Record::from_rdata(service_name(), ttl, RData::PTR(PTR(instance.clone())));
    let mut packets = Vec::new();
    let mut message = response_message(id);
    message.add_answer(ptr.clone());
    for addr in addrs {
        let text = format!("dnsaddr={}", addr.clone().with(Protocol::P2p(*peer)));
        if text.len() > MAX_TXT_STRING {
            continue;
        }
        let record = Record::from_rdata(instance.clone(), ttl, RData::TXT(TXT::new(vec![text])));
        message.add_additional(record.clone());
        let encoded = message.to_vec().map_err(|_| MdnsError::Encode)?;
        if encoded.len() <= MAX_RESPONSE {
            continue;
        }
        // Too big: send what fitted before this record, start a new datagram with it.
        message.additionals.pop();
        if !message.additionals.is_empty() {
            packets.push(message.to_vec().map_err(|_| MdnsError::Encode)?);
        }
        message = response_message(id);
        message.add_answer(ptr.clone());
        message.add_additional(record);
    }
    if !message.additionals.is_empty() {
        packets.push(message.to_vec().map_err(|_| MdnsError::Encode)?);
    }
    Ok(packets)
}

/// The answer to the DNS-SD meta query: `_services._dns-sd._udp.local PTR _p2p._udp.local`.
pub fn encode_service_response(id: u16, ttl: Duration) -> Result<Vec<u8>, MdnsError> {
    let mut message = response_message(id);
    message.add_answer(Record::from_rdata(meta_query_name(), ttl_secs(ttl), RData::PTR(PTR(service_name()))));
    message.to_vec().map_err(|_| MdnsError::Encode)
}

fn ttl_secs(ttl: Duration) -> u32 {
    u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX)
}

/// Decodes one datagram.
pub fn decode(bytes: &[u8]) -> Result<Packet, MdnsError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(MdnsError::Oversized { len: bytes.len() });
    }
    let message = Message::from_vec(bytes).map_err(MdnsError::Malformed)?;
    let service = service_name();
    match message.metadata.message_type {
        MessageType::Query => {
            let id = message.metadata.id;
            if message.queries.iter().any(|q| q.name() == &service || service.zone_of(q.name())) {
                return Ok(Packet::Query { id });
            }
            if message.queries.iter().any(|q| q.name() == &meta_query_name()) {
                return Ok(Packet::ServiceQuery { id });
            }
            Ok(Packet::Unrelated)
        }
        MessageType::Response => {
            let announcements = announcements(&message, &service);
            if announcements.is_empty() { Ok(Packet::Unrelated) } else { Ok(Packet::Response(announcements)) }
        }
    }
}

fn announcements(message: &Message, service: &Name) -> Vec<Announcement> {
    let mut out = Vec::new();
    for answer in &message.answers {
        if out.len() == MAX_PEERS_PER_PACKET {
            break;
        }
        if &answer.name != service {
            continue;
        }
        let RData::PTR(PTR(instance)) = &answer.data else { continue };
        if let Some(announcement) = announcement(message, instance, answer.ttl) {
            out.push(announcement);
        }
    }
    out
}

/// The addresses the TXT records of `instance` carry (in the additional or
/// the answer section: rust-libp2p uses the first, others the second). The
/// first `/p2p/` ID names the peer; addresses of another ID are dropped.
fn announcement(message: &Message, instance: &Name, ttl: u32) -> Option<Announcement> {
    let mut peer: Option<PeerId> = None;
    let mut addrs = Vec::new();
    let records = message.additionals.iter().chain(message.answers.iter());
    let strings = records
        .filter(|r| &r.name == instance)
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(txt.txt_data.iter()),
            _ => None,
        })
        .flatten();
    for string in strings {
        if addrs.len() == MAX_ADDRS_PER_PEER {
            break;
        }
        let Some((addr, id)) = parse_dnsaddr(string) else { continue };
        match peer {
            Some(p) if p != id => continue,
            _ => peer = Some(id),
        }
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    Some(Announcement { peer: peer?, addrs, ttl: Duration::from_secs(u64::from(ttl)) })
}

/// `dnsaddr=<multiaddr>/p2p/<id>` (optionally in double quotes, as some
/// encoders write character-strings) into the address and the ID.
fn parse_dnsaddr(string: &[u8]) -> Option<(Multiaddr, PeerId)> {
    let string = match string {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    let text = std::str::from_utf8(string.strip_prefix(DNSADDR_PREFIX)?).ok()?;
    let mut addr: Multiaddr = text.parse().ok()?;
    match addr.pop()? {
        Protocol::P2p(id) => Some((addr, id)),
        _ => None,
    }
}
