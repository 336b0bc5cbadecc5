//! The thin tokio layer: moves messages between streams and the machines of
//! [`super::server`] and [`super::client`], dials back, and runs the
//! client's probing rounds. Every read and write is bounded by the stream
//! timeout and each whole request by the request timeout.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::client::{self, AddrStatus, Change, NonceBook, ProbeOutcome, Tracker, TrackerConfig};
use super::codec::{self, DialResponse, DialStatus, MAX_DATA_CHUNK, MAX_DIAL_BACK_LEN, MAX_MESSAGE_LEN, Message};
use super::server::{Action, Exchange, Limits, Policy, RateLimiter};
use super::{
    AutonatError, Config, DIAL_BACK_PROTOCOL, DIAL_REQUEST_PROTOCOL, MAX_REQUEST_ADDRS, ResponseStatus, addrs,
};
use crate::identity::PeerId;
use crate::multiaddr::Multiaddr;
use crate::swarm::{BoxFuture, ConnHandler, ConnectionId, Event, RawStream, Step, Swarm, SwarmError};
use crate::transport;
use crate::wire::frame;

/// Our requests awaiting their dial-back at once (probing rounds and
/// [`Autonat::probe`] together).
const MAX_PENDING_PROBES: usize = 32;
/// Peers remembered as having announced the dial-request protocol.
const MAX_KNOWN_SERVERS: usize = 256;
/// Inbound connections remembered, to close the ones a dial-back came on.
const MAX_INBOUND: usize = 64;
/// How long the client waits for the server to close a dial-back stream it
/// answered before closing the connection.
const DIAL_BACK_LINGER: Duration = Duration::from_secs(2);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is a few map operations that leave the data
    // consistent, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn timed<T>(limit: Duration, fut: impl Future<Output = Result<T, AutonatError>>) -> Result<T, AutonatError> {
    tokio::time::timeout(limit, fut).await.unwrap_or(Err(AutonatError::Timeout))
}

async fn read_message<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> Result<Message, AutonatError> {
    let bytes = timed(limit, async { Ok(frame::read_frame(stream, MAX_MESSAGE_LEN).await?) }).await?;
    Ok(Message::decode(&bytes)?)
}

async fn write_payload<S: AsyncWrite + Unpin>(
    stream: &mut S,
    payload: &[u8],
    limit: Duration,
) -> Result<(), AutonatError> {
    timed(limit, async { Ok(frame::write_frame(stream, payload).await?) }).await
}

async fn close<S: AsyncWrite + Unpin>(stream: &mut S, limit: Duration) -> Result<(), AutonatError> {
    timed(limit, async { Ok(stream.shutdown().await?) }).await
}

// ---- server ----

/// Serves one request on `stream`: reads it, asks for dial data when the
/// exchange wants it, lets `dial` do the dial-back, answers, and closes.
/// `admitted: false` answers a request with `E_REQUEST_REJECTED`.
/// Returns the response sent.
pub(crate) async fn serve_exchange<S, D, F>(
    stream: &mut S,
    mut exchange: Exchange,
    admitted: bool,
    step: Duration,
    dial: D,
) -> Result<DialResponse, AutonatError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    D: FnOnce(Multiaddr, u64) -> F,
    F: Future<Output = Result<DialStatus, ResponseStatus>>,
{
    let first = read_message(stream, step).await?;
    let mut action = match (admitted, first) {
        (true, first) => exchange.handle(first)?,
        (false, Message::DialRequest { .. }) => Action::Respond(DialResponse::refusal(ResponseStatus::RequestRejected)),
        (false, _) => return Err(AutonatError::UnexpectedMessage),
    };
    let mut dial = Some(dial);
    let response = loop {
        action = match action {
            Action::Respond(response) => break response,
            Action::RequestData { addr_idx, num_bytes } => {
                write_payload(stream, &Message::DialDataRequest { addr_idx, num_bytes }.encode(), step).await?;
                exchange.handle(read_message(stream, step).await?)?
            }
            Action::ReadMore => exchange.handle(read_message(stream, step).await?)?,
            Action::DialBack { addr, nonce } => {
                // The exchange dials at most once; a second ask would be our bug.
                let dial = dial.take().ok_or(AutonatError::UnexpectedMessage)?;
                Action::Respond(exchange.dial_finished(dial(addr, nonce).await))
            }
        };
    };
    write_payload(stream, &Message::DialResponse(response).encode(), step).await?;
    close(stream, step).await?;
    Ok(response)
}

/// Sends `nonce` on a dial-back stream and waits for the client's `OK`.
pub(crate) async fn deliver_nonce<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    nonce: u64,
    step: Duration,
) -> Result<(), AutonatError> {
    timed(step, async {
        frame::write_frame(stream, &codec::encode_dial_back(nonce)).await?;
        let bytes = frame::read_frame(stream, MAX_DIAL_BACK_LEN).await?;
        Ok(codec::decode_dial_back_response(&bytes)?)
    })
    .await
}

/// What a failed dial-back says: the address did not connect
/// (`E_DIAL_ERROR`), it connected but the stream failed
/// (`E_DIAL_BACK_ERROR`), or we could not try (a status other than `OK`).
fn dial_failure(e: &SwarmError) -> Result<DialStatus, ResponseStatus> {
    match e {
        SwarmError::LimitReached(_) => Err(ResponseStatus::RequestRejected),
        SwarmError::Shutdown => Err(ResponseStatus::InternalError),
        SwarmError::ProtocolNotSupported(_)
        | SwarmError::Muxer(_)
        | SwarmError::Io(_)
        | SwarmError::Timeout(Step::OpenStream | Step::ProtocolNegotiation | Step::Exchange) => {
            Ok(DialStatus::DialBackError)
        }
        _ => Ok(DialStatus::DialError),
    }
}

// ---- client ----

/// Sends our request of `addrs` with `nonce`, pays for dial data up to
/// `max_data` bytes, and reads the server's answer (waiting up to `wait`
/// for it: the server dials back first). Returns the answer and the dial
/// data sent.
pub(crate) async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    addrs: &[Multiaddr],
    nonce: u64,
    max_data: u64,
    step: Duration,
    wait: Duration,
) -> Result<(DialResponse, u64), AutonatError> {
    write_payload(stream, &Message::DialRequest { addrs: addrs.to_vec(), nonce }.encode(), step).await?;
    let mut sent = 0u64;
    let mut paid = false;
    loop {
        match read_message(stream, wait).await? {
            Message::DialResponse(response) => {
                // The answer is in; a failing close does not change it.
                let _ = close(stream, step).await;
                return Ok((response, sent));
            }
            Message::DialDataRequest { addr_idx, num_bytes } if !paid => {
                client::check_data_request(addrs.len(), addr_idx, num_bytes, max_data)?;
                paid = true;
                // Every full chunk is the same message: encode it once.
                let full = Message::DialDataResponse { len: MAX_DATA_CHUNK }.encode();
                for len in client::data_chunks(num_bytes) {
                    if len == MAX_DATA_CHUNK {
                        write_payload(stream, &full, step).await?;
                    } else {
                        write_payload(stream, &Message::DialDataResponse { len }.encode(), step).await?;
                    }
                    sent += len as u64;
                }
            }
            _ => return Err(AutonatError::UnexpectedMessage),
        }
    }
}

/// Answers a dial-back: `OK` if its nonce is one we wait for (marking it
/// received), nothing otherwise.
pub(crate) async fn answer_dial_back<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    nonces: &Mutex<NonceBook>,
    step: Duration,
) -> Result<u64, AutonatError> {
    timed(step, async {
        let bytes = frame::read_frame(stream, MAX_DIAL_BACK_LEN).await?;
        let nonce = codec::decode_dial_back(&bytes)?;
        if !lock(nonces).dial_back(nonce) {
            return Err(AutonatError::UnknownNonce);
        }
        frame::write_frame(stream, &codec::encode_dial_back_response()).await?;
        stream.shutdown().await?;
        Ok(nonce)
    })
    .await
}

fn random_nonce() -> Result<u64, AutonatError> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 8];
    // A guessable nonce would let a server fake a dial-back: no fallback.
    SystemRandom::new().fill(&mut bytes).map_err(|_| std::io::Error::other("no system randomness"))?;
    Ok(u64::from_le_bytes(bytes))
}

// ---- wiring ----

/// AutoNAT v2 running on a swarm; see [`start`]. Cheap to clone. It holds
/// the swarm weakly: it does not keep a node alive.
#[derive(Clone)]
pub struct Autonat {
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    swarm: Weak<Swarm>,
    nonces: Mutex<NonceBook>,
    limiter: Mutex<RateLimiter>,
    tracker: Mutex<Tracker>,
    /// External addresses this client added: the only ones it removes.
    added: Mutex<HashSet<Multiaddr>>,
    /// Connected peers that announced the dial-request protocol in some
    /// identify, oldest first. The peer store keeps only the latest
    /// identify, and rust-libp2p lists only the protocols of the connection
    /// it answers on (none of AutoNAT's on its dial-back connections).
    servers: Mutex<Vec<PeerId>>,
    /// Recent inbound connections, oldest first: a dial-back's connection is
    /// closed once the nonce is answered.
    inbound: Mutex<Vec<(PeerId, Multiaddr, ConnectionId)>>,
}

/// Ends an admitted request, however its future ends.
struct Admission<'a>(&'a Mutex<RateLimiter>);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        lock(self.0).finish();
    }
}

/// Stops waiting for a nonce, however the probe's future ends.
struct PendingNonce<'a> {
    nonces: &'a Mutex<NonceBook>,
    nonce: u64,
}

impl PendingNonce<'_> {
    /// Whether the nonce came back.
    fn finish(self) -> bool {
        lock(self.nonces).finish(self.nonce)
    }
}

impl Drop for PendingNonce<'_> {
    fn drop(&mut self) {
        // After finish() this finds nothing.
        lock(self.nonces).finish(self.nonce);
    }
}

/// Starts AutoNAT v2 on `swarm` (inside its runtime): the
/// `/libp2p/autonat/2/dial-request` handler when `config.server`, and when
/// `config.client` the `/libp2p/autonat/2/dial-back` handler and the probing
/// loop, which stops when the swarm shuts down. Both handlers are announced
/// in identify. Confirmed addresses go to [`Swarm::add_external_address`].
pub fn start(swarm: &Arc<Swarm>, config: Config) -> Autonat {
    let tracker = Tracker::new(TrackerConfig {
        confirmations: config.confirmations,
        max_candidates: config.max_candidates,
        max_concurrent_probes: config.max_concurrent_probes,
        probe_interval: config.probe_interval,
        max_probe_interval: config.max_probe_interval,
    });
    let limits = Limits {
        max_concurrent: config.max_concurrent_requests,
        max_per_minute: config.max_requests_per_minute,
        max_per_peer_per_minute: config.max_requests_per_peer_per_minute,
    };
    let shared = Arc::new(Shared {
        swarm: Arc::downgrade(swarm),
        nonces: Mutex::new(NonceBook::new(MAX_PENDING_PROBES)),
        limiter: Mutex::new(RateLimiter::new(limits)),
        tracker: Mutex::new(tracker),
        added: Mutex::new(HashSet::new()),
        servers: Mutex::new(Vec::new()),
        inbound: Mutex::new(Vec::new()),
        config,
    });
    // The handlers hold `shared`, which holds the swarm only weakly: no cycle.
    if shared.config.server {
        let me = Arc::clone(&shared);
        let handler: ConnHandler = Arc::new(move |peer, observed, stream| -> BoxFuture {
            let me = Arc::clone(&me);
            Box::pin(async move { me.serve_request(peer, observed, stream).await })
        });
        swarm.set_connection_handler(DIAL_REQUEST_PROTOCOL, handler);
    }
    if shared.config.client {
        let me = Arc::clone(&shared);
        let handler: ConnHandler = Arc::new(move |peer, observed, stream| -> BoxFuture {
            let me = Arc::clone(&me);
            Box::pin(async move { me.serve_dial_back(peer, observed, stream).await })
        });
        swarm.set_connection_handler(DIAL_BACK_PROTOCOL, handler);
        // Subscribed now, so that no connection made from here on is missed.
        swarm.spawn_service(watch(Arc::clone(&shared), swarm.subscribe()));
        swarm.spawn_service(run_client(Arc::clone(&shared)));
    }
    Autonat { shared }
}

impl Autonat {
    /// Asks `server` (dialed if need be) to dial one of `addrs` (best
    /// first, 1 to [`MAX_REQUEST_ADDRS`]) back: one request, outside the
    /// probing rounds; the result does not feed the tracker.
    pub async fn probe(&self, server: PeerId, addrs: Vec<Multiaddr>) -> Result<ProbeOutcome, AutonatError> {
        if !self.shared.config.client {
            return Err(AutonatError::ClientDisabled);
        }
        if addrs.is_empty() || addrs.len() > MAX_REQUEST_ADDRS {
            return Err(AutonatError::InvalidRequest(addrs.len()));
        }
        let swarm = self.shared.swarm.upgrade().ok_or(AutonatError::Shutdown)?;
        // Boxed: dialing and upgrading make a large future, too large for
        // the stack of a caller that awaits several in a row.
        Box::pin(self.shared.probe(&swarm, server, addrs)).await
    }

    /// What the probing rounds concluded about each tracked address.
    pub fn statuses(&self) -> Vec<(Multiaddr, AddrStatus)> {
        lock(&self.shared.tracker).statuses()
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }
}

impl Shared {
    async fn serve_request(&self, peer: PeerId, observed: Multiaddr, mut stream: RawStream) {
        let Some(swarm) = self.swarm.upgrade() else { return };
        let admitted = lock(&self.limiter).try_start(peer, Instant::now());
        let _admission = admitted.then(|| Admission(&self.limiter));
        let exchange = Exchange::new(self.policy(&swarm), peer, observed.clone());
        let step = self.config.stream_timeout;
        let dial = |addr: Multiaddr, nonce: u64| self.dial_back(&swarm, addr, peer, nonce);
        match timed(self.config.request_timeout, serve_exchange(&mut stream, exchange, admitted, step, dial)).await {
            Ok(response) => tracing::debug!(%peer, %observed, ?response, "autonat request served"),
            Err(e) => {
                tracing::debug!(%peer, error = %e, "autonat request failed");
                stream.get_mut().reset();
            }
        }
    }

    /// Dials `addr` on a new connection, delivers `nonce`, closes.
    async fn dial_back(
        &self,
        swarm: &Arc<Swarm>,
        addr: Multiaddr,
        peer: PeerId,
        nonce: u64,
    ) -> Result<DialStatus, ResponseStatus> {
        let connected =
            tokio::time::timeout(self.config.dial_back_timeout, swarm.dial_back(&addr, Some(peer), DIAL_BACK_PROTOCOL))
                .await;
        let (connection, mut stream) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                tracing::debug!(%peer, %addr, error = %e, "autonat dial-back failed");
                return dial_failure(&e);
            }
            Err(_) => return Ok(DialStatus::DialError),
        };
        let delivered = deliver_nonce(&mut stream, nonce, self.config.stream_timeout).await;
        // Bounded: closing waits for nothing but our GoAway to be written.
        let _ = tokio::time::timeout(self.config.stream_timeout, swarm.close_connection(connection)).await;
        match delivered {
            Ok(()) => Ok(DialStatus::Ok),
            Err(e) => {
                tracing::debug!(%peer, %addr, error = %e, "autonat nonce not delivered");
                Ok(DialStatus::DialBackError)
            }
        }
    }

    /// What we can dial: IPv4 unless we listen on IPv6 only; IPv6 when we
    /// listen on a global IPv6 address (or any, with private addresses
    /// allowed).
    fn policy(&self, swarm: &Swarm) -> Policy {
        let allow_private = self.config.allow_private_addresses;
        let ips: Vec<IpAddr> = swarm.listen_addrs().iter().filter_map(addrs::ip_of).collect();
        let ipv6 = ips.iter().any(|ip| ip.is_ipv6() && (allow_private || addrs::is_global(*ip)));
        let ipv4 = ips.iter().any(IpAddr::is_ipv4) || !ips.iter().any(IpAddr::is_ipv6);
        Policy {
            allow_private_addresses: allow_private,
            ipv4,
            ipv6,
            dial_data_bytes: self.config.dial_data_bytes,
            max_request_addrs: MAX_REQUEST_ADDRS,
        }
    }

    async fn serve_dial_back(&self, peer: PeerId, observed: Multiaddr, mut stream: RawStream) {
        match answer_dial_back(&mut stream, &self.nonces, self.config.stream_timeout).await {
            Ok(nonce) => tracing::debug!(%peer, nonce, "autonat dial-back answered"),
            Err(e) => {
                tracing::debug!(%peer, error = %e, "autonat dial-back refused");
                stream.get_mut().reset();
                return;
            }
        }
        // The connection was made for the dial-back (servers must dial anew):
        // once the server has read our answer (it closes the stream), close
        // it, so that it is not taken for our requests. rust-libp2p leaves
        // it open until idle, and does not serve requests on it.
        let mut rest = [0u8; 64];
        let _ = tokio::time::timeout(DIAL_BACK_LINGER, async {
            while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
        })
        .await;
        let connection =
            lock(&self.inbound).iter().find(|(p, a, _)| *p == peer && *a == observed).map(|(_, _, id)| *id);
        if let (Some(connection), Some(swarm)) = (connection, self.swarm.upgrade()) {
            swarm.close_connection(connection).await;
        }
    }

    async fn probe(
        &self,
        swarm: &Arc<Swarm>,
        server: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<ProbeOutcome, AutonatError> {
        let nonce = random_nonce()?;
        lock(&self.nonces).register(nonce)?;
        let pending = PendingNonce { nonces: &self.nonces, nonce };
        let (step, wait) = (self.config.stream_timeout, self.config.request_timeout);
        let exchanged = timed(wait, async {
            let open = Box::pin(swarm.new_stream(server, DIAL_REQUEST_PROTOCOL));
            let mut stream = timed(step, async { Ok(open.await?) }).await?;
            let result = request(&mut stream, &addrs, nonce, self.config.max_dial_data_bytes, step, wait).await;
            if result.is_err() {
                // The spec: a client that will not pay resets the stream.
                stream.get_mut().reset();
            }
            result
        })
        .await;
        let received = pending.finish();
        let (response, sent) = exchanged?;
        client::outcome(server, &addrs, response, received, sent)
    }

    /// Our candidate addresses worth asking about.
    fn candidates(&self, swarm: &Swarm) -> Vec<Multiaddr> {
        swarm
            .external_addr_candidates()
            .iter()
            .map(transport::without_p2p)
            .filter(|a| addrs::dialable(a, None).is_some())
            .filter(|a| self.config.allow_private_addresses || addrs::is_public(a))
            .collect()
    }

    /// One probing round; returns the time until the next.
    async fn round(self: &Arc<Self>, swarm: &Arc<Swarm>) -> Duration {
        let candidates = self.candidates(swarm);
        let servers = self.servers(swarm);
        let (changes, plan) = {
            let mut tracker = lock(&self.tracker);
            let changes = tracker.set_candidates(&candidates);
            (changes, tracker.plan(&servers, Instant::now()))
        };
        self.apply(swarm, changes);
        let mut probes = JoinSet::new();
        for probe in plan {
            let (me, swarm) = (Arc::clone(self), Arc::clone(swarm));
            probes.spawn(async move { (probe.server, me.probe(&swarm, probe.server, probe.addrs).await) });
        }
        while let Some(joined) = probes.join_next().await {
            if let Ok((server, result)) = joined {
                self.record(swarm, server, result);
            }
        }
        lock(&self.tracker).next_interval()
    }

    fn record(&self, swarm: &Arc<Swarm>, server: PeerId, result: Result<ProbeOutcome, AutonatError>) {
        let now = Instant::now();
        let change = {
            let mut tracker = lock(&self.tracker);
            match &result {
                Ok(outcome) => {
                    tracing::debug!(%server, addr = %outcome.addr, status = %outcome.dial_status, "autonat verdict");
                    outcome.verdict().and_then(|reachable| tracker.record(server, &outcome.addr, reachable, now))
                }
                Err(e) => {
                    tracing::debug!(%server, error = %e, "autonat probe failed");
                    tracker.server_failed(server, now);
                    None
                }
            }
        };
        self.apply(swarm, change.into_iter().collect());
    }

    fn apply(&self, swarm: &Arc<Swarm>, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::Confirmed(addr) => {
                    tracing::debug!(%addr, "autonat confirmed an external address");
                    // An address the application added already stays its own.
                    if swarm.add_external_address(addr.clone()) {
                        lock(&self.added).insert(addr);
                    }
                }
                Change::Unconfirmed(addr) => {
                    tracing::debug!(%addr, "autonat unconfirmed an external address");
                    if lock(&self.added).remove(&addr) {
                        swarm.remove_external_address(&addr);
                    }
                }
            }
        }
    }
}

impl Shared {
    /// Connected peers that said (in identify) that they serve AutoNAT v2.
    fn servers(&self, swarm: &Swarm) -> Vec<PeerId> {
        let me = swarm.peer_id();
        let announced = lock(&self.servers).clone();
        swarm
            .connected_peers()
            .into_iter()
            .filter(|p| *p != me)
            .filter(|p| announced.contains(p) || swarm.peer_info(p).is_some_and(|info| serves(&info.protocols)))
            .collect()
    }

    fn on_event(&self, swarm: &Swarm, event: Event) {
        match event {
            Event::Identified { peer, info } if serves(&info.protocols) => {
                push_bounded(&mut lock(&self.servers), peer, MAX_KNOWN_SERVERS);
            }
            Event::ConnectionEstablished { peer, connection, addr, outbound: false } => {
                push_bounded(&mut lock(&self.inbound), (peer, addr, connection), MAX_INBOUND);
            }
            Event::ConnectionClosed { peer, connection, .. } => {
                lock(&self.inbound).retain(|(_, _, id)| *id != connection);
                if !swarm.is_connected(&peer) {
                    lock(&self.servers).retain(|p| *p != peer);
                }
            }
            _ => {}
        }
    }
}

fn serves(protocols: &[String]) -> bool {
    protocols.iter().any(|p| p == DIAL_REQUEST_PROTOCOL)
}

/// Appends `item` (once), forgetting the oldest beyond `cap`.
fn push_bounded<T: PartialEq>(list: &mut Vec<T>, item: T, cap: usize) {
    list.retain(|x| *x != item);
    if list.len() >= cap {
        list.remove(0);
    }
    list.push(item);
}

/// Follows the swarm's events for [`Shared::on_event`].
async fn watch(shared: Arc<Shared>, mut events: broadcast::Receiver<Event>) {
    loop {
        match events.recv().await {
            Ok(event) => {
                let Some(swarm) = shared.swarm.upgrade() else { return };
                shared.on_event(&swarm, event);
            }
            // Missed events only cost a missed server or an open connection.
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The probing loop: a round, then a pause of the tracker's choosing. Holds
/// the swarm only during a round.
async fn run_client(shared: Arc<Shared>) {
    let mut pause = shared.config.probe_interval;
    loop {
        tokio::time::sleep(pause).await;
        let Some(swarm) = shared.swarm.upgrade() else { return };
        pause = shared.round(&swarm).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;
    use crate::protocols::autonat::DecodeError;

    const STEP: Duration = Duration::from_secs(5);

    fn addr(s: &str) -> Multiaddr {
        s.parse().expect("addr")
    }

    fn policy() -> Policy {
        Policy {
            allow_private_addresses: true,
            ipv4: true,
            ipv6: true,
            dial_data_bytes: 30_000,
            max_request_addrs: MAX_REQUEST_ADDRS,
        }
    }

    /// A server and a client over a pipe; the dial-back goes over a second
    /// pipe to the client's dial-back handler, with `sent_nonce` in place of
    /// the request's nonce when given (a lying server).
    async fn run(
        observed: &str,
        addrs: Vec<Multiaddr>,
        max_data: u64,
        sent_nonce: Option<u64>,
    ) -> (Result<(DialResponse, u64), AutonatError>, Result<DialResponse, AutonatError>, bool) {
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        let nonces = Arc::new(Mutex::new(NonceBook::new(4)));
        let nonce = 77;
        lock(&nonces).register(nonce).expect("room");
        let (mut c, mut s) = tokio::io::duplex(64 * 1024);
        let exchange = Exchange::new(policy(), peer, addr(observed));
        let client_nonces = Arc::clone(&nonces);
        let server = tokio::spawn(async move {
            let dial = move |_addr: Multiaddr, nonce: u64| async move {
                let (mut back_s, mut back_c) = tokio::io::duplex(1024);
                let answer = tokio::spawn(async move { answer_dial_back(&mut back_c, &client_nonces, STEP).await });
                let delivered = deliver_nonce(&mut back_s, sent_nonce.unwrap_or(nonce), STEP).await;
                let _ = answer.await;
                Ok(if delivered.is_ok() { DialStatus::Ok } else { DialStatus::DialBackError })
            };
            serve_exchange(&mut s, exchange, true, STEP, dial).await
        });
        let client = request(&mut c, &addrs, nonce, max_data, STEP, STEP).await;
        drop(c);
        let served = server.await.expect("joins");
        let received = lock(&nonces).finish(nonce);
        (client, served, received)
    }

    #[tokio::test]
    async fn same_ip_request_is_dialed_back_over_pipes() {
        let addrs = vec![addr("/ip4/127.0.0.1/tcp/4001")];
        let (client, served, received) = run("/ip4/127.0.0.1/tcp/5555", addrs.clone(), 100_000, None).await;
        let (response, sent) = client.expect("answer");
        assert_eq!(sent, 0);
        assert_eq!(served.expect("served"), response);
        assert!(received);
        let outcome =
            client::outcome(Keypair::generate_ed25519().public().to_peer_id(), &addrs, response, received, sent)
                .expect("ok");
        assert!(outcome.is_reachable());
    }

    #[tokio::test]
    async fn other_ip_pays_dial_data_first() {
        let addrs = vec![addr("/ip4/10.0.0.1/tcp/4001")];
        let (client, served, received) = run("/ip4/127.0.0.1/tcp/5555", addrs, 100_000, None).await;
        let (response, sent) = client.expect("answer");
        assert_eq!(sent, 30_000);
        assert_eq!(response.dial_status, DialStatus::Ok);
        assert!(served.is_ok());
        assert!(received);
    }

    #[tokio::test]
    async fn too_much_dial_data_is_refused_by_the_client() {
        let addrs = vec![addr("/ip4/10.0.0.1/tcp/4001")];
        let (client, served, received) = run("/ip4/127.0.0.1/tcp/5555", addrs, 1_000, None).await;
        assert!(matches!(client, Err(AutonatError::DialDataTooLarge { asked: 30_000, max: 1_000 })));
        assert!(served.is_err(), "the server sees the client leave");
        assert!(!received);
    }

    #[tokio::test]
    async fn a_wrong_nonce_is_not_answered_and_the_success_is_discarded() {
        let addrs = vec![addr("/ip4/127.0.0.1/tcp/4001")];
        let (client, _served, received) = run("/ip4/127.0.0.1/tcp/5555", addrs.clone(), 100_000, Some(78)).await;
        let (response, sent) = client.expect("answer");
        // Our handler did not answer the wrong nonce: the server saw a failed dial-back.
        assert_eq!(response.dial_status, DialStatus::DialBackError);
        assert!(!received);
        // A server that claims OK anyway is not believed.
        let lie = DialResponse { dial_status: DialStatus::Ok, ..response };
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        assert!(matches!(client::outcome(peer, &addrs, lie, received, sent), Err(AutonatError::NoDialBack)));
    }

    #[tokio::test]
    async fn rejected_and_refused_requests() {
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        let never = |_: Multiaddr, _: u64| async { Ok(DialStatus::Ok) };
        // Not admitted: E_REQUEST_REJECTED, without dialing.
        let (mut c, mut s) = tokio::io::duplex(4096);
        let ex = Exchange::new(policy(), peer, addr("/ip4/127.0.0.1/tcp/1"));
        let server = tokio::spawn(async move { serve_exchange(&mut s, ex, false, STEP, never).await });
        let (response, _) = request(&mut c, &[addr("/ip4/127.0.0.1/tcp/2")], 1, 0, STEP, STEP).await.expect("answer");
        assert_eq!(response, DialResponse::refusal(ResponseStatus::RequestRejected));
        assert!(server.await.expect("joins").is_ok());
        // Nothing dialable: E_DIAL_REFUSED.
        let (mut c, mut s) = tokio::io::duplex(4096);
        let ex = Exchange::new(policy(), peer, addr("/ip4/127.0.0.1/tcp/1"));
        let server = tokio::spawn(async move { serve_exchange(&mut s, ex, true, STEP, never).await });
        let (response, _) = request(&mut c, &[addr("/dns4/a.b/tcp/2")], 1, 0, STEP, STEP).await.expect("answer");
        assert_eq!(response, DialResponse::refusal(ResponseStatus::DialRefused));
        assert!(server.await.expect("joins").is_ok());
    }

    #[tokio::test]
    async fn garbage_oversized_and_silent_peers_are_typed_errors() {
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        let never = |_: Multiaddr, _: u64| async { Ok(DialStatus::Ok) };
        let serve = |mut s: tokio::io::DuplexStream| {
            let ex = Exchange::new(policy(), peer, addr("/ip4/127.0.0.1/tcp/1"));
            async move { serve_exchange(&mut s, ex, true, Duration::from_millis(200), never).await }
        };
        let (mut c, s) = tokio::io::duplex(4096);
        frame::write_frame(&mut c, &[0xff, 0xff, 0xff]).await.expect("write");
        assert!(matches!(serve(s).await, Err(AutonatError::Decode(DecodeError::Protobuf))));
        let (mut c, s) = tokio::io::duplex(4096);
        let mut raw = Vec::new();
        crate::wire::varint::encode((MAX_MESSAGE_LEN + 1) as u64, &mut raw);
        c.write_all(&raw).await.expect("write");
        assert!(matches!(serve(s).await, Err(AutonatError::Decode(DecodeError::TooLarge))));
        let (_c, s) = tokio::io::duplex(4096);
        assert!(matches!(serve(s).await, Err(AutonatError::Timeout)));
        // A response where a request belongs.
        let (mut c, s) = tokio::io::duplex(4096);
        let wrong = Message::DialResponse(DialResponse::refusal(ResponseStatus::Ok)).encode();
        frame::write_frame(&mut c, &wrong).await.expect("write");
        assert!(matches!(serve(s).await, Err(AutonatError::UnexpectedMessage)));
        // A server that never answers, and one that hangs up.
        let (mut c, _s) = tokio::io::duplex(4096);
        let short = Duration::from_millis(200);
        let addrs = [addr("/ip4/127.0.0.1/tcp/2")];
        assert!(matches!(request(&mut c, &addrs, 1, 0, short, short).await, Err(AutonatError::Timeout)));
        let (mut c, s) = tokio::io::duplex(4096);
        drop(s);
        assert!(request(&mut c, &addrs, 1, 0, short, short).await.is_err());
        // A dial-back of garbage.
        let book = Mutex::new(NonceBook::new(1));
        let (mut a, mut b) = tokio::io::duplex(64);
        frame::write_frame(&mut a, &[0x09, 1]).await.expect("write");
        assert!(matches!(answer_dial_back(&mut b, &book, short).await, Err(AutonatError::Decode(_))));
    }

    #[test]
    fn swarm_errors_map_to_dial_statuses() {
        use crate::transport::TransportError;
        let refused = SwarmError::Transport(TransportError::Io(std::io::ErrorKind::ConnectionRefused.into()));
        assert_eq!(dial_failure(&refused), Ok(DialStatus::DialError));
        assert_eq!(dial_failure(&SwarmError::Timeout(Step::Handshake)), Ok(DialStatus::DialError));
        assert_eq!(dial_failure(&SwarmError::ProtocolNotSupported("x".into())), Ok(DialStatus::DialBackError));
        assert_eq!(dial_failure(&SwarmError::Timeout(Step::ProtocolNegotiation)), Ok(DialStatus::DialBackError));
        assert_eq!(
            dial_failure(&SwarmError::LimitReached(crate::rcmgr::LimitError {
                scope: crate::rcmgr::ScopeName::System,
                resource: crate::rcmgr::Resource::Conns,
                limit: 1,
                current: 1,
            })),
            Err(ResponseStatus::RequestRejected)
        );
        assert_eq!(dial_failure(&SwarmError::Shutdown), Err(ResponseStatus::InternalError));
    }
}
