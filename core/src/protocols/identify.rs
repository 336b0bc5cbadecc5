//! identify (`/ipfs/id/1.0.0`) and identify push (`/ipfs/id/push/1.0.0`):
//! a peer tells another its key, addresses, protocols and versions, and a
//! signed peer record. The sender writes varint-length-prefixed protobuf
//! messages and closes its side; several messages merge into one (as go-libp2p
//! sends large ones).

use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::identity::envelope::SignedEnvelope;
use crate::identity::record::PeerRecord;
use crate::identity::{DecodingError, PeerId, PublicKey};
use crate::multiaddr::Multiaddr;
use crate::wire::frame::{self, FrameError};

/// The protocol ID of identify.
pub const PROTOCOL: &str = "/ipfs/id/1.0.0";
/// The protocol ID of identify push.
pub const PUSH_PROTOCOL: &str = "/ipfs/id/push/1.0.0";
/// The most bytes we read from one identify stream. go-libp2p's messages
/// stay within 8 KiB per frame; 64 KiB leaves room for long protocol lists
/// while bounding what a peer can make us buffer.
pub const MAX_LEN: usize = 64 * 1024;
/// Addresses and protocols kept from one message.
const MAX_ENTRIES: usize = 256;

/// The identify protobuf, written by hand to match `proto/identify.proto`.
pub mod pb {
    /// `identify.Identify`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Identify {
        /// e.g. `ipfs/0.1.0`
        #[prost(string, optional, tag = "5")]
        pub protocol_version: Option<String>,
        /// e.g. `lp2p/0.1.0`
        #[prost(string, optional, tag = "6")]
        pub agent_version: Option<String>,
        /// The sender's public key, protobuf-encoded.
        #[prost(bytes = "vec", optional, tag = "1")]
        pub public_key: Option<Vec<u8>>,
        /// Where the sender listens.
        #[prost(bytes = "vec", repeated, tag = "2")]
        pub listen_addrs: Vec<Vec<u8>>,
        /// The address the sender sees us at.
        #[prost(bytes = "vec", optional, tag = "4")]
        pub observed_addr: Option<Vec<u8>>,
        /// The sender's protocols.
        #[prost(string, repeated, tag = "3")]
        pub protocols: Vec<String>,
        /// A signed envelope holding the sender's peer record.
        #[prost(bytes = "vec", optional, tag = "8")]
        pub signed_peer_record: Option<Vec<u8>>,
    }
}

/// Why identify failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    /// The stream carried more than [`MAX_LEN`] bytes.
    #[error("identify message too large")]
    TooLarge,
    /// The framing or the protobuf is malformed.
    #[error("invalid identify message")]
    Malformed,
    /// The message has no public key.
    #[error("identify message has no public key")]
    MissingPublicKey,
    /// The public key does not decode.
    #[error("invalid public key: {0}")]
    InvalidKey(#[from] DecodingError),
    /// A push carries the key of another peer than the one that sent it.
    #[error("identify push carries another peer's key")]
    WrongKey,
    /// The stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// What a peer says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Its identity key.
    pub public_key: PublicKey,
    /// Its protocol version string.
    pub protocol_version: String,
    /// Its agent (implementation) string.
    pub agent_version: String,
    /// Where it listens.
    pub listen_addrs: Vec<Multiaddr>,
    /// How it sees us.
    pub observed_addr: Option<Multiaddr>,
    /// The protocols it serves.
    pub protocols: Vec<String>,
    /// Its signed peer record, verified and matching its key.
    pub signed_peer_record: Option<PeerRecord>,
}

/// What an identify push says: only the fields the sender included. The
/// spec: "missing fields should be ignored, as peers may choose to send
/// partial updates containing only the fields whose values have changed".
/// A repeated field with no entry counts as missing (protobuf cannot tell).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Push {
    /// The sender's key, if sent (it matches the sender).
    pub public_key: Option<PublicKey>,
    /// Its protocol version string.
    pub protocol_version: Option<String>,
    /// Its agent string.
    pub agent_version: Option<String>,
    /// Where it listens.
    pub listen_addrs: Option<Vec<Multiaddr>>,
    /// How it sees us.
    pub observed_addr: Option<Multiaddr>,
    /// The protocols it serves.
    pub protocols: Option<Vec<String>>,
    /// Its signed peer record, verified and of the sender.
    pub signed_peer_record: Option<PeerRecord>,
}

/// Encodes `info` (the `signed_peer_record` field of `info` is ignored;
/// pass the envelope to send).
pub fn encode(info: &Info, envelope: Option<&SignedEnvelope>) -> Vec<u8> {
    pb::Identify {
        protocol_version: Some(info.protocol_version.clone()),
        agent_version: Some(info.agent_version.clone()),
        public_key: Some(info.public_key.encode_protobuf()),
        listen_addrs: info.listen_addrs.iter().map(Multiaddr::to_vec).collect(),
        observed_addr: info.observed_addr.as_ref().map(Multiaddr::to_vec),
        protocols: info.protocols.clone(),
        signed_peer_record: envelope.map(SignedEnvelope::encode),
    }
    .encode_to_vec()
}

/// Decodes and checks one (merged) identify message. Addresses that do not
/// parse are skipped; a peer record that does not verify, or belongs to
/// another key, is dropped; both as go-libp2p and rust-libp2p do.
pub fn decode(bytes: &[u8]) -> Result<Info, IdentifyError> {
    if bytes.len() > MAX_LEN {
        return Err(IdentifyError::TooLarge);
    }
    let msg = pb::Identify::decode(bytes).map_err(|_| IdentifyError::Malformed)?;
    let public_key = PublicKey::try_decode_protobuf(msg.public_key.as_ref().ok_or(IdentifyError::MissingPublicKey)?)?;
    let owner = public_key.to_peer_id();
    let parsed = parse_fields(msg, &owner);
    Ok(Info {
        public_key,
        protocol_version: parsed.protocol_version.unwrap_or_default(),
        agent_version: parsed.agent_version.unwrap_or_default(),
        listen_addrs: parsed.listen_addrs.unwrap_or_default(),
        observed_addr: parsed.observed_addr,
        protocols: parsed.protocols.unwrap_or_default(),
        signed_peer_record: parsed.signed_peer_record,
    })
}

/// Decodes and checks one (merged) identify push from `sender`: any field
/// may be missing, the public key included; a key that is not the sender's
/// rejects the message.
pub fn decode_push(bytes: &[u8], sender: &PeerId) -> Result<Push, IdentifyError> {
    if bytes.len() > MAX_LEN {
        return Err(IdentifyError::TooLarge);
    }
    let msg = pb::Identify::decode(bytes).map_err(|_| IdentifyError::Malformed)?;
    let public_key = match &msg.public_key {
        Some(bytes) => Some(PublicKey::try_decode_protobuf(bytes)?),
        None => None,
    };
    if public_key.as_ref().is_some_and(|key| key.to_peer_id() != *sender) {
        return Err(IdentifyError::WrongKey);
    }
    Ok(Push { public_key, ..parse_fields(msg, sender) })
}

/// The fields of `msg` but the key, each `None` when absent. Addresses that
/// do not parse are skipped; a peer record that does not verify, or is not
/// `owner`'s, is dropped.
fn parse_fields(msg: pb::Identify, owner: &PeerId) -> Push {
    let parse = |bytes: &Vec<u8>| match Multiaddr::from_bytes(bytes) {
        Ok(addr) => Some(addr),
        Err(e) => {
            tracing::debug!(error = %e, "skipping an identify address that does not parse");
            None
        }
    };
    let listen_addrs: Vec<Multiaddr> = msg.listen_addrs.iter().take(MAX_ENTRIES).filter_map(parse).collect();
    let observed_addr = msg.observed_addr.as_ref().and_then(parse);
    let signed_peer_record = msg.signed_peer_record.and_then(|bytes| match PeerRecord::from_envelope_bytes(&bytes) {
        Ok((record, _)) if record.peer_id == *owner => Some(record),
        Ok(_) => {
            tracing::debug!("dropping a peer record of another peer");
            None
        }
        Err(e) => {
            tracing::debug!(error = %e, "dropping a peer record that does not verify");
            None
        }
    });
    let protocols: Vec<String> = msg.protocols.into_iter().take(MAX_ENTRIES).collect();
    Push {
        public_key: None,
        protocol_version: msg.protocol_version,
        agent_version: msg.agent_version,
        listen_addrs: (!listen_addrs.is_empty()).then_some(listen_addrs),
        observed_addr,
        protocols: (!protocols.is_empty()).then_some(protocols),
        signed_peer_record,
    }
}

/// Sends `info` and closes our side of the stream.
pub async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    info: &Info,
    envelope: Option<&SignedEnvelope>,
) -> Result<(), IdentifyError> {
    frame::write_frame(stream, &encode(info, envelope)).await?;
    stream.shutdown().await?;
    Ok(())
}

/// Reads every message until the sender closes, merges and decodes them.
pub async fn receive<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Info, IdentifyError> {
    decode(&read_merged(stream).await?)
}

/// Reads an identify push from `sender` until it closes the stream.
pub async fn receive_push<S: AsyncRead + Unpin>(stream: &mut S, sender: &PeerId) -> Result<Push, IdentifyError> {
    decode_push(&read_merged(stream).await?, sender)
}

/// Reads every frame until the sender closes (at most [`MAX_LEN`] bytes) and
/// merges their messages.
async fn read_merged<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, IdentifyError> {
    let mut raw = Vec::new();
    (&mut *stream).take(MAX_LEN as u64 + 1).read_to_end(&mut raw).await?;
    if raw.len() > MAX_LEN {
        return Err(IdentifyError::TooLarge);
    }
    merge_frames(&raw)
}

/// Concatenates the payloads of the length-prefixed frames in `raw`
/// (concatenated protobuf messages merge into one).
fn merge_frames(raw: &[u8]) -> Result<Vec<u8>, IdentifyError> {
    let mut merged = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while !rest.is_empty() {
        let (start, len) = match frame::decode_frame(rest, MAX_LEN) {
            Ok(Some(found)) => found,
            Ok(None) | Err(FrameError::Varint(_)) => return Err(IdentifyError::Malformed),
            Err(_) => return Err(IdentifyError::TooLarge),
        };
        merged.extend_from_slice(&rest[start..start + len]);
        rest = &rest[start + len..];
    }
    if merged.is_empty() {
        return Err(IdentifyError::Malformed);
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    fn info(key: &Keypair) -> Info {
        Info {
            public_key: key.public(),
            protocol_version: "ipfs/0.1.0".into(),
            agent_version: "lp2p-test".into(),
            listen_addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().expect("ok")],
            observed_addr: Some("/ip4/127.0.0.1/tcp/5555".parse().expect("ok")),
            protocols: vec![PROTOCOL.into(), "/echo/1.0.0".into()],
            signed_peer_record: None,
        }
    }

    #[tokio::test]
    async fn send_and_receive_with_a_verified_record() {
        let key = Keypair::generate_ed25519();
        let sent = info(&key);
        let record = PeerRecord::new(&key, sent.listen_addrs.clone());
        let envelope = record.to_signed_envelope(&key).expect("seals");
        let (mut a, mut b) = tokio::io::duplex(65536);
        send(&mut a, &sent, Some(&envelope)).await.expect("send");
        let got = receive(&mut b).await.expect("receive");
        assert_eq!(got.signed_peer_record.as_ref(), Some(&record));
        assert_eq!(Info { signed_peer_record: None, ..got }, sent);
    }

    #[test]
    fn record_of_another_key_is_dropped() {
        let key = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let envelope = PeerRecord::new(&other, vec![]).to_signed_envelope(&other).expect("seals");
        let got = decode(&encode(&info(&key), Some(&envelope))).expect("decodes");
        assert_eq!(got.signed_peer_record, None);
        assert_eq!(got.public_key, key.public());
    }

    #[test]
    fn bad_addresses_are_skipped_and_bad_keys_rejected() {
        let key = Keypair::generate_ed25519();
        let mut msg = pb::Identify::decode(encode(&info(&key), None).as_slice()).expect("ok");
        msg.listen_addrs.push(vec![0x7f, 0x7f]);
        let got = decode(&msg.encode_to_vec()).expect("decodes");
        assert_eq!(got.listen_addrs.len(), 1);
        msg.public_key = Some(vec![8, 1, 18, 1, 0]);
        assert!(matches!(decode(&msg.encode_to_vec()), Err(IdentifyError::InvalidKey(_))));
        msg.public_key = None;
        assert!(matches!(decode(&msg.encode_to_vec()), Err(IdentifyError::MissingPublicKey)));
    }

    #[test]
    fn a_push_keeps_only_the_fields_it_carries() {
        let key = Keypair::generate_ed25519();
        let sender = key.public().to_peer_id();
        let partial = pb::Identify { agent_version: Some("two".into()), ..pb::Identify::default() };
        let push = decode_push(&partial.encode_to_vec(), &sender).expect("a push needs no key");
        assert_eq!(push, Push { agent_version: Some("two".into()), ..Push::default() });
        let full = decode_push(&encode(&info(&key), None), &sender).expect("a full push");
        assert_eq!(full.public_key, Some(key.public()));
        assert_eq!(full.protocols, Some(info(&key).protocols));
        assert_eq!(full.listen_addrs, Some(info(&key).listen_addrs));
        let other = Keypair::generate_ed25519().public().to_peer_id();
        assert!(matches!(decode_push(&encode(&info(&key), None), &other), Err(IdentifyError::WrongKey)));
        // The full form still requires the key.
        assert!(matches!(decode(&partial.encode_to_vec()), Err(IdentifyError::MissingPublicKey)));
    }

    #[tokio::test]
    async fn split_messages_merge() {
        let key = Keypair::generate_ed25519();
        let full = pb::Identify::decode(encode(&info(&key), None).as_slice()).expect("ok");
        let first = pb::Identify { protocols: Vec::new(), ..full.clone() };
        let second = pb::Identify { protocols: full.protocols.clone(), ..pb::Identify::default() };
        let mut raw = Vec::new();
        frame::encode_frame(&first.encode_to_vec(), &mut raw);
        frame::encode_frame(&second.encode_to_vec(), &mut raw);
        let mut reader = &raw[..];
        let got = receive(&mut reader).await.expect("merged");
        assert_eq!(got.protocols, info(&key).protocols);
    }

    #[tokio::test]
    async fn truncated_oversized_and_random_input() {
        let key = Keypair::generate_ed25519();
        let mut raw = Vec::new();
        frame::encode_frame(&encode(&info(&key), None), &mut raw);
        for cut in 0..raw.len() {
            let mut reader = &raw[..cut];
            assert!(receive(&mut reader).await.is_err(), "cut {cut}");
        }
        let big = vec![0u8; MAX_LEN + 10];
        let mut reader = &big[..];
        assert!(matches!(receive(&mut reader).await, Err(IdentifyError::TooLarge)));
        for bytes in crate::testutil::random_inputs(3, 3_000, 200) {
            let _ = decode(&bytes);
            let _ = merge_frames(&bytes);
        }
    }
}
