//! perf (`/perf/1.0.0`): a client-driven throughput measurement. The client
//! sends the number of bytes it wants back (big-endian u64), uploads its
//! bytes and closes its write side; the server reads to the end, then sends
//! the requested bytes and closes.
//!
//! A transfer may take long, so there is no overall deadline; instead every
//! read and write must make progress within `idle`.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol ID.
pub const PROTOCOL: &str = "/perf/1.0.0";
/// Bytes per read or write.
const CHUNK: usize = 64 * 1024;
/// What is sent: the spec allows any fixed bytes.
static ZEROS: [u8; CHUNK] = [0u8; CHUNK];

/// Why a perf run failed.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    /// The server sent a different number of bytes than requested.
    #[error("expected {expected} bytes back, got {received}")]
    WrongLength {
        /// What we asked for.
        expected: u64,
        /// What arrived.
        received: u64,
    },
    /// No progress within the idle timeout.
    #[error("no progress for {0:?}")]
    Stalled(Duration),
    /// The stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// What a perf run measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfResult {
    /// Bytes sent.
    pub upload_bytes: u64,
    /// Bytes received.
    pub download_bytes: u64,
    /// From the first byte sent to our write side closed.
    pub upload_time: Duration,
    /// From our write side closed to the last byte received.
    pub download_time: Duration,
}

impl PerfResult {
    /// The whole run.
    pub fn total_time(&self) -> Duration {
        self.upload_time + self.download_time
    }
}

async fn step<T>(idle: Duration, fut: impl Future<Output = std::io::Result<T>>) -> Result<T, PerfError> {
    match tokio::time::timeout(idle, fut).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(PerfError::Stalled(idle)),
    }
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, mut bytes: u64, idle: Duration) -> Result<(), PerfError> {
    while bytes > 0 {
        let n = bytes.min(CHUNK as u64) as usize;
        step(idle, stream.write_all(&ZEROS[..n])).await?;
        bytes -= n as u64;
    }
    Ok(())
}

async fn drain<S: AsyncRead + Unpin>(stream: &mut S, idle: Duration) -> Result<u64, PerfError> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = step(idle, stream.read(&mut buf)).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

/// Runs one perf exchange as the client.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    upload_bytes: u64,
    download_bytes: u64,
    idle: Duration,
) -> Result<PerfResult, PerfError> {
    let started = Instant::now();
    step(idle, stream.write_all(&download_bytes.to_be_bytes())).await?;
    send(stream, upload_bytes, idle).await?;
    step(idle, stream.shutdown()).await?;
    let uploaded = Instant::now();
    let received = drain(stream, idle).await?;
    if received != download_bytes {
        return Err(PerfError::WrongLength { expected: download_bytes, received });
    }
    Ok(PerfResult { upload_bytes, download_bytes, upload_time: uploaded - started, download_time: uploaded.elapsed() })
}

/// Serves one perf exchange.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, idle: Duration) -> Result<(), PerfError> {
    let mut requested = [0u8; 8];
    step(idle, stream.read_exact(&mut requested)).await?;
    drain(&mut stream, idle).await?;
    send(&mut stream, u64::from_be_bytes(requested), idle).await?;
    step(idle, stream.shutdown()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn upload_and_download_counts() {
        for (up, down) in [(0u64, 0u64), (1, 0), (0, 1), (300_000, 1_000_000)] {
            let (mut a, b) = tokio::io::duplex(64 * 1024);
            let server = tokio::spawn(serve(b, IDLE));
            let result = run(&mut a, up, down, IDLE).await.expect("perf run");
            assert_eq!((result.upload_bytes, result.download_bytes), (up, down));
            assert!(server.await.expect("task").is_ok());
        }
    }

    #[tokio::test]
    async fn short_answer_and_stall_are_errors() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let _ = b.read_exact(&mut buf).await;
            let _ = drain(&mut b, IDLE).await;
            let _ = b.write_all(&[0u8; 10]).await;
            let _ = b.shutdown().await;
        });
        let result = run(&mut a, 5, 100, IDLE).await;
        assert!(matches!(result, Err(PerfError::WrongLength { expected: 100, received: 10 })), "{result:?}");

        let (mut a, _b) = tokio::io::duplex(1024);
        let result = run(&mut a, 0, 10, Duration::from_millis(50)).await;
        assert!(matches!(result, Err(PerfError::Stalled(_))), "{result:?}");

        let (a, b) = tokio::io::duplex(1024);
        drop(b);
        assert!(serve(a, IDLE).await.is_err(), "a truncated request is an error");
    }
}
