//! [`Stream`]: a muxed stream for one protocol, read and written from the
//! foreign language.
//!
//! One read and one write may run at the same time (full duplex, as an echo
//! needs); further reads (or writes) wait for the one in progress. The core
//! stream sits behind a plain mutex that is held only inside one poll, never
//! across an await, like `tokio::io::split` does.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{Lp2pError, from_io};
use crate::runtime;

/// The most bytes one `read` returns.
const MAX_READ: u32 = 1 << 20;

/// The buffer of each read inside `read_to_end`: most reads return a few
/// muxer frames, so a smaller buffer wastes less.
const READ_TO_END_CHUNK: u32 = 64 * 1024;

struct Shared {
    stream: Mutex<lp2p::Stream>,
    reading: tokio::sync::Mutex<()>,
    writing: tokio::sync::Mutex<()>,
}

impl Shared {
    fn stream(&self) -> MutexGuard<'_, lp2p::Stream> {
        // A panic while holding it cannot leave the stream half-updated
        // (each poll is one call into the core), so a poisoned lock is usable.
        self.stream.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A bidirectional stream to a peer for one protocol.
#[derive(uniffi::Object)]
pub struct Stream {
    shared: Arc<Shared>,
    peer: String,
    protocol: String,
    io_timeout: Duration,
}

impl Stream {
    pub(crate) fn new(stream: lp2p::Stream, io_timeout: Duration) -> Stream {
        let peer = stream.peer().to_string();
        let protocol = stream.protocol().to_string();
        let shared = Shared {
            stream: Mutex::new(stream),
            reading: tokio::sync::Mutex::new(()),
            writing: tokio::sync::Mutex::new(()),
        };
        Stream { shared: Arc::new(shared), peer, protocol, io_timeout }
    }
}

fn timed_out(what: &str, limit: Duration) -> Lp2pError {
    Lp2pError::Timeout(format!("stream {what} took longer than {limit:?}"))
}

#[uniffi::export]
impl Stream {
    /// The remote peer's ID.
    pub fn peer_id(&self) -> String {
        self.peer.clone()
    }

    /// The negotiated protocol.
    pub fn protocol(&self) -> String {
        self.protocol.clone()
    }

    /// Reads up to `max_bytes` (at most 1 MiB) bytes; an empty result means
    /// the remote closed its write side. Fails with `Timeout` when nothing
    /// arrives within the node's `stream_io_timeout`.
    pub async fn read(&self, max_bytes: u32) -> Result<Vec<u8>, Lp2pError> {
        if max_bytes == 0 {
            return Err(Lp2pError::InvalidArgument("max_bytes must be at least 1".to_string()));
        }
        let shared = Arc::clone(&self.shared);
        let limit = self.io_timeout;
        let len = max_bytes.min(MAX_READ) as usize;
        runtime::run(async move {
            let _reading = shared.reading.lock().await;
            let mut buf = vec![0u8; len];
            let read = poll_fn(|cx| {
                let mut guard = shared.stream();
                let mut rb = ReadBuf::new(&mut buf);
                Pin::new(&mut *guard).poll_read(cx, &mut rb).map_ok(|()| rb.filled().len())
            });
            let n = match tokio::time::timeout(limit, read).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(from_io(&e)),
                Err(_) => return Err(timed_out("read", limit)),
            };
            buf.truncate(n);
            Ok(buf)
        })
        .await
    }

    /// Reads until the remote closes its write side, at most `max_bytes`
    /// bytes (more fails with `InvalidArgument`, the stream is then reset).
    pub async fn read_to_end(&self, max_bytes: u64) -> Result<Vec<u8>, Lp2pError> {
        let mut out = Vec::new();
        loop {
            let chunk = self.read(READ_TO_END_CHUNK).await?;
            if chunk.is_empty() {
                return Ok(out);
            }
            if out.len() as u64 + chunk.len() as u64 > max_bytes {
                self.shared.stream().reset();
                return Err(Lp2pError::InvalidArgument(format!("the stream sent more than {max_bytes} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
    }

    /// Writes all of `data` (waiting while the peer's window is full).
    pub async fn write(&self, data: Vec<u8>) -> Result<(), Lp2pError> {
        let shared = Arc::clone(&self.shared);
        let limit = self.io_timeout;
        runtime::run(async move {
            let _writing = shared.writing.lock().await;
            let write_all = async {
                let mut sent = 0;
                while sent < data.len() {
                    let n = poll_fn(|cx| Pin::new(&mut *shared.stream()).poll_write(cx, &data[sent..])).await?;
                    if n == 0 {
                        return Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
                    }
                    sent += n;
                }
                poll_fn(|cx| Pin::new(&mut *shared.stream()).poll_flush(cx)).await
            };
            match tokio::time::timeout(limit, write_all).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(from_io(&e)),
                Err(_) => Err(timed_out("write", limit)),
            }
        })
        .await
    }

    /// Closes our write side: the remote reads end-of-stream; we can still
    /// read. (Kotlin: `closeWrite()`, as `close()` frees the object there.)
    pub async fn close(&self) -> Result<(), Lp2pError> {
        let shared = Arc::clone(&self.shared);
        let limit = self.io_timeout;
        runtime::run(async move {
            let _writing = shared.writing.lock().await;
            let shutdown = poll_fn(|cx| Pin::new(&mut *shared.stream()).poll_shutdown(cx));
            match tokio::time::timeout(limit, shutdown).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(from_io(&e)),
                Err(_) => Err(timed_out("close", limit)),
            }
        })
        .await
    }

    /// Aborts the stream in both directions; pending reads and writes fail.
    pub fn reset(&self) {
        self.shared.stream().reset();
    }
}
