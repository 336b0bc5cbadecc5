//! Stream multiplexing: many independent streams over one secured
//! connection. yamux today; mplex is a separate issue.

pub mod yamux;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

/// How a muxer's driver hands its outgoing bytes to the secured connection.
///
/// The driver owns its write buffer and never reads back what it wrote, so
/// the connection below may transform those bytes where they lie: the Noise
/// stream encrypts them in place instead of copying them into a frame buffer
/// first. Anything else writes them as they are (the default).
pub trait WriteInPlace: AsyncWrite + Unpin {
    /// Like `poll_write`; afterwards `buf[..n]`, for the `n` returned, holds
    /// unspecified bytes.
    fn poll_write_in_place(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(self).poll_write(cx, buf)
    }
}

impl<T: tokio::io::AsyncRead + AsyncWrite + Unpin> WriteInPlace for tokio::io::BufReader<T> {}

impl<T: tokio::io::AsyncRead + AsyncWrite + Unpin> WriteInPlace for crate::negotiate::Negotiated<T> {}
