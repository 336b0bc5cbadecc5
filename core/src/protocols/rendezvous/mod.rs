//! Rendezvous (`/rendezvous/1.0.0`, libp2p specs `rendezvous/` r3): peers
//! register themselves under a namespace at a rendezvous point, others ask
//! the point who is registered.
//!
//! - [`Message`]: the wire messages, decoded from and encoded to the protobuf
//!   of `proto/rendezvous.proto` (one varint-length-prefixed frame each).
//! - [`server::Server`]: the rendezvous point's registrations, a state machine
//!   without I/O and without a clock (the caller passes `now`).
//! - [`client`]: building requests and checking answers, also without I/O.
//! - [`driver`]: the thin async layer that moves one exchange over a stream.
//!
//! One request per stream, as rust-libp2p does: the client writes its request
//! and closes its side; the point answers (except `UNREGISTER`, which has no
//! answer) and closes.

pub mod client;
pub mod driver;
pub mod pb;
pub mod server;

use prost::Message as _;

use crate::wire::frame::FrameError;

/// The protocol ID.
pub const PROTOCOL: &str = "/rendezvous/1.0.0";
/// The largest message we read or write: rust-libp2p's bound, which a
/// `DISCOVER_RESPONSE` of 1,000 registrations fits in.
pub const MAX_MESSAGE_LEN: usize = 1024 * 1024;
/// The longest namespace (the spec's recommendation).
pub const MAX_NAMESPACE_LEN: usize = 255;
/// The TTL of a registration that names none: 2 hours (the spec).
pub const DEFAULT_TTL: u64 = 2 * 60 * 60;
/// The shortest TTL a point accepts by default: 2 hours (the spec's recommendation).
pub const MIN_TTL: u64 = 2 * 60 * 60;
/// The longest TTL a point may accept: 72 hours (the spec's maximum).
pub const MAX_TTL: u64 = 72 * 60 * 60;
/// The most registrations one `DISCOVER` returns (the spec's recommendation).
pub const MAX_DISCOVER_LIMIT: u64 = 1000;
/// The longest cookie we accept: an 8-byte position and a namespace.
pub const MAX_COOKIE_LEN: usize = 8 + MAX_NAMESPACE_LEN;

/// A response status of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `OK`
    Ok,
    /// `E_INVALID_NAMESPACE`
    InvalidNamespace,
    /// `E_INVALID_SIGNED_PEER_RECORD`
    InvalidSignedPeerRecord,
    /// `E_INVALID_TTL`
    InvalidTtl,
    /// `E_INVALID_COOKIE`
    InvalidCookie,
    /// `E_NOT_AUTHORIZED`
    NotAuthorized,
    /// `E_INTERNAL_ERROR`
    InternalError,
    /// `E_UNAVAILABLE`
    Unavailable,
}

impl Status {
    /// The wire value.
    pub fn code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::InvalidNamespace => 100,
            Status::InvalidSignedPeerRecord => 101,
            Status::InvalidTtl => 102,
            Status::InvalidCookie => 103,
            Status::NotAuthorized => 200,
            Status::InternalError => 300,
            Status::Unavailable => 400,
        }
    }

    /// The status of a wire value, if it is one.
    pub fn from_code(code: i32) -> Option<Status> {
        Some(match code {
            0 => Status::Ok,
            100 => Status::InvalidNamespace,
            101 => Status::InvalidSignedPeerRecord,
            102 => Status::InvalidTtl,
            103 => Status::InvalidCookie,
            200 => Status::NotAuthorized,
            300 => Status::InternalError,
            400 => Status::Unavailable,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK",
            Status::InvalidNamespace => "E_INVALID_NAMESPACE",
            Status::InvalidSignedPeerRecord => "E_INVALID_SIGNED_PEER_RECORD",
            Status::InvalidTtl => "E_INVALID_TTL",
            Status::InvalidCookie => "E_INVALID_COOKIE",
            Status::NotAuthorized => "E_NOT_AUTHORIZED",
            Status::InternalError => "E_INTERNAL_ERROR",
            Status::Unavailable => "E_UNAVAILABLE",
        })
    }
}

/// A `REGISTER` (also the shape of each registration in a `DISCOVER_RESPONSE`).
/// Fields are as received: the point validates them and answers with a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// The namespace.
    pub namespace: String,
    /// The signed envelope of the peer record, as bytes.
    pub signed_peer_record: Vec<u8>,
    /// The TTL in seconds, if given.
    pub ttl: Option<u64>,
}

/// A `DISCOVER`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Discover {
    /// The namespace; `None` asks for all.
    pub namespace: Option<String>,
    /// The most registrations wanted.
    pub limit: Option<u64>,
    /// The cookie of a previous response.
    pub cookie: Option<Vec<u8>>,
}

/// A rendezvous message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Register the sender under a namespace.
    Register(Register),
    /// The point's answer to a `REGISTER`: the granted TTL, or why not.
    RegisterResponse {
        /// The status.
        status: Status,
        /// Why, for people.
        text: String,
        /// The granted TTL in seconds (with `OK`).
        ttl: Option<u64>,
    },
    /// Remove the sender's registration in a namespace. No answer.
    Unregister {
        /// The namespace.
        namespace: String,
    },
    /// Ask who is registered.
    Discover(Discover),
    /// The point's answer to a `DISCOVER`.
    DiscoverResponse {
        /// The status.
        status: Status,
        /// Why, for people.
        text: String,
        /// The registrations (with `OK`).
        registrations: Vec<Register>,
        /// The cookie for the next `DISCOVER` (with `OK`).
        cookie: Option<Vec<u8>>,
    },
}

/// Why bytes are not a rendezvous message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Longer than [`MAX_MESSAGE_LEN`].
    #[error("rendezvous message too large")]
    TooLarge,
    /// Not the protobuf.
    #[error("malformed rendezvous protobuf")]
    Protobuf,
    /// No message type, or an unknown one.
    #[error("unknown rendezvous message type {0:?}")]
    UnknownType(Option<i32>),
    /// The type's body is missing, or a required field of it.
    #[error("rendezvous message lacks {0}")]
    Missing(&'static str),
    /// A status value the spec does not define.
    #[error("unknown rendezvous status {0}")]
    UnknownStatus(i32),
}

/// Why a rendezvous operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RendezvousError {
    /// A namespace is empty or longer than [`MAX_NAMESPACE_LEN`] bytes.
    #[error("invalid namespace (1 to {MAX_NAMESPACE_LEN} bytes)")]
    InvalidNamespace,
    /// A TTL outside what the protocol allows.
    #[error("invalid TTL {0} s")]
    InvalidTtl(u64),
    /// The point refused: its status and text.
    #[error("rendezvous point refused: {status} {text}")]
    Refused {
        /// The status.
        status: Status,
        /// The point's text.
        text: String,
    },
    /// The remote sent a message that does not decode.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The remote answered with the wrong kind of message.
    #[error("unexpected rendezvous message")]
    UnexpectedMessage,
    /// Our own peer record could not be signed.
    #[error("could not sign our peer record")]
    Sign,
    /// The stream ended before the answer.
    #[error("stream ended before the rendezvous answer")]
    UnexpectedEof,
    /// The remote took too long.
    #[error("rendezvous exchange timed out")]
    Timeout,
    /// The stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<FrameError> for RendezvousError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::TooLarge { .. } => RendezvousError::Decode(DecodeError::TooLarge),
            FrameError::Varint(_) => RendezvousError::Decode(DecodeError::Protobuf),
            FrameError::UnexpectedEof => RendezvousError::UnexpectedEof,
            FrameError::Io(e) => RendezvousError::Io(e),
        }
    }
}

/// Whether `ns` is a namespace the protocol allows.
pub fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty() && ns.len() <= MAX_NAMESPACE_LEN
}

const TYPE_REGISTER: i32 = 0;
const TYPE_REGISTER_RESPONSE: i32 = 1;
const TYPE_UNREGISTER: i32 = 2;
const TYPE_DISCOVER: i32 = 3;
const TYPE_DISCOVER_RESPONSE: i32 = 4;

fn register_to_pb(r: &Register) -> pb::Register {
    pb::Register { ns: Some(r.namespace.clone()), signed_peer_record: Some(r.signed_peer_record.clone()), ttl: r.ttl }
}

fn register_from_pb(r: pb::Register) -> Result<Register, DecodeError> {
    Ok(Register {
        namespace: r.ns.ok_or(DecodeError::Missing("namespace"))?,
        signed_peer_record: r.signed_peer_record.ok_or(DecodeError::Missing("signed peer record"))?,
        ttl: r.ttl,
    })
}

fn status_from_pb(code: Option<i32>) -> Result<Status, DecodeError> {
    // An absent status is the protobuf default, OK (go-libp2p omits it).
    let code = code.unwrap_or(0);
    Status::from_code(code).ok_or(DecodeError::UnknownStatus(code))
}

impl Message {
    /// The protobuf bytes (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut m = pb::Message::default();
        match self {
            Message::Register(r) => {
                m.r#type = Some(TYPE_REGISTER);
                m.register = Some(register_to_pb(r));
            }
            Message::RegisterResponse { status, text, ttl } => {
                m.r#type = Some(TYPE_REGISTER_RESPONSE);
                m.register_response = Some(pb::RegisterResponse {
                    status: Some(status.code()),
                    status_text: Some(text.clone()),
                    ttl: *ttl,
                });
            }
            Message::Unregister { namespace } => {
                m.r#type = Some(TYPE_UNREGISTER);
                m.unregister = Some(pb::Unregister { ns: Some(namespace.clone()) });
            }
            Message::Discover(d) => {
                m.r#type = Some(TYPE_DISCOVER);
                m.discover = Some(pb::Discover { ns: d.namespace.clone(), limit: d.limit, cookie: d.cookie.clone() });
            }
            Message::DiscoverResponse { status, text, registrations, cookie } => {
                m.r#type = Some(TYPE_DISCOVER_RESPONSE);
                m.discover_response = Some(pb::DiscoverResponse {
                    registrations: registrations.iter().map(register_to_pb).collect(),
                    cookie: cookie.clone(),
                    status: Some(status.code()),
                    status_text: Some(text.clone()),
                });
            }
        }
        m.encode_to_vec()
    }

    /// Decodes one message (the frame's payload).
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLarge);
        }
        let m = pb::Message::decode(bytes).map_err(|_| DecodeError::Protobuf)?;
        match m.r#type {
            Some(TYPE_REGISTER) => {
                Ok(Message::Register(register_from_pb(m.register.ok_or(DecodeError::Missing("register body"))?)?))
            }
            Some(TYPE_REGISTER_RESPONSE) => {
                let r = m.register_response.ok_or(DecodeError::Missing("register response body"))?;
                Ok(Message::RegisterResponse {
                    status: status_from_pb(r.status)?,
                    text: r.status_text.unwrap_or_default(),
                    ttl: r.ttl,
                })
            }
            Some(TYPE_UNREGISTER) => {
                let u = m.unregister.ok_or(DecodeError::Missing("unregister body"))?;
                Ok(Message::Unregister { namespace: u.ns.ok_or(DecodeError::Missing("namespace"))? })
            }
            Some(TYPE_DISCOVER) => {
                let d = m.discover.ok_or(DecodeError::Missing("discover body"))?;
                Ok(Message::Discover(Discover { namespace: d.ns, limit: d.limit, cookie: d.cookie }))
            }
            Some(TYPE_DISCOVER_RESPONSE) => {
                let d = m.discover_response.ok_or(DecodeError::Missing("discover response body"))?;
                Ok(Message::DiscoverResponse {
                    status: status_from_pb(d.status)?,
                    text: d.status_text.unwrap_or_default(),
                    registrations: d.registrations.into_iter().map(register_from_pb).collect::<Result<_, _>>()?,
                    cookie: d.cookie,
                })
            }
            other => Err(DecodeError::UnknownType(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Message> {
        vec![
            Message::Register(Register { namespace: "app".into(), signed_peer_record: vec![1, 2, 3], ttl: Some(7200) }),
            Message::Register(Register { namespace: "app".into(), signed_peer_record: vec![], ttl: None }),
            Message::RegisterResponse { status: Status::Ok, text: String::new(), ttl: Some(7200) },
            Message::RegisterResponse { status: Status::InvalidTtl, text: "too long".into(), ttl: None },
            Message::Unregister { namespace: "app".into() },
            Message::Discover(Discover::default()),
            Message::Discover(Discover { namespace: Some("app".into()), limit: Some(5), cookie: Some(vec![0; 8]) }),
            Message::DiscoverResponse {
                status: Status::Ok,
                text: String::new(),
                registrations: vec![Register { namespace: "a".into(), signed_peer_record: vec![9], ttl: Some(1) }],
                cookie: Some(vec![0; 9]),
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            assert_eq!(Message::decode(&m.encode()), Ok(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn every_status_round_trips() {
        for code in [0, 100, 101, 102, 103, 200, 300, 400] {
            assert_eq!(Status::from_code(code).map(Status::code), Some(code));
        }
        assert_eq!(Status::from_code(1), None);
    }

    #[test]
    fn inconsistent_messages_are_typed_errors() {
        let no_type = pb::Message::default().encode_to_vec();
        assert_eq!(Message::decode(&no_type), Err(DecodeError::UnknownType(None)));
        let unknown = pb::Message { r#type: Some(9), ..Default::default() }.encode_to_vec();
        assert_eq!(Message::decode(&unknown), Err(DecodeError::UnknownType(Some(9))));
        let no_body = pb::Message { r#type: Some(TYPE_REGISTER), ..Default::default() }.encode_to_vec();
        assert!(matches!(Message::decode(&no_body), Err(DecodeError::Missing(_))));
        let no_record = pb::Message {
            r#type: Some(TYPE_REGISTER),
            register: Some(pb::Register { ns: Some("a".into()), ..Default::default() }),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(Message::decode(&no_record), Err(DecodeError::Missing("signed peer record")));
        let bad_status = pb::Message {
            r#type: Some(TYPE_REGISTER_RESPONSE),
            register_response: Some(pb::RegisterResponse { status: Some(7), ..Default::default() }),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(Message::decode(&bad_status), Err(DecodeError::UnknownStatus(7)));
        assert_eq!(Message::decode(&vec![0; MAX_MESSAGE_LEN + 1]), Err(DecodeError::TooLarge));
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
        for bytes in crate::testutil::random_inputs(11, 3_000, 300) {
            if Message::decode(&bytes).is_err() {
                errors += 1;
            }
        }
        assert!(errors > 2_500, "random bytes mostly fail to decode ({errors})");
    }
}
