//! yamux (`/yamux/1.0.0`): streams with flow control over one connection.
//!
//! [`connection::Connection`] is the machine without I/O. [`spawn`] starts
//! one driver task per session that moves bytes between the socket and the
//! machine; [`Control`], [`Incoming`] and [`YamuxStream`] share the machine
//! with it under one lock and wake each other with wakers.
//!
//! Memory per session is bounded whatever the remote does (the reasons are
//! in [`connection`]): received data by [`Config::max_connection_receive_window`],
//! bytes queued to send by [`Config::max_output_buffer`]. The driver stops
//! reading the socket while the send queue is at its cap, so a remote that
//! does not read cannot make us queue answers; writers wait (`poll_write`
//! is pending) until the driver takes the queue.

pub mod connection;
pub mod frame;

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use connection::{Connection, ReadOutcome, WriteOutcome};

use super::WriteInPlace;

/// The protocol ID negotiated with multistream-select.
pub const PROTOCOL: &str = "/yamux/1.0.0";

/// Which side of the connection we are (decides stream id parity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The dialer: odd stream ids.
    Client,
    /// The listener: even stream ids.
    Server,
}

/// Session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The receive window a stream starts with (at least the spec's 256 KiB).
    pub initial_window: u32,
    /// The largest receive window auto-tuning may grow a stream to.
    pub max_window: u32,
    /// Open streams at most, both directions together.
    pub max_streams: usize,
    /// Inbound streams not yet accepted (and our streams not yet ACKed).
    pub max_pending_inbound: usize,
    /// Bytes queued for sending at most (see the bounds in [`connection`]):
    /// writers wait at three quarters of it, and input is not read while the
    /// queue is at it. 1 MiB: at 10 Gbit/s the socket drains it in under a
    /// millisecond, far more than one round of the driver writes, so it does
    /// not slow a transfer; and a peer that never reads costs at most this
    /// (plus the batch the driver is writing).
    pub max_output_buffer: usize,
    /// Sum of the receive windows of all streams at most: what a peer can
    /// make us buffer on one connection. At least `max_window` (raised if
    /// lower). Our own streams and window growth take at most half of it, the
    /// rest is kept for streams the remote opens. 64 MiB: 256 streams at the
    /// spec's 256 KiB window, or a few streams at the largest tuned window.
    pub max_connection_receive_window: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            initial_window: connection::DEFAULT_WINDOW,
            max_window: 16 * 1024 * 1024,
            max_streams: 8192,
            max_pending_inbound: 256,
            max_output_buffer: 1024 * 1024,
            max_connection_receive_window: 64 * 1024 * 1024,
        }
    }
}

/// Why the session or a stream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamuxError {
    /// The remote broke the protocol; the session is over.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The session has ended.
    #[error("connection closed")]
    ConnectionClosed,
    /// A GoAway was sent or received: no new streams.
    #[error("session is going away")]
    GoAway,
    /// The stream limit is reached.
    #[error("too many streams")]
    TooManyStreams,
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(std::io::ErrorKind),
}

#[derive(Default)]
struct StreamWakers {
    read: Option<Waker>,
    write: Option<Waker>,
}

struct Shared {
    conn: Connection,
    wakers: HashMap<u32, StreamWakers>,
    accept: Option<Waker>,
    open: Vec<Waker>,
    driver: Option<Waker>,
    close_requested: bool,
    closed: bool,
}

impl Shared {
    fn wake_driver(&mut self) {
        if let Some(w) = self.driver.take() {
            w.wake();
        }
    }

    fn wake_stream(&mut self, id: u32) {
        if let Some(w) = self.wakers.get_mut(&id) {
            if let Some(r) = w.read.take() {
                r.wake();
            }
            if let Some(wr) = w.write.take() {
                wr.wake();
            }
        }
    }

    fn wake_touched(&mut self) {
        for id in self.conn.take_touched() {
            self.wake_stream(id);
        }
        if self.conn.has_pending_inbound()
            && let Some(w) = self.accept.take()
        {
            w.wake();
        }
        for w in self.open.drain(..) {
            w.wake();
        }
    }

    fn wake_all(&mut self) {
        let ids: Vec<u32> = self.wakers.keys().copied().collect();
        for id in ids {
            self.wake_stream(id);
        }
        if let Some(w) = self.accept.take() {
            w.wake();
        }
        for w in self.open.drain(..) {
            w.wake();
        }
    }
}

type SharedRef = Arc<Mutex<Shared>>;

fn lock(shared: &SharedRef) -> MutexGuard<'_, Shared> {
    // The critical sections only move bytes between buffers; a panic in one
    // leaves the buffers consistent, so poisoning is ignored.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts a yamux session over `io` on the current tokio runtime.
///
/// `io` is buffered (the Noise stream is): the driver parses frames where
/// the bytes already are. Wrap an unbuffered stream in a `tokio::io::BufReader`.
pub fn spawn<T>(io: T, mode: Mode, config: Config) -> (Control, Incoming)
where
    T: AsyncBufRead + WriteInPlace + Send + 'static,
{
    let shared = Arc::new(Mutex::new(Shared {
        conn: Connection::new(mode, config, Instant::now()),
        wakers: HashMap::new(),
        accept: None,
        open: Vec::new(),
        driver: None,
        close_requested: false,
        closed: false,
    }));
    let (closed_tx, closed_rx) = watch::channel(false);
    let mut driver = Driver { io, shared: Arc::clone(&shared), wbuf: Vec::new(), wpos: 0, needs_flush: false };
    tokio::spawn(async move {
        let result = std::future::poll_fn(|cx| driver.poll_drive(cx)).await;
        driver.finish(result).await;
        let _ = closed_tx.send(true);
    });
    let control = Control { shared: Arc::clone(&shared), closed: closed_rx };
    (control, Incoming { shared })
}

/// The task that owns the socket.
struct Driver<T> {
    io: T,
    shared: SharedRef,
    /// Bytes being written: `wbuf[wpos..]`.
    wbuf: Vec<u8>,
    wpos: usize,
    needs_flush: bool,
}

impl<T: AsyncBufRead + WriteInPlace> Driver<T> {
    /// Runs until the session ends: Ok on a clean close or EOF.
    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), YamuxError>> {
        loop {
            let mut progress = false;

            // Send what the machine produced.
            if self.wpos == self.wbuf.len() {
                let mut shared = lock(&self.shared);
                if shared.conn.has_output() {
                    shared.conn.swap_output(&mut self.wbuf);
                    self.wpos = 0;
                    // Writers and openers that waited for room go on.
                    shared.wake_touched();
                } else if shared.close_requested && !self.needs_flush {
                    return Poll::Ready(Ok(()));
                }
            }
            while self.wpos < self.wbuf.len() {
                // The bytes are ours and written once: the connection below
                // may encrypt them where they lie.
                match self.io.poll_write_in_place(cx, &mut self.wbuf[self.wpos..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(YamuxError::Io(io::ErrorKind::WriteZero))),
                    Poll::Ready(Ok(n)) => {
                        self.wpos += n;
                        self.needs_flush = true;
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(YamuxError::Io(e.kind()))),
                    Poll::Pending => break,
                }
            }
            if self.wpos == self.wbuf.len() && self.needs_flush {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.needs_flush = false,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(YamuxError::Io(e.kind()))),
                    Poll::Pending => {}
                }
            }

            // Read what the remote sent, straight from the stream's buffer
            // (the decrypted Noise message). Windows bound how much that can be.
            // Not while the output is full: the remote could make it grow with
            // frames that need an answer while it does not read its socket.
            // The socket's write waker brings us back once output moves.
            if lock(&self.shared).conn.input_paused() {
                if !progress {
                    // The write above is pending (its waker is set): wait for it.
                    let mut shared = lock(&self.shared);
                    shared.driver = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                continue;
            }
            match Pin::new(&mut self.io).poll_fill_buf(cx) {
                Poll::Ready(Ok([])) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(bytes)) => {
                    let n = bytes.len();
                    let mut shared = lock(&self.shared);
                    let result = shared.conn.handle_input(bytes, Instant::now());
                    shared.wake_touched();
                    drop(shared);
                    Pin::new(&mut self.io).consume(n);
                    if let Err(e) = result {
                        // The GoAway queued by the machine is sent by finish().
                        return Poll::Ready(Err(e));
                    }
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(YamuxError::Io(e.kind()))),
                Poll::Pending => {}
            }

            if !progress {
                let mut shared = lock(&self.shared);
                // New output can be taken only once the write buffer is empty;
                // otherwise the socket's write waker brings us back.
                let drained = self.wpos == self.wbuf.len();
                if drained && (shared.conn.has_output() || (shared.close_requested && !self.needs_flush)) {
                    continue;
                }
                shared.driver = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
    }

    /// Ends the session: sends what is left (a GoAway), closes the socket,
    /// and fails every stream.
    async fn finish(&mut self, result: Result<(), YamuxError>) {
        use tokio::io::AsyncWriteExt;
        let rest = {
            let mut shared = lock(&self.shared);
            shared.conn.go_away(frame::GO_AWAY_NORMAL);
            let rest = shared.conn.take_output();
            shared.conn.fail(result.err().unwrap_or(YamuxError::ConnectionClosed));
            shared.closed = true;
            shared.wake_all();
            rest
        };
        // Best effort, bounded: the remote may be gone or stalled.
        let flush = async {
            let pending = self.wbuf.get(self.wpos..).unwrap_or_default().to_vec();
            self.io.write_all(&pending).await?;
            self.io.write_all(&rest).await?;
            self.io.shutdown().await
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), flush).await;
    }
}

/// A handle to a yamux session: opens streams and closes the session.
#[derive(Clone)]
pub struct Control {
    shared: SharedRef,
    closed: watch::Receiver<bool>,
}

impl Control {
    /// Opens a new stream. Waits while 256 of our streams await the remote's
    /// ACK, while the receive budget has no room for another window (until a
    /// stream is dropped), or while the send queue is full.
    pub async fn open_stream(&self) -> Result<YamuxStream, YamuxError> {
        std::future::poll_fn(|cx| {
            let mut shared = lock(&self.shared);
            if shared.closed {
                return Poll::Ready(Err(shared.conn.error().cloned().unwrap_or(YamuxError::ConnectionClosed)));
            }
            match shared.conn.open_stream(Instant::now()) {
                Ok(Some(id)) => {
                    shared.wakers.insert(id, StreamWakers::default());
                    shared.wake_driver();
                    Poll::Ready(Ok(YamuxStream { id, shared: Arc::clone(&self.shared) }))
                }
                Ok(None) => {
                    // One entry per waiting task, however often it is polled.
                    if !shared.open.iter().any(|w| w.will_wake(cx.waker())) {
                        shared.open.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(e)),
            }
        })
        .await
    }

    /// Sends GoAway, closes the connection, and waits until it is closed.
    pub async fn close(&self) {
        {
            let mut shared = lock(&self.shared);
            shared.close_requested = true;
            shared.conn.go_away(frame::GO_AWAY_NORMAL);
            shared.wake_driver();
        }
        self.closed().await;
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow() || lock(&self.shared).closed
    }

    /// Resolves once the session has ended, for whatever reason.
    pub async fn closed(&self) {
        let mut rx = self.closed.clone();
        // An error means the driver is gone: closed too.
        let _ = rx.wait_for(|closed| *closed).await;
    }

    /// The measured round-trip time of the session, once known.
    pub fn rtt(&self) -> Option<std::time::Duration> {
        lock(&self.shared).conn.rtt()
    }

    /// Bytes queued in the session for sending, not yet taken by the driver
    /// (which writes at most one earlier batch at a time). Bounded by
    /// `Config::max_output_buffer` plus what one chunk of input can cause.
    pub fn buffered_output(&self) -> usize {
        lock(&self.shared).conn.output_len()
    }

    /// Received bytes buffered in the session's streams, not yet read.
    /// Bounded by `Config::max_connection_receive_window`.
    pub fn buffered_input(&self) -> usize {
        lock(&self.shared).conn.buffered_input()
    }
}

/// The streams the remote opens.
pub struct Incoming {
    shared: SharedRef,
}

impl Incoming {
    /// The next inbound stream; `None` once the session has ended.
    pub async fn next(&mut self) -> Option<YamuxStream> {
        std::future::poll_fn(|cx| {
            let mut shared = lock(&self.shared);
            if let Some(id) = shared.conn.accept() {
                shared.wakers.insert(id, StreamWakers::default());
                shared.wake_driver();
                return Poll::Ready(Some(YamuxStream { id, shared: Arc::clone(&self.shared) }));
            }
            if shared.closed {
                return Poll::Ready(None);
            }
            shared.accept = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// One yamux stream: tokio `AsyncRead` + `AsyncWrite`. `shutdown` sends FIN
/// (half-close); dropping it without `shutdown` resets it.
pub struct YamuxStream {
    id: u32,
    shared: SharedRef,
}

impl YamuxStream {
    /// The stream id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Aborts the stream in both directions (RST).
    pub fn reset(&mut self) {
        let mut shared = lock(&self.shared);
        shared.conn.reset(self.id);
        shared.wake_driver();
    }
}

impl std::fmt::Debug for YamuxStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "YamuxStream({})", self.id)
    }
}

impl AsyncRead for YamuxStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut shared = lock(&self.shared);
        let outcome = shared.conn.read(self.id, buf.initialize_unfilled(), Instant::now());
        match outcome {
            ReadOutcome::Data(n) => {
                buf.advance(n);
                if shared.conn.has_output() {
                    shared.wake_driver();
                }
                Poll::Ready(Ok(()))
            }
            ReadOutcome::Eof => Poll::Ready(Ok(())),
            ReadOutcome::Reset => Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
            ReadOutcome::WouldBlock => {
                if let Some(w) = shared.wakers.get_mut(&self.id) {
                    w.read = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for YamuxStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut shared = lock(&self.shared);
        match shared.conn.write(self.id, data) {
            WriteOutcome::Written(n) => {
                shared.wake_driver();
                Poll::Ready(Ok(n))
            }
            WriteOutcome::WouldBlock => {
                if let Some(w) = shared.wakers.get_mut(&self.id) {
                    w.write = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            WriteOutcome::Closed => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written data is already queued in the session; the driver sends it.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut shared = lock(&self.shared);
        shared.conn.close_write(self.id);
        shared.wake_driver();
        Poll::Ready(Ok(()))
    }
}

impl Drop for YamuxStream {
    fn drop(&mut self) {
        let mut shared = lock(&self.shared);
        shared.conn.drop_stream(self.id);
        shared.wakers.remove(&self.id);
        shared.wake_driver();
        // Its window went back to the receive budget: openers may go on.
        for w in shared.open.drain(..) {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn within<F: Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(30), f).await.expect("no hang")
    }

    fn pair() -> ((Control, Incoming), (Control, Incoming)) {
        let (a, b) = tokio::io::duplex(256 * 1024);
        let (a, b) = (tokio::io::BufReader::new(a), tokio::io::BufReader::new(b));
        (spawn(a, Mode::Client, Config::default()), spawn(b, Mode::Server, Config::default()))
    }

    fn echo_server(mut incoming: Incoming) {
        tokio::spawn(async move {
            while let Some(stream) = incoming.next().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = tokio::io::split(stream);
                    if tokio::io::copy(&mut r, &mut w).await.is_ok() {
                        let _ = w.shutdown().await;
                    }
                });
            }
        });
    }

    async fn echo(control: &Control, data: Vec<u8>) -> Vec<u8> {
        let stream = within(control.open_stream()).await.expect("open");
        let (mut r, mut w) = tokio::io::split(stream);
        let writer = tokio::spawn(async move {
            w.write_all(&data).await.expect("write");
            w.shutdown().await.expect("fin");
            w
        });
        let mut out = Vec::new();
        within(r.read_to_end(&mut out)).await.expect("read");
        let _keep_alive_until_read = writer.await;
        out
    }

    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8).collect()
    }

    #[tokio::test]
    async fn hundred_concurrent_echo_streams() {
        let ((client, _), (_, server_incoming)) = pair();
        echo_server(server_incoming);
        let mut tasks = Vec::new();
        for i in 0..100u32 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let data = pattern(5_000 + i as usize * 37, i);
                assert_eq!(echo(&client, data.clone()).await, data);
            }));
        }
        for t in tasks {
            within(t).await.expect("task");
        }
    }

    #[tokio::test]
    async fn sixty_four_mib_transfer() {
        let ((client, _), (_, server_incoming)) = pair();
        echo_server(server_incoming);
        let data = pattern(64 * 1024 * 1024, 3);
        let back = echo(&client, data.clone()).await;
        assert!(back == data, "64 MiB echo differs");
    }

    #[tokio::test]
    async fn a_stalled_reader_stalls_the_writer() {
        let ((client, _), (_, mut server_incoming)) = pair();
        let mut stream = within(client.open_stream()).await.expect("open");
        let writer = tokio::spawn(async move {
            stream.write_all(&vec![5u8; 1024 * 1024]).await.expect("write");
            stream.shutdown().await.expect("fin");
            stream
        });
        let mut inbound = within(server_incoming.next()).await.expect("inbound");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!writer.is_finished(), "1 MiB cannot fit a 256 KiB window without reads");
        let mut got = Vec::new();
        within(inbound.read_to_end(&mut got)).await.expect("read");
        assert_eq!(got.len(), 1024 * 1024);
        within(writer).await.expect("writer finished");
    }

    #[tokio::test]
    async fn close_ends_everything() {
        let ((client, _), (server, mut server_incoming)) = pair();
        let mut stream = within(client.open_stream()).await.expect("open");
        stream.write_all(b"x").await.expect("write");
        let mut inbound = within(server_incoming.next()).await.expect("inbound");
        within(client.close()).await;
        assert!(client.is_closed());
        within(server.closed()).await;
        let mut buf = Vec::new();
        let _ = within(inbound.read_to_end(&mut buf)).await;
        assert!(within(server_incoming.next()).await.is_none());
        assert!(within(client.open_stream()).await.is_err());
    }

    fn encode(frames: &[frame::Header]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for h in frames {
            h.encode(&mut bytes);
        }
        bytes
    }

    fn header(kind: frame::FrameType, flags: u16, stream_id: u32, length: u32) -> frame::Header {
        frame::Header { kind, flags, stream_id, length }
    }

    /// Waits until `condition` holds, polling every millisecond (bounded by `within`).
    async fn until(condition: impl Fn() -> bool) {
        within(async {
            while !condition() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
    }

    #[tokio::test]
    async fn a_peer_that_never_reads_meets_the_output_cap() {
        use frame::FrameType::{Ping, WindowUpdate};
        use std::sync::atomic::{AtomicUsize, Ordering};
        const DUPLEX: usize = 64 * 1024;
        const CHUNK: usize = 8 * 1024; // BufReader's buffer: the most one read hands the machine
        let cap = Config::default().max_output_buffer;
        let (ours, raw) = tokio::io::duplex(DUPLEX);
        let (control, mut incoming) = spawn(tokio::io::BufReader::new(ours), Mode::Server, Config::default());
        let (mut raw_read, mut raw_write) = tokio::io::split(raw);
        // The peer opens stream 1 and grants it the maximum window, 2^32 - 1.
        let grant = u32::MAX - connection::DEFAULT_WINDOW;
        let open = encode(&[header(WindowUpdate, frame::SYN, 1, 0), header(WindowUpdate, 0, 1, grant)]);
        raw_write.write_all(&open).await.expect("open");
        let mut stream = within(incoming.next()).await.expect("inbound");
        // Our side answers with 64 MiB, as /perf would.
        let written = Arc::new(AtomicUsize::new(0));
        let progress = Arc::clone(&written);
        let writer = tokio::spawn(async move {
            let chunk = vec![0u8; 64 * 1024];
            let total = 64 * 1024 * 1024;
            while progress.load(Ordering::Relaxed) < total {
                let left = total - progress.load(Ordering::Relaxed);
                let n = stream.write(&chunk[..left.min(chunk.len())]).await.expect("write");
                progress.fetch_add(n, Ordering::Relaxed);
            }
            stream
        });
        // Then it floods pings and SYNs, and never reads.
        let mut flood = Vec::new();
        for i in 0..100_000u32 {
            header(Ping, frame::SYN, 0, i).encode(&mut flood);
            header(WindowUpdate, frame::SYN, 2 * i + 3, 0).encode(&mut flood);
        }
        let flooder = tokio::spawn(async move {
            raw_write.write_all(&flood).await.expect("flood");
            raw_write
        });
        // The RSTs for refused streams fill the output to the cap: input stops.
        until(|| control.buffered_output() >= cap).await;
        // Our side holds: the queue, the batch the driver writes, the pipe.
        let bound = DUPLEX + 2 * (cap + CHUNK);
        for _ in 0..100 {
            tokio::task::yield_now().await;
            assert!(written.load(Ordering::Relaxed) <= bound, "{}", written.load(Ordering::Relaxed));
            assert!(control.buffered_output() <= cap + CHUNK, "{}", control.buffered_output());
        }
        assert!(!writer.is_finished() && !flooder.is_finished());
        // Once the peer reads, everything moves again: no wakeup was lost.
        let reader = tokio::spawn(async move {
            let mut sink = vec![0u8; 256 * 1024];
            while raw_read.read(&mut sink).await.is_ok_and(|n| n > 0) {}
        });
        let _stream = within(writer).await.expect("writer");
        assert_eq!(written.load(Ordering::Relaxed), 64 * 1024 * 1024);
        let _raw_write = within(flooder).await.expect("flooder");
        reader.abort();
    }

    #[tokio::test]
    async fn open_stream_waits_for_room_in_the_receive_budget() {
        let (a, b) = tokio::io::duplex(256 * 1024);
        let budget = 2 * 1024 * 1024;
        let config = Config { max_window: 1024 * 1024, max_connection_receive_window: budget, ..Config::default() };
        let (client, _) = spawn(tokio::io::BufReader::new(a), Mode::Client, config);
        let (_server, _server_incoming) = spawn(tokio::io::BufReader::new(b), Mode::Server, Config::default());
        // Four streams of 256 KiB take the half of the 2 MiB budget our streams may use.
        let mut streams = Vec::new();
        for _ in 0..4 {
            streams.push(within(client.open_stream()).await.expect("open"));
        }
        let mut fifth = Box::pin(client.open_stream());
        let first_poll = std::future::poll_fn(|cx| Poll::Ready(fifth.as_mut().poll(cx).is_pending())).await;
        assert!(first_poll, "a fifth window does not fit the budget");
        drop(streams.pop());
        let stream = within(fifth).await.expect("open after a stream was dropped");
        assert_eq!(stream.id(), 9);
    }

    #[tokio::test]
    async fn garbage_from_the_remote_ends_the_session() {
        let (a, mut b) = tokio::io::duplex(4096);
        let (control, mut incoming) = spawn(tokio::io::BufReader::new(a), Mode::Server, Config::default());
        b.write_all(&[9u8; 64]).await.expect("write");
        within(control.closed()).await;
        assert!(within(incoming.next()).await.is_none());
        // What it sent before closing ends with a GoAway carrying the protocol-error code.
        let mut sent = Vec::new();
        let _ = within(b.read_to_end(&mut sent)).await;
        assert!(sent.windows(12).any(|w| w[..2] == [0, 3] && w[8..] == [0, 0, 0, 1]), "{sent:?}");
    }
}
