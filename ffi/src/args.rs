//! Checked access to the pointers C passes in, and the helpers that hand
//! owned values back out (strings, byte buffers, string lists).

use std::ffi::{CStr, CString, c_char};

use crate::error::{FfiError, FfiResult, lp2p_status};

fn null(name: &str) -> FfiError {
    FfiError::new(lp2p_status::NullArgument, format!("`{name}` is NULL"))
}

/// Borrows `*ptr`, or fails with `NullArgument`.
///
/// # Safety
/// A non-NULL `ptr` must point to a live `T` for the duration of the call.
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, name: &str) -> FfiResult<&'a T> {
    // SAFETY: the caller promises a valid pointer when non-NULL.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(name))
}

/// Mutably borrows `*ptr`, or fails with `NullArgument`.
///
/// # Safety
/// A non-NULL `ptr` must point to a live `T` not used elsewhere during the call.
pub(crate) unsafe fn arg_mut<'a, T>(ptr: *mut T, name: &str) -> FfiResult<&'a mut T> {
    // SAFETY: the caller promises a valid, unaliased pointer when non-NULL.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(name))
}

/// Reads a NUL-terminated UTF-8 string, or fails with `NullArgument` /
/// `InvalidArgument`.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string live during the call.
pub(crate) unsafe fn arg_str<'a>(ptr: *const c_char, name: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let cstr = unsafe { CStr::from_ptr(ptr) };
    cstr.to_str().map_err(|_| FfiError::new(lp2p_status::InvalidArgument, format!("`{name}` is not valid UTF-8")))
}

/// Borrows `len` bytes at `ptr`; NULL is allowed when `len` is 0.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes live during the call.
pub(crate) unsafe fn arg_bytes<'a>(ptr: *const u8, len: usize, name: &str) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL with `len` readable bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks that an output pointer is not NULL (before any work is done).
pub(crate) fn check_out<T>(ptr: *mut T, name: &str) -> FfiResult<()> {
    if ptr.is_null() { Err(null(name)) } else { Ok(()) }
}

/// Writes `value` to a checked, non-NULL output pointer.
///
/// # Safety
/// `ptr` must be non-NULL (see [`check_out`]) and writable.
pub(crate) unsafe fn write_out<T>(ptr: *mut T, value: T) {
    // SAFETY: the caller checked ptr and promises it is writable.
    unsafe { ptr.write(value) }
}

/// Writes `value` to an optional output pointer (skipped when NULL).
///
/// # Safety
/// A non-NULL `ptr` must be writable.
pub(crate) unsafe fn write_opt<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { ptr.write(value) }
    }
}

/// A C string owned by the caller (free with `lp2p_string_free`).
pub(crate) fn c_string(s: &str) -> *mut c_char {
    CString::new(s.replace('\0', "")).map(CString::into_raw).unwrap_or(std::ptr::null_mut())
}

/// A Rust string as a CString (interior NULs dropped).
pub(crate) fn to_cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// Frees a string that lp2p returned through a `char **` output.
///
/// - `s`: owned by the caller until this call, then freed; NULL does nothing.
///   Pass only strings lp2p documented as "free with lp2p_string_free".
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_string_free(s: *mut c_char) {
    crate::error::ffi_boundary!((), {
        if !s.is_null() {
            // SAFETY: s came from CString::into_raw in this library.
            drop(unsafe { CString::from_raw(s) });
        }
        Ok(())
    })
}

/// Frees a byte buffer that lp2p returned through a `uint8_t **` output.
///
/// - `bytes`: owned by the caller until this call, then freed; NULL does nothing.
/// - `len`: the length lp2p returned with it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_bytes_free(bytes: *mut u8, len: usize) {
    crate::error::ffi_boundary!((), {
        if !bytes.is_null() {
            // SAFETY: bytes came from Box<[u8]>::into_raw with this len.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(bytes, len)) });
        }
        Ok(())
    })
}

/// Hands a byte buffer to C (free with `lp2p_bytes_free`).
pub(crate) fn c_bytes(bytes: Vec<u8>) -> (*mut u8, usize) {
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len();
    (Box::into_raw(boxed).cast::<u8>(), len)
}

/// An immutable list of strings (addresses, protocols, peer IDs).
pub struct lp2p_string_list {
    items: Vec<CString>,
}

impl lp2p_string_list {
    pub(crate) fn new<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> lp2p_string_list {
        lp2p_string_list { items: items.into_iter().map(|s| to_cstring(s.as_ref())).collect() }
    }
}

/// Writes a new list of `items`, owned by the caller (who frees it with
/// `lp2p_string_list_free`), to `out`.
///
/// # Safety
/// `out` must be non-NULL (see [`check_out`]) and writable.
pub(crate) unsafe fn write_list<S: AsRef<str>>(out: *mut *mut lp2p_string_list, items: impl IntoIterator<Item = S>) {
    let list = Box::new(lp2p_string_list::new(items));
    // SAFETY: the caller checked out and promises it is writable.
    unsafe { write_out(out, Box::into_raw(list)) }
}

/// The number of strings in `list`; 0 when `list` is NULL.
///
/// - `list`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_string_list_len(list: *const lp2p_string_list) -> usize {
    crate::error::ffi_boundary!(0, {
        // SAFETY: a non-NULL list comes from this library.
        Ok(unsafe { list.as_ref() }.map_or(0, |l| l.items.len()))
    })
}

/// The string at `index`, or NULL when `list` is NULL or `index` is out of
/// range. The string is borrowed from `list`: valid until the list is freed.
///
/// - `list`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_string_list_get(list: *const lp2p_string_list, index: usize) -> *const c_char {
    crate::error::ffi_boundary!(std::ptr::null(), {
        // SAFETY: a non-NULL list comes from this library.
        let list = unsafe { list.as_ref() };
        Ok(list.and_then(|l| l.items.get(index)).map_or(std::ptr::null(), |s| s.as_ptr()))
    })
}

/// Frees a list returned by lp2p. NULL does nothing.
///
/// - `list`: owned by the caller until this call, then freed. Strings borrowed
///   from it become invalid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_string_list_free(list: *mut lp2p_string_list) {
    crate::error::ffi_boundary!((), {
        if !list.is_null() {
            // SAFETY: list came from Box::into_raw in this library.
            drop(unsafe { Box::from_raw(list) });
        }
        Ok(())
    })
}

/// Parses a peer ID argument.
///
/// # Safety
/// As [`arg_str`].
pub(crate) unsafe fn arg_peer_id(ptr: *const c_char, name: &str) -> FfiResult<lp2p_core::PeerId> {
    // SAFETY: forwarded contract.
    let s = unsafe { arg_str(ptr, name) }?;
    s.parse().map_err(|e| FfiError::new(lp2p_status::InvalidPeerId, format!("`{name}` is not a peer ID ({s:?}): {e}")))
}

/// Parses a multiaddr argument.
///
/// # Safety
/// As [`arg_str`].
pub(crate) unsafe fn arg_multiaddr(ptr: *const c_char, name: &str) -> FfiResult<lp2p_core::Multiaddr> {
    // SAFETY: forwarded contract.
    let s = unsafe { arg_str(ptr, name) }?;
    s.parse()
        .map_err(|e| FfiError::new(lp2p_status::InvalidMultiaddr, format!("`{name}` is not a multiaddr ({s:?}): {e}")))
}
