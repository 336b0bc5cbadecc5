//! [`RawStream`]: a negotiated yamux stream together with its resource
//! manager reservation, so that the reservation ends exactly when the
//! stream is dropped, wherever the stream went (a handler, a protocol task,
//! the user of `new_stream`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::muxer::yamux::YamuxStream;
use crate::negotiate::Negotiated;
use crate::rcmgr::StreamGuard;

/// A stream the swarm hands to a handler or to `new_stream`'s caller: a yamux
/// stream on which a protocol has been negotiated, holding its place in the
/// resource manager until dropped.
pub struct RawStream {
    inner: Negotiated<YamuxStream>,
    // Dropped after `inner` (fields drop in declaration order), so the
    // counts fall only once the stream is gone.
    _guard: StreamGuard,
}

impl RawStream {
    pub(crate) fn new(inner: Negotiated<YamuxStream>, guard: StreamGuard) -> RawStream {
        RawStream { inner, _guard: guard }
    }

    /// The yamux stream.
    pub fn get_ref(&self) -> &YamuxStream {
        self.inner.get_ref()
    }

    /// The yamux stream (for `reset`).
    pub fn get_mut(&mut self) -> &mut YamuxStream {
        self.inner.get_mut()
    }
}

impl std::fmt::Debug for RawStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawStream").field("guard", &self._guard).finish()
    }
}

impl AsyncRead for RawStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for RawStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
