//! Streams, callback-driven.
//!
//! Each `lp2p_stream` has one driver task on its node's runtime that owns the
//! Rust [`Stream`]: it writes the queued buffers, reads while reading is
//! active (and stops reading while paused, so that the muxer's window closes
//! and the remote's writes stall), and runs the C callbacks.
//!
//! Two locks per stream, always taken in this order: `gate` (a reentrant
//! mutex held while any callback of the stream runs, so that
//! `lp2p_stream_free` can wait for a running callback and no callback runs
//! after it returns, while a callback may still call functions on its own
//! stream) and `state` (short critical sections, never held across a callback).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ffi::{CString, c_char, c_void};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use lp2p_core::Stream;
use parking_lot::{Mutex, ReentrantMutex};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::runtime::Handle;

use crate::args::{arg_bytes, arg_ref, check_out, to_cstring, write_out};
use crate::error::{FfiError, FfiResult, ffi_boundary, io_status, lp2p_status};

/// Receives bytes read from a stream. `data` is borrowed: valid only during
/// the call (copy what you keep). Runs on an engine thread.
pub type lp2p_stream_data_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, data: *const u8, len: usize)>;

/// Tells that reading ended: `LP2P_STATUS_OK` for a clean end of stream (the
/// remote closed its write side), otherwise why it failed
/// (`LP2P_STATUS_STREAM_RESET`, `LP2P_STATUS_IO`, `LP2P_STATUS_SHUTDOWN`...).
/// Runs at most once, on an engine thread (or in `lp2p_node_free`).
pub type lp2p_stream_end_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, status: lp2p_status)>;

/// Tells that a write (or a close) finished: `LP2P_STATUS_OK` once the bytes
/// were handed to the muxer, otherwise why not (`LP2P_STATUS_STREAM_RESET`,
/// `LP2P_STATUS_STREAM_CLOSED` when the stream was freed first,
/// `LP2P_STATUS_SHUTDOWN`...). Runs exactly once for each accepted call.
///
/// Which call it belongs to: `userdata` is the one passed to that
/// `lp2p_stream_write` / `lp2p_stream_close_write` call (a per-call tag if you
/// need one), and one stream's completions run in the order the calls were
/// accepted (the close's last), on success and on failure alike. So the n-th
/// completion of a stream is its n-th accepted write.
pub type lp2p_complete_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, status: lp2p_status)>;

/// Releases a userdata pointer that lp2p kept. Runs exactly once, after the
/// last callback that receives that userdata has returned.
pub type lp2p_finalizer = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// At most this many bytes wait in a stream's write queue; past it
/// `lp2p_stream_write` returns `LP2P_STATUS_WOULD_BLOCK`.
pub const LP2P_STREAM_MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// Bytes read per `on_data` call at most.
const READ_CHUNK: usize = 64 * 1024;

/// Rounds of work one poll of a driver does before yielding to other tasks.
const POLL_BUDGET: usize = 32;

/// A C pointer handed back to C callbacks. lp2p never dereferences it.
#[derive(Clone, Copy)]
pub(crate) struct Userdata(pub(crate) *mut c_void);
// SAFETY: lp2p only passes the pointer back to the C callbacks, which the
// header documents as running on engine threads, possibly concurrently.
unsafe impl Send for Userdata {}
// SAFETY: as above.
unsafe impl Sync for Userdata {}

/// Runs a finalizer once when dropped.
pub(crate) struct Finalizer {
    pub(crate) finalizer: lp2p_finalizer,
    pub(crate) userdata: Userdata,
}

impl Drop for Finalizer {
    fn drop(&mut self) {
        if let Some(f) = self.finalizer.take() {
            // SAFETY: a C function pointer given by the caller, with its own userdata.
            unsafe { f(self.userdata.0) }
        }
    }
}

/// A completion callback with its userdata; called at most once.
struct Completion {
    callback: lp2p_complete_callback,
    userdata: Userdata,
}

impl Completion {
    fn call(self, status: lp2p_status) {
        if let Some(f) = self.callback {
            // SAFETY: a C function pointer given by the caller, with its own userdata.
            unsafe { f(self.userdata.0, status) }
        }
    }
}

struct Reader {
    on_data: unsafe extern "C" fn(*mut c_void, *const u8, usize),
    on_end: lp2p_stream_end_callback,
    userdata: Userdata,
    /// Dropped (finalizer run) when reading is over.
    _finalizer: Finalizer,
}

#[derive(Default)]
struct Gate {
    reader: Option<Reader>,
}

struct PendingWrite {
    data: Vec<u8>,
    written: usize,
    done: Option<Completion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// `lp2p_stream_start_reading` not called yet.
    Idle,
    Active,
    Paused,
    /// End of stream or error delivered (or the stream was freed).
    Done,
}

enum WriteSide {
    Open,
    /// `close_write` called; the FIN goes out once the queue is empty.
    Closing(Option<Completion>),
    /// FIN sent, or the write side failed.
    Closed,
}

struct State {
    writes: VecDeque<PendingWrite>,
    queued: usize,
    /// Finished writes and closes whose callbacks are still to run.
    completions: VecDeque<(Completion, lp2p_status)>,
    write_side: WriteSide,
    /// Why writes now fail, once the stream broke or was reset.
    write_error: Option<lp2p_status>,
    read: ReadState,
    /// An end-of-reading status to deliver (set by a reset).
    read_end: Option<lp2p_status>,
    reset_requested: bool,
    reset_done: bool,
    /// The C handle was freed: run no callback any more.
    freed: bool,
    /// The node was freed: the driver is gone, every call fails with SHUTDOWN.
    node_gone: bool,
    waker: Option<Waker>,
}

impl State {
    fn wake(&mut self) -> Option<Waker> {
        self.waker.take()
    }
}

/// What a stream's handle and its driver share.
pub(crate) struct StreamShared {
    id: u64,
    registry: Arc<StreamRegistry>,
    gate: ReentrantMutex<RefCell<Gate>>,
    state: Mutex<State>,
}

impl Drop for StreamShared {
    fn drop(&mut self) {
        self.registry.streams.lock().remove(&self.id);
    }
}

/// The live streams of one node, so that freeing the node can end them.
#[derive(Default)]
pub(crate) struct StreamRegistry {
    streams: Mutex<HashMap<u64, Weak<StreamShared>>>,
    next_id: AtomicU64,
    /// Set when the node is being freed.
    pub(crate) closed: AtomicBool,
}

impl StreamRegistry {
    /// Ends every live stream after the node's runtime is gone: pending
    /// callbacks get `status`, finalizers run. Called by `lp2p_node_free`.
    pub(crate) fn abort_all(&self, status: lp2p_status) {
        let live: Vec<Arc<StreamShared>> = self.streams.lock().values().filter_map(Weak::upgrade).collect();
        for shared in live {
            shared.abort(status);
        }
    }
}

/// A stream to a peer, for one protocol. Made by `lp2p_node_new_stream` or
/// handed to a stream handler; the owner frees it with `lp2p_stream_free`.
///
/// The functions on one stream may be called from any thread, also from
/// inside this stream's own callbacks.
///
/// A stream's callbacks (`on_data`, `on_end`, the reader's finalizer, every
/// write's and the close's `on_complete`) run one at a time, never two at
/// once, and all of them from the stream's one driver task. While one of them
/// blocks, no other callback of that stream runs, its writes and reads stop
/// moving, and the engine thread it occupies serves nothing else; other
/// streams go on. `lp2p_stream_free` (and `lp2p_node_free`) wait for a
/// running callback of the stream and then run the callbacks still owed on
/// the calling thread. No other `lp2p_stream_*` function runs a callback
/// before it returns. The stream handler that received the stream is not one
/// of its callbacks: once it calls `lp2p_stream_start_reading`, `on_data` may
/// run on another engine thread before the handler returns.
pub struct lp2p_stream {
    shared: Arc<StreamShared>,
    peer: CString,
    protocol: CString,
}

impl lp2p_stream {
    /// Wraps `stream` and starts its driver on `handle`.
    pub(crate) fn spawn(stream: Stream, registry: &Arc<StreamRegistry>, handle: &Handle) -> Box<lp2p_stream> {
        let id = registry.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(StreamShared {
            id,
            registry: Arc::clone(registry),
            gate: ReentrantMutex::new(RefCell::new(Gate::default())),
            state: Mutex::new(State {
                writes: VecDeque::new(),
                queued: 0,
                completions: VecDeque::new(),
                write_side: WriteSide::Open,
                write_error: None,
                read: ReadState::Idle,
                read_end: None,
                reset_requested: false,
                reset_done: false,
                freed: false,
                node_gone: false,
                waker: None,
            }),
        });
        registry.streams.lock().insert(id, Arc::downgrade(&shared));
        let peer = to_cstring(&stream.peer().to_string());
        let protocol = to_cstring(stream.protocol());
        let driver =
            Driver { stream, shared: Arc::clone(&shared), buf: vec![0; READ_CHUNK].into_boxed_slice(), pending: None };
        handle.spawn(driver);
        Box::new(lp2p_stream { shared, peer, protocol })
    }
}

impl StreamShared {
    /// Runs `f` on the state, then wakes the driver if `f` asks to.
    fn update<T>(&self, f: impl FnOnce(&mut State) -> FfiResult<(T, bool)>) -> FfiResult<T> {
        let (value, waker) = {
            let mut st = self.state.lock();
            if st.node_gone || self.registry.closed.load(Ordering::Acquire) {
                return Err(FfiError::new(lp2p_status::Shutdown, "the stream's node is shut down"));
            }
            let (value, wake) = f(&mut st)?;
            (value, if wake { st.wake() } else { None })
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(value)
    }

    /// Ends the stream's callbacks for good because its node is gone.
    fn abort(&self, status: lp2p_status) {
        let gate = self.gate.lock();
        let (calls, deliver_end) = {
            let mut st = self.state.lock();
            st.node_gone = true;
            let calls = take_callbacks(&mut st, status);
            let deliver_end = matches!(st.read, ReadState::Active | ReadState::Paused) && !st.freed;
            st.read = ReadState::Done;
            (calls, deliver_end)
        };
        for (completion, status) in calls {
            completion.call(status);
        }
        let end = gate.borrow().reader.as_ref().map(|r| (r.on_end, r.userdata));
        if deliver_end && let Some((Some(on_end), userdata)) = end {
            // SAFETY: C callback with its own userdata.
            unsafe { on_end(userdata.0, status) };
        }
        let reader = gate.borrow_mut().reader.take();
        drop(reader);
    }
}

/// Takes every callback still owed: finished ones keep their status, pending
/// writes and a pending close get `status`.
fn take_callbacks(st: &mut State, status: lp2p_status) -> Vec<(Completion, lp2p_status)> {
    let mut calls: Vec<(Completion, lp2p_status)> = st.completions.drain(..).collect();
    for w in st.writes.iter_mut() {
        if let Some(done) = w.done.take() {
            calls.push((done, status));
        }
    }
    if let WriteSide::Closing(done) = &mut st.write_side
        && let Some(done) = done.take()
    {
        calls.push((done, status));
    }
    calls
}

/// Fails every queued write and a pending close with `status`.
fn fail_writes(st: &mut State, status: lp2p_status) {
    while let Some(w) = st.writes.pop_front() {
        if let Some(done) = w.done {
            st.completions.push_back((done, status));
        }
    }
    st.queued = 0;
    if let WriteSide::Closing(done) = std::mem::replace(&mut st.write_side, WriteSide::Closed)
        && let Some(done) = done
    {
        st.completions.push_back((done, status));
    }
    st.write_side = WriteSide::Closed;
    st.write_error.get_or_insert(status);
}

/// The task that owns a stream.
struct Driver {
    stream: Stream,
    shared: Arc<StreamShared>,
    buf: Box<[u8]>,
    /// Bytes read into `buf` and not yet delivered (reading got paused).
    pending: Option<usize>,
}

impl Driver {
    /// Writes, flushes, closes and resets as the state asks. Returns whether
    /// anything changed.
    fn drive_writes(&mut self, cx: &mut Context<'_>, st: &mut State) -> bool {
        let mut progress = false;
        if st.reset_requested && !st.reset_done {
            self.stream.reset();
            st.reset_done = true;
            fail_writes(st, lp2p_status::StreamReset);
            if matches!(st.read, ReadState::Active | ReadState::Paused) {
                st.read_end = Some(lp2p_status::StreamReset);
            } else if st.read == ReadState::Idle {
                st.read = ReadState::Done;
            }
            self.pending = None;
            return true;
        }
        if st.reset_done {
            return false;
        }
        let mut wrote = false;
        while let Some(w) = st.writes.front_mut() {
            let rest = w.data.get(w.written..).unwrap_or_default();
            if rest.is_empty() {
                // An empty write: nothing to hand to the muxer.
                if let Some(w) = st.writes.pop_front()
                    && let Some(done) = w.done
                {
                    st.completions.push_back((done, lp2p_status::Ok));
                }
                progress = true;
                continue;
            }
            match Pin::new(&mut self.stream).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => {
                    fail_writes(st, lp2p_status::StreamClosed);
                    return true;
                }
                Poll::Ready(Ok(n)) => {
                    progress = true;
                    wrote = true;
                    w.written += n;
                    st.queued = st.queued.saturating_sub(n);
                    if w.written >= w.data.len()
                        && let Some(w) = st.writes.pop_front()
                        && let Some(done) = w.done
                    {
                        st.completions.push_back((done, lp2p_status::Ok));
                    }
                }
                Poll::Ready(Err(e)) => {
                    fail_writes(st, io_status(&e));
                    return true;
                }
                Poll::Pending => break,
            }
        }
        if wrote && let Poll::Ready(Err(e)) = Pin::new(&mut self.stream).poll_flush(cx) {
            fail_writes(st, io_status(&e));
            return true;
        }
        if st.writes.is_empty() && matches!(st.write_side, WriteSide::Closing(_)) {
            match Pin::new(&mut self.stream).poll_shutdown(cx) {
                Poll::Ready(result) => {
                    let status = match result {
                        Ok(()) => lp2p_status::Ok,
                        Err(e) => io_status(&e),
                    };
                    if let WriteSide::Closing(Some(done)) = std::mem::replace(&mut st.write_side, WriteSide::Closed) {
                        st.completions.push_back((done, status));
                    }
                    if status != lp2p_status::Ok {
                        st.write_error.get_or_insert(status);
                    } else {
                        st.write_error.get_or_insert(lp2p_status::StreamClosed);
                    }
                    progress = true;
                }
                Poll::Pending => {}
            }
        }
        progress
    }

    /// Runs the finished writes' callbacks, under the gate.
    fn deliver_completions(&self) {
        let _gate = self.shared.gate.lock();
        loop {
            let next = {
                let mut st = self.shared.state.lock();
                if st.freed || st.node_gone {
                    return;
                }
                st.completions.pop_front()
            };
            match next {
                Some((completion, status)) => completion.call(status),
                None => return,
            }
        }
    }

    /// Delivers `len` bytes of `buf` if reading is active. Returns whether the
    /// bytes are consumed (delivered or dropped because the stream is freed).
    fn deliver_data(&self, len: usize) -> bool {
        let gate = self.shared.gate.lock();
        {
            let st = self.shared.state.lock();
            if st.freed || st.node_gone {
                return true;
            }
            if st.read != ReadState::Active {
                return false;
            }
        }
        let reader = gate.borrow().reader.as_ref().map(|r| (r.on_data, r.userdata));
        if let Some((on_data, userdata)) = reader {
            let data = self.buf.get(..len).unwrap_or_default();
            // SAFETY: C callback with its own userdata; data is valid during the call.
            unsafe { on_data(userdata.0, data.as_ptr(), data.len()) };
        }
        true
    }

    /// Delivers the end of reading, then runs the reader's finalizer.
    fn deliver_end(&self, status: lp2p_status) {
        let gate = self.shared.gate.lock();
        {
            let mut st = self.shared.state.lock();
            let was_reading = matches!(st.read, ReadState::Active | ReadState::Paused);
            st.read = ReadState::Done;
            if st.freed || st.node_gone || !was_reading {
                return;
            }
        }
        let end = gate.borrow().reader.as_ref().map(|r| (r.on_end, r.userdata));
        if let Some((Some(on_end), userdata)) = end {
            // SAFETY: C callback with its own userdata.
            unsafe { on_end(userdata.0, status) };
        }
        let reader = gate.borrow_mut().reader.take();
        drop(reader);
    }

    /// Reads once if reading is active. Returns whether anything changed.
    fn drive_read(&mut self, cx: &mut Context<'_>, read: ReadState) -> bool {
        if read != ReadState::Active {
            return false;
        }
        if self.pending.is_none() {
            let mut rb = ReadBuf::new(&mut self.buf);
            match Pin::new(&mut self.stream).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        self.deliver_end(lp2p_status::Ok);
                        return true;
                    }
                    self.pending = Some(n);
                }
                Poll::Ready(Err(e)) => {
                    self.deliver_end(io_status(&e));
                    return true;
                }
                Poll::Pending => return false,
            }
        }
        match self.pending {
            Some(n) if self.deliver_data(n) => {
                self.pending = None;
                true
            }
            _ => false,
        }
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        for _ in 0..POLL_BUDGET {
            let (mut progress, read, read_end, completions) = {
                let shared = Arc::clone(&this.shared);
                let mut st = shared.state.lock();
                if st.node_gone {
                    return Poll::Ready(());
                }
                if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    st.waker = Some(cx.waker().clone());
                }
                let progress = this.drive_writes(cx, &mut st);
                (progress, st.read, st.read_end.take(), !st.completions.is_empty())
            };
            if completions {
                this.deliver_completions();
            }
            if let Some(status) = read_end {
                this.deliver_end(status);
                progress = true;
            } else {
                progress |= this.drive_read(cx, read);
            }
            {
                let st = this.shared.state.lock();
                let writes_done = st.writes.is_empty() && !matches!(st.write_side, WriteSide::Closing(_));
                if st.freed && writes_done {
                    if matches!(st.write_side, WriteSide::Open) && !st.reset_done {
                        drop(st);
                        this.stream.reset();
                    }
                    return Poll::Ready(());
                }
                let finished = st.reset_done
                    || (st.read == ReadState::Done
                        && matches!(st.write_side, WriteSide::Closed)
                        && st.writes.is_empty());
                if finished && st.completions.is_empty() && st.read_end.is_none() {
                    return Poll::Ready(());
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
        // Out of budget: let other tasks run, then carry on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

// ---- exported functions ----

/// The remote peer's ID (base58). Borrowed from `stream`: valid until
/// `lp2p_stream_free`. NULL when `stream` is NULL.
///
/// - `stream`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_stream_peer_id(stream: *const lp2p_stream) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: a non-NULL stream comes from this library.
        let stream = unsafe { arg_ref(stream, "stream") }?;
        Ok(stream.peer.as_ptr())
    })
}

/// The negotiated protocol. Borrowed from `stream`: valid until
/// `lp2p_stream_free`. NULL when `stream` is NULL.
///
/// - `stream`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_stream_protocol(stream: *const lp2p_stream) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        // SAFETY: a non-NULL stream comes from this library.
        let stream = unsafe { arg_ref(stream, "stream") }?;
        Ok(stream.protocol.as_ptr())
    })
}

/// Starts delivering the stream's bytes to `on_data`, then its end to
/// `on_end`. Call it once per stream.
///
/// - `stream`: borrowed.
/// - `on_data`: required; called on an engine thread for each chunk read, one
///   call at a time per stream, in order. `data` is valid only during the call.
/// - `on_end`: may be NULL; called at most once when reading ends (status
///   `LP2P_STATUS_OK` for a clean end of stream). No `on_data` follows it.
/// - `userdata`: passed to both callbacks and to `finalizer`; lp2p keeps it.
/// - `finalizer`: may be NULL; called exactly once with `userdata` after the
///   last `on_data`/`on_end` call: right after `on_end`, or inside
///   `lp2p_stream_free` / `lp2p_node_free` if reading has not ended by then.
///
/// Returns `LP2P_STATUS_INVALID_ARGUMENT` if reading was already started; on
/// any failure `finalizer` is not called and lp2p keeps nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_stream_start_reading(
    stream: *const lp2p_stream,
    on_data: lp2p_stream_data_callback,
    on_end: lp2p_stream_end_callback,
    userdata: *mut c_void,
    finalizer: lp2p_finalizer,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL stream comes from this library.
        let stream = unsafe { arg_ref(stream, "stream") }?;
        let on_data = on_data.ok_or_else(|| FfiError::new(lp2p_status::NullArgument, "`on_data` is NULL"))?;
        let shared = &stream.shared;
        let gate = shared.gate.lock();
        shared.update(|st| {
            if st.read != ReadState::Idle {
                return Err(FfiError::new(lp2p_status::InvalidArgument, "reading was already started on this stream"));
            }
            st.read = ReadState::Active;
            Ok(((), true))
        })?;
        let userdata = Userdata(userdata);
        gate.borrow_mut().reader =
            Some(Reader { on_data, on_end, userdata, _finalizer: Finalizer { finalizer, userdata } });
        Ok(())
    })
}

/// Stops reading: no `on_data` call starts after this returns when called
/// from the stream's own callback; called from another thread, one call
/// already under way may still finish. Unread bytes stay in the muxer, whose
/// window then fills, and the remote's writes wait: back-pressure.
///
/// - `stream`: borrowed.
///
/// Returns `LP2P_STATUS_INVALID_ARGUMENT` if reading was never started.
/// Pausing a paused or ended stream does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_stream_pause(stream: *const lp2p_stream) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL stream comes from this library.
        let stream = unsafe { arg_ref(stream, "stream") }?;
        stream.shared.update(|st| {
            match st.read {
                ReadState::Idle => {
                    return Err(FfiError::new(lp2p_status::InvalidArgument, "reading was not started on this stream"));
                }
                ReadState::Active => st.read = ReadState::Paused,
                ReadState::Paused | ReadState::Done => {}
            }
            Ok(((), false))
        })
    })
}

/// Resumes reading after `lp2p_stream_pause`.
///
/// - `stream`: borrowed.
///
/// Returns `LP2P_STATUS_INVALID_ARGUMENT` if reading was never started.
/// Resuming an active or ended stream does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_stream_resume(stream: *const lp2p_stream) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL stream comes from this library.
        let stream = unsafe { arg_ref(stream, "stream") }?;
        stream.shared.update(|st| match st.read {
            ReadState::Idle => {
                Err(FfiError::new(lp2p_status::InvalidArgument, "reading was not started on this stream"))
            }
            ReadState::Paused => {
                st.read = ReadState::Active;
                Ok(((), true))
            }
            ReadState::Active | ReadState::Done => Ok(((), false)),
        })
    })
}

/// Queues `len` bytes for writing. The bytes are copied: the buffer is only
/// borrowed during the call. Writes go out in order.
///
/// - `stream`: borrowed.
/// - `data`: borrowed during the call; may be NULL when `len` is 0.
/// - `on_complete`: may be NULL; called exactly once, on an engine thread,
///   when the bytes were handed to the muxer (`LP2P_STATUS_OK`) or failed,
///   but only if this function returned `LP2P_STATUS_OK`.
/// - `userdata`: passed to `on_complete`.
///
/// Fails with `LP2P_STATUS_STREAM_CLOSED` after `lp2p_stream_close_write`,
/// `LP2P_STATUS_STREAM_RESET` after a reset, `LP2P_STATUS_WOULD_BLOCK` when
/// more than `LP2P_STREAM_MAX_QUEUED_BYTES` would wait in the queue (a single
/// larger write is accepted when the queue is empty). WOULD_BLOCK is not an
/// error of the stream: nothing was queued, the stream is intact, and at least
/// one earlier write's `on_complete` is still to come; keep the bytes and
/// write them again from that completion (see the back-pressure recipe at the
/// top of this header, and `lp2p_stream_queued_bytes`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_stream_write(
    stream: *const lp2p_stream,
    data: *const u8,
    len: usize,
    on_complete: lp2p_complete_callback,
    userdata: *mut c_void,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL stream comes from this library.
        let stream = unsafe { arg_ref(stream, "stream") }?;
        // SAFETY: the caller passes len readable bytes.
        let data = unsafe { arg_bytes(data, len, "data") }?;
        stream.shared.update(|st| {
            if let Some(status) = st.write_error {
                return Err(FfiError::new(status, "the stream's write side is closed"));
            }
            if !matches!(st.write_side, WriteSide::Open) {
                return Err(FfiError::new(lp2p_status::StreamClosed, "write after close_write"));
            }
            if st.queued > 0 && st.queued.saturating_add(len) > LP2P_STREAM_MAX_QUEUED_BYTES {
                return Err(FfiError::new(
                    lp2p_status::WouldBlock,
                    format!("{} bytes already queued; wait for write completions", st.queued),
                ));
            }
            st.queued += len;
            st.writes.push_back(PendingWrite {
                data: data.to_vec(),
                written: 0,
                done: Some(Completion { callback: on_complete, userdata: Userdata(userdata) }),
            });
            Ok(((), true))
        })
    })
}

/// How many bytes of accepted writes are not yet handed to the muxer: the
/// figure `lp2p_stream_write` compares with `LP2P_STREAM_MAX_QUEUED_BYTES`.
/// It falls as the muxer takes bytes (the remote's window allows), before a
/// write's `on_complete` runs; 0 once every accepted write completed, and
/// after a reset (the queued writes failed). Use it for the high and low marks
/// of the back-pressure recipe (top of this header).
///
/// - `stream`: borrowed.
/// - `out`: required; receives the count on success.
///
/// Fails with `LP2P_STATUS_SHUTDOWN` once the stream's node is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_stream_queued_bytes(stream: *const lp2p_stream, out: *mut usize) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL stream comes from this library.
        let stream = unsafe { arg_ref(stream, "stream") }?;
        check_out(out, "out")?;
        let queued = stream.shared.update(|st| Ok((st.queued, false)))?;
        // SAFETY: checked non-NULL above; the caller passes a writable size_t.
        unsafe { write_out(out, queued) };
        Ok(())
    })
}

/// Closes the write side once the queued writes are out (the remote then
/// reads end of stream); reading goes on.
///
/// - `stream`: borrowed.
/// - `on_complete`: may be NULL; called exactly once, on an engine thread,
///   when the close was sent or failed, if this returned `LP2P_STATUS_OK`.
/// - `userdata`: passed to `on_complete`.
///
/// A second call fails with `LP2P_STATUS_STREAM_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_stream_close_write(
    stream: *const lp2p_stream,
    on_complete: lp2p_complete_callback,
    userdata: *mut c_void,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL stream comes from this library.
        let stream = unsafe { arg_ref(stream, "stream") }?;
        stream.shared.update(|st| {
            if !matches!(st.write_side, WriteSide::Open) {
                return Err(FfiError::new(lp2p_status::StreamClosed, "the write side is already closed"));
            }
            if let Some(status) = st.write_error {
                return Err(FfiError::new(status, "the stream failed"));
            }
            st.write_side =
                WriteSide::Closing(Some(Completion { callback: on_complete, userdata: Userdata(userdata) }));
            Ok(((), true))
        })
    })
}

/// Aborts the stream in both directions (a yamux reset). Queued writes
/// complete with `LP2P_STATUS_STREAM_RESET`, and so does reading (`on_end`).
/// Resetting twice does nothing. The handle must still be freed.
///
/// - `stream`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_stream_reset(stream: *const lp2p_stream) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL stream comes from this library.
        let stream = unsafe { arg_ref(stream, "stream") }?;
        stream.shared.update(|st| {
            st.reset_requested = true;
            st.write_error.get_or_insert(lp2p_status::StreamReset);
            Ok(((), true))
        })
    })
}

/// Frees the stream handle. NULL does nothing.
///
/// Before it returns, every callback still owed is run: queued writes' and a
/// pending close's `on_complete` get `LP2P_STATUS_STREAM_CLOSED` (delivery
/// not confirmed), and the reader's finalizer runs (`on_end` is not called).
/// After it returns no callback of this stream runs again. If called while
/// another thread runs one of this stream's callbacks, it waits for it.
///
/// If `lp2p_stream_close_write` was called, the queued bytes and the close
/// are still sent in the background; otherwise the stream is reset.
///
/// May be called from inside the stream's own `on_data`, `on_end` and
/// `on_complete` callbacks, once. The callbacks still owed then run nested
/// inside this call (a write's `on_complete` with `LP2P_STATUS_STREAM_CLOSED`,
/// then the reader's finalizer), while the calling callback is still on the
/// stack; they must not call functions on the stream being freed. When it
/// returns, the calling callback must not touch the stream again (nor data its
/// finalizer released) and should just return. Not from the reader's
/// finalizer: that may itself run inside `lp2p_stream_free`.
///
/// - `stream`: owned by the caller until this call, then freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_stream_free(stream: *mut lp2p_stream) {
    ffi_boundary!((), {
        if stream.is_null() {
            return Ok(());
        }
        // SAFETY: stream came from Box::into_raw in this library.
        let stream = unsafe { Box::from_raw(stream) };
        let shared = &stream.shared;
        let gate = shared.gate.lock();
        let (calls, waker) = {
            let mut st = shared.state.lock();
            st.freed = true;
            let calls = if st.node_gone { Vec::new() } else { take_callbacks(&mut st, lp2p_status::StreamClosed) };
            if matches!(st.write_side, WriteSide::Open) {
                st.reset_requested = true;
            }
            (calls, st.wake())
        };
        for (completion, status) in calls {
            completion.call(status);
        }
        let reader = gate.borrow_mut().reader.take();
        drop(reader);
        drop(gate);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    })
}
