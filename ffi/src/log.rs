//! Routes the engine's `tracing` output to a C callback, with a level filter.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int, c_void};
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use parking_lot::RwLock;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::error::{FfiError, ffi_boundary, lp2p_status};
use crate::stream::{Finalizer, Userdata, lp2p_finalizer};

/// Log levels, from the most to the least severe. A filter set to a level
/// passes that level and every more severe one.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum lp2p_log_level {
    /// Nothing is logged (a filter only).
    Off = 0,
    /// Failures that need attention.
    Error = 1,
    /// Unexpected but handled conditions.
    Warn = 2,
    /// Lifecycle: nodes started and stopped.
    Info = 3,
    /// Per-connection and per-stream detail.
    Debug = 4,
    /// Everything.
    Trace = 5,
}

/// Receives one log record: its level, its target (the engine module, for
/// example `"lp2p::swarm"`) and its message with fields (`key=value`). The
/// strings are borrowed: valid only during the call. Runs on whichever thread
/// logged (engine threads, or the caller's thread inside an lp2p call), and
/// may run concurrently.
pub type lp2p_log_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, level: lp2p_log_level, target: *const c_char, message: *const c_char),
>;

struct LogTarget {
    callback: unsafe extern "C" fn(*mut c_void, lp2p_log_level, *const c_char, *const c_char),
    userdata: Userdata,
    _finalizer: Finalizer,
}

static TARGET: RwLock<Option<LogTarget>> = RwLock::new(None);
static MAX_LEVEL: AtomicI32 = AtomicI32::new(lp2p_log_level::Off as i32);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

thread_local! {
    /// Set while this thread runs the log callback: no nested logging.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

fn level_of(level: &Level) -> lp2p_log_level {
    match *level {
        Level::ERROR => lp2p_log_level::Error,
        Level::WARN => lp2p_log_level::Warn,
        Level::INFO => lp2p_log_level::Info,
        Level::DEBUG => lp2p_log_level::Debug,
        _ => lp2p_log_level::Trace,
    }
}

/// Formats an event's message first, then its other fields as `key=value`.
#[derive(Default)]
struct Message {
    text: String,
    fields: String,
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

/// The global `tracing` subscriber that forwards to the C callback.
struct CLogger;

impl Subscriber for CLogger {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level can change at any time: decide per event, never cache.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        (level_of(metadata.level()) as i32) <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if IN_CALLBACK.with(Cell::get) {
            return;
        }
        let target = TARGET.read();
        let Some(t) = target.as_ref() else { return };
        let mut message = Message::default();
        event.record(&mut message);
        message.text.push_str(&message.fields);
        let meta = event.metadata();
        let text = CString::new(message.text.replace('\0', "")).unwrap_or_default();
        let module = CString::new(meta.target().replace('\0', "")).unwrap_or_default();
        IN_CALLBACK.with(|c| c.set(true));
        // SAFETY: C callback with its own userdata; the strings live until it returns.
        unsafe { (t.callback)(t.userdata.0, level_of(meta.level()), module.as_ptr(), text.as_ptr()) };
        IN_CALLBACK.with(|c| c.set(false));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Sends the engine's log records at `max_level` and more severe to
/// `callback`, replacing any previous callback (whose finalizer runs after
/// its running calls have returned). Process-wide: one callback for all nodes.
///
/// - `max_level`: an `lp2p_log_level` value (`LP2P_LOG_LEVEL_OFF` to
///   `LP2P_LOG_LEVEL_TRACE`); `LP2P_STATUS_INVALID_ARGUMENT` otherwise.
/// - `callback`: may be NULL to stop logging; see `lp2p_log_callback`.
/// - `userdata`: passed to `callback` and `finalizer`; lp2p keeps it.
/// - `finalizer`: may be NULL; called exactly once with `userdata` when the
///   callback is replaced or removed.
///
/// Must not be called from inside the log callback
/// (`LP2P_STATUS_BLOCKING_IN_CALLBACK`). Fails with `LP2P_STATUS_INTERNAL`
/// if the process already installed another global `tracing` subscriber.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_log_set_callback(
    max_level: c_int,
    callback: lp2p_log_callback,
    userdata: *mut c_void,
    finalizer: lp2p_finalizer,
) -> lp2p_status {
    ffi_boundary!({
        if !(lp2p_log_level::Off as c_int..=lp2p_log_level::Trace as c_int).contains(&max_level) {
            return Err(FfiError::new(lp2p_status::InvalidArgument, format!("{max_level} is not an lp2p_log_level")));
        }
        if IN_CALLBACK.with(Cell::get) {
            return Err(FfiError::new(
                lp2p_status::BlockingInCallback,
                "lp2p_log_set_callback cannot be called from the log callback",
            ));
        }
        let installed =
            INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(CLogger).map_err(|e| e.to_string()));
        if let Err(e) = installed {
            return Err(FfiError::new(lp2p_status::Internal, format!("cannot install the log subscriber: {e}")));
        }
        let userdata = Userdata(userdata);
        let new =
            callback.map(|callback| LogTarget { callback, userdata, _finalizer: Finalizer { finalizer, userdata } });
        let level = if new.is_some() { max_level } else { lp2p_log_level::Off as c_int };
        let old = {
            // Waits for running calls of the old callback.
            let mut target = TARGET.write();
            MAX_LEVEL.store(level, Ordering::Relaxed);
            std::mem::replace(&mut *target, new)
        };
        drop(old);
        Ok(())
    })
}
