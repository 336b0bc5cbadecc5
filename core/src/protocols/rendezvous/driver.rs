//! The thin async layer: one exchange over a stream, each read and write
//! under the caller's timeout.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::server::Server;
use super::{MAX_MESSAGE_LEN, Message, RendezvousError};
use crate::identity::PeerId;
use crate::peerstore::IpGroup;
use crate::wire::frame::{self, FrameError};

/// The largest request a point reads: a `REGISTER` carries one signed peer
/// record, far smaller than this.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;
/// Requests served on one inbound stream (rust-libp2p and go-libp2p send one).
const MAX_REQUESTS_PER_STREAM: usize = 16;

async fn timed<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, RendezvousError>>,
) -> Result<T, RendezvousError> {
    tokio::time::timeout(limit, fut).await.unwrap_or(Err(RendezvousError::Timeout))
}

/// Sends `request`, closes our side, and reads the answer (`None` for
/// `UNREGISTER`, which has none). Each step is bounded by `limit`.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &Message,
    limit: Duration,
) -> Result<Option<Message>, RendezvousError> {
    timed(limit, async {
        frame::write_frame(stream, &request.encode()).await?;
        stream.shutdown().await?;
        Ok(())
    })
    .await?;
    if matches!(request, Message::Unregister { .. }) {
        return Ok(None);
    }
    let bytes = timed(limit, async { Ok(frame::read_frame(stream, MAX_MESSAGE_LEN).await?) }).await?;
    Ok(Some(Message::decode(&bytes)?))
}

/// Serves the requests of `from` (over a connection from `ip`, for the
/// per-IP quota) on one inbound stream until it closes its
/// side (or after a few requests), answering from `server` (see
/// [`Server::handle_for`] for `legacy_only`). Each read and write is bounded
/// by `limit`.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    from: PeerId,
    ip: Option<IpGroup>,
    server: &Mutex<Server>,
    legacy_only: bool,
    limit: Duration,
) -> Result<(), RendezvousError> {
    for _ in 0..MAX_REQUESTS_PER_STREAM {
        let bytes = match timed(limit, async { Ok(frame::read_frame(stream, MAX_REQUEST_LEN).await) }).await? {
            Ok(bytes) => bytes,
            // The client closed its side: done.
            Err(FrameError::UnexpectedEof) => break,
            Err(e) => return Err(e.into()),
        };
        let request = Message::decode(&bytes)?;
        let answer = {
            let mut server = server.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            server.handle_from(from, ip, request, Instant::now(), legacy_only)
        };
        if let Some(answer) = answer {
            timed(limit, async { Ok(frame::write_frame(stream, &answer.encode()).await?) }).await?;
        }
    }
    timed(limit, async { Ok(stream.shutdown().await?) }).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;
    use crate::identity::record::PeerRecord;
    use crate::protocols::rendezvous::server::ServerConfig;
    use crate::protocols::rendezvous::{DecodeError, client};

    #[tokio::test]
    async fn register_and_discover_over_a_pipe() {
        let server = std::sync::Arc::new(Mutex::new(Server::new(ServerConfig::default())));
        let key = Keypair::generate_ed25519();
        let me = key.public().to_peer_id();
        let envelope = PeerRecord::new(&key, vec![]).to_signed_envelope(&key).expect("seals");
        let limit = Duration::from_secs(5);
        let requests = [
            client::register("app", &envelope, None).expect("ok"),
            client::discover(Some("app"), None, None).expect("ok"),
            client::unregister("app").expect("ok"),
        ];
        let mut answers = Vec::new();
        for request in &requests {
            let (mut a, mut b) = tokio::io::duplex(4096);
            let point = std::sync::Arc::clone(&server);
            let served = tokio::spawn(async move { serve(&mut b, me, None, &point, false, limit).await });
            answers.push(exchange(&mut a, request, limit).await.expect("exchange"));
            served.await.expect("joins").expect("served");
        }
        assert_eq!(
            client::register_response(answers[0].clone().expect("answer")).ok(),
            Some(Duration::from_secs(7200))
        );
        let found = client::discover_response(answers[1].clone().expect("answer"), Some("app")).expect("found");
        assert_eq!(found.registrations.len(), 1);
        assert_eq!(found.registrations[0].peer, me);
        assert_eq!(answers[2], None);
        assert!(server.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn oversized_garbage_and_silent_clients_are_typed_errors() {
        let server = Mutex::new(Server::new(ServerConfig::default()));
        let me = Keypair::generate_ed25519().public().to_peer_id();
        let limit = Duration::from_millis(200);
        let mut raw = Vec::new();
        crate::wire::varint::encode((MAX_REQUEST_LEN + 1) as u64, &mut raw);
        let (mut a, mut b) = tokio::io::duplex(4096);
        a.write_all(&raw).await.expect("write");
        assert!(matches!(
            serve(&mut b, me, None, &server, false, limit).await,
            Err(RendezvousError::Decode(DecodeError::TooLarge))
        ));
        let (mut a, mut b) = tokio::io::duplex(4096);
        frame::write_frame(&mut a, &[0xff, 0xff, 0xff]).await.expect("write");
        assert!(matches!(serve(&mut b, me, None, &server, false, limit).await, Err(RendezvousError::Decode(_))));
        let (_a, mut b) = tokio::io::duplex(4096);
        assert!(matches!(serve(&mut b, me, None, &server, false, limit).await, Err(RendezvousError::Timeout)));
        // A point that never answers.
        let (mut a, _b) = tokio::io::duplex(4096);
        let request = client::discover(None, None, None).expect("ok");
        assert!(matches!(exchange(&mut a, &request, limit).await, Err(RendezvousError::Timeout)));
        // A point that closes without answering.
        let (mut a, b) = tokio::io::duplex(4096);
        drop(b);
        assert!(exchange(&mut a, &request, limit).await.is_err());
    }
}
