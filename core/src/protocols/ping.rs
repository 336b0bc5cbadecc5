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

/// Echoes 32-byte pings on `stream` until the remote closes it.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Result<(), PingError> {
    let mut payload = [0u8; PAYLOAD_LEN];
    loop {
        // End of stream between pings is the normal end.
        let first = stream.read(&mut payload[..1]).await?;
        if first == 0 {
            let _ = stream.shutdown().await;
            return Ok(());
        }
        stream.read_exact(&mut payload[1..]).await?;
        stream.write_all(&payload).await?;
        stream.flush().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ping_round_trips_several_times_on_one_stream() {
        let (mut a, b) = tokio::io::duplex(1024);
        let server = tokio::spawn(serve(b));
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
        let server = tokio::spawn(serve(b));
        a.write_all(&[1; 10]).await.expect("write");
        drop(a);
        assert!(matches!(server.await.expect("task"), Err(PingError::UnexpectedEof)));
    }
}
