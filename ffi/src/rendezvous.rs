//! Rendezvous (`/rendezvous/1.0.0`) in the C ABI: serve as a rendezvous
//! point, register with one, discover peers through one.

use std::ffi::{CString, c_char};
use std::time::Duration;

use lp2p_core::protocols::rendezvous::client::{Cookie, Discovered};
use lp2p_core::protocols::rendezvous::server::ServerConfig;

use crate::args::{
    arg_bytes, arg_peer_id, arg_ref, arg_str, c_bytes, check_out, lp2p_string_list, to_cstring, write_opt, write_out,
};
use crate::error::{FfiError, ffi_boundary, lp2p_status};
use crate::node::lp2p_node;

/// Makes `node` a rendezvous point with the spec's recommended limits (TTL
/// 2 h to 72 h, namespaces up to 255 bytes, 1,000 registrations per peer,
/// 10,000 in total, 1,000 per answer).
///
/// - `node`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_serve_rendezvous(node: *const lp2p_node) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        node.node()?.serve_rendezvous(ServerConfig::default());
        Ok(())
    })
}

/// Registers `node` under `ns` at the rendezvous point `point` (connected or
/// with a known address), with the node's signed peer record. Blocking.
///
/// - `node`: borrowed.
/// - `point`: borrowed peer ID string.
/// - `ns`: borrowed NUL-terminated namespace of 1 to 255 bytes.
/// - `ttl_secs`: the registration's lifetime; 0 for the point's default (2 h).
/// - `out_ttl_secs`: borrowed, may be NULL; written on success with the TTL
///   the point granted.
///
/// Fails with `LP2P_STATUS_PROTOCOL_ERROR` when the point refuses (the last
/// error message names its status, e.g. `E_INVALID_TTL`),
/// `LP2P_STATUS_PROTOCOL_NOT_SUPPORTED` when the peer is no rendezvous point.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_rendezvous_register(
    node: *const lp2p_node,
    point: *const c_char,
    ns: *const c_char,
    ttl_secs: u64,
    out_ttl_secs: *mut u64,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes NUL-terminated strings.
        let point = unsafe { arg_peer_id(point, "point") }?;
        // SAFETY: as above.
        let ns = unsafe { arg_str(ns, "ns") }?;
        let ttl = (ttl_secs > 0).then(|| Duration::from_secs(ttl_secs));
        let inner = node.node()?;
        let granted = node.block_on(inner.rendezvous_register(point, ns, ttl))??;
        // SAFETY: NULL or writable by the caller's contract.
        unsafe { write_opt(out_ttl_secs, granted.as_secs()) };
        Ok(())
    })
}

/// Removes `node`'s registration under `ns` at `point`. The protocol has no
/// answer: success means the request was sent. Blocking.
///
/// - `node`: borrowed.
/// - `point`: borrowed peer ID string.
/// - `ns`: borrowed NUL-terminated namespace.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_rendezvous_unregister(
    node: *const lp2p_node,
    point: *const c_char,
    ns: *const c_char,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes NUL-terminated strings.
        let point = unsafe { arg_peer_id(point, "point") }?;
        // SAFETY: as above.
        let ns = unsafe { arg_str(ns, "ns") }?;
        let inner = node.node()?;
        node.block_on(inner.rendezvous_unregister(point, ns))??;
        Ok(())
    })
}

/// One registration found by `lp2p_node_rendezvous_discover`.
struct Found {
    peer: CString,
    namespace: CString,
    addrs: lp2p_string_list,
    ttl_secs: u64,
}

/// What `lp2p_node_rendezvous_discover` found: registrations whose signed
/// peer records verified, and a cookie for the next query. Free with
/// `lp2p_rendezvous_result_free`.
pub struct lp2p_rendezvous_result {
    found: Vec<Found>,
    cookie: Option<Vec<u8>>,
}

impl From<Discovered> for lp2p_rendezvous_result {
    fn from(d: Discovered) -> Self {
        let found = d
            .registrations
            .iter()
            .map(|r| Found {
                peer: to_cstring(&r.peer.to_string()),
                namespace: to_cstring(&r.namespace),
                addrs: lp2p_string_list::new(r.addrs.iter().map(ToString::to_string)),
                ttl_secs: r.ttl.as_secs(),
            })
            .collect();
        lp2p_rendezvous_result { found, cookie: d.cookie.map(|c| c.as_bytes().to_vec()) }
    }
}

/// Asks `point` who is registered under `ns` (NULL: every namespace), at
/// most `limit` (0: the point's maximum, 1,000). The addresses found go to
/// the peer store, so the peers can be reached by peer ID. Blocking.
///
/// - `node`: borrowed.
/// - `point`: borrowed peer ID string.
/// - `ns`: borrowed NUL-terminated namespace, or NULL.
/// - `cookie`, `cookie_len`: borrowed, may be NULL/0: the cookie of a previous
///   result for the same `ns`, to get only newer registrations.
/// - `out`: borrowed, written on success with a result owned by the caller
///   (free with `lp2p_rendezvous_result_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_rendezvous_discover(
    node: *const lp2p_node,
    point: *const c_char,
    ns: *const c_char,
    limit: u64,
    cookie: *const u8,
    cookie_len: usize,
    out: *mut *mut lp2p_rendezvous_result,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        // SAFETY: the caller passes NUL-terminated strings.
        let point = unsafe { arg_peer_id(point, "point") }?;
        // SAFETY: as above; NULL means every namespace.
        let ns = if ns.is_null() { None } else { Some(unsafe { arg_str(ns, "ns") }?) };
        let cookie = match (cookie.is_null(), cookie_len) {
            (true, _) | (_, 0) => None,
            // SAFETY: the caller passes cookie_len readable bytes.
            (false, len) => Some(
                Cookie::from_bytes(unsafe { arg_bytes(cookie, len, "cookie") }?.to_vec())
                    .map_err(|e| FfiError::new(lp2p_status::InvalidArgument, e.to_string()))?,
            ),
        };
        check_out(out, "out")?;
        let limit = (limit > 0).then_some(limit);
        let inner = node.node()?;
        let found = node.block_on(inner.rendezvous_discover(point, ns, limit, cookie.as_ref()))??;
        let result = lp2p_rendezvous_result::from(found);
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(Box::new(result))) };
        Ok(())
    })
}

/// The number of registrations in `result`; 0 when NULL.
///
/// - `result`: borrowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_rendezvous_result_len(result: *const lp2p_rendezvous_result) -> usize {
    ffi_boundary!(0, {
        // SAFETY: a non-NULL result comes from this library.
        Ok(unsafe { result.as_ref() }.map_or(0, |r| r.found.len()))
    })
}

fn found_at(result: *const lp2p_rendezvous_result, index: usize) -> Option<&'static Found> {
    // SAFETY: a non-NULL result comes from this library and outlives the
    // borrow by the accessors' contract (valid until freed).
    unsafe { result.as_ref() }.and_then(|r| r.found.get(index))
}

/// The peer ID of registration `index`, or NULL when out of range. Borrowed
/// from `result`: valid until it is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_rendezvous_result_peer_id(
    result: *const lp2p_rendezvous_result,
    index: usize,
) -> *const c_char {
    ffi_boundary!(std::ptr::null(), { Ok(found_at(result, index).map_or(std::ptr::null(), |f| f.peer.as_ptr())) })
}

/// The namespace of registration `index`, or NULL when out of range.
/// Borrowed from `result`: valid until it is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_rendezvous_result_namespace(
    result: *const lp2p_rendezvous_result,
    index: usize,
) -> *const c_char {
    ffi_boundary!(std::ptr::null(), { Ok(found_at(result, index).map_or(std::ptr::null(), |f| f.namespace.as_ptr())) })
}

/// The addresses (from the verified signed peer record) of registration
/// `index`, or NULL when out of range. Borrowed from `result`: valid until it
/// is freed; do not free it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_rendezvous_result_addrs(
    result: *const lp2p_rendezvous_result,
    index: usize,
) -> *const lp2p_string_list {
    ffi_boundary!(std::ptr::null(), {
        Ok(found_at(result, index).map_or(std::ptr::null(), |f| &f.addrs as *const lp2p_string_list))
    })
}

/// The remaining TTL in seconds of registration `index`; 0 when out of range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_rendezvous_result_ttl_secs(result: *const lp2p_rendezvous_result, index: usize) -> u64 {
    ffi_boundary!(0, { Ok(found_at(result, index).map_or(0, |f| f.ttl_secs)) })
}

/// Copies the result's cookie (for the next discovery of the same namespace).
///
/// - `result`: borrowed.
/// - `out`, `out_len`: borrowed, written on success with bytes owned by the
///   caller (free with `lp2p_bytes_free(bytes, len)`); NULL and 0 when the
///   point sent no cookie.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_rendezvous_result_cookie(
    result: *const lp2p_rendezvous_result,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL result comes from this library.
        let result = unsafe { arg_ref(result, "result") }?;
        check_out(out, "out")?;
        check_out(out_len, "out_len")?;
        let (ptr, len) = match &result.cookie {
            Some(cookie) if !cookie.is_empty() => c_bytes(cookie.clone()),
            _ => (std::ptr::null_mut(), 0),
        };
        // SAFETY: checked above.
        unsafe {
            write_out(out, ptr);
            write_out(out_len, len);
        }
        Ok(())
    })
}

/// Frees a discovery result. NULL does nothing.
///
/// - `result`: owned by the caller until this call, then freed; strings and
///   lists borrowed from it become invalid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_rendezvous_result_free(result: *mut lp2p_rendezvous_result) {
    ffi_boundary!((), {
        if !result.is_null() {
            // SAFETY: result came from Box::into_raw in this library.
            drop(unsafe { Box::from_raw(result) });
        }
        Ok(())
    })
}
