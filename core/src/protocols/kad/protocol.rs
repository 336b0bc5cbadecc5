//! The Kademlia wire messages, typed: requests, responses, and their
//! varint-length-prefixed protobuf codec. Decoding validates everything a
//! remote controls (types, peer IDs, counts, sizes) into typed errors.

use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite};

use super::kbucket::Key;
use super::pb::{self, message_type};
use crate::identity::PeerId;
use crate::multiaddr::Multiaddr;
use crate::wire::frame::{self, FrameError};

/// The protocol ID of the IPFS (Amino) DHT.
pub const PROTOCOL: &str = "/ipfs/kad/1.0.0";

/// The largest message we read. Values are at most 65 KiB (the store's
/// limit); 20 peers with their addresses take a few KiB.
pub const MAX_MESSAGE: usize = 128 * 1024;

/// Peers kept from one message's `closerPeers` or `providerPeers`: a peer
/// that sends thousands gets only the `MAX_PEERS` closest to the key read.
pub const MAX_PEERS: usize = 20;

/// Addresses kept per peer from one message.
pub const MAX_ADDRS: usize = 16;

/// Why a message could not be read or decoded.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The frame is broken, too large or truncated.
    #[error("framing: {0}")]
    Frame(#[from] FrameError),
    /// The protobuf does not decode.
    #[error("invalid protobuf")]
    Protobuf,
    /// An unknown message type.
    #[error("unknown message type {0}")]
    UnknownType(i32),
    /// The response is for another kind of request.
    #[error("response of type {got} to a request of type {want}")]
    UnexpectedType {
        /// The request's type.
        want: i32,
        /// The response's type.
        got: i32,
    },
    /// A required field is missing or invalid.
    #[error("invalid field: {0}")]
    InvalidField(&'static str),
}

/// A peer as messages carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KadPeer {
    /// The peer.
    pub peer: PeerId,
    /// Its addresses.
    pub addrs: Vec<Multiaddr>,
}

/// A key-value record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// A request, as the sender means it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The closest peers to a peer ID (any bytes, in practice).
    FindNode {
        /// The target.
        key: Vec<u8>,
    },
    /// A record and the closest peers.
    GetValue {
        /// The record key.
        key: Vec<u8>,
    },
    /// Store a record (answered with an echo).
    PutValue {
        /// The record.
        record: Record,
    },
    /// Providers and the closest peers.
    GetProviders {
        /// The key (a CID's multihash).
        key: Vec<u8>,
    },
    /// The sender provides `key` (no answer).
    AddProvider {
        /// The key.
        key: Vec<u8>,
        /// The announced providers; only the sender's own entry counts.
        providers: Vec<KadPeer>,
    },
    /// Deprecated; answered with an empty PING.
    Ping,
}

impl Request {
    /// The protobuf message type of this request.
    pub fn message_type(&self) -> i32 {
        match self {
            Request::FindNode { .. } => message_type::FIND_NODE,
            Request::GetValue { .. } => message_type::GET_VALUE,
            Request::PutValue { .. } => message_type::PUT_VALUE,
            Request::GetProviders { .. } => message_type::GET_PROVIDERS,
            Request::AddProvider { .. } => message_type::ADD_PROVIDER,
            Request::Ping => message_type::PING,
        }
    }

    /// Whether the remote answers this request.
    pub fn expects_response(&self) -> bool {
        !matches!(self, Request::AddProvider { .. })
    }

    /// The key the request is about (empty for PING).
    pub fn key(&self) -> &[u8] {
        match self {
            Request::FindNode { key }
            | Request::GetValue { key }
            | Request::GetProviders { key }
            | Request::AddProvider { key, .. } => key,
            Request::PutValue { record } => &record.key,
            Request::Ping => &[],
        }
    }
}

/// A response: what of it is set depends on the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// Peers closer to the key.
    pub closer: Vec<KadPeer>,
    /// Providers of the key.
    pub providers: Vec<KadPeer>,
    /// The record (GET_VALUE, PUT_VALUE echo).
    pub record: Option<Record>,
}

fn encode_peer(p: &KadPeer) -> pb::Peer {
    pb::Peer {
        id: p.peer.to_bytes(),
        addrs: p.addrs.iter().map(Multiaddr::to_vec).collect(),
        connection: pb::connection_type::NOT_CONNECTED,
    }
}

fn encode_record(r: &Record) -> pb::Record {
    pb::Record { key: r.key.clone(), value: r.value.clone(), time_received: String::new() }
}

/// The protobuf bytes of a request.
pub fn encode_request(request: &Request) -> Vec<u8> {
    let mut msg = pb::Message { r#type: request.message_type(), key: request.key().to_vec(), ..Default::default() };
    match request {
        Request::PutValue { record } => msg.record = Some(encode_record(record)),
        Request::AddProvider { providers, .. } => msg.provider_peers = providers.iter().map(encode_peer).collect(),
        _ => {}
    }
    msg.encode_to_vec()
}

/// The protobuf bytes of a response to a request of type `kind`.
pub fn encode_response(kind: i32, key: &[u8], response: &Response) -> Vec<u8> {
    pb::Message {
        r#type: kind,
        key: key.to_vec(),
        record: response.record.as_ref().map(encode_record),
        closer_peers: response.closer.iter().map(encode_peer).collect(),
        provider_peers: response.providers.iter().map(encode_peer).collect(),
        cluster_level_raw: 0,
    }
    .encode_to_vec()
}

/// Decodes peers: unparsable peer IDs and addresses are dropped (one bad
/// entry should not cost the honest ones); of the rest, the `MAX_PEERS`
/// closest to `key` are kept.
fn decode_peers(peers: Vec<pb::Peer>, key: &[u8]) -> Vec<KadPeer> {
    let target = Key::from_bytes(key);
    let mut out: Vec<(super::kbucket::Distance, KadPeer)> = peers
        .into_iter()
        .filter_map(|p| {
            let peer = PeerId::from_bytes(&p.id).ok()?;
            let addrs = p.addrs.into_iter().filter_map(|a| Multiaddr::try_from(a).ok()).take(MAX_ADDRS).collect();
            Some((Key::from_peer(&peer).distance(&target), KadPeer { peer, addrs }))
        })
        .collect();
    out.sort_by_key(|a| a.0);
    out.dedup_by(|a, b| a.1.peer == b.1.peer);
    out.into_iter().take(MAX_PEERS).map(|(_, p)| p).collect()
}

fn decode_record(r: pb::Record) -> Record {
    Record { key: r.key, value: r.value }
}

/// Decodes a request.
pub fn decode_request(bytes: &[u8]) -> Result<Request, MessageError> {
    let msg = pb::Message::decode(bytes).map_err(|_| MessageError::Protobuf)?;
    Ok(match msg.r#type {
        message_type::FIND_NODE => Request::FindNode { key: msg.key },
        message_type::GET_VALUE => Request::GetValue { key: msg.key },
        message_type::GET_PROVIDERS => Request::GetProviders { key: msg.key },
        message_type::PUT_VALUE => {
            let record = msg.record.ok_or(MessageError::InvalidField("PUT_VALUE without a record"))?;
            if record.key != msg.key {
                return Err(MessageError::InvalidField("PUT_VALUE record key differs from the message key"));
            }
            Request::PutValue { record: decode_record(record) }
        }
        message_type::ADD_PROVIDER => {
            let providers = decode_peers(msg.provider_peers, &msg.key);
            Request::AddProvider { key: msg.key, providers }
        }
        message_type::PING => Request::Ping,
        other => return Err(MessageError::UnknownType(other)),
    })
}

/// Decodes a response to a request of type `kind` about `key`.
pub fn decode_response(kind: i32, key: &[u8], bytes: &[u8]) -> Result<Response, MessageError> {
    let msg = pb::Message::decode(bytes).map_err(|_| MessageError::Protobuf)?;
    if msg.r#type != kind {
        return Err(MessageError::UnexpectedType { want: kind, got: msg.r#type });
    }
    Ok(Response {
        closer: decode_peers(msg.closer_peers, key),
        providers: decode_peers(msg.provider_peers, key),
        record: msg.record.map(decode_record),
    })
}

/// Reads one message (at most [`MAX_MESSAGE`] bytes).
pub async fn read_message<R: AsyncRead + Unpin>(io: &mut R) -> Result<Vec<u8>, MessageError> {
    Ok(frame::read_frame(io, MAX_MESSAGE).await?)
}

/// Writes one message.
pub async fn write_message<W: AsyncWrite + Unpin>(io: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    frame::write_frame(io, bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u64) -> KadPeer {
        KadPeer { peer: PeerId::random(), addrs: vec![format!("/memory/{n}").parse().expect("valid")] }
    }

    #[test]
    fn requests_round_trip() {
        let requests = [
            Request::FindNode { key: b"k".to_vec() },
            Request::GetValue { key: b"k".to_vec() },
            Request::GetProviders { key: b"k".to_vec() },
            Request::PutValue { record: Record { key: b"k".to_vec(), value: b"v".to_vec() } },
            Request::AddProvider { key: b"k".to_vec(), providers: vec![peer(1)] },
            Request::Ping,
        ];
        for request in requests {
            assert_eq!(decode_request(&encode_request(&request)).expect("decodes"), request);
        }
    }

    #[test]
    fn responses_round_trip_and_check_type() {
        let response = Response {
            closer: vec![peer(1), peer(2)],
            providers: vec![peer(3)],
            record: Some(Record { key: b"k".to_vec(), value: b"v".to_vec() }),
        };
        let bytes = encode_response(message_type::GET_VALUE, b"k", &response);
        let decoded = decode_response(message_type::GET_VALUE, b"k", &bytes).expect("decodes");
        assert_eq!(decoded.providers, response.providers);
        assert_eq!(decoded.record, response.record);
        assert_eq!(decoded.closer.len(), 2);
        assert!(matches!(
            decode_response(message_type::FIND_NODE, b"k", &bytes),
            Err(MessageError::UnexpectedType { want: 4, got: 1 })
        ));
    }

    #[test]
    fn thousands_of_closer_peers_are_cut_to_the_closest() {
        let many: Vec<KadPeer> = (0..3000).map(|_| KadPeer { peer: PeerId::random(), addrs: vec![] }).collect();
        let response = Response { closer: many.clone(), ..Default::default() };
        let bytes = encode_response(message_type::FIND_NODE, b"target", &response);
        let decoded = decode_response(message_type::FIND_NODE, b"target", &bytes).expect("decodes");
        assert_eq!(decoded.closer.len(), MAX_PEERS);
        let target = Key::from_bytes(b"target");
        let mut all: Vec<_> = many.iter().map(|p| Key::from_peer(&p.peer).distance(&target)).collect();
        all.sort();
        let worst_kept = decoded.closer.iter().map(|p| Key::from_peer(&p.peer).distance(&target)).max();
        assert_eq!(worst_kept, Some(all[MAX_PEERS - 1]));
    }

    #[test]
    fn bad_entries_are_dropped_and_bad_messages_are_typed_errors() {
        let msg = pb::Message {
            r#type: message_type::FIND_NODE,
            closer_peers: vec![
                pb::Peer { id: b"not a peer id".to_vec(), addrs: vec![], connection: 0 },
                pb::Peer { id: PeerId::random().to_bytes(), addrs: vec![vec![0xff, 0xff]], connection: 0 },
            ],
            ..Default::default()
        };
        let decoded = decode_response(message_type::FIND_NODE, b"", &msg.encode_to_vec()).expect("decodes");
        assert_eq!(decoded.closer.len(), 1);
        assert!(decoded.closer[0].addrs.is_empty());
        assert!(matches!(decode_request(&[0xff, 0xff, 0xff]), Err(MessageError::Protobuf)));
        let unknown = pb::Message { r#type: 42, ..Default::default() }.encode_to_vec();
        assert!(matches!(decode_request(&unknown), Err(MessageError::UnknownType(42))));
        let no_record = pb::Message { r#type: message_type::PUT_VALUE, ..Default::default() }.encode_to_vec();
        assert!(matches!(decode_request(&no_record), Err(MessageError::InvalidField(_))));
        // Random bytes never panic.
        for seed in 0u32..2000 {
            let junk: Vec<u8> =
                (0..(seed % 64)).map(|i| (seed.wrapping_mul(2654435761).wrapping_add(i * 97) >> 8) as u8).collect();
            let _ = decode_request(&junk);
            let _ = decode_response(message_type::FIND_NODE, b"", &junk);
        }
    }

    #[tokio::test]
    async fn oversized_and_truncated_frames_are_typed_errors() {
        let mut big = Vec::new();
        frame::encode_frame(&vec![0u8; MAX_MESSAGE + 1], &mut big);
        assert!(matches!(
            read_message(&mut big.as_slice()).await,
            Err(MessageError::Frame(FrameError::TooLarge { .. }))
        ));
        let mut short = Vec::new();
        frame::encode_frame(b"hello", &mut short);
        short.truncate(3);
        assert!(matches!(
            read_message(&mut short.as_slice()).await,
            Err(MessageError::Frame(FrameError::UnexpectedEof))
        ));
    }
}
