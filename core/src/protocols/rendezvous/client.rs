//! The client side without I/O: requests to send, and the checks of what the
//! rendezvous point answers.

use std::time::Duration;

use super::{
    DecodeError, Discover, MAX_COOKIE_LEN, MAX_DISCOVER_LIMIT, MAX_TTL, Message, Register, RendezvousError, Status,
    valid_namespace,
};
use crate::identity::PeerId;
use crate::identity::envelope::SignedEnvelope;
use crate::identity::record::PeerRecord;
use crate::multiaddr::Multiaddr;

/// A peer found through a rendezvous point, its record verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The namespace it registered in.
    pub namespace: String,
    /// The peer.
    pub peer: PeerId,
    /// Its addresses, from its signed peer record.
    pub addrs: Vec<Multiaddr>,
    /// How long the registration still lives.
    pub ttl: Duration,
}

/// Where to continue a discovery: pass it to the next `DISCOVER` of the
/// same namespace to get only newer registrations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cookie(Vec<u8>);

impl Cookie {
    /// The cookie's bytes, as the point sent them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A cookie from bytes a point sent (bounded in length).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Cookie, RendezvousError> {
        if bytes.len() > MAX_COOKIE_LEN {
            return Err(RendezvousError::Decode(DecodeError::TooLarge));
        }
        Ok(Cookie(bytes))
    }
}

/// What a `DISCOVER` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The registrations whose records verified.
    pub registrations: Vec<Registration>,
    /// For the next query.
    pub cookie: Option<Cookie>,
    /// Registrations dropped: records that do not verify, or of another namespace.
    pub rejected: usize,
}

/// A `REGISTER` of the peer whose signed record is `envelope`.
pub fn register(namespace: &str, envelope: &SignedEnvelope, ttl: Option<Duration>) -> Result<Message, RendezvousError> {
    if !valid_namespace(namespace) {
        return Err(RendezvousError::InvalidNamespace);
    }
    let ttl = ttl.map(|t| t.as_secs());
    if let Some(secs) = ttl
        && (secs == 0 || secs > MAX_TTL)
    {
        return Err(RendezvousError::InvalidTtl(secs));
    }
    Ok(Message::Register(Register { namespace: namespace.into(), signed_peer_record: envelope.encode(), ttl }))
}

/// An `UNREGISTER`.
pub fn unregister(namespace: &str) -> Result<Message, RendezvousError> {
    if !valid_namespace(namespace) {
        return Err(RendezvousError::InvalidNamespace);
    }
    Ok(Message::Unregister { namespace: namespace.into() })
}

/// A `DISCOVER`.
pub fn discover(
    namespace: Option<&str>,
    limit: Option<u64>,
    cookie: Option<&Cookie>,
) -> Result<Message, RendezvousError> {
    if let Some(ns) = namespace
        && !valid_namespace(ns)
    {
        return Err(RendezvousError::InvalidNamespace);
    }
    Ok(Message::Discover(Discover {
        namespace: namespace.map(str::to_string),
        limit: limit.map(|l| l.min(MAX_DISCOVER_LIMIT)),
        cookie: cookie.map(|c| c.0.clone()),
    }))
}

/// The granted TTL of a `REGISTER_RESPONSE`.
pub fn register_response(answer: Message) -> Result<Duration, RendezvousError> {
    match answer {
        Message::RegisterResponse { status: Status::Ok, ttl: Some(ttl), .. } => Ok(Duration::from_secs(ttl)),
        Message::RegisterResponse { status: Status::Ok, ttl: None, .. } => Err(DecodeError::Missing("ttl").into()),
        Message::RegisterResponse { status, text, .. } => Err(RendezvousError::Refused { status, text }),
        _ => Err(RendezvousError::UnexpectedMessage),
    }
}

/// The verified registrations of a `DISCOVER_RESPONSE` to a query of `namespace`.
pub fn discover_response(answer: Message, namespace: Option<&str>) -> Result<Discovered, RendezvousError> {
    let (registrations, cookie) = match answer {
        Message::DiscoverResponse { status: Status::Ok, registrations, cookie, .. } => (registrations, cookie),
        Message::DiscoverResponse { status, text, .. } => return Err(RendezvousError::Refused { status, text }),
        _ => return Err(RendezvousError::UnexpectedMessage),
    };
    let cookie = cookie.map(Cookie::from_bytes).transpose()?;
    let mut found = Vec::new();
    let mut rejected = 0;
    for r in registrations.into_iter().take(MAX_DISCOVER_LIMIT as usize) {
        match check(r, namespace) {
            Some(registration) => found.push(registration),
            None => rejected += 1,
        }
    }
    Ok(Discovered { registrations: found, cookie, rejected })
}

/// A registration whose record verifies and whose namespace was asked for.
fn check(r: Register, namespace: Option<&str>) -> Option<Registration> {
    if namespace.is_some_and(|ns| ns != r.namespace) || !valid_namespace(&r.namespace) {
        return None;
    }
    let (record, _) = PeerRecord::from_envelope_bytes(&r.signed_peer_record).ok()?;
    let ttl = r.ttl.unwrap_or(super::DEFAULT_TTL).min(MAX_TTL);
    Some(Registration {
        namespace: r.namespace,
        peer: record.peer_id,
        addrs: record.addrs,
        ttl: Duration::from_secs(ttl),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    fn envelope(key: &Keypair) -> SignedEnvelope {
        let addrs = vec!["/ip4/127.0.0.1/tcp/4001".parse().expect("addr")];
        PeerRecord::new(key, addrs).to_signed_envelope(key).expect("seals")
    }

    #[test]
    fn requests_are_checked_before_sending() {
        let key = Keypair::generate_ed25519();
        let e = envelope(&key);
        assert!(matches!(register("", &e, None), Err(RendezvousError::InvalidNamespace)));
        assert!(matches!(register(&"n".repeat(256), &e, None), Err(RendezvousError::InvalidNamespace)));
        assert!(matches!(
            register("ns", &e, Some(Duration::from_secs(MAX_TTL + 1))),
            Err(RendezvousError::InvalidTtl(_))
        ));
        assert!(matches!(register("ns", &e, Some(Duration::ZERO)), Err(RendezvousError::InvalidTtl(0))));
        assert!(register("ns", &e, Some(Duration::from_secs(7200))).is_ok());
        assert!(matches!(unregister(""), Err(RendezvousError::InvalidNamespace)));
        assert!(matches!(discover(Some(""), None, None), Err(RendezvousError::InvalidNamespace)));
        let Ok(Message::Discover(d)) = discover(None, Some(1_000_000), None) else { panic!("a discover") };
        assert_eq!(d.limit, Some(MAX_DISCOVER_LIMIT));
    }

    #[test]
    fn answers_are_checked() {
        let ok = Message::RegisterResponse { status: Status::Ok, text: String::new(), ttl: Some(60) };
        assert_eq!(register_response(ok).ok(), Some(Duration::from_secs(60)));
        let no_ttl = Message::RegisterResponse { status: Status::Ok, text: String::new(), ttl: None };
        assert!(matches!(register_response(no_ttl), Err(RendezvousError::Decode(DecodeError::Missing("ttl")))));
        let refused = Message::RegisterResponse { status: Status::InvalidTtl, text: "no".into(), ttl: None };
        assert!(matches!(register_response(refused), Err(RendezvousError::Refused { status: Status::InvalidTtl, .. })));
        assert!(matches!(
            register_response(Message::Unregister { namespace: "x".into() }),
            Err(RendezvousError::UnexpectedMessage)
        ));
        assert!(matches!(
            discover_response(Message::Unregister { namespace: "x".into() }, None),
            Err(RendezvousError::UnexpectedMessage)
        ));
    }

    #[test]
    fn bad_registrations_are_dropped_and_counted() {
        let good = Keypair::generate_ed25519();
        let reg =
            |ns: &str, record: Vec<u8>| Register { namespace: ns.into(), signed_peer_record: record, ttl: Some(100) };
        let answer = Message::DiscoverResponse {
            status: Status::Ok,
            text: String::new(),
            registrations: vec![
                reg("app", envelope(&good).encode()),
                reg("app", vec![1, 2, 3]),
                reg("other", envelope(&good).encode()),
            ],
            cookie: Some(vec![0; 11]),
        };
        let found = discover_response(answer, Some("app")).expect("ok");
        assert_eq!(found.rejected, 2);
        assert_eq!(found.registrations.len(), 1);
        assert_eq!(found.registrations[0].peer, good.public().to_peer_id());
        assert_eq!(found.registrations[0].ttl, Duration::from_secs(100));
        assert_eq!(found.cookie.as_ref().map(|c| c.as_bytes().len()), Some(11));
        let long_cookie = Message::DiscoverResponse {
            status: Status::Ok,
            text: String::new(),
            registrations: vec![],
            cookie: Some(vec![0; MAX_COOKIE_LEN + 1]),
        };
        assert!(discover_response(long_cookie, None).is_err());
    }
}
