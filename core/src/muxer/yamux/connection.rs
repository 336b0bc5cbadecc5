//! The yamux session as a state machine without I/O: received bytes go in
//! through [`Connection::handle_input`], bytes to send come out of
//! [`Connection::take_output`]; streams are read, written, closed and reset
//! by id. The caller passes `now` wherever time matters (window tuning, ping).
//!
//! # Bounds
//!
//! A remote peer must not be able to make one connection hold unbounded
//! memory, even one that writes frames and never reads its socket. So:
//!
//! - **Input** holds at most a partial 12-byte header. A Data frame is checked
//!   on its header against the stream's receive window (a longer one is a
//!   protocol error before any payload byte arrives), then its payload is
//!   copied into the stream as it arrives, or skipped by a counter when the
//!   stream is unknown, refused or reset.
//! - **Received data** is bounded per stream by its window, and per
//!   connection by [`Config::max_connection_receive_window`]: the sum of the
//!   live streams' window targets never exceeds it. An inbound stream that
//!   would pass it is refused with RST. Our own choices take at most half of
//!   it: a local stream waits ([`Connection::open_stream`] gives `Ok(None)`)
//!   and auto-tuning grows a window only while the targets stay within that
//!   half, so that streams the remote opens (it cannot know our budget) find
//!   room. With the defaults (64 MiB, 256 KiB windows) that is 256 streams a
//!   connection, 128 of them opened by us. A drained receive buffer over
//!   256 KiB gives its memory back, so an idle stream holds none.
//! - **Output** is bounded by [`Config::max_output_buffer`]. Our writers (and
//!   new local streams) stop at [`Connection::data_limit`], three quarters of
//!   it, and wait until the caller takes the output. The last quarter is kept
//!   for control frames (window updates, FIN, RST, GoAway) so that a session
//!   whose writers are blocked still reads its input: two peers that both
//!   write at full speed must not each stop reading because the other does.
//!   The caller stops reading input once the output reaches the full cap
//!   ([`Connection::input_paused`]), so frames the remote induces (RST for
//!   refused streams) can pass it by no more than one chunk of input causes.
//!   Pings never queue: one pong waits, the newest ping's, and is appended
//!   when the output is taken.

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
/// A drained receive buffer with more capacity than this is freed, so that
/// an idle stream does not keep a window's worth of memory.
const KEEP_RECV_CAPACITY: usize = DEFAULT_WINDOW as usize;
/// The smallest output cap: room for a few full Data frames, so that writes
/// make progress whatever the configuration.
const MIN_OUTPUT_BUFFER: usize = 4 * (MAX_FRAME_PAYLOAD + HEADER_LEN);

/// A stream's state.
#[derive(Debug)]
struct Stream {
    /// Received, not yet read: `recv[recv_pos..]`.
    recv: Vec<u8>,
    recv_pos: usize,
    /// Bytes the remote may still send us.
    recv_window: u32,
    /// The window we aim to keep open (grows for fast readers). The sum over
    /// all streams is bounded by `Config::max_connection_receive_window`.
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
    /// A write found the output full: the stream is woken when it is taken.
    waits_for_output: bool,
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
            waits_for_output: false,
        }
    }

    fn buffered(&self) -> usize {
        self.recv.len() - self.recv_pos
    }

    /// Appends received payload, compacting the buffer once half of it was read.
    fn push_recv(&mut self, payload: &[u8]) {
        if self.recv_pos > 0 && self.recv_pos * 2 >= self.recv.len() {
            self.recv.drain(..self.recv_pos);
            self.recv_pos = 0;
        }
        self.recv.extend_from_slice(payload);
    }
}

/// The payload of the Data frame being received: where its bytes go.
#[derive(Debug, Clone, Copy)]
struct Payload {
    /// The stream that takes the bytes; `None`: they are dropped.
    stream: Option<u32>,
    /// Bytes of the payload still to come.
    remaining: usize,
    /// FIN and RST of the frame, applied once the payload is in.
    flags: u16,
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
    /// The remote's window is full, or so is our output: the stream is
    /// touched (see [`Connection::take_touched`]) when it may try again.
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
    /// Sum of `window_target` over `streams`.
    reserved_window: usize,
    /// A partial frame header (fewer than 12 bytes).
    input: Vec<u8>,
    /// The Data frame whose payload is arriving.
    payload: Option<Payload>,
    output: Vec<u8>,
    /// The reply to the newest ping, sent with the next output taken.
    pending_pong: Option<u32>,
    /// Streams whose writes wait for the output to be taken.
    output_waiters: Vec<u32>,
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
    /// `config.max_connection_receive_window` is raised to `max_window` if
    /// lower, and `config.max_output_buffer` to room for a few Data frames.
    pub fn new(mode: Mode, mut config: Config, now: Instant) -> Connection {
        config.max_output_buffer = config.max_output_buffer.max(MIN_OUTPUT_BUFFER);
        config.max_connection_receive_window = config.max_connection_receive_window.max(config.max_window as usize);
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
            reserved_window: 0,
            input: Vec::new(),
            payload: None,
            output: Vec::new(),
            pending_pong: None,
            output_waiters: Vec::new(),
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
        // Once the session has ended nothing more is sent (the GoAway was queued first).
        if self.error.is_none() {
            Header { kind, flags, stream_id, length }.encode(&mut self.output);
        }
    }

    /// Moves what waited for the output to be taken into it (the pong) and
    /// out of it (the writers that may go on).
    fn before_take(&mut self) {
        if let Some(value) = self.pending_pong.take() {
            self.send_header(FrameType::Ping, frame::ACK, 0, value);
        }
        for id in self.output_waiters.drain(..) {
            if let Some(stream) = self.streams.get_mut(&id) {
                stream.waits_for_output = false;
                self.touched.push(id);
            }
        }
    }

    /// Bytes to send, taken out of the machine.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.before_take();
        std::mem::take(&mut self.output)
    }

    /// Swaps the bytes to send into `buf` (which must be empty), handing the
    /// machine `buf`'s allocation to fill next: no allocation per round.
    pub fn swap_output(&mut self, buf: &mut Vec<u8>) {
        self.before_take();
        buf.clear();
        std::mem::swap(buf, &mut self.output);
    }

    /// Whether there is anything to send.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty() || self.pending_pong.is_some()
    }

    /// Bytes queued to send (not yet taken).
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// How full the output may get from our writes and new local streams;
    /// the rest of `max_output_buffer` is kept for control frames.
    pub fn data_limit(&self) -> usize {
        self.config.max_output_buffer - self.config.max_output_buffer / 4
    }

    /// Whether the caller must stop feeding input until it takes the output:
    /// the output has reached `max_output_buffer`.
    pub fn input_paused(&self) -> bool {
        self.output.len() >= self.config.max_output_buffer
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

    /// Received bytes buffered over all streams, not yet read.
    pub fn buffered_input(&self) -> usize {
        self.streams.values().map(Stream::buffered).sum()
    }

    /// Ends the session: every stream fails from now on.
    pub fn fail(&mut self, error: YamuxError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
        self.input = Vec::new();
        self.payload = None;
        self.pending_pong = None;
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
    /// with the protocol-error code is queued) and is returned; so are all
    /// later calls, which ignore their bytes.
    ///
    /// The caller should feed no input while [`Connection::input_paused`].
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) -> Result<(), YamuxError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        match self.process(bytes, now) {
            Ok(()) => Ok(()),
            Err(YamuxError::Protocol(reason)) => Err(self.protocol_error(reason)),
            Err(e) => {
                self.fail(e.clone());
                Err(e)
            }
        }
    }

    /// Handles `bytes`: payload of the Data frame in progress, then headers,
    /// each acted on as soon as its 12 bytes are in.
    fn process(&mut self, mut bytes: &[u8], now: Instant) -> Result<(), YamuxError> {
        loop {
            if let Some(payload) = self.payload {
                let n = payload.remaining.min(bytes.len());
                self.take_payload(payload, &bytes[..n]);
                bytes = &bytes[n..];
                if self.payload.is_some() {
                    return Ok(()); // all of `bytes` went into the payload
                }
            }
            if bytes.is_empty() {
                return Ok(());
            }
            // The next header: from `bytes` directly, or completing a partial one.
            let header = if self.input.is_empty() && bytes.len() >= HEADER_LEN {
                let header = Header::decode(bytes)?;
                bytes = &bytes[HEADER_LEN..];
                header
            } else {
                let n = (HEADER_LEN - self.input.len()).min(bytes.len());
                self.input.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                let header = Header::decode(&self.input)?;
                if header.is_some() {
                    self.input.clear();
                }
                header
            };
            let Some(header) = header else { return Ok(()) };
            self.handle_header(header, now)?;
        }
    }

    /// Delivers `bytes` of the Data frame in progress (or drops them).
    fn take_payload(&mut self, mut payload: Payload, bytes: &[u8]) {
        // The stream may have been reset or dropped since the header came.
        if let Some(stream) = payload.stream.and_then(|id| self.streams.get_mut(&id))
            && !stream.reset
        {
            stream.push_recv(bytes);
        }
        payload.remaining -= bytes.len();
        if payload.remaining > 0 {
            self.payload = Some(payload);
            return;
        }
        self.payload = None;
        if let Some(id) = payload.stream {
            self.end_of_frame(id, payload.flags);
        }
    }

    fn handle_header(&mut self, header: Header, now: Instant) -> Result<(), YamuxError> {
        match header.kind {
            FrameType::Ping => {
                if header.flags & frame::SYN != 0 {
                    // One pong waits at most: a newer ping replaces it.
                    self.pending_pong = Some(header.length);
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
            FrameType::Data | FrameType::WindowUpdate => self.handle_stream_header(header, now),
        }
    }

    fn is_remote_id(&self, id: u32) -> bool {
        match self.mode {
            Mode::Client => id.is_multiple_of(2),
            Mode::Server => !id.is_multiple_of(2),
        }
    }

    fn handle_stream_header(&mut self, header: Header, now: Instant) -> Result<(), YamuxError> {
        let id = header.stream_id;
        if id == 0 {
            return Err(YamuxError::Protocol("stream frame on stream 0"));
        }
        let is_data = header.kind == FrameType::Data;
        if is_data && header.length > self.config.max_window {
            return Err(YamuxError::Protocol("data frame larger than any window"));
        }
        let known = header.flags & frame::SYN == 0 || self.accept_syn(id, now)?;
        let stream = if known { self.streams.get_mut(&id) } else { None };
        let Some(stream) = stream else {
            // Refused, or a stream we dropped: its payload is skipped as it
            // arrives, never buffered.
            if is_data && header.length > 0 {
                self.payload = Some(Payload { stream: None, remaining: header.length as usize, flags: 0 });
            }
            return Ok(());
        };
        if header.flags & frame::ACK != 0 && stream.outbound && stream.unacked {
            stream.unacked = false;
            self.unacked_outbound = self.unacked_outbound.saturating_sub(1);
        }
        if !is_data {
            // The maximum window is u32::MAX; a grant past it is a broken peer.
            stream.send_window = stream
                .send_window
                .checked_add(header.length)
                .ok_or(YamuxError::Protocol("window update past the maximum window"))?;
            self.end_of_frame(id, header.flags);
            return Ok(());
        }
        // Checked on the header: the payload must fit the receive window.
        if header.length > stream.recv_window {
            return Err(YamuxError::Protocol("data exceeds the receive window"));
        }
        stream.recv_window -= header.length;
        let keep = !stream.reset && !stream.remote_closed;
        if header.length == 0 {
            self.end_of_frame(id, header.flags);
        } else {
            let target = if keep { Some(id) } else { None };
            if !keep {
                // Data after FIN or RST is dropped, but its flags still count.
                self.end_of_frame(id, header.flags);
            }
            let flags = if keep { header.flags } else { 0 };
            self.payload = Some(Payload { stream: target, remaining: header.length as usize, flags });
        }
        Ok(())
    }

    /// Applies a frame's FIN and RST to stream `id`, whose state changed.
    fn end_of_frame(&mut self, id: u32, flags: u16) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if flags & frame::FIN != 0 {
            stream.remote_closed = true;
        }
        if flags & frame::RST != 0 {
            stream.reset = true;
        }
        self.touched.push(id);
    }

    /// Room left in the connection's receive budget.
    fn window_room(&self) -> usize {
        self.config.max_connection_receive_window.saturating_sub(self.reserved_window)
    }

    /// Room left in the half of the budget that our own choices may take
    /// (new local streams, auto-tuning). The other half is kept for streams
    /// the remote opens: it cannot know our budget, and a new stream it
    /// opens is refused when the budget is full.
    fn local_window_room(&self) -> usize {
        (self.config.max_connection_receive_window / 2).saturating_sub(self.reserved_window)
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
            || self.pending_inbound.len() >= self.config.max_pending_inbound
            || self.window_room() < DEFAULT_WINDOW as usize;
        if self.go_away_sent || full {
            self.send_header(FrameType::WindowUpdate, frame::RST, id, 0);
            return Ok(false);
        }
        self.streams.insert(id, Stream::new(false, now));
        self.reserved_window += DEFAULT_WINDOW as usize;
        self.pending_inbound.push_back(id);
        Ok(true)
    }

    // ---- streams ----

    /// Opens a stream. `Ok(None)` while 256 of our streams await the
    /// remote's ACK (try again after input), while the half of the receive
    /// budget kept for local streams has no room for its window (try again
    /// after a stream is dropped), or while
    /// the output is full (try again after it is taken).
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
        let window = self.config.initial_window.max(DEFAULT_WINDOW);
        if self.unacked_outbound >= self.config.max_pending_inbound
            || self.local_window_room() < window as usize
            || self.output.len() >= self.data_limit()
        {
            return Ok(None);
        }
        let id = self.next_id;
        self.next_id = id.checked_add(2).ok_or(YamuxError::TooManyStreams)?;
        let mut stream = Stream::new(true, now);
        let extra = window - DEFAULT_WINDOW;
        stream.recv_window += extra;
        stream.window_target += extra;
        self.streams.insert(id, stream);
        self.reserved_window += window as usize;
        self.unacked_outbound += 1;
        self.send_header(FrameType::WindowUpdate, frame::SYN, id, extra);
        Ok(Some(id))
    }

    /// The next inbound stream; it is ACKed now (with the initial window,
    /// as far as the receive budget allows).
    pub fn accept(&mut self) -> Option<u32> {
        if self.error.is_some() {
            return None;
        }
        while let Some(id) = self.pending_inbound.pop_front() {
            let room = self.window_room();
            let Some(stream) = self.streams.get_mut(&id) else { continue };
            stream.unacked = false;
            let extra = self.config.initial_window.saturating_sub(DEFAULT_WINDOW).min(room as u32);
            stream.recv_window += extra;
            stream.window_target += extra;
            self.reserved_window += extra as usize;
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
                stream.recv_pos = 0;
                if stream.recv.capacity() > KEEP_RECV_CAPACITY {
                    stream.recv = Vec::new();
                } else {
                    stream.recv.clear();
                }
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
    /// doubling the target for streams read faster than a few round trips
    /// (within the half of the receive budget local choices may take).
    fn grant_window(&mut self, id: u32, now: Instant) {
        let rtt = self.rtt;
        let max_window = self.config.max_window;
        let room = self.local_window_room();
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
            let growth = (grown - stream.window_target).min(room as u32);
            delta += growth;
            stream.window_target += growth;
            self.reserved_window += growth as usize;
        }
        stream.epoch = now;
        stream.recv_window += delta;
        self.send_header(FrameType::WindowUpdate, 0, id, delta);
    }

    /// Queues up to the remote's window of `data` on stream `id`, and no more
    /// than fits under the data limit of the output.
    pub fn write(&mut self, id: u32, data: &[u8]) -> WriteOutcome {
        if self.error.is_some() {
            return WriteOutcome::Closed;
        }
        let room = self.data_limit().saturating_sub(self.output.len());
        let Some(stream) = self.streams.get_mut(&id) else { return WriteOutcome::Closed };
        if stream.local_closed || stream.reset {
            return WriteOutcome::Closed;
        }
        if stream.send_window == 0 {
            return WriteOutcome::WouldBlock;
        }
        if room <= HEADER_LEN {
            if !stream.waits_for_output {
                stream.waits_for_output = true;
                self.output_waiters.push(id);
            }
            return WriteOutcome::WouldBlock;
        }
        let n = data.len().min(stream.send_window as usize).min(MAX_FRAME_PAYLOAD).min(room - HEADER_LEN);
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

    /// Forgets stream `id` (its handle is gone), giving its window back to
    /// the receive budget. A stream whose write side is still open is reset
    /// so that the remote does not wait for more.
    pub fn drop_stream(&mut self, id: u32) {
        let Some(stream) = self.streams.get(&id) else { return };
        if !stream.local_closed && !stream.reset {
            self.reset(id);
        }
        if let Some(stream) = self.streams.remove(&id) {
            self.reserved_window -= stream.window_target as usize;
            if stream.outbound && stream.unacked {
                self.unacked_outbound = self.unacked_outbound.saturating_sub(1);
            }
        }
    }

    /// Whether stream `id` may write now.
    pub fn can_write(&self, id: u32) -> bool {
        let room = self.data_limit().saturating_sub(self.output.len()) > HEADER_LEN;
        room && self.streams.get(&id).is_some_and(|s| s.send_window > 0)
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
        // A budget large enough that the ACK backlog is the limit.
        let config = Config { max_connection_receive_window: 1 << 30, ..Config::default() };
        let mut a = Connection::new(Mode::Client, config, now);
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

    fn encode(frames: &[Header]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for h in frames {
            h.encode(&mut bytes);
        }
        bytes
    }

    fn syn(id: u32) -> Header {
        Header { kind: FrameType::WindowUpdate, flags: frame::SYN, stream_id: id, length: 0 }
    }

    #[test]
    fn a_ping_flood_leaves_one_pong() {
        let (_, mut b, now) = pair();
        let pings: Vec<Header> = (0..100_000u32)
            .map(|i| Header { kind: FrameType::Ping, flags: frame::SYN, stream_id: 0, length: i })
            .collect();
        let bytes = encode(&pings);
        for chunk in bytes.chunks(64 * 1024) {
            b.handle_input(chunk, now).expect("valid pings");
        }
        // Never taken: one pong waits, carrying the newest value.
        assert!(b.output.len() <= HEADER_LEN, "{}", b.output.len());
        let out = b.take_output();
        let pong = Header { kind: FrameType::Ping, flags: frame::ACK, stream_id: 0, length: 99_999 };
        assert_eq!(out, encode(&[pong]));
    }

    #[test]
    fn a_huge_send_window_does_not_let_writes_grow_output() {
        let (mut a, mut b, now) = pair();
        let id = a.open_stream(now).expect("open").expect("capacity");
        shuttle(&mut a, &mut b, now);
        assert_eq!(b.accept(), Some(id));
        // The remote grants the maximum window: 2^32 - 1 in all.
        let grant =
            Header { kind: FrameType::WindowUpdate, flags: 0, stream_id: id, length: u32::MAX - DEFAULT_WINDOW };
        a.handle_input(&encode(&[grant]), now).expect("grant");
        let chunk = vec![3u8; 64 * 1024];
        let mut written = 0;
        let mut blocked = false;
        while written < 64 * 1024 * 1024 {
            match a.write(id, &chunk) {
                WriteOutcome::Written(n) => written += n,
                WriteOutcome::WouldBlock => {
                    blocked = true;
                    break;
                }
                WriteOutcome::Closed => panic!("closed"),
            }
        }
        assert!(blocked, "64 MiB queued without back-pressure");
        assert!(a.output.len() <= Config::default().max_output_buffer, "{}", a.output.len());
        // Once the output is taken, the writer may go on.
        let _ = a.take_output();
        assert!(matches!(a.write(id, &chunk), WriteOutcome::Written(_)));
    }

    #[test]
    fn a_window_update_past_the_maximum_window_is_a_protocol_error() {
        let (mut a, mut b, now) = pair();
        let id = a.open_stream(now).expect("open").expect("capacity");
        shuttle(&mut a, &mut b, now);
        assert_eq!(b.accept(), Some(id));
        let grant =
            Header { kind: FrameType::WindowUpdate, flags: 0, stream_id: id, length: u32::MAX - DEFAULT_WINDOW };
        a.handle_input(&encode(&[grant]), now).expect("up to the maximum");
        let one = Header { kind: FrameType::WindowUpdate, flags: 0, stream_id: id, length: 1 };
        assert!(matches!(a.handle_input(&encode(&[one]), now), Err(YamuxError::Protocol(_))));
        assert!(a.take_output().windows(12).any(|w| w[..2] == [0, 3] && w[8..] == [0, 0, 0, 1]));
    }

    #[test]
    fn advisory_frame_is_refused_on_its_header() {
        // GHSA-vxx9-2994-q338: SYN + Data on stream 1, one byte over the
        // new stream's 256 KiB window, sent as a header and then a trickle.
        let (_, mut b, now) = pair();
        let header = Header { kind: FrameType::Data, flags: frame::SYN, stream_id: 1, length: DEFAULT_WINDOW + 1 };
        assert!(matches!(b.handle_input(&encode(&[header]), now), Err(YamuxError::Protocol(_))));
        assert!(b.input.is_empty());
        assert!(b.handle_input(&[0u8; 1000], now).is_err());
        assert!(b.input.is_empty());
    }

    #[test]
    fn a_trickled_data_frame_is_never_held_in_input() {
        let (_, mut b, now) = pair();
        let header = Header { kind: FrameType::Data, flags: frame::SYN, stream_id: 1, length: DEFAULT_WINDOW };
        b.handle_input(&encode(&[header]), now).expect("header");
        for _ in 0..(DEFAULT_WINDOW / 1024) {
            b.handle_input(&[1u8; 1024], now).expect("payload");
            // At most a partial header waits in `input`; the payload went to the stream.
            assert!(b.input.len() < HEADER_LEN, "{}", b.input.len());
        }
        assert_eq!(b.accept(), Some(1));
        let mut buf = vec![0u8; DEFAULT_WINDOW as usize];
        assert_eq!(b.read(1, &mut buf, now), ReadOutcome::Data(DEFAULT_WINDOW as usize));
    }

    #[test]
    fn data_for_unknown_streams_is_skipped_not_buffered() {
        let (_, mut b, now) = pair();
        // Stream 7 was never opened: its 1 MiB payload is dropped as it arrives.
        let header = Header { kind: FrameType::Data, flags: 0, stream_id: 7, length: 1024 * 1024 };
        b.handle_input(&encode(&[header]), now).expect("header");
        for _ in 0..1024 {
            b.handle_input(&[2u8; 1024], now).expect("payload");
            assert!(b.input.len() < HEADER_LEN, "{}", b.input.len());
        }
        // The next frame is parsed normally.
        b.handle_input(&encode(&[syn(1)]), now).expect("syn");
        assert_eq!(b.accept(), Some(1));
    }

    /// Feeds `bytes` in chunks of `chunk` bytes as a driver does: never while
    /// the input is paused, never taking the output. Returns the bytes fed,
    /// checking after each chunk that the output stays within the cap plus
    /// what one chunk can cause (a 12-byte reply per 12-byte frame).
    fn feed_without_taking(conn: &mut Connection, bytes: &[u8], chunk: usize, now: Instant) -> usize {
        let mut fed = 0;
        for piece in bytes.chunks(chunk) {
            if conn.input_paused() {
                break;
            }
            conn.handle_input(piece, now).expect("valid frames");
            fed += piece.len();
            assert!(conn.output.len() <= conn.config.max_output_buffer + chunk, "{}", conn.output.len());
        }
        fed
    }

    /// A server whose stream 1 (opened by the peer, accepted) may send
    /// 2^32 - 1 bytes, and whose writer filled its output as far as allowed.
    fn server_with_full_output(config: Config) -> (Connection, Instant) {
        let now = Instant::now();
        let mut b = Connection::new(Mode::Server, config, now);
        let grant = Header { kind: FrameType::WindowUpdate, flags: 0, stream_id: 1, length: u32::MAX - DEFAULT_WINDOW };
        b.handle_input(&encode(&[syn(1), grant]), now).expect("valid frames");
        assert_eq!(b.accept(), Some(1));
        let chunk = vec![9u8; 64 * 1024];
        while let WriteOutcome::Written(_) = b.write(1, &chunk) {}
        assert!(b.output.len() <= b.data_limit());
        assert!(b.output.len() + 64 * 1024 > b.data_limit());
        (b, now)
    }

    #[test]
    fn a_syn_flood_while_not_reading_stops_input_at_the_cap() {
        let config = Config { max_output_buffer: 0, ..Config::default() }; // raised to the minimum
        let (mut b, now) = server_with_full_output(config);
        // 10k SYNs, all refused (the pending-inbound cap is far lower): each
        // asks for an RST. Fed 4 KiB at a time.
        let syns: Vec<Header> = (1..=10_000u32).map(|i| syn(2 * i + 1)).collect();
        let bytes = encode(&syns);
        let fed = feed_without_taking(&mut b, &bytes, 4096, now);
        assert!(b.input_paused());
        assert!(fed < bytes.len(), "the flood was read to the end");
        assert!(b.output.len() <= b.config.max_output_buffer + 4096);
        // The writer is blocked too until the output is taken.
        assert_eq!(b.write(1, b"x"), WriteOutcome::WouldBlock);
        let _ = b.take_output();
        assert!(b.take_touched().contains(&1), "the blocked writer is woken");
        assert!(!b.input_paused());
        assert!(matches!(b.write(1, b"x"), WriteOutcome::Written(1)));
    }

    #[test]
    fn a_ping_flood_on_a_full_output_adds_one_pong() {
        let (mut b, now) = server_with_full_output(Config::default());
        let before = b.output.len();
        let pings: Vec<Header> = (0..100_000u32)
            .map(|i| Header { kind: FrameType::Ping, flags: frame::SYN, stream_id: 0, length: i })
            .collect();
        let fed = feed_without_taking(&mut b, &encode(&pings), 64 * 1024, now);
        assert_eq!(fed, 1_200_000);
        assert_eq!(b.output.len(), before);
        assert_eq!(b.take_output().len(), before + HEADER_LEN);
    }

    #[test]
    fn receive_budget_bounds_what_streams_can_buffer() {
        let now = Instant::now();
        let mut b = Connection::new(Mode::Server, Config::default(), now);
        // The peer opens 400 streams and fills each window; we accept them
        // all but read none.
        let payload = vec![4u8; DEFAULT_WINDOW as usize];
        let mut refused = 0;
        for i in 0..400u32 {
            let id = 2 * i + 1;
            let mut bytes = encode(&[syn(id)]);
            Header { kind: FrameType::Data, flags: 0, stream_id: id, length: DEFAULT_WINDOW }.encode(&mut bytes);
            bytes.extend_from_slice(&payload);
            b.handle_input(&bytes, now).expect("valid frames");
            match b.accept() {
                Some(accepted) => assert_eq!(accepted, id),
                None => refused += 1,
            }
            assert!(b.buffered_input() <= b.config.max_connection_receive_window);
            assert!(b.reserved_window <= b.config.max_connection_receive_window);
        }
        assert_eq!(b.buffered_input(), 64 * 1024 * 1024);
        assert_eq!(refused, 400 - 256);
        let rst =
            encode(&[Header { kind: FrameType::WindowUpdate, flags: frame::RST, stream_id: 2 * 256 + 1, length: 0 }]);
        assert!(b.take_output().windows(12).any(|w| w == rst.as_slice()));
    }

    #[test]
    fn open_stream_waits_for_room_in_the_receive_budget() {
        let now = Instant::now();
        let config = Config { max_window: 1024 * 1024, max_connection_receive_window: 0, ..Config::default() };
        let a = Connection::new(Mode::Client, config.clone(), now);
        assert_eq!(a.config.max_connection_receive_window, 1024 * 1024, "raised to max_window");
        let config = Config { max_connection_receive_window: 2 * 1024 * 1024, ..config };
        let mut a = Connection::new(Mode::Client, config, now);
        // Our streams may take half of the 2 MiB budget: four of 256 KiB.
        let ids: Vec<u32> = (0..4).map(|_| a.open_stream(now).expect("open").expect("room")).collect();
        assert!(matches!(a.open_stream(now), Ok(None)));
        a.drop_stream(ids[0]);
        assert!(matches!(a.open_stream(now), Ok(Some(_))));
        assert!(matches!(a.open_stream(now), Ok(None)));
    }

    #[test]
    fn window_tuning_grows_only_within_the_receive_budget() {
        let (mut a, _, now) = pair();
        // 32 MiB: tuning may take half of it.
        let config = Config { max_connection_receive_window: 32 * 1024 * 1024, ..Config::default() };
        let mut b = Connection::new(Mode::Server, config, now);
        shuttle(&mut a, &mut b, now);
        b.rtt = Some(Duration::from_millis(10));
        let ids: Vec<u32> = (0..2).map(|_| a.open_stream(now).expect("open").expect("room")).collect();
        let chunk = vec![1u8; 64 * 1024];
        let mut buf = vec![0u8; 1 << 20];
        // Each round sends at most the writer's output limit (768 KiB).
        for _ in 0..64 {
            for &id in &ids {
                while let WriteOutcome::Written(_) = a.write(id, &chunk) {}
            }
            shuttle(&mut a, &mut b, now);
            while b.accept().is_some() {}
            for &id in &ids {
                while let ReadOutcome::Data(_) = b.read(id, &mut buf, now) {}
            }
            shuttle(&mut a, &mut b, now);
        }
        let targets: usize = b.streams.values().map(|s| s.window_target as usize).sum();
        assert!(targets <= 16 * 1024 * 1024, "{targets}");
        assert!(targets > 8 * 1024 * 1024, "the windows grew: {targets}");
        // No room is left in our half for a third stream's window, but the
        // remote's half still takes its new stream.
        assert!(matches!(b.open_stream(now), Ok(None)), "{targets}");
        let id = a.open_stream(now).expect("open").expect("room");
        shuttle(&mut a, &mut b, now);
        assert_eq!(b.accept(), Some(id));
    }

    #[test]
    fn a_drained_large_receive_buffer_is_freed() {
        let (mut a, _, now) = pair();
        let config = Config { initial_window: 1024 * 1024, ..Config::default() };
        let mut b = Connection::new(Mode::Server, config, now);
        shuttle(&mut a, &mut b, now);
        let id = a.open_stream(now).expect("open").expect("room");
        shuttle(&mut a, &mut b, now);
        assert_eq!(b.accept(), Some(id));
        shuttle(&mut a, &mut b, now);
        let chunk = vec![1u8; 64 * 1024];
        // Our output's data limit takes a few rounds to send the window.
        while a.can_write(id) {
            while let WriteOutcome::Written(_) = a.write(id, &chunk) {}
            shuttle(&mut a, &mut b, now);
        }
        let capacity = |b: &Connection| b.streams.get(&id).map(|s| s.recv.capacity()).unwrap_or_default();
        assert!(capacity(&b) >= 1024 * 1024);
        let mut buf = vec![0u8; 2 * 1024 * 1024];
        assert_eq!(b.read(id, &mut buf, now), ReadOutcome::Data(1024 * 1024));
        assert_eq!(capacity(&b), 0);
    }

    #[test]
    fn input_after_an_error_is_ignored_and_not_kept() {
        let (_, mut b, now) = pair();
        let mut bytes = vec![9u8; 12];
        bytes.extend_from_slice(&[0u8; 5000]);
        assert!(b.handle_input(&bytes, now).is_err());
        assert!(b.handle_input(&[0u8; 5000], now).is_err());
        assert!(b.input.is_empty() && b.payload.is_none());
        // Nothing more is queued once the GoAway is.
        let out = b.take_output();
        assert!(out.ends_with(&[0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), "{out:?}");
        b.reset(1);
        b.go_away(frame::GO_AWAY_NORMAL);
        assert!(!b.has_output());
    }

    #[test]
    fn a_reset_during_a_payload_drops_the_rest_of_it() {
        let (mut a, mut b, now) = pair();
        let id = a.open_stream(now).expect("open").expect("room");
        shuttle(&mut a, &mut b, now);
        assert_eq!(b.accept(), Some(id));
        assert_eq!(a.write(id, &[5u8; 1000]), WriteOutcome::Written(1000));
        let frame = a.take_output();
        b.handle_input(&frame[..500], now).expect("first half");
        b.reset(id);
        b.handle_input(&frame[500..], now).expect("second half");
        let mut buf = [0u8; 1000];
        assert_eq!(b.read(id, &mut buf, now), ReadOutcome::Reset);
    }

    #[test]
    fn truncated_and_random_input_never_panics() {
        for bytes in crate::testutil::random_inputs(17, 3_000, 100) {
            let (_, mut b, now) = pair();
            let _ = b.handle_input(&bytes, now);
        }
    }
}
