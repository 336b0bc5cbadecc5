//! The yamux session as a state machine without I/O: received bytes go in
//! through [`Connection::handle_input`], bytes to send come out of
//! [`Connection::take_output`]; streams are read, written, closed and reset
//! by id. The caller passes `now` wherever time matters (window tuning, ping).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::frame::{self, FrameType, HEADER_LEN, Header};
use super::{Config, Mode, YamuxError};

/// The window every stream starts with, by the spec.
pub const DEFAULT_WINDOW: u32 = 256 * 1024;
/// The largest Data frame we send.
const MAX_FRAME_PAYLOAD: usize = 64 * 1024;
/// The opaque value of our RTT-measuring ping.
const RTT_PING: u32 = 0x6c70_3270;

/// A stream's state.
#[derive(Debug)]
struct Stream {
    /// Received, not yet read: `recv[recv_pos..]`.
    recv: Vec<u8>,
    recv_pos: usize,
    /// Bytes the remote may still send us.
    recv_window: u32,
    /// The window we aim to keep open (grows for fast readers).
    window_target: u32,
    /// When the current window epoch started (for auto-tuning).
    epoch: Instant,
    /// Bytes we may still send.
    send_window: u32,
    /// We sent FIN.
    local_closed: bool,
    /// The remote sent FIN.
    remote_closed: bool,
    /// Either side sent RST.
    reset: bool,
    /// Outbound: the remote has not ACKed yet. Inbound: we have not ACKed yet.
    unacked: bool,
    outbound: bool,
}

impl Stream {
    fn new(outbound: bool, now: Instant) -> Stream {
        Stream {
            recv: Vec::new(),
            recv_pos: 0,
            recv_window: DEFAULT_WINDOW,
            window_target: DEFAULT_WINDOW,
            epoch: now,
            send_window: DEFAULT_WINDOW,
            local_closed: false,
            remote_closed: false,
            reset: false,
            unacked: true,
            outbound,
        }
    }

    fn buffered(&self) -> usize {
        self.recv.len() - self.recv_pos
    }
}

/// What a read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes were copied.
    Data(usize),
    /// The remote closed its side and everything was read.
    Eof,
    /// Nothing yet.
    WouldBlock,
    /// The stream was reset.
    Reset,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// This many bytes were queued.
    Written(usize),
    /// The remote's window is full.
    WouldBlock,
    /// We closed our side, or the stream was reset.
    Closed,
}

/// A yamux session.
#[derive(Debug)]
pub struct Connection {
    mode: Mode,
    config: Config,
    streams: HashMap<u32, Stream>,
    next_id: u32,
    /// Inbound streams not yet accepted (and so not yet ACKed).
    pending_inbound: VecDeque<u32>,
    /// Our streams the remote has not ACKed yet.
    unacked_outbound: usize,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Streams whose readability or writability may have changed.
    touched: Vec<u32>,
    go_away_sent: bool,
    go_away_received: bool,
    error: Option<YamuxError>,
    rtt: Option<Duration>,
    ping_sent_at: Option<Instant>,
}

impl Connection {
    /// A new session; it starts with a ping to learn the round-trip time.
    pub fn new(mode: Mode, config: Config, now: Instant) -> Connection {
        let mut conn = Connection {
            next_id: match mode {
                Mode::Client => 1,
                Mode::Server => 2,
            },
            mode,
            config,
            streams: HashMap::new(),
            pending_inbound: VecDeque::new(),
            unacked_outbound: 0,
            input: Vec::new(),
            output: Vec::new(),
            touched: Vec::new(),
            go_away_sent: false,
            go_away_received: false,
            error: None,
            rtt: None,
            ping_sent_at: Some(now),
        };
        conn.send_header(FrameType::Ping, frame::SYN, 0, RTT_PING);
        conn
    }

    fn send_header(&mut self, kind: FrameType, flags: u16, stream_id: u32, length: u32) {
        Header { kind, flags, stream_id, length }.encode(&mut self.output);
    }

    /// Bytes to send, taken out of the machine.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Swaps the bytes to send into `buf` (which must be empty), handing the
    /// machine `buf`'s allocation to fill next: no allocation per round.
    pub fn swap_output(&mut self, buf: &mut Vec<u8>) {
        buf.clear();
        std::mem::swap(buf, &mut self.output);
    }

    /// Whether there is anything to send.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Stream ids whose state may have changed since the last call.
    pub fn take_touched(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.touched)
    }

    /// The error that ended the session, if it ended.
    pub fn error(&self) -> Option<&YamuxError> {
        self.error.as_ref()
    }

    /// The measured round-trip time, once known.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// Number of open streams.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Ends the session: every stream fails from now on.
    pub fn fail(&mut self, error: YamuxError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
        self.touched.extend(self.streams.keys().copied());
    }

    /// Sends GoAway with `code`: the remote may open no more streams.
    pub fn go_away(&mut self, code: u32) {
        if !self.go_away_sent {
            self.go_away_sent = true;
            self.send_header(FrameType::GoAway, 0, 0, code);
        }
    }

    fn protocol_error(&mut self, reason: &'static str) -> YamuxError {
        self.go_away(frame::GO_AWAY_PROTOCOL_ERROR);
        self.fail(YamuxError::Protocol(reason));
        YamuxError::Protocol(reason)
    }

    // ---- input ----

    /// Feeds received bytes. A protocol violation ends the session (a GoAway
    /// with the protocol-error code is queued) and is returned.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) -> Result<(), YamuxError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        // Whole frames are read straight from `bytes`; only a trailing partial
        // frame is kept for the next call.
        let result = if self.input.is_empty() {
            let (consumed, result) = self.process(bytes, now);
            self.input.extend_from_slice(&bytes[consumed..]);
            result
        } else {
            self.input.extend_from_slice(bytes);
            let input = std::mem::take(&mut self.input);
            let (consumed, result) = self.process(&input, now);
            self.input = input;
            self.input.drain(..consumed);
            result
        };
        match result {
            Ok(()) => Ok(()),
            Err(YamuxError::Protocol(reason)) => Err(self.protocol_error(reason)),
            Err(e) => Err(e),
        }
    }

    /// Handles the complete frames at the start of `buf`: how many bytes they
    /// took, and whether they were valid.
    fn process(&mut self, buf: &[u8], now: Instant) -> (usize, Result<(), YamuxError>) {
        let mut consumed = 0;
        loop {
            let rest = &buf[consumed..];
            let header = match Header::decode(rest) {
                Ok(Some(h)) => h,
                Ok(None) => return (consumed, Ok(())),
                Err(e) => return (consumed, Err(e)),
            };
            let payload_len = if header.kind == FrameType::Data { header.length as usize } else { 0 };
            if header.kind == FrameType::Data && payload_len > self.config.max_window as usize {
                return (consumed, Err(YamuxError::Protocol("data frame larger than any window")));
            }
            if rest.len() < HEADER_LEN + payload_len {
                return (consumed, Ok(()));
            }
            let payload = &rest[HEADER_LEN..HEADER_LEN + payload_len];
            if let Err(e) = self.handle_frame(header, payload, now) {
                return (consumed, Err(e));
            }
            consumed += HEADER_LEN + payload_len;
        }
    }

    fn handle_frame(&mut self, header: Header, payload: &[u8], now: Instant) -> Result<(), YamuxError> {
        match header.kind {
            FrameType::Ping => {
                if header.flags & frame::SYN != 0 {
                    self.send_header(FrameType::Ping, frame::ACK, 0, header.length);
                } else if header.flags & frame::ACK != 0
                    && header.length == RTT_PING
                    && let Some(sent) = self.ping_sent_at.take()
                {
                    self.rtt = Some(now.saturating_duration_since(sent));
                }
                Ok(())
            }
            FrameType::GoAway => {
                self.go_away_received = true;
                Ok(())
            }
            FrameType::Data | FrameType::WindowUpdate => self.handle_stream_frame(header, payload, now),
        }
    }

    fn is_remote_id(&self, id: u32) -> bool {
        match self.mode {
            Mode::Client => id.is_multiple_of(2),
            Mode::Server => !id.is_multiple_of(2),
        }
    }

    fn handle_stream_frame(&mut self, header: Header, payload: &[u8], now: Instant) -> Result<(), YamuxError> {
        let id = header.stream_id;
        if id == 0 {
            return Err(YamuxError::Protocol("stream frame on stream 0"));
        }
        if header.flags & frame::SYN != 0 && !self.accept_syn(id, now)? {
            return Ok(()); // refused with RST
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            // A stream we dropped or reset: its late frames are ignored.
            return Ok(());
        };
        if header.flags & frame::ACK != 0 && stream.outbound && stream.unacked {
            stream.unacked = false;
            self.unacked_outbound = self.unacked_outbound.saturating_sub(1);
        }
        match header.kind {
            FrameType::WindowUpdate => {
                stream.send_window = stream.send_window.saturating_add(header.length);
            }
            _ => {
                let len = payload.len() as u32;
                if len > stream.recv_window {
                    return Err(YamuxError::Protocol("data exceeds the receive window"));
                }
                stream.recv_window -= len;
                if !stream.reset && !stream.remote_closed {
                    if stream.recv_pos > 0 && stream.recv_pos * 2 >= stream.recv.len() {
                        stream.recv.drain(..stream.recv_pos);
                        stream.recv_pos = 0;
                    }
                    stream.recv.extend_from_slice(payload);
                }
            }
        }
        if header.flags & frame::FIN != 0 {
            stream.remote_closed = true;
        }
        if header.flags & frame::RST != 0 {
            stream.reset = true;
        }
        self.touched.push(id);
        Ok(())
    }

    /// Handles a SYN for `id`: creates the stream, or refuses it with RST.
    fn accept_syn(&mut self, id: u32, now: Instant) -> Result<bool, YamuxError> {
        if !self.is_remote_id(id) {
            return Err(YamuxError::Protocol("SYN with an id of our parity"));
        }
        if self.streams.contains_key(&id) {
            return Err(YamuxError::Protocol("SYN for an existing stream"));
        }
        let full = self.streams.len() >= self.config.max_streams
            || self.pending_inbound.len() >= self.config.max_pending_inbound;
        if self.go_away_sent || full {
            self.send_header(FrameType::WindowUpdate, frame::RST, id, 0);
            return Ok(false);
        }
        self.streams.insert(id, Stream::new(false, now));
        self.pending_inbound.push_back(id);
        Ok(true)
    }

    // ---- streams ----

    /// Opens a stream. `Ok(None)` while 256 of our streams await the
    /// remote's ACK (try again after input).
    pub fn open_stream(&mut self, now: Instant) -> Result<Option<u32>, YamuxError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.go_away_received || self.go_away_sent {
            return Err(YamuxError::GoAway);
        }
        if self.streams.len() >= self.config.max_streams {
            return Err(YamuxError::TooManyStreams);
        }
        if self.unacked_outbound >= self.config.max_pending_inbound {
            return Ok(None);
        }
        let id = self.next_id;
        self.next_id = id.checked_add(2).ok_or(YamuxError::TooManyStreams)?;
        let mut stream = Stream::new(true, now);
        let extra = self.config.initial_window.saturating_sub(DEFAULT_WINDOW);
        stream.recv_window += extra;
        stream.window_target += extra;
        self.streams.insert(id, stream);
        self.unacked_outbound += 1;
        self.send_header(FrameType::WindowUpdate, frame::SYN, id, extra);
        Ok(Some(id))
    }

    /// The next inbound stream; it is ACKed now.
    pub fn accept(&mut self) -> Option<u32> {
        while let Some(id) = self.pending_inbound.pop_front() {
            let Some(stream) = self.streams.get_mut(&id) else { continue };
            stream.unacked = false;
            let extra = self.config.initial_window.saturating_sub(DEFAULT_WINDOW);
            stream.recv_window += extra;
            stream.window_target += extra;
            self.send_header(FrameType::WindowUpdate, frame::ACK, id, extra);
            return Some(id);
        }
        None
    }

    /// Whether a stream awaits [`Connection::accept`].
    pub fn has_pending_inbound(&self) -> bool {
        !self.pending_inbound.is_empty()
    }

    /// Reads buffered data of stream `id` into `buf`.
    pub fn read(&mut self, id: u32, buf: &mut [u8], now: Instant) -> ReadOutcome {
        let error = self.error.is_some();
        let Some(stream) = self.streams.get_mut(&id) else { return ReadOutcome::Reset };
        if stream.buffered() > 0 && !buf.is_empty() {
            let n = buf.len().min(stream.buffered());
            buf[..n].copy_from_slice(&stream.recv[stream.recv_pos..stream.recv_pos + n]);
            stream.recv_pos += n;
            if stream.recv_pos == stream.recv.len() {
                stream.recv.clear();
                stream.recv_pos = 0;
            }
            self.grant_window(id, now);
            return ReadOutcome::Data(n);
        }
        if stream.reset {
            return ReadOutcome::Reset;
        }
        if stream.remote_closed {
            return ReadOutcome::Eof;
        }
        if error {
            return ReadOutcome::Reset;
        }
        ReadOutcome::WouldBlock
    }

    /// Sends a window update once half the target window is free again,
    /// doubling the target for streams read faster than a few round trips.
    fn grant_window(&mut self, id: u32, now: Instant) {
        let rtt = self.rtt;
        let max_window = self.config.max_window;
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if stream.remote_closed || stream.reset {
            return;
        }
        let in_flight = stream.recv_window as usize + stream.buffered();
        let free = (stream.window_target as usize).saturating_sub(in_flight);
        if free < stream.window_target as usize / 2 {
            return;
        }
        // A whole window consumed within ~4 RTTs: the reader keeps up, so a
        // larger window lets the sender fill the pipe.
        let fast = rtt.is_some_and(|rtt| now.saturating_duration_since(stream.epoch) < rtt * 4);
        let mut delta = free as u32;
        if fast && stream.window_target < max_window {
            let grown = stream.window_target.saturating_mul(2).min(max_window);
            delta += grown - stream.window_target;
            stream.window_target = grown;
        }
        stream.epoch = now;
        stream.recv_window += delta;
        self.send_header(FrameType::WindowUpdate, 0, id, delta);
    }

    /// Queues up to the remote's window of `data` on stream `id`.
    pub fn write(&mut self, id: u32, data: &[u8]) -> WriteOutcome {
        if self.error.is_some() {
            return WriteOutcome::Closed;
        }
        let Some(stream) = self.streams.get_mut(&id) else { return WriteOutcome::Closed };
        if stream.local_closed || stream.reset {
            return WriteOutcome::Closed;
        }
        if stream.send_window == 0 {
            return WriteOutcome::WouldBlock;
        }
        let n = data.len().min(stream.send_window as usize).min(MAX_FRAME_PAYLOAD);
        stream.send_window -= n as u32;
        Header { kind: FrameType::Data, flags: 0, stream_id: id, length: n as u32 }.encode(&mut self.output);
        self.output.extend_from_slice(&data[..n]);
        WriteOutcome::Written(n)
    }

    /// Half-closes stream `id` (FIN).
    pub fn close_write(&mut self, id: u32) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if stream.local_closed || stream.reset {
            return;
        }
        stream.local_closed = true;
        self.send_header(FrameType::WindowUpdate, frame::FIN, id, 0);
    }

    /// Resets stream `id` (RST).
    pub fn reset(&mut self, id: u32) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if stream.reset {
            return;
        }
        stream.reset = true;
        // The stream is abandoned in both directions: data that arrived
        // before it is not read any more (reads fail at once), so free it.
        stream.recv = Vec::new();
        stream.recv_pos = 0;
        self.send_header(FrameType::WindowUpdate, frame::RST, id, 0);
        self.touched.push(id);
    }

    /// Forgets stream `id` (its handle is gone). A stream whose write side is
    /// still open is reset so that the remote does not wait for more.
    pub fn drop_stream(&mut self, id: u32) {
        let Some(stream) = self.streams.get(&id) else { return };
        if !stream.local_closed && !stream.reset {
            self.reset(id);
        }
        if let Some(stream) = self.streams.remove(&id)
            && stream.outbound
            && stream.unacked
        {
            self.unacked_outbound = self.unacked_outbound.saturating_sub(1);
        }
    }

    /// Whether stream `id` may write now.
    pub fn can_write(&self, id: u32) -> bool {
        self.streams.get(&id).is_some_and(|s| s.send_window > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Connection, Connection, Instant) {
        let now = Instant::now();
        let mut a = Connection::new(Mode::Client, Config::default(), now);
        let mut b = Connection::new(Mode::Server, Config::default(), now);
        shuttle(&mut a, &mut b, now);
        (a, b, now)
    }

    /// Moves bytes both ways until quiet.
    fn shuttle(a: &mut Connection, b: &mut Connection, now: Instant) {
        for _ in 0..20 {
            let ab = a.take_output();
            let ba = b.take_output();
            if ab.is_empty() && ba.is_empty() {
                return;
            }
            let _ = b.handle_input(&ab, now);
            let _ = a.handle_input(&ba, now);
        }
    }

    #[test]
    fn open_accept_write_read_fin() {
        let (mut a, mut b, now) = pair();
        let id = a.open_stream(now).expect("open").expect("capacity");
        assert_eq!(id, 1);
        assert_eq!(a.write(id, b"hello"), WriteOutcome::Written(5));
        a.close_write(id);
        shuttle(&mut a, &mut b, now);
        assert_eq!(b.accept(), Some(1));
        let mut buf = [0u8; 16];
        assert_eq!(b.read(1, &mut buf, now), ReadOutcome::Data(5));
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(b.read(1, &mut buf, now), ReadOutcome::Eof);
        // Half-closed: b can still answer.
        assert_eq!(b.write(1, b"bye"), WriteOutcome::Written(3));
        shuttle(&mut a, &mut b, now);
        assert_eq!(a.read(id, &mut buf, now), ReadOutcome::Data(3));
        assert_eq!(a.write(id, b"more"), WriteOutcome::Closed);
        assert!(a.rtt().is_some() && b.rtt().is_some());
    }

    #[test]
    fn window_blocks_the_writer_until_the_reader_reads() {
        let (mut a, mut b, now) = pair();
        let id = a.open_stream(now).expect("open").expect("capacity");
        let chunk = vec![7u8; 64 * 1024];
        let mut sent = 0;
        while let WriteOutcome::Written(n) = a.write(id, &chunk) {
            sent += n;
        }
        assert_eq!(sent, DEFAULT_WINDOW as usize);
        shuttle(&mut a, &mut b, now);
        assert_eq!(b.accept(), Some(id));
        assert_eq!(a.write(id, &chunk), WriteOutcome::WouldBlock);
        let mut buf = vec![0u8; 200 * 1024];
        assert_eq!(b.read(id, &mut buf, now), ReadOutcome::Data(200 * 1024));
        shuttle(&mut a, &mut b, now);
        assert!(a.can_write(id));
    }

    #[test]
    fn data_beyond_the_window_is_a_protocol_error() {
        let (_, mut b, now) = pair();
        let mut bytes = Vec::new();
        Header { kind: FrameType::WindowUpdate, flags: frame::SYN, stream_id: 1, length: 0 }.encode(&mut bytes);
        let len = DEFAULT_WINDOW + 1;
        Header { kind: FrameType::Data, flags: 0, stream_id: 1, length: len }.encode(&mut bytes);
        bytes.extend(std::iter::repeat_n(0u8, len as usize));
        assert!(matches!(b.handle_input(&bytes, now), Err(YamuxError::Protocol(_))));
        let out = b.take_output();
        // GoAway with the protocol-error code is on its way.
        assert!(out.windows(4).any(|w| w == [0, 3, 0, 0]));
        assert!(b.open_stream(now).is_err());
    }

    #[test]
    fn huge_length_is_refused_before_buffering() {
        let (_, mut b, now) = pair();
        let mut bytes = Vec::new();
        Header { kind: FrameType::Data, flags: frame::SYN, stream_id: 1, length: u32::MAX }.encode(&mut bytes);
        assert!(matches!(b.handle_input(&bytes, now), Err(YamuxError::Protocol(_))));
    }

    #[test]
    fn the_257th_pending_inbound_stream_is_reset() {
        let (mut a, mut b, now) = pair();
        let mut bytes = Vec::new();
        for i in 0..257u32 {
            Header { kind: FrameType::WindowUpdate, flags: frame::SYN, stream_id: 2 * i + 1, length: 0 }
                .encode(&mut bytes);
        }
        b.handle_input(&bytes, now).expect("valid frames");
        let out = b.take_output();
        let rst = Header { kind: FrameType::WindowUpdate, flags: frame::RST, stream_id: 513, length: 0 };
        let mut expected = Vec::new();
        rst.encode(&mut expected);
        assert!(out.windows(12).any(|w| w == expected.as_slice()));
        assert_eq!(b.stream_count(), 256);
        let _ = a.take_output();
    }

    #[test]
    fn ack_backlog_bounds_outbound_opens() {
        let now = Instant::now();
        let mut a = Connection::new(Mode::Client, Config::default(), now);
        for _ in 0..256 {
            assert!(matches!(a.open_stream(now), Ok(Some(_))));
        }
        assert!(matches!(a.open_stream(now), Ok(None)));
    }

    #[test]
    fn reset_ping_and_goaway() {
        let (mut a, mut b, now) = pair();
        let id = a.open_stream(now).expect("open").expect("capacity");
        shuttle(&mut a, &mut b, now);
        assert_eq!(b.accept(), Some(id));
        a.reset(id);
        shuttle(&mut a, &mut b, now);
        let mut buf = [0u8; 4];
        assert_eq!(b.read(id, &mut buf, now), ReadOutcome::Reset);
        assert_eq!(b.write(id, b"x"), WriteOutcome::Closed);
        b.go_away(frame::GO_AWAY_NORMAL);
        shuttle(&mut a, &mut b, now);
        assert!(matches!(a.open_stream(now), Err(YamuxError::GoAway)));
    }

    #[test]
    fn a_local_reset_drops_buffered_data_and_fails_reads() {
        let (mut a, mut b, now) = pair();
        let id = a.open_stream(now).expect("open").expect("capacity");
        assert_eq!(a.write(id, b"echo"), WriteOutcome::Written(4));
        shuttle(&mut a, &mut b, now);
        assert_eq!(b.accept(), Some(id));
        assert_eq!(b.write(id, b"echo"), WriteOutcome::Written(4));
        shuttle(&mut a, &mut b, now);
        // "echo" waits in a's buffer; after a's own reset it is not returned.
        a.reset(id);
        let mut buf = [0u8; 8];
        assert_eq!(a.read(id, &mut buf, now), ReadOutcome::Reset);
    }

    #[test]
    fn wrong_parity_and_duplicate_syn_are_protocol_errors() {
        let (_, mut b, now) = pair();
        let mut bytes = Vec::new();
        Header { kind: FrameType::WindowUpdate, flags: frame::SYN, stream_id: 2, length: 0 }.encode(&mut bytes);
        assert!(b.handle_input(&bytes, now).is_err());
        let (_, mut b, now) = pair();
        let mut bytes = Vec::new();
        let syn = Header { kind: FrameType::WindowUpdate, flags: frame::SYN, stream_id: 1, length: 0 };
        syn.encode(&mut bytes);
        syn.encode(&mut bytes);
        assert!(b.handle_input(&bytes, now).is_err());
    }

    #[test]
    fn window_grows_for_a_fast_reader() {
        let (mut a, mut b, now) = pair();
        // The clock stands still, so every window is consumed "within 4 RTTs".
        b.rtt = Some(Duration::from_millis(10));
        let id = a.open_stream(now).expect("open").expect("capacity");
        let chunk = vec![1u8; 64 * 1024];
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..8 {
            while let WriteOutcome::Written(_) = a.write(id, &chunk) {}
            shuttle(&mut a, &mut b, now);
            let _ = b.accept();
            while let ReadOutcome::Data(_) = b.read(id, &mut buf, now) {}
            shuttle(&mut a, &mut b, now);
        }
        // Same instant throughout: every epoch is "fast", so the window grew.
        let target = b.streams.get(&id).map(|s| s.window_target).unwrap_or_default();
        assert!(target > DEFAULT_WINDOW, "{target}");
        assert!(target <= Config::default().max_window);
    }

    #[test]
    fn truncated_and_random_input_never_panics() {
        for bytes in crate::testutil::random_inputs(17, 3_000, 100) {
            let (_, mut b, now) = pair();
            let _ = b.handle_input(&bytes, now);
        }
    }
}
