//! The Kademlia protobuf, written by hand to match `proto/kad.proto`.
//! Enumerations are kept as raw `i32` so that an unknown value is ours to
//! reject with a typed error.

/// `Record`
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    /// The record's key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// The record's value.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
    /// When the sender received it (RFC 3339); informational.
    #[prost(string, tag = "5")]
    pub time_received: String,
}

/// `Message.Peer`
#[derive(Clone, PartialEq, prost::Message)]
pub struct Peer {
    /// The peer ID, binary.
    #[prost(bytes = "vec", tag = "1")]
    pub id: Vec<u8>,
    /// Its multiaddrs, binary.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub addrs: Vec<Vec<u8>>,
    /// A `ConnectionType`.
    #[prost(int32, tag = "3")]
    pub connection: i32,
}

/// `Message`
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// A `MessageType`.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Not used.
    #[prost(int32, tag = "10")]
    pub cluster_level_raw: i32,
    /// The key the message is about.
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    /// A record (PUT_VALUE, GET_VALUE answer).
    #[prost(message, optional, tag = "3")]
    pub record: Option<Record>,
    /// Peers closer to the key.
    #[prost(message, repeated, tag = "8")]
    pub closer_peers: Vec<Peer>,
    /// Providers of the key.
    #[prost(message, repeated, tag = "9")]
    pub provider_peers: Vec<Peer>,
}

/// `MessageType` values.
pub mod message_type {
    /// Store a record.
    pub const PUT_VALUE: i32 = 0;
    /// Fetch a record.
    pub const GET_VALUE: i32 = 1;
    /// Announce a provider.
    pub const ADD_PROVIDER: i32 = 2;
    /// Fetch providers.
    pub const GET_PROVIDERS: i32 = 3;
    /// Fetch the closest peers.
    pub const FIND_NODE: i32 = 4;
    /// Deprecated liveness check.
    pub const PING: i32 = 5;
}

/// `ConnectionType` values.
pub mod connection_type {
    /// Not connected.
    pub const NOT_CONNECTED: i32 = 0;
    /// Connected.
    pub const CONNECTED: i32 = 1;
}

/// `IpnsEntry`
#[derive(Clone, PartialEq, prost::Message)]
pub struct IpnsEntry {
    /// The path the name points to.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub value: Option<Vec<u8>>,
    /// Legacy signature (not checked: V2 is required).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub signature_v1: Option<Vec<u8>>,
    /// `ValidityType` (0 = EOL).
    #[prost(int32, optional, tag = "3")]
    pub validity_type: Option<i32>,
    /// RFC 3339 end of life.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub validity: Option<Vec<u8>>,
    /// Sequence number: the higher wins.
    #[prost(uint64, optional, tag = "5")]
    pub sequence: Option<u64>,
    /// Cache TTL in nanoseconds.
    #[prost(uint64, optional, tag = "6")]
    pub ttl: Option<u64>,
    /// The signer's public key when it is not inlined in the name.
    #[prost(bytes = "vec", optional, tag = "7")]
    pub pub_key: Option<Vec<u8>>,
    /// Signature over `"ipns-signature:" ++ data`.
    #[prost(bytes = "vec", optional, tag = "8")]
    pub signature_v2: Option<Vec<u8>>,
    /// DAG-CBOR map of the signed fields.
    #[prost(bytes = "vec", optional, tag = "9")]
    pub data: Option<Vec<u8>>,
}
