//! Protobuf messages of identities, written by hand to match
//! `proto/keys.proto`, `proto/envelope.proto` and `proto/peer_record.proto`.

/// `keys.KeyType`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum KeyType {
    /// RSA
    Rsa = 0,
    /// Ed25519
    Ed25519 = 1,
    /// Secp256k1
    Secp256k1 = 2,
    /// ECDSA (P-256)
    Ecdsa = 3,
}

/// `keys.PublicKey`
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublicKey {
    /// The key type.
    #[prost(enumeration = "KeyType", required, tag = "1")]
    pub r#type: i32,
    /// The key in its type's encoding.
    #[prost(bytes = "vec", required, tag = "2")]
    pub data: Vec<u8>,
}

/// `keys.PrivateKey`
#[derive(Clone, PartialEq, prost::Message)]
pub struct PrivateKey {
    /// The key type.
    #[prost(enumeration = "KeyType", required, tag = "1")]
    pub r#type: i32,
    /// The key in its type's encoding.
    #[prost(bytes = "vec", required, tag = "2")]
    pub data: Vec<u8>,
}

/// `envelope.Envelope`
#[derive(Clone, PartialEq, prost::Message)]
pub struct Envelope {
    /// The signer's public key.
    #[prost(message, optional, tag = "1")]
    pub public_key: Option<PublicKey>,
    /// What the payload is (a multicodec or a path).
    #[prost(bytes = "vec", tag = "2")]
    pub payload_type: Vec<u8>,
    /// The signed bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
    /// Signature over domain, payload type and payload.
    #[prost(bytes = "vec", tag = "5")]
    pub signature: Vec<u8>,
}

/// `peer_record.PeerRecord`
#[derive(Clone, PartialEq, prost::Message)]
pub struct PeerRecord {
    /// The peer ID, binary form.
    #[prost(bytes = "vec", tag = "1")]
    pub peer_id: Vec<u8>,
    /// Increases with every new record of the peer.
    #[prost(uint64, tag = "2")]
    pub seq: u64,
    /// The peer's addresses.
    #[prost(message, repeated, tag = "3")]
    pub addresses: Vec<AddressInfo>,
}

/// `peer_record.PeerRecord.AddressInfo`
#[derive(Clone, PartialEq, prost::Message)]
pub struct AddressInfo {
    /// A multiaddr, binary form.
    #[prost(bytes = "vec", tag = "1")]
    pub multiaddr: Vec<u8>,
}
