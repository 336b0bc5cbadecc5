//! Status codes, the thread-local last error message, and the boundary that
//! every exported function runs inside.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use lp2p_core::Error;

/// The result of every fallible lp2p function.
///
/// The numbers are stable: a value is never reused or renumbered; new codes
/// are only added. `LP2P_STATUS_OK` is 0, every failure is non-zero.
/// `lp2p_last_error_message()` gives a human-readable text for the last failure
/// on the calling thread; match on the status, not on the text.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum lp2p_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// An argument was out of range or malformed (not UTF-8, wrong length, ...).
    InvalidArgument = 2,
    /// A multiaddr string did not parse.
    InvalidMultiaddr = 3,
    /// A peer ID string did not parse.
    InvalidPeerId = 4,
    /// Key bytes did not decode.
    InvalidKey = 5,
    /// Dialing or upgrading a connection failed.
    DialFailed = 6,
    /// The remote does not support the requested protocol.
    ProtocolNotSupported = 7,
    /// An operation took longer than its configured timeout.
    Timeout = 8,
    /// No connection to the peer and no known address for it.
    NoRoute = 9,
    /// The remote is not the peer the address named.
    PeerIdMismatch = 10,
    /// A connection limit was reached.
    LimitReached = 11,
    /// The stream (or its write side) is closed.
    StreamClosed = 12,
    /// The stream was reset (by us or by the remote).
    StreamReset = 13,
    /// An I/O error.
    Io = 14,
    /// The node has been shut down (or is being freed).
    Shutdown = 15,
    /// A protocol exchange on an open connection failed (ping, identify, muxer).
    ProtocolError = 16,
    /// The peer store knows nothing about the peer.
    UnknownPeer = 17,
    /// Too many bytes are queued on the stream: wait for write completions.
    WouldBlock = 18,
    /// A blocking function was called from inside a callback (an engine
    /// thread), where it would deadlock.
    BlockingInCallback = 19,
    /// A bug in lp2p: a Rust panic was caught at the boundary.
    Panic = 100,
    /// A bug in lp2p or an unexpected failure of the engine.
    Internal = 101,
}

impl lp2p_status {
    /// The variant's C name, as a NUL-terminated static string.
    pub(crate) fn name(self) -> &'static CStr {
        match self {
            lp2p_status::Ok => c"LP2P_STATUS_OK",
            lp2p_status::NullArgument => c"LP2P_STATUS_NULL_ARGUMENT",
            lp2p_status::InvalidArgument => c"LP2P_STATUS_INVALID_ARGUMENT",
            lp2p_status::InvalidMultiaddr => c"LP2P_STATUS_INVALID_MULTIADDR",
            lp2p_status::InvalidPeerId => c"LP2P_STATUS_INVALID_PEER_ID",
            lp2p_status::InvalidKey => c"LP2P_STATUS_INVALID_KEY",
            lp2p_status::DialFailed => c"LP2P_STATUS_DIAL_FAILED",
            lp2p_status::ProtocolNotSupported => c"LP2P_STATUS_PROTOCOL_NOT_SUPPORTED",
            lp2p_status::Timeout => c"LP2P_STATUS_TIMEOUT",
            lp2p_status::NoRoute => c"LP2P_STATUS_NO_ROUTE",
            lp2p_status::PeerIdMismatch => c"LP2P_STATUS_PEER_ID_MISMATCH",
            lp2p_status::LimitReached => c"LP2P_STATUS_LIMIT_REACHED",
            lp2p_status::StreamClosed => c"LP2P_STATUS_STREAM_CLOSED",
            lp2p_status::StreamReset => c"LP2P_STATUS_STREAM_RESET",
            lp2p_status::Io => c"LP2P_STATUS_IO",
            lp2p_status::Shutdown => c"LP2P_STATUS_SHUTDOWN",
            lp2p_status::ProtocolError => c"LP2P_STATUS_PROTOCOL_ERROR",
            lp2p_status::UnknownPeer => c"LP2P_STATUS_UNKNOWN_PEER",
            lp2p_status::WouldBlock => c"LP2P_STATUS_WOULD_BLOCK",
            lp2p_status::BlockingInCallback => c"LP2P_STATUS_BLOCKING_IN_CALLBACK",
            lp2p_status::Panic => c"LP2P_STATUS_PANIC",
            lp2p_status::Internal => c"LP2P_STATUS_INTERNAL",
        }
    }

    /// Every status, for tests and for `lp2p_status_name`.
    pub(crate) const ALL: [lp2p_status; 22] = [
        lp2p_status::Ok,
        lp2p_status::NullArgument,
        lp2p_status::InvalidArgument,
        lp2p_status::InvalidMultiaddr,
        lp2p_status::InvalidPeerId,
        lp2p_status::InvalidKey,
        lp2p_status::DialFailed,
        lp2p_status::ProtocolNotSupported,
        lp2p_status::Timeout,
        lp2p_status::NoRoute,
        lp2p_status::PeerIdMismatch,
        lp2p_status::LimitReached,
        lp2p_status::StreamClosed,
        lp2p_status::StreamReset,
        lp2p_status::Io,
        lp2p_status::Shutdown,
        lp2p_status::ProtocolError,
        lp2p_status::UnknownPeer,
        lp2p_status::WouldBlock,
        lp2p_status::BlockingInCallback,
        lp2p_status::Panic,
        lp2p_status::Internal,
    ];
}

/// A failure inside an exported function: the status to return and the text
/// for `lp2p_last_error_message`.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub(crate) status: lp2p_status,
    pub(crate) message: String,
}

impl FfiError {
    pub(crate) fn new(status: lp2p_status, message: impl Into<String>) -> FfiError {
        FfiError { status, message: message.into() }
    }
}

/// What an exported function's body returns.
pub(crate) type FfiResult<T = ()> = Result<T, FfiError>;

/// The status of an I/O error seen on a stream.
pub(crate) fn io_status(e: &std::io::Error) -> lp2p_status {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => lp2p_status::StreamReset,
        ErrorKind::BrokenPipe | ErrorKind::NotConnected | ErrorKind::WriteZero => lp2p_status::StreamClosed,
        ErrorKind::TimedOut => lp2p_status::Timeout,
        _ => lp2p_status::Io,
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> FfiError {
        let status = match &e {
            Error::InvalidMultiaddr(_) => lp2p_status::InvalidMultiaddr,
            Error::Dial(_) => lp2p_status::DialFailed,
            Error::ProtocolNotSupported(_) => lp2p_status::ProtocolNotSupported,
            Error::Timeout(_) => lp2p_status::Timeout,
            Error::NoRoute(_) => lp2p_status::NoRoute,
            Error::PeerIdMismatch(_) => lp2p_status::PeerIdMismatch,
            Error::LimitReached(_) => lp2p_status::LimitReached,
            Error::Protocol(_) => lp2p_status::ProtocolError,
            Error::Io(io) => io_status(io),
            Error::Shutdown => lp2p_status::Shutdown,
            Error::Rendezvous(_) => lp2p_status::ProtocolError,
            Error::Bootstrap(_) => lp2p_status::NoRoute,
            _ => lp2p_status::Internal,
        };
        FfiError::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn set_last_error(message: &str) {
    // Interior NULs would cut the C string short; drop them.
    let bytes: Vec<u8> = message.bytes().filter(|b| *b != 0).collect();
    LAST_ERROR.with(|last| *last.borrow_mut() = bytes);
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panic in lp2p: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panic in lp2p: {s}")
    } else {
        "panic in lp2p".to_string()
    }
}

/// Runs the body of an exported function: catches panics (status
/// `Panic`), records the message of a failure for `lp2p_last_error_message`,
/// and turns the result into a status. Use it through [`ffi_boundary!`].
pub(crate) fn run_boundary(body: impl FnOnce() -> FfiResult) -> lp2p_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => lp2p_status::Ok,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            set_last_error(&panic_message(payload.as_ref()));
            lp2p_status::Panic
        }
    }
}

/// Like [`run_boundary`] for functions that return a value instead of a
/// status (getters, `_free`): a panic or a failure yields `fallback`.
pub(crate) fn run_boundary_value<T>(fallback: T, body: impl FnOnce() -> FfiResult<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            fallback
        }
        Err(payload) => {
            set_last_error(&panic_message(payload.as_ref()));
            fallback
        }
    }
}

/// The boundary around every exported function.
///
/// `ffi_boundary!({ body })` runs a body returning `FfiResult<()>` and yields
/// an `lp2p_status`; `ffi_boundary!(fallback, { body })` runs a body returning
/// `FfiResult<T>` and yields the value, or `fallback` on failure. Both catch
/// panics so that none crosses into C, and record the failure's message.
/// Pointer arguments are checked inside the body with [`crate::args`].
macro_rules! ffi_boundary {
    ($body:block) => {
        $crate::error::run_boundary(move || -> $crate::error::FfiResult { $body })
    };
    ($fallback:expr, $body:block) => {
        $crate::error::run_boundary_value($fallback, move || $body)
    };
}
pub(crate) use ffi_boundary;

/// The message of the last failed lp2p call on this thread.
///
/// Copies at most `len - 1` bytes of the message and a terminating NUL into
/// `buf`, and writes the number of bytes copied (without the NUL) to
/// `*out_len` (when `out_len` is not NULL). The message is empty when no call
/// on this thread has failed yet. A successful call does not clear it (like
/// `errno`), so read it right after the failing call.
///
/// - `buf`: borrowed, written; may be NULL only when `len` is 0.
/// - `len`: the size of `buf` in bytes.
/// - `out_len`: borrowed, written; may be NULL.
///
/// Returns `LP2P_STATUS_OK`, or `LP2P_STATUS_NULL_ARGUMENT` when `buf` is NULL
/// and `len` is not 0. It never changes the recorded message itself.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_last_error_message(buf: *mut c_char, len: usize, out_len: *mut usize) -> lp2p_status {
    let copy = move || -> lp2p_status {
        if buf.is_null() && len != 0 {
            return lp2p_status::NullArgument;
        }
        let n = LAST_ERROR.with(|last| {
            let last = last.borrow();
            if len == 0 {
                return 0;
            }
            let n = last.len().min(len - 1);
            // SAFETY: the caller gives `buf` with room for `len` bytes; we write n + 1 <= len.
            unsafe {
                std::ptr::copy_nonoverlapping(last.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
            n
        });
        if !out_len.is_null() {
            // SAFETY: checked non-NULL; the caller gives a writable size_t.
            unsafe { *out_len = n };
        }
        lp2p_status::Ok
    };
    catch_unwind(copy).unwrap_or(lp2p_status::Panic)
}

/// The C name of a status (for example `"LP2P_STATUS_TIMEOUT"`), as a static
/// string that must not be freed. An unknown number gives
/// `"LP2P_STATUS_UNKNOWN"`. Takes an `int` so that any value is safe to pass.
#[unsafe(no_mangle)]
pub extern "C" fn lp2p_status_name(status: c_int) -> *const c_char {
    lp2p_status::ALL
        .iter()
        .find(|s| **s as c_int == status)
        .map_or(c"LP2P_STATUS_UNKNOWN".as_ptr(), |s| s.name().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        let mut buf = [0 as c_char; 256];
        let mut n = 0usize;
        // SAFETY: buf has 256 bytes.
        let st = unsafe { lp2p_last_error_message(buf.as_mut_ptr(), buf.len(), &mut n) };
        assert_eq!(st, lp2p_status::Ok);
        // SAFETY: the function NUL-terminated buf.
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn status_numbers_are_stable() {
        let expected = [
            (lp2p_status::Ok, 0),
            (lp2p_status::NullArgument, 1),
            (lp2p_status::InvalidArgument, 2),
            (lp2p_status::InvalidMultiaddr, 3),
            (lp2p_status::InvalidPeerId, 4),
            (lp2p_status::InvalidKey, 5),
            (lp2p_status::DialFailed, 6),
            (lp2p_status::ProtocolNotSupported, 7),
            (lp2p_status::Timeout, 8),
            (lp2p_status::NoRoute, 9),
            (lp2p_status::PeerIdMismatch, 10),
            (lp2p_status::LimitReached, 11),
            (lp2p_status::StreamClosed, 12),
            (lp2p_status::StreamReset, 13),
            (lp2p_status::Io, 14),
            (lp2p_status::Shutdown, 15),
            (lp2p_status::ProtocolError, 16),
            (lp2p_status::UnknownPeer, 17),
            (lp2p_status::WouldBlock, 18),
            (lp2p_status::BlockingInCallback, 19),
            (lp2p_status::Panic, 100),
            (lp2p_status::Internal, 101),
        ];
        assert_eq!(expected.len(), lp2p_status::ALL.len());
        for (status, number) in expected {
            assert_eq!(status as c_int, number, "{status:?}");
        }
    }

    #[test]
    fn status_names_match_the_header_spelling() {
        for status in lp2p_status::ALL {
            // SAFETY: lp2p_status_name returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(lp2p_status_name(status as c_int)) }.to_str().unwrap_or("");
            let camel = format!("{status:?}");
            let mut screaming = String::new();
            for (i, ch) in camel.chars().enumerate() {
                if ch.is_uppercase() && i > 0 {
                    screaming.push('_');
                }
                screaming.push(ch.to_ascii_uppercase());
            }
            assert_eq!(name, format!("LP2P_STATUS_{screaming}"));
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(lp2p_status_name(-7)) };
        assert_eq!(unknown, c"LP2P_STATUS_UNKNOWN");
    }

    #[test]
    fn boundary_catches_panics_and_records_messages() {
        let status = ffi_boundary!({
            if lp2p_status::ALL.len() > 1 {
                panic!("boom");
            }
            Ok(())
        });
        assert_eq!(status, lp2p_status::Panic);
        assert!(last_error().contains("boom"), "{}", last_error());

        let status = ffi_boundary!({ Err(FfiError::new(lp2p_status::Timeout, "too slow")) });
        assert_eq!(status, lp2p_status::Timeout);
        assert_eq!(last_error(), "too slow");

        // Success leaves the message alone.
        assert_eq!(ffi_boundary!({ Ok(()) }), lp2p_status::Ok);
        assert_eq!(last_error(), "too slow");

        let value = ffi_boundary!(7u32, {
            if lp2p_status::ALL.is_empty() {
                return Ok(1);
            }
            panic!("in a getter")
        });
        assert_eq!(value, 7);
    }

    #[test]
    fn last_error_message_truncates_and_checks_arguments() {
        let _ = ffi_boundary!({ Err(FfiError::new(lp2p_status::Io, "abcdef")) });
        let mut buf = [1 as c_char; 4];
        let mut n = 99usize;
        // SAFETY: buf has 4 bytes.
        let st = unsafe { lp2p_last_error_message(buf.as_mut_ptr(), buf.len(), &mut n) };
        assert_eq!(st, lp2p_status::Ok);
        assert_eq!(n, 3);
        // SAFETY: NUL-terminated by the call.
        assert_eq!(unsafe { CStr::from_ptr(buf.as_ptr()) }, c"abc");
        // SAFETY: NULL with len 0 is allowed; NULL with len > 0 is refused.
        unsafe {
            assert_eq!(lp2p_last_error_message(std::ptr::null_mut(), 0, &mut n), lp2p_status::Ok);
            assert_eq!(n, 0);
            assert_eq!(lp2p_last_error_message(std::ptr::null_mut(), 5, &mut n), lp2p_status::NullArgument);
        }
    }
}
