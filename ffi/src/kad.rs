//! The Kademlia DHT in the C ABI: `lp2p_kad_*`.

use std::ffi::{c_char, c_int};

use lp2p_core::protocols::kad::{self, Kad, KadError, Mode};
use tokio::runtime::{Handle, Runtime};

use crate::args::{
    arg_bytes, arg_multiaddr, arg_peer_id, arg_ref, arg_str, c_bytes, check_out, lp2p_string_list, write_list,
    write_out,
};
use crate::error::{FfiError, FfiResult, ffi_boundary, lp2p_status};
use crate::node::lp2p_node;

/// A running Kademlia DHT on a node (opaque). Made by `lp2p_kad_start`,
/// freed by `lp2p_kad_free`.
pub struct lp2p_kad {
    kad: Kad,
    /// Where the calling thread waits; the DHT's work runs on the node's engine.
    waiter: Runtime,
}

impl From<KadError> for FfiError {
    fn from(e: KadError) -> FfiError {
        let status = match &e {
            KadError::NoPeers | KadError::NotStored => lp2p_status::NoRoute,
            KadError::PeerNotFound => lp2p_status::UnknownPeer,
            KadError::InvalidRecord(_) | KadError::MissingPeerId => lp2p_status::InvalidArgument,
            KadError::Store(kad::store::StoreError::Full) => lp2p_status::LimitReached,
            KadError::Store(_) => lp2p_status::InvalidArgument,
            KadError::Timeout => lp2p_status::Timeout,
            KadError::Message(_) => lp2p_status::ProtocolError,
            KadError::NotADhtPeer(_) => lp2p_status::ProtocolNotSupported,
            KadError::Shutdown => lp2p_status::Shutdown,
            KadError::Node(_) => match e {
                KadError::Node(inner) => return FfiError::from(inner),
                _ => lp2p_status::Internal,
            },
            // NotFound is not an error at this surface (see lp2p_kad_get_value).
            _ => lp2p_status::Internal,
        };
        FfiError::new(status, e.to_string())
    }
}

impl lp2p_kad {
    /// Waits for `fut` on the calling thread; the DHT's own error is left to the caller.
    fn block_on<T>(&self, fut: impl Future<Output = Result<T, KadError>>) -> FfiResult<Result<T, KadError>> {
        // On an engine thread (inside a callback) waiting would deadlock.
        if Handle::try_current().is_ok() {
            return Err(FfiError::new(
                lp2p_status::BlockingInCallback,
                "blocking lp2p functions cannot be called from a callback (an engine thread)",
            ));
        }
        Ok(self.waiter.block_on(fut))
    }
}

/// Whether a DHT serves the protocol, for `lp2p_kad_start`. The numbers are
/// stable: `false`/`true` (0/1) keep their old meaning of client/server.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lp2p_kad_mode {
    /// Only queries: the protocol is neither served nor announced.
    Client = 0,
    /// Serves the protocol; other peers put us in their routing tables.
    Server = 1,
    /// Server while the node has a confirmed external address (confirmed by
    /// AutoNAT, or added with `lp2p_node_add_external_addr`), client otherwise.
    Auto = 2,
}

impl lp2p_kad_mode {
    fn from_c(mode: c_int) -> FfiResult<Mode> {
        match mode {
            m if m == lp2p_kad_mode::Client as c_int => Ok(Mode::Client),
            m if m == lp2p_kad_mode::Server as c_int => Ok(Mode::Server),
            m if m == lp2p_kad_mode::Auto as c_int => Ok(Mode::Auto),
            other => Err(FfiError::new(lp2p_status::InvalidArgument, format!("{other} is not an lp2p_kad_mode"))),
        }
    }

    fn from_core(mode: Mode) -> lp2p_kad_mode {
        match mode {
            Mode::Client => lp2p_kad_mode::Client,
            Mode::Server => lp2p_kad_mode::Server,
            Mode::Auto => lp2p_kad_mode::Auto,
        }
    }
}

/// Starts the Kademlia DHT (`/ipfs/kad/1.0.0`) on `node`.
///
/// - `node`: borrowed; must outlive the DHT (free the DHT first).
/// - `mode`: an `lp2p_kad_mode` value: `LP2P_KAD_MODE_SERVER` serves the
///   protocol (other peers add us to their routing tables),
///   `LP2P_KAD_MODE_CLIENT` only queries, `LP2P_KAD_MODE_AUTO` serves while
///   the node has a confirmed external address. Other values fail with
///   `LP2P_STATUS_INVALID_ARGUMENT`.
/// - `protocol`: borrowed protocol ID, or NULL for `/ipfs/kad/1.0.0`.
/// - `out`: borrowed, written on success with a DHT owned by the caller
///   (free with `lp2p_kad_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_start(
    node: *const lp2p_node,
    mode: c_int,
    protocol: *const c_char,
    out: *mut *mut lp2p_kad,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        check_out(out, "out")?;
        let mut config = kad::Config { mode: lp2p_kad_mode::from_c(mode)?, ..kad::Config::default() };
        if !protocol.is_null() {
            // SAFETY: non-NULL, NUL-terminated by the caller's contract.
            config.protocol = unsafe { arg_str(protocol, "protocol") }?.to_string();
        }
        let waiter = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| FfiError::new(lp2p_status::Internal, format!("could not start a waiter: {e}")))?;
        let kad = node.node()?.kad(config);
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(Box::new(lp2p_kad { kad, waiter }))) };
        Ok(())
    })
}

/// Stops the DHT and frees it. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_free(kad: *mut lp2p_kad) {
    ffi_boundary!((), {
        if !kad.is_null() {
            // SAFETY: kad came from Box::into_raw in this library.
            drop(unsafe { Box::from_raw(kad) });
        }
        Ok(())
    })
}

/// The mode the DHT was started with.
///
/// - `kad`: borrowed.
/// - `out`: borrowed, written on success.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_get_mode(kad: *const lp2p_kad, out: *mut lp2p_kad_mode) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL kad comes from this library.
        let kad = unsafe { arg_ref(kad, "kad") }?;
        check_out(out, "out")?;
        // SAFETY: checked above.
        unsafe { write_out(out, lp2p_kad_mode::from_core(kad.kad.config().mode)) };
        Ok(())
    })
}

/// Whether the DHT serves the protocol now: always for
/// `LP2P_KAD_MODE_SERVER`, never for `LP2P_KAD_MODE_CLIENT`, and for
/// `LP2P_KAD_MODE_AUTO` while the node has a confirmed external address (the
/// switch follows the address's confirmation shortly, on an engine thread).
///
/// - `kad`: borrowed.
/// - `out`: borrowed, written on success.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_is_server(kad: *const lp2p_kad, out: *mut bool) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL kad comes from this library.
        let kad = unsafe { arg_ref(kad, "kad") }?;
        check_out(out, "out")?;
        // SAFETY: checked above.
        unsafe { write_out(out, kad.kad.is_server()) };
        Ok(())
    })
}

/// Connects to a DHT peer at `addr` (with `/p2p/<id>`) and adds it to the
/// routing table. Blocking. Fails with `LP2P_STATUS_PROTOCOL_NOT_SUPPORTED`
/// when the peer does not serve the DHT protocol.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_add_bootstrap_peer(kad: *const lp2p_kad, addr: *const c_char) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL kad comes from this library.
        let kad = unsafe { arg_ref(kad, "kad") }?;
        // SAFETY: NUL-terminated by the caller's contract.
        let addr = unsafe { arg_multiaddr(addr, "addr") }?;
        kad.block_on(kad.kad.add_bootstrap_peer(addr))??;
        Ok(())
    })
}

/// Fills the routing table (a lookup of our own ID and of a random key).
/// Blocking. `out_table_size` (may be NULL) gets the table's size.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_bootstrap(kad: *const lp2p_kad, out_table_size: *mut usize) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL kad comes from this library.
        let kad = unsafe { arg_ref(kad, "kad") }?;
        let size = kad.block_on(kad.kad.bootstrap())??;
        if !out_table_size.is_null() {
            // SAFETY: non-NULL, writable by the caller's contract.
            unsafe { write_out(out_table_size, size) };
        }
        Ok(())
    })
}

/// Validates a record, stores it locally and on the closest peers. Blocking.
/// `out_stored` (may be NULL) gets how many peers stored it. Fails with
/// `LP2P_STATUS_INVALID_ARGUMENT` when the record fails validation (keys
/// `/pk/<peer id>` and `/ipns/<peer id>` are checked; other namespaces are
/// refused), `LP2P_STATUS_NO_ROUTE` when no peer stored it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_put_value(
    kad: *const lp2p_kad,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    out_stored: *mut usize,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL kad comes from this library.
        let kad = unsafe { arg_ref(kad, "kad") }?;
        // SAFETY: buffers of the given lengths, by the caller's contract.
        let key = unsafe { arg_bytes(key, key_len, "key") }?.to_vec();
        // SAFETY: as above.
        let value = unsafe { arg_bytes(value, value_len, "value") }?.to_vec();
        let stored = kad.block_on(kad.kad.put_value(key, value))??;
        if !out_stored.is_null() {
            // SAFETY: non-NULL, writable by the caller's contract.
            unsafe { write_out(out_stored, stored) };
        }
        Ok(())
    })
}

/// Gets the best valid record under `key` once `quorum` peers returned one
/// (or the lookup ended). Blocking. On success `*out_found` says whether a
/// record was found; if so `*out_value`/`*out_len` hold it (free with
/// `lp2p_bytes_free`), else they are set to NULL/0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_get_value(
    kad: *const lp2p_kad,
    key: *const u8,
    key_len: usize,
    quorum: usize,
    out_found: *mut bool,
    out_value: *mut *mut u8,
    out_len: *mut usize,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL kad comes from this library.
        let kad = unsafe { arg_ref(kad, "kad") }?;
        // SAFETY: a buffer of key_len bytes, by the caller's contract.
        let key = unsafe { arg_bytes(key, key_len, "key") }?.to_vec();
        check_out(out_found, "out_found")?;
        check_out(out_value, "out_value")?;
        check_out(out_len, "out_len")?;
        let found = match kad.block_on(kad.kad.get_value(key, quorum))? {
            Ok(value) => Some(value),
            Err(KadError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let is_found = found.is_some();
        let (ptr, len) = match found {
            Some(value) => c_bytes(value),
            None => (std::ptr::null_mut(), 0),
        };
        // SAFETY: checked above.
        unsafe {
            write_out(out_found, is_found);
            write_out(out_value, ptr);
            write_out(out_len, len);
        }
        Ok(())
    })
}

/// Announces that this node provides `key` to the closest peers (again every
/// 22 h while the DHT runs). Blocking. `out_told` (may be NULL) gets how many
/// peers were told.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_provide(
    kad: *const lp2p_kad,
    key: *const u8,
    key_len: usize,
    out_told: *mut usize,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL kad comes from this library.
        let kad = unsafe { arg_ref(kad, "kad") }?;
        // SAFETY: a buffer of key_len bytes, by the caller's contract.
        let key = unsafe { arg_bytes(key, key_len, "key") }?.to_vec();
        let told = kad.block_on(kad.kad.provide(key))??;
        if !out_told.is_null() {
            // SAFETY: non-NULL, writable by the caller's contract.
            unsafe { write_out(out_told, told) };
        }
        Ok(())
    })
}

/// Finds up to `limit` providers of `key`. Blocking. `out_peers` gets their
/// peer IDs (free with `lp2p_string_list_free`); their addresses go to the
/// peer store, so `lp2p_node_new_stream` can reach them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_providers(
    kad: *const lp2p_kad,
    key: *const u8,
    key_len: usize,
    limit: usize,
    out_peers: *mut *mut lp2p_string_list,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL kad comes from this library.
        let kad = unsafe { arg_ref(kad, "kad") }?;
        // SAFETY: a buffer of key_len bytes, by the caller's contract.
        let key = unsafe { arg_bytes(key, key_len, "key") }?.to_vec();
        check_out(out_peers, "out_peers")?;
        let providers = kad.block_on(kad.kad.providers(key, limit))??;
        // SAFETY: out_peers was checked above.
        unsafe { write_list(out_peers, providers.iter().map(|p| p.peer.to_string())) };
        Ok(())
    })
}

/// The addresses of `peer`: from the peer store, else from a DHT lookup.
/// Blocking. `out_addrs` gets them (free with `lp2p_string_list_free`).
/// Fails with `LP2P_STATUS_UNKNOWN_PEER` when the DHT does not find it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_kad_find_peer(
    kad: *const lp2p_kad,
    peer: *const c_char,
    out_addrs: *mut *mut lp2p_string_list,
) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL kad comes from this library.
        let kad = unsafe { arg_ref(kad, "kad") }?;
        // SAFETY: NUL-terminated by the caller's contract.
        let peer = unsafe { arg_peer_id(peer, "peer") }?;
        check_out(out_addrs, "out_addrs")?;
        let addrs = kad.block_on(kad.kad.find_peer(peer))??;
        // SAFETY: out_addrs was checked above.
        unsafe { write_list(out_addrs, addrs.iter().map(|a| a.to_string())) };
        Ok(())
    })
}
