//! The AutoNAT v2 protobuf (proto3), written by hand. Enumerations are kept
//! as raw `i32` so that a value we do not know is ours to reject with a typed
//! error (the spec: discard responses with status codes you do not understand).
//!
//! ```proto
//! message Message { oneof msg { DialRequest dialRequest = 1; DialResponse dialResponse = 2;
//!                               DialDataRequest dialDataRequest = 3; DialDataResponse dialDataResponse = 4; } }
//! message DialRequest { repeated bytes addrs = 1; fixed64 nonce = 2; }
//! message DialDataRequest { uint32 addrIdx = 1; uint64 numBytes = 2; }
//! enum DialStatus { UNUSED = 0; E_DIAL_ERROR = 100; E_DIAL_BACK_ERROR = 101; OK = 200; }
//! message DialResponse {
//!     enum ResponseStatus { E_INTERNAL_ERROR = 0; E_REQUEST_REJECTED = 100; E_DIAL_REFUSED = 101; OK = 200; }
//!     ResponseStatus status = 1; uint32 addrIdx = 2; DialStatus dialStatus = 3; }
//! message DialDataResponse { bytes data = 1; }
//! message DialBack { fixed64 nonce = 1; }
//! message DialBackResponse { enum DialBackStatus { OK = 0; } DialBackStatus status = 1; }
//! ```

/// `Message`: every message of the dial-request stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// The one message carried.
    #[prost(oneof = "message::Msg", tags = "1, 2, 3, 4")]
    pub msg: Option<message::Msg>,
}

/// The `oneof` of [`Message`].
pub mod message {
    /// `Message.msg`
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Msg {
        /// Field 1.
        #[prost(message, tag = "1")]
        DialRequest(super::DialRequest),
        /// Field 2.
        #[prost(message, tag = "2")]
        DialResponse(super::DialResponse),
        /// Field 3.
        #[prost(message, tag = "3")]
        DialDataRequest(super::DialDataRequest),
        /// Field 4.
        #[prost(message, tag = "4")]
        DialDataResponse(super::DialDataResponse),
    }
}

/// `DialRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct DialRequest {
    /// Multiaddrs, in descending priority.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub addrs: Vec<Vec<u8>>,
    /// The nonce the server must send back on the dial-back stream.
    #[prost(fixed64, tag = "2")]
    pub nonce: u64,
}

/// `DialDataRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct DialDataRequest {
    /// The index of the address the server selected.
    #[prost(uint32, tag = "1")]
    pub addr_idx: u32,
    /// The bytes the client must send before the server dials.
    #[prost(uint64, tag = "2")]
    pub num_bytes: u64,
}

/// `DialResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct DialResponse {
    /// A `ResponseStatus`.
    #[prost(int32, tag = "1")]
    pub status: i32,
    /// The index of the address dialed.
    #[prost(uint32, tag = "2")]
    pub addr_idx: u32,
    /// A `DialStatus`.
    #[prost(int32, tag = "3")]
    pub dial_status: i32,
}

/// `DialDataResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct DialDataResponse {
    /// Payload; only its length counts.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// `DialBack`: the only message the server sends on the dial-back stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DialBack {
    /// The nonce of the request.
    #[prost(fixed64, tag = "1")]
    pub nonce: u64,
}

/// `DialBackResponse`: the client's acknowledgement of a [`DialBack`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct DialBackResponse {
    /// A `DialBackStatus` (only `OK = 0` exists).
    #[prost(int32, tag = "1")]
    pub status: i32,
}
