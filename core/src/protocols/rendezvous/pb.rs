//! The rendezvous protobuf, written by hand to match `proto/rendezvous.proto`.
//! Enumerations are kept as raw `i32` so that an unknown value is ours to
//! reject with a typed error.

/// `Message`
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// A `MessageType`.
    #[prost(int32, optional, tag = "1")]
    pub r#type: Option<i32>,
    /// Set with `REGISTER`.
    #[prost(message, optional, tag = "2")]
    pub register: Option<Register>,
    /// Set with `REGISTER_RESPONSE`.
    #[prost(message, optional, tag = "3")]
    pub register_response: Option<RegisterResponse>,
    /// Set with `UNREGISTER`.
    #[prost(message, optional, tag = "4")]
    pub unregister: Option<Unregister>,
    /// Set with `DISCOVER`.
    #[prost(message, optional, tag = "5")]
    pub discover: Option<Discover>,
    /// Set with `DISCOVER_RESPONSE`.
    #[prost(message, optional, tag = "6")]
    pub discover_response: Option<DiscoverResponse>,
}

/// `Message.Register`
#[derive(Clone, PartialEq, prost::Message)]
pub struct Register {
    /// The namespace.
    #[prost(string, optional, tag = "1")]
    pub ns: Option<String>,
    /// A signed envelope holding the registering peer's record.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub signed_peer_record: Option<Vec<u8>>,
    /// Seconds.
    #[prost(uint64, optional, tag = "3")]
    pub ttl: Option<u64>,
}

/// `Message.RegisterResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterResponse {
    /// A `ResponseStatus`.
    #[prost(int32, optional, tag = "1")]
    pub status: Option<i32>,
    /// Why, for people.
    #[prost(string, optional, tag = "2")]
    pub status_text: Option<String>,
    /// The granted TTL in seconds.
    #[prost(uint64, optional, tag = "3")]
    pub ttl: Option<u64>,
}

/// `Message.Unregister`
#[derive(Clone, PartialEq, prost::Message)]
pub struct Unregister {
    /// The namespace.
    #[prost(string, optional, tag = "1")]
    pub ns: Option<String>,
}

/// `Message.Discover`
#[derive(Clone, PartialEq, prost::Message)]
pub struct Discover {
    /// The namespace; absent asks for every namespace.
    #[prost(string, optional, tag = "1")]
    pub ns: Option<String>,
    /// The most registrations wanted.
    #[prost(uint64, optional, tag = "2")]
    pub limit: Option<u64>,
    /// From a previous response: only newer registrations.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub cookie: Option<Vec<u8>>,
}

/// `Message.DiscoverResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct DiscoverResponse {
    /// The registrations found.
    #[prost(message, repeated, tag = "1")]
    pub registrations: Vec<Register>,
    /// To pass in the next `DISCOVER`.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub cookie: Option<Vec<u8>>,
    /// A `ResponseStatus`.
    #[prost(int32, optional, tag = "3")]
    pub status: Option<i32>,
    /// Why, for people.
    #[prost(string, optional, tag = "4")]
    pub status_text: Option<String>,
}
