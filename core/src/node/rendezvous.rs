//! Rendezvous on the [`Node`]: serve as a rendezvous point, register with
//! one, discover peers through one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::{Error, Node, Stream};
use crate::identity::PeerId;
use crate::identity::envelope::SignedEnvelope;
use crate::identity::record::PeerRecord;
use crate::peerstore::IpGroup;
use crate::protocols::rendezvous::client::{self, Cookie, Discovered};
use crate::protocols::rendezvous::server::{Server, ServerConfig};
use crate::protocols::rendezvous::{self, Message, RendezvousError, Status, driver};
use crate::swarm::{BoxFuture, ConnHandler, Event, Step, Swarm};

/// The agent-version prefix of rust-libp2p, whose rendezvous verifies only
/// the legacy envelope form of peer records.
const RUST_LIBP2P_AGENT: &str = "rust-libp2p/";

impl From<RendezvousError> for Error {
    fn from(e: RendezvousError) -> Self {
        match e {
            RendezvousError::Timeout => Error::Timeout(Step::Exchange),
            RendezvousError::Io(io) => Error::Io(io),
            e => Error::Rendezvous(e),
        }
    }
}

impl Node {
    /// Serves `/rendezvous/1.0.0`: this node becomes a rendezvous point with
    /// `config`'s TTL bounds and limits. Calling it again starts afresh.
    pub fn serve_rendezvous(&self, config: ServerConfig) {
        let server = Arc::new(Mutex::new(Server::new(config)));
        let limit = self.swarm().config().exchange_timeout;
        // Weak: the handler lives in the swarm, which must not own itself.
        let swarm = Arc::downgrade(self.swarm());
        // A connection handler: the remote address counts against the per-IP quota.
        let handler: ConnHandler = Arc::new(move |peer, remote, raw| -> BoxFuture {
            let server = Arc::clone(&server);
            let swarm = swarm.clone();
            let mut stream = Stream::new(raw, peer, rendezvous::PROTOCOL.to_string());
            Box::pin(async move {
                // Which records the client can verify depends on its
                // implementation: wait briefly for identify to tell it.
                let legacy_only = match swarm.upgrade() {
                    Some(swarm) => {
                        await_identify(&swarm, peer).await;
                        speaks_legacy_only(&swarm, &peer)
                    }
                    None => false,
                };
                let ip = IpGroup::of(&remote);
                if let Err(e) = driver::serve(&mut stream, peer, ip, &server, legacy_only, limit).await {
                    tracing::debug!(%peer, error = %e, "rendezvous request failed");
                    stream.reset();
                }
            })
        });
        // The swarm pushes identify on the node's runtime, whatever thread calls this.
        let _guard = self.inner.handle.enter();
        self.swarm().set_connection_handler(rendezvous::PROTOCOL, handler);
    }

    /// Registers this node under `namespace` at the rendezvous point `point`
    /// (with our signed peer record of our listen addresses). `ttl`: `None`
    /// for the point's default (2 h). Returns the TTL the point granted;
    /// register again before it runs out to stay listed.
    pub async fn rendezvous_register(
        &self,
        point: PeerId,
        namespace: &str,
        ttl: Option<Duration>,
    ) -> Result<Duration, Error> {
        // Checked before any I/O.
        let envelope = own_envelope(self.swarm(), false)?;
        client::register(namespace, &envelope, ttl)?;
        let namespace = namespace.to_string();
        let swarm = Arc::clone(self.swarm());
        self.on_runtime(async move {
            let limit = swarm.config().exchange_timeout;
            let mut stream = swarm.new_stream(point, rendezvous::PROTOCOL).await?;
            // Which envelope form the point verifies depends on its
            // implementation, which identify tells (it runs on every new
            // connection; wait for it briefly).
            await_identify(&swarm, point).await;
            let legacy = speaks_legacy_only(&swarm, &point);
            let request = client::register(&namespace, &own_envelope(&swarm, legacy)?, ttl)?;
            match driver::exchange(&mut stream, &request, limit).await? {
                // go-libp2p verifies only the standard form; a point that
                // refuses one form gets the other.
                Some(Message::RegisterResponse { status: Status::InvalidSignedPeerRecord, .. }) => {
                    let mut stream = swarm.new_stream(point, rendezvous::PROTOCOL).await?;
                    let request = client::register(&namespace, &own_envelope(&swarm, !legacy)?, ttl)?;
                    let answer = driver::exchange(&mut stream, &request, limit).await?;
                    Ok(client::register_response(answer.ok_or(RendezvousError::UnexpectedMessage)?)?)
                }
                Some(answer) => Ok(client::register_response(answer)?),
                None => Err(RendezvousError::UnexpectedMessage.into()),
            }
        })
        .await
    }

    /// Removes this node's registration under `namespace` at `point`. The
    /// protocol has no answer to this: success means the request was sent.
    pub async fn rendezvous_unregister(&self, point: PeerId, namespace: &str) -> Result<(), Error> {
        let request = client::unregister(namespace)?;
        let swarm = Arc::clone(self.swarm());
        let limit = swarm.config().exchange_timeout;
        self.on_runtime(async move {
            let mut stream = swarm.new_stream(point, rendezvous::PROTOCOL).await?;
            driver::exchange(&mut stream, &request, limit).await?;
            Ok(())
        })
        .await
    }

    /// Asks `point` who is registered under `namespace` (`None`: every
    /// namespace), at most `limit` (capped at 1,000). Pass the returned
    /// cookie to the next call to get only newer registrations. The
    /// addresses of the peers found go to the peer store, so that they can
    /// be reached by peer ID.
    pub async fn rendezvous_discover(
        &self,
        point: PeerId,
        namespace: Option<&str>,
        limit: Option<u64>,
        cookie: Option<&Cookie>,
    ) -> Result<Discovered, Error> {
        let request = client::discover(namespace, limit, cookie)?;
        let answer = self.rendezvous_exchange(point, request).await?;
        let found = client::discover_response(answer, namespace)?;
        for r in &found.registrations {
            if r.peer != self.peer_id() {
                self.add_addresses(r.peer, &r.addrs, r.ttl);
            }
        }
        Ok(found)
    }

    /// One request and its answer on a new stream to `point`.
    async fn rendezvous_exchange(&self, point: PeerId, request: Message) -> Result<Message, Error> {
        let swarm = Arc::clone(self.swarm());
        let limit = swarm.config().exchange_timeout;
        self.on_runtime(async move {
            let mut stream = swarm.new_stream(point, rendezvous::PROTOCOL).await?;
            match driver::exchange(&mut stream, &request, limit).await? {
                Some(answer) => Ok(answer),
                None => Err(RendezvousError::UnexpectedMessage.into()),
            }
        })
        .await
    }
}

/// How long a registration waits for identify to tell the point's implementation.
const IDENTIFY_WAIT: Duration = Duration::from_secs(2);

fn agent_of(swarm: &Swarm, peer: &PeerId) -> Option<String> {
    swarm.peer_info(peer).and_then(|info| info.agent_version)
}

/// Waits, at most [`IDENTIFY_WAIT`], until identify has told us `peer`'s
/// agent (identify runs on every new connection).
async fn await_identify(swarm: &Swarm, peer: PeerId) {
    if agent_of(swarm, &peer).is_some() {
        return;
    }
    let mut events = swarm.subscribe();
    // An answer that came before the subscription is in the peer store.
    if agent_of(swarm, &peer).is_some() {
        return;
    }
    let _ = tokio::time::timeout(IDENTIFY_WAIT, async {
        loop {
            match events.recv().await {
                Ok(Event::Identified { peer: p, .. }) if p == peer => break,
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if agent_of(swarm, &peer).is_some() {
                        break;
                    }
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
    .await;
}

/// Whether `peer` is rust-libp2p, which verifies only the legacy envelope
/// form of peer records (go-libp2p and the spec use the standard one).
fn speaks_legacy_only(swarm: &Swarm, peer: &PeerId) -> bool {
    agent_of(swarm, peer).is_some_and(|a| a.starts_with(RUST_LIBP2P_AGENT))
}

/// Our peer record of our listen addresses, sealed in the legacy or the standard form.
fn own_envelope(swarm: &Swarm, legacy: bool) -> Result<SignedEnvelope, Error> {
    let record = PeerRecord::new(swarm.keypair(), swarm.listen_addrs());
    let sealed = if legacy {
        record.to_legacy_signed_envelope(swarm.keypair())
    } else {
        record.to_signed_envelope(swarm.keypair())
    };
    sealed.map_err(|_| RendezvousError::Sign.into())
}
