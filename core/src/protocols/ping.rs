//! ping (`/ipfs/ping/1.0.0`): the dialer sends 32 random bytes, the listener
//! echoes them, and the round trip is the measurement. A stream may carry
//! many pings. Timeouts are the caller's (the swarm bounds every exchange).

use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol ID.
pub const PROTOCOL: &str = "/ipfs/ping/1.0.0";
/// Bytes per ping.
pub const PAYLOAD_LEN: usize = 32;

/// Why a ping failed.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    /// The echo differs from what we sent.
    #[error("ping echo does not match")]
    Mismatch,
    /// The stream ended before the echo was complete.
    #[error("stream ended during ping")]
    UnexpectedEof,
    /// The random source failed.
    #[error("random number generator failed")]
    Rng,
    /// No complete ping (and echo) within the idle timeout.
    #[error("no ping within the idle timeout")]
    Idle,
    /// The stream failed.
    #[error("i/o error: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for PingError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof => PingError::UnexpectedEof,
            _ => PingError::Io(e),
        }
    }
}

/// Sends one ping on `stream` and returns the round-trip time.
pub async fn ping<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Result<Duration, PingError> {
    let mut payload = [0u8; PAYLOAD_LEN];
    SystemRandom::new().fill(&mut payload).map_err(|_| PingError::Rng)?;
    let started = Instant::now();
    stream.write_all(&payload).await?;
    stream.flush().await?;
    let mut echo = [0u8; PAYLOAD_LEN];
    stream.read_exact(&mut echo).await?;
    let rtt = started.elapsed();
    if echo != payload {
        return Err(PingError::Mismatch);
    }
    Ok(rtt)
}

/// Echoes 32-byte pings on `stream` until the remote closes it. Each ping,
/// from the wait for its first byte to its echo, must complete within
/// `idle`: a stream that falls silent (or trickles) ends with
/// [`PingError::Idle`], so a peer cannot hold a ping stream without pinging.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, idle: Duration) -> Result<(), PingError> {
    loop {
        match tokio::time::timeout(idle, echo_one(&mut stream)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                let _ = stream.shutdown().await;
                return Ok(());
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(PingError::Idle),
        }
    }
}

/// Echoes one ping; `false` when the stream ended cleanly before it.
async fn echo_one<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Result<bool, PingError> {
    let mut payload = [0u8; PAYLOAD_LEN];
    // End of stream between pings is the normal end.
    let first = stream.read(&mut payload[..1]).await?;
    if first == 0 {
        return Ok(false);
    }
    stream.read_exact(&mut payload[1..]).await?;
    stream.write_all(&payload).await?;
    stream.flush().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ping_round_trips_several_times_on_one_stream() {
        let (mut a, b) = tokio::io::duplex(1024);
        let server = tokio::spawn(serve(b, Duration::from_secs(60)));
        for _ in 0..3 {
            let rtt = ping(&mut a).await.expect("ping");
            assert!(rtt < Duration::from_secs(5));
        }
        drop(a);
        assert!(server.await.expect("task").is_ok());
    }

    #[tokio::test]
    async fn wrong_echo_is_a_mismatch() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; PAYLOAD_LEN];
            let _ = b.read_exact(&mut buf).await;
            buf[0] ^= 1;
            let _ = b.write_all(&buf).await;
        });
        assert!(matches!(ping(&mut a).await, Err(PingError::Mismatch)));
    }

    #[tokio::test]
    async fn eof_during_ping_is_an_error() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; PAYLOAD_LEN];
            let _ = b.read_exact(&mut buf).await;
            let _ = b.write_all(&buf[..10]).await;
        });
        assert!(matches!(ping(&mut a).await, Err(PingError::UnexpectedEof)));
        let (mut a, b) = tokio::io::duplex(1024);
        let server = tokio::spawn(serve(b, Duration::from_secs(60)));
        a.write_all(&[1; 10]).await.expect("write");
        drop(a);
        assert!(matches!(server.await.expect("task"), Err(PingError::UnexpectedEof)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_idle_or_trickling_past_the_timeout_ends() {
        let idle = Duration::from_secs(60);
        let (mut a, b) = tokio::io::duplex(1024);
        let server = tokio::spawn(serve(b, idle));
        ping(&mut a).await.expect("a first ping");
        let started = tokio::time::Instant::now();
        assert!(matches!(server.await.expect("task"), Err(PingError::Idle)));
        assert!(started.elapsed() >= idle);
        // Half a ping, then silence: the same.
        let (mut a, b) = tokio::io::duplex(1024);
        let server = tokio::spawn(serve(b, idle));
        a.write_all(&[1; 10]).await.expect("write");
        assert!(matches!(server.await.expect("task"), Err(PingError::Idle)));
        drop(a);
    }
}
