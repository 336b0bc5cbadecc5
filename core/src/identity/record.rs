//! Peer records (RFC 0003): a peer's addresses with a sequence number,
//! signed in an envelope by the peer's key.
//!
//! We seal records the way go-libp2p and js-libp2p do (domain
//! `libp2p-peer-record`, payload type the multicodec 0x0301), and also accept
//! the older form rust-libp2p still sends by default (domain
//! `libp2p-routing-state`, payload type `/libp2p/routing-state-record`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use super::envelope::{EnvelopeError, SignedEnvelope};
use super::keys::Keypair;
use super::{PeerId, pb};
use crate::multiaddr::Multiaddr;

/// The envelope domain of peer records.
pub const DOMAIN: &str = "libp2p-peer-record";
/// The payload type of peer records: multicodec `libp2p-peer-record` (0x0301).
pub const PAYLOAD_TYPE: &[u8] = &[0x03, 0x01];
/// The legacy domain, still sent by rust-libp2p's default constructor.
pub const LEGACY_DOMAIN: &str = "libp2p-routing-state";
/// The legacy payload type.
pub const LEGACY_PAYLOAD_TYPE: &[u8] = b"/libp2p/routing-state-record";

/// The most addresses we accept in one record.
pub const MAX_ADDRESSES: usize = 128;

/// Why a record is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The envelope is bad.
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload type is not a peer record.
    #[error("payload is not a peer record")]
    WrongPayloadType,
    /// The payload does not decode.
    #[error("invalid peer record protobuf")]
    Protobuf,
    /// The record's peer ID does not decode.
    #[error("invalid peer id in record")]
    InvalidPeerId,
    /// A record address does not decode.
    #[error("invalid address in record")]
    InvalidAddress,
    /// More than [`MAX_ADDRESSES`] addresses.
    #[error("too many addresses in record")]
    TooManyAddresses,
    /// The envelope was signed by a key that is not the record's peer.
    #[error("record of {record} signed by {signer}")]
    SignerMismatch {
        /// The peer the record is about.
        record: PeerId,
        /// The peer whose key signed it.
        signer: PeerId,
    },
}

/// A peer's signed statement of its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// The peer.
    pub peer_id: PeerId,
    /// Higher is newer.
    pub seq: u64,
    /// Where the peer listens.
    pub addrs: Vec<Multiaddr>,
}

/// A sequence number from the clock (nanoseconds since the epoch), strictly
/// increasing within this process even if the clock steps back.
fn next_seq() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(current) => last = current,
        }
    }
}

impl PeerRecord {
    /// A new record of `keypair`'s peer with `addrs` and a fresh sequence number.
    pub fn new(keypair: &Keypair, addrs: Vec<Multiaddr>) -> PeerRecord {
        PeerRecord { peer_id: keypair.public().to_peer_id(), seq: next_seq(), addrs }
    }

    fn encode_payload(&self) -> Vec<u8> {
        pb::PeerRecord {
            peer_id: self.peer_id.to_bytes(),
            seq: self.seq,
            addresses: self.addrs.iter().map(|a| pb::AddressInfo { multiaddr: a.to_vec() }).collect(),
        }
        .encode_to_vec()
    }

    /// Seals the record in an envelope signed by `keypair` (the standard domain and type).
    pub fn to_signed_envelope(&self, keypair: &Keypair) -> Result<SignedEnvelope, RecordError> {
        Ok(SignedEnvelope::seal(keypair, DOMAIN, PAYLOAD_TYPE, self.encode_payload())?)
    }

    /// Seals the record in the legacy form, the only one rust-libp2p's
    /// identify (0.48) verifies.
    pub fn to_legacy_signed_envelope(&self, keypair: &Keypair) -> Result<SignedEnvelope, RecordError> {
        Ok(SignedEnvelope::seal(keypair, LEGACY_DOMAIN, LEGACY_PAYLOAD_TYPE, self.encode_payload())?)
    }

    /// Checks an envelope (standard or legacy form) and reads the record in it.
    pub fn from_signed_envelope(envelope: &SignedEnvelope) -> Result<PeerRecord, RecordError> {
        let domain = match envelope.payload_type() {
            PAYLOAD_TYPE => DOMAIN,
            LEGACY_PAYLOAD_TYPE => LEGACY_DOMAIN,
            _ => return Err(RecordError::WrongPayloadType),
        };
        envelope.verify(domain)?;
        let msg = pb::PeerRecord::decode(envelope.payload()).map_err(|_| RecordError::Protobuf)?;
        let peer_id = PeerId::from_bytes(&msg.peer_id).map_err(|_| RecordError::InvalidPeerId)?;
        let signer = envelope.public_key().to_peer_id();
        if signer != peer_id {
            return Err(RecordError::SignerMismatch { record: peer_id, signer });
        }
        if msg.addresses.len() > MAX_ADDRESSES {
            return Err(RecordError::TooManyAddresses);
        }
        let addrs = msg
            .addresses
            .iter()
            .map(|a| Multiaddr::from_bytes(&a.multiaddr).map_err(|_| RecordError::InvalidAddress))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PeerRecord { peer_id, seq: msg.seq, addrs })
    }

    /// Decodes envelope bytes and reads the verified record.
    pub fn from_envelope_bytes(bytes: &[u8]) -> Result<(PeerRecord, SignedEnvelope), RecordError> {
        let envelope = SignedEnvelope::decode_unverified(bytes)?;
        Ok((PeerRecord::from_signed_envelope(&envelope)?, envelope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Vec<Multiaddr> {
        vec!["/ip4/127.0.0.1/tcp/4001".parse().expect("ok"), "/ip6/::1/tcp/4001".parse().expect("ok")]
    }

    #[test]
    fn round_trip_through_envelope_bytes() {
        let key = Keypair::generate_ed25519();
        let record = PeerRecord::new(&key, addrs());
        let bytes = record.to_signed_envelope(&key).expect("seals").encode();
        let (back, envelope) = PeerRecord::from_envelope_bytes(&bytes).expect("verifies");
        assert_eq!(back, record);
        assert_eq!(envelope.payload_type(), PAYLOAD_TYPE);
    }

    #[test]
    fn legacy_form_is_accepted() {
        let key = Keypair::generate_ecdsa();
        let record = PeerRecord::new(&key, addrs());
        let envelope = record.to_legacy_signed_envelope(&key).expect("seals");
        assert_eq!(envelope.payload_type(), LEGACY_PAYLOAD_TYPE);
        assert_eq!(PeerRecord::from_signed_envelope(&envelope), Ok(record.clone()));
        // The legacy type with the standard domain does not verify.
        let mixed = SignedEnvelope::seal(&key, DOMAIN, LEGACY_PAYLOAD_TYPE, record.encode_payload()).expect("seals");
        assert!(matches!(PeerRecord::from_signed_envelope(&mixed), Err(RecordError::Envelope(_))));
    }

    #[test]
    fn record_signed_by_another_key_is_rejected() {
        let subject = Keypair::generate_ed25519();
        let forger = Keypair::generate_ed25519();
        let record = PeerRecord::new(&subject, addrs());
        let envelope = SignedEnvelope::seal(&forger, DOMAIN, PAYLOAD_TYPE, record.encode_payload()).expect("seals");
        assert!(matches!(PeerRecord::from_signed_envelope(&envelope), Err(RecordError::SignerMismatch { .. })));
    }

    #[test]
    fn sequence_numbers_increase() {
        let key = Keypair::generate_ed25519();
        let a = PeerRecord::new(&key, vec![]);
        let b = PeerRecord::new(&key, vec![]);
        assert!(b.seq > a.seq);
    }

    #[test]
    fn bad_payloads_are_rejected() {
        let key = Keypair::generate_ed25519();
        let wrong_type = SignedEnvelope::seal(&key, DOMAIN, b"/other", vec![]).expect("seals");
        assert_eq!(PeerRecord::from_signed_envelope(&wrong_type), Err(RecordError::WrongPayloadType));
        let garbage = SignedEnvelope::seal(&key, DOMAIN, PAYLOAD_TYPE, vec![0xff, 0xff]).expect("seals");
        assert_eq!(PeerRecord::from_signed_envelope(&garbage), Err(RecordError::Protobuf));
        let bad_addr = pb::PeerRecord {
            peer_id: key.public().to_peer_id().to_bytes(),
            seq: 1,
            addresses: vec![pb::AddressInfo { multiaddr: vec![0x7f] }],
        };
        let envelope = SignedEnvelope::seal(&key, DOMAIN, PAYLOAD_TYPE, bad_addr.encode_to_vec()).expect("seals");
        assert_eq!(PeerRecord::from_signed_envelope(&envelope), Err(RecordError::InvalidAddress));
        let many = pb::PeerRecord {
            peer_id: key.public().to_peer_id().to_bytes(),
            seq: 1,
            addresses: vec![pb::AddressInfo { multiaddr: addrs()[0].to_vec() }; MAX_ADDRESSES + 1],
        };
        let envelope = SignedEnvelope::seal(&key, DOMAIN, PAYLOAD_TYPE, many.encode_to_vec()).expect("seals");
        assert_eq!(PeerRecord::from_signed_envelope(&envelope), Err(RecordError::TooManyAddresses));
        let bytes = PeerRecord::new(&key, addrs()).to_signed_envelope(&key).expect("seals").encode();
        for cut in 0..bytes.len() {
            assert!(PeerRecord::from_envelope_bytes(&bytes[..cut]).is_err());
        }
    }
}
