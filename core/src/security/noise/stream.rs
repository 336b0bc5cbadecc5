//! [`NoiseStream`]: the encrypted byte stream after the handshake.
//!
//! On the wire each Noise transport message is a 2-byte big-endian length and
//! at most 65535 bytes of ciphertext (the plaintext plus a 16-byte tag).
//!
//! Messages are sealed and opened in place with ring's ChaCha20-Poly1305 on
//! the keys of the handshake's split: an outgoing frame is gathered, sealed
//! and sent from one buffer, an incoming one received, opened and read from
//! another, with no copy between. Writes are gathered into one message until
//! it is full or the stream is flushed, so that small writes do not each cost
//! a frame and a tag. The yamux driver's bulk output skips even that buffer:
//! whole frames are sealed where they lie and several leave in one vectored
//! write (see the `WriteInPlace` impl). Both buffers start small and grow to a whole frame only
//! when the traffic needs it, so that an idle connection holds a few KiB.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

use super::NoiseError;
use super::handshake::MAX_MESSAGE_LEN;

/// Poly1305 tag size.
const TAG_LEN: usize = 16;
/// The most plaintext one message carries.
const MAX_PLAINTEXT: usize = MAX_MESSAGE_LEN - TAG_LEN;
/// The length prefix of a frame.
const HEADER_LEN: usize = 2;
/// Room for one whole frame (length prefix and message).
const MAX_FRAME: usize = HEADER_LEN + MAX_MESSAGE_LEN;
/// The receive buffer a connection starts with: enough for the small
/// messages of an idle connection (identify, ping).
const INITIAL_RECV: usize = 2 * 1024;
/// The largest receive buffer: two whole frames, so that one socket read can
/// bring a frame and the start of the next.
const MAX_RECV: usize = 2 * MAX_FRAME;

/// Whole frames sealed in place and sent by one vectored write (see
/// [`NoiseStream::poll_write_in_place`](crate::muxer::WriteInPlace)).
const FRAMES_PER_WRITE: usize = 4;

/// One direction's cipher: ChaCha20-Poly1305 with the Noise nonce, a 64-bit
/// counter sent as 4 zero bytes and the counter in little-endian.
pub struct CipherState {
    key: LessSafeKey,
    nonce: u64,
}

impl CipherState {
    /// A cipher with `key` and the nonce at 0.
    pub fn new(key: [u8; 32]) -> CipherState {
        // A 32-byte key is what ChaCha20-Poly1305 takes, so this cannot fail.
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap_or_else(|_| unreachable!("32-byte key"));
        CipherState { key: LessSafeKey::new(unbound), nonce: 0 }
    }

    /// The nonce for the next message. The Noise spec reserves 2^64 - 1.
    fn next_nonce(&mut self) -> Result<Nonce, NoiseError> {
        if self.nonce == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let mut bytes = [0u8; 12];
        bytes[4..].copy_from_slice(&self.nonce.to_le_bytes());
        self.nonce += 1;
        Ok(Nonce::assume_unique_for_key(bytes))
    }

    /// Encrypts `in_out` in place and returns the tag to append.
    fn seal(&mut self, in_out: &mut [u8]) -> Result<[u8; TAG_LEN], NoiseError> {
        let nonce = self.next_nonce()?;
        let tag = self.key.seal_in_place_separate_tag(nonce, Aad::empty(), in_out).map_err(|_| NoiseError::Decrypt)?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts a message (ciphertext and tag) in place; returns the plaintext length.
    fn open(&mut self, in_out: &mut [u8]) -> Result<usize, NoiseError> {
        let nonce = self.next_nonce()?;
        Ok(self.key.open_in_place(nonce, Aad::empty(), in_out).map_err(|_| NoiseError::Decrypt)?.len())
    }
}

/// The two ciphers of a finished handshake.
pub struct TransportCiphers {
    /// Encrypts what we send.
    pub send: CipherState,
    /// Decrypts what we receive.
    pub recv: CipherState,
}

fn noise_error(kind: io::ErrorKind, e: NoiseError) -> io::Error {
    io::Error::new(kind, e)
}

/// An encrypted stream over `T`.
pub struct NoiseStream<T> {
    io: T,
    ciphers: TransportCiphers,
    /// Bytes read from `io`. `recv[plain_pos..plain_end]` is decrypted
    /// plaintext not yet read by the user; `recv[recv_start..recv_end]` is
    /// ciphertext not yet opened.
    recv: Vec<u8>,
    plain_pos: usize,
    plain_end: usize,
    recv_start: usize,
    recv_end: usize,
    /// Whether the last socket read filled the free room (then the buffer grows).
    recv_filled: bool,
    read_eof: bool,
    /// The outgoing frame: while gathering, the length prefix placeholder and
    /// plaintext; once sealed, the frame with `send[send_pos..]` unsent.
    send: Vec<u8>,
    sealed: bool,
    send_pos: usize,
}

impl<T> NoiseStream<T> {
    pub(super) fn new(io: T, ciphers: TransportCiphers) -> NoiseStream<T> {
        NoiseStream {
            io,
            ciphers,
            recv: Vec::new(),
            plain_pos: 0,
            plain_end: 0,
            recv_start: 0,
            recv_end: 0,
            recv_filled: false,
            read_eof: false,
            send: Vec::new(),
            sealed: false,
            send_pos: 0,
        }
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The length of the frame at `recv_start`, once its prefix has arrived.
    fn next_frame_len(&self) -> Option<usize> {
        let prefix = self.recv.get(self.recv_start..self.recv_start + HEADER_LEN)?;
        (self.recv_end >= self.recv_start + HEADER_LEN)
            .then(|| HEADER_LEN + usize::from(u16::from_be_bytes([prefix[0], prefix[1]])))
    }

    /// Opens the frame at `recv_start` if it has arrived whole. Ok(true)
    /// when plaintext is ready in `recv[plain_pos..plain_end]`.
    fn open_buffered_frame(&mut self) -> io::Result<bool> {
        let Some(frame_len) = self.next_frame_len() else { return Ok(false) };
        if self.recv_end - self.recv_start < frame_len {
            return Ok(false);
        }
        let message = self.recv_start + HEADER_LEN..self.recv_start + frame_len;
        let n = self
            .ciphers
            .recv
            .open(&mut self.recv[message.clone()])
            .map_err(|e| noise_error(io::ErrorKind::InvalidData, e))?;
        self.plain_pos = message.start;
        self.plain_end = message.start + n;
        self.recv_start = message.end;
        Ok(true)
    }

    /// Makes room after the unopened bytes for the rest of the frame in
    /// progress. Called only when no plaintext is pending, so the unopened
    /// bytes can move to the front. The buffer grows (doubling, up to two
    /// frames) when the previous read filled it: a busy connection reads whole
    /// frames, an idle one keeps a small buffer.
    fn make_room(&mut self) {
        if self.recv_start > 0 {
            self.recv.copy_within(self.recv_start..self.recv_end, 0);
            self.recv_end -= self.recv_start;
            self.recv_start = 0;
        }
        let frame = self.next_frame_len().unwrap_or(HEADER_LEN);
        let mut want = self.recv.len().max(INITIAL_RECV);
        if self.recv_filled {
            want = (want * 2).min(MAX_RECV);
        }
        let want = want.max(frame);
        if self.recv.len() < want {
            self.recv.resize(want, 0);
        }
    }
}

impl<T: AsyncRead + Unpin> NoiseStream<T> {
    /// Makes the next message's plaintext ready. Ready(Ok(false)) on EOF.
    fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        loop {
            if self.open_buffered_frame()? {
                if self.plain_pos == self.plain_end {
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
            self.make_room();
            let mut buf = ReadBuf::new(&mut self.recv[self.recv_end..]);
            let space = buf.remaining();
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
            let n = buf.filled().len();
            if n == 0 {
                self.read_eof = true;
            }
            self.recv_filled = n == space;
            self.recv_end += n;
        }
    }
}

impl<T: AsyncWrite + Unpin> NoiseStream<T> {
    /// Writes out the sealed frame; afterwards the buffer gathers again.
    fn poll_send_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.sealed {
            return Poll::Ready(Ok(()));
        }
        while self.send_pos < self.send.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.send[self.send_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.send_pos += n;
        }
        self.send.clear();
        if self.send.capacity() > MAX_FRAME {
            // Held frames the socket refused (see `stash_unsent`); a busy
            // connection gets a frame's room back on its next bulk write.
            self.send = Vec::new();
        }
        self.sealed = false;
        self.send_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Keeps the bytes of `frames` past the first `written` in the frame
    /// buffer, to be sent before anything else: they are sealed, so they
    /// must go out even though the socket is full now.
    fn stash_unsent(&mut self, frames: &[io::IoSlice<'_>], mut written: usize) {
        self.send.clear();
        for slice in frames {
            let skip = written.min(slice.len());
            written -= skip;
            self.send.extend_from_slice(&slice[skip..]);
        }
        self.sealed = !self.send.is_empty();
        self.send_pos = 0;
    }

    /// Plaintext bytes gathered in the frame being built.
    fn gathered(&self) -> usize {
        if self.sealed { 0 } else { self.send.len().saturating_sub(HEADER_LEN) }
    }

    /// Seals the gathered plaintext in place: length prefix, ciphertext, tag.
    fn seal(&mut self) -> io::Result<()> {
        let tag =
            self.ciphers.send.seal(&mut self.send[HEADER_LEN..]).map_err(|e| noise_error(io::ErrorKind::Other, e))?;
        self.send.extend_from_slice(&tag);
        // At most 65535: the plaintext is capped at MAX_PLAINTEXT.
        let message_len = (self.send.len() - HEADER_LEN) as u16;
        self.send[..HEADER_LEN].copy_from_slice(&message_len.to_be_bytes());
        self.sealed = true;
        self.send_pos = 0;
        Ok(())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for NoiseStream<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.plain_pos == this.plain_end && !ready!(this.poll_next_message(cx))? {
            return Poll::Ready(Ok(()));
        }
        let n = buf.remaining().min(this.plain_end - this.plain_pos);
        buf.put_slice(&this.recv[this.plain_pos..this.plain_pos + n]);
        this.plain_pos += n;
        Poll::Ready(Ok(()))
    }
}

/// The decrypted message itself is the buffer: a reader that takes bytes
/// from it (the yamux driver) saves the copy `poll_read` makes.
impl<T: AsyncRead + Unpin> AsyncBufRead for NoiseStream<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.plain_pos == this.plain_end && !ready!(this.poll_next_message(cx))? {
            return Poll::Ready(Ok(&[]));
        }
        Poll::Ready(Ok(&this.recv[this.plain_pos..this.plain_end]))
    }

    fn consume(self: Pin<&mut Self>, amount: usize) {
        let this = self.get_mut();
        this.plain_pos = (this.plain_pos + amount).min(this.plain_end);
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for NoiseStream<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.gathered() == MAX_PLAINTEXT {
            this.seal()?;
        }
        // A sealed frame goes out before the buffer gathers again; a full
        // socket is the back-pressure the writer feels.
        ready!(this.poll_send_frame(cx))?;
        if this.send.is_empty() {
            if data.len() >= MAX_PLAINTEXT {
                // A bulk writer: take the whole frame's room at once.
                this.send.reserve_exact(MAX_FRAME);
            }
            this.send.extend_from_slice(&[0u8; HEADER_LEN]);
        }
        let n = data.len().min(MAX_PLAINTEXT - this.gathered());
        this.send.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.gathered() > 0 {
            this.seal()?;
        }
        ready!(this.poll_send_frame(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The yamux driver's buffer is sealed where it lies: whole frames skip the
/// copy into the frame buffer and leave in one vectored write (prefix,
/// ciphertext and tag of each). Less than a whole frame is gathered as
/// `poll_write` does, so that small writes still share a frame.
impl<T: AsyncWrite + Unpin> crate::muxer::WriteInPlace for NoiseStream<T> {
    fn poll_write_in_place(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        // A full gathered frame goes out first, so that a bulk writer that
        // began with a small write reaches the in-place path on its next call.
        if self.gathered() == MAX_PLAINTEXT {
            self.seal()?;
        }
        ready!(self.poll_send_frame(cx))?;
        if self.gathered() > 0 || buf.len() < MAX_PLAINTEXT || !self.io.is_write_vectored() {
            return Pin::new(self).poll_write(cx, buf);
        }
        let frames = (buf.len() / MAX_PLAINTEXT).min(FRAMES_PER_WRITE);
        let plaintext = frames * MAX_PLAINTEXT;
        let mut tags = [[0u8; TAG_LEN]; FRAMES_PER_WRITE];
        for (chunk, tag) in buf[..plaintext].chunks_exact_mut(MAX_PLAINTEXT).zip(&mut tags) {
            *tag = self.ciphers.send.seal(chunk).map_err(|e| noise_error(io::ErrorKind::Other, e))?;
        }
        // Every frame is whole: its message is MAX_MESSAGE_LEN long.
        let prefix = (MAX_MESSAGE_LEN as u16).to_be_bytes();
        let mut slices = [io::IoSlice::new(&[]); 3 * FRAMES_PER_WRITE];
        for (i, (chunk, tag)) in buf[..plaintext].chunks_exact(MAX_PLAINTEXT).zip(&tags).enumerate() {
            slices[3 * i] = io::IoSlice::new(&prefix);
            slices[3 * i + 1] = io::IoSlice::new(chunk);
            slices[3 * i + 2] = io::IoSlice::new(tag);
        }
        let slices = &slices[..3 * frames];
        let written = match Pin::new(&mut self.io).poll_write_vectored(cx, slices) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            // The frames are sealed (their nonces used): they wait in the
            // frame buffer, and the next write sends them first.
            Poll::Pending => 0,
        };
        self.stash_unsent(slices, written);
        Poll::Ready(Ok(plaintext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (TransportCiphers, TransportCiphers) {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        (
            TransportCiphers { send: CipherState::new(k1), recv: CipherState::new(k2) },
            TransportCiphers { send: CipherState::new(k2), recv: CipherState::new(k1) },
        )
    }

    #[test]
    fn nonce_format_matches_the_noise_spec() {
        // ChaChaPoly's nonce: 4 zero bytes, then the counter little-endian.
        let mut c = CipherState::new([0u8; 32]);
        c.nonce = 0x0102_0304_0506_0708;
        let mut expected = CipherState::new([0u8; 32]);
        let mut data = *b"abc";
        let tag = c.seal(&mut data).expect("seal");
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[0u8; 32]).expect("key"));
        let mut message = data.to_vec();
        message.extend_from_slice(&tag);
        let nonce = [0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1];
        let plain = key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut message).expect("open");
        assert_eq!(plain, b"abc");
        expected.nonce = u64::MAX;
        assert!(matches!(expected.seal(&mut [0u8; 1]), Err(NoiseError::NonceExhausted)));
    }

    #[tokio::test]
    async fn small_and_whole_frames_round_trip_and_buffers_stay_small_when_idle() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, b) = tokio::io::duplex(256 * 1024);
        let (ca, cb) = pair();
        let (mut a, mut b) = (NoiseStream::new(a, ca), NoiseStream::new(b, cb));
        a.write_all(b"hello").await.expect("write");
        a.flush().await.expect("flush");
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"hello");
        assert!(b.recv.len() <= INITIAL_RECV, "an idle stream keeps a small buffer: {}", b.recv.len());
        assert!(a.send.capacity() < 1024, "a small write keeps a small send buffer: {}", a.send.capacity());

        let big: Vec<u8> = (0..3 * MAX_PLAINTEXT + 17).map(|i| i as u8).collect();
        let writer = tokio::spawn(async move {
            a.write_all(&big).await.expect("write");
            a.shutdown().await.expect("shutdown");
            big
        });
        let mut received = Vec::new();
        b.read_to_end(&mut received).await.expect("read");
        assert_eq!(received, writer.await.expect("writer"));
    }

    #[tokio::test]
    async fn tampered_frame_is_an_error_and_truncated_stream_is_eof_error() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (ca, cb) = pair();
        let mut sealed = Vec::new();
        {
            let mut a = NoiseStream::new(&mut sealed, ca);
            a.write_all(b"payload").await.expect("write");
            a.flush().await.expect("flush");
        }
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let mut b = NoiseStream::new(&tampered[..], cb);
        let err = b.read(&mut [0u8; 16]).await.expect_err("tampered");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        let (_, cb) = pair();
        let mut b = NoiseStream::new(&sealed[..sealed.len() - 3], cb);
        let err = b.read(&mut [0u8; 16]).await.expect_err("truncated");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    /// A socket that takes vectored writes, at most `limit` bytes per call,
    /// and says Pending (waking at once) every other call: the in-place path
    /// must keep what it sealed but could not send.
    struct Trickle {
        out: Vec<u8>,
        limit: usize,
        calls: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[io::IoSlice::new(data)])
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.calls += 1;
            if this.calls.is_multiple_of(2) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let mut taken = 0;
            for b in bufs {
                let n = b.len().min(this.limit - taken);
                this.out.extend_from_slice(&b[..n]);
                taken += n;
            }
            Poll::Ready(Ok(taken))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Writes `pieces` in order, each through the in-place path until taken.
    async fn write_in_place(stream: &mut NoiseStream<Trickle>, pieces: &[Vec<u8>]) {
        use crate::muxer::WriteInPlace;
        for piece in pieces {
            let mut buf = piece.clone();
            let mut pos = 0;
            while pos < buf.len() {
                pos += std::future::poll_fn(|cx| stream.poll_write_in_place(cx, &mut buf[pos..])).await.expect("write");
            }
        }
        tokio::io::AsyncWriteExt::flush(stream).await.expect("flush");
    }

    #[tokio::test]
    async fn in_place_writes_round_trip_through_partial_and_refused_socket_writes() {
        use tokio::io::AsyncReadExt;
        for limit in [usize::MAX, 70_000, 1_000, 7] {
            let (ca, cb) = pair();
            let mut a = NoiseStream::new(Trickle { out: Vec::new(), limit, calls: 0 }, ca);
            // Small writes to gather, whole frames in place, then small again.
            let pieces: Vec<Vec<u8>> = vec![
                b"small".to_vec(),
                (0..5 * MAX_PLAINTEXT + 100).map(|i| (i % 251) as u8).collect(),
                (0..3 * MAX_PLAINTEXT).map(|i| (i % 13) as u8).collect(),
                b"tail".to_vec(),
            ];
            write_in_place(&mut a, &pieces).await;
            if limit == usize::MAX {
                // 9 frames in 5 sends: a gathered one, 4 sealed in place, a
                // gathered one, 2 in place, the gathered tail; every other
                // call is refused. Frame by frame they would take 9 sends.
                assert_eq!(a.io.calls, 9, "whole frames took the in-place path");
            }
            let expected: Vec<u8> = pieces.concat();
            let wire = std::mem::take(&mut a.io.out);
            let mut b = NoiseStream::new(&wire[..], cb);
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.expect("read");
            assert!(got == expected, "limit {limit}: {} bytes back, {} sent", got.len(), expected.len());
            assert!(a.send.capacity() <= MAX_FRAME, "limit {limit}: held frames keep {} bytes", a.send.capacity());
        }
    }

    #[tokio::test]
    async fn in_place_frames_are_whole_noise_messages() {
        let (ca, _) = pair();
        let mut a = NoiseStream::new(Trickle { out: Vec::new(), limit: usize::MAX, calls: 0 }, ca);
        write_in_place(&mut a, &[vec![7u8; 2 * MAX_PLAINTEXT]]).await;
        let wire = &a.io.out;
        assert_eq!(a.io.calls, 1, "both frames in one vectored write");
        assert_eq!(wire.len(), 2 * MAX_FRAME);
        assert_eq!(&wire[..HEADER_LEN], &(MAX_MESSAGE_LEN as u16).to_be_bytes());
        assert_eq!(&wire[MAX_FRAME..MAX_FRAME + HEADER_LEN], &(MAX_MESSAGE_LEN as u16).to_be_bytes());
    }
}
