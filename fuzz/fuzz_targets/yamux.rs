#![no_main]
//! The yamux session machine driven by an arbitrary sequence of
//! operations: remote bytes (raw, or as well-formed frames), and the local
//! calls a node makes (open, accept, read, write, close, reset, drop, take
//! the output, time passing). No panic, and the stream limit holds.

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lp2p::muxer::yamux::connection::Connection;
use lp2p::muxer::yamux::frame::{FrameType, Header};
use lp2p::muxer::yamux::{Config, Mode};

#[derive(Arbitrary, Debug)]
enum Op {
    /// Raw bytes from the remote.
    Input(Vec<u8>),
    /// A well-formed frame from the remote, with `payload` bytes after it.
    Frame {
        kind: u8,
        flags: u8,
        stream: u8,
        length: u32,
        payload: u16,
    },
    Open,
    Accept,
    Read {
        stream: u8,
        len: u16,
    },
    Write {
        stream: u8,
        len: u16,
    },
    Close(u8),
    Reset(u8),
    Drop(u8),
    TakeOutput,
    Advance(u16),
    GoAway(u32),
}

#[derive(Arbitrary, Debug)]
struct Input {
    server: bool,
    small: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let mode = if input.server { Mode::Server } else { Mode::Client };
    let config = if input.small {
        Config { max_streams: 4, max_pending_inbound: 2, ..Config::default() }
    } else {
        Config::default()
    };
    let start = Instant::now();
    let mut now = start;
    let mut conn = Connection::new(mode, config.clone(), now);
    // Stream ids the test knows: opened or accepted (indexes pick among them).
    let mut ids: Vec<u32> = Vec::new();
    let pick = |ids: &[u32], i: u8| if ids.is_empty() { u32::from(i) } else { ids[usize::from(i) % ids.len()] };
    let mut buf = vec![0u8; 65536];
    let data = vec![0x5a_u8; 65536];
    for op in input.ops {
        match op {
            Op::Input(bytes) => {
                let _ = conn.handle_input(&bytes, now);
            }
            Op::Frame { kind, flags, stream, length, payload } => {
                let kind = match kind % 4 {
                    0 => FrameType::Data,
                    1 => FrameType::WindowUpdate,
                    2 => FrameType::Ping,
                    _ => FrameType::GoAway,
                };
                let mut bytes = Vec::new();
                let stream_id =
                    if kind == FrameType::Ping || kind == FrameType::GoAway { 0 } else { u32::from(stream) };
                let length = if kind == FrameType::Data { u32::from(payload) } else { length };
                Header { kind, flags: u16::from(flags & 0x0f), stream_id, length }.encode(&mut bytes);
                if kind == FrameType::Data {
                    bytes.resize(bytes.len() + usize::from(payload), 0xa5);
                }
                let _ = conn.handle_input(&bytes, now);
            }
            Op::Open => {
                if let Ok(Some(id)) = conn.open_stream(now) {
                    ids.push(id);
                }
            }
            Op::Accept => {
                if let Some(id) = conn.accept() {
                    ids.push(id);
                }
            }
            Op::Read { stream, len } => {
                let len = usize::from(len).min(buf.len());
                let _ = conn.read(pick(&ids, stream), &mut buf[..len], now);
            }
            Op::Write { stream, len } => {
                let _ = conn.write(pick(&ids, stream), &data[..usize::from(len)]);
            }
            Op::Close(stream) => conn.close_write(pick(&ids, stream)),
            Op::Reset(stream) => conn.reset(pick(&ids, stream)),
            Op::Drop(stream) => {
                let id = pick(&ids, stream);
                conn.drop_stream(id);
                ids.retain(|i| *i != id);
            }
            Op::TakeOutput => {
                let _ = conn.take_output();
            }
            Op::Advance(ms) => now += Duration::from_millis(u64::from(ms)),
            Op::GoAway(code) => conn.go_away(code),
        }
        assert!(conn.stream_count() <= config.max_streams + config.max_pending_inbound, "{}", conn.stream_count());
        let _ = conn.take_touched();
    }
});
