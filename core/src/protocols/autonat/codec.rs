//! Typed AutoNAT v2 messages and their protobuf encoding ([`super::pb`]).
//! Each message travels in one uvarint-length-prefixed frame (the crate's
//! `wire::frame`); this module handles the frame's payload only.

use prost::Message as _;

use super::pb;
use crate::multiaddr::Multiaddr;

/// The largest message on the dial-request stream: a `DialDataResponse`
/// with a full 4096-byte chunk is about 4.1 KiB, and a request with
/// [`super::MAX_REQUEST_ADDRS`] long addresses fits as well (go-libp2p uses
/// the same bound).
pub const MAX_MESSAGE_LEN: usize = 8192;
/// The most `data` one `DialDataResponse` may carry (the spec).
pub const MAX_DATA_CHUNK: usize = 4096;
/// The largest message on the dial-back stream: a `DialBack` is 9 bytes.
pub const MAX_DIAL_BACK_LEN: usize = 64;

/// `DialResponse.ResponseStatus`: whether the server handled the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    /// `E_INTERNAL_ERROR`: the server failed.
    InternalError,
    /// `E_REQUEST_REJECTED`: rate limit, resource limit or block list.
    RequestRejected,
    /// `E_DIAL_REFUSED`: the server is unable or unwilling to dial any address.
    DialRefused,
    /// `OK`: the server dialed one address (with whatever outcome).
    Ok,
}

impl ResponseStatus {
    /// The wire value.
    pub fn code(self) -> i32 {
        match self {
            ResponseStatus::InternalError => 0,
            ResponseStatus::RequestRejected => 100,
            ResponseStatus::DialRefused => 101,
            ResponseStatus::Ok => 200,
        }
    }

    /// The status of a wire value, if the spec defines it.
    pub fn from_code(code: i32) -> Option<ResponseStatus> {
        Some(match code {
            0 => ResponseStatus::InternalError,
            100 => ResponseStatus::RequestRejected,
            101 => ResponseStatus::DialRefused,
            200 => ResponseStatus::Ok,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ResponseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResponseStatus::InternalError => "E_INTERNAL_ERROR",
            ResponseStatus::RequestRejected => "E_REQUEST_REJECTED",
            ResponseStatus::DialRefused => "E_DIAL_REFUSED",
            ResponseStatus::Ok => "OK",
        })
    }
}

/// `DialStatus`: the outcome of the one dial the server made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialStatus {
    /// `UNUSED`: no dial (with a status other than `OK`).
    Unused,
    /// `E_DIAL_ERROR`: the server could not connect to the address.
    DialError,
    /// `E_DIAL_BACK_ERROR`: it connected, but could not deliver the nonce.
    DialBackError,
    /// `OK`: it connected and delivered the nonce.
    Ok,
}

impl DialStatus {
    /// The wire value.
    pub fn code(self) -> i32 {
        match self {
            DialStatus::Unused => 0,
            DialStatus::DialError => 100,
            DialStatus::DialBackError => 101,
            DialStatus::Ok => 200,
        }
    }

    /// The status of a wire value, if the spec defines it.
    pub fn from_code(code: i32) -> Option<DialStatus> {
        Some(match code {
            0 => DialStatus::Unused,
            100 => DialStatus::DialError,
            101 => DialStatus::DialBackError,
            200 => DialStatus::Ok,
            _ => return None,
        })
    }
}

impl std::fmt::Display for DialStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DialStatus::Unused => "UNUSED",
            DialStatus::DialError => "E_DIAL_ERROR",
            DialStatus::DialBackError => "E_DIAL_BACK_ERROR",
            DialStatus::Ok => "OK",
        })
    }
}

/// The server's answer to a `DialRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialResponse {
    /// Whether the request was served.
    pub status: ResponseStatus,
    /// The index of the address dialed (meaningful with [`ResponseStatus::Ok`]).
    pub addr_idx: u32,
    /// The dial's outcome (meaningful with [`ResponseStatus::Ok`]).
    pub dial_status: DialStatus,
}

impl DialResponse {
    /// A response that served nothing (`status` other than `OK`).
    pub fn refusal(status: ResponseStatus) -> DialResponse {
        DialResponse { status, addr_idx: 0, dial_status: DialStatus::Unused }
    }
}

/// A message of the `/libp2p/autonat/2/dial-request` stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client to server: dial the first of `addrs` you are willing to, and
    /// send `nonce` back. An address that did not parse decodes as the empty
    /// multiaddr, which keeps the indices of the wire list (and which no
    /// server dials).
    DialRequest {
        /// Candidate addresses, in descending priority.
        addrs: Vec<Multiaddr>,
        /// The nonce to send back.
        nonce: u64,
    },
    /// Server to client: the outcome.
    DialResponse(DialResponse),
    /// Server to client: send `num_bytes` first (the selected address is not
    /// on the IP the request came from).
    DialDataRequest {
        /// The index of the selected address.
        addr_idx: u32,
        /// The bytes asked for.
        num_bytes: u64,
    },
    /// Client to server: `len` bytes of payload toward the bytes asked for
    /// (the content is irrelevant, so only its length is kept; at most
    /// [`MAX_DATA_CHUNK`]).
    DialDataResponse {
        /// Bytes of `data`.
        len: usize,
    },
}

/// Why bytes are not an AutoNAT v2 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Longer than the stream's limit.
    #[error("autonat message too large")]
    TooLarge,
    /// Not the protobuf.
    #[error("malformed autonat protobuf")]
    Protobuf,
    /// A `Message` with no (known) field of its `oneof` set.
    #[error("autonat message carries no known message")]
    Empty,
    /// A `ResponseStatus` the spec does not define.
    #[error("unknown autonat response status {0}")]
    UnknownResponseStatus(i32),
    /// A `DialStatus` the spec does not define.
    #[error("unknown autonat dial status {0}")]
    UnknownDialStatus(i32),
    /// A `DialBackStatus` the spec does not define.
    #[error("unknown autonat dial-back status {0}")]
    UnknownDialBackStatus(i32),
    /// A `DialDataResponse` over [`MAX_DATA_CHUNK`] bytes.
    #[error("dial data chunk of {0} bytes exceeds {MAX_DATA_CHUNK}")]
    ChunkTooLarge(usize),
}

impl Message {
    /// The protobuf bytes (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        use pb::message::Msg;
        let msg = match self {
            Message::DialRequest { addrs, nonce } => Msg::DialRequest(pb::DialRequest {
                addrs: addrs.iter().map(Multiaddr::to_vec).collect(),
                nonce: *nonce,
            }),
            Message::DialResponse(r) => Msg::DialResponse(pb::DialResponse {
                status: r.status.code(),
                addr_idx: r.addr_idx,
                dial_status: r.dial_status.code(),
            }),
            Message::DialDataRequest { addr_idx, num_bytes } => {
                Msg::DialDataRequest(pb::DialDataRequest { addr_idx: *addr_idx, num_bytes: *num_bytes })
            }
            Message::DialDataResponse { len } => Msg::DialDataResponse(pb::DialDataResponse { data: vec![0; *len] }),
        };
        pb::Message { msg: Some(msg) }.encode_to_vec()
    }

    /// Decodes one message (a frame's payload).
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        use pb::message::Msg;
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLarge);
        }
        let m = pb::Message::decode(bytes).map_err(|_| DecodeError::Protobuf)?;
        match m.msg.ok_or(DecodeError::Empty)? {
            Msg::DialRequest(r) => Ok(Message::DialRequest {
                addrs: r
                    .addrs
                    .iter()
                    .map(|a| Multiaddr::from_bytes(a).unwrap_or_else(|_| Multiaddr::empty()))
                    .collect(),
                nonce: r.nonce,
            }),
            Msg::DialResponse(r) => Ok(Message::DialResponse(DialResponse {
                status: ResponseStatus::from_code(r.status).ok_or(DecodeError::UnknownResponseStatus(r.status))?,
                addr_idx: r.addr_idx,
                dial_status: DialStatus::from_code(r.dial_status)
                    .ok_or(DecodeError::UnknownDialStatus(r.dial_status))?,
            })),
            Msg::DialDataRequest(r) => Ok(Message::DialDataRequest { addr_idx: r.addr_idx, num_bytes: r.num_bytes }),
            Msg::DialDataResponse(r) if r.data.len() > MAX_DATA_CHUNK => Err(DecodeError::ChunkTooLarge(r.data.len())),
            Msg::DialDataResponse(r) => Ok(Message::DialDataResponse { len: r.data.len() }),
        }
    }
}

/// The `DialBack` message carrying `nonce`.
pub fn encode_dial_back(nonce: u64) -> Vec<u8> {
    pb::DialBack { nonce }.encode_to_vec()
}

/// The nonce of a `DialBack` message.
pub fn decode_dial_back(bytes: &[u8]) -> Result<u64, DecodeError> {
    if bytes.len() > MAX_DIAL_BACK_LEN {
        return Err(DecodeError::TooLarge);
    }
    Ok(pb::DialBack::decode(bytes).map_err(|_| DecodeError::Protobuf)?.nonce)
}

/// The `DialBackResponse` with status `OK` (the only status there is).
pub fn encode_dial_back_response() -> Vec<u8> {
    pb::DialBackResponse { status: 0 }.encode_to_vec()
}

/// Checks a `DialBackResponse`: `OK` is the only status the spec defines.
pub fn decode_dial_back_response(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.len() > MAX_DIAL_BACK_LEN {
        return Err(DecodeError::TooLarge);
    }
    match pb::DialBackResponse::decode(bytes).map_err(|_| DecodeError::Protobuf)?.status {
        0 => Ok(()),
        other => Err(DecodeError::UnknownDialBackStatus(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Message> {
        let addr: Multiaddr = "/ip4/1.2.3.4/tcp/4001".parse().expect("addr");
        let addr6: Multiaddr = "/ip6/2001:db8::1/tcp/4001".parse().expect("addr");
        vec![
            Message::DialRequest { addrs: vec![addr.clone(), addr6], nonce: u64::MAX },
            Message::DialRequest { addrs: vec![addr], nonce: 0 },
            Message::DialRequest { addrs: vec![], nonce: 7 },
            Message::DialResponse(DialResponse {
                status: ResponseStatus::Ok,
                addr_idx: 1,
                dial_status: DialStatus::Ok,
            }),
            Message::DialResponse(DialResponse {
                status: ResponseStatus::Ok,
                addr_idx: 0,
                dial_status: DialStatus::DialError,
            }),
            Message::DialResponse(DialResponse {
                status: ResponseStatus::Ok,
                addr_idx: 3,
                dial_status: DialStatus::DialBackError,
            }),
            Message::DialResponse(DialResponse::refusal(ResponseStatus::InternalError)),
            Message::DialResponse(DialResponse::refusal(ResponseStatus::RequestRejected)),
            Message::DialResponse(DialResponse::refusal(ResponseStatus::DialRefused)),
            Message::DialDataRequest { addr_idx: 2, num_bytes: 30_000 },
            Message::DialDataResponse { len: MAX_DATA_CHUNK },
            Message::DialDataResponse { len: 0 },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            let bytes = m.encode();
            assert!(bytes.len() <= MAX_MESSAGE_LEN);
            assert_eq!(Message::decode(&bytes), Ok(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_none() {
        for code in [0, 100, 101, 200] {
            assert_eq!(ResponseStatus::from_code(code).map(ResponseStatus::code), Some(code));
            assert_eq!(DialStatus::from_code(code).map(DialStatus::code), Some(code));
        }
        assert_eq!(ResponseStatus::from_code(1), None);
        assert_eq!(DialStatus::from_code(201), None);
    }

    #[test]
    fn dial_back_messages_round_trip() {
        for nonce in [0, 1, u64::MAX] {
            let bytes = encode_dial_back(nonce);
            assert!(bytes.len() <= 9, "rust-libp2p reads at most 10 bytes");
            assert_eq!(decode_dial_back(&bytes), Ok(nonce));
        }
        assert_eq!(decode_dial_back_response(&encode_dial_back_response()), Ok(()));
        // proto3 omits the default: an empty message is `OK`.
        assert_eq!(decode_dial_back_response(&[]), Ok(()));
        let bad = pb::DialBackResponse { status: 3 }.encode_to_vec();
        assert_eq!(decode_dial_back_response(&bad), Err(DecodeError::UnknownDialBackStatus(3)));
    }

    #[test]
    fn wire_bytes_match_the_spec_layout() {
        // DialBack: field 1, wire type fixed64 (tag byte 0x09), little-endian nonce.
        assert_eq!(encode_dial_back(0x0102_0304_0506_0708), vec![0x09, 8, 7, 6, 5, 4, 3, 2, 1]);
        // Message{dialDataRequest{addrIdx: 1, numBytes: 30000}}: field 3, length 6.
        let bytes = Message::DialDataRequest { addr_idx: 1, num_bytes: 30_000 }.encode();
        assert_eq!(bytes, vec![0x1a, 6, 0x08, 1, 0x10, 0xb0, 0xea, 0x01]);
        // An absent status decodes as E_INTERNAL_ERROR / UNUSED (proto3 zero values).
        let empty_response = pb::Message { msg: Some(pb::message::Msg::DialResponse(pb::DialResponse::default())) };
        assert_eq!(
            Message::decode(&empty_response.encode_to_vec()),
            Ok(Message::DialResponse(DialResponse::refusal(ResponseStatus::InternalError)))
        );
    }

    #[test]
    fn inconsistent_messages_are_typed_errors() {
        use pb::message::Msg;
        assert_eq!(Message::decode(&[]), Err(DecodeError::Empty));
        let status = |status, dial_status| {
            pb::Message { msg: Some(Msg::DialResponse(pb::DialResponse { status, addr_idx: 0, dial_status })) }
                .encode_to_vec()
        };
        assert_eq!(Message::decode(&status(7, 0)), Err(DecodeError::UnknownResponseStatus(7)));
        assert_eq!(Message::decode(&status(200, 150)), Err(DecodeError::UnknownDialStatus(150)));
        let big_chunk = pb::Message {
            msg: Some(Msg::DialDataResponse(pb::DialDataResponse { data: vec![0; MAX_DATA_CHUNK + 1] })),
        };
        assert_eq!(Message::decode(&big_chunk.encode_to_vec()), Err(DecodeError::ChunkTooLarge(MAX_DATA_CHUNK + 1)));
        assert_eq!(Message::decode(&vec![0; MAX_MESSAGE_LEN + 1]), Err(DecodeError::TooLarge));
        assert_eq!(decode_dial_back(&[0; MAX_DIAL_BACK_LEN + 1]), Err(DecodeError::TooLarge));
        // An address that does not parse keeps its place as the empty address.
        let raw = pb::Message {
            msg: Some(Msg::DialRequest(pb::DialRequest {
                addrs: vec![vec![0xff, 0xff], "/ip4/1.2.3.4/tcp/1".parse::<Multiaddr>().expect("addr").to_vec()],
                nonce: 1,
            })),
        };
        match Message::decode(&raw.encode_to_vec()) {
            Ok(Message::DialRequest { addrs, .. }) => {
                assert_eq!(addrs.len(), 2);
                assert!(addrs[0].is_empty());
                assert!(!addrs[1].is_empty());
            }
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn truncated_and_random_input_never_panics() {
        for m in samples() {
            let bytes = m.encode();
            for cut in 0..bytes.len() {
                // A cut may still be a valid (shorter) message; it must not panic.
                let _ = Message::decode(&bytes[..cut]);
            }
        }
        let mut errors = 0;
        for bytes in crate::testutil::random_inputs(23, 3_000, 300) {
            if Message::decode(&bytes).is_err() {
                errors += 1;
            }
            let _ = decode_dial_back(&bytes);
            let _ = decode_dial_back_response(&bytes);
        }
        assert!(errors > 2_000, "random bytes mostly fail to decode ({errors})");
    }
}
