//! [`Stream`]: a muxed stream on which a protocol was negotiated.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::identity::PeerId;
use crate::swarm::RawStream;

/// A bidirectional stream to a peer for one protocol. Read and write it with
/// tokio's `AsyncReadExt`/`AsyncWriteExt`; `shutdown()` closes the write side
/// (the remote reads end-of-stream) while reading goes on; [`Stream::reset`]
/// aborts both directions. Dropping it without `shutdown` resets it.
pub struct Stream {
    inner: RawStream,
    peer: PeerId,
    protocol: String,
}

impl Stream {
    pub(crate) fn new(inner: RawStream, peer: PeerId, protocol: String) -> Stream {
        Stream { inner, peer, protocol }
    }

    /// The remote peer.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// The negotiated protocol.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// Aborts the stream in both directions (yamux RST).
    pub fn reset(&mut self) {
        self.inner.get_mut().reset();
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("peer", &self.peer).field("protocol", &self.protocol).finish()
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
