//! The bootstrap list in the C ABI.

use std::ffi::c_char;

use lp2p_core::PeerId;
use lp2p_core::protocols::bootstrap::ipfs_bootstrap;

use crate::args::{arg_multiaddr, arg_mut, arg_ref, check_out, lp2p_string_list, write_list};
use crate::config::lp2p_config;
use crate::error::{ffi_boundary, lp2p_status};
use crate::node::lp2p_node;

/// Adds a bootstrap peer (repeatable): dialed in the background when the
/// node starts, and by `lp2p_node_bootstrap`. `/dnsaddr/` addresses are
/// resolved through DNS TXT records (the system resolver).
///
/// - `config`: borrowed, modified.
/// - `addr`: borrowed NUL-terminated multiaddr, usually ending in `/p2p/<id>`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_add_bootstrap_addr(config: *mut lp2p_config, addr: *const c_char) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        // SAFETY: the caller passes a NUL-terminated string.
        let addr = unsafe { arg_multiaddr(addr, "addr") }?;
        config.bootstrap.push(addr);
        Ok(())
    })
}

/// Adds the standard IPFS (Amino DHT) bootstrap peers (kubo's default list)
/// to the bootstrap list. Never used unless asked for with this call.
///
/// - `config`: borrowed, modified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_config_add_ipfs_bootstrap(config: *mut lp2p_config) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL config comes from this library.
        let config = unsafe { arg_mut(config, "config") }?;
        config.bootstrap.extend(ipfs_bootstrap());
        Ok(())
    })
}

/// Dials the node's bootstrap list again (resolving `/dnsaddr/` entries).
/// Blocking.
///
/// - `node`: borrowed.
/// - `out`: borrowed, may be NULL; written on success with the peers now
///   connected, a list owned by the caller (free with `lp2p_string_list_free`).
///
/// Fails with `LP2P_STATUS_NO_ROUTE` when the list is empty, does not
/// resolve, or no peer of it is reachable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lp2p_node_bootstrap(node: *const lp2p_node, out: *mut *mut lp2p_string_list) -> lp2p_status {
    ffi_boundary!({
        // SAFETY: a non-NULL node comes from this library.
        let node = unsafe { arg_ref(node, "node") }?;
        let inner = node.node()?;
        let peers = node.block_on(inner.bootstrap())??;
        if !out.is_null() {
            check_out(out, "out")?;
            // SAFETY: out was checked above.
            unsafe { write_list(out, peers.iter().map(PeerId::to_string)) };
        }
        Ok(())
    })
}
