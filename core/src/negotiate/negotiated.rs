//! The tokio driver of multistream-select, and [`Negotiated`]: the stream
//! after negotiation.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::machine::{DialerOutcome, DialerSelect, ListenerSelect};
use super::{NegotiationError, Version};

/// How much one read during negotiation asks for.
const READ_CHUNK: usize = 1024;

/// Negotiates as the dialer, proposing `protocols` in order. With
/// [`Version::V1Lazy`] and a single protocol, returns at once (see [`Version`]).
pub async fn dialer_select<T>(
    mut io: T,
    protocols: &[String],
    version: Version,
) -> Result<(String, Negotiated<T>), NegotiationError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut machine = DialerSelect::new(protocols)?;
    if version == Version::V1Lazy && protocols.len() == 1 {
        let pending = machine.take_output();
        let protocol = protocols[0].clone();
        return Ok((
            protocol,
            Negotiated { io, state: State::Lazy { pending, written: 0, machine: Box::new(machine) } },
        ));
    }
    let mut buf = [0u8; READ_CHUNK];
    loop {
        let out = machine.take_output();
        if !out.is_empty() {
            io.write_all(&out).await?;
            io.flush().await?;
        }
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(NegotiationError::UnexpectedEof);
        }
        match machine.handle_input(&buf[..n])? {
            Some(DialerOutcome::Selected(protocol)) => {
                let leftover = machine.into_leftover();
                return Ok((protocol, Negotiated::with_leftover(io, leftover)));
            }
            Some(DialerOutcome::Listed(_)) => return Err(NegotiationError::InvalidMessage),
            None => {}
        }
    }
}

/// Negotiates as the listener, accepting the first proposal in `supported`.
pub async fn listener_select<T>(mut io: T, supported: &[String]) -> Result<(String, Negotiated<T>), NegotiationError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut machine = ListenerSelect::new(supported);
    let mut buf = [0u8; READ_CHUNK];
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(NegotiationError::UnexpectedEof);
        }
        let outcome = machine.handle_input(&buf[..n])?;
        let out = machine.take_output();
        if !out.is_empty() {
            io.write_all(&out).await?;
            io.flush().await?;
        }
        if let Some(protocol) = outcome {
            let leftover = machine.into_leftover();
            return Ok((protocol, Negotiated::with_leftover(io, leftover)));
        }
    }
}

enum State {
    /// A lazy dialer: `pending` (header, proposal, and maybe early data) is
    /// not fully sent; the listener's answer is not read yet.
    Lazy { pending: Vec<u8>, written: usize, machine: Box<DialerSelect> },
    /// Negotiation is over; `leftover` holds bytes read past it.
    Done { leftover: Vec<u8>, pos: usize },
}

/// A stream on which a protocol was negotiated. Reads first return any bytes
/// that arrived with the negotiation; after that, reads and writes go
/// straight to the inner stream.
pub struct Negotiated<T> {
    io: T,
    state: State,
}

impl<T> Negotiated<T> {
    fn with_leftover(io: T, leftover: Vec<u8>) -> Negotiated<T> {
        Negotiated { io, state: State::Done { leftover, pos: 0 } }
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The inner stream, mutably (writing to it directly skips pending
    /// negotiation bytes: only for out-of-band operations such as reset).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Whether the negotiation is complete (false while a lazy answer is unread).
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Done { .. })
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Negotiated<T> {
    /// Writes what is pending of a lazy negotiation.
    fn poll_send_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let State::Lazy { pending, written, .. } = &mut self.state {
            while *written < pending.len() {
                let n = ready!(Pin::new(&mut self.io).poll_write(cx, &pending[*written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads the listener's answer of a lazy negotiation.
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send_pending(cx))?;
        if matches!(self.state, State::Lazy { .. }) {
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        }
        loop {
            let State::Lazy { machine, .. } = &mut self.state else {
                return Poll::Ready(Ok(()));
            };
            let mut chunk = [0u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
            if buf.filled().is_empty() {
                return Poll::Ready(Err(NegotiationError::UnexpectedEof.into_io()));
            }
            match machine.handle_input(buf.filled()) {
                Ok(Some(DialerOutcome::Selected(_))) => {
                    let done = State::Done { leftover: Vec::new(), pos: 0 };
                    if let State::Lazy { machine, .. } = std::mem::replace(&mut self.state, done) {
                        self.state = State::Done { leftover: machine.into_leftover(), pos: 0 };
                    }
                }
                Ok(Some(DialerOutcome::Listed(_))) => {
                    return Poll::Ready(Err(NegotiationError::InvalidMessage.into_io()));
                }
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(e.into_io())),
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Negotiated<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_complete(cx))?;
        if let State::Done { leftover, pos } = &mut this.state
            && *pos < leftover.len()
        {
            let n = buf.remaining().min(leftover.len() - *pos);
            buf.put_slice(&leftover[*pos..*pos + n]);
            *pos += n;
            if *pos == leftover.len() {
                *leftover = Vec::new();
                *pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

/// Buffered reading passes through to a buffered inner stream (the Noise
/// stream), after the bytes read past the negotiation, so that the reader
/// (the yamux driver) takes data where it was decrypted, without a copy.
impl<T: AsyncBufRead + AsyncWrite + Unpin> AsyncBufRead for Negotiated<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        ready!(this.poll_complete(cx))?;
        match &this.state {
            State::Done { leftover, pos } if *pos < leftover.len() => Poll::Ready(Ok(&leftover[*pos..])),
            _ => Pin::new(&mut this.io).poll_fill_buf(cx),
        }
    }

    fn consume(self: Pin<&mut Self>, amount: usize) {
        let this = self.get_mut();
        if let State::Done { leftover, pos } = &mut this.state
            && *pos < leftover.len()
        {
            *pos = (*pos + amount).min(leftover.len());
            if *pos == leftover.len() {
                *leftover = Vec::new();
                *pos = 0;
            }
            return;
        }
        Pin::new(&mut this.io).consume(amount);
    }
}

/// Early data smaller than this is appended to the pending proposal, so that
/// the proposal and, say, a Noise first message leave in one packet.
const COALESCE_LIMIT: usize = 16 * 1024;

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Negotiated<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let State::Lazy { pending, written, .. } = &mut this.state
            && *written < pending.len()
        {
            if pending.len() + data.len() <= COALESCE_LIMIT {
                pending.extend_from_slice(data);
                // Best effort now; poll_flush finishes the job.
                let _ = this.poll_send_pending(cx)?;
                return Poll::Ready(Ok(data.len()));
            }
            ready!(this.poll_send_pending(cx))?;
        }
        Pin::new(&mut this.io).poll_write(cx, data)
    }

    /// Forwarded, so that the Noise stream above can send a frame's prefix,
    /// ciphertext and tag in one system call.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_send_pending(cx))?;
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    async fn within<F: Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(5), f).await.expect("no hang")
    }

    #[tokio::test]
    async fn v1_negotiation_then_data_both_ways() {
        let (a, b) = tokio::io::duplex(4096);
        let dialer = tokio::spawn(async move {
            let (p, mut s) = dialer_select(a, &names(&["/x", "/echo"]), Version::V1).await.expect("dialer");
            assert_eq!(p, "/echo");
            s.write_all(b"ping").await.expect("write");
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.expect("read");
            assert_eq!(&buf, b"pong");
        });
        let (p, mut s) = within(listener_select(b, &names(&["/echo"]))).await.expect("listener");
        assert_eq!(p, "/echo");
        let mut buf = [0u8; 4];
        within(s.read_exact(&mut buf)).await.expect("read");
        assert_eq!(&buf, b"ping");
        s.write_all(b"pong").await.expect("write");
        within(dialer).await.expect("dialer task");
    }

    #[tokio::test]
    async fn lazy_dialer_sends_data_with_the_proposal() {
        let (a, b) = tokio::io::duplex(4096);
        let (p, mut s) = dialer_select(a, &names(&["/echo"]), Version::V1Lazy).await.expect("lazy returns at once");
        assert_eq!(p, "/echo");
        assert!(!s.is_complete());
        s.write_all(b"early").await.expect("write");
        s.flush().await.expect("flush");
        let (p, mut l) = within(listener_select(b, &names(&["/echo"]))).await.expect("listener");
        assert_eq!(p, "/echo");
        let mut buf = [0u8; 5];
        within(l.read_exact(&mut buf)).await.expect("read");
        assert_eq!(&buf, b"early");
        l.write_all(b"reply").await.expect("write");
        within(s.read_exact(&mut buf)).await.expect("read");
        assert_eq!(&buf, b"reply");
        assert!(s.is_complete());
    }

    #[tokio::test]
    async fn vectored_writes_follow_the_lazy_proposal() {
        let (a, b) = tokio::io::duplex(4096);
        let (_, mut s) = dialer_select(a, &names(&["/echo"]), Version::V1Lazy).await.expect("lazy");
        assert!(s.is_write_vectored(), "forwarded from the duplex pipe");
        let slices = [io::IoSlice::new(b"vec"), io::IoSlice::new(b"tored")];
        let mut sent = 0;
        while sent < 3 {
            sent += within(s.write_vectored(&slices)).await.expect("write");
        }
        s.write_all(&b"vectored"[sent..]).await.expect("write");
        s.flush().await.expect("flush");
        let (_, mut l) = within(listener_select(b, &names(&["/echo"]))).await.expect("listener");
        let mut buf = [0u8; 8];
        within(l.read_exact(&mut buf)).await.expect("read");
        assert_eq!(&buf, b"vectored");
    }

    #[tokio::test]
    async fn buffered_reads_give_the_bytes_after_the_answer_then_the_stream() {
        use tokio::io::AsyncBufReadExt;
        let (a, b) = tokio::io::duplex(4096);
        let (_, mut s) =
            dialer_select(tokio::io::BufReader::new(a), &names(&["/echo"]), Version::V1Lazy).await.expect("lazy");
        s.flush().await.expect("flush");
        let (_, mut l) = within(listener_select(b, &names(&["/echo"]))).await.expect("listener");
        // The answer and data arrive together: part of it is read past the negotiation.
        l.write_all(b"first").await.expect("write");
        l.flush().await.expect("flush");
        let mut got = Vec::new();
        while got.len() < 5 {
            let chunk = within(s.fill_buf()).await.expect("fill").to_vec();
            assert!(!chunk.is_empty(), "no eof before the data");
            s.consume(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, b"first");
        l.write_all(b"second").await.expect("write");
        drop(l);
        let mut rest = Vec::new();
        within(s.read_to_end(&mut rest)).await.expect("read");
        assert_eq!(rest, b"second");
    }

    #[tokio::test]
    async fn lazy_rejection_surfaces_on_read() {
        let (a, b) = tokio::io::duplex(4096);
        let (_, mut s) = dialer_select(a, &names(&["/nope"]), Version::V1Lazy).await.expect("lazy");
        s.write_all(b"data").await.expect("write");
        s.flush().await.expect("flush");
        let listener = tokio::spawn(async move { listener_select(b, &names(&["/other"])).await.map(|_| ()) });
        let mut buf = [0u8; 1];
        let err = within(s.read(&mut buf)).await.expect_err("rejected");
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<NegotiationError>());
        assert!(matches!(inner, Some(NegotiationError::Failed)), "{err:?}");
        drop(s);
        assert!(within(listener).await.expect("task").is_err());
    }

    #[tokio::test]
    async fn v1_rejection_is_failed() {
        let (a, b) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let _ = listener_select(b, &names(&["/other"])).await;
        });
        let result = within(dialer_select(a, &names(&["/a", "/b"]), Version::V1)).await;
        assert!(matches!(result, Err(NegotiationError::Failed)));
    }

    #[tokio::test]
    async fn eof_and_garbage_during_negotiation() {
        let (a, b) = tokio::io::duplex(4096);
        drop(b);
        assert!(within(dialer_select(a, &names(&["/a"]), Version::V1)).await.is_err());
        let (mut a, b) = tokio::io::duplex(4096);
        a.write_all(&[0x05, 1, 2, 3, 4, 5]).await.expect("write");
        assert!(matches!(
            within(listener_select(b, &names(&["/a"]))).await,
            Err(NegotiationError::InvalidMessage | NegotiationError::WrongHeader)
        ));
    }
}
