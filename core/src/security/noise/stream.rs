//! [`NoiseStream`]: the encrypted byte stream after the handshake.
//!
//! On the wire each Noise message is a 2-byte big-endian length and at most
//! 65535 bytes of ciphertext (the plaintext plus a 16-byte tag). Writes are
//! gathered into one message until it is full or the stream is flushed, so
//! that small writes do not each cost a frame and a tag.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::handshake::MAX_MESSAGE_LEN;

/// Poly1305 tag size.
const TAG_LEN: usize = 16;
/// The most plaintext one message carries.
const MAX_PLAINTEXT: usize = MAX_MESSAGE_LEN - TAG_LEN;
/// Room for one whole frame (length prefix and message).
const MAX_FRAME: usize = 2 + MAX_MESSAGE_LEN;

/// An encrypted stream over `T`.
pub struct NoiseStream<T> {
    io: T,
    cipher: snow::TransportState,
    /// Ciphertext read from `io`: `recv[recv_start..recv_end]` is unprocessed.
    recv: Box<[u8]>,
    recv_start: usize,
    recv_end: usize,
    /// Decrypted bytes not yet read by the user: `plain[plain_pos..plain_len]`.
    plain: Box<[u8]>,
    plain_pos: usize,
    plain_len: usize,
    /// Plaintext written by the user, not yet encrypted.
    out_plain: Vec<u8>,
    /// An encrypted frame being written to `io`: `out_frame[out_pos..]` is unsent.
    out_frame: Vec<u8>,
    out_pos: usize,
    read_eof: bool,
}

impl<T> NoiseStream<T> {
    pub(super) fn new(io: T, cipher: snow::TransportState) -> NoiseStream<T> {
        NoiseStream {
            io,
            cipher,
            recv: vec![0u8; 2 * MAX_FRAME].into_boxed_slice(),
            recv_start: 0,
            recv_end: 0,
            plain: vec![0u8; MAX_MESSAGE_LEN].into_boxed_slice(),
            plain_pos: 0,
            plain_len: 0,
            out_plain: Vec::with_capacity(MAX_PLAINTEXT),
            out_frame: Vec::with_capacity(MAX_FRAME),
            out_pos: 0,
            read_eof: false,
        }
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

fn decrypt_error(e: snow::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, super::NoiseError::Noise(e))
}

impl<T: AsyncRead + AsyncWrite + Unpin> NoiseStream<T> {
    /// A complete frame at the front of `recv`, as `(start, len)` of its message.
    fn buffered_frame(&self) -> Option<(usize, usize)> {
        let available = &self.recv[self.recv_start..self.recv_end];
        let header: [u8; 2] = available.get(..2)?.try_into().ok()?;
        let len = usize::from(u16::from_be_bytes(header));
        (available.len() >= 2 + len).then_some((self.recv_start + 2, len))
    }

    /// Fills `plain` with the next decrypted message. Ready(Ok(false)) on EOF.
    fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        loop {
            if let Some((start, len)) = self.buffered_frame() {
                let n =
                    self.cipher.read_message(&self.recv[start..start + len], &mut self.plain).map_err(decrypt_error)?;
                self.recv_start = start + len;
                self.plain_pos = 0;
                self.plain_len = n;
                if n == 0 {
                    continue; // an empty message carries nothing
                }
                return Poll::Ready(Ok(true));
            }
            if self.read_eof {
                if self.recv_start != self.recv_end {
                    return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                }
                return Poll::Ready(Ok(false));
            }
            // Make room for a whole frame after the unprocessed bytes.
            if self.recv.len() - self.recv_end < MAX_FRAME {
                self.recv.copy_within(self.recv_start..self.recv_end, 0);
                self.recv_end -= self.recv_start;
                self.recv_start = 0;
            }
            let mut buf = ReadBuf::new(&mut self.recv[self.recv_end..]);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
            let n = buf.filled().len();
            if n == 0 {
                self.read_eof = true;
            }
            self.recv_end += n;
        }
    }

    /// Writes out the pending encrypted frame.
    fn poll_send_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out_frame.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out_frame[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out_frame.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Encrypts the gathered plaintext into the (empty) frame buffer.
    fn seal(&mut self) -> io::Result<()> {
        self.out_frame.resize(MAX_FRAME, 0);
        let n = self
            .cipher
            .write_message(&self.out_plain, &mut self.out_frame[2..])
            .map_err(|e| io::Error::other(super::NoiseError::Noise(e)))?;
        // n <= 65535: the plaintext is capped at MAX_PLAINTEXT.
        self.out_frame[..2].copy_from_slice(&(n as u16).to_be_bytes());
        self.out_frame.truncate(2 + n);
        self.out_pos = 0;
        self.out_plain.clear();
        Ok(())
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for NoiseStream<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.plain_pos == this.plain_len && !ready!(this.poll_next_message(cx))? {
            return Poll::Ready(Ok(()));
        }
        let n = buf.remaining().min(this.plain_len - this.plain_pos);
        buf.put_slice(&this.plain[this.plain_pos..this.plain_pos + n]);
        this.plain_pos += n;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for NoiseStream<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out_plain.len() == MAX_PLAINTEXT {
            ready!(this.poll_send_frame(cx))?;
            this.seal()?;
            // Start sending now; what cannot go yet is finished by the next call.
            if let Poll::Ready(Err(e)) = this.poll_send_frame(cx) {
                return Poll::Ready(Err(e));
            }
        }
        let n = data.len().min(MAX_PLAINTEXT - this.out_plain.len());
        this.out_plain.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_frame(cx))?;
        if !this.out_plain.is_empty() {
            this.seal()?;
            ready!(this.poll_send_frame(cx))?;
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
