//! perf (`/perf/1.0.0`): a client-driven throughput measurement. The client
//! sends the number of bytes it wants back (big-endian u64), uploads its
//! bytes and closes its write side; the server reads to the end, then sends
//! the requested bytes and closes.
//!
//! A transfer may take long, so there is no overall deadline; instead every
//! read and write must make progress within `idle`.
//!
//! The spec says a node SHOULD NOT serve perf by default (a client makes the
//! server do as much work as it asks for): a node serves it only when built
//! with [`crate::NodeBuilder::perf`], and then only up to [`Config`]'s bounds.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::swarm::{BoxFuture, ConnHandler, RawStream, Swarm};

/// The protocol ID.
pub const PROTOCOL: &str = "/perf/1.0.0";
/// Bytes per read or write.
const CHUNK: usize = 64 * 1024;
/// What is sent: the spec allows any fixed bytes.
static ZEROS: [u8; CHUNK] = [0u8; CHUNK];

/// The server's bounds on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Most bytes one request may ask us to send back; a larger request is
    /// refused (the stream is reset), not truncated.
    pub max_download_bytes: u64,
    /// Most bytes we drain from one request's upload; past it the stream is reset.
    pub max_upload_bytes: u64,
}

impl Default for Config {
    /// 16 GiB each way: minutes of a loopback benchmark, not an unbounded job.
    fn default() -> Self {
        Config { max_download_bytes: 16 << 30, max_upload_bytes: 16 << 30 }
    }
}

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
    /// (Server) the client asked for more bytes than we send for one request.
    #[error("{requested} bytes requested, at most {max} served")]
    RequestTooLarge {
        /// What the client asked for.
        requested: u64,
        /// Our bound.
        max: u64,
    },
    /// (Server) the client uploaded more bytes than we drain for one request.
    #[error("upload larger than {max} bytes")]
    UploadTooLarge {
        /// Our bound.
        max: u64,
    },
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

/// Reads to the end of the stream; fails once more than `max` bytes arrived.
async fn drain<S: AsyncRead + Unpin>(stream: &mut S, max: u64, idle: Duration) -> Result<u64, PerfError> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = step(idle, stream.read(&mut buf)).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        if total > max {
            return Err(PerfError::UploadTooLarge { max });
        }
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
    let received = drain(stream, u64::MAX, idle).await?;
    if received != download_bytes {
        return Err(PerfError::WrongLength { expected: download_bytes, received });
    }
    Ok(PerfResult { upload_bytes, download_bytes, upload_time: uploaded - started, download_time: uploaded.elapsed() })
}

/// What one served exchange moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// The client's upload we drained.
    pub received: u64,
    /// The bytes we sent back (what the client asked for).
    pub sent: u64,
}

/// Serves one perf exchange within `config`'s bounds. A request over a bound
/// is an error before any byte of it is sent back.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    config: &Config,
    idle: Duration,
) -> Result<Served, PerfError> {
    let mut requested = [0u8; 8];
    step(idle, stream.read_exact(&mut requested)).await?;
    let requested = u64::from_be_bytes(requested);
    if requested > config.max_download_bytes {
        return Err(PerfError::RequestTooLarge { requested, max: config.max_download_bytes });
    }
    let received = drain(stream, config.max_upload_bytes, idle).await?;
    send(stream, requested, idle).await?;
    step(idle, stream.shutdown()).await?;
    Ok(Served { received, sent: requested })
}

/// What this node's perf server has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Exchanges served to the end.
    pub served: u64,
    /// Exchanges that failed: refused over a bound, stalled or broken.
    pub failed: u64,
    /// Upload bytes drained by the served exchanges.
    pub bytes_received: u64,
    /// Bytes sent back by the served exchanges.
    pub bytes_sent: u64,
}

/// A running perf server: its bounds and its counters.
#[derive(Debug)]
pub(crate) struct Server {
    config: Config,
    served: AtomicU64,
    failed: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
}

impl Server {
    /// The counters so far.
    pub(crate) fn stats(&self) -> ServerStats {
        ServerStats {
            served: self.served.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
        }
    }

    async fn handle(&self, peer: crate::PeerId, mut stream: RawStream, idle: Duration) {
        match serve(&mut stream, &self.config, idle).await {
            Ok(served) => {
                self.served.fetch_add(1, Ordering::Relaxed);
                self.bytes_received.fetch_add(served.received, Ordering::Relaxed);
                self.bytes_sent.fetch_add(served.sent, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, error = %e, "perf stream failed");
                // The client learns at once that its request was refused.
                stream.get_mut().reset();
            }
        }
    }
}

/// Makes `swarm` answer `/perf/1.0.0` (and list it in identify) within `config`.
pub(crate) fn start_server(swarm: &Arc<Swarm>, config: Config) -> Arc<Server> {
    let server = Arc::new(Server {
        config,
        served: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        bytes_received: AtomicU64::new(0),
        bytes_sent: AtomicU64::new(0),
    });
    let idle = swarm.config().exchange_timeout;
    let me = Arc::clone(&server);
    // The handler holds the server, not the swarm: no cycle.
    let handler: ConnHandler = Arc::new(move |peer, _observed, stream| -> BoxFuture {
        let me = Arc::clone(&me);
        Box::pin(async move { me.handle(peer, stream, idle).await })
    });
    swarm.set_connection_handler(PROTOCOL, handler);
    server
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn upload_and_download_counts() {
        for (up, down) in [(0u64, 0u64), (1, 0), (0, 1), (300_000, 1_000_000)] {
            let (mut a, mut b) = tokio::io::duplex(64 * 1024);
            let server = tokio::spawn(async move { serve(&mut b, &Config::default(), IDLE).await });
            let result = run(&mut a, up, down, IDLE).await.expect("perf run");
            assert_eq!((result.upload_bytes, result.download_bytes), (up, down));
            let served = server.await.expect("task").expect("served");
            assert_eq!(served, Served { received: up, sent: down }, "what the server drained and sent");
        }
    }

    #[tokio::test]
    async fn short_answer_and_stall_are_errors() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let _ = b.read_exact(&mut buf).await;
            let _ = drain(&mut b, u64::MAX, IDLE).await;
            let _ = b.write_all(&[0u8; 10]).await;
            let _ = b.shutdown().await;
        });
        let result = run(&mut a, 5, 100, IDLE).await;
        assert!(matches!(result, Err(PerfError::WrongLength { expected: 100, received: 10 })), "{result:?}");

        let (mut a, _b) = tokio::io::duplex(1024);
        let result = run(&mut a, 0, 10, Duration::from_millis(50)).await;
        assert!(matches!(result, Err(PerfError::Stalled(_))), "{result:?}");

        let (mut a, b) = tokio::io::duplex(1024);
        drop(b);
        assert!(serve(&mut a, &Config::default(), IDLE).await.is_err(), "a truncated request is an error");
    }

    #[tokio::test]
    async fn requests_over_the_bounds_are_refused() {
        let config = Config { max_download_bytes: 1000, max_upload_bytes: 2000 };
        // Exactly at the bounds is served.
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move { serve(&mut b, &config, IDLE).await });
        run(&mut a, 2000, 1000, IDLE).await.expect("at the bounds");
        assert_eq!(server.await.expect("task").expect("served"), Served { received: 2000, sent: 1000 });

        // One byte more to send back: refused before the upload is read.
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        a.write_all(&1001u64.to_be_bytes()).await.expect("request");
        let refused = serve(&mut b, &config, IDLE).await;
        assert!(matches!(refused, Err(PerfError::RequestTooLarge { requested: 1001, max: 1000 })), "{refused:?}");

        // A remote asking for 2^64-1 bytes is refused the same way.
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        a.write_all(&u64::MAX.to_be_bytes()).await.expect("request");
        let refused = serve(&mut b, &config, IDLE).await;
        assert!(matches!(refused, Err(PerfError::RequestTooLarge { requested: u64::MAX, .. })), "{refused:?}");

        // An upload over its bound ends the exchange without waiting for EOF.
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        let client = tokio::spawn(async move {
            let _ = a.write_all(&0u64.to_be_bytes()).await;
            let _ = send(&mut a, 2001, IDLE).await;
            a // kept open: no EOF
        });
        let refused = serve(&mut b, &config, IDLE).await;
        assert!(matches!(refused, Err(PerfError::UploadTooLarge { max: 2000 })), "{refused:?}");
        drop(client.await.expect("task"));
    }

    #[tokio::test]
    async fn a_silent_upload_ends_at_the_idle_timeout() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&10u64.to_be_bytes()).await.expect("request");
        let started = Instant::now();
        let result = serve(&mut b, &Config::default(), Duration::from_millis(100)).await;
        assert!(matches!(result, Err(PerfError::Stalled(_))), "{result:?}");
        assert!(started.elapsed() < IDLE, "ended by the idle timeout");
        drop(a);
    }
}
